-------------------------------------------------------------------------------
-- The baseline: schemas, tables, types and indexes as released in 0.2.0.
-- Frozen: a later change to a table is a migration of its own
-- (sql/migrations/<from>--<to>.sql), run by both the install script and the
-- upgrade script, so each change is written once.  Functions, views,
-- policies, triggers, grants and comments are not here but in sql/code/,
-- which both scripts run after the migrations (docs/operations.md,
-- "Releases and upgrades").
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

-- Reporting (sql/code/93_reporting.sql, docs/reporting.md).
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

-- The analysts' views (sql/code/93_reporting.sql).
CREATE SCHEMA esqase_report;
