# Read replicas (issue 11, item 3; docs/operations.md "HA with a standby"):
# the HTTP workers run on a streaming hot standby and serve every GET there
# (keys checked, last_used_at left alone); POST, PATCH and DELETE get 503
# with code "read_only" before any SQL runs; what the primary writes is
# served by the standby once replayed; after promotion the same workers
# take writes.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use lib 't';
use EsqaseHttp;

my $standby_message =
  'this server is a read-only standby: it serves GET requests only; send POST, PATCH and DELETE to the primary';

# Polls a request until its status is $want; fails the test if it never is.
sub poll_status
{
	my ($node, $method, $path, $want, %o) = @_;
	my $r = wait_for_status($node, $method, $path, $want, %o);
	is($r->{status}, $want, ($o{name} // "$method $path") . " -> $want (polled)")
	  or diag('body: ' . ($r->{content} // ''));
	return $r;
}

sub last_used
{
	my ($node, $token) = @_;
	return $node->safe_psql('postgres',
		"SELECT coalesce(last_used_at::text, 'never') FROM esqase.api_keys "
		  . "WHERE prefix = split_part('$token', '_', 2)");
}

# ---------------------------------------------------------------------------
# A primary, and a standby made from its base backup before the extension
# exists: the standby's workers must pick the extension up from replay.
# ---------------------------------------------------------------------------
my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
my $primary_port = PostgreSQL::Test::Cluster::get_free_port();
$primary->append_conf('postgresql.conf', <<"EOC");
shared_preload_libraries = 'esqase'
esqase.http_port = $primary_port
esqase.http_workers = 2
log_min_messages = info
EOC
$primary->{esq_http_port} = $primary_port;
$primary->start;

$primary->backup('base');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'base', has_streaming => 1);
# The standby copies the primary's postgresql.conf: without a port of its
# own its workers would share the primary's port (SO_REUSEPORT, same user).
my $standby_port = PostgreSQL::Test::Cluster::get_free_port();
$standby->append_conf('postgresql.conf', "esqase.http_port = $standby_port\n");
$standby->{esq_http_port} = $standby_port;
$standby->start;
is($standby->safe_psql('postgres', 'SELECT pg_is_in_recovery()'), 't', 'the standby is in recovery');

my $r = poll_status($standby, 'GET', '/v1/contacts', 503,
	token => 'esq_000000000000_x', name => 'standby, no extension yet');
like($r->{json}{error}{message}, qr/extension esqase is not installed/,
	'the standby says the extension is missing');

# The workers run on the standby, as "esqase http" backends.
ok( $standby->poll_query_until('postgres',
		"SELECT count(*) = 2 FROM pg_stat_activity WHERE backend_type = 'esqase http'"),
	'two HTTP workers run on the standby');

# ---------------------------------------------------------------------------
# Data on the primary: records of every kind, over HTTP; a key never used.
# ---------------------------------------------------------------------------
$primary->safe_psql('postgres', 'CREATE EXTENSION esqase');
my ($token, $firm) = make_key($primary, owner => 1);
my ($unused) = make_key($primary, firm => $firm);
my ($reader) = make_key($primary, firm => $firm, scopes => ['contacts:read']);
my $revoked = (make_key($primary, firm => $firm))[0];
$primary->safe_psql('postgres', "SELECT esqase_revoke_api_key('$revoked')");

poll_status($primary, 'GET', '/v1/contacts', 200, token => $token, name => 'primary serves');
my %id;
$id{pa} = api($primary, 'POST', '/v1/practice-areas', 201, token => $token,
	body => { name => 'Family law' })->{json}{data}{id};
$id{mt} = api($primary, 'POST', '/v1/matter-types', 201, token => $token,
	body => { name => 'Divorce', practiceAreaId => $id{pa} })->{json}{data}{id};
for my $n (1 .. 3)
{
	$id{"c$n"} = api($primary, 'POST', '/v1/contacts', 201, token => $token,
		body => { type => 'PERSON', firstName => "First$n", lastName => 'Doe' })->{json}{data}{id};
}
$id{matter} = api($primary, 'POST', '/v1/matters', 201, token => $token,
	body => { practiceAreaId => $id{pa}, openDate => '2026-07-01', title => 'Doe v. Roe',
		clientContactIds => [ $id{c1} ] })->{json}{data}{id};
$id{lead} = api($primary, 'POST', '/v1/leads', 201, token => $token,
	body => { type => 'PERSON', firstName => 'Lee', value => 'HIGH' })->{json}{data}{id};
is(last_used($primary, $unused), 'never', 'the unused key has never been used');

$primary->wait_for_catchup($standby, 'replay');

# ---------------------------------------------------------------------------
# Reads on the standby: the same answers as the primary.
# ---------------------------------------------------------------------------
poll_status($standby, 'GET', '/v1/contacts', 200, token => $token,
	name => 'the standby serves once the extension is replayed');
my %item = (
	contacts => $id{c2},
	matters => $id{matter},
	leads => $id{lead},
	'practice-areas' => $id{pa},
	'matter-types' => $id{mt});
for my $res (sort keys %item)
{
	my $path = "/v1/$res/$item{$res}";
	my $s = api($standby, 'GET', $path, 200, token => $token, name => "standby GET $path");
	my $p = api($primary, 'GET', $path, 200, token => $token, name => "primary GET $path");
	is($s->{content}, $p->{content}, "GET /v1/$res/{id}: the standby answers as the primary");
	my $lp = $res eq 'matter-types' ? "/v1/$res?practiceAreaId=$id{pa}" : "/v1/$res";
	$s = api($standby, 'GET', $lp, 200, token => $token, name => "standby GET $lp");
	$p = api($primary, 'GET', $lp, 200, token => $token, name => "primary GET $lp");
	is($s->{content}, $p->{content}, "GET $lp: the standby answers as the primary");
}

# The workers as docs/operations.md ("Monitoring") describes them, on the standby.
is( $standby->safe_psql('postgres', q{
		SELECT count(*) = 2 AND bool_and(application_name = 'esqase http')
		   AND bool_or(query ~ '^GET /v1/[a-z-]+(/[0-9a-f-]+)?$')
		   AND bool_and(state = 'idle' AND wait_event_type = 'Extension' AND wait_event = 'Extension')
		  FROM pg_stat_activity WHERE backend_type = 'esqase http'}),
	't', 'standby: the workers in pg_stat_activity (name, last request, idle wait)');

# A list in pages: totals from esqase.record_counts and nextCursor.
$r = api($standby, 'GET', '/v1/contacts?limit=2', 200, token => $token);
my $pg = $r->{json}{pagination};
is($pg->{total}, 4, 'standby list: total (3 contacts and the lead\'s contact)');
is($pg->{limit}, 2, 'standby list: limit');
is(scalar @{ $r->{json}{data} }, 2, 'standby list: first page has 2 records');
ok(defined $pg->{nextCursor}, 'standby list: a nextCursor');
my @seen = map { $_->{id} } @{ $r->{json}{data} };
$r = api($standby, 'GET', "/v1/contacts?limit=2&cursor=$pg->{nextCursor}", 200, token => $token,
	name => 'standby list: the next page by cursor');
push @seen, map { $_->{id} } @{ $r->{json}{data} };
is($r->{json}{pagination}{total}, 4, 'standby list, second page: total');
ok(!defined $r->{json}{pagination}{nextCursor}, 'standby list: no cursor after the last page');
my %uniq = map { $_ => 1 } @seen;
is(scalar keys %uniq, 4, 'standby list: the two pages hold the 4 contacts once each');
$r = api($standby, 'GET', '/v1/contacts?limit=2&offset=2', 200, token => $token,
	name => 'standby list by offset');
is_deeply([ map { $_->{id} } @{ $r->{json}{data} } ], [ @seen[2, 3] ],
	'standby list: offset 2 is the cursor\'s page');

# Keys are checked on the standby.
api($standby, 'GET', '/v1/contacts', 401, token => 'esq_000000000000_nope', name => 'standby: unknown key');
api($standby, 'GET', '/v1/contacts', 401, token => $revoked, name => 'standby: revoked key');
api($standby, 'GET', '/v1/contacts', 401, name => 'standby: no key');
api($standby, 'GET', '/v1/matters', 403, token => $reader, name => 'standby: key without the scope');
api($standby, 'GET', '/v1/contacts/00000000-0000-0000-0000-000000000000', 404, token => $token,
	name => 'standby: no such record');
api($standby, 'GET', '/v1/contacts?limit=x', 400, token => $token, name => 'standby: bad limit');

# A key never used authenticates on the standby and stays never used
# (esqase.key_lookup does not try to update it there).
api($standby, 'GET', '/v1/contacts', 200, token => $unused, name => 'standby: a never-used key');
is(last_used($standby, $unused), 'never', 'standby: last_used_at left alone');
is(last_used($primary, $unused), 'never', 'primary: last_used_at left alone');

# ---------------------------------------------------------------------------
# Writes on the standby: 503 read_only, nothing runs.
# ---------------------------------------------------------------------------
my @writes = (
	[ 'POST', '/v1/contacts', { type => 'PERSON', firstName => 'Nope' } ],
	[ 'PATCH', "/v1/contacts/$id{c1}", { firstName => 'Nope' } ],
	[ 'DELETE', "/v1/contacts/$id{c1}", undef ],
	[ 'POST', '/v1/matters', { practiceAreaId => $id{pa}, openDate => '2026-07-02' } ],
	[ 'PATCH', "/v1/leads/$id{lead}", { value => 'LOW' } ],
	[ 'DELETE', "/v1/practice-areas/$id{pa}", undef ],
	[ 'POST', '/v1/matter-types', { name => 'X', practiceAreaId => $id{pa} } ]);
for my $w (@writes)
{
	my ($method, $path, $body) = @$w;
	$r = api($standby, $method, $path, 503, token => $token,
		(defined $body ? (body => $body) : ()), name => "standby $method $path");
	is($r->{json}{error}{code}, 'read_only', "standby $method $path: code read_only");
	is($r->{json}{error}{message}, $standby_message, "standby $method $path: the message says why");
	is($r->{json}{error}{field}, undef, "standby $method $path: no field");
}
# Decided before any SQL: even a key that does not exist gets the 503.
$r = api($standby, 'POST', '/v1/contacts', 503, token => 'esq_000000000000_nope', body => {},
	name => 'standby write with an unknown key');
is($r->{json}{error}{code}, 'read_only', 'standby write with an unknown key: read_only, before the key');
# The checks that need no SQL come first, as on a primary.
api($standby, 'POST', '/v1/contacts', 401, body => {}, name => 'standby write without a key: 401');
api($standby, 'POST', '/v1/contacts', 400, token => $token, body => '[1]',
	name => 'standby write with a body that is no object: 400');
api($standby, 'PATCH', '/v1/contacts/not-a-uuid', 400, token => $token, body => {},
	name => 'standby write with a bad id: 400');
api($standby, 'PUT', '/v1/contacts', 405, token => $token, name => 'standby: PUT is 405 as anywhere');

is($primary->safe_psql('postgres', 'SELECT count(*) FROM esqase.contacts'), '4',
	'no write reached the data');

# ---------------------------------------------------------------------------
# Writes on the primary show on the standby after replay.
# ---------------------------------------------------------------------------
my $new = api($primary, 'POST', '/v1/contacts', 201, token => $token,
	body => { type => 'COMPANY', companyName => 'Acme Holdings' })->{json}{data};
api($primary, 'PATCH', "/v1/contacts/$id{c2}", 200, token => $token, body => { firstName => 'Renamed' });
api($primary, 'DELETE', "/v1/contacts/$id{c3}", 204, token => $token);
$primary->wait_for_catchup($standby, 'replay');

$r = api($standby, 'GET', "/v1/contacts/$new->{id}", 200, token => $token,
	name => 'standby: the contact created on the primary');
is_deeply($r->{json}{data}, $new, 'standby: the new contact as the primary created it');
$r = api($standby, 'GET', "/v1/contacts/$id{c2}", 200, token => $token);
is($r->{json}{data}{firstName}, 'Renamed', 'standby: the update made on the primary');
api($standby, 'GET', "/v1/contacts/$id{c3}", 404, token => $token,
	name => 'standby: the contact deleted on the primary');
$r = api($standby, 'GET', '/v1/contacts?limit=200', 200, token => $token);
is($r->{json}{pagination}{total}, 4, 'standby: the total follows the primary (4 + 1 - 1)');
is(scalar @{ $r->{json}{data} }, 4, 'standby: the list follows the primary');

# A key revoked on the primary stops working on the standby.
$primary->safe_psql('postgres', "SELECT esqase_revoke_api_key('$reader')");
$primary->wait_for_catchup($standby, 'replay');
api($standby, 'GET', '/v1/contacts', 401, token => $reader,
	name => 'standby: a key revoked on the primary');

# The standby's workers wrote nothing to its log worth an alarm.
my $log = slurp_file($standby->logfile);
unlike($log, qr/internal error|answered 500|TRAP|server process .* was terminated/,
	'standby log: no internal error, no crash');

# ---------------------------------------------------------------------------
# Promotion: the same workers take writes.
# ---------------------------------------------------------------------------
$primary->stop;
$standby->promote;
is($standby->safe_psql('postgres', 'SELECT pg_is_in_recovery()'), 'f', 'promoted');
$r = poll_status($standby, 'POST', '/v1/contacts', 201, token => $token,
	body => { type => 'PERSON', firstName => 'After', lastName => 'Promotion' },
	name => 'promoted: POST');
my $after = $r->{json}{data}{id};
api($standby, 'PATCH', "/v1/contacts/$after", 200, token => $token, body => { lastName => 'Promoted' });
api($standby, 'DELETE', "/v1/contacts/$new->{id}", 204, token => $token);
$r = api($standby, 'GET', '/v1/contacts?limit=200', 200, token => $token);
is($r->{json}{pagination}{total}, 4, 'promoted: the total follows the writes');
is($standby->safe_psql('postgres',
		"SELECT count(*) FROM esqase.audit_log WHERE record_id = '$after'"),
	'2', 'promoted: the writes are audited');
api($standby, 'GET', '/v1/contacts', 200, token => $unused, name => 'promoted: the never-used key');
isnt(last_used($standby, $unused), 'never', 'promoted: last_used_at refreshed again');

no_500();
$standby->stop;
done_testing();
