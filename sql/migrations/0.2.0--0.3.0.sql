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
