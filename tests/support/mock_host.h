/*
 * mock_host.h - an in-memory host services table for plugin unit tests and benchmarks.
 *
 * The plugin tests exercise a plugin through its ABI descriptor alone, without the real bundle
 * and host implementations, so they pin the plugin's behaviour independently of the rest of the
 * daemon. A plugin is either compiled into the test (call sieve_plugin_entry()) or loaded from
 * its .so with mock_plugin_open(), as a worker would load it. Bundles are fixed-capacity arrays;
 * tensors own copies of their data.
 *
 * Invariants: progress() reports outside [0, 1] abort the program (a plugin bug); cancelled()
 * answers mock_cancel; log() prints to stderr only when MOCK_HOST_VERBOSE is set.
 *
 * Usage:
 *     struct sieve_bundle *in = mock_bundle_new(), *out = mock_bundle_new();
 *     mock_tensor_add(in, "tokens", SIEVE_DTYPE_F32, 2, (int64_t[]){4, 8}, data);
 *     struct sieve_sample sample = {.id = "clip01", .media = "/dev/null"};
 *     struct sieve_ctx ctx = mock_ctx(&sample, 1);
 *     mock_process(desc, (const char *[]){"keep", "0.5", NULL}, &ctx, &in, &out, &err);
 *     mock_bundle_free(in);
 *     mock_bundle_free(out);
 */
#ifndef SIEVE_TESTS_MOCK_HOST_H
#define SIEVE_TESTS_MOCK_HOST_H

#include <sieve/plugin.h>

/* The services table. */
const struct sieve_host *mock_host(void);

/* What the host's cancelled() answers; 0 unless a test sets it. */
extern int mock_cancel;

/* Ownership: free with mock_bundle_free (accepts NULL). */
struct sieve_bundle *mock_bundle_new(void);
void mock_bundle_free(struct sieve_bundle *b);

/* Adds a tensor with a copy of `data` (NULL leaves it zero); aborts the program on failure. */
struct sieve_tensor *mock_tensor_add(struct sieve_bundle *b, const char *name, int32_t dtype,
                                     uint32_t ndim, const int64_t *shape, const void *data);

/* A context for a task "test" on the cpu over `n` samples, using mock_host(). */
struct sieve_ctx mock_ctx(const struct sieve_sample *samples, uint32_t n);

/*
 * Parses the text of one parameter value against its table row into *v (strings point into
 * `text` or the row's choices). Returns: 0, or -1 for an unknown enum choice or parameter type.
 */
int mock_param_parse(const struct sieve_param *row, const char *text, struct sieve_value *v);

/*
 * Parses "name", "value" pairs (NULL-terminated) against the plugin's parameter table, with
 * defaults for the rest, into vals[] (the caller provides n_params slots).
 * Returns: 0, or -1 for an unknown name or a bad value (message on stderr).
 */
int mock_params(const struct sieve_plugin *p, const char *const *kv, struct sieve_value *vals);

/*
 * init + process + free of plugin `p` with the given parameters, over `ctx`.
 * Returns: the first error code, or 0.
 */
int mock_process(const struct sieve_plugin *p, const char *const *kv, const struct sieve_ctx *ctx,
                 const struct sieve_bundle *const *ins, struct sieve_bundle *const *outs,
                 struct sieve_errbuf *err);

/* A plugin loaded from its .so. */
struct mock_plugin {
    void *dl;
    const struct sieve_plugin *desc;
};

/* dlopens a plugin and fetches its descriptor. Returns: 0, or -1 (message on stderr). */
int mock_plugin_open(struct mock_plugin *mp, const char *path);
void mock_plugin_close(struct mock_plugin *mp);

/* mock_process() of a loaded one-input plugin over one sample "clip01" with media /dev/null. */
int mock_run(const struct mock_plugin *mp, const char *const *kv, const struct sieve_bundle *in,
             struct sieve_bundle *out, struct sieve_errbuf *err);

#endif
