/*
 * mel.h - the Whisper log-mel spectrogram (reference/token-methods.md §7.1), as Qwen2.5-Omni's
 * audio encoder expects it.
 *
 * The recipe, step by step: periodic Hann window of 400 samples; hop 160; the signal padded by
 * 200 samples on each side by reflection (torch.stft center=True, pad_mode="reflect"); a
 * 400-point DFT, 201 bins; power |X|^2; a Slaney-style mel filterbank as librosa builds it
 * (fmin 0, fmax rate/2, Slaney mel scale, area normalisation 2/(f[i+2]-f[i])); log10 of
 * max(x, 1e-10); a floor at the global maximum minus 8; then (x + 4) / 4.
 *
 * Frames: the output has mel_frame_count(n) = ceil(n/160) frames, the count Qwen2.5-Omni's
 * feature_attention_mask keeps (its extractor pads the audio with zeros and the mask, sampled
 * every 160 samples, marks ceil(n/160) frames valid: 19,744 samples give 124 frames, 40,100
 * give 251 and so 63 audio tokens). The STFT of n samples has 1 + floor(n/160) frames; Whisper
 * drops the last one, which is right only when 160 divides n: otherwise that frame starts
 * inside the real audio and the mask keeps it. The signal is not padded to 30 s; the edges are
 * reflected as openai/whisper's log_mel_spectrogram does on unpadded audio, so every frame
 * Whisper computes has Whisper's value. The extractor reflects a zero-padded signal instead, so
 * the last frame or two see reflected samples where it sees zeros. The global maximum of step
 * 6 is taken over the frames kept.
 *
 * Everything up to the logarithm runs in double precision, so the result matches a float64
 * numpy implementation to about 1e-6 (tests/reference/mel_np.py, tests/unit/decode/test_mel.c).
 *
 * Usage:
 *
 *     struct mel_bank *mb;
 *     if (mel_bank_new(16000, 128, &mb) < 0) ...
 *     int64_t t = mel_frame_count(n);
 *     float *spec = malloc(128 * t * sizeof *spec);   // [128, t], row-major
 *     mel_compute(mb, samples, n, spec);
 *     mel_bank_free(mb);
 *
 * Thread: a bank is read-only after mel_bank_new; several threads may share one.
 */
#ifndef SIEVE_DECODE_MEL_H
#define SIEVE_DECODE_MEL_H

#include <stdint.h>

#define MEL_N_FFT 400
#define MEL_HOP 160
#define MEL_N_BINS (MEL_N_FFT / 2 + 1)

struct mel_bank;

/*
 * Builds the filterbank for `n_mels` bands at `sample_rate` Hz and the FFT tables.
 * Returns: 0 with *out set.
 * Errors: SIEVE_EINVAL for a rate or band count that is not positive (or above 1024 bands);
 * SIEVE_ENOMEM.
 * Ownership: the caller frees *out with mel_bank_free.
 */
int mel_bank_new(int sample_rate, int n_mels, struct mel_bank **out);

/* Frees a bank; accepts NULL. */
void mel_bank_free(struct mel_bank *mb);

/* Number of bands of the bank. */
int mel_bank_bands(const struct mel_bank *mb);

/*
 * The filterbank as a dense [n_mels, 201] row-major matrix, for tests. Returns a pointer into
 * the bank (valid while it lives).
 */
const double *mel_bank_filters(const struct mel_bank *mb);

/*
 * Number of log-mel frames for n samples: ceil(n / 160), the frames Qwen2.5-Omni's
 * feature_attention_mask keeps. Changing it changes every audio token count downstream.
 */
int64_t mel_frame_count(int64_t n_samples);

/*
 * Computes the log-mel spectrogram of x[0..n-1] into out, [n_mels, mel_frame_count(n)]
 * row-major (band-major, as Whisper's `input_features`).
 * Returns: the number of frames written (0 when n < 160). It cannot fail: the bank holds all
 * the tables and the per-frame buffers live on the stack.
 * Ownership: out is the caller's, sized n_mels * mel_frame_count(n) floats.
 */
int64_t mel_compute(const struct mel_bank *mb, const float *x, int64_t n, float *out);

#endif
