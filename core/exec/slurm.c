/*
 * slurm.c - Slurm pilots: submit, watch, replace, cancel (see slurm.h).
 *
 * Every Slurm command runs as a child process on the loop (uv_spawn), one at a time, with
 * its stdout collected and a kill after CMD_TIMEOUT_MS: a slurmctld that does not answer must
 * not stall the scheduler's loop, whose heartbeats and results keep flowing meanwhile.
 */
#define _GNU_SOURCE
#include "core/exec/slurm.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include "base/clock.h"
#include "base/err.h"
#include "base/hash.h"
#include "core/proto/proto.h"
#include "core/sched/sched.h"
#include "slurm_int.h"

static const char *
keep(struct exec_slurm *x, const char *s)
{
    if (!s || x->n_strs >= sizeof x->strs / sizeof x->strs[0])
        return s;
    return x->strs[x->n_strs++] = strdup(s);
}

static int
set_int(int *out, const char *key, const char *v, int lo, struct sieve_errbuf *err)
{
    char *end;
    long n = strtol(v, &end, 10);
    if (end == v || *end || n < lo || n > 100000)
        return sieve_errbuf_set(err, SIEVE_EINVAL, "executor '%s': '%s' is not a number >= %d", key,
                                v, lo);
    *out = (int)n;
    return 0;
}

int
exec_slurm_set(struct exec_slurm_opts *o, const char *key, const char *v, struct sieve_errbuf *err)
{
    if (!strcmp(key, "partition"))
        o->partition = v;
    else if (!strcmp(key, "account"))
        o->account = v;
    else if (!strcmp(key, "time"))
        o->time = v;
    else if (!strcmp(key, "mem"))
        o->mem = v;
    else if (!strcmp(key, "sbatch"))
        o->extra = v;
    else if (!strcmp(key, "listen"))
        o->listen = v;
    else if (!strcmp(key, "advertise"))
        o->advertise = v;
    else if (!strcmp(key, "gpus"))
        return set_int(&o->gpus, key, v, 0, err);
    else if (!strcmp(key, "cpus"))
        return set_int(&o->cpus, key, v, 0, err);
    else if (!strcmp(key, "max_pilots"))
        return set_int(&o->max_pilots, key, v, 1, err);
    else if (!strcmp(key, "max_replacements"))
        return set_int(&o->max_replacements, key, v, -1, err);
    else if (!strcmp(key, "drain"))
        return set_int(&o->drain_s, key, v, 1, err);
    else
        return sieve_errbuf_set(err, SIEVE_EINVAL,
                                "executor: unknown option '%s' (expected partition, account, "
                                "time, mem, sbatch, gpus, cpus, max_pilots, max_replacements, "
                                "drain, listen, advertise)",
                                key);
    return 0;
}

size_t
exec_slurm_slots(const struct exec_slurm_opts *o)
{
    size_t pilots = o->max_pilots > 0 ? (size_t)o->max_pilots : 4;
    return pilots * (size_t)(o->gpus > 0 ? o->gpus : 1);
}

const char *
exec_slurm_job_name(const struct exec_slurm *x)
{
    return x->name;
}

static void
tool(const struct exec_slurm *x, const char *name, char *buf, size_t cap)
{
    if (x->o.bin_dir && x->o.bin_dir[0])
        snprintf(buf, cap, "%s/%s", x->o.bin_dir, name);
    else
        snprintf(buf, cap, "%s", name);
}

/* ---- one command at a time ------------------------------------------------------------- */

static void cmd_done(struct exec_slurm *x);

static void
cmd_closed(uv_handle_t *h)
{
    struct exec_slurm *x = h->data;
    if (h == (uv_handle_t *)&x->proc)
        x->proc_open = 0;
    else
        x->out_open = 0;
    if (!x->proc_open && !x->out_open && x->cmd != CMD_NONE)
        cmd_done(x);
}

static void
on_cmd_exit(uv_process_t *p, int64_t status, int sig)
{
    struct exec_slurm *x = p->data;
    x->exit_status = status;
    x->term_signal = sig;
    uv_close((uv_handle_t *)p, cmd_closed);
}

static void
on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    (void)h;
    (void)hint;
    static char chunk[16384];
    *b = uv_buf_init(chunk, sizeof chunk);
}

static void
on_out(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
    struct exec_slurm *x = st->data;
    if (n < 0) {
        uv_close((uv_handle_t *)st, cmd_closed);
        return;
    }
    if (n > 0 && x->len + (size_t)n < OUT_MAX) {
        char *nb = realloc(x->buf, x->len + (size_t)n + 1);
        if (nb) {
            x->buf = nb;
            memcpy(x->buf + x->len, b->base, (size_t)n);
            x->len += (size_t)n;
            x->buf[x->len] = '\0';
        }
    }
}

/* Starts argv (argv[0] a tool name) with stdout collected; stderr goes to the scheduler's. */
static int
cmd_start(struct exec_slurm *x, int kind, char **argv)
{
    free(x->buf);
    x->buf = NULL;
    x->len = 0;
    uv_pipe_init(sched_loop(x->s), &x->out, 0);
    x->out.data = x;
    uv_stdio_container_t io[3];
    io[0].flags = UV_IGNORE;
    io[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
    io[1].data.stream = (uv_stream_t *)&x->out;
    io[2].flags = UV_INHERIT_FD;
    io[2].data.fd = 2;
    uv_process_options_t po = {
        .exit_cb = on_cmd_exit, .file = argv[0], .args = argv, .stdio_count = 3, .stdio = io};
    x->proc.data = x;
    int rc = uv_spawn(sched_loop(x->s), &x->proc, &po);
    if (rc < 0) {
        /* Out of processes or file descriptors: try again in a while, not every tick. */
        fprintf(stderr, "sieve: slurm: cannot start '%s': %s\n", argv[0], uv_strerror(rc));
        uv_close((uv_handle_t *)&x->out, NULL);
        x->next_poll_ms = x->next_submit_ms = clock_mono_ms() + 5000;
        return -1;
    }
    x->proc_open = x->out_open = 1;
    x->cmd = kind;
    x->cmd_started_ms = clock_mono_ms();
    uv_read_start((uv_stream_t *)&x->out, on_alloc, on_out);
    return 0;
}

/* ---- squeue ----------------------------------------------------------------------------- */

static int
seen_ended(struct exec_slurm *x, const char *id)
{
    for (size_t i = 0; i < x->n_ended; i++)
        if (!strcmp(x->ended[i], id))
            return 1;
    if (x->n_ended == x->cap_ended) {
        size_t cap = x->cap_ended ? x->cap_ended * 2 : 16;
        char **n = realloc(x->ended, cap * sizeof *n);
        if (!n)
            return 1;
        x->ended = n;
        x->cap_ended = cap;
    }
    x->ended[x->n_ended++] = strdup(id);
    return 0;
}

size_t
exec_slurm_array_count(const char *id)
{
    const char *lb = strchr(id, '[');
    if (!lb)
        return 1;
    size_t n = 0;
    const char *p = lb + 1;
    while (*p && *p != ']' && *p != '%') {
        char *end;
        long a = strtol(p, &end, 10), b = a;
        if (end == p)
            break;
        p = end;
        if (*p == '-') {
            b = strtol(p + 1, &end, 10);
            p = end;
        }
        n += (size_t)(b >= a ? b - a + 1 : 1);
        if (*p == ',')
            p++;
    }
    return n ? n : 1;
}

void
exec_slurm_squeue_parse(struct exec_slurm *x, char *text)
{
    size_t active = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *id = line, *state = strchr(line, '|');
        if (!state)
            continue;
        *state++ = '\0';
        char *node = strchr(state, '|');
        if (node)
            *node++ = '\0';
        if (!strcmp(state, "PENDING") || !strcmp(state, "RUNNING") ||
            !strcmp(state, "CONFIGURING") || !strcmp(state, "SUSPENDED") ||
            !strcmp(state, "REQUEUED") || !strcmp(state, "RESIZING")) {
            active += exec_slurm_array_count(id);
        } else if (!seen_ended(x, id) && strcmp(state, "COMPLETED") &&
                   strcmp(state, "COMPLETING")) {
            /* CANCELLED, TIMEOUT, NODE_FAIL, FAILED, PREEMPTED, OUT_OF_MEMORY, BOOT_FAIL:
             * the pilot is gone; its task (if any) moved when its connection closed. A pilot
             * that left by itself (drained before its time limit, or told to go) ends
             * COMPLETED and is replaced without counting as lost. */
            if (!x->releasing || strcmp(state, "CANCELLED"))
                x->lost++;
            fprintf(stderr, "sieve: slurm: pilot job %s ended %s%s%s\n", id, state,
                    node && node[0] ? " on " : "", node ? node : "");
        }
    }
    if (active != x->active)
        x->poll_ms = POLL_MIN_MS; /* something changed: look again soon */
    x->active = active;
    x->submitted = 0;
    x->known = 1;
    x->releasing = 0;
}

static void
start_squeue(struct exec_slurm *x)
{
    char exe[PATH_MAX], name[128];
    tool(x, "squeue", exe, sizeof exe);
    snprintf(name, sizeof name, "--name=%s", x->name);
    /* One query for every pilot of the run, finished ones included (-t all), never one per
     * job. */
    char *argv[] = {exe, "-h", "-t", "all", name, "-o", "%i|%T|%N", NULL};
    cmd_start(x, CMD_SQUEUE, argv);
}

/* ---- sbatch ----------------------------------------------------------------------------- */

static void
start_sbatch(struct exec_slurm *x, size_t n)
{
    char exe[PATH_MAX], name[128], array[64], out[PATH_MAX + 32], sig[64], gres[32], cpus[32],
        wrap[4 * PATH_MAX], extra[1024];
    char *argv[ARGS_MAX];
    int k = 0;
    tool(x, "sbatch", exe, sizeof exe);
    argv[k++] = exe;
    argv[k++] = "--parsable";
    snprintf(name, sizeof name, "--job-name=%s", x->name);
    argv[k++] = name;
    argv[k++] = "--no-requeue";
    snprintf(sig, sizeof sig, "--signal=B:USR1@%d", x->o.drain_s > 0 ? x->o.drain_s : 120);
    argv[k++] = sig;
    snprintf(out, sizeof out, "--output=%s/%%A_%%a.log", x->log_dir);
    argv[k++] = out;
    snprintf(array, sizeof array, "--array=0-%zu", n - 1);
    argv[k++] = array;
    /* The task messages name objects by the store's path as the scheduler opened it, which
     * may be relative: a pilot works in the scheduler's directory (on the shared file
     * system), whatever the cluster's default. */
    char chdir_arg[PATH_MAX + 16];
    if (x->cwd[0]) {
        snprintf(chdir_arg, sizeof chdir_arg, "--chdir=%s", x->cwd);
        argv[k++] = chdir_arg;
    }
    if (x->o.partition) {
        argv[k++] = "--partition";
        argv[k++] = (char *)x->o.partition;
    }
    if (x->o.account) {
        argv[k++] = "--account";
        argv[k++] = (char *)x->o.account;
    }
    if (x->o.time) {
        argv[k++] = "--time";
        argv[k++] = (char *)x->o.time;
    }
    if (x->o.mem) {
        argv[k++] = "--mem";
        argv[k++] = (char *)x->o.mem;
    }
    if (x->o.gpus > 0) {
        snprintf(gres, sizeof gres, "--gres=gpu:%d", x->o.gpus);
        argv[k++] = gres;
    }
    if (x->o.cpus > 0) {
        snprintf(cpus, sizeof cpus, "--cpus-per-task=%d", x->o.cpus);
        argv[k++] = cpus;
    }
    snprintf(extra, sizeof extra, "%s", x->o.extra ? x->o.extra : "");
    for (char *t = strtok(extra, " \t"); t && k < ARGS_MAX - 4; t = strtok(NULL, " \t"))
        argv[k++] = t;
    char hb[32];
    snprintf(hb, sizeof hb, "%d", x->o.heartbeat_ms > 0 ? x->o.heartbeat_ms : PROTO_HEARTBEAT_MS);
    /* exec: the batch shell becomes the pilot, so Slurm's USR1 (drain) and TERM reach it. A
     * CPU pilot must not inherit the submitting shell's CUDA_VISIBLE_DEVICES. */
    int w = snprintf(wrap, sizeof wrap,
                     "--wrap=%sexec '%s' worker --connect '%s:%d' --token-file '%s' "
                     "--heartbeat-ms %s --durability %s",
                     x->o.gpus > 0 ? "" : "unset CUDA_VISIBLE_DEVICES; ", x->o.worker_exe,
                     x->advertise, x->port, x->token_path, hb, x->o.strict ? "strict" : "batch");
    if (x->o.plugin_path && w > 0 && (size_t)w < sizeof wrap)
        snprintf(wrap + w, sizeof wrap - (size_t)w, " --plugin-path '%s'", x->o.plugin_path);
    argv[k++] = wrap;
    argv[k] = NULL;
    if (cmd_start(x, CMD_SBATCH, argv) == 0) {
        x->submitted += n;
        x->total += n;
    }
}

/* ---- the cycle -------------------------------------------------------------------------- */

void
exec_slurm_cmd_result(struct exec_slurm *x, int kind, int ok, int timed_out, int64_t now)
{
    if (kind == CMD_SQUEUE) {
        if (ok) {
            x->squeue_fails = 0;
        } else {
            /* slurmctld does not answer: keep the pilots we have, ask again later. */
            x->squeue_fails++;
            x->poll_ms = x->poll_ms * 2 > POLL_MAX_MS ? POLL_MAX_MS : x->poll_ms * 2;
            fprintf(stderr, "sieve: slurm: squeue failed (%s); next try in %.0f s\n",
                    timed_out ? "timed out" : "exit status", x->poll_ms / 1000.0);
        }
        x->next_poll_ms = now + x->poll_ms;
        if (ok && x->poll_ms < POLL_MAX_MS)
            x->poll_ms += x->poll_ms / 2; /* back off while nothing changes */
    } else if (kind == CMD_SBATCH) {
        x->next_submit_ms = now + (x->o.submit_interval_ms > 0 ? x->o.submit_interval_ms : 1000);
        if (!ok) {
            /* A timed-out submission may have reached slurmctld: submit nothing more until a
             * squeue by name shows what exists. A refusal (a per-user limit, a bad option)
             * backs off, and holds the target at the pilots that exist for a while. */
            x->known = 0;
            x->submitted = 0;
            if (!timed_out) {
                x->limit = x->active;
                x->limit_until_ms = now + LIMIT_HOLD_MS;
                x->next_submit_ms = now + 30000;
            }
            fprintf(stderr, "sieve: slurm: sbatch %s%s\n",
                    timed_out ? "timed out; reconciling by job name" : "failed",
                    !timed_out && x->limit ? "; holding at the pilots that exist" : "");
        }
        x->next_poll_ms = now; /* see the new jobs */
    } else if (kind == CMD_SCANCEL) {
        /* The pilots let go end CANCELLED: the next squeue must not count them as lost. */
        x->releasing = 1;
        x->next_poll_ms = now;
    }
}

static void
cmd_done(struct exec_slurm *x)
{
    int kind = x->cmd;
    int ok = x->term_signal == 0 && x->exit_status == 0;
    x->cmd = CMD_NONE;
    if (kind == CMD_SQUEUE && ok)
        exec_slurm_squeue_parse(x, x->buf ? x->buf : (char[]){""});
    if (kind == CMD_SBATCH && ok)
        fprintf(stderr, "sieve: slurm: submitted pilot job %s", x->buf ? x->buf : "?\n");
    exec_slurm_cmd_result(x, kind, ok, x->term_signal == SIGKILL, clock_mono_ms());
}

int
exec_slurm_decide(struct exec_slurm *x, const struct sched_pilots *p, int64_t now, size_t *n)
{
    *n = 0;
    if (p->stopping)
        return CMD_NONE;
    if (p->work_left == 0 && x->active + x->submitted > 0 && x->known) {
        if (!x->idle_since_ms)
            x->idle_since_ms = now;
        else if (now - x->idle_since_ms > IDLE_RELEASE_MS) {
            x->idle_since_ms = 0;
            return CMD_SCANCEL;
        }
    } else {
        x->idle_since_ms = 0;
    }
    size_t per = (size_t)(x->o.gpus > 0 ? x->o.gpus : 1);
    size_t max = x->o.max_pilots > 0 ? (size_t)x->o.max_pilots : 4;
    size_t want = (p->work_left + per - 1) / per;
    if (want > max)
        want = max;
    if (x->limit_until_ms && now >= x->limit_until_ms)
        x->limit = x->limit_until_ms = 0;
    if (x->limit_until_ms && want > x->limit)
        want = x->limit;
    size_t have = x->active + x->submitted;
    long extra = x->o.max_replacements < 0   ? 0
                 : x->o.max_replacements > 0 ? x->o.max_replacements
                                             : (long)(2 * max + 2);
    int within = (long)x->lost <= extra;
    if (x->known && have < want && now >= x->next_submit_ms && within) {
        *n = want - have;
        return CMD_SBATCH;
    }
    if (x->known && have < want && !within && !x->ended_seen) {
        x->ended_seen = 1;
        fprintf(stderr,
                "sieve: slurm: %zu pilots lost, more than max_replacements (%ld); "
                "no more replacements\n",
                x->lost, extra);
    }
    /* Nothing runs, nothing is pending, and nothing more may be submitted: waiting would be
     * forever (pilots that cannot start or cannot reach the scheduler fail one after
     * another). */
    if (x->known && !within && have == 0 && p->attached == 0 && p->work_left > 0 && !x->gave_up)
        x->gave_up = 1;
    return now >= x->next_poll_ms ? CMD_SQUEUE : CMD_NONE;
}

static void
on_timer(uv_timer_t *t)
{
    struct exec_slurm *x = t->data;
    int64_t now = clock_mono_ms();
    if (x->stopped)
        return;
    if (x->cmd != CMD_NONE) {
        if (now - x->cmd_started_ms > CMD_TIMEOUT_MS && x->proc_open)
            uv_process_kill(&x->proc, SIGKILL);
        return;
    }
    struct sched_pilots p;
    size_t n;
    sched_pilots_count(x->s, &p);
    int act = exec_slurm_decide(x, &p, now, &n);
    if (x->gave_up == 1) {
        /* `sieve run` stops (resume it once the cluster is fixed); a daemon keeps its runs and
         * says so: a new submission or a restart tries again. */
        x->gave_up = 2;
        fprintf(stderr,
                "sieve: slurm: no pilot is running and none may be submitted (see the "
                "pilots' logs in %s)\n",
                x->log_dir);
        if (x->o.run > 0)
            sched_run_cancel(x->s, x->o.run, "no Slurm pilot could be kept running");
    }
    switch (act) {
    case CMD_SBATCH:
        start_sbatch(x, n);
        break;
    case CMD_SQUEUE:
        start_squeue(x);
        break;
    case CMD_SCANCEL: {
        char exe[PATH_MAX], name[128];
        tool(x, "scancel", exe, sizeof exe);
        snprintf(name, sizeof name, "--name=%s", x->name);
        char *argv[] = {exe, name, NULL};
        fprintf(stderr, "sieve: slurm: no work for %d s: letting the pilots go\n",
                IDLE_RELEASE_MS / 1000);
        cmd_start(x, CMD_SCANCEL, argv);
        break;
    }
    default:
        break;
    }
}

/* ---- start and stop --------------------------------------------------------------------- */

static int
run_sync(char *const argv[], char *out, size_t cap)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0) {
        dup2(fds[1], 1);
        int nul = open("/dev/null", O_RDONLY);
        if (nul >= 0)
            dup2(nul, 0);
        alarm(15); /* a slurmctld that does not answer must not hold the exit */
        execvp(argv[0], argv);
        _exit(127);
    }
    close(fds[1]);
    /* Read to the end, keeping what fits: a child writing into a closed pipe would fail. */
    size_t len = 0;
    ssize_t n;
    char sink[4096];
    for (;;) {
        int keep_it = out && len + 1 < cap;
        n = keep_it ? read(fds[0], out + len, cap - 1 - len) : read(fds[0], sink, sizeof sink);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        if (keep_it)
            len += (size_t)n;
    }
    if (out)
        out[len] = '\0';
    close(fds[0]);
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Cancels pilot jobs of this store that an earlier scheduler left (it was killed). */
static void
cancel_stale(struct exec_slurm *x)
{
    char exe[PATH_MAX], scancel[PATH_MAX];
    static char out[1 << 16];
    tool(x, "squeue", exe, sizeof exe);
    tool(x, "scancel", scancel, sizeof scancel);
    char *argv[] = {exe, "-h", "-o", "%i|%j", NULL};
    if (run_sync(argv, out, sizeof out) != 0)
        return;
    char *save = NULL;
    for (char *line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *bar = strchr(line, '|');
        if (!bar || strncmp(bar + 1, x->prefix, strlen(x->prefix)) || !strcmp(bar + 1, x->name))
            continue;
        *bar = '\0';
        char *jid = line, *us = strchr(line, '_');
        if (us)
            *us = '\0'; /* the whole array */
        fprintf(stderr, "sieve: slurm: cancelling job %s of an earlier scheduler (%s)\n", jid,
                bar + 1);
        char *cargv[] = {scancel, jid, NULL};
        run_sync(cargv, NULL, 0);
    }
}

static int
write_token(struct exec_slurm *x, char *token, size_t cap, struct sieve_errbuf *err)
{
    uint8_t rnd[16];
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0 || read(fd, rnd, sizeof rnd) != (ssize_t)sizeof rnd) {
        if (fd >= 0)
            close(fd);
        return sieve_errbuf_set(err, SIEVE_EIO, "pilot token: /dev/urandom: %s", strerror(errno));
    }
    close(fd);
    for (size_t i = 0; i < sizeof rnd && 2 * i + 2 < cap; i++)
        snprintf(token + 2 * i, 3, "%02x", rnd[i]);
    fd = open(x->token_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return sieve_errbuf_set(err, SIEVE_EIO, "pilot token '%s': %s", x->token_path,
                                strerror(errno));
    size_t n = strlen(token);
    int bad = write(fd, token, n) != (ssize_t)n;
    if (close(fd) < 0 || bad)
        return sieve_errbuf_set(err, SIEVE_EIO, "pilot token '%s': write failed", x->token_path);
    return 0;
}

int
exec_slurm_start(struct sched *s, const struct exec_slurm_opts *o, struct exec_slurm **out,
                 struct sieve_errbuf *err)
{
    struct exec_slurm *x = calloc(1, sizeof *x);
    char host[256] = "0.0.0.0", token[64];
    int port = 0, rc;
    *out = NULL;
    if (!x)
        return sieve_errbuf_set(err, SIEVE_ENOMEM, "out of memory");
    x->s = s;
    x->o = *o;
    x->o.partition = keep(x, o->partition);
    x->o.account = keep(x, o->account);
    x->o.time = keep(x, o->time);
    x->o.mem = keep(x, o->mem);
    x->o.extra = keep(x, o->extra);
    x->o.listen = keep(x, o->listen);
    x->o.store_dir = keep(x, o->store_dir);
    x->o.worker_exe = keep(x, o->worker_exe);
    /* /proc/self/exe of a binary replaced while it runs (an upgrade, a rebuild) reads
     * "PATH (deleted)": pilots start the binary now at PATH, which speaks the same protocol. */
    char *del = x->strs[x->n_strs - 1] ? strstr(x->strs[x->n_strs - 1], " (deleted)") : NULL;
    if (del && !del[10])
        *del = '\0';
    x->o.plugin_path = keep(x, o->plugin_path);
    x->o.bin_dir = keep(x, o->bin_dir);
    x->o.advertise = keep(x, o->advertise);
    x->poll_ms = POLL_MIN_MS;
    x->known = 1;

    /* The name: "sieve-" + the store's tag (the same for every scheduler of this store, so a
     * successor finds what a killed one left) + the run + a nonce; only [A-Za-z0-9_-]. */
    uint8_t d[HASH_LEN], nonce[3];
    char hex[HASH_HEX_LEN];
    hash_buffer(o->store_dir, strlen(o->store_dir), d);
    hash_hex(d, hex);
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0 || read(fd, nonce, sizeof nonce) != (ssize_t)sizeof nonce)
        memset(nonce, 0, sizeof nonce);
    if (fd >= 0)
        close(fd);
    snprintf(x->prefix, sizeof x->prefix, "sieve-%.8s-", hex);
    snprintf(x->name, sizeof x->name, "%sr%lld-%02x%02x%02x", x->prefix, o->run, nonce[0], nonce[1],
             nonce[2]);

    if (o->listen) {
        const char *colon = strrchr(o->listen, ':');
        if (!colon) {
            rc = sieve_errbuf_set(err, SIEVE_EINVAL, "listen '%s': expected HOST:PORT", o->listen);
            goto fail;
        }
        snprintf(host, sizeof host, "%.*s", (int)(colon - o->listen), o->listen);
        if (host[0] == '[') { /* [::1]:port */
            memmove(host, host + 1, strlen(host));
            host[strcspn(host, "]")] = '\0';
        }
        port = atoi(colon + 1);
    }
    if (o->advertise && o->advertise[0])
        snprintf(x->advertise, sizeof x->advertise, "%s", o->advertise);
    else if (strcmp(host, "0.0.0.0") && strcmp(host, "::"))
        snprintf(x->advertise, sizeof x->advertise, "%s", host);
    else if (gethostname(x->advertise, sizeof x->advertise - 1) < 0)
        snprintf(x->advertise, sizeof x->advertise, "localhost");

    if (!getcwd(x->cwd, sizeof x->cwd))
        x->cwd[0] = '\0';
    snprintf(x->log_dir, sizeof x->log_dir, "%s/pilots", o->store_dir);
    mkdir(x->log_dir, 0755);
    snprintf(x->log_dir, sizeof x->log_dir, "%s/pilots/%s", o->store_dir, x->name);
    if (mkdir(x->log_dir, 0700) < 0 && errno != EEXIST) {
        rc = sieve_errbuf_set(err, SIEVE_EIO, "pilot directory '%s': %s", x->log_dir,
                              strerror(errno));
        goto fail;
    }
    snprintf(x->token_path, sizeof x->token_path, "%s/token", x->log_dir);
    if ((rc = write_token(x, token, sizeof token, err)) < 0)
        goto fail;
    {
        /* Fail now, not by waiting for pilots forever, where there is no Slurm to ask. */
        char exe[PATH_MAX];
        tool(x, "sbatch", exe, sizeof exe);
        char *argv[] = {exe, "--version", NULL};
        if (run_sync(argv, NULL, 0) != 0) {
            rc = sieve_errbuf_set(err, SIEVE_EINVAL,
                                  "slurm executor: '%s --version' failed (is Slurm installed, "
                                  "and SLURM_CONF set where it needs to be?)",
                                  exe);
            goto fail;
        }
    }
    if ((rc = sched_listen(s, host, port, token, err)) < 0)
        goto fail;
    x->port = rc;
    cancel_stale(x);
    uv_timer_init(sched_loop(s), &x->timer);
    x->timer.data = x;
    x->timer_made = 1;
    uv_timer_start(&x->timer, on_timer, 0, 200);
    fprintf(stderr, "sieve: slurm: pilots '%s' dial %s:%d (up to %d, %d GPU%s each)\n", x->name,
            x->advertise, x->port, o->max_pilots > 0 ? o->max_pilots : 4, o->gpus,
            o->gpus == 1 ? "" : "s");
    *out = x;
    return 0;
fail:
    exec_slurm_free(x);
    return rc;
}

static void
noop_close(uv_handle_t *h)
{
    (void)h;
}

void
exec_slurm_stop(struct exec_slurm *x)
{
    if (!x || x->stopped)
        return;
    x->stopped = 1;
    if (x->timer_made)
        uv_close((uv_handle_t *)&x->timer, noop_close);
    if (x->cmd != CMD_NONE && x->proc_open)
        uv_process_kill(&x->proc, SIGKILL);
}

void
exec_slurm_free(struct exec_slurm *x)
{
    if (!x)
        return;
    if (x->name[0] && x->total > 0) {
        char exe[PATH_MAX], name[128];
        tool(x, "scancel", exe, sizeof exe);
        snprintf(name, sizeof name, "--name=%s", x->name);
        char *argv[] = {exe, name, NULL};
        run_sync(argv, NULL, 0);
    }
    if (x->token_path[0])
        unlink(x->token_path);
    for (size_t i = 0; i < x->n_strs; i++)
        free(x->strs[i]);
    for (size_t i = 0; i < x->n_ended; i++)
        free(x->ended[i]);
    free(x->ended);
    free(x->buf);
    free(x);
}
