-- Versions: updated_at moves forward on every real update, and update and
-- delete take the version the caller read (expected_updated_at): absent,
-- it is not checked; equal to the row's, the write is made; anything else
-- is 55000 (HTTP 412) on expected_updated_at, and nothing is written.
\set VERBOSITY terse

-- The version of a record (as key a: a failed t.err call ends the context).
CREATE FUNCTION t.version(res text, id uuid) RETURNS timestamptz LANGUAGE plpgsql AS $$
DECLARE
    v timestamptz;
BEGIN
    PERFORM esqase_authenticate((SELECT token FROM t.keys WHERE name = 'a'));
    EXECUTE format('SELECT updated_at FROM esqase.%I WHERE id = $1', res) INTO v USING id;
    RETURN v;
END
$$;

-- The cases for one record of resource res (body1 and body2 are two
-- different updates), in one transaction, so now() does not move: the
-- versions still do, by a microsecond.
CREATE FUNCTION t.versions(res text, id uuid, body1 text, body2 text)
RETURNS TABLE ("case" text, result text) LANGUAGE plpgsql AS $$
DECLARE
    v0 timestamptz;
    v1 timestamptz;
    v2 timestamptz;
    upd text := format('esqase_%s_update(%L, %%L, %%L)', res, id);
    del text := format('esqase_%s_delete(%L, %%L)', res, id);
BEGIN
    v0 := t.version(res, id);
    "case" := 'absent'; result := t.err('a', format('esqase_%s_update(%L, %L)', res, id, body1));
    RETURN NEXT;
    v1 := t.version(res, id);
    "case" := 'absent: version moved'; result := (v1 > v0)::text; RETURN NEXT;
    "case" := 'stale'; result := t.err('a', format(upd, body2, v0)); RETURN NEXT;
    "case" := 'stale wrote nothing';
    v0 := t.version(res, id);
    result := (v0 = v1)::text;
    RETURN NEXT;
    "case" := 'the second of updatedAt'; result := t.err('a', format(upd, body2, date_trunc('second', v1)));
    RETURN NEXT;
    "case" := 'match'; result := t.err('a', format(upd, body2, v1)); RETURN NEXT;
    v2 := t.version(res, id);
    "case" := 'match: version moved'; result := (v2 > v1)::text; RETURN NEXT;
    "case" := 'no change, matching'; result := t.err('a', format(upd, body2, v2)); RETURN NEXT;
    "case" := 'no change kept the version';
    v0 := t.version(res, id);
    result := (v0 = v2)::text;
    RETURN NEXT;
    "case" := 'delete, stale'; result := t.err('a', format(del, v1)); RETURN NEXT;
    "case" := 'delete, match'; result := t.err('a', format(del, v2)); RETURN NEXT;
    "case" := 'delete again'; result := t.err('a', format(del, v2)); RETURN NEXT;
END
$$;

SET ROLE esqase_api;

INSERT INTO t.ids SELECT 'v_contact', (t.api('a', $$esqase_contacts_create('{"type": "PERSON", "firstName": "Vera"}')$$)
                                        #>> '{data,id}')::uuid;
INSERT INTO t.ids SELECT 'v_area', (t.api('a', $$esqase_practice_areas_create('{"name": "Versions"}')$$)
                                     #>> '{data,id}')::uuid;
INSERT INTO t.ids SELECT 'v_type', (t.api('a', t.ml_call('esqase_matter_types_create',
                                     '{"practiceAreaId": "{v_area}", "name": "Kind"}')) #>> '{data,id}')::uuid;
INSERT INTO t.ids SELECT 'v_matter', (t.api('a', t.ml_call('esqase_matters_create',
                                       '{"practiceAreaId": "{v_area}", "openDate": "2026-07-01"}')) #>> '{data,id}')::uuid;
INSERT INTO t.ids SELECT 'v_lead', (t.api('a', $$esqase_leads_create('{"type": "PERSON", "firstName": "Leo"}')$$)
                                     #>> '{data,id}')::uuid;
INSERT INTO t.ids SELECT 'v_jane', (t.api('a', $$esqase_contacts_create('{"type": "PERSON", "firstName": "Jane"}')$$)
                                     #>> '{data,id}')::uuid;

SELECT * FROM t.versions('contacts', t.id('v_contact'), '{"lastName": "One"}', '{"lastName": "Two"}');
SELECT * FROM t.versions('practice_areas', t.id('v_area'), '{"name": "Versions 1"}', '{"name": "Versions 2"}');
SELECT * FROM t.versions('matter_types', t.id('v_type'), '{"name": "Kind 1"}', '{"name": "Kind 2"}');
SELECT * FROM t.versions('matters', t.id('v_matter'), '{"title": "One"}', '{"title": "Two"}');
SELECT * FROM t.versions('leads', t.id('v_lead'), '{"value": "LOW"}', '{"value": "HIGH"}');

-- A stale version is checked after the record is found: a missing record
-- is still a 404, and a key without the scope still a 403.
SELECT t.err('a', format('esqase_matters_update(%L, %L, %L)', gen_random_uuid(), '{}', now()));
SELECT t.err('a_read', format('esqase_contacts_delete(%L, %L)', t.id('v_jane'), now()));
-- The version is the row's updated_at; a read does not change it.  (Read
-- under key a's context by t.version: without a context, row-level security
-- hides the row, the version would be NULL, and NULL is not checked.)
SELECT t.version('contacts', t.id('v_jane')) AS jane_version \gset
SELECT t.api('a', format('esqase_contacts_get(%L)', t.id('v_jane'))) #>> '{data,firstName}' AS read;
SELECT t.err('a', format('esqase_contacts_update(%L, %L, %L)', t.id('v_jane'), '{"nickname": "J"}', :'jane_version'));
RESET ROLE;
-- Without the API: the trigger alone moves it forward, twice in one transaction.
BEGIN;
UPDATE esqase.firms SET name = 'Firm A' WHERE id = t.id('firm_a') RETURNING updated_at = now() AS now;
UPDATE esqase.firms SET name = 'Firm A' WHERE id = t.id('firm_a')
RETURNING updated_at = now() + interval '1 microsecond' AS a_microsecond_later;
ROLLBACK;
