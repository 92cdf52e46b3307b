/*
 * sched.c - the scheduler's loop: setup, dispatch in (sample, index) order, completion, end.
 * Runs coming and going are in sched_runs.c, failure policy in sched_policy.c, worker
 * processes in sched_worker.c.
 */
#include "core/sched/sched.h"

#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/err.h"
#include "base/hash.h"
#include "core/host/host.h"
#include "core/plan/plan.h"
#include "core/proto/proto.h"
#include "sched_int.h"
#include "store/store.h"
#include "store/store_sched.h"

#define TICK_MS 50
/* Task rows are committed this often; a crash loses at most this much of the index, and
 * resume adopts the objects those rows would have pointed at. */
#define COMMIT_MS 500
#define PREFETCH_MAX_MS 20.0 /* tasks shorter than this on average get prefetched */

/* ---- store and events ------------------------------------------------------------------------- */

void
sched_store_update(struct sched *s, uint32_t t, enum store_task_state state, const char *device,
                   const char *error, int64_t started, int64_t finished)
{
    struct store_task_update u = {.state = state,
                                  .attempts = s->t[t].attempts,
                                  .device = device,
                                  .error = error,
                                  .started_ms = started,
                                  .finished_ms = finished};
    struct sieve_errbuf err;
    if (store_batch_task_update(s->batch, sched_task_run(s, t)->id, sched_local(s, t), &u, &err) <
            0 &&
        !s->store_failed) {
        s->store_failed = 1;
        s->store_err = err;
    }
}

/* The slow half of a commit (syncfs, the transaction), on libuv's thread pool with the
 * batch's own store handle, so that the loop keeps reading heartbeats meanwhile. */
static void
commit_work(uv_work_t *req)
{
    struct sched *s = req->data;
    s->commit_rc = store_batch_commit_detached(s->batch, &s->commit_err);
}

static void
commit_done(uv_work_t *req, int status)
{
    struct sched *s = req->data;
    s->committing = 0;
    if (status == 0 && s->commit_rc == 0)
        return;
    if (sched_disk_full_error(s->commit_err.msg)) {
        sched_disk_pause(s, s->commit_err.msg); /* the updates stay queued for the retry */
        return;
    }
    if (!s->flush_warned)
        sched_log(s, "store: %s (will retry)", s->commit_err.msg);
    s->flush_warned = 1;
    s->store_err = s->commit_err;
}

/* Starts committing the queued task updates unless a commit is in flight: every COMMIT_MS and
 * before other store writes. A failure is reported once and retried at the next commit; the
 * run's last commit (synchronous, in sched_run) decides. */
void
sched_flush(struct sched *s)
{
    if (!s->batch || s->committing || store_batch_detach(s->batch) == 0)
        return;
    s->commit_req.data = s;
    s->committing = 1;
    if (uv_queue_work(&s->loop, &s->commit_req, commit_work, commit_done) < 0) {
        struct sieve_errbuf err;
        s->committing = 0;
        if (store_batch_commit_detached(s->batch, &err) < 0) {
            s->commit_err = err;
            commit_done(&s->commit_req, -1);
        }
    }
}

/*
 * Events and device rows are the run's diary (`sieve logs`, `sieve devices`): losing one
 * changes no output and no task state, so a failed write does not stop the run. It is said
 * once, so that a full disk or a locked index is not silent; task rows and the run's state
 * are not best-effort (sched_store_update, the end of sched_run).
 */
void
sched_record_failed(struct sched *s, const char *what, const struct sieve_errbuf *err)
{
    if (s->record_warned)
        return;
    s->record_warned = 1;
    sched_log(s, "store: could not record %s: %s (the run goes on)", what, err->msg);
}

static void
event_append(struct sched *s, struct srun *r, int64_t task, const char *kind, const char *msg)
{
    struct sieve_errbuf err;
    if (store_event_append(s->st, r->id, task, kind, msg, &err) < 0)
        sched_record_failed(s, "an event", &err);
    if (s->o->on_event)
        s->o->on_event(s->o->ud, r->id, task, kind, msg);
}

void
sched_event(struct sched *s, int64_t task, const char *kind, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    sched_flush(s);
    if (task >= 0) {
        uint32_t t = (uint32_t)task;
        event_append(s, sched_task_run(s, t), sched_local(s, t), kind, msg);
        return;
    }
    for (size_t i = 0; i < s->n_runs; i++)
        if (!s->runs[i]->ended)
            event_append(s, s->runs[i], -1, kind, msg);
}

void
sched_run_event(struct sched *s, struct srun *r, const char *kind, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    sched_flush(s);
    event_append(s, r, -1, kind, msg);
}

const struct plan_task *
sched_ptask(const struct sched *s, uint32_t t)
{
    const struct srun *r = sched_task_run(s, t);
    return &r->p->tasks[t - r->first];
}

const struct plan_node *
sched_pnode(const struct sched *s, uint32_t t)
{
    const struct srun *r = sched_task_run(s, t);
    return &r->p->nodes[r->p->tasks[t - r->first].node];
}

void
sched_task_label(const struct sched *s, uint32_t t, char *buf, size_t len)
{
    const struct plan *p = sched_task_run(s, t)->p;
    const struct plan_task *pt = sched_ptask(s, t);
    const struct plan_node *n = &p->nodes[pt->node];
    const char *label = n->variants[pt->variant].label;
    const char *sample = pt->sample >= 0 ? p->samples[pt->sample].id : "*";
    if (label && strcmp(label, "{}"))
        snprintf(buf, len, "%s/%s %s", n->name, sample, label);
    else
        snprintf(buf, len, "%s/%s", n->name, sample);
}

/* ---- task transitions ------------------------------------------------------------------------ */

void
sched_make_ready(struct sched *s, uint32_t t)
{
    struct stask *st = &s->t[t];
    if (sched_share_claim(s, t))
        return;
    int cls = st->gpu ? 1 : 0;
    if (!s->has_class[cls])
        cls = !cls;
    st->state = ST_READY;
    if (sched_queue_push(&s->ready[cls], s, t) < 0) {
        sched_task_end(s, t, ST_FAILED, "out of memory queueing the task");
    }
}

void
sched_release_dependents(struct sched *s, uint32_t t)
{
    const struct plan_task *pt = sched_ptask(s, t);
    uint32_t first = sched_task_run(s, t)->first;
    for (uint32_t i = 0; i < pt->n_dependents; i++) {
        uint32_t d = first + pt->dependents[i];
        if (s->t[d].wait > 0 && --s->t[d].wait == 0 && s->t[d].state == ST_PENDING)
            sched_make_ready(s, d);
    }
}

/* Skips everything downstream of a failed or cancelled task. */
static void
skip_dependents(struct sched *s, uint32_t t)
{
    const struct plan_task *pt = sched_ptask(s, t);
    uint32_t first = sched_task_run(s, t)->first;
    char label[256], msg[320];
    sched_task_label(s, t, label, sizeof label);
    snprintf(msg, sizeof msg, "skipped: input '%s' did not finish", label);
    for (uint32_t i = 0; i < pt->n_dependents; i++) {
        uint32_t d = first + pt->dependents[i];
        if (s->t[d].state == ST_PENDING)
            sched_task_end(s, d, ST_SKIPPED, msg);
    }
}

void
sched_task_end(struct sched *s, uint32_t t, int state, const char *error)
{
    struct stask *st = &s->t[t];
    struct srun *r = sched_task_run(s, t);
    /* Ending a task twice would wrap n_left and leave the run waiting forever. */
    SIEVE_ASSERT(st->state != ST_DONE && st->state != ST_CACHED && st->state != ST_FAILED &&
                 st->state != ST_SKIPPED && st->state != ST_CANCELLED);
    SIEVE_ASSERT(s->n_left > 0 && r->n_left > 0);
    st->state = (uint8_t)state;
    s->n_left--;
    r->n_left--;
    if (error) {
        free(st->error);
        st->error = strdup(error);
    }
    switch (state) {
    case ST_FAILED:
        r->n_failed++;
        sched_store_update(s, t, STORE_TASK_FAILED, NULL, error, -1, clock_wall_ms());
        break;
    case ST_SKIPPED:
        r->n_skipped++;
        sched_store_update(s, t, STORE_TASK_SKIPPED, NULL, error, -1, clock_wall_ms());
        break;
    case ST_CANCELLED:
        r->n_cancelled++;
        sched_store_update(s, t, STORE_TASK_CANCELLED, NULL, error, -1, clock_wall_ms());
        break;
    default:
        break;
    }
    /* Tasks of other runs waiting for this one's result compute it themselves. */
    sched_share_release(s, t);
    if (state == ST_FAILED || state == ST_SKIPPED || state == ST_CANCELLED)
        skip_dependents(s, t);
}

void
sched_task_requeue(struct sched *s, uint32_t t, int64_t delay_ms)
{
    struct stask *st = &s->t[t];
    st->slot = -1;
    if (delay_ms > 0) {
        st->state = ST_DELAYED;
        st->not_before_ms = clock_mono_ms() + delay_ms;
        s->n_delayed++;
        sched_store_update(s, t, STORE_TASK_PENDING, NULL, st->error, -1, -1);
    } else {
        sched_store_update(s, t, STORE_TASK_READY, NULL, st->error, -1, -1);
        sched_make_ready(s, t);
    }
}

int
sched_metrics_parse(const struct sched *s, uint32_t t, const char *json, struct sched_metrics *out)
{
    const struct plan_task *pt = sched_ptask(s, t);
    const struct plan_node *n = sched_pnode(s, t);
    json_error_t jerr;
    size_t i;
    json_t *e;

    memset(out, 0, sizeof *out);
    if (!json || !*json)
        return 0;
    out->doc = json_loads(json, 0, &jerr);
    if (!json_is_array(out->doc))
        return 0;
    out->rows = calloc(json_array_size(out->doc) + 1, sizeof *out->rows);
    if (!out->rows)
        return SIEVE_ENOMEM;
    json_array_foreach(out->doc, i, e)
    {
        json_t *m = json_object_get(e, "metric"), *c = json_object_get(e, "category");
        json_t *v = json_object_get(e, "value"), *smp = json_object_get(e, "sample");
        if (!json_is_string(m) || !json_is_number(v))
            continue;
        out->rows[out->n++] = (struct store_metric){
            .run = sched_task_run(s, t)->id,
            .node = n->name,
            .variant = n->variants[pt->variant].label,
            .sample = json_is_string(smp) ? json_string_value(smp) : NULL,
            .category = json_is_string(c) ? json_string_value(c) : "all",
            .metric = json_string_value(m),
            .value = json_number_value(v),
            .task_key = pt->key_hex,
        };
    }
    return 0;
}

void
sched_metrics_release(struct sched_metrics *m)
{
    free(m->rows);
    json_decref(m->doc);
    memset(m, 0, sizeof *m);
}

int
sched_task_index(struct sched *s, uint32_t t, const void *result_msg, struct sieve_errbuf *err)
{
    const struct proto_msg *r = result_msg;
    struct srun *run = sched_task_run(s, t);
    const struct plan_node *n = sched_pnode(s, t);
    struct store_artifact arts[SCHED_OUTPUTS_MAX];
    char keys[SCHED_OUTPUTS_MAX][HASH_HEX_LEN];
    struct sched_metrics m;
    size_t n_arts = 0;
    int rc;

    for (uint32_t i = 0; i < n->n_outputs && i < SCHED_OUTPUTS_MAX; i++) {
        plan_artifact_hex(run->p, t - run->first, i, keys[i]);
        arts[n_arts] = (struct store_artifact){.key = keys[i], .run = run->id};
        for (size_t j = 0; j < r->n_artifacts; j++) {
            if (!strcmp(r->artifacts[j].port, n->plugin->desc->outputs[i].name)) {
                arts[n_arts].checksum = r->artifacts[j].sha256;
                arts[n_arts].bytes = (uint64_t)r->artifacts[j].bytes;
            }
        }
        n_arts++;
    }
    rc = sched_metrics_parse(s, t, r->metrics, &m);
    if (rc < 0)
        sieve_errbuf_set(err, rc, "metric rows: out of memory");
    else
        rc = store_batch_task_done(s->batch, run->id, t - run->first, s->t[t].attempts,
                                   clock_wall_ms(), arts, n_arts, m.rows, m.n, err);
    sched_metrics_release(&m);
    return rc;
}

/* Indexes a finished task's artifacts and metric rows, then releases its dependents. */
void
sched_task_done(struct sched *s, uint32_t t, const void *result_msg)
{
    struct sieve_errbuf err;
    struct srun *r = sched_task_run(s, t);
    if (sched_task_index(s, t, result_msg, &err) < 0) {
        /* The object is on disk but not indexed: fail the task rather than claim it done. */
        sched_task_end(s, t, ST_FAILED, err.msg);
        return;
    }
    SIEVE_ASSERT(s->t[t].state == ST_RUNNING && s->n_left > 0 && r->n_left > 0);
    s->t[t].state = ST_DONE;
    s->t[t].slot = -1;
    r->n_done++;
    r->n_left--;
    s->n_left--;
    sched_share_done(s, t, result_msg);
    sched_release_dependents(s, t);
}

/* ---- dispatch --------------------------------------------------------------------------------- */

/* Whether task t should not run on slot `sl`: it was moved away from that slot's device, and
 * another device of the class is in service to take it ("retried on another device"). */
static int
avoids(const struct sched *s, uint32_t t, const struct slot *sl)
{
    if (s->t[t].avoid != sl->index)
        return 0;
    for (size_t i = 0; i < s->n_slots; i++) {
        const struct slot *o = &s->slots[i];
        if (o != sl && o->dev != sl->dev && o->dev->state != DEVICE_QUARANTINED &&
            device_is_gpu(o->dev) == device_is_gpu(sl->dev))
            return 1;
    }
    return 0;
}

static void
dispatch(struct sched *s)
{
    int64_t now = clock_mono_ms();
    if (s->draining || s->finished || s->disk_full)
        return;
    /* Healthy slots first, then suspect ones: a device under suspicion gets work only when no
     * healthy one is free. */
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < s->n_slots; i++) {
            struct slot *sl = &s->slots[i];
            if (s->n_running >= s->max_parallel)
                return;
            if (sl->state != SLOT_IDLE || !sched_slot_usable(s, sl, now))
                continue;
            if ((sl->dev->state == DEVICE_SUSPECT) != pass)
                continue;
            int cls = device_is_gpu(sl->dev) ? 1 : 0;
            struct sched_queue *h = &s->ready[cls];
            if (h->n == 0 || avoids(s, h->v[0], sl))
                continue;
            uint32_t t = sched_queue_pop(h, s);
            struct sieve_errbuf err;
            if (sched_slot_dispatch(s, sl, t, &err) < 0) {
                sched_log(s, "dispatch %s: %s", sl->dev->name, err.msg);
                sched_queue_push(h, s, t);
                sched_slot_kill(sl, SIEVE_ECRASH, err.msg);
            }
        }
    }
    /* Prefetch: a busy healthy worker gets its next task queued behind the current one when
     * tasks of that node are short, so it never waits for a round trip to the scheduler.
     * Long tasks are never queued behind another (an idle worker could have taken them). */
    for (size_t i = 0; i < s->n_slots; i++) {
        struct slot *sl = &s->slots[i];
        if (sl->state != SLOT_BUSY || sl->next != UINT32_MAX || !sl->tr ||
            sl->dev->state != DEVICE_HEALTHY || sl->kill_code || sl->leaving)
            continue;
        struct sched_queue *h = &s->ready[device_is_gpu(sl->dev) ? 1 : 0];
        if (h->n == 0)
            continue;
        uint32_t t = h->v[0];
        double avg = sched_task_run(s, t)->node_ms[sched_ptask(s, t)->node];
        if (avg < 0 || avg > PREFETCH_MAX_MS || avoids(s, t, sl))
            continue;
        sched_queue_pop(h, s);
        struct sieve_errbuf err;
        if (sched_slot_dispatch(s, sl, t, &err) < 0) {
            sched_queue_push(h, s, t);
            sched_slot_kill(sl, SIEVE_ECRASH, err.msg);
        }
    }
}

void
sched_kick(struct sched *s)
{
    dispatch(s);
}

static void
on_close_noop(uv_handle_t *h)
{
    (void)h;
}

static void
finish(struct sched *s)
{
    if (s->finished)
        return;
    s->finished = 1;
    for (size_t i = 0; i < s->n_slots; i++)
        sched_slot_shutdown(&s->slots[i]);
    sched_remote_close(s);
    uv_timer_stop(&s->tick);
    uv_close((uv_handle_t *)&s->tick, on_close_noop);
    uv_check_stop(&s->judge);
    uv_close((uv_handle_t *)&s->judge, on_close_noop);
    uv_close((uv_handle_t *)&s->sigint, on_close_noop);
    uv_close((uv_handle_t *)&s->sigterm, on_close_noop);
    uv_close((uv_handle_t *)&s->sighup, on_close_noop);
    if (s->o->on_stop)
        s->o->on_stop(s->o->ud);
}

/*
 * Liveness is judged here, in a check handle, not in the timer: libuv runs timers before it
 * polls for input, so a timer that judged silence right after a pause of the loop would blame
 * workers whose heartbeats are sitting unread in their pipes. A check handle runs after the
 * poll of the same iteration, when that input has been read.
 */
static void
on_judge(uv_check_t *h)
{
    struct sched *s = h->data;
    if (!s->judge_due || s->finished)
        return;
    s->judge_due = 0;
    sched_slots_check(s, clock_mono_ms());
}

static void
on_tick(uv_timer_t *h)
{
    struct sched *s = h->data;
    int64_t now = clock_mono_ms();
    s->judge_due = 1;
    if (s->n_delayed > 0) {
        for (uint32_t t = 0; t < s->n_tasks; t++) {
            if (s->t[t].state == ST_DELAYED && s->t[t].not_before_ms <= now) {
                s->n_delayed--;
                sched_make_ready(s, t);
            }
        }
    }
    sched_devices_probe(s, now);
    sched_disk_check(s, now);
    sched_runs_poll_cancel(s, now);
    sched_runs_check(s, now);
    if (s->draining && now >= s->drain_deadline_ms) {
        for (size_t i = 0; i < s->n_slots; i++)
            if (s->slots[i].state == SLOT_BUSY)
                sched_slot_kill(&s->slots[i], SIEVE_ECANCELED, "the scheduler stops");
    }
    dispatch(s);
    sched_speculate(s, now);
    sched_report_waiting(s, now);
    sched_report(s, now, 0);
    if (s->draining ? s->n_running == 0 && s->n_prefetched == 0 : !s->o->serve && s->n_active == 0)
        finish(s);
    if (now >= s->next_commit_ms || s->finished) {
        s->next_commit_ms = now + COMMIT_MS;
        sched_flush(s);
    }
}

void
sched_drain(struct sched *s, int grace_ms)
{
    if (s->draining)
        return;
    s->draining = 1;
    s->drain_deadline_ms = clock_mono_ms() + grace_ms;
    sched_log(s, "stopping: %d running task(s) get %.0f s to finish, then go back to the queue",
              s->n_running, grace_ms / 1000.0);
}

static void
on_signal(uv_signal_t *h, int signum)
{
    struct sched *s = h->data;
    if (s->o->serve) {
        /* A daemon drains: its runs go on at the next start. */
        if (s->draining) {
            s->drain_deadline_ms = 0;
            return;
        }
        sched_drain(s, s->o->cancel_grace_ms ? s->o->cancel_grace_ms : 30000);
        return;
    }
    int cancelling = 0;
    for (size_t i = 0; i < s->n_runs; i++)
        cancelling |= s->runs[i]->cancelling;
    if (cancelling) {
        sched_log(s, "second interrupt: killing workers");
        s->cancel_kill = 1;
        for (size_t i = 0; i < s->n_slots; i++)
            if (s->slots[i].state == SLOT_BUSY)
                sched_slot_kill(&s->slots[i], SIEVE_ECANCELED, "killed on second interrupt");
        return;
    }
    /* A closed terminal or a dropped ssh session (SIGHUP) stops the run as SIGTERM does. */
    const char *why = signum == SIGINT   ? "interrupted (Ctrl-C; again to kill)"
                      : signum == SIGHUP ? "hung up (terminal closed)"
                                         : "terminated";
    for (size_t i = 0; i < s->n_runs; i++)
        sched_run_begin_cancel(s, s->runs[i], why);
}

/* ---- setup and run -------------------------------------------------------------------------- */

static int
init_slots(struct sched *s, struct sieve_errbuf *err)
{
    struct device_set *ds = s->o->devices;
    if (ds->n == 0)
        return sieve_errbuf_set(err, SIEVE_EINVAL, "no devices to run on");
    s->slots = calloc(ds->n, sizeof *s->slots);
    if (!s->slots)
        return sieve_errbuf_set(err, SIEVE_ENOMEM, "out of memory");
    s->n_slots = ds->n;
    for (size_t i = 0; i < ds->n; i++) {
        struct slot *sl = &s->slots[i];
        sl->s = s;
        sl->index = (int)i;
        sl->dev = &ds->dev[i];
        sl->task = UINT32_MAX;
        sl->next = UINT32_MAX;
        sl->remote = sl->dev->remote;
        s->has_class[device_is_gpu(sl->dev) ? 1 : 0] = 1;
    }
    s->max_parallel = s->o->max_parallel > 0 ? s->o->max_parallel : (int)ds->n;
    return 0;
}

void
sched_summary_release(struct sched_summary *sum)
{
    for (size_t i = 0; sum->failures && i < sum->n_failures; i++) {
        free(sum->failures[i].label);
        free(sum->failures[i].error);
    }
    free(sum->failures);
    sum->failures = NULL;
    sum->n_failures = 0;
}

static void
fill_summary(struct sched *s, const struct srun *r, struct sched_summary *sum)
{
    memset(sum, 0, sizeof *sum);
    if (!r)
        return;
    sched_run_progress(s, r->id, sum);
    sum->failures = calloc(r->n_failed + 1, sizeof *sum->failures);
    for (uint32_t t = r->first; sum->failures && t < r->first + r->n_tasks; t++) {
        if (s->t[t].state != ST_FAILED)
            continue;
        char label[256];
        sched_task_label(s, t, label, sizeof label);
        struct sched_failure *f = &sum->failures[sum->n_failures++];
        f->task = t - r->first;
        f->label = strdup(label);
        f->error = strdup(s->t[t].error ? s->t[t].error : "unknown error");
    }
}

int
sched_new(const struct sched_opts *o, struct sched **out, struct sieve_errbuf *err)
{
    struct sched *s = calloc(1, sizeof *s);
    int rc;
    *out = NULL;
    if (!s)
        return sieve_errbuf_set(err, SIEVE_ENOMEM, "out of memory");
    s->o = o;
    s->st = o->st;
    s->stall_ms = o->stall_timeout_ms > 0 ? o->stall_timeout_ms : SCHED_STALL_TIMEOUT_MS;
    s->startup_ms = o->startup_timeout_ms > 0 ? o->startup_timeout_ms : SCHED_STARTUP_TIMEOUT_MS;
    s->silence_ms =
        o->heartbeat_timeout_ms > 0 ? o->heartbeat_timeout_ms : PROTO_HEARTBEAT_TIMEOUT_MS;
    s->spec_floor_ms = o->speculate_after_ms ? o->speculate_after_ms : SCHED_SPECULATE_AFTER_MS;
    s->started_ms = clock_mono_ms();
    /* A worker can die at any moment, and a write to its pipe would then raise SIGPIPE and
     * kill the scheduler with it (seen when a losing speculative copy was stopped): the write
     * fails with EPIPE instead, and the worker's exit is handled as usual. */
    signal(SIGPIPE, SIG_IGN);
    if ((rc = uv_loop_init(&s->loop)) < 0) {
        free(s);
        return sieve_errbuf_set(err, SIEVE_EIO, "event loop: %s", uv_strerror(rc));
    }
    s->loop_made = 1;
    /* Everything set up here is released by sched_free, which accepts what was never made. */
    if ((rc = store_open(store_dir(s->st), &s->commit_st, err)) < 0 ||
        (rc = store_batch_new(s->commit_st, &s->batch, err)) < 0 || (rc = init_slots(s, err)) < 0) {
        sched_free(s);
        return rc;
    }
    store_batch_set_sync(s->batch, !o->strict);
    uv_timer_init(&s->loop, &s->tick);
    s->tick.data = s;
    uv_check_init(&s->loop, &s->judge);
    s->judge.data = s;
    uv_check_start(&s->judge, on_judge);
    uv_signal_init(&s->loop, &s->sigint);
    uv_signal_init(&s->loop, &s->sigterm);
    uv_signal_init(&s->loop, &s->sighup);
    s->sigint.data = s->sigterm.data = s->sighup.data = s;
    uv_signal_start(&s->sigint, on_signal, SIGINT);
    uv_signal_start(&s->sigterm, on_signal, SIGTERM);
    uv_signal_start(&s->sighup, on_signal, SIGHUP);
    uv_timer_start(&s->tick, on_tick, 0, TICK_MS);
    s->handles_made = 1;
    *out = s;
    return 0;
}

struct uv_loop_s *
sched_loop(struct sched *s)
{
    return &s->loop;
}

int
sched_loop_run(struct sched *s, struct sieve_errbuf *err)
{
    uv_run(&s->loop, UV_RUN_DEFAULT);
    struct sieve_errbuf ferr;
    if (store_batch_commit(s->batch, &ferr) < 0) {
        s->store_failed = 1;
        s->store_err = ferr;
    }
    sched_report(s, clock_mono_ms(), 1);
    for (size_t i = 0; i < s->o->devices->n; i++)
        sched_device_changed(s, &s->o->devices->dev[i], NULL);
    if (s->store_failed)
        return sieve_errbuf_set(err, SIEVE_ESTORE, "%s", s->store_err.msg);
    return 0;
}

void
sched_free(struct sched *s)
{
    if (!s)
        return;
    if (s->handles_made && !s->finished) {
        finish(s);
        uv_run(&s->loop, UV_RUN_DEFAULT);
    }
    store_batch_free(s->batch);
    store_close(s->commit_st);
    if (s->loop_made && uv_loop_close(&s->loop) != 0) {
        uv_run(&s->loop, UV_RUN_DEFAULT);
        uv_loop_close(&s->loop);
    }
    for (uint32_t t = 0; s->t && t < s->n_tasks; t++)
        free(s->t[t].error);
    for (size_t i = 0; i < s->n_runs; i++) {
        free(s->runs[i]->node_ms);
        free(s->runs[i]->node_stats);
        free(s->runs[i]);
    }
    sched_share_free(s);
    sched_blame_free(s);
    free(s->runs);
    free(s->t);
    free(s->ready[0].v);
    free(s->ready[1].v);
    free(s->slots);
    free(s);
}

int
sched_run(const struct sched_opts *o, struct sched_summary *sum, struct sieve_errbuf *err)
{
    struct sched *s = NULL;
    int rc;
    memset(sum, 0, sizeof *sum);
    if ((rc = sched_new(o, &s, err)) < 0)
        return rc;
    if ((rc = sched_run_add(s, o->run, o->plan, o->resume, 0, NULL, err)) < 0 ||
        (o->on_start && (rc = o->on_start(o->ud, s, err)) < 0)) {
        sched_free(s);
        return rc;
    }
    rc = sched_loop_run(s, err);
    struct srun *r = s->runs[0];
    if (!r->ended)
        sched_run_end(s, r); /* the loop stopped early (no worker could start) */
    if (rc == 0 && r->end_rc < 0)
        rc = sieve_errbuf_set(err, r->end_rc, "%s", r->end_msg);
    fill_summary(s, r, sum);
    sched_free(s);
    return rc;
}
