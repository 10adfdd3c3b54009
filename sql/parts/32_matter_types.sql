
-------------------------------------------------------------------------------
-- 32 Matter types: a named sub-type of one practice area.  Listing needs the
-- practiceAreaId query parameter; a type never moves to another area.
-------------------------------------------------------------------------------

-- Matter types as the API renders them, for ids; see contact_docs.
CREATE FUNCTION esqase.matter_type_docs(firm uuid, ids uuid[]) RETURNS TABLE (n bigint, doc json)
LANGUAGE sql STABLE AS $$
    SELECT u.n, json_build_object(
        'id', mt.id, 'practiceAreaId', mt.practice_area_id, 'name', mt.name, 'status', mt.status,
        'createdAt', esqase.ts(mt.created_at), 'updatedAt', esqase.ts(mt.updated_at))
      FROM unnest(ids) WITH ORDINALITY AS u(id, n)
      JOIN esqase.matter_types mt ON mt.firm_id = firm AND mt.id = u.id
$$;

CREATE FUNCTION esqase.matter_type_one(firm uuid, type_id uuid) RETURNS json
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN esqase.one((SELECT d.doc FROM esqase.matter_type_docs(firm, ARRAY[type_id]) d));
END
$$;

-- An active matter type of the firm; with field, a miss is a 422 on it.
CREATE FUNCTION esqase.matter_type_find(firm uuid, type_id uuid, field text DEFAULT NULL,
                                        for_update boolean DEFAULT false)
RETURNS esqase.matter_types LANGUAGE plpgsql AS $$
DECLARE
    mt esqase.matter_types;
BEGIN
    IF for_update THEN
        SELECT * INTO mt FROM esqase.matter_types
         WHERE firm_id = firm AND id = type_id AND deleted_at IS NULL FOR UPDATE;
    ELSE
        SELECT * INTO mt FROM esqase.matter_types
         WHERE firm_id = firm AND id = type_id AND deleted_at IS NULL;
    END IF;
    IF NOT FOUND THEN
        IF field IS NULL THEN
            PERFORM esqase.not_found('matter type', type_id);
        END IF;
        PERFORM esqase.fail('23514', format('%s: matter type %s not found', field, type_id), field);
    END IF;
    RETURN mt;
END
$$;

-- The matter types of the request's practice area (practiceAreaId, required)
-- that match its filters; see contacts_matching.
CREATE FUNCTION esqase.matter_types_matching(firm uuid, r esqase.page_request)
RETURNS TABLE (created_at timestamptz, updated_at timestamptz, name text, rank real, id uuid,
               deleted_at timestamptz)
LANGUAGE sql STABLE AS $$
    SELECT mt.created_at, mt.updated_at, mt.name, NULL::real, mt.id, mt.deleted_at
      FROM esqase.matter_types mt
     WHERE mt.firm_id = firm AND mt.practice_area_id = r.area
       AND esqase.list_match(r, mt.deleted_at, mt.status, mt.created_at, mt.updated_at)
$$;

-- A practice area's matter types are few: their total is counted (by the
-- index matter_types_list_idx), not kept in record_counts.
CREATE FUNCTION esqase.matter_types_list(params jsonb) RETURNS json
LANGUAGE plpgsql STABLE SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    firm uuid := esqase.api_access('matter-types', 'read');
    page esqase.page_request := esqase.list_request(params, 'matter-types');
    keys esqase.page_key[];
BEGIN
    IF NOT EXISTS (SELECT FROM esqase.practice_areas
                    WHERE firm_id = firm AND id = page.area AND deleted_at IS NULL) THEN
        PERFORM esqase.fail('P0002', format('practice area %s not found', page.area), 'practiceAreaId');
    END IF;
    IF page.plain THEN
        keys := ARRAY(SELECT ROW(k.created_at, k.id, NULL, NULL, NULL)::esqase.page_key
                       FROM (SELECT mt.created_at, mt.id FROM esqase.matter_types mt
                         WHERE mt.firm_id = firm AND mt.practice_area_id = page.area AND mt.deleted_at IS NULL
                           AND (mt.created_at, mt.id) > ((page.after).at, (page.after).id)
                         ORDER BY mt.created_at, mt.id LIMIT page.lim + 1 OFFSET page.off) k);
    ELSE
        keys := esqase.matter_types_keys(firm, page);
    END IF;
    RETURN esqase.list_json('matter_types', page, keys,
        (SELECT json_agg(esqase.list_doc(page, keys[d.n], d.doc) ORDER BY d.n)
           FROM esqase.matter_type_docs(firm, esqase.page_ids(keys, page.lim)) d),
        esqase.matter_types_count(firm, page));
END
$$;

CREATE FUNCTION esqase.matter_types_create(body jsonb, idempotency_key text DEFAULT NULL) RETURNS json
LANGUAGE plpgsql AS $$
DECLARE
    firm uuid := esqase.api_access('matter-types', 'write');
    replay json := esqase.idempotency_begin(firm, 'matter-types', body, idempotency_key);
    area uuid;
    created uuid;
BEGIN
    IF replay IS NOT NULL THEN
        RETURN replay;
    END IF;
    PERFORM esqase.check_body(body, '{practiceAreaId,name}');
    area := (esqase.practice_area_find(firm, esqase.body_uuid(body, 'practiceAreaId', true),
                                       'practiceAreaId')).id;
    INSERT INTO esqase.matter_types (firm_id, practice_area_id, name)
    VALUES (firm, area, btrim(esqase.body_text(body, 'name', true, 200)))
    RETURNING id INTO created;
    RETURN esqase.idempotency_end(firm, idempotency_key, esqase.matter_type_one(firm, created));
END
$$;

CREATE FUNCTION esqase.matter_types_get(id uuid) RETURNS json
LANGUAGE plpgsql STABLE AS $$
DECLARE
    firm uuid := esqase.api_access('matter-types', 'read');
BEGIN
    RETURN esqase.matter_type_one(firm, (esqase.matter_type_find(firm, id)).id);
END
$$;

CREATE FUNCTION esqase.matter_types_update(id uuid, body jsonb) RETURNS json
LANGUAGE plpgsql AS $$
DECLARE
    firm uuid := esqase.api_access('matter-types', 'write');
    mt esqase.matter_types;
    new_name text;
BEGIN
    PERFORM esqase.check_body(body, '{name}', '{practiceAreaId,status}');
    mt := esqase.matter_type_find(firm, id, NULL, true);
    IF body ? 'name' THEN
        new_name := btrim(esqase.body_text(body, 'name', true, 200));
        -- a rename to the same name writes nothing (updatedAt, audit log)
        UPDATE esqase.matter_types t SET name = new_name
         WHERE t.firm_id = firm AND t.id = mt.id AND t.name IS DISTINCT FROM new_name;
    END IF;
    RETURN esqase.matter_type_one(firm, mt.id);
END
$$;

CREATE FUNCTION esqase.matter_types_delete(id uuid) RETURNS json
LANGUAGE plpgsql AS $$
DECLARE
    firm uuid := esqase.api_access('matter-types', 'write');
    deleted uuid;
BEGIN
    UPDATE esqase.matter_types t SET status = 'ARCHIVED', deleted_at = now()
     WHERE t.firm_id = firm AND t.id = matter_types_delete.id AND t.deleted_at IS NULL
    RETURNING t.id INTO deleted;
    IF NOT FOUND THEN
        PERFORM esqase.not_found('matter type', id);
    END IF;
    RETURN esqase.matter_type_one(firm, deleted);
END
$$;
