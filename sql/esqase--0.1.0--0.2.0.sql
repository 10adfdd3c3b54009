-- esqase 0.1.0 -> 0.2.0.  Run by ALTER EXTENSION esqase UPDATE, after the
-- 0.2.0 library is installed and the server restarted (docs/operations.md).
-- test/t/091_upgrade.pl checks that 0.1.0 + this script gives the same
-- catalog as a fresh 0.2.0 install.
\echo Use "ALTER EXTENSION esqase UPDATE TO '0.2.0'" to load this file. \quit

-- 95 guards (safe failure modes)
CREATE FUNCTION esqase.guard_drop() RETURNS event_trigger
    AS 'MODULE_PATHNAME', 'esqase_guard_drop' LANGUAGE C;

CREATE EVENT TRIGGER esqase_guard_drop ON ddl_command_start
    WHEN TAG IN ('DROP EXTENSION', 'DROP SCHEMA', 'DROP OWNED')
    EXECUTE FUNCTION esqase.guard_drop();
ALTER EVENT TRIGGER esqase_guard_drop ENABLE ALWAYS;

COMMENT ON EVENT TRIGGER esqase_guard_drop IS
    'Refuses to drop extension esqase while firms exist, unless esqase.allow_drop is on';
