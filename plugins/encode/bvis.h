/*
 * bvis.h - the built-in vision encoder: Qwen2.5-VL patch layout, seeded orthogonal projection.
 *
 * Frames [T, H, W, 3] (u8, H and W multiples of 28) are cut exactly like Qwen2.5-VL's
 * patchify: 14-pixel patches, 2 frames per temporal patch, 2x2 spatial merge. One merged
 * patch is 2 frames x 28 x 28 x 3 = 4704 pixel values, normalised with the CLIP mean and std
 * (token-methods.md §6.1) and ordered as Qwen's rows: (dh, dw) merge position, channel,
 * frame, y, x. It is projected to C dimensions by a fixed C x 4704 matrix with orthonormal
 * rows, so distances between tokens are a faithful contraction of pixel distances. An odd
 * frame count repeats the last frame.
 *
 * The projection is the Kronecker product A (x) B of a 4 x 4 orthogonal A, mixing the four
 * 14-px patches of a merge window, and a (C/4) x 1176 B with orthonormal rows, projecting each
 * patch (like Qwen's patch embedding followed by its 2x2 merger). Rows of A (x) B are
 * orthonormal because those of A and B are. Output index a * C/4 + b is
 * sum_a' A[a][a'] * (B patch_a')[b]. Drawing it this way costs 2 * 1176 * (C/4)^2 operations
 * at init instead of 2 * 4704 * C^2 for a dense QR (0.25 s instead of several seconds at
 * C = 1280), and a quarter of the work per token. A and then B are drawn from one splitmix64
 * stream started at `seed` (det_orthonormal_rows). C must be a multiple of 4.
 *
 * Importance: one parameter-free self-attention pass per temporal group,
 * softmax(X X^T / sqrt(C)) over the (H/28)(W/28) tokens, averaged over queries (the attention
 * each token receives; sums to 1 per group).
 *
 * Determinism: no BLAS and no libm transcendental; dot products and softmax in double in a
 * fixed order, the projection as float sums in pixel order. Built with -ffp-contract=off, the
 * output is the same bytes on every IEEE-754 machine and for every thread count.
 */
#ifndef ENCODE_BVIS_H
#define ENCODE_BVIS_H

#include <stddef.h>
#include <stdint.h>

#include <sieve/plugin.h>

#include "job.h"

#define BVIS_IN 4704 /* 2 * 28 * 28 * 3 */

struct bvis;

/*
 * Builds the projection for `dim` output dimensions (a multiple of 4, 4 <= dim <= BVIS_IN).
 * Errors: SIEVE_EINVAL (dim out of range), SIEVE_ENOMEM.
 * Ownership: the caller frees *out with bvis_free.
 */
int bvis_new(size_t dim, uint64_t seed, struct bvis **out, struct sieve_errbuf *err);
void bvis_free(struct bvis *m);
size_t bvis_dim(const struct bvis *m);

/*
 * Encodes frames[T, H, W, 3] into tokens[ceil(T/2), (H/28)(W/28), C] and
 * importance[ceil(T/2), (H/28)(W/28)] (both preallocated by the caller).
 * Errors: SIEVE_ENOMEM.
 */
int bvis_run(const struct bvis *m, const uint8_t *frames, size_t T, size_t H, size_t W,
             float *tokens, float *importance, const struct job *job, struct sieve_errbuf *err);

#endif /* ENCODE_BVIS_H */
