/*
 * select.c - budgets, a strict total order for ties, splitmix64 keys and k-smallest selection.
 *
 * Selection is a quickselect over (key, index) pairs: because ties are broken by index, no two
 * pairs compare equal, so Hoare partitioning never degenerates on repeated keys and the chosen
 * set is exactly the one a stable sort would put first.
 */
#include "select.h"

#include <math.h>
#include <stdlib.h>

#include <sieve/plugin.h>

size_t
prune_budget(double keep, size_t n)
{
    if (n == 0)
        return 0;
    double want = keep * (double)n;
    if (!(want >= 1.0))
        return 1; /* also catches NaN */
    if (want >= (double)n)
        return n;
    return (size_t)want;
}

uint64_t
prune_splitmix64(uint64_t seed, uint64_t i)
{
    uint64_t z = seed + (i + 1) * 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

struct kvd {
    double key;
    int64_t idx;
};

struct kvu {
    uint64_t key;
    int64_t idx;
};

static inline int
kvd_less(const struct kvd *a, const struct kvd *b)
{
    int an = isnan(a->key), bn = isnan(b->key);
    if (an || bn) {
        if (an != bn)
            return bn; /* a number sorts before NaN */
        return a->idx < b->idx;
    }
    if (a->key != b->key)
        return a->key < b->key;
    return a->idx < b->idx;
}

static inline int
kvu_less(const struct kvu *a, const struct kvu *b)
{
    if (a->key != b->key)
        return a->key < b->key;
    return a->idx < b->idx;
}

/*
 * Rearranges v[0..n) so that v[0..k) holds the k smallest pairs (in no particular order).
 * Written once as a macro because the two key types differ only in the comparison.
 */
#define DEFINE_SELECT(fname, type, less)                                                           \
    static void fname(type *v, size_t n, size_t k)                                                 \
    {                                                                                              \
        if (k == 0 || k >= n)                                                                      \
            return;                                                                                \
        size_t lo = 0, hi = n - 1, m = k - 1;                                                      \
        while (hi > lo) {                                                                          \
            size_t mid = lo + (hi - lo) / 2;                                                       \
            type t;                                                                                \
            if (less(&v[mid], &v[lo])) {                                                           \
                t = v[mid], v[mid] = v[lo], v[lo] = t;                                             \
            }                                                                                      \
            if (less(&v[hi], &v[lo])) {                                                            \
                t = v[hi], v[hi] = v[lo], v[lo] = t;                                               \
            }                                                                                      \
            if (less(&v[hi], &v[mid])) {                                                           \
                t = v[hi], v[hi] = v[mid], v[mid] = t;                                             \
            }                                                                                      \
            type pivot = v[mid];                                                                   \
            size_t i = lo, j = hi;                                                                 \
            for (;;) {                                                                             \
                while (less(&v[i], &pivot))                                                        \
                    i++;                                                                           \
                while (less(&pivot, &v[j]))                                                        \
                    j--;                                                                           \
                if (i >= j)                                                                        \
                    break;                                                                         \
                t = v[i], v[i] = v[j], v[j] = t;                                                   \
                i++;                                                                               \
                j--;                                                                               \
            }                                                                                      \
            /* Now v[lo..j] <= pivot <= v[j+1..hi] (as pairs, all distinct). */                    \
            if (m <= j)                                                                            \
                hi = j;                                                                            \
            else                                                                                   \
                lo = j + 1;                                                                        \
        }                                                                                          \
    }

DEFINE_SELECT(select_kvd, struct kvd, kvd_less)
DEFINE_SELECT(select_kvu, struct kvu, kvu_less)

static int
cmp_kvd(const void *a, const void *b)
{
    const struct kvd *x = a, *y = b;
    return kvd_less(x, y) ? -1 : kvd_less(y, x) ? 1 : 0;
}

int
prune_select_lowest(const double *key, size_t n, size_t k, uint8_t *mask, int64_t *order)
{
    if (k > n)
        k = n;
    if (k == 0)
        return 0;
    struct kvd *v = malloc(n * sizeof *v);
    if (!v)
        return SIEVE_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        v[i].key = key[i];
        v[i].idx = (int64_t)i;
    }
    select_kvd(v, n, k);
    for (size_t i = 0; i < k; i++)
        mask[v[i].idx] = 1;
    if (order) {
        qsort(v, k, sizeof *v, cmp_kvd);
        for (size_t i = 0; i < k; i++)
            order[i] = v[i].idx;
    }
    free(v);
    return 0;
}

int
prune_select_lowest_u64(const uint64_t *key, size_t n, size_t k, uint8_t *mask)
{
    if (k > n)
        k = n;
    if (k == 0)
        return 0;
    struct kvu *v = malloc(n * sizeof *v);
    if (!v)
        return SIEVE_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        v[i].key = key[i];
        v[i].idx = (int64_t)i;
    }
    select_kvu(v, n, k);
    for (size_t i = 0; i < k; i++)
        mask[v[i].idx] = 1;
    free(v);
    return 0;
}

/*
 * The accumulations below keep LANES double partial sums in an array, a shape the compiler
 * turns into vector code (float loads widened to double); the summation order differs from
 * numpy's pairwise sum only in the last bits, which matters only for keys closer than ~1e-15,
 * and identical inputs always give identical keys.
 */
#define LANES 8

/*
 * The build targets baseline x86-64 (SSE2: two doubles per vector). On x86-64 GCC and Clang
 * also compile AVX2 and AVX-512 copies of these loops and pick one at load time. The lanes,
 * their order and the final sum are the same in every copy and no FMA contraction happens
 * under -std=c11, so every copy returns bit-identical results; only the vector width differs.
 */
#if defined(__x86_64__) && defined(__has_attribute)
#if __has_attribute(target_clones) && !defined(__SANITIZE_ADDRESS__)
#define WIDE __attribute__((target_clones("avx512f", "avx2", "default")))
#endif
#endif
#ifndef WIDE
#define WIDE
#endif

WIDE double
prune_dot(const float *a, const float *b, size_t c)
{
    double acc[LANES] = {0};
    size_t i = 0;
    for (; i + LANES <= c; i += LANES)
        for (size_t j = 0; j < LANES; j++)
            acc[j] += (double)a[i + j] * (double)b[i + j];
    for (; i < c; i++)
        acc[0] += (double)a[i] * (double)b[i];
    double s = 0;
    for (size_t j = 0; j < LANES; j++)
        s += acc[j];
    return s;
}

double
prune_norm2(const float *a, size_t c)
{
    return prune_dot(a, a, c);
}

WIDE double
prune_copy_norm2(float *dst, const float *src, size_t c)
{
    double acc[LANES] = {0};
    size_t i = 0;
    for (; i + LANES <= c; i += LANES) {
        for (size_t j = 0; j < LANES; j++) {
            float v = src[i + j];
            dst[i + j] = v;
            acc[j] += (double)v * (double)v;
        }
    }
    for (; i < c; i++) {
        dst[i] = src[i];
        acc[0] += (double)src[i] * (double)src[i];
    }
    double s = 0;
    for (size_t j = 0; j < LANES; j++)
        s += acc[j];
    return s;
}

WIDE double
prune_dot_norm2(const float *a, const float *b, size_t c, double *b2)
{
    double dot[LANES] = {0}, nb[LANES] = {0};
    size_t i = 0;
    for (; i + LANES <= c; i += LANES) {
        for (size_t j = 0; j < LANES; j++) {
            double x = a[i + j], y = b[i + j];
            dot[j] += x * y;
            nb[j] += y * y;
        }
    }
    for (; i < c; i++) {
        double x = a[i], y = b[i];
        dot[0] += x * y;
        nb[0] += y * y;
    }
    double d = 0, sb = 0;
    for (size_t j = 0; j < LANES; j++) {
        d += dot[j];
        sb += nb[j];
    }
    *b2 = sb;
    return d;
}

WIDE double
prune_cosine(const float *a, const float *b, size_t c)
{
    double dot[LANES] = {0}, na[LANES] = {0}, nb[LANES] = {0};
    size_t i = 0;
    for (; i + LANES <= c; i += LANES) {
        for (size_t j = 0; j < LANES; j++) {
            double x = a[i + j], y = b[i + j];
            dot[j] += x * y;
            na[j] += x * x;
            nb[j] += y * y;
        }
    }
    for (; i < c; i++) {
        double x = a[i], y = b[i];
        dot[0] += x * y;
        na[0] += x * x;
        nb[0] += y * y;
    }
    double d = 0, sa = 0, sb = 0;
    for (size_t j = 0; j < LANES; j++) {
        d += dot[j];
        sa += na[j];
        sb += nb[j];
    }
    return prune_cosine_of(d, sa, sb);
}

double
prune_cosine_of(double dot, double na2, double nb2)
{
    double den = sqrt(na2) * sqrt(nb2);
    return dot / (den > 1e-8 ? den : 1e-8);
}

WIDE void
prune_add_f64(double *acc, const float *x, size_t c)
{
    for (size_t i = 0; i < c; i++)
        acc[i] += (double)x[i];
}
