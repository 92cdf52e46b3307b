/*
 * serve.h - the daemon behind `sieve serve`: one scheduler that owns a store and its device
 * pool, runs every submitted run on them, and serves the HTTP API (web/) on the same loop.
 *
 * Lifecycle: serve_run takes the store's scheduler lock (so no `sieve run` schedules behind
 * its back), resumes every run left running with no live lease (a killed daemon or run),
 * listens, and runs until SIGTERM/SIGINT. Then it drains: no new dispatch, running tasks get
 * the grace period, and what still runs stays recorded as running so the next start resumes
 * it. A run keeps a lease while this daemon executes it.
 */
#ifndef SIEVE_CLI_SERVE_H
#define SIEVE_CLI_SERVE_H

#include "run_exec.h"

struct serve_opts {
    struct run_exec_opts run; /* store, devices, liveness options, durability */
    const char *listen;       /* NULL: 127.0.0.1:8470 */
    int allow_remote;
    int grace_ms; /* drain: running tasks get this long; 0: 30 s */
    const char *static_dir;
};

/* Serves until stopped. Returns the process exit status. */
int serve_run(const struct serve_opts *o);

#endif
