/*
 * nn.c - linear layers, layer norm, activations and segmented multi-head attention (nn.h).
 */
#include "nn.h"

#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sieve/plugin.h>

/*
 * The element-wise loops are compiled for AVX-512, AVX2 and baseline x86-64 and picked at load
 * time (GCC function multiversioning); BLAS does the same inside OpenBLAS. Elsewhere, one
 * portable build.
 */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) &&                             \
    !defined(__SANITIZE_ADDRESS__)
#define CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define CLONES
#endif

void
nn_linear(const float *x, size_t n, size_t in, const float *w, const float *b, size_t out, float *y)
{
    if (n == 0)
        return;
    /* The bias goes in first and the GEMM accumulates onto it (beta 1), saving a pass. */
    if (b)
        for (size_t i = 0; i < n; i++)
            memcpy(y + i * out, b, out * sizeof *y);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)out, (int)in, 1.0f, x,
                (int)in, w, (int)in, b ? 1.0f : 0.0f, y, (int)out);
}

CLONES void
nn_layernorm(float *y, const float *x, size_t n, size_t d, const float *g, const float *b,
             float eps)
{
    /* Sums over 16 float lanes (so they vectorise), combined in double. */
    for (size_t i = 0; i < n; i++) {
        const float *r = x + i * d;
        float *o = y + i * d, a[16] = {0}, q[16] = {0};
        size_t j = 0;
        for (; j + 16 <= d; j += 16)
            for (int l = 0; l < 16; l++)
                a[l] += r[j + l];
        double mean = 0, var = 0;
        for (int l = 0; l < 16; l++)
            mean += a[l];
        for (; j < d; j++)
            mean += r[j];
        mean /= (double)d;
        float mf = (float)mean;
        for (j = 0; j + 16 <= d; j += 16)
            for (int l = 0; l < 16; l++)
                q[l] += (r[j + l] - mf) * (r[j + l] - mf);
        for (int l = 0; l < 16; l++)
            var += q[l];
        for (; j < d; j++)
            var += ((double)r[j] - mf) * ((double)r[j] - mf);
        var /= (double)d;
        float inv = (float)(1.0 / sqrt(var + (double)eps)), m = mf;
        for (j = 0; j < d; j++)
            o[j] = (r[j] - m) * inv * g[j] + b[j];
    }
}

/* exp(v) = 2^k * exp(r), r = v - k ln2 in [-ln2/2, ln2/2], Taylor to degree 7, 2^k built from
   exponent bits; relative error below 2e-7. Branch-free so that loops calling it vectorise. */
static inline float
exp_fast(float v)
{
    v = v < -87.0f ? -87.0f : v > 88.0f ? 88.0f : v;
    /* Round to nearest by the 1.5 * 2^23 trick: plain adds vectorise, floorf does not
       without SSE4.1. */
    float k = (v * 1.44269504f + 12582912.0f) - 12582912.0f;
    float r = v - k * 0.693145752f;
    r = r - k * 1.42860677e-6f;
    float p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    int32_t e = ((int32_t)k + 127) << 23;
    float sc;
    memcpy(&sc, &e, 4);
    return p * sc;
}

CLONES void
nn_exp(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] = exp_fast(x[i]);
}

/* erf(x) for float by a rational approximation (the odd/even polynomial pair used by
   Eigen and XLA), accurate to a few ulp, branch-free so that it vectorises; inputs beyond
   +-4 give +-1 in float anyway. */
static inline float
erf_fast(float x)
{
    x = x > 4.0f ? 4.0f : x < -4.0f ? -4.0f : x;
    float x2 = x * x;
    float p = -2.72614225801306e-10f;
    p = p * x2 + 2.77068142495902e-08f;
    p = p * x2 - 2.10102402082508e-06f;
    p = p * x2 - 5.69250639462346e-05f;
    p = p * x2 - 7.34990630326855e-04f;
    p = p * x2 - 2.95459980854025e-03f;
    p = p * x2 - 1.60960333262415e-02f;
    float q = -1.45660718464996e-05f;
    q = q * x2 - 2.13374055278905e-04f;
    q = q * x2 - 1.68282697438203e-03f;
    q = q * x2 - 7.37332916720468e-03f;
    q = q * x2 - 1.42647390514189e-02f;
    return x * p / q;
}

CLONES void
nn_act(float *x, size_t n, enum nn_act act)
{
    switch (act) {
    case NN_GELU_ERF:
        for (size_t i = 0; i < n; i++)
            x[i] = 0.5f * x[i] * (1.0f + erf_fast(x[i] * 0.70710678118654752f));
        break;
    case NN_GELU_TANH:
        for (size_t i = 0; i < n; i++) {
            float v = x[i];
            x[i] = 0.5f * v * (1.0f + tanhf(0.79788456080286536f * (v + 0.044715f * v * v * v)));
        }
        break;
    case NN_QUICK_GELU:
        for (size_t i = 0; i < n; i++)
            x[i] = x[i] / (1.0f + exp_fast(-1.702f * x[i]));
        break;
    }
}

/* Row-wise softmax of s[rows, cols] in place. Max and sum run over 16 partial lanes so they
   vectorise (a single running sum would forbid it). */
CLONES static void
softmax_rows(float *s, size_t rows, size_t cols)
{
    for (size_t i = 0; i < rows; i++) {
        float *r = s + i * cols, m[16], a[16];
        size_t j = 0;
        for (int l = 0; l < 16; l++)
            m[l] = r[0], a[l] = 0;
        for (; j + 16 <= cols; j += 16)
            for (int l = 0; l < 16; l++)
                m[l] = r[j + l] > m[l] ? r[j + l] : m[l];
        float mx = m[0];
        for (int l = 1; l < 16; l++)
            mx = m[l] > mx ? m[l] : mx;
        for (; j < cols; j++)
            mx = r[j] > mx ? r[j] : mx;
        for (j = 0; j < cols; j++)
            r[j] -= mx;
        nn_exp(r, cols);
        for (j = 0; j + 16 <= cols; j += 16)
            for (int l = 0; l < 16; l++)
                a[l] += r[j + l];
        float sum = 0;
        for (int l = 0; l < 16; l++)
            sum += a[l];
        for (; j < cols; j++)
            sum += r[j];
        float inv = 1.0f / sum;
        for (j = 0; j < cols; j++)
            r[j] *= inv;
    }
}

/* Multi-head attention of one segment: out[m, d] from q, k, v [m, d] (row stride d). */
CLONES static void
attend(const float *q, const float *k, const float *v, size_t ld, size_t m, size_t d, size_t heads,
       float *s, float *out, float *received, float *first_row)
{
    size_t hd = d / heads;
    float scale = 1.0f / sqrtf((float)hd);
    if (received)
        memset(received, 0, m * sizeof *received);
    if (first_row)
        memset(first_row, 0, m * sizeof *first_row);
    for (size_t h = 0; h < heads; h++) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)m, (int)hd, scale,
                    q + h * hd, (int)ld, k + h * hd, (int)ld, 0.0f, s, (int)m);
        softmax_rows(s, m, m);
        if (received)
            for (size_t i = 0; i < m; i++)
                for (size_t j = 0; j < m; j++)
                    received[j] += s[i * m + j];
        if (first_row)
            for (size_t j = 0; j < m; j++)
                first_row[j] += s[j];
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)hd, (int)m, 1.0f, s,
                    (int)m, v + h * hd, (int)ld, 0.0f, out + h * hd, (int)d);
    }
    if (received)
        for (size_t j = 0; j < m; j++)
            received[j] /= (float)(heads * m);
    if (first_row)
        for (size_t j = 0; j < m; j++)
            first_row[j] /= (float)heads;
}

CLONES int
nn_block_forward(const struct nn_block *blk, float *x, size_t n, size_t d, size_t heads, size_t ffn,
                 enum nn_act act, float eps, const size_t *seg, size_t nseg,
                 const struct nn_attn_stats *stats, struct nn_work *work)
{
    size_t maxseg = 0;
    for (size_t i = 0; i < nseg; i++)
        maxseg = seg[i] > maxseg ? seg[i] : maxseg;
    size_t wide = ffn > 3 * d ? ffn : 3 * d, need = n * d * 2 + n * wide + maxseg * maxseg;
    if (need > work->cap) {
        float *nb = realloc(work->buf, need * sizeof *nb);
        if (!nb)
            return SIEVE_ENOMEM;
        work->buf = nb;
        work->cap = need;
    }
    float *h = work->buf, *att = h + n * d, *qkv = att + n * d, *s = qkv + n * wide;
    /* One GEMM for q, k and v (rows [q | k | v], stride 3d) when the block is fused: a
       3x wider product runs closer to the sgemm peak than three narrow ones. */
    size_t ld = blk->wqkv ? 3 * d : d;
    float *q = qkv, *k = blk->wqkv ? qkv + d : qkv + n * d,
          *v = blk->wqkv ? qkv + 2 * d : qkv + 2 * n * d;
    nn_layernorm(h, x, n, d, blk->ln1_g, blk->ln1_b, eps);
    if (blk->wqkv) {
        nn_linear(h, n, d, blk->wqkv, blk->bqkv, 3 * d, qkv);
    } else {
        nn_linear(h, n, d, blk->wq, blk->bq, d, q);
        nn_linear(h, n, d, blk->wk, blk->bk, d, k);
        nn_linear(h, n, d, blk->wv, blk->bv, d, v);
    }
    if (stats && stats->keys) {
        size_t hd = d / heads;
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < hd; j++) {
                float acc = 0.0f;
                for (size_t hh = 0; hh < heads; hh++)
                    acc += k[i * ld + hh * hd + j];
                stats->keys[i * hd + j] = acc / (float)heads;
            }
    }
    size_t off = 0;
    for (size_t i = 0; i < nseg; i++) {
        attend(q + off * ld, k + off * ld, v + off * ld, ld, seg[i], d, heads, s, att + off * d,
               stats && stats->received ? stats->received + off : NULL,
               stats && stats->first_row ? stats->first_row + off : NULL);
        off += seg[i];
    }
    nn_linear(att, n, d, blk->wo, blk->bo, d, h);
    for (size_t i = 0; i < n * d; i++)
        x[i] += h[i];
    nn_layernorm(h, x, n, d, blk->ln2_g, blk->ln2_b, eps);
    nn_linear(h, n, d, blk->w1, blk->b1, ffn, qkv);
    nn_act(qkv, n * ffn, act);
    nn_linear(qkv, n, ffn, blk->w2, blk->b2, d, h);
    for (size_t i = 0; i < n * d; i++)
        x[i] += h[i];
    return 0;
}

int
nn_block_fuse(struct nn_block *b, size_t d)
{
    float *w = malloc(3 * d * d * sizeof *w), *bias = calloc(3 * d, sizeof *bias);
    if (!w || !bias) {
        free(w);
        free(bias);
        return SIEVE_ENOMEM;
    }
    memcpy(w, b->wq, d * d * sizeof *w);
    memcpy(w + d * d, b->wk, d * d * sizeof *w);
    memcpy(w + 2 * d * d, b->wv, d * d * sizeof *w);
    if (b->bq)
        memcpy(bias, b->bq, d * sizeof *bias);
    if (b->bk)
        memcpy(bias + d, b->bk, d * sizeof *bias);
    if (b->bv)
        memcpy(bias + 2 * d, b->bv, d * sizeof *bias);
    free(b->wq);
    free(b->wk);
    free(b->wv);
    free(b->bq);
    free(b->bk);
    free(b->bv);
    b->wq = b->wk = b->wv = b->bq = b->bk = b->bv = NULL;
    b->wqkv = w;
    b->bqkv = bias;
    return 0;
}

void
nn_blocks_free(struct nn_block *blocks, size_t n)
{
    /* A block is nothing but weight pointers, each owned (NULL once fused away). */
    for (size_t i = 0; blocks && i < n; i++) {
        float **w = (float **)&blocks[i];
        for (size_t k = 0; k < sizeof(struct nn_block) / sizeof(float *); k++)
            free(w[k]);
    }
    free(blocks);
}

void
nn_work_release(struct nn_work *w)
{
    free(w->buf);
    w->buf = NULL;
    w->cap = 0;
}
