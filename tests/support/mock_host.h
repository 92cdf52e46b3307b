/*
 * mock_host.h - an in-memory host services table for plugin unit tests.
 *
 * The plugin tests exercise a plugin's process() through the ABI alone, without the real
 * bundle and host implementations, so they pin the plugin's behaviour independently of the
 * rest of the daemon. Bundles are fixed-capacity arrays; tensors own copies of their data.
 *
 * Usage:
 *     struct sieve_bundle *b = mock_bundle_new();
 *     mock_tensor_add(b, "tokens", SIEVE_DTYPE_F32, 2, (int64_t[]){4, 8}, data);
 *     struct sieve_ctx ctx = mock_ctx(&sample, 1);
 *     desc->process(state, &ctx, ins, outs, &err);
 *     mock_bundle_free(b);
 */
#ifndef SIEVE_TESTS_MOCK_HOST_H
#define SIEVE_TESTS_MOCK_HOST_H

#include <sieve/plugin.h>

/* The services table (log prints to stderr only when MOCK_HOST_VERBOSE is set). */
const struct sieve_host *mock_host(void);

/* Ownership: free with mock_bundle_free (accepts NULL). */
struct sieve_bundle *mock_bundle_new(void);
void mock_bundle_free(struct sieve_bundle *b);

/* Adds a tensor with a copy of `data` (NULL leaves it zero); aborts the test on failure. */
struct sieve_tensor *mock_tensor_add(struct sieve_bundle *b, const char *name, int32_t dtype,
                                     uint32_t ndim, const int64_t *shape, const void *data);

/* A context for a task over `n` samples, using mock_host(). */
struct sieve_ctx mock_ctx(const struct sieve_sample *samples, uint32_t n);

#endif
