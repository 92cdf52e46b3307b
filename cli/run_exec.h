/*
 * run_exec.h - the executing half of `sieve run`, shared with `sieve resume`: open the store,
 * plan, record the run, build the device pool, schedule, summarise.
 */
#ifndef SIEVE_CLI_RUN_EXEC_H
#define SIEVE_CLI_RUN_EXEC_H

#include <stddef.h>
#include <stdint.h>

#include <sieve/plugin.h>

struct run_exec_opts {
    const char *verb;     /* "run" or "resume", for messages */
    const char *pipeline; /* run: the pipeline file; resume: NULL (taken from the run) */
    const char *const *sets;
    size_t n_sets;
    const char *store_dir;
    const char *devices; /* NULL: NVML GPUs plus one CPU slot per core */
    const char *const *faults;
    size_t n_faults;
    int max_parallel;
    int heartbeat_ms;
    int heartbeat_timeout_ms;
    int stall_timeout_ms;
    int startup_timeout_ms;
    int speculate_after_ms; /* 0: default; < 0: off */
    const char *durability; /* "batch" or "strict"; NULL: $SIEVE_DURABILITY, else batch */
    int64_t resume_run;     /* resume: the run id */
    const char *executor;   /* "local" or "slurm"; NULL: the pipeline's executor: section */
    const char *const *executor_sets; /* --slurm KEY=VALUE, over the pipeline's section */
    size_t n_executor_sets;
};

struct plan;
struct store;
struct store_lock;

/* Takes the store's scheduler lock for `verb`, or says who holds it and what to do instead.
 * Returns the process exit status (CLI_EXIT_OK with *lock set). */
int cli_sched_lock(const char *verb, struct store *st, struct store_lock **lock);

struct host_registry;
struct device_set;

/* The device pool of o->devices (default: NVML GPUs plus a CPU slot per core) with the
 * fake-device faults of o and $SIEVE_FAULTS. Ownership: devices_release(ds). */
int cli_devices_build(const struct run_exec_opts *o, struct device_set *ds,
                      struct sieve_errbuf *err);

/* Records a run's --set values (an "args" event) so that resuming replans the same DAG. */
int cli_run_args_save(struct store *st, int64_t run, const char *const *sets, size_t n_sets,
                      struct sieve_errbuf *err);
/* Plans run_id again from its recorded pipeline text and --set values, and checks that it
 * has the tasks the run recorded. Prints what went wrong. Returns the exit status
 * (CLI_EXIT_OK with *out set). Ownership: plan_free(*out). */
int cli_run_replan(const char *verb, struct store *st, const struct host_registry *reg,
                   int64_t run_id, struct plan **out);

struct spec;
struct exec_slurm_opts;
/* The executor: --executor, else the pipeline's `executor: kind:` (sp may be NULL), else
 * local; for slurm, the options of the pipeline's section, then --slurm KEY=VALUE over them.
 * Returns 1 for slurm, 0 for local, or SIEVE_EINVAL with the message in err. */
int cli_executor_build(const struct run_exec_opts *o, const struct spec *sp,
                       struct exec_slurm_opts *xo, struct sieve_errbuf *err);

/* Resumes run o->resume_run: replans its pipeline with its --set values, then executes.
 * Returns the process exit status (enum cli_exit). */
int cli_run_exec(const struct run_exec_opts *o);

/*
 * Executes a plan that `sieve run` prepared (cli_plan_prepare): records a new run with its
 * tasks, builds the device pool, schedules, prints the summary. The plan and store stay the
 * caller's. Returns the process exit status.
 */
int cli_run_exec_prepared(const struct run_exec_opts *o, struct store *st, struct plan *plan);

#endif
