
-------------------------------------------------------------------------------
-- 32 Matter types: a named sub-type of one practice area.  Listing needs the
-- practiceAreaId query parameter; a type never moves to another area.
-- Read, rename (the update), delete: generated in 36_records.sql.
-------------------------------------------------------------------------------

-- Matter types as the API renders them, for ids; see contact_docs.
CREATE OR REPLACE FUNCTION esqase.matter_type_docs(firm uuid, ids uuid[]) RETURNS TABLE (n bigint, doc json)
LANGUAGE sql STABLE AS $$
    SELECT u.n, json_build_object(
        'id', mt.id, 'practiceAreaId', mt.practice_area_id, 'name', mt.name, 'status', mt.status,
        'createdAt', esqase.ts(mt.created_at), 'updatedAt', esqase.ts(mt.updated_at))
      FROM unnest(ids) WITH ORDINALITY AS u(id, n)
      JOIN esqase.matter_types mt ON mt.firm_id = firm AND mt.id = u.id
$$;

-- The matter types of the request's practice area (practiceAreaId, required)
-- that match its filters; see contacts_matching.
CREATE OR REPLACE FUNCTION esqase.matter_types_matching(firm uuid, r esqase.page_request)
RETURNS TABLE (created_at timestamptz, updated_at timestamptz, name text, rank real, id uuid,
               deleted_at timestamptz)
LANGUAGE sql STABLE AS $$
    SELECT mt.created_at, mt.updated_at, mt.name, NULL::real, mt.id, mt.deleted_at
      FROM esqase.matter_types mt
     WHERE mt.firm_id = firm AND mt.practice_area_id = r.area
       AND esqase.list_match(r, mt.deleted_at, mt.status, mt.created_at, mt.updated_at)
$$;

-- A new matter type from a create's body, checked: its practice area (of
-- the firm, live) and name; the one check of a create, shared with
-- matter_types_create_many.
CREATE OR REPLACE FUNCTION esqase.matter_type_new(firm uuid, body jsonb, OUT area uuid, OUT name text)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    PERFORM esqase.check_body(body, '{practiceAreaId,name}');
    area := (esqase.practice_area_find(firm, esqase.body_uuid(body, 'practiceAreaId', true),
                                       'practiceAreaId')).id;
    name := btrim(esqase.body_text(body, 'name', true, 200));
END
$$;

CREATE OR REPLACE FUNCTION esqase.matter_types_create(body jsonb, idempotency_key text DEFAULT NULL) RETURNS json
LANGUAGE plpgsql AS $$
DECLARE
    firm uuid := esqase.api_access('matter-types', 'write');
    replay json := esqase.idempotency_begin(firm, 'matter-types', body, idempotency_key);
    area uuid;
    new_name text;
    created uuid;
BEGIN
    IF replay IS NOT NULL THEN
        RETURN replay;
    END IF;
    SELECT n.area, n.name INTO area, new_name FROM esqase.matter_type_new(firm, body) n;
    INSERT INTO esqase.matter_types (firm_id, practice_area_id, name)
    VALUES (firm, area, new_name)
    RETURNING id INTO created;
    RETURN esqase.idempotency_end(firm, idempotency_key, esqase.matter_type_one(firm, created));
END
$$;

