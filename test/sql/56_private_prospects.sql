-- A private lead keeps its prospect private: the contact it created is
-- visible (get, list, total, update, delete, and the tables under row-level
-- security) only to those who see the lead (its assignees and the firm's
-- owners), until the firm uses the contact as a matter client or the lead is
-- made public.  In firm A: a (owner), a_lawyer (creates the leads),
-- a_clerk (a member who is not assigned).
\set VERBOSITY terse
-- Walks a key's contact list by cursor: its total, the records listed, and
-- whether the prospect was among them.
CREATE FUNCTION t.pp_walk(key text) RETURNS TABLE (total bigint, listed bigint, has_prospect boolean)
LANGUAGE plpgsql AS $$
DECLARE
    page jsonb;
    cur text;
BEGIN
    listed := 0;
    has_prospect := false;
    LOOP
        page := t.call(key, format('esqase_contacts_list(%L)',
                                   jsonb_build_object('limit', 200) || CASE WHEN cur IS NOT NULL THEN jsonb_build_object('cursor', cur) ELSE '{}' END));
        total := (page #>> '{pagination,total}')::bigint;
        listed := listed + jsonb_array_length(page -> 'data');
        has_prospect := has_prospect OR page -> 'data' @> jsonb_build_array(jsonb_build_object('id', t.id('pp_contact')));
        cur := page #>> '{pagination,nextCursor}';
        EXIT WHEN cur IS NULL;
    END LOOP;
    RETURN NEXT;
END
$$;
-- Each key's total before the prospects, to count what they add.
CREATE TABLE t.pp_before (key text PRIMARY KEY, total bigint NOT NULL);
GRANT SELECT, INSERT ON t.pp_before TO PUBLIC;
SET ROLE esqase_api;
-- A practice area for matters, and an ordinary contact of the firm.
INSERT INTO t.ids SELECT 'pp_area', (t.api('a', $$esqase_practice_areas_create('{"name": "Prospect law"}')$$) #>> '{data,id}')::uuid;
INSERT INTO t.ids SELECT 'pp_known', (t.api('a', $$esqase_contacts_create('{"type": "PERSON", "firstName": "Kim", "lastName": "Known"}')$$) #>> '{data,id}')::uuid;
INSERT INTO t.pp_before SELECT k, w.total FROM unnest(ARRAY['a', 'a_lawyer', 'a_clerk']) k, t.pp_walk(k) w;
INSERT INTO t.ids SELECT 'pp_lead', (t.api('a_lawyer', $$esqase_leads_create('{"type": "PERSON",
    "firstName": "Priya", "lastName": "Prospect", "email": "priya@example.com", "isPrivate": true}')$$) #>> '{data,id}')::uuid;
INSERT INTO t.ids SELECT 'pp_contact', (t.api('a_lawyer', t.ml_call('esqase_leads_get', '{pp_lead}')) #>> '{data,contact,id}')::uuid;
SELECT count(*) AS made FROM t.ids WHERE name IN ('pp_lead', 'pp_contact') AND id IS NOT NULL;

-- Through the API: the lawyer (assignee) and the owner see the prospect; the
-- clerk gets 404 for every call on it, and for the lead.
SELECT k AS key, t.err(k, t.ml_call('esqase_contacts_get', '{pp_contact}')) AS get_contact,
       t.err(k, t.ml_call('esqase_leads_get', '{pp_lead}')) AS get_lead
  FROM unnest(ARRAY['a', 'a_lawyer', 'a_clerk']) k ORDER BY 1;
SELECT t.unid(expr) AS call, t.err('a_clerk', expr) FROM (VALUES
    (t.ml_call('esqase_contacts_update', '{pp_contact}', '{"lastName": "Tampered"}')),
    (t.ml_call('esqase_contacts_delete', '{pp_contact}')),
    (t.ml_call('esqase_matters_create', '{"practiceAreaId": "{pp_area}", "openDate": "2026-03-01", "clientContactIds": ["{pp_contact}"]}'))
) AS cases(expr);
-- Lists and totals: each key's total is exactly the contacts it can page
-- through, and the prospect is listed (and counted) for the lawyer and the
-- owner only: their totals grew by one, the clerk's did not.
SELECT k AS key, w.total = w.listed AS total_exact, w.has_prospect,
       w.total - (SELECT b.total FROM t.pp_before b WHERE b.key = k) AS added_to_total
  FROM unnest(ARRAY['a', 'a_lawyer', 'a_clerk']) k, t.pp_walk(k) w ORDER BY 1;

-- Through the tables as the API role: the clerk can neither see nor change
-- the prospect, nor the lead's assignees, nor add itself as an assignee.
BEGIN;
SELECT esqase_authenticate(token) FROM t.keys WHERE name = 'a_clerk';
WITH c AS (SELECT FROM esqase.contacts WHERE id = t.id('pp_contact')),
     u AS (UPDATE esqase.contacts SET last_name = 'Tampered' WHERE id = t.id('pp_contact') RETURNING 1),
     l AS (SELECT FROM esqase.leads WHERE id = t.id('pp_lead')),
     a AS (SELECT FROM esqase.lead_assignees WHERE lead_id = t.id('pp_lead')),
     d AS (DELETE FROM esqase.lead_assignees WHERE lead_id = t.id('pp_lead') RETURNING 1)
SELECT (SELECT count(*) FROM c) AS contact_rows, (SELECT count(*) FROM u) AS contact_updated,
       (SELECT count(*) FROM l) AS lead_rows, (SELECT count(*) FROM a) AS assignee_rows,
       (SELECT count(*) FROM d) AS assignees_deleted;
INSERT INTO esqase.lead_assignees (firm_id, lead_id, member_id, position)
VALUES (t.id('firm_a'), t.id('pp_lead'), t.id('a_clerk'), 5);
ROLLBACK;
-- Nor hide an existing contact behind a lead: the API role may not write
-- hidden_by_lead at all, and the contacts trigger refuses it to any role.
BEGIN;
SELECT esqase_authenticate(token) FROM t.keys WHERE name = 'a_lawyer';
UPDATE esqase.contacts SET hidden_by_lead = t.id('pp_lead') WHERE id = t.id('pp_known');
ROLLBACK;
RESET ROLE;
BEGIN;
UPDATE esqase.contacts SET hidden_by_lead = t.id('pp_lead') WHERE id = t.id('pp_known');
ROLLBACK;
SET ROLE esqase_api;
-- The lawyer sees all of it through the tables.
BEGIN;
SELECT esqase_authenticate(token) FROM t.keys WHERE name = 'a_lawyer';
SELECT (SELECT count(*) FROM esqase.contacts WHERE id = t.id('pp_contact')) AS contact_rows,
       (SELECT count(*) FROM esqase.lead_assignees WHERE lead_id = t.id('pp_lead')) AS assignee_rows;
ROLLBACK;

-- Made public, the lead's prospect is visible to the whole firm.
INSERT INTO t.ids SELECT 'pp_lead2', (t.api('a_lawyer', $$esqase_leads_create('{"type": "COMPANY",
    "companyName": "Quiet Prospect Ltd", "isPrivate": true}')$$) #>> '{data,id}')::uuid;
INSERT INTO t.ids SELECT 'pp_contact2', (t.api('a_lawyer', t.ml_call('esqase_leads_get', '{pp_lead2}')) #>> '{data,contact,id}')::uuid;
SELECT t.err('a_clerk', t.ml_call('esqase_contacts_get', '{pp_contact2}')) AS before_public;
SELECT t.api('a_lawyer', t.ml_call('esqase_leads_update', '{pp_lead2}', '{"isPrivate": false}')) #>> '{data,isPrivate}' AS is_private;
SELECT t.err('a_clerk', t.ml_call('esqase_contacts_get', '{pp_contact2}')) AS after_public;
-- Made private again, the contact stays visible (the firm has seen it).
SELECT t.api('a_lawyer', t.ml_call('esqase_leads_update', '{pp_lead2}', '{"isPrivate": true}')) #>> '{data,isPrivate}' AS is_private;
SELECT t.err('a_clerk', t.ml_call('esqase_contacts_get', '{pp_contact2}')) AS private_again;

-- Used as a matter client by someone who sees it, the prospect becomes an
-- ordinary contact of the firm.
SELECT t.api('a_lawyer', t.ml_call('esqase_matters_create', '{"practiceAreaId": "{pp_area}", "openDate": "2026-03-01",
    "title": "Prospect signed", "clientContactIds": ["{pp_contact}"]}')) #>> '{data,clients,0,name}' AS client;
SELECT t.api('a_clerk', t.ml_call('esqase_contacts_get', '{pp_contact}')) #>> '{data,name}' AS clerk_sees;
SELECT k AS key, w.total = w.listed AS total_exact, w.has_prospect
  FROM unnest(ARRAY['a', 'a_lawyer', 'a_clerk']) k, t.pp_walk(k) w ORDER BY 1;

-- The counts behind the totals equal the rows (as the superuser).
RESET ROLE;
-- (firm A's totals depend on the other files: shown as equal, not as numbers)
SELECT list, kept = counted AS kept_is_counted FROM (
SELECT c.list, sum(c.n) AS kept,
       (SELECT count(*) FROM esqase.contacts r WHERE r.firm_id = c.firm_id AND r.deleted_at IS NULL
           AND (c.list = 'contacts' OR r.hidden_by_lead IS NOT NULL)) AS counted
  FROM esqase.record_counts c WHERE c.firm_id = t.id('firm_a') AND c.list LIKE 'contacts%'
 GROUP BY c.firm_id, c.list) x ORDER BY 1;
-- Each step is in the audit log, as the acting member: the prospect hidden
-- when created, and made visible by the matter (an UPDATE of hidden_by_lead).
SELECT l.action, m.name AS member, l.old_values ->> 'hidden_by_lead' IS NOT NULL AS was_hidden,
       l.new_values ->> 'hidden_by_lead' IS NOT NULL AS now_hidden
  FROM esqase.audit_log l LEFT JOIN esqase.members m ON m.firm_id = l.firm_id AND m.id = l.member_id
 WHERE l.table_name = 'contacts' AND l.record_id = t.id('pp_contact') ORDER BY l.id;
