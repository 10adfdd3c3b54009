/*
 * secrets.c — API keys stay out of the server log.
 *
 * A token is a bearer secret (esq_<12 hex prefix>_<64 hex secret>).  The
 * HTTP worker never logs one; but SQL written by hand does:
 * `SELECT esqase_authenticate('esq_…')` is in the text of its statement,
 * and PostgreSQL logs a statement's text when it fails
 * (log_min_error_statement), when it is slow (log_min_duration_statement)
 * or always (log_statement = all), with its bind parameters in a DETAIL
 * (F13 of the 0.2.0 probe: the whole token in the log after a failed
 * call).  Two things here:
 *
 *  - an emit_log_hook that rewrites the secret part of anything shaped
 *    like a token, in every line PostgreSQL is about to write to the server
 *    log (message, detail, hint, context, internal query, and the
 *    "STATEMENT:" text): esq_3f2a…_[redacted].  The prefix stays: it is
 *    not secret (it is stored, to find the key) and tells the DBA which key
 *    it was.  The same rewritten message goes to the client of that
 *    session, which holds the token anyway.
 *
 *  - esqase_authenticate() without an argument, which reads the token from
 *    the session setting esqase.api_key: set in the connection's options
 *    (PGOPTIONS='-c esqase.api_key=esq_…', or options= in a connection
 *    string), it never appears in any statement's text, so neither in the
 *    log nor in pg_stat_activity or a client's history.  The setting can be
 *    set only for a session (connection options, SET), never in
 *    postgresql.conf or with ALTER ROLE / DATABASE ... SET, which would
 *    store it in a file or the catalog; only a superuser may read it back,
 *    and it is left out of SHOW ALL and pg_settings.
 */
#include "postgres.h"

#include <ctype.h>

#include "fmgr.h"
#include "lib/stringinfo.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/elog.h"
#include "utils/guc.h"
#include "utils/memutils.h"

#include "esqase.h"

/* context.c */
extern PGDLLEXPORT Datum esqase_authenticate(PG_FUNCTION_ARGS);

static char *esq_api_key = NULL;
static emit_log_hook_type prev_emit_log_hook = NULL;
static bool hook_installed = false;
/* The rewritten copy that debug_query_string points to, if any. */
static char *scrubbed_query = NULL;

#define TOKEN_SECRET_LEN 64
#define REDACTED "[redacted]"

const char *
esq_key_prefix(const char *token)
{
	if (strncmp(token, "esq_", 4) != 0)
		return NULL;
	for (int i = 0; i < ESQ_KEY_PREFIX_LEN; i++)
		if (!isxdigit((unsigned char) token[4 + i]))
			return NULL;
	return token[4 + ESQ_KEY_PREFIX_LEN] == '_' ? token + 4 : NULL;
}

/*
 * The length of a token separator at p: "_", or "%5F" as a URL encoder may
 * write it; 0 if none.
 */
static int
separator_len(const char *p)
{
	if (p[0] == '_')
		return 1;
	if (p[0] == '%' && p[1] == '5' && (p[2] == 'F' || p[2] == 'f'))
		return 3;
	return 0;
}

/*
 * The length of the token prefix at p, up to its secret ("esq_", 12 hex
 * digits, "_", with either "_" possibly "%5F"), if a secret follows; else 0.
 * Wider than esq_key_prefix on purpose: the log is redacted of a key however
 * it was written, where the request path reads only keys as issued.
 */
static int
token_prefix_len(const char *p)
{
	int			n;
	int			sep;

	if (strncmp(p, "esq", 3) != 0 || (sep = separator_len(p + 3)) == 0)
		return 0;
	n = 3 + sep;
	for (int i = 0; i < ESQ_KEY_PREFIX_LEN; i++, n++)
		if (!isxdigit((unsigned char) p[n]))
			return 0;
	if ((sep = separator_len(p + n)) == 0 || !isalnum((unsigned char) p[n + sep]))
		return 0;
	return n + sep;
}

/*
 * The length of a bare secret at p: a word of TOKEN_SECRET_LEN or more hex
 * digits (the secret of a token written apart from its prefix, as in
 * 'esq_…_' || '<secret>', or after a "%5F"); else 0.  Nothing else esqase
 * logs is that long a hex word (request ids have 32 digits).
 */
static int
bare_secret_len(const char *s, const char *p)
{
	int			n = 0;

	if (p > s && isalnum((unsigned char) p[-1]))
		return 0;
	while (isxdigit((unsigned char) p[n]))
		n++;
	return (n >= TOKEN_SECRET_LEN && !isalnum((unsigned char) p[n])) ? n : 0;
}

/*
 * s with the secret of every token in it replaced, in CurrentMemoryContext;
 * NULL when s holds none.  A token is "esq_", 12 hex digits, "_", then the
 * secret: the letters and digits that follow (a token cut short or
 * mistyped is redacted too); an underscore may be percent-encoded, and a
 * secret may stand apart from its prefix (bare_secret_len).  A secret cut
 * in pieces, or encoded otherwise, is not recognised.
 */
static char *
scrub(const char *s)
{
	const char *from;
	const char *p;
	StringInfoData buf;
	bool		changed = false;

	if (s == NULL)
		return NULL;
	from = s;
	for (p = s; *p;)
	{
		int			prefix = token_prefix_len(p);
		const char *secret = p + prefix;
		const char *end;

		if (prefix == 0 && bare_secret_len(s, p) == 0)
		{
			p++;
			continue;
		}
		end = secret;
		while (isalnum((unsigned char) *end))
			end++;
		if (!changed)
			initStringInfo(&buf);
		changed = true;
		appendBinaryStringInfo(&buf, from, secret - from);
		appendStringInfoString(&buf, REDACTED);
		from = p = end;
	}
	if (!changed)
		return NULL;
	appendStringInfoString(&buf, from);
	return buf.data;
}

static void
scrub_field(char **field)
{
	char	   *clean = scrub(*field);

	if (clean != NULL)
		*field = clean;			/* the old text stays in ErrorContext */
}

/*
 * Runs in EmitErrorReport (CurrentMemoryContext is ErrorContext) for every
 * message bound for the server log, before it is written.
 */
static void
scrub_log_hook(ErrorData *edata)
{
	scrub_field(&edata->message);
	scrub_field(&edata->detail);
	scrub_field(&edata->detail_log);
	scrub_field(&edata->hint);
	scrub_field(&edata->context);
	scrub_field(&edata->internalquery);

	/*
	 * The "STATEMENT:" line (and csvlog's and jsonlog's query field) print
	 * debug_query_string: point it at a rewritten copy, kept until the next
	 * one (the main loop sets debug_query_string again for every query, so
	 * nothing else holds the copy then).
	 */
	if (debug_query_string != NULL && debug_query_string != scrubbed_query)
	{
		char	   *clean;
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		clean = scrub(debug_query_string);
		MemoryContextSwitchTo(old);
		if (clean != NULL)
		{
			if (scrubbed_query != NULL)
				pfree(scrubbed_query);
			scrubbed_query = clean;
			debug_query_string = clean;
		}
	}

	if (prev_emit_log_hook)
		prev_emit_log_hook(edata);
}

/* esqase.api_key is a session's own: refused where it would be stored. */
static bool
check_api_key(char **newval, void **extra, GucSource source)
{
	if (*newval == NULL || (*newval)[0] == '\0')
		return true;
	switch (source)
	{
		case PGC_S_DEFAULT:
		case PGC_S_DYNAMIC_DEFAULT:
		case PGC_S_CLIENT:
		case PGC_S_OVERRIDE:
		case PGC_S_INTERACTIVE:
		case PGC_S_SESSION:
			return true;
		default:
			GUC_check_errdetail("An API key is set for one session only (connection options, or SET), "
								"never in a file or with ALTER ROLE / DATABASE ... SET.");
			return false;
	}
}

/* Called by _PG_init, whether preloaded or not. */
void
esq_secrets_init(void)
{
	DefineCustomStringVariable("esqase.api_key",
							   "The API key esqase_authenticate() without an argument acts as "
							   "(set it in the connection's options: it never appears in a statement).",
							   NULL, &esq_api_key, NULL,
							   PGC_USERSET,
							   GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE | GUC_DISALLOW_IN_FILE |
							   GUC_SUPERUSER_ONLY,
							   check_api_key, NULL, NULL);
	if (!hook_installed)
	{
		prev_emit_log_hook = emit_log_hook;
		emit_log_hook = scrub_log_hook;
		hook_installed = true;
	}
}

/*
 * esqase_authenticate() RETURNS void
 *
 * esqase_authenticate(token) with the token of the session setting
 * esqase.api_key.
 */
PG_FUNCTION_INFO_V1(esqase_authenticate_setting);
Datum
esqase_authenticate_setting(PG_FUNCTION_ARGS)
{
	if (esq_api_key == NULL || esq_api_key[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("an API key is required"),
				 errhint("Set esqase.api_key in the connection's options "
						 "(PGOPTIONS='-c esqase.api_key=esq_...'), or pass the key to esqase_authenticate(token).")));
	return DirectFunctionCall1(esqase_authenticate, CStringGetTextDatum(esq_api_key));
}
