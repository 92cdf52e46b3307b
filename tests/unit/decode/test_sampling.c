/*
 * test_sampling.c - frame counts, frame indices and frame sizes against the reference table
 * made by tests/reference/sampling_py.py (an independent Python transcription of
 * smart_nframes / smart_resize, with torch.linspace for the indices).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <sieve/plugin.h>

#include "plugins/decode/sampling.h"

#define CASES SIEVE_FIXTURES "/decode/sampling_cases.txt"

static FILE *
open_cases(void)
{
    FILE *f = fopen(CASES, "r");
    assert_non_null(f);
    return f;
}

/* Every "case" row: count, indices, per-frame cap and size equal the reference. */
static void
test_sampling__cases_match_reference(void **state)
{
    char line[32768];
    FILE *f = open_cases();
    int cases = 0, rejected_size = 0, rejected_count = 0;

    (void)state;
    while (fgets(line, sizeof line, f)) {
        char *p = line, *end;
        long long total, mnf, mxf, h, w, want_n, want_h, want_w;
        double vfps, fps, mnp, mxp, tp;
        int64_t n, oh = -1, ow = -1;

        if (strncmp(line, "case ", 5) != 0)
            continue;
        p += 5;
        total = strtoll(p, &end, 10), p = end;
        vfps = strtod(p, &end), p = end;
        fps = strtod(p, &end), p = end;
        mnf = strtoll(p, &end, 10), p = end;
        mxf = strtoll(p, &end, 10), p = end;
        h = strtoll(p, &end, 10), p = end;
        w = strtoll(p, &end, 10), p = end;
        mnp = strtod(p, &end), p = end;
        mxp = strtod(p, &end), p = end;
        tp = strtod(p, &end), p = end;
        want_n = strtoll(p, &end, 10), p = end;
        want_h = strtoll(p, &end, 10), p = end;
        want_w = strtoll(p, &end, 10), p = end;

        n = sampling_smart_nframes(total, vfps, fps, mnf, mxf);
        if (want_n < 0) {
            assert_true(n < 0);
            rejected_count++;
            cases++;
            continue;
        }
        if (n != want_n)
            fail_msg("total %lld fps %g/%g: nframes %lld, reference %lld", total, vfps, fps,
                     (long long)n, want_n);
        {
            int64_t *idx = malloc((size_t)n * sizeof *idx);
            assert_non_null(idx);
            sampling_frame_indices(total, n, idx);
            for (int64_t k = 0; k < n; k++) {
                long long want = strtoll(p, &end, 10);
                assert_true(end != p);
                p = end;
                if (idx[k] != want)
                    fail_msg("total %lld n %lld: idx[%lld] = %lld, reference %lld", total,
                             (long long)n, (long long)k, (long long)idx[k], want);
            }
            free(idx);
        }
        {
            double cap = sampling_video_max_pixels(mxp, mnp, tp, n);
            int rc = sampling_smart_resize(h, w, mnp, cap, &oh, &ow);
            if (want_h < 0) {
                assert_int_equal(rc, SIEVE_EBADINPUT);
                rejected_size++;
            } else {
                assert_int_equal(rc, 0);
                if (oh != want_h || ow != want_w)
                    fail_msg("%lldx%lld cap %.17g: %lldx%lld, reference %lldx%lld", h, w, cap,
                             (long long)oh, (long long)ow, want_h, want_w);
                assert_int_equal(oh % SAMPLING_FACTOR, 0);
                assert_int_equal(ow % SAMPLING_FACTOR, 0);
            }
        }
        cases++;
    }
    fclose(f);
    /* The table covers accepted and rejected clips and sizes. */
    assert_true(cases > 500);
    assert_true(rejected_count > 0);
    assert_true(rejected_size > 0);
}

/* torch.linspace(0, total-1, n).round() in float32, over a sweep that hits the .5 ties. */
static void
test_sampling__indices_follow_torch_linspace(void **state)
{
    char line[256];
    FILE *f = open_cases();
    int rows = 0;
    int64_t *idx = malloc(20000 * sizeof *idx);

    (void)state;
    assert_non_null(idx);
    while (fgets(line, sizeof line, f)) {
        long long total, n, sig, got = 0;
        if (sscanf(line, "linspace %lld %lld %lld", &total, &n, &sig) != 3)
            continue;
        sampling_frame_indices(total, n, idx);
        for (long long k = 0; k < n; k++)
            got += (k + 1) * idx[k];
        if (got != sig)
            fail_msg("linspace(0, %lld, %lld): signature %lld, torch %lld", total - 1, n, got, sig);
        rows++;
    }
    fclose(f);
    free(idx);
    assert_true(rows > 4000);
}

static void
test_sampling__indices_are_ordered_and_span_the_clip(void **state)
{
    int64_t idx[768];
    (void)state;
    for (int64_t total = 2; total < 3000; total += 7) {
        int64_t n = sampling_smart_nframes(total, 25.0, 2.0, 4, 768);
        assert_true(n >= 2 && n % 2 == 0 && n <= total);
        sampling_frame_indices(total, n, idx);
        assert_int_equal(idx[0], 0);
        assert_int_equal(idx[n - 1], total - 1);
        for (int64_t k = 1; k < n; k++)
            assert_true(idx[k] >= idx[k - 1]);
    }
}

static void
test_sampling__one_frame_and_bad_sizes_are_rejected(void **state)
{
    int64_t h, w;
    (void)state;
    assert_true(sampling_smart_nframes(1, 25.0, 2.0, 4, 768) < 0);
    assert_true(sampling_smart_nframes(0, 25.0, 2.0, 4, 768) < 0);
    assert_true(sampling_smart_nframes(10, 0.0, 2.0, 4, 768) < 0);
    assert_int_equal(sampling_smart_resize(10, 2001, 100352, 602112, &h, &w), SIEVE_EBADINPUT);
    assert_int_equal(sampling_smart_resize(0, 20, 100352, 602112, &h, &w), SIEVE_EBADINPUT);
    assert_int_equal(sampling_smart_resize(10, 2000, 100352, 602112, &h, &w), 0);
}

/* The per-frame cap falls as frames grow, never below 1.05 * min_pixels. */
static void
test_sampling__pixel_cap_follows_total_budget(void **state)
{
    (void)state;
    assert_true(sampling_video_max_pixels(602112, 100352, SAMPLING_VIDEO_TOTAL_PIXELS, 4) ==
                602112);
    assert_true(sampling_video_max_pixels(602112, 100352, SAMPLING_VIDEO_TOTAL_PIXELS, 768) ==
                SAMPLING_VIDEO_TOTAL_PIXELS / 768.0 * 2);
    assert_true(sampling_video_max_pixels(602112, 100352, 1000, 768) == 105369);
    assert_true(sampling_video_max_pixels(200000, 100352, SAMPLING_VIDEO_TOTAL_PIXELS, 4) ==
                200000);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sampling__cases_match_reference),
        cmocka_unit_test(test_sampling__indices_follow_torch_linspace),
        cmocka_unit_test(test_sampling__indices_are_ordered_and_span_the_clip),
        cmocka_unit_test(test_sampling__one_frame_and_bad_sizes_are_rejected),
        cmocka_unit_test(test_sampling__pixel_cap_follows_total_budget),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
