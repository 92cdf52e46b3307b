#!/usr/bin/python3
"""Reference frame counts, frame indices and frame sizes for the decode plugin's tests.

An independent transcription of smart_nframes, smart_resize and fetch_video's per-frame pixel
cap from Qwen2.5-Omni's vision_process.py (reference/token-methods.md §6.1), written from the
formulas, with the frame indices taken from torch.linspace itself as the reference does.

Run once with Debian's python3 (numpy, torch); the output is committed:
    /usr/bin/python3 tests/reference/sampling_py.py > tests/fixtures/decode/sampling_cases.txt

Output, one case per line, space separated:
    case TOTAL VIDEO_FPS FPS MIN_FRAMES MAX_FRAMES H W MIN_PX MAX_PX TOTAL_PX NFRAMES OUT_H OUT_W IDX...
NFRAMES is -1 when smart_nframes rejects the clip; OUT_H and OUT_W are -1 when smart_resize
rejects the size (aspect ratio over 200). Floats are written with repr(), which round-trips.
Then lines
    linspace TOTAL N SIGNATURE
with SIGNATURE = sum((k + 1) * idx[k]) over torch.linspace(0, TOTAL - 1, N).round(), for a wide
sweep of (TOTAL, N) that exercises float32 rounding near the .5 ties.
"""
import math
import random

import torch

FACTOR = 28
FRAME_FACTOR = 2
MAX_RATIO = 200
VIDEO_MAX_PIXELS = 768 * 28 * 28
VIDEO_TOTAL_PIXELS = int(float(128000 * 28 * 28 * 0.9))


def nearest_multiple(x, f):
    return round(x / f) * f  # Python round: ties to even


def up_multiple(x, f):
    return math.ceil(x / f) * f


def down_multiple(x, f):
    return math.floor(x / f) * f


def frame_count(total, video_fps, fps, min_frames, max_frames):
    lo = up_multiple(min_frames, FRAME_FACTOR)
    hi = down_multiple(max_frames, FRAME_FACTOR)
    n = total / video_fps * fps
    n = min(min(max(n, lo), hi), total)
    n = down_multiple(n, FRAME_FACTOR)
    if n < FRAME_FACTOR or n > total:
        return -1
    return n


def frame_size(h, w, min_px, max_px):
    if max(h, w) / min(h, w) > MAX_RATIO:
        return -1, -1
    hh = max(FACTOR, nearest_multiple(h, FACTOR))
    ww = max(FACTOR, nearest_multiple(w, FACTOR))
    if hh * ww > max_px:
        beta = math.sqrt((h * w) / max_px)
        hh = down_multiple(h / beta, FACTOR)
        ww = down_multiple(w / beta, FACTOR)
    elif hh * ww < min_px:
        beta = math.sqrt(min_px / (h * w))
        hh = up_multiple(h * beta, FACTOR)
        ww = up_multiple(w * beta, FACTOR)
    # The plugin makes a side that rounds to 0 the smallest legal one and shortens the other to
    # stay within max_px (the reference would try to resize to zero); only the extreme-aspect
    # cases with a small budget reach this.
    if hh < FACTOR:
        hh, ww = FACTOR, min(ww, down_multiple(max_px / FACTOR, FACTOR))
    if ww < FACTOR:
        ww, hh = FACTOR, min(hh, down_multiple(max_px / FACTOR, FACTOR))
    return max(hh, FACTOR), max(ww, FACTOR)


def decoded_size(coded_h, coded_w, rotation_tag, mode, min_px, max_px):
    """The (H, W) decode gives a clip whose coded picture is coded_h x coded_w and whose
    display matrix asks for rotation_tag degrees: Qwen's reader (decord) ignores the tag, so
    `ignore` resizes the coded picture; `apply` resizes the upright one (sides swapped at 90
    and 270 degrees)."""
    h, w = coded_h, coded_w
    if mode == "apply" and rotation_tag % 180:
        h, w = w, h
    return frame_size(h, w, min_px, max_px)


def pixel_cap(max_px, min_px, total_px, n):
    cap = max(min(VIDEO_MAX_PIXELS, total_px / n * FRAME_FACTOR), int(min_px * 1.05))
    return min(max_px, cap)


def indices(total, n):
    return torch.linspace(0, total - 1, n).round().long().tolist()


def main():
    # Issue 17: a 640x360 clip tagged rotate=90 reaches Qwen as H x W = 364 x 644 (decord
    # ignores the tag); applying the tag gives 644 x 364, a different token grid.
    assert decoded_size(360, 640, 90, "ignore", 128 * 28 * 28, 768 * 28 * 28) == (364, 644)
    assert decoded_size(360, 640, 90, "apply", 128 * 28 * 28, 768 * 28 * 28) == (644, 364)
    durations = [0.08, 0.3, 0.5, 1.0, 1.9, 2.0, 3.3, 10.0, 61.7, 300.0, 601.0, 3600.0]
    rates = [24000 / 1001, 25.0, 30000 / 1001, 30.0, 50.0, 60.0, 12.5, 7.0, 1.0]
    sizes = [(120, 160), (1080, 1920), (1920, 1080), (480, 640), (720, 1280), (33, 47),
             (28, 5600), (10, 2100), (2160, 3840), (101, 99), (14, 14), (42, 70), (70, 42),
             (1, 1), (3, 601), (239, 321), (95, 8191), (8191, 95)]
    variants = [  # fps, min_frames, max_frames, min_px, max_px, total_px
        (2.0, 4, 768, 128 * 28 * 28, 768 * 28 * 28, VIDEO_TOTAL_PIXELS),
        (1.0, 4, 768, 128 * 28 * 28, 768 * 28 * 28, VIDEO_TOTAL_PIXELS),
        (0.5, 3, 64, 64 * 28 * 28, 256 * 28 * 28, VIDEO_TOTAL_PIXELS),
        (4.0, 5, 33, 4 * 28 * 28, 16384 * 28 * 28, 24576 * 28 * 28),
        (2.0, 4, 768, 128 * 28 * 28, 768 * 28 * 28, 4096 * 28 * 28),
    ]
    rng = random.Random(5)
    for dur in durations:
        for rate in rates:
            total = max(1, int(round(dur * rate)))
            for v in variants:
                fps, mnf, mxf, mnp, mxp, tp = v
                h, w = sizes[rng.randrange(len(sizes))]
                n = frame_count(total, rate, fps, mnf, mxf)
                idx = indices(total, n) if n > 0 else []
                if n > 0:
                    cap = pixel_cap(mxp, mnp, tp, n)
                    oh, ow = frame_size(h, w, mnp, cap)
                else:
                    oh, ow = -1, -1
                print("case", total, repr(rate), repr(fps), mnf, mxf, h, w, mnp, mxp, tp, n, oh,
                      ow, *idx)
    # Every size against the default bounds, for a short and a long clip.
    for h, w in sizes:
        for total, rate in ((50, 25.0), (100000, 30000 / 1001)):
            n = frame_count(total, rate, 2.0, 4, 768)
            cap = pixel_cap(768 * 28 * 28, 128 * 28 * 28, VIDEO_TOTAL_PIXELS, n)
            oh, ow = frame_size(h, w, 128 * 28 * 28, cap)
            print("case", total, repr(rate), repr(2.0), 4, 768, h, w, 128 * 28 * 28,
                  768 * 28 * 28, VIDEO_TOTAL_PIXELS, n, oh, ow, *indices(total, n))
    # A tiny budget at extreme aspect ratios: a side would round down to 0 (the guard).
    for h, w in ((95, 8191), (8191, 95), (28, 5600), (60, 12000)):
        n = frame_count(16, 10.0, 2.0, 1, 8)
        cap = pixel_cap(28 * 28 * 16, 28 * 28, 28 * 28 * 64, n)
        oh, ow = frame_size(h, w, 28 * 28, cap)
        print("case", 16, repr(10.0), repr(2.0), 1, 8, h, w, 28 * 28, 28 * 28 * 16, 28 * 28 * 64,
              n, oh, ow, *indices(16, n))
    for _ in range(4000):
        total = rng.randrange(2, 20000)
        n = rng.randrange(2, min(total, 800) + 1)
        idx = indices(total, n)
        print("linspace", total, n, sum((k + 1) * x for k, x in enumerate(idx)))
    for total in range(2, 200):
        for n in range(2, min(total, 24) + 1):
            idx = indices(total, n)
            print("linspace", total, n, sum((k + 1) * x for k, x in enumerate(idx)))


if __name__ == "__main__":
    main()
