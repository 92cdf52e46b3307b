#!/usr/bin/env bash
# bench/slurm/bench.sh [BUILD_DIR] - the same short tasks through sieve's Slurm pilots and
# through Snakemake 7's own Slurm executor (--slurm), on the local cluster of
# scripts/slurm-local.sh (started here when it is not running; needs root). Prints wall times
# side by side and the ratio. See bench/slurm/README.md.
#
# Knobs (environment): TASKS (500), PEER_TASKS (500: Snakemake's share; it is the slow one),
# PILOTS (4: sieve's pilot jobs, one CPU each), SMK_JOBS (8: Snakemake's jobs in flight, the
# cluster's CPUs), SMK_STATUS (1: --max-status-checks-per-second; Snakemake forces 0.03 for
# anything above 1), SIEVE_REPEATS (3), WORKDIR (/tmp/sieve-bench-slurm).
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=$(realpath "${1:-build}")
TASKS=${TASKS:-500}
PEER_TASKS=${PEER_TASKS:-500}
PILOTS=${PILOTS:-4}
SMK_JOBS=${SMK_JOBS:-8}
SMK_STATUS=${SMK_STATUS:-1}
SIEVE_REPEATS=${SIEVE_REPEATS:-3}
W=${WORKDIR:-/tmp/sieve-bench-slurm}
export SLURM_CONF=${SLURM_CONF:-/tmp/slurm-local/slurm.conf}
export USER=${USER:-$(id -un)} # Snakemake's Slurm executor reads $USER
export SIEVE_PLUGIN_PATH=$BUILD/test-plugins-sched
[ -x "$BUILD/sieve" ] && [ -d "$SIEVE_PLUGIN_PATH" ] || { echo "bench: build sieve with the tests first ($BUILD)" >&2; exit 1; }
command -v snakemake >/dev/null || { echo "bench: snakemake not found (scripts/install-deps.sh all)" >&2; exit 1; }
if ! timeout 5 scontrol ping 2>/dev/null | grep -q UP; then
    bash scripts/slurm-local.sh start >/dev/null
fi
now() { date +%s.%N; }

rm -rf "$W" && mkdir -p "$W/media"
: > "$W/clips.jsonl"
for i in $(seq 0 $((TASKS - 1))); do
    printf 'clip %d\n' "$i" > "$W/media/$i.bin"
    printf '{"id":"s%d","media":"media/%d.bin"}\n' "$i" "$i" >> "$W/clips.jsonl"
done
cat > "$W/p.yaml" <<YAML
name: bench-slurm
dataset: { manifest: clips.jsonl }
nodes:
  t: { plugin: sched-source }
YAML

sieve_times=()
for r in $(seq "$SIEVE_REPEATS"); do
    rm -rf "$W/.sieve"
    t0=$(now)
    (cd "$W" && "$BUILD/sieve" run --store .sieve --executor slurm --slurm "max_pilots=$PILOTS" \
        --slurm listen=127.0.0.1:0 p.yaml >"$W/sieve.log" 2>&1) || { tail "$W/sieve.log"; exit 1; }
    t1=$(now)
    sieve_times+=("$(echo "$t1 - $t0" | bc)")
    grep -q "$TASKS tasks: $TASKS done" "$W/sieve.log" || { tail "$W/sieve.log"; exit 1; }
done
sieve_med=$(printf '%s\n' "${sieve_times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')

mkdir -p "$W/smk"
cat > "$W/smk/Snakefile" <<'SMK'
N = int(config["n"])
rule all:
    input: expand("out/{i}.txt", i=range(N))
rule t:
    input: "../media/{i}.bin"
    output: "out/{i}.txt"
    shell: "cat {input} > {output}"
SMK
t0=$(now)
(cd "$W/smk" && snakemake --slurm -j "$SMK_JOBS" --config "n=$PEER_TASKS" \
    --default-resources slurm_partition=debug mem_mb=100 --latency-wait 10 \
    --max-status-checks-per-second "$SMK_STATUS" >"$W/smk.log" 2>&1) || { tail "$W/smk.log"; exit 1; }
t1=$(now)
smk=$(echo "$t1 - $t0" | bc)
[ "$(ls "$W/smk/out" | wc -l)" = "$PEER_TASKS" ] || { echo "bench: snakemake made too few outputs" >&2; exit 1; }

printf '%-52s %6s %9s %9s\n' tool tasks "wall s" "tasks/s"
printf '%-52s %6d %9.2f %9.1f\n' "sieve --executor slurm ($PILOTS pilots; median of $SIEVE_REPEATS)" "$TASKS" "$sieve_med" "$(echo "$TASKS / $sieve_med" | bc -l)"
printf '%-52s %6d %9.2f %9.1f\n' "snakemake --slurm -j $SMK_JOBS (status checks ${SMK_STATUS}/s)" "$PEER_TASKS" "$smk" "$(echo "$PEER_TASKS / $smk" | bc -l)"
echo "sieve runs (s): ${sieve_times[*]}"
printf 'ratio (same task count: wall time snakemake / sieve): %.1fx\n' \
    "$(echo "($smk * $TASKS / $PEER_TASKS) / $sieve_med" | bc -l)"
