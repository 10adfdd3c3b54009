-- esqase 0.1.0 -> 0.2.0.  Run by ALTER EXTENSION esqase UPDATE, after the
-- 0.2.0 library is installed and the server restarted (docs/operations.md).
-- test/t/091_upgrade.pl checks that 0.1.0 + this script gives the same
-- catalog as a fresh 0.2.0 install.
\echo Use "ALTER EXTENSION esqase UPDATE TO '0.2.0'" to load this file. \quit

-------------------------------------------------------------------------------
-- Lists at scale (00, 10, 20, 3x, 90, 92 of sql/parts): maintained totals,
-- keyset and cursor paging, set-based json renderers in the API page's
-- field order, static row locks.
-------------------------------------------------------------------------------

-- The number of live (not soft-deleted) records of each firm, per list:
-- contacts, matters, practice_areas, and leads_public / leads_private, kept
-- by statement triggers (20_triggers.sql) so that a list's exact total is a
-- sum of at most `slots` small rows instead of a count of the firm's rows.
-- A firm's count of one list is spread over up to 16 slots: a writer adds
-- its change to a slot no other open transaction holds (SKIP LOCKED), so
-- concurrent writers in one firm never queue behind one hot row.
CREATE TABLE esqase.record_counts (
    firm_id uuid NOT NULL REFERENCES esqase.firms (firm_id),
    list    text NOT NULL CHECK (list IN ('contacts', 'matters', 'practice_areas',
                                          'leads_public', 'leads_private')),
    slot    smallint NOT NULL CHECK (slot BETWEEN 0 AND 15),
    n       bigint NOT NULL,
    PRIMARY KEY (firm_id, list, slot)
);

-- The position of a record in a list (the order every list has: creation
-- time, then id).  A cursor is one of these, encoded.
CREATE TYPE esqase.page_key AS (at timestamptz, id uuid);

-- A page a list is asked for: at most lim records, after the key after,
-- skipping off more; by_cursor when after came from a cursor.
CREATE TYPE esqase.page_request AS (lim integer, off integer, after esqase.page_key, by_cursor boolean);

-- is_private is included so that a page at a deep offset is found by an
-- index-only scan even for a member who sees only some private leads.
DROP INDEX esqase.leads_list_idx;
CREATE INDEX leads_list_idx ON esqase.leads (firm_id, created_at, id) INCLUDE (is_private)
    WHERE deleted_at IS NULL;

ALTER TABLE esqase.record_counts ENABLE ROW LEVEL SECURITY;
ALTER TABLE esqase.record_counts FORCE ROW LEVEL SECURITY;
CREATE POLICY firm_isolation ON esqase.record_counts USING (firm_id = esqase.context_firm());
SELECT pg_catalog.pg_extension_config_dump('esqase.record_counts', '');
GRANT SELECT ON esqase.record_counts TO esqase_api;

-- 0.1.0's renderers, paging and dynamic-SQL helpers (the renderers first:
-- their bodies depend on ref, whose result type changes to json).
DROP FUNCTION esqase.contact_json(esqase.contacts);
DROP FUNCTION esqase.practice_area_json(esqase.practice_areas);
DROP FUNCTION esqase.matter_type_json(esqase.matter_types);
DROP FUNCTION esqase.matter_json(esqase.matters);
DROP FUNCTION esqase.lead_json(esqase.leads);
DROP FUNCTION esqase.list_result(jsonb, integer, integer, bigint);
DROP FUNCTION esqase.ref(uuid, text);
DROP FUNCTION esqase.page(jsonb, text[]);
DROP FUNCTION esqase.lock_active(regclass, uuid, uuid);
DROP FUNCTION esqase.first_missing(regclass, uuid, uuid[], uuid[]);

-- A reference to another record: {"id", "name"}, or null.
CREATE FUNCTION esqase.ref(id uuid, name text) RETURNS json
LANGUAGE sql STABLE PARALLEL SAFE
RETURN CASE WHEN id IS NOT NULL THEN json_build_object('id', id, 'name', name) END;

-- The response of a single-record call: {"data": record}.
CREATE FUNCTION esqase.one(record json) RETURNS json
LANGUAGE sql STABLE PARALLEL SAFE
RETURN json_build_object('data', record);

-- A cursor names the last record of a page: the list it belongs to, and
-- that record's page_key, base64url-encoded.  Opaque to clients.
CREATE FUNCTION esqase.cursor_encode(list text, k esqase.page_key) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
RETURN translate(encode(convert_to(concat_ws('|', list,
                                             to_char(k.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
                                             k.id), 'UTF8'), 'base64'),
                 E'+/=\n', '-_');

-- The page_key a cursor of list names; a 400 on cursor if it is not one.
CREATE FUNCTION esqase.cursor_decode(list text, cursor text) RETURNS esqase.page_key
LANGUAGE plpgsql STABLE AS $$
DECLARE
    parts text[];
    k esqase.page_key;
BEGIN
    BEGIN
        parts := string_to_array(convert_from(decode(
                     rpad(translate(cursor, '-_', '+/'), (length(cursor) + 3) / 4 * 4, '='),
                     'base64'), 'UTF8'), '|');
        IF cardinality(parts) = 3 AND parts[1] = list AND esqase.is_uuid(parts[3]) THEN
            k := ROW(parts[2]::timestamptz, parts[3]::uuid);
        END IF;
    EXCEPTION WHEN data_exception THEN
        k := NULL;      -- not base64, not UTF-8, not a timestamp: the same 400
    END;
    IF k IS NULL THEN
        PERFORM esqase.fail('22023', format('cursor is not a cursor of this %s list', replace(list, '_', ' ')),
                            'cursor');
    END IF;
    RETURN k;
END
$$;

-- Checks params (names in allowed, plus limit, offset and cursor) and
-- returns the page asked for: limit defaults to 50 and is clamped to 200;
-- offset defaults to 0; after is the key the page starts after (a cursor's,
-- else one before every record).  list names the list a cursor must be of.
CREATE FUNCTION esqase.page(params jsonb, list text, allowed text[]) RETURNS esqase.page_request
LANGUAGE plpgsql STABLE AS $$
DECLARE
    k text;
    v text;
    p esqase.page_request := ROW(50, 0, ROW('-infinity'::timestamptz,
                                             '00000000-0000-0000-0000-000000000000'::uuid), false);
BEGIN
    IF params IS NULL THEN
        RETURN p;
    END IF;
    IF jsonb_typeof(params) <> 'object' THEN
        PERFORM esqase.fail('22023', 'params must be a JSON object');
    END IF;
    FOR k, v IN SELECT key, value #>> '{}' FROM jsonb_each(params) LOOP
        IF k IN ('limit', 'offset') THEN
            IF v IS NULL OR v !~ '^\s*\d+\s*$' THEN
                PERFORM esqase.fail('22023', format('%s must be a whole number', k), k);
            END IF;
            IF k = 'limit' THEN
                -- Any larger limit is clamped, however many digits it has.
                IF v::numeric < 1 THEN
                    PERFORM esqase.fail('22023', 'limit must be at least 1', k);
                END IF;
                p.lim := least(v::numeric, 200)::integer;
            ELSE
                IF v::numeric > 2147483647 THEN
                    PERFORM esqase.fail('22023', 'offset must be at most 2147483647', k);
                END IF;
                p.off := v::integer;
            END IF;
        ELSIF k = 'cursor' THEN
            IF jsonb_typeof(params -> k) <> 'string' THEN
                PERFORM esqase.fail('22023', 'cursor must be a string (a nextCursor)', k);
            END IF;
            p.after := esqase.cursor_decode(list, v);
            p.by_cursor := true;
        ELSIF NOT k = ANY (allowed) THEN
            PERFORM esqase.fail('22023', format('unknown query parameter: %s', k), k);
        END IF;
    END LOOP;
    IF p.by_cursor AND params ? 'offset' THEN
        PERFORM esqase.fail('22023', 'cursor and offset cannot be used together: a cursor says where the page starts',
                            'cursor');
    END IF;
    RETURN p;
END
$$;

-- The ids of the page's records: the first lim of keys (the page query
-- asks for one more, to learn whether a next page exists).
CREATE FUNCTION esqase.page_ids(keys esqase.page_key[], lim integer) RETURNS uuid[]
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    RETURN ARRAY(SELECT k.id FROM unnest(keys[1:lim]) k);
END
$$;

-- A list response: {"data": [...], "pagination": {"limit", "offset",
-- "total", "nextCursor"}}.  offset is null on a page asked for by cursor;
-- nextCursor is null on the last page.
CREATE FUNCTION esqase.list_json(list text, page esqase.page_request, keys esqase.page_key[], data json,
                                 total bigint)
RETURNS json LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN json_build_object(
        'data', coalesce(data, '[]'),
        'pagination', json_build_object(
            'limit', page.lim,
            'offset', CASE WHEN NOT page.by_cursor THEN page.off END,
            'total', total,
            'nextCursor', CASE WHEN cardinality(keys) > page.lim
                               THEN esqase.cursor_encode(list, keys[page.lim]) END));
END
$$;

-- The exact number of live records of a firm's list (contacts, matters,
-- practice_areas, leads_public, leads_private), from the counts the
-- triggers keep (00_schema.sql, record_counts).
CREATE FUNCTION esqase.record_total(firm uuid, list text) RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT coalesce(sum(c.n), 0) FROM esqase.record_counts c
             WHERE c.firm_id = firm AND c.list = record_total.list);
END
$$;

-- Adds delta to a firm's count of list (esqase.record_counts): to a slot
-- this transaction already holds or no other open transaction holds,
-- starting from this backend's own slot; when every slot is held (more than
-- 16 concurrent writers in one firm), to its own slot, after waiting.
CREATE FUNCTION esqase.count_add(firm uuid, counted text, delta bigint) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE esqase.record_counts c SET n = c.n + delta
     WHERE c.firm_id = firm AND c.list = counted
       AND c.slot = (SELECT s.slot FROM esqase.record_counts s
                      WHERE s.firm_id = firm AND s.list = counted
                      ORDER BY (s.slot - pg_backend_pid() % 16 + 16) % 16
                      LIMIT 1 FOR UPDATE SKIP LOCKED);
    IF NOT FOUND THEN
        INSERT INTO esqase.record_counts AS c (firm_id, list, slot, n)
        VALUES (firm, counted, pg_backend_pid() % 16, delta)
        ON CONFLICT ON CONSTRAINT record_counts_pkey DO UPDATE SET n = c.n + excluded.n;
    END IF;
END
$$;

-- Keeps record_counts for contacts, matters and practice_areas: a
-- statement trigger over the transition tables, so a statement that writes
-- many rows (a bulk load) changes each firm's count once.  Live means
-- deleted_at IS NULL: a soft delete counts -1, an UPDATE that clears
-- deleted_at +1.  SECURITY DEFINER: no API role may write the counts.
CREATE FUNCTION esqase.count_records() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF esqase.restoring() THEN
        RETURN NULL;    -- the counts come with the dump
    END IF;
    IF TG_OP = 'INSERT' THEN
        PERFORM esqase.count_add(r.firm_id, TG_TABLE_NAME, count(*))
           FROM new_rows r WHERE r.deleted_at IS NULL GROUP BY r.firm_id;
    ELSIF TG_OP = 'UPDATE' THEN
        PERFORM esqase.count_add(r.firm_id, TG_TABLE_NAME, sum(r.d))
           FROM (SELECT firm_id, 1 AS d FROM new_rows WHERE deleted_at IS NULL
                 UNION ALL
                 SELECT firm_id, -1 FROM old_rows WHERE deleted_at IS NULL) r
          GROUP BY r.firm_id HAVING sum(r.d) <> 0;
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM esqase.count_add(r.firm_id, TG_TABLE_NAME, -count(*))
           FROM old_rows r WHERE r.deleted_at IS NULL GROUP BY r.firm_id;
    ELSE
        DELETE FROM esqase.record_counts WHERE list = TG_TABLE_NAME;
    END IF;
    RETURN NULL;
END
$$;

-- The same for leads, counted apart by visibility: leads_public and
-- leads_private (a member sees the public ones and some private ones).
CREATE FUNCTION esqase.count_leads() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF esqase.restoring() THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'INSERT' THEN
        PERFORM esqase.count_add(r.firm_id, esqase.lead_list(r.is_private), count(*))
           FROM new_rows r WHERE r.deleted_at IS NULL GROUP BY r.firm_id, r.is_private;
    ELSIF TG_OP = 'UPDATE' THEN
        PERFORM esqase.count_add(r.firm_id, esqase.lead_list(r.is_private), sum(r.d))
           FROM (SELECT firm_id, is_private, 1 AS d FROM new_rows WHERE deleted_at IS NULL
                 UNION ALL
                 SELECT firm_id, is_private, -1 FROM old_rows WHERE deleted_at IS NULL) r
          GROUP BY r.firm_id, r.is_private HAVING sum(r.d) <> 0;
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM esqase.count_add(r.firm_id, esqase.lead_list(r.is_private), -count(*))
           FROM old_rows r WHERE r.deleted_at IS NULL GROUP BY r.firm_id, r.is_private;
    ELSE
        DELETE FROM esqase.record_counts WHERE list IN ('leads_public', 'leads_private');
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION esqase.lead_list(is_private boolean) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN is_private THEN 'leads_private' ELSE 'leads_public' END;

-- Contacts as the API renders them, fields in the API page's order, for
-- ids (n: the position in ids).  Set-based and inlined into the caller's
-- cached plan: a GET renders one, a list page up to 200 in one query.
CREATE FUNCTION esqase.contact_docs(firm uuid, ids uuid[]) RETURNS TABLE (n bigint, doc json)
LANGUAGE sql STABLE AS $$
    SELECT u.n, json_build_object(
        'id', c.id, 'type', c.type, 'status', c.status, 'name', c.name,
        'firstName', c.first_name, 'lastName', c.last_name, 'companyName', c.company_name,
        'emails', to_json(c.emails), 'phones', to_json(c.phones),
        'createdAt', esqase.ts(c.created_at), 'updatedAt', esqase.ts(c.updated_at),
        'prefix', c.prefix, 'middleName', c.middle_name, 'suffix', c.suffix,
        'nickname', c.nickname, 'tradeName', c.trade_name, 'companyType', c.company_type)
      FROM unnest(ids) WITH ORDINALITY AS u(id, n)
      JOIN esqase.contacts c ON c.firm_id = firm AND c.id = u.id
$$;

-- {"data": contact}
CREATE FUNCTION esqase.contact_one(firm uuid, contact_id uuid) RETURNS json
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN esqase.one((SELECT d.doc FROM esqase.contact_docs(firm, ARRAY[contact_id]) d));
END
$$;

-- An active contact of the firm; with for_update, locked for the change
-- (so that two concurrent PATCHes apply one after the other).
CREATE OR REPLACE FUNCTION esqase.contact_find(firm uuid, contact_id uuid, for_update boolean DEFAULT false)
RETURNS esqase.contacts LANGUAGE plpgsql AS $$
DECLARE
    c esqase.contacts;
BEGIN
    IF for_update THEN
        SELECT * INTO c FROM esqase.contacts
         WHERE firm_id = firm AND id = contact_id AND deleted_at IS NULL FOR UPDATE;
    ELSE
        SELECT * INTO c FROM esqase.contacts
         WHERE firm_id = firm AND id = contact_id AND deleted_at IS NULL;
    END IF;
    IF NOT FOUND THEN
        PERFORM esqase.not_found('contact', contact_id);
    END IF;
    RETURN c;
END
$$;

-- The API's entry points (json; the public esqase_contacts_* wrap them,
-- 92_public_api.sql).
CREATE FUNCTION esqase.contacts_list(params jsonb) RETURNS json
LANGUAGE plpgsql STABLE SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    firm uuid := esqase.api_access('contacts', 'read');
    page esqase.page_request := esqase.page(params, 'contacts', '{}');
    keys esqase.page_key[];
BEGIN
    -- The page's keys by an index-only scan, then only its rows rendered.
    keys := ARRAY(SELECT ROW(k.created_at, k.id)::esqase.page_key
                   FROM (SELECT c.created_at, c.id FROM esqase.contacts c
                     WHERE c.firm_id = firm AND c.deleted_at IS NULL
                       AND (c.created_at, c.id) > ((page.after).at, (page.after).id)
                     ORDER BY c.created_at, c.id LIMIT page.lim + 1 OFFSET page.off) k);
    RETURN esqase.list_json('contacts', page, keys,
        (SELECT json_agg(d.doc ORDER BY d.n) FROM esqase.contact_docs(firm, esqase.page_ids(keys, page.lim)) d),
        esqase.record_total(firm, 'contacts'));
END
$$;

CREATE FUNCTION esqase.contacts_create(body jsonb) RETURNS json
LANGUAGE plpgsql AS $$
DECLARE
    firm uuid := esqase.api_access('contacts', 'write');
    c esqase.contacts;
BEGIN
    PERFORM esqase.check_body(body, esqase.contact_fields());
    c.type := esqase.body_enum(body, 'type', '{PERSON,COMPANY}', true);
    c := esqase.contact_insert(firm, esqase.contact_apply(c, body));
    RETURN esqase.contact_one(firm, c.id);
END
$$;

CREATE FUNCTION esqase.contacts_get(id uuid) RETURNS json
LANGUAGE plpgsql STABLE AS $$
DECLARE
    firm uuid := esqase.api_access('contacts', 'read');
BEGIN
    RETURN esqase.contact_one(firm, (esqase.contact_find(firm, id)).id);
END
$$;

CREATE FUNCTION esqase.contacts_update(id uuid, body jsonb) RETURNS json
LANGUAGE plpgsql AS $$
DECLARE
    firm uuid := esqase.api_access('contacts', 'write');
    c esqase.contacts;
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
                             c.company_name, c.trade_name, c.company_type, c.emails, c.phones);
    RETURN esqase.contact_one(firm, c.id);
END
$$;

CREATE FUNCTION esqase.contacts_delete(id uuid) RETURNS json
LANGUAGE plpgsql AS $$
DECLARE
    firm uuid := esqase.api_access('contacts', 'write');
    deleted uuid;
BEGIN
    UPDATE esqase.contacts t SET status = 'ARCHIVED', deleted_at = now()
     WHERE t.firm_id = firm AND t.id = contacts_delete.id AND t.deleted_at IS NULL
    RETURNING t.id INTO deleted;
    IF NOT FOUND THEN
        PERFORM esqase.not_found('contact', id);
    END IF;
    RETURN esqase.contact_one(firm, deleted);
END
$$;

-- Practice areas as the API renders them (with their stages and live
-- matter types), for ids (n: the position in ids); see contact_docs.
CREATE FUNCTION esqase.practice_area_docs(firm uuid, ids uuid[]) RETURNS TABLE (n bigint, doc json)
LANGUAGE sql STABLE AS $$
    SELECT u.n, json_build_object(
        'id', p.id, 'name', p.name, 'status', p.status,
        'stages', coalesce(st.items, '[]'), 'matterTypes', coalesce(mt.items, '[]'),
        'createdAt', esqase.ts(p.created_at), 'updatedAt', esqase.ts(p.updated_at))
      FROM unnest(ids) WITH ORDINALITY AS u(id, n)
      JOIN esqase.practice_areas p ON p.firm_id = firm AND p.id = u.id
      CROSS JOIN LATERAL (
          SELECT json_agg(json_build_object('id', s.id, 'name', s.name, 'type', s.type, 'order', s."order")
                          ORDER BY s."order") AS items
            FROM esqase.practice_area_stages s
           WHERE s.firm_id = p.firm_id AND s.practice_area_id = p.id) st
      CROSS JOIN LATERAL (
          SELECT json_agg(json_build_object('id', t.id, 'name', t.name) ORDER BY t.created_at, t.id) AS items
            FROM esqase.matter_types t
           WHERE t.firm_id = p.firm_id AND t.practice_area_id = p.id AND t.deleted_at IS NULL) mt
$$;

CREATE FUNCTION esqase.practice_area_one(firm uuid, area_id uuid) RETURNS json
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN esqase.one((SELECT d.doc FROM esqase.practice_area_docs(firm, ARRAY[area_id]) d));
END
$$;

-- An active practice area of the firm.  field names the body field that
-- referenced it: then a miss is a 422 on that field, not a 404.
CREATE OR REPLACE FUNCTION esqase.practice_area_find(firm uuid, area_id uuid, field text DEFAULT NULL,
                                          for_update boolean DEFAULT false)
RETURNS esqase.practice_areas LANGUAGE plpgsql AS $$
DECLARE
    p esqase.practice_areas;
BEGIN
    IF for_update THEN
        SELECT * INTO p FROM esqase.practice_areas
         WHERE firm_id = firm AND id = area_id AND deleted_at IS NULL FOR UPDATE;
    ELSE
        SELECT * INTO p FROM esqase.practice_areas
         WHERE firm_id = firm AND id = area_id AND deleted_at IS NULL;
    END IF;
    IF NOT FOUND THEN
        IF field IS NULL THEN
            PERFORM esqase.not_found('practice area', area_id);
        END IF;
        PERFORM esqase.fail('23514', format('%s: practice area %s not found', field, area_id), field);
    END IF;
    RETURN p;
END
$$;

CREATE FUNCTION esqase.practice_areas_list(params jsonb) RETURNS json
LANGUAGE plpgsql STABLE SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    firm uuid := esqase.api_access('practice-areas', 'read');
    page esqase.page_request := esqase.page(params, 'practice_areas', '{}');
    keys esqase.page_key[];
BEGIN
    keys := ARRAY(SELECT ROW(k.created_at, k.id)::esqase.page_key
                   FROM (SELECT p.created_at, p.id FROM esqase.practice_areas p
                     WHERE p.firm_id = firm AND p.deleted_at IS NULL
                       AND (p.created_at, p.id) > ((page.after).at, (page.after).id)
                     ORDER BY p.created_at, p.id LIMIT page.lim + 1 OFFSET page.off) k);
    RETURN esqase.list_json('practice_areas', page, keys,
        (SELECT json_agg(d.doc ORDER BY d.n)
           FROM esqase.practice_area_docs(firm, esqase.page_ids(keys, page.lim)) d),
        esqase.record_total(firm, 'practice_areas'));
END
$$;

CREATE FUNCTION esqase.practice_areas_create(body jsonb) RETURNS json
LANGUAGE plpgsql AS $$
DECLARE
    firm uuid := esqase.api_access('practice-areas', 'write');
    created uuid;
BEGIN
    PERFORM esqase.check_body(body, '{name}');
    INSERT INTO esqase.practice_areas (firm_id, name)
    VALUES (firm, btrim(esqase.body_text(body, 'name', true, 200)))
    RETURNING id INTO created;
    RETURN esqase.practice_area_one(firm, created);
END
$$;

CREATE FUNCTION esqase.practice_areas_get(id uuid) RETURNS json
LANGUAGE plpgsql STABLE AS $$
DECLARE
    firm uuid := esqase.api_access('practice-areas', 'read');
BEGIN
    RETURN esqase.practice_area_one(firm, (esqase.practice_area_find(firm, id)).id);
END
$$;

CREATE FUNCTION esqase.practice_areas_update(id uuid, body jsonb) RETURNS json
LANGUAGE plpgsql AS $$
DECLARE
    firm uuid := esqase.api_access('practice-areas', 'write');
    p esqase.practice_areas;
    new_name text;
BEGIN
    PERFORM esqase.check_body(body, '{name}', '{stages,matterTypes,status}');
    p := esqase.practice_area_find(firm, id, NULL, true);
    IF body ? 'name' THEN
        new_name := btrim(esqase.body_text(body, 'name', true, 200));
        -- a rename to the same name writes nothing (updatedAt, audit log)
        UPDATE esqase.practice_areas t SET name = new_name
         WHERE t.firm_id = firm AND t.id = p.id AND t.name IS DISTINCT FROM new_name;
    END IF;
    RETURN esqase.practice_area_one(firm, p.id);
END
$$;

CREATE FUNCTION esqase.practice_areas_delete(id uuid) RETURNS json
LANGUAGE plpgsql AS $$
DECLARE
    firm uuid := esqase.api_access('practice-areas', 'write');
    deleted uuid;
BEGIN
    UPDATE esqase.practice_areas t SET status = 'ARCHIVED', deleted_at = now()
     WHERE t.firm_id = firm AND t.id = practice_areas_delete.id AND t.deleted_at IS NULL
    RETURNING t.id INTO deleted;
    IF NOT FOUND THEN
        PERFORM esqase.not_found('practice area', id);
    END IF;
    RETURN esqase.practice_area_one(firm, deleted);
END
$$;

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
CREATE OR REPLACE FUNCTION esqase.matter_type_find(firm uuid, type_id uuid, field text DEFAULT NULL,
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

-- A practice area's matter types are few: their total is counted (by the
-- index matter_types_list_idx), not kept in record_counts.
CREATE FUNCTION esqase.matter_types_list(params jsonb) RETURNS json
LANGUAGE plpgsql STABLE SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    firm uuid := esqase.api_access('matter-types', 'read');
    page esqase.page_request := esqase.page(params, 'matter_types', '{practiceAreaId}');
    area uuid := esqase.param_uuid(params, 'practiceAreaId', true);
    keys esqase.page_key[];
BEGIN
    IF NOT EXISTS (SELECT FROM esqase.practice_areas
                    WHERE firm_id = firm AND id = area AND deleted_at IS NULL) THEN
        PERFORM esqase.fail('P0002', format('practice area %s not found', area), 'practiceAreaId');
    END IF;
    keys := ARRAY(SELECT ROW(k.created_at, k.id)::esqase.page_key
                   FROM (SELECT mt.created_at, mt.id FROM esqase.matter_types mt
                     WHERE mt.firm_id = firm AND mt.practice_area_id = area AND mt.deleted_at IS NULL
                       AND (mt.created_at, mt.id) > ((page.after).at, (page.after).id)
                     ORDER BY mt.created_at, mt.id LIMIT page.lim + 1 OFFSET page.off) k);
    RETURN esqase.list_json('matter_types', page, keys,
        (SELECT json_agg(d.doc ORDER BY d.n)
           FROM esqase.matter_type_docs(firm, esqase.page_ids(keys, page.lim)) d),
        (SELECT count(*) FROM esqase.matter_types
          WHERE firm_id = firm AND practice_area_id = area AND deleted_at IS NULL));
END
$$;

CREATE FUNCTION esqase.matter_types_create(body jsonb) RETURNS json
LANGUAGE plpgsql AS $$
DECLARE
    firm uuid := esqase.api_access('matter-types', 'write');
    area uuid;
    created uuid;
BEGIN
    PERFORM esqase.check_body(body, '{practiceAreaId,name}');
    area := (esqase.practice_area_find(firm, esqase.body_uuid(body, 'practiceAreaId', true),
                                       'practiceAreaId')).id;
    INSERT INTO esqase.matter_types (firm_id, practice_area_id, name)
    VALUES (firm, area, btrim(esqase.body_text(body, 'name', true, 200)))
    RETURNING id INTO created;
    RETURN esqase.matter_type_one(firm, created);
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

-- Checks that every id in ids is an active member of the firm, or is in
-- keep (already on the record: a member deleted since may stay, but not be
-- added).  A miss is a 422 on field.
CREATE OR REPLACE FUNCTION esqase.check_members(firm uuid, ids uuid[], field text, keep uuid[] DEFAULT '{}')
RETURNS void LANGUAGE plpgsql STABLE AS $$
DECLARE
    missing uuid := (SELECT u.i FROM unnest(ids) WITH ORDINALITY AS u(i, n)
                      WHERE NOT u.i = ANY (coalesce(keep, '{}'))
                        AND NOT EXISTS (SELECT FROM esqase.members r
                                         WHERE r.firm_id = firm AND r.id = u.i AND r.deleted_at IS NULL)
                      ORDER BY u.n LIMIT 1);
BEGIN
    IF missing IS NOT NULL THEN
        PERFORM esqase.fail('23514', format('%s: member %s not found in this firm', field, missing), field);
    END IF;
END
$$;

-- Matters as the API renders them (references by id and name, clients
-- and team in order), for ids (n: the position in ids); see contact_docs.
CREATE FUNCTION esqase.matter_docs(firm uuid, ids uuid[]) RETURNS TABLE (n bigint, doc json)
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
      JOIN esqase.matters m ON m.firm_id = firm AND m.id = u.id
      LEFT JOIN esqase.practice_areas p ON p.firm_id = m.firm_id AND p.id = m.practice_area_id
      LEFT JOIN esqase.practice_area_stages s ON s.firm_id = m.firm_id AND s.id = m.stage_id
      LEFT JOIN esqase.matter_types mt ON mt.firm_id = m.firm_id AND mt.id = m.matter_type_id
      CROSS JOIN LATERAL (
          SELECT json_agg(esqase.ref(c.id, c.name) ORDER BY mc.position) AS items
            FROM esqase.matter_clients mc
            JOIN esqase.contacts c ON c.firm_id = mc.firm_id AND c.id = mc.contact_id
           WHERE mc.firm_id = m.firm_id AND mc.matter_id = m.id) cl
      CROSS JOIN LATERAL (
          SELECT json_agg(json_build_object('member', esqase.ref(mb.id, mb.name), 'role', t.role,
                                            'allocation', trim_scale(t.allocation))
                          ORDER BY t.position) AS items
            FROM esqase.matter_team t
            JOIN esqase.members mb ON mb.firm_id = t.firm_id AND mb.id = t.member_id
           WHERE t.firm_id = m.firm_id AND t.matter_id = m.id) tm
$$;

CREATE FUNCTION esqase.matter_one(firm uuid, matter_id uuid) RETURNS json
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN esqase.one((SELECT d.doc FROM esqase.matter_docs(firm, ARRAY[matter_id]) d));
END
$$;

-- A live (not soft-deleted) matter of the firm, else 404; with for_update,
-- locked for the change.
CREATE OR REPLACE FUNCTION esqase.matter_find(firm uuid, matter_id uuid, for_update boolean DEFAULT false)
RETURNS esqase.matters LANGUAGE plpgsql AS $$
DECLARE
    m esqase.matters;
BEGIN
    IF for_update THEN
        SELECT * INTO m FROM esqase.matters
         WHERE firm_id = firm AND id = matter_id AND deleted_at IS NULL FOR UPDATE;
    ELSE
        SELECT * INTO m FROM esqase.matters
         WHERE firm_id = firm AND id = matter_id AND deleted_at IS NULL;
    END IF;
    IF NOT FOUND THEN
        PERFORM esqase.not_found('matter', matter_id);
    END IF;
    RETURN m;
END
$$;

-- The client list in body.clientContactIds, checked: contacts of the firm,
-- none twice; each active, or in keep (already a client: a contact deleted
-- since may stay, but cannot be added).
CREATE OR REPLACE FUNCTION esqase.matter_clients_from(firm uuid, body jsonb, keep uuid[] DEFAULT '{}')
RETURNS uuid[] LANGUAGE plpgsql STABLE AS $$
DECLARE
    ids uuid[] := esqase.body_list(body, 'clientContactIds', 'uuid')::uuid[];
    missing uuid := (SELECT u.i FROM unnest(ids) WITH ORDINALITY AS u(i, n)
                      WHERE NOT u.i = ANY (coalesce(keep, '{}'))
                        AND NOT EXISTS (SELECT FROM esqase.contacts r
                                         WHERE r.firm_id = firm AND r.id = u.i AND r.deleted_at IS NULL)
                      ORDER BY u.n LIMIT 1);
BEGIN
    IF missing IS NOT NULL THEN
        PERFORM esqase.fail('23514', format('clientContactIds: contact %s not found in this firm', missing),
                            'clientContactIds');
    END IF;
    RETURN ids;
END
$$;

CREATE FUNCTION esqase.matters_list(params jsonb) RETURNS json
LANGUAGE plpgsql STABLE SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    firm uuid := esqase.api_access('matters', 'read');
    page esqase.page_request := esqase.page(params, 'matters', '{}');
    keys esqase.page_key[];
BEGIN
    keys := ARRAY(SELECT ROW(k.created_at, k.id)::esqase.page_key
                   FROM (SELECT m.created_at, m.id FROM esqase.matters m
                     WHERE m.firm_id = firm AND m.deleted_at IS NULL
                       AND (m.created_at, m.id) > ((page.after).at, (page.after).id)
                     ORDER BY m.created_at, m.id LIMIT page.lim + 1 OFFSET page.off) k);
    RETURN esqase.list_json('matters', page, keys,
        (SELECT json_agg(d.doc ORDER BY d.n) FROM esqase.matter_docs(firm, esqase.page_ids(keys, page.lim)) d),
        esqase.record_total(firm, 'matters'));
END
$$;

CREATE FUNCTION esqase.matters_create(body jsonb) RETURNS json
LANGUAGE plpgsql AS $$
DECLARE
    firm uuid := esqase.api_access('matters', 'write');
    m esqase.matters;
    created esqase.matters;
    clients uuid[];
    team jsonb;
BEGIN
    PERFORM esqase.check_body(body, esqase.matter_fields());
    m.firm_id := firm;
    m := esqase.matter_apply(m, body, true);
    clients := esqase.matter_clients_from(firm, body);
    team := esqase.matter_team_from(firm, body);
    -- Numbered last: an invalid body uses up no number.
    LOOP
        INSERT INTO esqase.matters (firm_id, public_id, title, description, status, open_date,
                                    close_date, sol_date, practice_area_id, stage_id, matter_type_id)
        VALUES (firm, esqase.next_public_id(firm, 'M'), m.title, m.description, m.status, m.open_date,
                m.close_date, m.sol_date, m.practice_area_id, m.stage_id, m.matter_type_id)
        ON CONFLICT (firm_id, public_id) DO NOTHING
        RETURNING * INTO created;
        EXIT WHEN FOUND;
    END LOOP;
    m := created;
    PERFORM esqase.matter_set_clients(m, clients);
    PERFORM esqase.matter_set_team(m, team);
    RETURN esqase.matter_one(firm, m.id);
END
$$;

CREATE FUNCTION esqase.matters_get(id uuid) RETURNS json
LANGUAGE plpgsql STABLE AS $$
DECLARE
    firm uuid := esqase.api_access('matters', 'read');
BEGIN
    RETURN esqase.matter_one(firm, (esqase.matter_find(firm, id)).id);
END
$$;

CREATE FUNCTION esqase.matters_update(id uuid, body jsonb) RETURNS json
LANGUAGE plpgsql AS $$
DECLARE
    firm uuid := esqase.api_access('matters', 'write');
    m esqase.matters;
    clients uuid[];
    team jsonb;
    lists_changed boolean;
BEGIN
    PERFORM esqase.check_body(body, esqase.matter_fields(), esqase.matter_readonly_fields());
    m := esqase.matter_apply(esqase.matter_find(firm, id, true), body, false);
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

-- Soft delete: the matter is archived (status ARCHIVE, deleted_at set) and
-- leaves the API; its client and team rows stay with it.
CREATE FUNCTION esqase.matters_delete(id uuid) RETURNS json
LANGUAGE plpgsql AS $$
DECLARE
    firm uuid := esqase.api_access('matters', 'write');
    deleted uuid;
BEGIN
    UPDATE esqase.matters t SET status = 'ARCHIVE', deleted_at = now()
     WHERE t.firm_id = firm AND t.id = matters_delete.id AND t.deleted_at IS NULL
    RETURNING t.id INTO deleted;
    IF NOT FOUND THEN
        PERFORM esqase.not_found('matter', id);
    END IF;
    RETURN esqase.matter_one(firm, deleted);
END
$$;

-- The leads the API context's member is assigned to.
CREATE FUNCTION esqase.assigned_leads() RETURNS SETOF uuid
LANGUAGE sql STABLE AS $$
    SELECT a.lead_id FROM esqase.lead_assignees a
     WHERE a.firm_id = esqase.context_firm() AND a.member_id = esqase.context_member()
$$;

-- Whether the API context may see a lead.  Without a context nothing is
-- visible (the policies also require the context's firm).
CREATE OR REPLACE FUNCTION esqase.lead_visible(lead_firm uuid, lead uuid, private boolean) RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN NOT private
        OR coalesce(esqase.context_is_owner(), false)
        OR EXISTS (SELECT FROM esqase.lead_assignees a
                    WHERE a.firm_id = lead_firm AND a.member_id = esqase.context_member()
                      AND a.lead_id = lead);
END
$$;

-- Leads as the API renders them, for ids (n: the position in ids); see
-- contact_docs.
CREATE FUNCTION esqase.lead_docs(firm uuid, ids uuid[]) RETURNS TABLE (n bigint, doc json)
LANGUAGE sql STABLE AS $$
    SELECT u.n, json_build_object(
        'id', l.id, 'publicId', l.public_id, 'status', l.status, 'value', l.value,
        'isPrivate', l.is_private, 'leadStageColumnId', l.stage_id,
        'contact', esqase.ref(c.id, c.name),
        'practiceArea', esqase.ref(p.id, p.name),
        'assignees', coalesce(a.items, '[]'),
        'createdAt', esqase.ts(l.created_at), 'updatedAt', esqase.ts(l.updated_at))
      FROM unnest(ids) WITH ORDINALITY AS u(id, n)
      JOIN esqase.leads l ON l.firm_id = firm AND l.id = u.id
      LEFT JOIN esqase.contacts c ON c.firm_id = l.firm_id AND c.id = l.contact_id
      LEFT JOIN esqase.practice_areas p ON p.firm_id = l.firm_id AND p.id = l.practice_area_id
      CROSS JOIN LATERAL (
          SELECT json_agg(esqase.ref(m.id, m.name) ORDER BY la.position) AS items
            FROM esqase.lead_assignees la
            JOIN esqase.members m ON m.firm_id = la.firm_id AND m.id = la.member_id
           WHERE la.firm_id = l.firm_id AND la.lead_id = l.id) a
$$;

CREATE FUNCTION esqase.lead_one(firm uuid, lead_id uuid) RETURNS json
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN esqase.one((SELECT d.doc FROM esqase.lead_docs(firm, ARRAY[lead_id]) d));
END
$$;

-- A live lead of the firm that the context may see, else 404; with
-- for_update, locked for the change.
CREATE OR REPLACE FUNCTION esqase.lead_find(firm uuid, lead_id uuid, for_update boolean DEFAULT false)
RETURNS esqase.leads LANGUAGE plpgsql AS $$
DECLARE
    l esqase.leads;
BEGIN
    IF for_update THEN
        SELECT * INTO l FROM esqase.leads
         WHERE firm_id = firm AND id = lead_id AND deleted_at IS NULL FOR UPDATE;
    ELSE
        SELECT * INTO l FROM esqase.leads
         WHERE firm_id = firm AND id = lead_id AND deleted_at IS NULL;
    END IF;
    IF NOT FOUND OR NOT esqase.lead_visible(l.firm_id, l.id, l.is_private) THEN
        PERFORM esqase.not_found('lead', lead_id);
    END IF;
    RETURN l;
END
$$;

-- The total of the leads the context sees: the public ones, and the
-- private ones it may see (all of them for an owner; for a member, those
-- assigned to it, counted by the index on lead_assignees).
CREATE FUNCTION esqase.leads_total(firm uuid) RETURNS bigint
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

CREATE FUNCTION esqase.leads_list(params jsonb) RETURNS json
LANGUAGE plpgsql STABLE SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    firm uuid := esqase.api_access('leads', 'read');
    page esqase.page_request := esqase.page(params, 'leads', '{}');
    keys esqase.page_key[];
BEGIN
    keys := ARRAY(SELECT ROW(k.created_at, k.id)::esqase.page_key
                   FROM (SELECT l.created_at, l.id FROM esqase.leads l
                     WHERE l.firm_id = firm AND l.deleted_at IS NULL
                       AND (NOT l.is_private OR esqase.context_is_owner()
                            OR l.id IN (SELECT esqase.assigned_leads()))
                       AND (l.created_at, l.id) > ((page.after).at, (page.after).id)
                     ORDER BY l.created_at, l.id LIMIT page.lim + 1 OFFSET page.off) k);
    RETURN esqase.list_json('leads', page, keys,
        (SELECT json_agg(d.doc ORDER BY d.n) FROM esqase.lead_docs(firm, esqase.page_ids(keys, page.lim)) d),
        esqase.leads_total(firm));
END
$$;

-- Everything is checked before anything is written: an invalid lead leaves
-- no contact behind and uses up no public id.
CREATE FUNCTION esqase.leads_create(body jsonb) RETURNS json
LANGUAGE plpgsql AS $$
DECLARE
    firm uuid := esqase.api_access('leads', 'write');
    c esqase.contacts;
    l esqase.leads;
    email text;
    phone text;
    assignees uuid[];
    conflict text;
BEGIN
    PERFORM esqase.check_body(body, esqase.lead_contact_fields() || esqase.lead_fields());
    -- The contact: as a contact, with email and phone as its only ones.
    c.type := esqase.body_enum(body, 'type', '{PERSON,COMPANY}', true);
    c := esqase.contact_apply(c, body);
    email := esqase.body_text(body, 'email', false, 254);
    IF email IS NOT NULL THEN
        PERFORM esqase.check_email(email, 'email');
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
    -- The key's member is the default assignee.
    assignees := esqase.lead_assignees_from(l, body, '{}', ARRAY[esqase.context_member()]);

    c := esqase.contact_insert(firm, c);
    -- No RETURNING, and no ON CONFLICT to skip a number taken by hand (as
    -- matters do): both check the new row against the SELECT policy, which a
    -- private lead fails until its assignees exist.  A unique violation on
    -- the public id is caught instead; the counter advances outside the block.
    l.id := gen_random_uuid();
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
            IF conflict IS DISTINCT FROM 'leads_firm_id_public_id_key' THEN
                RAISE;
            END IF;
        END;
    END LOOP;
    PERFORM esqase.lead_add_assignees(l, assignees);
    RETURN esqase.lead_one(firm, l.id);
END
$$;

CREATE FUNCTION esqase.leads_get(id uuid) RETURNS json
LANGUAGE plpgsql STABLE AS $$
DECLARE
    firm uuid := esqase.api_access('leads', 'read');
BEGIN
    RETURN esqase.lead_one(firm, (esqase.lead_find(firm, id)).id);
END
$$;

CREATE FUNCTION esqase.leads_update(id uuid, body jsonb) RETURNS json
LANGUAGE plpgsql AS $$
DECLARE
    firm uuid := esqase.api_access('leads', 'write');
    l esqase.leads;
    current uuid[];
    assignees uuid[];
    changed boolean;
BEGIN
    PERFORM esqase.check_body(body, esqase.lead_fields(), esqase.lead_readonly_fields());
    l := esqase.lead_apply(esqase.lead_find(firm, id, true), body, false);
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

-- Soft delete: the lead leaves the API; its contact stays a contact.
CREATE FUNCTION esqase.leads_delete(id uuid) RETURNS json
LANGUAGE plpgsql AS $$
DECLARE
    firm uuid := esqase.api_access('leads', 'write');
    deleted uuid;
BEGIN
    UPDATE esqase.leads t SET deleted_at = now()
     WHERE t.firm_id = firm AND t.id = leads_delete.id AND t.deleted_at IS NULL
       AND esqase.lead_visible(t.firm_id, t.id, t.is_private)
    RETURNING t.id INTO deleted;
    IF NOT FOUND THEN
        PERFORM esqase.not_found('lead', id);
    END IF;
    RETURN esqase.lead_one(firm, deleted);
END
$$;

-- The count triggers (<table>_count_insert, _update, _delete, _truncate):
-- one per event, since a trigger with transition tables serves one event.
DO $$
DECLARE
    t text;
    e text[];
BEGIN
    FOREACH t IN ARRAY ARRAY['contacts', 'matters', 'practice_areas', 'leads'] LOOP
        FOREACH e SLICE 1 IN ARRAY ARRAY[
                ['insert', 'INSERT', 'REFERENCING NEW TABLE AS new_rows'],
                ['update', 'UPDATE', 'REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows'],
                ['delete', 'DELETE', 'REFERENCING OLD TABLE AS old_rows'],
                ['truncate', 'TRUNCATE', '']] LOOP
            EXECUTE format('CREATE TRIGGER %I AFTER %s ON esqase.%I %s FOR EACH STATEMENT EXECUTE FUNCTION esqase.%I()',
                           t || '_count_' || e[1], e[2], t, e[3],
                           CASE t WHEN 'leads' THEN 'count_leads' ELSE 'count_records' END);
        END LOOP;
    END LOOP;
END
$$;

-- The totals of the records 0.1.0 wrote (each firm's count in slot 0).
INSERT INTO esqase.record_counts (firm_id, list, slot, n)
SELECT firm_id, 'contacts', 0, count(*) FROM esqase.contacts WHERE deleted_at IS NULL GROUP BY firm_id
UNION ALL
SELECT firm_id, 'matters', 0, count(*) FROM esqase.matters WHERE deleted_at IS NULL GROUP BY firm_id
UNION ALL
SELECT firm_id, 'practice_areas', 0, count(*) FROM esqase.practice_areas WHERE deleted_at IS NULL GROUP BY firm_id
UNION ALL
SELECT firm_id, esqase.lead_list(is_private), 0, count(*) FROM esqase.leads WHERE deleted_at IS NULL
 GROUP BY firm_id, is_private;

-- The public jsonb API becomes one-line wrappers of the json functions.
DO $$
DECLARE
    r text;
    -- action, arguments, call arguments, volatility
    a text[];
BEGIN
    FOREACH r IN ARRAY ARRAY['contacts', 'matters', 'leads', 'practice_areas', 'matter_types'] LOOP
        FOREACH a SLICE 1 IN ARRAY ARRAY[
                ['list', 'params jsonb DEFAULT ''{}''', 'params', 'STABLE'],
                ['create', 'body jsonb', 'body', 'VOLATILE'],
                ['get', 'id uuid', 'id', 'STABLE'],
                ['update', 'id uuid, body jsonb', 'id, body', 'VOLATILE'],
                ['delete', 'id uuid', 'id', 'VOLATILE']] LOOP
            EXECUTE format('CREATE OR REPLACE FUNCTION %I(%s) RETURNS jsonb LANGUAGE sql %s RETURN esqase.%I(%s)::jsonb',
                           'esqase_' || r || '_' || a[1], a[2], a[4], r || '_' || a[1], a[3]);
        END LOOP;
    END LOOP;
END
$$;

-- Private-lead visibility without a per-row function call.
DROP POLICY leads_select ON esqase.leads;
DROP POLICY leads_insert ON esqase.leads;
DROP POLICY leads_update ON esqase.leads;
DROP POLICY leads_delete ON esqase.leads;
DO $$
DECLARE
    visible text := 'firm_id = esqase.context_firm() AND (NOT is_private OR esqase.context_is_owner() '
                    'OR id IN (SELECT esqase.assigned_leads()))';
BEGIN
    EXECUTE format('CREATE POLICY leads_select ON esqase.leads FOR SELECT USING (%s)', visible);
    EXECUTE 'CREATE POLICY leads_insert ON esqase.leads FOR INSERT WITH CHECK (firm_id = esqase.context_firm())';
    EXECUTE format('CREATE POLICY leads_update ON esqase.leads FOR UPDATE USING (%s) '
                   'WITH CHECK (firm_id = esqase.context_firm())', visible);
    EXECUTE format('CREATE POLICY leads_delete ON esqase.leads FOR DELETE USING (%s)', visible);
END
$$;

-- Literals typed as their targets (plpgsql_check, test/sql/85_plpgsql_check.sql).
-- A list of strings (NULL when absent; null means the empty list).
-- item_check: NULL, 'uuid' or 'email'; duplicates are rejected for uuids.
CREATE OR REPLACE FUNCTION esqase.body_list(body jsonb, field text, item_check text DEFAULT NULL,
                                 max_items integer DEFAULT 100)
RETURNS text[] LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    v jsonb := body -> field;
    item jsonb;
    result text[] := '{}'::text[];
    s text;
BEGIN
    IF v IS NULL THEN
        RETURN NULL;
    END IF;
    IF v = 'null' THEN
        RETURN '{}'::text[];
    END IF;
    IF jsonb_typeof(v) <> 'array' THEN
        PERFORM esqase.fail('23514', format('%s must be a list', field), field);
    END IF;
    IF jsonb_array_length(v) > max_items THEN
        PERFORM esqase.fail('23514', format('%s holds more than %s items', field, max_items), field);
    END IF;
    FOR item IN SELECT jsonb_array_elements(v) LOOP
        IF jsonb_typeof(item) <> 'string' OR btrim(item #>> '{}') = '' THEN
            PERFORM esqase.fail('23514', format('%s must hold only non-blank strings', field), field);
        END IF;
        s := item #>> '{}';
        IF item_check = 'uuid' THEN
            IF NOT esqase.is_uuid(s) THEN
                PERFORM esqase.fail('23514', format('%s must hold only UUIDs', field), field);
            END IF;
            s := lower(s);
            IF s = ANY (result) THEN
                PERFORM esqase.fail('23514', format('%s lists %s twice', field, s), field);
            END IF;
        ELSIF item_check = 'email' THEN
            PERFORM esqase.check_email(s, field);
        ELSIF length(s) > 1000 THEN
            PERFORM esqase.fail('23514', format('%s holds a value longer than 1000 characters', field), field);
        END IF;
        result := result || s;
    END LOOP;
    RETURN result;
END
$$;

-- The optional text fields of body that are present, checked, keyed by
-- column name: feed it to jsonb_populate_record(row, patch) to apply a PATCH.
CREATE OR REPLACE FUNCTION esqase.text_patch(body jsonb, fields text[]) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    f text;
    patch jsonb := '{}'::jsonb;
BEGIN
    FOREACH f IN ARRAY fields LOOP
        IF body ? f THEN
            patch := patch || jsonb_build_object(esqase.snake(f), esqase.body_text(body, f));
        END IF;
    END LOOP;
    RETURN patch;
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
            'member_id', member, 'role', nullif(btrim(item ->> 'role'), ''), 'allocation', alloc));
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

-- 95 guards (safe failure modes)
CREATE FUNCTION esqase.guard_drop() RETURNS event_trigger
    AS 'MODULE_PATHNAME', 'esqase_guard_drop' LANGUAGE C;

CREATE EVENT TRIGGER esqase_guard_drop ON ddl_command_start
    WHEN TAG IN ('DROP EXTENSION', 'DROP SCHEMA', 'DROP OWNED')
    EXECUTE FUNCTION esqase.guard_drop();
ALTER EVENT TRIGGER esqase_guard_drop ENABLE ALWAYS;

COMMENT ON EVENT TRIGGER esqase_guard_drop IS
    'Refuses to drop extension esqase while firms exist, unless esqase.allow_drop is on';
