# The 0.2.0 probe's findings about what esqase writes and answers
# (issue 21):
#
#  F13  an API key reaches the server log whenever a statement holding it
#       is logged: esqase_authenticate('esq_…') in a statement that fails
#       (log_min_error_statement), in every statement (log_statement = all),
#       in an EXECUTE, split in two literals or percent-encoded.  The log
#       keeps the key's public prefix and
#       "[redacted]" instead of its secret; esqase_authenticate() without an
#       argument reads the key from the session setting esqase.api_key, set
#       in the connection's options, so that no statement holds it at all;
#       the setting is refused in ALTER ROLE ... SET (the catalog) and hidden
#       from other roles.  The test greps the whole server log for every
#       secret it used.
#  F17  a revoked, expired or unknown key and a key whose member was
#       removed get one and the same 401; a PostgreSQL error that is not
#       the API's own (here: the public-id counter set by hand to its
#       largest value) answers 422 with the API's message, not PostgreSQL's
#       text, and a retryable 503 (a lock not available) neither; a name
#       sent in Unicode NFD is stored and answered in NFC.
use strict;
use warnings;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use EsqaseHttp;

my $node = esq_node('secrets', log_min_error_statement => 'error');
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION esqase');
wait_for_status($node, 'GET', '/v1/contacts', 401);
sub sql { return $node->safe_psql('postgres', shift); }

my ($token, $firm, $owner) = make_key($node, owner => 1);
my ($revoked) = make_key($node, firm => $firm);
sql("SELECT esqase_revoke_api_key('$revoked')");
my $expired = sql("SELECT esqase_create_api_key('$owner', '{contacts:read}', NULL, now() - interval '1 hour')");
my ($removed, undef, $removed_member) = make_key($node, firm => $firm);
sql("UPDATE esqase.members SET deleted_at = now() WHERE id = '$removed_member'");
my @secrets = map { (/^esq_[0-9a-f]{12}_([0-9a-f]{64})$/)[0] } $token, $revoked, $expired, $removed;
is(scalar(grep { defined } @secrets), 4, 'four tokens of the documented shape');
my $unknown = 'esq_0123456789ab_' . ('7' x 64);
push @secrets, '7' x 64;

# --- F13: statements that hold a key ---------------------------------------
my $log_start = -s $node->logfile;
my $missing = '00000000-0000-0000-0000-000000000000';
# a statement that fails after authenticating (the probe's reproduction)
my ($rc, $out, $err) = $node->psql('postgres',
	"SET ROLE esqase_api; BEGIN; SELECT esqase_authenticate('$token'); SELECT esqase_contacts_get('$missing'); COMMIT;");
like($err, qr/contact .* not found/, 'a statement holding a key fails (404)');
# a key refused by esqase_authenticate itself
($rc, $out, $err) = $node->psql('postgres', "BEGIN; SELECT esqase_authenticate('$revoked'); COMMIT;");
like($err, qr/invalid API key/, 'a revoked key fails');
# every statement logged, and a prepared statement executed with the key
$node->psql('postgres', "SET log_statement = 'all'; BEGIN; SELECT esqase_authenticate('$expired'); COMMIT;");
$node->psql('postgres', "SET log_statement = 'all'; SET log_min_duration_statement = 0; "
	  . "PREPARE auth(text) AS SELECT esqase_authenticate(\$1); BEGIN; EXECUTE auth('$removed'); COMMIT;");
$node->psql('postgres', "SELECT '$unknown'::int");
# a key split in two literals, and one percent-encoded as in a URL
my ($split_prefix, $split_secret) = $revoked =~ /^(esq_[0-9a-f]{12}_)(.*)$/;
$node->psql('postgres', "SELECT esqase_authenticate('$split_prefix' || '$split_secret')");
(my $encoded = $expired) =~ s/_/%5F/g;
$node->psql('postgres', "SELECT 'https://x.test/?key=$encoded'::int");
# over HTTP: keys no request log line shows
api_raw($node, 'GET', '/v1/contacts', token => $_) for $revoked, $expired, $removed, $unknown;

# The form whose statements hold no key: the key in the connection's options.
my $connstr = $node->connstr('postgres') . " options='-c esqase.api_key=$token'";
($rc, $out, $err) = $node->psql('postgres',
	"SET ROLE esqase_api; BEGIN; SELECT esqase_authenticate(); "
	  . "SELECT esqase_contacts_list('{\"limit\": 1}') ->> 'pagination' IS NOT NULL; "
	  . "SELECT esqase_contacts_get('$missing'); COMMIT;",
	connstr => $connstr);
like($out, qr/^t$/m, 'esqase_authenticate() acts as the key of esqase.api_key');
like($err, qr/not found/, 'and its failing statement is logged without any key');
($rc, $out, $err) = $node->psql('postgres', 'BEGIN; SELECT esqase_authenticate(); COMMIT;');
like($err, qr/an API key is required/, 'esqase_authenticate() without esqase.api_key: 28000');
($rc, $out, $err) = $node->psql('postgres', 'SET ROLE esqase_api; SHOW esqase.api_key;', connstr => $connstr);
like($err, qr/must be superuser|permission denied|privileges/, 'esqase.api_key is not readable by the API role');
is(sql("SELECT count(*) FROM pg_settings WHERE name = 'esqase.api_key'"), '0', 'nor listed in pg_settings');
($rc, $out, $err) = $node->psql('postgres', "ALTER ROLE esqase_api SET esqase.api_key = '$token'");
like($err, qr/invalid value for parameter "esqase.api_key"/, 'nor storable in the catalog (ALTER ROLE ... SET)');
is(sql('SELECT count(*) FROM pg_db_role_setting'), '0', 'nothing was stored');

my $log = slurp_file($node->logfile, $log_start);
my @leaked = grep { index($log, $_) >= 0 } @secrets;
is(scalar(@leaked), 0, 'no secret of any key is in the server log')
  or diag(join "\n", grep { /esq_/ } split /\n/, $log);
my ($prefix) = $token =~ /^(esq_[0-9a-f]{12}_)/;
like($log, qr/STATEMENT:.*\Q$prefix\E\[redacted\]/, 'the failed statement is logged, its key redacted');
like($log, qr/statement: .*esqase_authenticate\('esq_[0-9a-f]{12}_\[redacted\]'\)/,
	'log_statement = all: redacted');
like($log, qr/EXECUTE auth\('esq_[0-9a-f]{12}_\[redacted\]'\)/, 'an EXECUTE: redacted');
like($log, qr/invalid input syntax for type integer: "esq_0123456789ab_\[redacted\]"/,
	'an error message quoting a key: redacted');
like($log, qr/esqase_authenticate\('\Q$split_prefix\E' \|\| '\[redacted\]'\)/,
	'a key split in two literals: its secret redacted');
like($log, qr/key=esq%5F[0-9a-f]{12}%5F\[redacted\]/, 'a percent-encoded key: redacted');

# --- F17: one 401 for every key that does not work ------------------------
my %bodies;
for my $t ($revoked, $expired, $removed, $unknown, 'esq_nonsense')
{
	my $r = api_raw($node, 'GET', '/v1/contacts', token => $t);
	$bodies{ $r->{status} . ' ' . $r->{content} }++;
}
is_deeply([ keys %bodies ], [ '401 {"error":{"status":401,"code":"unauthorized","message":"invalid API key","field":null}}' ],
	'revoked, expired, removed member and unknown keys: the same 401');

# --- F17: PostgreSQL's own error text is not an API message ---------------
my $area = api_raw($node, 'POST', '/v1/practice-areas', token => $token, body => { name => 'Probe law' })->{json}{data}{id};
sql("UPDATE esqase.public_id_counters SET last_value = 2147483647 WHERE firm_id = '$firm' AND kind = 'M'");
my $r = api_raw($node, 'POST', '/v1/matters', token => $token,
	body => { practiceAreaId => $area, openDate => '2026-01-01' });
is($r->{status}, 422, 'a matter numbered past the largest number: 422');
is($r->{json}{error}{code}, 'validation_failed', '  validation_failed');
unlike($r->{content}, qr/integer out of range/, "  not PostgreSQL's message");
is($r->{json}{error}{message}, 'the request holds a value the database cannot store (SQLSTATE 22003)',
	"  the API's message, with the SQLSTATE");
like(slurp_file($node->logfile), qr/answered 422 for a database error: integer out of range/,
	"  PostgreSQL's message is in the server log");
sql("UPDATE esqase.public_id_counters SET last_value = 0 WHERE firm_id = '$firm' AND kind = 'M'");
is(api_raw($node, 'POST', '/v1/matters', token => $token,
	body => { practiceAreaId => $area, openDate => '2026-01-01' })->{json}{data}{publicId}, 'M-0001',
	'numbering resumes once the counter is set right');

# --- a retryable 503 in the API's words: a PATCH that cannot take a row
# lock (lock_timeout) gets 503 without PostgreSQL's "canceling statement
# due to lock timeout"; that text is in the server log
my $locked = api_raw($node, 'POST', '/v1/contacts', token => $token,
	body => { type => 'PERSON', firstName => 'Locked' })->{json}{data}{id};
my $holder = $node->background_psql('postgres');
$holder->query_safe('BEGIN');
$holder->query_safe("SELECT id FROM esqase.contacts WHERE id = '$locked' FOR UPDATE");
$node->append_conf('postgresql.conf', "lock_timeout = '200ms'\n");
$node->reload;
sleep 1;    # the workers read it before the first PATCH
$r = wait_for_status($node, 'PATCH', "/v1/contacts/$locked", 503, token => $token,
	body => { firstName => 'Unlocked' });
is($r->{status}, 503, 'a PATCH of a row locked past lock_timeout: 503');
is($r->{json}{error}{code}, 'service_unavailable', '  service_unavailable');
is($r->{json}{error}{message},
	'a record the request needs is locked by another transaction; retry later (SQLSTATE 55P03)',
	"  the API's message, not PostgreSQL's");
like(slurp_file($node->logfile), qr/answered 503: canceling statement due to lock timeout/,
	"  PostgreSQL's message is in the server log");
$holder->query_safe('COMMIT');
$holder->quit;
$node->append_conf('postgresql.conf', "lock_timeout = 0\n");
$node->reload;

# --- F17: names in NFC ----------------------------------------------------
my $nfd = "Cafe\x{301} law";    # e + COMBINING ACUTE ACCENT
$r = api_raw($node, 'POST', '/v1/practice-areas', token => $token,
	body => JSON::PP->new->utf8->encode({ name => $nfd }));
is($r->{json}{data}{name}, "Caf\x{e9} law", 'a name sent in NFD is answered in NFC');
is(sql("SELECT name = U&'Caf\\00E9 law' FROM esqase.practice_areas WHERE id = '$r->{json}{data}{id}'"), 't',
	'and stored in NFC');

no_500();
$node->stop;
done_testing();
