#!/usr/bin/python3
"""Independent numpy re-statement of OmniZip's official computation (omnizip_core.py of
KD-TAO/OmniZip; shared/reference/token-methods.md §3), for fuse-bidirectional's mode omnizip.

Written from the description of what the official code computes, not from sieve's C. Run with
Debian's python3 (numpy); the outputs are committed:

    /usr/bin/python3 tests/reference/omnizip_ref.py      # rewrites tests/fixtures/fuse/omnizip/

The official behaviours this reproduces, each asserted below on the cases it writes:
  * audio: round((1 - rho_a) * Na) dominant tokens by importance over the whole clip, then
    round(contextual_ratio * Na) anchors at a uniform stride over the rest, with Python's
    round (halves to even: 0.05 * 250 = 12.5 gives 12 anchors, 0.05 * 650 = 32.5 gives 32);
    every other token goes to its most similar anchor, and each anchor absorbs its g
    candidates most similar to any video token, softmax-weighted;
  * windows: runs of consecutive video (audio) positions, run i paired with run i;
  * window ratios: clamp(rho_max + (rho_min - rho_max) * retention), retention a float32
    mean; rescaled toward rho_v * Nv only with more than two guided windows, the FIRST window
    with the smallest and the FIRST with the largest ratio fixed (list.index);
  * ISTC: a window of f whole frames of P tokens keeps f * int(P * (1 - ratio)): DPC-KNN
    (cosine distance, k = 5) on even frames, least similar to the previous frame on odd ones.
Ranking keys are rounded to float32 (the official code ranks float tensors) and ties go to the
lower index: that is sieve's documented rule where torch leaves the order unspecified.

Fixture format (cases.txt): per case
    case NAME inputs=IN groups=G gh=H gw=W na=NA c=C rho_audio=.. rho_video=.. contextual_ratio=.. g=..
    ratios K r0 r1 ...           (guided windows' video prune ratios, %.17g)
    kept M m:src m:src ...       (output order; m 0 video, 1 audio; src the modality's row)
and IN.v.f32 [G*H*W, C], IN.a.f32 [NA, C], IN.imp.f32 [NA] (IN is NAME or an earlier case
whose inputs it shares), NAME.out.f32 [M, C].
Video group t lies at t seconds and audio token k at k/25 s; chunks are 2 s.
"""
import os
import sys

import numpy as np

KNN = 5


def f32(x):
    return np.asarray(x, dtype=np.float64).astype(np.float32).astype(np.float64)


def top_desc(key, k):
    """Indices of the k largest keys; equal keys in index order."""
    return np.argsort(-np.asarray(key, np.float64), kind="stable")[:k]


def top_asc(key, k):
    return np.argsort(np.asarray(key, np.float64), kind="stable")[:k]


def unit_eps(x, eps=1e-6):
    x = x.astype(np.float64)
    return x / (np.linalg.norm(x, axis=1, keepdims=True) + eps)


def unit_clamp(x, eps=1e-12):
    x = x.astype(np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), eps)


def audio_step(a, imp, v, rho_a, ctx, g):
    """Returns (keep mask, tokens with merged anchors, number of anchors)."""
    n = a.shape[0]
    keep = np.zeros(n, bool)
    out = a.astype(np.float32).copy()
    if n == 0:
        return keep, out, 0
    n_dom = int(max(0, min(n, round((1.0 - rho_a) * n))))
    keep[top_desc(imp, n_dom)] = True
    rest = np.flatnonzero(~keep)
    n_ctx = int(max(0, round(ctx * n)))
    if len(rest) == 0 or n_ctx == 0 or g == 0:
        return keep, out, 0
    n_ctx = min(n_ctx, len(rest))
    step = max(1, len(rest) // n_ctx)
    pos = np.arange(0, len(rest), step)[:n_ctx]
    anchors = rest[pos]
    keep[anchors] = True
    pool = np.delete(rest, pos)
    if len(pool) == 0:
        return keep, out, len(anchors)
    an = unit_eps(a)
    sim_aa = f32(an[pool] @ an[anchors].T)
    assign = np.argmax(sim_aa, axis=1)  # the first of equal maxima
    if v.shape[0] > 0:
        score = f32((an[pool] @ unit_eps(v).T).max(axis=1))
    else:
        score = sim_aa.max(axis=1)
    for j, anc in enumerate(anchors):
        members = np.flatnonzero(assign == j)
        if len(members) == 0:
            continue
        chosen = members[top_desc(score[members], min(g, len(members)))]
        if v.shape[0] > 0:
            s = score[chosen]
        else:
            s = f32(an[pool[chosen]] @ an[anc])
        w = np.exp(s - s.max())
        w = w / w.sum()
        merged = (a[anc].astype(np.float64) + (w[:, None] * a[pool[chosen]]).sum(axis=0))
        out[anc] = (merged / (1.0 + w.sum())).astype(np.float32)
    return keep, out, len(anchors)


def window_ratios(retention, sizes, unguided, n_video, rho_v, lo=0.35, hi=0.75):
    """The guided windows' video prune ratios, as the official budget code computes them."""
    clamp = lambda x: max(lo, min(hi, x))
    base = [clamp(hi + (lo - hi) * r) for r in retention]
    adj = list(base)
    ng = len(base)
    guided = sum(sizes)
    target = rho_v * n_video - rho_v * unguided
    if ng > 2 and guided > 0:
        base_discard = sum(base[i] * sizes[i] for i in range(ng))
        if abs(base_discard - target) > 1e-3 and base_discard > 0:
            imin = base.index(min(base))
            imax = base.index(max(base))
            others = [i for i in range(ng) if i != imin and i != imax]
            other_discard = sum(base[i] * sizes[i] for i in others)
            if others and other_discard > 0:
                fixed = base[imin] * sizes[imin] + base[imax] * sizes[imax]
                scaling = (target - fixed) / other_discard
                for i in others:
                    adj[i] = clamp(base[i] * scaling)
                actual = sum(adj[i] * sizes[i] for i in range(ng))
                diff = target - actual
                if abs(diff) > 1e-3:
                    other_size = sum(sizes[i] for i in others)
                    if other_size > 0:
                        for i in others:
                            adj[i] = clamp(adj[i] + diff / other_size)
    return base, adj


def dpcknn(x, n_keep):
    n = x.shape[0]
    k = min(KNN, n - 1)
    xn = unit_clamp(x)
    dist = f32(1.0 - xn @ xn.T)
    np.fill_diagonal(dist, np.inf)
    knn = np.sort(dist, axis=1)[:, :k]
    rho = f32(np.exp(-(knn.sum(axis=1) / k)))
    delta = np.empty(n)
    for i in range(n):
        higher = rho > rho[i]
        higher[i] = False
        if higher.any():
            delta[i] = dist[i, higher].min()
        else:
            row = dist[i].copy()
            row[i] = 0.0
            delta[i] = row.max()
    return top_desc(f32(delta * rho), n_keep)


def istc(v, per_frame, ratio):
    n = v.shape[0]
    frames = n // per_frame
    keep = np.zeros(n, bool)
    if frames == 0:
        keep[:] = True
        return keep
    n_keep = int(per_frame * (1.0 - ratio))
    for t in range(frames):
        s = t * per_frame
        cur = v[s:s + per_frame]
        if n_keep >= per_frame:
            keep[s:s + per_frame] = True
        elif t % 2 == 0:
            keep[s + dpcknn(cur, n_keep)] = True
        else:
            prev = v[s - per_frame:s]
            cos = f32((unit_clamp(cur) * unit_clamp(prev)).sum(axis=1))
            keep[s + top_asc(cos, n_keep)] = True
    return keep


def runs(modality_seq, m):
    """Start and end (in that modality's own order) of each run of consecutive positions."""
    out, count, start, prev = [], 0, None, None
    for mod in modality_seq:
        if mod == m:
            if prev != m:
                start = count
            count += 1
        elif prev == m:
            out.append((start, count))
        prev = mod
    if prev == m:
        out.append((start, count))
    return out


def omnizip(v, a, imp, groups, gh, gw, rho_a, rho_v, ctx, g):
    per_frame = gh * gw
    nv, na = v.shape[0], a.shape[0]
    # The interleaved order: per 2 s chunk, its video (groups 2j, 2j+1) then its audio.
    vchunk = np.arange(nv) // per_frame // 2
    achunk = np.arange(na) // 50
    n_chunks = int(max(vchunk.max(initial=-1), achunk.max(initial=-1)) + 1)
    seq = []
    for j in range(n_chunks):
        seq += [(0, int(i)) for i in np.flatnonzero(vchunk == j)]
        seq += [(1, int(i)) for i in np.flatnonzero(achunk == j)]
    mods = [m for m, _ in seq]
    akeep, aout, n_anchor = audio_step(a, imp, v, rho_a, ctx, g)
    vr, ar = runs(mods, 0), runs(mods, 1)
    ng = min(len(vr), len(ar))
    retention = [float(np.float32(akeep[s:e].sum()) / np.float32(e - s)) for s, e in ar[:ng]]
    sizes = [e - s for s, e in vr[:ng]]
    unguided = sum(e - s for s, e in vr[ng:])
    base, ratios = window_ratios(retention, sizes, unguided, nv, rho_v)
    vkeep = np.zeros(nv, bool)
    for i, (s, e) in enumerate(vr):
        r = ratios[i] if i < ng else rho_v
        vkeep[s:e] = istc(v[s:e], per_frame, r)
        frames = (e - s) // per_frame
        if frames:  # the per-window count the issue quotes: frames x int(P (1 - rho))
            assert vkeep[s:e].sum() == frames * int(per_frame * (1.0 - r))
    kept = [(m, i) for m, i in seq if (vkeep[i] if m == 0 else akeep[i])]
    toks = np.stack([v[i] if m == 0 else aout[i] for m, i in kept]).astype(np.float32)
    info = dict(base=base, ratios=ratios, n_anchor=n_anchor, vkept=int(vkeep.sum()),
                akept=int(akeep.sum()), ng=ng)
    return kept, toks, info


def make_case(rng, groups, gh, gw, na, c, imp=None):
    p = gh * gw
    v = np.empty((groups * p, c), np.float32)
    v[:p] = rng.standard_normal((p, c))
    for t in range(1, groups):
        v[t * p:(t + 1) * p] = 0.8 * v[(t - 1) * p:t * p] + 0.6 * rng.standard_normal((p, c))
    a = rng.standard_normal((na, c)).astype(np.float32)
    if imp is None:
        imp = rng.random(na).astype(np.float32)
    return v, a, imp.astype(np.float32)


def main(out):
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(20261206)
    lines = ["# OmniZip golden cases, written by tests/reference/omnizip_ref.py (do not edit)."]

    def emit(name, v, a, imp, groups, gh, gw, rho_a, rho_v, ctx, g, inputs=None):
        kept, toks, info = omnizip(v, a, imp, groups, gh, gw, rho_a, rho_v, ctx, g)
        files = ((toks, ".out.f32"),)
        if inputs is None:  # else the inputs of case `inputs` are reused
            files += ((v, ".v.f32"), (a, ".a.f32"), (imp, ".imp.f32"))
        for arr, ext in files:
            arr.astype("<f4").tofile(os.path.join(out, name + ext))
        lines.append("case %s inputs=%s groups=%d gh=%d gw=%d na=%d c=%d rho_audio=%r "
                     "rho_video=%r contextual_ratio=%r g=%d"
                     % (name, inputs or name, groups, gh, gw, a.shape[0], a.shape[1], rho_a,
                        rho_v, ctx, g))
        lines.append("ratios %d %s" % (len(info["ratios"]),
                                       " ".join("%.17g" % r for r in info["ratios"])))
        lines.append("kept %d %s" % (len(kept), " ".join("%d:%d" % k for k in kept)))
        return kept, info

    # The paper's setting: 2-s windows of 2 frames x 144 tokens and 50 audio tokens, 30
    # windows (1 minute; with few windows the two fixed ones keep the budget from being met).
    v, a, imp = make_case(rng, 60, 12, 12, 1500, 8)
    for name, rho_a, rho_v, want in (("paper45", 0.3, 0.6, 0.452), ("paper35", 0.4, 0.7, 0.352)):
        kept, info = emit(name, v, a, imp, 60, 12, 12, rho_a, rho_v, 0.05, 3,
                          None if name == "paper45" else "paper45")
        frac = len(kept) / (v.shape[0] + a.shape[0])
        assert info["n_anchor"] == 75, info
        assert abs(frac - want) < 0.01, (name, frac)
        print("%s: kept %.4f of the tokens (paper: %.1f %%)" % (name, frac, 100 * want))

    # round(0.05 * 250) = round(12.5) = 12 anchors (halves to even).
    v, a, imp = make_case(rng, 10, 3, 4, 250, 8)
    kept, info = emit("twelve", v, a, imp, 10, 3, 4, 0.3, 0.6, 0.05, 3)
    assert info["n_anchor"] == 12, info

    # Two windows: the audio-set ratios stand; no rescaling toward rho_v.
    v, a, imp = make_case(rng, 4, 3, 4, 100, 8)
    kept, info = emit("two", v, a, imp, 4, 3, 4, 0.3, 0.6, 0.05, 3)
    assert info["ng"] == 2 and info["ratios"] == info["base"]

    # Ties: windows 0, 2, 4 keep all their audio (smallest ratio, 0.35), windows 1 and 3 keep
    # 5 anchors each (largest ratio): the first of each (0 and 1) stays fixed.
    imp = np.concatenate([np.full(50, 0.9), np.full(50, 0.1), np.full(50, 0.9),
                          np.full(50, 0.1), np.full(50, 0.9)]).astype(np.float32)
    imp += (np.arange(250) % 7 * 1e-3).astype(np.float32)
    v, a, imp = make_case(rng, 10, 3, 4, 250, 8, imp)
    kept, info = emit("ties", v, a, imp, 10, 3, 4, 0.4, 0.6, 0.04, 3)
    b, r = info["base"], info["ratios"]
    assert b[0] == b[2] == b[4] == 0.35 and b[1] == b[3] and r[0] == b[0] and r[1] == b[1], info
    assert r[2] != b[2] or r[3] != b[3]

    # Half-way rounding: 650 audio tokens, 0.05 * 650 = 32.5 -> 32 anchors.
    v, a, imp = make_case(rng, 26, 2, 2, 650, 8)
    kept, info = emit("half", v, a, imp, 26, 2, 2, 0.3, 0.6, 0.05, 3)
    assert info["n_anchor"] == 32, info

    # Video longer than audio (unguided windows at rho_v), then audio longer than video.
    v, a, imp = make_case(rng, 8, 3, 3, 120, 8)
    emit("video_tail", v, a, imp, 8, 3, 3, 0.3, 0.6, 0.05, 3)
    v, a, imp = make_case(rng, 6, 3, 3, 260, 8)
    emit("audio_tail", v, a, imp, 6, 3, 3, 0.3, 0.6, 0.05, 15)

    with open(os.path.join(out, "cases.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    here = os.path.dirname(os.path.abspath(__file__))
    main(sys.argv[1] if len(sys.argv) > 1 else
         os.path.join(here, "..", "fixtures", "fuse", "omnizip"))
