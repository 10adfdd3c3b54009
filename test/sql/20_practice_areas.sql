-- Practice areas: three default stages, stages and matterTypes on read.
\set VERBOSITY terse
SET ROLE esqase_api;

-- The spec's example: the new area comes back with its three stages.
SELECT t.show('a', $$esqase_practice_areas_create('{"name": "Family law"}')$$);
INSERT INTO t.ids SELECT 'family', (t.api('a', $$esqase_practice_areas_list()$$) #>> '{data,0,id}')::uuid;

-- The stages are real rows, ordered 0, 1, 2, in this practice area
-- (read as the superuser: without a key's context, RLS shows no rows).
RESET ROLE;
SELECT name, type, "order" FROM esqase.practice_area_stages WHERE practice_area_id = t.id('family') ORDER BY "order";
SELECT t.api('a', format('esqase_practice_areas_get(%L)', t.id('family'))) #> '{data,stages}'
     = (SELECT jsonb_agg(jsonb_build_object('id', id, 'name', name, 'type', type, 'order', "order") ORDER BY "order")
          FROM esqase.practice_area_stages WHERE practice_area_id = t.id('family')) AS stage_ids_match;
SET ROLE esqase_api;

-- Names are trimmed; update renames.
SELECT t.api('a_lawyer', $$esqase_practice_areas_create('{"name": "  Real estate  "}')$$) #>> '{data,name}';
SELECT t.show('a_lawyer', format($$esqase_practice_areas_update(%L, '{"name": "Family & divorce law"}')$$, t.id('family')));
SELECT t.api('a', format($$esqase_practice_areas_update(%L, '{}')$$, t.id('family'))) #>> '{data,name}' AS unchanged;

-- Errors.
SELECT t.unid(expr) AS call, t.err('a', expr) FROM (VALUES
    ($$esqase_practice_areas_create('{}')$$),
    ($$esqase_practice_areas_create('{"name": ""}')$$),
    ($$esqase_practice_areas_create('{"name": null}')$$),
    ($$esqase_practice_areas_create('{"name": ["Tax"]}')$$),
    ($$esqase_practice_areas_create('{"name": "Tax", "stages": []}')$$),
    ($$esqase_practice_areas_create('[]')$$),
    (format($$esqase_practice_areas_update(%L, '{"name": " "}')$$, t.id('family'))),
    (format($$esqase_practice_areas_update(%L, '{"stages": []}')$$, t.id('family'))),
    (format($$esqase_practice_areas_update(%L, '{"colour": "red"}')$$, t.id('family'))),
    ($$esqase_practice_areas_get('00000000-0000-4000-8000-000000000000')$$),
    ($$esqase_practice_areas_update('00000000-0000-4000-8000-000000000000', '{"name": "X"}')$$),
    ($$esqase_practice_areas_delete('00000000-0000-4000-8000-000000000000')$$)
) AS cases(expr);

-- The Practice areas permission is needed on top of the scope.
SELECT t.err('a_clerk', 'esqase_practice_areas_list()') AS clerk_list,
       t.err('a_clerk', $$esqase_practice_areas_create('{"name": "Tax"}')$$) AS clerk_create,
       t.err('a_read', $$esqase_practice_areas_create('{"name": "Tax"}')$$) AS read_key_create;

-- Soft delete.
INSERT INTO t.ids SELECT 'tax', (t.api('a', $$esqase_practice_areas_create('{"name": "Tax"}')$$) #>> '{data,id}')::uuid;
SELECT t.api('a', format('esqase_practice_areas_delete(%L)', t.id('tax'))) #>> '{data,status}' AS deleted_status;
SELECT t.err('a', format('esqase_practice_areas_get(%L)', t.id('tax'))) AS get_after_delete;
SELECT t.api('a', 'esqase_practice_areas_list()') #> '{pagination}' AS pagination;
