/*
 * test_half.c - F16 and BF16 conversions: every 16-bit pattern widens and narrows back to
 * itself, and narrowing rounds to nearest with ties to even, as numpy and torch do.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "base/half.h"

static void
test_half__every_f16_round_trips(void **state)
{
    (void)state;
    for (uint32_t h = 0; h < 0x10000; h++) {
        float f = half_f16_to_f32((uint16_t)h);
        int is_nan = (h & 0x7c00) == 0x7c00 && (h & 0x3ff);
        assert_int_equal(isnan(f) != 0, is_nan);
        if (!is_nan)
            assert_int_equal(half_f32_to_f16(f), h);
        else
            assert_true(isnan(half_f16_to_f32(half_f32_to_f16(f))));
    }
}

static void
test_half__every_bf16_round_trips(void **state)
{
    (void)state;
    for (uint32_t h = 0; h < 0x10000; h++) {
        float f = half_bf16_to_f32((uint16_t)h);
        if (isnan(f))
            assert_true(isnan(half_bf16_to_f32(half_f32_to_bf16(f))));
        else
            assert_int_equal(half_f32_to_bf16(f), h);
    }
}

static void
test_half__narrowing_rounds_to_nearest_even(void **state)
{
    (void)state;
    /* Halfway between 1 and the next F16 (1 + 2^-10): ties go to the even mantissa. */
    assert_int_equal(half_f32_to_f16(1.0f + 0x1p-11f), 0x3c00);
    assert_int_equal(half_f32_to_f16(1.0f + 3 * 0x1p-11f), 0x3c02);
    assert_int_equal(half_f32_to_f16(1.0f + 0x1p-11f + 0x1p-20f), 0x3c01);
    /* 65520 is halfway between the largest F16 (65504) and 2^16: it overflows. */
    assert_int_equal(half_f32_to_f16(65519.0f), 0x7bff);
    assert_int_equal(half_f32_to_f16(65520.0f), 0x7c00);
    assert_int_equal(half_f32_to_f16(-1e10f), 0xfc00);
    /* Subnormals: 2^-25 is a tie between 0 and the smallest subnormal 2^-24. */
    assert_int_equal(half_f32_to_f16(0x1p-25f), 0x0000);
    assert_int_equal(half_f32_to_f16(0x1.8p-25f), 0x0001);
    assert_int_equal(half_f32_to_f16(3 * 0x1p-25f), 0x0002);
    assert_int_equal(half_f32_to_f16(-0x1p-30f), 0x8000);
    /* The largest subnormal rounds up into the smallest normal. */
    assert_int_equal(half_f32_to_f16(0x1p-14f - 0x1p-26f), 0x0400);
    /* BF16 ties to even as well. */
    assert_int_equal(half_f32_to_bf16(1.0f + 0x1p-8f), 0x3f80);
    assert_int_equal(half_f32_to_bf16(1.0f + 3 * 0x1p-8f), 0x3f82);
    assert_int_equal(half_f32_to_bf16(INFINITY), 0x7f80);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_half__every_f16_round_trips),
        cmocka_unit_test(test_half__every_bf16_round_trips),
        cmocka_unit_test(test_half__narrowing_rounds_to_nearest_even),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
