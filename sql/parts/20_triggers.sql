
-------------------------------------------------------------------------------
-- 20 Triggers: derived fields, default stages, and the audit log.
-- Attached to the tables in 90_security.sql, which lists every data table.
-------------------------------------------------------------------------------

-- Whether this statement is a restore loading a table's rows: pg_dump and
-- pg_restore load the extension's tables with COPY under row_security = off
-- (a COPY into these tables under row_security = off fails for every role
-- that does not bypass row-level security, the API role included).  Those
-- rows were seeded and audited when first written, and the seeded rows and
-- the audit rows come with the dump: seeding and auditing them again would
-- duplicate them (and the restore fails on their unique keys).
CREATE FUNCTION esqase.restoring() RETURNS boolean
LANGUAGE sql STABLE
RETURN pg_catalog.current_setting('row_security') = 'off'
   AND esqase.context_firm() IS NULL
   AND pg_catalog.current_query() ~* '^\s*COPY\s';

CREATE FUNCTION esqase.touch_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END
$$;

-- Every write to a data table, through the API or by hand, appends one row.
-- SECURITY DEFINER so that no API role needs (or has) INSERT on the log.
-- The acting role: the one that authenticated, else the SET ROLE role, else
-- the session user (a definer function cannot see its caller's current_user).
CREATE FUNCTION esqase.audit() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    new_values jsonb;
    old_values jsonb;
BEGIN
    IF esqase.restoring() THEN
        RETURN NULL;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        new_values := to_jsonb(NEW) - 'secret_hash' - 'search';
    END IF;
    IF TG_OP <> 'INSERT' THEN
        old_values := to_jsonb(OLD) - 'secret_hash' - 'search';
    END IF;
    INSERT INTO esqase.audit_log (firm_id, member_id, key_id, db_role, action,
                                  table_name, record_id, old_values, new_values)
    VALUES (coalesce(new_values ->> 'firm_id', old_values ->> 'firm_id')::uuid,
            esqase.context_member(), esqase.context_key(),
            coalesce(esqase.context_role(),
                     nullif(current_setting('role'), 'none'),
                     session_user),
            TG_OP, TG_TABLE_NAME,
            coalesce(new_values ->> 'id', old_values ->> 'id',
                     new_values ->> 'firm_id', old_values ->> 'firm_id')::uuid,
            old_values, new_values);
    RETURN NULL;
END
$$;

CREATE FUNCTION esqase.audit_log_is_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'esqase.audit_log is append-only: % is not allowed', TG_OP
        USING ERRCODE = '42501';
END
$$;

-- A new practice area starts with To do, In progress and Done.
CREATE FUNCTION esqase.seed_practice_area_stages() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF esqase.restoring() THEN
        RETURN NULL;
    END IF;
    INSERT INTO esqase.practice_area_stages (firm_id, practice_area_id, name, type, "order")
    VALUES (NEW.firm_id, NEW.id, 'To do', 'TODO', 0),
           (NEW.firm_id, NEW.id, 'In progress', 'IN_PROGRESS', 1),
           (NEW.firm_id, NEW.id, 'Done', 'DONE', 2);
    RETURN NULL;
END
$$;

-- A new firm gets its lead pipeline and its public-id counters.
CREATE FUNCTION esqase.seed_firm() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF esqase.restoring() THEN
        RETURN NULL;
    END IF;
    INSERT INTO esqase.lead_stages (firm_id, name, "order")
    VALUES (NEW.firm_id, 'New', 0),
           (NEW.firm_id, 'Contacted', 1),
           (NEW.firm_id, 'Consultation scheduled', 2),
           (NEW.firm_id, 'Proposal sent', 3);
    INSERT INTO esqase.public_id_counters (firm_id, kind)
    VALUES (NEW.firm_id, 'M'), (NEW.firm_id, 'L');
    RETURN NULL;
END
$$;

-- A contact's display name and search document follow its fields.
CREATE FUNCTION esqase.contact_derive() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.name := CASE NEW.type
                    WHEN 'PERSON' THEN concat_ws(' ', NEW.first_name, NEW.middle_name, NEW.last_name)
                    ELSE NEW.company_name
                END;
    NEW.search := to_tsvector('simple'::regconfig,
                              concat_ws(' ', NEW.name, NEW.nickname, NEW.trade_name,
                                        array_to_string(NEW.emails, ' '),
                                        array_to_string(NEW.phones, ' ')));
    RETURN NEW;
END
$$;

CREATE FUNCTION esqase.matter_derive() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.search := to_tsvector('simple'::regconfig,
                              concat_ws(' ', NEW.public_id, NEW.title, NEW.description));
    RETURN NEW;
END
$$;

CREATE TRIGGER practice_areas_seed_stages AFTER INSERT ON esqase.practice_areas
    FOR EACH ROW EXECUTE FUNCTION esqase.seed_practice_area_stages();
CREATE TRIGGER firms_seed AFTER INSERT ON esqase.firms
    FOR EACH ROW EXECUTE FUNCTION esqase.seed_firm();
CREATE TRIGGER contacts_derive BEFORE INSERT OR UPDATE ON esqase.contacts
    FOR EACH ROW EXECUTE FUNCTION esqase.contact_derive();
CREATE TRIGGER matters_derive BEFORE INSERT OR UPDATE ON esqase.matters
    FOR EACH ROW EXECUTE FUNCTION esqase.matter_derive();
CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON esqase.audit_log
    FOR EACH ROW EXECUTE FUNCTION esqase.audit_log_is_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON esqase.audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION esqase.audit_log_is_append_only();
-- ALWAYS: session_replication_role = replica skips ordinary triggers, and
-- must not open the log to UPDATE, DELETE or TRUNCATE.
ALTER TABLE esqase.audit_log ENABLE ALWAYS TRIGGER audit_log_no_update;
ALTER TABLE esqase.audit_log ENABLE ALWAYS TRIGGER audit_log_no_truncate;
