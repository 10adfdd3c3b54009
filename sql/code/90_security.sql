
-------------------------------------------------------------------------------
-- 90 Security and housekeeping for every data table: updated_at, audit,
-- row-level security, the API role's grants, and pg_dump registration.
-------------------------------------------------------------------------------

-- The role the HTTP workers run SQL as (esqase.http_role).  Roles are
-- cluster-wide, so it is created only if missing and outlives the extension.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'esqase_api') THEN
        CREATE ROLE esqase_api NOLOGIN NOSUPERUSER NOBYPASSRLS;
    END IF;
END
$$;

GRANT USAGE ON SCHEMA esqase TO esqase_api;

-- Every data table: row-level security enabled and forced, registered
-- with pg_dump (pg_extension_config_dump), and, but for bookkeeping (the
-- counters, record_counts, the audit log itself), its updated_at trigger
-- and its audit triggers: updates and deletes per row (esqase.audit),
-- inserts per statement (esqase.audit_insert).  Generated from the flags of
-- the tables of sql/registry.pl (rls, audited).
-- @generate table_security

-- The API role's privileges, exactly: what the API functions read and
-- write as the key, and nothing more, so that a member's own SQL under the
-- API role can do what its key can do over HTTP (docs/sql-api.md,
-- "Row-level security").  Whatever esqase_api and esqase_refs held on
-- schema esqase's tables and views is revoked first (a table's REVOKE takes
-- its column privileges too), so that an upgraded database ends with these
-- grants and no older one, as a fresh install does.
DO $$
DECLARE
    t regclass;
BEGIN
    FOR t IN SELECT c.oid FROM pg_catalog.pg_class c
              WHERE c.relnamespace = 'esqase'::regnamespace AND c.relkind IN ('r', 'p', 'v') LOOP
        EXECUTE format('REVOKE ALL ON %s FROM esqase_api, esqase_refs', t);
    END LOOP;
END
$$;

-- Reading: a table's own rows, all columns, under its policy (below): the
-- scopes of its own resource.  Not firms (the API shows nothing of the
-- firm), api_keys or audit_log.  A record's references to other records
-- ({id, name}) are read through the views of 28_references.sql.
GRANT SELECT ON esqase.members, esqase.contacts, esqase.practice_areas, esqase.practice_area_stages,
                esqase.matter_types, esqase.public_id_counters, esqase.matters, esqase.matter_clients,
                esqase.matter_team, esqase.lead_stages, esqase.leads, esqase.lead_assignees,
                esqase.record_counts, esqase.idempotency_keys,
                esqase.contact_refs, esqase.practice_area_refs, esqase.practice_area_stage_refs,
                esqase.matter_type_refs, esqase.member_refs
   TO esqase_api;

-- Writing: the columns the API writes, per table and command.  An INSERT
-- gives the columns a create sets (ids, timestamps, deleted_at and the
-- derived name and search come from defaults and triggers; contacts and
-- leads are given their id so that a lead and its prospect can name each
-- other); an UPDATE the fields a PATCH may change, and deleted_at and
-- status for the API's soft DELETE (the policies say which values).
-- Practice area stages are seeded by a trigger and changed by no API call;
-- public-id counters and idempotency keys are written only by their
-- SECURITY DEFINER functions (esqase.next_public_id,
-- esqase.idempotency_begin / _end); the audit log and record counts only
-- by triggers.
GRANT INSERT (firm_id, id, type, prefix, first_name, middle_name, last_name, suffix, nickname,
              company_name, trade_name, company_type, emails, phones, name, hidden_by_lead),
      UPDATE (prefix, first_name, middle_name, last_name, suffix, nickname, company_name, trade_name,
              company_type, emails, phones, status, deleted_at)
   ON esqase.contacts TO esqase_api;
-- (id: a bulk create, esqase_<resource>_create_many, names its records'
-- ids before it writes them, to keep them in the order sent)
GRANT INSERT (firm_id, id, name), UPDATE (name, status, deleted_at) ON esqase.practice_areas TO esqase_api;
GRANT INSERT (firm_id, id, practice_area_id, name), UPDATE (name, status, deleted_at)
   ON esqase.matter_types TO esqase_api;
GRANT INSERT (firm_id, id, public_id, title, description, status, open_date, close_date, sol_date,
              practice_area_id, stage_id, matter_type_id),
      UPDATE (title, description, status, open_date, close_date, sol_date, practice_area_id, stage_id,
              matter_type_id, deleted_at)
   ON esqase.matters TO esqase_api;
GRANT INSERT (firm_id, id, public_id, value, is_private, contact_id, practice_area_id, stage_id),
      UPDATE (value, is_private, practice_area_id, stage_id, deleted_at)
   ON esqase.leads TO esqase_api;
-- Matters and leads replace their client, team and assignee lists on update
-- (the way a contact's emails are replaced): the rows that go are deleted,
-- and the audit trigger records each delete.  The API role may delete from
-- these three link tables only; every other table keeps soft deletes.  An
-- assignee's position changes in place (a reordered list).
GRANT INSERT (firm_id, matter_id, contact_id, position, is_bill_recipient), DELETE
   ON esqase.matter_clients TO esqase_api;
GRANT INSERT (firm_id, matter_id, member_id, position, role, allocation), DELETE
   ON esqase.matter_team TO esqase_api;
GRANT INSERT (firm_id, lead_id, member_id, position), UPDATE (position), DELETE
   ON esqase.lead_assignees TO esqase_api;

-- Webhooks: the key_id of a new one is its own key (the insert policy);
-- their secrets are out of reach (esqase.webhook_new_secret writes them).
-- Their deliveries are read by the deliveries route; the events and the
-- worker's state are written by SECURITY DEFINER triggers and the worker
-- only.
GRANT SELECT, INSERT (firm_id, id, url, events, key_id), UPDATE (url, events, status, failing_since, deleted_at)
   ON esqase.webhooks TO esqase_api;
GRANT SELECT ON esqase.webhook_deliveries TO esqase_api;

-- The owner of the reference views (28_references.sql) reads their tables,
-- and matter_clients, which its contacts policy asks.
GRANT USAGE ON SCHEMA esqase TO esqase_refs;
GRANT SELECT ON esqase.contacts, esqase.practice_areas, esqase.practice_area_stages, esqase.matter_types,
                esqase.members, esqase.matter_clients
   TO esqase_refs;

-- The audit log grows through the audit trigger's INSERT only.
SELECT pg_catalog.pg_extension_config_dump('esqase.audit_log_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('esqase.webhook_events_seq_seq', '');

-- Administration is for DBAs; they grant it on.
REVOKE EXECUTE ON FUNCTION esqase_create_firm(text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION esqase_create_member(uuid, text, text, boolean, text[]) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION esqase_create_api_key(uuid, text[], text, timestamptz) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION esqase_revoke_api_key(text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION esqase_set_api_key_scopes(text, text[]) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION esqase_add_api_key_scopes(text, text[]) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION esqase_remove_api_key_scopes(text, text[]) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION esqase_set_api_key_expiry(text, timestamptz) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION esqase_rotate_api_key(text, interval) FROM PUBLIC;
REVOKE ALL ON esqase.api_key_list FROM PUBLIC;
-- Anyone may not put it on a table of theirs: each firing empties every
-- backend's known keys (context.c).
REVOKE EXECUTE ON FUNCTION esqase.keys_changed() FROM PUBLIC;
-- The outbox and the delivery worker's statements: triggers and the
-- worker's superuser connection only.
REVOKE EXECUTE ON FUNCTION esqase.webhook_fan_out(integer) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION esqase.webhook_claim(integer) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION esqase.webhook_key_context(uuid) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION esqase.webhook_attempted(jsonb, interval) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION esqase.webhook_sweep(interval) FROM PUBLIC;

-- Policies are code, like functions: every policy on esqase's tables is
-- dropped here and the ones below created again, so an install and an
-- upgrade end with exactly the policies this file creates (no migration
-- drops a policy a release no longer has).  One transaction: no moment
-- without them.
DO $$
DECLARE
    p record;
BEGIN
    FOR p IN SELECT policyname, tablename FROM pg_catalog.pg_policies WHERE schemaname = 'esqase' LOOP
        EXECUTE format('DROP POLICY %I ON esqase.%I', p.policyname, p.tablename);
    END LOOP;
END
$$;

-- Row-level security enforces the API's own rules, per table and command,
-- so that a member's SQL under the API role can do what its key can do over
-- HTTP and no more (docs/sql-api.md, "Row-level security"; the matrix test
-- test/sql/55_rls_matrix.sql).  Every policy starts with the firm of the
-- context; then:
--  * the key's scopes, through esqase.context_may() (a bit test in C; for
--    practice-areas and matter-types it includes the member's Practice areas
--    permission).  A table is readable, all its columns, with the scopes of
--    its own resource (the read scope every row, the write scope the rows
--    it names: below); the records that show it as a reference ({id, name})
--    read it through its view of 28_references.sql, whose owner esqase_refs
--    has the policies "<table>_refs" below: a contact that is a client of a
--    matter (matters scopes) or the contact of a visible lead (leads
--    scopes), the practice areas and members (matters and leads scopes),
--    the stages (matters scopes), the matter types (matters and
--    practice-areas scopes).  Writes need the write scope of the resource
--    the table belongs to (link tables and counters their owning
--    resource's).
--  * a key with a resource's write scope but not its read scope reaches
--    only the records it names (esqase.target; the word reach of the registry):
--    over HTTP it reaches a record by the id in the URL (a PATCH answers
--    with it) and lists nothing, so in SQL it reads, updates and deletes
--    the rows it named, and the rows of their link tables and the
--    references they show (esqase.named_refers), and no other (issue 21,
--    (b)); not even an UPDATE that reads no column touches another row.
--    The API's updates and deletes name the record they find, its creates
--    the records they make.
--  * a new matter or lead carries a public id this transaction took from
--    the counter (esqase.public_id_issued), never one chosen by hand; a
--    hidden prospect and a private lead are checked at commit
--    (20_triggers.sql: esqase.check_hidden_prospect, _private_lead_seen).
--  * private leads, and the prospects they created (contacts.hidden_by_lead),
--    are visible to the firm's owners and the lead's assignees only
--    (esqase.context_assigned, asked only of a private lead or a hidden
--    prospect, and only for a member who is no owner).  A lead a member may see but not
--    made private stays so: a new row must be visible to its writer (F2 of
--    the 0.2.0 probe: a lead made private by a member who is not among its
--    assignees, which the API refuses with 422).
--  * lead_assignees rows are visible and writable only where their lead is
--    (a per-row probe of the lead by primary key), or while the lead is new
--    in this very transaction (its first assignees).
--  * a deleted record (deleted_at set) is not updated again: no undelete,
--    no change to a record the API answers 404 for.  A soft delete sets
--    deleted_at to now() and the status the API's DELETE sets (contacts,
--    practice areas and matter types ARCHIVED, matters ARCHIVE); a live
--    contact, practice area or matter type is ACTIVE.  deleted_at is not in
--    the SELECT policies (a soft delete's new row must pass them); the
--    functions filter deleted rows.
--  * the per-row probes of another table (is the lead shown, is the member
--    assigned) are calls of the small functions below, not EXISTS
--    sub-selects: a sub-select in a policy is a SubPlan that every query on
--    the table sets up, whether a row ever needs it or not (as sub-selects
--    they made a GET of a contact as the API role 0.64 of the superuser's
--    rate; as calls, 0.91: issue 16).
-- The column privileges above say which columns a write may change.  The
-- functions also check all of this themselves, with the API's error
-- messages: the policies are the backstop.  api_keys and audit_log have no
-- policy: the API role has no privilege on them, and with row-level
-- security forced, no policy means no row for anyone but a superuser.

-- Whether the context's member is assigned to the lead: the per-row form of
-- esqase.assigned_leads, with its rule (with leads scopes, any lead; else
-- only a lead that hides a prospect).  SECURITY DEFINER for the reason
-- esqase.assigned_leads is (the lead_assignees policy asks the leads
-- policy, which asks this).
CREATE OR REPLACE FUNCTION esqase.context_assigned(lead uuid) RETURNS boolean
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $f$
BEGIN
    RETURN EXISTS (SELECT FROM esqase.lead_assignees a
                    WHERE a.firm_id = esqase.context_firm() AND a.member_id = esqase.context_member()
                      AND a.lead_id = lead
                      AND (esqase.context_may('leads:read') OR esqase.context_may('leads:write')
                           OR EXISTS (SELECT FROM esqase.contacts c
                                       WHERE c.firm_id = a.firm_id AND c.hidden_by_lead = a.lead_id)));
END
$f$;
-- Whether the lead is shown (the lead_assignees policy): read under the
-- caller's policies, as the sub-select it replaces.  PL/pgSQL: the plan
-- is kept between calls.
CREATE OR REPLACE FUNCTION esqase.lead_shown(firm uuid, lead uuid) RETURNS boolean
LANGUAGE plpgsql STABLE AS $f$
BEGIN
    RETURN EXISTS (SELECT FROM esqase.leads l WHERE l.firm_id = firm AND l.id = lead);
END
$f$;

-- The policies, generated from the policy of each table of
-- sql/registry.pl (select, refs, write, row, insert, update; see
-- tools/generate.pl, "policies"), with the resources' rules and scopes.
-- @generate policies

-- Idempotency keys (15_idempotency.sql): bookkeeping of the creates, not
-- audited (a replay writes no audit row; the record a create makes is
-- audited as always).  A key sees its own rows only, for the resources it
-- may create: a replay shows it what it stored.  It writes them only
-- through esqase.idempotency_begin and _end (SECURITY DEFINER), which store
-- the response of a record the transaction created and nothing else;
-- nobody deletes through the API (the sweep runs as the HTTP worker's
-- superuser).
ALTER TABLE esqase.idempotency_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE esqase.idempotency_keys FORCE ROW LEVEL SECURITY;
SELECT pg_catalog.pg_extension_config_dump('esqase.idempotency_keys', '');
CREATE POLICY idempotency_keys_select ON esqase.idempotency_keys FOR SELECT
    USING (firm_id = esqase.context_firm() AND key_id = esqase.context_key()
           AND esqase.context_may(resource || ':write'));
