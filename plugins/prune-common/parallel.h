/*
 * parallel.h - running a loop's ranges on several threads, for the pruning plugins.
 *
 * The pruning methods work group by group (or cell by cell) on inputs of hundreds of
 * megabytes, and a worker usually has more cores than the one it runs on. prune_parallel
 * splits [0, n) into at most `threads` consecutive ranges of near-equal size and runs
 * fn(ctx, part, lo, hi) once for each: range `part` on a thread of its own, range 0 on the
 * caller. A method stays deterministic as long as fn writes only what belongs to its range
 * (its output rows, its mask cells, slot `part` of a per-range array), so results never
 * depend on the thread count.
 *
 * Usage:
 *     static int body(void *ctx, size_t part, size_t lo, size_t hi) { ...; return 0; }
 *     rc = prune_parallel(threads, groups, body, &ctx);
 */
#ifndef SIEVE_PRUNE_PARALLEL_H
#define SIEVE_PRUNE_PARALLEL_H

#include <stddef.h>

/* The most ranges prune_parallel uses, whatever `threads` asks for. */
#define PRUNE_MAX_THREADS 64

/* The number of ranges prune_parallel(threads, n, ...) uses: min(threads, n, PRUNE_MAX_THREADS),
 * at least 1. Callers size per-range arrays with it. */
size_t prune_parts(int threads, size_t n);

/*
 * Runs fn over the prune_parts(threads, n) ranges of [0, n) and waits for all of them. When a
 * thread cannot be started its range runs on the caller instead, so every range runs exactly
 * once. Returns 0, or the error code of the lowest-numbered range that failed (fn returns 0
 * or a negative SIEVE_E* code). n == 0 runs nothing and returns 0.
 */
int prune_parallel(int threads, size_t n, int (*fn)(void *ctx, size_t part, size_t lo, size_t hi),
                   void *ctx);

#endif
