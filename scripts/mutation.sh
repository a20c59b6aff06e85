#!/usr/bin/env bash
# Mutation testing of the rules (issue 9, item 12): mutmut mutates workflows/ and innovation_cycle/authz.py
# (settings in setup.cfg) and runs, against each mutant, only the workflow and authorization tests that exercise
# it. Too slow for CI (about a thousand mutants: an hour or more on two shared cores, a surviving mutant costing
# a full run of the tests that cover it); run it after changing a rule. docs/mutation.md keeps the score and why
# the mutants left alive are equivalent.
#   scripts/mutation.sh                  run (incremental: mutants already judged are kept in mutants/)
#   scripts/mutation.sh --fresh          start over
#   scripts/mutation.sh module NAME      judge again every mutant of one module (workflows.need, innovation_cycle.authz…)
#   scripts/mutation.sh NAME…            judge again the named mutants (globs allowed)
#   scripts/mutation.sh results          list the survivors; `.venv/bin/mutmut show <name>` shows one
#   scripts/mutation.sh score            the score of what has been judged so far
# Needs the `mutation` extra: pip install -e '.[dev,mutation]'. Runs on SQLite (the tests' default), under
# `nice`, with one worker unless MUTMUT_CHILDREN says otherwise (the machine is shared).
set -euo pipefail
cd "$(dirname "$0")/.."
MUTMUT="${MUTMUT:-.venv/bin/mutmut}"
mutmut() { env -u TEST_DATABASE_URL nice -n "${MUTMUT_NICE:-15}" "$MUTMUT" "$@"; }

score() {
    # killed (and timed out) over every mutant judged; "no tests" counts as alive: no test exercises it.
    mutmut results --all true | awk '
        / killed$| timeout$/ {k++} / survived$/ {s++} / no tests$/ {n++} / not checked$/ {u++}
        END {j = k + s + n; printf "killed %d, survived %d, no tests %d, not checked %d: score %.1f %% (%d/%d)\n",
             k, s, n, u, (j ? 100 * k / j : 0), k, j}'
}

if [ "${1:-}" = "--fresh" ]; then rm -rf mutants; shift; fi
case "${1:-}" in
    results) exec env -u TEST_DATABASE_URL "$MUTMUT" results ;;
    score) score; exit 0 ;;
    module) mutmut run --max-children "${MUTMUT_CHILDREN:-1}" "$2.*" ;;
    *) mutmut run --max-children "${MUTMUT_CHILDREN:-1}" "$@" ;;
esac
score
