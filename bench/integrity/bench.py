#!/usr/bin/python3
"""bench/integrity/bench.py - what verifying cached inputs costs, with verification on and off.

A run re-hashes every cached object that one of its tasks will read (plan_verify_inputs,
docs/architecture.md "The store"), once per run, before the first dispatch. The cost shows in
runs that read many cached objects, so each case first fills a store, then times a second run
that changes one parameter downstream, against a fresh copy of the filled store each time:

  demo     pipelines/demo.yaml (decode -> encode -> prune -> fuse -> evaluate, 24 clips,
           582 tasks) filled once, then `--set keep=[0.3]`: 170 tasks run and read the 48
           cached encoder outputs (vision and audio).
  10k      chains of four tasks per sample over SAMPLES samples (2,500: 10,000 tasks; the
           test plugins sched-source and sched-count, as bench/sched), then a second run with
           the last node's parameter changed: SAMPLES tasks run, each reading one cached
           object of WIDTH float64 values (default 4,096: 32 KiB).

Each second run is timed REPEATS times with SIEVE_VERIFY_INPUTS unset (verification on) and
=off, alternating; the table gives the median wall time of the run, the verification time
sieve reports, bytes hashed, and the ratio on/off. The page cache is warm (the store was just
written or copied): the figure is the cost of hashing, not of reading a cold disk.

usage: bench/integrity/bench.py [BUILD_DIR]   (env: SAMPLES, WIDTH, REPEATS, SLOTS, WORKDIR, CASES)
"""
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

BUILD = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build")
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SAMPLES = int(os.environ.get("SAMPLES", 2500))
WIDTH = int(os.environ.get("WIDTH", 4096))
REPEATS = int(os.environ.get("REPEATS", 5))
SLOTS = int(os.environ.get("SLOTS", 2))
WORKDIR = os.environ.get("WORKDIR", "/tmp")
CASES = os.environ.get("CASES", "demo,10k").split(",")
SIEVE = os.path.join(BUILD, "sieve")
VERIFIED = re.compile(r"verified (\d+) cached inputs? \(([\d.]+) MiB\) in (\d+) ms")


def run(args, cwd, verify):
    env = dict(os.environ)
    env["SIEVE_PLUGIN_PATH"] = os.path.join(BUILD, "test-plugins-sched")
    if verify:
        env.pop("SIEVE_VERIFY_INPUTS", None)
    else:
        env["SIEVE_VERIFY_INPUTS"] = "off"
    t0 = time.monotonic()
    p = subprocess.run([SIEVE] + args, cwd=cwd, env=env, capture_output=True, text=True)
    wall = time.monotonic() - t0
    if p.returncode != 0:
        sys.exit("sieve %s failed (%d):\n%s" % (" ".join(args), p.returncode, p.stderr))
    m = VERIFIED.search(p.stderr)
    return wall, (int(m.group(1)), float(m.group(2)), int(m.group(3))) if m else (0, 0.0, 0)


def case_demo(work):
    data = os.path.join(ROOT, "demo-data")
    if not os.path.exists(os.path.join(data, "clips.jsonl")):
        subprocess.run(["bash", os.path.join(ROOT, "scripts/make-demo-data.sh"), data], check=True)
    filled = os.path.join(work, "demo-filled")
    first = ["run", os.path.join(ROOT, "pipelines/demo.yaml"), "--store", filled, "--devices",
             "cpu:%d" % SLOTS]
    run(first, ROOT, True)
    second = ["--set", "keep=[0.3]"]
    return filled, lambda store: ["run", os.path.join(ROOT, "pipelines/demo.yaml"), "--store",
                                  store, "--devices", "cpu:%d" % SLOTS] + second, ROOT


def case_10k(work):
    root = os.path.join(work, "chain")
    # bench/sched's dataset (media files and manifest); its pipeline is replaced below
    sys.path.insert(0, os.path.join(ROOT, "bench", "sched"))
    import bench as sched_bench
    sched_bench.make_dataset(root, SAMPLES)
    with open(os.path.join(root, "p.yaml"), "w") as f:
        f.write("name: bench\n"
                "dataset: { manifest: clips.jsonl }\n"
                "matrix: { k: [1] }\n"
                "nodes:\n"
                "  n0: { plugin: sched-source, with: { width: %d } }\n"
                "  n1: { plugin: sched-count, in: { in: n0 } }\n"
                "  n2: { plugin: sched-count, in: { in: n1 } }\n"
                "  n3: { plugin: sched-count, in: { in: n2 }, with: { add: \"${k}\" } }\n" % WIDTH)
    filled = os.path.join(work, "chain-filled")
    run(["run", "p.yaml", "--store", filled, "--devices", "cpu:%d" % SLOTS], root, True)
    return filled, lambda store: ["run", "p.yaml", "--store", store, "--devices",
                                  "cpu:%d" % SLOTS, "--set", "k=[2]"], root


def main():
    if not os.access(SIEVE, os.X_OK):
        sys.exit("no sieve binary in %s (build first)" % BUILD)
    rows = []
    work = tempfile.mkdtemp(prefix="sieve-bench-integrity-", dir=WORKDIR)
    try:
        for name in CASES:
            filled, second, cwd = {"demo": case_demo, "10k": case_10k}[name](work)
            times = {True: [], False: []}
            ver = []
            for r in range(REPEATS):
                for verify in (True, False) if r % 2 == 0 else (False, True):
                    store = os.path.join(work, "store")
                    shutil.rmtree(store, ignore_errors=True)
                    shutil.copytree(filled, store)
                    wall, v = run(second(store), cwd, verify)
                    times[verify].append(wall)
                    if verify:
                        ver.append(v)
            on, off = statistics.median(times[True]), statistics.median(times[False])
            n_obj = ver[0][0]
            mib = ver[0][1]
            vms = statistics.median(v[2] for v in ver)
            rows.append((name, n_obj, mib, vms, on, off))
            shutil.rmtree(filled, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("medians of %d runs each; second run of each case (a changed downstream parameter), "
          "%d CPU slots, store on %s" % (REPEATS, SLOTS, WORKDIR))
    print("%-6s %9s %9s %11s %12s %12s %8s" % ("case", "verified", "MiB", "verify ms",
                                               "run on s", "run off s", "on/off"))
    for name, n_obj, mib, vms, on, off in rows:
        print("%-6s %9d %9.1f %11.0f %12.3f %12.3f %7.3fx" % (name, n_obj, mib, vms, on, off,
                                                              on / off))


if __name__ == "__main__":
    main()
