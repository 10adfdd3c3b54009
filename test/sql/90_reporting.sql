-- The reporting path for analysts (docs/reporting.md): schema esqase_report,
-- a reader of one firm and a reader of every firm, each made in one call;
-- the five documented reports, run from the very files the documentation
-- quotes; what each reader sees, and what no reader sees.
\set VERBOSITY terse

-- A firm of its own, so that the reports' rows are this file's alone:
-- an owner and a member, two practice areas, contacts (one deleted), four
-- matters (one past its statute-of-limitations date and open, one past it
-- but closed, one past it but deleted, one not yet due), and leads (one
-- public, one private with its hidden prospect, one deleted).
DO $$
DECLARE
    r uuid := esqase_create_firm('Report & Co');
    owner uuid := esqase_create_member(r, 'Rita Owner', 'rita@r.test', true);
    member uuid := esqase_create_member(r, 'Max Member', 'max@r.test');
BEGIN
    INSERT INTO t.ids VALUES ('firm_r', r), ('r_owner', owner), ('r_member', member);
    INSERT INTO t.keys VALUES
        ('r', esqase_create_api_key(owner, esqase.valid_scopes(), 'R owner')),
        ('r_member', esqase_create_api_key(member, ARRAY['leads:write', 'leads:read']));
END
$$;
SELECT t.err('r', $$esqase_practice_areas_create('{"name": "Litigation"}')$$),
       t.err('r', $$esqase_practice_areas_create('{"name": "Tax"}')$$),
       t.err('r', $$esqase_contacts_create('{"type": "PERSON", "firstName": "Ann", "lastName": "Client"}')$$),
       t.err('r', $$esqase_contacts_create('{"type": "COMPANY", "companyName": "Beta Corp"}')$$),
       t.err('r', $$esqase_contacts_delete((esqase_contacts_create('{"type": "PERSON", "lastName": "Gone"}') #>> '{data,id}')::uuid)$$);
INSERT INTO t.ids SELECT 'r_' || lower(p.name), p.id FROM esqase.practice_areas p WHERE p.firm_id = t.id('firm_r');
INSERT INTO t.ids SELECT 'r_ann', c.id FROM esqase.contacts c WHERE c.firm_id = t.id('firm_r') AND c.name = 'Ann Client';
SELECT t.err('r', t.ml_call('esqase_matter_types_create', '{"practiceAreaId": "{r_litigation}", "name": "Appeals"}'));
SELECT t.err('r', t.ml_call('esqase_matters_create', '{"practiceAreaId": "{r_litigation}", "openDate": "2019-01-01", "title": "Overdue", "solDate": "2020-01-15", "clientContactIds": ["{r_ann}"], "team": [{"memberId": "{r_owner}", "role": "Lead", "allocation": 80}]}')),
       t.err('r', t.ml_call('esqase_matters_create', '{"practiceAreaId": "{r_litigation}", "openDate": "2019-01-01", "title": "Not yet due", "solDate": "2999-01-01"}')),
       t.err('r', t.ml_call('esqase_matters_create', '{"practiceAreaId": "{r_tax}", "openDate": "2019-01-01", "title": "Closed", "solDate": "2020-02-01", "closeDate": "2019-06-30"}')),
       t.err('r', format($$esqase_matters_delete((esqase_matters_create(%L) #>> '{data,id}')::uuid)$$,
                         t.ml_sub('{"practiceAreaId": "{r_tax}", "openDate": "2019-01-01", "title": "Deleted", "solDate": "2020-03-01"}')));
SELECT t.err('r', t.ml_call('esqase_matters_update',
                            (SELECT id::text FROM esqase.matters WHERE firm_id = t.id('firm_r') AND title = 'Not yet due'),
                            (SELECT format('{"practiceAreaStageColumnId": "%s"}', s.id) FROM esqase.practice_area_stages s
                              WHERE s.practice_area_id = t.id('r_litigation') AND s."order" = 1)));
SELECT t.err('r', $$esqase_leads_create('{"type": "PERSON", "firstName": "Paula", "lastName": "Public", "value": "HIGH"}')$$),
       t.err('r_member', $$esqase_leads_create('{"type": "PERSON", "firstName": "Priya", "lastName": "Private", "value": "HIGHEST", "isPrivate": true}')$$),
       t.err('r', $$esqase_leads_delete((esqase_leads_create('{"type": "COMPANY", "companyName": "Dropped Inc", "value": "LOW"}') #>> '{data,id}')::uuid)$$);
-- Fixed creation months for the contacts report (as the DBA: audited as
-- the session's role).
UPDATE esqase.contacts c
   SET created_at = CASE WHEN c.name IN ('Ann Client', 'Gone') THEN timestamptz '2026-01-15 12:00Z'
                         ELSE timestamptz '2026-02-15 12:00Z' END
 WHERE c.firm_id = t.id('firm_r');

-- ---------------------------------------------------------------------------
-- The schema, as any superuser sees it
-- ---------------------------------------------------------------------------
-- One view per resource, plus stages, links, members, firms and the log;
-- all security_barrier, owned by the extension's installer (which bypasses
-- row-level security: the views' own filter is the boundary).
SELECT c.relname, c.relkind, 'security_barrier=true' = ANY (c.reloptions) AS security_barrier,
       c.relowner = (SELECT e.extowner FROM pg_extension e WHERE e.extname = 'esqase') AS owned_by_installer
  FROM pg_class c WHERE c.relnamespace = 'esqase_report'::regnamespace ORDER BY 1;
-- A comment on every view and every column (listed: the missing ones).
SELECT c.relname, a.attname
  FROM pg_class c LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0
 WHERE c.relnamespace = 'esqase_report'::regnamespace
   AND (obj_description(c.oid, 'pg_class') IS NULL OR col_description(c.oid, a.attnum) IS NULL)
 ORDER BY 1, 2;
SELECT count(*) AS columns_commented FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
 WHERE c.relnamespace = 'esqase_report'::regnamespace AND a.attnum > 0 AND col_description(c.oid, a.attnum) IS NOT NULL;
-- No column that could carry a secret, and no search vectors.
SELECT c.relname, a.attname, a.atttypid::regtype
  FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
 WHERE c.relnamespace = 'esqase_report'::regnamespace AND a.attnum > 0
   AND (a.attname ~* 'hash|secret|token|scopes|search' OR a.atttypid IN ('bytea'::regtype, 'tsvector'::regtype))
 ORDER BY 1, 2;
-- Nobody has been granted anything yet; the grant functions are for DBAs.
SELECT count(*) AS grants_before_any_reader
  FROM pg_class c, aclexplode(c.relacl) a
 WHERE c.relnamespace = 'esqase_report'::regnamespace AND a.grantee <> c.relowner;
SELECT p.oid::regprocedure, has_function_privilege('esqase_api', p.oid, 'EXECUTE') AS api_may_execute
  FROM pg_proc p WHERE p.proname IN ('esqase_grant_reader', 'esqase_revoke_reader', 'report_grant') ORDER BY 1;

-- ---------------------------------------------------------------------------
-- Readers, each made in one call
-- ---------------------------------------------------------------------------
CREATE ROLE esq_report_one NOLOGIN;
CREATE ROLE esq_report_all NOLOGIN;
CREATE ROLE esq_report_group NOLOGIN;
CREATE ROLE esq_report_alice NOLOGIN IN ROLE esq_report_group;
SELECT esqase_grant_reader('esq_report_one', t.id('firm_r'));
SELECT esqase_grant_reader('esq_report_all');
SELECT esqase_grant_reader('esq_report_group', t.id('firm_a'));
SELECT t.unid(format('%s %s %s', role_name, coalesce(f.name, '(every firm)'), private_leads))
  FROM esqase.report_readers r LEFT JOIN esqase.firms f ON f.id = r.firm_id ORDER BY 1;
-- Bad calls.
SELECT esqase_grant_reader('esq_report_one', '00000000-0000-0000-0000-000000000000');
SELECT esqase_grant_reader('no_such_role', t.id('firm_r'));
-- The readers hold USAGE on esqase_report and SELECT on its views: nothing
-- more there, nothing in schema esqase.
SELECT r.rolname,
       has_schema_privilege(r.oid, 'esqase_report', 'USAGE') AS report_usage,
       has_schema_privilege(r.oid, 'esqase_report', 'CREATE') AS report_create,
       has_schema_privilege(r.oid, 'esqase', 'USAGE') AS esqase_usage,
       (SELECT count(*) FROM pg_class c WHERE c.relnamespace = 'esqase_report'::regnamespace
           AND has_table_privilege(r.oid, c.oid, 'SELECT')) AS views_readable,
       (SELECT count(*) FROM pg_class c WHERE c.relnamespace IN ('esqase_report'::regnamespace, 'esqase'::regnamespace)
           AND has_table_privilege(r.oid, c.oid, 'INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER')) AS other_privileges,
       (SELECT count(*) FROM pg_class c WHERE c.relnamespace = 'esqase'::regnamespace
           AND has_table_privilege(r.oid, c.oid, 'SELECT')) AS esqase_tables_readable
  FROM pg_roles r WHERE r.rolname IN ('esq_report_one', 'esq_report_all', 'esq_report_alice') ORDER BY 1;

-- ---------------------------------------------------------------------------
-- The one-firm reader
-- ---------------------------------------------------------------------------
-- The five reports: the text of each file in docs/reports/ runs as it is
-- (into a temporary table, so that today's date can be masked), and
-- docs/reporting.md quotes each file exactly.
\set doc `cat docs/reporting.md`
\set r1 `cat docs/reports/1_matters_per_stage.sql`
\set r2 `cat docs/reports/2_contacts_per_month.sql`
\set r3 `cat docs/reports/3_leads_by_value_and_stage.sql`
\set r4 `cat docs/reports/4_audit_per_member_per_day.sql`
\set r5 `cat docs/reports/5_open_matters_past_sol.sql`
SELECT strpos(:'doc', :'r1') > 0 AS doc_has_r1, strpos(:'doc', :'r2') > 0 AS doc_has_r2,
       strpos(:'doc', :'r3') > 0 AS doc_has_r3, strpos(:'doc', :'r4') > 0 AS doc_has_r4,
       strpos(:'doc', :'r5') > 0 AS doc_has_r5;

-- The rows of a view the current role sees, and how many of them are not
-- of the firm (the function runs with the caller's rights; the firms view
-- has the firm as its id).
CREATE FUNCTION t.view_rows(v regclass, firm uuid, OUT rows bigint, OUT other_firms bigint)
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('SELECT count(*), count(*) FILTER (WHERE %I IS DISTINCT FROM %L) FROM %s',
                   CASE WHEN v = 'esqase_report.firms'::regclass THEN 'id' ELSE 'firm_id' END, firm, v)
       INTO rows, other_firms;
END
$$;

SET ROLE esq_report_one;
CREATE TEMP TABLE r1 AS :r1
CREATE TEMP TABLE r2 AS :r2
CREATE TEMP TABLE r3 AS :r3
CREATE TEMP TABLE r4 AS :r4
CREATE TEMP TABLE r5 AS :r5
SELECT * FROM r1 ORDER BY firm, practice_area, matters DESC, stage;
SELECT * FROM r2 ORDER BY firm, month;
SELECT * FROM r3 ORDER BY firm, value, stage;
-- Writes per member today: Max made only the private lead's writes, which
-- this reader does not see; the DBA's (no key) count under its role.
SELECT firm, day = (now() AT TIME ZONE 'UTC')::date AS today,
       CASE WHEN who = 'role ' || session_user THEN 'role <dba>' ELSE who END AS who, writes, deletes
  FROM r4 ORDER BY 1, 2, 3;
SELECT firm, public_id, title, practice_area, sol_date, days_past = current_date - sol_date AS days_past_right FROM r5;

-- Exactly its firm, in every view.
SELECT v.relname, n.rows, n.other_firms
  FROM pg_class v, t.view_rows(v.oid, t.id('firm_r')) n
 WHERE v.relnamespace = 'esqase_report'::regnamespace ORDER BY 1;
-- Soft-deleted rows are there, with deleted_at; the private lead, its
-- prospect, its assignees and their audit rows are not.
SELECT name, status, deleted_at IS NOT NULL AS deleted FROM esqase_report.contacts ORDER BY name;
SELECT public_id, value, value_rank, is_private, deleted_at IS NOT NULL AS deleted FROM esqase_report.leads ORDER BY public_id;
SELECT count(*) AS private_traces FROM esqase_report.audit_log
 WHERE coalesce(new_values, old_values)::text ~ 'Priya|Private|"is_private": true';
-- API keys are in the log (their name and scopes), never a hash.
SELECT count(*) > 0 AS key_rows, count(*) FILTER (WHERE new_values ? 'secret_hash' OR old_values ? 'secret_hash') AS with_hash
  FROM esqase_report.audit_log WHERE table_name = 'api_keys';
-- No way around the views: the tables are out of reach, the views are
-- read-only, and a leaky function of the reader's own is shown only the
-- rows that pass the views' filter (security_barrier).
SELECT count(*) FROM esqase.contacts;
SELECT count(*) FROM esqase.report_readers;
SELECT * FROM esqase.report_scope;
UPDATE esqase_report.matters SET title = 'x';
SELECT esqase_grant_reader('esq_report_one');
RESET ROLE;
CREATE TABLE t.leaked (firm_id uuid, name text);
GRANT INSERT ON t.leaked TO PUBLIC;
CREATE FUNCTION t.leak(firm_id uuid, name text) RETURNS boolean LANGUAGE plpgsql COST 0.0000001 AS $$
BEGIN
    INSERT INTO t.leaked VALUES (firm_id, name);
    RETURN true;
END
$$;
SET ROLE esq_report_one;
SELECT count(*) AS contacts_seen FROM esqase_report.contacts c WHERE t.leak(c.firm_id, c.name);
SELECT count(*) AS leads_seen FROM esqase_report.leads l WHERE t.leak(l.firm_id, l.public_id);
RESET ROLE;
SELECT count(*) AS rows_leaked_from_other_firms_or_private
  FROM t.leaked WHERE firm_id <> t.id('firm_r') OR name IN ('Priya Private', 'L-0002');
-- Even with SELECT granted by hand, a role that is not a reader sees no row.
CREATE ROLE esq_report_stranger NOLOGIN;
GRANT USAGE ON SCHEMA esqase_report TO esq_report_stranger;
GRANT SELECT ON esqase_report.contacts, esqase_report.firms TO esq_report_stranger;
SET ROLE esq_report_stranger;
SELECT (SELECT count(*) FROM esqase_report.contacts) AS contacts, (SELECT count(*) FROM esqase_report.firms) AS firms;
RESET ROLE;
-- An audit row that carried a key hash (written by hand here: the trigger
-- never logs one) reaches no reader with it.
BEGIN;
INSERT INTO esqase.audit_log (firm_id, db_role, action, table_name, record_id, new_values)
VALUES (t.id('firm_r'), 'test', 'INSERT', 'api_keys', gen_random_uuid(), '{"name": "planted", "secret_hash": "\\x00"}');
SET ROLE esq_report_one;
SELECT new_values FROM esqase_report.audit_log WHERE new_values ->> 'name' = 'planted';
ROLLBACK;

-- Granted the private leads, the same reader sees them, their prospect and
-- their audit rows.
SELECT esqase_grant_reader('esq_report_one', t.id('firm_r'), true);
SET ROLE esq_report_one;
SELECT public_id, value, is_private FROM esqase_report.leads ORDER BY public_id;
SELECT name, private_lead_id IS NOT NULL AS hidden_prospect FROM esqase_report.contacts WHERE name ~ 'Priya';
SELECT count(*) > 0 AS private_traces FROM esqase_report.audit_log
 WHERE coalesce(new_values, old_values)::text ~ 'Priya';
SELECT count(*) AS assignees_of_private FROM esqase_report.lead_assignees la
  JOIN esqase_report.leads l ON l.firm_id = la.firm_id AND l.id = la.lead_id WHERE l.is_private;
RESET ROLE;

-- A grant to a group role reaches its members.
SET ROLE esq_report_alice;
SELECT string_agg(name, ', ') AS alice_reads FROM esqase_report.firms;
RESET ROLE;

-- ---------------------------------------------------------------------------
-- The reader of every firm
-- ---------------------------------------------------------------------------
SET ROLE esq_report_all;
CREATE TEMP TABLE a1 AS :r1
CREATE TEMP TABLE a2 AS :r2
CREATE TEMP TABLE a3 AS :r3
CREATE TEMP TABLE a4 AS :r4
CREATE TEMP TABLE a5 AS :r5
CREATE TEMP TABLE all_seen AS
SELECT (SELECT count(*) FROM esqase_report.firms) AS firms, (SELECT count(*) FROM esqase_report.contacts) AS contacts,
       (SELECT count(*) FROM esqase_report.leads) AS leads, (SELECT count(*) FROM esqase_report.audit_log) AS audit_rows,
       (SELECT count(DISTINCT firm) FROM a4) AS firms_in_audit_report;
RESET ROLE;
-- Every firm and every row, private leads included, as in the tables.
SELECT s.firms = (SELECT count(*) FROM esqase.firms) AS all_firms,
       s.contacts = (SELECT count(*) FROM esqase.contacts) AS all_contacts,
       s.leads = (SELECT count(*) FROM esqase.leads) AS all_leads,
       s.audit_rows = (SELECT count(*) FROM esqase.audit_log) AS all_audit_rows,
       s.firms_in_audit_report = (SELECT count(DISTINCT firm_id) FROM esqase.audit_log) AS audit_report_all_firms
  FROM all_seen s;
SELECT DISTINCT firm FROM a5 ORDER BY 1;

-- ---------------------------------------------------------------------------
-- Revocation
-- ---------------------------------------------------------------------------
SELECT esqase_revoke_reader('esq_report_one');
SELECT esqase_revoke_reader('esq_report_all');
SELECT esqase_revoke_reader('esq_report_group');
SELECT count(*) AS readers_left FROM esqase.report_readers WHERE role_name LIKE 'esq_report%';
SET ROLE esq_report_one;
SELECT count(*) FROM esqase_report.firms;
RESET ROLE;
SET ROLE esq_report_alice;
SELECT count(*) FROM esqase_report.firms;
RESET ROLE;
SELECT count(*) AS grants_left
  FROM pg_class c, aclexplode(c.relacl) a
 WHERE c.relnamespace = 'esqase_report'::regnamespace AND a.grantee IN
       ('esq_report_one'::regrole, 'esq_report_all'::regrole, 'esq_report_group'::regrole);

DROP TABLE r1, r2, r3, r4, r5, a1, a2, a3, a4, a5, all_seen;
REVOKE ALL ON esqase_report.contacts, esqase_report.firms FROM esq_report_stranger;
REVOKE ALL ON SCHEMA esqase_report FROM esq_report_stranger;
DROP ROLE esq_report_one, esq_report_all, esq_report_alice, esq_report_group, esq_report_stranger;
