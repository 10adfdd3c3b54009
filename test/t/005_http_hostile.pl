# 005_http_hostile.pl — hostile input on the wire: malformed request lines
# and headers, odd Authorization values, path and query-string tricks
# (%00 included), bodies jansson or PostgreSQL reject, ambiguous body
# framing, pipelining, clients that hang up mid-request or mid-response, slow
# clients beyond the connection limit.  After each class: the same worker
# pids (no crash, no restart), no 500, and the API still answers.  Every JSON
# error body must be valid UTF-8 JSON whose status matches the HTTP status.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use EsqaseHttp;
use IO::Socket::INET;
use IO::Select;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Socket qw(SOL_SOCKET SO_LINGER);
use Test::More;
use Time::HiRes qw(time usleep);

my $node = esq_node('hostile',
	'esqase.http_request_timeout' => '3s',
	'esqase.http_idle_timeout' => '2s',
	'esqase.http_max_connections' => 8,
	'esqase.http_max_body' => '64kB');
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION esqase');
my ($token) = make_key($node, owner => 1);
my %T = (token => $token);
my $r = wait_for_status($node, 'GET', '/v1/contacts', 200, %T);
is($r->{status}, 200, 'serving');

my $port = $node->{esq_http_port};
my $AUTH = "Authorization: Bearer $token\r\n";
my $U = '00000000-0000-4000-8000-000000000001';
my %status_seen;
$SIG{PIPE} = 'IGNORE';

sub worker_pids
{
	return $node->safe_psql('postgres',
		"SELECT string_agg(pid::text, ',' ORDER BY pid) FROM pg_stat_activity "
		  . "WHERE backend_type = 'esqase http'");
}
my $pids = worker_pids();
like($pids, qr/^\d+,\d+$/, "two workers ($pids)");

# The API is alive and the workers are the same processes as at the start.
sub still_alive
{
	my $what = shift;
	is(worker_pids(), $pids, "$what: same worker pids (no crash, no restart)");
	ok(!$node->log_contains('terminated by signal'), "$what: no process crashed");
	# connections a section left behind may hold the slots for up to
	# esqase.http_idle_timeout (2 s) or http_request_timeout (3 s)
	my $a;
	my $deadline = time + 20;
	do
	{
		$a = api_raw($node, 'GET', '/v1/contacts?limit=1', %T, timeout => 5);
	} while ($a->{status} != 200 && time < $deadline);
	is($a->{status}, 200, "$what: the API still answers");
	# and keeps answering: new connections go to either worker (SO_REUSEPORT),
	# so a worker that stopped accepting would time some of these out
	my $served = 0;
	for (1 .. 12)
	{
		$a = api_raw($node, 'GET', '/v1/contacts?limit=1', %T, timeout => 5);
		$served++ if $a->{status} == 200;
	}
	is($served, 12, "$what: 12 new connections in a row answered");
	ok(!$status_seen{500}, "$what: no 500 so far");
}

# Sends raw bytes, half-closes, reads until the server closes (bounded).
sub raw
{
	my ($bytes, %o) = @_;
	my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
		Timeout => 5) or die "connect: $!";
	binmode $sock;
	syswrite($sock, $bytes);
	shutdown($sock, 1) unless $o{keep_open};
	my $resp = '';
	my $sel = IO::Select->new($sock);
	my $deadline = time + ($o{timeout} // 10);
	while (time < $deadline && $sel->can_read($deadline - time))
	{
		my $n = sysread($sock, my $buf, 65536);
		last if !$n;
		$resp .= $buf;
	}
	close $sock;
	return $resp;
}

# Splits one response into (status, headers text, body).
sub parse
{
	my $resp = shift;
	my ($head, $body) = split /\r\n\r\n/, $resp, 2;
	my ($st) = ($head // '') =~ m{^HTTP/1\.[01] (\d{3})};
	$status_seen{$st}++ if defined $st;
	return ($st // 0, $head // '', $body // '');
}

# One raw request that must get $want, and one answer only (one status
# line); a JSON error body is checked, and %o{field} (the value of "field",
# undef for null) when given.
sub expect
{
	my ($what, $bytes, $want, %o) = @_;
	my $resp = raw($bytes);
	my ($st, $head, $body) = parse($resp);
	is($st, $want, "$what -> $want") or diag(substr($body, 0, 300));
	is(scalar(() = $resp =~ m{HTTP/1\.[01] \d{3} }g), $st ? 1 : 0, "$what: one answer");
	return if $st == 0 || $head !~ m{application/json};
	if ($st >= 400)
	{
		my $j = eval { decode_json($body) };
		ok($j && $j->{error} && $j->{error}{status} == $st && defined $j->{error}{message},
			"$what: a valid UTF-8 JSON error body")
		  or diag("body: $body; $@");
		is($j && $j->{error}{field}, $o{field}, "$what: field")
		  if exists $o{field};
		like($j && $j->{error}{message}, $o{message}, "$what: message")
		  if $o{message};
	}
	return $body;
}

sub get { my ($path, $extra) = @_; return "GET $path HTTP/1.1\r\nHost: x\r\n$AUTH" . ($extra // '') . "Connection: close\r\n\r\n"; }

sub post
{
	my ($path, $body, $extra, $method) = @_;
	return ($method // 'POST') . " $path HTTP/1.1\r\nHost: x\r\n$AUTH"
	  . "Content-Type: application/json\r\nContent-Length: " . length($body) . "\r\n"
	  . ($extra // '') . "Connection: close\r\n\r\n$body";
}

# ---------------------------------------------------------------------------
# Request line and headers
# ---------------------------------------------------------------------------
expect('no colon in a header', "GET /v1/contacts HTTP/1.1\r\nHost: x\r\nbroken header\r\n\r\n", 400);
expect('NUL in a header name', "GET /v1/contacts HTTP/1.1\r\nHost: x\r\nX\0Y: 1\r\n\r\n", 400);
expect('HTTP/0.9 request line', "GET /v1/contacts\r\n\r\n", 400);
expect('a 100 kB header', "GET /v1/contacts HTTP/1.1\r\nHost: x\r\nX: " . ('b' x 100_000) . "\r\n\r\n", 431);
expect('3000 headers', "GET /v1/contacts HTTP/1.1\r\nHost: x\r\n"
	  . join('', map { "X-H$_: v\r\n" } 1 .. 3000) . "\r\n", 431);
expect('bare LF line ends', "GET /v1/contacts HTTP/1.1\nHost: x\n${\ substr($AUTH, 0, -2)}\nConnection: close\n\n", 200);
expect('HTTP/1.0 without Host', "GET /v1/contacts HTTP/1.0\r\n$AUTH\r\n", 200);
expect('lowercase method', "get /v1/contacts HTTP/1.1\r\nHost: x\r\n$AUTH\r\n", 405);
expect('method with a byte that is not UTF-8',
	"G\xffT /v1/contacts HTTP/1.1\r\nHost: x\r\n$AUTH\r\n", 405);
expect('5000-byte method', ('A' x 5000) . " /v1/contacts HTTP/1.1\r\nHost: x\r\n$AUTH\r\n", 405);
expect('CONNECT', "CONNECT 127.0.0.1:5432 HTTP/1.1\r\nHost: x\r\n\r\n", 404);
expect('Upgrade: websocket is ignored',
	get('/v1/contacts', "Upgrade: websocket\r\nConnection: Upgrade\r\n"), 200);
still_alive('request lines and headers');

# libmicrohttpd's own answers (docs/http-api.md lists them, byte for byte):
# one answer each, closed, with the body documented
{
	my $page = sub {
		my ($title, $text) = @_;
		return "<html><head><title>$title</title></head><body>$text</body></html>";
	};
	my $malformed = $page->('Request malformed', 'Your HTTP request was syntactically incorrect.');
	my $big = $page->('Request too big',
		'Your HTTP header was too big for the memory constraints of this webserver.');
	my $version = 'Requested HTTP version is not supported';
	my $chunked = "POST /v1/contacts HTTP/1.1\r\nHost: x\r\n${AUTH}Transfer-Encoding: chunked\r\n\r\n";
	my @own = (
		[ 'a request line with a fourth token', "GET /v1/contacts HTTP/1.1 x\r\nHost: x\r\n\r\n", 400, $malformed ],
		[ 'a request line without a version', "GET /v1/contacts\r\nHost: x\r\n\r\n", 400, $malformed ],
		[ 'a version that is not HTTP/d.d', "GET /v1/contacts HTTP/1.10\r\nHost: x\r\n\r\n", 400, $malformed ],
		[ 'a header line without a colon', "GET /v1/contacts HTTP/1.1\r\nHost: x\r\nbroken\r\n\r\n", 400,
			$malformed ],
		[ 'HTTP/2.0', "GET /v1/contacts HTTP/2.0\r\nHost: x\r\n\r\n", 505,
			$page->($version, 'Requested HTTP version is not supported.') ],
		[ 'HTTP/0.9 as a version', "GET /v1/contacts HTTP/0.9\r\nHost: x\r\n\r\n", 505,
			$page->($version, 'Requested HTTP version is too old and not supported.') ],
		[ 'a chunk size that is not hex', "${chunked}zz\r\n{}\r\n0\r\n\r\n", 400,
			$page->('Request malformed', 'Your HTTP chunked encoding was syntactically incorrect.') ],
		[ 'a chunk size over 64 bits', "${chunked}ffffffffffffffffff\r\n{}\r\n0\r\n\r\n", 413,
			$page->('Request content too large',
				'The chunk size used in your HTTP chunked encoded request is too large.') ],
		[ 'a 100 kB header', "GET /v1/contacts HTTP/1.1\r\nHost: x\r\nX: " . ('b' x 100_000) . "\r\n\r\n",
			431, $big ],
		[ 'a 100 kB request line', 'GET /v1/contacts?' . ('a' x 100_000) . " HTTP/1.1\r\nHost: x\r\n\r\n",
			414, $big ],
	);
	for my $c (@own)
	{
		my ($what, $bytes, $want, $body) = @$c;
		my $resp = raw($bytes);
		my ($st, $head, $got) = parse($resp);
		is($st, $want, "libmicrohttpd's own answer, $what -> $want");
		is(scalar(() = $resp =~ m{HTTP/1\.[01] \d{3} }g), 1, "$what: one answer");
		like($head, qr{\r\nConnection: close\r\n.*Content-Length: \d+$}s, "$what: closed after it");
		is($got, $body, "$what: the documented body");
	}
}
still_alive('libmicrohttpd\'s own answers');

# ---------------------------------------------------------------------------
# Authorization
# ---------------------------------------------------------------------------
sub with_auth
{
	my $a = shift;
	return "GET /v1/contacts HTTP/1.1\r\nHost: x\r\nAuthorization: $a\r\nConnection: close\r\n\r\n";
}
expect('600-byte token', with_auth('Bearer ' . ('a' x 600)), 401, field => undef);
expect('60 kB token', with_auth('Bearer ' . ('a' x 60_000)), 401);
expect('200 kB token', with_auth('Bearer ' . ('a' x 200_000)), 431);
expect('non-ASCII token', with_auth("Bearer \xc3\xa9\xc3\xa9"), 401);
expect('token with a bad byte', with_auth("Bearer \xff\xfe"), 401);
# RFC 9110 5.5: a NUL or a CR in a field value is refused (a bare CR ends a
# line for some proxies: what they and this server read would differ)
expect('NUL inside the token', with_auth("Bearer ab\0cd"), 400);
expect('CR inside the token', with_auth("Bearer ab\rcd"), 400);
expect('two tokens', with_auth('Bearer a b'), 401);
expect('Bearer and nothing', with_auth('Bearer'), 401);
expect('Bearer and a space', with_auth('Bearer '), 401);
expect('Basic', with_auth('Basic Zm9vOmJhcg=='), 401);
expect('SQL in the token', with_auth("Bearer ';SELECT 1;--"), 401);
expect('percent escapes are not decoded', with_auth('Bearer %00%41'), 401);
expect('lowercase scheme', with_auth("bearer $token"), 200);
expect('tab after the scheme', with_auth("Bearer\t$token"), 200);
my ($st, $head) = parse(raw(with_auth('x')));
like($head, qr/WWW-Authenticate: Bearer/i, '401 carries WWW-Authenticate');
still_alive('Authorization');

# ---------------------------------------------------------------------------
# Paths
# ---------------------------------------------------------------------------
expect('trailing slash', get('/v1/contacts/'), 404);
expect('double slash first', get('//v1/contacts'), 404);
expect('double slash inside', get('/v1//contacts'), 404);
expect('segment after the id', get("/v1/contacts/$U/extra"), 404);
expect('%00 after the resource', get("/v1/contacts%00/$U"), 404);
expect('%00 inside the id', get("/v1/contacts/$U%00zz"), 400, field => 'id');
expect('%00 as the id', get('/v1/contacts/%00'), 400, field => 'id');
expect('percent-encoded id', get('/v1/contacts/%30' . substr($U, 1)), 404, field => 'id');
expect('uppercase UUID', get('/v1/contacts/' . uc($U)), 404, field => 'id');
expect('UUID in braces', get("/v1/contacts/{$U}"), 400, field => 'id');
expect('UUID in encoded braces', get("/v1/contacts/%7B$U%7D"), 400, field => 'id');
expect('id of bytes that are not UTF-8', get('/v1/contacts/%ff%fe'), 400, field => 'id');
expect('dot segments', get('/v1/contacts/..%2f..%2f'), 404);
expect('absolute URI', get('http://x/v1/contacts'), 404);
expect('asterisk', get('*'), 404);
still_alive('paths');

# ---------------------------------------------------------------------------
# Query strings
# ---------------------------------------------------------------------------
expect('limit=1e309', get('/v1/contacts?limit=1e309'), 400, field => 'limit');
expect('offset=-1', get('/v1/contacts?offset=-1'), 400, field => 'offset');
expect('limit=%00', get('/v1/contacts?limit=%00'), 400, field => 'limit');
expect('limit=%001', get('/v1/contacts?limit=%001'), 400, field => 'limit');
expect('limit%00junk=1', get('/v1/contacts?limit%00junk=1'), 400, field => 'limit%00junk');
expect('limit given twice', get('/v1/contacts?limit=1&limit=2'), 400, field => 'limit');
expect('empty name', get('/v1/contacts?=1'), 400, field => '');
expect('only ampersands', get('/v1/contacts?&&&'), 400, field => '');
expect('name not UTF-8', get('/v1/contacts?%ff=1'), 400, field => '?');
expect('broken escape in a name', get('/v1/contacts?%zz=1'), 400, field => '%zz');
expect('broken escape in a value', get('/v1/contacts?limit=%zz'), 400, field => 'limit');
expect('lone percent', get('/v1/contacts?limit=%'), 400, field => 'limit');
expect('limit without =', get('/v1/contacts?limit'), 400, field => 'limit');
expect('limit of 5000 digits', get('/v1/contacts?limit=' . ('9' x 5000)), 200);
expect('offset of 5000 digits', get('/v1/contacts?offset=' . ('9' x 5000)), 400, field => 'offset');
expect('Arabic-Indic digit', get('/v1/contacts?limit=%D9%A3'), 400, field => 'limit');
expect('fullwidth digit', get('/v1/contacts?offset=%EF%BC%91'), 400, field => 'offset');
expect('value not UTF-8', get('/v1/contacts?limit=%ff'), 400, field => 'limit');
expect('parameter on an item route', get("/v1/contacts/$U?limit=1"), 400, field => 'limit');
expect('practiceAreaId=%00', get('/v1/matter-types?practiceAreaId=%00'), 400, field => 'practiceAreaId');
expect('practiceAreaId in braces', get("/v1/matter-types?practiceAreaId={$U}"), 400,
	field => 'practiceAreaId');
expect('500 unknown parameters', get('/v1/contacts?' . join('&', map { "p$_=1" } 1 .. 500)), 400,
	field => 'p1');
# more arguments than esqase.http_connection_memory holds: libmicrohttpd
# closes the connection (documented); the worker must simply go on
my $resp = raw(get('/v1/contacts?' . ('a=1&' x 5000)));
unlike($resp, qr{^HTTP/1\.1 5}, '5000 parameters: no 5xx');
still_alive('query strings');

# ---------------------------------------------------------------------------
# Bodies
# ---------------------------------------------------------------------------
my $P = '/v1/contacts';
expect('invalid UTF-8', post($P, qq({"type":"PERSON","firstName":"\xff\xfe"})), 400);
expect('overlong UTF-8', post($P, qq({"type":"PERSON","firstName":"\xc0\xaf"})), 400);
expect('UTF-8 surrogate', post($P, qq({"type":"PERSON","firstName":"\xed\xa0\x80"})), 400);
expect('truncated UTF-8 sequence', post($P, qq({"type":"PERSON","firstName":"\xe2\x82"})), 400);
expect('UTF-8 BOM', post($P, qq(\xef\xbb\xbf{"type":"PERSON","firstName":"B"})), 400);
expect('raw NUL in a string', post($P, qq({"type":"PERSON","firstName":"a\0b"})), 400);
expect('NUL after the object', post($P, qq({"type":"PERSON","firstName":"a"}\0junk)), 400);
expect('\u0000 escape', post($P, q({"type":"PERSON","firstName":"a\u0000b"})), 400);
expect('\u0000 in a key', post($P, q({"a\u0000":1})), 400);
expect('lone surrogate escape', post($P, q({"type":"PERSON","firstName":"\ud800"})), 400);
expect('U+10FFFF escape', post($P, q({"type":"PERSON","firstName":"\udbff\udfff"})), 201);
expect('nested 10000 deep', post($P, '{"a":' . ('[' x 10000) . (']' x 10000) . '}'), 400);
expect('nested 40 deep', post($P, '{"a":' . ('[' x 40) . (']' x 40) . '}'), 400);
expect('10k-element array', post($P, '{"type":"PERSON","firstName":"x","emails":['
		  . join(',', ('"a@b.co"') x 6000) . ']}'), 422, field => 'emails');
expect('1e999', post($P, '{"type":"PERSON","firstName":1e999}'), 400);
expect('huge integer', post($P, '{"type":"PERSON","firstName":' . ('9' x 40) . '}'), 400);
expect('1e308', post($P, '{"type":"PERSON","firstName":1e308}'), 422, field => 'firstName');
expect('1001-char string', post($P, '{"type":"PERSON","firstName":"' . ('x' x 1001) . '"}'), 422,
	field => 'firstName');
expect('60 kB string', post($P, '{"type":"PERSON","firstName":"' . ('x' x 60_000) . '"}'), 422,
	field => 'firstName');
expect('2000 unknown keys', post($P, '{' . join(',', map { "\"k$_\":1" } 1 .. 2000) . '}'), 422);
expect('duplicate keys', post($P, '{"type":"PERSON","type":"COMPANY"}'), 400);
expect('empty body', post($P, ''), 400);
expect('whitespace body', post($P, '   '), 400);
expect('array body', post($P, '[]'), 400);
expect('two objects', post($P, '{}{}'), 400);
expect('NaN', post($P, '{"a":NaN}'), 400);
expect('over esqase.http_max_body', post($P, '{"a":"' . ('x' x 70_000) . '"}'), 413);
expect('over the limit, Expect: 100-continue',
	"POST $P HTTP/1.1\r\nHost: x\r\n${AUTH}Content-Length: 9999999\r\nExpect: 100-continue\r\n\r\n",
	413);
expect('text/plain', post($P, '{}', "Content-Type: text/plain\r\n") =~ s/Content-Type: application\/json\r\n//r,
	415);
expect('control characters (escaped) are stored',
	post($P, '{"type":"PERSON","firstName":"a\u0001\u001f\u007f\u2028"}'), 201);
expect('a valid chunked body', "POST $P HTTP/1.1\r\nHost: x\r\n${AUTH}Transfer-Encoding: chunked\r\n"
	  . "Connection: close\r\n\r\n5\r\n{\"typ\r\n8\r\ne\":\"COMP\r\n1b\r\nANY\",\"companyName\":\"Chunk\"}\r\n0\r\n\r\n", 201);
expect('chunked body over the limit', "POST $P HTTP/1.1\r\nHost: x\r\n${AUTH}Transfer-Encoding: chunked\r\n"
	  . "Connection: close\r\n\r\n" . ("8000\r\n" . ('x' x 0x8000) . "\r\n") x 3 . "0\r\n\r\n", 413);
expect('chunk size overflow', "POST $P HTTP/1.1\r\nHost: x\r\n${AUTH}Transfer-Encoding: chunked\r\n"
	  . "\r\nffffffffffffffffff\r\n{}\r\n0\r\n\r\n", 413);
expect('two Content-Length headers',
	"POST $P HTTP/1.1\r\nHost: x\r\n${AUTH}Content-Length: 2\r\nContent-Length: 40\r\n\r\n{}", 400);
expect('Content-Length and Transfer-Encoding',
	"POST $P HTTP/1.1\r\nHost: x\r\n${AUTH}Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
	  . "2\r\n{}\r\n0\r\n\r\n", 400);
expect('GET with a body', "GET /v1/contacts HTTP/1.1\r\nHost: x\r\n${AUTH}Content-Length: 5\r\n"
	  . "Connection: close\r\n\r\nhello", 200);

# PostgreSQL-side rejections: 4xx naming the field, never 500
my $area = api($node, 'POST', '/v1/practice-areas', 201, %T, body => { name => 'PA' })->{json}{data}{id};
my $matter = api($node, 'POST', '/v1/matters', 201, %T,
	body => { practiceAreaId => $area, openDate => '2026-01-01' })->{json}{data}{id};
for my $d ('99999-01-01', '0000-01-01', '2026-02-30', 'infinity', "\x{0662}\x{0660}\x{0662}\x{0666}-01-01")
{
	expect("openDate $d", post("/v1/matters/$matter", encode_json({ openDate => $d }), '', 'PATCH'),
		422, field => 'openDate');
}
for my $a ('1e308', '1e-400', '100.001', '-1')
{
	expect("allocation $a", post("/v1/matters/$matter",
			qq({"team":[{"memberId":"$U","allocation":$a}]}), '', 'PATCH'), 422, field => 'team');
}
still_alive('bodies');

# ---------------------------------------------------------------------------
# One connection: pipelining, then hang-ups at every stage
# ---------------------------------------------------------------------------
{
	my $g = "GET /v1/contacts?limit=200 HTTP/1.1\r\nHost: x\r\n$AUTH\r\n";
	my $body = '{"type":"COMPANY","companyName":"Pipe"}';
	my $p = "POST /v1/contacts HTTP/1.1\r\nHost: x\r\n${AUTH}Content-Type: application/json\r\n"
	  . "Content-Length: " . length($body) . "\r\n\r\n$body";
	my $resp = raw(($g x 3) . ($p x 3) . "GET /v1/nowhere HTTP/1.1\r\nHost: x\r\n\r\n"
		  . "GET /v1/contacts HTTP/1.1\r\nHost: x\r\n${AUTH}Connection: close\r\n\r\n");
	my @st = $resp =~ m{HTTP/1\.1 (\d{3}) }g;
	is("@st", '200 200 200 201 201 201 404 200', 'eight pipelined requests answered in order');

	# Hang-ups at every stage.  A client that half-closes in the middle of a
	# request holds its slot until esqase.http_idle_timeout (libmicrohttpd
	# 0.9.75 does not notice that FIN), so keep the count modest.
	for my $i (1 .. 25)
	{
		my @socks;
		for my $bytes (substr($g, 0, 20), substr($p, 0, length($p) - 10), $g, $p)
		{
			my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port)
			  or die "connect: $!";
			syswrite($s, $bytes);
			push @socks, $s;
		}
		# reset half of them (RST), close the others (FIN), without reading
		for my $k (0 .. $#socks)
		{
			setsockopt($socks[$k], SOL_SOCKET, SO_LINGER, pack('ii', 1, 0)) if ($i + $k) % 2;
			close $socks[$k];
		}
	}
	# slow readers: big answers nobody reads
	my @slow;
	for (1 .. 4)
	{
		my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port) or die;
		$s->blocking(0);
		syswrite($s, $g x 30);
		push @slow, $s;
	}
	my $a;
	my $deadline = time + 20;
	do
	{
		$a = api_raw($node, 'GET', '/v1/contacts?limit=1', %T, timeout => 5);
	} while ($a->{status} != 200 && time < $deadline);
	is($a->{status}, 200, 'served while slow readers hold big answers');
	close $_ for @slow;
}
still_alive('pipelining and hang-ups');

# ---------------------------------------------------------------------------
# Slow clients beyond esqase.http_max_connections (8, both workers together)
# ---------------------------------------------------------------------------
{
	# the slow body first, so that it is among the connections accepted at once
	my $b = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port) or die;
	syswrite($b, "POST /v1/contacts HTTP/1.1\r\nHost: x\r\n${AUTH}Content-Length: 10000\r\n\r\n{");
	my @socks;
	for (1 .. 40)
	{
		my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Timeout => 2)
		  or last;
		syswrite($s, 'GET /v1/con');
		push @socks, $s;
	}
	is(scalar @socks, 40, '40 trickling connections opened');
	my $t0 = time;
	my $body_cut;
	while (time - $t0 < 15 && !defined $body_cut)
	{
		for my $s (@socks) { syswrite($s, 'x'); }
		if (!defined syswrite($b, ' '))
		{
			$body_cut = time - $t0;
			last;
		}
		usleep(300_000);
	}
	ok(defined $body_cut, 'a trickled body is cut off by esqase.http_request_timeout'
		  . (defined $body_cut ? sprintf(' (after %.1fs)', $body_cut) : ''));
	close $_ for @socks;
	close $b;
	# once the trickling connections are gone, new ones are served at once
	my $ok = 0;
	my $deadline = time + 15;
	while (time < $deadline)
	{
		my $a = api_raw($node, 'GET', '/v1/contacts?limit=1', %T, timeout => 3);
		if ($a->{status} == 200) { $ok = 1; last; }
		usleep(200_000);
	}
	ok($ok, 'served again after the slow clients');
}
still_alive('slow clients');

# ---------------------------------------------------------------------------
# Worker memory stays flat over hostile requests on keep-alive connections
# ---------------------------------------------------------------------------
sub worker_rss
{
	my $kb = 0;
	for my $pid (split /,/, $pids)
	{
		open my $fh, '<', "/proc/$pid/status" or next;
		while (<$fh>) { $kb += $1 if /^VmRSS:\s+(\d+)/; }
	}
	return $kb;
}
{
	my $with_body = sub {
		my ($m, $path, $b) = @_;
		return "$m $path HTTP/1.1\r\nHost: x\r\n${AUTH}Content-Length: " . length($b) . "\r\n\r\n$b";
	};
	my @reqs = (
		"GET /v1/contacts?%ff=1 HTTP/1.1\r\nHost: x\r\n$AUTH\r\n",
		"GET /v1/contacts?limit=1&limit=2 HTTP/1.1\r\nHost: x\r\n$AUTH\r\n",
		"GET /v1/contacts/$U HTTP/1.1\r\nHost: x\r\n$AUTH\r\n",
		$with_body->('PATCH', "/v1/contacts/$U", '{"a":[[[[[[[1]]]]]]]}'),
		$with_body->('POST', '/v1/contacts', '{"a":}'),
		$with_body->('POST', '/v1/contacts', '{"type":"PERSON","firstName":1}'),
		$with_body->('POST', '/v1/contacts', '{"type":"PERSON","firstName":"\u0000"}'),
		"G\xffT /v1/contacts HTTP/1.1\r\nHost: x\r\n$AUTH\r\n",
		"GET /v1/contacts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer nope\r\n\r\n");
	my ($answered, $sent, $fivexx) = (0, 0, 0);
	my $burst = sub {
		my $n = shift;
		for my $c (1 .. $n / 250)
		{
			my $all = join('', map { $reqs[$_ % @reqs] } 1 .. 250);
			my $resp = raw($all . "GET /v1/contacts HTTP/1.1\r\nHost: x\r\n${AUTH}Connection: close\r\n\r\n",
				timeout => 20);
			my $n = () = $resp =~ m{HTTP/1\.1 \d{3} }g;
			$answered += $n;
			$sent += 251;
			$fivexx++ if $resp =~ m{HTTP/1\.1 5\d\d };
		}
	};
	$burst->(1000);
	my $before = worker_rss();
	$burst->(3000);
	my $after = worker_rss();
	cmp_ok($after - $before, '<', 4096,
		"worker RSS flat over 3000 hostile requests ($before kB -> $after kB)");
	is($answered, $sent, 'every pipelined hostile request was answered');
	is($fivexx, 0, 'none of them with a 5xx');
}
still_alive('memory');

ok(!$status_seen{500}, 'no raw request answered 500')
  or diag(join ', ', map { "$_ x$status_seen{$_}" } sort keys %status_seen);
no_500();
$node->stop;
done_testing();
