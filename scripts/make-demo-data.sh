#!/usr/bin/env bash
# make-demo-data.sh - generates the demo dataset with the ffmpeg program: 24 short clips
# (3-4 s, 224x168, 10 fps H.264 + 16 kHz mono AAC) in 4 categories whose picture and sound
# differ on purpose, plus the manifest demo-data/clips.jsonl (id, media, category, answer).
#
#   Tech & Science  Mandelbrot zooms at different centres; steady high sine beeps (880-1430 Hz)
#   Daily Life      warm flat colours with film grain and a sliding box; brown noise (room tone)
#   Music           colour bars and RGB test patterns with a hue drift; major chords (A3-E4 roots)
#   Sports          Game of Life on green (lots of motion); rising chirps over white noise
#
# Each row carries a multiple-choice question, WorldSense style: `question` ("What kind of sound
# is heard in this clip?"), `choices` (four descriptions, one per sound family, in an order that
# rotates from clip to clip), `answer` (the letter of the right one, A-D) and `sound` ("tone",
# "noise", "chord", "chirp"). The demo's answering model (pipelines/models/demo_answer.py)
# answers it; evaluate-reduce scores its letters against `answer` by category.
#
# Deterministic (seeded sources, single-threaded bit-exact encoding) and idempotent: existing
# clips are kept, and nothing runs when every clip and the manifest are present.
# Usage: scripts/make-demo-data.sh [OUT_DIR]      (default ./demo-data)
# DEMO_PER_CATEGORY=N makes N clips per category instead of 6 (the tests use 1).
set -euo pipefail

out="${1:-demo-data}"
per_category=${DEMO_PER_CATEGORY:-6} # fewer for the tests
size=224x168
rate=10

if ! command -v ffmpeg >/dev/null; then
    echo "make-demo-data: ffmpeg not found (apt-get install ffmpeg)" >&2
    exit 1
fi
mkdir -p "$out/clips"

categories=("Tech & Science" "Daily Life" "Music" "Sports")
slugs=(tech daily music sports)
sounds=(tone noise chord chirp)
descriptions=("a steady high beeping tone" "a low rumbling noise" "a musical chord"
    "a rising chirp over hiss")
letters=(A B C D)

# Video source (lavfi graph) for category c, variant i, duration d.
video_src() {
    local c=$1 i=$2 d=$3
    case $c in
    0) # Mandelbrot: a different centre per clip, zooming in.
        local x y
        x=$(awk -v i="$i" 'BEGIN { printf "%.3f", -0.75 + 0.05 * i }')
        y=$(awk -v i="$i" 'BEGIN { printf "%.3f", 0.1 + 0.02 * i }')
        echo "mandelbrot=size=$size:rate=$rate:start_x=$x:start_y=$y:start_scale=2.5:end_scale=0.8:end_pts=$d"
        ;;
    1) # Warm flat colour, film grain, a slowly sliding darker box.
        local colours=(0xd9a066 0xc98b5a 0xe6c08a 0xb97a56 0xd4b483 0xe0a070)
        echo "color=c=${colours[$i]}:size=$size:rate=$rate[bg];color=c=0x553322:size=60x50:rate=$rate[box];[bg][box]overlay=x='20+t*$((10 + 5 * i))':y=60,noise=alls=18:allf=t+u:all_seed=$((100 + i))"
        ;;
    2) # Colour bars or RGB patterns with a hue drift.
        if ((i % 2 == 0)); then
            echo "smptebars=size=$size:rate=$rate,hue=h='t*$((20 + 10 * i))'"
        else
            echo "rgbtestsrc=size=$size:rate=$rate,hue=h='t*$((20 + 10 * i))'"
        fi
        ;;
    3) # Game of Life in green: fast, everywhere motion.
        echo "life=size=$size:rate=$rate:seed=$((7 + i)):ratio=0.$((2 + i % 5)):mold=10:life_color=0x40ff40:death_color=0x104010:mold_color=0x206020"
        ;;
    esac
}

# Audio source (lavfi graph) for category c, variant i, duration d; 16 kHz mono.
audio_src() {
    local c=$1 i=$2 d=$3
    case $c in
    0) # Beeping sine: 0.25 s on, 0.25 s off.
        echo "sine=frequency=$((880 + 110 * i)):sample_rate=16000:duration=$d,volume='if(lt(mod(t,0.5),0.25),0.6,0)':eval=frame"
        ;;
    1) echo "anoisesrc=color=brown:amplitude=0.$((3 + i % 4)):seed=$((200 + i)):sample_rate=16000:duration=$d" ;;
    2) # Major triad on root r: r, r*5/4, r*3/2.
        local r=$((220 + 20 * i))
        echo "aevalsrc='0.25*sin(2*PI*$r*t)+0.2*sin(2*PI*$r*1.25*t)+0.2*sin(2*PI*$r*1.5*t)':s=16000:d=$d"
        ;;
    3) # Chirp rising from 300 Hz, repeating each second, plus white noise.
        echo "aevalsrc='0.5*sin(2*PI*(300+$((400 + 100 * i))*mod(t,1))*mod(t,1))+0.1*(random($((300 + i)))-0.5)':s=16000:d=$d"
        ;;
    esac
}

manifest_tmp="$out/clips.jsonl.tmp"
: >"$manifest_tmp"
made=0
for c in 0 1 2 3; do
    for ((i = 0; i < per_category; i++)); do
        id="${slugs[$c]}-$(printf %02d $((i + 1)))"
        media="clips/$id.mp4"
        dur=$((3 + i % 2))
        if [ ! -s "$out/$media" ]; then
            tmp="$out/clips/.$id.tmp.mp4"
            ffmpeg -nostdin -hide_banner -loglevel error -y \
                -f lavfi -i "$(video_src $c $i $dur)" \
                -f lavfi -i "$(audio_src $c $i $dur)" \
                -t "$dur" -map 0:v -map 1:a \
                -c:v libx264 -preset veryfast -crf 28 -g 8 -bf 2 -pix_fmt yuv420p -threads 1 \
                -c:a aac -b:a 32k -ar 16000 -ac 1 \
                -fflags +bitexact -flags:v +bitexact -flags:a +bitexact -map_metadata -1 \
                "$tmp"
            mv "$tmp" "$out/$media"
            made=$((made + 1))
        fi
        # Choices rotate by clip so that the right letter varies: choice k is sound (k + r) % 4.
        r=$(((i + c) % 4))
        choices=""
        for k in 0 1 2 3; do
            choices+="\"${descriptions[$(((k + r) % 4))]}\""
            ((k < 3)) && choices+=", "
        done
        letter=${letters[$(((c - r + 4) % 4))]}
        printf '{"id": "%s", "media": "%s", "category": "%s", "question": "%s", "choices": [%s], "answer": "%s", "sound": "%s"}\n' \
            "$id" "$media" "${categories[$c]}" "What kind of sound is heard in this clip?" \
            "$choices" "$letter" "${sounds[$c]}" >>"$manifest_tmp"
    done
done
if [ -f "$out/clips.jsonl" ] && cmp -s "$manifest_tmp" "$out/clips.jsonl"; then
    rm -f "$manifest_tmp"
else
    mv "$manifest_tmp" "$out/clips.jsonl"
fi
echo "make-demo-data: $((4 * per_category)) clips in $out ($made new), manifest $out/clips.jsonl"
