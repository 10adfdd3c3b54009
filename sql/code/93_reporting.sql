
-------------------------------------------------------------------------------
-- 93 Reporting for analysts (issue 8): schema esqase_report, read-only views
-- in plain snake_case, and the one-call grants that let a role read them
-- (docs/reporting.md).
--
-- Row-level security is keyed on an API context, which an analyst does not
-- have; so the views read the tables as their owner (the superuser who ran
-- CREATE EXTENSION, which bypasses row-level security) and the view's own
-- WHERE clause is the security boundary: the rows of the firms the reader
-- was granted, through esqase.report_readers.  The views are
-- security_barrier so that a reader's own functions in a WHERE clause are
-- not pushed below that filter and shown the other rows.
-------------------------------------------------------------------------------

-- Forced, with no policy and no grant: only the views' owner reads it.
ALTER TABLE esqase.report_readers ENABLE ROW LEVEL SECURITY;
ALTER TABLE esqase.report_readers FORCE ROW LEVEL SECURITY;
SELECT pg_catalog.pg_extension_config_dump('esqase.report_readers', '');
COMMENT ON TABLE esqase.report_readers IS
    'Roles that read schema esqase_report, and the firm each may read (NULL: every firm); written by esqase_grant_reader and esqase_revoke_reader';

-- The firms the current role may read, and whether it may see private
-- leads there.  pg_has_role(..., 'USAGE') makes a grant to a group role
-- count for its members, the way the SELECT grant on the views does.  A
-- reader row whose role was dropped matches nobody.
CREATE OR REPLACE VIEW esqase.report_scope WITH (security_barrier) AS
SELECT f.id AS firm_id, pg_catalog.bool_or(r.private_leads) AS private_leads
  FROM esqase.report_readers r
  JOIN pg_catalog.pg_roles ro ON ro.rolname = r.role_name
  JOIN esqase.firms f ON r.firm_id IS NULL OR f.id = r.firm_id
 WHERE pg_catalog.pg_has_role(ro.oid, 'USAGE')
 GROUP BY f.id;
COMMENT ON VIEW esqase.report_scope IS
    'The firms the current role reads through esqase_report, with its private-leads option';

COMMENT ON SCHEMA esqase_report IS
    'Read-only views for analysts: one firm or every firm, per esqase_grant_reader (docs/reporting.md)';

CREATE OR REPLACE VIEW esqase_report.firms WITH (security_barrier) AS
SELECT f.id, f.name, f.created_at, f.updated_at
  FROM esqase.firms f JOIN esqase.report_scope s ON s.firm_id = f.id;

CREATE OR REPLACE VIEW esqase_report.members WITH (security_barrier) AS
SELECT m.firm_id, m.id, m.name, m.email, m.is_owner, m.permissions,
       m.created_at, m.updated_at, m.deleted_at
  FROM esqase.members m JOIN esqase.report_scope s ON s.firm_id = m.firm_id;

CREATE OR REPLACE VIEW esqase_report.contacts WITH (security_barrier) AS
SELECT c.firm_id, c.id, c.type, c.status, c.name, c.prefix, c.first_name, c.middle_name,
       c.last_name, c.suffix, c.nickname, c.company_name, c.trade_name, c.company_type,
       c.emails, c.emails[1] AS primary_email, c.phones, c.hidden_by_lead AS private_lead_id,
       c.created_at, c.updated_at, c.deleted_at
  FROM esqase.contacts c JOIN esqase.report_scope s ON s.firm_id = c.firm_id
 WHERE c.hidden_by_lead IS NULL OR s.private_leads;

CREATE OR REPLACE VIEW esqase_report.practice_areas WITH (security_barrier) AS
SELECT p.firm_id, p.id, p.name, p.status, p.created_at, p.updated_at, p.deleted_at
  FROM esqase.practice_areas p JOIN esqase.report_scope s ON s.firm_id = p.firm_id;

CREATE OR REPLACE VIEW esqase_report.practice_area_stages WITH (security_barrier) AS
SELECT st.firm_id, st.id, st.practice_area_id, st.name, st.type, st."order" AS sort_order,
       st.created_at, st.updated_at
  FROM esqase.practice_area_stages st JOIN esqase.report_scope s ON s.firm_id = st.firm_id;

CREATE OR REPLACE VIEW esqase_report.matter_types WITH (security_barrier) AS
SELECT t.firm_id, t.id, t.practice_area_id, t.name, t.status, t.created_at, t.updated_at, t.deleted_at
  FROM esqase.matter_types t JOIN esqase.report_scope s ON s.firm_id = t.firm_id;

CREATE OR REPLACE VIEW esqase_report.matters WITH (security_barrier) AS
SELECT m.firm_id, m.id, m.public_id, m.title, m.description, m.status, m.open_date,
       m.close_date, m.sol_date, m.practice_area_id, m.stage_id, m.matter_type_id,
       m.created_at, m.updated_at, m.deleted_at
  FROM esqase.matters m JOIN esqase.report_scope s ON s.firm_id = m.firm_id;

CREATE OR REPLACE VIEW esqase_report.matter_clients WITH (security_barrier) AS
SELECT mc.firm_id, mc.matter_id, mc.contact_id, mc.position, mc.is_primary,
       mc.is_bill_recipient, mc.created_at
  FROM esqase.matter_clients mc JOIN esqase.report_scope s ON s.firm_id = mc.firm_id;

CREATE OR REPLACE VIEW esqase_report.matter_team WITH (security_barrier) AS
SELECT mt.firm_id, mt.matter_id, mt.member_id, mt.position, mt.role, mt.allocation, mt.created_at
  FROM esqase.matter_team mt JOIN esqase.report_scope s ON s.firm_id = mt.firm_id;

CREATE OR REPLACE VIEW esqase_report.lead_stages WITH (security_barrier) AS
SELECT ls.firm_id, ls.id, ls.name, ls."order" AS sort_order, ls.created_at, ls.updated_at
  FROM esqase.lead_stages ls JOIN esqase.report_scope s ON s.firm_id = ls.firm_id;

CREATE OR REPLACE VIEW esqase_report.leads WITH (security_barrier) AS
SELECT l.firm_id, l.id, l.public_id, l.status, l.value,
       pg_catalog.array_position(ARRAY['LOWEST', 'LOW', 'MEDIUM', 'HIGH', 'HIGHEST'], l.value) AS value_rank,
       l.is_private, l.contact_id, l.practice_area_id, l.stage_id,
       l.created_at, l.updated_at, l.deleted_at
  FROM esqase.leads l JOIN esqase.report_scope s ON s.firm_id = l.firm_id
 WHERE NOT l.is_private OR s.private_leads;

CREATE OR REPLACE VIEW esqase_report.lead_assignees WITH (security_barrier) AS
SELECT la.firm_id, la.lead_id, la.member_id, la.position, la.created_at
  FROM esqase.lead_assignees la JOIN esqase.report_scope s ON s.firm_id = la.firm_id
  JOIN esqase.leads l ON l.firm_id = la.firm_id AND l.id = la.lead_id
 WHERE NOT l.is_private OR s.private_leads;

-- The log keeps the values of private leads, their prospects and their
-- assignees: those rows follow the record's present visibility.  API-key
-- hashes are not logged (esqase.audit()); they are taken out here as well,
-- so that a row written some other way cannot carry one to a reader.
CREATE OR REPLACE VIEW esqase_report.audit_log WITH (security_barrier) AS
SELECT a.firm_id, a.id, a.at, a.member_id, a.key_id, a.db_role, a.action, a.table_name,
       a.record_id, a.old_values - 'secret_hash' AS old_values,
       a.new_values - 'secret_hash' AS new_values
  FROM esqase.audit_log a JOIN esqase.report_scope s ON s.firm_id = a.firm_id
 WHERE s.private_leads
    OR NOT EXISTS (SELECT FROM esqase.leads l
                    WHERE l.firm_id = a.firm_id AND l.is_private
                      AND l.id = CASE a.table_name
                                 WHEN 'leads' THEN a.record_id::text
                                 WHEN 'lead_assignees' THEN coalesce(a.new_values, a.old_values) ->> 'lead_id'
                                 END::uuid)
   AND NOT EXISTS (SELECT FROM esqase.contacts c
                    WHERE a.table_name = 'contacts' AND c.firm_id = a.firm_id
                      AND c.id = a.record_id AND c.hidden_by_lead IS NOT NULL);

-- Comments: one line per view and column, kept here in one list so that a
-- column without a comment stands out (test/sql/90_reporting.sql checks
-- that none is missing).
DO $$
DECLARE
    c text[];
    v text;
BEGIN
    FOREACH c SLICE 1 IN ARRAY ARRAY[
        ['firms', NULL, 'Law firms (tenants); every other view joins on firm_id'],
        ['firms', 'id', 'The firm (firm_id in every other view)'],
        ['members', NULL, 'Members (users) of each firm; deactivated ones have deleted_at set'],
        ['members', 'id', 'The member (API: members id, team memberId, assigneeIds)'],
        ['members', 'email', 'Login email, unique per firm'],
        ['members', 'is_owner', 'Owners hold every permission and see every private lead'],
        ['members', 'permissions', 'Extra permissions: practice_areas (practice areas and matter types)'],
        ['members', 'deleted_at', 'When the member was deactivated (API status INACTIVE); NULL while active'],
        ['contacts', NULL, 'Contacts (people and companies), archived ones included; a private lead''s prospect only for readers granted private leads'],
        ['contacts', 'type', 'PERSON or COMPANY; never changes'],
        ['contacts', 'status', 'ACTIVE, or ARCHIVED once deleted'],
        ['contacts', 'name', 'Display name: first, middle and last name of a person, company name of a company'],
        ['contacts', 'prefix', 'Person: name prefix'],
        ['contacts', 'first_name', 'Person: first name'],
        ['contacts', 'middle_name', 'Person: middle name'],
        ['contacts', 'last_name', 'Person: last name'],
        ['contacts', 'suffix', 'Person: name suffix'],
        ['contacts', 'nickname', 'Person: nickname'],
        ['contacts', 'company_name', 'Company: name'],
        ['contacts', 'trade_name', 'Company: trade name'],
        ['contacts', 'company_type', 'Company: type of company'],
        ['contacts', 'emails', 'Email addresses, primary first'],
        ['contacts', 'primary_email', 'The first email, or NULL'],
        ['contacts', 'phones', 'Phone numbers'],
        ['contacts', 'private_lead_id', 'The private lead that created this contact while it stays hidden with the lead; else NULL'],
        ['practice_areas', NULL, 'Practice areas, archived ones included'],
        ['practice_areas', 'status', 'ACTIVE, or ARCHIVED once deleted'],
        ['practice_area_stages', NULL, 'Stages (board columns) of each practice area: the stage of a matter'],
        ['practice_area_stages', 'practice_area_id', 'The practice area the stage belongs to'],
        ['practice_area_stages', 'type', 'TODO, IN_PROGRESS or DONE'],
        ['practice_area_stages', 'sort_order', 'Position of the stage on the board, from 0 (API: order)'],
        ['matter_types', NULL, 'Matter types of each practice area, archived ones included'],
        ['matter_types', 'practice_area_id', 'The practice area the type belongs to'],
        ['matter_types', 'status', 'ACTIVE, or ARCHIVED once deleted'],
        ['matters', NULL, 'Matters (cases), archived ones included'],
        ['matters', 'public_id', 'Per-firm number shown to people: M-0001, M-0002, ...'],
        ['matters', 'title', 'Title ("Untitled matter" by default)'],
        ['matters', 'description', 'Free text'],
        ['matters', 'status', 'ACTIVE, DRAFT or ARCHIVE (deleted matters are ARCHIVE)'],
        ['matters', 'open_date', 'Date opened'],
        ['matters', 'close_date', 'Date closed, or NULL'],
        ['matters', 'sol_date', 'Statute-of-limitations date, or NULL'],
        ['matters', 'practice_area_id', 'The practice area (practice_areas.id)'],
        ['matters', 'stage_id', 'The stage within the practice area (practice_area_stages.id; API: practiceAreaStageColumnId)'],
        ['matters', 'matter_type_id', 'The matter type (matter_types.id), or NULL'],
        ['matter_clients', NULL, 'Clients of each matter, in order'],
        ['matter_clients', 'matter_id', 'The matter (matters.id)'],
        ['matter_clients', 'contact_id', 'The client (contacts.id)'],
        ['matter_clients', 'position', 'Order of the clients, from 0'],
        ['matter_clients', 'is_primary', 'The primary client (position 0)'],
        ['matter_clients', 'is_bill_recipient', 'Receives the bills (the primary client)'],
        ['matter_team', NULL, 'Members working on each matter'],
        ['matter_team', 'matter_id', 'The matter (matters.id)'],
        ['matter_team', 'member_id', 'The member (members.id)'],
        ['matter_team', 'position', 'Order of the team, from 0'],
        ['matter_team', 'role', 'Role on the matter, free text'],
        ['matter_team', 'allocation', 'Share of the work in percent (0-100), or NULL'],
        ['lead_stages', NULL, 'The firm''s lead pipeline stages'],
        ['lead_stages', 'sort_order', 'Position in the pipeline, from 0'],
        ['leads', NULL, 'Leads (prospective clients), deleted ones included; private leads only for readers granted them'],
        ['leads', 'public_id', 'Per-firm number shown to people: L-0001, L-0002, ...'],
        ['leads', 'status', 'PENDING, WON or LOST'],
        ['leads', 'value', 'LOWEST, LOW, MEDIUM, HIGH, HIGHEST or NULL'],
        ['leads', 'value_rank', 'value as a number to sort by: 1 (LOWEST) to 5 (HIGHEST), NULL without a value'],
        ['leads', 'is_private', 'Visible in the API only to its assignees and the firm''s owners'],
        ['leads', 'contact_id', 'The prospect (contacts.id)'],
        ['leads', 'practice_area_id', 'The practice area (practice_areas.id), or NULL'],
        ['leads', 'stage_id', 'The pipeline stage (lead_stages.id; API: leadStageColumnId)'],
        ['lead_assignees', NULL, 'Members assigned to each lead (of the leads the reader sees)'],
        ['lead_assignees', 'lead_id', 'The lead (leads.id)'],
        ['lead_assignees', 'member_id', 'The member (members.id)'],
        ['lead_assignees', 'position', 'Order of the assignees, from 0'],
        ['audit_log', NULL, 'Every write to the firm''s data, append-only; rows of private leads and their prospects only for readers granted them'],
        ['audit_log', 'id', 'Position in the log (ascending within a firm)'],
        ['audit_log', 'at', 'When the write happened'],
        ['audit_log', 'member_id', 'The member whose API key made the write, or NULL'],
        ['audit_log', 'key_id', 'The API key that made the write, or NULL'],
        ['audit_log', 'db_role', 'The database role that made the write'],
        ['audit_log', 'action', 'INSERT, UPDATE or DELETE (a soft delete is a DELETE with new_values)'],
        ['audit_log', 'table_name', 'The table written: contacts, matters, leads, ... (names of schema esqase)'],
        ['audit_log', 'record_id', 'The id of the row written'],
        ['audit_log', 'old_values', 'The row before the write (table columns), or NULL for an INSERT'],
        ['audit_log', 'new_values', 'The row after the write, or NULL for a removed link row']] LOOP
        IF c[2] IS NULL THEN
            EXECUTE format('COMMENT ON VIEW esqase_report.%I IS %L', c[1], c[3]);
        ELSE
            EXECUTE format('COMMENT ON COLUMN esqase_report.%I.%I IS %L', c[1], c[2], c[3]);
        END IF;
    END LOOP;
    -- Columns every view has that mean the same everywhere.
    FOREACH c SLICE 1 IN ARRAY ARRAY[
        ['firm_id', 'The firm (firms.id)'],
        ['id', 'The record''s id (the API''s id)'],
        ['name', 'Name'],
        ['created_at', 'When the record was created'],
        ['updated_at', 'When the record last changed'],
        ['deleted_at', 'When the record was deleted (the API no longer shows it); NULL while live']] LOOP
        FOR v IN
            SELECT a.attrelid::regclass::text
              FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class v ON v.oid = a.attrelid
             WHERE v.relnamespace = 'esqase_report'::regnamespace AND a.attname = c[1]
               AND pg_catalog.col_description(a.attrelid, a.attnum) IS NULL
        LOOP
            EXECUTE format('COMMENT ON COLUMN %s.%I IS %L', v, c[1], c[2]);
        END LOOP;
    END LOOP;
END
$$;

-- Records the reader and grants it USAGE on the schema and SELECT on every
-- view of it, and nothing in schema esqase; granting again changes the
-- private-leads option.  Not SECURITY DEFINER: the two esqase_grant_reader
-- functions below are, and call it.
CREATE OR REPLACE FUNCTION esqase.report_grant(role regrole, firm uuid, private_leads boolean)
RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v regclass;
BEGIN
    IF role IS NULL THEN
        PERFORM esqase.fail('22023', 'role is required', 'role');
    END IF;
    IF firm IS NOT NULL AND NOT EXISTS (SELECT FROM esqase.firms f WHERE f.id = firm) THEN
        PERFORM esqase.fail('23503', format('firm %s does not exist', firm), 'firm');
    END IF;
    INSERT INTO esqase.report_readers AS r (role_name, firm_id, private_leads)
    VALUES ((SELECT ro.rolname FROM pg_catalog.pg_roles ro WHERE ro.oid = role), firm,
            coalesce(private_leads, false))
    ON CONFLICT (role_name, firm_id) DO UPDATE SET private_leads = excluded.private_leads,
                                                   granted_at = now();
    EXECUTE format('GRANT USAGE ON SCHEMA esqase_report TO %s', role);
    FOR v IN SELECT c.oid FROM pg_catalog.pg_class c
              WHERE c.relnamespace = 'esqase_report'::regnamespace AND c.relkind = 'v' LOOP
        EXECUTE format('GRANT SELECT ON %s TO %s', v, role);
    END LOOP;
END
$$;

-- A role reads one firm's rows.  A reader is not a member: by default it
-- sees what a member not assigned to the firm's private leads sees; with
-- private_leads, those leads and their prospects too.
CREATE OR REPLACE FUNCTION esqase_grant_reader(role regrole, firm uuid, private_leads boolean DEFAULT false)
RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET jit = off
RETURN esqase.report_grant(role, firm, private_leads);

-- A role reads every firm, private leads included: the DBA's own reading
-- role (docs/decisions.md, "Reporting").
CREATE OR REPLACE FUNCTION esqase_grant_reader(role regrole) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET jit = off
RETURN esqase.report_grant(role, NULL, true);

-- Takes every firm and every grant of esqase_report from the role.
CREATE OR REPLACE FUNCTION esqase_revoke_reader(role regrole) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET jit = off AS $$
DECLARE
    v regclass;
BEGIN
    DELETE FROM esqase.report_readers r
     WHERE r.role_name = (SELECT ro.rolname FROM pg_catalog.pg_roles ro WHERE ro.oid = role);
    FOR v IN SELECT c.oid FROM pg_catalog.pg_class c
              WHERE c.relnamespace = 'esqase_report'::regnamespace AND c.relkind = 'v' LOOP
        EXECUTE format('REVOKE ALL ON %s FROM %s', v, role);
    END LOOP;
    EXECUTE format('REVOKE ALL ON SCHEMA esqase_report FROM %s', role);
END
$$;

REVOKE EXECUTE ON FUNCTION esqase.report_grant(regrole, uuid, boolean) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION esqase_grant_reader(regrole, uuid, boolean) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION esqase_grant_reader(regrole) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION esqase_revoke_reader(regrole) FROM PUBLIC;
