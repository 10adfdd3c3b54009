/*
 * http_durable.c — when an answer may go out: the one home of durability.
 *
 * A 2xx to a write says the write is durable as the server is configured
 * (synchronous_commit, synchronous_standby_names); a read shows only data
 * that is durable.  Both are decided here, in two halves:
 *
 * In the request's transaction (http_sql.c calls these around its commit):
 *
 *   esq_durable_begin         whether the commit waits for its own WAL
 *                             flush, or commits with synchronous_commit =
 *                             off and its answer waits instead (below);
 *   esq_durable_before_commit how far WAL must be flushed for what the
 *                             transaction could see; and, when synchronous
 *                             standbys must confirm the commit, the
 *                             deadline of that wait;
 *   esq_durable_after_commit  the verdict: answer (once WAL is flushed up to
 *                             answer_lsn), answer 503 not_replicated, or
 *                             send nothing (the server is shutting down);
 *   esq_durable_abort         on every error path.
 *
 * In the HTTP worker's loop (http_server.c calls these):
 *
 *   esq_durable_hold          keeps an answer whose LSN is not flushed yet,
 *                             and suspends its connection;
 *   esq_durable_run           after each round of libmicrohttpd's run: one
 *                             XLogFlush up to the highest LSN held, then the
 *                             held connections are resumed and answered.
 *
 * Local durability, without holding the worker.  A worker serves one
 * request at a time; waiting for its own commit's flush (about a disk
 * sync) would idle it while other clients wait.  So when a commit would
 * wait only for the local flush (synchronous_commit on or local, and no
 * synchronous standby required), it commits with synchronous_commit = off
 * and its answer is held until the round's one flush covers it.  Every
 * commit made meanwhile, by this worker and the others, shares that flush.
 * The worker runs the flush itself, between rounds: it does not serve other
 * requests during the flush, only during the rest of the round.
 *
 * Reads wait for the same flush.  A commit made with synchronous_commit =
 * off is visible to other transactions before it is flushed, so a GET could
 * show another request's write that a crash would still take back.  The
 * workers count their asynchronous commits in shared memory, from before
 * each is visible until its end LSN is published (the highest so far), per
 * firm: a request's transaction sees, under row-level security, only its
 * own firm's rows, and writes only its own firm's, so a read waits only for
 * the commits of its firm.  Firms share ESQ_ASYNC_SLOTS slots (by a hash of
 * the id): a read may wait for another firm of its slot too, never less
 * than for its own; a commit of no firm (none authenticated) has a slot
 * every read checks.  A transaction that finds none under way in those
 * slots once its SQL ran waits for the flush of their highest LSN; one
 * that finds some under way waits for the WAL insert position, which every
 * commit it could see precedes.  Either is a few atomic reads; with nothing
 * unflushed (no writes of its firm) an answer goes out at once, and in a
 * round with writes it shares their flush.  Other
 * sessions' commits are flushed before they are visible, unless a session
 * set synchronous_commit = off for itself: that is its choice, as in
 * PostgreSQL.
 *
 * Synchronous standbys.  When a commit must be confirmed by standbys
 * (synchronous_commit above local and synchronous_standby_names in effect),
 * it waits for them as PostgreSQL's commit does (SyncRepWaitForLSN).  The
 * statement timeout is disarmed before the commit (http_sql.c, as
 * PostgreSQL's finish_xact_command does), so it cannot end that wait.  The
 * wait lasts until the standbys confirm or until the request's deadline:
 * esqase.http_request_timeout after the request's SQL started; then the
 * commit-wait timer cancels it.  A cancel (or pg_cancel_backend) ends
 * PostgreSQL's wait with a WARNING and the commit stands locally, not
 * replicated; so after every commit the confirmed position
 * (WalSndCtl->lsn[mode]) is read again, and a commit it does not cover is
 * answered 503 not_replicated, never 2xx: the record may exist, and a
 * retry with the same Idempotency-Key is safe.  A replayed answer (an
 * Idempotency-Key seen before) confirms a write too, so it waits for the
 * standbys to confirm the WAL it read, under the same deadline, and is
 * answered 503 not_replicated if they do not.  A SIGTERM during the wait
 * (fast shutdown, pg_terminate_backend) ends PostgreSQL's wait and asks for
 * no output: the request then gets no answer at all; its connection is
 * closed.  Reads never wait for standbys: their own commit (a key's
 * last_used_at) is made asynchronously, and they wait for the local flush
 * only.  As in PostgreSQL, a write whose wait for the standbys was cut short
 * is visible to later reads (its writer was told 503 not_replicated).
 *
 * With synchronous_commit = off configured, the DBA has chosen commits
 * that a crash may lose: answers do not wait at all.
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "access/xlog_internal.h"
#include "miscadmin.h"
#include "replication/syncrep.h"
#include "replication/walsender.h"
#include "replication/walsender_private.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "utils/guc.h"
#include "utils/timeout.h"
#include "utils/timestamp.h"

#include "http_server.h"

/* the timer that ends a wait for synchronous standbys at the request's deadline */
static TimeoutId commit_wait_timer = MAX_TIMEOUTS;

/*
 * The transaction of the request being served (one at a time).  Static, so
 * that it is intact after an ERROR's longjmp to http_sql.c's PG_CATCH.
 */
static struct
{
	bool		write;			/* a create, update or delete (not a read) */
	bool		async;			/* commits with synchronous_commit = off */
	bool		deadline_armed; /* commit_wait_timer is armed */
	EsqAsyncSlot *committing;	/* the slot its asynchronous commit is counted in */
	XLogRecPtr	commit_before;	/* XactLastCommitEnd before the transaction */
	XLogRecPtr	seen;			/* WAL insert position once its SQL ran */
}			xact;

static void async_commit_exit(int code, Datum arg);

/* The commit-wait timer fired: end the wait as a cancel would (syncrep.c). */
static void
commit_wait_expired(void)
{
	QueryCancelPending = true;
	InterruptPending = true;
	SetLatch(MyLatch);
}

/*
 * The WAL insert position as an end of WAL: GetXLogInsertRecPtr() gives a
 * position just past a page header when the insert position is at a page
 * boundary, which no record ends at and XLogFlush cannot reach.
 */
static XLogRecPtr
insert_position(void)
{
	XLogRecPtr	p = GetXLogInsertRecPtr();
	uint32		header = XLogSegmentOffset(p, wal_segment_size) < XLOG_BLCKSZ ?
		SizeOfXLogLongPHD : SizeOfXLogShortPHD;

	if (p % XLOG_BLCKSZ == header)
		p -= header;
	return p;
}

/* The synchronous-standby wait mode of synchronous_commit; -1: none. */
static int
standby_wait_mode(void)
{
	if (!SyncRepRequested())
		return SYNC_REP_NO_WAIT;
	switch (synchronous_commit)
	{
		case SYNCHRONOUS_COMMIT_REMOTE_WRITE:
			return SYNC_REP_WAIT_WRITE;
		case SYNCHRONOUS_COMMIT_REMOTE_APPLY:
			return SYNC_REP_WAIT_APPLY;
		default:
			return SYNC_REP_WAIT_FLUSH;
	}
}

/*
 * Whether synchronous_standby_names is in effect, as SyncRepWaitForLSN
 * reads it: the checkpointer publishes it in shared memory (a backend that
 * waits cannot reload it); until it has, the setting itself.  Minor
 * releases before 15.13 publish a plain boolean.
 */
static bool
standbys_defined(void)
{
#ifdef SYNC_STANDBY_INIT
	bits8		status = ((volatile WalSndCtlData *) WalSndCtl)->sync_standbys_status;

	if (status & SYNC_STANDBY_INIT)
		return (status & SYNC_STANDBY_DEFINED) != 0;
	return SyncRepStandbyNames != NULL && SyncRepStandbyNames[0] != '\0';
#else
	return ((volatile WalSndCtlData *) WalSndCtl)->sync_standbys_defined;
#endif
}

/*
 * Whether standbys must confirm a commit now (with this process's own
 * synchronous_standby_names too: a reload reaches it before the
 * checkpointer publishes it).
 */
static bool
standbys_required(void)
{
	return standby_wait_mode() != SYNC_REP_NO_WAIT &&
		(standbys_defined() ||
		 (SyncRepStandbyNames != NULL && SyncRepStandbyNames[0] != '\0'));
}

/* Whether the synchronous standbys have confirmed lsn as synchronous_commit asks. */
static bool
standbys_confirmed(XLogRecPtr lsn)
{
	int			mode = standby_wait_mode();
	bool		confirmed;

	if (mode == SYNC_REP_NO_WAIT)
		return true;
	LWLockAcquire(SyncRepLock, LW_SHARED);
	confirmed = !standbys_defined() || lsn <= WalSndCtl->lsn[mode];
	LWLockRelease(SyncRepLock);
	return confirmed;
}

/*
 * Commits made with synchronous_commit = off by the HTTP workers (all of
 * them, in shared memory): how many are under way, and the end of the
 * highest once made, in the slot of the transaction's firm.  A commit is
 * counted from before it becomes visible until its LSN is published, so a
 * reader that finds none under way in its slots finds the LSN of every
 * asynchronous commit its snapshots could see.
 */
static EsqAsyncSlot *
firm_slot(void)
{
	pg_uuid_t	firm;
	uint32		h;

	if (!esq_context_firm_id(&firm))
		return &esq_shared->async[ESQ_ASYNC_SLOTS];
	/* ids are random (v4 UUIDs): any four of their bytes spread firms evenly */
	memcpy(&h, firm.data + 12, sizeof(h));
	return &esq_shared->async[h % ESQ_ASYNC_SLOTS];
}

static void
async_commit_start(void)
{
	static bool registered = false;
	EsqAsyncSlot *slot = firm_slot();

	if (!registered)
	{
		before_shmem_exit(async_commit_exit, (Datum) 0);
		registered = true;
	}
	pg_atomic_fetch_add_u32(&slot->committing, 1);
	xact.committing = slot;
}

/* The commit is made (its end LSN) or failed (InvalidXLogRecPtr). */
static void
async_commit_end(XLogRecPtr commit)
{
	EsqAsyncSlot *slot = xact.committing;
	uint64		cur;

	if (slot == NULL)
		return;
	cur = pg_atomic_read_u64(&slot->lsn);
	while (commit > cur && !pg_atomic_compare_exchange_u64(&slot->lsn, &cur, commit))
		;
	pg_atomic_fetch_sub_u32(&slot->committing, 1);
	xact.committing = NULL;
}

static void
async_commit_exit(int code, Datum arg)
{
	async_commit_end(InvalidXLogRecPtr);
}

/*
 * The end of the last commit the transaction's snapshots could have seen
 * without its WAL being flushed: the highest asynchronous commit of the
 * HTTP workers for its firm (its slot, and the slot of commits of no firm);
 * if one is under way there (it may already be visible), the WAL insert
 * position, which every visible commit precedes.  A transaction of no firm
 * (none authenticated) shows no firm's rows, but is given the insert
 * position all the same.  Commits of other sessions are flushed before they
 * are visible, unless a session chose synchronous_commit = off for itself.
 */
static XLogRecPtr
visible_commits_end(void)
{
	EsqAsyncSlot *slot;
	EsqAsyncSlot *none;

	if (esq_shared == NULL)
		return insert_position();
	slot = firm_slot();
	none = &esq_shared->async[ESQ_ASYNC_SLOTS];
	if (slot == none || pg_atomic_read_u32(&slot->committing) > 0 ||
		pg_atomic_read_u32(&none->committing) > 0)
		return insert_position();
	pg_read_barrier();
	return (XLogRecPtr) Max(pg_atomic_read_u64(&slot->lsn), pg_atomic_read_u64(&none->lsn));
}

void
esq_durable_begin(bool write)
{
	esq_durable_abort();
	xact.write = write;
	xact.async = false;
	xact.commit_before = XactLastCommitEnd;
	xact.seen = InvalidXLogRecPtr;
	if (synchronous_commit >= SYNCHRONOUS_COMMIT_LOCAL_FLUSH &&
		(!write || !standbys_required()))
	{
		xact.async = true;
		(void) set_config_option("synchronous_commit", "off", PGC_SUSET, PGC_S_SESSION,
								 GUC_ACTION_LOCAL, true, 0, false);
	}
}

/* Arms the commit-wait timer at the request's deadline. */
static void
arm_deadline(void)
{
	if (commit_wait_timer == MAX_TIMEOUTS)
		commit_wait_timer = RegisterTimeout(USER_TIMEOUT, commit_wait_expired);
	enable_timeout_at(commit_wait_timer,
					  TimestampTzPlusMilliseconds(GetCurrentStatementStartTimestamp(),
												  (int64) esq_http_request_timeout * 1000));
	xact.deadline_armed = true;
}

void
esq_durable_before_commit(bool replayed)
{
	/*
	 * What the answer shows must be durable: for a replay, whatever the WAL
	 * holds (the stored answer's commit may have waited for no standby);
	 * otherwise what its snapshots could see.  A standby's data is WAL
	 * already flushed there: nothing to wait for.
	 */
	if (RecoveryInProgress())
		xact.seen = InvalidXLogRecPtr;
	else if (replayed)
		xact.seen = insert_position();
	else
		xact.seen = visible_commits_end();
	/*
	 * Only a transaction that writes makes a commit others could see: a
	 * read (no xid) commits nothing, and counting it would send every
	 * concurrent reader to wait for the flush of the insert position.
	 */
	if (xact.async && esq_shared != NULL && TransactionIdIsValid(GetTopTransactionIdIfAny()))
		async_commit_start();
	if (xact.write && !xact.async && standbys_required())
		arm_deadline();
}

/*
 * After the commit, or on any error: disarms the commit-wait timer (a
 * cancel it raised has done its work) and ends an asynchronous commit's
 * count.
 */
void
esq_durable_abort(void)
{
	async_commit_end(InvalidXLogRecPtr);
	if (!xact.deadline_armed)
		return;
	disable_timeout(commit_wait_timer, false);
	xact.deadline_armed = false;
	QueryCancelPending = false;
}

/*
 * Waits, as a commit does, until the standbys confirm lsn or the request's
 * deadline passes (a replay: the WAL it read may hold a commit whose own
 * wait was cut short).
 */
static void
wait_for_standbys(XLogRecPtr lsn)
{
	if (!xact.deadline_armed)
		arm_deadline();
	else if (get_timeout_indicator(commit_wait_timer, false))
		return;					/* the deadline has passed */
	HOLD_INTERRUPTS();
	XLogFlush(lsn);
	SyncRepWaitForLSN(lsn, true);
	RESUME_INTERRUPTS();
}

EsqDurableVerdict
esq_durable_after_commit(bool replayed, uint64 *answer_lsn)
{
	XLogRecPtr	commit = XactLastCommitEnd != xact.commit_before ?
		XactLastCommitEnd : InvalidXLogRecPtr;
	XLogRecPtr	lsn = Max(commit, xact.seen);
	EsqDurableVerdict verdict = ESQ_DURABLE_ANSWER;

	*answer_lsn = 0;
	async_commit_end(commit);
	if (synchronous_commit == SYNCHRONOUS_COMMIT_OFF)
	{
		/* configured so by the DBA: commits are not made durable at all */
		esq_durable_abort();
		return ESQ_DURABLE_ANSWER;
	}
	if (xact.write && (commit != InvalidXLogRecPtr || replayed) && standbys_required() &&
		!standbys_confirmed(lsn))
	{
		/*
		 * A commit that waited for the standbys and is not confirmed: its
		 * wait was cut short.  A replay that committed nothing (or a commit
		 * made asynchronously as synchronous_standby_names was being set)
		 * has not waited yet: it waits now, until the same deadline.
		 */
		bool		waited = commit != InvalidXLogRecPtr && !xact.async;

		if (!waited && !ProcDiePending)
			wait_for_standbys(lsn);
		if (!standbys_confirmed(lsn))
			verdict = ProcDiePending ? ESQ_DURABLE_NO_ANSWER : ESQ_DURABLE_NOT_REPLICATED;
	}
	esq_durable_abort();
	if (verdict == ESQ_DURABLE_ANSWER && lsn > GetFlushRecPtr(NULL))
		*answer_lsn = (uint64) lsn;
	return verdict;
}


/* ------------------------------------------------------------------------
 * Answers held for the WAL flush (the HTTP worker's loop)
 * ------------------------------------------------------------------------
 */

/* An answer held until WAL is flushed up to its LSN: a malloc'd copy. */
struct EsqHeld
{
	EsqHttpResponse resp;
	struct MHD_Connection *conn;
	bool		failed;			/* the flush failed: answer 500 instead */
};

/*
 * The answers held in this round, and the highest LSN they wait for.  The
 * list is empty between rounds: esq_durable_run resumes every connection
 * on it, so none is suspended when the daemons stop.
 */
static EsqHeld **waiting = NULL;
static int	nwaiting = 0;
static int	waiting_cap = 0;
static XLogRecPtr waiting_lsn = InvalidXLogRecPtr;

bool
esq_durable_may_answer(const EsqHttpResponse *resp)
{
	return resp->durable_lsn == 0 || (XLogRecPtr) resp->durable_lsn <= GetFlushRecPtr(NULL);
}

/* A malloc'd copy of s (NULL stays NULL); sets *ok to false if out of memory. */
static char *
copy_or_null(const char *s, size_t len, bool *ok)
{
	char	   *c;

	if (s == NULL)
		return NULL;
	c = malloc(len + 1);
	if (c == NULL)
	{
		*ok = false;
		return NULL;
	}
	memcpy(c, s, len);
	c[len] = '\0';
	return c;
}

void
esq_durable_release(EsqHeld *h)
{
	if (h == NULL)
		return;
	free(h->resp.body);
	free(h->resp.location);
	free((char *) h->resp.cors_origin);
	for (int i = 0; i < h->resp.nheaders; i++)
		free(h->resp.headers[i].value);
	free(h);
}

/* A copy of resp outside the request memory context (which is reset next). */
static EsqHeld *
copy_answer(const EsqHttpResponse *resp)
{
	EsqHeld    *h = malloc(sizeof(EsqHeld));
	EsqHttpResponse *d;
	bool		ok = true;

	if (h == NULL)
		return NULL;
	h->failed = false;
	d = &h->resp;
	*d = *resp;
	d->body = copy_or_null(resp->body, resp->body_len, &ok);
	d->location = copy_or_null(resp->location, resp->location ? strlen(resp->location) : 0, &ok);
	d->cors_origin = copy_or_null(resp->cors_origin,
								  resp->cors_origin ? strlen(resp->cors_origin) : 0, &ok);
	/* esq_durable_release frees the values counted in d->nheaders: copies only */
	d->nheaders = 0;
	for (int i = 0; i < resp->nheaders && ok; i++)
	{
		d->headers[i].value = copy_or_null(resp->headers[i].value,
										   strlen(resp->headers[i].value), &ok);
		if (ok)
			d->nheaders++;
	}
	if (!ok)
	{
		esq_durable_release(h);
		return NULL;
	}
	return h;
}

/*
 * Keeps the answer and suspends its connection until the round's flush
 * (esq_durable_run).  NULL if out of memory: the caller then flushes at
 * once (esq_durable_flush_now) and answers.  Nothing here can throw.
 */
EsqHeld *
esq_durable_hold(struct MHD_Connection *conn, const EsqHttpResponse *resp)
{
	EsqHeld    *h;

	if (nwaiting == waiting_cap)
	{
		int			cap = waiting_cap ? 2 * waiting_cap : 16;
		EsqHeld   **w = realloc(waiting, cap * sizeof(*w));

		if (w == NULL)
			return NULL;
		waiting = w;
		waiting_cap = cap;
	}
	h = copy_answer(resp);
	if (h == NULL)
		return NULL;
	h->conn = conn;
	MHD_suspend_connection(conn);
	esq_conn_held(conn);
	waiting[nwaiting++] = h;
	waiting_lsn = Max(waiting_lsn, (XLogRecPtr) resp->durable_lsn);
	return h;
}

void
esq_durable_flush_now(const EsqHttpResponse *resp)
{
	if (resp->durable_lsn != 0)
		XLogFlush((XLogRecPtr) resp->durable_lsn);
}

/* What to send for a held answer once resumed: it, or a 500 if the flush failed. */
const EsqHttpResponse *
esq_durable_held_answer(EsqHeld *h)
{
	static EsqHttpResponse failed;

	if (!h->failed)
		return &h->resp;
	memset(&failed, 0, sizeof(failed));
	failed.status = 500;
	/* the answer of a held request whose flush failed: no allocation needed */
	failed.body = (char *) esq_internal_error_body;
	failed.body_len = esq_internal_error_body_len;
	failed.stat_route = h->resp.stat_route;
	failed.cors_origin = h->resp.cors_origin;
	failed.vary_origin = h->resp.vary_origin;
	return &failed;
}

/* The round's flush, run under esq_guard (an ERROR becomes 500s). */
static void
flush_waiting(void *arg)
{
	esq_debug_fail(ESQ_DEBUG_FAIL_FLUSH);
	XLogFlush(waiting_lsn);
}

bool
esq_durable_run(void)
{
	int			n = nwaiting;

	if (n == 0)
		return false;
	if (!esq_guard(flush_waiting, NULL))
	{
		ereport(WARNING,
				(errmsg("esqase: the WAL flush for %d held answers failed; they are answered 500", n)));
		for (int i = 0; i < n; i++)
			waiting[i]->failed = true;
	}
	for (int i = 0; i < n; i++)
		MHD_resume_connection(waiting[i]->conn);
	nwaiting = 0;
	waiting_lsn = InvalidXLogRecPtr;
	return true;
}
