#!/usr/bin/env bash
# Installs the extension built in SRCDIR into a private copy of the server's
# installation at INST (DESTDIR), as PostgreSQL's own `make check` does
# (temp-install), and prints that copy's pg_config.  PostgreSQL finds its
# share and library directories relative to its binaries, so the copy's
# servers load the esqase built here and the system's installation, and
# every cluster on the host that uses it, are left alone.
#
#   tools/private-install.sh SRCDIR INST     (after `make -C SRCDIR`)
set -euo pipefail
src=$1 inst=$2
bindir=$(pg_config --bindir) pkglibdir=$(pg_config --pkglibdir) sharedir=$(pg_config --sharedir)
for d in "$(dirname "$bindir")" "$sharedir"; do
    mkdir -p "$inst$(dirname "$d")"
    cp -a "$d" "$inst$(dirname "$d")/"
done
make -C "$src" -s install DESTDIR="$inst" >&2
config=$inst$bindir/pg_config
if [ "$("$config" --sharedir)" != "$inst$sharedir" ] || [ ! -f "$inst$pkglibdir/esqase.so" ]; then
    echo "private-install.sh: the installation in $inst is not relocatable" >&2
    exit 1
fi
echo "$config"
