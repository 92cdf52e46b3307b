#!/usr/bin/python3
"""Decode throughput of the decode plugin's reader against the ffmpeg program, and the speed of
the log-mel, in one run.

    /usr/bin/python3 bench/decode/run.py [--seconds 20] [--size 1280x720] [--runs 5]

What is compared: the same generated clip (x264 with B-frames plus AAC stereo), read by
 * sieve: bench_decode (plugins/decode/media.c: demux pass + audio decode and 16 kHz mono
   resample, then the video decode converting the smart_nframes frames to RGB at the
   smart_resize size with bicubic swscale), and
 * ffmpeg: the same frames picked with select='eq(n,i)+...', scaled to the same size with
   flags=bicubic, rgb24 to /dev/null, and the audio resampled to 16 kHz mono f32 to /dev/null,
both with FFmpeg's automatic thread count. The runs alternate; medians of N are printed with
their ratio (ffmpeg time / sieve time, so > 1 means sieve is faster), for wall time and for CPU
time (user + system), the latter being the steadier figure on a shared machine. If build/sieve exists, the
whole plugin through `sieve apply` (log-mel and the safetensors write included) is timed too.

Then the log-mel: 128 bands over 10 minutes of audio on one core (taskset), best of 5, as a
multiple of real time.
"""
import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FFMPEG_LIBS = "libavformat libavcodec libavutil libswscale libswresample"


def sh(cmd, **kw):
    return subprocess.run(cmd, shell=True, check=True, **kw)


def build(tmp):
    exe = os.path.join(tmp, "bench_decode")
    d = os.path.join(ROOT, "plugins", "decode")
    srcs = " ".join(os.path.join(d, f) for f in ("media.c", "audio.c", "video.c", "sampling.c", "mel.c"))
    flags = subprocess.run(f"pkg-config --cflags --libs {FFMPEG_LIBS}", shell=True, check=True,
                           capture_output=True, text=True).stdout.strip()
    sh(f"cc -O2 -std=c11 -D_POSIX_C_SOURCE=200809L -I{ROOT} -I{ROOT}/core/include -o {exe} "
       f"{ROOT}/bench/decode/bench_decode.c {srcs} {flags} -lm")
    return exe


def timed(cmd):
    """Wall seconds and CPU seconds (user + system of the children) of one run."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, shell=True, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--size", default="1280x720")
    ap.add_argument("--runs", type=int, default=5)
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="sieve-bench-decode-")
    try:
        exe = build(tmp)
        clip = os.path.join(tmp, "clip.mp4")
        sh(f"ffmpeg -nostdin -v error -y -f lavfi -i testsrc2=s={a.size}:r=30:d={a.seconds} "
           f"-f lavfi -i \"sine=f=440:d={a.seconds}:sample_rate=44100\" -ac 2 -c:v libx264 "
           f"-preset veryfast -bf 2 -pix_fmt yuv420p -c:a aac -shortest '{clip}'")
        out = subprocess.run([exe, "--indices", clip], check=True, capture_output=True,
                             text=True).stdout.split("\n")
        w, h = out[0].split()[1:3]
        frames = out[1].split()[1:]
        select = "+".join(f"eq(n\\,{i})" for i in frames)
        ours = f"'{exe}' '{clip}'"
        peer = (f"ffmpeg -nostdin -v error -i '{clip}' -map 0:v -vf \"select='{select}',"
                f"scale={w}:{h}:flags=bicubic\" -fps_mode passthrough -f rawvideo -pix_fmt rgb24 "
                f"-y /dev/null -map 0:a -ac 1 -ar 16000 -f f32le -y /dev/null")
        sieve = os.path.join(ROOT, "build", "sieve")
        apply = None
        if os.access(sieve, os.X_OK):
            apply = (f"'{sieve}' apply decode --media '{clip}' "
                     f"--out '{os.path.join(tmp, 'x.safetensors')}'")
        print(f"clip: {a.seconds:g} s {a.size} 30 fps x264 (B-frames) + AAC stereo; "
              f"{len(frames)} frames sampled at {w}x{h}; {a.runs} runs each, alternating")
        t_ours, t_peer, t_apply = [], [], []
        timed(ours)  # warm the page cache
        timed(peer)
        for _ in range(a.runs):
            t_ours.append(timed(ours))
            t_peer.append(timed(peer))
            if apply:
                t_apply.append(timed(apply))
        mo, mp = (statistics.median(w for w, _ in t) for t in (t_ours, t_peer))
        co, cp = (statistics.median(c for _, c in t) for t in (t_ours, t_peer))
        n_src = int(round(a.seconds * 30))
        print(f"  sieve decode (media.c)   median {mo:.3f} s wall, {co:.3f} s CPU "
              f"({n_src / mo:.0f} source frames/s)")
        print(f"  ffmpeg select+scale      median {mp:.3f} s wall, {cp:.3f} s CPU "
              f"({n_src / mp:.0f} source frames/s)")
        print(f"  speed ratio sieve/ffmpeg {mp / mo:.2f}x wall, {cp / co:.2f}x CPU  (target >= 0.9)")
        if apply:
            ma = statistics.median(w for w, _ in t_apply)
            print(f"  sieve apply decode       median {ma:.3f} s wall  (whole plugin: + log-mel, "
                  f"bundle write, process start)")
        mel = subprocess.run(f"taskset -c 0 '{exe}' --mel 600 --repeat 5", shell=True, check=True,
                             capture_output=True, text=True).stdout.strip()
        print(f"  {mel}  (one core, target >= 100x)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
