
-------------------------------------------------------------------------------
-- 41 Webhooks: a firm's subscriptions to the changes of its records, and
-- the transactional outbox they are delivered from (docs/http-api.md,
-- "Webhooks"; docs/decisions.md, "Webhooks").
--
-- A change of a webhook source (a resource with events in sql/registry.pl)
-- that a live webhook of the firm subscribed to queues a deferred trigger
-- event on the record's row; when the transaction commits, that trigger
-- writes one event row with its data, the record as GET renders it then
-- (a matter's clients, written after the matter's row): one write per
-- event, in the transaction of the change (a rollback takes it away).  The
-- delivery worker (src/webhook_worker.c) fans each event out to the
-- webhooks listening (one delivery row each) and posts the due deliveries.
-- Read and delete: generated in 36_records.sql; list in 39_lists.sql.
-------------------------------------------------------------------------------

-- Webhooks as the API renders them, for ids; see contact_docs.  The
-- secret is shown by the create only.
CREATE OR REPLACE FUNCTION esqase.webhook_docs(firm uuid, ids uuid[]) RETURNS TABLE (n bigint, doc json)
LANGUAGE sql STABLE AS $$
    SELECT u.n, json_build_object(
        'id', w.id, 'url', w.url, 'events', to_json(w.events), 'status', w.status,
        'createdAt', esqase.ts(w.created_at), 'updatedAt', esqase.ts(w.updated_at))
      FROM unnest(ids) WITH ORDINALITY AS u(id, n)
      CROSS JOIN LATERAL (SELECT * FROM esqase.webhooks w WHERE w.firm_id = firm AND w.id = u.id OFFSET 0) w
$$;

-- The webhooks that match a list's filters; see contacts_matching.
CREATE OR REPLACE FUNCTION esqase.webhooks_matching(firm uuid, r esqase.page_request)
RETURNS TABLE (created_at timestamptz, updated_at timestamptz, name text, rank real, id uuid,
               deleted_at timestamptz)
LANGUAGE sql STABLE AS $$
    SELECT w.created_at, w.updated_at, NULL::text, NULL::real, w.id, w.deleted_at
      FROM esqase.webhooks w
     WHERE w.firm_id = firm
       AND esqase.list_match(r, w.deleted_at, w.status, w.created_at, w.updated_at)
$$;

-- Checks a webhook's url where it is given (create, PATCH): https (http
-- only with esqase.webhook_allow_private), a host whose every address is
-- public; raises 23514 naming url.  The worker checks the address again
-- at every attempt (src/webhook_url.c).
CREATE OR REPLACE FUNCTION esqase.webhook_url_problem(url text) RETURNS text
    AS 'MODULE_PATHNAME', 'esqase_webhook_url_problem' LANGUAGE C VOLATILE STRICT;

CREATE OR REPLACE FUNCTION esqase.body_webhook_url(body jsonb, required boolean) RETURNS text
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    url text := esqase.body_text(body, 'url', required, 2000);
    problem text;
BEGIN
    IF url IS NOT NULL THEN
        problem := esqase.webhook_url_problem(url);
        IF problem IS NOT NULL THEN
            PERFORM esqase.fail('23514', format('url: %s', problem), 'url');
        END IF;
    END IF;
    RETURN url;
END
$$;

-- The event types a webhook may subscribe to: <resource>.created, .updated
-- and .deleted of every webhook source (generated below).  An unknown one
-- is a 422 naming it.
CREATE OR REPLACE FUNCTION esqase.body_webhook_events(body jsonb, required boolean) RETURNS text[]
LANGUAGE plpgsql STABLE AS $$
DECLARE
    events text[] := esqase.body_list(body, 'events', NULL, 50);
    e text;
BEGIN
    IF events IS NULL AND NOT required THEN
        RETURN NULL;
    END IF;
    IF events IS NULL OR cardinality(events) = 0 THEN
        PERFORM esqase.fail('23514', 'events must list at least one event type', 'events');
    END IF;
    FOREACH e IN ARRAY events LOOP
        IF NOT e = ANY (esqase.webhook_event_types()) THEN
            PERFORM esqase.fail('23514', format('events: unknown event type %s', e), 'events');
        END IF;
    END LOOP;
    RETURN ARRAY(SELECT DISTINCT x FROM unnest(events) x ORDER BY x);
END
$$;

-- The secret of a webhook the context's key has just made in this
-- transaction: whsec_ and 64 hex digits (244 random bits, of two version-4
-- UUIDs), stored where the API role cannot read it, and returned to be
-- shown once.  SECURITY DEFINER, checked here: the firm and scope of the
-- context, a webhook made in this transaction, without a secret yet.
CREATE OR REPLACE FUNCTION esqase.webhook_new_secret(firm uuid, hook uuid) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    secret text := 'whsec_' || replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', '');
BEGIN
    IF firm IS DISTINCT FROM esqase.context_firm() OR NOT esqase.context_may('webhooks:write')
       OR NOT EXISTS (SELECT FROM esqase.webhooks w
                       WHERE w.firm_id = firm AND w.id = hook AND esqase.written_here(w.xmin))
       OR EXISTS (SELECT FROM esqase.webhook_secrets s WHERE s.firm_id = firm AND s.webhook_id = hook) THEN
        PERFORM esqase.fail('42501', 'a webhook''s secret is made once, by its create');
    END IF;
    INSERT INTO esqase.webhook_secrets (firm_id, webhook_id, secret) VALUES (firm, hook, secret);
    RETURN secret;
END
$$;

-- The create: the webhook acts as the key that makes it.  Its response
-- holds the secret, which is why an Idempotency-Key is refused: the
-- replay would have to keep the secret where the API role reads it.
CREATE OR REPLACE FUNCTION esqase.webhooks_create(body jsonb, idempotency_key text DEFAULT NULL)
RETURNS esqase.answer LANGUAGE plpgsql AS $$
DECLARE
    firm uuid := esqase.api_access('webhooks', 'write');
    created uuid;
    secret text;
    url text;
    events text[];
    a esqase.answer;
BEGIN
    IF idempotency_key IS NOT NULL THEN
        PERFORM esqase.fail('22023', 'Idempotency-Key is not taken by webhooks (the response holds the secret)');
    END IF;
    PERFORM esqase.check_body(body, '{url,events}', '{id,status,secret,createdAt,updatedAt}');
    url := esqase.body_webhook_url(body, true);
    events := esqase.body_webhook_events(body, true);
    created := esqase.target(gen_random_uuid());    -- as practice_areas_create
    INSERT INTO esqase.webhooks (firm_id, id, url, events, key_id)
    VALUES (firm, created, url, events, esqase.context_key());
    secret := esqase.webhook_new_secret(firm, created);
    a := esqase.webhook_one(firm, created);
    a.body := json_build_object('data', (left((a.body -> 'data')::text, -1)
                                         || ', "secret" : ' || to_json(secret)::text || '}')::json);
    RETURN a;
END
$$;

-- PATCH: url, events, status (ACTIVE or PAUSED; ACTIVE re-enables a
-- DISABLED webhook, whose pending deliveries are then tried again).
CREATE OR REPLACE FUNCTION esqase.webhooks_update(id uuid, body jsonb, expected_updated_at timestamptz DEFAULT NULL)
RETURNS esqase.answer LANGUAGE plpgsql AS $$
DECLARE
    firm uuid := esqase.api_access('webhooks', 'write');
    w esqase.webhooks;
    new_url text;
    new_events text[];
    new_status text;
BEGIN
    PERFORM esqase.check_body(body, '{url,events,status}', '{id,secret,createdAt,updatedAt}');
    w := esqase.webhook_find(firm, id, NULL, true, expected_updated_at);
    new_url := coalesce(esqase.body_webhook_url(body, false), w.url);
    new_events := coalesce(esqase.body_webhook_events(body, false), w.events);
    new_status := coalesce(esqase.body_enum(body, 'status', '{ACTIVE,PAUSED}'), w.status);
    UPDATE esqase.webhooks t
       SET url = new_url, events = new_events, status = new_status,
           failing_since = CASE WHEN new_status = 'ACTIVE' THEN NULL ELSE t.failing_since END
     WHERE t.firm_id = firm AND t.id = w.id
       AND (t.url, t.events, t.status) IS DISTINCT FROM (new_url, new_events, new_status);
    RETURN esqase.webhook_one(firm, w.id);
END
$$;

-- GET /v1/webhooks/{id}/deliveries: the webhook's deliveries, newest
-- first, each with its last attempt; limit (1-200, 50) and offset.
CREATE OR REPLACE FUNCTION esqase.webhooks_deliveries(id uuid, params jsonb DEFAULT '{}') RETURNS json
LANGUAGE plpgsql STABLE AS $$
DECLARE
    firm uuid := esqase.api_access('webhooks', 'read');
    hook uuid := (esqase.webhook_find(firm, id)).id;
    lim integer := 50;
    off integer := 0;
    k text;
BEGIN
    FOR k IN SELECT jsonb_object_keys(params) LOOP
        IF k NOT IN ('limit', 'offset') THEN
            PERFORM esqase.fail('22023', format('unknown query parameter: %s', k), k);
        END IF;
    END LOOP;
    IF params ? 'limit' THEN
        IF params ->> 'limit' !~ '^\d{1,3}$' OR (params ->> 'limit')::integer NOT BETWEEN 1 AND 200 THEN
            PERFORM esqase.fail('22023', 'query parameter limit must be an integer from 1 to 200', 'limit');
        END IF;
        lim := (params ->> 'limit')::integer;
    END IF;
    IF params ? 'offset' THEN
        IF params ->> 'offset' !~ '^\d{1,9}$' THEN
            PERFORM esqase.fail('22023', 'query parameter offset must be a non-negative integer', 'offset');
        END IF;
        off := (params ->> 'offset')::integer;
    END IF;
    RETURN json_build_object(
        'data', coalesce((SELECT json_agg(json_build_object(
                    'eventId', d.event_id, 'type', d.type, 'recordId', d.record_id, 'state', d.state,
                    'attempts', d.attempts, 'attemptedAt', esqase.ts(d.last_attempt_at),
                    'status', d.last_status, 'error', d.last_error, 'durationMs', d.last_duration_ms,
                    'createdAt', esqase.ts(d.created_at)) ORDER BY d.seq DESC)
                   FROM (SELECT * FROM esqase.webhook_deliveries x
                          WHERE x.firm_id = firm AND x.webhook_id = hook
                          ORDER BY x.seq DESC LIMIT lim OFFSET off) d), '[]'),
        'pagination', json_build_object(
            'limit', lim, 'offset', off,
            'total', (SELECT count(*) FROM esqase.webhook_deliveries x
                       WHERE x.firm_id = firm AND x.webhook_id = hook),
            'nextCursor', NULL));
END
$$;

CREATE OR REPLACE FUNCTION esqase_webhooks_deliveries(id uuid, params jsonb DEFAULT '{}') RETURNS jsonb
LANGUAGE sql STABLE RETURN esqase.webhooks_deliveries(id, params)::jsonb;

-------------------------------------------------------------------------------
-- The outbox
-------------------------------------------------------------------------------

-- A webhook source's table has three deferred constraint triggers, one per
-- event type (<table>_webhook_insert, _update and _delete, generated
-- below), each with a WHEN that decides at the change whether it is an
-- event: a live webhook of the row's firm subscribed to the type
-- (esqase.webhook_listens), for an update that it changed the row beyond
-- updated_at (the new row, with the old updated_at put in, compared to the
-- old one as stored: *<>, no to_jsonb), for a delete that it set
-- deleted_at, and for an insert that it is not a restore's COPY
-- (esqase.restoring; a restore updates nothing).  A change that is no
-- event queues nothing: a firm without a live webhook pays one probe per
-- row.  At commit each queued change runs its table's event function
-- (esqase.<table>_webhook_event), which inserts the event row with data
-- already rendered, so an event row is written once; the worker fans it
-- out (esqase.webhook_fan_out), so a change costs one row however many
-- webhooks listen.  seq is taken there, while the transaction still holds
-- the record's row lock: a record's events are numbered in commit order.

-- Whether a live webhook of the firm subscribed to the event type, for the
-- triggers' WHEN.  SECURITY DEFINER: a WHEN runs as the writer, whose
-- row-level security shows webhooks only to a key with webhooks:read.  So
-- in an API context it answers of the context's own firm only (false of
-- another); with none, for a session whose role is not the API role's (a
-- write by hand, by a superuser or a role the DBA granted writes): the API
-- role writes nothing without a context, and cannot ask about a firm.
-- PL/pgSQL, whose plan is kept for the session, and forced generic: the
-- EXISTS made a custom plan look cheaper (a seq scan that stops at the
-- first row), so the probe was planned again at every call: a quarter
-- of what a live webhook added to a write (tools/bench.sh webhooks
-- part; a SQL function is no better, a sub-select keeps it from being
-- inlined).
CREATE OR REPLACE FUNCTION esqase.webhook_listens(firm uuid, type text) RETURNS boolean
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp SET plan_cache_mode = force_generic_plan AS $$
BEGIN
    IF firm IS DISTINCT FROM esqase.context_firm() THEN
        IF esqase.context_firm() IS NOT NULL
           OR (NOT (SELECT r.rolsuper FROM pg_roles r WHERE r.rolname = session_user)
               AND pg_has_role(session_user, 'esqase_api', 'MEMBER')) THEN
            RETURN false;
        END IF;
    END IF;
    RETURN EXISTS (SELECT FROM esqase.webhooks w
                    WHERE w.firm_id = firm AND w.status = 'ACTIVE' AND w.deleted_at IS NULL
                      AND type = ANY (w.events));
END
$$;

-- Wakes the delivery worker when the transaction commits (a latch in
-- shared memory, src/webhook_worker.c); nothing if it runs no worker.
CREATE OR REPLACE FUNCTION esqase.webhook_wake() RETURNS void
    AS 'MODULE_PATHNAME', 'esqase_webhook_wake' LANGUAGE C VOLATILE;

-------------------------------------------------------------------------------
-- The delivery worker's statements (src/webhook_worker.c), run as the
-- worker's superuser connection: none is granted to anyone.
-------------------------------------------------------------------------------

-- Fans up to n new events out, oldest first: one delivery per webhook of
-- the event's firm that is live and subscribed to its type now (and was
-- made before the change), in the worker's round, before its claim.  A
-- change is thus sent to the webhooks listening when the worker takes it,
-- normally milliseconds after it committed; an event is visible here only
-- once committed, and a record's events commit in seq order (its writers
-- take its row lock in turn), so its deliveries are made in that order.
CREATE OR REPLACE FUNCTION esqase.webhook_fan_out(n integer) RETURNS bigint
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    made bigint;
BEGIN
    WITH ev AS (
        -- by ctid (a TID scan): joined back by key, the generic plan
        -- hashed the locked rows and read the whole table every round
        UPDATE esqase.webhook_events e SET fanned_out = true
         WHERE e.ctid = ANY (ARRAY(SELECT x.ctid FROM esqase.webhook_events x
                                    WHERE NOT x.fanned_out
                                    ORDER BY x.seq LIMIT n FOR UPDATE SKIP LOCKED))
        RETURNING e.firm_id, e.id, e.seq, e.type, e.record_id, e.created_at)
    INSERT INTO esqase.webhook_deliveries (firm_id, webhook_id, event_id, seq, type, record_id, created_at)
    SELECT ev.firm_id, w.id, ev.id, ev.seq, ev.type, ev.record_id, ev.created_at
      FROM ev JOIN esqase.webhooks w
        ON w.firm_id = ev.firm_id AND w.status = 'ACTIVE' AND w.deleted_at IS NULL
       AND ev.type = ANY (w.events) AND w.created_at <= ev.created_at
    ON CONFLICT DO NOTHING;
    GET DIAGNOSTICS made = ROW_COUNT;
    RETURN made;
END
$$;

-- Up to n due deliveries, locked, the next of each record's changes:
-- a delivery waits while an earlier event of its record to its webhook
-- is pending.  With what the worker needs to post them.
CREATE OR REPLACE FUNCTION esqase.webhook_claim(n integer)
RETURNS TABLE (firm_id uuid, webhook_id uuid, seq bigint, event_id uuid, url text, signing_secret text,
               key_id uuid, type text, record_id uuid, body text, attempts integer, failing_since timestamptz)
LANGUAGE sql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
    SELECT d.firm_id, d.webhook_id, d.seq, d.event_id, w.url, s.secret, w.key_id, d.type, d.record_id,
           json_build_object('id', e.id, 'type', e.type, 'createdAt', esqase.ts(e.created_at),
                             'data', e.data)::text,
           d.attempts, w.failing_since
      -- the locked rows carry what the round needs: no join back to them
      -- (planned as a nested loop over every delivery, 2 s a round)
      FROM (SELECT x.firm_id, x.webhook_id, x.seq, x.event_id, x.type, x.record_id, x.attempts
              FROM esqase.webhook_deliveries x
             WHERE x.state = 'PENDING' AND x.next_attempt_at <= now()
               AND NOT EXISTS (SELECT FROM esqase.webhook_deliveries p
                                WHERE p.webhook_id = x.webhook_id AND p.record_id = x.record_id
                                  AND p.state = 'PENDING' AND p.seq < x.seq)
             ORDER BY x.next_attempt_at, x.seq
             LIMIT n FOR UPDATE SKIP LOCKED) d
      JOIN esqase.webhooks w ON w.firm_id = d.firm_id AND w.id = d.webhook_id
      JOIN esqase.webhook_secrets s ON s.firm_id = d.firm_id AND s.webhook_id = d.webhook_id
      JOIN esqase.webhook_events e ON e.firm_id = d.firm_id AND e.id = d.event_id
     WHERE w.status = 'ACTIVE' AND w.deleted_at IS NULL
     ORDER BY w.key_id, d.seq    -- a key's context is set once per round
$$;

-- The API context of a webhook's key, if the key is still valid (not
-- revoked, not expired, its member active); no row otherwise.
CREATE OR REPLACE FUNCTION esqase.webhook_key_context(key uuid,
    OUT firm_id uuid, OUT member_id uuid, OUT key_id uuid, OUT is_owner boolean,
    OUT scopes text[], OUT permissions text[])
RETURNS SETOF record LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT k.firm_id, k.member_id, k.id, m.is_owner, k.scopes, m.permissions
      FROM esqase.api_keys k
      JOIN esqase.members m ON m.firm_id = k.firm_id AND m.id = k.member_id AND m.deleted_at IS NULL
     WHERE k.id = key AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > now())
$$;

-- The rows of webhook_attempted's outcomes.
CREATE OR REPLACE FUNCTION esqase.webhook_outcomes(outcomes jsonb)
RETURNS TABLE (f uuid, h uuid, s bigint, st text, c integer, d integer, r interval, e text)
LANGUAGE sql IMMUTABLE AS $$
    SELECT * FROM jsonb_to_recordset(outcomes) AS u (f uuid, h uuid, s bigint, st text, c integer, d integer, r interval, e text)
$$;

-- The outcomes of a round's attempts, one statement for the round: a JSON
-- array of {f: firm, h: webhook, s: seq, st: DELIVERED, SKIPPED or PENDING
-- (to retry), c: HTTP status, d: duration in ms, r: the wait before the
-- next attempt, e: the error}.  A webhook with a failed attempt is failing
-- since then (until an attempt succeeds); once it has failed for
-- retry_window (esqase.webhook_retry_window) it is DISABLED, and the
-- delivery that failed last is given up (FAILED): the record's next event
-- may go once the webhook is re-enabled.
CREATE OR REPLACE FUNCTION esqase.webhook_attempted(outcomes jsonb, retry_window interval)
RETURNS void LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    UPDATE esqase.webhook_deliveries d
       SET state = u.st, attempts = d.attempts + 1, last_attempt_at = now(), last_status = u.c,
           last_error = u.e, last_duration_ms = u.d,
           next_attempt_at = CASE WHEN u.st = 'PENDING' THEN now() + u.r ELSE d.next_attempt_at END
      FROM esqase.webhook_outcomes(outcomes) u
     WHERE d.firm_id = u.f AND d.webhook_id = u.h AND d.seq = u.s;
    UPDATE esqase.webhooks w SET failing_since = NULL
     WHERE w.failing_since IS NOT NULL
       AND (w.firm_id, w.id) IN (SELECT u.f, u.h FROM esqase.webhook_outcomes(outcomes) u WHERE u.st = 'DELIVERED')
       AND (w.firm_id, w.id) NOT IN (SELECT u.f, u.h FROM esqase.webhook_outcomes(outcomes) u WHERE u.st = 'PENDING');
    UPDATE esqase.webhooks w
       SET failing_since = coalesce(w.failing_since, now()),
           status = CASE WHEN w.failing_since <= now() - retry_window THEN 'DISABLED' ELSE w.status END
     WHERE (w.firm_id, w.id) IN (SELECT u.f, u.h FROM esqase.webhook_outcomes(outcomes) u WHERE u.st = 'PENDING')
       AND (w.failing_since IS NULL OR w.failing_since <= now() - retry_window);
    UPDATE esqase.webhook_deliveries d SET state = 'FAILED'
      FROM esqase.webhook_outcomes(outcomes) u JOIN esqase.webhooks w ON w.firm_id = u.f AND w.id = u.h AND w.status = 'DISABLED'
     WHERE u.st = 'PENDING' AND d.firm_id = u.f AND d.webhook_id = u.h AND d.seq = u.s;
END
$$;

-- Deliveries done (delivered, skipped, failed) for longer than keep, those
-- of deleted webhooks (never sent), and the events none waits for any more.
CREATE OR REPLACE FUNCTION esqase.webhook_sweep(keep interval) RETURNS bigint
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    n bigint;
BEGIN
    DELETE FROM esqase.webhook_deliveries d WHERE d.state <> 'PENDING' AND d.created_at < now() - keep;
    GET DIAGNOSTICS n = ROW_COUNT;
    DELETE FROM esqase.webhook_deliveries d USING esqase.webhooks w
     WHERE w.firm_id = d.firm_id AND w.id = d.webhook_id AND w.deleted_at IS NOT NULL;
    DELETE FROM esqase.webhook_events e
     WHERE e.created_at < now() - keep AND e.fanned_out
       AND NOT EXISTS (SELECT FROM esqase.webhook_deliveries d WHERE d.firm_id = e.firm_id AND d.event_id = e.id);
    RETURN n;
END
$$;

-- generated: the event types, esqase.webhook_may_read, and each webhook
-- source's event function and triggers
-- @generate webhook_sources
