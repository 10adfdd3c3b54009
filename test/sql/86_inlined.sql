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

-- The search documents are computed for every row a contact's or a
-- matter's trigger writes: their functions are inlined into the trigger's
-- expression down to the builtins and the C functions (a SQL function that
-- is not inlined costs each row an executor start-up: issue 16).
CREATE TEMP TABLE doc_args (name text, nickname text, trade_name text, emails text[], phones text[],
                            public_id text, title text, description text);
CREATE FUNCTION pg_temp.plan_calls(query text) RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE
    line text;
BEGIN
    FOR line IN EXECUTE 'EXPLAIN VERBOSE ' || query LOOP
        RETURN QUERY SELECT m[1] FROM regexp_matches(line, 'esqase\.(\w+)\(', 'g') m;
    END LOOP;
END
$$;
SELECT DISTINCT pg_temp.plan_calls('SELECT esqase.contact_search_of(name, nickname, trade_name, emails, phones), '
                                   'esqase.matter_search_of(public_id, title, description) FROM doc_args') AS call
ORDER BY 1;
-- The check sees a document function that is not inlined.
BEGIN;
ALTER FUNCTION esqase.matter_search_of(text, text, text) IMMUTABLE;
SELECT DISTINCT pg_temp.plan_calls('SELECT esqase.matter_search_of(public_id, title, description) FROM doc_args') AS call;
ROLLBACK;

-- The C functions give what the SQL they replaced gave: fold (case and
-- accents dropped, after NFD), nfc, and phone_keys (each phone's digits and
-- their tails of 4 digits or more).
SELECT t, esqase.fold(t) = lower(regexp_replace(normalize(t, NFD), '[\u0300-\u036f]', '', 'g')) AS fold_same,
       esqase.nfc(t) = normalize(t, NFC) AS nfc_same, esqase.fold(t) AS folded
  FROM (VALUES ('Émile ZOLA'), ('e' || chr(769) || 'mile'), ('ÅNGSTRÖM ǅ ΣΑΣ'), ('İstanbul straße'),
               ('a' || chr(879) || chr(880) || 'b'), ('')) v (t);
SELECT esqase.fold(NULL) IS NULL AS fold_null, esqase.nfc(NULL) IS NULL AS nfc_null,
       esqase.nfc('e' || chr(769)) = chr(233) AS nfc_composes;
SELECT p, esqase.phone_keys(p)
  FROM (VALUES ('{"+1-555-0100"}'::text[]), ('{"123", "(0)20 7946-0958", NULL, "x٣٤٥٦٧"}'), ('{"123"}'),
               ('{}'), (NULL)) v (p);
