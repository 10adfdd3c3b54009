
-------------------------------------------------------------------------------
-- 32 Matter types: a named sub-type of one practice area.  Listing needs the
-- practiceAreaId query parameter; a type never moves to another area.
-- Read, rename (the update), delete: generated in 36_records.sql.
-------------------------------------------------------------------------------

-- The practice area of a live matter type of the context's firm (NULL:
-- none), which a matter may take if it is the matter's own (else a 422).
-- SECURITY DEFINER, for matters:write (see practice_area_live); other keys
-- without matter-types scopes get NULL.
CREATE OR REPLACE FUNCTION esqase.matter_type_area(firm uuid, matter_type uuid) RETURNS uuid
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RETURN (SELECT t.practice_area_id FROM esqase.matter_types t
             WHERE firm = esqase.context_firm()
               AND (esqase.context_may('matters:write') OR esqase.context_may('matter-types:read')
                    OR esqase.context_may('matter-types:write'))
               AND t.firm_id = firm AND t.id = matter_type AND t.deleted_at IS NULL);
END
$$;

-- Matter types as the API renders them, for ids; see contact_docs.
CREATE OR REPLACE FUNCTION esqase.matter_type_docs(firm uuid, ids uuid[]) RETURNS TABLE (n bigint, doc json)
LANGUAGE sql STABLE AS $$
    SELECT u.n, json_build_object(
        'id', mt.id, 'practiceAreaId', mt.practice_area_id, 'name', mt.name, 'status', mt.status,
        'createdAt', esqase.ts(mt.created_at), 'updatedAt', esqase.ts(mt.updated_at))
      FROM unnest(ids) WITH ORDINALITY AS u(id, n)
      CROSS JOIN LATERAL (SELECT * FROM esqase.matter_types mt WHERE mt.firm_id = firm AND mt.id = u.id OFFSET 0) mt
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
    area := esqase.body_uuid(body, 'practiceAreaId', true);
    IF NOT esqase.practice_area_live(firm, area) THEN
        PERFORM esqase.fail('23514', format('practiceAreaId: practice area %s not found', area), 'practiceAreaId');
    END IF;
    name := btrim(esqase.body_text(body, 'name', true, 200));
END
$$;

CREATE OR REPLACE FUNCTION esqase.matter_types_create(body jsonb, idempotency_key text DEFAULT NULL) RETURNS esqase.answer
LANGUAGE plpgsql AS $$
DECLARE
    firm uuid := esqase.api_access('matter-types', 'write');
    replay json := esqase.idempotency_begin(firm, 'matter-types', body, idempotency_key);
    area uuid;
    new_name text;
    created uuid;
BEGIN
    IF replay IS NOT NULL THEN
        RETURN esqase.replayed(replay);
    END IF;
    SELECT n.area, n.name INTO area, new_name FROM esqase.matter_type_new(firm, body) n;
    created := esqase.target(gen_random_uuid());    -- as practice_areas_create
    INSERT INTO esqase.matter_types (firm_id, id, practice_area_id, name)
    VALUES (firm, created, area, new_name);
    RETURN esqase.idempotency_keep(firm, idempotency_key, esqase.matter_type_one(firm, created));
END
$$;

