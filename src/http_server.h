/*
 * http_server.h — what the rooms of the HTTP front door share (libmicrohttpd
 * glue, no SPI).  Only the http_*.c files that talk to libmicrohttpd
 * include it; the rest of the extension sees esqase.h only.
 *
 *   http_listen.c   the listening sockets, opened once by the postmaster
 *   http_conn.c     connections: admission, the connection limits, deadlines
 *   http_framing.c  a request's framing, body, query arguments, unescaping
 *   http_log.c      the request id and the request log line
 *   http_server.c   the daemons, their run, the access handler, the answer
 */
#ifndef ESQ_HTTP_SERVER_H
#define ESQ_HTTP_SERVER_H

#include <netdb.h>
#include <sys/socket.h>
#include <time.h>

#include <microhttpd.h>

#include "esqase.h"

/*
 * The header-section check (http_framing.c) and the first-bytes gate
 * (http_conn.c) read libmicrohttpd 0.9.75's connection buffer as that
 * version lays it out, and the one answer to a request it refuses itself
 * (esq_conn_mhd_refusing) relies on where 0.9.75 calls its logger; another
 * version could do either otherwise.  Built only against 0.9.75 (Debian
 * 12's), and the workers refuse to serve with any other library at run
 * time (esq_http_start).
 */
#define ESQ_MHD_VERSION_STRING "0.9.75"
#if MHD_VERSION != 0x00097500
#error "esqase's front door reads libmicrohttpd 0.9.75's buffers: check http_framing.c and http_conn.c against this version first"
#endif

#define ESQ_MAX_DAEMONS 16
#define ESQ_REQUEST_ID_MAX ESQ_CONTEXT_REQUEST_ID_MAX
#define ESQ_HEADER_REQUEST_ID "X-Request-Id"

/* Monotonic clock in milliseconds. */
static inline int64
esq_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Monotonic clock in microseconds. */
static inline int64
esq_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ------------------------------------------------------------------------
 * http_listen.c: listening sockets (opened in the postmaster)
 * ------------------------------------------------------------------------
 */
typedef struct EsqListener
{
	int			fd;
	int			family;
	struct sockaddr_storage addr;
	socklen_t	addrlen;
	char		label[NI_MAXHOST];
} EsqListener;

/* The i-th listening socket (0 <= i < esq_http_nlisteners()). */
extern const EsqListener *esq_http_listener(int i);

/* ------------------------------------------------------------------------
 * http_conn.c: connections
 * ------------------------------------------------------------------------
 */
/* One client connection (socket context). */
typedef struct EsqConn
{
	struct EsqConn *prev;
	struct EsqConn *next;
	struct MHD_Connection *mhd;
	int			fd;
	int64		window_start;	/* ms: connection start or end of last request */
	int64		headers_at;		/* ms: headers of the current request in; 0: none */
	bool		answered;		/* the current request's response is queued or held */
	bool		held;			/* ... held for the WAL flush (http_durable.c) */
	int			requests;		/* requests completed on this connection */
	bool		complete;		/* the current request is all in (its answer may wait) */
	bool		killed;
	bool		gated;			/* this request's first bytes were looked at (or cannot be) */
	bool		gate_off;		/* they cannot be any more (http_conn.c) */
	uint64		wire_bytes;		/* bytes of the requests before, as libmicrohttpd read them */
	bool		peer_closed;	/* the client closed or half-closed (FIN) */
	bool		refused;		/* answered and closed before libmicrohttpd read it */
	bool		over_limit;		/* beyond esqase.http_max_connections_per_ip: refused */
	bool		tls;
	uint64		accepted_run;	/* the worker's run that accepted it (make_room) */
	struct sockaddr_storage peer;
	socklen_t	peerlen;
	char		path[257];		/* the current request's path, for its log line (esq_conn_note_path) */
} EsqConn;

/* The connection's EsqConn (socket context), or NULL. */
extern EsqConn *esq_conn_state(struct MHD_Connection *conn);

/* Closes a connection: libmicrohttpd sees the shutdown on its next run. */
extern void esq_conn_kill(EsqConn *c);

/* This worker's share of a limit that holds for all the workers together. */
extern int	esq_conn_worker_share(int limit);

/*
 * The path of a request line libmicrohttpd has just read (its unescape
 * callback), for the log line of a request that never reaches the access
 * handler (esq_conn_mhd_refusing).
 */
extern void esq_conn_note_path(struct MHD_Connection *conn, const char *path);

/*
 * Called from libmicrohttpd's logger: the request it is refusing itself
 * with a double answer, if any, gets esqase's one answer instead.
 */
extern void esq_conn_mhd_refusing(void);

/* libmicrohttpd callback: MHD_OPTION_NOTIFY_CONNECTION. */
extern void esq_conn_notify(void *cls, struct MHD_Connection *conn,
							void **socket_context,
							enum MHD_ConnectionNotificationCode toe);

/*
 * A request's headers are in / the whole request is in / its answer is
 * held for the WAL flush (never closed for a limit or deadline then) / its
 * answer is queued (it has esqase.http_request_timeout from now to be
 * sent) / it is over (answer sent or connection closed).
 */
extern void esq_conn_headers_in(struct MHD_Connection *conn);
extern void esq_conn_request_in(struct MHD_Connection *conn);
extern void esq_conn_held(struct MHD_Connection *conn);
extern void esq_conn_answered(struct MHD_Connection *conn);
extern void esq_conn_request_done(struct MHD_Connection *conn, bool started,
								  size_t body_bytes);
/* Whether the connection was refused before libmicrohttpd read it. */
extern bool esq_conn_refused(struct MHD_Connection *conn);

/* Beyond esqase.http_max_connections_per_ip: answered 503 with this, then closed. */
extern bool esq_conn_over_limit(struct MHD_Connection *conn);
#define ESQ_OVER_LIMIT_MESSAGE \
	"too many connections from this client address (esqase.http_max_connections_per_ip); retry later"

/*
 * The watch on the connections' sockets (an epoll fd the worker waits on
 * too): a client's FIN, and the first bytes of a plain-HTTP connection
 * before libmicrohttpd reads them.  Started with the daemons.
 */
extern void esq_conn_watch_start(void);
extern void esq_conn_watch_stop(void);
extern int	esq_conn_watch_fd(void);
/* Before libmicrohttpd runs: the first bytes; after: connections the client left. */
extern void esq_conn_before_run(void);
extern void esq_conn_after_run(void);

/* Whether any connection is open; whether one closed since the last reset. */
extern bool esq_conn_any(void);
extern bool esq_conn_soon(void);
extern bool esq_conn_closed_since_reset(void);
extern void esq_conn_reset_closed(void);

/* Once a second: closes the connections past their deadlines. */
extern void esq_conn_sweep(void);
extern void esq_conn_sweep_start(void);

/* ------------------------------------------------------------------------
 * http_framing.c: the request as it arrives
 * ------------------------------------------------------------------------
 */
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
	bool		queued;			/* its answer is queued (esq_guard: no 500 then) */
	struct EsqHeld *held;		/* its answer, held for the WAL flush (http_durable.c) */
} EsqReq;

/*
 * What the first call of the access handler (headers in, no body yet) must
 * answer at once, and then close the connection: status 0 if nothing.
 */
typedef struct EsqEarlyAnswer
{
	int			status;
	const char *code;
	char		message[192];
} EsqEarlyAnswer;

/*
 * Whether the first bytes of a plain-HTTP connection, before libmicrohttpd
 * reads them, can start a request (false: a TLS ClientHello...); method
 * and path for the log line of the connection's refusal.
 */
extern bool esq_framing_first_bytes(const char *buf, size_t len,
									char *method, size_t method_size,
									char *path, size_t path_size);

/*
 * The answer to a request libmicrohttpd refuses as it parses its headers
 * (esq_conn_mhd_refusing): 400 or 413 for its Content-Length.
 */
extern void esq_framing_mhd_refusal(struct MHD_Connection *conn, EsqEarlyAnswer *early);

/* The framing checks of the first call (and the 413 to Expect: 100-continue). */
extern void esq_framing_first_call(struct MHD_Connection *conn, const char *method,
								   const char *version, EsqReq *r, EsqEarlyAnswer *early);

/* Appends a body chunk, or only counts it once the limit is passed. */
extern bool esq_framing_append_body(EsqReq *r, const char *data, size_t size);

/* The query arguments, in the request memory context. */
extern void esq_framing_args(struct MHD_Connection *conn, EsqQueryArg **args, int *nargs);

/* MHD_OPTION_UNESCAPE_CALLBACK: %HH decoding that leaves %00 alone. */
extern size_t esq_framing_unescape(void *cls, struct MHD_Connection *conn, char *s);

/* ------------------------------------------------------------------------
 * http_durable.c: answers held for the WAL flush
 * ------------------------------------------------------------------------
 */
typedef struct EsqHeld EsqHeld;

/* Whether resp may be sent now: no LSN to wait for, or WAL flushed past it. */
extern bool esq_durable_may_answer(const EsqHttpResponse *resp);

/*
 * Keeps a copy of resp and suspends conn until the round's flush; NULL if
 * out of memory (then esq_durable_flush_now, and answer at once).
 */
extern EsqHeld *esq_durable_hold(struct MHD_Connection *conn, const EsqHttpResponse *resp);
extern void esq_durable_flush_now(const EsqHttpResponse *resp);

/* Once resumed: the answer to queue (a 500 if the flush failed); then release it. */
extern const EsqHttpResponse *esq_durable_held_answer(EsqHeld *h);
extern void esq_durable_release(EsqHeld *h);

/*
 * After each run of the daemons: one XLogFlush for every answer held in it,
 * then their connections resumed.  True if any was.
 */
extern bool esq_durable_run(void);

/* ------------------------------------------------------------------------
 * http_log.c: request id and request log
 * ------------------------------------------------------------------------
 */
/* The X-Request-Id of a request: the client's if sane, else a random one. */
extern void esq_log_set_request_id(struct MHD_Connection *conn, EsqReq *r);

/* The log line of one answered request. */
extern void esq_log_request(struct MHD_Connection *conn, const char *method,
							const char *url, EsqReq *r, int status, size_t bytes);
/* The same for a request answered before libmicrohttpd read it. */
extern void esq_log_line(const EsqConn *c, const char *method, const char *url,
						 const char *authorization, const char *request_id,
						 int64 start_us, int status, size_t bytes);
/* A fresh random request id (2 * 16 hex digits and a NUL). */
extern void esq_log_new_request_id(char *id);
/* Once a second: the summary of the unauthenticated requests not logged one by one. */
extern void esq_log_flush_summary(bool force);
extern long esq_log_summary_wait_ms(void);
/* the buffered lines, to the server log or the access-log file (esqase.http_access_log) */
extern void esq_log_access_flush(void);
extern long esq_log_access_wait_ms(void);
extern void esq_log_access_tick(void);

/* ------------------------------------------------------------------------
 * http_server.c: answers outside libmicrohttpd
 * ------------------------------------------------------------------------
 */
/*
 * Answers a connection with early outside libmicrohttpd, on the socket (or
 * its TLS session) itself, then closes it for writing (c->refused) so that
 * nothing libmicrohttpd sends after it reaches the client.
 */
extern void esq_http_answer_refused(EsqConn *c, const EsqEarlyAnswer *early,
									const char *method, const char *path);

#endif							/* ESQ_HTTP_SERVER_H */
