
-------------------------------------------------------------------------------
-- 25 Administration: firms, members and API keys (for DBAs, in SQL).
-- SECURITY DEFINER with EXECUTE revoked from PUBLIC (see 90_security.sql):
-- a DBA grants them to whoever administers firms.
-------------------------------------------------------------------------------

-- Each runs with jit = off (a setting of the function, not of the server):
-- no statement of the API JIT-compiles, whatever the server's settings
-- (src/api_plans.c covers the API functions without a per-call setting;
-- these are called rarely, by DBAs, outside any API context).
CREATE OR REPLACE FUNCTION esqase_create_firm(name text) RETURNS uuid
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET jit = off AS $$
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

CREATE OR REPLACE FUNCTION esqase_create_member(firm_id uuid, name text, email text,
                                     is_owner boolean DEFAULT false,
                                     permissions text[] DEFAULT '{}')
RETURNS uuid
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET jit = off AS $$
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
CREATE OR REPLACE FUNCTION esqase.valid_scopes() RETURNS text[]
    AS 'MODULE_PATHNAME', 'esqase_valid_scopes' LANGUAGE C STABLE PARALLEL SAFE;

-- Returns the token once: esq_<12 hex prefix>_<64 hex secret>.  Only its
-- SHA-256 is stored; the prefix is stored to find the row.
-- A key's scopes as stored: each one known, no duplicates, sorted; at
-- least one.
CREATE OR REPLACE FUNCTION esqase.checked_scopes(scopes text[]) RETURNS text[]
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    s text;
BEGIN
    IF scopes IS NULL OR cardinality(scopes) = 0 THEN
        PERFORM esqase.fail('23514', 'a key needs at least one scope', 'scopes');
    END IF;
    FOREACH s IN ARRAY scopes LOOP
        IF s IS NULL OR NOT s = ANY (esqase.valid_scopes()) THEN
            PERFORM esqase.fail('23514', format('unknown scope: %s (valid: %s)', s,
                                array_to_string(esqase.valid_scopes(), ', ')), 'scopes');
        END IF;
    END LOOP;
    RETURN ARRAY(SELECT DISTINCT unnest(scopes) ORDER BY 1);
END
$$;

-- A new token, esq_<prefix>_<secret>: 12 and 64 hex digits.
-- (No SET clause on these two: they are inlined into their callers, whose
-- search_path is pg_catalog.  token_hash is STABLE because convert_to is:
-- PostgreSQL never inlines a function declared less volatile than its body,
-- and, declared IMMUTABLE, it ran through the SQL-function executor, its
-- body parsed again, on every request's key lookup.)
CREATE OR REPLACE FUNCTION esqase.new_token(prefix text) RETURNS text
LANGUAGE sql VOLATILE
RETURN 'esq_' || prefix || '_' || pg_catalog.replace(pg_catalog.gen_random_uuid()::text || pg_catalog.gen_random_uuid()::text, '-', '');

CREATE OR REPLACE FUNCTION esqase.token_hash(token text) RETURNS bytea
LANGUAGE sql STABLE STRICT
RETURN pg_catalog.sha256(pg_catalog.convert_to(token, 'UTF8'));

-- Whether token is the key whose row has these columns: the hash proves the
-- whole token (the row is found by its prefix, esqase.token_prefix, with
-- the index); a rotated key's old secret works until previous_valid_until.
-- Written once for the request path (esqase.key_lookup) and the DBA's
-- functions (esqase.key_for_update); inlined into both.
CREATE OR REPLACE FUNCTION esqase.token_prefix(token text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT
RETURN pg_catalog.substr(token, 5, 12);

CREATE OR REPLACE FUNCTION esqase.token_opens(token text, secret_hash bytea, previous_secret_hash bytea,
                                              previous_valid_until timestamptz) RETURNS boolean
LANGUAGE sql STABLE
RETURN secret_hash = esqase.token_hash(token)
       OR (previous_secret_hash = esqase.token_hash(token) AND previous_valid_until > pg_catalog.now());

CREATE OR REPLACE FUNCTION esqase_create_api_key(member_id uuid, scopes text[], name text DEFAULT NULL,
                                      expires_at timestamptz DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET jit = off AS $$
DECLARE
    m esqase.members;
    prefix text := substr(replace(gen_random_uuid()::text, '-', ''), 1, 12);
    token text := esqase.new_token(prefix);
BEGIN
    SELECT * INTO m FROM esqase.members WHERE id = member_id AND deleted_at IS NULL;
    IF NOT FOUND THEN
        PERFORM esqase.fail('23503', format('member %s does not exist', member_id), 'member_id');
    END IF;
    INSERT INTO esqase.api_keys (firm_id, member_id, name, prefix, secret_hash, scopes, expires_at)
    VALUES (m.firm_id, m.id, name, prefix, esqase.token_hash(token),
            esqase.checked_scopes(scopes), expires_at);
    RETURN token;
END
$$;

-- The key a DBA names by id or by its token (the current secret, or the one
-- a rotation replaced while it is still valid), locked for a change.
-- Revoked keys are found too (revoking twice is harmless); changing one
-- is refused by esqase.live_key_for_update.
CREATE OR REPLACE FUNCTION esqase.key_for_update(token_or_id text) RETURNS esqase.api_keys
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    k esqase.api_keys;
BEGIN
    IF esqase.is_uuid(token_or_id) THEN
        SELECT * INTO k FROM esqase.api_keys WHERE id = token_or_id::uuid FOR UPDATE;
    ELSE
        SELECT * INTO k FROM esqase.api_keys a
         WHERE a.prefix = esqase.token_prefix(token_or_id)
           AND esqase.token_opens(token_or_id, a.secret_hash, a.previous_secret_hash, a.previous_valid_until)
           FOR UPDATE;
    END IF;
    IF NOT FOUND THEN
        PERFORM esqase.fail('P0002', 'no such API key', 'token_or_id');
    END IF;
    RETURN k;
END
$$;

CREATE OR REPLACE FUNCTION esqase.live_key_for_update(token_or_id text) RETURNS esqase.api_keys
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    k esqase.api_keys := esqase.key_for_update(token_or_id);
BEGIN
    IF k.revoked_at IS NOT NULL THEN
        PERFORM esqase.fail('55000', 'the API key has been revoked; create a new one', 'token_or_id');
    END IF;
    RETURN k;
END
$$;

-- Revoking a key that is already revoked changes nothing (its revoked_at,
-- updated_at and audit trail stay as they were).
CREATE OR REPLACE FUNCTION esqase_revoke_api_key(token_or_id text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET jit = off AS $$
DECLARE
    k esqase.api_keys := esqase.key_for_update(token_or_id);
BEGIN
    IF k.revoked_at IS NULL THEN
        UPDATE esqase.api_keys SET revoked_at = now() WHERE firm_id = k.firm_id AND id = k.id;
    END IF;
END
$$;

-- Key management (docs/sql-api.md, "API keys"): a key's scopes and expiry
-- change in place, so integrations keep their token; every change is
-- audited (the audit trigger of api_keys) and applies from the key's next
-- request, since every request looks the key up.
-- The key's scopes set to scopes (checked, sorted); returns them.
CREATE OR REPLACE FUNCTION esqase.store_key_scopes(k esqase.api_keys, scopes text[]) RETURNS text[]
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    UPDATE esqase.api_keys a SET scopes = esqase.checked_scopes(store_key_scopes.scopes)
     WHERE a.firm_id = k.firm_id AND a.id = k.id
    RETURNING a.scopes INTO store_key_scopes.scopes;
    RETURN scopes;
END
$$;

CREATE OR REPLACE FUNCTION esqase_set_api_key_scopes(token_or_id text, scopes text[]) RETURNS text[]
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET jit = off
RETURN esqase.store_key_scopes(esqase.live_key_for_update(token_or_id), scopes);

CREATE OR REPLACE FUNCTION esqase_add_api_key_scopes(token_or_id text, scopes text[]) RETURNS text[]
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET jit = off AS $$
DECLARE
    k esqase.api_keys := esqase.live_key_for_update(token_or_id);
BEGIN
    RETURN esqase.store_key_scopes(k, k.scopes || scopes);
END
$$;

CREATE OR REPLACE FUNCTION esqase_remove_api_key_scopes(token_or_id text, scopes text[]) RETURNS text[]
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET jit = off AS $$
DECLARE
    k esqase.api_keys := esqase.live_key_for_update(token_or_id);
BEGIN
    RETURN esqase.store_key_scopes(k, ARRAY(SELECT s FROM unnest(k.scopes) s
                                             WHERE NOT s = ANY (esqase_remove_api_key_scopes.scopes)));
END
$$;

-- NULL: the key never expires.  A time in the past stops it at once.
CREATE OR REPLACE FUNCTION esqase_set_api_key_expiry(token_or_id text, expires_at timestamptz) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET jit = off AS $$
DECLARE
    k esqase.api_keys := esqase.live_key_for_update(token_or_id);
BEGIN
    UPDATE esqase.api_keys a SET expires_at = esqase_set_api_key_expiry.expires_at
     WHERE a.firm_id = k.firm_id AND a.id = k.id;
END
$$;

-- A new secret for the key (same id, prefix, scopes, member); returns the
-- new token.  The secret it replaces keeps working for `overlap`, so
-- clients can move to the new token without an outage; one rotation
-- replaces the overlap of the one before (only one old secret is kept).
CREATE OR REPLACE FUNCTION esqase_rotate_api_key(token_or_id text, overlap interval DEFAULT '1 day')
RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET jit = off AS $$
DECLARE
    k esqase.api_keys := esqase.live_key_for_update(token_or_id);
    token text := esqase.new_token(k.prefix);
BEGIN
    IF overlap IS NULL OR overlap < interval '0' OR overlap > interval '30 days' THEN
        PERFORM esqase.fail('22023', 'overlap must be between 0 and 30 days', 'overlap');
    END IF;
    UPDATE esqase.api_keys a
       SET secret_hash = esqase.token_hash(token),
           previous_secret_hash = CASE WHEN overlap > interval '0' THEN k.secret_hash END,
           previous_valid_until = CASE WHEN overlap > interval '0' THEN now() + overlap END,
           rotated_at = now()
     WHERE a.firm_id = k.firm_id AND a.id = k.id;
    RETURN token;
END
$$;

-- Keys without their hashes, for DBAs (no grant: a superuser reads it, or
-- whom a superuser grants it to).
CREATE OR REPLACE VIEW esqase.api_key_list AS
SELECT k.firm_id, k.id, k.member_id, m.name AS member_name, k.name, k.prefix, k.scopes,
       CASE WHEN k.revoked_at IS NOT NULL THEN 'REVOKED'
            WHEN k.expires_at <= now() THEN 'EXPIRED'
            ELSE 'ACTIVE' END AS status,
       k.created_at, k.updated_at, k.last_used_at, k.expires_at, k.revoked_at,
       k.rotated_at, k.previous_valid_until
  FROM esqase.api_keys k
  JOIN esqase.members m ON m.firm_id = k.firm_id AND m.id = k.member_id;

-- Called by esqase_authenticate() (C).  Anyone may call it, but it only
-- answers to a valid token, so it reveals nothing the token holder lacks.
-- An unknown, revoked or expired key and a key whose member was removed
-- get the same answer: whoever holds a token that no longer works learns
-- nothing more from it (not even that it was once a key; F17 of the 0.2.0
-- probe).  Which it was is in esqase.api_key_list (status), for the DBA.
-- last_used_at is refreshed at most once a minute, never waiting on a lock,
-- so concurrent requests with one key do not queue behind each other, and
-- not at all in a read-only transaction.
-- Its statements keep one generic plan: with the token as a constant the
-- plan cache judged a custom plan cheaper every time and planned the lookup
-- again on every request (a quarter of a GET's CPU; docs/benchmarks.md).
-- valid_until: when the key stops working if nothing changes (its expiry,
-- or the end of a rotated key's old secret it was given), for the C cache
-- of known keys (context.c), which the triggers of 20_triggers.sql empty
-- on every other change.
CREATE OR REPLACE FUNCTION esqase.key_lookup(token text,
    OUT firm_id uuid, OUT member_id uuid, OUT key_id uuid, OUT is_owner boolean,
    OUT scopes text[], OUT permissions text[], OUT valid_until timestamptz)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    last_used timestamptz;
BEGIN
    -- one statement: the key and its member
    SELECT a.firm_id, a.member_id, a.id, m.is_owner, a.scopes, m.permissions, a.last_used_at,
           least(a.expires_at, CASE WHEN a.secret_hash = esqase.token_hash(token) THEN NULL
                                    ELSE a.previous_valid_until END)
      INTO firm_id, member_id, key_id, is_owner, scopes, permissions, last_used, valid_until
      FROM esqase.api_keys a
      JOIN esqase.members m ON m.firm_id = a.firm_id AND m.id = a.member_id AND m.deleted_at IS NULL
     WHERE a.prefix = esqase.token_prefix(token)
       AND esqase.token_opens(token, a.secret_hash, a.previous_secret_hash, a.previous_valid_until)
       AND a.revoked_at IS NULL AND (a.expires_at IS NULL OR a.expires_at > now());
    IF NOT FOUND THEN
        PERFORM esqase.fail('28000', 'invalid API key');
    END IF;
    -- Not in a read-only transaction (nor on a hot standby): a read-only
    -- request still authenticates, it just does not refresh last_used_at.
    IF (last_used IS NULL OR last_used < now() - interval '1 minute')
       AND NOT current_setting('transaction_read_only')::boolean THEN
        UPDATE esqase.api_keys a SET last_used_at = now()
         WHERE (a.firm_id, a.id) IN (SELECT b.firm_id, b.id FROM esqase.api_keys b
                                      WHERE b.firm_id = key_lookup.firm_id AND b.id = key_id
                                      FOR UPDATE SKIP LOCKED);
    END IF;
END
$$;
