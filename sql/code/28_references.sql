
-------------------------------------------------------------------------------
-- 28 References: what a record shows of the records it refers to.  A matter
-- shows its practice area, stage, matter type, clients and team members, a
-- lead its contact, practice area and assignees, a practice area its matter
-- types, each as {"id", "name"} and nothing more.  A key that may read a
-- matter but not contacts must therefore see, in SQL too, a client's id and
-- name and not its emails or phones (issue 17, item 4).
--
-- Row-level security has no column rule, so a table is readable, all its
-- columns, only with the scopes of its own resource (90_security.sql); the
-- records that refer to it read it through one of these views, which show
-- the referring records' columns only.  The renderers (matter_docs,
-- lead_docs, practice_area_docs) and the leads list read the views; so may
-- a member's own SQL.
--
-- A view reads its table with the privileges and under the policies of its
-- owner, esqase_refs: a role that logs in nowhere, holds SELECT on these
-- tables and nothing else, and has policies of its own (90_security.sql,
-- "<table>_refs") that let it see the rows the referring scopes reach: a
-- contact that is a matter's client (matters:read or :write) or a visible
-- lead's contact (leads:read or :write), never a hidden prospect; the
-- practice areas, stages, matter types and members of the firm for the
-- scopes whose records name them.  The policies of the API role apply to
-- esqase_refs too (they are for every role), so a key also sees through a
-- view what it may read in the table itself.
--
-- The views have no WHERE clause of their own: every row rule is a policy,
-- and policies run before any condition of the query that is not
-- leakproof, so they need no security_barrier.  Without one they are
-- merged into the query that reads them: a renderer's join to a view is
-- the same index scan as a join to its table.
-------------------------------------------------------------------------------

-- Roles belong to the whole cluster: made only if missing, and kept after
-- DROP EXTENSION (as esqase_api is).
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'esqase_refs') THEN
        CREATE ROLE esqase_refs NOLOGIN NOSUPERUSER NOBYPASSRLS NOINHERIT;
    END IF;
END
$$;

-- Whether the contact is the contact of a lead the API context sees (with
-- leads scopes).  Not SECURITY DEFINER: it reads leads under their own
-- policies, which ask the leads scopes and whether the lead is visible.  The
-- contacts_refs policy calls it per row, and only for a key that cannot
-- read contacts itself nor see the contact as a matter's client: as a
-- sub-select of the policy, the leads' scan and its own policies' sub-selects
-- were set up by every statement that read esqase.contact_refs, whatever the
-- key.
CREATE OR REPLACE FUNCTION esqase.lead_contact_shown(firm uuid, contact uuid) RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN EXISTS (SELECT FROM esqase.leads l WHERE l.firm_id = firm AND l.contact_id = contact);
END
$$;

-- Whether a record the context named (esqase.target) refers to the
-- member, practice area, stage or matter type ref (kind): what a key with
-- matters:write or leads:write but not their read scope sees of those, the
-- references of the records it writes, as a PATCH shows them; it lists no
-- others (docs/sql-api.md, "Write-only keys").  The reference policies ask
-- it only of such a key.  Not SECURITY DEFINER: the records are read under
-- their own policies, which show a write-only key the rows it named; by
-- the named ids, a few probes by key.
CREATE OR REPLACE FUNCTION esqase.named_refers(firm uuid, kind text, ref uuid) RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
DECLARE
    matters boolean := esqase.context_may('matters:write');
    leads boolean := esqase.context_may('leads:write');
BEGIN
    IF NOT (matters OR leads) THEN
        RETURN false;
    END IF;
    CASE kind
    WHEN 'member' THEN
        RETURN (matters AND EXISTS (SELECT FROM esqase.matter_team t
                                     WHERE t.firm_id = firm AND t.matter_id = ANY (esqase.context_targets())
                                       AND t.member_id = ref))
            OR (leads AND EXISTS (SELECT FROM esqase.lead_assignees a
                                   WHERE a.firm_id = firm AND a.lead_id = ANY (esqase.context_targets())
                                     AND a.member_id = ref));
    WHEN 'practice_area' THEN
        RETURN (matters AND EXISTS (SELECT FROM esqase.matters m
                                     WHERE m.firm_id = firm AND m.id = ANY (esqase.context_targets())
                                       AND m.practice_area_id = ref))
            OR (leads AND EXISTS (SELECT FROM esqase.leads l
                                   WHERE l.firm_id = firm AND l.id = ANY (esqase.context_targets())
                                     AND l.practice_area_id = ref));
    WHEN 'stage' THEN
        RETURN matters AND EXISTS (SELECT FROM esqase.matters m
                                    WHERE m.firm_id = firm AND m.id = ANY (esqase.context_targets())
                                      AND m.stage_id = ref);
    WHEN 'matter_type' THEN
        RETURN matters AND EXISTS (SELECT FROM esqase.matters m
                                    WHERE m.firm_id = firm AND m.id = ANY (esqase.context_targets())
                                      AND m.matter_type_id = ref);
    ELSE
        RETURN false;
    END CASE;
END
$$;

CREATE OR REPLACE VIEW esqase.contact_refs AS
SELECT c.firm_id, c.id, c.name FROM esqase.contacts c;

CREATE OR REPLACE VIEW esqase.practice_area_refs AS
SELECT p.firm_id, p.id, p.name FROM esqase.practice_areas p;

CREATE OR REPLACE VIEW esqase.practice_area_stage_refs AS
SELECT s.firm_id, s.id, s.name FROM esqase.practice_area_stages s;

-- A practice area shows its live matter types, oldest first: their area,
-- whether they are live and when they were made (the order) come with them.
CREATE OR REPLACE VIEW esqase.matter_type_refs AS
SELECT t.firm_id, t.id, t.practice_area_id, t.name, t.deleted_at IS NULL AS live, t.created_at
  FROM esqase.matter_types t;

CREATE OR REPLACE VIEW esqase.member_refs AS
SELECT m.firm_id, m.id, m.name FROM esqase.members m;

ALTER VIEW esqase.contact_refs OWNER TO esqase_refs;
ALTER VIEW esqase.practice_area_refs OWNER TO esqase_refs;
ALTER VIEW esqase.practice_area_stage_refs OWNER TO esqase_refs;
ALTER VIEW esqase.matter_type_refs OWNER TO esqase_refs;
ALTER VIEW esqase.member_refs OWNER TO esqase_refs;

-- Their comments are with every other table's and view's, in the tables
-- of sql/registry.pl (97_comments.sql).
