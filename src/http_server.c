/*
 * http_server.c — the libmicrohttpd daemons of this worker, their run, the
 * access handler and the answer.  No SPI here.
 *
 * Each worker runs one libmicrohttpd daemon per listening socket the
 * postmaster opened (http_listen.c, MHD_OPTION_LISTEN_SOCKET).  The daemons
 * have no threads (MHD_USE_EPOLL without an internal polling thread):
 * http_worker.c waits on each daemon's epoll fd together with the process
 * latch and calls esq_http_run(), so the access handler, and with it every
 * palloc and SPI call, runs on the backend's main thread.
 *
 * The other rooms of the front door (http_server.h): the connections, their
 * limits and deadlines (http_conn.c); a request's framing, body and
 * arguments (http_framing.c); the request id and log line (http_log.c).
 * When an answer may be sent, and the answers held until the WAL is
 * flushed, are http_durable.c's.
 *
 * libmicrohttpd calls the access handler and the logger from its own
 * frames: both run under esq_guard (http_response.c), so an ERROR raised
 * below them becomes a 500 for that request (answer_internal_error), never
 * a longjmp through libmicrohttpd.
 *
 * The response is queued on a later call of the access handler than the
 * first one (once the whole request is in), which keeps HTTP keep-alive
 * working; only an answer to the framing checks of the first call (a 400,
 * or a 413 to a client that sent "Expect: 100-continue" with a
 * Content-Length over the limit) is queued on the first call, on purpose:
 * the connection is then closed without the body ever being read.
 */
#include "postgres.h"

#include "miscadmin.h"
#include "utils/memutils.h"

#include "http_server.h"

static bool resumed_in_run = false;	/* held answers resumed (http_durable.c) */
static struct MHD_Daemon *daemons[ESQ_MAX_DAEMONS];
static int	ndaemons = 0;
static bool starting = false;
static char bound[256];			/* the addresses listened on, for the log */

static void
log_mhd_message(void *arg)
{
	ereport(starting ? LOG : DEBUG1,
			(errmsg("esqase: libmicrohttpd: %s", (const char *) arg)));
}

static void
mhd_refusing(void *arg)
{
	esq_conn_mhd_refusing();
}

/*
 * libmicrohttpd's log messages: LOG while starting, DEBUG1 afterwards.
 * The logger is also the one callback libmicrohttpd makes as it refuses a
 * request that it would answer twice (esq_conn_mhd_refusing).
 */
static void
mhd_logger(void *cls, const char *fmt, va_list ap)
{
	char		buf[512];
	size_t		n;

	if (!starting)
		(void) esq_guard(mhd_refusing, NULL);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	n = strlen(buf);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	(void) esq_guard(log_mhd_message, buf);
}

/* Queues resp on conn (the body is copied, so the caller may free it) and logs it. */
static enum MHD_Result
queue_response(struct MHD_Connection *conn, const char *method, const char *url,
			   EsqReq *req, const EsqHttpResponse *resp, bool close_after)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer(resp->body ? resp->body_len : 0,
										resp->body ? resp->body : (void *) "",
										MHD_RESPMEM_MUST_COPY);
	if (r == NULL)
		return MHD_NO;
	/* a 304 sends no representation, so no metadata about one (RFC 9110 15.4.5) */
	if (resp->status != 304)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
								resp->content_type ? resp->content_type :
								"application/json; charset=utf-8");
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	MHD_add_response_header(r, ESQ_HEADER_REQUEST_ID, req->request_id);
	if (resp->allow)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, resp->allow);
	if (resp->vary_origin)
		MHD_add_response_header(r, MHD_HTTP_HEADER_VARY, "Origin");
	if (resp->cors_origin)
	{
		MHD_add_response_header(r, MHD_HTTP_HEADER_ACCESS_CONTROL_ALLOW_ORIGIN,
								resp->cors_origin);
		MHD_add_response_header(r, "Access-Control-Expose-Headers",
								"Location, X-Request-Id, WWW-Authenticate, ETag, Last-Modified, "
								"Retry-After, RateLimit-Limit, RateLimit-Remaining, "
								"RateLimit-Reset, RateLimit-Policy, Idempotent-Replayed");
	}
	if (resp->preflight)
	{
		MHD_add_response_header(r, "Access-Control-Allow-Methods", resp->allow);
		MHD_add_response_header(r, "Access-Control-Allow-Headers",
								"Authorization, Content-Type, X-Request-Id, If-Match, "
								"If-None-Match, Idempotency-Key");
		MHD_add_response_header(r, "Access-Control-Max-Age", "600");
	}
	if (resp->location)
		MHD_add_response_header(r, MHD_HTTP_HEADER_LOCATION, resp->location);
	if (resp->www_authenticate)
		MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
	for (int i = 0; i < resp->nheaders; i++)
		MHD_add_response_header(r, resp->headers[i].name, resp->headers[i].value);
	if (close_after)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
	ret = MHD_queue_response(conn, resp->status, r);
	MHD_destroy_response(r);
	req->queued = true;
	esq_conn_answered(conn);
	if (!resp->content_type)	/* not the metrics themselves */
		esq_stats_record(resp->stat_route, method, resp->status, esq_now_us() - req->start_us);
	esq_log_request(conn, method, url, req, resp->status,
					resp->body && resp->status != 304 ? resp->body_len : 0);
	return ret;
}

/* The whole request is in: dispatch it and queue the answer. */
static enum MHD_Result
answer(struct MHD_Connection *conn, const char *url, const char *method, EsqReq *r)
{
	MemoryContext old = MemoryContextSwitchTo(esq_request_context);
	EsqHttpRequest req;
	EsqHttpResponse resp;
	enum MHD_Result ret;

	esq_framing_args(conn, &req.args, &req.nargs);
	req.method = method;
	req.path = url;
#define HEADER(name) MHD_lookup_connection_value(conn, MHD_HEADER_KIND, name)
	req.authorization = HEADER(MHD_HTTP_HEADER_AUTHORIZATION);
	req.content_type = HEADER(MHD_HTTP_HEADER_CONTENT_TYPE);
	req.origin = HEADER(MHD_HTTP_HEADER_ORIGIN);
	req.cors_request_method = HEADER("Access-Control-Request-Method");
	req.if_match = HEADER(MHD_HTTP_HEADER_IF_MATCH);
	req.if_none_match = HEADER(MHD_HTTP_HEADER_IF_NONE_MATCH);
	req.idempotency_key = HEADER("Idempotency-Key");
#undef HEADER
	req.request_id = r->request_id;
	req.body = r->body ? r->body : "";
	req.body_len = r->len;
	req.body_too_large = r->too_large;

	esq_dispatch(&req, &resp);
	esq_debug_fail(ESQ_DEBUG_FAIL_ANSWER);
	if (resp.no_answer)
		ret = MHD_NO;			/* shutting down during its commit's wait: close, say nothing */
	else if (esq_durable_may_answer(&resp))
		ret = queue_response(conn, method, url, r, &resp, false);
	else if ((r->held = esq_durable_hold(conn, &resp)) != NULL)
		ret = MHD_YES;
	else
	{
		esq_durable_flush_now(&resp);
		ret = queue_response(conn, method, url, r, &resp, false);
	}

	MemoryContextSwitchTo(old);
	MemoryContextReset(esq_request_context);
	return ret;
}

/*
 * A held answer, its connection resumed: the WAL is flushed past what the
 * answer needs.  Its log line and metrics allocate in the request context,
 * as answer()'s do.
 */
static enum MHD_Result
answer_held(struct MHD_Connection *conn, const char *url, const char *method, EsqReq *r)
{
	MemoryContext old = MemoryContextSwitchTo(esq_request_context);
	enum MHD_Result ret;

	ret = queue_response(conn, method, url, r, esq_durable_held_answer(r->held), false);
	esq_durable_release(r->held);
	r->held = NULL;
	MemoryContextSwitchTo(old);
	MemoryContextReset(esq_request_context);
	return ret;
}

/*
 * Answers at once (first call), before the body is read, and closes the
 * connection after the answer: what follows on it cannot be trusted.
 */
static enum MHD_Result
answer_now(struct MHD_Connection *conn, const char *method, const char *url,
		   EsqReq *r, int status, const char *code, const char *message)
{
	MemoryContext old = MemoryContextSwitchTo(esq_request_context);
	EsqHttpResponse resp;
	enum MHD_Result ret;

	memset(&resp, 0, sizeof(resp));
	resp.stat_route = -1;
	esq_error_response(&resp, status, code, message, NULL);
	ret = queue_response(conn, method, url, r, &resp, true);
	MemoryContextSwitchTo(old);
	MemoryContextReset(esq_request_context);
	return ret;
}

/*
 * The first call of the access handler: the headers are in, no body yet.
 * Sets up the request state; answers at once (and closes) what the
 * framing checks refuse.
 */
static enum MHD_Result
first_call(struct MHD_Connection *conn, const char *url, const char *method,
		   const char *version, void **con_cls)
{
	EsqReq	   *r;
	EsqEarlyAnswer early;

	/* answered before libmicrohttpd read it (http_conn.c): nothing more */
	if (esq_conn_refused(conn))
		return MHD_NO;
	r = calloc(1, sizeof(EsqReq));
	if (r == NULL)
		return MHD_NO;
	*con_cls = r;
	r->start_us = esq_now_us();
	esq_log_set_request_id(conn, r);
	esq_conn_headers_in(conn);
	/* beyond the per-address limit, and read before the watch saw its bytes */
	if (esq_conn_over_limit(conn))
		return answer_now(conn, method, url, r, 503, "service_unavailable", ESQ_OVER_LIMIT_MESSAGE);

	esq_framing_first_call(conn, method, version, r, &early);
	if (early.status != 0)
		return answer_now(conn, method, url, r, early.status, early.code, early.message);
	return MHD_YES;
}

/*
 * The answer to a connection refused outside libmicrohttpd's access
 * handler, written on the socket (or its TLS session) itself: a
 * connection over esqase.http_max_connections_per_ip before libmicrohttpd
 * read from it (http_conn.c, refuse_over_limit), or one whose request
 * libmicrohttpd refuses itself with a double answer
 * (esq_conn_mhd_refusing); in both cases nothing of the connection's is
 * being sent.  What the client sent and libmicrohttpd has not read is
 * read and dropped, so that the close that follows sends a FIN, not a
 * reset that could overtake the answer.  Then the socket is shut for
 * writing, so that whatever libmicrohttpd would send on it cannot reach
 * the client, and the access handler refuses anything more on it
 * (c->refused).
 */
void
esq_http_answer_refused(EsqConn *c, const EsqEarlyAnswer *early,
						const char *method, const char *path)
{
	MemoryContext old = MemoryContextSwitchTo(esq_request_context);
	int64		start_us = esq_now_us();
	EsqHttpResponse resp;
	char		request_id[ESQ_REQUEST_ID_MAX + 1];
	char		date[64];
	time_t		now = time(NULL);
	struct tm	tm;
	StringInfoData buf;
	ssize_t		sent;
	char		drop[4096];

	memset(&resp, 0, sizeof(resp));
	esq_error_response(&resp, early->status, early->code, early->message, NULL);
	esq_log_new_request_id(request_id);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", gmtime_r(&now, &tm));
	initStringInfo(&buf);
	appendStringInfo(&buf,
					 "HTTP/1.1 %d %s\r\nDate: %s\r\nConnection: close\r\n"
					 "Content-Type: application/json; charset=utf-8\r\n"
					 "Cache-Control: no-store\r\n" ESQ_HEADER_REQUEST_ID ": %s\r\n"
					 "Content-Length: %zu\r\n\r\n",
					 resp.status, MHD_get_reason_phrase_for((unsigned int) resp.status),
					 date, request_id, resp.body_len);
	appendBinaryStringInfo(&buf, resp.body, (int) resp.body_len);
	for (int i = 0; i < 16 && recv(c->fd, drop, sizeof(drop), MSG_DONTWAIT) > 0; i++)
		;
	if (c->tls)
	{
		const union MHD_ConnectionInfo *info =
			MHD_get_connection_info(c->mhd, MHD_CONNECTION_INFO_GNUTLS_SESSION);

		sent = esq_tls_send_last(info ? info->tls_session : NULL, buf.data, buf.len);
	}
	else
		sent = send(c->fd, buf.data, buf.len, MSG_NOSIGNAL | MSG_DONTWAIT);
	shutdown(c->fd, SHUT_WR);
	c->refused = true;
	esq_stats_record(-1, method, resp.status, esq_now_us() - start_us);
	esq_log_line(c, method, path, NULL, request_id, start_us, resp.status,
				 sent > 0 ? resp.body_len : 0);
	MemoryContextSwitchTo(old);
	MemoryContextReset(esq_request_context);
}

/* One call of libmicrohttpd's access handler, its arguments and result. */
typedef struct AccessCall
{
	struct MHD_Connection *conn;
	const char *url;
	const char *method;
	const char *version;
	const char *upload_data;
	size_t	   *upload_data_size;
	void	  **con_cls;
	enum MHD_Result ret;
} AccessCall;

static void
access_call(void *arg)
{
	AccessCall *a = arg;
	EsqReq	   *r = *a->con_cls;

	if (r == NULL)
		a->ret = first_call(a->conn, a->url, a->method, a->version, a->con_cls);
	else if (r->held)
		a->ret = answer_held(a->conn, a->url, a->method, r);
	else if (*a->upload_data_size > 0)
	{
		a->ret = esq_framing_append_body(r, a->upload_data, *a->upload_data_size) ?
			MHD_YES : MHD_NO;
		*a->upload_data_size = 0;
	}
	else
	{
		esq_conn_request_in(a->conn);
		a->ret = answer(a->conn, a->url, a->method, r);
	}
}

/* The log line of a request that an ERROR ended (run under esq_guard). */
typedef struct FailedRequest
{
	struct MHD_Connection *conn;
	const char *method;
	const char *url;
	EsqReq	   *r;
} FailedRequest;

static void
log_failed_request(void *arg)
{
	FailedRequest *f = arg;

	esq_log_request(f->conn, f->method, f->url, f->r, 500, esq_internal_error_body_len);
}

/*
 * What a request gets when an ERROR ended its handling (logged by
 * esq_guard): a 500 built without PostgreSQL's memory or ereport, then the
 * connection closes, as its state may be half-updated.  Nothing if its
 * answer was already queued.
 */
static enum MHD_Result
answer_internal_error(struct MHD_Connection *conn, const char *method, const char *url,
					  EsqReq *r)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	if (r && r->queued)
		return MHD_YES;
	resp = MHD_create_response_from_buffer(esq_internal_error_body_len,
										   (void *) esq_internal_error_body,
										   MHD_RESPMEM_PERSISTENT);
	if (resp == NULL)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json; charset=utf-8");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (r)
		MHD_add_response_header(resp, ESQ_HEADER_REQUEST_ID, r->request_id);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
	ret = MHD_queue_response(conn, 500, resp);
	MHD_destroy_response(resp);
	esq_conn_answered(conn);
	if (r)
	{
		FailedRequest f = {conn, method, url, r};

		r->queued = true;
		esq_stats_record(-1, method, 500, esq_now_us() - r->start_us);
		(void) esq_guard(log_failed_request, &f);
	}
	return ret;
}

/*
 * libmicrohttpd's access handler: everything under esq_guard, so an ERROR
 * becomes a 500 for this request and the worker goes on.
 */
static enum MHD_Result
access_handler(void *cls, struct MHD_Connection *conn, const char *url,
			   const char *method, const char *version, const char *upload_data,
			   size_t *upload_data_size, void **con_cls)
{
	AccessCall	a = {conn, url, method, version, upload_data, upload_data_size, con_cls, MHD_NO};

	if (esq_guard(access_call, &a))
		return a.ret;
	return answer_internal_error(conn, method, url, *con_cls);
}

/* Frees the request state; restarts the connection's deadline window. */
static void
request_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
				  enum MHD_RequestTerminationCode toe)
{
	EsqReq	   *r = *con_cls;

	/* before r goes: whether the request started, and its body's bytes */
	esq_conn_request_done(conn, r != NULL, r ? r->received : 0);
	if (r)
	{
		esq_durable_release(r->held);
		free(r->body);
		free(r);
		*con_cls = NULL;
	}
}

/* Starts one daemon on an inherited listening socket. */
static bool
start_daemon(const EsqListener *l)
{
	unsigned int flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME;
	struct MHD_Daemon *d;

	struct MHD_OptionItem tls[3] = {{MHD_OPTION_END, 0, NULL}};

	if (l->family == AF_INET6)
		flags |= MHD_USE_IPv6;
	if (esq_tls_enabled())
	{
		flags |= MHD_USE_TLS;
		tls[0] = (struct MHD_OptionItem) {MHD_OPTION_HTTPS_CERT_CALLBACK, 0, esq_tls_cert_callback()};
		tls[1] = (struct MHD_OptionItem) {MHD_OPTION_HTTPS_PRIORITIES, 0, (void *) esq_tls_priorities()};
		tls[2] = (struct MHD_OptionItem) {MHD_OPTION_END, 0, NULL};
	}
	d = MHD_start_daemon(flags, 0, NULL, NULL,
						 access_handler, NULL,
						 MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, NULL,
						 MHD_OPTION_LISTEN_SOCKET, l->fd,
						 MHD_OPTION_CONNECTION_LIMIT, (unsigned int) esq_conn_worker_share(esq_http_max_connections),
						 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int) esq_http_idle_timeout,
						 MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t) esq_http_connection_memory,
						 MHD_OPTION_NOTIFY_COMPLETED, request_completed, NULL,
						 MHD_OPTION_NOTIFY_CONNECTION, esq_conn_notify, NULL,
						 MHD_OPTION_UNESCAPE_CALLBACK, esq_framing_unescape, NULL,
						 MHD_OPTION_ARRAY, tls,
						 MHD_OPTION_END);
	if (d == NULL)
	{
		ereport(WARNING,
				(errmsg("esqase: could not start the HTTP server on %s port %d",
						l->label, esq_http_port)));
		return false;
	}
	daemons[ndaemons++] = d;
	if (bound[0])
		strlcat(bound, ", ", sizeof(bound));
	strlcat(bound, l->label, sizeof(bound));
	return true;
}

/* In a worker: one daemon per listening socket the postmaster opened. */
int
esq_http_start(void)
{
	int			i;

	if (strcmp(MHD_get_version(), ESQ_MHD_VERSION_STRING) != 0)
	{
		ereport(WARNING,
				(errmsg("esqase: libmicrohttpd %s is loaded, but esqase was built for %s; the HTTP API is off",
						MHD_get_version(), ESQ_MHD_VERSION_STRING),
				 errhint("Rebuild and reinstall esqase against the libmicrohttpd installed now.")));
		return 0;
	}
	starting = true;
	for (i = 0; i < esq_http_nlisteners(); i++)
		start_daemon(esq_http_listener(i));
	starting = false;
	esq_conn_sweep_start();
	if (ndaemons > 0)
		esq_conn_watch_start();
	return ndaemons;
}

void
esq_http_stop(void)
{
	int			i;

	for (i = 0; i < ndaemons; i++)
		MHD_stop_daemon(daemons[i]);
	ndaemons = 0;
	esq_conn_watch_stop();
	esq_log_flush_summary(true);
	esq_log_access_reopen();
}

int
esq_http_watch_fd(void)
{
	return esq_conn_watch_fd();
}

const char *
esq_http_bound_addresses(void)
{
	return bound;
}

int
esq_http_ndaemons(void)
{
	return ndaemons;
}

int
esq_http_daemon_fd(int i)
{
	const union MHD_DaemonInfo *info;

	info = MHD_get_daemon_info(daemons[i], MHD_DAEMON_INFO_EPOLL_FD);
	return info ? info->epoll_fd : -1;
}

long
esq_http_timeout_ms(void)
{
	long		timeout = -1;
	int			i;

	for (i = 0; i < ndaemons; i++)
	{
		MHD_UNSIGNED_LONG_LONG t;

		if (MHD_get_timeout(daemons[i], &t) == MHD_YES)
		{
			if (t > 1000000)
				t = 1000000;
			if (timeout < 0 || (long) t < timeout)
				timeout = (long) t;
		}
	}
	/*
	 * Run again at once after a connection closed.  At esqase.http_max_connections
	 * libmicrohttpd takes the listening socket out of its epoll set; it frees
	 * closed connections at the end of MHD_run but puts the socket back only
	 * at the start of the next MHD_run.  Waiting for an event on its epoll fd
	 * (with no connection left, and so no timeout) would wait forever while
	 * new connections pile up in the listen queue.
	 */
	if (esq_conn_closed_since_reset() || resumed_in_run)
		return 0;
	/* sweep the request deadlines once a second while there are connections */
	if (esq_conn_any() && (timeout < 0 || timeout > 1000))
		timeout = 1000;
	/* every slot taken, or a refused connection waiting (http_conn.c) */
	if (esq_conn_soon() && (timeout < 0 || timeout > 50))
		timeout = 50;
	/* the summary of unauthenticated requests not logged one by one */
	{
		long		summary = esq_log_summary_wait_ms();

		if (summary >= 0 && (timeout < 0 || summary < timeout))
			timeout = summary;
		summary = esq_log_access_wait_ms();
		if (summary >= 0 && (timeout < 0 || summary < timeout))
			timeout = summary;
	}
	return timeout;
}

/*
 * The front door's work around libmicrohttpd's run (the first bytes, the
 * clients that left, the deadlines, the log's summaries), under esq_guard
 * too: an ERROR there (out of memory) is logged and the worker goes on.
 */
static void
before_run(void *arg)
{
	esq_conn_before_run();
}

static void
after_run(void *arg)
{
	esq_conn_after_run();
	esq_conn_sweep();
	esq_log_flush_summary(false);
	esq_log_access_tick();
}

void
esq_http_run(void)
{
	int			i;

	esq_conn_reset_closed();
	resumed_in_run = false;
	(void) esq_guard(before_run, NULL);
	for (i = 0; i < ndaemons; i++)
		MHD_run(daemons[i]);

	/* one WAL flush for every answer held in this run, then they are sent */
	resumed_in_run = esq_durable_run();

	(void) esq_guard(after_run, NULL);
}
