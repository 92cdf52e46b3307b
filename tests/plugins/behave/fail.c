/*
 * fail.c - a test plugin that fails with the error class named by `class`, in process or
 * (with `in_init`) in init, with `message` as its message. `class: none` makes it succeed
 * (copying its input), so one pipeline can switch failures on and off by parameter.
 *
 * With `times: N` and a `counter` file it fails only on its first N calls of process, counted
 * across processes (the file holds the count, under an flock), then succeeds: the shape of a
 * transient fault that a retry on another worker gets past.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

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
enum { P_CLASS, P_MESSAGE, P_IN_INIT, P_TIMES, P_COUNTER };
static const struct sieve_param params[] = {
    [P_CLASS] = {.name = "class",
                 .type = SIEVE_PARAM_ENUM,
                 .doc = "error class to return",
                 .def = "internal",
                 .choices = classes},
    [P_MESSAGE] = {.name = "message",
                   .type = SIEVE_PARAM_STRING,
                   .doc = "error message",
                   .def = "failed on purpose"},
    [P_IN_INIT] = {.name = "in_init",
                   .type = SIEVE_PARAM_BOOL,
                   .doc = "fail in init instead of process",
                   .def = "false"},
    [P_TIMES] = {.name = "times",
                 .type = SIEVE_PARAM_INT,
                 .doc = "fail only the first N calls (0: always); needs 'counter'",
                 .def = "0",
                 .min = 0,
                 .flags = SIEVE_PARAM_HAS_MIN},
    [P_COUNTER] = {.name = "counter",
                   .type = SIEVE_PARAM_STRING,
                   .doc = "file that counts calls across processes (for 'times')",
                   .def = "''"},
};

struct fail_state {
    int code;
    long times;
    char message[256];
    char counter[512];
};

static int
fail_init(const struct sieve_host *host, const struct sieve_value *p, void **state,
          struct sieve_errbuf *err)
{
    struct fail_state *s;

    (void)host;
    if (p[P_IN_INIT].i && codes[p[P_CLASS].i])
        return sieve_errbuf_set(err, codes[p[P_CLASS].i], "%s", p[P_MESSAGE].s);
    if (p[P_TIMES].i > 0 && !p[P_COUNTER].s[0])
        return sieve_errbuf_set(err, SIEVE_EINVAL, "parameter 'times' needs 'counter'");
    if (!(s = calloc(1, sizeof *s)))
        return sieve_errbuf_set(err, SIEVE_ENOMEM, "out of memory");
    s->code = codes[p[P_CLASS].i];
    s->times = (long)p[P_TIMES].i;
    snprintf(s->message, sizeof s->message, "%s", p[P_MESSAGE].s);
    snprintf(s->counter, sizeof s->counter, "%s", p[P_COUNTER].s);
    *state = s;
    return 0;
}

/* Increments the count in `path` and returns the new value, or -1. */
static long
bump(const char *path)
{
    char buf[32] = {0};
    long n = 0;
    ssize_t r;
    int fd = open(path, O_RDWR | O_CREAT, 0644);

    if (fd < 0)
        return -1;
    if (flock(fd, LOCK_EX) < 0) {
        close(fd);
        return -1;
    }
    r = pread(fd, buf, sizeof buf - 1, 0);
    if (r > 0)
        n = strtol(buf, NULL, 10);
    n++;
    r = snprintf(buf, sizeof buf, "%ld\n", n);
    if (pwrite(fd, buf, (size_t)r, 0) != r || ftruncate(fd, r) < 0)
        n = -1;
    close(fd); /* releases the lock */
    return n;
}

static int
fail_process(void *state, const struct sieve_ctx *ctx, const struct sieve_bundle *const *in,
             struct sieve_bundle *const *out, struct sieve_errbuf *err)
{
    const struct fail_state *s = state;
    int fail = s->code != 0;

    if (fail && s->times > 0) {
        long n = bump(s->counter);
        if (n < 0)
            return sieve_errbuf_set(err, SIEVE_EINTERNAL, "update counter '%s'", s->counter);
        fail = n <= s->times;
    }
    if (fail)
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
