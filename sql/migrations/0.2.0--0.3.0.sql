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
