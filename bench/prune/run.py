#!/usr/bin/python3
"""Benchmark: prune-visual and prune-audio methods in C against their numpy reference.

Both run on the same inputs in one run: this script writes the inputs (64 temporal groups x
1,024 tokens x 1,280 dims for vision; 30 s of audio tokens = 750 x 1,280), times the C driver
(bench/prune/prune_bench, built by CMake) and the vectorised numpy versions
(bench/prune/np_methods.py), checks that the numpy versions keep the same rows as the golden
reference (tests/reference/prune_ref.py, untimed) and as the C driver, and prints medians and
the ratio numpy / C. C and numpy runs alternate (one C process, then the same number of numpy
calls, per round) so load from other users of the machine falls on both; the first call of
each C process is a warm-up and is not counted.

The vision methods run once per entry of --threads (default: 1, then every CPU): both sides get
the same cores, C through the plugin's `threads` parameter (groups or cells split over
threads), numpy through OpenBLAS's thread count (numpy itself runs on one core; only its BLAS
calls use more). The audio methods have no threads parameter and run on one core.

    /usr/bin/python3 bench/prune/run.py [--build build] [--reps 5] [--quick] [--only m1,m2]
                                        [--threads 1,2]

PRUNE_BENCH_DEBUG=1 prints every timing; bench/prune/README.md explains the figures.
"""
import argparse
import ctypes
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

os.environ["OPENBLAS_NUM_THREADS"] = "1"  # until set_blas_threads says otherwise
os.environ["OMP_NUM_THREADS"] = "1"

import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "reference"))
import prune_ref as ref  # noqa: E402

sys.path.insert(0, HERE)
import np_methods as fast  # noqa: E402

VISION = [
    ("dycoke", {"keep": 0.5, "window": 4}),
    ("dycoke", {"keep": 0.5, "window": 4, "faithful": 1}),
    ("uniform", {"keep": 0.5}),
    ("pixel-shuffle", {}),
    ("random", {"keep": 0.5, "seed": 1}),
    ("topk", {"keep": 0.5}),
    ("visionzip", {"keep": 0.5, "dominant_ratio": 54 / 64}),
    ("codec", {"keep": 0.5, "motion_threshold": 0.5, "match_threshold": 0.9}),
]
AUDIO = [
    ("segment-topk", {"keep": 0.25, "segments": 10}),
    ("topk", {"keep": 0.25}),
    ("threshold", {"alpha": 1.0}),
    ("uniform", {"keep": 0.25}),
    ("random", {"keep": 0.25, "seed": 1}),
]


def set_blas_threads(n):
    """Sets the thread count of the OpenBLAS numpy uses (the library is already loaded)."""
    try:
        lib = ctypes.CDLL("libopenblas.so.0")
        lib.openblas_set_num_threads(n)
        return lib.openblas_get_num_threads()
    except (OSError, AttributeError):
        return 1


def vision_ref(method, prm, x, imp, h, w, ftype, motion, impl=fast):
    keep = prm.get("keep", 0.5)
    if method == "dycoke":
        return impl.v_dycoke(x, imp, keep, prm["window"], bool(prm.get("faithful", 0)))[0]
    if method == "uniform":
        return impl.v_uniform(x, imp, keep, h, w)[0]
    if method == "pixel-shuffle":
        return impl.v_pixel_shuffle(x, imp, h, w)[0]
    if method == "random":
        return impl.v_random(x, imp, keep, prm["seed"])[0]
    if method == "topk":
        return impl.v_topk(x, imp, keep)[0]
    if method == "visionzip":
        return impl.v_visionzip(x, imp, keep, prm["dominant_ratio"], w)[0]
    if method == "codec":
        key, cm = ref.codec_groups(ftype, motion, x.shape[0], h, w)
        return impl.v_codec(x, imp, keep, key, cm, prm["motion_threshold"],
                            prm["match_threshold"])[0]
    raise ValueError(method)


def audio_ref(method, prm, x, imp, gather=True):
    keep = prm.get("keep", 0.5)
    if method == "segment-topk":
        mask = ref.a_segment_topk(imp, keep, prm["segments"])
    elif method == "topk":
        mask = ref.a_topk(imp, keep)
    elif method == "threshold":
        mask = ref.a_threshold(imp, prm["alpha"])
    elif method == "uniform":
        mask = ref.a_uniform(len(imp), keep)
    else:
        mask = ref.a_random(len(imp), keep, prm["seed"])
    rows = np.flatnonzero(mask)
    if gather:
        x[rows]  # the kept tokens, as the C side gathers them
    return rows


def time_numpy(fn, reps):
    times, out = [], None
    for _ in range(reps):
        t0 = time.perf_counter()
        out = fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return times, out


def time_c(driver, args, reps, prm, tmp):
    """One C process doing 1 + reps calls; the first (warm-up) is dropped."""
    cmd = [driver] + args + [str(reps + 1)] + ["%s=%r" % kv for kv in prm.items()]
    res = subprocess.run(cmd, capture_output=True, text=True, check=True)
    times = [float(v) for v in res.stdout.split()[2:]]
    rows = np.fromfile(os.path.join(tmp, "rows.i64"), dtype=np.int64)
    return times, rows


def interleaved(rounds, per_round, run_c, run_np):
    """Alternates C and numpy; returns (C times, numpy times, C rows, numpy rows)."""
    c_all, n_all, c_rows, n_rows = [], [], None, None
    for _ in range(rounds):
        c_t, c_rows = run_c(per_round)
        n_t, n_rows = time_numpy(run_np, per_round)
        c_all += c_t
        n_all += n_t
    if os.environ.get("PRUNE_BENCH_DEBUG"):
        print("   C", " ".join("%.1f" % v for v in c_all), "| numpy",
              " ".join("%.1f" % v for v in n_all))
    return c_all, n_all, c_rows, n_rows


def same_rows(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return len(a) == len(b) and bool(np.all(a == b))


def label(method, prm):
    extra = " faithful" if prm.get("faithful") else ""
    return method + extra


def report(rows_out, title, unit="ms", scale=1.0):
    print(title)
    print("  %-20s %10s %12s %8s %7s %9s" % ("method", "C " + unit, "numpy " + unit, "ratio",
                                             "same", "keep"))
    for name, c_ms, np_ms, same, keep in rows_out:
        print("  %-20s %10.2f %12.2f %7.1fx %7s %9.4f" % (name, c_ms * scale, np_ms * scale,
                                                         np_ms / c_ms, "yes" if same else "NO",
                                                         keep))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="16 groups instead of 64")
    ap.add_argument("--only", default="", help="comma-separated method names")
    ap.add_argument("--threads", default="1,%d" % (os.cpu_count() or 1),
                    help="comma-separated thread counts for the vision runs")
    args = ap.parse_args()
    counts = sorted({max(1, int(v)) for v in args.threads.split(",") if v.strip()})
    driver = os.path.join(args.build, "bench", "prune", "prune_bench")
    if not os.access(driver, os.X_OK):
        sys.exit("run.py: build %s first (cmake --build build)" % driver)
    only = set(filter(None, args.only.split(",")))
    rng = np.random.default_rng(7)
    T, h, w, C = (16 if args.quick else 64), 32, 32, 1280
    P = h * w
    tmp = tempfile.mkdtemp(prefix="prune-bench-")
    try:
        x = np.empty((T, P, C), np.float32)
        x[0] = rng.standard_normal((P, C), dtype=np.float32)
        for t in range(1, T):  # temporal redundancy, so DyCoke and codec see real structure
            x[t] = np.float32(0.8) * x[t - 1] + np.float32(0.6) * rng.standard_normal(
                (P, C), dtype=np.float32)
        imp = rng.random((T, P), dtype=np.float32)
        ftype = np.frombuffer(("IPBB" * (T // 2))[: 2 * T].encode(), np.uint8).copy()
        ftype[::16] = ord("I")
        motion = rng.exponential(0.7, (2 * T, h, w)).astype(np.float32)
        for name, arr in (("x.f32", x), ("imp.f32", imp), ("ftype.u8", ftype),
                          ("motion.f32", motion)):
            arr.tofile(os.path.join(tmp, name))
        # Per method, every thread count in turn, so each configuration meets the same machine
        # state (later allocations find fewer free huge pages; numpy allocates on every call).
        tables = {threads: [] for threads in counts}
        blas = {}
        for method, prm in VISION:
            if only and method not in only:
                continue
            golden = vision_ref(method, prm, x, imp, h, w, ftype, motion, impl=ref)
            for threads in counts:
                blas[threads] = set_blas_threads(threads)
                c_prm = dict(prm, threads=threads)
                c_t, n_t, c_rows, n_rows = interleaved(
                    args.reps, 1,
                    lambda k: time_c(driver, ["vision", tmp, str(T), str(h), str(w), str(C),
                                              method], k, c_prm, tmp),
                    lambda: vision_ref(method, prm, x, imp, h, w, ftype, motion))
                same = same_rows(c_rows, n_rows) and same_rows(n_rows, golden)
                tables[threads].append((label(method, prm), statistics.median(c_t),
                                        statistics.median(n_t), same, len(c_rows) / (T * P)))
        for threads in counts:
            nb = blas.get(threads, 1)
            print("vision: %d groups x %d tokens x %d dims (%.0f MB); %d reps; C threads=%d, "
                  "numpy with %d OpenBLAS thread%s"
                  % (T, P, C, x.nbytes / 2**20, args.reps, threads, nb, "s"[:nb > 1]))
            report(tables[threads], "prune-visual, %d thread%s each (median wall ms per call, "
                   "output rows included)" % (threads, "s"[:threads > 1]))
            print()
        set_blas_threads(1)

        for name in ("x.f32", "imp.f32", "ftype.u8", "motion.f32"):
            os.remove(os.path.join(tmp, name))
        del x
        N = 750
        ax = rng.standard_normal((N, C), dtype=np.float32)
        aimp = rng.random(N, dtype=np.float32)
        ax.tofile(os.path.join(tmp, "x.f32"))
        aimp.tofile(os.path.join(tmp, "imp.f32"))
        print("audio: 30 s = %d tokens x %d dims; %d reps" % (N, C, args.reps * 20))
        for gather in (1, 0):
            out = []
            for method, prm in AUDIO:
                if only and method not in only:
                    continue
                c_t, n_t, c_rows, n_rows = interleaved(
                    args.reps, 20,
                    lambda k: time_c(driver, ["audio", tmp, str(N), str(C), method], k,
                                     dict(prm, gather=gather), tmp),
                    lambda: audio_ref(method, prm, ax, aimp, gather))
                same = same_rows(c_rows, n_rows)
                out.append((method, statistics.median(c_t), statistics.median(n_t), same,
                            len(c_rows) / N))
            report(out, "prune-audio (median wall us per call, %s)"
                   % ("gather of kept tokens included" if gather else "selection only"),
                   unit="us", scale=1e3)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
