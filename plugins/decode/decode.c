/*
 * decode.c - the `decode` plugin: a sample's media file in, Qwen2.5-Omni's inputs out.
 *
 * No input ports; it reads ctx->samples[0].media. One output port, `out`, with
 *   frames      u8  [T, H, W, 3]   RGB, T even, H and W multiples of 28 (smart_resize)
 *   frame_pts   f64 [T]            seconds from the container's start
 *   frame_type  u8  [T]            'I', 'P', 'B' or '?' from the codec (frame_types: true)
 *   motion      f32 [T, H/28, W/28] mean motion-vector length per cell (motion_vectors: true)
 *   audio       f32 [S]            mono at audio_rate
 *   mel         f32 [mel_bins, ceil(S/160)] Whisper log-mel of `audio`, valid frames only
 * A modality the file lacks (or that is switched off) has no tensors, and the metadata says
 * so (has_video, has_audio), so a downstream node can fail with "no audio stream".
 *
 * The state built by init holds the options and the mel filterbank for its parameters.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libavutil/avutil.h>
#include <sieve/plugin.h>

#include "media.h"
#include "mel.h"

enum {
    P_FPS,
    P_MIN_PIXELS,
    P_MAX_PIXELS,
    P_MAX_FRAMES,
    P_MIN_FRAMES,
    P_TOTAL_PIXELS,
    P_RESIZE,
    P_ROTATION,
    P_AUDIO_RATE,
    P_MEL_BINS,
    P_START,
    P_DURATION,
    P_VIDEO,
    P_AUDIO,
    P_FRAME_TYPES,
    P_MOTION,
    P_THREADS,
    P_MAX_DURATION,
};

static const char *const resize_choices[] = {"bicubic", "bilinear", "area", NULL};
/* In enum media_rotation order. */
static const char *const rotation_choices[] = {"ignore", "apply", NULL};

#define MINMAX (SIEVE_PARAM_HAS_MIN | SIEVE_PARAM_HAS_MAX)

static const struct sieve_param params[] = {
    [P_FPS] = {.name = "fps",
               .type = SIEVE_PARAM_FLOAT,
               .doc = "frames per second to sample",
               .def = "2",
               .min = 0.001,
               .max = 1000,
               .flags = MINMAX},
    [P_MIN_PIXELS] = {.name = "min_pixels",
                      .type = SIEVE_PARAM_INT,
                      .doc = "least pixels per frame (128*28*28)",
                      .def = "100352",
                      .min = 784,
                      .max = 1e9,
                      .flags = MINMAX},
    [P_MAX_PIXELS] = {.name = "max_pixels",
                      .type = SIEVE_PARAM_INT,
                      .doc = "most pixels per frame; also capped by 768*28*28 and total_pixels",
                      .def = "602112",
                      .min = 784,
                      .max = 1e9,
                      .flags = MINMAX},
    [P_MAX_FRAMES] = {.name = "max_frames",
                      .type = SIEVE_PARAM_INT,
                      .doc = "most frames to sample",
                      .def = "768",
                      .min = 2,
                      .max = 1e6,
                      .flags = MINMAX},
    [P_MIN_FRAMES] = {.name = "min_frames",
                      .type = SIEVE_PARAM_INT,
                      .doc = "least frames to sample (rounded up to even)",
                      .def = "4",
                      .min = 1,
                      .max = 1e6,
                      .flags = MINMAX},
    [P_TOTAL_PIXELS] = {.name = "total_pixels",
                        .type = SIEVE_PARAM_INT,
                        .doc = "pixel budget over all frames (VIDEO_TOTAL_PIXELS)",
                        .def = "90316800",
                        .min = 784,
                        .max = 1e13,
                        .flags = MINMAX},
    [P_RESIZE] = {.name = "resize",
                  .type = SIEVE_PARAM_ENUM,
                  .doc = "resize filter (bicubic is Keys a=-0.5, antialiased)",
                  .def = "bicubic",
                  .choices = resize_choices},
    [P_ROTATION] = {.name = "rotation",
                    .type = SIEVE_PARAM_ENUM,
                    .doc = "rotation tag: ignore it as Qwen's reader (decord) does, or apply it "
                           "(upright, as ffmpeg shows it; a different token grid)",
                    .def = "ignore",
                    .choices = rotation_choices},
    [P_AUDIO_RATE] = {.name = "audio_rate",
                      .type = SIEVE_PARAM_INT,
                      .doc = "sample rate of the mono audio, Hz",
                      .def = "16000",
                      .min = 1000,
                      .max = 192000,
                      .flags = MINMAX},
    [P_MEL_BINS] = {.name = "mel_bins",
                    .type = SIEVE_PARAM_INT,
                    .doc = "log-mel bands: 128 (Qwen2.5-Omni, Whisper v3) or 80 (Whisper v2)",
                    .def = "128",
                    .min = 1,
                    .max = 256,
                    .flags = MINMAX},
    [P_START] = {.name = "start",
                 .type = SIEVE_PARAM_FLOAT,
                 .doc = "start time, seconds",
                 .def = "0",
                 .min = 0,
                 .flags = SIEVE_PARAM_HAS_MIN},
    [P_DURATION] = {.name = "duration",
                    .type = SIEVE_PARAM_FLOAT,
                    .doc = "seconds to read; 0 reads to the end",
                    .def = "0",
                    .min = 0,
                    .flags = SIEVE_PARAM_HAS_MIN},
    [P_VIDEO] = {.name = "video",
                 .type = SIEVE_PARAM_BOOL,
                 .doc = "decode the video",
                 .def = "true"},
    [P_AUDIO] = {.name = "audio",
                 .type = SIEVE_PARAM_BOOL,
                 .doc = "decode the audio and log-mel",
                 .def = "true"},
    [P_FRAME_TYPES] = {.name = "frame_types",
                       .type = SIEVE_PARAM_BOOL,
                       .doc = "emit frame_type (I/P/B)",
                       .def = "true"},
    [P_MOTION] = {.name = "motion_vectors",
                  .type = SIEVE_PARAM_BOOL,
                  .doc = "emit motion: mean motion-vector length per 28-pixel cell",
                  .def = "false"},
    [P_THREADS] = {.name = "threads",
                   .type = SIEVE_PARAM_INT,
                   .doc = "video decoder threads; 0 lets FFmpeg choose (output is identical)",
                   .def = "0",
                   .min = 0,
                   .max = 64,
                   .flags = MINMAX | SIEVE_PARAM_NO_KEY},
    /* Not in the key: within the bound the output is the same whatever the bound is; past it
     * the task fails instead of writing gigabytes (a 10-hour file: 6 GB of memory). */
    [P_MAX_DURATION] = {.name = "max_duration",
                        .type = SIEVE_PARAM_FLOAT,
                        .doc = "with duration 0, refuse media longer than this many seconds "
                               "(0: no bound)",
                        .def = "3600",
                        .min = 0,
                        .flags = SIEVE_PARAM_HAS_MIN | SIEVE_PARAM_NO_KEY},
};

static const struct sieve_port outputs[] = {
    {"out", "frames, frame_pts, frame_type, motion, audio, mel", 0},
};

struct decode_state {
    struct media_opts o;
    int mel_bins;
    struct mel_bank *mel;
    char params_json[768];
};

static int
decode_init(const struct sieve_host *host, const struct sieve_value *p, void **state,
            struct sieve_errbuf *err)
{
    struct decode_state *s = calloc(1, sizeof *s);
    int rc;

    (void)host;
    *state = NULL;
    if (!s)
        return sieve_errbuf_set(err, SIEVE_ENOMEM, "decode: out of memory");
    media_opts_init(&s->o);
    s->o.fps = p[P_FPS].f;
    s->o.min_pixels = (double)p[P_MIN_PIXELS].i;
    s->o.max_pixels = (double)p[P_MAX_PIXELS].i;
    s->o.max_frames = p[P_MAX_FRAMES].i;
    s->o.min_frames = p[P_MIN_FRAMES].i;
    s->o.total_pixels = (double)p[P_TOTAL_PIXELS].i;
    s->o.resize = (int)p[P_RESIZE].i;
    s->o.rotation = (int)p[P_ROTATION].i;
    s->o.audio_rate = (int)p[P_AUDIO_RATE].i;
    s->o.start = p[P_START].f;
    s->o.duration = p[P_DURATION].f;
    s->o.video = (int)p[P_VIDEO].i;
    s->o.audio = (int)p[P_AUDIO].i;
    s->o.frame_types = (int)p[P_FRAME_TYPES].i;
    s->o.motion_vectors = (int)p[P_MOTION].i;
    s->o.threads = (int)p[P_THREADS].i;
    s->o.max_duration = p[P_MAX_DURATION].f;
    s->mel_bins = (int)p[P_MEL_BINS].i;
    rc = mel_bank_new(s->o.audio_rate, s->mel_bins, &s->mel);
    if (rc < 0) {
        free(s);
        return sieve_errbuf_set(err, rc, "decode: build the %d-band mel filterbank",
                                (int)p[P_MEL_BINS].i);
    }
    snprintf(
        s->params_json, sizeof s->params_json,
        "{\"fps\": %.17g, \"min_pixels\": %lld, \"max_pixels\": %lld, \"max_frames\": %lld, "
        "\"min_frames\": %lld, \"total_pixels\": %lld, \"resize\": \"%s\", \"rotation\": \"%s\", "
        "\"audio_rate\": %d, \"mel_bins\": %d, \"start\": %.17g, \"duration\": %.17g, "
        "\"video\": %s, \"audio\": %s, \"frame_types\": %s, \"motion_vectors\": %s}",
        s->o.fps, (long long)p[P_MIN_PIXELS].i, (long long)p[P_MAX_PIXELS].i,
        (long long)s->o.max_frames, (long long)s->o.min_frames, (long long)p[P_TOTAL_PIXELS].i,
        resize_choices[s->o.resize], rotation_choices[s->o.rotation], s->o.audio_rate, s->mel_bins,
        s->o.start, s->o.duration, s->o.video ? "true" : "false", s->o.audio ? "true" : "false",
        s->o.frame_types ? "true" : "false", s->o.motion_vectors ? "true" : "false");
    *state = s;
    return 0;
}

static void
decode_free(void *state)
{
    struct decode_state *s = state;
    if (!s)
        return;
    mel_bank_free(s->mel);
    free(s);
}

/* What the sink callbacks need. */
struct task {
    const struct sieve_ctx *ctx;
    struct sieve_bundle *out;
    const struct decode_state *s;
};

static int
new_tensor(struct task *t, const char *name, int32_t dtype, uint32_t ndim, const int64_t *shape,
           void **data, struct sieve_errbuf *err)
{
    struct sieve_tensor *x;
    int rc = t->ctx->host->tensor_new(t->out, name, dtype, ndim, shape, &x);
    if (rc < 0)
        return sieve_errbuf_set(err, rc, "decode: allocate '%s'", name);
    *data = x->data;
    return 0;
}

static int
video_alloc(void *opaque, const struct media_info *info, struct media_video_out *out,
            struct sieve_errbuf *err)
{
    struct task *t = opaque;
    const int64_t T = info->n_frames, H = info->height, W = info->width;
    int64_t shape[4] = {T, H, W, 3};
    void *p;
    int rc;

    memset(out, 0, sizeof *out);
    rc = new_tensor(t, "frames", SIEVE_DTYPE_U8, 4, shape, &p, err);
    if (rc < 0)
        return rc;
    out->frames = p;
    rc = new_tensor(t, "frame_pts", SIEVE_DTYPE_F64, 1, shape, &p, err);
    if (rc < 0)
        return rc;
    out->pts = p;
    if (t->s->o.frame_types) {
        rc = new_tensor(t, "frame_type", SIEVE_DTYPE_U8, 1, shape, &p, err);
        if (rc < 0)
            return rc;
        out->types = p;
    }
    if (t->s->o.motion_vectors) {
        int64_t mshape[3] = {T, H / 28, W / 28};
        rc = new_tensor(t, "motion", SIEVE_DTYPE_F32, 3, mshape, &p, err);
        if (rc < 0)
            return rc;
        out->motion = p;
    }
    return 0;
}

static int
tick(void *opaque, double fraction)
{
    struct task *t = opaque;
    const struct sieve_host *h = t->ctx->host;
    if (h->progress)
        h->progress(t->ctx, fraction);
    return h->cancelled ? h->cancelled(t->ctx) : 0;
}

static int
put_audio(struct task *t, const float *audio, int64_t n, struct sieve_errbuf *err)
{
    const struct decode_state *s = t->s;
    int64_t shape[2] = {n, 0};
    void *p;
    int rc;

    rc = new_tensor(t, "audio", SIEVE_DTYPE_F32, 1, shape, &p, err);
    if (rc < 0)
        return rc;
    memcpy(p, audio, (size_t)n * sizeof *audio);
    shape[0] = s->mel_bins;
    shape[1] = mel_frame_count(n);
    rc = new_tensor(t, "mel", SIEVE_DTYPE_F32, 2, shape, &p, err);
    if (rc < 0)
        return rc;
    mel_compute(s->mel, audio, n, p);
    return 0;
}

static int meta(struct task *t, const char *key, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static int
meta(struct task *t, const char *key, const char *fmt, ...)
{
    char value[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(value, sizeof value, fmt, ap);
    va_end(ap);
    return t->ctx->host->meta_set(t->out, key, value);
}

static int
put_metadata(struct task *t, const struct media_info *in, int64_t n_audio)
{
    const struct decode_state *s = t->s;
    int rc = 0;

    /*
     * No file name: the artifact is keyed by the file's content, so two copies of one clip share
     * it, and a path would make the bytes depend on where the file lives.
     */
    rc |= meta(t, "has_video", "%d", in->video_read);
    rc |= meta(t, "has_audio", "%d", in->audio_read);
    rc |= meta(t, "video_stream", "%d", in->has_video);
    rc |= meta(t, "audio_stream", "%d", in->has_audio);
    rc |= meta(t, "video_codec", "%s", in->video_codec);
    rc |= meta(t, "audio_codec", "%s", in->audio_codec);
    rc |= meta(t, "duration", "%.6f", in->duration);
    if (!in->video_read)
        rc |= meta(t, "video_missing", "%s",
                   !in->has_video ? "no video stream" : "video disabled by parameter");
    if (!in->audio_read)
        rc |= meta(t, "audio_missing", "%s",
                   !in->has_audio ? "no audio stream"
                   : s->o.audio   ? "audio stream has no samples in range"
                                  : "audio disabled by parameter");
    if (in->has_video) {
        rc |= meta(t, "source_fps", "%.10g", in->src_fps);
        rc |= meta(t, "rotation", "%d", in->rotation);
        rc |= meta(t, "rotation_tag", "%d", in->rotation_tag);
        rc |= meta(t, "src_width", "%lld", (long long)in->src_width);
        rc |= meta(t, "src_height", "%lld", (long long)in->src_height);
    }
    if (in->video_read) {
        rc |= meta(t, "width", "%lld", (long long)in->width);
        rc |= meta(t, "height", "%lld", (long long)in->height);
        rc |= meta(t, "total_frames", "%lld", (long long)in->total_frames);
        rc |= meta(t, "frames", "%lld", (long long)in->n_frames);
        rc |= meta(t, "sample_fps", "%.10g", in->sample_fps);
        rc |= meta(t, "frame_selection", "%s", in->by_pts ? "nearest-pts" : "frame-order");
    }
    if (in->has_audio) {
        rc |= meta(t, "audio_source_rate", "%d", in->audio_src_rate);
        rc |= meta(t, "audio_source_channels", "%d", in->audio_src_channels);
    }
    if (in->audio_read) {
        rc |= meta(t, "audio_rate", "%d", s->o.audio_rate);
        rc |= meta(t, "audio_samples", "%lld", (long long)n_audio);
        rc |= meta(t, "mel_bins", "%d", s->mel_bins);
        rc |= meta(t, "mel_frames", "%lld", (long long)mel_frame_count(n_audio));
        rc |= meta(t, "mel_padding", "%s",
                   "valid: ceil(audio_samples/160) frames (Qwen's feature_attention_mask), "
                   "no 30 s padding");
    }
    rc |= meta(t, "decode_params", "%s", s->params_json);
    rc |= meta(t, "ffmpeg", "%s", av_version_info());
    return rc < 0 ? SIEVE_ENOMEM : 0;
}

static int
decode_process(void *state, const struct sieve_ctx *ctx, const struct sieve_bundle *const *in,
               struct sieve_bundle *const *out, struct sieve_errbuf *err)
{
    struct decode_state *s = state;
    struct task t = {.ctx = ctx, .out = out[0], .s = s};
    struct media_sink sink = {.opaque = &t, .video_alloc = video_alloc, .tick = tick};
    struct media_info info;
    const char *path;
    float *audio = NULL;
    int64_t n_audio = 0;
    int rc;

    (void)in;
    if (ctx->n_samples < 1 || !ctx->samples || !ctx->samples[0].media)
        return sieve_errbuf_set(err, SIEVE_EINVAL, "decode: the task has no media file");
    path = ctx->samples[0].media;
    rc = media_decode_file(path, &s->o, &sink, &info, &audio, &n_audio, err);
    if (rc < 0)
        return rc;
    if (info.audio_read)
        rc = put_audio(&t, audio, n_audio, err);
    free(audio);
    if (rc < 0)
        return rc;
    rc = put_metadata(&t, &info, n_audio);
    if (rc < 0)
        return sieve_errbuf_set(err, rc, "decode: write the metadata of '%s'", path);
    return 0;
}

/*
 * Spelled out rather than SIEVE_PLUGIN_INIT: that macro cannot take SIEVE_NONE for the empty
 * input table (SIEVE_TABLE would receive two arguments after expansion).
 */
static const struct sieve_plugin descriptor = {
    .abi_major = SIEVE_ABI_MAJOR,
    .abi_minor = SIEVE_ABI_MINOR,
    .struct_size = (uint32_t)sizeof(struct sieve_plugin),
    .name = "decode",
    .version = "1.2.0",
    .summary = "FFmpeg decode: frames at fps with Qwen2.5-VL smart_resize, frame types, motion, "
               "16 kHz mono audio and the Whisper log-mel",
    .inputs = NULL,
    .n_inputs = 0,
    .outputs = outputs,
    .n_outputs = SIEVE_COUNT(outputs),
    .params = params,
    .n_params = SIEVE_COUNT(params),
    .flags = SIEVE_PLUGIN_DETERMINISTIC,
    .init = decode_init,
    .process = decode_process,
    .free = decode_free,
};

SIEVE_PLUGIN_DEFINE(descriptor)
