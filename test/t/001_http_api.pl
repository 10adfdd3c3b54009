# 001_http_api.pl — the HTTP API over real HTTP: every route and method,
# every status of the contract, headers, keep-alive, SIGHUP, and the
# extension appearing and disappearing under running workers.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use EsqaseHttp;
use IO::Socket::INET;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = esq_node('http_api');
$node->start;

# ---------------------------------------------------------------------------
# Before CREATE EXTENSION: 503 with a clear body, then serving without restart
# ---------------------------------------------------------------------------
my $r = wait_for_status($node, 'GET', '/v1/contacts', 503, token => 'x');
is($r->{status}, 503, 'workers answer 503 before CREATE EXTENSION');
like($r->{json}{error}{message}, qr/CREATE EXTENSION esqase/, '503 says what to do');
is($r->{json}{error}{code}, 'service_unavailable', '503 code');

$node->safe_psql('postgres', 'CREATE EXTENSION esqase');
$r = wait_for_status($node, 'GET', '/v1/contacts', 401, token => 'x');
is($r->{status}, 401, 'serving right after CREATE EXTENSION, no restart');

my ($token, $firm, $member) = make_key($node, owner => 1);
my %T = (token => $token);

# ---------------------------------------------------------------------------
# Every route x method
# ---------------------------------------------------------------------------
# contacts
$r = api($node, 'POST', '/v1/contacts', 201, %T,
	body => { type => 'PERSON', firstName => 'Jane', lastName => 'Doe',
		emails => ['jane@example.com'], phones => ['+1-555-0100'] });
my $contact = $r->{json}{data}{id};
like($contact, qr/^[0-9a-f-]{36}$/, 'contact id');
is($r->{headers}{location}, "/v1/contacts/$contact", 'Location of the contact');
is($r->{json}{data}{name}, 'Jane Doe', 'contact name');
$r = api($node, 'GET', '/v1/contacts?limit=10&offset=0', 200, %T);
is($r->{json}{pagination}{limit}, 10, 'limit echoed');
is($r->{json}{pagination}{total}, 1, 'one contact');
is($r->{json}{data}[0]{id}, $contact, 'listed');
api($node, 'GET', "/v1/contacts/$contact", 200, %T);
$r = api($node, 'PATCH', "/v1/contacts/$contact", 200, %T, body => { firstName => 'Janet' });
is($r->{json}{data}{firstName}, 'Janet', 'contact updated');

# practice areas
$r = api($node, 'POST', '/v1/practice-areas', 201, %T, body => { name => 'Family law' });
my $area = $r->{json}{data}{id};
is($r->{headers}{location}, "/v1/practice-areas/$area", 'Location of the practice area');
is(scalar @{ $r->{json}{data}{stages} }, 3, 'three seeded stages');
my $stage = $r->{json}{data}{stages}[0]{id};
api($node, 'GET', '/v1/practice-areas', 200, %T);
$r = api($node, 'GET', "/v1/practice-areas/$area", 200, %T);
is($r->{json}{data}{stages}[0]{name}, 'To do', 'first stage To do');
api($node, 'PATCH', "/v1/practice-areas/$area", 200, %T, body => { name => 'Family Law' });

# matter types
$r = api($node, 'POST', '/v1/matter-types', 201, %T,
	body => { practiceAreaId => $area, name => 'Divorce' });
my $mtype = $r->{json}{data}{id};
is($r->{headers}{location}, "/v1/matter-types/$mtype", 'Location of the matter type');
$r = api($node, 'GET', "/v1/matter-types?practiceAreaId=$area", 200, %T);
is($r->{json}{pagination}{total}, 1, 'one matter type');
api($node, 'GET', '/v1/matter-types', 400, %T, name => 'matter types list needs practiceAreaId');
api($node, 'GET', "/v1/matter-types/$mtype", 200, %T);
api($node, 'PATCH', "/v1/matter-types/$mtype", 200, %T, body => { name => 'Custody' });
api($node, 'DELETE', "/v1/matter-types/$mtype", 204, %T);
api($node, 'GET', "/v1/matter-types/$mtype", 404, %T, name => 'deleted matter type');

# matters and leads
{
	$r = api($node, 'POST', '/v1/matters', 201, %T,
		body => { practiceAreaId => $area, openDate => '2026-07-01',
			practiceAreaStageColumnId => $stage, title => 'Doe v. Acme',
			clientContactIds => [$contact] });
	my $matter = $r->{json}{data}{id};
	is($r->{headers}{location}, "/v1/matters/$matter", 'Location of the matter');
	like($r->{json}{data}{publicId}, qr/^M-\d{4}$/, 'matter publicId');
	api($node, 'GET', '/v1/matters', 200, %T);
	api($node, 'GET', "/v1/matters/$matter", 200, %T);
	api($node, 'PATCH', "/v1/matters/$matter", 200, %T, body => { status => 'DRAFT' });
	api($node, 'DELETE', "/v1/matters/$matter", 204, %T);
	api($node, 'GET', "/v1/matters/$matter", 404, %T, name => 'deleted matter');
}
{
	$r = api($node, 'POST', '/v1/leads', 201, %T,
		body => { type => 'PERSON', firstName => 'Lee', lastName => 'Doe',
			email => 'lee@example.com', value => 'HIGH' });
	my $lead = $r->{json}{data}{id};
	is($r->{headers}{location}, "/v1/leads/$lead", 'Location of the lead');
	api($node, 'GET', '/v1/leads', 200, %T);
	api($node, 'GET', "/v1/leads/$lead", 200, %T);
	api($node, 'PATCH', "/v1/leads/$lead", 200, %T, body => { value => 'LOW' });
	api($node, 'DELETE', "/v1/leads/$lead", 204, %T);
	api($node, 'GET', "/v1/leads/$lead", 404, %T, name => 'deleted lead');
}

# deletes last (the matter above needed the area and the contact)
$r = api($node, 'DELETE', "/v1/contacts/$contact", 204, %T);
is($r->{content} // '', '', '204 has an empty body');
api($node, 'GET', "/v1/contacts/$contact", 404, %T, name => 'deleted contact');
api($node, 'PATCH', "/v1/contacts/$contact", 404, %T, body => { firstName => 'X' },
	name => 'update of a deleted contact');
api($node, 'DELETE', "/v1/practice-areas/$area", 204, %T);

# ---------------------------------------------------------------------------
# Statuses
# ---------------------------------------------------------------------------
# 404: unknown paths
for my $p ('/', '/v1', '/v1/', '/v1/nothing', '/v2/contacts', '/v1/contacts/x/y',
	'/v1/contacts/', '/v1/contactsx')
{
	api($node, 'GET', $p, 404, %T, name => "unknown path $p");
}
api($node, 'GET', '/v1/contacts/00000000-0000-4000-8000-000000000000', 404, %T,
	name => 'unknown id');

# 405 + Allow, on every resource
for my $res (qw(contacts matters leads practice-areas matter-types))
{
	my $id = '00000000-0000-4000-8000-000000000000';
	for my $m (qw(PUT PATCH DELETE))
	{
		$r = api($node, $m, "/v1/$res", 405, %T, name => "$m /v1/$res");
		is($r->{headers}{allow}, 'GET, HEAD, POST, OPTIONS', "Allow on /v1/$res");
	}
	for my $m (qw(POST PUT))
	{
		$r = api($node, $m, "/v1/$res/$id", 405, %T, name => "$m /v1/$res/{id}");
		is($r->{headers}{allow}, 'GET, HEAD, PATCH, DELETE, OPTIONS', "Allow on /v1/$res/{id}");
	}
}

# members: read-only, scope members:read
{
	my ($mkey, undef, $mmember) = make_key($node, firm => $firm, scopes => ['members:read']);
	$r = api($node, 'GET', '/v1/members', 200, token => $mkey);
	ok((grep { $_->{id} eq $mmember } @{ $r->{json}{data} }), 'the key\'s member is listed');
	is($r->{json}{pagination}{total}, scalar @{ $r->{json}{data} }, 'members total');
	$r = api($node, 'GET', "/v1/members/$member", 200, token => $mkey);
	is($r->{json}{data}{id}, $member, 'one member');
	is($r->{json}{data}{status}, 'ACTIVE', 'member status');
	api($node, 'GET', '/v1/members', 403, %T, name => 'members without members:read');
	for my $m (qw(POST PUT PATCH DELETE))
	{
		$r = api($node, $m, '/v1/members', 405, token => $mkey, name => "$m /v1/members");
		is($r->{headers}{allow}, 'GET, HEAD, OPTIONS', 'Allow on /v1/members');
		$r = api($node, $m, "/v1/members/$member", 405, token => $mkey, name => "$m /v1/members/{id}");
		is($r->{headers}{allow}, 'GET, HEAD, OPTIONS', 'Allow on /v1/members/{id}');
	}
}

# 401 + WWW-Authenticate
for my $case (
	[ 'no header', {} ],
	[ 'bad token', { token => 'esq_nope' } ],
	[ 'basic auth', { headers => { Authorization => 'Basic dXNlcjpwYXNz' } } ],
	[ 'empty bearer', { headers => { Authorization => 'Bearer ' } } ])
{
	$r = api($node, 'GET', '/v1/contacts', 401, %{ $case->[1] }, name => "401: $case->[0]");
	is($r->{headers}{'www-authenticate'}, 'Bearer', "401 $case->[0]: WWW-Authenticate");
	is($r->{json}{error}{code}, 'unauthorized', "401 $case->[0]: code");
}
$node->safe_psql('postgres', "SELECT esqase_revoke_api_key('$token')");
api($node, 'GET', '/v1/contacts', 401, %T, name => '401: revoked key');
($token, $firm, $member) = make_key($node, owner => 1);
%T = (token => $token);

# 403: scope missing; member without the practice areas permission
my ($ro) = make_key($node, firm => $firm, scopes => ['contacts:read']);
api($node, 'GET', '/v1/contacts', 200, token => $ro);
$r = api($node, 'POST', '/v1/contacts', 403, token => $ro,
	body => { type => 'COMPANY', companyName => 'Acme' }, name => '403: read-only key writes');
is($r->{json}{error}{code}, 'forbidden', '403 code');
my ($noperm) = make_key($node, firm => $firm, permissions => '{}',
	scopes => [ 'practice-areas:read', 'practice-areas:write' ]);
api($node, 'GET', '/v1/practice-areas', 403, token => $noperm,
	name => '403: member lacks the practice areas permission');

# 400: bad id, unknown or repeated query parameter, bad paging value, bodies
$r = api($node, 'GET', '/v1/contacts/not-a-uuid', 400, %T, name => '400: bad id');
is($r->{json}{error}{code}, 'bad_request', '400 code');
$r = api($node, 'GET', '/v1/contacts?limit=5&colour=red', 400, %T, name => '400: unknown param');
is($r->{json}{error}{field}, 'colour', '400 names the unknown parameter');
like($r->{json}{error}{message}, qr/colour/, '400 message names it');
api($node, 'GET', '/v1/contacts?practiceAreaId=x', 400, %T,
	name => '400: practiceAreaId is for matter types only');
api($node, 'GET', '/v1/contacts?limit=1&limit=2', 400, %T, name => '400: repeated param');
$r = api($node, 'GET', '/v1/contacts?limit=abc', 400, %T, name => '400: bad limit');
is($r->{json}{error}{field}, 'limit', '400 names limit');
api($node, 'GET', '/v1/contacts/00000000-0000-4000-8000-000000000000?limit=1', 400, %T,
	name => '400: query parameter on a read');
for my $case (
	[ 'invalid JSON', '{"type":' ],
	[ 'not an object', '[1,2]' ],
	[ 'a string', '"x"' ],
	[ 'duplicate keys', '{"type":"PERSON","type":"COMPANY"}' ],
	[ 'too deep', '{"a":' . ('[' x 40) . (']' x 40) . '}' ],
	[ 'jansson depth limit', '{"a":' . ('[' x 5000) . (']' x 5000) . '}' ],
	[ 'empty body', '' ],
	[ 'NUL in string', "{\"firstName\":\"a\\u0000b\"}" ],
	[ 'invalid UTF-8', "{\"firstName\":\"\xff\xfe\"}" ])
{
	api($node, 'POST', '/v1/contacts', 400, %T, body => $case->[1],
		headers => { 'Content-Type' => 'application/json' }, name => "400: $case->[0]");
}
api($node, 'PATCH', '/v1/contacts/00000000-0000-4000-8000-000000000000', 400, %T,
	body => '[]', name => '400: PATCH with a non-object');

# 415
api($node, 'POST', '/v1/contacts', 415, %T, body => 'type=PERSON',
	headers => { 'Content-Type' => 'application/x-www-form-urlencoded' },
	name => '415: form body');
# The key and its scope are checked before any input: a caller without
# access learns nothing of the input rules (docs/http-api.md "Errors").
my $badkey = 'esq_000000000000_' . ('0' x 64);
for my $case (
	[ 'POST', '/v1/contacts', '{"type":', 'application/json', 'malformed JSON' ],
	[ 'POST', '/v1/contacts', 'type=PERSON', 'text/plain', 'wrong Content-Type' ],
	[ 'GET', '/v1/contacts/not-a-uuid', undef, undef, 'bad id' ],
	[ 'GET', '/v1/contacts?limit=1&limit=2', undef, undef, 'repeated parameter' ],
	[ 'GET', '/v1/contacts/00000000-0000-4000-8000-000000000000?x=1', undef, undef,
		'parameter on a read' ])
{
	my ($m, $path, $body, $ct, $what) = @$case;
	my %b = defined $body ? (body => $body, headers => { 'Content-Type' => $ct }) : ();
	api($node, $m, $path, 401, token => $badkey, %b, name => "unknown key before input: $what");
	# $ro holds contacts:read only: it may not write contacts nor read matters
	(my $denied = $path) =~ s{/v1/contacts}{/v1/matters} if $m eq 'GET';
	$r = api($node, $m, $denied // $path, 403, token => $ro, %b,
		name => "missing scope before input: $what");
	is($r->{json}{error}{code}, 'forbidden', "403 before input ($what): code");
}
api($node, 'POST', '/v1/contacts', 400, %T, body => '{"type":',
	headers => { 'Content-Type' => 'application/json' },
	name => 'with access, the input error itself');

api($node, 'POST', '/v1/contacts', 201, %T,
	body => '{"type":"PERSON","firstName":"Charset"}',
	headers => { 'Content-Type' => 'application/json; charset=utf-8' },
	name => 'JSON with a charset parameter');

# 422: well-formed but invalid
$r = api($node, 'POST', '/v1/contacts', 422, %T, body => { type => 'ALIEN' },
	name => '422: bad enum');
is($r->{json}{error}{code}, 'validation_failed', '422 code');
is($r->{json}{error}{field}, 'type', '422 names the field');
api($node, 'POST', '/v1/contacts', 422, %T, body => { type => 'PERSON', shoeSize => 9 },
	name => '422: unknown field');

# 413: by Content-Length (answered before the body is read) and chunked
my $big = '{"firstName":"' . ('a' x (1024 * 1024 + 10)) . '"}';
$r = api($node, 'POST', '/v1/contacts', 413, %T, body => $big, name => '413: body over 1MB');
is($r->{json}{error}{code}, 'payload_too_large', '413 code');
{
	# a client that waits for 100 Continue gets the 413 before sending the body
	my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
		PeerPort => $node->{esq_http_port}, Timeout => 30) or die "connect: $!";
	print $sock "POST /v1/contacts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer $token\r\n"
	  . "Content-Type: application/json\r\nContent-Length: 5000000\r\nExpect: 100-continue\r\n\r\n";
	local $/;
	my $resp = <$sock>;
	like($resp, qr{^HTTP/1\.1 413 }, '413 answered to Expect: 100-continue without the body');
}
{
	# chunked body, counted as it arrives
	my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
		PeerPort => $node->{esq_http_port}, Timeout => 30) or die "connect: $!";
	print $sock "POST /v1/contacts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer $token\r\n"
	  . "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
	my $chunk = 'a' x 65536;
	for (1 .. 20)
	{
		printf $sock "%x\r\n%s\r\n", length $chunk, $chunk;
	}
	print $sock "0\r\n\r\n";
	local $/;
	my $resp = <$sock>;
	like($resp, qr{^HTTP/1\.1 413 }, '413: chunked body over the limit');
	like($resp, qr/"payload_too_large"/, '413 chunked: error body');
}

# ---------------------------------------------------------------------------
# Keep-alive: two requests on one connection
# ---------------------------------------------------------------------------
{
	my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
		PeerPort => $node->{esq_http_port}, Timeout => 30) or die "connect: $!";
	my $req = "GET /v1/contacts?limit=1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer $token\r\n\r\n";
	my @got;
	for (1 .. 3)
	{
		print $sock $req;
		my ($head, $body) = ('', '');
		while ($head !~ /\r\n\r\n/)
		{
			my $n = sysread($sock, my $buf, 1);
			last unless $n;
			$head .= $buf;
		}
		my ($len) = $head =~ /Content-Length:\s*(\d+)/i;
		$len //= 0;
		while (length $body < $len)
		{
			my $n = sysread($sock, my $buf, $len - length $body);
			last unless $n;
			$body .= $buf;
		}
		push @got, $head;
		unlike($head, qr/Connection:\s*close/i, "keep-alive response $_ keeps the connection");
	}
	is(scalar(grep { m{^HTTP/1\.1 200 } } @got), 3, 'three requests answered on one connection');
	close $sock;
}

# HTTP::Tiny's own keep-alive (the client the other tests use)
{
	my $http = HTTP::Tiny->new(keep_alive => 1, timeout => 30);
	for (1 .. 5)
	{
		api($node, 'GET', '/v1/contacts', 200, %T, http => $http, name => "keep-alive client $_");
	}
}

# ---------------------------------------------------------------------------
# SIGHUP applies a changed setting
# ---------------------------------------------------------------------------
my $body300 = { type => 'PERSON', firstName => 'x' x 300 };
api($node, 'POST', '/v1/contacts', 201, %T, body => $body300, name => '300-byte body accepted');
$node->append_conf('postgresql.conf', "esqase.http_max_body = 200\n");
$node->reload;
$r = wait_for_status($node, 'POST', '/v1/contacts', 413, %T, body => $body300, timeout_s => 30);
is($r->{status}, 413, 'after SIGHUP, esqase.http_max_body = 200 rejects the 300-byte body');
api($node, 'POST', '/v1/contacts', 201, %T, body => { type => 'PERSON', firstName => 'y' },
	name => 'small body still accepted');
$node->append_conf('postgresql.conf', "esqase.http_max_body = 1MB\n");
$node->reload;
$r = wait_for_status($node, 'POST', '/v1/contacts', 201, %T, body => $body300, timeout_s => 30);
is($r->{status}, 201, 'limit restored by SIGHUP');

# ---------------------------------------------------------------------------
# Unsafe role: BYPASSRLS or superuser -> 503, fixed -> serving again
# ---------------------------------------------------------------------------
$node->safe_psql('postgres', 'ALTER ROLE esqase_api BYPASSRLS');
$r = wait_for_status($node, 'GET', '/v1/contacts', 503, %T, timeout_s => 10);
is($r->{status}, 503, 'BYPASSRLS role refused');
$node->safe_psql('postgres', 'ALTER ROLE esqase_api NOBYPASSRLS SUPERUSER');
api($node, 'GET', '/v1/contacts', 503, %T, name => 'superuser role refused');
$node->safe_psql('postgres', 'ALTER ROLE esqase_api NOSUPERUSER');
api($node, 'GET', '/v1/contacts', 200, %T, name => 'safe role serves again');
ok($node->log_contains('has BYPASSRLS; the API will not run as it'), 'BYPASSRLS refusal logged');

# ---------------------------------------------------------------------------
# DROP EXTENSION -> 503 (no crash); CREATE EXTENSION -> serving
# ---------------------------------------------------------------------------
# Firms exist: the drop guard wants esqase.allow_drop (092_safe_failure.pl).
$node->safe_psql('postgres', 'SET esqase.allow_drop = on; DROP EXTENSION esqase');
for (1 .. 4)
{
	api($node, 'GET', '/v1/contacts', 503, %T, name => "after DROP EXTENSION ($_)");
}
$node->safe_psql('postgres', 'CREATE EXTENSION esqase');
($token) = make_key($node, owner => 1);
for (1 .. 4)
{
	api($node, 'GET', '/v1/contacts', 200, token => $token, name => "after re-CREATE ($_)");
}
ok(!$node->log_contains('terminated by signal'), 'no worker crashed');

no_500();
# Bodies are compact JSON, success and error alike: no space or newline
# outside a string (PostgreSQL's json is laid out with both).
{
	my %K = (token => $token);
	my $made = api($node, 'POST', '/v1/contacts', 201, %K,
		body => { type => 'PERSON', firstName => 'Compact  Spaces', emails => ['a@b.test', 'c@d.test'] });
	my @bodies = ($made->{content},
		api($node, 'GET', "/v1/contacts/$made->{json}{data}{id}", 200, %K)->{content},
		api($node, 'GET', '/v1/contacts?limit=3', 200, %K)->{content},
		api($node, 'POST', '/v1/contacts', 422, %K, body => { type => 'ROBOT' })->{content});
	for my $b (@bodies)
	{
		(my $outside = $b) =~ s/"(?:[^"\\]|\\.)*"/""/g;
		unlike($outside, qr/\s/, 'compact JSON: ' . substr($b, 0, 40));
	}
	like($bodies[1], qr/"Compact  Spaces"/, 'spaces inside strings are kept');
	is_deeply(JSON::PP->new->decode($bodies[1])->{data}{emails}, ['a@b.test', 'c@d.test'],
		'and the body is whole JSON');
}

$node->stop;
done_testing();
