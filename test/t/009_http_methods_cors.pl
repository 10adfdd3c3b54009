# 009_http_methods_cors.pl — HEAD on every GET route, OPTIONS with Allow,
# CORS for the origins in esqase.http_cors_origins (none by default), with
# preflight.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use EsqaseHttp;
use IO::Socket::INET;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = esq_node('cors');
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION esqase');
my ($token) = make_key($node, owner => 1);
my %T = (token => $token);
my $r = wait_for_status($node, 'GET', '/v1/contacts', 200, %T);
is($r->{status}, 200, 'serving');
my $port = $node->{esq_http_port};
my $APP = 'https://app.example.com';

# One raw request on its own connection; returns the whole response.
sub raw
{
	my $req = shift;
	my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Timeout => 5)
	  or die "connect: $!";
	print $s $req;
	local $/;
	my $resp = <$s>;
	close $s;
	return $resp;
}

# ---------------------------------------------------------------------------
# HEAD: the GET's status and headers, no body
# ---------------------------------------------------------------------------
my $id = api($node, 'POST', '/v1/contacts', 201, %T,
	body => { type => 'COMPANY', companyName => 'Head Ltd' })->{json}{data}{id};
my $area = api($node, 'POST', '/v1/practice-areas', 201, %T, body => { name => 'PA' })->{json}{data}{id};
for my $path ('/v1/contacts', "/v1/contacts/$id", '/v1/matters', '/v1/leads',
	'/v1/practice-areas', "/v1/practice-areas/$area", "/v1/matter-types?practiceAreaId=$area")
{
	my $get = api_raw($node, 'GET', $path, %T);
	my $resp = raw("HEAD $path HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer $token\r\n"
		  . "Connection: close\r\n\r\n");
	my ($head, $body) = split /\r\n\r\n/, $resp, 2;
	like($head, qr{^HTTP/1\.1 200 }, "HEAD $path -> 200");
	is($body, '', "HEAD $path: no body");
	like($head, qr{\r\nContent-Type: application/json; charset=utf-8}i, "HEAD $path: the GET's content type");
	my ($len) = $head =~ /\r\nContent-Length: (\d+)/i;
	is($len, length($get->{content}), "HEAD $path: the GET's Content-Length");
}
$r = api_raw($node, 'HEAD', '/v1/contacts');
is($r->{status}, 401, 'HEAD without a key -> 401');
is($r->{headers}{'www-authenticate'}, 'Bearer', 'with WWW-Authenticate');
$r = api_raw($node, 'HEAD', '/v1/contacts/00000000-0000-4000-8000-000000000000', %T);
is($r->{status}, 404, 'HEAD of a missing record -> 404');
$r = api_raw($node, 'HEAD', '/v1/contacts/not-a-uuid', %T);
is($r->{status}, 400, 'HEAD with a bad id -> 400');

# ---------------------------------------------------------------------------
# OPTIONS: 204 with Allow, no key needed
# ---------------------------------------------------------------------------
$r = api_raw($node, 'OPTIONS', '/v1/contacts');
is($r->{status}, 204, 'OPTIONS /v1/contacts -> 204 without a key');
is($r->{headers}{allow}, 'GET, HEAD, POST, OPTIONS', 'Allow on a collection');
$r = api_raw($node, 'OPTIONS', "/v1/matters/$id");
is($r->{status}, 204, 'OPTIONS on an item -> 204');
is($r->{headers}{allow}, 'GET, HEAD, PATCH, DELETE, OPTIONS', 'Allow on an item');
api($node, 'OPTIONS', '/v1/nowhere', 404);
api($node, 'PUT', '/v1/contacts', 405, %T);

# ---------------------------------------------------------------------------
# CORS: off by default
# ---------------------------------------------------------------------------
$r = api_raw($node, 'GET', '/v1/contacts', %T, headers => { Origin => $APP });
is($r->{status}, 200, 'a GET with an Origin');
ok(!exists $r->{headers}{'access-control-allow-origin'}, 'no CORS header by default');
ok(!exists $r->{headers}{vary}, 'no Vary by default');
$r = api_raw($node, 'OPTIONS', '/v1/contacts',
	headers => { Origin => $APP, 'Access-Control-Request-Method' => 'POST' });
ok(!exists $r->{headers}{'access-control-allow-methods'}, 'no preflight answer by default');

# ---------------------------------------------------------------------------
# CORS for the configured origins
# ---------------------------------------------------------------------------
$node->append_conf('postgresql.conf',
	"esqase.http_cors_origins = '$APP, http://localhost:3000'\n");
$node->reload;
for (1 .. 50)
{
	$r = api_raw($node, 'OPTIONS', '/v1/contacts',
		headers => { Origin => $APP, 'Access-Control-Request-Method' => 'POST',
			'Access-Control-Request-Headers' => 'authorization, content-type' });
	last if $r->{headers}{'access-control-allow-origin'};
	select(undef, undef, undef, 0.1);
}
is($r->{status}, 204, 'preflight -> 204');
is($r->{headers}{'access-control-allow-origin'}, $APP, 'preflight: Allow-Origin is the origin');
is($r->{headers}{'access-control-allow-methods'}, 'GET, HEAD, POST, OPTIONS', 'preflight: the route\'s methods');
like($r->{headers}{'access-control-allow-headers'}, qr/Authorization.*Content-Type/, 'preflight: Authorization and Content-Type');
is($r->{headers}{'access-control-max-age'}, '600', 'preflight: Max-Age');
is($r->{headers}{vary}, 'Origin', 'preflight: Vary: Origin');

$r = api_raw($node, 'OPTIONS', '/v1/contacts',
	headers => { Origin => 'https://evil.example.com', 'Access-Control-Request-Method' => 'POST' });
is($r->{status}, 204, 'preflight from another origin -> 204');
ok(!exists $r->{headers}{'access-control-allow-origin'}, 'but no Allow-Origin');
ok(!exists $r->{headers}{'access-control-allow-methods'}, 'and no Allow-Methods');
is($r->{headers}{vary}, 'Origin', 'Vary: Origin all the same');

$r = api_raw($node, 'POST', '/v1/contacts', %T, headers => { Origin => 'http://localhost:3000' },
	body => { type => 'COMPANY', companyName => 'Browser Ltd' });
is($r->{status}, 201, 'a POST from the second origin');
is($r->{headers}{'access-control-allow-origin'}, 'http://localhost:3000', 'its Allow-Origin');
like($r->{headers}{'access-control-expose-headers'}, qr/Location.*X-Request-Id/, 'Location and X-Request-Id exposed');
$r = api_raw($node, 'GET', '/v1/contacts', headers => { Origin => $APP });
is($r->{status}, 401, 'an error from an allowed origin');
is($r->{headers}{'access-control-allow-origin'}, $APP, 'is readable by the page (Allow-Origin)');
$r = api_raw($node, 'GET', '/v1/contacts', %T, headers => { Origin => 'https://app.example.com.evil.net' });
ok(!exists $r->{headers}{'access-control-allow-origin'}, 'an origin that only starts like an allowed one is not allowed');

no_500();
$node->stop;
done_testing();
