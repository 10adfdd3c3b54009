#!/usr/bin/env bash
# Runs esqase: installs dependencies, builds and installs the extension,
# starts a private PostgreSQL cluster (as the postgres user) with the HTTP
# worker, creates a demo firm, member and API key, and prints how to call it.
#
#   tools/demo.sh            # start (or restart) the demo
#   tools/demo.sh psql       # psql into the demo database (as postgres)
#   tools/demo.sh stop       # stop it
#
# From a root shell, or as a user with sudo: it runs itself with sudo when
# it is not root, and leaves the demo key readable by that user.
#
# Settings (environment): ESQASE_DEMO_DIR (default /var/tmp/esqase-demo),
# ESQASE_DEMO_PGPORT (default 5433), ESQASE_DEMO_HTTP_PORT (default 8080).
set -euo pipefail
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "demo: run as root (or as a user with sudo)" >&2; exit 1; }
    exec sudo "$0" "$@"
fi
here=$(cd "$(dirname "$0")/.." && pwd)
dir=${ESQASE_DEMO_DIR:-/var/tmp/esqase-demo}
pgport=${ESQASE_DEMO_PGPORT:-5433}
httpport=${ESQASE_DEMO_HTTP_PORT:-8080}
bindir=/usr/lib/postgresql/15/bin
as_pg() { runuser -u postgres -- "$@"; }

case "${1:-}" in
    stop)
        [ -d "$dir/data" ] && as_pg "$bindir/pg_ctl" -D "$dir/data" -m fast stop || true
        exit 0 ;;
    psql)
        shift
        exec runuser -u postgres -- psql -h "$dir" -p "$pgport" -d esqase "$@" ;;
esac

"$here/tools/install-deps.sh"
make -C "$here" -s
make -C "$here" -s install

if [ -d "$dir/data" ]; then
    as_pg "$bindir/pg_ctl" -D "$dir/data" -m fast stop >/dev/null 2>&1 || true
    rm -rf "$dir"
fi
mkdir -p "$dir"
chown postgres "$dir"
as_pg "$bindir/initdb" -D "$dir/data" -E UTF8 --locale=C.UTF-8 -U postgres -A peer --auth-local=peer --auth-host=scram-sha-256 >/dev/null
cat >> "$dir/data/postgresql.conf" <<CONF
# esqase demo
port = $pgport
unix_socket_directories = '$dir'
listen_addresses = ''
shared_preload_libraries = 'esqase'
esqase.database = 'esqase'
esqase.http_port = $httpport
esqase.http_listen_addresses = 'localhost'
CONF
as_pg "$bindir/pg_ctl" -D "$dir/data" -l "$dir/postgresql.log" -w start >/dev/null
psql_pg() { as_pg psql -X -q -v ON_ERROR_STOP=1 -h "$dir" -p "$pgport" -U postgres "$@"; }
psql_pg -d postgres -c "CREATE DATABASE esqase"
psql_pg -d esqase -c "CREATE EXTENSION esqase"
token=$(psql_pg -d esqase -At <<'SQL'
SELECT esqase_create_api_key(
    esqase_create_member(esqase_create_firm('Demo Law LLP'), 'Demo Owner', 'owner@demo.example',
                         true, '{practice_areas}'),
    esqase.valid_scopes(), 'demo key');
SQL
)
# Readable by whoever ran the demo (the sudo user, or root), no one else.
echo "$token" > "$dir/api-key"
chown "${SUDO_USER:-root}" "$dir/api-key"
chmod 600 "$dir/api-key"

# The workers start with the server, answer 503 until the database and the
# extension exist, then serve: a request without a key gets 401.
for _ in $(seq 1 100); do
    code=$(curl -s -o /dev/null -w '%{http_code}' "http://localhost:$httpport/v1/contacts" || true)
    [ "$code" = 401 ] && break
    sleep 0.2
done
if [ "$code" != 401 ]; then
    echo "demo: the HTTP API did not come up (last status: $code); see $dir/postgresql.log" >&2
    exit 1
fi

cat <<MSG

esqase is running.
  PostgreSQL: tools/demo.sh psql     (psql -h $dir -p $pgport -d esqase, as postgres)
  HTTP API:   http://localhost:$httpport/v1/...   (log: $dir/postgresql.log)
  Demo key (also in $dir/api-key):
    export ESQASE_API_KEY=$token

Try it:
  curl -s "http://localhost:$httpport/v1/contacts?limit=2&offset=0" -H "Authorization: Bearer $token"

Stop it with: tools/demo.sh stop
MSG
