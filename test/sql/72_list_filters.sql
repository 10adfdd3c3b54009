-- Search (q), filters, order and sync (updatedSince) on the lists, in a firm
-- of its own (firm C), so that the results do not depend on other files.
\set VERBOSITY terse
DO $$
DECLARE
    fc uuid := esqase_create_firm('Firm C');
    c_owner uuid := esqase_create_member(fc, 'Cora Owner', 'cora@c.test', true);
    c_clerk uuid := esqase_create_member(fc, 'Carl Clerk', 'carl@c.test');
BEGIN
    INSERT INTO t.ids VALUES ('lf_firm', fc), ('lf_owner', c_owner), ('lf_clerk', c_clerk);
    INSERT INTO t.keys VALUES ('lf', esqase_create_api_key(c_owner, esqase.valid_scopes())),
                              ('lf_clerk', esqase_create_api_key(c_clerk, esqase.valid_scopes()));
END
$$;
SET ROLE esqase_api;

-- A list call as key, shown as its records' names (or titles) and the total;
-- ranked by relevance (q without order), sorted by name, since the order of
-- equally relevant records is by id, which differs from run to run.
CREATE FUNCTION pg_temp.names(key text, fn text, params text) RETURNS text LANGUAGE sql AS $$
    SELECT coalesce(r ->> 'error', format('%s (total %s)',
               (SELECT string_agg(x.name, ', ' ORDER BY CASE WHEN params ~ '"q"' AND params !~ '"order"'
                                                             THEN x.name END, x.n)
                  FROM jsonb_array_elements(r -> 'data') WITH ORDINALITY d(doc, n),
                       LATERAL (SELECT d.n, coalesce(d.doc ->> 'name', d.doc ->> 'title', d.doc #>> '{contact,name}') AS name) x),
               r #>> '{pagination,total}'))
      FROM t.call(key, format('%s(%L)', fn, t.ml_sub(params))) r
$$;

-- The parameters each list takes: one home, esqase.list_parameters.
SELECT r AS resource, esqase.list_parameters(r) AS parameters
  FROM unnest(ARRAY['contacts', 'practice-areas', 'matter-types', 'matters', 'leads', 'members', 'firms']) r;

-- Contacts: q is prefix-matching, case- and accent-insensitive, over the
-- name fields, company name, emails and phones.
-- (one statement each: a statement's records share its transaction's time)
SELECT t.api('lf', $$esqase_contacts_create('{"type": "PERSON", "firstName": "Émile", "lastName": "Zoë", "emails": ["emile@example.com"], "phones": ["+1 555-0100"]}')$$) #>> '{data,name}' AS created;
SELECT t.api('lf', $$esqase_contacts_create('{"type": "COMPANY", "companyName": "Acme Holdings", "tradeName": "Roadrunner"}')$$) #>> '{data,name}' AS created;
SELECT t.api('lf', $$esqase_contacts_create('{"type": "PERSON", "firstName": "Bob", "lastName": "Smith", "nickname": "Bobby"}')$$) #>> '{data,name}' AS created;
SELECT t.api('lf', $$esqase_contacts_create('{"type": "PERSON", "firstName": "Zoe", "lastName": "Adams", "emails": ["zoe@adams.test"]}')$$) #>> '{data,name}' AS created;
SELECT q, pg_temp.names('lf', 'esqase_contacts_list', format('{"q": %s}', to_json(q))) AS found FROM (VALUES
    ('emi'), ('EMILE'), ('zoe'), ('zoë adams'), ('example'), ('emile@exa'), ('5550100'), ('555'),
    ('smi bo'), ('road'), ('acme hold'), ('nobody')) v(q);
-- Ranked by relevance when q is given (ties by id), else by the order asked.
SELECT pg_temp.names('lf', 'esqase_contacts_list', '{"q": "zoe", "order": "-name"}') AS q_and_order;
SELECT o, pg_temp.names('lf', 'esqase_contacts_list', format('{"order": "%s"}', o)) AS ordered
  FROM unnest(ARRAY['name', '-name', 'createdAt', '-createdAt']) o;
SELECT pg_temp.names('lf', 'esqase_contacts_list', '{"type": "COMPANY"}') AS companies,
       pg_temp.names('lf', 'esqase_contacts_list', '{"type": "PERSON", "order": "name"}') AS people,
       pg_temp.names('lf', 'esqase_contacts_list', '{"status": "ACTIVE", "createdSince": "2000-01-01T00:00:00Z"}') AS active,
       pg_temp.names('lf', 'esqase_contacts_list', '{"createdSince": "2999-01-01T00:00:00Z"}') AS future;

-- A cursor walk in name order, one per page: every contact once.
WITH RECURSIVE walk(n, page) AS (
    SELECT 1, t.call('lf', $$esqase_contacts_list('{"order": "name", "limit": "1"}')$$)
    UNION ALL
    SELECT n + 1, t.call('lf', format('esqase_contacts_list(%L)',
                  jsonb_build_object('order', 'name', 'limit', '1', 'cursor', page #>> '{pagination,nextCursor}')))
      FROM walk WHERE page #>> '{pagination,nextCursor}' IS NOT NULL)
SELECT string_agg(page #>> '{data,0,name}', ', ' ORDER BY n) AS walked FROM walk;
-- A cursor belongs to its order and filters: reused with others, a 400.
SELECT t.err('lf', format('esqase_contacts_list(%L)', jsonb_build_object('order', o, 'limit', '1', 'cursor',
             t.call('lf', $$esqase_contacts_list('{"order": "name", "limit": "1"}')$$) #>> '{pagination,nextCursor}'))) AS reused
  FROM unnest(ARRAY['name', '-name', 'createdAt']) o;
SELECT t.err('lf', format('esqase_contacts_list(%L)', jsonb_build_object('type', 'PERSON', 'cursor',
             t.call('lf', $$esqase_contacts_list('{"limit": "1"}')$$) #>> '{pagination,nextCursor}'))) AS other_filter;

-- Sync: with updatedSince, a deleted record is listed too, with deletedAt
-- (the last field; null for the live ones); without it, not.
SELECT t.api('lf', format('esqase_contacts_delete(%L)',
             t.call('lf', $$esqase_contacts_list('{"q": "bob"}')$$) #>> '{data,0,id}')) #>> '{data,name}' AS deleted;
SELECT pg_temp.names('lf', 'esqase_contacts_list', '{}') AS live,
       pg_temp.names('lf', 'esqase_contacts_list', '{"q": "bob"}') AS live_q,
       pg_temp.names('lf', 'esqase_contacts_list', '{"updatedSince": "2000-01-01T00:00:00Z", "order": "name"}') AS sync;
SELECT d ->> 'name' AS name, d ->> 'status' AS status, d ->> 'deletedAt' IS NOT NULL AS deleted
  FROM jsonb_array_elements(t.call('lf', $$esqase_contacts_list('{"updatedSince": "2000-01-01T00:00:00+00:00", "order": "name"}')$$) -> 'data') d;
SELECT pg_temp.names('lf', 'esqase_contacts_list', '{"updatedSince": "2000-01-01T00:00:00Z", "status": "ARCHIVED"}') AS sync_archived,
       t.call('lf', $$esqase_contacts_list('{"order": "name"}')$$) #> '{data,0}' ? 'deletedAt' AS deleted_at_outside_sync;

-- Matters: q over title, publicId, description and the clients' names;
-- practiceAreaId, stageId, clientContactId, status; order by title.
INSERT INTO t.ids SELECT 'lf_area', (t.api('lf', $$esqase_practice_areas_create('{"name": "Litigation"}')$$) #>> '{data,id}')::uuid;
INSERT INTO t.ids SELECT 'lf_area2', (t.api('lf', $$esqase_practice_areas_create('{"name": "Estates"}')$$) #>> '{data,id}')::uuid;
INSERT INTO t.ids SELECT 'lf_stage1', (t.api('lf', t.ml_call('esqase_practice_areas_get', '{lf_area}')) #>> '{data,stages,1,id}')::uuid;
INSERT INTO t.ids SELECT 'lf_emile', (t.call('lf', $$esqase_contacts_list('{"q": "emile"}')$$) #>> '{data,0,id}')::uuid;
INSERT INTO t.ids SELECT 'lf_acme', (t.call('lf', $$esqase_contacts_list('{"q": "acme"}')$$) #>> '{data,0,id}')::uuid;
SELECT t.api('lf', t.ml_call('esqase_matters_create', '{"practiceAreaId": "{lf_area}", "openDate": "2026-07-01", "title": "Zoë v. Acme", "clientContactIds": ["{lf_emile}"]}')) #>> '{data,publicId}' AS created;
SELECT t.api('lf', t.ml_call('esqase_matters_create', '{"practiceAreaId": "{lf_area}", "openDate": "2026-07-01", "title": "Acme merger", "description": "Due diligence",
       "practiceAreaStageColumnId": "{lf_stage1}", "clientContactIds": ["{lf_acme}"], "status": "DRAFT"}')) #>> '{data,publicId}' AS created;
SELECT t.api('lf', t.ml_call('esqase_matters_create', '{"practiceAreaId": "{lf_area2}", "openDate": "2026-07-01", "title": "Estate of Ada"}')) #>> '{data,publicId}' AS created;
SELECT p AS params, pg_temp.names('lf', 'esqase_matters_list', p) AS found FROM (VALUES
    ('{"q": "acme"}'), ('{"q": "emile"}'), ('{"q": "M-0003"}'), ('{"q": "dilig"}'), ('{"q": "zoe v"}'),
    ('{"practiceAreaId": "{lf_area}"}'), ('{"practiceAreaId": "{lf_area2}"}'), ('{"stageId": "{lf_stage1}"}'),
    ('{"clientContactId": "{lf_emile}"}'), ('{"status": "DRAFT"}'), ('{"status": "ARCHIVE"}'),
    ('{"order": "title"}'), ('{"order": "-title"}'), ('{"practiceAreaId": "{lf_area}", "order": "-createdAt"}')) v(p);

-- Leads: q searches the lead's contact; practiceAreaId, stageId, status.
-- A private lead and its prospect stay hidden from a member who is not
-- assigned, under every filter and q.
SELECT t.api('lf', t.ml_call('esqase_leads_create', '{"type": "PERSON", "firstName": "Paula", "lastName": "Public", "practiceAreaId": "{lf_area}"}')) #>> '{data,publicId}' AS created;
SELECT t.api('lf', t.ml_call('esqase_leads_create', '{"type": "PERSON", "firstName": "Priya", "lastName": "Private", "isPrivate": true, "practiceAreaId": "{lf_area}"}')) #>> '{data,publicId}' AS created;
SELECT p AS params, pg_temp.names('lf', 'esqase_leads_list', p) AS owner_sees,
       pg_temp.names('lf_clerk', 'esqase_leads_list', p) AS clerk_sees FROM (VALUES
    ('{}'), ('{"q": "pri"}'), ('{"q": "p"}'), ('{"practiceAreaId": "{lf_area}"}'), ('{"status": "PENDING"}'),
    ('{"order": "name"}'), ('{"updatedSince": "2000-01-01T00:00:00Z"}'), ('{"createdSince": "2000-01-01T00:00:00Z"}')) v(p);
SELECT p AS params, pg_temp.names('lf', 'esqase_contacts_list', p) AS owner_sees,
       pg_temp.names('lf_clerk', 'esqase_contacts_list', p) AS clerk_sees FROM (VALUES
    ('{"q": "priya"}'), ('{"q": "p"}'), ('{"type": "PERSON", "order": "-name"}'),
    ('{"updatedSince": "2000-01-01T00:00:00Z", "q": "private"}')) v(p);

-- Practice areas, matter types and members take the common parameters.
SELECT pg_temp.names('lf', 'esqase_practice_areas_list', '{"order": "name"}') AS areas,
       pg_temp.names('lf', 'esqase_practice_areas_list', '{"order": "-name", "status": "ACTIVE"}') AS areas_desc,
       pg_temp.names('lf', 'esqase_members_list', '{"order": "name"}') AS members,
       pg_temp.names('lf', 'esqase_members_list', '{"status": "INACTIVE"}') AS inactive;
SELECT t.api('lf', t.ml_call('esqase_matter_types_create', '{"practiceAreaId": "{lf_area}", "name": "Trial"}')) #>> '{data,name}' AS created;
SELECT t.api('lf', t.ml_call('esqase_matter_types_create', '{"practiceAreaId": "{lf_area}", "name": "Appeal"}')) #>> '{data,name}' AS created;
SELECT pg_temp.names('lf', 'esqase_matter_types_list', '{"practiceAreaId": "{lf_area}", "order": "name"}') AS types,
       pg_temp.names('lf', 'esqase_matter_types_list', '{"practiceAreaId": "{lf_area}", "order": "-createdAt", "limit": "1"}') AS newest;

-- Bad values of every parameter: a 400 (22023) naming it.
SELECT fn, left(p, 45) AS params, t.err('lf', format('%s(%L)', fn, p)) AS error FROM (VALUES
    ('esqase_contacts_list', '{"order": "title"}'), ('esqase_contacts_list', '{"order": "+name"}'),
    ('esqase_matters_list', '{"order": "name"}'), ('esqase_contacts_list', '{"status": "DRAFT"}'),
    ('esqase_leads_list', '{"status": "ACTIVE"}'), ('esqase_contacts_list', '{"type": "person"}'),
    ('esqase_contacts_list', '{"createdSince": "yesterday"}'), ('esqase_contacts_list', '{"createdSince": "2026-07-01"}'),
    ('esqase_contacts_list', '{"updatedSince": "2026-02-30T00:00:00Z"}'),
    ('esqase_contacts_list', '{"updatedSince": "2026-07-01T09:30:00"}'), ('esqase_contacts_list', '{"q": "!!!"}'),
    ('esqase_contacts_list', format('{"q": "%s"}', repeat('a', 201))), ('esqase_matters_list', '{"practiceAreaId": "x"}'),
    ('esqase_leads_list', '{"stageId": "42"}'), ('esqase_matters_list', '{"clientContactId": "nope"}'),
    ('esqase_members_list', '{"q": "ann"}'), ('esqase_practice_areas_list', '{"type": "PERSON"}'),
    ('esqase_leads_list', '{"clientContactId": "00000000-0000-0000-0000-000000000000"}'),
    ('esqase_contacts_list', '{"cursor": "WyJtYXR0ZXJzIl0"}')) v(fn, p);

-- Phones by their digits, whatever the punctuation, on either side.
SELECT t.api('lf', $$esqase_contacts_create('{"type": "COMPANY", "companyName": "Dialtone", "phones": ["+1-555-0199", "(212) 555.0142"]}')$$) #>> '{data,name}' AS created;
SELECT q, pg_temp.names('lf', 'esqase_contacts_list', format('{"q": %s}', to_json(q))) AS found FROM (VALUES
    ('5550199'), ('555-0199'), ('+1 555 0199'), ('15550199'), ('0199'), ('2125550142'), ('(212) 555-0142'),
    ('555.0142'), ('555-0100'), ('555-9999'), ('019')) v(q);
