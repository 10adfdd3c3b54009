#!/usr/bin/env bash
# Benchmarks the HTTP API against pgbench -M prepared running the same SQL,
# for every resource and for list pages in firms of growing size.
#
#   sudo tools/bench.sh
#
# As root on Debian 12: installs what it needs (the build dependencies, wrk),
# builds the extension and installs it into a private copy of the server's
# installation in its temporary directory (tools/private-install.sh; the
# system's installation is left alone), starts a private temporary cluster
# from that copy's binaries as the
# postgres user (initdb in a temp dir, free ports, loopback only), seeds it,
# measures, writes a markdown report and removes the cluster on exit.  The
# server keeps its default settings (jit on) but for memory and WAL size;
# pg_stat_statements is preloaded for the JIT check, idle otherwise.  The
# measuring is tools/bench/bench.py; docs/benchmarks.md says what it runs.
#
# Settings (environment):
#   PG_CONFIG                   the PostgreSQL to build for and run (pg_config)
#   ESQASE_BENCH_SECONDS        length of each HTTP run and of pgbench at the
#                               HTTP concurrency (5)
#   ESQASE_BENCH_SWEEP_SECONDS  length of each other pgbench run of the sweep (2)
#   ESQASE_BENCH_CLIENTS        HTTP connections, and pgbench clients compared
#                               at the same concurrency (16)
#   ESQASE_BENCH_SWEEP          pgbench client counts tried for its best
#                               ("1 2 4 8 16 32")
#   ESQASE_BENCH_SIZES          contacts in the list-test firms
#                               ("1000 100000 200000 1000000")
#   ESQASE_BENCH_OFFSETS        deep-page offsets, run where the firm is larger
#                               ("100000 500000")
#   ESQASE_BENCH_HTTP_WORKERS   esqase.http_workers (unset: the server default)
#   ESQASE_BENCH_REPORT         markdown output; a file with the markers
#                               <!-- bench:begin --> / <!-- bench:end --> gets
#                               only that part replaced (docs/benchmarks.md)
#   ESQASE_BENCH_SMOKE=1        a quick check of every request (tiny firms,
#                               short runs); fails on any unexpected status;
#                               report to stdout only unless ESQASE_BENCH_REPORT
#   ESQASE_BENCH_PARTS          "crud lists tx costs webhooks" (any of them: those parts only);
#                               tx: one transaction of n creates per call and
#                               the bulk creates; costs: row-level security,
#                               request log, JIT check (issue 16); webhooks:
#                               delivery rate to a local receiver and the write
#                               cost of three active webhooks, at the HTTP
#                               connections and at one (issue 19; alone, it
#                               reports only itself)
#   ESQASE_BENCH_WEBHOOK_EVENTS events of the delivery run, each to three
#                               webhooks (5000)
#   ESQASE_BENCH_ONETX          records per resource in one transaction
#                               ("2000 100000")
#   ESQASE_BENCH_BULK           records of the bulk-create run (100000), in
#   ESQASE_BENCH_BULK_BATCH     calls of this many (10000)
#   ESQASE_BENCH_COST_PAIRS     alternating pairs of runs per cost (3)
#   ESQASE_BENCH_RESOURCES      only these resources in the crud part (all)
#   ESQASE_BENCH_NO_INSTALL=1   skip the build and the private install: run the
#                               installation PG_CONFIG names as it is (test.sh
#                               passes its own private one)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
PG_CONFIG=${PG_CONFIG:-pg_config}
smoke=${ESQASE_BENCH_SMOKE:-0}

if [ "$(id -u)" -ne 0 ]; then
    echo "bench: run as root (sudo tools/bench.sh)" >&2
    exit 1
fi

if [ "${ESQASE_BENCH_NO_INSTALL:-}" != 1 ]; then
    "$here/tools/install-deps.sh" --test
    make -C "$here" -s PG_CONFIG="$PG_CONFIG"
fi

as_pg() { runuser -u postgres -- "$@"; }
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

dir=$(mktemp -d /tmp/esqase-bench.XXXXXX)
# The system's installation is left alone: the extension goes into a private
# copy of it in the benchmark's directory, whose binaries run the cluster.
if [ "${ESQASE_BENCH_NO_INSTALL:-}" != 1 ]; then
    PG_CONFIG=$("$here/tools/private-install.sh" "$here" "$dir/install")
fi
bindir=$("$PG_CONFIG" --bindir)
for tool in wrk curl python3 "$bindir/pgbench" "$bindir/initdb" "$bindir/psql" "$bindir/pg_ctl"; do
    command -v "$tool" >/dev/null || { echo "bench: $tool not found" >&2; exit 1; }
done
chown postgres "$dir"
chmod 700 "$dir"
cleanup() {
    set +e
    if [ -f "$dir/data/postmaster.pid" ]; then
        as_pg "$bindir/pg_ctl" -D "$dir/data" -m fast -t 60 stop >/dev/null 2>&1 \
            || as_pg "$bindir/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1
    fi
    if [ -n "${ESQASE_BENCH_KEEP_LOG:-}" ] && [ -f "$dir/postgresql.log" ]; then
        cp "$dir/postgresql.log" "$ESQASE_BENCH_KEEP_LOG"
    fi
    rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

pgport=$(free_port)
httpport=$(free_port)
while [ "$httpport" = "$pgport" ]; do httpport=$(free_port); done
password=$(python3 -c 'import secrets; print(secrets.token_hex(16))')

if [ "$smoke" = 1 ]; then shared_buffers=128MB; else shared_buffers=1GB; fi
as_pg "$bindir/initdb" -D "$dir/data" -E UTF8 --locale=C.UTF-8 -U postgres -A peer --auth-local=peer \
    --auth-host=scram-sha-256 >/dev/null
cat >> "$dir/data/postgresql.conf" <<CONF
# esqase benchmark
port = $pgport
unix_socket_directories = '$dir'
listen_addresses = '127.0.0.1'
max_connections = 60
shared_buffers = $shared_buffers
max_wal_size = 8GB
shared_preload_libraries = 'esqase,pg_stat_statements'
# the JIT check turns it to 'all' for its own run only
pg_stat_statements.track = 'none'
esqase.database = 'esqase_bench'
esqase.http_port = $httpport
esqase.http_listen_addresses = '127.0.0.1'
CONF
if [ -n "${ESQASE_BENCH_HTTP_WORKERS:-}" ]; then
    echo "esqase.http_workers = $ESQASE_BENCH_HTTP_WORKERS" >> "$dir/data/postgresql.conf"
fi
# Only the benchmark role may connect over TCP, with a password.
cat > "$dir/data/pg_hba.conf" <<HBA
local all postgres peer
host esqase_bench esqase_bench 127.0.0.1/32 scram-sha-256
HBA
as_pg "$bindir/pg_ctl" -D "$dir/data" -l "$dir/postgresql.log" -w -t 60 start >/dev/null

as_pg "$bindir/psql" -X -q -v ON_ERROR_STOP=1 -h "$dir" -p "$pgport" -U postgres -d postgres \
    -c "CREATE DATABASE esqase_bench"
as_pg "$bindir/psql" -X -q -v ON_ERROR_STOP=1 -h "$dir" -p "$pgport" -U postgres \
    -d esqase_bench <<SQL
CREATE EXTENSION esqase;
CREATE ROLE esqase_bench LOGIN PASSWORD '$password' IN ROLE esqase_api;
-- Its sessions run as esqase_api, like the HTTP workers' requests.
ALTER ROLE esqase_bench SET role = 'esqase_api';
SQL

export BENCH_DIR=$dir BENCH_BINDIR=$bindir BENCH_PGPORT=$pgport BENCH_HTTPPORT=$httpport \
       BENCH_PASSWORD=$password BENCH_HERE=$here
python3 "$here/tools/bench/bench.py"
