-- Paging (limit default 50, ceiling 200, offset, total, stable order) and
-- soft deletes, in a firm of its own so that the counts are exact.
\set VERBOSITY terse
INSERT INTO t.ids SELECT 'firm_c', esqase_create_firm('Firm C (paging)');
INSERT INTO t.ids SELECT 'c_owner', esqase_create_member(t.id('firm_c'), 'Cat Pager', 'cat@c.test', true);
INSERT INTO t.keys SELECT 'c', esqase_create_api_key(t.id('c_owner'), ARRAY['contacts:read', 'contacts:write',
    'matters:read', 'matters:write', 'leads:read', 'leads:write', 'practice-areas:read', 'practice-areas:write',
    'matter-types:read', 'matter-types:write']);
SET ROLE esqase_api;

-- An empty firm: an empty page with the defaults.
SELECT t.show('c', 'esqase_contacts_list()');
SELECT t.show('c', 'esqase_contacts_list(NULL)');

-- Seven contacts, each in its own transaction, then three in one
-- transaction (the same creation time: the id decides their order).
SELECT t.api('c', $$esqase_contacts_create('{"type": "PERSON", "firstName": "P1"}')$$) #>> '{data,name}';
SELECT t.api('c', $$esqase_contacts_create('{"type": "PERSON", "firstName": "P2"}')$$) #>> '{data,name}';
SELECT t.api('c', $$esqase_contacts_create('{"type": "PERSON", "firstName": "P3"}')$$) #>> '{data,name}';
SELECT t.api('c', $$esqase_contacts_create('{"type": "PERSON", "firstName": "P4"}')$$) #>> '{data,name}';
SELECT t.api('c', $$esqase_contacts_create('{"type": "PERSON", "firstName": "P5"}')$$) #>> '{data,name}';
SELECT t.api('c', $$esqase_contacts_create('{"type": "PERSON", "firstName": "P6"}')$$) #>> '{data,name}';
SELECT t.api('c', $$esqase_contacts_create('{"type": "PERSON", "firstName": "P7"}')$$) #>> '{data,name}';
SELECT count(t.api('c', format($$esqase_contacts_create('{"type": "PERSON", "firstName": "Q%s"}')$$, i)) -> 'data') AS made_together
  FROM generate_series(1, 3) i;

-- Pages of 3: no duplicates, no gaps, in creation order.
CREATE TEMP TABLE pages AS
SELECT o AS page_offset, e.n, e.c ->> 'name' AS name, (e.c ->> 'id')::uuid AS id, l -> 'pagination' AS pagination
  FROM generate_series(0, 12, 3) o
 CROSS JOIN LATERAL (SELECT t.api('c', format('esqase_contacts_list(%L)', jsonb_build_object('limit', 3, 'offset', o))) AS l) x
  LEFT JOIN LATERAL jsonb_array_elements(l -> 'data') WITH ORDINALITY AS e(c, n) ON true;
SELECT page_offset, string_agg(regexp_replace(name, '^Q\d$', 'Q'), ', ' ORDER BY n) AS names,
       min(pagination::text) AS pagination
  FROM pages GROUP BY page_offset ORDER BY page_offset;
SELECT count(id) AS rows_paged, count(DISTINCT id) AS distinct_rows FROM pages;
RESET ROLE;
SELECT array_agg(id ORDER BY page_offset, n) FILTER (WHERE id IS NOT NULL)
       = (SELECT array_agg(c.id ORDER BY c.created_at, c.id) FROM esqase.contacts c
           WHERE c.firm_id = t.id('firm_c') AND c.deleted_at IS NULL) AS pages_follow_created_at_then_id
  FROM pages;
SET ROLE esqase_api;
-- The same pages again give the same rows.
SELECT bool_and(p.id = (t.api('c', format('esqase_contacts_list(%L)', jsonb_build_object('limit', 3, 'offset', p.page_offset)))
                         -> 'data' -> (p.n::int - 1) ->> 'id')::uuid) AS repeatable
  FROM pages p WHERE p.id IS NOT NULL;

-- 205 more (215 in all) for the default and the ceiling.
SELECT count(t.api('c', format($$esqase_contacts_create('{"type": "COMPANY", "companyName": "Bulk %s"}')$$, i)) -> 'data') AS made
  FROM generate_series(1, 205) i;
SELECT params, l #>> '{pagination,limit}' AS "limit", l #>> '{pagination,offset}' AS "offset",
       l #>> '{pagination,total}' AS total, jsonb_array_length(l -> 'data') AS listed
  FROM (VALUES ('{}'), ('{"limit": 1}'), ('{"limit": 200}'), ('{"limit": 201}'), ('{"limit": 1000}'),
               ('{"limit": "1000"}'), ('{"limit": 99999999999999999999}'), ('{"limit": 1e3}'),
               ('{"limit": 3}'), ('{"limit": "3"}'), ('{"offset": 3}'), ('{"offset": "3"}'),
               ('{"limit": "10", "offset": 210}'), ('{"offset": 214}'), ('{"offset": 215}'),
               ('{"offset": "100000"}'), ('{"limit": 5, "offset": 2147483647}')) AS p(params)
 CROSS JOIN LATERAL (SELECT t.api('c', format('esqase_contacts_list(%L)', params))) x(l);
-- A JSON number and a string give the same page.
SELECT t.api('c', $$esqase_contacts_list('{"limit": 4, "offset": 2}')$$)
     = t.api('c', $$esqase_contacts_list('{"limit": "4", "offset": "2"}')$$) AS same_page;

-- Malformed paging parameters and unknown parameters: 22023, naming them.
SELECT params, t.err('c', format('esqase_contacts_list(%L)', params)) FROM (VALUES
    ('{"limit": 0}'), ('{"limit": "0"}'), ('{"limit": -1}'), ('{"limit": "-1"}'), ('{"limit": "abc"}'),
    ('{"limit": 1.5}'), ('{"limit": "1.5"}'), ('{"limit": ""}'), ('{"limit": null}'), ('{"limit": true}'),
    ('{"limit": [10]}'), ('{"limit": {"n": 10}}'), ('{"limit": "1e3"}'), ('{"limit": "+5"}'), ('{"limit": "0x10"}'),
    ('{"offset": -1}'), ('{"offset": "x"}'), ('{"offset": 1.5}'), ('{"offset": null}'),
    ('{"offset": 2147483648}'), ('{"offset": "99999999999999999999"}'),
    ('{"foo": 1}'), ('{"Limit": 5}'), ('{"limit": 5, "page": 2}'), ('{"practiceAreaId": "00000000-0000-4000-8000-000000000000"}'),
    ('[]'), ('"limit=5"'), ('null'), ('42')
) AS cases(params);
-- Every list applies the same rules.
SELECT fn, t.err('c', format('%s(%L)', fn, params)) FROM
    (VALUES ('esqase_contacts_list'), ('esqase_practice_areas_list'), ('esqase_matters_list'), ('esqase_leads_list')) AS f(fn),
    (VALUES ('{"limit": 0}'), ('{"offset": "x"}'), ('{"bogus": 1}')) AS p(params)
 ORDER BY 1, 2;
INSERT INTO t.ids SELECT 'c_area', (t.api('c', $$esqase_practice_areas_create('{"name": "Paging law"}')$$) #>> '{data,id}')::uuid;
SELECT t.unid(params) AS params, t.err('c', format('esqase_matter_types_list(%L)', params)) FROM (VALUES
    (format('{"practiceAreaId": "%s", "limit": 0}', t.id('c_area'))),
    (format('{"practiceAreaId": "%s", "offset": -3}', t.id('c_area'))),
    (format('{"practiceAreaId": "%s", "bogus": 1}', t.id('c_area'))),
    ('{"practiceAreaId": "not-a-uuid"}'),
    ('{"practiceAreaId": 42}'),
    ('{"practiceAreaId": null}'),
    ('{}'),
    (format('{"practiceAreaId": "%s", "limit": 500}', t.id('c_area')))
) AS cases(params);

-- Soft delete of a contact: gone from list, total, get, update and delete...
INSERT INTO t.ids SELECT 'c_p2', id FROM pages WHERE name = 'P2';
SELECT t.api('c', format('esqase_contacts_delete(%L)', t.id('c_p2'))) #>> '{data,status}' AS deleted;
SELECT t.api('c', 'esqase_contacts_list()') #>> '{pagination,total}' AS total_after_delete,
       NOT EXISTS (SELECT FROM generate_series(0, 200, 200) o,
                   jsonb_array_elements(t.api('c', format('esqase_contacts_list(%L)', jsonb_build_object('limit', 200, 'offset', o))) -> 'data') e
                    WHERE (e ->> 'id')::uuid = t.id('c_p2')) AS not_listed,
       t.api('c', $$esqase_contacts_list('{"limit": 3}')$$) -> 'data' -> 1 ->> 'name' AS second_is_now;
SELECT t.unid(expr) AS call, t.err('c', expr) FROM (VALUES
    (format('esqase_contacts_get(%L)', t.id('c_p2'))),
    (format($$esqase_contacts_update(%L, '{"firstName": "Back"}')$$, t.id('c_p2'))),
    (format('esqase_contacts_delete(%L)', t.id('c_p2')))
) AS cases(expr);
-- ... but the row stays, archived, for analysts.
RESET ROLE;
SELECT first_name, status, deleted_at IS NOT NULL AS deleted, deleted_at >= created_at AS after_creation
  FROM esqase.contacts WHERE id = t.id('c_p2');
SET ROLE esqase_api;

-- Soft delete of a matter type and a practice area.
INSERT INTO t.ids SELECT 'c_type1', (t.api('c', format($$esqase_matter_types_create('{"practiceAreaId": "%s", "name": "T1"}')$$, t.id('c_area'))) #>> '{data,id}')::uuid;
INSERT INTO t.ids SELECT 'c_type2', (t.api('c', format($$esqase_matter_types_create('{"practiceAreaId": "%s", "name": "T2"}')$$, t.id('c_area'))) #>> '{data,id}')::uuid;
SELECT t.api('c', format('esqase_matter_types_delete(%L)', t.id('c_type1'))) #>> '{data,status}' AS deleted;
SELECT t.api('c', format($$esqase_matter_types_list('{"practiceAreaId": "%s"}')$$, t.id('c_area'))) #>> '{pagination,total}' AS types_total,
       t.api('c', format($$esqase_matter_types_list('{"practiceAreaId": "%s"}')$$, t.id('c_area'))) #>> '{data,0,name}' AS listed,
       t.unid(t.api('c', format('esqase_practice_areas_get(%L)', t.id('c_area'))) #>> '{data,matterTypes}') AS area_types;
SELECT t.unid(expr) AS call, t.err('c', expr) FROM (VALUES
    (format('esqase_matter_types_get(%L)', t.id('c_type1'))),
    (format($$esqase_matter_types_update(%L, '{"name": "Back"}')$$, t.id('c_type1'))),
    (format('esqase_matter_types_delete(%L)', t.id('c_type1')))
) AS cases(expr);
SELECT t.api('c', 'esqase_practice_areas_list()') #>> '{pagination,total}' AS areas_before;
SELECT t.api('c', format('esqase_practice_areas_delete(%L)', t.id('c_area'))) #>> '{data,status}' AS deleted;
SELECT t.api('c', 'esqase_practice_areas_list()') #>> '{pagination,total}' AS areas_after;
SELECT t.unid(expr) AS call, t.err('c', expr) FROM (VALUES
    (format('esqase_practice_areas_get(%L)', t.id('c_area'))),
    (format($$esqase_practice_areas_update(%L, '{"name": "Back"}')$$, t.id('c_area'))),
    (format('esqase_practice_areas_delete(%L)', t.id('c_area'))),
    (format($$esqase_matter_types_list('{"practiceAreaId": "%s"}')$$, t.id('c_area'))),
    (format($$esqase_matter_types_create('{"practiceAreaId": "%s", "name": "T3"}')$$, t.id('c_area'))),
    (format($$esqase_matters_create('{"practiceAreaId": "%s", "openDate": "2026-07-01"}')$$, t.id('c_area')))
) AS cases(expr);

-- Soft delete of a matter and a lead.
INSERT INTO t.ids SELECT 'c_area2', (t.api('c', $$esqase_practice_areas_create('{"name": "Paging law 2"}')$$) #>> '{data,id}')::uuid;
INSERT INTO t.ids SELECT 'c_matter', (t.api('c', format($$esqase_matters_create('{"practiceAreaId": "%s", "openDate": "2026-07-01"}')$$,
                                                       t.id('c_area2'))) #>> '{data,id}')::uuid;
INSERT INTO t.ids SELECT 'c_lead', (t.api('c', $$esqase_leads_create('{"type": "PERSON", "firstName": "Lead"}')$$) #>> '{data,id}')::uuid;
SELECT t.api('c', 'esqase_matters_list()') #>> '{pagination,total}' AS matters_before,
       t.api('c', 'esqase_leads_list()') #>> '{pagination,total}' AS leads_before;
SELECT t.api('c', format('esqase_matters_delete(%L)', t.id('c_matter'))) #>> '{data,status}' AS matter_deleted,
       t.api('c', format('esqase_leads_delete(%L)', t.id('c_lead'))) ->> 'data' IS NOT NULL AS lead_deleted;
SELECT t.api('c', 'esqase_matters_list()') #>> '{pagination,total}' AS matters_after,
       t.api('c', 'esqase_leads_list()') #>> '{pagination,total}' AS leads_after;
SELECT t.unid(expr) AS call, t.err('c', expr) FROM (VALUES
    (format('esqase_matters_get(%L)', t.id('c_matter'))),
    (format($$esqase_matters_update(%L, '{"title": "Back"}')$$, t.id('c_matter'))),
    (format('esqase_matters_delete(%L)', t.id('c_matter'))),
    (format('esqase_leads_get(%L)', t.id('c_lead'))),
    (format($$esqase_leads_update(%L, '{"value": "HIGH"}')$$, t.id('c_lead'))),
    (format('esqase_leads_delete(%L)', t.id('c_lead')))
) AS cases(expr);

-- Every soft-deleted record is still in its table, with deleted_at set.
RESET ROLE;
SELECT r.name, x.deleted_at IS NOT NULL AS deleted, x.status
  FROM t.ids r
  JOIN (SELECT id, deleted_at, status FROM esqase.contacts
        UNION ALL SELECT id, deleted_at, status FROM esqase.practice_areas
        UNION ALL SELECT id, deleted_at, status FROM esqase.matter_types
        UNION ALL SELECT id, deleted_at, status FROM esqase.matters
        UNION ALL SELECT id, deleted_at, status FROM esqase.leads) x ON x.id = r.id
 WHERE r.name IN ('c_p2', 'c_type1', 'c_type2', 'c_area', 'c_matter', 'c_lead')
 ORDER BY r.name;
SELECT count(*) AS firm_c_contact_rows, count(*) FILTER (WHERE deleted_at IS NULL) AS live
  FROM esqase.contacts WHERE firm_id = t.id('firm_c');

-- Cursor paging: every page carries nextCursor (null on the last), and a
-- walk by cursor visits the same records, in the same order, as by offset.
SET ROLE esqase_api;
CREATE TEMP TABLE walk (page integer, n bigint, id uuid, next text, pagination jsonb);
DO $$
DECLARE
    cur text;
    p integer := 0;
    l jsonb;
BEGIN
    LOOP
        l := t.call('c', format('esqase_contacts_list(%L)',
                                jsonb_strip_nulls(jsonb_build_object('limit', 50, 'cursor', cur))));
        INSERT INTO walk SELECT p, e.n, (e.c ->> 'id')::uuid, l #>> '{pagination,nextCursor}', l -> 'pagination'
          FROM jsonb_array_elements(l -> 'data') WITH ORDINALITY AS e(c, n);
        cur := l #>> '{pagination,nextCursor}';
        EXIT WHEN cur IS NULL OR p > 10;
        p := p + 1;
    END LOOP;
END
$$;
SELECT count(*) AS walked, count(DISTINCT id) AS distinct_ids, max(page) + 1 AS pages,
       bool_and(pagination ->> 'offset' IS NULL) FILTER (WHERE page > 0) AS offset_null_by_cursor,
       count(*) FILTER (WHERE next IS NULL) AS rows_on_last_page
  FROM walk;
RESET ROLE;
SELECT array_agg(id ORDER BY page, n)
       = (SELECT array_agg(c.id ORDER BY c.created_at, c.id) FROM esqase.contacts c
           WHERE c.firm_id = t.id('firm_c') AND c.deleted_at IS NULL) AS walk_follows_created_at_then_id
  FROM walk;
SET ROLE esqase_api;

-- Records added and deleted between calls: no record that existed
-- throughout is skipped or repeated; a deleted one is not shown, a new one
-- (created after the walk's position) is.
CREATE TEMP TABLE walk2 (id uuid);
DO $$
DECLARE
    l jsonb := t.call('c', $q$esqase_contacts_list('{"limit": 100}')$q$);
    seen_one uuid := (l #>> '{data,0,id}')::uuid;
    ahead uuid := (l #>> '{data,99,id}')::uuid;
    cur text := l #>> '{pagination,nextCursor}';
BEGIN
    INSERT INTO walk2 SELECT (e ->> 'id')::uuid FROM jsonb_array_elements(l -> 'data') e;
    -- behind the cursor: deleted; at the cursor: deleted; ahead: a new one.
    PERFORM t.call('c', format('esqase_contacts_delete(%L)', seen_one));
    PERFORM t.call('c', format('esqase_contacts_delete(%L)', ahead));
    INSERT INTO t.ids SELECT 'c_new_during_walk',
        (t.call('c', $q$esqase_contacts_create('{"type": "PERSON", "firstName": "During walk"}')$q$) #>> '{data,id}')::uuid;
    WHILE cur IS NOT NULL LOOP
        l := t.call('c', format('esqase_contacts_list(%L)', jsonb_build_object('limit', 100, 'cursor', cur)));
        INSERT INTO walk2 SELECT (e ->> 'id')::uuid FROM jsonb_array_elements(l -> 'data') e;
        cur := l #>> '{pagination,nextCursor}';
    END LOOP;
END
$$;
RESET ROLE;
SELECT count(*) AS walked, count(DISTINCT id) AS distinct_ids,
       (SELECT count(*) FROM esqase.contacts c WHERE c.firm_id = t.id('firm_c') AND c.deleted_at IS NULL
           AND c.id NOT IN (SELECT id FROM walk2)) AS live_not_walked,
       t.id('c_new_during_walk') IN (SELECT id FROM walk2) AS new_one_walked
  FROM walk2;
SET ROLE esqase_api;

-- A cursor with an offset, a malformed cursor, and a cursor of another list.
SELECT t.err('c', format('esqase_contacts_list(%L)', jsonb_build_object('cursor', next, 'offset', 0))) AS with_offset,
       t.err('c', format('esqase_matters_list(%L)', jsonb_build_object('cursor', next))) AS other_list
  FROM walk WHERE next IS NOT NULL LIMIT 1;
SELECT params, t.err('c', format('esqase_contacts_list(%L)', params)) FROM (VALUES
    ('{"cursor": "not a cursor"}'), ('{"cursor": ""}'), ('{"cursor": 42}'), ('{"cursor": null}'),
    ('{"cursor": "Y29udGFjdHN8eHx5"}'), ('{"cursor": "Y29udGFjdHN8MjAyNi0xMi0wMVQwMDowMDowMFp8bm90LWEtdXVpZA"}'),
    ('{"cursor": "////"}')
) AS cases(params);
-- A cursor of a page before a limit change still positions the next page.
SELECT jsonb_array_length(t.call('c', format('esqase_contacts_list(%L)', jsonb_build_object('cursor', next, 'limit', 7))) -> 'data') AS with_other_limit
  FROM walk WHERE page = 0 LIMIT 1;

-- Cursors are signed (HMAC-SHA256 of the firm and the cursor with the
-- database's secret): a cursor edited anywhere gets the same 400 naming
-- cursor, never another page.  Each kind of position: a character of its
-- body (first, middle, last; a letter's case), the separator, its
-- signature (first, last character), one character fewer or more, the body
-- alone (the unsigned cursors of 0.2.0), the body of one cursor with the
-- signature of another; and the cursor itself, used by another firm.
CREATE TEMP TABLE signed AS
SELECT w.next AS cur, split_part(w.next, '.', 1) AS body, split_part(w.next, '.', 2) AS mac,
       (SELECT split_part(v.next, '.', 2) FROM walk v WHERE v.page = 1 AND v.next IS NOT NULL LIMIT 1) AS other_mac
  FROM walk w WHERE w.page = 0 LIMIT 1;
SELECT length(mac) AS signature_length, cur ~ '^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{22}$' AS cursor_shape,
       other_mac IS NOT NULL AND other_mac <> mac AS another_signature
  FROM signed;
-- the cursor as it came pages on
SELECT t.err('c', format('esqase_contacts_list(%L)', jsonb_build_object('cursor', cur))) AS unedited,
       (t.call('c', format('esqase_contacts_list(%L)', jsonb_build_object('cursor', cur))) #>> '{data,0,id}')::uuid
           = (SELECT id FROM walk WHERE page = 1 AND n = 1) AS next_page
  FROM signed;
SELECT e.edit, e.edited <> s.cur AS changed, length(e.edited) - length(s.cur) AS length_change,
       t.err('c', format('esqase_contacts_list(%L)', jsonb_build_object('cursor', e.edited))) AS err
  FROM signed s,
  LATERAL (SELECT v.edit, overlay(s.cur placing CASE WHEN substr(s.cur, v.pos, 1) = 'A' THEN 'B' ELSE 'A' END
                                  from v.pos for 1) AS edited
             FROM (VALUES (1, 'body: first character', 1),
                          (2, 'body: a middle character', length(s.body) / 2),
                          (3, 'body: last character', length(s.body)),
                          (6, 'signature: first character', length(s.body) + 2),
                          (7, 'signature: last character', length(s.cur))) v(o, edit, pos)
           UNION ALL
           SELECT v.edit, v.edited
             FROM (VALUES (4, 'body: a letter''s case',
                           overlay(s.cur placing upper(substring(s.body from '[a-z]'))
                                   from length(substring(s.body from '^[^a-z]*')) + 1 for 1)),
                          (5, 'separator: another character', s.body || '_' || s.mac),
                          (5, 'separator: none', s.body || s.mac),
                          (8, 'one character fewer', left(s.cur, -1)),
                          (8, 'one character more', s.cur || 'A'),
                          (9, 'the body alone (a 0.2.0 cursor)', s.body),
                          (9, 'another cursor''s signature', s.body || '.' || s.other_mac)) v(o, edit, edited)
          ) e
 ORDER BY e.edit;
SELECT t.err('a', format('esqase_contacts_list(%L)', jsonb_build_object('cursor', cur))) AS in_another_firm
  FROM signed;
-- A new secret (what a restored database has): the old cursors get the
-- 400, the new ones page.
RESET ROLE;
SELECT esqase.cursor_secret_new();
SET ROLE esqase_api;
SELECT t.err('c', format('esqase_contacts_list(%L)', jsonb_build_object('cursor', cur))) AS after_a_new_secret
  FROM signed;
SELECT t.err('c', format('esqase_contacts_list(%L)', jsonb_build_object('cursor',
           t.call('c', $$esqase_contacts_list('{"limit": 50}')$$) #>> '{pagination,nextCursor}'))) AS new_cursor;

-- Every maintained total, of every firm, equals a count of the rows it
-- stands for (firm C's lists shown by number: the other firms' depend on
-- which files ran before).
RESET ROLE;
SELECT count(*) FILTER (WHERE x.firm_id = t.id('firm_c')) AS firm_c_lists_checked,
       count(*) FILTER (WHERE kept IS DISTINCT FROM counted) AS wrong
  FROM (SELECT c.firm_id, c.list, sum(c.n) AS kept,
               CASE c.list
                   WHEN 'contacts' THEN (SELECT count(*) FROM esqase.contacts r WHERE r.firm_id = c.firm_id AND r.deleted_at IS NULL)
                   WHEN 'matters' THEN (SELECT count(*) FROM esqase.matters r WHERE r.firm_id = c.firm_id AND r.deleted_at IS NULL)
                   WHEN 'practice_areas' THEN (SELECT count(*) FROM esqase.practice_areas r WHERE r.firm_id = c.firm_id AND r.deleted_at IS NULL)
                   WHEN 'leads_public' THEN (SELECT count(*) FROM esqase.leads r WHERE r.firm_id = c.firm_id AND r.deleted_at IS NULL AND NOT r.is_private)
                   WHEN 'leads_private' THEN (SELECT count(*) FROM esqase.leads r WHERE r.firm_id = c.firm_id AND r.deleted_at IS NULL AND r.is_private)
                   WHEN 'contacts_private' THEN (SELECT count(*) FROM esqase.contacts r WHERE r.firm_id = c.firm_id AND r.deleted_at IS NULL AND r.hidden_by_lead IS NOT NULL)
               END AS counted
          FROM esqase.record_counts c GROUP BY c.firm_id, c.list) x;
