-- esqase install script, assembled by the Makefile from sql/parts/*.sql in name order.
-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION esqase" to load this file. \quit

-------------------------------------------------------------------------------
-- 00 Schema: tables of schema esqase.
--
-- Every table carries firm_id, and every primary key, unique constraint and
-- foreign key includes it.  Two reasons: referential-integrity checks bypass
-- row-level security, so a key that includes firm_id is what keeps one firm
-- from pointing at another firm's rows; and the schema can later be
-- distributed by firm_id (co-located shards) without a migration.
-- test/sql/catalog.sql checks this rule against the catalog.
-------------------------------------------------------------------------------

CREATE SCHEMA esqase;

CREATE TABLE esqase.firms (
    firm_id     uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name        text NOT NULL CHECK (btrim(name) <> ''),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE esqase.members (
    firm_id     uuid NOT NULL REFERENCES esqase.firms (firm_id),
    id          uuid NOT NULL DEFAULT gen_random_uuid(),
    name        text NOT NULL CHECK (btrim(name) <> ''),
    email       text NOT NULL CHECK (email ~ '^[^@\s]+@[^@\s]+\.[^@\s]+$'),
    is_owner    boolean NOT NULL DEFAULT false,
    permissions text[] NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    deleted_at  timestamptz,
    PRIMARY KEY (firm_id, id)
);
CREATE UNIQUE INDEX members_email_key ON esqase.members (firm_id, lower(email));

-- Tokens are "esq_<prefix>_<secret>"; the prefix finds the row (it is not
-- secret), only a SHA-256 of the whole token is stored.
CREATE TABLE esqase.api_keys (
    firm_id      uuid NOT NULL,
    id           uuid NOT NULL DEFAULT gen_random_uuid(),
    member_id    uuid NOT NULL,
    name         text,
    prefix       text NOT NULL,
    secret_hash  bytea NOT NULL,
    scopes       text[] NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz,
    expires_at   timestamptz,
    PRIMARY KEY (firm_id, id),
    FOREIGN KEY (firm_id, member_id) REFERENCES esqase.members (firm_id, id)
);
CREATE INDEX api_keys_prefix_idx ON esqase.api_keys (prefix);

CREATE TABLE esqase.contacts (
    firm_id      uuid NOT NULL REFERENCES esqase.firms (firm_id),
    id           uuid NOT NULL DEFAULT gen_random_uuid(),
    type         text NOT NULL CHECK (type IN ('PERSON', 'COMPANY')),
    status       text NOT NULL DEFAULT 'ACTIVE' CHECK (status IN ('ACTIVE', 'ARCHIVED')),
    prefix       text,
    first_name   text,
    middle_name  text,
    last_name    text,
    suffix       text,
    nickname     text,
    company_name text,
    trade_name   text,
    company_type text,
    emails       text[] NOT NULL DEFAULT '{}',   -- the first is the primary email
    phones       text[] NOT NULL DEFAULT '{}',
    -- kept by trigger: the display name, and the search document
    name         text NOT NULL,
    search       tsvector NOT NULL DEFAULT ''::tsvector,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    deleted_at   timestamptz,
    PRIMARY KEY (firm_id, id),
    CHECK (type <> 'PERSON' OR coalesce(first_name, last_name) IS NOT NULL),
    CHECK (type <> 'COMPANY' OR company_name IS NOT NULL)
);
CREATE INDEX contacts_list_idx ON esqase.contacts (firm_id, created_at, id) WHERE deleted_at IS NULL;
CREATE INDEX contacts_search_idx ON esqase.contacts USING gin (search);

CREATE TABLE esqase.practice_areas (
    firm_id     uuid NOT NULL REFERENCES esqase.firms (firm_id),
    id          uuid NOT NULL DEFAULT gen_random_uuid(),
    name        text NOT NULL CHECK (btrim(name) <> ''),
    status      text NOT NULL DEFAULT 'ACTIVE' CHECK (status IN ('ACTIVE', 'ARCHIVED')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    deleted_at  timestamptz,
    PRIMARY KEY (firm_id, id)
);
CREATE INDEX practice_areas_list_idx ON esqase.practice_areas (firm_id, created_at, id) WHERE deleted_at IS NULL;

CREATE TABLE esqase.practice_area_stages (
    firm_id          uuid NOT NULL,
    id               uuid NOT NULL DEFAULT gen_random_uuid(),
    practice_area_id uuid NOT NULL,
    name             text NOT NULL CHECK (btrim(name) <> ''),
    type             text NOT NULL CHECK (type IN ('TODO', 'IN_PROGRESS', 'DONE')),
    "order"          integer NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (firm_id, id),
    -- lets matters require that their stage belongs to their practice area
    UNIQUE (firm_id, practice_area_id, id),
    UNIQUE (firm_id, practice_area_id, "order"),
    FOREIGN KEY (firm_id, practice_area_id) REFERENCES esqase.practice_areas (firm_id, id)
);

CREATE TABLE esqase.matter_types (
    firm_id          uuid NOT NULL,
    id               uuid NOT NULL DEFAULT gen_random_uuid(),
    practice_area_id uuid NOT NULL,
    name             text NOT NULL CHECK (btrim(name) <> ''),
    status           text NOT NULL DEFAULT 'ACTIVE' CHECK (status IN ('ACTIVE', 'ARCHIVED')),
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    deleted_at       timestamptz,
    PRIMARY KEY (firm_id, id),
    UNIQUE (firm_id, practice_area_id, id),
    FOREIGN KEY (firm_id, practice_area_id) REFERENCES esqase.practice_areas (firm_id, id)
);
CREATE INDEX matter_types_list_idx ON esqase.matter_types (firm_id, practice_area_id, created_at, id) WHERE deleted_at IS NULL;

-- Per-firm sequential public ids (M-0001, L-0001).  One row per firm and
-- kind; creators take its row lock, so two transactions never share a number.
CREATE TABLE esqase.public_id_counters (
    firm_id    uuid NOT NULL REFERENCES esqase.firms (firm_id),
    kind       text NOT NULL CHECK (kind IN ('M', 'L')),
    last_value integer NOT NULL DEFAULT 0,
    PRIMARY KEY (firm_id, kind)
);

CREATE TABLE esqase.matters (
    firm_id          uuid NOT NULL REFERENCES esqase.firms (firm_id),
    id               uuid NOT NULL DEFAULT gen_random_uuid(),
    public_id        text NOT NULL,
    title            text NOT NULL DEFAULT 'Untitled matter',
    description      text,
    status           text NOT NULL DEFAULT 'ACTIVE' CHECK (status IN ('ACTIVE', 'DRAFT', 'ARCHIVE')),
    open_date        date NOT NULL,
    close_date       date,
    sol_date         date,
    practice_area_id uuid NOT NULL,
    stage_id         uuid NOT NULL,
    matter_type_id   uuid,
    search           tsvector NOT NULL DEFAULT ''::tsvector,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    deleted_at       timestamptz,
    PRIMARY KEY (firm_id, id),
    UNIQUE (firm_id, public_id),
    CHECK (close_date IS NULL OR close_date >= open_date),
    FOREIGN KEY (firm_id, practice_area_id) REFERENCES esqase.practice_areas (firm_id, id),
    FOREIGN KEY (firm_id, practice_area_id, stage_id)
        REFERENCES esqase.practice_area_stages (firm_id, practice_area_id, id),
    FOREIGN KEY (firm_id, practice_area_id, matter_type_id)
        REFERENCES esqase.matter_types (firm_id, practice_area_id, id)
);
CREATE INDEX matters_list_idx ON esqase.matters (firm_id, created_at, id) WHERE deleted_at IS NULL;
CREATE INDEX matters_search_idx ON esqase.matters USING gin (search);

CREATE TABLE esqase.matter_clients (
    firm_id    uuid NOT NULL,
    id         uuid NOT NULL DEFAULT gen_random_uuid(),
    matter_id  uuid NOT NULL,
    contact_id uuid NOT NULL,
    position   integer NOT NULL,            -- 0 is the primary client
    is_primary boolean NOT NULL GENERATED ALWAYS AS (position = 0) STORED,
    is_bill_recipient boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (firm_id, id),
    UNIQUE (firm_id, matter_id, contact_id),
    UNIQUE (firm_id, matter_id, position),
    FOREIGN KEY (firm_id, matter_id) REFERENCES esqase.matters (firm_id, id),
    FOREIGN KEY (firm_id, contact_id) REFERENCES esqase.contacts (firm_id, id)
);
CREATE INDEX matter_clients_contact_idx ON esqase.matter_clients (firm_id, contact_id);

CREATE TABLE esqase.matter_team (
    firm_id    uuid NOT NULL,
    id         uuid NOT NULL DEFAULT gen_random_uuid(),
    matter_id  uuid NOT NULL,
    member_id  uuid NOT NULL,
    position   integer NOT NULL,
    role       text,
    allocation numeric(5,2) CHECK (allocation BETWEEN 0 AND 100),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (firm_id, id),
    UNIQUE (firm_id, matter_id, member_id),
    FOREIGN KEY (firm_id, matter_id) REFERENCES esqase.matters (firm_id, id),
    FOREIGN KEY (firm_id, member_id) REFERENCES esqase.members (firm_id, id)
);

CREATE TABLE esqase.lead_stages (
    firm_id    uuid NOT NULL REFERENCES esqase.firms (firm_id),
    id         uuid NOT NULL DEFAULT gen_random_uuid(),
    name       text NOT NULL CHECK (btrim(name) <> ''),
    "order"    integer NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (firm_id, id),
    UNIQUE (firm_id, "order")
);

CREATE TABLE esqase.leads (
    firm_id          uuid NOT NULL REFERENCES esqase.firms (firm_id),
    id               uuid NOT NULL DEFAULT gen_random_uuid(),
    public_id        text NOT NULL,
    status           text NOT NULL DEFAULT 'PENDING' CHECK (status IN ('PENDING', 'WON', 'LOST')),
    value            text CHECK (value IN ('LOWEST', 'LOW', 'MEDIUM', 'HIGH', 'HIGHEST')),
    is_private       boolean NOT NULL DEFAULT false,
    contact_id       uuid NOT NULL,
    practice_area_id uuid,
    stage_id         uuid NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    deleted_at       timestamptz,
    PRIMARY KEY (firm_id, id),
    UNIQUE (firm_id, public_id),
    FOREIGN KEY (firm_id, contact_id) REFERENCES esqase.contacts (firm_id, id),
    FOREIGN KEY (firm_id, practice_area_id) REFERENCES esqase.practice_areas (firm_id, id),
    FOREIGN KEY (firm_id, stage_id) REFERENCES esqase.lead_stages (firm_id, id)
);
CREATE INDEX leads_list_idx ON esqase.leads (firm_id, created_at, id) WHERE deleted_at IS NULL;

CREATE TABLE esqase.lead_assignees (
    firm_id    uuid NOT NULL,
    id         uuid NOT NULL DEFAULT gen_random_uuid(),
    lead_id    uuid NOT NULL,
    member_id  uuid NOT NULL,
    position   integer NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (firm_id, id),
    UNIQUE (firm_id, lead_id, member_id),
    FOREIGN KEY (firm_id, lead_id) REFERENCES esqase.leads (firm_id, id),
    FOREIGN KEY (firm_id, member_id) REFERENCES esqase.members (firm_id, id)
);
CREATE INDEX lead_assignees_member_idx ON esqase.lead_assignees (firm_id, member_id, lead_id);

-- Append-only: triggers in 10_core.sql reject UPDATE, DELETE and TRUNCATE.
CREATE TABLE esqase.audit_log (
    firm_id    uuid NOT NULL,
    id         bigint GENERATED ALWAYS AS IDENTITY,
    at         timestamptz NOT NULL DEFAULT clock_timestamp(),
    member_id  uuid,            -- the key's member, when a key acted
    key_id     uuid,            -- the key, when a key acted
    db_role    text NOT NULL,   -- the database role that made the change
    action     text NOT NULL CHECK (action IN ('INSERT', 'UPDATE', 'DELETE')),
    table_name text NOT NULL,
    record_id  uuid,
    old_values jsonb,
    new_values jsonb,
    PRIMARY KEY (firm_id, id)
);
CREATE INDEX audit_log_record_idx ON esqase.audit_log (firm_id, table_name, record_id);

-------------------------------------------------------------------------------
-- 10 Core: the API context, errors, input checks, paging, rendering helpers.
-- Every resource file (3x_*.sql) is built from these; keep resource-specific
-- logic out of here.
-------------------------------------------------------------------------------

-- The API context lives in backend memory (src/context.c), not in a GUC, so
-- that SQL users cannot forge it with set_config().  It lasts until the end
-- of the transaction that called esqase_authenticate().
CREATE FUNCTION esqase_authenticate(token text) RETURNS void
    AS 'MODULE_PATHNAME', 'esqase_authenticate' LANGUAGE C VOLATILE;
CREATE FUNCTION esqase.context_firm() RETURNS uuid
    AS 'MODULE_PATHNAME', 'esqase_context_firm' LANGUAGE C STABLE PARALLEL RESTRICTED;
CREATE FUNCTION esqase.context_member() RETURNS uuid
    AS 'MODULE_PATHNAME', 'esqase_context_member' LANGUAGE C STABLE PARALLEL RESTRICTED;
CREATE FUNCTION esqase.context_key() RETURNS uuid
    AS 'MODULE_PATHNAME', 'esqase_context_key' LANGUAGE C STABLE PARALLEL RESTRICTED;
CREATE FUNCTION esqase.context_is_owner() RETURNS boolean
    AS 'MODULE_PATHNAME', 'esqase_context_is_owner' LANGUAGE C STABLE PARALLEL RESTRICTED;
CREATE FUNCTION esqase.context_scopes() RETURNS text[]
    AS 'MODULE_PATHNAME', 'esqase_context_scopes' LANGUAGE C STABLE PARALLEL RESTRICTED;
CREATE FUNCTION esqase.context_permissions() RETURNS text[]
    AS 'MODULE_PATHNAME', 'esqase_context_permissions' LANGUAGE C STABLE PARALLEL RESTRICTED;
CREATE FUNCTION esqase.context_role() RETURNS text
    AS 'MODULE_PATHNAME', 'esqase_context_role' LANGUAGE C STABLE PARALLEL RESTRICTED;

-- Raises an API error.  The JSON name of the field at fault travels in the
-- error's COLUMN field, where the HTTP layer and GET STACKED DIAGNOSTICS find it.
CREATE FUNCTION esqase.fail(code text, message text, field text DEFAULT NULL)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF field IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = code, MESSAGE = message;
    END IF;
    RAISE EXCEPTION USING ERRCODE = code, MESSAGE = message, COLUMN = field;
END
$$;

-- Checks a key's scope (and, for practice areas and matter types, the
-- member's "Practice areas" permission); returns the context's firm.
-- resource is spelled as in the URL: contacts, practice-areas, ...
CREATE FUNCTION esqase.api_access(resource text, action text)
RETURNS uuid LANGUAGE plpgsql STABLE AS $$
DECLARE
    firm uuid := esqase.context_firm();
BEGIN
    IF firm IS NULL THEN
        PERFORM esqase.fail('28000', 'no API context: call esqase_authenticate(token) in this transaction first');
    END IF;
    IF NOT (resource || ':' || action) = ANY (esqase.context_scopes()) THEN
        PERFORM esqase.fail('42501', format('the API key lacks the scope %s:%s', resource, action));
    END IF;
    IF resource IN ('practice-areas', 'matter-types')
       AND NOT esqase.context_is_owner()
       AND NOT 'practice_areas' = ANY (esqase.context_permissions()) THEN
        PERFORM esqase.fail('42501', 'the key''s member lacks the Practice areas permission');
    END IF;
    RETURN firm;
END
$$;

CREATE FUNCTION esqase.not_found(what text, id uuid) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF id IS NULL THEN
        -- a malformed request (HTTP 400), not a missing record
        PERFORM esqase.fail('22023', format('a %s id is required', what), 'id');
    END IF;
    PERFORM esqase.fail('P0002', format('%s %s not found', what, id), 'id');
END
$$;

-- Timestamps go out as YYYY-MM-DDTHH:MM:SSZ in UTC, dates as YYYY-MM-DD.
-- The renderers are STABLE like the functions they call (to_char,
-- jsonb_build_object): a SQL function marked more strictly than its body is
-- never inlined, and a function that is not inlined is planned on every call.
CREATE FUNCTION esqase.ts(t timestamptz) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
RETURN to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"');

CREATE FUNCTION esqase.ref(id uuid, name text) RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE
RETURN CASE WHEN id IS NULL THEN 'null'::jsonb
            ELSE jsonb_build_object('id', id, 'name', name) END;

-- Whether s is written as a UUID (the one spelling ids have in the API).
CREATE FUNCTION esqase.is_uuid(s text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN s ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$';

-------------------------------------------------------------------------------
-- Request bodies.  Every check raises 23514 (HTTP 422) naming the field,
-- except a body that is not a JSON object at all (22023, HTTP 400).
-------------------------------------------------------------------------------

-- Rejects a non-object body, fields not in allowed, and fields in immutable.
CREATE FUNCTION esqase.check_body(body jsonb, allowed text[], immutable text[] DEFAULT '{}')
RETURNS void LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    k text;
BEGIN
    IF body IS NULL OR jsonb_typeof(body) <> 'object' THEN
        PERFORM esqase.fail('22023', 'the request body must be a JSON object');
    END IF;
    FOR k IN SELECT jsonb_object_keys(body) LOOP
        IF k = ANY (immutable) THEN
            PERFORM esqase.fail('23514', format('field %s cannot be changed', k), k);
        ELSIF NOT k = ANY (allowed) THEN
            PERFORM esqase.fail('23514', format('unknown field: %s', k), k);
        END IF;
    END LOOP;
END
$$;

-- The value of a field as text, NULL when absent or null.  Strings only;
-- required fields must be present, non-null and not blank.
CREATE FUNCTION esqase.body_text(body jsonb, field text, required boolean DEFAULT false,
                                 max_length integer DEFAULT 1000)
RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    v jsonb := body -> field;
BEGIN
    IF v IS NULL OR v = 'null' THEN
        IF required THEN
            PERFORM esqase.fail('23514', format('%s is required', field), field);
        END IF;
        RETURN NULL;
    END IF;
    IF jsonb_typeof(v) <> 'string' THEN
        PERFORM esqase.fail('23514', format('%s must be a string', field), field);
    END IF;
    IF required AND btrim(v #>> '{}') = '' THEN
        PERFORM esqase.fail('23514', format('%s must not be blank', field), field);
    END IF;
    IF length(v #>> '{}') > max_length THEN
        PERFORM esqase.fail('23514', format('%s is longer than %s characters', field, max_length), field);
    END IF;
    RETURN v #>> '{}';
END
$$;

CREATE FUNCTION esqase.body_uuid(body jsonb, field text, required boolean DEFAULT false)
RETURNS uuid LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    s text := esqase.body_text(body, field, required);
BEGIN
    IF s IS NOT NULL AND NOT esqase.is_uuid(s) THEN
        PERFORM esqase.fail('23514', format('%s must be a UUID', field), field);
    END IF;
    RETURN s::uuid;
END
$$;

-- Dates are YYYY-MM-DD and nothing else: 2026-7-1, 07/01/2026 and
-- 2026-02-30 are all rejected.
CREATE FUNCTION esqase.body_date(body jsonb, field text, required boolean DEFAULT false)
RETURNS date LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    s text := esqase.body_text(body, field, required);
    d date;
BEGIN
    IF s IS NULL THEN
        RETURN NULL;
    END IF;
    IF s ~ '^\d{4}-\d{2}-\d{2}$' THEN
        BEGIN
            d := to_date(s, 'YYYY-MM-DD');
        EXCEPTION WHEN OTHERS THEN
            d := NULL;
        END;
    END IF;
    IF d IS NULL OR to_char(d, 'YYYY-MM-DD') <> s THEN
        PERFORM esqase.fail('23514', format('%s must be a date written YYYY-MM-DD', field), field);
    END IF;
    RETURN d;
END
$$;

CREATE FUNCTION esqase.body_enum(body jsonb, field text, allowed text[], required boolean DEFAULT false)
RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    s text := esqase.body_text(body, field, required);
BEGIN
    IF s IS NOT NULL AND NOT s = ANY (allowed) THEN
        PERFORM esqase.fail('23514', format('%s must be one of %s', field, array_to_string(allowed, ', ')), field);
    END IF;
    RETURN s;
END
$$;

CREATE FUNCTION esqase.body_bool(body jsonb, field text)
RETURNS boolean LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    v jsonb := body -> field;
BEGIN
    IF v IS NULL OR v = 'null' THEN
        RETURN NULL;
    END IF;
    IF jsonb_typeof(v) <> 'boolean' THEN
        PERFORM esqase.fail('23514', format('%s must be true or false', field), field);
    END IF;
    RETURN v::boolean;
END
$$;

-- A list of strings (NULL when absent; null means the empty list).
-- item_check: NULL, 'uuid' or 'email'; duplicates are rejected for uuids.
CREATE FUNCTION esqase.body_list(body jsonb, field text, item_check text DEFAULT NULL,
                                 max_items integer DEFAULT 100)
RETURNS text[] LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    v jsonb := body -> field;
    item jsonb;
    result text[] := '{}';
    s text;
BEGIN
    IF v IS NULL THEN
        RETURN NULL;
    END IF;
    IF v = 'null' THEN
        RETURN '{}';
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

CREATE FUNCTION esqase.check_email(email text, field text)
RETURNS void LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF email !~ '^[^@\s]+@[^@\s]+\.[^@\s]+$' OR length(email) > 254 THEN
        PERFORM esqase.fail('23514', format('%s: "%s" is not an email address', field, email), field);
    END IF;
END
$$;

-------------------------------------------------------------------------------
-- Lists: query parameters and paging.  Malformed parameters are 22023 (400).
-------------------------------------------------------------------------------

-- Checks params (names in allowed, plus limit and offset) and returns the
-- page: limit defaults to 50 and is clamped to 200, offset defaults to 0.
CREATE FUNCTION esqase.page(params jsonb, allowed text[], OUT lim integer, OUT off integer)
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    k text;
    v text;
BEGIN
    lim := 50;
    off := 0;
    IF params IS NULL THEN
        RETURN;
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
                lim := least(v::numeric, 200)::integer;
            ELSE
                IF v::numeric > 2147483647 THEN
                    PERFORM esqase.fail('22023', 'offset must be at most 2147483647', k);
                END IF;
                off := v::integer;
            END IF;
        ELSIF NOT k = ANY (allowed) THEN
            PERFORM esqase.fail('22023', format('unknown query parameter: %s', k), k);
        END IF;
    END LOOP;
END
$$;

-- A query parameter that names a record (e.g. practiceAreaId).
CREATE FUNCTION esqase.param_uuid(params jsonb, name text, required boolean DEFAULT false)
RETURNS uuid LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    s text := params ->> name;
BEGIN
    IF s IS NULL THEN
        IF required THEN
            PERFORM esqase.fail('22023', format('query parameter %s is required', name), name);
        END IF;
        RETURN NULL;
    END IF;
    IF NOT esqase.is_uuid(s) THEN
        PERFORM esqase.fail('22023', format('query parameter %s must be a UUID', name), name);
    END IF;
    RETURN s::uuid;
END
$$;

CREATE FUNCTION esqase.list_result(data jsonb, lim integer, off integer, total bigint)
RETURNS jsonb LANGUAGE sql STABLE PARALLEL SAFE
RETURN jsonb_build_object('data', coalesce(data, '[]'::jsonb),
                          'pagination', jsonb_build_object('limit', lim, 'offset', off, 'total', total));

-- camelCase JSON name -> snake_case column name.
CREATE FUNCTION esqase.snake(name text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN lower(regexp_replace(name, '([A-Z])', '_\1', 'g'));

-- The optional text fields of body that are present, checked, keyed by
-- column name: feed it to jsonb_populate_record(row, patch) to apply a PATCH.
CREATE FUNCTION esqase.text_patch(body jsonb, fields text[]) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    f text;
    patch jsonb := '{}';
BEGIN
    FOREACH f IN ARRAY fields LOOP
        IF body ? f THEN
            patch := patch || jsonb_build_object(esqase.snake(f), esqase.body_text(body, f));
        END IF;
    END LOOP;
    RETURN patch;
END
$$;

-------------------------------------------------------------------------------
-- Records shared by every resource table (firm_id, id, deleted_at).
-------------------------------------------------------------------------------

-- Locks an active record of the firm before an update reads it, so that two
-- concurrent PATCHes apply one after the other instead of the second writing
-- back what it read before the first committed.  A missing record is left to
-- the caller's find, which raises the right error.
CREATE FUNCTION esqase.lock_active(tbl regclass, firm uuid, record_id uuid) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('SELECT FROM %s WHERE firm_id = $1 AND id = $2 AND deleted_at IS NULL FOR UPDATE', tbl)
      USING firm, record_id;
END
$$;

-- The first of ids, in order, that is not an active record of the firm in
-- tbl and not in keep (records already referenced may have been deleted
-- since: they may stay, but not be newly added); NULL when all are fine.
CREATE FUNCTION esqase.first_missing(tbl regclass, firm uuid, ids uuid[], keep uuid[] DEFAULT '{}')
RETURNS uuid LANGUAGE plpgsql STABLE AS $$
DECLARE
    missing uuid;
BEGIN
    EXECUTE format('SELECT u.i FROM unnest($2) WITH ORDINALITY AS u(i, n)
                     WHERE NOT u.i = ANY ($3)
                       AND NOT EXISTS (SELECT FROM %s r
                                        WHERE r.firm_id = $1 AND r.id = u.i AND r.deleted_at IS NULL)
                     ORDER BY u.n LIMIT 1', tbl)
      INTO missing USING firm, ids, coalesce(keep, '{}');
    RETURN missing;
END
$$;

-------------------------------------------------------------------------------
-- 20 Triggers: derived fields, default stages, and the audit log.
-- Attached to the tables in 90_security.sql, which lists every data table.
-------------------------------------------------------------------------------

-- Whether this statement is a restore loading a table's rows: pg_dump and
-- pg_restore load the extension's tables with COPY under row_security = off
-- (a COPY into these tables under row_security = off fails for every role
-- that does not bypass row-level security, the API role included).  Those
-- rows were seeded and audited when first written, and the seeded rows and
-- the audit rows come with the dump: seeding and auditing them again would
-- duplicate them (and the restore fails on their unique keys).
CREATE FUNCTION esqase.restoring() RETURNS boolean
LANGUAGE sql STABLE
RETURN pg_catalog.current_setting('row_security') = 'off'
   AND esqase.context_firm() IS NULL
   AND pg_catalog.current_query() ~* '^\s*COPY\s';

CREATE FUNCTION esqase.touch_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END
$$;

-- Every write to a data table, through the API or by hand, appends one row.
-- SECURITY DEFINER so that no API role needs (or has) INSERT on the log.
-- The acting role: the one that authenticated, else the SET ROLE role, else
-- the session user (a definer function cannot see its caller's current_user).
CREATE FUNCTION esqase.audit() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    new_values jsonb;
    old_values jsonb;
BEGIN
    IF esqase.restoring() THEN
        RETURN NULL;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        new_values := to_jsonb(NEW) - 'secret_hash' - 'search';
    END IF;
    IF TG_OP <> 'INSERT' THEN
        old_values := to_jsonb(OLD) - 'secret_hash' - 'search';
    END IF;
    INSERT INTO esqase.audit_log (firm_id, member_id, key_id, db_role, action,
                                  table_name, record_id, old_values, new_values)
    VALUES (coalesce(new_values ->> 'firm_id', old_values ->> 'firm_id')::uuid,
            esqase.context_member(), esqase.context_key(),
            coalesce(esqase.context_role(),
                     nullif(current_setting('role'), 'none'),
                     session_user),
            TG_OP, TG_TABLE_NAME,
            coalesce(new_values ->> 'id', old_values ->> 'id',
                     new_values ->> 'firm_id', old_values ->> 'firm_id')::uuid,
            old_values, new_values);
    RETURN NULL;
END
$$;

CREATE FUNCTION esqase.audit_log_is_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'esqase.audit_log is append-only: % is not allowed', TG_OP
        USING ERRCODE = '42501';
END
$$;

-- A new practice area starts with To do, In progress and Done.
CREATE FUNCTION esqase.seed_practice_area_stages() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF esqase.restoring() THEN
        RETURN NULL;
    END IF;
    INSERT INTO esqase.practice_area_stages (firm_id, practice_area_id, name, type, "order")
    VALUES (NEW.firm_id, NEW.id, 'To do', 'TODO', 0),
           (NEW.firm_id, NEW.id, 'In progress', 'IN_PROGRESS', 1),
           (NEW.firm_id, NEW.id, 'Done', 'DONE', 2);
    RETURN NULL;
END
$$;

-- A new firm gets its lead pipeline and its public-id counters.
CREATE FUNCTION esqase.seed_firm() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF esqase.restoring() THEN
        RETURN NULL;
    END IF;
    INSERT INTO esqase.lead_stages (firm_id, name, "order")
    VALUES (NEW.firm_id, 'New', 0),
           (NEW.firm_id, 'Contacted', 1),
           (NEW.firm_id, 'Consultation scheduled', 2),
           (NEW.firm_id, 'Proposal sent', 3);
    INSERT INTO esqase.public_id_counters (firm_id, kind)
    VALUES (NEW.firm_id, 'M'), (NEW.firm_id, 'L');
    RETURN NULL;
END
$$;

-- A contact's display name and search document follow its fields.
CREATE FUNCTION esqase.contact_derive() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.name := CASE NEW.type
                    WHEN 'PERSON' THEN concat_ws(' ', NEW.first_name, NEW.middle_name, NEW.last_name)
                    ELSE NEW.company_name
                END;
    NEW.search := to_tsvector('simple'::regconfig,
                              concat_ws(' ', NEW.name, NEW.nickname, NEW.trade_name,
                                        array_to_string(NEW.emails, ' '),
                                        array_to_string(NEW.phones, ' ')));
    RETURN NEW;
END
$$;

CREATE FUNCTION esqase.matter_derive() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.search := to_tsvector('simple'::regconfig,
                              concat_ws(' ', NEW.public_id, NEW.title, NEW.description));
    RETURN NEW;
END
$$;

CREATE TRIGGER practice_areas_seed_stages AFTER INSERT ON esqase.practice_areas
    FOR EACH ROW EXECUTE FUNCTION esqase.seed_practice_area_stages();
CREATE TRIGGER firms_seed AFTER INSERT ON esqase.firms
    FOR EACH ROW EXECUTE FUNCTION esqase.seed_firm();
CREATE TRIGGER contacts_derive BEFORE INSERT OR UPDATE ON esqase.contacts
    FOR EACH ROW EXECUTE FUNCTION esqase.contact_derive();
CREATE TRIGGER matters_derive BEFORE INSERT OR UPDATE ON esqase.matters
    FOR EACH ROW EXECUTE FUNCTION esqase.matter_derive();
CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON esqase.audit_log
    FOR EACH ROW EXECUTE FUNCTION esqase.audit_log_is_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON esqase.audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION esqase.audit_log_is_append_only();
-- ALWAYS: session_replication_role = replica skips ordinary triggers, and
-- must not open the log to UPDATE, DELETE or TRUNCATE.
ALTER TABLE esqase.audit_log ENABLE ALWAYS TRIGGER audit_log_no_update;
ALTER TABLE esqase.audit_log ENABLE ALWAYS TRIGGER audit_log_no_truncate;

-------------------------------------------------------------------------------
-- 25 Administration: firms, members and API keys (for DBAs, in SQL).
-- SECURITY DEFINER with EXECUTE revoked from PUBLIC (see 90_security.sql):
-- a DBA grants them to whoever administers firms.
-------------------------------------------------------------------------------

CREATE FUNCTION esqase_create_firm(name text) RETURNS uuid
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    firm uuid;
BEGIN
    IF name IS NULL OR btrim(name) = '' THEN
        PERFORM esqase.fail('23514', 'name is required', 'name');
    END IF;
    INSERT INTO esqase.firms (name) VALUES (name) RETURNING firm_id INTO firm;
    RETURN firm;
END
$$;

CREATE FUNCTION esqase_create_member(firm_id uuid, name text, email text,
                                     is_owner boolean DEFAULT false,
                                     permissions text[] DEFAULT '{}')
RETURNS uuid
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    member uuid;
    p text;
BEGIN
    IF NOT EXISTS (SELECT FROM esqase.firms f WHERE f.firm_id = esqase_create_member.firm_id) THEN
        PERFORM esqase.fail('23503', format('firm %s does not exist', firm_id), 'firm_id');
    END IF;
    IF name IS NULL OR btrim(name) = '' THEN
        PERFORM esqase.fail('23514', 'name is required', 'name');
    END IF;
    PERFORM esqase.check_email(coalesce(email, ''), 'email');
    FOREACH p IN ARRAY coalesce(permissions, '{}') LOOP
        IF p IS NULL OR p NOT IN ('practice_areas') THEN
            PERFORM esqase.fail('23514', format('unknown permission: %s', p), 'permissions');
        END IF;
    END LOOP;
    BEGIN
        INSERT INTO esqase.members (firm_id, name, email, is_owner, permissions)
        VALUES (firm_id, name, email, coalesce(is_owner, false), coalesce(permissions, '{}'))
        RETURNING id INTO member;
    EXCEPTION WHEN unique_violation THEN
        PERFORM esqase.fail('23505', format('the firm already has a member with email %s', email), 'email');
    END;
    RETURN member;
END
$$;

CREATE FUNCTION esqase.valid_scopes() RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN ARRAY['contacts:read', 'contacts:write', 'matters:read', 'matters:write',
             'leads:read', 'leads:write', 'practice-areas:read', 'practice-areas:write',
             'matter-types:read', 'matter-types:write'];

-- Returns the token once: esq_<12 hex prefix>_<64 hex secret>.  Only its
-- SHA-256 is stored; the prefix is stored to find the row.
CREATE FUNCTION esqase_create_api_key(member_id uuid, scopes text[], name text DEFAULT NULL,
                                      expires_at timestamptz DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    m esqase.members;
    s text;
    prefix text := substr(replace(gen_random_uuid()::text, '-', ''), 1, 12);
    token text;
BEGIN
    SELECT * INTO m FROM esqase.members WHERE id = member_id AND deleted_at IS NULL;
    IF NOT FOUND THEN
        PERFORM esqase.fail('23503', format('member %s does not exist', member_id), 'member_id');
    END IF;
    IF scopes IS NULL OR cardinality(scopes) = 0 THEN
        PERFORM esqase.fail('23514', 'a key needs at least one scope', 'scopes');
    END IF;
    FOREACH s IN ARRAY scopes LOOP
        IF s IS NULL OR NOT s = ANY (esqase.valid_scopes()) THEN
            PERFORM esqase.fail('23514', format('unknown scope: %s (valid: %s)', s,
                                array_to_string(esqase.valid_scopes(), ', ')), 'scopes');
        END IF;
    END LOOP;
    token := 'esq_' || prefix || '_' || replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', '');
    INSERT INTO esqase.api_keys (firm_id, member_id, name, prefix, secret_hash, scopes, expires_at)
    VALUES (m.firm_id, m.id, name, prefix, sha256(convert_to(token, 'UTF8')),
            ARRAY(SELECT DISTINCT unnest(scopes) ORDER BY 1), expires_at);
    RETURN token;
END
$$;

-- Revoking a key that is already revoked changes nothing (its revoked_at,
-- updated_at and audit trail stay as they were).
CREATE FUNCTION esqase_revoke_api_key(token_or_id text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    k esqase.api_keys;
BEGIN
    IF esqase.is_uuid(token_or_id) THEN
        SELECT * INTO k FROM esqase.api_keys WHERE id = token_or_id::uuid FOR UPDATE;
    ELSE
        SELECT * INTO k FROM esqase.api_keys
         WHERE prefix = substr(token_or_id, 5, 12)
           AND secret_hash = sha256(convert_to(token_or_id, 'UTF8'))
           FOR UPDATE;
    END IF;
    IF NOT FOUND THEN
        PERFORM esqase.fail('P0002', 'no such API key', 'token_or_id');
    END IF;
    IF k.revoked_at IS NULL THEN
        UPDATE esqase.api_keys SET revoked_at = now() WHERE firm_id = k.firm_id AND id = k.id;
    END IF;
END
$$;

-- Called by esqase_authenticate() (C).  Anyone may call it, but it only
-- answers to a valid token, so it reveals nothing the token holder lacks.
-- last_used_at is refreshed at most once a minute, never waiting on a lock,
-- so concurrent requests with one key do not queue behind each other, and
-- not at all in a read-only transaction.
CREATE FUNCTION esqase.key_lookup(token text,
    OUT firm_id uuid, OUT member_id uuid, OUT key_id uuid, OUT is_owner boolean,
    OUT scopes text[], OUT permissions text[])
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    k esqase.api_keys;
BEGIN
    SELECT a.* INTO k FROM esqase.api_keys a
     -- The prefix only finds the row; the hash proves the whole token.
     -- (substr, not a regular expression: this runs on every request.)
     WHERE a.prefix = substr(token, 5, 12)
       AND a.secret_hash = sha256(convert_to(token, 'UTF8'));
    IF NOT FOUND THEN
        PERFORM esqase.fail('28000', 'invalid API key');
    ELSIF k.revoked_at IS NOT NULL THEN
        PERFORM esqase.fail('28000', 'the API key has been revoked');
    ELSIF k.expires_at <= now() THEN
        PERFORM esqase.fail('28000', 'the API key has expired');
    END IF;
    SELECT m.is_owner, m.permissions INTO is_owner, permissions
      FROM esqase.members m
     WHERE m.firm_id = k.firm_id AND m.id = k.member_id AND m.deleted_at IS NULL;
    IF NOT FOUND THEN
        PERFORM esqase.fail('28000', 'the API key''s member no longer exists');
    END IF;
    -- Not in a read-only transaction (nor on a hot standby): a read-only
    -- request still authenticates, it just does not refresh last_used_at.
    IF (k.last_used_at IS NULL OR k.last_used_at < now() - interval '1 minute')
       AND NOT current_setting('transaction_read_only')::boolean THEN
        UPDATE esqase.api_keys a SET last_used_at = now()
         WHERE (a.firm_id, a.id) IN (SELECT b.firm_id, b.id FROM esqase.api_keys b
                                      WHERE b.firm_id = k.firm_id AND b.id = k.id
                                      FOR UPDATE SKIP LOCKED);
    END IF;
    firm_id := k.firm_id;
    member_id := k.member_id;
    key_id := k.id;
    scopes := k.scopes;
END
$$;

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
CREATE FUNCTION esqase.next_public_id(firm uuid, id_kind text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    n integer;
BEGIN
    INSERT INTO esqase.public_id_counters AS c (firm_id, kind, last_value)
    VALUES (firm, id_kind, 1)
    ON CONFLICT (firm_id, kind) DO UPDATE SET last_value = c.last_value + 1
    RETURNING c.last_value INTO n;
    RETURN id_kind || '-' || CASE WHEN n < 10000 THEN lpad(n::text, 4, '0') ELSE n::text END;
END
$$;

-- Checks that every id in ids is an active member of the firm, or is in
-- keep (already on the record: a member deleted since may stay, but not be
-- added).  A miss is a 422 on field.
CREATE FUNCTION esqase.check_members(firm uuid, ids uuid[], field text, keep uuid[] DEFAULT '{}')
RETURNS void LANGUAGE plpgsql STABLE AS $$
DECLARE
    missing uuid := esqase.first_missing('esqase.members', firm, ids, keep);
BEGIN
    IF missing IS NOT NULL THEN
        PERFORM esqase.fail('23514', format('%s: member %s not found in this firm', field, missing), field);
    END IF;
END
$$;

-- Whether body sets field (a uuid reference) to something other than current.
CREATE FUNCTION esqase.body_ref_changed(body jsonb, field text, current uuid) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    RETURN body ? field AND esqase.body_uuid(body, field) IS DISTINCT FROM current;
END
$$;

-------------------------------------------------------------------------------
-- Matters
-------------------------------------------------------------------------------

CREATE FUNCTION esqase.matter_fields() RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN ARRAY['practiceAreaId', 'openDate', 'practiceAreaStageColumnId', 'title', 'description',
             'closeDate', 'solDate', 'status', 'clientContactIds', 'team', 'matterTypeId'];

-- Fields of the response that a PATCH cannot set (the error names them).
CREATE FUNCTION esqase.matter_readonly_fields() RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN ARRAY['id', 'publicId', 'createdAt', 'updatedAt', 'practiceArea', 'stage', 'matterType',
             'clients'];

CREATE FUNCTION esqase.matter_json(m esqase.matters) RETURNS jsonb
LANGUAGE sql STABLE
RETURN jsonb_build_object(
    'id', m.id, 'publicId', m.public_id, 'title', m.title, 'description', m.description,
    'status', m.status,
    'openDate', to_char(m.open_date, 'YYYY-MM-DD'),
    'closeDate', to_char(m.close_date, 'YYYY-MM-DD'),
    'solDate', to_char(m.sol_date, 'YYYY-MM-DD'),
    'practiceArea', (SELECT esqase.ref(p.id, p.name) FROM esqase.practice_areas p
                      WHERE p.firm_id = m.firm_id AND p.id = m.practice_area_id),
    'stage', (SELECT esqase.ref(s.id, s.name) FROM esqase.practice_area_stages s
               WHERE s.firm_id = m.firm_id AND s.id = m.stage_id),
    'matterType', coalesce((SELECT esqase.ref(mt.id, mt.name) FROM esqase.matter_types mt
                             WHERE mt.firm_id = m.firm_id AND mt.id = m.matter_type_id), 'null'),
    'clients', coalesce((SELECT jsonb_agg(esqase.ref(c.id, c.name) ORDER BY mc.position)
                           FROM esqase.matter_clients mc
                           JOIN esqase.contacts c ON c.firm_id = mc.firm_id AND c.id = mc.contact_id
                          WHERE mc.firm_id = m.firm_id AND mc.matter_id = m.id), '[]'),
    'team', coalesce((SELECT jsonb_agg(jsonb_build_object(
                                  'member', esqase.ref(mb.id, mb.name), 'role', tm.role,
                                  'allocation', trim_scale(tm.allocation))
                              ORDER BY tm.position)
                        FROM esqase.matter_team tm
                        JOIN esqase.members mb ON mb.firm_id = tm.firm_id AND mb.id = tm.member_id
                       WHERE tm.firm_id = m.firm_id AND tm.matter_id = m.id), '[]'),
    'createdAt', esqase.ts(m.created_at), 'updatedAt', esqase.ts(m.updated_at));

-- A live (not soft-deleted) matter of the firm, else 404.
CREATE FUNCTION esqase.matter_find(firm uuid, matter_id uuid, for_update boolean DEFAULT false)
RETURNS esqase.matters LANGUAGE plpgsql AS $$
DECLARE
    m esqase.matters;
BEGIN
    IF for_update THEN
        PERFORM esqase.lock_active('esqase.matters', firm, matter_id);
    END IF;
    SELECT * INTO m FROM esqase.matters
     WHERE firm_id = firm AND id = matter_id AND deleted_at IS NULL;
    IF NOT FOUND THEN
        PERFORM esqase.not_found('matter', matter_id);
    END IF;
    RETURN m;
END
$$;

-- A stage of the practice area, checked (a miss is a 422 on field); a NULL
-- stage_id gives the area's first stage.
CREATE FUNCTION esqase.practice_area_stage(firm uuid, area_id uuid, stage_id uuid, field text)
RETURNS uuid LANGUAGE plpgsql STABLE AS $$
DECLARE
    s uuid;
BEGIN
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
-- none twice; each active, or in keep (already a client: a contact deleted
-- since may stay, but cannot be added).
CREATE FUNCTION esqase.matter_clients_from(firm uuid, body jsonb, keep uuid[] DEFAULT '{}')
RETURNS uuid[] LANGUAGE plpgsql STABLE AS $$
DECLARE
    ids uuid[] := esqase.body_list(body, 'clientContactIds', 'uuid')::uuid[];
    missing uuid := esqase.first_missing('esqase.contacts', firm, ids, keep);
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
CREATE FUNCTION esqase.matter_team_from(firm uuid, body jsonb, keep uuid[] DEFAULT '{}')
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE
    v jsonb := body -> 'team';
    item jsonb;
    i integer := 0;
    at_ text;
    k text;
    member uuid;
    members uuid[] := '{}';
    alloc numeric;
    total numeric := 0;
    result jsonb := '[]';
BEGIN
    IF v IS NULL OR v = 'null' THEN
        RETURN '[]';
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

-- Replaces the matter's clients when the list differs (returns whether it
-- did): the old rows are deleted (audited), the new list inserted.  The first
-- client is the primary client and the bill recipient.
CREATE FUNCTION esqase.matter_set_clients(m esqase.matters, ids uuid[]) RETURNS boolean
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
CREATE FUNCTION esqase.matter_set_team(m esqase.matters, team jsonb) RETURNS boolean
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
CREATE FUNCTION esqase.matter_apply(m esqase.matters, body jsonb, creating boolean)
RETURNS esqase.matters LANGUAGE plpgsql STABLE AS $$
DECLARE
    firm uuid := m.firm_id;
    area_changed boolean := creating OR esqase.body_ref_changed(body, 'practiceAreaId', m.practice_area_id);
    f text;
BEGIN
    IF area_changed THEN
        m.practice_area_id := (esqase.practice_area_find(firm, esqase.body_uuid(body, 'practiceAreaId', true),
                                                         'practiceAreaId')).id;
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
            IF m.matter_type_id IS NOT NULL
               AND (esqase.matter_type_find(firm, m.matter_type_id, 'matterTypeId')).practice_area_id
                   <> m.practice_area_id THEN
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

CREATE FUNCTION esqase_matters_list(params jsonb DEFAULT '{}') RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    firm uuid := esqase.api_access('matters', 'read');
    page record := esqase.page(params, '{}');
BEGIN
    RETURN esqase.list_result(
        (SELECT jsonb_agg(esqase.matter_json(m) ORDER BY m.created_at, m.id)
           FROM (SELECT * FROM esqase.matters
                  WHERE firm_id = firm AND deleted_at IS NULL
                  ORDER BY created_at, id LIMIT page.lim OFFSET page.off) m),
        page.lim, page.off,
        (SELECT count(*) FROM esqase.matters WHERE firm_id = firm AND deleted_at IS NULL));
END
$$;

CREATE FUNCTION esqase_matters_create(body jsonb) RETURNS jsonb
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
    RETURN jsonb_build_object('data', esqase.matter_json(m));
END
$$;

CREATE FUNCTION esqase_matters_get(id uuid) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    firm uuid := esqase.api_access('matters', 'read');
BEGIN
    RETURN (SELECT jsonb_build_object('data', esqase.matter_json(r)) FROM esqase.matter_find(firm, id) r);
END
$$;

CREATE FUNCTION esqase_matters_update(id uuid, body jsonb) RETURNS jsonb
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
    RETURN (SELECT jsonb_build_object('data', esqase.matter_json(r)) FROM esqase.matter_find(firm, m.id) r);
END
$$;

-- Soft delete: the matter is archived (status ARCHIVE, deleted_at set) and
-- leaves the API; its client and team rows stay with it.
CREATE FUNCTION esqase_matters_delete(id uuid) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    firm uuid := esqase.api_access('matters', 'write');
    m esqase.matters;
BEGIN
    UPDATE esqase.matters t SET status = 'ARCHIVE', deleted_at = now()
     WHERE t.firm_id = firm AND t.id = esqase_matters_delete.id AND t.deleted_at IS NULL
    RETURNING * INTO m;
    IF NOT FOUND THEN
        PERFORM esqase.not_found('matter', id);
    END IF;
    RETURN jsonb_build_object('data', esqase.matter_json(m));
END
$$;

-------------------------------------------------------------------------------
-- 34 Leads: a prospect in the firm's intake pipeline.  Creating a lead
-- creates its brand-new contact (contact_apply/contact_insert, 30_contacts.sql)
-- in the same transaction.  Private leads are visible only to their assignees
-- and the firm's owners: esqase.lead_visible() is used both by these
-- functions and by the RLS policies on esqase.leads (90_security.sql).
-------------------------------------------------------------------------------

-- Whether the API context may see a lead: public, or the member is an
-- owner, or one of its assignees.  Without a context nothing is visible
-- (the policies also require the context's firm).
CREATE FUNCTION esqase.lead_visible(lead_firm uuid, lead uuid, private boolean) RETURNS boolean
LANGUAGE sql STABLE
RETURN NOT private
    OR coalesce(esqase.context_is_owner(), false)
    OR EXISTS (SELECT FROM esqase.lead_assignees a
                WHERE a.firm_id = lead_firm AND a.member_id = esqase.context_member()
                  AND a.lead_id = lead);

CREATE FUNCTION esqase.lead_fields() RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN ARRAY['practiceAreaId', 'leadStageColumnId', 'value', 'isPrivate', 'assigneeIds'];

-- Create also takes the contact's fields: type, its name fields, email, phone.
CREATE FUNCTION esqase.lead_contact_fields() RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN ARRAY['type', 'email', 'phone'] || esqase.contact_person_fields() || esqase.contact_company_fields();

-- Fields a PATCH cannot set (the error names them): the response's own, and
-- the contact's, which belong to the contact (PATCH /v1/contacts/{id}).
CREATE FUNCTION esqase.lead_readonly_fields() RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN ARRAY['id', 'publicId', 'status', 'contact', 'practiceArea', 'assignees', 'createdAt',
             'updatedAt'] || esqase.lead_contact_fields();

CREATE FUNCTION esqase.lead_json(l esqase.leads) RETURNS jsonb
LANGUAGE sql STABLE
RETURN jsonb_build_object(
    'id', l.id, 'publicId', l.public_id, 'status', l.status, 'value', l.value,
    'isPrivate', l.is_private, 'leadStageColumnId', l.stage_id,
    'contact', (SELECT esqase.ref(c.id, c.name) FROM esqase.contacts c
                 WHERE c.firm_id = l.firm_id AND c.id = l.contact_id),
    'practiceArea', coalesce((SELECT esqase.ref(p.id, p.name) FROM esqase.practice_areas p
                               WHERE p.firm_id = l.firm_id AND p.id = l.practice_area_id), 'null'),
    'assignees', coalesce((SELECT jsonb_agg(esqase.ref(m.id, m.name) ORDER BY a.position)
                             FROM esqase.lead_assignees a
                             JOIN esqase.members m ON m.firm_id = a.firm_id AND m.id = a.member_id
                            WHERE a.firm_id = l.firm_id AND a.lead_id = l.id), '[]'),
    'createdAt', esqase.ts(l.created_at), 'updatedAt', esqase.ts(l.updated_at));

-- A live lead of the firm that the context may see, else 404.
CREATE FUNCTION esqase.lead_find(firm uuid, lead_id uuid, for_update boolean DEFAULT false)
RETURNS esqase.leads LANGUAGE plpgsql AS $$
DECLARE
    l esqase.leads;
BEGIN
    IF for_update THEN
        PERFORM esqase.lock_active('esqase.leads', firm, lead_id);
    END IF;
    SELECT * INTO l FROM esqase.leads
     WHERE firm_id = firm AND id = lead_id AND deleted_at IS NULL
       AND esqase.lead_visible(firm_id, id, is_private);
    IF NOT FOUND THEN
        PERFORM esqase.not_found('lead', lead_id);
    END IF;
    RETURN l;
END
$$;

-- A lead stage of the firm, checked (a 422 on leadStageColumnId); NULL
-- gives the first stage of the pipeline.
CREATE FUNCTION esqase.lead_stage(firm uuid, stage_id uuid) RETURNS uuid
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
CREATE FUNCTION esqase.lead_apply(l esqase.leads, body jsonb, creating boolean)
RETURNS esqase.leads LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF esqase.body_ref_changed(body, 'practiceAreaId', l.practice_area_id) THEN
        l.practice_area_id := esqase.body_uuid(body, 'practiceAreaId');
        IF l.practice_area_id IS NOT NULL THEN
            PERFORM esqase.practice_area_find(l.firm_id, l.practice_area_id, 'practiceAreaId');
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
CREATE FUNCTION esqase.lead_assignees_from(l esqase.leads, body jsonb, current uuid[],
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
-- Each returns whether it changed anything.
CREATE FUNCTION esqase.lead_add_assignees(l esqase.leads, ids uuid[]) RETURNS boolean
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

CREATE FUNCTION esqase.lead_prune_assignees(l esqase.leads, ids uuid[]) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    IF ids IS NULL THEN
        RETURN false;
    END IF;
    DELETE FROM esqase.lead_assignees
     WHERE firm_id = l.firm_id AND lead_id = l.id AND NOT member_id = ANY (ids);
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n > 0;
END
$$;

CREATE FUNCTION esqase_leads_list(params jsonb DEFAULT '{}') RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    firm uuid := esqase.api_access('leads', 'read');
    page record := esqase.page(params, '{}');
BEGIN
    RETURN esqase.list_result(
        (SELECT jsonb_agg(esqase.lead_json(l) ORDER BY l.created_at, l.id)
           FROM (SELECT * FROM esqase.leads
                  WHERE firm_id = firm AND deleted_at IS NULL
                    AND esqase.lead_visible(firm_id, id, is_private)
                  ORDER BY created_at, id LIMIT page.lim OFFSET page.off) l),
        page.lim, page.off,
        (SELECT count(*) FROM esqase.leads
          WHERE firm_id = firm AND deleted_at IS NULL
            AND esqase.lead_visible(firm_id, id, is_private)));
END
$$;

-- Everything is checked before anything is written: an invalid lead leaves
-- no contact behind and uses up no public id.
CREATE FUNCTION esqase_leads_create(body jsonb) RETURNS jsonb
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
    RETURN (SELECT jsonb_build_object('data', esqase.lead_json(r)) FROM esqase.lead_find(firm, l.id) r);
END
$$;

CREATE FUNCTION esqase_leads_get(id uuid) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    firm uuid := esqase.api_access('leads', 'read');
BEGIN
    RETURN (SELECT jsonb_build_object('data', esqase.lead_json(r)) FROM esqase.lead_find(firm, id) r);
END
$$;

CREATE FUNCTION esqase_leads_update(id uuid, body jsonb) RETURNS jsonb
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
    RETURN (SELECT jsonb_build_object('data', esqase.lead_json(r)) FROM esqase.lead_find(firm, l.id) r);
END
$$;

-- Soft delete: the lead leaves the API; its contact stays a contact.
CREATE FUNCTION esqase_leads_delete(id uuid) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    firm uuid := esqase.api_access('leads', 'write');
    l esqase.leads;
BEGIN
    UPDATE esqase.leads t SET deleted_at = now()
     WHERE t.firm_id = firm AND t.id = esqase_leads_delete.id AND t.deleted_at IS NULL
       AND esqase.lead_visible(t.firm_id, t.id, t.is_private)
    RETURNING * INTO l;
    IF NOT FOUND THEN
        PERFORM esqase.not_found('lead', id);
    END IF;
    RETURN jsonb_build_object('data', esqase.lead_json(l));
END
$$;

-------------------------------------------------------------------------------
-- 90 Security and housekeeping for every data table: updated_at, audit,
-- row-level security, the API role's grants, and pg_dump registration.
-------------------------------------------------------------------------------

-- The role the HTTP workers run SQL as (esqase.http_role).  Roles are
-- cluster-wide, so it is created only if missing and outlives the extension.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'esqase_api') THEN
        CREATE ROLE esqase_api NOLOGIN NOSUPERUSER NOBYPASSRLS;
    END IF;
END
$$;

GRANT USAGE ON SCHEMA esqase TO esqase_api;

DO $$
DECLARE
    t text;
    -- Tables written through the API (the others are read, or written only
    -- by SECURITY DEFINER administration functions).
    api_writes text[] := ARRAY['contacts', 'practice_areas', 'practice_area_stages',
                               'matter_types', 'matters', 'matter_clients', 'matter_team',
                               'leads', 'lead_assignees', 'public_id_counters'];
BEGIN
    FOREACH t IN ARRAY ARRAY['firms', 'members', 'api_keys', 'contacts', 'practice_areas',
                             'practice_area_stages', 'matter_types', 'public_id_counters',
                             'matters', 'matter_clients', 'matter_team', 'lead_stages',
                             'leads', 'lead_assignees', 'audit_log'] LOOP
        EXECUTE format('ALTER TABLE esqase.%I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE esqase.%I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY firm_isolation ON esqase.%I USING (firm_id = esqase.context_firm())', t);
        PERFORM pg_catalog.pg_extension_config_dump(format('esqase.%I', t), '');
        CONTINUE WHEN t = 'audit_log';

        -- Counters are bookkeeping: their value is in the public ids the
        -- audit log already records, so they are not audited themselves.
        IF t <> 'public_id_counters' THEN
            -- last_used_at alone is bookkeeping too: it is not an audited change.
            EXECUTE format('CREATE TRIGGER %I BEFORE UPDATE %s ON esqase.%I FOR EACH ROW EXECUTE FUNCTION esqase.touch_updated_at()',
                           t || '_updated_at',
                           CASE WHEN t = 'api_keys' THEN 'OF name, scopes, revoked_at, expires_at, member_id' ELSE '' END, t);
            EXECUTE format('CREATE TRIGGER %I AFTER INSERT OR DELETE OR UPDATE %s ON esqase.%I FOR EACH ROW EXECUTE FUNCTION esqase.audit()',
                           t || '_audit',
                           CASE WHEN t = 'api_keys' THEN 'OF name, scopes, revoked_at, expires_at, member_id' ELSE '' END, t);
        END IF;
        IF t <> 'api_keys' THEN
            EXECUTE format('GRANT SELECT ON esqase.%I TO esqase_api', t);
        END IF;
        IF t = ANY (api_writes) THEN
            EXECUTE format('GRANT INSERT, UPDATE ON esqase.%I TO esqase_api', t);
        END IF;
    END LOOP;
END
$$;

-- The audit log grows through the audit trigger's INSERT only.
SELECT pg_catalog.pg_extension_config_dump('esqase.audit_log_id_seq', '');

-- Administration is for DBAs; they grant it on.
REVOKE EXECUTE ON FUNCTION esqase_create_firm(text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION esqase_create_member(uuid, text, text, boolean, text[]) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION esqase_create_api_key(uuid, text[], text, timestamptz) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION esqase_revoke_api_key(text) FROM PUBLIC;

-- Matters and leads replace their client, team and assignee lists on update
-- (the way a contact's emails are replaced): the rows that go are deleted,
-- and the audit trigger records each delete.  The API role may delete from
-- these three link tables only; every other table keeps soft deletes.
GRANT DELETE ON esqase.matter_clients, esqase.matter_team, esqase.lead_assignees TO esqase_api;

-- Private leads are visible only to their assignees and the firm's owners
-- (esqase.lead_visible, 34_leads.sql).  The policy is split by command:
--  * SELECT, UPDATE and DELETE see only visible leads;
--  * INSERT and the new row of an UPDATE need only the firm, since a new
--    private lead has no assignee rows yet when it is inserted (the lead row
--    comes first: assignees reference it).  esqase_leads_create and
--    esqase_leads_update refuse to make a lead invisible to the member
--    acting, so the new row of an UPDATE (which PostgreSQL also checks
--    against the SELECT policy) stays visible.
-- deleted_at is not in the policy (a soft delete's new row must pass it);
-- the functions filter deleted leads.  The lead_assignees policy stays the
-- plain firm check: it must not query leads, or the two would recurse.
DROP POLICY firm_isolation ON esqase.leads;
CREATE POLICY leads_select ON esqase.leads FOR SELECT
    USING (firm_id = esqase.context_firm() AND esqase.lead_visible(firm_id, id, is_private));
CREATE POLICY leads_insert ON esqase.leads FOR INSERT
    WITH CHECK (firm_id = esqase.context_firm());
CREATE POLICY leads_update ON esqase.leads FOR UPDATE
    USING (firm_id = esqase.context_firm() AND esqase.lead_visible(firm_id, id, is_private))
    WITH CHECK (firm_id = esqase.context_firm());
CREATE POLICY leads_delete ON esqase.leads FOR DELETE
    USING (firm_id = esqase.context_firm() AND esqase.lead_visible(firm_id, id, is_private));
