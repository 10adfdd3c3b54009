# 007_http_front_door.pl — the listening socket and what reaches it: one
# listener owned by the server (no port sharing), a port already in use,
# the workers accepting from one queue, framing by the RFC (one answer per
# request, obs-fold and ':' lines, Host, Content-Length libmicrohttpd cannot
# read, bytes that cannot start a request), clients that leave mid-request,
# and connection floods (bounded in count and time, loopback only).
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use EsqaseHttp;
use IO::Socket::INET;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

$SIG{PIPE} = 'IGNORE';

my $node = esq_node('front',
	'esqase.http_idle_timeout' => '30s',
	'esqase.http_request_timeout' => '30s',
	'esqase.http_header_timeout' => '2s',
	'esqase.http_body_timeout' => '2s',
	'esqase.http_max_connections' => 64,
	'esqase.http_max_connections_per_ip' => 8);
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION esqase');
my ($token) = make_key($node, owner => 1);
my %T = (token => $token);
my $r = wait_for_status($node, 'GET', '/v1/contacts', 200, %T);
is($r->{status}, 200, 'serving');
my $port = $node->{esq_http_port};

# Sends raw bytes, reads until the server closes or $timeout; returns
# (response, seconds).
sub raw
{
	my ($bytes, %o) = @_;
	my $t0 = time;
	my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
		Timeout => 5) or die "connect: $!";
	print $s $bytes;
	shutdown($s, 1) if $o{half_close};
	my ($resp, $buf) = ('');
	my $rin = '';
	vec($rin, fileno($s), 1) = 1;
	while (time - $t0 < ($o{timeout} // 10))
	{
		my $rout = $rin;
		last unless select($rout, undef, undef, 0.2) >= 0;
		next unless vec($rout, fileno($s), 1);
		my $n = sysread($s, $buf, 65536);
		last unless $n;
		$resp .= $buf;
	}
	close $s;
	return ($resp, time - $t0);
}

# ---------------------------------------------------------------------------
# One listener: nobody else can bind the port or receive its requests
# ---------------------------------------------------------------------------
{
	my $intruder = IO::Socket::INET->new(
		LocalAddr => '127.0.0.1', LocalPort => $port, Proto => 'tcp',
		Listen => 16, ReuseAddr => 1, ReusePort => 1);
	my $err = $!;
	ok(!$intruder, "a second listener with SO_REUSEPORT cannot bind the port ($err)");
	my $wild = IO::Socket::INET->new(
		LocalAddr => '0.0.0.0', LocalPort => $port, Proto => 'tcp',
		Listen => 16, ReuseAddr => 1, ReusePort => 1);
	ok(!$wild, 'nor on the wildcard address');
	my $served = 0;
	for (1 .. 20)
	{
		$served++ if api_raw($node, 'GET', '/v1/contacts', %T, timeout => 5)->{status} == 200;
	}
	is($served, 20, 'every request reaches the API');
	close $intruder if $intruder;
	close $wild if $wild;
}
is( $node->safe_psql('postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'esqase http'"),
	'2', 'two workers');

# A port already in use: a clear message naming the port; the API stays off
# and the other process keeps its port.
{
	my $busy_port = PostgreSQL::Test::Cluster::get_free_port();
	my $squatter = IO::Socket::INET->new(
		LocalAddr => '127.0.0.1', LocalPort => $busy_port, Proto => 'tcp',
		Listen => 16, ReuseAddr => 1, ReusePort => 1) or die "squatter: $!";
	my $other = esq_node('busy', 'esqase.http_listen_addresses' => "'127.0.0.1'");
	$other->append_conf('postgresql.conf', "esqase.http_port = $busy_port\n");
	$other->start;
	ok($other->log_contains("HTTP port $busy_port on 127.0.0.1 is already in use; the HTTP API is off"),
		'the log names the port in use');
	is($other->safe_psql('postgres', 'SELECT 1'), '1', 'the database itself runs');
	ok( $other->poll_query_until('postgres',
			"SELECT count(*) = 0 FROM pg_stat_activity WHERE backend_type = 'esqase http'"),
		'no HTTP worker runs');
	my $c = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $busy_port,
		Timeout => 5);
	my $got = $squatter->accept;
	ok($c && $got, 'the other process still receives its connections');
	$other->stop;
	close $squatter;
}

# ---------------------------------------------------------------------------
# One queue: a worker blocked in a request takes no new connections
# ---------------------------------------------------------------------------
{
	$r = api($node, 'POST', '/v1/contacts', 201, %T,
		body => { type => 'COMPANY', companyName => 'Locked Ltd' });
	my $contact = $r->{json}{data}{id};
	my $psql = $node->background_psql('postgres');
	$psql->query_safe('BEGIN');
	$psql->query_safe("SELECT id FROM esqase.contacts WHERE id = '$contact' FOR UPDATE");
	my ($out, $err) = ('', '');
	my $blocked = IPC::Run::start(
		[
			'curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', '-X', 'PATCH',
			'-H', "Authorization: Bearer $token",
			'-H', 'Content-Type: application/json',
			'-d', '{"companyName":"Unlocked Ltd"}',
			"http://127.0.0.1:$port/v1/contacts/$contact"
		],
		'>', \$out, '2>', \$err);
	ok( $node->poll_query_until('postgres',
			"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'esqase http' "
			  . "AND wait_event_type = 'Lock'"),
		'one worker waits on a row lock');
	my ($served, $slowest) = (0, 0);
	for (1 .. 12)
	{
		my $t0 = time;
		my $a = api_raw($node, 'GET', '/v1/contacts', %T, timeout => 5);
		my $dt = time - $t0;
		$slowest = $dt if $dt > $slowest;
		$served++ if $a->{status} == 200;
	}
	is($served, 12, 'all 12 new clients are served by the free worker');
	cmp_ok($slowest, '<', 2, sprintf('the slowest in %.2fs', $slowest));
	$psql->query_safe('COMMIT');
	$blocked->finish;
	is($out, '200', 'the blocked PATCH completes after the lock is released');
	$psql->quit;
}

# ---------------------------------------------------------------------------
# Framing by the RFC: 400 and close, at once (the client keeps its side open)
# ---------------------------------------------------------------------------
{
	my $AUTH = "Authorization: Bearer $token\r\n";
	my $inner = '{"type":"COMPANY","companyName":"Smuggled"}';
	my $smuggled = "POST /v1/contacts HTTP/1.1\r\nHost: x\r\n${AUTH}Content-Type: application/json\r\n"
	  . "Content-Length: " . length($inner) . "\r\n\r\n$inner";
	my $chunk = sprintf("%x", length $smuggled);
	my %cases = (
		'space before the colon of Transfer-Encoding' =>
		  "POST /v1/contacts HTTP/1.1\r\nHost: x\r\n${AUTH}Transfer-Encoding : chunked\r\n\r\n"
		  . "$chunk\r\n$smuggled\r\n0\r\n\r\n",
		'tab before the colon' =>
		  "POST /v1/contacts HTTP/1.1\r\nHost: x\r\n${AUTH}Content-Length\t: 3\r\n\r\nabc",
		'Transfer-Encoding: gzip' =>
		  "POST /v1/contacts HTTP/1.1\r\nHost: x\r\n${AUTH}Transfer-Encoding: gzip\r\n\r\n{}",
		'Transfer-Encoding: gzip, chunked' =>
		  "POST /v1/contacts HTTP/1.1\r\nHost: x\r\n${AUTH}Transfer-Encoding: gzip, chunked\r\n\r\n"
		  . "2\r\n{}\r\n0\r\n\r\n",
		'Transfer-Encoding in HTTP/1.0' =>
		  "POST /v1/contacts HTTP/1.0\r\n${AUTH}Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
		'two Content-Length values' =>
		  "POST /v1/contacts HTTP/1.1\r\nHost: x\r\n${AUTH}Content-Length: 2\r\nContent-Length: 9\r\n\r\n{}",
		# RFC 9112 5.2: obs-fold is refused before any framing decision;
		# libmicrohttpd 0.9.75 dropped the folded Transfer-Encoding and framed
		# the body by Content-Length, running the rest as a second request
		'Transfer-Encoding folded onto a continuation line, with Content-Length' =>
		  "POST /v1/contacts HTTP/1.1\r\nHost: x\r\n${AUTH}Content-Type: application/json\r\n"
		  . "Transfer-Encoding:\r\n chunked\r\nContent-Length: " . length($inner) . "\r\n\r\n$inner"
		  . "POST /v1/contacts HTTP/1.1\r\nHost: x\r\n${AUTH}Content-Type: application/json\r\n"
		  . "Content-Length: " . length($inner) . "\r\n\r\n$inner",
		'Transfer-Encoding folded, value split' =>
		  "POST /v1/contacts HTTP/1.1\r\nHost: x\r\n${AUTH}Transfer-Encoding: chu\r\n nked\r\n"
		  . "Content-Length: 4\r\n\r\n5e\r\n$smuggled",
		'a folded line in an ordinary header' =>
		  "GET /v1/contacts HTTP/1.1\r\nHost: x\r\n${AUTH}X-Note: a\r\n\tb\r\n\r\n$smuggled",
		# a line starting with ':' ended the header section: one request became two
		'a header line starting with a colon' =>
		  "GET /v1/contacts?limit=1 HTTP/1.1\r\nHost: x\r\n$AUTH: a\r\n$smuggled",
		'a bare CR inside a header value' =>
		  "GET /v1/contacts HTTP/1.1\r\nHost: x\r\n${AUTH}X-Note: a\rContent-Length: 5\r\n\r\n",
		# RFC 9112 3.2: exactly one Host in HTTP/1.1
		'HTTP/1.1 without Host' => "GET /v1/contacts HTTP/1.1\r\n${AUTH}\r\n$smuggled",
		'two Host headers' => "GET /v1/contacts HTTP/1.1\r\nHost: a\r\nHost: b\r\n${AUTH}\r\n$smuggled",
		# libmicrohttpd answers a Content-Length it cannot read itself, with
		# its status line and headers twice: one JSON answer instead
		'Content-Length: 12abc' =>
		  "POST /v1/contacts HTTP/1.1\r\nHost: x\r\n${AUTH}Content-Type: application/json\r\n"
		  . "Content-Length: 12abc\r\n\r\n{}",
		'Content-Length: 5, 5' =>
		  "POST /v1/contacts HTTP/1.1\r\nHost: x\r\n${AUTH}Content-Length: 5, 5\r\n\r\n{}",
		'Content-Length: +5' => "POST /v1/contacts HTTP/1.1\r\nHost: x\r\n${AUTH}Content-Length: +5\r\n\r\n{}",
	);
	for my $what (sort keys %cases)
	{
		my ($resp, $dt) = raw($cases{$what}, timeout => 10);
		like($resp, qr{^HTTP/1\.1 400 }, "$what -> 400");
		# (a second answer follows a body without a line end: not anchored)
		my @lines = $resp =~ m{HTTP/1\.[01] \d{3} }g;
		is(scalar @lines, 1, "$what: one answer (one status line)");
		like($resp, qr{\r\nConnection: close\r\n}i, "$what: Connection: close");
		like($resp, qr{"code":"bad_request"}, "$what: JSON error body");
		cmp_ok($dt, '<', 2, sprintf("$what: closed at once (%.2fs)", $dt));
		unlike($resp, qr{HTTP/1\.1 201}, "$what: nothing after it is run");
	}
	is( $node->safe_psql('postgres',
			"SELECT count(*) FROM esqase.contacts WHERE company_name = 'Smuggled'"),
		'0', 'the embedded request was never run');

	# a Content-Length past 64 bits: libmicrohttpd's 413, twice; one JSON 413 now
	my ($resp) = raw("POST /v1/contacts HTTP/1.1\r\nHost: x\r\n${AUTH}Content-Length: "
		  . ('9' x 30) . "\r\n\r\n{}");
	like($resp, qr{^HTTP/1\.1 413 }, 'Content-Length over 64 bits -> 413');
	is(scalar(() = $resp =~ m{HTTP/1\.[01] \d{3} }g), 1, 'one answer');
	like($resp, qr{"code":"payload_too_large"}, 'a JSON error body');

	# the same on a kept-alive connection, after a request and its answer
	my $ka = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Timeout => 5)
	  or die "connect: $!";
	my $one = sub {
		my ($bytes) = @_;
		syswrite($ka, $bytes);
		my ($got, $buf) = ('');
		my $t0 = time;
		while (time - $t0 < 5)
		{
			my $rin = '';
			vec($rin, fileno($ka), 1) = 1;
			next unless select(my $rout = $rin, undef, undef, 0.2) > 0;
			last unless sysread($ka, $buf, 65536);
			$got .= $buf;
			last if $got =~ /\r\nContent-Length: (\d+)\r\n.*?\r\n\r\n/s
			  && length($got) >= $+[0] + $1;
		}
		return $got;
	};
	like($one->("GET /v1/contacts?limit=1 HTTP/1.1\r\nHost: x\r\n$AUTH\r\n"), qr{^HTTP/1\.1 200 },
		'kept alive: a first request answered');
	$resp = $one->("POST /v1/contacts HTTP/1.1\r\nHost: x\r\n${AUTH}Content-Length: 12abc\r\n\r\n{}");
	select(undef, undef, undef, 0.3);
	sysread($ka, my $more, 65536);
	$resp .= $more // '';
	like($resp, qr{^HTTP/1\.1 400 }, 'kept alive: then Content-Length: 12abc -> 400');
	is(scalar(() = $resp =~ m{HTTP/1\.[01] \d{3} }g), 1, 'kept alive: one answer');
	like($resp, qr{"code":"bad_request"}, 'kept alive: a JSON error body');
	close $ka;

	# An unreadable Content-Length after other requests on the same
	# connection, where libmicrohttpd has read the request before esqase
	# could look at it (pipelined in one write, after a chunked body, after
	# an empty line): one answer per request, the last a JSON 400 or 413,
	# then the connection is closed.
	my $good = "GET /v1/contacts?limit=1 HTTP/1.1\r\nHost: x\r\n$AUTH\r\n";
	my $bad = "POST /v1/contacts HTTP/1.1\r\nHost: x\r\n${AUTH}Content-Type: application/json\r\n"
	  . "Content-Length: 12abc\r\n\r\n{}";
	my $huge = "POST /v1/contacts HTTP/1.1\r\nHost: x\r\n${AUTH}Content-Length: " . ('9' x 30)
	  . "\r\n\r\n{}";
	my $chunked = "POST /v1/contacts HTTP/1.1\r\nHost: x\r\n${AUTH}Content-Type: application/json\r\n"
	  . "Transfer-Encoding: chunked\r\n\r\n"
	  . "2b\r\n{\"type\":\"COMPANY\",\"companyName\":\"Chunked\"}\r\n0\r\n\r\n";
	my %after = (
		'pipelined: a good request, then Content-Length: 12abc' => [ "$good$bad", '200 400' ],
		'pipelined: a good request, then a Content-Length over 64 bits' => [ "$good$huge", '200 413' ],
		'pipelined: a chunked body, then Content-Length: 12abc' => [ "$chunked$bad", '201 400' ],
		'pipelined: an empty line between, then Content-Length: 12abc' =>
		  [ "$good\r\n$bad", '200 400' ],
		'a chunked body, then (later) Content-Length: 12abc' => [ [ $chunked, $bad ], '201 400' ],
		'two requests, then (later) Content-Length: 12abc' => [ [ "$good$good", $bad ], '200 200 400' ],
	);
	for my $what (sort keys %after)
	{
		my ($send, $want) = @{ $after{$what} };
		my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Timeout => 5)
		  or die "connect: $!";
		my ($got, $buf) = ('');
		my $t0 = time;
		my @pieces = ref $send ? @$send : ($send);
		syswrite($s, shift @pieces);
		while (time - $t0 < 5)
		{
			my $rin = '';
			vec($rin, fileno($s), 1) = 1;
			if (select(my $rout = $rin, undef, undef, 0.3) <= 0)
			{
				# the answers so far are in: the next piece
				syswrite($s, shift @pieces) if @pieces;
				next;
			}
			last unless sysread($s, $buf, 65536);
			$got .= $buf;
		}
		close $s;
		my @st = $got =~ m{HTTP/1\.[01] (\d{3}) }g;
		is("@st", $want, "$what: one answer per request ($want)");
		like($got, qr{\r\nConnection: close\r\n(?:(?!HTTP/1\.1 ).)*"code":"(?:bad_request|payload_too_large)"[^\r\n]*\z}s,
			"$what: the last a JSON error, then closed");
		cmp_ok(time - $t0, '<', 4, "$what: closed at once");
	}

	# The other refusal libmicrohttpd makes as it parses a header section: a
	# Cookie header it has no memory left to copy (over about half of
	# esqase.http_connection_memory, 64kB here), its 431 sent twice too
	for my $n (40_000, 60_000)
	{
		my ($resp) = raw("GET /v1/contacts HTTP/1.1\r\nHost: x\r\n${AUTH}Cookie: a=" . ('b' x $n)
			  . "\r\nConnection: close\r\n\r\n");
		my @st = $resp =~ m{HTTP/1\.[01] (\d{3}) }g;
		is("@st", '431', "a Cookie header of $n bytes: one answer (431)");
		like($resp, qr{"code":"header_too_large"}, "a Cookie header of $n bytes: a JSON error");
	}

	# HTTP/1.0 needs no Host; a Host-less HTTP/1.1 request is refused above
	($resp) = raw("GET /v1/contacts HTTP/1.0\r\n$AUTH\r\n");
	like($resp, qr{^HTTP/1\.1 200 }, 'HTTP/1.0 without Host -> 200');
	($resp) = raw("POST /v1/contacts HTTP/1.1\r\nHost: x\r\n${AUTH}Content-Type: application/json\r\n"
		  . "Transfer-Encoding: Chunked\r\nConnection: close\r\n\r\n"
		  . "2b\r\n{\"type\":\"COMPANY\",\"companyName\":\"Chunked\"}\r\n0\r\n\r\n");
	like($resp, qr{^HTTP/1\.1 201 }, 'a plain chunked body (any case) is still read');
}

# ---------------------------------------------------------------------------
# Bytes that cannot start a request, and clients that leave mid-request,
# are closed at once (the header and body timeouts are 2 s here)
# ---------------------------------------------------------------------------
{
	# the start of a TLS 1.2 ClientHello on the plain-HTTP port: no line end
	# in it, so libmicrohttpd waited for the header timeout
	my $hello = pack('H*', '16030100f4010000f00303') . ("\0" x 64);
	# the gate looks before libmicrohttpd reads; bytes that arrive while
	# libmicrohttpd is already polling are read by it first, and the header
	# timeout closes that connection (docs/http-api.md, "Bytes that are not
	# HTTP"): seen in one CI run of several, so a second try, which must be
	# closed at once
	my $first_bytes = sub {
		my ($bytes) = @_;
		my ($resp, $dt) = raw($bytes, timeout => 10);
		if ($dt >= 1)
		{
			note(sprintf('raced: closed after %.2fs; once more', $dt));
			($resp, $dt) = raw($bytes, timeout => 10);
		}
		return ($resp, $dt);
	};
	my ($resp, $dt) = $first_bytes->($hello);
	is($resp, '', 'a TLS ClientHello on the plain port gets no answer');
	cmp_ok($dt, '<', 1, sprintf('and is closed at once (%.2fs)', $dt));
	($resp, $dt) = $first_bytes->("\x01\x02GET / HTTP/1.1\r\n");
	cmp_ok($dt, '<', 1, sprintf('so is any first byte that cannot start a method (%.2fs)', $dt));
	($resp, $dt) = raw("\r\nGET /v1/contacts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer $token\r\n"
		  . "Connection: close\r\n\r\n", timeout => 10);
	like($resp, qr{^HTTP/1\.1 200 }, 'an empty line before the request line is still fine');

	# libmicrohttpd 0.9.75 missed a FIN that came with the last bytes it read
	my $post = "POST /v1/contacts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer $token\r\n"
	  . "Content-Type: application/json\r\n";
	my %left = (
		'half a body, then FIN' => "${post}Content-Length: 100\r\n\r\n{\"type\":",
		'half a chunked body, then FIN' => "${post}Transfer-Encoding: chunked\r\n\r\n5\r\n{\"typ",
		'half the headers, then FIN' => "GET /v1/contacts HTTP/1.1\r\nHost: x\r\nX-A: b",
	);
	for my $what (sort keys %left)
	{
		($resp, $dt) = raw($left{$what}, half_close => 1, timeout => 10);
		is($resp, '', "$what: no answer");
		cmp_ok($dt, '<', 1, sprintf("$what: closed at once (%.2fs)", $dt));
	}
	# a whole request, then FIN: answered, and every pipelined one behind it
	my $body = '{"type":"COMPANY","companyName":"Half Closed"}';
	($resp, $dt) = raw("${post}Content-Length: " . length($body) . "\r\n\r\n$body"
		  . "GET /v1/contacts?limit=1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer $token\r\n\r\n",
		half_close => 1, timeout => 10);
	is(join(' ', $resp =~ m{HTTP/1\.1 (\d{3}) }g), '201 200',
		'a whole request then FIN: answered, and the one pipelined behind it');
	cmp_ok($dt, '<', 1, sprintf('then closed at once (%.2fs)', $dt));
}

# ---------------------------------------------------------------------------
# Connections that cannot be exhausted cheaply (64 slots for both workers;
# each flood is several times that, loopback only, bounded in time)
# ---------------------------------------------------------------------------
sub connect_to
{
	my %o = @_;
	return IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
		Timeout => 5, %o);
}

# A normal client, three times: each answered 200 within a second.
sub served_fast
{
	my $what = shift;
	my ($ok, $worst) = (0, 0);
	for (1 .. 3)
	{
		my $t0 = time;
		my $a = api_raw($node, 'GET', '/v1/contacts?limit=1', %T, timeout => 5);
		my $dt = time - $t0;
		$worst = $dt if $dt > $worst;
		$ok++ if $a->{status} == 200;
	}
	is($ok, 3, "$what: a normal client is served");
	cmp_ok($worst, '<', 1, sprintf("$what: within a second (slowest %.3fs)", $worst));
}

# How many of @socks the server has closed (EOF or reset) within $wait seconds.
sub closed_count
{
	my ($wait, @socks) = @_;
	my %open = map { (fileno($_) => $_) } @socks;
	my $deadline = time + $wait;
	while (%open && time < $deadline)
	{
		my $rin = '';
		vec($rin, $_, 1) = 1 for keys %open;
		next unless select(my $rout = $rin, undef, undef, 0.2) > 0;
		for my $fd (keys %open)
		{
			next unless vec($rout, $fd, 1);
			my $n = sysread($open{$fd}, my $buf, 4096);
			delete $open{$fd} if !$n;
		}
	}
	return scalar(@socks) - scalar(keys %open);
}

{
	# idle keep-alive: 300 connections that each made a request and stay open
	my @ka;
	my $req = "GET /v1/contacts?limit=1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer $token\r\n\r\n";
	for (1 .. 300)
	{
		my $s = connect_to() or last;
		syswrite($s, $req);
		my $got = '';
		while ($got !~ /\r\n\r\n/ && sysread($s, my $buf, 65536)) { $got .= $buf; }
		push @ka, $s;
	}
	is(scalar @ka, 300, '300 keep-alive connections made a request each');
	served_fast('300 idle keep-alive connections');
	close $_ for @ka;

	# 400 connections that never send a byte
	my @silent = grep { defined } map { connect_to() } 1 .. 400;
	is(scalar @silent, 400, '400 silent connections');
	served_fast('400 silent connections');
	close $_ for @silent;

	# slowloris: 300 connections trickling their headers
	my @slow = grep { defined } map { connect_to() } 1 .. 300;
	syswrite($_, "GET /v1/contacts HTTP/1.1\r\nHost: x\r\nX-Slow: ") for @slow;
	my $t0 = time;
	for my $round (1 .. 3)
	{
		syswrite($_, 'a') for @slow;
		served_fast("300 slowloris connections, round $round");
	}
	my $cut = closed_count(6 - (time - $t0), @slow);
	is($cut, 300, sprintf('every slowloris connection is closed within 6s (header timeout 2s)'));
	close $_ for @slow;

	# 1000 connections that send half a request and close at once
	for (1 .. 1000)
	{
		my $s = connect_to() or next;
		syswrite($s, "POST /v1/contacts HTTP/1.1\r\nHost: x\r\nContent-Le");
		shutdown($s, 1);
		close $s;
	}
	served_fast('1000 connect-send-half-close');
	my $waiting;
	my $deadline = time + 5;
	do
	{
		usleep(200_000);
		$waiting = () = `ss -Htan state close-wait '( sport = :$port )'` =~ /\n/g;
	} while ($waiting > 0 && time < $deadline);
	is($waiting, 0, 'no connection left in CLOSE_WAIT within 5s');
}

# The status of the answer on $s (read until the end of its headers, EOF
# or 3s), 'closed' if none; and the text read.
sub status_of
{
	my $s = shift;
	my $got = '';
	my $deadline = time + 3;
	while ($got !~ /\r\n\r\n/ && time < $deadline)
	{
		my $rin = '';
		vec($rin, fileno($s), 1) = 1;
		next unless select(my $rout = $rin, undef, undef, 0.2) > 0;
		my $n = sysread($s, my $buf, 65536);
		last unless $n;
		$got .= $buf;
	}
	return (($got =~ m{^HTTP/1\.1 (\d{3}) } ? $1 : 'closed'), $got);
}

{
	# Slow bodies take every slot, and more keep coming: each new one
	# closes the slowest body, never a keep-alive client between its
	# requests nor a new client whose request waits to be read (these were
	# closed with no answer)
	my $req = "GET /v1/contacts?limit=1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer $token\r\n\r\n";
	my $body = "POST /v1/contacts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
	  . "Content-Length: 100000\r\n\r\n{";
	my @ka = map { connect_to() } 1 .. 3;
	syswrite($_, $req) for @ka;
	is(join(' ', map { (status_of($_))[0] } @ka), '200 200 200',
		'3 keep-alive clients: their first requests');
	my @slow = map { my $s = connect_to(); syswrite($s, $body); $s } 1 .. 120;
	usleep(300_000);
	syswrite($_, $req) for @ka;
	is(join(' ', map { (status_of($_))[0] } @ka), '200 200 200',
		'120 slow bodies for 64 slots: the keep-alive clients\' next requests are answered');
	# a new client connects, 5 more slow bodies arrive (within the 100 ms a
	# new connection is given), then it sends its request
	my @got;
	for (1 .. 6)
	{
		my $c = connect_to();
		push @slow, map { my $s = connect_to(); syswrite($s, $body); $s } 1 .. 5;
		syswrite($c, $req);
		push @got, (status_of($c))[0];
		close $c;
	}
	is("@got", join(' ', (200) x 6),
		'6 new clients, each overtaken by 5 slow bodies: every one answered');
	close $_ for @slow, @ka;
}

{
	# esqase.http_header_timeout: headers trickled one byte at a time
	my $s = connect_to();
	my $t0 = time;
	my $closed;
	for my $c (split //, "GET /v1/contacts HTTP/1.1\r\nHost: x\r\nX-Slow: " . ('a' x 100))
	{
		if (!defined syswrite($s, $c)) { $closed = time - $t0; last; }
		usleep(200_000);
		last if time - $t0 > 10;
	}
	ok(defined $closed && $closed < 5,
		sprintf('trickled headers are cut off by the header timeout (%.1fs)', $closed // -1));
	close $s;

	# esqase.http_body_timeout: a body trickled after complete headers
	$s = connect_to();
	syswrite($s, "POST /v1/contacts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer $token\r\n"
		  . "Content-Type: application/json\r\nContent-Length: 200\r\n\r\n{");
	$t0 = time;
	undef $closed;
	while (time - $t0 < 10)
	{
		if (!defined syswrite($s, ' ')) { $closed = time - $t0; last; }
		usleep(200_000);
	}
	ok(defined $closed && $closed < 5,
		sprintf('a trickled body is cut off by the body timeout (%.1fs)', $closed // -1));
	close $s;
}

{
	# per-address limit (8, both workers together): on for 127.0.0.2, a
	# client address other than the host's own 127.0.0.1
	my @far = grep { defined } map { connect_to(LocalAddr => '127.0.0.2') } 1 .. 20;
	is(scalar @far, 20, '20 connections from 127.0.0.2');
	# each worker holds its share (4); the kernel may hand them all to one
	my $refused = closed_count(1.5, @far);
	my $kept = 20 - $refused;
	ok($kept >= 4 && $kept <= 8, "between 4 and 8 kept ($kept), the rest refused at once");
	my @near = grep { defined } map { connect_to() } 1 .. 20;
	is(closed_count(1.5, @near), 0, '127.0.0.1 is not limited per address');
	close $_ for @far, @near;

	# beyond the limit, a connection whose request is in is told why (503),
	# not closed without a word
	my $req = "GET /v1/contacts?limit=1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer $token\r\n\r\n";
	my @asking = map { my $s = connect_to(LocalAddr => '127.0.0.3'); syswrite($s, $req); $s } 1 .. 12;
	my @answers = map { [ status_of($_) ] } @asking;
	my @st = map { $_->[0] } @answers;
	my @busy = grep { $_->[0] eq '503' } @answers;
	is(scalar(grep { $_ eq '200' || $_ eq '503' } @st), 12,
		"12 requests from 127.0.0.3 with the limit 8: each answered (@st)");
	ok(@busy >= 4 && @busy <= 8, 'between 4 and 8 of them 503 (' . scalar(@busy) . ')');
	like($busy[0][1] // '', qr/"code":"service_unavailable".*http_max_connections_per_ip/s,
		'the 503 names the limit');
	close $_ for @asking;
	served_fast('after the per-address test');
}

no_500();
$node->stop;
done_testing();
