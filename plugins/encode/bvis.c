/*
 * bvis.c - built-in vision encoder (bvis.h).
 */
#include "bvis.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "det.h"

#define PATCH 1176 /* 3 * 2 * 14 * 14 values of one 14-px patch pair */

/* Tokens projected together, so that one row of B is reused from L1 cache. */
#define TILE 16

struct bvis {
    size_t dim;
    float a[4][4];
    float *b_t; /* [PATCH, dim/4]: B transposed */
    float lut[3][256];
};

static const float clip_mean[3] = {0.48145466f, 0.4578275f, 0.40821073f};
static const float clip_std[3] = {0.26862954f, 0.26130258f, 0.27577711f};

int
bvis_new(size_t dim, uint64_t seed, struct bvis **out, struct sieve_errbuf *err)
{
    *out = NULL;
    if (dim < 4 || dim > BVIS_IN || dim % 4)
        return sieve_errbuf_set(err, SIEVE_EINVAL,
                                "builtin vision 'dim' %zu is not a multiple of 4 in [4, %d]", dim,
                                BVIS_IN);
    size_t q = dim / 4;
    struct bvis *m = calloc(1, sizeof *m);
    float *b = malloc(q * PATCH * sizeof *b);
    uint64_t st = seed;
    if (m)
        m->b_t = malloc(q * PATCH * sizeof *m->b_t);
    if (!m || !b || !m->b_t || det_orthonormal_rows(&st, 4, 4, &m->a[0][0]) < 0 ||
        det_orthonormal_rows(&st, q, PATCH, b) < 0) {
        free(b);
        bvis_free(m);
        return sieve_errbuf_set(err, SIEVE_ENOMEM, "builtin vision: out of memory");
    }
    m->dim = dim;
    for (size_t r = 0; r < q; r++)
        for (size_t k = 0; k < PATCH; k++)
            m->b_t[k * q + r] = b[r * PATCH + k];
    free(b);
    for (int c = 0; c < 3; c++)
        for (int u = 0; u < 256; u++)
            m->lut[c][u] = ((float)u / 255.0f - clip_mean[c]) / clip_std[c];
    *out = m;
    return 0;
}

void
bvis_free(struct bvis *m)
{
    if (!m)
        return;
    free(m->b_t);
    free(m);
}

size_t
bvis_dim(const struct bvis *m)
{
    return m->dim;
}

/* Gathers merged patch (mh, mw) of frames f0, f1 in Qwen's row order: four 1176-value
   patches (dh, dw), each (channel, frame, y, x). */
static void
gather(const struct bvis *m, const uint8_t *f0, const uint8_t *f1, size_t W, size_t mh, size_t mw,
       float *v)
{
    size_t o = 0;
    for (size_t dh = 0; dh < 2; dh++)
        for (size_t dw = 0; dw < 2; dw++)
            for (size_t c = 0; c < 3; c++)
                for (size_t t = 0; t < 2; t++) {
                    const uint8_t *f = t ? f1 : f0;
                    for (size_t y = 0; y < 14; y++) {
                        const uint8_t *row =
                            f + ((mh * 28 + dh * 14 + y) * W + mw * 28 + dw * 14) * 3;
                        for (size_t x = 0; x < 14; x++)
                            v[o++] = m->lut[c][row[x * 3 + c]];
                    }
                }
}

/* Attention received by each of P tokens under softmax(X X^T / sqrt(C)), in double. */
static int
importance(const float *x, size_t P, size_t C, float *imp)
{
    double *s = malloc(P * P * sizeof *s), *acc = calloc(P, sizeof *acc);
    if (!s || !acc) {
        free(s);
        free(acc);
        return SIEVE_ENOMEM;
    }
    double scale = 1.0 / sqrt((double)C);
    for (size_t i = 0; i < P; i++)
        for (size_t j = 0; j <= i; j++) {
            double d = 0;
            for (size_t c = 0; c < C; c++)
                d += (double)x[i * C + c] * (double)x[j * C + c];
            s[i * P + j] = s[j * P + i] = d * scale;
        }
    for (size_t i = 0; i < P; i++) {
        double *r = s + i * P, mx = r[0], sum = 0;
        for (size_t j = 1; j < P; j++)
            mx = r[j] > mx ? r[j] : mx;
        for (size_t j = 0; j < P; j++) {
            r[j] = det_exp(r[j] - mx);
            sum += r[j];
        }
        for (size_t j = 0; j < P; j++)
            acc[j] += r[j] / sum;
    }
    for (size_t j = 0; j < P; j++)
        imp[j] = (float)(acc[j] / (double)P);
    free(s);
    free(acc);
    return 0;
}

/* Projects n gathered merged patches v[n, 4, PATCH] to y[n, dim]; u is scratch [n, 4, dim/4].
   Every sum runs in a fixed order (k, then a'), so the result is reproducible. */
static void
project(const struct bvis *m, const float *v, size_t n, float *u, float *y)
{
    size_t q = m->dim / 4;
    memset(u, 0, n * 4 * q * sizeof *u);
    for (size_t k = 0; k < PATCH; k++) {
        const float *b = m->b_t + k * q;
        for (size_t r = 0; r < n * 4; r++) {
            float a = v[r * PATCH + k];
            float *ur = u + r * q;
            for (size_t j = 0; j < q; j++)
                ur[j] += a * b[j];
        }
    }
    for (size_t i = 0; i < n; i++)
        for (size_t a = 0; a < 4; a++) {
            float *o = y + i * m->dim + a * q;
            const float *ui = u + i * 4 * q;
            for (size_t j = 0; j < q; j++) {
                float s = m->a[a][0] * ui[j];
                s += m->a[a][1] * ui[q + j];
                s += m->a[a][2] * ui[2 * q + j];
                s += m->a[a][3] * ui[3 * q + j];
                o[j] = s;
            }
        }
}

int
bvis_run(const struct bvis *m, const uint8_t *frames, size_t T, size_t H, size_t W, float *tokens,
         float *imp, const struct job *job, struct sieve_errbuf *err)
{
    size_t gw = W / 28, P = (H / 28) * gw, C = m->dim, G = (T + 1) / 2;
    float *v = malloc(TILE * BVIS_IN * sizeof *v), *u = malloc(TILE * C * sizeof *u);
    int rc = 0;
    if (!v || !u) {
        rc = sieve_errbuf_set(err, SIEVE_ENOMEM, "builtin vision: out of memory");
        goto out;
    }
    for (size_t g = 0; g < G; g++) {
        if ((rc = job_step(job, (double)g, (double)G, err)) < 0)
            goto out;
        const uint8_t *f0 = frames + 2 * g * H * W * 3;
        const uint8_t *f1 = 2 * g + 1 < T ? f0 + H * W * 3 : f0;
        float *y = tokens + g * P * C;
        for (size_t p0 = 0; p0 < P; p0 += TILE) {
            size_t n = P - p0 < TILE ? P - p0 : TILE;
            for (size_t i = 0; i < n; i++)
                gather(m, f0, f1, W, (p0 + i) / gw, (p0 + i) % gw, v + i * BVIS_IN);
            project(m, v, n, u, y + p0 * C);
        }
        if (importance(y, P, C, imp + g * P) < 0) {
            rc = sieve_errbuf_set(err, SIEVE_ENOMEM, "builtin vision: out of memory");
            goto out;
        }
    }
out:
    free(v);
    free(u);
    return rc;
}
