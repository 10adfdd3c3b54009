
-------------------------------------------------------------------------------
-- 15 Idempotency keys (issue 10): a create called with an idempotency key
-- (over HTTP, a POST's Idempotency-Key header) keeps its response in
-- esqase.idempotency_keys (sql/migrations/0.2.0.sql); the same key again, from the
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

-- A create's answer that replays the stored response of an earlier request
-- with the same key: the HTTP worker sends it with Idempotent-Replayed:
-- true (the answer's replayed column; src/idempotency.c).
CREATE OR REPLACE FUNCTION esqase.replayed(response json) RETURNS esqase.answer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN ROW(response, NULL, true)::esqase.answer;

-- An idempotency key is 1 to 255 printable ASCII characters (space
-- included), not starting or ending with a space (HTTP trims them).
CREATE OR REPLACE FUNCTION esqase.idempotency_check(idem text) RETURNS void
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
-- starts a new 24 hours; so is a row left without a response (a claim
-- committed by SQL that never called idempotency_end), which no create
-- over HTTP leaves behind.
--
-- SECURITY DEFINER, like idempotency_end: the API role reads its own rows
-- but does not write the table (an edited response would be replayed as
-- the create's answer: F17 of the 0.2.0 probe).  Both act for the key of
-- the context, in its firm, for a resource it may create.
CREATE OR REPLACE FUNCTION esqase.idempotency_begin(firm uuid, res text, body jsonb, idem text) RETURNS json
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    caller uuid := esqase.context_key();
    hash bytea;
    stored esqase.idempotency_keys;
BEGIN
    IF idem IS NULL THEN
        RETURN NULL;
    END IF;
    IF firm IS DISTINCT FROM esqase.context_firm() OR NOT coalesce(esqase.context_may(res || ':write'), false) THEN
        PERFORM esqase.fail('42501', format('the API key lacks the scope %s:write', res));
    END IF;
    PERFORM esqase.idempotency_check(idem);
    hash := sha256(convert_to(coalesce(body, 'null')::text, 'UTF8'));
    INSERT INTO esqase.idempotency_keys AS i (firm_id, key_id, idempotency_key, resource, request_hash)
    VALUES (firm, caller, idem, res, hash)
    ON CONFLICT (firm_id, key_id, idempotency_key) DO UPDATE
       SET resource = excluded.resource, request_hash = excluded.request_hash,
           response = NULL, record_id = NULL, created_at = excluded.created_at
     WHERE i.created_at <= now() - interval '24 hours'
        OR (i.response IS NULL AND NOT esqase.written_here(i.xmin));
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
    IF stored.response IS NULL THEN
        RETURN NULL;    -- this transaction's own claim, not stored yet
    END IF;
    RETURN stored.response;
END
$$;

-- A create's answer, its body stored under the request's Idempotency-Key
-- (esqase.idempotency_end) for a replay.
CREATE OR REPLACE FUNCTION esqase.idempotency_keep(firm uuid, idem text, a esqase.answer) RETURNS esqase.answer
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM esqase.idempotency_end(firm, idem, a.body);
    RETURN a;
END
$$;

-- Stores response under the key claimed by idempotency_begin (nothing
-- without a key); returns response.  Only once per claim, in the
-- transaction that claimed it, and only the response of a record of the
-- claimed resource that this transaction created (its data.id); else 55000
-- (the create's own calls never meet this).
CREATE OR REPLACE FUNCTION esqase.idempotency_end(firm uuid, idem text, response json) RETURNS json
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    res text;
    created uuid;
    made_here boolean;
BEGIN
    IF idem IS NULL THEN
        RETURN response;
    END IF;
    SELECT i.resource INTO res FROM esqase.idempotency_keys i
     WHERE i.firm_id = firm AND firm = esqase.context_firm() AND i.key_id = esqase.context_key()
       AND i.idempotency_key = idem AND i.response IS NULL AND esqase.written_here(i.xmin);
    IF FOUND AND esqase.is_uuid(response -> 'data' ->> 'id') THEN
        created := (response -> 'data' ->> 'id')::uuid;
        made_here := CASE res
            WHEN 'contacts' THEN EXISTS (SELECT FROM esqase.contacts t
                                          WHERE t.firm_id = firm AND t.id = created AND esqase.written_here(t.xmin))
            WHEN 'practice-areas' THEN EXISTS (SELECT FROM esqase.practice_areas t
                                          WHERE t.firm_id = firm AND t.id = created AND esqase.written_here(t.xmin))
            WHEN 'matter-types' THEN EXISTS (SELECT FROM esqase.matter_types t
                                          WHERE t.firm_id = firm AND t.id = created AND esqase.written_here(t.xmin))
            WHEN 'matters' THEN EXISTS (SELECT FROM esqase.matters t
                                          WHERE t.firm_id = firm AND t.id = created AND esqase.written_here(t.xmin))
            WHEN 'leads' THEN EXISTS (SELECT FROM esqase.leads t
                                          WHERE t.firm_id = firm AND t.id = created AND esqase.written_here(t.xmin))
        END;
    END IF;
    IF NOT coalesce(made_here, false) THEN
        PERFORM esqase.fail('55000', format('Idempotency-Key %s: no create of this transaction to store', idem),
                            'Idempotency-Key');
    END IF;
    UPDATE esqase.idempotency_keys i SET response = idempotency_end.response, record_id = created
     WHERE i.firm_id = firm AND i.key_id = esqase.context_key() AND i.idempotency_key = idem;
    RETURN response;
END
$$;

-- Deletes up to batch rows older than 24 hours, of every firm; returns how
-- many.  The HTTP worker calls it every esqase.idempotency_sweep_interval,
-- one batch per transaction, until a batch comes back short.  SKIP LOCKED:
-- a row a request holds (taking over the expired key) is left for the next
-- sweep, so the sweep never waits for a request and holds its own row locks
-- for one short batch.  For DBAs (and the worker, a superuser) only.
CREATE OR REPLACE FUNCTION esqase.idempotency_sweep(batch integer DEFAULT 1000) RETURNS bigint
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
