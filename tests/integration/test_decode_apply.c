/*
 * test_decode_apply.c - the decode plugin end to end through `sieve apply decode --media FILE
 * --out x.safetensors`: the real loader, parameter parsing, the forked runner and the
 * safetensors writer, on media made with the ffmpeg program; the bundle is read back with
 * base/bundle.h.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/bundle.h"
#include "tests/support/cli_test.h"

static char dir[256];

static int
sh(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    return system(cmd);
}

static int
setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/sieve-decode-apply-XXXXXX");
    if (test_dir_make(dir) < 0)
        return -1;
    /* 2 s of 25 fps video with B-frames and a stereo AAC track; and a file that is not media. */
    if (sh("ffmpeg -nostdin -v error -y -f lavfi -i testsrc=s=160x120:r=25:d=2 -f lavfi -i "
           "sine=f=440:d=2 -ac 2 -c:v libx264 -bf 2 -pix_fmt yuv420p -c:a aac -shortest "
           "'%s/clip.mp4'",
           dir) != 0)
        return -1;
    return sh("printf 'not a video' > '%s/junk.mp4'", dir) == 0 ? 0 : -1;
}

static int
teardown(void **state)
{
    (void)state;
    return test_dir_remove(dir);
}

static void
test_decode_apply__writes_the_qwen_layout(void **state)
{
    struct cli_result r;
    struct sieve_errbuf err;
    struct bundle *b = NULL;
    char args[1024], path[512];
    const struct sieve_tensor *frames, *mel, *audio;
    (void)state;

    snprintf(path, sizeof path, "%s/x.safetensors", dir);
    snprintf(args, sizeof args,
             "apply decode --media '%s/clip.mp4' --set fps=4 --set motion_vectors=true "
             "--out '%s'",
             dir, path);
    assert_int_equal(cli_run(&r, "", args), 0);
    if (r.status != 0)
        fail_msg("sieve apply: status %d: %s", r.status, r.err);
    cli_result_release(&r);
    assert_int_equal(bundle_read(path, &b, &err), 0);
    frames = bundle_tensor_get(b, "frames");
    assert_non_null(frames);
    assert_int_equal(frames->dtype, SIEVE_DTYPE_U8);
    assert_int_equal(frames->shape[0], 8); /* 2 s at 4 fps */
    assert_int_equal(frames->shape[1] % 28, 0);
    assert_int_equal(frames->shape[2] % 28, 0);
    assert_int_equal(frames->shape[3], 3);
    assert_non_null(bundle_tensor_get(b, "frame_pts"));
    assert_non_null(bundle_tensor_get(b, "frame_type"));
    assert_non_null(bundle_tensor_get(b, "motion"));
    audio = bundle_tensor_get(b, "audio");
    mel = bundle_tensor_get(b, "mel");
    assert_non_null(audio);
    assert_non_null(mel);
    assert_int_equal(mel->shape[0], 128);
    /* ceil(S/160): the frames Qwen2.5-Omni's feature_attention_mask keeps */
    assert_int_equal(mel->shape[1], (audio->shape[0] + 159) / 160);
    assert_string_equal(bundle_meta_get(b, "has_audio"), "1");
    assert_string_equal(bundle_meta_get(b, "has_video"), "1");
    assert_string_equal(bundle_meta_get(b, "source_fps"), "25");
    assert_non_null(strstr(bundle_meta_get(b, "decode_params"), "\"fps\": 4,"));
    bundle_free(b);
}

/* `threads` is left out of the task key, so the output must not depend on it: frame-threaded
 * decoding of a clip with B-frames gives the same frames, frame types, motion and metadata. */
static void
test_decode_apply__threads_do_not_change_the_output(void **state)
{
    struct cli_result r;
    char args[1024], path[2][512];
    const int threads[2] = {1, 4};
    (void)state;

    for (int i = 0; i < 2; i++) {
        snprintf(path[i], sizeof path[i], "%s/t%d.safetensors", dir, threads[i]);
        snprintf(args, sizeof args,
                 "apply decode --media '%s/clip.mp4' --set fps=8 --set motion_vectors=true "
                 "--set threads=%d --out '%s'",
                 dir, threads[i], path[i]);
        assert_int_equal(cli_run(&r, "", args), 0);
        if (r.status != 0)
            fail_msg("sieve apply: status %d: %s", r.status, r.err);
        cli_result_release(&r);
    }
    assert_true(test_same_file(path[0], path[1]));
}

/* Not media: the task fails as bad input, names the file, and writes nothing. */
static void
test_decode_apply__bad_media_fails_cleanly(void **state)
{
    struct cli_result r;
    char args[1024], path[512];
    (void)state;

    snprintf(path, sizeof path, "%s/y.safetensors", dir);
    snprintf(args, sizeof args, "apply decode --media '%s/junk.mp4' --out '%s'", dir, path);
    assert_int_equal(cli_run(&r, "", args), 0);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "bad-input"));
    assert_non_null(strstr(r.err, "junk.mp4"));
    cli_result_release(&r);
    assert_int_equal(access(path, F_OK), -1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_apply__writes_the_qwen_layout),
        cmocka_unit_test(test_decode_apply__bad_media_fails_cleanly),
        cmocka_unit_test(test_decode_apply__threads_do_not_change_the_output),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
