-- An import into a firm the statistics have not seen (issue 16): each batch
-- of a bulk create in one transaction reads about as many buffers as the
-- one before it.  Planned for the new firm's own id (PL/pgSQL's custom plans,
-- its first five calls), its statements expected one row of the firm and
-- probed some joins by firm_id alone, so every batch read every row the
-- import had written so far (docs/benchmarks.md: 100,000 leads at 212/s).  Buffers, not time: the count does not depend on the
-- machine.
\set VERBOSITY terse

-- A firm the statistics know well, and a new one they have not seen.
DO $$
DECLARE
    known uuid := esqase_create_member(esqase_create_firm('Known LLP'), 'Kim Known', 'kim@known.test', true);
    fresh uuid := esqase_create_member(esqase_create_firm('Fresh LLP'), 'Fay Fresh', 'fay@fresh.test', true);
BEGIN
    INSERT INTO t.keys VALUES ('import_known', esqase_create_api_key(known, esqase.valid_scopes())),
                              ('import_fresh', esqase_create_api_key(fresh, esqase.valid_scopes()));
END
$$;
SELECT jsonb_array_length(t.api('import_known', format('esqase_leads_create_many(%L)',
           (SELECT jsonb_agg(jsonb_build_object('type', 'PERSON', 'firstName', 'Known ' || g))
              FROM generate_series(1, 3000) g))) -> 'data') AS known_leads;
ANALYZE esqase.leads, esqase.contacts, esqase.lead_assignees, esqase.members, esqase.practice_areas;

-- Eight batches of 300 leads in one transaction, the buffers each read.
CREATE TEMP TABLE batch_reads (batch int, blocks bigint);
GRANT INSERT, SELECT ON batch_reads TO esqase_api;
BEGIN;
SET LOCAL ROLE esqase_api;
SELECT FROM esqase_authenticate((SELECT token FROM t.keys WHERE name = 'import_fresh'));
DO $$
DECLARE
    before bigint;
    after bigint;
    reads CONSTANT text := 'SELECT sum(pg_stat_get_xact_blocks_fetched(c.oid))::bigint FROM pg_class c '
                           'WHERE c.relnamespace = ''esqase''::regnamespace';
BEGIN
    FOR b IN 1 .. 8 LOOP
        EXECUTE reads INTO before;
        PERFORM esqase_leads_create_many((SELECT jsonb_agg(jsonb_build_object('type', 'PERSON', 'firstName', 'Fresh ' || g))
                                            FROM generate_series(b * 300 + 1, b * 300 + 300) g));
        EXECUTE reads INTO after;
        INSERT INTO batch_reads VALUES (b, after - before);
    END LOOP;
END
$$;
COMMIT;
-- No batch reads more than twice what another did (the first also warms the
-- session's caches).  Planned for the firm's id, the first five batches (a
-- plan's custom ones) read 67, 111, 152 and 204 thousand buffers, then 29
-- thousand each once the generic plan took over; planned generically, 29
-- thousand each.
SELECT (SELECT max(blocks) FROM batch_reads WHERE batch >= 2)
       <= 2 * (SELECT min(blocks) FROM batch_reads WHERE batch >= 2) AS reads_do_not_grow,
       (SELECT count(*) FROM esqase.leads l JOIN esqase.firms f ON f.id = l.firm_id WHERE f.name = 'Fresh LLP') AS fresh_leads;
