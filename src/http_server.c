/*
 * http_server.c — libmicrohttpd glue: listening, connections, request
 * bodies, responses.  No SPI here.
 *
 * Each worker runs one libmicrohttpd daemon per listen address, all on
 * esqase.http_port with SO_REUSEPORT so every worker has its own listening
 * socket and the kernel spreads new connections over the workers.  The
 * daemons have no threads (MHD_USE_EPOLL without an internal polling
 * thread): http_worker.c waits on each daemon's epoll fd together with the
 * process latch and calls esq_http_run(), so the access handler, and with
 * it every palloc and SPI call, runs on the backend's main thread.
 *
 * Bounded resources:
 *   - request body: counted here, over esqase.http_max_body -> 413;
 *   - request line and headers: esqase.http_connection_memory per
 *     connection (libmicrohttpd answers 413/431 itself beyond it);
 *   - connections: esqase.http_max_connections per daemon, and
 *     esqase.http_max_connections_per_ip from one client address;
 *   - idle connections: esqase.http_idle_timeout (libmicrohttpd's timer,
 *     which any received byte resets);
 *   - slow clients: esqase.http_request_timeout, a deadline counted from
 *     the connection's start or the end of its previous request, enforced
 *     by shutdown() of the socket so libmicrohttpd closes it on its next
 *     run (a client trickling one byte at a time cannot hold a connection).
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
#include <sys/socket.h>
#include <time.h>

#include <microhttpd.h>

#include "utils/memutils.h"

#include "esqase.h"

#define MAX_DAEMONS 16

/* One client connection (socket context). */
typedef struct EsqConn
{
	struct EsqConn *prev;
	struct EsqConn *next;
	int			fd;
	int64		window_start;	/* ms: connection start or end of last request */
	bool		killed;
} EsqConn;

/* One request in progress (the access handler's con_cls). */
typedef struct EsqReq
{
	char	   *body;
	size_t		len;
	size_t		cap;
	size_t		received;
	bool		too_large;
} EsqReq;

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

/* Queues resp on conn; the body is copied, so the caller may free it. */
static enum MHD_Result
queue_response(struct MHD_Connection *conn, const EsqHttpResponse *resp)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer(resp->body ? resp->body_len : 0,
										resp->body ? resp->body : (void *) "",
										MHD_RESPMEM_MUST_COPY);
	if (r == NULL)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
							"application/json; charset=utf-8");
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (resp->allow)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, resp->allow);
	if (resp->location)
		MHD_add_response_header(r, MHD_HTTP_HEADER_LOCATION, resp->location);
	if (resp->www_authenticate)
		MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
	ret = MHD_queue_response(conn, resp->status, r);
	MHD_destroy_response(r);
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
	req.authorization = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
													MHD_HTTP_HEADER_AUTHORIZATION);
	req.content_type = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
												   MHD_HTTP_HEADER_CONTENT_TYPE);
	req.nargs = args.n;
	req.args = args.args;
	req.body = r->body ? r->body : "";
	req.body_len = r->len;
	req.body_too_large = r->too_large;

	esq_dispatch(&req, &resp);
	ret = queue_response(conn, &resp);

	MemoryContextSwitchTo(old);
	MemoryContextReset(esq_request_context);
	return ret;
}

/*
 * Answers at once (first call), before the body is read; libmicrohttpd then
 * closes the connection after the answer.
 */
static enum MHD_Result
answer_now(struct MHD_Connection *conn, int status, const char *code,
		   const char *message)
{
	MemoryContext old = MemoryContextSwitchTo(esq_request_context);
	EsqHttpResponse resp;
	enum MHD_Result ret;

	memset(&resp, 0, sizeof(resp));
	esq_error_response(&resp, status, code, message, NULL);
	ret = queue_response(conn, &resp);
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

/* Counts the Content-Length and Transfer-Encoding headers of a request. */
typedef struct FramingHeaders
{
	int			content_length;
	int			transfer_encoding;
} FramingHeaders;

static enum MHD_Result
count_framing(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	FramingHeaders *f = cls;

	if (key == NULL)
		return MHD_YES;
	if (pg_strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0)
		f->content_length++;
	else if (pg_strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0)
		f->transfer_encoding++;
	return MHD_YES;
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
		FramingHeaders framing = {0, 0};

		r = calloc(1, sizeof(EsqReq));
		if (r == NULL)
			return MHD_NO;
		*con_cls = r;

		/*
		 * A body whose length is given twice (two Content-Length headers, or
		 * Content-Length with Transfer-Encoding) may be read one way here and
		 * another way by a proxy in front: refuse it (RFC 9112 6.3) and close
		 * the connection, rather than guess where the next request starts.
		 */
		MHD_get_connection_values(conn, MHD_HEADER_KIND, count_framing, &framing);
		if (framing.content_length > 1 || framing.transfer_encoding > 1 ||
			(framing.content_length > 0 && framing.transfer_encoding > 0))
			return answer_now(conn, 400, "bad_request",
							  "the request gives its body length more than once "
							  "(Content-Length and Transfer-Encoding headers)");

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
					return answer_now(conn, 413, "payload_too_large", msg);
				}
			}
		}
		return MHD_YES;
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
	const union MHD_ConnectionInfo *info;

	if (r)
	{
		free(r->body);
		free(r);
		*con_cls = NULL;
	}
	info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	if (info && info->socket_context)
		((EsqConn *) info->socket_context)->window_start = now_ms();
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
		c->window_start = now_ms();
		c->next = conns;
		if (conns)
			conns->prev = c;
		conns = c;
		MHD_set_connection_option(conn, MHD_CONNECTION_OPTION_TIMEOUT,
								  (unsigned int) esq_http_idle_timeout);
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

/* Starts one daemon on addr; returns false (after logging) on failure. */
static bool
start_daemon(const struct sockaddr *addr, const char *label)
{
	unsigned int flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
	struct MHD_Daemon *d;

	if (ndaemons >= MAX_DAEMONS)
		return false;
	if (addr->sa_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	d = MHD_start_daemon(flags, (uint16_t) esq_http_port, NULL, NULL,
						 access_handler, NULL,
						 MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, NULL,
						 MHD_OPTION_SOCK_ADDR, addr,
						 MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned int) 1,
						 MHD_OPTION_CONNECTION_LIMIT, (unsigned int) esq_http_max_connections,
						 MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned int) esq_http_max_connections_per_ip,
						 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int) esq_http_idle_timeout,
						 MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t) esq_http_connection_memory,
						 MHD_OPTION_NOTIFY_COMPLETED, request_completed, NULL,
						 MHD_OPTION_NOTIFY_CONNECTION, connection_notify, NULL,
						 MHD_OPTION_UNESCAPE_CALLBACK, unescape_no_nul, NULL,
						 MHD_OPTION_END);
	if (d == NULL)
	{
		ereport(WARNING,
				(errmsg("esqase: could not listen on %s port %d", label, esq_http_port)));
		return false;
	}
	daemons[ndaemons++] = d;
	if (bound[0])
		strlcat(bound, ", ", sizeof(bound));
	strlcat(bound, label, sizeof(bound));
	return true;
}

/* Starts the daemons for one entry of esqase.http_listen_addresses. */
static void
start_address(const char *host)
{
	struct addrinfo hints;
	struct addrinfo *res = NULL;
	struct addrinfo *ai;
	char		port[16];
	int			rc;

	if (strcmp(host, "*") == 0)
	{
		struct sockaddr_in in4;
		struct sockaddr_in6 in6;

		memset(&in4, 0, sizeof(in4));
		in4.sin_family = AF_INET;
		in4.sin_port = htons((uint16_t) esq_http_port);
		in4.sin_addr.s_addr = htonl(INADDR_ANY);
		start_daemon((struct sockaddr *) &in4, "0.0.0.0");
		memset(&in6, 0, sizeof(in6));
		in6.sin6_family = AF_INET6;
		in6.sin6_port = htons((uint16_t) esq_http_port);
		in6.sin6_addr = in6addr_any;
		start_daemon((struct sockaddr *) &in6, "::");
		return;
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
		return;
	}
	for (ai = res; ai; ai = ai->ai_next)
	{
		char		label[NI_MAXHOST];

		if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
			continue;
		if (getnameinfo(ai->ai_addr, ai->ai_addrlen, label, sizeof(label),
						NULL, 0, NI_NUMERICHOST) != 0)
			strlcpy(label, host, sizeof(label));
		start_daemon(ai->ai_addr, label);
	}
	freeaddrinfo(res);
}

int
esq_http_start(void)
{
	char	   *list = pstrdup(esq_http_listen_addresses);
	char	   *tok;
	char	   *save = NULL;

	starting = true;
	for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
	{
		char	   *end;

		while (*tok == ' ' || *tok == '\t')
			tok++;
		end = tok + strlen(tok);
		while (end > tok && (end[-1] == ' ' || end[-1] == '\t'))
			*--end = '\0';
		if (*tok)
			start_address(tok);
	}
	pfree(list);
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
	if (closed_in_run)
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
	for (i = 0; i < ndaemons; i++)
		MHD_run(daemons[i]);

	now = now_ms();
	if (now - last_sweep >= 1000)
	{
		EsqConn    *c;
		int64		limit = (int64) esq_http_request_timeout * 1000;

		last_sweep = now;
		for (c = conns; c; c = c->next)
		{
			if (!c->killed && c->fd >= 0 && now - c->window_start > limit)
			{
				/* libmicrohttpd sees the shutdown and closes the connection */
				shutdown(c->fd, SHUT_RDWR);
				c->killed = true;
			}
		}
	}
}
