/*
 * omnizip.c - OmniZip's audio anchors, window budgets and ISTC (see omnizip.h).
 *
 * Every ranking here sorts (key, index) pairs so that equal keys keep index order; keys are
 * rounded to float32 first, because the official code ranks float tensors and values that a
 * double separates by less than a float ulp are equal there.
 */
#include "omnizip.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <sieve/plugin.h>

/* DPC-KNN neighbours: a constant (k=5) in the official code. */
#define OMNIZIP_KNN 5

void
omnizip_params_default(struct omnizip_params *p)
{
    p->rho_audio = 0.3;
    p->rho_video = 0.6;
    p->contextual_ratio = 0.05;
    p->rho_min = 0.35;
    p->rho_max = 0.75;
    p->g = 3;
}

int64_t
omnizip_round(double x)
{
    double r = floor(x), d = x - r;
    if (d > 0.5 || (d == 0.5 && fmod(r, 2.0) != 0.0))
        r += 1.0;
    return (int64_t)r;
}

struct keyed {
    double key;
    int64_t idx;
};

static int
desc_cmp(const void *pa, const void *pb)
{
    const struct keyed *a = pa, *b = pb;
    if (a->key != b->key)
        return a->key > b->key ? -1 : 1;
    return a->idx < b->idx ? -1 : a->idx > b->idx;
}

static int
asc_cmp(const void *pa, const void *pb)
{
    const struct keyed *a = pa, *b = pb;
    if (a->key != b->key)
        return a->key < b->key ? -1 : 1;
    return a->idx < b->idx ? -1 : a->idx > b->idx;
}

/* Sorts v[0..n) by key (descending when `desc`), equal keys in index order. */
static void
rank_keys(struct keyed *v, int64_t n, int desc)
{
    if (n > 1)
        qsort(v, (size_t)n, sizeof *v, desc ? desc_cmp : asc_cmp);
}

static double
f32(double x)
{
    return (double)(float)x;
}

static double
dot(const float *a, const float *b, int64_t c)
{
    double s = 0;
    for (int64_t k = 0; k < c; k++)
        s += (double)a[k] * b[k];
    return s;
}

/* Scales each row by 1 / (|row| + eps) (eps 1e-6 in the audio step) or 1 / max(|row|, eps)
 * (F.normalize, eps 1e-12, when `clamp`). */
static void
normalise(const float *x, int64_t n, int64_t c, double eps, int clamp, double *out)
{
    for (int64_t i = 0; i < n; i++) {
        double nn = sqrt(dot(x + i * c, x + i * c, c));
        double den = clamp ? (nn > eps ? nn : eps) : nn + eps;
        for (int64_t k = 0; k < c; k++)
            out[i * c + k] = x[i * c + k] / den;
    }
}

static double
ddot(const double *a, const double *b, int64_t c)
{
    double s = 0;
    for (int64_t k = 0; k < c; k++)
        s += a[k] * b[k];
    return s;
}

/* The candidates' cross-modal scores: the best cosine with any video token (or, without
 * video, with any anchor). */
static void
cross_scores(const double *an, const int64_t *pool, int64_t np, const double *vn, int64_t nv,
             const int64_t *anchors, int64_t n_anchor, int64_t c, double *score)
{
    for (int64_t i = 0; i < np; i++) {
        const double *q = an + pool[i] * c;
        double best = -INFINITY;
        if (nv > 0) {
            for (int64_t j = 0; j < nv; j++) {
                double d = ddot(q, vn + j * c, c);
                best = d > best ? d : best;
            }
        } else {
            for (int64_t j = 0; j < n_anchor; j++) {
                double d = ddot(q, an + anchors[j] * c, c);
                best = d > best ? d : best;
            }
        }
        score[i] = f32(best);
    }
}

int64_t
omnizip_audio(const struct omnizip_params *p, const float *a, const float *imp, int64_t na,
              const float *v, int64_t nv, int64_t c, unsigned char *keep, float *out)
{
    int64_t kept = 0, n_dom, n_ctx, nr = 0;
    struct keyed *r = NULL;
    int64_t *rest = NULL, *anchors = NULL, *pool = NULL, *assign = NULL;
    double *an = NULL, *vn = NULL, *score = NULL;
    unsigned char *is_anchor_pos = NULL;

    memset(keep, 0, (size_t)na);
    if (na > 0)
        memcpy(out, a, (size_t)(na * c) * sizeof *out);
    if (na == 0)
        return 0;
    r = malloc((size_t)na * sizeof *r);
    rest = malloc((size_t)na * sizeof *rest);
    if (!r || !rest)
        goto nomem;
    /* Dominant tokens: round((1 - rho_a) * N) by importance, over the whole clip. */
    n_dom = omnizip_round((1.0 - p->rho_audio) * (double)na);
    n_dom = n_dom < 0 ? 0 : n_dom > na ? na : n_dom;
    for (int64_t i = 0; i < na; i++) {
        r[i].key = imp[i];
        r[i].idx = i;
    }
    rank_keys(r, na, 1);
    for (int64_t i = 0; i < n_dom; i++)
        keep[r[i].idx] = 1;
    for (int64_t i = 0; i < na; i++)
        if (!keep[i])
            rest[nr++] = i;
    n_ctx = omnizip_round(p->contextual_ratio * (double)na);
    if (nr == 0 || n_ctx <= 0 || p->g <= 0)
        goto done;
    /* Anchors: a uniform stride over the remaining tokens, in index order. */
    n_ctx = n_ctx < nr ? n_ctx : nr;
    int64_t step = nr / n_ctx > 1 ? nr / n_ctx : 1, n_anchor = 0, np = 0;
    anchors = malloc((size_t)n_ctx * sizeof *anchors);
    pool = malloc((size_t)nr * sizeof *pool);
    is_anchor_pos = calloc((size_t)nr, 1);
    if (!anchors || !pool || !is_anchor_pos)
        goto nomem;
    for (int64_t pos = 0; pos < nr && n_anchor < n_ctx; pos += step) {
        anchors[n_anchor++] = rest[pos];
        is_anchor_pos[pos] = 1;
        keep[rest[pos]] = 1;
    }
    for (int64_t pos = 0; pos < nr; pos++)
        if (!is_anchor_pos[pos])
            pool[np++] = rest[pos];
    if (np == 0)
        goto done;
    /* Each candidate joins its most similar anchor (the first of equals, as argmax). */
    an = malloc((size_t)(na * c) * sizeof *an);
    vn = nv > 0 ? malloc((size_t)(nv * c) * sizeof *vn) : NULL;
    assign = malloc((size_t)np * sizeof *assign);
    score = malloc((size_t)np * sizeof *score);
    if (!an || (nv > 0 && !vn) || !assign || !score)
        goto nomem;
    normalise(a, na, c, 1e-6, 0, an);
    if (nv > 0)
        normalise(v, nv, c, 1e-6, 0, vn);
    for (int64_t i = 0; i < np; i++) {
        double best = -INFINITY;
        assign[i] = 0;
        for (int64_t j = 0; j < n_anchor; j++) {
            double d = f32(ddot(an + pool[i] * c, an + anchors[j] * c, c));
            if (d > best) {
                best = d;
                assign[i] = j;
            }
        }
    }
    cross_scores(an, pool, np, vn, nv, anchors, n_anchor, c, score);
    /* Each anchor absorbs its g best candidates by that score, softmax-weighted. */
    for (int64_t j = 0; j < n_anchor; j++) {
        int64_t m = 0;
        for (int64_t i = 0; i < np; i++)
            if (assign[i] == j) {
                r[m].key = score[i];
                r[m].idx = i;
                m++;
            }
        if (m == 0)
            continue;
        rank_keys(r, m, 1);
        m = m < p->g ? m : p->g;
        /* Without video the merge weights use the cosine with this anchor instead. */
        double mx = -INFINITY, wsum = 0;
        for (int64_t s = 0; s < m; s++) {
            double k = nv > 0 ? score[r[s].idx]
                              : f32(ddot(an + pool[r[s].idx] * c, an + anchors[j] * c, c));
            r[s].key = k;
            mx = k > mx ? k : mx;
        }
        for (int64_t s = 0; s < m; s++) {
            r[s].key = exp(r[s].key - mx);
            wsum += r[s].key;
        }
        float *o = out + anchors[j] * c;
        double tot = 0;
        for (int64_t s = 0; s < m; s++)
            tot += r[s].key / wsum;
        for (int64_t k = 0; k < c; k++) {
            double acc = a[anchors[j] * c + k];
            for (int64_t s = 0; s < m; s++)
                acc += r[s].key / wsum * a[pool[r[s].idx] * c + k];
            o[k] = (float)(acc / (1.0 + tot));
        }
    }
done:
    for (int64_t i = 0; i < na; i++)
        kept += keep[i];
    goto out;
nomem:
    kept = SIEVE_ENOMEM;
out:
    free(score);
    free(assign);
    free(vn);
    free(an);
    free(is_anchor_pos);
    free(pool);
    free(anchors);
    free(rest);
    free(r);
    return kept;
}

static double
clamp_ratio(const struct omnizip_params *p, double x)
{
    /* max(min_ratio, min(max_ratio, x)), in that order (a NaN stays out of neither). */
    double y = x < p->rho_max ? x : p->rho_max;
    return p->rho_min > y ? p->rho_min : y;
}

void
omnizip_ratios(const struct omnizip_params *p, int n_guided, const double *retention,
               const int64_t *size, int64_t unguided, int64_t n_video, double *ratio)
{
    int64_t guided = 0;
    double base_discard = 0;
    for (int i = 0; i < n_guided; i++) {
        ratio[i] = clamp_ratio(p, p->rho_max + (p->rho_min - p->rho_max) * retention[i]);
        guided += size[i];
    }
    double target = p->rho_video * (double)n_video - p->rho_video * (double)unguided;
    /* With two windows or fewer the audio-set ratios stand as they are. */
    if (n_guided <= 2 || guided <= 0)
        return;
    for (int i = 0; i < n_guided; i++)
        base_discard += ratio[i] * (double)size[i];
    if (!(fabs(base_discard - target) > 1e-3 && base_discard > 0))
        return;
    /* The first window with the smallest ratio and the first with the largest stay fixed
     * (Python's list.index); when all are equal that is one window, counted twice below. */
    int imin = 0, imax = 0;
    for (int i = 1; i < n_guided; i++) {
        if (ratio[i] < ratio[imin])
            imin = i;
        if (ratio[i] > ratio[imax])
            imax = i;
    }
    double other_discard = 0;
    int64_t other_size = 0;
    int n_other = 0;
    for (int i = 0; i < n_guided; i++)
        if (i != imin && i != imax) {
            other_discard += ratio[i] * (double)size[i];
            other_size += size[i];
            n_other++;
        }
    if (n_other == 0 || !(other_discard > 0))
        return;
    double fixed = ratio[imin] * (double)size[imin] + ratio[imax] * (double)size[imax];
    double scaling = (target - fixed) / other_discard;
    for (int i = 0; i < n_guided; i++)
        if (i != imin && i != imax)
            ratio[i] = clamp_ratio(p, ratio[i] * scaling);
    double actual = 0;
    for (int i = 0; i < n_guided; i++)
        actual += ratio[i] * (double)size[i];
    double diff = target - actual;
    if (!(fabs(diff) > 1e-3) || other_size <= 0)
        return;
    double per_token = diff / (double)other_size;
    for (int i = 0; i < n_guided; i++)
        if (i != imin && i != imax)
            ratio[i] = clamp_ratio(p, ratio[i] + per_token);
}

/*
 * DPC-KNN over one frame's n tokens: density rho_i = exp(-mean of the k smallest cosine
 * distances), delta_i = the smallest distance to a denser token (the largest distance for
 * the densest), score rho * delta; keeps the n_keep best.
 */
static int
dpcknn(const float *x, int64_t n, int64_t c, int64_t n_keep, unsigned char *keep)
{
    int64_t k = OMNIZIP_KNN < n - 1 ? OMNIZIP_KNN : n - 1;
    double *xn = malloc((size_t)(n * c) * sizeof *xn);
    double *dist = malloc((size_t)(n * n) * sizeof *dist);
    double *rho = malloc((size_t)n * sizeof *rho), *row = malloc((size_t)n * sizeof *row);
    struct keyed *r = malloc((size_t)n * sizeof *r);
    int rc = SIEVE_ENOMEM;
    if (!xn || !dist || !rho || !row || !r)
        goto out;
    normalise(x, n, c, 1e-12, 1, xn);
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++)
            dist[i * n + j] = i == j ? INFINITY : f32(1.0 - ddot(xn + i * c, xn + j * c, c));
    for (int64_t i = 0; i < n; i++) {
        double s = 0;
        memcpy(row, dist + i * n, (size_t)n * sizeof *row);
        /* The k smallest by partial selection; n is a frame (hundreds of tokens). */
        for (int64_t q = 0; q < k; q++) {
            int64_t m = q;
            for (int64_t j = q + 1; j < n; j++)
                if (row[j] < row[m])
                    m = j;
            double t = row[q];
            row[q] = row[m];
            row[m] = t;
            s += row[q];
        }
        rho[i] = f32(exp(-(k > 0 ? s / (double)k : NAN)));
    }
    for (int64_t i = 0; i < n; i++) {
        double delta = INFINITY, far = 0;
        for (int64_t j = 0; j < n; j++) {
            if (j == i)
                continue;
            if (rho[j] > rho[i] && dist[i * n + j] < delta)
                delta = dist[i * n + j];
            far = dist[i * n + j] > far ? dist[i * n + j] : far;
        }
        if (isinf(delta))
            delta = far;
        r[i].key = f32(delta * rho[i]);
        r[i].idx = i;
    }
    rank_keys(r, n, 1);
    for (int64_t i = 0; i < n_keep && i < n; i++)
        keep[r[i].idx] = 1;
    rc = 0;
out:
    free(xn);
    free(dist);
    free(rho);
    free(row);
    free(r);
    return rc;
}

/* The n_keep tokens of frame `cur` least similar (cosine) to the same position in `prev`. */
static int
temporal(const float *prev, const float *cur, int64_t n, int64_t c, int64_t n_keep,
         unsigned char *keep)
{
    struct keyed *r = malloc((size_t)n * sizeof *r);
    if (!r)
        return SIEVE_ENOMEM;
    for (int64_t i = 0; i < n; i++) {
        const float *a = cur + i * c, *b = prev + i * c;
        double na = sqrt(dot(a, a, c)), nb = sqrt(dot(b, b, c));
        na = na > 1e-12 ? na : 1e-12;
        nb = nb > 1e-12 ? nb : 1e-12;
        r[i].key = f32(dot(a, b, c) / (na * nb));
        r[i].idx = i;
    }
    rank_keys(r, n, 0);
    for (int64_t i = 0; i < n_keep && i < n; i++)
        keep[r[i].idx] = 1;
    free(r);
    return 0;
}

int64_t
omnizip_istc(const float *v, int64_t n, int64_t per_frame, int64_t c, double ratio,
             unsigned char *keep)
{
    int64_t frames = per_frame > 0 ? n / per_frame : 0, kept = 0;
    if (frames == 0) {
        /* Less than one frame: the official code keeps the window whole. */
        memset(keep, 1, (size_t)n);
        return n;
    }
    double keep_ratio = 1.0 - ratio;
    int64_t n_keep = (int64_t)((double)per_frame * keep_ratio);
    for (int64_t t = 0; t < frames; t++) {
        const float *cur = v + t * per_frame * c;
        unsigned char *km = keep + t * per_frame;
        int rc = 0;
        if (n_keep >= per_frame)
            memset(km, 1, (size_t)per_frame);
        else if (t % 2 == 0)
            rc = dpcknn(cur, per_frame, c, n_keep, km);
        else
            rc = temporal(cur - per_frame * c, cur, per_frame, c, n_keep, km);
        if (rc < 0)
            return rc;
    }
    for (int64_t i = 0; i < n; i++)
        kept += keep[i];
    return kept;
}
