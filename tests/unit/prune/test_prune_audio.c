/*
 * test_prune_audio.c - prune-audio methods: golden masks from the numpy reference, exact
 * budgets, the segment and remainder rules, the threshold rule, keep 1.0 as the identity and
 * seeded determinism.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <sieve/plugin.h>

#include "golden.h"
#include "methods.h"

#define FIXTURES SIEVE_FIXTURES "/prune"

static int
run_case(const struct golden_case *gc, uint8_t *mask)
{
    const struct golden_input *g = gc->in;
    size_t n = (size_t)g->n;
    const char *m = gc->method;
    if (strcmp(m, "segment-topk") == 0 && gc->plain)
        return pa_segment_topk_plain(g->imp, n, gc->keep, (int64_t)gc->segments, mask);
    if (strcmp(m, "segment-topk") == 0)
        return pa_segment_topk(g->imp, n, gc->keep, (int64_t)gc->segments, mask);
    if (strcmp(m, "topk") == 0)
        return pa_topk(g->imp, n, gc->keep, mask);
    if (strcmp(m, "threshold") == 0)
        return pa_threshold(g->imp, n, gc->alpha, mask);
    if (strcmp(m, "uniform") == 0)
        return pa_uniform(n, gc->keep, mask);
    if (strcmp(m, "random") == 0)
        return pa_random(n, gc->keep, (uint64_t)(int64_t)gc->seed, mask);
    fail_msg("unknown method '%s'", m);
    return -1;
}

/* Checks every audio case of the golden list in `dir`; returns how many were checked. */
static size_t
check_golden(const char *dir)
{
    struct golden g;
    assert_int_equal(golden_load(dir, &g), 0);
    size_t checked = 0;
    for (size_t ci = 0; ci < g.n_cases; ci++) {
        const struct golden_case *gc = &g.cases[ci];
        if (gc->in->vision)
            continue;
        size_t n = (size_t)gc->in->n, c = (size_t)gc->in->c;
        uint8_t *mask = calloc(n, 1);
        int32_t *idx = malloc(n * sizeof *idx);
        float *tok = malloc(n * c * sizeof *tok);
        assert_non_null(mask);
        assert_non_null(idx);
        assert_non_null(tok);
        int k = run_case(gc, mask);
        if (k < 0 || (size_t)k != gc->k)
            fail_msg("case %s (%s keep=%g): %d kept, reference %zu", gc->id, gc->method, gc->keep,
                     k, gc->k);
        assert_int_equal(pa_gather(gc->in->x, c, mask, n, tok, idx), (size_t)k);
        for (size_t i = 0; i < gc->k; i++) {
            if (idx[i] != gc->rows[i])
                fail_msg("case %s (%s keep=%g segments=%g): row %zu is %d, reference %lld", gc->id,
                         gc->method, gc->keep, gc->segments, i, idx[i], (long long)gc->rows[i]);
            assert_memory_equal(tok + i * c, gc->in->x + (size_t)idx[i] * c, c * sizeof(float));
        }
        free(tok);
        free(idx);
        free(mask);
        checked++;
    }
    golden_release(&g);
    return checked;
}

static void
test_prune_audio__golden(void **state)
{
    (void)state;
    assert_true(check_golden(FIXTURES) >= 50);
}

/*
 * segment-topk with remainder: drop, the paper's plain floor(K/S) per segment: 750 tokens at
 * keep 0.25 (K = 187) and S = 10 keep 18 per segment, 180 in all (the default spreads the
 * remainder and keeps 187); K < S keeps nothing.
 */
static void
test_prune_audio__segment_plain_keeps_floor_k_over_s(void **state)
{
    (void)state;
    assert_true(check_golden(FIXTURES "/official") >= 5);
    float imp[750];
    uint8_t m[750];
    uint32_t seed = 3;
    for (size_t i = 0; i < 750; i++) {
        seed = seed * 1664525u + 1013904223u;
        imp[i] = (float)(seed >> 8) / (float)(1u << 24);
    }
    memset(m, 0, sizeof m);
    assert_int_equal(pa_segment_topk_plain(imp, 750, 0.25, 10, m), 180);
    for (size_t s = 0; s < 10; s++) {
        int in_seg = 0;
        for (size_t i = s * 75; i < (s + 1) * 75; i++)
            in_seg += m[i];
        assert_int_equal(in_seg, 18);
    }
    memset(m, 0, sizeof m);
    assert_int_equal(pa_segment_topk(imp, 750, 0.25, 10, m), 187);
    memset(m, 0, sizeof m);
    assert_int_equal(pa_segment_topk_plain(imp, 750, 0.01, 10, m), 0);
    assert_int_equal(pa_segment_topk_plain(imp, 750, 0.5, 0, m), SIEVE_EINVAL);
}

static float *
scores(size_t n, uint32_t seed)
{
    float *s = malloc(n * sizeof *s);
    assert_non_null(s);
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        s[i] = (float)(seed >> 8) / (float)(1u << 24);
    }
    return s;
}

static size_t
count(const uint8_t *m, size_t a, size_t b)
{
    size_t k = 0;
    for (size_t i = a; i < b; i++)
        k += m[i];
    return k;
}

static void
test_prune_audio__exact_keep_counts(void **state)
{
    (void)state;
    size_t n = 750; /* 30 s at 25 tokens/s */
    float *s = scores(n, 5);
    uint8_t m[750];
    const double keeps[] = {0.1, 0.25, 0.5, 0.9};
    for (size_t i = 0; i < 4; i++) {
        size_t k = (size_t)(keeps[i] * 750);
        memset(m, 0, n);
        assert_int_equal(pa_segment_topk(s, n, keeps[i], 10, m), (int)k);
        assert_int_equal(count(m, 0, n), k);
        memset(m, 0, n);
        assert_int_equal(pa_topk(s, n, keeps[i], m), (int)k);
        assert_int_equal(count(m, 0, n), k);
        memset(m, 0, n);
        assert_int_equal(pa_uniform(n, keeps[i], m), (int)k);
        assert_int_equal(count(m, 0, n), k);
        memset(m, 0, n);
        assert_int_equal(pa_random(n, keeps[i], 3, m), (int)k);
        assert_int_equal(count(m, 0, n), k);
    }
    free(s);
}

/* Each segment keeps floor(K/S) of its own best tokens; the remainder goes to the segments
 * whose best leftover token is highest. */
static void
test_prune_audio__segment_remainder_rule(void **state)
{
    (void)state;
    /* n = 10, S = 3: segments [0,3) [3,6) [6,10); K = 5: one each, two more. */
    float s[10] = {0.9f, 0.1f, 0.8f, 0.5f, 0.4f, 0.3f, 0.95f, 0.2f, 0.2f, 0.7f};
    uint8_t m[10] = {0};
    assert_int_equal(pa_segment_topk(s, 10, 0.5, 3, m), 5);
    /* Firsts: 0, 3, 6. Leftovers: 0.8 (seg 0), 0.4 (seg 1), 0.7 (seg 2) -> segs 0 and 2. */
    const uint8_t want[10] = {1, 0, 1, 1, 0, 0, 1, 0, 0, 1};
    assert_memory_equal(m, want, 10);
    /* Uneven segments when n % S != 0: 7 tokens in 3 segments are [0,2) [2,4) [4,7). */
    float flat[7] = {1, 1, 1, 1, 1, 1, 1};
    uint8_t m2[7] = {0};
    assert_int_equal(pa_segment_topk(flat, 7, 0.5, 3, m2), 3);
    const uint8_t want2[7] = {1, 0, 1, 0, 1, 0, 0};
    assert_memory_equal(m2, want2, 7);
    /* More segments than tokens: empty segments are skipped, the count is still exact. */
    uint8_t m3[7] = {0};
    assert_int_equal(pa_segment_topk(flat, 7, 0.6, 10, m3), 4);
    assert_int_equal(count(m3, 0, 7), 4);
    assert_int_equal(pa_segment_topk(flat, 7, 0.6, 0, m3), SIEVE_EINVAL);
}

static void
test_prune_audio__threshold_keeps_above_alpha_mean(void **state)
{
    (void)state;
    size_t n = 200;
    float *s = scores(n, 8);
    double mean = 0;
    for (size_t i = 0; i < n; i++)
        mean += s[i];
    mean /= (double)n;
    const double alphas[] = {0.5, 1.0, 1.5, 3.0};
    for (size_t a = 0; a < 4; a++) {
        uint8_t m[200] = {0};
        int k = pa_threshold(s, n, alphas[a], m);
        assert_int_equal((size_t)k, count(m, 0, n));
        for (size_t i = 0; i < n; i++)
            assert_int_equal(m[i], (double)s[i] >= alphas[a] * mean);
        if (alphas[a] > 2.0)
            assert_int_equal(k, 0); /* scores are below 1 and average ~0.5: nothing passes */
    }
    free(s);
}

static void
test_prune_audio__keep_one_is_identity_and_seeded(void **state)
{
    (void)state;
    size_t n = 123;
    float *s = scores(n, 2);
    uint8_t m[123];
    memset(m, 0, n);
    assert_int_equal(pa_topk(s, n, 1.0, m), 123);
    assert_int_equal(count(m, 0, n), n);
    memset(m, 0, n);
    assert_int_equal(pa_segment_topk(s, n, 1.0, 10, m), 123);
    assert_int_equal(count(m, 0, n), n);
    memset(m, 0, n);
    assert_int_equal(pa_uniform(n, 1.0, m), 123);
    assert_int_equal(count(m, 0, n), n);
    memset(m, 0, n);
    assert_int_equal(pa_random(n, 1.0, 9, m), 123);
    assert_int_equal(count(m, 0, n), n);
    uint8_t a[123] = {0}, b[123] = {0}, c[123] = {0};
    pa_random(n, 0.3, 9, a);
    pa_random(n, 0.3, 9, b);
    pa_random(n, 0.3, 10, c);
    assert_memory_equal(a, b, n);
    assert_memory_not_equal(a, c, n);
    free(s);
}

static void
test_prune_audio__empty_input_keeps_nothing(void **state)
{
    (void)state;
    float imp[1] = {0};
    uint8_t m[1] = {0};
    assert_int_equal(pa_segment_topk(imp, 0, 0.5, 10, m), 0);
    assert_int_equal(pa_topk(imp, 0, 0.5, m), 0);
    assert_int_equal(pa_threshold(imp, 0, 1.0, m), 0);
    assert_int_equal(pa_uniform(0, 0.5, m), 0);
    assert_int_equal(pa_random(0, 0.5, 1, m), 0);
    assert_int_equal(m[0], 0);
    /* One token: every budgeted method keeps it, even at a tiny keep. */
    assert_int_equal(pa_segment_topk(imp, 1, 0.01, 10, m), 1);
    assert_int_equal(m[0], 1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prune_audio__golden),
        cmocka_unit_test(test_prune_audio__segment_plain_keeps_floor_k_over_s),
        cmocka_unit_test(test_prune_audio__exact_keep_counts),
        cmocka_unit_test(test_prune_audio__segment_remainder_rule),
        cmocka_unit_test(test_prune_audio__threshold_keeps_above_alpha_mean),
        cmocka_unit_test(test_prune_audio__keep_one_is_identity_and_seeded),
        cmocka_unit_test(test_prune_audio__empty_input_keeps_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
