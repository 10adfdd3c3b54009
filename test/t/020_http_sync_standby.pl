# Synchronous replication (src/http_durable.c): a write whose commit the
# synchronous standby did not confirm is never answered 2xx.
#
# A primary with a real streaming standby named in synchronous_standby_names
# (its application_name set in its primary_conninfo), and
# esqase.http_statement_timeout = 1s.  The standby's WAL receiver is stopped
# (SIGSTOP) while writes arrive: the statement timeout must not end the
# commit's wait for the standby (before http_durable.c it did, and the write
# was answered 201); the wait lasts until the request's deadline
# (esqase.http_request_timeout, 4 s here) and the write is answered 503
# not_replicated.  A retry with the same Idempotency-Key is 503 too, not a
# replayed 201; reads are served.  A SIGTERM to the worker while it waits
# sends nothing at all.  The WAL receiver resumed (SIGCONT): the retry is
# the replayed 201, and new writes succeed.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);
use EsqaseHttp;

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
my $port = PostgreSQL::Test::Cluster::get_free_port();
$primary->append_conf('postgresql.conf', <<"EOC");
shared_preload_libraries = 'esqase'
esqase.http_port = $port
esqase.http_workers = 2
esqase.http_statement_timeout = '1s'
esqase.http_request_timeout = '4s'
log_min_messages = info
EOC
$primary->{esq_http_port} = $port;
$primary->start;
$primary->safe_psql('postgres', 'CREATE EXTENSION esqase');
my ($key) = make_key($primary, owner => 1);
my $r = wait_for_status($primary, 'GET', '/v1/contacts', 200, token => $key);
is($r->{status}, 200, 'the primary serves');

$primary->backup('base');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'base', has_streaming => 1);
my $standby_port = PostgreSQL::Test::Cluster::get_free_port();
my $conninfo = $primary->connstr;
$standby->append_conf('postgresql.conf', <<"EOC");
esqase.http_port = $standby_port
primary_conninfo = '$conninfo application_name=esq_sync'
EOC
$standby->start;

$primary->safe_psql('postgres', "ALTER SYSTEM SET synchronous_standby_names = 'esq_sync'");
$primary->reload;
ok( $primary->poll_query_until('postgres',
		"SELECT sync_state FROM pg_stat_replication WHERE application_name = 'esq_sync'", 'sync'),
	'the standby is the synchronous standby');

$r = api($primary, 'POST', '/v1/contacts', 201, token => $key,
	body => { type => 'PERSON', firstName => 'Replicated' }, name => 'a write with the standby up');

my $receiver = $standby->safe_psql('postgres', 'SELECT pid FROM pg_stat_wal_receiver');
ok($receiver, "the standby's WAL receiver ($receiver)");
kill 'STOP', $receiver;

# A write: not 2xx, but 503 not_replicated at the request's deadline (4 s),
# not at the statement timeout (1 s).
my $t0 = time;
$r = api($primary, 'POST', '/v1/contacts', 503, token => $key,
	body => { type => 'PERSON', firstName => 'Unconfirmed' },
	headers => { 'Idempotency-Key' => 'sync-1' },
	name => 'a POST the standby does not confirm');
my $took = time - $t0;
is($r->{json}{error}{code}, 'not_replicated', 'its code is not_replicated');
like($r->{json}{error}{message}, qr/committed on this server.*Idempotency-Key/,
	'its message says the write may exist and how to retry');
cmp_ok($took, '>=', 3, sprintf('the commit waited past the statement timeout (%.1f s)', $took));
is($primary->safe_psql('postgres',
	"SELECT count(*) FROM esqase.contacts WHERE first_name = 'Unconfirmed'"),
	1, 'the record is committed on the primary');

$r = api($primary, 'POST', '/v1/contacts', 503, token => $key,
	body => { type => 'PERSON', firstName => 'Unconfirmed' },
	headers => { 'Idempotency-Key' => 'sync-1' },
	name => 'its retry with the same Idempotency-Key');
is($r->{json}{error}{code}, 'not_replicated', 'the retry is not a replayed 201 either');
ok(!defined $r->{headers}{'idempotent-replayed'}, 'and is not marked as a replay');

my $id = $primary->safe_psql('postgres',
	"SELECT id FROM esqase.contacts WHERE first_name = 'Replicated'");
$r = api($primary, 'PATCH', "/v1/contacts/$id", 503, token => $key,
	body => { nickname => 'unconfirmed' }, name => 'a PATCH the standby does not confirm');
is($r->{json}{error}{code}, 'not_replicated', 'a PATCH is not_replicated too');
api($primary, 'GET', "/v1/contacts/$id", 200, token => $key, name => 'reads are served meanwhile');

# A SIGTERM while the worker waits for the standby: no answer at all.
my $sock = raw_conn($primary);
print $sock raw_request('POST', '/v1/contacts', token => $key,
	body => { type => 'PERSON', firstName => 'Terminated' });
my $pid;
ok( $primary->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'esqase http' "
		  . "AND wait_event = 'SyncRep'"),
	# (and only one: no earlier request still waits)
	'a worker waits for the standby');
$pid = $primary->safe_psql('postgres',
	"SELECT pid FROM pg_stat_activity WHERE backend_type = 'esqase http' AND wait_event = 'SyncRep'");
$primary->safe_psql('postgres', "SELECT pg_terminate_backend($pid)");
my $answer = raw_response($sock, 10);
ok($answer && $answer->{closed}, 'the connection is closed');
is($answer && $answer->{bytes}, '', 'and nothing was sent on it')
  or diag(explain($answer));
ok( $primary->poll_query_until('postgres',
		"SELECT count(*) = 2 FROM pg_stat_activity WHERE backend_type = 'esqase http' "
		  . "AND pid <> $pid"),
	'the worker is restarted');

# The standby back: the retry replays the first answer; writes succeed.
kill 'CONT', $receiver;
$r = wait_for_status($primary, 'POST', '/v1/contacts', 201, token => $key,
	body => { type => 'PERSON', firstName => 'Unconfirmed' },
	headers => { 'Idempotency-Key' => 'sync-1' }, timeout_s => 30);
is($r->{status}, 201, 'the retry with the same Idempotency-Key is 201 once the standby confirms');
is($r->{headers}{'idempotent-replayed'}, 'true', 'a replay of the first request');
is($primary->safe_psql('postgres',
	"SELECT count(*) FROM esqase.contacts WHERE first_name = 'Unconfirmed'"),
	1, 'still one record');
api($primary, 'POST', '/v1/contacts', 201, token => $key,
	body => { type => 'PERSON', firstName => 'After' }, name => 'a new write with the standby back');
api($primary, 'PATCH', "/v1/contacts/$id", 200, token => $key,
	body => { nickname => 'confirmed' }, name => 'a PATCH with the standby back');
$primary->wait_for_catchup('esq_sync');
is($standby->safe_psql('postgres',
	"SELECT string_agg(first_name, ',' ORDER BY first_name) FROM esqase.contacts "
	  . "WHERE first_name IN ('After', 'Replicated', 'Terminated', 'Unconfirmed')"),
	'After,Replicated,Terminated,Unconfirmed', 'the standby has every committed write');
ok($primary->log_contains('shutting down, no answer sent'), 'the log says the terminated write got no answer');

no_500();
$standby->stop;
$primary->stop;
done_testing();
