#!/usr/bin/python3
"""bench/serve/bench.py - `sieve serve` against `sieve run`, and the HTTP API under load.

The DAG is bench/sched's: SAMPLES samples, each a chain of four no-op tasks (2,500 samples give
10,000 tasks), on 2 CPU slots, with the store on WORKDIR (default /dev/shm: orchestration, not
the disk). Four ways to run it, each REPEATS times from a fresh store, medians reported:

  run         `sieve run p.yaml` (plans, schedules, exits)
  serve       a running `sieve serve`; `sieve submit p.yaml --wait` (planning is in both)
  serve+wrk   the same while wrk hammers the read endpoints with WRK_CONNS connections as fast
              as they answer (runs, one run, its tasks page, devices)
  serve+page  the same while wrk sends PAGE_RATE requests per second, about what a few open
              web pages polling the API send

For the two loads, wrk's latency percentiles (p50, p99) of the API during the run come out too
(wrk starts once the daemon has accepted the run). The ratios say what the daemon costs against
`sieve run`, and what the API load costs the run.

usage: bench/serve/bench.py [BUILD_DIR]   (env: SAMPLES, REPEATS, WORKDIR, SLOTS, WRK_CONNS,
                                           PAGE_RATE)
"""
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

BUILD = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build")
SAMPLES = int(os.environ.get("SAMPLES", 2500))
REPEATS = int(os.environ.get("REPEATS", 3))
SLOTS = int(os.environ.get("SLOTS", 2))
WRK_CONNS = int(os.environ.get("WRK_CONNS", 2))
PAGE_RATE = int(os.environ.get("PAGE_RATE", 50))
WORKDIR = os.environ.get("WORKDIR", "/dev/shm" if os.path.isdir("/dev/shm") else "/tmp")
SIEVE = os.path.join(BUILD, "sieve")


def make_dataset(root, n):
    """bench/sched's DAG and dataset (its peer files come along unused)."""
    import importlib.util
    here = os.path.dirname(os.path.abspath(__file__))
    spec = importlib.util.spec_from_file_location("sched_bench",
                                                  os.path.join(here, "..", "sched", "bench.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    mod.make_dataset(root, n)


def env():
    e = dict(os.environ)
    e["SIEVE_PLUGIN_PATH"] = os.path.join(BUILD, "test-plugins-sched")
    return e


def check(r, what):
    if r.returncode != 0:
        sys.exit("bench: %s failed (%d): %s" % (what, r.returncode, r.stderr.decode()[-2000:]))


def dispatch_seconds(root, store):
    """The newest run's own time in the store, start to end: what the scheduler took once the
    run was planned and recorded (the wall time adds planning, and for submit the client's)."""
    import json
    r = subprocess.run([SIEVE, "ls", "--json", "--store", store], cwd=root, env=env(),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    check(r, "sieve ls")
    runs = json.loads(r.stdout)
    return (runs[0]["finished_ms"] - runs[0]["started_ms"]) / 1000.0


def time_run(root, store):
    shutil.rmtree(store, ignore_errors=True)
    t0 = time.monotonic()
    r = subprocess.run([SIEVE, "run", "--store", store, "--devices", "cpu:%d" % SLOTS, "p.yaml"],
                       cwd=root, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    dt = time.monotonic() - t0
    check(r, "sieve run")
    return dt, dispatch_seconds(root, store)


def start_serve(root, store):
    shutil.rmtree(store, ignore_errors=True)
    log = open(os.path.join(root, "serve.log"), "w")
    p = subprocess.Popen([SIEVE, "serve", "--store", store, "--listen", "127.0.0.1:0",
                          "--devices", "cpu:%d" % SLOTS], cwd=root, env=env(),
                         stdout=log, stderr=log)
    info = os.path.join(store, "scheduler.json")
    for _ in range(500):
        try:
            m = re.search(r'"url": "([^"]+)"', open(info).read())
            if m:
                return p, m.group(1)
        except OSError:
            pass
        time.sleep(0.02)
    p.kill()
    sys.exit("bench: sieve serve did not start: " + open(os.path.join(root, "serve.log")).read())


def wrk_script(root, rate):
    """Cycles over the read endpoints; with a rate, each connection waits between requests."""
    path = os.path.join(root, "load%d.lua" % rate)
    delay = ""
    if rate > 0:
        delay = "function delay() return %d end\n" % max(1, int(1000 * WRK_CONNS / rate))
    with open(path, "w") as f:
        f.write('local paths = {"/api/runs", "/api/runs/1", "/api/runs/1/tasks?limit=50",'
                ' "/api/devices"}\n'
                'local i = 0\n'
                'function request()\n'
                '  i = i % #paths + 1\n'
                '  return wrk.format("GET", paths[i])\n'
                'end\n' + delay)
    return path


def latency(out, pct):
    m = re.search(r"^\s+%d%%\s+([\d.]+)(us|ms|s)\s*$" % pct, out, re.M)
    if not m:
        return float("nan")
    v = float(m.group(1))
    return v / 1000 if m.group(2) == "us" else v * 1000 if m.group(2) == "s" else v


def time_serve(root, store, load_rate=None, wrk_seconds=0):
    """One submit through a fresh daemon; with load_rate (0: unpaced) wrk runs from the moment
    the daemon accepted the run (planned and recorded it) to its end, so its figures are those
    of the API during the run. Returns (seconds, wrk output or "", dispatch seconds)."""
    p, url = start_serve(root, store)
    w = None
    try:
        t0 = time.monotonic()
        sub = subprocess.Popen([SIEVE, "submit", "--store", store, "--wait", "p.yaml"], cwd=root,
                               env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        err = b""
        if load_rate is not None:
            for line in sub.stderr:
                err += line
                if b"submitted" in line:
                    break
            w = subprocess.Popen(["wrk", "-t1", "-c%d" % WRK_CONNS, "-d%ds" % wrk_seconds,
                                  "--latency", "-s", wrk_script(root, load_rate), url],
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        err += sub.stderr.read()
        rc = sub.wait()
        dt = time.monotonic() - t0
        out = ""
        if w:
            w.send_signal(signal.SIGINT)  # wrk prints its figures when interrupted
            out = w.communicate(timeout=60)[0].decode()
        if rc != 0:
            sys.exit("bench: sieve submit --wait failed (%d): %s" % (rc, err.decode()[-2000:]))
        return dt, out, dispatch_seconds(root, store)
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=60)


def main():
    if not os.path.exists(os.path.join(BUILD, "test-plugins-sched")):
        sys.exit("bench: build the tests first (cmake -DSIEVE_BUILD_TESTS=ON)")
    if not shutil.which("wrk"):
        sys.exit("bench: wrk is missing: apt-get install wrk (scripts/install-deps.sh all)")
    root = tempfile.mkdtemp(prefix="sieve-bench-serve-", dir=WORKDIR)
    try:
        make_dataset(root, SAMPLES)
        store = os.path.join(root, "store")
        n = SAMPLES * 4
        times = {"run": [], "serve": [], "serve+wrk": [], "serve+page": []}
        disp = {a: [] for a in times}
        lat = {"serve+wrk": [], "serve+page": []}
        for k in range(REPEATS):
            dt, ds = time_run(root, store)
            times["run"].append(dt)
            disp["run"].append(ds)
            dt, _, ds = time_serve(root, store)
            times["serve"].append(dt)
            disp["serve"].append(ds)
            secs = int(times["run"][-1] * 3) + 5
            for name, rate in (("serve+wrk", 0), ("serve+page", PAGE_RATE)):
                dt, out, ds = time_serve(root, store, rate, secs)
                times[name].append(dt)
                disp[name].append(ds)
                lat[name].append((latency(out, 50), latency(out, 99),
                                  float((re.search(r"Requests/sec:\s+([\d.]+)", out) or
                                         re.search("()", "0")).group(1) or 0)))
            print("repeat %d/%d: %s" % (k + 1, REPEATS, ", ".join(
                "%s %.2f s" % (a, b[-1]) for a, b in times.items())), file=sys.stderr)
        med = {a: statistics.median(b) for a, b in times.items()}
        dmed = {a: statistics.median(b) for a, b in disp.items()}
        print("DAG: chains of 4 no-op tasks, %d tasks, %d CPU slots, store on %s; medians of %d"
              % (n, SLOTS, WORKDIR, REPEATS))
        print("wall: the command, planning included; dispatch: the run's start to end in the store")
        print()
        print("| way | wall s | tasks/s | vs sieve run | dispatch s | tasks/s | vs sieve run |"
              " vs serve alone |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for a in times:
            print("| %s | %.2f | %.0f | %.2f | %.2f | %.0f | %.2f | %.2f |" % (
                a, med[a], n / med[a], med["run"] / med[a], dmed[a], n / dmed[a],
                dmed["run"] / dmed[a], dmed["serve"] / dmed[a]))
        print()
        print("| API load | requests/s | p50 ms | p99 ms |")
        print("|---|---:|---:|---:|")
        for a, rows in lat.items():
            print("| %s | %.0f | %.2f | %.2f |" % (
                "unpaced, %d connections" % WRK_CONNS if a == "serve+wrk"
                else "paced at %d/s" % PAGE_RATE,
                statistics.median(r[2] for r in rows), statistics.median(r[0] for r in rows),
                statistics.median(r[1] for r in rows)))
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
