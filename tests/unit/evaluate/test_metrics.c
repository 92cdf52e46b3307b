/*
 * test_metrics.c - the evaluate metrics on hand-checked inputs: retention, coverage,
 * importance mass, the LLM cost model for the Qwen2.5-Omni 7B and 3B dims, and the probe.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "plugins/evaluate/metrics.h"
#include "plugins/evaluate/probe.h"

static void
test_metrics__retention_is_one_when_all_kept(void **st)
{
    (void)st;
    const float full[6] = {1, 2, 3, -1, 0, 5};
    assert_float_equal(eval_retention(full, 3, full, 3, 2), 1.0, 1e-12);
    /* Kept in another order: the mean is the same. */
    const float perm[6] = {0, 5, 1, 2, 3, -1};
    assert_float_equal(eval_retention(full, 3, perm, 3, 2), 1.0, 1e-12);
}

static void
test_metrics__retention_hand_checked(void **st)
{
    (void)st;
    /* full mean = (0.5, 0.5); kept (1, 0): cos = 0.5 / (sqrt(0.5) · 1) = sqrt(0.5). */
    const float full[4] = {1, 0, 0, 1};
    assert_float_equal(eval_retention(full, 2, full, 1, 2), sqrt(0.5), 1e-12);
    assert_float_equal(eval_retention(full, 2, full, 0, 2), 0.0, 1e-12); /* nothing kept */
}

static void
test_metrics__coverage_hand_checked(void **st)
{
    (void)st;
    /* Tokens (1,0), (0,1), (1,1); keep (1,0). Dropped (0,1): best cos 0; (1,1): 1/sqrt(2). */
    const float full[6] = {1, 0, 0, 1, 1, 1};
    const unsigned char dropped[3] = {0, 1, 1};
    assert_float_equal(eval_coverage(full, 3, dropped, full, 1, 2), (0 + sqrt(0.5)) / 2, 1e-6);
    const unsigned char none[3] = {0, 0, 0};
    assert_float_equal(eval_coverage(full, 3, none, full, 1, 2), 1.0, 1e-12);
    /* Dropped with nothing kept covers nothing. */
    assert_float_equal(eval_coverage(full, 3, dropped, full, 0, 2), 0.0, 1e-12);
    /* A kept token equal to a dropped one covers it fully: best is taken over kept rows. */
    const float kept[4] = {1, 0, 0, 3};
    const unsigned char d2[3] = {0, 1, 0};
    assert_float_equal(eval_coverage(full, 3, d2, kept, 2, 2), 1.0, 1e-6);
}

static void
test_metrics__importance_mass(void **st)
{
    (void)st;
    const float imp[4] = {0.1f, 0.2f, 0.3f, 0.4f};
    const unsigned char kept[4] = {0, 1, 0, 1};
    assert_float_equal(eval_importance_mass(imp, 4, kept), 0.6, 1e-6);
    const unsigned char all[4] = {1, 1, 1, 1};
    assert_float_equal(eval_importance_mass(imp, 4, all), 1.0, 1e-12);
}

static void
test_metrics__flops_and_kv_for_qwen_omni(void **st)
{
    (void)st;
    struct eval_llm m7, m3, other;
    assert_int_equal(eval_llm_preset("qwen2.5-omni-7b", &m7), 0);
    assert_int_equal(eval_llm_preset("qwen2.5-omni-3b", &m3), 0);
    assert_int_equal(eval_llm_preset("llama", &other), -1);
    /*
     * 7B, n = 1000, d = 128: projections 2·1000·(2·3584² + 2·3584·4·128) = 58,720,256,000;
     * attention 2·1000²·3584 = 7,168,000,000; MLP 2·1000·3·3584·18944 = 407,371,776,000;
     * sum 473,260,032,000 per layer, times 28 layers.
     */
    assert_float_equal(eval_prefill_flops(&m7, 1000), 13251280896000.0, 1.0);
    /* 3B: 18,874,368,000 + 4,096,000,000 + 135,266,304,000 = 158,236,672,000, times 36. */
    assert_float_equal(eval_prefill_flops(&m3, 1000), 5696520192000.0, 1.0);
    /* 500 tokens: the linear terms halve, the quadratic attention term quarters. */
    assert_float_equal(eval_prefill_flops(&m7, 500), 6575464448000.0, 1.0);
    /* KV: 2 · 28 · 1000 · 4 · 128 · 2 bytes; 3B: 2 · 36 · 1000 · 2 · 128 · 2. */
    assert_float_equal(eval_kv_bytes(&m7, 1000), 57344000.0, 0.5);
    assert_float_equal(eval_kv_bytes(&m3, 1000), 36864000.0, 0.5);
}

static void
test_metrics__probe_on_separable_set(void **st)
{
    (void)st;
    /* Two classes along x and y, three samples each. */
    const float protos[12] = {1, 0.1f, 1, 0, 1, -0.1f, 0.1f, 1, 0, 1, -0.1f, 1};
    const int cls[6] = {0, 0, 0, 1, 1, 1};
    unsigned char ok[6];
    assert_int_equal(eval_probe(protos, protos, cls, 2, 6, 2, ok), 6);
    /* Queries that moved to the other class are wrong; the others stay right. */
    float q[12];
    memcpy(q, protos, sizeof q);
    q[0] = 0, q[1] = 1; /* sample 0 now looks like class 1 */
    q[6] = 1, q[7] = 0; /* sample 3 now looks like class 0 */
    assert_int_equal(eval_probe(protos, q, cls, 2, 6, 2, ok), 4);
    assert_false(ok[0]);
    assert_false(ok[3]);
    assert_true(ok[1] && ok[2] && ok[4] && ok[5]);
    /* Leave-one-out: a class with one sample has no prototype for that sample. */
    const int lone[3] = {0, 0, 1};
    assert_int_equal(eval_probe(protos, protos, lone, 2, 3, 2, ok), 2);
    assert_false(ok[2]);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metrics__retention_is_one_when_all_kept),
        cmocka_unit_test(test_metrics__retention_hand_checked),
        cmocka_unit_test(test_metrics__coverage_hand_checked),
        cmocka_unit_test(test_metrics__importance_mass),
        cmocka_unit_test(test_metrics__flops_and_kv_for_qwen_omni),
        cmocka_unit_test(test_metrics__probe_on_separable_set),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
