/*
 * test_mel.c - the Whisper log-mel against an independent float64 numpy implementation
 * (tests/reference/mel_np.py, fixtures in tests/fixtures/decode/).
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

#include "plugins/decode/mel.h"

#define DIR SIEVE_FIXTURES "/decode/"

static float *
load_f32(const char *name, const char *suffix, int64_t count)
{
    char path[512];
    FILE *f;
    float *x = malloc((size_t)(count ? count : 1) * sizeof *x);
    size_t got;

    snprintf(path, sizeof path, DIR "%s%s", name, suffix);
    f = fopen(path, "rb");
    assert_non_null(f);
    assert_non_null(x);
    got = fread(x, sizeof *x, (size_t)count, f);
    assert_int_equal(got, (size_t)count);
    assert_int_equal(fgetc(f), EOF); /* the file holds exactly that many values */
    fclose(f);
    return x;
}

/* Runs one fixture case; returns the largest absolute difference. */
static double
run_case(const char *name)
{
    char line[256], cname[64], sig[64];
    long long n, frames;
    int rate, bands, found = 0;
    FILE *list = fopen(DIR "mel_cases.txt", "r");
    double worst = 0;

    assert_non_null(list);
    while (fgets(line, sizeof line, list)) {
        if (sscanf(line, "%63s %63s %lld %d %d %lld", cname, sig, &n, &rate, &bands, &frames) ==
                6 &&
            strcmp(cname, name) == 0) {
            found = 1;
            break;
        }
    }
    fclose(list);
    assert_true(found);
    print_message("%s: %lld samples, %d bands, %lld frames\n", name, n, bands, frames);
    {
        struct mel_bank *mb;
        float *x = load_f32(sig, ".in.f32", n);
        float *want = load_f32(name, ".mel.f32", bands * frames);
        float *got = malloc((size_t)(bands * frames + 1) * sizeof *got);
        assert_non_null(got);
        assert_int_equal(mel_bank_new(rate, bands, &mb), 0);
        assert_int_equal(mel_bank_bands(mb), bands);
        assert_int_equal(mel_frame_count(n), frames);
        assert_int_equal(mel_compute(mb, x, n, got), frames);
        for (long long i = 0; i < bands * frames; i++) {
            double d = fabs((double)got[i] - want[i]);
            if (d > worst)
                worst = d;
        }
        print_message("%s: max |C - numpy| = %.3g\n", name, worst);
        mel_bank_free(mb);
        free(x);
        free(want);
        free(got);
    }
    return worst;
}

static void
test_mel__sweep_matches_numpy(void **state)
{
    double d = run_case("sweep");
    (void)state;
    if (d > 1e-4)
        fail_msg("sweep: max abs difference %g", d);
}

static void
test_mel__80_bands_match_numpy(void **state)
{
    double d = run_case("sweep80");
    (void)state;
    if (d > 1e-4)
        fail_msg("sweep80: max abs difference %g", d);
}

static void
test_mel__silence_matches_numpy(void **state)
{
    double d = run_case("silence");
    (void)state;
    if (d > 1e-4)
        fail_msg("silence: max abs difference %g", d);
}

static void
test_mel__noise_matches_numpy(void **state)
{
    double d = run_case("noise");
    (void)state;
    if (d > 1e-4)
        fail_msg("noise: max abs difference %g", d);
}

/* 40,100 samples, not a multiple of 160: the frame Whisper drops is kept (251 frames). */
static void
test_mel__partial_last_hop_matches_numpy(void **state)
{
    double d = run_case("odd");
    (void)state;
    if (d > 1e-4)
        fail_msg("odd: max abs difference %g", d);
}

/* Fewer samples than the reflect padding: reflection repeats as numpy's does. */
static void
test_mel__shorter_than_padding_matches_numpy(void **state)
{
    double d = run_case("short");
    (void)state;
    if (d > 1e-4)
        fail_msg("short: max abs difference %g", d);
}

/* Each Slaney filter has area-normalised height 2/(f[i+2]-f[i]) and sums of rows are positive. */
static void
test_mel__filterbank_rows_are_triangles(void **state)
{
    struct mel_bank *mb;
    (void)state;
    assert_int_equal(mel_bank_new(16000, 128, &mb), 0);
    for (int b = 0; b < 128; b++) {
        const double *row = mel_bank_filters(mb) + (size_t)b * MEL_N_BINS;
        int peaks = 0, nonzero = 0;
        for (int k = 0; k < MEL_N_BINS; k++) {
            assert_true(row[k] >= 0);
            nonzero += row[k] > 0;
            if (k > 0 && k + 1 < MEL_N_BINS && row[k] > row[k - 1] && row[k] >= row[k + 1])
                peaks++;
        }
        assert_true(nonzero >= 1);
        assert_true(peaks <= 1);
    }
    mel_bank_free(mb);
}

/*
 * The frame count is ceil(n / 160), what Qwen2.5-Omni's feature_attention_mask keeps: the
 * counts quoted by the comparison with the official extractor (19,744 -> 124, 40,100 -> 251;
 * floor gave 123 and 250, one audio token short at 40,100).
 */
static void
test_mel__frame_count_is_qwen_mask_count(void **state)
{
    struct mel_bank *mb;
    float x[160] = {0}, out[80 * 2];
    (void)state;
    assert_int_equal(mel_bank_new(16000, 80, &mb), 0);
    assert_int_equal(mel_frame_count(0), 0);
    assert_int_equal(mel_compute(mb, x, 0, out), 0);
    assert_int_equal(mel_frame_count(1), 1);
    assert_int_equal(mel_frame_count(159), 1);
    assert_int_equal(mel_compute(mb, x, 159, out), 1);
    assert_int_equal(mel_frame_count(160), 1);
    assert_int_equal(mel_frame_count(161), 2);
    assert_int_equal(mel_frame_count(19744), 124);
    assert_int_equal(mel_frame_count(40100), 251);
    assert_int_equal(mel_frame_count(480000), 3000);
    mel_bank_free(mb);
}

static void
test_mel__rejects_bad_banks(void **state)
{
    struct mel_bank *mb = (struct mel_bank *)1;
    (void)state;
    assert_int_equal(mel_bank_new(0, 128, &mb), SIEVE_EINVAL);
    assert_null(mb);
    assert_int_equal(mel_bank_new(16000, 0, &mb), SIEVE_EINVAL);
    mel_bank_free(NULL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mel__sweep_matches_numpy),
        cmocka_unit_test(test_mel__80_bands_match_numpy),
        cmocka_unit_test(test_mel__silence_matches_numpy),
        cmocka_unit_test(test_mel__noise_matches_numpy),
        cmocka_unit_test(test_mel__partial_last_hop_matches_numpy),
        cmocka_unit_test(test_mel__shorter_than_padding_matches_numpy),
        cmocka_unit_test(test_mel__filterbank_rows_are_triangles),
        cmocka_unit_test(test_mel__frame_count_is_qwen_mask_count),
        cmocka_unit_test(test_mel__rejects_bad_banks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
