# 091_upgrade.pl — upgrading from every frozen release.
#
# For each release frozen in sql/ (sql/esqase--<release>.sql, as released):
# installs it with data of every kind, checks that the library being
# developed serves the old SQL (the state between the server restart and
# ALTER EXTENSION UPDATE), updates to the control file's default_version,
# and checks that
#  * the catalog equals a fresh install of that version, object by object
#    (test/t/catalog_snapshot.sql), and that the comparison does notice a
#    small deliberate difference;
#  * the keys still authenticate over HTTP, every record reads back with the
#    same fields, lists count the live rows, writes work, and the audit log
#    keeps its rows.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use EsqaseHttp;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $started = time;
my $root = "$FindBin::RealBin/../..";

# The releases: every frozen install script in sql/, oldest first.
my @releases = sort { version_key($a) cmp version_key($b) }
  map { m{/esqase--([0-9.]+)\.sql$} ? $1 : () } glob("$root/sql/esqase--*.sql");
sub version_key { return join '.', map { sprintf '%05d', $_ } split /\./, shift; }
cmp_ok(scalar(@releases), '>=', 2, "frozen releases: @releases");

# The version being developed: the control file's default_version.
my ($new) = slurp_file("$root/esqase.control") =~ /^default_version\s*=\s*'([^']+)'/m;
ok(defined $new, "esqase.control has a default_version ($new)");
ok(!(grep { $_ eq $new } @releases), "the default version $new is not a frozen release");

my $snapshot_sql = slurp_file("$FindBin::RealBin/catalog_snapshot.sql");

my $node = esq_node('upgrade', 'esqase.database' => "'fresh'");
$node->start;

is($node->safe_psql('postgres',
		q{SELECT default_version FROM pg_available_extensions WHERE name = 'esqase'}),
	$new, 'the installed control file is this tree\'s');
# ---------------------------------------------------------------------------
# The catalog: updated equals fresh
# ---------------------------------------------------------------------------
sub snapshot
{
	my ($db, $before) = @_;
	my $sql = defined $before ? "BEGIN; $before; $snapshot_sql; ROLLBACK;" : $snapshot_sql;
	return [ split /\n/, $node->safe_psql($db, $sql) ];
}

# The lines only one side has, sorted so that the two versions of an object
# come next to each other.
sub snapshot_diff
{
	my ($got, $want, $got_name, $want_name) = @_;
	my %n;
	$n{$_}++ for @$got;
	$n{$_}-- for @$want;
	my $w = length($got_name) > length($want_name) ? length($got_name) : length($want_name);
	my @diff;
	for my $line (sort keys %n)
	{
		next unless $n{$line};
		my $who = $n{$line} > 0 ? $got_name : $want_name;
		push @diff, sprintf("%-*s | %s", $w, $who, $line) for 1 .. abs($n{$line});
	}
	return @diff;
}

sub snapshots_equal
{
	my ($got, $want, $got_name, $want_name, $what) = @_;
	my @diff = snapshot_diff($got, $want, $got_name, $want_name);
	ok(!@diff, $what)
	  or diag(scalar(@diff) . " catalog lines differ:\n" . join("\n", @diff));
	return @diff;
}

$node->safe_psql('postgres', 'CREATE DATABASE fresh');
$node->safe_psql('fresh', 'CREATE EXTENSION esqase');
is($node->safe_psql('fresh', q{SELECT extversion FROM pg_extension WHERE extname = 'esqase'}),
	$new, "fresh install of $new");

my $fresh = snapshot('fresh');
my %kinds;
$kinds{ (split /:/)[0] }++ for @$fresh;
note('snapshot of a fresh install: ' . join(', ', map { "$kinds{$_} $_" } sort keys %kinds));
for my $k ('relation', 'column', 'column order', 'constraint', 'index', 'sequence', 'function',
	'policy', 'grant', 'trigger', 'member', 'dump config', 'comment', 'extension')
{
	ok($kinds{$k}, "the snapshot covers: $k");
}
cmp_ok($kinds{'dump config'}, '>=', 16, 'every table and the audit sequence are dumped');

for my $old (@releases)
{
	my $db = 'up_' . ($old =~ tr/./_/r);
	is($node->safe_psql('postgres', qq{
			SELECT count(*) FROM pg_extension_update_paths('esqase')
			 WHERE source = '$old' AND target = '$new' AND path IS NOT NULL}),
		'1', "an update path $old -> $new exists");

	# The workers serve this release's database from the restart below on.
	$node->append_conf('postgresql.conf', "esqase.database = '$db'");
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	$node->safe_psql($db, "CREATE EXTENSION esqase VERSION '$old'");
	is($node->safe_psql($db, q{SELECT extversion FROM pg_extension WHERE extname = 'esqase'}),
		$old, "installed $old");

	# ---------------------------------------------------------------------------
	# Data, made with the old SQL API
	# ---------------------------------------------------------------------------

	# Runs sql as the key in one transaction; returns the last line of output.
	my sub as_key
	{
		my ($db, $key, $sql) = @_;
		my @lines = split /\n/,
		  $node->safe_psql($db, "BEGIN; SELECT esqase_authenticate('$key'); $sql; COMMIT;");
		return $lines[-1];
	}
	my sub id_of { return decode_json(shift)->{data}{id}; }

	my $firm = $node->safe_psql($db, q{SELECT esqase_create_firm('Upgrade & Co')});
	my $owner = $node->safe_psql($db,
		qq{SELECT esqase_create_member('$firm', 'Olive Owner', 'olive\@up.test', true)});
	my $staff = $node->safe_psql($db,
		qq{SELECT esqase_create_member('$firm', 'Sam Staff', 'sam\@up.test', false, '{}')});
	my $scopes = join ',', all_scopes();
	my $key = $node->safe_psql($db,
		qq{SELECT esqase_create_api_key('$owner', '{$scopes}', 'every scope')});
	my $staff_key = $node->safe_psql($db,
		qq{SELECT esqase_create_api_key('$staff', '{contacts:read,matters:read,leads:read,practice-areas:read}',
		                                'staff, read only', now() + interval '1 year')});
	my $revoked = $node->safe_psql($db,
		qq{SELECT esqase_create_api_key('$owner', '{contacts:read}', 'revoked')});
	$node->safe_psql($db, "SELECT esqase_revoke_api_key('$revoked')");
	like($key, qr/^esq_[0-9a-f]{12}_[0-9a-f]{64}$/, 'keys created');

	# A second firm with rows of its own: totals must stay per firm.
	my ($other_key) = make_key($node, db => $db, owner => 1);
	as_key($db, $other_key, q{SELECT esqase_contacts_create('{"type": "PERSON", "firstName": "Other"}')});

	my %rec;    # resource (as in the URL) => [ids]
	my %gone;   # resource => id of a soft-deleted record
	$rec{contacts} = [
		id_of(as_key($db, $key, q{SELECT esqase_contacts_create('{"type": "PERSON", "prefix": "Ms",
			"firstName": "Jane", "middleName": "Q", "lastName": "Doe", "nickname": "JD",
			"emails": ["jane@example.com", "jd@example.com"], "phones": ["+1-555-0100"]}')})),
		id_of(as_key($db, $key, q{SELECT esqase_contacts_create('{"type": "COMPANY",
			"companyName": "Acme Holdings", "tradeName": "Acme", "emails": ["office@acme.test"]}')})),
	];
	$gone{contacts} = id_of(as_key($db, $key,
		q{SELECT esqase_contacts_create('{"type": "PERSON", "lastName": "Gone"}')}));
	as_key($db, $key, "SELECT esqase_contacts_delete('$gone{contacts}')");

	$rec{'practice-areas'} = [
		id_of(as_key($db, $key, q{SELECT esqase_practice_areas_create('{"name": "Family law"}')})),
		id_of(as_key($db, $key, q{SELECT esqase_practice_areas_create('{"name": "Tax"}')})),
	];
	my ($family, $tax) = @{ $rec{'practice-areas'} };
	$rec{'matter-types'} = [
		id_of(as_key($db, $key,
			qq{SELECT esqase_matter_types_create('{"practiceAreaId": "$family", "name": "Divorce"}')})),
		id_of(as_key($db, $key,
			qq{SELECT esqase_matter_types_create('{"practiceAreaId": "$tax", "name": "Audit"}')})),
	];
	$gone{'matter-types'} = id_of(as_key($db, $key,
		qq{SELECT esqase_matter_types_create('{"practiceAreaId": "$family", "name": "Old type"}')}));
	as_key($db, $key, "SELECT esqase_matter_types_delete('$gone{'matter-types'}')");

	my ($jane, $acme) = @{ $rec{contacts} };
	$rec{matters} = [
		id_of(as_key($db, $key, qq{SELECT esqase_matters_create(jsonb_build_object(
			'practiceAreaId', '$family', 'openDate', '2026-07-01', 'title', 'Doe v. Roe',
			'status', 'ACTIVE', 'matterTypeId', '$rec{'matter-types'}[0]',
			'practiceAreaStageColumnId', (SELECT s.id FROM esqase.practice_area_stages s
			                               WHERE s.practice_area_id = '$family' AND s."order" = 1),
			'clientContactIds', jsonb_build_array('$jane', '$acme'),
			'team', jsonb_build_array(
				jsonb_build_object('memberId', '$owner', 'role', 'Lead', 'allocation', 60),
				jsonb_build_object('memberId', '$staff', 'role', 'Associate', 'allocation', 40))))})),
		id_of(as_key($db, $key, qq{SELECT esqase_matters_create(
			'{"practiceAreaId": "$tax", "openDate": "2026-08-15"}')})),
	];
	$rec{leads} = [
		id_of(as_key($db, $key, qq{SELECT esqase_leads_create(jsonb_build_object(
			'type', 'PERSON', 'firstName', 'Lee', 'lastName', 'Public', 'email', 'lee\@example.com',
			'phone', '+1-555-0101', 'value', 'HIGH', 'practiceAreaId', '$family',
			'assigneeIds', jsonb_build_array('$owner', '$staff')))})),
		id_of(as_key($db, $key, qq{SELECT esqase_leads_create(jsonb_build_object(
			'type', 'COMPANY', 'companyName', 'Private Ltd', 'isPrivate', true, 'value', 'LOWEST',
			'assigneeIds', jsonb_build_array('$owner')))})),
	];
	my ($public_lead, $private_lead) = @{ $rec{leads} };

	for my $res (sort keys %rec)
	{
		like($_, qr/^[0-9a-f-]{36}$/, "created a record of $res") for @{ $rec{$res} };
	}

	# The old tables and their row counts, and the audit log as $old wrote it.
	my @old_tables = split /\n/, $node->safe_psql($db, q{
		SELECT relname FROM pg_class
		 WHERE relnamespace = 'esqase'::regnamespace AND relkind = 'r' ORDER BY relname});
	cmp_ok(scalar(@old_tables), '>=', 15, 'esqase has its tables');
	my sub row_counts
	{
		return { map { $_ => $node->safe_psql($db, "SELECT count(*) FROM esqase.$_") } @old_tables };
	}
	my $audit_sql = q{
		SELECT count(*) || ' ' || md5(string_agg(concat_ws('|', id, at, firm_id, table_name, record_id,
		       action, old_values, new_values, member_id, key_id, db_role), E'\n' ORDER BY id))
		  FROM esqase.audit_log WHERE id <= %s};
	my $audit_max = $node->safe_psql($db, 'SELECT max(id) FROM esqase.audit_log');
	my %audited = map { split /\|/ } split /\n/, $node->safe_psql($db,
		q{SELECT table_name || '|' || count(*) FROM esqase.audit_log GROUP BY table_name});
	for my $t (qw(firms members api_keys contacts practice_areas practice_area_stages matter_types
		matters matter_clients matter_team lead_stages leads lead_assignees))
	{
		ok(($audited{$t} // 0) > 0, "audit rows for $t");
	}

	# What ${old}'s own SQL functions answer for each record: the reference.
	my %fn = (contacts => 'contacts', 'practice-areas' => 'practice_areas',
		'matter-types' => 'matter_types', matters => 'matters', leads => 'leads');
	my %want;
	for my $res (sort keys %rec)
	{
		for my $id (@{ $rec{$res} })
		{
			$want{"$res/$id"} = decode_json(as_key($db, $key, "SELECT esqase_$fn{$res}_get('$id')"))->{data};
		}
	}

	# ---------------------------------------------------------------------------
	# HTTP checks, run against the 0.1.0 SQL and again after the update
	# ---------------------------------------------------------------------------
	my sub live_count
	{
		my ($table, $where) = @_;
		return $node->safe_psql($db, "SELECT count(*) FROM esqase.$table
			 WHERE firm_id = '$firm' AND deleted_at IS NULL" . ($where ? " AND $where" : ''));
	}

	my sub http_checks
	{
		my ($when, $exact) = @_;
		my %T = (token => $key);

		my $r = wait_for_status($node, 'GET', '/v1/contacts', 200, %T);
		is($r->{status}, 200, "$when: the every-scope key authenticates over HTTP")
		  or diag('body: ' . ($r->{content} // ''));

		# Every record reads back, with the same id and fields.
		for my $k (sort keys %want)
		{
			my $r = api($node, 'GET', "/v1/$k", 200, %T, name => "$when: GET /v1/$k");
			my $got = $r->{json} && $r->{json}{data};
			if ($exact)
			{
				is_deeply($got, $want{$k}, "$when: $k reads back as ${old}'s SQL renders it");
			}
			else
			{
				# a new version may add fields; those it had keep their values
				my %same = map { $_ => $got->{$_} } grep { exists $got->{$_} } keys %{ $want{$k} };
				is_deeply(\%same, $want{$k}, "$when: $k reads back with the same fields");
				my @added = grep { !exists $want{$k}{$_} } sort keys %{ $got // {} };
				note("$k: fields added since $old: @added") if @added;
			}
		}

		# Lists count the live rows of the firm.
		my %total = (
			contacts => live_count('contacts'),
			'practice-areas' => live_count('practice_areas'),
			matters => live_count('matters'),
			leads => live_count('leads'),
			"matter-types?practiceAreaId=$family" => live_count('matter_types', "practice_area_id = '$family'"),
			"matter-types?practiceAreaId=$tax" => live_count('matter_types', "practice_area_id = '$tax'"),
		);
		for my $path (sort keys %total)
		{
			my $r = api($node, 'GET', "/v1/$path", 200, %T, name => "$when: GET /v1/$path");
			is($r->{json}{pagination}{total}, $total{$path},
				"$when: /v1/$path total is the count of live rows ($total{$path})");
			is(scalar(@{ $r->{json}{data} // [] }), $total{$path}, "$when: /v1/$path lists them all");
		}
		is($total{contacts}, 4, 'two contacts and the two leads\' contacts are live');

		# Soft-deleted records stay gone; other keys keep their rights.
		api($node, 'GET', "/v1/$_/$gone{$_}", 404, %T, name => "$when: deleted $_ stays deleted")
		  for sort keys %gone;
		api($node, 'GET', '/v1/contacts', 401, token => $revoked, name => "$when: the revoked key");
		my %S = (token => $staff_key);
		$r = api($node, 'GET', '/v1/leads', 200, %S, name => "$when: staff lists leads");
		is_deeply([ map { $_->{id} } @{ $r->{json}{data} } ], [$public_lead],
			"$when: staff sees the public lead only (row-level security)");
		api($node, 'GET', "/v1/leads/$private_lead", 404, %S, name => "$when: staff GET private lead");
		api($node, 'GET', "/v1/leads/$public_lead", 200, %S, name => "$when: staff GET public lead");
		api($node, 'GET', "/v1/practice-areas/$family", 403, %S,
			name => "$when: staff without the Practice areas permission");
		api($node, 'POST', '/v1/contacts', 403, %S, body => { type => 'PERSON', firstName => 'No' },
			name => "$when: staff key without contacts:write");
		my $other = api($node, 'GET', '/v1/contacts', 200, token => $other_key,
			name => "$when: the other firm's key");
		is($other->{json}{pagination}{total}, 1, "$when: the other firm sees its own contact only");
	}

	# The server restarts with the new library (preloaded) while the SQL is still 0.1.0.
	$node->restart;
	http_checks("$old SQL, new library", 1);
	# A header the old SQL cannot honour is refused, never ignored: 0.1.0's
	# creates take no Idempotency-Key and its updates no version (If-Match).
	if ($old eq '0.1.0')
	{
		my $before = live_count('contacts');
		my $r = api($node, 'POST', '/v1/contacts', 503, token => $key,
			headers => { 'Idempotency-Key' => 'upgrade-window-1' },
			body => { type => 'PERSON', firstName => 'Twice' },
			name => "$old SQL, new library: POST with Idempotency-Key");
		like($r->{json}{error}{message}, qr/Idempotency-Key needs a newer esqase SQL than the installed 0\.1\.0: run ALTER EXTENSION esqase UPDATE/,
			'the 503 says why and what to run');
		is(live_count('contacts'), $before, 'and creates nothing');
		$r = api($node, 'PATCH', "/v1/contacts/$jane", 503, token => $key,
			headers => { 'If-Match' => '"1"' }, body => { nickname => 'JJ' },
			name => "$old SQL, new library: PATCH with If-Match");
		like($r->{json}{error}{message}, qr/If-Match needs a newer esqase SQL/, 'If-Match likewise');
	}
	# A single record's version and an Idempotency-Key replay reach the answer
	# from every SQL that has them: noted in backend memory by 0.2.0's SQL,
	# result columns (esqase.answer) from 0.3.0 on.
	my $answers_checked = 0;
	my $check_answers = sub {
		my ($when) = @_;
		my $r = api($node, 'GET', "/v1/contacts/$jane", 200, token => $key, name => "$when: GET a contact");
		like($r->{headers}{etag} // '', qr/^"[0-9a-f]+-[0-9a-f]+"$/, "$when: its ETag");
		my %post = (token => $key, headers => { 'Idempotency-Key' => "answers-$old-" . ++$answers_checked },
			body => { type => 'PERSON', firstName => 'Once' });
		$r = api($node, 'POST', '/v1/contacts', 201, %post, name => "$when: POST with an Idempotency-Key");
		ok(!defined $r->{headers}{'idempotent-replayed'}, "$when: the first is no replay");
		$r = api($node, 'POST', '/v1/contacts', 201, %post, name => "$when: the same POST again");
		is($r->{headers}{'idempotent-replayed'}, 'true', "$when: the second is a replay, and says so");
		# (deleted again: the checks around count the live contacts)
		api($node, 'DELETE', "/v1/contacts/$r->{json}{data}{id}", 204, token => $key,
			name => "$when: the contact deleted again");
	};
	$check_answers->("$old SQL, new library") if $old ne '0.1.0';
	my $counts_before = row_counts();
	my $audit_before = $node->safe_psql($db, sprintf($audit_sql, $audit_max));

	# ---------------------------------------------------------------------------
	# ALTER EXTENSION UPDATE, under the running workers
	# ---------------------------------------------------------------------------
	$node->safe_psql($db, 'ALTER EXTENSION esqase UPDATE');
	is($node->safe_psql($db, q{SELECT extversion FROM pg_extension WHERE extname = 'esqase'}),
		$new, "updated to $new (the control file's default_version)");

	http_checks("after the update to $new", 0);
	my $counts_after = row_counts();
	is_deeply({ map { $_ => $counts_after->{$_} } @old_tables }, $counts_before,
		'the update keeps every row of every table');
	is($node->safe_psql($db, sprintf($audit_sql, $audit_max)), $audit_before,
		'the audit log keeps its pre-upgrade rows unchanged');

	$check_answers->("after the update to $new");

	# Data the new code computes (the .post migration): phones found by digits.
	my $found = api($node, 'GET', '/v1/contacts?q=555-0100', 200, token => $key,
		name => 'after the update: search a phone written before it, by other punctuation');
	is_deeply([ map { $_->{id} } @{ $found->{json}{data} // [] } ], [$jane],
		'after the update: q=555-0100 finds the contact whose phone is +1-555-0100');

	# Keys made before a release lack the scopes it adds (members:read came
	# with 0.2.0): the documented upgrade step adds them in place.
	api($node, 'GET', '/v1/members', 403, token => $key,
		name => 'after the update: a key made with every scope it had lacks members:read');
	$node->safe_psql($db, q{SELECT esqase_add_api_key_scopes(id::text, '{members:read}')
	                          FROM esqase.api_key_list WHERE status = 'ACTIVE'});
	api($node, 'GET', '/v1/members', 200, token => $key,
		name => 'after the update: the same token, members:read added, reads /v1/members');
	api($node, 'GET', '/v1/contacts', 401, token => $revoked,
		name => 'after the update: the revoked key stays revoked');

	# Writes work, and are audited; the public-id counters carry on.
	my %T = (token => $key);
	my $r = api($node, 'POST', '/v1/contacts', 201, %T,
		body => { type => 'PERSON', firstName => 'After', lastName => 'Upgrade' },
		name => 'after the update: POST /v1/contacts');
	my $after = $r->{json}{data}{id};
	$r = api($node, 'GET', "/v1/contacts/$after", 200, %T, name => 'after the update: GET the new contact');
	is($r->{json}{data}{name}, 'After Upgrade', 'the new contact reads back');
	is($node->safe_psql($db, qq{SELECT count(*) FROM esqase.audit_log
			WHERE table_name = 'contacts' AND record_id = '$after' AND id > $audit_max}),
		'1', 'the new contact is audited');
	$r = api($node, 'POST', '/v1/matters', 201, %T,
		body => { practiceAreaId => $family, openDate => '2026-09-01', clientContactIds => [$after] },
		name => 'after the update: POST /v1/matters');
	is($r->{json}{data}{publicId}, 'M-0003', 'matter numbering carries on (M-0003)');
	$r = api($node, 'POST', '/v1/leads', 201, %T, body => { type => 'PERSON', firstName => 'New' },
		name => 'after the update: POST /v1/leads');
	is($r->{json}{data}{publicId}, 'L-0003', 'lead numbering carries on (L-0003)');
	$r = api($node, 'POST', '/v1/practice-areas', 201, %T, body => { name => 'Estates' },
		name => 'after the update: POST /v1/practice-areas');
	is(scalar(@{ $r->{json}{data}{stages} // [] }), 3, 'a new practice area still gets its stages');

	my $upgraded = snapshot($db);
	snapshots_equal($upgraded, $fresh, "updated from $old", "fresh $new",
		"the catalog after updating from $old equals a fresh install of $new");

	# The same update of an empty database.
	my $scratch_db = "scratch_$db";
	$node->safe_psql('postgres', "CREATE DATABASE $scratch_db");
	$node->safe_psql($scratch_db, "CREATE EXTENSION esqase VERSION '$old'");
	$node->safe_psql($scratch_db, "ALTER EXTENSION esqase UPDATE TO '$new'");
	snapshots_equal(snapshot($scratch_db), $fresh, "updated (empty) from $old", "fresh $new",
		"an empty database updated from $old equals a fresh install too");

}

# The comparison sees small differences: each change, made in a transaction
# that rolls back, must show as the lines it names.
my $last_scratch = 'scratch_up_' . ($releases[-1] =~ tr/./_/r);
my $scratch = snapshot($last_scratch);
my @changes = (
	[ 'ALTER FUNCTION esqase.ts(timestamptz) VOLATILE', qr/^function: esqase\.ts\(/ ],
	[ 'ALTER FUNCTION esqase.ts(timestamptz) SET search_path = pg_catalog', qr/^function: esqase\.ts\(/ ],
	[ q{CREATE OR REPLACE FUNCTION esqase.written_here(x xid) RETURNS boolean LANGUAGE sql STABLE RETURN false},
	  qr/^function: esqase\.written_here\(/ ],
	[ q{COMMENT ON COLUMN esqase.contacts.first_name IS 'given name'}, qr/^comment: column first_name/ ],
	[ q{COMMENT ON POLICY contacts_select ON esqase.contacts IS 'firm'}, qr/^comment: policy/ ],
	[ q{ALTER TABLE esqase.contacts ALTER COLUMN nickname SET DEFAULT ''}, qr/^column: esqase\.contacts\.nickname / ],
	[ 'ALTER TABLE esqase.contacts ADD COLUMN extra int', qr/^(column|column order|member|grant): .*contacts/ ],
	[ 'CREATE INDEX contacts_extra_idx ON esqase.contacts (firm_id, updated_at)', qr/^index: / ],
	[ 'ALTER TABLE esqase.contacts DROP CONSTRAINT contacts_pkey CASCADE', qr/^constraint: / ],
	[ 'REVOKE SELECT ON esqase.contacts FROM esqase_api', qr/^grant: relation esqase\.contacts to esqase_api/ ],
	[ 'GRANT EXECUTE ON FUNCTION esqase.ts(timestamptz) TO esqase_api', qr/^grant: function esqase\.ts/ ],
	[ 'REVOKE EXECUTE ON FUNCTION esqase_contacts_list(jsonb) FROM PUBLIC', qr/^grant: function public\.esqase_contacts_list/ ],
	[ 'ALTER TABLE esqase.leads NO FORCE ROW LEVEL SECURITY', qr/^relation: esqase\.leads / ],
	[ 'ALTER POLICY leads_insert ON esqase.leads WITH CHECK (true)', qr/^policy: esqase\.leads leads_insert/ ],
	[ 'ALTER POLICY contacts_select ON esqase.contacts TO esqase_api', qr/^policy: esqase\.contacts contacts_select/ ],
	[ 'ALTER TABLE esqase.audit_log ENABLE TRIGGER audit_log_no_update', qr/^trigger: .*audit_log_no_update/ ],
	[ 'DROP TRIGGER contacts_audit ON esqase.contacts', qr/^trigger: .*contacts_audit/ ],
	# (pg_extension_config_dump() works only in an extension script)
	[ q{UPDATE pg_catalog.pg_extension SET extcondition[1] = 'WHERE true' WHERE extname = 'esqase'},
	  qr/^dump config: .* condition 'WHERE true'/ ],
	[ 'ALTER EXTENSION esqase DROP FUNCTION esqase.ts(timestamptz)', qr/^member: function esqase\.ts/ ],
	[ 'CREATE TABLE esqase.leftover (id int)', qr/^(relation|column|column order|grant): .*leftover/ ],
	[ 'ALTER SEQUENCE esqase.audit_log_id_seq CACHE 10', qr/^sequence: esqase\.audit_log_id_seq/ ],
	[ 'GRANT CREATE ON SCHEMA esqase TO esqase_api', qr/^grant: schema esqase/ ],
);
for my $c (@changes)
{
	my ($change, $want_re) = @$c;
	my @diff = snapshot_diff(snapshot($last_scratch, $change), $scratch, 'changed', 'before');
	my @lines = map { (my $l = $_) =~ s/^\w+ *\| //; $l } @diff;
	ok(scalar(grep { $_ =~ $want_re } @lines), "the snapshots differ after: $change")
	  or diag("diff:\n" . join("\n", @diff));
}
snapshots_equal(snapshot($last_scratch), $scratch, 'after', 'before',
	'the changes rolled back: the snapshot is as before');

no_500();
note(sprintf('091_upgrade took %ds', time - $started));
$node->stop;
done_testing();
