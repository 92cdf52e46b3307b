/*
 * media.h - reads one media file through the FFmpeg libraries into Qwen2.5-Omni's input
 * layout: sampled RGB frames with timestamps, codec frame types and motion, and mono audio.
 *
 * How a file is read (two passes over the container, one decode of each stream):
 *   1. Demux everything once: collect the presentation timestamps of the video packets in the
 *      requested time range (that is the clip's frame count, as decord's len() would give), and
 *      decode and resample the audio on the way.
 *   2. Choose the frames (sampling.h: smart_nframes, torch-style linspace, nearest-pts), ask
 *      the sink for output buffers of the final shape, then seek back to the keyframe before
 *      the first chosen frame (or open the file again when the seek fails or overshoots) and
 *      decode the video stream, converting only the chosen frames, and stop after the last.
 *
 * Frame selection by timestamps: target k sits at first_pts + idx_k * (last_pts - first_pts) /
 * (N - 1), and the frame with the nearest timestamp is taken. For constant frame rate that is
 * exactly frame idx_k, as in the reference; for variable frame rate the frames are spread
 * evenly in time rather than in frame count. Streams without timestamps fall back to output
 * order ("frame-order").
 *
 * Invariants: the output frames are [T, H, W, 3] RGB24 with T even (>= 2), H and W multiples
 * of 28 after rotation; a stream that is present but disabled is reported but not decoded; bad
 * input never crashes and is reported as SIEVE_EBADINPUT with FFmpeg's own words.
 *
 * Usage:
 *
 *     struct media_opts o;
 *     media_opts_init(&o);                 // Qwen2.5-Omni defaults
 *     struct media_sink sink = { my_state, my_video_alloc, NULL };
 *     struct media_info info;
 *     float *audio; int64_t n_audio;
 *     rc = media_decode_file("clip.mp4", &o, &sink, &info, &audio, &n_audio, err);
 *     ... frames are in the buffers my_video_alloc handed out; free(audio) ...
 *
 * Thread: media_decode_* may run in several threads at once. FFmpeg's log is captured
 * per thread (media installs a global av_log callback that keeps the last error line).
 */
#ifndef SIEVE_DECODE_MEDIA_H
#define SIEVE_DECODE_MEDIA_H

#include <stddef.h>
#include <stdint.h>

#include <sieve/plugin.h>

enum media_resize {
    MEDIA_RESIZE_BICUBIC = 0, /* Keys cubic a = -0.5 (B 0, C 0.5), as PIL/torchvision antialias */
    MEDIA_RESIZE_BILINEAR = 1,
    MEDIA_RESIZE_AREA = 2,
};

/*
 * What to do with a rotation tag (display matrix). Qwen2.5-Omni's video readers (decord, and
 * torchvision's PyAV path) ignore it and hand the model the coded picture, so IGNORE is the
 * default: the token grid is then the model's. APPLY turns the picture upright as ffmpeg shows
 * it, which changes the grid (a 640x360 clip tagged rotate=90 gives 364x644 under IGNORE,
 * 644x364 under APPLY, as H x W).
 */
enum media_rotation {
    MEDIA_ROTATION_IGNORE = 0,
    MEDIA_ROTATION_APPLY = 1,
};

/* What to read and how; media_opts_init fills the Qwen2.5-Omni defaults. */
struct media_opts {
    double fps;          /* frames per second to sample */
    double min_pixels;   /* per-frame pixel bounds for smart_resize */
    double max_pixels;   /* the user's bound; the total_pixels cap may lower it */
    double total_pixels; /* budget over all frames (VIDEO_TOTAL_PIXELS) */
    int64_t min_frames, max_frames;
    int resize;           /* enum media_resize */
    int rotation;         /* enum media_rotation */
    int audio_rate;       /* Hz of the mono output */
    double start;         /* seconds from the container's start */
    double duration;      /* seconds; 0 reads to the end */
    double max_duration;  /* with duration 0: refuse media longer than this (0: no bound) */
    int video, audio;     /* decode these streams */
    int frame_types;      /* fill media_video_out.types */
    int motion_vectors;   /* export motion vectors and fill media_video_out.motion */
    int threads;          /* video decoder threads; 0 lets FFmpeg choose */
    int64_t limit_pixels; /* refuse coded frames larger than this (0: FFmpeg's own limit) */
};

/* What the file is and what was read. Strings are NUL-terminated and never NULL. */
struct media_info {
    int has_video, has_audio;   /* the stream exists in the file (attached covers ignored) */
    int video_read, audio_read; /* frames (samples) were produced */
    char video_codec[32], audio_codec[32]; /* "none" when absent */
    double duration;                       /* container duration in seconds (0 when unknown) */
    double src_fps;                        /* the stream's average frame rate */
    int rotation;                          /* clockwise degrees applied: 0, 90, 180, 270 */
    int rotation_tag;                      /* clockwise degrees the file asks for */
    int64_t src_width, src_height;         /* coded size of the stream, before rotation */
    int64_t width, height;                 /* output size, after any rotation and resize */
    int64_t total_frames;                  /* frames in the time range (N) */
    int64_t n_frames;                      /* frames sampled (T) */
    double sample_fps;                     /* T / N * src_fps */
    int by_pts;                            /* 1: nearest-pts selection, 0: frame order */
    int audio_src_rate, audio_src_channels;
    int64_t audio_samples; /* samples in the output audio */
};

/* The buffers a sink hands out for the video; `types` and `motion` may be NULL when off. */
struct media_video_out {
    uint8_t *frames; /* [T, H, W, 3] */
    double *pts;     /* [T] seconds from the container's start */
    uint8_t *types;  /* [T] 'I', 'P', 'B' or '?' */
    float *motion;   /* [T, H/28, W/28] mean motion-vector length, output pixels */
};

/*
 * Called once the output shape is known (info->n_frames, height, width); fills *out with
 * zeroed buffers of the right sizes that stay valid until media_decode_* returns and beyond.
 * Returns 0 or a negative SIEVE_E* code (with a message in err).
 */
typedef int (*media_video_alloc_fn)(void *opaque, const struct media_info *info,
                                    struct media_video_out *out, struct sieve_errbuf *err);

/* Called now and then with the fraction done; returns non-zero to cancel. May be NULL. */
typedef int (*media_tick_fn)(void *opaque, double fraction);

struct media_sink {
    void *opaque;
    media_video_alloc_fn video_alloc;
    media_tick_fn tick;
};

/* Fills *o with the Qwen2.5-Omni defaults (fps 2, 128..768 tokens per frame, 16 kHz, ...). */
void media_opts_init(struct media_opts *o);

/*
 * Reads the file at `path` (see the header comment).
 * Returns: 0 with *info filled, the video delivered through the sink, and *audio (mono float
 * at o->audio_rate, *n_audio samples) when info->audio_read, else *audio NULL.
 * Errors: SIEVE_EBADINPUT for a missing, corrupt, truncated or non-media file, a video too
 * short or too narrow to sample, or an undecodable stream, with the file name and FFmpeg's
 * message; SIEVE_ENOMEM; SIEVE_ETRANSIENT for an I/O error that may pass; SIEVE_ECANCELED
 * when the tick asked to stop; whatever the sink returned.
 * Ownership: *audio is malloc'd and the caller's to free; NULL on failure.
 */
int media_decode_file(const char *path, const struct media_opts *o, const struct media_sink *sink,
                      struct media_info *info, float **audio, int64_t *n_audio,
                      struct sieve_errbuf *err);

/*
 * Same as media_decode_file for a file held in memory (the fuzzer's entry); `name` is only
 * used in messages. Nested files (playlists, references) are refused.
 */
int media_decode_buffer(const char *name, const uint8_t *data, size_t size,
                        const struct media_opts *o, const struct media_sink *sink,
                        struct media_info *info, float **audio, int64_t *n_audio,
                        struct sieve_errbuf *err);

#endif
