#!/usr/bin/python3
"""Planning benchmark: `sieve run --dry-run` against `snakemake -n` on the same DAG.

The DAG: N samples, a matrix of K keep values, a source and an encoder per sample, then a
chain of D pruning nodes that each depend on `keep` (so each runs N x K times):
    tasks = 2N + D*N*K      (defaults N=2000, K=10, D=5: 104,000 tasks)
Both tools see the same files: tiny media files, a JSON Lines manifest for sieve, and a
Snakefile with one rule per node (wildcards sample and keep) for snakemake.

sieve is timed end to end (process start, plugin scan, YAML, dataset, expansion, keys,
SQLite cache lookup, output) with the media hash cache warm (one untimed run first), and its
own phase timings are reported from --json. snakemake is timed on `snakemake -n -q`, which
builds the whole job DAG and checks output files. Each tool runs `--runs` times; medians are
printed with the ratio.

Usage: bench/plan/run.py [--build build] [--samples 2000] [--keeps 10] [--depth 5]
                         [--runs 5] [--snakemake-runs 1] [--snakemake-timeout 900]
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time


def make_dataset(root, samples, keeps, depth):
    media = os.path.join(root, "media")
    os.makedirs(media)
    with open(os.path.join(root, "clips.jsonl"), "w") as m:
        for i in range(samples):
            name = "clip%05d" % i
            with open(os.path.join(media, name + ".mp4"), "w") as f:
                f.write("fake media %d\n" % i)
            m.write(json.dumps({"id": name, "media": "media/%s.mp4" % name,
                                "category": ["Tech", "Daily Life", "Culture"][i % 3]}) + "\n")
    keep_values = [round((k + 1) / (keeps + 1), 4) for k in range(keeps)]
    with open(os.path.join(root, "p.yaml"), "w") as y:
        y.write("name: bench\ndataset: { manifest: clips.jsonl }\n")
        y.write("matrix:\n  keep: [%s]\n" % ", ".join(str(v) for v in keep_values))
        y.write("nodes:\n  media: { plugin: tp-source }\n")
        y.write("  vis: { plugin: tp-encode, in: { media: media }, with: { modality: vision } }\n")
        prev = "vis"
        for d in range(depth):
            y.write("  p%d: { plugin: tp-prune, in: { tokens: %s }, with: { keep: \"${keep}\", "
                    "segments: %d } }\n" % (d + 1, prev, d + 1))
            prev = "p%d" % (d + 1)
    with open(os.path.join(root, "Snakefile"), "w") as s:
        s.write("SAMPLES = [l.split('\"')[3] for l in open('clips.jsonl')]\n")
        s.write("KEEPS = %r\n\n" % [str(v) for v in keep_values])
        s.write("rule all:\n    input: expand('p%d/{s}_{k}.out', s=SAMPLES, k=KEEPS)\n\n" % depth)
        s.write("rule media:\n    input: 'media/{s}.mp4'\n    output: 'decoded/{s}.out'\n"
                "    shell: 'cp {input} {output}'\n\n")
        s.write("rule vis:\n    input: 'decoded/{s}.out'\n    output: 'vis/{s}.out'\n"
                "    shell: 'cp {input} {output}'\n\n")
        prev = "vis/{s}.out"
        for d in range(depth):
            s.write("rule p%d:\n    input: '%s'\n    output: 'p%d/{s}_{k}.out'\n"
                    "    params: keep=lambda w: w.k, segments=%d\n"
                    "    shell: 'cp {input} {output}'\n\n" % (d + 1, prev, d + 1, d + 1))
            prev = "p%d/{s}_{k}.out" % (d + 1)
    return 2 * samples + depth * samples * keeps


def time_cmd(cmd, cwd, env, timeout=None):
    t0 = time.monotonic()
    r = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout)
    dt = time.monotonic() - t0
    if r.returncode != 0:
        sys.exit("failed: %s\n%s" % (" ".join(cmd), r.stderr.decode()[-2000:]))
    return dt, r.stdout.decode()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--samples", type=int, default=2000)
    ap.add_argument("--keeps", type=int, default=10)
    ap.add_argument("--depth", type=int, default=5)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--snakemake-runs", type=int, default=1)
    ap.add_argument("--snakemake-timeout", type=int, default=900)
    a = ap.parse_args()

    build = os.path.abspath(a.build)
    sieve = os.path.join(build, "sieve")
    plugins = os.path.join(build, "test-plugins-pipeline")
    if not os.path.exists(os.path.join(plugins, "tp-prune.so")):
        sys.exit("build the test plugins first: cmake --build %s --target pipeline_test_plugins"
                 % a.build)
    root = tempfile.mkdtemp(prefix="sieve-bench-plan-")
    try:
        tasks = make_dataset(root, a.samples, a.keeps, a.depth)
        env = dict(os.environ, SIEVE_PLUGIN_PATH=plugins, SIEVE_STORE=os.path.join(root, "st"))
        cmd = [sieve, "run", "p.yaml", "--dry-run", "--json"]
        time_cmd(cmd, root, env)  # warm: fills the media hash cache
        walls, phases = [], []
        for _ in range(a.runs):
            dt, out = time_cmd(cmd, root, env)
            j = json.loads(out)
            assert j["total"]["tasks"] == tasks, (j["total"], tasks)
            walls.append(dt)
            phases.append(j["timing_ms"])
        med = statistics.median(walls)
        print("plan of %d tasks (%d samples x keep x%d, %d matrix nodes)"
              % (tasks, a.samples, a.keeps, a.depth))
        print("sieve run --dry-run   median %.3f s over %d runs (min %.3f, max %.3f)"
              % (med, a.runs, min(walls), max(walls)))
        for k in ("spec", "plan", "lookup"):
            print("  %-8s median %8.1f ms" % (k, statistics.median(p[k] for p in phases)))

        if shutil.which("snakemake") and a.snakemake_runs > 0:
            sm = []
            for _ in range(a.snakemake_runs):
                try:
                    dt, _ = time_cmd(["snakemake", "-n", "-q", "--cores", "1"], root,
                                     os.environ, timeout=a.snakemake_timeout)
                except subprocess.TimeoutExpired:
                    print("snakemake -n          did not finish within %d s"
                          % a.snakemake_timeout)
                    break
                sm.append(dt)
            if sm:
                smed = statistics.median(sm)
                print("snakemake -n          median %.3f s over %d run%s"
                      % (smed, len(sm), "" if len(sm) == 1 else "s"))
                print("ratio                 snakemake / sieve = %.1fx" % (smed / med))
        elif a.snakemake_runs > 0:
            print("snakemake not found: peer skipped")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
