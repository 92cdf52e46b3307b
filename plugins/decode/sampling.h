/*
 * sampling.h - which frames to take from a video and what size to give them, by the rules of
 * Qwen2.5-Omni / Qwen2.5-VL (`qwen_omni_utils/v2_5/vision_process.py`, reference/token-methods.md
 * §6.1).
 *
 * The functions reproduce the Python reference to the bit: Python's `round` and numpy/torch
 * `round` are round-half-to-even, so this file rounds with rint() under the default rounding
 * mode; the frame indices come from torch's float32 `linspace`, so they are computed in float
 * exactly the way ATen's AVX2 CPU kernel does (see sampling_frame_indices). tests/unit/decode/test_sampling.c checks all of it against a table made by
 * tests/reference/sampling_py.py with torch itself.
 *
 * Usage:
 *
 *     int64_t n = sampling_smart_nframes(total, src_fps, 2.0, 4, 768);
 *     if (n < 0) ... the clip is too short ...
 *     sampling_frame_indices(total, n, idx);
 *     double cap = sampling_video_max_pixels(602112, 100352, SAMPLING_VIDEO_TOTAL_PIXELS, n);
 *     if (sampling_smart_resize(h, w, 100352, cap, &out_h, &out_w) < 0) ... aspect > 200 ...
 */
#ifndef SIEVE_DECODE_SAMPLING_H
#define SIEVE_DECODE_SAMPLING_H

#include <stdint.h>

/* The constants of vision_process.py. */
#define SAMPLING_FACTOR 28                        /* IMAGE_FACTOR: 14 px patches merged 2x2 */
#define SAMPLING_FRAME_FACTOR 2                   /* frames go to the encoder in pairs */
#define SAMPLING_MAX_RATIO 200                    /* longer side / shorter side */
#define SAMPLING_VIDEO_MIN_PIXELS (128 * 28 * 28) /* 100352 */
#define SAMPLING_VIDEO_MAX_PIXELS (768 * 28 * 28) /* 602112 */
#define SAMPLING_VIDEO_TOTAL_PIXELS 90316800      /* int(128000 * 28 * 28 * 0.9) */

/*
 * Computes the frame size for an h x w picture: both sides multiples of 28, about the same
 * aspect ratio, and h*w within [min_pixels, max_pixels] (smart_resize).
 * Returns: 0 with *out_h, *out_w set.
 * Errors: SIEVE_EBADINPUT when a side is not positive or the aspect ratio exceeds 200 (the
 * reference raises ValueError).
 * One guard the reference lacks: a side that would round down to 0 (only possible at extreme
 * aspect ratios with a small max_pixels) becomes 28 and the other side is shortened to keep
 * within max_pixels, since a zero-sized frame cannot be made.
 */
int sampling_smart_resize(int64_t h, int64_t w, double min_pixels, double max_pixels,
                          int64_t *out_h, int64_t *out_w);

/*
 * Computes how many frames to sample from `total_frames` frames at `video_fps` when asking for
 * `fps` (smart_nframes): total/video_fps*fps clamped to [ceil2(min_frames), floor2(max_frames)]
 * and to total_frames, then floored to an even count.
 * Returns: the count (even, >= 2).
 * Errors: SIEVE_EBADINPUT when the result falls outside [2, total_frames] (a clip of one frame)
 * or an argument is not positive.
 */
int64_t sampling_smart_nframes(int64_t total_frames, double video_fps, double fps,
                               int64_t min_frames, int64_t max_frames);

/*
 * Fills idx[0..n-1] with torch.linspace(0, total_frames - 1, n).round(): float32 arithmetic
 * in ATen's order of operations, ties to even. n must be >= 1; n == 1 gives {0} as torch does.
 */
void sampling_frame_indices(int64_t total_frames, int64_t n, int64_t *idx);

/*
 * Computes the per-frame pixel cap of fetch_video for a video of `nframes` sampled frames:
 * min(max_pixels, max(min(VIDEO_MAX_PIXELS, total_pixels / nframes * 2),
 *                     int(min_pixels * 1.05))).
 * `max_pixels` is the user's bound (the reference's `max_pixels_supposed`).
 */
double sampling_video_max_pixels(double max_pixels, double min_pixels, double total_pixels,
                                 int64_t nframes);

/* The sample rate the chosen frames represent: nframes / total_frames * video_fps. */
double sampling_sample_fps(int64_t nframes, int64_t total_frames, double video_fps);

#endif
