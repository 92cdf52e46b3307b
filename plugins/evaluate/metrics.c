/*
 * metrics.c - token-set metrics and the LLM cost model (see metrics.h).
 */
#include "metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int
eval_llm_preset(const char *name, struct eval_llm *out)
{
    /* Qwen2.5-Omni thinker configs: 7B from the official config, 3B from a config dump. */
    if (!strcmp(name, "qwen2.5-omni-7b")) {
        *out = (struct eval_llm){3584, 28, 28, 4, 18944};
        return 0;
    }
    if (!strcmp(name, "qwen2.5-omni-3b")) {
        *out = (struct eval_llm){2048, 36, 16, 2, 11008};
        return 0;
    }
    return -1;
}

double
eval_prefill_flops(const struct eval_llm *m, double n)
{
    double h = (double)m->hidden, d = h / (double)m->heads, kv = (double)m->kv_heads;
    double proj = 2.0 * n * (2.0 * h * h + 2.0 * h * kv * d);
    double attn = 2.0 * n * n * h;
    double mlp = 2.0 * n * 3.0 * h * (double)m->ffn;
    return (double)m->layers * (proj + attn + mlp);
}

double
eval_kv_bytes(const struct eval_llm *m, double n)
{
    double d = (double)m->hidden / (double)m->heads;
    return 2.0 * (double)m->layers * n * (double)m->kv_heads * d * 2.0;
}

int64_t
eval_mean_pool(const float *x, int64_t n, int64_t c, const unsigned char *mask, double *out)
{
    int64_t cnt = 0;
    memset(out, 0, (size_t)c * sizeof(double));
    for (int64_t i = 0; i < n; i++) {
        if (mask && !mask[i])
            continue;
        for (int64_t k = 0; k < c; k++)
            out[k] += x[i * c + k];
        cnt++;
    }
    for (int64_t k = 0; cnt > 0 && k < c; k++)
        out[k] /= (double)cnt;
    return cnt;
}

double
eval_retention(const float *full, int64_t n, const float *kept, int64_t k, int64_t c)
{
    if (k == 0)
        return n == 0 ? 1.0 : 0.0;
    double *a = malloc((size_t)c * sizeof(double) + 1), *b = malloc((size_t)c * sizeof(double) + 1);
    double ab = 0, aa = 0, bb = 0, r = 0;
    if (!a || !b)
        goto out;
    eval_mean_pool(full, n, c, NULL, a);
    eval_mean_pool(kept, k, c, NULL, b);
    for (int64_t i = 0; i < c; i++) {
        ab += a[i] * b[i];
        aa += a[i] * a[i];
        bb += b[i] * b[i];
    }
    r = aa > 0 && bb > 0 ? ab / sqrt(aa * bb) : (aa == bb ? 1.0 : 0.0);
out:
    free(a);
    free(b);
    return r;
}

/*
 * Dot product with eight partial sums: the compiler vectorises it without -ffast-math, and
 * the summation order is fixed in the source, so the result is the same on every machine
 * (which a threaded BLAS would not promise; evaluate is a deterministic plugin).
 */
static float
dot(const float *a, const float *b, int64_t c)
{
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t q = 0;
    for (; q + 8 <= c; q += 8)
        for (int k = 0; k < 8; k++)
            acc[k] += a[q + k] * b[q + k];
    for (; q < c; q++)
        acc[0] += a[q] * b[q];
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

/* Unit-length copies of the selected rows of x [n, c] (all rows when sel is NULL). */
static float *
unit_rows(const float *x, int64_t n, int64_t c, const unsigned char *sel, int64_t *rows)
{
    float *u = malloc((size_t)(n * c) * sizeof(float) + 1);
    int64_t r = 0;
    if (!u)
        return NULL;
    for (int64_t i = 0; i < n; i++) {
        if (sel && !sel[i])
            continue;
        double nn = 0;
        for (int64_t k = 0; k < c; k++)
            nn += (double)x[i * c + k] * x[i * c + k];
        double inv = nn > 0 ? 1.0 / sqrt(nn) : 0;
        for (int64_t k = 0; k < c; k++)
            u[r * c + k] = (float)(x[i * c + k] * inv);
        r++;
    }
    *rows = r;
    return u;
}

double
eval_coverage(const float *full, int64_t n, const unsigned char *dropped, const float *kept,
              int64_t k, int64_t c)
{
    int64_t nd = 0, nk = 0;
    double sum = 0;
    /* Normalise once: the O(dropped · kept · c) loop is then plain dot products. */
    float *d = unit_rows(full, n, c, dropped, &nd), *u = unit_rows(kept, k, c, NULL, &nk);
    if (!d || !u) {
        free(d);
        free(u);
        return NAN;
    }
    for (int64_t i = 0; i < nd; i++) {
        float best = nk > 0 ? -1.0f : 0.0f;
        for (int64_t j = 0; j < nk; j++) {
            float s = dot(d + i * c, u + j * c, c);
            best = s > best ? s : best;
        }
        sum += best;
    }
    free(d);
    free(u);
    return nd == 0 ? 1.0 : sum / (double)nd;
}

double
eval_importance_mass(const float *imp, int64_t n, const unsigned char *kept)
{
    double all = 0, in = 0;
    for (int64_t i = 0; i < n; i++) {
        all += imp[i];
        if (kept[i])
            in += imp[i];
    }
    return all > 0 ? in / all : 1.0;
}
