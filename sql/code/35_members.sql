
-------------------------------------------------------------------------------
-- 35 Members: read-only over the API (GET /v1/members and /v1/members/{id},
-- scope members:read), so that an integration can find the ids a matter's
-- team and a lead's assignees take.  Members are created and deactivated by
-- a DBA (25_admin.sql); a deactivated member (deleted_at set) is still
-- listed, with status INACTIVE, because matters and leads may still name it.
-------------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION esqase.member_docs(firm uuid, ids uuid[]) RETURNS TABLE (n bigint, doc json)
LANGUAGE sql STABLE AS $$
    SELECT u.n, json_build_object(
        'id', m.id, 'name', m.name, 'email', m.email, 'isOwner', m.is_owner,
        'permissions', to_json(m.permissions),
        'status', CASE WHEN m.deleted_at IS NULL THEN 'ACTIVE' ELSE 'INACTIVE' END,
        'createdAt', esqase.ts(m.created_at), 'updatedAt', esqase.ts(m.updated_at))
      FROM unnest(ids) WITH ORDINALITY AS u(id, n)
      CROSS JOIN LATERAL (SELECT * FROM esqase.members m WHERE m.firm_id = firm AND m.id = u.id OFFSET 0) m
$$;

-- The members that match a list request's filters (status ACTIVE or
-- INACTIVE, list_match's); a deactivated member is listed, not deleted.
CREATE OR REPLACE FUNCTION esqase.members_matching(firm uuid, r esqase.page_request)
RETURNS TABLE (created_at timestamptz, updated_at timestamptz, name text, rank real, id uuid,
               deleted_at timestamptz)
LANGUAGE sql STABLE AS $$
    SELECT m.created_at, m.updated_at, m.name, NULL::real, m.id, m.deleted_at
      FROM esqase.members m
     WHERE m.firm_id = firm
       AND esqase.list_match(r, NULL, CASE WHEN m.deleted_at IS NULL THEN 'ACTIVE' ELSE 'INACTIVE' END,
                             m.created_at, m.updated_at)
$$;

-- member_one: 36_records.sql.
CREATE OR REPLACE FUNCTION esqase.members_get(id uuid) RETURNS esqase.answer
LANGUAGE plpgsql STABLE AS $$
DECLARE
    firm uuid := esqase.api_access('members', 'read');
BEGIN
    IF NOT EXISTS (SELECT FROM esqase.members m WHERE m.firm_id = firm AND m.id = members_get.id) THEN
        PERFORM esqase.not_found('member', id);
    END IF;
    RETURN esqase.member_one(firm, id);
END
$$;
