/*
 * http_routes.c — the route table, and the dispatch of one complete HTTP
 * request to one SQL call.
 *
 * Every route is in esq_routes[] below, made from the resources of
 * sql/registry.pl (ESQ_ROUTES, build/esq_registry.h); the routing does not
 * care which resource it serves.  esq_dispatch (at the end) is the request's way, one
 * named step after the other, in this order:
 *
 *   the metrics path, if set (no key);
 *   /v1/openapi.json, the API's OpenAPI document (no key; http_openapi.c);
 *   unknown path -> 404; OPTIONS -> 204 (no key: CORS preflight);
 *   wrong method -> 405 + Allow;
 *   missing or malformed Authorization -> 401 + WWW-Authenticate (but
 *   503 + Retry-After if the database or the extension is missing);
 *   the key over its budget (esqase.http_rate_limit, http_ratelimit.c)
 *   -> 429 + Retry-After, before any SQL;
 *   then the input: body over esqase.http_max_body -> 413, unsupported
 *   Content-Type -> 415, id not a UUID, a query parameter on a route other
 *   than a list, a repeated or non-UTF-8 query parameter, body not one JSON
 *   object (invalid, duplicate keys, too deep), a POST's Idempotency-Key
 *   with a byte outside printable ASCII -> 400.  An input error is
 *   answered only after the key and its scope pass (refuse_input), so the
 *   key (401) and scope (403) always come before input checks.
 *
 * Which query parameters a list takes is SQL's to say (esqase.page and the
 * list functions name an unknown or malformed one in a 400).
 *
 * Then http_sql.c runs the call in one transaction; its result or error
 * becomes the response.  Called from the libmicrohttpd access handler on
 * the worker's main thread, under esq_guard (http_response.c): an ERROR
 * raised here (out of memory) becomes a 500 for the request.
 */
#include "postgres.h"

#include "esqase.h"

/*
 * THE route table: /v1/<path> and /v1/<path>/{id}, one per resource of the
 * registry, in its order (the route's index is in the metrics).
 */
const EsqRoute esq_routes[] = {ESQ_ROUTES};
const int	esq_nroutes = ESQ_NROUTES;

StaticAssertDecl(lengthof(esq_routes) == ESQ_NROUTES, "ESQ_NROUTES counts ESQ_ROUTES");

#define ALLOW_COLLECTION "GET, HEAD, POST, OPTIONS"
#define ALLOW_ITEM "GET, HEAD, PATCH, DELETE, OPTIONS"
#define ALLOW_READ_ONLY "GET, HEAD, OPTIONS"
#define MAX_TOKEN_LEN 512

/* True if s is a UUID in the 8-4-4-4-12 hex form. */
static bool
is_uuid(const char *s)
{
	int			i;

	if (strlen(s) != 36)
		return false;
	for (i = 0; i < 36; i++)
	{
		if (i == 8 || i == 13 || i == 18 || i == 23)
		{
			if (s[i] != '-')
				return false;
		}
		else if (!isxdigit((unsigned char) s[i]))
			return false;
	}
	return true;
}

/*
 * Extracts the token of "Bearer <token>" (palloc'd); NULL if malformed.
 * The request log reads the key's prefix through it too, so that what
 * authenticated is what is logged.
 */
char *
esq_bearer_token(const char *header)
{
	const char *p = header;
	const char *end;
	size_t		len;

	if (header == NULL || pg_strncasecmp(p, "Bearer", 6) != 0)
		return NULL;
	p += 6;
	if (*p != ' ' && *p != '\t')
		return NULL;
	while (*p == ' ' || *p == '\t')
		p++;
	end = p;
	while (*end > ' ' && *end != 0x7f)
		end++;
	len = end - p;
	while (*end == ' ' || *end == '\t')
		end++;
	if (len == 0 || len > MAX_TOKEN_LEN || *end != '\0')
		return NULL;
	return pnstrdup(p, len);
}

/* True if the Content-Type is absent or application/json (any parameters). */
static bool
is_json_content_type(const char *ct)
{
	size_t		n = strlen("application/json");

	if (ct == NULL || *ct == '\0')
		return true;
	while (*ct == ' ')
		ct++;
	if (pg_strncasecmp(ct, "application/json", n) != 0)
		return false;
	ct += n;
	while (*ct == ' ')
		ct++;
	return *ct == '\0' || *ct == ';';
}

/*
 * The Origin, if esqase.http_cors_origins lets a browser page from it read
 * the API's responses ("*": any origin); else NULL.  Origins are compared
 * as written ("https://app.example.com", scheme and port included).
 */
static const char *
cors_origin(const char *origin)
{
	char	   *list;
	char	   *tok;
	char	   *save = NULL;
	const char *found = NULL;

	if (origin == NULL || esq_http_cors_origins == NULL || esq_http_cors_origins[0] == '\0')
		return NULL;
	list = pstrdup(esq_http_cors_origins);
	for (tok = strtok_r(list, ", \t", &save); tok && !found;
		 tok = strtok_r(NULL, ", \t", &save))
	{
		if (strcmp(tok, "*") == 0 || strcmp(tok, origin) == 0)
			found = origin;
	}
	pfree(list);
	return found;
}


/* One request on its way through the steps of esq_dispatch. */
typedef struct Dispatch
{
	const EsqHttpRequest *req;
	EsqHttpResponse *resp;
	int			route;			/* index in esq_routes */
	bool		is_item;		/* /v1/<path>/{id} (or its sub-list) */
	bool		is_sub;			/* /v1/<path>/{id}/<sub_list> */
	const char *id;				/* the {id} segment */
	const char *allow;			/* methods of this path */
	EsqAction	action;
	EsqSqlCall	call;			/* what SQL is asked, built by the steps */
	const char *if_match_error; /* a malformed If-Match: its 400 (http_etag.c) */
	bool		rate_admit;		/* no rate-limit slot charged yet (http_ratelimit.c) */
	bool		authenticated;	/* the key authenticated in SQL */
} Dispatch;

/*
 * Each step_* answers the request and returns false, or returns true to go
 * on (step_sql, the last, always answers).
 */

/* The metrics, if esqase.http_metrics_path is set: no key, no SQL. */
static bool
step_metrics(Dispatch *d)
{
	if (esq_http_metrics_path == NULL || esq_http_metrics_path[0] == '\0' ||
		strcmp(d->req->path, esq_http_metrics_path) != 0 ||
		(strcmp(d->req->method, "GET") != 0 && strcmp(d->req->method, "HEAD") != 0))
		return true;
	d->resp->status = 200;
	d->resp->body = esq_stats_prometheus();
	d->resp->body_len = strlen(d->resp->body);
	d->resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
	return false;
}

/* /v1/openapi.json: GET, HEAD and OPTIONS, no key, no SQL (http_openapi.c). */
static bool
step_openapi(Dispatch *d)
{
	return !esq_openapi_answer(d->req, d->resp);
}

/* /v1/<path> or /v1/<path>/<id> of a route in esq_routes, else 404. */
static bool
step_route(Dispatch *d)
{
	const char *rest;

	/* every answer of the API (not the metrics) depends on Origin when CORS is on */
	d->resp->vary_origin = esq_http_cors_origins && esq_http_cors_origins[0] != '\0';
	if (strncmp(d->req->path, "/v1/", 4) != 0)
		goto not_found;
	rest = d->req->path + 4;
	for (d->route = 0; d->route < esq_nroutes; d->route++)
	{
		size_t		n = strlen(esq_routes[d->route].path);

		if (strncmp(rest, esq_routes[d->route].path, n) == 0 &&
			(rest[n] == '\0' || rest[n] == '/'))
		{
			rest += n;
			break;
		}
	}
	if (d->route == esq_nroutes || (rest[0] == '/' && rest[1] == '\0'))
		goto not_found;
	d->is_item = (rest[0] == '/');
	d->id = d->is_item ? rest + 1 : NULL;
	if (d->is_item && strchr(d->id, '/'))
	{
		/* /v1/<path>/{id}/<sub_list>: GET only, counted as its own route */
		const char *slash = strchr(d->id, '/');
		const char *sub = esq_routes[d->route].sub_list;

		if (sub == NULL || strcmp(slash + 1, sub) != 0)
			goto not_found;
		d->id = pnstrdup(d->id, slash - d->id);
		d->is_sub = true;
	}
	d->resp->stat_route = 3 * d->route + (d->is_sub ? 2 : d->is_item ? 1 : 0);
	d->allow = esq_routes[d->route].read_only || d->is_sub ? ALLOW_READ_ONLY :
		d->is_item ? ALLOW_ITEM : ALLOW_COLLECTION;
	return true;

not_found:
	esq_error_response(d->resp, 404, "not_found", "no such endpoint", NULL);
	return false;
}

/*
 * OPTIONS is answered here, with no key: a browser's CORS preflight never
 * sends one.
 */
static bool
step_options(Dispatch *d)
{
	if (strcmp(d->req->method, "OPTIONS") != 0)
		return true;
	esq_options_response(d->resp, d->req, d->allow);
	return false;
}

/*
 * The method's action on this path, else 405 + Allow.  HEAD runs the GET
 * (its status and headers are the GET's); libmicrohttpd leaves the body out.
 */
static bool
step_method(Dispatch *d)
{
	const char *m = d->req->method;
	bool		get = strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0;

	if (get)
		d->action = d->is_sub ? ESQ_SUB_LIST : d->is_item ? ESQ_GET : ESQ_LIST;
	else if (d->is_sub)
		d->action = ESQ_NACTIONS;
	else if (strcmp(m, "POST") == 0 && !d->is_item)
		d->action = ESQ_CREATE;
	else if (strcmp(m, "PATCH") == 0 && d->is_item)
		d->action = ESQ_UPDATE;
	else if (strcmp(m, "DELETE") == 0 && d->is_item)
		d->action = ESQ_DELETE;
	else
		d->action = ESQ_NACTIONS;
	if (d->action == ESQ_NACTIONS || (esq_routes[d->route].read_only && !get))
	{
		esq_method_not_allowed(d->resp, m, d->allow);
		return false;
	}
	d->call.route = d->route;
	d->call.action = d->action;
	d->call.activity = psprintf("%s %s", m, d->req->path);
	d->call.request_id = d->req->request_id;
	return true;
}

/*
 * An Authorization: Bearer <token> header, else 401 + WWW-Authenticate;
 * but 503 if the API cannot serve at all (no database or extension yet),
 * as a request with a key gets, so that no client takes "not installed"
 * for "wrong key".
 */
static bool
step_token(Dispatch *d)
{
	EsqSqlResult res;

	d->call.token = esq_bearer_token(d->req->authorization);
	if (d->call.token != NULL)
		return true;
	if (!esq_sql_ready(d->call.activity, &res))
	{
		esq_error_response(d->resp, res.status, res.code, res.message, res.field);
		return false;
	}
	esq_error_response(d->resp, 401, "unauthorized",
					   d->req->authorization ?
					   "the Authorization header must be \"Bearer <API key>\"" :
					   "an API key is required: send \"Authorization: Bearer <API key>\"",
					   NULL);
	return false;
}

/*
 * The key's request budget (esqase.http_rate_limit), charged to the
 * token's prefix before any SQL; over it, 429 + Retry-After.
 */
static bool
step_rate_limit(Dispatch *d)
{
	return esq_rate_limit(d->call.token, d->resp, &d->rate_admit);
}

/*
 * A request whose key had no slot in the rate-limit table yet: once the
 * key has authenticated, it gets one, charged with this request.  A key
 * that never authenticated (unknown; or nothing was checked: no database,
 * a timeout before the key was read) gets none, so made-up tokens cannot
 * take slots.
 */
static void
step_rate_limit_admit(Dispatch *d)
{
	if (d->rate_admit && d->authenticated)
		esq_rate_limit_admit(d->call.token, d->resp);
}

/*
 * Refuses the request's input, but only once its key and scope pass
 * (esq_sql_check_access): a caller without access gets the 401 or 403 and
 * learns nothing of the input rules.  Always returns false.
 */
static bool
refuse_input(Dispatch *d, int status, const char *code, const char *message,
			 const char *field)
{
	EsqSqlResult res;

	esq_sql_check_access(&d->call, &res);
	d->authenticated = res.authenticated;
	if (res.status >= 400)
		esq_error_response(d->resp, res.status, res.code, res.message, res.field);
	else
		esq_error_response(d->resp, status, code, message, field);
	return false;
}

/* The body of a create or update: size (413) and type (415). */
static bool
step_body_size_and_type(Dispatch *d)
{
	if (d->action != ESQ_CREATE && d->action != ESQ_UPDATE)
		return true;
	if (d->req->body_too_large)
		return refuse_input(d, 413, "payload_too_large",
							psprintf(ESQ_BODY_TOO_LARGE_FORMAT, esq_http_max_body),
							NULL);
	if (!is_json_content_type(d->req->content_type))
		return refuse_input(d, 415, "unsupported_media_type",
							"the request body must be application/json", NULL);
	return true;
}

/* The body of a create or update is one JSON object (400); what SQL gets. */
static bool
step_body_json(Dispatch *d)
{
	char		errbuf[256];

	if (d->action != ESQ_CREATE && d->action != ESQ_UPDATE)
		return true;
	if (!esq_json_check_body(d->req->body, d->req->body_len, errbuf, sizeof(errbuf)))
		return refuse_input(d, 400, "bad_request", pstrdup(errbuf), NULL);
	d->call.json = pnstrdup(d->req->body, d->req->body_len);
	return true;
}

/*
 * The path id is a UUID; only lists take query parameters, which become
 * the list's params object (which ones exist is SQL's to say).
 */
static bool
step_path_and_query(Dispatch *d)
{
	char		errbuf[256];
	const char *bad_key;
	char	   *params;

	if (d->id && !is_uuid(d->id))
		return refuse_input(d, 400, "bad_request", "the id in the path is not a valid UUID", "id");
	d->call.id = d->id;
	if (d->action != ESQ_LIST && d->action != ESQ_SUB_LIST)
	{
		if (d->req->nargs == 0)
			return true;
		return refuse_input(d, 400, "bad_request",
							psprintf("unknown query parameter \"%s\": only lists take query parameters",
									 d->req->args[0].key),
							d->req->args[0].key);
	}
	params = esq_json_params(d->req->args, d->req->nargs, errbuf, sizeof(errbuf), &bad_key);
	if (params == NULL)
		return refuse_input(d, 400, "bad_request", pstrdup(errbuf), bad_key);
	d->call.json = pstrdup(params);
	free(params);
	return true;
}

/* A POST's Idempotency-Key, for SQL (idempotency.c); 400 naming it if SQL cannot take it. */
static bool
step_idempotency_key(Dispatch *d)
{
	const char *problem = esq_idempotency_key(d->req, d->action, &d->call);

	if (problem == NULL)
		return true;
	return refuse_input(d, 400, "bad_request", problem, "Idempotency-Key");
}

/* PATCH and DELETE: the version If-Match expects goes with the call. */
static bool
step_if_match(Dispatch *d)
{
	d->if_match_error = esq_etag_before(d->req, d->action, &d->call);
	return true;
}

/*
 * Runs the call in one transaction; its result or error is the answer,
 * with the ETag of a single record (or its 304, or If-Match's 412).
 */
static void
step_sql(Dispatch *d)
{
	EsqSqlResult res;
	EsqHttpResponse *resp = d->resp;

	esq_sql_call(&d->call, &res);
	d->authenticated = res.authenticated;
	if (res.json == NULL)
		esq_error_response(resp, res.status, res.code, res.message, res.field);
	else
	{
		resp->status = res.status;
		if (res.status != 204)
		{
			resp->body = res.json;
			resp->body_len = strlen(res.json);
		}
	}
	/* when it may be sent (http_durable.c) */
	resp->durable_lsn = res.answer_lsn;
	resp->no_answer = res.no_answer;
	if (res.status == 201 && res.record_id)
		resp->location = psprintf("/v1/%s/%s", esq_routes[d->route].path, res.record_id);
	esq_idempotency_response(&res, resp);
	esq_etag_after(d->req, d->action, d->if_match_error, &res, resp);
}

/*
 * The request's way, one step after the other; the first step that
 * answers ends it.  See docs/architecture.md for where each rule lives.
 */
void
esq_dispatch(const EsqHttpRequest *req, EsqHttpResponse *resp)
{
	Dispatch	d;

	memset(&d, 0, sizeof(d));
	memset(resp, 0, sizeof(*resp));
	d.req = req;
	d.resp = resp;
	resp->stat_route = -1;
	resp->cors_origin = cors_origin(req->origin);

	if (step_metrics(&d) &&
		step_openapi(&d) &&
		step_route(&d) &&
		step_options(&d) &&
		step_method(&d) &&
		step_token(&d) &&
		step_rate_limit(&d) &&
		step_body_size_and_type(&d) &&
		step_path_and_query(&d) &&
		step_body_json(&d) &&
		step_idempotency_key(&d) &&
		step_if_match(&d))
		step_sql(&d);
	step_rate_limit_admit(&d);
}
