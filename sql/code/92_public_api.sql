
-------------------------------------------------------------------------------
-- 92 The public SQL API: esqase_<resource>_<action>, in the extension's
-- schema, taking and returning jsonb (design.md).  Each is a one-line SQL
-- wrapper, inlined by PostgreSQL, over the json function of the resource's
-- file (esqase.<resource>_<action>), which the HTTP worker calls directly
-- so that responses keep the API page's field order.  Generated here:
--
--   esqase_contacts_{list,create,get,update,delete}
--   esqase_matters_{list,create,get,update,delete}
--   esqase_leads_{list,create,get,update,delete}
--   esqase_practice_areas_{list,create,get,update,delete}
--   esqase_matter_types_{list,create,get,update,delete}
--   esqase_members_{list,get}                 (members are read-only)
--   esqase_{contacts,matters,leads,practice_areas,matter_types}_create_many
--                                             (38_create_many.sql)
--
-- Every create takes an optional idempotency key (15_idempotency.sql):
-- esqase_<resource>_create(body jsonb, idempotency_key text DEFAULT NULL);
-- update and delete the version the caller read (36_records.sql):
-- expected_updated_at timestamptz DEFAULT NULL.
-------------------------------------------------------------------------------

DO $$
DECLARE
    r text;
    -- action, arguments, call arguments, volatility
    a text[];
BEGIN
    FOREACH r IN ARRAY ARRAY['contacts', 'matters', 'leads', 'practice_areas', 'matter_types', 'members'] LOOP
        FOREACH a SLICE 1 IN ARRAY ARRAY[
                ['list', 'params jsonb DEFAULT ''{}''', 'params', 'STABLE'],
                ['create', 'body jsonb, idempotency_key text DEFAULT NULL', 'body, idempotency_key', 'VOLATILE'],
                ['get', 'id uuid', 'id', 'STABLE'],
                ['update', 'id uuid, body jsonb, expected_updated_at timestamptz DEFAULT NULL',
                 'id, body, expected_updated_at', 'VOLATILE'],
                ['delete', 'id uuid, expected_updated_at timestamptz DEFAULT NULL', 'id, expected_updated_at',
                 'VOLATILE'],
                ['create_many', 'bodies jsonb', 'bodies', 'VOLATILE']] LOOP
            CONTINUE WHEN r = 'members' AND a[1] NOT IN ('list', 'get');
            EXECUTE format('CREATE OR REPLACE FUNCTION %I(%s) RETURNS jsonb LANGUAGE sql %s RETURN esqase.%I(%s)::jsonb',
                           'esqase_' || r || '_' || a[1], a[2], a[4], r || '_' || a[1], a[3]);
        END LOOP;
    END LOOP;
END
$$;
