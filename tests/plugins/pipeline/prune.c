/*
 * prune.c - tp-prune: copies its input; float, enum, int and list parameters for spec and
 * matrix tests, and `threads`, flagged SIEVE_PARAM_NO_KEY, for the key tests.
 */
#include <sieve/plugin.h>

#include "../echo.h"

static const struct sieve_port inputs[] = {{"tokens", "tokens", 0}};
static const struct sieve_port outputs[] = {{"out", "kept tokens", 0}};
static const char *const methods[] = {"dycoke", "uniform", "topk", NULL};
static const struct sieve_param params[] = {
    {.name = "keep",
     .type = SIEVE_PARAM_FLOAT,
     .doc = "fraction kept",
     .def = "0.5",
     .min = 0,
     .max = 1,
     .flags = SIEVE_PARAM_HAS_MIN | SIEVE_PARAM_HAS_MAX},
    {.name = "method",
     .type = SIEVE_PARAM_ENUM,
     .doc = "how",
     .def = "uniform",
     .choices = methods},
    {.name = "segments",
     .type = SIEVE_PARAM_INT,
     .doc = "segments",
     .def = "10",
     .min = 1,
     .max = 1000,
     .flags = SIEVE_PARAM_HAS_MIN | SIEVE_PARAM_HAS_MAX},
    {.name = "windows",
     .type = SIEVE_PARAM_LIST,
     .doc = "window sizes",
     .def = "[4, 8]",
     .min = 1,
     .flags = SIEVE_PARAM_HAS_MIN,
     .item_type = SIEVE_PARAM_INT},
    {.name = "label", .type = SIEVE_PARAM_STRING, .doc = "free text", .def = "\"\""},
    {.name = "threads",
     .type = SIEVE_PARAM_INT,
     .doc = "a resource hint (output is identical)",
     .def = "1",
     .min = 1,
     .max = 64,
     .flags = SIEVE_PARAM_HAS_MIN | SIEVE_PARAM_HAS_MAX | SIEVE_PARAM_NO_KEY},
};

static int
prune_process(void *state, const struct sieve_ctx *ctx, const struct sieve_bundle *const *in,
              struct sieve_bundle *const *out, struct sieve_errbuf *err)
{
    (void)state;
    return echo_copy(ctx->host, in[0], out[0], err);
}

static const struct sieve_plugin desc =
    SIEVE_PLUGIN_INIT("tp-prune", "1.0.0", "prunes (pipeline test plugin)", inputs, outputs, params,
                      SIEVE_PLUGIN_DETERMINISTIC, NULL, prune_process, NULL);
SIEVE_PLUGIN_DEFINE(desc)
