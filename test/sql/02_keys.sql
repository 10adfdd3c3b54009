-- Key management: a key's scopes change in place (set, add, remove), its
-- expiry moves, its secret rotates with an overlap, every change is audited,
-- and the DBA's view shows keys without their hashes.  A change applies to
-- the key's next authentication.
\set VERBOSITY terse
-- (a firm of its own: the contacts made here show in no other file's lists)
INSERT INTO t.ids VALUES ('keys_firm', esqase_create_firm('Keys & Co'));
INSERT INTO t.ids VALUES ('keys_clerk', esqase_create_member(t.id('keys_firm'), 'Cleo Keys', 'cleo@keys.test'));
INSERT INTO t.keys VALUES ('k', esqase_create_api_key(t.id('keys_clerk'), '{contacts:read}', 'managed'));
SELECT max(id) AS mark FROM esqase.audit_log \gset

-- Scopes: a read-only key cannot write until write is added; removed again, it cannot.
SELECT t.err('k', $$esqase_contacts_create('{"type": "PERSON", "firstName": "Kim"}')$$) AS before_add;
SELECT esqase_add_api_key_scopes(t.key_id('k')::text, '{contacts:write,contacts:write,matters:read}');
SELECT t.err('k', $$esqase_contacts_create('{"type": "PERSON", "firstName": "Kim"}')$$) AS after_add;
SELECT esqase_remove_api_key_scopes(t.key_id('k')::text, '{contacts:write}');
SELECT t.err('k', $$esqase_contacts_create('{"type": "PERSON", "firstName": "Kim"}')$$) AS after_remove;
-- set replaces; by token works as well as by id
SELECT esqase_set_api_key_scopes((SELECT token FROM t.keys WHERE name = 'k'), '{leads:read,contacts:read}');
-- bad changes: unknown scope, none left, no such key
SELECT t.err(NULL, $$esqase_add_api_key_scopes('$$ || t.key_id('k') || $$', '{contacts:admin}')$$) AS unknown_scope;
SELECT t.err(NULL, $$esqase_remove_api_key_scopes('$$ || t.key_id('k') || $$', '{leads:read,contacts:read}')$$) AS none_left;
SELECT t.err(NULL, $$esqase_set_api_key_scopes('esq_000000000000_00', '{contacts:read}')$$) AS no_such_key;
SELECT scopes FROM esqase.api_keys WHERE id = t.key_id('k');

-- Expiry: a time in the past stops the key at once; NULL lifts it.
SELECT esqase_set_api_key_expiry(t.key_id('k')::text, now() - interval '1 second');
SELECT t.err('k', $$esqase_contacts_list('{}')$$) AS expired;
SELECT esqase_set_api_key_expiry(t.key_id('k')::text, NULL);
SELECT t.err('k', $$esqase_contacts_list('{}')$$) AS unexpired;

-- Rotation: a new token with the same prefix; the old one works during the
-- overlap, and not after it (moved into the past here).
SELECT token AS old_token FROM t.keys WHERE name = 'k' \gset
SELECT esqase_rotate_api_key(t.key_id('k')::text, interval '1 hour') AS new_token \gset
SELECT split_part(:'new_token', '_', 2) = split_part(:'old_token', '_', 2) AS same_prefix,
       :'new_token' <> :'old_token' AS new_secret;
INSERT INTO t.keys VALUES ('k_new', :'new_token');
SELECT t.err('k', $$esqase_contacts_list('{}')$$) AS old_during_overlap,
       t.err('k_new', $$esqase_contacts_list('{}')$$) AS new_token;
UPDATE esqase.api_keys SET previous_valid_until = now() - interval '1 second' WHERE id = t.key_id('k_new');
SELECT t.err('k', $$esqase_contacts_list('{}')$$) AS old_after_overlap,
       t.err('k_new', $$esqase_contacts_list('{}')$$) AS new_token;
-- overlap 0: the old secret stops at once; bad overlaps are refused
SELECT esqase_rotate_api_key(:'new_token', interval '0') AS newer_token \gset
SELECT t.err('k_new', $$esqase_contacts_list('{}')$$) AS replaced_at_once;
SELECT t.err(NULL, $$esqase_rotate_api_key('$$ || t.key_id('k_new') || $$', interval '31 days')$$) AS too_long;

-- Changes to a revoked key are refused (revoking again is harmless).
SELECT esqase_revoke_api_key(t.key_id('k_new')::text);
SELECT esqase_revoke_api_key(t.key_id('k_new')::text);
SELECT t.err(NULL, $$esqase_add_api_key_scopes('$$ || t.key_id('k_new') || $$', '{matters:read}')$$) AS revoked,
       t.err(NULL, $$esqase_rotate_api_key('$$ || t.key_id('k_new') || $$')$$) AS revoked;

-- Every change is audited, without any hash.
SELECT action, changed FROM t.audit(ARRAY[t.key_id('k_new')], :mark);
SELECT count(*) AS audit_rows_with_hashes FROM esqase.audit_log
 WHERE id > :mark AND (new_values ? 'secret_hash' OR new_values ? 'previous_secret_hash'
                       OR old_values ? 'secret_hash' OR old_values ? 'previous_secret_hash');

-- The DBA's view: no hash, a status; the API role cannot read it, nor call the functions.
SELECT name, member_name, status, scopes, rotated_at IS NOT NULL AS rotated
  FROM esqase.api_key_list WHERE id = t.key_id('k_new');
SELECT column_name FROM information_schema.columns
 WHERE table_schema = 'esqase' AND table_name = 'api_key_list' AND column_name ~ 'hash|secret|token';
SELECT has_table_privilege('esqase_api', 'esqase.api_key_list', 'SELECT') AS api_reads_list,
       has_function_privilege('esqase_api', 'esqase_rotate_api_key(text, interval)', 'EXECUTE') AS api_rotates,
       has_function_privilege('esqase_api', 'esqase_set_api_key_scopes(text, text[])', 'EXECUTE') AS api_sets_scopes;
