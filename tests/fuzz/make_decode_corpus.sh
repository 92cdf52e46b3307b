#!/usr/bin/env bash
# Regenerates the seed corpus of fuzz_decode: tiny media files (a few KB each) covering the
# containers and codecs the decode plugin meets (mp4 with B-frames and an index in front,
# MPEG-TS, Matroska, WebM, AVI, raw H.264 without timestamps, WAV, Ogg, a still PNG, a GIF,
# a rotated clip). Needs the ffmpeg program (scripts/install-deps.sh).
#     tests/fuzz/make_decode_corpus.sh [DIR]      # default tests/fuzz/corpus/decode
set -euo pipefail
out=${1:-$(dirname "$0")/corpus/decode}
mkdir -p "$out"
ff() { ffmpeg -nostdin -hide_banner -v error -y "$@"; }
v="-f lavfi -i testsrc=s=64x48:r=10:d=0.6"
a="-f lavfi -i sine=f=440:d=0.6:sample_rate=8000"
ff $v $a -c:v libx264 -bf 2 -g 4 -pix_fmt yuv420p -c:a aac -b:a 16k -shortest \
    -movflags +faststart "$out/h264_aac_fast.mp4"
ff $v -c:v libx264 -bf 2 -g 4 -pix_fmt yuv420p -metadata:s:v:0 rotate=90 "$out/rotated.mp4"
ff $v $a -c:v mpeg4 -bf 1 -g 4 -q:v 10 -c:a libmp3lame -b:a 16k -shortest "$out/mpeg4_mp3.avi"
ff $v $a -c:v libvpx -b:v 50k -c:a libvorbis -shortest "$out/vp8_vorbis.webm"
ff $v $a -c:v mjpeg -q:v 20 -c:a flac -shortest "$out/mjpeg_flac.mkv"
ff $v $a -c:v libx264 -bf 1 -pix_fmt yuv420p -c:a mp2 -b:a 32k -shortest "$out/h264_mp2.ts"
ff $v -c:v libx264 -bf 2 -pix_fmt yuv420p -bsf:v h264_mp4toannexb -f h264 "$out/raw.h264"
ff -f lavfi -i "sine=f=300:d=0.2:sample_rate=8000" -ac 2 -c:a pcm_s16le "$out/stereo.wav"
ff -f lavfi -i "sine=f=300:d=0.3:sample_rate=48000" -c:a libopus -b:a 8k "$out/opus.ogg"
ff -f lavfi -i testsrc=s=32x24:d=1 -frames:v 1 "$out/still.png"
ff -f lavfi -i testsrc=s=32x24:r=5:d=0.6 "$out/anim.gif"
ls -l "$out"
