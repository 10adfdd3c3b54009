#!/usr/bin/env bash
# Releases the version in development (docs/operations.md, "Releases and
# upgrades"):
#
#   tools/release.sh VERSION [NEXT]     e.g. tools/release.sh 0.3.0
#
#  1. checks that VERSION is the control file's default_version and not yet
#     released;
#  2. builds and freezes its scripts as users will install them:
#     sql/esqase--VERSION.sql and sql/esqase--<last release>--VERSION.sql
#     (never edited again);
#  3. moves default_version to NEXT (default: the next minor version) and
#     starts the next migration, sql/migrations/VERSION--NEXT.sql;
#  4. checks the result: NEXT builds, and test/t/091_upgrade.pl upgrades
#     every frozen release (this one included) to NEXT and compares it with a
#     fresh install (as root; ESQASE_RELEASE_NO_CHECK=1 skips it).
# It stages the files with git add and leaves the commit and the tag to you.
set -euo pipefail
cd "$(dirname "$0")/.."

version=${1:?usage: tools/release.sh VERSION [NEXT]}
[[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || { echo "release.sh: $version is not X.Y.Z" >&2; exit 2; }
IFS=. read -r major minor _ <<< "$version"
next=${2:-$major.$((minor + 1)).0}

current=$(sed -n "s/^default_version = '\(.*\)'/\1/p" esqase.control)
if [ "$current" != "$version" ]; then
    echo "release.sh: esqase.control's default_version is $current, not $version" >&2
    exit 1
fi
if [ -e "sql/esqase--$version.sql" ]; then
    echo "release.sh: $version is already released (sql/esqase--$version.sql exists)" >&2
    exit 1
fi
last=$(ls sql | sed -n 's/^esqase--\([0-9.]*\)\.sql$/\1/p' | sort -V | tail -1)

# 2. Freeze what the sources build now.
make -s build/esqase--"$version".sql build/esqase--"$last"--"$version".sql
cp build/esqase--"$version".sql sql/
cp build/esqase--"$last"--"$version".sql sql/
echo "release.sh: froze sql/esqase--$version.sql and sql/esqase--$last--$version.sql"

# 3. The next version starts with an empty migration.
sed -i "s/^default_version = '$version'/default_version = '$next'/" esqase.control
cat > "sql/migrations/$version--$next.sql" <<EOF
-------------------------------------------------------------------------------
-- Migration $version -> $next: schema and data changes only, forward only.
-- Functions, views, policies, triggers, grants and comments belong in
-- sql/code/ (made again by every install and upgrade); a function, view or
-- trigger this release no longer has is dropped here.
-------------------------------------------------------------------------------
EOF
echo "release.sh: default_version is now $next; sql/migrations/$version--$next.sql started"

# 4. Checks.
make -s build/esqase--"$next".sql build/esqase--"$version"--"$next".sql
git add esqase.control "sql/esqase--$version.sql" "sql/esqase--$last--$version.sql" \
    "sql/migrations/$version--$next.sql"
if [ -z "${ESQASE_RELEASE_NO_CHECK:-}" ]; then
    PROVE_TESTS=test/t/091_upgrade.pl tools/test.sh tap
fi
echo "release.sh: done; review with git diff --cached, then commit and tag v$version"
