/*
 * http_stats.c — HTTP request metrics shared by the workers: a count per
 * route, method and status, and a latency histogram per route and method,
 * in shared memory (atomic counters: a worker never waits on another to
 * count).  Read in SQL (esqase.http_stats, esqase.http_latency), reset by
 * esqase.http_stats_reset(), and served in the Prometheus text format on
 * esqase.http_metrics_path when that is set.
 *
 * Routes are "/v1/<resource>", "/v1/<resource>/{id}" and
 * "/v1/<resource>/{id}/<sub_list>" of esq_routes[], and "other" (unknown
 * paths, requests refused before routing): the arrays
 * have a slot for each (ESQ_STAT_ROUTES, from the registry's ESQ_NROUTES).
 * Statuses are the ones esqase answers, and "other".
 */
#include "postgres.h"

#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/tuplestore.h"

#include "esqase.h"

static const char *const methods[ESQ_STAT_METHODS] = {
	"GET", "HEAD", "POST", "PATCH", "DELETE", "OPTIONS", "other"
};
static const int statuses[ESQ_STAT_STATUSES] = {ESQ_HTTP_STATUS_LIST, 0};

/* upper bounds of the latency buckets, in milliseconds; the last is +Inf */
static const double bucket_ms[ESQ_STAT_BUCKETS] = {
	1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 5000, -1
};

static int
method_index(const char *m)
{
	int			i;

	for (i = 0; i < ESQ_STAT_METHODS - 1; i++)
		if (strcmp(m, methods[i]) == 0)
			return i;
	return ESQ_STAT_METHODS - 1;
}

static int
status_index(int status)
{
	static bool warned = false;
	int			i;

	for (i = 0; i < ESQ_STAT_STATUSES - 1; i++)
		if (statuses[i] == status)
			return i;
	/* an answer missing from ESQ_HTTP_STATUS_LIST: a bug to report */
	if (!warned)
		elog(WARNING, "esqase: HTTP status %d is not in the metrics' list; counted as \"other\"",
			 status);
	warned = true;
	return ESQ_STAT_STATUSES - 1;
}

/* The route's label; buf must hold 64 bytes. */
static const char *
route_label(int r, char *buf)
{
	const char *path;

	if (r < 0 || r >= 3 * esq_nroutes)
		return "other";
	path = esq_routes[r / 3].path;
	if (r % 3 == 0)
		snprintf(buf, 64, "/v1/%s", path);
	else if (r % 3 == 1)
		snprintf(buf, 64, "/v1/%s/{id}", path);
	else
		snprintf(buf, 64, "/v1/%s/{id}/%s", path, esq_routes[r / 3].sub_list ? esq_routes[r / 3].sub_list : "");
	return buf;
}

void
esq_stats_init(EsqStats *st)
{
	int			r,
				m,
				s,
				b;

	for (r = 0; r < ESQ_STAT_ROUTES; r++)
		for (m = 0; m < ESQ_STAT_METHODS; m++)
		{
			for (s = 0; s < ESQ_STAT_STATUSES; s++)
				pg_atomic_init_u64(&st->requests[r][m][s], 0);
			for (b = 0; b < ESQ_STAT_BUCKETS; b++)
				pg_atomic_init_u64(&st->latency[r][m][b], 0);
			pg_atomic_init_u64(&st->latency_sum_us[r][m], 0);
		}
}

/*
 * Counts one answered request; route is 3 * route index + 0 (collection),
 * 1 (item) or 2 (item's sub-list), or -1.
 */
void
esq_stats_record(int route, const char *method, int status, int64 duration_us)
{
	EsqStats   *st;
	int			r = (route >= 0 && route < 3 * esq_nroutes) ? route : ESQ_STAT_ROUTES - 1;
	int			m = method_index(method);
	int			b;
	double		ms = (double) duration_us / 1000.0;

	if (esq_shared == NULL)
		return;
	st = &esq_shared->stats;
	pg_atomic_fetch_add_u64(&st->requests[r][m][status_index(status)], 1);
	for (b = 0; b < ESQ_STAT_BUCKETS - 1 && ms > bucket_ms[b]; b++)
		;
	pg_atomic_fetch_add_u64(&st->latency[r][m][b], 1);
	pg_atomic_fetch_add_u64(&st->latency_sum_us[r][m], (uint64) Max(duration_us, 0));
}

/* The Prometheus text exposition of the counters, in the current context. */
char *
esq_stats_prometheus(void)
{
	StringInfoData buf;
	EsqStats   *st;
	int			r,
				m,
				s,
				b;
	char		lb[64];

	initStringInfo(&buf);
	if (esq_shared == NULL)
		return buf.data;
	st = &esq_shared->stats;
	appendStringInfoString(&buf,
						   "# HELP esqase_http_requests_total HTTP requests answered by esqase.\n"
						   "# TYPE esqase_http_requests_total counter\n");
	for (r = 0; r < ESQ_STAT_ROUTES; r++)
		for (m = 0; m < ESQ_STAT_METHODS; m++)
			for (s = 0; s < ESQ_STAT_STATUSES; s++)
			{
				uint64		n = pg_atomic_read_u64(&st->requests[r][m][s]);
				char		status[16];

				if (n == 0)
					continue;
				if (statuses[s])
					snprintf(status, sizeof(status), "%d", statuses[s]);
				else
					strlcpy(status, "other", sizeof(status));
				appendStringInfo(&buf,
								 "esqase_http_requests_total{route=\"%s\",method=\"%s\",status=\"%s\"} " UINT64_FORMAT "\n",
								 route_label(r, lb), methods[m], status, n);
			}
	appendStringInfoString(&buf,
						   "# HELP esqase_http_request_duration_seconds Time from the request's headers to its queued answer.\n"
						   "# TYPE esqase_http_request_duration_seconds histogram\n");
	for (r = 0; r < ESQ_STAT_ROUTES; r++)
		for (m = 0; m < ESQ_STAT_METHODS; m++)
		{
			uint64		cum = 0;

			for (b = 0; b < ESQ_STAT_BUCKETS; b++)
				cum += pg_atomic_read_u64(&st->latency[r][m][b]);
			if (cum == 0)
				continue;
			cum = 0;
			for (b = 0; b < ESQ_STAT_BUCKETS; b++)
			{
				char		le[32];

				cum += pg_atomic_read_u64(&st->latency[r][m][b]);
				if (bucket_ms[b] < 0)
					strlcpy(le, "+Inf", sizeof(le));
				else
					snprintf(le, sizeof(le), "%g", bucket_ms[b] / 1000.0);
				appendStringInfo(&buf,
								 "esqase_http_request_duration_seconds_bucket{route=\"%s\",method=\"%s\",le=\"%s\"} " UINT64_FORMAT "\n",
								 route_label(r, lb), methods[m], le, cum);
			}
			appendStringInfo(&buf,
							 "esqase_http_request_duration_seconds_sum{route=\"%s\",method=\"%s\"} %.6f\n"
							 "esqase_http_request_duration_seconds_count{route=\"%s\",method=\"%s\"} " UINT64_FORMAT "\n",
							 route_label(r, lb), methods[m],
							 (double) pg_atomic_read_u64(&st->latency_sum_us[r][m]) / 1e6,
							 route_label(r, lb), methods[m], cum);
		}
	return buf.data;
}

/* One row of the SQL views: route, method, a status or bucket, a count. */
static void
put_row(ReturnSetInfo *rsinfo, int route, int method, Datum third, bool third_null,
		uint64 n)
{
	char		lb[64];
	Datum		values[4];
	bool		nulls[4] = {false, false, third_null, false};

	values[0] = CStringGetTextDatum(route_label(route, lb));
	values[1] = CStringGetTextDatum(methods[method]);
	values[2] = third;
	values[3] = Int64GetDatum((int64) n);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/* The result set of a view function; NULL (no rows) without shared memory. */
static ReturnSetInfo *
start_rows(FunctionCallInfo fcinfo)
{
	InitMaterializedSRF(fcinfo, 0);
	return esq_shared ? (ReturnSetInfo *) fcinfo->resultinfo : NULL;
}

/* esqase.http_stats(): route, method, status, requests (nonzero rows). */
PG_FUNCTION_INFO_V1(esqase_http_stats);
Datum
esqase_http_stats(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = start_rows(fcinfo);
	int			r,
				m,
				s;

	if (rsinfo == NULL)
		PG_RETURN_VOID();
	for (r = 0; r < ESQ_STAT_ROUTES; r++)
		for (m = 0; m < ESQ_STAT_METHODS; m++)
			for (s = 0; s < ESQ_STAT_STATUSES; s++)
			{
				uint64		n = pg_atomic_read_u64(&esq_shared->stats.requests[r][m][s]);

				if (n != 0)
					put_row(rsinfo, r, m, Int32GetDatum(statuses[s]), statuses[s] == 0, n);
			}
	PG_RETURN_VOID();
}

/*
 * esqase.http_latency(): route, method, le_ms (NULL: +Inf), requests at or
 * under it (cumulative, as in Prometheus), for each route and method seen.
 */
PG_FUNCTION_INFO_V1(esqase_http_latency);
Datum
esqase_http_latency(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = start_rows(fcinfo);
	int			r,
				m,
				b;

	if (rsinfo == NULL)
		PG_RETURN_VOID();
	for (r = 0; r < ESQ_STAT_ROUTES; r++)
		for (m = 0; m < ESQ_STAT_METHODS; m++)
		{
			uint64		cum = 0;

			for (b = 0; b < ESQ_STAT_BUCKETS; b++)
				cum += pg_atomic_read_u64(&esq_shared->stats.latency[r][m][b]);
			if (cum == 0)
				continue;
			cum = 0;
			for (b = 0; b < ESQ_STAT_BUCKETS; b++)
			{
				cum += pg_atomic_read_u64(&esq_shared->stats.latency[r][m][b]);
				put_row(rsinfo, r, m, Float8GetDatum(bucket_ms[b]), bucket_ms[b] < 0, cum);
			}
		}
	PG_RETURN_VOID();
}

/* esqase.http_stats_reset(): zeroes every counter (all workers). */
PG_FUNCTION_INFO_V1(esqase_http_stats_reset);
Datum
esqase_http_stats_reset(PG_FUNCTION_ARGS)
{
	int			r,
				m,
				s,
				b;

	if (esq_shared == NULL)
		PG_RETURN_VOID();
	for (r = 0; r < ESQ_STAT_ROUTES; r++)
		for (m = 0; m < ESQ_STAT_METHODS; m++)
		{
			for (s = 0; s < ESQ_STAT_STATUSES; s++)
				pg_atomic_write_u64(&esq_shared->stats.requests[r][m][s], 0);
			for (b = 0; b < ESQ_STAT_BUCKETS; b++)
				pg_atomic_write_u64(&esq_shared->stats.latency[r][m][b], 0);
			pg_atomic_write_u64(&esq_shared->stats.latency_sum_us[r][m], 0);
		}
	PG_RETURN_VOID();
}
