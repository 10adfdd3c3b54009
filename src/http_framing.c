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
 *
 * libmicrohttpd 0.9.75 calls it for each query argument's name and value,
 * then for the path: what it noted last for a request line is the path.
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
	esq_conn_note_path(conn, s);
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
 * What the headers say about the body's framing (RFC 9112 section 6), and
 * whether the header section is sound (RFC 9112 sections 3.2 and 5).
 * libmicrohttpd 0.9.75 keeps a header name as sent, so it reads
 * "Transfer-Encoding : chunked" as some other header and the body as part
 * of the next request; it also takes a Transfer-Encoding it does not know
 * as a body without end.  These are checked before anything is read.
 */
typedef struct FramingHeaders
{
	int			content_length;
	int			transfer_encoding;
	int			host;
	bool		te_chunked;		/* the one Transfer-Encoding is "chunked" */
	bool		bad_name;		/* a header name that is not an RFC 9110 token */
	bool		bad_value;		/* a value with a CR or another control byte */
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
	/* RFC 9110 5.5: CR, LF and NUL are never part of a value (a bare CR ends a line for some proxies) */
	for (p = (const unsigned char *) (value ? value : ""); *p; p++)
		if ((*p < 0x20 && *p != '\t') || *p == 0x7f)
			f->bad_value = true;
	if (pg_strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0)
		f->content_length++;
	else if (pg_strcasecmp(key, MHD_HTTP_HEADER_HOST) == 0)
		f->host++;
	else if (pg_strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0)
	{
		f->transfer_encoding++;
		f->te_chunked = value && pg_strcasecmp(value, "chunked") == 0;
	}
	return MHD_YES;
}

/*
 * Whether the header section is exactly the request line and the header
 * fields libmicrohttpd reports, one per line, and nothing else.
 *
 * libmicrohttpd 0.9.75 has no strict mode for what RFC 9112 tells a server
 * to refuse in a header section: it joins an obs-fold continuation line
 * (one starting with a space or tab) to the previous field's *name*, so
 * "Transfer-Encoding:\r\n chunked" silently loses its Transfer-Encoding
 * and the body is framed by Content-Length (CL.TE request smuggling), and
 * it takes a line starting with ':' for the end of the header section, so
 * the fields after it become a second request.  Both leave bytes in the
 * header section that belong to no reported field, and that is what this
 * finds.  It relies on how 0.9.75 parses: in place, in one buffer that
 * starts at the method (MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE long),
 * each line end (CRLF or LF) and each field's colon turned into NUL bytes,
 * the fields in the order of their lines.  A later libmicrohttpd that
 * parses otherwise would fail this check for every request (test 007
 * would show it at once), never pass a bad one silently.
 */
typedef struct LayoutWalk
{
	const char *pos;			/* end of the previous line's text */
	const char *end;			/* end of the header section */
	bool		ok;
} LayoutWalk;

/* One line end (CRLF or LF, both turned into NUL bytes) at w->pos. */
static bool
skip_line_end(LayoutWalk *w, const char *next)
{
	size_t		gap = (size_t) (next - w->pos);

	if (next < w->pos || next > w->end || gap < 1 || gap > 2)
		return false;
	for (const char *p = w->pos; p < next; p++)
		if (*p != '\0')
			return false;
	return true;
}

static enum MHD_Result
walk_header_line(void *cls, enum MHD_ValueKind kind, const char *key,
				 const char *value)
{
	LayoutWalk *w = cls;
	const char *colon;

	if (key == NULL || value == NULL || !skip_line_end(w, key))
	{
		w->ok = false;
		return MHD_NO;
	}
	/* name, the colon (NUL now), optional whitespace, the value */
	colon = key + strlen(key);
	if (value <= colon || value >= w->end)
	{
		w->ok = false;
		return MHD_NO;
	}
	for (const char *p = colon + 1; p < value; p++)
		if (*p != ' ' && *p != '\t')
		{
			w->ok = false;
			return MHD_NO;
		}
	w->pos = value + strlen(value);
	return MHD_YES;
}

static bool
header_lines_sound(struct MHD_Connection *conn, const char *method, const char *version)
{
	const union MHD_ConnectionInfo *info;
	LayoutWalk	w;
	size_t		tail;

	info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
	if (info == NULL || method == NULL || version == NULL)
		return false;
	w.end = method + info->header_size;
	w.pos = version + strlen(version);
	w.ok = version > method && w.pos < w.end;
	if (w.ok)
		MHD_get_connection_values(conn, MHD_HEADER_KIND, walk_header_line, &w);
	if (!w.ok)
		return false;
	/* the last line's end, then the empty line: 2 to 4 NUL bytes */
	tail = (size_t) (w.end - w.pos);
	if (tail < 2 || tail > 4)
		return false;
	for (const char *p = w.pos; p < w.end; p++)
		if (*p != '\0')
			return false;
	return true;
}

/* NULL if the request's header section and framing are sound, else why not. */
static const char *
framing_error(struct MHD_Connection *conn, const char *method, const char *version)
{
	FramingHeaders f = {0, 0, 0, false, false, false};

	if (!header_lines_sound(conn, method, version))
		return "the header section has a line that is not a header field "
			"(a line folded onto the one before it, a line starting with ':', or a NUL byte)";
	MHD_get_connection_values(conn, MHD_HEADER_KIND, check_framing_header, &f);
	if (f.bad_name)
		return "a header name has whitespace or another character not allowed in it "
			"(no space is allowed before the colon)";
	if (f.bad_value)
		return "a header value has a CR or another control character";
	if (f.host > 1 || (f.host == 0 && strcmp(version, MHD_HTTP_VERSION_1_0) != 0))
		return "an HTTP/1.1 request must have exactly one Host header";
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
		snprintf(early->message, sizeof(early->message), ESQ_BODY_TOO_LARGE_FORMAT,
				 esq_http_max_body);
	}
}

void
esq_framing_first_call(struct MHD_Connection *conn, const char *method,
					   const char *version, EsqReq *r, EsqEarlyAnswer *early)
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
	framing = framing_error(conn, method, version);
	if (framing)
	{
		early->status = 400;
		early->code = "bad_request";
		strlcpy(early->message, framing, sizeof(early->message));
		return;
	}
	check_content_length(conn, r, early);
}

/*
 * A Content-Length value as libmicrohttpd 0.9.75 reads it (its value, the
 * line's text after the colon and any spaces or tabs): 0 if it is a
 * number, 400 if it is not, 413 if it is too large for 64 bits.
 */
static int
content_length_verdict(const char *v)
{
	uint64		n = 0;

	if (*v == '\0')
		return 400;
	for (; *v; v++)
	{
		if (*v < '0' || *v > '9')
			return 400;
		if (n > (PG_UINT64_MAX - (uint64) (*v - '0')) / 10)
			return 413;
		n = n * 10 + (uint64) (*v - '0');
	}
	return 0;
}

/*
 * The request libmicrohttpd 0.9.75 refuses itself as it parses the header
 * section (parse_connection_headers): a Content-Length it cannot read
 * (12abc, +5, -1, "5, 5", a number over 64 bits) in a request without
 * Transfer-Encoding.  Its own answer (an HTML 400 or 413) would go out
 * with the status line and headers twice; this is the JSON one sent
 * instead.  The only other refusal there, a Cookie header that does not
 * fit esqase.http_connection_memory, is a 431.
 */
void
esq_framing_mhd_refusal(struct MHD_Connection *conn, EsqEarlyAnswer *early)
{
	const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
												 MHD_HTTP_HEADER_CONTENT_LENGTH);

	early->status = cl && !MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
													   MHD_HTTP_HEADER_TRANSFER_ENCODING) ?
		content_length_verdict(cl) : 0;
	if (early->status == 400)
	{
		early->code = "bad_request";
		strlcpy(early->message, "Content-Length must be a number of bytes (decimal digits only)",
				sizeof(early->message));
	}
	else if (early->status == 413)
	{
		early->code = "payload_too_large";
		snprintf(early->message, sizeof(early->message), ESQ_BODY_TOO_LARGE_FORMAT,
				 esq_http_max_body);
	}
	else
	{
		early->status = 431;
		early->code = "header_too_large";
		snprintf(early->message, sizeof(early->message),
				 "the request's header section is larger than esqase.http_connection_memory allows");
	}
}

/* n bytes of src (no NUL needed) into dst, cut to its size. */
static void
copy_bytes(char *dst, size_t size, const char *src, size_t n)
{
	n = Min(n, size - 1);
	memcpy(dst, src, n);
	dst[n] = '\0';
}

/*
 * The first bytes of a plain-HTTP connection, before libmicrohttpd reads
 * them (http_conn.c, gate_first_bytes): a first byte that cannot start a
 * request line (a method is a token; an empty line before it is
 * tolerated) is a TLS ClientHello (0x16) or other binary.  libmicrohttpd
 * would wait for a line end until the header timeout; the caller closes
 * the connection at once, without an answer (there is no HTTP client to
 * read one).  method and path: the request line's, as far as it is in.
 */
bool
esq_framing_first_bytes(const char *buf, size_t len, char *method, size_t method_size,
						char *path, size_t path_size)
{
	const char *line = buf;
	const char *end = buf + len;
	const char *eol;
	const char *sp;

	method[0] = path[0] = '\0';
	if (len == 0)
		return true;
	if (!is_tchar((unsigned char) buf[0]) && buf[0] != '\r' && buf[0] != '\n')
		return false;
	while (line < end && (*line == '\r' || *line == '\n'))
		line++;
	eol = memchr(line, '\n', end - line);
	if (eol == NULL)
		eol = end;
	sp = memchr(line, ' ', eol - line);
	copy_bytes(method, method_size, line, sp ? (size_t) (sp - line) : 0);
	if (sp)
	{
		const char *p = sp + 1;

		while (p < eol && *p != ' ' && *p != '?' && *p != '\r')
			p++;
		copy_bytes(path, path_size, sp + 1, (size_t) (p - sp - 1));
	}
	return true;
}
