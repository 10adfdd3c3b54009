# When an answer may go out (src/http_durable.c):
#
# 1. A write's 2xx is sent only once its commit is durable, although the
#    HTTP workers commit without waiting for the flush themselves.  The WAL
#    writer is slowed to 10 s, so nothing but the worker's own flush makes a
#    commit durable in time; every record answered 201 must survive an
#    immediate stop (a crash) right after its answer, and so must every
#    update answered 200 and delete answered 204.
# 2. A read never shows a write that is not durable yet.  One worker; the
#    WAL writer stopped (SIGSTOP), so only the worker flushes.  In one round
#    of the worker's loop a POST commits (its answer held for the flush), a
#    GET finds the new record, and a PATCH then waits on a row lock for
#    seconds before the round's flush.  The server is crashed as soon as the
#    GET is answered: the record the GET showed must survive.  (Before
#    http_durable.c the GET was answered at once and the record was lost.)
#    A GET of another firm in the same round cannot see the POST: it waits
#    only for its own firm's commits, and is answered before the flush.
# 3. An answer held for the flush is never closed by the connection limit
#    (make_room) or a deadline sweep: a POST whose SQL waits on a lock for
#    longer than esqase.http_body_timeout / esqase.http_request_timeout, or
#    while a new connection takes the worker's last slot, is still
#    answered 201.  (Before, its connection was closed: the write committed,
#    the client got a reset.)
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);
use EsqaseHttp;

# ---------------------------------------------------------------------------
# 1. Answered writes survive a crash right after their answer.
# ---------------------------------------------------------------------------
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
$node->stop;

# Helpers for the rounds below: one worker, whose requests are made to
# wait on locks held by background psql sessions.
sub worker_waits_on_lock
{
	my ($n, $query) = @_;
	return $n->poll_query_until('postgres',
		"SELECT count(*) > 0 FROM pg_stat_activity WHERE backend_type = 'esqase http' "
		  . "AND wait_event_type = 'Lock' AND query LIKE '$query'");
}

sub lock_rows
{
	my ($n, $id) = @_;
	my $s = $n->background_psql('postgres');
	$s->query_safe('BEGIN');
	$s->query_safe("SELECT 1 FROM esqase.contacts WHERE id = '$id' FOR UPDATE");
	return $s;
}

sub contact
{
	my ($n, $token, $name) = @_;
	return api($n, 'POST', '/v1/contacts', 201, token => $token,
		body => { type => 'PERSON', firstName => $name })->{json}{data}{id};
}

# A keep-alive connection that has served one request (so the worker has it).
sub warm_conn
{
	my ($n, $token) = @_;
	my $c = raw_conn($n);
	print $c raw_request('GET', '/v1/contacts?limit=1', token => $token);
	my $w = raw_response($c, 10);
	die 'warm-up request not answered 200' unless $w && ($w->{status} // 0) == 200;
	return $c;
}

# ---------------------------------------------------------------------------
# 2. A read waits for the flush of what it could see.
# ---------------------------------------------------------------------------
my $rd = esq_node('reads', 'esqase.http_workers' => 1, autovacuum => 'off',
	wal_writer_delay => "'10s'", 'esqase.http_statement_timeout' => "'3s'");
$rd->start;
$rd->safe_psql('postgres', 'CREATE EXTENSION esqase');
($key) = make_key($rd, owner => 1);
wait_for_status($rd, 'GET', '/v1/contacts', 200, token => $key);
my $q1 = contact($rd, $key, 'Lock One');
my $q2 = contact($rd, $key, 'Lock Two');
my @c = map { warm_conn($rd, $key) } 0 .. 3;

# Another firm, whose reads wait only for its own firm's commits.  Firms
# share 64 slots by four bytes of their id (http_durable.c): this one must
# not share the first firm's slot, read either way round.
my $firm_a = $rd->safe_psql('postgres',
	"SELECT firm_id FROM esqase.contacts WHERE id = '$q1'");
sub slot_bytes { my $u = shift =~ s/-//gr; return (hex(substr($u, 24, 2)) % 64, hex(substr($u, 30, 2)) % 64); }
my ($key_b, $firm_b);
for (1 .. 50)
{
	($key_b, $firm_b) = make_key($rd, owner => 1);
	my @a = slot_bytes($firm_a);
	my @b = slot_bytes($firm_b);
	last if $a[0] != $b[0] && $a[1] != $b[1];
}
contact($rd, $key_b, 'Other Firm');
my $cb = warm_conn($rd, $key_b);

my $s1 = lock_rows($rd, $q1);
my $s2 = lock_rows($rd, $q2);
my $walwriter = $rd->safe_psql('postgres',
	"SELECT pid FROM pg_stat_activity WHERE backend_type = 'walwriter'");
ok($walwriter, "the WAL writer's pid ($walwriter)");
kill 'STOP', $walwriter;

# Round 1: a PATCH waits for s1.  Meanwhile, in order: a POST, a GET that
# will find it, and a PATCH that will wait for s2 in the same round.
print { $c[0] } raw_request('PATCH', "/v1/contacts/$q1", token => $key,
	body => { nickname => 'one' });
ok(worker_waits_on_lock($rd, 'PATCH %'), 'the first PATCH waits on its row lock');
print { $c[1] } raw_request('POST', '/v1/contacts', token => $key,
	body => { type => 'PERSON', firstName => 'Unflushed' });
usleep(200_000);
print { $c[2] } raw_request('GET', '/v1/contacts?q=Unflushed', token => $key);
usleep(200_000);
print $cb raw_request('GET', '/v1/contacts?q=Other', token => $key_b);
usleep(200_000);
print { $c[3] } raw_request('PATCH', "/v1/contacts/$q2", token => $key,
	body => { nickname => 'two' });
usleep(200_000);

# Round 2 runs the POST, the GET and the second PATCH, which waits on s2
# until the statement timeout (3 s) before the round's flush.
my $t0 = time;
$s1->query_safe('COMMIT');
# The other firm's GET runs after the POST and before the second PATCH, in
# the same round, and could not see the POST: it is answered at once, not
# held for the round's flush, which waits for the second PATCH.
my $other = raw_response($cb, 20);
my $patch_waits = $rd->safe_psql('postgres',
	"SELECT count(*) > 0 FROM pg_stat_activity WHERE backend_type = 'esqase http' "
	  . "AND wait_event_type = 'Lock' AND query LIKE 'PATCH %'");
is($other && $other->{status}, 200, "another firm's GET in the same round is answered 200");
is($patch_waits, 't', "before the round's flush: a read waits only for the commits of its own firm");
my $get = raw_response($c[2], 20);
my $waited = time - $t0;
my $saw = $get && $get->{json} && grep { ($_->{name} // '') eq 'Unflushed' } @{ $get->{json}{data} // [] };
# a crash now: the WAL writer is stopped, the worker still waits on s2
$rd->stop('immediate');
eval { $s1->quit; };
eval { $s2->quit; };
is($get && $get->{status}, 200, 'the GET is answered 200');
ok($saw, 'the GET shows the record the POST made in the same round');
diag(sprintf('the GET was answered %.1f s after the round began', $waited));
$rd->start;
is($rd->safe_psql('postgres',
	"SELECT count(*) FROM esqase.contacts WHERE first_name = 'Unflushed'"),
	$saw ? 1 : 0, 'the record the GET showed survived a crash right after the GET');
$rd->stop;

# ---------------------------------------------------------------------------
# 3. A held answer is never closed by make_room or a deadline.
# ---------------------------------------------------------------------------
my $hd = esq_node('held', 'esqase.http_workers' => 1, 'esqase.http_max_connections' => 2);
$hd->start;
$hd->safe_psql('postgres', 'CREATE EXTENSION esqase');
($key) = make_key($hd, owner => 1);
wait_for_status($hd, 'GET', '/v1/contacts', 200, token => $key);

# A POST whose insert waits on a table lock for $hold seconds; with
# $newcomer, a new connection arrives meanwhile and takes the last slot.
sub held_post
{
	my ($what, $hold, $newcomer) = @_;
	my $c1 = warm_conn($hd, $key);
	my $s = $hd->background_psql('postgres');
	$s->query_safe('BEGIN');
	$s->query_safe('LOCK TABLE esqase.contacts IN SHARE MODE');
	print $c1 raw_request('POST', '/v1/contacts', token => $key,
		body => { type => 'PERSON', firstName => "Held $what" });
	ok(worker_waits_on_lock($hd, 'POST %'), "$what: the POST waits on the lock");
	my $c4;
	if ($newcomer)
	{
		$c4 = raw_conn($hd);
		print $c4 raw_request('GET', '/v1/contacts?limit=1', token => $key);
	}
	usleep($hold * 1_000_000);
	$s->query_safe('COMMIT');
	$s->quit;
	my $a = raw_response($c1, 20);
	is($a && ($a->{status} // 'closed'), 201, "$what: the POST is answered 201, its connection kept")
	  or diag(explain($a));
	is($hd->safe_psql('postgres',
		"SELECT count(*) FROM esqase.contacts WHERE first_name = 'Held $what'"),
		1, "$what: the record exists once");
	if ($c4)
	{
		my $b = raw_response($c4, 20);
		is($b && $b->{status}, 200, "$what: the newcomer is served too");
	}
}

# The newcomer takes the worker's second (last) slot as the held answer is
# resumed: make_room must not pick the held connection.
held_post('make_room', 0.5, 1);

$hd->safe_psql('postgres', "ALTER SYSTEM SET esqase.http_body_timeout = '1s'");
$hd->reload;
usleep(500_000);
held_post('body deadline', 2.5, 0);

$hd->safe_psql('postgres', "ALTER SYSTEM RESET esqase.http_body_timeout");
$hd->safe_psql('postgres', "ALTER SYSTEM SET esqase.http_request_timeout = '2s'");
$hd->reload;
usleep(500_000);
held_post('request deadline', 2.5, 0);

no_500();
$hd->stop;
done_testing();
