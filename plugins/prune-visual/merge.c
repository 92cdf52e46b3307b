/*
 * merge.c - the merging methods of prune-visual: uniform average pooling, pixel-shuffle and
 * VisionZip. Their rows are new tokens rather than copies, each placed at a representative
 * cell: the top-left cell of a pooling window or 2x2 block, the target of a VisionZip cluster.
 * The mask marks those representative cells, so sum(mask) == k for every method.
 */
#include "emit.h"
#include "methods.h"
#include "parallel.h"
#include "select.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <sieve/plugin.h>

/*
 * Chooses the pooling window: the largest count ceil(h/sy) * ceil(w/sx) that fits the budget,
 * then the squarest window (|sy - sx| smallest), then the smallest (sy + sx), then smaller sy.
 */
static void
pool_shape(int64_t h, int64_t w, size_t budget, int64_t *sy, int64_t *sx)
{
    int64_t by = h, bx = w, bcnt = 0;
    for (int64_t y = 1; y <= h; y++) {
        for (int64_t x = 1; x <= w; x++) {
            int64_t cnt = ((h + y - 1) / y) * ((w + x - 1) / x);
            if ((size_t)cnt > budget)
                continue;
            int64_t d = llabs(y - x), bd = llabs(by - bx);
            int better =
                cnt > bcnt ||
                (cnt == bcnt &&
                 (d < bd || (d == bd && (y + x < by + bx || (y + x == by + bx && y < by)))));
            if (better) {
                by = y, bx = x, bcnt = cnt;
            }
        }
    }
    *sy = by;
    *sx = bx;
}

/* What the ranges of one pooling or shuffling call share. */
struct merge_job {
    const struct pv_in *in;
    struct pv_out *out;
    int64_t sy, sx, oh, ow; /* window size; windows per column and per row */
    /* Writes output row r from the window whose top-left cell is (t, y0, x0) and returns the
     * mean importance of the cells it merges. */
    float (*window)(const struct merge_job *j, int64_t t, int64_t y0, int64_t x0, size_t r);
};

/* The windows of groups [lo, hi), row by row; group t's rows start at t * oh * ow. Each row
 * stands at its window's top-left cell. */
static int
merge_range(void *ctx, size_t part, size_t lo, size_t hi)
{
    const struct merge_job *j = ctx;
    struct pv_out *out = j->out;
    int64_t h = j->in->h, w = j->in->w;
    (void)part;
    for (int64_t t = (int64_t)lo; t < (int64_t)hi; t++) {
        size_t r = (size_t)(t * j->oh * j->ow);
        for (int64_t oy = 0; oy < j->oh; oy++) {
            for (int64_t ox = 0; ox < j->ow; ox++, r++) {
                int64_t y0 = oy * j->sy, x0 = ox * j->sx;
                out->importance[r] = j->window(j, t, y0, x0, r);
                out->index[3 * r] = (int32_t)t;
                out->index[3 * r + 1] = (int32_t)y0;
                out->index[3 * r + 2] = (int32_t)x0;
                out->mask[(t * h + y0) * w + x0] = 1;
            }
        }
    }
    pv_copy_done();
    return 0;
}

/* Average pooling: the mean of the window's cells (edge windows have fewer). */
static float
pool_window(const struct merge_job *j, int64_t t, int64_t y0, int64_t x0, size_t r)
{
    const struct pv_in *in = j->in;
    int64_t h = in->h, w = in->w;
    int64_t y1 = y0 + j->sy < h ? y0 + j->sy : h, x1 = x0 + j->sx < w ? x0 + j->sx : w;
    size_t c = (size_t)in->c;
    float *dst = j->out->tokens + r * c;
    double imp = 0;
    memset(dst, 0, c * sizeof *dst);
    for (int64_t y = y0; y < y1; y++) {
        for (int64_t x = x0; x < x1; x++) {
            size_t cell = (size_t)((t * h + y) * w + x);
            const float *src = in->x + cell * c;
            for (size_t d = 0; d < c; d++)
                dst[d] += src[d];
            imp += in->importance ? in->importance[cell] : 0.0;
        }
    }
    float cnt = (float)((y1 - y0) * (x1 - x0));
    for (size_t d = 0; d < c; d++)
        dst[d] /= cnt;
    return (float)(imp / cnt);
}

int
pv_uniform(const struct pv_in *in, double keep, struct pv_out *out)
{
    int64_t h = in->h, w = in->w, sy, sx;
    size_t p = (size_t)(h * w), c = (size_t)in->c, n = (size_t)in->t * p;
    pool_shape(h, w, prune_budget(keep, p), &sy, &sx);
    int64_t oh = (h + sy - 1) / sy, ow = (w + sx - 1) / sx;
    int rc = pv_out_alloc(in, out, (size_t)(in->t * oh * ow), c, n);
    if (rc < 0)
        return rc;
    out->param_a = (double)sy;
    out->param_b = (double)sx;
    struct merge_job job = {in, out, sy, sx, oh, ow, pool_window};
    return prune_parallel(in->threads, (size_t)in->t, merge_range, &job);
}

/* Space-to-channel: the 2x2 block's four cells side by side, zeros for cells outside an odd
 * grid (which do not count in the importance mean). */
static float
shuffle_window(const struct merge_job *j, int64_t t, int64_t y0, int64_t x0, size_t r)
{
    const struct pv_in *in = j->in;
    int64_t h = in->h, w = in->w;
    size_t c = (size_t)in->c;
    double imp = 0;
    int cnt = 0;
    for (int q = 0; q < 4; q++) {
        int64_t y = y0 + q / 2, x = x0 + q % 2;
        float *dst = j->out->tokens + (r * 4 + (size_t)q) * c;
        if (y >= h || x >= w) {
            memset(dst, 0, c * sizeof *dst);
            continue;
        }
        size_t cell = (size_t)((t * h + y) * w + x);
        pv_copy_row(dst, in->x + cell * c, c);
        imp += in->importance ? in->importance[cell] : 0.0;
        cnt++;
    }
    return (float)(imp / cnt);
}

int
pv_pixel_shuffle(const struct pv_in *in, struct pv_out *out)
{
    int64_t h = in->h, w = in->w, oh = (h + 1) / 2, ow = (w + 1) / 2;
    size_t c = (size_t)in->c, n = (size_t)(in->t * h * w);
    int rc = pv_out_alloc(in, out, (size_t)(in->t * oh * ow), 4 * c, n);
    if (rc < 0)
        return rc;
    struct merge_job job = {in, out, 2, 2, oh, ow, shuffle_window};
    return prune_parallel(in->threads, (size_t)in->t, merge_range, &job);
}

/* One range's working memory for VisionZip, sized for one group and reused by each. */
struct vz_scratch {
    double *key;      /* [p]: negated importance */
    uint8_t *role;    /* [p]: 1 dominant, 2 target, 3 merged */
    int64_t *rest;    /* [p]: the cells that are not dominant, in order */
    int64_t *targets; /* [ctx] */
    int64_t *others;  /* [p] */
    int64_t *assign;  /* [p]: target of each other cell */
    float *raw;       /* [p][c]: the other cells' tokens, copied */
    double *n2;       /* [p]: their squared norms */
    float *tn;        /* [ctx][c]: unit targets */
    double *tn2;      /* [ctx]: the targets' squared norms */
    float *s;         /* [p][ctx]: raw . unit target */
    double *acc;      /* [ctx][c]: cluster sums */
    double *imp;      /* [ctx]: cluster importance sums */
    size_t *members;  /* [ctx] */
};

static void
vz_scratch_free(struct vz_scratch *z)
{
    free(z->key);
    free(z->role);
    free(z->rest);
    free(z->targets);
    free(z->others);
    free(z->assign);
    free(z->raw);
    free(z->n2);
    free(z->tn);
    free(z->tn2);
    free(z->s);
    free(z->acc);
    free(z->imp);
    free(z->members);
}

/* `c` is the wider of the token and key widths: raw and tn hold either. */
static int
vz_scratch_alloc(struct vz_scratch *z, size_t p, size_t c, size_t ctx)
{
    size_t pp = p ? p : 1, cc = ctx ? ctx : 1, c1 = c ? c : 1;
    memset(z, 0, sizeof *z);
    z->key = malloc(pp * sizeof *z->key);
    z->role = malloc(pp);
    z->rest = malloc(pp * sizeof *z->rest);
    z->targets = malloc(cc * sizeof *z->targets);
    z->others = malloc(pp * sizeof *z->others);
    z->assign = malloc(pp * sizeof *z->assign);
    z->raw = malloc(pp * c1 * sizeof *z->raw);
    z->n2 = malloc(pp * sizeof *z->n2);
    z->tn = malloc(cc * c1 * sizeof *z->tn);
    z->tn2 = malloc(cc * sizeof *z->tn2);
    z->s = malloc(pp * cc * sizeof *z->s);
    z->acc = malloc(cc * c1 * sizeof *z->acc);
    z->imp = malloc(cc * sizeof *z->imp);
    z->members = malloc(cc * sizeof *z->members);
    if (!z->key || !z->role || !z->rest || !z->targets || !z->others || !z->assign || !z->raw ||
        !z->n2 || !z->tn || !z->tn2 || !z->s || !z->acc || !z->imp || !z->members) {
        vz_scratch_free(z);
        return SIEVE_ENOMEM;
    }
    return 0;
}

/*
 * Assigns each of the nu other tokens (already copied to z->raw, squared norms in z->n2) to its
 * most cosine-similar target (ties: the earlier target). A float GEMM of the raw rows with the
 * unit targets gives |u| cos(u, v) for every pair: the same order as the cosine within a row.
 * The winner among the targets within 1e-3 |u| of the row's float maximum is then decided by
 * the exact double-precision cosine, so the result is the one a double computation gives (the
 * GEMM error is ~1e-6 |u|). Almost always a single target is that close and no exact cosine is
 * needed. Rows where the cosine's 1e-8 floor could bite (|u| |v| below 2e-8 for a non-zero
 * target) or whose values are not finite go to the exact cosine for every target.
 */
static void
assign_targets(const float *x, size_t c, struct vz_scratch *z, size_t nu, size_t nv)
{
    double tmin = INFINITY; /* the smallest non-zero target norm */
    for (size_t j = 0; j < nv; j++) {
        const float *src = x + (size_t)z->targets[j] * c;
        z->tn2[j] = prune_norm2(src, c);
        double norm = sqrt(z->tn2[j]);
        float scale = norm > 0 ? (float)(1.0 / norm) : 0.0f;
        for (size_t d = 0; d < c; d++)
            z->tn[j * c + d] = src[d] * scale;
        if (norm > 0 && norm < tmin)
            tmin = norm;
    }
    if (nu && nv)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nu, (int)nv, (int)c, 1.0f, z->raw,
                    (int)c, z->tn, (int)c, 0.0f, z->s, (int)nv);
    for (size_t i = 0; i < nu; i++) {
        const float *row = z->s + i * nv;
        double unorm = sqrt(z->n2[i]);
        float m = row[0];
        for (size_t j = 1; j < nv; j++)
            if (row[j] > m)
                m = row[j];
        int every = !isfinite(m) || !isfinite(unorm) || (unorm > 0 && unorm * tmin < 2e-8);
        float cut = m - (float)(1e-3 * unorm);
        size_t best = 0, near = 0;
        for (size_t j = 0; j < nv && !every; j++)
            if (row[j] >= cut)
                best = j, near++;
        if (near == 1) {
            z->assign[i] = (int64_t)best; /* a single candidate wins whatever its exact value */
            continue;
        }
        double bestv = -INFINITY;
        const float *xu = z->raw + i * c;
        best = 0;
        for (size_t j = 0; j < nv; j++) {
            if (!every && !(row[j] >= cut))
                continue;
            double cs = prune_cosine_of(prune_dot(xu, x + (size_t)z->targets[j] * c, c), z->n2[i],
                                        z->tn2[j]);
            if (cs > bestv) {
                bestv = cs;
                best = j;
            }
        }
        z->assign[i] = (int64_t)best;
    }
}

/* What the ranges of one VisionZip call share. */
struct vz_job {
    const struct pv_in *in;
    struct pv_out *out;
    size_t dom, ctx;
    int official_order; /* dominant rows first, then the contextual ones */
    const float *keys;  /* [t][p][kc] similarity metric, or NULL for the tokens */
    size_t kc;
};

/* One group of VisionZip; its rows are written at out positions [t * (dom + ctx), ...) in cell
 * order. */
static int
visionzip_group(const struct vz_job *jb, struct vz_scratch *z, int64_t t)
{
    const struct pv_in *in = jb->in;
    struct pv_out *out = jb->out;
    size_t p = (size_t)(in->h * in->w), c = (size_t)in->c, base = (size_t)t * p;
    size_t dom = jb->dom, ctx = jb->ctx, r = (size_t)t * (dom + ctx);
    /* The similarity metric: the attention keys when encode wrote them, else the tokens. */
    const float *metric = jb->keys ? jb->keys : in->x;
    size_t mc = jb->keys ? jb->kc : c;
    int rc;
    memset(z->role, 0, p);
    for (size_t q = 0; q < p; q++)
        z->key[q] = in->importance ? -(double)in->importance[base + q] : 0.0;
    if ((rc = prune_select_lowest(z->key, p, dom, z->role, NULL)) < 0)
        return rc;
    size_t nr = 0, nt = 0, no = 0;
    for (size_t q = 0; q < p; q++)
        if (!z->role[q])
            z->rest[nr++] = (int64_t)(base + q);
    if (ctx > 0) {
        size_t step = nr / ctx > 1 ? nr / ctx : 1;
        for (size_t i = 0; i < nr; i++) {
            size_t q = (size_t)z->rest[i] - base;
            if (i % step == 0 && nt < ctx) {
                z->targets[nt++] = z->rest[i];
                z->role[q] = 2;
            } else {
                /* Copy the metric row now: the GEMM (and, without keys, the cluster sums)
                 * then read it from cache. */
                const float *src = metric + (size_t)z->rest[i] * mc;
                z->n2[no] = prune_copy_norm2(z->raw + no * mc, src, mc);
                z->others[no++] = z->rest[i];
                z->role[q] = 3;
            }
        }
        assign_targets(metric, mc, z, no, nt);
        memset(z->acc, 0, nt * c * sizeof *z->acc);
        memset(z->imp, 0, nt * sizeof *z->imp);
        memset(z->members, 0, nt * sizeof *z->members);
        for (size_t i = 0; i < no; i++) {
            size_t j = (size_t)z->assign[i];
            prune_add_f64(z->acc + j * c,
                          jb->keys ? in->x + (size_t)z->others[i] * c : z->raw + i * c, c);
            z->imp[j] += in->importance ? in->importance[z->others[i]] : 0.0;
            z->members[j]++;
        }
    }
    /* Cell order (one pass over both roles), or the official order: the dominant cells
     * (role 1), then the targets (role 2). Targets are numbered in cell order either way. */
    const uint8_t both[] = {0}, official[] = {1, 2};
    const uint8_t *passes = jb->official_order ? official : both;
    size_t n_pass = jb->official_order ? 2 : 1, ti = 0;
    for (size_t ps = 0; ps < n_pass; ps++) {
        for (size_t q = 0; q < p; q++) {
            uint8_t role = z->role[q];
            if ((role != 1 && role != 2) || (passes[ps] && role != passes[ps]))
                continue;
            size_t cell = base + q;
            float *dst = out->tokens + r * c;
            const float *src = in->x + cell * c;
            float own = in->importance ? in->importance[cell] : 0.0f;
            if (role == 2 && z->members[ti] > 0) {
                double m = (double)z->members[ti];
                for (size_t d = 0; d < c; d++)
                    dst[d] = src[d] + (float)(z->acc[ti * c + d] / m);
                out->importance[r] = (float)((own + z->imp[ti]) / (m + 1));
            } else {
                pv_copy_row(dst, src, c);
                out->importance[r] = own;
            }
            ti += role == 2;
            out->index[3 * r] = (int32_t)t;
            out->index[3 * r + 1] = (int32_t)(q / (size_t)in->w);
            out->index[3 * r + 2] = (int32_t)(q % (size_t)in->w);
            out->mask[cell] = 1;
            r++;
        }
    }
    /* dom + ctx rows per group: ctx <= rest, and the stride picks at least ctx targets. */
    return r == (size_t)(t + 1) * (dom + ctx) ? 0 : SIEVE_EINTERNAL;
}

/* VisionZip for groups [lo, hi), with one scratch for the range. */
static int
visionzip_range(void *ctx, size_t part, size_t lo, size_t hi)
{
    const struct vz_job *jb = ctx;
    struct vz_scratch z;
    (void)part;
    size_t width = (size_t)jb->in->c;
    if (jb->keys && jb->kc > width)
        width = jb->kc;
    int rc = vz_scratch_alloc(&z, (size_t)(jb->in->h * jb->in->w), width, jb->ctx);
    for (size_t t = lo; t < hi && rc == 0; t++)
        rc = visionzip_group(jb, &z, (int64_t)t);
    pv_copy_done();
    vz_scratch_free(&z); /* a failed allocation left it zeroed */
    return rc;
}

static int
visionzip_run(const struct pv_in *in, const float *keys, int64_t kc, size_t dom, size_t ctx,
              int official_order, struct pv_out *out)
{
    size_t p = (size_t)(in->h * in->w), c = (size_t)in->c, n = (size_t)in->t * p;
    int rc = pv_out_alloc(in, out, (size_t)in->t * (dom + ctx), c, n);
    if (rc < 0)
        return rc;
    out->param_a = (double)dom;
    out->param_b = (double)ctx;
    if (p == 0)
        return 0;
    /* Parallelism is over groups (in->threads); each GEMM runs on its caller's thread. */
    openblas_set_num_threads(1);
    struct vz_job job = {in, out, dom, ctx, official_order, keys, keys ? (size_t)kc : 0};
    if ((rc = prune_parallel(in->threads, (size_t)in->t, visionzip_range, &job)) < 0)
        pv_out_release(out);
    return rc;
}

int
pv_visionzip_keys(const struct pv_in *in, const float *keys, int64_t kc, double keep,
                  double dominant_ratio, struct pv_out *out)
{
    size_t p = (size_t)(in->h * in->w);
    size_t budget = prune_budget(keep, p);
    double want = (double)budget * dominant_ratio;
    size_t dom = want >= (double)budget ? budget : want > 0 ? (size_t)want : 0;
    return visionzip_run(in, keys, kc, dom, budget - dom, 0, out);
}

int
pv_visionzip(const struct pv_in *in, double keep, double dominant_ratio, struct pv_out *out)
{
    return pv_visionzip_keys(in, NULL, 0, keep, dominant_ratio, out);
}

int
pv_visionzip_official(const struct pv_in *in, const float *keys, int64_t kc, int64_t dominant,
                      int64_t contextual, struct pv_out *out)
{
    size_t p = (size_t)(in->h * in->w);
    /* The official budget counts CLS among the dominant tokens: 54 = CLS + 53 patches. */
    size_t dom = dominant > 1 ? (size_t)(dominant - 1) : 0;
    dom = dom < p ? dom : p;
    size_t ctx = contextual > 0 ? (size_t)contextual : 0;
    ctx = ctx < p - dom ? ctx : p - dom;
    return visionzip_run(in, keys, kc, dom, ctx, 1, out);
}
