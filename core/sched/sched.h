/*
 * sched.h - the scheduler: runs a plan's tasks on a device pool in worker processes, on one
 * libuv loop, and survives failing devices, crashing workers and its own death.
 *
 * Order: ready tasks wait in two priority queues (GPU tasks, CPU tasks) keyed by (sample index,
 * task index): an early sample's downstream tasks run before a later sample's first ones, so
 * samples finish instead of all starting at once. A reduce task sorts after every sample.
 * Each device slot has one long-lived `sieve worker` process (started with
 * CUDA_VISIBLE_DEVICES); a GPU task needs a GPU slot and a CPU task a CPU slot, except that a
 * pool with no slot of a class runs those tasks on the other class.
 *
 * Failures (docs/architecture.md, "Failures"; docs/cli.md for what a user sees):
 *   bad input, internal errors          the task fails at once, dependents are skipped;
 *   transient, out of memory, timeout   retried with exponential backoff and jitter while
 *                                       attempts <= retries;
 *   device error (SIEVE_EDEVICE)        the device is quarantined, the task moves to another
 *                                       device at once (not counted against retries);
 *   worker killed by a signal, lost     the device turns suspect (quarantined on a second fault
 *   heartbeat, stalled plugin (no       within a minute), the worker is respawned and the task
 *   host call for the stall timeout)    moves; the first loss always moves it, each retry
 *                                       allows one more: it fails on loss retries + 2; a
 *                                       plugin whose tasks lost workers on two devices is
 *                                       at fault, not the devices (sched_blame.c); a SIGKILL
 *                                       with an OOM kill in our cgroup is out of memory;
 *   worker not ready in time            the slot's worker is restarted and its device turns
 *                                       suspect; no task is charged;
 *   straggler (4x its node's median)    a copy runs on an idle healthy device, the first to
 *                                       finish wins, the other stops without blame;
 *   no healthy device                   the run waits, says so, and probes quarantined devices
 *                                       with backoff until one returns.
 * Only the scheduler writes the store: task states, artifacts (with the checksums the workers
 * computed), metric rows, events and device states.
 *
 * Cancellation: SIGINT/SIGTERM (or a "cancel" event appended by `sieve cancel`) stops
 * dispatching, asks running workers to stop (SIGTERM, then SIGKILL after a grace period),
 * marks running tasks cancelled and the run cancelled; a second SIGINT kills at once.
 *
 * Several runs (sieve serve): sched_new makes a scheduler with no run; sched_run_add hands it
 * runs while its loop runs, on the loop's thread. Their tasks share the devices: the ready
 * queue orders by run priority, then sample, then arrival, so equal runs advance sample by
 * sample side by side. A task whose key an unfinished task of any run holds waits for that
 * task's result instead of computing it again. Each run ends on its own (on_run_end).
 *
 * Usage:
 *     struct sched_opts o = { .st = st, .run = run, .plan = plan, .devices = &ds, ... };
 *     struct sched_summary sum;
 *     rc = sched_run(&o, &sum, &err);   // 0: every task done or cached
 *     sched_summary_release(&sum);
 */
#ifndef SIEVE_CORE_SCHED_H
#define SIEVE_CORE_SCHED_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <sieve/plugin.h>

struct plan;
struct store;
struct device_set;
struct sched;

/*
 * Liveness defaults. A stall is a plugin that makes no host call (no progress, no log, no
 * output) for this long while its worker still heartbeats: a wedged GPU call. Plugins that
 * compute for minutes between calls should report progress (docs/plugin-guide.md). A worker
 * start (process, plugin loading, a GPU context) gets its own, generous bound.
 */
#define SCHED_STALL_TIMEOUT_MS 300000
#define SCHED_STARTUP_TIMEOUT_MS 60000
/* The loop judges nobody when it was itself away longer than this (TILT, as in redis
 * Sentinel): a syncfs, a slow commit or a frozen machine must not be blamed on workers. */
#define SCHED_TILT_MS 1000
/* A task is a straggler past 4 times its node's median duration, never before this. */
#define SCHED_SPECULATE_AFTER_MS 30000

struct sched_opts {
    struct store *st;
    int64_t run;
    const struct plan *plan;
    struct device_set *devices; /* borrowed; states change as the run goes */
    const char *worker_exe;     /* the `sieve` binary to start workers from */
    const char *plugin_path;    /* passed to workers; NULL: their default */
    int max_parallel;           /* running tasks at most; 0: one per slot */
    int heartbeat_ms;           /* worker heartbeat interval; 0: PROTO_HEARTBEAT_MS */
    int heartbeat_timeout_ms;   /* a busy worker silent this long is killed;
                                   0: PROTO_HEARTBEAT_TIMEOUT_MS */
    int stall_timeout_ms;       /* a task whose plugin makes no host call this long is stuck;
                                   0: SCHED_STALL_TIMEOUT_MS */
    int startup_timeout_ms;     /* a worker not ready this long after spawn is restarted;
                                   0: SCHED_STARTUP_TIMEOUT_MS */
    int speculate_after_ms;     /* straggler floor; 0: SCHED_SPECULATE_AFTER_MS; < 0: never */
    int cancel_grace_ms;        /* SIGTERM → SIGKILL delay on cancel; 0: 3000 */
    int resume;                 /* task rows exist already (sieve resume) */
    int strict;                 /* durability: fsync per artifact (1) or group commit (0) */
    int tty;                    /* live progress line instead of log lines */
    FILE *out;                  /* progress and log lines; NULL: stderr */
    /* Several runs (sched_new): keep running without runs until sched_drain. */
    int serve;
    void *ud;
    /* A run ended: rc as sched_run returns it, msg its error ("" when done). */
    void (*on_run_end)(void *ud, int64_t run, void *run_ud, int rc, const char *msg);
    /* An event was appended to a run's diary (task -1: the run's or a device's). */
    void (*on_event)(void *ud, int64_t run, int64_t task, const char *kind, const char *msg);
    /* The scheduler closed its handles (every run ended, or a drain finished): handles the
     * caller added to the loop must close now for sched_loop_run to return. */
    void (*on_stop)(void *ud);
    /* sched_run made its scheduler and added the run, before the loop runs: an executor
     * (core/exec) joins the loop here. A negative return ends sched_run with that error. */
    int (*on_start)(void *ud, struct sched *s, struct sieve_errbuf *err);
};

/* One task that did not finish, for the closing summary. */
struct sched_failure {
    uint32_t task;
    char *label; /* "node/sample {variant}" */
    char *error;
};

struct sched_summary {
    uint32_t n_tasks, n_done, n_cached, n_failed, n_skipped, n_cancelled;
    uint64_t n_executions; /* process() calls, retries included */
    double seconds;
    struct sched_failure *failures;
    size_t n_failures;
    int interrupted; /* cancelled by signal or `sieve cancel` */
};

/*
 * Runs every task of the plan that is not cached and records the outcome in the store.
 * Returns 0 when every task ended done or cached; SIEVE_EINTERNAL when some task failed (the
 * summary says which); SIEVE_ECANCELED when cancelled. Errors: SIEVE_EINVAL (no device can run
 * some task), SIEVE_ESTORE, SIEVE_EIO (workers cannot be started).
 */
int sched_run(const struct sched_opts *o, struct sched_summary *sum, struct sieve_errbuf *err);

void sched_summary_release(struct sched_summary *sum);

struct sched;
struct uv_loop_s;

/*
 * Makes a scheduler over o's store and device pool with no run yet (o->run and o->plan are
 * not used). o is borrowed until sched_free. Errors: SIEVE_EINVAL (no devices), SIEVE_EIO,
 * SIEVE_ESTORE, SIEVE_ENOMEM. Ownership: sched_free.
 */
int sched_new(const struct sched_opts *o, struct sched **out, struct sieve_errbuf *err);
/* The loop the scheduler runs on; other handles (the HTTP server) may join it. */
struct uv_loop_s *sched_loop(struct sched *s);
/*
 * Adds run `run` (its task rows recorded; `resume`: rows may be left running by a dead
 * scheduler) with its plan, which stays borrowed until on_run_end. Call from the loop's
 * thread. Errors: SIEVE_EEXIST (the run is here already), SIEVE_ENOMEM, SIEVE_ESTORE.
 */
int sched_run_add(struct sched *s, int64_t run, const struct plan *plan, int resume, int priority,
                  void *run_ud, struct sieve_errbuf *err);
/* Cancels a run this scheduler executes. Errors: SIEVE_ENOENT (not here, or ended). */
int sched_run_cancel(struct sched *s, int64_t run, const char *why);
/* The counts of a run this scheduler executes (no failure list). Errors: SIEVE_ENOENT. */
int sched_run_progress(const struct sched *s, int64_t run, struct sched_summary *out);
/* Stops dispatching; running tasks get grace_ms to finish, then their workers are killed
 * and the tasks stay recorded as running, so that the next start resumes them. The loop
 * returns once every worker is gone. Runs are not ended. */
void sched_drain(struct sched *s, int grace_ms);
/* Runs the loop until every run ended (sieve run) or a drain finished (serve). */
int sched_loop_run(struct sched *s, struct sieve_errbuf *err);
void sched_free(struct sched *s);

/*
 * Pilots (docs/slurm.md). The device pool may hold pilot slots (devices_add_remote): they
 * have no process of their own; a `sieve worker --connect` that dials the listener and whose
 * hello carries `token` takes a free one, and its connection is its life: a closed connection
 * or lost heartbeats are a lost worker (its task moves, as for a local worker), and the slot
 * waits for the next pilot. A pilot that finds no free slot is told to shut down.
 *
 * sched_listen listens on host:port (numeric IPv4 or IPv6; port 0 picks one) and returns the
 * port it bound. The listener closes when the scheduler stops. Errors: SIEVE_EINVAL (address),
 * SIEVE_EIO (bind/listen), SIEVE_EEXIST (listening already). Ownership: token is copied.
 */
int sched_listen(struct sched *s, const char *host, int port, const char *token,
                 struct sieve_errbuf *err);

/* Where the pilot slots stand, for an executor deciding how many pilots to keep. */
struct sched_pilots {
    size_t slots;       /* pilot slots in the pool */
    size_t attached;    /* taken by a connected pilot */
    size_t busy;        /* running a task */
    uint32_t work_left; /* tasks of all runs not yet ended */
    int stopping;       /* finished or draining: no pilot is wanted any more */
};
void sched_pilots_count(const struct sched *s, struct sched_pilots *out);

/* Prints the summary: counts, then one line per failed task with its error. */
void sched_summary_print(const struct sched_summary *sum, FILE *f);

#endif
