/*
 * http_listen.c — the listening sockets of the HTTP API, opened once by the
 * postmaster (esq_http_listen, from the shared-memory startup hook).
 *
 * No SO_REUSEPORT: no other process can bind the port while the server
 * runs, and a port already in use leaves the HTTP API off instead of
 * sharing it.  The workers inherit the sockets through fork() (static
 * memory is copied by fork, and so is this file's array) and each runs one
 * libmicrohttpd daemon per socket (http_server.c), so all of them accept
 * from the same queue: a worker busy with a request is not in accept(), and
 * the free workers take the new connections.
 *
 * This is the only code of the HTTP API that runs in the postmaster.
 */
#include "postgres.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>
#include <sys/socket.h>

#include "http_server.h"

static EsqListener listeners[ESQ_MAX_DAEMONS];
static int	nlisteners = 0;
static bool listen_tried = false;

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
	if (nlisteners >= ESQ_MAX_DAEMONS || already_bound(addr, addrlen))
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

const EsqListener *
esq_http_listener(int i)
{
	return &listeners[i];
}
