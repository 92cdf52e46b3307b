/*
 * runner.c - calls into a plugin, normalising what comes back.
 */
#include "core/worker/runner.h"

#include <string.h>

#include "base/bundle.h"
#include "base/err.h"

void
runner_task_ctx_init(struct runner_task_ctx *t, const struct sieve_host *host,
                     const char *sample_id, const char *media, const char *category)
{
    memset(t, 0, sizeof *t);
    t->sample.id = sample_id ? sample_id : "sample";
    t->sample.media = media;
    t->sample.category = category;
    t->sample.fields_json = NULL;
    t->ctx.struct_size = (uint32_t)sizeof t->ctx;
    t->ctx.host = host ? host : bundle_host_services();
    t->ctx.task_id = t->sample.id;
    t->ctx.device = "cpu";
    t->ctx.device_index = -1;
    t->ctx.scratch_dir = NULL;
    t->ctx.n_samples = 1;
    t->ctx.samples = &t->sample;
}

/*
 * Makes a callback's return value a proper error: a positive or unknown negative code is a
 * plugin bug (SIEVE_EINTERNAL), and a failure without a message gets a generic one.
 */
static int
normalise(const struct host_plugin *p, const char *what, int rc, struct sieve_errbuf *err)
{
    if (rc == 0)
        return 0;
    if (rc > 0 || rc < SIEVE_EPROTO) {
        return sieve_errbuf_set(err, SIEVE_EINTERNAL,
                                "plugin '%s': %s returned %d, which is not an error code", p->name,
                                what, rc);
    }
    if (err && !err->msg[0])
        sieve_errbuf_set(err, rc, "plugin '%s': %s failed: %s", p->name, what, sieve_strerror(rc));
    return rc;
}

int
runner_state_new(const struct host_plugin *p, const struct sieve_host *host,
                 const struct sieve_value *params, void **state, struct sieve_errbuf *err)
{
    int rc;

    *state = NULL;
    if (!p->desc->init)
        return 0;
    if (err)
        err->msg[0] = '\0';
    rc = normalise(p, "init", p->desc->init(host, params, state, err), err);
    if (rc < 0 && *state) {
        /* A failed init hands nothing over, but be robust to one that left a state behind. */
        runner_state_free(p, *state);
        *state = NULL;
    }
    return rc;
}

void
runner_state_free(const struct host_plugin *p, void *state)
{
    if (state && p->desc->free)
        p->desc->free(state);
}

int
runner_process(const struct host_plugin *p, void *state, const struct sieve_ctx *ctx,
               const struct sieve_bundle *const *in, struct sieve_bundle *const *out,
               struct sieve_errbuf *err)
{
    if (err)
        err->msg[0] = '\0';
    return normalise(p, "process", p->desc->process(state, ctx, in, out, err), err);
}

int
runner_run(const struct host_plugin *p, const struct sieve_value *params,
           const struct sieve_ctx *ctx, const struct sieve_bundle *const *in,
           struct sieve_bundle *const *out, struct sieve_errbuf *err)
{
    void *state = NULL;
    int rc;

    if ((rc = runner_state_new(p, ctx->host, params, &state, err)) < 0)
        return rc;
    rc = runner_process(p, state, ctx, in, out, err);
    runner_state_free(p, state);
    return rc;
}
