#!/usr/bin/env bash
# Installs what esqase needs on Debian 12 (as root):
#   install-deps.sh          to build and run it (tools/demo.sh)
#   install-deps.sh --test   and to test and benchmark it (tools/test.sh, tools/bench.sh)
set -euo pipefail
if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: run as root (or with sudo)" >&2
    exit 1
fi
testing=${1:-}
case $testing in
    ''|--test) ;;
    *) echo "install-deps: unknown argument $testing (use --test or nothing)" >&2; exit 2 ;;
esac
packages=(make gcc perl postgresql-15 postgresql-server-dev-15 libmicrohttpd-dev
          libjansson-dev libgnutls28-dev libcurl4-gnutls-dev ca-certificates openssl curl python3)
if [ "$testing" = --test ]; then
    # (pgrep: the benchmark; ss: test/t/007)
    packages+=(postgresql-15-plpgsql-check wrk libipc-run-perl python3-requests python3-jsonschema
               procps iproute2)
    # tools/test.sh's ESQASE_VALGRIND=1 mode
    [ -n "${ESQASE_VALGRIND:-}" ] && packages+=(valgrind)
    command -v node >/dev/null || packages+=(nodejs)
    command -v npm >/dev/null || packages+=(npm)
fi
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "install-deps: installing ${missing[*]}"
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

[ "$testing" = --test ] || exit 0

# The OpenAPI test's validator (test/t/018_http_openapi.pl): @redocly/cli, pinned
# with its integrity hash in test/openapi/package-lock.json (1.34: runs on Debian 12's own Node.js 18).
# Installed again only when the lock file changed (a stamp of its hash), so
# a test run does not wipe the node_modules another run of the same
# checkout is using (once the stamp exists).
cd "$(dirname "$0")/../test/openapi"
stamp=node_modules/.esqase-lock-sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    npm ci --no-audit --no-fund --loglevel=error
    echo "$want" > "$stamp"
fi
