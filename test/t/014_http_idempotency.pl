# Idempotency-Key on POST: a repeated POST with the same key and the same
# API key gets the first response again (201, the same body and Location,
# plus Idempotent-Replayed: true) without writing; the same key with
# another body is a 422; a malformed key a 400; two identical POSTs at the
# same moment make one record and two identical 201s; the HTTP worker's
# sweep deletes expired keys; a fresh key survives a restart.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use EsqaseHttp;

my $node = esq_node('idempotency', 'esqase.idempotency_sweep_interval' => '1');
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION esqase');
my ($key, $firm) = make_key($node, owner => 1);
my ($key2) = make_key($node, firm => $firm, owner => 1);
my $r = wait_for_status($node, 'GET', '/v1/contacts', 200, token => $key);
is($r->{status}, 200, 'serving');

sub count_sql
{
	my ($sql) = @_;
	return $node->safe_psql('postgres', $sql);
}

# ---------------------------------------------------------------------------
# Replay: the same response, the same Location, nothing written
# ---------------------------------------------------------------------------
my %body = (type => 'PERSON', firstName => 'Ida', lastName => 'Empotent');
my $first = api($node, 'POST', '/v1/contacts', 201, token => $key, body => \%body,
	headers => { 'Idempotency-Key' => 'order-1' }, name => 'first POST with a key');
my $id = $first->{json}{data}{id};
ok(!defined $first->{headers}{'idempotent-replayed'}, 'the first answer is no replay');
is($first->{headers}{location}, "/v1/contacts/$id", 'the first answer has its Location');

# the same JSON written with another key order and spacing is the same request
my $again = api($node, 'POST', '/v1/contacts', 201, token => $key,
	body => '{"lastName":"Empotent",   "firstName":"Ida","type":"PERSON"}',
	headers => { 'Idempotency-Key' => 'order-1' }, name => 'the same POST again');
is($again->{content}, $first->{content}, 'the replay has the same body, byte for byte');
is($again->{headers}{location}, $first->{headers}{location}, 'and the same Location');
is($again->{headers}{'idempotent-replayed'}, 'true', 'and says Idempotent-Replayed: true');
is(count_sql("SELECT count(*) FROM esqase.contacts WHERE first_name = 'Ida'"), 1, 'one contact');
is(count_sql("SELECT count(*) FROM esqase.audit_log WHERE record_id = '$id'"), 1,
	'one audit row: the replay wrote none');

# another API key of the same firm: its own key space
my $other = api($node, 'POST', '/v1/contacts', 201, token => $key2, body => \%body,
	headers => { 'Idempotency-Key' => 'order-1' }, name => 'the same key from another API key');
isnt($other->{json}{data}{id}, $id, 'another API key creates its own contact');

# ---------------------------------------------------------------------------
# Reuse with another body or resource: 422; malformed keys: 400
# ---------------------------------------------------------------------------
$r = api($node, 'POST', '/v1/contacts', 422, token => $key,
	body => { %body, lastName => 'Other' },
	headers => { 'Idempotency-Key' => 'order-1' }, name => 'the key with another body');
is($r->{json}{error}{code}, 'idempotency_key_reused', 'code idempotency_key_reused');
is($r->{json}{error}{field}, 'Idempotency-Key', 'naming Idempotency-Key');
$r = api($node, 'POST', '/v1/practice-areas', 422, token => $key, body => { name => 'Ida law' },
	headers => { 'Idempotency-Key' => 'order-1' }, name => 'the key for another resource');
is($r->{json}{error}{code}, 'idempotency_key_reused', 'code idempotency_key_reused');

$r = api($node, 'POST', '/v1/contacts', 400, token => $key, body => \%body,
	headers => { 'Idempotency-Key' => 'x' x 256 }, name => 'an Idempotency-Key of 256 characters');
is($r->{json}{error}{field}, 'Idempotency-Key', 'naming Idempotency-Key');
# bytes outside ASCII (HTTP::Tiny will not send them; curl does)
for my $bad ("caf\xc3\xa9", "\xff\xfe")
{
	my $answer = '';
	IPC::Run::run(
		[
			'curl', '-s', '-X', 'POST', '-H', "Authorization: Bearer $key",
			'-H', 'Content-Type: application/json', '-H', "Idempotency-Key: $bad",
			'-w', '\n%{http_code}', '-d', '{"type": "PERSON", "firstName": "Ida"}',
			"http://127.0.0.1:$node->{esq_http_port}/v1/contacts"
		],
		'>', \$answer);
	my ($content, $status) = $answer =~ /^(.*)\n(\d+)$/s;
	is($status, 400, 'an Idempotency-Key with bytes outside ASCII -> 400');
	like($content, qr/"field":"Idempotency-Key"/, 'naming Idempotency-Key');
}
is(count_sql("SELECT count(*) FROM esqase.contacts WHERE first_name = 'Ida'"), 2,
	'nothing created by the refused requests');

# a failed create stores nothing: the same key with a corrected body works
api($node, 'POST', '/v1/contacts', 422, token => $key, body => { type => 'PERSON' },
	headers => { 'Idempotency-Key' => 'order-2' }, name => 'a create that fails, with a key');
$r = api($node, 'POST', '/v1/contacts', 201, token => $key, body => { type => 'PERSON', firstName => 'Fixed' },
	headers => { 'Idempotency-Key' => 'order-2' }, name => 'the same key, corrected body');
ok(!defined $r->{headers}{'idempotent-replayed'}, 'a create, not a replay');

# other methods ignore the header
api($node, 'GET', "/v1/contacts/$id", 200, token => $key, headers => { 'Idempotency-Key' => 'x' x 300 },
	name => 'GET ignores Idempotency-Key');
api($node, 'PATCH', "/v1/contacts/$id", 200, token => $key, body => { nickname => 'Idy' },
	headers => { 'Idempotency-Key' => 'order-1' }, name => 'PATCH ignores Idempotency-Key');

# ---------------------------------------------------------------------------
# Two identical POSTs at the same moment: one record, two identical 201s.
# A session holds a SHARE lock on contacts, so the first POST claims its key
# and then waits to insert; the second (in the other worker) waits on the
# first's key; the lock goes, the first commits, the second replays it.
# ---------------------------------------------------------------------------
my $psql = $node->background_psql('postgres');
$psql->query_safe('BEGIN');
$psql->query_safe('LOCK TABLE esqase.contacts IN SHARE MODE');
my $port = $node->{esq_http_port};
my @out = ('', '');
my @runs;
sub post_async
{
	my ($i) = @_;
	return IPC::Run::start(
		[
			'curl', '-s', '-i', '-X', 'POST',
			'-H', "Authorization: Bearer $key",
			'-H', 'Content-Type: application/json',
			'-H', 'Idempotency-Key: race-1',
			'-d', '{"type": "PERSON", "firstName": "Racer"}',
			"http://127.0.0.1:$port/v1/contacts"
		],
		'>', \$out[$i], '2>', \my $err);
}
my $waiting = "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'esqase http' "
  . "AND wait_event_type = 'Lock' AND query = 'POST /v1/contacts'";
sub show_answers
{
	diag("answer $_: $out[$_]") for 0 .. $#out;
}
push @runs, post_async(0);
ok($node->poll_query_until('postgres', $waiting, '1'), 'the first POST waits, its key claimed')
  or show_answers();
push @runs, post_async(1);
ok($node->poll_query_until('postgres', $waiting, '2'), 'the second POST waits for the first')
  or show_answers();
$psql->query_safe('COMMIT');
$psql->quit;
$_->finish for @runs;
my @answers = map {
	my ($head, $content) = split /\r?\n\r?\n/, $_, 2;
	{ status => ($head =~ m{^HTTP/1\.1 (\d+)} ? $1 : 0), head => $head, content => $content }
} @out;
is_deeply([ map { $_->{status} } @answers ], [ 201, 201 ], 'both POSTs answered 201')
  or show_answers();
is($answers[1]{content}, $answers[0]{content}, 'with the same body');
my @locations = map { $_->{head} =~ /^Location: (\S+)/mi ? $1 : '' } @answers;
is($locations[1], $locations[0], 'and the same Location');
like($answers[1]{head}, qr/^Idempotent-Replayed: true/mi, 'the second is the replay');
is(count_sql("SELECT count(*) FROM esqase.contacts WHERE first_name = 'Racer'"), 1, 'one contact made');

# ---------------------------------------------------------------------------
# The sweep (every second here) deletes an expired key; a fresh key stays
# and survives a restart
# ---------------------------------------------------------------------------
$node->safe_psql('postgres',
	"UPDATE esqase.idempotency_keys SET created_at = now() - interval '25 hours' WHERE idempotency_key = 'order-2'");
ok( $node->poll_query_until('postgres',
		"SELECT count(*) FROM esqase.idempotency_keys WHERE idempotency_key = 'order-2'", '0'),
	'the sweep deleted the expired key');
is(count_sql("SELECT count(*) FROM esqase.idempotency_keys WHERE idempotency_key = 'order-1'"), 2,
	'and left the fresh ones');

$node->restart;
$r = wait_for_status($node, 'POST', '/v1/contacts', 201, token => $key, body => \%body,
	headers => { 'Idempotency-Key' => 'order-1' });
is($r->{status}, 201, 'after a restart, the same POST: 201');
is($r->{content}, $first->{content}, 'the first response again');
is($r->{headers}{'idempotent-replayed'}, 'true', 'a replay');
is(count_sql("SELECT count(*) FROM esqase.contacts WHERE first_name = 'Ida'"), 2, 'no new contact');

no_500();
$node->stop;
done_testing();
