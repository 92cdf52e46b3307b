#!/usr/bin/python3
"""Independent numpy reference of the prune-visual and prune-audio methods.

Written from the method descriptions (shared/reference/token-methods.md, docs/methods.md),
not from the C code, so the golden fixtures it writes check the C port. Run with
/usr/bin/python3 (Debian's python3-numpy):

    /usr/bin/python3 tests/reference/prune_ref.py            # rewrites tests/fixtures/prune/

Common rules (identical in C, see plugins/prune-common/select.h):
  * budget K = int(keep * n) clamped to [1, n];
  * "lowest k" = first k of a stable argsort (ties: lower index; NaN last); "top k by
    importance" = lowest k of -importance;
  * random keys = splitmix64(seed, index), wrapping uint64 arithmetic;
  * cosine = a.b / max(|a| |b|, 1e-8) in float64.

Every vision function returns (rows, tokens, importance): rows are flat cell indices
t * h * w + y * w + x in output order, tokens [k, width] float32, importance [k] float32.
Every audio function returns a boolean mask [n].
"""
import os
import sys

import numpy as np

U64 = np.uint64


def budget(keep, n):
    if n == 0:
        return 0
    want = keep * n
    if not want >= 1.0:
        return 1
    if want >= n:
        return n
    return int(want)


def splitmix64(seed, n):
    with np.errstate(over="ignore"):
        i = np.arange(n, dtype=U64)
        z = U64(seed % (1 << 64)) + (i + U64(1)) * U64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> U64(30))) * U64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> U64(27))) * U64(0x94D049BB133111EB)
        return z ^ (z >> U64(31))


def lowest(key, k):
    """Indices of the k smallest keys, in key order (stable: ties to the lower index)."""
    return np.argsort(key, kind="stable")[:k]


def top_by(score, k):
    return lowest(-np.asarray(score, dtype=np.float64), k)


def cos_rows(a, b):
    """Row-wise cosine of two [m, c] arrays."""
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    dot = np.einsum("ij,ij->i", a, b)
    den = np.sqrt(np.einsum("ij,ij->i", a, a)) * np.sqrt(np.einsum("ij,ij->i", b, b))
    return dot / np.maximum(den, 1e-8)


def gather(x, imp, rows):
    T, P, C = x.shape
    flat = x.reshape(T * P, C)
    rows = np.asarray(rows, dtype=np.int64)
    im = imp.reshape(-1)[rows] if imp is not None else np.zeros(len(rows), np.float32)
    return rows, flat[rows].astype(np.float32), im.astype(np.float32)


# ------------------------------------------------------------------------------------------
# Vision


def dycoke_official_count(K, P):
    """DyCoke's own per-frame count, as dycole_ttm computes it from its pruning ratio K:
    keep = 1 - K in Python floats, then int(keep * P). K = 0.34, P = 100 -> int(65.99999999999999)
    = 65, where sieve's keep 0.66 gives int(66.0) = 66."""
    return int((1 - K) * P)


def v_dycoke(x, imp, keep, window=4, faithful=False, dycoke_k=None):
    T, P, C = x.shape
    if dycoke_k is not None and dycoke_k >= 0:
        want = (1 - dycoke_k) * P
        if faithful:
            nk = min(P, dycoke_official_count(dycoke_k, P))
        else:
            nk = P if want >= P else max(1, int(want))
    elif faithful:
        want = keep * P
        nk = P if want >= P else (int(want) if want > 0 else 0)
    else:
        nk = budget(keep, P)

    def prune(f, ref):
        sim = cos_rows(x[ref], x[f])
        if faithful:
            # The official code ranks torch's float32 cosines: rank the float32 values, equal
            # ones (including values a double would separate) to the lower index.
            sim = sim.astype(np.float32)
        order = lowest(sim, nk)
        return order if faithful else np.sort(order)

    frames = {}
    if not faithful:
        for f in range(T):
            start = f // window * window
            j = f - start
            if j == 0:
                frames[f] = np.arange(P)
            elif j % 2:
                frames[f] = prune(f, f - 1)
            else:
                frames[f] = prune(f, start)
    else:
        # Pass A: pairs (f, f + 1); an odd last frame is never emitted.
        for f in range(0, T - 1, 2):
            frames[f] = np.arange(P)
            frames[f + 1] = prune(f + 1, f)
        # Pass B: windows whose start is < T - window re-prune their even offsets.
        s = 0
        while s < T - window:
            frames[s] = np.arange(P)
            for j in range(2, window, 2):
                frames[s + j] = prune(s + j, s)
            s += window
    rows = np.concatenate([f * P + frames[f] for f in sorted(frames)]) if frames else []
    return gather(x, imp, rows)


def pool_shape(h, w, b):
    best = None
    for sy in range(1, h + 1):
        for sx in range(1, w + 1):
            cnt = -(-h // sy) * -(-w // sx)
            if cnt > b:
                continue
            key = (-cnt, abs(sy - sx), sy + sx, sy)
            if best is None or key < best[0]:
                best = (key, sy, sx)
    return best[1], best[2]


def v_uniform(x, imp, keep, h, w):
    T, P, C = x.shape
    sy, sx = pool_shape(h, w, budget(keep, P))
    g = x.reshape(T, h, w, C).astype(np.float64)
    gi = imp.reshape(T, h, w).astype(np.float64)
    rows, toks, ims = [], [], []
    for t in range(T):
        for y0 in range(0, h, sy):
            for x0 in range(0, w, sx):
                toks.append(g[t, y0:y0 + sy, x0:x0 + sx].reshape(-1, C).mean(axis=0))
                ims.append(gi[t, y0:y0 + sy, x0:x0 + sx].mean())
                rows.append((t * h + y0) * w + x0)
    return np.array(rows), np.array(toks, np.float32), np.array(ims, np.float32)


def v_pixel_shuffle(x, imp, h, w):
    T, P, C = x.shape
    oh, ow = -(-h // 2), -(-w // 2)
    g = np.zeros((T, 2 * oh, 2 * ow, C), np.float32)
    g[:, :h, :w] = x.reshape(T, h, w, C)
    valid = np.zeros((T, 2 * oh, 2 * ow), bool)
    valid[:, :h, :w] = True
    gi = np.zeros((T, 2 * oh, 2 * ow))
    gi[:, :h, :w] = imp.reshape(T, h, w)
    # [T, oh, 2, ow, 2, C] -> [T, oh, ow, dy, dx, C]: channel block dy * 2 + dx.
    toks = g.reshape(T, oh, 2, ow, 2, C).transpose(0, 1, 3, 2, 4, 5).reshape(-1, 4 * C)
    vs = valid.reshape(T, oh, 2, ow, 2).transpose(0, 1, 3, 2, 4).reshape(-1, 4)
    ss = gi.reshape(T, oh, 2, ow, 2).transpose(0, 1, 3, 2, 4).reshape(-1, 4)
    ims = ss.sum(axis=1) / vs.sum(axis=1)
    tt, yy, xx = np.meshgrid(np.arange(T), np.arange(oh), np.arange(ow), indexing="ij")
    rows = ((tt * h + 2 * yy) * w + 2 * xx).reshape(-1)
    return rows, toks.astype(np.float32), ims.astype(np.float32)


def v_random(x, imp, keep, seed):
    T, P, C = x.shape
    n = T * P
    rows = np.sort(np.argsort(splitmix64(seed, n), kind="stable")[:budget(keep, n)])
    return gather(x, imp, rows)


def v_topk(x, imp, keep):
    T, P, C = x.shape
    rows = np.sort(top_by(imp.reshape(-1), budget(keep, T * P)))
    return gather(x, imp, rows)


def v_visionzip(x, imp, keep, ratio, w, keys=None, official=None):
    """VisionZip per group. `keys` [T, P, k]: the contextual similarity is measured on these
    attention keys (the official metric) instead of the tokens. `official` = (dominant,
    contextual): the official code's counts, CLS counted among the dominant tokens (54 = CLS +
    53 patches; the grid has no CLS row), and its output order: dominant patches in cell
    order, then contextual tokens in target order."""
    T, P, C = x.shape
    if official is not None:
        D = min(P, max(0, int(official[0]) - 1))
        ctx = min(max(0, int(official[1])), P - D)
    else:
        B = budget(keep, P)
        want = B * ratio
        D = B if want >= B else (int(want) if want > 0 else 0)
        ctx = B - D
    rows, toks, ims = [], [], []
    for t in range(T):
        xt = x[t].astype(np.float64)
        mt = keys[t].astype(np.float64) if keys is not None else xt
        it = imp[t].astype(np.float64)
        dom = top_by(it, D)
        rest = np.setdiff1d(np.arange(P), dom)  # sorted
        out = {int(q): (xt[q], it[q]) for q in dom}
        if ctx > 0:
            step = max(1, len(rest) // ctx)
            tsel = np.arange(0, len(rest), step)[:ctx]
            targets = rest[tsel]
            others = np.delete(rest, tsel)
            if len(others):
                nrm = np.sqrt((mt * mt).sum(axis=1))
                sim = (mt[others] @ mt[targets].T) / np.maximum(
                    np.outer(nrm[others], nrm[targets]), 1e-8)
                assign = sim.argmax(axis=1)
            else:
                assign = np.zeros(0, np.int64)
            for j, q in enumerate(targets):
                members = others[assign == j]
                if len(members):
                    tok = xt[q] + xt[members].mean(axis=0)
                    im = (it[q] + it[members].sum()) / (len(members) + 1)
                else:
                    tok, im = xt[q], it[q]
                out[int(q)] = (tok, im)
        order = sorted(out)
        if official is not None:
            order = sorted(int(q) for q in dom) + [int(q) for q in (targets if ctx > 0 else [])]
        for q in order:
            rows.append(t * P + q)
            toks.append(out[q][0])
            ims.append(out[q][1])
    return np.array(rows), np.array(toks, np.float32).reshape(-1, C), np.array(ims, np.float32)


def codec_groups(frame_type, motion, T, h, w):
    F, mh, mw = motion.shape
    is_key = np.zeros(T, bool)
    cm = np.zeros((T, h, w), np.float32)
    ys = np.arange(h) * mh // h
    xs = np.arange(w) * mw // w
    for g in range(T):
        fr = [f for f in (2 * g, 2 * g + 1) if f < F]
        is_key[g] = not fr or any(frame_type[f] == ord("I") for f in fr)
        if fr:
            cm[g] = np.max(np.stack([motion[f][np.ix_(ys, xs)] for f in fr]), axis=0)
    return is_key, cm.reshape(T, h * w)


def v_codec(x, imp, keep, is_key, cm, mthr, sthr):
    T, P, C = x.shape
    n = T * P
    keepm = np.zeros(n, bool)
    score = np.full(n, np.nan)  # -similarity of droppable kept cells
    ref = x[0].copy()
    for g in range(T):
        if g == 0 or is_key[g]:
            ref = x[g].copy()
            keepm[g * P:(g + 1) * P] = True
            continue
        s = cos_rows(ref, x[g])
        drop = (cm[g].astype(np.float64) < mthr) & (s >= sthr)
        keepm[g * P:(g + 1) * P] = ~drop
        score[g * P:(g + 1) * P][~drop] = -s[~drop]
        ref[~drop] = x[g][~drop]
    K = budget(keep, n)
    extra = min(max(0, keepm.sum() - K), int((~np.isnan(score)).sum()))
    if extra > 0:
        keepm[lowest(score, extra)] = False
    return gather(x, imp, np.flatnonzero(keepm))


# ------------------------------------------------------------------------------------------
# Audio


def a_segment_topk(imp, keep, S):
    n = len(imp)
    K = budget(keep, n)
    per, r = K // S, K - (K // S) * S
    mask = np.zeros(n, bool)
    cands = []
    for s in range(S):
        a, b = s * n // S, (s + 1) * n // S
        order = top_by(imp[a:b], b - a)
        mask[a + order[:per]] = True
        if per < b - a:
            cands.append(a + order[per])
    if r:
        cands = np.array(cands, np.int64)
        mask[cands[top_by(imp[cands], r)]] = True
    return mask


def a_segment_plain(imp, keep, S):
    """The paper's rule as stated (Gibier et al., arXiv 2511.14293; no official code): S equal
    segments, the top floor(K/S) of each, nothing for the remainder."""
    n = len(imp)
    per = budget(keep, n) // S
    mask = np.zeros(n, bool)
    for s in range(S):
        a, b = s * n // S, (s + 1) * n // S
        mask[a + top_by(imp[a:b], b - a)[:per]] = True
    return mask


def a_topk(imp, keep):
    mask = np.zeros(len(imp), bool)
    mask[top_by(imp, budget(keep, len(imp)))] = True
    return mask


def a_threshold(imp, alpha):
    im = imp.astype(np.float64)
    return im >= alpha * im.mean()


def a_uniform(n, keep):
    K = budget(keep, n)
    mask = np.zeros(n, bool)
    mask[np.arange(K) * n // K] = True
    return mask


def a_random(n, keep, seed):
    mask = np.zeros(n, bool)
    mask[np.argsort(splitmix64(seed, n), kind="stable")[:budget(keep, n)]] = True
    return mask


# ------------------------------------------------------------------------------------------
# Golden fixtures

KEEPS = (0.25, 0.5, 0.8, 1.0)


def make_vision(rng, T, h, w, C, frames, mh, mw, types):
    P = h * w
    x = np.empty((T, P, C), np.float32)
    x[0] = rng.standard_normal((P, C))
    for t in range(1, T):  # some temporal redundancy, as in real video
        x[t] = 0.7 * x[t - 1] + 0.5 * rng.standard_normal((P, C))
    x[:, min(17, P - 1)] = x[:, 3]  # identical cells: exact similarity ties
    x[2, 5] = 0.0  # a zero token: cosine 0 by definition
    imp = (np.round(rng.random((T, P)) * 8) / 8).astype(np.float32)  # many exact ties
    motion = (rng.random((frames, mh, mw)) * 1.0).astype(np.float32)
    ftype = np.frombuffer(types.encode(), np.uint8)
    assert len(ftype) == frames
    return x, imp, ftype, motion


def vision_cases():
    cases = []
    for keep in KEEPS:
        cases.append(("dycoke", dict(keep=keep, window=4, faithful=0)))
        cases.append(("dycoke", dict(keep=keep, window=4, faithful=1)))
        cases.append(("uniform", dict(keep=keep)))
        cases.append(("random", dict(keep=keep, seed=0)))
        cases.append(("topk", dict(keep=keep)))
        cases.append(("visionzip", dict(keep=keep, dominant_ratio=54 / 64)))
        cases.append(("codec", dict(keep=keep, motion_threshold=0.5, match_threshold=0.5)))
    cases += [
        ("dycoke", dict(keep=0.5, window=3, faithful=0)),
        ("dycoke", dict(keep=0.3, window=2, faithful=1)),
        ("uniform", dict(keep=0.1)),
        ("uniform", dict(keep=0.02)),
        ("pixel-shuffle", dict(keep=0.5)),
        ("random", dict(keep=0.5, seed=7)),
        ("random", dict(keep=0.5, seed=-3)),
        ("visionzip", dict(keep=0.5, dominant_ratio=0.5)),
        ("visionzip", dict(keep=0.5, dominant_ratio=1.0)),
        ("visionzip", dict(keep=0.2, dominant_ratio=0.0)),
        ("codec", dict(keep=0.5, motion_threshold=0.9, match_threshold=-1.0)),
        ("codec", dict(keep=0.3, motion_threshold=0.0, match_threshold=0.0)),
    ]
    return cases


def run_vision(method, prm, x, imp, h, w, ftype, motion, keys=None):
    keep = prm["keep"]
    if method == "visionzip" and prm.get("faithful"):
        return v_visionzip(x, imp, keep, None, w, keys, (prm["dominant"], prm["contextual"]))
    if method == "visionzip" and prm.get("keys"):
        return v_visionzip(x, imp, keep, prm["dominant_ratio"], w, keys)
    if method == "dycoke":
        return v_dycoke(x, imp, keep, int(prm["window"]), bool(prm["faithful"]),
                        prm.get("dycoke_k"))
    if method == "uniform":
        return v_uniform(x, imp, keep, h, w)
    if method == "pixel-shuffle":
        return v_pixel_shuffle(x, imp, h, w)
    if method == "random":
        return v_random(x, imp, keep, int(prm["seed"]))
    if method == "topk":
        return v_topk(x, imp, keep)
    if method == "visionzip":
        return v_visionzip(x, imp, keep, prm["dominant_ratio"], w)
    if method == "codec":
        key, cm = codec_groups(ftype, motion, x.shape[0], h, w)
        return v_codec(x, imp, keep, key, cm, prm["motion_threshold"], prm["match_threshold"])
    raise ValueError(method)


def audio_cases(n):
    cases = []
    for keep in (0.1, 0.25, 0.5, 0.77, 1.0):
        for S in (10, 4, 3):
            cases.append(("segment-topk", dict(keep=keep, segments=S)))
        cases.append(("topk", dict(keep=keep)))
        cases.append(("uniform", dict(keep=keep)))
        cases.append(("random", dict(keep=keep, seed=11)))
    for alpha in (1.0, 0.5, 1.5):
        cases.append(("threshold", dict(keep=0.5, alpha=alpha)))
    return cases


def run_audio(method, prm, imp):
    keep, n = prm["keep"], len(imp)
    if method == "segment-topk" and prm.get("plain"):
        return a_segment_plain(imp, keep, int(prm["segments"]))
    if method == "segment-topk":
        return a_segment_topk(imp, keep, int(prm["segments"]))
    if method == "topk":
        return a_topk(imp, keep)
    if method == "threshold":
        return a_threshold(imp, prm["alpha"])
    if method == "uniform":
        return a_uniform(n, keep)
    if method == "random":
        return a_random(n, keep, int(prm["seed"]))
    raise ValueError(method)


def fmt(prm):
    return " ".join("%s=%r" % (k, v) for k, v in prm.items())


MERGES = ("uniform", "pixel-shuffle", "visionzip")


def write_fixtures(out):
    os.makedirs(out, exist_ok=True)
    for f in os.listdir(out):
        if f.endswith((".f32", ".u8")) or f == "golden.txt":
            os.remove(os.path.join(out, f))
    rng = np.random.default_rng(20261121)
    lines = ["# Golden kept rows for prune-visual / prune-audio, written by",
             "# tests/reference/prune_ref.py (do not edit). Vision rows are flat cell indices",
             "# t*h*w + y*w + x in output order; audio rows are time indices."]
    visions = {
        "va": (8, 6, 6, 16, 16, 6, 6, "IPBBPBBPIPBBPBBP"),
        "vb": (7, 5, 7, 8, 13, 10, 14, "IPPPPPPPPPPPP"),
    }
    ncase = 0
    for name, (T, h, w, C, F, mh, mw, types) in visions.items():
        x, imp, ftype, motion = make_vision(rng, T, h, w, C, F, mh, mw, types)
        x.tofile(os.path.join(out, name + ".x.f32"))
        imp.tofile(os.path.join(out, name + ".imp.f32"))
        ftype.tofile(os.path.join(out, name + ".ftype.u8"))
        motion.tofile(os.path.join(out, name + ".motion.f32"))
        lines.append("input %s vision t=%d h=%d w=%d c=%d frames=%d mh=%d mw=%d"
                     % (name, T, h, w, C, F, mh, mw))
        for method, prm in vision_cases():
            rows, toks, ims = run_vision(method, prm, x, imp, h, w, ftype, motion)
            cid = "%s%d" % (name, ncase)
            ncase += 1
            lines.append("case %s %s %s %s" % (cid, name, method, fmt(prm)))
            lines.append("rows %d %s" % (len(rows), " ".join(str(int(r)) for r in rows)))
            if method in MERGES:
                toks.tofile(os.path.join(out, cid + ".tok.f32"))
                ims.tofile(os.path.join(out, cid + ".imp.f32"))
                lines.append("tokens %d" % toks.shape[1])
    audios = {"aa": (53, 8), "ab": (7, 4)}
    for name, (n, C) in audios.items():
        x = rng.standard_normal((n, C)).astype(np.float32)
        imp = (np.round(rng.random(n) * 6) / 6).astype(np.float32)
        x.tofile(os.path.join(out, name + ".x.f32"))
        imp.tofile(os.path.join(out, name + ".imp.f32"))
        lines.append("input %s audio n=%d c=%d" % (name, n, C))
        for method, prm in audio_cases(n):
            mask = run_audio(method, prm, imp)
            cid = "%s%d" % (name, ncase)
            ncase += 1
            lines.append("case %s %s %s %s" % (cid, name, method, fmt(prm)))
            rows = np.flatnonzero(mask)
            lines.append("rows %d %s" % (len(rows), " ".join(str(int(r)) for r in rows)))
    with open(os.path.join(out, "golden.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("wrote %d cases to %s" % (ncase, out))
    write_official(os.path.join(out, "official"), rng, visions["va"])


def write_official(out, rng, va):
    """Cases that reproduce the official code's own arithmetic (issue 17), in their own
    golden.txt under official/ so that the integration test, which replays every case of the
    main list through `sieve apply` with the main parameters only, is not handed parameters it
    does not pass. The rng continues after the main inputs, whose bytes therefore do not change."""
    os.makedirs(out, exist_ok=True)
    for f in os.listdir(out):
        if f.endswith((".f32", ".u8")) or f == "golden.txt":
            os.remove(os.path.join(out, f))
    parent = os.path.dirname(out)
    lines = ["# Golden kept rows for the official-arithmetic options (dycoke_k, float32 ranking,",
             "# segment-topk plain), written by tests/reference/prune_ref.py (do not edit)."]
    # va: a copy of the main input of that name.
    for ext in (".x.f32", ".imp.f32", ".ftype.u8", ".motion.f32"):
        with open(os.path.join(parent, "va" + ext), "rb") as src:
            data = src.read()
        with open(os.path.join(out, "va" + ext), "wb") as dst:
            dst.write(data)
    T0, h0, w0, C0, F0, mh0, mw0, _ = va
    # Attention keys for VisionZip, 8 wide: a fixed projection of the tokens plus noise, so
    # that clusters on keys and on tokens differ. A separate generator keeps rng's stream.
    kr = np.random.default_rng(17)
    xa = np.fromfile(os.path.join(out, "va.x.f32"), np.float32).reshape(T0, h0 * w0, C0)
    va_keys = (xa @ kr.standard_normal((C0, 8)) + 2.0 * kr.standard_normal((T0, h0 * w0, 8)))
    va_keys = va_keys.astype(np.float32)
    va_keys.tofile(os.path.join(out, "va.keys.f32"))
    lines.append("input va vision t=%d h=%d w=%d c=%d frames=%d mh=%d mw=%d kc=8"
                 % (T0, h0, w0, C0, F0, mh0, mw0))
    ncase = 0
    # vt: near-ties. Half the positions change by ~1e-4 between frames, so their cosines are
    # within 1e-8 of 1: distinct in double, equal in float32, where the official code ranks.
    T, h, w, C = 8, 4, 5, 16
    P = h * w
    x = np.empty((T, P, C), np.float32)
    x[0] = rng.standard_normal((P, C))
    eps = np.where(np.arange(P) % 2 == 0, 1e-4, 0.4).astype(np.float32)[:, None]
    for t in range(1, T):
        x[t] = x[t - 1] + eps * rng.standard_normal((P, C)).astype(np.float32)
    imp = rng.random((T, P)).astype(np.float32)
    ftype = np.frombuffer(b"I" * T, np.uint8)
    motion = np.zeros((T, 1, 1), np.float32)
    for arr, ext in ((x, ".x.f32"), (imp, ".imp.f32"), (ftype, ".ftype.u8"), (motion, ".motion.f32")):
        arr.tofile(os.path.join(out, "vt" + ext))
    lines.append("input vt vision t=%d h=%d w=%d c=%d frames=%d mh=1 mw=1" % (T, h, w, C, T))
    inputs = {"va": None, "vt": (x, imp)}
    extra = [
        ("vt", "dycoke", dict(keep=0.5, window=4, faithful=1)),
        ("vt", "dycoke", dict(keep=0.5, window=4, faithful=1, dycoke_k=0.34)),
        ("vt", "dycoke", dict(keep=0.5, window=4, faithful=0, dycoke_k=0.7)),
        ("va", "dycoke", dict(keep=0.5, window=4, faithful=1, dycoke_k=0.3)),
        ("va", "dycoke", dict(keep=0.5, window=4, faithful=1, dycoke_k=0.34)),
        ("va", "dycoke", dict(keep=0.5, window=4, faithful=0, dycoke_k=0.5)),
        # VisionZip on encode's keys, sieve's budget; then the official counts and order.
        ("va", "visionzip", dict(keep=0.5, dominant_ratio=0.84375, keys=1)),
        ("va", "visionzip", dict(keep=0.3, dominant_ratio=0.5, keys=1)),
        ("va", "visionzip", dict(keep=0.5, faithful=1, dominant=10, contextual=4)),
        ("va", "visionzip", dict(keep=0.5, faithful=1, dominant=30, contextual=10)),
        ("va", "visionzip", dict(keep=0.5, faithful=1, dominant=1, contextual=3)),
    ]
    for name, method, prm in extra:
        if name == "va":
            xi = np.fromfile(os.path.join(out, "va.x.f32"), np.float32).reshape(va[0], va[1] * va[2], va[3])
            ii = np.fromfile(os.path.join(out, "va.imp.f32"), np.float32).reshape(va[0], -1)
            hh, ww = va[1], va[2]
        else:
            xi, ii = inputs[name]
            hh, ww = h, w
        rows, toks, ims = run_vision(method, prm, xi, ii, hh, ww, None, None,
                                     va_keys if name == "va" else None)
        cid = "%s%d" % (name, ncase)
        ncase += 1
        lines.append("case %s %s %s %s" % (cid, name, method, fmt(prm)))
        lines.append("rows %d %s" % (len(rows), " ".join(str(int(r)) for r in rows)))
        if method in MERGES:
            toks.tofile(os.path.join(out, cid + ".tok.f32"))
            ims.tofile(os.path.join(out, cid + ".imp.f32"))
            lines.append("tokens %d" % toks.shape[1])
        if method == "visionzip" and prm.get("keys"):
            # The keys change the clusters: the same case on the tokens gives other values.
            plain = v_visionzip(xi, ii, prm["keep"], prm["dominant_ratio"], ww)
            assert not np.array_equal(plain[1], toks), cid
    assert dycoke_official_count(0.34, 100) == 65 and int(0.66 * 100) == 66
    # vh: 10x10 groups, where K = 0.34 keeps 65 per pruned group and keep 0.66 keeps 66.
    Th, hh, wh, Ch = 6, 10, 10, 4
    xh = np.empty((Th, hh * wh, Ch), np.float32)
    xh[0] = rng.standard_normal((hh * wh, Ch))
    for t in range(1, Th):
        xh[t] = 0.7 * xh[t - 1] + 0.5 * rng.standard_normal((hh * wh, Ch))
    ih = rng.random((Th, hh * wh)).astype(np.float32)
    for arr, ext in ((xh, ".x.f32"), (ih, ".imp.f32"), (np.frombuffer(b"I" * Th, np.uint8), ".ftype.u8"),
                     (np.zeros((Th, 1, 1), np.float32), ".motion.f32")):
        arr.tofile(os.path.join(out, "vh" + ext))
    lines.append("input vh vision t=%d h=%d w=%d c=%d frames=%d mh=1 mw=1" % (Th, hh, wh, Ch, Th))
    for prm in (dict(keep=0.5, window=4, faithful=1, dycoke_k=0.34),
                dict(keep=0.66, window=4, faithful=1)):
        rows, _, _ = run_vision("dycoke", prm, xh, ih, hh, wh, None, None)
        cid = "vh%d" % ncase
        ncase += 1
        lines.append("case %s vh dycoke %s" % (cid, fmt(prm)))
        lines.append("rows %d %s" % (len(rows), " ".join(str(int(r)) for r in rows)))
        # 6 groups: pass A prunes 1, 3, 5; pass B re-prunes group 2 (window 0 starts < 6 - 4).
        assert len(rows) == 2 * 100 + 4 * (65 if "dycoke_k" in prm else 66), len(rows)
    # The official budget: dominant 54 counts CLS, so 53 patches + 10 contextual per image.
    assert min(576, 54 - 1) + 10 == 63
    # Segment-wise top-K, plain: 750 tokens, keep 0.25 -> K = 187, S = 10 -> 18 each, 180 kept.
    n = 750
    imp = rng.random(n).astype(np.float32)
    imp[100:140] = 0.5  # a run of exact ties
    x = rng.standard_normal((n, 4)).astype(np.float32)
    x.tofile(os.path.join(out, "ac.x.f32"))
    imp.tofile(os.path.join(out, "ac.imp.f32"))
    lines.append("input ac audio n=%d c=4" % n)
    assert a_segment_plain(imp, 0.25, 10).sum() == 180 and a_segment_topk(imp, 0.25, 10).sum() == 187
    for keep, S in ((0.25, 10), (0.1, 10), (0.5, 7), (0.01, 10), (1.0, 3)):
        prm = dict(keep=keep, segments=S, plain=1)
        mask = run_audio("segment-topk", prm, imp)
        cid = "ac%d" % ncase
        ncase += 1
        lines.append("case %s ac segment-topk %s" % (cid, fmt(prm)))
        rows = np.flatnonzero(mask)
        lines.append("rows %d %s" % (len(rows), " ".join(str(int(r)) for r in rows)))
    with open(os.path.join(out, "golden.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("wrote %d cases to %s" % (ncase, out))


if __name__ == "__main__":
    here = os.path.dirname(os.path.abspath(__file__))
    write_fixtures(sys.argv[1] if len(sys.argv) > 1 else
                   os.path.join(here, "..", "fixtures", "prune"))
