#!/usr/bin/env bash
# Installs every Debian 12 package sieve needs to build, run, test and benchmark.
# Usage: bash scripts/install-deps.sh [build|test|stress|all]   (default all)
#   build: what `sieve` and its plugins need (scripts/demo.sh); test: also the test suite
#   (scripts/test.sh); stress: also stress-ng (scripts/flaky.sh --stress); all: also benchmarks.
# Idempotent: packages already present are left alone, and apt is only asked when
# something is missing. Run as root (CI and a fresh machine are root); otherwise
# it uses sudo when available.
set -euo pipefail

# Build and run.
BUILD_PKGS=(
    build-essential cmake pkg-config git
    libuv1-dev libyaml-dev libjansson-dev libsqlite3-dev libssl-dev
    libh2o-dev libcurl4-openssl-dev
    libavformat-dev libavcodec-dev libavutil-dev libswscale-dev libswresample-dev
    libopenblas-dev
    ffmpeg
    # Python nodes: the demo's answering model runs under /usr/bin/python3 with numpy.
    python3 python3-numpy
)
# Tests and fixtures (numpy also makes and reads reference fixtures); clang builds the
# libFuzzer harnesses (tests/fuzz, -DSIEVE_FUZZ=ON); slurmctld, slurmd and slurm-client are the
# local cluster of the Slurm tests and bench (scripts/slurm-local.sh); their postinst starts
# nothing without systemd; chromium runs the web page's tests (tests/web/), driven by
# playwright-core from npm.
TEST_PKGS=(
    libcmocka-dev python3 python3-numpy python3-yaml sqlite3 clang-format clang chromium
    slurmctld slurmd slurm-client
)
# scripts/flaky.sh loads every core while it repeats the tests.
STRESS_PKGS=(
    stress-ng
)
# Benchmarks run peers side by side; torch is only used by bench/ and fixture scripts; wrk
# loads the HTTP API of `sieve serve`.
BENCH_PKGS=(
    snakemake python3-torch hyperfine valgrind python3-distributed wrk
)

want=("${BUILD_PKGS[@]}")
case "${1:-all}" in
    build) ;;
    test) want+=("${TEST_PKGS[@]}") ;;
    stress) want+=("${TEST_PKGS[@]}" "${STRESS_PKGS[@]}") ;;
    all) want+=("${TEST_PKGS[@]}" "${STRESS_PKGS[@]}" "${BENCH_PKGS[@]}") ;;
    *) echo "usage: $0 [build|test|stress|all]" >&2; exit 2 ;;
esac

missing=()
for p in "${want[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done

# Node.js and npm for the web tests: Debian's nodejs (18) and npm unless a node is there
# already (a NodeSource nodejs bundles npm and conflicts with Debian's npm package).
web=0
case "${1:-all}" in test | stress | all) web=1 ;; esac
if [ "$web" = 1 ] && ! { command -v node >/dev/null && command -v npm >/dev/null; }; then
    missing+=(nodejs npm)
fi

# The npm packages of package-lock.json (playwright-core for the tests; uPlot, whose file
# is vendored in web/static/vendor/), when node_modules is missing or older than the lock.
npm_ci() {
    [ "$web" = 1 ] || return 0
    local root
    root="$(cd "$(dirname "$0")/.." && pwd)"
    if [ ! -f "$root/node_modules/.package-lock.json" ] ||
        [ "$root/package-lock.json" -nt "$root/node_modules/.package-lock.json" ]; then
        echo "install-deps: npm ci (package-lock.json)"
        (cd "$root" && npm ci --no-audit --no-fund --loglevel=error)
    fi
}

if [ ${#missing[@]} -eq 0 ]; then
    echo "install-deps: all ${#want[@]} packages already installed"
    npm_ci
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null; then SUDO=sudo; else
        echo "install-deps: need root to install: ${missing[*]}" >&2; exit 1
    fi
fi
echo "install-deps: installing ${#missing[@]} missing package(s): ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
npm_ci
echo "install-deps: done"
