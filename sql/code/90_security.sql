
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
        PERFORM pg_catalog.pg_extension_config_dump(format('esqase.%I', t), '');
        CONTINUE WHEN t = 'audit_log';

        -- Counters are bookkeeping: their values follow from the records
        -- the audit log already records, so they are not audited themselves.
        IF t NOT IN ('public_id_counters', 'record_counts') THEN
            -- last_used_at alone is bookkeeping too: it is not an audited change.
            EXECUTE format('CREATE OR REPLACE TRIGGER %I BEFORE UPDATE %s ON esqase.%I FOR EACH ROW EXECUTE FUNCTION esqase.touch_updated_at()',
                           t || '_updated_at',
                           CASE WHEN t = 'api_keys' THEN 'OF name, scopes, revoked_at, expires_at, member_id, rotated_at' ELSE '' END, t);
            -- INSERTs are audited per statement (esqase.audit_insert), updates
            -- and deletes per row.
            EXECUTE format('CREATE OR REPLACE TRIGGER %I AFTER DELETE OR UPDATE %s ON esqase.%I FOR EACH ROW EXECUTE FUNCTION esqase.audit()',
                           t || '_audit',
                           CASE WHEN t = 'api_keys' THEN 'OF name, scopes, revoked_at, expires_at, member_id, rotated_at' ELSE '' END, t);
            EXECUTE format('CREATE OR REPLACE TRIGGER %I AFTER INSERT ON esqase.%I REFERENCING NEW TABLE AS new_rows '
                           'FOR EACH STATEMENT EXECUTE FUNCTION esqase.audit_insert()',
                           t || '_audit_insert', t);
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
REVOKE EXECUTE ON FUNCTION esqase_set_api_key_scopes(text, text[]) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION esqase_add_api_key_scopes(text, text[]) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION esqase_remove_api_key_scopes(text, text[]) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION esqase_set_api_key_expiry(text, timestamptz) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION esqase_rotate_api_key(text, interval) FROM PUBLIC;
REVOKE ALL ON esqase.api_key_list FROM PUBLIC;

-- Matters and leads replace their client, team and assignee lists on update
-- (the way a contact's emails are replaced): the rows that go are deleted,
-- and the audit trigger records each delete.  The API role may delete from
-- these three link tables only; every other table keeps soft deletes.
GRANT DELETE ON esqase.matter_clients, esqase.matter_team, esqase.lead_assignees TO esqase_api;

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
--    permission).  A table is readable with the scopes whose API responses
--    show its rows: a practice area's name shows in matters and leads, a
--    contact's in the matters it is a client of and in its lead.  Writes need
--    the write scope of the resource the table belongs to (stages follow
--    practice areas, counters and link tables their owning resource).
--  * private leads, and the prospects they created (contacts.hidden_by_lead),
--    are visible to the firm's owners and the lead's assignees only
--    (esqase.context_assigned, asked only of a private lead or a hidden
--    prospect, and only for a member who is no owner).
--  * lead_assignees rows are visible and writable only where their lead is
--    (a per-row probe of the lead by primary key), or while the lead is new
--    in this very transaction (its first assignees).
--  * the per-row probes of another table (is the contact a client, a
--    prospect; is the lead shown) are calls of the small functions below,
--    not EXISTS sub-selects: a sub-select in a policy is a SubPlan that
--    every query on the table sets up, whether a row ever needs it or not
--    (the common case is a key whose own scope decides first).  As
--    sub-selects, they made a GET of a contact as the API role 0.64 of the
--    superuser's rate; as calls, 0.91 (issue 16).
-- deleted_at is not in the policies (a soft delete's new row must pass
-- them); the functions filter deleted rows.  The functions also check all
-- of this themselves, with the API's error messages: the policies are the
-- backstop.  api_keys and audit_log have no policy: the API role has no
-- privilege on them, and with row-level security forced, no policy means
-- no row for anyone but a superuser.
-- Whether the contact is a client of a matter, a lead's prospect (the
-- contacts policy), whether the lead is shown (the lead_assignees policy):
-- read under the caller's policies, as the sub-selects they replace.
-- PL/pgSQL: the plan is kept between calls.
CREATE OR REPLACE FUNCTION esqase.contact_is_client(firm uuid, contact uuid) RETURNS boolean
LANGUAGE plpgsql STABLE AS $f$
BEGIN
    RETURN EXISTS (SELECT FROM esqase.matter_clients mc WHERE mc.firm_id = firm AND mc.contact_id = contact);
END
$f$;
CREATE OR REPLACE FUNCTION esqase.contact_is_prospect(firm uuid, contact uuid) RETURNS boolean
LANGUAGE plpgsql STABLE AS $f$
BEGIN
    RETURN EXISTS (SELECT FROM esqase.leads l WHERE l.firm_id = firm AND l.contact_id = contact);
END
$f$;
-- Whether the context's member is assigned to the lead.  SECURITY DEFINER
-- for the reason esqase.assigned_leads is (the lead_assignees policy asks
-- the leads policy, which asks this).
CREATE OR REPLACE FUNCTION esqase.context_assigned(lead uuid) RETURNS boolean
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $f$
BEGIN
    RETURN EXISTS (SELECT FROM esqase.lead_assignees a
                    WHERE a.firm_id = esqase.context_firm() AND a.member_id = esqase.context_member()
                      AND a.lead_id = lead);
END
$f$;
CREATE OR REPLACE FUNCTION esqase.lead_shown(firm uuid, lead uuid) RETURNS boolean
LANGUAGE plpgsql STABLE AS $f$
BEGIN
    RETURN EXISTS (SELECT FROM esqase.leads l WHERE l.firm_id = firm AND l.id = lead);
END
$f$;

DO $$
DECLARE
    r text[];
    contact_visible text := '(hidden_by_lead IS NULL OR esqase.context_is_owner() '
                            'OR esqase.context_assigned(hidden_by_lead))';
    lead_visible text := '(NOT is_private OR esqase.context_is_owner() OR esqase.context_assigned(id))';
    assignee_visible text := '(esqase.context_is_owner() OR esqase.lead_shown(firm_id, lead_id) '
                             'OR esqase.lead_new_here(firm_id, lead_id))';
    contacts_read text := '(esqase.context_may(''contacts:read'') OR esqase.context_may(''contacts:write''))';
    matters_read text := '(esqase.context_may(''matters:read'') OR esqase.context_may(''matters:write''))';
    leads_read text := '(esqase.context_may(''leads:read'') OR esqase.context_may(''leads:write''))';
    areas_read text := '(esqase.context_may(''practice-areas:read'') OR esqase.context_may(''practice-areas:write''))';
    types_read text := '(esqase.context_may(''matter-types:read'') OR esqase.context_may(''matter-types:write''))';
BEGIN
    -- table, SELECT, write scope (NULL: not written through the API), the
    -- row rule updates and deletes also need, extra check on new rows
    FOREACH r SLICE 1 IN ARRAY ARRAY[
        ['firms', 'true', NULL, NULL, NULL],
        ['members', matters_read || ' OR ' || leads_read || ' OR esqase.context_may(''members:read'')', NULL, NULL, NULL],
        ['contacts', contact_visible || ' AND (' || contacts_read
                     || ' OR (' || matters_read || ' AND esqase.contact_is_client(firm_id, id))'
                     || ' OR (' || leads_read || ' AND esqase.contact_is_prospect(firm_id, id)))',
                     -- a lead's prospect is created with leads:write
                     'contacts:write', contact_visible, 'esqase.context_may(''contacts:write'') OR esqase.context_may(''leads:write'')'],
        ['practice_areas', areas_read || ' OR ' || types_read || ' OR ' || matters_read || ' OR ' || leads_read,
                           'practice-areas:write', NULL, NULL],
        ['practice_area_stages', areas_read || ' OR ' || matters_read, 'practice-areas:write', NULL, NULL],
        ['matter_types', types_read || ' OR ' || areas_read || ' OR ' || matters_read, 'matter-types:write', NULL, NULL],
        ['public_id_counters', NULL, NULL, NULL, NULL],
        ['matters', matters_read, 'matters:write', NULL, NULL],
        ['matter_clients', matters_read, 'matters:write', NULL,
                           'esqase.context_may(''matters:write'') AND esqase.contact_usable(firm_id, contact_id, false)'],
        ['matter_team', matters_read, 'matters:write', NULL, NULL],
        ['lead_stages', leads_read, NULL, NULL, NULL],
        ['leads', leads_read || ' AND ' || lead_visible, 'leads:write', lead_visible, NULL],
        ['lead_assignees', leads_read || ' AND ' || assignee_visible, 'leads:write', assignee_visible,
                           'esqase.context_may(''leads:write'') AND ' || assignee_visible],
        ['record_counts', 'esqase.context_may(CASE list WHEN ''matters'' THEN ''matters:read'' '
                          'WHEN ''practice_areas'' THEN ''practice-areas:read'' '
                          'WHEN ''leads_public'' THEN ''leads:read'' WHEN ''leads_private'' THEN ''leads:read'' '
                          'ELSE ''contacts:read'' END)', NULL, NULL, NULL]] LOOP
        IF r[1] = 'public_id_counters' THEN
            -- the M counter follows matters, the L counter leads
            r[2] := '(kind = ''M'' AND esqase.context_may(''matters:write'')) '
                    'OR (kind = ''L'' AND esqase.context_may(''leads:write''))';
            r[3] := '';
        END IF;
        -- (the firm's own row is keyed id: firms has no firm_id)
        EXECUTE format('CREATE POLICY %I ON esqase.%I FOR SELECT USING (%I = esqase.context_firm() AND (%s))',
                       r[1] || '_select', r[1], CASE r[1] WHEN 'firms' THEN 'id' ELSE 'firm_id' END, r[2]);
        CONTINUE WHEN r[3] IS NULL;
        IF r[3] = '' THEN
            r[3] := r[2];       -- the counter rule is its own write scope
        ELSE
            r[3] := format('esqase.context_may(%L)', r[3]);
        END IF;
        EXECUTE format('CREATE POLICY %I ON esqase.%I FOR INSERT WITH CHECK (firm_id = esqase.context_firm() AND (%s))',
                       r[1] || '_insert', r[1], coalesce(r[5], r[3]));
        EXECUTE format('CREATE POLICY %I ON esqase.%I FOR UPDATE USING (firm_id = esqase.context_firm() AND (%s)%s) '
                       'WITH CHECK (firm_id = esqase.context_firm() AND (%s))',
                       r[1] || '_update', r[1], r[3], ' AND ' || r[4], coalesce(r[5], r[3]));
        EXECUTE format('CREATE POLICY %I ON esqase.%I FOR DELETE USING (firm_id = esqase.context_firm() AND (%s)%s)',
                       r[1] || '_delete', r[1], r[3], ' AND ' || r[4]);
    END LOOP;
END
$$;

-- Idempotency keys (15_idempotency.sql): bookkeeping of the creates, not
-- audited (a replay writes no audit row; the record a create makes is
-- audited as always).  A key sees and writes only its own rows, for the
-- resources it may create; nobody deletes through the API (the sweep runs
-- as the HTTP worker's superuser).
ALTER TABLE esqase.idempotency_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE esqase.idempotency_keys FORCE ROW LEVEL SECURITY;
SELECT pg_catalog.pg_extension_config_dump('esqase.idempotency_keys', '');
GRANT SELECT, INSERT, UPDATE ON esqase.idempotency_keys TO esqase_api;
CREATE POLICY idempotency_keys_select ON esqase.idempotency_keys FOR SELECT
    USING (firm_id = esqase.context_firm() AND key_id = esqase.context_key()
           AND esqase.context_may(resource || ':write'));
CREATE POLICY idempotency_keys_insert ON esqase.idempotency_keys FOR INSERT
    WITH CHECK (firm_id = esqase.context_firm() AND key_id = esqase.context_key()
                AND esqase.context_may(resource || ':write'));
CREATE POLICY idempotency_keys_update ON esqase.idempotency_keys FOR UPDATE
    USING (firm_id = esqase.context_firm() AND key_id = esqase.context_key()
           AND esqase.context_may(resource || ':write'))
    WITH CHECK (firm_id = esqase.context_firm() AND key_id = esqase.context_key()
                AND esqase.context_may(resource || ':write'));
