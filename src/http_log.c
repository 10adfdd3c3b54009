/*
 * http_log.c — the request id of each request and its log line.
 *
 * One log line per answered request (method, path without the query
 * string, status, duration, response bytes, key prefix, client address,
 * request id), never the token or a body; 5xx at WARNING, the rest at
 * esqase.http_log_level.
 */
#include "postgres.h"

#include <ctype.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include "miscadmin.h"

#include "http_server.h"

/*
 * The X-Request-Id of a request: the client's if it is sane (1 to 128
 * characters, letters, digits and "-._:/+=@"), so that a proxy's or a
 * client's id follows the request; otherwise a new random one.
 */
void
esq_log_set_request_id(struct MHD_Connection *conn, EsqReq *r)
{
	const char *given = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
													ESQ_HEADER_REQUEST_ID);
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
		uint64		t = (uint64) esq_now_us() ^ ((uint64) MyProcPid << 40);

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
void
esq_log_request(struct MHD_Connection *conn, const char *method, const char *url,
				EsqReq *r, int status, size_t bytes)
{
	int			level = status >= 500 ? WARNING : esq_http_log_level;
	StringInfoData buf;
	char		client[INET6_ADDRSTRLEN] = "-";
	EsqConn    *c;

	esq_debug_fail(ESQ_DEBUG_FAIL_LOG);
	if (level < WARNING && !message_level_is_interesting(level))
		return;
	c = esq_conn_state(conn);
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
					 (double) (esq_now_us() - r->start_us) / 1000.0, bytes);
	append_key_prefix(&buf, MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
														MHD_HTTP_HEADER_AUTHORIZATION));
	appendStringInfo(&buf, " client=%s request_id=%s", client, r->request_id);
	ereport(level,
			(errmsg("esqase: request %s", buf.data),
			 errhidestmt(true), errhidecontext(true)));
	pfree(buf.data);
}
