/*
 * probe.h - probe accuracy: can a clip's category still be told from its kept tokens?
 *
 * Nearest class centroid, leave-one-out: for each sample i, the prototype of class j is the
 * mean of the `protos` rows (pooled features of the FULL tokens) of the other samples of
 * class j; sample i's query (pooled features of its KEPT tokens) is assigned to the
 * prototype with the highest cosine similarity (ties to the lower class number). A class
 * whose only sample is i has no prototype for i. Comparing queries from kept tokens against
 * prototypes from full tokens measures how far pruning moves a clip from where its class
 * was, without training anything.
 *
 * Usage:
 *     unsigned char ok[n];
 *     eval_probe(full, kept, cls, n_cls, n, c, ok);   // ok[i] = 1 when i is classified right
 */
#ifndef SIEVE_EVAL_PROBE_H
#define SIEVE_EVAL_PROBE_H

#include <stdint.h>

/*
 * protos, queries [n, c]; cls[i] in [0, n_cls). Writes correct[i].
 * Returns: the number correct, or -1 on out-of-memory.
 */
int64_t eval_probe(const float *protos, const float *queries, const int *cls, int n_cls, int64_t n,
                   int64_t c, unsigned char *correct);

#endif
