-- esqase install script, assembled by the Makefile from sql/parts/*.sql in name order.
-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION esqase" to load this file. \quit

-------------------------------------------------------------------------------
-- 00 Schema: tables of schema esqase.
--
-- Every table carries firm_id (firms itself: its key id, the firm), and
-- every primary key, unique constraint and foreign key includes it.  Two reasons: referential-integrity checks bypass
-- row-level security, so a key that includes firm_id is what keeps one firm
-- from pointing at another firm's rows; and the schema can later be
-- distributed by firm_id (co-located shards) without a migration.
-- test/sql/80_catalog.sql checks this rule against the catalog.
-------------------------------------------------------------------------------

CREATE SCHEMA esqase;

CREATE TABLE esqase.firms (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name        text NOT NULL CHECK (btrim(name) <> ''),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE esqase.members (
    firm_id     uuid NOT NULL REFERENCES esqase.firms (id),
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
CREATE INDEX members_list_idx ON esqase.members (firm_id, created_at, id);
-- The other orders and the sync filter (updatedSince) of every list; a
-- sync listing includes soft-deleted records, so its index is not partial.
CREATE INDEX members_updated_idx ON esqase.members (firm_id, updated_at, id);
CREATE INDEX members_name_idx ON esqase.members (firm_id, name, id);

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
    firm_id      uuid NOT NULL REFERENCES esqase.firms (id),
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
    -- Set when a private lead created this contact: the prospect is then
    -- visible only to those who see that lead, until the firm uses the
    -- contact elsewhere or the lead is made public (docs/decisions.md).
    hidden_by_lead uuid,
    PRIMARY KEY (firm_id, id),
    CHECK (type <> 'PERSON' OR coalesce(first_name, last_name) IS NOT NULL),
    CHECK (type <> 'COMPANY' OR company_name IS NOT NULL)
);
-- hidden_by_lead is included so that a page is still found by an
-- index-only scan when some contacts are hidden from the member.
CREATE INDEX contacts_list_idx ON esqase.contacts (firm_id, created_at, id) INCLUDE (hidden_by_lead)
    WHERE deleted_at IS NULL;
CREATE INDEX contacts_hidden_idx ON esqase.contacts (firm_id, hidden_by_lead)
    WHERE hidden_by_lead IS NOT NULL;
CREATE INDEX contacts_search_idx ON esqase.contacts USING gin (search);
CREATE INDEX contacts_updated_idx ON esqase.contacts (firm_id, updated_at, id);
CREATE INDEX contacts_name_idx ON esqase.contacts (firm_id, name, id) WHERE deleted_at IS NULL;

CREATE TABLE esqase.practice_areas (
    firm_id     uuid NOT NULL REFERENCES esqase.firms (id),
    id          uuid NOT NULL DEFAULT gen_random_uuid(),
    name        text NOT NULL CHECK (btrim(name) <> ''),
    status      text NOT NULL DEFAULT 'ACTIVE' CHECK (status IN ('ACTIVE', 'ARCHIVED')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    deleted_at  timestamptz,
    PRIMARY KEY (firm_id, id)
);
CREATE INDEX practice_areas_list_idx ON esqase.practice_areas (firm_id, created_at, id) WHERE deleted_at IS NULL;
CREATE INDEX practice_areas_updated_idx ON esqase.practice_areas (firm_id, updated_at, id);
CREATE INDEX practice_areas_name_idx ON esqase.practice_areas (firm_id, name, id) WHERE deleted_at IS NULL;

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
CREATE INDEX matter_types_updated_idx ON esqase.matter_types (firm_id, practice_area_id, updated_at, id);
CREATE INDEX matter_types_name_idx ON esqase.matter_types (firm_id, practice_area_id, name, id)
    WHERE deleted_at IS NULL;

-- Per-firm sequential public ids (M-0001, L-0001).  One row per firm and
-- kind; creators take its row lock, so two transactions never share a number.
CREATE TABLE esqase.public_id_counters (
    firm_id    uuid NOT NULL REFERENCES esqase.firms (id),
    kind       text NOT NULL CHECK (kind IN ('M', 'L')),
    last_value integer NOT NULL DEFAULT 0,
    PRIMARY KEY (firm_id, kind)
);

CREATE TABLE esqase.matters (
    firm_id          uuid NOT NULL REFERENCES esqase.firms (id),
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
CREATE INDEX matters_updated_idx ON esqase.matters (firm_id, updated_at, id);
CREATE INDEX matters_title_idx ON esqase.matters (firm_id, title, id) WHERE deleted_at IS NULL;
CREATE INDEX matters_status_idx ON esqase.matters (firm_id, status, created_at, id) WHERE deleted_at IS NULL;
CREATE INDEX matters_area_idx ON esqase.matters (firm_id, practice_area_id, created_at, id)
    WHERE deleted_at IS NULL;
CREATE INDEX matters_stage_idx ON esqase.matters (firm_id, stage_id, created_at, id) WHERE deleted_at IS NULL;

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
    firm_id    uuid NOT NULL REFERENCES esqase.firms (id),
    id         uuid NOT NULL DEFAULT gen_random_uuid(),
    name       text NOT NULL CHECK (btrim(name) <> ''),
    "order"    integer NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (firm_id, id),
    UNIQUE (firm_id, "order")
);

CREATE TABLE esqase.leads (
    firm_id          uuid NOT NULL REFERENCES esqase.firms (id),
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
-- is_private is included so that a page at a deep offset is found by an
-- index-only scan even for a member who sees only some private leads.
CREATE INDEX leads_list_idx ON esqase.leads (firm_id, created_at, id) INCLUDE (is_private)
    WHERE deleted_at IS NULL;
-- The contacts policy asks whether a contact is a visible lead's.
CREATE INDEX leads_contact_idx ON esqase.leads (firm_id, contact_id);
CREATE INDEX leads_updated_idx ON esqase.leads (firm_id, updated_at, id);
CREATE INDEX leads_status_idx ON esqase.leads (firm_id, status, created_at, id) WHERE deleted_at IS NULL;
CREATE INDEX leads_area_idx ON esqase.leads (firm_id, practice_area_id, created_at, id) WHERE deleted_at IS NULL;
CREATE INDEX leads_stage_idx ON esqase.leads (firm_id, stage_id, created_at, id) WHERE deleted_at IS NULL;

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

-- The number of live (not soft-deleted) records of each firm, per list:
-- contacts, matters, practice_areas, and leads_public / leads_private, kept
-- by statement triggers (20_triggers.sql) so that a list's exact total is a
-- sum of at most `slots` small rows instead of a count of the firm's rows.
-- A firm's count of one list is spread over up to 16 slots: a writer adds
-- its change to a slot no other open transaction holds (SKIP LOCKED), so
-- concurrent writers in one firm never queue behind one hot row.
-- contacts_private counts the live contacts among contacts that are hidden
-- prospects of private leads (contacts.hidden_by_lead), so that a member's
-- contacts total is exact: contacts - contacts_private + the hidden ones
-- the member may see (esqase.contacts_total).
CREATE TABLE esqase.record_counts (
    firm_id uuid NOT NULL REFERENCES esqase.firms (id),
    list    text NOT NULL CHECK (list IN ('contacts', 'matters', 'practice_areas',
                                          'leads_public', 'leads_private', 'contacts_private')),
    slot    smallint NOT NULL CHECK (slot BETWEEN 0 AND 15),
    n       bigint NOT NULL,
    PRIMARY KEY (firm_id, list, slot)
);

-- The position of a record in a list: at (createdAt or updatedAt, by the
-- list's order), name (order=name/title) or rank (relevance to q), then id.
-- deleted_at rides along for sync listings (deletedAt).  A cursor is one of
-- these, encoded.
CREATE TYPE esqase.page_key AS (at timestamptz, id uuid, name text, rank real, deleted_at timestamptz);

-- A list request (esqase.list_request): at most lim records, after the key
-- after, skipping off more; by_cursor when after came from a cursor.  ord
-- is createdAt, updatedAt, name or relevance; plain when no filter or order
-- is asked for (the unfiltered first-to-last path); filter is the
-- fingerprint of the filters and order a cursor is bound to; then the
-- filters, NULL when not asked for.
CREATE TYPE esqase.page_request AS (lim integer, off integer, after esqase.page_key, by_cursor boolean,
                                    ord text, descending boolean, plain boolean, filter text,
                                    q text, tsq tsquery, status text, type text, area uuid, stage uuid,
                                    client uuid, created_since timestamptz, updated_since timestamptz);

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
    request_id text,            -- the HTTP request's X-Request-Id, when it came over HTTP
    PRIMARY KEY (firm_id, id)
);
CREATE INDEX audit_log_record_idx ON esqase.audit_log (firm_id, table_name, record_id);

-- Idempotency keys (15_idempotency.sql): the response of a create made with
-- an idempotency key (HTTP: a POST's Idempotency-Key header), kept per firm
-- and API key, so that the same request sent again within 24 hours gets
-- that response back instead of creating a second record.  A row older than
-- 24 hours counts as absent at once; the HTTP worker's sweep deletes it
-- (esqase.idempotency_sweep).  Only a SHA-256 of the request body is kept.
CREATE TABLE esqase.idempotency_keys (
    firm_id         uuid NOT NULL,
    key_id          uuid NOT NULL,
    idempotency_key text NOT NULL,
    resource        text NOT NULL,
    request_hash    bytea NOT NULL,
    response        json,
    record_id       uuid,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (firm_id, key_id, idempotency_key),
    FOREIGN KEY (firm_id, key_id) REFERENCES esqase.api_keys (firm_id, id)
);
-- The sweep finds expired rows of every firm by age.
CREATE INDEX idempotency_keys_created_idx ON esqase.idempotency_keys (created_at);
COMMENT ON TABLE esqase.idempotency_keys IS
    'Responses of creates made with an idempotency key (Idempotency-Key), per firm and API key, kept 24 hours';
COMMENT ON COLUMN esqase.idempotency_keys.key_id IS 'the API key that made the create';
COMMENT ON COLUMN esqase.idempotency_keys.idempotency_key IS 'the client''s key: 1 to 255 printable ASCII characters';
COMMENT ON COLUMN esqase.idempotency_keys.resource IS 'the resource created, spelled as in the URL (contacts, practice-areas, ...)';
COMMENT ON COLUMN esqase.idempotency_keys.request_hash IS 'SHA-256 of the request body as jsonb text (key order and spacing do not count)';
COMMENT ON COLUMN esqase.idempotency_keys.response IS 'the create''s response, returned again on a replay (NULL only inside the creating transaction)';
COMMENT ON COLUMN esqase.idempotency_keys.record_id IS 'the id of the record created';
COMMENT ON COLUMN esqase.idempotency_keys.created_at IS 'when the key was first used; the row counts as absent 24 hours later';

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
-- Whether the context may use a scope (its key holds it; for practice-areas
-- and matter-types, its member also holds the permission): the test the
-- row-level security policies make per row, a bit test in C.
CREATE FUNCTION esqase.context_may(scope text) RETURNS boolean
    AS 'MODULE_PATHNAME', 'esqase_context_may' LANGUAGE C STABLE STRICT PARALLEL RESTRICTED;
-- Whether a row's xmin is this transaction (or one of its subtransactions).
CREATE FUNCTION esqase.written_here(x xid) RETURNS boolean
    AS 'MODULE_PATHNAME', 'esqase_written_here' LANGUAGE C STABLE STRICT PARALLEL RESTRICTED;
CREATE FUNCTION esqase.context_role() RETURNS text
    AS 'MODULE_PATHNAME', 'esqase_context_role' LANGUAGE C STABLE PARALLEL RESTRICTED;
-- The X-Request-Id of the HTTP request the transaction serves (set by the
-- HTTP worker from C, not settable from SQL), for the audit log.
CREATE FUNCTION esqase.context_request_id() RETURNS text
    AS 'MODULE_PATHNAME', 'esqase_context_request_id' LANGUAGE C STABLE PARALLEL RESTRICTED;

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
--
-- Responses are built as json, not jsonb: json keeps the order in which a
-- renderer lists the fields (the order of the API page), jsonb sorts keys
-- by length.  The small renderers below are STABLE like the functions they
-- call and free of sub-selects, so PostgreSQL inlines them into the
-- caller's cached plan (a SQL function marked more strictly than its body,
-- or one with a sub-select, is re-planned on every call instead).  Each
-- resource renders its records with one set-returning SQL function
-- (esqase.<resource>_docs), which is inlined into the caller's query.
CREATE FUNCTION esqase.ts(t timestamptz) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
RETURN to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"');

-- A reference to another record: {"id", "name"}, or null.
CREATE FUNCTION esqase.ref(id uuid, name text) RETURNS json
LANGUAGE sql STABLE PARALLEL SAFE
RETURN CASE WHEN id IS NOT NULL THEN json_build_object('id', id, 'name', name) END;

-- The response of a single-record call: {"data": record}.
CREATE FUNCTION esqase.one(record json) RETURNS json
LANGUAGE sql STABLE PARALLEL SAFE
RETURN json_build_object('data', record);

-- Notes the version (updated_at) of the record a single-record call
-- returns, in backend memory for the rest of the transaction: the HTTP
-- worker makes the ETag and Last-Modified of its response from it
-- (src/http_etag.c).  The record's updatedAt is rendered to the second; the
-- version is exact to the microsecond.  Harmless for SQL callers.
CREATE FUNCTION esqase.note_version(version timestamptz) RETURNS void
    AS 'MODULE_PATHNAME', 'esqase_note_version' LANGUAGE C VOLATILE STRICT;

-- {"data": record}, noting version (the record's updated_at).
CREATE FUNCTION esqase.one_version(record json, version timestamptz) RETURNS json
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM esqase.note_version(version);
    RETURN esqase.one(record);
END
$$;

-- Checks the version an update or delete expects (expected_updated_at)
-- against the locked row's updated_at: a mismatch is 55000
-- (object_not_in_prerequisite_state; HTTP 412 precondition_failed).
-- NULL expects nothing.
CREATE FUNCTION esqase.check_version(what text, id uuid, current timestamptz, expected timestamptz)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF expected IS NOT NULL AND expected IS DISTINCT FROM current THEN
        PERFORM esqase.fail('55000', format('%s %s has changed since the version given: read it again', what, id),
                            'expected_updated_at');
    END IF;
END
$$;

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

-- The query parameters each list takes, resource spelled as in the URL
-- (NULL for a resource without a list).  The one home of the list: the
-- lists reject any other name (esqase.list_request), and the OpenAPI
-- document is checked against it.
CREATE FUNCTION esqase.list_parameters(resource text) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN resource IN ('contacts', 'practice-areas', 'matter-types', 'matters', 'leads', 'members')
            THEN ARRAY['limit', 'offset', 'cursor', 'order', 'status', 'createdSince', 'updatedSince']
                 || CASE resource
                        WHEN 'contacts' THEN ARRAY['q', 'type']
                        WHEN 'matters' THEN ARRAY['q', 'practiceAreaId', 'stageId', 'clientContactId']
                        WHEN 'leads' THEN ARRAY['q', 'practiceAreaId', 'stageId']
                        WHEN 'matter-types' THEN ARRAY['practiceAreaId']
                        ELSE '{}'::text[]
                    END
       END;

-- The values the status filter of a list takes (a record's status field).
CREATE FUNCTION esqase.list_statuses(resource text) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE resource
           WHEN 'matters' THEN '{ACTIVE,DRAFT,ARCHIVE}'::text[]
           WHEN 'leads' THEN '{PENDING,WON,LOST}'::text[]
           WHEN 'members' THEN '{ACTIVE,INACTIVE}'::text[]
           ELSE '{ACTIVE,ARCHIVED}'::text[]
       END;

-- Text as search compares it: lower case, accents removed (NFD, then the
-- combining marks dropped), so that "Émile" and "emile" are one word.
-- IMMUTABLE, for the stored search documents; in a database whose encoding
-- is not UTF-8 it only folds case.
CREATE FUNCTION esqase.fold(t text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN pg_catalog.getdatabaseencoding() = 'UTF8'
            THEN lower(regexp_replace(normalize(t, NFD), '[\u0300-\u036f]', '', 'g'))
            ELSE lower(t)
       END;

-- The search document of some text: its words, folded.
CREATE FUNCTION esqase.search_document(t text) RETURNS tsvector
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN to_tsvector('simple'::regconfig, esqase.fold(t));

-- The query of the q parameter: every word of q, folded, as a prefix, all
-- required ("ann smi" finds Ann Smith).  NULL when q has no word.
CREATE FUNCTION esqase.search_query(q text) RETURNS tsquery
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN nullif(array_to_string(ARRAY(
           SELECT '''' || replace(replace(w.lexeme, '\', '\\'), '''', '''''') || ''':*'
             FROM unnest(esqase.search_document(q)) w), ' & '), '')::tsquery;

-- A cursor names the last record of a page: the list, the filters and
-- order it belongs to (their fingerprint, page_request.filter), and that
-- record's page_key, as a base64url-encoded JSON array.  Opaque to clients.
CREATE FUNCTION esqase.cursor_encode(list text, filter text, k esqase.page_key) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
RETURN translate(encode(convert_to(json_build_array(
                     list, filter, to_char(k.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
                     k.name, k.rank, k.id)::text, 'UTF8'), 'base64'),
                 E'+/=\n', '-_');

-- The page_key a cursor of list with filter names; a 400 on cursor if it
-- is not one, or was made for other filters or another order.
CREATE FUNCTION esqase.cursor_decode(list text, filter text, cursor text) RETURNS esqase.page_key
LANGUAGE plpgsql STABLE AS $$
DECLARE
    a jsonb;
    k esqase.page_key;
BEGIN
    BEGIN
        a := convert_from(decode(rpad(translate(cursor, '-_', '+/'), (length(cursor) + 3) / 4 * 4, '='),
                                 'base64'), 'UTF8')::jsonb;
        IF jsonb_typeof(a) = 'array' AND jsonb_array_length(a) = 6 AND a ->> 0 = list
           AND esqase.is_uuid(a ->> 5) THEN
            k := ROW((a ->> 2)::timestamptz, (a ->> 5)::uuid, a ->> 3, (a ->> 4)::real, NULL);
        END IF;
    EXCEPTION WHEN data_exception THEN
        k := NULL;      -- not base64, not UTF-8, not JSON, not a timestamp: the same 400
    END;
    IF k IS NULL THEN
        PERFORM esqase.fail('22023', format('cursor is not a cursor of this %s list', replace(list, '_', ' ')),
                            'cursor');
    END IF;
    IF a ->> 1 IS DISTINCT FROM filter THEN
        PERFORM esqase.fail('22023', 'cursor was made for other filters or another order: '
                                     'ask again with the parameters of the page it came from',
                            'cursor');
    END IF;
    RETURN k;
END
$$;

-- A query parameter that is a timestamp: ISO 8601 with a time zone
-- (2026-07-01T09:30:00Z, 2026-07-01T11:30:00.5+02:00), nothing else.
CREATE FUNCTION esqase.param_timestamp(name text, s text) RETURNS timestamptz
LANGUAGE plpgsql STABLE AS $$
DECLARE
    t timestamptz;
BEGIN
    IF s ~ '^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}(:?\d{2})?)$' THEN
        BEGIN
            t := s::timestamptz;
        EXCEPTION WHEN data_exception THEN
            t := NULL;      -- 2026-02-30T00:00Z
        END;
    END IF;
    IF t IS NULL THEN
        PERFORM esqase.fail('22023', format('%s must be an ISO 8601 timestamp with a time zone, '
                                            'e.g. 2026-07-01T09:30:00Z', name), name);
    END IF;
    RETURN t;
END
$$;

-- A query parameter that takes one of a few words.
CREATE FUNCTION esqase.param_enum(name text, s text, allowed text[]) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF s IS NULL OR NOT s = ANY (allowed) THEN
        PERFORM esqase.fail('22023', format('%s must be one of %s', name, array_to_string(allowed, ', ')), name);
    END IF;
    RETURN s;
END
$$;

-- Every list function runs with plan_cache_mode = force_generic_plan: with
-- LIMIT and OFFSET as parameters, a custom plan always looks cheaper than
-- the generic one, so PostgreSQL would plan the page query on every call
-- (half the cost of a first page); the generic plan is the same index scan.
-- That serves the plain list (no filter, no order).  A filtered or ordered
-- page is found by the resource's _keys function instead, which runs with
-- plan_cache_mode = force_custom_plan: its one query is written for every
-- filter and order at once and planned with the request's values, which
-- the planner folds (the filters and orders not asked for drop out),
-- leaving the query of this request, served by its index.
--
-- Checks params against esqase.list_parameters(resource) and returns the
-- request: limit defaults to 50 and is clamped to 200; offset defaults to
-- 0; after is the key the page starts after, when a cursor says.
CREATE FUNCTION esqase.list_request(params jsonb, resource text) RETURNS esqase.page_request
LANGUAGE plpgsql STABLE AS $$
DECLARE
    list text := replace(resource, '-', '_');
    allowed text[] := esqase.list_parameters(resource);
    name_order text := CASE resource WHEN 'matters' THEN 'title' ELSE 'name' END;
    k text;
    v text;
    r esqase.page_request;
BEGIN
    r.lim := 50;
    r.off := 0;
    r.by_cursor := false;
    r.after := ROW('-infinity'::timestamptz, '00000000-0000-0000-0000-000000000000'::uuid, NULL, NULL, NULL)::esqase.page_key;
    r.ord := 'createdAt';
    r.descending := false;
    IF params IS NOT NULL AND jsonb_typeof(params) <> 'object' THEN
        PERFORM esqase.fail('22023', 'params must be a JSON object');
    END IF;
    FOR k, v IN SELECT key, value #>> '{}' FROM jsonb_each(params) LOOP
        IF NOT k = ANY (allowed) THEN
            PERFORM esqase.fail('22023', format('unknown query parameter: %s', k), k);
        ELSIF k IN ('limit', 'offset') THEN
            IF v IS NULL OR v !~ '^\s*\d+\s*$' THEN
                PERFORM esqase.fail('22023', format('%s must be a whole number', k), k);
            END IF;
            IF k = 'limit' THEN
                -- Any larger limit is clamped, however many digits it has.
                IF v::numeric < 1 THEN
                    PERFORM esqase.fail('22023', 'limit must be at least 1', k);
                END IF;
                r.lim := least(v::numeric, 200)::integer;
            ELSE
                IF v::numeric > 2147483647 THEN
                    PERFORM esqase.fail('22023', 'offset must be at most 2147483647', k);
                END IF;
                r.off := v::integer;
            END IF;
        ELSIF k = 'cursor' THEN
            IF jsonb_typeof(params -> k) <> 'string' THEN
                PERFORM esqase.fail('22023', 'cursor must be a string (a nextCursor)', k);
            END IF;
            r.by_cursor := true;
        ELSIF k = 'order' THEN
            PERFORM esqase.param_enum(k, v, ARRAY['createdAt', 'updatedAt', name_order,
                                                  '-createdAt', '-updatedAt', '-' || name_order]);
            r.descending := v LIKE '-%';
            r.ord := CASE WHEN ltrim(v, '-') = name_order THEN 'name' ELSE ltrim(v, '-') END;
        ELSIF k = 'status' THEN
            r.status := esqase.param_enum(k, v, esqase.list_statuses(resource));
        ELSIF k = 'type' THEN
            r.type := esqase.param_enum(k, v, '{PERSON,COMPANY}');
        ELSIF k = 'createdSince' THEN
            r.created_since := esqase.param_timestamp(k, v);
        ELSIF k = 'updatedSince' THEN
            r.updated_since := esqase.param_timestamp(k, v);
        ELSIF k = 'q' THEN
            IF length(v) > 200 THEN
                PERFORM esqase.fail('22023', 'q is longer than 200 characters', k);
            END IF;
            r.q := v;
            r.tsq := esqase.search_query(v);
            IF r.tsq IS NULL THEN
                PERFORM esqase.fail('22023', 'q must hold a word (letters or digits) to search for', k);
            END IF;
        END IF;
    END LOOP;
    r.area := esqase.param_uuid(params, 'practiceAreaId', resource = 'matter-types');
    r.stage := esqase.param_uuid(params, 'stageId');
    r.client := esqase.param_uuid(params, 'clientContactId');
    IF r.q IS NOT NULL AND NOT params ? 'order' THEN
        r.ord := 'relevance';       -- the most relevant first, ties by id
    END IF;
    r.plain := r.ord = 'createdAt' AND NOT r.descending
               AND num_nonnulls(r.q, r.status, r.type, r.stage, r.client, r.created_since, r.updated_since) = 0
               AND (r.area IS NULL OR resource = 'matter-types');   -- a matter type list's own area
    r.filter := left(md5((coalesce(params, '{}') - '{limit,offset,cursor}'::text[])::text), 12);
    IF r.by_cursor THEN
        IF params ? 'offset' THEN
            PERFORM esqase.fail('22023', 'cursor and offset cannot be used together: a cursor says where the page starts',
                                'cursor');
        END IF;
        r.after := esqase.cursor_decode(list, r.filter, params ->> 'cursor');
    END IF;
    RETURN r;
END
$$;

-- Whether a list request filters the records (an order alone does not):
-- an unfiltered list's total is the maintained one.
CREATE FUNCTION esqase.list_filtered(r esqase.page_request) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN num_nonnulls(r.q, r.status, r.type, r.area, r.stage, r.client, r.created_since, r.updated_since) > 0;

-- The parts of every list's page query (the _keys functions) and count
-- (the _count functions): SQL functions inlined into them, which the
-- planner folds for the request at hand.
--   list_match: the filters every list shares; deleted records only in a
--     sync listing (updatedSince given).
--   list_key: where a record stands in the list's order (its page_key).
--   list_after: whether it comes after the cursor's record.
--   sort_*: the ORDER BY, one expression per order and direction, all NULL
--     (and so dropped by the planner) but the one asked for.
--   list_rank: the relevance to q, under the relevance order only.
CREATE FUNCTION esqase.list_match(r esqase.page_request, deleted timestamptz, status text,
                                  created timestamptz, updated timestamptz)
RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN (deleted IS NULL OR r.updated_since IS NOT NULL)
   AND (r.status IS NULL OR status = r.status)
   AND (r.created_since IS NULL OR created >= r.created_since)
   AND (r.updated_since IS NULL OR updated >= r.updated_since);

CREATE FUNCTION esqase.list_key(r esqase.page_request, created timestamptz, updated timestamptz, name text,
                                rank real, id uuid, deleted timestamptz)
RETURNS esqase.page_key LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN ROW(CASE r.ord WHEN 'createdAt' THEN created WHEN 'updatedAt' THEN updated END, id,
           CASE WHEN r.ord = 'name' THEN name END, CASE WHEN r.ord = 'relevance' THEN rank END,
           deleted)::esqase.page_key;

CREATE FUNCTION esqase.list_after(r esqase.page_request, created timestamptz, updated timestamptz, name text,
                                  rank real, id uuid)
RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE
           WHEN NOT r.by_cursor THEN true
           WHEN r.ord = 'relevance' THEN rank < (r.after).rank OR (rank = (r.after).rank AND id > (r.after).id)
           WHEN r.ord = 'name' AND r.descending THEN (name, id) < ((r.after).name, (r.after).id)
           WHEN r.ord = 'name' THEN (name, id) > ((r.after).name, (r.after).id)
           WHEN r.ord = 'createdAt' AND r.descending THEN (created, id) < ((r.after).at, (r.after).id)
           WHEN r.ord = 'createdAt' THEN (created, id) > ((r.after).at, (r.after).id)
           WHEN r.descending THEN (updated, id) < ((r.after).at, (r.after).id)
           ELSE (updated, id) > ((r.after).at, (r.after).id)
       END;

CREATE FUNCTION esqase.sort_at(r esqase.page_request, descending boolean, created timestamptz,
                               updated timestamptz)
RETURNS timestamptz LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN r.descending = descending
            THEN CASE r.ord WHEN 'createdAt' THEN created WHEN 'updatedAt' THEN updated END END;

CREATE FUNCTION esqase.sort_name(r esqase.page_request, descending boolean, name text)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN r.descending = descending AND r.ord = 'name' THEN name END;

CREATE FUNCTION esqase.sort_rank(r esqase.page_request, rank real)
RETURNS real LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN r.ord = 'relevance' THEN rank END;

CREATE FUNCTION esqase.sort_id(r esqase.page_request, descending boolean, id uuid)
RETURNS uuid LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN r.descending = descending THEN id END;

CREATE FUNCTION esqase.list_rank(r esqase.page_request, search tsvector)
RETURNS real LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN r.ord = 'relevance' THEN ts_rank(search, r.tsq) END;

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

-- The ids of the page's records: the first lim of keys (the page query
-- asks for one more, to learn whether a next page exists).
CREATE FUNCTION esqase.page_ids(keys esqase.page_key[], lim integer) RETURNS uuid[]
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    RETURN ARRAY(SELECT k.id FROM unnest(keys[1:lim]) k);
END
$$;

-- A record of a list page as the list shows it: in a sync listing
-- (updatedSince given) with "deletedAt" last, null unless the record is
-- deleted; elsewhere as rendered.  The field is appended to the text, so
-- the renderer's field order stays.
CREATE FUNCTION esqase.list_doc(r esqase.page_request, k esqase.page_key, doc json) RETURNS json
LANGUAGE sql STABLE PARALLEL SAFE
RETURN CASE WHEN r.updated_since IS NULL THEN doc
            ELSE (left(doc::text, -1) || ', "deletedAt" : '
                  || coalesce(to_json(esqase.ts(k.deleted_at))::text, 'null') || '}')::json
       END;

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
                               THEN esqase.cursor_encode(list, page.filter, keys[page.lim]) END));
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

-------------------------------------------------------------------------------
-- 15 Idempotency keys (issue 10): a create called with an idempotency key
-- (over HTTP, a POST's Idempotency-Key header) keeps its response in
-- esqase.idempotency_keys (00_schema.sql); the same key again, from the
-- same API key within 24 hours, returns that response instead of creating
-- again.  Every <resource>_create is built around two calls:
--
--     firm uuid := esqase.api_access('<resource>', 'write');
--     replay json := esqase.idempotency_begin(firm, '<resource>', body, idempotency_key);
--     ...
--     IF replay IS NOT NULL THEN RETURN replay; END IF;
--     ... the create ...
--     RETURN esqase.idempotency_end(firm, idempotency_key, <response>);
--
-- idempotency_begin claims the key by inserting its row before the create
-- runs.  A second request with the same key waits on the primary key for
-- the first's transaction: once it commits, the second finds its row and
-- returns the stored response; if it rolls back (a 4xx, a crash), its row
-- goes with it and the second does the create.  So a failed create stores
-- nothing, and a retry with a corrected body under the same key works.
-- A replay writes nothing (no record, no audit row): it only locks the
-- key's row until its transaction ends.
-------------------------------------------------------------------------------

-- Marks the current request's response as a replay; the HTTP worker reads
-- the mark (src/idempotency.c) to send Idempotent-Replayed: true.
CREATE FUNCTION esqase.idempotency_note_replay() RETURNS void
    AS 'MODULE_PATHNAME', 'esqase_idempotency_note_replay' LANGUAGE C VOLATILE;

-- An idempotency key is 1 to 255 printable ASCII characters (space
-- included), not starting or ending with a space (HTTP trims them).
CREATE FUNCTION esqase.idempotency_check(idem text) RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF idem !~ '^[!-~]([ -~]{0,253}[!-~])?$' THEN
        PERFORM esqase.fail('22023', 'Idempotency-Key must be 1 to 255 printable ASCII characters '
                            '(no leading or trailing space)', 'Idempotency-Key');
    END IF;
END
$$;

-- NULL when the caller is to create (no key, a key not seen in the last 24
-- hours, or one whose earlier create rolled back): the key is then claimed
-- by this transaction.  Otherwise the stored response of the key, after
-- checking that it was for the same resource and the same body (as jsonb:
-- key order and spacing do not count); else 23I01 (HTTP 422
-- idempotency_key_reused).  An expired row is taken over, so the key
-- starts a new 24 hours.
CREATE FUNCTION esqase.idempotency_begin(firm uuid, res text, body jsonb, idem text) RETURNS json
LANGUAGE plpgsql AS $$
DECLARE
    caller uuid := esqase.context_key();
    hash bytea;
    stored esqase.idempotency_keys;
BEGIN
    IF idem IS NULL THEN
        RETURN NULL;
    END IF;
    PERFORM esqase.idempotency_check(idem);
    hash := sha256(convert_to(coalesce(body, 'null')::text, 'UTF8'));
    INSERT INTO esqase.idempotency_keys AS i (firm_id, key_id, idempotency_key, resource, request_hash)
    VALUES (firm, caller, idem, res, hash)
    ON CONFLICT (firm_id, key_id, idempotency_key) DO UPDATE
       SET resource = excluded.resource, request_hash = excluded.request_hash,
           response = NULL, record_id = NULL, created_at = excluded.created_at
     WHERE i.created_at <= now() - interval '24 hours';
    IF FOUND THEN
        RETURN NULL;
    END IF;
    -- The row exists, committed (the INSERT waited for its transaction) or
    -- made by this very transaction; the INSERT locked it.
    SELECT * INTO stored FROM esqase.idempotency_keys i
     WHERE i.firm_id = firm AND i.key_id = caller AND i.idempotency_key = idem;
    IF stored.resource <> res OR stored.request_hash <> hash THEN
        PERFORM esqase.fail('23I01',
                            format('Idempotency-Key %s was used for another request in the last 24 hours '
                                   '(another body or another resource); use a new key', idem),
                            'Idempotency-Key');
    END IF;
    PERFORM esqase.idempotency_note_replay();
    RETURN stored.response;
END
$$;

-- Stores response under the key claimed by idempotency_begin (nothing
-- without a key); returns response.
CREATE FUNCTION esqase.idempotency_end(firm uuid, idem text, response json) RETURNS json
LANGUAGE plpgsql AS $$
BEGIN
    IF idem IS NOT NULL THEN
        UPDATE esqase.idempotency_keys i
           SET response = idempotency_end.response,
               record_id = (idempotency_end.response -> 'data' ->> 'id')::uuid
         WHERE i.firm_id = firm AND i.key_id = esqase.context_key() AND i.idempotency_key = idem;
    END IF;
    RETURN response;
END
$$;

-- Deletes up to batch rows older than 24 hours, of every firm; returns how
-- many.  The HTTP worker calls it every esqase.idempotency_sweep_interval,
-- one batch per transaction, until a batch comes back short.  SKIP LOCKED:
-- a row a request holds (taking over the expired key) is left for the next
-- sweep, so the sweep never waits for a request and holds its own row locks
-- for one short batch.  For DBAs (and the worker, a superuser) only.
CREATE FUNCTION esqase.idempotency_sweep(batch integer DEFAULT 1000) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    DELETE FROM esqase.idempotency_keys i
     WHERE i.ctid = ANY (ARRAY(SELECT e.ctid FROM esqase.idempotency_keys e
                                WHERE e.created_at <= now() - interval '24 hours'
                                ORDER BY e.created_at LIMIT batch FOR UPDATE SKIP LOCKED));
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;
REVOKE EXECUTE ON FUNCTION esqase.idempotency_sweep(integer) FROM PUBLIC;

-------------------------------------------------------------------------------
-- 20 Triggers: derived fields, default stages, and the audit log.
-- Attached to the tables in 90_security.sql, which lists every data table.
-------------------------------------------------------------------------------

-- Whether this trigger fires for a restore loading tbl's rows: pg_dump and
-- pg_restore (and psql -f of a plain dump) load the extension's tables with
-- COPY ... FROM under row_security = off (which fails for every role that
-- does not bypass row-level security, the API role included).  Those rows
-- were seeded, counted and audited when first written, and the seeded rows,
-- the counts and the audit rows come with the dump: doing it again would
-- duplicate them (and the restore fails on their unique keys).  The test is
-- on the statement being run, in C (src/restore.c), never on the query's
-- text: only a top-level COPY tbl FROM, with no API context, qualifies.
CREATE FUNCTION esqase.restoring(tbl regclass) RETURNS boolean
    AS 'MODULE_PATHNAME', 'esqase_restoring' LANGUAGE C STABLE STRICT;

-- updated_at is a row's version (the ETag of its API record, and the
-- expected_updated_at of an update or delete): it moves forward on every
-- update, by at least a microsecond, even twice in one transaction (now()
-- stays the same there) or under a clock set back.  The API functions skip
-- updates that would change nothing, so those keep their version.
CREATE FUNCTION esqase.touch_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := greatest(now(), OLD.updated_at + interval '1 microsecond');
    RETURN NEW;
END
$$;

-- Every write to a data table, through the API or by hand, appends one row.
-- SECURITY DEFINER so that no API role needs (or has) INSERT on the log.
-- The acting role: the one that authenticated, else the SET ROLE role, else
-- the session user (a definer function cannot see its caller's current_user).
-- A soft delete (an UPDATE that sets deleted_at) is logged as DELETE, the
-- API's word for it; its new_values show the row as it stays.  A hard
-- DELETE (link rows only) has no new_values.  A firm's own row (firms,
-- keyed id) is logged under its id as firm and record.
CREATE FUNCTION esqase.audit() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    new_values jsonb;
    old_values jsonb;
    action text := TG_OP;
BEGIN
    IF esqase.restoring(TG_RELID) THEN
        RETURN NULL;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        new_values := to_jsonb(NEW) - 'secret_hash' - 'search';
    END IF;
    IF TG_OP <> 'INSERT' THEN
        old_values := to_jsonb(OLD) - 'secret_hash' - 'search';
    END IF;
    IF TG_OP = 'UPDATE' AND old_values ->> 'deleted_at' IS NULL
       AND new_values ->> 'deleted_at' IS NOT NULL THEN
        action := 'DELETE';
    END IF;
    INSERT INTO esqase.audit_log (firm_id, member_id, key_id, db_role, action,
                                  table_name, record_id, old_values, new_values,
                                  request_id)
    VALUES (coalesce(new_values ->> 'firm_id', old_values ->> 'firm_id',
                     new_values ->> 'id', old_values ->> 'id')::uuid,
            esqase.context_member(), esqase.context_key(),
            coalesce(esqase.context_role(),
                     nullif(current_setting('role'), 'none'),
                     session_user),
            action, TG_TABLE_NAME,
            coalesce(new_values ->> 'id', old_values ->> 'id')::uuid,
            old_values, new_values, esqase.context_request_id());
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
    IF esqase.restoring(TG_RELID) THEN
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
    IF esqase.restoring(TG_RELID) THEN
        RETURN NULL;
    END IF;
    INSERT INTO esqase.lead_stages (firm_id, name, "order")
    VALUES (NEW.id, 'New', 0),
           (NEW.id, 'Contacted', 1),
           (NEW.id, 'Consultation scheduled', 2),
           (NEW.id, 'Proposal sent', 3);
    INSERT INTO esqase.public_id_counters (firm_id, kind)
    VALUES (NEW.id, 'M'), (NEW.id, 'L');
    RETURN NULL;
END
$$;

-- Adds delta to a firm's count of list (esqase.record_counts): to a slot
-- this transaction already holds or no other open transaction holds,
-- starting from this backend's own slot.  When every existing slot is held
-- (or none exists yet), it opens a new slot.  A slot being opened is
-- invisible to other transactions until its opener commits, so its number
-- is claimed first with a transaction advisory lock: two writers never open
-- the same slot (the second would wait on the first's insert).  Only when
-- all 16 slots exist and are held (16 concurrent writers in one firm) does
-- a writer wait, on its own slot.
CREATE FUNCTION esqase.count_add(firm uuid, counted text, delta bigint) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    chosen int;
BEGIN
    UPDATE esqase.record_counts c SET n = c.n + delta
     WHERE c.firm_id = firm AND c.list = counted
       AND c.slot = (SELECT s.slot FROM esqase.record_counts s
                      WHERE s.firm_id = firm AND s.list = counted
                      ORDER BY (s.slot - pg_backend_pid() % 16 + 16) % 16
                      LIMIT 1 FOR UPDATE SKIP LOCKED);
    IF FOUND THEN
        RETURN;
    END IF;
    FOR chosen IN SELECT g.s FROM generate_series(0, 15) AS g(s)
                   WHERE NOT EXISTS (SELECT FROM esqase.record_counts r
                                      WHERE r.firm_id = firm AND r.list = counted AND r.slot = g.s)
                   ORDER BY (g.s - pg_backend_pid() % 16 + 16) % 16 LOOP
        EXIT WHEN pg_try_advisory_xact_lock(hashtext(firm::text || counted), chosen);
        chosen := NULL;
    END LOOP;
    INSERT INTO esqase.record_counts AS c (firm_id, list, slot, n)
    VALUES (firm, counted, coalesce(chosen, pg_backend_pid() % 16), delta)
    ON CONFLICT ON CONSTRAINT record_counts_pkey DO UPDATE SET n = c.n + excluded.n;
END
$$;

CREATE FUNCTION esqase.lead_list(is_private boolean) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN is_private THEN 'leads_private' ELSE 'leads_public' END;

-- The lists of esqase.record_counts a row counts in: none once it is
-- soft-deleted; a contact that is a private lead's hidden prospect also in
-- contacts_private; a lead in leads_public or leads_private.
CREATE FUNCTION esqase.counted_in(r esqase.contacts) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN r.deleted_at IS NOT NULL THEN '{}'::text[]
            WHEN r.hidden_by_lead IS NULL THEN '{contacts}' ELSE '{contacts,contacts_private}' END;
CREATE FUNCTION esqase.counted_in(r esqase.matters) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN r.deleted_at IS NULL THEN '{matters}'::text[] ELSE '{}' END;
CREATE FUNCTION esqase.counted_in(r esqase.practice_areas) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN r.deleted_at IS NULL THEN '{practice_areas}'::text[] ELSE '{}' END;
CREATE FUNCTION esqase.counted_in(r esqase.leads) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN r.deleted_at IS NULL THEN ARRAY[esqase.lead_list(r.is_private)] ELSE '{}' END;

-- The count triggers' functions, one definition for the four counted
-- tables: esqase.count_contacts(), esqase.count_matters(),
-- esqase.count_practice_areas() and esqase.count_leads() are made here from
-- the text below, which differs between them only in the table's row type
-- (a statement trigger's transition rows are of type record, and the
-- overloaded esqase.counted_in needs to know which table they are).  A
-- statement trigger over the transition tables, so a statement that writes
-- many rows (a bulk load) changes each firm's count once: a new live row
-- counts +1 in each of its lists, an old one -1 (a soft delete -1, an UPDATE
-- that clears deleted_at +1).  Rows are grouped by firm and lists before
-- the lists are unnested (unnesting per row cost half as much again as the
-- whole count; grouped first, it measured no slower than the three
-- hand-written functions it replaced).  TRUNCATE empties the table's lists.
-- SECURITY DEFINER: no API role may write the counts.  Made at install
-- time: no EXECUTE when they run.
DO $do$
DECLARE
    t text[];
BEGIN
    FOREACH t SLICE 1 IN ARRAY ARRAY[['contacts', '{contacts,contacts_private}'],
                                     ['matters', '{matters}'],
                                     ['practice_areas', '{practice_areas}'],
                                     ['leads', '{leads_public,leads_private}']] LOOP
        EXECUTE format($f$
CREATE OR REPLACE FUNCTION esqase.%1$I() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $b$
BEGIN
    IF esqase.restoring(TG_RELID) THEN
        RETURN NULL;    -- the counts come with the dump
    END IF;
    IF TG_OP = 'INSERT' THEN
        PERFORM esqase.count_add(x.firm_id, l.list, sum(x.n)::bigint)
           FROM (SELECT r.firm_id, esqase.counted_in(r::esqase.%2$I) AS lists, count(*) AS n
                   FROM new_rows r GROUP BY 1, 2) x, unnest(x.lists) l (list)
          GROUP BY x.firm_id, l.list;
    ELSIF TG_OP = 'UPDATE' THEN
        PERFORM esqase.count_add(x.firm_id, l.list, sum(x.n)::bigint)
           FROM (SELECT y.firm_id, y.lists, sum(y.d) AS n
                   FROM (SELECT r.firm_id, esqase.counted_in(r::esqase.%2$I) AS lists, 1 AS d
                           FROM new_rows r
                         UNION ALL
                         SELECT r.firm_id, esqase.counted_in(r::esqase.%2$I), -1
                           FROM old_rows r) y
                  GROUP BY 1, 2) x, unnest(x.lists) l (list)
          GROUP BY x.firm_id, l.list HAVING sum(x.n) <> 0;
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM esqase.count_add(x.firm_id, l.list, -sum(x.n)::bigint)
           FROM (SELECT r.firm_id, esqase.counted_in(r::esqase.%2$I) AS lists, count(*) AS n
                   FROM old_rows r GROUP BY 1, 2) x, unnest(x.lists) l (list)
          GROUP BY x.firm_id, l.list;
    ELSE
        DELETE FROM esqase.record_counts WHERE list = ANY (%3$L::text[]);
    END IF;
    RETURN NULL;
END
$b$
$f$, 'count_' || t[1], t[1], t[2]);
    END LOOP;
END
$do$;

-- The search documents (q, esqase.search_query): a contact's name fields
-- (name holds first, middle and last name, or the company's name), nickname,
-- trade name, emails (also split at the @, so "example" finds
-- ann@example.com) and phones (also as bare digits); a matter's public id,
-- title and description.  Folded: case and accents do not count.
CREATE FUNCTION esqase.contact_search(c esqase.contacts) RETURNS tsvector
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN esqase.search_document(concat_ws(' ', c.name, c.nickname, c.trade_name,
                                        array_to_string(c.emails, ' '),
                                        translate(array_to_string(c.emails, ' '), '@', ' '),
                                        array_to_string(c.phones, ' '),
                                        regexp_replace(array_to_string(c.phones, ' '), '[^0-9 ]', '', 'g')));

CREATE FUNCTION esqase.matter_search(m esqase.matters) RETURNS tsvector
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN esqase.search_document(concat_ws(' ', m.public_id, m.title, m.description));

-- A contact's display name and search document follow its fields.  A
-- contact is hidden (hidden_by_lead) only when it is created; afterwards the
-- mark can only be cleared (esqase.publish_*_contact), so no one can hide an
-- existing contact from the rest of the firm.
CREATE FUNCTION esqase.contact_derive() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.hidden_by_lead IS DISTINCT FROM OLD.hidden_by_lead
       AND NEW.hidden_by_lead IS NOT NULL THEN
        PERFORM esqase.fail('42501', 'an existing contact cannot be hidden behind a private lead',
                            'hidden_by_lead');
    END IF;
    NEW.name := CASE NEW.type
                    WHEN 'PERSON' THEN concat_ws(' ', NEW.first_name, NEW.middle_name, NEW.last_name)
                    ELSE NEW.company_name
                END;
    NEW.search := esqase.contact_search(NEW);
    RETURN NEW;
END
$$;

-- A private lead's prospect stops being hidden once the firm uses it
-- elsewhere (a matter client: AFTER INSERT on matter_clients) or the lead is
-- made public (AFTER UPDATE OF is_private on leads).  SECURITY DEFINER: the
-- member acting may hold matters:write or leads:write, not contacts:write;
-- the policies have already checked that they see the contact or the lead.
CREATE FUNCTION esqase.publish_client_contact() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF esqase.restoring(TG_RELID) THEN
        RETURN NULL;    -- the contacts come with the dump as they were
    END IF;
    UPDATE esqase.contacts SET hidden_by_lead = NULL
     WHERE firm_id = NEW.firm_id AND id = NEW.contact_id AND hidden_by_lead IS NOT NULL;
    RETURN NULL;
END
$$;

CREATE FUNCTION esqase.publish_lead_contact() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF esqase.restoring(TG_RELID) THEN
        RETURN NULL;
    END IF;
    UPDATE esqase.contacts SET hidden_by_lead = NULL
     WHERE firm_id = NEW.firm_id AND hidden_by_lead = NEW.id;
    RETURN NULL;
END
$$;

CREATE FUNCTION esqase.matter_derive() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.search := esqase.matter_search(NEW);
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
CREATE TRIGGER matter_clients_publish AFTER INSERT ON esqase.matter_clients
    FOR EACH ROW EXECUTE FUNCTION esqase.publish_client_contact();
CREATE TRIGGER leads_publish AFTER UPDATE OF is_private ON esqase.leads
    FOR EACH ROW WHEN (OLD.is_private AND NOT NEW.is_private) EXECUTE FUNCTION esqase.publish_lead_contact();
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
                           t || '_count_' || e[1], e[2], t, e[3], 'count_' || t);
        END LOOP;
    END LOOP;
END
$$;
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
    INSERT INTO esqase.firms (name) VALUES (name) RETURNING id INTO firm;
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
    IF NOT EXISTS (SELECT FROM esqase.firms f WHERE f.id = esqase_create_member.firm_id) THEN
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

-- The one list of scopes is C's (src/context.c), which also turns a key's
-- scopes into the bits the row-level security policies test.
CREATE FUNCTION esqase.valid_scopes() RETURNS text[]
    AS 'MODULE_PATHNAME', 'esqase_valid_scopes' LANGUAGE C STABLE PARALLEL SAFE;

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
--
-- A private lead's prospect (contacts.hidden_by_lead set) is visible only to
-- those who see the lead: the firm's owners and the lead's assignees.  The
-- rule is written as the expression
--     hidden_by_lead IS NULL OR esqase.context_is_owner()
--         OR hidden_by_lead IN (SELECT esqase.assigned_leads())
-- in the list, the find, and the contacts policy (90_security.sql); its
-- sub-select runs once per query (a hashed SubPlan), like the leads rule.
-------------------------------------------------------------------------------

-- Whether the context may use the contact of its firm as a matter client:
-- it exists, is not a prospect hidden from the context, and (with live)
-- is not deleted.  SECURITY DEFINER: a key with matters:write may name a
-- client it cannot read (contacts:read); only the firm of the context is
-- asked, so it reveals nothing of other firms.
CREATE FUNCTION esqase.contact_usable(firm uuid, contact uuid, live boolean) RETURNS boolean
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RETURN firm = esqase.context_firm()
       AND EXISTS (SELECT FROM esqase.contacts c
                    WHERE c.firm_id = firm AND c.id = contact
                      AND (NOT live OR c.deleted_at IS NULL)
                      AND (c.hidden_by_lead IS NULL OR esqase.context_is_owner()
                           OR c.hidden_by_lead IN (SELECT esqase.assigned_leads())));
END
$$;

CREATE FUNCTION esqase.contact_person_fields() RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN ARRAY['prefix', 'firstName', 'middleName', 'lastName', 'suffix', 'nickname'];

CREATE FUNCTION esqase.contact_company_fields() RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN ARRAY['companyName', 'tradeName', 'companyType'];

CREATE FUNCTION esqase.contact_fields() RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN ARRAY['type', 'emails', 'phones'] || esqase.contact_person_fields() || esqase.contact_company_fields();

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

-- Returns the new contact's id.  No RETURNING: it would check the new row
-- against the SELECT policy, which a lead's prospect (created by a key with
-- leads:write alone) passes only once its lead exists.
CREATE FUNCTION esqase.contact_insert(firm uuid, c esqase.contacts) RETURNS uuid
LANGUAGE plpgsql AS $$
BEGIN
    c.id := gen_random_uuid();
    INSERT INTO esqase.contacts (firm_id, id, type, prefix, first_name, middle_name, last_name,
                                 suffix, nickname, company_name, trade_name, company_type,
                                 emails, phones, name, hidden_by_lead)
    VALUES (firm, c.id, c.type, c.prefix, c.first_name, c.middle_name, c.last_name,
            c.suffix, c.nickname, c.company_name, c.trade_name, c.company_type,
            coalesce(c.emails, '{}'), coalesce(c.phones, '{}'), '', c.hidden_by_lead);
    RETURN c.id;
END
$$;

-- The total of the contacts the context sees: every live contact for an
-- owner; for a member, less the hidden prospects (contacts_private), plus
-- those of the leads it is assigned to, counted by contacts_hidden_idx
-- (= ANY of an array: an IN (SELECT ...) here is planned as a hash join
-- over a scan of the firm's contacts).
CREATE FUNCTION esqase.contacts_total(firm uuid) RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF coalesce(esqase.context_is_owner(), false) THEN
        RETURN esqase.record_total(firm, 'contacts');
    END IF;
    RETURN esqase.record_total(firm, 'contacts') - esqase.record_total(firm, 'contacts_private')
         + (SELECT count(*) FROM esqase.contacts c
             WHERE c.firm_id = firm AND c.deleted_at IS NULL
               AND c.hidden_by_lead = ANY (ARRAY(SELECT esqase.assigned_leads())));
END
$$;

-- The ids of the firm's contacts whose search document matches q (all of
-- them, visible or not: the caller's query applies the visibility rules).
-- SECURITY DEFINER: under row-level security the match operator @@, not
-- leakproof, may not use the search index, and every match would be a scan
-- of the firm's contacts.  Only the firm of the context is asked.  A custom
-- plan per call: a generic one cannot tell a rare word from a common one.
CREATE FUNCTION esqase.contacts_found(firm uuid, q tsquery) RETURNS uuid[]
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    SET plan_cache_mode = force_custom_plan AS $$
BEGIN
    RETURN ARRAY(SELECT c.id FROM esqase.contacts c
                  WHERE firm = esqase.context_firm() AND c.firm_id = firm AND c.search @@ q);
END
$$;

-- The contacts the context sees that match a list request's filters: q
-- (the search document, contact_search), type, and list_match's.  Inlined
-- into contacts_keys and contacts_count (39_lists.sql).
CREATE FUNCTION esqase.contacts_matching(firm uuid, r esqase.page_request)
RETURNS TABLE (created_at timestamptz, updated_at timestamptz, name text, rank real, id uuid,
               deleted_at timestamptz)
LANGUAGE sql STABLE AS $$
    SELECT c.created_at, c.updated_at, c.name, esqase.list_rank(r, c.search), c.id, c.deleted_at
      FROM esqase.contacts c
     WHERE c.firm_id = firm
       AND esqase.list_match(r, c.deleted_at, c.status, c.created_at, c.updated_at)
       AND (r.q IS NULL OR c.id = ANY ((SELECT esqase.contacts_found(firm, r.tsq))::uuid[]))
       AND (r.type IS NULL OR c.type = r.type)
       AND (c.hidden_by_lead IS NULL OR esqase.context_is_owner()
            OR c.hidden_by_lead IN (SELECT esqase.assigned_leads()))
$$;

-- The API's entry points (json; the public esqase_contacts_* wrap them,
-- 92_public_api.sql); esqase.contacts_list is made in 39_lists.sql.
CREATE FUNCTION esqase.contacts_create(body jsonb, idempotency_key text DEFAULT NULL) RETURNS json
LANGUAGE plpgsql AS $$
DECLARE
    firm uuid := esqase.api_access('contacts', 'write');
    replay json := esqase.idempotency_begin(firm, 'contacts', body, idempotency_key);
    c esqase.contacts;
BEGIN
    IF replay IS NOT NULL THEN
        RETURN replay;
    END IF;
    PERFORM esqase.check_body(body, esqase.contact_fields());
    c.type := esqase.body_enum(body, 'type', '{PERSON,COMPANY}', true);
    c.id := esqase.contact_insert(firm, esqase.contact_apply(c, body));
    RETURN esqase.idempotency_end(firm, idempotency_key, esqase.contact_one(firm, c.id));
END
$$;

CREATE FUNCTION esqase.contacts_update(id uuid, body jsonb, expected_updated_at timestamptz DEFAULT NULL)
RETURNS json
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


-------------------------------------------------------------------------------
-- 31 Practice areas: a name, with three default stages seeded by trigger
-- (20_triggers.sql).  Read, create and list return stages and matterTypes.
-- Read, rename (the update), delete: generated in 36_records.sql.
-------------------------------------------------------------------------------

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

-- The practice areas that match a list request's filters (list_match's);
-- see contacts_matching.
CREATE FUNCTION esqase.practice_areas_matching(firm uuid, r esqase.page_request)
RETURNS TABLE (created_at timestamptz, updated_at timestamptz, name text, rank real, id uuid,
               deleted_at timestamptz)
LANGUAGE sql STABLE AS $$
    SELECT p.created_at, p.updated_at, p.name, NULL::real, p.id, p.deleted_at
      FROM esqase.practice_areas p
     WHERE p.firm_id = firm
       AND esqase.list_match(r, p.deleted_at, p.status, p.created_at, p.updated_at)
$$;

CREATE FUNCTION esqase.practice_areas_create(body jsonb, idempotency_key text DEFAULT NULL) RETURNS json
LANGUAGE plpgsql AS $$
DECLARE
    firm uuid := esqase.api_access('practice-areas', 'write');
    replay json := esqase.idempotency_begin(firm, 'practice-areas', body, idempotency_key);
    created uuid;
BEGIN
    IF replay IS NOT NULL THEN
        RETURN replay;
    END IF;
    PERFORM esqase.check_body(body, '{name}');
    INSERT INTO esqase.practice_areas (firm_id, name)
    VALUES (firm, btrim(esqase.body_text(body, 'name', true, 200)))
    RETURNING id INTO created;
    RETURN esqase.idempotency_end(firm, idempotency_key, esqase.practice_area_one(firm, created));
END
$$;


-------------------------------------------------------------------------------
-- 32 Matter types: a named sub-type of one practice area.  Listing needs the
-- practiceAreaId query parameter; a type never moves to another area.
-- Read, rename (the update), delete: generated in 36_records.sql.
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
-- none twice; each active and not a prospect hidden from the context, or in
-- keep (already a client: a contact deleted since may stay, but cannot be
-- added).  Naming a client needs matters:write, not contacts:read
-- (esqase.contact_usable).
CREATE FUNCTION esqase.matter_clients_from(firm uuid, body jsonb, keep uuid[] DEFAULT '{}')
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
CREATE FUNCTION esqase.matter_team_from(firm uuid, body jsonb, keep uuid[] DEFAULT '{}')
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

-- The ids of the firm's matters that match q: by their own search
-- document (matter_search) or one of their clients' (contact_search).  See
-- contacts_found: SECURITY DEFINER so that the search indexes serve it.
CREATE FUNCTION esqase.matters_found(firm uuid, q tsquery) RETURNS uuid[]
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    SET plan_cache_mode = force_custom_plan AS $$
BEGIN
    IF firm IS DISTINCT FROM esqase.context_firm() THEN
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
CREATE FUNCTION esqase.matters_matching(firm uuid, r esqase.page_request)
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

CREATE FUNCTION esqase.matters_create(body jsonb, idempotency_key text DEFAULT NULL) RETURNS json
LANGUAGE plpgsql AS $$
DECLARE
    firm uuid := esqase.api_access('matters', 'write');
    replay json := esqase.idempotency_begin(firm, 'matters', body, idempotency_key);
    m esqase.matters;
    created esqase.matters;
    clients uuid[];
    team jsonb;
BEGIN
    IF replay IS NOT NULL THEN
        RETURN replay;
    END IF;
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
    RETURN esqase.idempotency_end(firm, idempotency_key, esqase.matter_one(firm, m.id));
END
$$;

CREATE FUNCTION esqase.matters_update(id uuid, body jsonb, expected_updated_at timestamptz DEFAULT NULL)
RETURNS json
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


-------------------------------------------------------------------------------
-- 34 Leads: a prospect in the firm's intake pipeline.  Creating a lead
-- creates its brand-new contact (contact_apply/contact_insert, 30_contacts.sql)
-- in the same transaction.  Private leads are visible only to their assignees
-- and the firm's owners: esqase.lead_visible() is used both by these
-- functions and by the RLS policies on esqase.leads (90_security.sql).
-------------------------------------------------------------------------------

-- Who sees a private lead: its assignees and the firm's owners.  The rule
-- is written twice, for two costs: lead_visible() for one lead (find,
-- delete), and, for scans of many leads (the RLS policies in
-- 90_security.sql and the list page), the expression
--     NOT is_private OR esqase.context_is_owner() OR id IN (SELECT esqase.assigned_leads())
-- whose sub-select PostgreSQL runs once per query (a hashed SubPlan).

-- The leads the API context's member is assigned to.  SECURITY DEFINER:
-- the lead_assignees policy asks the leads policy, which asks this; read
-- under that policy it would recurse.  plpgsql keeps its plan.
CREATE FUNCTION esqase.assigned_leads() RETURNS SETOF uuid
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RETURN QUERY SELECT a.lead_id FROM esqase.lead_assignees a
                  WHERE a.firm_id = esqase.context_firm() AND a.member_id = esqase.context_member();
END
$$;

-- Whether the lead of the context's firm was inserted by this transaction:
-- its first assignees are written before anyone can see a new private lead
-- (the lead_assignees policy, 90_security.sql).  SECURITY DEFINER, since the
-- new private lead is not yet visible to its creator.
CREATE FUNCTION esqase.lead_new_here(firm uuid, lead uuid) RETURNS boolean
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RETURN firm = esqase.context_firm()
       AND EXISTS (SELECT FROM esqase.leads l
                    WHERE l.firm_id = firm AND l.id = lead AND esqase.written_here(l.xmin));
END
$$;

-- Whether the API context may see a lead.  Without a context nothing is
-- visible (the policies also require the context's firm).
CREATE FUNCTION esqase.lead_visible(lead_firm uuid, lead uuid, private boolean) RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN NOT private
        OR coalesce(esqase.context_is_owner(), false)
        OR EXISTS (SELECT FROM esqase.lead_assignees a
                    WHERE a.firm_id = lead_firm AND a.member_id = esqase.context_member()
                      AND a.lead_id = lead);
END
$$;

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
-- add_assignees returns whether it changed anything.
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

CREATE FUNCTION esqase.lead_prune_assignees(l esqase.leads, ids uuid[]) RETURNS void
LANGUAGE sql AS $$
    DELETE FROM esqase.lead_assignees
     WHERE ids IS NOT NULL AND firm_id = l.firm_id AND lead_id = l.id AND NOT member_id = ANY (ids);
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

-- The leads the context sees that match a list request's filters: q and
-- order=name go by the lead's contact (contacts_found, its name),
-- practiceAreaId, stageId, and list_match's; see contacts_matching.  The
-- contact is a LEFT JOIN on its key, which the planner drops when neither q
-- nor the name order asks for it.
CREATE FUNCTION esqase.leads_matching(firm uuid, r esqase.page_request)
RETURNS TABLE (created_at timestamptz, updated_at timestamptz, name text, rank real, id uuid,
               deleted_at timestamptz)
LANGUAGE sql STABLE AS $$
    SELECT l.created_at, l.updated_at, c.name, esqase.list_rank(r, c.search), l.id, l.deleted_at
      FROM esqase.leads l
      LEFT JOIN esqase.contacts c ON c.firm_id = l.firm_id AND c.id = l.contact_id
     WHERE l.firm_id = firm
       AND esqase.list_match(r, l.deleted_at, l.status, l.created_at, l.updated_at)
       AND (r.q IS NULL OR l.contact_id = ANY ((SELECT esqase.contacts_found(firm, r.tsq))::uuid[]))
       AND (r.area IS NULL OR l.practice_area_id = r.area)
       AND (r.stage IS NULL OR l.stage_id = r.stage)
       AND (NOT l.is_private OR esqase.context_is_owner() OR l.id IN (SELECT esqase.assigned_leads()))
$$;

-- Everything is checked before anything is written: an invalid lead leaves
-- no contact behind and uses up no public id.
CREATE FUNCTION esqase.leads_create(body jsonb, idempotency_key text DEFAULT NULL) RETURNS json
LANGUAGE plpgsql AS $$
DECLARE
    firm uuid := esqase.api_access('leads', 'write');
    replay json := esqase.idempotency_begin(firm, 'leads', body, idempotency_key);
    c esqase.contacts;
    l esqase.leads;
    email text;
    phone text;
    assignees uuid[];
    conflict text;
BEGIN
    IF replay IS NOT NULL THEN
        RETURN replay;
    END IF;
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

    -- A private lead's prospect is hidden with it (30_contacts.sql).
    l.id := gen_random_uuid();
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
            IF conflict IS DISTINCT FROM 'leads_firm_id_public_id_key' THEN
                RAISE;
            END IF;
        END;
    END LOOP;
    PERFORM esqase.lead_add_assignees(l, assignees);
    RETURN esqase.idempotency_end(firm, idempotency_key, esqase.lead_one(firm, l.id));
END
$$;

CREATE FUNCTION esqase.leads_update(id uuid, body jsonb, expected_updated_at timestamptz DEFAULT NULL)
RETURNS json
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


-------------------------------------------------------------------------------
-- 35 Members: read-only over the API (GET /v1/members and /v1/members/{id},
-- scope members:read), so that an integration can find the ids a matter's
-- team and a lead's assignees take.  Members are created and deactivated by
-- a DBA (25_admin.sql); a deactivated member (deleted_at set) is still
-- listed, with status INACTIVE, because matters and leads may still name it.
-------------------------------------------------------------------------------

CREATE FUNCTION esqase.member_docs(firm uuid, ids uuid[]) RETURNS TABLE (n bigint, doc json)
LANGUAGE sql STABLE AS $$
    SELECT u.n, json_build_object(
        'id', m.id, 'name', m.name, 'email', m.email, 'isOwner', m.is_owner,
        'permissions', to_json(m.permissions),
        'status', CASE WHEN m.deleted_at IS NULL THEN 'ACTIVE' ELSE 'INACTIVE' END,
        'createdAt', esqase.ts(m.created_at), 'updatedAt', esqase.ts(m.updated_at))
      FROM unnest(ids) WITH ORDINALITY AS u(id, n)
      JOIN esqase.members m ON m.firm_id = firm AND m.id = u.id
$$;

-- The members that match a list request's filters (status ACTIVE or
-- INACTIVE, list_match's); a deactivated member is listed, not deleted.
CREATE FUNCTION esqase.members_matching(firm uuid, r esqase.page_request)
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
CREATE FUNCTION esqase.members_get(id uuid) RETURNS json
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

-------------------------------------------------------------------------------
-- 36 Single records: finding, rendering, reading and deleting one record are
-- the same for every resource but for its table, its name in messages and
-- who may see it, so they are written once here and generated per resource
-- at install time (static SQL in every generated body: plans stay cached).
-- Generated here:
--
--   esqase.{contact,practice_area,matter_type,matter,lead,member}_one(firm, record_id)
--       {"data": record}, noting its version for the ETag (esqase.one_version)
--   esqase.{contact,practice_area,matter_type,matter,lead}_find(firm, record_id,
--           field, for_update, expected)
--       the live row the context may see, else 404 (a 422 on field when a
--       body field named it); with for_update locked, then its updated_at
--       checked against expected (esqase.check_version, HTTP 412)
--   esqase.{contacts,practice_areas,matter_types,matters,leads}_get(id)
--   esqase.{contacts,practice_areas,matter_types,matters,leads}_delete(id, expected_updated_at)
--       soft delete: deleted_at set, and the archived status of contacts,
--       practice areas and matter types (ARCHIVED) and matters (ARCHIVE); a
--       matter keeps its clients and team, a lead's contact stays a contact
--
--   esqase.{practice_areas,matter_types}_update(id, body, expected_updated_at)
--       a rename: their only changeable field is name
--
-- The create and list functions, and the other updates, stay in each
-- resource's file.
-------------------------------------------------------------------------------

DO $gen$
DECLARE
    -- singular, table, name in messages, who may see row r, what a delete sets
    r text[];
BEGIN
    FOREACH r SLICE 1 IN ARRAY ARRAY[
            ['contact', 'contacts', 'contact',
             'r.hidden_by_lead IS NULL OR esqase.context_is_owner() OR r.hidden_by_lead IN (SELECT esqase.assigned_leads())',
             'status = ''ARCHIVED'', deleted_at = now()'],
            ['practice_area', 'practice_areas', 'practice area', 'true',
             'status = ''ARCHIVED'', deleted_at = now()'],
            ['matter_type', 'matter_types', 'matter type', 'true',
             'status = ''ARCHIVED'', deleted_at = now()'],
            ['matter', 'matters', 'matter', 'true',
             'status = ''ARCHIVE'', deleted_at = now()'],
            ['lead', 'leads', 'lead', 'esqase.lead_visible(r.firm_id, r.id, r.is_private)',
             'deleted_at = now()'],
            ['member', 'members', 'member', NULL, NULL]] LOOP
        EXECUTE format($f$
CREATE OR REPLACE FUNCTION esqase.%1$s_one(firm uuid, record_id uuid) RETURNS json
LANGUAGE plpgsql STABLE AS $$
DECLARE
    doc json;
    version timestamptz;
BEGIN
    SELECT d.doc, t.updated_at INTO doc, version
      FROM esqase.%1$s_docs(firm, ARRAY[record_id]) d
      JOIN esqase.%2$I t ON t.firm_id = firm AND t.id = record_id;
    RETURN esqase.one_version(doc, version);
END
$$$f$, r[1], r[2]);
        CONTINUE WHEN r[1] = 'member';   -- read-only, inactive members included (35_members.sql)

        EXECUTE format($f$
CREATE OR REPLACE FUNCTION esqase.%1$s_find(firm uuid, record_id uuid, field text DEFAULT NULL,
                                            for_update boolean DEFAULT false,
                                            expected timestamptz DEFAULT NULL)
RETURNS esqase.%2$I LANGUAGE plpgsql AS $$
DECLARE
    rec esqase.%2$I;
BEGIN
    -- who may see the row is part of the query (one plan, no second
    -- statement to evaluate it)
    IF for_update THEN
        SELECT * INTO rec FROM esqase.%2$I r
         WHERE r.firm_id = firm AND r.id = record_id AND r.deleted_at IS NULL AND (%4$s) FOR UPDATE;
    ELSE
        SELECT * INTO rec FROM esqase.%2$I r
         WHERE r.firm_id = firm AND r.id = record_id AND r.deleted_at IS NULL AND (%4$s);
    END IF;
    IF NOT FOUND THEN
        IF field IS NULL THEN
            PERFORM esqase.not_found(%3$L, record_id);
        END IF;
        PERFORM esqase.fail('23514', format('%%s: %%s %%s not found', field, %3$L, record_id), field);
    END IF;
    IF expected IS NOT NULL THEN
        PERFORM esqase.check_version(%3$L, record_id, rec.updated_at, expected);
    END IF;
    RETURN rec;
END
$$$f$, r[1], r[2], r[3], r[4]);

        EXECUTE format($f$
CREATE OR REPLACE FUNCTION esqase.%2$s_get(id uuid) RETURNS json
LANGUAGE plpgsql STABLE AS $$
DECLARE
    firm uuid := esqase.api_access(%3$L, 'read');
BEGIN
    RETURN esqase.%1$s_one(firm, (esqase.%1$s_find(firm, id)).id);
END
$$$f$, r[1], r[2], replace(r[2], '_', '-'));

        EXECUTE format($f$
CREATE OR REPLACE FUNCTION esqase.%2$s_delete(id uuid, expected_updated_at timestamptz DEFAULT NULL)
RETURNS json LANGUAGE plpgsql AS $$
DECLARE
    firm uuid := esqase.api_access(%3$L, 'write');
    deleted uuid := (esqase.%1$s_find(firm, id, NULL, true, expected_updated_at)).id;
BEGIN
    UPDATE esqase.%2$I t SET %4$s WHERE t.firm_id = firm AND t.id = deleted;
    RETURN esqase.%1$s_one(firm, deleted);
END
$$$f$, r[1], r[2], replace(r[2], '_', '-'), r[5]);
    END LOOP;

    -- singular, table, the response's fields a PATCH cannot set
    FOREACH r SLICE 1 IN ARRAY ARRAY[
            ['practice_area', 'practice_areas', '{stages,matterTypes,status}'],
            ['matter_type', 'matter_types', '{practiceAreaId,status}']] LOOP
        EXECUTE format($f$
CREATE OR REPLACE FUNCTION esqase.%2$s_update(id uuid, body jsonb, expected_updated_at timestamptz DEFAULT NULL)
RETURNS json LANGUAGE plpgsql AS $$
DECLARE
    firm uuid := esqase.api_access(%3$L, 'write');
    record_id uuid;
    new_name text;
BEGIN
    PERFORM esqase.check_body(body, '{name}', %4$L);
    record_id := (esqase.%1$s_find(firm, id, NULL, true, expected_updated_at)).id;
    IF body ? 'name' THEN
        new_name := btrim(esqase.body_text(body, 'name', true, 200));
        -- a rename to the same name writes nothing (updatedAt, audit log)
        UPDATE esqase.%2$I t SET name = new_name
         WHERE t.firm_id = firm AND t.id = record_id AND t.name IS DISTINCT FROM new_name;
    END IF;
    RETURN esqase.%1$s_one(firm, record_id);
END
$$$f$, r[1], r[2], replace(r[2], '_', '-'), r[3]);
    END LOOP;
END
$gen$;

-------------------------------------------------------------------------------
-- 39 Lists: the page query and filtered count of every list, generated from
-- one definition.  The parameters, cursors and the folded parts of the
-- query are in 10_core.sql (list_request, list_match, list_key, ...); what
-- each list matches is its _matching function, in its resource's file.
-------------------------------------------------------------------------------

-- The page query and the filtered count of every list, written once and
-- generated at install time for each list from its _matching function
-- (the records the context sees that match the request's filters):
--   esqase.contacts_keys,       esqase.contacts_count
--   esqase.practice_areas_keys, esqase.practice_areas_count
--   esqase.matter_types_keys,   esqase.matter_types_count
--   esqase.matters_keys,        esqase.matters_count
--   esqase.leads_keys,          esqase.leads_count
--   esqase.members_keys,        esqase.members_count
-- Plain PL/pgSQL functions with cached plans, no EXECUTE on the request
-- path; force_custom_plan so that each request's plan is folded to its
-- filters and order (see list_request).  _keys returns the page's keys
-- (one more than the limit); _count the exact number of matching records.
DO $$
DECLARE
    list text;
BEGIN
    FOREACH list IN ARRAY ARRAY['contacts', 'practice_areas', 'matter_types', 'matters', 'leads', 'members'] LOOP
        EXECUTE format($f$
CREATE FUNCTION esqase.%1$s_keys(firm uuid, r esqase.page_request) RETURNS esqase.page_key[]
LANGUAGE plpgsql STABLE SET plan_cache_mode = force_custom_plan AS $b$
BEGIN
    RETURN ARRAY(SELECT esqase.list_key(r, k.created_at, k.updated_at, k.name, k.rank, k.id, k.deleted_at)
                   FROM esqase.%1$s_matching(firm, r) k
                  WHERE esqase.list_after(r, k.created_at, k.updated_at, k.name, k.rank, k.id)
                  ORDER BY esqase.sort_rank(r, k.rank) DESC,
                           esqase.sort_at(r, false, k.created_at, k.updated_at),
                           esqase.sort_at(r, true, k.created_at, k.updated_at) DESC,
                           esqase.sort_name(r, false, k.name), esqase.sort_name(r, true, k.name) DESC,
                           esqase.sort_id(r, false, k.id), esqase.sort_id(r, true, k.id) DESC
                  LIMIT r.lim + 1 OFFSET r.off);
END
$b$
$f$, list);
        EXECUTE format($f$
CREATE FUNCTION esqase.%1$s_count(firm uuid, r esqase.page_request) RETURNS bigint
LANGUAGE plpgsql STABLE SET plan_cache_mode = force_custom_plan AS $b$
BEGIN
    RETURN (SELECT count(*) FROM esqase.%1$s_matching(firm, r) k);
END
$b$
$f$, list);
    END LOOP;
END
$$;

-- The list functions, esqase.<list>_list(params jsonb) RETURNS json, written
-- once and generated here for each list (the public esqase_<list>_list wrap
-- them, 92_public_api.sql):
--   esqase.contacts_list, esqase.practice_areas_list, esqase.matter_types_list,
--   esqase.matters_list, esqase.leads_list, esqase.members_list
-- A plain list (no filter, no order) reads its page's keys by an index-only
-- scan of (firm_id, created_at, id) under a generic plan, then renders only
-- those rows, with the maintained total (record_counts); any other is
-- <list>_keys and <list>_count.  Matter types (of one practice area) and
-- members are few: their total is always counted, by index.  What differs
-- per list is data below: its resource as the API names it, which rows a
-- plain list shows (besides firm_id; the table's alias is t), its renderer,
-- its plain total, and a check before the page.
DO $$
DECLARE
    l text[];
BEGIN
    FOREACH l SLICE 1 IN ARRAY ARRAY[
            ['contacts', 'contacts',
             't.deleted_at IS NULL AND (t.hidden_by_lead IS NULL OR esqase.context_is_owner()
                                OR t.hidden_by_lead IN (SELECT esqase.assigned_leads()))',
             'contact_docs', 'esqase.contacts_total(firm)', ''],
            ['practice_areas', 'practice-areas', 't.deleted_at IS NULL',
             'practice_area_docs', 'esqase.record_total(firm, ''practice_areas'')', ''],
            ['matter_types', 'matter-types', 't.practice_area_id = page.area AND t.deleted_at IS NULL',
             'matter_type_docs', 'esqase.matter_types_count(firm, page)',
             'IF NOT EXISTS (SELECT FROM esqase.practice_areas
                    WHERE firm_id = firm AND id = page.area AND deleted_at IS NULL) THEN
        PERFORM esqase.fail(''P0002'', format(''practice area %s not found'', page.area), ''practiceAreaId'');
    END IF;'],
            ['matters', 'matters', 't.deleted_at IS NULL',
             'matter_docs', 'esqase.record_total(firm, ''matters'')', ''],
            ['leads', 'leads',
             't.deleted_at IS NULL AND (NOT t.is_private OR esqase.context_is_owner()
                                OR t.id IN (SELECT esqase.assigned_leads()))',
             'lead_docs', 'esqase.leads_total(firm)', ''],
            ['members', 'members', 'true', 'member_docs', 'esqase.members_count(firm, page)', '']] LOOP
        EXECUTE format($f$
CREATE OR REPLACE FUNCTION esqase.%1$s_list(params jsonb) RETURNS json
LANGUAGE plpgsql STABLE SET plan_cache_mode = force_generic_plan AS $b$
DECLARE
    firm uuid := esqase.api_access(%2$L, 'read');
    page esqase.page_request := esqase.list_request(params, %2$L);
    keys esqase.page_key[];
BEGIN
    %6$s
    IF page.plain THEN
        keys := ARRAY(SELECT ROW(k.created_at, k.id, NULL, NULL, NULL)::esqase.page_key
                       FROM (SELECT t.created_at, t.id FROM esqase.%1$s t
                         WHERE t.firm_id = firm AND %3$s
                           AND (t.created_at, t.id) > ((page.after).at, (page.after).id)
                         ORDER BY t.created_at, t.id LIMIT page.lim + 1 OFFSET page.off) k);
    ELSE
        keys := esqase.%1$s_keys(firm, page);
    END IF;
    RETURN esqase.list_json(%1$L, page, keys,
        (SELECT json_agg(esqase.list_doc(page, keys[d.n], d.doc) ORDER BY d.n)
           FROM esqase.%4$s(firm, esqase.page_ids(keys, page.lim)) d),
        CASE WHEN NOT esqase.list_filtered(page) THEN %5$s ELSE esqase.%1$s_count(firm, page) END);
END
$b$
$f$, l[1], l[2], l[3], l[4], l[5], l[6]);
    END LOOP;
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
                             'leads', 'lead_assignees', 'audit_log', 'record_counts'] LOOP
        EXECUTE format('ALTER TABLE esqase.%I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE esqase.%I FORCE ROW LEVEL SECURITY', t);
        PERFORM pg_catalog.pg_extension_config_dump(format('esqase.%I', t), '');
        CONTINUE WHEN t = 'audit_log';

        -- Counters are bookkeeping: their values follow from the records
        -- the audit log already records, so they are not audited themselves.
        IF t NOT IN ('public_id_counters', 'record_counts') THEN
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

-- Row-level security enforces the API's own rules, per table and command,
-- so that a member's SQL under the API role can do what its key can do over
-- HTTP and no more (docs/sql-api.md, "Row-level security"; the matrix test
-- test/sql/55_rls_matrix.sql).  Every policy starts with the firm of the
-- context; then:
--  * the key's scopes, through esqase.context_may() (a bit test in C; for
--    practice-areas and matter-types it includes the member's Practice areas
--    permission).  A table is readable with the scopes whose API responses
--    show its rows: a practice area's name shows in matters and leads, a
--    contact's in the matters it is a client of and in its lead.  Writes need
--    the write scope of the resource the table belongs to (stages follow
--    practice areas, counters and link tables their owning resource).
--  * private leads, and the prospects they created (contacts.hidden_by_lead),
--    are visible to the firm's owners and the lead's assignees only.  Their
--    sub-select, SELECT esqase.assigned_leads(), runs once per query (a
--    hashed SubPlan), not once per row.
--  * lead_assignees rows are visible and writable only where their lead is
--    (a per-row probe of the lead by primary key), or while the lead is new
--    in this very transaction (its first assignees).
-- deleted_at is not in the policies (a soft delete's new row must pass
-- them); the functions filter deleted rows.  The functions also check all
-- of this themselves, with the API's error messages: the policies are the
-- backstop.  api_keys and audit_log have no policy: the API role has no
-- privilege on them, and with row-level security forced, no policy means
-- no row for anyone but a superuser.
DO $$
DECLARE
    r text[];
    contact_visible text := '(hidden_by_lead IS NULL OR esqase.context_is_owner() '
                            'OR hidden_by_lead IN (SELECT esqase.assigned_leads()))';
    lead_visible text := '(NOT is_private OR esqase.context_is_owner() '
                         'OR id IN (SELECT esqase.assigned_leads()))';
    assignee_visible text := '(esqase.context_is_owner() '
                             'OR EXISTS (SELECT FROM esqase.leads l WHERE l.firm_id = lead_assignees.firm_id '
                                                                    'AND l.id = lead_assignees.lead_id) '
                             'OR esqase.lead_new_here(firm_id, lead_id))';
    contacts_read text := '(esqase.context_may(''contacts:read'') OR esqase.context_may(''contacts:write''))';
    matters_read text := '(esqase.context_may(''matters:read'') OR esqase.context_may(''matters:write''))';
    leads_read text := '(esqase.context_may(''leads:read'') OR esqase.context_may(''leads:write''))';
    areas_read text := '(esqase.context_may(''practice-areas:read'') OR esqase.context_may(''practice-areas:write''))';
    types_read text := '(esqase.context_may(''matter-types:read'') OR esqase.context_may(''matter-types:write''))';
BEGIN
    -- table, SELECT, write scope (NULL: not written through the API), the
    -- row rule updates and deletes also need, extra check on new rows
    FOREACH r SLICE 1 IN ARRAY ARRAY[
        ['firms', 'true', NULL, NULL, NULL],
        ['members', matters_read || ' OR ' || leads_read || ' OR esqase.context_may(''members:read'')', NULL, NULL, NULL],
        ['contacts', contact_visible || ' AND (' || contacts_read
                     || ' OR (' || matters_read || ' AND EXISTS (SELECT FROM esqase.matter_clients mc'
                     || ' WHERE mc.firm_id = contacts.firm_id AND mc.contact_id = contacts.id))'
                     || ' OR (' || leads_read || ' AND EXISTS (SELECT FROM esqase.leads l'
                     || ' WHERE l.firm_id = contacts.firm_id AND l.contact_id = contacts.id)))',
                     -- a lead's prospect is created with leads:write
                     'contacts:write', contact_visible, 'esqase.context_may(''contacts:write'') OR esqase.context_may(''leads:write'')'],
        ['practice_areas', areas_read || ' OR ' || types_read || ' OR ' || matters_read || ' OR ' || leads_read,
                           'practice-areas:write', NULL, NULL],
        ['practice_area_stages', areas_read || ' OR ' || matters_read, 'practice-areas:write', NULL, NULL],
        ['matter_types', types_read || ' OR ' || areas_read || ' OR ' || matters_read, 'matter-types:write', NULL, NULL],
        ['public_id_counters', NULL, NULL, NULL, NULL],
        ['matters', matters_read, 'matters:write', NULL, NULL],
        ['matter_clients', matters_read, 'matters:write', NULL,
                           'esqase.context_may(''matters:write'') AND esqase.contact_usable(firm_id, contact_id, false)'],
        ['matter_team', matters_read, 'matters:write', NULL, NULL],
        ['lead_stages', leads_read, NULL, NULL, NULL],
        ['leads', leads_read || ' AND ' || lead_visible, 'leads:write', lead_visible, NULL],
        ['lead_assignees', leads_read || ' AND ' || assignee_visible, 'leads:write', assignee_visible,
                           'esqase.context_may(''leads:write'') AND ' || assignee_visible],
        ['record_counts', 'esqase.context_may(CASE list WHEN ''matters'' THEN ''matters:read'' '
                          'WHEN ''practice_areas'' THEN ''practice-areas:read'' '
                          'WHEN ''leads_public'' THEN ''leads:read'' WHEN ''leads_private'' THEN ''leads:read'' '
                          'ELSE ''contacts:read'' END)', NULL, NULL, NULL]] LOOP
        IF r[1] = 'public_id_counters' THEN
            -- the M counter follows matters, the L counter leads
            r[2] := '(kind = ''M'' AND esqase.context_may(''matters:write'')) '
                    'OR (kind = ''L'' AND esqase.context_may(''leads:write''))';
            r[3] := '';
        END IF;
        -- (the firm's own row is keyed id: firms has no firm_id)
        EXECUTE format('CREATE POLICY %I ON esqase.%I FOR SELECT USING (%I = esqase.context_firm() AND (%s))',
                       r[1] || '_select', r[1], CASE r[1] WHEN 'firms' THEN 'id' ELSE 'firm_id' END, r[2]);
        CONTINUE WHEN r[3] IS NULL;
        IF r[3] = '' THEN
            r[3] := r[2];       -- the counter rule is its own write scope
        ELSE
            r[3] := format('esqase.context_may(%L)', r[3]);
        END IF;
        EXECUTE format('CREATE POLICY %I ON esqase.%I FOR INSERT WITH CHECK (firm_id = esqase.context_firm() AND (%s))',
                       r[1] || '_insert', r[1], coalesce(r[5], r[3]));
        EXECUTE format('CREATE POLICY %I ON esqase.%I FOR UPDATE USING (firm_id = esqase.context_firm() AND (%s)%s) '
                       'WITH CHECK (firm_id = esqase.context_firm() AND (%s))',
                       r[1] || '_update', r[1], r[3], ' AND ' || r[4], coalesce(r[5], r[3]));
        EXECUTE format('CREATE POLICY %I ON esqase.%I FOR DELETE USING (firm_id = esqase.context_firm() AND (%s)%s)',
                       r[1] || '_delete', r[1], r[3], ' AND ' || r[4]);
    END LOOP;
END
$$;

-- Idempotency keys (15_idempotency.sql): bookkeeping of the creates, not
-- audited (a replay writes no audit row; the record a create makes is
-- audited as always).  A key sees and writes only its own rows, for the
-- resources it may create; nobody deletes through the API (the sweep runs
-- as the HTTP worker's superuser).
ALTER TABLE esqase.idempotency_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE esqase.idempotency_keys FORCE ROW LEVEL SECURITY;
SELECT pg_catalog.pg_extension_config_dump('esqase.idempotency_keys', '');
GRANT SELECT, INSERT, UPDATE ON esqase.idempotency_keys TO esqase_api;
CREATE POLICY idempotency_keys_select ON esqase.idempotency_keys FOR SELECT
    USING (firm_id = esqase.context_firm() AND key_id = esqase.context_key()
           AND esqase.context_may(resource || ':write'));
CREATE POLICY idempotency_keys_insert ON esqase.idempotency_keys FOR INSERT
    WITH CHECK (firm_id = esqase.context_firm() AND key_id = esqase.context_key()
                AND esqase.context_may(resource || ':write'));
CREATE POLICY idempotency_keys_update ON esqase.idempotency_keys FOR UPDATE
    USING (firm_id = esqase.context_firm() AND key_id = esqase.context_key()
           AND esqase.context_may(resource || ':write'))
    WITH CHECK (firm_id = esqase.context_firm() AND key_id = esqase.context_key()
                AND esqase.context_may(resource || ':write'));

-------------------------------------------------------------------------------
-- 92 The public SQL API: esqase_<resource>_<action>, in the extension's
-- schema, taking and returning jsonb (design.md).  Each is a one-line SQL
-- wrapper, inlined by PostgreSQL, over the json function of the resource's
-- file (esqase.<resource>_<action>), which the HTTP worker calls directly
-- so that responses keep the API page's field order.  Generated here:
--
--   esqase_contacts_{list,create,get,update,delete}
--   esqase_matters_{list,create,get,update,delete}
--   esqase_leads_{list,create,get,update,delete}
--   esqase_practice_areas_{list,create,get,update,delete}
--   esqase_matter_types_{list,create,get,update,delete}
--   esqase_members_{list,get}                 (members are read-only)
--
-- Every create takes an optional idempotency key (15_idempotency.sql):
-- esqase_<resource>_create(body jsonb, idempotency_key text DEFAULT NULL);
-- update and delete the version the caller read (36_records.sql):
-- expected_updated_at timestamptz DEFAULT NULL.
-------------------------------------------------------------------------------

DO $$
DECLARE
    r text;
    -- action, arguments, call arguments, volatility
    a text[];
BEGIN
    FOREACH r IN ARRAY ARRAY['contacts', 'matters', 'leads', 'practice_areas', 'matter_types', 'members'] LOOP
        FOREACH a SLICE 1 IN ARRAY ARRAY[
                ['list', 'params jsonb DEFAULT ''{}''', 'params', 'STABLE'],
                ['create', 'body jsonb, idempotency_key text DEFAULT NULL', 'body, idempotency_key', 'VOLATILE'],
                ['get', 'id uuid', 'id', 'STABLE'],
                ['update', 'id uuid, body jsonb, expected_updated_at timestamptz DEFAULT NULL',
                 'id, body, expected_updated_at', 'VOLATILE'],
                ['delete', 'id uuid, expected_updated_at timestamptz DEFAULT NULL', 'id, expected_updated_at',
                 'VOLATILE']] LOOP
            CONTINUE WHEN r = 'members' AND a[1] NOT IN ('list', 'get');
            EXECUTE format('CREATE OR REPLACE FUNCTION %I(%s) RETURNS jsonb LANGUAGE sql %s RETURN esqase.%I(%s)::jsonb',
                           'esqase_' || r || '_' || a[1], a[2], a[4], r || '_' || a[1], a[3]);
        END LOOP;
    END LOOP;
END
$$;
-------------------------------------------------------------------------------
-- 93 HTTP metrics (src/http_stats.c): counters the HTTP workers keep in
-- shared memory, all workers together, since the server started or the last
-- esqase.http_stats_reset().  Empty without shared_preload_libraries.
-------------------------------------------------------------------------------
CREATE FUNCTION esqase.http_stats_read(OUT route text, OUT method text, OUT status integer,
                                       OUT requests bigint)
    RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'esqase_http_stats' LANGUAGE C VOLATILE PARALLEL RESTRICTED;
CREATE FUNCTION esqase.http_latency_read(OUT route text, OUT method text, OUT le_ms double precision,
                                         OUT requests bigint)
    RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'esqase_http_latency' LANGUAGE C VOLATILE PARALLEL RESTRICTED;
CREATE FUNCTION esqase.http_stats_reset() RETURNS void
    AS 'MODULE_PATHNAME', 'esqase_http_stats_reset' LANGUAGE C VOLATILE;
REVOKE EXECUTE ON FUNCTION esqase.http_stats_reset() FROM PUBLIC;

-- Requests answered, per route ('/v1/contacts', '/v1/contacts/{id}', ...,
-- 'other'), method and status (NULL: a status not in the list esqase uses).
CREATE VIEW esqase.http_stats AS SELECT * FROM esqase.http_stats_read();
-- Latency histogram, cumulative as in Prometheus: requests answered within
-- le_ms milliseconds of their headers (le_ms NULL: all of them).
CREATE VIEW esqase.http_latency AS SELECT * FROM esqase.http_latency_read();

-------------------------------------------------------------------------------
-- 93 Reporting for analysts (issue 8): schema esqase_report, read-only views
-- in plain snake_case, and the one-call grants that let a role read them
-- (docs/reporting.md).
--
-- Row-level security is keyed on an API context, which an analyst does not
-- have; so the views read the tables as their owner (the superuser who ran
-- CREATE EXTENSION, which bypasses row-level security) and the view's own
-- WHERE clause is the security boundary: the rows of the firms the reader
-- was granted, through esqase.report_readers.  The views are
-- security_barrier so that a reader's own functions in a WHERE clause are
-- not pushed below that filter and shown the other rows.
-------------------------------------------------------------------------------

-- Who reads which firm.  Not firm data but configuration, so not keyed like
-- the other tables: firm_id NULL is a reader of every firm.  The role is
-- kept by name, not OID, so that a dump restored into another cluster keeps
-- the grant for the role of that name (roles are restored by pg_dumpall -g).
CREATE TABLE esqase.report_readers (
    role_name     name NOT NULL,
    firm_id       uuid REFERENCES esqase.firms (id),
    private_leads boolean NOT NULL DEFAULT false,
    granted_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE NULLS NOT DISTINCT (role_name, firm_id)
);
-- Forced, with no policy and no grant: only the views' owner reads it.
ALTER TABLE esqase.report_readers ENABLE ROW LEVEL SECURITY;
ALTER TABLE esqase.report_readers FORCE ROW LEVEL SECURITY;
SELECT pg_catalog.pg_extension_config_dump('esqase.report_readers', '');
COMMENT ON TABLE esqase.report_readers IS
    'Roles that read schema esqase_report, and the firm each may read (NULL: every firm); written by esqase_grant_reader and esqase_revoke_reader';

-- The firms the current role may read, and whether it may see private
-- leads there.  pg_has_role(..., 'USAGE') makes a grant to a group role
-- count for its members, the way the SELECT grant on the views does.  A
-- reader row whose role was dropped matches nobody.
CREATE VIEW esqase.report_scope WITH (security_barrier) AS
SELECT f.id AS firm_id, pg_catalog.bool_or(r.private_leads) AS private_leads
  FROM esqase.report_readers r
  JOIN pg_catalog.pg_roles ro ON ro.rolname = r.role_name
  JOIN esqase.firms f ON r.firm_id IS NULL OR f.id = r.firm_id
 WHERE pg_catalog.pg_has_role(ro.oid, 'USAGE')
 GROUP BY f.id;
COMMENT ON VIEW esqase.report_scope IS
    'The firms the current role reads through esqase_report, with its private-leads option';

CREATE SCHEMA esqase_report;
COMMENT ON SCHEMA esqase_report IS
    'Read-only views for analysts: one firm or every firm, per esqase_grant_reader (docs/reporting.md)';

CREATE VIEW esqase_report.firms WITH (security_barrier) AS
SELECT f.id, f.name, f.created_at, f.updated_at
  FROM esqase.firms f JOIN esqase.report_scope s ON s.firm_id = f.id;

CREATE VIEW esqase_report.members WITH (security_barrier) AS
SELECT m.firm_id, m.id, m.name, m.email, m.is_owner, m.permissions,
       m.created_at, m.updated_at, m.deleted_at
  FROM esqase.members m JOIN esqase.report_scope s ON s.firm_id = m.firm_id;

CREATE VIEW esqase_report.contacts WITH (security_barrier) AS
SELECT c.firm_id, c.id, c.type, c.status, c.name, c.prefix, c.first_name, c.middle_name,
       c.last_name, c.suffix, c.nickname, c.company_name, c.trade_name, c.company_type,
       c.emails, c.emails[1] AS primary_email, c.phones, c.hidden_by_lead AS private_lead_id,
       c.created_at, c.updated_at, c.deleted_at
  FROM esqase.contacts c JOIN esqase.report_scope s ON s.firm_id = c.firm_id
 WHERE c.hidden_by_lead IS NULL OR s.private_leads;

CREATE VIEW esqase_report.practice_areas WITH (security_barrier) AS
SELECT p.firm_id, p.id, p.name, p.status, p.created_at, p.updated_at, p.deleted_at
  FROM esqase.practice_areas p JOIN esqase.report_scope s ON s.firm_id = p.firm_id;

CREATE VIEW esqase_report.practice_area_stages WITH (security_barrier) AS
SELECT st.firm_id, st.id, st.practice_area_id, st.name, st.type, st."order" AS sort_order,
       st.created_at, st.updated_at
  FROM esqase.practice_area_stages st JOIN esqase.report_scope s ON s.firm_id = st.firm_id;

CREATE VIEW esqase_report.matter_types WITH (security_barrier) AS
SELECT t.firm_id, t.id, t.practice_area_id, t.name, t.status, t.created_at, t.updated_at, t.deleted_at
  FROM esqase.matter_types t JOIN esqase.report_scope s ON s.firm_id = t.firm_id;

CREATE VIEW esqase_report.matters WITH (security_barrier) AS
SELECT m.firm_id, m.id, m.public_id, m.title, m.description, m.status, m.open_date,
       m.close_date, m.sol_date, m.practice_area_id, m.stage_id, m.matter_type_id,
       m.created_at, m.updated_at, m.deleted_at
  FROM esqase.matters m JOIN esqase.report_scope s ON s.firm_id = m.firm_id;

CREATE VIEW esqase_report.matter_clients WITH (security_barrier) AS
SELECT mc.firm_id, mc.matter_id, mc.contact_id, mc.position, mc.is_primary,
       mc.is_bill_recipient, mc.created_at
  FROM esqase.matter_clients mc JOIN esqase.report_scope s ON s.firm_id = mc.firm_id;

CREATE VIEW esqase_report.matter_team WITH (security_barrier) AS
SELECT mt.firm_id, mt.matter_id, mt.member_id, mt.position, mt.role, mt.allocation, mt.created_at
  FROM esqase.matter_team mt JOIN esqase.report_scope s ON s.firm_id = mt.firm_id;

CREATE VIEW esqase_report.lead_stages WITH (security_barrier) AS
SELECT ls.firm_id, ls.id, ls.name, ls."order" AS sort_order, ls.created_at, ls.updated_at
  FROM esqase.lead_stages ls JOIN esqase.report_scope s ON s.firm_id = ls.firm_id;

CREATE VIEW esqase_report.leads WITH (security_barrier) AS
SELECT l.firm_id, l.id, l.public_id, l.status, l.value,
       pg_catalog.array_position(ARRAY['LOWEST', 'LOW', 'MEDIUM', 'HIGH', 'HIGHEST'], l.value) AS value_rank,
       l.is_private, l.contact_id, l.practice_area_id, l.stage_id,
       l.created_at, l.updated_at, l.deleted_at
  FROM esqase.leads l JOIN esqase.report_scope s ON s.firm_id = l.firm_id
 WHERE NOT l.is_private OR s.private_leads;

CREATE VIEW esqase_report.lead_assignees WITH (security_barrier) AS
SELECT la.firm_id, la.lead_id, la.member_id, la.position, la.created_at
  FROM esqase.lead_assignees la JOIN esqase.report_scope s ON s.firm_id = la.firm_id
  JOIN esqase.leads l ON l.firm_id = la.firm_id AND l.id = la.lead_id
 WHERE NOT l.is_private OR s.private_leads;

-- The log keeps the values of private leads, their prospects and their
-- assignees: those rows follow the record's present visibility.  API-key
-- hashes are not logged (esqase.audit()); they are taken out here as well,
-- so that a row written some other way cannot carry one to a reader.
CREATE VIEW esqase_report.audit_log WITH (security_barrier) AS
SELECT a.firm_id, a.id, a.at, a.member_id, a.key_id, a.db_role, a.action, a.table_name,
       a.record_id, a.old_values - 'secret_hash' AS old_values,
       a.new_values - 'secret_hash' AS new_values
  FROM esqase.audit_log a JOIN esqase.report_scope s ON s.firm_id = a.firm_id
 WHERE s.private_leads
    OR NOT EXISTS (SELECT FROM esqase.leads l
                    WHERE l.firm_id = a.firm_id AND l.is_private
                      AND l.id = CASE a.table_name
                                 WHEN 'leads' THEN a.record_id::text
                                 WHEN 'lead_assignees' THEN coalesce(a.new_values, a.old_values) ->> 'lead_id'
                                 END::uuid)
   AND NOT EXISTS (SELECT FROM esqase.contacts c
                    WHERE a.table_name = 'contacts' AND c.firm_id = a.firm_id
                      AND c.id = a.record_id AND c.hidden_by_lead IS NOT NULL);

-- Comments: one line per view and column, kept here in one list so that a
-- column without a comment stands out (test/sql/90_reporting.sql checks
-- that none is missing).
DO $$
DECLARE
    c text[];
    v text;
BEGIN
    FOREACH c SLICE 1 IN ARRAY ARRAY[
        ['firms', NULL, 'Law firms (tenants); every other view joins on firm_id'],
        ['firms', 'id', 'The firm (firm_id in every other view)'],
        ['members', NULL, 'Members (users) of each firm; deactivated ones have deleted_at set'],
        ['members', 'id', 'The member (API: members id, team memberId, assigneeIds)'],
        ['members', 'email', 'Login email, unique per firm'],
        ['members', 'is_owner', 'Owners hold every permission and see every private lead'],
        ['members', 'permissions', 'Extra permissions: practice_areas (practice areas and matter types)'],
        ['members', 'deleted_at', 'When the member was deactivated (API status INACTIVE); NULL while active'],
        ['contacts', NULL, 'Contacts (people and companies), archived ones included; a private lead''s prospect only for readers granted private leads'],
        ['contacts', 'type', 'PERSON or COMPANY; never changes'],
        ['contacts', 'status', 'ACTIVE, or ARCHIVED once deleted'],
        ['contacts', 'name', 'Display name: first, middle and last name of a person, company name of a company'],
        ['contacts', 'prefix', 'Person: name prefix'],
        ['contacts', 'first_name', 'Person: first name'],
        ['contacts', 'middle_name', 'Person: middle name'],
        ['contacts', 'last_name', 'Person: last name'],
        ['contacts', 'suffix', 'Person: name suffix'],
        ['contacts', 'nickname', 'Person: nickname'],
        ['contacts', 'company_name', 'Company: name'],
        ['contacts', 'trade_name', 'Company: trade name'],
        ['contacts', 'company_type', 'Company: type of company'],
        ['contacts', 'emails', 'Email addresses, primary first'],
        ['contacts', 'primary_email', 'The first email, or NULL'],
        ['contacts', 'phones', 'Phone numbers'],
        ['contacts', 'private_lead_id', 'The private lead that created this contact while it stays hidden with the lead; else NULL'],
        ['practice_areas', NULL, 'Practice areas, archived ones included'],
        ['practice_areas', 'status', 'ACTIVE, or ARCHIVED once deleted'],
        ['practice_area_stages', NULL, 'Stages (board columns) of each practice area: the stage of a matter'],
        ['practice_area_stages', 'practice_area_id', 'The practice area the stage belongs to'],
        ['practice_area_stages', 'type', 'TODO, IN_PROGRESS or DONE'],
        ['practice_area_stages', 'sort_order', 'Position of the stage on the board, from 0 (API: order)'],
        ['matter_types', NULL, 'Matter types of each practice area, archived ones included'],
        ['matter_types', 'practice_area_id', 'The practice area the type belongs to'],
        ['matter_types', 'status', 'ACTIVE, or ARCHIVED once deleted'],
        ['matters', NULL, 'Matters (cases), archived ones included'],
        ['matters', 'public_id', 'Per-firm number shown to people: M-0001, M-0002, ...'],
        ['matters', 'title', 'Title ("Untitled matter" by default)'],
        ['matters', 'description', 'Free text'],
        ['matters', 'status', 'ACTIVE, DRAFT or ARCHIVE (deleted matters are ARCHIVE)'],
        ['matters', 'open_date', 'Date opened'],
        ['matters', 'close_date', 'Date closed, or NULL'],
        ['matters', 'sol_date', 'Statute-of-limitations date, or NULL'],
        ['matters', 'practice_area_id', 'The practice area (practice_areas.id)'],
        ['matters', 'stage_id', 'The stage within the practice area (practice_area_stages.id; API: practiceAreaStageColumnId)'],
        ['matters', 'matter_type_id', 'The matter type (matter_types.id), or NULL'],
        ['matter_clients', NULL, 'Clients of each matter, in order'],
        ['matter_clients', 'matter_id', 'The matter (matters.id)'],
        ['matter_clients', 'contact_id', 'The client (contacts.id)'],
        ['matter_clients', 'position', 'Order of the clients, from 0'],
        ['matter_clients', 'is_primary', 'The primary client (position 0)'],
        ['matter_clients', 'is_bill_recipient', 'Receives the bills (the primary client)'],
        ['matter_team', NULL, 'Members working on each matter'],
        ['matter_team', 'matter_id', 'The matter (matters.id)'],
        ['matter_team', 'member_id', 'The member (members.id)'],
        ['matter_team', 'position', 'Order of the team, from 0'],
        ['matter_team', 'role', 'Role on the matter, free text'],
        ['matter_team', 'allocation', 'Share of the work in percent (0-100), or NULL'],
        ['lead_stages', NULL, 'The firm''s lead pipeline stages'],
        ['lead_stages', 'sort_order', 'Position in the pipeline, from 0'],
        ['leads', NULL, 'Leads (prospective clients), deleted ones included; private leads only for readers granted them'],
        ['leads', 'public_id', 'Per-firm number shown to people: L-0001, L-0002, ...'],
        ['leads', 'status', 'PENDING, WON or LOST'],
        ['leads', 'value', 'LOWEST, LOW, MEDIUM, HIGH, HIGHEST or NULL'],
        ['leads', 'value_rank', 'value as a number to sort by: 1 (LOWEST) to 5 (HIGHEST), NULL without a value'],
        ['leads', 'is_private', 'Visible in the API only to its assignees and the firm''s owners'],
        ['leads', 'contact_id', 'The prospect (contacts.id)'],
        ['leads', 'practice_area_id', 'The practice area (practice_areas.id), or NULL'],
        ['leads', 'stage_id', 'The pipeline stage (lead_stages.id; API: leadStageColumnId)'],
        ['lead_assignees', NULL, 'Members assigned to each lead (of the leads the reader sees)'],
        ['lead_assignees', 'lead_id', 'The lead (leads.id)'],
        ['lead_assignees', 'member_id', 'The member (members.id)'],
        ['lead_assignees', 'position', 'Order of the assignees, from 0'],
        ['audit_log', NULL, 'Every write to the firm''s data, append-only; rows of private leads and their prospects only for readers granted them'],
        ['audit_log', 'id', 'Position in the log (ascending within a firm)'],
        ['audit_log', 'at', 'When the write happened'],
        ['audit_log', 'member_id', 'The member whose API key made the write, or NULL'],
        ['audit_log', 'key_id', 'The API key that made the write, or NULL'],
        ['audit_log', 'db_role', 'The database role that made the write'],
        ['audit_log', 'action', 'INSERT, UPDATE or DELETE (a soft delete is a DELETE with new_values)'],
        ['audit_log', 'table_name', 'The table written: contacts, matters, leads, ... (names of schema esqase)'],
        ['audit_log', 'record_id', 'The id of the row written'],
        ['audit_log', 'old_values', 'The row before the write (table columns), or NULL for an INSERT'],
        ['audit_log', 'new_values', 'The row after the write, or NULL for a removed link row']] LOOP
        IF c[2] IS NULL THEN
            EXECUTE format('COMMENT ON VIEW esqase_report.%I IS %L', c[1], c[3]);
        ELSE
            EXECUTE format('COMMENT ON COLUMN esqase_report.%I.%I IS %L', c[1], c[2], c[3]);
        END IF;
    END LOOP;
    -- Columns every view has that mean the same everywhere.
    FOREACH c SLICE 1 IN ARRAY ARRAY[
        ['firm_id', 'The firm (firms.id)'],
        ['id', 'The record''s id (the API''s id)'],
        ['name', 'Name'],
        ['created_at', 'When the record was created'],
        ['updated_at', 'When the record last changed'],
        ['deleted_at', 'When the record was deleted (the API no longer shows it); NULL while live']] LOOP
        FOR v IN
            SELECT a.attrelid::regclass::text
              FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class v ON v.oid = a.attrelid
             WHERE v.relnamespace = 'esqase_report'::regnamespace AND a.attname = c[1]
               AND pg_catalog.col_description(a.attrelid, a.attnum) IS NULL
        LOOP
            EXECUTE format('COMMENT ON COLUMN %s.%I IS %L', v, c[1], c[2]);
        END LOOP;
    END LOOP;
END
$$;

-- Records the reader and grants it USAGE on the schema and SELECT on every
-- view of it, and nothing in schema esqase; granting again changes the
-- private-leads option.  Not SECURITY DEFINER: the two esqase_grant_reader
-- functions below are, and call it.
CREATE FUNCTION esqase.report_grant(role regrole, firm uuid, private_leads boolean)
RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v regclass;
BEGIN
    IF role IS NULL THEN
        PERFORM esqase.fail('22023', 'role is required', 'role');
    END IF;
    IF firm IS NOT NULL AND NOT EXISTS (SELECT FROM esqase.firms f WHERE f.id = firm) THEN
        PERFORM esqase.fail('23503', format('firm %s does not exist', firm), 'firm');
    END IF;
    INSERT INTO esqase.report_readers AS r (role_name, firm_id, private_leads)
    VALUES ((SELECT ro.rolname FROM pg_catalog.pg_roles ro WHERE ro.oid = role), firm,
            coalesce(private_leads, false))
    ON CONFLICT (role_name, firm_id) DO UPDATE SET private_leads = excluded.private_leads,
                                                   granted_at = now();
    EXECUTE format('GRANT USAGE ON SCHEMA esqase_report TO %s', role);
    FOR v IN SELECT c.oid FROM pg_catalog.pg_class c
              WHERE c.relnamespace = 'esqase_report'::regnamespace AND c.relkind = 'v' LOOP
        EXECUTE format('GRANT SELECT ON %s TO %s', v, role);
    END LOOP;
END
$$;

-- A role reads one firm's rows.  A reader is not a member: by default it
-- sees what a member not assigned to the firm's private leads sees; with
-- private_leads, those leads and their prospects too.
CREATE FUNCTION esqase_grant_reader(role regrole, firm uuid, private_leads boolean DEFAULT false)
RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
RETURN esqase.report_grant(role, firm, private_leads);

-- A role reads every firm, private leads included: the DBA's own reading
-- role (docs/decisions.md, "Reporting").
CREATE FUNCTION esqase_grant_reader(role regrole) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
RETURN esqase.report_grant(role, NULL, true);

-- Takes every firm and every grant of esqase_report from the role.
CREATE FUNCTION esqase_revoke_reader(role regrole) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v regclass;
BEGIN
    DELETE FROM esqase.report_readers r
     WHERE r.role_name = (SELECT ro.rolname FROM pg_catalog.pg_roles ro WHERE ro.oid = role);
    FOR v IN SELECT c.oid FROM pg_catalog.pg_class c
              WHERE c.relnamespace = 'esqase_report'::regnamespace AND c.relkind = 'v' LOOP
        EXECUTE format('REVOKE ALL ON %s FROM %s', v, role);
    END LOOP;
    EXECUTE format('REVOKE ALL ON SCHEMA esqase_report FROM %s', role);
END
$$;

REVOKE EXECUTE ON FUNCTION esqase.report_grant(regrole, uuid, boolean) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION esqase_grant_reader(regrole, uuid, boolean) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION esqase_grant_reader(regrole) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION esqase_revoke_reader(regrole) FROM PUBLIC;

-------------------------------------------------------------------------------
-- 95 Guards (safe failure modes): DROP EXTENSION esqase deletes every table
-- in schema esqase, so every firm's data and the audit log.  This event
-- trigger refuses a DROP that would drop the extension (DROP EXTENSION,
-- DROP SCHEMA <its schema> CASCADE, DROP OWNED BY its owner) while any firm
-- exists, unless the session has SET esqase.allow_drop = on (src/guards.c,
-- docs/operations.md).  It is a member of the extension, so it goes with
-- it; pg_dump leaves members out, so restores do not see it twice.
-- ENABLE ALWAYS: it fires under session_replication_role = replica too.
-------------------------------------------------------------------------------

CREATE FUNCTION esqase.guard_drop() RETURNS event_trigger
    AS 'MODULE_PATHNAME', 'esqase_guard_drop' LANGUAGE C;

CREATE EVENT TRIGGER esqase_guard_drop ON ddl_command_start
    WHEN TAG IN ('DROP EXTENSION', 'DROP SCHEMA', 'DROP OWNED')
    EXECUTE FUNCTION esqase.guard_drop();
ALTER EVENT TRIGGER esqase_guard_drop ENABLE ALWAYS;

COMMENT ON EVENT TRIGGER esqase_guard_drop IS
    'Refuses to drop extension esqase while firms exist, unless esqase.allow_drop is on';

-------------------------------------------------------------------------------
-- 97 Comments on every table and column of schema esqase, for whoever reads
-- the tables in SQL (\d+ in psql): plain words, and the API field a column
-- serves where there is one.  Kept in one list so that a column without a
-- comment stands out; test/sql/80_catalog.sql lists any table or column of
-- the schema that has none.  The columns most tables share are worded once,
-- at the end, wherever a table has no comment of its own for them.
-------------------------------------------------------------------------------

DO $$
DECLARE
    c text[];
    r record;
BEGIN
    FOREACH c SLICE 1 IN ARRAY ARRAY[
        ['firms', NULL, 'Law firms (tenants); every other table has firm_id, which references firms.id. Created by esqase_create_firm'],
        ['firms', 'id', 'The firm (firm_id in every other table; the API key decides it in the API)'],
        ['firms', 'name', 'The firm''s name'],
        ['members', NULL, 'People of a firm who hold API keys (API: /v1/members); created by esqase_create_member, deactivated by setting deleted_at'],
        ['members', 'name', 'Full name (API: name)'],
        ['members', 'email', 'Login email, unique per firm in any case (API: email)'],
        ['members', 'is_owner', 'Owners hold every permission and see every private lead (API: isOwner)'],
        ['members', 'permissions', 'Extra permissions; practice_areas lets the member change practice areas and matter types (API: permissions)'],
        ['members', 'deleted_at', 'When the member was deactivated (API: status INACTIVE); NULL while active'],
        ['api_keys', NULL, 'API keys: each belongs to a member and holds scopes; the secret itself is never stored. Created by esqase_create_api_key'],
        ['api_keys', 'member_id', 'The member the key acts as (members.id)'],
        ['api_keys', 'name', 'A label for the key, or NULL'],
        ['api_keys', 'prefix', 'The public part of the token esq_<prefix>_<secret>, to find the key; not secret'],
        ['api_keys', 'secret_hash', 'SHA-256 of the whole token; the token cannot be recovered from it'],
        ['api_keys', 'scopes', 'What the key may do: contacts:read, matters:write, ... (docs/http-api.md)'],
        ['api_keys', 'updated_at', 'When the key''s name, scopes, member, revocation or expiry last changed'],
        ['api_keys', 'last_used_at', 'When a request last used the key (refreshed at most once a minute)'],
        ['api_keys', 'revoked_at', 'When the key was revoked (esqase_revoke_api_key); NULL while valid'],
        ['api_keys', 'expires_at', 'When the key stops working, or NULL for never'],
        ['contacts', NULL, 'Contacts: people and companies (API: /v1/contacts); deleted ones stay, ARCHIVED, with deleted_at'],
        ['contacts', 'type', 'PERSON or COMPANY; never changes (API: type)'],
        ['contacts', 'status', 'ACTIVE, or ARCHIVED once deleted (API: status)'],
        ['contacts', 'prefix', 'Person: name prefix such as Dr. (API: prefix)'],
        ['contacts', 'first_name', 'Person: first name (API: firstName)'],
        ['contacts', 'middle_name', 'Person: middle name (API: middleName)'],
        ['contacts', 'last_name', 'Person: last name (API: lastName)'],
        ['contacts', 'suffix', 'Person: name suffix such as Jr. (API: suffix)'],
        ['contacts', 'nickname', 'Person: nickname (API: nickname)'],
        ['contacts', 'company_name', 'Company: name (API: companyName)'],
        ['contacts', 'trade_name', 'Company: trade name (API: tradeName)'],
        ['contacts', 'company_type', 'Company: kind of company, free text (API: companyType)'],
        ['contacts', 'emails', 'Email addresses, the primary one first (API: emails; a lead''s email)'],
        ['contacts', 'phones', 'Phone numbers (API: phones; a lead''s phone)'],
        ['contacts', 'name', 'Display name, kept by a trigger: first, middle and last name of a person, the company name of a company (API: name)'],
        ['contacts', 'search', 'Full-text search document of the name, nickname, trade name, emails and phones, kept by a trigger (API: the q parameter of lists)'],
        ['contacts', 'hidden_by_lead', 'The private lead that created this contact as its prospect: the contact is then seen only by those who see that lead, until the firm uses it elsewhere or the lead is made public; else NULL'],
        ['practice_areas', NULL, 'Practice areas (API: /v1/practice-areas), each with its stages and matter types; deleted ones stay, ARCHIVED'],
        ['practice_areas', 'name', 'Name (API: name)'],
        ['practice_areas', 'status', 'ACTIVE, or ARCHIVED once deleted (API: status)'],
        ['practice_area_stages', NULL, 'Stages (board columns) of a practice area: To do, In progress, Done to start with (API: practice area stages)'],
        ['practice_area_stages', 'practice_area_id', 'The practice area (practice_areas.id)'],
        ['practice_area_stages', 'name', 'Name (API: stages[].name)'],
        ['practice_area_stages', 'type', 'TODO, IN_PROGRESS or DONE (API: stages[].type)'],
        ['practice_area_stages', 'order', 'Position on the board, from 0 (API: stages[].order)'],
        ['matter_types', NULL, 'Matter types of a practice area (API: /v1/matter-types); deleted ones stay, ARCHIVED'],
        ['matter_types', 'practice_area_id', 'The practice area (practice_areas.id; API: practiceAreaId)'],
        ['matter_types', 'name', 'Name (API: name)'],
        ['matter_types', 'status', 'ACTIVE, or ARCHIVED once deleted (API: status)'],
        ['public_id_counters', NULL, 'The last number handed out per firm for matters (M) and leads (L): M-0001, L-0001, ...'],
        ['public_id_counters', 'kind', 'M for matters, L for leads'],
        ['public_id_counters', 'last_value', 'The last number used; the next record gets one more'],
        ['matters', NULL, 'Matters (cases) (API: /v1/matters); deleted ones stay, ARCHIVE, with deleted_at'],
        ['matters', 'public_id', 'Per-firm number shown to people: M-0001, ... (API: publicId)'],
        ['matters', 'title', 'Title, "Untitled matter" by default (API: title)'],
        ['matters', 'description', 'Free text (API: description)'],
        ['matters', 'status', 'ACTIVE, DRAFT or ARCHIVE; deleted matters are ARCHIVE (API: status)'],
        ['matters', 'open_date', 'Date opened (API: openDate)'],
        ['matters', 'close_date', 'Date closed, or NULL (API: closeDate)'],
        ['matters', 'sol_date', 'Statute-of-limitations date, or NULL (API: solDate)'],
        ['matters', 'practice_area_id', 'The practice area (practice_areas.id; API: practiceAreaId)'],
        ['matters', 'stage_id', 'The stage within the practice area (practice_area_stages.id; API: practiceAreaStageColumnId)'],
        ['matters', 'matter_type_id', 'The matter type (matter_types.id), or NULL (API: matterTypeId)'],
        ['matters', 'search', 'Full-text search document of the public id, title and description, kept by a trigger (API: the q parameter of lists)'],
        ['matter_clients', NULL, 'The clients of each matter, in order (API: a matter''s clientContactIds and clients)'],
        ['matter_clients', 'matter_id', 'The matter (matters.id)'],
        ['matter_clients', 'contact_id', 'The client (contacts.id; API: clientContactIds)'],
        ['matter_clients', 'position', 'Order of the clients, from 0 (the order of clientContactIds)'],
        ['matter_clients', 'is_primary', 'The primary client: the one at position 0'],
        ['matter_clients', 'is_bill_recipient', 'Receives the bills'],
        ['matter_team', NULL, 'The members working on each matter (API: a matter''s team)'],
        ['matter_team', 'matter_id', 'The matter (matters.id)'],
        ['matter_team', 'member_id', 'The member (members.id; API: team[].memberId)'],
        ['matter_team', 'position', 'Order of the team, from 0'],
        ['matter_team', 'role', 'Role on the matter, free text (API: team[].role)'],
        ['matter_team', 'allocation', 'Share of the work in percent, 0 to 100, or NULL (API: team[].allocation)'],
        ['lead_stages', NULL, 'The firm''s lead pipeline: New, Contacted, Consultation scheduled, Proposal sent'],
        ['lead_stages', 'name', 'Name of the stage'],
        ['lead_stages', 'order', 'Position in the pipeline, from 0'],
        ['leads', NULL, 'Leads (prospective clients) (API: /v1/leads); private ones are seen only by their assignees and the firm''s owners; deleted ones stay, with deleted_at'],
        ['leads', 'public_id', 'Per-firm number shown to people: L-0001, ... (API: publicId)'],
        ['leads', 'status', 'PENDING, WON or LOST (API: status)'],
        ['leads', 'value', 'LOWEST, LOW, MEDIUM, HIGH, HIGHEST, or NULL (API: value)'],
        ['leads', 'is_private', 'Seen only by its assignees and the firm''s owners (API: isPrivate)'],
        ['leads', 'contact_id', 'The prospect (contacts.id; API: contact)'],
        ['leads', 'practice_area_id', 'The practice area (practice_areas.id), or NULL (API: practiceAreaId)'],
        ['leads', 'stage_id', 'The pipeline stage (lead_stages.id; API: leadStageColumnId)'],
        ['lead_assignees', NULL, 'The members assigned to each lead (API: a lead''s assigneeIds and assignees)'],
        ['lead_assignees', 'lead_id', 'The lead (leads.id)'],
        ['lead_assignees', 'member_id', 'The member (members.id; API: assigneeIds)'],
        ['lead_assignees', 'position', 'Order of the assignees, from 0 (the order of assigneeIds)'],
        ['record_counts', NULL, 'Live (not deleted) records per firm and list, kept by triggers, for the exact total of API lists; a firm''s count is the sum of its slots'],
        ['record_counts', 'list', 'contacts, matters, practice_areas, leads_public, leads_private, or contacts_private (the hidden prospects of private leads)'],
        ['record_counts', 'slot', 'One of up to 16 rows a count is spread over, so that concurrent writers do not wait for each other'],
        ['record_counts', 'n', 'This slot''s share of the count (the sum over the slots is the count)'],
        ['audit_log', NULL, 'Every write to the firm''s data, by the API or by hand; append-only'],
        ['audit_log', 'id', 'Position in the log, ascending'],
        ['audit_log', 'at', 'When the write happened'],
        ['audit_log', 'member_id', 'The member whose API key made the write (members.id), or NULL'],
        ['audit_log', 'key_id', 'The API key that made the write (api_keys.id), or NULL'],
        ['audit_log', 'db_role', 'The database role that made the write'],
        ['audit_log', 'action', 'INSERT, UPDATE or DELETE; a soft delete is a DELETE that has new_values'],
        ['audit_log', 'table_name', 'The table written (of schema esqase)'],
        ['audit_log', 'record_id', 'The id of the row written'],
        ['audit_log', 'old_values', 'The row before the write, as JSON (key hashes and search documents left out), or NULL for an INSERT'],
        ['audit_log', 'new_values', 'The row after the write, as JSON, or NULL for a removed link row'],
        ['audit_log', 'request_id', 'The X-Request-Id of the HTTP request that made the write, or NULL'],
        ['report_readers', 'role_name', 'The role that reads schema esqase_report (by name, so that it survives a dump)'],
        ['report_readers', 'firm_id', 'The firm it reads (firms.id), or NULL for every firm'],
        ['report_readers', 'private_leads', 'Whether it also sees private leads and their prospects'],
        ['report_readers', 'granted_at', 'When esqase_grant_reader last granted it'],
        ['report_scope', 'firm_id', 'A firm the current role reads (firms.id)'],
        ['report_scope', 'private_leads', 'Whether the current role sees that firm''s private leads'],
        ['http_stats', NULL, 'HTTP requests answered, per route, method and status, by all workers since the server started or esqase.http_stats_reset() (docs/http-api.md)'],
        ['http_stats', 'route', 'The route: /v1/contacts, /v1/contacts/{id}, ..., or other'],
        ['http_stats', 'method', 'The HTTP method'],
        ['http_stats', 'status', 'The HTTP status answered (NULL: one not in the list esqase uses)'],
        ['http_stats', 'requests', 'How many requests'],
        ['http_latency', NULL, 'Latency histogram of HTTP requests, cumulative as in Prometheus, since the server started or esqase.http_stats_reset() (docs/http-api.md)'],
        ['http_latency', 'route', 'The route: /v1/contacts, /v1/contacts/{id}, ..., or other'],
        ['http_latency', 'method', 'The HTTP method'],
        ['http_latency', 'le_ms', 'Upper bound in milliseconds from the request''s headers to its answer (NULL: every request)'],
        ['http_latency', 'requests', 'How many requests were answered within le_ms']] LOOP
        IF c[2] IS NULL THEN
            EXECUTE format('COMMENT ON %s esqase.%I IS %L',
                           (SELECT CASE t.relkind WHEN 'v' THEN 'VIEW' ELSE 'TABLE' END
                              FROM pg_catalog.pg_class t
                             WHERE t.relnamespace = 'esqase'::regnamespace AND t.relname = c[1]),
                           c[1], c[3]);
        ELSE
            EXECUTE format('COMMENT ON COLUMN esqase.%I.%I IS %L', c[1], c[2], c[3]);
        END IF;
    END LOOP;
    -- Columns most tables have that mean the same everywhere.
    FOREACH c SLICE 1 IN ARRAY ARRAY[
        ['firm_id', 'The firm the row belongs to (firms.id)'],
        ['id', 'The record''s id (the API''s id)'],
        ['created_at', 'When the row was created (API: createdAt)'],
        ['updated_at', 'When the row last changed, kept by a trigger (API: updatedAt)'],
        ['deleted_at', 'When the record was deleted (the API no longer shows it); NULL while live']] LOOP
        FOR r IN
            SELECT a.attrelid::regclass AS tbl
              FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class t ON t.oid = a.attrelid
             WHERE t.relnamespace = 'esqase'::regnamespace AND t.relkind = 'r' AND a.attname = c[1]
               AND NOT a.attisdropped AND pg_catalog.col_description(a.attrelid, a.attnum) IS NULL
        LOOP
            EXECUTE format('COMMENT ON COLUMN %s.%I IS %L', r.tbl, c[1], c[2]);
        END LOOP;
    END LOOP;
END
$$;
