/*
 * http_sql.c — the SQL side of one HTTP request (no HTTP here).
 *
 * Every request is one transaction:
 *
 *   StartTransactionCommand -> snapshot -> SPI_connect
 *   check that the extension exists and that esqase.http_role is safe
 *   switch to esqase.http_role (SECURITY_LOCAL_USERID_CHANGE)
 *   SELECT esqase_authenticate($token)
 *   SELECT r::text, ... FROM esqase.<resource>_<action>(...) r
 *   restore the user -> SPI_finish -> statement timeout disarmed -> commit
 *
 * in steps (sql_begin, sql_run, sql_end; sql_fail on error).  Around the
 * commit http_durable.c decides the commit mode and when the answer may go
 * out (answer_lsn), or that it must be 503 not_replicated or none at all.
 *
 * Why the role switch: the worker connects as the bootstrap superuser (a
 * background worker cannot log in as the NOLOGIN esqase_api role), and a
 * superuser bypasses row-level security.  Running the API SQL as
 * esqase.http_role makes the firm policies apply; a superuser or BYPASSRLS
 * role is refused (503) because it would make them not apply.
 *
 * PG_TRY covers the SQL part only; the caller (http_routes.c, called from
 * libmicrohttpd) never sees a longjmp.  On error the error data is copied
 * into the request memory context, the error state flushed, the
 * transaction aborted and the user restored; the error becomes an HTTP
 * status by its SQLSTATE (map_error below).
 *
 * Plans are prepared on first use and kept (SPI_keepplan).  They are tied
 * to the extension's pg_extension row (its oid and row version): a DROP/
 * CREATE EXTENSION or an ALTER EXTENSION UPDATE frees them, so they are
 * prepared again against the functions the extension now has.
 *
 * On a hot standby (RecoveryInProgress()) the workers serve lists and
 * reads as anywhere else: the key is checked, and esqase.key_lookup leaves
 * last_used_at alone in a read-only transaction.  A create, update or
 * delete is refused before any SQL runs, with 503 and code "read_only":
 * the function would fail only at its first write (SQLSTATE 25006), after
 * the key lookup and validation, with a message about "a read-only
 * transaction" rather than about the node.  The check is per request, so
 * a promoted standby takes writes from its next request on.
 *
 * One library serves the SQL of every release it may find installed
 * between a server restart and ALTER EXTENSION esqase UPDATE: from 0.2.0
 * on, the worker calls the json functions esqase.<resource>_<action>
 * (responses in the API page's field order); with 0.1.0 installed, the
 * public jsonb functions esqase_<resource>_<action>, which 0.1.0 has.
 */
#include "postgres.h"

#include "access/xlog.h"
#include "access/xact.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "tcop/tcopprot.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timeout.h"
#include "utils/timestamp.h"

#include "esqase.h"

static SPIPlanPtr auth_plan = NULL;
static SPIPlanPtr access_plan = NULL;
/* a kept plan per route of the registry (build/esq_registry.h) and action */
static SPIPlanPtr plans[ESQ_NROUTES][ESQ_NACTIONS];
static Oid	plans_ext_oid = InvalidOid;
static TransactionId plans_ext_xmin = InvalidTransactionId;
static char ext_schema[NAMEDATALEN * 2 + 3];
/*
 * What the library may call in each SQL version it serves: between the
 * server's restart onto a new library and ALTER EXTENSION UPDATE, the SQL
 * is a release older.  One row per release whose SQL API changed; the
 * newest row at or below the installed version applies.  A header the
 * installed SQL cannot honour is refused (503), never ignored.
 */
typedef struct EsqSqlApi
{
	const char *since;			/* the first release with this API */
	bool		json_api;		/* esqase.<resource>_<action> (else the public jsonb wrappers) */
	bool		idempotency;	/* creates take an Idempotency-Key */
	bool		versions;		/* updates and deletes take the version If-Match expects */
	/*
	 * A single record's call returns esqase.answer: its body, and its
	 * version and replay mark as columns.  Before (0.2.0), the SQL noted
	 * them in backend memory as it ran (esqase.note_version,
	 * esqase.idempotency_note_replay: http_etag.c, idempotency.c).
	 */
	bool		answers;
} EsqSqlApi;

static const EsqSqlApi sql_apis[] = {
	{"0.1.0", false, false, false, false},
	{"0.2.0", true, true, true, false},
	{"0.3.0", true, true, true, true},
};

static const EsqSqlApi *sql_api = &sql_apis[lengthof(sql_apis) - 1];
static char sql_version[NAMEDATALEN];

static int	version_cmp(const char *a, const char *b);
static bool no_database = false;

/* The last reason for a 503 that was logged, so each is logged once. */
static char last_problem[512];

static const char *const action_names[ESQ_NACTIONS] = {
	"list", "create", "get", "update", "delete", NULL	/* the route's sub_list */
};

/* The version and replay columns of a call's one row (esqase.answer). */
static void
read_answer_columns(EsqSqlResult *res)
{
	HeapTuple	row = SPI_tuptable->vals[0];
	TupleDesc	desc = SPI_tuptable->tupdesc;
	bool		isnull;
	Datum		d;

	d = SPI_getbinval(row, desc, 3, &isnull);
	res->has_version = !isnull;
	if (!isnull)
		res->version = DatumGetTimestampTz(d);
	d = SPI_getbinval(row, desc, 4, &isnull);
	res->replayed = !isnull && DatumGetBool(d);
}

/* Whether the call only reads (its transaction writes nothing). */
static bool
reads_only(EsqAction action)
{
	return action == ESQ_LIST || action == ESQ_GET || action == ESQ_SUB_LIST;
}

/* The SQL name of the call's action: the route's sub-list's for ESQ_SUB_LIST. */
static const char *
action_name(int route, EsqAction action)
{
	return action == ESQ_SUB_LIST ? esq_routes[route].sub_list : action_names[action];
}

void
esq_sql_init(void)
{
	memset(plans, 0, sizeof(plans));
	no_database = false;
}

void
esq_sql_set_no_database(void)
{
	no_database = true;
}

/* Logs a readiness problem once, or that it is fixed. */
static void
note_problem(const char *problem)
{
	if (problem == NULL)
	{
		if (last_problem[0] != '\0')
			ereport(LOG,
					(errmsg("esqase: HTTP API is serving database \"%s\" again",
							esq_database)));
		last_problem[0] = '\0';
		return;
	}
	if (strcmp(problem, last_problem) != 0)
	{
		ereport(WARNING,
				(errmsg("esqase: HTTP API answers 503: %s", problem)));
		strlcpy(last_problem, problem, sizeof(last_problem));
	}
}

/* An answer that is not the function's: an error (a 503 of the server's). */
static void
set_error(EsqSqlResult *res, int status, const char *code, const char *message)
{
	res->status = status;
	res->code = code;
	res->message = MemoryContextStrdup(esq_request_context, message);
	res->field = NULL;
	res->json = NULL;
	res->record_id = NULL;
	res->replayed = false;
	res->has_version = false;
}

#define set_unavailable(res, message) set_error(res, 503, "service_unavailable", message)
/* a write on a read-only node (a hot standby, or a read-only transaction) */
#define set_read_only(res, message) set_error(res, 503, "read_only", message)

/* a write committed here that the synchronous standbys did not confirm in time */
#define ESQ_NOT_REPLICATED_MESSAGE \
	"the write was committed on this server, but the synchronous standbys " \
	"(synchronous_standby_names) did not confirm it before the request's deadline: " \
	"it may or may not be kept if this server fails. Repeat the request to find out " \
	"(a POST with the same Idempotency-Key is safe to repeat)"

#define ESQ_STANDBY_MESSAGE \
	"this server is a read-only standby: it serves GET requests only; " \
	"send POST, PATCH and DELETE to the primary"

/* Drops every kept plan (the extension went away or was recreated). */
static void
free_plans(void)
{
	int			r,
				a;

	if (auth_plan)
		SPI_freeplan(auth_plan);
	auth_plan = NULL;
	if (access_plan)
		SPI_freeplan(access_plan);
	access_plan = NULL;
	for (r = 0; r < ESQ_NROUTES; r++)
		for (a = 0; a < ESQ_NACTIONS; a++)
		{
			if (plans[r][a])
				SPI_freeplan(plans[r][a]);
			plans[r][a] = NULL;
		}
	plans_ext_oid = InvalidOid;
	plans_ext_xmin = InvalidTransactionId;
}

/*
 * Reads the (quoted) schema of the extension, and which functions its SQL
 * version has; inside SPI.
 */
static void
load_schema(Oid extoid)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1];
	int			ret;
	char	   *name;

	values[0] = ObjectIdGetDatum(extoid);
	ret = SPI_execute_with_args("SELECT pg_catalog.quote_ident(n.nspname), e.extversion "
								"FROM pg_catalog.pg_extension e "
								"JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace "
								"WHERE e.oid = $1",
								1, argtypes, values, NULL, true, 1);
	if (ret != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "esqase: cannot find the schema of extension esqase");
	name = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	strlcpy(ext_schema, name, sizeof(ext_schema));
	strlcpy(sql_version, SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2),
			sizeof(sql_version));
	sql_api = &sql_apis[0];
	for (size_t i = 0; i < lengthof(sql_apis); i++)
		if (version_cmp(sql_apis[i].since, sql_version) <= 0)
			sql_api = &sql_apis[i];
}

/* Compares two release versions ("0.10.0" > "0.9.1"), number by number. */
static int
version_cmp(const char *a, const char *b)
{
	while (*a || *b)
	{
		long		x = strtol(a, (char **) &a, 10);
		long		y = strtol(b, (char **) &b, 10);

		if (x != y)
			return x < y ? -1 : 1;
		if (*a == '.')
			a++;
		if (*b == '.')
			b++;
		if ((*a && !isdigit((unsigned char) *a)) || (*b && !isdigit((unsigned char) *b)))
			return strcmp(a, b);
	}
	return 0;
}

/* A 503 for a header the installed SQL cannot honour; false then. */
static bool
sql_can(bool feature, const char *header, EsqSqlResult *res)
{
	if (feature)
		return true;
	set_error(res, 503, "service_unavailable",
			  psprintf("%s needs a newer esqase SQL than the installed %s: run ALTER EXTENSION esqase UPDATE",
					   header, sql_version));
	return false;
}

/*
 * The role API work runs as (esqase.http_role), or InvalidOid with the
 * reason in problem: missing, or one that row-level security would not
 * hold (a superuser, BYPASSRLS).  In a transaction.
 */
Oid
esq_api_role(char *problem, size_t size)
{
	Oid			roleid = get_role_oid(esq_http_role, true);

	if (!OidIsValid(roleid))
		snprintf(problem, size, "role \"%s\" (esqase.http_role) does not exist", esq_http_role);
	else if (superuser_arg(roleid))
		snprintf(problem, size,
				 "role \"%s\" (esqase.http_role) is a superuser, which bypasses row-level security; "
				 "the API will not run as it", esq_http_role);
	else if (has_bypassrls_privilege(roleid))
		snprintf(problem, size,
				 "role \"%s\" (esqase.http_role) has BYPASSRLS; the API will not run as it",
				 esq_http_role);
	else
		return roleid;
	return InvalidOid;
}

/*
 * The role the last successful check_ready() found, while nothing it read
 * can have changed: pg_extension has no syscache (so no invalidation of its
 * own), but creating, dropping or updating the extension creates or drops
 * its schema or replaces functions, and a role's attributes live in
 * pg_authid; a callback on each of those caches forgets the answer, and a
 * reload that names another esqase.http_role is seen by name.  Reading
 * pg_extension and the role on every request cost 3-4% of a GET.
 */
static Oid	ready_role = InvalidOid;
static char ready_role_name[NAMEDATALEN];
static uint64 ready_changes = 0;	/* invalidations seen: one during a check voids it */

static void
forget_ready(Datum arg, int cacheid, uint32 hashvalue)
{
	ready_role = InvalidOid;
	ready_changes++;
}

/*
 * Checks that the extension exists and the role is safe.  Returns the role
 * to run as, or InvalidOid after filling res with a 503.
 */
static Oid
check_ready(EsqSqlResult *res)
{
	static bool callbacks = false;
	uint64		changes_before = ready_changes;
	TransactionId xmin = InvalidTransactionId;
	Oid			extoid;
	Oid			roleid;
	char		problem[512];

	if (!callbacks)
	{
		CacheRegisterSyscacheCallback(NAMESPACEOID, forget_ready, (Datum) 0);
		CacheRegisterSyscacheCallback(PROCOID, forget_ready, (Datum) 0);
		CacheRegisterSyscacheCallback(AUTHOID, forget_ready, (Datum) 0);
		callbacks = true;
	}
	if (OidIsValid(ready_role) && strcmp(ready_role_name, esq_http_role) == 0)
		return ready_role;
	ready_role = InvalidOid;

	extoid = esq_extension_lookup(NULL, NULL, &xmin);
	if (!OidIsValid(extoid))
	{
		if (OidIsValid(plans_ext_oid))
			free_plans();
		snprintf(problem, sizeof(problem),
				 "extension esqase is not installed in database \"%s\"; run CREATE EXTENSION esqase there",
				 esq_database);
		note_problem(problem);
		set_unavailable(res, problem);
		return InvalidOid;
	}
	if (extoid != plans_ext_oid || !TransactionIdEquals(xmin, plans_ext_xmin))
	{
		free_plans();
		load_schema(extoid);
		plans_ext_oid = extoid;
		plans_ext_xmin = xmin;
	}

	roleid = esq_api_role(problem, sizeof(problem));
	if (OidIsValid(roleid))
	{
		note_problem(NULL);
		if (ready_changes == changes_before)
		{
			ready_role = roleid;
			strlcpy(ready_role_name, esq_http_role, sizeof(ready_role_name));
		}
		return roleid;
	}
	note_problem(problem);
	set_unavailable(res, "the API is not available: its database role is missing or unsafe (see the server log)");
	return InvalidOid;
}

/* Prepares (once) and returns the plan of one resource function. */
static SPIPlanPtr
get_plan(int route, EsqAction action)
{
	Oid			argtypes[3] = {TEXTOID, TEXTOID, TIMESTAMPTZOID};
	char		sql[512];
	const char *fn_args;
	int			nargs;
	SPIPlanPtr	plan;

	if (plans[route][action])
		return plans[route][action];

	switch (action)
	{
		case ESQ_LIST:
			fn_args = "$1::jsonb";
			nargs = 1;
			break;
		case ESQ_CREATE:
			/* 0.1.0's creates take no idempotency key */
			fn_args = sql_api->json_api ? "$1::jsonb, $2" : "$1::jsonb";
			nargs = sql_api->json_api ? 2 : 1;
			break;
		case ESQ_UPDATE:
			/* from 0.2.0 on, the version If-Match expects (NULL: none) */
			fn_args = sql_api->json_api ? "$1::uuid, $2::jsonb, $3" : "$1::uuid, $2::jsonb";
			nargs = sql_api->json_api ? 3 : 2;
			break;
		case ESQ_DELETE:
			fn_args = sql_api->json_api ? "$1::uuid, $3" : "$1::uuid";
			nargs = sql_api->json_api ? 3 : 1;
			break;
		case ESQ_SUB_LIST:
			fn_args = "$1::uuid, $2::jsonb";
			nargs = 2;
			break;
		default:
			fn_args = "$1::uuid";
			nargs = 1;
			break;
	}
	/*
	 * Columns: the body, the record's id (read for the Location of a create
	 * only), its version and whether it is a replay (NULL: noted in memory
	 * by an older SQL, or a list).
	 */
	if (sql_api->answers && action != ESQ_LIST && action != ESQ_SUB_LIST)
		snprintf(sql, sizeof(sql),
				 "SELECT r.body::text, %s, r.version, r.replayed FROM esqase.%s_%s(%s) AS r",
				 action == ESQ_CREATE ? "r.body->'data'->>'id'" : "NULL::text",
				 esq_routes[route].sqlname, action_name(route, action), fn_args);
	else
		snprintf(sql, sizeof(sql),
				 "SELECT r::text, %s, NULL::timestamptz, NULL::boolean FROM %s%s_%s(%s) AS r",
				 action == ESQ_CREATE ? "r->'data'->>'id'" : "NULL::text",
				 sql_api->json_api ? "esqase." : psprintf("%s.esqase_", ext_schema),
				 esq_routes[route].sqlname, action_name(route, action), fn_args);
	plan = SPI_prepare(sql, nargs, argtypes);
	if (plan == NULL)
		elog(ERROR, "esqase: SPI_prepare failed for \"%s\": %s",
			 sql, SPI_result_code_string(SPI_result));
	SPI_keepplan(plan);
	plans[route][action] = plan;
	return plan;
}

/* Prepares (once) and keeps a plan that every route shares. */
static SPIPlanPtr
get_shared_plan(SPIPlanPtr *plan, const char *sql, int nargs)
{
	Oid			argtypes[2] = {TEXTOID, TEXTOID};

	if (*plan)
		return *plan;
	*plan = SPI_prepare(sql, nargs, argtypes);
	if (*plan == NULL)
		elog(ERROR, "esqase: SPI_prepare failed for \"%s\": %s",
			 sql, SPI_result_code_string(SPI_result));
	SPI_keepplan(*plan);
	return *plan;
}

static SPIPlanPtr
get_auth_plan(void)
{
	return get_shared_plan(&auth_plan,
						   psprintf("SELECT %s.esqase_authenticate($1)", ext_schema), 1);
}

/* The scope and permission check of the resource functions (10_core). */
static SPIPlanPtr
get_access_plan(void)
{
	return get_shared_plan(&access_plan, "SELECT esqase.api_access($1, $2)", 2);
}

static Datum
text_arg(const char *s)
{
	return PointerGetDatum(cstring_to_text(s));
}

/* Checks the key and its scope for the call, and runs nothing else; inside SPI. */
static void
run_access_check(const EsqSqlCall *call, EsqSqlResult *res)
{
	Datum		values[2];
	int			ret;

	values[0] = text_arg(esq_routes[call->route].path);
	values[1] = text_arg(reads_only(call->action) ? "read" : "write");
	ret = SPI_execute_plan(get_access_plan(), values, NULL, false, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "esqase: esqase.api_access failed: %s", SPI_result_code_string(ret));
	res->status = 200;
}

/* Runs the resource function of the call; inside SPI, authenticated. */
static void
run_call(const EsqSqlCall *call, EsqSqlResult *res)
{
	Datum		values[3];
	char		nulls[3] = {' ', ' ', 'n'};
	SPIPlanPtr	plan;
	int			ret;
	char	   *json;
	char	   *id;

	switch (call->action)
	{
		case ESQ_LIST:
			values[0] = text_arg(call->json ? call->json : "{}");
			break;
		case ESQ_CREATE:
			values[0] = text_arg(call->json ? call->json : "{}");
			if (call->idempotency_key)
				values[1] = text_arg(call->idempotency_key);
			else
				nulls[1] = 'n';
			break;
		case ESQ_UPDATE:
		case ESQ_SUB_LIST:
			values[0] = text_arg(call->id);
			values[1] = text_arg(call->json ? call->json : "{}");
			break;
		default:
			values[0] = text_arg(call->id);
			values[1] = (Datum) 0;	/* $2 is unused by get and delete */
			nulls[1] = 'n';
			break;
	}
	esq_idempotency_reset();
	if (call->idempotency_key && !sql_can(sql_api->idempotency, "Idempotency-Key", res))
		return;
	if (call->expect_version)
	{
		if (!sql_can(sql_api->versions, "If-Match", res))
			return;
		values[2] = TimestampTzGetDatum(call->expected_version);
		nulls[2] = ' ';
	}
	esq_etag_forget_version();
	plan = get_plan(call->route, call->action);
	ret = SPI_execute_plan(plan, values, nulls, false, 2);
	if (ret != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "esqase: esqase_%s_%s returned no row",
			 esq_routes[call->route].sqlname, action_name(call->route, call->action));
	json = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	id = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
	if (json == NULL)
		elog(ERROR, "esqase: esqase_%s_%s returned NULL",
			 esq_routes[call->route].sqlname, action_name(call->route, call->action));
	/* compact: PostgreSQL lays json out with spaces and newlines */
	res->json = MemoryContextAlloc(esq_request_context, strlen(json) + 1);
	esq_json_compact(json, res->json);
	res->record_id = id ? MemoryContextStrdup(esq_request_context, id) : NULL;
	if (sql_api->answers)
		read_answer_columns(res);
	else
	{
		res->has_version = esq_etag_noted_version(&res->version);
		res->replayed = esq_idempotency_replayed();
	}
	res->status = call->action == ESQ_CREATE ? 201 :
		call->action == ESQ_DELETE ? 204 : 200;
}

/*
 * THE contract between SQL errors and HTTP answers: an error's SQLSTATE,
 * or failing that its class (the first two characters), gives the status
 * and the stable "code" of the error body.  First match wins; anything not
 * listed is a bug: 500 "internal_error", logged, its message not shown.
 * The SQL side raises these codes through esqase.fail (sql/code/10_core).
 */
typedef struct EsqErrorMap
{
	int			sqlstate;		/* an ERRCODE_*, or a class for is_class */
	bool		is_class;
	int			status;
	const char *code;
	const char *message;		/* replaces SQL's message; NULL: keep it */
} EsqErrorMap;

static const EsqErrorMap error_map[] = {
	/* the caller */
	{ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION, false, 401, "unauthorized", NULL},
	{ERRCODE_INSUFFICIENT_PRIVILEGE, false, 403, "forbidden", NULL},
	/* the request */
	{ERRCODE_NO_DATA_FOUND, false, 404, "not_found", NULL},
	{ERRCODE_INVALID_PARAMETER_VALUE, false, 400, "bad_request", NULL},
	{ERRCODE_INVALID_TEXT_REPRESENTATION, false, 400, "bad_request", NULL},
	{ERRCODE_UNIQUE_VIOLATION, false, 409, "conflict", NULL},
	/* esqase.idempotency_begin: the key was used for another request */
	{MAKE_SQLSTATE('2', '3', 'I', '0', '1'), false, 422, "idempotency_key_reused", NULL},
	/* esqase.check_version: not the version If-Match names (http_etag.c) */
	{ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE, false, 412, "precondition_failed", NULL},
	{ERRCODE_DATA_EXCEPTION, true, 422, "validation_failed", NULL},
	{ERRCODE_INTEGRITY_CONSTRAINT_VIOLATION, true, 422, "validation_failed", NULL},
	{ERRCODE_PROGRAM_LIMIT_EXCEEDED, true, 422, "validation_failed", NULL},
	/* the server: try again later */
	{ERRCODE_QUERY_CANCELED, false, 504, "timeout",
	"the request took longer than esqase.http_statement_timeout"},
	{ERRCODE_LOCK_NOT_AVAILABLE, false, 503, "service_unavailable", NULL},
	{ERRCODE_INSUFFICIENT_RESOURCES, true, 503, "service_unavailable", NULL},
	{ERRCODE_TRANSACTION_ROLLBACK, true, 503, "service_unavailable", NULL},
	{ERRCODE_OPERATOR_INTERVENTION, true, 503, "service_unavailable", NULL},
};

/*
 * Whether esqase wrote the error's message: esqase.fail and every other
 * RAISE of its PL/pgSQL, and the key checks of esqase_authenticate (C).
 * Any other error comes from PostgreSQL itself ("integer out of range", "new
 * row violates row-level security policy for table ..."): its text is not
 * the API's, names tables and constraints, and is not shown (F17 of the
 * 0.2.0 probe).
 */
static bool
message_is_ours(const ErrorData *edata)
{
	return (edata->funcname != NULL && strcmp(edata->funcname, "exec_stmt_raise") == 0) ||
		edata->sqlerrcode == ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION;
}

/* The API's message for a 4xx or 503 whose SQL error was PostgreSQL's own. */
static char *
own_message(int status, int code)
{
	const char *what;

	switch (status)
	{
		case 400:
			what = "the request is malformed";
			break;
		case 403:
			what = "the API key may not do this";
			break;
		case 404:
			what = "not found";
			break;
		case 409:
			what = "the request conflicts with a record that exists";
			break;
		case 412:
			what = "the record is not in the state the request expects";
			break;
		case 503:
			/* retryable: say why in the API's words, not the server's */
			if (ERRCODE_TO_CATEGORY(code) == ERRCODE_TRANSACTION_ROLLBACK)
				what = "the request conflicted with another one running at the same time and was rolled back; retry it";
			else if (code == ERRCODE_LOCK_NOT_AVAILABLE)
				what = "a record the request needs is locked by another transaction; retry later";
			else if (ERRCODE_TO_CATEGORY(code) == ERRCODE_INSUFFICIENT_RESOURCES)
				what = "the database is short of resources; retry later";
			else
				what = "the database stopped the request (shutdown or an administrator); retry later";
			break;
		default:
			what = "the request holds a value the database cannot store";
			break;
	}
	return psprintf("%s (SQLSTATE %s)", what, unpack_sql_state(code));
}

/* Maps an error of the call (raised while running it) to the answer. */
static void
map_error(const EsqSqlCall *call, ErrorData *edata, bool preparing, EsqSqlResult *res)
{
	int			code = edata->sqlerrcode;
	const EsqErrorMap *m = NULL;

	res->json = NULL;
	res->record_id = NULL;
	res->field = NULL;

	if (code == ERRCODE_READ_ONLY_SQL_TRANSACTION)
	{
		/*
		 * A write esq_sql_call let through: a primary running with
		 * default_transaction_read_only, or, on a standby, SQL behind a
		 * GET that tries to write (a bug, logged below).
		 */
		set_read_only(res, RecoveryInProgress() ? ESQ_STANDBY_MESSAGE :
					  "the database is read-only (default_transaction_read_only); the write was not made");
	}
	else if (preparing && (code == ERRCODE_UNDEFINED_FUNCTION ||
						   code == ERRCODE_UNDEFINED_SCHEMA))
	{
		/*
		 * The installed SQL lacks the function this route calls: not ready
		 * (an older or partial install), not a bug here.  The same error
		 * raised while the function runs is a bug, and a 500.
		 */
		set_unavailable(res, psprintf("esqase_%s_%s is not available in this installation",
									  esq_routes[call->route].sqlname,
									  action_name(call->route, call->action)));
	}
	else
	{
		for (size_t i = 0; i < lengthof(error_map) && m == NULL; i++)
		{
			if (error_map[i].is_class ?
				ERRCODE_TO_CATEGORY(code) == error_map[i].sqlstate :
				code == error_map[i].sqlstate)
				m = &error_map[i];
		}
		res->status = m ? m->status : 500;
		res->code = m ? m->code : "internal_error";
		res->message = !m ? pstrdup(ESQ_INTERNAL_ERROR_MESSAGE) :
			m->message ? pstrdup(m->message) :
			edata->message ? edata->message : pstrdup("error");
		/* the field at fault is the client's to fix: 4xx only */
		if (m && m->status < 500)
			res->field = edata->column_name;
		/* PostgreSQL's text names tables, locks and rows: logged, not answered */
		if (m && (m->status < 500 || m->status == 503) && !m->message && !message_is_ours(edata))
		{
			res->message = own_message(m->status, code);
			res->field = NULL;	/* a column's SQL name, if any: not a JSON field */
			if (m->status < 500)
				ereport(esq_http_log_level,
						(errmsg("esqase: %s answered %d for a database error: %s", call->activity, res->status,
								edata->message ? edata->message : "(no message)"),
						 errdetail("SQLSTATE %s", unpack_sql_state(code))));
		}
	}

	if (res->status >= 500)
		ereport(LOG,
				(errmsg("esqase: %s answered %d: %s", call->activity, res->status,
						edata->message ? edata->message : "(no message)"),
				 errdetail("SQLSTATE %s", unpack_sql_state(code))));
}

/*
 * The state of one call that its error path needs: static, as one call runs
 * at a time, so that it is intact after the longjmp to PG_CATCH.
 */
static struct
{
	Oid			save_userid;
	int			save_sec;
	bool		switched;		/* running as esqase.http_role */
	bool		preparing;		/* preparing the plans (not running them) */
}			cur;

/* Answers without SQL when no SQL can run: no database, a write on a standby. */
static bool
refused_before_sql(const EsqSqlCall *call, bool access_only, EsqSqlResult *res)
{
	if (no_database)
	{
		char		msg[256];

		snprintf(msg, sizeof(msg),
				 "database \"%s\" (esqase.database) does not exist; create it and CREATE EXTENSION esqase in it",
				 esq_database);
		set_unavailable(res, msg);
		return true;
	}
	if (!access_only && !reads_only(call->action) &&
		RecoveryInProgress())
	{
		set_read_only(res, ESQ_STANDBY_MESSAGE);
		return true;
	}
	return false;
}

/* Starts the call's transaction: commit mode, statement timeout, snapshot, SPI. */
static void
sql_begin(const EsqSqlCall *call, bool access_only)
{
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	esq_durable_begin(!access_only && !reads_only(call->action));
	if (esq_http_statement_timeout > 0)
		enable_timeout_after(STATEMENT_TIMEOUT, esq_http_statement_timeout);
	PushActiveSnapshot(GetTransactionSnapshot());
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "esqase: SPI_connect failed");
	pgstat_report_activity(STATE_RUNNING, call->activity);
	esq_context_set_request_id(call->request_id);
}

/*
 * The call itself, inside SPI: the plans prepared (before switching: that
 * needs no privilege), then as esqase.http_role the key, and the resource
 * function or (access_only) the key and scope check only.
 */
static void
sql_run(const EsqSqlCall *call, bool access_only, EsqSqlResult *res)
{
	Oid			roleid = check_ready(res);
	Datum		token;

	if (!OidIsValid(roleid))
		return;
	if (access_only && call->token == NULL)
		return;					/* esq_sql_ready: nothing but the above */
	cur.preparing = true;
	get_auth_plan();
	if (access_only)
		get_access_plan();
	else
		get_plan(call->route, call->action);
	cur.preparing = false;

	token = text_arg(call->token ? call->token : "");
	SetUserIdAndSecContext(roleid, cur.save_sec | SECURITY_LOCAL_USERID_CHANGE);
	cur.switched = true;
	if (SPI_execute_plan(get_auth_plan(), &token, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "esqase: esqase_authenticate failed");
	res->authenticated = true;
	if (access_only)
		run_access_check(call, res);
	else
		run_call(call, res);
	SetUserIdAndSecContext(cur.save_userid, cur.save_sec);
	cur.switched = false;
}

/*
 * Commits, and asks http_durable.c when the answer may go out.  The
 * statement timeout is disarmed first, as PostgreSQL's finish_xact_command
 * does: a timeout during the commit would end a wait for synchronous
 * standbys (http_durable.c).
 */
static void
sql_end(const EsqSqlCall *call, EsqSqlResult *res)
{
	EsqDurableVerdict verdict;

	SPI_finish();
	PopActiveSnapshot();
	if (esq_http_statement_timeout > 0)
	{
		disable_timeout(STATEMENT_TIMEOUT, true);
		/* it fired as the SQL ended: cancel now (504), not during the commit */
		if (get_timeout_indicator(STATEMENT_TIMEOUT, false))
			CHECK_FOR_INTERRUPTS();
	}
	esq_durable_before_commit(res->replayed);
	CommitTransactionCommand();
	verdict = esq_durable_after_commit(res->replayed, &res->answer_lsn);
	if (verdict == ESQ_DURABLE_NOT_REPLICATED)
		set_error(res, 503, "not_replicated", ESQ_NOT_REPLICATED_MESSAGE);
	else if (verdict == ESQ_DURABLE_NO_ANSWER)
	{
		set_error(res, 503, "not_replicated", ESQ_NOT_REPLICATED_MESSAGE);
		res->no_answer = true;
	}
	if (verdict != ESQ_DURABLE_ANSWER)
		ereport(WARNING,
				(errmsg("esqase: %s: the commit was not confirmed by the synchronous standbys; %s",
						call->activity,
						res->no_answer ? "shutting down, no answer sent" : "answered 503"),
				 errdetail("It is committed on this server and may not be on the standbys.")));
}

/* The call failed: its error becomes the answer; the transaction is rolled back. */
static void
sql_fail(const EsqSqlCall *call, EsqSqlResult *res)
{
	ErrorData  *edata;

	HOLD_INTERRUPTS();
	if (cur.switched)
		SetUserIdAndSecContext(cur.save_userid, cur.save_sec);
	cur.switched = false;
	MemoryContextSwitchTo(esq_request_context);
	edata = CopyErrorData();
	FlushErrorState();
	disable_timeout(STATEMENT_TIMEOUT, false);
	esq_durable_abort();
	QueryCancelPending = false;
	AbortCurrentTransaction();
	MemoryContextSwitchTo(esq_request_context);
	RESUME_INTERRUPTS();
	map_error(call, edata, cur.preparing, res);
	cur.preparing = false;
}

/*
 * The transaction of one call: the resource function, or with access_only
 * only the key and scope check (esq_sql_check_access).
 */
static void
sql_call(const EsqSqlCall *call, bool access_only, EsqSqlResult *res)
{
	memset(res, 0, sizeof(*res));
	if (refused_before_sql(call, access_only, res))
		return;

	GetUserIdAndSecContext(&cur.save_userid, &cur.save_sec);
	cur.switched = false;
	cur.preparing = false;
	PG_TRY();
	{
		sql_begin(call, access_only);
		sql_run(call, access_only, res);
		sql_end(call, res);
	}
	PG_CATCH();
	{
		sql_fail(call, res);
	}
	PG_END_TRY();

	MemoryContextSwitchTo(esq_request_context);
	pgstat_report_stat(false);
	pgstat_report_activity(STATE_IDLE, NULL);
}

void
esq_sql_call(const EsqSqlCall *call, EsqSqlResult *res)
{
	sql_call(call, false, res);
}

void
esq_sql_check_access(const EsqSqlCall *call, EsqSqlResult *res)
{
	sql_call(call, true, res);
}

/*
 * Whether the API can serve at all (the database, the extension, the
 * role), for an answer that needs no SQL: a request without a key learns
 * "not available" (503) before "send a key" (401).  A yes is trusted for a
 * second, so a flood of keyless requests costs one transaction a second,
 * not one each; a 503 is looked at again every time.
 */
bool
esq_sql_ready(const char *activity, EsqSqlResult *res)
{
	static TimestampTz ready_at = 0;
	TimestampTz now = GetCurrentTimestamp();
	EsqSqlCall	call;

	if (ready_at != 0 && !TimestampDifferenceExceeds(ready_at, now, 1000))
	{
		memset(res, 0, sizeof(*res));
		res->status = 200;
		return true;
	}
	memset(&call, 0, sizeof(call));
	call.action = ESQ_GET;
	call.activity = activity;
	sql_call(&call, true, res);
	ready_at = res->status < 400 ? now : 0;
	return res->status < 400;
}
