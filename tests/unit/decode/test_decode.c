/*
 * test_decode.c - the decode plugin through its ABI descriptor, with a small in-test host
 * (tensors and metadata in memory), so the plugin is checked as the worker will call it:
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

#include "tests/unit/decode/gen.h"

const struct sieve_plugin *sieve_plugin_entry(void);

/* ---- a host that keeps bundles in memory ---- */

#define MAX_ITEMS 32

struct sieve_bundle {
    struct sieve_tensor t[MAX_ITEMS];
    size_t n_t;
    char *key[MAX_ITEMS], *value[MAX_ITEMS];
    size_t n_m;
};

static int cancel_now;

static void
h_log(const struct sieve_ctx *ctx, int level, const char *fmt, ...)
{
    (void)ctx, (void)level, (void)fmt;
}

static void
h_progress(const struct sieve_ctx *ctx, double f)
{
    (void)ctx;
    if (!(f >= 0 && f <= 1))
        fail_msg("progress %g", f);
}

static int
h_cancelled(const struct sieve_ctx *ctx)
{
    (void)ctx;
    return cancel_now;
}

static size_t
h_tensor_count(const struct sieve_bundle *b)
{
    return b->n_t;
}

static const struct sieve_tensor *
h_tensor_at(const struct sieve_bundle *b, size_t i)
{
    return i < b->n_t ? &b->t[i] : NULL;
}

static const struct sieve_tensor *
h_tensor_get(const struct sieve_bundle *b, const char *name)
{
    for (size_t i = 0; i < b->n_t; i++)
        if (!strcmp(b->t[i].name, name))
            return &b->t[i];
    return NULL;
}

static int
h_tensor_new(struct sieve_bundle *b, const char *name, int32_t dtype, uint32_t ndim,
             const int64_t *shape, struct sieve_tensor **out)
{
    struct sieve_tensor *t;
    uint64_t n = 1;
    if (b->n_t == MAX_ITEMS || ndim > SIEVE_MAX_DIMS || !sieve_dtype_size(dtype) ||
        h_tensor_get(b, name))
        return SIEVE_EINVAL;
    t = &b->t[b->n_t++];
    memset(t, 0, sizeof *t);
    t->name = strdup(name);
    t->dtype = dtype;
    t->ndim = ndim;
    for (uint32_t d = 0; d < ndim; d++) {
        if (shape[d] < 0)
            return SIEVE_EINVAL;
        t->shape[d] = shape[d];
        n *= (uint64_t)shape[d];
    }
    t->nbytes = n * sieve_dtype_size(dtype);
    t->data = calloc(1, t->nbytes ? t->nbytes : 1);
    *out = t;
    return t->data ? 0 : SIEVE_ENOMEM;
}

static const char *
h_meta_get(const struct sieve_bundle *b, const char *key)
{
    for (size_t i = 0; i < b->n_m; i++)
        if (!strcmp(b->key[i], key))
            return b->value[i];
    return NULL;
}

static int
h_meta_set(struct sieve_bundle *b, const char *key, const char *value)
{
    for (size_t i = 0; i < b->n_m; i++)
        if (!strcmp(b->key[i], key)) {
            free(b->value[i]);
            b->value[i] = strdup(value);
            return 0;
        }
    if (b->n_m == MAX_ITEMS)
        return SIEVE_ENOMEM;
    b->key[b->n_m] = strdup(key);
    b->value[b->n_m++] = strdup(value);
    return 0;
}

static size_t
h_meta_count(const struct sieve_bundle *b)
{
    return b->n_m;
}

static int
h_meta_at(const struct sieve_bundle *b, size_t i, const char **k, const char **v)
{
    if (i >= b->n_m)
        return SIEVE_ENOENT;
    *k = b->key[i];
    *v = b->value[i];
    return 0;
}

static const struct sieve_host host = {
    .abi_major = SIEVE_ABI_MAJOR,
    .abi_minor = SIEVE_ABI_MINOR,
    .struct_size = sizeof(struct sieve_host),
    .log = h_log,
    .progress = h_progress,
    .cancelled = h_cancelled,
    .tensor_count = h_tensor_count,
    .tensor_at = h_tensor_at,
    .tensor_get = h_tensor_get,
    .tensor_new = h_tensor_new,
    .meta_get = h_meta_get,
    .meta_set = h_meta_set,
    .meta_count = h_meta_count,
    .meta_at = h_meta_at,
};

static void
bundle_release(struct sieve_bundle *b)
{
    for (size_t i = 0; i < b->n_t; i++) {
        free((char *)b->t[i].name);
        free(b->t[i].data);
    }
    for (size_t i = 0; i < b->n_m; i++) {
        free(b->key[i]);
        free(b->value[i]);
    }
    memset(b, 0, sizeof *b);
}

/* ---- parameters: the table's defaults, with overrides "name=value" ---- */

static void
parse_value(const struct sieve_param *p, const char *text, struct sieve_value *v)
{
    memset(v, 0, sizeof *v);
    v->type = p->type;
    switch (p->type) {
    case SIEVE_PARAM_INT:
        v->i = strtoll(text, NULL, 10);
        v->f = (double)v->i;
        break;
    case SIEVE_PARAM_FLOAT:
        v->f = strtod(text, NULL);
        break;
    case SIEVE_PARAM_BOOL:
        v->i = !strcmp(text, "true");
        break;
    case SIEVE_PARAM_ENUM:
        v->i = -1;
        for (int64_t c = 0; p->choices[c]; c++)
            if (!strcmp(p->choices[c], text)) {
                v->i = c;
                v->s = p->choices[c];
            }
        assert_true(v->i >= 0);
        break;
    default:
        fail_msg("unexpected parameter type %u", p->type);
    }
}

static struct sieve_value values[32];

/* Fills `values` from the defaults, then applies NULL-terminated "name=value" overrides. */
static void
params_with(const char *const *overrides)
{
    const struct sieve_plugin *d = sieve_plugin_entry();
    for (uint32_t i = 0; i < d->n_params; i++)
        parse_value(&d->params[i], d->params[i].def, &values[i]);
    for (; overrides && *overrides; overrides++) {
        const char *eq = strchr(*overrides, '=');
        int found = 0;
        for (uint32_t i = 0; i < d->n_params; i++)
            if (strlen(d->params[i].name) == (size_t)(eq - *overrides) &&
                !strncmp(d->params[i].name, *overrides, (size_t)(eq - *overrides))) {
                parse_value(&d->params[i], eq + 1, &values[i]);
                found = 1;
            }
        assert_true(found);
    }
}

/* Runs the plugin on `media` with overrides; the output bundle is left in *out. */
static int
apply(const char *media, const char *const *overrides, struct sieve_bundle *out,
      struct sieve_errbuf *err)
{
    const struct sieve_plugin *d = sieve_plugin_entry();
    struct sieve_sample sample = {.id = "clip", .media = media};
    struct sieve_ctx ctx = {.struct_size = sizeof ctx,
                            .host = &host,
                            .task_id = "t1",
                            .device = "cpu",
                            .device_index = -1,
                            .n_samples = 1,
                            .samples = &sample};
    struct sieve_bundle *outs[1] = {out};
    void *state = NULL;
    int rc;

    memset(out, 0, sizeof *out);
    err->msg[0] = '\0';
    params_with(overrides);
    rc = d->init(&host, values, &state, err);
    if (rc < 0)
        return rc;
    rc = d->process(state, &ctx, NULL, outs, err);
    d->free(state);
    return rc;
}

static const struct sieve_tensor *
need(const struct sieve_bundle *b, const char *name, int32_t dtype, uint32_t ndim)
{
    const struct sieve_tensor *t = h_tensor_get(b, name);
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
        parse_value(p, p->def, &v);
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
    struct sieve_bundle b;
    struct sieve_errbuf err;
    const struct sieve_tensor *fr, *pts, *ty, *au, *mel;
    float lo = INFINITY, hi = -INFINITY;
    (void)state;

    assert_int_equal(apply(clip, NULL, &b, &err), 0);
    fr = need(&b, "frames", SIEVE_DTYPE_U8, 4);
    pts = need(&b, "frame_pts", SIEVE_DTYPE_F64, 1);
    ty = need(&b, "frame_type", SIEVE_DTYPE_U8, 1);
    au = need(&b, "audio", SIEVE_DTYPE_F32, 1);
    mel = need(&b, "mel", SIEVE_DTYPE_F32, 2);
    assert_null(h_tensor_get(&b, "motion"));
    assert_int_equal(fr->shape[0], 6); /* 90 frames, 3 s at 2 fps */
    assert_int_equal(fr->shape[1] % 28, 0);
    assert_int_equal(fr->shape[2] % 28, 0);
    assert_int_equal(fr->shape[3], 3);
    assert_int_equal(pts->shape[0], 6);
    assert_int_equal(ty->shape[0], 6);
    assert_int_equal(((const uint8_t *)ty->data)[0], 'I');
    assert_true(llabs(au->shape[0] - 48000) < 1100);
    assert_int_equal(mel->shape[0], 128);
    assert_int_equal(mel->shape[1], au->shape[0] / 160);
    for (int64_t i = 0; i < mel->shape[0] * mel->shape[1]; i++) {
        float v = ((const float *)mel->data)[i];
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
    }
    assert_true(hi - lo <= 2.0f + 1e-5f); /* the floor at max - 8 in log10, / 4 */
    assert_string_equal(h_meta_get(&b, "has_video"), "1");
    assert_string_equal(h_meta_get(&b, "has_audio"), "1");
    assert_string_equal(h_meta_get(&b, "source_fps"), "30");
    assert_string_equal(h_meta_get(&b, "rotation"), "0");
    assert_string_equal(h_meta_get(&b, "src_width"), "320");
    assert_string_equal(h_meta_get(&b, "audio_codec"), "aac");
    assert_string_equal(h_meta_get(&b, "frame_selection"), "nearest-pts");
    assert_string_equal(h_meta_get(&b, "mel_bins"), "128");
    assert_non_null(h_meta_get(&b, "mel_padding"));
    assert_non_null(strstr(h_meta_get(&b, "decode_params"), "\"fps\": 2,"));
    bundle_release(&b);
}

static void
test_decode__switches_add_and_remove_tensors(void **state)
{
    static const char *const with[] = {"motion_vectors=true", "frame_types=false", "mel_bins=80",
                                       NULL};
    static const char *const no_audio[] = {"audio=false", NULL};
    struct sieve_bundle b;
    struct sieve_errbuf err;
    const struct sieve_tensor *fr, *mo;
    (void)state;

    assert_int_equal(apply(clip, with, &b, &err), 0);
    fr = need(&b, "frames", SIEVE_DTYPE_U8, 4);
    mo = need(&b, "motion", SIEVE_DTYPE_F32, 3);
    assert_int_equal(mo->shape[0], fr->shape[0]);
    assert_int_equal(mo->shape[1], fr->shape[1] / 28);
    assert_int_equal(mo->shape[2], fr->shape[2] / 28);
    assert_null(h_tensor_get(&b, "frame_type"));
    assert_int_equal(need(&b, "mel", SIEVE_DTYPE_F32, 2)->shape[0], 80);
    bundle_release(&b);

    {
        /* Another resize filter: the same shape, other pixels. */
        static const char *const area[] = {"resize=area", "audio=false", NULL};
        struct sieve_bundle c, d;
        const struct sieve_tensor *x, *y;
        assert_int_equal(apply(clip, area, &c, &err), 0);
        assert_int_equal(apply(clip, NULL, &d, &err), 0);
        x = need(&c, "frames", SIEVE_DTYPE_U8, 4);
        y = need(&d, "frames", SIEVE_DTYPE_U8, 4);
        assert_int_equal(x->nbytes, y->nbytes);
        assert_true(memcmp(x->data, y->data, x->nbytes) != 0);
        bundle_release(&c);
        bundle_release(&d);
    }

    assert_int_equal(apply(clip, no_audio, &b, &err), 0);
    assert_null(h_tensor_get(&b, "audio"));
    assert_null(h_tensor_get(&b, "mel"));
    assert_string_equal(h_meta_get(&b, "has_audio"), "0");
    assert_string_equal(h_meta_get(&b, "audio_stream"), "1");
    assert_string_equal(h_meta_get(&b, "audio_missing"), "audio disabled by parameter");
    bundle_release(&b);
}

/* A video without sound says so, so that an audio node can refuse it clearly. */
static void
test_decode__missing_audio_is_stated(void **state)
{
    struct sieve_bundle b;
    struct sieve_errbuf err;
    (void)state;

    assert_int_equal(apply(video_only, NULL, &b, &err), 0);
    need(&b, "frames", SIEVE_DTYPE_U8, 4);
    assert_null(h_tensor_get(&b, "audio"));
    assert_null(h_tensor_get(&b, "mel"));
    assert_string_equal(h_meta_get(&b, "has_audio"), "0");
    assert_string_equal(h_meta_get(&b, "audio_missing"), "no audio stream");
    assert_string_equal(h_meta_get(&b, "audio_codec"), "none");
    bundle_release(&b);
}

static void
test_decode__missing_video_is_stated(void **state)
{
    struct sieve_bundle b;
    struct sieve_errbuf err;
    (void)state;

    assert_int_equal(apply(audio_only, NULL, &b, &err), 0);
    assert_null(h_tensor_get(&b, "frames"));
    assert_null(h_tensor_get(&b, "frame_pts"));
    need(&b, "audio", SIEVE_DTYPE_F32, 1);
    need(&b, "mel", SIEVE_DTYPE_F32, 2);
    assert_string_equal(h_meta_get(&b, "has_video"), "0");
    assert_string_equal(h_meta_get(&b, "video_missing"), "no video stream");
    bundle_release(&b);
}

static void
test_decode__bad_media_is_bad_input(void **state)
{
    struct sieve_bundle b;
    struct sieve_errbuf err;
    const char *junk = gen_write("junk.mp4", "not a video at all", 18);
    (void)state;

    assert_int_equal(apply(junk, NULL, &b, &err), SIEVE_EBADINPUT);
    assert_non_null(strstr(err.msg, "junk.mp4"));
    bundle_release(&b);
}

static void
test_decode__cancel_stops_the_task(void **state)
{
    struct sieve_bundle b;
    struct sieve_errbuf err;
    (void)state;

    cancel_now = 1;
    assert_int_equal(apply(clip, NULL, &b, &err), SIEVE_ECANCELED);
    cancel_now = 0;
    bundle_release(&b);
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
        cmocka_unit_test(test_decode__cancel_stops_the_task),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
