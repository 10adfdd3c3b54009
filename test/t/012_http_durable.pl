# A write's 2xx is sent only once its commit is durable, although the HTTP
# workers commit without waiting for the flush themselves (http_sql.c,
# "Commits without holding the worker").  The WAL writer is slowed to 10 s,
# so nothing but the worker's own flush makes a commit durable in time;
# every record answered 201 must survive an immediate stop (a crash) right
# after its answer, and so must every update answered 200 and delete
# answered 204.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use EsqaseHttp;

my $node = esq_node('durable', wal_writer_delay => "'10s'", synchronous_commit => 'on');
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION esqase');
my ($key) = make_key($node, owner => 1);
my $r = wait_for_status($node, 'GET', '/v1/contacts', 200, token => $key);
is($r->{status}, 200, 'serving');

# Writes, each answered before the next is sent; then a crash at once.
my @ids;
for my $i (1 .. 20)
{
	$r = api($node, 'POST', '/v1/contacts', 201, token => $key,
		body => { type => 'PERSON', firstName => "Durable $i" });
	push @ids, $r->{json}{data}{id};
}
api($node, 'PATCH', "/v1/contacts/$ids[0]", 200, token => $key, body => { lastName => 'Patched' });
api($node, 'DELETE', "/v1/contacts/$ids[1]", 204, token => $key);
$node->stop('immediate');
$node->start;

is($node->safe_psql('postgres',
	"SELECT count(*) FROM esqase.contacts WHERE first_name LIKE 'Durable %'"),
	20, 'every contact answered 201 survived the crash');
is($node->safe_psql('postgres', "SELECT last_name FROM esqase.contacts WHERE id = '$ids[0]'"),
	'Patched', 'the update answered 200 survived');
is($node->safe_psql('postgres', "SELECT deleted_at IS NOT NULL FROM esqase.contacts WHERE id = '$ids[1]'"),
	't', 'the delete answered 204 survived');
$r = wait_for_status($node, 'GET', "/v1/contacts/$ids[19]", 200, token => $key);
is($r->{json}{data}{name}, 'Durable 20', 'and the API serves the last one');

no_500();
$node->stop;
done_testing();
