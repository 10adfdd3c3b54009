
-------------------------------------------------------------------------------
-- 33 Matters: one case in one practice area and one of its stages, with
-- clients (the first is the primary client and bill recipient) and a team.
--
-- The first section holds helpers that leads (34_leads.sql) share.
-------------------------------------------------------------------------------

-------------------------------------------------------------------------------
-- Shared by matters and leads
-------------------------------------------------------------------------------

-- The next public id of a firm: M-0001, M-0002, ... (L- for leads), with
-- more digits past 9999.  The counter row's lock serialises concurrent
-- creators until they end, so two transactions never get one number
-- (test/isolation/specs/public_ids.spec).  The counter is transactional: a
-- create that rolls back gives its number back, so numbers have no gaps.
-- Creators insert with ON CONFLICT (firm_id, public_id) DO NOTHING and take
-- the next number when one is already used by a row inserted by hand.
-- esqase.public_id_next (src/counters.c) advances the counter row in SQL
-- for a transaction's first number of the firm and kind (locking it), counts
-- the next ones in backend memory, and writes the last one at commit: one
-- row change per transaction, not one per record (a row updated n times in
-- a transaction costs O(n^2)).  Only esqase.next_public_id calls it.
CREATE OR REPLACE FUNCTION esqase.public_id_next(firm uuid, kind text) RETURNS integer
    AS 'MODULE_PATHNAME', 'esqase_public_id_next' LANGUAGE C VOLATILE;
REVOKE EXECUTE ON FUNCTION esqase.public_id_next(uuid, text) FROM PUBLIC;
-- Whether this transaction took public_id (M-0001, ...) for the firm from
-- the counter and still holds it: the insert policies of matters and leads
-- (a record's number is the counter's, never one its writer chose).
CREATE OR REPLACE FUNCTION esqase.public_id_issued(firm uuid, public_id text) RETURNS boolean
    AS 'MODULE_PATHNAME', 'esqase_public_id_issued' LANGUAGE C STABLE STRICT PARALLEL RESTRICTED;

CREATE OR REPLACE FUNCTION esqase.public_id(id_kind text, n integer) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN id_kind || '-' || CASE WHEN n < 10000 THEN lpad(n::text, 4, '0') ELSE n::text END;

-- SECURITY DEFINER: the counters are not writable by the API role (a
-- counter set by hand to its largest value would stop every create of the
-- firm, unaudited: F6 of the 0.2.0 probe); it hands out the next number of
-- the context's own firm, to a key that may create the kind (M: matters,
-- L: leads), one at a time, as a create does.
CREATE OR REPLACE FUNCTION esqase.next_public_id(firm uuid, id_kind text) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF firm IS DISTINCT FROM esqase.context_firm()
       OR NOT coalesce(esqase.context_may(CASE id_kind WHEN 'M' THEN 'matters:write'
                                                       WHEN 'L' THEN 'leads:write' END), false) THEN
        PERFORM esqase.fail('42501', format('the API key may not number %s records',
                                            CASE id_kind WHEN 'M' THEN 'matter' ELSE 'lead' END));
    END IF;
    RETURN esqase.public_id(id_kind, esqase.public_id_next(firm, id_kind));
END
$$;

-- Checks that every id in ids is an active member of the firm, or is in
-- keep (already on the record: a member deleted since may stay, but not be
-- added).  A miss is a 422 on field.  SECURITY DEFINER: a key that may name
-- a matter's team or a lead's assignees (matters:write, leads:write) reads
-- members through esqase.member_refs, which shows their names, not
-- whether they are active; this answers that, and only that, for the firm
-- of the context (what the 422 tells).
CREATE OR REPLACE FUNCTION esqase.check_members(firm uuid, ids uuid[], field text, keep uuid[] DEFAULT '{}')
RETURNS void LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    missing uuid;
BEGIN
    IF firm IS DISTINCT FROM esqase.context_firm()
       OR NOT (esqase.context_may('matters:write') OR esqase.context_may('leads:write')) THEN
        PERFORM esqase.fail('42501', 'the API key may not name members');
    END IF;
    IF coalesce(cardinality(ids), 0) = 0 THEN
        RETURN;    -- no query for no ids (every lead created without assigneeIds)
    END IF;
    missing := (SELECT u.i FROM unnest(ids) WITH ORDINALITY AS u(i, n)
                 WHERE NOT u.i = ANY (coalesce(keep, '{}'))
                   AND NOT EXISTS (SELECT FROM esqase.members r
                                    WHERE r.firm_id = firm AND r.id = u.i AND r.deleted_at IS NULL)
                 ORDER BY u.n LIMIT 1);
    IF missing IS NOT NULL THEN
        PERFORM esqase.fail('23514', format('%s: member %s not found in this firm', field, missing), field);
    END IF;
END
$$;

-- Whether body sets field (a uuid reference) to something other than current.
CREATE OR REPLACE FUNCTION esqase.body_ref_changed(body jsonb, field text, current uuid) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    RETURN body ? field AND esqase.body_uuid(body, field) IS DISTINCT FROM current;
END
$$;

-------------------------------------------------------------------------------
-- Matters
-------------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION esqase.matter_fields() RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN ARRAY['practiceAreaId', 'openDate', 'practiceAreaStageColumnId', 'title', 'description',
             'closeDate', 'solDate', 'status', 'clientContactIds', 'team', 'matterTypeId'];

-- Fields of the response that a PATCH cannot set (the error names them).
CREATE OR REPLACE FUNCTION esqase.matter_readonly_fields() RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN ARRAY['id', 'publicId', 'createdAt', 'updatedAt', 'practiceArea', 'stage', 'matterType',
             'clients'];

-- Matters as the API renders them (references by id and name, clients
-- and team in order), for ids (n: the position in ids); see contact_docs.
-- The references are read through the views of 28_references.sql, which
-- show a key with matters scopes only what a matter shows of them.
CREATE OR REPLACE FUNCTION esqase.matter_docs(firm uuid, ids uuid[]) RETURNS TABLE (n bigint, doc json)
LANGUAGE sql STABLE AS $$
    SELECT u.n, json_build_object(
        'id', m.id, 'publicId', m.public_id, 'title', m.title, 'description', m.description,
        'status', m.status,
        'openDate', to_char(m.open_date, 'YYYY-MM-DD'),
        'closeDate', to_char(m.close_date, 'YYYY-MM-DD'),
        'solDate', to_char(m.sol_date, 'YYYY-MM-DD'),
        'practiceArea', esqase.ref(p.id, p.name),
        'stage', esqase.ref(s.id, s.name),
        'clients', coalesce(cl.items, '[]'),
        'team', coalesce(tm.items, '[]'),
        'matterType', esqase.ref(mt.id, mt.name),
        'createdAt', esqase.ts(m.created_at), 'updatedAt', esqase.ts(m.updated_at))
      FROM unnest(ids) WITH ORDINALITY AS u(id, n)
      CROSS JOIN LATERAL (SELECT * FROM esqase.matters m WHERE m.firm_id = firm AND m.id = u.id OFFSET 0) m
      LEFT JOIN LATERAL (SELECT p.id, p.name FROM esqase.practice_area_refs p
                          WHERE p.firm_id = m.firm_id AND p.id = m.practice_area_id OFFSET 0) p ON true
      LEFT JOIN LATERAL (SELECT s.id, s.name FROM esqase.practice_area_stage_refs s
                          WHERE s.firm_id = m.firm_id AND s.id = m.stage_id OFFSET 0) s ON true
      LEFT JOIN LATERAL (SELECT mt.id, mt.name FROM esqase.matter_type_refs mt
                          WHERE mt.firm_id = m.firm_id AND mt.id = m.matter_type_id OFFSET 0) mt ON true
      CROSS JOIN LATERAL (
          SELECT json_agg(esqase.ref(c.id, c.name) ORDER BY mc.position) AS items
            FROM esqase.matter_clients mc
            CROSS JOIN LATERAL (SELECT c.id, c.name FROM esqase.contact_refs c
                                 WHERE c.firm_id = mc.firm_id AND c.id = mc.contact_id OFFSET 0) c
           WHERE mc.firm_id = m.firm_id AND mc.matter_id = m.id) cl
      CROSS JOIN LATERAL (
          SELECT json_agg(json_build_object('member', esqase.ref(mb.id, mb.name), 'role', t.role,
                                            'allocation', trim_scale(t.allocation))
                          ORDER BY t.position) AS items
            FROM esqase.matter_team t
            CROSS JOIN LATERAL (SELECT mb.id, mb.name FROM esqase.member_refs mb
                                 WHERE mb.firm_id = t.firm_id AND mb.id = t.member_id OFFSET 0) mb
           WHERE t.firm_id = m.firm_id AND t.matter_id = m.id) tm
$$;

-- A stage of the practice area, checked (a miss is a 422 on field); a NULL
-- stage_id gives the area's first stage.  SECURITY DEFINER: a key with
-- matters:write sees stages through esqase.practice_area_stage_refs (id and
-- name); this answers which stage a matter may take, as a create or update
-- of a matter does, for the firm of the context.
CREATE OR REPLACE FUNCTION esqase.practice_area_stage(firm uuid, area_id uuid, stage_id uuid, field text)
RETURNS uuid LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    s uuid;
BEGIN
    IF firm IS DISTINCT FROM esqase.context_firm() OR NOT esqase.context_may('matters:write') THEN
        PERFORM esqase.fail('42501', 'the API key may not set a matter''s stage');
    END IF;
    IF stage_id IS NULL THEN
        SELECT id INTO s FROM esqase.practice_area_stages
         WHERE firm_id = firm AND practice_area_id = area_id ORDER BY "order" LIMIT 1;
        IF NOT FOUND THEN
            PERFORM esqase.fail('23514', format('practice area %s has no stages', area_id), 'practiceAreaId');
        END IF;
        RETURN s;
    END IF;
    SELECT id INTO s FROM esqase.practice_area_stages
     WHERE firm_id = firm AND practice_area_id = area_id AND id = stage_id;
    IF NOT FOUND THEN
        PERFORM esqase.fail('23514', format('%s: %s is not a stage of practice area %s',
                                            field, stage_id, area_id), field);
    END IF;
    RETURN s;
END
$$;

-- The client list in body.clientContactIds, checked: contacts of the firm,
-- none twice; each active and not a prospect hidden from the context, or in
-- keep (already a client: a contact deleted since may stay, but cannot be
-- added).  Naming a client needs matters:write, not contacts:read
-- (esqase.contact_usable).
CREATE OR REPLACE FUNCTION esqase.matter_clients_from(firm uuid, body jsonb, keep uuid[] DEFAULT '{}')
RETURNS uuid[] LANGUAGE plpgsql STABLE AS $$
DECLARE
    ids uuid[] := esqase.body_list(body, 'clientContactIds', 'uuid')::uuid[];
    missing uuid := (SELECT u.i FROM unnest(ids) WITH ORDINALITY AS u(i, n)
                      WHERE NOT u.i = ANY (coalesce(keep, '{}'))
                        AND NOT esqase.contact_usable(firm, u.i, true)
                      ORDER BY u.n LIMIT 1);
BEGIN
    IF missing IS NOT NULL THEN
        PERFORM esqase.fail('23514', format('clientContactIds: contact %s not found in this firm', missing),
                            'clientContactIds');
    END IF;
    RETURN ids;
END
$$;

-- The team in body.team (absent or null: none), checked: a list of objects
-- {memberId, role, allocation}; members of the firm (as check_members), none
-- twice; role an optional string; allocation an optional percentage 0-100
-- with at most two decimals, the team's total at most 100.  Returns the rows
-- to store as [{member_id, role, allocation}], in order.
CREATE OR REPLACE FUNCTION esqase.matter_team_from(firm uuid, body jsonb, keep uuid[] DEFAULT '{}')
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE
    v jsonb := body -> 'team';
    item jsonb;
    i integer := 0;
    at_ text;
    k text;
    member uuid;
    members uuid[] := '{}'::uuid[];
    alloc numeric;
    total numeric := 0;
    result jsonb := '[]'::jsonb;
BEGIN
    IF v IS NULL OR v = 'null' THEN
        RETURN '[]'::jsonb;
    END IF;
    IF jsonb_typeof(v) <> 'array' THEN
        PERFORM esqase.fail('23514', 'team must be a list', 'team');
    END IF;
    IF jsonb_array_length(v) > 100 THEN
        PERFORM esqase.fail('23514', 'team holds more than 100 items', 'team');
    END IF;
    FOR item IN SELECT jsonb_array_elements(v) LOOP
        at_ := format('team[%s]', i);
        IF jsonb_typeof(item) <> 'object' THEN
            PERFORM esqase.fail('23514', format('%s must be an object {memberId, role, allocation}', at_), 'team');
        END IF;
        SELECT key INTO k FROM jsonb_object_keys(item) key
         WHERE key NOT IN ('memberId', 'role', 'allocation') LIMIT 1;
        IF FOUND THEN
            PERFORM esqase.fail('23514', format('%s: unknown field %s', at_, k), 'team');
        END IF;
        IF jsonb_typeof(item -> 'memberId') IS DISTINCT FROM 'string'
           OR NOT esqase.is_uuid(item ->> 'memberId') THEN
            PERFORM esqase.fail('23514', format('%s.memberId is required and must be a UUID', at_), 'team');
        END IF;
        member := (item ->> 'memberId')::uuid;
        IF member = ANY (members) THEN
            PERFORM esqase.fail('23514', format('team lists member %s twice', member), 'team');
        END IF;
        members := members || member;
        IF coalesce(item -> 'role', 'null') <> 'null'
           AND (jsonb_typeof(item -> 'role') <> 'string' OR length(item ->> 'role') > 200) THEN
            PERFORM esqase.fail('23514', format('%s.role must be a string of at most 200 characters', at_), 'team');
        END IF;
        alloc := NULL;
        IF coalesce(item -> 'allocation', 'null') <> 'null' THEN
            IF jsonb_typeof(item -> 'allocation') <> 'number' THEN
                PERFORM esqase.fail('23514', format('%s.allocation must be a number (a percentage)', at_), 'team');
            END IF;
            alloc := (item -> 'allocation')::numeric;
            IF alloc < 0 OR alloc > 100 OR alloc <> round(alloc, 2) THEN
                PERFORM esqase.fail('23514', format('%s.allocation must be a percentage from 0 to 100 with at most two decimals',
                                                    at_), 'team');
            END IF;
            total := total + alloc;
        END IF;
        result := result || jsonb_build_array(jsonb_build_object(
            'member_id', member, 'role', esqase.nfc(nullif(btrim(item ->> 'role'), '')), 'allocation', alloc));
        i := i + 1;
    END LOOP;
    IF total > 100 THEN
        PERFORM esqase.fail('23514', format('the team''s allocations add up to %s%%, more than 100%%',
                                            trim_scale(total)), 'team');
    END IF;
    PERFORM esqase.check_members(firm, members, 'team', keep);
    RETURN result;
END
$$;

-- Replaces the matter's clients when the list differs (returns whether it
-- did): the old rows are deleted (audited), the new list inserted.  The first
-- client is the primary client and the bill recipient.
CREATE OR REPLACE FUNCTION esqase.matter_set_clients(m esqase.matters, ids uuid[]) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    IF ids IS NULL OR ids = ARRAY(SELECT contact_id FROM esqase.matter_clients
                                   WHERE firm_id = m.firm_id AND matter_id = m.id
                                   ORDER BY position) THEN
        RETURN false;
    END IF;
    DELETE FROM esqase.matter_clients WHERE firm_id = m.firm_id AND matter_id = m.id;
    INSERT INTO esqase.matter_clients (firm_id, matter_id, contact_id, position, is_bill_recipient)
    SELECT m.firm_id, m.id, u.i, u.n - 1, u.n = 1
      FROM unnest(ids) WITH ORDINALITY AS u(i, n);
    RETURN true;
END
$$;

-- The same for the team (rows as matter_team_from returns them).
CREATE OR REPLACE FUNCTION esqase.matter_set_team(m esqase.matters, team jsonb) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    IF team IS NULL OR team =
       (SELECT coalesce(jsonb_agg(jsonb_build_object('member_id', member_id, 'role', role,
                                                     'allocation', allocation) ORDER BY position), '[]')
          FROM esqase.matter_team WHERE firm_id = m.firm_id AND matter_id = m.id) THEN
        RETURN false;
    END IF;
    DELETE FROM esqase.matter_team WHERE firm_id = m.firm_id AND matter_id = m.id;
    INSERT INTO esqase.matter_team (firm_id, matter_id, member_id, position, role, allocation)
    SELECT m.firm_id, m.id, (t.item ->> 'member_id')::uuid, t.n - 1, t.item ->> 'role',
           (t.item ->> 'allocation')::numeric
      FROM jsonb_array_elements(team) WITH ORDINALITY AS t(item, n);
    RETURN true;
END
$$;

-- Applies the scalar fields of body to m (a new matter with firm_id set, or
-- the stored one) and checks the result.  Only the fields present change.
-- References are checked when they change: a matter may stay in a practice
-- area or keep a matter type deleted since, but cannot move to one.
CREATE OR REPLACE FUNCTION esqase.matter_apply(m esqase.matters, body jsonb, creating boolean)
RETURNS esqase.matters LANGUAGE plpgsql STABLE AS $$
DECLARE
    firm uuid := m.firm_id;
    area_changed boolean := creating OR esqase.body_ref_changed(body, 'practiceAreaId', m.practice_area_id);
    f text;
BEGIN
    IF area_changed THEN
        m.practice_area_id := esqase.body_uuid(body, 'practiceAreaId', true);
        IF NOT esqase.practice_area_live(firm, m.practice_area_id) THEN
            PERFORM esqase.fail('23514', format('practiceAreaId: practice area %s not found', m.practice_area_id),
                                'practiceAreaId');
        END IF;
    END IF;
    -- The stage: the one sent, of the matter's (new) practice area; else the
    -- first stage of a new practice area.
    IF coalesce(body -> 'practiceAreaStageColumnId', 'null') <> 'null' THEN
        m.stage_id := esqase.practice_area_stage(firm, m.practice_area_id,
                          esqase.body_uuid(body, 'practiceAreaStageColumnId'), 'practiceAreaStageColumnId');
    ELSIF body ? 'practiceAreaStageColumnId' AND NOT area_changed THEN
        PERFORM esqase.fail('23514', 'practiceAreaStageColumnId cannot be null', 'practiceAreaStageColumnId');
    ELSIF area_changed THEN
        m.stage_id := esqase.practice_area_stage(firm, m.practice_area_id, NULL, NULL);
    END IF;
    -- The matter type: the one sent, of the matter's practice area (null
    -- clears it); a move to another practice area without one clears it.
    IF body ? 'matterTypeId' THEN
        IF area_changed OR esqase.body_ref_changed(body, 'matterTypeId', m.matter_type_id) THEN
            m.matter_type_id := esqase.body_uuid(body, 'matterTypeId');
            IF m.matter_type_id IS NOT NULL AND esqase.matter_type_area(firm, m.matter_type_id) IS NULL THEN
                PERFORM esqase.fail('23514', format('matterTypeId: matter type %s not found', m.matter_type_id),
                                    'matterTypeId');
            END IF;
            IF m.matter_type_id IS NOT NULL
               AND esqase.matter_type_area(firm, m.matter_type_id) <> m.practice_area_id THEN
                PERFORM esqase.fail('23514', format('matterTypeId: matter type %s belongs to another practice area',
                                                    m.matter_type_id), 'matterTypeId');
            END IF;
        END IF;
    ELSIF area_changed THEN
        m.matter_type_id := NULL;
    END IF;
    IF creating OR body ? 'title' THEN
        m.title := coalesce(nullif(btrim(esqase.body_text(body, 'title')), ''), 'Untitled matter');
    END IF;
    IF body ? 'description' THEN
        m.description := esqase.body_text(body, 'description', false, 100000);
    END IF;
    IF creating OR body ? 'openDate' THEN
        m.open_date := esqase.body_date(body, 'openDate', true);
    END IF;
    FOREACH f IN ARRAY ARRAY['closeDate', 'solDate'] LOOP
        IF body ? f THEN
            m := jsonb_populate_record(m, jsonb_build_object(esqase.snake(f), esqase.body_date(body, f)));
        END IF;
    END LOOP;
    IF m.close_date < m.open_date THEN
        PERFORM esqase.fail('23514', format('closeDate %s is before openDate %s',
                                            to_char(m.close_date, 'YYYY-MM-DD'), to_char(m.open_date, 'YYYY-MM-DD')),
                            CASE WHEN body ? 'closeDate' THEN 'closeDate' ELSE 'openDate' END);
    END IF;
    IF creating THEN
        m.status := coalesce(esqase.body_enum(body, 'status', '{ACTIVE,DRAFT}'), 'ACTIVE');
    ELSIF body ? 'status' THEN
        m.status := esqase.body_enum(body, 'status', '{ACTIVE,DRAFT,ARCHIVE}', true);
    END IF;
    RETURN m;
END
$$;

-- The ids of the firm's matters that match q: by their own search
-- document (matter_search) or one of their clients' (contact_search), as
-- the matters list searches them; for a key that may list matters
-- (matters:read), else none.  See contacts_found: SECURITY DEFINER so that
-- the search indexes serve it.
CREATE OR REPLACE FUNCTION esqase.matters_found(firm uuid, q tsquery) RETURNS uuid[]
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    SET plan_cache_mode = force_custom_plan AS $$
BEGIN
    IF firm IS DISTINCT FROM esqase.context_firm() OR NOT esqase.context_may('matters:read') THEN
        RETURN '{}'::uuid[];
    END IF;
    RETURN ARRAY(SELECT m.id FROM esqase.matters m WHERE m.firm_id = firm AND m.search @@ q
                 UNION
                 SELECT mc.matter_id FROM esqase.contacts c
                   JOIN esqase.matter_clients mc ON mc.firm_id = c.firm_id AND mc.contact_id = c.id
                  WHERE c.firm_id = firm AND c.search @@ q);
END
$$;

-- The matters that match a list request's filters: q (matters_found),
-- practiceAreaId, stageId, clientContactId, and list_match's; see
-- contacts_matching.  The sub-selects are uncorrelated: each runs once per
-- query, and its ids are then looked up by primary key.
CREATE OR REPLACE FUNCTION esqase.matters_matching(firm uuid, r esqase.page_request)
RETURNS TABLE (created_at timestamptz, updated_at timestamptz, name text, rank real, id uuid,
               deleted_at timestamptz)
LANGUAGE sql STABLE AS $$
    SELECT m.created_at, m.updated_at, m.title, esqase.list_rank(r, m.search), m.id, m.deleted_at
      FROM esqase.matters m
     WHERE m.firm_id = firm
       AND esqase.list_match(r, m.deleted_at, m.status, m.created_at, m.updated_at)
       AND (r.q IS NULL OR m.id = ANY ((SELECT esqase.matters_found(firm, r.tsq))::uuid[]))
       AND (r.area IS NULL OR m.practice_area_id = r.area)
       AND (r.stage IS NULL OR m.stage_id = r.stage)
       AND (r.client IS NULL
            OR m.id = ANY (ARRAY(SELECT mc.matter_id FROM esqase.matter_clients mc
                                  WHERE mc.firm_id = firm AND mc.contact_id = r.client)))
$$;

-- A new matter from a create's body, checked (nothing written): its row
-- (no id or public id yet), clients and team; the one check of a create,
-- shared with matters_create_many.
CREATE OR REPLACE FUNCTION esqase.matter_new(firm uuid, body jsonb) RETURNS esqase.new_matter
LANGUAGE plpgsql STABLE AS $$
DECLARE
    m esqase.matters;
    r esqase.new_matter;
BEGIN
    PERFORM esqase.check_body(body, esqase.matter_fields());
    m.firm_id := firm;
    r.m := esqase.matter_apply(m, body, true);
    r.clients := esqase.matter_clients_from(firm, body);
    r.team := esqase.matter_team_from(firm, body);
    RETURN r;
END
$$;

CREATE OR REPLACE FUNCTION esqase.matters_create(body jsonb, idempotency_key text DEFAULT NULL) RETURNS esqase.answer
LANGUAGE plpgsql AS $$
DECLARE
    firm uuid := esqase.api_access('matters', 'write');
    replay json := esqase.idempotency_begin(firm, 'matters', body, idempotency_key);
    m esqase.matters;
    created esqase.matters;
    clients uuid[];
    team jsonb;
    new_ esqase.new_matter;
BEGIN
    IF replay IS NOT NULL THEN
        RETURN esqase.replayed(replay);
    END IF;
    new_ := esqase.matter_new(firm, body);
    m := new_.m;
    clients := new_.clients;
    team := new_.team;
    -- Named before the insert (its RETURNING reads the new row under the
    -- SELECT policy: esqase.target).  Numbered last: an invalid body uses
    -- up no number.
    m.id := esqase.target(gen_random_uuid());
    LOOP
        INSERT INTO esqase.matters (firm_id, id, public_id, title, description, status, open_date,
                                    close_date, sol_date, practice_area_id, stage_id, matter_type_id)
        VALUES (firm, m.id, esqase.next_public_id(firm, 'M'), m.title, m.description, m.status, m.open_date,
                m.close_date, m.sol_date, m.practice_area_id, m.stage_id, m.matter_type_id)
        ON CONFLICT (firm_id, public_id) DO NOTHING
        RETURNING * INTO created;
        EXIT WHEN FOUND;
    END LOOP;
    m := created;
    PERFORM esqase.matter_set_clients(m, clients);
    PERFORM esqase.matter_set_team(m, team);
    RETURN esqase.idempotency_keep(firm, idempotency_key, esqase.matter_one(firm, m.id));
END
$$;

CREATE OR REPLACE FUNCTION esqase.matters_update(id uuid, body jsonb, expected_updated_at timestamptz DEFAULT NULL)
RETURNS esqase.answer
LANGUAGE plpgsql AS $$
DECLARE
    firm uuid := esqase.api_access('matters', 'write');
    m esqase.matters;
    clients uuid[];
    team jsonb;
    lists_changed boolean;
BEGIN
    PERFORM esqase.check_body(body, esqase.matter_fields(), esqase.matter_readonly_fields());
    m := esqase.matter_apply(esqase.matter_find(firm, id, NULL, true, expected_updated_at), body, false);
    IF body ? 'clientContactIds' THEN
        clients := esqase.matter_clients_from(firm, body,
            ARRAY(SELECT contact_id FROM esqase.matter_clients WHERE firm_id = firm AND matter_id = m.id));
    END IF;
    IF body ? 'team' THEN
        team := esqase.matter_team_from(firm, body,
            ARRAY(SELECT member_id FROM esqase.matter_team WHERE firm_id = firm AND matter_id = m.id));
    END IF;
    -- The lists first; then the matter row, when a field or a list changed
    -- (so updatedAt moves and the audit log has one UPDATE row).
    lists_changed := esqase.matter_set_clients(m, clients);
    lists_changed := esqase.matter_set_team(m, team) OR lists_changed;
    UPDATE esqase.matters t
       SET title = m.title, description = m.description, status = m.status,
           open_date = m.open_date, close_date = m.close_date, sol_date = m.sol_date,
           practice_area_id = m.practice_area_id, stage_id = m.stage_id,
           matter_type_id = m.matter_type_id
     WHERE t.firm_id = firm AND t.id = m.id
       AND (lists_changed
            OR (t.title, t.description, t.status, t.open_date, t.close_date, t.sol_date,
                t.practice_area_id, t.stage_id, t.matter_type_id)
               IS DISTINCT FROM (m.title, m.description, m.status, m.open_date, m.close_date,
                                 m.sol_date, m.practice_area_id, m.stage_id, m.matter_type_id));
    RETURN esqase.matter_one(firm, m.id);
END
$$;

