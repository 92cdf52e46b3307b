#!/usr/bin/env bash
# gpu-check.sh - one prepared check of sieve on a machine with NVIDIA GPUs, to run from the
# repository root of a copied working tree when such a machine is lent (minutes are scarce, so
# it is one script, under 10 minutes, whose output is short enough to paste into a note).
#
#   1 build      the sieve binary, its plugins and the two scheduler test plugins (build-gpu/)
#   2 discovery  nvidia-smi -L beside `sieve devices` and `sieve devices --json` (NVML, dlopen'd)
#   3 pipeline   a trimmed demo pipeline on the GPU slots; per `sieve worker` process, its
#                --device and the CUDA_VISIBLE_DEVICES in /proc/<pid>/environ must agree
#   4 wedge      4a: SIGSTOP the busy worker of the first GPU (a real wedge: no heartbeats), with a
#                fake GPU slot beside it; the scheduler must kill it, move its task, finish.
#                4b: the built-in fault (`--fault` only knows fake devices): a fake GPU slot
#                beside the real ones hangs after one task; same expectations.
#   5 torch      whether /usr/bin/python3 imports torch and sees CUDA (information only)
#
# Without a GPU (NVML absent or reporting none) every step still runs, on fake GPU slots
# (fake:2) instead of real ones, and says so. A failed step never stops the others; the summary
# at the end lists PASS/FAIL/SKIP/INFO per step. Exit status: 0 when nothing failed, else 1.
#
# Usage: bash scripts/gpu-check.sh        (env: BUILD_DIR, default build-gpu; JOBS; KEEP=1 keeps
#                                          the temporary directory for a post-mortem)
set -u
cd "$(dirname "$0")/.." || exit 1

T_START=$(date +%s)
B=${BUILD_DIR:-build-gpu}
case $B in /*) ;; *) B="$PWD/$B" ;; esac # steps 4a/4b run from the pipeline's directory
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/sieve-gpu-check-XXXXXX")
SIEVE="$B/sieve"
RESULTS=()
CUR=""
STOPPED=""   # a worker this script SIGSTOPped, resumed at exit should the scheduler not kill it
RUN_PID=""

cleanup() {
    [ -n "$STOPPED" ] && kill -CONT "$STOPPED" 2>/dev/null
    [ -n "$RUN_PID" ] && kill "$RUN_PID" 2>/dev/null
    if [ "${KEEP:-0}" = 1 ]; then echo "(kept $WORK)"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

step() {
    CUR="$1 $2"
    printf '\n=== [%s] %s  (t=%ds)\n' "$1" "$2" "$(($(date +%s) - T_START))"
}
# result PASS|FAIL|SKIP|INFO [detail]
result() {
    printf -- '--- %s: %s%s\n' "$1" "$CUR" "${2:+ - $2}"
    RESULTS+=("$(printf '%-5s %s%s' "$1" "$CUR" "${2:+ - $2}")")
}
# Indented tail of a log file.
show() { tail -n "${2:-6}" "$1" 2>/dev/null | sed 's/^/    /'; }

# ---- 1 build ------------------------------------------------------------------------------
step 1 "build sieve, plugins and scheduler test plugins into ${B#"$PWD"/}"
deps="assumed (no apt-get or not root)"
if command -v apt-get >/dev/null && [ "$(id -u)" -eq 0 ]; then
    # `test` adds cmocka, which the test plugins' CMake directory requires; without a network
    # this fails fast and the build goes on with whatever is installed.
    if timeout 150 bash scripts/install-deps.sh test >"$WORK/deps.log" 2>&1; then
        deps="ok ($(tail -n 1 "$WORK/deps.log"))"
    else
        deps="install-deps failed, going on with what is installed: $(tail -n 1 "$WORK/deps.log")"
    fi
fi
echo "deps: $deps"
tests=ON
pkg-config --exists cmocka 2>/dev/null || tests=OFF # tests/ (and its plugins) need cmocka
build_ok=0
if timeout 120 cmake -S . -B "$B" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSIEVE_BUILD_TESTS=$tests \
    >"$WORK/configure.log" 2>&1; then
    # `help` lists "... plugin_x" (Makefiles) or "plugin_x: phony" (Ninja).
    mapfile -t targets < <(cmake --build "$B" --target help 2>/dev/null |
        awk '{sub(/:.*/, ""); if ($NF ~ /^plugin_/) print $NF}')
    targets+=(sieve)
    [ $tests = ON ] && targets+=(testplugin_sched-source testplugin_sched-count)
    if timeout 400 cmake --build "$B" -j"$JOBS" --target "${targets[@]}" >"$WORK/build.log" 2>&1; then
        build_ok=1
    else
        show "$WORK/build.log" 15
    fi
else
    show "$WORK/configure.log" 15
fi
# Without cmocka the test plugins are not configured; they need only the ABI header.
TP="$B/test-plugins-sched"
if [ $build_ok = 1 ] && [ $tests = OFF ]; then
    mkdir -p "$TP"
    for p in source count; do
        cc -O2 -shared -fPIC -Icore/include "tests/plugins/sched/$p.c" -o "$TP/sched-$p.so" \
            >>"$WORK/build.log" 2>&1 || build_ok=0
    done
fi
if [ $build_ok = 1 ] && [ -x "$SIEVE" ] && [ -f "$TP/sched-count.so" ]; then
    nplugins=$("$SIEVE" plugins 2>/dev/null | tail -n +2 | wc -l)
    result PASS "$nplugins plugins, tests=$tests, $(($(date +%s) - T_START)) s"
else
    result FAIL "see above; later steps that need the binary are skipped"
fi

have_sieve() { [ -x "$SIEVE" ]; }

# ---- 2 discovery --------------------------------------------------------------------------
step 2 "GPU discovery: nvidia-smi vs sieve devices (NVML through dlopen)"
NGPU_SMI=0
if command -v nvidia-smi >/dev/null; then
    timeout 30 nvidia-smi -L 2>&1 | sed 's/^/    /'
    NGPU_SMI=$(timeout 30 nvidia-smi -L 2>/dev/null | grep -c '^GPU ')
else
    echo "    nvidia-smi: not installed"
fi
NGPU=0
if have_sieve; then
    export SIEVE_STORE="$WORK/store-devices"
    # One line per CPU slot would bury the GPUs on a 16-core machine: count those instead.
    timeout 30 "$SIEVE" devices 2>&1 |
        awk '$1 ~ /^cpu:/ {n++; next} {print "    " $0} END {print "    (and " n + 0 " CPU slots)"}'
    timeout 30 "$SIEVE" devices --json >"$WORK/devices.json" 2>&1
    rc=$?
    NGPU=$(grep -c '"kind": "gpu"' "$WORK/devices.json")
    ngpu_ok=$(grep -A3 '"kind": "gpu"' "$WORK/devices.json" | grep -c '"healthy": true')
    echo "    --json (exit $rc): $NGPU gpu entries, $ngpu_ok healthy; first entry:"
    tr -d '\n' <"$WORK/devices.json" | sed 's/  */ /g; s/^\[ *//; s/}, {/}\n{/g' | head -n 1 |
        sed 's/^/    /'
    echo
    ls /usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1 /usr/lib64/libnvidia-ml.so.1 2>/dev/null |
        sed 's/^/    found /'
    if [ $rc -ne 0 ]; then
        result FAIL "sieve devices --json exited $rc"
    elif [ "$NGPU" -ne "$NGPU_SMI" ]; then
        result FAIL "nvidia-smi lists $NGPU_SMI GPUs, sieve (NVML) $NGPU"
    elif [ "$NGPU" -gt 0 ] && [ "$ngpu_ok" -ne "$NGPU" ]; then
        result FAIL "$((NGPU - ngpu_ok)) GPU(s) fail sieve's health probe"
    elif [ "$NGPU" -eq 0 ]; then
        result PASS "no GPU here (nvidia-smi and NVML agree: 0); later steps use fake:2"
    else
        result PASS "$NGPU GPU(s), all healthy, matching nvidia-smi"
    fi
else
    result SKIP "no sieve binary"
fi

# The GPU-class slots of steps 3 and 4: the real GPUs, or two fake ones.
if [ "$NGPU" -gt 0 ]; then
    GPUS="gpu:$(seq -s, 0 $((NGPU - 1)))"
    FIRST=cuda:0
    NSLOTS=$NGPU
else
    NSLOTS=2
    GPUS="fake:2"
    FIRST=fake:0
fi

# run_watch NAME LOG STOP sieve-args... : runs `sieve run` in the background and records, every
# 0.2 s, each worker's pid, --device and CUDA_VISIBLE_DEVICES into $WORK/NAME.workers. With STOP
# a device name, it SIGSTOPs that device's worker 0.8 s after it appears (a wedged task).
# Returns sieve's exit status.
run_watch() {
    local name=$1 log=$2 stop=$3
    shift 3
    local seen="$WORK/$name.workers" t=0 first=""
    : >"$seen"
    timeout 240 "$SIEVE" run "$@" >"$log" 2>&1 &
    RUN_PID=$!
    while kill -0 "$RUN_PID" 2>/dev/null; do
        local sp
        sp=$(pgrep -P "$RUN_PID" -x sieve) # timeout's child: the scheduler
        for w in ${sp:+$(pgrep -P "$sp")}; do
            grep -q "^$w " "$seen" && continue
            local argv dev cuda
            argv=$(tr '\0' ' ' <"/proc/$w/cmdline" 2>/dev/null) || continue
            case $argv in *" worker "*) ;; *) continue ;; esac
            dev=$(sed -n 's/.*--device \([^ ]*\).*/\1/p' <<<"$argv")
            cuda=$(tr '\0' '\n' <"/proc/$w/environ" 2>/dev/null |
                sed -n 's/^CUDA_VISIBLE_DEVICES=//p')
            echo "$w $dev cuda=[$cuda]" >>"$seen"
        done
        if [ -n "$stop" ] && [ -z "$STOPPED" ]; then
            local victim
            victim=$(awk -v d="$stop" '$2 == d {print $1; exit}' "$seen")
            if [ -n "$victim" ]; then
                [ -z "$first" ] && first=$t
                if [ $((t - first)) -ge 4 ]; then
                    kill -STOP "$victim" && STOPPED=$victim
                    echo "    SIGSTOP worker pid $victim ($stop) at t=$((t / 5)).$((t % 5 * 2)) s"
                fi
            fi
        fi
        sleep 0.2
        t=$((t + 1))
    done
    wait "$RUN_PID"
    local rc=$?
    RUN_PID=""
    [ -n "$STOPPED" ] && kill -CONT "$STOPPED" 2>/dev/null
    STOPPED=""
    return $rc
}

# check_cuda NAME NGPUSLOTS: every recorded worker's CUDA_VISIBLE_DEVICES matches its slot, and
# every GPU-class slot had a worker.
check_cuda() {
    local bad=0 n=0 gpu_slots
    gpu_slots=$(awk '$2 ~ /^(cuda|fake):/ {print $2}' "$WORK/$1.workers" | sort -u | wc -l)
    [ "$gpu_slots" -eq "$2" ] || { echo "    workers seen on $gpu_slots GPU slots, want $2"; bad=1; }
    while read -r pid dev cuda; do
        n=$((n + 1))
        case $dev in
        cuda:*) want="cuda=[${dev#cuda:}]" ;;
        *) want="cuda=[]" ;;
        esac
        if [ "$cuda" = "$want" ]; then mark=ok; else mark="WRONG (want $want)"; bad=$((bad + 1)); fi
        echo "    worker pid $pid  --device $dev  CUDA_VISIBLE_DEVICES $cuda  $mark"
    done <"$WORK/$1.workers"
    [ $n -gt 0 ] && [ $bad -eq 0 ]
}

# ---- 3 pipeline on the GPU slots ----------------------------------------------------------
step 3 "trimmed demo pipeline on $GPUS + cpu:2, CUDA_VISIBLE_DEVICES per worker"
[ "$NGPU" -eq 0 ] && echo "    no GPU: GPU tasks run on fake GPU slots (fake:2)"
if ! have_sieve; then
    result SKIP "no sieve binary"
elif ! command -v ffmpeg >/dev/null; then
    result SKIP "ffmpeg not installed (scripts/make-demo-data.sh needs it)"
elif ! timeout 180 bash scripts/make-demo-data.sh "$WORK/demo-data" >"$WORK/data.log" 2>&1; then
    show "$WORK/data.log"
    result FAIL "scripts/make-demo-data.sh failed"
else
    # Two clips per category, one keep ratio: 8 x 3 + 2 x 8 x 4 + 2 = 90 tasks.
    grep -E '"id": "[a-z]+-0[12]"' "$WORK/demo-data/clips.jsonl" >"$WORK/demo-data/small.jsonl"
    sed 's#manifest: ../demo-data/clips.jsonl#manifest: demo-data/small.jsonl#' pipelines/demo.yaml \
        >"$WORK/demo.yaml"
    export SIEVE_STORE="$WORK/store-demo"
    t0=$(date +%s)
    run_watch demo "$WORK/demo.log" "" "$WORK/demo.yaml" --set keep=[0.5] --devices "$GPUS,cpu:2"
    rc=$?
    echo "    sieve run: exit $rc in $(($(date +%s) - t0)) s; last lines:"
    show "$WORK/demo.log" 4
    "$SIEVE" status --json >"$WORK/demo-status.json" 2>/dev/null
    tasks=$(sed -n 's/^  "tasks": \([0-9]*\).*/\1/p' "$WORK/demo-status.json")
    done_=$(sed -n 's/^  "done": \([0-9]*\).*/\1/p' "$WORK/demo-status.json")
    if check_cuda demo "$NSLOTS" && [ $rc -eq 0 ]; then
        result PASS "exit 0, ${done_:-?}/${tasks:-?} done, each worker's CUDA_VISIBLE_DEVICES fits its slot"
    else
        result FAIL "exit $rc, ${done_:-?}/${tasks:-?} done, or a CUDA_VISIBLE_DEVICES is wrong"
    fi
fi

# A pipeline of slow GPU tasks for step 4: a leaf per sample, then 1.5 s of "GPU work".
mkdir -p "$WORK/slow/media"
for i in 0 1 2 3 4 5 6 7; do
    printf 'x%d' $i >"$WORK/slow/media/s$i.bin"
    echo "{\"id\": \"s$i\", \"media\": \"media/s$i.bin\"}"
done >"$WORK/slow/clips.jsonl"
cat >"$WORK/slow/p.yaml" <<'EOF'
name: gpu-check-wedge
dataset: { manifest: clips.jsonl }
defaults: { retries: 2 }
nodes:
  src: { plugin: sched-source }
  work: { plugin: sched-count, in: { in: src }, with: { ms: 1500 }, resources: { gpu: 1 } }
EOF

# wedge_report NAME RC: the run finished, a task moved off the wedged device, which is suspect.
wedge_report() {
    local name=$1 rc=$2 ev="$WORK/$1.events"
    "$SIEVE" logs 1 >"$ev" 2>&1
    grep -E 'task-moved|device|task-failed|task-retry' "$ev" | head -n 6 | sed 's/^/    /'
    "$SIEVE" status --json >"$WORK/$name-status.json" 2>/dev/null
    local done_ tasks
    tasks=$(sed -n 's/^  "tasks": \([0-9]*\).*/\1/p' "$WORK/$name-status.json")
    done_=$(sed -n 's/^  "done": \([0-9]*\).*/\1/p' "$WORK/$name-status.json")
    if [ "$rc" -eq 0 ] && grep -q 'task-moved' "$ev" && [ "$done_" = "$tasks" ]; then
        local moved
        moved=$(grep -m1 task-moved "$ev" | sed 's/.*task-moved *//' | head -c 100)
        result PASS "caught and moved ($moved); $done_/$tasks done"
    else
        result FAIL "exit $rc, ${done_:-?}/${tasks:-?} done, $(grep -c task-moved "$ev") task-moved events"
    fi
}

# ---- 4a wedge a real GPU worker -------------------------------------------------------------
WEDGE_DEVS="$GPUS"
[ "$NGPU" -gt 0 ] && WEDGE_DEVS="$GPUS,fake:1" # somewhere to move to, even with one GPU
step 4a "wedged task on $FIRST: SIGSTOP its busy worker (devices $WEDGE_DEVS, heartbeat timeout 2s)"
[ "$NGPU" -eq 0 ] && echo "    no GPU: the wedged worker is the one of fake:0"
if have_sieve && [ -f "$TP/sched-count.so" ]; then
    export SIEVE_STORE="$WORK/store-wedge" SIEVE_PLUGIN_PATH="$TP"
    t0=$(date +%s)
    cd "$WORK/slow" || exit 1
    run_watch wedge "$WORK/wedge.log" "$FIRST" p.yaml --devices "$WEDGE_DEVS" --heartbeat-timeout 2s \
        --stall-timeout 3s
    rc=$?
    cd - >/dev/null || exit 1
    echo "    sieve run: exit $rc in $(($(date +%s) - t0)) s"
    wedge_report wedge $rc
else
    result SKIP "no sieve binary or test plugins"
fi

# ---- 4b built-in hang fault on a fake device beside the GPUs --------------------------------
if [ "$NGPU" -gt 0 ]; then FAULT_DEVS="$GPUS,fake:1"; else FAULT_DEVS="fake:2"; fi
step 4b "--fault fake:0:hang-after=1 (faults exist for fake devices only; devices $FAULT_DEVS)"
if have_sieve && [ -f "$TP/sched-count.so" ]; then
    export SIEVE_STORE="$WORK/store-fault" SIEVE_PLUGIN_PATH="$TP"
    t0=$(date +%s)
    cd "$WORK/slow" || exit 1
    run_watch fault "$WORK/fault.log" "" p.yaml --devices "$FAULT_DEVS" \
        --fault fake:0:hang-after=1 --heartbeat-timeout 2s --stall-timeout 3s
    rc=$?
    cd - >/dev/null || exit 1
    echo "    sieve run: exit $rc in $(($(date +%s) - t0)) s"
    wedge_report fault $rc
else
    result SKIP "no sieve binary or test plugins"
fi
unset SIEVE_PLUGIN_PATH

# ---- 5 torch ------------------------------------------------------------------------------
step 5 "torch and CUDA from /usr/bin/python3 (no Python node yet: information only)"
probe='import torch; c = torch.cuda
print("torch", torch.__version__, "built with CUDA", torch.version.cuda,
      "cuda available:", c.is_available(), "devices:", c.device_count(),
      c.get_device_name(0) if c.is_available() else "")'
if out=$(timeout 120 /usr/bin/python3 -c "$probe" 2>&1); then
    echo "    $out"
    result INFO "$out"
else
    echo "$out" | tail -n 2 | sed 's/^/    /'
    result SKIP "torch does not import"
fi

# ---- summary ------------------------------------------------------------------------------
printf '\n=== summary (%s, %d GPU(s), %d s)\n' "$(hostname)" "$NGPU" "$(($(date +%s) - T_START))"
printf '%s\n' "${RESULTS[@]}"
for r in "${RESULTS[@]}"; do
    case $r in FAIL*) exit 1 ;; esac
done
exit 0
