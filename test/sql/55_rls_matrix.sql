-- The row-level security matrix: for every table and reference view, every
-- command (SELECT, INSERT, UPDATE, DELETE), every scope with and without the
-- member's Practice areas permission, and the key's own firm and another
-- firm, what direct SQL as the API role may do, compared with what the API
-- functions (which the HTTP API calls) allow the same key.  A cell of SQL is
-- allowed when the statement touches at least one row of that firm without
-- error; a cell of the API when some call that reads or writes rows of that
-- table passes the key's checks (not 42501).  Then the same, column by
-- column, for reading and for updating; and for every SECURITY DEFINER
-- function the API role may call.  Every write is rolled back.
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
    INSERT INTO t.ids VALUES ('mx_c_pia', pia), ('mx_c_max', max);
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
        -- (every reference a matter and a lead can show, set)
        INSERT INTO t.ids SELECT 'mx_' || f || '_matter', (t.api(k, format($q$esqase_matters_create('{"practiceAreaId": "%s", "openDate": "2026-01-02",
            "matterTypeId": "%s", "clientContactIds": ["%s"], "team": [{"memberId": "%s"}]}')$q$, t.id('mx_' || f || '_area'), t.id('mx_' || f || '_type'),
            t.id('mx_' || f || '_contact'), t.id('mx_' || f || '_owner'))) #>> '{data,id}')::uuid;
        INSERT INTO t.ids SELECT 'mx_' || f || '_lead', (t.api(k, format($q$esqase_leads_create('{"type": "COMPANY", "companyName": "Prospect",
            "practiceAreaId": "%s"}')$q$, t.id('mx_' || f || '_area'))) #>> '{data,id}')::uuid;
    END LOOP;
    -- Pia and Max work on firm C's lead (assigned_leads answers them).
    PERFORM t.api('mx_c_all', format($q$esqase_leads_update(%L, '{"assigneeIds": ["%s", "%s", "%s"]}')$q$,
                                     t.id('mx_c_lead'), t.id('mx_c_owner'), t.id('mx_c_pia'), t.id('mx_c_max')));
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

-- One statement per table (and reference view) and command, {f} standing
-- for the firm's names.  An UPDATE sets, to itself, a column the API
-- changes, where there is one (never firm_id: no row moves to another firm).
CREATE TABLE t.mx_sql (tbl text, cmd text, stmt text, PRIMARY KEY (tbl, cmd));
GRANT SELECT ON t.mx_sql TO PUBLIC;
INSERT INTO t.mx_sql
SELECT tbl, cmd, CASE cmd
        WHEN 'SELECT' THEN format('SELECT count(*) FROM esqase.%I WHERE %I = %s', tbl, fc, '{mx_f}')
        WHEN 'UPDATE' THEN format('UPDATE esqase.%I SET %2$I = %2$I WHERE %3$I = %4$s', tbl, upd, fc, '{mx_f}')
        WHEN 'DELETE' THEN format('DELETE FROM esqase.%I WHERE %I = %s', tbl, fc, '{mx_f}')
        ELSE ins END
  FROM (VALUES
    ('firms', 'name', 'INSERT INTO esqase.firms (id, name) VALUES ({mx_f}, ''x'') ON CONFLICT DO NOTHING'),
    ('members', 'name', 'INSERT INTO esqase.members (firm_id, name, email) VALUES ({mx_f}, ''x'', ''x@x.test'')'),
    ('api_keys', 'name', 'INSERT INTO esqase.api_keys (firm_id, member_id, prefix, secret_hash, scopes) VALUES ({mx_f}, {mx_f_owner}, ''x'', ''\x00'', ''{}'')'),
    ('contacts', 'nickname', 'INSERT INTO esqase.contacts (firm_id, type, first_name, name) VALUES ({mx_f}, ''PERSON'', ''X'', '''')'),
    ('practice_areas', 'name', 'INSERT INTO esqase.practice_areas (firm_id, name) VALUES ({mx_f}, ''x'')'),
    ('practice_area_stages', 'name', 'INSERT INTO esqase.practice_area_stages (firm_id, practice_area_id, name, type, "order") VALUES ({mx_f}, {mx_f_area}, ''x'', ''TODO'', 9)'),
    ('matter_types', 'name', 'INSERT INTO esqase.matter_types (firm_id, practice_area_id, name) VALUES ({mx_f}, {mx_f_area}, ''x'')'),
    ('public_id_counters', 'last_value', 'INSERT INTO esqase.public_id_counters AS c (firm_id, kind) VALUES ({mx_f}, ''M'') ON CONFLICT (firm_id, kind) DO UPDATE SET last_value = c.last_value'),
    -- (numbered as a create numbers: a number chosen by hand is refused, 57)
    ('matters', 'title', 'INSERT INTO esqase.matters (firm_id, public_id, open_date, practice_area_id, stage_id) VALUES ({mx_f}, esqase.next_public_id({mx_f}, ''M''), ''2026-01-01'', {mx_f_area}, {mx_f_stage})'),
    ('matter_clients', 'position', 'INSERT INTO esqase.matter_clients (firm_id, matter_id, contact_id, position) VALUES ({mx_f}, {mx_f_matter}, {mx_f_free}, 9)'),
    ('matter_team', 'role', 'INSERT INTO esqase.matter_team (firm_id, matter_id, member_id, position) VALUES ({mx_f}, {mx_f_matter}, {mx_f_spare}, 9)'),
    ('lead_stages', 'name', 'INSERT INTO esqase.lead_stages (firm_id, name, "order") VALUES ({mx_f}, ''x'', 9)'),
    ('leads', 'value', 'INSERT INTO esqase.leads (firm_id, public_id, contact_id, stage_id) VALUES ({mx_f}, esqase.next_public_id({mx_f}, ''L''), {mx_f_free}, {mx_f_lead_stage})'),
    ('lead_assignees', 'position', 'INSERT INTO esqase.lead_assignees (firm_id, lead_id, member_id, position) VALUES ({mx_f}, {mx_f_lead}, {mx_f_spare}, 9)'),
    ('audit_log', 'action', 'INSERT INTO esqase.audit_log (firm_id, db_role, action, table_name) VALUES ({mx_f}, ''x'', ''INSERT'', ''x'')'),
    ('record_counts', 'n', 'INSERT INTO esqase.record_counts (firm_id, list, slot, n) VALUES ({mx_f}, ''matters'', 15, 0) ON CONFLICT DO NOTHING'),
    -- a key's own idempotency key, for each resource its scopes name
    ('idempotency_keys', 'response', 'INSERT INTO esqase.idempotency_keys (firm_id, key_id, idempotency_key, resource, request_hash) '
                         'SELECT {mx_f}, esqase.context_key(), ''mx-new'', split_part(s, '':'', 1), ''\x00'' '
                         'FROM unnest(esqase.context_scopes()) s WHERE s LIKE ''%:write'''),
    -- the reference views (28_references.sql)
    ('contact_refs', 'name', 'INSERT INTO esqase.contact_refs (firm_id, name) VALUES ({mx_f}, ''x'')'),
    ('practice_area_refs', 'name', 'INSERT INTO esqase.practice_area_refs (firm_id, name) VALUES ({mx_f}, ''x'')'),
    ('practice_area_stage_refs', 'name', 'INSERT INTO esqase.practice_area_stage_refs (firm_id, name) VALUES ({mx_f}, ''x'')'),
    ('matter_type_refs', 'name', 'INSERT INTO esqase.matter_type_refs (firm_id, practice_area_id, name) VALUES ({mx_f}, {mx_f_area}, ''x'')'),
    ('member_refs', 'name', 'INSERT INTO esqase.member_refs (firm_id, name) VALUES ({mx_f}, ''x'')')
  ) AS t(tbl, upd, ins), unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE']) AS cmd,
  -- the firm column: firm_id, and id in firms itself
  LATERAL (SELECT CASE tbl WHEN 'firms' THEN 'id' ELSE 'firm_id' END AS fc) AS c;

-- Runs stmt for firm f ('c' or 'd') as key, rolled back; true when it
-- touched a row without error.  named: the key first names firm f's
-- records (esqase.target), as a write over HTTP names its record in the
-- URL; a key with a resource's write scope but not its read scope reaches
-- only the rows it names.
CREATE FUNCTION t.mx_sql_allowed(key text, stmt text, f text, named boolean DEFAULT true) RETURNS boolean
LANGUAGE plpgsql AS $$
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
        IF named THEN
            PERFORM esqase.targets(ARRAY(SELECT id FROM t.ids WHERE name LIKE 'mx\_' || f || '\_%'));
        END IF;
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
-- firm C's records (an update or create with an unknown field, a delete
-- expecting a version the record does not have: the key's checks come
-- first, and nothing is written).
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
               ('list', $q$%1$s('{"practiceAreaId": "%3$s"}')$q$), ('delete', $q$%1$s(%2$L, '1970-01-01')$q$)) AS a(act, expr)
 -- members are read-only over the API
 WHERE NOT (r.res = 'members' AND a.act IN ('update', 'create', 'delete'));
RESET ROLE;
-- (a delete is allowed where an update is: the same write scope)
SELECT count(*) AS delete_and_update_differ FROM t.mx_api d JOIN t.mx_api u
    ON u.key = d.key AND u.action = replace(d.action, '.delete', '.update')
 WHERE d.action LIKE '%.delete' AND d.allowed IS DISTINCT FROM u.allowed;

-- Which API actions show or change rows of each table (the HTTP API's
-- reach).  A table's own rows, all columns, are read with the scopes of its
-- own resource (read, or write: a PATCH answers with the record); the
-- records that refer to others show them as {id, name}, read through the
-- reference views: a contact by the matters it is a client of and by its
-- lead, a practice area by matters and leads, a stage by matters, a matter
-- type by matters and practice areas, a member by matters (team) and leads
-- (assignees).
CREATE TABLE t.mx_reach (tbl text, cmd text, actions text[], PRIMARY KEY (tbl, cmd));
GRANT SELECT ON t.mx_reach TO PUBLIC;
INSERT INTO t.mx_reach VALUES
    ('contacts', 'SELECT', '{contacts.get,contacts.update}'),
    ('contacts', 'INSERT', '{contacts.create,leads.create}'),
    ('contacts', 'UPDATE', '{contacts.update}'),
    ('contact_refs', 'SELECT', '{contacts.get,contacts.update,matters.get,matters.update,leads.get,leads.update}'),
    ('practice_areas', 'SELECT', '{practice_areas.get,practice_areas.update}'),
    ('practice_areas', 'INSERT', '{practice_areas.create}'),
    ('practice_areas', 'UPDATE', '{practice_areas.update}'),
    ('practice_area_refs', 'SELECT', '{practice_areas.get,practice_areas.update,matters.get,matters.update,leads.get,leads.update}'),
    ('practice_area_stages', 'SELECT', '{practice_areas.get,practice_areas.update}'),
    ('practice_area_stage_refs', 'SELECT', '{practice_areas.get,practice_areas.update,matters.get,matters.update}'),
    ('matter_types', 'SELECT', '{matter_types.get,matter_types.update}'),
    ('matter_types', 'INSERT', '{matter_types.create}'),
    ('matter_types', 'UPDATE', '{matter_types.update}'),
    ('matter_type_refs', 'SELECT', '{matter_types.get,matter_types.update,practice_areas.get,practice_areas.update,matters.get,matters.update}'),
    -- the counter a create numbers with (written only by esqase.next_public_id)
    ('public_id_counters', 'SELECT', '{matters.create,leads.create}'),
    ('matters', 'SELECT', '{matters.get,matters.update}'),
    ('matters', 'INSERT', '{matters.create}'),
    ('matters', 'UPDATE', '{matters.update}'),
    ('matter_clients', 'SELECT', '{matters.get,matters.update}'),
    ('matter_clients', 'INSERT', '{matters.update}'),
    ('matter_clients', 'DELETE', '{matters.update}'),
    ('matter_team', 'SELECT', '{matters.get,matters.update}'),
    ('matter_team', 'INSERT', '{matters.update}'),
    ('matter_team', 'DELETE', '{matters.update}'),
    ('members', 'SELECT', '{members.get,members.list}'),
    ('member_refs', 'SELECT', '{members.get,members.list,matters.get,matters.update,leads.get,leads.update}'),
    -- the pipeline a create checks leadStageColumnId against, and puts a
    -- lead in the first stage of by default
    ('lead_stages', 'SELECT', '{leads.get,leads.update,leads.create}'),
    ('leads', 'SELECT', '{leads.get,leads.update}'),
    ('leads', 'INSERT', '{leads.create}'),
    ('leads', 'UPDATE', '{leads.update}'),
    ('lead_assignees', 'SELECT', '{leads.get,leads.update}'),
    ('lead_assignees', 'INSERT', '{leads.update}'),
    ('lead_assignees', 'UPDATE', '{leads.update}'),
    ('lead_assignees', 'DELETE', '{leads.update}'),
    -- the counts the lists' totals are made of; those of all contacts and
    -- of the private ones are the owners' (esqase.contacts_public_total)
    ('record_counts', 'SELECT', '{matters.list,practice_areas.list,leads.list}'),
    -- a key's own, as its replays show them (written only by
    -- esqase.idempotency_begin and _end)
    ('idempotency_keys', 'SELECT', '{contacts.create,matters.create,leads.create,practice_areas.create,matter_types.create}');
-- firms: nothing (the API shows nothing of the firm); everything else not
-- listed is allowed to no key.

-- The matrix, as the API role, the firm's records named (esqase.target):
-- what a key reaches by a record's id.
SET ROLE esqase_api;
CREATE TEMP TABLE mx AS
SELECT s.tbl, s.cmd, k.key, f AS firm,
       t.mx_sql_allowed(k.key, s.stmt, f) AS sql_allowed,
       f = 'c' AND coalesce((SELECT bool_or(a.allowed) FROM t.mx_reach r JOIN t.mx_api a
                               ON a.key = k.key AND a.action = ANY (r.actions)
                              WHERE r.tbl = s.tbl AND r.cmd = s.cmd), false) AS api_allowed
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

-- ---------------------------------------------------------------------------
-- Rows not named (issue 21, (b)).  Over HTTP a key with a resource's write
-- scope but not its read scope lists nothing: it reaches a record by the id
-- in the URL (a PATCH answers with it, a DELETE deletes it).  In SQL, the
-- same: without esqase.target it reads no row of the table (nor the
-- references its records show), and updates or deletes none, not even with
-- a statement that reads no column (UPDATE ... SET with no WHERE).  The
-- cells: SELECT, UPDATE and DELETE with no record named; allowed for the
-- keys whose reach does not come from an update (get, list, and the
-- counters and idempotency keys a create reads), and a write only for a
-- key that also reads the table so.
-- ---------------------------------------------------------------------------
SET ROLE esqase_api;
CREATE TEMP TABLE mx_unnamed AS
SELECT s.tbl, s.cmd, k.key,
       t.mx_sql_allowed(k.key, s.stmt, 'c', false) AS sql_allowed,
       coalesce((SELECT bool_or(a.allowed) FROM t.mx_reach r JOIN t.mx_api a
                   ON a.key = k.key AND a.action = ANY (r.actions)
                  WHERE r.tbl = s.tbl AND r.cmd = s.cmd
                    AND (s.cmd <> 'SELECT' OR a.action NOT LIKE '%.update')), false)
       AND (s.cmd = 'SELECT'
            OR coalesce((SELECT bool_or(a.allowed) FROM t.mx_reach r JOIN t.mx_api a
                           ON a.key = k.key AND a.action = ANY (r.actions)
                          WHERE r.tbl = s.tbl AND r.cmd = 'SELECT' AND a.action NOT LIKE '%.update'), false))
           AS api_allowed
  FROM t.mx_sql s, t.mx_keys k
 WHERE s.cmd <> 'INSERT';
RESET ROLE;
SELECT count(*) AS cells, count(*) FILTER (WHERE sql_allowed) AS sql_allowed,
       count(*) FILTER (WHERE sql_allowed IS DISTINCT FROM api_allowed) AS disagreements
  FROM mx_unnamed;
SELECT tbl, cmd, key, sql_allowed, api_allowed FROM mx_unnamed
 WHERE sql_allowed IS DISTINCT FROM api_allowed ORDER BY 1, 2, 3;
-- What the write-only keys reach unnamed: only what a create reads (its
-- counters, its idempotency keys, the lead pipeline).
SELECT tbl, cmd, coalesce(string_agg(key, ' ' ORDER BY key) FILTER (WHERE sql_allowed), '-') AS allowed_keys
  FROM mx_unnamed WHERE key LIKE '%:write%' GROUP BY tbl, cmd
HAVING bool_or(sql_allowed)
 ORDER BY tbl, array_position(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE'], cmd);

-- ---------------------------------------------------------------------------
-- Columns read (issue 17, item 4).  A column of a table is read through the
-- table, or through the reference view that shows it; the keys that read
-- it must be the keys the API shows it to: every column of a table to the
-- scopes of its own resource (the table's SELECT reach above), and the
-- columns a reference view shows to the records that refer to it (the
-- view's reach).  So a key with matters:read reads a client's id and name,
-- never its emails or phones, and a practice area's id and name, never its
-- status or dates.  Firm C's rows (the matrix above covers firm D).
-- ---------------------------------------------------------------------------
CREATE TABLE t.mx_columns (tbl text, col text, via text[], actions text[], PRIMARY KEY (tbl, col));
GRANT SELECT ON t.mx_columns TO PUBLIC;
INSERT INTO t.mx_columns
SELECT c.relname, a.attname,
       ARRAY[c.relname::text] || CASE WHEN v.oid IS NOT NULL THEN ARRAY[v.relname::text] ELSE '{}' END,
       coalesce((SELECT r.actions FROM t.mx_reach r WHERE r.tbl = c.relname AND r.cmd = 'SELECT'), '{}')
       || CASE WHEN v.oid IS NOT NULL
               THEN coalesce((SELECT r.actions FROM t.mx_reach r WHERE r.tbl = v.relname AND r.cmd = 'SELECT'), '{}')
               ELSE '{}' END
  FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
  -- the reference view of the table (contacts: contact_refs, ...), when it shows the column
  LEFT JOIN (pg_class v JOIN pg_attribute va ON va.attrelid = v.oid)
         ON v.relnamespace = c.relnamespace AND v.relkind = 'v'
        AND v.relname = regexp_replace(c.relname, 's$', '') || '_refs' AND va.attname = a.attname
 WHERE c.relnamespace = 'esqase'::regnamespace AND c.relkind = 'r' AND c.relname <> 'report_readers';
-- The columns the reference views show.
SELECT tbl, via[2] AS view, string_agg(col, ', ' ORDER BY col) AS columns
  FROM t.mx_columns WHERE cardinality(via) > 1 GROUP BY tbl, via[2] ORDER BY 1;

-- Whether key reads col of firm C's rows through a relation of via, the
-- records named (as above).
CREATE FUNCTION t.mx_column_read(key text, col text, via text[]) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    rel text;
    msg text;
    n bigint;
BEGIN
    FOREACH rel IN ARRAY via LOOP
        BEGIN
            PERFORM esqase_authenticate((SELECT token FROM t.keys WHERE name = key));
            PERFORM esqase.targets(ARRAY(SELECT id FROM t.ids WHERE name LIKE 'mx\_c\_%'));
            EXECUTE format('SELECT count(*) FROM (SELECT %I FROM esqase.%I WHERE %I = %L) x', col, rel,
                           CASE rel WHEN 'firms' THEN 'id' ELSE 'firm_id' END, t.id('mx_c')) INTO n;
            RAISE EXCEPTION 'rollback:%', n;
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT;
            IF msg LIKE 'rollback:%' AND split_part(msg, ':', 2)::bigint > 0 THEN
                RETURN true;
            END IF;
        END;
    END LOOP;
    RETURN false;
END
$$;

SET ROLE esqase_api;
CREATE TEMP TABLE mx_read AS
SELECT c.tbl, c.col, k.key,
       t.mx_column_read(k.key, c.col, c.via) AS sql_allowed,
       coalesce((SELECT bool_or(a.allowed) FROM t.mx_api a WHERE a.key = k.key AND a.action = ANY (c.actions)), false)
           AS api_allowed
  FROM t.mx_columns c, t.mx_keys k;
RESET ROLE;
SELECT count(*) AS cells, count(*) FILTER (WHERE sql_allowed) AS sql_allowed,
       count(*) FILTER (WHERE sql_allowed IS DISTINCT FROM api_allowed) AS disagreements
  FROM mx_read;
SELECT tbl, col, key, sql_allowed, api_allowed FROM mx_read
 WHERE sql_allowed IS DISTINCT FROM api_allowed ORDER BY 1, 2, 3;
-- For example: who reads a contact's name, and who its emails.
SELECT tbl, col, string_agg(key, ' ' ORDER BY key) FILTER (WHERE sql_allowed) AS keys_reading
  FROM mx_read WHERE (tbl, col) IN (('contacts', 'name'), ('contacts', 'emails'), ('practice_areas', 'name'),
                                    ('practice_areas', 'status'), ('members', 'email'))
 GROUP BY tbl, col ORDER BY 1, 2;

-- ---------------------------------------------------------------------------
-- Columns updated.  UPDATE <table> SET <col> = <col> over firm C's rows is
-- allowed only for the columns an API call changes, with the scopes of that
-- call: the fields a PATCH may set (contacts, practice areas, matter types,
-- matters, leads; the order of a lead's assignees), and deleted_at and
-- status for a DELETE.  Never firm_id, created_at, updated_at, a derived
-- column or a bookkeeping table (F8 of the 0.2.0 probe: an undelete, a
-- forged created_at).  (The rows are live: deleted_at set to itself keeps
-- them live.)
-- ---------------------------------------------------------------------------
CREATE TABLE t.mx_updates (tbl text, col text, actions text[], PRIMARY KEY (tbl, col));
GRANT SELECT ON t.mx_updates TO PUBLIC;
INSERT INTO t.mx_updates
SELECT c.tbl, c.col,
       CASE WHEN c.col IN ('status', 'deleted_at') AND c.tbl IN ('contacts', 'practice_areas', 'matter_types')
                THEN ARRAY[c.tbl || '.delete']
            WHEN c.tbl = 'leads' AND c.col = 'deleted_at' THEN '{leads.delete}'
            WHEN c.tbl = 'matters' AND c.col = 'deleted_at' THEN '{matters.delete}'
            WHEN c.tbl = 'matters' AND c.col = 'status' THEN '{matters.update,matters.delete}'
            WHEN c.tbl = 'lead_assignees' AND c.col = 'position' THEN '{leads.update}'
            WHEN (c.tbl = 'contacts' AND c.col IN ('prefix', 'first_name', 'middle_name', 'last_name', 'suffix',
                                                   'nickname', 'company_name', 'trade_name', 'company_type',
                                                   'emails', 'phones'))
              OR (c.tbl IN ('practice_areas', 'matter_types') AND c.col = 'name')
              OR (c.tbl = 'matters' AND c.col IN ('title', 'description', 'open_date', 'close_date', 'sol_date',
                                                  'practice_area_id', 'stage_id', 'matter_type_id'))
              OR (c.tbl = 'leads' AND c.col IN ('value', 'is_private', 'practice_area_id', 'stage_id'))
                THEN ARRAY[c.tbl || '.update']
            ELSE '{}'::text[] END
  FROM t.mx_columns c;

SET ROLE esqase_api;
CREATE TEMP TABLE mx_update AS
SELECT u.tbl, u.col, k.key,
       t.mx_sql_allowed(k.key, format('UPDATE esqase.%I SET %I = %2$I WHERE %I = {mx_f}', u.tbl, u.col,
                                      CASE u.tbl WHEN 'firms' THEN 'id' ELSE 'firm_id' END), 'c') AS sql_allowed,
       coalesce((SELECT bool_or(a.allowed) FROM t.mx_api a WHERE a.key = k.key AND a.action = ANY (u.actions)), false)
           AS api_allowed
  FROM t.mx_updates u, t.mx_keys k;
RESET ROLE;
SELECT count(*) AS cells, count(*) FILTER (WHERE sql_allowed) AS sql_allowed,
       count(*) FILTER (WHERE sql_allowed IS DISTINCT FROM api_allowed) AS disagreements
  FROM mx_update;
SELECT tbl, col, key, sql_allowed, api_allowed FROM mx_update
 WHERE sql_allowed IS DISTINCT FROM api_allowed ORDER BY 1, 2, 3;
-- The columns any key may update, and by which keys.
SELECT tbl, col, string_agg(key, ' ' ORDER BY key) AS keys_updating
  FROM mx_update WHERE sql_allowed GROUP BY tbl, col ORDER BY 1, 2;

-- ---------------------------------------------------------------------------
-- SECURITY DEFINER functions.  They read past row-level security, so each
-- must answer, for the firm of the context only, what the API tells the
-- same key and nothing more (F3 of the 0.2.0 probe: the finders answered
-- any key of the firm, hidden prospects included).  Every one the API role
-- may call is listed (trigger functions cannot be called).  A call
-- "answers" when it returns something (not an error, not false, NULL or
-- empty): it must answer exactly the keys for which one of its actions is
-- allowed, in firm C, and no key in firm D.
-- ---------------------------------------------------------------------------
CREATE TABLE t.mx_definer (fn text, expr text, actions text[]);
GRANT SELECT ON t.mx_definer TO PUBLIC;
INSERT INTO t.mx_definer VALUES
    -- the finders search as the lists do: a contact by contacts:read, a
    -- lead's contact by leads:read too, a matter by matters:read
    ('esqase.contacts_found(uuid,tsquery)', $$cardinality(esqase.contacts_found({mx_f}, 'client:*')) > 0$$, '{contacts.list}'),
    ('esqase.contacts_found(uuid,tsquery)', $$cardinality(esqase.contacts_found({mx_f}, 'prospect:*')) > 0$$,
     '{contacts.list,leads.list}'),
    ('esqase.lead_contacts_ranked(uuid,tsquery)', $$esqase.lead_contacts_ranked({mx_f}, 'prospect:*') <> '{}'$$,
     '{leads.list}'),
    ('esqase.matters_found(uuid,tsquery)', $$cardinality(esqase.matters_found({mx_f}, 'client:*')) > 0$$, '{matters.list}'),
    -- a contacts list's total, less the hidden prospects (their count is
    -- the owners')
    ('esqase.contacts_public_total(uuid)', 'esqase.contacts_public_total({mx_f}) IS NOT NULL', '{contacts.list}'),
    -- what a create or update checks of the records its body names
    ('esqase.contact_usable(uuid,uuid,boolean)', 'esqase.contact_usable({mx_f}, {mx_f_free}, true)', '{matters.create}'),
    ('esqase.practice_area_live(uuid,uuid)', 'esqase.practice_area_live({mx_f}, {mx_f_area})',
     '{matters.create,leads.create,matter_types.create,matter_types.list,practice_areas.get,practice_areas.update}'),
    ('esqase.matter_type_area(uuid,uuid)', 'esqase.matter_type_area({mx_f}, {mx_f_type}) IS NOT NULL',
     '{matters.create,matter_types.get,matter_types.update}'),
    ('esqase.practice_area_stage(uuid,uuid,uuid,text)',
     'esqase.practice_area_stage({mx_f}, {mx_f_area}, NULL, NULL) IS NOT NULL', '{matters.create}'),
    ('esqase.check_members(uuid,uuid[],text,uuid[])',
     $$esqase.check_members({mx_f}, ARRAY[{mx_f_spare}]::uuid[], 'team')::text = ''$$, '{matters.create,leads.create}'),
    -- numbering: one number, as a create takes it (F6)
    ('esqase.next_public_id(uuid,text)', $$esqase.next_public_id({mx_f}, 'M') IS NOT NULL$$, '{matters.create}'),
    ('esqase.next_public_id(uuid,text)', $$esqase.next_public_id({mx_f}, 'L') IS NOT NULL$$, '{leads.create}'),
    ('esqase.next_public_ids(uuid,text,integer)', $$cardinality(esqase.next_public_ids({mx_f}, 'M', 2)) = 2$$,
     '{matters.create}'),
    ('esqase.next_public_ids(uuid,text,integer)', $$cardinality(esqase.next_public_ids({mx_f}, 'L', 2)) = 2$$,
     '{leads.create}'),
    -- idempotency keys: a claim, for a resource the key may create; a
    -- response stored only for a record its transaction created (F17)
    ('esqase.idempotency_begin(uuid,text,jsonb,text)',
     $$esqase.idempotency_begin({mx_f}, 'contacts', '{}', 'mx-fresh') IS NULL$$, '{contacts.create}'),
    ('esqase.idempotency_end(uuid,text,json)',
     $$esqase.idempotency_end({mx_f}, 'mx-contacts', json_build_object('data', json_build_object('id', {mx_f_contact}))) IS NOT NULL$$,
     '{}'),
    -- the leads the member is assigned to: with leads scopes (with
    -- contacts scopes, those that hide a contact from others: none here)
    ('esqase.assigned_leads()', '(SELECT count(*) > 0 FROM esqase.assigned_leads() WHERE {mx_f} = esqase.context_firm())',
     '{leads.get,leads.update}'),
    -- the same, per lead (the policies' form)
    ('esqase.context_assigned(uuid)',
     'esqase.context_assigned((SELECT a.lead_id FROM esqase.lead_assignees a WHERE a.firm_id = {mx_f} AND a.member_id = esqase.context_member() LIMIT 1))',
     '{leads.get,leads.update}'),
    -- which public ids of leads are taken: for a key that may create leads
    ('esqase.lead_public_ids_taken(uuid,text[])',
     $$cardinality(esqase.lead_public_ids_taken({mx_f}, ARRAY['L-0001'])) > 0$$, '{leads.create}'),
    -- whether this very transaction inserted the lead: never, here
    ('esqase.lead_new_here(uuid,uuid)', 'esqase.lead_new_here({mx_f}, {mx_f_lead})', '{}'),
    -- a list cursor's signature: for its own firm, to every key
    ('esqase.cursor_mac(uuid,text)', $$esqase.cursor_mac({mx_f}, 'x') IS NOT NULL$$, '{*}'),
    -- a webhook's secret, made once by its create for the webhook it just
    -- inserted: never here
    ('esqase.webhook_new_secret(uuid,uuid)', 'esqase.webhook_new_secret({mx_f}, {mx_f_lead}) IS NOT NULL', '{}'),
    -- whether a live webhook of the firm listens to a type (the outbox
    -- triggers' WHEN, run as the writer): of its own firm, to every key
    ('esqase.webhook_listens(uuid,text)', $$esqase.webhook_listens({mx_f}, 'contacts.created')$$, '{*}'),
    -- a key's own context, for its own token: what esqase_authenticate and
    -- the esqase.context_* readers tell every key ('*')
    ('esqase.key_lookup(text)',
     '(esqase.key_lookup((SELECT token FROM t.keys WHERE name = $key$))).key_id = esqase.context_key() AND {mx_f} = esqase.context_firm()',
     '{*}');
-- Every SECURITY DEFINER function of the extension that the API role may
-- call is in the list: a new one is added with what it answers.
SELECT p.oid::regprocedure AS definer_function_not_in_matrix
  FROM pg_proc p JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'esqase'
 WHERE p.prosecdef AND p.prorettype <> 'trigger'::regtype
   AND has_function_privilege('esqase_api', p.oid, 'EXECUTE')
   AND p.oid::regprocedure::text NOT IN (SELECT fn FROM t.mx_definer)
 ORDER BY 1;

-- a live webhook in each firm, for webhook_listens
INSERT INTO esqase.webhooks (firm_id, url, events, key_id)
SELECT k.firm_id, 'https://hooks.example/mx', '{contacts.created}', min(k.id::text)::uuid
  FROM esqase.api_keys k WHERE k.firm_id IN (t.id('mx_c'), t.id('mx_d')) GROUP BY k.firm_id;
SET ROLE esqase_api;
CREATE TEMP TABLE mx_fn AS
SELECT d.fn, d.expr, k.key, f AS firm,
       t.mx_sql_allowed(k.key, 'SELECT count(*) WHERE ' || replace(d.expr, '$key$', quote_literal(k.key)), f)
           AS sql_allowed,
       f = 'c' AND (d.actions = '{*}' OR coalesce((SELECT bool_or(a.allowed) FROM t.mx_api a
                                                     WHERE a.key = k.key AND a.action = ANY (d.actions)), false))
           AS api_allowed
  FROM t.mx_definer d, t.mx_keys k, unnest(ARRAY['c', 'd']) AS f;
RESET ROLE;
SELECT count(*) AS cells, count(*) FILTER (WHERE sql_allowed) AS sql_allowed,
       count(*) FILTER (WHERE sql_allowed IS DISTINCT FROM api_allowed) AS disagreements,
       count(*) FILTER (WHERE firm = 'd' AND sql_allowed) AS other_firm_allowed
  FROM mx_fn;
SELECT fn, expr, key, firm, sql_allowed, api_allowed FROM mx_fn
 WHERE sql_allowed IS DISTINCT FROM api_allowed ORDER BY 1, 2, 3, 4;
SELECT fn, coalesce(string_agg(DISTINCT key, ' ' ORDER BY key) FILTER (WHERE sql_allowed AND firm = 'c'), '-')
           AS keys_answered
  FROM mx_fn GROUP BY fn ORDER BY 1;
