-- Contacts: create, read, update, list, delete, and every error path.
\set VERBOSITY terse
SET ROLE esqase_api;

-- The spec's example: 201 body shape, the first email is the primary.
SELECT t.show('a', $$esqase_contacts_create('{"type": "PERSON", "firstName": "Jane", "lastName": "Doe",
    "emails": ["jane@example.com", "jd@work.example.com"], "phones": ["+1-555-0100"]}')$$);
INSERT INTO t.ids SELECT 'jane', (t.api('a', $$esqase_contacts_list('{"limit": 1}')$$) #>> '{data,0,id}')::uuid;
SELECT t.show('a', format('esqase_contacts_get(%L)', t.id('jane')));

-- A company, with every company field.
INSERT INTO t.ids SELECT 'acme', (t.api('a', $$esqase_contacts_create('{"type": "COMPANY",
    "companyName": "Acme Holdings", "tradeName": "Acme", "companyType": "LLC",
    "emails": ["contact@example.com"]}')$$) #>> '{data,id}')::uuid;
SELECT t.show('a', format('esqase_contacts_get(%L)', t.id('acme')));

-- Every person name field; the display name is first, middle and last.
SELECT (t.api('a', $$esqase_contacts_create('{"type": "PERSON", "prefix": "Dr.", "firstName": "Ada",
    "middleName": "King", "lastName": "Lovelace", "suffix": "PhD", "nickname": "Ada"}')$$)
    #> '{data}') - '{id,createdAt,updatedAt}'::text[];
-- Only a last name is enough.
SELECT t.api('a', $$esqase_contacts_create('{"type": "PERSON", "lastName": "Solo"}')$$) #>> '{data,name}';

-- Create errors: each names its field.
SELECT t.unid(expr) AS call, t.err('a', expr) FROM (VALUES
    ($$esqase_contacts_create('{}')$$),
    ($$esqase_contacts_create('[]')$$),
    ($$esqase_contacts_create('"text"')$$),
    ($$esqase_contacts_create(NULL)$$),
    ($$esqase_contacts_create('{"type": "ROBOT", "firstName": "R2"}')$$),
    ($$esqase_contacts_create('{"type": "person", "firstName": "R2"}')$$),
    ($$esqase_contacts_create('{"type": 1, "firstName": "R2"}')$$),
    ($$esqase_contacts_create('{"type": "PERSON"}')$$),
    ($$esqase_contacts_create('{"type": "PERSON", "firstName": "  "}')$$),
    ($$esqase_contacts_create('{"type": "PERSON", "firstName": 42}')$$),
    ($$esqase_contacts_create('{"type": "COMPANY"}')$$),
    ($$esqase_contacts_create('{"type": "COMPANY", "companyName": "X", "firstName": "Y"}')$$),
    ($$esqase_contacts_create('{"type": "PERSON", "firstName": "X", "companyName": "Y"}')$$),
    ($$esqase_contacts_create('{"type": "PERSON", "firstName": "X", "favouriteColour": "blue"}')$$),
    ($$esqase_contacts_create('{"type": "PERSON", "firstName": "X", "emails": "x@example.com"}')$$),
    ($$esqase_contacts_create('{"type": "PERSON", "firstName": "X", "emails": ["not-an-email"]}')$$),
    ($$esqase_contacts_create('{"type": "PERSON", "firstName": "X", "emails": [42]}')$$),
    ($$esqase_contacts_create('{"type": "PERSON", "firstName": "X", "phones": [""]}')$$),
    ($$esqase_contacts_create('{"type": "PERSON", "firstName": "X", "id": "a1b2c3d4-0001-4a1b-9c2d-1234567890ab"}')$$),
    ($$esqase_contacts_create(jsonb_build_object('type', 'PERSON', 'firstName', repeat('x', 1001)))$$)
) AS cases(expr);

-- A failed create leaves nothing behind.
SELECT count(*) AS contacts_in_a FROM (SELECT jsonb_array_elements(t.api('a', 'esqase_contacts_list()') -> 'data')) x;

-- Update: only the fields sent change; emails and phones are replaced whole.
SELECT t.show('a', format($$esqase_contacts_update(%L, '{"lastName": "Roe", "emails": ["jane.roe@example.com"], "phones": []}')$$, t.id('jane')));
SELECT (t.api('a', format($$esqase_contacts_update(%L, '{"nickname": "JR"}')$$, t.id('jane')))
    #> '{data}') - '{id,createdAt,updatedAt}'::text[];
-- Sending the same type is harmless; null clears an optional field.
SELECT t.api('a', format($$esqase_contacts_update(%L, '{"type": "PERSON", "nickname": null}')$$, t.id('jane')))
    #>> '{data,nickname}' IS NULL AS nickname_cleared;

-- Update errors.
SELECT t.unid(expr) AS call, t.err('a', expr) FROM (VALUES
    (format($$esqase_contacts_update(%L, '{"type": "COMPANY"}')$$, t.id('jane'))),
    (format($$esqase_contacts_update(%L, '{"firstName": null, "lastName": null}')$$, t.id('jane'))),
    (format($$esqase_contacts_update(%L, '{"companyName": null}')$$, t.id('acme'))),
    (format($$esqase_contacts_update(%L, '{"lastName": "X"}')$$, t.id('acme'))),
    (format($$esqase_contacts_update(%L, '{"emails": ["a@b"]}')$$, t.id('jane'))),
    (format($$esqase_contacts_update(%L, '{"createdAt": "2020-01-01T00:00:00Z"}')$$, t.id('jane'))),
    (format($$esqase_contacts_update(%L, '[1]')$$, t.id('jane'))),
    ($$esqase_contacts_update('00000000-0000-4000-8000-000000000000', '{"lastName": "X"}')$$),
    ($$esqase_contacts_update('not-a-uuid', '{"lastName": "X"}')$$),
    ($$esqase_contacts_get('00000000-0000-4000-8000-000000000000')$$),
    ($$esqase_contacts_get('not-a-uuid')$$),
    ($$esqase_contacts_delete('00000000-0000-4000-8000-000000000000')$$)
) AS cases(expr);

-- A failed update changes nothing.
SELECT t.api('a', format('esqase_contacts_get(%L)', t.id('jane'))) #>> '{data,name}' AS still;

-- Delete is soft: the archived record comes back once, then 404 everywhere.
SELECT t.show('a', format('esqase_contacts_delete(%L)', t.id('acme')));
SELECT t.err('a', format('esqase_contacts_get(%L)', t.id('acme'))) AS get_after_delete,
       t.err('a', format($$esqase_contacts_update(%L, '{"companyName": "Y"}')$$, t.id('acme'))) AS update_after_delete,
       t.err('a', format('esqase_contacts_delete(%L)', t.id('acme'))) AS delete_after_delete;
SELECT t.api('a', 'esqase_contacts_list()') #> '{pagination}' AS pagination_after_delete,
       t.api('a', 'esqase_contacts_list()') -> 'data' @> jsonb_build_array(jsonb_build_object('id', t.id('acme'))) AS listed;
-- The row stays, archived.
RESET ROLE;
SELECT status, deleted_at IS NOT NULL AS deleted FROM esqase.contacts WHERE id = t.id('acme');
-- Contacts are searchable as soon as they are created.
SELECT name FROM esqase.contacts WHERE search @@ plainto_tsquery('simple', 'lovelace');
SELECT name FROM esqase.contacts WHERE search @@ plainto_tsquery('simple', 'jane.roe@example.com');
SET ROLE esqase_api;

-- Read-only keys read but cannot write.
SELECT t.err('a_read', 'esqase_contacts_list()') AS list_with_read,
       t.err('a_read', $$esqase_contacts_create('{"type": "PERSON", "firstName": "X"}')$$) AS create_with_read;
