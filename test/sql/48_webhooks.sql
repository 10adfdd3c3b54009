-- Webhooks: the resource (create, list, get, PATCH, delete, deliveries),
-- its checks (event types, the url's SSRF rules), and the outbox: a change
-- writes one event in its own transaction (the worker fans it out to the
-- webhooks), only for a live webhook subscribed to its type, with the
-- record as it committed.
-- Delivery itself is tested over real HTTP in test/t/030_webhooks.pl.
\set VERBOSITY terse
INSERT INTO t.keys VALUES
    ('wh', esqase_create_api_key(t.id('a_owner'), '{webhooks:read,webhooks:write,contacts:read,contacts:write,matters:read,matters:write,practice-areas:read}', 'webhooks')),
    ('wh_read', esqase_create_api_key(t.id('a_owner'), '{webhooks:read}')),
    ('wh_b', esqase_create_api_key(t.id('b_owner'), '{webhooks:read,webhooks:write}'));
INSERT INTO t.ids VALUES ('key_a', t.key_id('a'));
SET esqase.webhook_allow_private = off;
SET ROLE esqase_api;

-- The url: https only, and no private, loopback, link-local or reserved
-- address, checked on the resolved address.
SELECT t.unid(expr) AS call, t.err('wh', expr) FROM (VALUES
    ($$esqase_webhooks_create('{"url": "http://93.184.216.34/hook", "events": ["contacts.created"]}')$$),
    ($$esqase_webhooks_create('{"url": "https://127.0.0.1/hook", "events": ["contacts.created"]}')$$),
    ($$esqase_webhooks_create('{"url": "https://localhost/hook", "events": ["contacts.created"]}')$$),
    ($$esqase_webhooks_create('{"url": "https://10.1.2.3/hook", "events": ["contacts.created"]}')$$),
    ($$esqase_webhooks_create('{"url": "https://172.16.0.1/hook", "events": ["contacts.created"]}')$$),
    ($$esqase_webhooks_create('{"url": "https://192.168.1.1/hook", "events": ["contacts.created"]}')$$),
    ($$esqase_webhooks_create('{"url": "https://169.254.169.254/latest/meta-data", "events": ["contacts.created"]}')$$),
    ($$esqase_webhooks_create('{"url": "https://100.64.0.1/hook", "events": ["contacts.created"]}')$$),
    ($$esqase_webhooks_create('{"url": "https://0.0.0.0/hook", "events": ["contacts.created"]}')$$),
    ($$esqase_webhooks_create('{"url": "https://224.0.0.1/hook", "events": ["contacts.created"]}')$$),
    ($$esqase_webhooks_create('{"url": "https://[::1]/hook", "events": ["contacts.created"]}')$$),
    ($$esqase_webhooks_create('{"url": "https://[fd00::1]/hook", "events": ["contacts.created"]}')$$),
    ($$esqase_webhooks_create('{"url": "https://[fe80::1]/hook", "events": ["contacts.created"]}')$$),
    ($$esqase_webhooks_create('{"url": "https://[::ffff:127.0.0.1]/hook", "events": ["contacts.created"]}')$$),
    ($$esqase_webhooks_create('{"url": "https://hooks.example.invalid/hook", "events": ["contacts.created"]}')$$),
    ($$esqase_webhooks_create('{"url": "ftp://93.184.216.34/hook", "events": ["contacts.created"]}')$$),
    ($$esqase_webhooks_create('{"url": "not a url", "events": ["contacts.created"]}')$$),
    ($$esqase_webhooks_create('{"events": ["contacts.created"]}')$$),
    ($$esqase_webhooks_create('{"url": "https://93.184.216.34/hook", "events": ["contacts.renamed"]}')$$),
    ($$esqase_webhooks_create('{"url": "https://93.184.216.34/hook", "events": []}')$$),
    ($$esqase_webhooks_create('{"url": "https://93.184.216.34/hook"}')$$),
    ($$esqase_webhooks_create('{"url": "https://93.184.216.34/hook", "events": ["contacts.created"], "secret": "x"}')$$)
) AS cases(expr);

-- A public address over https is taken (nothing is sent to it: it is
-- paused at once).  The create's answer holds the secret, once.
INSERT INTO t.ids SELECT 'wh_public', (t.api('wh', $$esqase_webhooks_create('{"url": "https://93.184.216.34/hook", "events": ["matters.created"]}')$$) #>> '{data,id}')::uuid;
SELECT t.api('wh', format($$esqase_webhooks_update(%L, '{"status": "PAUSED"}')$$, t.id('wh_public'))) #>> '{data,status}' AS paused;

-- The superuser setting lets http and private addresses in (a receiver
-- on this machine); the API role cannot set it.
SET esqase.webhook_allow_private = on;
RESET ROLE;
SET esqase.webhook_allow_private = on;
SET ROLE esqase_api;
SELECT t.mask(r #- '{data,secret}') AS created, r #>> '{data,secret}' ~ '^whsec_[0-9a-f]{64}$' AS secret_shown
  FROM t.api('wh', $$esqase_webhooks_create('{"url": "http://127.0.0.1:9/hook", "events": ["contacts.updated", "contacts.created", "contacts.deleted", "contacts.created"]}')$$) r;
INSERT INTO t.ids SELECT 'wh_local', (t.api('wh', $$esqase_webhooks_list()$$) #>> '{data,1,id}')::uuid;
-- never shown again, and not readable by the API role
SELECT t.show('wh', format('esqase_webhooks_get(%L)', t.id('wh_local')));
SELECT secret FROM esqase.webhook_secrets LIMIT 1;
SELECT t.err('wh', format('esqase.webhook_new_secret(%L, %L)', t.id('firm_a'), t.id('wh_local'))) AS second_secret;
SELECT t.show('wh_read', 'esqase_webhooks_list()');

-- PATCH and its checks.
SELECT t.show('wh', format($$esqase_webhooks_update(%L, '{"events": ["contacts.created", "contacts.updated", "contacts.deleted", "matters.created"]}')$$, t.id('wh_local')));
SELECT t.unid(expr) AS call, t.err('wh', expr) FROM (VALUES
    (format($$esqase_webhooks_update(%L, '{"status": "DISABLED"}')$$, t.id('wh_local'))),
    (format($$esqase_webhooks_update(%L, '{"url": "ftp://x"}')$$, t.id('wh_local'))),
    (format($$esqase_webhooks_update(%L, '{"events": ["leads.won"]}')$$, t.id('wh_local'))),
    (format($$esqase_webhooks_update(%L, '{"secret": "x"}')$$, t.id('wh_local'))),
    ($$esqase_webhooks_update('00000000-0000-4000-8000-000000000000', '{"status": "PAUSED"}')$$),
    ($$esqase_webhooks_create('{"url": "http://127.0.0.1:9/", "events": ["contacts.created"]}', 'idem-1')$$)
) AS cases(expr);
SELECT t.err('wh_read', $$esqase_webhooks_create('{"url": "http://127.0.0.1:9/", "events": ["contacts.created"]}')$$) AS read_only_create;
SELECT t.err('a', 'esqase_webhooks_list()') AS no_scope;
SELECT t.err('wh_b', format('esqase_webhooks_get(%L)', t.id('wh_local'))) AS other_firm;

-- The outbox: a create, an update and a delete of a contact, each an
-- event with the record as it committed (deletedAt set on the delete).
SELECT t.api('wh', $$esqase_contacts_create('{"type": "PERSON", "firstName": "Hook", "lastName": "Test"}')$$) #>> '{data,name}' AS created;
RESET ROLE;
INSERT INTO t.ids SELECT 'wh_contact', record_id FROM esqase.webhook_events ORDER BY seq DESC LIMIT 1;
SET ROLE esqase_api;
SELECT t.api('wh', format($$esqase_contacts_update(%L, '{"lastName": "Tested"}')$$, t.id('wh_contact'))) #>> '{data,name}' AS updated;
-- an update that changes nothing is no event
SELECT t.api('wh', format($$esqase_contacts_update(%L, '{"lastName": "Tested"}')$$, t.id('wh_contact'))) #>> '{data,name}' AS unchanged;
SELECT t.api('wh', format('esqase_contacts_delete(%L)', t.id('wh_contact'))) #>> '{data,status}' AS deleted;
-- a rolled-back change writes nothing
BEGIN;
SELECT t.api('wh', $$esqase_contacts_create('{"type": "PERSON", "firstName": "Rolled", "lastName": "Back"}')$$) #>> '{data,name}' AS rolled_back;
ROLLBACK;
-- a type no webhook subscribed to (matter types) writes nothing
SELECT t.api('a', $$esqase_practice_areas_create('{"name": "Hooked area"}')$$) #>> '{data,name}' AS area;
RESET ROLE;
SELECT e.type, e.data ->> 'name' AS name, e.data ->> 'status' AS status, e.data ->> 'deletedAt' IS NOT NULL AS deleted,
       (e.data ->> 'id')::uuid = t.id('wh_contact') AS same_record
  FROM esqase.webhook_events e WHERE e.firm_id = t.id('firm_a') ORDER BY e.seq;
-- one event row per change; the worker fans it out to the webhooks (no
-- worker here: called as it calls it)
SELECT count(*) AS deliveries_before_fan_out FROM esqase.webhook_deliveries;
SELECT esqase.webhook_fan_out(100) AS fanned_out;
SELECT esqase.webhook_fan_out(100) AS fanned_out_again;
SELECT d.type, d.state, d.attempts FROM esqase.webhook_deliveries d ORDER BY d.seq;
SELECT count(*) AS audited FROM esqase.audit_log WHERE table_name = 'webhooks';

-- The deliveries route.
SET ROLE esqase_api;
SELECT t.show('wh', format($$esqase_webhooks_deliveries(%L, '{"limit": "2"}')$$, t.id('wh_local')));
SELECT t.err('wh', format($$esqase_webhooks_deliveries(%L, '{"limit": "0"}')$$, t.id('wh_local'))) AS bad_limit;
SELECT t.err('wh', format($$esqase_webhooks_deliveries(%L, '{"page": "2"}')$$, t.id('wh_local'))) AS bad_param;

-- A write by hand, outside the API, by a role the DBA granted it (not a
-- superuser), is an event too; a session of the API role with no context
-- is told nothing of a firm's webhooks (webhook_listens).
SELECT t.api('wh', $$esqase_contacts_create('{"type": "PERSON", "firstName": "Hand"}')$$) #>> '{data,id}' AS hand_contact,
       t.id('firm_a') AS hand_firm \gset
RESET ROLE;
CREATE ROLE wh_clerk BYPASSRLS;
GRANT USAGE ON SCHEMA esqase TO wh_clerk;
GRANT SELECT, UPDATE ON esqase.contacts TO wh_clerk;
CREATE ROLE wh_app IN ROLE esqase_api;
SET SESSION AUTHORIZATION wh_clerk;
UPDATE esqase.contacts SET last_name = 'By hand' WHERE id = :'hand_contact';
RESET SESSION AUTHORIZATION;
SELECT e.type, e.data ->> 'lastName' AS last_name FROM esqase.webhook_events e
 WHERE e.record_id = :'hand_contact' ORDER BY e.seq DESC LIMIT 1;
SET SESSION AUTHORIZATION wh_app;
SELECT esqase.webhook_listens(:'hand_firm', 'contacts.updated') AS app_told_without_context;
RESET SESSION AUTHORIZATION;
SELECT esqase.webhook_listens(:'hand_firm', 'contacts.updated') AS superuser_told;
REVOKE ALL ON esqase.contacts FROM wh_clerk;
REVOKE ALL ON SCHEMA esqase FROM wh_clerk;
DROP ROLE wh_clerk, wh_app;
SET ROLE esqase_api;

-- A key may not make a webhook that acts as another key (direct SQL).
BEGIN;
SELECT esqase_authenticate((SELECT token FROM t.keys WHERE name = 'wh'));
INSERT INTO esqase.webhooks (firm_id, url, events, key_id)
VALUES (t.id('firm_a'), 'http://127.0.0.1:9/', '{contacts.created}', t.id('key_a'));
ROLLBACK;

-- Delete: gone from the list; its deliveries stay until swept.
SELECT t.err('wh', format('esqase_webhooks_delete(%L)', t.id('wh_local'))) AS deleted;
SELECT t.api('wh', 'esqase_webhooks_list()') #>> '{pagination,total}' AS left_listed;
RESET ROLE;
-- the sweep: a deleted webhook's deliveries go (they would never be sent);
-- the others stay until esqase.webhook_retention
SELECT esqase.webhook_sweep('7 days') AS swept_done;
SELECT count(*) AS left_of_deleted FROM esqase.webhook_deliveries d WHERE d.webhook_id = t.id('wh_local');
RESET esqase.webhook_allow_private;
