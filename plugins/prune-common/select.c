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
 * The accumulations below use four double partial sums so the compiler can keep them in
 * vector registers; the order differs from numpy's pairwise sum only in the last bits, which
 * matters only for keys closer than ~1e-15, and identical inputs always give identical keys.
 */
double
prune_dot(const float *a, const float *b, size_t c)
{
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    size_t i = 0;
    for (; i + 4 <= c; i += 4) {
        s0 += (double)a[i] * b[i];
        s1 += (double)a[i + 1] * b[i + 1];
        s2 += (double)a[i + 2] * b[i + 2];
        s3 += (double)a[i + 3] * b[i + 3];
    }
    for (; i < c; i++)
        s0 += (double)a[i] * b[i];
    return (s0 + s1) + (s2 + s3);
}

double
prune_norm2(const float *a, size_t c)
{
    return prune_dot(a, a, c);
}

double
prune_cosine(const float *a, const float *b, size_t c)
{
    double dot = 0, na = 0, nb = 0;
    double d1 = 0, a1 = 0, b1 = 0;
    size_t i = 0;
    for (; i + 2 <= c; i += 2) {
        dot += (double)a[i] * b[i];
        na += (double)a[i] * a[i];
        nb += (double)b[i] * b[i];
        d1 += (double)a[i + 1] * b[i + 1];
        a1 += (double)a[i + 1] * a[i + 1];
        b1 += (double)b[i + 1] * b[i + 1];
    }
    for (; i < c; i++) {
        dot += (double)a[i] * b[i];
        na += (double)a[i] * a[i];
        nb += (double)b[i] * b[i];
    }
    double den = sqrt(na + a1) * sqrt(nb + b1);
    return (dot + d1) / (den > 1e-8 ? den : 1e-8);
}
