/*
 * bundle_test_util.h - shared by the bundle tests: the value pattern of the fixtures
 * (tests/fixtures/safetensors/make_fixtures.py computes the same one) and file helpers.
 */
#ifndef SIEVE_TEST_BUNDLE_UTIL_H
#define SIEVE_TEST_BUNDLE_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/bundle.h"
#include "base/half.h"

/* k in [-11, 11]; floats are k/4, exact in F16 and BF16. */
static inline int64_t
pattern_k(uint64_t i)
{
    return (int64_t)((i * 7) % 23) - 11;
}

/* The value of element i as the fixtures define it, widened to double. */
static inline double
pattern_value(int32_t dtype, uint64_t i)
{
    switch (dtype) {
    case SIEVE_DTYPE_F64:
    case SIEVE_DTYPE_F32:
    case SIEVE_DTYPE_F16:
    case SIEVE_DTYPE_BF16:
        return (double)pattern_k(i) * 0.25;
    case SIEVE_DTYPE_I64:
        return (double)(pattern_k(i) * 1000000007);
    case SIEVE_DTYPE_I32:
        return (double)(pattern_k(i) * 1000);
    case SIEVE_DTYPE_U8:
        return (double)((i * 37) % 256);
    default:
        return i % 3 == 0;
    }
}

/*
 * Element i of t widened to double (exact for every value the pattern produces), decoded
 * independently of the bundle code and of `sieve inspect` (test_inspect.c uses it too).
 */
static inline double
tensor_value(const struct sieve_tensor *t, uint64_t i)
{
    switch (t->dtype) {
    case SIEVE_DTYPE_F64:
        return ((const double *)t->data)[i];
    case SIEVE_DTYPE_F32:
        return ((const float *)t->data)[i];
    case SIEVE_DTYPE_F16:
        return half_f16_to_f32(((const uint16_t *)t->data)[i]);
    case SIEVE_DTYPE_BF16:
        return half_bf16_to_f32(((const uint16_t *)t->data)[i]);
    case SIEVE_DTYPE_I64:
        return (double)((const int64_t *)t->data)[i];
    case SIEVE_DTYPE_I32:
        return ((const int32_t *)t->data)[i];
    default:
        return ((const uint8_t *)t->data)[i];
    }
}

static inline void
pattern_fill(struct sieve_tensor *t)
{
    uint64_t n = sieve_tensor_numel(t);
    for (uint64_t i = 0; i < n; i++) {
        double v = pattern_value(t->dtype, i);
        switch (t->dtype) {
        case SIEVE_DTYPE_F64:
            ((double *)t->data)[i] = v;
            break;
        case SIEVE_DTYPE_F32:
            ((float *)t->data)[i] = (float)v;
            break;
        case SIEVE_DTYPE_F16:
            ((uint16_t *)t->data)[i] = half_f32_to_f16((float)v);
            break;
        case SIEVE_DTYPE_BF16:
            ((uint16_t *)t->data)[i] = half_f32_to_bf16((float)v);
            break;
        case SIEVE_DTYPE_I64:
            ((int64_t *)t->data)[i] = (int64_t)v;
            break;
        case SIEVE_DTYPE_I32:
            ((int32_t *)t->data)[i] = (int32_t)v;
            break;
        default:
            ((uint8_t *)t->data)[i] = (uint8_t)v;
        }
    }
}

/* Number of elements of t that differ from the pattern. */
static inline uint64_t
pattern_mismatches(const struct sieve_tensor *t)
{
    uint64_t n = sieve_tensor_numel(t), bad = 0;
    for (uint64_t i = 0; i < n && t->nbytes; i++)
        bad += tensor_value(t, i) != pattern_value(t->dtype, i);
    return bad;
}

/* Reads a whole file into a malloc'd buffer; returns NULL on failure. */
static inline unsigned char *
slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    unsigned char *buf = NULL;
    long n;

    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
        buf = malloc((size_t)n + 1);
        if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
            free(buf);
            buf = NULL;
        }
        *len = (size_t)n;
    }
    fclose(f);
    return buf;
}

#endif
