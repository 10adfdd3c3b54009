/*
 * http_routes.c — the route table, and the dispatch of one complete HTTP
 * request to one SQL call.
 *
 * Every route is in esq_routes[] below; the routing does not care which
 * resource it serves.  The checks run in this order, before any SQL:
 *
 *   unknown path -> 404; wrong method -> 405 + Allow;
 *   missing or malformed Authorization -> 401 + WWW-Authenticate;
 *   body over esqase.http_max_body -> 413; unsupported Content-Type -> 415;
 *   id not a UUID, a query parameter on a route other than a list, a
 *   repeated query parameter, body not one JSON object (invalid, duplicate
 *   keys, too deep) -> 400.
 *
 * Which query parameters a list takes is SQL's to say (esqase.page and the
 * list functions name an unknown or malformed one in a 400).
 *
 * Then http_sql.c runs the call in one transaction; its result or error
 * becomes the response.  Called from the libmicrohttpd access handler on
 * the worker's main thread; nothing here throws except on out-of-memory
 * (which ends the worker, see http_worker.c).
 */
#include "postgres.h"

#include "mb/pg_wchar.h"
#include "utils/json.h"

#include "esqase.h"

/* THE route table: /v1/<path> and /v1/<path>/{id}. */
const EsqRoute esq_routes[] = {
	{"contacts", "contacts", false},
	{"matters", "matters", false},
	{"leads", "leads", false},
	{"practice-areas", "practice_areas", false},
	{"matter-types", "matter_types", false},
	{"members", "members", true},
};
const int	esq_nroutes = lengthof(esq_routes);

#define ALLOW_COLLECTION "GET, HEAD, POST, OPTIONS"
#define ALLOW_ITEM "GET, HEAD, PATCH, DELETE, OPTIONS"
#define ALLOW_READ_ONLY "GET, HEAD, OPTIONS"
#define MAX_TOKEN_LEN 512

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
}

void
esq_response_add_header(EsqHttpResponse *resp, const char *name, const char *value)
{
	if (resp->nheaders >= ESQ_MAX_EXTRA_HEADERS)
		return;					/* no caller adds more; never ereport here */
	resp->header_names[resp->nheaders] = name;
	resp->header_values[resp->nheaders] = (char *) value;
	resp->nheaders++;
}

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

/* Extracts the token of "Bearer <token>"; NULL if malformed. */
static char *
bearer_token(const char *header)
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

void
esq_dispatch(const EsqHttpRequest *req, EsqHttpResponse *resp)
{
	const char *path = req->path;
	const char *rest;
	const char *id = NULL;
	int			route = -1;
	int			i;
	bool		is_item;
	const char *allow;
	EsqAction	action;
	char	   *token;
	char	   *json = NULL;
	char		errbuf[256];
	EsqSqlCall call;
	EsqSqlResult res;
	const char *if_match_error;

	memset(resp, 0, sizeof(*resp));
	resp->stat_route = -1;
	resp->cors_origin = cors_origin(req->origin);

	/* the metrics, if esqase.http_metrics_path is set: no key, no SQL */
	if (esq_http_metrics_path && esq_http_metrics_path[0] != '\0' &&
		strcmp(path, esq_http_metrics_path) == 0 &&
		(strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0))
	{
		resp->status = 200;
		resp->body = esq_stats_prometheus();
		resp->body_len = strlen(resp->body);
		resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
		return;
	}
	resp->vary_origin = esq_http_cors_origins && esq_http_cors_origins[0] != '\0';

	/* Route: /v1/<resource> or /v1/<resource>/<id> */
	if (strncmp(path, "/v1/", 4) != 0)
	{
		esq_error_response(resp, 404, "not_found", "no such endpoint", NULL);
		return;
	}
	rest = path + 4;
	for (i = 0; i < esq_nroutes; i++)
	{
		size_t		n = strlen(esq_routes[i].path);

		if (strncmp(rest, esq_routes[i].path, n) == 0 &&
			(rest[n] == '\0' || rest[n] == '/'))
		{
			route = i;
			rest += n;
			break;
		}
	}
	if (route < 0 || (rest[0] == '/' && (rest[1] == '\0' || strchr(rest + 1, '/'))))
	{
		esq_error_response(resp, 404, "not_found", "no such endpoint", NULL);
		return;
	}
	is_item = (rest[0] == '/');
	if (is_item)
		id = rest + 1;
	resp->stat_route = 2 * route + (is_item ? 1 : 0);

	/*
	 * Method.  OPTIONS needs no key: a browser's CORS preflight never sends
	 * one.  HEAD runs the GET (its status and headers are the GET's);
	 * libmicrohttpd leaves the body out.
	 */
	allow = esq_routes[route].read_only ? ALLOW_READ_ONLY :
		is_item ? ALLOW_ITEM : ALLOW_COLLECTION;
	if (strcmp(req->method, "OPTIONS") == 0)
	{
		resp->status = 204;
		resp->allow = allow;
		resp->preflight = resp->cors_origin != NULL && req->cors_request_method != NULL;
		return;
	}
	if (!is_item && (strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0))
		action = ESQ_LIST;
	else if (!is_item && strcmp(req->method, "POST") == 0)
		action = ESQ_CREATE;
	else if (is_item && (strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0))
		action = ESQ_GET;
	else if (is_item && strcmp(req->method, "PATCH") == 0)
		action = ESQ_UPDATE;
	else if (is_item && strcmp(req->method, "DELETE") == 0)
		action = ESQ_DELETE;
	else
		action = ESQ_NACTIONS;
	if (action == ESQ_NACTIONS ||
		(esq_routes[route].read_only && action != ESQ_LIST && action != ESQ_GET))
	{
		esq_error_response(resp, 405, "method_not_allowed",
						   psprintf("method %s is not allowed here; allowed: %s", req->method, allow),
						   NULL);
		resp->allow = allow;
		return;
	}

	/* Authorization */
	token = bearer_token(req->authorization);
	if (token == NULL)
	{
		esq_error_response(resp, 401, "unauthorized",
						   req->authorization ?
						   "the Authorization header must be \"Bearer <API key>\"" :
						   "an API key is required: send \"Authorization: Bearer <API key>\"",
						   NULL);
		return;
	}

	/* Body */
	if (action == ESQ_CREATE || action == ESQ_UPDATE)
	{
		if (req->body_too_large)
		{
			esq_error_response(resp, 413, "payload_too_large",
							   psprintf("the request body is larger than esqase.http_max_body (%d bytes)",
										esq_http_max_body),
							   NULL);
			return;
		}
		if (!is_json_content_type(req->content_type))
		{
			esq_error_response(resp, 415, "unsupported_media_type",
							   "the request body must be application/json", NULL);
			return;
		}
	}

	if (id && !is_uuid(id))
	{
		esq_error_response(resp, 400, "bad_request", "the id in the path is not a valid UUID", "id");
		return;
	}
	if (action != ESQ_LIST && req->nargs > 0)
	{
		esq_error_response(resp, 400, "bad_request",
						   psprintf("unknown query parameter \"%s\": only lists take query parameters",
									req->args[0].key),
						   req->args[0].key);
		return;
	}
	if (action == ESQ_CREATE || action == ESQ_UPDATE)
	{
		if (!esq_json_check_body(req->body, req->body_len, errbuf, sizeof(errbuf)))
		{
			esq_error_response(resp, 400, "bad_request", errbuf, NULL);
			return;
		}
		json = pnstrdup(req->body, req->body_len);
	}
	else if (action == ESQ_LIST)
	{
		const char *bad_key;
		char	   *params = esq_json_params(req->args, req->nargs, errbuf, sizeof(errbuf),
											 &bad_key);

		if (params == NULL)
		{
			esq_error_response(resp, 400, "bad_request", errbuf, bad_key);
			return;
		}
		json = pstrdup(params);
		free(params);
	}

	/* SQL */
	call.route = route;
	call.action = action;
	call.token = token;
	call.id = id;
	call.json = json;
	call.activity = psprintf("%s %s", req->method, path);
	call.request_id = req->request_id;
	if_match_error = esq_etag_before(req, action, &call);
	esq_sql_call(&call, &res);

	if (res.json == NULL)
	{
		esq_error_response(resp, res.status, res.code, res.message, res.field);
		esq_etag_after(req, action, if_match_error, &res, resp);
		return;
	}
	resp->status = res.status;
	resp->durable_lsn = res.commit_lsn;
	if (res.status == 204)
	{
		resp->body = NULL;
		resp->body_len = 0;
	}
	else
	{
		resp->body = res.json;
		resp->body_len = strlen(res.json);
	}
	if (res.status == 201 && res.record_id)
		resp->location = psprintf("/v1/%s/%s", esq_routes[route].path, res.record_id);
	esq_etag_after(req, action, if_match_error, &res, resp);
}
