/*
 * whisper.h - a Whisper-style audio encoder, from HF safetensors or from seeded weights.
 *
 * Architecture (token-methods.md §6.3, §7.2): conv1 (n_mels -> d, k3, p1) + GELU, conv2 (d -> d,
 * k3, stride 2, p1) + GELU, sinusoidal positions, pre-LN blocks (q, v, out with bias, key
 * without), exact GELU, eps 1e-5, final LayerNorm (HF `layer_norm`, Omni `ln_post`).
 *
 * Chunking (Qwen2.5-Omni): the valid mel frames are cut into chunks of `chunk_frames` (200 =
 * 2 s); each chunk is convolved with zero padding at its own edges (what Omni's padded chunks
 * and padding mask compute), gets positions restarting at 0, and attends only inside itself.
 * `chunk_frames` 3000 gives whole 30-s Whisper windows. Then the encoder frames of the whole
 * input (50 per second) are average-pooled by `pool` (Omni: AvgPool1d(2, 2), trailing odd frame
 * dropped) and the final LayerNorm is applied (pool first, then norm, as Omni does). Valid frames
 * only: a short last window is not padded to 30 s.
 *
 * Positions: the stored `embed_positions.weight` when the file has one (Whisper checkpoints
 * store the sinusoids), else computed sinusoids (§7.2: all sines, then all cosines).
 *
 * Importance: the chosen layer's attention received by each encoder frame, mean over heads and
 * over the queries of its chunk, then averaged like the tokens.
 */
#ifndef ENCODE_WHISPER_H
#define ENCODE_WHISPER_H

#include <stddef.h>
#include <stdint.h>

#include <sieve/plugin.h>

#include "job.h"

struct whisper;

/*
 * Loads an HF Whisper encoder (names `model.encoder.*`, `encoder.*`, or an Omni
 * `thinker.audio_tower.*`). `heads` 0 means d/64. `layer`: -1 or 0 the last (with the final
 * norm), k > 0 the output of layer k, -2 the penultimate, ...
 * Errors: SIEVE_EBADINPUT naming the file and tensor; SIEVE_EINVAL; SIEVE_ENOMEM.
 * Ownership: the caller frees *out with whisper_free.
 */
int whisper_load(const char *path, int64_t heads, int64_t layer, struct whisper **out,
                 struct sieve_errbuf *err);

/*
 * Builds seeded weights of whisper-tiny's shape (4 layers, 1500 positions; with d = 384: 6
 * heads, FFN 1536; other widths get d/64 heads when d is a multiple of 64, else 1, and FFN 4d)
 * for `n_mels` input bins: uniform with variance 1/fan_in, zero biases, unit norms. conv1
 * depends on n_mels; every other weight on `seed` and d only.
 */
int whisper_builtin(uint64_t seed, size_t n_mels, size_t d, int64_t layer, struct whisper **out,
                    struct sieve_errbuf *err);
void whisper_free(struct whisper *m);

size_t whisper_dim(const struct whisper *m);
size_t whisper_mels(const struct whisper *m);
size_t whisper_layer(const struct whisper *m);

/* Number of tokens whisper_run gives for L mel frames. */
size_t whisper_tokens(size_t L, size_t chunk_frames, size_t pool);

/*
 * Encodes mel[n_mels, L] into tokens[Na, d] and importance[Na] (preallocated, Na from
 * whisper_tokens). `chunk_frames` must be even.
 * Errors: SIEVE_EBADINPUT (a chunk longer than the position table), SIEVE_ENOMEM.
 */
int whisper_run(const struct whisper *m, const float *mel, size_t L, size_t chunk_frames,
                size_t pool, float *tokens, float *importance, const struct job *job,
                struct sieve_errbuf *err);

#endif /* ENCODE_WHISPER_H */
