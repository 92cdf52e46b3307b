/*
 * merge.c - the merging methods of prune-visual: uniform average pooling, pixel-shuffle and
 * VisionZip. Their rows are new tokens rather than copies, each placed at a representative
 * cell: the top-left cell of a pooling window or 2x2 block, the target of a VisionZip cluster.
 * The mask marks those representative cells, so sum(mask) == k for every method.
 */
#include "emit.h"
#include "methods.h"
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
    size_t r = 0;
    for (int64_t t = 0; t < in->t; t++) {
        for (int64_t oy = 0; oy < oh; oy++) {
            for (int64_t ox = 0; ox < ow; ox++, r++) {
                int64_t y0 = oy * sy, x0 = ox * sx;
                int64_t y1 = y0 + sy < h ? y0 + sy : h, x1 = x0 + sx < w ? x0 + sx : w;
                float *dst = out->tokens + r * c;
                double imp = 0;
                memset(dst, 0, c * sizeof *dst);
                for (int64_t y = y0; y < y1; y++) {
                    for (int64_t x = x0; x < x1; x++) {
                        size_t cell = (size_t)((t * h + y) * w + x);
                        const float *src = in->x + cell * c;
                        for (size_t j = 0; j < c; j++)
                            dst[j] += src[j];
                        imp += in->importance ? in->importance[cell] : 0.0;
                    }
                }
                float cnt = (float)((y1 - y0) * (x1 - x0));
                for (size_t j = 0; j < c; j++)
                    dst[j] /= cnt;
                out->importance[r] = (float)(imp / cnt);
                out->index[3 * r] = (int32_t)t;
                out->index[3 * r + 1] = (int32_t)y0;
                out->index[3 * r + 2] = (int32_t)x0;
                out->mask[(t * h + y0) * w + x0] = 1;
            }
        }
    }
    return 0;
}

int
pv_pixel_shuffle(const struct pv_in *in, struct pv_out *out)
{
    int64_t h = in->h, w = in->w, oh = (h + 1) / 2, ow = (w + 1) / 2;
    size_t c = (size_t)in->c, n = (size_t)(in->t * h * w);
    int rc = pv_out_alloc(in, out, (size_t)(in->t * oh * ow), 4 * c, n);
    if (rc < 0)
        return rc;
    size_t r = 0;
    for (int64_t t = 0; t < in->t; t++) {
        for (int64_t oy = 0; oy < oh; oy++) {
            for (int64_t ox = 0; ox < ow; ox++, r++) {
                double imp = 0;
                int cnt = 0;
                for (int q = 0; q < 4; q++) {
                    int64_t y = 2 * oy + q / 2, x = 2 * ox + q % 2;
                    float *dst = out->tokens + (r * 4 + (size_t)q) * c;
                    if (y >= h || x >= w) {
                        memset(dst, 0, c * sizeof *dst);
                        continue;
                    }
                    size_t cell = (size_t)((t * h + y) * w + x);
                    pv_copy_row(dst, in->x + cell * c, c);
                    imp += in->importance ? in->importance[cell] : 0.0;
                    cnt++;
                }
                out->importance[r] = (float)(imp / cnt);
                out->index[3 * r] = (int32_t)t;
                out->index[3 * r + 1] = (int32_t)(2 * oy);
                out->index[3 * r + 2] = (int32_t)(2 * ox);
                out->mask[(t * h + 2 * oy) * w + 2 * ox] = 1;
            }
        }
    }
    pv_copy_done();
    return 0;
}

/*
 * Assigns each of the nu tokens u[] to its most cosine-similar target v[] (ties: the earlier
 * target). A float GEMM over unit vectors finds the near-best targets fast; the winner among
 * those within 1e-3 of the float maximum is then decided by the exact double-precision cosine,
 * so the result is the one a double computation gives (the GEMM error is ~1e-6). Almost
 * always one target is that close and no exact cosine is needed; the norms from the
 * normalisation are reused when one is.
 */
static int
assign_targets(const float *x, size_t c, const int64_t *u, size_t nu, const int64_t *v, size_t nv,
               int64_t *assign)
{
    float *un = malloc(((nu * c) + ((nu * c) == 0)) * sizeof *un);
    float *vn = malloc(((nv * c) + ((nv * c) == 0)) * sizeof *vn);
    float *s = malloc(((nu * nv) + ((nu * nv) == 0)) * sizeof *s);
    double *n2 = malloc((nu + nv + 1) * sizeof *n2); /* squared norms: u's, then v's */
    if (!un || !vn || !s || !n2) {
        free(un);
        free(vn);
        free(s);
        free(n2);
        return SIEVE_ENOMEM;
    }
    const int64_t *ids[2] = {u, v};
    float *dst[2] = {un, vn};
    size_t cnt[2] = {nu, nv};
    double *sq[2] = {n2, n2 + nu};
    for (int side = 0; side < 2; side++) {
        for (size_t i = 0; i < cnt[side]; i++) {
            const float *src = x + (size_t)ids[side][i] * c;
            sq[side][i] = prune_norm2(src, c);
            double norm = sqrt(sq[side][i]);
            float scale = norm > 0 ? (float)(1.0 / norm) : 0.0f;
            for (size_t j = 0; j < c; j++)
                dst[side][i * c + j] = src[j] * scale;
        }
    }
    if (nu && nv)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nu, (int)nv, (int)c, 1.0f, un,
                    (int)c, vn, (int)c, 0.0f, s, (int)nv);
    for (size_t i = 0; i < nu; i++) {
        const float *row = s + i * nv;
        float m = row[0];
        for (size_t j = 1; j < nv; j++)
            if (row[j] > m)
                m = row[j];
        size_t best = 0, near = 0;
        for (size_t j = 0; j < nv; j++)
            if (row[j] >= m - 1e-3f)
                best = j, near++;
        if (near == 1) {
            assign[i] = (int64_t)best; /* a single candidate wins whatever its exact value */
            continue;
        }
        double bestv = -INFINITY;
        const float *xu = x + (size_t)u[i] * c;
        for (size_t j = 0; j < nv; j++) {
            if (!(row[j] >= m - 1e-3f))
                continue;
            double cs = prune_cosine_of(prune_dot(xu, x + (size_t)v[j] * c, c), sq[0][i], sq[1][j]);
            if (cs > bestv) {
                bestv = cs;
                best = j;
            }
        }
        assign[i] = (int64_t)best;
    }
    free(un);
    free(vn);
    free(s);
    free(n2);
    return 0;
}

/* One group of VisionZip; rows are written at out positions [*r, ...) in cell order. */
static int
visionzip_group(const struct pv_in *in, int64_t t, size_t dom, size_t ctx, struct pv_out *out,
                size_t *r)
{
    size_t p = (size_t)(in->h * in->w), c = (size_t)in->c, base = (size_t)t * p;
    int rc = SIEVE_ENOMEM;
    double *key = malloc(p * sizeof *key);
    uint8_t *role = calloc(p, 1); /* 1 dominant, 2 target, 3 merged */
    int64_t *rest = malloc(p * sizeof *rest), *targets = malloc(p * sizeof *targets);
    int64_t *others = malloc(p * sizeof *others), *assign = malloc(p * sizeof *assign);
    double *acc = calloc((ctx ? ctx : 1) * c, sizeof *acc);
    double *imp = calloc(ctx ? ctx : 1, sizeof *imp);
    size_t *members = calloc(ctx ? ctx : 1, sizeof *members);
    if (!key || !role || !rest || !targets || !others || !assign || !acc || !imp || !members)
        goto done;
    for (size_t q = 0; q < p; q++)
        key[q] = in->importance ? -(double)in->importance[base + q] : 0.0;
    if ((rc = prune_select_lowest(key, p, dom, role, NULL)) < 0)
        goto done;
    size_t nr = 0, nt = 0, no = 0;
    for (size_t q = 0; q < p; q++)
        if (!role[q])
            rest[nr++] = (int64_t)(base + q);
    if (ctx > 0) {
        size_t step = nr / ctx > 1 ? nr / ctx : 1;
        for (size_t i = 0; i < nr; i++) {
            if (i % step == 0 && nt < ctx) {
                targets[nt++] = rest[i];
                role[(size_t)rest[i] - base] = 2;
            } else {
                others[no++] = rest[i];
                role[(size_t)rest[i] - base] = 3;
            }
        }
        if ((rc = assign_targets(in->x, c, others, no, targets, nt, assign)) < 0)
            goto done;
        for (size_t i = 0; i < no; i++) {
            size_t j = (size_t)assign[i];
            const float *src = in->x + (size_t)others[i] * c;
            prune_add_f64(acc + j * c, src, c);
            imp[j] += in->importance ? in->importance[others[i]] : 0.0;
            members[j]++;
        }
    }
    size_t ti = 0;
    for (size_t q = 0; q < p; q++) {
        if (role[q] != 1 && role[q] != 2)
            continue;
        size_t cell = base + q;
        float *dst = out->tokens + *r * c;
        const float *src = in->x + cell * c;
        float own = in->importance ? in->importance[cell] : 0.0f;
        if (role[q] == 2 && members[ti] > 0) {
            double m = (double)members[ti];
            for (size_t d = 0; d < c; d++)
                dst[d] = src[d] + (float)(acc[ti * c + d] / m);
            out->importance[*r] = (float)((own + imp[ti]) / (m + 1));
        } else {
            memcpy(dst, src, c * sizeof *dst);
            out->importance[*r] = own;
        }
        ti += role[q] == 2;
        out->index[3 * *r] = (int32_t)t;
        out->index[3 * *r + 1] = (int32_t)(q / (size_t)in->w);
        out->index[3 * *r + 2] = (int32_t)(q % (size_t)in->w);
        out->mask[cell] = 1;
        (*r)++;
    }
    rc = 0;
done:
    free(members);
    free(imp);
    free(acc);
    free(assign);
    free(others);
    free(targets);
    free(rest);
    free(role);
    free(key);
    return rc;
}

int
pv_visionzip(const struct pv_in *in, double keep, double dominant_ratio, struct pv_out *out)
{
    size_t p = (size_t)(in->h * in->w), c = (size_t)in->c, n = (size_t)in->t * p;
    size_t budget = prune_budget(keep, p);
    double want = (double)budget * dominant_ratio;
    size_t dom = want >= (double)budget ? budget : want > 0 ? (size_t)want : 0;
    size_t ctx = budget - dom;
    int rc = pv_out_alloc(in, out, (size_t)in->t * budget, c, n);
    if (rc < 0)
        return rc;
    out->param_a = (double)dom;
    out->param_b = (double)ctx;
    size_t r = 0;
    for (int64_t t = 0; t < in->t && p > 0; t++) {
        if ((rc = visionzip_group(in, t, dom, ctx, out, &r)) < 0) {
            pv_out_release(out);
            return rc;
        }
    }
    return 0;
}
