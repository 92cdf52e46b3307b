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
