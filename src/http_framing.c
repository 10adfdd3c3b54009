/*
 * http_framing.c — a request as it arrives: its framing, its body, its
 * query arguments and the unescaping of its path.  No answer is built
 * here: the first call's checks say what to answer (EsqEarlyAnswer) and
 * http_server.c answers.
 *
 * The request framing is checked before a body is read (framing_error):
 * RFC 9112 says what to refuse, and libmicrohttpd 0.9.75 misreads some of
 * it (a space before a header's colon, an unknown Transfer-Encoding).
 *
 * Bounded: the request body is counted here, over esqase.http_max_body ->
 * 413; the request line and headers by esqase.http_connection_memory per
 * connection (libmicrohttpd answers 413/431 itself beyond it).
 */
#include "postgres.h"

#include <errno.h>

#include "utils/memutils.h"

#include "http_server.h"

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

size_t
esq_framing_unescape(void *cls, struct MHD_Connection *conn, char *s)
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

void
esq_framing_args(struct MHD_Connection *conn, EsqQueryArg **args, int *nargs)
{
	ArgCollector c = {NULL, 0, 0};

	MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, collect_arg, &c);
	*args = c.args;
	*nargs = c.n;
}

bool
esq_framing_append_body(EsqReq *r, const char *data, size_t size)
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

/*
 * A Content-Length over esqase.http_max_body: the body is marked too
 * large.  A client waiting for "100 Continue" has not sent the body: it
 * gets its 413 now.  Any other client is already sending it; closing on it
 * would reset the connection before it reads the answer, so the body is
 * read, counted and dropped, then answered.
 */
static void
check_content_length(struct MHD_Connection *conn, EsqReq *r, EsqEarlyAnswer *early)
{
	const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
												 MHD_HTTP_HEADER_CONTENT_LENGTH);
	const char *expect;
	char	   *end;
	unsigned long long n;

	if (cl == NULL)
		return;
	errno = 0;
	n = strtoull(cl, &end, 10);
	if (errno == 0 && n <= (unsigned long long) esq_http_max_body)
		return;
	r->too_large = true;
	expect = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_EXPECT);
	if (expect && pg_strcasecmp(expect, "100-continue") == 0)
	{
		early->status = 413;
		early->code = "payload_too_large";
		snprintf(early->message, sizeof(early->message),
				 "the request body is larger than esqase.http_max_body (%d bytes)",
				 esq_http_max_body);
	}
}

void
esq_framing_first_call(struct MHD_Connection *conn, const char *version,
					   EsqReq *r, EsqEarlyAnswer *early)
{
	const char *framing;

	early->status = 0;

	/*
	 * A body whose length is given twice (two Content-Length headers, or
	 * Content-Length with Transfer-Encoding), or in a way this server reads
	 * differently from a proxy in front, could be read one way here and
	 * another way there: refuse it (RFC 9112 6.3) and close the connection,
	 * rather than guess where the next request starts.
	 */
	framing = framing_error(conn, version);
	if (framing)
	{
		early->status = 400;
		early->code = "bad_request";
		strlcpy(early->message, framing, sizeof(early->message));
		return;
	}
	check_content_length(conn, r, early);
}
