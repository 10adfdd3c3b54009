#!/usr/bin/env bash
# The whole test suite: pg_regress (SQL API, plpgsql_check), pg_isolation_regress
# (concurrency) and TAP (real server, real HTTP).  Each suite starts its own
# temporary cluster.  Run as root on Debian 12: it installs the dependencies,
# then builds and installs the extension from a copy of the tree (the source
# tree is left as it is) and runs the suites there as the postgres user
# (PostgreSQL refuses to run as root).  WERROR=1 (as CI sets) fails the build
# on any compiler warning.
#
# The system's PostgreSQL is left alone: the extension is installed into a
# private copy of the server's installation (tools/private-install.sh), and
# every suite runs that copy's binaries.  Several checkouts can be tested at
# once.
#
# Part of the suite, while developing (the same build and temporary install):
#   tools/test.sh sql            pg_regress and isolation only (REGRESS="00_setup 10_contacts" ISOLATION= narrows it)
#   tools/test.sh tap            TAP only (PROVE_TESTS="test/t/001_http_api.pl" narrows it)
#   tools/test.sh bench          the benchmark smoke only
# with no argument, all three (what CI runs).
#
# ESQASE_VALGRIND=1 runs every server of the suites under valgrind's
# memcheck (the private installation's postgres starts it): an error in
# esqase.so or a library it calls (libmicrohttpd, jansson, gnutls) fails the
# run.  Many times slower: for new C code, with PROVE_TESTS narrowing it.
# It sees malloc'd memory (the workers' connections and held answers,
# libmicrohttpd's); Debian's PostgreSQL is not built for valgrind, so misuse
# of palloc'd memory inside PostgreSQL's blocks stays invisible to it.
# (AddressSanitizer cannot be preloaded into Debian's postgres: it deadlocks
# in bindtextdomain at start.)
# The whole script is one block, read before it runs: editing this file
# while a run of it goes on does not change that run.
{
set -uo pipefail
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "test.sh: run as root (or as a user with sudo)" >&2; exit 1; }
    exec sudo --preserve-env=WERROR,ESQASE_VALGRIND,REGRESS,ISOLATION,PROVE_TESTS,ESQASE_RSS_REQUESTS,ESQASE_BIG_ROWS,ESQASE_ONE_TX_RECORDS "$0" "$@"
fi
# Every cluster the suites start is UTF-8 whatever this shell's locale is
# (initdb takes it from the environment; a fresh machine may have none, and
# SQL_ASCII cannot hold the API's text).  Each category is set, not LC_ALL:
# pg_regress and PostgreSQL's TAP modules unset LC_ALL, and on a fresh
# machine with no LANG its clusters were then made in locale C, SQL_ASCII.
export LANG=C.UTF-8 LC_CTYPE=C.UTF-8 LC_COLLATE=C.UTF-8 LC_NUMERIC=C.UTF-8 \
    LC_TIME=C.UTF-8 LC_MONETARY=C.UTF-8
unset LC_ALL
suites=${*:-sql tap bench}
wants() { [[ " $suites " == *" $1 "* ]]; }
# Narrowing variables reach make on its command line (the Makefile's own
# assignments win over the environment).
narrow=()
for v in REGRESS ISOLATION PROVE_TESTS; do
    [ -n "${!v+set}" ] && narrow+=("$v=${!v}")
done
here=$(cd "$(dirname "$0")/.." && pwd)
"$here/tools/install-deps.sh" --test || exit 1

work=$(mktemp -d /tmp/esqase-test.XXXXXX)
# The tree without its build outputs, and the OpenAPI validator's 170 MB of
# node_modules linked rather than copied (read only, by 018).
tar -C "$here" -cf - --exclude=./test/openapi/node_modules --exclude=./.git \
    --exclude='*.o' --exclude='*.bc' --exclude='*.so' --exclude='./tmp_check*' \
    --exclude=./results --exclude=./output_iso --exclude=./log . | tar -C "$work" -xf - || exit 1
# (copied after all when the postgres user cannot reach this checkout)
if runuser -u postgres -- test -x "$here/test/openapi/node_modules/.bin/redocly"; then
    ln -s "$here/test/openapi/node_modules" "$work/test/openapi/node_modules"
else
    cp -a "$here/test/openapi/node_modules" "$work/test/openapi/"
fi
make -C "$work" -s clean >/dev/null
make -C "$work" -s ${WERROR:+WERROR=1} || exit 1

inst=$work/tmp_install
bindir=$(pg_config --bindir)
temp_config=$("$work/tools/private-install.sh" "$work" "$inst") || exit 1
# Under valgrind: the private installation's postgres becomes a script that
# runs the real one under memcheck, one log per process in $work/valgrind/.
if [ -n "${ESQASE_VALGRIND:-}" ]; then
    mkdir -p "$work/valgrind"
    mv "$inst$bindir/postgres" "$inst$bindir/postgres.real"
    printf '%s\n' '#!/bin/sh' \
        "exec valgrind --quiet --error-limit=no --num-callers=30 --leak-check=no \\" \
        "    --error-markers=VALGRIND-ERROR-BEGIN,VALGRIND-ERROR-END \\" \
        "    --log-file=$work/valgrind/%p.log \"\$(dirname \"\$0\")/postgres.real\" \"\$@\"" \
        > "$inst$bindir/postgres"
    chmod 755 "$inst$bindir/postgres"
fi
chown -R postgres "$work"
as_pg() { runuser -u postgres -- "$@"; }

passed=0 failed=0
run_suite() {
    local name=$1; shift
    local t0=$SECONDS
    echo "=== $name"
    if as_pg "$@"; then
        passed=$((passed + 1))
        echo "=== $name: passed in $((SECONDS - t0)) s"
    else
        failed=$((failed + 1))
        echo "=== $name FAILED after $((SECONDS - t0)) s"
        [ -f "$work/regression.diffs" ] && cat "$work/regression.diffs"
        [ -f "$work/output_iso/regression.diffs" ] && cat "$work/output_iso/regression.diffs"
    fi
}
wants sql && run_suite "SQL regression and isolation tests" \
    make -C "$work" -s installcheck PG_CONFIG="$temp_config" "${narrow[@]}"
wants tap && run_suite "HTTP tests (TAP)" \
    make -C "$work" -s prove-installcheck PG_CONFIG="$temp_config" PROVE_FLAGS=--timer "${narrow[@]}"
# The benchmark's smoke run: its own cluster (as root, like tools/bench.sh);
# it checks statuses, never numbers.
if wants bench; then
    t0=$SECONDS
    echo "=== benchmark smoke"
    if ESQASE_BENCH_SMOKE=1 ESQASE_BENCH_NO_INSTALL=1 PG_CONFIG="$temp_config" \
        "$work/tools/bench.sh" > "$work/bench-smoke.log" 2>&1; then
        passed=$((passed + 1))
        echo "=== benchmark smoke: passed in $((SECONDS - t0)) s"
    else
        failed=$((failed + 1))
        echo "=== benchmark smoke FAILED after $((SECONDS - t0)) s"
        tail -40 "$work/bench-smoke.log"
    fi
fi

# valgrind's errors with esqase.so or a library it calls in their first
# frames.  PostgreSQL's own known report is left out: WAL pages are written
# with their padding uninitialised (XLogWrite, reached from the workers'
# XLogFlush); PostgreSQL's valgrind.supp suppresses the same.
if [ -n "${ESQASE_VALGRIND:-}" ]; then
    ESQ_SOURCES=$(cd "$work/src" && ls *.c | sed 's/\./\\./' | paste -sd'|')
    export ESQ_SOURCES
    ours=$(perl -ne 'BEGIN { $src = $ENV{ESQ_SOURCES} }
        if (/VALGRIND-ERROR-BEGIN/) { @e = (); $f = 0; $hit = 0 } push @e, $_;
        $f++ if /^==\d+==\s+(at|by) /;
        $hit = 1 if $f && $f <= 4 && /\(((?:$src):\d+|in \S*(?:esqase\.so|libmicrohttpd|libjansson|libgnutls)\S*)\)/;
        print @e, "\n" if /VALGRIND-ERROR-END/ && $hit && !(join("", @e) =~ /Syscall param \w+\(buf\).*\bXLogFlush\b/s)' "$work"/valgrind/*.log 2>/dev/null)
    logs=$(ls "$work/valgrind" | wc -l)
    echo "=== valgrind: $logs process logs"
    if [ "$logs" -eq 0 ]; then
        failed=$((failed + 1))
        echo "=== valgrind: no server ran under it"
    elif [ -n "$ours" ]; then
        failed=$((failed + 1))
        echo "=== valgrind found errors in esqase or the libraries it calls:"
        echo "$ours"
    fi
fi
echo "test suites: $passed passed, $failed failed"
if [ "$failed" -eq 0 ]; then
    rm -rf "$work"
else
    echo "(outputs kept in $work)"
    exit 1
fi
}
exit
