-- Authentication and the API context; scopes and the Practice areas
-- permission; the administration functions and how keys are stored.
\set VERBOSITY terse

-- Helpers (made as the superuser): t.auth authenticates with a raw token and
-- returns 'ok' or '<SQLSTATE> <field>: <message>'; t.api_calls lists every
-- API function that exists, with a call expression of harmless arguments.
CREATE FUNCTION t.auth(token text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    st text; col text; msg text;
BEGIN
    PERFORM esqase_authenticate(token);
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, col = COLUMN_NAME, msg = MESSAGE_TEXT;
    RETURN format('%s %s: %s', st, coalesce(nullif(col, ''), '-'), msg);
END
$$;
-- The API functions that exist, with a call expression for each.
CREATE VIEW t.api_calls AS
SELECT p.proname AS fn,
       substring(p.proname FROM '^esqase_(.*)_[a-z]+$') AS resource,
       substring(p.proname FROM '_([a-z]+)$') AS action,
       p.proname || CASE substring(p.proname FROM '_([a-z]+)$')
           WHEN 'list' THEN $$('{}')$$
           WHEN 'create' THEN $$('{}')$$
           WHEN 'get' THEN $$('00000000-0000-4000-8000-000000000000')$$
           WHEN 'update' THEN $$('00000000-0000-4000-8000-000000000000', '{}')$$
           WHEN 'delete' THEN $$('00000000-0000-4000-8000-000000000000')$$ END AS expr
  FROM pg_proc p
 WHERE p.pronamespace = 'public'::regnamespace
   AND p.proname ~ '^esqase_(contacts|matters|leads|practice_areas|matter_types)_(list|create|get|update|delete)$';
GRANT SELECT ON t.api_calls TO PUBLIC;

-- Keys that must not work, made by the superuser: revoked by token, revoked
-- by id, expired, and (made in 00_setup) the key of a member who has since
-- been removed.  A key that expires in the future works.
INSERT INTO t.keys VALUES
    ('revoked_by_token', esqase_create_api_key(t.id('a_owner'), '{contacts:read}', 'revoked by token')),
    ('revoked_by_id', esqase_create_api_key(t.id('a_owner'), '{contacts:read}', 'revoked by id')),
    ('expired', esqase_create_api_key(t.id('a_owner'), '{contacts:read}', 'expired', now() - interval '1 second')),
    ('expires_later', esqase_create_api_key(t.id('a_owner'), '{contacts:read}', 'expires later', now() + interval '1 day')),
    ('a_write', esqase_create_api_key(t.id('a_owner'), ARRAY['contacts:write', 'matters:write', 'leads:write',
                                      'practice-areas:write', 'matter-types:write'], 'write scopes only'));
SELECT esqase_revoke_api_key(token) FROM t.keys WHERE name = 'revoked_by_token';
SELECT esqase_revoke_api_key(id::text) FROM esqase.api_keys WHERE name = 'revoked by id';
-- Revoking again is harmless; an unknown key or id is 404.
SELECT esqase_revoke_api_key(token) FROM t.keys WHERE name = 'revoked_by_token';
SELECT t.err(NULL, expr) FROM (VALUES
    ($$esqase_revoke_api_key('00000000-0000-4000-8000-000000000000')$$),
    ($$esqase_revoke_api_key('esq_000000000000_0000000000000000000000000000000000000000000000000000000000000000')$$),
    ($$esqase_revoke_api_key('nonsense')$$),
    ($$esqase_revoke_api_key(NULL)$$)) AS cases(expr);
SELECT name, revoked_at IS NOT NULL AS revoked FROM esqase.api_keys WHERE name LIKE 'revoked%' ORDER BY name;

SET ROLE esqase_api;

-- Tokens look like esq_<12 hex>_<64 hex> and are all different.
SELECT count(*) >= 10 AS several_keys,
       bool_and(token ~ '^esq_[0-9a-f]{12}_[0-9a-f]{64}$') AS all_well_formed,
       count(DISTINCT token) = count(*) AS tokens_distinct,
       count(DISTINCT split_part(token, '_', 2)) = count(*) AS prefixes_distinct
  FROM t.keys;

-- Unknown, malformed, empty, NULL, revoked, expired: 28000.
SELECT label, t.auth(token) FROM (VALUES
    ('well-formed but unknown', 'esq_000000000000_0000000000000000000000000000000000000000000000000000000000000000'),
    ('right prefix, wrong secret', (SELECT left(token, -1) || CASE WHEN right(token, 1) = '0' THEN '1' ELSE '0' END
                                      FROM t.keys WHERE name = 'a')),
    ('upper-cased token', (SELECT upper(token) FROM t.keys WHERE name = 'a')),
    ('token with a trailing space', (SELECT token || ' ' FROM t.keys WHERE name = 'a')),
    ('Bearer prefix left on', (SELECT 'Bearer ' || token FROM t.keys WHERE name = 'a')),
    ('prefix only', (SELECT 'esq_' || split_part(token, '_', 2) || '_' FROM t.keys WHERE name = 'a')),
    ('garbage', 'hello'),
    ('SQL in the token', $$' OR 1=1 --$$),
    ('empty', ''),
    ('NULL', NULL),
    ('revoked by token', (SELECT token FROM t.keys WHERE name = 'revoked_by_token')),
    ('revoked by id', (SELECT token FROM t.keys WHERE name = 'revoked_by_id')),
    ('expired', (SELECT token FROM t.keys WHERE name = 'expired')),
    ('member removed', (SELECT token FROM t.keys WHERE name = 'gone')),
    ('expires tomorrow', (SELECT token FROM t.keys WHERE name = 'expires_later')),
    ('valid', (SELECT token FROM t.keys WHERE name = 'a'))
) AS cases(label, token);
-- A rejected key gives no context.
SELECT t.err('revoked_by_token', 'esqase_contacts_list()') AS revoked_then_list,
       t.err('expired', 'esqase_contacts_list()') AS expired_then_list;

-- No context at all: 28000 from every API function.
SELECT fn, t.err(NULL, expr) FROM t.api_calls ORDER BY fn;

-- The context lasts for the transaction, and no longer.
SELECT esqase_authenticate(token) FROM t.keys WHERE name = 'a';
SELECT t.err(NULL, 'esqase_contacts_list()') AS next_statement;
BEGIN;
SELECT esqase_authenticate(token) FROM t.keys WHERE name = 'a';
SELECT t.err(NULL, 'esqase_contacts_list()') AS same_transaction;
SELECT esqase.context_firm() = t.id('firm_a') AS firm, esqase.context_member() = t.id('a_owner') AS member,
       esqase.context_is_owner() AS owner, cardinality(esqase.context_scopes()) AS scopes,
       esqase.context_role() AS role;
COMMIT;
SELECT t.err(NULL, 'esqase_contacts_list()') AS after_commit,
       esqase.context_firm() IS NULL AS firm_cleared, esqase.context_scopes() IS NULL AS scopes_cleared;
BEGIN;
SELECT esqase_authenticate(token) FROM t.keys WHERE name = 'a';
ROLLBACK;
SELECT t.err(NULL, 'esqase_contacts_list()') AS after_rollback;
BEGIN;
SELECT esqase_authenticate(token) FROM t.keys WHERE name = 'a';
SELECT 1 / 0;
ROLLBACK;
SELECT t.err(NULL, 'esqase_contacts_list()') AS after_failed_transaction;
-- A read-only transaction (or a hot standby) authenticates too; it just
-- cannot record the key's last use.
RESET ROLE;
INSERT INTO t.keys VALUES ('read_only_tx', esqase_create_api_key(t.id('a_owner'), '{contacts:read}', 'read-only use'));
SET ROLE esqase_api;
BEGIN READ ONLY;
SELECT esqase_authenticate(token) FROM t.keys WHERE name = 'read_only_tx';
SELECT t.err(NULL, $$esqase_contacts_list('{"limit": 1}')$$) AS read_only_list;
COMMIT;
RESET ROLE;
SELECT last_used_at IS NULL AS not_recorded FROM esqase.api_keys WHERE name = 'read-only use';
SET ROLE esqase_api;
-- A failed authentication drops the context set before it in the same
-- transaction (fails closed); a second key replaces the first.
SELECT t.err('a', 'esqase_contacts_list()') AS first, t.auth('nonsense') AS second,
       t.err(NULL, 'esqase_contacts_list()') AS then_list;
BEGIN;
SELECT esqase_authenticate(token) FROM t.keys WHERE name = 'a';
SELECT esqase_authenticate(token) FROM t.keys WHERE name = 'b';
SELECT esqase.context_firm() = t.id('firm_b') AS now_firm_b;
COMMIT;
-- Savepoints: an authentication rolled back with its savepoint is gone; one
-- released with it stays; an error rolled back in a later savepoint leaves
-- the context alone.
BEGIN;
SAVEPOINT s;
SELECT esqase_authenticate(token) FROM t.keys WHERE name = 'a';
ROLLBACK TO SAVEPOINT s;
SELECT t.err(NULL, 'esqase_contacts_list()') AS after_rollback_to_savepoint;
SAVEPOINT s2;
SELECT esqase_authenticate(token) FROM t.keys WHERE name = 'a';
RELEASE SAVEPOINT s2;
SELECT t.err(NULL, 'esqase_contacts_list()') AS after_release;
SAVEPOINT s3;
SELECT 1 / 0;
ROLLBACK TO SAVEPOINT s3;
SELECT t.err(NULL, 'esqase_contacts_list()') AS after_unrelated_rollback;
COMMIT;

-- The context cannot be forged with set_config or SET.
SELECT count(set_config(name, (SELECT id::text FROM t.ids WHERE ids.name = 'firm_a'), false)) AS settings_made
  FROM unnest(ARRAY['esqase.firm_id', 'esqase.firm', 'esqase.context_firm', 'esqase.member_id',
                    'esqase.key_id', 'esqase.scopes', 'app.firm_id']) AS name;
SET esqase.scopes = 'contacts:read';
SELECT t.err(NULL, 'esqase_contacts_list()') AS forged, esqase.context_firm() IS NULL AS no_firm,
       (SELECT count(*) FROM esqase.contacts) AS contacts_visible;
RESET ALL;
-- Nor can the API role read the keys table or call the lookup behind
-- esqase_authenticate to get more than a token holder already knows.
SELECT count(*) FROM esqase.api_keys;
SELECT t.unid(to_jsonb(k)::text) FROM esqase.key_lookup('nonsense') k;

-- Scopes: a read-only key cannot write, a write-only key cannot read, for
-- every API function that exists (matters and leads included once written).
SELECT fn, t.err('a_read', expr) AS read_only_key, t.err('a_write', expr) AS write_only_key
  FROM t.api_calls ORDER BY fn;
-- In short: 42501 exactly where the scope is missing.
SELECT c.resource, c.action,
       (t.api('a_read', c.expr) #>> '{error,sqlstate}' IS NOT DISTINCT FROM '42501') AS read_key_denied,
       (t.api('a_write', c.expr) #>> '{error,sqlstate}' IS NOT DISTINCT FROM '42501') AS write_key_denied
  FROM t.api_calls c ORDER BY 1, 2;

-- Practice areas and matter types also need the member's Practice areas
-- permission: the clerk (all scopes, no permission) is refused; the lawyer
-- (permission) and the owner (owners have every permission) are not.
SELECT c.fn, coalesce(t.api('a_clerk', c.expr) #>> '{error,sqlstate}', 'ok') AS clerk,
       coalesce(t.api('a_lawyer', c.expr) #>> '{error,sqlstate}', 'ok') AS lawyer,
       coalesce(t.api('a', c.expr) #>> '{error,sqlstate}', 'ok') AS owner
  FROM t.api_calls c ORDER BY c.fn;
SELECT t.err('a_clerk', $$esqase_practice_areas_create('{"name": "Tax"}')$$) AS clerk_create;
-- (rolled back: later tests count firm A's contacts)
BEGIN;
SELECT t.err('a_clerk', $$esqase_contacts_create('{"type": "PERSON", "firstName": "Clerk made"}')$$) AS clerk_contact;
ROLLBACK;

-- The administration functions are not for the API role.
SELECT t.err(NULL, expr) FROM (VALUES
    ($$esqase_create_firm('Rogue firm')$$),
    (format('esqase_create_member(%L, %L, %L, true)', t.id('firm_a'), 'Rogue', 'rogue@a.test')),
    (format('esqase_create_api_key(%L, %L)', t.id('a_clerk'), '{contacts:read}')),
    ($$esqase_revoke_api_key('00000000-0000-4000-8000-000000000000')$$)) AS cases(expr);
SELECT p.oid::regprocedure AS admin_function, has_function_privilege('esqase_api', p.oid, 'EXECUTE') AS api_may_execute
  FROM pg_proc p WHERE p.proname IN ('esqase_create_firm', 'esqase_create_member', 'esqase_create_api_key',
                                     'esqase_revoke_api_key') ORDER BY 1;

-- Administration: validation errors (as the superuser).
RESET ROLE;
SELECT t.unid(expr) AS call, t.err(NULL, expr) FROM (VALUES
    ($$esqase_create_firm('')$$),
    ($$esqase_create_firm('   ')$$),
    ($$esqase_create_firm(NULL)$$),
    ($$esqase_create_member('00000000-0000-4000-8000-000000000000', 'X', 'x@x.test')$$),
    ($$esqase_create_member(NULL, 'X', 'x@x.test')$$),
    (format('esqase_create_member(%L, %L, %L)', t.id('firm_a'), '', 'x@x.test')),
    (format('esqase_create_member(%L, NULL, %L)', t.id('firm_a'), 'x@x.test')),
    (format('esqase_create_member(%L, %L, %L)', t.id('firm_a'), 'X', 'not-an-email')),
    (format('esqase_create_member(%L, %L, %L)', t.id('firm_a'), 'X', 'x@nodot')),
    (format('esqase_create_member(%L, %L, %L)', t.id('firm_a'), 'X', 'two words@x.test')),
    (format('esqase_create_member(%L, %L, %L)', t.id('firm_a'), 'X', '')),
    (format('esqase_create_member(%L, %L, NULL)', t.id('firm_a'), 'X')),
    (format('esqase_create_member(%L, %L, %L, false, %L)', t.id('firm_a'), 'X', 'x@x.test', '{billing}')),
    (format('esqase_create_member(%L, %L, %L, false, %L)', t.id('firm_a'), 'X', 'x@x.test', '{NULL}')),
    (format('esqase_create_member(%L, %L, %L)', t.id('firm_a'), 'Ann Again', 'ANN@a.test')),
    ($$esqase_create_api_key('00000000-0000-4000-8000-000000000000', '{contacts:read}')$$),
    ($$esqase_create_api_key(NULL, '{contacts:read}')$$),
    (format('esqase_create_api_key(%L, %L)', t.id('gone'), '{contacts:read}')),
    (format('esqase_create_api_key(%L, %L)', t.id('a_owner'), '{}')),
    (format('esqase_create_api_key(%L, NULL)', t.id('a_owner'))),
    (format('esqase_create_api_key(%L, %L)', t.id('a_owner'), '{contacts:delete}')),
    (format('esqase_create_api_key(%L, %L)', t.id('a_owner'), '{contacts:read,practice_areas:read}')),
    (format('esqase_create_api_key(%L, %L)', t.id('a_owner'), '{Contacts:Read}')),
    (format('esqase_create_api_key(%L, %L)', t.id('a_owner'), '{NULL}')),
    (format('esqase_create_api_key(%L, %L)', t.id('a_owner'), '{contacts:read,NULL}')),
    (format('esqase_create_api_key(%L, %L)', t.id('a_owner'), '{""}'))
) AS cases(expr);
-- A member's email is unique in the firm (any case), but not across firms.
SELECT esqase_create_member(t.id('firm_b'), 'Ann of B', 'ann@a.test') IS NOT NULL AS same_email_other_firm;
-- Duplicate scopes are stored once, sorted.
INSERT INTO t.keys VALUES ('dup_scopes', esqase_create_api_key(t.id('a_owner'),
                            '{contacts:write,contacts:read,contacts:write}', 'dup scopes'));
SELECT a.scopes FROM esqase.api_keys a JOIN t.keys k ON a.secret_hash = sha256(convert_to(k.token, 'UTF8'))
 WHERE k.name = 'dup_scopes';

-- The token is shown once: only its SHA-256 is stored, and no stored row
-- (keys, or their audit trail) holds the token or its secret part.
SELECT count(*) = (SELECT count(*) FROM t.keys) AS every_key_stored_as_its_sha256
  FROM t.keys k JOIN esqase.api_keys a ON a.prefix = split_part(k.token, '_', 2)
 WHERE a.secret_hash = sha256(convert_to(k.token, 'UTF8'));
SELECT count(*) AS rows_holding_a_secret
  FROM t.keys k, esqase.api_keys a
 WHERE strpos(to_jsonb(a)::text, split_part(k.token, '_', 3)) > 0
    OR strpos(encode(a.secret_hash, 'escape'), split_part(k.token, '_', 3)) > 0;
SELECT count(*) AS audit_rows_holding_a_secret
  FROM t.keys k, esqase.audit_log l
 WHERE strpos(concat(l.old_values::text, l.new_values::text), split_part(k.token, '_', 3)) > 0;
SELECT column_name FROM information_schema.columns
 WHERE table_schema = 'esqase' AND table_name = 'api_keys' AND column_name ~ 'token|secret' ORDER BY 1;
-- Using a key records when it was last used.
SELECT last_used_at IS NOT NULL AS used FROM esqase.api_keys a JOIN t.keys k ON a.prefix = split_part(k.token, '_', 2)
 WHERE k.name = 'a';
SELECT count(*) FILTER (WHERE last_used_at IS NOT NULL) AS never_used_but_marked
  FROM esqase.api_keys WHERE name = 'dup scopes';
