-------------------------------------------------------------------------------
-- Migration 0.2.0 -> 0.3.0: schema and data changes only, forward only.
-- Functions, views, policies, triggers, grants and comments belong in
-- sql/code/ (made again by every install and upgrade); a function, view or
-- trigger this release no longer has is dropped here.
-------------------------------------------------------------------------------

-- Key rotation (esqase_rotate_api_key): a key gets a new secret and keeps
-- its id, prefix, scopes and history; the secret it replaces keeps working
-- until previous_valid_until, so a client can switch without an outage.
ALTER TABLE esqase.api_keys
    ADD COLUMN rotated_at           timestamptz,
    ADD COLUMN previous_secret_hash bytea,
    ADD COLUMN previous_valid_until timestamptz;

-- A create's checked body, before anything is written (issue 16): what
-- esqase.matter_new and esqase.lead_new return, shared by one create and
-- the bulk creates (sql/code/38_create_many.sql).
CREATE TYPE esqase.new_matter AS (m esqase.matters, clients uuid[], team jsonb);
CREATE TYPE esqase.new_lead AS (c esqase.contacts, l esqase.leads, assignees uuid[]);

-- Secondary indexes led by firm_id that a lookup by key could use are
-- partial, on a predicate a lookup does not state (issue 16).  Statistics
-- taken while a table was nearly empty call every firm_id unique, so every
-- index led by firm_id then costs a lookup of (firm_id, id) one row, as
-- the key does, and the planner keeps the one it tried first: the newest.
-- A foreign key's check (a stage's practice area) or a record's lookup
-- then read the firm's rows in updated_at order, filtering them by id,
-- for every record an import wrote (test/sql/49_import_small_stats).  Each
-- predicate holds for every row (updated_at is NOT NULL): a sync list
-- states it (esqase.list_match).
DROP INDEX esqase.contacts_updated_idx;
CREATE INDEX contacts_updated_idx ON esqase.contacts (firm_id, updated_at, id) WHERE updated_at IS NOT NULL;
DROP INDEX esqase.practice_areas_updated_idx;
CREATE INDEX practice_areas_updated_idx ON esqase.practice_areas (firm_id, updated_at, id)
    WHERE updated_at IS NOT NULL;
DROP INDEX esqase.matter_types_updated_idx;
CREATE INDEX matter_types_updated_idx ON esqase.matter_types (firm_id, practice_area_id, updated_at, id)
    WHERE updated_at IS NOT NULL;
DROP INDEX esqase.matters_updated_idx;
CREATE INDEX matters_updated_idx ON esqase.matters (firm_id, updated_at, id) WHERE updated_at IS NOT NULL;
DROP INDEX esqase.leads_updated_idx;
CREATE INDEX leads_updated_idx ON esqase.leads (firm_id, updated_at, id) WHERE updated_at IS NOT NULL;
DROP INDEX esqase.members_updated_idx;
CREATE INDEX members_updated_idx ON esqase.members (firm_id, updated_at, id) WHERE updated_at IS NOT NULL;
-- An index that finds rows by another record (a contact's leads and
-- matters, a member's leads) is led by that record's id, not by firm_id.
DROP INDEX esqase.leads_contact_idx;
CREATE INDEX leads_contact_idx ON esqase.leads (contact_id, firm_id);
DROP INDEX esqase.matter_clients_contact_idx;
CREATE INDEX matter_clients_contact_idx ON esqase.matter_clients (contact_id, firm_id);
DROP INDEX esqase.lead_assignees_member_idx;
CREATE INDEX lead_assignees_member_idx ON esqase.lead_assignees (member_id, firm_id, lead_id);
-- A public id's uniqueness, led by public_id for the same reason (an
-- INSERT's ON CONFLICT (firm_id, public_id) names the columns, not their
-- order).
ALTER TABLE esqase.matters DROP CONSTRAINT matters_firm_id_public_id_key,
    ADD CONSTRAINT matters_public_id_key UNIQUE (public_id, firm_id);
ALTER TABLE esqase.leads DROP CONSTRAINT leads_firm_id_public_id_key,
    ADD CONSTRAINT leads_public_id_key UNIQUE (public_id, firm_id);
-- And a matter type's practice area, the key of a matter's reference to
-- it (its foreign key is made again: it names the columns, not the order).
ALTER TABLE esqase.matters DROP CONSTRAINT matters_firm_id_practice_area_id_matter_type_id_fkey;
ALTER TABLE esqase.matter_types DROP CONSTRAINT matter_types_firm_id_practice_area_id_id_key,
    ADD CONSTRAINT matter_types_area_key UNIQUE (practice_area_id, firm_id, id);
ALTER TABLE esqase.matters ADD CONSTRAINT matters_firm_id_practice_area_id_matter_type_id_fkey
    FOREIGN KEY (firm_id, practice_area_id, matter_type_id)
    REFERENCES esqase.matter_types (firm_id, practice_area_id, id);

-- Functions 0.3.0 no longer has.  esqase.lead_visible: a lead's one-row
-- visibility is the leads' visible_row of sql/registry.pl, written into
-- lead_find and the policies (esqase.context_assigned).
DROP FUNCTION IF EXISTS esqase.lead_visible(uuid, uuid, boolean);

-- The secret that signs list cursors (issue 20; esqase.cursor_mac,
-- sql/code/10_core.sql): HMAC-SHA256's inner and outer pads of one random
-- key, one row.  Not registered with pg_extension_config_dump: pg_dump
-- leaves it out, so a restored database makes a new one (sql/code), and
-- the cursors of the old one get a 400 there.
CREATE TABLE esqase.cursor_secret (
    id         boolean PRIMARY KEY DEFAULT true CHECK (id),
    ipad       bytea NOT NULL CHECK (length(ipad) = 64),
    opad       bytea NOT NULL CHECK (length(opad) = 64),
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Webhooks (issue 19): a firm's subscriptions to changes, and the outbox
-- the changes are written to in the same transaction (docs/http-api.md,
-- "Webhooks"; docs/decisions.md, "Webhooks").
CREATE TABLE esqase.webhooks (
    firm_id        uuid NOT NULL,
    id             uuid NOT NULL DEFAULT gen_random_uuid(),
    url            text NOT NULL,
    events         text[] NOT NULL,
    status         text NOT NULL DEFAULT 'ACTIVE' CHECK (status IN ('ACTIVE', 'PAUSED', 'DISABLED')),
    key_id         uuid NOT NULL,
    failing_since  timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    deleted_at     timestamptz,
    PRIMARY KEY (firm_id, id),
    FOREIGN KEY (firm_id) REFERENCES esqase.firms (id),
    FOREIGN KEY (firm_id, key_id) REFERENCES esqase.api_keys (firm_id, id)
);
CREATE INDEX webhooks_list_idx ON esqase.webhooks (firm_id, created_at, id) WHERE deleted_at IS NULL;
CREATE INDEX webhooks_updated_idx ON esqase.webhooks (firm_id, updated_at, id) WHERE updated_at IS NOT NULL;
-- the outbox triggers' one probe: is any webhook of the firm listening?
CREATE INDEX webhooks_active_idx ON esqase.webhooks (firm_id) WHERE status = 'ACTIVE' AND deleted_at IS NULL;

-- A webhook's signing secret is the key of the signatures' HMAC, so it is
-- kept as it is (an HMAC cannot be made from a hash), in a table of its
-- own that the API role has no privilege on: written by the SECURITY
-- DEFINER esqase.webhook_new_secret, read by the delivery worker (a
-- superuser connection) only.
CREATE TABLE esqase.webhook_secrets (
    firm_id    uuid NOT NULL,
    webhook_id uuid NOT NULL,
    secret     text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (firm_id, webhook_id),
    FOREIGN KEY (firm_id, webhook_id) REFERENCES esqase.webhooks (firm_id, id)
);

-- The outbox: one row per change a listening webhook subscribed to,
-- whatever the number of webhooks (the delivery worker fans each new event
-- out to the webhooks listening then, esqase.webhook_fan_out, one delivery
-- each, and marks it fanned_out: issue 19, the write cost); data is the
-- record as the API renders it, written when the change commits.  seq
-- orders the changes of one record as they committed (a record's writers
-- take its row lock in turn; docs/scaling.md, "Sequences").
CREATE TABLE esqase.webhook_events (
    firm_id    uuid NOT NULL,
    id         uuid NOT NULL DEFAULT gen_random_uuid(),
    seq        bigint GENERATED ALWAYS AS IDENTITY,
    type       text NOT NULL,
    record_id  uuid NOT NULL,
    data       json,
    fanned_out boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (firm_id, id)
);
-- the worker's one probe a round: the events not fanned out yet, oldest first
CREATE INDEX webhook_events_new_idx ON esqase.webhook_events (seq) WHERE NOT fanned_out;

-- One row per webhook and event: the delivery's state and its last attempt.
CREATE TABLE esqase.webhook_deliveries (
    firm_id          uuid NOT NULL,
    webhook_id       uuid NOT NULL,
    event_id         uuid NOT NULL,
    seq              bigint NOT NULL,
    type             text NOT NULL,
    record_id        uuid NOT NULL,
    state            text NOT NULL DEFAULT 'PENDING'
                     CHECK (state IN ('PENDING', 'DELIVERED', 'FAILED', 'SKIPPED')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_attempt_at  timestamptz,
    last_status      integer,
    last_error       text,
    last_duration_ms integer,
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (firm_id, webhook_id, seq),
    FOREIGN KEY (firm_id, webhook_id) REFERENCES esqase.webhooks (firm_id, id),
    FOREIGN KEY (firm_id, event_id) REFERENCES esqase.webhook_events (firm_id, id) ON DELETE CASCADE
);
CREATE INDEX webhook_deliveries_due_idx ON esqase.webhook_deliveries (next_attempt_at) WHERE state = 'PENDING';
CREATE INDEX webhook_deliveries_record_idx ON esqase.webhook_deliveries (webhook_id, record_id, seq)
    WHERE state = 'PENDING';
CREATE INDEX webhook_deliveries_event_idx ON esqase.webhook_deliveries (firm_id, event_id);
CREATE INDEX webhook_deliveries_done_idx ON esqase.webhook_deliveries (created_at) WHERE state <> 'PENDING';

-- A single record's answer to the HTTP worker (issue 18): its body, and as
-- columns its version (updated_at, for the ETag) and whether it replays an
-- earlier request (Idempotency-Key).  0.2.0's SQL noted both in backend
-- memory as it ran (esqase.note_version, esqase.idempotency_note_replay).
CREATE TYPE esqase.answer AS (body json, version timestamptz, replayed boolean);

-- The functions that now return it had the same names and returned json.
-- The public esqase_* wrappers depend on some of them (SQL-standard
-- bodies), so they are not dropped here but renamed: the code makes the
-- new ones and points the wrappers at them, and the post-migration drops
-- the renamed (sql/migrations/0.2.0--0.3.0.post.sql).  Functions that
-- nothing depends on are dropped at once.
DO $$
DECLARE
    f record;
BEGIN
    FOR f IN
        SELECT p.oid::regprocedure AS fn, p.proname
          FROM pg_catalog.pg_proc p
         WHERE p.pronamespace = 'esqase'::regnamespace
           AND p.prorettype = 'json'::regtype
           AND (p.proname ~ '^(contacts|practice_areas|matter_types|matters|leads|members)_(create|get|update|delete)$'
                OR p.proname ~ '^(contact|practice_area|matter_type|matter|lead|member)_one$')
    LOOP
        EXECUTE format('ALTER FUNCTION %s RENAME TO %I', f.fn, f.proname || '_0_2_0');
    END LOOP;
END
$$;
DROP FUNCTION IF EXISTS esqase.one_version(json, timestamptz);
DROP FUNCTION IF EXISTS esqase.note_version(timestamptz);
DROP FUNCTION IF EXISTS esqase.idempotency_note_replay();

-- esqase.key_lookup returns valid_until too (a new OUT column: a new type)
DROP FUNCTION IF EXISTS esqase.key_lookup(text);
