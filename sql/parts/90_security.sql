
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

DO $$
DECLARE
    t text;
    -- Tables written through the API (the others are read, or written only
    -- by SECURITY DEFINER administration functions).
    api_writes text[] := ARRAY['contacts', 'practice_areas', 'practice_area_stages',
                               'matter_types', 'matters', 'matter_clients', 'matter_team',
                               'leads', 'lead_assignees', 'public_id_counters'];
BEGIN
    FOREACH t IN ARRAY ARRAY['firms', 'members', 'api_keys', 'contacts', 'practice_areas',
                             'practice_area_stages', 'matter_types', 'public_id_counters',
                             'matters', 'matter_clients', 'matter_team', 'lead_stages',
                             'leads', 'lead_assignees', 'audit_log', 'record_counts'] LOOP
        EXECUTE format('ALTER TABLE esqase.%I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE esqase.%I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY firm_isolation ON esqase.%I USING (firm_id = esqase.context_firm())', t);
        PERFORM pg_catalog.pg_extension_config_dump(format('esqase.%I', t), '');
        CONTINUE WHEN t = 'audit_log';

        -- Counters are bookkeeping: their values follow from the records
        -- the audit log already records, so they are not audited themselves.
        IF t NOT IN ('public_id_counters', 'record_counts') THEN
            -- last_used_at alone is bookkeeping too: it is not an audited change.
            EXECUTE format('CREATE TRIGGER %I BEFORE UPDATE %s ON esqase.%I FOR EACH ROW EXECUTE FUNCTION esqase.touch_updated_at()',
                           t || '_updated_at',
                           CASE WHEN t = 'api_keys' THEN 'OF name, scopes, revoked_at, expires_at, member_id' ELSE '' END, t);
            EXECUTE format('CREATE TRIGGER %I AFTER INSERT OR DELETE OR UPDATE %s ON esqase.%I FOR EACH ROW EXECUTE FUNCTION esqase.audit()',
                           t || '_audit',
                           CASE WHEN t = 'api_keys' THEN 'OF name, scopes, revoked_at, expires_at, member_id' ELSE '' END, t);
        END IF;
        IF t <> 'api_keys' THEN
            EXECUTE format('GRANT SELECT ON esqase.%I TO esqase_api', t);
        END IF;
        IF t = ANY (api_writes) THEN
            EXECUTE format('GRANT INSERT, UPDATE ON esqase.%I TO esqase_api', t);
        END IF;
    END LOOP;
END
$$;

-- The audit log grows through the audit trigger's INSERT only.
SELECT pg_catalog.pg_extension_config_dump('esqase.audit_log_id_seq', '');

-- Administration is for DBAs; they grant it on.
REVOKE EXECUTE ON FUNCTION esqase_create_firm(text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION esqase_create_member(uuid, text, text, boolean, text[]) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION esqase_create_api_key(uuid, text[], text, timestamptz) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION esqase_revoke_api_key(text) FROM PUBLIC;

-- Matters and leads replace their client, team and assignee lists on update
-- (the way a contact's emails are replaced): the rows that go are deleted,
-- and the audit trigger records each delete.  The API role may delete from
-- these three link tables only; every other table keeps soft deletes.
GRANT DELETE ON esqase.matter_clients, esqase.matter_team, esqase.lead_assignees TO esqase_api;

-- Private leads are visible only to their assignees and the firm's owners
-- (34_leads.sql; the expression below runs its sub-select once per query,
-- so a scan of many leads does not look up assignees row by row).  The
-- policy is split by command:
--  * SELECT, UPDATE and DELETE see only visible leads;
--  * INSERT and the new row of an UPDATE need only the firm, since a new
--    private lead has no assignee rows yet when it is inserted (the lead row
--    comes first: assignees reference it).  esqase_leads_create and
--    esqase_leads_update refuse to make a lead invisible to the member
--    acting, so the new row of an UPDATE (which PostgreSQL also checks
--    against the SELECT policy) stays visible.
-- deleted_at is not in the policy (a soft delete's new row must pass it);
-- the functions filter deleted leads.  The lead_assignees policy stays the
-- plain firm check: it must not query leads, or the two would recurse.
DROP POLICY firm_isolation ON esqase.leads;
DO $$
DECLARE
    visible text := 'firm_id = esqase.context_firm() AND (NOT is_private OR esqase.context_is_owner() '
                    'OR id IN (SELECT esqase.assigned_leads()))';
BEGIN
    EXECUTE format('CREATE POLICY leads_select ON esqase.leads FOR SELECT USING (%s)', visible);
    EXECUTE 'CREATE POLICY leads_insert ON esqase.leads FOR INSERT WITH CHECK (firm_id = esqase.context_firm())';
    EXECUTE format('CREATE POLICY leads_update ON esqase.leads FOR UPDATE USING (%s) '
                   'WITH CHECK (firm_id = esqase.context_firm())', visible);
    EXECUTE format('CREATE POLICY leads_delete ON esqase.leads FOR DELETE USING (%s)', visible);
END
$$;
