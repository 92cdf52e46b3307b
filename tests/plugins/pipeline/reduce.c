/*
 * reduce.c - tp-reduce: a reduce over all samples of a variant; emits the sample count and a
 * metrics row per category.
 */
#include <stdio.h>
#include <string.h>

#include <sieve/plugin.h>

static const struct sieve_port inputs[] = {{"kept", "kept tokens", 0}};
static const struct sieve_port outputs[] = {{"out", "summary", 0}};
static const struct sieve_param params[] = {
    {.name = "metric", .type = SIEVE_PARAM_STRING, .doc = "metric name", .def = "count"},
};

static int
reduce_process(void *state, const struct sieve_ctx *ctx, const struct sieve_bundle *const *in,
               struct sieve_bundle *const *out, struct sieve_errbuf *err)
{
    const struct sieve_host *h = ctx->host;
    struct sieve_tensor *t;
    int64_t one = 1;
    char rows[256];
    int rc;

    (void)state;
    (void)in;
    if ((rc = h->tensor_new(out[0], "n", SIEVE_DTYPE_F32, 1, &one, &t)) < 0)
        return sieve_errbuf_set(err, rc, "allocate 'n'");
    ((float *)t->data)[0] = (float)ctx->n_samples;
    snprintf(rows, sizeof rows, "[{\"metric\":\"count\",\"category\":\"all\",\"value\":%u}]",
             ctx->n_samples);
    if ((rc = h->meta_set(out[0], "sieve.metrics", rows)) < 0)
        return sieve_errbuf_set(err, rc, "set metrics");
    return 0;
}

static const struct sieve_plugin desc = SIEVE_PLUGIN_INIT(
    "tp-reduce", "1.0.0", "reduces (pipeline test plugin)", inputs, outputs, params,
    SIEVE_PLUGIN_REDUCE | SIEVE_PLUGIN_DETERMINISTIC, NULL, reduce_process, NULL);
SIEVE_PLUGIN_DEFINE(desc)
