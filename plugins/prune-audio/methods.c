/*
 * methods.c - segment-wise top-K, global top-K, mean-threshold, uniform and random selection
 * of audio tokens (see methods.h for the rules).
 */
#include "methods.h"
#include "select.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <sieve/plugin.h>

/* Segment-wise top-K; `plain` drops the remainder (the paper's S * floor(K/S) tokens). */
static int
segment_run(const float *importance, size_t n, double keep, int64_t segments, int plain,
            uint8_t *mask)
{
    if (segments < 1)
        return SIEVE_EINVAL;
    size_t s_n = (size_t)segments, k = prune_budget(keep, n);
    size_t per = k / s_n, rem = plain ? 0 : k - per * s_n;
    int rc = SIEVE_ENOMEM;
    double *key = malloc((n ? n : 1) * sizeof *key);
    double *left = malloc(s_n * sizeof *left);
    int64_t *cand = malloc(s_n * sizeof *cand), *next = malloc(s_n * sizeof *next);
    uint8_t *pick = calloc(s_n, 1);
    if (!key || !left || !cand || !next || !pick)
        goto done;
    for (size_t i = 0; i < n; i++)
        key[i] = -(double)importance[i];
    size_t nc = 0;
    for (size_t s = 0; s < s_n; s++) {
        size_t a = (size_t)((uint64_t)s * n / s_n), b = (size_t)((uint64_t)(s + 1) * n / s_n);
        if ((rc = prune_select_lowest(key + a, b - a, per, mask + a, NULL)) < 0)
            goto done;
        /* The segment's best token not yet kept competes for the remainder. */
        int64_t best = -1;
        for (size_t i = a; i < b; i++) {
            if (mask[i])
                continue;
            if (best < 0 || (!isnan(key[i]) && (isnan(key[best]) || key[i] < key[best])))
                best = (int64_t)i;
        }
        if (best >= 0) {
            left[nc] = key[best];
            cand[nc] = (int64_t)s;
            next[nc] = best;
            nc++;
        }
    }
    if (rem > 0) {
        if ((rc = prune_select_lowest(left, nc, rem, pick, NULL)) < 0)
            goto done;
        for (size_t j = 0; j < nc; j++)
            if (pick[j])
                mask[next[j]] = 1;
    }
    if (plain) {
        /* A segment shorter than floor(K/S) keeps all it has, so count what was kept. */
        k = 0;
        for (size_t i = 0; i < n; i++)
            k += mask[i] != 0;
    }
    rc = (int)k;
done:
    free(pick);
    free(next);
    free(cand);
    free(left);
    free(key);
    return rc;
}

int
pa_segment_topk(const float *importance, size_t n, double keep, int64_t segments, uint8_t *mask)
{
    return segment_run(importance, n, keep, segments, 0, mask);
}

int
pa_segment_topk_plain(const float *importance, size_t n, double keep, int64_t segments,
                      uint8_t *mask)
{
    return segment_run(importance, n, keep, segments, 1, mask);
}

int
pa_topk(const float *importance, size_t n, double keep, uint8_t *mask)
{
    size_t k = prune_budget(keep, n);
    double *key = malloc((n ? n : 1) * sizeof *key);
    if (!key)
        return SIEVE_ENOMEM;
    for (size_t i = 0; i < n; i++)
        key[i] = -(double)importance[i];
    int rc = prune_select_lowest(key, n, k, mask, NULL);
    free(key);
    return rc < 0 ? rc : (int)k;
}

int
pa_threshold(const float *importance, size_t n, double alpha, uint8_t *mask)
{
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += importance[i];
    double cut = n ? alpha * (sum / (double)n) : 0;
    int k = 0;
    for (size_t i = 0; i < n; i++) {
        if ((double)importance[i] >= cut) {
            mask[i] = 1;
            k++;
        }
    }
    return k;
}

int
pa_uniform(size_t n, double keep, uint8_t *mask)
{
    size_t k = prune_budget(keep, n);
    for (size_t i = 0; i < k; i++)
        mask[(uint64_t)i * n / k] = 1;
    return (int)k;
}

int
pa_random(size_t n, double keep, uint64_t seed, uint8_t *mask)
{
    size_t k = prune_budget(keep, n);
    uint64_t *key = malloc((n ? n : 1) * sizeof *key);
    if (!key)
        return SIEVE_ENOMEM;
    for (size_t i = 0; i < n; i++)
        key[i] = prune_splitmix64(seed, i);
    int rc = prune_select_lowest_u64(key, n, k, mask);
    free(key);
    return rc < 0 ? rc : (int)k;
}

size_t
pa_gather(const float *x, size_t c, const uint8_t *mask, size_t n, float *tokens, int32_t *index)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (!mask[i])
            continue;
        if (tokens)
            memcpy(tokens + k * c, x + i * c, c * sizeof *tokens);
        if (index)
            index[k] = (int32_t)i;
        k++;
    }
    return k;
}
