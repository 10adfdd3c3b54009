-- Every table can be distributed by firm_id (Citus; docs/scaling.md; in
-- esqase.firms itself the firm is its key, id): a uuid NOT NULL firm_id
-- column, firm_id in every primary key, unique
-- constraint, unique index and exclusion constraint, every foreign key
-- matching firm_id to the referenced table's firm_id (so the tables are
-- co-located and no constraint spans firms), and no sequence or identity
-- column whose values are shared across firms unless docs/scaling.md has a
-- plan for it (listed in esq_distribution_plan below).
\set VERBOSITY terse

-- The exceptions with a plan in docs/scaling.md ("What changes on Citus").
CREATE TEMP TABLE esq_distribution_plan (relname name, problem text, plan text);
INSERT INTO esq_distribution_plan VALUES
    ('audit_log', 'identity column id (sequence audit_log_id_seq)',
     'scaling.md "Sequences": unique per node, not ordered across nodes; order by (firm_id, at, id)'),
    ('webhook_events', 'identity column seq (sequence webhook_events_seq_seq)',
     'scaling.md "Sequences": orders one record''s events, all on its firm''s node'),
    ('report_readers', 'firm_id is uuid NULL, not uuid NOT NULL',
     'scaling.md "Reporting readers": a reference table; NULL is a reader of every firm'),
    ('report_readers', 'no primary key',
     'scaling.md "Reporting readers": a reference table, unique on (role_name, firm_id) with NULLs not distinct'),
    ('cursor_secret', 'no firm_id column',
     'scaling.md "The cursor secret": a reference table, one row, the same key on every node'),
    ('cursor_secret', 'primary key cursor_secret_pkey without firm_id',
     'scaling.md "The cursor secret": a reference table, one row, the same key on every node');

CREATE TEMP VIEW esq_distribution_problems AS
WITH t AS (
    SELECT c.oid, c.relname, a.attnum AS firm_attnum, a.atttypid, a.attnotnull
      FROM pg_class c
      LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND NOT a.attisdropped
                           AND a.attname = CASE WHEN c.oid = 'esqase.firms'::regclass THEN 'id' ELSE 'firm_id' END
     WHERE c.relnamespace = 'esqase'::regnamespace AND c.relkind IN ('r', 'p')
)
SELECT t.relname, 'no firm_id column' AS problem
  FROM t WHERE t.firm_attnum IS NULL
UNION ALL
SELECT t.relname, format('firm_id is %s%s, not uuid NOT NULL', t.atttypid::regtype,
                         CASE WHEN t.attnotnull THEN '' ELSE ' NULL' END)
  FROM t WHERE t.firm_attnum IS NOT NULL AND NOT (t.atttypid = 'uuid'::regtype AND t.attnotnull)
UNION ALL
SELECT t.relname, 'no primary key'
  FROM t WHERE NOT EXISTS (SELECT FROM pg_constraint con WHERE con.conrelid = t.oid AND con.contype = 'p')
UNION ALL
-- primary key, unique and exclusion constraints
SELECT t.relname, format('%s %s without firm_id',
                         CASE con.contype WHEN 'p' THEN 'primary key' WHEN 'u' THEN 'unique constraint'
                                          ELSE 'exclusion constraint' END, con.conname)
  FROM t JOIN pg_constraint con ON con.conrelid = t.oid
 WHERE con.contype IN ('p', 'u', 'x') AND NOT coalesce(t.firm_attnum = ANY (con.conkey), false)
UNION ALL
-- unique indexes made without a constraint (expression or partial ones too)
SELECT t.relname, format('unique index %s without firm_id as a key column', i.indexrelid::regclass)
  FROM t JOIN pg_index i ON i.indrelid = t.oid
 WHERE i.indisunique
   AND NOT EXISTS (SELECT FROM pg_constraint con WHERE con.conindid = i.indexrelid AND con.conrelid = t.oid)
   AND NOT coalesce(t.firm_attnum = ANY (i.indkey[0:i.indnkeyatts - 1]::int2[]), false)
UNION ALL
-- foreign keys: to a table of schema esqase, with firm_id matched to its firm_id
SELECT t.relname, format('foreign key %s references %s, outside schema esqase', con.conname, con.confrelid::regclass)
  FROM t JOIN pg_constraint con ON con.conrelid = t.oid
 WHERE con.contype = 'f' AND con.confrelid NOT IN (SELECT oid FROM t)
UNION ALL
SELECT t.relname, format('foreign key %s does not match firm_id to %s.firm_id', con.conname, con.confrelid::regclass)
  FROM t JOIN pg_constraint con ON con.conrelid = t.oid
 WHERE con.contype = 'f' AND con.confrelid IN (SELECT oid FROM t)
   AND NOT EXISTS (SELECT FROM generate_subscripts(con.conkey, 1) k
                    WHERE con.conkey[k] = t.firm_attnum
                      AND con.confkey[k] = (SELECT r.firm_attnum FROM t r WHERE r.oid = con.confrelid))
UNION ALL
-- foreign keys into schema esqase from tables elsewhere
SELECT c.relname, format('foreign key %s of %s (outside schema esqase) references %s',
                         con.conname, c.oid::regclass, con.confrelid::regclass)
  FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid
 WHERE con.contype = 'f' AND con.confrelid IN (SELECT oid FROM t) AND con.conrelid NOT IN (SELECT oid FROM t)
UNION ALL
-- identity columns and column defaults that draw from a sequence
SELECT t.relname, format('identity column %s (sequence %s)', a.attname,
                         (SELECT s.relname FROM pg_depend d JOIN pg_class s ON s.oid = d.objid
                           WHERE d.refobjid = t.oid AND d.refobjsubid = a.attnum AND d.classid = 'pg_class'::regclass
                             AND s.relkind = 'S' AND d.deptype = 'i'))
  FROM t JOIN pg_attribute a ON a.attrelid = t.oid
 WHERE a.attidentity <> '' AND NOT a.attisdropped
UNION ALL
SELECT t.relname, format('column %s takes its default from a sequence: %s', a.attname,
                         pg_get_expr(ad.adbin, ad.adrelid))
  FROM t JOIN pg_attrdef ad ON ad.adrelid = t.oid
  JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = ad.adnum
 WHERE pg_get_expr(ad.adbin, ad.adrelid) ~ 'nextval\('
UNION ALL
-- any other sequence of the schema (used by a function, say)
SELECT s.relname, 'a sequence that is not an identity column''s'
  FROM pg_class s
 WHERE s.relnamespace = 'esqase'::regnamespace AND s.relkind = 'S'
   AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.objid = s.oid AND d.classid = 'pg_class'::regclass
                                             AND d.deptype = 'i');

-- docs/scaling.md's plan names every table: the tables of its block of
-- create_distributed_table calls, and those its table makes reference
-- tables, are the tables of schema esqase, no more, no fewer (listed here:
-- a table missing from the plan, or a plan for a table that is gone).
\set scaling `cat docs/scaling.md`
SELECT coalesce(c.relname, d.relname) AS relname, c.relname IS NOT NULL AS in_catalog, d.relname IS NOT NULL AS in_plan
  FROM (SELECT relname::text FROM pg_class WHERE relnamespace = 'esqase'::regnamespace AND relkind IN ('r', 'p')) c
  FULL JOIN (SELECT DISTINCT m[1] AS relname
               FROM regexp_matches(substring(:'scaling' from 'SELECT create_distributed_table.*?```'),
                                   'esqase\.([a-z_]+)', 'g') m
             UNION
             SELECT m[1] FROM regexp_matches(:'scaling', '\n\| `([a-z_]+)` \| reference table \|', 'g') m) d
    ON d.relname = c.relname
 WHERE c.relname IS NULL OR d.relname IS NULL;
SELECT count(DISTINCT m[1]) AS tables_in_the_plan
  FROM regexp_matches(substring(:'scaling' from 'SELECT create_distributed_table.*?```'), 'esqase\.([a-z_]+)', 'g') m;

-- Problems with no plan: none.
SELECT p.relname, p.problem
  FROM esq_distribution_problems p
 WHERE NOT EXISTS (SELECT FROM esq_distribution_plan d WHERE d.relname = p.relname AND d.problem = p.problem)
 ORDER BY 1, 2;
-- The planned exceptions, each still present (a plan for something that is
-- gone would show here as missing).
SELECT d.relname, d.problem, d.plan,
       EXISTS (SELECT FROM esq_distribution_problems p WHERE p.relname = d.relname AND p.problem = d.problem) AS present
  FROM esq_distribution_plan d ORDER BY 1, 2;
-- What was checked: every table, and a uuid firm_id in each.
SELECT count(*) AS tables, count(*) FILTER (WHERE a.atttypid = 'uuid'::regtype AND a.attnotnull) AS with_uuid_firm_id,
       count(DISTINCT a.atttypid) AS firm_id_types
  FROM pg_class c LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = CASE WHEN c.oid = 'esqase.firms'::regclass THEN 'id' ELSE 'firm_id' END
 WHERE c.relnamespace = 'esqase'::regnamespace AND c.relkind IN ('r', 'p');

-- The checks catch each way of breaking the rule (tables made and dropped here).
BEGIN;
CREATE TABLE public.outside_ref (firm_id uuid PRIMARY KEY);
CREATE TABLE esqase.points_out (firm_id uuid NOT NULL, id uuid, PRIMARY KEY (firm_id, id),
    FOREIGN KEY (firm_id) REFERENCES public.outside_ref (firm_id));
CREATE TABLE esqase.no_firm (id uuid PRIMARY KEY);
CREATE TABLE esqase.nullable_firm (firm_id uuid, id uuid, PRIMARY KEY (id));
CREATE TABLE esqase.text_firm (firm_id text NOT NULL, id uuid, PRIMARY KEY (firm_id, id));
CREATE TABLE esqase.no_key (firm_id uuid NOT NULL, note text);
CREATE TABLE esqase.cross_firm (
    firm_id uuid NOT NULL REFERENCES esqase.firms (id),
    id bigserial,
    code text,
    contact_id uuid,
    area_id uuid,
    member_firm uuid,
    member_id uuid,
    PRIMARY KEY (firm_id, id),
    CONSTRAINT cross_firm_code_key UNIQUE (code),
    CONSTRAINT cross_firm_code_excl EXCLUDE USING btree (code WITH =),
    CONSTRAINT cross_firm_contact_fkey FOREIGN KEY (firm_id, contact_id) REFERENCES esqase.contacts (id, firm_id),
    CONSTRAINT cross_firm_area_fkey FOREIGN KEY (area_id) REFERENCES esqase.firms (id),
    CONSTRAINT cross_firm_member_fkey FOREIGN KEY (member_firm, member_id) REFERENCES esqase.members (firm_id, id)
);
CREATE UNIQUE INDEX cross_firm_lower_code ON esqase.cross_firm (lower(code)) WHERE code IS NOT NULL;
CREATE SEQUENCE esqase.loose_seq;
CREATE TABLE public.outside (firm_id uuid, contact_id uuid,
    FOREIGN KEY (firm_id, contact_id) REFERENCES esqase.contacts (firm_id, id));
SELECT p.relname, p.problem
  FROM esq_distribution_problems p
 WHERE NOT EXISTS (SELECT FROM esq_distribution_plan d WHERE d.relname = p.relname AND d.problem = p.problem)
 ORDER BY 1, 2;
ROLLBACK;
