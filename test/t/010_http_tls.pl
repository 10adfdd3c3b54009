# 010_http_tls.pl — HTTPS in process: a certificate the test makes with
# openssl, curl against it, TLS 1.2+ only with forward secrecy and AEAD
# suites (esqase.http_tls_priorities), reload on SIGHUP (a renewed
# certificate is served, a broken one keeps the old; the log says which
# certificate is served, once per change, and warns of an expired one),
# HTTPS turned off.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use EsqaseHttp;
use IPC::Run qw(run timeout);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

my $dir = PostgreSQL::Test::Utils::tempdir;

sub make_cert
{
	my ($cn, $rsa) = @_;
	my ($out, $err);
	my @key = $rsa ? ('-newkey', 'rsa:2048') : ('-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256');
	my $ok = run [
		'openssl', 'req', '-x509', @key,
		'-nodes', '-days', '2', '-subj', "/CN=$cn",
		'-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
		'-keyout', "$dir/new.key", '-out', "$dir/new.crt"
	  ],
	  '>', \$out, '2>', \$err, timeout(60);
	die "openssl: $err" unless $ok;
	rename "$dir/new.key", "$dir/server.key" or die;
	rename "$dir/new.crt", "$dir/server.crt" or die;
	chmod 0600, "$dir/server.key";
}
make_cert('esqase-one');
# the client trusts both certificates the test makes
my $node = esq_node('tls',
	'esqase.http_tls_cert_file' => "'$dir/server.crt'",
	'esqase.http_tls_key_file' => "'$dir/server.key'");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION esqase');
my ($token) = make_key($node, owner => 1);
my $port = $node->{esq_http_port};
my $url = "https://127.0.0.1:$port/v1/contacts";

sub curl
{
	my (@args) = @_;
	my ($out, $err) = ('', '');
	run [ 'curl', '-s', '-o', '/dev/null', '-w', '%{http_code} %{ssl_verify_result}',
		'--max-time', '5', '-H', "Authorization: Bearer $token", @args ],
	  '>', \$out, '2>', \$err, timeout(30);
	return $out;
}

# The subject of the certificate the server sends.
sub served_subject
{
	my ($out, $err) = ('', '');
	my $in = '';
	run [ 'openssl', 's_client', '-connect', "127.0.0.1:$port", '-servername', 'localhost' ],
	  '<', \$in, '>', \$out, '2>', \$err, timeout(30);
	my ($subject) = $out =~ /^subject=.*CN\s*=\s*(\S+)/m;
	return $subject // '';
}

my $got;
for (1 .. 100)
{
	$got = curl('--cacert', "$dir/server.crt", $url);
	last if $got =~ /^200/;
	usleep(200_000);
}
is($got, '200 0', 'curl over HTTPS, certificate verified -> 200');
is(served_subject(), 'esqase-one', 'the configured certificate is served');

# The certificates the log says are served, in order: one LOG line per
# change (the first worker's; both workers load the files).
my $served_re = qr/LOG:  esqase: HTTPS now serves the certificate "CN=([^"]+)" from "\Q$dir\E\/server\.crt", valid until \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC \(SHA-256 (?:[0-9A-F]{2}:){31}[0-9A-F]{2}\)$/m;
sub served_logged { my @cn = slurp_file($node->logfile) =~ /$served_re/g; return \@cn; }
is_deeply(served_logged(), ['esqase-one'], 'the log names the certificate served at start, once');
ok($node->log_contains(qr/listening on .* port $port \(HTTPS\)/), 'the log says HTTPS');
like(curl('--cacert', "$dir/server.crt", '--tlsv1.2', '--tls-max', '1.2', $url),
	qr/^200/, 'TLS 1.2 is accepted');
like(curl('--cacert', "$dir/server.crt", '--tlsv1.3', $url), qr/^200/, 'TLS 1.3 is accepted');
# openssl's client, made willing to speak an old version: the cipher it
# reports is (NONE) if the handshake failed
sub s_client_cipher
{
	my ($version, $suites) = @_;
	my ($out, $err, $in) = ('', '', '');
	run [ 'openssl', 's_client', '-connect', "127.0.0.1:$port", $version,
		'-cipher', ($suites // 'DEFAULT') . ':@SECLEVEL=0' ],
	  '<', \$in, '>', \$out, '2>', \$err, timeout(30);
	my ($cipher) = $out =~ /Cipher is (\S+)/;
	return $cipher // '?';
}
isnt(s_client_cipher('-tls1_2'), '(NONE)', 'openssl s_client: TLS 1.2 handshake succeeds');
is(s_client_cipher('-tls1_1'), '(NONE)', 'TLS 1.1 is refused');
is(s_client_cipher('-tls1'), '(NONE)', 'TLS 1.0 is refused');
# esqase.http_tls_priorities' default, Mozilla "intermediate": TLS 1.2 with
# forward secrecy and AEAD only (an ECDSA certificate here; RSA below)
is(s_client_cipher('-tls1_2', 'ECDHE-ECDSA-AES128-SHA'), '(NONE)', 'TLS 1.2: CBC with SHA-1 is refused');
is(s_client_cipher('-tls1_2', 'ECDHE-ECDSA-AES256-SHA384'), '(NONE)', 'TLS 1.2: CBC with SHA-384 is refused');
is(s_client_cipher('-tls1_2', 'ECDHE-ECDSA-AES128-GCM-SHA256'), 'ECDHE-ECDSA-AES128-GCM-SHA256',
	'TLS 1.2: ECDHE with AES-GCM is accepted');
is(s_client_cipher('-tls1_2', 'ECDHE-ECDSA-CHACHA20-POLY1305'), 'ECDHE-ECDSA-CHACHA20-POLY1305',
	'TLS 1.2: ECDHE with ChaCha20-Poly1305 is accepted');
is($node->safe_psql('postgres', 'SHOW esqase.http_tls_priorities'),
	'NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-RSA:-CIPHER-ALL:+AES-128-GCM:+AES-256-GCM:'
	  . '+CHACHA20-POLY1305:-MAC-ALL:+AEAD:%SERVER_PRECEDENCE',
	'the default priority string');
{
	my ($out, $err) = ('', '');
	run [ 'curl', '-s', '--max-time', '5', '-o', '/dev/null', '-w', '%{http_code}',
		"http://127.0.0.1:$port/v1/contacts" ], '>', \$out, '2>', \$err, timeout(30);
	isnt($out, '200', "plain HTTP on the HTTPS port gets no answer ($out)");
}
like(curl('--cacert', "$dir/server.crt", $url), qr/^200/, 'still serving HTTPS');

# A Content-Length libmicrohttpd cannot read, over HTTPS (whose bytes esqase
# cannot read before GnuTLS): libmicrohttpd 0.9.75 sent its own 400 or 413
# with the status line and headers twice.  One JSON answer per request now,
# alone or after a good request in the same write, then the close.
{
	my $AUTH = "Authorization: Bearer $token\r\n";
	my $good = "GET /v1/contacts?limit=1 HTTP/1.1\r\nHost: x\r\n$AUTH\r\n";
	my $bad = "POST /v1/contacts HTTP/1.1\r\nHost: x\r\n${AUTH}Content-Type: application/json\r\n"
	  . "Content-Length: 12abc\r\n\r\n{}";
	my $huge = "POST /v1/contacts HTTP/1.1\r\nHost: x\r\n${AUTH}Content-Length: " . ('9' x 30)
	  . "\r\n\r\n{}";
	my %cases = (
		'HTTPS: Content-Length: 12abc' => [ $bad, '400' ],
		'HTTPS: a Content-Length over 64 bits' => [ $huge, '413' ],
		'HTTPS pipelined: a good request, then Content-Length: 12abc' => [ "$good$bad", '200 400' ],
	);
	for my $what (sort keys %cases)
	{
		my ($in, $want) = @{ $cases{$what} };
		my ($out, $err) = ('', '');
		# -quiet: no session details, and read on after stdin's end until the server closes
		eval {
			run [ 'openssl', 's_client', '-quiet', '-connect', "127.0.0.1:$port", '-servername', 'localhost' ],
			  '<', \$in, '>', \$out, '2>', \$err, timeout(30);
		};
		my @st = $out =~ m{HTTP/1\.[01] (\d{3}) }g;
		is("@st", $want, "$what: one answer per request ($want)") or diag($out);
		like($out, qr{\r\nConnection: close\r\n(?:(?!HTTP/1\.1 ).)*"code":"(?:bad_request|payload_too_large)"[^\r\n]*\z}s,
			"$what: a JSON error, then closed");
	}
	like(curl('--cacert', "$dir/server.crt", $url), qr/^200/, 'still serving HTTPS after them');
}

# ---------------------------------------------------------------------------
# Reload: a renewed certificate is served without a restart
# ---------------------------------------------------------------------------
my $pids = $node->safe_psql('postgres',
	"SELECT string_agg(pid::text, ',' ORDER BY pid) FROM pg_stat_activity WHERE backend_type = 'esqase http'");
make_cert('esqase-two');
$node->reload;
my $subject = '';
for (1 .. 50)
{
	$subject = served_subject();
	last if $subject eq 'esqase-two';
	usleep(200_000);
}
is($subject, 'esqase-two', 'after a reload the renewed certificate is served');
ok($node->wait_for_log(qr/now serves the certificate "CN=esqase-two"/), 'the reload is logged');
is_deeply(served_logged(), [ 'esqase-one', 'esqase-two' ], 'once, with its subject, expiry and file');
like(curl('--cacert', "$dir/server.crt", $url), qr/^200 0/, 'and verified');
is( $node->safe_psql('postgres',
		"SELECT string_agg(pid::text, ',' ORDER BY pid) FROM pg_stat_activity WHERE backend_type = 'esqase http'"),
	$pids, 'by the same worker processes');

# a broken certificate file: the old one stays, with a WARNING
copy_file("$dir/server.crt", "$dir/good.crt");
open my $fh, '>', "$dir/server.crt" or die;
print $fh "not a certificate\n";
close $fh;
$node->reload;
ok( $node->wait_for_log(qr/WARNING:  esqase: could not load the HTTPS certificate or key/),
	'a broken certificate is a WARNING');
like(curl('--cacert', "$dir/good.crt", $url), qr/^200 0/, 'and the previous certificate is still served');
like(slurp_file($node->logfile), qr/DETAIL:  The HTTP API keeps the certificate it had\./,
	'the WARNING says the old certificate is kept');
# the same certificate again: a reload that changes nothing logs nothing
copy_file("$dir/good.crt", "$dir/server.crt");
$node->reload;

# ---------------------------------------------------------------------------
# An RSA certificate: no static-RSA key exchange (no forward secrecy) by
# default; esqase.http_tls_priorities changes what is offered
# ---------------------------------------------------------------------------
make_cert('esqase-rsa', 1);
$node->reload;
for (1 .. 50)
{
	last if served_subject() eq 'esqase-rsa';
	usleep(200_000);
}
is(served_subject(), 'esqase-rsa', 'an RSA certificate is served after a reload');
ok($node->wait_for_log(qr/now serves the certificate "CN=esqase-rsa"/), 'the RSA certificate is logged');
is_deeply(served_logged(), [ 'esqase-one', 'esqase-two', 'esqase-rsa' ],
	'a broken file or an unchanged certificate adds no line');
is(s_client_cipher('-tls1_2', 'AES128-SHA'), '(NONE)', 'TLS 1.2: static RSA with CBC is refused');
is(s_client_cipher('-tls1_2', 'AES128-GCM-SHA256'), '(NONE)', 'TLS 1.2: static RSA with AES-GCM is refused');
is(s_client_cipher('-tls1_2', 'ECDHE-RSA-AES128-SHA'), '(NONE)', 'TLS 1.2: ECDHE-RSA with CBC is refused');
is(s_client_cipher('-tls1_2', 'ECDHE-RSA-AES256-GCM-SHA384'), 'ECDHE-RSA-AES256-GCM-SHA384',
	'TLS 1.2: ECDHE-RSA with AES-GCM is accepted');
{
	my ($ret, $out, $err) = $node->psql('postgres',
		"ALTER SYSTEM SET esqase.http_tls_priorities = 'NORMAL:+NO-SUCH-THING'");
	isnt($ret, 0, 'a priority string GnuTLS does not accept is refused');
	like($err, qr/GnuTLS does not accept it/, 'with a message saying so');
}
$node->append_conf('postgresql.conf',
	"esqase.http_tls_priorities = 'NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2'\n");
$node->reload;
ok($node->wait_for_log(qr/esqase\.http_tls_priorities changed; restarting the HTTP worker/),
	'a new priority string restarts the workers');
my $legacy = '(NONE)';
for (1 .. 50)
{
	$legacy = s_client_cipher('-tls1_2', 'AES128-SHA');
	last if $legacy ne '(NONE)';
	usleep(200_000);
}
is($legacy, 'AES128-SHA', 'and what it offers is what the setting says (static RSA again)');

# An expired certificate is served (a DBA's choice), with a WARNING.
{
	my $ca = "$dir/ca";
	mkdir $ca;
	open my $fh, '>', "$ca/ca.cnf" or die;
	print $fh "[ca]\ndefault_ca = d\n[d]\ndatabase = $ca/index.txt\nnew_certs_dir = $ca\n"
	  . "default_md = sha256\npolicy = p\nserial = $ca/serial\n[p]\ncommonName = supplied\n";
	close $fh;
	open $fh, '>', "$ca/index.txt" or die;
	close $fh;
	open $fh, '>', "$ca/serial" or die;
	print $fh "01\n";
	close $fh;
	my ($out, $err);
	run [ 'openssl', 'req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
		'-subj', '/CN=esqase-old', '-keyout', "$ca/old.key", '-out', "$ca/old.csr" ],
	  '>', \$out, '2>', \$err, timeout(60) or die "openssl req: $err";
	run [ 'openssl', 'ca', '-batch', '-notext', '-config', "$ca/ca.cnf", '-selfsign',
		'-keyfile', "$ca/old.key", '-in', "$ca/old.csr",
		'-startdate', '20200101000000Z', '-enddate', '20200102000000Z', '-out', "$ca/old.crt" ],
	  '>', \$out, '2>', \$err, timeout(60) or die "openssl ca: $err";
	copy_file("$ca/old.key", "$dir/server.key");
	copy_file("$ca/old.crt", "$dir/server.crt");
	$node->reload;
	ok( $node->wait_for_log(
			qr/WARNING:  esqase: HTTPS now serves the certificate "CN=esqase-old" from "[^"]+", which EXPIRED on 2020-01-02 00:00:00 UTC \(SHA-256 (?:[0-9A-F]{2}:){31}[0-9A-F]{2}\)\n.*HINT:  Clients refuse an expired certificate/
		),
		'an expired certificate is a WARNING with a hint');
}

# HTTPS turned off by a reload: the workers restart speaking plain HTTP
$node->append_conf('postgresql.conf', "esqase.http_tls_cert_file = ''\n");
$node->reload;
my $r = wait_for_status($node, 'GET', '/v1/contacts', 200, token => $token, timeout_s => 30);
is($r->{status}, 200, 'plain HTTP after HTTPS is turned off');

$node->stop;
done_testing();

sub copy_file
{
	my ($from, $to) = @_;
	open my $in, '<', $from or die;
	open my $out, '>', $to or die;
	print $out $_ while <$in>;
	close $in;
	close $out;
}
