-- Fixtures and helpers shared by every regression test: firms A and B, their
-- members (one removed), keys with various scopes, and the t.* helpers.  The
-- files run in order in one database, but each must also pass run alone
-- after this one (REGRESS="00_setup X"): a file creates the other records it
-- needs itself, and shows no total that counts other files' rows.
\set VERBOSITY terse
CREATE SCHEMA t;
GRANT USAGE ON SCHEMA t TO PUBLIC;
CREATE TABLE t.keys (name text PRIMARY KEY, token text NOT NULL);
CREATE TABLE t.ids (name text PRIMARY KEY, id uuid NOT NULL);
GRANT SELECT, INSERT ON t.keys, t.ids TO PUBLIC;

-- Calls expr (e.g. 'esqase_contacts_get(...)') as key, in one transaction
-- with the key's context; an error comes back as {"error": {...}} with the
-- SQLSTATE, the field at fault and the message.  t.call returns the result
-- as it is, t.api with a list's nextCursor (opaque, made of a timestamp
-- and an id) shown as "<cursor>".
CREATE FUNCTION t.call(key text, expr text) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    r jsonb;
    st text; col text; msg text;
BEGIN
    IF key IS NOT NULL THEN
        PERFORM esqase_authenticate((SELECT token FROM t.keys WHERE name = key));
    END IF;
    EXECUTE 'SELECT ' || expr INTO r;
    RETURN r;
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, col = COLUMN_NAME, msg = MESSAGE_TEXT;
    RETURN jsonb_build_object('error', jsonb_build_object('sqlstate', st, 'field', nullif(col, ''), 'message', msg));
END
$$;
CREATE FUNCTION t.api(key text, expr text) RETURNS jsonb LANGUAGE sql AS $$
    SELECT CASE WHEN r #>> '{pagination,nextCursor}' IS NOT NULL
                THEN jsonb_set(r, '{pagination,nextCursor}', '"<cursor>"') ELSE r END
      FROM t.call(key, expr) r
$$;

-- Masks ids and timestamps so that expected output is stable.
CREATE FUNCTION t.unid(s text) RETURNS text LANGUAGE sql AS $$
    SELECT regexp_replace(regexp_replace(s,
        '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}', '<id>', 'g'),
        '\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ', '<ts>', 'g')
$$;
CREATE FUNCTION t.mask(j jsonb) RETURNS text LANGUAGE sql AS $$
    SELECT t.unid(jsonb_pretty(j))
$$;
CREATE FUNCTION t.show(key text, expr text) RETURNS text LANGUAGE sql AS $$
    SELECT t.mask(t.api(key, expr))
$$;
-- Just the error (or 'ok'), ids masked, for compact tables of error cases.
CREATE FUNCTION t.err(key text, expr text) RETURNS text LANGUAGE sql AS $$
    SELECT coalesce((SELECT t.unid(format('%s %s: %s', e ->> 'sqlstate', coalesce(e ->> 'field', '-'), e ->> 'message'))
                       FROM (SELECT t.api(key, expr) -> 'error' AS e) x WHERE e IS NOT NULL), 'ok')
$$;
-- ml_sub() replaces {name} with t.id(name); ml_call(fn, args...) builds the
-- call expression for t.api.
CREATE FUNCTION t.ml_sub(s text) RETURNS text LANGUAGE plpgsql STABLE AS $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT name, id FROM t.ids ORDER BY length(name) DESC LOOP
        s := replace(s, '{' || r.name || '}', r.id::text);
    END LOOP;
    RETURN s;
END
$$;
CREATE FUNCTION t.ml_call(fn text, arg text) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT format('%s(%L)', fn, t.ml_sub(arg))
$$;
CREATE FUNCTION t.ml_call(fn text, id text, body text) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT format('%s(%L, %L)', fn, t.ml_sub(id), t.ml_sub(body))
$$;
CREATE FUNCTION t.id(name text) RETURNS uuid LANGUAGE sql STABLE AS $$
    SELECT id FROM t.ids WHERE ids.name = id.name
$$;

DO $$
DECLARE
    all_scopes text[] := ARRAY['contacts:read', 'contacts:write', 'matters:read', 'matters:write',
        'leads:read', 'leads:write', 'practice-areas:read', 'practice-areas:write',
        'matter-types:read', 'matter-types:write'];
    fa uuid := esqase_create_firm('Firm A');
    fb uuid := esqase_create_firm('Firm B');
    a_owner uuid := esqase_create_member(fa, 'Ann Owner', 'ann@a.test', true);
    a_lawyer uuid := esqase_create_member(fa, 'Larry Lawyer', 'larry@a.test', false, '{practice_areas}');
    a_clerk uuid := esqase_create_member(fa, 'Cleo Clerk', 'cleo@a.test');
    b_owner uuid := esqase_create_member(fb, 'Bob Owner', 'bob@b.test', true);
BEGIN
    INSERT INTO t.ids VALUES ('firm_a', fa), ('firm_b', fb), ('a_owner', a_owner),
        ('a_lawyer', a_lawyer), ('a_clerk', a_clerk), ('b_owner', b_owner);
    INSERT INTO t.keys VALUES
        ('a', esqase_create_api_key(a_owner, all_scopes, 'A owner, all scopes')),
        ('a_lawyer', esqase_create_api_key(a_lawyer, all_scopes)),
        ('a_clerk', esqase_create_api_key(a_clerk, all_scopes)),
        ('a_read', esqase_create_api_key(a_owner, ARRAY['contacts:read', 'matters:read', 'leads:read',
                                         'practice-areas:read', 'matter-types:read'])),
        ('b', esqase_create_api_key(b_owner, all_scopes));
END
$$;

-- A member of firm A who has been removed (soft-deleted), with a key made
-- before the removal: listed as INACTIVE, its key no longer authenticates.
INSERT INTO t.ids VALUES ('gone', esqase_create_member(t.id('firm_a'), 'Gus Gone', 'gus@a.test', true));
INSERT INTO t.keys VALUES ('gone', esqase_create_api_key(t.id('gone'), '{contacts:read}', 'member removed'));
UPDATE esqase.members SET deleted_at = now() WHERE id = t.id('gone');

-- The key id behind a test key, and the audit rows of a set of records
-- (read as the superuser), with ids shown by their test names; t.marks
-- holds audit_log positions to read from.
CREATE FUNCTION t.key_id(key text) RETURNS uuid LANGUAGE sql STABLE AS $$
    SELECT a.id FROM esqase.api_keys a JOIN t.keys k ON a.prefix = split_part(k.token, '_', 2)
     WHERE k.name = key
$$;
CREATE FUNCTION t.audit(records uuid[], since bigint DEFAULT 0)
RETURNS TABLE (tbl text, action text, record text, firm text, member text, key text, db_role text,
               old_new text, changed text)
LANGUAGE sql STABLE AS $$
    SELECT l.table_name, l.action,
           coalesce((SELECT min(i.name) FROM t.ids i WHERE i.id = l.record_id), '<other>'),
           (SELECT min(i.name) FROM t.ids i WHERE i.id = l.firm_id),
           coalesce((SELECT min(i.name) FROM t.ids i WHERE i.id = l.member_id), '-'),
           coalesce((SELECT min(k.name) FROM t.keys k WHERE t.key_id(k.name) = l.key_id), '-'),
           CASE WHEN l.db_role = session_user THEN '<session user>' ELSE l.db_role END,
           concat_ws('/', CASE WHEN l.old_values IS NOT NULL THEN 'old' END,
                          CASE WHEN l.new_values IS NOT NULL THEN 'new' END),
           -- an UPDATE, or a soft delete (logged as DELETE, with its new values)
           CASE WHEN l.old_values IS NOT NULL AND l.new_values IS NOT NULL THEN
               (SELECT string_agg(n.key, ',' ORDER BY n.key) FROM jsonb_each(l.new_values) n
                 WHERE n.value IS DISTINCT FROM l.old_values -> n.key) END
      FROM esqase.audit_log l
     WHERE l.id > since
       AND (l.record_id = ANY (records)
            OR (l.table_name IN ('practice_area_stages', 'matter_types')
                AND (l.new_values ->> 'practice_area_id')::uuid = ANY (records))
            OR (l.table_name IN ('matter_clients', 'matter_team')
                AND coalesce(l.new_values, l.old_values) ->> 'matter_id' = ANY (records::text[])))
     ORDER BY l.id
$$;
CREATE TABLE t.marks (name text PRIMARY KEY, id bigint NOT NULL);
GRANT SELECT ON t.marks TO PUBLIC;

-- Everything after this runs as the API role: no superuser, no BYPASSRLS,
-- so row-level security is in force.
SET ROLE esqase_api;
SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user;
