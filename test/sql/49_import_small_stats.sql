-- An import into tables last analyzed while nearly empty (issue 16).  An
-- ANALYZE of a table holding a row or two (a fresh install tried out, a
-- restore's vacuumdb --analyze-only, a demo firm) leaves statistics that
-- call every firm_id unique and a page one row: until the next ANALYZE,
-- which cannot come before the import commits, every plan expects one row
-- per firm.  A scan of the whole firm then costs what a lookup by key does,
-- and a plan made early in the transaction that reads the record a create
-- just wrote, or a foreign key's parent, by the firm alone (filtering its
-- rows by id) or by an index that holds the firm's rows in another order
-- read every row the import had written so far: 3,000 practice areas in
-- one transaction took 40 s.  Here each kind is written in batches, one
-- create per call and in bulk, and each batch must read about as many
-- buffers as the one before it.  Buffers, not time: the count does not
-- depend on the machine.
\set VERBOSITY terse
SELECT current_database() AS regression_db \gset
CREATE DATABASE esqase_small_stats;
\c esqase_small_stats
SET client_min_messages = warning;
CREATE EXTENSION esqase;
CREATE TEMP TABLE keys (name text PRIMARY KEY, token text, member uuid);
GRANT SELECT ON keys TO esqase_api;
INSERT INTO keys
SELECT name, esqase_create_api_key(m, esqase.valid_scopes()), m
  FROM (VALUES ('tried'), ('import')) v(name),
       LATERAL (SELECT esqase_create_member(esqase_create_firm(name || ' LLP'), 'Ola Owner',
                                            'ola@' || name || '.test', true) AS m) x;

-- The firm that tried the API out: one record of each kind, then ANALYZE.
BEGIN;
SET LOCAL ROLE esqase_api;
SELECT FROM esqase_authenticate((SELECT token FROM keys WHERE name = 'tried'));
SELECT esqase_practice_areas_create('{"name": "Tried"}') -> 'data' ->> 'id' AS area \gset
SELECT esqase_contacts_create('{"type": "PERSON", "firstName": "Tia"}') -> 'data' ->> 'id' AS contact \gset
SELECT FROM esqase_matter_types_create(jsonb_build_object('practiceAreaId', :'area', 'name', 'Tried'));
SELECT FROM esqase_matters_create(jsonb_build_object('practiceAreaId', :'area', 'openDate', '2026-07-01',
                                                     'clientContactIds', jsonb_build_array(:'contact')));
SELECT FROM esqase_leads_create('{"type": "PERSON", "firstName": "Tom"}');
COMMIT;
ANALYZE;

-- The import, in one transaction: its firm's own practice area and contact
-- to refer to, then four batches of 200 creates of each kind one per call,
-- and four of 200 of each kind in one bulk call.
CREATE TEMP TABLE batch_reads (kind text, batch int, blocks bigint);
GRANT INSERT, SELECT ON batch_reads TO esqase_api;
BEGIN;
SET LOCAL ROLE esqase_api;
SELECT FROM esqase_authenticate((SELECT token FROM keys WHERE name = 'import'));
SELECT set_config('import.area', esqase_practice_areas_create('{"name": "Import"}') -> 'data' ->> 'id', true),
       set_config('import.contact', esqase_contacts_create('{"type": "PERSON", "firstName": "Ida"}') -> 'data' ->> 'id', true),
       set_config('import.member', (SELECT member::text FROM keys WHERE name = 'import'), true) \g /dev/null
DO $$
DECLARE
    kinds CONSTANT text[] := ARRAY['contacts', 'practice_areas', 'matter_types', 'matters', 'leads'];
    -- the body of the g-th record of each kind, as the API would get it
    bodies CONSTANT text[] := ARRAY[
        $b$jsonb_build_object('type', 'PERSON', 'firstName', 'C' || g, 'emails', jsonb_build_array('c' || g || '@import.test'))$b$,
        $b$jsonb_build_object('name', 'A' || g)$b$,
        format($b$jsonb_build_object('practiceAreaId', %L, 'name', 'T' || g)$b$, current_setting('import.area')),
        format($b$jsonb_build_object('practiceAreaId', %L, 'openDate', '2026-07-01', 'title', 'M' || g,
                                     'clientContactIds', jsonb_build_array(%L),
                                     'team', jsonb_build_array(jsonb_build_object('memberId', %L)))$b$,
               current_setting('import.area'), current_setting('import.contact'), current_setting('import.member')),
        format($b$jsonb_build_object('type', 'PERSON', 'firstName', 'L' || g, 'isPrivate', g %% 3 = 0,
                                     'practiceAreaId', %L, 'assigneeIds', jsonb_build_array(%L))$b$,
               current_setting('import.area'), current_setting('import.member'))];
    reads CONSTANT text := 'SELECT sum(pg_stat_get_xact_blocks_fetched(c.oid))::bigint FROM pg_class c '
                           'WHERE c.relnamespace = ''esqase''::regnamespace';
    before bigint;
    after bigint;
BEGIN
    -- every kind in each batch, so that a lookup of another kind's rows
    -- (a matter's practice area, a lead's contact) is checked too
    FOR b IN 1 .. 8 LOOP
        FOR k IN 1 .. array_length(kinds, 1) LOOP
            EXECUTE reads INTO before;
            EXECUTE CASE WHEN b <= 4
                         THEN format('SELECT count(esqase_%s_create(%s)) FROM generate_series(%s, %s) g',
                                     kinds[k], bodies[k], b * 1000, b * 1000 + 199)
                         ELSE format('SELECT esqase_%s_create_many((SELECT jsonb_agg(%s) FROM generate_series(%s, %s) g))',
                                     kinds[k], bodies[k], b * 1000, b * 1000 + 199) END;
            EXECUTE reads INTO after;
            INSERT INTO batch_reads VALUES (kinds[k], b, after - before);
        END LOOP;
    END LOOP;
END
$$;
COMMIT;

-- The last batch of each way reads at most a third more than the second
-- (the first warms the session's caches and plans).  Before, batches of 150
-- practice areas one per call read 12,532, 24,216, 35,257 and 47,827
-- buffers, 150 matter types 7,519 to 37,694.
SELECT kind,
       max(blocks) FILTER (WHERE batch = 4) <= 1.33 * max(blocks) FILTER (WHERE batch = 2) AS per_call_flat,
       max(blocks) FILTER (WHERE batch = 8) <= 1.33 * max(blocks) FILTER (WHERE batch = 6) AS bulk_flat
  FROM batch_reads GROUP BY kind ORDER BY kind;
-- when a kind grows, what each batch read (not in the expected output)
SELECT kind, string_agg(blocks::text, ' ' ORDER BY batch) AS blocks_per_batch
  FROM batch_reads GROUP BY kind
HAVING max(blocks) FILTER (WHERE batch = 4) > 1.33 * max(blocks) FILTER (WHERE batch = 2)
    OR max(blocks) FILTER (WHERE batch = 8) > 1.33 * max(blocks) FILTER (WHERE batch = 6)
 ORDER BY kind;

\c :regression_db
DROP DATABASE esqase_small_stats;
