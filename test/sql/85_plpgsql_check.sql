-- plpgsql_check over every PL/pgSQL function of the extension: no errors,
-- no warnings (the checker's defaults: fatal errors, other and extra
-- warnings).  Trigger functions are checked against each table they are
-- attached to, with the transition tables their triggers declare.
CREATE EXTENSION plpgsql_check;

CREATE TEMP TABLE esq_plpgsql AS
SELECT p.oid::regprocedure AS fn, p.prorettype = 'trigger'::regtype AS is_trigger
  FROM pg_proc p
  JOIN pg_language l ON l.oid = p.prolang AND l.lanname = 'plpgsql'
  JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'esqase';

-- Every function is checked: the ordinary ones, and each trigger function
-- on at least one table.
SELECT count(*) > 60 AS functions, count(*) FILTER (WHERE is_trigger) AS trigger_functions,
       count(*) FILTER (WHERE is_trigger AND NOT EXISTS (SELECT FROM pg_trigger g WHERE g.tgfoid = fn))
           AS unattached_triggers
  FROM esq_plpgsql;

SELECT f.fn, r.lineno, r.level, r.message
  FROM esq_plpgsql f
 CROSS JOIN LATERAL plpgsql_check_function_tb(f.fn) r
 WHERE NOT f.is_trigger
UNION ALL
SELECT DISTINCT t.fn, r.lineno, r.level, r.message
  FROM (SELECT f.fn, g.tgrelid, bool_or(g.tgoldtable IS NOT NULL) AS has_old,
               bool_or(g.tgnewtable IS NOT NULL) AS has_new
          FROM esq_plpgsql f JOIN pg_trigger g ON g.tgfoid = f.fn AND NOT g.tgisinternal
         WHERE f.is_trigger GROUP BY 1, 2) t
 CROSS JOIN LATERAL plpgsql_check_function_tb(t.fn, t.tgrelid,
                                              oldtable => CASE WHEN t.has_old THEN 'old_rows' END,
                                              newtable => CASE WHEN t.has_new THEN 'new_rows' END) r
 ORDER BY 1, 2;

-- The checker finds what it should: a deliberately broken function.
CREATE FUNCTION pg_temp.broken() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM esqase.no_such_function();
END
$$;
SELECT level, message FROM plpgsql_check_function_tb('pg_temp.broken()');
DROP EXTENSION plpgsql_check;
