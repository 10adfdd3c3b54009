/*
 * http_server.c — libmicrohttpd glue: listening, connections, request
 * bodies, responses.  No SPI here.
 *
 * The listening sockets are opened once, by the postmaster (esq_http_listen,
 * from the shared-memory startup hook), without SO_REUSEPORT: no other
 * process can bind the port while the server runs, and a port already in
 * use leaves the HTTP API off instead of sharing it.  The workers inherit
 * the sockets through fork() and each runs one libmicrohttpd daemon per
 * socket (MHD_OPTION_LISTEN_SOCKET), so all of them accept from the same
 * queue: a worker busy with a request is not in accept(), and the free
 * workers take the new connections.  The daemons have no threads
 * (MHD_USE_EPOLL without an internal polling thread): http_worker.c waits
 * on each daemon's epoll fd together with the process latch and calls
 * esq_http_run(), so the access handler, and with it every palloc and SPI
 * call, runs on the backend's main thread.
 *
 * Bounded resources:
 *   - request body: counted here, over esqase.http_max_body -> 413;
 *   - request line and headers: esqase.http_connection_memory per
 *     connection (libmicrohttpd answers 413/431 itself beyond it);
 *   - connections: esqase.http_max_connections for all workers, each
 *     holding its share; when a worker's last slot is taken it closes the
 *     connection that waited longest without a request in progress
 *     (make_room), so idle and unfinished connections cannot hold the slots;
 *   - esqase.http_max_connections_per_ip from one client address other than
 *     127.0.0.1/::1 (accept_policy), each worker enforcing its share;
 *   - idle connections: esqase.http_idle_timeout (libmicrohttpd's timer,
 *     which any received byte resets);
 *   - slow clients: deadlines checked once a second (esq_http_run) and
 *     enforced by shutdown() of the socket so libmicrohttpd closes it on
 *     its next run: a new connection's headers within
 *     esqase.http_header_timeout, a body within esqase.http_body_timeout of
 *     its headers, and each request within esqase.http_request_timeout of
 *     the connection's start or the end of its previous request (a client
 *     trickling one byte at a time cannot hold a connection).
 *
 * The request framing is checked before a body is read (framing_error):
 * RFC 9112 says what to refuse, and libmicrohttpd 0.9.75 misreads some of
 * it (a space before a header's colon, an unknown Transfer-Encoding).
 *
 * The response is queued on a later call of the access handler than the
 * first one (once the whole request is in), which keeps HTTP keep-alive
 * working; only a 413 to a client that sent "Expect: 100-continue" with a
 * Content-Length over the limit is queued on the first call, on purpose: the
 * connection is then closed without the body ever being sent.
 */
#include "postgres.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <ctype.h>
#include <unistd.h>
#include <sys/socket.h>
#include <time.h>

#include <microhttpd.h>

#include "miscadmin.h"
#include "utils/memutils.h"

#include "esqase.h"

#define MAX_DAEMONS 16
#define ESQ_REQUEST_ID_MAX ESQ_CONTEXT_REQUEST_ID_MAX
#define HEADER_REQUEST_ID "X-Request-Id"

/* One client connection (socket context). */
typedef struct EsqConn
{
	struct EsqConn *prev;
	struct EsqConn *next;
	int			fd;
	int64		window_start;	/* ms: connection start or end of last request */
	int64		headers_at;		/* ms: headers of the current request in; 0: none */
	bool		answered;		/* the current request's response is queued */
	int			requests;		/* requests completed on this connection */
	bool		killed;
	struct sockaddr_storage peer;
	socklen_t	peerlen;
} EsqConn;

/* One request in progress (the access handler's con_cls). */
typedef struct EsqReq
{
	char	   *body;
	size_t		len;
	size_t		cap;
	size_t		received;
	bool		too_large;
	int64		start_us;		/* headers in */
	char		request_id[ESQ_REQUEST_ID_MAX + 1];
	EsqHttpResponse *deferred;	/* an answer waiting for its commit to be durable */
} EsqReq;

/*
 * Connections suspended until the WAL is flushed past their commits
 * (http_sql.c, "Commits without holding the worker"): esq_http_run flushes
 * once for all of them after libmicrohttpd's run, then resumes them, and
 * libmicrohttpd calls the access handler again to send each answer.
 */
static struct MHD_Connection **waiting = NULL;
static int	nwaiting = 0;
static int	waiting_cap = 0;
static uint64 waiting_lsn = 0;
static bool resumed_in_run = false;

/*
 * A listening socket.  Opened by the postmaster; a forked worker sees the
 * same array (static memory is copied by fork) and the same descriptors.
 */
typedef struct EsqListener
{
	int			fd;
	int			family;
	struct sockaddr_storage addr;
	socklen_t	addrlen;
	char		label[NI_MAXHOST];
} EsqListener;

static EsqListener listeners[MAX_DAEMONS];
static int	nlisteners = 0;
static bool listen_tried = false;

static struct MHD_Daemon *daemons[MAX_DAEMONS];
static int	ndaemons = 0;
static EsqConn *conns = NULL;
static int64 last_sweep = 0;
static bool starting = false;
static bool closed_in_run = false;	/* a connection closed during MHD_run */
static char bound[256];			/* the addresses listened on, for the log */

/* Monotonic clock in milliseconds. */
static int64
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Monotonic clock in microseconds. */
static int64
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* libmicrohttpd's log messages: LOG while starting, DEBUG1 afterwards. */
static void
mhd_logger(void *cls, const char *fmt, va_list ap)
{
	char		buf[512];
	size_t		n;

	vsnprintf(buf, sizeof(buf), fmt, ap);
	n = strlen(buf);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	ereport(starting ? LOG : DEBUG1,
			(errmsg("esqase: libmicrohttpd: %s", buf)));
}

/* The connection's EsqConn (socket context), or NULL. */
static EsqConn *
conn_state(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *info;

	info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return info ? (EsqConn *) info->socket_context : NULL;
}

/* Closes a connection: libmicrohttpd sees the shutdown on its next run. */
static void
kill_conn(EsqConn *c)
{
	if (c->killed || c->fd < 0)
		return;
	shutdown(c->fd, SHUT_RDWR);
	c->killed = true;
}

/*
 * The X-Request-Id of a request: the client's if it is sane (1 to 128
 * characters, letters, digits and "-._:/+=@"), so that a proxy's or a
 * client's id follows the request; otherwise a new random one.
 */
static void
set_request_id(struct MHD_Connection *conn, EsqReq *r)
{
	const char *given = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
													HEADER_REQUEST_ID);
	uint8		rnd[16];
	int			i;

	if (given)
	{
		size_t		len = strlen(given);
		const char *p;

		for (p = given; *p; p++)
			if (!isalnum((unsigned char) *p) && strchr("-._:/+=@", *p) == NULL)
				break;
		if (*p == '\0' && len > 0 && len <= ESQ_REQUEST_ID_MAX)
		{
			memcpy(r->request_id, given, len + 1);
			return;
		}
	}
	if (!pg_strong_random(rnd, sizeof(rnd)))
	{
		/* no entropy source: still unique enough to find a log line */
		uint64		t = (uint64) now_us() ^ ((uint64) MyProcPid << 40);

		memcpy(rnd, &t, sizeof(t));
		memcpy(rnd + 8, &r, sizeof(void *) <= 8 ? sizeof(void *) : 8);
	}
	for (i = 0; i < 16; i++)
		snprintf(r->request_id + 2 * i, 3, "%02x", rnd[i]);
}

/*
 * text for the log: at most max bytes, with control characters, non-ASCII
 * bytes and '%' as %HH, so a path cannot forge or break a log line.
 */
static void
append_log_safe(StringInfo buf, const char *s, int max)
{
	int			n = 0;

	for (; *s && n < max; s++, n++)
	{
		unsigned char c = (unsigned char) *s;

		if (c < 0x21 || c >= 0x7f || c == '%')
			appendStringInfo(buf, "%%%02X", c);
		else
			appendStringInfoChar(buf, (char) c);
	}
	if (*s)
		appendStringInfoString(buf, "...");
}

/*
 * The key prefix of "Bearer esq_<prefix>_<secret>": what names a key in
 * esqase.api_keys without revealing it.  "-" if there is none.
 */
static void
append_key_prefix(StringInfo buf, const char *authorization)
{
	const char *p;
	int			n = 0;

	if (authorization == NULL || pg_strncasecmp(authorization, "Bearer ", 7) != 0)
	{
		appendStringInfoChar(buf, '-');
		return;
	}
	p = authorization + 7;
	while (*p == ' ')
		p++;
	if (strncmp(p, "esq_", 4) != 0)
	{
		appendStringInfoChar(buf, '-');
		return;
	}
	for (p += 4; p[n] && p[n] != '_' && isalnum((unsigned char) p[n]) && n < 16; n++)
		;
	if (n == 0 || p[n] != '_')
		appendStringInfoChar(buf, '-');
	else
		appendBinaryStringInfo(buf, p, n);
}

/*
 * One log line per request: method, path (without the query string),
 * status, duration, response bytes, key prefix, client address, request
 * id.  Never the token or a body.  5xx at WARNING, the rest at
 * esqase.http_log_level.
 */
static void
log_request(struct MHD_Connection *conn, const char *method, const char *url,
			EsqReq *r, int status, size_t bytes)
{
	int			level = status >= 500 ? WARNING : esq_http_log_level;
	StringInfoData buf;
	char		client[INET6_ADDRSTRLEN] = "-";
	EsqConn    *c;

	if (level < WARNING && !message_level_is_interesting(level))
		return;
	c = conn_state(conn);
	if (c && c->peer.ss_family == AF_INET)
		inet_ntop(AF_INET, &((struct sockaddr_in *) &c->peer)->sin_addr,
				  client, sizeof(client));
	else if (c && c->peer.ss_family == AF_INET6)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *) &c->peer)->sin6_addr,
				  client, sizeof(client));
	initStringInfo(&buf);
	append_log_safe(&buf, method, 32);
	appendStringInfoChar(&buf, ' ');
	append_log_safe(&buf, url, 256);
	appendStringInfo(&buf, " %d %.3f ms %zu bytes key=", status,
					 (double) (now_us() - r->start_us) / 1000.0, bytes);
	append_key_prefix(&buf, MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
														MHD_HTTP_HEADER_AUTHORIZATION));
	appendStringInfo(&buf, " client=%s request_id=%s", client, r->request_id);
	ereport(level,
			(errmsg("esqase: request %s", buf.data),
			 errhidestmt(true), errhidecontext(true)));
	pfree(buf.data);
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
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
							resp->content_type ? resp->content_type :
							"application/json; charset=utf-8");
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	MHD_add_response_header(r, HEADER_REQUEST_ID, req->request_id);
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
	{
		EsqConn    *c = conn_state(conn);

		if (c)
			c->answered = true;
	}
	if (!resp->content_type)	/* not the metrics themselves */
		esq_stats_record(resp->stat_route, method, resp->status, now_us() - req->start_us);
	log_request(conn, method, url, req, resp->status, resp->body ? resp->body_len : 0);
	return ret;
}

/*
 * Decodes %HH escapes in the path and query arguments like libmicrohttpd's
 * default, except %00: a NUL would cut the C string short, so that
 * "/v1/contacts%00/x" became "/v1/contacts" and "limit%00junk=1" became
 * "limit".  "%00" is left as it is, and the checks that follow reject it
 * (404, or 400 naming the id or the parameter).
 */
static int
hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static size_t
unescape_no_nul(void *cls, struct MHD_Connection *conn, char *s)
{
	const char *rd = s;
	char	   *wr = s;

	while (*rd)
	{
		int			hi = rd[0] == '%' ? hex_value(rd[1]) : -1;
		int			lo = hi >= 0 ? hex_value(rd[2]) : -1;

		if (lo >= 0 && (hi | lo) != 0)
		{
			*wr++ = (char) ((hi << 4) | lo);
			rd += 3;
		}
		else
			*wr++ = *rd++;
	}
	*wr = '\0';
	return (size_t) (wr - s);
}

/* Collects query arguments into a growing array in the request context. */
typedef struct ArgCollector
{
	EsqQueryArg *args;
	int			n;
	int			cap;
} ArgCollector;

static enum MHD_Result
collect_arg(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	ArgCollector *c = cls;

	if (key == NULL)
		return MHD_YES;
	if (c->n == c->cap)
	{
		c->cap = c->cap ? c->cap * 2 : 8;
		c->args = c->args ? repalloc(c->args, c->cap * sizeof(EsqQueryArg))
			: palloc(c->cap * sizeof(EsqQueryArg));
	}
	c->args[c->n].key = key;
	c->args[c->n].value = value;
	c->n++;
	return MHD_YES;
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

static void
free_deferred(EsqReq *r)
{
	if (r->deferred == NULL)
		return;
	free(r->deferred->body);
	free(r->deferred->location);
	free((char *) r->deferred->cors_origin);
	for (int i = 0; i < r->deferred->nheaders; i++)
		free(r->deferred->headers[i].value);
	free(r->deferred);
	r->deferred = NULL;
}

/*
 * Keeps the answer (outside the request memory context, which is reset
 * now) and suspends the connection until its commit is durable.  False if
 * it could not: the caller then flushes and answers at once.
 */
static bool
defer_response(struct MHD_Connection *conn, EsqReq *r, const EsqHttpResponse *resp)
{
	bool		ok = true;
	EsqHttpResponse *d;

	if (nwaiting == waiting_cap)
	{
		int			cap = waiting_cap ? 2 * waiting_cap : 16;
		struct MHD_Connection **w = realloc(waiting, cap * sizeof(*w));

		if (w == NULL)
			return false;
		waiting = w;
		waiting_cap = cap;
	}
	d = malloc(sizeof(*d));
	if (d == NULL)
		return false;
	*d = *resp;
	d->body = copy_or_null(resp->body, resp->body_len, &ok);
	d->location = copy_or_null(resp->location, resp->location ? strlen(resp->location) : 0, &ok);
	d->cors_origin = copy_or_null(resp->cors_origin,
								  resp->cors_origin ? strlen(resp->cors_origin) : 0, &ok);
	/* free_deferred frees the values counted in d->nheaders: copies only */
	d->nheaders = 0;
	for (int i = 0; i < resp->nheaders && ok; i++)
	{
		d->headers[i].value = copy_or_null(resp->headers[i].value,
										   strlen(resp->headers[i].value), &ok);
		if (ok)
			d->nheaders++;
	}
	r->deferred = d;
	if (!ok)
	{
		free_deferred(r);
		return false;
	}
	MHD_suspend_connection(conn);
	waiting[nwaiting++] = conn;
	waiting_lsn = Max(waiting_lsn, resp->durable_lsn);
	return true;
}

/* The whole request is in: dispatch it and queue the answer. */
static enum MHD_Result
answer(struct MHD_Connection *conn, const char *url, const char *method, EsqReq *r)
{
	MemoryContext old = MemoryContextSwitchTo(esq_request_context);
	EsqHttpRequest req;
	EsqHttpResponse resp;
	ArgCollector args = {NULL, 0, 0};
	enum MHD_Result ret;

	MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, collect_arg, &args);
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
	req.nargs = args.n;
	req.args = args.args;
	req.body = r->body ? r->body : "";
	req.body_len = r->len;
	req.body_too_large = r->too_large;

	esq_dispatch(&req, &resp);
	if (resp.durable_lsn != 0 && !esq_sql_durable(resp.durable_lsn) &&
		defer_response(conn, r, &resp))
		ret = MHD_YES;
	else
	{
		if (resp.durable_lsn != 0)
			esq_sql_make_durable(resp.durable_lsn);
		ret = queue_response(conn, method, url, r, &resp, false);
	}

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

/* Appends a body chunk, or only counts it once the limit is passed. */
static bool
append_body(EsqReq *r, const char *data, size_t size)
{
	r->received += size;
	if (r->too_large)
		return true;
	if (r->received > (size_t) esq_http_max_body)
	{
		r->too_large = true;
		free(r->body);
		r->body = NULL;
		r->len = r->cap = 0;
		return true;
	}
	if (r->len + size > r->cap)
	{
		size_t		cap = r->cap ? r->cap : 1024;
		char	   *nb;

		while (cap < r->len + size)
			cap *= 2;
		nb = realloc(r->body, cap);
		if (nb == NULL)
			return false;
		r->body = nb;
		r->cap = cap;
	}
	memcpy(r->body + r->len, data, size);
	r->len += size;
	return true;
}

/*
 * What the headers say about the body's framing (RFC 9112 section 6).
 * libmicrohttpd 0.9.75 keeps a header name as sent, so it reads
 * "Transfer-Encoding : chunked" as some other header and the body as part
 * of the next request; it also takes a Transfer-Encoding it does not know
 * as a body without end.  These are checked before anything is read.
 */
typedef struct FramingHeaders
{
	int			content_length;
	int			transfer_encoding;
	bool		te_chunked;		/* the one Transfer-Encoding is "chunked" */
	bool		bad_name;		/* a header name that is not an RFC 9110 token */
} FramingHeaders;

/* RFC 9110 tchar */
static bool
is_tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		(c >= '0' && c <= '9') || strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static enum MHD_Result
check_framing_header(void *cls, enum MHD_ValueKind kind, const char *key,
					 const char *value)
{
	FramingHeaders *f = cls;
	const unsigned char *p;

	if (key == NULL)
		return MHD_YES;
	if (*key == '\0')
		f->bad_name = true;
	for (p = (const unsigned char *) key; *p; p++)
		if (!is_tchar(*p))
			f->bad_name = true;
	if (pg_strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0)
		f->content_length++;
	else if (pg_strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0)
	{
		f->transfer_encoding++;
		f->te_chunked = value && pg_strcasecmp(value, "chunked") == 0;
	}
	return MHD_YES;
}

/* NULL if the request's framing is sound, else why it is not. */
static const char *
framing_error(struct MHD_Connection *conn, const char *version)
{
	FramingHeaders f = {0, 0, false, false};

	MHD_get_connection_values(conn, MHD_HEADER_KIND, check_framing_header, &f);
	if (f.bad_name)
		return "a header name has whitespace or another character not allowed in it "
			"(no space is allowed before the colon)";
	if (f.content_length > 1 || f.transfer_encoding > 1 ||
		(f.content_length > 0 && f.transfer_encoding > 0))
		return "the request gives its body length more than once "
			"(Content-Length and Transfer-Encoding headers)";
	if (f.transfer_encoding > 0 && !f.te_chunked)
		return "Transfer-Encoding other than \"chunked\" is not supported";
	if (f.transfer_encoding > 0 && strcmp(version, MHD_HTTP_VERSION_1_0) == 0)
		return "Transfer-Encoding is not allowed in an HTTP/1.0 request";
	return NULL;
}

static enum MHD_Result
access_handler(void *cls, struct MHD_Connection *conn, const char *url,
			   const char *method, const char *version, const char *upload_data,
			   size_t *upload_data_size, void **con_cls)
{
	EsqReq	   *r = *con_cls;

	if (r == NULL)
	{
		const char *cl;
		const char *framing;

		EsqConn    *c = conn_state(conn);

		r = calloc(1, sizeof(EsqReq));
		if (r == NULL)
			return MHD_NO;
		*con_cls = r;
		r->start_us = now_us();
		set_request_id(conn, r);
		if (c)
		{
			c->headers_at = now_ms();
			c->answered = false;
		}

		/*
		 * A body whose length is given twice (two Content-Length headers, or
		 * Content-Length with Transfer-Encoding), or in a way this server
		 * reads differently from a proxy in front, could be read one way
		 * here and another way there: refuse it (RFC 9112 6.3) and close
		 * the connection, rather than guess where the next request starts.
		 */
		framing = framing_error(conn, version);
		if (framing)
			return answer_now(conn, method, url, r, 400, "bad_request", framing);

		cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
										 MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (cl != NULL)
		{
			char	   *end;
			unsigned long long n;

			errno = 0;
			n = strtoull(cl, &end, 10);
			if (errno != 0 || n > (unsigned long long) esq_http_max_body)
			{
				const char *expect = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
																 MHD_HTTP_HEADER_EXPECT);

				/*
				 * A client waiting for "100 Continue" has not sent the body:
				 * answer now.  Any other client is already sending it; closing
				 * on it would reset the connection before it reads the answer,
				 * so the body is read, counted and dropped, then answered.
				 */
				r->too_large = true;
				if (expect && pg_strcasecmp(expect, "100-continue") == 0)
				{
					char		msg[128];

					snprintf(msg, sizeof(msg),
							 "the request body is larger than esqase.http_max_body (%d bytes)",
							 esq_http_max_body);
					return answer_now(conn, method, url, r, 413, "payload_too_large", msg);
				}
			}
		}
		return MHD_YES;
	}
	if (r->deferred)
	{
		/* resumed: the commit is durable now */
		enum MHD_Result ret = queue_response(conn, method, url, r, r->deferred, false);

		free_deferred(r);
		return ret;
	}
	if (*upload_data_size > 0)
	{
		if (!append_body(r, upload_data, *upload_data_size))
			return MHD_NO;
		*upload_data_size = 0;
		return MHD_YES;
	}
	return answer(conn, url, method, r);
}

/* Frees the request state; restarts the connection's deadline window. */
static void
request_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
				  enum MHD_RequestTerminationCode toe)
{
	EsqReq	   *r = *con_cls;
	EsqConn    *c = conn_state(conn);

	if (r)
	{
		free_deferred(r);
		free(r->body);
		free(r);
		*con_cls = NULL;
	}
	if (c)
	{
		c->window_start = now_ms();
		c->headers_at = 0;
		c->answered = false;
		c->requests++;
	}
}

/*
 * This worker's share of a limit that holds for all the workers together:
 * they accept from one queue, so the shares add up to the limit and a
 * worker with a free slot takes the next connection.
 */
static int
worker_share(int limit)
{
	return Max(1, (limit + esq_worker_count() - 1) / esq_worker_count());
}

/* The address of a connection, without the port. */
static bool
same_host(const struct sockaddr *a, const struct sockaddr_storage *b)
{
	if (a->sa_family != b->ss_family)
		return false;
	if (a->sa_family == AF_INET)
		return ((const struct sockaddr_in *) a)->sin_addr.s_addr ==
			((const struct sockaddr_in *) b)->sin_addr.s_addr;
	if (a->sa_family == AF_INET6)
		return memcmp(&((const struct sockaddr_in6 *) a)->sin6_addr,
					  &((const struct sockaddr_in6 *) b)->sin6_addr,
					  sizeof(struct in6_addr)) == 0;
	return false;
}

/*
 * The host's own client addresses, exempt from the per-address limit: a
 * reverse proxy on the same host (or a local client) connects from them.
 * Only 127.0.0.1 and ::1 (and ::ffff:127.0.0.1), not all of 127.0.0.0/8.
 */
static bool
is_local_peer(const struct sockaddr *a)
{
	static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

	if (a->sa_family == AF_INET)
		return ntohl(((const struct sockaddr_in *) a)->sin_addr.s_addr) == INADDR_LOOPBACK;
	if (a->sa_family == AF_INET6)
	{
		const struct in6_addr *in6 = &((const struct sockaddr_in6 *) a)->sin6_addr;

		return IN6_IS_ADDR_LOOPBACK(in6) ||
			(memcmp(in6->s6_addr, mapped, 12) == 0 &&
			 in6->s6_addr[12] == 127 && in6->s6_addr[13] == 0 &&
			 in6->s6_addr[14] == 0 && in6->s6_addr[15] == 1);
	}
	return false;
}

/*
 * libmicrohttpd's accept policy: refuses (closes at once) a connection from
 * an address that already has this worker's share of
 * esqase.http_max_connections_per_ip.
 */
static enum MHD_Result
accept_policy(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
	EsqConn    *c;
	int			n = 0;
	int			share;

	if (esq_http_max_connections_per_ip <= 0 || is_local_peer(addr))
		return MHD_YES;
	share = worker_share(esq_http_max_connections_per_ip);
	for (c = conns; c; c = c->next)
		if (!c->killed && same_host(addr, &c->peer) && ++n >= share)
			return MHD_NO;
	return MHD_YES;
}

/*
 * A new connection took a slot: if it was this worker's last free one, close
 * the connection that has waited longest without a request in progress
 * (idle keep-alive, or headers never completed), or failing that the
 * oldest one still sending its body, so that the next client finds a slot
 * at once.  Idle and unfinished connections cost an attacker nothing to
 * open; without this a flood of them holds every slot until they time out.
 */
static void
make_room(EsqConn *newest)
{
	EsqConn    *c;
	EsqConn    *idle = NULL;
	EsqConn    *body = NULL;
	int			live = 0;

	for (c = conns; c; c = c->next)
	{
		if (c->killed)
			continue;
		live++;
		if (c == newest || c->answered)
			continue;
		if (c->headers_at == 0)
		{
			if (idle == NULL || c->window_start < idle->window_start)
				idle = c;
		}
		else if (body == NULL || c->headers_at < body->headers_at)
			body = c;
	}
	if (live < worker_share(esq_http_max_connections))
		return;
	if (idle)
		kill_conn(idle);
	else if (body)
		kill_conn(body);
}

/* Tracks connections for the request deadline. */
static void
connection_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
				  enum MHD_ConnectionNotificationCode toe)
{
	if (toe == MHD_CONNECTION_NOTIFY_STARTED)
	{
		EsqConn    *c = calloc(1, sizeof(EsqConn));
		const union MHD_ConnectionInfo *info;

		*socket_context = c;
		if (c == NULL)
			return;
		info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
		c->fd = info ? info->connect_fd : -1;
		info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
		if (info && info->client_addr)
		{
			c->peerlen = info->client_addr->sa_family == AF_INET6 ?
				sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
			memcpy(&c->peer, info->client_addr, c->peerlen);
		}
		c->window_start = now_ms();
		c->next = conns;
		if (conns)
			conns->prev = c;
		conns = c;
		MHD_set_connection_option(conn, MHD_CONNECTION_OPTION_TIMEOUT,
								  (unsigned int) esq_http_idle_timeout);
		make_room(c);
	}
	else if (toe == MHD_CONNECTION_NOTIFY_CLOSED)
	{
		EsqConn    *c = *socket_context;

		closed_in_run = true;
		if (c == NULL)
			return;
		if (c->prev)
			c->prev->next = c->next;
		else
			conns = c->next;
		if (c->next)
			c->next->prev = c->prev;
		free(c);
		*socket_context = NULL;
	}
}

/*
 * Opens one listening socket; false with errno set on failure.  No
 * SO_REUSEPORT: with it any process of the same OS user could bind the port
 * too and take a share of the connections.  SO_REUSEADDR only lets a
 * restarted server bind while old connections are in TIME_WAIT; Linux still
 * refuses a second listener on the port.  FD_CLOEXEC keeps the socket out
 * of programs the server runs (archive_command and the like).
 */
static bool
open_listener(const struct sockaddr *addr, socklen_t addrlen, const char *label)
{
	EsqListener *l = &listeners[nlisteners];
	int			fd;
	int			one = 1;
	int			save;

	fd = socket(addr->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return false;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
		(addr->sa_family == AF_INET6 &&
		 setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) != 0) ||
		bind(fd, addr, addrlen) != 0 ||
		listen(fd, SOMAXCONN) != 0)
	{
		save = errno;
		close(fd);
		errno = save;
		return false;
	}
	l->fd = fd;
	l->family = addr->sa_family;
	memcpy(&l->addr, addr, addrlen);
	l->addrlen = addrlen;
	strlcpy(l->label, label, sizeof(l->label));
	nlisteners++;
	return true;
}

/* True if addr is already bound (a name listed twice, "localhost,127.0.0.1"). */
static bool
already_bound(const struct sockaddr *addr, socklen_t addrlen)
{
	int			i;

	for (i = 0; i < nlisteners; i++)
		if (listeners[i].addrlen == addrlen &&
			memcmp(&listeners[i].addr, addr, addrlen) == 0)
			return true;
	return false;
}

/*
 * Binds one address; returns false only when the port is in use there
 * (the caller then gives up on the HTTP API); other failures (an address
 * family the host lacks, an address not on this host) are logged and
 * skipped.
 */
static bool
listen_on(const struct sockaddr *addr, socklen_t addrlen, const char *label)
{
	if (nlisteners >= MAX_DAEMONS || already_bound(addr, addrlen))
		return true;
	if (open_listener(addr, addrlen, label))
		return true;
	if (errno == EADDRINUSE)
	{
		ereport(WARNING,
				(errmsg("esqase: HTTP port %d on %s is already in use; the HTTP API is off",
						esq_http_port, label),
				 errdetail("Another process listens on esqase.http_port. esqase does not share a port."),
				 errhint("Stop the other process or set esqase.http_port to a free port, then restart the server.")));
		return false;
	}
	ereport(WARNING,
			(errmsg("esqase: could not listen on %s port %d: %m", label, esq_http_port)));
	return true;
}

/* Binds the addresses of one entry of esqase.http_listen_addresses. */
static bool
listen_on_host(const char *host)
{
	struct addrinfo hints;
	struct addrinfo *res = NULL;
	struct addrinfo *ai;
	char		port[16];
	int			rc;
	bool		ok = true;

	if (strcmp(host, "*") == 0)
	{
		struct sockaddr_in in4;
		struct sockaddr_in6 in6;

		memset(&in4, 0, sizeof(in4));
		in4.sin_family = AF_INET;
		in4.sin_port = htons((uint16_t) esq_http_port);
		in4.sin_addr.s_addr = htonl(INADDR_ANY);
		memset(&in6, 0, sizeof(in6));
		in6.sin6_family = AF_INET6;
		in6.sin6_port = htons((uint16_t) esq_http_port);
		in6.sin6_addr = in6addr_any;
		return listen_on((struct sockaddr *) &in4, sizeof(in4), "0.0.0.0") &&
			listen_on((struct sockaddr *) &in6, sizeof(in6), "::");
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	snprintf(port, sizeof(port), "%d", esq_http_port);
	rc = getaddrinfo(host, port, &hints, &res);
	if (rc != 0)
	{
		ereport(WARNING,
				(errmsg("esqase: could not resolve listen address \"%s\": %s",
						host, gai_strerror(rc))));
		return true;
	}
	for (ai = res; ai && ok; ai = ai->ai_next)
	{
		char		label[NI_MAXHOST];

		if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
			continue;
		if (getnameinfo(ai->ai_addr, ai->ai_addrlen, label, sizeof(label),
						NULL, 0, NI_NUMERICHOST) != 0)
			strlcpy(label, host, sizeof(label));
		ok = listen_on(ai->ai_addr, ai->ai_addrlen, label);
	}
	freeaddrinfo(res);
	return ok;
}

/*
 * Opens the listening sockets, in the postmaster, once (a crash restart of
 * the cluster keeps them: connections wait in the queue meanwhile).  All or
 * nothing: if the port is in use on any address, every socket is closed
 * and the workers, finding none, stop.
 */
void
esq_http_listen(void)
{
	char	   *list;
	char	   *tok;
	char	   *save = NULL;
	bool		ok = true;

	if (listen_tried)
		return;
	listen_tried = true;
	list = pstrdup(esq_http_listen_addresses);
	for (tok = strtok_r(list, ",", &save); tok && ok; tok = strtok_r(NULL, ",", &save))
	{
		char	   *end;

		while (*tok == ' ' || *tok == '\t')
			tok++;
		end = tok + strlen(tok);
		while (end > tok && (end[-1] == ' ' || end[-1] == '\t'))
			*--end = '\0';
		if (*tok)
			ok = listen_on_host(tok);
	}
	pfree(list);
	if (!ok)
	{
		while (nlisteners > 0)
			close(listeners[--nlisteners].fd);
	}
	else if (nlisteners == 0)
		ereport(WARNING,
				(errmsg("esqase: the HTTP API could not listen on any of \"%s\" port %d; it is off",
						esq_http_listen_addresses, esq_http_port)));
}

int
esq_http_nlisteners(void)
{
	return nlisteners;
}

/* Starts one daemon on an inherited listening socket. */
static bool
start_daemon(EsqListener *l)
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
		tls[1] = (struct MHD_OptionItem) {MHD_OPTION_HTTPS_PRIORITIES, 0, (void *) esq_tls_priorities};
		tls[2] = (struct MHD_OptionItem) {MHD_OPTION_END, 0, NULL};
	}
	d = MHD_start_daemon(flags, 0, accept_policy, NULL,
						 access_handler, NULL,
						 MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, NULL,
						 MHD_OPTION_LISTEN_SOCKET, l->fd,
						 MHD_OPTION_CONNECTION_LIMIT, (unsigned int) worker_share(esq_http_max_connections),
						 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int) esq_http_idle_timeout,
						 MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t) esq_http_connection_memory,
						 MHD_OPTION_NOTIFY_COMPLETED, request_completed, NULL,
						 MHD_OPTION_NOTIFY_CONNECTION, connection_notify, NULL,
						 MHD_OPTION_UNESCAPE_CALLBACK, unescape_no_nul, NULL,
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

	starting = true;
	for (i = 0; i < nlisteners; i++)
		start_daemon(&listeners[i]);
	starting = false;
	last_sweep = now_ms();
	return ndaemons;
}

void
esq_http_stop(void)
{
	int			i;

	for (i = 0; i < ndaemons; i++)
		MHD_stop_daemon(daemons[i]);
	ndaemons = 0;
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
	if (closed_in_run || resumed_in_run)
		return 0;
	/* sweep the request deadlines once a second while there are connections */
	if (conns != NULL && (timeout < 0 || timeout > 1000))
		timeout = 1000;
	return timeout;
}

void
esq_http_run(void)
{
	int			i;
	int64		now;

	closed_in_run = false;
	resumed_in_run = false;
	for (i = 0; i < ndaemons; i++)
		MHD_run(daemons[i]);

	/* one WAL flush for every answer that waits for its commit */
	if (nwaiting > 0)
	{
		esq_sql_make_durable(waiting_lsn);
		for (i = 0; i < nwaiting; i++)
			MHD_resume_connection(waiting[i]);
		nwaiting = 0;
		waiting_lsn = 0;
		resumed_in_run = true;
	}

	now = now_ms();
	if (now - last_sweep >= 1000)
	{
		EsqConn    *c;
		int64		request_limit = (int64) esq_http_request_timeout * 1000;
		int64		header_limit = (int64) esq_http_header_timeout * 1000;
		int64		body_limit = (int64) esq_http_body_timeout * 1000;

		last_sweep = now;
		for (c = conns; c; c = c->next)
		{
			if (now - c->window_start > request_limit)
				kill_conn(c);
			/* a new connection's first request line and headers */
			else if (c->requests == 0 && c->headers_at == 0 &&
					 now - c->window_start > header_limit)
				kill_conn(c);
			/* the body, once the headers are in */
			else if (c->headers_at != 0 && !c->answered &&
					 now - c->headers_at > body_limit)
				kill_conn(c);
		}
	}
}
