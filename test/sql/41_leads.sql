-- Leads: create (with a brand-new contact), read, update, list, delete;
-- private-lead visibility for an owner, an assignee and a third member;
-- every error path and the audit rows each write leaves.
\set VERBOSITY terse

-- Counts what a key sees: leads listed, their total, and contacts.
CREATE FUNCTION t.ml_seen(key text) RETURNS text LANGUAGE sql AS $$
    SELECT format('%s: listed %s, total %s', key,
                  jsonb_array_length(t.api(key, 'esqase_leads_list()') -> 'data'),
                  t.api(key, 'esqase_leads_list()') #> '{pagination,total}')
$$;

-- Every firm starts with the lead pipeline New, Contacted, Consultation
-- scheduled, Proposal sent (seeded by the firm trigger).
SELECT name, "order" FROM esqase.lead_stages WHERE firm_id = t.id('firm_a') ORDER BY "order";
INSERT INTO t.ids SELECT 'l_stage_' || "order", id FROM esqase.lead_stages WHERE firm_id = t.id('firm_a');
INSERT INTO t.ids SELECT 'l_b_stage', id FROM esqase.lead_stages WHERE firm_id = t.id('firm_b') AND "order" = 0;
SET ROLE esqase_api;
INSERT INTO t.ids SELECT 'l_family', (t.api('a', $$esqase_practice_areas_create('{"name": "Family law (leads)"}')$$) #>> '{data,id}')::uuid;
INSERT INTO t.ids SELECT 'l_gone_area', (t.api('a', $$esqase_practice_areas_create('{"name": "Gone (leads)"}')$$) #>> '{data,id}')::uuid;
SELECT t.err('a', t.ml_call('esqase_practice_areas_delete', '{l_gone_area}')) AS area_deleted;
INSERT INTO t.ids SELECT 'l_b_area', (t.api('b', $$esqase_practice_areas_create('{"name": "B leads"}')$$) #>> '{data,id}')::uuid;
CREATE TEMP TABLE contacts_before AS
    SELECT (t.api('a', 'esqase_contacts_list()') #>> '{pagination,total}')::int AS n;

-- The spec's example (real ids): a PERSON prospect with one email and one
-- phone.  publicId L-0001, status PENDING, the first lead stage, and the
-- key's member as the assignee.
SELECT t.show('a', t.ml_call('esqase_leads_create', '{
    "type": "PERSON",
    "firstName": "Jane",
    "lastName": "Doe",
    "email": "jane@example.com",
    "phone": "+1-555-0100",
    "practiceAreaId": "{l_family}",
    "value": "HIGH"}'));
INSERT INTO t.ids SELECT 'l_jane', (t.api('a', 'esqase_leads_list()') #>> '{data,0,id}')::uuid;
INSERT INTO t.ids SELECT 'l_jane_contact', (t.api('a', t.ml_call('esqase_leads_get', '{l_jane}')) #>> '{data,contact,id}')::uuid;
SELECT d ->> 'leadStageColumnId' = t.id('l_stage_0')::text AS first_stage,
       d #>> '{practiceArea,id}' = t.id('l_family')::text AS area,
       d #>> '{assignees,0,id}' = t.id('a_owner')::text AS assigned_to_key_member
  FROM (SELECT t.api('a', t.ml_call('esqase_leads_get', '{l_jane}')) -> 'data' AS d) x;
-- The brand-new contact is a real contact: email and phone became its lists.
SELECT (t.api('a', t.ml_call('esqase_contacts_get', '{l_jane_contact}')) -> 'data')
       - 'id' - 'createdAt' - 'updatedAt' AS contact;

-- A COMPANY prospect, private, in a chosen stage, with two assignees; no
-- email, phone, practice area or value.
SELECT t.show('a', t.ml_call('esqase_leads_create', '{"type": "COMPANY", "companyName": "Acme Holdings",
    "tradeName": "Acme", "leadStageColumnId": "{l_stage_2}", "isPrivate": true,
    "assigneeIds": ["{a_lawyer}", "{a_owner}"]}'));
INSERT INTO t.ids SELECT 'l_acme', (t.api('a', 'esqase_leads_list()') #>> '{data,1,id}')::uuid;

-- Create errors: 422 naming the field (400 for a body that is not an object).
SELECT body AS call, t.err('a', t.ml_call('esqase_leads_create', body)) FROM (VALUES
    ('{}'),
    ('{"firstName": "X"}'),
    ('{"type": "ROBOT", "firstName": "X"}'),
    ('{"type": "PERSON"}'),
    ('{"type": "PERSON", "firstName": " "}'),
    ('{"type": "COMPANY", "firstName": "X"}'),
    ('{"type": "PERSON", "firstName": "X", "companyName": "Y"}'),
    ('{"type": "PERSON", "firstName": "X", "emails": ["x@example.com"]}'),
    ('{"type": "PERSON", "firstName": "X", "email": "not-an-email"}'),
    ('{"type": "PERSON", "firstName": "X", "email": ["x@example.com"]}'),
    ('{"type": "PERSON", "firstName": "X", "phone": ""}'),
    ('{"type": "PERSON", "firstName": "X", "phone": 5550100}'),
    ('{"type": "PERSON", "firstName": "X", "practiceAreaId": "00000000-0000-4000-8000-000000000000"}'),
    ('{"type": "PERSON", "firstName": "X", "practiceAreaId": "{l_b_area}"}'),
    ('{"type": "PERSON", "firstName": "X", "practiceAreaId": "{l_gone_area}"}'),
    ('{"type": "PERSON", "firstName": "X", "practiceAreaId": "Family law"}'),
    ('{"type": "PERSON", "firstName": "X", "leadStageColumnId": "{l_b_stage}"}'),
    ('{"type": "PERSON", "firstName": "X", "leadStageColumnId": "{l_family}"}'),
    ('{"type": "PERSON", "firstName": "X", "value": "MEDIUM-HIGH"}'),
    ('{"type": "PERSON", "firstName": "X", "value": "high"}'),
    ('{"type": "PERSON", "firstName": "X", "isPrivate": "yes"}'),
    ('{"type": "PERSON", "firstName": "X", "isPrivate": null}'),
    ('{"type": "PERSON", "firstName": "X", "assigneeIds": "{a_owner}"}'),
    ('{"type": "PERSON", "firstName": "X", "assigneeIds": ["{b_owner}"]}'),
    ('{"type": "PERSON", "firstName": "X", "assigneeIds": ["{a_owner}", "{a_owner}"]}'),
    ('{"type": "PERSON", "firstName": "X", "assigneeIds": ["{l_jane_contact}"]}'),
    ('{"type": "PERSON", "firstName": "X", "status": "WON"}'),
    ('{"type": "PERSON", "firstName": "X", "contactId": "{l_jane_contact}"}'),
    ('{"type": "PERSON", "firstName": "X", "publicId": "L-0100"}'),
    ('[]')
) AS cases(body);
SELECT t.err('a', 'esqase_leads_create(NULL)') AS null_body,
       t.err('a_read', $$esqase_leads_create('{"type": "PERSON", "firstName": "X"}')$$) AS read_only_key,
       t.err(NULL, $$esqase_leads_create('{"type": "PERSON", "firstName": "X"}')$$) AS no_key;
-- A lead that fails validation leaves no contact behind and uses no number:
-- two contacts were created (Jane and Acme), and the next lead is L-0003.
SELECT (t.api('a', 'esqase_contacts_list()') #>> '{pagination,total}')::int - n AS new_contacts FROM contacts_before;
SELECT t.api('a', $$esqase_leads_create('{"type": "PERSON", "lastName": "Third", "value": "LOWEST"}')$$) #>> '{data,publicId}' AS next_public_id;
INSERT INTO t.ids SELECT 'l_third', (t.api('a', 'esqase_leads_list()') #>> '{data,2,id}')::uuid;

-- Private leads.  The clerk creates one (assigned to the clerk by default):
-- the clerk and the owner see it, the lawyer (a third member) does not.
SELECT (t.api('a_clerk', $$esqase_leads_create('{"type": "PERSON", "firstName": "Secret", "isPrivate": true}')$$) -> 'data')
       - 'id' - 'createdAt' - 'updatedAt' - 'contact' - 'leadStageColumnId' - 'assignees' AS clerk_private;
INSERT INTO t.ids SELECT 'l_secret', (t.api('a_clerk', 'esqase_leads_list()') #>> '{data,-1,id}')::uuid;
SELECT t.ml_seen('a') AS owner, t.ml_seen('a_lawyer') AS lawyer, t.ml_seen('a_clerk') AS clerk;
SELECT t.err('a', t.ml_call('esqase_leads_get', '{l_secret}')) AS owner_get,
       t.err('a_clerk', t.ml_call('esqase_leads_get', '{l_secret}')) AS assignee_get,
       t.err('a_lawyer', t.ml_call('esqase_leads_get', '{l_secret}')) AS third_get,
       t.err('a_lawyer', t.ml_call('esqase_leads_update', '{l_secret}', '{"value": "LOW"}')) AS third_update,
       t.err('a_lawyer', t.ml_call('esqase_leads_delete', '{l_secret}')) AS third_delete;
-- Acme (private, assigned to the lawyer and the owner) is the clerk's blind spot.
SELECT t.err('a_lawyer', t.ml_call('esqase_leads_get', '{l_acme}')) AS assignee_get,
       t.err('a_clerk', t.ml_call('esqase_leads_get', '{l_acme}')) AS third_get;
-- A member who is not an owner cannot create or leave a private lead that
-- they could not see; an owner can.
SELECT t.err('a_clerk', t.ml_call('esqase_leads_create', '{"type": "PERSON", "firstName": "X", "isPrivate": true, "assigneeIds": ["{a_lawyer}"]}')) AS clerk_create_for_other,
       t.err('a_clerk', t.ml_call('esqase_leads_create', '{"type": "PERSON", "firstName": "X", "isPrivate": true, "assigneeIds": []}')) AS clerk_create_unassigned,
       t.err('a_clerk', t.ml_call('esqase_leads_update', '{l_secret}', '{"assigneeIds": ["{a_lawyer}"]}')) AS clerk_leaves,
       t.err('a_clerk', t.ml_call('esqase_leads_update', '{l_third}', '{"isPrivate": true}')) AS clerk_hides_other;

-- RLS enforces the same visibility on the table itself.
SET ROLE esqase_api;
BEGIN;
SELECT esqase_authenticate((SELECT token FROM t.keys WHERE name = 'a_lawyer'));
SELECT count(*) AS lawyer_rows, count(*) FILTER (WHERE is_private) AS lawyer_private FROM esqase.leads;
WITH u AS (UPDATE esqase.leads SET value = 'LOWEST' WHERE id = t.id('l_secret') RETURNING id)
SELECT count(*) AS lawyer_updated_secret FROM u;
WITH u AS (UPDATE esqase.leads SET value = 'LOWEST' WHERE id = t.id('l_acme') RETURNING id)
SELECT count(*) AS lawyer_updated_acme FROM u;
COMMIT;
BEGIN;
SELECT esqase_authenticate((SELECT token FROM t.keys WHERE name = 'a_clerk'));
SELECT count(*) AS clerk_rows, count(*) FILTER (WHERE is_private) AS clerk_private FROM esqase.leads;
COMMIT;
BEGIN;
SELECT esqase_authenticate((SELECT token FROM t.keys WHERE name = 'a'));
SELECT count(*) AS owner_rows, count(*) FILTER (WHERE is_private) AS owner_private FROM esqase.leads;
COMMIT;

-- Update: practice area, stage, value, private flag and assignees.
SELECT t.show('a', t.ml_call('esqase_leads_update', '{l_jane}', '{"leadStageColumnId": "{l_stage_1}",
    "value": "HIGHEST", "practiceAreaId": null, "assigneeIds": ["{a_clerk}", "{a_lawyer}"]}'));
SELECT t.unid((t.api('a', t.ml_call('esqase_leads_update', '{l_jane}', '{"practiceAreaId": "{l_family}", "value": null}')) -> 'data')::text) AS area_back;
-- The owner may make a lead private without being an assignee; the
-- assignees (clerk, lawyer) still see it.
SELECT t.api('a', t.ml_call('esqase_leads_update', '{l_jane}', '{"isPrivate": true}')) #>> '{data,isPrivate}' AS made_private;
SELECT t.err('a_clerk', t.ml_call('esqase_leads_get', '{l_jane}')) AS clerk, t.err('a_lawyer', t.ml_call('esqase_leads_get', '{l_jane}')) AS lawyer;
-- An assignee may leave a lead they also make public.
SELECT jsonb_path_query_array(t.api('a_lawyer', t.ml_call('esqase_leads_update', '{l_jane}',
           '{"isPrivate": false, "assigneeIds": ["{a_clerk}"]}')), '$.data.assignees[*].name') AS lawyer_left;
-- ... and a member may make a lead private when they assign themselves.
SELECT jsonb_path_query_array(t.api('a_lawyer', t.ml_call('esqase_leads_update', '{l_third}',
           '{"isPrivate": true, "assigneeIds": ["{a_lawyer}"]}')), '$.data.assignees[*].name') AS lawyer_joined;
SELECT t.ml_seen('a') AS owner, t.ml_seen('a_lawyer') AS lawyer, t.ml_seen('a_clerk') AS clerk;

-- Update errors.
SELECT body AS call, t.err('a', t.ml_call('esqase_leads_update', '{l_jane}', body)) FROM (VALUES
    ('{"firstName": "Janet"}'),
    ('{"email": "j@example.com"}'),
    ('{"type": "COMPANY"}'),
    ('{"status": "WON"}'),
    ('{"publicId": "L-0100"}'),
    ('{"contact": {"id": "{l_jane_contact}"}}'),
    ('{"leadStageColumnId": null}'),
    ('{"leadStageColumnId": "{l_b_stage}"}'),
    ('{"practiceAreaId": "{l_gone_area}"}'),
    ('{"value": "TOP"}'),
    ('{"isPrivate": null}'),
    ('{"isPrivate": 1}'),
    ('{"assigneeIds": ["{b_owner}"]}'),
    ('{"assigneeIds": null, "colour": "red"}'),
    ('"x"')
) AS cases(body);
SELECT t.err('a', t.ml_call('esqase_leads_update', '00000000-0000-4000-8000-000000000000', '{"value": "LOW"}')) AS unknown,
       t.err('b', t.ml_call('esqase_leads_update', '{l_jane}', '{"value": "LOW"}')) AS other_firm,
       t.err('a_read', t.ml_call('esqase_leads_update', '{l_jane}', '{"value": "LOW"}')) AS read_only_key;
-- An update that changes nothing is fine (and writes nothing, below).
SELECT t.err('a', t.ml_call('esqase_leads_update', '{l_jane}', '{}')) AS empty,
       t.err('a', t.ml_call('esqase_leads_update', '{l_jane}', '{"assigneeIds": ["{a_clerk}"], "isPrivate": false}')) AS same;

-- The audit log of the Jane lead and its assignees, and its contact's insert.
RESET ROLE;
SELECT a.table_name, a.action, m.name AS member, a.key_id IS NOT NULL AS by_key, a.db_role,
       CASE a.table_name WHEN 'leads' THEN concat_ws(' ', a.new_values ->> 'value', 'private=' || (a.new_values ->> 'is_private'))
            WHEN 'lead_assignees' THEN (SELECT name FROM esqase.members x WHERE x.id::text = coalesce(a.new_values, a.old_values) ->> 'member_id')
            ELSE a.new_values ->> 'name' END AS what
  FROM esqase.audit_log a LEFT JOIN esqase.members m ON m.id = a.member_id
 WHERE a.record_id IN (t.id('l_jane'), t.id('l_jane_contact'))
    OR coalesce(a.new_values, a.old_values) ->> 'lead_id' = t.id('l_jane')::text
 ORDER BY a.id;
SET ROLE esqase_api;

-- Delete is soft: the record comes back once, then 404; its contact stays.
SELECT t.unid((t.api('a', t.ml_call('esqase_leads_delete', '{l_jane}')) -> 'data')::text) AS deleted;
SELECT t.err('a', t.ml_call('esqase_leads_get', '{l_jane}')) AS get_after,
       t.err('a', t.ml_call('esqase_leads_update', '{l_jane}', '{"value": "LOW"}')) AS update_after,
       t.err('a', t.ml_call('esqase_leads_delete', '{l_jane}')) AS delete_after,
       t.err('a', t.ml_call('esqase_contacts_get', '{l_jane_contact}')) AS contact_stays;
SELECT t.ml_seen('a') AS owner;
RESET ROLE;
SELECT public_id, status, deleted_at IS NOT NULL AS deleted FROM esqase.leads WHERE id = t.id('l_jane');
SELECT action FROM esqase.audit_log WHERE record_id = t.id('l_jane') ORDER BY id DESC LIMIT 1;
SET ROLE esqase_api;

-- A number already used by a lead inserted by hand (even a private one,
-- invisible to the key) is skipped.
RESET ROLE;
INSERT INTO esqase.leads (firm_id, public_id, is_private, contact_id, stage_id)
VALUES (t.id('firm_a'), 'L-0005', true, t.id('l_jane_contact'), t.id('l_stage_0'));
SET ROLE esqase_api;
SELECT t.api('a_clerk', $$esqase_leads_create('{"type": "PERSON", "firstName": "Sixth"}')$$) #>> '{data,publicId}' AS skips_l0005;
-- Firm B sees none of firm A's leads and numbers its own from L-0001.
SELECT t.ml_seen('b') AS firm_b,
       t.err('b', t.ml_call('esqase_leads_get', '{l_third}')) AS a_lead,
       t.err('b', t.ml_call('esqase_leads_create', '{"type": "PERSON", "firstName": "X", "assigneeIds": ["{a_owner}"]}')) AS a_member,
       t.err('b', t.ml_call('esqase_leads_create', '{"type": "PERSON", "firstName": "X", "leadStageColumnId": "{l_stage_0}"}')) AS a_stage;
SELECT t.api('b', $$esqase_leads_create('{"type": "PERSON", "firstName": "Bea"}')$$) #>> '{data,publicId}' AS firm_b_first;
