-- Matter types: under one practice area; the list needs practiceAreaId.
\set VERBOSITY terse
SET ROLE esqase_api;

-- Its own practice areas: one to hold the types, one deleted.
INSERT INTO t.ids SELECT 'mt_family', (t.api('a', $$esqase_practice_areas_create('{"name": "Family & divorce law"}')$$) #>> '{data,id}')::uuid;
INSERT INTO t.ids SELECT 'mt_tax', (t.api('a', $$esqase_practice_areas_create('{"name": "Tax"}')$$) #>> '{data,id}')::uuid;
SELECT t.api('a', format('esqase_practice_areas_delete(%L)', t.id('mt_tax'))) #>> '{data,status}' AS tax_status;

-- The spec's example.
SELECT t.show('a', format($$esqase_matter_types_create('{"practiceAreaId": "%s", "name": "Divorce"}')$$, t.id('mt_family')));
INSERT INTO t.ids SELECT 'divorce', (t.api('a', format($$esqase_matter_types_list('{"practiceAreaId": "%s"}')$$, t.id('mt_family'))) #>> '{data,0,id}')::uuid;
SELECT t.api('a', format($$esqase_matter_types_create('{"practiceAreaId": "%s", "name": "Custody"}')$$, t.id('mt_family'))) #>> '{data,name}';
SELECT (t.api('a', format($$esqase_matter_types_get(%L)$$, t.id('divorce'))) #>> '{data,practiceAreaId}')::uuid = t.id('mt_family') AS belongs;

-- Listed in order, paged, and shown on the practice area.
SELECT t.show('a', format($$esqase_matter_types_list('{"practiceAreaId": "%s", "limit": "1", "offset": "1"}')$$, t.id('mt_family')));
SELECT t.show('a', format($$esqase_practice_areas_get(%L)$$, t.id('mt_family')));

-- Rename.
SELECT t.api('a', format($$esqase_matter_types_update(%L, '{"name": "Divorce (contested)"}')$$, t.id('divorce'))) #>> '{data,name}';

-- Errors.
SELECT t.unid(expr) AS call, t.err('a', expr) FROM (VALUES
    ($$esqase_matter_types_list()$$),
    ($$esqase_matter_types_list('{"practiceAreaId": "nope"}')$$),
    ($$esqase_matter_types_list('{"practiceAreaId": "00000000-0000-4000-8000-000000000000"}')$$),
    (format($$esqase_matter_types_list('{"practiceAreaId": "%s", "name": "x"}')$$, t.id('mt_family'))),
    ($$esqase_matter_types_create('{"name": "Orphan"}')$$),
    ($$esqase_matter_types_create('{"practiceAreaId": "00000000-0000-4000-8000-000000000000", "name": "X"}')$$),
    ($$esqase_matter_types_create('{"practiceAreaId": "bad", "name": "X"}')$$),
    (format($$esqase_matter_types_create('{"practiceAreaId": "%s", "name": "Y"}')$$, t.id('mt_tax'))),
    (format($$esqase_matter_types_create('{"practiceAreaId": "%s"}')$$, t.id('mt_family'))),
    (format($$esqase_matter_types_update(%L, '{"practiceAreaId": "%s"}')$$, t.id('divorce'), t.id('mt_tax'))),
    (format($$esqase_matter_types_update(%L, '{"name": ""}')$$, t.id('divorce'))),
    ($$esqase_matter_types_get('00000000-0000-4000-8000-000000000000')$$)
) AS cases(expr);

-- Needs the Practice areas permission too.
SELECT t.err('a_clerk', format($$esqase_matter_types_get(%L)$$, t.id('divorce'))) AS clerk_get;

-- Soft delete: gone from the list and the practice area, 404 after.
SELECT t.api('a', format('esqase_matter_types_delete(%L)', t.id('divorce'))) #>> '{data,status}' AS deleted_status;
SELECT t.err('a', format('esqase_matter_types_get(%L)', t.id('divorce'))) AS get_after_delete;
SELECT t.api('a', format($$esqase_matter_types_list('{"practiceAreaId": "%s"}')$$, t.id('mt_family'))) #> '{pagination}';
SELECT jsonb_array_length(t.api('a', format($$esqase_practice_areas_get(%L)$$, t.id('mt_family'))) #> '{data,matterTypes}') AS types_on_area;
