# The maintained list totals (esqase.record_counts) stay exact under
# concurrent writers: several sessions at once run random transactions in
# two firms (creates, soft deletes, restores by UPDATE, privacy flips of
# leads, bulk inserts, hard deletes), some committed, some rolled back,
# some aborted by an error halfway.  Afterwards every maintained total
# equals a count(*) of the rows it stands for, and every list's total over
# the API equals the number of records the key can see.
use strict;
use warnings;
use IPC::Run qw(start finish timeout);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $sessions = 6;
my $transactions = $ENV{ESQASE_TOTALS_TRANSACTIONS} // 150;    # per session
my $seed = $ENV{ESQASE_TOTALS_SEED} // time;
note "random seed $seed (ESQASE_TOTALS_SEED to replay)";
srand($seed);

my $node = PostgreSQL::Test::Cluster->new('list_totals');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'esqase'
esqase.http_port = 0
max_connections = 40
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION esqase');

# Two firms, each with an owner, a member and keys with every scope.
my %key;
for my $f (1, 2)
{
	my ($owner, $member) = split /\|/, $node->safe_psql('postgres', qq{
		WITH f AS (SELECT esqase_create_firm('Firm $f') AS id)
		SELECT esqase_create_api_key(esqase_create_member(f.id, 'Owner $f', 'owner$f\@t.test', true),
		                             esqase.valid_scopes()),
		       esqase_create_api_key(esqase_create_member(f.id, 'Member $f', 'member$f\@t.test', false,
		                                                  '{practice_areas}'),
		                             esqase.valid_scopes())
		  FROM f});
	$key{"owner$f"} = $owner;
	$key{"member$f"} = $member;
	# a practice area for matters
	$node->safe_psql('postgres', qq{
		BEGIN; SELECT esqase_authenticate('$owner');
		SELECT esqase_practice_areas_create('{"name": "Area $f"}'); COMMIT;});
}

# One random transaction, as SQL text.  Picks use ORDER BY random() over
# the firm's rows, so concurrent sessions collide on the same records (a
# delete of a record another session deleted first is a 404: an aborted
# transaction, which is part of the mix).
my @keys = sort keys %key;
sub pick
{
	my ($table, $firm_key, $cond) = @_;
	return "(SELECT r.id FROM esqase.$table r JOIN esqase.api_keys k ON k.firm_id = r.firm_id "
	  . "WHERE k.prefix = split_part('$firm_key', '_', 2) AND $cond ORDER BY random() LIMIT 1)";
}
sub random_op
{
	my $k = $key{ $keys[ int rand @keys ] };
	my $r = rand;
	my $auth = "SELECT esqase_authenticate('$k');";
	return "$auth SELECT esqase_contacts_create('{\"type\": \"PERSON\", \"firstName\": \"C\"}');" if $r < 0.18;
	return "$auth SELECT esqase_contacts_delete(" . pick('contacts', $k, 'r.deleted_at IS NULL') . ");"
	  if $r < 0.28;
	return "UPDATE esqase.contacts SET deleted_at = NULL, status = 'ACTIVE' WHERE id = "
	  . pick('contacts', $k, 'r.deleted_at IS NOT NULL') . ";"
	  if $r < 0.34;
	return "$auth SELECT esqase_matters_create(jsonb_build_object('practiceAreaId', "
	  . pick('practice_areas', $k, 'r.deleted_at IS NULL') . ", 'openDate', '2026-07-01'));"
	  if $r < 0.44;
	return "$auth SELECT esqase_matters_delete(" . pick('matters', $k, 'r.deleted_at IS NULL') . ");"
	  if $r < 0.50;
	return "$auth SELECT esqase_leads_create(jsonb_build_object('type', 'PERSON', 'firstName', 'L', "
	  . "'isPrivate', random() < 0.5));"
	  if $r < 0.62;
	return "$auth SELECT esqase_leads_update(" . pick('leads', $k, 'r.deleted_at IS NULL')
	  . ", jsonb_build_object('isPrivate', random() < 0.5));"
	  if $r < 0.70;
	return "$auth SELECT esqase_leads_delete(" . pick('leads', $k, 'r.deleted_at IS NULL') . ");"
	  if $r < 0.76;
	return "UPDATE esqase.leads SET deleted_at = NULL WHERE id = "
	  . pick('leads', $k, 'r.deleted_at IS NOT NULL') . ";"
	  if $r < 0.80;
	return "$auth SELECT esqase_practice_areas_create('{\"name\": \"PA\"}');" if $r < 0.84;
	return "$auth SELECT esqase_practice_areas_delete("
	  . pick('practice_areas', $k, 'r.deleted_at IS NULL AND NOT EXISTS (SELECT FROM esqase.matters m WHERE m.practice_area_id = r.id)') . ");"
	  if $r < 0.87;
	# a bulk insert: one statement, many rows, some of them born deleted
	return "INSERT INTO esqase.contacts (firm_id, type, company_name, name, deleted_at) "
	  . "SELECT k.firm_id, 'COMPANY', 'Bulk', '', CASE WHEN i % 3 = 0 THEN now() END "
	  . "FROM esqase.api_keys k, generate_series(1, 5 + (random() * 20)::int) i "
	  . "WHERE k.prefix = split_part('$k', '_', 2);"
	  if $r < 0.94;
	# a hard delete of a contact nothing refers to
	return "DELETE FROM esqase.contacts WHERE id = "
	  . pick('contacts', $k,
		'NOT EXISTS (SELECT FROM esqase.leads l WHERE l.contact_id = r.id) '
		  . 'AND NOT EXISTS (SELECT FROM esqase.matter_clients mc WHERE mc.contact_id = r.id)')
	  . ";";
}

# Each session: BEGIN; 1-4 operations; then COMMIT (60%), ROLLBACK (20%)
# or an error and then the end of the transaction (20%: aborted).
my %ends;
my @scripts;
for my $s (1 .. $sessions)
{
	my $sql = "\\set ON_ERROR_STOP 0\nSET client_min_messages = warning;\n";
	for (1 .. $transactions)
	{
		$sql .= "BEGIN;\n";
		$sql .= random_op() . "\n" for 1 .. 1 + int rand 4;
		my $e = rand;
		my $end = $e < 0.6 ? 'commit' : $e < 0.8 ? 'rollback' : 'abort';
		$ends{$end}++;
		$sql .= $end eq 'commit' ? "COMMIT;\n"
		  : $end eq 'rollback' ? "ROLLBACK;\n"
		  : "SELECT 1 / 0;\nCOMMIT;\n";
	}
	push @scripts, $sql;
}
note "transactions: " . join(', ', map { "$_ $ends{$_}" } sort keys %ends);

my @runs;
for my $sql (@scripts)
{
	my ($out, $err) = ('', '');
	push @runs,
	  [
		start(
			[ 'psql', '-X', '-q', '-d', $node->connstr('postgres') ],
			'<', \$sql, '>', \$out, '2>', \$err, timeout(300)),
		\$out, \$err
	  ];
}
my $errors = 0;
for my $run (@runs)
{
	finish($run->[0]);
	$errors += () = ${ $run->[2] } =~ /ERROR:/g;
}
note "errors seen by the sessions (aborted transactions): $errors";
cmp_ok($errors, '>', $sessions * $transactions * 0.15, 'a share of the transactions aborted');

# Every maintained total equals a count of its rows, per firm and list.
my $check = q{
	WITH kept AS (SELECT firm_id, list, sum(n) AS n FROM esqase.record_counts GROUP BY 1, 2),
	counted AS (
		SELECT firm_id, 'contacts' AS list, count(*) AS n FROM esqase.contacts WHERE deleted_at IS NULL GROUP BY 1
		UNION ALL SELECT firm_id, 'matters', count(*) FROM esqase.matters WHERE deleted_at IS NULL GROUP BY 1
		UNION ALL SELECT firm_id, 'practice_areas', count(*) FROM esqase.practice_areas WHERE deleted_at IS NULL GROUP BY 1
		UNION ALL SELECT firm_id, esqase.lead_list(is_private), count(*) FROM esqase.leads WHERE deleted_at IS NULL GROUP BY 1, 2
		UNION ALL SELECT firm_id, 'contacts_private', count(*) FROM esqase.contacts
		           WHERE deleted_at IS NULL AND hidden_by_lead IS NOT NULL GROUP BY 1)
	SELECT coalesce(k.list, c.list) || ': kept ' || coalesce(k.n, 0) || ', counted ' || coalesce(c.n, 0)
	  FROM kept k FULL JOIN counted c USING (firm_id, list)
	 WHERE coalesce(k.n, 0) <> coalesce(c.n, 0)
	 ORDER BY 1};
is($node->safe_psql('postgres', $check), '', 'every maintained total equals count(*)');
# Every list was written to (a slot row exists once a change was counted;
# its total may end at 0, e.g. every private lead later made public).
my $lists = $node->safe_psql('postgres',
	'SELECT count(DISTINCT (firm_id, list)) FROM esqase.record_counts');
is($lists, 12, 'two firms, six counted lists each, all in use');

# Over the API: each key's list totals equal the records it can see.
for my $name (@keys)
{
	my $k = $key{$name};
	my $got = $node->safe_psql('postgres', qq{
		BEGIN;
		SELECT esqase_authenticate('$k');
		SELECT concat_ws(' ',
		    esqase_contacts_list() #>> '{pagination,total}',
		    esqase_matters_list() #>> '{pagination,total}',
		    esqase_practice_areas_list() #>> '{pagination,total}',
		    esqase_leads_list() #>> '{pagination,total}');
		COMMIT;});
	$got = (split /\n/, $got)[-1];    # the line before is esqase_authenticate's
	my $want = $node->safe_psql('postgres', qq{
		SELECT concat_ws(' ',
		    -- a private lead's prospect counts for those who see the lead
		    (SELECT count(*) FROM esqase.contacts r WHERE r.firm_id = k.firm_id AND r.deleted_at IS NULL
		        AND (r.hidden_by_lead IS NULL OR m.is_owner
		             OR EXISTS (SELECT FROM esqase.lead_assignees a WHERE a.lead_id = r.hidden_by_lead AND a.member_id = m.id))),
		    (SELECT count(*) FROM esqase.matters r WHERE r.firm_id = k.firm_id AND r.deleted_at IS NULL),
		    (SELECT count(*) FROM esqase.practice_areas r WHERE r.firm_id = k.firm_id AND r.deleted_at IS NULL),
		    (SELECT count(*) FROM esqase.leads r WHERE r.firm_id = k.firm_id AND r.deleted_at IS NULL
		        AND (NOT r.is_private OR m.is_owner
		             OR EXISTS (SELECT FROM esqase.lead_assignees a WHERE a.lead_id = r.id AND a.member_id = m.id))))
		  FROM esqase.api_keys k JOIN esqase.members m ON m.firm_id = k.firm_id AND m.id = k.member_id
		 WHERE k.prefix = split_part('$k', '_', 2)});
	is($got, $want, "$name: API totals (contacts matters practice_areas leads) equal what it can see");
}

# The check can fail: a count trigger left out makes the totals drift.
$node->safe_psql('postgres', qq{
	ALTER TABLE esqase.contacts DISABLE TRIGGER contacts_count_insert;
	INSERT INTO esqase.contacts (firm_id, type, company_name, name)
	SELECT id, 'COMPANY', 'Uncounted', '' FROM esqase.firms LIMIT 1;
	ALTER TABLE esqase.contacts ENABLE TRIGGER contacts_count_insert;});
like($node->safe_psql('postgres', $check), qr/^contacts: kept \d+, counted \d+$/,
	'the check sees a total that drifted');

$node->stop;
done_testing();
