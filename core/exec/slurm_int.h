/*
 * slurm_int.h - the Slurm executor's state and its decisions, private to core/exec (the unit
 * test looks inside). The decisions are pure functions of this state, the scheduler's counts
 * and the time, so that each rule (reconcile after a timed-out submit, hold at a limit,
 * replace within the budget, back off) has a test without a cluster; slurm.c acts them out.
 */
#ifndef SIEVE_CORE_EXEC_SLURM_INT_H
#define SIEVE_CORE_EXEC_SLURM_INT_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "core/exec/slurm.h"
#include "core/sched/sched.h"

#define CMD_TIMEOUT_MS 30000
#define POLL_MIN_MS 1000
#define POLL_MAX_MS 30000
#define OUT_MAX (1u << 20)
#define ARGS_MAX 64

enum exec_cmd { CMD_NONE, CMD_SQUEUE, CMD_SBATCH, CMD_SCANCEL };

/* A daemon with no work left lets its pilots go after this long (they hold GPUs). */
#define IDLE_RELEASE_MS 60000

struct exec_slurm {
    struct sched *s;
    struct exec_slurm_opts o;
    char *strs[16]; /* copies of o's strings */
    size_t n_strs;
    char name[96];   /* the job name */
    char prefix[64]; /* "sieve-<store tag>-": every scheduler of this store */
    char token_path[PATH_MAX], log_dir[PATH_MAX];
    char advertise[256];
    char cwd[PATH_MAX]; /* the scheduler's: pilots run there (store paths may be relative) */
    int port;
    uv_timer_t timer;
    int timer_made, stopped;
    int64_t next_poll_ms, poll_ms, next_submit_ms;

    /* the command in flight */
    int cmd;
    uv_process_t proc;
    uv_pipe_t out;
    char *buf;
    size_t len;
    int proc_open, out_open;
    int64_t exit_status;
    int term_signal;
    int64_t cmd_started_ms;

    /* what squeue said last */
    int known;        /* a squeue succeeded since the last uncertain submit */
    size_t active;    /* pending or running pilots */
    size_t submitted; /* pilots asked for since the last squeue that could see them */
    size_t total;     /* pilots submitted in all */
    size_t lost;      /* pilots seen ending otherwise than COMPLETED (cancelled, timed out, node
                         failure): each one replaced counts against max_replacements */
    int releasing;    /* an idle daemon cancelled its pilots: those are not lost */
    int gave_up;      /* more pilots lost than max_replacements and none left: 1 once decided,
                         2 once acted on (the run of `sieve run` is stopped) */
    size_t ended_seen;
    char **ended; /* job ids seen ended (logged once) */
    size_t n_ended, cap_ended;
    size_t limit;           /* the target after a per-user limit refusal; 0: none */
    int64_t limit_until_ms; /* ... until then: a limit is tried again after LIMIT_HOLD_MS */
    int squeue_fails;
    int64_t idle_since_ms; /* no work left since, 0 while there is */
};

/* A submit refused for a limit holds the target at what exists this long. */
#define LIMIT_HOLD_MS 300000

/*
 * What to do now: CMD_SBATCH with *n pilots, CMD_SQUEUE, CMD_SCANCEL (a daemon idle for
 * IDLE_RELEASE_MS lets its pilots go), or CMD_NONE. Updates the idle clock only.
 */
int exec_slurm_decide(struct exec_slurm *x, const struct sched_pilots *p, int64_t now, size_t *n);

/* Reads `squeue -o '%i|%T|%N'` output (modified in place): counts live pilots (a pending
 * array "12_[3-5]" counts 3), logs each pilot seen ended once. */
void exec_slurm_squeue_parse(struct exec_slurm *x, char *text);

/* A command of `kind` ended: ok (exit 0), or timed out (killed), or failed otherwise. For
 * CMD_SQUEUE, call exec_slurm_squeue_parse first when ok. */
void exec_slurm_cmd_result(struct exec_slurm *x, int kind, int ok, int timed_out, int64_t now);

/* How many array tasks "123_[0-3,5,7-9%4]" stands for (1 for a plain id). */
size_t exec_slurm_array_count(const char *id);

#endif
