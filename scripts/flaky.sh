#!/usr/bin/env bash
# Proves a suite is not flaky, or finds out how flaky it is: builds the tree, then runs the
# integration tests (ctest label `integration`, or the tests matching -R) N times in a row,
# optionally while `stress-ng --cpu` keeps every core busy, and prints the failures per ctest
# test and per cmocka test case. A test that fails one run in 30 on a loaded 2-core machine
# will one day block a good submission; ten green runs idle say little about that, ten green
# runs under stress say more.
#
# Usage: bash scripts/flaky.sh [-n RUNS] [--stress [CPUS]] [-R REGEX] [-L LABEL]
#                              [--build DIR] [--no-build] [-j JOBS] [--logs DIR]
#   -n RUNS        how many runs in a row (default 10)
#   --stress CPUS  load CPUS cores with stress-ng during the runs (default: every core);
#                  stress-ng is installed with apt-get when missing
#   -R REGEX       only the ctest tests matching REGEX (e.g. -R test_sched_faults)
#   -L LABEL       the ctest label to run (default integration; "" for every test)
#   --build DIR    the build tree (default build; configured with the tests when missing)
#   --no-build     run the tests as they are built in DIR, without configuring or building
#   -j JOBS        ctest parallelism (default: the number of cores)
#   --logs DIR     where each run's ctest output is kept (default DIR/flaky-logs)
# Exit: 0 when every run passed, 1 when any failed, 2 usage.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=10
stress=0
stress_cpus=$(nproc 2>/dev/null || echo 2)
regex=""
label=integration
build=build
do_build=1
jobs=$(nproc 2>/dev/null || echo 2)
logs=""

usage() { sed -n '/^# Usage:/,/^# Exit:/s/^# \{0,1\}//p' "$0"; }
while [ $# -gt 0 ]; do
    case $1 in
    -n) runs=${2:?}; shift 2 ;;
    --stress)
        stress=1
        if [ $# -gt 1 ] && [[ $2 =~ ^[0-9]+$ ]]; then stress_cpus=$2; shift; fi
        shift ;;
    -R) regex=${2:?}; shift 2 ;;
    -L) label=${2?}; shift 2 ;;
    --build) build=${2:?}; shift 2 ;;
    --no-build) do_build=0; shift ;;
    -j) jobs=${2:?}; shift 2 ;;
    -j[0-9]*) jobs=${1#-j}; shift ;;
    --logs) logs=${2:?}; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "flaky: unknown option '$1'" >&2; usage >&2; exit 2 ;;
    esac
done
[[ $runs =~ ^[1-9][0-9]*$ ]] || { echo "flaky: -n wants a positive count" >&2; exit 2; }
logs=${logs:-$build/flaky-logs}

if [ "$stress" = 1 ] && ! command -v stress-ng >/dev/null; then
    bash scripts/install-deps.sh stress
fi

if [ "$do_build" = 1 ]; then
    echo "== build ($build, with the tests)"
    cmake -S . -B "$build" -DSIEVE_BUILD_TESTS=ON >/dev/null
    cmake --build "$build" -j"$jobs" >/dev/null
fi

stress_pid=""
stop_stress() {
    if [ -n "$stress_pid" ]; then
        kill "$stress_pid" 2>/dev/null || true
        wait "$stress_pid" 2>/dev/null || true
        stress_pid=""
    fi
}
trap stop_stress EXIT
if [ "$stress" = 1 ]; then
    stress-ng --cpu "$stress_cpus" --quiet &
    stress_pid=$!
    sleep 1 # let the stressors start before the first run
fi

sel=()
[ -n "$label" ] && sel+=(-L "$label")
[ -n "$regex" ] && sel+=(-R "$regex")
mkdir -p "$logs"
rm -f "$logs"/run-*.log

what="${label:+label '$label'}${regex:+ matching '$regex'}"
load=$([ "$stress" = 1 ] && echo "stress-ng --cpu $stress_cpus" || echo "idle")
echo "== $runs runs of the tests with $what, -j$jobs, $load; logs in $logs"
# The summary is printed at the end, or when the loop is interrupted (counted over the runs
# that finished), so a long session cut short still gives its figures.
summary() {
    echo "== summary: $failed_runs of $done_runs runs failed ($what, $load)"
    if [ "$failed_runs" = 0 ]; then
        echo "every test passed in every run"
        return 0
    fi
    echo "failures per ctest test:"
    for t in "${!test_fail[@]}"; do
        printf '  %-40s %d/%d\n' "$t" "${test_fail[$t]}" "$done_runs"
    done | sort
    if [ ${#case_fail[@]} -gt 0 ]; then
        echo "failures per test case:"
        for c in "${!case_fail[@]}"; do
            printf '  %-60s %d/%d\n' "$c" "${case_fail[$c]}" "$done_runs"
        done | sort
    fi
    echo "the output of each failed run is in $logs/run-N.log"
    return 1
}
trap 'echo "flaky: interrupted during run $i (not counted)"; summary; stop_stress; exit 130' \
    INT TERM HUP

failed_runs=0
done_runs=0
declare -A test_fail case_fail
for ((i = 1; i <= runs; i++)); do
    log="$logs/run-$i.log"
    start=$(date +%s)
    # ctest runs in a session of its own: a test that signals its process group, or a stray
    # kill, takes down that run (counted as a failure) but not this loop and its stress-ng.
    status=0
    setsid -w ctest --test-dir "$build" "${sel[@]}" -j"$jobs" --output-on-failure >"$log" 2>&1 ||
        status=$?
    done_runs=$i
    if [ "$status" = 0 ]; then
        echo "run $i/$runs: passed ($(($(date +%s) - start)) s)"
        continue
    fi
    failed_runs=$((failed_runs + 1))
    # ctest's summary lists each failed test as "  39 - test_sched_faults (Failed)"; cmocka
    # prints "[  FAILED  ] test_case" for each failed case (twice: inline and in its summary).
    tests=$(sed -n '/The following tests FAILED:/,$s/^[[:space:]]*[0-9]* - \([^ ]*\) .*/\1/p' "$log" |
        sort -u)
    cases=$(sed -n 's/^\[  FAILED  \] \([A-Za-z0-9_]*\)$/\1/p' "$log" | sort -u)
    if [ -z "$tests" ]; then tests="(no-ctest-summary:exit-$status)"; fi
    for t in $tests; do test_fail[$t]=$((${test_fail[$t]:-0} + 1)); done
    for c in $cases; do case_fail[$c]=$((${case_fail[$c]:-0} + 1)); done
    echo "run $i/$runs: FAILED ($(($(date +%s) - start)) s):" $tests "${cases:+[$(echo $cases)]}"
done

summary && exit 0
exit 1
