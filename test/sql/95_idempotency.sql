-- Idempotency keys: a create called again with the same key, by the same API
-- key within 24 hours, returns the first response and writes nothing; the
-- same key with another body or resource is an error; a create that fails
-- stores nothing; after 24 hours the key is free again, and the sweep
-- deletes it.  Own firm (I) and keys, so that no other test's counts move.
\set VERBOSITY terse
DO $$
DECLARE
    scopes text[] := ARRAY['contacts:read', 'contacts:write', 'matters:write', 'leads:write',
                           'practice-areas:write', 'matter-types:write'];
    fi uuid := esqase_create_firm('Firm I');
    owner uuid := esqase_create_member(fi, 'Ivy Owner', 'ivy@i.test', true);
BEGIN
    INSERT INTO t.ids VALUES ('firm_i', fi), ('i_owner', owner);
    INSERT INTO t.keys VALUES ('i', esqase_create_api_key(owner, scopes)),
                              ('i2', esqase_create_api_key(owner, scopes)),
                              ('i_read', esqase_create_api_key(owner, ARRAY['contacts:read']));
END
$$;
CREATE TABLE t.idem (name text PRIMARY KEY, response jsonb);
GRANT SELECT, INSERT ON t.idem TO PUBLIC;
-- the stored rows of firm I, keys shown by their test names
CREATE FUNCTION t.idem_rows() RETURNS TABLE (api_key text, idempotency_key text, resource text, record text)
LANGUAGE sql STABLE AS $$
    SELECT (SELECT k.name FROM t.keys k WHERE t.key_id(k.name) = i.key_id), left(i.idempotency_key, 12), i.resource,
           coalesce((SELECT string_agg(r.name, ',' ORDER BY r.name) FROM t.idem r
                      WHERE (r.response #>> '{data,id}')::uuid = i.record_id), '<other>')
      FROM esqase.idempotency_keys i WHERE i.firm_id = t.id('firm_i') ORDER BY 1, 2
$$;
CREATE FUNCTION t.idem_same(a text, b text) RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT (SELECT response FROM t.idem WHERE name = a) = (SELECT response FROM t.idem WHERE name = b)
$$;
INSERT INTO t.marks SELECT 'idem', max(id) FROM esqase.audit_log;

SET ROLE esqase_api;
-- A create with a key, then the same request again (the body spelled with
-- another key order and spacing: the same JSON): the same response.
INSERT INTO t.idem SELECT 'first', t.api('i', $$esqase_contacts_create('{"type": "PERSON", "firstName": "Ida", "lastName": "Empotent"}', 'key-1')$$);
INSERT INTO t.idem SELECT 'again', t.api('i', $$esqase_contacts_create('{"lastName":"Empotent",  "firstName":"Ida","type":"PERSON"}', 'key-1')$$);
INSERT INTO t.ids SELECT 'i_ida', (response #>> '{data,id}')::uuid FROM t.idem WHERE name = 'first';
SELECT t.mask(response) FROM t.idem WHERE name = 'first';
SELECT t.idem_same('first', 'again') AS same_response;
-- Named argument, as SQL callers may write it.
INSERT INTO t.idem SELECT 'named', t.api('i', $$esqase_contacts_create(body => '{"type": "PERSON", "firstName": "Ida", "lastName": "Empotent"}', idempotency_key => 'key-1')$$);
SELECT t.idem_same('first', 'named') AS same_response;
RESET ROLE;
-- One contact, one audit row (the replays wrote none), one stored key.
SELECT count(*) AS contacts FROM esqase.contacts WHERE firm_id = t.id('firm_i') AND first_name = 'Ida';
SELECT tbl, action, record, key FROM t.audit(ARRAY[(SELECT (response #>> '{data,id}')::uuid FROM t.idem WHERE name = 'first')],
                                             (SELECT id FROM t.marks WHERE name = 'idem'));
SELECT count(*) AS audit_rows_since FROM esqase.audit_log WHERE id > (SELECT id FROM t.marks WHERE name = 'idem');
SELECT * FROM t.idem_rows();

SET ROLE esqase_api;
-- The same key with another body, or for another resource: 422.
SELECT t.err('i', $$esqase_contacts_create('{"type": "PERSON", "firstName": "Ida", "lastName": "Other"}', 'key-1')$$) AS other_body;
SELECT t.err('i', $$esqase_practice_areas_create('{"name": "Ida law"}', 'key-1')$$) AS other_resource;

-- Malformed keys: 400 naming Idempotency-Key; the body is not looked at.
SELECT format('%s (%s characters)', left(k, 10), length(k)) AS bad_key, t.err('i', format('esqase_contacts_create(%L, %L)', '{"type": "PERSON", "firstName": "Bad"}', k)) AS error
  FROM unnest(ARRAY['', ' lead', 'trail ', E'tab\there', 'caf' || chr(233), repeat('x', 256)]) AS k;
SELECT t.err('i', format('esqase_contacts_create(%L, %L)', '{"x": 1}', repeat('x', 256))) AS bad_key_and_body;
-- 255 printable characters, spaces inside: a key.
SELECT t.err('i', format('esqase_contacts_create(%L, %L)', '{"type": "PERSON", "firstName": "Long"}',
                          '~' || repeat('a b!', 63) || 'z')) AS longest_key;

-- A create that fails stores nothing: the same key with a corrected body works.
SELECT t.err('i', $$esqase_contacts_create('{"type": "PERSON"}', 'key-2')$$) AS failed;
RESET ROLE;
SELECT count(*) AS stored_after_failure FROM esqase.idempotency_keys WHERE idempotency_key = 'key-2';
SET ROLE esqase_api;
INSERT INTO t.idem SELECT 'corrected', t.api('i', $$esqase_contacts_create('{"type": "PERSON", "firstName": "Fixed"}', 'key-2')$$);
SELECT response #>> '{data,firstName}' AS corrected FROM t.idem WHERE name = 'corrected';

-- Another API key (same member, same firm) and another firm: their own
-- key-1, a new contact each, nothing of the first key's seen.
INSERT INTO t.idem SELECT 'other_key', t.api('i2', $$esqase_contacts_create('{"type": "PERSON", "firstName": "Ida", "lastName": "Empotent"}', 'key-1')$$);
INSERT INTO t.idem SELECT 'other_firm', t.api('b', $$esqase_contacts_create('{"type": "PERSON", "firstName": "Ida", "lastName": "Empotent"}', 'key-1')$$);
SELECT t.idem_same('first', 'other_key') AS same_as_first_key, t.idem_same('first', 'other_firm') AS same_as_other_firm,
       t.idem_same('other_key', 'other_firm') AS same_as_each_other;
-- In SQL, under row-level security, a key sees its own keys only.
CREATE FUNCTION pg_temp.visible(key text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    PERFORM esqase_authenticate((SELECT token FROM t.keys WHERE name = key));
    SELECT count(*) INTO n FROM esqase.idempotency_keys;
    RETURN n;
END
$$;
SELECT pg_temp.visible('i') AS i_sees, pg_temp.visible('i2') AS i2_sees, pg_temp.visible('b') AS b_sees,
       pg_temp.visible('i_read') AS read_only_key_sees;

-- No key: every call creates.
SELECT t.api('i', $$esqase_contacts_create('{"type": "PERSON", "firstName": "Nokey"}')$$) #>> '{data,firstName}' AS no_key,
       t.api('i', $$esqase_contacts_create('{"type": "PERSON", "firstName": "Nokey"}', NULL)$$) #>> '{data,firstName}' AS null_key;

-- Every resource: the second call replays the first.
INSERT INTO t.idem SELECT r, t.api('i', $$esqase_practice_areas_create('{"name": "Idem law"}', 'area-1')$$)
  FROM unnest(ARRAY['area1', 'area2']) r;
INSERT INTO t.ids SELECT 'i_area', (response #>> '{data,id}')::uuid FROM t.idem WHERE name = 'area1';
INSERT INTO t.idem SELECT r, t.api('i', format('esqase_matter_types_create(%L, %L)', t.ml_sub('{"practiceAreaId": "{i_area}", "name": "T"}'), 'type-1'))
  FROM unnest(ARRAY['type1', 'type2']) r;
INSERT INTO t.idem SELECT r, t.api('i', format('esqase_matters_create(%L, %L)', t.ml_sub('{"practiceAreaId": "{i_area}", "openDate": "2026-07-01"}'), 'matter-1'))
  FROM unnest(ARRAY['matter1', 'matter2']) r;
INSERT INTO t.idem SELECT r, t.api('i', $$esqase_leads_create('{"type": "COMPANY", "companyName": "Idem Corp"}', 'lead-1')$$)
  FROM unnest(ARRAY['lead1', 'lead2']) r;
SELECT r, t.idem_same(r || '1', r || '2') AS replayed, (SELECT response ? 'data' FROM t.idem WHERE name = r || '1') AS created
  FROM unnest(ARRAY['area', 'type', 'matter', 'lead']) r;
RESET ROLE;
SELECT count(*) AS matters, min(public_id) AS public_id FROM esqase.matters WHERE firm_id = t.id('firm_i');
SELECT count(*) AS leads, min(public_id) AS public_id FROM esqase.leads WHERE firm_id = t.id('firm_i');

-- 24 hours later the key counts as absent at once: the same request
-- creates again, and the key's row starts a new 24 hours.
UPDATE esqase.idempotency_keys SET created_at = created_at - interval '24 hours 1 second'
 WHERE idempotency_key = 'key-1' AND key_id = t.key_id('i');
SET ROLE esqase_api;
INSERT INTO t.idem SELECT 'expired', t.api('i', $$esqase_contacts_create('{"type": "PERSON", "firstName": "Ida", "lastName": "Empotent"}', 'key-1')$$);
SELECT t.idem_same('first', 'expired') AS same_as_before_expiry,
       (SELECT response #>> '{data,id}' FROM t.idem WHERE name = 'first') <> (SELECT response #>> '{data,id}' FROM t.idem WHERE name = 'expired') AS new_contact;
-- The key's row now holds the new contact, for 24 hours from now.
RESET ROLE;
SELECT created_at > now() - interval '1 minute' AS fresh FROM esqase.idempotency_keys
 WHERE idempotency_key = 'key-1' AND key_id = t.key_id('i');

-- The sweep deletes the rows older than 24 hours, of every firm, in
-- batches, and nothing else; only a DBA (or the HTTP worker) may run it.
UPDATE esqase.idempotency_keys SET created_at = now() - interval '25 hours'
 WHERE firm_id = t.id('firm_i') AND idempotency_key IN ('area-1', 'type-1', 'matter-1');
SELECT esqase.idempotency_sweep(2) AS first_batch, esqase.idempotency_sweep(2) AS second_batch,
       esqase.idempotency_sweep(2) AS third_batch;
SELECT * FROM t.idem_rows();
SET ROLE esqase_api;
SELECT esqase.idempotency_sweep();
RESET ROLE;
