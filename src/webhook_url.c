/*
 * webhook_url.c — where a webhook may post: the SSRF check of its url.
 *
 * At create and PATCH (esqase.webhook_url_problem) the url is parsed and
 * its host resolved: every address must be allowed.  At every attempt the
 * delivery worker (webhook_worker.c) parses it again and lets libcurl
 * resolve the host (its own asynchronous resolver, never blocking the
 * worker), and checks the very address of each socket libcurl opens
 * (esq_webhook_address_forbidden, from CURLOPT_OPENSOCKETFUNCTION): a
 * forbidden one gets no socket, so a DNS answer that changes after the
 * create (rebinding) cannot reach a private address, and the connection
 * cannot go anywhere but the address checked.
 *
 * Refused unless esqase.webhook_allow_private (a superuser setting): any
 * scheme but https; any address that is unspecified, loopback, private
 * (RFC 1918, IPv6 ULA), shared (CGNAT 100.64/10), link-local
 * (169.254/16 with the cloud metadata address, fe80::/10), multicast,
 * reserved or benchmark space, and IPv4 addresses written inside IPv6
 * (mapped, NAT64) when the IPv4 address is one of those.
 */
#include "postgres.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <curl/curl.h>

#include "fmgr.h"
#include "utils/builtins.h"

#include "esqase.h"

bool		esq_webhook_allow_private = false;

/* Whether an IPv4 address (network order bytes) is one a webhook may not reach. */
static bool
ipv4_forbidden(const unsigned char *a)
{
	return a[0] == 0 ||							/* 0.0.0.0/8 */
		a[0] == 10 ||							/* 10/8 */
		(a[0] == 100 && (a[1] & 0xc0) == 64) ||	/* 100.64/10, CGNAT */
		a[0] == 127 ||							/* loopback */
		(a[0] == 169 && a[1] == 254) ||			/* link-local, metadata */
		(a[0] == 172 && (a[1] & 0xf0) == 16) ||	/* 172.16/12 */
		(a[0] == 192 && a[1] == 0 && a[2] == 0) ||	/* 192.0.0/24 */
		(a[0] == 192 && a[1] == 168) ||			/* 192.168/16 */
		(a[0] == 198 && (a[1] & 0xfe) == 18) ||	/* 198.18/15 */
		a[0] >= 224;							/* multicast, reserved, broadcast */
}

static bool
ipv6_forbidden(const unsigned char *a)
{
	static const unsigned char zero[16] = {0};
	static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	static const unsigned char nat64[12] = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};

	if (memcmp(a, zero, 15) == 0 && (a[15] == 0 || a[15] == 1))
		return true;							/* unspecified, loopback */
	if (memcmp(a, mapped, 12) == 0 || memcmp(a, nat64, 12) == 0 || memcmp(a, zero, 12) == 0)
		return ipv4_forbidden(a + 12);			/* an IPv4 address inside */
	return (a[0] & 0xfe) == 0xfc ||				/* fc00::/7, unique local */
		(a[0] == 0xfe && (a[1] & 0xc0) == 0x80) ||	/* fe80::/10, link-local */
		(a[0] == 0xfe && (a[1] & 0xc0) == 0xc0) ||	/* fec0::/10, site-local */
		a[0] == 0xff;							/* multicast */
}

/* Resolves host (an IPv6 literal in brackets too): a problem, or NULL with *res. */
static const char *
resolve_host(const char *host, struct addrinfo **res)
{
	size_t		n = strlen(host);
	char	   *name = pstrdup(host);
	struct addrinfo hints;

	if (n > 2 && name[0] == '[' && name[n - 1] == ']')
	{
		memmove(name, name + 1, n - 2);
		name[n - 2] = '\0';
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(name, NULL, &hints, res) != 0 || *res == NULL)
		return psprintf("the host %s cannot be resolved", name);
	return NULL;
}

/*
 * Whether a socket address is one no webhook may reach (unless
 * esqase.webhook_allow_private is on, the caller's business); its text in
 * text (INET6_ADDRSTRLEN bytes), "" if it is neither IPv4 nor IPv6 (then
 * forbidden too).
 */
bool
esq_webhook_address_forbidden(const struct sockaddr *sa, char *text)
{
	text[0] = '\0';
	if (sa->sa_family == AF_INET)
	{
		const struct in_addr *a = &((const struct sockaddr_in *) sa)->sin_addr;

		inet_ntop(AF_INET, a, text, INET6_ADDRSTRLEN);
		return ipv4_forbidden((const unsigned char *) a);
	}
	if (sa->sa_family == AF_INET6)
	{
		const struct in6_addr *a = &((const struct sockaddr_in6 *) sa)->sin6_addr;

		inet_ntop(AF_INET6, a, text, INET6_ADDRSTRLEN);
		return ipv6_forbidden((const unsigned char *) a);
	}
	return true;
}

/*
 * The first address of res, as text, in first; the first that no webhook
 * may reach (private, loopback, link-local, reserved) in bad, or "".
 */
static void
classify_addresses(const struct addrinfo *res, char *first, char *bad)
{
	for (const struct addrinfo *ai = res; ai; ai = ai->ai_next)
	{
		char		text[INET6_ADDRSTRLEN];
		bool		forbidden;

		if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
			continue;
		forbidden = esq_webhook_address_forbidden(ai->ai_addr, text);
		if (forbidden && bad[0] == '\0')
			strlcpy(bad, text, INET6_ADDRSTRLEN);
		if (first[0] == '\0')
			strlcpy(first, text, INET6_ADDRSTRLEN);
	}
}

/*
 * The refusal of a forbidden address.  A name is refused by its name: which
 * of its addresses comes first (localhost: 127.0.0.1 or ::1) is the
 * resolver's choice, and differs between machines.
 */
const char *
esq_webhook_address_problem(const char *host, const char *bad)
{
	size_t		n = strlen(host);
	bool		literal = strcmp(host, bad) == 0 ||
		(n > 2 && host[0] == '[' && strlen(bad) == n - 2 && strncmp(host + 1, bad, n - 2) == 0);

	if (literal)
		return psprintf("the host's address %s is private, loopback, link-local or reserved", bad);
	return psprintf("the host %s resolves to an address that is private, loopback, link-local or reserved",
					host);
}

/*
 * The problem with url's form as a webhook's target (not a valid http(s)
 * URL; not https unless esqase.webhook_allow_private), or NULL; then, if
 * host is not NULL, *host is its host (palloc'd; an IPv6 literal in
 * brackets).
 */
const char *
esq_webhook_url_parse(const char *url, char **host)
{
	CURLU	   *u = curl_url();
	char	   *scheme = NULL;
	char	   *h = NULL;
	const char *problem = NULL;

	if (u == NULL)
		elog(ERROR, "out of memory");
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
		curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
		curl_url_get(u, CURLUPART_HOST, &h, 0) != CURLUE_OK)
		problem = "not a valid http(s) URL";
	else if (strcmp(scheme, "https") != 0 &&
			 !(strcmp(scheme, "http") == 0 && esq_webhook_allow_private))
		problem = "must be an https URL";
	else if (host)
		*host = pstrdup(h);
	curl_free(scheme);
	curl_free(h);
	curl_url_cleanup(u);
	return problem;
}

/*
 * The problem with url as a webhook's target, or NULL: its form, then
 * every address its host resolves to (a blocking lookup: where a webhook
 * is made or changed, not in the worker).
 */
static const char *
url_check(const char *url)
{
	char	   *host = NULL;
	const char *problem = esq_webhook_url_parse(url, &host);
	struct addrinfo *res = NULL;
	char		first[INET6_ADDRSTRLEN] = "";
	char		bad[INET6_ADDRSTRLEN] = "";

	if (problem == NULL && (problem = resolve_host(host, &res)) == NULL)
	{
		classify_addresses(res, first, bad);
		if (first[0] == '\0')
			problem = "the host has no IP address";
		else if (bad[0] != '\0' && !esq_webhook_allow_private)
			problem = esq_webhook_address_problem(host, bad);
	}
	if (res)
		freeaddrinfo(res);
	return problem;
}

/* esqase.webhook_url_problem(url text) RETURNS text: the problem, or NULL. */
PG_FUNCTION_INFO_V1(esqase_webhook_url_problem);
Datum
esqase_webhook_url_problem(PG_FUNCTION_ARGS)
{
	const char *problem = url_check(text_to_cstring(PG_GETARG_TEXT_PP(0)));

	if (problem == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(problem));
}
