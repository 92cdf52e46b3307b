/*
 * bench_decode.c - drives the decode plugin's reader and log-mel outside the host, for
 * bench/decode/run.py (timing against the ffmpeg program) and for looking at its output.
 *
 *   bench_decode [--fps F] [--threads N] [--no-audio] [--out FILE] [--indices] MEDIA
 *       decodes MEDIA with the plugin's defaults (or the given fps); --out writes the frames
 *       as raw RGB24; --indices prints the chosen frame numbers (frame_pts * source fps) and the
 *       output size, so the peer command can select the same frames.
 *   bench_decode --mel SECONDS [--repeat R]
 *       computes the 128-band log-mel of SECONDS of noise R times on this thread and prints
 *       the speed in multiples of real time.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "plugins/decode/media.h"
#include "plugins/decode/mel.h"

struct grab {
    struct media_video_out out;
    int64_t T, H, W;
};

static int
grab_alloc(void *opaque, const struct media_info *info, struct media_video_out *out,
           struct sieve_errbuf *err)
{
    struct grab *g = opaque;
    g->T = info->n_frames;
    g->H = info->height;
    g->W = info->width;
    g->out.frames = calloc((size_t)(g->T * g->H * g->W * 3), 1);
    g->out.pts = calloc((size_t)g->T, sizeof(double));
    g->out.types = calloc((size_t)g->T, 1);
    if (!g->out.frames || !g->out.pts || !g->out.types)
        return sieve_errbuf_set(err, SIEVE_ENOMEM, "out of memory");
    *out = g->out;
    return 0;
}

static double
now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int
bench_mel(double seconds, int repeat)
{
    const int64_t n = (int64_t)(seconds * 16000);
    float *x = malloc((size_t)n * sizeof *x), *out;
    struct mel_bank *mb;
    double best = INFINITY;
    uint32_t s = 1;

    if (!x || mel_bank_new(16000, 128, &mb) < 0)
        return 1;
    out = malloc((size_t)(128 * mel_frame_count(n)) * sizeof *out);
    if (!out)
        return 1;
    for (int64_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        x[i] = (float)((double)s / 4294967296.0 - 0.5);
    }
    for (int r = 0; r < repeat; r++) {
        double t0 = now();
        mel_compute(mb, x, n, out);
        double dt = now() - t0;
        if (dt < best)
            best = dt;
    }
    printf("mel: %.1f s of audio in %.4f s (best of %d): %.0fx real time\n", seconds, best, repeat,
           seconds / best);
    mel_bank_free(mb);
    free(x);
    free(out);
    return 0;
}

int
main(int argc, char **argv)
{
    struct media_opts o;
    struct media_info info;
    struct media_sink sink;
    struct grab g = {0};
    struct sieve_errbuf err = {{0}};
    const char *out_path = NULL, *media = NULL;
    int indices = 0, repeat = 20, rc;
    double mel_seconds = 0;
    float *audio = NULL;
    int64_t n_audio = 0;

    media_opts_init(&o);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--fps") && i + 1 < argc)
            o.fps = atof(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            o.threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--no-video"))
            o.video = 0;
        else if (!strcmp(argv[i], "--no-audio"))
            o.audio = 0;
        else if (!strcmp(argv[i], "--out") && i + 1 < argc)
            out_path = argv[++i];
        else if (!strcmp(argv[i], "--indices"))
            indices = 1;
        else if (!strcmp(argv[i], "--mel") && i + 1 < argc)
            mel_seconds = atof(argv[++i]);
        else if (!strcmp(argv[i], "--repeat") && i + 1 < argc)
            repeat = atoi(argv[++i]);
        else
            media = argv[i];
    }
    if (mel_seconds > 0)
        return bench_mel(mel_seconds, repeat);
    if (!media) {
        fprintf(stderr, "usage: bench_decode [options] MEDIA | --mel SECONDS\n");
        return 2;
    }
    sink = (struct media_sink){.opaque = &g, .video_alloc = grab_alloc};
    rc = media_decode_file(media, &o, &sink, &info, &audio, &n_audio, &err);
    if (rc < 0) {
        fprintf(stderr, "bench_decode: %s\n", err.msg);
        return 1;
    }
    if (indices) {
        printf("size %lld %lld\n", (long long)info.width, (long long)info.height);
        printf("frames");
        for (int64_t k = 0; k < g.T; k++)
            printf(" %lld", (long long)llround(g.out.pts[k] * info.src_fps));
        printf("\n");
    }
    if (out_path) {
        FILE *f = fopen(out_path, "wb");
        size_t bytes = (size_t)(g.T * g.H * g.W * 3);
        if (!f || fwrite(g.out.frames, 1, bytes, f) != bytes || fclose(f) != 0) {
            fprintf(stderr, "bench_decode: write '%s' failed\n", out_path);
            return 1;
        }
    }
    free(g.out.frames);
    free(g.out.pts);
    free(g.out.types);
    free(audio);
    return 0;
}
