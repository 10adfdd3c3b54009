-- Runs last: it makes a firm of its own and sleeps twice for 2.5 s.
\set VERBOSITY terse
-- A backend keeps the keys it authenticated for up to a minute (context.c,
-- "known keys"). Each change below takes effect at this session's next
-- authentication although the session knows the key: new scopes, the
-- member's permissions, a revocation; and an expiry, or the end of a rotated
-- key's old secret, with no change at all.
INSERT INTO t.ids VALUES ('firm_k', esqase_create_firm('Firm K'));
INSERT INTO t.ids VALUES ('k_owner', esqase_create_member(t.id('firm_k'), 'Kim Owner', 'kim@k.test', true)),
                         ('k_member', esqase_create_member(t.id('firm_k'), 'Kay Member', 'kay@k.test'));
INSERT INTO t.keys VALUES ('known', esqase_create_api_key(t.id('k_member'), '{contacts:read}', 'known'));
SET ROLE esqase_api;
SELECT t.auth(token) AS known, esqase.context_may('contacts:write') AS may_write
  FROM t.keys WHERE name = 'known';
RESET ROLE;
SELECT esqase_set_api_key_scopes(token, '{contacts:read,contacts:write,practice-areas:read}')
  FROM t.keys WHERE name = 'known';
SET ROLE esqase_api;
SELECT t.auth(token) AS known, esqase.context_may('contacts:write') AS may_write,
       esqase.context_may('practice-areas:read') AS may_read_areas
  FROM t.keys WHERE name = 'known';
RESET ROLE;
UPDATE esqase.members SET permissions = '{practice_areas}' WHERE id = t.id('k_member');
SET ROLE esqase_api;
SELECT t.auth(token) AS known, esqase.context_may('practice-areas:read') AS may_read_areas
  FROM t.keys WHERE name = 'known';
RESET ROLE;
SELECT esqase_revoke_api_key(token) FROM t.keys WHERE name = 'known';
SET ROLE esqase_api;
SELECT t.auth(token) AS known_after_revocation FROM t.keys WHERE name = 'known';
RESET ROLE;
INSERT INTO t.keys VALUES ('expiring', esqase_create_api_key(t.id('k_owner'), '{contacts:read}', 'expiring',
                                                             now() + interval '2 seconds'));
SET ROLE esqase_api;
SELECT t.auth(token) AS expiring FROM t.keys WHERE name = 'expiring';
SELECT pg_sleep(2.5);
SELECT t.auth(token) AS expiring_after_its_time FROM t.keys WHERE name = 'expiring';
RESET ROLE;
INSERT INTO t.keys VALUES ('rotated', esqase_create_api_key(t.id('k_owner'), '{contacts:read}', 'rotated'));
INSERT INTO t.keys SELECT 'rotated_new', esqase_rotate_api_key(token, interval '2 seconds')
  FROM t.keys WHERE name = 'rotated';
SET ROLE esqase_api;
SELECT t.auth(token) AS old_secret_in_its_overlap FROM t.keys WHERE name = 'rotated';
SELECT pg_sleep(2.5);
SELECT name, t.auth(token) AS after_the_overlap FROM t.keys WHERE name LIKE 'rotated%' ORDER BY name;
RESET ROLE;
-- A revocation under session_replication_role = replica (a restore, a
-- replication apply: ordinary triggers off) is seen as well.
INSERT INTO t.keys VALUES ('replica', esqase_create_api_key(t.id('k_owner'), '{contacts:read}', 'replica'));
SET ROLE esqase_api;
SELECT t.auth(token) AS known FROM t.keys WHERE name = 'replica';
RESET ROLE;
SET session_replication_role = replica;
UPDATE esqase.api_keys SET revoked_at = now() WHERE name = 'replica';
RESET session_replication_role;
SET ROLE esqase_api;
SELECT t.auth(token) AS revoked_as_a_replica FROM t.keys WHERE name = 'replica';
RESET ROLE;
