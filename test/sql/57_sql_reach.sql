-- A key's SQL reach is its HTTP reach: the 0.2.0 probe's SQL findings
-- (issue 21: F2, F3, F6, F8, F17; issue 17 item 4), each as the probe ran
-- it, under SET ROLE esqase_api after esqase_authenticate.  Every one of
-- them succeeded on 0.2.0.  test/sql/55_rls_matrix.sql checks the same
-- rules for every table, column, key and SECURITY DEFINER function.
\set VERBOSITY terse

-- Firm A's clerk Cleo (no permission, not an owner) with one key per scope.
DO $$
DECLARE
    s text;
BEGIN
    FOREACH s IN ARRAY esqase.valid_scopes() LOOP
        INSERT INTO t.keys VALUES ('sr_' || s, esqase_create_api_key(t.id('a_clerk'), ARRAY[s]));
    END LOOP;
END
$$;
SET ROLE esqase_api;
-- Records of firm A, made by its owner: a public lead, a private lead whose
-- prospect is hidden ("Asecret"), a matter "Acme" with a client and a
-- practice area.
INSERT INTO t.ids SELECT 'sr_area', (t.api('a', $$esqase_practice_areas_create('{"name": "Reach law"}')$$) #>> '{data,id}')::uuid;
INSERT INTO t.ids SELECT 'sr_client', (t.api('a', $$esqase_contacts_create('{"type": "PERSON", "firstName": "Jane",
    "lastName": "Reach", "emails": ["ajane@example.com"], "phones": ["+1 555 0100"]}')$$) #>> '{data,id}')::uuid;
INSERT INTO t.ids SELECT 'sr_matter', (t.api('a', t.ml_call('esqase_matters_create', '{"title": "Acme reach",
    "practiceAreaId": "{sr_area}", "openDate": "2026-05-01", "clientContactIds": ["{sr_client}"]}')) #>> '{data,id}')::uuid;
INSERT INTO t.ids SELECT 'sr_public', (t.api('a', $$esqase_leads_create('{"type": "PERSON", "firstName": "Pat",
    "lastName": "Reachpublic"}')$$) #>> '{data,id}')::uuid;
INSERT INTO t.ids SELECT 'sr_private', (t.api('a', $$esqase_leads_create('{"type": "PERSON", "firstName": "Asecret",
    "lastName": "Reach", "email": "asecret@example.com", "isPrivate": true}')$$) #>> '{data,id}')::uuid;
INSERT INTO t.ids SELECT 'sr_prospect', (t.api('a', t.ml_call('esqase_leads_get', '{sr_private}')) #>> '{data,contact,id}')::uuid;
SELECT count(*) AS records FROM t.ids WHERE name LIKE 'sr\_%' AND id IS NOT NULL;

-- F2: a member who is not among a lead's assignees cannot make it private
-- (the API answers 422), not even with one UPDATE of every lead.  (A key
-- with a write scope but not the read scope reaches only the records it
-- names, esqase.target, as over HTTP by their id: so the records are named
-- below, where such a key writes them; unnamed, it writes none, see (b).)
SELECT t.err('sr_leads:write', t.ml_call('esqase_leads_update', '{sr_public}', '{"isPrivate": true}')) AS api;
BEGIN;
SELECT esqase_authenticate(token) FROM t.keys WHERE name = 'sr_leads:write';
SELECT esqase.target(t.id('sr_public')) IS NOT NULL AS named;
UPDATE esqase.leads SET is_private = true;
ROLLBACK;
BEGIN;
SELECT esqase_authenticate(token) FROM t.keys WHERE name = 'sr_leads:write';
SELECT esqase.target(t.id('sr_public')) IS NOT NULL AS named;
UPDATE esqase.leads SET is_private = true WHERE id = t.id('sr_public');
ROLLBACK;
-- An assignee may, in SQL as over HTTP (and may make it public again).
BEGIN;
SELECT esqase_authenticate(token) FROM t.keys WHERE name = 'sr_leads:write';
SELECT esqase.target(t.id('sr_public')) IS NOT NULL AS named;
INSERT INTO esqase.lead_assignees (firm_id, lead_id, member_id, position)
VALUES (t.id('firm_a'), t.id('sr_public'), t.id('a_clerk'), 1);
UPDATE esqase.leads SET is_private = true WHERE id = t.id('sr_public');
UPDATE esqase.leads SET is_private = false WHERE id = t.id('sr_public');
ROLLBACK;
SELECT t.api('a_clerk', t.ml_call('esqase_leads_get', '{sr_public}')) #>> '{data,isPrivate}' AS still_public_for_others;

-- F3: the SECURITY DEFINER finders answer as the lists search.  A key with
-- members:read alone finds nothing; leads:read finds a public lead's
-- contact but not a hidden prospect; the owner finds both.
SELECT k AS key,
       t.call(k, $$to_jsonb(cardinality(esqase.contacts_found(esqase.context_firm(), 'asecret:*')))$$) AS hidden_prospects,
       t.call(k, $$to_jsonb(cardinality(esqase.contacts_found(esqase.context_firm(), 'reachpublic:*')))$$) AS public_prospects,
       t.call(k, $$to_jsonb(cardinality(esqase.contacts_found(esqase.context_firm(), 'ajane:*')))$$) AS contacts,
       t.call(k, $$to_jsonb(cardinality(esqase.matters_found(esqase.context_firm(), 'acme:*')))$$) AS matters
  FROM unnest(ARRAY['sr_members:read', 'sr_leads:read', 'sr_contacts:read', 'sr_matters:read', 'a']) k ORDER BY 1;
-- nor for another firm
SELECT t.call('b', format($$to_jsonb(cardinality(esqase.contacts_found(%L, 'a:*')))$$, t.id('firm_a'))) AS other_firm;

-- F6: the public-id counters are not writable in SQL (set to the largest
-- number, they stopped every create of the firm, unaudited); a number is
-- taken only as a create takes it, by a key that may create the kind.
BEGIN;
SELECT esqase_authenticate(token) FROM t.keys WHERE name = 'sr_matters:write';
UPDATE esqase.public_id_counters SET last_value = 2147483647 WHERE kind = 'M';
ROLLBACK;
BEGIN;
SELECT esqase_authenticate(token) FROM t.keys WHERE name = 'sr_matters:write';
INSERT INTO esqase.public_id_counters (firm_id, kind, last_value) VALUES (t.id('firm_a'), 'L', 2147483647)
    ON CONFLICT (firm_id, kind) DO UPDATE SET last_value = excluded.last_value;
ROLLBACK;
SELECT k AS key, t.err(k, format($$to_jsonb(esqase.next_public_id(%L, 'M'))$$, t.id('firm_a'))) AS next_matter_number
  FROM unnest(ARRAY['sr_matters:write', 'sr_leads:write', 'sr_contacts:read', 'b']) k ORDER BY 1;

-- F8: only the columns the API changes may change.  A contact deleted over
-- the API stays deleted (no row is updated) and 404; created_at cannot be
-- forged; a live contact cannot be archived without being deleted, nor
-- deleted at another time than now.  A soft delete as the API makes it
-- still works.
INSERT INTO t.ids SELECT 'sr_gone', (t.api('sr_contacts:write', $$esqase_contacts_create('{"type": "PERSON", "firstName": "Gone"}')$$) #>> '{data,id}')::uuid;
SELECT t.api('sr_contacts:write', t.ml_call('esqase_contacts_delete', '{sr_gone}')) #>> '{data,status}' AS deleted;
BEGIN;
SELECT esqase_authenticate(token) FROM t.keys WHERE name = 'sr_contacts:write';
SELECT esqase.target(t.id('sr_gone')) IS NOT NULL AS named;
UPDATE esqase.contacts SET deleted_at = NULL, status = 'ACTIVE' WHERE id = t.id('sr_gone');
COMMIT;
SELECT t.err('sr_contacts:read', t.ml_call('esqase_contacts_get', '{sr_gone}')) AS after_undelete;
BEGIN;
SELECT esqase_authenticate(token) FROM t.keys WHERE name = 'sr_contacts:write';
SELECT esqase.target(t.id('sr_client')) IS NOT NULL AS named;
UPDATE esqase.contacts SET created_at = '1999-01-01' WHERE id = t.id('sr_client');
ROLLBACK;
BEGIN;
SELECT esqase_authenticate(token) FROM t.keys WHERE name = 'sr_contacts:write';
SELECT esqase.target(t.id('sr_client')) IS NOT NULL AS named;
UPDATE esqase.contacts SET status = 'ARCHIVED' WHERE id = t.id('sr_client');
ROLLBACK;
BEGIN;
SELECT esqase_authenticate(token) FROM t.keys WHERE name = 'sr_contacts:write';
SELECT esqase.target(t.id('sr_client')) IS NOT NULL AS named;
UPDATE esqase.contacts SET status = 'ARCHIVED', deleted_at = '2020-01-01' WHERE id = t.id('sr_client');
ROLLBACK;
BEGIN;
SELECT esqase_authenticate(token) FROM t.keys WHERE name = 'sr_matters:write';
SELECT esqase.target(t.id('sr_matter')) IS NOT NULL AS named;
UPDATE esqase.matters SET public_id = 'M-9999' WHERE id = t.id('sr_matter');
ROLLBACK;
INSERT INTO t.ids SELECT 'sr_doomed', (t.api('sr_contacts:write', $$esqase_contacts_create('{"type": "PERSON", "firstName": "Doomed"}')$$) #>> '{data,id}')::uuid;
BEGIN;
SELECT esqase_authenticate(token) FROM t.keys WHERE name = 'sr_contacts:write';
SELECT esqase.target(t.id('sr_doomed')) IS NOT NULL AS named;
UPDATE esqase.contacts SET status = 'ARCHIVED', deleted_at = now() WHERE id = t.id('sr_doomed');
COMMIT;
SELECT t.err('sr_contacts:read', t.ml_call('esqase_contacts_get', '{sr_doomed}')) AS after_sql_delete;

-- record_counts (F7): the counts of private leads, of hidden prospects and
-- of all contacts (hidden ones included) are for owners, whose totals count
-- them; a member reads the counts of what every key with its scope sees.
-- Its list totals are still those of the rows it sees, through the guarded
-- esqase.contacts_public_total (NULL for another firm or scope).
SELECT k AS key, t.call(k, $$(SELECT to_jsonb(array_agg(DISTINCT list ORDER BY list)) FROM esqase.record_counts)$$) AS lists_read
  FROM unnest(ARRAY['sr_contacts:read', 'sr_leads:read', 'sr_matters:read', 'a']) k ORDER BY 1;
SELECT k AS key,
       t.api(k, 'esqase_contacts_list()') #> '{pagination,total}'
         = t.call(k, '(SELECT to_jsonb(count(*)) FROM esqase.contacts WHERE deleted_at IS NULL)') AS contacts_total_is_rows_seen,
       t.api(k, 'esqase_leads_list()') #> '{pagination,total}'
         = t.call(k, '(SELECT to_jsonb(count(*)) FROM esqase.leads WHERE deleted_at IS NULL)') AS leads_total_is_rows_seen
  FROM unnest(ARRAY['sr_contacts:read', 'sr_leads:read', 'a']) k ORDER BY 1;
SELECT k AS key, t.call(k, format('to_jsonb(esqase.contacts_public_total(%L))', t.id('firm_a'))) IS NOT NULL
                 AND t.call(k, format('to_jsonb(esqase.contacts_public_total(%L))', t.id('firm_a'))) <> 'null' AS answered
  FROM unnest(ARRAY['sr_contacts:read', 'sr_leads:read', 'b']) k ORDER BY 1;

-- Direct SQL checks what the API checks, where a policy can cheaply
-- (issue 21): an email of the wrong shape is refused on insert
-- and update (the API answers 422) ...
BEGIN;
SELECT esqase_authenticate(token) FROM t.keys WHERE name = 'sr_contacts:write';
INSERT INTO esqase.contacts (firm_id, type, first_name, name, emails)
VALUES (t.id('firm_a'), 'PERSON', 'Bad', '', '{not-an-email}');
ROLLBACK;
BEGIN;
SELECT esqase_authenticate(token) FROM t.keys WHERE name = 'sr_contacts:write';
SELECT esqase.target(t.id('sr_client')) IS NOT NULL AS named;
UPDATE esqase.contacts SET emails = emails || '{"two words@x.test"}'::text[] WHERE id = t.id('sr_client');
ROLLBACK;
-- ... and a member cannot take itself off a private lead (the API answers
-- 422: it would no longer see the lead); another assignee it may remove.
INSERT INTO t.ids SELECT 'sr_shared', (t.api('a', t.ml_call('esqase_leads_create', '{"type": "PERSON", "firstName": "Shared",
    "isPrivate": true, "assigneeIds": ["{a_clerk}", "{a_owner}"]}')) #>> '{data,id}')::uuid;
SELECT t.err('sr_leads:write', t.ml_call('esqase_leads_update', '{sr_shared}', '{"assigneeIds": ["{a_owner}"]}')) AS api;
BEGIN;
SELECT esqase_authenticate(token) FROM t.keys WHERE name = 'sr_leads:write';
SELECT esqase.target(t.id('sr_shared')) IS NOT NULL AS named;
WITH d AS (DELETE FROM esqase.lead_assignees WHERE lead_id = t.id('sr_shared') AND member_id = t.id('a_clerk')
           RETURNING 1)
SELECT count(*) AS itself_removed FROM d;
WITH d AS (DELETE FROM esqase.lead_assignees WHERE lead_id = t.id('sr_shared') AND member_id = t.id('a_owner')
           RETURNING 1)
SELECT count(*) AS other_removed FROM d;
ROLLBACK;

-- F17: the idempotency keys are not writable in SQL (an edited response was
-- replayed as the create's answer); idempotency_end stores only the
-- response of a record its own transaction created.  Replays still work.
SELECT t.api('sr_contacts:write', $$esqase_contacts_create('{"type": "PERSON", "firstName": "Idem"}', 'sr-idem')$$)
       #>> '{data,firstName}' AS created;
BEGIN;
SELECT esqase_authenticate(token) FROM t.keys WHERE name = 'sr_contacts:write';
UPDATE esqase.idempotency_keys SET response = '{"data": {"id": "x"}}';
ROLLBACK;
SELECT t.err('sr_contacts:write', format($$esqase.idempotency_end(%L, 'sr-idem', '{"data": {"id": "%s"}}')::jsonb$$,
                                          t.id('firm_a'), t.id('sr_client'))) AS forged_end;
SELECT t.err('sr_contacts:write', format($$(SELECT to_jsonb(esqase.idempotency_begin(%1$L, 'contacts', '{}', 'sr-forged'))
                                            FROM (SELECT) x) || to_jsonb(esqase.idempotency_end(%1$L, 'sr-forged',
                                            '{"data": {"id": "%2$s"}}'))$$, t.id('firm_a'), t.id('sr_client'))) AS claim_then_forge;
SELECT t.api('sr_contacts:write', $$esqase_contacts_create('{"type": "PERSON", "firstName": "Idem"}', 'sr-idem')$$)
       #>> '{data,firstName}' AS replayed;

-- F17: text is stored in Unicode NFC: a name sent decomposed (e + U+0301)
-- is stored, shown and searched as the one composed "é".
SELECT t.api('a', E'esqase_practice_areas_create(''{"name": "Cafe\\u0301 law"}'')') #>> '{data,name}' = 'Café law' AS area_name_nfc,
       t.api('a', E'esqase_contacts_create(''{"type": "PERSON", "firstName": "Ame\\u0301lie", "emails": ["ame\\u0301lie@example.com"]}'')')
           #>> '{data,firstName}' = 'Amélie' AS first_name_nfc;
RESET ROLE;
SELECT name, length(name) AS characters, name IS NFC NORMALIZED AS nfc FROM esqase.practice_areas
 WHERE firm_id = t.id('firm_a') AND name LIKE 'Caf%law';
SELECT first_name, emails[1] IS NFC NORMALIZED AS email_nfc FROM esqase.contacts
 WHERE firm_id = t.id('firm_a') AND first_name LIKE 'Am%lie';
SET ROLE esqase_api;

-- Issue 17, item 4: a key reads in SQL the columns HTTP shows it.  With
-- matters:read, a matter's client is {id, name}: no emails or phones; its
-- practice area {id, name}: no status or dates; its team's members
-- {id, name}: no emails.
BEGIN;
SELECT esqase_authenticate(token) FROM t.keys WHERE name = 'sr_matters:read';
SELECT count(*) AS contacts_rows FROM esqase.contacts;
SELECT name FROM esqase.contact_refs WHERE id = t.id('sr_client');
SELECT count(*) AS practice_area_rows FROM esqase.practice_areas;
SELECT name FROM esqase.practice_area_refs WHERE id = t.id('sr_area');
SELECT count(*) AS member_rows FROM esqase.members;
SELECT count(*) > 0 AS member_refs FROM esqase.member_refs;
ROLLBACK;
-- The matter shows them as before.
SELECT t.mask(jsonb_build_object('clients', m -> 'clients', 'practiceArea', m -> 'practiceArea')) AS matter_shows
  FROM (SELECT t.api('sr_matters:read', t.ml_call('esqase_matters_get', '{sr_matter}')) -> 'data' AS m) x;
-- The reference views have only the API's columns.
SELECT c.relname AS view, string_agg(a.attname, ', ' ORDER BY a.attnum) AS columns
  FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0
 WHERE c.relnamespace = 'esqase'::regnamespace AND c.relname LIKE '%\_refs'
 GROUP BY c.relname ORDER BY 1;
-- A lead's hidden prospect is no reference for who cannot see the lead.
BEGIN;
SELECT esqase_authenticate(token) FROM t.keys WHERE name = 'sr_leads:read';
SELECT (SELECT count(*) FROM esqase.contact_refs WHERE id = t.id('sr_prospect')) AS hidden_prospect,
       (SELECT count(*) FROM esqase.contact_refs c JOIN esqase.leads l ON l.contact_id = c.id
         WHERE l.id = t.id('sr_public')) AS public_prospect;
ROLLBACK;

-- Issue 21 (b): a key with a write scope but not the read scope of a
-- resource reaches, in SQL as over HTTP, only the records it names (over
-- HTTP: the id in the URL; in SQL: esqase.target, which the API's updates,
-- deletes and creates call).  With contacts:write alone the probe counted
-- every contact of the firm (GET /v1/contacts answers 403); now it reads
-- none it has not named, and an UPDATE that reads no column changes none.
BEGIN;
SELECT esqase_authenticate(token) FROM t.keys WHERE name = 'sr_contacts:write';
SELECT count(*) AS contacts_unnamed FROM esqase.contacts;
SELECT count(*) AS contact_refs_unnamed FROM esqase.contact_refs;
UPDATE esqase.contacts SET nickname = 'Blind';
RESET ROLE;
SELECT count(*) AS blindly_updated FROM esqase.contacts WHERE nickname = 'Blind';
SET ROLE esqase_api;
SELECT esqase.target(t.id('sr_client')) IS NOT NULL AS named;
SELECT name, emails FROM esqase.contacts;
UPDATE esqase.contacts SET nickname = 'Named' WHERE id = t.id('sr_client');
SELECT nickname FROM esqase.contacts;
ROLLBACK;
-- The same for matters:write alone: no matter, client, team or reference
-- unnamed; the named matter with its clients and the references it shows.
BEGIN;
SELECT esqase_authenticate(token) FROM t.keys WHERE name = 'sr_matters:write';
SELECT (SELECT count(*) FROM esqase.matters) AS matters, (SELECT count(*) FROM esqase.matter_clients) AS clients,
       (SELECT count(*) FROM esqase.contact_refs) AS contact_refs,
       (SELECT count(*) FROM esqase.practice_area_refs) AS area_refs,
       (SELECT count(*) FROM esqase.practice_area_stage_refs) AS stage_refs;
SELECT esqase.target(t.id('sr_matter')) IS NOT NULL AS named;
SELECT (SELECT title FROM esqase.matters) AS title,
       (SELECT string_agg(name, ', ') FROM esqase.contact_refs) AS contact_refs,
       (SELECT string_agg(name, ', ') FROM esqase.practice_area_refs) AS area_refs,
       (SELECT count(*) FROM esqase.practice_area_stage_refs) AS stage_refs;
ROLLBACK;
-- The API's updates and deletes by such keys answer as before, with the
-- references of the record written.
SELECT t.api('sr_contacts:write', t.ml_call('esqase_contacts_update', '{sr_client}', '{"nickname": "Jay"}'))
       #>> '{data,nickname}' AS contact_patched;
SELECT t.mask(jsonb_build_object('title', m -> 'title', 'clients', m -> 'clients', 'practiceArea', m -> 'practiceArea'))
       AS matter_patched
  FROM (SELECT t.api('sr_matters:write', t.ml_call('esqase_matters_update', '{sr_matter}', '{"title": "Acme reach 2"}'))
               -> 'data' AS m) x;
SELECT t.mask(jsonb_build_object('value', l -> 'value', 'contact', l -> 'contact')) AS lead_patched
  FROM (SELECT t.api('sr_leads:write', t.ml_call('esqase_leads_update', '{sr_public}', '{"value": "HIGH"}'))
               -> 'data' AS l) x;
-- Nor do its webhooks read more: the delivery worker asks
-- esqase.webhook_may_read in the webhook key's context, where no record is
-- named, so a key with contacts:write alone gets no contact's event.
SELECT k AS key, t.call(k, format($$to_jsonb(esqase.webhook_may_read('contacts', %L, %L))$$,
                                  t.id('firm_a'), t.id('sr_client'))) AS webhook_may_read
  FROM unnest(ARRAY['sr_contacts:write', 'sr_contacts:read']) k ORDER BY 1;
INSERT INTO t.ids SELECT 'sr_bye', (t.api('a', $$esqase_contacts_create('{"type": "PERSON", "firstName": "Bye"}')$$) #>> '{data,id}')::uuid;
SELECT t.api('sr_contacts:write', t.ml_call('esqase_contacts_delete', '{sr_bye}')) #>> '{data,status}' AS contact_deleted;

-- Issue 21 (c): what a create sets itself, direct SQL cannot choose.  A
-- public id is the counter's (esqase.next_public_id), not one chosen: not
-- ahead of the counter (a later create would fail on it), not one handed
-- out to no one.
INSERT INTO t.ids SELECT 'sr_stage', (t.api('a', t.ml_call('esqase_practice_areas_get', '{sr_area}')) #>> '{data,stages,0,id}')::uuid;
BEGIN;
SELECT esqase_authenticate(token) FROM t.keys WHERE name = 'sr_matters:write';
INSERT INTO esqase.matters (firm_id, public_id, open_date, practice_area_id, stage_id)
VALUES (t.id('firm_a'), 'M-9000', '2026-01-01', t.id('sr_area'), t.id('sr_stage'));
ROLLBACK;
BEGIN;
SELECT esqase_authenticate(token) FROM t.keys WHERE name = 'sr_matters:write';
INSERT INTO esqase.matters (firm_id, public_id, open_date, practice_area_id, stage_id)
SELECT t.id('firm_a'), esqase.public_id('M', last_value + 1), '2026-01-01', t.id('sr_area'), t.id('sr_stage')
  FROM esqase.public_id_counters WHERE kind = 'M';
ROLLBACK;
BEGIN;
SELECT esqase_authenticate(token) FROM t.keys WHERE name = 'sr_matters:write';
INSERT INTO esqase.matters (firm_id, public_id, open_date, practice_area_id, stage_id)
VALUES (t.id('firm_a'), esqase.next_public_id(t.id('firm_a'), 'M'), '2026-01-01', t.id('sr_area'), t.id('sr_stage'));
SELECT 'numbered by the counter' AS inserted;
ROLLBACK;
BEGIN;
SELECT esqase_authenticate(token) FROM t.keys WHERE name = 'sr_leads:write';
INSERT INTO esqase.leads (firm_id, public_id, contact_id, stage_id)
SELECT t.id('firm_a'), 'L-9000', t.id('sr_client'), s.id FROM esqase.lead_stages s ORDER BY s."order" LIMIT 1;
ROLLBACK;
-- A contact is hidden (hidden_by_lead) only as the prospect of the private
-- lead created with it: not behind an existing private lead, nor behind
-- none.  (Checked at commit: a create writes the prospect first.)
BEGIN;
SELECT esqase_authenticate(token) FROM t.keys WHERE name = 'sr_leads:write';
INSERT INTO esqase.contacts (firm_id, type, first_name, name, hidden_by_lead)
VALUES (t.id('firm_a'), 'PERSON', 'Tucked', '', t.id('sr_private'));
COMMIT;
BEGIN;
SELECT esqase_authenticate(token) FROM t.keys WHERE name = 'sr_leads:write';
INSERT INTO esqase.contacts (firm_id, type, first_name, name, hidden_by_lead)
VALUES (t.id('firm_a'), 'PERSON', 'Tucked', '', '00000000-0000-4000-8000-000000000021');
COMMIT;
-- A member who is no owner does not create a private lead without being
-- among its assignees (the API answers 422: it would not see the lead) ...
BEGIN;
SELECT esqase_authenticate(token) FROM t.keys WHERE name = 'sr_leads:write';
INSERT INTO esqase.contacts (firm_id, id, type, first_name, name, hidden_by_lead)
VALUES (t.id('firm_a'), '00000000-0000-4000-8000-0000000000c1', 'PERSON', 'Unseen', '', '00000000-0000-4000-8000-0000000000e1');
INSERT INTO esqase.leads (firm_id, id, public_id, is_private, contact_id, stage_id)
SELECT t.id('firm_a'), '00000000-0000-4000-8000-0000000000e1', esqase.next_public_id(t.id('firm_a'), 'L'), true,
       '00000000-0000-4000-8000-0000000000c1', s.id FROM esqase.lead_stages s ORDER BY s."order" LIMIT 1;
COMMIT;
-- ... as it may with itself among them (its prospect hidden with it).
BEGIN;
SELECT esqase_authenticate(token) FROM t.keys WHERE name = 'sr_leads:write';
INSERT INTO esqase.contacts (firm_id, id, type, first_name, name, hidden_by_lead)
VALUES (t.id('firm_a'), '00000000-0000-4000-8000-0000000000c1', 'PERSON', 'Unseen', '', '00000000-0000-4000-8000-0000000000e1');
INSERT INTO esqase.leads (firm_id, id, public_id, is_private, contact_id, stage_id)
SELECT t.id('firm_a'), '00000000-0000-4000-8000-0000000000e1', esqase.next_public_id(t.id('firm_a'), 'L'), true,
       '00000000-0000-4000-8000-0000000000c1', s.id FROM esqase.lead_stages s ORDER BY s."order" LIMIT 1;
INSERT INTO esqase.lead_assignees (firm_id, lead_id, member_id, position)
VALUES (t.id('firm_a'), '00000000-0000-4000-8000-0000000000e1', t.id('a_clerk'), 0);
SET CONSTRAINTS ALL IMMEDIATE;
SELECT 'a private lead its writer sees' AS inserted;
ROLLBACK;
