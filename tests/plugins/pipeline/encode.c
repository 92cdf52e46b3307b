/*
 * encode.c - tp-encode: copies its input; `modality` is required (no default), so specs
 * must set it.
 */
#include <sieve/plugin.h>

#include "../echo.h"

static const struct sieve_port inputs[] = {{"media", "media summary", 0}};
static const struct sieve_port outputs[] = {{"out", "tokens", 0}};
static const char *const modalities[] = {"vision", "audio", NULL};
static const struct sieve_param params[] = {
    {.name = "modality",
     .type = SIEVE_PARAM_ENUM,
     .doc = "which tokens",
     .choices = modalities,
     .flags = SIEVE_PARAM_REQUIRED},
};

static int
encode_process(void *state, const struct sieve_ctx *ctx, const struct sieve_bundle *const *in,
               struct sieve_bundle *const *out, struct sieve_errbuf *err)
{
    (void)state;
    return echo_copy(ctx->host, in[0], out[0], err);
}

static const struct sieve_plugin desc =
    SIEVE_PLUGIN_INIT("tp-encode", "1.0.0", "encodes (pipeline test plugin)", inputs, outputs,
                      params, SIEVE_PLUGIN_DETERMINISTIC, NULL, encode_process, NULL);
SIEVE_PLUGIN_DEFINE(desc)
