/*
 * det.c - portable PRNG, exp and orthonormal matrices (det.h).
 */
#include "det.h"

#include <math.h>
#include <stdlib.h>

#include <sieve/plugin.h>

uint64_t
det_splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

double
det_uniform(uint64_t *state)
{
    return (double)(det_splitmix64(state) >> 11) * (1.0 / 9007199254740992.0);
}

double
det_normal(uint64_t *state)
{
    double s = 0;
    for (int i = 0; i < 12; i++)
        s += det_uniform(state);
    return s - 6.0;
}

double
det_exp(double x)
{
    if (x < -745.0)
        return 0.0;
    if (x > 709.0)
        x = 709.0;
    double k = floor(x * 1.4426950408889634 + 0.5);
    /* ln 2 split so that k * LN2_HI is exact for |k| < 2^11. */
    double r = (x - k * 6.93147180369123816490e-01) - k * 1.90821492927058770002e-10;
    double p = 1.0 / 6227020800.0; /* 1/13! */
    static const double inv_fact[] = {1.0 / 479001600.0,
                                      1.0 / 39916800.0,
                                      1.0 / 3628800.0,
                                      1.0 / 362880.0,
                                      1.0 / 40320.0,
                                      1.0 / 5040.0,
                                      1.0 / 720.0,
                                      1.0 / 120.0,
                                      1.0 / 24.0,
                                      1.0 / 6.0,
                                      0.5,
                                      1.0,
                                      1.0};
    for (size_t i = 0; i < sizeof inv_fact / sizeof inv_fact[0]; i++)
        p = p * r + inv_fact[i];
    return ldexp(p, (int)k);
}

/* Dot product with four partial sums in a fixed order (faster than one chain, still exact
   to reproduce). */
static double
dot(const double *a, const double *b, size_t n)
{
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        s0 += a[i] * b[i];
        s1 += a[i + 1] * b[i + 1];
        s2 += a[i + 2] * b[i + 2];
        s3 += a[i + 3] * b[i + 3];
    }
    for (; i < n; i++)
        s0 += a[i] * b[i];
    return (s0 + s1) + (s2 + s3);
}

int
det_orthonormal_rows(uint64_t *state, size_t rows, size_t cols, float *out)
{
    double *g = malloc(rows * cols * sizeof *g);
    if (!g)
        return SIEVE_ENOMEM;
    for (size_t i = 0; i < rows * cols; i++)
        g[i] = det_normal(state);
    for (size_t i = 0; i < rows; i++) {
        double *r = g + i * cols;
        for (size_t j = 0; j < i; j++) {
            const double *q = g + j * cols;
            double c = dot(r, q, cols);
            for (size_t k = 0; k < cols; k++)
                r[k] -= c * q[k];
        }
        double inv = 1.0 / sqrt(dot(r, r, cols));
        for (size_t k = 0; k < cols; k++)
            r[k] *= inv;
    }
    for (size_t i = 0; i < rows * cols; i++)
        out[i] = (float)g[i];
    free(g);
    return 0;
}
