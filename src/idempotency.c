/*
 * idempotency.c — Idempotency-Key on POST (issue 10): the C side.
 *
 * The rule lives in SQL (sql/code/15_idempotency.sql): every create
 * function takes an optional idempotency key, claims it in
 * esqase.idempotency_keys, and on a repeat returns the stored response.
 * Here are only the pieces SQL cannot do:
 *
 *   - the replay mark of SQL 0.2.0: esqase.idempotency_note_replay()
 *     (called by its SQL on a replay) sets it; the HTTP worker clears it
 *     before a call and reads it after, to send Idempotent-Replayed: true.
 *     From 0.3.0 a replay says so in its answer's replayed column
 *     (esqase.replayed, read by http_sql.c);
 *   - the dispatch steps of a POST: the header to the SQL call (a value
 *     with a byte outside printable ASCII never reaches SQL as text: it
 *     could be invalid UTF-8), and Idempotent-Replayed on a replay;
 *   - the sweep: the first HTTP worker deletes expired keys every
 *     esqase.idempotency_sweep_interval, one batch of esqase.idempotency_sweep
 *     per transaction, between requests (never inside one), and only on a
 *     primary.  A full batch means more may be left: the next batch runs on
 *     the next pass of the worker's loop, after any request that is ready.
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "esqase.h"

/* rows deleted per sweep transaction */
#define ESQ_SWEEP_BATCH 1000

int			esq_idempotency_sweep_interval = 300;

static bool replayed = false;

/* when the last sweep started (0: never); a full batch left more to do */
static TimestampTz last_sweep = 0;
static bool sweep_more = false;

/*
 * esqase.idempotency_note_replay() RETURNS void (SQL 0.2.0): the response
 * of this call is a stored one.
 */
PG_FUNCTION_INFO_V1(esqase_idempotency_note_replay);
Datum
esqase_idempotency_note_replay(PG_FUNCTION_ARGS)
{
	replayed = true;
	PG_RETURN_VOID();
}

void
esq_idempotency_reset(void)
{
	replayed = false;
}

bool
esq_idempotency_replayed(void)
{
	return replayed;
}

/*
 * The dispatch step before the SQL call: a create (POST) passes its
 * Idempotency-Key to SQL; other methods ignore the header (decisions.md).
 * A value with a byte outside printable ASCII is refused here, with
 * esqase.idempotency_check's message: it could be invalid UTF-8, which
 * must not reach SQL as text.  Everything else about the key is SQL's.
 */
const char *
esq_idempotency_key(const EsqHttpRequest *req, EsqAction action, EsqSqlCall *call)
{
	const unsigned char *p;

	call->idempotency_key = NULL;
	if (action != ESQ_CREATE || req->idempotency_key == NULL)
		return NULL;
	for (p = (const unsigned char *) req->idempotency_key; *p; p++)
		if (*p < 0x20 || *p > 0x7e)
			return "Idempotency-Key must be 1 to 255 printable ASCII characters "
				"(no leading or trailing space)";
	call->idempotency_key = req->idempotency_key;
	return NULL;
}

/* After a successful SQL call: a replay says so. */
void
esq_idempotency_response(const EsqSqlResult *res, EsqHttpResponse *resp)
{
	if (res->replayed)
		esq_response_add_header(resp, "Idempotent-Replayed", "true");
}

/*
 * One batch of the sweep in its own transaction; the number of rows
 * deleted, or -1 (the extension is absent or older than 0.2.0, or the
 * batch failed: logged, and the worker goes on serving).
 */
static int64
sweep_batch(void)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	volatile int64 n = -1;

	PG_TRY();
	{
		Oid			argtypes[1] = {INT4OID};
		Datum		values[1] = {Int32GetDatum(ESQ_SWEEP_BATCH)};
		bool		isnull;

		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		PushActiveSnapshot(GetTransactionSnapshot());
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "esqase: SPI_connect failed");
		pgstat_report_activity(STATE_RUNNING, "esqase: idempotency key sweep");
		if (SPI_execute("SELECT pg_catalog.to_regprocedure('esqase.idempotency_sweep(integer)') IS NOT NULL",
						true, 1) == SPI_OK_SELECT &&
			SPI_processed == 1 &&
			DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)))
		{
			if (SPI_execute_with_args("SELECT esqase.idempotency_sweep($1)", 1, argtypes, values,
									  NULL, false, 1) != SPI_OK_SELECT || SPI_processed != 1)
				elog(ERROR, "esqase: esqase.idempotency_sweep returned no row");
			n = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		}
		SPI_finish();
		PopActiveSnapshot();
		CommitTransactionCommand();
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		HOLD_INTERRUPTS();
		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		FlushErrorState();
		QueryCancelPending = false;
		AbortCurrentTransaction();
		RESUME_INTERRUPTS();
		ereport(WARNING,
				(errmsg("esqase: the idempotency key sweep failed: %s", edata->message),
				 errdetail("SQLSTATE %s; the next sweep tries again", unpack_sql_state(edata->sqlerrcode))));
		FreeErrorData(edata);
		n = -1;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(oldcxt);
	pgstat_report_stat(false);
	pgstat_report_activity(STATE_IDLE, NULL);
	return n;
}

/* Milliseconds until the next sweep is due (0: now). */
long
esq_idempotency_sweep_wait_ms(void)
{
	TimestampTz due;
	TimestampTz now;

	if (sweep_more || last_sweep == 0)
		return 0;
	due = TimestampTzPlusMilliseconds(last_sweep, (int64) esq_idempotency_sweep_interval * 1000);
	now = GetCurrentTimestamp();
	return due <= now ? 0 : (long) ((due - now) / 1000) + 1;
}

/*
 * Called by the first HTTP worker on every pass of its loop, between
 * requests: runs one sweep batch when one is due.
 */
void
esq_idempotency_sweep(void)
{
	int64		n;

	if (esq_idempotency_sweep_wait_ms() > 0)
		return;
	if (!sweep_more)
		last_sweep = GetCurrentTimestamp();
	sweep_more = false;
	if (RecoveryInProgress())
		return;					/* a standby: the primary sweeps */
	n = sweep_batch();
	if (n > 0)
		ereport(DEBUG1,
				(errmsg("esqase: the idempotency key sweep deleted %lld expired keys", (long long) n)));
	sweep_more = (n == ESQ_SWEEP_BATCH);
}
