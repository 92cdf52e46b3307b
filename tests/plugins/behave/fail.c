/*
 * fail.c - a test plugin that fails with the error class named by `class`, in process or
 * (with `in_init`) in init, with `message` as its message. `class: none` makes it succeed
 * (copying its input), so one pipeline can switch failures on and off by parameter.
 */
#include <stdlib.h>
#include <string.h>

#include <sieve/plugin.h>

#include "../echo.h"

static const struct sieve_port inputs[] = {{"in", "any bundle", SIEVE_PORT_OPTIONAL}};
static const struct sieve_port outputs[] = {{"out", "the same bundle (class none)", 0}};
static const char *const classes[] = {"bad-input", "oom",       "device", "transient",
                                      "internal",  "cancelled", "none",   NULL};
static const int codes[] = {SIEVE_EBADINPUT,
                            SIEVE_ENOMEM,
                            SIEVE_EDEVICE,
                            SIEVE_ETRANSIENT,
                            SIEVE_EINTERNAL,
                            SIEVE_ECANCELED,
                            0};
static const struct sieve_param params[] = {
    {.name = "class",
     .type = SIEVE_PARAM_ENUM,
     .doc = "error class to return",
     .def = "internal",
     .choices = classes},
    {.name = "message",
     .type = SIEVE_PARAM_STRING,
     .doc = "error message",
     .def = "failed on purpose"},
    {.name = "in_init",
     .type = SIEVE_PARAM_BOOL,
     .doc = "fail in init instead of process",
     .def = "false"},
};

struct fail_state {
    int code;
    char message[256];
};

static int
fail_init(const struct sieve_host *host, const struct sieve_value *p, void **state,
          struct sieve_errbuf *err)
{
    struct fail_state *s;

    (void)host;
    if (p[2].i && codes[p[0].i])
        return sieve_errbuf_set(err, codes[p[0].i], "%s", p[1].s);
    if (!(s = calloc(1, sizeof *s)))
        return sieve_errbuf_set(err, SIEVE_ENOMEM, "out of memory");
    s->code = codes[p[0].i];
    strncpy(s->message, p[1].s, sizeof s->message - 1);
    *state = s;
    return 0;
}

static int
fail_process(void *state, const struct sieve_ctx *ctx, const struct sieve_bundle *const *in,
             struct sieve_bundle *const *out, struct sieve_errbuf *err)
{
    const struct fail_state *s = state;

    if (s->code)
        return sieve_errbuf_set(err, s->code, "%s", s->message);
    return echo_copy(ctx->host, in[0], out[0], err);
}

static void
fail_free(void *state)
{
    free(state);
}

static const struct sieve_plugin desc = SIEVE_PLUGIN_INIT(
    "fail", "1.0.0", "returns a chosen error class (test plugin)", inputs, outputs, params,
    SIEVE_PLUGIN_DETERMINISTIC, fail_init, fail_process, fail_free);
SIEVE_PLUGIN_DEFINE(desc)
