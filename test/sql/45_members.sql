-- Members over the API: read-only, scope members:read, every member of the
-- key's firm (deactivated ones too, as INACTIVE), paged like the others.
\set VERBOSITY terse
INSERT INTO t.keys SELECT 'a_members', esqase_create_api_key(t.id('a_clerk'), ARRAY['members:read']);
INSERT INTO t.keys SELECT 'b_members', esqase_create_api_key(t.id('b_owner'), ARRAY['members:read']);
SET ROLE esqase_api;

-- Firm A's members (shown by name: three were created in one transaction,
-- so their order is by id); a member without the Practice areas permission
-- may list them (members:read is a key scope only).
SELECT e ->> 'name' AS name, e ->> 'email' AS email, e -> 'isOwner' AS is_owner,
       e -> 'permissions' AS permissions, e ->> 'status' AS status
  FROM jsonb_array_elements(t.api('a_members', 'esqase_members_list()') -> 'data') e
 ORDER BY 1;
SELECT t.api('a_members', 'esqase_members_list()') -> 'pagination' AS pagination;
SELECT t.show('a_members', format('esqase_members_get(%L)', t.id('a_lawyer')));

-- Pages by cursor visit every member once.
SELECT count(*) AS walked, count(DISTINCT id) AS distinct_members FROM (
    SELECT p1 #>> '{data,0,id}' AS id FROM (SELECT t.call('a_members', 'esqase_members_list(''{"limit": 1}'')') AS p1) x
    UNION ALL
    SELECT e ->> 'id' FROM (SELECT t.call('a_members', 'esqase_members_list(''{"limit": 1}'')') #>> '{pagination,nextCursor}' AS c) x,
         jsonb_array_elements(t.call('a_members', format('esqase_members_list(%L)', jsonb_build_object('cursor', c, 'limit', 5))) -> 'data') e
) w;

-- Errors: the scope, another firm's member, a malformed id or parameter.
SELECT t.unid(expr) AS call, t.err(key, expr) FROM (VALUES
    ('a', 'esqase_members_list()'),
    ('a', format('esqase_members_get(%L)', t.id('a_owner'))),
    ('a_members', format('esqase_members_get(%L)', t.id('b_owner'))),
    ('b_members', format('esqase_members_get(%L)', t.id('a_owner'))),
    ('a_members', 'esqase_members_get(NULL)'),
    ('a_members', $$esqase_members_list('{"color": "red"}')$$),
    ('a_members', $$esqase_members_list('{"limit": 0}')$$)
) AS cases(key, expr);

-- A deactivated member stays listed and readable, as INACTIVE (matters and
-- leads may still name it); its keys no longer authenticate.
-- (Gus Gone, deactivated in 00_setup.)
SELECT t.api('a_members', format('esqase_members_get(%L)', t.id('gone'))) #>> '{data,status}' AS gone_status,
       t.api('a_members', 'esqase_members_list()') #>> '{pagination,total}' AS total;
