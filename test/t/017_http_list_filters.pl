# 017_http_list_filters.pl — search, filters, order and sync over HTTP: the
# query string reaches the list functions as their params, SQL owns which
# parameters exist (a bad one is a 400 naming it), a cursor walks every
# order, and a sync walk by updatedSince sees a deletion (deletedAt, the
# last field) and follows nextCursor to the end.
use strict;
use warnings;
use utf8;

use FindBin;
use lib $FindBin::RealBin;

use EsqaseHttp;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = esq_node('list_filters');
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION esqase');
my ($token) = make_key($node, owner => 1);
my %T = (token => $token);
is(wait_for_status($node, 'GET', '/v1/contacts', 200, %T)->{status}, 200, 'serving');

my %id;
for my $c (
	{ type => 'PERSON', firstName => 'Émile', lastName => 'Zoë', emails => ['emile@example.com'] },
	{ type => 'COMPANY', companyName => 'Acme Holdings' },
	{ type => 'PERSON', firstName => 'Bob', lastName => 'Smith' })
{
	my $r = api($node, 'POST', '/v1/contacts', 201, %T, body => $c);
	$id{ $r->{json}{data}{name} } = $r->{json}{data}{id};
}
sub names { return join ', ', map { $_->{name} } @{ $_[0]{json}{data} }; }

# q: prefix, case and accents aside; %-escapes decoded.
my $r = api($node, 'GET', '/v1/contacts?q=EMI%20zo', 200, %T);
is(names($r), 'Émile Zoë', 'q=EMI zo finds the accented name');
is($r->{json}{pagination}{total}, 1, 'q: the total counts the matches');
$r = api($node, 'GET', '/v1/contacts?q=%C3%A9mile', 200, %T);
is(names($r), 'Émile Zoë', 'q with an accent, UTF-8 percent-encoded');

# A filter and an order.
$r = api($node, 'GET', '/v1/contacts?type=PERSON&order=-name', 200, %T);
is(names($r), 'Émile Zoë, Bob Smith', 'type=PERSON&order=-name');
is($r->{json}{pagination}{total}, 2, 'filtered total');

# A cursor walk in name order, one per page.
my @walk;
my $path = '/v1/contacts?order=name&limit=1';
while (1)
{
	$r = api($node, 'GET', $path, 200, %T);
	push @walk, names($r);
	my $next = $r->{json}{pagination}{nextCursor} // last;
	$path = "/v1/contacts?order=name&limit=1&cursor=$next";
}
is(join(' | ', @walk), 'Acme Holdings | Bob Smith | Émile Zoë', 'a cursor walk by name');

# A cursor is signed: edited anywhere (a character of its body, which
# carries the name it stopped at, or of its signature), it is a 400 naming
# cursor, never another page.
$r = api($node, 'GET', '/v1/contacts?order=name&limit=1', 200, %T);
my $signed = $r->{json}{pagination}{nextCursor};
like($signed, qr/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{22}$/, 'a cursor is its body, a dot and a signature');
my $dot = index($signed, '.');
for my $pos (0, int($dot / 2), $dot - 1, $dot + 1, length($signed) - 1)
{
	my $edited = $signed;
	substr($edited, $pos, 1) = substr($signed, $pos, 1) eq 'A' ? 'B' : 'A';
	$r = api($node, 'GET', "/v1/contacts?order=name&limit=1&cursor=$edited", 400, %T,
		name => "cursor edited at $pos of " . length($signed));
	is($r->{json}{error}{field}, 'cursor', "cursor edited at $pos: the 400 names cursor");
	like($r->{json}{error}{message}, qr/^cursor expired or invalid: restart the listing/,
		"cursor edited at $pos: and says to restart the listing");
}
is(names(api($node, 'GET', "/v1/contacts?order=name&limit=1&cursor=$signed", 200, %T)), 'Bob Smith',
	'the cursor as it came still pages');

# Bad values: a 400 naming the parameter.
for my $bad (
	[ 'order=title', 'order' ], [ 'status=DRAFT', 'status' ], [ 'type=person', 'type' ],
	[ 'createdSince=2026-07-01', 'createdSince' ], [ 'updatedSince=yesterday', 'updatedSince' ],
	[ 'q=%21%21', 'q' ], [ 'stageId=1', 'stageId' ], [ 'color=red', 'color' ])
{
	$r = api($node, 'GET', "/v1/contacts?$bad->[0]", 400, %T);
	is($r->{json}{error}{field}, $bad->[1], "$bad->[0]: the error names $bad->[1]");
}
$r = api($node, 'GET', '/v1/matters?stageId=1', 400, %T);
is($r->{json}{error}{field}, 'stageId', 'matters: a bad stageId is named');
$r = api($node, 'GET', '/v1/contacts?order=name&limit=1', 200, %T);
$r = api($node, 'GET', '/v1/contacts?order=-name&cursor=' . $r->{json}{pagination}{nextCursor}, 400, %T);
is($r->{json}{error}{field}, 'cursor', 'a cursor sent with another order: 400 on cursor');

# Sync: delete one contact, then walk every change since the start.
api($node, 'DELETE', "/v1/contacts/$id{'Bob Smith'}", 204, %T);
is(names(api($node, 'GET', '/v1/contacts?order=name', 200, %T)), 'Acme Holdings, Émile Zoë',
	'a plain list hides the deleted contact');
my (%seen, $raw);
$path = '/v1/contacts?updatedSince=2000-01-01T00:00:00Z&order=updatedAt&limit=2';
while (1)
{
	$r = api($node, 'GET', $path, 200, %T);
	$raw //= $r->{content};
	$seen{ $_->{name} } = $_->{deletedAt} for @{ $r->{json}{data} };
	my $next = $r->{json}{pagination}{nextCursor} // last;
	$path = "/v1/contacts?updatedSince=2000-01-01T00:00:00Z&order=updatedAt&limit=2&cursor=$next";
}
is_deeply([ sort keys %seen ], [ 'Acme Holdings', 'Bob Smith', 'Émile Zoë' ], 'the sync walk sees every contact');
ok(defined $seen{'Bob Smith'} && $seen{'Bob Smith'} =~ /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/,
	'the deleted one with deletedAt');
ok(!defined $seen{'Acme Holdings'}, 'a live one with deletedAt null');
is(key_order($raw, 3)->[-1], 'deletedAt', 'deletedAt is the last field of a sync record');
ok(!grep({ $_ eq 'deletedAt' } @{ key_order(api($node, 'GET', '/v1/contacts', 200, %T)->{content}, 3) }),
	'no deletedAt outside a sync listing');

no_500();
$node->stop;
done_testing();
