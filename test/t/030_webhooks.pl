# 030_webhooks.pl — webhooks delivered by the delivery worker to a real
# receiver (test/t/webhook_receiver.py) over real HTTP: the SSRF refusals
# (at create and at every attempt), the payload (the record as GET shows
# it) and its signature, a rollback sends nothing, order per record,
# retries after 500s and timeouts, what the creating key may read (scopes,
# private leads, revocation), delivery after an immediate stop, and the
# webhook disabled once its retry window has passed.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use Digest::SHA qw(hmac_sha256_hex);
use EsqaseHttp;
use HTTP::Tiny;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);

my $node = esq_node('webhooks',
	'esqase.webhook_timeout' => "'2s'",
	'esqase.webhook_retry_window' => "'6s'");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION esqase');
my $firm = $node->safe_psql('postgres', "SELECT esqase_create_firm('Hook Firm')");
my @hook_scopes = (all_scopes(), 'webhooks:read', 'webhooks:write');
my ($owner) = make_key($node, firm => $firm, owner => 1, scopes => \@hook_scopes);
wait_for_status($node, 'GET', '/v1/webhooks', 200, token => $owner);

my $dir = PostgreSQL::Test::Utils::tempdir();
my %receivers;

sub start_receiver
{
	my ($port, $log) = @_;
	my $pid = fork() // die "fork: $!";
	if ($pid == 0)
	{
		exec('python3', "$FindBin::RealBin/webhook_receiver.py", $port, $log) or die "exec: $!";
	}
	$receivers{$port} = $pid;
	# ready when it answers
	for (1 .. 100)
	{
		my $r = HTTP::Tiny->new(timeout => 1)->post("http://127.0.0.1:$port/ok/ping", { content => '{}' });
		last if $r->{status} == 200;
		usleep(50_000);
	}
	return $pid;
}

sub stop_receiver
{
	my $port = shift;
	kill 'TERM', $receivers{$port};
	waitpid($receivers{$port}, 0);
	delete $receivers{$port};
}

END { kill 'TERM', values %receivers; }

my $port = PostgreSQL::Test::Cluster::get_free_port();
my $log = "$dir/received.jsonl";
start_receiver($port, $log);

# The requests the receiver got (not the pings), oldest first.
sub received
{
	open my $fh, '<', $log or return ();
	my @r = grep { $_->{path} !~ m{/ping$} } map { decode_json($_) } grep { /\S/ } <$fh>;
	close $fh;
	$_->{json} = decode_json($_->{body}) for @r;
	return @r;
}

sub wait_until
{
	my ($what, $cond, $timeout) = @_;
	my $deadline = time + ($timeout // 30);
	while (time < $deadline)
	{
		my @r = $cond->();
		return @r if @r && $r[0];
		usleep(100_000);
	}
	fail("timed out waiting: $what");
	diag($node->safe_psql('postgres', 'SELECT webhook_id, type, state, attempts, last_status, last_error FROM esqase.webhook_deliveries ORDER BY seq'));
	return ();
}

sub of_record
{
	my ($path, $id) = @_;
	return grep { $_->{path} =~ m{^/\Q$path\E/} && $_->{json}{data}{id} eq $id } received();
}

sub deliveries
{
	my $hook = shift;
	return $node->safe_psql('postgres',
		"SELECT string_agg(type || ' ' || state || ' ' || attempts, ', ' ORDER BY seq) "
		  . "FROM esqase.webhook_deliveries WHERE webhook_id = '$hook'");
}

sub new_hook
{
	my ($token, $path, @events) = @_;
	my $r = api($node, 'POST', '/v1/webhooks', 201, token => $token,
		body => { url => "http://127.0.0.1:$port/$path/", events => \@events });
	return $r->{json}{data};
}

# ---------------------------------------------------------------------------
# SSRF: https only, no private address, unless the superuser setting
# ---------------------------------------------------------------------------
for my $url ("http://127.0.0.1:$port/ok/", 'https://127.0.0.1/', 'https://localhost/',
	'https://10.0.0.1/', 'https://169.254.169.254/latest/meta-data', 'https://[::1]/', 'ftp://example.com/')
{
	my $r = api($node, 'POST', '/v1/webhooks', 422, token => $owner,
		body => { url => $url, events => ['contacts.created'] }, name => "refused: $url");
	is($r->{json}{error}{field}, 'url', "$url: the error names url");
}
my $r = api($node, 'POST', '/v1/webhooks', 422, token => $owner,
	body => { url => 'https://93.184.216.34/', events => ['contacts.renamed'] });
like($r->{json}{error}{message}, qr/contacts\.renamed/, 'an unknown event type is named');
$node->safe_psql('postgres', 'ALTER SYSTEM SET esqase.webhook_allow_private = on; SELECT pg_reload_conf()');
usleep(500_000);

# ---------------------------------------------------------------------------
# The payload: the record as GET shows it; the signature
# ---------------------------------------------------------------------------
my $hook = new_hook($owner, 'ok', qw(contacts.created contacts.updated contacts.deleted leads.created));
like($hook->{secret}, qr/^whsec_[0-9a-f]{64}$/, 'the create shows the secret');
is($hook->{status}, 'ACTIVE', 'a new webhook is ACTIVE');
$r = api($node, 'GET', "/v1/webhooks/$hook->{id}", 200, token => $owner);
ok(!exists $r->{json}{data}{secret}, 'GET does not show the secret');

$r = api($node, 'POST', '/v1/contacts', 201, token => $owner,
	body => { type => 'PERSON', firstName => 'Ada', lastName => 'Hook', emails => ['ada@example.com'] });
my $contact = $r->{json}{data};
my ($got) = wait_until('contacts.created delivered', sub { of_record('ok', $contact->{id}) });
my $get = api($node, 'GET', "/v1/contacts/$contact->{id}", 200, token => $owner)->{json}{data};
is($got->{json}{type}, 'contacts.created', 'type');
is_deeply($got->{json}{data}, { %$get, deletedAt => undef }, 'data is the record as GET shows it');
is($got->{headers}{'esqase-event-id'}, $got->{json}{id}, 'Esqase-Event-Id is the event id');
like($got->{json}{createdAt}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/, 'createdAt');
my ($t, $v1) = $got->{headers}{'esqase-signature'} =~ /^t=(\d+),v1=([0-9a-f]{64})$/;
ok(defined $t, 'Esqase-Signature: t=<unix>,v1=<hex>');
ok(abs($t - time) < 60, 't is now');
is($v1, hmac_sha256_hex("$t.$got->{body}", $hook->{secret}), 'the signature verifies');
my $tampered = $got->{body};
substr($tampered, 10, 1) = substr($tampered, 10, 1) eq 'a' ? 'b' : 'a';
isnt($v1, hmac_sha256_hex("$t.$tampered", $hook->{secret}), 'a changed byte fails it');
isnt($v1, hmac_sha256_hex(($t + 1) . ".$got->{body}", $hook->{secret}), 'a changed time fails it');

# a delete: the last state, with deletedAt
api($node, 'DELETE', "/v1/contacts/$contact->{id}", 204, token => $owner);
my ($del) = wait_until('contacts.deleted delivered',
	sub { grep { $_->{json}{type} eq 'contacts.deleted' } of_record('ok', $contact->{id}) });
is($del->{json}{data}{status}, 'ARCHIVED', 'a deleted record: its last state');
like($del->{json}{data}{deletedAt} // '', qr/^\d{4}-/, 'with deletedAt');

# ---------------------------------------------------------------------------
# A rollback sends nothing
# ---------------------------------------------------------------------------
$node->safe_psql('postgres', qq{
BEGIN;
SELECT esqase_authenticate('$owner');
SELECT esqase_contacts_create('{"type": "PERSON", "firstName": "Rolled", "lastName": "Back"}');
ROLLBACK;
});
$r = api($node, 'POST', '/v1/contacts', 201, token => $owner,
	body => { type => 'PERSON', firstName => 'After', lastName => 'Rollback' });
wait_until('the contact after the rollback', sub { of_record('ok', $r->{json}{data}{id}) });
ok(!grep({ ($_->{json}{data}{lastName} // '') eq 'Back' } received()), 'the rolled-back create sent nothing');
is($node->safe_psql('postgres', "SELECT count(*) FROM esqase.webhook_events WHERE data->>'lastName' = 'Back'"),
	'0', 'and left no event');

# ---------------------------------------------------------------------------
# Retries after a 500 and a timeout; order per record
# ---------------------------------------------------------------------------
my $flaky = new_hook($owner, 'flaky', qw(contacts.created contacts.updated));
my $slow = new_hook($owner, 'slow', qw(contacts.created));
$r = api($node, 'POST', '/v1/contacts', 201, token => $owner,
	body => { type => 'PERSON', firstName => 'Order', lastName => 'N0' });
my $ordered = $r->{json}{data}{id};
for my $n (1 .. 8)
{
	api($node, 'PATCH', "/v1/contacts/$ordered", 200, token => $owner, body => { lastName => "N$n" });
}
my @flaky = wait_until('9 events delivered through /flaky',
	sub { my @d = grep { $_->{status} == 200 } of_record('flaky', $ordered); @d >= 9 ? @d : () }, 60);
is_deeply([ map { $_->{json}{data}{lastName} } @flaky ], [ map { "N$_" } 0 .. 8 ],
	'a record\'s events arrive in commit order, each after a 500 first');
# an event is never sent before the one before it was delivered
my @all = of_record('flaky', $ordered);
my %done;
my $early = 0;
for my $i (0 .. $#all)
{
	my ($n) = $all[$i]{json}{data}{lastName} =~ /N(\d+)/;
	$early++ if $n > 0 && !$done{ $n - 1 };
	$done{$n} = 1 if $all[$i]{status} == 200;
}
is($early, 0, 'no event went out before the one before it was delivered');
is(scalar(grep { $_->{status} == 500 } @all), 9, 'each event failed once (500) and was sent again');
like(deliveries($flaky->{id}), qr/^contacts\.created DELIVERED 2(, contacts\.updated DELIVERED 2){8}$/,
	'deliveries: DELIVERED after 2 attempts each');
my @slow = wait_until('the timed-out event sent again', sub { my @d = of_record('slow', $ordered); @d >= 2 ? @d : () }, 30);
is($slow[0]{json}{id}, $slow[1]{json}{id}, 'a timeout (esqase.webhook_timeout) is retried with the same event id');
wait_until('slow delivered', sub { deliveries($slow->{id}) =~ /DELIVERED 2/ });

# The deliveries over HTTP.
$r = api($node, 'GET', "/v1/webhooks/$flaky->{id}/deliveries?limit=2", 200, token => $owner);
is(scalar @{ $r->{json}{data} }, 2, 'deliveries: paged');
is($r->{json}{pagination}{total}, 9, 'deliveries: total');
my $d = $r->{json}{data}[0];
is_deeply([ @$d{qw(type state attempts status)} ], [ 'contacts.updated', 'DELIVERED', 2, 200 ],
	'deliveries: type, state, attempts, status');
ok(defined $d->{eventId} && defined $d->{durationMs} && defined $d->{attemptedAt}, 'event id, duration, time');
is($node->safe_psql('postgres', "SELECT string_agg(route || ' ' || requests, ', ' ORDER BY route) FROM esqase.http_stats "
	  . "WHERE route LIKE '/v1/webhooks/{id}%' AND method = 'GET' AND status = 200"),
	'/v1/webhooks/{id} 1, /v1/webhooks/{id}/deliveries 1', 'the metrics count deliveries as their own route');

# ---------------------------------------------------------------------------
# What the creating key may read: scopes, private leads, revocation
# ---------------------------------------------------------------------------
my ($leads_only, undef, $clerk) = make_key($node, firm => $firm,
	scopes => [ 'leads:read', 'webhooks:read', 'webhooks:write' ]);
my $clerk_hook = new_hook($leads_only, 'ok/clerk', qw(contacts.created leads.created));
my ($revoked) = make_key($node, firm => $firm, owner => 1, scopes => \@hook_scopes);
my $revoked_hook = new_hook($revoked, 'ok', qw(contacts.created));
$node->safe_psql('postgres', "SELECT esqase_revoke_api_key('$revoked')");
$r = api($node, 'POST', '/v1/leads', 201, token => $owner,
	body => { type => 'PERSON', firstName => 'Public', lastName => 'Lead' });
my $public_lead = $r->{json}{data}{id};
$r = api($node, 'POST', '/v1/leads', 201, token => $owner,
	body => { type => 'PERSON', firstName => 'Private', lastName => 'Lead', isPrivate => JSON::PP::true });
my $private_lead = $r->{json}{data}{id};
wait_until('the owner\'s webhook got both leads',
	sub { of_record('ok', $public_lead) && of_record('ok', $private_lead) });
wait_until('the clerk\'s deliveries are done',
	sub { deliveries($clerk_hook->{id}) !~ /PENDING/ && deliveries($clerk_hook->{id}) =~ /leads/ });
my $clerk_got = $node->safe_psql('postgres', qq{
SELECT string_agg(d.type || ' ' || d.state, ', ' ORDER BY d.seq) FROM esqase.webhook_deliveries d
 WHERE d.webhook_id = '$clerk_hook->{id}' AND d.record_id IN ('$public_lead', '$private_lead')});
is($clerk_got, 'leads.created DELIVERED, leads.created SKIPPED',
	'leads:read gets the public lead, not a private lead it is not assigned');
is_deeply([ map { "$_->{json}{type} $_->{json}{data}{id}" } grep { $_->{path} =~ m{^/ok/clerk/} } received() ],
	["leads.created $public_lead"], 'the clerk\'s receiver got the public lead only');
like($node->safe_psql('postgres', "SELECT string_agg(DISTINCT state, ',') FROM esqase.webhook_deliveries WHERE webhook_id = '$clerk_hook->{id}' AND type = 'contacts.created'"),
	qr/^SKIPPED$/, 'without contacts:read its contacts.created are SKIPPED');
wait_until('the revoked key\'s deliveries are done', sub { deliveries($revoked_hook->{id}) =~ /SKIPPED/ });
unlike(deliveries($revoked_hook->{id}), qr/DELIVERED|PENDING/, 'a revoked key\'s webhook sends nothing');
is($node->safe_psql('postgres', "SELECT DISTINCT last_error FROM esqase.webhook_deliveries WHERE webhook_id = '$revoked_hook->{id}'"),
	"the webhook's API key is revoked or expired, or its member inactive", 'and says why');

# ---------------------------------------------------------------------------
# The url is checked again at every attempt
# ---------------------------------------------------------------------------
# an https url passes the form check at the attempt: its host is resolved
# by libcurl, and the address of the socket it opens is refused there
my $tls_hook = api($node, 'POST', '/v1/webhooks', 201, token => $owner,
	body => { url => "https://localhost:$port/ok/", events => ['contacts.created'] })->{json}{data};
$node->safe_psql('postgres', 'ALTER SYSTEM SET esqase.webhook_allow_private = off; SELECT pg_reload_conf()');
usleep(500_000);
my $before = scalar received();
$r = api($node, 'POST', '/v1/contacts', 201, token => $owner,
	body => { type => 'PERSON', firstName => 'Refused', lastName => 'Address' });
my $refused = $r->{json}{data}{id};
# both refusals in one wait, the setting back on at once: refused attempts
# count as failures, and the retry window here is short (6 s)
my ($errors) = wait_until('an attempt refused by each webhook', sub {
	my $e = $node->safe_psql('postgres', "SELECT string_agg(last_error, ' | ' ORDER BY webhook_id = '$hook->{id}' DESC) "
		  . "FROM esqase.webhook_deliveries WHERE record_id = '$refused' AND webhook_id IN ('$hook->{id}', '$tls_hook->{id}') "
		  . "AND attempts > 0 AND last_error LIKE 'url refused%' HAVING count(*) = 2");
	$e ne '' ? $e : () });
$node->safe_psql('postgres', 'ALTER SYSTEM SET esqase.webhook_allow_private = on; SELECT pg_reload_conf()');
is(scalar(of_record('ok', $refused)), 0, 'a private address refused at the attempt: nothing sent');
is($errors // '',
	'url refused: must be an https URL | '
	  . 'url refused: the host localhost resolves to an address that is private, loopback, link-local or reserved',
	'http refused by its scheme; https to a name resolving to loopback refused at the socket libcurl opens (not a TLS error)');
api($node, 'DELETE', "/v1/webhooks/$tls_hook->{id}", 204, token => $owner);
wait_until('sent once allowed again', sub { of_record('ok', $refused) }, 30);

# ---------------------------------------------------------------------------
# An immediate stop between the commit and the delivery
# ---------------------------------------------------------------------------
my $port2 = PostgreSQL::Test::Cluster::get_free_port();
my $r2 = api($node, 'POST', '/v1/webhooks', 201, token => $owner,
	body => { url => "http://127.0.0.1:$port2/ok/", events => ['matters.created'] });
my $crash_hook = $r2->{json}{data}{id};
# nothing listens on port2 yet: the event cannot have been delivered
my $area = api($node, 'POST', '/v1/practice-areas', 201, token => $owner, body => { name => 'Crash law' })->{json}{data};
my $pa = $area->{id};
my $cl = api($node, 'POST', '/v1/contacts', 201, token => $owner, body => { type => 'COMPANY', companyName => 'Crash Co' })->{json}{data}{id};
my $matter = api($node, 'POST', '/v1/matters', 201, token => $owner,
	body => { title => 'Crash', practiceAreaId => $pa, practiceAreaStageColumnId => $area->{stages}[0]{id},
		openDate => '2026-07-01', clientContactIds => [$cl] })->{json}{data};
$node->stop('immediate');
my $log_main = $log;
$log = "$dir/received2.jsonl";
start_receiver($port2, $log);
$node->start;
my ($after) = wait_until('delivered after the restart', sub { of_record('ok', $matter->{id}) }, 60);
is($after->{json}{type}, 'matters.created', 'the committed event survived the immediate stop');
is($after->{json}{data}{clients}[0]{id} // $after->{json}{data}{clientContacts}[0]{id} // '', $cl,
	'with the matter as it committed (its client, written after the matter\'s row)');
$log = $log_main;

# ---------------------------------------------------------------------------
# Disabled once the retry window has passed; re-enabled by PATCH
# ---------------------------------------------------------------------------
my $failing = new_hook($owner, 'fail', qw(practice-areas.created));
api($node, 'POST', '/v1/practice-areas', 201, token => $owner, body => { name => 'Failing law' });
my ($w) = wait_until('DISABLED', sub {
	my $g = api_raw($node, 'GET', "/v1/webhooks/$failing->{id}", token => $owner);
	$g->{json}{data}{status} eq 'DISABLED' ? $g : () }, 60);
is($w->{json}{data}{status}, 'DISABLED', 'a webhook failing for esqase.webhook_retry_window is DISABLED');
like(deliveries($failing->{id}), qr/^practice-areas\.created FAILED \d+$/, 'its delivery FAILED after several attempts');
$r = api($node, 'PATCH', "/v1/webhooks/$failing->{id}", 200, token => $owner, body => { status => 'ACTIVE' });
is($r->{json}{data}{status}, 'ACTIVE', 'PATCH re-enables it');
api($node, 'PATCH', "/v1/webhooks/$failing->{id}", 422, token => $owner, body => { status => 'DISABLED' });
api($node, 'DELETE', "/v1/webhooks/$failing->{id}", 204, token => $owner);
api($node, 'GET', "/v1/webhooks/$failing->{id}", 404, token => $owner);

# ---------------------------------------------------------------------------
# Retention: the sweep
# ---------------------------------------------------------------------------
is($node->safe_psql('postgres', "SELECT esqase.webhook_sweep('0 seconds') > 0"), 't', 'the sweep removes what is done');
is($node->safe_psql('postgres', "SELECT count(*) FROM esqase.webhook_deliveries WHERE state <> 'PENDING'"), '0',
	'no delivered delivery left');

stop_receiver($_) for keys %receivers;
$node->stop;
done_testing();
