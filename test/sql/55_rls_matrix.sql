-- The row-level security matrix: for every table, every command (SELECT,
-- INSERT, UPDATE, DELETE), every scope with and without the member's
-- Practice areas permission, and the key's own firm and another firm, what
-- direct SQL as the API role may do, compared with what the API functions
-- (which the HTTP API calls) allow the same key.  A cell of SQL is allowed
-- when the statement touches at least one row of that firm without error;
-- a cell of the API when some call that reads or writes rows of that table
-- passes the key's checks (not 42501).  Every write is rolled back.
\set VERBOSITY terse

-- Firms C (the keys') and D (another firm), with one record of each kind.
CREATE TABLE t.mx_keys (key text PRIMARY KEY, scope text NOT NULL, permission boolean NOT NULL);
GRANT SELECT ON t.mx_keys TO PUBLIC;
DO $$
DECLARE
    all_scopes text[] := esqase.valid_scopes();
    f text;
    firm uuid;
    owner uuid;
    s text;
    pia uuid;
    max uuid;
BEGIN
    FOREACH f IN ARRAY ARRAY['c', 'd'] LOOP
        firm := esqase_create_firm('Matrix firm ' || f);
        owner := esqase_create_member(firm, 'Owner ' || f, 'owner@' || f || '.test', true);
        INSERT INTO t.ids VALUES ('mx_' || f, firm), ('mx_' || f || '_owner', owner),
            ('mx_' || f || '_spare', esqase_create_member(firm, 'Spare ' || f, 'spare@' || f || '.test'));
        INSERT INTO t.keys VALUES ('mx_' || f || '_all', esqase_create_api_key(owner, all_scopes));
    END LOOP;
    pia := esqase_create_member(t.id('mx_c'), 'Pia Permitted', 'pia@c.test', false, '{practice_areas}');
    max := esqase_create_member(t.id('mx_c'), 'Max Member', 'max@c.test');
    FOREACH s IN ARRAY all_scopes LOOP
        INSERT INTO t.keys VALUES (s || '+perm', esqase_create_api_key(pia, ARRAY[s])),
                                  (s, esqase_create_api_key(max, ARRAY[s]));
        INSERT INTO t.mx_keys VALUES (s || '+perm', s, true), (s, s, false);
    END LOOP;
END
$$;
SET ROLE esqase_api;
DO $$
DECLARE
    f text;
    k text;
BEGIN
    FOREACH f IN ARRAY ARRAY['c', 'd'] LOOP
        k := 'mx_' || f || '_all';
        INSERT INTO t.ids SELECT 'mx_' || f || '_contact', (t.api(k, $q$esqase_contacts_create('{"type": "PERSON", "firstName": "Client"}')$q$) #>> '{data,id}')::uuid;
        INSERT INTO t.ids SELECT 'mx_' || f || '_free', (t.api(k, $q$esqase_contacts_create('{"type": "PERSON", "firstName": "Free"}')$q$) #>> '{data,id}')::uuid;
        INSERT INTO t.ids SELECT 'mx_' || f || '_area', (t.api(k, $q$esqase_practice_areas_create('{"name": "Matrix law"}')$q$) #>> '{data,id}')::uuid;
        INSERT INTO t.ids SELECT 'mx_' || f || '_stage', (t.api(k, format('esqase_practice_areas_get(%L)', t.id('mx_' || f || '_area'))) #>> '{data,stages,0,id}')::uuid;
        INSERT INTO t.ids SELECT 'mx_' || f || '_type', (t.api(k, format($q$esqase_matter_types_create('{"practiceAreaId": "%s", "name": "T"}')$q$, t.id('mx_' || f || '_area'))) #>> '{data,id}')::uuid;
        INSERT INTO t.ids SELECT 'mx_' || f || '_matter', (t.api(k, format($q$esqase_matters_create('{"practiceAreaId": "%s", "openDate": "2026-01-02",
            "clientContactIds": ["%s"], "team": [{"memberId": "%s"}]}')$q$, t.id('mx_' || f || '_area'), t.id('mx_' || f || '_contact'), t.id('mx_' || f || '_owner'))) #>> '{data,id}')::uuid;
        INSERT INTO t.ids SELECT 'mx_' || f || '_lead', (t.api(k, $q$esqase_leads_create('{"type": "COMPANY", "companyName": "Prospect"}')$q$) #>> '{data,id}')::uuid;
    END LOOP;
END
$$;
RESET ROLE;
INSERT INTO t.ids SELECT 'mx_' || f || '_lead_stage', s.id
  FROM unnest(ARRAY['c', 'd']) f JOIN esqase.lead_stages s ON s.firm_id = t.id('mx_' || f) AND s."order" = 1;
-- Every key of both firms holds an idempotency key for every resource.
INSERT INTO esqase.idempotency_keys (firm_id, key_id, idempotency_key, resource, request_hash, response)
SELECT k.firm_id, k.id, 'mx-' || r, r, '\x00', '{}'
  FROM esqase.api_keys k, unnest(ARRAY['contacts', 'matters', 'leads', 'practice-areas', 'matter-types']) r
 WHERE k.firm_id IN (t.id('mx_c'), t.id('mx_d'));
SELECT count(*) AS fixtures FROM t.ids WHERE name LIKE 'mx\_%';

-- One statement per table and command, {f} standing for the firm's names.
CREATE TABLE t.mx_sql (tbl text, cmd text, stmt text, PRIMARY KEY (tbl, cmd));
GRANT SELECT ON t.mx_sql TO PUBLIC;
INSERT INTO t.mx_sql
SELECT tbl, cmd, CASE cmd
        WHEN 'SELECT' THEN format('SELECT count(*) FROM esqase.%I WHERE %I = %s', tbl, fc, '{mx_f}')
        WHEN 'UPDATE' THEN format('UPDATE esqase.%I SET %2$I = %2$I WHERE %2$I = %s', tbl, fc, '{mx_f}')
        WHEN 'DELETE' THEN format('DELETE FROM esqase.%I WHERE %I = %s', tbl, fc, '{mx_f}')
        ELSE ins END
  FROM (VALUES
    ('firms', 'INSERT INTO esqase.firms (id, name) VALUES ({mx_f}, ''x'') ON CONFLICT DO NOTHING'),
    ('members', 'INSERT INTO esqase.members (firm_id, name, email) VALUES ({mx_f}, ''x'', ''x@x.test'')'),
    ('api_keys', 'INSERT INTO esqase.api_keys (firm_id, member_id, prefix, secret_hash, scopes) VALUES ({mx_f}, {mx_f_owner}, ''x'', ''\x00'', ''{}'')'),
    ('contacts', 'INSERT INTO esqase.contacts (firm_id, type, first_name, name) VALUES ({mx_f}, ''PERSON'', ''X'', '''')'),
    ('practice_areas', 'INSERT INTO esqase.practice_areas (firm_id, name) VALUES ({mx_f}, ''x'')'),
    ('practice_area_stages', 'INSERT INTO esqase.practice_area_stages (firm_id, practice_area_id, name, type, "order") VALUES ({mx_f}, {mx_f_area}, ''x'', ''TODO'', 9)'),
    ('matter_types', 'INSERT INTO esqase.matter_types (firm_id, practice_area_id, name) VALUES ({mx_f}, {mx_f_area}, ''x'')'),
    ('public_id_counters', 'INSERT INTO esqase.public_id_counters AS c (firm_id, kind) VALUES ({mx_f}, ''M'') ON CONFLICT (firm_id, kind) DO UPDATE SET last_value = c.last_value'),
    ('matters', 'INSERT INTO esqase.matters (firm_id, public_id, open_date, practice_area_id, stage_id) VALUES ({mx_f}, ''X-1'', ''2026-01-01'', {mx_f_area}, {mx_f_stage})'),
    ('matter_clients', 'INSERT INTO esqase.matter_clients (firm_id, matter_id, contact_id, position) VALUES ({mx_f}, {mx_f_matter}, {mx_f_free}, 9)'),
    ('matter_team', 'INSERT INTO esqase.matter_team (firm_id, matter_id, member_id, position) VALUES ({mx_f}, {mx_f_matter}, {mx_f_spare}, 9)'),
    ('lead_stages', 'INSERT INTO esqase.lead_stages (firm_id, name, "order") VALUES ({mx_f}, ''x'', 9)'),
    ('leads', 'INSERT INTO esqase.leads (firm_id, public_id, contact_id, stage_id) VALUES ({mx_f}, ''X-1'', {mx_f_free}, {mx_f_lead_stage})'),
    ('lead_assignees', 'INSERT INTO esqase.lead_assignees (firm_id, lead_id, member_id, position) VALUES ({mx_f}, {mx_f_lead}, {mx_f_spare}, 9)'),
    ('audit_log', 'INSERT INTO esqase.audit_log (firm_id, db_role, action, table_name) VALUES ({mx_f}, ''x'', ''INSERT'', ''x'')'),
    ('record_counts', 'INSERT INTO esqase.record_counts (firm_id, list, slot, n) VALUES ({mx_f}, ''matters'', 15, 0) ON CONFLICT DO NOTHING'),
    -- a key's own idempotency key, for each resource its scopes name
    ('idempotency_keys', 'INSERT INTO esqase.idempotency_keys (firm_id, key_id, idempotency_key, resource, request_hash) '
                         'SELECT {mx_f}, esqase.context_key(), ''mx-new'', split_part(s, '':'', 1), ''\x00'' '
                         'FROM unnest(esqase.context_scopes()) s WHERE s LIKE ''%:write''')
  ) AS t(tbl, ins), unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE']) AS cmd,
  -- the firm column: firm_id, and id in firms itself
  LATERAL (SELECT CASE tbl WHEN 'firms' THEN 'id' ELSE 'firm_id' END AS fc) AS c;

-- Runs stmt for firm f ('c' or 'd') as key, rolled back; true when it
-- touched a row without error.
CREATE FUNCTION t.mx_sql_allowed(key text, stmt text, f text) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
    msg text;
BEGIN
    stmt := regexp_replace(stmt, '\{mx_f([a-z_]*)\}', '{mx_' || f || '\1}', 'g');
    WHILE stmt ~ '\{mx_' LOOP
        stmt := replace(stmt, '{' || (regexp_match(stmt, '\{(mx_[a-z_]+)\}'))[1] || '}',
                        quote_literal(t.id((regexp_match(stmt, '\{(mx_[a-z_]+)\}'))[1])));
    END LOOP;
    BEGIN
        PERFORM esqase_authenticate((SELECT token FROM t.keys WHERE name = key));
        IF stmt LIKE 'SELECT%' THEN
            EXECUTE stmt INTO n;
        ELSE
            EXECUTE stmt;
            GET DIAGNOSTICS n = ROW_COUNT;
        END IF;
        RAISE EXCEPTION 'rollback:%', n;
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT;
        RETURN msg LIKE 'rollback:%' AND split_part(msg, ':', 2)::bigint > 0;
    END;
END
$$;

-- What the API allows each key: every action of every resource, called on
-- firm C's records (an update or create with an unknown field: the key's
-- checks come first, and nothing is written).
CREATE TABLE t.mx_api (key text, action text, allowed boolean, PRIMARY KEY (key, action));
GRANT SELECT, INSERT ON t.mx_api TO PUBLIC;
SET ROLE esqase_api;
INSERT INTO t.mx_api
SELECT k.key, r.res || '.' || a.act,
       coalesce(t.call(k.key, format(a.expr, 'esqase_' || r.res || '_' || a.act, t.id('mx_c_' || r.rec),
                                     t.id('mx_c_area'))) #>> '{error,sqlstate}', 'ok')
         NOT IN ('42501', '28000')
  FROM t.mx_keys k,
       (VALUES ('contacts', 'contact'), ('practice_areas', 'area'), ('matter_types', 'type'),
               ('matters', 'matter'), ('leads', 'lead'), ('members', 'owner')) AS r(res, rec),
       (VALUES ('get', '%1$s(%2$L)'), ('update', $q$%1$s(%2$L, '{"x": 1}')$q$), ('create', $q$%1$s('{"x": 1}')$q$),
               ('list', $q$%1$s('{"practiceAreaId": "%3$s"}')$q$)) AS a(act, expr)
 -- members are read-only over the API
 WHERE NOT (r.res = 'members' AND a.act IN ('update', 'create'));
RESET ROLE;

-- Which API actions show or change rows of each table (the HTTP API's
-- reach): a practice area's name and stage show in matters, a contact's
-- name in the matters it is a client of and in its lead, and so on.
CREATE TABLE t.mx_reach (tbl text, cmd text, actions text[], PRIMARY KEY (tbl, cmd));
GRANT SELECT ON t.mx_reach TO PUBLIC;
INSERT INTO t.mx_reach VALUES
    ('contacts', 'SELECT', '{contacts.get,contacts.update,matters.get,matters.update,leads.get,leads.update}'),
    ('contacts', 'INSERT', '{contacts.create,leads.create}'),
    ('contacts', 'UPDATE', '{contacts.update}'),
    ('practice_areas', 'SELECT', '{practice_areas.get,practice_areas.update,matter_types.get,matter_types.update,matters.get,matters.update,leads.get,leads.update}'),
    ('practice_areas', 'INSERT', '{practice_areas.create}'),
    ('practice_areas', 'UPDATE', '{practice_areas.update}'),
    ('practice_area_stages', 'SELECT', '{practice_areas.get,practice_areas.update,matters.get,matters.update}'),
    ('practice_area_stages', 'INSERT', '{practice_areas.create}'),
    ('practice_area_stages', 'UPDATE', '{practice_areas.update}'),
    ('matter_types', 'SELECT', '{matter_types.get,matter_types.update,practice_areas.get,practice_areas.update,matters.get,matters.update}'),
    ('matter_types', 'INSERT', '{matter_types.create}'),
    ('matter_types', 'UPDATE', '{matter_types.update}'),
    ('public_id_counters', 'SELECT', '{matters.create,leads.create}'),
    ('public_id_counters', 'INSERT', '{matters.create}'),   -- the M counter (the SQL above)
    ('public_id_counters', 'UPDATE', '{matters.create,leads.create}'),
    ('matters', 'SELECT', '{matters.get,matters.update}'),
    ('matters', 'INSERT', '{matters.create}'),
    ('matters', 'UPDATE', '{matters.update}'),
    ('matter_clients', 'SELECT', '{matters.get,matters.update}'),
    ('matter_clients', 'INSERT', '{matters.update}'),
    ('matter_clients', 'UPDATE', '{matters.update}'),
    ('matter_clients', 'DELETE', '{matters.update}'),
    ('matter_team', 'SELECT', '{matters.get,matters.update}'),
    ('matter_team', 'INSERT', '{matters.update}'),
    ('matter_team', 'UPDATE', '{matters.update}'),
    ('matter_team', 'DELETE', '{matters.update}'),
    ('members', 'SELECT', '{matters.get,matters.update,leads.get,leads.update,members.get,members.list}'),
    ('lead_stages', 'SELECT', '{leads.get,leads.update}'),
    ('leads', 'SELECT', '{leads.get,leads.update}'),
    ('leads', 'INSERT', '{leads.create}'),
    ('leads', 'UPDATE', '{leads.update}'),
    ('lead_assignees', 'SELECT', '{leads.get,leads.update}'),
    ('lead_assignees', 'INSERT', '{leads.update}'),
    ('lead_assignees', 'UPDATE', '{leads.update}'),
    ('lead_assignees', 'DELETE', '{leads.update}'),
    ('record_counts', 'SELECT', '{contacts.list,matters.list,practice_areas.list,leads.list}'),
    ('idempotency_keys', 'SELECT', '{contacts.create,matters.create,leads.create,practice_areas.create,matter_types.create}'),
    ('idempotency_keys', 'INSERT', '{contacts.create,matters.create,leads.create,practice_areas.create,matter_types.create}'),
    ('idempotency_keys', 'UPDATE', '{contacts.create,matters.create,leads.create,practice_areas.create,matter_types.create}');
-- firms: the context's own firm row is readable by every key (it names the
-- firm, nothing more); everything else not listed is allowed to no key.

-- The matrix, as the API role.
SET ROLE esqase_api;
CREATE TEMP TABLE mx AS
SELECT s.tbl, s.cmd, k.key, f AS firm,
       t.mx_sql_allowed(k.key, s.stmt, f) AS sql_allowed,
       f = 'c' AND CASE WHEN s.tbl = 'firms' AND s.cmd = 'SELECT' THEN true
                        ELSE coalesce((SELECT bool_or(a.allowed) FROM t.mx_reach r JOIN t.mx_api a
                                         ON a.key = k.key AND a.action = ANY (r.actions)
                                        WHERE r.tbl = s.tbl AND r.cmd = s.cmd), false) END AS api_allowed
  FROM t.mx_sql s, t.mx_keys k, unnest(ARRAY['c', 'd']) AS f;
RESET ROLE;

SELECT count(*) AS cells, count(*) FILTER (WHERE sql_allowed) AS sql_allowed,
       count(*) FILTER (WHERE sql_allowed IS DISTINCT FROM api_allowed) AS disagreements,
       count(*) FILTER (WHERE firm = 'd' AND sql_allowed) AS other_firm_allowed
  FROM mx;
-- Any disagreement, cell by cell (none expected).
SELECT tbl, cmd, key, firm, sql_allowed, api_allowed FROM mx
 WHERE sql_allowed IS DISTINCT FROM api_allowed ORDER BY 1, 2, 3, 4;
-- The matrix itself: for each table and command, the keys allowed in their
-- own firm ("+perm": the member holds the Practice areas permission).
SELECT tbl, cmd, coalesce(string_agg(key, ' ' ORDER BY key) FILTER (WHERE sql_allowed), '-') AS allowed_keys
  FROM mx WHERE firm = 'c' GROUP BY tbl, cmd ORDER BY tbl, array_position(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE'], cmd);
