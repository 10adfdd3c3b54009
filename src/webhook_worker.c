/*
 * webhook_worker.c — the webhook delivery worker: one background worker
 * that posts the outbox's due deliveries (sql/code/41_webhooks.sql) with
 * libcurl's multi interface, many at once over kept connections.
 *
 * A round:
 *   1. one transaction: esqase.webhook_fan_out makes the deliveries of the
 *      new events (a change writes one event row, whatever the webhooks);
 *      esqase.webhook_claim(n) takes up to n due
 *      deliveries (at most one per webhook and record: the next of its
 *      record's events), ordered by key; for each key, its context is set
 *      (esq_context_for_key) and one statement, as the API role under its
 *      row-level security, names the records it may not read now
 *      (esqase.webhook_may_read); those, and all of a revoked key's, are
 *      SKIPPED;
 *   2. no transaction: each url's form is checked again, its host resolved
 *      by libcurl's asynchronous resolver, and the address of every socket
 *      checked as libcurl opens it (webhook_url.c); all are posted, signed,
 *      with esqase.webhook_timeout each;
 *   3. one transaction, one statement: the outcomes
 *      (esqase.webhook_attempted, a JSON array): a 2xx is
 *      DELIVERED; anything else is tried again after an exponential backoff
 *      with jitter, until the webhook has failed for
 *      esqase.webhook_retry_window (then FAILED, and the webhook DISABLED).
 * A crash or stop between 2 and 3 sends the round's events again after the
 * restart: deliveries are at least once (receivers dedupe on the event id).
 *
 * The worker sleeps on its latch; a backend whose transaction wrote events
 * sets it when it commits (esqase.webhook_wake, called by the outbox), and
 * a one-second timeout brings the retries that come due.  After a round
 * that posted something but less than a batch, it pauses GATHER_MS before
 * the next: under a steady stream of writes a round then takes the events
 * of many of them (a round's two transactions cost about as much CPU as a
 * create, on the CPUs the writes run on), while the first change after a
 * quiet time is still sent at once.  Once a minute it sweeps what is done
 * and older than esqase.webhook_retention.
 */
#include "postgres.h"

#include <math.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <curl/curl.h>

#include "access/xact.h"
#include "catalog/namespace.h"
#include "common/hmac.h"
#include "common/sha2.h"
#include "common/pg_prng.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "esqase.h"

int			esq_webhook_timeout = 10000;
int			esq_webhook_retry_window = 86400;
int			esq_webhook_retention = 7 * 86400;

#define BATCH 500
#define FAN_OUT 2000			/* events fanned out to their webhooks a round */
#define MAX_CONNECTIONS 64
#define SWEEP_EVERY_MS 60000
#define GATHER_MS 10

typedef struct Delivery
{
	Datum		firm_id;		/* uuid */
	Datum		webhook_id;		/* uuid */
	int64		seq;
	char	   *event_id;
	char	   *url;
	char	   *secret;
	Datum		key_id;			/* uuid */
	char	   *type;
	Datum		record_id;		/* uuid */
	char	   *body;
	int			attempts;
	/* the outcome */
	const char *state;			/* DELIVERED, PENDING (retry), SKIPPED */
	int			status;			/* HTTP status, 0 if none */
	char	   *error;
	int			duration_ms;
	bool		easy_done;		/* a request was made (duration_ms is its) */
	/* while posting */
	CURL	   *easy;
	struct curl_slist *headers;
	char	   *host;			/* the url's */
	char		refused[INET6_ADDRSTRLEN];	/* an address open_socket refused */
} Delivery;

static CURLM *multi = NULL;
static ResourceOwner post_owner = NULL;

/* ------------------------------------------------------------------------
 * Waking the worker at commit
 * ------------------------------------------------------------------------
 */
static bool wake_at_commit = false;

static void
wake_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_COMMIT && wake_at_commit && esq_shared != NULL)
	{
		uint32		procno = pg_atomic_read_u32(&esq_shared->webhook_procno);

		if (procno > 0)
			SetLatch(&ProcGlobal->allProcs[procno - 1].procLatch);
	}
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PARALLEL_ABORT ||
		event == XACT_EVENT_PREPARE)
		wake_at_commit = false;
}

void
esq_webhook_init(void)
{
	static bool done = false;

	if (!done)
		RegisterXactCallback(wake_xact_callback, NULL);
	done = true;
}

/* esqase.webhook_wake(): wake the delivery worker when this transaction commits. */
PG_FUNCTION_INFO_V1(esqase_webhook_wake);
Datum
esqase_webhook_wake(PG_FUNCTION_ARGS)
{
	wake_at_commit = true;
	PG_RETURN_VOID();
}

/* ------------------------------------------------------------------------
 * Registration
 * ------------------------------------------------------------------------
 */
void
esq_webhook_register_worker(void)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	/* it writes: only on a primary */
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = 5;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "esqase");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "esqase_webhook_worker_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "esqase webhook worker");
	snprintf(worker.bgw_type, BGW_MAXLEN, "esqase webhooks");
	RegisterBackgroundWorker(&worker);
}

/*
 * A transaction of the worker's: its now() is this moment (a background
 * worker sets the statement's start time itself, which now() is).
 */
static void
begin_transaction(void)
{
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
}

/* ------------------------------------------------------------------------
 * Step 1: claim and check
 * ------------------------------------------------------------------------
 */
static char *
copy_text(HeapTuple tup, TupleDesc desc, int attno)
{
	char	   *s = SPI_getvalue(tup, desc, attno);

	return s ? s : pstrdup("");
}

static Datum
copy_uuid_datum(HeapTuple tup, TupleDesc desc, int attno)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, desc, attno, &isnull);
	pg_uuid_t  *u = palloc(sizeof(pg_uuid_t));

	memcpy(u, DatumGetUUIDP(d), sizeof(pg_uuid_t));
	return UUIDPGetDatum(u);
}

/*
 * Whether the installed esqase has webhooks (a release before 0.3.0 has
 * not): its outbox table, by name in the system caches, which PostgreSQL
 * invalidates when the table comes or goes (an upgrade, a DROP EXTENSION),
 * so a round reads no catalog.
 */
static bool
outbox_installed(void)
{
	Oid			nsp = get_namespace_oid("esqase", true);

	return OidIsValid(nsp) && OidIsValid(get_relname_relid("webhook_events", nsp));
}

/* uuid Datum as text, for the JSON the set-based statements take */
static char *
uuid_text(Datum u)
{
	return DatumGetCString(DirectFunctionCall1(uuid_out, u));
}

/*
 * Whether the key of ds[from..to) (one key) may read their records now:
 * the key's context is set once, and one statement, as the API role under
 * its row-level security, names the records it may not read; those
 * deliveries are SKIPPED, and all of them if the key is no longer valid.
 */
static void
check_reach(Delivery *ds, int from, int to, Oid api_role)
{
	Oid			save_user;
	int			save_sec;
	StringInfoData json;

	if (!esq_context_for_key(ds[from].key_id))
	{
		for (int i = from; i < to; i++)
		{
			ds[i].state = "SKIPPED";
			ds[i].error = "the webhook's API key is revoked or expired, or its member inactive";
		}
		return;
	}
	initStringInfo(&json);
	appendStringInfoChar(&json, '[');
	for (int i = from; i < to; i++)
		appendStringInfo(&json, "%s{\"i\": %d, \"r\": \"%.*s\", \"f\": \"%s\", \"id\": \"%s\"}",
						 i > from ? ", " : "", i, (int) strcspn(ds[i].type, "."), ds[i].type,
						 uuid_text(ds[i].firm_id), uuid_text(ds[i].record_id));
	appendStringInfoChar(&json, ']');
	GetUserIdAndSecContext(&save_user, &save_sec);
	SetUserIdAndSecContext(api_role, save_sec | SECURITY_LOCAL_USERID_CHANGE);
	PG_TRY();
	{
		if (SPI_execute_with_args("SELECT u.i FROM jsonb_to_recordset($1) AS u (i integer, r text, f uuid, id uuid) "
								  "WHERE NOT esqase.webhook_may_read(u.r, u.f, u.id)",
								  1, (Oid[]) {JSONBOID}, (Datum[]) {DirectFunctionCall1(jsonb_in, CStringGetDatum(json.data))},
								  NULL, false, 0) != SPI_OK_SELECT)	/* a snapshot as new as the claim's */
			elog(ERROR, "esqase.webhook_may_read failed");
	}
	PG_FINALLY();
	{
		SetUserIdAndSecContext(save_user, save_sec);
	}
	PG_END_TRY();
	for (uint64 k = 0; k < SPI_processed; k++)
	{
		bool		isnull;
		int			i = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[k], SPI_tuptable->tupdesc, 1, &isnull));

		ds[i].state = "SKIPPED";
		ds[i].error = "the webhook's API key may not read the record";
	}
}

/*
 * The role the reach checks run as: the API's (esqase.http_role), refused
 * as the HTTP workers refuse it (missing, superuser, BYPASSRLS), with a
 * WARNING when the reason changes; no delivery is claimed meanwhile.
 */
static Oid
reach_role(void)
{
	static char last[256];
	char		problem[256];
	Oid			role = esq_api_role(problem, sizeof(problem));

	if (OidIsValid(role))
		last[0] = '\0';
	else if (strcmp(problem, last) != 0)
	{
		strlcpy(last, problem, sizeof(last));
		ereport(WARNING,
				(errmsg("esqase: webhook deliveries wait: %s", problem)));
	}
	return role;
}

/* Claims up to BATCH due deliveries into *out (in cxt); returns how many. */
static int
claim(Delivery **out, MemoryContext cxt)
{
	int			n = 0;
	Oid			api_role;

	begin_transaction();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	if (outbox_installed() && OidIsValid(api_role = reach_role()) &&
		SPI_execute_with_args("SELECT esqase.webhook_fan_out($1)", 1, (Oid[]) {INT4OID},
							  (Datum[]) {Int32GetDatum(FAN_OUT)}, NULL, false, 0) == SPI_OK_SELECT &&
		SPI_execute_with_args("SELECT * FROM esqase.webhook_claim($1)", 1, (Oid[]) {INT4OID},
							  (Datum[]) {Int32GetDatum(BATCH)}, NULL, false, 0) == SPI_OK_SELECT)
	{
		SPITupleTable *tt = SPI_tuptable;
		TupleDesc	desc = tt->tupdesc;
		MemoryContext spi = MemoryContextSwitchTo(cxt);

		n = (int) SPI_processed;
		*out = palloc0(sizeof(Delivery) * Max(n, 1));
		for (int i = 0; i < n; i++)
		{
			HeapTuple	tup = tt->vals[i];
			Delivery   *d = &(*out)[i];
			bool		isnull;

			d->firm_id = copy_uuid_datum(tup, desc, 1);
			d->webhook_id = copy_uuid_datum(tup, desc, 2);
			d->seq = DatumGetInt64(SPI_getbinval(tup, desc, 3, &isnull));
			d->event_id = copy_text(tup, desc, 4);
			d->url = copy_text(tup, desc, 5);
			d->secret = copy_text(tup, desc, 6);
			d->key_id = copy_uuid_datum(tup, desc, 7);
			d->type = copy_text(tup, desc, 8);
			d->record_id = copy_uuid_datum(tup, desc, 9);
			d->body = copy_text(tup, desc, 10);
			d->attempts = DatumGetInt32(SPI_getbinval(tup, desc, 11, &isnull));
		}
		/* the claim orders them by key: one check per key */
		for (int from = 0, to; from < n; from = to)
		{
			for (to = from + 1; to < n &&
				 memcmp(DatumGetUUIDP((*out)[to].key_id), DatumGetUUIDP((*out)[from].key_id),
						sizeof(pg_uuid_t)) == 0; to++)
				;
			check_reach(*out, from, to, api_role);
		}
		esq_context_clear();
		MemoryContextSwitchTo(spi);
	}
	PopActiveSnapshot();
	SPI_finish();
	CommitTransactionCommand();
	return n;
}

/* ------------------------------------------------------------------------
 * Step 2: post
 * ------------------------------------------------------------------------
 */

/* "t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>" */
static char *
signature(const char *secret, const char *body)
{
	pg_hmac_ctx *ctx = pg_hmac_create(PG_SHA256);
	uint8		mac[PG_SHA256_DIGEST_LENGTH];
	char		hex[2 * PG_SHA256_DIGEST_LENGTH + 1];
	char		t[32];

	snprintf(t, sizeof(t), "%lld", (long long) time(NULL));
	if (ctx == NULL ||
		pg_hmac_init(ctx, (const uint8 *) secret, strlen(secret)) < 0 ||
		pg_hmac_update(ctx, (const uint8 *) t, strlen(t)) < 0 ||
		pg_hmac_update(ctx, (const uint8 *) ".", 1) < 0 ||
		pg_hmac_update(ctx, (const uint8 *) body, strlen(body)) < 0 ||
		pg_hmac_final(ctx, mac, sizeof(mac)) < 0)
		elog(ERROR, "esqase: HMAC-SHA256 failed");
	pg_hmac_free(ctx);
	hex_encode((const char *) mac, sizeof(mac), hex);
	hex[sizeof(hex) - 1] = '\0';
	return psprintf("Esqase-Signature: t=%s,v1=%s", t, hex);
}

/*
 * CURLOPT_OPENSOCKETFUNCTION: the socket for a connection to an address
 * libcurl's resolver gave for d's host, at this attempt.  An address no
 * webhook may reach gets none (CURL_SOCKET_BAD), which libcurl takes as a
 * failed connection: it tries the host's other addresses, then fails the
 * request.  The address checked is the one the socket connects to.  (No
 * palloc here: an error cannot jump out through libcurl.)
 */
static curl_socket_t
open_socket(void *clientp, curlsocktype purpose, struct curl_sockaddr *address)
{
	Delivery   *d = clientp;
	char		text[INET6_ADDRSTRLEN];

	if (purpose != CURLSOCKTYPE_IPCXN)
		return CURL_SOCKET_BAD;
	if (esq_webhook_address_forbidden(&address->addr, text) && !esq_webhook_allow_private)
	{
		if (d->refused[0] == '\0')
			strlcpy(d->refused, text[0] ? text : "(not IP)", sizeof(d->refused));
		return CURL_SOCKET_BAD;
	}
	return socket(address->family, address->socktype, address->protocol);
}

/* Adds d's request to the multi handle, or sets its outcome (a refused url). */
static void
start(Delivery *d)
{
	const char *problem = esq_webhook_url_parse(d->url, &d->host);

	if (problem != NULL)
	{
		d->state = "PENDING";
		d->error = psprintf("url refused: %s", problem);
		return;
	}
	d->easy = curl_easy_init();
	if (d->easy == NULL)
		elog(ERROR, "esqase: curl_easy_init failed");
	d->headers = curl_slist_append(NULL, "Content-Type: application/json");
	d->headers = curl_slist_append(d->headers, "User-Agent: esqase-webhooks");
	d->headers = curl_slist_append(d->headers, psprintf("Esqase-Event-Id: %s", d->event_id));
	d->headers = curl_slist_append(d->headers, signature(d->secret, d->body));
	d->headers = curl_slist_append(d->headers, "Expect:");
	curl_easy_setopt(d->easy, CURLOPT_URL, d->url);
	/* every address is checked where its socket is made (open_socket) */
	curl_easy_setopt(d->easy, CURLOPT_OPENSOCKETFUNCTION, open_socket);
	curl_easy_setopt(d->easy, CURLOPT_OPENSOCKETDATA, d);
	/* straight to the host: a proxy (from the environment) would connect elsewhere */
	curl_easy_setopt(d->easy, CURLOPT_PROXY, "");
	curl_easy_setopt(d->easy, CURLOPT_HTTPHEADER, d->headers);
	curl_easy_setopt(d->easy, CURLOPT_POSTFIELDS, d->body);
	curl_easy_setopt(d->easy, CURLOPT_POSTFIELDSIZE, (long) strlen(d->body));
	curl_easy_setopt(d->easy, CURLOPT_PROTOCOLS_STR, esq_webhook_allow_private ? "http,https" : "https");
	curl_easy_setopt(d->easy, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(d->easy, CURLOPT_TIMEOUT_MS, (long) esq_webhook_timeout);
	curl_easy_setopt(d->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(d->easy, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(d->easy, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(d->easy, CURLOPT_PRIVATE, d);
	curl_multi_add_handle(multi, d->easy);
}

/* The outcome of a finished request. */
static void
finish(Delivery *d, CURLcode rc)
{
	long		code = 0;
	double		secs = 0;

	curl_easy_getinfo(d->easy, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_getinfo(d->easy, CURLINFO_TOTAL_TIME, &secs);
	d->duration_ms = (int) (secs * 1000);
	d->easy_done = true;
	d->status = (int) code;
	if (rc != CURLE_OK)
	{
		d->state = "PENDING";
		if (d->refused[0] != '\0')
			d->error = psprintf("url refused: %s", esq_webhook_address_problem(d->host, d->refused));
		else
			d->error = pstrdup(rc == CURLE_OPERATION_TIMEDOUT ? "timeout" : curl_easy_strerror(rc));
	}
	else if (code >= 200 && code < 300)
		d->state = "DELIVERED";
	else
	{
		d->state = "PENDING";
		d->error = psprintf("HTTP %ld", code);
	}
	curl_multi_remove_handle(multi, d->easy);
	curl_easy_cleanup(d->easy);
	curl_slist_free_all(d->headers);
	d->easy = NULL;
}

/* Posts the deliveries that passed step 1, all at once; returns when all are done. */
static void
post_all(Delivery *ds, int n)
{
	int			running = 0;

	/* the HMACs (common/hmac.h) are resources: between transactions, the worker's own owner */
	CurrentResourceOwner = post_owner;
	for (int i = 0; i < n; i++)
		if (ds[i].state == NULL)
			start(&ds[i]);
	CurrentResourceOwner = NULL;
	do
	{
		CURLMsg    *msg;
		int			left;

		CHECK_FOR_INTERRUPTS();
		curl_multi_perform(multi, &running);
		while ((msg = curl_multi_info_read(multi, &left)) != NULL)
		{
			Delivery   *d;

			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **) &d);
			finish(d, msg->data.result);
		}
		if (running > 0)
			curl_multi_poll(multi, NULL, 0, 100, NULL);
	} while (running > 0);
}

/* ------------------------------------------------------------------------
 * Step 3: record
 * ------------------------------------------------------------------------
 */

/* The wait before the next attempt: 2^attempts seconds, at most an hour, times 0.5-1 (jitter). */
static char *
retry_in(int attempts)
{
	double		secs = pow(2.0, Min(attempts, 12));

	secs = Min(secs, 3600.0) * (0.5 + 0.5 * pg_prng_double(&pg_global_prng_state));
	return psprintf("%.3f seconds", secs);
}

static void
record(Delivery *ds, int n)
{
	StringInfoData json;

	initStringInfo(&json);
	appendStringInfoChar(&json, '[');
	for (int i = 0; i < n; i++)
	{
		Delivery   *d = &ds[i];

		appendStringInfo(&json, "%s{\"f\": \"%s\", \"h\": \"%s\", \"s\": " INT64_FORMAT ", \"st\": \"%s\", "
						 "\"c\": %s, \"d\": %s, \"r\": \"%s\", \"e\": ",
						 i ? ", " : "", uuid_text(d->firm_id), uuid_text(d->webhook_id), d->seq, d->state,
						 d->status ? psprintf("%d", d->status) : "null",
						 d->easy_done ? psprintf("%d", d->duration_ms) : "null",
						 retry_in(d->attempts));
		if (d->error)
			escape_json(&json, d->error);
		else
			appendStringInfoString(&json, "null");
		appendStringInfoChar(&json, '}');
	}
	appendStringInfoChar(&json, ']');
	begin_transaction();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	if (SPI_execute_with_args("SELECT esqase.webhook_attempted($1, $2::interval)", 2,
							  (Oid[]) {JSONBOID, TEXTOID},
							  (Datum[]) {DirectFunctionCall1(jsonb_in, CStringGetDatum(json.data)),
							  CStringGetTextDatum(psprintf("%d seconds", esq_webhook_retry_window))},
							  NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "esqase: webhook_attempted failed");
	PopActiveSnapshot();
	SPI_finish();
	CommitTransactionCommand();
}

static void
sweep(void)
{
	begin_transaction();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	if (outbox_installed())
		SPI_execute(psprintf("SELECT esqase.webhook_sweep('%d seconds')", esq_webhook_retention), false, 1);
	PopActiveSnapshot();
	SPI_finish();
	CommitTransactionCommand();
}

/* ------------------------------------------------------------------------
 * The worker
 * ------------------------------------------------------------------------
 */

/*
 * The multi handle, and with it the kept connections (a new one closes
 * the old one's): each connection's address was checked when it was
 * opened, under the esqase.webhook_allow_private of then.
 */
static void
new_multi(void)
{
	if (multi != NULL)
		curl_multi_cleanup(multi);
	if ((multi = curl_multi_init()) == NULL)
		elog(ERROR, "esqase: libcurl could not be initialised");
	curl_multi_setopt(multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long) MAX_CONNECTIONS);
	curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, (long) MAX_CONNECTIONS);
}
static void
forget_worker(int code, Datum arg)
{
	pg_atomic_write_u32(&esq_shared->webhook_procno, 0);
}

/*
 * esqase.database does not exist yet: connected to no database (connecting
 * to a missing one is a FATAL at every restart), look for it every 4 s,
 * quietly, and start again once it is there.
 */
static void
wait_for_database(void)
{
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	for (;;)
	{
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 4000,
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		if (esq_database_appeared())
			proc_exit(1);		/* restarted in bgw_restart_time, it connects */
	}
}

void
esqase_webhook_worker_main(Datum main_arg)
{
	MemoryContext round_cxt;
	TimestampTz last_sweep = 0;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	if (esq_database_known_missing())
		wait_for_database();
	BackgroundWorkerInitializeConnection(esq_database, NULL, 0);
	pgstat_report_appname("esqase webhook worker");
	/* its statements are small and planned often: never worth a JIT (issue 16) */
	SetConfigOption("jit", "off", PGC_SUSET, PGC_S_OVERRIDE);

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		elog(ERROR, "esqase: libcurl could not be initialised");
	new_multi();
	post_owner = ResourceOwnerCreate(NULL, "esqase webhook signatures");
	pg_atomic_write_u32(&esq_shared->webhook_procno, MyProc->pgprocno + 1);
	before_shmem_exit(forget_worker, 0);

	round_cxt = AllocSetContextCreate(TopMemoryContext, "esqase webhook round", ALLOCSET_DEFAULT_SIZES);
	for (;;)
	{
		Delivery   *ds = NULL;
		int			n;
		MemoryContext old;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			bool		allowed_private = esq_webhook_allow_private;

			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			/* a kept connection to a private address must not be reused */
			if (allowed_private && !esq_webhook_allow_private)
				new_multi();
		}
		old = MemoryContextSwitchTo(round_cxt);
		n = claim(&ds, round_cxt);
		if (n > 0)
		{
			post_all(ds, n);
			record(ds, n);
		}
		if (GetCurrentTimestamp() - last_sweep > SWEEP_EVERY_MS * (int64) 1000)
		{
			sweep();
			last_sweep = GetCurrentTimestamp();
		}
		MemoryContextSwitchTo(old);
		MemoryContextReset(round_cxt);
		pgstat_report_activity(STATE_IDLE, NULL);
		if (n == 0)
		{
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 1000,
							 PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
		}
		else if (n < BATCH)		/* the latch left set: the next round looks at once */
			(void) WaitLatch(MyLatch, WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, GATHER_MS,
							 PG_WAIT_EXTENSION);
	}
}
