-------------------------------------------------------------------------------
-- After the code of 0.3.0: data that the new code computes.
-------------------------------------------------------------------------------

-- Phones are searchable by their digits (esqase.phone_keys): every
-- contact's search document is computed again.  Triggers are off for this
-- one statement (session_replication_role = replica): it changes no field
-- of the API, so it must not touch updated_at, write audit rows or move the
-- record counts.
SELECT pg_catalog.set_config('session_replication_role', 'replica', true);
UPDATE esqase.contacts c SET search = esqase.contact_search(c)
 WHERE search IS DISTINCT FROM esqase.contact_search(c);
SELECT pg_catalog.set_config('session_replication_role', 'origin', true);

-- 0.2.0's single-record functions, renamed by the migration: the code has
-- made their esqase.answer successors and pointed the wrappers at them.
DO $$
DECLARE
    f regprocedure;
BEGIN
    FOR f IN
        SELECT p.oid::regprocedure FROM pg_catalog.pg_proc p
         WHERE p.pronamespace = 'esqase'::regnamespace AND p.proname LIKE '%\_0\_2\_0'
    LOOP
        EXECUTE format('DROP FUNCTION %s', f);
    END LOOP;
END
$$;
