#!/usr/bin/env bash
# Mutation testing of the rules (issue 9): mutmut mutates workflows/ and innovation_cycle/authz.py (settings in
# setup.cfg) and runs, against each mutant, only the workflow and authorization tests that exercise it.
# Too slow for CI (about 700 mutants: tens of minutes on two shared cores); run it after changing a rule.
#   scripts/mutation.sh            run (incremental: mutants already judged are kept in mutants/)
#   scripts/mutation.sh --fresh    start over
#   scripts/mutation.sh results    list the survivors; `.venv/bin/mutmut show <name>` shows one
# Needs the `mutation` extra: pip install -e '.[dev,mutation]'. Runs on SQLite (the tests' default).
set -euo pipefail
cd "$(dirname "$0")/.."
MUTMUT="${MUTMUT:-.venv/bin/mutmut}"
if [ "${1:-}" = "--fresh" ]; then rm -rf mutants; shift; fi
if [ "${1:-}" = "results" ]; then exec env -u TEST_DATABASE_URL "$MUTMUT" results; fi
env -u TEST_DATABASE_URL "$MUTMUT" run --max-children "${MUTMUT_CHILDREN:-2}" "$@"
# The score: killed (and timed out) over all mutants that some test exercised.
env -u TEST_DATABASE_URL "$MUTMUT" export-cicd-stats >/dev/null 2>&1 || true
[ -f mutants/mutmut-cicd-stats.json ] && cat mutants/mutmut-cicd-stats.json && echo
