
-------------------------------------------------------------------------------
-- 97 Comments on every table and column of schema esqase, for whoever reads
-- the tables in SQL (\d+ in psql): plain words, and the API field a column
-- serves where there is one.  Kept in one list so that a column without a
-- comment stands out; test/sql/80_catalog.sql lists any table or column of
-- the schema that has none.  The columns most tables share are worded once,
-- at the end, wherever a table has no comment of its own for them.
-------------------------------------------------------------------------------

DO $$
DECLARE
    c text[];
    r record;
BEGIN
    FOREACH c SLICE 1 IN ARRAY ARRAY[
        ['firms', NULL, 'Law firms (tenants); every other table has firm_id, which references firms.id. Created by esqase_create_firm'],
        ['firms', 'id', 'The firm (firm_id in every other table; the API key decides it in the API)'],
        ['firms', 'name', 'The firm''s name'],
        ['members', NULL, 'People of a firm who hold API keys (API: /v1/members); created by esqase_create_member, deactivated by setting deleted_at'],
        ['members', 'name', 'Full name (API: name)'],
        ['members', 'email', 'Login email, unique per firm in any case (API: email)'],
        ['members', 'is_owner', 'Owners hold every permission and see every private lead (API: isOwner)'],
        ['members', 'permissions', 'Extra permissions; practice_areas lets the member change practice areas and matter types (API: permissions)'],
        ['members', 'deleted_at', 'When the member was deactivated (API: status INACTIVE); NULL while active'],
        ['api_keys', NULL, 'API keys: each belongs to a member and holds scopes; the secret itself is never stored. Created by esqase_create_api_key'],
        ['api_keys', 'member_id', 'The member the key acts as (members.id)'],
        ['api_keys', 'name', 'A label for the key, or NULL'],
        ['api_keys', 'prefix', 'The public part of the token esq_<prefix>_<secret>, to find the key; not secret'],
        ['api_keys', 'secret_hash', 'SHA-256 of the whole token; the token cannot be recovered from it'],
        ['api_keys', 'scopes', 'What the key may do: contacts:read, matters:write, ... (docs/http-api.md)'],
        ['api_keys', 'updated_at', 'When the key''s name, scopes, member, revocation, expiry or secret last changed'],
        ['api_keys', 'last_used_at', 'When a request last used the key (refreshed at most once a minute)'],
        ['api_keys', 'revoked_at', 'When the key was revoked (esqase_revoke_api_key); NULL while valid'],
        ['api_keys', 'expires_at', 'When the key stops working, or NULL for never (esqase_set_api_key_expiry)'],
        ['api_keys', 'rotated_at', 'When the key last got a new secret (esqase_rotate_api_key), or NULL'],
        ['api_keys', 'previous_secret_hash', 'SHA-256 of the token a rotation replaced, accepted until previous_valid_until'],
        ['api_keys', 'previous_valid_until', 'When the token a rotation replaced stops working'],
        ['contacts', NULL, 'Contacts: people and companies (API: /v1/contacts); deleted ones stay, ARCHIVED, with deleted_at'],
        ['contacts', 'type', 'PERSON or COMPANY; never changes (API: type)'],
        ['contacts', 'status', 'ACTIVE, or ARCHIVED once deleted (API: status)'],
        ['contacts', 'prefix', 'Person: name prefix such as Dr. (API: prefix)'],
        ['contacts', 'first_name', 'Person: first name (API: firstName)'],
        ['contacts', 'middle_name', 'Person: middle name (API: middleName)'],
        ['contacts', 'last_name', 'Person: last name (API: lastName)'],
        ['contacts', 'suffix', 'Person: name suffix such as Jr. (API: suffix)'],
        ['contacts', 'nickname', 'Person: nickname (API: nickname)'],
        ['contacts', 'company_name', 'Company: name (API: companyName)'],
        ['contacts', 'trade_name', 'Company: trade name (API: tradeName)'],
        ['contacts', 'company_type', 'Company: kind of company, free text (API: companyType)'],
        ['contacts', 'emails', 'Email addresses, the primary one first (API: emails; a lead''s email)'],
        ['contacts', 'phones', 'Phone numbers (API: phones; a lead''s phone)'],
        ['contacts', 'name', 'Display name, kept by a trigger: first, middle and last name of a person, the company name of a company (API: name)'],
        ['contacts', 'search', 'Full-text search document of the name, nickname, trade name, emails and phones, kept by a trigger (API: the q parameter of lists)'],
        ['contacts', 'hidden_by_lead', 'The private lead that created this contact as its prospect: the contact is then seen only by those who see that lead, until the firm uses it elsewhere or the lead is made public; else NULL'],
        ['practice_areas', NULL, 'Practice areas (API: /v1/practice-areas), each with its stages and matter types; deleted ones stay, ARCHIVED'],
        ['practice_areas', 'name', 'Name (API: name)'],
        ['practice_areas', 'status', 'ACTIVE, or ARCHIVED once deleted (API: status)'],
        ['practice_area_stages', NULL, 'Stages (board columns) of a practice area: To do, In progress, Done to start with (API: practice area stages)'],
        ['practice_area_stages', 'practice_area_id', 'The practice area (practice_areas.id)'],
        ['practice_area_stages', 'name', 'Name (API: stages[].name)'],
        ['practice_area_stages', 'type', 'TODO, IN_PROGRESS or DONE (API: stages[].type)'],
        ['practice_area_stages', 'order', 'Position on the board, from 0 (API: stages[].order)'],
        ['matter_types', NULL, 'Matter types of a practice area (API: /v1/matter-types); deleted ones stay, ARCHIVED'],
        ['matter_types', 'practice_area_id', 'The practice area (practice_areas.id; API: practiceAreaId)'],
        ['matter_types', 'name', 'Name (API: name)'],
        ['matter_types', 'status', 'ACTIVE, or ARCHIVED once deleted (API: status)'],
        ['public_id_counters', NULL, 'The last number handed out per firm for matters (M) and leads (L): M-0001, L-0001, ...'],
        ['public_id_counters', 'kind', 'M for matters, L for leads'],
        ['public_id_counters', 'last_value', 'The last number used; the next record gets one more'],
        ['matters', NULL, 'Matters (cases) (API: /v1/matters); deleted ones stay, ARCHIVE, with deleted_at'],
        ['matters', 'public_id', 'Per-firm number shown to people: M-0001, ... (API: publicId)'],
        ['matters', 'title', 'Title, "Untitled matter" by default (API: title)'],
        ['matters', 'description', 'Free text (API: description)'],
        ['matters', 'status', 'ACTIVE, DRAFT or ARCHIVE; deleted matters are ARCHIVE (API: status)'],
        ['matters', 'open_date', 'Date opened (API: openDate)'],
        ['matters', 'close_date', 'Date closed, or NULL (API: closeDate)'],
        ['matters', 'sol_date', 'Statute-of-limitations date, or NULL (API: solDate)'],
        ['matters', 'practice_area_id', 'The practice area (practice_areas.id; API: practiceAreaId)'],
        ['matters', 'stage_id', 'The stage within the practice area (practice_area_stages.id; API: practiceAreaStageColumnId)'],
        ['matters', 'matter_type_id', 'The matter type (matter_types.id), or NULL (API: matterTypeId)'],
        ['matters', 'search', 'Full-text search document of the public id, title and description, kept by a trigger (API: the q parameter of lists)'],
        ['matter_clients', NULL, 'The clients of each matter, in order (API: a matter''s clientContactIds and clients)'],
        ['matter_clients', 'matter_id', 'The matter (matters.id)'],
        ['matter_clients', 'contact_id', 'The client (contacts.id; API: clientContactIds)'],
        ['matter_clients', 'position', 'Order of the clients, from 0 (the order of clientContactIds)'],
        ['matter_clients', 'is_primary', 'The primary client: the one at position 0'],
        ['matter_clients', 'is_bill_recipient', 'Receives the bills'],
        ['matter_team', NULL, 'The members working on each matter (API: a matter''s team)'],
        ['matter_team', 'matter_id', 'The matter (matters.id)'],
        ['matter_team', 'member_id', 'The member (members.id; API: team[].memberId)'],
        ['matter_team', 'position', 'Order of the team, from 0'],
        ['matter_team', 'role', 'Role on the matter, free text (API: team[].role)'],
        ['matter_team', 'allocation', 'Share of the work in percent, 0 to 100, or NULL (API: team[].allocation)'],
        ['lead_stages', NULL, 'The firm''s lead pipeline: New, Contacted, Consultation scheduled, Proposal sent'],
        ['lead_stages', 'name', 'Name of the stage'],
        ['lead_stages', 'order', 'Position in the pipeline, from 0'],
        ['leads', NULL, 'Leads (prospective clients) (API: /v1/leads); private ones are seen only by their assignees and the firm''s owners; deleted ones stay, with deleted_at'],
        ['leads', 'public_id', 'Per-firm number shown to people: L-0001, ... (API: publicId)'],
        ['leads', 'status', 'PENDING, WON or LOST (API: status)'],
        ['leads', 'value', 'LOWEST, LOW, MEDIUM, HIGH, HIGHEST, or NULL (API: value)'],
        ['leads', 'is_private', 'Seen only by its assignees and the firm''s owners (API: isPrivate)'],
        ['leads', 'contact_id', 'The prospect (contacts.id; API: contact)'],
        ['leads', 'practice_area_id', 'The practice area (practice_areas.id), or NULL (API: practiceAreaId)'],
        ['leads', 'stage_id', 'The pipeline stage (lead_stages.id; API: leadStageColumnId)'],
        ['lead_assignees', NULL, 'The members assigned to each lead (API: a lead''s assigneeIds and assignees)'],
        ['lead_assignees', 'lead_id', 'The lead (leads.id)'],
        ['lead_assignees', 'member_id', 'The member (members.id; API: assigneeIds)'],
        ['lead_assignees', 'position', 'Order of the assignees, from 0 (the order of assigneeIds)'],
        ['record_counts', NULL, 'Live (not deleted) records per firm and list, kept by triggers, for the exact total of API lists; a firm''s count is the sum of its slots'],
        ['record_counts', 'list', 'contacts, matters, practice_areas, leads_public, leads_private, or contacts_private (the hidden prospects of private leads)'],
        ['record_counts', 'slot', 'One of up to 16 rows a count is spread over, so that concurrent writers do not wait for each other'],
        ['record_counts', 'n', 'This slot''s share of the count (the sum over the slots is the count)'],
        ['audit_log', NULL, 'Every write to the firm''s data, by the API or by hand; append-only'],
        ['audit_log', 'id', 'Position in the log, ascending'],
        ['audit_log', 'at', 'When the write happened'],
        ['audit_log', 'member_id', 'The member whose API key made the write (members.id), or NULL'],
        ['audit_log', 'key_id', 'The API key that made the write (api_keys.id), or NULL'],
        ['audit_log', 'db_role', 'The database role that made the write'],
        ['audit_log', 'action', 'INSERT, UPDATE or DELETE; a soft delete is a DELETE that has new_values'],
        ['audit_log', 'table_name', 'The table written (of schema esqase)'],
        ['audit_log', 'record_id', 'The id of the row written'],
        ['audit_log', 'old_values', 'The row before the write, as JSON (key hashes and search documents left out), or NULL for an INSERT'],
        ['audit_log', 'new_values', 'The row after the write, as JSON, or NULL for a removed link row'],
        ['audit_log', 'request_id', 'The X-Request-Id of the HTTP request that made the write, or NULL'],
        ['report_readers', 'role_name', 'The role that reads schema esqase_report (by name, so that it survives a dump)'],
        ['report_readers', 'firm_id', 'The firm it reads (firms.id), or NULL for every firm'],
        ['report_readers', 'private_leads', 'Whether it also sees private leads and their prospects'],
        ['report_readers', 'granted_at', 'When esqase_grant_reader last granted it'],
        ['report_scope', 'firm_id', 'A firm the current role reads (firms.id)'],
        ['report_scope', 'private_leads', 'Whether the current role sees that firm''s private leads'],
        ['api_key_list', NULL, 'API keys without their hashes, with their member and status, for DBAs (no grant by default)'],
        ['api_key_list', 'firm_id', 'The firm of the key (firms.id)'],
        ['api_key_list', 'id', 'The key''s id (api_keys.id): what the esqase_*_api_key* functions take instead of the token'],
        ['api_key_list', 'member_id', 'The member the key acts as (members.id)'],
        ['api_key_list', 'member_name', 'That member''s name'],
        ['api_key_list', 'name', 'The key''s label, or NULL'],
        ['api_key_list', 'prefix', 'The public part of the token esq_<prefix>_<secret> (also in the request log as key=)'],
        ['api_key_list', 'scopes', 'What the key may do (esqase_set_api_key_scopes, _add_, _remove_)'],
        ['api_key_list', 'status', 'ACTIVE, REVOKED or EXPIRED, now'],
        ['api_key_list', 'created_at', 'When the key was created'],
        ['api_key_list', 'updated_at', 'When its name, scopes, member, revocation, expiry or secret last changed'],
        ['api_key_list', 'last_used_at', 'When a request last used the key (refreshed at most once a minute), or NULL'],
        ['api_key_list', 'expires_at', 'When the key stops working, or NULL for never'],
        ['api_key_list', 'revoked_at', 'When the key was revoked, or NULL'],
        ['api_key_list', 'rotated_at', 'When the key last got a new secret, or NULL'],
        ['api_key_list', 'previous_valid_until', 'Until when the secret the last rotation replaced still works, or NULL'],
        ['http_stats', NULL, 'HTTP requests answered, per route, method and status, by all workers since the server started or esqase.http_stats_reset() (docs/http-api.md)'],
        ['http_stats', 'route', 'The route: /v1/contacts, /v1/contacts/{id}, ..., or other'],
        ['http_stats', 'method', 'The HTTP method'],
        ['http_stats', 'status', 'The HTTP status answered (NULL: one missing from the list of statuses esqase answers, a bug)'],
        ['http_stats', 'requests', 'How many requests'],
        ['http_latency', NULL, 'Latency histogram of HTTP requests, cumulative as in Prometheus, since the server started or esqase.http_stats_reset() (docs/http-api.md)'],
        ['http_latency', 'route', 'The route: /v1/contacts, /v1/contacts/{id}, ..., or other'],
        ['http_latency', 'method', 'The HTTP method'],
        ['http_latency', 'le_ms', 'Upper bound in milliseconds from the request''s headers to its answer (NULL: every request)'],
        ['http_latency', 'requests', 'How many requests were answered within le_ms']] LOOP
        IF c[2] IS NULL THEN
            EXECUTE format('COMMENT ON %s esqase.%I IS %L',
                           (SELECT CASE t.relkind WHEN 'v' THEN 'VIEW' ELSE 'TABLE' END
                              FROM pg_catalog.pg_class t
                             WHERE t.relnamespace = 'esqase'::regnamespace AND t.relname = c[1]),
                           c[1], c[3]);
        ELSE
            EXECUTE format('COMMENT ON COLUMN esqase.%I.%I IS %L', c[1], c[2], c[3]);
        END IF;
    END LOOP;
    -- Columns most tables have that mean the same everywhere.
    FOREACH c SLICE 1 IN ARRAY ARRAY[
        ['firm_id', 'The firm the row belongs to (firms.id)'],
        ['id', 'The record''s id (the API''s id)'],
        ['created_at', 'When the row was created (API: createdAt)'],
        ['updated_at', 'When the row last changed, kept by a trigger (API: updatedAt)'],
        ['deleted_at', 'When the record was deleted (the API no longer shows it); NULL while live']] LOOP
        FOR r IN
            SELECT a.attrelid::regclass AS tbl
              FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class t ON t.oid = a.attrelid
             WHERE t.relnamespace = 'esqase'::regnamespace AND t.relkind = 'r' AND a.attname = c[1]
               AND NOT a.attisdropped AND pg_catalog.col_description(a.attrelid, a.attnum) IS NULL
        LOOP
            EXECUTE format('COMMENT ON COLUMN %s.%I IS %L', r.tbl, c[1], c[2]);
        END LOOP;
    END LOOP;
END
$$;
