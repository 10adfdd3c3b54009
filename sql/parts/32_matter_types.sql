
-------------------------------------------------------------------------------
-- 32 Matter types: a named sub-type of one practice area.  Listing needs the
-- practiceAreaId query parameter; a type never moves to another area.
-------------------------------------------------------------------------------

CREATE FUNCTION esqase.matter_type_json(mt esqase.matter_types) RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE
RETURN jsonb_build_object(
    'id', mt.id, 'practiceAreaId', mt.practice_area_id, 'name', mt.name, 'status', mt.status,
    'createdAt', esqase.ts(mt.created_at), 'updatedAt', esqase.ts(mt.updated_at));

-- An active matter type of the firm; with field, a miss is a 422 on it.
CREATE FUNCTION esqase.matter_type_find(firm uuid, type_id uuid, field text DEFAULT NULL,
                                        for_update boolean DEFAULT false)
RETURNS esqase.matter_types LANGUAGE plpgsql AS $$
DECLARE
    mt esqase.matter_types;
BEGIN
    IF for_update THEN
        PERFORM esqase.lock_active('esqase.matter_types', firm, type_id);
    END IF;
    SELECT * INTO mt FROM esqase.matter_types
     WHERE firm_id = firm AND id = type_id AND deleted_at IS NULL;
    IF NOT FOUND THEN
        IF field IS NULL THEN
            PERFORM esqase.not_found('matter type', type_id);
        END IF;
        PERFORM esqase.fail('23514', format('%s: matter type %s not found', field, type_id), field);
    END IF;
    RETURN mt;
END
$$;

CREATE FUNCTION esqase_matter_types_list(params jsonb DEFAULT '{}') RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    firm uuid := esqase.api_access('matter-types', 'read');
    page record := esqase.page(params, '{practiceAreaId}');
    area uuid := esqase.param_uuid(params, 'practiceAreaId', true);
BEGIN
    IF NOT EXISTS (SELECT FROM esqase.practice_areas
                    WHERE firm_id = firm AND id = area AND deleted_at IS NULL) THEN
        PERFORM esqase.fail('P0002', format('practice area %s not found', area), 'practiceAreaId');
    END IF;
    RETURN esqase.list_result(
        (SELECT jsonb_agg(esqase.matter_type_json(mt) ORDER BY mt.created_at, mt.id)
           FROM (SELECT * FROM esqase.matter_types
                  WHERE firm_id = firm AND practice_area_id = area AND deleted_at IS NULL
                  ORDER BY created_at, id LIMIT page.lim OFFSET page.off) mt),
        page.lim, page.off,
        (SELECT count(*) FROM esqase.matter_types
          WHERE firm_id = firm AND practice_area_id = area AND deleted_at IS NULL));
END
$$;

CREATE FUNCTION esqase_matter_types_create(body jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    firm uuid := esqase.api_access('matter-types', 'write');
    mt esqase.matter_types;
BEGIN
    PERFORM esqase.check_body(body, '{practiceAreaId,name}');
    mt.practice_area_id := (esqase.practice_area_find(firm, esqase.body_uuid(body, 'practiceAreaId', true),
                                                      'practiceAreaId')).id;
    INSERT INTO esqase.matter_types (firm_id, practice_area_id, name)
    VALUES (firm, mt.practice_area_id, btrim(esqase.body_text(body, 'name', true, 200)))
    RETURNING * INTO mt;
    RETURN jsonb_build_object('data', esqase.matter_type_json(mt));
END
$$;

CREATE FUNCTION esqase_matter_types_get(id uuid) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    firm uuid := esqase.api_access('matter-types', 'read');
BEGIN
    RETURN (SELECT jsonb_build_object('data', esqase.matter_type_json(r)) FROM esqase.matter_type_find(firm, id) r);
END
$$;

CREATE FUNCTION esqase_matter_types_update(id uuid, body jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    firm uuid := esqase.api_access('matter-types', 'write');
    mt esqase.matter_types;
    changed esqase.matter_types;
BEGIN
    PERFORM esqase.check_body(body, '{name}', '{practiceAreaId,status}');
    mt := esqase.matter_type_find(firm, id, NULL, true);
    IF body ? 'name' THEN
        -- a rename to the same name writes nothing (updatedAt, audit log)
        UPDATE esqase.matter_types t SET name = btrim(esqase.body_text(body, 'name', true, 200))
         WHERE t.firm_id = firm AND t.id = mt.id
           AND t.name IS DISTINCT FROM btrim(esqase.body_text(body, 'name', true, 200))
        RETURNING * INTO changed;
        IF FOUND THEN
            mt := changed;
        END IF;
    END IF;
    RETURN jsonb_build_object('data', esqase.matter_type_json(mt));
END
$$;

CREATE FUNCTION esqase_matter_types_delete(id uuid) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    firm uuid := esqase.api_access('matter-types', 'write');
    mt esqase.matter_types;
BEGIN
    UPDATE esqase.matter_types t SET status = 'ARCHIVED', deleted_at = now()
     WHERE t.firm_id = firm AND t.id = esqase_matter_types_delete.id AND t.deleted_at IS NULL
    RETURNING * INTO mt;
    IF NOT FOUND THEN
        PERFORM esqase.not_found('matter type', id);
    END IF;
    RETURN jsonb_build_object('data', esqase.matter_type_json(mt));
END
$$;
