#!/usr/bin/env bash
# Benchmarks the HTTP API against pgbench -M prepared running the same SQL.
#
#   sudo tools/bench.sh
#
# As root on Debian 12: installs what it needs (the build dependencies, wrk),
# builds and installs the extension, starts a private temporary cluster as the
# postgres user (initdb in a temp dir, free ports, loopback only), creates a
# firm, an owner, a key with every scope and seed data (ESQASE_BENCH_CONTACTS
# contacts through the SQL API, and a practice area), then measures, with the
# same client concurrency and duration for each:
#
#   get     GET  /v1/contacts/{id}        esqase_contacts_get(id)
#   list    GET  /v1/contacts?limit=50    esqase_contacts_list('{"limit":50}')
#   create  POST /v1/contacts             esqase_contacts_create(body)
#
# Each operation runs three times, for ESQASE_BENCH_SECONDS each:
#
#   pgbench tx    pgbench -M prepared: BEGIN; SELECT esqase_authenticate(token);
#                 SELECT esqase_<op>(...); COMMIT;  (4 round trips)
#   pgbench 1stmt pgbench -M prepared: the same two calls in one statement and
#                 one implicit transaction (1 round trip), which is what the
#                 HTTP worker does inside the server
#   HTTP          wrk with keep-alive and the Authorization header
#
# pgbench connects over TCP to 127.0.0.1 as a LOGIN role whose session role is
# esqase_api, the role the HTTP workers run the API's SQL as, so row-level
# security applies the same way.  The cluster is stopped and removed on exit.
#
# Settings (environment): ESQASE_BENCH_SECONDS (10), ESQASE_BENCH_CLIENTS (8),
# ESQASE_BENCH_THREADS (2), ESQASE_BENCH_CONTACTS (10000),
# ESQASE_BENCH_HTTP_WORKERS (2, esqase.http_workers), ESQASE_BENCH_NO_INSTALL=1
# to skip the dependency check and make install.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
secs=${ESQASE_BENCH_SECONDS:-10}
clients=${ESQASE_BENCH_CLIENTS:-8}
threads=${ESQASE_BENCH_THREADS:-2}
ncontacts=${ESQASE_BENCH_CONTACTS:-10000}
hworkers=${ESQASE_BENCH_HTTP_WORKERS:-2}
bindir=/usr/lib/postgresql/15/bin
limit=$((secs + 60))          # hard bound on every load run

if [ "$(id -u)" -ne 0 ]; then
    echo "bench: run as root (sudo tools/bench.sh)" >&2
    exit 1
fi

if [ "${ESQASE_BENCH_NO_INSTALL:-}" != 1 ]; then
    "$here/tools/install-deps.sh"
    if ! command -v wrk >/dev/null; then
        apt-get update -q
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends wrk
    fi
    make -C "$here" -s
    make -C "$here" -s install
fi
for tool in wrk curl python3 "$bindir/pgbench" "$bindir/initdb"; do
    command -v "$tool" >/dev/null || { echo "bench: $tool not found" >&2; exit 1; }
done

as_pg() { runuser -u postgres -- "$@"; }
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

dir=$(mktemp -d /tmp/esqase-bench.XXXXXX)
chown postgres "$dir"
chmod 700 "$dir"
cleanup() {
    set +e
    if [ -f "$dir/data/postmaster.pid" ]; then
        as_pg "$bindir/pg_ctl" -D "$dir/data" -m fast -t 60 stop >/dev/null 2>&1 \
            || as_pg "$bindir/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1
    fi
    rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

pgport=$(free_port)
httpport=$(free_port)
while [ "$httpport" = "$pgport" ]; do httpport=$(free_port); done
password=$(python3 -c 'import secrets; print(secrets.token_hex(16))')

as_pg "$bindir/initdb" -D "$dir/data" -U postgres -A peer --auth-local=peer \
    --auth-host=scram-sha-256 >/dev/null
cat >> "$dir/data/postgresql.conf" <<CONF
# esqase benchmark
port = $pgport
unix_socket_directories = '$dir'
listen_addresses = '127.0.0.1'
max_connections = 50
shared_preload_libraries = 'esqase'
esqase.database = 'esqase_bench'
esqase.http_port = $httpport
esqase.http_listen_addresses = '127.0.0.1'
esqase.http_workers = $hworkers
CONF
# Only the benchmark role may connect over TCP, with a password.
cat > "$dir/data/pg_hba.conf" <<HBA
local all postgres peer
host esqase_bench esqase_bench 127.0.0.1/32 scram-sha-256
HBA
as_pg "$bindir/pg_ctl" -D "$dir/data" -l "$dir/postgresql.log" -w -t 60 start >/dev/null

psql_pg() { as_pg psql -X -q -v ON_ERROR_STOP=1 -h "$dir" -p "$pgport" -U postgres "$@"; }
psql_pg -d postgres -c "CREATE DATABASE esqase_bench"
psql_pg -d esqase_bench <<SQL
CREATE EXTENSION esqase;
CREATE ROLE esqase_bench LOGIN PASSWORD '$password' IN ROLE esqase_api;
-- Its sessions run as esqase_api, like the HTTP workers' requests.
ALTER ROLE esqase_bench SET role = 'esqase_api';
SQL
token=$(psql_pg -d esqase_bench -At <<'SQL'
SELECT esqase_create_api_key(
    esqase_create_member(esqase_create_firm('Bench Law LLP'), 'Bench Owner',
                         'owner@bench.example', true, '{practice_areas}'),
    esqase.valid_scopes(), 'bench key');
SQL
)
case $token in esq_*) ;; *) echo "bench: no API key" >&2; exit 1 ;; esac

# Seed through the SQL API as esqase_api, 2,000 contacts per transaction.
echo "bench: seeding $ncontacts contacts and a practice area"
batch=2000
done_n=0
while [ "$done_n" -lt "$ncontacts" ]; do
    n=$((ncontacts - done_n < batch ? ncontacts - done_n : batch))
    psql_pg -d esqase_bench >/dev/null <<SQL
BEGIN;
SET LOCAL ROLE esqase_api;
SELECT esqase_authenticate('$token');
SELECT count(esqase_contacts_create(jsonb_build_object(
           'type', 'PERSON', 'firstName', 'First' || g, 'lastName', 'Last' || g,
           'emails', jsonb_build_array('c' || g || '@bench.example'),
           'phones', jsonb_build_array('+1-555-' || lpad(g::text, 6, '0')))))
  FROM generate_series($done_n + 1, $done_n + $n) g;
COMMIT;
SQL
    done_n=$((done_n + n))
done
psql_pg -d esqase_bench >/dev/null <<SQL
BEGIN;
SET LOCAL ROLE esqase_api;
SELECT esqase_authenticate('$token');
SELECT esqase_practice_areas_create('{"name": "Family law"}');
COMMIT;
SQL
psql_pg -d esqase_bench -c "VACUUM ANALYZE"
contact=$(psql_pg -d esqase_bench -At -c \
    "SELECT id FROM esqase.contacts ORDER BY created_at, id OFFSET $((ncontacts / 2)) LIMIT 1")

base="http://127.0.0.1:$httpport"
for _ in $(seq 1 150); do
    code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" \
        "$base/v1/contacts/$contact" || true)
    [ "$code" = 200 ] && break
    sleep 0.2
done
if [ "$code" != 200 ]; then
    echo "bench: the HTTP API did not come up (last status: $code)" >&2
    tail -20 "$dir/postgresql.log" >&2
    exit 1
fi
check() {   # method path expected-status [body]
    local got
    got=$(curl -s -o /dev/null -w '%{http_code}' -X "$1" -H "Authorization: Bearer $token" \
        -H 'Content-Type: application/json' ${4:+-d "$4"} "$base$2")
    if [ "$got" != "$3" ]; then
        echo "bench: $1 $2 answered $got, not $3" >&2
        exit 1
    fi
}
body='{"type":"PERSON","firstName":"Bench","lastName":"Create","emails":["bench@example.com"]}'
check GET "/v1/contacts/$contact" 200
check GET "/v1/contacts?limit=50" 200
check POST /v1/contacts 201 "$body"

# pgbench scripts: the SQL of one HTTP request.
write_scripts() {   # op call
    printf 'BEGIN;\nSELECT esqase_authenticate(:token);\nSELECT %s;\nCOMMIT;\n' "$2" \
        > "$dir/$1.tx.sql"
    # OFFSET 0 keeps the subquery, so authenticate runs before the call.
    printf 'SELECT %s FROM (SELECT esqase_authenticate(:token) OFFSET 0) AS a;\n' "$2" \
        > "$dir/$1.1stmt.sql"
}
write_scripts get "esqase_contacts_get(:id)"
write_scripts list "esqase_contacts_list('{\"limit\":50}')"
write_scripts create "esqase_contacts_create('$body')"
cat > "$dir/create.lua" <<LUA
wrk.method = "POST"
wrk.body = '$body'
wrk.headers["Content-Type"] = "application/json"
LUA
chmod 644 "$dir"/*.sql "$dir"/*.lua

worker_mem() {   # prints "pid VmRSS RssAnon" (kB) of each HTTP worker
    local pid
    for pid in $(psql_pg -d esqase_bench -At -c \
        "SELECT pid FROM pg_stat_activity WHERE backend_type = 'esqase http' ORDER BY pid"); do
        awk -v pid="$pid" '/^VmRSS:/ {r = $2} /^RssAnon:/ {a = $2}
            END {print pid, r, a}' "/proc/$pid/status"
    done
}

run_pgbench() {   # script -> tps
    local out tps
    out=$(PGPASSWORD=$password timeout "$limit" "$bindir/pgbench" -h 127.0.0.1 -p "$pgport" \
        -U esqase_bench -M prepared -n -T "$secs" -c "$clients" -j "$threads" \
        -D token="$token" -D id="$contact" -f "$1" esqase_bench 2>&1) || {
        echo "bench: pgbench failed on $1:" >&2
        echo "$out" >&2
        exit 1
    }
    if echo "$out" | grep -Eq 'number of failed transactions: [1-9]'; then
        echo "bench: pgbench had failed transactions on $1:" >&2
        echo "$out" >&2
        exit 1
    fi
    tps=$(echo "$out" | sed -n 's/^tps = \([0-9.]*\) .*/\1/p' | head -1)
    [ -n "$tps" ] || { echo "$out" >&2; exit 1; }
    echo "$tps"
}

run_wrk() {   # path [lua] -> req/s
    local out rps
    out=$(timeout "$limit" wrk -t "$threads" -c "$clients" -d "${secs}s" \
        -H "Authorization: Bearer $token" ${2:+-s "$2"} "$base$1" 2>&1) || {
        echo "bench: wrk failed on $1:" >&2
        echo "$out" >&2
        exit 1
    }
    if echo "$out" | grep -Eq 'Non-2xx or 3xx responses|Socket errors'; then
        echo "bench: wrk saw errors on $1:" >&2
        echo "$out" >&2
        exit 1
    fi
    rps=$(echo "$out" | sed -n 's/^Requests\/sec: *\([0-9.]*\).*/\1/p')
    [ -n "$rps" ] || { echo "$out" >&2; exit 1; }
    echo "$rps"
}

pg_version=$("$bindir/postgres" --version)
echo
echo "esqase $(git -C "$here" describe --always --dirty 2>/dev/null || echo '?'), $pg_version, $(wrk --version 2>&1 | head -1 | cut -d' ' -f1-2)"
echo "machine: $(nproc) CPUs ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)), $(free -m | awk '/^Mem:/ {print $2}') MB RAM, kernel $(uname -r)"
echo "other load: $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15-min load average before the runs)"
echo "load: $clients connections, $threads client threads, ${secs}s per run, loopback TCP;" \
     "$hworkers HTTP workers; $ncontacts contacts seeded"
echo
mem_before=$(worker_mem)

# Other test runs on the machine make the numbers meaningless: note them.
busy=
note_busy() {
    local p
    p=$(pgrep -f 'pg_regress|/usr/bin/prove|pgbench|wrk ' | grep -vx "$$" || true)
    for pid in $p; do
        grep -q "$dir" "/proc/$pid/cmdline" 2>/dev/null && continue   # ours
        case $busy in *"[$pid]"*) continue ;; esac
        busy="$busy [$pid] $(tr '\0\n' '  ' < "/proc/$pid/cmdline" 2>/dev/null | cut -c1-70);"
    done
}
note_busy

declare -A res
# Creates last: they grow the contacts table that the list page counts.
for op in get list create; do
    case $op in
        get)    path="/v1/contacts/$contact"; lua= ;;
        list)   path="/v1/contacts?limit=50"; lua= ;;
        create) path=/v1/contacts; lua="$dir/create.lua" ;;
    esac
    echo "bench: $op ..." >&2
    res[$op.tx]=$(run_pgbench "$dir/$op.tx.sql")
    res[$op.1stmt]=$(run_pgbench "$dir/$op.1stmt.sql")
    note_busy
    res[$op.http]=$(run_wrk "$path" "$lua")
    note_busy
done
mem_after=$(worker_mem)

printf '%-34s %12s %14s %12s %12s %14s\n' operation "pgbench tx" "pgbench 1stmt" "HTTP req/s" \
    "HTTP/tx" "HTTP/1stmt"
for op in get list create; do
    case $op in
        get)    label="GET /v1/contacts/{id}" ;;
        list)   label="GET /v1/contacts?limit=50" ;;
        create) label="POST /v1/contacts" ;;
    esac
    awk -v l="$label" -v t="${res[$op.tx]}" -v s="${res[$op.1stmt]}" -v h="${res[$op.http]}" \
        'BEGIN {printf "%-34s %12.0f %14.0f %12.0f %12.2f %14.2f\n", l, t, s, h, h / t, h / s}'
done
echo
echo "HTTP worker memory (kB), before the first and after the last HTTP run:"
join <(echo "$mem_before" | sort) <(echo "$mem_after" | sort) | \
    awk '{printf "  worker %s: VmRSS %d -> %d, RssAnon %d -> %d\n", $1, $2, $4, $3, $5}'
total=$(psql_pg -d esqase_bench -At -c "SELECT count(*) FROM esqase.contacts")
echo "contacts at the end: $total; load average after the runs: $(cut -d' ' -f1-3 /proc/loadavg)"
others=$(pgrep -x postgres -a | grep -v -- "$dir" | grep -c ' -D ' || true)
[ "$others" = 0 ] || echo "note: $others other PostgreSQL server(s) were running on this machine"
[ -z "$busy" ] || echo "WARNING: other load ran during the benchmark, numbers are not comparable:$busy"
