
-------------------------------------------------------------------------------
-- 30 Contacts: a person or a company, with emails (the first is primary) and
-- phones.  contact_apply() and contact_insert() are shared with leads, which
-- create a brand-new contact each.
-------------------------------------------------------------------------------

CREATE FUNCTION esqase.contact_person_fields() RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN ARRAY['prefix', 'firstName', 'middleName', 'lastName', 'suffix', 'nickname'];

CREATE FUNCTION esqase.contact_company_fields() RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN ARRAY['companyName', 'tradeName', 'companyType'];

CREATE FUNCTION esqase.contact_fields() RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN ARRAY['type', 'emails', 'phones'] || esqase.contact_person_fields() || esqase.contact_company_fields();

CREATE FUNCTION esqase.contact_json(c esqase.contacts) RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE
RETURN jsonb_build_object(
    'id', c.id, 'type', c.type, 'status', c.status, 'name', c.name,
    'prefix', c.prefix, 'firstName', c.first_name, 'middleName', c.middle_name,
    'lastName', c.last_name, 'suffix', c.suffix, 'nickname', c.nickname,
    'companyName', c.company_name, 'tradeName', c.trade_name, 'companyType', c.company_type,
    'emails', to_jsonb(c.emails), 'phones', to_jsonb(c.phones),
    'createdAt', esqase.ts(c.created_at), 'updatedAt', esqase.ts(c.updated_at));

-- Applies the contact fields of body to c (whose type is set) and checks the
-- result: name fields must match the type, and the type's name is required.
CREATE FUNCTION esqase.contact_apply(c esqase.contacts, body jsonb) RETURNS esqase.contacts
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
    FOREACH f IN ARRAY other_fields LOOP
        IF body ? f AND body -> f <> 'null' THEN
            PERFORM esqase.fail('23514', format('%s does not apply to a %s contact', f, c.type), f);
        END IF;
    END LOOP;
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

CREATE FUNCTION esqase.contact_insert(firm uuid, c esqase.contacts) RETURNS esqase.contacts
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO esqase.contacts (firm_id, type, prefix, first_name, middle_name, last_name,
                                 suffix, nickname, company_name, trade_name, company_type,
                                 emails, phones, name)
    VALUES (firm, c.type, c.prefix, c.first_name, c.middle_name, c.last_name,
            c.suffix, c.nickname, c.company_name, c.trade_name, c.company_type,
            coalesce(c.emails, '{}'), coalesce(c.phones, '{}'), '')
    RETURNING * INTO c;
    RETURN c;
END
$$;

-- An active contact of the firm; with for_update, locked for the change.
CREATE FUNCTION esqase.contact_find(firm uuid, contact_id uuid, for_update boolean DEFAULT false)
RETURNS esqase.contacts LANGUAGE plpgsql AS $$
DECLARE
    c esqase.contacts;
BEGIN
    IF for_update THEN
        PERFORM esqase.lock_active('esqase.contacts', firm, contact_id);
    END IF;
    SELECT * INTO c FROM esqase.contacts
     WHERE firm_id = firm AND id = contact_id AND deleted_at IS NULL;
    IF NOT FOUND THEN
        PERFORM esqase.not_found('contact', contact_id);
    END IF;
    RETURN c;
END
$$;

CREATE FUNCTION esqase_contacts_list(params jsonb DEFAULT '{}') RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    firm uuid := esqase.api_access('contacts', 'read');
    page record := esqase.page(params, '{}');
BEGIN
    RETURN esqase.list_result(
        (SELECT jsonb_agg(esqase.contact_json(c) ORDER BY c.created_at, c.id)
           FROM (SELECT * FROM esqase.contacts
                  WHERE firm_id = firm AND deleted_at IS NULL
                  ORDER BY created_at, id LIMIT page.lim OFFSET page.off) c),
        page.lim, page.off,
        (SELECT count(*) FROM esqase.contacts WHERE firm_id = firm AND deleted_at IS NULL));
END
$$;

CREATE FUNCTION esqase_contacts_create(body jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    firm uuid := esqase.api_access('contacts', 'write');
    c esqase.contacts;
BEGIN
    PERFORM esqase.check_body(body, esqase.contact_fields());
    c.type := esqase.body_enum(body, 'type', '{PERSON,COMPANY}', true);
    c := esqase.contact_insert(firm, esqase.contact_apply(c, body));
    RETURN jsonb_build_object('data', esqase.contact_json(c));
END
$$;

CREATE FUNCTION esqase_contacts_get(id uuid) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    firm uuid := esqase.api_access('contacts', 'read');
BEGIN
    RETURN (SELECT jsonb_build_object('data', esqase.contact_json(r)) FROM esqase.contact_find(firm, id) r);
END
$$;

CREATE FUNCTION esqase_contacts_update(id uuid, body jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    firm uuid := esqase.api_access('contacts', 'write');
    c esqase.contacts;
    changed esqase.contacts;
BEGIN
    PERFORM esqase.check_body(body, esqase.contact_fields());
    c := esqase.contact_find(firm, id, true);
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
                             c.company_name, c.trade_name, c.company_type, c.emails, c.phones)
    RETURNING * INTO changed;
    IF FOUND THEN
        c := changed;
    END IF;
    RETURN jsonb_build_object('data', esqase.contact_json(c));
END
$$;

CREATE FUNCTION esqase_contacts_delete(id uuid) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    firm uuid := esqase.api_access('contacts', 'write');
    c esqase.contacts;
BEGIN
    UPDATE esqase.contacts t SET status = 'ARCHIVED', deleted_at = now()
     WHERE t.firm_id = firm AND t.id = esqase_contacts_delete.id AND t.deleted_at IS NULL
    RETURNING * INTO c;
    IF NOT FOUND THEN
        PERFORM esqase.not_found('contact', id);
    END IF;
    RETURN jsonb_build_object('data', esqase.contact_json(c));
END
$$;
