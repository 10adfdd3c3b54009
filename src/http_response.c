/*
 * http_response.c — the answer to one HTTP request, as the HTTP glue sends
 * it: the request's memory context, the error body every 4xx and 5xx
 * carries, and the extra response headers the API steps add (ETag,
 * RateLimit-*, ...); and esq_guard, which keeps an ERROR raised while a
 * request is handled from leaving libmicrohttpd's callbacks by longjmp.  Used by http_server.c (answers before any routing:
 * framing, Expect) and by http_routes.c (everything after); it knows
 * nothing of routes or SQL.
 */
#include "postgres.h"

#include "access/xact.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/json.h"
#include "utils/memutils.h"

#include "esqase.h"

/*
 * Everything a request allocates, from its headers to its answer; reset by
 * http_server.c once the answer is queued (or copied to wait for its
 * commit's flush).  Created by the worker at start.
 */
MemoryContext esq_request_context = NULL;

/*
 * s, or a copy of it with each byte that is not part of a valid UTF-8
 * sequence replaced by '?'.  Messages can quote what the client sent (a
 * method, a query parameter's name, jansson's "near ..."), and escape_json
 * copies bytes as they are: the error body must stay valid JSON.
 */
static const char *
valid_utf8(const char *s)
{
	const unsigned char *p = (const unsigned char *) s;
	StringInfoData buf;

	if (pg_verify_mbstr(PG_UTF8, s, strlen(s), true))
		return s;
	initStringInfo(&buf);
	while (*p)
	{
		int			l = pg_utf_mblen(p);

		if (*p < 0x80)
			appendStringInfoChar(&buf, (char) *p++);
		else if (l > 1 && strnlen((const char *) p, l) == (size_t) l &&
				 pg_utf8_islegal(p, l))
		{
			appendBinaryStringInfo(&buf, (const char *) p, l);
			p += l;
		}
		else
		{
			appendStringInfoChar(&buf, '?');
			p++;
		}
	}
	return buf.data;
}

const char	esq_internal_error_body[] =
"{\"error\":{\"status\":500,\"code\":\"internal_error\","
"\"message\":\"" ESQ_INTERNAL_ERROR_MESSAGE "\",\"field\":null}}";
const size_t esq_internal_error_body_len = sizeof(esq_internal_error_body) - 1;

void
esq_error_response(EsqHttpResponse *resp, int status, const char *code,
				   const char *message, const char *field)
{
	StringInfoData buf;

	message = valid_utf8(message);
	if (field)
		field = valid_utf8(field);
	initStringInfo(&buf);
	appendStringInfo(&buf, "{\"error\":{\"status\":%d,\"code\":", status);
	escape_json(&buf, code);
	appendStringInfoString(&buf, ",\"message\":");
	escape_json(&buf, message);
	appendStringInfoString(&buf, ",\"field\":");
	if (field)
		escape_json(&buf, field);
	else
		appendStringInfoString(&buf, "null");
	appendStringInfoString(&buf, "}}");
	resp->status = status;
	resp->body = buf.data;
	resp->body_len = buf.len;
	resp->www_authenticate = (status == 401);
	/*
	 * Not available for now (no database or extension yet, a lock or
	 * serialization conflict): worth a retry.  Not read_only or
	 * not_replicated, which a retry on this server does not change.
	 */
	if (status == 503 && strcmp(code, "service_unavailable") == 0)
		esq_response_add_header(resp, "Retry-After", "5");
}

void
esq_response_add_header(EsqHttpResponse *resp, const char *name, const char *value)
{
	/* a fixed bound, as a request has a known set of steps: a bug if hit */
	if (resp->nheaders >= ESQ_MAX_EXTRA_HEADERS)
	{
		elog(WARNING, "esqase: more than %d extra response headers; %s not sent",
			 ESQ_MAX_EXTRA_HEADERS, name);
		return;
	}
	resp->headers[resp->nheaders].name = name;
	resp->headers[resp->nheaders].value = pstrdup(value);
	resp->nheaders++;
}

/* 204 to OPTIONS, with Allow; a CORS preflight when the origin may ask. */
void
esq_options_response(EsqHttpResponse *resp, const EsqHttpRequest *req, const char *allow)
{
	resp->status = 204;
	resp->allow = allow;
	resp->preflight = resp->cors_origin != NULL && req->cors_request_method != NULL;
}

/* 405 to a method the path does not serve, with Allow. */
void
esq_method_not_allowed(EsqHttpResponse *resp, const char *method, const char *allow)
{
	esq_error_response(resp, 405, "method_not_allowed",
					   psprintf("method %s is not allowed here; allowed: %s", method, allow),
					   NULL);
	resp->allow = allow;
}

int			esq_debug_fail_in_callback = ESQ_DEBUG_FAIL_OFF;

void
esq_debug_fail(int point)
{
	if (esq_debug_fail_in_callback == point)
		elog(ERROR, "esqase: error injected by esqase.debug_fail_in_callback (a setting for tests)");
}

/*
 * The one wrapper between libmicrohttpd and PostgreSQL.  libmicrohttpd
 * calls the access handler (and its logger) from its own frames: an ERROR
 * raised below them (palloc, StringInfo, ereport, XLogFlush, ...) must not
 * longjmp through them to the worker's top level, which would leave
 * libmicrohttpd's state half-updated and end the worker with every
 * connection.  SQL has its own PG_TRY (http_sql.c), which turns SQL errors
 * into answers; this catches what is left, logs it (at its own level,
 * ERROR), and cleans up as PostgreSQL's error recovery does.
 */
bool
esq_guard(void (*fn) (void *arg), void *arg)
{
	static int	depth = 0;		/* a guard inside a guard (libmicrohttpd's logger) */
	MemoryContext oldcxt = CurrentMemoryContext;
	volatile bool ok = true;

	depth++;
	PG_TRY();
	{
		fn(arg);
	}
	PG_CATCH();
	{
		HOLD_INTERRUPTS();
		MemoryContextSwitchTo(oldcxt);
		EmitErrorReport();
		FlushErrorState();
		/* the request's state belongs to the outermost guard, still running it */
		if (depth == 1)
		{
			/* an ERROR out of the commit path: its count and timer end too */
			esq_durable_abort();
			AbortOutOfAnyTransaction();
			MemoryContextSwitchTo(oldcxt);
			if (esq_request_context)
				MemoryContextReset(esq_request_context);
		}
		RESUME_INTERRUPTS();
		ok = false;
	}
	PG_END_TRY();
	depth--;
	return ok;
}
