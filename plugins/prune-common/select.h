/*
 * select.h - the ranking, budgeting and random-number rules shared by the pruning plugins.
 *
 * prune-visual and prune-audio choose tokens in the same few ways, and the golden tests compare
 * their choices with an independent numpy reference (tests/reference/prune_ref.py), so the
 * rules live in one place and are written down here:
 *
 *   Budget.  A keep fraction `keep` over `n` tokens gives K = floor(keep * n) computed in
 *            double precision (Python's `int(keep * n)`), clamped to [1, n] (0 when n is 0).
 *   Order.   Selecting the k smallest keys uses a strict total order: smaller key first, NaN
 *            after every number, and equal keys (including -0 and +0) by lower index. The
 *            numpy reference gets the same order from a stable argsort. Selecting the largest
 *            scores negates them first, so a NaN score is the least important, and ties still
 *            go to the lower index.
 *   Random.  A token's random key is splitmix64 of (seed, index); the reference computes the
 *            same keys with wrapping numpy uint64 arithmetic. "k random tokens" means the k
 *            smallest keys, which is a uniform draw without replacement and needs no state.
 *
 * Usage:
 *     size_t k = prune_budget(0.5, n);
 *     uint8_t *mask = calloc(n, 1);
 *     prune_select_lowest(keys, n, k, mask, NULL);    // mask[i] = 1 for the chosen i
 */
#ifndef SIEVE_PRUNE_SELECT_H
#define SIEVE_PRUNE_SELECT_H

#include <stddef.h>
#include <stdint.h>

/* The token budget for a keep fraction: floor(keep * n) clamped to [1, n]; 0 for n = 0. */
size_t prune_budget(double keep, size_t n);

/* The splitmix64 output for counter `i` under `seed`: a portable, stateless random key. */
uint64_t prune_splitmix64(uint64_t seed, uint64_t i);

/*
 * Chooses the k smallest of key[0..n) in the order described above and sets mask[i] = 1 for
 * each chosen index (mask must hold n bytes; other entries are left as they are). When `order`
 * is not NULL it receives the k chosen indices sorted by that order (smallest key first).
 * Returns: 0, or SIEVE_ENOMEM (nothing is written then).
 */
int prune_select_lowest(const double *key, size_t n, size_t k, uint8_t *mask, int64_t *order);

/* The same over 64-bit unsigned keys (random selection). */
int prune_select_lowest_u64(const uint64_t *key, size_t n, size_t k, uint8_t *mask);

/* Cosine similarity a.b / max(|a| |b|, 1e-8), accumulated in double: 0 when either is zero. */
double prune_cosine(const float *a, const float *b, size_t c);

/* The squared Euclidean norm of a, accumulated in double. */
double prune_norm2(const float *a, size_t c);

/* Copies c floats from src to dst (which must not overlap) and returns the squared norm of
 * src, bit for bit what prune_norm2(src) returns: one pass over a row that is read anyway. */
double prune_copy_norm2(float *dst, const float *src, size_t c);

/* The dot product a.b accumulated in double. */
double prune_dot(const float *a, const float *b, size_t c);

/* The dot product a.b and, in *b2, the squared norm of b, in one pass over both; each equals
 * what prune_dot(a, b) and prune_norm2(b) return, bit for bit. */
double prune_dot_norm2(const float *a, const float *b, size_t c, double *b2);

/*
 * The cosine from a dot product and the two squared norms, by the formula prune_cosine uses:
 * prune_cosine_of(prune_dot(a, b), prune_norm2(a), prune_norm2(b)) == prune_cosine(a, b)
 * bit for bit, so callers may compute each token's norm once and reuse it.
 */
double prune_cosine_of(double dot, double na2, double nb2);

/* Adds the c floats of x to the c doubles of acc, element by element (vectorised as wide as
 * the CPU allows; every element's sum is exact IEEE double addition either way). */
void prune_add_f64(double *acc, const float *x, size_t c);

#endif
