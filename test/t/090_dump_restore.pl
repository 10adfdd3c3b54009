# pg_dump of a database with the extension keeps every esqase row (the tables
# are registered with pg_extension_config_dump), and a restore into a new
# database gives back the same rows: keys still authenticate, the audit log
# comes across, and restoring does not invent rows (seeding and audit
# triggers must not fire a second time for restored data).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('dump_restore');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'esqase'
esqase.http_port = 0
});
$node->start;

$node->safe_psql('postgres', 'CREATE DATABASE src');
$node->safe_psql('src', 'CREATE EXTENSION esqase');

# A firm, an owner, a key, a contact, a practice area (with its seeded
# stages), a matter type, and a revoked key.
my $token = $node->safe_psql('src', q{
    SELECT esqase_create_api_key(
        esqase_create_member(esqase_create_firm('Dump & Co'), 'Dee Dumper', 'dee@dump.test', true),
        ARRAY['contacts:read', 'contacts:write', 'practice-areas:read', 'practice-areas:write',
              'matter-types:read', 'matter-types:write', 'matters:read', 'matters:write',
              'leads:read', 'leads:write'], 'dump test key')
});
# A second firm, so that the restore has more than one firm's rows.
$node->safe_psql('src', q{
    SELECT esqase_create_member(esqase_create_firm('Other firm'), 'Otto Other', 'otto@other.test', true)
});
like($token, qr/^esq_[0-9a-f]{12}_[0-9a-f]{64}$/, 'key created');

my $revoked = $node->safe_psql('src', q{
    SELECT esqase_create_api_key(m.id, ARRAY['contacts:read'])
      FROM esqase.members m WHERE m.email = 'dee@dump.test'
});
$node->safe_psql('src', "SELECT esqase_revoke_api_key('$revoked')");

$node->safe_psql('src', qq{
    BEGIN;
    SELECT esqase_authenticate('$token');
    SELECT esqase_contacts_create('{"type": "PERSON", "firstName": "Jane", "lastName": "Doe",
                                    "emails": ["jane\@example.com"]}');
    SELECT esqase_contacts_create('{"type": "COMPANY", "companyName": "Acme"}');
    SELECT esqase_matter_types_create(jsonb_build_object('practiceAreaId',
        esqase_practice_areas_create('{"name": "Family law"}') #>> '{data,id}', 'name', 'Divorce'));
    COMMIT;
});
# A matter (client, team, type, a stage other than the first) and a private lead.
$node->safe_psql('src', qq{
    BEGIN;
    SELECT esqase_authenticate('$token');
    SELECT esqase_matters_create(jsonb_build_object(
        'practiceAreaId', p.id, 'openDate', '2026-07-01', 'title', 'Doe v. Roe',
        'practiceAreaStageColumnId', (SELECT s.id FROM esqase.practice_area_stages s
                                       WHERE s.practice_area_id = p.id AND s."order" = 1),
        'matterTypeId', (SELECT mt.id FROM esqase.matter_types mt WHERE mt.practice_area_id = p.id),
        'clientContactIds', jsonb_build_array((SELECT c.id FROM esqase.contacts c WHERE c.first_name = 'Jane')),
        'team', jsonb_build_array(jsonb_build_object('memberId', esqase.context_member(), 'role', 'Lead', 'allocation', 50))))
      FROM esqase.practice_areas p WHERE p.name = 'Family law';
    SELECT esqase_leads_create('{"type": "PERSON", "firstName": "Lee", "isPrivate": true, "value": "HIGH"}');
    COMMIT;
});
# A soft-deleted contact must stay deleted after the restore.
$node->safe_psql('src', qq{
    BEGIN;
    SELECT esqase_authenticate('$token');
    SELECT esqase_contacts_delete((esqase_contacts_create('{"type": "PERSON", "lastName": "Gone"}') #>> '{data,id}')::uuid);
    COMMIT;
});

# Reporting readers (docs/reporting.md): one of the firm, one of every firm.
# Roles are cluster-wide, so the restores below (in this cluster) find them.
$node->safe_psql('src', q{
    CREATE ROLE rep_one;
    CREATE ROLE rep_all;
    SELECT esqase_grant_reader('rep_one', (SELECT id FROM esqase.firms WHERE name = 'Dump & Co'));
    SELECT esqase_grant_reader('rep_all');
});
# What each reader sees: its firms, and the leads and contacts there.
my $reader_sql = q{
    SELECT (SELECT string_agg(name, ', ' ORDER BY name) FROM esqase_report.firms) || ' / '
        || (SELECT count(*) FROM esqase_report.leads) || ' leads / '
        || (SELECT count(*) FROM esqase_report.contacts) || ' contacts'
};
sub as_reader
{
	my ($db, $role) = @_;
	my @lines = split /\n/, $node->safe_psql($db, "SET ROLE $role; $reader_sql");
	return $lines[-1];
}
my %reader_before = map { $_ => as_reader('src', $_) } qw(rep_one rep_all);
is($reader_before{rep_one}, 'Dump & Co / 0 leads / 3 contacts',
	'the one-firm reader sees its firm, without the private lead and its prospect');
is($reader_before{rep_all}, 'Dump & Co, Other firm / 1 leads / 4 contacts',
	'the all-firm reader sees every firm and the private lead');

# Every esqase table, with a fingerprint of its rows (order-independent);
# but the cursor secret, which is not dumped (checked below).
my $tables_sql = q{
    SELECT string_agg(c.relname, ' ' ORDER BY c.relname)
      FROM pg_class c WHERE c.relnamespace = 'esqase'::regnamespace AND c.relkind = 'r'
       AND c.relname <> 'cursor_secret'
};
my @tables = split / /, $node->safe_psql('src', $tables_sql);
cmp_ok(scalar(@tables), '>=', 15, 'esqase has its tables');

# Runs sql as the key, in one transaction; returns the last line of output
# (esqase_authenticate's void result prints an empty line first).
sub as_key
{
	my ($db, $key, $sql) = @_;
	my $out = $node->safe_psql($db,
		"BEGIN; SELECT esqase_authenticate('$key'); $sql; COMMIT;");
	my @lines = split /\n/, $out;
	return $lines[-1];
}

sub table_state
{
	my ($db) = @_;
	my %state;
	for my $t (@tables)
	{
		$state{$t} = $node->safe_psql($db, qq{
			SELECT count(*) || ' ' || coalesce(md5(string_agg(to_jsonb(x)::text, '|' ORDER BY to_jsonb(x)::text)), '-')
			  FROM esqase.$t x});
	}
	return \%state;
}
my $before = table_state('src');

# A list cursor of the source: it pages there; a restore signs with a new
# secret, so there it gets the 400 that says to restart the listing.
my $cursor = as_key('src', $token, q{SELECT esqase_contacts_list('{"limit": 1}') #>> '{pagination,nextCursor}'});
like($cursor, qr/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{22}$/, 'a signed cursor');
is(as_key('src', $token, qq{SELECT jsonb_array_length(esqase_contacts_list('{"cursor": "$cursor"}') -> 'data')}),
	'2', 'it pages in its own database');
my $src_secret = $node->safe_psql('src', 'SELECT md5(ipad || opad) FROM esqase.cursor_secret');
for my $t (qw(firms members api_keys contacts practice_areas practice_area_stages
	matter_types lead_stages public_id_counters audit_log matters matter_clients matter_team
	leads lead_assignees))
{
	unlike($before->{$t}, qr/^0 /, "source has rows in $t");
}

# Dump (plain and custom format) and restore each into a new database.
my $dumpdir = $node->basedir;
$node->command_ok(
	[ 'pg_dump', '-d', $node->connstr('src'), '-f', "$dumpdir/src.sql" ],
	'pg_dump (plain) succeeds');
$node->command_ok(
	[ 'pg_dump', '-Fc', '-d', $node->connstr('src'), '-f', "$dumpdir/src.dump" ],
	'pg_dump (custom) succeeds');

$node->safe_psql('postgres', 'CREATE DATABASE dst_plain');
$node->command_ok(
	[ 'psql', '-X', '-v', 'ON_ERROR_STOP=1', '-q', '-d', $node->connstr('dst_plain'),
	  '-f', "$dumpdir/src.sql" ],
	'plain dump restores without errors');
$node->safe_psql('postgres', 'CREATE DATABASE dst_custom');
$node->command_ok(
	[ 'pg_restore', '--exit-on-error', '-d', $node->connstr('dst_custom'), "$dumpdir/src.dump" ],
	'custom dump restores without errors');

for my $db (qw(dst_plain dst_custom))
{
	my $after = table_state($db);
	for my $t (@tables)
	{
		is($after->{$t}, $before->{$t}, "$db: esqase.$t has the same rows");
	}

	# The cursor secret did not: a new one, and the source's cursors get a
	# 400 naming cursor; the restored database's own cursors page.
	my $secret = $node->safe_psql($db, 'SELECT count(*) || md5(ipad || opad) FROM esqase.cursor_secret GROUP BY ipad, opad');
	like($secret, qr/^1/, "$db: a cursor secret");
	isnt(substr($secret, 1), $src_secret, "$db: not the source's");
	my ($crc, $cout, $cerr) = $node->psql($db,
		"BEGIN; SELECT esqase_authenticate('$token'); SELECT esqase_contacts_list('{\"cursor\": \"$cursor\"}'); COMMIT;");
	like($cerr, qr/cursor expired or invalid: restart the listing/, "$db: the source's cursor is refused");
	my $fresh = as_key($db, $token, q{SELECT esqase_contacts_list('{"limit": 1}') #>> '{pagination,nextCursor}'});
	is(as_key($db, $token, qq{SELECT jsonb_array_length(esqase_contacts_list('{"cursor": "$fresh"}') -> 'data')}),
		'2', "$db: its own cursors page");

	# The readers and their grants came across.
	for my $role (qw(rep_one rep_all))
	{
		is(as_reader($db, $role), $reader_before{$role}, "$db: reader $role reads as before");
	}

	# The key still authenticates and sees the firm's data; the revoked one does not.
	my $list = as_key($db, $token, q{SELECT esqase_contacts_list() #>> '{pagination,total}'});
	is($list, '3', "$db: the key authenticates and lists the firm's 3 live contacts (one is the lead's)");
	is(as_key($db, $token, q{SELECT string_agg(m ->> 'publicId' || ' ' || (m #>> '{stage,name}') || ' '
	                                            || (m #>> '{clients,0,name}'), ', ')
	                           FROM jsonb_array_elements(esqase_matters_list() -> 'data') m}),
		'M-0001 In progress Jane Doe', "$db: the matter reads back whole");
	is(as_key($db, $token, q{SELECT esqase_leads_list() #>> '{data,0,publicId}'}),
		'L-0001', "$db: the private lead is visible to the owner");
	# The public-id counters came across: numbering continues.
	is(as_key($db, $token, q{SELECT esqase_matters_create(jsonb_build_object(
	       'practiceAreaId', (esqase_practice_areas_list() #>> '{data,0,id}'), 'openDate', '2026-08-01')) #>> '{data,publicId}'}),
		'M-0002', "$db: the next matter is M-0002");
	my ($rc, $out, $err) = $node->psql($db, qq{
		BEGIN;
		SELECT esqase_authenticate('$revoked');
		COMMIT;
	});
	# (every refused key gets the same message; api_keys says why)
	like($err, qr/invalid API key/, "$db: the revoked key stays refused");
	is($node->safe_psql($db, "SELECT revoked_at IS NOT NULL FROM esqase.api_keys WHERE prefix = substr('$revoked', 5, 12)"),
		't', "$db: and revoked");

	# The audit log came across, and the restored database keeps logging
	# with fresh ids (the identity sequence came across too).
	is($node->safe_psql($db, q{SELECT count(*) FROM esqase.audit_log WHERE table_name = 'contacts'}),
		$node->safe_psql('src', q{SELECT count(*) FROM esqase.audit_log WHERE table_name = 'contacts'}),
		"$db: the contacts' audit rows came across");
	as_key($db, $token, q{SELECT esqase_contacts_create('{"type": "PERSON", "firstName": "After"}')});
	is($node->safe_psql($db, q{
		SELECT count(*) FROM esqase.audit_log
		 WHERE table_name = 'contacts' AND new_values ->> 'first_name' = 'After'}),
		'1', "$db: writes after the restore are audited");

	# A new practice area in the restored database still gets its stages,
	# and a new firm its lead pipeline.
	is(as_key($db, $token,
		q{SELECT jsonb_array_length(esqase_practice_areas_create('{"name": "Tax"}') #> '{data,stages}')}),
		'3', "$db: seeding still works after the restore");
}

$node->stop;
done_testing();
