
-------------------------------------------------------------------------------
-- 31 Practice areas: a name, with three default stages seeded by trigger
-- (20_triggers.sql).  Read, create and list return stages and matterTypes.
-------------------------------------------------------------------------------

CREATE FUNCTION esqase.practice_area_json(p esqase.practice_areas) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', p.id, 'name', p.name, 'status', p.status,
        'stages', coalesce((SELECT jsonb_agg(jsonb_build_object('id', s.id, 'name', s.name,
                                                                'type', s.type, 'order', s."order")
                                             ORDER BY s."order")
                              FROM esqase.practice_area_stages s
                             WHERE s.firm_id = p.firm_id AND s.practice_area_id = p.id), '[]'),
        'matterTypes', coalesce((SELECT jsonb_agg(jsonb_build_object('id', mt.id, 'name', mt.name)
                                                  ORDER BY mt.created_at, mt.id)
                                   FROM esqase.matter_types mt
                                  WHERE mt.firm_id = p.firm_id AND mt.practice_area_id = p.id
                                    AND mt.deleted_at IS NULL), '[]'),
        'createdAt', esqase.ts(p.created_at), 'updatedAt', esqase.ts(p.updated_at))
$$;

-- An active practice area of the firm.  field names the body field that
-- referenced it: then a miss is a 422 on that field, not a 404.
CREATE FUNCTION esqase.practice_area_find(firm uuid, area_id uuid, field text DEFAULT NULL,
                                          for_update boolean DEFAULT false)
RETURNS esqase.practice_areas LANGUAGE plpgsql AS $$
DECLARE
    p esqase.practice_areas;
BEGIN
    IF for_update THEN
        PERFORM esqase.lock_active('esqase.practice_areas', firm, area_id);
    END IF;
    SELECT * INTO p FROM esqase.practice_areas
     WHERE firm_id = firm AND id = area_id AND deleted_at IS NULL;
    IF NOT FOUND THEN
        IF field IS NULL THEN
            PERFORM esqase.not_found('practice area', area_id);
        END IF;
        PERFORM esqase.fail('23514', format('%s: practice area %s not found', field, area_id), field);
    END IF;
    RETURN p;
END
$$;

CREATE FUNCTION esqase_practice_areas_list(params jsonb DEFAULT '{}') RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    firm uuid := esqase.api_access('practice-areas', 'read');
    page record := esqase.page(params, '{}');
BEGIN
    RETURN esqase.list_result(
        (SELECT jsonb_agg(esqase.practice_area_json(p) ORDER BY p.created_at, p.id)
           FROM (SELECT * FROM esqase.practice_areas
                  WHERE firm_id = firm AND deleted_at IS NULL
                  ORDER BY created_at, id LIMIT page.lim OFFSET page.off) p),
        page.lim, page.off,
        (SELECT count(*) FROM esqase.practice_areas WHERE firm_id = firm AND deleted_at IS NULL));
END
$$;

CREATE FUNCTION esqase_practice_areas_create(body jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    firm uuid := esqase.api_access('practice-areas', 'write');
    p esqase.practice_areas;
BEGIN
    PERFORM esqase.check_body(body, '{name}');
    INSERT INTO esqase.practice_areas (firm_id, name)
    VALUES (firm, btrim(esqase.body_text(body, 'name', true, 200)))
    RETURNING * INTO p;
    RETURN jsonb_build_object('data', esqase.practice_area_json(p));
END
$$;

CREATE FUNCTION esqase_practice_areas_get(id uuid) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    firm uuid := esqase.api_access('practice-areas', 'read');
BEGIN
    RETURN (SELECT jsonb_build_object('data', esqase.practice_area_json(r)) FROM esqase.practice_area_find(firm, id) r);
END
$$;

CREATE FUNCTION esqase_practice_areas_update(id uuid, body jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    firm uuid := esqase.api_access('practice-areas', 'write');
    p esqase.practice_areas;
    changed esqase.practice_areas;
BEGIN
    PERFORM esqase.check_body(body, '{name}', '{stages,matterTypes,status}');
    p := esqase.practice_area_find(firm, id, NULL, true);
    IF body ? 'name' THEN
        -- a rename to the same name writes nothing (updatedAt, audit log)
        UPDATE esqase.practice_areas t SET name = btrim(esqase.body_text(body, 'name', true, 200))
         WHERE t.firm_id = firm AND t.id = p.id
           AND t.name IS DISTINCT FROM btrim(esqase.body_text(body, 'name', true, 200))
        RETURNING * INTO changed;
        IF FOUND THEN
            p := changed;
        END IF;
    END IF;
    RETURN jsonb_build_object('data', esqase.practice_area_json(p));
END
$$;

CREATE FUNCTION esqase_practice_areas_delete(id uuid) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    firm uuid := esqase.api_access('practice-areas', 'write');
    p esqase.practice_areas;
BEGIN
    UPDATE esqase.practice_areas t SET status = 'ARCHIVED', deleted_at = now()
     WHERE t.firm_id = firm AND t.id = esqase_practice_areas_delete.id AND t.deleted_at IS NULL
    RETURNING * INTO p;
    IF NOT FOUND THEN
        PERFORM esqase.not_found('practice area', id);
    END IF;
    RETURN jsonb_build_object('data', esqase.practice_area_json(p));
END
$$;
