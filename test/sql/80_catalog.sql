-- The schema's rules, checked against the catalog (as the superuser):
-- firm_id everywhere (esqase.firms: its id) and in every key, RLS enabled and forced with a firm
-- policy, pg_dump registration, triggers, and what the API role may do.
\set VERBOSITY terse

-- The data tables.  esqase.report_readers is configuration, not firm data
-- (a reader of every firm has no firm_id): its own rules are checked at
-- the end, under "Reporting"; so are esqase.cursor_secret's, under
-- "Cursors".
CREATE TEMP VIEW esq_tables AS
SELECT c.oid, c.relname,
       (SELECT a.attnum FROM pg_attribute a
         WHERE a.attrelid = c.oid AND NOT a.attisdropped
           -- the firm column: firm_id, and in esqase.firms itself its key, id
           AND a.attname = CASE WHEN c.oid = 'esqase.firms'::regclass THEN 'id' ELSE 'firm_id' END) AS firm_attnum
  FROM pg_class c
 WHERE c.relnamespace = 'esqase'::regnamespace AND c.relkind IN ('r', 'p')
   AND c.oid NOT IN ('esqase.report_readers'::regclass, 'esqase.cursor_secret'::regclass);

-- The tables, each with a firm_id column (uuid, NOT NULL).
SELECT t.relname, a.atttypid::regtype AS firm_id_type, a.attnotnull AS firm_id_not_null
  FROM esq_tables t LEFT JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = t.firm_attnum
 ORDER BY 1;
SELECT count(*) AS tables_without_firm_id FROM esq_tables WHERE firm_attnum IS NULL;

-- Every primary key, unique constraint and foreign key includes firm_id;
-- a foreign key matches firm_id to the referenced table's firm_id.
SELECT t.relname, con.conname, con.contype
  FROM esq_tables t JOIN pg_constraint con ON con.conrelid = t.oid
 WHERE con.contype IN ('p', 'u', 'f') AND NOT t.firm_attnum = ANY (con.conkey)
 ORDER BY 1, 2;
SELECT t.relname, con.conname, con.confrelid::regclass AS referenced
  FROM esq_tables t JOIN pg_constraint con ON con.conrelid = t.oid
 WHERE con.contype = 'f'
   AND NOT EXISTS (SELECT FROM generate_subscripts(con.conkey, 1) i
                    WHERE con.conkey[i] = t.firm_attnum
                      AND con.confkey[i] = (SELECT a.attnum FROM pg_attribute a
                                             WHERE a.attrelid = con.confrelid
                                               AND a.attname = CASE WHEN con.confrelid = 'esqase.firms'::regclass THEN 'id' ELSE 'firm_id' END))
 ORDER BY 1, 2;
-- Every unique index (including expression indexes such as the members'
-- lower(email)) has firm_id as a key column.
SELECT t.relname, i.indexrelid::regclass AS unique_index
  FROM esq_tables t JOIN pg_index i ON i.indrelid = t.oid
 WHERE i.indisunique
   AND NOT t.firm_attnum = ANY (i.indkey[0:i.indnkeyatts - 1]::int2[])
 ORDER BY 1, 2;
-- How many of each were checked (so that the empty results above mean something).
SELECT count(*) FILTER (WHERE con.contype = 'p') = (SELECT count(*) FROM esq_tables) AS a_primary_key_per_table,
       count(*) FILTER (WHERE con.contype = 'u') >= 10 AS unique_constraints_checked,
       count(*) FILTER (WHERE con.contype = 'f') >= 20 AS foreign_keys_checked
  FROM esq_tables t JOIN pg_constraint con ON con.conrelid = t.oid;
SELECT count(*) >= 25 AS unique_indexes_checked,
       count(*) FILTER (WHERE i.indexprs IS NOT NULL) >= 1 AS expression_indexes_checked
  FROM esq_tables t JOIN pg_index i ON i.indrelid = t.oid WHERE i.indisunique;
-- The checks catch a table that breaks the rule (made and dropped here).
BEGIN;
CREATE TABLE esqase.rule_breaker (firm_id uuid NOT NULL, id uuid PRIMARY KEY, code text UNIQUE,
                                  area uuid, FOREIGN KEY (firm_id, area) REFERENCES esqase.practice_areas (id, firm_id));
CREATE UNIQUE INDEX rule_breaker_code_idx ON esqase.rule_breaker (lower(code));
SELECT con.conname AS caught, con.contype FROM pg_constraint con JOIN esq_tables t ON t.oid = con.conrelid
 WHERE t.relname = 'rule_breaker' AND con.contype IN ('p', 'u', 'f')
   AND (NOT t.firm_attnum = ANY (con.conkey)
        OR (con.contype = 'f' AND NOT EXISTS (SELECT FROM generate_subscripts(con.conkey, 1) i
                                               WHERE con.conkey[i] = t.firm_attnum
                                                 AND con.confkey[i] = (SELECT a.attnum FROM pg_attribute a
                                                                        WHERE a.attrelid = con.confrelid
                                                                          AND a.attname = CASE WHEN con.confrelid = 'esqase.firms'::regclass THEN 'id' ELSE 'firm_id' END))))
UNION ALL
SELECT i.indexrelid::regclass::text, 'i' FROM esq_tables t JOIN pg_index i ON i.indrelid = t.oid
 WHERE t.relname = 'rule_breaker' AND i.indisunique AND NOT t.firm_attnum = ANY (i.indkey[0:i.indnkeyatts - 1]::int2[])
 ORDER BY 1;
ROLLBACK;
-- Every table has a primary key.
SELECT relname AS tables_without_primary_key FROM esq_tables t
 WHERE NOT EXISTS (SELECT FROM pg_constraint con WHERE con.conrelid = t.oid AND con.contype = 'p');

-- Row-level security is enabled and forced on every table, and every
-- policy confines rows to the context's firm.  api_keys and audit_log have
-- no policy (no row for anyone who does not bypass row-level security):
-- the API role has no privilege on them.
SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,
       (SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid) AS policies,
       has_table_privilege('esqase_api', c.oid, 'SELECT') AS api_may_select
  FROM pg_class c JOIN esq_tables t ON t.oid = c.oid
 WHERE NOT (c.relrowsecurity AND c.relforcerowsecurity)
    OR NOT EXISTS (SELECT FROM pg_policy p WHERE p.polrelid = c.oid)
 ORDER BY 1;
SELECT count(*) AS tables_with_rls_forced FROM pg_class c JOIN esq_tables t ON t.oid = c.oid
 WHERE c.relrowsecurity AND c.relforcerowsecurity;
SELECT count(*) AS policies,
       count(*) FILTER (WHERE coalesce(pg_get_expr(p.polqual, p.polrelid), '')
                                NOT LIKE format('((%s = esqase.context_firm()) AND %%', CASE WHEN c.oid = 'esqase.firms'::regclass THEN 'id' ELSE 'firm_id' END)
                          AND p.polqual IS NOT NULL) AS using_without_firm,
       count(*) FILTER (WHERE coalesce(pg_get_expr(p.polwithcheck, p.polrelid), '')
                                NOT LIKE format('((%s = esqase.context_firm()) AND %%', CASE WHEN c.oid = 'esqase.firms'::regclass THEN 'id' ELSE 'firm_id' END)
                          AND p.polwithcheck IS NOT NULL) AS check_without_firm,
       count(*) FILTER (WHERE p.polcmd = '*') AS for_all_commands
  FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid JOIN esq_tables t ON t.oid = c.oid;
-- The policies of every role, by command, and the API role's privileges
-- (on the table or on some of its columns): a policy for each command it
-- holds; the delete policies of tables it may not delete from are unused.
SELECT c.relname,
       string_agg(p.polcmd::text, '' ORDER BY p.polcmd) AS policy_commands,
       concat_ws('', CASE WHEN has_table_privilege('esqase_api', c.oid, 'DELETE') THEN 'd' END,
                     CASE WHEN has_table_privilege('esqase_api', c.oid, 'SELECT') THEN 'r' END,
                     CASE WHEN has_any_column_privilege('esqase_api', c.oid, 'INSERT') THEN 'a' END,
                     CASE WHEN has_any_column_privilege('esqase_api', c.oid, 'UPDATE') THEN 'w' END) AS api_privileges
  FROM pg_class c JOIN esq_tables t ON t.oid = c.oid LEFT JOIN pg_policy p ON p.polrelid = c.oid AND p.polroles = '{0}'
 GROUP BY c.oid, c.relname ORDER BY 1;
-- Policies apply to every role, except those of esqase_refs, the owner of
-- the reference views (28_references.sql), which the API role is not.
SELECT c.relname, p.polname, p.polroles::regrole[] AS roles
  FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid JOIN esq_tables t ON t.oid = c.oid
 WHERE p.polroles <> '{0}' OR NOT p.polpermissive
 ORDER BY 1, 2;

-- Every table (and the audit log's id sequence) is registered with
-- pg_extension_config_dump, so that pg_dump keeps its rows.
SELECT t.relname AS not_dumped
  FROM esq_tables t, pg_extension e
 WHERE e.extname = 'esqase' AND NOT t.oid = ANY (e.extconfig)
 ORDER BY 1;
SELECT c.relname, c.relkind, coalesce(nullif(e.extcondition[i], ''), '(all rows)') AS condition
  FROM pg_extension e, generate_subscripts(e.extconfig, 1) i, pg_class c
 WHERE e.extname = 'esqase' AND c.oid = e.extconfig[i] AND c.relkind <> 'r'
 ORDER BY 1;
SELECT count(*) = (SELECT count(*) FROM esq_tables) AS every_table_dumped, bool_and(e.extcondition[i] = '') AS all_rows
  FROM pg_extension e, generate_subscripts(e.extconfig, 1) i, esq_tables t
 WHERE e.extname = 'esqase' AND t.oid = e.extconfig[i];
-- Every table and sequence of schema esqase belongs to the extension.
SELECT c.relname AS not_an_extension_member
  FROM pg_class c
 WHERE c.relnamespace = 'esqase'::regnamespace AND c.relkind IN ('r', 'p', 'S', 'v', 'm')
   AND NOT EXISTS (SELECT FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
                    WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e'
                      AND e.extname = 'esqase');

-- Triggers: every data table is audited and keeps updated_at, except the
-- public-id counters, record counts and idempotency keys (bookkeeping) and the
-- audit log itself.
SELECT t.relname,
       coalesce(bool_or(p.proname = 'audit'), false) AND coalesce(bool_or(p.proname = 'audit_insert'), false) AS audited,
       coalesce(bool_or(p.proname = 'touch_updated_at'), false) AS keeps_updated_at
  FROM esq_tables t
  LEFT JOIN pg_trigger g ON g.tgrelid = t.oid AND NOT g.tgisinternal
  LEFT JOIN pg_proc p ON p.oid = g.tgfoid
 GROUP BY t.relname ORDER BY 1;
-- The audit triggers are enabled AFTER ROW triggers for UPDATE and DELETE
-- (api_keys: only for the columns that are not bookkeeping), and AFTER
-- STATEMENT triggers for INSERT over its new rows (esqase.audit_insert, a
-- statement per INSERT: issue 16); listed here: the ones that are not.
SELECT g.tgrelid::regclass AS tbl, p.proname, g.tgenabled,
       (g.tgtype & 1) <> 0 AS for_row, (g.tgtype & 2) = 0 AS after,
       (g.tgtype & 4) <> 0 AS on_insert, (g.tgtype & 8) <> 0 AS on_delete, (g.tgtype & 16) <> 0 AS on_update,
       cardinality(g.tgattr::int2[]) > 0 AS only_some_columns
  FROM pg_trigger g JOIN pg_proc p ON p.oid = g.tgfoid
 WHERE p.proname IN ('audit', 'audit_insert') AND p.pronamespace = 'esqase'::regnamespace
   AND NOT (p.proname = 'audit' AND g.tgenabled = 'O' AND (g.tgtype & 1) <> 0 AND (g.tgtype & 2) = 0
            AND (g.tgtype & 4) = 0 AND (g.tgtype & 8) <> 0 AND (g.tgtype & 16) <> 0
            AND (cardinality(g.tgattr::int2[]) = 0) <> (g.tgrelid IN ('esqase.api_keys'::regclass, 'esqase.webhooks'::regclass)))
   AND NOT (p.proname = 'audit_insert' AND g.tgenabled = 'O' AND (g.tgtype & 1) = 0 AND (g.tgtype & 2) = 0
            AND (g.tgtype & 4) <> 0 AND (g.tgtype & 8) = 0 AND (g.tgtype & 16) = 0
            AND g.tgnewtable = 'new_rows')
 ORDER BY 1, 2;
SELECT count(*) FILTER (WHERE p.proname = 'audit') = (SELECT count(*) - 7 FROM esq_tables)
       AND count(*) FILTER (WHERE p.proname = 'audit_insert') = (SELECT count(*) - 7 FROM esq_tables)
           AS one_audit_trigger_pair_per_data_table
  FROM pg_trigger g JOIN pg_proc p ON p.oid = g.tgfoid
 WHERE p.proname IN ('audit', 'audit_insert') AND p.pronamespace = 'esqase'::regnamespace;
-- The audit log's guards fire always, for UPDATE, DELETE and TRUNCATE.
SELECT g.tgname, g.tgenabled, (g.tgtype & 8) <> 0 AS on_delete, (g.tgtype & 16) <> 0 AS on_update,
       (g.tgtype & 32) <> 0 AS on_truncate
  FROM pg_trigger g WHERE g.tgrelid = 'esqase.audit_log'::regclass AND NOT g.tgisinternal ORDER BY 1;

-- Functions: SECURITY DEFINER ones pin their search_path; the API functions
-- are not SECURITY DEFINER (row-level security must apply to them).
SELECT p.oid::regprocedure AS definer_without_search_path
  FROM pg_proc p JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'esqase'
 WHERE p.prosecdef AND NOT EXISTS (SELECT FROM unnest(p.proconfig) c WHERE c LIKE 'search_path=%')
 ORDER BY 1;
SELECT p.oid::regprocedure AS definer_function, pg_get_userbyid(p.proowner) = current_user AS owned_by_installer,
       has_function_privilege('esqase_api', p.oid, 'EXECUTE') AS api_may_execute
  FROM pg_proc p JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'esqase'
 WHERE p.prosecdef ORDER BY 1;
SELECT count(*) AS api_functions, count(*) FILTER (WHERE p.prosecdef) AS security_definer,
       count(*) FILTER (WHERE p.proconfig IS NOT NULL) AS with_settings
  FROM pg_proc p
 WHERE p.pronamespace = 'public'::regnamespace
   AND p.proname ~ '^esqase_(contacts|matters|leads|practice_areas|matter_types)_(list|create|get|update|delete)$';

-- The API role: no superuser, no BYPASSRLS, cannot log in by itself here,
-- owns nothing of the extension.
SELECT rolsuper, rolbypassrls, rolcreaterole, rolcreatedb, rolreplication
  FROM pg_roles WHERE rolname = 'esqase_api';
SELECT count(*) AS tables_owned_by_api_role FROM esq_tables t JOIN pg_class c ON c.oid = t.oid
 WHERE c.relowner = 'esqase_api'::regrole;
-- Its table privileges, exactly.  No TRUNCATE anywhere; DELETE only on the
-- link tables that matters and leads replace on update (matter_clients,
-- matter_team, lead_assignees); nothing at all on api_keys and audit_log.
SELECT t.relname,
       concat_ws(',', CASE WHEN has_table_privilege('esqase_api', t.oid, 'SELECT') THEN 'SELECT' END,
                      CASE WHEN has_table_privilege('esqase_api', t.oid, 'INSERT') THEN 'INSERT' END,
                      CASE WHEN has_table_privilege('esqase_api', t.oid, 'UPDATE') THEN 'UPDATE' END,
                      CASE WHEN has_table_privilege('esqase_api', t.oid, 'DELETE') THEN 'DELETE' END,
                      CASE WHEN has_table_privilege('esqase_api', t.oid, 'TRUNCATE') THEN 'TRUNCATE' END,
                      CASE WHEN has_table_privilege('esqase_api', t.oid, 'REFERENCES') THEN 'REFERENCES' END,
                      CASE WHEN has_table_privilege('esqase_api', t.oid, 'TRIGGER') THEN 'TRIGGER' END) AS privileges
  FROM esq_tables t ORDER BY 1;
SELECT count(*) AS api_role_truncate_grants FROM esq_tables t WHERE has_table_privilege('esqase_api', t.oid, 'TRUNCATE');
-- Writes are granted by column: the columns an INSERT may set and an UPDATE
-- may change are those the API writes (90_security.sql); never firm_id on
-- update, nor created_at, updated_at or the derived search anywhere.
SELECT t.relname,
       string_agg(a.attname, ',' ORDER BY a.attnum)
           FILTER (WHERE has_column_privilege('esqase_api', t.oid, a.attnum, 'INSERT')) AS insert_columns,
       string_agg(a.attname, ',' ORDER BY a.attnum)
           FILTER (WHERE has_column_privilege('esqase_api', t.oid, a.attnum, 'UPDATE')) AS update_columns
  FROM esq_tables t JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum > 0 AND NOT a.attisdropped
 GROUP BY t.relname
HAVING count(*) FILTER (WHERE has_column_privilege('esqase_api', t.oid, a.attnum, 'INSERT, UPDATE')) > 0
 ORDER BY 1;
-- The reference views (28_references.sql): owned by esqase_refs, which may
-- only read, the API role may read them; esqase_refs is no superuser, has
-- no BYPASSRLS (the tables' policies apply to it) and cannot log in.
SELECT c.relname, pg_get_userbyid(c.relowner) AS owner,
       has_table_privilege('esqase_api', c.oid, 'SELECT') AS api_reads,
       has_table_privilege('esqase_api', c.oid, 'INSERT, UPDATE, DELETE, TRUNCATE') AS api_writes,
       c.reloptions AS options
  FROM pg_class c WHERE c.relnamespace = 'esqase'::regnamespace AND c.relkind = 'v' AND c.relname LIKE '%\_refs'
 ORDER BY 1;
SELECT rolsuper, rolbypassrls, rolcanlogin, rolinherit FROM pg_roles WHERE rolname = 'esqase_refs';
SELECT c.relname AS esqase_refs_reads FROM pg_class c
 WHERE c.relnamespace = 'esqase'::regnamespace AND c.relkind = 'r'
   AND has_table_privilege('esqase_refs', c.oid, 'SELECT')
 ORDER BY 1;
SELECT count(*) AS esqase_refs_writes FROM pg_class c
 WHERE c.relnamespace = 'esqase'::regnamespace AND c.relkind = 'r'
   AND has_table_privilege('esqase_refs', c.oid, 'INSERT, UPDATE, DELETE, TRUNCATE');
-- Nor can it create objects in the extension's schemas.
SELECT has_schema_privilege('esqase_api', 'esqase', 'CREATE') AS create_in_esqase,
       has_schema_privilege('esqase_api', 'public', 'CREATE') AS create_in_public,
       has_schema_privilege('esqase_api', 'esqase', 'USAGE') AS usage_on_esqase;
-- PUBLIC has no privileges on the tables either.
SELECT t.relname, a.privilege_type
  FROM esq_tables t, aclexplode((SELECT relacl FROM pg_class WHERE oid = t.oid)) a
 WHERE a.grantee = 0 ORDER BY 1, 2;

-- Comments (the tables of sql/registry.pl, made by 97_comments.sql):
-- every table, view and column of schema esqase has one.  Listed here:
-- those without (none).
CREATE TEMP VIEW esq_uncommented AS
SELECT c.relname, NULL::name AS column_name
  FROM pg_class c
 WHERE c.relnamespace = 'esqase'::regnamespace AND c.relkind IN ('r', 'p', 'v')
   AND obj_description(c.oid, 'pg_class') IS NULL
UNION ALL
SELECT c.relname, a.attname
  FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
 WHERE c.relnamespace = 'esqase'::regnamespace AND c.relkind IN ('r', 'p', 'v')
   AND col_description(c.oid, a.attnum) IS NULL;
SELECT relname, column_name AS without_comment FROM esq_uncommented ORDER BY 1, 2;
-- What was checked (so that the empty list means something).
SELECT count(DISTINCT c.oid) >= 20 AS tables_and_views_checked, count(*) >= 160 AS columns_checked
  FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
 WHERE c.relnamespace = 'esqase'::regnamespace AND c.relkind IN ('r', 'p', 'v');
-- The check catches a table, and a column, added without a comment (rolled back).
BEGIN;
CREATE TABLE esqase.uncommented (firm_id uuid NOT NULL, note text);
ALTER TABLE esqase.contacts ADD COLUMN uncommented_note text;
SELECT relname, column_name AS without_comment FROM esq_uncommented ORDER BY 1, 2;
ROLLBACK;

-- The extension: not relocatable, the control file's version, its schema.
SELECT e.extname, e.extrelocatable,
       e.extversion = (SELECT a.default_version FROM pg_available_extensions a
                        WHERE a.name = e.extname) AS default_version,
       e.extnamespace::regnamespace AS schema
  FROM pg_extension e WHERE e.extname = 'esqase';

-- Reporting (test/sql/90_reporting.sql has the rest): the readers' table is
-- read by the views' owner only (row-level security forced, no policy, no
-- grant), is dumped with the data, and belongs to the extension.
SELECT c.relrowsecurity, c.relforcerowsecurity,
       (SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid) AS policies,
       (SELECT count(*) FROM aclexplode(c.relacl) a WHERE a.grantee <> c.relowner) AS grants,
       EXISTS (SELECT FROM pg_extension e WHERE e.extname = 'esqase' AND c.oid = ANY (e.extconfig)) AS dumped
  FROM pg_class c WHERE c.oid = 'esqase.report_readers'::regclass;
-- The views of esqase_report and the reader scope belong to the extension.
SELECT c.oid::regclass AS reporting_view,
       EXISTS (SELECT FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
                WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e'
                  AND e.extname = 'esqase') AS extension_member
  FROM pg_class c
 WHERE c.relkind = 'v' AND c.relnamespace IN ('esqase'::regnamespace, 'esqase_report'::regnamespace)
 ORDER BY c.oid::regclass::text;

-- Cursors: the secret that signs them has one row, is read by its owner
-- only (no grant, not even to the API role, which signs through the
-- SECURITY DEFINER esqase.cursor_mac), is not dumped (a restore makes a new
-- one), and belongs to the extension.
SELECT c.relrowsecurity,
       (SELECT count(*) FROM aclexplode(c.relacl) a WHERE a.grantee <> c.relowner) AS grants,
       has_table_privilege('esqase_api', c.oid, 'SELECT') AS api_may_select,
       EXISTS (SELECT FROM pg_extension e WHERE e.extname = 'esqase' AND c.oid = ANY (e.extconfig)) AS dumped,
       EXISTS (SELECT FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
                WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e'
                  AND e.extname = 'esqase') AS extension_member,
       (SELECT count(*) FROM esqase.cursor_secret) AS secret_rows,
       (SELECT length(ipad) = 64 AND length(opad) = 64 AND ipad <> opad FROM esqase.cursor_secret) AS pads
  FROM pg_class c WHERE c.oid = 'esqase.cursor_secret'::regclass;
SELECT has_function_privilege('esqase_api', 'esqase.cursor_secret_new()', 'EXECUTE') AS api_may_renew,
       has_function_privilege('esqase_api', 'esqase.cursor_mac(uuid,text)', 'EXECUTE') AS api_may_sign;
-- The pads are a key XOR 0x36 and the same key XOR 0x5c: their XOR is 0x6a in
-- every byte (so HMAC's two hashes use one key).
SELECT bool_and(get_byte(ipad, i) # get_byte(opad, i) = 106) AS pads_of_one_key
  FROM esqase.cursor_secret, generate_series(0, 63) i;
