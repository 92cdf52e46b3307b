#!/usr/bin/python3
"""Forward throughput of the encode plugin vs PyTorch (CPU), same weights, input, threads.

Workloads (random weights of real model shapes, written as safetensors in a temp dir):
  whisper-window  whisper-tiny shape (80 mels, d 384, 4 layers, 6 heads), 30 s of mel,
                  one 30-s window (chunk_seconds 0, pool 1): the plain Whisper encoder
  whisper-omni    the same weights, Qwen2.5-Omni chunks of 2 s and pooling by 2
  clip-vitb16     ViT-B/16-shaped CLIP (d 768, 12 layers, 224 px), 8 frames of 252x252,
                  layer -2 (11 layers run), CLS-attention importance

The PyTorch peer is written for speed (frames and heads batched, F.linear/conv), computes
the same outputs including importance, and runs with torch.set_num_threads(THREADS). sieve
runs through bench_encode (dlopen of build/plugins/encode.so, init once, process REPS times).
Runs alternate (one torch forward, one sieve forward, REPS times, after a warm-up of each) so
both see the same load on a shared machine; ratio = torch median / sieve median (> 1 means
sieve is faster). GFLOP/s counts matrix FLOPs only (linear, conv, attention) and is
compared with the OpenBLAS sgemm peak bench_encode measures at the same thread count.

Usage: /usr/bin/python3 bench/encode/run.py [--build build] [--threads 1] [--reps 3]
                                             [--only whisper-window,clip-vitb16]
"""
import argparse
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time


def _threads_arg():
    for i, a in enumerate(sys.argv):
        if a == "--threads" and i + 1 < len(sys.argv):
            return sys.argv[i + 1]
        if a.startswith("--threads="):
            return a.split("=", 1)[1]
    return "1"


# Debian's torch does its matrix products in the same OpenBLAS (pthread build), whose thread
# count torch.set_num_threads does not govern: pin it before torch loads, for both sides.
os.environ["OPENBLAS_NUM_THREADS"] = os.environ["OMP_NUM_THREADS"] = _threads_arg()

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "reference"))
import encode_ref as ref  # noqa: E402  (weight builders and the safetensors writer)

torch.set_grad_enabled(False)


def ln(x, w, p, eps):
    return F.layer_norm(x, (x.shape[-1],), w[p + ".weight"], w[p + ".bias"], eps)


def attention(x, w, p, heads, key_bias=True):
    """x [B, n, d] -> (out [B, n, d], probs [B, heads, n, n])."""
    B, n, d = x.shape
    hd = d // heads
    q = F.linear(x, w[p + "q_proj.weight"], w[p + "q_proj.bias"])
    k = F.linear(x, w[p + "k_proj.weight"], w.get(p + "k_proj.bias") if key_bias else None)
    v = F.linear(x, w[p + "v_proj.weight"], w[p + "v_proj.bias"])
    q, k, v = (t.view(B, n, heads, hd).transpose(1, 2) for t in (q, k, v))
    probs = torch.softmax(torch.matmul(q, k.transpose(-1, -2)) * hd ** -0.5, -1)
    o = torch.matmul(probs, v).transpose(1, 2).reshape(B, n, d)
    return F.linear(o, w[p + "out_proj.weight"], w[p + "out_proj.bias"]), probs


def torch_whisper(w, mel, heads, chunk, pool):
    p = "model.encoder."
    nl = len([k for k in w if k.endswith("fc1.weight")])
    L = mel.shape[1]
    assert L % chunk == 0
    x = mel.view(mel.shape[0], L // chunk, chunk).transpose(0, 1)  # [chunks, mels, frames]
    x = F.gelu(F.conv1d(x, w[p + "conv1.weight"], w[p + "conv1.bias"], padding=1))
    x = F.gelu(F.conv1d(x, w[p + "conv2.weight"], w[p + "conv2.bias"], stride=2, padding=1))
    x = x.transpose(1, 2) + w[p + "embed_positions.weight"][:x.shape[2]]
    for i in range(nl):
        q = f"{p}layers.{i}."
        a, probs = attention(ln(x, w, q + "self_attn_layer_norm", 1e-5), w, q + "self_attn.",
                             heads, key_bias=False)
        x = x + a
        h = F.gelu(F.linear(ln(x, w, q + "final_layer_norm", 1e-5), w[q + "fc1.weight"],
                            w[q + "fc1.bias"]))
        x = x + F.linear(h, w[q + "fc2.weight"], w[q + "fc2.bias"])
    x = x.reshape(-1, x.shape[-1])
    imp = probs.mean(1).mean(1).reshape(-1)
    if pool > 1:
        x = F.avg_pool1d(x.T[None], pool, pool)[0].T
        imp = F.avg_pool1d(imp[None, None], pool, pool)[0, 0]
    return ln(x, w, p + "layer_norm", 1e-5), imp


def torch_clip(w, frames, heads, layer):
    p = "vision_model."
    pw = w[p + "embeddings.patch_embedding.weight"]
    d, patch = pw.shape[0], pw.shape[2]
    pos = w[p + "embeddings.position_embedding.weight"]
    size = math.isqrt(pos.shape[0] - 1) * patch
    nl = len([k for k in w if k.endswith("layer_norm1.weight")])
    chosen = layer if layer > 0 else nl + 1 + layer
    mean = torch.tensor(ref.CLIP_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(ref.CLIP_STD).view(1, 3, 1, 1)
    x = (frames.permute(0, 3, 1, 2).float() / 255.0 - mean) / std
    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    e = F.conv2d(x, pw, stride=patch).flatten(2).transpose(1, 2)
    e = torch.cat([w[p + "embeddings.class_embedding"].expand(e.shape[0], 1, d), e], 1) + pos
    x = ln(e, w, p + "pre_layrnorm", 1e-5)
    for i in range(chosen):
        q = f"{p}encoder.layers.{i}."
        a, probs = attention(ln(x, w, q + "layer_norm1", 1e-5), w, q + "self_attn.", heads)
        x = x + a
        h = F.linear(ln(x, w, q + "layer_norm2", 1e-5), w[q + "mlp.fc1.weight"],
                     w[q + "mlp.fc1.bias"])
        h = h * torch.sigmoid(1.702 * h)
        x = x + F.linear(h, w[q + "mlp.fc2.weight"], w[q + "mlp.fc2.bias"])
    tok, imp = x[:, 1:], probs.mean(1)[:, 0, 1:]
    return (tok[0::2] + tok[1::2]) / 2, (imp[0::2] + imp[1::2]) / 2


def whisper_flops(L, n_mels, d, ffn, layers, chunk):
    n = L // 2
    seg = min(chunk, L) // 2
    per_layer = 2 * n * d * d * 4 + 2 * n * d * ffn * 2 + 2 * 2 * n * seg * d
    return 2 * L * d * n_mels * 3 + 2 * n * d * d * 3 + layers * per_layer


def clip_flops(T, n, d, ffn, layers, patch):
    per_layer = 2 * n * d * d * 4 + 2 * n * d * ffn * 2 + 2 * 2 * n * n * d
    return T * (2 * (n - 1) * d * 3 * patch * patch + layers * per_layer)


def compare(bench, plugin, inp, reps, threads, params, torch_fn):
    """Alternates one PyTorch forward and one sieve forward (bench_encode in interleaved
    mode, weights loaded once), after one warm-up each, so both see the same machine load.
    The sgemm peak is measured before and after; the higher counts."""
    p = subprocess.Popen([bench, plugin, inp, "0", str(threads)] + params, text=True,
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def ask(cmd):
        p.stdin.write(cmd + "\n")
        p.stdin.flush()
        line = p.stdout.readline()
        if not line:
            raise SystemExit("bench_encode failed")
        return float(line)

    peak = ask("peak")
    torch_fn()
    ask("run")
    tt, ts = [], []
    for _ in range(reps):
        t0 = time.perf_counter()
        torch_fn()
        tt.append(time.perf_counter() - t0)
        ts.append(ask("run"))
    peak = max(peak, ask("peak"))
    p.stdin.close()
    p.wait()
    return statistics.median(tt), statistics.median(ts), peak


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--only", default="whisper-window,whisper-omni,clip-vitb16")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    plugin = os.path.join(args.build, "plugins", "encode.so")
    bench = os.path.join(args.build, "bench_encode")
    blas = subprocess.run(["pkg-config", "--cflags", "--libs", "openblas"], check=True,
                          capture_output=True, text=True).stdout.split()
    subprocess.run(["cc", "-O2", "-std=c11", "-D_POSIX_C_SOURCE=200809L", "-I", ROOT, "-I",
                    os.path.join(ROOT, "core", "include"),
                    os.path.join(ROOT, "bench", "encode", "bench_encode.c"),
                    os.path.join(ROOT, "tests", "support", "mock_host.c"),
                    os.path.join(ROOT, "plugins", "encode", "st.c"), "-o", bench] + blas +
                   ["-ldl", "-lm"], check=True)
    only = set(args.only.split(","))
    rng = np.random.default_rng(1)
    rows = []
    with tempfile.TemporaryDirectory(prefix="encode-bench-") as tmp:
        if only & {"whisper-window", "whisper-omni"}:
            wn = ref.whisper_weights(rng, n_mels=80, d=384, layers=4, ffn=1536, n_pos=1500)
            wpath = os.path.join(tmp, "whisper.safetensors")
            ref.write_safetensors(wpath, wn)
            mel = (rng.standard_normal((80, 3000)) * 0.5).astype(np.float32)
            mpath = os.path.join(tmp, "mel.safetensors")
            ref.write_safetensors(mpath, {"mel": mel})
            wt = {k: torch.from_numpy(v) for k, v in wn.items()}
            mt = torch.from_numpy(mel)
            for name, chunk, cs, pool in (("whisper-window", 3000, "0", 1),
                                          ("whisper-omni", 200, "2", 2)):
                if name not in only:
                    continue
                res = compare(bench, plugin, mpath, args.reps, args.threads,
                              ["modality", "audio", "model", "whisper:" + wpath,
                               "chunk_seconds", cs, "pool", str(pool)],
                              lambda: torch_whisper(wt, mt, 6, chunk, pool))
                rows.append((name, whisper_flops(3000, 80, 384, 1536, 4, chunk)) + res)
        if "clip-vitb16" in only:
            cw = ref.vit_weights(rng, False, d=768, layers=12, ffn=3072, patch=16, grid=14)
            cpath = os.path.join(tmp, "clip.safetensors")
            ref.write_safetensors(cpath, cw)
            frames = rng.integers(0, 256, size=(8, 252, 252, 3), dtype=np.uint8)
            fpath = os.path.join(tmp, "frames.safetensors")
            ref.write_safetensors(fpath, {"frames": frames,
                                          "frame_pts": np.arange(8, dtype=np.float64) * 0.5})
            from_file = {k: torch.from_numpy(v) for k, v in cw.items()}
            ft = torch.from_numpy(frames)
            res = compare(bench, plugin, fpath, args.reps, args.threads,
                          ["model", "clip:" + cpath, "layer", "-2"],
                          lambda: torch_clip(from_file, ft, 12, -2))
            rows.append(("clip-vitb16", clip_flops(8, 197, 768, 3072, 11, 16)) + res)
    print(f"encode forward, CPU, {args.threads} thread(s), median of {args.reps} interleaved "
          f"runs after warm-up")
    print(f"{'workload':16s} {'torch s':>9s} {'sieve s':>9s} {'ratio':>7s} "
          f"{'sieve GFLOP/s':>14s} {'sgemm peak':>11s} {'% peak':>7s}")
    for name, flops, tt, ms, peak in rows:
        g = flops / ms / 1e9
        print(f"{name:16s} {tt:9.3f} {ms:9.3f} {tt / ms:6.2f}x {g:14.1f} {peak:11.1f} "
              f"{100 * g / peak:6.1f}%")


if __name__ == "__main__":
    main()
