/*
 * http_worker.c — the HTTP background worker: signals, database
 * connection and the event loop.
 *
 * The loop waits on the process latch (signals), postmaster death, and the
 * epoll fd of each libmicrohttpd daemon, with libmicrohttpd's own timeout;
 * then lets libmicrohttpd run, which calls the access handler on this
 * thread.  SIGTERM (die) closes the daemons and ends the worker; SIGHUP
 * reloads the settings (esqase.http_max_body, timeouts and the role apply
 * to the next request or connection; the HTTPS certificate and key are
 * reread; turning HTTPS on or off, or changing esqase.http_tls_priorities,
 * restarts the worker).  The listening
 * sockets come from the postmaster (http_listen.c): a worker that finds
 * none (the port was in use) exits 0 and is not restarted.  A cancel (SIGINT) that arrives
 * between requests is ignored; during a request it ends that request
 * with 504.
 *
 * Database missing: connecting to a database that does not exist is a
 * FATAL nobody can catch (one per worker, at every restart).  So before
 * connecting, the workers ask once whether esqase.database exists: the
 * first to start runs a short-lived dynamic worker that connects to no
 * database, reads pg_database and exits 0 (quietly); the others wait for
 * its answer (esq_shared->db_state).  If it is missing, one WARNING says
 * so, and every worker connects to no database, serves 503 with
 * Retry-After whatever the request's key (http_routes.c), and looks at
 * pg_database again, quietly, every 1, 2, 4 then 4 s; once it exists, the
 * worker exits to be restarted (bgw_restart_time, 2 s) and connects.  If
 * the check cannot run (no free worker slot), or the database goes away
 * after it, a worker connects as before; its slot's "connecting" mark,
 * still set at its restart, then sends it to no database.  A missing
 * extension needs none of this: http_sql.c checks for it on every request.
 *
 * The first worker also sweeps expired idempotency keys between requests
 * (idempotency.c): the loop's timeout includes the next sweep's.
 *
 * An ERROR raised while libmicrohttpd calls the worker is caught at that
 * boundary (esq_guard, http_response.c): the request gets a 500 and the
 * worker goes on.  One raised in the loop itself (out of memory) reaches
 * the background worker's top-level handler, which logs it and exits with
 * 1: the worker is restarted, the cluster is not.
 */
#include "postgres.h"

#include <sys/resource.h>

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_database.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/latch.h"
#include "storage/ipc.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "esqase.h"

/*
 * True once esqase.database exists (in no-database mode).  A process that
 * is not connected to a database can read shared catalogs only by heap
 * scan (their indexes need pg_class), like the autovacuum launcher does.
 */
static bool
database_exists(void)
{
	bool		exists = false;
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	(void) GetTransactionSnapshot();
	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		Form_pg_database db = (Form_pg_database) GETSTRUCT(tup);

		if (strcmp(NameStr(db->datname), esq_database) == 0)
		{
			exists = true;
			break;
		}
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	CommitTransactionCommand();
	return exists;
}

/*
 * Makes room for this worker's share of esqase.http_max_connections in its
 * descriptor limit: the soft limit is often 1024, the hard one far higher.
 * PostgreSQL's own files stay within max_files_per_process as before.
 */
static void
raise_fd_limit(void)
{
	struct rlimit rl;
	rlim_t		want = (rlim_t) (esq_http_max_connections / esq_worker_count()) + 1100;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= want)
		return;
	rl.rlim_cur = (rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want) ? want : rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
		ereport(LOG,
				(errmsg("esqase: could not raise the open-file limit to %lu: %m",
						(unsigned long) rl.rlim_cur)));
}


/* The dynamic worker that answers whether esqase.database exists. */
void
esqase_database_check_main(Datum main_arg)
{
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	pg_atomic_write_u32(&esq_shared->db_state,
						database_exists() ? ESQ_DB_EXISTS : ESQ_DB_MISSING);
	proc_exit(0);				/* 0: logged at DEBUG1 only, not restarted */
}

/*
 * Runs the check in a dynamic worker and waits for it; returns its answer
 * (ESQ_DB_EXISTS or ESQ_DB_MISSING), or ESQ_DB_UNKNOWN if it could not run.
 */
static uint32
run_database_check(void)
{
	BackgroundWorker worker;
	BackgroundWorkerHandle *handle;
	pid_t		pid;
	uint32		state;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_ConsistentState;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "esqase");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "esqase_database_check_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "esqase database check");
	snprintf(worker.bgw_type, BGW_MAXLEN, "esqase database check");
	worker.bgw_notify_pid = MyProcPid;
	if (!RegisterDynamicBackgroundWorker(&worker, &handle))
		return ESQ_DB_UNKNOWN;
	/* (STOPPED already: it may have run and answered) */
	if (WaitForBackgroundWorkerStartup(handle, &pid) == BGWH_STARTED)
		(void) WaitForBackgroundWorkerShutdown(handle);
	state = pg_atomic_read_u32(&esq_shared->db_state);
	return (state == ESQ_DB_EXISTS || state == ESQ_DB_MISSING) ? state : ESQ_DB_UNKNOWN;
}

/*
 * Whether esqase.database is known to be missing.  The first worker to ask
 * runs the check; the others wait for it.  A check that does not answer
 * within 10 s (its worker killed) is forgotten, so that the next worker to
 * ask runs it again; after 30 s a worker stops waiting and connects as
 * before.
 */
bool
esq_database_known_missing(void)
{
	TimestampTz start = GetCurrentTimestamp();

	for (;;)
	{
		uint32		state = pg_atomic_read_u32(&esq_shared->db_state);
		uint32		expected = ESQ_DB_UNKNOWN;

		if (state == ESQ_DB_EXISTS)
			return false;
		if (state == ESQ_DB_MISSING)
			return true;
		if (state == ESQ_DB_UNKNOWN &&
			pg_atomic_compare_exchange_u32(&esq_shared->db_state, &expected, ESQ_DB_CHECKING))
		{
			state = run_database_check();
			if (state == ESQ_DB_MISSING)
			{
				ereport(WARNING,
						(errmsg("esqase: database \"%s\" (esqase.database) does not exist; the HTTP API answers 503 until it is created",
								esq_database),
						 errhint("Create it and run CREATE EXTENSION esqase in it; the workers connect within seconds.")));
				return true;
			}
			if (state != ESQ_DB_EXISTS)
				pg_atomic_write_u32(&esq_shared->db_state, ESQ_DB_UNKNOWN);
			return false;
		}
		if (state == ESQ_DB_CHECKING &&
			TimestampDifferenceExceeds(start, GetCurrentTimestamp(), 10000))
		{
			expected = ESQ_DB_CHECKING;
			(void) pg_atomic_compare_exchange_u32(&esq_shared->db_state, &expected, ESQ_DB_UNKNOWN);
		}
		if (TimestampDifferenceExceeds(start, GetCurrentTimestamp(), 30000))
			return false;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 10,
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}

/*
 * Connects to esqase.database, or, if it is known to be missing (or this
 * worker's last attempt to connect failed), to no database; returns
 * whether it connected.
 */
static bool
connect_database(int idx)
{
	bool		with_db = true;

	if (esq_shared && idx >= 0 && idx < ESQ_MAX_WORKERS)
		with_db = !esq_shared->connecting[idx] && !esq_database_known_missing();

	if (with_db)
	{
		if (esq_shared && idx >= 0 && idx < ESQ_MAX_WORKERS)
			esq_shared->connecting[idx] = true;
		BackgroundWorkerInitializeConnection(esq_database, NULL, 0);
		if (esq_shared && idx >= 0 && idx < ESQ_MAX_WORKERS)
		{
			esq_shared->connecting[idx] = false;
			pg_atomic_write_u32(&esq_shared->db_state, ESQ_DB_EXISTS);
		}
		esq_sql_init();
	}
	else
	{
		BackgroundWorkerInitializeConnection(NULL, NULL, 0);
		esq_sql_set_no_database();
		if (esq_shared)
			pg_atomic_write_u32(&esq_shared->db_state, ESQ_DB_MISSING);
		ereport(DEBUG1,
				(errmsg("esqase: database \"%s\" does not exist; HTTP worker %d answers 503 until it is created",
						esq_database, idx + 1)));
	}
	pgstat_report_appname("esqase http");
	return with_db;
}

/*
 * Starts this worker's libmicrohttpd daemons on the inherited sockets;
 * returns whether they speak HTTPS.  With HTTPS configured but its files
 * unreadable, serves nothing (no plain HTTP instead): waits for a reload,
 * then exits to start over.
 */
static bool
start_http(int idx)
{
	bool		tls = esq_tls_enabled();

	raise_fd_limit();
	if (tls && !esq_tls_load())
	{
		while (!ConfigReloadPending)
		{
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_EXIT_ON_PM_DEATH, -1,
							 PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
			CHECK_FOR_INTERRUPTS();
		}
		proc_exit(1);
	}
	if (esq_http_start() == 0)
		ereport(ERROR,
				(errmsg("esqase: the HTTP API could not start on \"%s\" port %d",
						esq_http_listen_addresses, esq_http_port)));
	ereport(LOG,
			(errmsg("esqase: HTTP worker %d listening on %s port %d (%s)",
					idx + 1, esq_http_bound_addresses(), esq_http_port,
					tls ? "HTTPS" : "HTTP")));
	return tls;
}

/*
 * What the loop waits on: the latch, postmaster death, each daemon's epoll
 * fd and the epoll fd that watches the connections (http_conn.c).
 */
static WaitEventSet *
make_wait_set(void)
{
	WaitEventSet *wes = CreateWaitEventSet(TopMemoryContext, 3 + esq_http_ndaemons());

	AddWaitEventToSet(wes, WL_LATCH_SET, PGINVALID_SOCKET, MyLatch, NULL);
	AddWaitEventToSet(wes, WL_EXIT_ON_PM_DEATH, PGINVALID_SOCKET, NULL, NULL);
	for (int i = 0; i < esq_http_ndaemons(); i++)
		AddWaitEventToSet(wes, WL_SOCKET_READABLE, esq_http_daemon_fd(i), NULL, NULL);
	if (esq_http_watch_fd() >= 0)
		AddWaitEventToSet(wes, WL_SOCKET_READABLE, esq_http_watch_fd(), NULL, NULL);
	return wes;
}

/* SIGTERM ends the worker; SIGHUP rereads the settings. */
static void
handle_signals(bool tls)
{
	/* a cancel between requests has nothing to cancel */
	QueryCancelPending = false;
	if (ProcDiePending)
		esq_http_stop();
	CHECK_FOR_INTERRUPTS();
	if (!ConfigReloadPending)
		return;
	ConfigReloadPending = false;
	ProcessConfigFile(PGC_SIGHUP);
	/* the access log may have been renamed (logrotate) or moved */
	esq_log_access_reopen();
	if (esq_tls_enabled() != tls)
	{
		/* the daemons speak TLS or not from their start */
		ereport(LOG,
				(errmsg("esqase: HTTPS turned %s; restarting the HTTP worker",
						tls ? "off" : "on")));
		esq_http_stop();
		proc_exit(1);
	}
	if (tls && esq_tls_priorities_changed())
	{
		/* and take their TLS versions and suites when they start */
		ereport(LOG,
				(errmsg("esqase: esqase.http_tls_priorities changed; restarting the HTTP worker")));
		esq_http_stop();
		proc_exit(1);
	}
	if (tls)
		(void) esq_tls_load();
}

/*
 * Whether esqase.database exists now, for a worker connected to no
 * database; if so, the shared state says so, and the first worker to see
 * it logs that the workers restart to connect to it.
 */
bool
esq_database_appeared(void)
{
	if (!database_exists())
		return false;
	if (esq_shared == NULL ||
		pg_atomic_exchange_u32(&esq_shared->db_state, ESQ_DB_EXISTS) != ESQ_DB_EXISTS)
		ereport(LOG,
				(errmsg("esqase: database \"%s\" now exists; the workers restart to connect to it",
						esq_database)));
	return true;
}

/*
 * In no-database mode: once esqase.database exists, restart to connect to
 * it.  Looked at after 1, 2, then every 4 s; logged by the first worker
 * that sees it.
 */
static void
restart_once_database_exists(int idx)
{
	static TimestampTz last_check = 0;
	static int	interval_ms = 1000;
	TimestampTz now = GetCurrentTimestamp();

	if (last_check == 0)
		last_check = now;
	if (!TimestampDifferenceExceeds(last_check, now, interval_ms))
		return;
	last_check = now;
	interval_ms = Min(interval_ms * 2, 4000);
	if (!esq_database_appeared())
		return;
	esq_http_stop();
	if (esq_shared)
		esq_shared->connecting[idx] = false;
	proc_exit(1);
}

void
esqase_http_worker_main(Datum main_arg)
{
	int			idx = DatumGetInt32(main_arg);
	bool		with_db;
	bool		tls;
	WaitEventSet *wes;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	/* the postmaster has logged why it has no socket (port in use, ...) */
	if (esq_http_nlisteners() == 0)
		proc_exit(0);			/* 0: not restarted */

	esq_request_context = AllocSetContextCreate(TopMemoryContext,
												"esqase request",
												ALLOCSET_DEFAULT_SIZES);
	with_db = connect_database(idx);
	tls = start_http(idx);
	wes = make_wait_set();

	for (;;)
	{
		WaitEvent	events[8];
		long		timeout = esq_http_timeout_ms();
		int			n;

		if (!with_db && (timeout < 0 || timeout > 1000))
			timeout = 1000;
		if (with_db && idx == 0)
		{
			long		sweep = esq_idempotency_sweep_wait_ms();

			if (timeout < 0 || sweep < timeout)
				timeout = sweep;
		}
		n = WaitEventSetWait(wes, timeout, events, lengthof(events), PG_WAIT_EXTENSION);
		for (int i = 0; i < n; i++)
			if (events[i].events & WL_LATCH_SET)
				ResetLatch(MyLatch);

		handle_signals(tls);
		esq_http_run();
		if (with_db && idx == 0)
			esq_idempotency_sweep();

		if (!with_db)
			restart_once_database_exists(idx);
	}
}
