/*
 * source.c - tp-source: a dataset leaf. Reads the sample's media file and emits its size and
 * first byte, so its output depends on the media content the cache key hashes.
 */
#include <stdio.h>

#include <sieve/plugin.h>

static const struct sieve_port outputs[] = {{"out", "media summary", 0}};
static const struct sieve_param params[] = {
    {.name = "fps",
     .type = SIEVE_PARAM_INT,
     .doc = "frames per second in [1, 60]",
     .def = "2",
     .min = 1,
     .max = 60,
     .flags = SIEVE_PARAM_HAS_MIN | SIEVE_PARAM_HAS_MAX},
};

static int
source_process(void *state, const struct sieve_ctx *ctx, const struct sieve_bundle *const *in,
               struct sieve_bundle *const *out, struct sieve_errbuf *err)
{
    const struct sieve_host *h = ctx->host;
    struct sieve_tensor *t;
    int64_t two = 2;
    long size;
    int first, rc;
    FILE *f = fopen(ctx->samples[0].media, "rb");

    (void)state;
    (void)in;
    if (!f)
        return sieve_errbuf_set(err, SIEVE_EBADINPUT, "open '%s'", ctx->samples[0].media);
    first = fgetc(f);
    fseek(f, 0, SEEK_END);
    size = ftell(f);
    fclose(f);
    if ((rc = h->tensor_new(out[0], "tokens", SIEVE_DTYPE_F32, 1, &two, &t)) < 0)
        return sieve_errbuf_set(err, rc, "allocate 'tokens'");
    ((float *)t->data)[0] = (float)size;
    ((float *)t->data)[1] = (float)first;
    return 0;
}

/* No input ports, so the descriptor is written out rather than with SIEVE_PLUGIN_INIT. */
static const struct sieve_plugin desc = {
    .abi_major = SIEVE_ABI_MAJOR,
    .abi_minor = SIEVE_ABI_MINOR,
    .struct_size = sizeof(struct sieve_plugin),
    .name = "tp-source",
    .version = "1.0.0",
    .summary = "reads media (pipeline test plugin)",
    .outputs = outputs,
    .n_outputs = SIEVE_COUNT(outputs),
    .params = params,
    .n_params = SIEVE_COUNT(params),
    .flags = SIEVE_PLUGIN_DETERMINISTIC,
    .process = source_process,
};
SIEVE_PLUGIN_DEFINE(desc)
