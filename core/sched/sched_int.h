/*
 * sched_int.h - private state of the scheduler, shared by sched*.c; never leaves core/.
 *
 * sched.c         setup, the main loop, dispatch, completion, teardown
 * sched_worker.c  worker processes: spawn, messages, exit, heartbeat and timeout checks
 * sched_policy.c  what a failure means: retry, move, quarantine, fail; device probing
 * sched_report.c  progress line, log lines, summary
 * sched_queue.c   the ready queue (a heap ordered by sample, then task)
 * sched_resume.c  adopting outputs a killed scheduler never indexed
 * sched_runs.c    runs added, cancelled and ended
 * sched_share.c   tasks of several runs with one key: computed once (in-flight de-duplication)
 * sched_remote.c  pilots: the TCP listener, a pilot's hello and token, slots taken and lost
 *
 * Runs: the scheduler executes several runs at once (sieve serve) or one (sieve run). Their
 * tasks live in one array, run after run; task indices in this room are indices in that array
 * ("global"), and sched_local() turns one into the index in its run's plan, which is what the
 * store and the plan speak.
 */
#ifndef SIEVE_CORE_SCHED_INT_H
#define SIEVE_CORE_SCHED_INT_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "core/sched/devices.h"
#include "core/sched/sched.h"
#include "store/store.h"

struct transport;
struct store_batch;
struct store_metric;
struct json_t;

/* Output ports of a task the scheduler indexes (more than any plugin has). */
#define SCHED_OUTPUTS_MAX 16
/* "node/sample/vN": a node name (SPEC_NODE_NAME_MAX), a sample id (SPEC_SAMPLE_ID_MAX), the
 * variant; with room to spare, so no id the spec accepts is truncated (a truncated id would
 * not match its result). */
#define SCHED_TASK_ID_MAX 384

enum stask_state {
    ST_PENDING = 0,
    ST_READY,
    ST_DELAYED, /* waiting out a retry backoff */
    ST_RUNNING,
    ST_DONE,
    ST_CACHED,
    ST_FAILED,
    ST_SKIPPED, /* an input failed; stored as cancelled */
    ST_CANCELLED,
};

struct stask {
    uint8_t state;
    uint8_t gpu;
    uint16_t attempts; /* dispatches so far */
    uint16_t crashes;  /* worker deaths and lost heartbeats while running it */
    uint16_t retries;  /* retries allowed after the first attempt */
    uint32_t wait;     /* unfinished producers */
    int32_t slot;      /* running on, or -1 */
    int32_t timeout_s;
    uint8_t copies; /* workers running it: 2 while a speculative copy races (sched_spec.c) */
    int16_t avoid;  /* the slot it was moved away from, or -1 (see dispatch in sched.c) */
    int64_t not_before_ms;
    char *error;      /* last error, malloc'd */
    uint32_t run;     /* index in sched.runs */
    uint32_t follows; /* the task with the same key whose result it waits for, or UINT32_MAX */
    uint32_t followers, next_follower; /* tasks waiting for this one's result (a list) */
};

/* One run being executed: its plan, its tasks' place in the task array, its counts. */
struct srun {
    int64_t id; /* in the store */
    const struct plan *p;
    void *ud; /* the caller's (sched_run_add) */
    uint32_t first, n_tasks;
    int priority;
    uint32_t seq; /* arrival order, for fairness between equal priorities */
    int resume;
    uint32_t n_left, n_done, n_cached, n_failed, n_skipped, n_cancelled, n_adopted, n_shared;
    uint64_t n_exec;
    int cancelling, ended, log_dir_made;
    int64_t cancel_deadline_ms, last_event_id, started_ms;
    double *node_ms; /* per node: running average of task time, -1 until known */
    struct sched_node_stats *node_stats;
    int end_rc;
    char end_msg[256];
};

/* A slot's worker: none, loading plugins (hello seen or not), ready for a task, running one,
 * shutting down. Only an IDLE slot takes a task: a slow start is the slot's, never a task's. */
enum slot_state { SLOT_DOWN = 0, SLOT_STARTING, SLOT_IDLE, SLOT_BUSY, SLOT_STOPPING };

struct slot {
    struct sched *s;
    int index;
    struct device *dev;
    int state;
    uv_process_t *proc; /* NULL when not running; freed in its close callback */
    struct transport *tr;
    int pid;
    uint32_t task; /* UINT32_MAX when idle */
    char task_id[SCHED_TASK_ID_MAX];
    uint32_t next; /* a prefetched task queued behind `task`, or UINT32_MAX */
    char next_id[SCHED_TASK_ID_MAX];
    int64_t started_ms, last_beat_ms, deadline_ms, spawned_ms;
    int64_t activity, last_activity_ms; /* the running task's activity count, when it moved */
    int hello;                          /* the worker said hello (it is alive, loading) */
    int64_t respawn_at_ms;
    int kill_code; /* why we killed it: SIEVE_ETIMEDOUT, SIEVE_ECRASH (heartbeat), cancel */
    char kill_why[160];
    double progress;
    char scratch[256]; /* the worker's scratch directory, removed when it exits */
    int remote;        /* a pilot's slot: no process; `tr` is its TCP connection, if any */
    int leaving;       /* the worker said drain: it gets nothing more and leaves after its task */
};

/* The durations of a node's last finished tasks, for its straggler bound (sched_spec.c). */
#define SCHED_NODE_WINDOW 64
struct sched_node_stats {
    float ms[SCHED_NODE_WINDOW];
    uint32_t n, next;
};

/* A binary min-heap of task indices ordered by (priority, sample, run, index). */
struct sched_queue {
    uint32_t *v;
    size_t n, cap;
};

/* Tasks by key, for sharing work between runs (sched_share.c): open addressing. The key is
 * copied in, because an ended run's plan is gone while its finished tasks stay findable. */
struct sched_key_slot {
    uint8_t key[32];
    uint32_t task; /* UINT32_MAX empty, UINT32_MAX - 1 removed */
};
struct sched_keys {
    struct sched_key_slot *v;
    size_t cap, n;
};

struct sched {
    const struct sched_opts *o;
    struct store *st;
    struct srun **runs;
    size_t n_runs, cap_runs;
    uint32_t n_active; /* runs not ended */
    size_t cap_tasks;
    struct sched_keys keys;
    struct store_batch *batch; /* task updates, committed every COMMIT_MS off the loop thread */
    struct store *commit_st;   /* the batch's own handle on the store, for the commit thread */
    uv_work_t commit_req;
    int committing, commit_rc;
    struct sieve_errbuf commit_err;
    uint8_t shard_made[256]; /* objects/<xx>/ directories known to exist */
    uv_loop_t loop;
    uv_timer_t tick;
    uv_signal_t sigint, sigterm, sighup;
    int loop_made, handles_made;
    uv_idle_t kick;
    int kick_armed;
    uv_check_t judge; /* liveness judged after the loop has read its input (see on_judge) */
    int judge_due;
    int64_t last_judge_ms;
    int64_t stall_ms, startup_ms, silence_ms; /* liveness bounds from the options */

    struct stask *t;
    uint32_t n_tasks;
    struct sched_queue ready[2]; /* [0] CPU tasks, [1] GPU tasks */
    uint32_t n_delayed;
    struct slot *slots;
    size_t n_slots;
    int has_class[2]; /* the pool has CPU / GPU slots */
    int max_parallel, n_running, n_prefetched;
    int64_t spec_floor_ms; /* no straggler before this; <= 0: no speculative copies */

    uint32_t n_left; /* tasks of all runs not yet in an end state */
    uint64_t n_exec;

    int cancel_kill, finished;
    int draining; /* serve is stopping: no new dispatch, running tasks finish */
    int64_t drain_deadline_ms;
    int64_t next_cancel_poll_ms;
    int64_t started_ms;
    int64_t next_report_ms, next_wait_msg_ms, next_commit_ms, next_health_ms;
    char last_wait_msg[256];
    int store_failed, flush_warned, record_warned;
    int disk_full; /* dispatch paused until the store's file system has room (sched_disk.c) */
    int64_t disk_free_at_pause, next_disk_probe_ms;
    struct sieve_errbuf store_err;
    struct sched_remote *remote; /* the pilots' listener (sched_remote.c), or NULL */
    /* sched_blame.c: lost workers per plugin, and the OOM kills of our cgroup seen so far */
    struct sched_plugin_fault *pfaults;
    size_t n_pfaults, cap_pfaults;
    long long oom_kills_seen;
};

/* The metric rows a task's `sieve.metrics` JSON carries, for its run, node, variant and key. */
struct sched_metrics {
    struct store_metric *rows;
    size_t n;
    struct json_t *doc; /* owns the strings the rows point into */
};

/*
 * Parses the `sieve.metrics` array of task t (NULL or "": none) into store rows labelled
 * with the task's node, variant and key; elements without a string "metric" and a number
 * "value" are skipped, a missing "category" is "all". Malformed JSON gives no rows: metrics
 * are a report, never a reason to fail the task. Errors: SIEVE_ENOMEM.
 * Ownership: sched_metrics_release, also after an error.
 */
int sched_metrics_parse(const struct sched *s, uint32_t t, const char *json,
                        struct sched_metrics *out);
void sched_metrics_release(struct sched_metrics *m);
void sched_flush(struct sched *s);
void sched_kick(struct sched *s);
void sched_task_label(const struct sched *s, uint32_t t, char *buf, size_t len);
void sched_task_done(struct sched *s, uint32_t t, const void *result_msg);
void sched_task_end(struct sched *s, uint32_t t, int state, const char *error);
void sched_task_requeue(struct sched *s, uint32_t t, int64_t delay_ms);
void sched_store_update(struct sched *s, uint32_t t, enum store_task_state state,
                        const char *device, const char *error, int64_t started, int64_t finished);
/* Appends an event to the diary of task t's run (t >= 0), or of every run not ended (t < 0:
 * device events). */
void sched_event(struct sched *s, int64_t task, const char *kind, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
/* Appends an event to run r's diary. */
void sched_run_event(struct sched *s, struct srun *r, const char *kind, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

/* The run of task t, its plan task and node, and t's index in its run's plan. */
static inline struct srun *
sched_task_run(const struct sched *s, uint32_t t)
{
    return s->runs[s->t[t].run];
}
static inline uint32_t
sched_local(const struct sched *s, uint32_t t)
{
    return t - sched_task_run(s, t)->first;
}
const struct plan_task *sched_ptask(const struct sched *s, uint32_t t);
const struct plan_node *sched_pnode(const struct sched *s, uint32_t t);
/* Whether a slot runs (or has prefetched) a task of run r. */
int sched_run_busy(const struct sched *s, const struct srun *r);

/* sched_runs.c: a run's cancel (tasks not started end cancelled, running ones are asked to
 * stop), the polling of `sieve cancel` requests, ending runs whose tasks are all done, and
 * writing one run's end. */
void sched_run_begin_cancel(struct sched *s, struct srun *r, const char *why);
void sched_runs_poll_cancel(struct sched *s, int64_t now);
void sched_runs_check(struct sched *s, int64_t now);
void sched_run_end(struct sched *s, struct srun *r);

/* sched_worker.c */
extern const struct transport_callbacks sched_slot_callbacks; /* a slot's transport callbacks */
void sched_slot_lose_task(struct slot *sl, int code, const char *why);
int sched_slot_spawn(struct sched *s, struct slot *sl, struct sieve_errbuf *err);
int sched_slot_dispatch(struct sched *s, struct slot *sl, uint32_t t, struct sieve_errbuf *err);
void sched_slot_kill(struct slot *sl, int code, const char *why);
void sched_slot_shutdown(struct slot *sl);
void sched_slots_check(struct sched *s, int64_t now);

/* sched_remote.c: a pilot slot's connection ended (the slot is free again, its task moves);
 * connections that never said hello are dropped; the listener closes when the loop ends. */
void sched_remote_lost(struct slot *sl, int status, const char *why);
void sched_remote_check(struct sched *s, int64_t now);
void sched_remote_close(struct sched *s);

/* sched_policy.c */
void sched_task_failed(struct sched *s, uint32_t t, struct slot *sl, int code, const char *msg);
/* Stragglers (sched_spec.c): durations of finished tasks per node, the node's bound (-1 while
 * unknown), the other slot running a copy of task t, stopping the losing copy, and starting
 * copies of tasks past their bound. */
void sched_node_record(struct sched *s, uint32_t t, double ms);
int64_t sched_node_bound_ms(const struct sched *s, uint32_t t);
struct slot *sched_task_other_copy(struct sched *s, uint32_t t, const struct slot *except);
void sched_copy_stop(struct sched *s, struct slot *loser, const char *why);
void sched_speculate(struct sched *s, int64_t now);

/* Records a fault of device d (quarantine at once with `quarantine`, else suspect and
 * quarantined on a second within a minute) and announces a change of its state.
 * Returns whether the state changed. */
int sched_device_fault(struct sched *s, struct device *d, int64_t now, int quarantine,
                       const char *why);

/* Says, once per run, that an event or device row could not be written (see sched_event). */
void sched_record_failed(struct sched *s, const char *what, const struct sieve_errbuf *err);

/*
 * The failure policy as a pure function (the table in sched.h): what to do with a task that
 * ended with `code`, given its counters, the state of the device it ran on and whether the run
 * is cancelling. sched_task_failed applies the verdict (logs, device records, requeues); this
 * decides, so that every row of the table has a unit test. `jitter` in [0, 1) spreads retry
 * delays (the caller draws it; tests pin it).
 */
enum sched_act {
    SCHED_ACT_RETRY, /* requeue after delay_ms; the attempt counts against retries */
    SCHED_ACT_MOVE,  /* requeue now, elsewhere; no retry used */
    SCHED_ACT_FAIL,  /* the task fails; its dependents are skipped */
    SCHED_ACT_CANCEL /* the run is cancelling: the task ends cancelled */
};
enum sched_blame {
    SCHED_BLAME_NONE,      /* the device is not at fault */
    SCHED_BLAME_FAULT,     /* one fault: suspect, quarantined on a second within a minute */
    SCHED_BLAME_QUARANTINE /* the device said it is broken */
};
struct sched_verdict {
    enum sched_act act;
    enum sched_blame blame;
    int64_t delay_ms; /* RETRY */
    int lost_worker;  /* counts as one more worker the task lost (crashes) */
    int recycle;      /* kill the worker: its device context is suspect */
};
struct sched_policy_task {
    unsigned attempts, crashes, retries; /* crashes before this failure */
};
struct sched_verdict sched_policy_decide(int code, const struct sched_policy_task *task,
                                         int device_quarantined, int cancelling, double jitter);
/* The retry delay before attempt `attempt` + 1: 250 ms doubling to 30 s, times 0.5 + jitter. */
int64_t sched_policy_backoff_ms(unsigned attempt, double jitter);
void sched_device_changed(struct sched *s, struct device *d, const char *why);
void sched_devices_probe(struct sched *s, int64_t now);
int sched_slot_usable(const struct sched *s, const struct slot *sl, int64_t now);

/* sched_disk.c: a full disk pauses dispatch until space comes back. */
#define SCHED_DISK_RESUME_BYTES (1024 * 1024)
/* Whether an error message says the disk (or the index's) is full. */
int sched_disk_full_error(const char *msg);
void sched_disk_pause(struct sched *s, const char *why);
/* Every tick: while paused, probes the free space and resumes when it came back. */
void sched_disk_check(struct sched *s, int64_t now);

/* sched_resume.c */
int sched_resume_adopt(struct sched *s, uint32_t t);

/* sched_share.c: a task about to become ready whose key another unfinished task holds waits
 * for that task instead of running (returns 1); otherwise it holds the key (returns 0). A
 * task holding a key that ends done completes its followers with its result; one that ends
 * otherwise hands them back to run themselves. */
int sched_share_claim(struct sched *s, uint32_t t);
void sched_share_done(struct sched *s, uint32_t t, const void *result_msg);
void sched_share_release(struct sched *s, uint32_t t);
void sched_share_free(struct sched *s);
/* Task t becomes ready (sched.c): queued, or following another task with its key. */
void sched_make_ready(struct sched *s, uint32_t t);
/* Indexes task t's outputs and metric rows as the result message reports them. */
int sched_task_index(struct sched *s, uint32_t t, const void *result_msg, struct sieve_errbuf *err);
void sched_release_dependents(struct sched *s, uint32_t t);

/* sched_report.c */
void sched_report(struct sched *s, int64_t now, int force);
void sched_log(struct sched *s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
void sched_report_waiting(struct sched *s, int64_t now);

/* heap */
int sched_queue_push(struct sched_queue *h, const struct sched *s, uint32_t t);
uint32_t sched_queue_pop(struct sched_queue *h, const struct sched *s);

/* Removes the scratch directories (`<tmp>/sieve-worker-<pid>-*`) of schedulers and workers
 * that were killed, once per process (core/sched/sched_scratch.c). */
void sched_scratch_sweep(const char *tmp);
/* Removes a scratch directory and everything in it. */
void sched_scratch_remove(const char *dir);

/* ---- whose fault a lost worker is (sched_blame.c) ---- */

/*
 * Records that task t lost its worker on slot sl (device_blamed: the policy blamed the
 * device). Rewrites `text` to name the plugin and node; returns whether the device stays
 * blamed: 0 once the plugin has lost workers on two devices (its fault; the devices it made
 * suspect go back into service).
 */
int sched_blame_crash(struct sched *s, uint32_t t, const struct slot *sl, int device_blamed,
                      char *text, size_t len);
void sched_blame_free(struct sched *s);
/* The `oom_kill` count of memory.events at `events_path` (NULL: this process's cgroup v2), or
 * -1 when it cannot be read. */
long long sched_oom_kills(const char *events_path);
/*
 * The error code of a worker that died by `term_signal` without being told to: SIEVE_ENOMEM
 * (with `why` rewritten to say out of memory) when it was SIGKILL and the cgroup's oom_kill
 * count went up since last seen, else SIEVE_ECRASH (`why` unchanged).
 */
int sched_exit_reason(struct sched *s, const struct slot *sl, int term_signal, char *why,
                      size_t len);

#endif
