
-------------------------------------------------------------------------------
-- 34 Leads: a prospect in the firm's intake pipeline.  Creating a lead
-- creates its brand-new contact (contact_apply/contact_insert, 30_contacts.sql)
-- in the same transaction.  Private leads are visible only to their assignees
-- and the firm's owners.
-------------------------------------------------------------------------------

-- Who sees a private lead: its assignees and the firm's owners.  The rule
-- has two forms, for two costs, each written once (both in the leads entry
-- of sql/registry.pl):
--  * for scans of many leads (leads_matching below, the list page in
--    39_lists.sql), visible:
--        NOT is_private OR esqase.context_is_owner() OR id IN (SELECT esqase.assigned_leads())
--    whose sub-select PostgreSQL runs once per query (a hashed SubPlan);
--  * for one row at a time (lead_find, and so get, update and delete, in
--    36_records.sql; the policies in 90_security.sql), visible_row:
--        NOT is_private OR esqase.context_is_owner() OR esqase.context_assigned(id)
--    which probes the lead's assignees by key.

-- The leads the API context's member is assigned to.  SECURITY DEFINER:
-- the lead_assignees policy asks the leads policy, which asks this; read
-- under that policy it would recurse.  plpgsql keeps its plan.  A key
-- without leads scopes asks it only about hidden prospects (a contact's
-- hidden_by_lead, which it reads with contacts scopes): it is told only of
-- the leads that hide a contact, not of the others its member works on.
CREATE OR REPLACE FUNCTION esqase.assigned_leads() RETURNS SETOF uuid
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF esqase.context_may('leads:read') OR esqase.context_may('leads:write') THEN
        RETURN QUERY SELECT a.lead_id FROM esqase.lead_assignees a
                      WHERE a.firm_id = esqase.context_firm() AND a.member_id = esqase.context_member();
    ELSE
        RETURN QUERY SELECT a.lead_id FROM esqase.lead_assignees a
                      WHERE a.firm_id = esqase.context_firm() AND a.member_id = esqase.context_member()
                        AND EXISTS (SELECT FROM esqase.contacts c
                                     WHERE c.firm_id = a.firm_id AND c.hidden_by_lead = a.lead_id);
    END IF;
END
$$;

-- Whether the lead of the context's firm was inserted by this transaction:
-- its first assignees are written before anyone can see a new private lead
-- (the lead_assignees policy, 90_security.sql).  SECURITY DEFINER, since the
-- new private lead is not yet visible to its creator.
CREATE OR REPLACE FUNCTION esqase.lead_new_here(firm uuid, lead uuid) RETURNS boolean
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RETURN firm = esqase.context_firm()
       AND EXISTS (SELECT FROM esqase.leads l
                    WHERE l.firm_id = firm AND l.id = lead AND esqase.written_here(l.xmin));
END
$$;

CREATE OR REPLACE FUNCTION esqase.lead_fields() RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN ARRAY['practiceAreaId', 'leadStageColumnId', 'value', 'isPrivate', 'assigneeIds'];

-- Create also takes the contact's fields: type, its name fields, email, phone.
CREATE OR REPLACE FUNCTION esqase.lead_contact_fields() RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN ARRAY['type', 'email', 'phone'] || esqase.contact_person_fields() || esqase.contact_company_fields();

-- Fields a PATCH cannot set (the error names them): the response's own, and
-- the contact's, which belong to the contact (PATCH /v1/contacts/{id}).
CREATE OR REPLACE FUNCTION esqase.lead_readonly_fields() RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN ARRAY['id', 'publicId', 'status', 'contact', 'practiceArea', 'assignees', 'createdAt',
             'updatedAt'] || esqase.lead_contact_fields();

-- Leads as the API renders them, for ids (n: the position in ids); see
-- contact_docs.  The references (contact, practice area, assignees) are
-- read through the views of 28_references.sql.
CREATE OR REPLACE FUNCTION esqase.lead_docs(firm uuid, ids uuid[]) RETURNS TABLE (n bigint, doc json)
LANGUAGE sql STABLE AS $$
    SELECT u.n, json_build_object(
        'id', l.id, 'publicId', l.public_id, 'status', l.status, 'value', l.value,
        'isPrivate', l.is_private, 'leadStageColumnId', l.stage_id,
        'contact', esqase.ref(c.id, c.name),
        'practiceArea', esqase.ref(p.id, p.name),
        'assignees', coalesce(a.items, '[]'),
        'createdAt', esqase.ts(l.created_at), 'updatedAt', esqase.ts(l.updated_at))
      FROM unnest(ids) WITH ORDINALITY AS u(id, n)
      CROSS JOIN LATERAL (SELECT * FROM esqase.leads l WHERE l.firm_id = firm AND l.id = u.id OFFSET 0) l
      LEFT JOIN LATERAL (SELECT c.id, c.name FROM esqase.contact_refs c
                          WHERE c.firm_id = l.firm_id AND c.id = l.contact_id OFFSET 0) c ON true
      LEFT JOIN LATERAL (SELECT p.id, p.name FROM esqase.practice_area_refs p
                          WHERE p.firm_id = l.firm_id AND p.id = l.practice_area_id OFFSET 0) p ON true
      CROSS JOIN LATERAL (
          SELECT json_agg(esqase.ref(m.id, m.name) ORDER BY la.position) AS items
            FROM esqase.lead_assignees la
            CROSS JOIN LATERAL (SELECT m.id, m.name FROM esqase.member_refs m
                                 WHERE m.firm_id = la.firm_id AND m.id = la.member_id OFFSET 0) m
           WHERE la.firm_id = l.firm_id AND la.lead_id = l.id) a
$$;

-- A lead stage of the firm, checked (a 422 on leadStageColumnId); NULL
-- gives the first stage of the pipeline.
CREATE OR REPLACE FUNCTION esqase.lead_stage(firm uuid, stage_id uuid) RETURNS uuid
LANGUAGE plpgsql STABLE AS $$
DECLARE
    s uuid;
BEGIN
    IF stage_id IS NULL THEN
        SELECT id INTO s FROM esqase.lead_stages WHERE firm_id = firm ORDER BY "order" LIMIT 1;
        IF NOT FOUND THEN
            PERFORM esqase.fail('23514', 'the firm has no lead stages', 'leadStageColumnId');
        END IF;
    ELSE
        SELECT id INTO s FROM esqase.lead_stages WHERE firm_id = firm AND id = stage_id;
        IF NOT FOUND THEN
            PERFORM esqase.fail('23514', format('leadStageColumnId: lead stage %s not found in this firm', stage_id),
                                'leadStageColumnId');
        END IF;
    END IF;
    RETURN s;
END
$$;

-- Applies the lead's own fields of body to l (a new lead with firm_id set,
-- or the stored one) and checks them.  References are checked when they
-- change (a lead may stay in a practice area deleted since).
CREATE OR REPLACE FUNCTION esqase.lead_apply(l esqase.leads, body jsonb, creating boolean)
RETURNS esqase.leads LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF esqase.body_ref_changed(body, 'practiceAreaId', l.practice_area_id) THEN
        l.practice_area_id := esqase.body_uuid(body, 'practiceAreaId');
        IF l.practice_area_id IS NOT NULL AND NOT esqase.practice_area_live(l.firm_id, l.practice_area_id) THEN
            PERFORM esqase.fail('23514', format('practiceAreaId: practice area %s not found', l.practice_area_id),
                                'practiceAreaId');
        END IF;
    END IF;
    IF creating OR body ? 'leadStageColumnId' THEN
        IF NOT creating AND coalesce(body -> 'leadStageColumnId', 'null') = 'null' THEN
            PERFORM esqase.fail('23514', 'leadStageColumnId cannot be null', 'leadStageColumnId');
        END IF;
        l.stage_id := esqase.lead_stage(l.firm_id, esqase.body_uuid(body, 'leadStageColumnId'));
    END IF;
    IF body ? 'value' THEN
        l.value := esqase.body_enum(body, 'value', '{LOWEST,LOW,MEDIUM,HIGH,HIGHEST}');
    END IF;
    IF body ? 'isPrivate' THEN
        l.is_private := esqase.body_bool(body, 'isPrivate');
        IF l.is_private IS NULL THEN
            PERFORM esqase.fail('23514', 'isPrivate must be true or false', 'isPrivate');
        END IF;
    END IF;
    l.is_private := coalesce(l.is_private, false);
    RETURN l;
END
$$;

-- The assignees in body.assigneeIds, else fallback, checked: members of the
-- firm, none twice (esqase.check_members; current are the lead's assignees).
-- And the rule that keeps the RLS policy satisfiable: a member who is not
-- an owner cannot leave a private lead unassigned to themself (they could no
-- longer see it).
CREATE OR REPLACE FUNCTION esqase.lead_assignees_from(l esqase.leads, body jsonb, current uuid[],
                                           fallback uuid[] DEFAULT NULL)
RETURNS uuid[] LANGUAGE plpgsql STABLE AS $$
DECLARE
    ids uuid[] := esqase.body_list(body, 'assigneeIds', 'uuid')::uuid[];
BEGIN
    PERFORM esqase.check_members(l.firm_id, ids, 'assigneeIds', current);
    IF l.is_private AND NOT coalesce(esqase.context_is_owner(), false)
       AND NOT esqase.context_member() = ANY (coalesce(ids, fallback, current)) THEN
        PERFORM esqase.fail('23514',
            'a private lead is visible only to its assignees and the firm''s owners: assign yourself to it',
            CASE WHEN ids IS NOT NULL THEN 'assigneeIds' ELSE 'isPrivate' END);
    END IF;
    RETURN coalesce(ids, fallback);
END
$$;

-- Replacing a lead's assignees takes two steps around the lead's own
-- UPDATE, so that the acting member never loses sight of the lead midway
-- (RLS checks both the old and the new lead row):
-- add_assignees inserts the new list's members and fixes positions;
-- prune_assignees then deletes (audited) those no longer listed.
-- add_assignees returns whether it changed anything.
CREATE OR REPLACE FUNCTION esqase.lead_add_assignees(l esqase.leads, ids uuid[]) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    IF ids IS NULL THEN
        RETURN false;
    END IF;
    INSERT INTO esqase.lead_assignees AS a (firm_id, lead_id, member_id, position)
    SELECT l.firm_id, l.id, u.i, u.n - 1 FROM unnest(ids) WITH ORDINALITY AS u(i, n)
    ON CONFLICT (firm_id, lead_id, member_id) DO UPDATE SET position = excluded.position
        WHERE a.position <> excluded.position;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n > 0;
END
$$;

CREATE OR REPLACE FUNCTION esqase.lead_prune_assignees(l esqase.leads, ids uuid[]) RETURNS void
LANGUAGE sql AS $$
    DELETE FROM esqase.lead_assignees
     WHERE ids IS NOT NULL AND firm_id = l.firm_id AND lead_id = l.id AND NOT member_id = ANY (ids);
$$;

-- The total of the leads the context sees (the visible rule, counted): the
-- public ones, and the private ones it may see (all of them for an owner; for a member, those
-- assigned to it, counted by the index on lead_assignees).
CREATE OR REPLACE FUNCTION esqase.leads_total(firm uuid) RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF coalesce(esqase.context_is_owner(), false) THEN
        RETURN esqase.record_total(firm, 'leads_public') + esqase.record_total(firm, 'leads_private');
    END IF;
    RETURN esqase.record_total(firm, 'leads_public')
         + (SELECT count(*) FROM esqase.leads l
             WHERE l.firm_id = firm AND l.deleted_at IS NULL AND l.is_private
               AND l.id IN (SELECT esqase.assigned_leads()));
END
$$;

-- The leads the context sees that match a list request's filters: q and
-- order=name go by the lead's contact (contacts_found, its name; under the
-- relevance order its rank, lead_contacts_ranked), practiceAreaId, stageId, and
-- list_match's; see contacts_matching.  The contact is a LEFT JOIN on its
-- key to esqase.contact_refs, which the planner drops when the name order
-- does not ask for it.
CREATE OR REPLACE FUNCTION esqase.leads_matching(firm uuid, r esqase.page_request)
RETURNS TABLE (created_at timestamptz, updated_at timestamptz, name text, rank real, id uuid,
               deleted_at timestamptz)
LANGUAGE sql STABLE AS $$
    SELECT l.created_at, l.updated_at, c.name, (rk.ranks ->> l.contact_id::text)::real, l.id, l.deleted_at
      FROM esqase.leads l
      LEFT JOIN esqase.contact_refs c ON c.firm_id = l.firm_id AND c.id = l.contact_id
      -- the ranks, once per query (OFFSET 0: a relation of its own, so that
      -- the rank is a plain expression the list's parts fold); NULL but
      -- under the relevance order
      CROSS JOIN (SELECT CASE WHEN r.ord = 'relevance' THEN esqase.lead_contacts_ranked(firm, r.tsq) END AS ranks
                  OFFSET 0) rk
     WHERE l.firm_id = firm
       AND esqase.list_match(r, l.deleted_at, l.status, l.created_at, l.updated_at)
       AND (r.q IS NULL OR l.contact_id = ANY ((SELECT esqase.contacts_found(firm, r.tsq))::uuid[]))
       AND (r.area IS NULL OR l.practice_area_id = r.area)
       AND (r.stage IS NULL OR l.stage_id = r.stage)
       AND {{visible leads l}}
$$;

-- A new lead from a create's body, checked (nothing written): its brand-new
-- contact (as a contact, with email and phone as its only ones), the lead
-- (no id or public id yet) and its assignees (the key's member by default);
-- the one check of a create, shared with leads_create_many.
CREATE OR REPLACE FUNCTION esqase.lead_new(firm uuid, body jsonb) RETURNS esqase.new_lead
LANGUAGE plpgsql STABLE AS $$
DECLARE
    c esqase.contacts;
    l esqase.leads;
    r esqase.new_lead;
    email text;
    phone text;
BEGIN
    PERFORM esqase.check_body(body, esqase.lead_contact_fields() || esqase.lead_fields());
    c.type := esqase.body_enum(body, 'type', '{PERSON,COMPANY}', true);
    c := esqase.contact_apply(c, body);
    email := esqase.body_text(body, 'email', false, 254);
    IF email IS NOT NULL THEN
        IF NOT esqase.email_ok(email) THEN    -- (a PERFORM only to raise)
            PERFORM esqase.check_email(email, 'email');
        END IF;
        c.emails := ARRAY[email];
    END IF;
    phone := esqase.body_text(body, 'phone');
    IF phone IS NOT NULL THEN
        IF btrim(phone) = '' THEN
            PERFORM esqase.fail('23514', 'phone must not be blank', 'phone');
        END IF;
        c.phones := ARRAY[phone];
    END IF;
    l.firm_id := firm;
    l := esqase.lead_apply(l, body, true);
    r.assignees := esqase.lead_assignees_from(l, body, '{}', ARRAY[esqase.context_member()]);
    r.c := c;
    r.l := l;
    RETURN r;
END
$$;

-- Everything is checked before anything is written: an invalid lead leaves
-- no contact behind and uses up no public id.
CREATE OR REPLACE FUNCTION esqase.leads_create(body jsonb, idempotency_key text DEFAULT NULL) RETURNS esqase.answer
LANGUAGE plpgsql AS $$
DECLARE
    firm uuid := esqase.api_access('leads', 'write');
    replay json := esqase.idempotency_begin(firm, 'leads', body, idempotency_key);
    c esqase.contacts;
    l esqase.leads;
    assignees uuid[];
    conflict text;
    new_ esqase.new_lead;
BEGIN
    IF replay IS NOT NULL THEN
        RETURN esqase.replayed(replay);
    END IF;
    new_ := esqase.lead_new(firm, body);
    c := new_.c;
    l := new_.l;
    assignees := new_.assignees;

    -- A private lead's prospect is hidden with it (30_contacts.sql).
    l.id := esqase.target(gen_random_uuid());
    c.hidden_by_lead := CASE WHEN l.is_private THEN l.id END;
    c.id := esqase.contact_insert(firm, c);
    -- No RETURNING, and no ON CONFLICT to skip a number taken by hand (as
    -- matters do): both check the new row against the SELECT policy, which a
    -- private lead fails until its assignees exist.  A unique violation on
    -- the public id is caught instead; the counter advances outside the block.
    LOOP
        l.public_id := esqase.next_public_id(firm, 'L');
        BEGIN
            INSERT INTO esqase.leads (firm_id, id, public_id, value, is_private, contact_id,
                                      practice_area_id, stage_id)
            VALUES (firm, l.id, l.public_id, l.value, l.is_private, c.id,
                    l.practice_area_id, l.stage_id);
            EXIT;
        EXCEPTION WHEN unique_violation THEN
            GET STACKED DIAGNOSTICS conflict = CONSTRAINT_NAME;
            IF conflict IS DISTINCT FROM 'leads_public_id_key' THEN
                RAISE;
            END IF;
        END;
    END LOOP;
    PERFORM esqase.lead_add_assignees(l, assignees);
    RETURN esqase.idempotency_keep(firm, idempotency_key, esqase.lead_one(firm, l.id));
END
$$;

CREATE OR REPLACE FUNCTION esqase.leads_update(id uuid, body jsonb, expected_updated_at timestamptz DEFAULT NULL)
RETURNS esqase.answer
LANGUAGE plpgsql AS $$
DECLARE
    firm uuid := esqase.api_access('leads', 'write');
    l esqase.leads;
    current uuid[];
    assignees uuid[];
    changed boolean;
BEGIN
    PERFORM esqase.check_body(body, esqase.lead_fields(), esqase.lead_readonly_fields());
    l := esqase.lead_apply(esqase.lead_find(firm, id, NULL, true, expected_updated_at), body, false);
    current := ARRAY(SELECT member_id FROM esqase.lead_assignees
                      WHERE firm_id = firm AND lead_id = l.id ORDER BY position);
    assignees := esqase.lead_assignees_from(l, body, current);
    changed := esqase.lead_add_assignees(l, assignees);
    changed := changed OR (assignees IS NOT NULL AND NOT current <@ assignees);
    UPDATE esqase.leads t
       SET value = l.value, is_private = l.is_private, practice_area_id = l.practice_area_id,
           stage_id = l.stage_id
     WHERE t.firm_id = firm AND t.id = l.id
       AND (changed
            OR (t.value, t.is_private, t.practice_area_id, t.stage_id)
               IS DISTINCT FROM (l.value, l.is_private, l.practice_area_id, l.stage_id));
    PERFORM esqase.lead_prune_assignees(l, assignees);
    RETURN esqase.lead_one(firm, l.id);
END
$$;

