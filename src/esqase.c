/*
 * esqase.c — module entry point: settings, shared memory and background
 * worker registration.
 *
 * The HTTP workers exist only when the library is loaded through
 * shared_preload_libraries: only the postmaster can register static
 * background workers, and most esqase.http_* settings are PGC_POSTMASTER,
 * which a backend that loads the library later may not define (guc.c ends
 * the session with FATAL if it tries).  Loaded any other way (CREATE
 * EXTENSION, a function call or pg_restore in a server without the
 * preload), the module defines only the settings that make sense in a
 * session (esqase.allow_drop), starts nothing, and warns once per backend
 * that the HTTP API is off; the SQL API works the same.  The HTTP settings
 * are read only by the workers, so nothing reads them undefined.
 */
#include "postgres.h"

#include <limits.h>

#include "fmgr.h"
#include "miscadmin.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/guc.h"

#include "esqase.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

int			esq_http_port = 8080;
char	   *esq_http_listen_addresses = NULL;
int			esq_http_workers = -1;
char	   *esq_database = NULL;
char	   *esq_http_role = NULL;
int			esq_http_max_body = 1024 * 1024;
int			esq_http_idle_timeout = 30;
int			esq_http_request_timeout = 60;
int			esq_http_header_timeout = 10;
int			esq_http_body_timeout = 30;
int			esq_http_statement_timeout = 30000;
int			esq_http_max_connections = 512;
int			esq_http_max_connections_per_ip = 64;
int			esq_http_connection_memory = 64 * 1024;
int			esq_http_log_level = LOG;
char	   *esq_http_access_log = NULL;
char	   *esq_http_cors_origins = NULL;
char	   *esq_http_metrics_path = NULL;
char	   *esq_http_tls_cert_file = NULL;
char	   *esq_http_tls_key_file = NULL;
char	   *esq_http_tls_priorities = NULL;
int			esq_http_rate_limit = 0;
int			esq_http_rate_limit_window = 60;
bool		esq_allow_drop = false;
bool		esq_preloaded = false;

EsqShared  *esq_shared = NULL;

static bool http_registered = false;
static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

/* Asks the postmaster for the shared-memory slot of the workers. */
static void
esq_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(MAXALIGN(sizeof(EsqShared)));
	esq_rate_shmem_request();
}

/* Creates (or attaches to) the shared-memory slot. */
static void
esq_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	esq_shared = ShmemInitStruct("esqase", sizeof(EsqShared), &found);
	if (!found)
	{
		memset(esq_shared, 0, sizeof(EsqShared));
		esq_stats_init(&esq_shared->stats);
		for (int i = 0; i <= ESQ_ASYNC_SLOTS; i++)
		{
			pg_atomic_init_u64(&esq_shared->async[i].lsn, 0);
			pg_atomic_init_u32(&esq_shared->async[i].committing, 0);
		}
		pg_atomic_init_u32(&esq_shared->db_state, 0);
		pg_atomic_init_u32(&esq_shared->webhook_procno, 0);
	}
	esq_rate_shmem_init();
	LWLockRelease(AddinShmemInitLock);

	/*
	 * The postmaster binds the HTTP port here rather than in _PG_init:
	 * "postgres -C" also loads the preload libraries, and must not bind;
	 * nor must a server pg_upgrade runs.  This hook runs again at each
	 * crash restart; the sockets are kept.
	 */
	if (http_registered && IsPostmasterEnvironment && !IsUnderPostmaster &&
		!IsBinaryUpgrade)
		esq_http_listen();
}

/*
 * Defines the settings a session may change: these are safe to define
 * whenever the library is loaded.
 */
static void
esq_define_session_gucs(void)
{
	DefineCustomBoolVariable("esqase.allow_drop",
							 "Lets DROP EXTENSION esqase (or a DROP that cascades to it) delete the "
							 "data of existing firms; set it in the session that drops.",
							 NULL, &esq_allow_drop, false,
							 PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomBoolVariable("esqase.webhook_allow_private",
							 "Lets webhooks post over http and to private, loopback and link-local "
							 "addresses (tests, on-premise receivers); checked at create, PATCH and "
							 "every delivery attempt.",
							 NULL, &esq_webhook_allow_private, false,
							 PGC_SUSET, 0, NULL, NULL, NULL);
}

/* Levels of the request log (a 5xx is always logged at WARNING). */
static const struct config_enum_entry log_level_options[] = {
	{"debug5", DEBUG5, false},
	{"debug4", DEBUG4, false},
	{"debug3", DEBUG3, false},
	{"debug2", DEBUG2, false},
	{"debug1", DEBUG1, false},
	{"debug", DEBUG2, true},
	{"info", INFO, false},
	{"notice", NOTICE, false},
	{"log", LOG, false},
	{NULL, 0, false}
};

/* Points of esqase.debug_fail_in_callback (for tests only). */
static const struct config_enum_entry debug_fail_options[] = {
	{"off", ESQ_DEBUG_FAIL_OFF, false},
	{"answer", ESQ_DEBUG_FAIL_ANSWER, false},
	{"log", ESQ_DEBUG_FAIL_LOG, false},
	{"flush", ESQ_DEBUG_FAIL_FLUSH, false},
	{NULL, 0, false}
};

/* Defines the HTTP settings; only while preloading (some are PGC_POSTMASTER). */
static void
esq_define_http_gucs(void)
{
	DefineCustomIntVariable("esqase.http_port",
							"TCP port of the HTTP API (0 disables the HTTP server).",
							NULL, &esq_http_port, 8080, 0, 65535,
							PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("esqase.http_listen_addresses",
							   "Comma-separated host names or IP addresses the HTTP API binds to; '*' for all.",
							   NULL, &esq_http_listen_addresses, "localhost",
							   PGC_POSTMASTER, GUC_LIST_INPUT, NULL, NULL, NULL);
	DefineCustomIntVariable("esqase.http_workers",
							"Number of HTTP worker processes sharing the port (-1: two per CPU, "
							"at most half of max_worker_processes).",
							NULL, &esq_http_workers, -1, -1, ESQ_MAX_WORKERS,
							PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("esqase.database",
							   "Database the HTTP workers serve (the extension is created in it).",
							   NULL, &esq_database, "postgres",
							   PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("esqase.http_role",
							   "Role the HTTP workers run SQL as; never a superuser or BYPASSRLS role.",
							   NULL, &esq_http_role, "esqase_api",
							   PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("esqase.http_max_body",
							"Largest request body accepted; larger bodies get 413.",
							NULL, &esq_http_max_body, 1024 * 1024, 0, ESQ_MAX_BODY_LIMIT,
							PGC_SIGHUP, GUC_UNIT_BYTE, NULL, NULL, NULL);
	DefineCustomIntVariable("esqase.http_idle_timeout",
							"Idle HTTP connections are closed after this long (applies to new connections).",
							NULL, &esq_http_idle_timeout, 30, 1, 3600,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("esqase.http_request_timeout",
							"A request must be received and answered within this long of the connection "
							"opening or of the previous response on it; otherwise the connection is closed.",
							NULL, &esq_http_request_timeout, 60, 1, 86400,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("esqase.http_header_timeout",
							"A new connection's request line and headers must arrive within this long of "
							"its opening; otherwise the connection is closed.",
							NULL, &esq_http_header_timeout, 10, 1, 3600,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("esqase.http_body_timeout",
							"A request body must arrive within this long of its headers; otherwise the "
							"connection is closed.",
							NULL, &esq_http_body_timeout, 30, 1, 3600,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("esqase.http_statement_timeout",
							"Longest time the SQL of one request may run (0 = no limit); a request over it gets 504.",
							NULL, &esq_http_statement_timeout, 30000, 0, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomEnumVariable("esqase.http_log_level",
							 "Level of the one-line log of each HTTP request (a 5xx is logged at WARNING).",
							 "Set it below log_min_messages (e.g. debug1) to log only the 5xx.",
							 &esq_http_log_level, LOG, log_level_options,
							 PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("esqase.http_access_log",
							   "File the HTTP workers write the request log to, buffered (flushed each "
							   "second, at once after a 5xx); empty: the server log.",
							   "A relative path is in the data directory. Reopened on reload (logrotate).",
							   &esq_http_access_log, "",
							   PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("esqase.http_tls_cert_file",
							   "PEM certificate (chain, leaf first) of the HTTP API; set, the API speaks "
							   "HTTPS only (TLS 1.2 and 1.3). Reread on reload.",
							   NULL, &esq_http_tls_cert_file, "",
							   PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("esqase.http_tls_key_file",
							   "PEM private key of esqase.http_tls_cert_file (empty: in the certificate file).",
							   NULL, &esq_http_tls_key_file, "",
							   PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("esqase.http_tls_priorities",
							   "GnuTLS priority string of the HTTPS API: the TLS versions and cipher suites "
							   "it offers (the default is Mozilla's \"intermediate\"). A change restarts "
							   "the HTTP workers.",
							   NULL, &esq_http_tls_priorities, ESQ_TLS_PRIORITIES_DEFAULT,
							   PGC_SIGHUP, 0, esq_tls_check_priorities, NULL, NULL);
	DefineCustomStringVariable("esqase.http_metrics_path",
							   "Path on which the HTTP API serves its metrics in the Prometheus text format, "
							   "without a key (e.g. '/metrics'); empty: not served.",
							   NULL, &esq_http_metrics_path, "",
							   PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("esqase.http_cors_origins",
							   "Origins whose browser pages may call the HTTP API (CORS), comma-separated, "
							   "e.g. 'https://app.example.com'; '*' for any; empty for none.",
							   NULL, &esq_http_cors_origins, "",
							   PGC_SIGHUP, GUC_LIST_INPUT, NULL, NULL, NULL);
	DefineCustomIntVariable("esqase.http_rate_limit",
							"Requests one API key may make per esqase.http_rate_limit_window, all "
							"workers together; beyond it 429 (0 = no limit).",
							NULL, &esq_http_rate_limit, 0, 0, 1000000000,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("esqase.http_rate_limit_window",
							"The window of esqase.http_rate_limit.",
							NULL, &esq_http_rate_limit_window, 60, 1, 86400,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("esqase.http_max_connections",
							"Most simultaneous HTTP connections, all workers together.",
							NULL, &esq_http_max_connections, 512, 1, 65536,
							PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("esqase.http_max_connections_per_ip",
							"Most simultaneous HTTP connections from one client address other than "
							"127.0.0.1 and ::1, all workers together (0 = no limit).",
							NULL, &esq_http_max_connections_per_ip, 64, 0, 65536,
							PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("esqase.webhook_timeout",
							"How long a webhook delivery attempt may take before it counts as failed.",
							NULL, &esq_webhook_timeout, 10000, 100, 60000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("esqase.webhook_retry_window",
							"How long a webhook's deliveries are retried before the webhook is disabled.",
							NULL, &esq_webhook_retry_window, 86400, 1, 30 * 86400,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("esqase.webhook_retention",
							"How long delivered (or skipped, or failed) webhook events are kept before they are swept.",
							NULL, &esq_webhook_retention, 7 * 86400, 60, 365 * 86400,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("esqase.idempotency_sweep_interval",
							"How often the first HTTP worker deletes idempotency keys older than 24 hours.",
							NULL, &esq_idempotency_sweep_interval, 300, 1, 86400,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomEnumVariable("esqase.debug_fail_in_callback",
							 "For tests only: raises an ERROR at this point of the HTTP workers' "
							 "libmicrohttpd callbacks (answer, log, flush), to check that it "
							 "becomes a 500 and the worker goes on.",
							 NULL, &esq_debug_fail_in_callback, ESQ_DEBUG_FAIL_OFF, debug_fail_options,
							 PGC_SUSET, GUC_NOT_IN_SAMPLE, NULL, NULL, NULL);
	DefineCustomIntVariable("esqase.http_connection_memory",
							"Memory for one connection's request line, headers and response headers.",
							NULL, &esq_http_connection_memory, 64 * 1024, 8 * 1024, 16 * 1024 * 1024,
							PGC_POSTMASTER, GUC_UNIT_BYTE, NULL, NULL, NULL);
}

/*
 * The number of HTTP workers to start.  A worker serves one request at a
 * time, and between rounds of requests runs the WAL flush its held answers
 * wait for (http_durable.c); with about two per CPU one worker's flush
 * overlaps another's work, which is what lets writes keep up with as many
 * backends sharing WAL flushes (docs/benchmarks.md).  Each worker takes a max_worker_processes slot;
 * the automatic count leaves at least half of them to parallel query and
 * other extensions.
 */
int
esq_worker_count(void)
{
	/*
	 * Counted once, when the postmaster registers the workers, and inherited
	 * by them: the count is the number started, whatever CPUs come online
	 * later, and the workers ask for it on every loop run (a sysconf() of the
	 * online CPUs opens and reads a file in /sys each time).
	 */
	static int	count = 0;
	long		ncpu;
	int			n;

	if (count > 0)
		return count;
	if (esq_http_workers > 0)
		return count = esq_http_workers;
	ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	n = 2 * (int) Max(ncpu, 1);
	n = Min(n, Max(2, max_worker_processes / 2));
	return count = Max(2, Min(n, ESQ_MAX_WORKERS));
}

/* Registers the HTTP workers as static background workers. */
static void
esq_register_workers(void)
{
	int			i;
	int			nworkers = esq_worker_count();

	if (esq_http_port == 0)
	{
		ereport(LOG,
				(errmsg("esqase: HTTP API disabled (esqase.http_port = 0)")));
		return;
	}
	if (strspn(esq_http_listen_addresses, " \t,") == strlen(esq_http_listen_addresses))
	{
		ereport(LOG,
				(errmsg("esqase: HTTP API disabled (esqase.http_listen_addresses is empty)")));
		return;
	}
	ereport(LOG,
			(errmsg("esqase: starting %d HTTP workers%s", nworkers,
					esq_http_workers < 0 ? " (esqase.http_workers = -1: two per CPU)" : "")));
	for (i = 0; i < nworkers; i++)
	{
		BackgroundWorker worker;

		memset(&worker, 0, sizeof(worker));
		worker.bgw_flags = BGWORKER_SHMEM_ACCESS |
			BGWORKER_BACKEND_DATABASE_CONNECTION;
		/*
		 * ConsistentState, not RecoveryFinished: on a hot standby the
		 * workers start once the standby accepts read-only connections and
		 * serve reads there (http_sql.c refuses writes while in recovery);
		 * they keep running through a promotion.  With hot_standby = off
		 * the postmaster starts them only when recovery ends.
		 */
		worker.bgw_start_time = BgWorkerStart_ConsistentState;
		worker.bgw_restart_time = 2;
		snprintf(worker.bgw_library_name, BGW_MAXLEN, "esqase");
		snprintf(worker.bgw_function_name, BGW_MAXLEN, "esqase_http_worker_main");
		snprintf(worker.bgw_name, BGW_MAXLEN, "esqase http worker %d", i + 1);
		snprintf(worker.bgw_type, BGW_MAXLEN, "esqase http");
		worker.bgw_main_arg = Int32GetDatum(i);
		worker.bgw_notify_pid = 0;
		RegisterBackgroundWorker(&worker);
	}
	http_registered = true;
}

void
_PG_init(void)
{
	esqase_context_init();
	esq_api_plans_init();
	esq_webhook_init();
	esq_counters_init();
	esq_secrets_init();
	esq_define_session_gucs();

	if (!process_shared_preload_libraries_in_progress)
	{
		esq_guards_init();

		/*
		 * _PG_init runs once per backend, so this is the "once".  Parallel
		 * workers load the library again: they stay quiet, or a parallel
		 * query would repeat the warning once per worker.
		 */
		if (!IsBackgroundWorker)
			ereport(WARNING,
					(errmsg("esqase: loaded without shared_preload_libraries; the HTTP API is off (the SQL API works)"),
					 errhint("To serve the HTTP API, add 'esqase' to shared_preload_libraries in postgresql.conf and restart the server.")));
		return;
	}

	esq_preloaded = true;
	esq_define_http_gucs();

	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = esq_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = esq_shmem_startup;

	esq_guards_init();
	esq_register_workers();
	esq_webhook_register_worker();
}
