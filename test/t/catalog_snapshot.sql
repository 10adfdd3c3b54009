-- catalog_snapshot.sql — what the extension esqase put in this database, as
-- sorted text lines (one object or property a line, names only, no OIDs).
-- test/t/091_upgrade.pl runs it in an upgraded and in a freshly installed
-- database and compares the lines: after ALTER EXTENSION esqase UPDATE the
-- catalog must equal a fresh install of the same version.
--
-- Covered: the extension (version, schema, dump configuration), every member
-- of the extension (pg_describe_object), and in schema esqase plus the
-- extension's members elsewhere: relations, columns (and their order),
-- constraints, indexes, sequences, views, types, functions, row-level
-- security and policies, grants (ACLs exploded, NULL read as the default),
-- triggers, rules, comments on every object and column, event triggers.
-- Objects not created by the extension (OIDs below 16384 come with initdb)
-- are left out; the OIDs are used to filter, never printed.
WITH
ext AS (
    SELECT e.* FROM pg_extension e WHERE e.extname = 'esqase'
),
-- Every object of the extension, and everything in schema esqase.
members AS (
    SELECT d.classid, d.objid, d.objsubid
      FROM pg_depend d, ext
     WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = ext.oid
       AND d.deptype = 'e'
),
rels AS (
    SELECT c.*, n.nspname, format('%I.%I', n.nspname, c.relname) AS qname
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = 'esqase'
        OR (c.oid IN (SELECT objid FROM members WHERE classid = 'pg_class'::regclass))
),
procs AS (
    SELECT p.*,
           format('%I.%I(%s)', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid)) AS qname
      FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
     WHERE n.nspname = 'esqase'
        OR p.oid IN (SELECT objid FROM members WHERE classid = 'pg_proc'::regclass)
),
types AS (
    SELECT t.*, format('%I.%I', n.nspname, t.typname) AS qname
      FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
     WHERE (n.nspname = 'esqase'
            OR t.oid IN (SELECT objid FROM members WHERE classid = 'pg_type'::regclass))
       -- a table's row type and array types follow from their table / element
       AND t.typrelid = 0 AND t.typelem = 0
),
acl AS (
    -- grantee, privilege, grantable; an ACL left NULL is its default.
    SELECT 'schema ' || quote_ident(n.nspname) AS obj, a.*
      FROM pg_namespace n, aclexplode(coalesce(n.nspacl, acldefault('n', n.nspowner))) a
     WHERE n.nspname = 'esqase'
    UNION ALL
    SELECT CASE WHEN r.relkind = 'S' THEN 'sequence ' ELSE 'relation ' END || r.qname, a.*
      FROM rels r,
           aclexplode(coalesce(r.relacl, acldefault(CASE WHEN r.relkind = 'S' THEN 's' ELSE 'r' END::"char",
                                                     r.relowner))) a
     WHERE r.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
    UNION ALL
    SELECT format('column %s.%I', r.qname, att.attname), a.*
      FROM rels r JOIN pg_attribute att ON att.attrelid = r.oid,
           aclexplode(att.attacl) a
     WHERE att.attnum > 0 AND NOT att.attisdropped AND att.attacl IS NOT NULL
    UNION ALL
    SELECT 'function ' || p.qname, a.*
      FROM procs p, aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
    UNION ALL
    SELECT 'type ' || t.qname, a.*
      FROM types t, aclexplode(coalesce(t.typacl, acldefault('T', t.typowner))) a
),
lines AS (
    -- the extension
    SELECT format('extension: %s version %s schema %s relocatable %s',
                  e.extname, e.extversion, e.extnamespace::regnamespace, e.extrelocatable) AS line
      FROM ext e
    UNION ALL
    -- pg_dump configuration: the tables and sequences dumped, with their conditions
    SELECT format('dump config: %s condition %L', c.cfg::regclass, cond.cond)
      FROM ext e,
           unnest(e.extconfig) WITH ORDINALITY AS c(cfg, i)
           LEFT JOIN unnest(e.extcondition) WITH ORDINALITY AS cond(cond, i) USING (i)
    UNION ALL
    -- membership
    SELECT 'member: ' || pg_describe_object(m.classid, m.objid, m.objsubid)
      FROM members m
    UNION ALL
    -- schemas
    SELECT format('schema: %I owner %s', n.nspname, pg_get_userbyid(n.nspowner))
      FROM pg_namespace n WHERE n.nspname = 'esqase'
    UNION ALL
    -- relations
    SELECT format('relation: %s kind %s persistence %s owner %s rls %s force_rls %s replident %s options %s partitioned %s',
                  r.qname, r.relkind, r.relpersistence, pg_get_userbyid(r.relowner),
                  r.relrowsecurity, r.relforcerowsecurity, r.relreplident, r.reloptions,
                  r.relispartition)
      FROM rels r WHERE r.relkind <> 'i'
    UNION ALL
    -- columns, each on its own line, and each table's column order on one line
    SELECT format('column: %s.%I type %s not_null %s default %s identity %s generated %s collation %s statistics %s storage %s',
                  r.qname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
                  pg_get_expr(ad.adbin, ad.adrelid), nullif(a.attidentity, ''),
                  nullif(a.attgenerated, ''),
                  CASE WHEN a.attcollation <> t.typcollation THEN a.attcollation::regcollation::text END,
                  a.attstattarget, a.attstorage)
      FROM rels r
      JOIN pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
      JOIN pg_type t ON t.oid = a.atttypid
      LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
     WHERE r.relkind IN ('r', 'p', 'v', 'm', 'f', 'c')
    UNION ALL
    SELECT format('column order: %s (%s)', r.qname,
                  string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum))
      FROM rels r
      JOIN pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
     WHERE r.relkind IN ('r', 'p', 'v', 'm', 'f', 'c')
     GROUP BY r.qname
    UNION ALL
    -- constraints of tables and domains
    SELECT format('constraint: %s %I %s deferrable %s deferred %s validated %s',
                  coalesce(r.qname, t.qname), co.conname, pg_get_constraintdef(co.oid),
                  co.condeferrable, co.condeferred, co.convalidated)
      FROM pg_constraint co
      LEFT JOIN rels r ON r.oid = co.conrelid
      LEFT JOIN types t ON t.oid = co.contypid
     WHERE r.oid IS NOT NULL OR t.oid IS NOT NULL
    UNION ALL
    -- indexes
    SELECT format('index: %s%s', pg_get_indexdef(i.indexrelid),
                  CASE WHEN NOT i.indisvalid THEN ' INVALID' ELSE '' END
                  || CASE WHEN i.indisclustered THEN ' CLUSTERED' ELSE '' END
                  || CASE WHEN i.indisreplident THEN ' REPLICA IDENTITY' ELSE '' END)
      FROM pg_index i JOIN rels r ON r.oid = i.indrelid
    UNION ALL
    -- sequences (their definition, not their current value) and their owner column
    SELECT format('sequence: %s type %s start %s increment %s min %s max %s cache %s cycle %s owned by %s',
                  r.qname, format_type(s.seqtypid, NULL), s.seqstart, s.seqincrement, s.seqmin,
                  s.seqmax, s.seqcache, s.seqcycle,
                  (SELECT format('%s.%I %s', d.refobjid::regclass, a.attname, d.deptype)
                     FROM pg_depend d
                     JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
                    WHERE d.classid = 'pg_class'::regclass AND d.objid = r.oid
                      AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')))
      FROM rels r JOIN pg_sequence s ON s.seqrelid = r.oid
    UNION ALL
    -- views and materialized views
    SELECT format('view: %s %s', r.qname, regexp_replace(pg_get_viewdef(r.oid), '\s+', ' ', 'g'))
      FROM rels r WHERE r.relkind IN ('v', 'm')
    UNION ALL
    -- rules other than a view's own
    SELECT format('rule: %s', pg_get_ruledef(ru.oid))
      FROM pg_rewrite ru JOIN rels r ON r.oid = ru.ev_class
     WHERE ru.rulename <> '_RETURN'
    UNION ALL
    -- types of their own (enums, domains, composites, ranges)
    SELECT format('type: %s kind %s owner %s base %s not_null %s default %s labels %s',
                  t.qname, t.typtype, pg_get_userbyid(t.typowner),
                  CASE WHEN t.typbasetype <> 0 THEN format_type(t.typbasetype, t.typtypmod) END,
                  t.typnotnull, t.typdefault,
                  (SELECT string_agg(quote_literal(en.enumlabel), ', ' ORDER BY en.enumsortorder)
                     FROM pg_enum en WHERE en.enumtypid = t.oid))
      FROM types t
    UNION ALL
    -- functions and procedures: signature, properties, and a hash of the body
    SELECT format('function: %s kind %s returns %s args (%s) language %s volatility %s strict %s '
                  'parallel %s security_definer %s leakproof %s cost %s rows %s config %s owner %s '
                  'probin %s body_md5 %s',
                  p.qname, p.prokind, pg_get_function_result(p.oid),
                  pg_get_function_arguments(p.oid), l.lanname, p.provolatile, p.proisstrict,
                  p.proparallel, p.prosecdef, p.proleakproof, p.procost, p.prorows,
                  p.proconfig, pg_get_userbyid(p.proowner), p.probin,
                  md5(coalesce(pg_get_function_sqlbody(p.oid), p.prosrc)))
      FROM procs p JOIN pg_language l ON l.oid = p.prolang
    UNION ALL
    -- row-level security policies
    SELECT format('policy: %s %I %s %s to %s using %s with check %s',
                  r.qname, po.polname, CASE WHEN po.polpermissive THEN 'permissive' ELSE 'restrictive' END,
                  po.polcmd,
                  (SELECT string_agg(CASE WHEN ro = 0 THEN 'public' ELSE quote_ident(pg_get_userbyid(ro)) END,
                                     ', ' ORDER BY pg_get_userbyid(ro))
                     FROM unnest(po.polroles) ro),
                  pg_get_expr(po.polqual, po.polrelid), pg_get_expr(po.polwithcheck, po.polrelid))
      FROM pg_policy po JOIN rels r ON r.oid = po.polrelid
    UNION ALL
    -- grants
    SELECT format('grant: %s to %s: %s%s by %s', a.obj,
                  CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(a.grantee)) END,
                  a.privilege_type, CASE WHEN a.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END,
                  quote_ident(pg_get_userbyid(a.grantor)))
      FROM acl a
    UNION ALL
    -- triggers (the internal ones of foreign keys follow from the constraints)
    SELECT format('trigger: %s enabled %s', pg_get_triggerdef(tg.oid), tg.tgenabled)
      FROM pg_trigger tg JOIN rels r ON r.oid = tg.tgrelid
     WHERE NOT tg.tgisinternal
    UNION ALL
    -- comments on every object (and column) made after initdb
    SELECT format('comment: %s: %L', pg_describe_object(d.classoid, d.objoid, d.objsubid), d.description)
      FROM pg_description d
     WHERE d.objoid >= 16384
    UNION ALL
    -- event triggers
    SELECT format('event trigger: %I on %s function %s enabled %s tags %s owner %s',
                  et.evtname, et.evtevent, et.evtfoid::regprocedure, et.evtenabled, et.evttags,
                  pg_get_userbyid(et.evtowner))
      FROM pg_event_trigger et
)
SELECT line FROM lines ORDER BY line COLLATE "C";
