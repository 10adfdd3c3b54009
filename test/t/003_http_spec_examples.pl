# 003_http_spec_examples.pl — every example request of the public API page
# (spec/esqase-api-resources.txt), sent with curl as written there, with
# its documented response shape; and the page's JavaScript (Node's fetch)
# and Python (requests) examples, run unchanged except for the base address
# (test/t/examples/ holds them verbatim).
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use EsqaseHttp;
use IPC::Run;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = esq_node('spec');
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION esqase');
my ($key, $firm) = make_key($node, owner => 1);
my $r = wait_for_status($node, 'GET', '/v1/contacts', 200, token => $key);
is($r->{status}, 200, 'serving');

my $BASE = "http://127.0.0.1:$node->{esq_http_port}";
local $ENV{ESQASE_API_KEY} = $key;

# Runs curl with the spec's arguments; returns (status, decoded body, headers).
sub curl
{
	my @args = @_;
	my ($out, $err) = ('', '');
	my @cmd = ('curl', '-s', '-D', '-', map { s/https:\/\/api\.esqase\.com/$BASE/r } @args);
	IPC::Run::run(\@cmd, '>', \$out, '2>', \$err) or diag("curl failed: $err");
	my ($head, $body) = split /\r\n\r\n/, $out, 2;
	my ($status) = $head =~ m{^HTTP/1\.1 (\d+)};
	my %h = map { /^([^:]+):\s*(.*)$/ ? (lc $1 => $2) : () } split /\r\n/, $head;
	my $json = length($body // '') ? eval { decode_json($body) } : undef;
	return ($status, $json, \%h);
}

# Checks that $obj has every key of the documented example.
sub has_keys
{
	my ($obj, $keys, $what) = @_;
	my @missing = grep { !exists $obj->{$_} } @$keys;
	ok(!@missing, "$what has the documented fields")
	  or diag("missing: @missing; got: " . join(',', sort keys %$obj));
}

my @contact_keys = qw(id type status name firstName lastName companyName emails phones createdAt updatedAt);
my $auth = 'Authorization: Bearer $ESQASE_API_KEY';
$auth =~ s/\$ESQASE_API_KEY/$key/;

# --- Contacts: create, read, list -------------------------------------------
my ($s, $j, $h) = curl('-X', 'POST', 'https://api.esqase.com/v1/contacts',
	'-H', $auth, '-H', 'Content-Type: application/json',
	'-d', '{
    "type": "PERSON",
    "firstName": "Jane",
    "lastName": "Doe",
    "emails": ["jane@example.com"],
    "phones": ["+1-555-0100"]
  }');
is($s, 201, 'create a contact: 201');
has_keys($j->{data}, \@contact_keys, 'created contact');
is($j->{data}{name}, 'Jane Doe', 'contact name derived');
is($j->{data}{status}, 'ACTIVE', 'contact status');
is_deeply($j->{data}{emails}, ['jane@example.com'], 'contact emails');
is_deeply($j->{data}{phones}, ['+1-555-0100'], 'contact phones');
like($j->{data}{createdAt}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/, 'createdAt format');
my $contact = $j->{data}{id};
is($h->{location}, "/v1/contacts/$contact", 'Location');

($s, $j) = curl("https://api.esqase.com/v1/contacts/$contact", '-H', $auth);
is($s, 200, 'read one contact: 200');
is($j->{data}{id}, $contact, 'the same contact');

($s) = curl('-X', 'POST', 'https://api.esqase.com/v1/contacts', '-H', $auth,
	'-H', 'Content-Type: application/json',
	'-d', '{"type":"COMPANY","companyName":"Acme Holdings","emails":["contact@example.com"]}');
is($s, 201, 'a company contact');
api($node, 'POST', '/v1/contacts', 201, token => $key,
	body => { type => 'PERSON', firstName => "P$_" }) for 1 .. 3;
($s, $j) = curl('https://api.esqase.com/v1/contacts?limit=2&offset=0', '-H', $auth);
is($s, 200, 'paged list: 200');
is(scalar @{ $j->{data} }, 2, 'two records');
is_deeply([ sort keys %{ $j->{pagination} } ], [qw(limit nextCursor offset total)], 'pagination fields');
is($j->{pagination}{limit}, 2, 'limit 2');
is($j->{pagination}{offset}, 0, 'offset 0');
is($j->{pagination}{total}, 5, 'total 5');
has_keys($j->{data}[0], \@contact_keys, 'listed contact');
is($j->{data}[0]{id}, $contact, 'oldest first');
($s, $j) = curl('https://api.esqase.com/v1/contacts?limit=2&offset=4', '-H', $auth);
is(scalar @{ $j->{data} }, 1, 'last page: offset + limit reaches total');

# --- Practice areas ----------------------------------------------------------
($s, $j, $h) = curl('-X', 'POST', 'https://api.esqase.com/v1/practice-areas',
	'-H', $auth, '-H', 'Content-Type: application/json', '-d', '{ "name": "Family law" }');
is($s, 201, 'create a practice area: 201');
has_keys($j->{data}, [qw(id name status stages matterTypes)], 'practice area');
is_deeply([ map { [ $_->{name}, $_->{type}, $_->{order} ] } @{ $j->{data}{stages} } ],
	[ [ 'To do', 'TODO', 0 ], [ 'In progress', 'IN_PROGRESS', 1 ], [ 'Done', 'DONE', 2 ] ],
	'three seeded stages');
has_keys($j->{data}{stages}[0], [qw(id name type order)], 'stage');
is_deeply($j->{data}{matterTypes}, [], 'no matter types yet');
my $area = $j->{data}{id};
my $stage = $j->{data}{stages}[0]{id};

# --- Matter types ------------------------------------------------------------
($s, $j) = curl('-X', 'POST', 'https://api.esqase.com/v1/matter-types',
	'-H', $auth, '-H', 'Content-Type: application/json',
	'-d', qq'{
    "practiceAreaId": "$area",
    "name": "Divorce"
  }');
is($s, 201, 'create a matter type: 201');
has_keys($j->{data}, [qw(id practiceAreaId name status)], 'matter type');
is($j->{data}{practiceAreaId}, $area, 'matter type practiceAreaId');
is($j->{data}{status}, 'ACTIVE', 'matter type status');
my $mtype = $j->{data}{id};
($s, $j) = curl("https://api.esqase.com/v1/matter-types?practiceAreaId=$area", '-H', $auth);
is($s, 200, 'list matter types: 200');
is($j->{data}[0]{id}, $mtype, 'the matter type is listed');
($s, $j) = curl("https://api.esqase.com/v1/matter-types/$mtype", '-H', $auth);
is($j->{data}{practiceAreaId}, $area, 'read one matter type: its practice area');
($s, $j) = curl("https://api.esqase.com/v1/practice-areas/$area", '-H', $auth);
is($j->{data}{matterTypes}[0]{id}, $mtype, 'practice area lists its matter types');
has_keys($j->{data}{matterTypes}[0], [qw(id name)], 'practice area matter type');

# --- Matters -----------------------------------------------------------------
($s, $j, $h) = curl('-X', 'POST', 'https://api.esqase.com/v1/matters',
	'-H', $auth, '-H', 'Content-Type: application/json',
	'-d', qq'{
    "practiceAreaId": "$area",
    "openDate": "2026-07-01",
    "title": "Doe v. Acme Holdings",
    "practiceAreaStageColumnId": "$stage",
    "clientContactIds": ["$contact"]
  }');
is($s, 201, 'create a matter: 201');
has_keys($j->{data},
	[qw(id publicId title description status openDate closeDate solDate practiceArea stage clients team)],
	'matter');
like($j->{data}{publicId}, qr/^M-\d{4}$/, 'matter publicId M-NNNN');
is($j->{data}{status}, 'ACTIVE', 'matter status');
is($j->{data}{openDate}, '2026-07-01', 'openDate');
is_deeply($j->{data}{practiceArea}, { id => $area, name => 'Family law' }, 'matter practiceArea');
is_deeply($j->{data}{stage}, { id => $stage, name => 'To do' }, 'matter stage');
is_deeply($j->{data}{clients}, [ { id => $contact, name => 'Jane Doe' } ], 'matter clients');
is_deeply($j->{data}{team}, [], 'matter team');
my $matter = $j->{data}{id};
is($h->{location}, "/v1/matters/$matter", 'matter Location');
($s, $j) = curl('-X', 'PATCH', "https://api.esqase.com/v1/matters/$matter", '-H', $auth,
	'-H', 'Content-Type: application/json', '-d', '{"status":"ARCHIVE"}');
is($s, 200, 'change a matter status');
is($j->{data}{status}, 'ARCHIVE', 'status ARCHIVE');

# --- Leads -------------------------------------------------------------------
($s, $j) = curl('-X', 'POST', 'https://api.esqase.com/v1/leads',
	'-H', $auth, '-H', 'Content-Type: application/json',
	'-d', qq'{
    "type": "PERSON",
    "firstName": "Jane",
    "lastName": "Doe",
    "email": "jane\@example.com",
    "phone": "+1-555-0100",
    "practiceAreaId": "$area",
    "value": "HIGH"
  }');
is($s, 201, 'create a lead: 201');
has_keys($j->{data},
	[qw(id publicId status value isPrivate leadStageColumnId contact practiceArea)], 'lead');
like($j->{data}{publicId}, qr/^L-\d{4}$/, 'lead publicId L-NNNN');
is($j->{data}{status}, 'PENDING', 'lead status');
is($j->{data}{value}, 'HIGH', 'lead value');
ok(!$j->{data}{isPrivate}, 'lead not private');
is($j->{data}{contact}{name}, 'Jane Doe', 'lead contact name');
isnt($j->{data}{contact}{id}, $contact, 'the lead created a brand-new contact');
is_deeply($j->{data}{practiceArea}, { id => $area, name => 'Family law' }, 'lead practiceArea');

# --- Field order -------------------------------------------------------------
# Responses list their fields in the order of the API page (then any further
# fields), in a single record and in a list, for every resource.
my $lead = $j->{data}{id};
my %order = (
	contacts => [ $contact, qw(id type status name firstName lastName companyName emails phones
		  createdAt updatedAt prefix middleName suffix nickname tradeName companyType) ],
	matters => [ $matter, qw(id publicId title description status openDate closeDate solDate
		  practiceArea stage clients team matterType createdAt updatedAt) ],
	leads => [ $lead, qw(id publicId status value isPrivate leadStageColumnId contact practiceArea
		  assignees createdAt updatedAt) ],
	'practice-areas' => [ $area, qw(id name status stages matterTypes createdAt updatedAt) ],
	'matter-types' => [ $mtype, qw(id practiceAreaId name status createdAt updatedAt) ]);
for my $res (sort keys %order)
{
	my ($id, @want) = @{ $order{$res} };
	my $one = api_raw($node, 'GET', "/v1/$res/$id", token => $key)->{content};
	is_deeply(key_order($one, 1), ['data'], "$res: a record's response is {data}");
	is_deeply(key_order($one, 2), \@want, "$res: a record's fields in the API page's order");
	my $q = $res eq 'matter-types' ? "?practiceAreaId=$area" : '';
	my $list = api_raw($node, 'GET', "/v1/$res$q", token => $key)->{content};
	is_deeply(key_order($list, 1), [qw(data pagination)], "$res: a list is {data, pagination}");
	is_deeply(key_order($list, 3), \@want, "$res: a listed record's fields in the same order");
}
my $list = api_raw($node, 'GET', '/v1/contacts?limit=1', token => $key)->{content};
my ($pagination) = $list =~ /"pagination"\s*:\s*(\{[^}]*\})/;
is_deeply(key_order($pagination, 1), [qw(limit offset total nextCursor)], 'pagination fields in order');
is_deeply(key_order(api_raw($node, 'GET', "/v1/practice-areas/$area", token => $key)->{content}, 4),
	[qw(id name type order)], 'a stage\'s fields in order');

# --- The JavaScript and Python examples --------------------------------------
# They use fixed ids for the practice area and the client; a DBA puts those
# records in the firm by hand (SQL, as superuser).
$node->safe_psql('postgres', qq{
INSERT INTO esqase.practice_areas (firm_id, id, name)
  VALUES ('$firm', 'b2c3d4e5-1000-4a1b-9c2d-1234567890ab', 'Family law');
INSERT INTO esqase.contacts (firm_id, id, type, first_name, last_name, emails)
  VALUES ('$firm', 'a1b2c3d4-0001-4a1b-9c2d-1234567890ab', 'PERSON', 'Jane', 'Doe', '{jane\@example.com}');
});

my $tmp = PostgreSQL::Test::Utils::tempdir();
for my $ex (['create_matter.mjs', 'node'], ['create_matter.py', 'python3'])
{
	my ($file, $interp) = @$ex;
	open my $in, '<', "$FindBin::RealBin/examples/$file" or die "$file: $!";
	my $code = do { local $/; <$in> };
	close $in;
	my $n = ($code =~ s{https://api\.esqase\.com}{$BASE}g);
	is($n, 1, "$file: only the base address changed");
	open my $out, '>', "$tmp/$file" or die;
	print $out $code;
	close $out;
	my ($stdout, $stderr) = ('', '');
	my $ok = IPC::Run::run([ $interp, "$tmp/$file" ], '>', \$stdout, '2>', \$stderr);
	ok($ok, "$file runs") or diag($stderr);
	like($stdout, qr/^Created matter M-\d{4}\n$/, "$file prints the new matter's publicId");
	my ($public) = $stdout =~ /(M-\d{4})/;
	my $row = $node->safe_psql('postgres',
		"SELECT m.title || '|' || s.name || '|' || m.open_date FROM esqase.matters m "
		  . "JOIN esqase.practice_area_stages s ON s.firm_id = m.firm_id AND s.id = m.stage_id "
		  . "WHERE m.firm_id = '$firm' AND m.public_id = '$public'");
	is($row, 'Doe v. Acme Holdings|To do|2026-07-01', "$file: the matter is in the first stage");
}

no_500();
$node->stop;
done_testing();
