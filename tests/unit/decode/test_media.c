/*
 * test_media.c - the FFmpeg reader on media made at test time with the ffmpeg program:
 * frame types and timestamps against ffprobe, pixels against ffmpeg's own scaler, sampling,
 * rotation, variable frame rate, audio, missing modalities, odd sizes, short clips, and files
 * that are not media at all.
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
#include <dirent.h>

#include <sieve/plugin.h>

#include "plugins/decode/media.h"
#include "plugins/decode/sampling.h"
#include "tests/unit/decode/gen.h"

/* The media every test shares, made once. */
static struct {
    const char *av, *mpeg4, *rot, *wav, *video_only, *odd, *short_clip, *png, *vfr, *moving, *fast,
        *ts, *moving_rot, *rot640;
} m;

/* A sink that mallocs the buffers. */
struct grab {
    int calls;
    struct media_video_out out;
    int64_t T, H, W;
};

static int
grab_alloc(void *opaque, const struct media_info *info, struct media_video_out *out,
           struct sieve_errbuf *err)
{
    struct grab *g = opaque;
    (void)err;
    g->calls++;
    g->T = info->n_frames;
    g->H = info->height;
    g->W = info->width;
    g->out.frames = calloc((size_t)(g->T * g->H * g->W * 3), 1);
    g->out.pts = calloc((size_t)g->T, sizeof(double));
    g->out.types = calloc((size_t)g->T, 1);
    g->out.motion = calloc((size_t)(g->T * (g->H / 28) * (g->W / 28)), sizeof(float));
    *out = g->out;
    return 0;
}

static void
grab_free(struct grab *g)
{
    free(g->out.frames);
    free(g->out.pts);
    free(g->out.types);
    free(g->out.motion);
    memset(g, 0, sizeof *g);
}

struct result {
    int rc;
    struct sieve_errbuf err;
    struct media_info info;
    struct grab g;
    float *audio;
    int64_t n_audio;
};

static void
run(const char *path, const struct media_opts *o, struct result *r)
{
    struct media_sink sink = {.opaque = &r->g, .video_alloc = grab_alloc, .tick = NULL};
    memset(r, 0, sizeof *r);
    r->rc = media_decode_file(path, o, &sink, &r->info, &r->audio, &r->n_audio, &r->err);
}

static void
result_free(struct result *r)
{
    grab_free(&r->g);
    free(r->audio);
}

/* The lines of `ffprobe -show_entries frame=...` for the video stream, in display order. */
static char *
probe_frames(const char *path, const char *entries)
{
    char *s = gen_capture("ffprobe -v error -select_streams v:0 -show_entries frame=%s "
                          "-of csv=p=0 '%s'",
                          entries, path);
    assert_non_null(s);
    return s;
}

static int
setup(void **state)
{
    (void)state;
    if (gen_init() < 0)
        return -1;
    const char *venc = gen_have_encoder("libx264") ? "libx264" : "mpeg4";
    /* 50 frames, B-frames, a stereo track whose right channel is silent. */
    m.av = gen_media("av.mp4",
                     "-f lavfi -i testsrc=s=160x120:r=25:d=2 "
                     "-f lavfi -i \"aevalsrc=0.8*sin(2*PI*440*t)|0:s=44100:d=2\" "
                     "-c:v %s -bf 2 -g 12 -pix_fmt yuv420p -c:a aac -shortest",
                     venc);
    m.mpeg4 = gen_media("mpeg4.mp4", "-f lavfi -i testsrc=s=160x120:r=25:d=2 -c:v mpeg4 -bf 2 "
                                     "-g 12 -q:v 5");
    m.video_only = gen_media("video.mkv",
                             "-f lavfi -i testsrc=s=320x240:r=30:d=1 -c:v %s "
                             "-pix_fmt yuv420p",
                             venc);
    m.wav = gen_media("audio.wav", "-f lavfi -i \"aevalsrc=0.5*sin(2*PI*1000*t)|0.5*sin(2*PI*"
                                   "1000*t):s=44100:d=1.5\" -c:a pcm_s16le");
    m.odd = gen_media("odd.mkv", "-f lavfi -i testsrc=s=161x121:r=25:d=1 -c:v ffv1");
    m.short_clip = gen_media("short.mp4",
                             "-f lavfi -i testsrc=s=160x120:r=25:d=0.12 -c:v %s "
                             "-pix_fmt yuv420p",
                             venc);
    m.png = gen_media("one.png", "-f lavfi -i testsrc=s=100x60:d=1 -frames:v 1");
    /* The left half white: after the 90-degree display matrix it must end up at the bottom. */
    {
        const char *lw = gen_media("lw.mp4",
                                   "-f lavfi -i \"color=black:s=160x120:r=25:d=1,"
                                   "drawbox=x=0:y=0:w=80:h=120:color=white:t=fill\" "
                                   "-c:v %s -pix_fmt yuv420p",
                                   venc);
        m.rot = lw ? gen_media("rot.mp4", "-i '%s' -c copy -metadata:s:v:0 rotate=90", lw) : NULL;
        /* The clip of the comparison with Qwen's loader: 640x360 tagged rotate=90. */
        const char *wide = gen_media("wide.mp4",
                                     "-f lavfi -i testsrc=s=640x360:r=25:d=0.5 -c:v %s "
                                     "-pix_fmt yuv420p",
                                     venc);
        m.rot640 = wide ? gen_media("rot640.mp4", "-i '%s' -c copy -metadata:s:v:0 rotate=90", wide)
                        : NULL;
    }
    /* One second at 10 fps, then one at 30 fps, kept variable-rate. */
    m.vfr = gen_media("vfr.mkv",
                      "-f lavfi -i testsrc=s=160x120:r=10:d=1 -f lavfi -i "
                      "testsrc=s=160x120:r=30:d=1 -filter_complex "
                      "\"[0:v][1:v]concat=n=2:v=1[v]\" -map \"[v]\" -fps_mode vfr -c:v %s "
                      "-pix_fmt yuv420p",
                      venc);
    m.ts = gen_media("av.ts", "-i '%s' -c copy", m.av);
    m.fast = gen_media("fast.mp4", "-i '%s' -c copy -movflags +faststart", m.av);
    /* A window sliding 4 pixels right per frame over a wide test pattern, and turned. */
    m.moving = gen_media("moving.mp4",
                         "-f lavfi -i \"testsrc=s=640x120:r=25:d=2,crop=160:120:x=n*4:y=0\" "
                         "-c:v %s -bf 0 -g 25 -pix_fmt yuv420p",
                         venc);
    m.moving_rot = m.moving ? gen_media("moving_rot.mp4",
                                        "-i '%s' -c copy -metadata:s:v:0 "
                                        "rotate=90",
                                        m.moving)
                            : NULL;
    if (!m.av || !m.mpeg4 || !m.video_only || !m.wav || !m.odd || !m.short_clip || !m.png ||
        !m.rot || !m.vfr || !m.moving || !m.fast || !m.ts || !m.moving_rot || !m.rot640)
        return -1;
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    gen_cleanup();
    return 0;
}

/* Compares decoded frame types and timestamps with ffprobe, every frame of a 50-frame clip. */
static void
check_types_against_ffprobe(const char *path)
{
    struct media_opts o;
    struct result r;
    char *csv = probe_frames(path, "pts_time,pict_type"), *line, *save = NULL;
    int64_t k = 0;

    media_opts_init(&o);
    o.fps = 1000; /* more than the source: every frame, the count rounded down to even */
    run(path, &o, &r);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.info.total_frames, 50);
    assert_int_equal(r.info.n_frames, 50);
    for (line = strtok_r(csv, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        double pts;
        char type;
        if (sscanf(line, "%lf,%c", &pts, &type) != 2)
            continue;
        assert_true(k < 50);
        if (r.g.out.types[k] != (uint8_t)type)
            fail_msg("%s frame %lld: type %c, ffprobe %c", path, (long long)k, r.g.out.types[k],
                     type);
        assert_true(fabs(r.g.out.pts[k] - pts) < 1e-6);
        k++;
    }
    assert_int_equal(k, 50);
    free(csv);
    result_free(&r);
}

static void
test_media__frame_types_match_ffprobe(void **state)
{
    int b = 0;
    struct result r;
    struct media_opts o;
    (void)state;
    check_types_against_ffprobe(m.av);
    /* The clip really has B-frames, so the test compares something. */
    media_opts_init(&o);
    o.fps = 1000;
    run(m.av, &o, &r);
    for (int64_t k = 0; k < r.info.n_frames; k++)
        b += r.g.out.types[k] == 'B';
    assert_true(b > 0);
    result_free(&r);
}

static void
test_media__frame_types_match_ffprobe_mpeg4(void **state)
{
    (void)state;
    check_types_against_ffprobe(m.mpeg4);
}

/* Default sampling: 2 fps of a 25 fps clip by the reference formulas, in display order. */
static void
test_media__default_sampling_follows_reference(void **state)
{
    struct media_opts o;
    struct result r;
    int64_t n, idx[8], h, w;
    (void)state;

    media_opts_init(&o);
    run(m.av, &o, &r);
    assert_int_equal(r.rc, 0);
    assert_true(fabs(r.info.src_fps - 25.0) < 1e-9);
    n = sampling_smart_nframes(50, 25.0, 2.0, 4, 768);
    assert_int_equal(r.info.n_frames, n);
    assert_int_equal(r.g.calls, 1);
    sampling_frame_indices(50, n, idx);
    for (int64_t k = 0; k < n; k++)
        assert_true(fabs(r.g.out.pts[k] - idx[k] / 25.0) < 1e-6);
    assert_int_equal(sampling_smart_resize(
                         120, 160, o.min_pixels,
                         sampling_video_max_pixels(o.max_pixels, o.min_pixels, o.total_pixels, n),
                         &h, &w),
                     0);
    assert_int_equal(r.info.height, h);
    assert_int_equal(r.info.width, w);
    assert_true(fabs(r.info.sample_fps - sampling_sample_fps(n, 50, 25.0)) < 1e-12);
    assert_string_equal(r.info.video_codec, gen_have_encoder("libx264") ? "h264" : "mpeg4");
    assert_string_equal(r.info.audio_codec, "aac");
    assert_true(r.info.by_pts);
    result_free(&r);
}

/*
 * Our frames are close to ffmpeg's own select + scale with swscale's default bicubic (B 0,
 * C 0.6): same frames, same colour matrix; we use C 0.5 (PIL/torchvision's cubic), which moves
 * pixels by a fraction of a level on average. A wrong frame or colour matrix costs several.
 */
static void
test_media__pixels_match_ffmpeg_scaler(void **state)
{
    struct media_opts o;
    struct result r;
    int64_t idx[8];
    char select[256] = "", *raw;
    size_t size = 0;
    double sum = 0;
    (void)state;

    media_opts_init(&o);
    run(m.av, &o, &r);
    assert_int_equal(r.rc, 0);
    sampling_frame_indices(50, r.info.n_frames, idx);
    for (int64_t k = 0; k < r.info.n_frames; k++)
        snprintf(select + strlen(select), sizeof select - strlen(select), "%seq(n\\,%lld)",
                 k ? "+" : "", (long long)idx[k]);
    raw = gen_capture("ffmpeg -nostdin -v error -i '%s' -vf \"select='%s',scale=%lld:%lld:"
                      "flags=bicubic\" -fps_mode passthrough -f rawvideo "
                      "-pix_fmt rgb24 - > '%s'",
                      m.av, select, (long long)r.info.width, (long long)r.info.height,
                      gen_path("ref.rgb"));
    assert_non_null(raw);
    free(raw);
    raw = gen_read(gen_path("ref.rgb"), &size);
    assert_non_null(raw);
    assert_int_equal(size, (size_t)(r.g.T * r.g.H * r.g.W * 3));
    for (size_t i = 0; i < size; i++)
        sum += fabs((double)(uint8_t)raw[i] - r.g.out.frames[i]);
    print_message("mean |sieve - ffmpeg| = %.4f per channel\n", sum / (double)size);
    assert_true(sum / (double)size < 0.5);
    free(raw);
    result_free(&r);
}

/* Stereo with a silent right channel becomes their mean: half the amplitude, at 16 kHz. */
static void
test_media__audio_is_mono_mean_at_16k(void **state)
{
    struct media_opts o;
    struct result r;
    double ss = 0;
    (void)state;

    media_opts_init(&o);
    run(m.av, &o, &r);
    assert_int_equal(r.rc, 0);
    assert_true(r.info.audio_read);
    assert_int_equal(r.info.audio_src_channels, 2);
    assert_true(llabs(r.n_audio - 32000) < 400);
    for (int64_t i = 2000; i < 30000; i++)
        ss += (double)r.audio[i] * r.audio[i];
    /* 0.8 * sin on the left, 0 on the right: mean amplitude 0.4, RMS 0.4 / sqrt 2. */
    assert_true(fabs(sqrt(ss / 28000) - 0.4 / sqrt(2.0)) < 0.01);
    result_free(&r);
}

static void
test_media__audio_only_file_has_no_video(void **state)
{
    struct media_opts o;
    struct result r;
    (void)state;

    media_opts_init(&o);
    run(m.wav, &o, &r);
    assert_int_equal(r.rc, 0);
    assert_false(r.info.has_video);
    assert_false(r.info.video_read);
    assert_int_equal(r.g.calls, 0);
    assert_true(r.info.audio_read);
    assert_int_equal(r.n_audio, 24000); /* 1.5 s, no resampler tail */
    assert_string_equal(r.info.video_codec, "none");
    assert_string_equal(r.info.audio_codec, "pcm_s16le");
    result_free(&r);
}

static void
test_media__video_only_file_has_no_audio(void **state)
{
    struct media_opts o;
    struct result r;
    (void)state;

    media_opts_init(&o);
    run(m.video_only, &o, &r);
    assert_int_equal(r.rc, 0);
    assert_false(r.info.has_audio);
    assert_false(r.info.audio_read);
    assert_null(r.audio);
    assert_int_equal(r.n_audio, 0);
    assert_true(r.info.video_read);
    assert_int_equal(r.info.n_frames, 4); /* 1 s at 2 fps, raised to min_frames */
    result_free(&r);
}

/*
 * By default the rotation tag is ignored, as Qwen2.5-Omni's reader (decord) ignores it: the
 * model sees the coded picture, so the frames are landscape and the left half stays left.
 */
static void
test_media__rotation_is_ignored_by_default(void **state)
{
    struct media_opts o;
    struct result r;
    double left = 0, right = 0;
    (void)state;

    media_opts_init(&o);
    run(m.rot, &o, &r);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.info.rotation, 0);
    assert_int_equal(r.info.rotation_tag, 270);
    assert_true(r.info.width > r.info.height);
    for (int64_t y = 0; y < r.g.H; y++)
        for (int64_t x = 0; x < r.g.W; x++)
            for (int c = 0; c < 3; c++) {
                uint8_t v = r.g.out.frames[(y * r.g.W + x) * 3 + c];
                if (x < r.g.W / 2 - 4)
                    left += v;
                else if (x >= r.g.W / 2 + 4)
                    right += v;
            }
    left /= (double)(r.g.W / 2 - 4) * r.g.H * 3;
    right /= (double)(r.g.W / 2 - 4) * r.g.H * 3;
    assert_true(left > 235);
    assert_true(right < 20);
    result_free(&r);
}

/*
 * The case the comparison with the official loader found: 640x360 tagged rotate=90 is
 * H x W = 364 x 644 for Qwen (decord ignores the tag), and so by default here; 644 x 364 with
 * rotation: apply.
 */
static void
test_media__rotated_640x360_grid_matches_qwen_by_default(void **state)
{
    struct media_opts o;
    struct result r;
    (void)state;

    media_opts_init(&o);
    run(m.rot640, &o, &r);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.info.height, 364);
    assert_int_equal(r.info.width, 644);
    result_free(&r);
    o.rotation = MEDIA_ROTATION_APPLY;
    run(m.rot640, &o, &r);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.info.height, 644);
    assert_int_equal(r.info.width, 364);
    result_free(&r);
}

/* With rotation: apply the display matrix turns the picture as ffmpeg shows it: the left half
 * ends at the bottom. */
static void
test_media__rotation_is_honoured(void **state)
{
    struct media_opts o;
    struct result r;
    double top = 0, bottom = 0;
    (void)state;

    media_opts_init(&o);
    o.rotation = MEDIA_ROTATION_APPLY;
    run(m.rot, &o, &r);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.info.rotation, 270);
    assert_int_equal(r.info.rotation_tag, 270);
    assert_int_equal(r.info.src_width, 160);
    assert_int_equal(r.info.src_height, 120);
    assert_true(r.info.height > r.info.width);
    for (int64_t y = 0; y < r.g.H; y++)
        for (int64_t x = 0; x < r.g.W * 3; x++) {
            uint8_t v = r.g.out.frames[y * r.g.W * 3 + x];
            if (y < r.g.H / 2 - 4)
                top += v;
            else if (y >= r.g.H / 2 + 4)
                bottom += v;
        }
    top /= (double)(r.g.H / 2 - 4) * r.g.W * 3;
    bottom /= (double)(r.g.H / 2 - 4) * r.g.W * 3;
    assert_true(top < 20);
    assert_true(bottom > 235);
    result_free(&r);
}

static void
test_media__odd_size_gives_multiples_of_28(void **state)
{
    struct media_opts o;
    struct result r;
    (void)state;

    media_opts_init(&o);
    run(m.odd, &o, &r);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.info.src_width, 161);
    assert_int_equal(r.info.src_height, 121);
    assert_int_equal(r.info.width % 28, 0);
    assert_int_equal(r.info.height % 28, 0);
    assert_true(r.info.width * r.info.height >= 100352);
    result_free(&r);
}

/* Three frames: the reference's even count gives 2, the first and the last. */
static void
test_media__very_short_clip_gives_two_frames(void **state)
{
    struct media_opts o;
    struct result r;
    (void)state;

    media_opts_init(&o);
    run(m.short_clip, &o, &r);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.info.total_frames, 3);
    assert_int_equal(r.info.n_frames, 2);
    assert_true(fabs(r.g.out.pts[0] - 0.0) < 1e-6);
    assert_true(fabs(r.g.out.pts[1] - 0.08) < 1e-6);
    result_free(&r);
}

/* A still image is one frame shown twice (the encoder takes frames in pairs). */
static void
test_media__still_image_is_two_equal_frames(void **state)
{
    struct media_opts o;
    struct result r;
    size_t fb;
    (void)state;

    media_opts_init(&o);
    run(m.png, &o, &r);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.info.total_frames, 1);
    assert_int_equal(r.info.n_frames, 2);
    fb = (size_t)(r.g.H * r.g.W * 3);
    assert_memory_equal(r.g.out.frames, r.g.out.frames + fb, fb);
    result_free(&r);
}

/* Variable frame rate: frames are spread evenly in time, not in frame count. */
static void
test_media__variable_frame_rate_selects_by_time(void **state)
{
    struct media_opts o;
    struct result r;
    double gap = 0;
    (void)state;

    media_opts_init(&o);
    o.fps = 10;
    run(m.vfr, &o, &r);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.info.total_frames, 40);
    assert_true(r.info.by_pts);
    for (int64_t k = 1; k < r.info.n_frames; k++) {
        double d = r.g.out.pts[k] - r.g.out.pts[k - 1];
        assert_true(d >= 0);
        if (d > gap)
            gap = d;
    }
    /* Every other frame by count would leave 0.2 s holes in the 10 fps half. */
    assert_true(gap < 0.19);
    assert_true(fabs(r.info.src_fps - 39 / 1.967) < 0.01); /* no declared rate: from pts */
    assert_true(r.g.out.pts[r.info.n_frames - 1] > 1.9);
    result_free(&r);
}

static void
test_media__start_and_duration_cut_both_streams(void **state)
{
    struct media_opts o;
    struct result r;
    (void)state;

    media_opts_init(&o);
    o.start = 0.5;
    o.duration = 1.0;
    run(m.av, &o, &r);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.info.total_frames, 25);
    for (int64_t k = 0; k < r.info.n_frames; k++)
        assert_true(r.g.out.pts[k] >= 0.5 - 1e-9 && r.g.out.pts[k] < 1.5);
    assert_true(fabs(r.g.out.pts[0] - 0.52) < 1e-6); /* frame 13: there is none at 0.50 */
    assert_true(fabs(r.g.out.pts[r.info.n_frames - 1] - 1.48) < 1e-6);
    assert_int_equal(r.n_audio, 16000);
    result_free(&r);
}

/* MPEG-TS seeks approximately (here past the start); the frames must still be the right ones. */
static void
test_media__start_in_mpegts_is_exact(void **state)
{
    struct media_opts o;
    struct result r;
    (void)state;

    media_opts_init(&o);
    o.start = 0.5;
    o.duration = 1.0;
    run(m.ts, &o, &r);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.info.total_frames, 25);
    assert_true(r.g.out.pts[0] >= 0.5 && r.g.out.pts[0] < 0.54);
    for (int64_t k = 1; k < r.info.n_frames; k++)
        assert_true(r.g.out.pts[k] > r.g.out.pts[k - 1] + 0.2);
    assert_true(r.g.out.pts[r.info.n_frames - 1] < 1.5);
    result_free(&r);
}

/* Mean motion over the P-frames of `path`, in output pixels; zero on every I-frame. */
static double
p_frame_motion(const char *path, struct result *r)
{
    struct media_opts o;
    int64_t cells;
    double p_mean = 0;
    int p_frames = 0;

    media_opts_init(&o);
    o.motion_vectors = 1;
    o.rotation = MEDIA_ROTATION_APPLY; /* the turned clip must come out turned */
    o.fps = 1000;
    run(path, &o, r);
    assert_int_equal(r->rc, 0);
    cells = (r->g.H / 28) * (r->g.W / 28);
    for (int64_t k = 0; k < r->info.n_frames; k++) {
        const float *c = r->g.out.motion + k * cells;
        double s = 0;
        for (int64_t i = 0; i < cells; i++)
            s += c[i];
        if (r->g.out.types[k] == 'I') {
            assert_true(s == 0);
        } else if (r->g.out.types[k] == 'P') {
            p_mean += s / (double)cells;
            p_frames++;
        }
    }
    assert_true(p_frames > 10);
    return p_mean / p_frames;
}

/* Motion: zero on the I-frame, about the window's speed (in output pixels) elsewhere. */
static void
test_media__motion_vectors_measure_movement(void **state)
{
    struct result r, rr;
    double speed, p_mean, p_rot;
    (void)state;

    p_mean = p_frame_motion(m.moving, &r);
    speed = 4.0 * (double)r.g.W / 160.0;
    print_message("mean motion on P-frames %.2f output px, window speed %.2f\n", p_mean, speed);
    assert_true(p_mean > 0.5 * speed && p_mean < 1.5 * speed);
    /* Turned upright, the same clip moves as much, on the rotated grid. */
    p_rot = p_frame_motion(m.moving_rot, &rr);
    assert_int_equal(rr.g.H, r.g.W);
    assert_int_equal(rr.g.W, r.g.H);
    assert_true(fabs(p_rot - p_mean) < 0.1 * p_mean);
    result_free(&r);
    result_free(&rr);
}

/* The memory reader (the fuzzer's path) gives the same result as the file reader. */
static void
test_media__memory_input_equals_file_input(void **state)
{
    struct media_opts o;
    struct result a, b;
    struct media_sink sink = {.opaque = &b.g, .video_alloc = grab_alloc};
    size_t size;
    char *bytes = gen_read(m.av, &size);
    (void)state;

    assert_non_null(bytes);
    media_opts_init(&o);
    run(m.av, &o, &a);
    memset(&b, 0, sizeof b);
    b.rc = media_decode_buffer("av.mp4", (const uint8_t *)bytes, size, &o, &sink, &b.info, &b.audio,
                               &b.n_audio, &b.err);
    assert_int_equal(a.rc, 0);
    assert_int_equal(b.rc, 0);
    assert_int_equal(a.g.T * a.g.H * a.g.W, b.g.T * b.g.H * b.g.W);
    assert_memory_equal(a.g.out.frames, b.g.out.frames, (size_t)(a.g.T * a.g.H * a.g.W * 3));
    assert_int_equal(a.n_audio, b.n_audio);
    assert_memory_equal(a.audio, b.audio, (size_t)a.n_audio * sizeof(float));
    result_free(&a);
    result_free(&b);
    free(bytes);
}

/* A bad file fails as bad input, names the file, and says what went wrong. */
static void
expect_bad(const char *path, const char *why)
{
    struct media_opts o;
    struct result r;
    media_opts_init(&o);
    run(path, &o, &r);
    if (r.rc != SIEVE_EBADINPUT)
        fail_msg("%s (%s): rc %d, message '%s'", path, why, r.rc, r.err.msg);
    assert_non_null(strstr(r.err.msg, path));
    assert_null(r.audio);
    print_message("%s: %s\n", why, r.err.msg);
    result_free(&r);
}

static void
test_media__bad_files_fail_as_bad_input(void **state)
{
    size_t size;
    char *good = gen_read(m.av, &size);
    unsigned char noise[4096];
    (void)state;

    assert_non_null(good);
    for (size_t i = 0; i < sizeof noise; i++)
        noise[i] = (unsigned char)(i * 2654435761u >> 13);
    expect_bad(gen_write("noise.mp4", noise, sizeof noise), "random bytes");
    expect_bad(gen_write("text.mp4", "hello, this is not a video\n", 27), "text");
    expect_bad(gen_write("empty.mp4", "", 0), "empty file");
    expect_bad(gen_path("does-not-exist.mp4"), "missing file");
    expect_bad(gen_write("half.mp4", good, size / 2), "truncated in the middle");
    memset(good, 0, 64);
    expect_bad(gen_write("zeroed.mp4", good, size), "header zeroed");
    free(good);
    /* With the index in front, a cut tail loses samples the index promises. */
    good = gen_read(m.fast, &size);
    assert_non_null(good);
    expect_bad(gen_write("fastcut.mp4", good, size - 3000), "3000 bytes cut from the end");
    expect_bad(gen_write("fastcut2.mp4", good, size - 20), "20 bytes cut from the end");
    free(good);
}

/*
 * The fuzzer's seeds (tests/fuzz/corpus/decode: mp4, MPEG-TS, Matroska, WebM, AVI and raw
 * H.264 without timestamps, WAV, Ogg/Opus, PNG, GIF, a rotated clip) all decode from memory.
 */
static void
test_media__seed_corpus_decodes(void **state)
{
    DIR *d = opendir(SIEVE_SOURCE_DIR "/tests/fuzz/corpus/decode");
    struct dirent *e;
    int files = 0;
    (void)state;

    assert_non_null(d);
    while ((e = readdir(d))) {
        char path[1024];
        struct media_opts o;
        struct result r;
        struct media_sink sink = {.opaque = &r.g, .video_alloc = grab_alloc};
        size_t size;
        char *bytes;
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, SIEVE_SOURCE_DIR "/tests/fuzz/corpus/decode/%s", e->d_name);
        bytes = gen_read(path, &size);
        assert_non_null(bytes);
        media_opts_init(&o);
        memset(&r, 0, sizeof r);
        r.rc = media_decode_buffer(e->d_name, (const uint8_t *)bytes, size, &o, &sink, &r.info,
                                   &r.audio, &r.n_audio, &r.err);
        if (r.rc != 0)
            fail_msg("%s: %s", e->d_name, r.err.msg);
        assert_true(r.info.video_read || r.info.audio_read);
        if (r.info.video_read)
            assert_true(r.info.n_frames >= 2 && r.info.n_frames % 2 == 0);
        result_free(&r);
        free(bytes);
        files++;
    }
    closedir(d);
    assert_true(files >= 10);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_media__frame_types_match_ffprobe),
        cmocka_unit_test(test_media__frame_types_match_ffprobe_mpeg4),
        cmocka_unit_test(test_media__default_sampling_follows_reference),
        cmocka_unit_test(test_media__pixels_match_ffmpeg_scaler),
        cmocka_unit_test(test_media__audio_is_mono_mean_at_16k),
        cmocka_unit_test(test_media__audio_only_file_has_no_video),
        cmocka_unit_test(test_media__video_only_file_has_no_audio),
        cmocka_unit_test(test_media__rotation_is_ignored_by_default),
        cmocka_unit_test(test_media__rotation_is_honoured),
        cmocka_unit_test(test_media__rotated_640x360_grid_matches_qwen_by_default),
        cmocka_unit_test(test_media__odd_size_gives_multiples_of_28),
        cmocka_unit_test(test_media__very_short_clip_gives_two_frames),
        cmocka_unit_test(test_media__still_image_is_two_equal_frames),
        cmocka_unit_test(test_media__variable_frame_rate_selects_by_time),
        cmocka_unit_test(test_media__start_and_duration_cut_both_streams),
        cmocka_unit_test(test_media__start_in_mpegts_is_exact),
        cmocka_unit_test(test_media__motion_vectors_measure_movement),
        cmocka_unit_test(test_media__memory_input_equals_file_input),
        cmocka_unit_test(test_media__bad_files_fail_as_bad_input),
        cmocka_unit_test(test_media__seed_corpus_decodes),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
