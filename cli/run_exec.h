/*
 * run_exec.h - the executing half of `sieve run`, shared with `sieve resume`: open the store,
 * plan, record the run, build the device pool, schedule, summarise.
 */
#ifndef SIEVE_CLI_RUN_EXEC_H
#define SIEVE_CLI_RUN_EXEC_H

#include <stddef.h>
#include <stdint.h>

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
};

struct plan;
struct store;

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
