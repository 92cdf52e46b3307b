#!/usr/bin/python3
"""Independent PyTorch reference for the encode plugin's golden tests.

Run once (by hand, /usr/bin/python3 with Debian's torch 1.13) to regenerate
tests/fixtures/encode/: tiny random-weight CLIP, SigLIP and Whisper encoders written as
safetensors (by hand: struct + json, no safetensors package), their inputs, and the outputs
these plain-torch models give. The C test compares the plugin against them. Nothing here is
used at test time.

The models follow token-methods.md §6.1-6.3 and §7.2-7.4 and are written in torch ops from
the published architecture, deliberately by a different route than the C code where there is
one: Qwen2.5-Omni audio chunks are padded and masked (as Omni does) rather than convolved one
by one, chunk attention is one masked softmax over the whole sequence, and the builtin vision
layout uses Qwen's reshape/permute patchify formula.

Usage: /usr/bin/python3 tests/reference/encode_ref.py [OUTDIR]
"""
import json
import math
import os
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

torch.set_grad_enabled(False)
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "encode")

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


# ----------------------------------------------------------------------------- safetensors

def write_safetensors(path, tensors, dtype="F32", metadata=None):
    """tensors: dict name -> float32/uint8/float64 numpy array. dtype applies to float32 ones."""
    header, blobs, off = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name, arr in tensors.items():
        arr = np.ascontiguousarray(arr)
        if arr.dtype == np.float32 and dtype == "F16":
            raw, dt = arr.astype("<f2").tobytes(), "F16"
        elif arr.dtype == np.float32 and dtype == "BF16":
            raw, dt = bf16_bits(arr).astype("<u2").tobytes(), "BF16"
        elif arr.dtype == np.float32:
            raw, dt = arr.astype("<f4").tobytes(), "F32"
        elif arr.dtype == np.float64:
            raw, dt = arr.astype("<f8").tobytes(), "F64"
        elif arr.dtype == np.uint8:
            raw, dt = arr.tobytes(), "U8"
        elif arr.dtype == np.int32:
            raw, dt = arr.astype("<i4").tobytes(), "I32"
        else:
            raise ValueError(arr.dtype)
        header[name] = {"dtype": dt, "shape": list(arr.shape),
                        "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - (8 + len(h)) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def bf16_bits(arr):
    """Round-to-nearest-even float32 -> bfloat16 bit patterns."""
    u = arr.astype("<f4").view("<u4").astype(np.uint64)
    u = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
    return u.astype(np.uint16)


def rounded(weights, dtype):
    """The float32 values a reader sees after the weights were stored as dtype."""
    out = {}
    for k, v in weights.items():
        if dtype == "F16":
            out[k] = v.astype(np.float16).astype(np.float32)
        elif dtype == "BF16":
            out[k] = (bf16_bits(v).astype(np.uint32) << 16).view(np.float32)
        else:
            out[k] = v
    return out


def rand(rng, *shape, scale=None):
    fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else shape[0]
    s = scale if scale is not None else 1.0 / math.sqrt(fan_in)
    return (rng.standard_normal(shape) * s).astype(np.float32)


# ----------------------------------------------------------------------------- blocks

def layer_norm(x, g, b, eps):
    return F.layer_norm(x, (x.shape[-1],), g, b, eps)


def mha(x, w, pfx, heads, mask=None, key_bias=True, keys_out=None):
    """Returns (output, attention probabilities [heads, n, n]) for x [n, d]. When keys_out is
    a list, appends the keys [n, d / heads] averaged over heads (VisionZip's metric)."""
    n, d = x.shape
    hd = d // heads
    q = x @ w[pfx + "q_proj.weight"].T + w[pfx + "q_proj.bias"]
    k = x @ w[pfx + "k_proj.weight"].T
    if key_bias:
        k = k + w[pfx + "k_proj.bias"]
    v = x @ w[pfx + "v_proj.weight"].T + w[pfx + "v_proj.bias"]
    q, k, v = (t.reshape(n, heads, hd).transpose(0, 1) for t in (q, k, v))
    if keys_out is not None:
        keys_out.append(k.mean(0))
    s = (q @ k.transpose(1, 2)) * hd ** -0.5
    if mask is not None:
        s = s.masked_fill(~mask, float("-inf"))
    p = torch.softmax(s, dim=-1)
    o = (p @ v).transpose(0, 1).reshape(n, d)
    return o @ w[pfx + "out_proj.weight"].T + w[pfx + "out_proj.bias"], p


def quick_gelu(x):
    return x * torch.sigmoid(1.702 * x)


# ----------------------------------------------------------------------------- CLIP / SigLIP

def vit_weights(rng, siglip, d, layers, ffn, patch, grid):
    p = "vision_model."
    w = {p + "embeddings.patch_embedding.weight": rand(rng, d, 3, patch, patch),
         p + "embeddings.position_embedding.weight":
             rand(rng, grid * grid + (0 if siglip else 1), d, scale=0.5)}
    if siglip:
        w[p + "embeddings.patch_embedding.bias"] = rand(rng, d, scale=0.1)
        w[p + "post_layernorm.weight"] = 1 + rand(rng, d, scale=0.1)
        w[p + "post_layernorm.bias"] = rand(rng, d, scale=0.1)
    else:
        w[p + "embeddings.class_embedding"] = rand(rng, d, scale=0.5)
        w[p + "pre_layrnorm.weight"] = 1 + rand(rng, d, scale=0.1)
        w[p + "pre_layrnorm.bias"] = rand(rng, d, scale=0.1)
    for i in range(layers):
        q = f"{p}encoder.layers.{i}."
        for n in ("layer_norm1", "layer_norm2"):
            w[q + n + ".weight"] = 1 + rand(rng, d, scale=0.1)
            w[q + n + ".bias"] = rand(rng, d, scale=0.1)
        for n in ("q_proj", "k_proj", "v_proj", "out_proj"):
            w[q + "self_attn." + n + ".weight"] = rand(rng, d, d)
            w[q + "self_attn." + n + ".bias"] = rand(rng, d, scale=0.1)
        w[q + "mlp.fc1.weight"] = rand(rng, ffn, d)
        w[q + "mlp.fc1.bias"] = rand(rng, ffn, scale=0.1)
        w[q + "mlp.fc2.weight"] = rand(rng, d, ffn)
        w[q + "mlp.fc2.bias"] = rand(rng, d, scale=0.1)
    if not siglip:  # present in CLIP checkpoints, unused for patch tokens
        w[p + "post_layernorm.weight"] = 1 + rand(rng, d, scale=0.1)
        w[p + "post_layernorm.bias"] = rand(rng, d, scale=0.1)
    return w


def vit_forward(w_np, frames, siglip, heads, layer, with_keys=False):
    """frames u8 [T, H, W, 3] -> tokens [ceil(T/2), P, d], importance [ceil(T/2), P]
    (and, with_keys, the chosen layer's attention keys, mean over heads, [ceil(T/2), P, d/heads],
    each temporal pair averaged like the tokens)."""
    w = {k: torch.from_numpy(v) for k, v in w_np.items()}
    p = "vision_model."
    pw = w[p + "embeddings.patch_embedding.weight"]
    d, patch = pw.shape[0], pw.shape[2]
    pos = w[p + "embeddings.position_embedding.weight"]
    grid = math.isqrt(pos.shape[0] - (0 if siglip else 1))
    size = grid * patch
    nl = len([k for k in w if k.endswith("layer_norm1.weight")])
    chosen = layer if layer > 0 else nl + 1 + layer
    mean = torch.tensor((0.5,) * 3 if siglip else CLIP_MEAN).view(1, 3, 1, 1)
    std = torch.tensor((0.5,) * 3 if siglip else CLIP_STD).view(1, 3, 1, 1)
    T = frames.shape[0]
    if T % 2:
        frames = np.concatenate([frames, frames[-1:]], 0)
    x = torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255.0
    x = (x - mean) / std
    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    e = F.conv2d(x, pw, w.get(p + "embeddings.patch_embedding.bias"), stride=patch)
    e = e.flatten(2).transpose(1, 2)  # [T, P, d]
    if not siglip:
        cls = w[p + "embeddings.class_embedding"].expand(e.shape[0], 1, d)
        e = torch.cat([cls, e], 1)
    e = e + pos
    if not siglip:
        e = layer_norm(e, w[p + "pre_layrnorm.weight"], w[p + "pre_layrnorm.bias"], 1e-5)
    eps = 1e-6 if siglip else 1e-5
    toks, imps, keys = [], [], []
    for f in range(e.shape[0]):
        h = e[f]
        for i in range(chosen):
            q = f"{p}encoder.layers.{i}."
            kl = [] if i + 1 == chosen else None
            a, probs = mha(layer_norm(h, w[q + "layer_norm1.weight"], w[q + "layer_norm1.bias"],
                                      eps), w, q + "self_attn.", heads, keys_out=kl)
            if kl:
                keys.append(kl[0] if siglip else kl[0][1:])
            h = h + a
            m = layer_norm(h, w[q + "layer_norm2.weight"], w[q + "layer_norm2.bias"], eps)
            m = m @ w[q + "mlp.fc1.weight"].T + w[q + "mlp.fc1.bias"]
            m = F.gelu(m, approximate="tanh") if siglip else quick_gelu(m)
            h = h + m @ w[q + "mlp.fc2.weight"].T + w[q + "mlp.fc2.bias"]
        if siglip and chosen == nl:
            h = layer_norm(h, w[p + "post_layernorm.weight"], w[p + "post_layernorm.bias"], eps)
        if siglip:
            toks.append(h)
            imps.append(probs.mean(0).mean(0))
        else:
            toks.append(h[1:])
            imps.append(probs.mean(0)[0, 1:])
    t = torch.stack(toks)
    i = torch.stack(imps)
    if with_keys:
        k = torch.stack(keys)
        return ((t[0::2] + t[1::2]) / 2).numpy(), ((i[0::2] + i[1::2]) / 2).numpy(), \
            ((k[0::2] + k[1::2]) / 2).numpy()
    return ((t[0::2] + t[1::2]) / 2).numpy(), ((i[0::2] + i[1::2]) / 2).numpy()


# ----------------------------------------------------------------------------- Whisper / Omni

def sinusoids(length, d):
    inc = math.log(10000) / (d // 2 - 1)
    inv = torch.exp(-inc * torch.arange(d // 2, dtype=torch.float64))
    t = torch.arange(length, dtype=torch.float64)[:, None] * inv[None, :]
    return torch.cat([torch.sin(t), torch.cos(t)], 1).float()


def whisper_weights(rng, n_mels, d, layers, ffn, n_pos):
    p = "model.encoder."
    w = {p + "conv1.weight": rand(rng, d, n_mels, 3), p + "conv1.bias": rand(rng, d, scale=0.1),
         p + "conv2.weight": rand(rng, d, d, 3), p + "conv2.bias": rand(rng, d, scale=0.1),
         p + "embed_positions.weight": sinusoids(n_pos, d).numpy(),
         p + "layer_norm.weight": 1 + rand(rng, d, scale=0.1),
         p + "layer_norm.bias": rand(rng, d, scale=0.1)}
    for i in range(layers):
        q = f"{p}layers.{i}."
        for n in ("self_attn_layer_norm", "final_layer_norm"):
            w[q + n + ".weight"] = 1 + rand(rng, d, scale=0.1)
            w[q + n + ".bias"] = rand(rng, d, scale=0.1)
        for n in ("q_proj", "k_proj", "v_proj", "out_proj"):
            w[q + "self_attn." + n + ".weight"] = rand(rng, d, d)
            if n != "k_proj":
                w[q + "self_attn." + n + ".bias"] = rand(rng, d, scale=0.1)
        w[q + "fc1.weight"] = rand(rng, ffn, d)
        w[q + "fc1.bias"] = rand(rng, ffn, scale=0.1)
        w[q + "fc2.weight"] = rand(rng, d, ffn)
        w[q + "fc2.bias"] = rand(rng, d, scale=0.1)
    return w


def whisper_forward(w_np, mel, heads, chunk_frames, pool):
    """Qwen2.5-Omni audio encoder path: padded chunks with a padding mask, block-diagonal
    attention, AvgPool1d(pool), then ln_post. mel [n_mels, L]."""
    w = {k: torch.from_numpy(v) for k, v in w_np.items()}
    p = "model.encoder."
    nl = len([k for k in w if k.endswith("fc1.weight")])
    mel = torch.from_numpy(mel)
    L = mel.shape[1]
    lens = [min(chunk_frames, L - s) for s in range(0, L, chunk_frames)]
    width = max(lens)  # a single short window is padded to its own length, not 30 s
    padded = torch.zeros(len(lens), mel.shape[0], width)
    mask = torch.zeros(len(lens), 1, width)
    for c, n in enumerate(lens):
        padded[c, :, :n] = mel[:, c * chunk_frames:c * chunk_frames + n]
        mask[c, :, :n] = 1
    h = F.gelu(F.conv1d(padded, w[p + "conv1.weight"], w[p + "conv1.bias"], padding=1)) * mask
    h = F.gelu(F.conv1d(h, w[p + "conv2.weight"], w[p + "conv2.bias"], stride=2, padding=1))
    h = h.transpose(1, 2)  # [chunks, frames, d]
    h = h + w[p + "embed_positions.weight"][:h.shape[1]]
    after = [(n - 1) // 2 + 1 for n in lens]
    x = torch.cat([h[c, :n] for c, n in enumerate(after)], 0)
    owner = torch.cat([torch.full((n,), c) for c, n in enumerate(after)])
    amask = owner[:, None] == owner[None, :]
    for i in range(nl):
        q = f"{p}layers.{i}."
        a, probs = mha(layer_norm(x, w[q + "self_attn_layer_norm.weight"],
                                  w[q + "self_attn_layer_norm.bias"], 1e-5),
                       w, q + "self_attn.", heads, mask=amask, key_bias=False)
        x = x + a
        m = layer_norm(x, w[q + "final_layer_norm.weight"], w[q + "final_layer_norm.bias"], 1e-5)
        m = F.gelu(m @ w[q + "fc1.weight"].T + w[q + "fc1.bias"])
        x = x + m @ w[q + "fc2.weight"].T + w[q + "fc2.bias"]
    seg_len = torch.tensor([after[c] for c in owner.tolist()], dtype=torch.float32)
    imp = probs.mean(0).sum(0) / seg_len
    tok = F.avg_pool1d(x.T[None], pool, pool)[0].T
    tok = layer_norm(tok, w[p + "layer_norm.weight"], w[p + "layer_norm.bias"], 1e-5)
    imp = F.avg_pool1d(imp[None, None], pool, pool)[0, 0]
    return tok.numpy(), imp.numpy()


# ----------------------------------------------------------------------------- builtin vision

MASK64 = (1 << 64) - 1


def splitmix64(state):
    state = (state + 0x9E3779B97F4A7C15) & MASK64
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return state, z ^ (z >> 31)


def orthonormal_rows(st, rows, cols):
    """splitmix64 -> 53-bit uniforms -> Irwin-Hall normals (12 uniforms - 6), row-major, then
    modified Gram-Schmidt over the rows in double. Returns (state, matrix)."""
    g = np.empty(rows * cols)
    for i in range(rows * cols):
        s = 0.0
        for _ in range(12):
            st, z = splitmix64(st)
            s += (z >> 11) * (1.0 / 9007199254740992.0)
        g[i] = s - 6.0
    g = g.reshape(rows, cols)
    for i in range(rows):
        for j in range(i):
            g[i] -= (g[i] @ g[j]) * g[j]
        g[i] /= math.sqrt(g[i] @ g[i])
    return st, g.astype(np.float32)


def builtin_projection(seed, dim):
    """The plugin's documented projection: kron(A [4, 4], B [dim/4, 1176]), A drawn first."""
    st, a = orthonormal_rows(seed, 4, 4)
    st, b = orthonormal_rows(st, dim // 4, 1176)
    return np.kron(a.astype(np.float64), b.astype(np.float64))


def builtin_vision(frames, dim, seed):
    """Qwen2.5-VL patchify (§6.1 reshape/permute), merge 2x2, project, attention received."""
    T = frames.shape[0]
    if T % 2:
        frames = np.concatenate([frames, frames[-1:]], 0)
    x = torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255.0
    x = (x - torch.tensor(CLIP_MEAN).view(1, 3, 1, 1)) / torch.tensor(CLIP_STD).view(1, 3, 1, 1)
    t, c, H, W = x.shape
    gt, gh, gw = t // 2, H // 14, W // 14
    x = x.reshape(gt, 2, c, gh // 2, 2, 14, gw // 2, 2, 14)
    x = x.permute(0, 3, 6, 4, 7, 2, 1, 5, 8)  # (gt, gh/2, gw/2, 2, 2, C, 2, 14, 14)
    rows = x.reshape(gt, (gh // 2) * (gw // 2), 4 * c * 2 * 14 * 14)
    q = torch.from_numpy(builtin_projection(seed, dim))
    tok = (rows.double() @ q.T).float()
    td = tok.double()
    s = td @ td.transpose(1, 2) / math.sqrt(dim)
    imp = torch.softmax(s, -1).mean(1)
    return tok.numpy(), imp.float().numpy()


# ----------------------------------------------------------------------------- main

def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(20261121)
    frames = rng.integers(0, 256, size=(3, 56, 84, 3), dtype=np.uint8)
    # Smooth structure so that attention is not uniform noise.
    yy, xx = np.mgrid[0:56, 0:84]
    frames[:, :, :, 0] = ((frames[:, :, :, 0].astype(int) // 4 + xx * 2) % 256).astype(np.uint8)
    mel = (rng.standard_normal((16, 251)) * 0.5).astype(np.float32)
    write_safetensors(os.path.join(OUT, "inputs.safetensors"),
                      {"frames": frames, "frame_pts": np.arange(3, dtype=np.float64) * 0.5,
                       "mel": mel})

    clip = vit_weights(rng, False, d=32, layers=2, ffn=64, patch=8, grid=4)
    write_safetensors(os.path.join(OUT, "clip_tiny.safetensors"), clip)
    siglip = vit_weights(rng, True, d=32, layers=2, ffn=64, patch=8, grid=4)
    write_safetensors(os.path.join(OUT, "siglip_tiny.safetensors"), siglip)
    whisper = whisper_weights(rng, n_mels=16, d=32, layers=2, ffn=64, n_pos=128)
    write_safetensors(os.path.join(OUT, "whisper_tiny.safetensors"), whisper)
    for dt in ("F16", "BF16"):
        write_safetensors(os.path.join(OUT, f"whisper_tiny_{dt.lower()}.safetensors"),
                          whisper, dtype=dt)

    exp = {}
    # CLIP: 2 heads (set by parameter), the default layer -2 (= output of layer 1).
    exp["clip.tokens"], exp["clip.importance"] = vit_forward(clip, frames, False, 2, -2)
    # CLIP, last layer, 1 head (the d/64 default).
    exp["clip_last.tokens"], exp["clip_last.importance"] = vit_forward(clip, frames, False, 1, -1)
    # SigLIP: last layer with post_layernorm, 1 head.
    exp["siglip.tokens"], exp["siglip.importance"] = vit_forward(siglip, frames, True, 1, -1)
    # SigLIP, penultimate layer (no post_layernorm), 2 heads.
    exp["siglip_pen.tokens"], exp["siglip_pen.importance"] = \
        vit_forward(siglip, frames, True, 2, -2)
    # Whisper: Omni chunks of 2 s (200 mel frames), pool 2; and one whole window, pool 1.
    exp["whisper_omni.tokens"], exp["whisper_omni.importance"] = \
        whisper_forward(whisper, mel, 2, 200, 2)
    exp["whisper_window.tokens"], exp["whisper_window.importance"] = \
        whisper_forward(whisper, mel, 2, 3000, 1)
    for dt in ("F16", "BF16"):
        k = f"whisper_{dt.lower()}"
        exp[k + ".tokens"], exp[k + ".importance"] = \
            whisper_forward(rounded(whisper, dt), mel, 2, 200, 2)
    # Builtin vision, dim 48, seed 7: the projection rebuilt here from the documented recipe.
    fr = frames[:, :, :, :]
    exp["builtin.tokens"], exp["builtin.importance"] = builtin_vision(fr, 48, 7)
    write_safetensors(os.path.join(OUT, "expected.safetensors"),
                      {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in exp.items()},
                      metadata={"generator": "tests/reference/encode_ref.py",
                                "torch": torch.__version__})
    for k, v in exp.items():
        print(f"{k:28s} {str(v.shape):16s} mean|x| {np.abs(v).mean():.4g}")
    # The attention keys of the chosen layer (encode keys: true), in their own file so that
    # expected.safetensors stays as it was.
    keys = {}
    keys["clip.keys"] = vit_forward(clip, frames, False, 2, -2, with_keys=True)[2]
    keys["siglip_pen.keys"] = vit_forward(siglip, frames, True, 2, -2, with_keys=True)[2]
    write_safetensors(os.path.join(OUT, "expected_keys.safetensors"),
                      {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in keys.items()},
                      metadata={"generator": "tests/reference/encode_ref.py",
                                "torch": torch.__version__})


if __name__ == "__main__":
    main()
