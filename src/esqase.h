/*
 * esqase.h — declarations shared by the C files of the esqase extension.
 *
 * The HTTP API is split in layers, one file each:
 *
 *   esqase.c       module init: settings (GUCs), shared memory, worker registration
 *   http_worker.c  the background worker: signals, database connection, event loop
 *   http_listen.c  the listening sockets, opened once by the postmaster
 *   http_server.c  libmicrohttpd glue (no SPI): daemons, access handler, answers;
 *                  with its rooms (http_server.h) http_conn.c (admission,
 *                  connection limits, deadlines), http_framing.c (framing,
 *                  body, query arguments) and http_log.c (request id, log line)
 *   http_tls.c     HTTPS certificate and key (GnuTLS), reloadable
 *   http_stats.c   request metrics in shared memory, SQL views, Prometheus
 *   http_response.c the answer: request memory context, error body, extra headers
 *   http_ratelimit.c  request budgets per API key in shared memory (429)
 *   http_routes.c  the route table and request dispatch: HTTP request -> SQL call
 *   http_openapi.c GET /v1/openapi.json, docs/openapi.json compiled in
 *   http_json.c    jansson: body checks, query-string -> params object
 *   http_sql.c     SQL calls: transaction, role switch, kept plans, error mapping
 *   http_durable.c when an answer may go out: commit mode, commit LSN,
 *                  synchronous standbys, answers held for the WAL flush
 *   idempotency.c  Idempotency-Key: the replay mark, the header check, the sweep
 *   http_etag.c    ETag, Last-Modified, If-None-Match (304), If-Match (412)
 *
 * and, outside the HTTP API:
 *
 *   context.c      the API context of a transaction (esqase_authenticate)
 *   guards.c       safe failure modes: the DROP guard, the CREATE EXTENSION notice
 *   restore.c      whether a trigger fires for a restore's COPY
 *   text_norm.c    nfc, fold, phone_keys: text functions every written row runs
 *   api_plans.c    how API statements are planned: never JIT, sized for a large firm (planner and executor hooks)
 *   counters.c     totals and public-id counters written once per transaction
 *   secrets.c      API keys kept out of the server log; esqase.api_key
 */
#ifndef ESQASE_H
#define ESQASE_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "lib/stringinfo.h"
#include "port/atomics.h"
#include "utils/guc.h"
#include "utils/uuid.h"

/*
 * The resources (routes, read-only, scopes): build/esq_registry.h, which
 * make generates from sql/registry.pl, the registry the SQL is generated
 * from too.
 */
#include "esq_registry.h"

/* context.c */
extern void esqase_context_init(void);
extern bool esqase_context_valid(void);
/* A context is set, or esqase_authenticate() is looking its key up. */
extern bool esq_context_active(void);
/* The firm of the transaction's API context; false if there is none. */
extern bool esq_context_firm_id(pg_uuid_t *firm);
#define ESQ_CONTEXT_REQUEST_ID_MAX 128
/* The HTTP request id written in the audit rows of the current transaction. */
extern void esq_context_set_request_id(const char *id);
/* The context of an API key by id, for the webhook worker (under SPI). */
extern bool esq_context_for_key(Datum key_id);
extern void esq_context_clear(void);

/* api_plans.c: installs the planner and executor hooks of API statements. */
extern void esq_api_plans_init(void);

/* counters.c: registers the callbacks that write the counters at commit. */
extern void esq_counters_init(void);
/* secrets.c: the esqase.api_key setting and the log hook that redacts keys. */
extern void esq_secrets_init(void);

/*
 * An API key's token is "esq_", the key's public prefix (12 hex digits:
 * esqase.api_keys.prefix, read in SQL by esqase.token_prefix), "_" and the
 * secret.  esq_key_prefix is the one C reader of that shape (the log
 * redaction, the request log, the rate limiter): the prefix's first byte
 * if token starts like a key, else NULL.
 */
#define ESQ_KEY_PREFIX_LEN 12
extern const char *esq_key_prefix(const char *token);

/* ------------------------------------------------------------------------
 * esqase.c: settings
 * ------------------------------------------------------------------------
 */
#define ESQ_MAX_WORKERS 64

/*
 * Ceiling of esqase.http_max_body.  A body is copied (pnstrdup, text) and
 * parsed into a jsonb tree in one backend, where any allocation over 1 GB
 * fails as an internal error: 16 MB keeps every step well below that.
 */
#define ESQ_MAX_BODY_LIMIT (16 * 1024 * 1024)

extern int	esq_http_port;
extern char *esq_http_listen_addresses;
extern int	esq_http_workers;
/* The number of HTTP workers started (esqase.http_workers, -1 resolved). */
extern int	esq_worker_count(void);
extern char *esq_database;
extern char *esq_http_role;
extern int	esq_http_max_body;
extern int	esq_http_idle_timeout;
extern int	esq_http_request_timeout;
extern int	esq_http_header_timeout;
extern int	esq_http_body_timeout;
extern int	esq_http_statement_timeout;
extern int	esq_http_max_connections;
extern int	esq_http_max_connections_per_ip;
extern int	esq_http_connection_memory;
extern int	esq_http_log_level;
extern char *esq_http_access_log;
/* http_log.c: closes the access-log file (after a reload); reopened by name */
extern void esq_log_access_reopen(void);
extern char *esq_http_cors_origins;
extern char *esq_http_metrics_path;
extern char *esq_http_tls_cert_file;
extern char *esq_http_tls_key_file;
extern char *esq_http_tls_priorities;
extern int	esq_http_rate_limit;
extern int	esq_http_rate_limit_window;
extern bool esq_allow_drop;

/*
 * True when loaded through shared_preload_libraries.  When false, only the
 * session settings (esqase.allow_drop) are defined: the esq_http_* and
 * esq_database variables above keep their C defaults and must not be
 * read outside the HTTP workers, which exist only when preloaded.
 */
extern bool esq_preloaded;

/* ------------------------------------------------------------------------
 * guards.c
 * ------------------------------------------------------------------------
 */
/* Installs the utility hook behind the CREATE EXTENSION notice. */
extern void esq_guards_init(void);
/* Extension esqase's oid here (InvalidOid: none); schema, owner, row xmin. */
extern Oid	esq_extension_lookup(Oid *nsp, Oid *owner, TransactionId *xmin);

/*
 * HTTP metrics (http_stats.c): routes are 3 * route + 0 (the collection),
 * 1 (an item) or 2 (an item's sub-list), then "other", so a slot for every
 * route of the registry.
 */
#define ESQ_STAT_ROUTES (3 * ESQ_NROUTES + 1)
#define ESQ_STAT_METHODS 7
/*
 * Every status esqase itself answers, each with its own metrics label: the
 * one list (http_stats.c counts by it; a status outside it is "other" and
 * logged once per worker, so a new answer that misses the list shows).
 * libmicrohttpd's own answers to malformed requests (docs/http-api.md,
 * "Errors") never reach esqase and are not counted.
 */
#define ESQ_HTTP_STATUS_LIST \
	200, 201, 204, 304, 400, 401, 403, 404, 405, 409, 412, 413, 415, 422, 429, \
	500, 503, 504
#define ESQ_STAT_STATUSES ((int) lengthof(((int[]) {ESQ_HTTP_STATUS_LIST})) + 1)	/* and "other" */
#define ESQ_STAT_BUCKETS 12

typedef struct EsqStats
{
	pg_atomic_uint64 requests[ESQ_STAT_ROUTES][ESQ_STAT_METHODS][ESQ_STAT_STATUSES];
	pg_atomic_uint64 latency[ESQ_STAT_ROUTES][ESQ_STAT_METHODS][ESQ_STAT_BUCKETS];
	pg_atomic_uint64 latency_sum_us[ESQ_STAT_ROUTES][ESQ_STAT_METHODS];
} EsqStats;

/* The asynchronous commits of a slot of firms (http_durable.c). */
#define ESQ_ASYNC_SLOTS 64
typedef struct EsqAsyncSlot
{
	pg_atomic_uint64 lsn;		/* the highest one's end */
	pg_atomic_uint32 committing;	/* how many are under way */
} EsqAsyncSlot;

/* Shared memory: one slot per worker, survives worker restarts. */
typedef struct EsqShared
{
	/* set before connecting to esqase.database, cleared once connected */
	bool		connecting[ESQ_MAX_WORKERS];
	/* whether esqase.database exists, as last seen (ESQ_DB_*, http_worker.c) */
#define ESQ_DB_UNKNOWN	0
#define ESQ_DB_CHECKING 1		/* a worker is running the check */
#define ESQ_DB_EXISTS	2
#define ESQ_DB_MISSING	3
	pg_atomic_uint32 db_state;
	EsqStats	stats;
	/*
	 * http_durable.c: commits made with synchronous_commit = off, per slot
	 * of firms (a firm's id hashed), the last one for a commit of no firm
	 */
	EsqAsyncSlot async[ESQ_ASYNC_SLOTS + 1];
	/* webhook_worker.c: the delivery worker's pgprocno + 1 (0: none) */
	pg_atomic_uint32 webhook_procno;
} EsqShared;

extern void esq_stats_init(EsqStats *st);
extern void esq_stats_record(int route, const char *method, int status, int64 duration_us);
/* The Prometheus text format of the counters (palloc'd). */
extern char *esq_stats_prometheus(void);

extern EsqShared *esq_shared;

/* ------------------------------------------------------------------------
 * http_worker.c
 * ------------------------------------------------------------------------
 */
extern PGDLLEXPORT void esqase_http_worker_main(Datum main_arg);
extern PGDLLEXPORT void esqase_database_check_main(Datum main_arg);

/* ------------------------------------------------------------------------
 * webhook_url.c, webhook_worker.c: webhooks (docs/http-api.md "Webhooks")
 * ------------------------------------------------------------------------
 */
struct sockaddr;

extern bool esq_webhook_allow_private;
extern int	esq_webhook_timeout;
extern int	esq_webhook_retry_window;
extern int	esq_webhook_retention;
/* The problem with url's form as a webhook's target (NULL: none; then *host). */
extern const char *esq_webhook_url_parse(const char *url, char **host);
/* Whether no webhook may reach the address (its text in text, INET6_ADDRSTRLEN). */
extern bool esq_webhook_address_forbidden(const struct sockaddr *sa, char *text);
/* The refusal of a host for its forbidden address bad. */
extern const char *esq_webhook_address_problem(const char *host, const char *bad);
extern PGDLLEXPORT void esqase_webhook_worker_main(Datum main_arg);
/*
 * http_worker.c: whether esqase.database is known to be missing (the first
 * worker to ask checks, once, without a FATAL); whether it exists now (in
 * a process connected to no database; the first to see it says so).
 */
extern bool esq_database_known_missing(void);
extern bool esq_database_appeared(void);
extern void esq_webhook_register_worker(void);
extern void esq_webhook_init(void);

/* ------------------------------------------------------------------------
 * http_listen.c: the listening sockets
 * ------------------------------------------------------------------------
 */
/*
 * In the postmaster: opens the listening sockets once (the workers inherit
 * them).  Logs and opens none if the port is in use.
 */
extern void esq_http_listen(void);
extern int	esq_http_nlisteners(void);

/* ------------------------------------------------------------------------
 * http_server.c: libmicrohttpd daemons of this worker
 * ------------------------------------------------------------------------
 */
/* In a worker: one daemon per inherited socket; returns how many started. */
extern int	esq_http_start(void);
extern void esq_http_stop(void);
extern int	esq_http_ndaemons(void);
extern const char *esq_http_bound_addresses(void);
extern int	esq_http_daemon_fd(int i);
/* The epoll fd of the connections' watch (http_conn.c), or -1. */
extern int	esq_http_watch_fd(void);
/* Milliseconds until libmicrohttpd needs to run again, -1 if no deadline. */
extern long esq_http_timeout_ms(void);
/* Lets libmicrohttpd process whatever is ready, then enforces deadlines. */
extern void esq_http_run(void);

/* ------------------------------------------------------------------------
 * http_tls.c: HTTPS credentials (GnuTLS)
 * ------------------------------------------------------------------------
 */
/* True if esqase.http_tls_cert_file is set (the API speaks HTTPS only). */
extern bool esq_tls_enabled(void);
/* (Re)loads the certificate and key; false after a WARNING if they fail. */
extern bool esq_tls_load(void);
extern void *esq_tls_cert_callback(void);
/*
 * The last bytes esqase sends on a TLS session (a GnuTLS session as
 * libmicrohttpd's MHD_CONNECTION_INFO_GNUTLS_SESSION gives it), then its
 * close_notify; the bytes sent, or -1.
 */
extern ssize_t esq_tls_send_last(void *session, const void *buf, size_t len);

/*
 * esqase.http_tls_priorities' default: Mozilla's "intermediate" (TLS 1.2
 * and 1.3; in 1.2 ECDHE or DHE with AES-GCM or ChaCha20-Poly1305 only).
 */
#define ESQ_TLS_PRIORITIES_DEFAULT \
	"NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-RSA:-CIPHER-ALL:+AES-128-GCM:" \
	"+AES-256-GCM:+CHACHA20-POLY1305:-MAC-ALL:+AEAD:%SERVER_PRECEDENCE"
/* Its check hook; the string for daemons now starting; whether it changed since. */
extern bool esq_tls_check_priorities(char **newval, void **extra, GucSource source);
extern const char *esq_tls_priorities(void);
extern bool esq_tls_priorities_changed(void);

/* ------------------------------------------------------------------------
 * http_routes.c: the route table and dispatch
 * ------------------------------------------------------------------------
 */
typedef enum EsqAction
{
	ESQ_LIST,
	ESQ_CREATE,
	ESQ_GET,
	ESQ_UPDATE,
	ESQ_DELETE,
	ESQ_SUB_LIST,				/* GET /v1/<path>/{id}/<sub_list> */
	ESQ_NACTIONS
} EsqAction;

typedef struct EsqRoute
{
	const char *path;			/* URL segment, e.g. "practice-areas" */
	const char *sqlname;		/* SQL spelling, e.g. "practice_areas" */
	bool		read_only;		/* GET only (list and read) */
	const char *sub_list;		/* GET /v1/<path>/{id}/<sub_list>, or NULL */
} EsqRoute;

extern const EsqRoute esq_routes[];
extern const int esq_nroutes;

typedef struct EsqQueryArg
{
	const char *key;
	const char *value;			/* NULL for "?key" without "=" */
} EsqQueryArg;

/* A complete request, as the HTTP layer hands it over. */
typedef struct EsqHttpRequest
{
	const char *method;
	const char *path;
	const char *authorization;	/* NULL if absent */
	const char *content_type;	/* NULL if absent */
	const char *origin;			/* Origin, NULL if absent */
	const char *cors_request_method;	/* Access-Control-Request-Method */
	const char *request_id;		/* X-Request-Id (echoed or generated) */
	const char *if_match;		/* If-Match, NULL if absent */
	const char *if_none_match;	/* If-None-Match, NULL if absent */
	const char *idempotency_key;	/* Idempotency-Key, NULL if absent */
	int			nargs;
	EsqQueryArg *args;
	const char *body;			/* not NUL-terminated */
	size_t		body_len;
	bool		body_too_large;
} EsqHttpRequest;

/* A response header beyond the fixed ones of EsqHttpResponse. */
#define ESQ_MAX_EXTRA_HEADERS 8
typedef struct EsqHeader
{
	const char *name;			/* a string constant */
	char	   *value;
} EsqHeader;

/* The answer; strings live in the request memory context. */
typedef struct EsqHttpResponse
{
	int			status;
	char	   *body;			/* NULL for no body */
	size_t		body_len;
	const char *allow;			/* Allow header for 405 and OPTIONS */
	const char *cors_origin;	/* Access-Control-Allow-Origin, or NULL */
	bool		vary_origin;	/* the answer depends on Origin (CORS on) */
	bool		preflight;		/* a CORS preflight: Allow-Methods etc. */
	const char *content_type;	/* NULL: application/json; charset=utf-8 */
	int			stat_route;		/* for the metrics: 3 * route + 0, 1, 2; -1 */
	char	   *location;		/* Location header for 201 */
	bool		www_authenticate;
	uint64		durable_lsn;	/* send only once WAL is flushed this far (0: now) */
	bool		no_answer;		/* send nothing, close the connection (http_durable.c) */
	int			nheaders;
	EsqHeader	headers[ESQ_MAX_EXTRA_HEADERS];	/* esq_response_add_header */
} EsqHttpResponse;

/*
 * Answers one complete request; SQL errors become statuses.  Called under
 * esq_guard, which makes any other ERROR (out of memory) a 500.
 */
extern void esq_dispatch(const EsqHttpRequest *req, EsqHttpResponse *resp);
/* The token of an Authorization header "Bearer <token>" (palloc'd), or NULL. */
extern char *esq_bearer_token(const char *header);

/*
 * http_openapi.c: answers GET, HEAD and OPTIONS of /v1/openapi.json (405 for
 * other methods) and returns true; false for any other path.
 */
extern bool esq_openapi_answer(const EsqHttpRequest *req, EsqHttpResponse *resp);

/* ------------------------------------------------------------------------
 * http_response.c: the answer
 * ------------------------------------------------------------------------
 */
/* Memory context of one request and its answer, reset after each. */
extern MemoryContext esq_request_context;

/*
 * The message of every 500 (the details go to the server log only), and the
 * whole body of a 500 sent where no memory may be allocated (after an ERROR,
 * or a failed flush): a constant.
 */
#define ESQ_INTERNAL_ERROR_MESSAGE "internal error (see the server log)"
extern const char esq_internal_error_body[];
extern const size_t esq_internal_error_body_len;
/* The message of a 413, whichever layer finds the body too large. */
#define ESQ_BODY_TOO_LARGE_FORMAT "the request body is larger than esqase.http_max_body (%d bytes)"

/* Makes resp the error {"error":{status, code, message, field}}. */
extern void esq_error_response(EsqHttpResponse *resp, int status,
							   const char *code, const char *message,
							   const char *field);
/* 204 to OPTIONS (a CORS preflight if the origin may ask); 405, with Allow. */
extern void esq_options_response(EsqHttpResponse *resp, const EsqHttpRequest *req,
								 const char *allow);
extern void esq_method_not_allowed(EsqHttpResponse *resp, const char *method,
								   const char *allow);
/*
 * Runs fn(arg) so that an ERROR in it does not escape: it is logged, the
 * error state flushed, any transaction aborted and the request memory
 * context reset; returns false then.  Every PostgreSQL call made from a
 * libmicrohttpd callback runs under it, so nothing longjmps through
 * libmicrohttpd's frames.
 */
extern bool esq_guard(void (*fn) (void *arg), void *arg);

/*
 * esqase.debug_fail_in_callback (for tests only): raises an ERROR at the
 * named point of a libmicrohttpd callback, to prove esq_guard.
 */
#define ESQ_DEBUG_FAIL_OFF 0
#define ESQ_DEBUG_FAIL_ANSWER 1		/* after the dispatch, before the answer is queued */
#define ESQ_DEBUG_FAIL_LOG 2		/* in the request log line, after it is queued */
#define ESQ_DEBUG_FAIL_FLUSH 3		/* in the round's WAL flush for held answers */
extern int	esq_debug_fail_in_callback;
extern void esq_debug_fail(int point);

/* Adds a header to the answer (value copied); sent with every status. */
extern void esq_response_add_header(EsqHttpResponse *resp, const char *name,
									const char *value);

/* ------------------------------------------------------------------------
 * http_ratelimit.c: request budgets per API key (shared memory)
 * ------------------------------------------------------------------------
 */
extern Size esq_rate_shmem_size(void);
extern void esq_rate_shmem_request(void);
extern void esq_rate_shmem_init(void);

/*
 * Charges a request to the key of token (by its prefix), before any SQL,
 * if the key has a slot.  True: go on.  False: over budget, resp is the
 * 429.  With esqase.http_rate_limit on, resp gets the RateLimit-* headers
 * either way.  *admit: no slot was charged; once the key has authenticated
 * (the answer is not a 401), esq_rate_limit_admit gives it one and charges
 * the request (made-up tokens never take a slot).
 */
extern bool esq_rate_limit(const char *token, EsqHttpResponse *resp, bool *admit);
extern void esq_rate_limit_admit(const char *token, EsqHttpResponse *resp);

/* ------------------------------------------------------------------------
 * http_json.c: jansson checks (no palloc, no ereport)
 * ------------------------------------------------------------------------
 */
#define ESQ_JSON_MAX_DEPTH 32

/*
 * Checks that buf is one JSON object with no duplicate keys and at most
 * ESQ_JSON_MAX_DEPTH levels of nesting.  On failure returns false and
 * writes a message to errbuf.
 */
extern bool esq_json_check_body(const char *buf, size_t len,
								char *errbuf, size_t errlen);

/*
 * Builds the params object from query arguments; returns a malloc'd JSON
 * text (free() it) or NULL with a message in errbuf and the name of the
 * argument at fault (repeated, or not UTF-8) in *bad_key.
 */
extern char *esq_json_params(const EsqQueryArg *args, int nargs,
							 char *errbuf, size_t errlen, const char **bad_key);
extern size_t esq_json_compact(const char *json, char *out);

/* ------------------------------------------------------------------------
 * http_sql.c: SQL calls (no HTTP)
 * ------------------------------------------------------------------------
 */
typedef struct EsqSqlCall
{
	int			route;			/* index in esq_routes */
	EsqAction	action;
	const char *token;
	const char *id;				/* uuid text, for get/update/delete */
	const char *json;			/* params (list) or body (create/update) */
	const char *activity;		/* shown in pg_stat_activity */
	const char *request_id;		/* written in the audit rows */
	const char *idempotency_key;	/* create: Idempotency-Key, or NULL */
	/* update/delete: the version If-Match expects (expected_updated_at) */
	bool		expect_version;
	TimestampTz expected_version;
} EsqSqlCall;

typedef struct EsqSqlResult
{
	int			status;			/* HTTP status */
	char	   *json;			/* success: the function's result */
	char	   *record_id;		/* success: data.id, if any */
	const char *code;			/* error: stable error code */
	char	   *message;		/* error: message */
	char	   *field;			/* error: JSON field at fault, or NULL */
	uint64		answer_lsn;		/* send only once WAL is flushed this far (0: now) */
	bool		no_answer;		/* send nothing: shutting down, commit unconfirmed */
	bool		replayed;		/* create: the stored response of an earlier
								 * request with the same Idempotency-Key */
	bool		authenticated;	/* the key authenticated, whatever came after */
	/* success: the version (updated_at) of the one record returned */
	bool		has_version;
	TimestampTz version;
} EsqSqlResult;

/* Called once connected to esqase.database. */
extern void esq_sql_init(void);

/* Called when the worker runs without a database; every call is a 503. */
extern void esq_sql_set_no_database(void);

/* Runs one API call in its own transaction; never throws. */
extern void esq_sql_call(const EsqSqlCall *call, EsqSqlResult *res);

/*
 * Checks only the call's key and scope, in its own transaction: status 200
 * if they pass, else the error (401, 403, 503); never throws.
 */
extern void esq_sql_check_access(const EsqSqlCall *call, EsqSqlResult *res);
/* False, with res holding the 503, if the API cannot serve at all. */
extern bool esq_sql_ready(const char *activity, EsqSqlResult *res);
/* The role of API work (esqase.http_role), or InvalidOid and why not. */
extern Oid	esq_api_role(char *problem, size_t size);

/* ------------------------------------------------------------------------
 * http_durable.c: when an answer may go out (durability)
 * ------------------------------------------------------------------------
 */
typedef enum EsqDurableVerdict
{
	ESQ_DURABLE_ANSWER,			/* answer, once WAL is flushed to answer_lsn */
	ESQ_DURABLE_NOT_REPLICATED, /* 503 not_replicated: standbys did not confirm */
	ESQ_DURABLE_NO_ANSWER		/* shutting down during the wait: send nothing */
} EsqDurableVerdict;

/*
 * Around the commit of a request's transaction (http_sql.c): begin just
 * after StartTransactionCommand, before_commit just before
 * CommitTransactionCommand (the statement timeout already disarmed),
 * after_commit just after it; abort on every error path.
 */
extern void esq_durable_begin(bool write);
extern void esq_durable_before_commit(bool replayed);
extern EsqDurableVerdict esq_durable_after_commit(bool replayed, uint64 *answer_lsn);
extern void esq_durable_abort(void);

/* ------------------------------------------------------------------------
 * idempotency.c: Idempotency-Key on POST (the rule is in 15_idempotency.sql)
 * ------------------------------------------------------------------------
 */
extern int	esq_idempotency_sweep_interval;	/* seconds */

/* Cleared before an API call; true after it if the response was a replay. */
extern void esq_idempotency_reset(void);
extern bool esq_idempotency_replayed(void);

/*
 * For the dispatch: before the SQL call, puts a POST's Idempotency-Key into
 * call, or returns the message of a 400 (NULL: fine); after a successful
 * call, adds Idempotent-Replayed: true to a replay's answer.
 */
extern const char *esq_idempotency_key(const EsqHttpRequest *req, EsqAction action,
									   EsqSqlCall *call);
extern void esq_idempotency_response(const EsqSqlResult *res, EsqHttpResponse *resp);

/* The sweep of expired keys, run between requests by the first worker. */
extern long esq_idempotency_sweep_wait_ms(void);
extern void esq_idempotency_sweep(void);

/* ------------------------------------------------------------------------
 * http_etag.c: ETag, Last-Modified, If-Match, If-None-Match
 * ------------------------------------------------------------------------
 */
/* The version SQL 0.2.0's esqase.note_version noted in this call (http_sql.c). */
extern void esq_etag_forget_version(void);
extern bool esq_etag_noted_version(TimestampTz *version);

/*
 * Before the SQL call of a PATCH or DELETE: the version If-Match expects,
 * into call.  Returns NULL, or the message of a 400 to give instead of
 * the 412 a malformed If-Match then gets (after authentication).
 */
extern const char *esq_etag_before(const EsqHttpRequest *req, EsqAction action,
								   EsqSqlCall *call);

/*
 * After the response is built: ETag and Last-Modified on single-record
 * responses, 304 for a matching If-None-Match, the 412 or 400 of If-Match.
 */
extern void esq_etag_after(const EsqHttpRequest *req, EsqAction action,
						   const char *if_match_error, const EsqSqlResult *res,
						   EsqHttpResponse *resp);

#endif							/* ESQASE_H */
