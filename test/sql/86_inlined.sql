-- The renderers esqase.<resource>_docs are inlined into the plans of the
-- functions that call them, so a GET or a whole list page is one query
-- with a cached plan (docs/architecture.md, "Plans are kept").  A renderer
-- that stops being inlinable (a sub-select, a SET clause, a volatile call,
-- another language) shows up here as a Function Scan.
\set VERBOSITY terse
CREATE FUNCTION pg_temp.inlined(renderer regproc) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    line text;
BEGIN
    FOR line IN EXECUTE format('EXPLAIN VERBOSE SELECT * FROM %s(%L::uuid, ARRAY[%L::uuid])',
                               renderer, gen_random_uuid(), gen_random_uuid()) LOOP
        IF line LIKE '%Function Scan on ' || renderer::text || ' %' THEN
            RETURN false;
        END IF;
    END LOOP;
    RETURN true;
END
$$;

-- Each renderer of the schema.
SELECT p.oid::regproc AS renderer, pg_temp.inlined(p.oid::regproc)
FROM pg_proc p
WHERE p.pronamespace = 'esqase'::regnamespace AND p.proname LIKE '%\_docs'
ORDER BY p.proname;

-- The check sees a renderer that cannot be inlined (SET prevents it).
BEGIN;
CREATE FUNCTION esqase.not_inlined_docs(firm uuid, ids uuid[]) RETURNS TABLE (n bigint, doc json)
LANGUAGE sql STABLE SET search_path = pg_catalog
AS $$ SELECT 1::bigint, json_build_object('firm', firm, 'ids', ids) $$;
SELECT pg_temp.inlined('esqase.not_inlined_docs'::regproc);
ROLLBACK;

-- The key lookup every request runs reads the prefix index and hashes the
-- token inline: no esqase function is left in its plan to be called
-- through the SQL-function executor (token_hash, declared IMMUTABLE over
-- the STABLE convert_to, was not inlined and ran that way on every
-- request).
CREATE FUNCTION pg_temp.esqase_calls(query text) RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE
    line text;
BEGIN
    FOR line IN EXECUTE 'EXPLAIN VERBOSE ' || query LOOP
        IF line ~ 'esqase\.[a-z_]+\(' THEN
            RETURN NEXT line;
        END IF;
    END LOOP;
END
$$;
PREPARE lookup(text) AS
SELECT a.id FROM esqase.api_keys a
 WHERE a.prefix = esqase.token_prefix($1)
   AND esqase.token_opens($1, a.secret_hash, a.previous_secret_hash, a.previous_valid_until);
SET plan_cache_mode = force_generic_plan;
SELECT count(*) AS esqase_calls_in_key_lookup
FROM pg_temp.esqase_calls('EXECUTE lookup(''esq_0123456789ab_x'')');
RESET plan_cache_mode;
DEALLOCATE lookup;
