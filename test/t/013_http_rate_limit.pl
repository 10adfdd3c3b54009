# 013_http_rate_limit.pl — request budgets per API key (esqase.http_rate_limit,
# esqase.http_rate_limit_window): off by default; RateLimit-* headers; 429
# rate_limited with Retry-After; per key; one budget across the workers;
# a new window after the old one ends; reloadable; what is not charged;
# made-up tokens cannot evict a key's slot.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use EsqaseHttp;
use HTTP::Tiny;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

my $node = esq_node('ratelimit', 'esqase.http_metrics_path' => "'/metrics'",
	'esqase.http_cors_origins' => "'https://app.example.com'");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION esqase');
my $firm = $node->safe_psql('postgres', "SELECT esqase_create_firm('Rate Firm')");
my @tokens = map { (make_key($node, firm => $firm, owner => 1))[0] } 1 .. 8;
my ($ta, $tb, $tc, $td, $te, $tf, $tg, $th) = @tokens;
my $r = wait_for_status($node, 'GET', '/v1/contacts', 200, token => $th);
is($r->{status}, 200, 'serving');

# ---------------------------------------------------------------------------
# Off by default
# ---------------------------------------------------------------------------
is($node->safe_psql('postgres', 'SHOW esqase.http_rate_limit'), '0', 'esqase.http_rate_limit defaults to 0');
is($node->safe_psql('postgres', 'SHOW esqase.http_rate_limit_window'), '1min', 'the window defaults to 60 s');
for (1 .. 12)
{
	$r = api_raw($node, 'GET', '/v1/contacts', token => $th);
	last if $r->{status} != 200 || exists $r->{headers}{'ratelimit-limit'};
}
is($r->{status}, 200, 'off: 12 requests of one key all answered');
ok(!grep({ /^ratelimit|^retry-after/ } keys %{ $r->{headers} }), 'off: no RateLimit-* headers');

# ---------------------------------------------------------------------------
# 5 per 60 s (a window far longer than this part takes)
# ---------------------------------------------------------------------------
$node->append_conf('postgresql.conf', "esqase.http_rate_limit = 5\n");
$node->restart;
$r = wait_for_status($node, 'GET', '/v1/contacts', 200, token => $th);
is($r->{headers}{'ratelimit-limit'}, '5', 'on after a restart');

# Two keep-alive connections served by the two different workers: which
# worker answered is read from the request log ([pid] ... request_id=...).
# OPTIONS is not charged, so pinning costs no budget.
sub worker_of
{
	my ($http, $id) = @_;
	my $o = api_raw($node, 'OPTIONS', '/v1/contacts', http => $http,
		headers => { 'X-Request-Id' => $id });
	return undef unless $o->{status} == 204;
	# the pid of the record that holds the line: a worker writes its lines in
	# batches, one record each, the lines after the first without a prefix
	for (1 .. 50)
	{
		my $pid;
		for my $line (split /\n/, slurp_file($node->logfile))
		{
			$pid = $1 if $line =~ /^\S+ \S+ \S+ \[(\d+)\] /;
			return $pid if $pid && $line =~ /request_id=\Q$id\E$/;
		}
		usleep(100_000);
	}
	return undef;
}
my $h1 = HTTP::Tiny->new(keep_alive => 1, timeout => 30);
my $pid1 = worker_of($h1, 'pin-1');
ok($pid1, "connection 1 is served by worker $pid1");
my ($h2, $pid2);
for my $i (2 .. 60)
{
	my $h = HTTP::Tiny->new(keep_alive => 1, timeout => 30);
	my $p = worker_of($h, "pin-$i");
	if ($p && $p ne $pid1) { ($h2, $pid2) = ($h, $p); last; }
}
ok($h2, 'connection 2 is served by the other worker' . ($pid2 ? " ($pid2)" : ''));
$h2 //= $h1;

# Key A: 5 answers alternating over the two workers, remaining 4..0
my (@remaining, @reset);
for my $i (0 .. 4)
{
	$r = api($node, 'GET', '/v1/contacts', 200, token => $ta, http => ($i % 2 ? $h2 : $h1),
		name => "key A request " . ($i + 1));
	push @remaining, $r->{headers}{'ratelimit-remaining'};
	push @reset, $r->{headers}{'ratelimit-reset'};
	is($r->{headers}{'ratelimit-limit'}, '5', "request " . ($i + 1) . ": RateLimit-Limit 5");
	is($r->{headers}{'ratelimit-policy'}, '5;w=60', "request " . ($i + 1) . ": RateLimit-Policy 5;w=60");
	ok(!exists $r->{headers}{'retry-after'}, "request " . ($i + 1) . ": no Retry-After");
}
is_deeply(\@remaining, [ 4, 3, 2, 1, 0 ], 'RateLimit-Remaining 4, 3, 2, 1, 0 across both workers');
ok((grep { /^\d+$/ && $_ >= 1 && $_ <= 60 } @reset) == 5, 'RateLimit-Reset in 1..60 s: ' . join(',', @reset));
ok(!grep({ $reset[$_] > $reset[ $_ - 1 ] } 1 .. 4), 'and never grows within the window');

for my $h ($h1, $h2)
{
	$r = api($node, 'GET', '/v1/contacts', 429, token => $ta, http => $h, name => 'key A over budget');
	is($r->{json}{error}{code}, 'rate_limited', '429: code rate_limited');
	like($r->{json}{error}{message}, qr/5 requests per 60 s/, '429: the message names the budget');
	is($r->{headers}{'ratelimit-remaining'}, '0', '429: RateLimit-Remaining 0');
	like($r->{headers}{'retry-after'}, qr/^\d+$/, '429: Retry-After in seconds');
	ok($r->{headers}{'retry-after'} >= 1 && $r->{headers}{'retry-after'} <= 60, '429: Retry-After in 1..60');
	is($r->{headers}{'retry-after'}, $r->{headers}{'ratelimit-reset'}, '429: Retry-After = RateLimit-Reset');
}
$r = api($node, 'GET', '/v1/contacts', 429, token => $ta, name => 'key A over budget, from a browser page',
	headers => { Origin => 'https://app.example.com' });
like($r->{headers}{'access-control-expose-headers'} // '',
	qr/Retry-After.*RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, RateLimit-Policy/,
	'CORS: the page may read Retry-After and the RateLimit-* headers');
is(worker_of($h1, 'pin-again-1'), $pid1, 'connection 1 stayed on its worker');
is(worker_of($h2, 'pin-again-2'), $pid2, 'connection 2 stayed on its worker');

# Every action is charged, a write's too; a refused write does not write
$r = api($node, 'POST', '/v1/contacts', 429, token => $ta,
	body => { type => 'COMPANY', companyName => 'Not Written' });
is($node->safe_psql('postgres', "SELECT count(*) FROM esqase.contacts WHERE company_name = 'Not Written'"),
	'0', 'a refused POST writes nothing');

# Key B is not affected; its own budget
$r = api($node, 'POST', '/v1/contacts', 201, token => $tb, body => { type => 'COMPANY', companyName => 'B Co' });
is($r->{headers}{'ratelimit-remaining'}, '4', 'key B: its own budget (a 201 carries the headers too)');

# An invalid token is charged to the prefix it names once that key has
# authenticated (has a slot); the 401 counts.  Before that it is not charged.
my ($cprefix) = $tc =~ /^esq_([0-9a-f]+)_/;
my $bogus = "esq_${cprefix}_" . ('0' x 64);
$r = api($node, 'GET', '/v1/contacts', 401, token => $bogus);
ok(!exists $r->{headers}{'ratelimit-limit'}, 'a prefix that never authenticated is not charged');
$r = api($node, 'GET', '/v1/contacts', 200, token => $tc);
is($r->{headers}{'ratelimit-remaining'}, '4', 'key C\'s first request is charged once it authenticated');
$r = api($node, 'GET', '/v1/contacts', 401, token => $bogus);
is($r->{headers}{'ratelimit-remaining'}, '3', 'an invalid token with key C\'s prefix is charged to it');
$r = api($node, 'GET', '/v1/contacts/not-a-uuid', 400, token => $tc);
is($r->{headers}{'ratelimit-remaining'}, '2', 'key C: the 401 counted; a 400 counts and carries the headers');

# Not charged, no headers: no key, OPTIONS, the metrics path
$r = api($node, 'GET', '/v1/contacts', 401);
ok(!exists $r->{headers}{'ratelimit-limit'}, 'no key: no RateLimit headers');
$r = api_raw($node, 'OPTIONS', '/v1/contacts', token => $tc);
is($r->{status}, 204, 'OPTIONS with a key');
ok(!exists $r->{headers}{'ratelimit-limit'}, 'OPTIONS: not charged, no headers');
$r = api_raw($node, 'GET', '/metrics', token => $tc);
is($r->{status}, 200, 'the metrics path with a key');
ok(!exists $r->{headers}{'ratelimit-limit'}, 'metrics: not charged, no headers');
like($r->{content}, qr/^esqase_http_requests_total\{route="\/v1\/contacts",method="GET",status="429"\} 3$/m,
	'the 429s are in the metrics');
$r = api($node, 'GET', '/v1/contacts', 200, token => $tc);
is($r->{headers}{'ratelimit-remaining'}, '1', 'key C: OPTIONS and metrics were not charged');

# ---------------------------------------------------------------------------
# Made-up tokens whose prefixes hash into a key's set of slots cannot evict
# the key's slot and so give it a fresh window (they evicted it before: a
# client could lift its own limit with eight made-up tokens)
# ---------------------------------------------------------------------------
{
	my ($gprefix) = $tg =~ /^esq_([0-9a-f]+)_/;
	for my $i (1 .. 5)
	{
		$r = api_raw($node, 'GET', '/v1/contacts', token => $tg);
	}
	$r = api($node, 'GET', '/v1/contacts', 429, token => $tg, name => 'key G over its budget');
	# prefixes in key G's set: the table hashes the 12 characters after esq_
	# with hash_bytes, which is what hashtext() computes
	my @same = split /,/, $node->safe_psql('postgres', qq{
		SELECT string_agg(p, ',') FROM (
		  SELECT substr(md5(random()::text || i), 1, 12) AS p FROM generate_series(1, 100000) i) s
		WHERE (hashtext(p)::bigint & 4294967295) % 1024 = (hashtext('$gprefix')::bigint & 4294967295) % 1024
		  AND p <> '$gprefix'});
	cmp_ok(scalar @same, '>=', 16, scalar(@same) . ' made-up prefixes in key G\'s set');
	my $unauth = 0;
	for my $p (@same[0 .. 15])
	{
		$unauth++ if api_raw($node, 'GET', '/v1/members', token => "esq_${p}_" . ('0' x 64))->{status} == 401;
	}
	is($unauth, 16, '16 made-up tokens in key G\'s set: 401');
	my %after;
	for (1 .. 5)
	{
		$after{ api_raw($node, 'GET', '/v1/contacts', token => $tg)->{status} }++;
	}
	is_deeply(\%after, { 429 => 5 }, 'key G is still over its budget: its window was not reset');
}

# ---------------------------------------------------------------------------
# Reload: 3 per 2 s.  Key A's 60 s window is over under a 2 s window.
# ---------------------------------------------------------------------------
$node->append_conf('postgresql.conf', "esqase.http_rate_limit = 3\nesqase.http_rate_limit_window = 2\n");
$node->reload;
my $deadline = time + 30;
do
{
	$r = api_raw($node, 'GET', '/v1/contacts', token => $td);
	usleep(50_000);
} until (($r->{headers}{'ratelimit-policy'} // '') eq '3;w=2' || time > $deadline);
is($r->{headers}{'ratelimit-policy'}, '3;w=2', 'reload: RateLimit-Policy 3;w=2');
is($r->{headers}{'ratelimit-limit'}, '3', 'reload: RateLimit-Limit 3');
# (polled: key A's window opened less than 2 s ago on a fast machine)
$deadline = time + 30;
do
{
	$r = api_raw($node, 'GET', '/v1/contacts', token => $ta);
	usleep(100_000) if $r->{status} == 429;
} until ($r->{status} != 429 || time > $deadline);
is($r->{status}, 200, 'key A, refused under the 60 s window, is answered within the new 2 s one');
ok($r->{headers}{'ratelimit-reset'} <= 2, 'RateLimit-Reset within the new 2 s window');

# Key E: spend the budget, then poll (deadline, no fixed sleep) until a new window
my $refused;
$deadline = time + 30;
while (time < $deadline)
{
	$r = api_raw($node, 'GET', '/v1/contacts', token => $te);
	if ($r->{status} == 429) { $refused = $r; last; }
}
ok($refused, 'key E reaches its 3 per 2 s budget');
ok($refused && $refused->{headers}{'retry-after'} >= 1 && $refused->{headers}{'retry-after'} <= 2,
	'Retry-After within the 2 s window');
my $again;
$deadline = time + 30;
while (time < $deadline)
{
	$r = api_raw($node, 'GET', '/v1/contacts', token => $te);
	if ($r->{status} == 200) { $again = $r; last; }
	is($r->{status}, 429, 'refused until the window ends') or last;
	usleep(100_000);
}
ok($again, 'key E is answered again once its window has ended');
is($again && $again->{headers}{'ratelimit-remaining'}, '2', 'a new window: RateLimit-Remaining 2');

# Reload back to off: no headers
$node->append_conf('postgresql.conf', "esqase.http_rate_limit = 0\n");
$node->reload;
$deadline = time + 30;
do
{
	$r = api_raw($node, 'GET', '/v1/contacts', token => $tf);
	usleep(50_000);
} until (!exists $r->{headers}{'ratelimit-limit'} || time > $deadline);
ok(!exists $r->{headers}{'ratelimit-limit'}, 'reload to 0: no headers');
is($r->{status}, 200, 'reload to 0: answered');

no_500();
$node->stop;
done_testing();
