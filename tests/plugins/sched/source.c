/*
 * source.c - `sched-source`, a dataset leaf for scheduler tests: reads the sample's media file
 * and emits tensor "x" = [byte sum, file size] (F64), so outputs differ per sample and depend
 * only on the media content.
 */
#include <stdio.h>
#include <stdlib.h>

#include "common.h"

static const struct sieve_port outputs[] = {{"out", "x = [byte sum, size]", 0}};
static const struct sieve_param params[] = {
    {.name = "log", .type = SIEVE_PARAM_STRING, .doc = "execution log file", .def = ""},
};

static int
source_init(const struct sieve_host *host, const struct sieve_value *p, void **state,
            struct sieve_errbuf *err)
{
    (void)host;
    (void)err;
    *state = p[0].s[0] ? strdup(p[0].s) : NULL;
    return 0;
}

static void
source_free(void *state)
{
    free(state);
}

static int
source_process(void *state, const struct sieve_ctx *ctx, const struct sieve_bundle *const *in,
               struct sieve_bundle *const *out, struct sieve_errbuf *err)
{
    (void)in;
    const struct sieve_host *h = ctx->host;
    FILE *f = fopen(ctx->samples[0].media, "rb");
    if (!f)
        return sieve_errbuf_set(err, SIEVE_EBADINPUT, "open '%s'", ctx->samples[0].media);
    double sum = 0, size = 0;
    int c;
    while ((c = fgetc(f)) != EOF) {
        sum += c;
        size++;
    }
    fclose(f);
    sched_test_log_exec(state, ctx);
    int64_t two = 2;
    struct sieve_tensor *t;
    int rc = h->tensor_new(out[0], "x", SIEVE_DTYPE_F64, 1, &two, &t);
    if (rc < 0)
        return sieve_errbuf_set(err, rc, "allocate 'x'");
    ((double *)t->data)[0] = sum;
    ((double *)t->data)[1] = size;
    return 0;
}

/* Written out because SIEVE_PLUGIN_INIT cannot take an empty input table. */
static const struct sieve_plugin desc = {
    .abi_major = SIEVE_ABI_MAJOR,
    .abi_minor = SIEVE_ABI_MINOR,
    .struct_size = sizeof(struct sieve_plugin),
    .name = "sched-source",
    .version = "1.0.0",
    .summary = "reads media bytes (scheduler test plugin)",
    .outputs = outputs,
    .n_outputs = SIEVE_COUNT(outputs),
    .params = params,
    .n_params = SIEVE_COUNT(params),
    .flags = SIEVE_PLUGIN_DETERMINISTIC,
    .init = source_init,
    .process = source_process,
    .free = source_free,
};
SIEVE_PLUGIN_DEFINE(desc)
