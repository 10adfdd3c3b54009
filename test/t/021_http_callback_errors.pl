# Nothing longjmps through libmicrohttpd (esq_guard, src/http_response.c):
# an ERROR raised by PostgreSQL code inside a libmicrohttpd callback becomes
# a 500 for that request, the worker lives on, and the request's memory is
# reset.  esqase.debug_fail_in_callback (a setting for tests) raises one at
# three points: after the dispatch ("answer"), in the request log line once
# the answer is queued ("log"), and in the round's WAL flush for held
# answers ("flush").
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use EsqaseHttp;

# the WAL writer slowed, so that a write's answer is held for the worker's own flush
my $node = esq_node('guard', wal_writer_delay => "'10s'");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION esqase');
my ($key) = make_key($node, owner => 1);
my $r = wait_for_status($node, 'GET', '/v1/contacts', 200, token => $key);
is($r->{status}, 200, 'serving');

sub workers
{
	return $node->safe_psql('postgres',
		"SELECT string_agg(pid::text, ',' ORDER BY pid) FROM pg_stat_activity "
		  . "WHERE backend_type = 'esqase http'");
}
my $pids = workers();

sub inject
{
	my ($point) = @_;
	$node->safe_psql('postgres', "ALTER SYSTEM SET esqase.debug_fail_in_callback = '$point'");
	$node->reload;
}

# "answer": the dispatch ran; the ERROR comes before the answer is queued.
inject('answer');
$r = wait_for_status($node, 'GET', '/v1/contacts', 500, token => $key);
is($r->{status}, 500, 'an ERROR in the access handler is a 500');
is($r->{json} && $r->{json}{error}{code}, 'internal_error', 'with the JSON error body');
ok($r->{headers}{'x-request-id'}, 'and its request id');
is($r->{headers}{connection}, 'close', 'and the connection is closed after it');
for (1 .. 200)
{
	$r = api_raw($node, 'GET', '/v1/contacts?limit=50', token => $key);
	last if $r->{status} != 500;
}
is($r->{status}, 500, '200 more of them, all 500');
is(workers(), $pids, 'the workers are the same processes');

# The request memory is reset after each: each worker's context is as small
# as a fresh one.
$node->safe_psql('postgres', "SELECT pg_log_backend_memory_contexts(pid) FROM pg_stat_activity "
	  . "WHERE backend_type = 'esqase http'");
ok( $node->poll_query_until('postgres', 'SELECT true')
	  && wait_log(qr/esqase request: (\d+) total in/), 'the workers log their memory contexts');
my @sizes = slurp_file($node->logfile) =~ /esqase request: (\d+) total in/g;
ok(@sizes >= 2, 'both workers report the request context');
ok(!grep({ $_ > 16384 } @sizes), 'the request context is reset (' . join(', ', @sizes) . ' bytes)');

sub wait_log
{
	my ($re) = @_;
	for (1 .. 100)
	{
		return 1 if slurp_file($node->logfile) =~ $re;
		select(undef, undef, undef, 0.1);
	}
	return 0;
}

# "log": the answer is queued, then the log line fails: the answer stands.
inject('log');
$r = wait_for_status($node, 'GET', '/v1/contacts/00000000-0000-4000-8000-000000000000', 404,
	token => $key);
is($r->{status}, 404, 'an ERROR after the answer is queued leaves the answer as it is');
ok(wait_log(qr/ERROR:  esqase: error injected by esqase.debug_fail_in_callback/),
	'the ERROR is in the server log');
is(workers(), $pids, 'the workers are the same processes');

# "flush": the round's flush for held answers fails: they are 500s, not 2xx.
inject('flush');
$r = wait_for_status($node, 'POST', '/v1/contacts', 500, token => $key,
	body => { type => 'PERSON', firstName => 'Unflushed' });
is($r->{status}, 500, 'a write whose flush failed is not answered 2xx');
is($r->{json} && $r->{json}{error}{code}, 'internal_error', 'but 500 internal_error');
is(workers(), $pids, 'the workers are the same processes');

inject('off');
$r = wait_for_status($node, 'POST', '/v1/contacts', 201, token => $key,
	body => { type => 'PERSON', firstName => 'Fine' });
is($r->{status}, 201, 'with the setting off, writes are answered 201');
api($node, 'GET', '/v1/contacts', 200, token => $key);
is(workers(), $pids, 'no worker was restarted at any point');
unlike(slurp_file($node->logfile), qr/esqase http.*exited with exit code/,
	'no worker exited');

$node->stop;
done_testing();
