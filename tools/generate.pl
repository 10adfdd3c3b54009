#!/usr/bin/env perl
# Writes what sql/registry.pl describes (docs/architecture.md, "From the
# registry to the scripts"):
#
#   generate.pl sql FILE    FILE of sql/code/ as it goes into the built
#                           scripts: each line "-- @generate <section>"
#                           replaced by that section's SQL, and each
#                           {{visible <resource> <alias>}} by the resource's
#                           visibility rule (tools/build-sql.sh calls this)
#   generate.pl header      the C header build/esq_registry.h: the routes,
#                           the scopes and their permission (the Makefile)
#   generate.pl section NAME   one section alone, to read it
#
# Every function, comment, ... comes out as the plain text a reader would
# have written, with its name on its CREATE line; nothing is generated when
# the extension is installed.  The templates are the sections below, one sub
# each; the registry says what differs between resources.
use strict;
use warnings;

use FindBin;

my $root = "$FindBin::RealBin/..";
my $reg = do "$root/sql/registry.pl";
die "generate.pl: sql/registry.pl: " . ($@ || $! || 'no data') . "\n" unless ref $reg;
my @resources = @{ $reg->{resources} };
my %resource = map { $_->{name} => $_ } @resources;
check_registry();

my %sections = (
    list_parameters => \&list_parameters,
    records => \&records,
    list_queries => \&list_queries,
    lists => \&lists,
    public_api => \&public_api,
    report_comments => \&report_comments,
    comments => \&comments,
    count_functions => \&count_functions,
    count_triggers => \&count_triggers,
    table_security => \&table_security,
    policies => \&policies,
    webhook_sources => \&webhook_sources,
);

my $mode = shift // '';
if ($mode eq 'sql') {
    my $file = shift or usage();
    print expand_file($file);
} elsif ($mode eq 'header') {
    print c_header();
} elsif ($mode eq 'section') {
    my $name = shift or usage();
    print section($name);
} else {
    usage();
}

sub usage {
    die "usage: generate.pl sql FILE | header | section NAME\n";
}

# ---------------------------------------------------------------------------
# The registry, and what follows from it
# ---------------------------------------------------------------------------

sub check_registry {
    my %known = map { $_ => 1 } qw(name path record read_only permission visible visible_row counted
                                   archived statuses list rename events no_bulk sub_list);
    for my $r (@resources) {
        for (qw(name path record statuses list)) {
            die "generate.pl: resource $r->{name}: no $_\n" unless defined $r->{$_};
        }
        for (keys %$r) {
            die "generate.pl: resource $r->{name}: unknown field $_\n" unless $known{$_};
        }
    }
    my %table_known = map { $_ => 1 } qw(table view comment common columns rls audited audited_columns
                                         firm_column visible policy target);
    my %policy_known = map { $_ => 1 } qw(select refs write row insert update delete);
    for my $t (@{ $reg->{tables} }, @{ $reg->{report_views} }) {
        for (keys %$t) {
            die "generate.pl: table $t->{table}: unknown field $_\n" unless $table_known{$_};
        }
        for (keys %{ $t->{policy} // {} }) {
            die "generate.pl: table $t->{table}: unknown policy field $_\n" unless $policy_known{$_};
        }
    }
}

# A resource's rule for who may see a row, with {row}. as alias. (an alias
# of '' leaves the columns bare, as a policy names them); 'true' if every
# row of the firm is visible.
sub visible {
    my ($r, $alias, $form) = @_;
    my $rule = $r->{$form // 'visible'} // $r->{visible};
    return 'true' unless defined $rule;
    my $prefix = $alias eq '' ? '' : "$alias.";
    $rule =~ s/\{row\}\./$prefix/g;
    return $rule;
}

sub noun { return $_[0]->{record} =~ s/_/ /gr; }
sub sql_list { return join ', ', map { "'$_'" } @_; }
sub sql_array { return '{' . join(',', @_) . '}'; }
sub quote { my $s = shift; $s =~ s/'/''/g; return "'$s'"; }

# The scopes, in the order of their bits in src/context.c: each resource's
# read, then write unless it is read-only; each with the permission its
# member must also hold.
sub scopes {
    return map { my $r = $_; map { ["$r->{path}:$_", $r->{permission}] }
                                 $r->{read_only} ? ('read') : ('read', 'write') } @resources;
}

# Fills a template: {{name}} takes $vars->{name}.
sub fill {
    my ($template, %vars) = @_;
    $template =~ s/\{\{(\w+)\}\}/defined $vars{$1} ? $vars{$1} : die "generate.pl: no value for {{$1}}\n"/ge;
    return $template;
}

# ---------------------------------------------------------------------------
# sql/code files
# ---------------------------------------------------------------------------

sub expand_file {
    my $file = shift;
    open my $fh, '<', $file or die "generate.pl: $file: $!\n";
    my $out = '';
    while (my $line = <$fh>) {
        if ($line =~ /^-- \@generate (\w+)\s*$/) {
            $out .= section($1);
            next;
        }
        $line =~ s{\{\{visible (\w+) (\w+)\}\}}{
            my $r = $resource{$1} or die "generate.pl: $file:$.: no resource $1\n";
            '(' . visible($r, $2) . ')' }ge;
        die "generate.pl: $file:$.: unknown {{...}}: $line" if $line =~ /\{\{\w/;
        $out .= $line;
    }
    return $out;
}

sub section {
    my $name = shift;
    my $gen = $sections{$name} or die "generate.pl: no section $name\n";
    return "-- generated by tools/generate.pl from sql/registry.pl: $name\n"
         . $gen->()
         . "-- end of $name\n";
}

# ---------------------------------------------------------------------------
# Sections of SQL
# ---------------------------------------------------------------------------

# esqase.list_parameters and esqase.list_statuses (10_core.sql).
sub list_parameters {
    my @with = grep { @{ $_->{list}{params} // [] } } @resources;
    my $whens = join '', map {
        sprintf "                        WHEN '%s' THEN ARRAY[%s]\n", $_->{path}, sql_list(@{ $_->{list}{params} })
    } @with;
    my @own = grep { "@{$_->{statuses}}" ne 'ACTIVE ARCHIVED' } @resources;
    my $statuses = join '', map {
        sprintf "           WHEN '%s' THEN '%s'::text[]\n", $_->{path}, sql_array(@{ $_->{statuses} })
    } @own;
    my %v = (paths => sql_list(map { $_->{path} } @resources), whens => $whens, statuses => $statuses);
    return fill(<<'SQL', %v);
CREATE OR REPLACE FUNCTION esqase.list_parameters(resource text) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN resource IN ({{paths}})
            THEN ARRAY['limit', 'offset', 'cursor', 'order', 'status', 'createdSince', 'updatedSince']
                 || CASE resource
{{whens}}                        ELSE '{}'::text[]
                    END
       END;

-- The values the status filter of a list takes (a record's status field).
CREATE OR REPLACE FUNCTION esqase.list_statuses(resource text) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE resource
{{statuses}}           ELSE '{ACTIVE,ARCHIVED}'::text[]
       END;
SQL
}

# One record's functions (36_records.sql).
sub records {
    my $out = '';
    for my $r (@resources) {
        my %v = (record => $r->{record}, table => $r->{name}, noun => noun($r), path => $r->{path},
                 visible => visible($r, 'r', 'visible_row'),
                 deleted => ($r->{archived} ? "status = '$r->{archived}', " : '') . 'deleted_at = now()');
        $out .= fill(<<'SQL', %v);

CREATE OR REPLACE FUNCTION esqase.{{record}}_one(firm uuid, record_id uuid) RETURNS esqase.answer
LANGUAGE plpgsql STABLE AS $$
DECLARE
    doc json;
    version timestamptz;
BEGIN
    SELECT d.doc, t.updated_at INTO doc, version
      FROM esqase.{{record}}_docs(firm, ARRAY[record_id]) d
      JOIN esqase.{{table}} t ON t.firm_id = firm AND t.id = record_id;
    RETURN esqase.answer_of(doc, version);
END
$$;
SQL
        next if $r->{read_only};    # inactive members included (35_members.sql)
        $out .= fill(<<'SQL', %v);

CREATE OR REPLACE FUNCTION esqase.{{record}}_find(firm uuid, record_id uuid, field text DEFAULT NULL,
                                            for_update boolean DEFAULT false,
                                            expected timestamptz DEFAULT NULL)
RETURNS esqase.{{table}} LANGUAGE plpgsql AS $$
DECLARE
    rec esqase.{{table}};
BEGIN
    -- who may see the row is part of the query (one plan, no second
    -- statement to evaluate it); a write names its record, which a key
    -- with the write scope alone then reaches (esqase.target)
    IF for_update THEN
        record_id := esqase.target(record_id);    -- an expression, not a query
        SELECT * INTO rec FROM esqase.{{table}} r
         WHERE r.firm_id = firm AND r.id = record_id AND r.deleted_at IS NULL AND ({{visible}}) FOR UPDATE;
    ELSE
        SELECT * INTO rec FROM esqase.{{table}} r
         WHERE r.firm_id = firm AND r.id = record_id AND r.deleted_at IS NULL AND ({{visible}});
    END IF;
    IF NOT FOUND THEN
        IF field IS NULL THEN
            PERFORM esqase.not_found('{{noun}}', record_id);
        END IF;
        PERFORM esqase.fail('23514', format('%s: %s %s not found', field, '{{noun}}', record_id), field);
    END IF;
    IF expected IS NOT NULL THEN
        PERFORM esqase.check_version('{{noun}}', record_id, rec.updated_at, expected);
    END IF;
    RETURN rec;
END
$$;

-- One statement: the row, who may see it and its version, with its document
-- (not {{record}}_find then {{record}}_one, which read the row three times).
CREATE OR REPLACE FUNCTION esqase.{{table}}_get(id uuid) RETURNS esqase.answer
LANGUAGE plpgsql STABLE AS $$
DECLARE
    firm uuid := esqase.api_access('{{path}}', 'read');
    doc json;
    version timestamptz;
BEGIN
    SELECT d.doc, r.updated_at INTO doc, version
      FROM esqase.{{table}} r
     CROSS JOIN LATERAL esqase.{{record}}_docs(firm, ARRAY[r.id]) d
     -- $1, not {{table}}_get.id: a label that a renamed function would lose
     WHERE r.firm_id = firm AND r.id = $1 AND r.deleted_at IS NULL AND ({{visible}});
    IF NOT FOUND THEN
        PERFORM esqase.not_found('{{noun}}', id);
    END IF;
    RETURN esqase.answer_of(doc, version);
END
$$;

CREATE OR REPLACE FUNCTION esqase.{{table}}_delete(id uuid, expected_updated_at timestamptz DEFAULT NULL)
RETURNS esqase.answer LANGUAGE plpgsql AS $$
DECLARE
    firm uuid := esqase.api_access('{{path}}', 'write');
    deleted uuid := (esqase.{{record}}_find(firm, id, NULL, true, expected_updated_at)).id;
BEGIN
    UPDATE esqase.{{table}} t SET {{deleted}} WHERE t.firm_id = firm AND t.id = deleted;
    RETURN esqase.{{record}}_one(firm, deleted);
END
$$;
SQL
    }
    for my $r (grep { $_->{rename} } @resources) {
        my %v = (record => $r->{record}, table => $r->{name}, path => $r->{path},
                 fixed => sql_array(@{ $r->{rename} }));
        $out .= fill(<<'SQL', %v);

CREATE OR REPLACE FUNCTION esqase.{{table}}_update(id uuid, body jsonb, expected_updated_at timestamptz DEFAULT NULL)
RETURNS esqase.answer LANGUAGE plpgsql AS $$
DECLARE
    firm uuid := esqase.api_access('{{path}}', 'write');
    record_id uuid;
    new_name text;
BEGIN
    PERFORM esqase.check_body(body, '{name}', '{{fixed}}');
    record_id := (esqase.{{record}}_find(firm, id, NULL, true, expected_updated_at)).id;
    IF body ? 'name' THEN
        new_name := btrim(esqase.body_text(body, 'name', true, 200));
        -- a rename to the same name writes nothing (updatedAt, audit log)
        UPDATE esqase.{{table}} t SET name = new_name
         WHERE t.firm_id = firm AND t.id = record_id AND t.name IS DISTINCT FROM new_name;
    END IF;
    RETURN esqase.{{record}}_one(firm, record_id);
END
$$;
SQL
    }
    return $out;
}

# The page query and the filtered count of every list (39_lists.sql).
sub list_queries {
    my $out = '';
    for my $r (@resources) {
        $out .= fill(<<'SQL', list => $r->{name});

CREATE OR REPLACE FUNCTION esqase.{{list}}_keys(firm uuid, r esqase.page_request) RETURNS esqase.page_key[]
LANGUAGE plpgsql STABLE SET plan_cache_mode = force_custom_plan AS $b$
BEGIN
    RETURN ARRAY(SELECT esqase.list_key(r, k.created_at, k.updated_at, k.name, k.rank, k.id, k.deleted_at)
                   FROM esqase.{{list}}_matching(firm, r) k
                  WHERE esqase.list_after(r, k.created_at, k.updated_at, k.name, k.rank, k.id)
                  ORDER BY esqase.sort_rank(r, k.rank) DESC,
                           esqase.sort_at(r, false, k.created_at, k.updated_at),
                           esqase.sort_at(r, true, k.created_at, k.updated_at) DESC,
                           esqase.sort_name(r, false, k.name), esqase.sort_name(r, true, k.name) DESC,
                           esqase.sort_id(r, false, k.id), esqase.sort_id(r, true, k.id) DESC
                  LIMIT r.lim + 1 OFFSET r.off);
END
$b$;

CREATE OR REPLACE FUNCTION esqase.{{list}}_count(firm uuid, r esqase.page_request) RETURNS bigint
LANGUAGE plpgsql STABLE SET plan_cache_mode = force_custom_plan AS $b$
BEGIN
    RETURN (SELECT count(*) FROM esqase.{{list}}_matching(firm, r) k);
END
$b$;
SQL
    }
    return $out;
}

# The list functions (39_lists.sql).
sub lists {
    my $out = '';
    for my $r (@resources) {
        my $l = $r->{list};
        my @plain = grep { defined } ($l->{where}, $l->{with_deleted} ? undef : 't.deleted_at IS NULL',
                                      $r->{visible} ? '(' . visible($r, 't') . ')' : undef);
        my $check = $l->{check} // '';
        chomp $check;
        my %v = (list => $r->{name}, path => $r->{path}, record => $r->{record},
                 plain => @plain ? join(' AND ', @plain) : 'true', total => $l->{total}, check => $check);
        $out .= fill(<<'SQL', %v);

CREATE OR REPLACE FUNCTION esqase.{{list}}_list(params jsonb) RETURNS json
LANGUAGE plpgsql STABLE SET plan_cache_mode = force_generic_plan AS $b$
DECLARE
    firm uuid := esqase.api_access('{{path}}', 'read');
    page esqase.page_request := esqase.list_request(params, '{{path}}');
    keys esqase.page_key[];
BEGIN
    {{check}}
    IF page.plain THEN
        keys := ARRAY(SELECT ROW(k.created_at, k.id, NULL, NULL, NULL)::esqase.page_key
                       FROM (SELECT t.created_at, t.id FROM esqase.{{list}} t
                         WHERE t.firm_id = firm AND {{plain}}
                           AND (t.created_at, t.id) > ((page.after).at, (page.after).id)
                         ORDER BY t.created_at, t.id LIMIT page.lim + 1 OFFSET page.off) k);
    ELSE
        keys := esqase.{{list}}_keys(firm, page);
    END IF;
    RETURN esqase.list_json('{{list}}', page, keys,
        (SELECT json_agg(esqase.list_doc(page, keys[d.n], d.doc) ORDER BY d.n)
           FROM esqase.{{record}}_docs(firm, esqase.page_ids(keys, page.lim)) d),
        CASE WHEN NOT esqase.list_filtered(page) THEN {{total}} ELSE esqase.{{list}}_count(firm, page) END);
END
$b$;
SQL
    }
    return $out;
}

# The public SQL API, esqase_<resource>_<action> (92_public_api.sql).
sub public_api {
    my @actions = (
        # action, arguments, call arguments, volatility, what the call returns:
        # a page (json), or one record's esqase.answer whose body is returned
        ['list', q{params jsonb DEFAULT '{}'}, 'params', 'STABLE', 'json'],
        ['create', 'body jsonb, idempotency_key text DEFAULT NULL', 'body, idempotency_key', 'VOLATILE', 'answer'],
        ['get', 'id uuid', 'id', 'STABLE', 'answer'],
        ['update', 'id uuid, body jsonb, expected_updated_at timestamptz DEFAULT NULL',
         'id, body, expected_updated_at', 'VOLATILE', 'answer'],
        ['delete', 'id uuid, expected_updated_at timestamptz DEFAULT NULL', 'id, expected_updated_at', 'VOLATILE',
         'answer'],
        ['create_many', 'bodies jsonb', 'bodies', 'VOLATILE', 'json'],
    );
    my $out = '';
    for my $r (@resources) {
        for my $a (@actions) {
            next if $r->{read_only} && $a->[0] ne 'list' && $a->[0] ne 'get';
            next if $r->{no_bulk} && $a->[0] eq 'create_many';
            my $call = "esqase.$r->{name}_$a->[0]($a->[2])";
            $call = "($call).body" if $a->[4] eq 'answer';
            $out .= "CREATE OR REPLACE FUNCTION esqase_$r->{name}_$a->[0]($a->[1]) RETURNS jsonb "
                  . "LANGUAGE sql $a->[3] RETURN ${call}::jsonb;\n";
        }
    }
    return $out;
}

# The count triggers' functions, one per resource with counted lists
# (20_triggers.sql): the text differs between them only in the table's row
# type and its lists.
sub count_functions {
    my $out = '';
    for my $r (grep { $_->{counted} } @resources) {
        my %v = (table => $r->{name}, lists => quote(sql_array(@{ $r->{counted} })));
        $out .= fill(<<'SQL', %v);

CREATE OR REPLACE FUNCTION esqase.count_{{table}}() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $b$
BEGIN
    IF esqase.restoring(TG_RELID) THEN
        RETURN NULL;    -- the counts come with the dump
    END IF;
    IF TG_OP = 'INSERT' THEN
        PERFORM esqase.count_defer(x.firm_id, l.list, sum(x.n)::bigint)
           FROM (SELECT r.firm_id, esqase.counted_in(r::esqase.{{table}}) AS lists, count(*) AS n
                   FROM new_rows r GROUP BY 1, 2) x, unnest(x.lists) l (list)
          GROUP BY x.firm_id, l.list;
    ELSIF TG_OP = 'UPDATE' THEN
        PERFORM esqase.count_defer(x.firm_id, l.list, sum(x.n)::bigint)
           FROM (SELECT y.firm_id, y.lists, sum(y.d) AS n
                   FROM (SELECT r.firm_id, esqase.counted_in(r::esqase.{{table}}) AS lists, 1 AS d
                           FROM new_rows r
                         UNION ALL
                         SELECT r.firm_id, esqase.counted_in(r::esqase.{{table}}), -1
                           FROM old_rows r) y
                  GROUP BY 1, 2) x, unnest(x.lists) l (list)
          GROUP BY x.firm_id, l.list HAVING sum(x.n) <> 0;
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM esqase.count_defer(x.firm_id, l.list, -sum(x.n)::bigint)
           FROM (SELECT r.firm_id, esqase.counted_in(r::esqase.{{table}}) AS lists, count(*) AS n
                   FROM old_rows r GROUP BY 1, 2) x, unnest(x.lists) l (list)
          GROUP BY x.firm_id, l.list;
    ELSE
        DELETE FROM esqase.record_counts WHERE list = ANY ({{lists}}::text[]);
        PERFORM esqase.count_cancel({{lists}}::text[]);
    END IF;
    RETURN NULL;
END
$b$;
SQL
    }
    return $out;
}

# The count triggers, <table>_count_insert, _update, _delete, _truncate:
# one per event, since a trigger with transition tables serves one event.
sub count_triggers {
    my @events = (
        ['insert', 'INSERT', 'REFERENCING NEW TABLE AS new_rows '],
        ['update', 'UPDATE', 'REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows '],
        ['delete', 'DELETE', 'REFERENCING OLD TABLE AS old_rows '],
        ['truncate', 'TRUNCATE', ''],
    );
    my $out = '';
    for my $r (grep { $_->{counted} } @resources) {
        for my $e (@events) {
            $out .= "CREATE OR REPLACE TRIGGER $r->{name}_count_$e->[0] AFTER $e->[1] ON esqase.$r->{name}\n"
                  . "    $e->[2]FOR EACH STATEMENT EXECUTE FUNCTION esqase.count_$r->{name}();\n";
        }
    }
    return $out;
}

# Row-level security, pg_dump registration, and the updated_at and audit
# triggers (updates and deletes per row, inserts per statement) of every
# table that has them (90_security.sql).
sub table_security {
    my $out = '';
    for my $t (grep { $_->{rls} } @{ $reg->{tables} }) {
        my $name = "esqase.$t->{table}";
        $out .= "ALTER TABLE $name ENABLE ROW LEVEL SECURITY;\n"
              . "ALTER TABLE $name FORCE ROW LEVEL SECURITY;\n"
              . "SELECT pg_catalog.pg_extension_config_dump('$name', '');\n";
        next unless $t->{audited};
        my $of = $t->{audited_columns} ? " OF $t->{audited_columns}" : '';
        $out .= "CREATE OR REPLACE TRIGGER $t->{table}_updated_at BEFORE UPDATE$of ON $name\n"
              . "    FOR EACH ROW EXECUTE FUNCTION esqase.touch_updated_at();\n"
              . "CREATE OR REPLACE TRIGGER $t->{table}_audit AFTER DELETE OR UPDATE$of ON $name\n"
              . "    FOR EACH ROW EXECUTE FUNCTION esqase.audit();\n"
              . "CREATE OR REPLACE TRIGGER $t->{table}_audit_insert AFTER INSERT ON $name\n"
              . "    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION esqase.audit_insert();\n";
    }
    return $out;
}

# A policy's condition: the registry's text with its words expanded.
#   {{may <scope>}}          the context may use the scope
#   {{read <path>}}          the resource's read or write scope
#   {{visible <resource>}}   who may see the row (its visible_row rule, or
#                            visible), columns bare
#   {{visible}}              the table's own visible rule
#   {{new_row <resource>}}   a new row of a resource with soft deletes: live,
#                            or deleted by this transaction with the status
#                            a delete sets
#   {{reach <path>}}         the resource's read scope, or its write scope for
#                            a row the context named (esqase.target: the
#                            table's target column, id by default; live or
#                            deleted now, where the table has deleted_at)
#   {{count_scope}}          record_counts: the read scope of a list's resource
sub policy_condition {
    my ($text, $t, $where) = @_;
    $text =~ s{\{\{(\w+)(?: ([\w:-]+))?\}\}}{ policy_word($1, $2, $t, $where) }ge;
    return $text;
}

sub policy_word {
    my ($word, $arg, $t, $where) = @_;
    my $res = sub {
        my $r = $resource{ $_[0] } // (grep { $_->{path} eq $_[0] } @resources)[0];
        return $r // die "generate.pl: $where: no resource $_[0]\n";
    };
    if ($word eq 'may') {
        return "esqase.context_may('$arg')";
    } elsif ($word eq 'read') {
        my $r = $res->($arg);
        return "(esqase.context_may('$r->{path}:read') OR esqase.context_may('$r->{path}:write'))";
    } elsif ($word eq 'reach') {
        my $r = $res->($arg);
        my $deleted = (grep { $_ eq 'deleted_at' } @{ $t->{common} // [] }) ? 'deleted_at' : 'NULL';
        return "esqase.context_reaches('$r->{path}', " . ($t->{target} // 'id') . ", $deleted)";
    } elsif ($word eq 'visible' && !defined $arg) {
        return '(' . ($t->{visible} // die "generate.pl: $where: the table has no visible rule\n") . ')';
    } elsif ($word eq 'visible') {
        return '(' . visible($res->($arg), '', 'visible_row') . ')';
    } elsif ($word eq 'new_row') {
        my $r = $res->($arg);
        return '(deleted_at IS NULL OR deleted_at = now())' unless $r->{archived};
        return "(deleted_at IS NULL OR (deleted_at = now() AND status = '$r->{archived}'))"
            unless "@{$r->{statuses}}" eq "ACTIVE $r->{archived}";
        return "((deleted_at IS NULL AND status = 'ACTIVE') OR (deleted_at = now() AND status = '$r->{archived}'))";
    } elsif ($word eq 'count_scope') {
        my $whens = join ' ', map { my $r = $_; map { "WHEN '$_' THEN '$r->{path}:read'" } @{ $r->{counted} } }
                              grep { $_->{counted} } @resources;
        return "esqase.context_may(CASE list $whens END)";
    }
    die "generate.pl: $where: unknown {{$word}}\n";
}

# The row-level security policies of every table (90_security.sql), per
# command: each starts with the firm of the context (firms: its id).
#   select   who sees a row (FOR SELECT)
#   refs     what the reference views' owner, esqase_refs, sees of it
#   write    the scope that writes it (absent: the API role does not)
#   row      the rule an updated or deleted row must also pass
#   insert   the check of a new row (absent: the write scope)
#   update   what an updated row must also pass
#   delete   what a deleted row must also pass
sub policies {
    my $out = '';
    for my $t (grep { $_->{policy} } @{ $reg->{tables} }) {
        my $p = $t->{policy};
        my ($name, $tbl) = ("esqase.$t->{table}", $t->{table});
        my $firm = ($t->{firm_column} // 'firm_id') . ' = esqase.context_firm()';
        my $c = sub { my $k = shift; policy_condition($p->{$k}, $t, "$tbl policy $k") };
        $out .= "CREATE POLICY ${tbl}_select ON $name FOR SELECT\n"
              . "    USING ($firm AND (" . $c->('select') . "));\n";
        $out .= "CREATE POLICY ${tbl}_refs ON $name FOR SELECT TO esqase_refs\n"
              . "    USING ($firm AND (" . $c->('refs') . "));\n" if defined $p->{refs};
        next unless defined $p->{write};
        my $w = "esqase.context_may('$p->{write}')";
        my $row = defined $p->{row} ? ' AND ' . $c->('row') : '';
        my $upd = defined $p->{update} ? ' AND ' . $c->('update') : '';
        my $del = defined $p->{delete} ? ' AND (' . $c->('delete') . ')' : '';
        $out .= "CREATE POLICY ${tbl}_insert ON $name FOR INSERT\n"
              . "    WITH CHECK ($firm AND (" . (defined $p->{insert} ? $c->('insert') : $w) . "));\n"
              . "CREATE POLICY ${tbl}_update ON $name FOR UPDATE\n"
              . "    USING ($firm AND ($w)$row)\n"
              . "    WITH CHECK ($firm AND ($w)$upd);\n"
              . "CREATE POLICY ${tbl}_delete ON $name FOR DELETE\n"
              . "    USING ($firm AND ($w)$row$del);\n";
    }
    return $out;
}

# What makes the resources with events webhook sources (41_webhooks.sql):
# for each, its branch of esqase.webhook_may_read, its event function
# (esqase.<name>_webhook_event: the event row, with the record rendered as
# its <record>_docs shows it, written at commit) and the three deferred
# constraint triggers on its table, one per event type, each queued only
# when its WHEN holds: a live webhook of the row's firm listens.
sub webhook_sources {
    my @src = grep { $_->{events} } @resources;
    my $reads = join '', map {
        "        WHEN '$_->{path}' THEN EXISTS (SELECT FROM esqase.$_->{name} t WHERE t.firm_id = firm AND t.id = record_id)\n"
    } @src;
    my $types = sql_array(map { my $p = $_->{path}; map { "$p.$_" } qw(created updated deleted) } @src);
    my $out = fill(<<'SQL', reads => $reads, types => $types);

-- The event types a webhook may subscribe to.
CREATE OR REPLACE FUNCTION esqase.webhook_event_types() RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN '{{types}}'::text[];

-- Whether the context's key may read the record now (its scopes, its
-- member's private leads): the delivery worker asks it as the API role in
-- the webhook key's context, where the table's select policy answers.
CREATE OR REPLACE FUNCTION esqase.webhook_may_read(resource text, firm uuid, record_id uuid) RETURNS boolean
LANGUAGE sql STABLE
RETURN CASE resource
{{reads}}        ELSE false
       END;
SQL
    for my $r (@src) {
        my %v = (name => $r->{name}, path => $r->{path}, record => $r->{record});
        $out .= fill(<<'SQL', %v);

-- {{path}}: the event row of one queued change (TG_ARGV[0]: its type),
-- with the record as it is at commit (null if it is gone by then).
CREATE OR REPLACE FUNCTION esqase.{{name}}_webhook_event() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $b$
BEGIN
    INSERT INTO esqase.webhook_events (firm_id, type, record_id, data)
    VALUES (NEW.firm_id, TG_ARGV[0], NEW.id,
            (SELECT esqase.with_deleted_at(d.doc, t.deleted_at)
               FROM esqase.{{record}}_docs(NEW.firm_id, ARRAY[NEW.id]) d, esqase.{{name}} t
              WHERE t.firm_id = NEW.firm_id AND t.id = NEW.id));
    PERFORM esqase.webhook_wake();
    RETURN NULL;
END
$b$;
DROP TRIGGER IF EXISTS {{name}}_webhook_insert ON esqase.{{name}};
CREATE CONSTRAINT TRIGGER {{name}}_webhook_insert AFTER INSERT ON esqase.{{name}}
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (NOT esqase.restoring('esqase.{{name}}')
          AND esqase.webhook_listens(NEW.firm_id, '{{path}}.created'))
    EXECUTE FUNCTION esqase.{{name}}_webhook_event('{{path}}.created');
DROP TRIGGER IF EXISTS {{name}}_webhook_update ON esqase.{{name}};
CREATE CONSTRAINT TRIGGER {{name}}_webhook_update AFTER UPDATE ON esqase.{{name}}
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN ((OLD.deleted_at IS NOT NULL OR NEW.deleted_at IS NULL)
          AND esqase.webhook_listens(NEW.firm_id, '{{path}}.updated')
          AND jsonb_populate_record(NEW, jsonb_build_object('updated_at', OLD.updated_at)) *<> OLD)
    EXECUTE FUNCTION esqase.{{name}}_webhook_event('{{path}}.updated');
DROP TRIGGER IF EXISTS {{name}}_webhook_delete ON esqase.{{name}};
CREATE CONSTRAINT TRIGGER {{name}}_webhook_delete AFTER UPDATE ON esqase.{{name}}
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (OLD.deleted_at IS NULL AND NEW.deleted_at IS NOT NULL
          AND esqase.webhook_listens(NEW.firm_id, '{{path}}.deleted'))
    EXECUTE FUNCTION esqase.{{name}}_webhook_event('{{path}}.deleted');
SQL
    }
    return $out;
}

# COMMENT ON every table or view of a list and its columns: its own
# comments, then the common wording for the common columns it names.
sub comment_statements {
    my ($schema, $tables, $common, $default_kind) = @_;
    my $out = '';
    for my $t (@$tables) {
        my $name = "$schema.$t->{table}";
        my $kind = $t->{view} ? 'VIEW' : $default_kind;
        $out .= "COMMENT ON $kind $name IS " . quote($t->{comment}) . ";\n" if defined $t->{comment};
        my @cols = @{ $t->{columns} // [] };
        while (my ($col, $text) = splice @cols, 0, 2) {
            $out .= "COMMENT ON COLUMN $name.$col IS " . quote($text) . ";\n";
        }
        for my $col (@{ $t->{common} // [] }) {
            my $text = $common->{$col} // die "generate.pl: $name: no common wording for $col\n";
            $out .= "COMMENT ON COLUMN $name.$col IS " . quote($text) . ";\n";
        }
    }
    return $out;
}

sub comments {
    return comment_statements('esqase', $reg->{tables}, $reg->{common}, 'TABLE');
}

sub report_comments {
    return comment_statements('esqase_report', $reg->{report_views}, $reg->{report_common}, 'VIEW');
}

# ---------------------------------------------------------------------------
# The C header
# ---------------------------------------------------------------------------

sub c_header {
    my @scopes = scopes();
    my $routes = join ", \\\n", map {
        sprintf "\t{\"%s\", \"%s\", %s, %s}", $_->{path}, $_->{name}, $_->{read_only} ? 'true' : 'false',
            $_->{sub_list} ? "\"$_->{sub_list}\"" : 'NULL'
    } @resources;
    my $scopes = join ", \\\n", map {
        sprintf "\t{\"%s\", %s}", $_->[0], defined $_->[1] ? "\"$_->[1]\"" : 'NULL'
    } @scopes;
    my %v = (nroutes => scalar(@resources), routes => $routes, nscopes => scalar(@scopes), scopes => $scopes);
    return fill(<<'C', %v);
/*
 * esq_registry.h: generated by tools/generate.pl from sql/registry.pl (run
 * make); edit that file, not this one.  The resources as the C side needs
 * them; the SQL side is generated from the same registry.
 */
#ifndef ESQ_REGISTRY_H
#define ESQ_REGISTRY_H

/*
 * The routes, one per resource: /v1/<path> and /v1/<path>/{id}.  Each is
 * {path, SQL name, read-only (GET only), sub-list (/v1/<path>/{id}/<sub>)
 * or NULL}, the initializer of an EsqRoute.  A route the installed SQL
 * lacks (an upgrade not yet run) is answered 503 (src/http_sql.c).
 */
#define ESQ_NROUTES {{nroutes}}
#define ESQ_ROUTES \
{{routes}}

/*
 * The scopes a key can hold, in the order of their bits in the API
 * context (src/context.c): each resource's read, then its write unless it
 * is read-only.  Each is {name, the permission the key's member must also
 * hold (owners hold them all), or NULL}.
 */
#define ESQ_NSCOPES {{nscopes}}
#define ESQ_SCOPES \
{{scopes}}

#endif							/* ESQ_REGISTRY_H */
C
}
