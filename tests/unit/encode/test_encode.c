/*
 * test_encode.c - the encode plugin, loaded from build/plugins/encode.so through a mock host.
 *
 * Golden outputs come from tests/reference/encode_ref.py (an independent PyTorch model, run
 * once; fixtures in tests/fixtures/encode/). The plugin must match them within 1e-4 relative
 * (|a - b| <= 1e-4 * (|b| + mean |b|)). The fixtures are read with the plugin's own safetensors
 * reader (st.c), which the error tests also use to write broken weight files.
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

#include "tests/support/mock_host.h"
#include "plugins/encode/st.h"

#define FIX SIEVE_FIXTURES "/encode/"
#define BUILTIN_VISION_HASH 0xe924f228573d35e3ull

static struct mock_plugin plugin;
static struct st_file *inputs, *expected, *expected_keys;

static int
setup(void **unused)
{
    (void)unused;
    struct sieve_errbuf err = {{0}};
    if (mock_plugin_open(&plugin, SIEVE_BUILD_PLUGIN_DIR "/encode.so") < 0)
        return -1;
    if (st_open(FIX "inputs.safetensors", &inputs, &err) < 0 ||
        st_open(FIX "expected.safetensors", &expected, &err) < 0 ||
        st_open(FIX "expected_keys.safetensors", &expected_keys, &err) < 0) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    return 0;
}

static int
teardown(void **unused)
{
    (void)unused;
    st_close(inputs);
    st_close(expected);
    st_close(expected_keys);
    mock_plugin_close(&plugin);
    return 0;
}

/* Copies a fixture tensor (any dtype) into a bundle. */
static void
add_input(struct sieve_bundle *b, const char *name, int32_t dtype)
{
    const struct st_tensor *t = st_find(inputs, name);
    assert_non_null(t);
    assert_non_null(mock_tensor_add(b, name, dtype, t->ndim, t->shape, inputs->data + t->begin));
}

static struct sieve_bundle *
media(int video, int audio)
{
    struct sieve_bundle *b = mock_bundle_new();
    if (video) {
        add_input(b, "frames", SIEVE_DTYPE_U8);
        add_input(b, "frame_pts", SIEVE_DTYPE_F64);
    }
    if (audio)
        add_input(b, "mel", SIEVE_DTYPE_F32);
    mock_host()->meta_set(b, "has_video", video ? "true" : "false");
    mock_host()->meta_set(b, "has_audio", audio ? "true" : "false");
    return b;
}

/* Asserts that output tensor `name` matches tensor `key` of `file` within 1e-4 relative. */
static void
assert_golden_in(struct st_file *file, const struct sieve_bundle *out, const char *name,
                 const char *key)
{
    const struct sieve_tensor *t = mock_host()->tensor_get(out, name);
    assert_non_null(t);
    assert_int_equal(t->dtype, SIEVE_DTYPE_F32);
    int64_t dims[3] = {-1, -1, -1};
    const struct st_tensor *e = st_find(file, key);
    assert_non_null(e);
    float *want;
    struct sieve_errbuf err;
    assert_int_equal(st_load(file, key, e->ndim, dims, &want, &err), 0);
    assert_int_equal(t->ndim, e->ndim);
    for (uint32_t d = 0; d < e->ndim; d++)
        assert_int_equal(t->shape[d], e->shape[d]);
    size_t n = t->nbytes / 4;
    const float *got = t->data;
    double scale = 0;
    for (size_t i = 0; i < n; i++)
        scale += fabs(want[i]);
    scale /= (double)(n ? n : 1);
    size_t bad = 0;
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double diff = fabs((double)got[i] - want[i]), tol = 1e-4 * (fabs(want[i]) + scale);
        if (diff > tol)
            bad++;
        if (diff / (fabs(want[i]) + scale) > worst)
            worst = diff / (fabs(want[i]) + scale);
    }
    if (bad)
        fprintf(stderr, "%s: %zu of %zu values off, worst relative error %.3g\n", key, bad, n,
                worst);
    free(want);
    assert_int_equal(bad, 0);
}

static void
assert_golden(const struct sieve_bundle *out, const char *name, const char *key)
{
    assert_golden_in(expected, out, name, key);
}

static struct sieve_bundle *
run_ok(const char *const *kv, const struct sieve_bundle *in)
{
    struct sieve_bundle *out = mock_bundle_new();
    struct sieve_errbuf err = {{0}};
    int rc = mock_run(&plugin, kv, in, out, &err);
    if (rc < 0)
        fprintf(stderr, "encode: %s\n", err.msg);
    assert_int_equal(rc, 0);
    return out;
}

static void
test_encode__clip_matches_reference(void **unused)
{
    (void)unused;
    struct sieve_bundle *in = media(1, 0);
    const char *kv[] = {"model", "clip:" FIX "clip_tiny.safetensors", "heads", "2", NULL};
    struct sieve_bundle *out = run_ok(kv, in);
    assert_golden(out, "tokens", "clip.tokens");
    assert_golden(out, "importance", "clip.importance");
    const int32_t *grid = mock_host()->tensor_get(out, "grid")->data;
    assert_int_equal(grid[0], 2);
    assert_int_equal(grid[1], 4);
    assert_int_equal(grid[2], 4);
    assert_string_equal(mock_host()->meta_get(out, "layer"), "1");
    assert_string_equal(mock_host()->meta_get(out, "importance"), "cls-attention");
    const float *time = mock_host()->tensor_get(out, "time")->data;
    assert_float_equal(time[0], 0.0, 1e-9);
    assert_float_equal(time[1], 1.0, 1e-9); /* frame 2's pts */
    mock_bundle_free(out);

    const char *last[] = {"model", "clip:" FIX "clip_tiny.safetensors", "layer", "-1", NULL};
    out = run_ok(last, in);
    assert_golden(out, "tokens", "clip_last.tokens");
    assert_golden(out, "importance", "clip_last.importance");
    mock_bundle_free(out);
    mock_bundle_free(in);
}

static void expect_error(const char *const *kv, const struct sieve_bundle *in, int code,
                         const char *needle1, const char *needle2);

/*
 * keys: true adds the chosen layer's attention keys (mean over heads), VisionZip's contextual
 * metric, without changing tokens or importance; only the ViT models have them.
 */
static void
test_encode__vit_keys_match_reference(void **unused)
{
    (void)unused;
    struct sieve_bundle *in = media(1, 0);
    const char *clip[] = {
        "model", "clip:" FIX "clip_tiny.safetensors", "heads", "2", "keys", "true", NULL};
    struct sieve_bundle *out = run_ok(clip, in);
    assert_golden(out, "tokens", "clip.tokens");
    assert_golden(out, "importance", "clip.importance");
    assert_golden_in(expected_keys, out, "keys", "clip.keys");
    mock_bundle_free(out);
    const char *siglip[] = {
        "model", "siglip:" FIX "siglip_tiny.safetensors", "heads", "2", "keys", "true", NULL};
    out = run_ok(siglip, in);
    assert_golden(out, "tokens", "siglip_pen.tokens");
    assert_golden_in(expected_keys, out, "keys", "siglip_pen.keys");
    mock_bundle_free(out);
    const char *plain[] = {"model", "clip:" FIX "clip_tiny.safetensors", "heads", "2", NULL};
    out = run_ok(plain, in);
    assert_null(mock_host()->tensor_get(out, "keys"));
    mock_bundle_free(out);
    const char *builtin[] = {"keys", "true", NULL};
    expect_error(builtin, in, SIEVE_EINVAL, "keys need a ViT model", NULL);
    mock_bundle_free(in);
}

static void
test_encode__siglip_matches_reference(void **unused)
{
    (void)unused;
    struct sieve_bundle *in = media(1, 0);
    const char *kv[] = {"model", "siglip:" FIX "siglip_tiny.safetensors", "layer", "-1", NULL};
    struct sieve_bundle *out = run_ok(kv, in);
    assert_golden(out, "tokens", "siglip.tokens");
    assert_golden(out, "importance", "siglip.importance");
    assert_string_equal(mock_host()->meta_get(out, "importance"), "attention-received");
    mock_bundle_free(out);
    /* The default layer (-2) skips post_layernorm. */
    const char *pen[] = {"model", "siglip:" FIX "siglip_tiny.safetensors", "heads", "2", NULL};
    out = run_ok(pen, in);
    assert_golden(out, "tokens", "siglip_pen.tokens");
    assert_golden(out, "importance", "siglip_pen.importance");
    assert_string_equal(mock_host()->meta_get(out, "layer"), "1");
    mock_bundle_free(out);
    mock_bundle_free(in);
}

static void
test_encode__whisper_matches_reference(void **unused)
{
    (void)unused;
    struct sieve_bundle *in = media(0, 1);
    const char *omni[] = {"modality", "audio", "model", "whisper:" FIX "whisper_tiny.safetensors",
                          "heads",    "2",     NULL};
    struct sieve_bundle *out = run_ok(omni, in);
    assert_golden(out, "tokens", "whisper_omni.tokens");
    assert_golden(out, "importance", "whisper_omni.importance");
    /* 251 mel frames (what decode keeps for 40,100 samples, ceil(S/160)) give Qwen2.5-Omni's
     * 63 audio tokens: chunks of 200 and 51 frames -> 100 + 26 after the stride-2 conv -> 63
     * after pooling by 2. (250 frames, the old floor count, gave 62.) */
    assert_int_equal(mock_host()->tensor_get(out, "tokens")->shape[0], 63);
    const float *time = mock_host()->tensor_get(out, "time")->data;
    assert_float_equal(time[10], 0.4, 1e-6); /* 25 tokens per second */
    assert_string_equal(mock_host()->meta_get(out, "tokens_per_second"), "25");
    mock_bundle_free(out);

    const char *window[] = {"modality",
                            "audio",
                            "model",
                            "whisper:" FIX "whisper_tiny.safetensors",
                            "heads",
                            "2",
                            "chunk_seconds",
                            "0",
                            "pool",
                            "1",
                            NULL};
    out = run_ok(window, in);
    assert_golden(out, "tokens", "whisper_window.tokens");
    assert_golden(out, "importance", "whisper_window.importance");
    mock_bundle_free(out);
    mock_bundle_free(in);
}

/* Qwen2.5-Omni chunks never see each other: encoding 44 s at once (more chunks than one
   convolution batch) gives the same tokens as encoding each 2-s piece alone. */
static void
test_encode__omni_chunks_are_independent(void **unused)
{
    (void)unused;
    const int64_t L = 4400, M = 16, CF = 200;
    float *mel = malloc((size_t)(L * M) * sizeof *mel);
    for (int64_t i = 0; i < L * M; i++)
        mel[i] = (float)sin((double)i * 0.731) * 0.7f + (float)((i * 13) % 7) * 0.05f;
    const char *kv[] = {"modality", "audio", "model", "whisper:" FIX "whisper_tiny.safetensors",
                        "heads",    "2",     NULL};
    struct sieve_bundle *in = mock_bundle_new();
    int64_t ms[2] = {M, L};
    mock_tensor_add(in, "mel", SIEVE_DTYPE_F32, 2, ms, mel);
    struct sieve_bundle *whole = run_ok(kv, in);
    const struct sieve_tensor *tw = mock_host()->tensor_get(whole, "tokens");
    const struct sieve_tensor *iw = mock_host()->tensor_get(whole, "importance");
    assert_int_equal(tw->shape[0], L / 4);
    float *piece = malloc((size_t)(M * CF) * sizeof *piece);
    for (int64_t c = 0; c < L / CF; c++) {
        for (int64_t b = 0; b < M; b++)
            memcpy(piece + b * CF, mel + b * L + c * CF, (size_t)CF * sizeof *piece);
        struct sieve_bundle *pin = mock_bundle_new();
        int64_t ps[2] = {M, CF};
        mock_tensor_add(pin, "mel", SIEVE_DTYPE_F32, 2, ps, piece);
        struct sieve_bundle *part = run_ok(kv, pin);
        const struct sieve_tensor *tp = mock_host()->tensor_get(part, "tokens");
        const struct sieve_tensor *ip = mock_host()->tensor_get(part, "importance");
        assert_int_equal(tp->shape[0], CF / 4);
        const float *a = (const float *)tw->data + c * (CF / 4) * tp->shape[1], *b = tp->data;
        for (int64_t i = 0; i < (CF / 4) * tp->shape[1]; i++)
            assert_float_equal(a[i], b[i], 1e-5 * (1 + fabs(b[i])));
        for (int64_t i = 0; i < CF / 4; i++)
            assert_float_equal(((const float *)iw->data)[c * (CF / 4) + i],
                               ((const float *)ip->data)[i], 1e-6);
        mock_bundle_free(part);
        mock_bundle_free(pin);
    }
    free(piece);
    free(mel);
    mock_bundle_free(whole);
    mock_bundle_free(in);
}

static void
test_encode__half_precision_weights_load(void **unused)
{
    (void)unused;
    struct sieve_bundle *in = media(0, 1);
    const char *f16[] = {
        "modality", "audio", "model", "whisper:" FIX "whisper_tiny_f16.safetensors",
        "heads",    "2",     NULL};
    struct sieve_bundle *out = run_ok(f16, in);
    assert_golden(out, "tokens", "whisper_f16.tokens");
    assert_golden(out, "importance", "whisper_f16.importance");
    mock_bundle_free(out);
    const char *bf16[] = {
        "modality", "audio", "model", "whisper:" FIX "whisper_tiny_bf16.safetensors",
        "heads",    "2",     NULL};
    out = run_ok(bf16, in);
    assert_golden(out, "tokens", "whisper_bf16.tokens");
    assert_golden(out, "importance", "whisper_bf16.importance");
    mock_bundle_free(out);
    mock_bundle_free(in);
}

static void
test_encode__builtin_vision_matches_reference(void **unused)
{
    (void)unused;
    struct sieve_bundle *in = media(1, 0);
    const char *kv[] = {"dim", "48", "seed", "7", NULL};
    struct sieve_bundle *out = run_ok(kv, in);
    assert_golden(out, "tokens", "builtin.tokens");
    assert_golden(out, "importance", "builtin.importance");
    const int32_t *grid = mock_host()->tensor_get(out, "grid")->data;
    assert_int_equal(grid[0], 2);
    assert_int_equal(grid[1], 2);
    assert_int_equal(grid[2], 3);
    assert_string_equal(mock_host()->meta_get(out, "modality"), "vision");
    assert_string_equal(mock_host()->meta_get(out, "dims"), "t,p,c");
    assert_string_equal(mock_host()->meta_get(out, "dim"), "48");
    mock_bundle_free(out);
    mock_bundle_free(in);
}

static int
same_outputs(const struct sieve_bundle *a, const struct sieve_bundle *b)
{
    if (mock_host()->tensor_count(a) != mock_host()->tensor_count(b))
        return 0;
    for (size_t i = 0; i < mock_host()->tensor_count(a); i++) {
        const struct sieve_tensor *x = mock_host()->tensor_at(a, i),
                                  *y = mock_host()->tensor_at(b, i);
        if (strcmp(x->name, y->name) || x->nbytes != y->nbytes ||
            memcmp(x->data, y->data, x->nbytes))
            return 0;
    }
    return 1;
}

static void
test_encode__builtin_vision_is_bit_identical(void **unused)
{
    (void)unused;
    /* 5 frames of 56x84 with smooth content: odd T repeats the last frame. */
    struct sieve_bundle *in = mock_bundle_new();
    int64_t fs[4] = {5, 56, 84, 3}, ps = 5;
    struct sieve_tensor *fr = mock_tensor_add(in, "frames", SIEVE_DTYPE_U8, 4, fs, NULL);
    double pts[5] = {0, 0.5, 1, 1.5, 2};
    mock_tensor_add(in, "frame_pts", SIEVE_DTYPE_F64, 1, &ps, pts);
    uint8_t *px = fr->data;
    for (size_t i = 0; i < fr->nbytes; i++)
        px[i] = (uint8_t)((i * 7 + (i / 252) * 3) % 251);
    const char *kv[] = {"dim", "96", NULL};
    struct sieve_bundle *a = run_ok(kv, in), *b = run_ok(kv, in);
    assert_true(same_outputs(a, b));
    const struct sieve_tensor *tok = mock_host()->tensor_get(a, "tokens");
    assert_int_equal(tok->shape[0], 3);
    assert_int_equal(tok->shape[1], 6);
    assert_int_equal(tok->shape[2], 96);
    /* Importance is attention received, so it sums to 1 within each temporal group. */
    const float *imp = mock_host()->tensor_get(a, "importance")->data;
    for (int g = 0; g < 3; g++) {
        double s = 0;
        for (int p = 0; p < 6; p++)
            s += imp[g * 6 + p];
        assert_float_equal(s, 1.0, 1e-5);
    }
    const float *time = mock_host()->tensor_get(a, "time")->data;
    assert_float_equal(time[2], 2.0, 1e-9);
    /* A different seed is a different projection. */
    const char *other[] = {"dim", "96", "seed", "1", NULL};
    struct sieve_bundle *c = run_ok(other, in);
    assert_false(same_outputs(a, c));
    mock_bundle_free(a);
    mock_bundle_free(b);
    mock_bundle_free(c);
    mock_bundle_free(in);
}

static uint64_t
fnv1a(const void *p, size_t n, uint64_t h)
{
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ c[i]) * 0x100000001b3ull;
    return h;
}

/* The builtin vision model promises the same bytes on every machine. This pins the FNV-1a
   hash of tokens and importance for the fixture frames at dim 48, seed 7 (the golden case),
   as first computed on the x86-64 dev machine; a compiler, CPU or libm that changed one bit
   fails here. If the model is changed on purpose, bump the plugin version and the hash. */
static void
test_encode__builtin_vision_bytes_are_pinned(void **unused)
{
    (void)unused;
    struct sieve_bundle *in = media(1, 0);
    const char *kv[] = {"dim", "48", "seed", "7", NULL};
    struct sieve_bundle *out = run_ok(kv, in);
    const struct sieve_tensor *t = mock_host()->tensor_get(out, "tokens");
    const struct sieve_tensor *i = mock_host()->tensor_get(out, "importance");
    uint64_t h = fnv1a(t->data, t->nbytes, 0xcbf29ce484222325ull);
    h = fnv1a(i->data, i->nbytes, h);
    if (h != BUILTIN_VISION_HASH)
        fprintf(stderr, "builtin vision hash %016llx\n", (unsigned long long)h);
    assert_true(h == BUILTIN_VISION_HASH);
    mock_bundle_free(out);
    mock_bundle_free(in);
}

static void
test_encode__builtin_audio_is_bit_identical(void **unused)
{
    (void)unused;
    struct sieve_bundle *in = mock_bundle_new();
    int64_t ms[2] = {80, 450};
    struct sieve_tensor *mel = mock_tensor_add(in, "mel", SIEVE_DTYPE_F32, 2, ms, NULL);
    float *m = mel->data;
    for (int64_t i = 0; i < 80 * 450; i++)
        m[i] = (float)sin((double)i * 0.37) * 0.8f;
    const char *kv[] = {"modality", "audio", NULL};
    struct sieve_bundle *a = run_ok(kv, in), *b = run_ok(kv, in);
    assert_true(same_outputs(a, b));
    const struct sieve_tensor *tok = mock_host()->tensor_get(a, "tokens");
    /* 200 + 200 + 50 mel frames -> 100 + 100 + 25 encoder frames -> 112 tokens of 384. */
    assert_int_equal(tok->ndim, 2);
    assert_int_equal(tok->shape[0], 112);
    assert_int_equal(tok->shape[1], 384);
    const float *t = tok->data;
    for (size_t i = 0; i < tok->nbytes / 4; i++)
        assert_true(isfinite(t[i]));
    const float *time = mock_host()->tensor_get(a, "time")->data;
    assert_float_equal(time[111], 111 * 0.04, 1e-5);
    assert_string_equal(mock_host()->meta_get(a, "dim"), "384");
    mock_bundle_free(a);
    mock_bundle_free(b);
    mock_bundle_free(in);
}

static void
expect_error(const char *const *kv, const struct sieve_bundle *in, int code, const char *needle1,
             const char *needle2)
{
    struct sieve_bundle *out = mock_bundle_new();
    struct sieve_errbuf err = {{0}};
    int rc = mock_run(&plugin, kv, in, out, &err);
    if (rc != code || !strstr(err.msg, needle1) || (needle2 && !strstr(err.msg, needle2)))
        fprintf(stderr, "got %d '%s', wanted %d with '%s'\n", rc, err.msg, code, needle1);
    assert_int_equal(rc, code);
    assert_non_null(strstr(err.msg, needle1));
    if (needle2)
        assert_non_null(strstr(err.msg, needle2));
    mock_bundle_free(out);
}

static void
test_encode__missing_stream_is_bad_input(void **unused)
{
    (void)unused;
    struct sieve_bundle *video_only = media(1, 0), *audio_only = media(0, 1);
    const char *audio[] = {"modality", "audio", NULL};
    expect_error(audio, video_only, SIEVE_EBADINPUT, "no audio stream in sample 'clip01'", NULL);
    expect_error(NULL, audio_only, SIEVE_EBADINPUT, "no video stream in sample 'clip01'", NULL);
    struct sieve_bundle *empty = mock_bundle_new();
    expect_error(audio, empty, SIEVE_EBADINPUT, "input has no tensor 'mel'", NULL);
    expect_error(NULL, empty, SIEVE_EBADINPUT, "input has no tensor 'frames'", NULL);
    /* 80-bin mel into a 16-bin model. */
    struct sieve_bundle *wide = mock_bundle_new();
    int64_t ms[2] = {80, 10};
    mock_tensor_add(wide, "mel", SIEVE_DTYPE_F32, 2, ms, NULL);
    const char *w[] = {"modality", "audio", "model", "whisper:" FIX "whisper_tiny.safetensors",
                       NULL};
    expect_error(w, wide, SIEVE_EBADINPUT, "80 bins", "expects 16");
    const char *mismatch[] = {"modality", "audio", "model", "clip:x.safetensors", NULL};
    expect_error(mismatch, audio_only, SIEVE_EINVAL, "vision model", NULL);
    mock_bundle_free(wide);
    mock_bundle_free(empty);
    mock_bundle_free(video_only);
    mock_bundle_free(audio_only);
}

/* Writes a copy of weight file `src` to `dst`, changing tensor `victim`: dropped (mode 0),
   reshaped to its first dimension halved (1), or relabelled I32 (2). */
static void
write_variant(const char *src, const char *dst, const char *victim, int mode)
{
    struct st_file *f;
    struct sieve_errbuf err;
    assert_int_equal(st_open(src, &f, &err), 0);
    char *hdr = malloc(1 << 20);
    size_t o = 0, off = 0;
    o += (size_t)sprintf(hdr + o, "{");
    FILE *data = tmpfile();
    for (size_t i = 0; i < f->n; i++) {
        const struct st_tensor *t = &f->t[i];
        int hit = !strcmp(t->name, victim);
        if (hit && mode == 0)
            continue;
        int64_t shape[ST_MAX_DIMS];
        memcpy(shape, t->shape, sizeof shape);
        uint64_t bytes = t->end - t->begin;
        if (hit && mode == 1) {
            shape[0] /= 2;
            bytes /= 2;
        }
        o += (size_t)sprintf(hdr + o, "%s\"%s\":{\"dtype\":\"%s\",\"shape\":[", o > 1 ? "," : "",
                             t->name, hit && mode == 2 ? "I32" : t->dtype);
        for (uint32_t d = 0; d < t->ndim; d++)
            o += (size_t)sprintf(hdr + o, "%s%lld", d ? "," : "", (long long)shape[d]);
        o += (size_t)sprintf(hdr + o, "],\"data_offsets\":[%zu,%zu]}", off, off + bytes);
        fwrite(f->data + t->begin, 1, bytes, data);
        off += bytes;
    }
    o += (size_t)sprintf(hdr + o, "}");
    FILE *out = fopen(dst, "wb");
    assert_non_null(out);
    uint64_t n = o;
    unsigned char len[8];
    for (int i = 0; i < 8; i++)
        len[i] = (unsigned char)(n >> (8 * i));
    fwrite(len, 1, 8, out);
    fwrite(hdr, 1, o, out);
    rewind(data);
    char buf[4096];
    size_t r;
    while ((r = fread(buf, 1, sizeof buf, data)) > 0)
        fwrite(buf, 1, r, out);
    fclose(out);
    fclose(data);
    free(hdr);
    st_close(f);
}

static void
test_encode__bad_weights_name_the_tensor(void **unused)
{
    (void)unused;
    char path[256], model[300];
    snprintf(path, sizeof path, "/tmp/encode-test-%d.safetensors", (int)getpid());
    snprintf(model, sizeof model, "whisper:%s", path);
    const char *kv[] = {"modality", "audio", "model", model, NULL};
    struct sieve_bundle *in = media(0, 1);

    write_variant(FIX "whisper_tiny.safetensors", path, "model.encoder.layers.1.fc2.bias", 0);
    expect_error(kv, in, SIEVE_EBADINPUT, "missing tensor 'model.encoder.layers.1.fc2.bias'", path);
    write_variant(FIX "whisper_tiny.safetensors", path,
                  "model.encoder.layers.0.self_attn.k_proj.weight", 1);
    expect_error(kv, in, SIEVE_EBADINPUT,
                 "tensor 'model.encoder.layers.0.self_attn.k_proj.weight' has shape [16, 32]",
                 "expected [32, 32]");
    write_variant(FIX "whisper_tiny.safetensors", path, "model.encoder.layers.0.fc1.bias", 2);
    expect_error(kv, in, SIEVE_EBADINPUT, "tensor 'model.encoder.layers.0.fc1.bias' has dtype I32",
                 path);

    snprintf(model, sizeof model, "clip:%s", path);
    const char *clip[] = {"model", model, NULL};
    struct sieve_bundle *vin = media(1, 0);
    write_variant(FIX "clip_tiny.safetensors", path, "vision_model.pre_layrnorm.bias", 0);
    expect_error(clip, vin, SIEVE_EBADINPUT, "missing tensor 'vision_model.pre_layrnorm.bias'",
                 NULL);

    /* A file cut short: the header claims more bytes than exist. */
    FILE *f = fopen(path, "wb");
    fwrite("\xff\x00\x00\x00\x00\x00\x00\x00{\"a\"", 1, 12, f);
    fclose(f);
    expect_error(clip, vin, SIEVE_EBADINPUT, "exceeds the file", path);
    expect_error(clip, vin, SIEVE_EBADINPUT, path, NULL);
    unlink(path);
    const char *missing[] = {"model", "clip:/nonexistent/w.safetensors", NULL};
    expect_error(missing, vin, SIEVE_EBADINPUT, "'/nonexistent/w.safetensors'", NULL);
    mock_bundle_free(in);
    mock_bundle_free(vin);
}

/* Every single-byte corruption of a real header is either accepted or refused as bad input,
   never a crash or an out-of-bounds read (the ASan build checks the latter). */
/* Without a stored position table (Qwen2.5-Omni checkpoints compute it) the sinusoids are
   computed; they must equal the table the reference wrote (§7.2 formula, computed in torch). */
static void
test_encode__computed_positions_match_stored(void **unused)
{
    (void)unused;
    char path[256], model[300];
    snprintf(path, sizeof path, "/tmp/encode-nopos-%d.safetensors", (int)getpid());
    snprintf(model, sizeof model, "whisper:%s", path);
    write_variant(FIX "whisper_tiny.safetensors", path, "model.encoder.embed_positions.weight", 0);
    const char *kv[] = {"modality", "audio", "model", model, "heads", "2", NULL};
    struct sieve_bundle *in = media(0, 1);
    struct sieve_bundle *out = run_ok(kv, in);
    assert_golden(out, "tokens", "whisper_omni.tokens");
    assert_golden(out, "importance", "whisper_omni.importance");
    mock_bundle_free(out);
    mock_bundle_free(in);
    unlink(path);
}

static void
test_encode__corrupt_headers_never_crash(void **unused)
{
    (void)unused;
    FILE *f = fopen(FIX "whisper_tiny_f16.safetensors", "rb");
    assert_non_null(f);
    unsigned char *buf = malloc(1 << 17);
    size_t n = fread(buf, 1, 1 << 17, f);
    fclose(f);
    assert_true(n > 8);
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--)
        hl = (hl << 8) | buf[i];
    char path[256];
    snprintf(path, sizeof path, "/tmp/encode-fuzz-%d.safetensors", (int)getpid());
    static const unsigned char subst[] = {'"', '{', '}', '[', ']', ',', ':', '9', '-', 0, '\\'};
    size_t refused = 0, tried = 0;
    for (size_t pos = 0; pos < 8 + hl; pos += 3) {
        unsigned char keep = buf[pos];
        buf[pos] = subst[pos % sizeof subst];
        FILE *o = fopen(path, "wb");
        fwrite(buf, 1, pos % 7 == 0 ? pos + 1 : n, o); /* sometimes truncated as well */
        fclose(o);
        buf[pos] = keep;
        struct st_file *sf = NULL;
        struct sieve_errbuf err;
        int rc = st_open(path, &sf, &err);
        assert_true(rc == 0 || rc == SIEVE_EBADINPUT);
        if (rc == 0) {
            for (size_t i = 0; i < sf->n; i++) {
                int64_t dims[ST_MAX_DIMS];
                float *w = NULL;
                for (int d = 0; d < ST_MAX_DIMS; d++)
                    dims[d] = -1;
                if (st_load(sf, sf->t[i].name, sf->t[i].ndim, dims, &w, &err) == 0)
                    free(w);
            }
            st_close(sf);
        } else {
            assert_non_null(strstr(err.msg, path));
            refused++;
        }
        tried++;
    }
    unlink(path);
    free(buf);
    assert_true(refused > tried / 2); /* most corruptions must be caught */
}

static void
test_encode__builtin_vision_ignores_thread_count(void **unused)
{
    (void)unused;
    struct sieve_bundle *in = media(1, 0);
    const char *one[] = {"dim", "64", "threads", "1", NULL};
    const char *two[] = {"dim", "64", "threads", "2", NULL};
    struct sieve_bundle *a = run_ok(one, in), *b = run_ok(two, in);
    assert_true(same_outputs(a, b));
    mock_bundle_free(a);
    mock_bundle_free(b);
    mock_bundle_free(in);
}

static void
test_encode__cancellation_stops_the_task(void **unused)
{
    (void)unused;
    struct sieve_bundle *in = media(1, 1);
    const char *audio[] = {"modality", "audio", NULL};
    const char *vision[] = {"dim", "16", NULL};
    const char *clip[] = {"model", "clip:" FIX "clip_tiny.safetensors", NULL};
    mock_cancel = 1;
    expect_error(audio, in, SIEVE_ECANCELED, "cancelled", NULL);
    expect_error(vision, in, SIEVE_ECANCELED, "cancelled", NULL);
    expect_error(clip, in, SIEVE_ECANCELED, "cancelled", NULL);
    mock_cancel = 0;
    mock_bundle_free(in);
}

static void
test_encode__half_floats_convert_exactly(void **unused)
{
    (void)unused;
    assert_true(st_f16_to_f32(0x3c00) == 1.0f);
    assert_true(st_f16_to_f32(0xc000) == -2.0f);
    assert_true(st_f16_to_f32(0x7bff) == 65504.0f);
    assert_true(st_f16_to_f32(0x0001) == ldexpf(1.0f, -24)); /* smallest subnormal */
    assert_true(st_f16_to_f32(0x0200) == ldexpf(1.0f, -15));
    assert_true(isinf(st_f16_to_f32(0x7c00)));
    assert_true(isnan(st_f16_to_f32(0x7e00)));
    assert_true(st_bf16_to_f32(0x3f80) == 1.0f);
    assert_true(st_bf16_to_f32(0xc0a0) == -5.0f);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encode__clip_matches_reference),
        cmocka_unit_test(test_encode__vit_keys_match_reference),
        cmocka_unit_test(test_encode__siglip_matches_reference),
        cmocka_unit_test(test_encode__whisper_matches_reference),
        cmocka_unit_test(test_encode__omni_chunks_are_independent),
        cmocka_unit_test(test_encode__half_precision_weights_load),
        cmocka_unit_test(test_encode__builtin_vision_matches_reference),
        cmocka_unit_test(test_encode__builtin_vision_is_bit_identical),
        cmocka_unit_test(test_encode__builtin_vision_bytes_are_pinned),
        cmocka_unit_test(test_encode__builtin_audio_is_bit_identical),
        cmocka_unit_test(test_encode__missing_stream_is_bad_input),
        cmocka_unit_test(test_encode__bad_weights_name_the_tensor),
        cmocka_unit_test(test_encode__computed_positions_match_stored),
        cmocka_unit_test(test_encode__corrupt_headers_never_crash),
        cmocka_unit_test(test_encode__builtin_vision_ignores_thread_count),
        cmocka_unit_test(test_encode__cancellation_stops_the_task),
        cmocka_unit_test(test_encode__half_floats_convert_exactly),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
