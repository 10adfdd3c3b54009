# 004_http_memory.pl — worker memory stays flat over many requests.
#
# Sends ESQASE_RSS_REQUESTS requests (default 100000) over keep-alive
# connections — a mix of list, read, create, and error answers (401, 400,
# 404, 405, 422) so that both the success and the error paths run — and
# compares each worker's memory after the first 10% with the end.
#
# Measured: RssAnon from /proc/<pid>/status, the worker's private memory.
# Plain RSS also counts the shared buffers the worker has touched, which
# grows as it reads more of shared_buffers and says nothing about leaks.
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
use Time::HiRes qw(time);

my $total = $ENV{ESQASE_RSS_REQUESTS} // 100_000;
my $conns = 8;

my $node = esq_node('memory');
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION esqase');
my ($token) = make_key($node, owner => 1);
my $r = wait_for_status($node, 'GET', '/v1/contacts', 200, token => $token);
is($r->{status}, 200, 'serving');
$r = api($node, 'POST', '/v1/contacts', 201, token => $token,
	body => { type => 'PERSON', firstName => 'Jane', lastName => 'Doe' });
my $id = $r->{json}{data}{id};

my $auth = "Authorization: Bearer $token\r\n";
my @requests = (
	"GET /v1/contacts?limit=5 HTTP/1.1\r\nHost: x\r\n$auth\r\n",
	"GET /v1/contacts/$id HTTP/1.1\r\nHost: x\r\n$auth\r\n",
	"GET /v1/contacts/$id HTTP/1.1\r\nHost: x\r\n$auth\r\n",
	"GET /v1/contacts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer esq_wrong\r\n\r\n",
	"GET /v1/contacts/00000000-0000-4000-8000-000000000000 HTTP/1.1\r\nHost: x\r\n$auth\r\n",
	"PUT /v1/contacts HTTP/1.1\r\nHost: x\r\n$auth\r\n",
	"GET /v1/contacts?bogus=1 HTTP/1.1\r\nHost: x\r\n$auth\r\n",
	body_request('{"type":"PERSON","firstName":"Load"}'),
	body_request('{"type":"ALIEN"}'),
	body_request('{"type":"PERSON","type":"X"}'),
);

sub body_request
{
	my $b = shift;
	return "POST /v1/contacts HTTP/1.1\r\nHost: x\r\n$auth"
	  . "Content-Type: application/json\r\nContent-Length: "
	  . length($b) . "\r\n\r\n$b";
}

# Reads one response from a keep-alive socket; returns the status.
sub read_response
{
	my ($sock, $bufref) = @_;
	while ($$bufref !~ /\r\n\r\n/)
	{
		my $n = sysread($sock, $$bufref, 65536, length $$bufref);
		die "connection closed" unless $n;
	}
	my $hend = index($$bufref, "\r\n\r\n") + 4;
	my $head = substr($$bufref, 0, $hend);
	my ($status) = $head =~ m{^HTTP/1\.1 (\d+)};
	my ($len) = $head =~ /Content-Length:\s*(\d+)/i;
	$len //= 0;
	while (length($$bufref) < $hend + $len)
	{
		my $n = sysread($sock, $$bufref, 65536, length $$bufref);
		die "connection closed" unless $n;
	}
	substr($$bufref, 0, $hend + $len) = '';
	return $status;
}

my %status;
my @socks = map {
	IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $node->{esq_http_port})
	  or die "connect: $!"
} 1 .. $conns;
my @bufs = ('') x $conns;

sub run_requests
{
	my ($n, $offset) = @_;
	my $t0 = time;
	for my $i (0 .. $n - 1)
	{
		my $c = ($i + $offset) % $conns;
		my $sock = $socks[$c];
		print $sock $requests[ ($i + $offset) % @requests ];
		$status{ read_response($sock, \$bufs[$c]) }++;
	}
	return $n / (time - $t0);
}

sub worker_mem
{
	my %m;
	for my $pid (split /\n/,
		$node->safe_psql('postgres',
			"SELECT pid FROM pg_stat_activity WHERE backend_type = 'esqase http' ORDER BY pid"))
	{
		open my $fh, '<', "/proc/$pid/status" or next;
		while (<$fh>)
		{
			$m{$pid}{$1} = $2 if /^(VmRSS|RssAnon|RssShmem):\s+(\d+) kB/;
		}
	}
	return \%m;
}

my $warm = int($total / 10);
my $rate1 = run_requests($warm, 0);
my $m1 = worker_mem();
my $rate2 = run_requests($total - $warm, $warm);
my $m2 = worker_mem();

diag(sprintf("%d requests over %d keep-alive connections, %.0f req/s (one synchronous client)",
		$total, $conns, $rate2));
diag("statuses: " . join(', ', map { "$_ x$status{$_}" } sort keys %status));
for my $pid (sort keys %$m1)
{
	my ($a1, $a2) = ($m1->{$pid}{RssAnon}, $m2->{$pid}{RssAnon});
	diag(sprintf("worker %d: RssAnon %d kB after %d requests, %d kB after %d; "
			  . "VmRSS %d -> %d kB, of which shared memory (RssShmem) %d -> %d kB",
			$pid, $a1, $warm, $a2, $total, $m1->{$pid}{VmRSS}, $m2->{$pid}{VmRSS},
			$m1->{$pid}{RssShmem}, $m2->{$pid}{RssShmem}));
	cmp_ok($a2, '<=', $a1 * 1.10 + 512,
		"worker $pid private memory within 10% after $total requests ($a1 -> $a2 kB)");
}
is(scalar(keys %$m1), 2, 'both workers measured');
ok(!$status{500}, 'no 500 under load');
is($status{200} + $status{201} + $status{401} + $status{400} + $status{404}
	  + $status{405} + $status{422}, $total, 'every request answered with an expected status');

close $_ for @socks;
$node->stop;
done_testing();
