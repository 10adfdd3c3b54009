
-------------------------------------------------------------------------------
-- 31 Practice areas: a name, with three default stages seeded by trigger
-- (20_triggers.sql).  Read, create and list return stages and matterTypes.
-- Read, rename (the update), delete: generated in 36_records.sql.
-------------------------------------------------------------------------------

-- Whether area is a live practice area of the context's firm: one that a
-- matter, a lead or a matter type may name (else a 422; the matter types
-- list answers 404).  SECURITY DEFINER: the keys that name practice areas
-- without practice-areas scopes (matters:write, leads:write,
-- matter-types:*) read them through esqase.practice_area_refs (id and name)
-- or not at all; this answers them that, and only that.  Other keys get
-- false.
CREATE OR REPLACE FUNCTION esqase.practice_area_live(firm uuid, area uuid) RETURNS boolean
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RETURN coalesce(firm = esqase.context_firm()
                    AND (esqase.context_may('matters:write') OR esqase.context_may('leads:write')
                         OR esqase.context_may('matter-types:read') OR esqase.context_may('matter-types:write')
                         OR esqase.context_may('practice-areas:read') OR esqase.context_may('practice-areas:write'))
                    AND EXISTS (SELECT FROM esqase.practice_areas p
                                 WHERE p.firm_id = firm AND p.id = area AND p.deleted_at IS NULL), false);
END
$$;

-- Practice areas as the API renders them (with their stages and live
-- matter types), for ids (n: the position in ids); see contact_docs.  The
-- matter types are references ({id, name}): read through
-- esqase.matter_type_refs (28_references.sql), which a key with
-- practice-areas scopes may read without matter-types scopes.
CREATE OR REPLACE FUNCTION esqase.practice_area_docs(firm uuid, ids uuid[]) RETURNS TABLE (n bigint, doc json)
LANGUAGE sql STABLE AS $$
    SELECT u.n, json_build_object(
        'id', p.id, 'name', p.name, 'status', p.status,
        'stages', coalesce(st.items, '[]'), 'matterTypes', coalesce(mt.items, '[]'),
        'createdAt', esqase.ts(p.created_at), 'updatedAt', esqase.ts(p.updated_at))
      FROM unnest(ids) WITH ORDINALITY AS u(id, n)
      CROSS JOIN LATERAL (SELECT * FROM esqase.practice_areas p WHERE p.firm_id = firm AND p.id = u.id OFFSET 0) p
      CROSS JOIN LATERAL (
          SELECT json_agg(json_build_object('id', s.id, 'name', s.name, 'type', s.type, 'order', s."order")
                          ORDER BY s."order") AS items
            FROM esqase.practice_area_stages s
           WHERE s.firm_id = p.firm_id AND s.practice_area_id = p.id) st
      CROSS JOIN LATERAL (
          SELECT json_agg(json_build_object('id', t.id, 'name', t.name) ORDER BY t.created_at, t.id) AS items
            FROM esqase.matter_type_refs t
           WHERE t.firm_id = p.firm_id AND t.practice_area_id = p.id AND t.live) mt
$$;

-- The practice areas that match a list request's filters (list_match's);
-- see contacts_matching.
CREATE OR REPLACE FUNCTION esqase.practice_areas_matching(firm uuid, r esqase.page_request)
RETURNS TABLE (created_at timestamptz, updated_at timestamptz, name text, rank real, id uuid,
               deleted_at timestamptz)
LANGUAGE sql STABLE AS $$
    SELECT p.created_at, p.updated_at, p.name, NULL::real, p.id, p.deleted_at
      FROM esqase.practice_areas p
     WHERE p.firm_id = firm
       AND esqase.list_match(r, p.deleted_at, p.status, p.created_at, p.updated_at)
$$;

-- The name of a new practice area from a create's body, checked: the one
-- check of a create, shared with practice_areas_create_many.
CREATE OR REPLACE FUNCTION esqase.practice_area_new(body jsonb) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    PERFORM esqase.check_body(body, '{name}');
    RETURN btrim(esqase.body_text(body, 'name', true, 200));
END
$$;

CREATE OR REPLACE FUNCTION esqase.practice_areas_create(body jsonb, idempotency_key text DEFAULT NULL) RETURNS esqase.answer
LANGUAGE plpgsql AS $$
DECLARE
    firm uuid := esqase.api_access('practice-areas', 'write');
    replay json := esqase.idempotency_begin(firm, 'practice-areas', body, idempotency_key);
    created uuid;
BEGIN
    IF replay IS NOT NULL THEN
        RETURN esqase.replayed(replay);
    END IF;
    -- named before the insert: its RETURNING reads the new row under the
    -- SELECT policy, which a key with the write scope alone passes for the
    -- rows it names (esqase.target)
    created := esqase.target(gen_random_uuid());
    INSERT INTO esqase.practice_areas (firm_id, id, name)
    VALUES (firm, created, esqase.practice_area_new(body));
    RETURN esqase.idempotency_keep(firm, idempotency_key, esqase.practice_area_one(firm, created));
END
$$;

