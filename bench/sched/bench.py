#!/usr/bin/python3
"""bench/sched/bench.py - scheduler throughput of sieve, side by side with Snakemake, make and Dask.

The DAG: SAMPLES samples, each a chain of four no-op tasks (a leaf that reads the sample's
media file, then three tasks that each read their input and write an output), so 2,500
samples give 10,000 tasks. sieve runs it with persistent workers on 2 CPU slots; Snakemake
(-j2, `run:` rules that only create their output file, its cheapest rule kind), make (-j2,
`touch`) and Dask's distributed scheduler (a LocalCluster of 2 worker processes with one thread
each; a task stats its input and creates its output, as the other peers do) run the same shape.
Snakemake is slow enough that, by default, it runs the same shape on PEER_SAMPLES samples, and
Dask on DASK_SAMPLES (tasks per second is a rate; a smaller DAG only flatters the peer).

Each tool runs REPEATS times from a clean state; the table shows medians, tasks per second,
per-task overhead (wall time / tasks) and sieve's ratio to each peer. Everything runs under
WORKDIR (default /dev/shm, so the figures measure orchestration, not the disk); sieve is also
run DISK_REPEATS times (0 skips it) with its store on WORKDIR_DISK (default /tmp) in each
durability mode: batch (the default: one syncfs per index commit) and strict (fsync per
artifact).

Dask's time runs from the first submission to the last result; starting the cluster (scheduler
and worker processes) is timed separately, printed below the table and left out of its rate,
since a Dask user keeps a cluster up across many graphs. DASK_SUBMIT says how the DAG is handed
over: `graph` (default: one low-level task graph through Client.get, Dask's cheapest path) or
`futures` (one Client.submit per task, futures as dependencies).

usage: bench/sched/bench.py [BUILD_DIR]    (env: SAMPLES, PEER_SAMPLES, DASK_SAMPLES, DASK_SUBMIT,
                                            REPEATS, SIEVE_REPEATS, WORKDIR, WORKDIR_DISK,
                                            DISK_REPEATS, SLOTS)
"""
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

BUILD = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build")
SAMPLES = int(os.environ.get("SAMPLES", 2500))
PEER_SAMPLES = int(os.environ.get("PEER_SAMPLES", 50))
# About 500 tasks/s on the 2-core machine: 4,000 tasks take ~8 s a run, plus ~3 s of cluster start.
DASK_SAMPLES = int(os.environ.get("DASK_SAMPLES", 1000))
DASK_SUBMIT = os.environ.get("DASK_SUBMIT", "graph")
REPEATS = int(os.environ.get("REPEATS", 3))
SIEVE_REPEATS = int(os.environ.get("SIEVE_REPEATS", 5))  # sieve runs take seconds
DISK_REPEATS = int(os.environ.get("DISK_REPEATS", 3))
SLOTS = int(os.environ.get("SLOTS", 2))
WORKDIR = os.environ.get("WORKDIR", "/dev/shm" if os.path.isdir("/dev/shm") else "/tmp")
WORKDIR_DISK = os.environ.get("WORKDIR_DISK", "/tmp")
NODES = 4


def make_dataset(root, n):
    os.makedirs(os.path.join(root, "media"), exist_ok=True)
    with open(os.path.join(root, "clips.jsonl"), "w") as m:
        for i in range(n):
            p = "media/s%05d.bin" % i
            with open(os.path.join(root, p), "wb") as f:
                f.write(i.to_bytes(4, "little"))
            m.write('{"id":"s%05d","media":"%s"}\n' % (i, p))
    with open(os.path.join(root, "p.yaml"), "w") as f:
        f.write("name: bench\n"
                "dataset: { manifest: clips.jsonl }\n"
                "nodes:\n"
                "  n0: { plugin: sched-source }\n"
                "  n1: { plugin: sched-count, in: { in: n0 } }\n"
                "  n2: { plugin: sched-count, in: { in: n1 } }\n"
                "  n3: { plugin: sched-count, in: { in: n2 } }\n")
    rules = "".join(
        'rule n%d:\n    input: "%s"\n    output: "out/n%d/{s}"\n    run:\n'
        '        open(output[0], "w").close()\n' %
        (k, "media/{s}.bin" if k == 0 else "out/n%d/{s}" % (k - 1), k) for k in range(NODES))
    with open(os.path.join(root, "Snakefile"), "w") as f:
        f.write('SAMPLES = ["s%%05d" %% i for i in range(%d)]\n'
                'rule all:\n    input: expand("out/n3/{s}", s=SAMPLES)\n' % n + rules)
    with open(os.path.join(root, "Makefile"), "w") as f:
        f.write("SAMPLES := $(shell seq -f 's%%05g' 0 %d)\n" % (n - 1))
        f.write("all: $(addprefix out/n3/,$(SAMPLES))\n")
        f.write("out/n0/%: media/%.bin\n\t@touch $@\n")
        for k in range(1, NODES):
            f.write("out/n%d/%%: out/n%d/%%\n\t@touch $@\n" % (k, k - 1))
        f.write(".SECONDARY:\n")
    for k in range(NODES):
        os.makedirs(os.path.join(root, "out", "n%d" % k), exist_ok=True)


def clean(root):
    for k in range(NODES):
        d = os.path.join(root, "out", "n%d" % k)
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
    shutil.rmtree(os.path.join(root, ".snakemake"), ignore_errors=True)


def timed(cmd, cwd, env=None):
    t0 = time.monotonic()
    r = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    dt = time.monotonic() - t0
    if r.returncode != 0:
        sys.exit("bench: %s failed (%d): %s" % (" ".join(cmd), r.returncode,
                                                 r.stderr.decode()[-2000:]))
    return dt


def run_sieve(root, store, durability="batch"):
    env = dict(os.environ)
    env["SIEVE_DURABILITY"] = durability
    env["SIEVE_PLUGIN_PATH"] = os.path.join(BUILD, "test-plugins-sched")
    shutil.rmtree(store, ignore_errors=True)
    return timed([os.path.join(BUILD, "sieve"), "run", "--store", store, "--devices",
                  "cpu:%d" % SLOTS, "p.yaml"], root, env)


def dask_touch(inp, out):
    """One Dask task: what make's touch and Snakemake's run: rule do (input there, output made)."""
    os.stat(inp)
    open(out, "w").close()
    return out


def run_dask(root, n):
    """Runs the DAG once on a fresh LocalCluster; returns (cluster start s, DAG s)."""
    import logging
    import distributed

    clean(root)
    t0 = time.monotonic()
    # No dashboard: it needs bokeh and a port, and is no part of scheduling.
    cluster = distributed.LocalCluster(n_workers=SLOTS, threads_per_worker=1, processes=True,
                                       dashboard_address=None, silence_logs=logging.ERROR)
    client = distributed.Client(cluster)
    try:
        t1 = time.monotonic()
        last = []
        if DASK_SUBMIT == "futures":
            for i in range(n):
                dep = os.path.join(root, "media/s%05d.bin" % i)
                for k in range(NODES):
                    out = os.path.join(root, "out/n%d/s%05d" % (k, i))
                    dep = client.submit(dask_touch, dep, out, key="n%d-s%05d" % (k, i))
                last.append(dep)
            got = client.gather(last)
        else:
            graph = {}
            for i in range(n):
                dep = os.path.join(root, "media/s%05d.bin" % i)
                for k in range(NODES):
                    key = "n%d-s%05d" % (k, i)
                    graph[key] = (dask_touch, dep, os.path.join(root, "out/n%d/s%05d" % (k, i)))
                    dep = key
                last.append(key)
            got = client.get(graph, last)
        t2 = time.monotonic()
    finally:
        client.close()
        cluster.close()
    want = [os.path.join(root, "out/n%d/s%05d" % (NODES - 1, i)) for i in range(n)]
    if list(got) != want or len(os.listdir(os.path.join(root, "out/n%d" % (NODES - 1)))) != n:
        sys.exit("bench: dask returned %d results, not the %d outputs expected" % (len(got), n))
    return t1 - t0, t2 - t1


def main():
    for tool in ("snakemake", "make"):
        if not shutil.which(tool):
            sys.exit("bench: '%s' not found (scripts/install-deps.sh)" % tool)
    try:
        import distributed  # noqa: F401
    except ImportError:
        sys.exit("bench: python module 'distributed' not found "
                 "(apt-get install python3-distributed)")
    if DASK_SUBMIT not in ("graph", "futures"):
        sys.exit("bench: DASK_SUBMIT must be 'graph' or 'futures', not '%s'" % DASK_SUBMIT)
    big = tempfile.mkdtemp(prefix="sieve-bench-", dir=WORKDIR)
    small = tempfile.mkdtemp(prefix="sieve-bench-peer-", dir=WORKDIR)
    dask_root = tempfile.mkdtemp(prefix="sieve-bench-dask-", dir=WORKDIR)
    disk = tempfile.mkdtemp(prefix="sieve-bench-disk-", dir=WORKDIR_DISK)
    try:
        make_dataset(big, SAMPLES)
        make_dataset(small, PEER_SAMPLES)
        make_dataset(dask_root, DASK_SAMPLES)
        n_big, n_small, n_dask = SAMPLES * NODES, PEER_SAMPLES * NODES, DASK_SAMPLES * NODES
        rows = []
        t = [run_sieve(big, os.path.join(big, ".sieve")) for _ in range(SIEVE_REPEATS)]
        shm = "sieve (%d worker slots, store on %s)" % (SLOTS, WORKDIR)
        rows.append((shm, n_big, t))
        batch = strict = None
        if DISK_REPEATS > 0:
            for mode in ("batch", "strict"):
                t = [run_sieve(big, os.path.join(disk, ".sieve"), mode)
                     for _ in range(DISK_REPEATS)]
                rows.append(("sieve (store on %s, %s)" % (WORKDIR_DISK, mode), n_big, t))
            batch, strict = rows[-2][0], rows[-1][0]
        n_sieve_rows = len(rows)
        t = []
        for _ in range(REPEATS):
            clean(big)
            t.append(timed(["make", "-j2", "-s"], big))
        rows.append(("make -j2 (touch)", n_big, t))
        t = []
        for _ in range(REPEATS):
            clean(small)
            t.append(timed(["snakemake", "-j2", "--quiet"], small))
        rows.append(("snakemake -j2 (run: rules)", n_small, t))
        start, t = [], []
        for _ in range(REPEATS):
            st, d = run_dask(dask_root, DASK_SAMPLES)
            start.append(st)
            t.append(d)
        dask_name = "dask LocalCluster %dx1 (%s)" % (SLOTS, DASK_SUBMIT)
        rows.append((dask_name, n_dask, t))

        print("DAG: chains of %d no-op tasks; %d tasks for sieve and make, %d for Snakemake, "
              "%d for Dask; medians of %d runs (sieve %d, on disk %d)" %
              (NODES, n_big, n_small, n_dask, REPEATS, SIEVE_REPEATS, DISK_REPEATS))
        print("%-44s %7s %10s %12s %14s" % ("tool", "tasks", "wall s", "tasks/s",
                                           "ms per task"))
        rates = {}
        for name, n, ts in rows:
            med = statistics.median(ts)
            rates[name] = n / med
            print("%-44s %7d %10.3f %12.0f %14.3f" % (name, n, med, n / med, 1000 * med / n))
        print("%s: cluster start (scheduler + %d worker processes), not in the row above: "
              "median %.3f s (runs %s)" % (dask_name, SLOTS, statistics.median(start),
                                           ", ".join("%.2f" % x for x in start)))
        peers = [r[0] for r in rows[n_sieve_rows:]]
        for base, label in ((shm, "sieve"), (batch, "sieve on disk, batch")):
            if base is None:
                continue
            for name in peers:
                print("ratio %s / %-26s %8.1fx" % (label, name, rates[base] / rates[name]))
        if batch is not None:
            print("ratio disk batch / disk strict %22.1fx" % (rates[batch] / rates[strict]))
            print("ratio disk batch / %-33s %.2fx" % ("/dev/shm", rates[batch] / rates[shm]))
    finally:
        shutil.rmtree(big, ignore_errors=True)
        shutil.rmtree(small, ignore_errors=True)
        shutil.rmtree(dask_root, ignore_errors=True)
        shutil.rmtree(disk, ignore_errors=True)


if __name__ == "__main__":
    main()
