
-------------------------------------------------------------------------------
-- 36 Single records: finding, rendering, reading and deleting one record are
-- the same for every resource but for its table, its name in messages and
-- who may see it, so they are written once here and generated per resource
-- at install time (static SQL in every generated body: plans stay cached).
-- Generated here:
--
--   esqase.{contact,practice_area,matter_type,matter,lead,member}_one(firm, record_id)
--       {"data": record}, noting its version for the ETag (esqase.one_version)
--   esqase.{contact,practice_area,matter_type,matter,lead}_find(firm, record_id,
--           field, for_update, expected)
--       the live row the context may see, else 404 (a 422 on field when a
--       body field named it); with for_update locked, then its updated_at
--       checked against expected (esqase.check_version, HTTP 412)
--   esqase.{contacts,practice_areas,matter_types,matters,leads}_get(id)
--   esqase.{contacts,practice_areas,matter_types,matters,leads}_delete(id, expected_updated_at)
--       soft delete: deleted_at set, and the archived status of contacts,
--       practice areas and matter types (ARCHIVED) and matters (ARCHIVE); a
--       matter keeps its clients and team, a lead's contact stays a contact
--
--   esqase.{practice_areas,matter_types}_update(id, body, expected_updated_at)
--       a rename: their only changeable field is name
--
-- The create and list functions, and the other updates, stay in each
-- resource's file.
-------------------------------------------------------------------------------

DO $gen$
DECLARE
    -- singular, table, name in messages, who may see row r, what a delete sets
    r text[];
BEGIN
    FOREACH r SLICE 1 IN ARRAY ARRAY[
            ['contact', 'contacts', 'contact',
             'r.hidden_by_lead IS NULL OR esqase.context_is_owner() OR esqase.context_assigned(r.hidden_by_lead)',
             'status = ''ARCHIVED'', deleted_at = now()'],
            ['practice_area', 'practice_areas', 'practice area', 'true',
             'status = ''ARCHIVED'', deleted_at = now()'],
            ['matter_type', 'matter_types', 'matter type', 'true',
             'status = ''ARCHIVED'', deleted_at = now()'],
            ['matter', 'matters', 'matter', 'true',
             'status = ''ARCHIVE'', deleted_at = now()'],
            ['lead', 'leads', 'lead', 'esqase.lead_visible(r.firm_id, r.id, r.is_private)',
             'deleted_at = now()'],
            ['member', 'members', 'member', NULL, NULL]] LOOP
        EXECUTE format($f$
CREATE OR REPLACE FUNCTION esqase.%1$s_one(firm uuid, record_id uuid) RETURNS json
LANGUAGE plpgsql STABLE AS $$
DECLARE
    doc json;
    version timestamptz;
BEGIN
    SELECT d.doc, t.updated_at INTO doc, version
      FROM esqase.%1$s_docs(firm, ARRAY[record_id]) d
      JOIN esqase.%2$I t ON t.firm_id = firm AND t.id = record_id;
    RETURN esqase.one_version(doc, version);
END
$$$f$, r[1], r[2]);
        CONTINUE WHEN r[1] = 'member';   -- read-only, inactive members included (35_members.sql)

        EXECUTE format($f$
CREATE OR REPLACE FUNCTION esqase.%1$s_find(firm uuid, record_id uuid, field text DEFAULT NULL,
                                            for_update boolean DEFAULT false,
                                            expected timestamptz DEFAULT NULL)
RETURNS esqase.%2$I LANGUAGE plpgsql AS $$
DECLARE
    rec esqase.%2$I;
BEGIN
    -- who may see the row is part of the query (one plan, no second
    -- statement to evaluate it)
    IF for_update THEN
        SELECT * INTO rec FROM esqase.%2$I r
         WHERE r.firm_id = firm AND r.id = record_id AND r.deleted_at IS NULL AND (%4$s) FOR UPDATE;
    ELSE
        SELECT * INTO rec FROM esqase.%2$I r
         WHERE r.firm_id = firm AND r.id = record_id AND r.deleted_at IS NULL AND (%4$s);
    END IF;
    IF NOT FOUND THEN
        IF field IS NULL THEN
            PERFORM esqase.not_found(%3$L, record_id);
        END IF;
        PERFORM esqase.fail('23514', format('%%s: %%s %%s not found', field, %3$L, record_id), field);
    END IF;
    IF expected IS NOT NULL THEN
        PERFORM esqase.check_version(%3$L, record_id, rec.updated_at, expected);
    END IF;
    RETURN rec;
END
$$$f$, r[1], r[2], r[3], r[4]);

        EXECUTE format($f$
CREATE OR REPLACE FUNCTION esqase.%2$s_get(id uuid) RETURNS json
LANGUAGE plpgsql STABLE AS $$
DECLARE
    firm uuid := esqase.api_access(%3$L, 'read');
BEGIN
    RETURN esqase.%1$s_one(firm, (esqase.%1$s_find(firm, id)).id);
END
$$$f$, r[1], r[2], replace(r[2], '_', '-'));

        EXECUTE format($f$
CREATE OR REPLACE FUNCTION esqase.%2$s_delete(id uuid, expected_updated_at timestamptz DEFAULT NULL)
RETURNS json LANGUAGE plpgsql AS $$
DECLARE
    firm uuid := esqase.api_access(%3$L, 'write');
    deleted uuid := (esqase.%1$s_find(firm, id, NULL, true, expected_updated_at)).id;
BEGIN
    UPDATE esqase.%2$I t SET %4$s WHERE t.firm_id = firm AND t.id = deleted;
    RETURN esqase.%1$s_one(firm, deleted);
END
$$$f$, r[1], r[2], replace(r[2], '_', '-'), r[5]);
    END LOOP;

    -- singular, table, the response's fields a PATCH cannot set
    FOREACH r SLICE 1 IN ARRAY ARRAY[
            ['practice_area', 'practice_areas', '{stages,matterTypes,status}'],
            ['matter_type', 'matter_types', '{practiceAreaId,status}']] LOOP
        EXECUTE format($f$
CREATE OR REPLACE FUNCTION esqase.%2$s_update(id uuid, body jsonb, expected_updated_at timestamptz DEFAULT NULL)
RETURNS json LANGUAGE plpgsql AS $$
DECLARE
    firm uuid := esqase.api_access(%3$L, 'write');
    record_id uuid;
    new_name text;
BEGIN
    PERFORM esqase.check_body(body, '{name}', %4$L);
    record_id := (esqase.%1$s_find(firm, id, NULL, true, expected_updated_at)).id;
    IF body ? 'name' THEN
        new_name := btrim(esqase.body_text(body, 'name', true, 200));
        -- a rename to the same name writes nothing (updatedAt, audit log)
        UPDATE esqase.%2$I t SET name = new_name
         WHERE t.firm_id = firm AND t.id = record_id AND t.name IS DISTINCT FROM new_name;
    END IF;
    RETURN esqase.%1$s_one(firm, record_id);
END
$$$f$, r[1], r[2], replace(r[2], '_', '-'), r[3]);
    END LOOP;
END
$gen$;
