# 026_one_transaction.pl — one transaction writes 50,000 records of each
# kind (issue 16): contacts, practice areas, matter types, matters, leads.
# The maintained totals (record_counts) and the public-id counters are
# written once per transaction, not once per statement (an UPDATE of a row
# the same transaction has updated n times walks those n versions, so the
# old way made a transaction of n writes cost O(n^2)).  The records are
# written three ways, all in the one transaction, as the API role: one
# create per call (one statement per record), the bulk creates (one
# statement per 1,000), and INSERT ... SELECT in batches, as a script
# importing by hand would.  Checked: the counter rows are not written
# before commit; totals read inside the transaction include its own
# writes; a savepoint rolled back gives back its records and numbers;
# after commit every total equals a count of the rows and the public ids
# are M-0001 ... and L-0001 ... without a gap.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

my $n = $ENV{ESQASE_ONE_TX_RECORDS} // 50000;    # per kind
my $per_call = 500;                               # of them one create per call
my $bulk = 1000;                                  # of them in one create_many
my $batch = 7000;                                 # INSERT ... SELECT batch

my $node = PostgreSQL::Test::Cluster->new('one_transaction');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'esqase'
esqase.http_port = 0
max_wal_size = 4GB
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION esqase');
my ($firm, $member, $token) = split /\|/, $node->safe_psql('postgres', q{
	WITH f AS (SELECT esqase_create_firm('Import LLP') AS id),
	     m AS (SELECT f.id AS firm, esqase_create_member(f.id, 'Ida Import', 'ida@import.test', true) AS id FROM f)
	SELECT firm, id, esqase_create_api_key(id, esqase.valid_scopes()) FROM m});

my $raw = $n - $per_call - $bulk;
my $t0 = time;
my $out = $node->safe_psql('postgres', <<"SQL", timeout => 900);
\\set ON_ERROR_STOP on
BEGIN;
SET LOCAL ROLE esqase_api;
SELECT esqase_authenticate('$token') \\g /dev/null
SELECT (esqase_practice_areas_create('{"name": "Area 0"}') -> 'data' ->> 'id') AS area \\gset
-- one create per call
SELECT count(esqase_contacts_create(jsonb_build_object('type', 'PERSON', 'firstName', 'C' || g))),
       count(esqase_practice_areas_create(jsonb_build_object('name', 'A' || g))),
       count(esqase_matter_types_create(jsonb_build_object('practiceAreaId', :'area', 'name', 'T' || g))),
       count(esqase_matters_create(jsonb_build_object('practiceAreaId', :'area', 'openDate', '2026-07-01'))),
       count(esqase_leads_create(jsonb_build_object('type', 'COMPANY', 'companyName', 'L' || g, 'isPrivate', g % 3 = 0)))
  FROM generate_series(2, $per_call) g \\g /dev/null
SELECT count(esqase_contacts_create('{"type": "PERSON", "firstName": "C1"}')) \\g /dev/null
SELECT count(esqase_matter_types_create(jsonb_build_object('practiceAreaId', :'area', 'name', 'T1'))) \\g /dev/null
SELECT count(esqase_matters_create(jsonb_build_object('practiceAreaId', :'area', 'openDate', '2026-07-01'))) \\g /dev/null
SELECT count(esqase_leads_create('{"type": "PERSON", "firstName": "L1"}')) \\g /dev/null
-- the bulk creates
SELECT jsonb_array_length(esqase_contacts_create_many((SELECT jsonb_agg(jsonb_build_object('type', 'PERSON', 'firstName', 'B' || g)) FROM generate_series(1, $bulk) g)) -> 'data'),
       jsonb_array_length(esqase_practice_areas_create_many((SELECT jsonb_agg(jsonb_build_object('name', 'B' || g)) FROM generate_series(1, $bulk) g)) -> 'data'),
       jsonb_array_length(esqase_matter_types_create_many((SELECT jsonb_agg(jsonb_build_object('practiceAreaId', :'area', 'name', 'B' || g)) FROM generate_series(1, $bulk) g)) -> 'data'),
       jsonb_array_length(esqase_matters_create_many((SELECT jsonb_agg(jsonb_build_object('practiceAreaId', :'area', 'openDate', '2026-07-01')) FROM generate_series(1, $bulk) g)) -> 'data'),
       jsonb_array_length(esqase_leads_create_many((SELECT jsonb_agg(jsonb_build_object('type', 'PERSON', 'firstName', 'B' || g, 'isPrivate', g % 3 = 0)) FROM generate_series(1, $bulk) g)) -> 'data') \\g /dev/null
-- INSERT ... SELECT, a statement per batch
SELECT set_config('one_tx.area', :'area', true) \\g /dev/null
DO \$\$
DECLARE
    firm uuid := esqase.context_firm();
    area uuid := current_setting('one_tx.area')::uuid;
    stage uuid := (SELECT id FROM esqase.practice_area_stages WHERE practice_area_id = area ORDER BY "order" LIMIT 1);
    lead_stage uuid := (SELECT id FROM esqase.lead_stages WHERE firm_id = firm ORDER BY "order" LIMIT 1);
    done integer := 0;
    k integer;
BEGIN
    WHILE done < $raw LOOP
        k := least($batch, $raw - done);
        INSERT INTO esqase.contacts (firm_id, type, first_name, name)
        SELECT firm, 'PERSON', 'R' || g, '' FROM generate_series(1, k) g;
        INSERT INTO esqase.practice_areas (firm_id, name) SELECT firm, 'R' || g FROM generate_series(1, k) g;
        INSERT INTO esqase.matter_types (firm_id, practice_area_id, name) SELECT firm, area, 'R' || g FROM generate_series(1, k) g;
        INSERT INTO esqase.matters (firm_id, public_id, open_date, practice_area_id, stage_id)
        SELECT firm, esqase.next_public_id(firm, 'M'), '2026-07-01', area, stage FROM generate_series(1, k) g;
        WITH c AS (INSERT INTO esqase.contacts (firm_id, type, company_name, name)
                   SELECT firm, 'COMPANY', 'R' || g, '' FROM generate_series(1, k) g RETURNING id)
        INSERT INTO esqase.leads (firm_id, public_id, contact_id, stage_id)
        SELECT firm, esqase.next_public_id(firm, 'L'), c.id, lead_stage FROM c;
        done := done + k;
    END LOOP;
END
\$\$;
-- before commit: the counter rows were not written by these statements
RESET ROLE;
SELECT 'writes', relname, n_tup_ins + n_tup_upd FROM pg_stat_xact_user_tables
 WHERE relname IN ('record_counts', 'public_id_counters') ORDER BY relname;
SET LOCAL ROLE esqase_api;
-- totals inside the transaction include its writes
SELECT 'inside', esqase_contacts_list('{"limit": "1"}') #> '{pagination,total}',
       esqase_practice_areas_list('{"limit": "1"}') #> '{pagination,total}',
       esqase_matter_types_list(jsonb_build_object('limit', '1', 'practiceAreaId', :'area')) #> '{pagination,total}',
       esqase_matters_list('{"limit": "1"}') #> '{pagination,total}',
       esqase_leads_list('{"limit": "1"}') #> '{pagination,total}';
-- a savepoint rolled back gives back its records and numbers
SAVEPOINT s;
SELECT count(esqase_matters_create(jsonb_build_object('practiceAreaId', :'area', 'openDate', '2026-07-01'))),
       count(esqase_leads_create('{"type": "PERSON", "firstName": "Gone"}')),
       count(esqase_contacts_create('{"type": "PERSON", "firstName": "Gone"}'))
  FROM generate_series(1, 10) \\g /dev/null
ROLLBACK TO s;
SELECT 'after rollback', esqase_contacts_list('{"limit": "1"}') #> '{pagination,total}',
       esqase_matters_list('{"limit": "1"}') #> '{pagination,total}',
       esqase_leads_list('{"limit": "1"}') #> '{pagination,total}';
SELECT 'next', esqase_matters_create(jsonb_build_object('practiceAreaId', :'area', 'openDate', '2026-07-01')) #>> '{data,publicId}';
SELECT 'next', esqase_leads_create('{"type": "PERSON", "firstName": "Last"}') #>> '{data,publicId}';
COMMIT;
SQL
my $secs = time - $t0;
note sprintf("%d records of each kind in one transaction: %.1f s", $n, $secs);
note $out;

my $m1 = $n + 1;
like($out, qr/^writes\|public_id_counters\|2$/m,
	'each public-id counter row was written once before commit (its first number)');
like($out, qr/^writes\|record_counts\|0$/m, 'no total was written before commit');
like($out, qr/^inside\|${\ (2 * $n)}\|$n\|$n\|$n\|$n$/m,
	"totals inside the transaction: $n of each (contacts: the firm's and the leads' prospects)");
like($out, qr/^after rollback\|${\ (2 * $n)}\|$n\|$n$/m, 'a rolled-back savepoint gave back its records');
like($out, qr/^next\|M-0*$m1\nnext\|L-0*$m1$/m, '... and its numbers');

my $check = $node->safe_psql('postgres', qq{
	SELECT string_agg(format('%s %s/%s', l.list, coalesce(k.n, 0), l.counted), ', ' ORDER BY l.list)
	  FROM (VALUES ('contacts', (SELECT count(*) FROM esqase.contacts WHERE firm_id = '$firm' AND deleted_at IS NULL)),
	               ('contacts_private', (SELECT count(*) FROM esqase.contacts WHERE firm_id = '$firm' AND deleted_at IS NULL AND hidden_by_lead IS NOT NULL)),
	               ('practice_areas', (SELECT count(*) FROM esqase.practice_areas WHERE firm_id = '$firm' AND deleted_at IS NULL)),
	               ('matters', (SELECT count(*) FROM esqase.matters WHERE firm_id = '$firm' AND deleted_at IS NULL)),
	               ('leads_public', (SELECT count(*) FROM esqase.leads WHERE firm_id = '$firm' AND deleted_at IS NULL AND NOT is_private)),
	               ('leads_private', (SELECT count(*) FROM esqase.leads WHERE firm_id = '$firm' AND deleted_at IS NULL AND is_private))) l (list, counted)
	  LEFT JOIN (SELECT list, sum(n) AS n FROM esqase.record_counts WHERE firm_id = '$firm' GROUP BY list) k ON k.list = l.list});
unlike($check, qr/ (\d+)\/(?!\1\b)\d+/, "every maintained total equals its count after commit: $check");
like($check, qr/^contacts ${\ (2 * $n + 1)}\//, 'contacts: the firm\'s and the leads\' prospects');

is( $node->safe_psql('postgres', qq{
	SELECT kind || ' ' || count(*) || ' ' || min(n) || '-' || max(n)
	  FROM (SELECT 'M' AS kind, substr(public_id, 3)::int AS n FROM esqase.matters WHERE firm_id = '$firm'
	        UNION ALL SELECT 'L', substr(public_id, 3)::int FROM esqase.leads WHERE firm_id = '$firm') x
	 GROUP BY kind ORDER BY kind}),
	"L $m1 1-$m1\nM $m1 1-$m1",
	'public ids without a gap or a repeat');
is( $node->safe_psql('postgres',
		qq{SELECT string_agg(kind || ' ' || last_value, ', ' ORDER BY kind) FROM esqase.public_id_counters WHERE firm_id = '$firm'}),
	"L $m1, M $m1", 'the counters end at the last number used');

$node->stop;
done_testing();
