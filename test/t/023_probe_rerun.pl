# 023_probe_rerun.pl — the 0.2.0 probe's reproductions
# (shared review probe-0.2.0.md, issue 21), each as the probe ran it, on one
# cluster: one test per finding says whether it still reproduces.  The
# files that test each rule in depth are named with it; this one keeps the
# probe's own cases together, so that a rerun of the probe is one command:
#   PROVE_TESTS=test/t/023_probe_rerun.pl tools/test.sh tap
# F16 (the docs) is no behaviour: test/t/094_settings_docs.pl checks the
# settings' documentation.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use EsqaseHttp;
use HTTP::Tiny;
use IO::Socket::INET;
use JSON::PP;
use IPC::Run qw(run timeout);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Socket qw(SHUT_WR);
use Test::More;
use Time::HiRes qw(time usleep);

$SIG{PIPE} = 'IGNORE';

my $node = esq_node('probe');
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION esqase');
my $port = $node->{esq_http_port};
sub sql { return $node->safe_psql('postgres', shift); }

# Firm A: an owner (every scope), a plain member with one key per scope;
# firm B: an owner.
my ($owner, $firm_a) = make_key($node, owner => 1);
my $plain = sql("SELECT esqase_create_member('$firm_a', 'Plain', 'plain\@a.test', false, '{}')");
my %k;
for my $s (all_scopes(), 'members:read')
{
	$k{$s} = sql("SELECT esqase_create_api_key('$plain', '{$s}')");
}
wait_for_status($node, 'GET', '/v1/contacts', 200, token => $owner);
my $AUTH = "Authorization: Bearer $owner\r\n";

# Records of firm A: a client "Jane" (email ajane@example.com) of matter
# "Acme", a public lead and an owner-only private lead ("Asecret").
sub made
{
	my ($path, $body, $token) = @_;
	my $r = api_raw($node, 'POST', $path, token => $token // $owner, body => $body);
	die "POST $path: $r->{status} $r->{content}" unless $r->{status} == 201;
	return $r->{json}{data};
}
my $area = made('/v1/practice-areas', { name => 'Probe law' })->{id};
my $client = made('/v1/contacts', { type => 'PERSON', firstName => 'Jane', emails => ['ajane@example.com'] })->{id};
my $matter = made('/v1/matters', { title => 'Acme', practiceAreaId => $area, openDate => '2026-01-02',
		clientContactIds => [$client] })->{id};
my $public = made('/v1/leads', { type => 'PERSON', firstName => 'Pat' })->{id};
my $private = made('/v1/leads', { type => 'PERSON', firstName => 'Asecret', isPrivate => JSON::PP::true });

# Runs SQL as the API role after authenticating with $token, in one
# transaction (committed unless $rollback); returns (stdout, stderr).
sub as_key
{
	my ($token, $stmts, $rollback) = @_;
	my ($out, $err) = ('', '');
	$node->psql('postgres',
		"SET ROLE esqase_api; BEGIN; SELECT esqase_authenticate('$token') \\g /dev/null\n$stmts\n"
		  . ($rollback ? 'ROLLBACK;' : 'COMMIT;'),
		stdout => \$out, stderr => \$err, on_error_stop => 0);
	return ($out, $err);
}

# Raw bytes on one connection; everything the server sends until it closes
# or $wait seconds pass.
sub raw
{
	my ($bytes, $wait) = @_;
	my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Timeout => 5) or die "connect: $!";
	syswrite($s, $bytes);
	my ($got, $buf, $t0) = ('', '', time);
	while (time - $t0 < ($wait // 5))
	{
		my $rin = '';
		vec($rin, fileno($s), 1) = 1;
		next unless select(my $rout = $rin, undef, undef, 0.2) > 0;
		last unless sysread($s, $buf, 65536);
		$got .= $buf;
	}
	close $s;
	return $got;
}
sub answers { my @s = $_[0] =~ m{HTTP/1\.[01] (\d{3}) }g; return @s; }
my %state;    # finding => 'closed' | 'reproduces'
sub finding
{
	my ($f, $closed, $what) = @_;
	die "$f: no verdict" unless defined $what;    # (a failed match in list context)
	$state{$f} = $closed ? 'closed' : 'reproduces';
	ok($closed, "$f: $what");
}

# --- F1: Transfer-Encoding folded onto a continuation line (CL.TE) --------
{
	my $body = '{"type":"PERSON","firstName":"Fold"}';
	my $got = raw("POST /v1/contacts HTTP/1.1\r\nHost: x\r\n${AUTH}Content-Type: application/json\r\n"
		  . "Transfer-Encoding:\r\n chunked\r\nContent-Length: " . length($body) . "\r\n\r\n$body"
		  . "GET /v1/members HTTP/1.1\r\nHost: x\r\n${AUTH}Connection: close\r\n\r\n");
	my @a = answers($got);
	my $got2 = raw("POST /v1/contacts HTTP/1.1\r\nHost: x\r\n${AUTH}Transfer-Encoding: chu\r\n nked\r\n"
		  . "Content-Length: 4\r\n\r\n5e\r\nGET /v1/members HTTP/1.1\r\nHost: x\r\n${AUTH}Connection: close\r\n\r\n");
	my @b = answers($got2);
	finding('F1', "@a" eq '400' && "@b" eq '400', "a folded Transfer-Encoding is one 400 and no second request (got @a; @b)");
}

# --- F2: UPDATE esqase.leads SET is_private = true, no WHERE --------------
{
	as_key($k{'leads:write'}, 'UPDATE esqase.leads SET is_private = true;');
	# and with every lead named (esqase.target), as over HTTP by their ids
	my (undef, $err) = as_key($k{'leads:write'},
		"SELECT esqase.targets(ARRAY['$public', '$private->{id}']::uuid[]) \\g /dev/null\n"
		  . 'UPDATE esqase.leads SET is_private = true;');
	my $r = api_raw($node, 'GET', "/v1/leads/$public", token => $k{'leads:read'});
	finding('F2', scalar($r->{status} == 200 && !$r->{json}{data}{isPrivate} && $err =~ /row-level security/),
		"a non-assignee cannot make the firm's leads private in SQL (GET $r->{status})");
}

# --- F3: the finders as a search oracle -----------------------------------
{
	my ($out) = as_key($k{'members:read'},
		"SELECT cardinality(esqase.contacts_found(esqase.context_firm(), to_tsquery('simple', 'asecret:*'))), "
		  . "cardinality(esqase.matters_found(esqase.context_firm(), to_tsquery('simple', 'acme:*')));", 1);
	finding('F3', $out eq '0|0', "members:read finds no hidden prospect and no matter (found: $out)");
}

# --- F6: the public-id counters written in SQL ----------------------------
{
	my (undef, $err) = as_key($k{'matters:write'},
		"UPDATE esqase.public_id_counters SET last_value = 2147483647 WHERE kind = 'M';");
	my $r = api_raw($node, 'POST', '/v1/matters', token => $owner,
		body => { practiceAreaId => $area, openDate => '2026-01-03' });
	finding('F6', $err =~ /permission denied/ && $r->{status} == 201, "the counter is not writable (create: $r->{status})");
}

# --- F7: rows and columns beyond HTTP -------------------------------------
{
	my ($emails) = as_key($k{'matters:read'}, 'SELECT count(*) FROM esqase.contacts WHERE emails <> \'{}\';', 1);
	my ($members) = as_key($k{'matters:read'}, 'SELECT count(*) FROM esqase.members;', 1);
	my ($write_only) = as_key($k{'contacts:write'}, 'SELECT count(*) FROM esqase.contacts;', 1);
	my ($private_count) = as_key($k{'leads:read'},
		"SELECT count(*) FROM esqase.record_counts WHERE list IN ('leads_private', 'contacts_private');", 1);
	finding('F7', "$emails|$members|$write_only|$private_count" eq '0|0|0|0',
		"matters:read reads no email or member, contacts:write lists no contact, leads:read no private count "
		  . "($emails|$members|$write_only|$private_count)");
}

# --- F8: undelete, a forged created_at ------------------------------------
{
	my $gone = made('/v1/contacts', { type => 'PERSON', firstName => 'Gone' })->{id};
	api_raw($node, 'DELETE', "/v1/contacts/$gone", token => $owner);
	as_key($k{'contacts:write'}, "SELECT esqase.target('$gone') \\g /dev/null\n"
		  . "UPDATE esqase.contacts SET deleted_at = NULL, status = 'ACTIVE' WHERE id = '$gone';");
	my (undef, $err) = as_key($k{'contacts:write'}, "SELECT esqase.target('$client') \\g /dev/null\n"
		  . "UPDATE esqase.contacts SET created_at = '1999-01-01' WHERE id = '$client';");
	my $r = api_raw($node, 'GET', "/v1/contacts/$gone", token => $owner);
	finding('F8', scalar($r->{status} == 404 && $err =~ /permission denied/),
		"no undelete (GET $r->{status}), no forged created_at (" . ($err =~ s/\s+$//r) . ')');
}

# --- F9, F10: a ':' line; no Host, two Hosts ------------------------------
{
	my $got = raw("GET /v1/contacts?limit=1 HTTP/1.1\r\nHost: x\r\n$AUTH: a\r\n"
		  . "GET /v1/members HTTP/1.1\r\nHost: x\r\n${AUTH}Connection: close\r\n\r\n");
	my @a = answers($got);
	finding('F9', "@a" eq '400', "a header line starting with ':' is one 400 (got @a)");
	my @b = answers(raw("GET /v1/contacts?limit=1 HTTP/1.1\r\n${AUTH}Connection: close\r\n\r\n"));
	my @c = answers(raw("GET /v1/contacts?limit=1 HTTP/1.1\r\nHost: a\r\nHost: b\r\n${AUTH}Connection: close\r\n\r\n"));
	finding('F10', "@b" eq '400' && "@c" eq '400', "HTTP/1.1 without Host or with two is a 400 (got @b; @c)");
}

# --- F11: a client that half-closes mid-body ------------------------------
{
	my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Timeout => 5) or die;
	syswrite($s, "POST /v1/contacts HTTP/1.1\r\nHost: x\r\n${AUTH}Content-Type: application/json\r\n"
		  . "Content-Length: 100\r\n\r\n{\"type\":");
	shutdown($s, SHUT_WR);
	my ($t0, $buf) = (time, '');
	my $rin = '';
	vec($rin, fileno($s), 1) = 1;
	while (time - $t0 < 40)
	{
		next unless select(my $rout = $rin, undef, undef, 0.2) > 0;
		last unless sysread($s, $buf, 65536, length $buf);
	}
	my $dt = time - $t0;
	finding('F11', $dt < 2, sprintf('a half-closed client mid-body is closed at once (%.1f s)', $dt));
}

# --- F13: the key in the server log ---------------------------------------
{
	my $log_before = -s $node->logfile;
	# one query string, as psql -c sends it: the failed statement's text
	# holds the key
	$node->psql('postgres', "SET ROLE esqase_api \\; BEGIN \\; SELECT esqase_authenticate('$owner') \\; "
		  . "SELECT esqase_contacts_get('00000000-0000-0000-0000-000000000000') \\; COMMIT;");
	my ($secret) = $owner =~ /^esq_[0-9a-f]+_(.+)$/;
	my $log = slurp_file($node->logfile, $log_before);
	# the documented remainder (docs/sql-api.md, "Keeping the key out of
	# logs"): a secret the client itself cut into pieces in its statement
	$log_before = -s $node->logfile;
	my ($p, $s1, $s2) = $owner =~ /^esq_([0-9a-f]+)_(.{32})(.+)$/;
	$node->psql('postgres', "SET ROLE esqase_api \\; BEGIN \\; SELECT esqase_authenticate('esq_${p}_' || '$s1' || '$s2') \\; "
		  . "SELECT esqase_contacts_get('00000000-0000-0000-0000-000000000000') \\; COMMIT;");
	note('F13 remainder: a secret the client cut into pieces of 32 is '
		  . (index(slurp_file($node->logfile, $log_before), $s1) >= 0 ? 'in the log, as documented' : 'not in the log'));
	finding('F13', $log =~ /esqase_authenticate\('esq_[0-9a-f]+_\[redacted\]'\)/ && index($log, $secret) < 0,
		'a failed statement holding a key logs its prefix, not its secret');
}

# --- F14: a flood of 401s in the log --------------------------------------
{
	my $log_before = -s $node->logfile;
	my $http = HTTP::Tiny->new(timeout => 5, keep_alive => 1);
	$http->get("http://127.0.0.1:$port/v1/contacts?limit=1") for 1 .. 500;
	usleep(1_500_000);
	my $lines = () = slurp_file($node->logfile, $log_before) =~ /request GET \/v1\/contacts 401/g;
	finding('F14', $lines < 50, "500 requests without a key write $lines log lines of their own");
}

# --- F15: answers that are not JSON ---------------------------------------
# Closed as the "every answer true" issue allows: one answer per request,
# JSON, or one of libmicrohttpd's own pages that docs/http-api.md
# ("libmicrohttpd's own answers") lists byte for byte, or the one documented
# case closed with no answer; nothing undocumented.
{
	my $doc = slurp_file("$FindBin::RealBin/../../docs/http-api.md");
	my %page;    # status => [documented bodies]
	push @{ $page{$1} }, $2 while $doc =~ /^\| `HTTP\/1\.1 (\d{3}) [^`]*` \| [^\n]*\| `(<html>[^`]*)` \(\d+\) \|$/mg;
	$page{$1} = $page{$2} while $doc =~ /^\| `HTTP\/1\.1 (\d{3}) [^`]*` \| [^\n]*\| the same as `(\d{3})` \(\d+\) \|$/mg;
	my $closes = $doc =~ /more parameters than `esqase\.http_connection_memory` can index[^.]*gets no answer: the connection is\s+closed/;
	my @bad;
	my %cases = (
		'Content-Length: 5, 5' => "POST /v1/contacts HTTP/1.1\r\nHost: x\r\n${AUTH}Content-Length: 5, 5\r\n\r\n{}",
		'5000 headers' => "GET /v1/contacts HTTP/1.1\r\nHost: x\r\n$AUTH" . join('', map { "X-H$_: v\r\n" } 1 .. 5000) . "\r\n",
		'a 100 kB URL' => "GET /v1/contacts?q=" . ('a' x 100_000) . " HTTP/1.1\r\nHost: x\r\n$AUTH\r\n",
		'HTTP/2.0' => "GET /v1/contacts HTTP/2.0\r\nHost: x\r\n$AUTH\r\n",
		'1000 query parameters' => "GET /v1/contacts?" . join('&', map { "p$_=1" } 1 .. 1000) . " HTTP/1.1\r\nHost: x\r\n$AUTH\r\n",
	);
	for my $what (sort keys %cases)
	{
		my $t0 = time;
		my $got = raw($cases{$what}, 3);
		my @a = answers($got);
		my ($body) = $got =~ /\r\n\r\n(.*)\z/s;
		my $json = @a == 1 && $got =~ /application\/json/ && $got =~ /"error"/;
		my $documented = @a == 1 && grep { $_ eq ($body // '') } @{ $page{ $a[0] } // [] };
		my $closed = !@a && $got eq '' && $closes && time - $t0 < 3;
		push @bad, "$what: " . (@a ? "@a" : 'no answer') unless $json || $documented || $closed;
	}
	finding('F15', %page >= 4 && !@bad, 'every error answer is one JSON answer or a documented one'
		  . (@bad ? ': ' . join('; ', @bad) : ''));
}

# --- F17: minor leaks ------------------------------------------------------
{
	my $revoked = sql("SELECT esqase_create_api_key('$plain', '{contacts:read}')");
	my $expired = sql("SELECT esqase_create_api_key('$plain', '{contacts:read}')");
	sql("SELECT esqase_revoke_api_key('$revoked')");
	sql("UPDATE esqase.api_keys SET expires_at = now() - interval '1 second' WHERE prefix = '"
		  . (split /_/, $expired)[1] . "'");
	my @m = map { api_raw($node, 'GET', '/v1/contacts', token => $_)->{json}{error}{message} // '' } $revoked, $expired;
	my $nfc = api_raw($node, 'POST', '/v1/practice-areas', token => $owner, body => { name => "Cafe\x{301}" });
	my (undef, $err) = as_key($k{'contacts:write'}, "UPDATE esqase.idempotency_keys SET response = '{}';");
	finding('F17', $m[0] eq $m[1] && $err =~ /permission denied/ && ($nfc->{json}{data}{name} // '') eq "Caf\x{e9}",
		"revoked and expired keys answer alike ('$m[0]' / '$m[1]'), names in NFC, idempotency rows not writable");
}

# --- F4: made-up tokens in the key's slot set ------------------------------
{
	$node->append_conf('postgresql.conf', "esqase.http_rate_limit = 20\nesqase.http_rate_limit_window = '20s'\n");
	$node->reload;
	my $key = $k{'contacts:read'};
	my ($prefix) = $key =~ /^esq_([0-9a-f]+)_/;
	usleep(500_000);
	my @first = map { api_raw($node, 'GET', '/v1/contacts?limit=1', token => $key)->{status} } 1 .. 21;
	# eight prefixes in the key's set, as the probe computed them
	my @evict = split /\n/, sql(qq{
SELECT p FROM (SELECT substr(md5(g::text), 1, 12) AS p FROM generate_series(1, 200000) g) x
 WHERE (hashtext(p)::bigint & 4294967295) % 1024 = (hashtext('$prefix')::bigint & 4294967295) % 1024
 LIMIT 8});
	api_raw($node, 'GET', '/v1/members', token => "esq_${_}_" . ('0' x 64)) for @evict;
	my @after = map { api_raw($node, 'GET', '/v1/contacts?limit=1', token => $key)->{status} } 1 .. 20;
	my $extra = grep { $_ == 200 } @after;
	finding('F4', $first[20] == 429 && $extra == 0,
		"an exhausted key stays exhausted after 8 made-up tokens of its set ($extra of 20 extra 200s; "
		  . scalar(@evict) . ' tokens)');
	$node->append_conf('postgresql.conf', "esqase.http_rate_limit = 0\n");
	$node->reload;
}

# --- F5: a normal client during connection churn ---------------------------
{
	usleep(500_000);
	my ($out, $err) = ('', '');
	run [ 'python3', "$FindBin::RealBin/../../tools/front-door-churn.py", $port, $owner, 'connclose', 8 ],
	  '>', \$out, '2>', \$err, timeout(60);
	my ($total, $ok, $dropped) = $out =~ /requests=(\d+) ok=(\d+) dropped_no_answer=(\d+)/;
	finding('F5', defined $dropped && $dropped == 0 && $ok > 0,
		'connect-and-close churn: no request of a normal client dropped (' . ($out =~ s/\s+$//r) . ')')
	  or diag("front-door-churn.py: $err");
}

# --- F12: TLS 1.2 suites ---------------------------------------------------
{
	my $dir = PostgreSQL::Test::Utils::tempdir;
	my ($o1, $e1) = ('', '');
	run [ 'openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=probe',
		'-keyout', "$dir/server.key", '-out', "$dir/server.crt" ], '>', \$o1, '2>', \$e1, timeout(60)
	  or die "openssl: $e1";
	chmod 0600, "$dir/server.key";
	my $tls = esq_node('probe_tls', 'esqase.http_tls_cert_file' => "'$dir/server.crt'",
		'esqase.http_tls_key_file' => "'$dir/server.key'");
	$tls->start;
	$tls->safe_psql('postgres', 'CREATE EXTENSION esqase');
	usleep(1_000_000);
	my %cipher;
	for my $c (qw(AES128-SHA AES256-SHA ECDHE-RSA-AES128-SHA ECDHE-RSA-AES128-GCM-SHA256))
	{
		my ($out, $err) = ('', '');
		run [ 'openssl', 's_client', '-connect', "127.0.0.1:$tls->{esq_http_port}", '-tls1_2', '-cipher', "$c:\@SECLEVEL=0" ],
		  '<', \'', '>', \$out, '2>', \$err, timeout(20);
		($cipher{$c}) = $out =~ /Cipher is (\S+)/;
		$cipher{$c} //= '(NONE)';
	}
	$tls->stop;
	finding('F12', $cipher{'AES128-SHA'} eq '(NONE)' && $cipher{'AES256-SHA'} eq '(NONE)'
		  && $cipher{'ECDHE-RSA-AES128-SHA'} eq '(NONE)' && $cipher{'ECDHE-RSA-AES128-GCM-SHA256'} ne '(NONE)',
		'TLS 1.2 offers ECDHE AEAD suites only (' . join(', ', map { "$_: $cipher{$_}" } sort keys %cipher) . ')');
}

diag(join "\n", 'The 0.2.0 probe, rerun:', map { "  $_: $state{$_}" } sort { substr($a, 1) <=> substr($b, 1) } keys %state);
$node->stop;
done_testing();
