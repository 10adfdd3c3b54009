
-------------------------------------------------------------------------------
-- 95 Guards (safe failure modes): DROP EXTENSION esqase deletes every table
-- in schema esqase, so every firm's data and the audit log.  This event
-- trigger refuses a DROP that would drop the extension (DROP EXTENSION,
-- DROP SCHEMA <its schema> CASCADE, DROP OWNED BY its owner) while any firm
-- exists, unless the session has SET esqase.allow_drop = on (src/guards.c,
-- docs/operations.md).  It is a member of the extension, so it goes with
-- it; pg_dump leaves members out, so restores do not see it twice.
-- ENABLE ALWAYS: it fires under session_replication_role = replica too.
-------------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION esqase.guard_drop() RETURNS event_trigger
    AS 'MODULE_PATHNAME', 'esqase_guard_drop' LANGUAGE C;

-- An event trigger has no CREATE OR REPLACE: made again on every upgrade.
DROP EVENT TRIGGER IF EXISTS esqase_guard_drop;
CREATE EVENT TRIGGER esqase_guard_drop ON ddl_command_start
    WHEN TAG IN ('DROP EXTENSION', 'DROP SCHEMA', 'DROP OWNED')
    EXECUTE FUNCTION esqase.guard_drop();
ALTER EVENT TRIGGER esqase_guard_drop ENABLE ALWAYS;

COMMENT ON EVENT TRIGGER esqase_guard_drop IS
    'Refuses to drop extension esqase while firms exist, unless esqase.allow_drop is on';
