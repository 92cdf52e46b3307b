/*
 * good.c - the well-behaved test plugin: copies its input bundle to its output and, when
 * `tag` is set, adds it as metadata. Its table has one row of every parameter type so the
 * loader, `sieve plugins good` and `sieve apply --set` have something to chew on.
 */
#include <stdlib.h>
#include <string.h>

#include <sieve/plugin.h>

#include "../echo.h"

static const struct sieve_port inputs[] = {{"in", "any bundle", SIEVE_PORT_OPTIONAL}};
static const struct sieve_port outputs[] = {{"out", "the same bundle", 0}};
static const char *const modes[] = {"copy", "tag", NULL};
static const struct sieve_param params[] = {
    {.name = "tag",
     .type = SIEVE_PARAM_STRING,
     .doc = "metadata value 'tag' (empty: none)",
     .def = "\"\""},
    {.name = "count",
     .type = SIEVE_PARAM_INT,
     .doc = "an integer in [0, 10]",
     .def = "3",
     .min = 0,
     .max = 10,
     .flags = SIEVE_PARAM_HAS_MIN | SIEVE_PARAM_HAS_MAX},
    {.name = "ratio",
     .type = SIEVE_PARAM_FLOAT,
     .doc = "a float in [0, 1]",
     .def = "0.5",
     .min = 0,
     .max = 1,
     .flags = SIEVE_PARAM_HAS_MIN | SIEVE_PARAM_HAS_MAX},
    {.name = "verbose", .type = SIEVE_PARAM_BOOL, .doc = "a flag", .def = "false"},
    {.name = "mode", .type = SIEVE_PARAM_ENUM, .doc = "a choice", .def = "copy", .choices = modes},
    {.name = "sizes",
     .type = SIEVE_PARAM_LIST,
     .doc = "a list of ints >= 1",
     .def = "[1, 2]",
     .min = 1,
     .flags = SIEVE_PARAM_HAS_MIN,
     .item_type = SIEVE_PARAM_INT},
};

static int
good_init(const struct sieve_host *host, const struct sieve_value *p, void **state,
          struct sieve_errbuf *err)
{
    (void)host;
    if (!(*state = strdup(p[0].s)))
        return sieve_errbuf_set(err, SIEVE_ENOMEM, "out of memory");
    return 0;
}

static int
good_process(void *state, const struct sieve_ctx *ctx, const struct sieve_bundle *const *in,
             struct sieve_bundle *const *out, struct sieve_errbuf *err)
{
    const char *tag = state;
    int rc = echo_copy(ctx->host, in[0], out[0], err);
    if (rc == 0 && tag[0] && (rc = ctx->host->meta_set(out[0], "tag", tag)) < 0)
        return sieve_errbuf_set(err, rc, "set metadata 'tag'");
    return rc;
}

static void
good_free(void *state)
{
    free(state);
}

static const struct sieve_plugin desc =
    SIEVE_PLUGIN_INIT("good", "1.0.0", "copies its input (test plugin)", inputs, outputs, params,
                      SIEVE_PLUGIN_DETERMINISTIC, good_init, good_process, good_free);
SIEVE_PLUGIN_DEFINE(desc)
