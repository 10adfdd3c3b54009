-- Bad input never yields an internal error: every write function of every
-- resource, fed malformed and invalid bodies, answers with a documented
-- SQLSTATE (22023 for a body that is not an object, 23514 naming the field
-- otherwise, P0002 for a missing reference where the spec says 404).
\set VERBOSITY terse
SET ROLE esqase_api;
INSERT INTO t.ids SELECT 'fz_area', (t.api('a', $$esqase_practice_areas_create('{"name": "Fuzz law"}')$$) #>> '{data,id}')::uuid;
INSERT INTO t.ids SELECT 'fz_contact', (t.api('a', $$esqase_contacts_create('{"type": "PERSON", "firstName": "Fuzz"}')$$) #>> '{data,id}')::uuid;
INSERT INTO t.ids SELECT 'fz_type', (t.api('a', format($$esqase_matter_types_create('{"practiceAreaId": "%s", "name": "Fuzz"}')$$, t.id('fz_area'))) #>> '{data,id}')::uuid;
INSERT INTO t.ids SELECT 'fz_matter', (t.api('a', format($$esqase_matters_create('{"practiceAreaId": "%s", "openDate": "2026-01-01"}')$$, t.id('fz_area'))) #>> '{data,id}')::uuid;
INSERT INTO t.ids SELECT 'fz_lead', (t.api('a', $$esqase_leads_create('{"type": "PERSON", "firstName": "Fuzz"}')$$) #>> '{data,id}')::uuid;
SELECT count(*) AS fixtures FROM t.ids WHERE name LIKE 'fz\_%' AND id IS NOT NULL;

CREATE TEMP TABLE fz_bodies (b jsonb);
INSERT INTO fz_bodies VALUES
 (NULL), ('null'), ('[]'), ('"x"'), ('1'), ('true'), ('{"": 1}'), ('{"x": 1, "y": 2}'),
 ('{"name": 1}'), ('{"name": {"a": 1}}'), ('{"name": [1]}'), ('{"name": true}'), ('{"name": ""}'),
 ('{"type": null}'), ('{"type": ["PERSON"]}'), ('{"type": "PERSON", "firstName": "x", "emails": [null]}'),
 ('{"type": "PERSON", "firstName": "x", "emails": [["a@b.co"]]}'), ('{"type": "PERSON", "firstName": "x", "emails": {"a": 1}}'),
 ('{"type": "PERSON", "firstName": "x", "phones": [1]}'), ('{"firstName": {"x": 1}}'),
 ('{"practiceAreaId": 1}'), ('{"practiceAreaId": "00000000-0000-0000-0000-000000000000"}'),
 ('{"practiceAreaId": "zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz"}'), ('{"practiceAreaId": "{00000000-0000-4000-8000-000000000000}"}'),
 ('{"practiceAreaId": "000000000000400080000000000000aa"}'), ('{"practiceAreaId": null}'),
 ('{"openDate": "2026-13-01"}'), ('{"openDate": "99999-01-01"}'), ('{"openDate": "0000-01-01"}'), ('{"openDate": "2026-02-29"}'),
 ('{"openDate": 20260101}'), ('{"openDate": "2026-01-01T00:00:00Z"}'), ('{"closeDate": "1900-01-01"}'), ('{"status": "archive"}'), ('{"status": 1}'),
 ('{"team": "x"}'), ('{"team": [1]}'), ('{"team": [{"memberId": 1}]}'), ('{"team": [{}]}'),
 ('{"team": [{"memberId": "00000000-0000-4000-8000-000000000000", "allocation": "50"}]}'),
 ('{"team": [{"memberId": "00000000-0000-4000-8000-000000000000", "allocation": 1e400}]}'),
 ('{"team": [{"memberId": "00000000-0000-4000-8000-000000000000", "allocation": -0.001}]}'),
 ('{"clientContactIds": "x"}'), ('{"clientContactIds": [1]}'), ('{"clientContactIds": [null]}'),
 ('{"clientContactIds": ["00000000-0000-4000-8000-000000000000", "00000000-0000-4000-8000-000000000000"]}'),
 ('{"isPrivate": "true"}'), ('{"isPrivate": null}'), ('{"value": "huge"}'), ('{"assigneeIds": [null]}'), ('{"assigneeIds": "me"}'),
 ('{"leadStageColumnId": ""}'), ('{"practiceAreaStageColumnId": null}'), ('{"matterTypeId": "x"}'),
 ('{"email": "x"}'), ('{"phone": 5}'), ('{"phone": ""}'),
 (jsonb_build_object('name', repeat('x', 100000))), (jsonb_build_object('title', repeat('x', 100000))),
 (jsonb_build_object('description', repeat('x', 200000))),
 ('{"id": "00000000-0000-4000-8000-000000000000"}'), ('{"createdAt": "2026-01-01T00:00:00Z"}'), ('{"stages": []}'),
 ('{"publicId": "M-9999"}'), ('{"deletedAt": null}'), ('{"firm_id": "00000000-0000-4000-8000-000000000000"}'),
 ('{"firmId": "00000000-0000-4000-8000-000000000000"}');
CREATE TEMP TABLE fz_out AS
SELECT f.fn, b.b, t.api('a', CASE WHEN f.fn LIKE '%create' THEN format('%s(%L::jsonb)', f.fn, b.b)
                                  ELSE format('%s(%L, %L::jsonb)', f.fn, t.id(f.fixture), b.b) END) -> 'error' AS e
  FROM fz_bodies b,
       (VALUES ('esqase_contacts_create', NULL), ('esqase_contacts_update', 'fz_contact'),
               ('esqase_practice_areas_create', NULL), ('esqase_practice_areas_update', 'fz_area'),
               ('esqase_matter_types_create', NULL), ('esqase_matter_types_update', 'fz_type'),
               ('esqase_matters_create', NULL), ('esqase_matters_update', 'fz_matter'),
               ('esqase_leads_create', NULL), ('esqase_leads_update', 'fz_lead')) AS f(fn, fixture);
-- Per function: how each answered.
SELECT fn, count(*) AS calls,
       count(*) FILTER (WHERE e IS NULL) AS ok,
       string_agg(DISTINCT e ->> 'sqlstate', ' ' ORDER BY e ->> 'sqlstate') AS sqlstates
  FROM fz_out GROUP BY fn ORDER BY fn;
-- Nothing outside the documented SQLSTATEs ...
SELECT fn, left(b::text, 60) AS body, e FROM fz_out
 WHERE e ->> 'sqlstate' NOT IN ('22023', '23514', 'P0002') ORDER BY 1, 2;
-- ... and every 422 names its field.
SELECT fn, left(b::text, 60) AS body, e FROM fz_out
 WHERE e ->> 'sqlstate' = '23514' AND coalesce(e ->> 'field', '') = '' AND b <> '{"": 1}' ORDER BY 1, 2;
-- The bodies that were accepted changed nothing they should not have.
SELECT fn, b::text AS accepted_body FROM fz_out WHERE e IS NULL ORDER BY 1, 2;

-- Ids: a NULL id is a malformed request (22023); a malformed one never
-- reaches the function (it is not a uuid: 22P02).
SELECT fn, t.err('a', format('%s(NULL%s)', fn, CASE WHEN fn LIKE '%update' THEN $$, '{}'$$ ELSE '' END)) AS null_id
  FROM unnest(ARRAY['esqase_contacts_get', 'esqase_contacts_update', 'esqase_contacts_delete',
                    'esqase_practice_areas_get', 'esqase_practice_areas_update', 'esqase_practice_areas_delete',
                    'esqase_matter_types_get', 'esqase_matter_types_update', 'esqase_matter_types_delete',
                    'esqase_matters_get', 'esqase_matters_update', 'esqase_matters_delete',
                    'esqase_leads_get', 'esqase_leads_update', 'esqase_leads_delete']) AS fn
 ORDER BY 1;
SELECT t.err('a', $$esqase_contacts_get('not-a-uuid')$$) AS malformed_id;
