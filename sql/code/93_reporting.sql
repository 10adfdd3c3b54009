
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

-- Comments: one line per view and column, kept in one list (report_views
-- in sql/registry.pl) so that a column without a comment stands out
-- (test/sql/90_reporting.sql checks that none is missing).
-- @generate report_comments

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
