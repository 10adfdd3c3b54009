# The row-level security matrix against real HTTP (issue 8): for every key
# of the matrix (each scope, with and without the member's Practice areas
# permission, plus an owner's key with every scope), every route, every
# action (list, get, create, update, delete) and the key's own firm and
# another firm, what the HTTP API lets the key do, compared cell by cell
# with what direct SQL lets the same key do under SET ROLE esqase_api after
# esqase_authenticate (test/sql/55_rls_matrix.sql compares the same policies
# with the SQL functions; this file with the HTTP answers themselves).
#
# A cell of SQL is allowed when its statement on the route's table touches
# a row of that firm without error (every SQL write is rolled back):
#   list    SELECT count(*) FROM <table> WHERE firm_id = <firm>
#   get     ... AND id = <the firm's record>
#   create  INSERT of a row of that firm
#   update  UPDATE <table> SET updated_at = updated_at WHERE ... id = <record>
#   delete  UPDATE <table> SET deleted_at = now() WHERE ... id = <record>
# A cell of HTTP is allowed when the API shows or changes that row:
#   list/get  the record's id (list: the id of any row of that table and
#             firm) appears in a 2xx answer of any route to the key, since a
#             table is readable with every scope whose answers show its rows:
#             a matter shows its clients, practice area, matter type and
#             team; a lead its prospect, practice area and assignees; a
#             practice area its matter types; a matter type its practice
#             area; and the answer to a PATCH or POST shows the record
#             written, so a write scope reads what it may write (the
#             policies' read rule is "read or write scope")
#   create    POST /v1/<route> answers 201 (a contact is also created by
#             POST /v1/leads: leads:write may insert contacts)
#   update    PATCH /v1/<route>/{id} answers 200
#   delete    DELETE /v1/<route>/{id} answers 204
# Another firm's records are asked for by id; a create in another firm has
# no HTTP form (the key decides the firm), so that cell of HTTP is refused.
# Every answer must be 2xx, 403 or 404; any other status is reported too.
use strict;
use warnings;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use EsqaseHttp;

my $t0 = time;
my $node = esq_node('rls_http');
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION esqase');
wait_for_status($node, 'GET', '/v1/contacts', 401);

sub sql { return $node->safe_psql('postgres', shift); }

# Firms C (the keys') and D (another firm), each with an owner holding every
# scope; in C, Pia (Practice areas permission) and Max (none) with one key
# per scope.
my @scopes = split /,/, sql(q{SELECT array_to_string(esqase.valid_scopes(), ',')});
my (%firm, %owner, %owner_key, %key);
for my $f (qw(c d))
{
	$firm{$f} = sql("SELECT esqase_create_firm('Matrix firm $f')");
	$owner{$f} = sql("SELECT esqase_create_member('$firm{$f}', 'Owner $f', 'owner\@$f.test', true)");
	$owner_key{$f} = sql("SELECT esqase_create_api_key('$owner{$f}', esqase.valid_scopes())");
}
$key{owner} = $owner_key{c};
my $pia = sql("SELECT esqase_create_member('$firm{c}', 'Pia Permitted', 'pia\@c.test', false, '{practice_areas}')");
my $max = sql("SELECT esqase_create_member('$firm{c}', 'Max Member', 'max\@c.test')");
for my $s (@scopes)
{
	$key{"$s+perm"} = sql("SELECT esqase_create_api_key('$pia', '{$s}')");
	$key{$s} = sql("SELECT esqase_create_api_key('$max', '{$s}')");
}
my @keys = sort keys %key;

# Records, made over HTTP with the owner's key of the firm.
sub made
{
	my ($f, $path, $body) = @_;
	my $r = api_raw($node, 'POST', $path, token => $owner_key{$f}, body => $body);
	die "POST $path: $r->{status} $r->{content}" unless $r->{status} == 201;
	return $r->{json}{data};
}
my %rec;    # firm => route => id
for my $f (qw(c d))
{
	my $contact = made($f, '/v1/contacts', { type => 'PERSON', firstName => 'Client' })->{id};
	my $area = made($f, '/v1/practice-areas', { name => 'Matrix law' })->{id};
	my $type = made($f, '/v1/matter-types', { practiceAreaId => $area, name => 'T' })->{id};
	my $matter = made($f, '/v1/matters',
		{ practiceAreaId => $area, matterTypeId => $type, openDate => '2026-01-02',
		  clientContactIds => [$contact], team => [ { memberId => $owner{$f} } ] })->{id};
	my $lead = made($f, '/v1/leads',
		{ type => 'COMPANY', companyName => 'Prospect', practiceAreaId => $area,
		  assigneeIds => [ $owner{$f} ] })->{id};
	$rec{$f} = { contacts => $contact, 'practice-areas' => $area, 'matter-types' => $type,
		matters => $matter, leads => $lead, members => $owner{$f} };
}

# The routes: their table, the body of a create and of an update.
my %route = (
	contacts => [ 'contacts', { type => 'PERSON', firstName => 'New' }, { nickname => 'Nick' } ],
	'practice-areas' => [ 'practice_areas', { name => 'New area' }, { name => 'Matrix law' } ],
	'matter-types' => [ 'matter_types', { practiceAreaId => $rec{c}{'practice-areas'}, name => 'New type' },
		{ name => 'T' } ],
	matters => [ 'matters', { practiceAreaId => $rec{c}{'practice-areas'}, openDate => '2026-01-03' },
		{ title => 'Renamed' } ],
	leads => [ 'leads', { type => 'PERSON', firstName => 'New prospect' }, { value => 'HIGH' } ],
	members => [ 'members', undef, undef ],    # read-only over the API
);
my @routes = sort keys %route;
sub actions { return $_[0] eq 'members' ? qw(list get) : qw(list get create update delete); }

# What each DELETE deletes: in C a record of its own per key and route (a
# delete that is allowed uses it up); in D the firm's record.
my %doomed;
for my $k (@keys)
{
	for my $r (grep { $_ ne 'members' } @routes)
	{
		my $body = $route{$r}[1];
		$body = { practiceAreaId => made('c', '/v1/practice-areas', { name => 'Doomed' })->{id},
			name => 'Doomed' } if $r eq 'matter-types';
		$doomed{$k}{$r} = made('c', "/v1/$r", $body)->{id};
	}
}

# The cells.
my @cells;
for my $k (@keys)
{
	for my $r (@routes)
	{
		for my $act (actions($r))
		{
			push @cells, { key => $k, route => $r, action => $act, firm => $_ } for qw(c d);
		}
	}
}

# --- Direct SQL, as the API role, every statement rolled back. -----------
sub lit { my $s = shift; $s =~ s/'/''/g; return "'$s'"; }
my $stage_of = sub {
	my $f = shift;
	return sql("SELECT id FROM esqase.practice_area_stages WHERE firm_id = '$firm{$f}' "
		  . "AND practice_area_id = '$rec{$f}{'practice-areas'}' ORDER BY \"order\" LIMIT 1");
};
my %ins;
for my $f (qw(c d))
{
	my ($fi, $area, $stage) = ($firm{$f}, $rec{$f}{'practice-areas'}, $stage_of->($f));
	my $lead_stage = sql("SELECT id FROM esqase.lead_stages WHERE firm_id = '$fi' ORDER BY \"order\" LIMIT 1");
	$ins{$f} = {
		contacts => "INSERT INTO esqase.contacts (firm_id, type, first_name, name) VALUES ('$fi', 'PERSON', 'X', '')",
		practice_areas => "INSERT INTO esqase.practice_areas (firm_id, name) VALUES ('$fi', 'x')",
		matter_types => "INSERT INTO esqase.matter_types (firm_id, practice_area_id, name) VALUES ('$fi', '$area', 'x')",
		matters => "INSERT INTO esqase.matters (firm_id, public_id, open_date, practice_area_id, stage_id) "
		  . "VALUES ('$fi', 'X-1', '2026-01-01', '$area', '$stage')",
		leads => "INSERT INTO esqase.leads (firm_id, public_id, contact_id, stage_id) "
		  . "VALUES ('$fi', 'X-1', '$rec{$f}{contacts}', '$lead_stage')",
	};
}
sub target
{
	my $c = shift;
	return $c->{firm} eq 'c' && $c->{action} eq 'delete' ? $doomed{ $c->{key} }{ $c->{route} }
	  : $rec{ $c->{firm} }{ $c->{route} };
}
my @rows;
for my $i (0 .. $#cells)
{
	my $c = $cells[$i];
	my $t = $route{ $c->{route} }[0];
	my $fi = $firm{ $c->{firm} };
	my $id = target($c);
	my $stmt = {
		list => "SELECT count(*) FROM esqase.$t WHERE firm_id = '$fi'",
		get => "SELECT count(*) FROM esqase.$t WHERE firm_id = '$fi' AND id = '$id'",
		create => $ins{ $c->{firm} }{$t},
		update => "UPDATE esqase.$t SET updated_at = updated_at WHERE firm_id = '$fi' AND id = '$id'",
		delete => "UPDATE esqase.$t SET deleted_at = now() WHERE firm_id = '$fi' AND id = '$id'",
	}->{ $c->{action} };
	push @rows, "($i, " . lit($key{ $c->{key} }) . ', ' . lit($stmt) . ')';
}
my $sql_out = sql(q{
CREATE FUNCTION pg_temp.allowed(token text, stmt text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
    msg text;
BEGIN
    BEGIN
        PERFORM esqase_authenticate(token);
        IF stmt LIKE 'SELECT%' THEN
            EXECUTE stmt INTO n;
        ELSE
            EXECUTE stmt;
            GET DIAGNOSTICS n = ROW_COUNT;
        END IF;
        RAISE EXCEPTION 'rollback:%', n;
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT;
        RETURN CASE WHEN msg LIKE 'rollback:%' AND split_part(msg, ':', 2)::bigint > 0 THEN 'yes'
                    WHEN msg LIKE 'rollback:%' THEN 'no rows'
                    ELSE msg END;
    END;
END
$$;
CREATE TEMP TABLE cells (i int, token text, stmt text);
GRANT SELECT ON cells TO esqase_api;
} . 'INSERT INTO cells VALUES ' . join(",\n", @rows) . q{;
SET ROLE esqase_api;
SELECT i || '|' || pg_temp.allowed(token, stmt) FROM cells ORDER BY i;
RESET ROLE;});
for (split /\n/, $sql_out)
{
	my ($i, $why) = split /\|/, $_, 2;
	$cells[$i]{sql} = $why eq 'yes' ? 1 : 0;
	$cells[$i]{sql_why} = $why;
}
is(scalar(grep { defined $_->{sql} } @cells), scalar(@cells), 'every cell ran in SQL');

# --- Real HTTP. -----------------------------------------------------------
# Reads first (so that no write of this file changes what they show), then
# updates, creates and deletes.
my (%seen_ids, @unexpected);
my $uuid = qr/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/;
sub request
{
	my ($c, $method, $path, $body) = @_;
	my $r = api_raw($node, $method, $path, token => $key{ $c->{key} }, defined $body ? (body => $body) : ());
	push @unexpected, "$c->{key} $method $path: $r->{status} " . ($r->{content} // '')
	  unless $r->{status} =~ /^(200|201|204|403|404)$/;
	$c->{status} = $r->{status};
	if ($r->{status} == 200 || $r->{status} == 201)
	{
		$seen_ids{ $c->{key} }{ $c->{firm} }{$_} = 1 for $r->{content} =~ /($uuid)/g;
	}
	return $r->{status};
}
for my $c (grep { $_->{action} eq 'list' } @cells)
{
	my $q = $c->{route} eq 'matter-types' ? "?limit=200&practiceAreaId=$rec{$c->{firm}}{'practice-areas'}" : '?limit=200';
	request($c, 'GET', "/v1/$c->{route}$q");
}
request($_, 'GET', "/v1/$_->{route}/" . target($_)) for grep { $_->{action} eq 'get' } @cells;
request($_, 'PATCH', "/v1/$_->{route}/" . target($_), $route{ $_->{route} }[2])
  for grep { $_->{action} eq 'update' } @cells;
for my $c (grep { $_->{action} eq 'create' } @cells)
{
	# the key decides the firm: no request creates in another firm
	if ($c->{firm} eq 'd') { $c->{status} = 'none'; next; }
	request($c, 'POST', "/v1/$c->{route}", $route{ $c->{route} }[1]);
}
request($_, 'DELETE', "/v1/$_->{route}/" . target($_)) for grep { $_->{action} eq 'delete' } @cells;

# Each firm's rows of each table (as the superuser): what a list may show.
my %firm_rows;
for (split /\n/, sql(join ' UNION ALL ', map {
	my $t = $route{$_}[0];
	"SELECT '$_', firm_id, id FROM esqase.$t" } @routes))
{
	my ($r, $fi, $id) = split /\|/;
	my ($f) = grep { $firm{$_} eq $fi } keys %firm;
	push @{ $firm_rows{$f}{$r} }, $id if $f;
}

# HTTP's answer per cell, then the comparison.
my %by = map { (join('|', @$_{qw(key route action firm)}) => $_) } @cells;
for my $c (@cells)
{
	my $seen = $seen_ids{ $c->{key} }{ $c->{firm} } // {};
	my $act = $c->{action};
	if ($act eq 'list')
	{
		$c->{http} = (grep { $seen->{$_} } @{ $firm_rows{ $c->{firm} }{ $c->{route} } }) ? 1 : 0;
	}
	elsif ($act eq 'get')
	{
		$c->{http} = $seen->{ target($c) } ? 1 : 0;
	}
	else
	{
		$c->{http} = $c->{status} =~ /^20[014]$/ ? 1 : 0;
		# leads:write creates contacts (a new lead's prospect)
		$c->{http} ||= $by{"$c->{key}|leads|create|$c->{firm}"}{status} eq '201' ? 1 : 0
		  if $c->{route} eq 'contacts' && $act eq 'create';
	}
}
my @disagree = grep { $_->{sql} != $_->{http} } @cells;
is(scalar(@unexpected), 0, 'every HTTP answer is 2xx, 403 or 404')
  or diag(join "\n", @unexpected[ 0 .. ($#unexpected < 20 ? $#unexpected : 19) ]);
is(scalar(@disagree), 0, 'direct SQL and HTTP agree in every cell of the matrix')
  or diag(join "\n", map {
	sprintf('%-22s %-15s %-6s firm %s: SQL %s (%s), HTTP %s (status %s)', @$_{qw(key route action firm)},
		$_->{sql} ? 'allowed' : 'refused', $_->{sql_why}, $_->{http} ? 'allowed' : 'refused', $_->{status})
  } @disagree);

# The matrix means something: the other firm is refused everywhere, the
# owner's key is allowed every own-firm cell, and each scope is allowed
# somewhere and refused somewhere, except that practice areas and matter
# types need the member's Practice areas permission for anything at all.
my $cells = scalar @cells;
is(scalar(grep { $_->{firm} eq 'd' && ($_->{sql} || $_->{http}) } @cells), 0, 'another firm: every cell refused');
is(scalar(grep { $_->{key} eq 'owner' && $_->{firm} eq 'c' && !($_->{sql} && $_->{http}) } @cells), 0,
	"the owner's key: every own-firm cell allowed");
for my $k (grep { $_ ne 'owner' } @keys)
{
	my @own = grep { $_->{key} eq $k && $_->{firm} eq 'c' } @cells;
	my $yes = grep { $_->{http} } @own;
	if ($k =~ /^(practice-areas|matter-types):\w+$/)
	{
		is($yes, 0, "$k: without the permission, no own-firm cell allowed");
		next;
	}
	ok($yes > 0 && $yes < @own, "$k: allowed $yes of " . scalar(@own) . ' own-firm cells');
}
note sprintf('%d cells (%d keys x %d route actions x 2 firms), %d allowed; %d s',
	$cells, scalar(@keys), $cells / @keys / 2, scalar(grep { $_->{sql} } @cells), time - $t0);
# The matrix itself: per route and action, the keys allowed in their own firm.
for my $r (@routes)
{
	for my $act (actions($r))
	{
		note sprintf('%-15s %-6s %s', $r, $act, join(' ', map { $_->{key} }
			grep { $_->{route} eq $r && $_->{action} eq $act && $_->{firm} eq 'c' && $_->{http} } @cells) || '-');
	}
}

no_500();
$node->stop;
done_testing();
