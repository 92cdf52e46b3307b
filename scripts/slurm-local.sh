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
# Two nodes (SLURM_NODES=2, the default where `ip netns` works): this host's name on a veth
# address ($NET.1), and "n2" in a network namespace of its own ($NET.2) with its own host name
# (a UTS namespace), so a pilot on n2 reaches the scheduler over a real network hop, as on a
# cluster. Debian's slurmd is built without --enable-multiple-slurmd: the namespaces are what
# lets two run on one machine. Pilots must then dial $NET.1, not 127.0.0.1: `start` prints
# SLURM_LOCAL_ADVERTISE for the tests. SLURM_NODES=1 gives the plain one-node cluster.
#
# Tunables: SLURM_NODES (2), SLURM_FAKE_GPUS (4 per node), SLURM_CPUS (8 per node; more than
# nproc is allowed), SLURMD_TIMEOUT (5), MESSAGE_TIMEOUT (10), SLURMCTLD_PORT (6817),
# SLURMD_PORT (6818), SLURM_NET (10.77.0: the veth subnet), SLURM_NETNS (sieve-slurm-n2),
# SLURM_WARMUP (1).
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
NODES=${SLURM_NODES:-2}
NET=${SLURM_NET:-10.77.0}
NS=${SLURM_NETNS:-sieve-slurm-n2}
VETH=${SLURM_VETH:-svslurm}
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
  for d in slurmd-n2 slurmd slurmctld; do
    [ -f "$S/$d.bgpid" ] || continue
    local pid; pid=$(cat "$S/$d.bgpid")
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid"
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
    fi
    rm -f "$S/$d.bgpid"
  done
  if [ -f "$S/netns" ]; then            # ours: made by start
    ip netns del "$(cat "$S/netns")" 2>/dev/null || true
    ip link del "$VETH-h" 2>/dev/null || true
    rm -f "$S/netns"
  fi
}

# The second node's network: a veth pair, this host's end $NET.1, n2's end $NET.2 in netns $NS.
net_up() {
  ip netns list | grep -qw "$NS" && die "network namespace $NS exists (another cluster? SLURM_NETNS)"
  ip netns add "$NS" || return 1
  echo "$NS" > "$S/netns"
  ip link add "$VETH-h" type veth peer name "$VETH-n" netns "$NS" || return 1
  ip addr add "$NET.1/24" dev "$VETH-h" && ip link set "$VETH-h" up || return 1
  ip netns exec "$NS" ip addr add "$NET.2/24" dev "$VETH-n" || return 1
  ip netns exec "$NS" ip link set "$VETH-n" up && ip netns exec "$NS" ip link set lo up
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
  mkdir -p "$S"/{ctld,d,log,gpu,gpu2}
  local addr=127.0.0.1
  if [ "$NODES" = 2 ]; then
    if net_up; then addr=$NET.1; else
      echo "slurm-local: no network namespace here; one node" >&2
      stop; NODES=1; mkdir -p "$S"/{ctld,d,log,gpu}
    fi
  fi
  # Fake GPUs: Slurm drops file-less GPUs and sets no CUDA_VISIBLE_DEVICES for regular files;
  # character devices (never opened) work.
  for i in $(seq 0 $((NGPU-1))); do
    [ -c "$S/gpu/nvidia$i" ] || { rm -f "$S/gpu/nvidia$i"; mknod "$S/gpu/nvidia$i" c 195 "$i"; }
    [ -c "$S/gpu2/nvidia$i" ] || { rm -f "$S/gpu2/nvidia$i"; mknod "$S/gpu2/nvidia$i" c 195 "$i"; }
  done
  cat > "$S/slurm.conf" <<CONF
ClusterName=sievetest
SlurmctldHost=$HOST($addr)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$D_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/none
CredType=cred/none
StateSaveLocation=$S/ctld
SlurmdSpoolDir=$S/d/%n
SlurmctldPidFile=$S/slurmctld.pid
SlurmdPidFile=$S/d/slurmd-%n.pid
SlurmctldLogFile=$S/log/slurmctld.log
SlurmdLogFile=$S/log/slurmd-%n.log
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
NodeName=$HOST NodeAddr=$addr CPUs=$NCPU RealMemory=4096 Gres=gpu:$NGPU State=UNKNOWN
CONF
  [ "$NODES" = 2 ] && echo "NodeName=n2 NodeAddr=$NET.2 CPUs=$NCPU RealMemory=4096 Gres=gpu:$NGPU State=UNKNOWN" >> "$S/slurm.conf"
  echo "PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP" >> "$S/slurm.conf"
  echo "NodeName=$HOST Name=gpu File=$S/gpu/nvidia[0-$((NGPU-1))]" > "$S/gres.conf"
  [ "$NODES" = 2 ] && echo "NodeName=n2 Name=gpu File=$S/gpu2/nvidia[0-$((NGPU-1))]" >> "$S/gres.conf"
  mkdir -p "$S/d/$HOST" "$S/d/n2"

  slurmctld -D -i >"$S/log/slurmctld.out" 2>&1 </dev/null &
  echo $! > "$S/slurmctld.bgpid"
  for _ in $(seq 100); do
    alive slurmctld || die "slurmctld exited"
    timeout 2 scontrol ping >/dev/null 2>&1 && break; sleep 0.1
  done
  sleep 0.2; alive slurmctld || die "slurmctld exited"
  slurmd -D >"$S/log/slurmd.out" 2>&1 </dev/null &
  echo $! > "$S/slurmd.bgpid"
  if [ "$NODES" = 2 ]; then
    # n2: its own network (the netns) and its own host name (a UTS namespace), so slurmd
    # takes the NodeName=n2 line; every exec keeps $! the daemon's PID. nsenter, not
    # `ip netns exec`: the latter remounts /sys, and slurmd needs /sys/fs/cgroup.
    nsenter --net="/run/netns/$NS" unshare --uts sh -c 'hostname n2 && exec slurmd -D' \
      >"$S/log/slurmd-n2.out" 2>&1 </dev/null &
    echo $! > "$S/slurmd-n2.bgpid"
  fi
  local want=$HOST; [ "$NODES" = 2 ] && want="$HOST,n2"
  st=
  for _ in $(seq 100); do
    alive slurmd || die "slurmd exited"
    [ "$NODES" = 2 ] && { alive slurmd-n2 || die "slurmd of n2 exited"; }
    st=$(timeout 2 sinfo -h -n "$want" -o %T 2>/dev/null | sort -u | tr '\n' ' ' || true)
    [ "$st" = "idle " ] && break; sleep 0.1
  done
  [ "$st" = "idle " ] || die "nodes $want not idle (state: ${st:-?})"
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
  echo "export SLURM_LOCAL_ADVERTISE=$addr"
  echo "$addr" > "$S/advertise"
}

status() {
  alive slurmctld && alive slurmd || { echo "slurm-local: not running" >&2; return 1; }
  sinfo -h -N -o '%N %T %G'
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  install) install ;;
  *) echo "usage: $0 start|stop|status|install" >&2; exit 2 ;;
esac
