# 094_settings_docs.pl — the settings tables of the docs are true.
#
# Every esqase.* setting the server defines (pg_settings, with the library
# preloaded) has a row in docs/http-api.md "Settings" whose default, range
# and reload behaviour are what the server says, and no row names a setting
# that does not exist; the README's short table names real settings with
# their real defaults; operations.md points to the one full table instead of
# keeping its own.  The expected cell is printed on a mismatch, so a new
# setting is documented by copying it.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use EsqaseHttp;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $root = "$FindBin::RealBin/../..";
my $node = esq_node('settings');
$node->start;

my %setting;
for my $line (split /\n/, $node->safe_psql('postgres', q{
		SELECT name, vartype, coalesce(unit, ''), coalesce(boot_val, ''), context,
		       coalesce(min_val, ''), coalesce(max_val, '')
		  FROM pg_settings WHERE name LIKE 'esqase.%' ORDER BY name}))
{
	my ($name, $type, $unit, $boot, $context, $min, $max) = split /\|/, $line, -1;
	$setting{$name} = { type => $type, unit => $unit, boot => $boot, context => $context,
		min => $min, max => $max };
}
cmp_ok(scalar(keys %setting), '>=', 20, 'the server defines the esqase settings');

# A value as the docs write it: the largest unit that divides it exactly,
# as PostgreSQL's SHOW does (30s, 5min, 1MB, 64kB).
sub with_unit
{
	my ($v, $unit) = @_;
	return $v if $unit eq '' || $v !~ /^-?\d+$/ || $v <= 0;
	my @scale = $unit eq 'ms' ? ([ 86400000, 'd' ], [ 3600000, 'h' ], [ 60000, 'min' ], [ 1000, 's' ], [ 1, 'ms' ])
	  : $unit eq 's' ? ([ 86400, 'd' ], [ 3600, 'h' ], [ 60, 'min' ], [ 1, 's' ])
	  : $unit eq 'kB' ? ([ 1048576, 'GB' ], [ 1024, 'MB' ], [ 1, 'kB' ])
	  : $unit eq 'B' ? ([ 1073741824, 'GB' ], [ 1048576, 'MB' ], [ 1024, 'kB' ], [ 1, 'B' ])
	  : die "unit $unit";
	for my $s (@scale)
	{
		return ($v / $s->[0]) . $s->[1] if $v % $s->[0] == 0;
	}
}

sub default_cell
{
	my $s = shift;
	return 'empty' if $s->{boot} eq '';
	return "`" . with_unit($s->{boot}, $s->{unit}) . "`";
}

sub range_cell
{
	my $s = shift;
	return '' unless $s->{type} eq 'integer' || $s->{type} eq 'real';
	return with_unit($s->{min}, $s->{unit}) . '–' . with_unit($s->{max}, $s->{unit});
}

my %when = (postmaster => 'postmaster', sighup => 'reload', superuser => 'session', user => 'session');

# The rows of the table under a heading: name => [cells].
sub table_rows
{
	my ($file, $heading) = @_;
	my $text = slurp_file("$root/$file");
	my ($section) = $text =~ /^## \Q$heading\E\n(.*?)(?=^## |\z)/ms;
	ok(defined $section, "$file has a section \"$heading\"") or return {};
	my %rows;
	for my $line (split /\n/, $section)
	{
		next unless $line =~ /^\| `(esqase\.[a-z_]+)` \|/;
		my @cells = map { s/^\s+|\s+$//gr } split /\|/, $line;
		shift @cells;    # before the first |
		$rows{$1} = \@cells;
	}
	return \%rows;
}

# docs/http-api.md, "Settings": | GUC | default | range | when | meaning |
my $rows = table_rows('docs/http-api.md', 'Settings');
for my $name (sort keys %setting)
{
	my $s = $setting{$name};
	my $row = $rows->{$name};
	ok($row, "http-api.md documents $name")
	  or diag(sprintf("add: | `%s` | %s | %s | %s | ... |", $name, default_cell($s), range_cell($s),
			$when{ $s->{context} } // $s->{context}));
	next unless $row;
	is($row->[1], default_cell($s), "http-api.md: the default of $name");
	is($row->[2], range_cell($s), "http-api.md: the range of $name");
	is($row->[3], $when{ $s->{context} } // $s->{context}, "http-api.md: when $name takes effect");
}
ok(!exists $setting{$_}, "http-api.md documents only real settings: $_ does not exist")
  for grep { !exists $setting{$_} } sort keys %$rows;

# README: | setting(s) | default(s) | meaning |, several settings to a row.
my $readme = slurp_file("$root/README.md");
my $in_readme = 0;
for my $line (split /\n/, $readme)
{
	next unless $line =~ /^\| (`esqase\.[a-z_]+`(?:, `esqase\.[a-z_]+`)*) \| ([^|]+) \|/;
	my ($names_cell, $defaults_cell) = ($1, $2);
	my @names = $names_cell =~ /`(esqase\.[a-z_]+)`/g;
	my @defaults = split /, /, $defaults_cell =~ s/\s+$//r;
	is(scalar(@defaults), scalar(@names), "README: one default for each of @names");
	for my $i (0 .. $#names)
	{
		my $s = $setting{ $names[$i] };
		ok($s, "README names a real setting: $names[$i]") or next;
		$in_readme++;
		# the value, without the words that may follow it: "0 (off)", "(empty)";
		# a long default is only named there, "(Mozilla ...)", and given in http-api.md
		my $cell = $defaults[$i] // '';
		next if $cell =~ /^\((?!empty\)).*\)$/;
		my $value = $cell =~ /^\(empty\)$/ ? 'empty' : '`' . ($cell =~ s/ \(.*\)$//r =~ s/`//gr) . '`';
		is($value, default_cell($s), "README: the default of $names[$i]");
	}
}
cmp_ok($in_readme, '>=', 20, 'the README lists the settings');

# operations.md keeps no table of its own (one table, checked here).
my $ops = slurp_file("$root/docs/operations.md");
ok($ops !~ /^\| `esqase\.(?:http_|database|idempotency|allow_drop)[a-z_]*` \| `?[^|]*`? \|/m,
	'operations.md has no settings table of its own');
like($ops, qr/http-api\.md#settings|http-api\.md\), "Settings"|http-api\.md, "Settings"/,
	'operations.md points to the settings table of http-api.md');

$node->stop;
done_testing();
