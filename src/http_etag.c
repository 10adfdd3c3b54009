/*
 * http_etag.c — entity tags of single records: ETag and Last-Modified on
 * every single-record response, If-None-Match (304) on GET and HEAD of an
 * item, If-Match (412) on PATCH and DELETE.
 *
 * A record's version is its updated_at, exact to the microsecond and moved
 * forward by every real update (esqase.touch_updated_at).  The body's
 * updatedAt is rounded to the second, so the version does not come from
 * the body: the SQL function that renders the record notes it in backend
 * memory (esqase.note_version, called by esqase.<record>_one,
 * sql/code/36_records.sql) in the same snapshot as the body, and
 * http_sql.c reads it right after the call.  No parse of the body, no
 * second query.
 *
 * The ETag is  "<version: microseconds since 1970, hex>-<hash of the body, hex>"
 *
 *   - If-None-Match compares whole tags (weak comparison, RFC 9110 13.1.2):
 *     a 304 means the client holds this exact representation, including the
 *     names of related records (a client renamed changes a matter's body,
 *     not its version).
 *   - If-Match compares the version part only: it guards the record's own
 *     state against a lost update, which is what the version is.  The
 *     version goes to SQL as expected_updated_at and is checked after the
 *     row is locked (esqase.check_version), so the check and the write are
 *     atomic.  "*" matches any existing record; a weak tag, or a tag that
 *     is not one of ours, never matches (strong comparison).
 *
 * A malformed If-Match still runs the call, with a version that cannot
 * match: authentication, scope and existence are answered first (401, 403,
 * 404, 422), and what would be a 412 becomes a 400 naming If-Match.  So a
 * precondition never tells anything to a key that may not know it.
 */
#include "postgres.h"

#include <time.h>

#include "common/hashfn.h"
#include "fmgr.h"
#include "pgtime.h"
#include "utils/timestamp.h"

#include "esqase.h"

/* The version noted by the last single-record rendering of this call. */
static bool noted = false;
static TimestampTz noted_version;

PG_FUNCTION_INFO_V1(esqase_note_version);
Datum
esqase_note_version(PG_FUNCTION_ARGS)
{
	noted_version = PG_GETARG_TIMESTAMPTZ(0);
	noted = true;
	PG_RETURN_VOID();
}

void
esq_etag_forget_version(void)
{
	noted = false;
}

bool
esq_etag_noted_version(TimestampTz *version)
{
	if (noted)
		*version = noted_version;
	return noted;
}

/* Microseconds between the Unix epoch and PostgreSQL's (2000-01-01). */
#define UNIX_TO_PG_USECS \
	((int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY)

/*
 * One element of an entity-tag list (RFC 9110 5.6.1, 8.8.3): skips empty
 * elements and whitespace.  Returns 1 with the tag's inside (between the
 * quotes) in *tag, *len, *weak; 0 at the end; -1 if malformed.
 */
static int
next_tag(const char **pos, bool *weak, const char **tag, int *len)
{
	const char *p = *pos;
	const char *q;

	while (*p == ' ' || *p == '\t' || *p == ',')
		p++;
	if (*p == '\0')
		return 0;
	*weak = (p[0] == 'W' && p[1] == '/');
	if (*weak)
		p += 2;
	if (*p != '"')
		return -1;
	q = ++p;
	/* etagc = %x21 / %x23-7E / obs-text */
	while (*q != '"' && *q != '\0' &&
		   ((unsigned char) *q == 0x21 || (unsigned char) *q >= 0x23) &&
		   (unsigned char) *q != 0x7F)
		q++;
	if (*q != '"')
		return -1;
	*tag = p;
	*len = (int) (q - p);
	p = q + 1;
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p != ',' && *p != '\0')
		return -1;
	*pos = p;
	return 1;
}

/* Whether the header is "*" (with optional whitespace). */
static bool
is_star(const char *h)
{
	while (*h == ' ' || *h == '\t')
		h++;
	if (*h++ != '*')
		return false;
	while (*h == ' ' || *h == '\t')
		h++;
	return *h == '\0';
}

/* The version of one of our tags ("<hex>-<8 hex>"); false if not ours. */
static bool
tag_version(const char *tag, int len, TimestampTz *version)
{
	uint64		us = 0;
	int			i;

	for (i = 0; i < len && tag[i] != '-'; i++)
	{
		int			c = (unsigned char) tag[i];
		int			d = (c >= '0' && c <= '9') ? c - '0' :
			(c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;

		if (d < 0 || i >= 15)
			return false;
		us = us * 16 + d;
	}
	if (i == 0 || i + 9 != len)
		return false;
	*version = (TimestampTz) us - UNIX_TO_PG_USECS;
	return true;
}

const char *
esq_etag_before(const EsqHttpRequest *req, EsqAction action, EsqSqlCall *call)
{
	const char *p;
	const char *tag;
	int			len;
	bool		weak;
	int			r;
	bool		any = false;
	const char *error = NULL;

	call->expect_version = false;
	if ((action != ESQ_UPDATE && action != ESQ_DELETE) || req->if_match == NULL ||
		is_star(req->if_match))
		return NULL;

	/*
	 * DT_NOBEGIN (-infinity) is a version no row has: updated_at is set by
	 * now() and only moves forward.
	 */
	call->expect_version = true;
	call->expected_version = DT_NOBEGIN;
	p = req->if_match;
	while ((r = next_tag(&p, &weak, &tag, &len)) > 0)
	{
		TimestampTz v;

		any = true;
		if (weak || !tag_version(tag, len, &v) || v == call->expected_version)
			continue;
		if (call->expected_version != DT_NOBEGIN)
			error = "If-Match names more than one version of the record; send the ETag you read";
		call->expected_version = v;
	}
	if (r < 0 || !any)
		error = "If-Match must be * or a list of entity tags, such as the ETag a GET returned "
			"(\"6558d8decda40-9c41d2aa\")";
	if (error)
		call->expected_version = DT_NOBEGIN;
	return error;
}

/* Whether If-None-Match names etag (weak comparison); -1 if malformed. */
static int
none_match(const char *header, const char *etag)
{
	const char *p = header;
	const char *tag;
	int			len;
	bool		weak;
	int			r;
	int			etag_len = (int) strlen(etag) - 2;	/* without the quotes */

	if (is_star(header))
		return 1;
	while ((r = next_tag(&p, &weak, &tag, &len)) > 0)
		if (len == etag_len && memcmp(tag, etag + 1, len) == 0)
			return 1;
	return r;
}

void
esq_etag_after(const EsqHttpRequest *req, EsqAction action, const char *if_match_error,
			   const EsqSqlResult *res, EsqHttpResponse *resp)
{
	char	   *etag;
	char		date[64];
	pg_time_t	secs;
	struct pg_tm *tm;
	static const char *const wdays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
	static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	"Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

	/* the 412 of esqase.check_version, about If-Match */
	if (resp->status == 412 && req->if_match != NULL)
	{
		if (if_match_error)
			esq_error_response(resp, 400, "bad_request", if_match_error, "If-Match");
		else
			esq_error_response(resp, 412, "precondition_failed", res->message, "If-Match");
		return;
	}
	if (!res->has_version || res->json == NULL ||
		(action != ESQ_GET && action != ESQ_CREATE && action != ESQ_UPDATE))
		return;

	etag = psprintf("\"%llx-%08x\"",
					(unsigned long long) (res->version + UNIX_TO_PG_USECS),
					hash_bytes((const unsigned char *) res->json, (int) strlen(res->json)));

	/* IMF-fixdate, e.g. Tue, 01 Dec 2026 22:42:44 GMT */
	secs = (pg_time_t) ((res->version + UNIX_TO_PG_USECS) / USECS_PER_SEC);
	tm = pg_gmtime(&secs);
	if (tm == NULL)
		return;
	snprintf(date, sizeof(date), "%s, %02d %s %04d %02d:%02d:%02d GMT",
			 wdays[tm->tm_wday], tm->tm_mday, months[tm->tm_mon], tm->tm_year + 1900,
			 tm->tm_hour, tm->tm_min, tm->tm_sec);

	if (action == ESQ_GET && req->if_none_match != NULL)
	{
		int			match = none_match(req->if_none_match, etag);

		if (match < 0)
		{
			esq_error_response(resp, 400, "bad_request",
							   "If-None-Match must be * or a list of entity tags, such as the ETag a GET returned",
							   "If-None-Match");
			return;
		}
		if (match > 0)
		{
			/*
			 * The body stays: libmicrohttpd 0.9.75 never sends a 304's
			 * body, but always writes a Content-Length (it has no way to
			 * leave it out short of chunked framing).  So the length is the
			 * 200's, which RFC 9110 8.6 allows, and not a "0" that claims an
			 * empty representation.
			 */
			resp->status = 304;
		}
	}
	esq_response_add_header(resp, "ETag", etag);
	esq_response_add_header(resp, "Last-Modified", date);
}
