/*
 * job.h - what a long computation needs from the task it runs for: the cancellation check and
 * progress report of the host (sieve/plugin.h). A NULL job (tests, benchmarks) never cancels.
 */
#ifndef ENCODE_JOB_H
#define ENCODE_JOB_H

#include <sieve/plugin.h>

struct job {
    const struct sieve_host *host;
    const struct sieve_ctx *ctx;
};

/* Reports `done` of `total` steps; returns SIEVE_ECANCELED (message set) when asked to stop. */
static inline int
job_step(const struct job *j, double done, double total, struct sieve_errbuf *err)
{
    if (!j || !j->host)
        return 0;
    if (j->host->progress && total > 0)
        j->host->progress(j->ctx, done / total);
    if (j->host->cancelled && j->host->cancelled(j->ctx))
        return sieve_errbuf_set(err, SIEVE_ECANCELED, "encode cancelled");
    return 0;
}

#endif /* ENCODE_JOB_H */
