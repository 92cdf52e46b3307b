/*
 * test_encode_apply.c - `sieve apply encode` end to end: a media bundle written here (the
 * decode plugin's layout, from the encode fixtures) goes through the real host and bundle
 * I/O; the CLIP output must match the independent PyTorch reference, the builtin audio model
 * must give the same bytes twice, and a missing stream must fail as bad input by name.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/support/cli_test.h"
#include "base/bundle.h"

#define FIX SIEVE_FIXTURES "/encode/"

static char dir[] = "/tmp/sieve-encode-apply-XXXXXX";

static const char *
path_of(const char *name)
{
    return test_path(dir, name);
}

static int
setup(void **state)
{
    (void)state;
    return test_dir_make(dir);
}

static int
teardown(void **state)
{
    (void)state;
    return test_dir_remove(dir);
}

/* Writes the fixture inputs as a decode-style media bundle, with or without audio. */
static void
write_media(const char *file, int with_audio)
{
    struct bundle *in, *b = bundle_new();
    struct sieve_errbuf err;
    assert_int_equal(bundle_read(FIX "inputs.safetensors", &in, &err), 0);
    assert_int_equal(bundle_tensor_add_copy(b, NULL, bundle_tensor_get(in, "frames"), &err), 0);
    assert_int_equal(bundle_tensor_add_copy(b, NULL, bundle_tensor_get(in, "frame_pts"), &err), 0);
    if (with_audio)
        assert_int_equal(bundle_tensor_add_copy(b, NULL, bundle_tensor_get(in, "mel"), &err), 0);
    assert_int_equal(bundle_meta_set(b, "has_video", "true", &err), 0);
    assert_int_equal(bundle_meta_set(b, "has_audio", with_audio ? "true" : "false", &err), 0);
    test_bundle_write(b, file);
    bundle_free(in);
}

static void
apply_ok(const char *args)
{
    struct cli_result r;
    assert_int_equal(cli_run(&r, "", args), 0);
    if (r.status != 0)
        fail_msg("sieve %s: status %d, stderr: %s", args, r.status, r.err);
    cli_result_release(&r);
}

static void
test_encode_apply__clip_matches_reference(void **state)
{
    (void)state;
    char args[2048];
    write_media(path_of("media.safetensors"), 1);
    snprintf(args, sizeof args,
             "apply encode --in media=%s --set model=clip:%sclip_tiny.safetensors --set heads=2 "
             "--out %s",
             path_of("media.safetensors"), FIX, path_of("vis.safetensors"));
    apply_ok(args);

    struct bundle *out, *exp;
    struct sieve_errbuf err;
    assert_int_equal(bundle_read(path_of("vis.safetensors"), &out, &err), 0);
    assert_int_equal(bundle_read(FIX "expected.safetensors", &exp, &err), 0);
    const struct sieve_tensor *got = bundle_tensor_get(out, "tokens");
    const struct sieve_tensor *want = bundle_tensor_get(exp, "clip.tokens");
    assert_non_null(got);
    assert_int_equal(got->ndim, 3);
    assert_int_equal(got->nbytes, want->nbytes);
    const float *g = got->data, *w = want->data;
    size_t n = got->nbytes / 4;
    double scale = 0;
    for (size_t i = 0; i < n; i++)
        scale += fabs(w[i]) / (double)n;
    for (size_t i = 0; i < n; i++)
        assert_true(fabs((double)g[i] - w[i]) <= 1e-4 * (fabs(w[i]) + scale));
    const int32_t *grid = bundle_tensor_get(out, "grid")->data;
    assert_int_equal(grid[0], 2);
    assert_int_equal(grid[1], 4);
    assert_int_equal(grid[2], 4);
    assert_string_equal(bundle_meta_get(out, "modality"), "vision");
    assert_string_equal(bundle_meta_get(out, "importance"), "cls-attention");
    bundle_free(out);
    bundle_free(exp);
}

static void
test_encode_apply__builtin_audio_is_reproducible(void **state)
{
    (void)state;
    char args[2048];
    write_media(path_of("media.safetensors"), 1);
    for (int i = 0; i < 2; i++) {
        snprintf(args, sizeof args, "apply encode --in media=%s --set modality=audio --out %s",
                 path_of("media.safetensors"),
                 path_of(i ? "aud2.safetensors" : "aud1.safetensors"));
        apply_ok(args);
    }
    struct bundle *a, *b;
    struct sieve_errbuf err;
    assert_int_equal(bundle_read(path_of("aud1.safetensors"), &a, &err), 0);
    assert_int_equal(bundle_read(path_of("aud2.safetensors"), &b, &err), 0);
    const struct sieve_tensor *ta = bundle_tensor_get(a, "tokens"),
                              *tb = bundle_tensor_get(b, "tokens");
    /* 251 mel frames: chunks of 200 + 51 -> 100 + 26 encoder frames -> 63 tokens. */
    assert_int_equal(ta->shape[0], 63);
    assert_int_equal(ta->shape[1], 384);
    assert_int_equal(ta->nbytes, tb->nbytes);
    assert_memory_equal(ta->data, tb->data, ta->nbytes);
    assert_string_equal(bundle_meta_get(a, "tokens_per_second"), "25");
    bundle_free(a);
    bundle_free(b);
}

static void
test_encode_apply__missing_audio_fails_by_name(void **state)
{
    (void)state;
    char args[2048];
    struct cli_result r;
    write_media(path_of("silent.safetensors"), 0);
    snprintf(args, sizeof args,
             "apply encode --in media=%s --set modality=audio --sample-id clip7 --out %s",
             path_of("silent.safetensors"), path_of("never.safetensors"));
    assert_int_equal(cli_run(&r, "", args), 0);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "no audio stream in sample 'clip7'"));
    assert_non_null(strstr(r.err, "bad-input"));
    assert_int_not_equal(access(path_of("never.safetensors"), F_OK), 0);
    cli_result_release(&r);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encode_apply__clip_matches_reference),
        cmocka_unit_test(test_encode_apply__builtin_audio_is_reproducible),
        cmocka_unit_test(test_encode_apply__missing_audio_fails_by_name),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
