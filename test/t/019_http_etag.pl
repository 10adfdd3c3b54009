# 019_http_etag.pl — ETag and Last-Modified on every single-record route,
# If-None-Match (304) on GET and HEAD, If-Match (412, 400) on PATCH and
# DELETE, the order against authentication, and 16 concurrent PATCHes each
# holding the ETag it read: exactly one wins.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use EsqaseHttp;
use HTTP::Tiny;
use JSON::PP;
use POSIX qw(strftime);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::Local qw(timegm);

my $node = esq_node('http_etag', 'esqase.http_workers' => 4);
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION esqase');
wait_for_status($node, 'GET', '/v1/contacts', 401, token => 'x');

my ($token, $firm, $member) =
  make_key($node, owner => 1, scopes => [ all_scopes(), 'members:read' ]);
my %T = (token => $token);
my ($read_token) = make_key($node, firm => $firm, owner => 1,
	scopes => [qw(contacts:read matters:read leads:read practice-areas:read matter-types:read)]);
my ($other_token) = make_key($node, owner => 1);    # another firm

my $tag_re = qr/^"[0-9a-f]{1,15}-[0-9a-f]{8}"$/;
my $date_re = qr/^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d GMT$/;

# updatedAt (YYYY-MM-DDTHH:MM:SSZ) as an IMF-fixdate.
sub http_date
{
	my ($ts) = @_;
	my ($y, $mo, $d, $h, $mi, $s) = $ts =~ /^(\d+)-(\d+)-(\d+)T(\d+):(\d+):(\d+)Z$/;
	return strftime('%a, %d %b %Y %H:%M:%S GMT',
		gmtime(timegm($s, $mi, $h, $d, $mo - 1, $y)));
}

# Checks the ETag and Last-Modified of a single-record answer; returns the ETag.
sub check_tags
{
	my ($r, $what) = @_;
	my $etag = $r->{headers}{etag} // '';
	like($etag, $tag_re, "$what: strong ETag");
	like($r->{headers}{'last-modified'} // '', $date_re, "$what: Last-Modified is an IMF-fixdate");
	is($r->{headers}{'last-modified'}, http_date($r->{json}{data}{updatedAt}),
		"$what: Last-Modified is updatedAt") if $r->{json};
	return $etag;
}

my $r = api($node, 'POST', '/v1/practice-areas', 201, %T, body => { name => 'Tags' });
my $area = $r->{json}{data}{id};
$r = api($node, 'POST', '/v1/contacts', 201, %T, body => { type => 'PERSON', firstName => 'Client' });
my $client = $r->{json}{data}{id};

# resource => [create body, two different updates]
my @resources = (
	[ 'contacts', { type => 'PERSON', firstName => 'Eta' }, { lastName => 'One' }, { lastName => 'Two' } ],
	[ 'practice-areas', { name => 'Area' }, { name => 'Area 1' }, { name => 'Area 2' } ],
	[ 'matter-types', { practiceAreaId => $area, name => 'Kind' }, { name => 'Kind 1' }, { name => 'Kind 2' } ],
	[ 'matters', { practiceAreaId => $area, openDate => '2026-07-01', clientContactIds => [$client] },
		{ title => 'One' }, { title => 'Two' } ],
	[ 'leads', { type => 'PERSON', firstName => 'Lee' }, { value => 'LOW' }, { value => 'HIGH' } ],
);

for my $res (@resources)
{
	my ($name, $create, $up1, $up2) = @$res;
	my $r = api($node, 'POST', "/v1/$name", 201, %T, body => $create);
	my $id = $r->{json}{data}{id};
	my $path = "/v1/$name/$id";
	my $created = check_tags($r, "POST $name");

	$r = api($node, 'GET', $path, 200, %T);
	my $etag = check_tags($r, "GET $name");
	is($etag, $created, "GET $name: the same ETag as the POST's identical body");

	$r = api_raw($node, 'HEAD', $path, %T);
	is($r->{status}, 200, "HEAD $name -> 200");
	is($r->{headers}{etag}, $etag, "HEAD $name: the GET's ETag");
	is($r->{headers}{'last-modified'}, http_date(api_raw($node, 'GET', $path, %T)->{json}{data}{updatedAt}),
		"HEAD $name: the GET's Last-Modified");

	# If-None-Match: weak comparison, lists, *, 304 without a body
	for my $inm ($etag, "W/$etag", "\"other\", $etag", '*', " \"x\" ,, $etag ")
	{
		for my $method ('GET', 'HEAD')
		{
			$r = api_raw($node, $method, $path, %T, headers => { 'If-None-Match' => $inm });
			is($r->{status}, 304, "$method $name If-None-Match: $inm -> 304");
			is($r->{content} // '', '', "$method $name 304: no body");
			is($r->{headers}{etag}, $etag, "$method $name 304: ETag");
			ok(defined $r->{headers}{'last-modified'}, "$method $name 304: Last-Modified");
		}
	}
	$r = api($node, 'GET', $path, 200, %T, headers => { 'If-None-Match' => '"other", W/"0-00000000"' });
	is($r->{json}{data}{id}, $id, "GET $name with another tag: the record");
	$r = api($node, 'GET', $path, 400, %T, headers => { 'If-None-Match' => 'no-quotes' });
	is($r->{json}{error}{field}, 'If-None-Match', "GET $name, malformed If-None-Match: 400 naming it");

	# If-Match on PATCH: current -> 200 and a new ETag; stale -> 412, nothing written
	$r = api($node, 'PATCH', $path, 200, %T, body => $up1, headers => { 'If-Match' => $etag });
	my $etag1 = check_tags($r, "PATCH $name");
	isnt($etag1, $etag, "PATCH $name: a new ETag");
	$r = api($node, 'PATCH', $path, 412, %T, body => $up2, headers => { 'If-Match' => $etag });
	is($r->{json}{error}{code}, 'precondition_failed', "PATCH $name stale: code");
	is($r->{json}{error}{field}, 'If-Match', "PATCH $name stale: field If-Match");
	ok(!defined $r->{headers}{etag}, "PATCH $name stale: no ETag on the error");
	is(api_raw($node, 'GET', $path, %T)->{headers}{etag}, $etag1, "PATCH $name stale: nothing written");
	# a list naming the current version matches; a weak tag never does
	$r = api($node, 'PATCH', $path, 200, %T, body => $up2, headers => { 'If-Match' => "\"nope\", $etag1" });
	my $etag2 = $r->{headers}{etag};
	api($node, 'PATCH', $path, 412, %T, body => $up1, headers => { 'If-Match' => "W/$etag2" });
	$r = api($node, 'PATCH', $path, 400, %T, body => $up1, headers => { 'If-Match' => 'abc' });
	is($r->{json}{error}{field}, 'If-Match', "PATCH $name, malformed If-Match: 400 naming it");
	$r = api($node, 'PATCH', $path, 400, %T, body => $up1, headers => { 'If-Match' => "$etag1, $etag2" });
	is($r->{json}{error}{field}, 'If-Match', "PATCH $name, If-Match with two versions: 400");
	is(api_raw($node, 'GET', $path, %T)->{headers}{etag}, $etag2, "PATCH $name 400: nothing written");
	# no change: the version and ETag stay
	$r = api($node, 'PATCH', $path, 200, %T, body => $up2, headers => { 'If-Match' => $etag2 });
	is($r->{headers}{etag}, $etag2, "PATCH $name that changes nothing: the same ETag");
	$r = api($node, 'PATCH', $path, 200, %T, body => $up1, headers => { 'If-Match' => '*' });
	my $etag3 = $r->{headers}{etag};

	# If-Match on DELETE: 204 without tags
	api($node, 'DELETE', $path, 412, %T, headers => { 'If-Match' => $etag2 });
	$r = api_raw($node, 'DELETE', $path, %T, headers => { 'If-Match' => $etag3 });
	is($r->{status}, 204, "DELETE $name with the current ETag -> 204");
	ok(!defined $r->{headers}{etag}, "DELETE $name 204: no ETag");
	api($node, 'DELETE', $path, 404, %T, headers => { 'If-Match' => '*' });
	api($node, 'GET', $path, 404, %T, headers => { 'If-None-Match' => '*' });
}

# Members (read-only): GET and HEAD carry the tags too.
$r = api($node, 'GET', "/v1/members/$member", 200, %T);
my $metag = check_tags($r, 'GET members');
$r = api_raw($node, 'GET', "/v1/members/$member", %T, headers => { 'If-None-Match' => $metag });
is($r->{status}, 304, 'GET members If-None-Match -> 304');

# The 304's bytes on the wire (RFC 9110 8.6, 15.4.5): no body, no
# Content-Type, and a Content-Length only if it is the 200's (never a "0"
# that claims an empty representation).  Each 304 is followed on the same
# connection by a GET: its status line must come right after the 304's
# blank line, so a body byte would show.
{
	my $path = "/v1/members/$member";
	my $full = api_raw($node, 'GET', $path, %T);
	my $full_len = length $full->{content};
	my $head = api_raw($node, 'HEAD', $path, %T);
	is($head->{headers}{'content-length'}, $full_len, 'HEAD 200: the GET\'s Content-Length');
	for my $method ('GET', 'HEAD')
	{
		my $sock = raw_conn($node);
		print $sock raw_request($method, $path, %T, headers => { 'If-None-Match' => $metag })
		  . raw_request('GET', $path, %T, headers => { Connection => 'close' });
		my $bytes = '';
		my $deadline = time + 20;
		while (time < $deadline)
		{
			my $n = sysread($sock, $bytes, 65536, length $bytes);
			last unless $n;
		}
		close $sock;
		my $end = index($bytes, "\r\n\r\n");
		ok($end > 0, "$method 304 raw: a header block") or next;
		my $h304 = substr($bytes, 0, $end + 4);
		my $rest = substr($bytes, $end + 4);
		like($h304, qr{^HTTP/1\.1 304 Not Modified\r\n}, "$method 304 raw: status line");
		like($h304, qr{^ETag: \Q$metag\E\r$}mi, "$method 304 raw: the ETag");
		like($h304, qr{^Cache-Control: no-store\r$}mi, "$method 304 raw: the 200's Cache-Control");
		unlike($h304, qr{^Content-Type:}mi, "$method 304 raw: no Content-Type");
		unlike($h304, qr{^Transfer-Encoding:}mi, "$method 304 raw: no Transfer-Encoding");
		my @cl = $h304 =~ /^Content-Length:\s*(\d+)\r$/mig;
		ok(@cl <= 1 && (!@cl || $cl[0] == $full_len),
			"$method 304 raw: Content-Length absent or the 200's ($full_len)")
		  or diag("Content-Length: @cl");
		like($rest, qr{^HTTP/1\.1 200 OK\r\n}, "$method 304 raw: no body bytes before the next answer")
		  or diag(substr($rest, 0, 80));
		my ($blen) = $rest =~ /^Content-Length:\s*(\d+)\r$/mi;
		is($blen, $full_len, "$method 304 raw: the next answer is the whole 200");
	}
}

# Lists carry no ETag.
$r = api($node, 'GET', '/v1/contacts', 200, %T);
ok(!defined $r->{headers}{etag}, 'a list has no ETag');

# ---------------------------------------------------------------------------
# Authentication and scope first: a 304 or 412 tells nothing to a key that
# may not read or write the record
# ---------------------------------------------------------------------------
$r = api($node, 'POST', '/v1/matters', 201, %T, body => { practiceAreaId => $area, openDate => '2026-07-01' });
my $matter = $r->{json}{data}{id};
my $metag0 = $r->{headers}{etag};
api($node, 'GET', "/v1/matters/$matter", 401, headers => { 'If-None-Match' => '*' });
api($node, 'GET', "/v1/matters/$matter", 404, token => $other_token, headers => { 'If-None-Match' => '*' });
api($node, 'PATCH', "/v1/matters/$matter", 401, body => {}, headers => { 'If-Match' => '"0-00000000"' });
api($node, 'PATCH', "/v1/matters/$matter", 403, token => $read_token, body => {},
	headers => { 'If-Match' => '"0-00000000"' });
api($node, 'PATCH', "/v1/matters/$matter", 403, token => $read_token, body => {},
	headers => { 'If-Match' => 'malformed' });
api($node, 'PATCH', "/v1/matters/$matter", 404, token => $other_token, body => {},
	headers => { 'If-Match' => '"0-00000000"' });
api($node, 'DELETE', "/v1/matters/$matter", 404, token => $other_token, headers => { 'If-Match' => 'malformed' });
# a body with an unknown field is refused first; the values are checked
# against the record, so after its version (RFC 9110 13.2.1)
api($node, 'PATCH', "/v1/matters/$matter", 422, %T, body => { colour => 'red' },
	headers => { 'If-Match' => '"0-00000000"' });
api($node, 'PATCH', "/v1/matters/$matter", 412, %T, body => { status => 'NOPE' },
	headers => { 'If-Match' => '"0-00000000"' });
api($node, 'PATCH', "/v1/matters/$matter", 422, %T, body => { status => 'NOPE' },
	headers => { 'If-Match' => $metag0 });
is(api_raw($node, 'GET', "/v1/matters/$matter", %T)->{headers}{etag}, $metag0, 'none of them wrote');

# A related record's name is part of the representation: renaming the client
# changes the matter's ETag (If-None-Match) but not its version (If-Match).
$r = api($node, 'PATCH', "/v1/matters/$matter", 200, %T, body => { clientContactIds => [$client] },
	headers => { 'If-Match' => $metag0 });
my $metag1 = $r->{headers}{etag};
api($node, 'PATCH', "/v1/contacts/$client", 200, %T, body => { firstName => 'Renamed' });
$r = api($node, 'GET', "/v1/matters/$matter", 200, %T, headers => { 'If-None-Match' => $metag1 });
my $metag2 = $r->{headers}{etag};
isnt($metag2, $metag1, 'a renamed client changes the matter\'s ETag');
is((split /-/, $metag2)[0], (split /-/, $metag1)[0], '... but not its version');
api($node, 'PATCH', "/v1/matters/$matter", 200, %T, body => { title => 'Still mine' },
	headers => { 'If-Match' => $metag1 });

# ---------------------------------------------------------------------------
# The race: 16 concurrent PATCHes, each with the ETag it read
# ---------------------------------------------------------------------------
$r = api($node, 'GET', "/v1/matters/$matter", 200, %T);
my $race_etag = $r->{headers}{etag};
my $audit_before = $node->safe_psql('postgres',
	"SELECT count(*) FROM esqase.audit_log WHERE record_id = '$matter' AND action = 'UPDATE'");
my $go = $node->basedir . '/race-go';
my @kids;
for my $n (1 .. 16)
{
	my $pid = fork();
	die "fork: $!" unless defined $pid;
	if ($pid == 0)
	{
		my $http = HTTP::Tiny->new(timeout => 60, keep_alive => 0);
		my $url = "http://127.0.0.1:$node->{esq_http_port}/v1/matters/$matter";
		select(undef, undef, undef, 0.01) until -e $go;
		my $res = $http->request('PATCH', $url,
			{ headers => { Authorization => "Bearer $token", 'Content-Type' => 'application/json',
					'If-Match' => $race_etag },
			  content => encode_json({ title => "Writer $n" }) });
		open my $fh, '>', $node->basedir . "/race-$n" or die;
		print $fh "$res->{status}\n";
		close $fh;
		POSIX::_exit(0);
	}
	push @kids, $pid;
}
open my $fh, '>', $go or die;
close $fh;
waitpid($_, 0) for @kids;
my %by_status;
my $winner;
for my $n (1 .. 16)
{
	my $status = slurp_file($node->basedir . "/race-$n");
	chomp $status;
	push @{ $by_status{$status} }, $n;
	$winner = $n if $status eq '200';
}
is(scalar @{ $by_status{200} // [] }, 1, 'race: exactly one PATCH answered 200');
is(scalar @{ $by_status{412} // [] }, 15, 'race: fifteen answered 412')
  or diag(explain \%by_status);
$r = api($node, 'GET', "/v1/matters/$matter", 200, %T);
is($r->{json}{data}{title}, "Writer " . ($winner // '?'), 'race: the record holds the winner\'s change');
is($node->safe_psql('postgres',
		"SELECT count(*) FROM esqase.audit_log WHERE record_id = '$matter' AND action = 'UPDATE'"),
	$audit_before + 1, 'race: the audit log has one update');

no_500();
done_testing();
