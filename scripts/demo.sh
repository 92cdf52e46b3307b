#!/usr/bin/env bash
# The README's main command: installs what is missing, builds sieve, generates the demo dataset
# (24 clips in 4 categories, made with ffmpeg), runs pipelines/demo.yaml on the devices found
# (GPUs through NVML, else CPU slots), and prints the results tables, answer accuracy by
# category last (its answering model is a Python node run by /usr/bin/python3 with numpy).
# Running it again is all cache hits.
#
# It needs only what `install-deps.sh build` installs: the tree is configured without the test
# suite (-DSIEVE_BUILD_TESTS=OFF, so cmocka and the test plugins are neither required nor
# built) and only the `sieve` binary and the plugins are compiled. scripts/test.sh turns the
# tests back on in the same build tree, so the two commands can run in either order.
# Usage: bash scripts/demo.sh [extra `sieve run` options, e.g. --devices cpu:2]
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)

bash scripts/install-deps.sh build

echo "== build (sieve and its plugins)"
cmake -S . -B build -DSIEVE_BUILD_TESTS=OFF >/dev/null
cmake --build build -j"$jobs"

echo "== demo dataset"
bash scripts/make-demo-data.sh demo-data

echo "== run pipelines/demo.yaml (store: ${SIEVE_STORE:-.sieve})"
build/sieve run pipelines/demo.yaml "$@"

echo "== feature retention by category (rows: variants)"
build/sieve table last --metric retention
echo
echo "== coverage of dropped tokens by category"
build/sieve table last --metric coverage
echo
echo "== LLM prefill cost of the kept tokens relative to all tokens (Qwen2.5-Omni-3B)"
build/sieve table last --metric flops_ratio
echo
echo "== answer accuracy by category: the demo's answering model (a Python node) on the kept tokens"
build/sieve table last --metric answer_acc
