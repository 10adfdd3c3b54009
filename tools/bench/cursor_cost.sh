#!/usr/bin/env bash
# What signing list cursors costs a list call (issue 20).  As the API role
# (esqase_api, row-level security on), after esqase_authenticate, it times
# two list calls in the server, many in a row:
#
#   first:  esqase_contacts_list('{"limit": 50}')          one cursor signed
#   cursor: the same with the first page's nextCursor      one checked, one signed
#
# with the real signature (esqase.cursor_mac: a SECURITY DEFINER call, the
# secret's one-row lookup, two sha256) and with cursor_mac replaced by a
# constant (the baseline: no signing; the cursor's format and checks stay),
# in alternating rounds of the same run, and prints the median CPU time per
# call of each and their ratio; and the time of one signature alone (the call
# to cursor_mac in a loop), which is the cost without the noise of a whole
# list call.  The time of a call alone is what signing adds
# to; an HTTP request adds its transaction and the worker's own work on
# top, so the ratio there is closer to 1.
#
#   PGHOST=/tmp PGPORT=5432 tools/bench/cursor_cost.sh
#
# Needs a running server (default settings) with esqase installed and a
# superuser connection (PGHOST, PGPORT, PGUSER).  Makes and drops the
# database esqase_cursor_bench.  Settings: ESQASE_BENCH_ROWS (contacts,
# 2000), ESQASE_BENCH_CALLS (calls per timing, 1000), ESQASE_BENCH_ROUNDS (7).
set -euo pipefail

rows=${ESQASE_BENCH_ROWS:-2000}
calls=${ESQASE_BENCH_CALLS:-1000}
rounds=${ESQASE_BENCH_ROUNDS:-7}
db=esqase_cursor_bench
dir=$(mktemp -d)
trap 'rm -rf "$dir"; psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true' EXIT

q() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$db" "$@"; }

psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "SET client_min_messages = warning" \
    -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
q -c 'SET client_min_messages = warning' -c 'CREATE EXTENSION esqase'
token=$(q -c "SELECT esqase_create_api_key(esqase_create_member(esqase_create_firm('Bench'),
               'Ben Bench', 'ben@bench.test', true), '{contacts:read,contacts:write}')")
q > /dev/null <<EOF
BEGIN;
SELECT esqase_authenticate('$token');
SELECT count(*) FROM (SELECT esqase_contacts_create(jsonb_build_object('type', 'PERSON',
       'firstName', 'Bench', 'lastName', 'Contact ' || i)) FROM generate_series(1, $rows) i) x;
COMMIT;
VACUUM ANALYZE;
EOF
signed_def=$(q -c "SELECT pg_get_functiondef('esqase.cursor_mac(uuid,text)'::regprocedure)")

# CPU milliseconds per call of list(params) (or of cursor_mac alone), over
# $calls calls, as the key: the backend's user and system time from
# /proc/self/stat (read as the superuser around the calls), not the clock,
# so that other processes on the machine do not count.
time_calls() {
    q <<EOF | tail -1
CREATE FUNCTION pg_temp.run_calls(params jsonb, n integer) RETURNS void LANGUAGE plpgsql AS \$\$
BEGIN
    FOR i IN 1 .. n LOOP
        IF params IS NULL THEN
            PERFORM esqase.cursor_mac(esqase.context_firm(), 'WyJjb250YWN0cyIsIjAwMDAwMDAwMDAwMCJd' || i);
        ELSE
            PERFORM esqase_contacts_list(params);
        END IF;
    END LOOP;
END
\$\$;
CREATE FUNCTION pg_temp.cpu_ticks() RETURNS bigint LANGUAGE sql AS \$\$
    SELECT split_part(s, ' ', 14)::bigint + split_part(s, ' ', 15)::bigint
      FROM pg_read_file('/proc/self/stat') s
\$\$;
BEGIN;
SELECT pg_temp.cpu_ticks() AS t0 \gset
SET LOCAL ROLE esqase_api;
SELECT esqase_authenticate('$token') IS NULL;
SELECT pg_temp.run_calls(
           CASE WHEN '$1' = 'mac' THEN NULL
                WHEN '$1' = 'first' THEN '{"limit": 50}'
                ELSE jsonb_build_object('limit', 50, 'cursor',
                         esqase_contacts_list('{"limit": 50}') #>> '{pagination,nextCursor}') END, $calls);
RESET ROLE;
SELECT round((pg_temp.cpu_ticks() - :t0) * 1000.0 / $(getconf CLK_TCK) / $calls, 4);
COMMIT;
EOF
}
set_phase() {
    if [ "$1" = baseline ]; then
        q -c "CREATE OR REPLACE FUNCTION esqase.cursor_mac(firm uuid, msg text) RETURNS text
              LANGUAGE sql IMMUTABLE AS \$\$SELECT 'AAAAAAAAAAAAAAAAAAAAAA'\$\$"
    else
        q -c "$signed_def"
    fi
}
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# Rounds of signed then baseline, each call in turn, so that a drift of the
# machine's load hits both alike; the medians are compared.
for round in $(seq "$rounds"); do
    for phase in signed baseline; do
        set_phase "$phase"
        for name in first cursor; do
            time_calls "$name" >> "$dir/$phase.$name"
        done
        if [ "$phase" = signed ]; then
            time_calls mac >> "$dir/signed.mac"
        fi
    done
done
set_phase signed

echo "contacts: $rows; $rounds rounds of $calls calls; median CPU milliseconds per call, as esqase_api:"
printf '%-8s %10s %10s %16s\n' call signed baseline 'signed/baseline'
for name in first cursor; do
    s=$(median < "$dir/signed.$name") b=$(median < "$dir/baseline.$name")
    printf '%-8s %10.3f %10.3f %16s\n' "$name" "$s" "$b" "$(awk -v s="$s" -v b="$b" 'BEGIN { printf "%.3f", s / b }')"
done
m=$(median < "$dir/signed.mac") b=$(median < "$dir/baseline.first")
echo "one signature (esqase.cursor_mac alone): $m ms, $(awk -v m="$m" -v b="$b" 'BEGIN { printf "%.1f", 100 * m / b }')% of a first-page call's baseline;"
echo "a first page signs once, a cursor page checks one signature and signs one"

