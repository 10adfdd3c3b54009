/*
 * http_log.c — the request id of each request and its log line.
 *
 * One log line per answered request (method, path without the query
 * string, status, duration, response bytes, key prefix, client address,
 * request id), never the token or a body; 5xx at WARNING, the rest at
 * esqase.http_log_level.
 *
 * Except unauthenticated requests (401): a flood of them costs the client
 * nothing and would fill the disk (a probe wrote 479,000 such lines, 106
 * MB, in minutes).  Each worker logs the first 401 of every
 * ESQ_LOG_UNAUTH_INTERVAL_MS in full, counts the others, and logs one
 * summary line with the count when the interval is over: at most two lines
 * per interval and worker, however many requests.  The metrics
 * (esqase_http_requests_total) still count every one.
 *
 * The lines are buffered by each worker and written in batches, as nginx's
 * access_log ... buffer= does: one line cost a whole ereport (the prefix,
 * the emit hook that scrubs tokens, a write()) where a batch costs a
 * memcpy per line.  A batch is written when it is a second old, when it is
 * full, before any other line of this file is logged (so the log keeps the
 * order of the answers), at once with a 5xx, at a reload and when the
 * worker exits.  It goes:
 *
 *  - to the server log by default: one record at esqase.http_log_level
 *    holding up to ESQ_SERVER_LOG_BATCH bytes of lines, each line
 *    "esqase: request ..." as a lone line would be (PostgreSQL starts each
 *    line after the first with a tab); the record's time is that of its
 *    write, at most a second after its first line's answer;
 *
 *  - with esqase.http_access_log set, to that file, at every level: lines
 *    "<UTC time> <pid> ..." written with one write() (whole lines,
 *    O_APPEND, so the workers' lines never interleave mid-line).  A 5xx is
 *    in the server log at WARNING as well.  On SIGHUP (pg_ctl reload,
 *    logrotate's postrotate) the file is closed and reopened by name.  If
 *    it cannot be opened, the lines go to the server log, with one WARNING
 *    saying why.
 */
#include "postgres.h"

#include <ctype.h>
#include <fcntl.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include "miscadmin.h"
#include "storage/ipc.h"

#include "http_server.h"

#define ESQ_LOG_UNAUTH_INTERVAL_MS 10000
#define ESQ_ACCESS_LOG_BUFFER 65536
#define ESQ_SERVER_LOG_BATCH 8192	/* one log record: about 40 lines */
#define ESQ_ACCESS_LOG_FLUSH_MS 1000

/* The access-log file (esqase.http_access_log) of this worker. */
static int	access_fd = -1;
static bool access_failed = false;	/* could not open it: the server log until reload */
static int64 access_error_ms = 0;	/* the last write error reported */

/* The lines not written yet, for the file or for one server-log record. */
static char *access_buf = NULL;	/* malloc'd, ESQ_ACCESS_LOG_BUFFER bytes */
static size_t access_len = 0;
static int64 access_since = 0;	/* ms: when the oldest buffered line was added */
static bool batch_to_file = false;	/* where the buffered lines go */
static int	batch_level = LOG;	/* their level, in the server log */

/* The 401s of the current interval that were not logged one by one. */
static int64 unauth_since = 0;	/* ms: the interval's first 401, 0: none */
static uint64 unauth_unlogged = 0;
static char unauth_last_client[INET6_ADDRSTRLEN] = "-";

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
	esq_log_new_request_id(r->request_id);
}

void
esq_log_new_request_id(char *id)
{
	uint8		rnd[16];
	int			i;

	if (!pg_strong_random(rnd, sizeof(rnd)))
	{
		/* no entropy source: still unique enough to find a log line */
		uint64		t = (uint64) esq_now_us() ^ ((uint64) MyProcPid << 40);

		memcpy(rnd, &t, sizeof(t));
		memcpy(rnd + 8, &id, sizeof(void *) <= 8 ? sizeof(void *) : 8);
	}
	for (i = 0; i < 16; i++)
		snprintf(id + 2 * i, 3, "%02x", rnd[i]);
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
	char	   *token = esq_bearer_token(authorization);
	const char *prefix = token ? esq_key_prefix(token) : NULL;

	if (prefix)
		appendBinaryStringInfo(buf, prefix, ESQ_KEY_PREFIX_LEN);
	else
		appendStringInfoChar(buf, '-');
	if (token)
		pfree(token);
}

/* The client address of c, or "-". */
static void
client_address(const EsqConn *c, char *client, size_t size)
{
	strlcpy(client, "-", size);
	if (c && c->peer.ss_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *) &c->peer)->sin_addr,
				  client, size);
	else if (c && c->peer.ss_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *) &c->peer)->sin6_addr,
				  client, size);
}

/* Writes the buffered lines to the access-log file (one write() of whole lines). */
static void
write_access_file(void)
{
	size_t		done = 0;

	while (done < access_len)
	{
		ssize_t		n = write(access_fd, access_buf + done, access_len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
		{
			int			save = errno;
			int64		now = esq_now_ms();

			/* at most one warning a minute: a full disk must not flood the server log */
			if (now - access_error_ms >= 60000)
			{
				access_error_ms = now;
				errno = save;
				ereport(WARNING,
						(errcode_for_file_access(),
						 errmsg("esqase: could not write the access log \"%s\": %m; %zu bytes of it lost",
								esq_http_access_log, access_len - done)));
			}
			break;
		}
		done += n;
	}
}

/* Writes the buffered lines, to the file or as one server-log record. */
void
esq_log_access_flush(void)
{
	if (access_len == 0)
		return;
	if (batch_to_file)
	{
		if (access_fd >= 0)
			write_access_file();
	}
	else
	{
		/* the lines end with '\n': the record's message does not */
		access_buf[access_len - 1] = '\0';
		/* reset first: an error in ereport must not write the batch twice */
		access_len = 0;
		ereport(batch_level,
				(errmsg_internal("%s", access_buf),
				 errhidestmt(true), errhidecontext(true)));
	}
	access_len = 0;
	access_since = 0;
}

static void
access_log_exit(int code, Datum arg)
{
	esq_log_access_flush();
}

/* The buffer, and the flush at exit: false if there is no memory for it. */
static bool
batch_ready(void)
{
	if (access_buf == NULL)
	{
		if ((access_buf = malloc(ESQ_ACCESS_LOG_BUFFER)) == NULL)
			return false;
		on_proc_exit(access_log_exit, (Datum) 0);
	}
	return true;
}

/*
 * Closes the access log after a reload (the setting may name another file,
 * or logrotate renamed it): the next line opens it again by name.
 */
void
esq_log_access_reopen(void)
{
	esq_log_access_flush();
	if (access_fd >= 0)
	{
		close(access_fd);
		access_fd = -1;
	}
	access_failed = false;
}

/* Whether the lines go to the access-log file (opened on first use). */
static bool
access_log_ready(void)
{
	if (access_fd >= 0)
		return true;
	if (access_failed || esq_http_access_log == NULL || esq_http_access_log[0] == '\0')
		return false;
	if (!batch_ready())
		return false;
	/* a relative path is in the data directory, the workers' working directory */
	access_fd = open(esq_http_access_log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (access_fd < 0)
	{
		access_failed = true;
		ereport(WARNING,
				(errcode_for_file_access(),
				 errmsg("esqase: could not open the access log \"%s\": %m; requests are logged in the server log until the next reload",
						esq_http_access_log)));
		return false;
	}
	return true;
}

/* Milliseconds until the buffered access-log lines are due, -1 if none. */
long
esq_log_access_wait_ms(void)
{
	int64		left;

	if (access_len == 0)
		return -1;
	left = access_since + ESQ_ACCESS_LOG_FLUSH_MS - esq_now_ms();
	return left < 0 ? 0 : (long) left;
}

/* Writes the buffered lines if they are due (the worker's loop calls it). */
void
esq_log_access_tick(void)
{
	if (access_len > 0 && esq_log_access_wait_ms() == 0)
		esq_log_access_flush();
}

/*
 * Adds head, then text, then '\n' to the batch for the file (to_file) or
 * the server log at level, writing the batch first if it goes elsewhere or
 * has no room (max bytes); written at once if urgent.
 */
static void
batch_add(bool to_file, int level, const char *head, size_t head_len,
		  const char *text, size_t max, bool urgent)
{
	size_t		len = strlen(text);

	if (len > max - head_len - 1)
		len = max - head_len - 1;
	if (access_len > 0 &&
		(batch_to_file != to_file || batch_level != level ||
		 access_len + head_len + len + 1 > max))
		esq_log_access_flush();
	if (access_len == 0)
	{
		access_since = esq_now_ms();
		batch_to_file = to_file;
		batch_level = level;
	}
	memcpy(access_buf + access_len, head, head_len);
	memcpy(access_buf + access_len + head_len, text, len);
	access_len += head_len + len;
	access_buf[access_len++] = '\n';
	if (urgent)
		esq_log_access_flush();
}

/* Adds "<UTC time> <pid> text" to the access-log file's batch. */
static void
access_log_add(const char *text, bool urgent)
{
	static time_t stamp_sec = 0;
	static char stamp[32];		/* "2026-12-07T03:50:12." of stamp_sec */
	struct timeval tv;
	int			head;
	char		line_head[64];

	gettimeofday(&tv, NULL);
	if (tv.tv_sec != stamp_sec)
	{
		struct tm	tm;

		gmtime_r(&tv.tv_sec, &tm);
		strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S.", &tm);
		stamp_sec = tv.tv_sec;
	}
	head = snprintf(line_head, sizeof(line_head), "%s%03dZ %d ", stamp,
					(int) (tv.tv_usec / 1000), MyProcPid);
	batch_add(true, LOG, line_head, head, text, ESQ_ACCESS_LOG_BUFFER, urgent);
}

/*
 * The summary of the 401s not logged one by one, once their interval is
 * over (or now, if force).
 */
void
esq_log_flush_summary(bool force)
{
	int			level = esq_http_log_level;

	if (unauth_since == 0 ||
		(!force && esq_now_ms() - unauth_since < ESQ_LOG_UNAUTH_INTERVAL_MS))
		return;
	if (unauth_unlogged > 0 && access_log_ready())
	{
		char		text[INET6_ADDRSTRLEN + 128];

		snprintf(text, sizeof(text),
				 "401-summary count=%llu seconds=%d client=%s",
				 (unsigned long long) unauth_unlogged,
				 (int) ((esq_now_ms() - unauth_since + 999) / 1000), unauth_last_client);
		access_log_add(text, false);
	}
	else if (unauth_unlogged > 0 && message_level_is_interesting(level))
	{
		esq_log_access_flush();
		ereport(level,
				(errmsg("esqase: %llu more unauthenticated requests (401) in %d s not logged one by one, the last from client=%s",
						(unsigned long long) unauth_unlogged,
						(int) ((esq_now_ms() - unauth_since + 999) / 1000), unauth_last_client),
				 errhidestmt(true), errhidecontext(true)));
	}
	unauth_since = 0;
	unauth_unlogged = 0;
}

/* Milliseconds until a summary is due, -1 if none is pending. */
long
esq_log_summary_wait_ms(void)
{
	int64		left;

	if (unauth_since == 0 || unauth_unlogged == 0)
		return -1;
	left = unauth_since + ESQ_LOG_UNAUTH_INTERVAL_MS - esq_now_ms();
	return left < 0 ? 0 : (long) left;
}

/* Whether a 401 is counted for the summary instead of logged. */
static bool
unauth_counted(const char *client)
{
	int64		now = esq_now_ms();

	if (unauth_since != 0 && now - unauth_since >= ESQ_LOG_UNAUTH_INTERVAL_MS)
		esq_log_flush_summary(true);
	if (unauth_since == 0)
	{
		unauth_since = now;
		return false;
	}
	unauth_unlogged++;
	strlcpy(unauth_last_client, client, sizeof(unauth_last_client));
	return true;
}

/*
 * One log line per request: method, path (without the query string),
 * status, duration, response bytes, key prefix, client address, request
 * id.  Never the token or a body.  5xx at WARNING, the rest at
 * esqase.http_log_level; 401s are summarised (see above).
 */
void
esq_log_line(const EsqConn *c, const char *method, const char *url,
			 const char *authorization, const char *request_id,
			 int64 start_us, int status, size_t bytes)
{
	int			level = status >= 500 ? WARNING : esq_http_log_level;
	bool		to_file = access_log_ready();
	StringInfoData buf;
	char		client[INET6_ADDRSTRLEN];

	esq_debug_fail(ESQ_DEBUG_FAIL_LOG);
	if (!to_file && level < WARNING && !message_level_is_interesting(level))
		return;
	client_address(c, client, sizeof(client));
	if (status == 401 && unauth_counted(client))
		return;
	initStringInfo(&buf);
	append_log_safe(&buf, method, 32);
	appendStringInfoChar(&buf, ' ');
	append_log_safe(&buf, url, 256);
	appendStringInfo(&buf, " %d %.3f ms %zu bytes key=", status,
					 (double) (esq_now_us() - start_us) / 1000.0, bytes);
	append_key_prefix(&buf, authorization);
	appendStringInfo(&buf, " client=%s request_id=%s", client, request_id);
	if (to_file)
	{
		/* a 5xx is written at once, and is in the server log too */
		access_log_add(buf.data, status >= 500);
	}
	else if (status < 500 && batch_ready())
	{
		static const char head[] = "esqase: request ";

		batch_add(false, level, head, sizeof(head) - 1, buf.data,
				  ESQ_SERVER_LOG_BATCH, false);
	}
	if (status >= 500 || (!to_file && access_buf == NULL))
	{
		/* after the lines answered before it */
		esq_log_access_flush();
		ereport(level,
				(errmsg("esqase: request %s", buf.data),
				 errhidestmt(true), errhidecontext(true)));
	}
	pfree(buf.data);
}

void
esq_log_request(struct MHD_Connection *conn, const char *method, const char *url,
				EsqReq *r, int status, size_t bytes)
{
	esq_log_line(esq_conn_state(conn), method, url,
				 MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
											 MHD_HTTP_HEADER_AUTHORIZATION),
				 r->request_id, r->start_us, status, bytes);
}
