/*
 * slow.c - a test plugin that sleeps `ms` milliseconds in process, then copies its input.
 * It checks the host's cancellation flag every 10 ms, so tests of timeouts and cancellation
 * can use it either way.
 */
#include <time.h>

#include <sieve/plugin.h>

#include "../echo.h"

static const struct sieve_port inputs[] = {{"in", "any bundle", SIEVE_PORT_OPTIONAL}};
static const struct sieve_port outputs[] = {{"out", "the same bundle", 0}};
static const struct sieve_param params[] = {
    {.name = "ms",
     .type = SIEVE_PARAM_INT,
     .doc = "milliseconds to sleep",
     .def = "100",
     .min = 0,
     .max = 3600000,
     .flags = SIEVE_PARAM_HAS_MIN | SIEVE_PARAM_HAS_MAX},
};

/* The state is the value itself: no allocation to free. */
static int
slow_init(const struct sieve_host *host, const struct sieve_value *p, void **state,
          struct sieve_errbuf *err)
{
    (void)host;
    (void)err;
    *state = (void *)(intptr_t)p[0].i;
    return 0;
}

static int
slow_process(void *state, const struct sieve_ctx *ctx, const struct sieve_bundle *const *in,
             struct sieve_bundle *const *out, struct sieve_errbuf *err)
{
    long left = (long)(intptr_t)state;

    while (left > 0) {
        long step = left < 10 ? left : 10;
        struct timespec ts = {.tv_sec = 0, .tv_nsec = step * 1000000L};
        if (ctx->host->cancelled && ctx->host->cancelled(ctx))
            return sieve_errbuf_set(err, SIEVE_ECANCELED, "cancelled while sleeping");
        nanosleep(&ts, NULL);
        left -= step;
    }
    return echo_copy(ctx->host, in[0], out[0], err);
}

static const struct sieve_plugin desc =
    SIEVE_PLUGIN_INIT("slow", "1.0.0", "sleeps, then copies its input (test plugin)", inputs,
                      outputs, params, SIEVE_PLUGIN_DETERMINISTIC, slow_init, slow_process, NULL);
SIEVE_PLUGIN_DEFINE(desc)
