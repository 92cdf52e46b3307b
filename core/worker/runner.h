/*
 * runner.h - running a loaded plugin on bundles in this process.
 *
 * This is the one place that calls a plugin's init, process and free, so the checks around
 * those calls live here once: a callback that fails without a message gets one, a code
 * outside the ABI's range becomes SIEVE_EINTERNAL, and a NULL init is a NULL state. `sieve
 * apply` runs one plugin once with runner_run; a worker that keeps a state per
 * parameter set calls runner_state_new once and runner_process per task.
 *
 * Nothing here forks or catches signals: a plugin that crashes in process takes the calling
 * process with it. That is the worker's contract (the scheduler notices the death); callers
 * that must survive a crash run this in a child.
 *
 * Usage:
 *     struct runner_task_ctx t;
 *     runner_task_ctx_init(&t, NULL, "clip01", "/data/clip01.mp4", "Daily Life");
 *     rc = runner_run(p, vals, &t.ctx, inputs, outputs, &err);
 *     if (rc < 0)
 *         fprintf(stderr, "%s (%s)\n", err.msg, sieve_error_class(rc));
 */
#ifndef SIEVE_CORE_WORKER_RUNNER_H
#define SIEVE_CORE_WORKER_RUNNER_H

#include <sieve/plugin.h>

#include "core/host/host.h"

/*
 * A context for one task on one sample, with the sample row it points to. The strings are
 * borrowed, not copied: they must outlive the context. Fill `ctx.scratch_dir`,
 * `ctx.device`, `ctx.device_index` or `ctx.host_data` afterwards when needed.
 */
struct runner_task_ctx {
    struct sieve_ctx ctx;
    struct sieve_sample sample;
};

/*
 * Fills `t` for a per-sample task on the CPU: n_samples 1, device "cpu", index -1, task id
 * equal to the sample id, and `host` as the services table (NULL means the default table,
 * bundle_host_services()). Any of the strings may be NULL; the id then reads "sample".
 */
void runner_task_ctx_init(struct runner_task_ctx *t, const struct sieve_host *host,
                          const char *sample_id, const char *media, const char *category);

/*
 * Calls the plugin's init with validated `params` and returns its state in *state (NULL
 * when the plugin has no init).
 * Errors: the plugin's code (clamped to the SIEVE_E* range), message in err.
 * Ownership: release the state with runner_state_free.
 */
int runner_state_new(const struct host_plugin *p, const struct sieve_host *host,
                     const struct sieve_value *params, void **state, struct sieve_errbuf *err);

/* Calls the plugin's free on `state` (if it has one). Accepts NULL. */
void runner_state_free(const struct host_plugin *p, void *state);

/*
 * Runs process once. `in` has one bundle per input port (NULL for an unconnected optional
 * port; n_samples times that for a reduce plugin), `out` one empty bundle per output port.
 * Errors: the plugin's code, message in err, never empty.
 */
int runner_process(const struct host_plugin *p, void *state, const struct sieve_ctx *ctx,
                   const struct sieve_bundle *const *in, struct sieve_bundle *const *out,
                   struct sieve_errbuf *err);

/*
 * init + process + free in one call, with the services table of `ctx`.
 * Returns 0 or the failing callback's code, with the plugin's own message in err (or a
 * generic one naming the callback when the plugin left it empty).
 */
int runner_run(const struct host_plugin *p, const struct sieve_value *params,
               const struct sieve_ctx *ctx, const struct sieve_bundle *const *in,
               struct sieve_bundle *const *out, struct sieve_errbuf *err);

#endif
