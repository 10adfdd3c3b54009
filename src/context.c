/*
 * context.c — the API context: which firm, member and key the current
 * transaction acts as.
 *
 * Why C and not set_config(): a GUC can be set by any SQL user with
 * set_config('esqase.firm_id', ...), so a context kept in a GUC could be
 * forged to read another firm's rows.  Here the context lives in backend
 * memory that only esqase_authenticate() writes, after checking the token,
 * and it is cleared at the end of every top-level transaction (commit or
 * abort), so it never outlives the transaction that authenticated.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "common/cryptohash.h"
#include "common/sha2.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "esqase.h"

typedef struct ApiContext
{
	bool		valid;
	pg_uuid_t	firm_id;
	pg_uuid_t	member_id;
	pg_uuid_t	key_id;
	bool		is_owner;
	Datum		scopes;			/* text[] in ContextMemory */
	Datum		permissions;	/* text[] in ContextMemory */
	Oid			role;			/* the role that authenticated */
	uint32		may;			/* scopes the context may use (bits of scopes[]) */
	SubTransactionId subxid;	/* the subtransaction that authenticated */
} ApiContext;

static ApiContext api_context;

/*
 * The scopes, in the order of their bits in ApiContext.may, each with the
 * permission its member must also hold (owners hold every one): the
 * resources' scopes of sql/registry.pl (ESQ_SCOPES, build/esq_registry.h),
 * where the "Practice areas" permission of practice-areas:* and
 * matter-types:* is written.  The policies ask esqase.context_may(scope)
 * once per row they check, so the answer is a bit test, worked out once in
 * esqase_authenticate(); esqase.api_access asks it too, so the permission
 * rule is only here.  SQL reads the list through esqase.valid_scopes()
 * (keys are checked against it, 25_admin.sql), and
 * test/sql/55_rls_matrix.sql tries each.
 */
typedef struct ScopeName
{
	const char *name;
	const char *permission;		/* NULL: the key's scope is enough */
} ScopeName;

static const ScopeName scopes[] = {ESQ_SCOPES};

#define NSCOPES lengthof(scopes)
StaticAssertDecl(lengthof(scopes) == ESQ_NSCOPES, "ESQ_NSCOPES counts ESQ_SCOPES");
StaticAssertDecl(ESQ_NSCOPES <= 32, "a scope is a bit of ApiContext.may");

/* True while esqase_authenticate() looks the key up (api_plans.c). */
static bool authenticating = false;

bool
esqase_context_valid(void)
{
	return api_context.valid;
}

/* Whether the statements run now are the API's: a context, or its lookup. */
bool
esq_context_active(void)
{
	return api_context.valid || authenticating;
}

static int
scope_bit(const char *name, int len)
{
	for (int i = 0; i < (int) NSCOPES; i++)
		if (strlen(scopes[i].name) == (size_t) len &&
			strncmp(scopes[i].name, name, len) == 0)
			return i;
	return -1;
}

/* True if the text[] arr holds s. */
static bool
array_has(Datum arr, const char *s)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	bool		found = false;

	deconstruct_array(DatumGetArrayTypeP(arr), TEXTOID, -1, false, TYPALIGN_INT,
					  &elems, &nulls, &n);
	for (int i = 0; i < n && !found; i++)
		found = !nulls[i] && strcmp(TextDatumGetCString(elems[i]), s) == 0;
	return found;
}

/* The bits of the scopes the context may use: its key's scopes, less those
 * whose permission its member lacks (owners hold every one). */
static uint32
context_may_mask(void)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	uint32		mask = 0;

	deconstruct_array(DatumGetArrayTypeP(api_context.scopes), TEXTOID, -1, false,
					  TYPALIGN_INT, &elems, &nulls, &n);
	for (int i = 0; i < n; i++)
	{
		text	   *t;
		int			bit;

		if (nulls[i])
			continue;
		t = DatumGetTextPP(elems[i]);
		bit = scope_bit(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
		if (bit >= 0 &&
			(scopes[bit].permission == NULL || api_context.is_owner ||
			 array_has(api_context.permissions, scopes[bit].permission)))
			mask |= 1u << bit;
	}
	return mask;
}

/*
 * The X-Request-Id of the HTTP request this transaction serves, for the
 * audit log.  Set only from C (esq_context_set_request_id, by the HTTP
 * worker), never from SQL; cleared at the end of the transaction.
 */
static char request_id[ESQ_CONTEXT_REQUEST_ID_MAX + 1];
static SPIPlanPtr key_lookup_plan = NULL;
static MemoryContext ContextMemory = NULL;
static bool callback_registered = false;

/*
 * The keys this backend authenticated in the last minute, so that a worker
 * does not look its keys up again on every request (the lookup was a third
 * of a GET's CPU).  A key found here is as valid as the lookup would say:
 *
 *  - every change that can make a key invalid, or change its scopes or its
 *    member's permissions, fires a statement trigger (esqase.keys_changed)
 *    that invalidates esqase.api_keys' relcache entry: PostgreSQL sends
 *    that at commit to every backend (standbys too, through the WAL), and a
 *    backend takes it in before its next transaction starts, so a revoked
 *    key is refused from the first request after the revocation commits;
 *  - a key expires (expires_at, or the old secret's previous_valid_until
 *    after a rotation) at the time key_lookup returns as valid_until, and is
 *    looked up again at the latest a minute after it was, which also keeps
 *    its last_used_at fresh;
 *  - an invalidation that arrives while a key is being looked up voids what
 *    that lookup would add; a lookup under a snapshot older than its
 *    statement (REPEATABLE READ) adds nothing;
 *  - an entry holds the role that looked it up, the hash of the token (not
 *    the token), and is used by that role only.
 */
#define KNOWN_KEYS 64
#define KNOWN_KEY_MS 60000

typedef struct KnownKey
{
	uint8		hash[PG_SHA256_DIGEST_LENGTH];
	TimestampTz until;
	ApiContext	context;		/* its role: the one that looked it up; its
								 * scopes and permissions in KnownKeysMemory */
} KnownKey;

static KnownKey known_keys[KNOWN_KEYS];
static int	nknown = 0;
static MemoryContext KnownKeysMemory = NULL;
static Oid	known_keys_rel = InvalidOid;	/* esqase.api_keys */
static uint64 known_keys_changes = 0;

static void
forget_known_keys(Datum arg, Oid relid)
{
	if (relid != InvalidOid && relid != known_keys_rel)
		return;
	known_keys_changes++;
	nknown = 0;
	if (KnownKeysMemory != NULL)
		MemoryContextReset(KnownKeysMemory);
}

/*
 * The records the context names (esqase.target): a key with a write scope
 * but not the read scope of a resource reads and writes, in SQL, only the
 * rows it names by id, as over HTTP, where it reaches a record only by its
 * id in the URL (a PATCH answers with the record) and lists nothing
 * (docs/sql-api.md, "Write-only keys").  A hash of ids in ContextMemory:
 * a bulk create names every record it makes, and the policies ask per
 * row.  Gone with the context.
 */
static HTAB *targets = NULL;

static void
context_reset(void)
{
	api_context.valid = false;
	authenticating = false;
	targets = NULL;
	if (ContextMemory != NULL)
		MemoryContextReset(ContextMemory);
}

static void
context_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			request_id[0] = '\0';
			context_reset();
			break;
		default:
			break;
	}
}

/*
 * A context set inside a subtransaction (a savepoint, a PL/pgSQL exception
 * block) that is rolled back goes with it, as a setting would.
 */
static void
context_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						 SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB)
		authenticating = false;
	if (!api_context.valid)
		return;
	if (event == SUBXACT_EVENT_ABORT_SUB && api_context.subxid == mySubid)
		context_reset();
	else if (event == SUBXACT_EVENT_COMMIT_SUB && api_context.subxid == mySubid)
		api_context.subxid = parentSubid;
}

/* Makes sure the transaction-end hooks exist; called from _PG_init. */
void
esqase_context_init(void)
{
	if (!callback_registered)
	{
		RegisterXactCallback(context_xact_callback, NULL);
		RegisterSubXactCallback(context_subxact_callback, NULL);
		callback_registered = true;
	}
	if (ContextMemory == NULL)
		ContextMemory = AllocSetContextCreate(TopMemoryContext,
											  "esqase API context",
											  ALLOCSET_SMALL_SIZES);
	if (KnownKeysMemory == NULL)
	{
		KnownKeysMemory = AllocSetContextCreate(TopMemoryContext,
												"esqase known keys",
												ALLOCSET_SMALL_SIZES);
		CacheRegisterRelcacheCallback(forget_known_keys, (Datum) 0);
	}
}

static void
copy_uuid(pg_uuid_t *dst, HeapTuple tup, TupleDesc desc, int attno)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, desc, attno, &isnull);

	if (isnull)
		elog(ERROR, "esqase.key_lookup returned a NULL id");
	memcpy(dst, DatumGetUUIDP(d), sizeof(pg_uuid_t));
}

static Datum
copy_array(HeapTuple tup, TupleDesc desc, int attno)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, desc, attno, &isnull);
	MemoryContext old;
	Datum		copy;

	if (isnull)
		d = PointerGetDatum(construct_empty_array(TEXTOID));
	old = MemoryContextSwitchTo(ContextMemory);
	copy = datumCopy(d, false, -1);
	MemoryContextSwitchTo(old);
	return copy;
}

/* Sets the context from a row of esqase.key_lookup (or its like). */
static void
context_set(HeapTuple tup, TupleDesc desc)
{
	bool		isnull;

	copy_uuid(&api_context.firm_id, tup, desc, 1);
	copy_uuid(&api_context.member_id, tup, desc, 2);
	copy_uuid(&api_context.key_id, tup, desc, 3);
	api_context.is_owner = DatumGetBool(SPI_getbinval(tup, desc, 4, &isnull)) && !isnull;
	api_context.scopes = copy_array(tup, desc, 5);
	api_context.permissions = copy_array(tup, desc, 6);
	api_context.may = context_may_mask();
	api_context.role = GetUserId();
	api_context.subxid = GetCurrentSubTransactionId();
	api_context.valid = true;
	targets = NULL;				/* another key names its own records */
}

static void
token_hash(text *token, uint8 *hash)
{
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);

	if (ctx == NULL || pg_cryptohash_init(ctx) < 0 ||
		pg_cryptohash_update(ctx, (uint8 *) VARDATA_ANY(token), VARSIZE_ANY_EXHDR(token)) < 0 ||
		pg_cryptohash_final(ctx, hash, PG_SHA256_DIGEST_LENGTH) < 0)
		elog(ERROR, "could not hash an API key: %s", pg_cryptohash_error(ctx));
	pg_cryptohash_free(ctx);
}

/* Sets the context from a known key, if hash is one; false if not. */
static bool
context_from_known(const uint8 *hash)
{
	MemoryContext old;

	for (int i = 0; i < nknown; i++)
	{
		KnownKey   *k = &known_keys[i];

		if (k->context.role != GetUserId() || memcmp(k->hash, hash, sizeof(k->hash)) != 0)
			continue;
		if (GetCurrentTimestamp() >= k->until)
			return false;
		api_context = k->context;
		old = MemoryContextSwitchTo(ContextMemory);
		api_context.scopes = datumCopy(k->context.scopes, false, -1);
		api_context.permissions = datumCopy(k->context.permissions, false, -1);
		MemoryContextSwitchTo(old);
		api_context.subxid = GetCurrentSubTransactionId();
		return true;
	}
	return false;
}

/* Keeps the context just looked up as the key of hash, valid until until. */
static void
remember_key(const uint8 *hash, TimestampTz until)
{
	KnownKey   *k;
	MemoryContext old;

	for (int i = 0; i < nknown; i++)
		if (known_keys[i].context.role == api_context.role &&
			memcmp(known_keys[i].hash, hash, PG_SHA256_DIGEST_LENGTH) == 0)
		{
			/* a key looked up again (a minute old): the old copy goes */
			pfree(DatumGetPointer(known_keys[i].context.scopes));
			pfree(DatumGetPointer(known_keys[i].context.permissions));
			known_keys[i] = known_keys[--nknown];
			break;
		}
	if (nknown == KNOWN_KEYS)
		forget_known_keys((Datum) 0, InvalidOid);	/* full: start again */
	k = &known_keys[nknown];
	memcpy(k->hash, hash, sizeof(k->hash));
	k->until = Min(until, TimestampTzPlusMilliseconds(GetCurrentTimestamp(), KNOWN_KEY_MS));
	k->context = api_context;
	old = MemoryContextSwitchTo(KnownKeysMemory);
	k->context.scopes = datumCopy(api_context.scopes, false, -1);
	k->context.permissions = datumCopy(api_context.permissions, false, -1);
	MemoryContextSwitchTo(old);
	nknown++;
}

/*
 * esqase.keys_changed(): the statement trigger of esqase.api_keys and
 * esqase.members (20_triggers.sql) that makes every backend forget the
 * keys it knows, when the change commits.
 */
PG_FUNCTION_INFO_V1(esqase_keys_changed);
Datum
esqase_keys_changed(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	Oid			rel;

	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "esqase.keys_changed: not called as a trigger");
	rel = get_relname_relid("api_keys", RelationGetNamespace(trigdata->tg_relation));
	if (OidIsValid(rel))
		CacheInvalidateRelcacheByRelid(rel);
	return PointerGetDatum(NULL);
}

/*
 * esqase_authenticate(token text) RETURNS void
 *
 * Validates the token through esqase.key_lookup() (SECURITY DEFINER: the
 * caller cannot read api_keys) and sets the context for this transaction.
 * key_lookup raises 28000 itself for an unknown, revoked or expired key.
 */
PG_FUNCTION_INFO_V1(esqase_authenticate);
Datum
esqase_authenticate(PG_FUNCTION_ARGS)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1];
	int			ret;
	uint8		hash[PG_SHA256_DIGEST_LENGTH];
	uint64		changes_before;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("an API key is required")));

	esqase_context_init();
	context_reset();
	values[0] = PG_GETARG_DATUM(0);
	token_hash(PG_GETARG_TEXT_PP(0), hash);
	/* a second key in one transaction: what committed since its start counts */
	AcceptInvalidationMessages();
	if (context_from_known(hash))
		PG_RETURN_VOID();
	changes_before = known_keys_changes;
	known_keys_rel = get_relname_relid("api_keys", get_namespace_oid("esqase", true));

	SPI_connect();
	/*
	 * Planned once per backend, generic (a custom plan for each token would
	 * be planned again on every call): this runs on every API request.  The
	 * plan names the function by schema, and the plan cache re-plans it if
	 * the extension is dropped and created again.  Its columns are
	 * key_lookup's: firm_id, member_id, key_id, is_owner, scopes,
	 * permissions, then (from 0.3.0) valid_until.
	 */
	if (key_lookup_plan == NULL)
	{
		SPIPlanPtr	plan = SPI_prepare_cursor("SELECT * FROM esqase.key_lookup($1)",
											  1, argtypes, CURSOR_OPT_GENERIC_PLAN);

		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed for esqase.key_lookup: %s",
				 SPI_result_code_string(SPI_result));
		SPI_keepplan(plan);
		key_lookup_plan = plan;
	}
	/*
	 * The lookup is an API statement too (api_plans.c).  An error in it aborts
	 * the (sub)transaction, whose callbacks clear the flag.
	 */
	authenticating = true;
	ret = SPI_execute_plan(key_lookup_plan, values, NULL, false, 1);
	authenticating = false;
	if (ret != SPI_OK_SELECT || SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("invalid API key")));
	context_set(SPI_tuptable->vals[0], SPI_tuptable->tupdesc);
	if (SPI_tuptable->tupdesc->natts >= 7 && !IsolationUsesXactSnapshot() &&
		known_keys_changes == changes_before && OidIsValid(known_keys_rel))
	{
		bool		isnull;
		Datum		until = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 7, &isnull);

		remember_key(hash, isnull ? DT_NOEND : DatumGetTimestampTz(until));
	}
	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * The context of the API key key_id (a uuid Datum), for the webhook
 * delivery worker (webhook_worker.c), which asks as that key whether it
 * may read a record: from C only, never from SQL, like
 * esqase_authenticate.  False, and no context, if the key is revoked,
 * expired or its member inactive (esqase.webhook_key_context).  The caller
 * is connected to SPI.
 */
bool
esq_context_for_key(Datum key_id)
{
	Oid			argtypes[1] = {UUIDOID};
	Datum		values[1] = {key_id};

	esqase_context_init();
	context_reset();
	if (SPI_execute_with_args("SELECT firm_id, member_id, key_id, is_owner, scopes, permissions "
							  "FROM esqase.webhook_key_context($1)",
							  1, argtypes, values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "esqase.webhook_key_context failed");
	if (SPI_processed != 1)
		return false;
	context_set(SPI_tuptable->vals[0], SPI_tuptable->tupdesc);
	return true;
}

/* Ends a context esq_context_for_key set, before the transaction ends. */
void
esq_context_clear(void)
{
	context_reset();
}

static Datum
uuid_datum(const pg_uuid_t *src)
{
	pg_uuid_t  *u = palloc(sizeof(pg_uuid_t));

	memcpy(u, src, sizeof(pg_uuid_t));
	return UUIDPGetDatum(u);
}

bool
esq_context_firm_id(pg_uuid_t *firm)
{
	if (!api_context.valid)
		return false;
	*firm = api_context.firm_id;
	return true;
}

PG_FUNCTION_INFO_V1(esqase_context_firm);
Datum
esqase_context_firm(PG_FUNCTION_ARGS)
{
	if (!api_context.valid)
		PG_RETURN_NULL();
	return uuid_datum(&api_context.firm_id);
}

PG_FUNCTION_INFO_V1(esqase_context_member);
Datum
esqase_context_member(PG_FUNCTION_ARGS)
{
	if (!api_context.valid)
		PG_RETURN_NULL();
	return uuid_datum(&api_context.member_id);
}

PG_FUNCTION_INFO_V1(esqase_context_key);
Datum
esqase_context_key(PG_FUNCTION_ARGS)
{
	if (!api_context.valid)
		PG_RETURN_NULL();
	return uuid_datum(&api_context.key_id);
}

PG_FUNCTION_INFO_V1(esqase_context_is_owner);
Datum
esqase_context_is_owner(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(api_context.valid && api_context.is_owner);
}

PG_FUNCTION_INFO_V1(esqase_context_scopes);
Datum
esqase_context_scopes(PG_FUNCTION_ARGS)
{
	if (!api_context.valid)
		PG_RETURN_NULL();
	return datumCopy(api_context.scopes, false, -1);
}

PG_FUNCTION_INFO_V1(esqase_context_permissions);
Datum
esqase_context_permissions(PG_FUNCTION_ARGS)
{
	if (!api_context.valid)
		PG_RETURN_NULL();
	return datumCopy(api_context.permissions, false, -1);
}

/* The role that called esqase_authenticate(), for the audit log. */
PG_FUNCTION_INFO_V1(esqase_context_role);
Datum
esqase_context_role(PG_FUNCTION_ARGS)
{
	char	   *name;

	if (!api_context.valid)
		PG_RETURN_NULL();
	name = GetUserNameFromId(api_context.role, true);
	if (name == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(name));
}

/* Whether the context's key may use scope bit (-1: no scope). */
static inline bool
context_may_bit(int bit)
{
	return bit >= 0 && (api_context.may & (1u << bit)) != 0;
}

/*
 * esqase.context_may(scope text) RETURNS boolean
 *
 * Whether the API context may use scope: the key holds it and the member
 * holds the scope's permission, if it has one (practice-areas:* and
 * matter-types:*: the Practice areas permission), or is an owner.  False
 * without a context and for a name that is no scope.  The row-level
 * security policies call it per row, esqase.api_access once per call.
 */
PG_FUNCTION_INFO_V1(esqase_context_may);
Datum
esqase_context_may(PG_FUNCTION_ARGS)
{
	text	   *scope = PG_GETARG_TEXT_PP(0);
	int			bit;

	if (!api_context.valid)
		PG_RETURN_BOOL(false);
	bit = scope_bit(VARDATA_ANY(scope), VARSIZE_ANY_EXHDR(scope));
	PG_RETURN_BOOL(context_may_bit(bit));
}

/* esqase.valid_scopes() RETURNS text[]: the scopes a key can be given. */
PG_FUNCTION_INFO_V1(esqase_valid_scopes);
Datum
esqase_valid_scopes(PG_FUNCTION_ARGS)
{
	Datum		elems[NSCOPES];

	for (int i = 0; i < (int) NSCOPES; i++)
		elems[i] = CStringGetTextDatum(scopes[i].name);
	PG_RETURN_ARRAYTYPE_P(construct_array(elems, NSCOPES, TEXTOID, -1, false, TYPALIGN_INT));
}

/*
 * esqase.written_here(x xid) RETURNS boolean
 *
 * Whether x (a row's xmin) is this transaction or one of its
 * subtransactions: a lead inserted by this very transaction may get its
 * first assignees before anyone can see it (34_leads.sql).
 */
PG_FUNCTION_INFO_V1(esqase_written_here);
Datum
esqase_written_here(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(TransactionIdIsCurrentTransactionId(DatumGetTransactionId(PG_GETARG_DATUM(0))));
}

static void
target_add(pg_uuid_t *id)
{
	if (targets == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(pg_uuid_t);
		ctl.entrysize = sizeof(pg_uuid_t);
		ctl.hcxt = ContextMemory;
		targets = hash_create("esqase targets", 16, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	(void) hash_search(targets, id, HASH_ENTER, NULL);
}

/*
 * esqase.target(record_id uuid) RETURNS uuid
 * esqase.targets(record_ids uuid[]) RETURNS uuid[]
 *
 * Names records the context works on, until the end of the transaction,
 * and returns its argument.  Only with a context (without one every policy
 * denies anyway).  Naming a record widens nothing a key can do over HTTP:
 * a key with the write scope reaches any record by its id there.
 */
PG_FUNCTION_INFO_V1(esqase_target);
Datum
esqase_target(PG_FUNCTION_ARGS)
{
	if (api_context.valid)
		target_add(PG_GETARG_UUID_P(0));
	PG_RETURN_DATUM(PG_GETARG_DATUM(0));
}

PG_FUNCTION_INFO_V1(esqase_targets);
Datum
esqase_targets(PG_FUNCTION_ARGS)
{
	ArrayType  *ids = PG_GETARG_ARRAYTYPE_P(0);

	if (api_context.valid)
	{
		Datum	   *elems;
		bool	   *nulls;
		int			n;

		deconstruct_array(ids, UUIDOID, UUID_LEN, false, TYPALIGN_CHAR, &elems, &nulls, &n);
		for (int i = 0; i < n; i++)
			if (!nulls[i])
				target_add(DatumGetUUIDP(elems[i]));
	}
	PG_RETURN_ARRAYTYPE_P(ids);
}

/*
 * esqase.context_targeted(record_id uuid) RETURNS boolean
 *
 * Whether the context named the record (esqase.target): the policies' test
 * for a key that writes a resource it may not read.
 */
PG_FUNCTION_INFO_V1(esqase_context_targeted);
Datum
esqase_context_targeted(PG_FUNCTION_ARGS)
{
	bool		found = false;

	if (api_context.valid && targets != NULL)
		(void) hash_search(targets, PG_GETARG_UUID_P(0), HASH_FIND, &found);
	PG_RETURN_BOOL(found);
}

/*
 * A resource's read and write scope bits, found once per call site and kept
 * in fn_extra: the policies call esqase.context_reaches per row, with the
 * resource as a constant.
 */
typedef struct ReachBits
{
	int			read;
	int			write;
	int			len;
	char		resource[NAMEDATALEN];
} ReachBits;

static const ReachBits *
reach_bits(FunctionCallInfo fcinfo, text *resource)
{
	static const ReachBits none = {-1, -1, -1, ""};
	ReachBits  *b = (ReachBits *) fcinfo->flinfo->fn_extra;
	const char *name = VARDATA_ANY(resource);
	int			len = VARSIZE_ANY_EXHDR(resource);
	char		scope[NAMEDATALEN + sizeof(":write")];

	if (len >= NAMEDATALEN)
		return &none;
	if (b != NULL && b->len == len && memcmp(b->resource, name, len) == 0)
		return b;
	if (b == NULL)
		fcinfo->flinfo->fn_extra = b = MemoryContextAlloc(fcinfo->flinfo->fn_mcxt, sizeof(ReachBits));
	memcpy(b->resource, name, len);
	b->len = len;
	memcpy(scope, name, len);
	memcpy(scope + len, ":read", strlen(":read"));
	b->read = scope_bit(scope, len + strlen(":read"));
	memcpy(scope + len, ":write", strlen(":write"));
	b->write = scope_bit(scope, len + strlen(":write"));
	return b;
}

/*
 * esqase.context_reaches(resource text, record_id uuid, deleted_at timestamptz) RETURNS boolean
 *
 * The policies' reach word (tools/generate.pl) in one call: the context may
 * read the resource, or may write it and named the record (esqase.target),
 * live (deleted_at NULL; a table without deleted_at passes NULL) or deleted
 * by this transaction.  One call rather than the five calls and three
 * operators it was written with: every statement that reads a table sets
 * up its policy's whole expression, whether a row needs all of it or not.
 * Not strict: a NULL deleted_at is a live record.
 */
PG_FUNCTION_INFO_V1(esqase_context_reaches);
Datum
esqase_context_reaches(PG_FUNCTION_ARGS)
{
	const ReachBits *bits;
	bool		found = false;

	if (!api_context.valid || PG_ARGISNULL(0))
		PG_RETURN_BOOL(false);
	bits = reach_bits(fcinfo, PG_GETARG_TEXT_PP(0));
	if (context_may_bit(bits->read))
		PG_RETURN_BOOL(true);
	if (!context_may_bit(bits->write) || PG_ARGISNULL(1) || targets == NULL)
		PG_RETURN_BOOL(false);
	if (!PG_ARGISNULL(2) &&
		PG_GETARG_TIMESTAMPTZ(2) != GetCurrentTransactionStartTimestamp())
		PG_RETURN_BOOL(false);	/* deleted before this transaction */
	(void) hash_search(targets, PG_GETARG_UUID_P(1), HASH_FIND, &found);
	PG_RETURN_BOOL(found);
}

/*
 * esqase.context_targets() RETURNS uuid[]
 *
 * The records the context named, in no order (empty without any): the
 * reference policies look up by them the records a write-only key renders
 * (28_references.sql, esqase.named_refers).
 */
PG_FUNCTION_INFO_V1(esqase_context_targets);
Datum
esqase_context_targets(PG_FUNCTION_ARGS)
{
	int			n = (api_context.valid && targets != NULL) ? (int) hash_get_num_entries(targets) : 0;
	Datum	   *elems = palloc(sizeof(Datum) * Max(n, 1));
	int			i = 0;

	if (n > 0)
	{
		HASH_SEQ_STATUS seq;
		pg_uuid_t  *id;

		hash_seq_init(&seq, targets);
		while ((id = hash_seq_search(&seq)) != NULL)
			elems[i++] = UUIDPGetDatum(id);
	}
	PG_RETURN_ARRAYTYPE_P(construct_array(elems, i, UUIDOID, UUID_LEN, false, TYPALIGN_CHAR));
}

/* For the HTTP worker: the request id of the current transaction. */
void
esq_context_set_request_id(const char *id)
{
	esqase_context_init();
	strlcpy(request_id, id ? id : "", sizeof(request_id));
}

/* The X-Request-Id of the HTTP request of this transaction, for the audit log. */
PG_FUNCTION_INFO_V1(esqase_context_request_id);
Datum
esqase_context_request_id(PG_FUNCTION_ARGS)
{
	if (request_id[0] == '\0')
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(request_id));
}
