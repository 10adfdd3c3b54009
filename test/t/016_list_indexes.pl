# Every filter and order of the big lists (contacts, matters, leads) is served
# by an index at 1,000,000 rows: the test loads ESQASE_BIG_ROWS rows per table
# into one firm, ANALYZEs, and reads the plan
# of every query a list runs (auto_explain, JSON) for each filter and order:
# an index of the list's table is used and no big table is read by a Seq Scan.
#
# Honest about the load: the rows are written by INSERT ... generate_series
# with session_replication_role = replica, so no trigger runs (no audit rows,
# no derived fields: name and search are written directly, as the triggers
# would; the maintained totals are then set to the counts).  Ids are
# sequential so that the load is quick; the plans do not depend on it.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use List::Util qw(pairs);

# 50,000 by default, to keep the suite's time (the load is most of it, and
# scales with the rows); ESQASE_BIG_ROWS=1000000 for the full size.
my $rows = $ENV{ESQASE_BIG_ROWS} // 50_000;

my $node = PostgreSQL::Test::Cluster->new('list_indexes');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'esqase'
esqase.http_port = 0
shared_buffers = 256MB
maintenance_work_mem = 256MB
max_wal_size = 4GB
checkpoint_timeout = 1h
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION esqase');

my $t0 = time;
# A firm with an owner and a member (the member sees a private lead only
# when assigned), 20 practice areas (their stages seeded by the trigger).
$node->safe_psql('postgres', q{
CREATE TABLE big (firm uuid, owner_key text, member_key text);
INSERT INTO big
SELECT f, esqase_create_api_key(esqase_create_member(f, 'Owner', 'owner@big.test', true), esqase.valid_scopes()),
       esqase_create_api_key(esqase_create_member(f, 'Member', 'member@big.test'), esqase.valid_scopes())
  FROM esqase_create_firm('Big') f;
INSERT INTO esqase.practice_areas (firm_id, name) SELECT firm, 'Area ' || g FROM big, generate_series(1, 20) g;
GRANT SELECT ON big TO PUBLIC;
});
# The rows: ids and times in order; 1 in 100 soft-deleted.
$node->safe_psql('postgres', qq{
SET session_replication_role = replica;
CREATE FUNCTION pg_temp.uid(kind int, g bigint) RETURNS uuid LANGUAGE sql IMMUTABLE
RETURN (lpad(to_hex(kind), 8, '0') || lpad(to_hex(g), 24, '0'))::uuid;
CREATE TEMP TABLE areas AS
SELECT row_number() OVER (ORDER BY p.id) - 1 AS n, p.id AS area, s.id AS stage
  FROM esqase.practice_areas p JOIN esqase.practice_area_stages s ON s.firm_id = p.firm_id
   AND s.practice_area_id = p.id AND s."order" = 1;
INSERT INTO esqase.contacts (firm_id, id, type, status, first_name, last_name, company_name, emails, name,
                             search, created_at, updated_at, deleted_at)
SELECT b.firm, pg_temp.uid(1, g), CASE WHEN g % 5 = 0 THEN 'COMPANY' ELSE 'PERSON' END,
       CASE WHEN g % 100 = 0 THEN 'ARCHIVED' ELSE 'ACTIVE' END,
       CASE WHEN g % 5 <> 0 THEN 'first' || g END, CASE WHEN g % 5 <> 0 THEN 'last' || g % 1000 END,
       CASE WHEN g % 5 = 0 THEN 'company' || g END, ARRAY['p' || g || '\@example.com'], x.name,
       esqase.search_document(x.name || ' p' || g || '\@example.com p' || g || ' example.com'),
       x.at, x.at + (g % 7) * interval '1 minute', CASE WHEN g % 100 = 0 THEN x.at + interval '1 hour' END
  FROM big b, generate_series(1, $rows) g,
       LATERAL (SELECT CASE WHEN g % 5 = 0 THEN 'company' || g ELSE 'first' || g || ' last' || g % 1000 END AS name,
                       '2020-01-01'::timestamptz + g * interval '1 minute' AS at) x;
INSERT INTO esqase.matters (firm_id, id, public_id, title, status, open_date, practice_area_id, stage_id,
                            search, created_at, updated_at, deleted_at)
SELECT b.firm, pg_temp.uid(2, g), 'M-' || g, 'matter ' || g,
       CASE WHEN g % 10 = 0 THEN 'ARCHIVE' WHEN g % 10 < 3 THEN 'DRAFT' ELSE 'ACTIVE' END, '2020-01-01',
       a.area, a.stage, esqase.search_document('M-' || g || ' matter ' || g),
       x.at, x.at + (g % 7) * interval '1 minute', CASE WHEN g % 100 = 0 THEN x.at + interval '1 hour' END
  FROM big b CROSS JOIN generate_series(1, $rows) g
  JOIN areas a ON a.n = g % 20 CROSS JOIN
       LATERAL (SELECT '2020-01-01'::timestamptz + g * interval '1 minute' AS at) x;
INSERT INTO esqase.matter_clients (firm_id, id, matter_id, contact_id, position)
SELECT b.firm, pg_temp.uid(3, g), pg_temp.uid(2, g), pg_temp.uid(1, g), 0 FROM big b, generate_series(1, $rows) g;
INSERT INTO esqase.leads (firm_id, id, public_id, status, is_private, contact_id, practice_area_id, stage_id,
                          created_at, updated_at, deleted_at)
SELECT b.firm, pg_temp.uid(4, g), 'L-' || g,
       CASE WHEN g % 10 = 0 THEN 'WON' WHEN g % 10 = 1 THEN 'LOST' ELSE 'PENDING' END, g % 10 = 5,
       pg_temp.uid(1, g), a.area, ls.id,
       x.at, x.at + (g % 7) * interval '1 minute', CASE WHEN g % 100 = 0 THEN x.at + interval '1 hour' END
  FROM big b CROSS JOIN generate_series(1, $rows) g
  JOIN areas a ON a.n = g % 20
  JOIN esqase.lead_stages ls ON ls.firm_id = b.firm AND ls."order" = 1 CROSS JOIN
       LATERAL (SELECT '2020-01-01'::timestamptz + g * interval '1 minute' AS at) x;
INSERT INTO esqase.record_counts (firm_id, list, slot, n)
SELECT b.firm, l.list, 0, l.n FROM big b, (VALUES
    ('contacts', (SELECT count(*) FROM esqase.contacts WHERE deleted_at IS NULL)),
    ('matters', (SELECT count(*) FROM esqase.matters WHERE deleted_at IS NULL)),
    ('leads_public', (SELECT count(*) FROM esqase.leads WHERE deleted_at IS NULL AND NOT is_private)),
    ('leads_private', (SELECT count(*) FROM esqase.leads WHERE deleted_at IS NULL AND is_private))) l(list, n);
ANALYZE;
});
note sprintf('loaded %d rows into each of contacts, matters, matter_clients, leads in %.1f s', $rows, time - $t0);

my ($area, $stage, $client) = split /\|/, $node->safe_psql('postgres', q{
	SELECT m.practice_area_id, m.stage_id, mc.contact_id FROM esqase.matters m
	  JOIN esqase.matter_clients mc ON mc.matter_id = m.id ORDER BY m.created_at DESC LIMIT 1});
my $since = '2021-01-01T00:00:00Z';
my $recent = $node->safe_psql('postgres',
	q{SELECT to_char((max(updated_at) - interval '3 days') AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') FROM esqase.contacts});

# The plans of every case's list call, as the API role (row-level security
# on), in one session: a LOG line "case N" before each.
sub plans
{
	my ($key, @cases) = @_;
	my $sql = q{
LOAD 'auto_explain';
SET auto_explain.log_min_duration = 0;
SET auto_explain.log_nested_statements = on;
SET auto_explain.log_format = json;
SET auto_explain.log_analyze = on;
SET auto_explain.log_timing = off;
SET client_min_messages = log;
SET ROLE esqase_api;
};
	for my $n (0 .. $#cases)
	{
		my ($list, $params) = @{ $cases[$n] };
		$sql .= qq{DO \$\$ BEGIN RAISE LOG 'case $n'; END \$\$;
BEGIN;
SELECT esqase_authenticate((SELECT $key FROM big)) \\g /dev/null
SELECT jsonb_typeof(esqase_${list}_list('$params') -> 'data');
COMMIT;
};
	}
	my ($out, $err);
	$node->psql('postgres', $sql, stdout => \$out, stderr => \$err);
	my @answers = split /\n/, $out;
	my @logs = (split /LOG:  case \d+\n/, $err);
	shift @logs;
	return (\@answers, \@logs);
}

my @cases = (
	[contacts => '{}'], [contacts => '{"type": "COMPANY"}'], [contacts => '{"status": "ACTIVE"}'],
	[contacts => '{"q": "last123"}'], [contacts => '{"q": "first4567 last567", "order": "name"}'],
	[contacts => '{"q": "p777777@example"}'],
	[contacts => qq({"createdSince": "$since"})], [contacts => qq({"updatedSince": "$recent"})],
	[contacts => qq({"updatedSince": "$recent", "order": "updatedAt"})],
	[contacts => '{"order": "updatedAt"}'], [contacts => '{"order": "-updatedAt"}'],
	[contacts => '{"order": "name"}'], [contacts => '{"order": "-name"}'], [contacts => '{"order": "-createdAt"}'],
	[matters => '{}'], [matters => '{"status": "DRAFT"}'], [matters => qq({"practiceAreaId": "$area"})],
	[matters => qq({"stageId": "$stage"})], [matters => qq({"clientContactId": "$client"})],
	[matters => '{"q": "4242"}'], [matters => '{"q": "first4242"}'],
	[matters => qq({"updatedSince": "$recent", "order": "updatedAt"})], [matters => qq({"createdSince": "$since"})],
	[matters => '{"order": "title"}'], [matters => '{"order": "-title"}'], [matters => '{"order": "-updatedAt"}'],
	[leads => '{}'], [leads => '{"status": "WON"}'], [leads => qq({"practiceAreaId": "$area"})],
	[leads => qq({"stageId": "$stage"})], [leads => '{"q": "last123"}'], [leads => '{"order": "name"}'],
	[leads => qq({"updatedSince": "$recent", "order": "updatedAt"})], [leads => '{"order": "-createdAt"}'],
	[leads => qq({"createdSince": "$since"})]);
my %table = (contacts => 'contacts', matters => 'matters', leads => 'leads');
my $t1 = time;
for my $key ('owner_key', 'member_key')
{
	my ($answers, $logs) = plans($key, @cases);
	for my $n (0 .. $#cases)
	{
		my ($list, $params) = @{ $cases[$n] };
		my $err = $logs->[$n] // '';
		is($answers->[$n], 'array', "$list $params as $key: answers") or diag grep { /ERROR/ } split /\n/, $err;
		# One plan per statement the call ran; the page query must be served
		# by an index of the list's table, and no statement may read a big
		# table by a Seq Scan (a node that never ran, e.g. a row-level
		# security sub-select the key's scopes make unnecessary, costs
		# nothing and does not count).  The exact total of a filter that
		# matches most of the firm reads those rows (decisions.md): its
		# count is not held to the rule, only reported.
		my @seq;
		my %used;
		for my $plan (split /LOG:  duration: /, $err)
		{
			my $count = $plan =~ /"Query Text": "[^"]*count\(\*\)/;
			my @s = grep { !/ 0$/ } map { "$_->[0] $_->[1]" }
				pairs($plan =~ /"Node Type": "Seq Scan",[^{}]*?"Relation Name": "(contacts|matters|leads|matter_clients)"[^{}]*?"Actual Loops": (\d+)/g);
			if ($count) { note "$list $params as $key: the total read $_ by a Seq Scan" for @s; next; }
			push @seq, @s;
			$used{$_} = 1 for $plan =~ /"Index Name": "(\w+)"/g;
		}
		# Not held to the rule, and so not counted as passing (decisions.md,
		# "Search, filters and sync"): said here, checked by nothing.
		my $exempt = $list eq 'leads' && $params =~ /"order": "name"/
			? 'leads by their contact\'s name: the order lives in another table, no index spans the join'
			: $list eq 'matters' && $params =~ /"q"/ && $rows < 1_000_000
			? 'below 1,000,000 matters the planner reads a prefix of an unknown word as 2% of the table, and scans it'
			: undef;
		if ($exempt)
		{
			note "$list $params as $key: not checked for index use: $exempt";
			next;
		}
		is_deeply(\@seq, [], "$list $params as $key: no Seq Scan on a big table");
		my @own = grep { /^\Q$table{$list}\E_/ } sort keys %used;
		ok(@own, "$list $params as $key: served by an index of $list (@own)");
	}
}
note sprintf('%d plans read in %.1f s', 2 * @cases, time - $t1);

$node->stop;
done_testing();
