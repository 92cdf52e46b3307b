/*
 * count.c - `sched-count`, the scheduler tests' worker bee: sleeps `ms` (checking for
 * cancellation and reporting progress), then outputs its input tensor "x" plus `add`.
 * Every execution appends a line to `log`, so a test can count how often each task ran;
 * `pidfile` receives the worker's pid at the start (so a test can kill it mid-task);
 * `metric` adds a `sieve.metrics` row with the mean of the output's even-indexed values (the
 * first value when x has two). With a `log`, it also writes a
 * line to stderr and one through the host log, which `sieve logs` must show. `block_on` names
 * a device on which process blocks forever without calling the host: a wedged GPU call, with
 * the worker (and its heartbeat) alive. On the device `slow_on` it sleeps `slow_ms` instead of
 * `ms`, still reporting progress: a straggler, not a hang.
 */
#include <stdlib.h>
#include <time.h>

#include "common.h"

static const struct sieve_port inputs[] = {{"in", "a bundle with F64 tensor x", 0}};
static const struct sieve_port outputs[] = {{"out", "x + add", 0}};
static const struct sieve_param params[] = {
    {.name = "add", .type = SIEVE_PARAM_FLOAT, .doc = "added to x", .def = "1"},
    {.name = "ms",
     .type = SIEVE_PARAM_INT,
     .doc = "sleep before working",
     .def = "0",
     .min = 0,
     .max = 600000,
     .flags = SIEVE_PARAM_HAS_MIN | SIEVE_PARAM_HAS_MAX},
    {.name = "log", .type = SIEVE_PARAM_STRING, .doc = "execution log file", .def = ""},
    {.name = "pidfile", .type = SIEVE_PARAM_STRING, .doc = "write the pid here", .def = ""},
    {.name = "metric", .type = SIEVE_PARAM_BOOL, .doc = "emit a sieve.metrics row", .def = "false"},
    {.name = "block_on",
     .type = SIEVE_PARAM_STRING,
     .doc = "block forever on this device",
     .def = ""},
    {.name = "slow_on",
     .type = SIEVE_PARAM_STRING,
     .doc = "sleep slow_ms on this device",
     .def = ""},
    {.name = "spam_mb",
     .type = SIEVE_PARAM_INT,
     .doc = "write this many MiB to stdout (a plugin that prints in a loop)",
     .def = "0",
     .min = 0,
     .max = 1024,
     .flags = SIEVE_PARAM_HAS_MIN | SIEVE_PARAM_HAS_MAX},
    {.name = "slow_ms",
     .type = SIEVE_PARAM_INT,
     .doc = "the sleep on slow_on",
     .def = "0",
     .min = 0,
     .max = 600000,
     .flags = SIEVE_PARAM_HAS_MIN | SIEVE_PARAM_HAS_MAX},
};

struct state {
    double add;
    long ms;
    char *log, *pidfile, *block_on, *slow_on;
    int metric;
    long slow_ms;
    long spam_mb;
};

static int
count_init(const struct sieve_host *host, const struct sieve_value *p, void **out,
           struct sieve_errbuf *err)
{
    (void)host;
    struct state *s = calloc(1, sizeof *s);
    if (!s)
        return sieve_errbuf_set(err, SIEVE_ENOMEM, "out of memory");
    s->add = p[0].f;
    s->ms = (long)p[1].i;
    s->log = strdup(p[2].s);
    s->pidfile = strdup(p[3].s);
    s->metric = (int)p[4].i;
    s->block_on = strdup(p[5].s);
    s->slow_on = strdup(p[6].s);
    s->spam_mb = (long)p[7].i;
    s->slow_ms = (long)p[8].i;
    *out = s;
    return 0;
}

static void
count_free(void *state)
{
    struct state *s = state;
    if (!s)
        return;
    free(s->log);
    free(s->pidfile);
    free(s->block_on);
    free(s->slow_on);
    free(s);
}

static int
count_process(void *state, const struct sieve_ctx *ctx, const struct sieve_bundle *const *in,
              struct sieve_bundle *const *out, struct sieve_errbuf *err)
{
    struct state *s = state;
    const struct sieve_host *h = ctx->host;
    if (s->pidfile[0]) {
        FILE *f = fopen(s->pidfile, "w");
        if (f) {
            fprintf(f, "%d\n", (int)getpid());
            fclose(f);
        }
    }
    if (s->block_on[0] && ctx->device && !strcmp(ctx->device, s->block_on))
        for (;;)
            pause();
    if (s->log[0]) { /* quiet without a log, as the benchmark's no-op */
        fprintf(stderr, "count: stderr of %s\n", ctx->task_id);
        h->log(ctx, SIEVE_LOG_INFO, "count: adding %g on %s", s->add, ctx->device);
    }
    long ms = s->slow_on[0] && ctx->device && !strcmp(ctx->device, s->slow_on) ? s->slow_ms : s->ms;
    for (long slept = 0; slept < ms; slept += 10) {
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
        h->progress(ctx, (double)slept / (double)ms);
        if (h->cancelled(ctx))
            return sieve_errbuf_set(err, SIEVE_ECANCELED, "cancelled");
    }
    if (s->spam_mb) {
        static char line[1024];
        memset(line, 'y', sizeof line - 1);
        line[sizeof line - 1] = '\n';
        for (long i = 0; i < s->spam_mb * 1024; i++)
            fwrite(line, 1, sizeof line, stdout);
        fflush(stdout);
    }
    const struct sieve_tensor *x = h->tensor_get(in[0], "x");
    if (!x || x->dtype != SIEVE_DTYPE_F64 || x->ndim != 1)
        return sieve_errbuf_set(err, SIEVE_EBADINPUT, "need a 1-d F64 tensor 'x'");
    struct sieve_tensor *y;
    int rc = h->tensor_new(out[0], "x", SIEVE_DTYPE_F64, 1, x->shape, &y);
    if (rc < 0)
        return sieve_errbuf_set(err, rc, "allocate 'x'");
    for (int64_t i = 0; i < x->shape[0]; i++)
        ((double *)y->data)[i] = ((const double *)x->data)[i] + s->add;
    if (s->metric) {
        char m[256];
        double mean = 0;
        int64_t n_even = 0;
        for (int64_t i = 0; i < x->shape[0]; i += 2, n_even++)
            mean += ((double *)y->data)[i];
        mean /= (double)(n_even ? n_even : 1);
        snprintf(m, sizeof m,
                 "[{\"metric\":\"value\",\"category\":\"%s\",\"value\":%.17g,\"sample\":\"%s\"}]",
                 ctx->samples[0].category ? ctx->samples[0].category : "all", mean,
                 ctx->samples[0].id);
        h->meta_set(out[0], "sieve.metrics", m);
    }
    sched_test_log_exec(s->log, ctx);
    return 0;
}

/* Its metric row carries the sample id and category. */
static const char *const row_fields[] = {"id", "category", NULL};

static const struct sieve_plugin desc = SIEVE_PLUGIN_INIT_ROWS(
    "sched-count", "1.0.0", "adds a constant after a sleep (scheduler test plugin)", inputs,
    outputs, params, SIEVE_PLUGIN_DETERMINISTIC, count_init, count_process, count_free, row_fields);
SIEVE_PLUGIN_DEFINE(desc)
