#!/usr/bin/python3
"""bench/python/run.py - per-task overhead of a Python node, side by side in one run with a C
plugin doing the same nothing and with a new Python process per task.

Three ways to run no-op tasks over SAMPLES samples, each sample first having a leaf task
(sched-source, which emits x = [byte sum, size] of the sample's media file):

  sieve, C nodes       a chain of C_DEPTH sched-count nodes (a no-op C plugin: x + 0) per sample
  sieve, Python nodes  a chain of DEPTH `plugin: python` nodes running noop_node.py (x as it
                       is): one long-lived interpreter per worker slot, inputs and outputs as
                       safetensors files
  process per task     `python3 noop_node.py IN OUT` started once per task, SLOTS at a time,
                       on the leaves' objects (what Snakemake's `script:` directive does: a
                       fresh interpreter imports numpy and the bundle reader, reads one input,
                       writes one output)

The sieve rows' cost per node task is (wall time of the run with the chains - wall time of a
run with the leaves alone) / (SAMPLES x chain length): planning, worker start and the leaves cancel
out, and the chains make the node tasks most of the run so that a C node's fraction of a
millisecond stands above the noise of a shared machine. Python's one-off costs (reading the
declaration at plan time and in each worker, starting one interpreter per slot, loading the
instance) are in its figure, spread over the run. The process row is wall time / PEER_TASKS.
Every sieve run starts from an empty store. Medians of REPEATS runs; ratios at the end.

usage: bench/python/run.py [BUILD_DIR]   (env: SAMPLES (500), DEPTH (4), C_DEPTH (20),
                                          PEER_TASKS (100),
                                          REPEATS (3), SLOTS (2), WORKDIR (/dev/shm),
                                          PYTHON (/usr/bin/python3))
"""
import concurrent.futures
import glob
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

BUILD = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build")
SAMPLES = int(os.environ.get("SAMPLES", 500))
DEPTH = int(os.environ.get("DEPTH", 4))
# A C no-op costs a small fraction of a millisecond: a longer chain lifts it above the noise.
C_DEPTH = int(os.environ.get("C_DEPTH", 20))
PEER_TASKS = int(os.environ.get("PEER_TASKS", 100))
REPEATS = int(os.environ.get("REPEATS", 3))
SLOTS = int(os.environ.get("SLOTS", 2))
WORKDIR = os.environ.get("WORKDIR", "/dev/shm" if os.path.isdir("/dev/shm") else "/tmp")
PYTHON = os.environ.get("PYTHON", "/usr/bin/python3")
HERE = os.path.dirname(os.path.abspath(__file__))
SIEVE = os.path.join(BUILD, "sieve")
LIB = os.path.join(BUILD, "plugins", "python-lib")


def chain(kind, depth):
    """`depth` no-op nodes after src, each reading the previous one."""
    text, prev = "", "src"
    for i in range(depth):
        if kind == "c":
            text += "  n%d: { plugin: sched-count, in: { in: %s }, with: { add: 0 } }\n" % (i, prev)
        else:
            text += ("  n%d: { plugin: python, in: { x: %s }, with: { script: %s, python: %s } }\n"
                     % (i, prev, os.path.join(HERE, "noop_node.py"), PYTHON))
        prev = "n%d" % i
    return text


NODES = {"leaves": "", "c": chain("c", C_DEPTH), "python": chain("python", DEPTH)}
TASKS = {"c": SAMPLES * C_DEPTH, "python": SAMPLES * DEPTH, "process": PEER_TASKS}


def workspace(n):
    d = tempfile.mkdtemp(prefix="sieve-bench-python-", dir=WORKDIR)
    with open(os.path.join(d, "clips.jsonl"), "w") as m:
        for i in range(n):
            with open(os.path.join(d, "c%04d.bin" % i), "wb") as f:
                f.write(bytes([(i * 7 + k) & 0xFF for k in range(64 + i % 17)]))
            m.write('{"id": "c%04d", "media": "c%04d.bin"}\n' % (i, i))
    return d


def sieve_run(d, kind):
    with open(os.path.join(d, "p.yaml"), "w") as f:
        f.write("name: bench\ndataset: { manifest: clips.jsonl }\nnodes:\n"
                "  src: { plugin: sched-source }\n" + NODES[kind])
    store = os.path.join(d, ".sieve")
    shutil.rmtree(store, ignore_errors=True)
    env = dict(os.environ, SIEVE_PLUGIN_PATH=os.path.join(BUILD, "test-plugins-sched"),
               SIEVE_STORE=store)
    t0 = time.monotonic()
    subprocess.run([SIEVE, "run", "--devices", "cpu:%d" % SLOTS, "p.yaml"], cwd=d, env=env,
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.monotonic() - t0


def process_per_task(d, n):
    """Runs noop_node.py once per input object, SLOTS processes at a time."""
    inputs = sorted(glob.glob(os.path.join(d, ".sieve", "objects", "*", "*.safetensors")))[:n]
    if len(inputs) < n:
        raise SystemExit("only %d input objects for %d tasks" % (len(inputs), n))
    out = os.path.join(d, "out")
    os.makedirs(out, exist_ok=True)
    env = dict(os.environ, PYTHONPATH=LIB)

    def one(i):
        subprocess.run([PYTHON, "-B", os.path.join(HERE, "noop_node.py"), inputs[i],
                        os.path.join(out, "%d.safetensors" % i)], env=env, check=True)

    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(SLOTS) as pool:
        list(pool.map(one, range(n)))
    return time.monotonic() - t0


def main():
    for need in (SIEVE, os.path.join(BUILD, "test-plugins-sched"), LIB):
        if not os.path.exists(need):
            raise SystemExit("missing %s: build with -DSIEVE_BUILD_TESTS=ON" % need)
    d = workspace(SAMPLES)
    try:
        walls = {k: [] for k in ("leaves", "c", "python", "process")}
        for _ in range(REPEATS):
            for kind in ("leaves", "c", "python"):
                walls[kind].append(sieve_run(d, kind))
            sieve_run(d, "leaves")  # fresh leaf objects as the process rows' inputs
            walls["process"].append(process_per_task(d, PEER_TASKS))
        med = {k: statistics.median(v) for k, v in walls.items()}
        per = {
            "c": (med["c"] - med["leaves"]) / TASKS["c"],
            "python": (med["python"] - med["leaves"]) / TASKS["python"],
            "process": med["process"] / PEER_TASKS,
        }
        print("%d samples, chains of %d C or %d Python no-op nodes each; %d slots; medians of %d "
              "runs; %s" % (SAMPLES, C_DEPTH, DEPTH, SLOTS, REPEATS, WORKDIR))
        print("%-46s %6s %9s %12s" % ("way", "tasks", "wall s", "ms per task"))
        print("%-46s %6d %9.3f %12s" % ("sieve, leaves only (subtracted below)", SAMPLES,
                                         med["leaves"], "-"))
        rows = [("sieve, C nodes (sched-count)", "c"),
                ("sieve, Python nodes (long-lived interpreter)", "python"),
                ("new python3 process per task (script: style)", "process")]
        for label, k in rows:
            print("%-46s %6d %9.3f %12.3f" % (label, TASKS[k], med[k], per[k] * 1000))
        print("runs (s): " + "; ".join("%s %s" % (k, ", ".join("%.3f" % x for x in v))
                                      for k, v in walls.items()))

        def ratio(a, b):
            return "%.1fx" % (a / b) if b > 0 else "n/a (the C figure is within the noise)"
        print("ratio Python node / C node per task:            " + ratio(per["python"], per["c"]))
        print("ratio process per task / Python node per task:  " +
              ratio(per["process"], per["python"]))
    finally:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
