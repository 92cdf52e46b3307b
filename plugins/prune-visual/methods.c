/*
 * methods.c - the selecting methods of prune-visual: DyCoke TTM, random, top-k and codec.
 * (The merging methods, uniform pooling, pixel-shuffle and VisionZip, are in merge.c.)
 * Every function builds a list of kept flat indices and hands it to pv_emit, which copies
 * rows, cells, importance and the mask; the algorithms are documented in methods.h.
 */
#include "methods.h"
#include "emit.h"
#include "parallel.h"
#include "select.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <sieve/plugin.h>

/*
 * DyCoke's per-frame count: floor(keep * p), or, when DyCoke's own pruning ratio K is given
 * (prune_ratio >= 0), the official int((1 - K) * p) with 1 - K rounded to a double first, as
 * Python computes it: K = 0.34 over 100 tokens keeps int(65.99999999999999) = 65, where
 * keep 0.66 keeps 66. The default clamps the count to at least one token; faithful mode keeps
 * Python's int() even when it is 0.
 */
static size_t
dycoke_count(double keep, double prune_ratio, size_t p, int faithful)
{
    if (!faithful && prune_ratio < 0)
        return prune_budget(keep, p);
    double want = prune_ratio >= 0 ? (1.0 - prune_ratio) * (double)p : keep * (double)p;
    if (!faithful)
        return want >= (double)p ? p : want >= 1.0 ? (size_t)want : p ? 1 : 0;
    return want >= (double)p ? p : want > 0 ? (size_t)want : 0;
}

/*
 * The reference group of group f, or -1 when f is kept whole, or -2 when f is dropped
 * (faithful mode with an odd group count).
 */
static int64_t
dycoke_ref(int64_t f, int64_t t, int64_t window, int faithful)
{
    if (!faithful) {
        int64_t start = f / window * window, j = f - start;
        if (j == 0)
            return -1;
        return (j % 2) ? f - 1 : start;
    }
    if (f >= t - t % 2)
        return -2; /* pass A never emits the last frame of an odd count */
    if (f % 2)
        return f - 1; /* pass A: the odd frame of a pair */
    int64_t start = f / window * window, j = f - start;
    if (j > 0 && start < t - window)
        return start; /* pass B re-prunes even offsets of windows starting before t - window */
    return -1;
}

/* The squared norms of group f's tokens, computed on first use (nrm2 is NaN until then). */
static const double *
group_norms(const struct pv_in *in, int64_t f, double *nrm2)
{
    size_t p = (size_t)(in->h * in->w), c = (size_t)in->c;
    double *g = nrm2 + (size_t)f * p;
    if (p > 0 && isnan(g[0])) {
        const float *xf = in->x + (size_t)f * p * c;
        for (size_t q = 0; q < p; q++)
            g[q] = prune_norm2(xf + q * c, c);
    }
    return g;
}

/* What the ranges of one DyCoke call share; every group's rows start at its `first` row. */
struct dycoke_job {
    const struct pv_in *in;
    struct pv_out *out;
    int64_t window, unit;
    int faithful;
    size_t nk;
    const size_t *first; /* [t]: the group's first output row */
    double *nrm2;        /* [n]: squared norms, NaN until computed (only the unit's own) */
};

/*
 * DyCoke over the groups of units [lo, hi). A unit is `unit` consecutive groups closed under
 * the reference relation (a window, or two windows when the window is odd, so that faithful
 * mode's pairs never cross a unit), so no two ranges touch the same group or norm.
 * Group by group, the similarities are computed and the kept rows copied right away, while
 * the group's 5 MB of tokens are still in the last-level cache, so every token is read from
 * memory once. Each token's norm is computed once, in the same pass as its first dot
 * product, and reused as a reference's norm.
 */
static int
dycoke_range(void *ctx, size_t part, size_t lo, size_t hi)
{
    const struct dycoke_job *j = ctx;
    const struct pv_in *in = j->in;
    size_t p = (size_t)(in->h * in->w), c = (size_t)in->c, nk = j->nk;
    (void)part;
    int rc = SIEVE_ENOMEM;
    double *sim = malloc((p ? p : 1) * sizeof *sim);
    int64_t *order = malloc((p ? p : 1) * sizeof *order);
    uint8_t *fmask = malloc(p ? p : 1);
    if (!sim || !order || !fmask)
        goto done;
    rc = 0;
    int64_t f_end = (int64_t)hi * j->unit < in->t ? (int64_t)hi * j->unit : in->t;
    for (int64_t f = (int64_t)lo * j->unit; f < f_end && rc == 0; f++) {
        int64_t ref = dycoke_ref(f, in->t, j->window, j->faithful);
        size_t base = (size_t)f * p, r = j->first[f];
        if (ref == -2)
            continue;
        if (ref == -1) {
            for (size_t q = 0; q < p; q++)
                pv_emit_row(in, j->out, r++, base + q);
            continue;
        }
        const float *xf = in->x + base * c, *xr = in->x + (size_t)ref * p * c;
        const double *nr = group_norms(in, ref, j->nrm2);
        double *nf = j->nrm2 + base;
        if (isnan(nf[0])) {
            /* First use of this group's norms: one pass gives both dot and norm. */
            for (size_t q = 0; q < p; q++) {
                double d = prune_dot_norm2(xr + q * c, xf + q * c, c, &nf[q]);
                sim[q] = prune_cosine_of(d, nr[q], nf[q]);
            }
        } else {
            for (size_t q = 0; q < p; q++)
                sim[q] = prune_cosine_of(prune_dot(xr + q * c, xf + q * c, c), nr[q], nf[q]);
        }
        /*
         * The official code ranks torch's float32 cosines; ranking the double values ordered
         * near-ties (gaps under ~1e-7) differently in about 4% of continuous inputs. Rounded to
         * float, such keys become equal and go to the lower index, where torch's topk order is
         * unspecified, so values within a float32 ulp may still differ from a given torch run.
         */
        if (j->faithful)
            for (size_t q = 0; q < p; q++)
                sim[q] = (double)(float)sim[q];
        memset(fmask, 0, p);
        if ((rc = prune_select_lowest(sim, p, nk, fmask, j->faithful ? order : NULL)) < 0)
            break;
        if (j->faithful) {
            for (size_t i = 0; i < nk && i < p; i++)
                pv_emit_row(in, j->out, r++, base + (size_t)order[i]);
        } else {
            for (size_t q = 0; q < p; q++)
                if (fmask[q])
                    pv_emit_row(in, j->out, r++, base + q);
        }
    }
    pv_copy_done();
done:
    free(fmask);
    free(order);
    free(sim);
    return rc;
}

static int
dycoke_run(const struct pv_in *in, double keep, double prune_ratio, int64_t window, int faithful,
           struct pv_out *out)
{
    memset(out, 0, sizeof *out);
    if (window < 1)
        return SIEVE_EINVAL;
    size_t p = (size_t)(in->h * in->w), c = (size_t)in->c, n = (size_t)in->t * p;
    size_t nk = dycoke_count(keep, prune_ratio, p, faithful), k = 0;
    size_t *first = malloc(((size_t)in->t + 1) * sizeof *first);
    double *nrm2 = malloc((n ? n : 1) * sizeof *nrm2);
    int rc = SIEVE_ENOMEM;
    if (!first || !nrm2)
        goto done;
    for (int64_t f = 0; f < in->t; f++) {
        int64_t ref = dycoke_ref(f, in->t, window, faithful);
        first[f] = k;
        k += ref == -2 ? 0 : ref == -1 ? p : nk < p ? nk : p;
    }
    for (size_t i = 0; i < n; i++)
        nrm2[i] = NAN;
    if ((rc = pv_out_alloc(in, out, k, c, n)) < 0)
        goto done;
    out->param_a = (double)nk;
    struct dycoke_job job = {in,       out, window, window % 2 ? 2 * window : window,
                             faithful, nk,  first,  nrm2};
    size_t units = (size_t)((in->t + job.unit - 1) / job.unit);
    if ((rc = prune_parallel(in->threads, units, dycoke_range, &job)) < 0)
        pv_out_release(out);
done:
    free(nrm2);
    free(first);
    return rc;
}

int
pv_dycoke(const struct pv_in *in, double keep, int64_t window, int faithful, struct pv_out *out)
{
    return dycoke_run(in, keep, -1.0, window, faithful, out);
}

int
pv_dycoke_ratio(const struct pv_in *in, double prune_ratio, int64_t window, int faithful,
                struct pv_out *out)
{
    return dycoke_run(in, 0.0, prune_ratio, window, faithful, out);
}

/* Emits the cells set in `mask` in original order. */
static int
emit_mask(const struct pv_in *in, const uint8_t *mask, size_t n, struct pv_out *out)
{
    int64_t *rows = malloc((n ? n : 1) * sizeof *rows);
    if (!rows)
        return SIEVE_ENOMEM;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (mask[i])
            rows[k++] = (int64_t)i;
    int rc = pv_emit(in, rows, k, out);
    free(rows);
    return rc;
}

int
pv_random(const struct pv_in *in, double keep, uint64_t seed, struct pv_out *out)
{
    memset(out, 0, sizeof *out);
    size_t n = (size_t)(in->t * in->h * in->w);
    uint64_t *key = malloc((n ? n : 1) * sizeof *key);
    uint8_t *mask = calloc(n ? n : 1, 1);
    int rc = SIEVE_ENOMEM;
    if (!key || !mask)
        goto done;
    for (size_t i = 0; i < n; i++)
        key[i] = prune_splitmix64(seed, i);
    if ((rc = prune_select_lowest_u64(key, n, prune_budget(keep, n), mask)) < 0)
        goto done;
    rc = emit_mask(in, mask, n, out);
done:
    free(mask);
    free(key);
    return rc;
}

int
pv_topk(const struct pv_in *in, double keep, struct pv_out *out)
{
    memset(out, 0, sizeof *out);
    size_t n = (size_t)(in->t * in->h * in->w);
    double *key = malloc((n ? n : 1) * sizeof *key);
    uint8_t *mask = calloc(n ? n : 1, 1);
    int rc = SIEVE_ENOMEM;
    if (!key || !mask)
        goto done;
    for (size_t i = 0; i < n; i++)
        key[i] = in->importance ? -(double)in->importance[i] : 0.0;
    if ((rc = prune_select_lowest(key, n, prune_budget(keep, n), mask, NULL)) < 0)
        goto done;
    rc = emit_mask(in, mask, n, out);
done:
    free(mask);
    free(key);
    return rc;
}

void
pv_codec_groups(const uint8_t *frame_type, const float *motion, int64_t frames, int64_t mh,
                int64_t mw, int64_t t, int64_t h, int64_t w, uint8_t *is_key, float *cell_motion)
{
    for (int64_t g = 0; g < t; g++) {
        int64_t f0 = 2 * g, f1 = 2 * g + 1;
        int have0 = f0 < frames, have1 = f1 < frames;
        /* A group with no decoded frame has nothing to compare with: keep it whole. */
        is_key[g] = !have0 || (frame_type[f0] == 'I') || (have1 && frame_type[f1] == 'I');
        for (int64_t y = 0; y < h; y++) {
            for (int64_t x = 0; x < w; x++) {
                int64_t my = y * mh / h, mx = x * mw / w;
                float m = 0.0f;
                if (have0 && motion)
                    m = motion[(f0 * mh + my) * mw + mx];
                if (have1 && motion) {
                    float m1 = motion[(f1 * mh + my) * mw + mx];
                    if (m1 > m || isnan(m1))
                        m = m1;
                }
                cell_motion[(g * h + y) * w + x] = m;
            }
        }
    }
}

/* What the ranges of one codec call share; range `part` counts into kept[part], cand[part]. */
struct codec_job {
    const struct pv_in *in;
    const struct pv_motion *mo;
    double motion_threshold, match_threshold;
    uint8_t *mask;
    double *key;
    const float **ref; /* [p]: the last kept token at each cell */
    double *refn2;     /* [p]: its squared norm */
    size_t *kept, *cand;
};

/*
 * Pass 1 for the cells [lo, hi) of every group, in time order: keyframe groups keep everything
 * and reset the references (each token's norm is computed once, and kept with the reference it
 * becomes); a P/B cell that is static and matches its reference is a drop candidate. `key`
 * holds the negated similarity of every other P/B cell (the order of further drops), NaN for
 * cells that cannot be dropped. A cell's chain of references never leaves the cell, so ranges
 * of cells are independent.
 */
static int
codec_range(void *ctx, size_t part, size_t lo, size_t hi)
{
    const struct codec_job *j = ctx;
    const struct pv_in *in = j->in;
    size_t p = (size_t)(in->h * in->w), c = (size_t)in->c, kept = 0, cand = 0;
    for (int64_t g = 0; g < in->t; g++) {
        const float *xg = in->x + (size_t)g * p * c;
        int keyframe = j->mo->is_key[g] || g == 0;
        for (size_t q = lo; q < hi; q++) {
            size_t i = (size_t)g * p + q;
            if (keyframe) {
                j->ref[q] = xg + q * c;
                j->refn2[q] = prune_norm2(j->ref[q], c);
                j->mask[i] = 1;
                j->key[i] = NAN;
                kept++;
                continue;
            }
            double n2, d = prune_dot_norm2(j->ref[q], xg + q * c, c, &n2);
            double s = prune_cosine_of(d, j->refn2[q], n2);
            if (j->mo->motion[i] < j->motion_threshold && s >= j->match_threshold) {
                j->mask[i] = 0;
                j->key[i] = NAN;
                cand++;
            } else {
                j->ref[q] = xg + q * c;
                j->refn2[q] = n2;
                j->mask[i] = 1;
                j->key[i] = -s;
                kept++;
            }
        }
    }
    j->kept[part] = kept;
    j->cand[part] = cand;
    return 0;
}

int
pv_codec(const struct pv_in *in, const struct pv_motion *mo, double keep, double motion_threshold,
         double match_threshold, struct pv_out *out)
{
    memset(out, 0, sizeof *out);
    size_t p = (size_t)(in->h * in->w), n = (size_t)in->t * p;
    size_t budget = prune_budget(keep, n);
    int rc = SIEVE_ENOMEM;
    uint8_t *mask = malloc(n ? n : 1);
    double *key = malloc((n ? n : 1) * sizeof *key);
    const float **ref = malloc((p ? p : 1) * sizeof *ref);
    double *refn2 = malloc((p ? p : 1) * sizeof *refn2);
    size_t counts[2 * PRUNE_MAX_THREADS] = {0};
    if (!mask || !key || !ref || !refn2)
        goto done;
    struct codec_job job = {in,  mo,    motion_threshold, match_threshold,           mask, key,
                            ref, refn2, counts,           counts + PRUNE_MAX_THREADS};
    prune_parallel(in->threads, p, codec_range, &job);
    size_t kept = 0, candidates = 0;
    for (size_t i = 0; i < PRUNE_MAX_THREADS; i++) {
        kept += job.kept[i];
        candidates += job.cand[i];
    }
    /* Pass 2: over budget, drop the most similar remaining P/B cells first. */
    if (kept > budget) {
        size_t droppable = 0;
        for (size_t i = 0; i < n; i++)
            droppable += !isnan(key[i]);
        size_t extra = kept - budget < droppable ? kept - budget : droppable;
        uint8_t *drop = calloc(n ? n : 1, 1);
        if (!drop)
            goto done;
        rc = prune_select_lowest(key, n, extra, drop, NULL);
        for (size_t i = 0; i < n && rc == 0; i++)
            if (drop[i])
                mask[i] = 0;
        free(drop);
        if (rc < 0)
            goto done;
    }
    rc = emit_mask(in, mask, n, out);
    out->param_b = (double)candidates;
done:
    free(refn2);
    free(ref);
    free(key);
    free(mask);
    return rc;
}
