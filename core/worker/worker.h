/*
 * worker.h - the worker process: one per device slot, long-lived, started by the scheduler.
 *
 * The worker talks the framed protocol (core/proto/proto.h) on one duplex file descriptor, fd 3 by
 * default (a socketpair end the scheduler creates), so stdin, stdout and stderr stay free:
 * stderr is where a plugin's own prints go, and the worker points fd 2 at the task's log file
 * while a task runs so `sieve logs RUN TASK` can show them. A cluster pilot passes a connected
 * TCP socket's fd instead; nothing else changes.
 *
 * Per run-task message the worker: finds the plugin in the registry (scanned once at start),
 * takes the plugin state for (plugin, canonical params) from a small LRU cache (init runs once
 * per parameter set), maps the input objects (bundle_read), runs process() with a context whose
 * log/progress/cancelled services report back, writes each output bundle atomically to the
 * path the scheduler gave (bundle_write: tmp + fsync + rename), and answers with a result.
 * A thread sends a heartbeat every `heartbeat_ms` while a task runs; a worker that stops
 * sending them (a hung plugin) is killed by the scheduler.
 *
 * Fake devices (tests, demos): the run-task message may carry a fault the scheduler's fake
 * device model decided on; the worker acts it out: "error" returns SIEVE_EDEVICE, "hang"
 * sleeps forever without heartbeats, "crash" kills the process with SIGKILL mid-task.
 *
 * SIGTERM asks the running task to stop (ctx cancelled() turns true); when idle the worker
 * exits. SIGUSR1 drains: the running task finishes, then the worker exits (status 0); a pilot
 * gets it from Slurm before its time limit (sbatch --signal). Exit status: 0 after shutdown or EOF, 1 on a protocol or setup error.
 */
#ifndef SIEVE_CORE_WORKER_H
#define SIEVE_CORE_WORKER_H

struct worker_opts {
    int fd;                  /* protocol fd, duplex */
    const char *id;          /* worker id for hello ("w3") */
    const char *device;      /* "fake:1", "cuda:0", "cpu" */
    const char *plugin_path; /* NULL: host default search path */
    int heartbeat_ms;        /* 0: PROTO_HEARTBEAT_MS */
    int cache_states;        /* plugin states kept (LRU); 0: 8 */
    const char *scratch;     /* scratch directory (the scheduler's, removed by it); NULL: own */
    int strict;              /* fsync each object (1); 0: the scheduler syncs batches */
    /* A pilot's hello (docs/slurm.md): the run's token, its host and batch job; NULL for a
     * local worker. */
    const char *token, *node, *job;
    int exit_on_term; /* a pilot: SIGTERM exits at once, without a result for the task */
};

/* Runs the worker until shutdown or EOF. Returns the process exit status. */
int worker_main(const struct worker_opts *o);

#endif
