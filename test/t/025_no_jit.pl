# 025_no_jit.pl — no API statement ever JIT-compiles (issue 16), whatever
# the server's settings.  The cluster is set to JIT everything it plans
# (jit_above_cost = 0, inlining and optimisation too); pg_stat_statements,
# tracking nested statements, counts the functions each statement
# JIT-compiled.  Every route is called over HTTP and every public esqase_*
# SQL function in SQL (the test fails if pg_proc has one it does not call),
# and no statement of the run may have JIT-compiled a function.  A control
# statement that is not esqase's must JIT-compile, so the test cannot pass
# on a server without JIT (llvmjit): it fails there, it does not skip.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use EsqaseHttp;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = esq_node('no_jit');
$node->append_conf('postgresql.conf', <<'EOC');
shared_preload_libraries = 'esqase,pg_stat_statements'
pg_stat_statements.track = all
pg_stat_statements.max = 10000
jit = on
jit_above_cost = 0
jit_inline_above_cost = 0
jit_optimize_above_cost = 0
EOC
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION esqase; CREATE EXTENSION pg_stat_statements');

is($node->safe_psql('postgres', 'SELECT pg_jit_available()'), 't',
	'JIT is available on this server (llvmjit): the test measures something');

my ($token, $firm, $member) = make_key($node, owner => 1,
	scopes => [ all_scopes(), 'members:read', 'webhooks:read', 'webhooks:write' ]);
my %T = (token => $token);
wait_for_status($node, 'GET', '/v1/contacts', 200, %T);

$node->safe_psql('postgres', 'SELECT pg_stat_statements_reset()');

# A statement that is not esqase's JIT-compiles here: the settings work.
$node->safe_psql('postgres', 'SELECT count(*) FROM pg_class WHERE relpages >= 0');
my $control = $node->safe_psql('postgres',
	q{SELECT coalesce(sum(jit_functions), 0) FROM pg_stat_statements
	   WHERE query LIKE 'SELECT count(*) FROM pg_class%'});
cmp_ok($control, '>', 0, "a statement that is not esqase's JIT-compiles ($control functions)");

# ---------------------------------------------------------------------------
# Every route over HTTP
# ---------------------------------------------------------------------------
my $r = api($node, 'POST', '/v1/contacts', 201, %T,
	body => { type => 'PERSON', firstName => 'Jane', lastName => 'Doe', emails => ['j@example.com'] });
my $contact = $r->{json}{data}{id};
$r = api($node, 'POST', '/v1/practice-areas', 201, %T, body => { name => 'Family law' });
my $area = $r->{json}{data}{id};
$r = api($node, 'POST', '/v1/matter-types', 201, %T, body => { practiceAreaId => $area, name => 'Divorce' });
my $mtype = $r->{json}{data}{id};
$r = api($node, 'POST', '/v1/matters', 201, %T,
	body => { practiceAreaId => $area, openDate => '2026-07-01', clientContactIds => [$contact],
		team => [ { memberId => $member, role => 'Lead', allocation => 50 } ] });
my $matter = $r->{json}{data}{id};
$r = api($node, 'POST', '/v1/leads', 201, %T,
	body => { type => 'PERSON', firstName => 'Lee', email => 'lee@example.com', isPrivate => JSON::PP::true });
my $lead = $r->{json}{data}{id};

my %item = (contacts => $contact, 'practice-areas' => $area, 'matter-types' => $mtype,
	matters => $matter, leads => $lead);
my %patch = (contacts => { firstName => 'Janet' }, 'practice-areas' => { name => 'Family' },
	'matter-types' => { name => 'Custody' }, matters => { title => 'Doe v Doe' },
	leads => { value => 'HIGH' });
for my $res (qw(contacts practice-areas matter-types matters leads))
{
	my $q = $res eq 'matter-types' ? "practiceAreaId=$area&" : '';
	api($node, 'GET', "/v1/$res?${q}limit=10", 200, %T);
	api($node, 'GET', "/v1/$res?${q}limit=10&offset=1&order=-updatedAt&createdSince=2020-01-01T00:00:00Z",
		200, %T);
	api($node, 'GET', "/v1/$res/$item{$res}", 200, %T);
	api($node, 'PATCH', "/v1/$res/$item{$res}", 200, %T, body => $patch{$res});
}
api($node, 'GET', '/v1/contacts?q=jane', 200, %T);
api($node, 'GET', '/v1/matters?q=doe', 200, %T);
api($node, 'GET', '/v1/leads?q=lee', 200, %T);
api($node, 'GET', '/v1/members', 200, %T);
api($node, 'GET', "/v1/members/$member", 200, %T);
api($node, 'POST', '/v1/contacts', 201, %T, body => { type => 'COMPANY', companyName => 'Acme' },
	headers => { 'Idempotency-Key' => 'k1' });
api($node, 'POST', '/v1/contacts', 201, %T, body => { type => 'COMPANY', companyName => 'Acme' },
	headers => { 'Idempotency-Key' => 'k1' });
api($node, 'GET', "/v1/contacts/00000000-0000-4000-8000-000000000000", 404, %T);
api($node, 'POST', '/v1/contacts', 422, %T, body => { type => 'PERSON' });
api($node, 'GET', '/v1/contacts', 401, token => 'esq_nope_nope');
for my $res (qw(leads matters matter-types practice-areas contacts))
{
	api_raw($node, 'DELETE', "/v1/$res/$item{$res}", %T)->{status} == 204
	  or fail("DELETE /v1/$res/{id}");
}
# webhooks (a public address that nothing sends to: paused at once; the
# delivery worker's own statements run with jit = off)
$r = api($node, 'POST', '/v1/webhooks', 201, %T,
	body => { url => 'https://93.184.216.34/hook', events => ['matters.created'] });
my $hook = $r->{json}{data}{id};
api($node, 'PATCH', "/v1/webhooks/$hook", 200, %T, body => { status => 'PAUSED' });
api($node, 'GET', '/v1/webhooks?limit=10&order=-updatedAt', 200, %T);
api($node, 'GET', "/v1/webhooks/$hook", 200, %T);
api($node, 'GET', "/v1/webhooks/$hook/deliveries?limit=5", 200, %T);
api_raw($node, 'DELETE', "/v1/webhooks/$hook", %T)->{status} == 204 or fail('DELETE /v1/webhooks/{id}');

# ---------------------------------------------------------------------------
# Every public SQL function, as the API role and as the DBA
# ---------------------------------------------------------------------------
my %called;
sub sql
{
	my ($sql) = @_;
	$called{$1} = 1 while $sql =~ /\b(esqase_[a-z_]+)\s*\(/g;
	return $node->safe_psql('postgres', $sql);
}
sub as_key
{
	my ($sql) = @_;
	return sql("BEGIN; SET LOCAL ROLE esqase_api; SELECT esqase_authenticate('$token') \\g /dev/null\n"
		  . "$sql\nCOMMIT;");
}

my $f2 = sql(q{SELECT esqase_create_firm('Second LLP')});
my $m2 = sql(qq{SELECT esqase_create_member('$f2', 'Second', 's\@example.com', true, '{practice_areas}')});
my $k2 = sql(qq{SELECT esqase_create_api_key('$m2', esqase.valid_scopes(), 'second')});
$node->safe_psql('postgres', 'CREATE ROLE reader');
sql(qq{SELECT esqase_grant_reader('reader', '$f2')});
sql(q{SELECT esqase_grant_reader('reader')});
sql(q{SELECT esqase_revoke_reader('reader')});

my $c = as_key(q{SELECT esqase_contacts_create('{"type":"PERSON","firstName":"Ann","emails":["a@example.com"]}') ->'data'->>'id';});
my $a = as_key(q{SELECT esqase_practice_areas_create('{"name":"Tax"}') ->'data'->>'id';});
my $t = as_key(qq{SELECT esqase_matter_types_create('{"practiceAreaId":"$a","name":"Audit"}') ->'data'->>'id';});
my $m = as_key(qq{SELECT esqase_matters_create('{"practiceAreaId":"$a","openDate":"2026-07-01","clientContactIds":["$c"]}') ->'data'->>'id';});
my $l = as_key(q{SELECT esqase_leads_create('{"type":"COMPANY","companyName":"Prospect"}') ->'data'->>'id';});
my %sql_item = (contacts => $c, practice_areas => $a, matter_types => $t, matters => $m, leads => $l);
my %sql_patch = (contacts => '{"firstName":"Anne"}', practice_areas => '{"name":"Taxes"}',
	matter_types => '{"name":"Audits"}', matters => '{"title":"Audit"}', leads => '{"value":"LOW"}');
for my $res (sort keys %sql_item)
{
	my $p = $res eq 'matter_types' ? qq{{"practiceAreaId":"$a"}} : '{}';
	as_key(qq{SELECT esqase_${res}_list('$p') \\g /dev/null\n}
		  . qq{SELECT esqase_${res}_get('$sql_item{$res}') \\g /dev/null\n}
		  . qq{SELECT esqase_${res}_update('$sql_item{$res}', '$sql_patch{$res}') \\g /dev/null\n});
}
# the one-statement form (as pgbench runs it): planned before the key is checked
sql(qq{SELECT esqase_contacts_list('{"limit":"5"}') FROM (SELECT esqase_authenticate('$token') OFFSET 0) a});
as_key(qq{SELECT esqase_members_list('{}') \\g /dev/null\nSELECT esqase_members_get('$member');});
# bulk creates, where the extension has them
for my $res (qw(contacts practice_areas matter_types matters leads))
{
	my $body = {
		contacts => q{[{"type":"PERSON","firstName":"B1"},{"type":"COMPANY","companyName":"B2"}]},
		practice_areas => q{[{"name":"Bulk 1"},{"name":"Bulk 2"}]},
		matter_types => qq{[{"practiceAreaId":"$a","name":"B1"},{"practiceAreaId":"$a","name":"B2"}]},
		matters => qq{[{"practiceAreaId":"$a","openDate":"2026-07-01"},{"practiceAreaId":"$a","openDate":"2026-07-02","clientContactIds":["$c"]}]},
		leads => q{[{"type":"PERSON","firstName":"B1"},{"type":"COMPANY","companyName":"B2","isPrivate":true}]},
	}->{$res};
	as_key(qq{SELECT esqase_${res}_create_many('$body') \\g /dev/null})
	  if sql(qq{SELECT count(*) FROM pg_proc WHERE proname = 'esqase_${res}_create_many'});
}
for my $res (qw(leads matters matter_types practice_areas contacts))
{
	as_key(qq{SELECT esqase_${res}_delete('$sql_item{$res}') \\g /dev/null});
}
my $wh = as_key(q{SELECT esqase_webhooks_create('{"url":"https://93.184.216.34/hook","events":["leads.created"]}') ->'data'->>'id';});
as_key(qq{SELECT esqase_webhooks_update('$wh', '{"status":"PAUSED"}') \\g /dev/null\n}
	  . qq{SELECT esqase_webhooks_list('{}') \\g /dev/null\n}
	  . qq{SELECT esqase_webhooks_get('$wh') \\g /dev/null\n}
	  . qq{SELECT esqase_webhooks_deliveries('$wh') \\g /dev/null\n}
	  . qq{SELECT esqase_webhooks_delete('$wh') \\g /dev/null});
sql(qq{SELECT esqase_set_api_key_scopes('$k2', '{contacts:read}')});
sql(qq{SELECT esqase_add_api_key_scopes('$k2', '{contacts:write}')});
sql(qq{SELECT esqase_remove_api_key_scopes('$k2', '{contacts:write}')});
sql(qq{SELECT esqase_set_api_key_expiry('$k2', now() + interval '1 day')});
my $k3 = sql(qq{SELECT esqase_rotate_api_key('$k2', interval '1 minute')});
sql(qq{SELECT esqase_revoke_api_key('$k3')});

my @missing = split /\n/, $node->safe_psql('postgres', q{
	SELECT DISTINCT proname FROM pg_proc WHERE proname LIKE 'esqase\_%' ORDER BY 1});
@missing = grep { !$called{$_} } @missing;
is_deeply(\@missing, [], 'every public esqase_* function was called');

# ---------------------------------------------------------------------------
# The count
# ---------------------------------------------------------------------------
my $jit = $node->safe_psql('postgres', q{
	SELECT count(*) || ' statements, ' || coalesce(sum(jit_functions), 0) || ' JIT-compiled functions'
	  FROM pg_stat_statements
	 WHERE dbid = (SELECT oid FROM pg_database WHERE datname = 'postgres')
	   AND query NOT LIKE 'SELECT count(*) FROM pg_class%'
	   AND query NOT LIKE '%pg_stat_statements%' AND query NOT LIKE '%pg_proc%'
	   AND query NOT LIKE 'CREATE ROLE%'});
like($jit, qr/ 0 JIT-compiled functions$/, "no esqase statement JIT-compiled: $jit")
  or diag($node->safe_psql('postgres', q{
	SELECT string_agg(jit_functions || ' ' || left(regexp_replace(query, '\s+', ' ', 'g'), 160), E'\n')
	  FROM pg_stat_statements
	 WHERE jit_functions > 0 AND query NOT LIKE 'SELECT count(*) FROM pg_class%'}));
my $calls = $node->safe_psql('postgres', q{
	SELECT count(*) FROM pg_stat_statements WHERE NOT toplevel});
cmp_ok($calls, '>', 100, "the nested statements were tracked ($calls)");

no_500();
$node->stop;
done_testing();
