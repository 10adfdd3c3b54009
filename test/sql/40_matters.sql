-- Matters: create, read, update, list, delete; every rule of issue 3 and
-- every error path; the audit rows each write leaves.
\set VERBOSITY terse

SET ROLE esqase_api;

-- Fixtures: two practice areas (and one deleted), their stages, matter
-- types, contacts (one deleted), and a practice area and contact in firm B.
INSERT INTO t.ids SELECT 'm_family', (t.api('a', $$esqase_practice_areas_create('{"name": "Family law"}')$$) #>> '{data,id}')::uuid;
INSERT INTO t.ids SELECT 'm_estate', (t.api('a', $$esqase_practice_areas_create('{"name": "Real estate"}')$$) #>> '{data,id}')::uuid;
INSERT INTO t.ids SELECT 'm_gone_area', (t.api('a', $$esqase_practice_areas_create('{"name": "Maritime"}')$$) #>> '{data,id}')::uuid;
SELECT t.err('a', t.ml_call('esqase_practice_areas_delete', '{m_gone_area}')) AS area_deleted;
INSERT INTO t.ids SELECT 'm_fam_' || (s ->> 'order'), (s ->> 'id')::uuid
  FROM jsonb_array_elements(t.api('a', t.ml_call('esqase_practice_areas_get', '{m_family}')) #> '{data,stages}') s;
INSERT INTO t.ids SELECT 'm_est_' || (s ->> 'order'), (s ->> 'id')::uuid
  FROM jsonb_array_elements(t.api('a', t.ml_call('esqase_practice_areas_get', '{m_estate}')) #> '{data,stages}') s;
INSERT INTO t.ids SELECT 'm_divorce', (t.api('a', t.ml_call('esqase_matter_types_create', '{"practiceAreaId": "{m_family}", "name": "Divorce"}')) #>> '{data,id}')::uuid;
INSERT INTO t.ids SELECT 'm_custody', (t.api('a', t.ml_call('esqase_matter_types_create', '{"practiceAreaId": "{m_family}", "name": "Custody"}')) #>> '{data,id}')::uuid;
INSERT INTO t.ids SELECT 'm_lease', (t.api('a', t.ml_call('esqase_matter_types_create', '{"practiceAreaId": "{m_estate}", "name": "Lease"}')) #>> '{data,id}')::uuid;
INSERT INTO t.ids SELECT 'm_jane', (t.api('a', $$esqase_contacts_create('{"type": "PERSON", "firstName": "Jane", "lastName": "Doe"}')$$) #>> '{data,id}')::uuid;
INSERT INTO t.ids SELECT 'm_acme', (t.api('a', $$esqase_contacts_create('{"type": "COMPANY", "companyName": "Acme Holdings"}')$$) #>> '{data,id}')::uuid;
INSERT INTO t.ids SELECT 'm_gone_contact', (t.api('a', $$esqase_contacts_create('{"type": "PERSON", "lastName": "Gone"}')$$) #>> '{data,id}')::uuid;
SELECT t.err('a', t.ml_call('esqase_contacts_delete', '{m_gone_contact}')) AS contact_deleted;
INSERT INTO t.ids SELECT 'm_b_area', (t.api('b', $$esqase_practice_areas_create('{"name": "B law"}')$$) #>> '{data,id}')::uuid;
INSERT INTO t.ids SELECT 'm_b_contact', (t.api('b', $$esqase_contacts_create('{"type": "PERSON", "lastName": "Bee"}')$$) #>> '{data,id}')::uuid;
SELECT count(*) AS fixtures FROM t.ids WHERE name LIKE 'm\_%' AND id IS NOT NULL;

-- The spec's example (real ids): practice area, open date, title, a
-- starting stage and a primary client.  publicId M-0001: the first of firm A.
SELECT t.show('a', t.ml_call('esqase_matters_create', '{
    "practiceAreaId": "{m_family}",
    "openDate": "2026-07-01",
    "title": "Doe v. Acme Holdings",
    "practiceAreaStageColumnId": "{m_fam_0}",
    "clientContactIds": ["{m_jane}"]}'));
INSERT INTO t.ids SELECT 'm_doe', (t.api('a', 'esqase_matters_list()') #>> '{data,0,id}')::uuid;
-- The ids in the response are the ones sent.
SELECT d #>> '{practiceArea,id}' = t.id('m_family')::text AS area,
       d #>> '{stage,id}' = t.id('m_fam_0')::text AS stage,
       d #>> '{clients,0,id}' = t.id('m_jane')::text AS client
  FROM (SELECT t.api('a', t.ml_call('esqase_matters_get', '{m_doe}')) -> 'data' AS d) x;

-- Only the two required fields: title "Untitled matter", the practice
-- area's first stage, status ACTIVE, no clients, no team, no matter type.
SELECT t.show('a', t.ml_call('esqase_matters_create', '{"practiceAreaId": "{m_estate}", "openDate": "2026-01-31"}'));
-- A blank title is "Untitled matter" too; titles are trimmed.
-- (One statement each: matters created in one transaction share createdAt.)
SELECT t.api('a', t.ml_call('esqase_matters_create', '{"practiceAreaId": "{m_estate}", "openDate": "2026-01-31", "title": "   "}')) #>> '{data,title}' AS blank_title;
SELECT t.api('a', t.ml_call('esqase_matters_create', '{"practiceAreaId": "{m_estate}", "openDate": "2026-01-31", "title": null}')) #>> '{data,title}' AS null_title;
SELECT t.api('a', t.ml_call('esqase_matters_create', '{"practiceAreaId": "{m_estate}", "openDate": "2026-01-31", "title": "  Lease review "}')) #>> '{data,title}' AS trimmed;

-- Every field: a DRAFT with a matter type, dates, two clients (the first is
-- the primary client) and a team.
SELECT t.show('a', t.ml_call('esqase_matters_create', '{
    "practiceAreaId": "{m_family}", "practiceAreaStageColumnId": "{m_fam_1}", "matterTypeId": "{m_divorce}",
    "openDate": "2026-02-01", "closeDate": "2026-12-31", "solDate": "2028-02-01",
    "title": "Roe divorce", "description": "Uncontested.", "status": "DRAFT",
    "clientContactIds": ["{m_acme}", "{m_jane}"],
    "team": [{"memberId": "{a_lawyer}", "role": "Lead counsel", "allocation": 62.5},
             {"memberId": "{a_clerk}", "role": "Paralegal", "allocation": 37.5},
             {"memberId": "{a_owner}"}]}'));
INSERT INTO t.ids SELECT 'm_roe', (t.api('a', 'esqase_matters_list()') #>> '{data,-1,id}')::uuid;
-- The first client is primary and the bill recipient (as stored).
RESET ROLE;
SELECT c.name, mc.position, mc.is_primary, mc.is_bill_recipient
  FROM esqase.matter_clients mc JOIN esqase.contacts c ON c.id = mc.contact_id
 WHERE mc.matter_id = t.id('m_roe') ORDER BY mc.position;
SELECT m.name, mt.position, mt.role, mt.allocation
  FROM esqase.matter_team mt JOIN esqase.members m ON m.id = mt.member_id
 WHERE mt.matter_id = t.id('m_roe') ORDER BY mt.position;
SET ROLE esqase_api;

-- Create errors: each is a 422 (23514) naming its field, except a body that
-- is not an object (400), a key without the scope (403) and no key (401).
SELECT body AS call, t.err('a', t.ml_call('esqase_matters_create', body)) FROM (VALUES
    ('{}'),
    ('{"openDate": "2026-07-01"}'),
    ('{"practiceAreaId": "{m_family}"}'),
    ('{"practiceAreaId": "{m_family}", "openDate": null}'),
    ('{"practiceAreaId": "{m_family}", "openDate": "2026-7-1"}'),
    ('{"practiceAreaId": "{m_family}", "openDate": "07/01/2026"}'),
    ('{"practiceAreaId": "{m_family}", "openDate": "2026-02-30"}'),
    ('{"practiceAreaId": "{m_family}", "openDate": "2026-07-01T00:00:00Z"}'),
    ('{"practiceAreaId": "{m_family}", "openDate": 20260701}'),
    ('{"practiceAreaId": "{m_family}", "openDate": "2026-07-01", "closeDate": "2026-06-30"}'),
    ('{"practiceAreaId": "{m_family}", "openDate": "2026-07-01", "closeDate": "2026-13-01"}'),
    ('{"practiceAreaId": "{m_family}", "openDate": "2026-07-01", "solDate": "tomorrow"}'),
    ('{"practiceAreaId": "not-a-uuid", "openDate": "2026-07-01"}'),
    ('{"practiceAreaId": "00000000-0000-4000-8000-000000000000", "openDate": "2026-07-01"}'),
    ('{"practiceAreaId": "{m_b_area}", "openDate": "2026-07-01"}'),
    ('{"practiceAreaId": "{m_gone_area}", "openDate": "2026-07-01"}'),
    ('{"practiceAreaId": "{m_family}", "openDate": "2026-07-01", "practiceAreaStageColumnId": "{m_est_0}"}'),
    ('{"practiceAreaId": "{m_family}", "openDate": "2026-07-01", "practiceAreaStageColumnId": "00000000-0000-4000-8000-000000000000"}'),
    ('{"practiceAreaId": "{m_family}", "openDate": "2026-07-01", "matterTypeId": "{m_lease}"}'),
    ('{"practiceAreaId": "{m_family}", "openDate": "2026-07-01", "matterTypeId": "{m_family}"}'),
    ('{"practiceAreaId": "{m_family}", "openDate": "2026-07-01", "status": "ARCHIVE"}'),
    ('{"practiceAreaId": "{m_family}", "openDate": "2026-07-01", "status": "active"}'),
    ('{"practiceAreaId": "{m_family}", "openDate": "2026-07-01", "title": 42}'),
    ('{"practiceAreaId": "{m_family}", "openDate": "2026-07-01", "clientContactIds": "{m_jane}"}'),
    ('{"practiceAreaId": "{m_family}", "openDate": "2026-07-01", "clientContactIds": ["{m_jane}", "{m_jane}"]}'),
    ('{"practiceAreaId": "{m_family}", "openDate": "2026-07-01", "clientContactIds": ["Jane Doe"]}'),
    ('{"practiceAreaId": "{m_family}", "openDate": "2026-07-01", "clientContactIds": ["{m_jane}", "{m_b_contact}"]}'),
    ('{"practiceAreaId": "{m_family}", "openDate": "2026-07-01", "clientContactIds": ["{m_gone_contact}"]}'),
    ('{"practiceAreaId": "{m_family}", "openDate": "2026-07-01", "team": {"memberId": "{a_owner}"}}'),
    ('{"practiceAreaId": "{m_family}", "openDate": "2026-07-01", "team": ["{a_owner}"]}'),
    ('{"practiceAreaId": "{m_family}", "openDate": "2026-07-01", "team": [{"role": "Lead"}]}'),
    ('{"practiceAreaId": "{m_family}", "openDate": "2026-07-01", "team": [{"memberId": "{b_owner}"}]}'),
    ('{"practiceAreaId": "{m_family}", "openDate": "2026-07-01", "team": [{"memberId": "{a_owner}"}, {"memberId": "{a_owner}"}]}'),
    ('{"practiceAreaId": "{m_family}", "openDate": "2026-07-01", "team": [{"memberId": "{a_owner}", "allocation": 101}]}'),
    ('{"practiceAreaId": "{m_family}", "openDate": "2026-07-01", "team": [{"memberId": "{a_owner}", "allocation": -1}]}'),
    ('{"practiceAreaId": "{m_family}", "openDate": "2026-07-01", "team": [{"memberId": "{a_owner}", "allocation": "50"}]}'),
    ('{"practiceAreaId": "{m_family}", "openDate": "2026-07-01", "team": [{"memberId": "{a_owner}", "allocation": 33.333}]}'),
    ('{"practiceAreaId": "{m_family}", "openDate": "2026-07-01", "team": [{"memberId": "{a_owner}", "allocation": 60}, {"memberId": "{a_clerk}", "allocation": 40.5}]}'),
    ('{"practiceAreaId": "{m_family}", "openDate": "2026-07-01", "team": [{"memberId": "{a_owner}", "role": 7}]}'),
    ('{"practiceAreaId": "{m_family}", "openDate": "2026-07-01", "team": [{"memberId": "{a_owner}", "hours": 7}]}'),
    ('{"practiceAreaId": "{m_family}", "openDate": "2026-07-01", "publicId": "M-0999"}'),
    ('{"practiceAreaId": "{m_family}", "openDate": "2026-07-01", "colour": "red"}'),
    ('[]'),
    ('"matter"')
) AS cases(body);
SELECT t.err('a', 'esqase_matters_create(NULL)') AS null_body,
       t.err('a_read', t.ml_call('esqase_matters_create', '{"practiceAreaId": "{m_family}", "openDate": "2026-07-01"}')) AS read_only_key,
       t.err(NULL, t.ml_call('esqase_matters_create', '{"practiceAreaId": "{m_family}", "openDate": "2026-07-01"}')) AS no_key,
       t.err(NULL, 'esqase_matters_list()') AS list_no_key;

-- Failed creates leave nothing behind and use up no public id: the next is M-0007.
SELECT t.api('a', t.ml_call('esqase_matters_create', '{"practiceAreaId": "{m_family}", "openDate": "2026-07-01", "title": "Sixth"}')) #>> '{data,publicId}' AS next_public_id;
SELECT t.api('a', 'esqase_matters_list()') #> '{pagination}' AS pagination;
SELECT jsonb_path_query_array(t.api('a', 'esqase_matters_list()'), '$.data[*].publicId') AS public_ids;

-- Paging: limit and offset, in creation order.
SELECT t.api('a', $$esqase_matters_list('{"limit": 2, "offset": 1}')$$) -> 'pagination' AS pagination,
       jsonb_path_query_array(t.api('a', $$esqase_matters_list('{"limit": 2, "offset": 1}')$$), '$.data[*].publicId') AS page,
       t.api('a', $$esqase_matters_list('{"limit": "500"}')$$) #> '{pagination,limit}' AS clamped;
SELECT t.err('a', $$esqase_matters_list('{"limit": 0}')$$) AS limit_0,
       t.err('a', $$esqase_matters_list('{"offset": -1}')$$) AS offset_neg,
       t.err('a', $$esqase_matters_list('{"color": "red"}')$$) AS unknown_param;

-- Read errors; firm B sees none of firm A's matters.
SELECT t.err('a', 'esqase_matters_get(''00000000-0000-4000-8000-000000000000'')') AS unknown,
       t.err('a', 'esqase_matters_get(''M-0001'')') AS not_a_uuid,
       t.err('b', t.ml_call('esqase_matters_get', '{m_doe}')) AS other_firm,
       t.err('b', t.ml_call('esqase_matters_update', '{m_doe}', '{"title": "Mine"}')) AS other_firm_update,
       t.err('b', t.ml_call('esqase_matters_delete', '{m_doe}')) AS other_firm_delete,
       t.api('b', 'esqase_matters_list()') AS b_list;

-- Update: only the fields sent change.
SELECT t.show('a', t.ml_call('esqase_matters_update', '{m_doe}', '{"title": "Doe v. Acme Holdings LLC",
    "description": "Filed in county court.", "solDate": "2029-07-01", "status": "ARCHIVE"}'));
SELECT t.unid((t.api('a', t.ml_call('esqase_matters_update', '{m_doe}', '{"description": null, "status": "ACTIVE", "title": ""}')) -> 'data')::text) AS cleared;
-- A stage of the same practice area.
SELECT t.api('a', t.ml_call('esqase_matters_update', '{m_doe}', '{"practiceAreaStageColumnId": "{m_fam_2}"}')) #>> '{data,stage,name}' AS stage;
-- A matter type, then none.
SELECT t.api('a', t.ml_call('esqase_matters_update', '{m_doe}', '{"matterTypeId": "{m_custody}"}')) #> '{data,matterType,name}' AS type_set,
       t.api('a', t.ml_call('esqase_matters_update', '{m_doe}', '{"matterTypeId": null}')) #> '{data,matterType}' AS type_cleared;
-- Another practice area without a stage: its first stage; the matter type
-- (of the old area) is cleared.
SELECT t.unid((t.api('a', t.ml_call('esqase_matters_update', '{m_roe}', '{"practiceAreaId": "{m_estate}"}')) -> 'data')::text) AS moved;
SELECT t.api('a', t.ml_call('esqase_matters_get', '{m_roe}')) #>> '{data,stage,id}' = t.id('m_est_0')::text AS first_stage_of_new_area;
-- ... and back, with a stage and a type of the new area.
SELECT t.unid((t.api('a', t.ml_call('esqase_matters_update', '{m_roe}', '{"practiceAreaId": "{m_family}",
    "practiceAreaStageColumnId": "{m_fam_1}", "matterTypeId": "{m_divorce}"}')) -> 'data')::text) AS moved_back;
-- Sending the current practice area changes nothing.
SELECT t.api('a', t.ml_call('esqase_matters_update', '{m_roe}', '{"practiceAreaId": "{m_family}"}')) #>> '{data,stage,name}' AS same_area_keeps_stage;

-- Clients and team are replaced whole: the new first client is primary.
SELECT t.show('a', t.ml_call('esqase_matters_update', '{m_roe}', '{"clientContactIds": ["{m_jane}"],
    "team": [{"memberId": "{a_clerk}", "role": "Paralegal", "allocation": 100}]}'));
RESET ROLE;
SELECT c.name, mc.position, mc.is_primary, mc.is_bill_recipient
  FROM esqase.matter_clients mc JOIN esqase.contacts c ON c.id = mc.contact_id
 WHERE mc.matter_id = t.id('m_roe') ORDER BY mc.position;
SET ROLE esqase_api;
SELECT t.unid((t.api('a', t.ml_call('esqase_matters_update', '{m_roe}', '{"clientContactIds": [], "team": null}')) -> 'data')::text) AS emptied;
SELECT jsonb_path_query_array(t.api('a', t.ml_call('esqase_matters_update', '{m_roe}',
           '{"clientContactIds": ["{m_jane}", "{m_acme}"]}')), '$.data.clients[*].name') AS clients_again;

-- Update errors.
SELECT body AS call, t.err('a', t.ml_call('esqase_matters_update', '{m_doe}', body)) FROM (VALUES
    ('{"practiceAreaId": null}'),
    ('{"practiceAreaId": "{m_gone_area}"}'),
    ('{"practiceAreaId": "{m_b_area}"}'),
    ('{"practiceAreaId": "{m_estate}", "practiceAreaStageColumnId": "{m_fam_0}"}'),
    ('{"practiceAreaStageColumnId": "{m_est_1}"}'),
    ('{"practiceAreaStageColumnId": null}'),
    ('{"matterTypeId": "{m_lease}"}'),
    ('{"practiceAreaId": "{m_estate}", "matterTypeId": "{m_divorce}"}'),
    ('{"openDate": null}'),
    ('{"openDate": "2026-7-1"}'),
    ('{"closeDate": "2026-06-30"}'),
    ('{"openDate": "2030-01-01", "closeDate": "2029-12-31"}'),
    ('{"status": "CLOSED"}'),
    ('{"status": null}'),
    ('{"clientContactIds": ["{m_gone_contact}"]}'),
    ('{"clientContactIds": ["{m_b_contact}"]}'),
    ('{"team": [{"memberId": "{a_owner}", "allocation": 70}, {"memberId": "{a_clerk}", "allocation": 31}]}'),
    ('{"publicId": "M-0100"}'),
    ('{"id": "{m_roe}"}'),
    ('{"createdAt": "2026-01-01T00:00:00Z"}'),
    ('{"practiceArea": {"id": "{m_estate}"}}'),
    ('{"clients": []}'),
    ('{"colour": "red"}'),
    ('[1]')
) AS cases(body);
-- With a close date set, an open date after it is rejected on openDate.
SELECT t.err('a', t.ml_call('esqase_matters_update', '{m_roe}', '{"openDate": "2027-01-01"}')) AS open_after_close;
-- A failed update changes nothing.
SELECT t.unid((t.api('a', t.ml_call('esqase_matters_get', '{m_doe}')) -> 'data')::text) AS unchanged;
SELECT t.err('a_read', t.ml_call('esqase_matters_update', '{m_doe}', '{"title": "X"}')) AS read_only_key,
       t.err('a', t.ml_call('esqase_matters_update', '00000000-0000-4000-8000-000000000000', '{"title": "X"}')) AS unknown;

-- A contact deleted after it became a client stays on the matter, and the
-- same list may be sent again; it cannot be added to another matter.
INSERT INTO t.ids SELECT 'm_late', (t.api('a', $$esqase_contacts_create('{"type": "PERSON", "lastName": "Late"}')$$) #>> '{data,id}')::uuid;
SELECT jsonb_path_query_array(t.api('a', t.ml_call('esqase_matters_update', '{m_roe}',
           '{"clientContactIds": ["{m_late}", "{m_jane}"]}')), '$.data.clients[*].name') AS with_late;
SELECT t.err('a', t.ml_call('esqase_contacts_delete', '{m_late}')) AS late_deleted;
SELECT jsonb_path_query_array(t.api('a', t.ml_call('esqase_matters_get', '{m_roe}')), '$.data.clients[*].name') AS still_client,
       t.err('a', t.ml_call('esqase_matters_update', '{m_roe}', '{"clientContactIds": ["{m_late}", "{m_jane}", "{m_acme}"]}')) AS resend,
       t.err('a', t.ml_call('esqase_matters_update', '{m_doe}', '{"clientContactIds": ["{m_late}"]}')) AS add_elsewhere;

-- The audit log: every write, with the firm, the key's member and key, the
-- role, and the old and new values.  An update that changes nothing writes
-- nothing; replacing a list deletes and inserts link rows.
SELECT t.err('a', t.ml_call('esqase_matters_update', '{m_doe}', '{"title": "Untitled matter", "status": "ACTIVE", "clientContactIds": ["{m_jane}"]}')) AS no_change,
       t.err('a', t.ml_call('esqase_matters_update', '{m_doe}', '{}')) AS empty_body;
SELECT t.err('a_lawyer', t.ml_call('esqase_matters_update', '{m_doe}', '{"clientContactIds": ["{m_acme}"]}')) AS by_lawyer;
RESET ROLE;
SELECT a.table_name, a.action, m.name AS member, a.key_id = k.id AS by_key, a.db_role,
       a.firm_id = t.id('firm_a') AS firm_a,
       CASE a.table_name WHEN 'matters' THEN coalesce(a.new_values ->> 'title', a.old_values ->> 'title')
            ELSE (SELECT name FROM esqase.contacts c
                   WHERE c.id::text = coalesce(a.new_values, a.old_values) ->> 'contact_id') END AS what
  FROM esqase.audit_log a
  LEFT JOIN esqase.members m ON m.id = a.member_id
  LEFT JOIN esqase.api_keys k ON k.id = a.key_id
 WHERE a.record_id = t.id('m_doe') OR coalesce(a.new_values, a.old_values) ->> 'matter_id' = t.id('m_doe')::text
 ORDER BY a.id;
SET ROLE esqase_api;

-- Delete is soft: the archived record comes back once, then 404 everywhere.
SELECT t.show('a', t.ml_call('esqase_matters_delete', '{m_doe}'));
SELECT t.err('a', t.ml_call('esqase_matters_get', '{m_doe}')) AS get_after_delete,
       t.err('a', t.ml_call('esqase_matters_update', '{m_doe}', '{"title": "X"}')) AS update_after_delete,
       t.err('a', t.ml_call('esqase_matters_delete', '{m_doe}')) AS delete_after_delete,
       t.api('a', 'esqase_matters_list()') #> '{pagination,total}' AS total_after_delete,
       t.api('a', 'esqase_matters_list()') -> 'data' @> jsonb_build_array(jsonb_build_object('id', t.id('m_doe'))) AS listed;
-- The row stays, archived, with its clients; and it is audited.
RESET ROLE;
SELECT public_id, status, deleted_at IS NOT NULL AS deleted,
       (SELECT count(*) FROM esqase.matter_clients WHERE matter_id = m.id) AS clients
  FROM esqase.matters m WHERE id = t.id('m_doe');
SELECT action, old_values ->> 'deleted_at' IS NULL AND new_values ->> 'deleted_at' IS NOT NULL AS soft_deleted
  FROM esqase.audit_log WHERE record_id = t.id('m_doe') ORDER BY id DESC LIMIT 1;

-- Matters are searchable as soon as they are created (title, description, publicId).
SELECT public_id, title FROM esqase.matters WHERE search @@ plainto_tsquery('simple', 'roe divorce');
SELECT public_id FROM esqase.matters WHERE search @@ plainto_tsquery('simple', 'M-0006');

-- Without a key's context the API role sees no rows at all (RLS).
SET ROLE esqase_api;
SELECT count(*) AS rows_without_context FROM esqase.matters;
RESET ROLE;

-- publicIds keep counting past M-9999.
UPDATE esqase.public_id_counters SET last_value = 9998 WHERE firm_id = t.id('firm_a') AND kind = 'M';
SET ROLE esqase_api;
SELECT t.api('a', t.ml_call('esqase_matters_create', '{"practiceAreaId": "{m_family}", "openDate": "2026-07-01"}')) #>> '{data,publicId}' AS p9999,
       t.api('a', t.ml_call('esqase_matters_create', '{"practiceAreaId": "{m_family}", "openDate": "2026-07-01"}')) #>> '{data,publicId}' AS p10000;
-- A number already used by a matter inserted by hand is skipped.
RESET ROLE;
INSERT INTO esqase.matters (firm_id, public_id, title, open_date, practice_area_id, stage_id)
VALUES (t.id('firm_a'), 'M-10001', 'Imported by hand', '2026-07-01', t.id('m_family'), t.id('m_fam_0'));
SET ROLE esqase_api;
SELECT t.api('a', t.ml_call('esqase_matters_create', '{"practiceAreaId": "{m_family}", "openDate": "2026-07-01"}')) #>> '{data,publicId}' AS skips_m10001;
-- Firm B numbers its own matters from M-0001.
SELECT t.api('b', t.ml_call('esqase_matters_create', '{"practiceAreaId": "{m_b_area}", "openDate": "2026-07-01",
    "clientContactIds": ["{m_b_contact}"], "team": [{"memberId": "{b_owner}", "allocation": 100}]}')) #>> '{data,publicId}' AS firm_b_first;
-- Firm A's contacts and members are not firm B's.
SELECT t.err('b', t.ml_call('esqase_matters_create', '{"practiceAreaId": "{m_b_area}", "openDate": "2026-07-01", "clientContactIds": ["{m_jane}"]}')) AS a_contact,
       t.err('b', t.ml_call('esqase_matters_create', '{"practiceAreaId": "{m_b_area}", "openDate": "2026-07-01", "team": [{"memberId": "{a_owner}"}]}')) AS a_member,
       t.err('b', t.ml_call('esqase_matters_create', '{"practiceAreaId": "{m_family}", "openDate": "2026-07-01"}')) AS a_area;
