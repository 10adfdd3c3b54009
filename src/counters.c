/*
 * counters.c — the maintained totals (esqase.record_counts) and the public
 * id counters (esqase.public_id_counters), written once per transaction.
 *
 * Why: both are rows that every create updates.  Inside one transaction,
 * each UPDATE of a row must walk every version of it that the same
 * transaction wrote before (none can be pruned until it ends), so a
 * transaction that writes n records paid O(n) for its last one and O(n^2)
 * in all: 100,000 contacts in one transaction did not finish in 8 minutes.
 *
 * What, for the totals: the count triggers (20_triggers.sql) add their
 * change to a per-transaction tally in backend memory
 * (esqase.count_defer); at pre-commit the tally is written with
 * esqase.count_add, one row change per firm and list, whatever the number
 * of statements.  Totals read in the same transaction add the tally
 * (esqase.count_pending, in esqase.record_total), so they stay exact; other
 * transactions see the change when it commits, with the records, as
 * before.  Concurrent writers still never queue behind one row: count_add
 * picks a slot no other transaction holds, and now holds it only for the
 * length of a commit.
 *
 * For the public ids: the first number a transaction takes for a firm and
 * kind is taken in SQL as before (the upsert of the counter row, under the
 * caller's privileges and row-level security), which locks the row until
 * the transaction ends; the next numbers come from backend memory
 * (esqase.public_id_next), and at pre-commit the last one is written, once.
 * Numbers stay gap-free and unique per firm: the row lock still serialises
 * the firm's creators, and a number taken in a subtransaction that rolls
 * back is given back (the savepoint's value is restored; a lock taken in
 * it goes with it, and so does the memory of it).
 *
 * Subtransactions: a tally is kept per open subtransaction level; a level
 * that commits joins its parent's, one that aborts is dropped.  TRUNCATE
 * of a counted table empties its lists' rows and cancels their tally
 * (esqase.count_cancel), at the truncating level, so a rollback to a
 * savepoint before the TRUNCATE brings the tally back.
 *
 * The pre-commit writes run as the extension's owner (as the SECURITY
 * DEFINER count triggers did) with search_path = pg_catalog, pg_temp.
 * esqase.count_defer, esqase.count_cancel and esqase.public_id_next are
 * therefore not callable by PUBLIC (public ids are handed out by
 * esqase.next_public_id); esqase.count_pending is.  A public id
 * row is written at commit only after this transaction's own upsert passed
 * the caller's privileges and policies.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/uuid.h"

#include "esqase.h"

#define LIST_NAME_MAX 24		/* the longest list name is 16 bytes */

/* A subtransaction level's part of a tally, or its saved public id. */
typedef struct Level
{
	SubTransactionId subid;
	int64		value;			/* counts: the level's delta; ids: the value
								 * before the level's first number */
} Level;

typedef struct Levels
{
	int			n;
	int			size;
	Level	   *items;			/* innermost last */
} Levels;

typedef struct CountKey
{
	pg_uuid_t	firm;
	char		list[LIST_NAME_MAX];
} CountKey;

typedef struct CountEntry
{
	CountKey	key;
	Levels		levels;
} CountEntry;

typedef struct IdKey
{
	pg_uuid_t	firm;
	char		kind;
} IdKey;

typedef struct IdEntry
{
	IdKey		key;
	int64		value;			/* the last number handed out */
	int64		first;			/* the first number this transaction took */
	int64		stored;			/* the value the counter row holds */
	SubTransactionId lock_subid;	/* the level whose upsert locked the row */
	Levels		levels;
} IdEntry;

static HTAB *counts = NULL;		/* in TopTransactionContext, or NULL */
static HTAB *ids = NULL;
/* no level of any entry is deeper than this subtransaction */
static SubTransactionId deepest = InvalidSubTransactionId;
static bool flushing = false;
static bool callbacks_registered = false;

static SPIPlanPtr take_plan = NULL;
static SPIPlanPtr count_flush_plan = NULL;
static SPIPlanPtr id_flush_plan = NULL;

static void counters_xact_callback(XactEvent event, void *arg);
static void counters_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
									  SubTransactionId parentSubid, void *arg);

void
esq_counters_init(void)
{
	if (callbacks_registered)
		return;
	RegisterXactCallback(counters_xact_callback, NULL);
	RegisterSubXactCallback(counters_subxact_callback, NULL);
	callbacks_registered = true;
}

static HTAB *
make_table(const char *name, Size keysize, Size entrysize)
{
	HASHCTL		ctl;

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = keysize;
	ctl.entrysize = entrysize;
	ctl.hcxt = TopTransactionContext;
	return hash_create(name, 16, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
}

static Level *
levels_top(Levels *l)
{
	return l->n > 0 ? &l->items[l->n - 1] : NULL;
}

static Level *
levels_push(Levels *l, SubTransactionId subid, int64 value)
{
	if (l->n == l->size)
	{
		int			size = l->size ? 2 * l->size : 4;

		l->items = l->items
			? repalloc(l->items, size * sizeof(Level))
			: MemoryContextAlloc(TopTransactionContext, size * sizeof(Level));
		l->size = size;
	}
	l->items[l->n].subid = subid;
	l->items[l->n].value = value;
	if (subid > deepest)
		deepest = subid;
	return &l->items[l->n++];
}

static void
count_key(CountKey *key, pg_uuid_t *firm, text *list)
{
	int			len = VARSIZE_ANY_EXHDR(list);

	if (len <= 0 || len >= LIST_NAME_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("esqase: \"%s\" is not a counted list", text_to_cstring(list))));
	memset(key, 0, sizeof(*key));
	memcpy(&key->firm, firm, sizeof(pg_uuid_t));
	memcpy(key->list, VARDATA_ANY(list), len);
}

static int64
levels_sum(Levels *l)
{
	int64		sum = 0;

	for (int i = 0; i < l->n; i++)
		sum += l->items[i].value;
	return sum;
}

/*
 * esqase.count_defer(firm uuid, list text, delta bigint) RETURNS void
 *
 * Adds delta to this transaction's change of the firm's count of list,
 * written at commit.  Called by the count triggers only.
 */
PG_FUNCTION_INFO_V1(esqase_count_defer);
Datum
esqase_count_defer(PG_FUNCTION_ARGS)
{
	CountKey	key;
	CountEntry *e;
	bool		found;
	SubTransactionId cur = GetCurrentSubTransactionId();
	Level	   *top;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		PG_RETURN_VOID();
	if (flushing)
		elog(ERROR, "esqase: a count changed while the counts were being written");
	count_key(&key, PG_GETARG_UUID_P(0), PG_GETARG_TEXT_PP(1));
	if (counts == NULL)
		counts = make_table("esqase pending counts", sizeof(CountKey), sizeof(CountEntry));
	e = hash_search(counts, &key, HASH_ENTER, &found);
	if (!found)
		memset(&e->levels, 0, sizeof(Levels));
	top = levels_top(&e->levels);
	if (top == NULL || top->subid != cur)
		top = levels_push(&e->levels, cur, 0);
	top->value += PG_GETARG_INT64(2);
	PG_RETURN_VOID();
}

/*
 * esqase.count_pending(firm uuid, list text) RETURNS bigint
 *
 * This transaction's change of the firm's count of list, not yet written.
 */
PG_FUNCTION_INFO_V1(esqase_count_pending);
Datum
esqase_count_pending(PG_FUNCTION_ARGS)
{
	CountKey	key;
	CountEntry *e;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_INT64(0);
	if (counts == NULL)
		PG_RETURN_INT64(0);
	count_key(&key, PG_GETARG_UUID_P(0), PG_GETARG_TEXT_PP(1));
	e = hash_search(counts, &key, HASH_FIND, NULL);
	PG_RETURN_INT64(e ? levels_sum(&e->levels) : 0);
}

/*
 * esqase.count_cancel(lists text[]) RETURNS void
 *
 * For TRUNCATE of a counted table: its lists' rows are deleted, so this
 * transaction's change of them is cancelled, at the current level.
 */
PG_FUNCTION_INFO_V1(esqase_count_cancel);
Datum
esqase_count_cancel(PG_FUNCTION_ARGS)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	HASH_SEQ_STATUS seq;
	CountEntry *e;
	SubTransactionId cur = GetCurrentSubTransactionId();

	if (PG_ARGISNULL(0) || counts == NULL)
		PG_RETURN_VOID();
	deconstruct_array(PG_GETARG_ARRAYTYPE_P(0), TEXTOID, -1, false, TYPALIGN_INT,
					  &elems, &nulls, &n);
	hash_seq_init(&seq, counts);
	while ((e = hash_seq_search(&seq)) != NULL)
	{
		for (int i = 0; i < n; i++)
		{
			text	   *t;
			int64		sum;
			Level	   *top;

			if (nulls[i])
				continue;
			t = DatumGetTextPP(elems[i]);
			if (VARSIZE_ANY_EXHDR(t) != strnlen(e->key.list, LIST_NAME_MAX) ||
				memcmp(VARDATA_ANY(t), e->key.list, VARSIZE_ANY_EXHDR(t)) != 0)
				continue;
			sum = levels_sum(&e->levels);
			if (sum == 0)
				continue;
			top = levels_top(&e->levels);
			if (top == NULL || top->subid != cur)
				top = levels_push(&e->levels, cur, 0);
			top->value -= sum;
		}
	}
	PG_RETURN_VOID();
}

/*
 * esqase.public_id_next(firm uuid, kind text) RETURNS integer
 *
 * The firm's next number of kind (M for matters, L for leads).  The first
 * of the transaction locks and advances the counter row in SQL, as the
 * caller (esqase.next_public_id, SECURITY DEFINER, the only one granted
 * it); the next ones are counted here and written at commit.
 */
PG_FUNCTION_INFO_V1(esqase_public_id_next);
Datum
esqase_public_id_next(PG_FUNCTION_ARGS)
{
	IdKey		key;
	IdEntry    *e;
	text	   *kind;
	SubTransactionId cur = GetCurrentSubTransactionId();

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_NULL();
	kind = PG_GETARG_TEXT_PP(1);
	if (VARSIZE_ANY_EXHDR(kind) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("esqase: a public id kind is one letter")));
	memset(&key, 0, sizeof(key));
	memcpy(&key.firm, PG_GETARG_UUID_P(0), sizeof(pg_uuid_t));
	key.kind = *VARDATA_ANY(kind);

	if (ids != NULL && (e = hash_search(ids, &key, HASH_FIND, NULL)) != NULL)
	{
		Level	   *top = levels_top(&e->levels);

		/* the first number of this level: remember where it started */
		if (e->lock_subid != cur && (top == NULL || top->subid != cur))
			levels_push(&e->levels, cur, e->value);
		if (e->value >= PG_INT32_MAX)
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("esqase: the firm's public ids of kind %c are used up", key.kind)));
		e->value++;
		PG_RETURN_INT32((int32) e->value);
	}
	else
	{
		Oid			argtypes[2] = {UUIDOID, TEXTOID};
		Datum		values[2];
		bool		isnull;
		int32		n;

		if (flushing)
			elog(ERROR, "esqase: a public id was taken while the counters were being written");
		values[0] = PG_GETARG_DATUM(0);
		values[1] = PointerGetDatum(kind);
		SPI_connect();
		if (take_plan == NULL)
		{
			SPIPlanPtr	plan = SPI_prepare("INSERT INTO esqase.public_id_counters AS c (firm_id, kind, last_value) "
										   "VALUES ($1, $2, 1) "
										   "ON CONFLICT (firm_id, kind) DO UPDATE SET last_value = c.last_value + 1 "
										   "RETURNING c.last_value", 2, argtypes);

			if (plan == NULL)
				elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
			SPI_keepplan(plan);
			take_plan = plan;
		}
		if (SPI_execute_plan(take_plan, values, NULL, false, 1) != SPI_OK_INSERT_RETURNING ||
			SPI_processed != 1)
			elog(ERROR, "esqase: the public id counter was not advanced");
		n = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		SPI_finish();

		if (ids == NULL)
			ids = make_table("esqase public ids", sizeof(IdKey), sizeof(IdEntry));
		e = hash_search(ids, &key, HASH_ENTER, NULL);
		e->value = n;
		e->first = n;
		e->stored = n;
		e->lock_subid = cur;
		memset(&e->levels, 0, sizeof(Levels));
		if (cur > deepest)
			deepest = cur;
		PG_RETURN_INT32(n);
	}
}

/*
 * esqase.public_id_issued(firm uuid, public_id text) RETURNS boolean
 *
 * Whether public_id (M-0001, L-12345: esqase.public_id's spelling) is a
 * number this transaction took for the firm from esqase.public_id_next and
 * still holds (a subtransaction that rolled back gave its numbers back).
 * The insert policies of matters and leads ask it: a record is numbered by
 * the counter, as the API numbers it, never by a number its writer chose
 * (issue 21: a number chosen ahead would make a later create fail).
 */
PG_FUNCTION_INFO_V1(esqase_public_id_issued);
Datum
esqase_public_id_issued(PG_FUNCTION_ARGS)
{
	text	   *pid = PG_GETARG_TEXT_PP(1);
	const char *s = VARDATA_ANY(pid);
	int			len = VARSIZE_ANY_EXHDR(pid);
	IdKey		key;
	IdEntry    *e;
	int64		n = 0;
	char		canon[16];

	if (ids == NULL || len < 3 || len > 12 || s[1] != '-')
		PG_RETURN_BOOL(false);
	for (int i = 2; i < len; i++)
	{
		if (s[i] < '0' || s[i] > '9')
			PG_RETURN_BOOL(false);
		n = n * 10 + (s[i] - '0');
	}
	/* the one spelling esqase.public_id gives the number */
	snprintf(canon, sizeof(canon), n < 10000 ? "%c-%04lld" : "%c-%lld", s[0], (long long) n);
	if ((int) strlen(canon) != len || memcmp(canon, s, len) != 0)
		PG_RETURN_BOOL(false);
	memset(&key, 0, sizeof(key));
	memcpy(&key.firm, PG_GETARG_UUID_P(0), sizeof(pg_uuid_t));
	key.kind = s[0];
	e = hash_search(ids, &key, HASH_FIND, NULL);
	PG_RETURN_BOOL(e != NULL && n >= e->first && n <= e->value);
}

/* A subtransaction ends: its levels join the parent's, or are dropped. */
static void
counters_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						  SubTransactionId parentSubid, void *arg)
{
	bool		commit;
	HASH_SEQ_STATUS seq;

	if (event == SUBXACT_EVENT_COMMIT_SUB)
		commit = true;
	else if (event == SUBXACT_EVENT_ABORT_SUB)
		commit = false;
	else
		return;
	if (deepest < mySubid)
		return;					/* nothing was counted at this level */

	if (counts != NULL)
	{
		CountEntry *e;

		hash_seq_init(&seq, counts);
		while ((e = hash_seq_search(&seq)) != NULL)
		{
			Level	   *top = levels_top(&e->levels);
			Level	   *below;

			if (top == NULL || top->subid != mySubid)
				continue;
			below = e->levels.n > 1 ? &e->levels.items[e->levels.n - 2] : NULL;
			if (!commit)
				e->levels.n--;
			else if (below && below->subid == parentSubid)
			{
				below->value += top->value;
				e->levels.n--;
			}
			else
				top->subid = parentSubid;
		}
	}
	if (ids != NULL)
	{
		IdEntry    *e;

		hash_seq_init(&seq, ids);
		while ((e = hash_seq_search(&seq)) != NULL)
		{
			Level	   *top = levels_top(&e->levels);

			if (e->lock_subid == mySubid && !commit)
			{
				/* the row lock went with the subtransaction */
				hash_search(ids, &e->key, HASH_REMOVE, NULL);
				continue;
			}
			if (e->lock_subid == mySubid)
				e->lock_subid = parentSubid;
			if (top == NULL || top->subid != mySubid)
				continue;
			if (!commit)
			{
				e->value = top->value;	/* the numbers are given back */
				e->levels.n--;
			}
			else if ((e->levels.n > 1 && e->levels.items[e->levels.n - 2].subid == parentSubid) ||
					 e->lock_subid == parentSubid)
				e->levels.n--;	/* the parent's start is the older one */
			else
				top->subid = parentSubid;
		}
	}
	deepest = parentSubid;
}

/* search_path = pg_catalog, pg_temp for the writes made as the owner */
static int
safe_search_path(void)
{
	int			nest = NewGUCNestLevel();

	(void) set_config_option("search_path", "pg_catalog, pg_temp", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	return nest;
}

static SPIPlanPtr
keep_plan(SPIPlanPtr *slot, const char *sql, int nargs, Oid *argtypes)
{
	if (*slot == NULL)
	{
		SPIPlanPtr	plan = SPI_prepare(sql, nargs, argtypes);

		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
		SPI_keepplan(plan);
		*slot = plan;
	}
	return *slot;
}

/* Writes the counts of this transaction, one statement for all; inside SPI. */
static void
flush_counts(void)
{
	HASH_SEQ_STATUS seq;
	CountEntry *e;
	int			size = hash_get_num_entries(counts);
	int			n = 0;
	Datum	   *firms = palloc(size * sizeof(Datum));
	Datum	   *lists = palloc(size * sizeof(Datum));
	Datum	   *deltas = palloc(size * sizeof(Datum));
	Oid			argtypes[3] = {UUIDARRAYOID, TEXTARRAYOID, INT8ARRAYOID};
	Datum		args[3];

	hash_seq_init(&seq, counts);
	while ((e = hash_seq_search(&seq)) != NULL)
	{
		int64		sum = levels_sum(&e->levels);

		if (sum == 0)
			continue;
		firms[n] = UUIDPGetDatum(&e->key.firm);
		lists[n] = CStringGetTextDatum(e->key.list);
		deltas[n] = Int64GetDatum(sum);
		n++;
	}
	if (n == 0)
		return;
	args[0] = PointerGetDatum(construct_array(firms, n, UUIDOID, UUID_LEN, false, TYPALIGN_CHAR));
	args[1] = PointerGetDatum(construct_array(lists, n, TEXTOID, -1, false, TYPALIGN_INT));
	args[2] = PointerGetDatum(construct_array(deltas, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	if (SPI_execute_plan(keep_plan(&count_flush_plan,
								   "SELECT count(esqase.count_add(u.f, u.l, u.d)) "
								   "FROM unnest($1, $2, $3) AS u (f, l, d)", 3, argtypes),
						 args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "esqase: the counts were not written");
}

/* Writes the public-id counters this transaction moved; inside SPI. */
static void
flush_ids(void)
{
	HASH_SEQ_STATUS seq;
	IdEntry    *e;
	Oid			argtypes[3] = {UUIDOID, TEXTOID, INT4OID};

	hash_seq_init(&seq, ids);
	while ((e = hash_seq_search(&seq)) != NULL)
	{
		Datum		args[3];
		char		kind[2] = {e->key.kind, '\0'};

		if (e->value == e->stored)
			continue;
		args[0] = UUIDPGetDatum(&e->key.firm);
		args[1] = CStringGetTextDatum(kind);
		args[2] = Int32GetDatum((int32) e->value);
		if (SPI_execute_plan(keep_plan(&id_flush_plan,
									   "UPDATE esqase.public_id_counters SET last_value = $3 "
									   "WHERE firm_id = $1 AND kind = $2", 3, argtypes),
							 args, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "esqase: the public id counter was not written");
	}
}

/*
 * Writes this transaction's counts and public ids; at pre-commit, as the
 * extension's owner (the API role may not write those rows).
 */
static void
flush(void)
{
	Oid			owner;
	Oid			save_userid;
	int			save_sec;
	int			nest;

	if (counts == NULL && ids == NULL)
		return;
	if (!OidIsValid(esq_extension_lookup(NULL, &owner, NULL)))
		return;					/* dropped in this transaction: no rows to write */

	flushing = true;
	GetUserIdAndSecContext(&save_userid, &save_sec);
	SetUserIdAndSecContext(owner, save_sec | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	nest = safe_search_path();
	/* count_add (PL/pgSQL) evaluates expressions under an active snapshot */
	PushActiveSnapshot(GetTransactionSnapshot());
	SPI_connect();
	if (counts != NULL)
		flush_counts();
	if (ids != NULL)
		flush_ids();
	SPI_finish();
	PopActiveSnapshot();
	AtEOXact_GUC(true, nest);
	SetUserIdAndSecContext(save_userid, save_sec);
	flushing = false;
	counts = NULL;
	ids = NULL;
}

static void
counters_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
		case XACT_EVENT_PRE_PREPARE:
			flush();
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PREPARE:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PARALLEL_ABORT:
			/* the tables lived in TopTransactionContext */
			counts = NULL;
			ids = NULL;
			deepest = InvalidSubTransactionId;
			flushing = false;
			break;
		default:
			break;
	}
}
