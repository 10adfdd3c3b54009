# 011_http_metrics.pl — request counts and latency histogram shared by the
# workers: esqase.http_stats / esqase.http_latency, the reset, and the
# Prometheus text on esqase.http_metrics_path (off by default).
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use EsqaseHttp;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = esq_node('metrics');
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION esqase');
my ($token) = make_key($node, owner => 1);
my %T = (token => $token);
my $r = wait_for_status($node, 'GET', '/v1/contacts', 200, %T);
is($r->{status}, 200, 'serving');

api($node, 'GET', '/metrics', 404, name => 'no metrics path by default');
$node->safe_psql('postgres', 'SELECT esqase.http_stats_reset()');
is($node->safe_psql('postgres', 'SELECT count(*) FROM esqase.http_stats'), '0', 'reset: no rows');

# 12 list GETs (on new connections: both workers count), 3 creates, a read,
# a 404 route, a 401
api($node, 'GET', '/v1/contacts', 200, %T) for 1 .. 12;
my $id;
$id = api($node, 'POST', '/v1/contacts', 201, %T,
	body => { type => 'COMPANY', companyName => "M$_" })->{json}{data}{id} for 1 .. 3;
api($node, 'GET', "/v1/contacts/$id", 200, %T);
api($node, 'GET', '/v1/nowhere', 404, %T);
api($node, 'GET', '/v1/matters', 401);

is( $node->safe_psql('postgres',
		"SELECT string_agg(format('%s %s %s %s', route, method, status, requests), '; ' "
		  . "ORDER BY route, method, status) FROM esqase.http_stats"),
	'/v1/contacts GET 200 12; /v1/contacts POST 201 3; /v1/contacts/{id} GET 200 1; '
	  . '/v1/matters GET 401 1; other GET 404 1',
	'counts per route, method and status, over both workers');
is( $node->safe_psql('postgres',
		"SELECT requests FROM esqase.http_latency WHERE route = '/v1/contacts' AND method = 'GET' AND le_ms IS NULL"),
	'12', 'the histogram counts every request in +Inf');
is( $node->safe_psql('postgres',
		"SELECT bool_and(requests <= lead) FROM (SELECT requests, lead(requests, 1, requests) OVER (ORDER BY le_ms NULLS LAST) "
		  . "FROM esqase.http_latency WHERE route = '/v1/contacts' AND method = 'GET') b"),
	't', 'and is cumulative');
my $workers = $node->safe_psql('postgres',
	"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'esqase http'");
is($workers, '2', 'two workers');

my ($ok, $out, $err) = $node->psql('postgres', 'SELECT esqase.http_stats_reset()',
	extra_params => [ '-U', 'esqase_api' ]);
isnt($ok, 0, 'esqase_api may not reset the counters');

# Prometheus text on an opt-in path, without a key
$node->append_conf('postgresql.conf', "esqase.http_metrics_path = '/metrics'\n");
$node->reload;
$r = wait_for_status($node, 'GET', '/metrics', 200, timeout_s => 20);
is($r->{status}, 200, 'GET /metrics -> 200 once esqase.http_metrics_path is set');
like($r->{headers}{'content-type'}, qr{^text/plain; version=0\.0\.4}, 'Prometheus content type');
like($r->{content}, qr{^esqase_http_requests_total\{route="/v1/contacts",method="GET",status="200"\} 12$}m,
	'requests_total');
like($r->{content}, qr{^esqase_http_request_duration_seconds_bucket\{route="/v1/contacts",method="POST",le="\+Inf"\} 3$}m,
	'histogram +Inf bucket');
like($r->{content}, qr{^esqase_http_request_duration_seconds_count\{route="/v1/contacts",method="POST"\} 3$}m,
	'histogram count');
like($r->{content}, qr{^# TYPE esqase_http_request_duration_seconds histogram$}m, 'TYPE lines');

$node->safe_psql('postgres', 'SELECT esqase.http_stats_reset()');
$r = api_raw($node, 'GET', '/metrics');
unlike($r->{content}, qr/esqase_http_requests_total\{/, 'reset: no counters left');

# ---------------------------------------------------------------------------
# Every status esqase answers is counted under its own label, none as
# "other" (NULL in esqase.http_stats).  A stand-in esqase.contacts_get
# raises the SQLSTATEs behind the statuses no ordinary request provokes.
# ---------------------------------------------------------------------------
raise_on_get($node, map { ("00000000-0000-4000-8000-000000000$_->[0]" => $_->[1]) }
	[ 409, '23505' ], [ 500, 'XX000' ], [ 503, '53400' ], [ 504, '57014' ]);
$node->safe_psql('postgres', 'SELECT esqase.http_stats_reset()');
my ($reader) = make_key($node, scopes => ["contacts:read"]);
my %sent;
my $send = sub {
	my ($status, $method, $path, %o) = @_;
	my $r = api($node, $method, $path, $status, %o, name => "metrics: $method $path -> $status");
	$sent{$status}++;
	return $r;
};
my $c = $send->(201, 'POST', '/v1/contacts', %T, body => { type => 'PERSON', firstName => 'Mia' })->{json}{data}{id};
my $got = $send->(200, 'GET', "/v1/contacts/$c", %T);
$send->(304, 'GET', "/v1/contacts/$c", %T, headers => { 'If-None-Match' => $got->{headers}{etag} });
$send->(412, 'PATCH', "/v1/contacts/$c", %T, headers => { 'If-Match' => '"0-0"' }, body => { nickname => 'M' });
$send->(422, 'PATCH', "/v1/contacts/$c", %T, body => { type => 'COMPANY' });
$send->(204, 'DELETE', "/v1/contacts/$c", %T);
$send->(400, 'GET', '/v1/contacts/not-an-id', %T);
$send->(401, 'GET', '/v1/contacts');
$send->(403, 'POST', '/v1/contacts', token => $reader, body => { type => 'PERSON', firstName => 'No' });
$send->(404, 'GET', '/v1/nowhere', %T);
$send->(405, 'PUT', '/v1/contacts', %T, body => {});
$send->(413, 'POST', '/v1/contacts', %T, body => '{"n": "' . ('x' x (2 * 1024 * 1024)) . '"}');
$send->(415, 'POST', '/v1/contacts', %T, body => '{}', headers => { 'Content-Type' => 'text/plain' });
$send->($_, 'GET', "/v1/contacts/00000000-0000-4000-8000-000000000$_", %T) for 409, 500, 503, 504;
$node->append_conf('postgresql.conf', "esqase.http_rate_limit = 1\n");
$node->reload;
wait_for_status($node, 'GET', '/v1/contacts', 429, %T);
$sent{429}++;
$node->append_conf('postgresql.conf', "esqase.http_rate_limit = 0\n");
$node->reload;

my @list = sort { $a <=> $b } keys %sent;
is(join(' ', @list), '200 201 204 304 400 401 403 404 405 409 412 413 415 422 429 500 503 504',
	'every status esqase answers was sent');
is($node->safe_psql('postgres', 'SELECT string_agg(DISTINCT status::text, \' \' ORDER BY status::text) '
		. 'FROM esqase.http_stats WHERE status IS NOT NULL'),
	join(' ', sort @list), 'each is counted under its own status');
is($node->safe_psql('postgres', 'SELECT count(*) FROM esqase.http_stats WHERE status IS NULL'),
	'0', 'none is counted as "other"');
$r = api_raw($node, 'GET', '/metrics');
like($r->{content}, qr/status="$_"/, "Prometheus has a label for $_") for @list;
unlike($r->{content}, qr/status="other"/, 'and none for "other"');

$node->stop;
done_testing();
