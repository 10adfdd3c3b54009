-- Bulk creates (issue 16): esqase_<resource>_create_many(bodies jsonb) takes
-- a JSON array of create bodies and writes them in one statement, with the
-- same checks, audit rows, totals, ids, public ids and scopes as one create
-- per element; an invalid element fails the whole call, naming its index,
-- and nothing is written.
\set VERBOSITY terse
SET ROLE esqase_api;

-- A firm of its own, so that totals and public ids start at zero here.
RESET ROLE;
DO $$
DECLARE
    f uuid := esqase_create_firm('Bulk LLP');
    o uuid := esqase_create_member(f, 'Bea Bulk', 'bea@bulk.test', true);
    m uuid := esqase_create_member(f, 'Max Member', 'max@bulk.test', false, '{practice_areas}');
BEGIN
    INSERT INTO t.ids VALUES ('bk_firm', f), ('bk_owner', o), ('bk_member', m);
    INSERT INTO t.keys VALUES
        ('bk', esqase_create_api_key(o, esqase.valid_scopes())),
        ('bk_member', esqase_create_api_key(m, esqase.valid_scopes())),
        ('bk_read', esqase_create_api_key(o, ARRAY['contacts:read', 'matters:read', 'leads:read',
                                                    'practice-areas:read', 'matter-types:read']));
END
$$;
SET ROLE esqase_api;

-- Every creatable resource has one, with the public wrapper's signature.
SELECT p.oid::regprocedure AS bulk_function, p.prorettype::regtype AS returns
  FROM pg_proc p WHERE p.proname LIKE 'esqase\_%\_create\_many' ORDER BY 1;

-- Contacts: records in the order sent, as one create renders them.
SELECT t.show('bk', $$esqase_contacts_create_many('[
    {"type": "PERSON", "firstName": "Ada", "lastName": "Bulk", "emails": ["ada@bulk.test"]},
    {"type": "COMPANY", "companyName": "Bulk Widgets", "phones": ["+1 555 0100"]}]')$$);
-- Searchable at once, counted at once.
SELECT jsonb_path_query_array(t.api('bk', $$esqase_contacts_list('{"q": "widgets"}')$$), '$.data[*].name') AS found,
       t.api('bk', 'esqase_contacts_list()') #> '{pagination,total}' AS total;

-- Practice areas (each with its three stages), matter types.
INSERT INTO t.ids SELECT 'bk_area', (t.api('bk', $$esqase_practice_areas_create_many('[{"name": "Tax"}, {"name": "Trusts"}]')$$) #>> '{data,0,id}')::uuid;
-- (records created in one transaction share a creation time: listed by id)
SELECT (SELECT string_agg(a, ', ' ORDER BY a) FROM jsonb_array_elements_text(jsonb_path_query_array(
            t.api('bk', $$esqase_practice_areas_list()$$), '$.data[*].name')) a) AS areas,
       jsonb_path_query_array(t.api('bk', format('esqase_practice_areas_get(%L)', t.id('bk_area'))), '$.data.stages[*].name') AS stages;
SELECT t.mask(t.api('bk', t.ml_call('esqase_matter_types_create_many', '[{"practiceAreaId": "{bk_area}", "name": "Audit"}, {"practiceAreaId": "{bk_area}", "name": "Estate"}]')) #> '{data}') AS matter_types;

-- Matters: public ids in the order sent, clients and team as one create.
RESET ROLE;
INSERT INTO t.ids SELECT 'bk_ada', id FROM esqase.contacts WHERE firm_id = t.id('bk_firm') AND first_name = 'Ada';
SET ROLE esqase_api;
SELECT jsonb_path_query_array(m, '$.data[*].publicId') AS public_ids,
       jsonb_path_query_array(m, '$.data[*].clients[*].name') AS clients,
       jsonb_path_query_array(m, '$.data[*].team[*].member.name') AS team
  FROM t.api('bk', t.ml_call('esqase_matters_create_many', '[
    {"practiceAreaId": "{bk_area}", "openDate": "2026-07-01", "title": "First", "clientContactIds": ["{bk_ada}"]},
    {"practiceAreaId": "{bk_area}", "openDate": "2026-07-02", "title": "Second",
     "team": [{"memberId": "{bk_member}", "role": "Associate", "allocation": 40}]}]')) m;

-- Leads: each with its new contact; a private one is hidden with its prospect.
SELECT jsonb_path_query_array(l, '$.data[*].publicId') AS public_ids,
       jsonb_path_query_array(l, '$.data[*].contact.name') AS contacts,
       jsonb_path_query_array(l, '$.data[*].isPrivate') AS private
  FROM t.api('bk', $$esqase_leads_create_many('[{"type": "PERSON", "firstName": "Lee", "email": "lee@bulk.test"},
                                                {"type": "COMPANY", "companyName": "Secret Co", "isPrivate": true}]')$$) l;
SELECT t.api('bk_member', 'esqase_leads_list()') #> '{pagination,total}' AS member_sees_leads,
       t.api('bk_member', 'esqase_contacts_list()') #> '{pagination,total}' AS member_sees_contacts,
       t.api('bk', 'esqase_contacts_list()') #> '{pagination,total}' AS owner_sees_contacts;
-- A member's private lead must include the member, as one create.
SELECT t.err('bk_member', $$esqase_leads_create_many('[{"type": "PERSON", "firstName": "Ok"}, {"type": "PERSON", "firstName": "Mine", "isPrivate": true, "assigneeIds": []}]')$$) AS private_unassigned;

-- The maintained totals and the audit log follow, one row per record.
RESET ROLE;
SELECT c.list, sum(c.n) AS kept FROM esqase.record_counts c WHERE c.firm_id = t.id('bk_firm') GROUP BY 1 ORDER BY 1;
SELECT table_name, action, count(*) AS audit_rows, count(DISTINCT key_id) AS keys, count(DISTINCT member_id) AS members
  FROM esqase.audit_log WHERE firm_id = t.id('bk_firm') AND key_id IS NOT NULL GROUP BY 1, 2 ORDER BY 1, 2;
SET ROLE esqase_api;

-- Errors: the element's index in the field and the message; nothing written.
SELECT t.err('bk', $$esqase_contacts_create_many('[{"type": "PERSON", "firstName": "A"}, {"type": "PERSON", "firstName": "B", "emails": ["nope"]}]')$$) AS bad_email;
SELECT t.err('bk', $$esqase_contacts_create_many('[{"type": "PERSON", "firstName": "A"}, 7]')$$) AS not_an_object;
SELECT t.err('bk', $$esqase_contacts_create_many('{"type": "PERSON", "firstName": "A"}')$$) AS not_an_array;
SELECT t.err('bk', 'esqase_contacts_create_many(NULL)') AS null_batch;
SELECT t.show('bk', $$esqase_contacts_create_many('[]')$$) AS empty_batch;
SELECT t.err('bk', t.ml_call('esqase_matters_create_many', '[{"practiceAreaId": "{bk_area}", "openDate": "2026-07-01"}, {"practiceAreaId": "{bk_area}", "openDate": "2026-02-30"}]')) AS bad_date;
SELECT t.err('bk', $$esqase_leads_create_many('[{"type": "PERSON", "firstName": "A"}, {"type": "PERSON", "firstName": "B"}, {"type": "PERSON"}]')$$) AS no_name;
SELECT t.api('bk', 'esqase_contacts_list()') #> '{pagination,total}' AS contacts_still,
       t.api('bk', 'esqase_leads_list()') #> '{pagination,total}' AS leads_still;
-- The numbers a failed batch would have used are not used up.
SELECT jsonb_path_query_array(t.api('bk', t.ml_call('esqase_matters_create_many', '[{"practiceAreaId": "{bk_area}", "openDate": "2026-07-03"}]')), '$.data[*].publicId') AS next_matter,
       jsonb_path_query_array(t.api('bk', $$esqase_leads_create_many('[{"type": "PERSON", "firstName": "Next"}]')$$), '$.data[*].publicId') AS next_lead;

-- Scopes, as one create.
SELECT t.err('bk_read', $$esqase_contacts_create_many('[]')$$) AS read_key,
       t.err(NULL, $$esqase_contacts_create_many('[]')$$) AS no_key,
       t.err('b', t.ml_call('esqase_matter_types_create_many', '[{"practiceAreaId": "{bk_area}", "name": "X"}]')) AS other_firms_area;

-- A number already used by a matter or lead inserted by hand is skipped.
RESET ROLE;
INSERT INTO esqase.matters (firm_id, public_id, title, open_date, practice_area_id, stage_id)
SELECT t.id('bk_firm'), 'M-0005', 'By hand', '2026-07-01', t.id('bk_area'), s.id
  FROM esqase.practice_area_stages s WHERE s.practice_area_id = t.id('bk_area') AND s."order" = 0;
INSERT INTO esqase.leads (firm_id, public_id, contact_id, stage_id, is_private)
SELECT t.id('bk_firm'), 'L-0005', t.id('bk_ada'), s.id, true
  FROM esqase.lead_stages s WHERE s.firm_id = t.id('bk_firm') AND s."order" = 0;
SET ROLE esqase_api;
SELECT jsonb_path_query_array(t.api('bk', t.ml_call('esqase_matters_create_many', '[{"practiceAreaId": "{bk_area}", "openDate": "2026-07-04"}, {"practiceAreaId": "{bk_area}", "openDate": "2026-07-05"}]')), '$.data[*].publicId') AS matters_skip,
       jsonb_path_query_array(t.api('bk', $$esqase_leads_create_many('[{"type": "PERSON", "firstName": "Y"}, {"type": "PERSON", "firstName": "Z"}]')$$), '$.data[*].publicId') AS leads_skip;

-- The same checks as one create: every body of the bad-input corpus, sent
-- alone to <resource>_create and as element [1] of a batch after a valid
-- one, fails with the same SQLSTATE and message, the field and message
-- prefixed by the index (or is accepted by both).
CREATE TEMP TABLE bk_bodies (b jsonb);
INSERT INTO bk_bodies VALUES
 ('null'), ('[]'), ('"x"'), ('1'), ('{"": 1}'), ('{"x": 1}'), ('{"name": 1}'), ('{"name": ""}'), ('{"name": "ok"}'),
 ('{"type": null}'), ('{"type": "ROBOT"}'), ('{"type": "PERSON"}'), ('{"type": "PERSON", "firstName": "x"}'),
 ('{"type": "PERSON", "firstName": "x", "emails": [null]}'), ('{"type": "PERSON", "firstName": "x", "emails": ["a@b"]}'),
 ('{"type": "PERSON", "firstName": "x", "phones": [1]}'), ('{"type": "PERSON", "firstName": "x", "companyName": "y"}'),
 ('{"type": "COMPANY"}'), ('{"type": "COMPANY", "companyName": "y", "email": "z"}'),
 ('{"type": "PERSON", "firstName": "x", "phone": ""}'), ('{"type": "PERSON", "firstName": "x", "value": "huge"}'),
 ('{"type": "PERSON", "firstName": "x", "isPrivate": "yes"}'), ('{"type": "PERSON", "firstName": "x", "leadStageColumnId": "00000000-0000-4000-8000-000000000000"}'),
 ('{"practiceAreaId": 1}'), ('{"practiceAreaId": "00000000-0000-4000-8000-000000000000"}'), ('{"practiceAreaId": null}'),
 ('{"openDate": "2026-13-01"}'), ('{"status": "archive"}'), ('{"team": [{}]}'), ('{"clientContactIds": [1]}'),
 (jsonb_build_object('name', repeat('x', 300)));
INSERT INTO bk_bodies SELECT b || jsonb_build_object('practiceAreaId', t.id('bk_area'))
  FROM (VALUES ('{"name": "Type"}'::jsonb), ('{"name": 5}'), ('{"openDate": "2026-07-01"}'), ('{"openDate": "2026-07-01", "status": "ARCHIVE"}'),
               ('{"openDate": "2026-07-01", "closeDate": "2026-01-01"}'),
               ('{"openDate": "2026-07-01", "team": [{"memberId": "00000000-0000-4000-8000-000000000000"}]}'),
               ('{"openDate": "2026-07-01", "clientContactIds": ["00000000-0000-4000-8000-000000000000"]}'),
               ('{"openDate": "2026-07-01", "practiceAreaStageColumnId": "00000000-0000-4000-8000-000000000000"}')) v (b);
CREATE TEMP TABLE bk_same AS
SELECT f.res, b.b,
       t.api('bk', format('esqase_%s_create(%L::jsonb)', f.res, b.b)) -> 'error' AS one,
       t.api('bk', format('esqase_%s_create_many(%L::jsonb)', f.res, jsonb_build_array(f.valid, b.b))) -> 'error' AS many
  FROM bk_bodies b,
       (VALUES ('contacts', '{"type": "PERSON", "firstName": "Valid"}'::jsonb),
               ('practice_areas', '{"name": "Valid"}'),
               ('matter_types', jsonb_build_object('practiceAreaId', t.id('bk_area'), 'name', 'Valid')),
               ('matters', jsonb_build_object('practiceAreaId', t.id('bk_area'), 'openDate', '2026-07-01')),
               ('leads', '{"type": "PERSON", "firstName": "Valid"}')) AS f (res, valid);
SELECT res, count(*) AS bodies, count(one) AS rejected_by_create,
       count(*) FILTER (WHERE one IS NULL AND many IS NULL) AS accepted_by_both,
       count(*) FILTER (WHERE one ->> 'sqlstate' = many ->> 'sqlstate'
                          AND '[1] ' || (one ->> 'message') = many ->> 'message'
                          AND '[1]' || coalesce('.' || (one ->> 'field'), '') = many ->> 'field') AS same_error
  FROM bk_same GROUP BY 1 ORDER BY 1;
SELECT res, b, one, many FROM bk_same
 WHERE NOT ((one IS NULL AND many IS NULL)
            OR (one ->> 'sqlstate' = many ->> 'sqlstate'
                AND '[1] ' || (one ->> 'message') = many ->> 'message'
                AND '[1]' || coalesce('.' || (one ->> 'field'), '') = many ->> 'field'));
-- What was accepted (by both), per resource.
SELECT res, t.unid(string_agg(b::text, ' ' ORDER BY b::text) FILTER (WHERE one IS NULL)) AS accepted
  FROM bk_same GROUP BY 1 ORDER BY 1;
