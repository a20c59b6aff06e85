#!/usr/bin/env bash
# The test suite: lint, then pytest on SQLite, then on PostgreSQL when TEST_DATABASE_URL is set, e.g.
#   TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test ./scripts/test.sh
# Extra arguments go to pytest (./scripts/test.sh -k cycle -x). Exits non-zero on the first failing pass.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/setup.sh dev

echo "== ruff"
.venv/bin/ruff check .

# On a machine with the local PostgreSQL of the README (trust auth, database "test"), include it by default.
if [ -z "${TEST_DATABASE_URL:-}" ] && command -v pg_isready >/dev/null 2>&1 && pg_isready -h 127.0.0.1 -q 2>/dev/null \
   && psql -h 127.0.0.1 -U postgres -d test -Atc 'SELECT 1' >/dev/null 2>&1 </dev/null; then
  export TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test
fi

# Each pass spreads its tests over the machine's cores (pytest-xdist; every worker has its own database, see
# tests/suite_workers.py). TEST_WORKERS=0 runs them in this one process (what -x and pdb want).
workers=(-n "${TEST_WORKERS:-auto}")

passes=()
echo "== pytest on SQLite"
env -u TEST_DATABASE_URL .venv/bin/pytest "${workers[@]}" "$@"
passes+=("SQLite")

if [ -n "${TEST_DATABASE_URL:-}" ]; then
  echo "== pytest on PostgreSQL (${TEST_DATABASE_URL%%\?*})"
  .venv/bin/pytest "${workers[@]}" "$@"
  passes+=("PostgreSQL")
else
  echo "== PostgreSQL pass skipped: set TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test to run it"
fi

echo "Test passes run: ${passes[*]}"
