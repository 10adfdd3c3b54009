
-------------------------------------------------------------------------------
-- 20 Triggers: derived fields, default stages, and the audit log.
-- Attached to the tables in 90_security.sql, which lists every data table.
-------------------------------------------------------------------------------

-- Whether this trigger fires for a restore loading tbl's rows: pg_dump and
-- pg_restore (and psql -f of a plain dump) load the extension's tables with
-- COPY ... FROM under row_security = off (which fails for every role that
-- does not bypass row-level security, the API role included).  Those rows
-- were seeded, counted and audited when first written, and the seeded rows,
-- the counts and the audit rows come with the dump: doing it again would
-- duplicate them (and the restore fails on their unique keys).  The test is
-- on the statement being run, in C (src/restore.c), never on the query's
-- text: only a top-level COPY tbl FROM, with no API context, qualifies.
CREATE OR REPLACE FUNCTION esqase.restoring(tbl regclass) RETURNS boolean
    AS 'MODULE_PATHNAME', 'esqase_restoring' LANGUAGE C STABLE STRICT;

-- updated_at is a row's version (the ETag of its API record, and the
-- expected_updated_at of an update or delete): it moves forward on every
-- update, by at least a microsecond, even twice in one transaction (now()
-- stays the same there) or under a clock set back.  The API functions skip
-- updates that would change nothing, so those keep their version.
CREATE OR REPLACE FUNCTION esqase.touch_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := greatest(now(), OLD.updated_at + interval '1 microsecond');
    RETURN NEW;
END
$$;

-- Every write to a data table, through the API or by hand, appends one row.
-- SECURITY DEFINER so that no API role needs (or has) INSERT on the log.
-- The acting role: the one that authenticated, else the SET ROLE role, else
-- the session user (a definer function cannot see its caller's current_user).
-- A soft delete (an UPDATE that sets deleted_at) is logged as DELETE, the
-- API's word for it; its new_values show the row as it stays.  A hard
-- DELETE (link rows only) has no new_values.  A firm's own row (firms,
-- keyed id) is logged under its id as firm and record.
CREATE OR REPLACE FUNCTION esqase.audit() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    new_values jsonb;
    old_values jsonb;
    action text := TG_OP;
BEGIN
    IF esqase.restoring(TG_RELID) THEN
        RETURN NULL;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        new_values := to_jsonb(NEW) - 'secret_hash' - 'previous_secret_hash' - 'search';
    END IF;
    IF TG_OP <> 'INSERT' THEN
        old_values := to_jsonb(OLD) - 'secret_hash' - 'previous_secret_hash' - 'search';
    END IF;
    IF TG_OP = 'UPDATE' AND old_values ->> 'deleted_at' IS NULL
       AND new_values ->> 'deleted_at' IS NOT NULL THEN
        action := 'DELETE';
    END IF;
    INSERT INTO esqase.audit_log (firm_id, member_id, key_id, db_role, action,
                                  table_name, record_id, old_values, new_values,
                                  request_id)
    VALUES (coalesce(new_values ->> 'firm_id', old_values ->> 'firm_id',
                     new_values ->> 'id', old_values ->> 'id')::uuid,
            esqase.context_member(), esqase.context_key(),
            coalesce(esqase.context_role(),
                     nullif(current_setting('role'), 'none'),
                     session_user),
            action, TG_TABLE_NAME,
            coalesce(new_values ->> 'id', old_values ->> 'id')::uuid,
            old_values, new_values, esqase.context_request_id());
    RETURN NULL;
END
$$;

-- The audit rows of an INSERT, one per new row, written by one statement
-- for the whole INSERT (a statement trigger over its new rows): the same
-- rows as esqase.audit() writes for a row, at a third of the cost per row
-- of a bulk insert (measured in issue 16).  UPDATE and DELETE stay row
-- triggers (esqase.audit(): a soft delete is logged as DELETE).  The rows
-- are written when the INSERT ends, after the row triggers it fired (a new
-- practice area's audit row comes after those of its seeded stages).
CREATE OR REPLACE FUNCTION esqase.audit_insert() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    -- the same for every row: asked once per statement
    member uuid := esqase.context_member();
    key uuid := esqase.context_key();
    actor text := coalesce(esqase.context_role(), nullif(current_setting('role'), 'none'), session_user);
    request text := esqase.context_request_id();
BEGIN
    IF esqase.restoring(TG_RELID) THEN
        RETURN NULL;
    END IF;
    INSERT INTO esqase.audit_log (firm_id, member_id, key_id, db_role, action,
                                  table_name, record_id, old_values, new_values,
                                  request_id)
    SELECT coalesce(v ->> 'firm_id', v ->> 'id')::uuid, member, key, actor,
           'INSERT', TG_TABLE_NAME, (v ->> 'id')::uuid, NULL, v, request
      -- OFFSET 0: a sub-select pulled up would put its expression in each
      -- place v is named, and compute each row's jsonb four times
      FROM (SELECT to_jsonb(r) - '{secret_hash,search}'::text[] AS v FROM new_rows r OFFSET 0) x;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION esqase.audit_log_is_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'esqase.audit_log is append-only: % is not allowed', TG_OP
        USING ERRCODE = '42501';
END
$$;

-- A new practice area starts with To do, In progress and Done.  A statement
-- trigger over the new rows: an INSERT of many practice areas (a bulk
-- create, an import) seeds their stages in one statement; the area's audit
-- row (practice_areas_audit_insert) comes before its stages' (triggers of
-- one event fire in name order).  SECURITY DEFINER: no API call changes
-- stages, so the API role may not write them.
CREATE OR REPLACE FUNCTION esqase.seed_practice_area_stages() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF esqase.restoring(TG_RELID) THEN
        RETURN NULL;
    END IF;
    INSERT INTO esqase.practice_area_stages (firm_id, practice_area_id, name, type, "order")
    SELECT a.firm_id, a.id, s.name, s.type, s.n
      FROM new_rows a
     CROSS JOIN (VALUES ('To do', 'TODO', 0), ('In progress', 'IN_PROGRESS', 1), ('Done', 'DONE', 2)) s (name, type, n);
    RETURN NULL;
END
$$;

-- A new firm gets its lead pipeline and its public-id counters.
CREATE OR REPLACE FUNCTION esqase.seed_firm() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF esqase.restoring(TG_RELID) THEN
        RETURN NULL;
    END IF;
    INSERT INTO esqase.lead_stages (firm_id, name, "order")
    VALUES (NEW.id, 'New', 0),
           (NEW.id, 'Contacted', 1),
           (NEW.id, 'Consultation scheduled', 2),
           (NEW.id, 'Proposal sent', 3);
    INSERT INTO esqase.public_id_counters (firm_id, kind)
    VALUES (NEW.id, 'M'), (NEW.id, 'L');
    RETURN NULL;
END
$$;

-- A transaction's changes of the counts are tallied in backend memory and
-- written once, at commit (src/counters.c): a counter row updated once per
-- statement would make a transaction of n writes cost O(n^2), as each
-- update walks the versions the same transaction wrote before.
--   count_defer   adds to the tally (the count triggers; not for PUBLIC)
--   count_pending the tally of a firm's list, added by record_total
--   count_cancel  cancels the tally of lists (TRUNCATE; not for PUBLIC)
-- At pre-commit the tally is written with count_add, below, as the
-- extension's owner, one call per firm and list.
CREATE OR REPLACE FUNCTION esqase.count_defer(firm uuid, list text, delta bigint) RETURNS void
    AS 'MODULE_PATHNAME', 'esqase_count_defer' LANGUAGE C VOLATILE;
CREATE OR REPLACE FUNCTION esqase.count_pending(firm uuid, list text) RETURNS bigint
    AS 'MODULE_PATHNAME', 'esqase_count_pending' LANGUAGE C VOLATILE;
CREATE OR REPLACE FUNCTION esqase.count_cancel(lists text[]) RETURNS void
    AS 'MODULE_PATHNAME', 'esqase_count_cancel' LANGUAGE C VOLATILE;
REVOKE EXECUTE ON FUNCTION esqase.count_defer(uuid, text, bigint) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION esqase.count_cancel(text[]) FROM PUBLIC;

-- Adds delta to a firm's count of list (esqase.record_counts): to a slot
-- this transaction already holds or no other open transaction holds,
-- starting from this backend's own slot.  When every existing slot is held
-- (or none exists yet), it opens a new slot.  A slot being opened is
-- invisible to other transactions until its opener commits, so its number
-- is claimed first with a transaction advisory lock: two writers never open
-- the same slot (the second would wait on the first's insert).  Only when
-- all 16 slots exist and are held (16 concurrent writers in one firm) does
-- a writer wait, on its own slot.
CREATE OR REPLACE FUNCTION esqase.count_add(firm uuid, counted text, delta bigint) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    chosen int;
BEGIN
    UPDATE esqase.record_counts c SET n = c.n + delta
     WHERE c.firm_id = firm AND c.list = counted
       AND c.slot = (SELECT s.slot FROM esqase.record_counts s
                      WHERE s.firm_id = firm AND s.list = counted
                      ORDER BY (s.slot - pg_backend_pid() % 16 + 16) % 16
                      LIMIT 1 FOR UPDATE SKIP LOCKED);
    IF FOUND THEN
        RETURN;
    END IF;
    FOR chosen IN SELECT g.s FROM generate_series(0, 15) AS g(s)
                   WHERE NOT EXISTS (SELECT FROM esqase.record_counts r
                                      WHERE r.firm_id = firm AND r.list = counted AND r.slot = g.s)
                   ORDER BY (g.s - pg_backend_pid() % 16 + 16) % 16 LOOP
        EXIT WHEN pg_try_advisory_xact_lock(hashtext(firm::text || counted), chosen);
        chosen := NULL;
    END LOOP;
    INSERT INTO esqase.record_counts AS c (firm_id, list, slot, n)
    VALUES (firm, counted, coalesce(chosen, pg_backend_pid() % 16), delta)
    ON CONFLICT ON CONSTRAINT record_counts_pkey DO UPDATE SET n = c.n + excluded.n;
END
$$;

CREATE OR REPLACE FUNCTION esqase.lead_list(is_private boolean) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN is_private THEN 'leads_private' ELSE 'leads_public' END;

-- The lists of esqase.record_counts a row counts in: none once it is
-- soft-deleted; a contact that is a private lead's hidden prospect also in
-- contacts_private; a lead in leads_public or leads_private.
CREATE OR REPLACE FUNCTION esqase.counted_in(r esqase.contacts) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN r.deleted_at IS NOT NULL THEN '{}'::text[]
            WHEN r.hidden_by_lead IS NULL THEN '{contacts}' ELSE '{contacts,contacts_private}' END;
CREATE OR REPLACE FUNCTION esqase.counted_in(r esqase.matters) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN r.deleted_at IS NULL THEN '{matters}'::text[] ELSE '{}' END;
CREATE OR REPLACE FUNCTION esqase.counted_in(r esqase.practice_areas) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN r.deleted_at IS NULL THEN '{practice_areas}'::text[] ELSE '{}' END;
CREATE OR REPLACE FUNCTION esqase.counted_in(r esqase.leads) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN r.deleted_at IS NULL THEN ARRAY[esqase.lead_list(r.is_private)] ELSE '{}' END;

-- The count triggers' functions, one definition for every table with
-- counted lists (the resources of sql/registry.pl with counted):
-- esqase.count_contacts(), esqase.count_matters(), esqase.count_leads() and
-- esqase.count_practice_areas() are generated here at build time from the
-- text in tools/generate.pl, which differs between them only in the
-- table's row type and lists (a statement trigger's transition rows are of
-- type record, and the overloaded esqase.counted_in needs to know which
-- table they are).  A statement trigger over the transition tables, so a
-- statement that writes many rows (a bulk load) changes each firm's count
-- once: a new live row counts +1 in each of its lists, an old one -1 (a
-- soft delete -1, an UPDATE that clears deleted_at +1).  Rows are grouped
-- by firm and lists before the lists are unnested (unnesting per row cost
-- half as much again as the whole count; grouped first, it measured no
-- slower than the three hand-written functions it replaced).  TRUNCATE
-- empties the table's lists (and cancels this transaction's tally of
-- them).  The change goes to the transaction's tally (count_defer),
-- written at commit.  SECURITY DEFINER: no API role may write the counts.
-- @generate count_functions

-- The search documents (q, esqase.search_query): a contact's name fields
-- (name holds first, middle and last name, or the company's name), nickname,
-- trade name, emails (also split at the @, so "example" finds
-- ann@example.com) and phones (also as bare digits); a matter's public id,
-- title and description.  Folded: case and accents do not count.
-- Phones are found by their digits, whatever the punctuation: each phone's
-- digits and every tail of them of 4 digits or more ("+1-555-0100" gives
-- 15550100, 5550100, ..., 0100), so that q=5550100, q=555-0100 and
-- q=+1 555 0100 all find it (esqase.search_query reads such a q as digits).
-- In C (src/text_norm.c): a sub-select here cost every row an executor
-- start-up (the function is never inlined), the most of a contact's insert.
CREATE OR REPLACE FUNCTION esqase.phone_keys(phones text[]) RETURNS text
    AS 'MODULE_PATHNAME', 'esqase_phone_keys' LANGUAGE C IMMUTABLE PARALLEL SAFE;

-- Written over the fields, not the row: the derive triggers call them with
-- NEW's fields (passing NEW whole costs a row conversion per call, as much
-- as the document itself; measured in issue 16).  STABLE, as the text
-- functions they call (concat_ws, array_to_string): so they are inlined
-- into the triggers' expressions.  Declared IMMUTABLE over a STABLE body
-- they were not, and every row paid an executor start-up for the call.
CREATE OR REPLACE FUNCTION esqase.contact_search_of(name text, nickname text, trade_name text,
                                                    emails text[], phones text[]) RETURNS tsvector
LANGUAGE sql STABLE PARALLEL SAFE
RETURN esqase.search_document(concat_ws(' ', name, nickname, trade_name,
                                        array_to_string(emails, ' '),
                                        translate(array_to_string(emails, ' '), '@', ' '),
                                        array_to_string(phones, ' '),
                                        esqase.phone_keys(phones)));

CREATE OR REPLACE FUNCTION esqase.contact_search(c esqase.contacts) RETURNS tsvector
LANGUAGE sql STABLE PARALLEL SAFE
RETURN esqase.contact_search_of(c.name, c.nickname, c.trade_name, c.emails, c.phones);

CREATE OR REPLACE FUNCTION esqase.matter_search_of(public_id text, title text, description text) RETURNS tsvector
LANGUAGE sql STABLE PARALLEL SAFE
RETURN esqase.search_document(concat_ws(' ', public_id, title, description));

CREATE OR REPLACE FUNCTION esqase.matter_search(m esqase.matters) RETURNS tsvector
LANGUAGE sql STABLE PARALLEL SAFE
RETURN esqase.matter_search_of(m.public_id, m.title, m.description);

-- A contact's display name and search document follow its fields.  A
-- contact is hidden (hidden_by_lead) only when it is created; afterwards the
-- mark can only be cleared (esqase.publish_*_contact), so no one can hide an
-- existing contact from the rest of the firm.
CREATE OR REPLACE FUNCTION esqase.contact_derive() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.hidden_by_lead IS DISTINCT FROM OLD.hidden_by_lead
       AND NEW.hidden_by_lead IS NOT NULL THEN
        PERFORM esqase.fail('42501', 'an existing contact cannot be hidden behind a private lead',
                            'hidden_by_lead');
    END IF;
    NEW.name := CASE NEW.type
                    WHEN 'PERSON' THEN concat_ws(' ', NEW.first_name, NEW.middle_name, NEW.last_name)
                    ELSE NEW.company_name
                END;
    NEW.search := esqase.contact_search_of(NEW.name, NEW.nickname, NEW.trade_name, NEW.emails, NEW.phones);
    RETURN NEW;
END
$$;

-- A private lead's prospect stops being hidden once the firm uses it
-- elsewhere (a matter client: AFTER INSERT on matter_clients) or the lead is
-- made public (AFTER UPDATE OF is_private on leads).  SECURITY DEFINER: the
-- member acting may hold matters:write or leads:write, not contacts:write;
-- the policies have already checked that they see the contact or the lead.
CREATE OR REPLACE FUNCTION esqase.publish_client_contact() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF esqase.restoring(TG_RELID) THEN
        RETURN NULL;    -- the contacts come with the dump as they were
    END IF;
    -- by key: "hidden_by_lead IS NOT NULL" would let the planner read the
    -- firm's hidden contacts by contacts_hidden_idx instead, and with
    -- statistics of a table analyzed nearly empty it did, for every client
    -- an import wrote (test/sql/49_import_small_stats); num_nonnulls is no
    -- condition an index predicate follows from
    UPDATE esqase.contacts SET hidden_by_lead = NULL
     WHERE firm_id = NEW.firm_id AND id = NEW.contact_id AND num_nonnulls(hidden_by_lead) = 1;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION esqase.publish_lead_contact() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF esqase.restoring(TG_RELID) THEN
        RETURN NULL;
    END IF;
    UPDATE esqase.contacts SET hidden_by_lead = NULL
     WHERE firm_id = NEW.firm_id AND hidden_by_lead = NEW.id;
    RETURN NULL;
END
$$;

-- What a create over the API guarantees of a private lead and its prospect,
-- checked at commit for writes in an API context (issue 21: direct SQL as
-- the API role could do what the API refuses):
--  * a contact is hidden (hidden_by_lead) only as the prospect of the
--    private lead that was created with it: its lead exists, is private and
--    has it as its contact (not a contact hidden behind another lead, or
--    behind none);
--  * a member who is no owner does not create a private lead it is not
--    assigned to (it would not see it; the API answers 422).
-- At commit because a create writes the prospect before its lead, and a
-- lead before its assignees.  A DBA's writes and a restore (no API
-- context) are not the API's, and not checked.  SECURITY DEFINER: the
-- writer may not read the other table (leads:write reads no contacts).
CREATE OR REPLACE FUNCTION esqase.check_hidden_prospect() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF esqase.context_firm() IS NULL THEN
        RETURN NULL;
    END IF;
    IF EXISTS (SELECT FROM esqase.contacts c
                WHERE c.firm_id = NEW.firm_id AND c.id = NEW.id AND c.hidden_by_lead IS NOT NULL
                  AND NOT EXISTS (SELECT FROM esqase.leads l
                                   WHERE l.firm_id = c.firm_id AND l.id = c.hidden_by_lead
                                     AND l.contact_id = c.id AND l.is_private)) THEN
        PERFORM esqase.fail('42501', 'a contact is hidden only as the prospect of the private lead created with it',
                            'hidden_by_lead');
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION esqase.check_private_lead_seen() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF esqase.context_firm() IS NULL OR esqase.context_is_owner() THEN
        RETURN NULL;
    END IF;
    IF EXISTS (SELECT FROM esqase.leads l
                WHERE l.firm_id = NEW.firm_id AND l.id = NEW.id AND l.is_private AND l.deleted_at IS NULL
                  AND NOT EXISTS (SELECT FROM esqase.lead_assignees a
                                   WHERE a.firm_id = l.firm_id AND a.lead_id = l.id
                                     AND a.member_id = esqase.context_member())) THEN
        PERFORM esqase.fail('42501', 'a private lead is visible only to its assignees and the firm''s owners: '
                                     'assign yourself to it', 'assigneeIds');
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION esqase.matter_derive() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.search := esqase.matter_search_of(NEW.public_id, NEW.title, NEW.description);
    RETURN NEW;
END
$$;

-- A backend keeps the keys it authenticated for up to a minute (context.c,
-- "known keys"); a change to a key or to its member's permissions, owner
-- flag or removal empties every backend's copy when it commits.  Not an
-- update of last_used_at alone, which every key makes once a minute.
CREATE OR REPLACE FUNCTION esqase.keys_changed() RETURNS trigger
    AS 'MODULE_PATHNAME', 'esqase_keys_changed' LANGUAGE C;
-- For each row, because a logical replication apply fires row triggers
-- only; a statement's many invalidations of one relation are sent as one.
CREATE OR REPLACE TRIGGER api_keys_changed
    AFTER UPDATE OF firm_id, id, member_id, prefix, secret_hash, scopes, revoked_at, expires_at,
                    previous_secret_hash, previous_valid_until OR DELETE
    ON esqase.api_keys FOR EACH ROW EXECUTE FUNCTION esqase.keys_changed();
CREATE OR REPLACE TRIGGER api_keys_truncated AFTER TRUNCATE ON esqase.api_keys
    FOR EACH STATEMENT EXECUTE FUNCTION esqase.keys_changed();
CREATE OR REPLACE TRIGGER members_changed AFTER UPDATE OR DELETE ON esqase.members
    FOR EACH ROW EXECUTE FUNCTION esqase.keys_changed();
CREATE OR REPLACE TRIGGER members_truncated AFTER TRUNCATE ON esqase.members
    FOR EACH STATEMENT EXECUTE FUNCTION esqase.keys_changed();
-- Also under session_replication_role = replica (a restore, a replication
-- apply), which turns ordinary triggers off.
ALTER TABLE esqase.api_keys ENABLE ALWAYS TRIGGER api_keys_changed;
ALTER TABLE esqase.api_keys ENABLE ALWAYS TRIGGER api_keys_truncated;
ALTER TABLE esqase.members ENABLE ALWAYS TRIGGER members_changed;
ALTER TABLE esqase.members ENABLE ALWAYS TRIGGER members_truncated;

CREATE OR REPLACE TRIGGER practice_areas_seed_stages AFTER INSERT ON esqase.practice_areas
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION esqase.seed_practice_area_stages();
CREATE OR REPLACE TRIGGER firms_seed AFTER INSERT ON esqase.firms
    FOR EACH ROW EXECUTE FUNCTION esqase.seed_firm();
CREATE OR REPLACE TRIGGER contacts_derive BEFORE INSERT OR UPDATE ON esqase.contacts
    FOR EACH ROW EXECUTE FUNCTION esqase.contact_derive();
CREATE OR REPLACE TRIGGER matters_derive BEFORE INSERT OR UPDATE ON esqase.matters
    FOR EACH ROW EXECUTE FUNCTION esqase.matter_derive();
CREATE OR REPLACE TRIGGER matter_clients_publish AFTER INSERT ON esqase.matter_clients
    FOR EACH ROW EXECUTE FUNCTION esqase.publish_client_contact();
CREATE OR REPLACE TRIGGER leads_publish AFTER UPDATE OF is_private ON esqase.leads
    FOR EACH ROW WHEN (OLD.is_private AND NOT NEW.is_private) EXECUTE FUNCTION esqase.publish_lead_contact();
-- (a constraint trigger, deferred to the commit, cannot be created OR
-- REPLACE: made once)
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_trigger
                    WHERE tgrelid = 'esqase.contacts'::regclass AND tgname = 'contacts_hidden_check') THEN
        CREATE CONSTRAINT TRIGGER contacts_hidden_check AFTER INSERT ON esqase.contacts
            DEFERRABLE INITIALLY DEFERRED
            FOR EACH ROW WHEN (NEW.hidden_by_lead IS NOT NULL) EXECUTE FUNCTION esqase.check_hidden_prospect();
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_trigger
                    WHERE tgrelid = 'esqase.leads'::regclass AND tgname = 'leads_private_check') THEN
        CREATE CONSTRAINT TRIGGER leads_private_check AFTER INSERT ON esqase.leads
            DEFERRABLE INITIALLY DEFERRED
            FOR EACH ROW WHEN (NEW.is_private) EXECUTE FUNCTION esqase.check_private_lead_seen();
    END IF;
END
$$;
-- The count triggers (<table>_count_insert, _update, _delete, _truncate):
-- one per event, since a trigger with transition tables serves one event.
-- @generate count_triggers
CREATE OR REPLACE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON esqase.audit_log
    FOR EACH ROW EXECUTE FUNCTION esqase.audit_log_is_append_only();
CREATE OR REPLACE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON esqase.audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION esqase.audit_log_is_append_only();
-- ALWAYS: session_replication_role = replica skips ordinary triggers, and
-- must not open the log to UPDATE, DELETE or TRUNCATE.
ALTER TABLE esqase.audit_log ENABLE ALWAYS TRIGGER audit_log_no_update;
ALTER TABLE esqase.audit_log ENABLE ALWAYS TRIGGER audit_log_no_truncate;
