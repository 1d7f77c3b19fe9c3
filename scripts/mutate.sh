#!/usr/bin/env bash
# `make mutate`: mutation testing with mutmut (setup.cfg [mutmut]), in two tiers: the numpy
# core, and the campaign side with the deploy tools (scripts/mutation_report.py lists both).
#
# One mutmut run per module against its tests (`scripts/mutation_report.py --tests MODULE`:
# a core module's own unit tests first, then the other fast unit tests; a campaign-side
# module's tests on tiny Caffe nets); pytest -x stops at the first failure, so a killed
# mutant costs about one test file.
# Each finished module's result is kept in docs/mutation/MODULE.json (commit it) with the
# hash of its source, and a module whose kept result matches its source is skipped, so
# a run can stop between modules and continue in a fresh checkout. Within one, mutmut's cache
# skips the mutants already tested (and after a change of the tests, tests again only the
# survivors): each module has its own, mutation_state/MODULE.mutmut-cache (commit it too, so a
# fresh checkout goes on where a run stopped). mutmut edits each module in place while it
# runs: do not work in this checkout meanwhile (use a git worktree). To stop it, stop its
# whole process group (Ctrl-C does; `kill -- -PGID` in the background): mutmut's worker
# processes outlive a killed mutmut and go on editing the module. At the end,
# scripts/mutation_report.py writes docs/MUTATION.md (exit 1 if a survivor is unexplained).
#   scripts/mutate.sh [module ...]     default: every module whose kept result is not current
set -u
cd "$(dirname "$0")/.."
PY=build/venv/bin/python
read -r -a ALL <<< "$("$PY" scripts/mutation_report.py --modules)"
mods=("$@")
if [ ${#mods[@]} -eq 0 ]; then
    for m in "${ALL[@]}"; do
        if "$PY" scripts/mutation_report.py --current "$m"; then echo "mutate: $m is current (docs/mutation/$m.json)"
        else mods+=("$m"); fi
    done
fi
for m in "${mods[@]}"; do
    src=("$("$PY" scripts/mutation_report.py --source "$m")") || exit 2
    # A stopped mutmut leaves its current mutant in the source, and every later run would
    # then measure against it (all mutants "killed" by a suite that already fails).
    git diff --quiet -- python/inq_layer || { echo "mutate: python/inq_layer differs from the commit" \
        "(a mutant left by a stopped run?); see git diff, then git checkout -- python/inq_layer" >&2; exit 2; }
    tests="$("$PY" scripts/mutation_report.py --tests "$m")"
    mkdir -p mutation_state
    ln -sfn "mutation_state/$m.mutmut-cache" .mutmut-cache  # mutmut opens the one in the working directory
    echo "mutate: $m ($(date +%H:%M))"
    # A mutant that makes a loop endless (a block of iterations that never ends) runs until
    # the limit: three times what the tests take unmutated, measured now under this load.
    start=$(date +%s)
    env INQ_MUTATE=1 "$PY" -m pytest -x -q -p no:cacheprovider $tests > /dev/null 2>&1 \
        || { echo "mutate: $m: its tests fail without a mutant: $tests" >&2; exit 2; }
    limit=$(( ($(date +%s) - start) * 3 + 30 ))
    # mutmut 2 counts a mutant as killed only when the runner exits 1: a crash (a segfault
    # in the C write-back, an import error) would count as a survivor, so any failure is 1.
    # At its timeout mutmut kills the sh but not pytest, and then waits for pytest's output
    # to end, so a mutant that makes a loop endless would stop the run: `timeout` ends pytest
    # itself at the limit above.
    # mutmut's exit status: bit flags for survivors/timeouts; the report says what they are.
    runner="sh -c \"timeout -s KILL $limit env INQ_MUTATE=1 $PY -m pytest -x -q -p no:cacheprovider $tests || exit 1\""
    "$PY" -m mutmut run --paths-to-mutate "${src[0]}" --simple-output --no-progress --test-time-base 60 \
        --runner "$runner"
    # A line whose text appears earlier in the module keeps the status its mutants had under
    # older tests (mutmut's warm run looks lines up by text): run each such mutant by its id.
    for id in $("$PY" scripts/mutation_report.py --stale "$m"); do
        "$PY" -m mutmut run "$id" --simple-output --no-progress --test-time-base 60 --runner "$runner" > /dev/null
    done
    # keep this module's counts and survivors; docs/MUTATION.md is written again each time
    "$PY" scripts/mutation_report.py --keep "$m" || true
done
# docs/MUTATION.md: the score, and each survivor with why it is equivalent (or UNEXPLAINED)
"$PY" scripts/mutation_report.py
