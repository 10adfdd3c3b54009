#!/usr/bin/env bash
# The whole test suite: pg_regress (SQL API), pg_isolation_regress (public
# ids under concurrency) and TAP (real server, real HTTP).  Each suite starts
# its own temporary cluster.  Run as root on Debian 12: it installs the
# dependencies, builds and installs the extension, then runs the suites as
# the postgres user (PostgreSQL refuses to run as root) in a copy of the tree.
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
"$here/tools/install-deps.sh" || exit 1
make -C "$here" -s clean && make -C "$here" -s && make -C "$here" -s install || exit 1

work=$(mktemp -d /tmp/esqase-test.XXXXXX)
cp -a "$here/." "$work/"
chown -R postgres "$work"
as_pg() { runuser -u postgres -- "$@"; }

passed=0 failed=0
run_suite() {
    local name=$1; shift
    echo "=== $name"
    if as_pg "$@"; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "=== $name FAILED"
        [ -f "$work/regression.diffs" ] && cat "$work/regression.diffs"
        [ -f "$work/output_iso/regression.diffs" ] && cat "$work/output_iso/regression.diffs"
    fi
}
run_suite "SQL regression and isolation tests" make -C "$work" -s installcheck
run_suite "HTTP tests (TAP)" make -C "$work" -s prove-installcheck
echo "=== benchmark smoke (tools/bench.sh, as root)"  # its own cluster; statuses checked, numbers not
if ESQASE_BENCH_SMOKE=1 ESQASE_BENCH_NO_INSTALL=1 "$here/tools/bench.sh" >/dev/null; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "=== benchmark smoke FAILED"; fi

echo "test suites: $passed passed, $failed failed"
if [ "$failed" -eq 0 ]; then
    rm -rf "$work"
else
    echo "(outputs kept in $work)"
    exit 1
fi
