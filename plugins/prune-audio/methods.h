/*
 * methods.h - the audio token-pruning methods of prune-audio as plain C over float arrays.
 *
 * Every method decides which of n audio tokens (25 per second for a Whisper-style encoder)
 * to keep and sets mask[i] = 1 for each; tokens are always kept in time order. Budgets and
 * ties follow prune-common/select.h: K = floor(keep * n) clamped to [1, n], equal importance
 * goes to the earlier token, NaN importance counts as the lowest.
 *
 * Real keep fraction (K_real / n) per method:
 *   segment-topk, topk, uniform, random   exactly floor(keep * n) (clamped), so keep: 1.0 is
 *                                         the identity for all four (segment-topk with
 *                                         remainder: drop keeps S * floor(K / S) <= K);
 *   threshold                             not tied to keep at all: every token with
 *                                         importance >= alpha * mean(importance); may be 0.
 *
 * Usage:
 *     uint8_t *mask = calloc(n, 1);
 *     int k = pa_segment_topk(importance, n, 0.25, 10, mask);
 *     pa_gather(x, c, mask, n, tokens_out, index_out);
 */
#ifndef SIEVE_PRUNE_AUDIO_METHODS_H
#define SIEVE_PRUNE_AUDIO_METHODS_H

#include <stddef.h>
#include <stdint.h>

/*
 * Segment-wise top-K (Gibier et al. 2025): segment s covers tokens [floor(s*n/S),
 * floor((s+1)*n/S)) (so lengths differ by at most one when n % S != 0); each keeps its
 * floor(K/S) most important tokens. The remainder r = K - S*floor(K/S) (< S) goes one token
 * each to the r segments whose best not-yet-kept token is most important (ties: the earlier
 * segment); such segments always exist because K <= n. Segments may be empty when S > n.
 * Returns: the number kept (exactly K), SIEVE_EINVAL for segments < 1, SIEVE_ENOMEM.
 */
int pa_segment_topk(const float *importance, size_t n, double keep, int64_t segments,
                    uint8_t *mask);

/*
 * The paper's plain rule (arXiv 2511.14293, no official code): the same segments, each keeps
 * its min(floor(K/S), length) most important tokens and the remainder is not spent, so
 * S * floor(K/S) <= K tokens are kept (K = 187 of 750 with S = 10 keeps 180; K < S keeps 0).
 * Returns: the number kept, SIEVE_EINVAL for segments < 1, SIEVE_ENOMEM.
 */
int pa_segment_topk_plain(const float *importance, size_t n, double keep, int64_t segments,
                          uint8_t *mask);

/*
 * The K most important tokens overall, by the encoder's importance (ties: the earlier token).
 * Not FastV, which ranks by the LLM's own attention at layer K, something sieve never sees.
 * Returns K or SIEVE_ENOMEM.
 */
int pa_topk(const float *importance, size_t n, double keep, uint8_t *mask);

/* Every token with importance >= alpha * mean (the mean in double). Returns the count. */
int pa_threshold(const float *importance, size_t n, double alpha, uint8_t *mask);

/* K evenly spaced tokens: indices floor(i * n / K) for i = 0..K-1. Returns K. */
int pa_uniform(size_t n, double keep, uint8_t *mask);

/* The K tokens with the smallest splitmix64(seed, index) keys. Returns K or SIEVE_ENOMEM. */
int pa_random(size_t n, double keep, uint64_t seed, uint8_t *mask);

/* Copies the masked rows of x[n][c] into tokens[k][c] and their indices into index[k], in
 * time order. Returns k. */
size_t pa_gather(const float *x, size_t c, const uint8_t *mask, size_t n, float *tokens,
                 int32_t *index);

#endif
