#!/usr/bin/python3
"""Reference log-mel spectrograms for the decode plugin's tests (test_mel.c).

An independent float64 numpy implementation of the Whisper recipe (reference/token-methods.md
§7.1): periodic Hann 400, hop 160, reflect padding of 200 on both sides, 201-bin rFFT, power,
a Slaney mel filterbank built here from the librosa formulas, log10(max(x, 1e-10)), floor at
max - 8, (x + 4) / 4. Like the plugin it keeps ceil(n / 160) frames, the frames Qwen2.5-Omni's
feature_attention_mask marks valid (see qwen_mask_frames below, a separate re-statement of the
feature extractor's padding and mask), and does not pad the signal to 30 s: the STFT of the
reflect-padded signal has 1 + n // 160 frames, and the last one is dropped only when 160 divides n.

Run once with Debian's python3; the outputs are committed:
    /usr/bin/python3 tests/reference/mel_np.py tests/fixtures/decode

Each signal SIG is written to SIG.in.f32 (float32 little-endian); each case NAME writes
NAME.mel.f32 (the expected [n_mels, frames] float32, row-major) and a line in mel_cases.txt:
    NAME SIG N_SAMPLES RATE N_MELS FRAMES
"""
import os
import sys

import numpy as np

N_FFT = 400
HOP = 160


def slaney_hz_to_mel(f):
    f = np.asarray(f, dtype=np.float64)
    f_sp = 200.0 / 3
    lin = f / f_sp
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    return np.where(f >= min_log_hz, min_log_mel + np.log(np.maximum(f, 1e-12) / min_log_hz) / logstep, lin)


def slaney_mel_to_hz(m):
    m = np.asarray(m, dtype=np.float64)
    f_sp = 200.0 / 3
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)


def mel_filterbank(rate, n_mels):
    fft_freqs = np.fft.rfftfreq(N_FFT, d=1.0 / rate)
    edges = slaney_mel_to_hz(np.linspace(slaney_hz_to_mel(0.0), slaney_hz_to_mel(rate / 2), n_mels + 2))
    fb = np.zeros((n_mels, fft_freqs.size))
    for i in range(n_mels):
        left, centre, right = edges[i], edges[i + 1], edges[i + 2]
        rising = (fft_freqs - left) / (centre - left)
        falling = (right - fft_freqs) / (right - centre)
        fb[i] = np.maximum(0.0, np.minimum(rising, falling)) * (2.0 / (right - left))
    return fb


def qwen_mask_frames(n_samples, max_length=480000):
    """Frames Qwen2.5-Omni's feature_attention_mask keeps for n_samples of audio.

    The Whisper feature extractor pads the waveform with zeros (to max_length, 30 s, and at
    least to a multiple of the hop), builds a per-sample attention mask (1 on real samples) and
    subsamples it every HOP samples: mask[::160]. Element j is sample 160·j, real when
    160·j < n, so the count is ceil(n / 160). Computed on the mask itself, not by the formula.
    """
    length = max(max_length, -(-n_samples // HOP) * HOP)
    mask = np.zeros(length, dtype=np.int32)
    mask[:n_samples] = 1
    return int(mask[::HOP].sum())


def qwen_audio_tokens(mel_frames, chunk=200):
    """Audio tokens of Qwen2.5-Omni's encoder: per chunk of 200 frames (len - 1) // 2 + 1 after
    the stride-2 convolution, then the AvgPool1d(2, 2) over the whole sequence."""
    conv = 0
    for c0 in range(0, mel_frames, chunk):
        conv += (min(chunk, mel_frames - c0) - 1) // 2 + 1
    return (conv - 2) // 2 + 1 if conv >= 2 else 0


def log_mel(x, rate, n_mels):
    x = x.astype(np.float64)
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)
    padded = np.pad(x, N_FFT // 2, mode="reflect")
    frames = -(-x.size // HOP)  # ceil: every frame that starts inside the real audio
    idx = np.arange(frames)[:, None] * HOP + np.arange(N_FFT)[None, :]
    spec = np.fft.rfft(padded[idx] * window, axis=1)
    power = np.abs(spec) ** 2  # [frames, 201]
    mel = mel_filterbank(rate, n_mels) @ power.T  # [n_mels, frames]
    logs = np.log10(np.maximum(mel, 1e-10))
    if logs.size:
        logs = np.maximum(logs, logs.max() - 8.0)
    return ((logs + 4.0) / 4.0).astype(np.float32)


def main():
    out = sys.argv[1]
    rng = np.random.default_rng(20261121)
    rate = 16000
    t = np.arange(int(2.0 * rate)) / rate
    # Exponential sweep 50 Hz -> 7.5 kHz over 2 s, at 0.5 amplitude.
    f0, f1, dur = 50.0, 7500.0, 2.0
    k = np.log(f1 / f0) / dur
    sweep = 0.5 * np.sin(2 * np.pi * f0 * (np.exp(k * t) - 1) / k)
    cases = [
        ("sweep", "sweep", sweep.astype(np.float32), rate, 128),
        ("sweep80", "sweep", sweep.astype(np.float32), rate, 80),
        ("silence", "silence", np.zeros(int(0.75 * rate), np.float32), rate, 128),
        ("noise", "noise", (0.3 * rng.standard_normal(int(1.234 * rate))).astype(np.float32), rate, 128),
        # Shorter than the 200-sample reflect pad: numpy reflects periodically.
        ("short", "short", (0.1 * rng.standard_normal(170)).astype(np.float32), rate, 128),
    ]
    # The counts the comparison with Qwen2.5-Omni quoted (issue 17): 19,744 samples -> 124 frames,
    # 40,100 -> 251 frames -> 63 audio tokens (floor(n/160) gave 123 and 250 -> 62).
    assert qwen_mask_frames(19744) == 124 and -(-19744 // HOP) == 124
    assert qwen_mask_frames(40100) == 251 and qwen_audio_tokens(251) == 63
    assert qwen_audio_tokens(250) == 62
    for n in (1, 159, 160, 161, 319, 320, 12000, 19744, 40100, 479999, 480000, 480001):
        assert qwen_mask_frames(n) == -(-n // HOP), n
    cases.append(("odd", "odd", (0.2 * rng.standard_normal(40100)).astype(np.float32), rate, 128))
    with open(os.path.join(out, "mel_cases.txt"), "w") as listing:
        for name, sig, x, r, n_mels in cases:
            mel = log_mel(x, r, n_mels)
            x.astype("<f4").tofile(os.path.join(out, sig + ".in.f32"))
            mel.astype("<f4").tofile(os.path.join(out, name + ".mel.f32"))
            listing.write(f"{name} {sig} {x.size} {r} {n_mels} {mel.shape[1]}\n")


if __name__ == "__main__":
    main()
