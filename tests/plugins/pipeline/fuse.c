/*
 * fuse.c - tp-fuse: two required inputs, one optional, two outputs.
 */
#include <sieve/plugin.h>

#include "../echo.h"

static const struct sieve_port inputs[] = {{"visual", "visual tokens", 0},
                                           {"audio", "audio tokens", 0},
                                           {"extra", "optional", SIEVE_PORT_OPTIONAL}};
static const struct sieve_port outputs[] = {{"out", "fused", 0}, {"scores", "scores", 0}};
static const struct sieve_param params[] = {
    {.name = "chunk_seconds",
     .type = SIEVE_PARAM_FLOAT,
     .doc = "chunk length",
     .def = "2",
     .min = 0.1,
     .max = 60,
     .flags = SIEVE_PARAM_HAS_MIN | SIEVE_PARAM_HAS_MAX},
};

static int
fuse_process(void *state, const struct sieve_ctx *ctx, const struct sieve_bundle *const *in,
             struct sieve_bundle *const *out, struct sieve_errbuf *err)
{
    int rc;
    (void)state;
    if ((rc = echo_copy(ctx->host, in[0], out[0], err)) < 0)
        return rc;
    return echo_copy(ctx->host, in[1], out[1], err);
}

static const struct sieve_plugin desc =
    SIEVE_PLUGIN_INIT("tp-fuse", "1.0.0", "fuses (pipeline test plugin)", inputs, outputs, params,
                      SIEVE_PLUGIN_DETERMINISTIC, NULL, fuse_process, NULL);
SIEVE_PLUGIN_DEFINE(desc)
