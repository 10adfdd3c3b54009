# 008_http_request_log.pl — one log line per request (never a token or a
# body), 5xx at WARNING, esqase.http_log_level, 401s summarised, and
# X-Request-Id on every response.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use EsqaseHttp;
use IO::Socket::INET;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = esq_node('reqlog');
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION esqase');
my ($token) = make_key($node, owner => 1);
my %T = (token => $token);
my $r = wait_for_status($node, 'GET', '/v1/contacts', 200, %T);
is($r->{status}, 200, 'serving');
my ($prefix) = $token =~ /^esq_([A-Za-z0-9]+)_/;
ok($prefix, "the key has a prefix ($prefix)");
my $port = $node->{esq_http_port};

# The log lines of one request id, once they are written.
sub log_lines
{
	my $id = shift;
	my @lines;
	for (1 .. 50)
	{
		@lines = grep { /request_id=\Q$id\E$/ } split /\n/,
		  slurp_file($node->logfile);
		last if @lines;
		select(undef, undef, undef, 0.1);
	}
	return @lines;
}

# Sends bytes on a new connection and returns all it answers until it closes.
sub exchange
{
	my $s = raw_conn($node);
	print $s shift;
	local $/;
	my $resp = <$s>;
	close $s;
	return $resp;
}

# ---------------------------------------------------------------------------
# X-Request-Id: echoed when sane, generated otherwise, on every response
# ---------------------------------------------------------------------------
$r = api($node, 'POST', '/v1/contacts?x=1', 400, %T,
	headers => { 'X-Request-Id' => 'client-id-123' },
	body => { type => 'COMPANY', companyName => 'Secret Body Text' });
is($r->{headers}{'x-request-id'}, 'client-id-123', 'a sane X-Request-Id is echoed');
$r = api($node, 'POST', '/v1/contacts', 201, %T,
	headers => { 'X-Request-Id' => 'create-1' },
	body => { type => 'COMPANY', companyName => 'Secret Body Text' });
is($r->{headers}{'x-request-id'}, 'create-1', 'echoed on a 201');
my $cid = $r->{json}{data}{id};
my %gen;
for my $bad (undef, '', 'has space', 'a' x 129, "quote\"d", 'a,b')
{
	my %h = defined $bad ? ('X-Request-Id' => $bad) : ();
	my $a = api_raw($node, 'GET', '/v1/contacts/not-a-uuid', %T, headers => \%h);
	my $id = $a->{headers}{'x-request-id'} // '';
	like($id, qr/^[0-9a-f]{32}$/,
		'a generated id for ' . (defined $bad ? "'" . substr($bad, 0, 12) . "'" : 'no header'));
	$gen{$id}++;
}
is(scalar keys %gen, 6, 'generated ids differ');
$r = api_raw($node, 'GET', '/nowhere');
like($r->{headers}{'x-request-id'}, qr/^[0-9a-f]{32}$/, 'on a 404 without a key too');
$r = api_raw($node, 'DELETE', '/v1/contacts', %T);
is($r->{status}, 405, 'DELETE on a collection is a 405');
ok($r->{headers}{'x-request-id'}, 'and on a 405');
{
	# an early answer (bad framing) carries one too
	my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port) or die;
	print $s "POST /v1/contacts HTTP/1.1\r\nHost: x\r\nX-Request-Id: framing-1\r\n"
	  . "Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}";
	local $/;
	my $resp = <$s>;
	like($resp, qr{^HTTP/1\.1 400 .*\r\nX-Request-Id: framing-1\r\n}s,
		'a framing 400 echoes the id');
	close $s;
	$s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port) or die;
	print $s "GET /v1/contacts HTTP/1.1\r\nHost: x\r\nX-Request-Id: caf\xc3\xa9\r\n"
	  . "Connection: close\r\n\r\n";
	$resp = <$s>;
	like($resp, qr{\r\nX-Request-Id: [0-9a-f]{32}\r\n}, 'a non-ASCII id is replaced');
	close $s;
}

# the audit row of a write carries the request id; a write in SQL has none
is( $node->safe_psql('postgres',
		"SELECT string_agg(request_id, ',') FROM esqase.audit_log WHERE record_id = '$cid'"),
	'create-1', 'the audit row of the POST has its X-Request-Id');
api($node, 'PATCH', "/v1/contacts/$cid", 200, %T, headers => { 'X-Request-Id' => 'patch-1' },
	body => { companyName => 'Renamed' });
is( $node->safe_psql('postgres',
		"SELECT string_agg(coalesce(request_id, '-'), ',' ORDER BY id) FROM esqase.audit_log WHERE record_id = '$cid'"),
	'create-1,patch-1', 'and the PATCH its own');
$node->safe_psql('postgres', "UPDATE esqase.contacts SET company_name = 'By hand' WHERE id = '$cid'");
is( $node->safe_psql('postgres',
		"SELECT coalesce(request_id, 'null') FROM esqase.audit_log WHERE record_id = '$cid' ORDER BY id DESC LIMIT 1"),
	'null', 'a write made in SQL has no request id');
is($node->safe_psql('postgres', 'SELECT esqase.context_request_id() IS NULL'), 't',
	'no request id outside the HTTP worker');

# ---------------------------------------------------------------------------
# The log line
# ---------------------------------------------------------------------------
my @l = log_lines('client-id-123');
is(scalar @l, 1, 'one log line for the request');
# a record's first line follows the prefix; PostgreSQL starts the next with a tab
like($l[0],
	qr{(?:LOG:  |^\t)esqase: request POST /v1/contacts 400 \d+\.\d{3} ms \d+ bytes key=\Q$prefix\E client=127\.0\.0\.1 request_id=client-id-123$},
	'method, path without the query, status, duration, bytes, key prefix, client, id');
@l = log_lines('create-1');
like($l[0], qr{ 201 .* key=\Q$prefix\E }, 'a 201 is logged');
my $log = slurp_file($node->logfile);
unlike($log, qr/\Q$token\E/, 'the token is never logged');
my ($secret) = $token =~ /^esq_[A-Za-z0-9]+_(.+)$/;
unlike($log, qr/\Q$secret\E/, 'nor its secret part');
unlike($log, qr/Secret Body Text/, 'nor a body');
unlike($log, qr/x=1/, 'nor the query string');
like($log, qr{esqase: request GET /nowhere 404 .* key=- client=127\.0\.0\.1 }, 'no key: key=-');

# the prefix is read as the key was: "Bearer" then a tab authenticates, and logs its prefix
{
	my $resp = exchange("GET /v1/contacts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer\t$token\r\n"
		  . "X-Request-Id: bearer-tab\r\nConnection: close\r\n\r\n");
	like($resp, qr{^HTTP/1\.1 200 }, '"Bearer<TAB><key>" authenticates');
	like((log_lines('bearer-tab'))[0] // '', qr{ 200 .* key=\Q$prefix\E }, 'and its line names the key');
}

# a path with control characters cannot forge a log line
{
	my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port) or die;
	print $s "GET /v1/x%0A2026-01-01%20LOG:%20forged HTTP/1.1\r\nHost: x\r\n"
	  . "X-Request-Id: forge-1\r\nConnection: close\r\n\r\n";
	local $/;
	my $resp = <$s>;
	close $s;
	@l = log_lines('forge-1');
	like($l[0], qr{request GET /v1/x%0A2026-01-01%20LOG:%20forged 404 }, 'control characters are escaped');
}

# Written in batches: requests answered within a second by one worker share
# one log record (a line each), not a record each; on one keep-alive
# connection they are all answered by the same worker.
{
	exchange(join '', map {
		"GET /nowhere HTTP/1.1\r\nHost: x\r\nX-Request-Id: batch-$_\r\n"
		  . ($_ == 5 ? "Connection: close\r\n" : '') . "\r\n" } 1 .. 5);
	my @b = map { (log_lines("batch-$_"))[0] // '' } 1 .. 5;
	is(scalar(grep { /esqase: request GET \/nowhere 404 / } @b), 5, 'five requests, five lines');
	cmp_ok(scalar(grep { /^\tesqase: request / } @b), '>=', 3,
		'most of them continue a record (a tab, no prefix): written together');
}

# ---------------------------------------------------------------------------
# Unauthenticated requests (401) are not logged one by one: a flood of them
# costs the client nothing and wrote 106 MB of log in a probe.  The first
# of each 10 s interval is, then one summary line with the count.
# ---------------------------------------------------------------------------
{
	my $before = length slurp_file($node->logfile);
	my $n = 0;
	for my $c (1 .. 4)
	{
		my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port) or die;
		print $s ("GET /v1/contacts HTTP/1.1\r\nHost: x\r\n\r\n" x 499)
		  . "GET /v1/contacts HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
		local $/;
		my $resp = <$s>;
		$n += () = $resp =~ m{HTTP/1\.1 401 }g;
		close $s;
	}
	is($n, 2000, 'a flood of 2000 requests without a key: 401 each');
	my $count = sub {
		my $log = substr(slurp_file($node->logfile), $before);
		my @summaries = $log =~ m{esqase: (\d+) more unauthenticated requests \(401\) in \d+ s not logged one by one, the last from client=127\.0\.0\.1}g;
		my $sum = 0;
		$sum += $_ for @summaries;
		return (scalar(() = $log =~ m{esqase: request GET /v1/contacts 401 }g), scalar @summaries, $sum);
	};
	my ($lines, $nsum, $sum) = $count->();
	cmp_ok($lines, '<=', 4, "a bounded number of request lines for them ($lines)");
	my $deadline = time + 30;
	while ($lines + $sum < 2000 && time < $deadline)
	{
		sleep 1;
		($lines, $nsum, $sum) = $count->();
	}
	is($lines + $sum, 2000, "within the interval, summary lines count the rest ($nsum summaries of $sum)");
	cmp_ok($nsum, '<=', 4, 'at most one summary per worker and interval');
}

# ---------------------------------------------------------------------------
# 5xx at WARNING; esqase.http_log_level
# ---------------------------------------------------------------------------
$node->safe_psql('postgres', q{
ALTER FUNCTION esqase.contacts_get(uuid) RENAME TO contacts_get_real;
CREATE FUNCTION esqase.contacts_get(id uuid) RETURNS esqase.answer LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION USING ERRCODE = '53400', MESSAGE = 'no room'; END $$;
});
my $u = '00000000-0000-4000-8000-000000000001';
# a 5xx is written at once, after the lines its worker buffered before it
# (one connection: one worker)
{
	my $resp = exchange("GET /v1/contacts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer $token\r\n"
	  . "X-Request-Id: before-503\r\n\r\n"
	  . "GET /v1/contacts/$u HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer $token\r\n"
	  . "X-Request-Id: five-oh-three\r\nConnection: close\r\n\r\n");
	like($resp, qr{HTTP/1\.1 200 .*HTTP/1\.1 503 }s, 'a 200 then a 503 on one connection');
}
$node->append_conf('postgresql.conf', "esqase.http_log_level = debug1\n");
$node->reload;
sleep 1;
@l = log_lines('five-oh-three');
like($l[0], qr{WARNING:  esqase: request GET /v1/contacts/$u 503 }, 'a 5xx is logged at WARNING');
{
	my $log = slurp_file($node->logfile);
	my $ok = index($log, 'request_id=before-503') >= 0
	  && index($log, 'request_id=before-503') < index($log, 'request_id=five-oh-three');
	ok($ok, 'after the buffered line of the request answered before it');
}
api($node, 'GET', '/v1/contacts', 200, %T, headers => { 'X-Request-Id' => 'quiet-200' });
api($node, 'GET', "/v1/contacts/$u", 503, %T, headers => { 'X-Request-Id' => 'after-quiet' });
ok(log_lines('after-quiet'), 'the next 5xx is logged');
ok(!log_lines('quiet-200'), 'a 200 is not, at esqase.http_log_level = debug1');

# ---------------------------------------------------------------------------
# esqase.http_access_log: the lines go to a file of their own, buffered and
# written within a second (at any esqase.http_log_level), a 5xx at once and
# at WARNING in the server log too; reopened by name on reload (logrotate's
# rename, then reload); what is buffered is written when the worker exits.
# ---------------------------------------------------------------------------
my $access = $node->data_dir . '/access.log';
sub access_lines
{
	my ($id, $file) = @_;
	$file //= $access;
	return () unless -e $file;
	return grep { /request_id=\Q$id\E$/ } split /\n/, slurp_file($file);
}
sub wait_access
{
	my $id = shift;
	for (1 .. 50)
	{
		my @l = access_lines($id);
		return @l if @l;
		select(undef, undef, undef, 0.1);
	}
	return ();
}
$node->append_conf('postgresql.conf', "esqase.http_access_log = 'access.log'\n");
$node->reload;
sleep 1;
api($node, 'GET', '/v1/contacts', 200, %T, headers => { 'X-Request-Id' => 'file-200' });
my @f = wait_access('file-200');
like($f[0] // '', qr{^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \d+ GET /v1/contacts 200 [0-9.]+ ms \d+ bytes key=\Q$prefix\E client=127\.0\.0\.1 request_id=file-200$},
	'a 200 is written to the access log (time, worker pid, the fields of the log line), although the level is debug1');
ok(!log_lines('file-200'), 'and not to the server log');
$r = api($node, 'GET', "/v1/contacts/$u", 503, %T, headers => { 'X-Request-Id' => 'file-503' });
ok(access_lines('file-503'), 'a 5xx is in the access log as soon as it is answered');
@l = log_lines('file-503');
like($l[0] // '', qr{WARNING:  esqase: request GET /v1/contacts/$u 503 }, 'and in the server log at WARNING');
rename $access, "$access.1" or die "rename: $!";
$node->reload;
sleep 1;
api($node, 'GET', '/v1/contacts', 200, %T, headers => { 'X-Request-Id' => 'file-rotated' });
ok(wait_access('file-rotated'), 'after a rename and a reload, a new file of the same name');
ok(access_lines('file-200', "$access.1"), 'the lines before stay in the renamed file');
ok(!access_lines('file-rotated', "$access.1"), 'and none after');

$node->safe_psql('postgres', q{
DROP FUNCTION esqase.contacts_get(uuid);
ALTER FUNCTION esqase.contacts_get_real(uuid) RENAME TO contacts_get;
});

# a fast stop right after the answer, within the second the line may wait
api($node, 'GET', '/v1/contacts', 200, %T, headers => { 'X-Request-Id' => 'file-exit' });
$node->stop('fast');
ok(access_lines('file-exit'), 'a buffered line is written when the worker exits');
done_testing();
