
-------------------------------------------------------------------------------
-- 30 Contacts: a person or a company, with emails (the first is primary) and
-- phones.  contact_apply() and contact_insert() are shared with leads, which
-- create a brand-new contact each.
--
-- A private lead's prospect (contacts.hidden_by_lead set) is visible only to
-- those who see the lead: the firm's owners and the lead's assignees.  The
-- rule is written once, in the contacts' entry of sql/registry.pl, in two
-- forms for two costs: for queries over many contacts, visible,
--     hidden_by_lead IS NULL OR esqase.context_is_owner()
--         OR hidden_by_lead IN (SELECT esqase.assigned_leads())
-- whose sub-select runs once per query (a hashed SubPlan), like the leads
-- rule; for one row at a time (the find, 36_records.sql, and the contacts
-- policy, 90_security.sql), visible_row, which probes by key
-- (esqase.context_assigned(hidden_by_lead)).  The build writes the text
-- into every query that needs it: where a query below names it (in braces:
-- visible contacts c), the find, the list (39_lists.sql) and the policy.
-------------------------------------------------------------------------------

-- Whether the context may use the contact of its firm as a matter client:
-- it exists, is not a prospect hidden from the context, and (with live)
-- is not deleted.  SECURITY DEFINER: a key with matters:write may name a
-- client it cannot read (contacts:read).  It answers the key that may name
-- clients (matters:write) about the firm of the context only, what a 422
-- on clientContactIds would tell it; anyone else gets false.
CREATE OR REPLACE FUNCTION esqase.contact_usable(firm uuid, contact uuid, live boolean) RETURNS boolean
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RETURN coalesce(firm = esqase.context_firm() AND esqase.context_may('matters:write')
                    AND EXISTS (SELECT FROM esqase.contacts c
                                 WHERE c.firm_id = firm AND c.id = contact
                                   AND (NOT live OR c.deleted_at IS NULL)
                                   AND {{visible contacts c}}), false);
END
$$;

CREATE OR REPLACE FUNCTION esqase.contact_person_fields() RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN ARRAY['prefix', 'firstName', 'middleName', 'lastName', 'suffix', 'nickname'];

CREATE OR REPLACE FUNCTION esqase.contact_company_fields() RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN ARRAY['companyName', 'tradeName', 'companyType'];

CREATE OR REPLACE FUNCTION esqase.contact_fields() RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN ARRAY['type', 'emails', 'phones'] || esqase.contact_person_fields() || esqase.contact_company_fields();

-- Contacts as the API renders them, fields in the API page's order, for
-- ids (n: the position in ids).  Set-based and inlined into the caller's
-- cached plan: a GET renders one, a list page up to 200 in one query.
-- Each id is read by its key (a LATERAL sub-select with OFFSET 0, which
-- the planner cannot flatten into a join), as is every record a document
-- refers to: joined, a plan made while the statistics said one row per
-- firm (a table analyzed nearly empty) read the whole firm and filtered it
-- by id, for every record an import wrote (test/sql/49_import_small_stats).
CREATE OR REPLACE FUNCTION esqase.contact_docs(firm uuid, ids uuid[]) RETURNS TABLE (n bigint, doc json)
LANGUAGE sql STABLE AS $$
    SELECT u.n, json_build_object(
        'id', c.id, 'type', c.type, 'status', c.status, 'name', c.name,
        'firstName', c.first_name, 'lastName', c.last_name, 'companyName', c.company_name,
        'emails', to_json(c.emails), 'phones', to_json(c.phones),
        'createdAt', esqase.ts(c.created_at), 'updatedAt', esqase.ts(c.updated_at),
        'prefix', c.prefix, 'middleName', c.middle_name, 'suffix', c.suffix,
        'nickname', c.nickname, 'tradeName', c.trade_name, 'companyType', c.company_type)
      FROM unnest(ids) WITH ORDINALITY AS u(id, n)
      CROSS JOIN LATERAL (SELECT * FROM esqase.contacts c WHERE c.firm_id = firm AND c.id = u.id OFFSET 0) c
$$;

-- Applies the contact fields of body to c (whose type is set) and checks the
-- result: name fields must match the type, and the type's name is required.
CREATE OR REPLACE FUNCTION esqase.contact_apply(c esqase.contacts, body jsonb) RETURNS esqase.contacts
LANGUAGE plpgsql STABLE AS $$
DECLARE
    own_fields text[];
    other_fields text[];
    f text;
BEGIN
    IF c.type = 'PERSON' THEN
        own_fields := esqase.contact_person_fields();
        other_fields := esqase.contact_company_fields();
    ELSE
        own_fields := esqase.contact_company_fields();
        other_fields := esqase.contact_person_fields();
    END IF;
    IF body ?| other_fields THEN
        FOREACH f IN ARRAY other_fields LOOP
            IF body ? f AND body -> f <> 'null' THEN
                PERFORM esqase.fail('23514', format('%s does not apply to a %s contact', f, c.type), f);
            END IF;
        END LOOP;
    END IF;
    c := jsonb_populate_record(c, esqase.text_patch(body, own_fields));
    IF body ? 'emails' THEN
        c.emails := esqase.body_list(body, 'emails', 'email');
    END IF;
    IF body ? 'phones' THEN
        c.phones := esqase.body_list(body, 'phones');
    END IF;
    IF c.type = 'PERSON' AND coalesce(btrim(c.first_name), btrim(c.last_name), '') = '' THEN
        PERFORM esqase.fail('23514', 'firstName or lastName is required for a PERSON contact',
                            CASE WHEN body ? 'lastName' THEN 'lastName' ELSE 'firstName' END);
    ELSIF c.type = 'COMPANY' AND coalesce(btrim(c.company_name), '') = '' THEN
        PERFORM esqase.fail('23514', 'companyName is required for a COMPANY contact', 'companyName');
    END IF;
    RETURN c;
END
$$;

-- A new contact from a create's body, checked (nothing written): the one
-- check of a create, shared by contacts_create and contacts_create_many.
CREATE OR REPLACE FUNCTION esqase.contact_new(body jsonb) RETURNS esqase.contacts
LANGUAGE plpgsql STABLE AS $$
DECLARE
    c esqase.contacts;
BEGIN
    PERFORM esqase.check_body(body, esqase.contact_fields());
    c.type := esqase.body_enum(body, 'type', '{PERSON,COMPANY}', true);
    RETURN esqase.contact_apply(c, body);
END
$$;

-- Returns the new contact's id, named (esqase.target: a key with
-- contacts:write alone reads back what it created).  No RETURNING: it would check the new row
-- against the SELECT policy, which a lead's prospect (created by a key with
-- leads:write alone) passes only once its lead exists.
CREATE OR REPLACE FUNCTION esqase.contact_insert(firm uuid, c esqase.contacts) RETURNS uuid
LANGUAGE plpgsql AS $$
BEGIN
    c.id := esqase.target(gen_random_uuid());
    INSERT INTO esqase.contacts (firm_id, id, type, prefix, first_name, middle_name, last_name,
                                 suffix, nickname, company_name, trade_name, company_type,
                                 emails, phones, name, hidden_by_lead)
    VALUES (firm, c.id, c.type, c.prefix, c.first_name, c.middle_name, c.last_name,
            c.suffix, c.nickname, c.company_name, c.trade_name, c.company_type,
            coalesce(c.emails, '{}'), coalesce(c.phones, '{}'), '', c.hidden_by_lead);
    RETURN c.id;
END
$$;

-- The live contacts of the firm that are no private lead's hidden prospect:
-- the count of all of them less that of the hidden ones, which only owners
-- may read in esqase.record_counts (the 0.2.0 probe: any key with
-- contacts:read read them there).  SECURITY DEFINER, for the context's firm
-- and a key that lists contacts; NULL for any other: it tells what a
-- member's list total tells, and no more.
CREATE OR REPLACE FUNCTION esqase.contacts_public_total(firm uuid) RETURNS bigint
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF firm IS DISTINCT FROM esqase.context_firm() OR NOT coalesce(esqase.context_may('contacts:read'), false) THEN
        RETURN NULL;
    END IF;
    RETURN esqase.record_total(firm, 'contacts') - esqase.record_total(firm, 'contacts_private');
END
$$;

-- The total of the contacts the context sees (the visible rule, counted):
-- every live contact for an owner; for a member, less the hidden prospects
-- (contacts_private), plus those of the leads it is assigned to, counted by
-- contacts_hidden_idx
-- (= ANY of an array: an IN (SELECT ...) here is planned as a hash join
-- over a scan of the firm's contacts).
CREATE OR REPLACE FUNCTION esqase.contacts_total(firm uuid) RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF coalesce(esqase.context_is_owner(), false) THEN
        RETURN esqase.record_total(firm, 'contacts');
    END IF;
    RETURN esqase.contacts_public_total(firm)
         + (SELECT count(*) FROM esqase.contacts c
             WHERE c.firm_id = firm AND c.deleted_at IS NULL
               AND c.hidden_by_lead = ANY (ARRAY(SELECT esqase.assigned_leads())));
END
$$;

-- The ids of the firm's contacts whose search document matches q, of
-- those the context may list (the lists' own rules still apply after it):
-- with contacts:read every contact it sees; with leads:read only, the
-- contacts of the leads it sees (the leads list searches them); else none.
-- A hidden prospect is found only by those who see its lead.  SECURITY
-- DEFINER: under row-level security the match operator @@, not leakproof,
-- may not use the search index, and every match would be a scan of the
-- firm's contacts; so it applies the rules itself, as a list does (F3 of
-- the 0.2.0 probe: it answered any key of the firm, whatever its scopes,
-- hidden prospects included).  A custom plan per call: a generic one
-- cannot tell a rare word from a common one.
CREATE OR REPLACE FUNCTION esqase.contacts_found(firm uuid, q tsquery) RETURNS uuid[]
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    SET plan_cache_mode = force_custom_plan AS $$
DECLARE
    by_contacts boolean := esqase.context_may('contacts:read');
BEGIN
    IF firm IS DISTINCT FROM esqase.context_firm()
       OR NOT (by_contacts OR esqase.context_may('leads:read')) THEN
        RETURN '{}'::uuid[];
    END IF;
    RETURN ARRAY(SELECT c.id FROM esqase.contacts c
                  WHERE c.firm_id = firm AND c.search @@ q
                    AND {{visible contacts c}}
                    AND (by_contacts
                         OR EXISTS (SELECT FROM esqase.leads l
                                     WHERE l.firm_id = c.firm_id AND l.contact_id = c.id
                                       AND {{visible leads l}})));
END
$$;

-- The relevance to q of the contacts of the leads the context sees, which
-- the leads list ranks by (order relevance): {contact id: rank}, for a key
-- that may list leads (leads:read).  The list reads a lead's contact through
-- esqase.contact_refs, which shows no search document (it holds the emails
-- and phones), so the rank comes from here, once per query.  SECURITY
-- DEFINER, like contacts_found.
CREATE OR REPLACE FUNCTION esqase.lead_contacts_ranked(firm uuid, q tsquery) RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    SET plan_cache_mode = force_custom_plan AS $$
BEGIN
    IF firm IS DISTINCT FROM esqase.context_firm() OR NOT esqase.context_may('leads:read') THEN
        RETURN '{}'::jsonb;
    END IF;
    -- the matches first (the search index), then whether a visible lead has
    -- each (by leads_contact_idx)
    RETURN (SELECT coalesce(jsonb_object_agg(c.id, ts_rank(c.search, q)), '{}'::jsonb)
              FROM esqase.contacts c
             WHERE c.firm_id = firm AND c.search @@ q
               AND {{visible contacts c}}
               AND EXISTS (SELECT FROM esqase.leads l
                            WHERE l.firm_id = c.firm_id AND l.contact_id = c.id
                              AND {{visible leads l}}));
END
$$;

-- The contacts the context sees that match a list request's filters: q
-- (the search document, contact_search), type, and list_match's.  Inlined
-- into contacts_keys and contacts_count (39_lists.sql).
CREATE OR REPLACE FUNCTION esqase.contacts_matching(firm uuid, r esqase.page_request)
RETURNS TABLE (created_at timestamptz, updated_at timestamptz, name text, rank real, id uuid,
               deleted_at timestamptz)
LANGUAGE sql STABLE AS $$
    SELECT c.created_at, c.updated_at, c.name, esqase.list_rank(r, c.search), c.id, c.deleted_at
      FROM esqase.contacts c
     WHERE c.firm_id = firm
       AND esqase.list_match(r, c.deleted_at, c.status, c.created_at, c.updated_at)
       AND (r.q IS NULL OR c.id = ANY ((SELECT esqase.contacts_found(firm, r.tsq))::uuid[]))
       AND (r.type IS NULL OR c.type = r.type)
       AND {{visible contacts c}}
$$;

-- The API's entry points (json; the public esqase_contacts_* wrap them,
-- 92_public_api.sql); esqase.contacts_list is made in 39_lists.sql.
CREATE OR REPLACE FUNCTION esqase.contacts_create(body jsonb, idempotency_key text DEFAULT NULL) RETURNS esqase.answer
LANGUAGE plpgsql AS $$
DECLARE
    firm uuid := esqase.api_access('contacts', 'write');
    replay json := esqase.idempotency_begin(firm, 'contacts', body, idempotency_key);
    c esqase.contacts;
BEGIN
    IF replay IS NOT NULL THEN
        RETURN esqase.replayed(replay);
    END IF;
    c.id := esqase.contact_insert(firm, esqase.contact_new(body));
    RETURN esqase.idempotency_keep(firm, idempotency_key, esqase.contact_one(firm, c.id));
END
$$;

CREATE OR REPLACE FUNCTION esqase.contacts_update(id uuid, body jsonb, expected_updated_at timestamptz DEFAULT NULL)
RETURNS esqase.answer
LANGUAGE plpgsql AS $$
DECLARE
    firm uuid := esqase.api_access('contacts', 'write');
    c esqase.contacts;
BEGIN
    PERFORM esqase.check_body(body, esqase.contact_fields());
    c := esqase.contact_find(firm, id, NULL, true, expected_updated_at);
    IF body ? 'type' AND body ->> 'type' IS DISTINCT FROM c.type THEN
        PERFORM esqase.fail('23514', 'type cannot be changed after a contact is created', 'type');
    END IF;
    c := esqase.contact_apply(c, body);
    UPDATE esqase.contacts t
       SET prefix = c.prefix, first_name = c.first_name, middle_name = c.middle_name,
           last_name = c.last_name, suffix = c.suffix, nickname = c.nickname,
           company_name = c.company_name, trade_name = c.trade_name,
           company_type = c.company_type, emails = c.emails, phones = c.phones
     WHERE t.firm_id = firm AND t.id = c.id
       -- an update that changes nothing writes nothing (updatedAt, audit log)
       AND (t.prefix, t.first_name, t.middle_name, t.last_name, t.suffix, t.nickname,
            t.company_name, t.trade_name, t.company_type, t.emails, t.phones)
           IS DISTINCT FROM (c.prefix, c.first_name, c.middle_name, c.last_name, c.suffix, c.nickname,
                             c.company_name, c.trade_name, c.company_type, c.emails, c.phones);
    RETURN esqase.contact_one(firm, c.id);
END
$$;

