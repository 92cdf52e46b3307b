#!/usr/bin/env bash
# Installs what is missing, builds sieve twice (plain with warnings as errors, and with
# AddressSanitizer + UndefinedBehaviorSanitizer) and runs the whole test suite on both.
# Usage: bash scripts/test.sh [--fast]   (--fast skips the sanitizer build)
set -euo pipefail
cd "$(dirname "$0")/.."

fast=0
[ "${1:-}" = "--fast" ] && fast=1
jobs=$(nproc 2>/dev/null || echo 2)

bash scripts/install-deps.sh test

# The Slurm tests (test_slurm) run on a local one-node cluster; it needs root (slurmd), and
# without it they skip, saying so.
if [ "$(id -u)" = 0 ] && [ -z "${SIEVE_NO_SLURM:-}" ]; then
    echo "== local Slurm (scripts/slurm-local.sh)"
    if bash scripts/slurm-local.sh start >/dev/null; then
        export SLURM_CONF=${SLURM_LOCAL_DIR:-/tmp/slurm-local}/slurm.conf
        trap 'bash scripts/slurm-local.sh stop || true' EXIT
    else
        echo "test.sh: the local Slurm did not start; test_slurm will skip" >&2
    fi
else
    echo "test.sh: not root (or SIEVE_NO_SLURM): test_slurm will skip"
fi

echo "== build (warnings are errors)"
# The tests are named on: scripts/demo.sh configures this tree without them.
cmake -S . -B build -DSIEVE_WERROR=ON -DSIEVE_BUILD_TESTS=ON >/dev/null
cmake --build build -j"$jobs"
echo "== tests"
ctest --test-dir build --output-on-failure -j"$jobs"

if [ "$fast" = 0 ]; then
    echo "== build with AddressSanitizer + UndefinedBehaviorSanitizer"
    cmake -S . -B build-asan -DSIEVE_WERROR=ON -DSIEVE_BUILD_TESTS=ON -DSIEVE_SANITIZE=ON \
        -DCMAKE_BUILD_TYPE=Debug >/dev/null
    cmake --build build-asan -j"$jobs"
    echo "== tests under sanitizers"
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
        ctest --test-dir build-asan --output-on-failure -j"$jobs"
fi
