/*
 * http_openapi.c — GET /v1/openapi.json: the OpenAPI 3.1 description of the
 * HTTP API.
 *
 * The document's one source is docs/openapi.json; the Makefile turns it
 * into the C string below (tools/c_string.pl, src/openapi_json.inc), so the
 * worker serves exactly the document its library was built with, with no
 * file to find at run time.  No key and no SQL: like OPTIONS, it only
 * describes.  Query parameters are ignored (cache busters).
 * test/t/018_http_openapi.pl validates the document and checks it against the
 * live server: every route, method, parameter and status.
 */
#include "postgres.h"

#include "esqase.h"

#include "openapi_json.inc"

#define OPENAPI_PATH "/v1/openapi.json"
#define ALLOW_OPENAPI "GET, HEAD, OPTIONS"

/*
 * Answers /v1/openapi.json and returns true, or returns false for any other
 * path (esq_dispatch's step_openapi).  resp->cors_origin is already set.
 */
bool
esq_openapi_answer(const EsqHttpRequest *req, EsqHttpResponse *resp)
{
	if (strcmp(req->path, OPENAPI_PATH) != 0)
		return false;
	/* as for every answer of the API (step_route) */
	resp->vary_origin = esq_http_cors_origins && esq_http_cors_origins[0] != '\0';
	if (strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0)
	{
		resp->status = 200;
		/* libmicrohttpd copies the body (MHD_RESPMEM_MUST_COPY) */
		resp->body = (char *) esq_openapi_json;
		resp->body_len = sizeof(esq_openapi_json) - 1;
	}
	else if (strcmp(req->method, "OPTIONS") == 0)
		esq_options_response(resp, req, ALLOW_OPENAPI);
	else
		esq_method_not_allowed(resp, req->method, ALLOW_OPENAPI);
	return true;
}
