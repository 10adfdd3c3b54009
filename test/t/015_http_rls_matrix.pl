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
# a row of that firm without error (every SQL write is rolled back).  But
# for list, the key first names the firm's records (esqase.target), as a
# request names one in its URL: a key with a write scope but not the read
# scope reaches only the records it names, in SQL as over HTTP (issue 21).
#   list    SELECT count(*) of the firm's ids the key reads: in the table,
#           in its reference view (esqase.contact_refs, ...: what records
#           that refer to it show), or as another table's reference to it (a
#           matter type's practice_area_id)
#   get     ... the record's id among them
#   create  INSERT of a row of that firm
#   update  UPDATE <table> SET <a field PATCH sets> = itself WHERE ... id = <record>
#   delete  UPDATE <table> SET deleted_at = now() (and the status a DELETE
#           sets) WHERE ... id = <record>
# A cell of HTTP is allowed when the API shows or changes that row:
#   list      the id of any row of that table and firm appears in a 2xx
#             answer to a GET (a list or a get, which name no record the
#             key may not read)
#   get       the record's id appears in a 2xx answer of any route to the key, since a
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
#
# Then columns (issue 17, item 4): for each route's record in the key's firm
# and each column whose field its API representation has (first_name:
# firstName, ...), the key reads the column in SQL (through the table or a
# reference view) exactly when some HTTP answer to it shows that field of
# that record (a matter shows its clients' id and name, not their emails).
# And the SECURITY DEFINER finders: esqase.contacts_found and
# esqase.matters_found return, for each key, the ids the HTTP lists with q
# show it (contacts?q=, the contacts of leads?q=, matters?q=).
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
	# a private lead of the owner's: its prospect is found by the owner only
	made($f, '/v1/leads', { type => 'PERSON', firstName => 'Hidden', lastName => 'Prospect',
		isPrivate => JSON::PP::true, assigneeIds => [ $owner{$f} ] });
	# a webhook (a public address nothing is sent to: paused)
	my $hook = made($f, '/v1/webhooks', { url => 'https://93.184.216.34/hook', events => ['leads.created'] })->{id};
	$rec{$f} = { contacts => $contact, 'practice-areas' => $area, 'matter-types' => $type,
		matters => $matter, leads => $lead, members => $owner{$f}, webhooks => $hook };
}

# The routes: their table, the body of a create and of an update.
# The routes: their table, the body of a create and of an update, the
# column that update sets, what a DELETE sets, and where else the key may
# read a record's id in SQL (besides the table): its reference view, and
# the columns of other tables that name it.
my %route = (
	contacts => [ 'contacts', { type => 'PERSON', firstName => 'New' }, { nickname => 'Nick' }, 'nickname',
		"status = 'ARCHIVED', deleted_at = now()", [ 'contact_refs.id' ] ],
	'practice-areas' => [ 'practice_areas', { name => 'New area' }, { name => 'Matrix law' }, 'name',
		"status = 'ARCHIVED', deleted_at = now()", [ 'practice_area_refs.id', 'matter_types.practice_area_id' ] ],
	'matter-types' => [ 'matter_types', { practiceAreaId => $rec{c}{'practice-areas'}, name => 'New type' },
		{ name => 'T' }, 'name', "status = 'ARCHIVED', deleted_at = now()", [ 'matter_type_refs.id' ] ],
	matters => [ 'matters', { practiceAreaId => $rec{c}{'practice-areas'}, openDate => '2026-01-03' },
		{ title => 'Renamed' }, 'title', "status = 'ARCHIVE', deleted_at = now()", [] ],
	leads => [ 'leads', { type => 'PERSON', firstName => 'New prospect' }, { value => 'HIGH' }, 'value',
		'deleted_at = now()', [] ],
	members => [ 'members', undef, undef, undef, undef, [ 'member_refs.id' ] ],    # read-only over the API
	webhooks => [ 'webhooks', { url => 'https://93.184.216.34/hook', events => ['leads.created'] },
		{ status => 'PAUSED' }, 'status', 'deleted_at = now()', [] ],
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
		# numbered by the counter, as a create is (a number chosen by hand
		# is refused: test/sql/57_sql_reach.sql)
		matters => "INSERT INTO esqase.matters (firm_id, public_id, open_date, practice_area_id, stage_id) "
		  . "VALUES ('$fi', esqase.next_public_id('$fi', 'M'), '2026-01-01', '$area', '$stage')",
		leads => "INSERT INTO esqase.leads (firm_id, public_id, contact_id, stage_id) "
		  . "VALUES ('$fi', esqase.next_public_id('$fi', 'L'), '$rec{$f}{contacts}', '$lead_stage')",
		# a webhook acts as the key that makes it (the insert policy)
		webhooks => "INSERT INTO esqase.webhooks (firm_id, url, events, key_id) "
		  . "VALUES ('$fi', 'https://93.184.216.34/hook', '{leads.created}', esqase.context_key())",
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
	my $ids = join ' UNION ALL ', "SELECT firm_id, id FROM esqase.$t",
	  map { my ($rel, $col) = split /\./; "SELECT firm_id, $col FROM esqase.$rel" } @{ $route{ $c->{route} }[5] };
	my ($set, $del) = @{ $route{ $c->{route} } }[ 3, 4 ];
	my $stmt = {
		list => "SELECT count(*) FROM ($ids) x (firm_id, id) WHERE firm_id = '$fi'",
		get => "SELECT count(*) FROM ($ids) x (firm_id, id) WHERE firm_id = '$fi' AND id = '$id'",
		create => $ins{ $c->{firm} }{$t},
		update => defined $set && "UPDATE esqase.$t SET $set = $set WHERE firm_id = '$fi' AND id = '$id'",
		delete => defined $del && "UPDATE esqase.$t SET $del WHERE firm_id = '$fi' AND id = '$id'",
	}->{ $c->{action} };
	push @rows, "($i, " . lit($key{ $c->{key} }) . ', ' . lit($stmt) . ', '
	  . ($c->{action} eq 'list' ? 'NULL' : "'$c->{firm}'") . ')';
}
# The records each firm's requests name in their URLs: its records, and in
# C the ones the DELETEs delete.
my $named_sql = 'CREATE TEMP TABLE named (firm text, id uuid); GRANT SELECT ON named TO esqase_api; '
  . 'INSERT INTO named VALUES ' . join(', ', map {
	my $f = $_;
	map { "('$f', '$_')" } values(%{ $rec{$f} }), $f eq 'c' ? map { values %$_ } values %doomed : ()
  } qw(c d)) . ';';
my $allowed_fn = $named_sql . q{
CREATE FUNCTION pg_temp.allowed(token text, stmt text, named text DEFAULT NULL) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
    msg text;
BEGIN
    BEGIN
        PERFORM esqase_authenticate(token);
        PERFORM esqase.targets(ARRAY(SELECT id FROM named WHERE firm = allowed.named));
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
};
my $sql_out = sql($allowed_fn . q{
CREATE TEMP TABLE cells (i int, token text, stmt text, named text);
GRANT SELECT ON cells TO esqase_api;
} . 'INSERT INTO cells VALUES ' . join(",\n", @rows) . q{;
SET ROLE esqase_api;
SELECT i || '|' || pg_temp.allowed(token, stmt, named) FROM cells ORDER BY i;
RESET ROLE;});
for (split /\n/, $sql_out)
{
	my ($i, $why) = split /\|/, $_, 2;
	$cells[$i]{sql} = $why eq 'yes' ? 1 : 0;
	$cells[$i]{sql_why} = $why;
}
is(scalar(grep { defined $_->{sql} } @cells), scalar(@cells), 'every cell ran in SQL');

# The finders, as each key (firm C), for the words the HTTP lists will be
# asked for below: ids, sorted, comma-separated.
my @queries = qw(client prospect hidden untitled);
my %found;    # key => q => fn => { id => 1 }
{
	my @calls;
	for my $k (@keys)
	{
		for my $q (@queries)
		{
			push @calls, "(" . lit($k) . ", " . lit($key{$k}) . ", '$q', '$_')" for qw(contacts matters);
		}
	}
	my $out = sql(q{
CREATE FUNCTION pg_temp.found(token text, q text, fn text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    ids uuid[];
BEGIN
    BEGIN
        PERFORM esqase_authenticate(token);
        EXECUTE format('SELECT esqase.%I_found(esqase.context_firm(), esqase.search_query($1))', fn) INTO ids USING q;
        RAISE EXCEPTION 'rollback:%', array_to_string(ARRAY(SELECT unnest(ids) ORDER BY 1), ',');
    EXCEPTION WHEN OTHERS THEN
        RETURN CASE WHEN SQLERRM LIKE 'rollback:%' THEN substr(SQLERRM, 10) ELSE 'error: ' || SQLERRM END;
    END;
END
$$;
CREATE TEMP TABLE calls (k text, token text, q text, fn text);
GRANT SELECT ON calls TO esqase_api;
} . 'INSERT INTO calls VALUES ' . join(",\n", @calls) . q{;
SET ROLE esqase_api;
SELECT k || '|' || q || '|' || fn || '|' || pg_temp.found(token, q, fn) FROM calls;
RESET ROLE;});
	for (split /\n/, $out)
	{
		my ($k, $q, $fn, $ids) = split /\|/, $_, 4;
		$found{$k}{$q}{$fn} = { map { ($_ => 1) } grep { length } split /,/, $ids };
	}
}

# --- Real HTTP. -----------------------------------------------------------
# Reads first (so that no write of this file changes what they show), then
# updates, creates and deletes.
my (%seen_ids, %seen_read, %seen_fields, @unexpected);
my $uuid = qr/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/;
# Every object with an id in a JSON answer: the fields it shows of that record.
sub walk
{
	my ($j, $into) = @_;
	if (ref $j eq 'HASH')
	{
		if (defined $j->{id} && !ref $j->{id}) { $into->{ $j->{id} }{$_} = 1 for keys %$j; }
		walk($_, $into) for values %$j;
	}
	elsif (ref $j eq 'ARRAY') { walk($_, $into) for @$j; }
}
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
		if ($method eq 'GET') { $seen_read{ $c->{key} }{ $c->{firm} }{$_} = 1 for $r->{content} =~ /($uuid)/g; }
		walk($r->{json}, $seen_fields{ $c->{key} }{ $c->{firm} } //= {});
	}
	return $r;
}
# The finders against the lists with q (before any write): the ids each
# list shows the key (contacts: the contacts list and the leads' contacts).
my %listed;    # key => q => 'contacts' | 'matters' => { id => 1 }
for my $k (@keys)
{
	for my $q (@queries)
	{
		for my $list (qw(contacts leads matters))
		{
			my $r = request({ key => $k, firm => 'c' }, 'GET', "/v1/$list?limit=200&q=$q");
			next unless $r->{status} == 200;
			for my $d (@{ $r->{json}{data} })
			{
				if ($list eq 'leads') { $listed{$k}{$q}{contacts}{ $d->{contact}{id} } = 1; }
				else { $listed{$k}{$q}{$list}{ $d->{id} } = 1; }
			}
		}
	}
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
	my $read = $seen_read{ $c->{key} }{ $c->{firm} } // {};
	my $act = $c->{action};
	if ($act eq 'list')
	{
		$c->{http} = (grep { $read->{$_} } @{ $firm_rows{ $c->{firm} }{ $c->{route} } }) ? 1 : 0;
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

# --- The finders: what the lists with q show, no more, no less. ----------
my @finder_diffs;
for my $k (@keys)
{
	for my $q (@queries)
	{
		for my $fn (qw(contacts matters))
		{
			my $sql = join ',', sort keys %{ $found{$k}{$q}{$fn} // {} };
			my $http = join ',', sort keys %{ $listed{$k}{$q}{$fn} // {} };
			push @finder_diffs, "$k q=$q esqase.${fn}_found: SQL {$sql}, HTTP lists {$http}" if $sql ne $http;
		}
	}
}
is(scalar(@finder_diffs), 0, 'the SECURITY DEFINER finders return, for every key, the ids its lists with q show')
  or diag(join "\n", @finder_diffs[ 0 .. ($#finder_diffs < 20 ? $#finder_diffs : 19) ]);
ok(scalar(keys %{ $found{owner}{hidden}{contacts} }) == 1 && !grep({ %{ $found{$_}{hidden}{contacts} } } grep { $_ ne 'owner' } @keys),
	"a private lead's prospect is found by the owner only");

# --- Columns read (issue 17, item 4). --------------------------------------
# For each route's record in firm C, the columns whose field its own
# representation has (as the owner reads it): each key reads the column in
# SQL, through the table or the reference view, exactly when an HTTP answer
# to the key showed that field of that record.  One exception, documented:
# esqase.matter_type_refs also shows a matter type's practice_area_id and
# created_at (a practice area lists its live matter types, oldest first; a
# matter's type must be of its practice area) to the keys that see the type
# as a reference.
my (%camel_of, @col_cells);
for my $r (@routes)
{
	my $t = $route{$r}[0];
	my $rec = $rec{c}{$r};
	my $full = api_raw($node, 'GET', "/v1/$r/$rec", token => $owner_key{c})->{json}{data};
	my ($view) = map { (split /\./)[0] } grep { /_refs\./ } @{ $route{$r}[5] };
	my %in_view = $view ? map { ($_ => 1) } split /\n/,
	  sql("SELECT attname FROM pg_attribute WHERE attrelid = 'esqase.$view'::regclass AND attnum > 0") : ();
	for my $col (split /\n/, sql("SELECT attname FROM pg_attribute WHERE attrelid = 'esqase.$t'::regclass "
		  . "AND attnum > 0 AND NOT attisdropped ORDER BY attnum"))
	{
		(my $field = $col) =~ s/_(\w)/\U$1/g;
		next unless exists $full->{$field};
		my $stmt = "SELECT count(*) FROM (SELECT $col FROM esqase.$t WHERE id = '$rec'"
		  . ($in_view{$col} ? " UNION ALL SELECT $col FROM esqase.$view WHERE id = '$rec'" : '') . ') x';
		for my $k (@keys)
		{
			push @col_cells, { key => $k, route => $r, table => $t, col => $col, field => $field, rec => $rec,
				stmt => $stmt };
		}
	}
}
{
	my @rows = map { "($_, " . lit($key{ $col_cells[$_]{key} }) . ', ' . lit($col_cells[$_]{stmt}) . ')' } 0 .. $#col_cells;
	my $out = sql($allowed_fn . 'CREATE TEMP TABLE cols (i int, token text, stmt text); GRANT SELECT ON cols TO esqase_api; '
		  . 'INSERT INTO cols VALUES ' . join(",\n", @rows) . q{;
SET ROLE esqase_api;
SELECT i || '|' || pg_temp.allowed(token, stmt, 'c') FROM cols ORDER BY i;
RESET ROLE;});
	for (split /\n/, $out)
	{
		my ($i, $why) = split /\|/, $_, 2;
		$col_cells[$i]{sql} = $why eq 'yes' ? 1 : 0;
	}
}
my (@col_disagree, @col_excepted);
for my $c (@col_cells)
{
	my $shown = $seen_fields{ $c->{key} }{c}{ $c->{rec} } // {};
	$c->{http} = $shown->{ $c->{field} } ? 1 : 0;
	next if $c->{sql} == $c->{http};
	if ($c->{table} eq 'matter_types' && $c->{col} =~ /^(practice_area_id|created_at)$/ && $c->{sql}
		&& $shown->{name})
	{
		push @col_excepted, "$c->{key} $c->{table}.$c->{col}";
		next;
	}
	push @col_disagree, sprintf('%-22s %s.%s (%s): SQL %s, HTTP %s', $c->{key}, $c->{table}, $c->{col}, $c->{field},
		$c->{sql} ? 'reads' : 'does not read', $c->{http} ? 'shows' : 'does not show');
}
is(scalar(grep { defined $_->{sql} } @col_cells), scalar(@col_cells), 'every column cell ran in SQL');
is(scalar(@col_disagree), 0, 'every column a key reads in SQL is one HTTP shows it, and the other way round')
  or diag(join "\n", @col_disagree[ 0 .. ($#col_disagree < 30 ? $#col_disagree : 29) ]);
ok(!grep({ $_->{key} =~ /^matters:/ && $_->{table} eq 'contacts' && $_->{col} =~ /^(emails|phones)$/ && $_->{sql} }
		@col_cells), "matters keys read no client's emails or phones");
note sprintf('%d column cells, %d read; %d by the documented matter_type_refs exception', scalar(@col_cells),
	scalar(grep { $_->{sql} } @col_cells), scalar(@col_excepted));

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
