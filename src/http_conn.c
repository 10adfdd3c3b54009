/*
 * http_conn.c — the connections of this worker: which are admitted, how
 * many each worker holds, and how long each may take.
 *
 * Bounded resources:
 *   - connections: esqase.http_max_connections for all workers, each
 *     holding its share; when a worker's last slot is taken it closes one
 *     connection (make_room): a client that left, else an unfinished first
 *     request, else the slowest body, else the longest idle keep-alive
 *     (victim_rank), so idle and unfinished connections cannot hold the
 *     slots; a new connection not yet read, and one whose answer is queued
 *     or held for the WAL flush (http_durable.c), is never the one closed;
 *   - esqase.http_max_connections_per_ip from one client address other than
 *     127.0.0.1/::1 (over_address_limit), each worker enforcing its share:
 *     a connection beyond it gets a 503 if its request is in, and is closed;
 *   - idle connections: esqase.http_idle_timeout (libmicrohttpd's timer,
 *     which any received byte resets);
 *   - slow clients: deadlines checked once a second (esq_conn_sweep) and
 *     enforced by shutdown() of the socket so libmicrohttpd closes it on
 *     its next run: a new connection's headers within
 *     esqase.http_header_timeout, a body within esqase.http_body_timeout of
 *     its headers, and each request within esqase.http_request_timeout of
 *     the connection's start or the end of its previous request (a client
 *     trickling one byte at a time cannot hold a connection), its answer
 *     within esqase.http_request_timeout of being queued.  An answer held
 *     for the WAL flush is under no deadline: it is sent after the round's
 *     flush;
 *   - clients that leave: a FIN (close or half-close) in the middle of a
 *     request closes the connection at once (esq_conn_after_run).
 *     libmicrohttpd 0.9.75 with epoll stops reading a socket after a short
 *     read and so misses a FIN that came with the last bytes; the watch
 *     (an epoll set of our own, EPOLLRDHUP) sees it.  A client that
 *     half-closes after a whole request still gets its answer.
 *
 * The same watch looks at the first bytes of each request on a plain-HTTP
 * connection before libmicrohttpd reads them (gate_first_bytes): bytes
 * that cannot start a request (a TLS ClientHello on the plain port) close
 * the connection at once.  It looks only where it knows that the socket's
 * queue starts with a request: libmicrohttpd has read exactly the header
 * sections and bodies of the requests before (wire_bytes).  A chunked body
 * (whose size on the wire is not counted), an empty line between requests
 * or pipelining (the next request read with the last one) end the looking
 * for that connection: what the gate does not see, libmicrohttpd and the
 * first call's checks handle as before.
 *
 * A request that libmicrohttpd refuses itself with two status lines (an
 * unreadable Content-Length) gets one JSON answer instead, on any
 * connection, HTTPS too: esq_conn_mhd_refusing, from libmicrohttpd's
 * logger.
 */
#include "postgres.h"

#include <errno.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <linux/sockios.h>
#include <linux/tcp.h>

#include "http_server.h"

static EsqConn *conns = NULL;
static int64 last_sweep = 0;
static bool closed_in_run = false;	/* a connection closed during MHD_run */
static int	watch_fd = -1;		/* epoll: EPOLLRDHUP; EPOLLIN while a request's start is unseen */
static int	npeer_closed = 0;	/* connections with peer_closed set */
static int	nconns = 0;			/* connections in conns, closing ones too */
static int	nover = 0;			/* ... of them over_limit */
static uint64 nruns = 0;		/* runs of the worker's loop (esq_conn_before_run) */

/* Linux's TCP states after the peer's FIN (include/net/tcp_states.h). */
#define ESQ_TCP_CLOSE_WAIT 8
#define ESQ_TCP_LAST_ACK 9
#define ESQ_TCP_CLOSING 11

/* How much of a connection's first bytes the gate looks at. */
#define ESQ_GATE_PEEK 8192

EsqConn *
esq_conn_state(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *info;

	info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return info ? (EsqConn *) info->socket_context : NULL;
}

void
esq_conn_kill(EsqConn *c)
{
	if (c->killed || c->fd < 0)
		return;
	shutdown(c->fd, SHUT_RDWR);
	c->killed = true;
}

/*
 * This worker's share of a limit that holds for all the workers together:
 * they accept from one queue, so the shares add up to the limit and a
 * worker with a free slot takes the next connection.
 */
int
esq_conn_worker_share(int limit)
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
 * How a connection ranks as the one to close for a slot (make_room): the
 * lowest rank goes first, and within a rank the one that has held its slot
 * longest since its last progress.  -1: never closed for a slot.
 *
 * Never: an answered or complete request (its answer is on the way), and a
 * new connection libmicrohttpd has not had the chance to read yet.  It
 * accepts at the start of its run and reads the connections accepted
 * before later in the run, so a connection accepted in this run or the
 * one before is unread through no fault of its client.  Closing such
 * connections is what dropped a normal client's requests under a flood of
 * new connections (each new one closed the one before it, whose request
 * was waiting in the socket).  And one accepted within ESQ_CONN_GRACE_MS
 * (*young) gets time for its request's first bytes to arrive, as long as
 * such connections hold at most half the slots (make_room): a flood of
 * silent connections cannot stop the worker accepting.
 *
 * Then: a client that has left (0); a first request not begun or whose
 * headers are unfinished, silent or trickling (1); a body in progress,
 * the slowest first (2); and last an idle keep-alive connection (3),
 * whose client has had every request answered and may send the next one
 * at any moment.
 */
#define ESQ_CONN_GRACE_MS 100

static int
victim_rank(const EsqConn *c, int64 now, int64 *since, bool *young)
{
	*young = false;
	if (c->killed || c->answered || c->complete)
		return -1;
	*since = c->window_start;
	if (c->peer_closed || c->refused || c->over_limit)
		return 0;
	if (c->headers_at != 0)
	{
		*since = c->headers_at;
		return 2;
	}
	if (c->requests > 0)
		return 3;
	if (c->accepted_run + 1 >= nruns)
		return -1;
	*young = now - c->window_start < ESQ_CONN_GRACE_MS;
	return 1;
}

/*
 * A connection took a slot (or a run ended with every slot taken): if this
 * worker has no free slot left, close the connection that ranks first
 * (victim_rank), so that the next client finds a slot at once.  Idle and
 * unfinished connections cost an attacker nothing to open; without this a
 * flood of them holds every slot until they time out.  If none may be
 * closed, libmicrohttpd stops accepting until one closes or ranks (new
 * connections wait in the listen queue, served by the other workers), and
 * esq_conn_after_run tries again.
 */
static void
make_room(void)
{
	EsqConn    *c;
	EsqConn    *victim[2] = {NULL, NULL};	/* [0] young ones left out, [1] not */
	int			victim_r[2] = {0, 0};
	int64		victim_since[2] = {0, 0};
	int64		now = esq_now_ms();
	int			live = 0;
	int			nyoung = 0;
	int			share = esq_conn_worker_share(esq_http_max_connections);

	for (c = conns; c; c = c->next)
	{
		int			r;
		int64		since;
		bool		young;

		if (c->killed)
			continue;
		live++;
		r = victim_rank(c, now, &since, &young);
		if (r < 0)
			continue;
		nyoung += young;
		for (int i = young ? 1 : 0; i < 2; i++)
			if (victim[i] == NULL || r < victim_r[i] ||
				(r == victim_r[i] && since < victim_since[i]))
			{
				victim[i] = c;
				victim_r[i] = r;
				victim_since[i] = since;
			}
	}
	if (live < share)
		return;
	c = victim[nyoung > share / 2 ? 1 : 0];
	if (c)
		esq_conn_kill(c);
}

/*
 * esqase.http_max_connections_per_ip, checked as a connection starts: from
 * an address other than 127.0.0.1/::1 that already has this worker's share,
 * the connection is refused (over_limit).  On plain HTTP it gets a 503
 * saying so once its first bytes are in (at once, or when the watch sees
 * them: gate_first_bytes), its bytes read first, so that the close sends a
 * FIN and not a reset that could overtake the answer.  Over HTTPS, or if
 * nothing comes within ESQ_OVER_LIMIT_WAIT_MS (esq_conn_after_run), it is
 * closed without a word, having asked nothing.  Meanwhile it is the first one closed for a
 * slot and counts for no address.
 */
#define ESQ_OVER_LIMIT_WAIT_MS 250

static bool
over_address_limit(const EsqConn *c)
{
	EsqConn    *o;
	int			n = 0;
	int			share;

	if (esq_http_max_connections_per_ip <= 0 || c->peerlen == 0 ||
		is_local_peer((const struct sockaddr *) &c->peer))
		return false;
	share = esq_conn_worker_share(esq_http_max_connections_per_ip);
	for (o = conns; o; o = o->next)
		if (o != c && !o->killed && !o->over_limit && same_host((const struct sockaddr *) &c->peer, &o->peer) &&
			++n >= share)
			return true;
	return false;
}

static bool
refuse_over_limit(EsqConn *c)
{
	char		buf[ESQ_GATE_PEEK];
	ssize_t		n = -1;
	ssize_t		more;
	EsqEarlyAnswer early;
	char		method[33] = "";
	char		path[257] = "";

	early.status = 503;
	early.code = "service_unavailable";
	strlcpy(early.message, ESQ_OVER_LIMIT_MESSAGE, sizeof(early.message));

	if (!c->gated)
	{
		n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return false;		/* the watch tells when they come */
		for (more = n; more == (ssize_t) sizeof(buf);)
		{
			char		rest[ESQ_GATE_PEEK];

			more = recv(c->fd, rest, sizeof(rest), MSG_DONTWAIT);
		}
	}
	if (n > 0 && esq_framing_first_bytes(buf, (size_t) n, method, sizeof(method),
										 path, sizeof(path)))
		esq_http_answer_refused(c, &early, method, path);
	c->refused = true;
	esq_conn_kill(c);
	return true;
}

/* A new connection: tracked for the limits and deadlines. */
static void
conn_started(struct MHD_Connection *conn, void **socket_context)
{
	EsqConn    *c = calloc(1, sizeof(EsqConn));
	const union MHD_ConnectionInfo *info;

	*socket_context = c;
	if (c == NULL)
		return;
	c->mhd = conn;
	info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	c->fd = info ? info->connect_fd : -1;
	info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (info && info->client_addr)
	{
		c->peerlen = info->client_addr->sa_family == AF_INET6 ?
			sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
		memcpy(&c->peer, info->client_addr, c->peerlen);
	}
	c->window_start = esq_now_ms();
	/* HTTPS: the first bytes are TLS records; the fd unknown: no watch */
	c->tls = esq_tls_enabled();
	c->gate_off = c->tls || c->fd < 0;
	c->gated = c->gate_off;
	if (watch_fd >= 0 && c->fd >= 0)
	{
		struct epoll_event ev;

		ev.events = EPOLLRDHUP | EPOLLET | (c->gated ? 0 : EPOLLIN);
		ev.data.ptr = c;
		if (epoll_ctl(watch_fd, EPOLL_CTL_ADD, c->fd, &ev) != 0)
			c->gated = true;
	}
	c->next = conns;
	if (conns)
		conns->prev = c;
	conns = c;
	c->accepted_run = nruns;
	nconns++;
	MHD_set_connection_option(conn, MHD_CONNECTION_OPTION_TIMEOUT,
							  (unsigned int) esq_http_idle_timeout);
	if (over_address_limit(c))
	{
		c->over_limit = true;
		nover++;
		if (refuse_over_limit(c))
			return;
	}
	make_room();
}

/* Tracks connections for the limits and the request deadline. */
void
esq_conn_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
				enum MHD_ConnectionNotificationCode toe)
{
	if (toe == MHD_CONNECTION_NOTIFY_STARTED)
		conn_started(conn, socket_context);
	else if (toe == MHD_CONNECTION_NOTIFY_CLOSED)
	{
		EsqConn    *c = *socket_context;

		closed_in_run = true;
		if (c == NULL)
			return;
		/* before libmicrohttpd closes the fd, whose number a new connection may take */
		if (watch_fd >= 0 && c->fd >= 0)
			(void) epoll_ctl(watch_fd, EPOLL_CTL_DEL, c->fd, NULL);
		if (c->peer_closed)
			npeer_closed--;
		nconns--;
		if (c->over_limit)
			nover--;
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

void
esq_conn_note_path(struct MHD_Connection *conn, const char *path)
{
	EsqConn    *c = esq_conn_state(conn);

	if (c)
		strlcpy(c->path, path, sizeof(c->path));
}

/*
 * libmicrohttpd 0.9.75 refuses a request whose Content-Length it cannot
 * read (http_framing.c, esq_framing_mhd_refusal) as it parses the header
 * section (parse_connection_headers), and then sends its answer's status
 * line and headers twice: the function that queues its answer leaves the
 * connection ready to send, and its caller moves it back a state, so the
 * answer is built a second time.  The access handler is never called for
 * such a request; the logger is, before the answer is queued ("Failed to
 * parse `Content-Length' header"), and the logger (http_server.c) calls
 * this.  The request is that of the one connection whose header section
 * libmicrohttpd has parsed (MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE) but
 * that has no answer queued (MHD_CONNECTION_INFO_HTTP_STATUS) and has not
 * reached the access handler (headers_at): any other connection goes from
 * its parsed header section to the access handler, or to an answer, in
 * the same step of libmicrohttpd's state machine.  It gets esqase's one
 * answer, on the socket or its TLS session (libmicrohttpd sends every
 * earlier answer on a connection in full before it parses the next
 * request), which is then shut for writing: libmicrohttpd's own answer
 * fails to send and it closes the connection.  Over HTTPS, pipelined or
 * not, whatever came before on the connection.
 */
void
esq_conn_mhd_refusing(void)
{
	for (EsqConn *c = conns; c; c = c->next)
	{
		EsqEarlyAnswer early;

		if (c->killed || c->refused || c->headers_at != 0 ||
			MHD_get_connection_info(c->mhd, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE) == NULL ||
			MHD_get_connection_info(c->mhd, MHD_CONNECTION_INFO_HTTP_STATUS) != NULL)
			continue;
		esq_framing_mhd_refusal(c->mhd, &early);
		esq_http_answer_refused(c, &early, "-", c->path);
	}
}

/* Whether the watch follows the EPOLLIN of c (gate_first_bytes). */
static void
watch_input(EsqConn *c, bool on)
{
	struct epoll_event ev;

	ev.events = EPOLLRDHUP | EPOLLET | (on ? EPOLLIN : 0);
	ev.data.ptr = c;
	if (watch_fd >= 0 && c->fd >= 0)
		(void) epoll_ctl(watch_fd, EPOLL_CTL_MOD, c->fd, &ev);
}

/* The headers are in: their bytes are counted; a chunked body ends the gate. */
void
esq_conn_headers_in(struct MHD_Connection *conn)
{
	EsqConn    *c = esq_conn_state(conn);
	const union MHD_ConnectionInfo *info;

	if (c == NULL)
		return;
	c->headers_at = esq_now_ms();
	c->answered = false;
	c->held = false;
	if (!c->gated)
	{
		/* libmicrohttpd read it before the gate saw it */
		c->gated = c->gate_off = true;
		watch_input(c, false);
	}
	info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
	if (info == NULL ||
		MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
									MHD_HTTP_HEADER_TRANSFER_ENCODING) != NULL)
		c->gate_off = true;
	else
		c->wire_bytes += info->header_size;
}

void
esq_conn_request_in(struct MHD_Connection *conn)
{
	EsqConn    *c = esq_conn_state(conn);

	if (c)
		c->complete = true;
}

bool
esq_conn_refused(struct MHD_Connection *conn)
{
	EsqConn    *c = esq_conn_state(conn);

	return c && c->refused;
}

bool
esq_conn_over_limit(struct MHD_Connection *conn)
{
	EsqConn    *c = esq_conn_state(conn);

	return c && c->over_limit;
}

/*
 * The answer is held until the WAL is flushed (http_durable.c): the
 * request is complete and answered, only not sent yet.  Neither make_room
 * nor a deadline closes the connection then; a write it answers is
 * committed, and closing would tell its client nothing true.
 */
void
esq_conn_held(struct MHD_Connection *conn)
{
	EsqConn    *c = esq_conn_state(conn);

	if (c)
	{
		c->answered = true;
		c->held = true;
	}
}

/*
 * The answer is queued: sending it gets a deadline window of its own, so
 * that a request whose SQL took long is not closed before its answer goes
 * out (a client that does not read it is still closed in time).
 */
void
esq_conn_answered(struct MHD_Connection *conn)
{
	EsqConn    *c = esq_conn_state(conn);

	if (c)
	{
		c->answered = true;
		c->held = false;
		c->window_start = esq_now_ms();
	}
}

/*
 * Restarts the connection's deadline window; counts the body's bytes, and
 * looks out for the next request's first bytes.
 */
void
esq_conn_request_done(struct MHD_Connection *conn, bool started, size_t body_bytes)
{
	EsqConn    *c = esq_conn_state(conn);

	if (c == NULL)
		return;
	c->window_start = esq_now_ms();
	c->headers_at = 0;
	c->answered = false;
	c->held = false;
	c->complete = false;
	c->requests++;
	c->path[0] = '\0';
	c->wire_bytes += body_bytes;
	if (!started)
		c->gate_off = true;
	if (!c->gate_off && !c->killed)
	{
		c->gated = false;
		watch_input(c, true);
	}
}

bool
esq_conn_any(void)
{
	return conns != NULL;
}

/*
 * Whether the loop must look again soon (esq_conn_after_run): every slot of
 * this worker is taken (one of the newest connections may be closed for a
 * slot once its grace is over), or a refused connection waits for its
 * first bytes.
 */
bool
esq_conn_soon(void)
{
	return nover > 0 || nconns >= esq_conn_worker_share(esq_http_max_connections);
}

bool
esq_conn_closed_since_reset(void)
{
	return closed_in_run;
}

void
esq_conn_reset_closed(void)
{
	closed_in_run = false;
}

void
esq_conn_sweep_start(void)
{
	last_sweep = esq_now_ms();
}

void
esq_conn_sweep(void)
{
	int64		now = esq_now_ms();
	EsqConn    *c;
	int64		request_limit = (int64) esq_http_request_timeout * 1000;
	int64		header_limit = (int64) esq_http_header_timeout * 1000;
	int64		body_limit = (int64) esq_http_body_timeout * 1000;

	if (now - last_sweep < 1000)
		return;
	last_sweep = now;
	for (c = conns; c; c = c->next)
	{
		if (c->held)
			continue;			/* an answer waiting for the WAL flush */
		if (now - c->window_start > request_limit)
			esq_conn_kill(c);
		/* a new connection's first request line and headers */
		else if (c->requests == 0 && c->headers_at == 0 &&
				 now - c->window_start > header_limit)
			esq_conn_kill(c);
		/* the body, once the headers are in */
		else if (c->headers_at != 0 && !c->answered &&
				 now - c->headers_at > body_limit)
			esq_conn_kill(c);
	}
}

void
esq_conn_watch_start(void)
{
	watch_fd = epoll_create1(EPOLL_CLOEXEC);
	if (watch_fd < 0)
		ereport(WARNING,
				(errmsg("esqase: could not create an epoll set: %m"),
				 errdetail("Clients that close mid-request are then closed only by the timeouts.")));
}

void
esq_conn_watch_stop(void)
{
	if (watch_fd >= 0)
		close(watch_fd);
	watch_fd = -1;
}

int
esq_conn_watch_fd(void)
{
	return watch_fd;
}

/*
 * Whether libmicrohttpd has read exactly read_bytes of the connection: all
 * bytes received (a FIN counts one) but those still in the socket's queue.
 * Bytes that arrive between the two calls make it answer false: the gate
 * then lets the request through unseen, never misreads it.
 */
static bool
read_exactly(int fd, uint64 read_bytes)
{
	int			inq;
	struct tcp_info ti;
	socklen_t	len = sizeof(ti);
	uint64		fin;

	if (ioctl(fd, SIOCINQ, &inq) != 0 ||
		getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0 ||
		len < offsetof(struct tcp_info, tcpi_bytes_received) + sizeof(ti.tcpi_bytes_received))
		return false;
	fin = (ti.tcpi_state == ESQ_TCP_CLOSE_WAIT || ti.tcpi_state == ESQ_TCP_LAST_ACK ||
		   ti.tcpi_state == ESQ_TCP_CLOSING) ? 1 : 0;
	return ti.tcpi_bytes_received == (uint64) inq + fin + read_bytes;
}

/*
 * The first bytes of a request on a plain-HTTP connection, before
 * libmicrohttpd reads them (the worker runs this before each MHD_run;
 * libmicrohttpd reads a new connection only on a later run than the one
 * that accepted it, and reads a socket only on an epoll event that the
 * watch sees too).
 */
static void
gate_first_bytes(EsqConn *c)
{
	char		buf[ESQ_GATE_PEEK];
	ssize_t		n;
	char		method[33];
	char		path[257];

	if (c->over_limit)
	{
		if (refuse_over_limit(c))
			c->gated = true;
		return;
	}
	if (!read_exactly(c->fd, c->wire_bytes))
	{
		c->gate_off = true;		/* pipelining, an empty line, a race: stop looking */
		n = -1;
	}
	else
	{
		n = recv(c->fd, buf, sizeof(buf), MSG_PEEK | MSG_DONTWAIT);
		if (n == 0 || (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)))
			return;				/* nothing yet: wait for the next EPOLLIN */
	}
	c->gated = true;
	watch_input(c, false);
	if (n > 0 && !esq_framing_first_bytes(buf, (size_t) n, method, sizeof(method),
										  path, sizeof(path)))
	{
		c->refused = true;
		esq_conn_kill(c);
	}
}

void
esq_conn_before_run(void)
{
	struct epoll_event events[64];
	int			n;

	nruns++;
	if (watch_fd < 0)
		return;
	do
	{
		n = epoll_wait(watch_fd, events, lengthof(events), 0);
		for (int i = 0; i < n; i++)
		{
			EsqConn    *c = events[i].data.ptr;

			if ((events[i].events & (EPOLLRDHUP | EPOLLHUP)) && !c->peer_closed)
			{
				c->peer_closed = true;
				npeer_closed++;
			}
			if (!c->gated && !c->killed)
				gate_first_bytes(c);
		}
	} while (n == lengthof(events));
}

/*
 * Closes the connections whose client sent its FIN in the middle of a
 * request (or between requests): that request can never be complete.  A
 * whole request still gets its answer (complete, or answered: sending),
 * and so do requests still queued unread behind it (pipelining).  With
 * HTTPS, GnuTLS may hold such requests where the socket's queue does not
 * show them: there only a request whose body has started is cut short.
 */
void
esq_conn_after_run(void)
{
	/* every slot taken and none could be freed as the last one was: try again */
	if (nconns >= esq_conn_worker_share(esq_http_max_connections))
		make_room();
	/* refused connections that sent nothing to answer */
	if (nover > 0)
	{
		int64		now = esq_now_ms();

		for (EsqConn *c = conns; c; c = c->next)
			if (c->over_limit && now - c->window_start > ESQ_OVER_LIMIT_WAIT_MS)
				esq_conn_kill(c);
	}
	if (npeer_closed == 0)
		return;
	for (EsqConn *c = conns; c; c = c->next)
	{
		int			inq = 0;

		if (!c->peer_closed || c->killed || c->complete || c->answered)
			continue;
		if (c->tls && c->headers_at == 0)
			continue;
		if (ioctl(c->fd, SIOCINQ, &inq) == 0 && inq == 0)
			esq_conn_kill(c);
	}
}
