/*
 * sampling.c - smart_nframes, smart_resize and the frame indices of Qwen2.5-Omni.
 *
 * Every operation mirrors the Python reference's arithmetic (double division where Python
 * divides, ties to even where Python rounds) so that results agree exactly, including at the
 * half-way points where a naive round() would differ.
 */
#include "sampling.h"

#include <math.h>

#include <sieve/plugin.h>

/* round(x / f) * f with Python's round (ties to even). */
static int64_t
round_by_factor(double x, int64_t f)
{
    return (int64_t)rint(x / (double)f) * f;
}

static int64_t
ceil_by_factor(double x, int64_t f)
{
    return (int64_t)ceil(x / (double)f) * f;
}

static int64_t
floor_by_factor(double x, int64_t f)
{
    return (int64_t)floor(x / (double)f) * f;
}

int
sampling_smart_resize(int64_t h, int64_t w, double min_pixels, double max_pixels, int64_t *out_h,
                      int64_t *out_w)
{
    const int64_t f = SAMPLING_FACTOR;
    int64_t hb, wb;

    *out_h = *out_w = 0;
    if (h <= 0 || w <= 0)
        return SIEVE_EBADINPUT;
    if ((double)(h > w ? h : w) / (double)(h > w ? w : h) > SAMPLING_MAX_RATIO)
        return SIEVE_EBADINPUT;
    hb = round_by_factor((double)h, f);
    wb = round_by_factor((double)w, f);
    if (hb < f)
        hb = f;
    if (wb < f)
        wb = f;
    if ((double)(hb * wb) > max_pixels) {
        double beta = sqrt((double)(h * w) / max_pixels);
        hb = floor_by_factor((double)h / beta, f);
        wb = floor_by_factor((double)w / beta, f);
    } else if ((double)(hb * wb) < min_pixels) {
        double beta = sqrt(min_pixels / (double)(h * w));
        hb = ceil_by_factor((double)h * beta, f);
        wb = ceil_by_factor((double)w * beta, f);
    }
    /*
     * At extreme aspect ratios with a small max_pixels a side rounds down to 0, where the
     * reference would hand a zero size to the resizer. Make that side 28 and shorten the other
     * so the frame stays within max_pixels.
     */
    if (hb < f) {
        int64_t cap = floor_by_factor(max_pixels / (double)f, f);
        hb = f;
        wb = wb > cap ? cap : wb;
    }
    if (wb < f) {
        int64_t cap = floor_by_factor(max_pixels / (double)f, f);
        wb = f;
        hb = hb > cap ? cap : hb;
    }
    *out_h = hb < f ? f : hb;
    *out_w = wb < f ? f : wb;
    return 0;
}

int64_t
sampling_smart_nframes(int64_t total_frames, double video_fps, double fps, int64_t min_frames,
                       int64_t max_frames)
{
    const int64_t ff = SAMPLING_FRAME_FACTOR;
    double n;
    int64_t lo, hi, count;

    if (total_frames <= 0 || !(video_fps > 0) || !(fps > 0))
        return SIEVE_EBADINPUT;
    lo = ceil_by_factor((double)min_frames, ff);
    hi = floor_by_factor((double)max_frames, ff);
    n = (double)total_frames / video_fps * fps;
    /* min(min(max(n, lo), hi), total): Python compares the float with the ints exactly. */
    if (n < (double)lo)
        n = (double)lo;
    if (n > (double)hi)
        n = (double)hi;
    if (n > (double)total_frames)
        n = (double)total_frames;
    count = floor_by_factor(n, ff);
    if (count < ff || count > total_frames)
        return SIEVE_EBADINPUT;
    return count;
}

void
sampling_frame_indices(int64_t total_frames, int64_t n, int64_t *idx)
{
    /*
     * ATen's CPU linspace for float32 as built for AVX2 (the usual x86 torch): step =
     * (end - start) / (steps - 1) in float; the output is written in vectors of 8 lanes,
     * two vectors per loop turn, and the last n % 16 values one by one. A vector's base
     * counts up from start in the first half and down from end in the second, with a fused
     * multiply-add (the compiler contracts it); its lanes add j * step in two roundings. The
     * scalar tail uses the same fused forms. Exact rounding would differ at some .5 ties,
     * moving a frame index by one; tests/unit/decode/test_sampling.c checks this against
     * torch itself.
     */
    const float start = 0.0f, end = (float)(total_frames - 1);
    const int64_t lanes = 8, half = n / 2, vec_end = n / (2 * lanes) * (2 * lanes);
    float step;

    if (n == 1) {
        idx[0] = 0;
        return;
    }
    step = (end - start) / (float)(n - 1);
    for (int64_t i0 = 0; i0 < vec_end; i0 += lanes) {
        float base =
            i0 < half ? fmaf(step, (float)i0, start) : fmaf(-step, (float)(n - i0 - 1), end);
        for (int64_t j = 0; j < lanes; j++) {
            float lane = (float)j * step;
            idx[i0 + j] = (int64_t)rintf(base + lane);
        }
    }
    for (int64_t i = vec_end; i < n; i++) {
        float v = i < half ? fmaf(step, (float)i, start) : fmaf(-step, (float)(n - i - 1), end);
        idx[i] = (int64_t)rintf(v);
    }
}

double
sampling_video_max_pixels(double max_pixels, double min_pixels, double total_pixels,
                          int64_t nframes)
{
    double cap = total_pixels / (double)nframes * SAMPLING_FRAME_FACTOR;
    double floor_px = (double)(int64_t)(min_pixels * 1.05);

    if (cap > SAMPLING_VIDEO_MAX_PIXELS)
        cap = SAMPLING_VIDEO_MAX_PIXELS;
    if (cap < floor_px)
        cap = floor_px;
    return max_pixels < cap ? max_pixels : cap;
}

double
sampling_sample_fps(int64_t nframes, int64_t total_frames, double video_fps)
{
    double t = (double)total_frames;
    return (double)nframes / (t > 1e-6 ? t : 1e-6) * video_fps;
}
