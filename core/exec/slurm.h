/*
 * slurm.h - the Slurm executor: the scheduler's workers run as pilot jobs on a Slurm cluster
 * and connect back over TCP (docs/slurm.md).
 *
 * The executor lives on the scheduler's loop. It listens for pilots (sched_listen) with a
 * fresh token, written to a 0600 file the pilots read from the shared store, and keeps up to
 * max_pilots pilot jobs alive while work is left: it submits them as one job array per batch
 * (sbatch --array, --no-requeue: sieve owns retries; --signal=B:USR1@drain: a pilot finishes
 * its task and leaves before its time limit), all under one run-unique, sanitized job name.
 * Each polling cycle asks `squeue --name` once for every job of that name; the interval grows
 * from 1 s to 30 s while nothing changes and shrinks again when something does, and backs off
 * while slurmctld does not answer. A pilot that ends (cancelled, timed out, its node failed)
 * is replaced, at most max_replacements times in all, never faster than one sbatch per
 * submit interval. A submission that timed out may still have reached slurmctld: the executor
 * submits nothing more until a squeue by job name has shown what exists (reconciliation).
 * A submit refused for a per-user limit lowers the target to the pilots that exist.
 * When the scheduler stops, every job of the name is cancelled (scancel --name); jobs of a
 * previous scheduler of the same store (killed before it could cancel them) are cancelled
 * at start. Pilots that lose the scheduler exit by themselves (sieve worker --connect).
 *
 * Usage:
 *     struct exec_slurm *x;
 *     exec_slurm_start(sched, &opts, &x, &err);   // from sched_opts.on_start
 *     ...                                           // the loop runs
 *     exec_slurm_stop(x);                           // from sched_opts.on_stop
 *     exec_slurm_free(x);                           // after the loop: scancel what is left
 */
#ifndef SIEVE_CORE_EXEC_SLURM_H
#define SIEVE_CORE_EXEC_SLURM_H

#include <stddef.h>

#include <sieve/plugin.h>

struct sched;

struct exec_slurm_opts {
    const char *partition; /* NULL: the cluster's default */
    const char *account;
    const char *time;        /* sbatch --time, e.g. "1:00:00"; NULL: the partition's default */
    const char *mem;         /* sbatch --mem, e.g. "8G" */
    const char *extra;       /* more sbatch arguments, split at spaces */
    int gpus;                /* GPUs per pilot (--gres=gpu:N); 0: a CPU pilot */
    int cpus;                /* --cpus-per-task; 0: Slurm's default */
    int max_pilots;          /* pilot jobs alive at most; 0: 4 */
    int max_replacements;    /* lost pilots replaced at most; 0: 2 x max_pilots + 2; < 0: none */
    int drain_s;             /* --signal=B:USR1@drain_s; 0: 120 */
    int submit_interval_ms;  /* between two sbatch calls at least; 0: 1000 */
    const char *listen;      /* "HOST:PORT" the scheduler listens on; NULL: "0.0.0.0:0" */
    const char *advertise;   /* the host pilots dial; NULL: this machine's host name */
    const char *store_dir;   /* shared with the nodes: the token file and pilot logs go there */
    const char *worker_exe;  /* the sieve binary, as the nodes see it */
    const char *plugin_path; /* passed to the pilots; NULL: their default */
    int heartbeat_ms;
    int strict;
    long long run;       /* for the job name ("sieve-<store>-r<run>-<nonce>"); 0: daemon */
    const char *bin_dir; /* where sbatch/squeue/scancel are; NULL: $PATH */
};

struct exec_slurm;

/*
 * Sets one option by the name the YAML `executor:` section and `--slurm KEY=VALUE` use:
 * partition, account, time, mem, sbatch (extra arguments), gpus, cpus, max_pilots,
 * max_replacements, drain (seconds), listen (HOST:PORT), advertise (HOST). Errors:
 * SIEVE_EINVAL (unknown key, bad number). Ownership: value is borrowed until
 * exec_slurm_start, which copies.
 */
int exec_slurm_set(struct exec_slurm_opts *o, const char *key, const char *value,
                   struct sieve_errbuf *err);

/* Slots the device pool needs for these options (max_pilots x max(gpus, 1)). */
size_t exec_slurm_slots(const struct exec_slurm_opts *o);

/*
 * Starts the executor on s's loop: listens, writes the token, cancels stale jobs of this store
 * and schedules the first submission. Errors: SIEVE_EIO (listen, token file), SIEVE_EINVAL.
 * Ownership: o is copied; exec_slurm_free.
 */
int exec_slurm_start(struct sched *s, const struct exec_slurm_opts *o, struct exec_slurm **out,
                     struct sieve_errbuf *err);

/* Closes the executor's handles (the scheduler stops); submits nothing more. */
void exec_slurm_stop(struct exec_slurm *x);

/* Cancels every job of the executor's name (blocking, bounded) and frees it. Accepts NULL. */
void exec_slurm_free(struct exec_slurm *x);

/* The job name pilots are submitted under. */
const char *exec_slurm_job_name(const struct exec_slurm *x);

#endif
