/*
 * test_decode.c - the decode plugin through its ABI descriptor, with the in-memory test host
 * (tests/support/mock_host.h), so the plugin is checked as the worker will call it:
 * parameter table, init, process, the tensors and metadata of the output bundle, errors.
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

#include "tests/support/mock_host.h"
#include "tests/unit/decode/gen.h"

const struct sieve_plugin *sieve_plugin_entry(void);

/*
 * Runs the plugin on `media` with NULL-terminated "name=value" overrides; the output bundle is
 * left in *out (free with mock_bundle_free).
 */
static int
apply(const char *media, const char *const *overrides, struct sieve_bundle **out,
      struct sieve_errbuf *err)
{
    struct sieve_sample sample = {.id = "clip", .media = media};
    struct sieve_ctx ctx = mock_ctx(&sample, 1);
    char text[8][64];
    const char *kv[2 * 8 + 1];
    size_t n = 0;

    for (; overrides && *overrides; overrides++, n++) {
        assert_true(n < 8 && strlen(*overrides) < sizeof text[n]);
        strcpy(text[n], *overrides);
        char *eq = strchr(text[n], '=');
        assert_non_null(eq);
        *eq = '\0';
        kv[2 * n] = text[n];
        kv[2 * n + 1] = eq + 1;
    }
    kv[2 * n] = NULL;
    *out = mock_bundle_new();
    err->msg[0] = '\0';
    return mock_process(sieve_plugin_entry(), kv, &ctx, NULL, (struct sieve_bundle *[]){*out}, err);
}

static const struct sieve_tensor *
need(const struct sieve_bundle *b, const char *name, int32_t dtype, uint32_t ndim)
{
    const struct sieve_tensor *t = mock_host()->tensor_get(b, name);
    if (!t)
        fail_msg("no tensor '%s'", name);
    assert_int_equal(t->dtype, dtype);
    assert_int_equal(t->ndim, ndim);
    return t;
}

static const char *clip, *video_only, *audio_only;

static int
setup(void **state)
{
    const char *venc;
    (void)state;
    if (gen_init() < 0)
        return -1;
    venc = gen_have_encoder("libx264") ? "libx264" : "mpeg4";
    clip = gen_media("clip.mp4",
                     "-f lavfi -i \"testsrc=s=320x180:r=30:d=3\" -f lavfi -i "
                     "\"sine=f=300:d=3:sample_rate=48000\" -c:v %s -bf 2 -pix_fmt yuv420p "
                     "-c:a aac -shortest",
                     venc);
    video_only = gen_media("video.mp4",
                           "-f lavfi -i testsrc=s=160x120:r=25:d=1 -c:v %s "
                           "-pix_fmt yuv420p",
                           venc);
    audio_only = gen_media("audio.m4a", "-f lavfi -i sine=f=500:d=1.25 -c:a aac");
    return clip && video_only && audio_only ? 0 : -1;
}

static int
teardown(void **state)
{
    (void)state;
    gen_cleanup();
    return 0;
}

static void
test_decode__descriptor_is_well_formed(void **state)
{
    const struct sieve_plugin *d = sieve_plugin_entry();
    (void)state;
    assert_int_equal(d->abi_major, SIEVE_ABI_MAJOR);
    assert_int_equal(d->struct_size, sizeof(struct sieve_plugin));
    assert_string_equal(d->name, "decode");
    assert_int_equal(d->n_inputs, 0);
    assert_int_equal(d->n_outputs, 1);
    assert_string_equal(d->outputs[0].name, "out");
    for (uint32_t i = 0; i < d->n_params; i++) {
        const struct sieve_param *p = &d->params[i];
        struct sieve_value v;
        assert_non_null(p->def);
        assert_int_equal(mock_param_parse(p, p->def, &v), 0);
        if (p->flags & SIEVE_PARAM_HAS_MIN)
            assert_true((p->type == SIEVE_PARAM_INT ? (double)v.i : v.f) >= p->min);
        if (p->flags & SIEVE_PARAM_HAS_MAX)
            assert_true((p->type == SIEVE_PARAM_INT ? (double)v.i : v.f) <= p->max);
    }
}

/* Defaults: every tensor of the layout, with consistent shapes, and the metadata. */
static void
test_decode__clip_gives_qwen_layout(void **state)
{
    struct sieve_bundle *b;
    struct sieve_errbuf err;
    const struct sieve_tensor *fr, *pts, *ty, *au, *mel;
    float lo = INFINITY, hi = -INFINITY;
    (void)state;

    assert_int_equal(apply(clip, NULL, &b, &err), 0);
    fr = need(b, "frames", SIEVE_DTYPE_U8, 4);
    pts = need(b, "frame_pts", SIEVE_DTYPE_F64, 1);
    ty = need(b, "frame_type", SIEVE_DTYPE_U8, 1);
    au = need(b, "audio", SIEVE_DTYPE_F32, 1);
    mel = need(b, "mel", SIEVE_DTYPE_F32, 2);
    assert_null(mock_host()->tensor_get(b, "motion"));
    assert_int_equal(fr->shape[0], 6); /* 90 frames, 3 s at 2 fps */
    assert_int_equal(fr->shape[1] % 28, 0);
    assert_int_equal(fr->shape[2] % 28, 0);
    assert_int_equal(fr->shape[3], 3);
    assert_int_equal(pts->shape[0], 6);
    assert_int_equal(ty->shape[0], 6);
    assert_int_equal(((const uint8_t *)ty->data)[0], 'I');
    assert_true(llabs(au->shape[0] - 48000) < 1100);
    assert_int_equal(mel->shape[0], 128);
    assert_int_equal(mel->shape[1], (au->shape[0] + 159) / 160);
    for (int64_t i = 0; i < mel->shape[0] * mel->shape[1]; i++) {
        float v = ((const float *)mel->data)[i];
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
    }
    assert_true(hi - lo <= 2.0f + 1e-5f); /* the floor at max - 8 in log10, / 4 */
    assert_string_equal(mock_host()->meta_get(b, "has_video"), "1");
    assert_string_equal(mock_host()->meta_get(b, "has_audio"), "1");
    assert_string_equal(mock_host()->meta_get(b, "source_fps"), "30");
    assert_string_equal(mock_host()->meta_get(b, "rotation"), "0");
    assert_string_equal(mock_host()->meta_get(b, "src_width"), "320");
    assert_string_equal(mock_host()->meta_get(b, "audio_codec"), "aac");
    assert_string_equal(mock_host()->meta_get(b, "frame_selection"), "nearest-pts");
    assert_string_equal(mock_host()->meta_get(b, "mel_bins"), "128");
    assert_non_null(mock_host()->meta_get(b, "mel_padding"));
    assert_non_null(strstr(mock_host()->meta_get(b, "decode_params"), "\"fps\": 2,"));
    mock_bundle_free(b);
}

static void
test_decode__switches_add_and_remove_tensors(void **state)
{
    static const char *const with[] = {"motion_vectors=true", "frame_types=false", "mel_bins=80",
                                       NULL};
    static const char *const no_audio[] = {"audio=false", NULL};
    struct sieve_bundle *b;
    struct sieve_errbuf err;
    const struct sieve_tensor *fr, *mo;
    (void)state;

    assert_int_equal(apply(clip, with, &b, &err), 0);
    fr = need(b, "frames", SIEVE_DTYPE_U8, 4);
    mo = need(b, "motion", SIEVE_DTYPE_F32, 3);
    assert_int_equal(mo->shape[0], fr->shape[0]);
    assert_int_equal(mo->shape[1], fr->shape[1] / 28);
    assert_int_equal(mo->shape[2], fr->shape[2] / 28);
    assert_null(mock_host()->tensor_get(b, "frame_type"));
    assert_int_equal(need(b, "mel", SIEVE_DTYPE_F32, 2)->shape[0], 80);
    mock_bundle_free(b);

    {
        /* Another resize filter: the same shape, other pixels. */
        static const char *const area[] = {"resize=area", "audio=false", NULL};
        struct sieve_bundle *c, *d;
        const struct sieve_tensor *x, *y;
        assert_int_equal(apply(clip, area, &c, &err), 0);
        assert_int_equal(apply(clip, NULL, &d, &err), 0);
        x = need(c, "frames", SIEVE_DTYPE_U8, 4);
        y = need(d, "frames", SIEVE_DTYPE_U8, 4);
        assert_int_equal(x->nbytes, y->nbytes);
        assert_true(memcmp(x->data, y->data, x->nbytes) != 0);
        mock_bundle_free(c);
        mock_bundle_free(d);
    }

    assert_int_equal(apply(clip, no_audio, &b, &err), 0);
    assert_null(mock_host()->tensor_get(b, "audio"));
    assert_null(mock_host()->tensor_get(b, "mel"));
    assert_string_equal(mock_host()->meta_get(b, "has_audio"), "0");
    assert_string_equal(mock_host()->meta_get(b, "audio_stream"), "1");
    assert_string_equal(mock_host()->meta_get(b, "audio_missing"), "audio disabled by parameter");
    mock_bundle_free(b);
}

/* A video without sound says so, so that an audio node can refuse it clearly. */
static void
test_decode__missing_audio_is_stated(void **state)
{
    struct sieve_bundle *b;
    struct sieve_errbuf err;
    (void)state;

    assert_int_equal(apply(video_only, NULL, &b, &err), 0);
    need(b, "frames", SIEVE_DTYPE_U8, 4);
    assert_null(mock_host()->tensor_get(b, "audio"));
    assert_null(mock_host()->tensor_get(b, "mel"));
    assert_string_equal(mock_host()->meta_get(b, "has_audio"), "0");
    assert_string_equal(mock_host()->meta_get(b, "audio_missing"), "no audio stream");
    assert_string_equal(mock_host()->meta_get(b, "audio_codec"), "none");
    mock_bundle_free(b);
}

static void
test_decode__missing_video_is_stated(void **state)
{
    struct sieve_bundle *b;
    struct sieve_errbuf err;
    (void)state;

    assert_int_equal(apply(audio_only, NULL, &b, &err), 0);
    assert_null(mock_host()->tensor_get(b, "frames"));
    assert_null(mock_host()->tensor_get(b, "frame_pts"));
    need(b, "audio", SIEVE_DTYPE_F32, 1);
    need(b, "mel", SIEVE_DTYPE_F32, 2);
    assert_string_equal(mock_host()->meta_get(b, "has_video"), "0");
    assert_string_equal(mock_host()->meta_get(b, "video_missing"), "no video stream");
    mock_bundle_free(b);
}

static void
test_decode__bad_media_is_bad_input(void **state)
{
    struct sieve_bundle *b;
    struct sieve_errbuf err;
    const char *junk = gen_write("junk.mp4", "not a video at all", 18);
    (void)state;

    assert_int_equal(apply(junk, NULL, &b, &err), SIEVE_EBADINPUT);
    assert_non_null(strstr(err.msg, "junk.mp4"));
    mock_bundle_free(b);
}

/* Media longer than max_duration (default an hour, not in the key) is refused rather than
 * decoded into gigabytes; an explicit duration reads a part of it as before. */
static void
test_decode__longer_than_max_duration_is_refused(void **state)
{
    struct sieve_bundle *b;
    struct sieve_errbuf err;
    const struct sieve_plugin *d = sieve_plugin_entry();
    (void)state;

    int found = 0;
    for (uint32_t i = 0; i < d->n_params; i++)
        if (!strcmp(d->params[i].name, "max_duration")) {
            assert_string_equal(d->params[i].def, "3600");
            assert_true(d->params[i].flags & SIEVE_PARAM_NO_KEY);
            found = 1;
        }
    assert_true(found);
    assert_int_equal(apply(clip, (const char *[]){"max_duration=1", NULL}, &b, &err),
                     SIEVE_EBADINPUT);
    assert_non_null(strstr(err.msg, "more than max_duration 1 s"));
    mock_bundle_free(b);
    assert_int_equal(
        apply(clip, (const char *[]){"max_duration=1", "duration=0.5", NULL}, &b, &err), 0);
    need(b, "frames", SIEVE_DTYPE_U8, 4);
    mock_bundle_free(b);
    assert_int_equal(apply(clip, NULL, &b, &err), 0);
    mock_bundle_free(b);
}

static void
test_decode__cancel_stops_the_task(void **state)
{
    struct sieve_bundle *b;
    struct sieve_errbuf err;
    (void)state;

    mock_cancel = 1;
    assert_int_equal(apply(clip, NULL, &b, &err), SIEVE_ECANCELED);
    mock_cancel = 0;
    mock_bundle_free(b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode__descriptor_is_well_formed),
        cmocka_unit_test(test_decode__clip_gives_qwen_layout),
        cmocka_unit_test(test_decode__switches_add_and_remove_tensors),
        cmocka_unit_test(test_decode__missing_audio_is_stated),
        cmocka_unit_test(test_decode__missing_video_is_stated),
        cmocka_unit_test(test_decode__bad_media_is_bad_input),
        cmocka_unit_test(test_decode__longer_than_max_duration_is_refused),
        cmocka_unit_test(test_decode__cancel_stops_the_task),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
