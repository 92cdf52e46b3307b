/*
 * crash_process.c - a test plugin that loads cleanly and dies in process: by SIGSEGV (a write
 * through a null pointer the compiler cannot see), by abort(), or by _exit(3), as `how` says.
 * It stands for a plugin bug that takes its worker down.
 */
#include <stdlib.h>
#include <unistd.h>

#include <sieve/plugin.h>

static const struct sieve_port inputs[] = {{"in", "any bundle", SIEVE_PORT_OPTIONAL}};
static const struct sieve_port outputs[] = {{"out", "never produced", 0}};
static const char *const hows[] = {"segv", "abort", "exit", NULL};
static const struct sieve_param params[] = {
    {.name = "how", .type = SIEVE_PARAM_ENUM, .doc = "how to die", .def = "segv", .choices = hows},
};

/* Volatile so the compiler keeps the faulting store. */
static int *volatile nowhere;

static int
crash_init(const struct sieve_host *host, const struct sieve_value *p, void **state,
           struct sieve_errbuf *err)
{
    (void)host;
    (void)err;
    *state = (void *)(intptr_t)(p[0].i + 1);
    return 0;
}

static int
crash_process(void *state, const struct sieve_ctx *ctx, const struct sieve_bundle *const *in,
              struct sieve_bundle *const *out, struct sieve_errbuf *err)
{
    (void)ctx;
    (void)in;
    (void)out;
    switch ((intptr_t)state - 1) {
    case 0:
        *nowhere = 42;
        break;
    case 1:
        abort();
    default:
        _exit(3);
    }
    return sieve_errbuf_set(err, SIEVE_EINTERNAL, "survived a crash");
}

static const struct sieve_plugin desc =
    SIEVE_PLUGIN_INIT("crash-process", "1.0.0", "dies in process (test plugin)", inputs, outputs,
                      params, 0, crash_init, crash_process, NULL);
SIEVE_PLUGIN_DEFINE(desc)
