-------------------------------------------------------------------------------
-- 93 HTTP metrics (src/http_stats.c): counters the HTTP workers keep in
-- shared memory, all workers together, since the server started or the last
-- esqase.http_stats_reset().  Empty without shared_preload_libraries.
-------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION esqase.http_stats_read(OUT route text, OUT method text, OUT status integer,
                                       OUT requests bigint)
    RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'esqase_http_stats' LANGUAGE C VOLATILE PARALLEL RESTRICTED;
CREATE OR REPLACE FUNCTION esqase.http_latency_read(OUT route text, OUT method text, OUT le_ms double precision,
                                         OUT requests bigint)
    RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'esqase_http_latency' LANGUAGE C VOLATILE PARALLEL RESTRICTED;
CREATE OR REPLACE FUNCTION esqase.http_stats_reset() RETURNS void
    AS 'MODULE_PATHNAME', 'esqase_http_stats_reset' LANGUAGE C VOLATILE;
REVOKE EXECUTE ON FUNCTION esqase.http_stats_reset() FROM PUBLIC;

-- Requests answered, per route ('/v1/contacts', '/v1/contacts/{id}', ...,
-- 'other'), method and status (NULL: a status not in the list esqase uses).
CREATE OR REPLACE VIEW esqase.http_stats AS SELECT * FROM esqase.http_stats_read();
-- Latency histogram, cumulative as in Prometheus: requests answered within
-- le_ms milliseconds of their headers (le_ms NULL: all of them).
CREATE OR REPLACE VIEW esqase.http_latency AS SELECT * FROM esqase.http_latency_read();
