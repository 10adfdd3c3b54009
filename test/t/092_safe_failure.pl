# Safe failure modes (issue 11, item 2; docs/operations.md "Safe failure modes"):
#  * without shared_preload_libraries, loading the library is harmless:
#    CREATE EXTENSION and the SQL API work, one WARNING per backend says how
#    to turn the HTTP API on, and pg_restore / psql -f of a dump succeed with
#    every row;
#  * CREATE EXTENSION in a database the HTTP workers do not serve says so
#    (NOTICE naming esqase.database);
#  * DROP EXTENSION esqase (and DROPs that cascade to it) is refused while
#    firms exist, unless esqase.allow_drop is on; with no firms it just works.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use lib 't';
use EsqaseHttp;

my @scopes = map { ("$_:read", "$_:write") }
  qw(contacts matters leads practice-areas matter-types);
my $scopes = join ',', @scopes;

# Runs sql in one session; returns (rc, stdout, stderr).
sub run_sql
{
	my ($node, $db, $sql) = @_;
	my ($out, $err) = ('', '');
	my $rc = $node->psql($db, $sql, stdout => \$out, stderr => \$err);
	return ($rc, $out, $err);
}

sub count_matches { my ($re, $s) = @_; my $n = () = $s =~ /$re/g; return $n; }

my $warning_re = qr/WARNING:  esqase: loaded without shared_preload_libraries; the HTTP API is off/;
my $hint_re = qr/HINT:  To serve the HTTP API, add 'esqase' to shared_preload_libraries/;

# ---------------------------------------------------------------------------
# A preloaded server: the source of the dumps, and the served-database notice
# ---------------------------------------------------------------------------
my $pre = esq_node('pre');
$pre->start;

my ($rc, $out, $err) = run_sql($pre, 'postgres', 'CREATE EXTENSION esqase');
is($rc, 0, 'preloaded: CREATE EXTENSION in the served database');
unlike($err, qr/esqase/, 'preloaded, served database: no notice, no warning')
  or diag($err);

$pre->safe_psql('postgres', 'CREATE DATABASE src');
($rc, $out, $err) = run_sql($pre, 'src', 'CREATE EXTENSION esqase');
is($rc, 0, 'preloaded: CREATE EXTENSION in another database');
like($err,
	qr/NOTICE:  esqase: the HTTP workers serve database "postgres" only \(esqase\.database\), not "src"/,
	'NOTICE names esqase.database and the served database');
like($err, qr/HINT:  .*esqase\.database = 'src'/, 'the hint says how to serve this database');
unlike($err, $warning_re, 'preloaded: no "not preloaded" warning');
($rc, $out, $err) = run_sql($pre, 'src', 'CREATE EXTENSION IF NOT EXISTS esqase');
unlike($err, qr/HTTP workers serve/, 'CREATE EXTENSION IF NOT EXISTS on an existing one: no notice');

# A function a route calls that the installed SQL lacks is "not available"
# (503: an older or partial install); an error raised inside one, here a
# table it reads gone missing, is a bug: 500, logged (src/http_sql.c).
# (matters: the worker tells releases apart by esqase.contacts_get.)
{
	my ($ptoken) = make_key($pre, owner => 1);
	my $nil = '00000000-0000-4000-8000-000000000000';
	# a list: no worker may keep a plan of matters_get before the rename
	wait_for_status($pre, 'GET', '/v1/matters', 200, token => $ptoken);
	$pre->safe_psql('postgres',
		'ALTER FUNCTION esqase.matters_get(uuid) RENAME TO matters_get_moved');
	my $r = api($pre, 'GET', "/v1/matters/$nil", 503, token => $ptoken,
		name => 'the route\'s function is missing: 503');
	like($r->{json}{error}{message}, qr/esqase_matters_get is not available/,
		'503 says which function is not available');
	$pre->safe_psql('postgres',
		'ALTER FUNCTION esqase.matters_get_moved(uuid) RENAME TO matters_get; '
		  . 'ALTER TABLE esqase.matters RENAME TO matters_moved');
	$r = api($pre, 'GET', "/v1/matters/$nil", 500, token => $ptoken,
		name => 'a table missing inside the function: 500, not 503');
	is($r->{json}{error}{code}, 'internal_error', '500 code');
	unlike($r->{content}, qr/matters_moved|relation/, '500 does not show the SQL error');
	ok($pre->log_contains('answered 500'), 'the 500 is logged');
	$pre->safe_psql('postgres', 'ALTER TABLE esqase.matters_moved RENAME TO matters');
	api($pre, 'GET', "/v1/matters/$nil", 404, token => $ptoken, name => 'serving again');
}

# Data in src: two firms, members, keys (one revoked), records of every kind.
my $token = $pre->safe_psql('src', qq{
    SELECT esqase_create_api_key(
        esqase_create_member(esqase_create_firm('Safe & Co'), 'Sam Safe', 'sam\@safe.test', true,
                             '{practice_areas}'),
        '{$scopes}', 'safe key')});
like($token, qr/^esq_/, 'key created');
my $revoked = $pre->safe_psql('src', q{
    SELECT esqase_create_api_key(m.id, ARRAY['contacts:read'])
      FROM esqase.members m WHERE m.email = 'sam@safe.test'});
$pre->safe_psql('src', "SELECT esqase_revoke_api_key('$revoked')");
$pre->safe_psql('src', q{
    SELECT esqase_create_member(esqase_create_firm('Other firm'), 'Otto', 'otto@other.test', true)});
$pre->safe_psql('src', qq{
    BEGIN;
    SELECT esqase_authenticate('$token');
    SELECT esqase_contacts_create('{"type": "PERSON", "firstName": "Jane", "lastName": "Doe"}');
    SELECT esqase_matters_create(jsonb_build_object(
        'practiceAreaId', esqase_practice_areas_create('{"name": "Family law"}') #>> '{data,id}',
        'openDate', '2026-07-01', 'title', 'Doe v. Roe'));
    SELECT esqase_leads_create('{"type": "PERSON", "firstName": "Lee", "value": "HIGH"}');
    COMMIT;
});

my @tables = split / /, $pre->safe_psql('src', q{
    SELECT string_agg(c.relname, ' ' ORDER BY c.relname)
      FROM pg_class c WHERE c.relnamespace = 'esqase'::regnamespace AND c.relkind = 'r'
       AND c.relname <> 'cursor_secret'});    # not dumped: a restore makes its own (090)
cmp_ok(scalar(@tables), '>=', 15, 'esqase has its tables');

sub table_state
{
	my ($node, $db) = @_;
	my %state;
	for my $t (@tables)
	{
		$state{$t} = $node->safe_psql($db, qq{
			SELECT count(*) || ' ' || coalesce(md5(string_agg(to_jsonb(x)::text, '|' ORDER BY to_jsonb(x)::text)), '-')
			  FROM esqase.$t x});
	}
	return \%state;
}
my $before = table_state($pre, 'src');
for my $t (qw(firms members api_keys contacts matters leads audit_log))
{
	unlike($before->{$t}, qr/^0 /, "source has rows in $t");
}

my $dumpdir = $pre->basedir;
$pre->command_ok([ 'pg_dump', '-d', $pre->connstr('src'), '-f', "$dumpdir/src.sql" ],
	'pg_dump (plain)');
$pre->command_ok([ 'pg_dump', '-Fc', '-d', $pre->connstr('src'), '-f', "$dumpdir/src.dump" ],
	'pg_dump (custom)');

# ---------------------------------------------------------------------------
# A server without the preload
# ---------------------------------------------------------------------------
my $np = PostgreSQL::Test::Cluster->new('nopreload');
$np->init;
$np->append_conf('postgresql.conf', "log_min_messages = info\n");
$np->start;

($rc, $out, $err) = run_sql($np, 'postgres', q{
    CREATE EXTENSION esqase;
    SELECT esqase_create_firm('One') IS NOT NULL;
    SELECT count(*) FROM esqase.firms;
});
is($rc, 0, 'no preload: CREATE EXTENSION and esqase_create_firm succeed') or diag($err);
is($out, "t\n1", 'no preload: the firm is there');
unlike($err, qr/FATAL|PGC_POSTMASTER/, 'no preload: no FATAL');
is(count_matches($warning_re, $err), 1, 'no preload: the warning, once') or diag($err);
like($err, $hint_re, 'the warning says how to enable the HTTP API');
is($np->safe_psql('postgres', 'SELECT 1'), '1', 'the server is still up');

# One backend: many calls, one warning; a second CREATE EXTENSION in the same
# backend gets the "HTTP API is off" notice.
my $sam = $np->safe_psql('postgres', q{
    SELECT esqase_create_member(id, 'Sam', 'sam@np.test', true, '{practice_areas}')
      FROM esqase.firms});
($rc, $out, $err) = run_sql($np, 'postgres', qq{
    SELECT esqase_create_api_key('$sam', '{$scopes}') AS k \\gset
    BEGIN;
    SELECT esqase_authenticate(:'k');
    SELECT esqase_contacts_create('{"type": "PERSON", "firstName": "Ann"}') #>> '{data,firstName}';
    SELECT esqase_contacts_list() #>> '{pagination,total}';
    COMMIT;
    SHOW esqase.allow_drop;
    SET esqase.allow_drop = on;
    DROP EXTENSION esqase;
    RESET esqase.allow_drop;
    CREATE EXTENSION esqase;
});
is($rc, 0, 'no preload: keys, authenticate, create and list work') or diag($err);
like($out, qr/^\nAnn\n1\noff$/m, 'no preload: the SQL API answers');
is(count_matches($warning_re, $err), 1, 'one warning per backend, not per call');
like($err, qr/NOTICE:  esqase: the HTTP API is off: the library is not in shared_preload_libraries/,
	'no preload: a later CREATE EXTENSION says the HTTP API is off');
unlike($np->safe_psql('postgres', 'SHOW shared_preload_libraries'), qr/esqase/,
	'(really not preloaded)');

# Restores into the server without the preload.
$np->safe_psql('postgres', 'CREATE DATABASE dst_plain');
$np->command_ok(
	[ 'psql', '-X', '-v', 'ON_ERROR_STOP=1', '-q', '-d', $np->connstr('dst_plain'),
	  '-f', "$dumpdir/src.sql" ],
	'no preload: psql -f of a plain dump succeeds');
$np->safe_psql('postgres', 'CREATE DATABASE dst_custom');
$np->command_ok(
	[ 'pg_restore', '--exit-on-error', '-d', $np->connstr('dst_custom'), "$dumpdir/src.dump" ],
	'no preload: pg_restore of a custom dump succeeds');
for my $db (qw(dst_plain dst_custom))
{
	my $after = table_state($np, $db);
	is_deeply($after, $before, "$db: every esqase table has the same rows");
	($rc, $out, $err) = run_sql($np, $db, qq{
		BEGIN;
		SELECT esqase_authenticate('$token');
		SELECT esqase_contacts_list() #>> '{pagination,total}';
		COMMIT;
	});
	is($rc, 0, "$db: the key authenticates") or diag($err);
	like($out, qr/^2$/m, "$db: and lists its firm's 2 contacts (one is the lead's)");
	($rc, $out, $err) = run_sql($np, $db,
		"BEGIN; SELECT esqase_authenticate('$revoked'); COMMIT;");
	# (every refused key gets the same message; api_keys says why)
	like($err, qr/invalid API key/, "$db: the revoked key stays refused");
}
# pg_restore --clean over a database with firms drops the extension first:
# refused by the guard, done with esqase.allow_drop in the restore's session.
$np->command_fails(
	[ 'pg_restore', '--clean', '--if-exists', '--exit-on-error', '-d', $np->connstr('dst_plain'),
	  "$dumpdir/src.dump" ],
	'pg_restore --clean over data is refused by the drop guard');
{
	local $ENV{PGOPTIONS} = '-c esqase.allow_drop=on';
	$np->command_ok(
		[ 'pg_restore', '--clean', '--if-exists', '--exit-on-error', '-d', $np->connstr('dst_plain'),
		  "$dumpdir/src.dump" ],
		'pg_restore --clean with PGOPTIONS=-c esqase.allow_drop=on');
}
is_deeply(table_state($np, 'dst_plain'), $before, 'dst_plain after --clean: the same rows');

unlike(slurp_file($np->logfile), qr/FATAL|PANIC|server process .* terminated/,
	'no preload: no FATAL, no crash in the server log');

# ---------------------------------------------------------------------------
# The drop guard, preloaded and not
# ---------------------------------------------------------------------------
for my $case ([ $pre, 'src', 'preloaded' ], [ $np, 'dst_custom', 'no preload' ])
{
	my ($node, $db, $label) = @$case;

	# A new backend: the guard must load the library itself.
	($rc, $out, $err) = run_sql($node, $db, 'DROP EXTENSION esqase');
	isnt($rc, 0, "$label: DROP EXTENSION with firms is refused");
	like($err, qr/ERROR:  esqase: DROP EXTENSION esqase would delete the data of 2 firms/,
		"$label: the error says what would be lost");
	like($err, qr/HINT:  .*SET esqase\.allow_drop = on/, "$label: the hint names the setting");
	($rc, $out, $err) = run_sql($node, $db, 'DROP SCHEMA public CASCADE');
	isnt($rc, 0, "$label: DROP SCHEMA public CASCADE (the extension's schema) is refused");
	like($err, qr/DROP SCHEMA public CASCADE would delete/, "$label: and says why");
	($rc, $out, $err) = run_sql($node, $db, 'SET esqase.allow_drop = on; RESET esqase.allow_drop; DROP EXTENSION esqase');
	isnt($rc, 0, "$label: RESET takes the permission back");
	is($node->safe_psql($db, 'SELECT count(*) FROM esqase.firms'), '2', "$label: the firms are still there");

	# Other DROPs go through untouched.
	($rc, $out, $err) = run_sql($node, $db,
		'CREATE SCHEMA scratch; CREATE TABLE scratch.t (); DROP SCHEMA scratch CASCADE; CREATE ROLE guard_probe; DROP OWNED BY guard_probe; DROP ROLE guard_probe');
	is($rc, 0, "$label: unrelated DROP SCHEMA and DROP OWNED are not refused") or diag($err);

	($rc, $out, $err) = run_sql($node, $db, 'SET esqase.allow_drop = on; DROP EXTENSION esqase');
	is($rc, 0, "$label: DROP EXTENSION with esqase.allow_drop = on") or diag($err);
	is($node->safe_psql($db, q{SELECT count(*) FROM pg_namespace WHERE nspname = 'esqase'}),
		'0', "$label: schema esqase and its tables are gone");
	is($node->safe_psql($db, q{SELECT count(*) FROM pg_event_trigger WHERE evtname = 'esqase_guard_drop'}),
		'0', "$label: the guard went with the extension");
	is($node->safe_psql($db, q{SELECT count(*) FROM pg_roles WHERE rolname = 'esqase_api'}),
		'1', "$label: the role esqase_api stays (roles are cluster-wide)");

	# No firms: DROP EXTENSION needs no setting.
	($rc, $out, $err) = run_sql($node, $db, 'CREATE EXTENSION esqase');
	is($rc, 0, "$label: CREATE EXTENSION again") or diag($err);
	($rc, $out, $err) = run_sql($node, $db, 'DROP EXTENSION esqase');
	is($rc, 0, "$label: DROP EXTENSION with no firms needs no setting") or diag($err);
}

$pre->stop;
$np->stop;
done_testing();
