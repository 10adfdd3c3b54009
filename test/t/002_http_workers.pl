# 002_http_workers.pl — the workers as processes: a request blocked on a row
# lock does not stop the other worker; statement timeout; the SQLSTATE ->
# status mapping; slow and idle clients; SIGKILL of a worker; a database
# created after the workers started.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use EsqaseHttp;
use HTTP::Tiny;
use IO::Select;
use IO::Socket::INET;
use IPC::Run;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

my $node = esq_node('workers',
	restart_after_crash => 'on',
	'esqase.http_request_timeout' => '3s',
	'esqase.http_idle_timeout' => '2s');
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION esqase');
my ($token) = make_key($node, owner => 1);
my %T = (token => $token);
my $r = wait_for_status($node, 'GET', '/v1/contacts', 200, %T);
is($r->{status}, 200, 'serving');

$r = api($node, 'POST', '/v1/contacts', 201, %T,
	body => { type => 'COMPANY', companyName => 'Acme Holdings' });
my $contact = $r->{json}{data}{id};

is( $node->safe_psql('postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'esqase http'"),
	'2',
	'two workers in pg_stat_activity');

# ---------------------------------------------------------------------------
# A request blocked on a row lock in one worker; the other keeps serving
# ---------------------------------------------------------------------------
my $psql = $node->background_psql('postgres');
$psql->query_safe('BEGIN');
$psql->query_safe("SELECT id FROM esqase.contacts WHERE id = '$contact' FOR UPDATE");

my $port = $node->{esq_http_port};
my ($out, $err) = ('', '');
my $blocked = IPC::Run::start(
	[
		'curl', '-s', '--max-time', '60', '-o', '/dev/null', '-w', '%{http_code}', '-X', 'PATCH',
		'-H', "Authorization: Bearer $token",
		'-H', 'Content-Type: application/json',
		'-d', '{"companyName":"Acme Holdings Ltd"}',
		"http://127.0.0.1:$port/v1/contacts/$contact"
	],
	'>', \$out, '2>', \$err);

ok( $node->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM pg_stat_activity "
		  . "WHERE backend_type = 'esqase http' AND wait_event_type = 'Lock' "
		  . "AND query LIKE 'PATCH /v1/contacts/%'"),
	'one worker waits on the row lock, its request shown in pg_stat_activity');

# The workers accept from one queue: the blocked worker is not in accept(),
# so every new connection goes to the other one.
my $served = 0;
for (1 .. 5)
{
	my $t = api_raw($node, 'GET', '/v1/contacts', %T, timeout => 5);
	$served++ if $t->{status} == 200;
}
is($served, 5, 'the other worker serves every new connection while one is blocked');
is( $node->safe_psql('postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'esqase http' AND wait_event_type = 'Lock'"),
	'1',
	'the blocked request is still waiting');

$psql->query_safe('COMMIT');
$blocked->finish;
is($out, '200', 'the blocked PATCH completes once the lock is released');
$r = api($node, 'GET', "/v1/contacts/$contact", 200, %T);
is($r->{json}{data}{companyName}, 'Acme Holdings Ltd', 'and its update is visible');

# ---------------------------------------------------------------------------
# esqase.http_statement_timeout: a request stuck on a lock gets 504
# ---------------------------------------------------------------------------
$node->append_conf('postgresql.conf', "esqase.http_statement_timeout = '500ms'\n");
$node->reload;
$psql->query_safe('BEGIN');
$psql->query_safe("SELECT id FROM esqase.contacts WHERE id = '$contact' FOR UPDATE");
my $start = time;
$r = wait_for_status($node, 'PATCH', "/v1/contacts/$contact", 504, %T,
	body => { companyName => 'Timeout Ltd' }, timeout_s => 30);
is($r->{status}, 504, 'statement timeout -> 504');
is($r->{json}{error}{code}, 'timeout', '504 code');
$psql->query_safe('COMMIT');
$r = api($node, 'GET', "/v1/contacts/$contact", 200, %T);
is($r->{json}{data}{companyName}, 'Acme Holdings Ltd', 'the timed-out update was rolled back');
$node->append_conf('postgresql.conf', "esqase.http_statement_timeout = '30s'\n");
$node->reload;
$psql->quit;

# ---------------------------------------------------------------------------
# SQLSTATE -> HTTP status, with the field from the error's COLUMN
# (a stand-in esqase.contacts_get, the function the worker calls, raises the
# SQLSTATE named by the id)
# ---------------------------------------------------------------------------
raise_on_get($node,
	'00000000-0000-4000-8000-000000000001' => '23505',
	'00000000-0000-4000-8000-000000000002' => '23503',
	'00000000-0000-4000-8000-000000000003' => '22P02',
	'00000000-0000-4000-8000-000000000004' => '42501',
	'00000000-0000-4000-8000-000000000005' => '28000',
	'00000000-0000-4000-8000-000000000006' => '53400',
	'00000000-0000-4000-8000-000000000007' => '40001',
	'00000000-0000-4000-8000-000000000008' => '22008');
my %want = (1 => [ 409, 'conflict' ], 2 => [ 422, 'validation_failed' ],
	3 => [ 400, 'bad_request' ], 4 => [ 403, 'forbidden' ], 5 => [ 401, 'unauthorized' ],
	6 => [ 503, 'service_unavailable' ], 7 => [ 503, 'service_unavailable' ],
	8 => [ 422, 'validation_failed' ]);
for my $i (sort keys %want)
{
	my ($status, $code) = @{ $want{$i} };
	$r = api($node, 'GET', "/v1/contacts/00000000-0000-4000-8000-00000000000$i", $status, %T,
		name => "SQLSTATE case $i");
	is($r->{json}{error}{code}, $code, "SQLSTATE case $i: code $code");
	is($r->{json}{error}{field}, $status >= 500 ? undef : 'someField',
		"SQLSTATE case $i: field");
}
api($node, 'GET', "/v1/contacts/$contact", 200, %T, name => 'real read through the wrapper');
$node->safe_psql('postgres', q{
DROP FUNCTION esqase.contacts_get(uuid);
ALTER FUNCTION esqase.contacts_get_real(uuid) RENAME TO contacts_get;
DROP TABLE esqase_test_states;
});
api($node, 'GET', "/v1/contacts/$contact", 200, %T, name => 'read after restoring the function');

# ---------------------------------------------------------------------------
# Slow and idle clients, then garbage on the wire.  Both wait for the server
# to close connections, so they run with shorter timeouts (a reload: the
# request timeout applies at once, the idle timeout to new connections) and
# each runs its connections side by side.  The request timeout goes back to
# 3 s before the next request through the API, the idle timeout after the
# junk.
# ---------------------------------------------------------------------------
$node->append_conf('postgresql.conf',
	"esqase.http_idle_timeout = '1s'\nesqase.http_request_timeout = '1s'\n");
$node->reload;
{
	# a client trickling its headers is cut off at esqase.http_request_timeout
	# (the idle timer, which every byte resets, never fires); meanwhile an
	# idle connection is closed after esqase.http_idle_timeout
	local $SIG{PIPE} = 'IGNORE';
	my $idle = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
		Timeout => 30) or die "connect: $!";
	my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
		Timeout => 30) or die "connect: $!";
	my $t0 = time;
	my $idle_sel = IO::Select->new($idle);
	my ($n, $idle_elapsed);
	# reads the idle connection if it has something (its close), waiting at
	# most $wait seconds
	my $read_idle = sub {
		my ($wait) = @_;
		return if defined $idle_elapsed || !$idle_sel->can_read($wait);
		$n = sysread($idle, my $buf, 10);
		$idle_elapsed = time - $t0;
	};
	my $req = "GET /v1/contacts HTTP/1.1\r\nHost: x\r\nX-Slow: " . ('a' x 100);
	my $closed = 0;
	for my $c (split //, $req)
	{
		if (!defined(send($sock, $c, 0)))
		{
			$closed = 1;
			last;
		}
		# 200 ms between bytes, watching the idle connection meanwhile
		my $next = time + 0.2;
		while ((my $left = $next - time) > 0)
		{
			if (defined $idle_elapsed) { usleep($left * 1e6); last; }
			$read_idle->($left);
		}
		last if time - $t0 > 15;
	}
	my $elapsed = time - $t0;
	ok($closed || $elapsed < 15, "a trickling client is disconnected (after ${elapsed}s)");
	cmp_ok($elapsed, '<', 10, 'by the request deadline, not its own pace');
	close $sock;

	$read_idle->(30 - (time - $t0)) if time - $t0 < 30;
	$idle_elapsed //= time - $t0;
	ok(defined $n && $n == 0, 'idle connection closed by the server');
	cmp_ok($idle_elapsed, '<', 8, "idle connection closed after ${idle_elapsed}s");
	close $idle;
}
$node->append_conf('postgresql.conf', "esqase.http_request_timeout = '3s'\n");
$node->reload;
api($node, 'GET', '/v1/contacts', 200, %T, name => 'serving after the slow clients');

# ---------------------------------------------------------------------------
# Garbage on the wire: malformed requests, random bytes, early hang-ups
# ---------------------------------------------------------------------------
{
	local $SIG{PIPE} = 'IGNORE';
	srand(42);
	my @junk = (
		"GARBAGE\r\n\r\n",
		"GET\r\n\r\n",
		"GET /v1/contacts HTTP/9.9\r\n\r\n",
		"GET /v1/contacts HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
		"POST /v1/contacts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer $token\r\n"
		  . "Transfer-Encoding: chunked\r\n\r\nzz\r\n",
		"POST /v1/contacts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer $token\r\n"
		  . "Content-Length: 100\r\n\r\n{\"type\":",
		"GET /v1/contacts?" . ('a=1&' x 5000) . " HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /v1/contacts HTTP/1.1\r\nHost: x\r\nX: " . ('b' x 100000) . "\r\n\r\n",
		"GET /v1/%00%ff%2e%2e/contacts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer $token\r\n\r\n",
		"GET /v1/contacts/%30%30 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \xff\xfe\r\n\r\n");
	push @junk, join('', map { chr(int(rand(256))) } 1 .. (1 + int(rand(2000)))) for 1 .. 100;

	# Each junk request on its own connection, sent and half-closed one
	# after the other; the answers are read side by side until the server
	# has closed every connection (some only at the idle timeout).
	my $sel = IO::Select->new;
	my %resp;
	my $deadline = time + 60;
	my $read_ready = sub {
		my ($wait) = @_;
		for my $s ($sel->can_read($wait))
		{
			my $n = sysread($s, my $buf, 65536);
			if ($n) { $resp{$s} .= $buf; next; }
			$sel->remove($s);
			close $s;
			my $r = delete $resp{$s};
			unlike($r, qr{^HTTP/1\.1 500}, 'junk request: no 500') if $r;
		}
	};
	for my $j (@junk)
	{
		my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
			Timeout => 5) or die "connect: $!";
		print $sock $j;
		shutdown($sock, 1);
		$resp{$sock} = '';
		$sel->add($sock);
		$read_ready->(0);
	}
	$read_ready->($deadline - time) while $sel->count && time < $deadline;
	is($sel->count, 0, 'the server closed every junk connection');
	api($node, 'GET', '/v1/contacts', 200, %T, name => 'serving after the junk');
	ok(!$node->log_contains('terminated by signal'), 'no worker crashed on junk');
	is( $node->safe_psql('postgres',
			"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'esqase http'"),
		'2', 'both workers still up');
}
$node->append_conf('postgresql.conf', "esqase.http_idle_timeout = '2s'\n");
$node->reload;

# ---------------------------------------------------------------------------
# SIGKILL of a worker: the postmaster restarts the cluster, the API returns
# ---------------------------------------------------------------------------
my $pid = $node->safe_psql('postgres',
	"SELECT pid FROM pg_stat_activity WHERE backend_type = 'esqase http' LIMIT 1");
ok($pid =~ /^\d+$/, "a worker pid ($pid)");
kill 'KILL', $pid;
ok($node->poll_query_until('postgres', 'SELECT 1', '1'), 'server back after the crash');
$r = wait_for_status($node, 'GET', '/v1/contacts', 200, %T);
is($r->{status}, 200, 'the API serves again after SIGKILL of a worker');
ok($node->log_contains("was terminated by signal 9"), 'the kill is in the log');
ok( $node->poll_query_until('postgres',
		"SELECT count(*) = 2 FROM pg_stat_activity WHERE backend_type = 'esqase http'"),
	'both workers are back');

# SIGTERM of a worker (pg_terminate_backend): it exits and is restarted
$pid = $node->safe_psql('postgres',
	"SELECT pid FROM pg_stat_activity WHERE backend_type = 'esqase http' LIMIT 1");
$node->safe_psql('postgres', "SELECT pg_terminate_backend($pid)");
ok( $node->poll_query_until('postgres',
		"SELECT count(*) = 2 FROM pg_stat_activity WHERE backend_type = 'esqase http' AND pid <> $pid"),
	'a terminated worker is restarted');
$r = wait_for_status($node, 'GET', '/v1/contacts', 200, %T);
is($r->{status}, 200, 'serving after pg_terminate_backend');

no_500();
$node->stop;

# ---------------------------------------------------------------------------
# esqase.database created after the workers started: 503 with Retry-After
# whatever the key (none, malformed, made up), one WARNING and no FATAL in
# the log, then serving once the database and the extension exist.
# The same cluster, restarted with esqase.database naming a database it does
# not have (a new cluster would cost an initdb).
# ---------------------------------------------------------------------------
$node->append_conf('postgresql.conf', "esqase.database = 'esqdb'\n");
my $db_log = -s $node->logfile;
$node->start;
$r = wait_for_status($node, 'GET', '/v1/contacts', 503, token => 'x');
is($r->{status}, 503, '503 while the database does not exist');
like($r->{json}{error}{message}, qr/database "esqdb"/, '503 names the missing database');
is($r->{headers}{'retry-after'}, 5, 'the 503 has Retry-After');
for my $case ([ 'no key', {} ], [ 'a malformed Authorization', { Authorization => 'Basic abc' } ])
{
	my ($what, $h) = @$case;
	$r = api($node, 'GET', '/v1/contacts', 503, headers => $h, name => "no database, $what");
	like($r->{json}{error}{message}, qr/database "esqdb" \(esqase\.database\) does not exist/,
		"no database, $what: 503 names it, not 401");
	ok(!defined $r->{headers}{'www-authenticate'}, "no database, $what: no WWW-Authenticate");
	is($r->{headers}{'retry-after'}, 5, "no database, $what: Retry-After");
}
api($node, 'POST', '/v1/contacts', 503, body => { type => 'PERSON', firstName => 'A' },
	name => 'no database, POST without a key');
# the workers look again, quietly: after a few checks, still one line
sleep 6;
my $db_text = substr(slurp_file($node->logfile), $db_log);
unlike($db_text, qr/FATAL/, 'no database: no FATAL in the log');
my @missing = $db_text =~ /^([^\n]*database "esqdb".*does not exist[^\n]*)/mg;
is(scalar @missing, 1, 'no database: one line says so') or diag(join "\n", @missing);
like($missing[0] // '', qr/WARNING:  esqase: database "esqdb" \(esqase\.database\) does not exist/,
	'no database: a WARNING naming esqase.database');
$node->safe_psql('postgres', 'CREATE DATABASE esqdb');
# the 503 changes its reason once a worker notices the database (bounded)
my $deadline = time + 60;
until ((($r->{json} && $r->{json}{error}{message}) // '') =~ /extension/ || time > $deadline)
{
	usleep(100_000);
	$r = api_raw($node, 'GET', '/v1/contacts', token => 'x', timeout => 5);
}
like($r->{json}{error}{message}, qr/CREATE EXTENSION/, 'database found; now the extension is missing');
is($r->{headers}{'retry-after'}, 5, 'no extension: Retry-After');
$deadline = time + 60;
do
{
	$r = api_raw($node, 'GET', '/v1/contacts', timeout => 5);
	usleep(100_000);
} until ((($r->{json} && $r->{json}{error}{message}) // '') =~ /extension/ || time > $deadline);
is($r->{status}, 503, 'no extension, no key: 503');
like($r->{json}{error}{message}, qr/extension esqase is not installed in database "esqdb"/,
	'no extension, no key: 503 names it, not 401');
$node->safe_psql('esqdb', 'CREATE EXTENSION esqase');
$r = wait_for_status($node, 'GET', '/v1/contacts', 401);
is($r->{status}, 401, 'extension created: no key is 401 again');
my ($t2) = make_key($node, db => 'esqdb', owner => 1);
$r = wait_for_status($node, 'GET', '/v1/contacts', 200, token => $t2);
is($r->{status}, 200, 'serving esqdb without a server restart');
$db_text = substr(slurp_file($node->logfile), $db_log);
unlike($db_text, qr/FATAL/, 'no FATAL in the log up to serving');
no_500();
$node->stop;

# ---------------------------------------------------------------------------
# esqase.http_port = 0 disables the HTTP server (the same cluster again; its
# log is read from this start on)
# ---------------------------------------------------------------------------
$node->append_conf('postgresql.conf', "esqase.http_port = 0\n");
my $log_offset = -s $node->logfile;
$node->start;
is( $node->safe_psql('postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'esqase http'"),
	'0', 'no workers with esqase.http_port = 0');
ok($node->log_contains('HTTP API disabled', $log_offset), 'the log says the HTTP API is disabled');
$node->stop;

done_testing();
