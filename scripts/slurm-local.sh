#!/bin/bash
# slurm-local.sh start|stop|status - a one-node Slurm (Debian 12, Slurm 22.05) with fake GPUs as
# GRES, the fixture of sieve's Slurm tests (tests/integration/test_slurm.c) and bench/slurm.
#
# Run as root. State lives under $SLURM_LOCAL_DIR (default /tmp/slurm-local); every Slurm
# client needs SLURM_CONF=$SLURM_LOCAL_DIR/slurm.conf, which `start` prints. No munged:
# AuthType=auth/none with CredType=cred/none works in Debian's 22.05. Daemons run in the
# foreground in the background of this script and are stopped by their recorded PIDs, never
# by name (other sessions on the machine may run their own).
#
# One node, not two in network namespaces: Debian's slurmd is built without
# --enable-multiple-slurmd, so a second slurmd needs its own network namespace *and* its own
# hostname resolution, spool and port, and slurmctld must reach it; see docs/slurm.md.
#
# Tunables: SLURM_FAKE_GPUS (4), SLURM_CPUS (8; more than nproc is allowed), SLURMD_TIMEOUT (5),
# MESSAGE_TIMEOUT (10), SLURMCTLD_PORT (6817), SLURMD_PORT (6818), SLURM_WARMUP (1).
set -euo pipefail
export PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH
S=${SLURM_LOCAL_DIR:-/tmp/slurm-local}
NGPU=${SLURM_FAKE_GPUS:-4}
NCPU=${SLURM_CPUS:-8}
SLURMD_TIMEOUT=${SLURMD_TIMEOUT:-5}
MESSAGE_TIMEOUT=${MESSAGE_TIMEOUT:-10}
CTLD_PORT=${SLURMCTLD_PORT:-6817}
D_PORT=${SLURMD_PORT:-6818}
HOST=$(hostname -s)
export SLURM_CONF=$S/slurm.conf
ms() { echo $(( $(date +%s%N) / 1000000 )); }
die() { echo "slurm-local: $*" >&2; tail -n 5 "$S"/log/*.out >&2 2>/dev/null || true; exit 1; }
alive() { [ -f "$S/$1.bgpid" ] && kill -0 "$(cat "$S/$1.bgpid")" 2>/dev/null; }
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

stop() {
  if alive slurmctld; then
    # A job's slurmstepd outlives slurmd: cancel every job first.
    local jobs; jobs=$(timeout 5 squeue -h -o %i 2>/dev/null || true)
    if [ -n "$jobs" ]; then
      scancel $jobs 2>/dev/null || true
      for _ in $(seq 100); do [ -z "$(timeout 5 squeue -h -o %i 2>/dev/null)" ] && break; sleep 0.1; done
    fi
  fi
  for d in slurmd slurmctld; do
    [ -f "$S/$d.bgpid" ] || continue
    local pid; pid=$(cat "$S/$d.bgpid")
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid"
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
    fi
    rm -f "$S/$d.bgpid"
  done
}

install() {
  if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v sbatch >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -q --no-install-recommends slurmctld slurmd slurm-client >/dev/null
  fi
}

start() {
  local t0 t1 t2 t3 st j
  t0=$(ms)
  [ "$(id -u)" = 0 ] || die "must run as root (slurmd runs jobs as their users)"
  install
  t1=$(ms)
  stop
  for p in $CTLD_PORT $D_PORT; do port_busy "$p" && die "port $p already in use (another slurmctld/slurmd?)"; done
  rm -rf "$S/ctld" "$S/d" "$S/log"
  mkdir -p "$S"/{ctld,d,log,gpu}
  # Fake GPUs: Slurm drops file-less GPUs and sets no CUDA_VISIBLE_DEVICES for regular files;
  # character devices (never opened) work.
  for i in $(seq 0 $((NGPU-1))); do
    [ -c "$S/gpu/nvidia$i" ] || { rm -f "$S/gpu/nvidia$i"; mknod "$S/gpu/nvidia$i" c 195 "$i"; }
  done
  cat > "$S/slurm.conf" <<CONF
ClusterName=sievetest
SlurmctldHost=$HOST(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$D_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/none
CredType=cred/none
StateSaveLocation=$S/ctld
SlurmdSpoolDir=$S/d
SlurmctldPidFile=$S/slurmctld.pid
SlurmdPidFile=$S/slurmd.pid
SlurmctldLogFile=$S/log/slurmctld.log
SlurmdLogFile=$S/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$S/log/jobcomp.log
MinJobAge=600
ReturnToService=1
SlurmdTimeout=$SLURMD_TIMEOUT
MessageTimeout=$MESSAGE_TIMEOUT
SlurmctldTimeout=10
InactiveLimit=0
KillWait=2
MailProg=/bin/true
GresTypes=gpu
SlurmdParameters=config_overrides
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$NCPU RealMemory=4096 Gres=gpu:$NGPU State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
  echo "NodeName=$HOST Name=gpu File=$S/gpu/nvidia[0-$((NGPU-1))]" > "$S/gres.conf"

  slurmctld -D -i >"$S/log/slurmctld.out" 2>&1 </dev/null &
  echo $! > "$S/slurmctld.bgpid"
  for _ in $(seq 100); do
    alive slurmctld || die "slurmctld exited"
    timeout 2 scontrol ping >/dev/null 2>&1 && break; sleep 0.1
  done
  sleep 0.2; alive slurmctld || die "slurmctld exited"
  slurmd -D >"$S/log/slurmd.out" 2>&1 </dev/null &
  echo $! > "$S/slurmd.bgpid"
  st=
  for _ in $(seq 100); do
    alive slurmd || die "slurmd exited"
    st=$(timeout 2 sinfo -h -n "$HOST" -o %T 2>/dev/null || true)
    [ "$st" = idle ] && break; sleep 0.1
  done
  [ "$st" = idle ] || die "node $HOST not idle (state: ${st:-?})"
  t2=$(ms)
  # The main scheduler first runs ~3 s after slurmctld starts: a probe job absorbs it.
  if [ "${SLURM_WARMUP:-1}" = 1 ]; then
    j=$(sbatch --parsable -o /dev/null --wrap true)
    for _ in $(seq 150); do
      scontrol show job "$j" -o 2>/dev/null | grep -q 'JobState=COMPLETED' && break; sleep 0.1
    done
    scontrol show job "$j" -o | grep -q 'JobState=COMPLETED' || die "probe job $j did not complete"
  fi
  t3=$(ms)
  echo "slurm-local: install $((t1-t0)) ms, daemons up $((t2-t1)) ms, warm-up $((t3-t2)) ms" >&2
  echo "export SLURM_CONF=$S/slurm.conf"
}

status() {
  alive slurmctld && alive slurmd || { echo "slurm-local: not running" >&2; return 1; }
  sinfo -h -o '%N %T %G'
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  install) install ;;
  *) echo "usage: $0 start|stop|status|install" >&2; exit 2 ;;
esac
