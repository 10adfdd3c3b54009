-- The audit log: every write, through the API or by hand, appends a row with
-- the firm, the member and key (when a key acted), the database role, the
-- action, the table, the record and its old and new values.  The log is
-- append-only, even for its owner and the superuser.
\set VERBOSITY terse

INSERT INTO t.marks SELECT 'start', max(id) FROM esqase.audit_log;

SET ROLE esqase_api;
-- A contact: created by the owner's key, updated by the lawyer's, deleted
-- (soft: an UPDATE) by the owner's.
INSERT INTO t.ids SELECT 'audit_contact', (t.api('a', $$esqase_contacts_create('{"type": "PERSON", "firstName": "Audrey",
    "lastName": "Trail", "emails": ["audrey@example.com"]}')$$) #>> '{data,id}')::uuid;
SELECT t.api('a_lawyer', format($$esqase_contacts_update(%L, '{"nickname": "Aud", "emails": []}')$$, t.id('audit_contact'))) #>> '{data,nickname}';
SELECT t.api('a', format('esqase_contacts_delete(%L)', t.id('audit_contact'))) #>> '{data,status}';
-- A practice area (with its three seeded stages) and a matter type in it.
INSERT INTO t.ids SELECT 'audit_area', (t.api('a_lawyer', $$esqase_practice_areas_create('{"name": "Audit law"}')$$) #>> '{data,id}')::uuid;
INSERT INTO t.ids SELECT 'audit_type', (t.api('a', format($$esqase_matter_types_create('{"practiceAreaId": "%s", "name": "Audit type"}')$$,
                                                         t.id('audit_area'))) #>> '{data,id}')::uuid;
SELECT t.api('a', format($$esqase_practice_areas_update(%L, '{"name": "Audit & review law"}')$$, t.id('audit_area'))) #>> '{data,name}';
SELECT t.api('a_lawyer', format($$esqase_matter_types_update(%L, '{"name": "Audit type 2"}')$$, t.id('audit_type'))) #>> '{data,name}';
SELECT t.api('a', format('esqase_matter_types_delete(%L)', t.id('audit_type'))) #>> '{data,status}';
SELECT t.api('a', format('esqase_practice_areas_delete(%L)', t.id('audit_area'))) #>> '{data,status}';
-- A write by firm B's key.
INSERT INTO t.ids SELECT 'audit_b_contact', (t.api('b', $$esqase_contacts_create('{"type": "COMPANY", "companyName": "Audit B"}')$$) #>> '{data,id}')::uuid;

-- The API role cannot read or write the log.
SELECT count(*) FROM esqase.audit_log;
INSERT INTO esqase.audit_log (firm_id, db_role, action, table_name) VALUES (t.id('firm_a'), 'me', 'INSERT', 'contacts');

RESET ROLE;
SELECT * FROM t.audit(ARRAY[t.id('audit_contact'), t.id('audit_b_contact')], (SELECT id FROM t.marks WHERE name = 'start'));
SELECT * FROM t.audit(ARRAY[t.id('audit_area'), t.id('audit_type')], (SELECT id FROM t.marks WHERE name = 'start'));
-- The values are the row's columns: the whole new row on INSERT, the whole
-- old row on DELETE, both on UPDATE.
SELECT l.action, l.new_values ->> 'first_name' AS new_first, l.new_values -> 'emails' AS new_emails,
       l.old_values -> 'emails' AS old_emails, l.new_values ->> 'nickname' AS new_nickname,
       l.new_values ->> 'status' AS new_status, l.new_values ->> 'deleted_at' IS NOT NULL AS deleted,
       l.new_values ?& ARRAY['firm_id', 'id', 'type', 'name', 'created_at', 'updated_at'] AS whole_row,
       l.new_values ? 'search' AS has_search_document
  FROM esqase.audit_log l WHERE l.record_id = t.id('audit_contact') ORDER BY l.id;
SELECT l.action, l.new_values ->> 'name' AS name, l.new_values ->> 'type' AS type, l.new_values ->> 'order' AS "order",
       (l.new_values ->> 'practice_area_id')::uuid = t.id('audit_area') AS in_area
  FROM esqase.audit_log l
 WHERE l.table_name = 'practice_area_stages' AND (l.new_values ->> 'practice_area_id')::uuid = t.id('audit_area')
 ORDER BY l.id;
-- Timestamps follow the order of the writes; the firm is the record's firm.
SELECT bool_and(l.at >= p.at) AS in_order, bool_and(l.firm_id = (coalesce(l.new_values, l.old_values) ->> 'firm_id')::uuid) AS firm_is_records
  FROM (SELECT *, lag(l.at) OVER (ORDER BY l.id) AS prev FROM esqase.audit_log l) l
  CROSS JOIN LATERAL (SELECT coalesce(l.prev, l.at) AS at) p;

-- Matters: the matter and its client and team rows; replacing the client
-- list deletes (and audits) the old client rows.
SET ROLE esqase_api;
INSERT INTO t.ids SELECT 'audit_area2', (t.api('a', $$esqase_practice_areas_create('{"name": "Audit law 2"}')$$) #>> '{data,id}')::uuid;
INSERT INTO t.ids SELECT 'audit_client1', (t.api('a', $$esqase_contacts_create('{"type": "PERSON", "firstName": "First"}')$$) #>> '{data,id}')::uuid;
INSERT INTO t.ids SELECT 'audit_client2', (t.api('a', $$esqase_contacts_create('{"type": "PERSON", "firstName": "Second"}')$$) #>> '{data,id}')::uuid;
INSERT INTO t.ids SELECT 'audit_matter', (t.api('a', format($$esqase_matters_create('{"practiceAreaId": "%s",
    "openDate": "2026-07-01", "clientContactIds": ["%s"], "team": [{"memberId": "%s"}]}')$$,
    t.id('audit_area2'), t.id('audit_client1'), t.id('a_lawyer'))) #>> '{data,id}')::uuid;
SELECT t.api('a_lawyer', format($$esqase_matters_update(%L, '{"clientContactIds": ["%s"]}')$$,
             t.id('audit_matter'), t.id('audit_client2'))) #> '{data,clients}' -> 0 ->> 'name' AS client;
RESET ROLE;
SELECT tbl, action, firm, member, key, db_role, old_new, changed
  FROM t.audit(ARRAY[t.id('audit_matter')], (SELECT id FROM t.marks WHERE name = 'start'));

-- An update that changes nothing writes nothing: no audit row, and
-- updatedAt stays (every resource).
SET ROLE esqase_api;
INSERT INTO t.ids SELECT 'noop_contact', (t.api('a', $$esqase_contacts_create('{"type": "PERSON", "firstName": "Noop", "emails": ["noop@example.com"]}')$$) #>> '{data,id}')::uuid;
INSERT INTO t.ids SELECT 'noop_area', (t.api('a', $$esqase_practice_areas_create('{"name": "Noop law"}')$$) #>> '{data,id}')::uuid;
INSERT INTO t.ids SELECT 'noop_type', (t.api('a', format($$esqase_matter_types_create('{"practiceAreaId": "%s", "name": "Noop type"}')$$, t.id('noop_area'))) #>> '{data,id}')::uuid;
INSERT INTO t.ids SELECT 'noop_matter', (t.api('a', format($$esqase_matters_create('{"practiceAreaId": "%s", "openDate": "2026-01-01", "title": "Noop"}')$$, t.id('noop_area'))) #>> '{data,id}')::uuid;
INSERT INTO t.ids SELECT 'noop_lead', (t.api('a', $$esqase_leads_create('{"type": "PERSON", "firstName": "Noop lead", "value": "LOW"}')$$) #>> '{data,id}')::uuid;
RESET ROLE;
INSERT INTO t.marks SELECT 'noop', max(id) FROM esqase.audit_log;
SET ROLE esqase_api;
SELECT t.unid(expr) AS call, t.err('a', expr)
  FROM (VALUES
    ('contacts', t.id('noop_contact'), format($$esqase_contacts_update(%L, '{}')$$, t.id('noop_contact'))),
    ('contacts', t.id('noop_contact'), format($$esqase_contacts_update(%L, '{"type": "PERSON", "firstName": "Noop", "emails": ["noop@example.com"]}')$$, t.id('noop_contact'))),
    ('practice_areas', t.id('noop_area'), format($$esqase_practice_areas_update(%L, '{}')$$, t.id('noop_area'))),
    ('practice_areas', t.id('noop_area'), format($$esqase_practice_areas_update(%L, '{"name": "Noop law"}')$$, t.id('noop_area'))),
    ('matter_types', t.id('noop_type'), format($$esqase_matter_types_update(%L, '{"name": " Noop type "}')$$, t.id('noop_type'))),
    ('matters', t.id('noop_matter'), format($$esqase_matters_update(%L, '{}')$$, t.id('noop_matter'))),
    ('matters', t.id('noop_matter'), format($$esqase_matters_update(%L, '{"title": "Noop", "openDate": "2026-01-01"}')$$, t.id('noop_matter'))),
    ('leads', t.id('noop_lead'), format($$esqase_leads_update(%L, '{}')$$, t.id('noop_lead'))),
    ('leads', t.id('noop_lead'), format($$esqase_leads_update(%L, '{"value": "LOW"}')$$, t.id('noop_lead')))
  ) AS cases(resource, id, expr);
RESET ROLE;
SELECT count(*) AS audit_rows_from_noop_updates FROM esqase.audit_log WHERE id > (SELECT id FROM t.marks WHERE name = 'noop');
SELECT r.name, x.updated_at = x.created_at AS updated_at_unchanged
  FROM t.ids r
  JOIN (SELECT id, created_at, updated_at FROM esqase.contacts
        UNION ALL SELECT id, created_at, updated_at FROM esqase.practice_areas
        UNION ALL SELECT id, created_at, updated_at FROM esqase.matter_types
        UNION ALL SELECT id, created_at, updated_at FROM esqase.matters
        UNION ALL SELECT id, created_at, updated_at FROM esqase.leads) x ON x.id = r.id
 WHERE r.name LIKE 'noop\_%' ORDER BY 1;

-- Writes by hand are logged too: as the superuser (no key: member and key
-- are NULL, the role is the session's) ...
INSERT INTO t.marks SELECT 'by_hand', max(id) FROM esqase.audit_log;
UPDATE esqase.contacts SET nickname = 'set by hand' WHERE id = t.id('audit_contact');
INSERT INTO esqase.contacts (firm_id, type, company_name, name) VALUES (t.id('firm_b'), 'COMPANY', 'Hand made', '')
RETURNING 'hand made' AS made;
INSERT INTO t.ids SELECT 'hand_contact', id FROM esqase.contacts WHERE company_name = 'Hand made';
DELETE FROM esqase.contacts WHERE id = t.id('hand_contact');
-- ... as another role, through SET ROLE ...
CREATE ROLE esqase_audit_probe NOSUPERUSER BYPASSRLS;
GRANT USAGE ON SCHEMA esqase, t TO esqase_audit_probe;
GRANT SELECT, UPDATE ON esqase.contacts TO esqase_audit_probe;
SET ROLE esqase_audit_probe;
UPDATE esqase.contacts SET nickname = 'set by probe' WHERE id = t.id('audit_contact');
RESET ROLE;
-- ... and as the API role, by hand, under a key's context.
SET ROLE esqase_api;
BEGIN;
SELECT esqase_authenticate(token) FROM t.keys WHERE name = 'b';
UPDATE esqase.contacts SET nickname = 'set by B by hand' WHERE id = t.id('audit_b_contact');
COMMIT;
RESET ROLE;
SELECT tbl, action, record, firm, member, key, db_role, old_new, changed
  FROM t.audit(ARRAY[t.id('audit_contact'), t.id('hand_contact'), t.id('audit_b_contact')],
               (SELECT id FROM t.marks WHERE name = 'by_hand'));
DROP OWNED BY esqase_audit_probe;
DROP ROLE esqase_audit_probe;

-- A COPY by hand is audited (and a practice area seeded) like any write;
-- so is an INSERT under row_security = off.  Only a restore's COPY under
-- row_security = off is not (test/t/090_dump_restore.pl).
INSERT INTO t.marks SELECT 'copy', max(id) FROM esqase.audit_log;
-- (the generated COPY names firm B's id: not echoed)
\set ECHO none
SELECT format('COPY esqase.practice_areas (firm_id, name) FROM PROGRAM %L',
              format('printf ''%s\tCopied law\n''', t.id('firm_b')))
\gexec
\set ECHO all
SET row_security = off;
INSERT INTO esqase.contacts (firm_id, type, company_name, name) VALUES (t.id('firm_b'), 'COMPANY', 'Inserted, row_security off', '');
RESET row_security;
SELECT l.table_name, l.action, count(*), bool_and(l.member_id IS NULL AND l.db_role = session_user) AS by_hand
  FROM esqase.audit_log l WHERE l.id > (SELECT id FROM t.marks WHERE name = 'copy')
 GROUP BY 1, 2 ORDER BY 1, 2;
SELECT count(*) AS copied_area_stages FROM esqase.practice_area_stages s JOIN esqase.practice_areas p
    ON p.firm_id = s.firm_id AND p.id = s.practice_area_id WHERE p.name = 'Copied law';

-- A new firm's seeding is logged: the firm, its lead pipeline, its members.
SELECT table_name, action, CASE WHEN table_name = 'members' THEN count(*) >= 1 ELSE count(*) = 1 END AS logged,
       bool_and(member_id IS NULL AND key_id IS NULL) AS no_key
  FROM esqase.audit_log WHERE firm_id = t.id('firm_b') AND table_name IN ('firms', 'members')
 GROUP BY 1, 2 ORDER BY 1, 2;
SELECT string_agg(new_values ->> 'name', ', ' ORDER BY (new_values ->> 'order')::int) AS seeded_lead_stages
  FROM esqase.audit_log WHERE firm_id = t.id('firm_b') AND table_name = 'lead_stages' AND action = 'INSERT'
   AND member_id IS NULL;
SELECT record_id = t.id('firm_b') AS firm_record_is_firm_id
  FROM esqase.audit_log WHERE table_name = 'firms' AND firm_id = t.id('firm_b');

INSERT INTO t.keys VALUES ('audit_revoked', esqase_create_api_key(t.id('a_owner'), '{contacts:read}', 'audit revoked'));
SELECT esqase_revoke_api_key(token) FROM t.keys WHERE name = 'audit_revoked';
SELECT esqase_revoke_api_key(token) FROM t.keys WHERE name = 'audit_revoked';
-- API keys: creation and revocation are logged, never with the secret's
-- hash; using a key (which refreshes last_used_at) is not an audited change.
SELECT action, count(*) > 0 AS logged,
       bool_or(coalesce(old_values ? 'secret_hash', false) OR coalesce(new_values ? 'secret_hash', false)) AS holds_secret_hash,
       bool_and(coalesce(new_values, old_values) ? 'prefix') AS holds_prefix
  FROM esqase.audit_log WHERE table_name = 'api_keys' GROUP BY action ORDER BY action;
-- (revoking a key logs the change once; revoking it again changes and logs nothing)
SELECT changed FROM t.audit(ARRAY[t.key_id('audit_revoked')]) WHERE action = 'UPDATE';
INSERT INTO t.keys VALUES ('audit_fresh', esqase_create_api_key(t.id('a_owner'), '{contacts:read}', 'audit fresh'));
INSERT INTO t.marks SELECT 'fresh_key', max(id) FROM esqase.audit_log;
SET ROLE esqase_api;
SELECT t.api('audit_fresh', $$esqase_contacts_list('{"limit": 1}')$$) ? 'data' AS used;
RESET ROLE;
SELECT (SELECT last_used_at IS NOT NULL FROM esqase.api_keys WHERE id = t.key_id('audit_fresh')) AS last_used_set,
       count(*) AS audit_rows_from_use
  FROM esqase.audit_log WHERE id > (SELECT id FROM t.marks WHERE name = 'fresh_key');

-- Append-only: UPDATE, DELETE and TRUNCATE are refused, even for the
-- superuser (who owns the table here).
SELECT pg_get_userbyid(relowner) = current_user AS owner_is_me, rolsuper
  FROM pg_class, pg_roles WHERE pg_class.oid = 'esqase.audit_log'::regclass AND rolname = current_user;
INSERT INTO t.marks SELECT 'before_tamper', count(*) FROM esqase.audit_log;
UPDATE esqase.audit_log SET db_role = 'nobody' WHERE id = (SELECT min(id) FROM esqase.audit_log);
UPDATE esqase.audit_log SET new_values = NULL WHERE record_id = t.id('audit_contact');
DELETE FROM esqase.audit_log WHERE id = (SELECT max(id) FROM esqase.audit_log);
DELETE FROM esqase.audit_log;
TRUNCATE esqase.audit_log;
SET client_min_messages = warning;
TRUNCATE esqase.audit_log, esqase.contacts CASCADE;
RESET client_min_messages;
-- ... even with replication-role tricks that skip ordinary triggers.
SET session_replication_role = replica;
DELETE FROM esqase.audit_log WHERE id = (SELECT max(id) FROM esqase.audit_log);
UPDATE esqase.audit_log SET db_role = 'nobody' WHERE id = (SELECT min(id) FROM esqase.audit_log);
TRUNCATE esqase.audit_log;
RESET session_replication_role;
SELECT count(*) = (SELECT id FROM t.marks WHERE name = 'before_tamper') AS nothing_lost,
       count(*) FILTER (WHERE db_role = 'nobody') AS tampered
  FROM esqase.audit_log;
SELECT count(*) > 0 AS contacts_still_there FROM esqase.contacts;

-- Restores are told by the statement being run, not by the query's text: a
-- query string that begins with COPY, run with row_security off by the
-- superuser, still audits the writes that follow it in the same string ...
INSERT INTO t.marks SELECT 'before_copy_text', max(id) FROM esqase.audit_log;
SET row_security = off;
COPY (SELECT 1) TO STDOUT \; UPDATE esqase.contacts SET nickname = 'after a COPY' WHERE id = t.id('audit_contact');
RESET row_security;
SELECT action, table_name, new_values ->> 'nickname' AS nickname
  FROM esqase.audit_log WHERE id > (SELECT id FROM t.marks WHERE name = 'before_copy_text') ORDER BY id;
