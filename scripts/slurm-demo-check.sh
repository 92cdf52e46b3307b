#!/usr/bin/env bash
# slurm-demo-check.sh [BUILD_DIR] - pipelines/demo.yaml (582 tasks: decode, encode, prune,
# fuse, evaluate on the generated demo clips) run twice, on local CPU workers and on Slurm
# pilots of the local cluster (scripts/slurm-local.sh), into two stores; the object trees must
# be byte-identical. Too slow for the test suite on 2 cores (about 20 s), so it is a script.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=$(realpath "${1:-build}")
W=${WORKDIR:-/tmp/sieve-slurm-demo}
export SLURM_CONF=${SLURM_CONF:-/tmp/slurm-local/slurm.conf}
timeout 5 scontrol ping 2>/dev/null | grep -q UP || bash scripts/slurm-local.sh start >/dev/null
adv=$(cat "$(dirname "$SLURM_CONF")/advertise" 2>/dev/null || echo 127.0.0.1)
unset SIEVE_PLUGIN_PATH SIEVE_STORE
rm -rf "$W/local" "$W/slurm" && mkdir -p "$W/pipelines"
cp pipelines/demo.yaml "$W/pipelines/"
bash scripts/make-demo-data.sh "$W/demo-data" >/dev/null
cd "$W"
"$BUILD/sieve" run pipelines/demo.yaml --store local --devices cpu:2 >local.log 2>&1
"$BUILD/sieve" run pipelines/demo.yaml --store slurm --executor slurm --slurm max_pilots=2 \
    --slurm listen=0.0.0.0:0 --slurm "advertise=$adv" >slurm.log 2>&1
n=$(find local/objects -type f | wc -l)
diff -r local/objects slurm/objects
echo "slurm-demo-check: $n objects, byte-identical between local workers and Slurm pilots"
