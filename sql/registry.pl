# sql/registry.pl: the resources of the API and the tables they live in,
# each written once.  A Perl data file, read at build time by
# tools/generate.pl (docs/architecture.md, "From the registry to the
# scripts"), which writes from it the SQL that is the same for every
# resource but for what this file says: plain text, into the built scripts,
# where a line "-- @generate <section>" of sql/code/ asks for it
# (tools/build-sql.sh); and each {{visible <resource> <alias>}} in sql/code/
# as the resource's visibility rule.  The C side reads it too, through the
# header build/esq_registry.h: the routes, which are read-only, the scopes
# and their permission.  Change it, run make, and read the result in
# build/esqase--<version>.sql and build/esq_registry.h.
#
# resources: one per API resource, in the order of the routes, whose index
# is in the metrics and whose scopes are the bits of src/context.c.
#   name     SQL spelling: the table esqase.<name>, esqase.<name>_list, ...,
#            the public esqase_<name>_<action>; and the list's name
#   path     URL spelling: /v1/<path> and /v1/<path>/{id}; the scopes
#            <path>:read and <path>:write; esqase.api_access's resource
#   record   one record: esqase.<record>_docs (its renderer, written by hand
#            in the resource's file), <record>_one, <record>_find; in
#            messages with "_" as a space ("practice area <id> not found")
#   read_only     GET only: list and get, no write scope (members)
#   permission    what the key's member must also hold (or be an owner) to
#                 use the resource's scopes: the "Practice areas"
#                 permission (src/context.c, through build/esq_registry.h)
#   visible  who may see a row, for a query over many rows, as an SQL
#            condition in which {row}. stands for the row's table or alias
#            (or nothing, where the columns are bare, as in a policy).  Its
#            sub-select runs once per query (a hashed SubPlan).  Absent:
#            every row of the firm.  Code in sql/code/ uses it as
#            {{visible <name> <alias>}}.
#   visible_row   the same rule for one row at a time, if written another
#                 way: a probe by key (esqase.context_assigned) instead of
#                 the member's whole list, for the finds (36_records.sql)
#                 and the policies (90_security.sql)
#   archived the status a delete sets, with deleted_at (no status: only
#            deleted_at)
#   statuses the values of the status list filter
#   list     the list (39_lists.sql): total is the count of a plain list
#            (no filter); params, the query parameters it takes besides the
#            paging and status ones (esqase.list_parameters); where, which
#            rows a plain list shows besides the firm's live visible ones
#            (alias t); check, a check before the page; with_deleted, a
#            plain list shows deleted rows too
#   counted  the lists of esqase.record_counts the table's rows count in
#            (esqase.counted_in says which of them a row is in): its count
#            trigger function and triggers (20_triggers.sql), and the scope
#            that reads each list (the record_counts policy)
#   rename   the update is a rename: name is the only field a PATCH sets,
#            and these the response's fields it cannot (36_records.sql)
#   events   its changes are webhook events <path>.created, .updated and
#            .deleted: the outbox triggers on its table and its event
#            function, esqase.<name>_webhook_event (41_webhooks.sql)
#   no_bulk  no esqase_<name>_create_many (webhooks)
#   sub_list GET /v1/<path>/{id}/<sub_list>: a list of the record's, made
#            by esqase.<name>_<sub_list>(id uuid, params jsonb), read scope
#
# tables: every table and view of schema esqase, with the comments on it
# and its columns that \d+ shows (97_comments.sql; test/sql/80_catalog.sql
# lists any column left without one).  common: columns that take the
# wording of %common below.  And for each data table (90_security.sql):
#   rls      row-level security enabled and forced, and pg_dump keeps its
#            rows (pg_extension_config_dump)
#   audited  its updated_at and audit triggers (audited_columns: only an
#            UPDATE OF these is a change)
#   target   the column that names a row for {{reach}} (default id; a link
#            table's row is named by its record, matter_id, lead_id, ...)
#   policy   its row-level security policies, per command (the firm of the
#            context first: firm_column, if not firm_id):
#              select  who sees a row; refs: what the reference views'
#                      owner esqase_refs sees (28_references.sql)
#              write   the scope that writes it (absent: the API role does
#                      not); row: what an updated or deleted row must also
#                      pass; insert: the check of a new row (absent: the
#                      write scope); update: what an updated row must pass;
#                      delete: what a deleted row must also pass
#            in SQL, with these words: {{may <scope>}}, {{read <resource>}}
#            (its read or write scope), {{visible <resource>}} (its
#            visible_row rule, columns bare), {{reach <resource>}} (its
#            read scope, or its write scope for a row the context named
#            with esqase.target: a write-only key reaches a record by its
#            id, as over HTTP, and lists nothing), {{visible}} (the table's own
#            visible rule), {{new_row <resource>}} (live, or deleted now
#            with the status a delete sets), {{count_scope}} (the read
#            scope of a record_counts list: the resource that counts in it)
#
# report_views: the same for the views of schema esqase_report
# (93_reporting.sql; checked by test/sql/90_reporting.sql), with
# %report_common.
{
resources => [
    { name => 'contacts', events => 1, path => 'contacts', record => 'contact',
      visible => '{row}.hidden_by_lead IS NULL OR esqase.context_is_owner() '
               . 'OR {row}.hidden_by_lead IN (SELECT esqase.assigned_leads())',
      visible_row => '{row}.hidden_by_lead IS NULL OR esqase.context_is_owner() '
                   . 'OR esqase.context_assigned({row}.hidden_by_lead)',
      archived => 'ARCHIVED',
      statuses => [qw(ACTIVE ARCHIVED)],
      counted => [qw(contacts contacts_private)],
      list => { total => 'esqase.contacts_total(firm)', params => [qw(q type)] } },
    { name => 'matters', events => 1, path => 'matters', record => 'matter',
      archived => 'ARCHIVE',
      statuses => [qw(ACTIVE DRAFT ARCHIVE)],
      counted => [qw(matters)],
      list => { total => q{esqase.record_total(firm, 'matters')},
                params => [qw(q practiceAreaId stageId clientContactId)] } },
    { name => 'leads', events => 1, path => 'leads', record => 'lead',
      visible => 'NOT {row}.is_private OR esqase.context_is_owner() '
               . 'OR {row}.id IN (SELECT esqase.assigned_leads())',
      visible_row => 'NOT {row}.is_private OR esqase.context_is_owner() '
                   . 'OR esqase.context_assigned({row}.id)',
      statuses => [qw(PENDING WON LOST)],
      counted => [qw(leads_public leads_private)],
      list => { total => 'esqase.leads_total(firm)', params => [qw(q practiceAreaId stageId)] } },
    { name => 'practice_areas', events => 1, path => 'practice-areas', record => 'practice_area',
      permission => 'practice_areas',
      archived => 'ARCHIVED',
      statuses => [qw(ACTIVE ARCHIVED)],
      counted => [qw(practice_areas)],
      list => { total => q{esqase.record_total(firm, 'practice_areas')} },
      rename => [qw(stages matterTypes status)] },
    { name => 'matter_types', events => 1, path => 'matter-types', record => 'matter_type',
      permission => 'practice_areas',
      archived => 'ARCHIVED',
      statuses => [qw(ACTIVE ARCHIVED)],
      list => { total => 'esqase.matter_types_count(firm, page)', params => [qw(practiceAreaId)],
                # the matter types of one practice area, which must exist
                where => 't.practice_area_id = page.area',
                check => <<'SQL' },
IF NOT esqase.practice_area_live(firm, page.area) THEN
        PERFORM esqase.fail('P0002', format('practice area %s not found', page.area), 'practiceAreaId');
    END IF;
SQL
      rename => [qw(practiceAreaId status)] },
    { name => 'members', path => 'members', record => 'member', read_only => 1,
      statuses => [qw(ACTIVE INACTIVE)],
      # inactive members included; their total is counted (they are few)
      list => { total => 'esqase.members_count(firm, page)', with_deleted => 1 } },
    # a firm's subscriptions to the events of the resources above; a
    # delete only sets deleted_at (the status is the delivery's state)
    { name => 'webhooks', path => 'webhooks', record => 'webhook', no_bulk => 1,
      sub_list => 'deliveries',
      statuses => [qw(ACTIVE PAUSED DISABLED)],
      list => { total => 'esqase.webhooks_count(firm, page)' } },
],

common => {
    firm_id => 'The firm the row belongs to (firms.id)',
    id => "The record's id (the API's id)",
    created_at => 'When the row was created (API: createdAt)',
    updated_at => 'When the row last changed, kept by a trigger (API: updatedAt)',
    deleted_at => 'When the record was deleted (the API no longer shows it); NULL while live',
},

tables => [
    { table => 'firms',
      rls => 1, audited => 1,
      firm_column => 'id',    # its own row: firms has no firm_id
      policy => { select => 'true' },
      comment => "Law firms (tenants); every other table has firm_id, which references firms.id. Created by esqase_create_firm",
      common => [qw(created_at updated_at)],
      columns => [
          id => "The firm (firm_id in every other table; the API key decides it in the API)",
          name => "The firm's name",
      ] },
    { table => 'members',
      rls => 1, audited => 1,
      # a write-only key: the members of the matters and leads it names
      policy => { select => '{{may members:read}}',
                  refs => q{{{may matters:read}} OR {{may leads:read}} OR esqase.named_refers(firm_id, 'member', id)} },
      comment => "People of a firm who hold API keys (API: /v1/members); created by esqase_create_member, deactivated by setting deleted_at",
      common => [qw(firm_id id created_at updated_at)],
      columns => [
          name => "Full name (API: name)",
          email => "Login email, unique per firm in any case (API: email)",
          is_owner => "Owners hold every permission and see every private lead (API: isOwner)",
          permissions => "Extra permissions; practice_areas lets the member change practice areas and matter types (API: permissions)",
          deleted_at => "When the member was deactivated (API: status INACTIVE); NULL while active",
      ] },
    { table => 'api_keys',
      rls => 1, audited => 1,
      # last_used_at alone is bookkeeping: not an audited change
      audited_columns => 'name, scopes, revoked_at, expires_at, member_id, rotated_at',
      comment => "API keys: each belongs to a member and holds scopes; the secret itself is never stored. Created by esqase_create_api_key",
      common => [qw(firm_id id created_at)],
      columns => [
          member_id => "The member the key acts as (members.id)",
          name => "A label for the key, or NULL",
          prefix => "The public part of the token esq_<prefix>_<secret>, to find the key; not secret",
          secret_hash => "SHA-256 of the whole token; the token cannot be recovered from it",
          scopes => "What the key may do: contacts:read, matters:write, ... (docs/http-api.md)",
          updated_at => "When the key's name, scopes, member, revocation, expiry or secret last changed",
          last_used_at => "When a request last used the key (refreshed at most once a minute)",
          revoked_at => "When the key was revoked (esqase_revoke_api_key); NULL while valid",
          expires_at => "When the key stops working, or NULL for never (esqase_set_api_key_expiry)",
          rotated_at => "When the key last got a new secret (esqase_rotate_api_key), or NULL",
          previous_secret_hash => "SHA-256 of the token a rotation replaced, accepted until previous_valid_until",
          previous_valid_until => "When the token a rotation replaced stops working",
      ] },
    { table => 'contacts',
      rls => 1, audited => 1,
      policy => {
          select => '{{visible contacts}} AND {{reach contacts}}',
          write => 'contacts:write',
          row => '{{visible contacts}} AND {{reach contacts}} AND deleted_at IS NULL',
          # a lead's prospect is created with leads:write; emails of the
          # shape the API checks (not a table constraint: a restore of rows
          # stored before would fail on it)
          insert => '({{may contacts:write}} OR {{may leads:write}}) AND esqase.emails_ok(emails)',
          update => '{{new_row contacts}} AND esqase.emails_ok(emails)',
          # a matter's client; a visible lead's contact (esqase.lead_contact_shown)
          refs => '{{visible contacts}} AND ({{reach contacts}} OR ({{read matters}} AND EXISTS '
                . '(SELECT FROM esqase.matter_clients mc WHERE mc.firm_id = contacts.firm_id '
                . 'AND mc.contact_id = contacts.id)) OR ({{read leads}} AND esqase.lead_contact_shown(firm_id, id)))',
      },
      comment => "Contacts: people and companies (API: /v1/contacts); deleted ones stay, ARCHIVED, with deleted_at",
      common => [qw(firm_id id created_at updated_at deleted_at)],
      columns => [
          type => "PERSON or COMPANY; never changes (API: type)",
          status => "ACTIVE, or ARCHIVED once deleted (API: status)",
          prefix => "Person: name prefix such as Dr. (API: prefix)",
          first_name => "Person: first name (API: firstName)",
          middle_name => "Person: middle name (API: middleName)",
          last_name => "Person: last name (API: lastName)",
          suffix => "Person: name suffix such as Jr. (API: suffix)",
          nickname => "Person: nickname (API: nickname)",
          company_name => "Company: name (API: companyName)",
          trade_name => "Company: trade name (API: tradeName)",
          company_type => "Company: kind of company, free text (API: companyType)",
          emails => "Email addresses, the primary one first (API: emails; a lead's email)",
          phones => "Phone numbers (API: phones; a lead's phone)",
          name => "Display name, kept by a trigger: first, middle and last name of a person, the company name of a company (API: name)",
          search => "Full-text search document of the name, nickname, trade name, emails and phones, kept by a trigger (API: the q parameter of lists)",
          hidden_by_lead => "The private lead that created this contact as its prospect: the contact is then seen only by those who see that lead, until the firm uses it elsewhere or the lead is made public; else NULL",
      ] },
    { table => 'practice_areas',
      rls => 1, audited => 1,
      policy => {
          select => '{{reach practice-areas}}',
          write => 'practice-areas:write',
          row => '{{reach practice-areas}} AND deleted_at IS NULL',
          update => '{{new_row practice_areas}}',
          refs => q{{{may matters:read}} OR {{may leads:read}} OR esqase.named_refers(firm_id, 'practice_area', id)},
      },
      comment => "Practice areas (API: /v1/practice-areas), each with its stages and matter types; deleted ones stay, ARCHIVED",
      common => [qw(firm_id id created_at updated_at deleted_at)],
      columns => [
          name => "Name (API: name)",
          status => "ACTIVE, or ARCHIVED once deleted (API: status)",
      ] },
    { table => 'practice_area_stages',
      rls => 1, audited => 1,
      target => 'practice_area_id',
      policy => { select => '{{reach practice-areas}}',
                  refs => q{{{may matters:read}} OR esqase.named_refers(firm_id, 'stage', id)} },
      comment => "Stages (board columns) of a practice area: To do, In progress, Done to start with (API: practice area stages)",
      common => [qw(firm_id id created_at updated_at)],
      columns => [
          practice_area_id => "The practice area (practice_areas.id)",
          name => "Name (API: stages[].name)",
          type => "TODO, IN_PROGRESS or DONE (API: stages[].type)",
          order => "Position on the board, from 0 (API: stages[].order)",
      ] },
    { table => 'matter_types',
      rls => 1, audited => 1,
      policy => {
          select => '{{reach matter-types}}',
          write => 'matter-types:write',
          row => '{{reach matter-types}} AND deleted_at IS NULL',
          update => '{{new_row matter_types}}',
          # a practice area shows its live matter types; a matter shows its
          # own, even one deleted since
          # (a write-only key: of the practice areas and matters it names)
          refs => q{(esqase.context_reaches('practice-areas', practice_area_id, NULL) AND deleted_at IS NULL) }
                . q{OR {{may matters:read}} OR esqase.named_refers(firm_id, 'matter_type', id)},
      },
      comment => "Matter types of a practice area (API: /v1/matter-types); deleted ones stay, ARCHIVED",
      common => [qw(firm_id id created_at updated_at deleted_at)],
      columns => [
          practice_area_id => "The practice area (practice_areas.id; API: practiceAreaId)",
          name => "Name (API: name)",
          status => "ACTIVE, or ARCHIVED once deleted (API: status)",
      ] },
    { table => 'public_id_counters',
      # bookkeeping: the counts follow from the records the audit log records
      rls => 1,
      # the M counter follows matters, the L counter leads
      policy => { select => "(kind = 'M' AND {{may matters:write}}) OR (kind = 'L' AND {{may leads:write}})" },
      comment => "The last number handed out per firm for matters (M) and leads (L): M-0001, L-0001, ...",
      common => [qw(firm_id)],
      columns => [
          kind => "M for matters, L for leads",
          last_value => "The last number used; the next record gets one more",
      ] },
    { table => 'matters',
      rls => 1, audited => 1,
      policy => {
          select => '{{reach matters}}',
          write => 'matters:write',
          row => '{{reach matters}} AND deleted_at IS NULL',
          # numbered by the counter (esqase.next_public_id), as the API does
          insert => q{{{may matters:write}} AND public_id LIKE 'M-%' AND esqase.public_id_issued(firm_id, public_id)},
          update => '{{new_row matters}}',
      },
      comment => "Matters (cases) (API: /v1/matters); deleted ones stay, ARCHIVE, with deleted_at",
      common => [qw(firm_id id created_at updated_at deleted_at)],
      columns => [
          public_id => "Per-firm number shown to people: M-0001, ... (API: publicId)",
          title => q{Title, "Untitled matter" by default (API: title)},
          description => "Free text (API: description)",
          status => "ACTIVE, DRAFT or ARCHIVE; deleted matters are ARCHIVE (API: status)",
          open_date => "Date opened (API: openDate)",
          close_date => "Date closed, or NULL (API: closeDate)",
          sol_date => "Statute-of-limitations date, or NULL (API: solDate)",
          practice_area_id => "The practice area (practice_areas.id; API: practiceAreaId)",
          stage_id => "The stage within the practice area (practice_area_stages.id; API: practiceAreaStageColumnId)",
          matter_type_id => "The matter type (matter_types.id), or NULL (API: matterTypeId)",
          search => "Full-text search document of the public id, title and description, kept by a trigger (API: the q parameter of lists)",
      ] },
    { table => 'matter_clients',
      rls => 1, audited => 1,
      target => 'matter_id',
      policy => {
          select => '{{reach matters}}',
          write => 'matters:write',
          row => '{{reach matters}}',
          insert => '{{may matters:write}} AND esqase.contact_usable(firm_id, contact_id, false)',
      },
      comment => "The clients of each matter, in order (API: a matter's clientContactIds and clients)",
      common => [qw(firm_id id created_at updated_at)],
      columns => [
          matter_id => "The matter (matters.id)",
          contact_id => "The client (contacts.id; API: clientContactIds)",
          position => "Order of the clients, from 0 (the order of clientContactIds)",
          is_primary => "The primary client: the one at position 0",
          is_bill_recipient => "Receives the bills",
      ] },
    { table => 'matter_team',
      rls => 1, audited => 1,
      target => 'matter_id',
      policy => { select => '{{reach matters}}', write => 'matters:write', row => '{{reach matters}}' },
      comment => "The members working on each matter (API: a matter's team)",
      common => [qw(firm_id id created_at updated_at)],
      columns => [
          matter_id => "The matter (matters.id)",
          member_id => "The member (members.id; API: team[].memberId)",
          position => "Order of the team, from 0",
          role => "Role on the matter, free text (API: team[].role)",
          allocation => "Share of the work in percent, 0 to 100, or NULL (API: team[].allocation)",
      ] },
    { table => 'lead_stages',
      rls => 1, audited => 1,
      policy => { select => '{{read leads}}' },
      comment => "The firm's lead pipeline: New, Contacted, Consultation scheduled, Proposal sent",
      common => [qw(firm_id id created_at updated_at)],
      columns => [
          name => "Name of the stage",
          order => "Position in the pipeline, from 0",
      ] },
    { table => 'leads',
      rls => 1, audited => 1,
      policy => {
          select => '{{reach leads}} AND {{visible leads}}',
          write => 'leads:write',
          row => '{{visible leads}} AND {{reach leads}} AND deleted_at IS NULL',
          insert => q{{{may leads:write}} AND public_id LIKE 'L-%' AND esqase.public_id_issued(firm_id, public_id)},
          update => '{{visible leads}} AND {{new_row leads}}',
      },
      comment => "Leads (prospective clients) (API: /v1/leads); private ones are seen only by their assignees and the firm's owners; deleted ones stay, with deleted_at",
      common => [qw(firm_id id created_at updated_at deleted_at)],
      columns => [
          public_id => "Per-firm number shown to people: L-0001, ... (API: publicId)",
          status => "PENDING, WON or LOST (API: status)",
          value => "LOWEST, LOW, MEDIUM, HIGH, HIGHEST, or NULL (API: value)",
          is_private => "Seen only by its assignees and the firm's owners (API: isPrivate)",
          contact_id => "The prospect (contacts.id; API: contact)",
          practice_area_id => "The practice area (practice_areas.id), or NULL (API: practiceAreaId)",
          stage_id => "The pipeline stage (lead_stages.id; API: leadStageColumnId)",
      ] },
    { table => 'lead_assignees',
      rls => 1, audited => 1,
      # visible and writable where their lead is (a probe of the lead by
      # key), or while the lead is new in this transaction (its first
      # assignees)
      visible => 'esqase.context_is_owner() OR esqase.lead_shown(firm_id, lead_id) '
               . 'OR esqase.lead_new_here(firm_id, lead_id)',
      target => 'lead_id',
      policy => {
          select => '{{reach leads}} AND {{visible}}',
          write => 'leads:write',
          row => '{{visible}} AND {{reach leads}}',
          insert => '{{may leads:write}} AND {{visible}}',
          update => '{{visible}}',
          # a member does not take itself off a private lead (the API
          # refuses it: it would lose sight of the lead)
          delete => 'member_id IS DISTINCT FROM esqase.context_member() OR esqase.context_is_owner() '
                  . 'OR NOT EXISTS (SELECT FROM esqase.leads l WHERE l.firm_id = lead_assignees.firm_id '
                  . 'AND l.id = lead_assignees.lead_id AND l.is_private)',
      },
      comment => "The members assigned to each lead (API: a lead's assigneeIds and assignees)",
      common => [qw(firm_id id created_at updated_at)],
      columns => [
          lead_id => "The lead (leads.id)",
          member_id => "The member (members.id; API: assigneeIds)",
          position => "Order of the assignees, from 0 (the order of assigneeIds)",
      ] },
    { table => 'webhooks',
      rls => 1, audited => 1,
      # the worker's bookkeeping (failing_since) is no change of the webhook
      audited_columns => 'url, events, status, deleted_at',
      policy => {
          select => '{{reach webhooks}}',
          write => 'webhooks:write',
          row => '{{reach webhooks}} AND deleted_at IS NULL',
          # a webhook acts as the key that made it: no other key's reach
          insert => '{{may webhooks:write}} AND key_id = esqase.context_key()',
          update => '{{new_row webhooks}}',
      },
      comment => "Webhooks (API: /v1/webhooks): a firm's subscriptions to changes, posted to url by the delivery worker; deleted ones stay, with deleted_at",
      common => [qw(firm_id id created_at updated_at deleted_at)],
      columns => [
          url => "Where events are posted (API: url); https, and no private address unless esqase.webhook_allow_private",
          events => "The event types it receives: contacts.created, matters.updated, ... (API: events)",
          status => "ACTIVE, PAUSED (by PATCH) or DISABLED (deliveries failed for esqase.webhook_retry_window) (API: status)",
          key_id => "The API key that created it (api_keys.id): it delivers only what that key may read, and nothing once the key is revoked",
          failing_since => "When its oldest delivery still being retried first failed, or NULL",
      ] },
    { table => 'webhook_secrets',
      rls => 1,     # no policy, no grant: the delivery worker reads it
      comment => "Each webhook's signing secret (whsec_...), the key of its signatures' HMAC: kept as it is, since an HMAC needs it; shown once by the create, then read by the delivery worker only",
      common => [qw(firm_id created_at)],
      columns => [
          webhook_id => "The webhook (webhooks.id)",
          secret => "The secret",
      ] },
    { table => 'webhook_events',
      rls => 1,     # no policy: read by the delivery worker only
      comment => "The outbox: one row per change a listening webhook subscribed to, written in the transaction of the change (whatever the number of webhooks: the delivery worker fans it out); swept once delivered (esqase.webhook_retention)",
      common => [qw(firm_id id created_at)],
      columns => [
          seq => "Ascending in commit order for the changes of one record: a record's events are delivered in this order",
          type => "The event type: <resource>.created, .updated or .deleted (API: type)",
          record_id => "The record that changed",
          data => "The record as the API rendered it when the change committed, with deletedAt (API: data)",
          fanned_out => "Whether the delivery worker has made the event's deliveries, one per webhook listening then (esqase.webhook_fan_out)",
      ] },
    { table => 'webhook_deliveries',
      rls => 1,
      target => 'webhook_id',
      policy => { select => '{{reach webhooks}}' },
      comment => "One row per webhook and event: the state of its delivery and its last attempt (API: /v1/webhooks/{id}/deliveries)",
      common => [qw(firm_id created_at)],
      columns => [
          webhook_id => "The webhook (webhooks.id)",
          event_id => "The event (webhook_events.id; API: eventId and the Esqase-Event-Id header)",
          seq => "The event's seq",
          type => "The event type (API: type)",
          record_id => "The record that changed",
          state => "PENDING, DELIVERED (a 2xx), FAILED (retries ran out) or SKIPPED (the key may not read the record, or was revoked) (API: state)",
          attempts => "How many attempts were made (API: attempts)",
          next_attempt_at => "When the next attempt is due, while PENDING",
          last_attempt_at => "When the last attempt was made (API: attemptedAt)",
          last_status => "The HTTP status of the last attempt, or NULL (API: status)",
          last_error => "Why the last attempt failed, if it did: a timeout, a refused address, ... (API: error)",
          last_duration_ms => "How long the last attempt took, in milliseconds (API: durationMs)",
      ] },
    { table => 'audit_log',
      rls => 1,     # no policy: no row for the API role
      comment => "Every write to the firm's data, by the API or by hand; append-only",
      common => [qw(firm_id)],
      columns => [
          id => "Position in the log, ascending",
          at => "When the write happened",
          member_id => "The member whose API key made the write (members.id), or NULL",
          key_id => "The API key that made the write (api_keys.id), or NULL",
          db_role => "The database role that made the write",
          action => "INSERT, UPDATE or DELETE; a soft delete is a DELETE that has new_values",
          table_name => "The table written (of schema esqase)",
          record_id => "The id of the row written",
          old_values => "The row before the write, as JSON (key hashes and search documents left out), or NULL for an INSERT",
          new_values => "The row after the write, as JSON, or NULL for a removed link row",
          request_id => "The X-Request-Id of the HTTP request that made the write, or NULL",
      ] },
    { table => 'record_counts',
      rls => 1,
      # the counts of private leads, of hidden prospects and of all contacts
      # (hidden ones included) only to owners: a member's totals leave out
      # what it cannot see (esqase.contacts_public_total)
      policy => { select => q{{{count_scope}} AND (esqase.context_is_owner() }
                          . q{OR list NOT IN ('contacts', 'contacts_private', 'leads_private'))} },
      comment => "Live (not deleted) records per firm and list, kept by triggers, for the exact total of API lists; a firm's count is the sum of its slots",
      common => [qw(firm_id)],
      columns => [
          list => "contacts, matters, practice_areas, leads_public, leads_private, or contacts_private (the hidden prospects of private leads)",
          slot => "One of up to 16 rows a count is spread over, so that concurrent writers do not wait for each other",
          n => "This slot's share of the count (the sum over the slots is the count)",
      ] },
    { table => 'report_readers',
      columns => [
          role_name => "The role that reads schema esqase_report (by name, so that it survives a dump)",
          firm_id => "The firm it reads (firms.id), or NULL for every firm",
          private_leads => "Whether it also sees private leads and their prospects",
          granted_at => "When esqase_grant_reader last granted it",
      ] },
    { table => 'cursor_secret',
      comment => "The secret that signs list cursors (esqase.cursor_mac): not dumped, readable by its owner only; a restored database makes a new one",
      columns => [
          id => "Always true: the table has one row",
          ipad => "HMAC-SHA256's inner pad: the key (32 random bytes, zero-padded to 64) XOR 0x36",
          opad => "HMAC-SHA256's outer pad: the key XOR 0x5c",
          created_at => "When this secret was made (install, upgrade, restore or esqase.cursor_secret_new)",
      ] },
    { table => 'report_scope', view => 1,
      columns => [
          firm_id => "A firm the current role reads (firms.id)",
          private_leads => "Whether the current role sees that firm's private leads",
      ] },
    { table => 'api_key_list', view => 1,
      comment => "API keys without their hashes, with their member and status, for DBAs (no grant by default)",
      columns => [
          firm_id => "The firm of the key (firms.id)",
          id => "The key's id (api_keys.id): what the esqase_*_api_key* functions take instead of the token",
          member_id => "The member the key acts as (members.id)",
          member_name => "That member's name",
          name => "The key's label, or NULL",
          prefix => "The public part of the token esq_<prefix>_<secret> (also in the request log as key=)",
          scopes => "What the key may do (esqase_set_api_key_scopes, _add_, _remove_)",
          status => "ACTIVE, REVOKED or EXPIRED, now",
          created_at => "When the key was created",
          updated_at => "When its name, scopes, member, revocation, expiry or secret last changed",
          last_used_at => "When a request last used the key (refreshed at most once a minute), or NULL",
          expires_at => "When the key stops working, or NULL for never",
          revoked_at => "When the key was revoked, or NULL",
          rotated_at => "When the key last got a new secret, or NULL",
          previous_valid_until => "Until when the secret the last rotation replaced still works, or NULL",
      ] },
    { table => 'contact_refs', view => 1,
      comment => "Contacts as matters (clients) and leads (their contact) show them: id and name, for the keys that read those records",
      common => [qw(firm_id id)],
      columns => [
          name => "Its name, as the records that refer to it show it (API: name)",
      ] },
    { table => 'practice_area_refs', view => 1,
      comment => "Practice areas as matters and leads show them: id and name",
      common => [qw(firm_id id)],
      columns => [
          name => "Its name, as the records that refer to it show it (API: name)",
      ] },
    { table => 'practice_area_stage_refs', view => 1,
      comment => "Practice area stages as matters show them: id and name",
      common => [qw(firm_id id)],
      columns => [
          name => "Its name, as the records that refer to it show it (API: name)",
      ] },
    { table => 'matter_type_refs', view => 1,
      comment => "Matter types as matters and practice areas show them: id and name, with their practice area, whether they are live and their order",
      common => [qw(firm_id id)],
      columns => [
          name => "Its name, as the records that refer to it show it (API: name)",
          practice_area_id => "The practice area (practice_areas.id)",
          live => "Not deleted: a practice area shows its live matter types only",
          created_at => "When it was made: a practice area lists its matter types oldest first",
      ] },
    { table => 'member_refs', view => 1,
      comment => "Members as matters (team) and leads (assignees) show them: id and name",
      common => [qw(firm_id id)],
      columns => [
          name => "Its name, as the records that refer to it show it (API: name)",
      ] },
    { table => 'http_stats', view => 1,
      comment => "HTTP requests answered, per route, method and status, by all workers since the server started or esqase.http_stats_reset() (docs/http-api.md)",
      columns => [
          route => "The route: /v1/contacts, /v1/contacts/{id}, ..., or other",
          method => "The HTTP method",
          status => "The HTTP status answered (NULL: one missing from the list of statuses esqase answers, a bug)",
          requests => "How many requests",
      ] },
    { table => 'http_latency', view => 1,
      comment => "Latency histogram of HTTP requests, cumulative as in Prometheus, since the server started or esqase.http_stats_reset() (docs/http-api.md)",
      columns => [
          route => "The route: /v1/contacts, /v1/contacts/{id}, ..., or other",
          method => "The HTTP method",
          le_ms => "Upper bound in milliseconds from the request's headers to its answer (NULL: every request)",
          requests => "How many requests were answered within le_ms",
      ] },
    { table => 'idempotency_keys',
      common => [qw(firm_id)],
    },
],

report_common => {
    firm_id => 'The firm (firms.id)',
    id => "The record's id (the API's id)",
    name => 'Name',
    created_at => 'When the record was created',
    updated_at => 'When the record last changed',
    deleted_at => 'When the record was deleted (the API no longer shows it); NULL while live',
},

report_views => [
    { table => 'firms',
      comment => "Law firms (tenants); every other view joins on firm_id",
      common => [qw(name created_at updated_at)],
      columns => [
          id => "The firm (firm_id in every other view)",
      ] },
    { table => 'members',
      comment => "Members (users) of each firm; deactivated ones have deleted_at set",
      common => [qw(firm_id name created_at updated_at)],
      columns => [
          id => "The member (API: members id, team memberId, assigneeIds)",
          email => "Login email, unique per firm",
          is_owner => "Owners hold every permission and see every private lead",
          permissions => "Extra permissions: practice_areas (practice areas and matter types)",
          deleted_at => "When the member was deactivated (API status INACTIVE); NULL while active",
      ] },
    { table => 'contacts',
      comment => "Contacts (people and companies), archived ones included; a private lead's prospect only for readers granted private leads",
      common => [qw(firm_id id created_at updated_at deleted_at)],
      columns => [
          type => "PERSON or COMPANY; never changes",
          status => "ACTIVE, or ARCHIVED once deleted",
          name => "Display name: first, middle and last name of a person, company name of a company",
          prefix => "Person: name prefix",
          first_name => "Person: first name",
          middle_name => "Person: middle name",
          last_name => "Person: last name",
          suffix => "Person: name suffix",
          nickname => "Person: nickname",
          company_name => "Company: name",
          trade_name => "Company: trade name",
          company_type => "Company: type of company",
          emails => "Email addresses, primary first",
          primary_email => "The first email, or NULL",
          phones => "Phone numbers",
          private_lead_id => "The private lead that created this contact while it stays hidden with the lead; else NULL",
      ] },
    { table => 'practice_areas',
      comment => "Practice areas, archived ones included",
      common => [qw(firm_id id name created_at updated_at deleted_at)],
      columns => [
          status => "ACTIVE, or ARCHIVED once deleted",
      ] },
    { table => 'practice_area_stages',
      comment => "Stages (board columns) of each practice area: the stage of a matter",
      common => [qw(firm_id id name created_at updated_at)],
      columns => [
          practice_area_id => "The practice area the stage belongs to",
          type => "TODO, IN_PROGRESS or DONE",
          sort_order => "Position of the stage on the board, from 0 (API: order)",
      ] },
    { table => 'matter_types',
      comment => "Matter types of each practice area, archived ones included",
      common => [qw(firm_id id name created_at updated_at deleted_at)],
      columns => [
          practice_area_id => "The practice area the type belongs to",
          status => "ACTIVE, or ARCHIVED once deleted",
      ] },
    { table => 'matters',
      comment => "Matters (cases), archived ones included",
      common => [qw(firm_id id created_at updated_at deleted_at)],
      columns => [
          public_id => "Per-firm number shown to people: M-0001, M-0002, ...",
          title => q{Title ("Untitled matter" by default)},
          description => "Free text",
          status => "ACTIVE, DRAFT or ARCHIVE (deleted matters are ARCHIVE)",
          open_date => "Date opened",
          close_date => "Date closed, or NULL",
          sol_date => "Statute-of-limitations date, or NULL",
          practice_area_id => "The practice area (practice_areas.id)",
          stage_id => "The stage within the practice area (practice_area_stages.id; API: practiceAreaStageColumnId)",
          matter_type_id => "The matter type (matter_types.id), or NULL",
      ] },
    { table => 'matter_clients',
      comment => "Clients of each matter, in order",
      common => [qw(firm_id created_at)],
      columns => [
          matter_id => "The matter (matters.id)",
          contact_id => "The client (contacts.id)",
          position => "Order of the clients, from 0",
          is_primary => "The primary client (position 0)",
          is_bill_recipient => "Receives the bills (the primary client)",
      ] },
    { table => 'matter_team',
      comment => "Members working on each matter",
      common => [qw(firm_id created_at)],
      columns => [
          matter_id => "The matter (matters.id)",
          member_id => "The member (members.id)",
          position => "Order of the team, from 0",
          role => "Role on the matter, free text",
          allocation => "Share of the work in percent (0-100), or NULL",
      ] },
    { table => 'lead_stages',
      comment => "The firm's lead pipeline stages",
      common => [qw(firm_id id name created_at updated_at)],
      columns => [
          sort_order => "Position in the pipeline, from 0",
      ] },
    { table => 'leads',
      comment => "Leads (prospective clients), deleted ones included; private leads only for readers granted them",
      common => [qw(firm_id id created_at updated_at deleted_at)],
      columns => [
          public_id => "Per-firm number shown to people: L-0001, L-0002, ...",
          status => "PENDING, WON or LOST",
          value => "LOWEST, LOW, MEDIUM, HIGH, HIGHEST or NULL",
          value_rank => "value as a number to sort by: 1 (LOWEST) to 5 (HIGHEST), NULL without a value",
          is_private => "Visible in the API only to its assignees and the firm's owners",
          contact_id => "The prospect (contacts.id)",
          practice_area_id => "The practice area (practice_areas.id), or NULL",
          stage_id => "The pipeline stage (lead_stages.id; API: leadStageColumnId)",
      ] },
    { table => 'lead_assignees',
      comment => "Members assigned to each lead (of the leads the reader sees)",
      common => [qw(firm_id created_at)],
      columns => [
          lead_id => "The lead (leads.id)",
          member_id => "The member (members.id)",
          position => "Order of the assignees, from 0",
      ] },
    { table => 'audit_log',
      comment => "Every write to the firm's data, append-only; rows of private leads and their prospects only for readers granted them",
      common => [qw(firm_id)],
      columns => [
          id => "Position in the log (ascending within a firm)",
          at => "When the write happened",
          member_id => "The member whose API key made the write, or NULL",
          key_id => "The API key that made the write, or NULL",
          db_role => "The database role that made the write",
          action => "INSERT, UPDATE or DELETE (a soft delete is a DELETE with new_values)",
          table_name => "The table written: contacts, matters, leads, ... (names of schema esqase)",
          record_id => "The id of the row written",
          old_values => "The row before the write (table columns), or NULL for an INSERT",
          new_values => "The row after the write, or NULL for a removed link row",
      ] },
],
}
