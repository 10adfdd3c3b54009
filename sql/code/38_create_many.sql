
-------------------------------------------------------------------------------
-- 38 Bulk creates (issue 16): esqase.<resource>_create_many(bodies jsonb), a
-- JSON array of create bodies, in one statement.  The public
-- esqase_<resource>_create_many wrap them (92_public_api.sql).
--
-- The same as one create for each element: the same checks (each resource's
-- <resource>_new, which its _create calls too), the same audit rows, totals,
-- ids, public ids (in the order of the array) and scopes; then the rows are
-- written set-based, one INSERT per table for the whole batch, so the
-- per-statement work of a create (the count triggers, the call itself) is
-- paid once.  An invalid element fails the whole call, with nothing
-- written: its error names the element by its index in the array (from 0),
-- the field as "[1234].emails" and the message starting "[1234] ".  The
-- answer is {"data": [record, ...]}, the records in the order sent.  No
-- idempotency key: the batch is one statement, all or nothing.
--
-- Each is planned generically (plan_cache_mode, which its statements and
-- the foreign-key checks they fire see): an import is most often into a
-- firm the statistics have not seen, for which a plan made for the firm's
-- own id expects one row and probes some joins by firm_id alone, reading
-- every row the import has written so far, for every row it writes
-- (docs/benchmarks.md: 100,000 leads at 212/s, against 3,300/s).
-------------------------------------------------------------------------------

-- Rejects anything but a JSON array (HTTP 400, as a body that is no object).
CREATE OR REPLACE FUNCTION esqase.batch_check(bodies jsonb) RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF bodies IS NULL OR jsonb_typeof(bodies) <> 'array' THEN
        PERFORM esqase.fail('22023', 'the request body must be a JSON array of create bodies');
    END IF;
END
$$;

-- Raises an element's error again, naming the element: field "[i].field"
-- (or "[i]"), message "[i] message", the same SQLSTATE.
CREATE OR REPLACE FUNCTION esqase.batch_fail(i integer, code text, message text, field text) RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    PERFORM esqase.fail(code, format('[%s] %s', i, message),
                        format('[%s]', i) || coalesce('.' || nullif(field, ''), ''));
END
$$;

-- {"data": [record, ...]}
CREATE OR REPLACE FUNCTION esqase.many(records json) RETURNS json
LANGUAGE sql STABLE PARALLEL SAFE
RETURN json_build_object('data', coalesce(records, '[]'));

-- n new ids, named (esqase.target: a key with the write scope alone reads
-- back the records it creates, as one create does).
CREATE OR REPLACE FUNCTION esqase.new_ids(n integer) RETURNS uuid[]
LANGUAGE sql VOLATILE
RETURN esqase.targets(ARRAY(SELECT gen_random_uuid() FROM generate_series(1, n)));

-- n public ids of a firm and kind, in order.  SECURITY DEFINER: the first
-- comes from esqase.next_public_id, which checks that the key may number
-- the kind in its firm; the others from esqase.public_id_next directly, as
-- next_public_id takes them (not callable by the API role), without a
-- definer call and an array copy per number (20,000 numbers: about
-- 195 ms -> 80 ms).
CREATE OR REPLACE FUNCTION esqase.next_public_ids(firm uuid, id_kind text, n integer) RETURNS text[]
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF n IS NULL OR n < 1 THEN
        RETURN '{}'::text[];
    END IF;
    RETURN ARRAY[esqase.next_public_id(firm, id_kind)]
        || ARRAY(SELECT esqase.public_id(id_kind, esqase.public_id_next(firm, id_kind))
                   FROM generate_series(2, n));
END
$$;

-------------------------------------------------------------------------------
-- Contacts
-------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION esqase.contacts_create_many(bodies jsonb) RETURNS json
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    firm uuid := esqase.api_access('contacts', 'write');
    rows esqase.contacts[] := '{}'::esqase.contacts[];
    ids uuid[];
    i integer := 0;
    body jsonb;
    code text;
    message text;
    field text;
BEGIN
    PERFORM esqase.batch_check(bodies);
    BEGIN
        FOR body IN SELECT e FROM jsonb_array_elements(bodies) e LOOP
            rows := rows || esqase.contact_new(body);
            i := i + 1;
        END LOOP;
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS code = RETURNED_SQLSTATE, message = MESSAGE_TEXT, field = COLUMN_NAME;
        PERFORM esqase.batch_fail(i, code, message, field);
    END;
    ids := esqase.new_ids(i);
    -- as esqase.contact_insert: no RETURNING
    INSERT INTO esqase.contacts (firm_id, id, type, prefix, first_name, middle_name, last_name,
                                 suffix, nickname, company_name, trade_name, company_type,
                                 emails, phones, name)
    SELECT firm, ids[u.ordinality], u.type, u.prefix, u.first_name, u.middle_name, u.last_name,
           u.suffix, u.nickname, u.company_name, u.trade_name, u.company_type,
           coalesce(u.emails, '{}'), coalesce(u.phones, '{}'), ''
      FROM unnest(rows) WITH ORDINALITY AS u
     ORDER BY u.ordinality;
    RETURN esqase.many((SELECT json_agg(d.doc ORDER BY d.n) FROM esqase.contact_docs(firm, ids) d));
END
$$;

-------------------------------------------------------------------------------
-- Practice areas (each seeded with its three stages, as one create)
-------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION esqase.practice_areas_create_many(bodies jsonb) RETURNS json
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    firm uuid := esqase.api_access('practice-areas', 'write');
    names text[] := '{}'::text[];
    ids uuid[];
    i integer := 0;
    body jsonb;
    code text;
    message text;
    field text;
BEGIN
    PERFORM esqase.batch_check(bodies);
    BEGIN
        FOR body IN SELECT e FROM jsonb_array_elements(bodies) e LOOP
            names := names || esqase.practice_area_new(body);
            i := i + 1;
        END LOOP;
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS code = RETURNED_SQLSTATE, message = MESSAGE_TEXT, field = COLUMN_NAME;
        PERFORM esqase.batch_fail(i, code, message, field);
    END;
    ids := esqase.new_ids(i);
    INSERT INTO esqase.practice_areas (firm_id, id, name)
    SELECT firm, ids[u.n], u.name FROM unnest(names) WITH ORDINALITY AS u (name, n) ORDER BY u.n;
    RETURN esqase.many((SELECT json_agg(d.doc ORDER BY d.n) FROM esqase.practice_area_docs(firm, ids) d));
END
$$;

-------------------------------------------------------------------------------
-- Matter types
-------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION esqase.matter_types_create_many(bodies jsonb) RETURNS json
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    firm uuid := esqase.api_access('matter-types', 'write');
    areas uuid[] := '{}'::uuid[];
    names text[] := '{}'::text[];
    area uuid;
    new_name text;
    ids uuid[];
    i integer := 0;
    body jsonb;
    code text;
    message text;
    field text;
BEGIN
    PERFORM esqase.batch_check(bodies);
    BEGIN
        FOR body IN SELECT e FROM jsonb_array_elements(bodies) e LOOP
            SELECT n.area, n.name INTO area, new_name FROM esqase.matter_type_new(firm, body) n;
            areas := areas || area;
            names := names || new_name;
            i := i + 1;
        END LOOP;
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS code = RETURNED_SQLSTATE, message = MESSAGE_TEXT, field = COLUMN_NAME;
        PERFORM esqase.batch_fail(i, code, message, field);
    END;
    ids := esqase.new_ids(i);
    INSERT INTO esqase.matter_types (firm_id, id, practice_area_id, name)
    SELECT firm, ids[u.n], u.area, u.name
      FROM unnest(areas, names) WITH ORDINALITY AS u (area, name, n) ORDER BY u.n;
    RETURN esqase.many((SELECT json_agg(d.doc ORDER BY d.n) FROM esqase.matter_type_docs(firm, ids) d));
END
$$;

-------------------------------------------------------------------------------
-- Matters: public ids in the order of the array; a number already used by a
-- matter inserted by hand is skipped, as one create does.
-------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION esqase.matters_create_many(bodies jsonb) RETURNS json
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    firm uuid := esqase.api_access('matters', 'write');
    rows esqase.matters[] := '{}'::esqase.matters[];
    clients jsonb[] := '{}'::jsonb[];
    teams jsonb[] := '{}'::jsonb[];
    new_ esqase.new_matter;
    ids uuid[];
    numbers text[];
    left_ integer;
    i integer := 0;
    body jsonb;
    code text;
    message text;
    field text;
BEGIN
    PERFORM esqase.batch_check(bodies);
    BEGIN
        FOR body IN SELECT e FROM jsonb_array_elements(bodies) e LOOP
            new_ := esqase.matter_new(firm, body);
            rows := rows || new_.m;
            clients := clients || to_jsonb(new_.clients);
            teams := teams || new_.team;
            i := i + 1;
        END LOOP;
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS code = RETURNED_SQLSTATE, message = MESSAGE_TEXT, field = COLUMN_NAME;
        PERFORM esqase.batch_fail(i, code, message, field);
    END;
    ids := esqase.new_ids(i);
    -- Numbered last: an invalid batch uses up no number.
    numbers := esqase.next_public_ids(firm, 'M', i);
    left_ := i;
    LOOP
        WITH ins AS (
            INSERT INTO esqase.matters AS t (firm_id, id, public_id, title, description, status, open_date,
                                             close_date, sol_date, practice_area_id, stage_id, matter_type_id)
            SELECT firm, ids[u.ordinality], numbers[u.ordinality], u.title, u.description, u.status,
                   u.open_date, u.close_date, u.sol_date, u.practice_area_id, u.stage_id, u.matter_type_id
              FROM unnest(rows) WITH ORDINALITY AS u
             WHERE left_ = i
                OR NOT EXISTS (SELECT FROM esqase.matters x WHERE x.firm_id = firm AND x.id = ids[u.ordinality])
             ORDER BY u.ordinality
            ON CONFLICT (firm_id, public_id) DO NOTHING
            RETURNING 1)
        SELECT left_ - count(*) INTO left_ FROM ins;
        EXIT WHEN left_ = 0;
        -- numbers taken by hand: the matters not inserted take the next ones
        SELECT array_agg(CASE WHEN EXISTS (SELECT FROM esqase.matters x
                                            WHERE x.firm_id = firm AND x.id = ids[g])
                              THEN numbers[g] ELSE esqase.next_public_id(firm, 'M') END ORDER BY g)
          INTO numbers FROM generate_series(1, i) g;
    END LOOP;
    -- as matter_set_clients and matter_set_team, for every matter at once
    INSERT INTO esqase.matter_clients (firm_id, matter_id, contact_id, position, is_bill_recipient)
    SELECT firm, ids[u.n], c.id::uuid, c.k - 1, c.k = 1
      FROM unnest(clients) WITH ORDINALITY AS u (list, n),
           jsonb_array_elements_text(u.list) WITH ORDINALITY AS c (id, k)
     ORDER BY u.n, c.k;
    INSERT INTO esqase.matter_team (firm_id, matter_id, member_id, position, role, allocation)
    SELECT firm, ids[u.n], (t.item ->> 'member_id')::uuid, t.k - 1, t.item ->> 'role',
           (t.item ->> 'allocation')::numeric
      FROM unnest(teams) WITH ORDINALITY AS u (list, n),
           jsonb_array_elements(u.list) WITH ORDINALITY AS t (item, k)
     ORDER BY u.n, t.k;
    RETURN esqase.many((SELECT json_agg(d.doc ORDER BY d.n) FROM esqase.matter_docs(firm, ids) d));
END
$$;

-------------------------------------------------------------------------------
-- Leads: each with its brand-new contact, hidden with it when private.
-------------------------------------------------------------------------------

-- Which of numbers a lead of the firm already has (inserted by hand).
-- SECURITY DEFINER: a private lead holding one is not visible to the
-- caller; only the firm of the context is asked, only by a key that may
-- create leads (leads:write), and only whether the numbers are taken.
CREATE OR REPLACE FUNCTION esqase.lead_public_ids_taken(firm uuid, numbers text[]) RETURNS text[]
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RETURN ARRAY(SELECT l.public_id FROM esqase.leads l
                  WHERE firm = esqase.context_firm() AND esqase.context_may('leads:write')
                    AND l.firm_id = firm AND l.public_id = ANY (numbers));
END
$$;

CREATE OR REPLACE FUNCTION esqase.leads_create_many(bodies jsonb) RETURNS json
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    firm uuid := esqase.api_access('leads', 'write');
    contacts esqase.contacts[] := '{}'::esqase.contacts[];
    rows esqase.leads[] := '{}'::esqase.leads[];
    assignees jsonb[] := '{}'::jsonb[];
    new_ esqase.new_lead;
    ids uuid[];
    contact_ids uuid[];
    numbers text[];
    taken text[];
    i integer := 0;
    body jsonb;
    code text;
    message text;
    field text;
BEGIN
    PERFORM esqase.batch_check(bodies);
    BEGIN
        FOR body IN SELECT e FROM jsonb_array_elements(bodies) e LOOP
            new_ := esqase.lead_new(firm, body);
            contacts := contacts || new_.c;
            rows := rows || new_.l;
            assignees := assignees || to_jsonb(new_.assignees);
            i := i + 1;
        END LOOP;
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS code = RETURNED_SQLSTATE, message = MESSAGE_TEXT, field = COLUMN_NAME;
        PERFORM esqase.batch_fail(i, code, message, field);
    END;
    ids := esqase.new_ids(i);
    contact_ids := esqase.new_ids(i);
    -- Numbered last: an invalid batch uses up no number.  As leads_create,
    -- no ON CONFLICT (a private lead fails the SELECT policy until its
    -- assignees exist): numbers taken by hand are looked for first.
    numbers := esqase.next_public_ids(firm, 'L', i);
    LOOP
        taken := esqase.lead_public_ids_taken(firm, numbers);
        EXIT WHEN cardinality(taken) = 0;
        SELECT array_agg(CASE WHEN n.v = ANY (taken) THEN esqase.next_public_id(firm, 'L') ELSE n.v END
                         ORDER BY n.k)
          INTO numbers FROM unnest(numbers) WITH ORDINALITY AS n (v, k);
    END LOOP;
    -- A private lead's prospect is hidden with it (30_contacts.sql).
    INSERT INTO esqase.contacts (firm_id, id, type, prefix, first_name, middle_name, last_name,
                                 suffix, nickname, company_name, trade_name, company_type,
                                 emails, phones, name, hidden_by_lead)
    SELECT firm, contact_ids[u.ordinality], u.type, u.prefix, u.first_name, u.middle_name, u.last_name,
           u.suffix, u.nickname, u.company_name, u.trade_name, u.company_type,
           coalesce(u.emails, '{}'), coalesce(u.phones, '{}'), '',
           CASE WHEN rows[u.ordinality].is_private THEN ids[u.ordinality] END
      FROM unnest(contacts) WITH ORDINALITY AS u
     ORDER BY u.ordinality;
    INSERT INTO esqase.leads (firm_id, id, public_id, value, is_private, contact_id, practice_area_id, stage_id)
    SELECT firm, ids[u.ordinality], numbers[u.ordinality], u.value, u.is_private, contact_ids[u.ordinality],
           u.practice_area_id, u.stage_id
      FROM unnest(rows) WITH ORDINALITY AS u
     ORDER BY u.ordinality;
    -- as lead_add_assignees, for every lead at once
    INSERT INTO esqase.lead_assignees (firm_id, lead_id, member_id, position)
    SELECT firm, ids[u.n], m.id::uuid, m.k - 1
      FROM unnest(assignees) WITH ORDINALITY AS u (list, n),
           jsonb_array_elements_text(u.list) WITH ORDINALITY AS m (id, k)
     ORDER BY u.n, m.k;
    RETURN esqase.many((SELECT json_agg(d.doc ORDER BY d.n) FROM esqase.lead_docs(firm, ids) d));
END
$$;
