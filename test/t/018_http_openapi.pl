# 018_http_openapi.pl — docs/openapi.json cannot drift from the server:
#  1. it is valid OpenAPI 3.1 for a real validator (@redocly/cli lint,
#     pinned in test/openapi, installed by tools/install-deps.sh);
#  2. /v1/openapi.json serves exactly that file (GET, HEAD, OPTIONS, no key);
#  3. its paths are the routes of esq_routes[] (sql/registry.pl) and
#     nothing else; each path's methods are the live server's Allow, and any
#     other method is a 405; each list's query parameters are the ones SQL
#     accepts (esqase.list_parameters once it exists, and a request with each);
#  4. every documented status of every operation is provoked on the live
#     server, and every answer (status, headers, body, field order) and every
#     request body sent is checked against the document by
#     test/t/openapi_check.py (python3-jsonschema).
#
# Checks of features built on other branches are TODO here until they are
# merged (%PENDING below): the lead empties %PENDING when integrating them.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use EsqaseHttp;
use File::Temp qw(tempfile);
use HTTP::Tiny;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

my %PENDING = (
);

my $root = "$FindBin::RealBin/../..";
my $doc_file = "$root/docs/openapi.json";
my $doc_text = do { local (@ARGV, $/) = $doc_file; <> };
my $doc = JSON::PP->new->decode($doc_text);

# A check, reported TODO while its feature is pending.
sub check
{
	my ($feature, $ok, $name, $diag) = @_;
	local our $TODO = $feature && $PENDING{$feature} ? "pending: $PENDING{$feature}" : undef;
	ok($ok, $name) or diag($diag // '');
}

# ---------------------------------------------------------------------------
# 1. the validator
# ---------------------------------------------------------------------------
my $npm_dir = "$root/test/openapi";
my $redocly = "$npm_dir/node_modules/.bin/redocly";
ok(-x $redocly, '@redocly/cli is installed (tools/install-deps.sh runs npm ci in test/openapi)');
if (-x $redocly)
{
	my ($out, $err) = ('', '');
	my $ok = IPC::Run::run([ $redocly, 'lint', '--config', "$npm_dir/redocly.yaml",
			'--format', 'stylish', $doc_file ], '>', \$out, '2>', \$err);
	ok($ok, 'redocly lint: no problem (recommended-strict)') or diag("$out\n$err");
	like("$out$err", qr/valid/, 'redocly lint says it is valid');
}
{
	my $lock = do { local (@ARGV, $/) = "$npm_dir/package-lock.json"; <> };
	# (packages' own funding links are URLs; download addresses are not there)
	unlike($lock, qr{registry|"resolved"|\.tgz}i, 'the lockfile names no registry host');
	like($lock, qr{"node_modules/\@redocly/cli": \{\s*"version": "[0-9.]+",\s*"integrity": "sha512-},
		'the lockfile pins @redocly/cli by version and integrity');
	my $npmrc = do { local (@ARGV, $/) = "$npm_dir/.npmrc"; <> };
	like($npmrc, qr/^omit-lockfile-registry-resolved=true$/m, '.npmrc keeps registries out of the lock');
	is($doc->{openapi}, '3.1.0', 'OpenAPI 3.1');
}

# ---------------------------------------------------------------------------
# A server: one worker (settings reloaded below take effect in one place),
# small body limit (413 without megabytes).
# ---------------------------------------------------------------------------
# (webhooks posting to this machine: esqase.webhook_allow_private)
my $node = esq_node('openapi', 'esqase.http_workers' => 1, 'esqase.http_max_body' => "'8kB'",
	'esqase.webhook_allow_private' => 'on');
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION esqase');
my @scopes = (all_scopes(), 'members:read', 'webhooks:read', 'webhooks:write');
my ($token, $firm, $member) = make_key($node, owner => 1, scopes => \@scopes);
my ($weak) = make_key($node, firm => $firm, scopes => ['contacts:read']);
my ($weak2) = make_key($node, firm => $firm, scopes => ['matters:read']);
my %T = (token => $token);
my $r = wait_for_status($node, 'GET', '/v1/contacts', 200, %T);
is($r->{status}, 200, 'serving');

# ---------------------------------------------------------------------------
# 2. the served document
# ---------------------------------------------------------------------------
$r = api_raw($node, 'GET', '/v1/openapi.json');
is($r->{status}, 200, 'GET /v1/openapi.json without a key -> 200');
ok($r->{content} eq $doc_text, 'it serves docs/openapi.json byte for byte');
is($r->{headers}{'content-type'}, 'application/json; charset=utf-8', 'as JSON');
$r = api_raw($node, 'HEAD', '/v1/openapi.json');
is($r->{status}, 200, 'HEAD /v1/openapi.json -> 200');
is($r->{headers}{'content-length'}, length($doc_text), 'HEAD: the GET\'s Content-Length');
$r = api_raw($node, 'GET', '/v1/openapi.json?v=2', token => 'esq_not_a_key');
is($r->{status}, 200, 'a key or a query parameter changes nothing');

# ---------------------------------------------------------------------------
# 3. paths and methods: the route table and the live server
# ---------------------------------------------------------------------------
# The routes: one per resource of sql/registry.pl, which esq_routes[] is
# made from (build/esq_registry.h).
my $registry = do "$root/sql/registry.pl";
die "sql/registry.pl: " . ($@ || $!) unless ref $registry;
my @routes = map { { path => $_->{path}, sql => $_->{name}, read_only => !!$_->{read_only},
		sub_list => $_->{sub_list} } } @{ $registry->{resources} };
cmp_ok(scalar @routes, '>=', 6, 'routes read from sql/registry.pl');
my @expected = ('/v1/openapi.json', map { ("/v1/$_->{path}", "/v1/$_->{path}/{id}",
		$_->{sub_list} ? ("/v1/$_->{path}/{id}/$_->{sub_list}") : ()) } @routes);
is_deeply([ sort keys %{ $doc->{paths} } ], [ sort @expected ],
	'documented paths = the routes of the registry (collection, item, sub-list) + /v1/openapi.json');

my @METHODS = qw(GET HEAD POST PUT PATCH DELETE OPTIONS TRACE);
my $sample_id = '00000000-0000-4000-8000-000000000000';
for my $path (sort keys %{ $doc->{paths} })
{
	(my $url = $path) =~ s/\{id\}/$sample_id/;
	my @documented = sort map { uc } grep { $_ ne 'parameters' } keys %{ $doc->{paths}{$path} };
	$r = api_raw($node, 'OPTIONS', $url);
	my @allow = sort split /,\s*/, ($r->{headers}{allow} // '');
	is_deeply(\@allow, \@documented, "$path: documented methods = the server's Allow");
	my %doc_m = map { $_ => 1 } @documented;
	for my $m (grep { !$doc_m{$_} } @METHODS)
	{
		$r = api_raw($node, $m, $url, %T);
		check(undef, $r->{status} == 405 && ($r->{headers}{allow} // '') eq join(', ', grep { $doc_m{$_} } qw(GET HEAD POST PATCH DELETE OPTIONS)),
			"$m $path (not documented) -> 405 with Allow", "got $r->{status} " . ($r->{content} // ''));
	}
}
$r = api_raw($node, 'GET', '/v1/not-documented', %T);
is($r->{status}, 404, 'an undocumented path -> 404');

# ---------------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------------
my $n = 0;
my %create = (
	'contacts' => sub {
		{ type => 'PERSON', firstName => 'Ada', lastName => 'Lovelace' . ++$n,
		  emails => ['ada@example.com'], phones => ['+1-555-0100'] } },
	'practice-areas' => sub { { name => 'Family law ' . ++$n } },
);
my $pa_doc = api($node, 'POST', '/v1/practice-areas', 201, %T, body => $create{'practice-areas'}->())->{json}{data};
my $pa = $pa_doc->{id};
my $stage = $pa_doc->{stages}[0]{id};
my $contact = api($node, 'POST', '/v1/contacts', 201, %T, body => $create{contacts}->())->{json}{data}{id};
$create{'matter-types'} = sub { { practiceAreaId => $pa, name => 'Divorce ' . ++$n } };
$create{matters} = sub {
	{ practiceAreaId => $pa, openDate => '2026-07-01', title => 'Doe v. Acme ' . ++$n,
	  practiceAreaStageColumnId => $stage, clientContactIds => [$contact],
	  team => [ { memberId => $member, role => 'Lead counsel', allocation => 60 } ] } };
$create{leads} = sub {
	{ type => 'PERSON', firstName => 'Jane', lastName => 'Doe' . ++$n, email => 'jane@example.com',
	  phone => '+1-555-0101', practiceAreaId => $pa, value => 'HIGH' } };
my %update = (
	'contacts' => { phones => ['+1-555-0199'] },
	'matters' => { status => 'DRAFT', closeDate => '2026-12-31' },
	'leads' => { value => 'LOW', isPrivate => JSON::PP::false },
	'practice-areas' => { name => 'Family law (renamed)' },
	'matter-types' => { name => 'Custody' },
	'webhooks' => { status => 'PAUSED' },
);
# a receiver that is not there (port 9): its deliveries are retried, unseen
$create{webhooks} = sub { { url => 'http://127.0.0.1:9/hook/' . ++$n, events => ['contacts.created'] } };
my %fixture = (members => $member, 'practice-areas' => $pa, contacts => $contact);
for my $res (qw(matter-types matters leads webhooks))
{
	$fixture{$res} = api($node, 'POST', "/v1/$res", 201, %T, body => $create{$res}->())->{json}{data}{id};
}
my %list_query = ('matter-types' => "practiceAreaId=$pa");

my @obs;
my $seq = 0;
my $http = HTTP::Tiny->new(timeout => 30, keep_alive => 0);

# Sends one request and records the answer for openapi_check.py.
sub observe
{
	my ($op, $want, $feature, $method, $url, %o) = @_;
	my $body = $o{body};
	$body = encode_json($body) if ref $body;
	my $res = api_raw($node, $method, $url, %o, (defined $body ? (body => $body) : ()), http => $http);
	my $label = '[' . ++$seq . "] $method $url" . ($o{why} ? " ($o{why})" : '');
	check($feature, $res->{status} == $want, "$label -> $want",
		"got $res->{status}: " . ($res->{content} // ''));
	push @obs,
	  {
		op => $op,
		status => $res->{status} + 0,
		headers => $res->{headers},
		body => $res->{content} // '',
		request => $body,
		name => $label,
		feature => $feature,
	  }
	  if $res->{status} != 599;
	return $res;
}

# ---------------------------------------------------------------------------
# 3b. list parameters: documented = accepted by SQL
# ---------------------------------------------------------------------------
# the parameters s2-filters adds (TODO until merged); any other is checked now
my %FILTER_PARAMS = map { $_ => 1 }
  qw(status createdSince updatedSince order q type practiceAreaId stageId clientContactId);
my $has_list_parameters = $node->safe_psql('postgres',
	"SELECT to_regprocedure('esqase.list_parameters(text)') IS NOT NULL") eq 't';
# a valid value of each parameter
my %status = (leads => 'PENDING');
my %value = (limit => 1, offset => 0, createdSince => '2000-01-01T00:00:00Z',
	updatedSince => '2000-01-01T00:00:00Z', order => '-createdAt', q => 'a', type => 'PERSON',
	practiceAreaId => $pa, stageId => $stage, clientContactId => $contact);
for my $route (@routes)
{
	my $path = "/v1/$route->{path}";
	my @params = sort map { $_->{name} }
	  grep { $_->{in} eq 'query' }
	  map { $_->{'$ref'} ? $doc->{components}{parameters}{ (split m{/}, $_->{'$ref'})[-1] } : $_ }
	  @{ $doc->{paths}{$path}{get}{parameters} };
	my $base = $list_query{ $route->{path} };
	if ($has_list_parameters)
	{
		# the resource as spelled in the URL (or else in SQL)
		my $sql = $node->safe_psql('postgres',
			"SELECT array_to_string(ARRAY(SELECT unnest(coalesce(esqase.list_parameters('$route->{path}'), "
			  . "esqase.list_parameters('$route->{sql}'))) ORDER BY 1), ' ')");
		is(join(' ', @params), join(' ', sort split / /, $sql),
			"$path: documented query parameters = esqase.list_parameters('$route->{path}')");
	}
	else
	{
		check('filters', 0, "$path: esqase.list_parameters() exists to compare with");
	}
	my $first = api_raw($node, 'GET', "$path?limit=1" . ($base ? "&$base" : ''), %T);
	for my $p (@params)
	{
		my $v = $p eq 'cursor' ? $first->{json}{pagination}{nextCursor}
		  : $p eq 'status' ? $status{ $route->{path} } // 'ACTIVE' : $value{$p};
		next if !defined $v && $p eq 'cursor';    # a list of one record: no next page
		my $q = "$p=$v";
		$q .= "&$base" if $base && $p ne 'practiceAreaId';
		observe("GET $path", 200,
			$FILTER_PARAMS{$p} && !($route->{path} eq 'matter-types' && $p eq 'practiceAreaId') ? 'filters' : undef,
			'GET', "$path?$q", %T, why => "the documented parameter $p");
	}
	$r = api_raw($node, 'GET', "$path?notDocumented=1" . ($base ? "&$base" : ''), %T);
	is($r->{status}, 400, "$path: an undocumented parameter -> 400");
	is($r->{json} && $r->{json}{error}{field}, 'notDocumented', 'naming it');
}

# ---------------------------------------------------------------------------
# 4. every documented status of every operation, on the live server
# ---------------------------------------------------------------------------
# The documented operations: [op, method, path template, resource, is_item,
# sub-list (/v1/<resource>/{id}/<sub>) or undef].
my @ops;
for my $path (sort keys %{ $doc->{paths} })
{
	for my $m (sort grep { $_ ne 'parameters' } keys %{ $doc->{paths}{$path} })
	{
		my ($res) = $path =~ m{^/v1/([a-z-]+)};
		push @ops, [ uc($m) . " $path", uc $m, $path, $res, $path =~ /\{id\}$/ ? 1 : 0,
			$path =~ m{\{id\}/([a-z-]+)$} ? $1 : undef ];
	}
}
sub documented { my ($op, $status) = @_; return exists $doc->{paths}{ $op->[2] }{ lc $op->[1] }{responses}{$status}; }

# The URL of an operation on record $id (item) or the list.
sub url_of
{
	my ($op, $id) = @_;
	return $op->[2] if $op->[2] eq '/v1/openapi.json';
	return "/v1/$op->[3]/" . ($id // $fixture{ $op->[3] }) . "/$op->[5]" if $op->[5];
	my $url = "/v1/$op->[3]" . ($op->[4] ? '/' . ($id // $fixture{ $op->[3] }) : '');
	my $q = $list_query{ $op->[3] };
	$url .= "?$q" if !$op->[4] && $q && $op->[1] ne 'POST' && $op->[1] ne 'OPTIONS';
	return $url;
}

# A fresh record of the resource (to delete).
sub fresh
{
	my $res = shift;
	return api($node, 'POST', "/v1/$res", 201, %T, body => $create{$res}->())->{json}{data}{id};
}

# The request of an operation that succeeds; returns (url, %options).
sub success_request
{
	my ($op, %o) = @_;
	my ($m, $res) = ($op->[1], $op->[3]);
	return (url_of($op), %o) if $m eq 'GET' || $m eq 'HEAD' || $m eq 'OPTIONS';
	return (url_of($op), %o, body => $create{$res}->()) if $m eq 'POST';
	return (url_of($op), %o, body => $update{$res}) if $m eq 'PATCH';
	return (url_of($op, $o{keep} ? undef : fresh($res)), %o) if $m eq 'DELETE';
	die "no success request for $op->[0]";
}

my $big = '{"note": "' . ('x' x 9000) . '"}';
my $random = '6b0c4a52-9f7e-4c2b-8d1a-3e5f6a7b8c9d';
for my $op (@ops)
{
	my ($name, $m, $path, $res, $is_item, $sub) = @$op;
	my $keyed = $path ne '/v1/openapi.json' && $m ne 'OPTIONS';
	my $ok_status = $m eq 'POST' ? 201 : $m eq 'DELETE' || $m eq 'OPTIONS' ? 204 : 200;
	observe($name, $ok_status, undef, $m, success_request($op, %T));
	next unless $keyed;
	my $weak_token = $res eq 'contacts' && ($m eq 'GET' || $m eq 'HEAD') ? $weak2 : $weak;
	observe($name, 400, undef, $m, url_of($op, 'not-a-uuid'), %T, why => 'id not a UUID',
		($m eq 'PATCH' ? (body => $update{$res}) : ())) if $is_item || $sub;
	observe($name, 400, undef, $m, url_of($op) . ($list_query{$res} ? '&' : '?') . 'limit=abc', %T,
		why => 'bad limit') if !$is_item && $m ne 'POST';
	observe($name, 400, undef, $m, url_of($op), %T, body => '{"type": ', why => 'body not JSON')
	  if $m eq 'POST';
	observe($name, 401, undef, $m, success_request($op, keep => 1));
	observe($name, 403, undef, $m, success_request($op, token => $weak_token, keep => 1));
	observe($name, 404, undef, $m, url_of($op, $random), %T,
		($m eq 'PATCH' ? (body => $update{$res}) : ())) if $is_item || $sub;
	observe($name, 404, undef, $m, "/v1/$res?practiceAreaId=$random", %T, why => 'no such practice area')
	  if !$is_item && !$sub && $m ne 'POST' && documented($op, 404);
	if ($m eq 'POST' || $m eq 'PATCH')
	{
		observe($name, 413, undef, $m, url_of($op), %T, body => $big);
		observe($name, 415, undef, $m, url_of($op), %T, body => encode_json($m eq 'POST' ? $create{$res}->() : $update{$res}),
			headers => { 'Content-Type' => 'text/plain' });
		observe($name, 422, undef, $m, url_of($op), %T, body => ($m eq 'POST' ? '{}' : '{"notAField": 1}'),
			why => $m eq 'POST' ? 'required fields missing' : 'unknown field');
	}
	if ($is_item && ($m eq 'GET' || $m eq 'HEAD'))
	{
		my $etag = api_raw($node, 'GET', url_of($op), %T)->{headers}{etag} // '"none"';
		observe($name, 304, 'etag', $m, url_of($op), %T, headers => { 'If-None-Match' => $etag });
	}
	if ($m eq 'PATCH' || $m eq 'DELETE')
	{
		my $id = $m eq 'DELETE' ? fresh($res) : undef;
		observe($name, 412, 'etag', $m, url_of($op, $id), %T, headers => { 'If-Match' => '"stale-0"' },
			($m eq 'PATCH' ? (body => $update{$res}) : ()), why => 'stale If-Match');
	}
}

# Sync listings: soft-deleted records come back too, with deletedAt
for my $route (@routes)
{
	my $base = $list_query{ $route->{path} };
	observe("GET /v1/$route->{path}", 200, 'filters', 'GET',
		"/v1/$route->{path}?updatedSince=2000-01-01T00:00:00Z&limit=200" . ($base ? "&$base" : ''), %T,
		why => 'sync listing');
}

# ETags and Idempotency-Key in detail (the statuses above are generic)
{
	my $url = "/v1/contacts/$contact";
	my $g = api_raw($node, 'GET', $url, %T);
	check('etag', defined $g->{headers}{etag} && defined $g->{headers}{'last-modified'},
		'GET of a record: ETag and Last-Modified');
	observe('PATCH /v1/contacts/{id}', 200, 'etag', 'PATCH', $url, %T, body => $update{contacts},
		headers => { 'If-Match' => $g->{headers}{etag} // '"none"' }, why => 'current If-Match');
	observe('PATCH /v1/contacts/{id}', 400, 'etag', 'PATCH', $url, %T, body => $update{contacts},
		headers => { 'If-Match' => 'not-quoted' }, why => 'malformed If-Match');

	my $body = $create{contacts}->();
	my $key = "openapi-$$-" . time;
	my $first = observe('POST /v1/contacts', 201, undef, 'POST', '/v1/contacts', %T, body => $body,
		headers => { 'Idempotency-Key' => $key }, why => 'Idempotency-Key, first');
	my $again = observe('POST /v1/contacts', 201, 'idem', 'POST', '/v1/contacts', %T, body => $body,
		headers => { 'Idempotency-Key' => $key }, why => 'Idempotency-Key, replay');
	check('idem', ($again->{headers}{'idempotent-replayed'} // '') eq 'true'
		  && ($again->{content} // '') eq ($first->{content} // '')
		  && ($again->{headers}{location} // '') eq ($first->{headers}{location} // ''),
		'the replay is the first answer, with Idempotent-Replayed: true');
	my $reused = observe('POST /v1/contacts', 422, 'idem', 'POST', '/v1/contacts', %T,
		body => $create{contacts}->(), headers => { 'Idempotency-Key' => $key }, why => 'key reused');
	check('idem', $reused->{json} && $reused->{json}{error}{code} eq 'idempotency_key_reused'
		  && ($reused->{json}{error}{field} // '') eq 'Idempotency-Key', 'code idempotency_key_reused, field Idempotency-Key');
	my $bad = observe('POST /v1/contacts', 400, 'idem', 'POST', '/v1/contacts', %T,
		body => $create{contacts}->(), headers => { 'Idempotency-Key' => 'k' x 256 }, why => 'Idempotency-Key too long');
	check('idem', $bad->{json} && ($bad->{json}{error}{field} // '') eq 'Idempotency-Key', '400 names Idempotency-Key');
}

# Settings changed by a reload, polled until the one worker has them.
sub reload_until
{
	my ($conf, $want, $method, $url, %o) = @_;
	$node->append_conf('postgresql.conf', $conf);
	$node->reload;
	my $res = wait_for_status($node, $method, $url, $want, %o, timeout_s => 30);
	return $res->{status} == $want;
}

# 429: a budget of one request per 10 minutes for one key.
my $rate_limits = $node->safe_psql('postgres',
	"SELECT count(*) FROM pg_settings WHERE name = 'esqase.http_rate_limit'") eq '1';
check('ratelimit', $rate_limits, 'the setting esqase.http_rate_limit exists');
if ($rate_limits)
{
	my ($rl) = make_key($node, firm => $firm, scopes => \@scopes);
	my $on = reload_until("esqase.http_rate_limit = 1\nesqase.http_rate_limit_window = 600\n",
		429, 'GET', '/v1/contacts', token => $rl);
	check('ratelimit', $on, 'esqase.http_rate_limit = 1: the second request -> 429');
	for my $op (grep { documented($_, 429) } @ops)
	{
		observe($op->[0], 429, 'ratelimit', $op->[1], success_request($op, token => $rl, keep => 1));
	}
	reload_until("esqase.http_rate_limit = 0\n", 200, 'GET', '/v1/contacts', %T);
}

# 503 service_unavailable: esqase.http_role names no role.
ok(reload_until("esqase.http_role = 'esqase_no_such_role'\n", 503, 'GET', '/v1/contacts', %T),
	'esqase.http_role missing -> 503');
for my $op (grep { documented($_, 503) } @ops)
{
	observe($op->[0], 503, undef, $op->[1], success_request($op, %T, keep => 1), why => 'no role');
}
ok(reload_until("esqase.http_role = 'esqase_api'\n", 200, 'GET', '/v1/contacts', %T), 'role back');

# 503 read_only: a read-only server refuses writes.
ok(reload_until("default_transaction_read_only = on\n", 503, 'POST', '/v1/practice-areas', %T,
	body => { name => 'RO' }), 'default_transaction_read_only -> writes 503');
for my $op (grep { documented($_, 503) && $_->[1] =~ /^(POST|PATCH|DELETE)$/ } @ops)
{
	my $res = observe($op->[0], 503, undef, $op->[1], success_request($op, %T, keep => 1), why => 'read-only');
	is($res->{json} && $res->{json}{error}{code}, 'read_only', "$op->[0]: code read_only");
}
ok(reload_until("default_transaction_read_only = off\n", 201, 'POST', '/v1/practice-areas', %T,
	body => { name => 'RW' }), 'writable again');

# 504: every request waits on a lock on the keys longer than the statement
# timeout: a change to the keys first, so that the workers look their keys up
# again instead of using the ones they know.
{
	$node->append_conf('postgresql.conf', "esqase.http_statement_timeout = '300ms'\n");
	$node->reload;
	$node->safe_psql('postgres', 'UPDATE esqase.api_keys SET expires_at = expires_at');
	my $locker = $node->background_psql('postgres');
	$locker->query_safe('BEGIN');
	$locker->query_safe('LOCK TABLE esqase.api_keys IN ACCESS EXCLUSIVE MODE');
	ok(wait_for_status($node, 'GET', '/v1/contacts', 504, %T, timeout_s => 30)->{status} == 504,
		'keys locked -> 504');
	for my $op (grep { documented($_, 504) } @ops)
	{
		observe($op->[0], 504, undef, $op->[1], success_request($op, %T, keep => 1), why => 'keys locked');
	}
	$locker->query_safe('COMMIT');
	$locker->quit;
	ok(reload_until("esqase.http_statement_timeout = '30s'\n", 200, 'GET', '/v1/contacts', %T), 'serving again');
}

# ---------------------------------------------------------------------------
# openapi_check.py: every answer against the document, every status seen
# ---------------------------------------------------------------------------
my ($fh, $obs_file) = tempfile(UNLINK => 1);
print $fh JSON::PP->new->canonical->encode(\@obs);
close $fh;
my ($out, $err) = ('', '');
IPC::Run::run([ '/usr/bin/python3', "$FindBin::RealBin/openapi_check.py", $doc_file, $obs_file ],
	'>', \$out, '2>', \$err)
  or BAIL_OUT("openapi_check.py failed: $err");
my $results = decode_json($out);
my %feature_of_obs = map { ($_->{name} => $_->{feature}) } @obs;
my %feature_of_check = (
	'header ETag' => 'etag', 'header Last-Modified' => 'etag',
	'status 304' => 'etag', 'status 412' => 'etag', 'status 429' => 'ratelimit',
	'header Retry-After' => 'ratelimit', 'header Idempotent-Replayed' => 'idem');
my $passed = 0;
for my $c (@$results)
{
	my ($label) = $c->{name} =~ /^(\[\d+\] .*?): [A-Z]+ \/v1/;
	my $feature = $feature_of_check{ $c->{check} } // (defined $label ? $feature_of_obs{$label} : undef);
	$passed++ if $c->{ok};
	check($feature, $c->{ok}, $c->{name}, $c->{diag});
}
cmp_ok(scalar @$results, '>', 500, "openapi_check.py made its checks ($passed passed)");
no_500();

done_testing();
