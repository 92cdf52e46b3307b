/*
 * sched_worker.c - the scheduler's side of worker processes: start one per slot, send tasks,
 * read heartbeats, logs and results, notice deaths, silence and overruns.
 */
#define _XOPEN_SOURCE 700 /* nftw */
#include <ftw.h>
#include <sys/stat.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/err.h"
#include "base/hash.h"
#include "core/host/host.h"
#include "core/plan/plan.h"
#include "core/proto/proto.h"
#include "sched_int.h"
#include "core/sched/transport.h"
#include "store/store.h"

extern char **environ;

/* Removes the slot's scratch directory: a killed worker cannot clean up after itself. */
static void
scratch_remove(struct slot *sl)
{
    if (sl->scratch[0])
        sched_scratch_remove(sl->scratch);
    sl->scratch[0] = '\0';
}

static void
proc_closed(uv_handle_t *h)
{
    free(h);
}

/* The prefetched task never started: back to the queue, no attempt used. */
static void
requeue_next(struct slot *sl)
{
    struct sched *s = sl->s;
    if (sl->next == UINT32_MAX)
        return;
    uint32_t n = sl->next;
    sl->next = UINT32_MAX;
    s->n_prefetched--;
    s->t[n].attempts--;
    s->n_exec--;
    sched_task_run(s, n)->n_exec--;
    sched_task_requeue(s, n, 0);
}

/* Ends the slot's current task, if any, as lost with `code` (a crash, a lost heartbeat). */
void
sched_slot_lose_task(struct slot *sl, int code, const char *why)
{
    struct sched *s = sl->s;
    requeue_next(sl);
    if (sl->task == UINT32_MAX)
        return;
    uint32_t t = sl->task;
    sl->task = UINT32_MAX;
    s->n_running--;
    if (s->draining) {
        /* The scheduler stops: the task stays recorded as running, and the next start
         * (resume) requeues it. Nobody is blamed. */
        s->t[t].copies--;
        return;
    }
    s->t[t].copies--;
    struct slot *other = sched_task_other_copy(s, t, sl);
    if (other) {
        /* A speculative copy still runs: it carries the task; only the device answers. */
        if (code == SIEVE_ECRASH || code == SIEVE_EDEVICE)
            sched_device_fault(s, sl->dev, clock_mono_ms(), code == SIEVE_EDEVICE, why);
        s->t[t].slot = other->index;
        sched_log(s, "%s; the copy on '%s' goes on", why, other->dev->name);
        return;
    }
    sched_task_failed(s, t, sl, code, why);
}

/* Starts the clocks of a task that begins running on the slot. */
static void
task_started(struct slot *sl, const struct stask *st, int64_t now)
{
    sl->started_ms = sl->last_beat_ms = sl->last_activity_ms = now;
    sl->activity = -1; /* the first heartbeat of the task sets it */
    sl->deadline_ms = st->timeout_s > 0 ? now + (int64_t)st->timeout_s * 1000 : 0;
    sl->progress = 0;
}

/* The prefetched task becomes the running one when the worker reaches it. */
static void
promote_next(struct slot *sl)
{
    struct sched *s = sl->s;
    if (sl->next == UINT32_MAX)
        return;
    int64_t now = clock_mono_ms();
    const struct stask *st = &s->t[sl->next];
    sl->task = sl->next;
    memcpy(sl->task_id, sl->next_id, sizeof sl->task_id);
    sl->next = UINT32_MAX;
    s->n_prefetched--;
    s->n_running++;
    sl->state = SLOT_BUSY;
    s->t[sl->task].copies = 1;
    task_started(sl, st, now);
}

static void
on_exit_cb(uv_process_t *p, int64_t status, int term_signal)
{
    struct slot *sl = p->data;
    struct sched *s = sl->s;
    char why[200];
    int code = SIEVE_ECRASH;
    if (sl->kill_code) {
        code = sl->kill_code;
        snprintf(why, sizeof why, "%s", sl->kill_why);
    } else if (term_signal) {
        snprintf(why, sizeof why, "worker on '%s' killed by signal %d (%s)", sl->dev->name,
                 term_signal, strsignal(term_signal));
        code = sched_exit_reason(s, sl, term_signal, why, sizeof why);
    } else {
        snprintf(why, sizeof why, "worker on '%s' exited with status %d", sl->dev->name,
                 (int)status);
    }
    sl->proc = NULL;
    sl->pid = 0;
    uv_close((uv_handle_t *)p, proc_closed);
    scratch_remove(sl);
    if (sl->tr)
        transport_close(sl->tr);
    sched_slot_lose_task(sl, code, why);
    int was_stopping = sl->state == SLOT_STOPPING;
    sl->state = SLOT_DOWN;
    sl->kill_code = 0;
    /* A worker that dies within a second of starting is not restarted at once (a broken
     * install or device would otherwise spin). */
    sl->respawn_at_ms = clock_mono_ms() + (clock_mono_ms() - sl->spawned_ms < 1000 ? 1000 : 0);
    if (!was_stopping && !s->finished && !term_signal && status != 0 && !sl->tr)
        sched_log(s, "%s", why);
    sched_kick(s);
}

static void
on_msg(struct transport *t, const struct proto_msg *m, void *data)
{
    struct slot *sl = data;
    struct sched *s = sl->s;
    (void)t;
    sl->last_beat_ms = clock_mono_ms();
    switch (m->type) {
    case PROTO_HELLO:
        sl->hello = 1;
        break;
    case PROTO_DRAIN:
        /* The worker leaves after its running task (a pilot near its time limit): nothing
         * more goes to it, and what was queued behind its task goes back to the queue. */
        sl->leaving = 1;
        requeue_next(sl);
        if (sl->state == SLOT_STARTING || sl->state == SLOT_IDLE)
            sl->state = SLOT_STOPPING;
        sched_kick(s);
        break;
    case PROTO_READY:
        if (sl->state == SLOT_STARTING && !sl->leaving) {
            sl->state = SLOT_IDLE;
            sched_kick(s);
        }
        break;
    case PROTO_HEARTBEAT:
        if (sl->task != UINT32_MAX && !strcmp(m->task_id, sl->task_id)) {
            sl->progress = m->progress;
            if (m->activity != sl->activity) {
                sl->activity = m->activity;
                sl->last_activity_ms = sl->last_beat_ms;
            }
        }
        break;
    case PROTO_LOG:
        if (m->level >= SIEVE_LOG_WARN)
            sched_log(s, "%s: %s", m->task_id, m->text);
        break;
    case PROTO_RESULT: {
        if (sl->task == UINT32_MAX || strcmp(m->task_id, sl->task_id)) {
            sched_slot_kill(sl, SIEVE_EPROTO, "worker answered for a task it was not given");
            return;
        }
        uint32_t task = sl->task;
        struct srun *r = sched_task_run(s, task);
        uint32_t node = sched_ptask(s, task)->node;
        double ms = (double)(clock_mono_ms() - sl->started_ms);
        struct slot *other = sched_task_other_copy(s, task, sl);
        sl->task = UINT32_MAX;
        sl->state = SLOT_IDLE;
        s->n_running--;
        s->t[task].copies--;
        {
            /* Per-node running average of task time decides whether prefetching pays. */
            double *avg = &r->node_ms[node];
            *avg = *avg < 0 ? ms : 0.8 * *avg + 0.2 * ms;
        }
        promote_next(sl);
        if (sl->leaving && sl->state == SLOT_IDLE)
            sl->state = SLOT_STOPPING;
        if (m->status == 0) {
            if (other) {
                char label[256];
                sched_task_label(s, task, label, sizeof label);
                sched_log(s, "task %s: the copy on '%s' finished first; the one on '%s' stops",
                          label, sl->dev->name, other->dev->name);
                sched_copy_stop(s, other, "a copy of its task finished first");
            }
            sched_node_record(s, task, ms);
            device_success_record(sl->dev);
            sched_task_done(s, task, m);
        } else if (other) {
            /* This copy failed while the other runs on: the other decides the task. */
            s->t[task].slot = other->index;
            sched_log(s, "%s: %s; the copy on '%s' goes on", sl->dev->name, m->message,
                      other->dev->name);
        } else {
            sched_task_failed(s, task, sl, m->status, m->message);
        }
        sched_kick(s);
        break;
    }
    default:
        sched_slot_kill(sl, SIEVE_EPROTO, "unexpected message from worker");
        break;
    }
}

static void
on_tr_close(struct transport *t, int status, const char *why, void *data)
{
    struct slot *sl = data;
    (void)t;
    sl->tr = NULL;
    if (sl->remote) {
        /* A pilot has no process to wait for: its connection is its life. */
        sched_remote_lost(sl, status, why);
        return;
    }
    if (sl->proc && status != 0) {
        /* A worker that talks nonsense is killed; the exit callback moves its task. */
        char msg[200];
        snprintf(msg, sizeof msg, "worker on '%s': %s", sl->dev->name, why);
        sched_slot_kill(sl, SIEVE_ECRASH, msg);
    }
    /* A clean EOF with the process alive is nearly always a worker on its way out: its exit
     * callback follows and says why (a signal, a status). A worker that closed its pipe but
     * lingers is caught by the heartbeat check if it held a task. */
}

const struct transport_callbacks sched_slot_callbacks = {on_msg, on_tr_close};

int
sched_slot_spawn(struct sched *s, struct slot *sl, struct sieve_errbuf *err)
{
    const struct transport_callbacks cb = sched_slot_callbacks;
    char idbuf[32], hb[32], cuda[64];
    const char *args[16];
    int na = 0;
    snprintf(idbuf, sizeof idbuf, "w%d", sl->index);
    snprintf(hb, sizeof hb, "%d", s->o->heartbeat_ms > 0 ? s->o->heartbeat_ms : PROTO_HEARTBEAT_MS);
    args[na++] = s->o->worker_exe;
    args[na++] = "worker";
    args[na++] = "--fd";
    args[na++] = "3";
    args[na++] = "--id";
    args[na++] = idbuf;
    args[na++] = "--device";
    args[na++] = sl->dev->name;
    args[na++] = "--heartbeat-ms";
    args[na++] = hb;
    args[na++] = "--durability";
    args[na++] = s->o->strict ? "strict" : "batch";
    if (s->o->plugin_path) {
        args[na++] = "--plugin-path";
        args[na++] = s->o->plugin_path;
    }
    const char *tmp = getenv("TMPDIR");
    tmp = tmp && tmp[0] ? tmp : "/tmp";
    sched_scratch_sweep(tmp);
    /* The pid in the name tells a later scheduler whether the directory's owner still runs. */
    snprintf(sl->scratch, sizeof sl->scratch, "%s/sieve-worker-%ld-XXXXXX", tmp, (long)getpid());
    if (mkdtemp(sl->scratch)) {
        args[na++] = "--scratch";
        args[na++] = sl->scratch;
    } else {
        sl->scratch[0] = '\0'; /* the worker makes its own */
    }
    args[na] = NULL;

    /* The environment of the scheduler, with CUDA_VISIBLE_DEVICES set to the slot's GPU (empty
     * for CPU slots and fake devices, so they cannot grab a real GPU by accident). */
    size_t n_env = 0;
    while (environ[n_env])
        n_env++;
    char **env = calloc(n_env + 2, sizeof *env);
    if (!env)
        return sieve_errbuf_set(err, SIEVE_ENOMEM, "out of memory");
    size_t k = 0;
    for (size_t i = 0; i < n_env; i++)
        if (strncmp(environ[i], "CUDA_VISIBLE_DEVICES=", 21))
            env[k++] = environ[i];
    snprintf(cuda, sizeof cuda, "CUDA_VISIBLE_DEVICES=%s",
             sl->dev->kind == DEVICE_GPU ? strchr(sl->dev->name, ':') + 1 : "");
    env[k++] = cuda;
    env[k] = NULL;

    uv_pipe_t *pipe = malloc(sizeof *pipe);
    uv_process_t *proc = malloc(sizeof *proc);
    if (!pipe || !proc) {
        free(pipe);
        free(proc);
        free(env);
        return sieve_errbuf_set(err, SIEVE_ENOMEM, "out of memory");
    }
    uv_pipe_init(&s->loop, pipe, 0);
    uv_stdio_container_t stdio[4];
    stdio[0].flags = UV_IGNORE;
    stdio[1].flags = UV_INHERIT_FD;
    stdio[1].data.fd = 2; /* a worker's stray stdout must not garble the progress line */
    stdio[2].flags = UV_INHERIT_FD;
    stdio[2].data.fd = 2;
    stdio[3].flags = UV_CREATE_PIPE | UV_READABLE_PIPE | UV_WRITABLE_PIPE;
    stdio[3].data.stream = (uv_stream_t *)pipe;
    uv_process_options_t po = {
        .exit_cb = on_exit_cb,
        .file = s->o->worker_exe,
        .args = (char **)args,
        .env = env,
        .stdio_count = 4,
        .stdio = stdio,
    };
    proc->data = sl;
    int rc = uv_spawn(&s->loop, proc, &po);
    free(env);
    if (rc < 0) {
        free(proc);
        scratch_remove(sl);
        uv_close((uv_handle_t *)pipe, proc_closed);
        return sieve_errbuf_set(err, SIEVE_EIO, "start worker '%s' for '%s': %s", s->o->worker_exe,
                                sl->dev->name, uv_strerror(rc));
    }
    sl->proc = proc;
    sl->pid = proc->pid;
    sl->hello = 0;
    sl->leaving = 0;
    sl->spawned_ms = sl->last_beat_ms = clock_mono_ms();
    if ((rc = transport_from_stream((uv_stream_t *)pipe, &cb, sl, &sl->tr, err)) < 0) {
        uv_close((uv_handle_t *)pipe, proc_closed);
        sched_slot_kill(sl, SIEVE_ECRASH, "no pipe to the worker");
        return rc;
    }
    sl->state = SLOT_STARTING; /* takes tasks once the worker says ready */
    return 0;
}

void
sched_slot_kill(struct slot *sl, int code, const char *why)
{
    if (sl->remote && sl->tr) {
        /* A pilot is killed by hanging up on it: it cannot stay without the scheduler. */
        if (!sl->kill_code) {
            sl->kill_code = code;
            snprintf(sl->kill_why, sizeof sl->kill_why, "%s", why);
        }
        transport_close(sl->tr);
        return;
    }
    if (!sl->proc)
        return;
    if (!sl->kill_code) {
        sl->kill_code = code;
        snprintf(sl->kill_why, sizeof sl->kill_why, "%s", why);
    }
    uv_process_kill(sl->proc, SIGKILL);
}

void
sched_slot_shutdown(struct slot *sl)
{
    if (sl->remote && sl->tr) {
        struct proto_msg m = {.type = PROTO_SHUTDOWN};
        struct sieve_errbuf err;
        sl->state = SLOT_STOPPING;
        transport_send(sl->tr, &m, &err);
        transport_close(sl->tr);
        return;
    }
    if (!sl->proc)
        return;
    sl->state = SLOT_STOPPING;
    if (sl->tr) {
        struct proto_msg m = {.type = PROTO_SHUTDOWN};
        struct sieve_errbuf err;
        if (transport_send(sl->tr, &m, &err) == 0) {
            transport_close(sl->tr); /* EOF tells the worker to leave too */
            return;
        }
    }
    uv_process_kill(sl->proc, SIGKILL);
}

/* Builds and sends the run-task message of task t to the slot's worker. */
int
sched_slot_dispatch(struct sched *s, struct slot *sl, uint32_t t, struct sieve_errbuf *err)
{
    struct srun *r = sched_task_run(s, t);
    const struct plan *p = r->p;
    const struct plan_task *pt = sched_ptask(s, t);
    const struct plan_node *n = sched_pnode(s, t);
    const struct sieve_plugin *d = n->plugin->desc;
    struct stask *st = &s->t[t];
    struct proto_path *ins = calloc(pt->n_deps + 1, sizeof *ins);
    struct proto_path *outs = calloc(n->n_outputs + 1, sizeof *outs);
    struct proto_sample *smp = calloc(p->n_samples + 1, sizeof *smp);
    char(*paths)[STORE_PATH_MAX] = calloc(pt->n_deps + n->n_outputs + 1, sizeof *paths);
    char log_path[STORE_PATH_MAX] = "";
    int rc = 0;
    int64_t now = clock_mono_ms();

    if (!ins || !outs || !smp || !paths) {
        rc = sieve_errbuf_set(err, SIEVE_ENOMEM, "out of memory");
        goto out;
    }
    for (uint32_t i = 0; i < pt->n_deps; i++) {
        const struct plan_dep *dep = &pt->deps[i];
        ins[i].port = (d->n_inputs ? d->inputs[i % d->n_inputs].name : "");
        ins[i].path = paths[i];
        if (dep->task == PLAN_NONE)
            continue;
        char hex[HASH_HEX_LEN];
        plan_artifact_hex(p, dep->task, dep->port, hex);
        if ((rc = store_object_path(s->st, hex, paths[i], STORE_PATH_MAX, 0)) < 0) {
            sieve_errbuf_set(err, rc, "object path of '%s'", hex);
            goto out;
        }
    }
    for (uint32_t i = 0; i < n->n_outputs; i++) {
        char hex[HASH_HEX_LEN];
        char *path = paths[pt->n_deps + i];
        plan_artifact_hex(p, t - r->first, i, hex);
        outs[i].port = d->outputs[i].name;
        outs[i].path = path;
        /* Each shard directory is created once per run, not once per task. */
        int shard = (int)strtol((char[3]){hex[0], hex[1], 0}, NULL, 16) & 0xff;
        int mk = !s->shard_made[shard];
        if ((rc = store_object_path(s->st, hex, path, STORE_PATH_MAX, mk)) < 0) {
            sieve_errbuf_set(err, rc, "object path of '%s'", hex);
            goto out;
        }
        s->shard_made[shard] = 1;
    }
    uint32_t first = pt->sample >= 0 ? (uint32_t)pt->sample : 0;
    uint32_t count = pt->sample >= 0 ? 1 : p->n_samples;
    for (uint32_t i = 0; i < count; i++) {
        const struct sieve_sample *ss = &p->samples[first + i];
        smp[i] = (struct proto_sample){ss->id, ss->media, ss->category, ss->fields_json};
    }
    store_log_path(s->st, r->id, t - r->first, log_path, sizeof log_path, !r->log_dir_made);
    r->log_dir_made = 1;
    int prefetch = sl->task != UINT32_MAX;
    char *id = prefetch ? sl->next_id : sl->task_id;
    snprintf(id, sizeof sl->task_id, "%s/%s/v%u", n->name,
             pt->sample >= 0 ? p->samples[pt->sample].id : "*", pt->variant);

    struct proto_msg m = {
        .type = PROTO_RUN_TASK,
        .task_id = id,
        .plugin = d->name,
        .params = n->variants[pt->variant].canonical,
        .inputs = ins,
        .n_inputs = pt->n_deps,
        .outputs = outs,
        .n_outputs = n->n_outputs,
        .samples = smp,
        .n_samples = count,
        .timeout_ms = (int64_t)st->timeout_s * 1000,
        .log_path = log_path,
        .fault = device_dispatch(sl->dev, now),
        .task_key = pt->key_hex, /* so `sieve cache reindex` can rebuild its metric rows */
    };
    if (!sl->tr) {
        rc = sieve_errbuf_set(err, SIEVE_EIO, "worker on '%s' has no pipe", sl->dev->name);
        goto out;
    }
    if ((rc = transport_send(sl->tr, &m, err)) < 0)
        goto out;
    st->attempts++;
    st->state = ST_RUNNING;
    st->slot = sl->index;
    s->n_exec++;
    r->n_exec++;
    if (prefetch) {
        sl->next = t;
        s->n_prefetched++;
    } else {
        sl->task = t;
        sl->state = SLOT_BUSY;
        st->copies = 1;
        task_started(sl, st, now);
        s->n_running++;
    }
    sched_store_update(s, t, STORE_TASK_RUNNING, sl->dev->name, NULL, clock_wall_ms(), -1);
out:
    free(ins);
    free(outs);
    free(smp);
    free(paths);
    return rc;
}

/*
 * After a gap in the judge's own rounds (the loop was busy, or the machine froze it), the
 * time it was away is not held against the workers: every liveness clock moves forward by
 * the gap, and the workers are judged again from there.
 */
static void
forgive_gap(struct sched *s, int64_t gap)
{
    for (size_t i = 0; i < s->n_slots; i++) {
        struct slot *sl = &s->slots[i];
        sl->last_beat_ms += gap;
        sl->last_activity_ms += gap;
        sl->spawned_ms += gap;
    }
}

/* Why a live worker must be killed now, or NULL: silent, stuck inside the plugin, over its
 * task's timeout, or too slow to start. `code` says how its task (if any) is charged. */
static const char *
judge_slot(const struct sched *s, const struct slot *sl, int64_t now, int *code, char *why,
           size_t cap)
{
    if (sl->state == SLOT_STARTING) {
        *code = SIEVE_ECRASH;
        if (now - sl->spawned_ms > s->startup_ms)
            snprintf(why, cap, "the worker on '%s' was not ready %.1f s after it started",
                     sl->dev->name, (double)(now - sl->spawned_ms) / 1000.0);
        else if (sl->hello && now - sl->last_beat_ms > s->silence_ms)
            snprintf(why, cap, "no heartbeat from the worker on '%s' for %.1f s while it started",
                     sl->dev->name, (double)(now - sl->last_beat_ms) / 1000.0);
        else
            return NULL;
        return why;
    }
    if (sl->state != SLOT_BUSY)
        return NULL;
    if (now - sl->last_beat_ms > s->silence_ms) {
        *code = SIEVE_ECRASH;
        snprintf(why, cap, "no heartbeat from the worker on '%s' for %.1f s", sl->dev->name,
                 (double)(now - sl->last_beat_ms) / 1000.0);
    } else if (now - sl->last_activity_ms > s->stall_ms) {
        *code = SIEVE_ECRASH;
        snprintf(why, cap,
                 "stalled on '%s': the plugin made no progress for %.1f s while its worker "
                 "stayed alive",
                 sl->dev->name, (double)(now - sl->last_activity_ms) / 1000.0);
    } else if (sl->deadline_ms && now > sl->deadline_ms) {
        *code = SIEVE_ETIMEDOUT;
        snprintf(why, cap, "timed out after %d s on '%s'", s->t[sl->task].timeout_s, sl->dev->name);
    } else {
        return NULL;
    }
    return why;
}

/* Kills workers that went silent, stalled or overran their task's timeout, and workers that
 * do not start; restarts dead slots. Runs after the loop has read its input (on_judge). */
void
sched_slots_check(struct sched *s, int64_t now)
{
    int64_t gap = s->last_judge_ms ? now - s->last_judge_ms : 0;
    s->last_judge_ms = now;
    if (gap > SCHED_TILT_MS)
        forgive_gap(s, gap);
    for (size_t i = 0; i < s->n_slots; i++) {
        struct slot *sl = &s->slots[i];
        char why[240];
        int code;
        int live = sl->proc || (sl->remote && sl->tr);
        if (live && !sl->kill_code && judge_slot(s, sl, now, &code, why, sizeof why)) {
            if (sl->state == SLOT_STARTING) {
                /* A slow start is the slot's: no task is charged, the device is suspect. */
                if (!sched_device_fault(s, sl->dev, now, 0, why))
                    sched_log(s, "%s", why);
            }
            sched_slot_kill(sl, code, why);
        }
        if (sl->state == SLOT_DOWN && !sl->remote && !sl->proc && !sl->tr && !s->finished &&
            !s->draining && now >= sl->respawn_at_ms && sched_slot_usable(s, sl, now) &&
            s->n_left > 0) {
            struct sieve_errbuf err;
            if (sched_slot_spawn(s, sl, &err) < 0) {
                sched_log(s, "%s", err.msg);
                sl->respawn_at_ms = now + 2000;
            }
        }
    }
    sched_remote_check(s, now);
}
