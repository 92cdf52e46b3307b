"""Idiomatic, vectorised numpy versions of the prune methods, the peer that bench/prune times.

tests/reference/prune_ref.py is written for clarity (it generates the golden fixtures) and
loops in Python where numpy has a vector form, and casts copies it does not need; timing it
would flatter the C side. These versions keep the reference's rules (budgets, tie order,
float64 cosine where the method defines it) and its results: run.py checks that they keep
the same rows as the C driver. Each returns (rows, tokens, importance) like prune_ref.

Precision, matched to the C side for fairness:
  * DyCoke and codec cosines accumulate in float64 on both sides (the method's definition).
  * uniform pooling and pixel-shuffle work in float32 on both sides.
  * VisionZip's similarity is a float32 GEMM on unit rows on both sides (the C side then
    re-checks near-ties in float64, which changes nothing on these inputs); cluster sums
    accumulate in float64 on both sides.
Shapes the fast paths do not cover (pooling windows that do not divide the grid, odd grids
for pixel-shuffle) fall back to prune_ref.
"""
import numpy as np

import prune_ref as ref


def gather(x, imp, rows):
    flat = x.reshape(-1, x.shape[-1])
    return rows, flat[rows], imp.reshape(-1)[rows]


def norms(x):
    """Per-token L2 norms of [..., C] float32 in float64, without a float64 copy of x."""
    return np.sqrt(np.einsum("...c,...c->...", x, x, dtype=np.float64))


def cosines(a, b, na, nb):
    dot = np.einsum("pc,pc->p", a, b, dtype=np.float64)
    return dot / np.maximum(na * nb, 1e-8)


def v_dycoke(x, imp, keep, window=4, faithful=False):
    T, P, C = x.shape
    if faithful:
        want = keep * P
        nk = P if want >= P else (int(want) if want > 0 else 0)
    else:
        nk = ref.budget(keep, P)
    nrm = norms(x)

    def prune(f, r):
        order = np.argsort(cosines(x[r], x[f], nrm[r], nrm[f]), kind="stable")[:nk]
        return order if faithful else np.sort(order)

    frames = {}
    if not faithful:
        for f in range(T):
            start = f // window * window
            j = f - start
            frames[f] = np.arange(P) if j == 0 else prune(f, f - 1 if j % 2 else start)
    else:
        for f in range(0, T - 1, 2):  # pass A: pairs; an odd last frame is never emitted
            frames[f] = np.arange(P)
            frames[f + 1] = prune(f + 1, f)
        for s in range(0, max(0, T - window), window):  # pass B: windows starting < T - window
            frames[s] = np.arange(P)
            for j in range(2, window, 2):
                frames[s + j] = prune(s + j, s)
    rows = np.concatenate([f * P + frames[f] for f in sorted(frames)])
    return gather(x, imp, rows)


def v_uniform(x, imp, keep, h, w):
    T, P, C = x.shape
    sy, sx = ref.pool_shape(h, w, ref.budget(keep, P))
    if h % sy or w % sx:
        return ref.v_uniform(x, imp, keep, h, w)
    oh, ow = h // sy, w // sx
    toks = x.reshape(T, oh, sy, ow, sx, C).sum(axis=(2, 4)) / np.float32(sy * sx)
    ims = imp.reshape(T, oh, sy, ow, sx).mean(axis=(2, 4), dtype=np.float64)
    tt, yy, xx = np.meshgrid(np.arange(T), np.arange(oh), np.arange(ow), indexing="ij")
    rows = ((tt * h + yy * sy) * w + xx * sx).reshape(-1)
    return rows, toks.reshape(-1, C), ims.reshape(-1).astype(np.float32)


def v_pixel_shuffle(x, imp, h, w):
    T, P, C = x.shape
    if h % 2 or w % 2:
        return ref.v_pixel_shuffle(x, imp, h, w)
    oh, ow = h // 2, w // 2
    toks = x.reshape(T, oh, 2, ow, 2, C).transpose(0, 1, 3, 2, 4, 5).reshape(-1, 4 * C)
    ims = imp.reshape(T, oh, 2, ow, 2).mean(axis=(2, 4), dtype=np.float64)
    tt, yy, xx = np.meshgrid(np.arange(T), np.arange(oh), np.arange(ow), indexing="ij")
    rows = ((tt * h + 2 * yy) * w + 2 * xx).reshape(-1)
    return rows, toks, ims.reshape(-1).astype(np.float32)


def v_random(x, imp, keep, seed):
    T, P, C = x.shape
    n = T * P
    k = ref.budget(keep, n)
    key = ref.splitmix64(seed, n)  # a bijection of the index: no ties, so a partition will do
    rows = np.sort(np.argpartition(key, k - 1)[:k]) if k < n else np.arange(n)
    return gather(x, imp, rows)


def v_topk(x, imp, keep):
    T, P, C = x.shape
    k = ref.budget(keep, T * P)
    # Importance can tie; a stable sort keeps the rule "ties to the lower index".
    rows = np.sort(np.argsort(-imp.reshape(-1), kind="stable")[:k])
    return gather(x, imp, rows)


def v_visionzip(x, imp, keep, ratio, w):
    T, P, C = x.shape
    B = ref.budget(keep, P)
    want = B * ratio
    D = B if want >= B else (int(want) if want > 0 else 0)
    ctx = B - D
    if ctx == 0:
        return ref.v_visionzip(x, imp, keep, ratio, w)
    rows, toks, ims = [], [], []
    for t in range(T):
        xt, it = x[t], imp[t]
        role = np.zeros(P, np.int8)
        role[np.argsort(-it, kind="stable")[:D]] = 1
        rest = np.flatnonzero(role == 0)
        step = max(1, len(rest) // ctx)
        tsel = np.arange(0, len(rest), step)[:ctx]
        targets = rest[tsel]
        others = np.delete(rest, tsel)
        out = xt.copy()
        oim = it.astype(np.float64)
        if len(others):
            unit = xt / np.maximum(norms(xt), 1e-8)[:, None].astype(np.float32)
            assign = (unit[others] @ unit[targets].T).argmax(axis=1)
            order = np.argsort(assign, kind="stable")
            counts = np.bincount(assign, minlength=len(targets))
            starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
            has = counts > 0
            sums = np.add.reduceat(xt[others[order]], starts[has], axis=0, dtype=np.float64)
            isum = np.add.reduceat(it[others[order]], starts[has], dtype=np.float64)
            tg = targets[has]
            out[tg] = xt[tg] + (sums / counts[has][:, None]).astype(np.float32)
            oim[tg] = (oim[tg] + isum) / (counts[has] + 1)
        role[targets] = 2
        keep_q = np.flatnonzero(role > 0)
        rows.append(t * P + keep_q)
        toks.append(out[keep_q])
        ims.append(oim[keep_q].astype(np.float32))
    return np.concatenate(rows), np.concatenate(toks), np.concatenate(ims)


def v_codec(x, imp, keep, is_key, cm, mthr, sthr):
    T, P, C = x.shape
    n = T * P
    nrm = norms(x)
    keepm = np.zeros(n, bool)
    score = np.full(n, np.nan)
    ref_t = np.zeros(P, np.int64)  # the group each cell's reference token comes from
    cells = np.arange(P)
    for g in range(T):
        sl = slice(g * P, (g + 1) * P)
        if g == 0 or is_key[g]:
            ref_t[:] = g
            keepm[sl] = True
            continue
        rx = x[ref_t, cells]
        s = cosines(rx, x[g], nrm[ref_t, cells], nrm[g])
        drop = (cm[g].astype(np.float64) < mthr) & (s >= sthr)
        keepm[sl] = ~drop
        score[sl][~drop] = -s[~drop]
        ref_t[~drop] = g
    K = ref.budget(keep, n)
    extra = min(max(0, int(keepm.sum()) - K), int((~np.isnan(score)).sum()))
    if extra > 0:
        keepm[ref.lowest(score, extra)] = False
    return gather(x, imp, np.flatnonzero(keepm))
