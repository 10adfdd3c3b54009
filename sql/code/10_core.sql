
-------------------------------------------------------------------------------
-- 10 Core: the API context, errors, input checks, paging, rendering helpers.
-- Every resource file (3x_*.sql) is built from these; keep resource-specific
-- logic out of here.
-------------------------------------------------------------------------------

-- The API context lives in backend memory (src/context.c), not in a GUC, so
-- that SQL users cannot forge it with set_config().  It lasts until the end
-- of the transaction that called esqase_authenticate().
CREATE OR REPLACE FUNCTION esqase_authenticate(token text) RETURNS void
    AS 'MODULE_PATHNAME', 'esqase_authenticate' LANGUAGE C VOLATILE;
-- The same with the key of the session setting esqase.api_key, set in the
-- connection's options: a form whose statement carries no secret, for the
-- server log, pg_stat_activity and a client's history (src/secrets.c).
CREATE OR REPLACE FUNCTION esqase_authenticate() RETURNS void
    AS 'MODULE_PATHNAME', 'esqase_authenticate_setting' LANGUAGE C VOLATILE;
CREATE OR REPLACE FUNCTION esqase.context_firm() RETURNS uuid
    AS 'MODULE_PATHNAME', 'esqase_context_firm' LANGUAGE C STABLE PARALLEL RESTRICTED;
CREATE OR REPLACE FUNCTION esqase.context_member() RETURNS uuid
    AS 'MODULE_PATHNAME', 'esqase_context_member' LANGUAGE C STABLE PARALLEL RESTRICTED;
CREATE OR REPLACE FUNCTION esqase.context_key() RETURNS uuid
    AS 'MODULE_PATHNAME', 'esqase_context_key' LANGUAGE C STABLE PARALLEL RESTRICTED;
CREATE OR REPLACE FUNCTION esqase.context_is_owner() RETURNS boolean
    AS 'MODULE_PATHNAME', 'esqase_context_is_owner' LANGUAGE C STABLE PARALLEL RESTRICTED;
CREATE OR REPLACE FUNCTION esqase.context_scopes() RETURNS text[]
    AS 'MODULE_PATHNAME', 'esqase_context_scopes' LANGUAGE C STABLE PARALLEL RESTRICTED;
CREATE OR REPLACE FUNCTION esqase.context_permissions() RETURNS text[]
    AS 'MODULE_PATHNAME', 'esqase_context_permissions' LANGUAGE C STABLE PARALLEL RESTRICTED;
-- Whether the context may use a scope (its key holds it; for practice-areas
-- and matter-types, its member also holds the permission): the test the
-- row-level security policies make per row, a bit test in C.
CREATE OR REPLACE FUNCTION esqase.context_may(scope text) RETURNS boolean
    AS 'MODULE_PATHNAME', 'esqase_context_may' LANGUAGE C STABLE STRICT PARALLEL RESTRICTED;
-- The records the context names, for a key that writes a resource it may
-- not read: its policies let it reach only the rows it names (as over
-- HTTP: a record by its id), not list the others (docs/sql-api.md,
-- "Write-only keys").  The API's updates and deletes name the record they
-- find, its creates the records they make; direct SQL names them with
-- esqase.target(id).  Until the end of the transaction; returns its
-- argument.
CREATE OR REPLACE FUNCTION esqase.target(record_id uuid) RETURNS uuid
    AS 'MODULE_PATHNAME', 'esqase_target' LANGUAGE C VOLATILE STRICT;
CREATE OR REPLACE FUNCTION esqase.targets(record_ids uuid[]) RETURNS uuid[]
    AS 'MODULE_PATHNAME', 'esqase_targets' LANGUAGE C VOLATILE STRICT;
-- The records the context named (28_references.sql).
CREATE OR REPLACE FUNCTION esqase.context_targets() RETURNS uuid[]
    AS 'MODULE_PATHNAME', 'esqase_context_targets' LANGUAGE C STABLE PARALLEL RESTRICTED;
-- Whether the context named the record (the policies ask it per row).
CREATE OR REPLACE FUNCTION esqase.context_targeted(record_id uuid) RETURNS boolean
    AS 'MODULE_PATHNAME', 'esqase_context_targeted' LANGUAGE C STABLE STRICT PARALLEL RESTRICTED;
-- The policies' reach word in one call (tools/generate.pl): the context may
-- read the resource, or write it and named the record, live (deleted_at
-- NULL) or deleted by this transaction.
CREATE OR REPLACE FUNCTION esqase.context_reaches(resource text, record_id uuid, deleted_at timestamptz) RETURNS boolean
    AS 'MODULE_PATHNAME', 'esqase_context_reaches' LANGUAGE C STABLE PARALLEL RESTRICTED;
-- Whether a row's xmin is this transaction (or one of its subtransactions).
CREATE OR REPLACE FUNCTION esqase.written_here(x xid) RETURNS boolean
    AS 'MODULE_PATHNAME', 'esqase_written_here' LANGUAGE C STABLE STRICT PARALLEL RESTRICTED;
CREATE OR REPLACE FUNCTION esqase.context_role() RETURNS text
    AS 'MODULE_PATHNAME', 'esqase_context_role' LANGUAGE C STABLE PARALLEL RESTRICTED;
-- The X-Request-Id of the HTTP request the transaction serves (set by the
-- HTTP worker from C, not settable from SQL), for the audit log.
CREATE OR REPLACE FUNCTION esqase.context_request_id() RETURNS text
    AS 'MODULE_PATHNAME', 'esqase_context_request_id' LANGUAGE C STABLE PARALLEL RESTRICTED;

-- Raises an API error.  The JSON name of the field at fault travels in the
-- error's COLUMN field, where the HTTP layer and GET STACKED DIAGNOSTICS find it.
CREATE OR REPLACE FUNCTION esqase.fail(code text, message text, field text DEFAULT NULL)
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
-- resource is spelled as in the URL: contacts, practice-areas, ...  Which
-- scopes need the permission is C's to say (esqase.context_may, from
-- sql/registry.pl): a scope the key holds that the context may not use
-- lacks it.
CREATE OR REPLACE FUNCTION esqase.api_access(resource text, action text)
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
    IF NOT esqase.context_may(resource || ':' || action) THEN
        PERFORM esqase.fail('42501', 'the key''s member lacks the Practice areas permission');
    END IF;
    RETURN firm;
END
$$;

CREATE OR REPLACE FUNCTION esqase.not_found(what text, id uuid) RETURNS void
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
CREATE OR REPLACE FUNCTION esqase.ts(t timestamptz) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
RETURN to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"');

-- A reference to another record: {"id", "name"}, or null.
CREATE OR REPLACE FUNCTION esqase.ref(id uuid, name text) RETURNS json
LANGUAGE sql STABLE PARALLEL SAFE
RETURN CASE WHEN id IS NOT NULL THEN json_build_object('id', id, 'name', name) END;

-- The response of a single-record call: {"data": record}.
CREATE OR REPLACE FUNCTION esqase.one(record json) RETURNS json
LANGUAGE sql STABLE PARALLEL SAFE
RETURN json_build_object('data', record);

-- The answer of a single-record call (esqase.answer): {"data": record},
-- with the record's version (its updated_at) as a column beside it.  The
-- HTTP worker makes the ETag and Last-Modified of its response from the
-- version (src/http_etag.c): the record's updatedAt is rendered to the
-- second, the version is exact to the microsecond.  The public esqase_*
-- functions return the body alone.
CREATE OR REPLACE FUNCTION esqase.answer_of(record json, version timestamptz) RETURNS esqase.answer
LANGUAGE sql STABLE PARALLEL SAFE
RETURN ROW(esqase.one(record), version, false)::esqase.answer;

-- Checks the version an update or delete expects (expected_updated_at)
-- against the locked row's updated_at: a mismatch is 55000
-- (object_not_in_prerequisite_state; HTTP 412 precondition_failed).
-- NULL expects nothing.
CREATE OR REPLACE FUNCTION esqase.check_version(what text, id uuid, current timestamptz, expected timestamptz)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF expected IS NOT NULL AND expected IS DISTINCT FROM current THEN
        PERFORM esqase.fail('55000', format('%s %s has changed since the version given: read it again', what, id),
                            'expected_updated_at');
    END IF;
END
$$;

-- Whether s is written as a UUID (the one spelling ids have in the API).
CREATE OR REPLACE FUNCTION esqase.is_uuid(s text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN s ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$';

-------------------------------------------------------------------------------
-- Request bodies.  Every check raises 23514 (HTTP 422) naming the field,
-- except a body that is not a JSON object at all (22023, HTTP 400).
-------------------------------------------------------------------------------

-- Rejects a non-object body, fields not in allowed, and fields in immutable.
CREATE OR REPLACE FUNCTION esqase.check_body(body jsonb, allowed text[], immutable text[] DEFAULT '{}')
RETURNS void LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    k text;
BEGIN
    IF body IS NULL OR jsonb_typeof(body) <> 'object' THEN
        PERFORM esqase.fail('22023', 'the request body must be a JSON object');
    END IF;
    -- the usual body, every field allowed, in expressions (the loop is a
    -- query, an executor start-up per body)
    IF (body - allowed) = '{}'::jsonb AND NOT body ?| immutable THEN
        RETURN;
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

-- Text as the API stores it: in Unicode normalization form NFC, so that
-- "Café" is one string however the client composed its "é" (F17 of the
-- 0.2.0 probe: the decomposed form was stored as sent).  Only in a UTF-8
-- database (normalize() needs it); text already in NFC is returned as is.
-- In C (src/text_norm.c): every field of every body passes here, and as
-- SQL (an IMMUTABLE function asking the database's encoding) it was never
-- inlined.
CREATE OR REPLACE FUNCTION esqase.nfc(t text) RETURNS text
    AS 'MODULE_PATHNAME', 'esqase_nfc' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- The value of a field as text (in NFC), NULL when absent or null.  Strings
-- only; required fields must be present, non-null and not blank.
CREATE OR REPLACE FUNCTION esqase.body_text(body jsonb, field text, required boolean DEFAULT false,
                                 max_length integer DEFAULT 1000)
RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    v jsonb := body -> field;
    s text;
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
    s := esqase.nfc(v #>> '{}');
    IF required AND btrim(s) = '' THEN
        PERFORM esqase.fail('23514', format('%s must not be blank', field), field);
    END IF;
    IF length(s) > max_length THEN
        PERFORM esqase.fail('23514', format('%s is longer than %s characters', field, max_length), field);
    END IF;
    RETURN s;
END
$$;

CREATE OR REPLACE FUNCTION esqase.body_uuid(body jsonb, field text, required boolean DEFAULT false)
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
CREATE OR REPLACE FUNCTION esqase.body_date(body jsonb, field text, required boolean DEFAULT false)
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

CREATE OR REPLACE FUNCTION esqase.body_enum(body jsonb, field text, allowed text[], required boolean DEFAULT false)
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

CREATE OR REPLACE FUNCTION esqase.body_bool(body jsonb, field text)
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

-- A list of strings (in NFC; NULL when absent; null means the empty list).
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
    -- by position, in expressions (a FOR over a SELECT is a query per list)
    FOR i IN 0 .. jsonb_array_length(v) - 1 LOOP
        item := v -> i;
        IF jsonb_typeof(item) <> 'string' OR btrim(item #>> '{}') = '' THEN
            PERFORM esqase.fail('23514', format('%s must hold only non-blank strings', field), field);
        END IF;
        s := esqase.nfc(item #>> '{}');
        IF item_check = 'uuid' THEN
            IF NOT esqase.is_uuid(s) THEN
                PERFORM esqase.fail('23514', format('%s must hold only UUIDs', field), field);
            END IF;
            s := lower(s);
            IF s = ANY (result) THEN
                PERFORM esqase.fail('23514', format('%s lists %s twice', field, s), field);
            END IF;
        ELSIF item_check = 'email' THEN
            -- the test in an expression, the PERFORM (an executor start-up)
            -- only to raise check_email's error
            IF NOT esqase.email_ok(s) THEN
                PERFORM esqase.check_email(s, field);
            END IF;
        ELSIF length(s) > 1000 THEN
            PERFORM esqase.fail('23514', format('%s holds a value longer than 1000 characters', field), field);
        END IF;
        result := result || s;
    END LOOP;
    RETURN result;
END
$$;

-- The shape of an email address the API accepts; the contacts' policies
-- check every stored email with it too (emails_ok), so that SQL written by
-- hand stores none the API would refuse.
CREATE OR REPLACE FUNCTION esqase.email_ok(email text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN email ~ '^[^@\s]+@[^@\s]+\.[^@\s]+$' AND length(email) <= 254;

-- PL/pgSQL, not SQL: the policies call it for every row written, and a SQL
-- function with a sub-select is never inlined; it was parsed and planned
-- again by every statement, and started an executor for every row.  A NULL
-- item passes, as before (email_ok(NULL) is NULL).
CREATE OR REPLACE FUNCTION esqase.emails_ok(emails text[]) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    e text;
BEGIN
    FOREACH e IN ARRAY coalesce(emails, '{}'::text[]) LOOP
        IF NOT esqase.email_ok(e) THEN
            RETURN false;
        END IF;
    END LOOP;
    RETURN true;
END
$$;

CREATE OR REPLACE FUNCTION esqase.check_email(email text, field text)
RETURNS void LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF NOT esqase.email_ok(email) THEN
        PERFORM esqase.fail('23514', format('%s: "%s" is not an email address', field, email), field);
    END IF;
END
$$;

-------------------------------------------------------------------------------
-- Lists: query parameters and paging.  Malformed parameters are 22023 (400).
-------------------------------------------------------------------------------

-- The query parameters each list takes, resource spelled as in the URL
-- (NULL for a resource without a list), and the values its status filter
-- takes (a record's status field), from each resource's list params and
-- statuses in sql/registry.pl.  The one home of the list: the lists reject
-- any other name (esqase.list_request), and the OpenAPI document is checked
-- against it.
-- @generate list_parameters

-- Text as search compares it: lower case, accents removed (NFD, then the
-- combining marks U+0300..U+036F dropped), so that "Émile" and "emile" are
-- one word; in a database whose encoding is not UTF-8 it only folds case.
-- IMMUTABLE, for the stored search documents.  In C (src/text_norm.c): as SQL
-- (lower(regexp_replace(normalize(t, NFD), ...)) under a test of the
-- database's encoding, a STABLE call) it was never inlined, and every row a
-- trigger wrote paid an executor start-up for it.
CREATE OR REPLACE FUNCTION esqase.fold(t text) RETURNS text
    AS 'MODULE_PATHNAME', 'esqase_fold' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- The search document of some text: its words, folded.
CREATE OR REPLACE FUNCTION esqase.search_document(t text) RETURNS tsvector
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN to_tsvector('simple'::regconfig, esqase.fold(t));

-- The words of q, folded, each a required prefix ("ann smi" finds Ann
-- Smith).  NULL when q has no word.
CREATE OR REPLACE FUNCTION esqase.search_words(q text) RETURNS tsquery
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN nullif(array_to_string(ARRAY(
           SELECT '''' || replace(replace(w.lexeme, '\', '\\'), '''', '''''') || ''':*'
             FROM unnest(esqase.search_document(q)) w), ' & '), '')::tsquery;

-- The query of the q parameter: its words (esqase.search_words); a q that
-- looks like a phone number (digits with + - ( ) . or spaces, 4 digits or
-- more) may also match its digits as one prefix, which esqase.phone_keys
-- indexes ("555-0100" finds +1-555-0100).
CREATE OR REPLACE FUNCTION esqase.search_query(q text) RETURNS tsquery
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN q ~ '^[0-9+().\s-]+$' AND length(regexp_replace(q, '[^0-9]', '', 'g')) >= 4
            THEN (regexp_replace(q, '[^0-9]', '', 'g') || ':*')::tsquery
                 || coalesce(esqase.search_words(q), ''::tsquery)
            ELSE esqase.search_words(q)
       END;

-- List cursors are signed, so that a cursor a client edits (it carries a
-- sort value, a contact's name) gets a 400 naming cursor, never another
-- page.  The signature is HMAC-SHA256 (RFC 2104) truncated to 128 bits, of
-- the firm and the cursor's text, keyed by this database's secret
-- (esqase.cursor_secret): made here once, left out by pg_dump, so a
-- restored database signs with a new key and the cursors of the old one
-- get the same 400 ("restart the listing").  A physical standby has the
-- primary's key: a cursor from one pages on the other.
ALTER TABLE esqase.cursor_secret ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON esqase.cursor_secret FROM PUBLIC;

-- A new secret (32 bytes from two gen_random_uuid: 244 random bits), as
-- its two pads; every cursor made before it gets a 400.
CREATE OR REPLACE FUNCTION esqase.cursor_secret_new() RETURNS void
LANGUAGE sql VOLATILE
BEGIN ATOMIC
    INSERT INTO esqase.cursor_secret AS s (id, ipad, opad)
    SELECT true,
           decode(string_agg(lpad(to_hex(k.b # 54), 2, '0'), '' ORDER BY k.i), 'hex'),
           decode(string_agg(lpad(to_hex(k.b # 92), 2, '0'), '' ORDER BY k.i), 'hex')
      FROM (SELECT i, CASE WHEN i < 32 THEN get_byte(r.key, i) ELSE 0 END AS b
              FROM (SELECT decode(replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''), 'hex')
                           AS key) r,
                   generate_series(0, 63) i) k
    ON CONFLICT (id) DO UPDATE SET ipad = excluded.ipad, opad = excluded.opad, created_at = now();
END;
REVOKE EXECUTE ON FUNCTION esqase.cursor_secret_new() FROM PUBLIC;
SELECT esqase.cursor_secret_new() WHERE NOT EXISTS (SELECT FROM esqase.cursor_secret);

-- The signature of msg for firm, base64url (22 characters); NULL for a
-- firm other than the context's.  SECURITY DEFINER: the API role cannot
-- read the secret, and signs for its own firm only.
CREATE OR REPLACE FUNCTION esqase.cursor_mac(firm uuid, msg text) RETURNS text
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    s record;
BEGIN
    IF firm IS DISTINCT FROM esqase.context_firm() THEN
        RETURN NULL;
    END IF;
    SELECT c.ipad, c.opad INTO s FROM esqase.cursor_secret c;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'esqase: the list cursor secret (esqase.cursor_secret) is missing'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'A superuser makes a new one with SELECT esqase.cursor_secret_new().';
    END IF;
    RETURN translate(encode(substr(sha256(s.opad || sha256(s.ipad || convert_to(firm::text || '/' || msg, 'UTF8'))),
                                   1, 16), 'base64'),
                     '+/=', '-_');
END
$$;

-- A cursor names the last record of a page: the list, the filters and
-- order it belongs to (their fingerprint, page_request.filter), and that
-- record's page_key, as a base64url-encoded JSON array; then "." and its
-- signature.  Opaque to clients.
CREATE OR REPLACE FUNCTION esqase.cursor_encode(list text, filter text, k esqase.page_key) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
    body text := translate(encode(convert_to(json_build_array(
                     list, filter, to_char(k.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
                     k.name, k.rank, k.id)::text, 'UTF8'), 'base64'),
                 E'+/=\n', '-_');
    mac text := esqase.cursor_mac(esqase.context_firm(), body);
BEGIN
    IF mac IS NULL THEN
        RAISE EXCEPTION 'esqase: a list cursor needs an API context' USING ERRCODE = 'invalid_authorization_specification';
    END IF;
    RETURN body || '.' || mac;
END
$$;

-- The page_key a cursor of list with filter names; a 400 on cursor if its
-- signature does not match (edited, from another firm or another database,
-- or made before the secret changed), if it is not a cursor of this list,
-- or was made for other filters or another order.
CREATE OR REPLACE FUNCTION esqase.cursor_decode(list text, filter text, cursor text) RETURNS esqase.page_key
LANGUAGE plpgsql STABLE AS $$
DECLARE
    body text := split_part(cursor, '.', 1);
    a jsonb;
    k esqase.page_key;
BEGIN
    -- the two signatures are compared through sha256, so that how long the
    -- comparison takes says nothing of how much of a forged one is right
    IF cursor !~ '^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{22}$'
       OR sha256(convert_to(split_part(cursor, '.', 2), 'UTF8'))
          IS DISTINCT FROM sha256(convert_to(esqase.cursor_mac(esqase.context_firm(), body), 'UTF8')) THEN
        PERFORM esqase.fail('22023', 'cursor expired or invalid: restart the listing without cursor', 'cursor');
    END IF;
    BEGIN
        a := convert_from(decode(rpad(translate(body, '-_', '+/'), (length(body) + 3) / 4 * 4, '='),
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
CREATE OR REPLACE FUNCTION esqase.param_timestamp(name text, s text) RETURNS timestamptz
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
CREATE OR REPLACE FUNCTION esqase.param_enum(name text, s text, allowed text[]) RETURNS text
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
CREATE OR REPLACE FUNCTION esqase.list_request(params jsonb, resource text) RETURNS esqase.page_request
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
CREATE OR REPLACE FUNCTION esqase.list_filtered(r esqase.page_request) RETURNS boolean
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
CREATE OR REPLACE FUNCTION esqase.list_match(r esqase.page_request, deleted timestamptz, status text,
                                  created timestamptz, updated timestamptz)
RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN (deleted IS NULL OR r.updated_since IS NOT NULL)
   AND (r.status IS NULL OR status = r.status)
   AND (r.created_since IS NULL OR created >= r.created_since)
   AND (r.updated_since IS NULL OR updated >= r.updated_since)
   -- the predicate of the sync indexes (<table>_updated_idx), which an
   -- updatedSince filter implies and an order by updatedAt must state
   AND (r.ord IS DISTINCT FROM 'updatedAt' OR updated IS NOT NULL);

CREATE OR REPLACE FUNCTION esqase.list_key(r esqase.page_request, created timestamptz, updated timestamptz, name text,
                                rank real, id uuid, deleted timestamptz)
RETURNS esqase.page_key LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN ROW(CASE r.ord WHEN 'createdAt' THEN created WHEN 'updatedAt' THEN updated END, id,
           CASE WHEN r.ord = 'name' THEN name END, CASE WHEN r.ord = 'relevance' THEN rank END,
           deleted)::esqase.page_key;

CREATE OR REPLACE FUNCTION esqase.list_after(r esqase.page_request, created timestamptz, updated timestamptz, name text,
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

CREATE OR REPLACE FUNCTION esqase.sort_at(r esqase.page_request, descending boolean, created timestamptz,
                               updated timestamptz)
RETURNS timestamptz LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN r.descending = descending
            THEN CASE r.ord WHEN 'createdAt' THEN created WHEN 'updatedAt' THEN updated END END;

CREATE OR REPLACE FUNCTION esqase.sort_name(r esqase.page_request, descending boolean, name text)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN r.descending = descending AND r.ord = 'name' THEN name END;

CREATE OR REPLACE FUNCTION esqase.sort_rank(r esqase.page_request, rank real)
RETURNS real LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN r.ord = 'relevance' THEN rank END;

CREATE OR REPLACE FUNCTION esqase.sort_id(r esqase.page_request, descending boolean, id uuid)
RETURNS uuid LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN r.descending = descending THEN id END;

CREATE OR REPLACE FUNCTION esqase.list_rank(r esqase.page_request, search tsvector)
RETURNS real LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN r.ord = 'relevance' THEN ts_rank(search, r.tsq) END;

-- A query parameter that names a record (e.g. practiceAreaId).
CREATE OR REPLACE FUNCTION esqase.param_uuid(params jsonb, name text, required boolean DEFAULT false)
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
CREATE OR REPLACE FUNCTION esqase.page_ids(keys esqase.page_key[], lim integer) RETURNS uuid[]
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    RETURN ARRAY(SELECT k.id FROM unnest(keys[1:lim]) k);
END
$$;

-- A rendered record with "deletedAt" last, null unless the record is
-- deleted: appended to the text, so the renderer's field order stays (a
-- sync listing's records, a webhook event's data).
CREATE OR REPLACE FUNCTION esqase.with_deleted_at(doc json, deleted timestamptz) RETURNS json
LANGUAGE sql STABLE PARALLEL SAFE
RETURN (left(doc::text, -1) || ', "deletedAt" : ' || coalesce(to_json(esqase.ts(deleted))::text, 'null') || '}')::json;

-- A record of a list page as the list shows it: in a sync listing
-- (updatedSince given) with "deletedAt" last, null unless the record is
-- deleted; elsewhere as rendered.  The field is appended to the text, so
-- the renderer's field order stays.
CREATE OR REPLACE FUNCTION esqase.list_doc(r esqase.page_request, k esqase.page_key, doc json) RETURNS json
LANGUAGE sql STABLE PARALLEL SAFE
RETURN CASE WHEN r.updated_since IS NULL THEN doc
            ELSE esqase.with_deleted_at(doc, k.deleted_at)
       END;

-- A list response: {"data": [...], "pagination": {"limit", "offset",
-- "total", "nextCursor"}}.  offset is null on a page asked for by cursor;
-- nextCursor is null on the last page.
CREATE OR REPLACE FUNCTION esqase.list_json(list text, page esqase.page_request, keys esqase.page_key[], data json,
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
-- triggers keep (sql/migrations/0.2.0.sql, record_counts), plus the change
-- this transaction has made and not yet written (esqase.count_pending,
-- 20_triggers.sql).
CREATE OR REPLACE FUNCTION esqase.record_total(firm uuid, list text) RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT coalesce(sum(c.n), 0) FROM esqase.record_counts c
             WHERE c.firm_id = firm AND c.list = record_total.list)
         + esqase.count_pending(firm, list);
END
$$;

-- camelCase JSON name -> snake_case column name.
CREATE OR REPLACE FUNCTION esqase.snake(name text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN lower(regexp_replace(name, '([A-Z])', '_\1', 'g'));

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
