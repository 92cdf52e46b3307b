/*
 * mock_host.h - a minimal in-memory implementation of the plugin host services, so the encode
 * plugin can be loaded with dlopen and driven exactly as a worker would drive it, without the
 * daemon. Shared by the unit test and the benchmark.
 *
 * Usage:
 *     struct mock_plugin mp;
 *     mock_plugin_open(&mp, SIEVE_BUILD_PLUGIN_DIR "/encode.so");
 *     struct sieve_bundle *in = mock_bundle_new(), *out = mock_bundle_new();
 *     mock_tensor_add(in, "mel", SIEVE_DTYPE_F32, 2, shape, data);
 *     mock_run(&mp, (const char *[]){"modality", "audio", NULL}, in, out, &err);
 */
#ifndef TEST_ENCODE_MOCK_HOST_H
#define TEST_ENCODE_MOCK_HOST_H

#include <sieve/plugin.h>

struct mock_plugin {
    void *dl;
    const struct sieve_plugin *desc;
};

extern const struct sieve_host mock_host;
/* What the host's cancelled() answers; 0 unless a test sets it. */
extern int mock_cancel;

/* dlopens a plugin and fetches its descriptor; returns 0 or -1 (message on stderr). */
int mock_plugin_open(struct mock_plugin *mp, const char *path);
void mock_plugin_close(struct mock_plugin *mp);

struct sieve_bundle *mock_bundle_new(void);
void mock_bundle_free(struct sieve_bundle *b);
/* Adds a tensor with a copy of `data` (zero-filled when NULL); returns it. */
struct sieve_tensor *mock_tensor_add(struct sieve_bundle *b, const char *name, int32_t dtype,
                                     uint32_t ndim, const int64_t *shape, const void *data);

/*
 * Parses "name", "value" pairs (NULL-terminated) against the plugin's parameter table, with
 * defaults for the rest, into vals[] (the caller provides n_params slots). Returns 0 or -1.
 */
int mock_params(const struct sieve_plugin *p, const char *const *kv, struct sieve_value *vals);

/* init + process + free with the given parameters; returns the first error code or 0. */
int mock_run(const struct mock_plugin *mp, const char *const *kv, const struct sieve_bundle *in,
             struct sieve_bundle *out, struct sieve_errbuf *err);

#endif
