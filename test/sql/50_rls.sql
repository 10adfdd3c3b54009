-- Firm isolation: a key of firm B can never read, count, change, delete or
-- reference a record of firm A, through the API functions or through the
-- tables under row-level security (as the API role: no superuser, no BYPASSRLS).
\set VERBOSITY terse
SET ROLE esqase_api;

-- Records of firm A, and a few of firm B.
INSERT INTO t.ids SELECT 'rls_a_contact', (t.api('a', $$esqase_contacts_create('{"type": "PERSON", "firstName": "Alice", "lastName": "OfA"}')$$) #>> '{data,id}')::uuid;
INSERT INTO t.ids SELECT 'rls_a_area', (t.api('a', $$esqase_practice_areas_create('{"name": "A only law"}')$$) #>> '{data,id}')::uuid;
INSERT INTO t.ids SELECT 'rls_a_type', (t.api('a', format($$esqase_matter_types_create('{"practiceAreaId": "%s", "name": "A only type"}')$$, t.id('rls_a_area'))) #>> '{data,id}')::uuid;
INSERT INTO t.ids SELECT 'rls_b_contact', (t.api('b', $$esqase_contacts_create('{"type": "COMPANY", "companyName": "B Corp"}')$$) #>> '{data,id}')::uuid;
INSERT INTO t.ids SELECT 'rls_b_area', (t.api('b', $$esqase_practice_areas_create('{"name": "B only law"}')$$) #>> '{data,id}')::uuid;
INSERT INTO t.ids SELECT 'rls_b_type', (t.api('b', format($$esqase_matter_types_create('{"practiceAreaId": "%s", "name": "B only type"}')$$, t.id('rls_b_area'))) #>> '{data,id}')::uuid;
SELECT count(*) AS ids_made FROM t.ids WHERE name LIKE 'rls\_%' AND id IS NOT NULL;

-- Through the API: B gets 404 for every read, update and delete of A's records.
SELECT t.unid(expr) AS call, t.err('b', expr) FROM (VALUES
    (format('esqase_contacts_get(%L)', t.id('rls_a_contact'))),
    (format($$esqase_contacts_update(%L, '{"lastName": "Hijacked"}')$$, t.id('rls_a_contact'))),
    (format('esqase_contacts_delete(%L)', t.id('rls_a_contact'))),
    (format('esqase_practice_areas_get(%L)', t.id('rls_a_area'))),
    (format($$esqase_practice_areas_update(%L, '{"name": "Hijacked"}')$$, t.id('rls_a_area'))),
    (format('esqase_practice_areas_delete(%L)', t.id('rls_a_area'))),
    (format('esqase_matter_types_get(%L)', t.id('rls_a_type'))),
    (format($$esqase_matter_types_update(%L, '{"name": "Hijacked"}')$$, t.id('rls_a_type'))),
    (format('esqase_matter_types_delete(%L)', t.id('rls_a_type'))),
    (format($$esqase_matter_types_list('{"practiceAreaId": "%s"}')$$, t.id('rls_a_area')))
) AS cases(expr);
-- ... nor can B point at A's records: a matter type in A's practice area is a 422.
SELECT t.err('b', format($$esqase_matter_types_create('{"practiceAreaId": "%s", "name": "Sneaky"}')$$, t.id('rls_a_area'))) AS b_type_in_a_area;
-- And the other way round.
SELECT t.unid(expr) AS call, t.err('a', expr) FROM (VALUES
    (format('esqase_contacts_get(%L)', t.id('rls_b_contact'))),
    (format('esqase_practice_areas_get(%L)', t.id('rls_b_area'))),
    (format('esqase_matter_types_get(%L)', t.id('rls_b_type'))),
    (format($$esqase_matter_types_create('{"practiceAreaId": "%s", "name": "Sneaky"}')$$, t.id('rls_b_area')))
) AS cases(expr);

-- A's records are untouched.
SELECT t.api('a', format('esqase_contacts_get(%L)', t.id('rls_a_contact'))) #>> '{data,name}' AS a_contact,
       t.api('a', format('esqase_practice_areas_get(%L)', t.id('rls_a_area'))) #>> '{data,name}' AS a_area,
       t.api('a', format('esqase_matter_types_get(%L)', t.id('rls_a_type'))) #>> '{data,name}' AS a_type;

-- Lists and totals of each firm hold only its own records: kept here, then
-- compared with the tables as the superuser.
CREATE TEMP TABLE api_lists AS
SELECT k AS key, r AS resource, t.api(k, format('esqase_%s_list(%L)', r, '{"limit": 200}')) AS l
  FROM unnest(ARRAY['a', 'b']) AS k, unnest(ARRAY['contacts', 'practice_areas']) AS r;
INSERT INTO api_lists
SELECT k, 'matter_types', t.api(k, format($$esqase_matter_types_list('{"practiceAreaId": "%s", "limit": 200}')$$,
                                          t.id('rls_' || k || '_area')))
  FROM unnest(ARRAY['a', 'b']) AS k;
RESET ROLE;
SELECT key, resource,
       jsonb_array_length(l -> 'data') = (l #>> '{pagination,total}')::int AS listed_all,
       (l #>> '{pagination,total}')::int
         = (xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM esqase.%I WHERE deleted_at IS NULL AND firm_id = %L %s',
                   resource, t.id('firm_' || key),
                   CASE resource WHEN 'matter_types' THEN format('AND practice_area_id = %L', t.id('rls_' || key || '_area')) ELSE '' END),
                   false, true, '')))[1]::text::int AS total_is_own_rows,
       (SELECT bool_and(x.firm_id = t.id('firm_' || key))
          FROM jsonb_array_elements(l -> 'data') e
          JOIN (SELECT firm_id, id FROM esqase.contacts UNION ALL SELECT firm_id, id FROM esqase.practice_areas
                UNION ALL SELECT firm_id, id FROM esqase.matter_types) x ON x.id = (e ->> 'id')::uuid) AS all_own_firm
  FROM api_lists ORDER BY 1, 2;
SET ROLE esqase_api;
SELECT (t.api('b', format($$esqase_matter_types_list('{"practiceAreaId": "%s"}')$$, t.id('rls_b_area'))) #>> '{pagination,total}')::int AS b_types_total,
       t.api('b', format('esqase_practice_areas_get(%L)', t.id('rls_b_area'))) #> '{data,matterTypes}' -> 0 ->> 'name' AS b_area_types;

-- Through the tables (and the reference views), as the API role.
-- Without any context no row of any table is visible.
SELECT c.relname AS table_name,
       (xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM esqase.%I', c.relname), false, true, '')))[1]::text::int AS rows_visible
  FROM pg_class c
 WHERE c.relnamespace = 'esqase'::regnamespace AND c.relkind IN ('r', 'v')
   AND has_table_privilege(c.oid, 'SELECT')
 ORDER BY 1;
-- With B's context: only B's rows, in every table.
BEGIN;
SELECT esqase_authenticate(token) FROM t.keys WHERE name = 'b';
SELECT c.relname AS table_name,
       (xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM esqase.%I WHERE %I IS DISTINCT FROM %L',
                                                   c.relname, CASE c.relname WHEN 'firms' THEN 'id' ELSE 'firm_id' END,
                                                   t.id('firm_b')), false, true, '')))[1]::text::int AS rows_of_other_firms
  FROM pg_class c
 WHERE c.relnamespace = 'esqase'::regnamespace AND c.relkind IN ('r', 'v')
   AND has_table_privilege(c.oid, 'SELECT')
 ORDER BY 1;
SELECT (SELECT count(*) FROM esqase.contacts WHERE id = t.id('rls_b_contact')) AS own_contact,
       (SELECT count(*) FROM esqase.practice_area_stages WHERE practice_area_id = t.id('rls_b_area')) AS own_stages,
       (SELECT count(*) FROM esqase.contact_refs WHERE id = t.id('rls_b_contact')) AS own_contact_ref,
       (SELECT count(*) FROM esqase.lead_stages) AS own_lead_stages;
-- Asking for A's rows by id finds nothing.
SELECT (SELECT count(*) FROM esqase.contacts WHERE id = t.id('rls_a_contact')) AS a_contact,
       (SELECT count(*) FROM esqase.practice_areas WHERE firm_id = t.id('firm_a')) AS a_areas,
       (SELECT count(*) FROM esqase.practice_area_stages WHERE practice_area_id = t.id('rls_a_area')) AS a_stages,
       (SELECT count(*) FROM esqase.matter_types WHERE id = t.id('rls_a_type')) AS a_type,
       (SELECT count(*) FROM esqase.members WHERE firm_id = t.id('firm_a')) AS a_members,
       (SELECT count(*) FROM esqase.contact_refs WHERE id = t.id('rls_a_contact')) AS a_contact_ref,
       (SELECT count(*) FROM esqase.member_refs WHERE firm_id = t.id('firm_a')) AS a_member_refs;
-- UPDATE of A's rows affects none.
WITH c1 AS (UPDATE esqase.contacts SET nickname = 'hijacked' WHERE firm_id = t.id('firm_a') RETURNING 1),
     c2 AS (UPDATE esqase.contacts SET nickname = 'hijacked' WHERE id = t.id('rls_a_contact') RETURNING 1),
     p AS (UPDATE esqase.practice_areas SET name = 'hijacked' WHERE id = t.id('rls_a_area') RETURNING 1),
     m AS (UPDATE esqase.matter_types SET name = 'hijacked' WHERE id = t.id('rls_a_type') RETURNING 1)
SELECT (SELECT count(*) FROM c1) AS contacts_by_firm, (SELECT count(*) FROM c2) AS contact_by_id,
       (SELECT count(*) FROM p) AS practice_area, (SELECT count(*) FROM m) AS matter_type;
-- DELETE is not granted to the API role at all.
DELETE FROM esqase.contacts WHERE id = t.id('rls_a_contact');
ROLLBACK;
-- Nor is writing stages (no API call changes them) or the firms.
BEGIN;
SELECT esqase_authenticate(token) FROM t.keys WHERE name = 'b';
UPDATE esqase.practice_area_stages SET name = 'hijacked' WHERE practice_area_id = t.id('rls_a_area');
ROLLBACK;
BEGIN;
SELECT esqase_authenticate(token) FROM t.keys WHERE name = 'b';
UPDATE esqase.firms SET name = 'hijacked';
ROLLBACK;

-- Writing a row of firm A under B's context fails the policy's check ...
BEGIN;
SELECT esqase_authenticate(token) FROM t.keys WHERE name = 'b';
INSERT INTO esqase.contacts (firm_id, type, first_name, name) VALUES (t.id('firm_a'), 'PERSON', 'Planted', '');
ROLLBACK;
BEGIN;
SELECT esqase_authenticate(token) FROM t.keys WHERE name = 'b';
INSERT INTO esqase.practice_areas (firm_id, name) VALUES (t.id('firm_a'), 'Planted');
ROLLBACK;
-- ... and moving one of B's own rows into firm A is refused (firm_id is
-- not among the columns the API role may update).
BEGIN;
SELECT esqase_authenticate(token) FROM t.keys WHERE name = 'b';
UPDATE esqase.contacts SET firm_id = t.id('firm_a') WHERE id = t.id('rls_b_contact');
ROLLBACK;
-- Without a context nothing can be written at all.
INSERT INTO esqase.contacts (firm_id, type, first_name, name) VALUES (t.id('firm_b'), 'PERSON', 'Planted', '');
-- A row of B's own firm that points at A's practice area: the foreign keys
-- include firm_id, so the reference is not found (referential checks bypass RLS).
BEGIN;
SELECT esqase_authenticate(token) FROM t.keys WHERE name = 'b';
INSERT INTO esqase.matter_types (firm_id, practice_area_id, name) VALUES (t.id('firm_b'), t.id('rls_a_area'), 'Planted');
ROLLBACK;
-- The supported path for B's own rows still works under RLS.
BEGIN;
SELECT esqase_authenticate(token) FROM t.keys WHERE name = 'b';
WITH i AS (INSERT INTO esqase.matter_types (firm_id, practice_area_id, name)
           VALUES (t.id('firm_b'), t.id('rls_b_area'), 'Direct') RETURNING 1),
     u AS (UPDATE esqase.contacts SET nickname = 'own' WHERE id = t.id('rls_b_contact') RETURNING 1)
SELECT (SELECT count(*) FROM i) AS inserted, (SELECT count(*) FROM u) AS updated;
ROLLBACK;

-- Matters and leads: B can neither reach A's nor point at A's records.
INSERT INTO t.ids SELECT 'rls_a_matter', (t.api('a', format($$esqase_matters_create('{"practiceAreaId": "%s",
    "openDate": "2026-07-01", "title": "A only matter", "clientContactIds": ["%s"],
    "team": [{"memberId": "%s", "role": "Lead"}]}')$$, t.id('rls_a_area'), t.id('rls_a_contact'), t.id('a_owner'))) #>> '{data,id}')::uuid;
INSERT INTO t.ids SELECT 'rls_a_lead', (t.api('a', $$esqase_leads_create('{"type": "PERSON", "firstName": "Lee", "lastName": "OfA"}')$$) #>> '{data,id}')::uuid;
INSERT INTO t.ids SELECT 'rls_b_matter', (t.api('b', format($$esqase_matters_create('{"practiceAreaId": "%s",
    "openDate": "2026-07-01", "title": "B only matter"}')$$, t.id('rls_b_area'))) #>> '{data,id}')::uuid;
INSERT INTO t.ids SELECT 'rls_b_lead', (t.api('b', $$esqase_leads_create('{"type": "COMPANY", "companyName": "B Lead Co"}')$$) #>> '{data,id}')::uuid;
RESET ROLE;
INSERT INTO t.ids SELECT 'rls_a_stage', id FROM esqase.practice_area_stages WHERE practice_area_id = t.id('rls_a_area') AND "order" = 1;
INSERT INTO t.ids SELECT 'rls_a_lead_stage', id FROM esqase.lead_stages WHERE firm_id = t.id('firm_a') AND "order" = 1;
SET ROLE esqase_api;
SELECT count(*) AS ids_made FROM t.ids WHERE name ~ '^rls_.*(matter|lead|stage)' AND id IS NOT NULL;
SELECT t.unid(expr) AS call, t.err('b', expr) FROM (VALUES
    (format('esqase_matters_get(%L)', t.id('rls_a_matter'))),
    (format($$esqase_matters_update(%L, '{"title": "Hijacked"}')$$, t.id('rls_a_matter'))),
    (format('esqase_matters_delete(%L)', t.id('rls_a_matter'))),
    (format('esqase_leads_get(%L)', t.id('rls_a_lead'))),
    (format($$esqase_leads_update(%L, '{"value": "HIGH"}')$$, t.id('rls_a_lead'))),
    (format('esqase_leads_delete(%L)', t.id('rls_a_lead'))),
    (format($$esqase_matters_create('{"practiceAreaId": "%s", "openDate": "2026-07-01"}')$$, t.id('rls_a_area'))),
    (format($$esqase_matters_create('{"practiceAreaId": "%s", "openDate": "2026-07-01", "practiceAreaStageColumnId": "%s"}')$$,
            t.id('rls_b_area'), t.id('rls_a_stage'))),
    (format($$esqase_matters_create('{"practiceAreaId": "%s", "openDate": "2026-07-01", "matterTypeId": "%s"}')$$,
            t.id('rls_b_area'), t.id('rls_a_type'))),
    (format($$esqase_matters_create('{"practiceAreaId": "%s", "openDate": "2026-07-01", "clientContactIds": ["%s"]}')$$,
            t.id('rls_b_area'), t.id('rls_a_contact'))),
    (format($$esqase_matters_create('{"practiceAreaId": "%s", "openDate": "2026-07-01", "team": [{"memberId": "%s"}]}')$$,
            t.id('rls_b_area'), t.id('a_owner'))),
    (format($$esqase_matters_update(%L, '{"clientContactIds": ["%s"]}')$$, t.id('rls_b_matter'), t.id('rls_a_contact'))),
    (format($$esqase_matters_update(%L, '{"practiceAreaId": "%s"}')$$, t.id('rls_b_matter'), t.id('rls_a_area'))),
    (format($$esqase_leads_create('{"type": "PERSON", "firstName": "X", "practiceAreaId": "%s"}')$$, t.id('rls_a_area'))),
    (format($$esqase_leads_create('{"type": "PERSON", "firstName": "X", "leadStageColumnId": "%s"}')$$, t.id('rls_a_lead_stage'))),
    (format($$esqase_leads_create('{"type": "PERSON", "firstName": "X", "assigneeIds": ["%s"]}')$$, t.id('a_owner'))),
    (format($$esqase_leads_update(%L, '{"assigneeIds": ["%s"]}')$$, t.id('rls_b_lead'), t.id('a_lawyer')))
) AS cases(expr);
-- A's matter and lead are untouched; B's lists hold only B's.
SELECT t.api('a', format('esqase_matters_get(%L)', t.id('rls_a_matter'))) #>> '{data,title}' AS a_matter,
       jsonb_array_length(t.api('a', format('esqase_matters_get(%L)', t.id('rls_a_matter'))) #> '{data,clients}') AS a_clients,
       t.api('a', format('esqase_leads_get(%L)', t.id('rls_a_lead'))) #>> '{data,value}' IS NULL AS a_lead_value_unset;
SELECT r AS resource,
       NOT EXISTS (SELECT FROM jsonb_array_elements(l -> 'data') e
                    WHERE (e ->> 'id')::uuid IN (t.id('rls_a_matter'), t.id('rls_a_lead'))) AS none_of_a,
       EXISTS (SELECT FROM jsonb_array_elements(l -> 'data') e
                WHERE (e ->> 'id')::uuid IN (t.id('rls_b_matter'), t.id('rls_b_lead'))) AS has_own
  FROM (SELECT r, t.api('b', format('esqase_%s_list(%L)', r, '{"limit": 200}')) AS l
          FROM unnest(ARRAY['matters', 'leads']) AS r) x ORDER BY 1;
-- Through the tables under B's context: link rows pointing at A's records
-- break the firm_id foreign keys; A's link rows cannot be updated or deleted
-- (the API role may delete from the link tables of its own firm only).
BEGIN;
SELECT esqase_authenticate(token) FROM t.keys WHERE name = 'b';
INSERT INTO esqase.matter_clients (firm_id, matter_id, contact_id, position)
VALUES (t.id('firm_b'), t.id('rls_b_matter'), t.id('rls_a_contact'), 5);
ROLLBACK;
BEGIN;
SELECT esqase_authenticate(token) FROM t.keys WHERE name = 'b';
INSERT INTO esqase.matter_team (firm_id, matter_id, member_id, position)
VALUES (t.id('firm_b'), t.id('rls_b_matter'), t.id('a_owner'), 5);
ROLLBACK;
BEGIN;
SELECT esqase_authenticate(token) FROM t.keys WHERE name = 'b';
INSERT INTO esqase.lead_assignees (firm_id, lead_id, member_id, position)
VALUES (t.id('firm_b'), t.id('rls_b_lead'), t.id('a_owner'), 5);
ROLLBACK;
BEGIN;
SELECT esqase_authenticate(token) FROM t.keys WHERE name = 'b';
INSERT INTO esqase.matter_clients (firm_id, matter_id, contact_id, position)
VALUES (t.id('firm_a'), t.id('rls_a_matter'), t.id('rls_a_contact'), 5);
ROLLBACK;
BEGIN;
SELECT esqase_authenticate(token) FROM t.keys WHERE name = 'b';
WITH mc AS (DELETE FROM esqase.matter_clients WHERE matter_id = t.id('rls_a_matter') RETURNING 1),
     mt AS (DELETE FROM esqase.matter_team WHERE matter_id = t.id('rls_a_matter') RETURNING 1),
     la AS (DELETE FROM esqase.lead_assignees WHERE lead_id = t.id('rls_a_lead') RETURNING 1),
     m AS (UPDATE esqase.matters SET title = 'hijacked' WHERE id = t.id('rls_a_matter') RETURNING 1),
     l AS (UPDATE esqase.leads SET value = 'HIGH' WHERE id = t.id('rls_a_lead') RETURNING 1)
SELECT (SELECT count(*) FROM mc) AS matter_clients_deleted, (SELECT count(*) FROM mt) AS matter_team_deleted,
       (SELECT count(*) FROM la) AS lead_assignees_deleted, (SELECT count(*) FROM m) AS matters_updated,
       (SELECT count(*) FROM l) AS leads_updated;
ROLLBACK;
RESET ROLE;
SELECT (SELECT count(*) FROM esqase.matter_clients WHERE matter_id = t.id('rls_a_matter')) AS a_matter_clients,
       (SELECT count(*) FROM esqase.matter_team WHERE matter_id = t.id('rls_a_matter')) AS a_matter_team,
       (SELECT count(*) FROM esqase.lead_assignees WHERE lead_id = t.id('rls_a_lead')) AS a_lead_assignees;
SET ROLE esqase_api;

-- The API functions filter by firm themselves, not only through RLS: run by
-- the superuser (who bypasses RLS), B's key still gets 404 for A's records
-- and lists and counts only B's.
RESET ROLE;
SELECT rolsuper AS running_as_superuser FROM pg_roles WHERE rolname = current_user;
SELECT t.unid(expr) AS call, t.err('b', expr) FROM (VALUES
    (format('esqase_contacts_get(%L)', t.id('rls_a_contact'))),
    (format($$esqase_contacts_update(%L, '{"lastName": "Hijacked"}')$$, t.id('rls_a_contact'))),
    (format('esqase_contacts_delete(%L)', t.id('rls_a_contact'))),
    (format('esqase_practice_areas_get(%L)', t.id('rls_a_area'))),
    (format($$esqase_practice_areas_update(%L, '{"name": "Hijacked"}')$$, t.id('rls_a_area'))),
    (format('esqase_practice_areas_delete(%L)', t.id('rls_a_area'))),
    (format('esqase_matter_types_get(%L)', t.id('rls_a_type'))),
    (format($$esqase_matter_types_update(%L, '{"name": "Hijacked"}')$$, t.id('rls_a_type'))),
    (format('esqase_matter_types_delete(%L)', t.id('rls_a_type'))),
    (format($$esqase_matter_types_list('{"practiceAreaId": "%s"}')$$, t.id('rls_a_area'))),
    (format($$esqase_matter_types_create('{"practiceAreaId": "%s", "name": "Sneaky"}')$$, t.id('rls_a_area'))),
    (format('esqase_matters_get(%L)', t.id('rls_a_matter'))),
    (format($$esqase_matters_update(%L, '{"title": "Hijacked"}')$$, t.id('rls_a_matter'))),
    (format('esqase_matters_delete(%L)', t.id('rls_a_matter'))),
    (format($$esqase_matters_create('{"practiceAreaId": "%s", "openDate": "2026-07-01", "clientContactIds": ["%s"]}')$$,
            t.id('rls_b_area'), t.id('rls_a_contact'))),
    (format('esqase_leads_get(%L)', t.id('rls_a_lead'))),
    (format($$esqase_leads_update(%L, '{"value": "HIGH"}')$$, t.id('rls_a_lead'))),
    (format('esqase_leads_delete(%L)', t.id('rls_a_lead')))
) AS cases(expr);
SELECT r AS resource,
       (l #>> '{pagination,total}')::int
         = (xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM esqase.%I WHERE deleted_at IS NULL AND firm_id = %L',
                   r, t.id('firm_b')), false, true, '')))[1]::text::int AS total_is_bs,
       NOT EXISTS (SELECT FROM jsonb_array_elements(l -> 'data') e
                    WHERE (e ->> 'id')::uuid IN (SELECT id FROM t.ids WHERE name LIKE 'rls\_a\_%')) AS none_of_a
  FROM (SELECT r, t.api('b', format('esqase_%s_list(%L)', r, '{"limit": 200}')) AS l
          FROM unnest(ARRAY['contacts', 'practice_areas', 'matters', 'leads']) AS r) x
 ORDER BY 1;
SET ROLE esqase_api;

-- Turning row_security off does not lift it for the API role: its queries
-- on the tables fail instead (and a bulk COPY into them is refused).
SET row_security = off;
SELECT count(*) FROM esqase.contacts;
\copy esqase.contacts (firm_id, type, company_name, name) from '/dev/null'
BEGIN;
SELECT esqase_authenticate(token) FROM t.keys WHERE name = 'b';
SELECT count(*) FROM esqase.contacts;
ROLLBACK;
RESET row_security;

-- A role that is granted DELETE still deletes nothing of firm A under B's
-- context (its own row it can; all rolled back).
RESET ROLE;
CREATE ROLE esqase_rls_probe NOSUPERUSER NOBYPASSRLS;
GRANT USAGE ON SCHEMA esqase TO esqase_rls_probe;
GRANT SELECT, UPDATE, DELETE ON esqase.contacts TO esqase_rls_probe;
-- (the contacts policy asks whether a contact is a matter client or a lead's)
GRANT SELECT ON esqase.matter_clients, esqase.leads TO esqase_rls_probe;
SET ROLE esqase_rls_probe;
BEGIN;
SELECT esqase_authenticate(token) FROM t.keys WHERE name = 'b';
WITH d1 AS (DELETE FROM esqase.contacts WHERE firm_id = t.id('firm_a') RETURNING 1),
     d2 AS (DELETE FROM esqase.contacts WHERE id = t.id('rls_a_contact') RETURNING 1),
     u AS (UPDATE esqase.contacts SET nickname = 'hijacked' WHERE firm_id = t.id('firm_a') RETURNING 1),
     own AS (DELETE FROM esqase.contacts WHERE id = t.id('rls_b_contact') RETURNING 1)
SELECT (SELECT count(*) FROM d1) AS deleted_by_firm, (SELECT count(*) FROM d2) AS deleted_by_id,
       (SELECT count(*) FROM u) AS updated, (SELECT count(*) FROM own) AS own_row_deleted;
ROLLBACK;
RESET ROLE;
SELECT count(*) AS a_contact_still_there FROM esqase.contacts WHERE id = t.id('rls_a_contact') AND nickname IS NULL;
SELECT count(*) AS a_rows_named_hijacked FROM esqase.practice_areas WHERE name = 'hijacked';
DROP OWNED BY esqase_rls_probe;
DROP ROLE esqase_rls_probe;
