/*
 * source.c - `sched-source`, a dataset leaf for scheduler tests: reads the sample's media file
 * and emits tensor "x" = [byte sum, file size] (F64), so outputs differ per sample and depend
 * only on the media content. With `width` W > 2, x holds W values, the pair repeated: an object
 * big enough to damage in its middle (tests of verification).
 */
#include <stdio.h>
#include <stdlib.h>

#include "common.h"

static const struct sieve_port outputs[] = {{"out", "x = [byte sum, size]", 0}};
static const struct sieve_param params[] = {
    {.name = "log", .type = SIEVE_PARAM_STRING, .doc = "execution log file", .def = ""},
    {.name = "width",
     .type = SIEVE_PARAM_INT,
     .doc = "number of values in x (the pair repeated)",
     .def = "2",
     .min = 2,
     .max = 1 << 24,
     .flags = SIEVE_PARAM_HAS_MIN | SIEVE_PARAM_HAS_MAX},
};

struct state {
    char *log;
    int64_t width;
};

static int
source_init(const struct sieve_host *host, const struct sieve_value *p, void **state,
            struct sieve_errbuf *err)
{
    (void)host;
    struct state *s = calloc(1, sizeof *s);
    if (!s)
        return sieve_errbuf_set(err, SIEVE_ENOMEM, "out of memory");
    s->log = p[0].s[0] ? strdup(p[0].s) : NULL;
    s->width = p[1].i;
    *state = s;
    return 0;
}

static void
source_free(void *state)
{
    struct state *s = state;
    if (s)
        free(s->log);
    free(s);
}

static int
source_process(void *state, const struct sieve_ctx *ctx, const struct sieve_bundle *const *in,
               struct sieve_bundle *const *out, struct sieve_errbuf *err)
{
    (void)in;
    const struct sieve_host *h = ctx->host;
    FILE *f = fopen(ctx->samples[0].media, "rb");
    if (!f)
        return sieve_errbuf_set(err, SIEVE_EBADINPUT, "open '%s'", ctx->samples[0].media);
    double sum = 0, size = 0;
    int c;
    while ((c = fgetc(f)) != EOF) {
        sum += c;
        size++;
    }
    fclose(f);
    const struct state *s = state;
    sched_test_log_exec(s->log, ctx);
    int64_t width = s->width & ~(int64_t)1;
    struct sieve_tensor *t;
    int rc = h->tensor_new(out[0], "x", SIEVE_DTYPE_F64, 1, &width, &t);
    if (rc < 0)
        return sieve_errbuf_set(err, rc, "allocate 'x'");
    for (int64_t i = 0; i < width; i += 2) {
        ((double *)t->data)[i] = sum;
        ((double *)t->data)[i + 1] = size;
    }
    return 0;
}

/* Written out because SIEVE_PLUGIN_INIT cannot take an empty input table. */
static const struct sieve_plugin desc = {
    .abi_major = SIEVE_ABI_MAJOR,
    .abi_minor = SIEVE_ABI_MINOR,
    .struct_size = sizeof(struct sieve_plugin),
    .name = "sched-source",
    .version = "1.0.0",
    .summary = "reads media bytes (scheduler test plugin)",
    .outputs = outputs,
    .n_outputs = SIEVE_COUNT(outputs),
    .params = params,
    .n_params = SIEVE_COUNT(params),
    .flags = SIEVE_PLUGIN_DETERMINISTIC,
    .init = source_init,
    .process = source_process,
    .free = source_free,
};
SIEVE_PLUGIN_DEFINE(desc)
