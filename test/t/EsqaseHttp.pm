# EsqaseHttp.pm — helpers for the HTTP API's TAP tests: a cluster with the
# extension preloaded on a free port, a JSON HTTP client, keys.
package EsqaseHttp;

use strict;
use warnings;

use Exporter 'import';
use HTTP::Tiny;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IO::Select;
use IO::Socket::INET;
use Time::HiRes qw(usleep time);

our @EXPORT = qw(esq_node api api_raw wait_for_status make_key raise_on_get
  all_scopes statuses_seen no_500 json_decode_ok key_order
  raw_conn raw_request raw_response);

my %seen;    # status => count, over every request of the test file

# A cluster with esqase preloaded and the HTTP API on a free port.
sub esq_node
{
	my ($name, %conf) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init;
	my $port = PostgreSQL::Test::Cluster::get_free_port();
	my $extra = join '', map { "$_ = $conf{$_}\n" } sort keys %conf;
	$node->append_conf('postgresql.conf', <<"EOC" . $extra);
shared_preload_libraries = 'esqase'
esqase.http_port = $port
esqase.http_workers = 2
log_min_messages = info
EOC
	$node->{esq_http_port} = $port;
	return $node;
}

sub base { my $node = shift; return "http://127.0.0.1:$node->{esq_http_port}"; }

# One request; returns { status, headers, content, json }.
# %o: token, body (string or ref, encoded to JSON), headers, timeout, http
sub api_raw
{
	my ($node, $method, $path, %o) = @_;
	my $http = $o{http}
	  // HTTP::Tiny->new(timeout => $o{timeout} // 30, keep_alive => 0);
	my %h = %{ $o{headers} // {} };
	$h{Authorization} = "Bearer $o{token}" if defined $o{token};
	my %args = (headers => \%h);
	if (defined $o{body})
	{
		$args{content} = ref $o{body} ? encode_json($o{body}) : $o{body};
		$h{'Content-Type'} //= 'application/json';
	}
	my $r = $http->request($method, base($node) . $path, \%args);
	$seen{ $r->{status} }++ if $r->{status} != 599;
	my $json;
	if (defined $r->{content} && length $r->{content} && $r->{status} != 599)
	{
		$json = eval { decode_json($r->{content}) };
	}
	return {
		status => $r->{status},
		headers => $r->{headers},
		content => $r->{content},
		json => $json,
	};
}

# Like api_raw, and checks the status and the JSON content type (none on a
# 304, which has no body).
sub api
{
	my ($node, $method, $path, $want, %o) = @_;
	my $r = api_raw($node, $method, $path, %o);
	my $what = $o{name} // "$method $path";
	is($r->{status}, $want, "$what -> $want")
	  or diag("body: " . ($r->{content} // ''));
	if ($r->{status} == 304)
	{
		ok(!defined $r->{headers}{'content-type'}, "$what: no content type");
	}
	elsif ($r->{status} != 599)
	{
		is( $r->{headers}{'content-type'},
			'application/json; charset=utf-8',
			"$what: JSON content type");
		if ($want >= 400)
		{
			my $e = $r->{json} && $r->{json}{error};
			ok( $e
				  && $e->{status} == $want
				  && defined $e->{code}
				  && defined $e->{message}
				  && exists $e->{field},
				"$what: error body");
		}
	}
	return $r;
}

# Polls until the request answers $want (the workers start in the background).
sub wait_for_status
{
	my ($node, $method, $path, $want, %o) = @_;
	my $deadline = time + ($o{timeout_s} // 60);
	my $r;
	while (time < $deadline)
	{
		$r = api_raw($node, $method, $path, %o, timeout => 5);
		return $r if $r->{status} == $want;
		usleep(100_000);
	}
	return $r;
}

sub all_scopes
{
	return map { ("$_:read", "$_:write") }
	  qw(contacts matters leads practice-areas matter-types);
}

# Puts a stand-in in front of esqase.contacts_get (the function the worker
# calls for GET /v1/contacts/{id}): for each id of %states it raises that
# SQLSTATE ("raised <state>", COLUMN someField); other ids read as before.
# For the statuses no ordinary request provokes.
sub raise_on_get
{
	my ($node, %states) = @_;
	my $rows = join ",\n  ", map { "('$_', '$states{$_}')" } sort keys %states;
	$node->safe_psql('postgres', qq{
CREATE TABLE esqase_test_states (id uuid PRIMARY KEY, state text);
INSERT INTO esqase_test_states VALUES
  $rows;
GRANT SELECT ON esqase_test_states TO esqase_api;
ALTER FUNCTION esqase.contacts_get(uuid) RENAME TO contacts_get_real;
CREATE FUNCTION esqase.contacts_get(id uuid) RETURNS esqase.answer LANGUAGE plpgsql AS \$\$
DECLARE s text;
BEGIN
  SELECT state INTO s FROM esqase_test_states t WHERE t.id = contacts_get.id;
  IF s IS NULL THEN RETURN esqase.contacts_get_real(id); END IF;
  RAISE EXCEPTION USING ERRCODE = s, MESSAGE = 'raised ' || s, COLUMN = 'someField';
END \$\$;
});
	return;
}

# Creates a firm (or uses $o{firm}), a member and a key; returns (token, firm, member).
sub make_key
{
	my ($node, %o) = @_;
	my $db = $o{db} // 'postgres';
	my $firm = $o{firm}
	  // $node->safe_psql($db, "SELECT esqase_create_firm('Firm $$')");
	my $owner = $o{owner} ? 'true' : 'false';
	my $perms = $o{permissions} // '{practice_areas}';
	my $n = int(rand(1e9));
	my $member = $node->safe_psql($db,
		"SELECT esqase_create_member('$firm', 'Member $n', 'm$n\@example.com', $owner, '$perms')"
	);
	my $scopes = join ',', @{ $o{scopes} // [ all_scopes() ] };
	my $token = $node->safe_psql($db,
		"SELECT esqase_create_api_key('$member', '{$scopes}')");
	return ($token, $firm, $member);
}

# The keys of the first JSON object that opens at nesting depth $depth of
# the raw text $json, in the order they are written (1: the top object;
# 2: {"data": {...}}'s record; 3: the first record of {"data": [...]}).
# A decoded hash has no order, so the order is read from the text itself.
sub key_order
{
	my ($json, $depth) = @_;
	my ($level, $opened, @keys) = (0, 0);
	while ($json =~ /\G\s*(?:("(?:[^"\\]|\\.)*")\s*(:)?|([{\[])|([}\]])|[^"{}\[\]]+)/gc)
	{
		if (defined $3)
		{
			$level++;
			$opened++ if $level == $depth;
		}
		elsif (defined $4)
		{
			last if $level == $depth && $opened;
			$level--;
		}
		elsif (defined $2 && $level == $depth && $opened == 1)
		{
			push @keys, substr($1, 1, -1);
		}
	}
	return \@keys;
}

# A raw connection to the HTTP API (keep-alive, one request at a time).
sub raw_conn
{
	my ($node) = @_;
	my $sock = IO::Socket::INET->new(
		PeerAddr => '127.0.0.1',
		PeerPort => $node->{esq_http_port},
		Timeout => 10) or die "connect: $!";
	$sock->autoflush(1);
	return $sock;
}

# The text of one HTTP/1.1 request: %o token, body (a ref is encoded to JSON), headers.
sub raw_request
{
	my ($method, $path, %o) = @_;
	my $req = "$method $path HTTP/1.1\r\nHost: x\r\n";
	$req .= "Authorization: Bearer $o{token}\r\n" if defined $o{token};
	$req .= "$_: $o{headers}{$_}\r\n" for sort keys %{ $o{headers} // {} };
	if (defined $o{body})
	{
		my $b = ref $o{body} ? encode_json($o{body}) : $o{body};
		$req .= "Content-Type: application/json\r\nContent-Length: " . length($b) . "\r\n\r\n$b";
	}
	else
	{
		$req .= "\r\n";
	}
	return $req;
}

# Reads one response from a raw connection within $timeout seconds:
# { status, head, content, json }; { closed => 1, bytes } if the server
# closed the connection before a whole response; undef if none came in time.
sub raw_response
{
	my ($sock, $timeout) = @_;
	my $buf = ${*$sock}{esq_buf} // '';
	my $deadline = time + $timeout;
	my $sel = IO::Select->new($sock);
	for (;;)
	{
		my $hend = index($buf, "\r\n\r\n");
		if ($hend >= 0)
		{
			my $head = substr($buf, 0, $hend + 4);
			my ($len) = $head =~ /^Content-Length:\s*(\d+)/mi;
			$len //= 0;
			if (length($buf) >= $hend + 4 + $len)
			{
				my ($status) = $head =~ m{^HTTP/1\.[01] (\d+)};
				my $content = substr($buf, $hend + 4, $len);
				${*$sock}{esq_buf} = substr($buf, $hend + 4 + $len);
				$seen{$status}++;
				return {
					status => $status,
					head => $head,
					content => $content,
					json => (length $content ? eval { decode_json($content) } : undef),
				};
			}
		}
		my $left = $deadline - time;
		if ($left <= 0 || !$sel->can_read($left))
		{
			${*$sock}{esq_buf} = $buf;
			return undef;
		}
		my $n = sysread($sock, $buf, 65536, length $buf);
		return { closed => 1, bytes => $buf } unless $n;
	}
}

sub statuses_seen { return {%seen}; }

# No request of the test file was answered with a 5xx other than the
# documented 503 (not available) and 504 (statement timeout).
sub no_500
{
	my @bad = grep { $_ >= 500 && $_ != 503 && $_ != 504 } keys %seen;
	is_deeply(\@bad, [], 'no request answered 500 or another undocumented 5xx')
	  or diag("statuses: " . join(', ', map { "$_ x$seen{$_}" } sort keys %seen));
}

1;
