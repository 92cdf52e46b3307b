/*
 * sched_runs.c - runs coming and going: adding a run's tasks to the scheduler, cancelling a
 * run (on request, by signal, by `sieve cancel`), and ending it once none of its tasks is left,
 * with its state written after its task rows.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "base/array.h"
#include "base/clock.h"
#include "base/err.h"
#include "core/plan/plan.h"
#include "sched_int.h"
#include "store/store.h"
#include "store/store_sched.h"

int
sched_run_busy(const struct sched *s, const struct srun *r)
{
    for (size_t i = 0; i < s->n_slots; i++) {
        const struct slot *sl = &s->slots[i];
        if ((sl->task != UINT32_MAX && sched_task_run(s, sl->task) == r) ||
            (sl->next != UINT32_MAX && sched_task_run(s, sl->next) == r))
            return 1;
    }
    return 0;
}

/* Takes run r's tasks out of a ready queue (a cancelled run's tasks never start). */
static void
queue_drop_run(struct sched *s, struct sched_queue *h, const struct srun *r)
{
    size_t n = h->n, k = 0;
    uint32_t *keep = malloc((n ? n : 1) * sizeof *keep);
    while (h->n > 0) {
        uint32_t t = sched_queue_pop(h, s);
        if (sched_task_run(s, t) != r) {
            if (keep)
                keep[k++] = t;
            continue;
        }
        sched_task_end(s, t, ST_CANCELLED, "cancelled before it started");
    }
    for (size_t i = 0; i < k; i++)
        sched_queue_push(h, s, keep[i]);
    free(keep);
}

void
sched_run_begin_cancel(struct sched *s, struct srun *r, const char *why)
{
    if (r->cancelling || r->ended)
        return;
    r->cancelling = 1;
    r->cancel_deadline_ms =
        clock_mono_ms() + (s->o->cancel_grace_ms ? s->o->cancel_grace_ms : 3000);
    if (s->n_runs > 1 || s->o->serve)
        sched_log(s, "run %lld: cancelling: %s", (long long)r->id, why);
    else
        sched_log(s, "cancelling: %s", why);
    sched_run_event(s, r, "cancel", "%s", why);
    for (size_t i = 0; i < s->n_slots; i++) {
        struct slot *sl = &s->slots[i];
        if (sl->state == SLOT_BUSY && sl->pid > 0 && sl->task != UINT32_MAX &&
            sched_task_run(s, sl->task) == r)
            uv_kill(sl->pid, SIGTERM);
    }
    for (int c = 0; c < 2; c++)
        queue_drop_run(s, &s->ready[c], r);
    for (uint32_t t = r->first; t < r->first + r->n_tasks; t++) {
        if (s->t[t].state == ST_DELAYED) {
            s->n_delayed--;
            sched_task_end(s, t, ST_CANCELLED, "cancelled before it started");
        } else if (s->t[t].state == ST_PENDING) {
            sched_task_end(s, t, ST_CANCELLED, "cancelled before it started");
        }
    }
}

static struct srun *
run_find(const struct sched *s, int64_t run)
{
    for (size_t i = 0; i < s->n_runs; i++)
        if (s->runs[i]->id == run && !s->runs[i]->ended)
            return s->runs[i];
    return NULL;
}

int
sched_run_cancel(struct sched *s, int64_t run, const char *why)
{
    struct srun *r = run_find(s, run);
    if (!r)
        return SIEVE_ENOENT;
    sched_run_begin_cancel(s, r, why ? why : "cancelled");
    return 0;
}

void
sched_runs_poll_cancel(struct sched *s, int64_t now)
{
    if (now < s->next_cancel_poll_ms)
        return;
    s->next_cancel_poll_ms = now + 500;
    sched_flush(s);
    for (size_t i = 0; i < s->n_runs; i++) {
        struct srun *r = s->runs[i];
        struct store_event *ev = NULL;
        size_t n = 0;
        struct sieve_errbuf err;
        if (r->ended || r->cancelling)
            continue;
        if (store_event_list(s->st, r->id, r->last_event_id, 0, &ev, &n, &err) < 0)
            continue;
        for (size_t k = 0; k < n; k++) {
            r->last_event_id = ev[k].id;
            if (!strcmp(ev[k].kind, "cancel-request"))
                sched_run_begin_cancel(s, r, "requested by 'sieve cancel'");
        }
        store_event_list_free(ev, n);
    }
}

/*
 * A run ends once none of its tasks is left and no worker holds one. Its task rows are
 * committed before its state is written, so a run that reads as ended never has a task row
 * behind: a commit in flight postpones the end to the next tick.
 */
void
sched_run_end(struct sched *s, struct srun *r)
{
    struct sieve_errbuf err;
    int rc;
    if (store_batch_commit(s->batch, &err) < 0) {
        if (sched_disk_full_error(err.msg) && !r->cancelling) {
            /* Its task rows cannot be written yet: the run ends once they can. A cancelled
             * run ends now: its lease goes, and it reads as interrupted. */
            sched_disk_pause(s, err.msg);
            return;
        }
        s->store_failed = 1;
        s->store_err = err;
    }
    if (s->store_failed)
        rc = sieve_errbuf_set(&err, SIEVE_ESTORE, "%s", s->store_err.msg);
    else if (r->cancelling)
        rc = sieve_errbuf_set(&err, SIEVE_ECANCELED, "run cancelled");
    else if (r->n_failed > 0 || r->n_skipped > 0)
        rc = sieve_errbuf_set(&err, SIEVE_EINTERNAL, "%u task(s) failed", r->n_failed);
    else
        rc = 0;
    struct sieve_errbuf serr;
    if (store_run_set_state(s->st, r->id,
                            rc == 0                 ? STORE_RUN_DONE
                            : rc == SIEVE_ECANCELED ? STORE_RUN_CANCELLED
                                                    : STORE_RUN_FAILED,
                            rc == 0 ? NULL : err.msg, &serr) < 0) {
        /* The outputs are indexed, but the run would read as still running. */
        sched_log(s, "store: could not record the end of run %lld: %s", (long long)r->id, serr.msg);
        if (rc == 0)
            rc = sieve_errbuf_set(&err, SIEVE_ESTORE, "record the end of the run: %s", serr.msg);
    }
    sched_run_event(s, r, "end", "%u done, %u cached, %u failed, %u skipped, %u cancelled",
                    r->n_done, r->n_cached, r->n_failed, r->n_skipped, r->n_cancelled);
    r->ended = 1;
    r->end_rc = rc;
    snprintf(r->end_msg, sizeof r->end_msg, "%s", rc == 0 ? "" : err.msg);
    s->n_active--;
    if (s->o->on_run_end) {
        s->o->on_run_end(s->o->ud, r->id, r->ud, rc, r->end_msg);
        /* The caller may have freed the plan: nothing reads an ended run's plan again. */
        r->p = NULL;
    }
}

void
sched_runs_check(struct sched *s, int64_t now)
{
    for (size_t i = 0; i < s->n_runs; i++) {
        struct srun *r = s->runs[i];
        if (r->ended)
            continue;
        if (r->cancelling && now >= r->cancel_deadline_ms) {
            for (size_t k = 0; k < s->n_slots; k++) {
                struct slot *sl = &s->slots[k];
                if (sl->state == SLOT_BUSY && sl->task != UINT32_MAX &&
                    sched_task_run(s, sl->task) == r)
                    sched_slot_kill(sl, SIEVE_ECANCELED, "cancelled");
            }
        }
        if (r->n_left == 0 && !s->committing && (!s->disk_full || r->cancelling) &&
            !sched_run_busy(s, r))
            sched_run_end(s, r);
    }
}

/* Makes room for n more tasks and one more run. */
static int
grow(struct sched *s, uint32_t n, struct sieve_errbuf *err)
{
    size_t cap = s->cap_tasks;
    if (array_grow(&s->t, &cap, (size_t)s->n_tasks + n, sizeof *s->t) < 0 ||
        array_grow(&s->runs, &s->cap_runs, s->n_runs + 1, sizeof *s->runs) < 0)
        return sieve_errbuf_set(err, SIEVE_ENOMEM, "out of memory");
    s->cap_tasks = cap;
    return 0;
}

int
sched_run_add(struct sched *s, int64_t run, const struct plan *p, int resume, int priority,
              void *run_ud, struct sieve_errbuf *err)
{
    int rc;
    if (run_find(s, run))
        return sieve_errbuf_set(err, SIEVE_EEXIST, "run %lld is running already", (long long)run);
    if ((rc = grow(s, p->n_tasks, err)) < 0)
        return rc;
    struct srun *r = calloc(1, sizeof *r);
    if (!r)
        return sieve_errbuf_set(err, SIEVE_ENOMEM, "out of memory");
    uint32_t nn = p->n_nodes ? p->n_nodes : 1;
    r->node_ms = malloc(nn * sizeof *r->node_ms);
    r->node_stats = calloc(nn, sizeof *r->node_stats);
    if (!r->node_ms || !r->node_stats) {
        free(r->node_ms);
        free(r->node_stats);
        free(r);
        return sieve_errbuf_set(err, SIEVE_ENOMEM, "out of memory");
    }
    for (uint32_t i = 0; i < p->n_nodes; i++)
        r->node_ms[i] = -1;
    r->id = run;
    r->p = p;
    r->ud = run_ud;
    r->first = s->n_tasks;
    r->n_tasks = p->n_tasks;
    r->priority = priority;
    r->seq = (uint32_t)s->n_runs;
    r->resume = resume;
    r->started_ms = clock_mono_ms();
    uint32_t ri = (uint32_t)s->n_runs;
    s->runs[s->n_runs++] = r;
    s->n_active++;
    memset(s->t + r->first, 0, p->n_tasks * sizeof *s->t);
    s->n_tasks += p->n_tasks;

    for (uint32_t l = 0; l < p->n_tasks; l++) {
        const struct plan_node *n = &p->nodes[p->tasks[l].node];
        struct stask *st = &s->t[r->first + l];
        st->slot = -1;
        st->avoid = -1;
        st->run = ri;
        st->follows = st->followers = st->next_follower = UINT32_MAX;
        st->gpu = n->gpu > 0;
        st->retries = (uint16_t)(n->retries > 0 ? n->retries : 0);
        st->timeout_s = n->timeout_s;
        st->state = p->tasks[l].cached ? ST_CACHED : ST_PENDING;
    }
    if (resume) {
        /* Rows that the dead scheduler left running or ready go back to pending; cached
         * tasks (finished artifacts that verify) are reused as they are. */
        store_tasks_requeue(s->st, run, err);
        for (uint32_t t = r->first; t < r->first + p->n_tasks; t++)
            if (s->t[t].state == ST_PENDING && sched_resume_adopt(s, t)) {
                s->t[t].state = ST_CACHED;
                r->n_adopted++;
            }
    }
    for (uint32_t l = 0; l < p->n_tasks; l++) {
        if (s->t[r->first + l].state == ST_CACHED) {
            r->n_cached++;
            continue;
        }
        r->n_left++;
        s->n_left++;
        const struct plan_task *pt = &p->tasks[l];
        for (uint32_t i = 0; i < pt->n_dependents; i++)
            s->t[r->first + pt->dependents[i]].wait++;
    }
    if ((rc = store_run_set_state(s->st, run, STORE_RUN_RUNNING, NULL, err)) < 0)
        return rc; /* the run stays here and ends failed at the next tick */
    /* The events already in the store predate this scheduler; only newer ones can cancel it. */
    {
        struct store_event *ev = NULL;
        size_t n = 0;
        struct sieve_errbuf e2;
        if (store_event_list(s->st, run, 0, 0, &ev, &n, &e2) == 0 && n > 0)
            r->last_event_id = ev[n - 1].id;
        store_event_list_free(ev, n);
    }
    sched_run_event(s, r, resume ? "resume" : "start", "%u tasks, %u cached, %zu devices",
                    r->n_tasks, r->n_cached, s->n_slots);
    for (size_t i = 0; i < s->o->devices->n; i++)
        sched_device_changed(s, &s->o->devices->dev[i], NULL);
    for (uint32_t t = r->first; t < r->first + p->n_tasks; t++)
        if (s->t[t].state == ST_PENDING && s->t[t].wait == 0)
            sched_make_ready(s, t);
    /* Workers start with the first run that has work. A worker that cannot start fails a
     * single run at once (the binary is missing or broken); a daemon says so and retries. */
    for (size_t i = 0; i < s->n_slots && !s->finished; i++) {
        struct slot *sl = &s->slots[i];
        struct sieve_errbuf serr;
        if (s->n_left > 0 && sl->state == SLOT_DOWN && !sl->proc && !sl->remote &&
            sched_slot_usable(s, sl, clock_mono_ms()) && sched_slot_spawn(s, sl, &serr) < 0) {
            if (!s->o->serve)
                return sieve_errbuf_set(err, SIEVE_EIO, "%s", serr.msg);
            sched_log(s, "%s", serr.msg);
            sl->respawn_at_ms = clock_mono_ms() + 2000;
        }
    }
    sched_kick(s);
    return 0;
}

int
sched_run_progress(const struct sched *s, int64_t run, struct sched_summary *sum)
{
    const struct srun *r = NULL;
    for (size_t i = 0; i < s->n_runs; i++)
        if (s->runs[i]->id == run)
            r = s->runs[i];
    if (!r)
        return SIEVE_ENOENT;
    memset(sum, 0, sizeof *sum);
    sum->n_tasks = r->n_tasks;
    sum->n_done = r->n_done;
    sum->n_cached = r->n_cached;
    sum->n_failed = r->n_failed;
    sum->n_skipped = r->n_skipped;
    sum->n_cancelled = r->n_cancelled;
    sum->n_executions = r->n_exec;
    sum->seconds = (double)(clock_mono_ms() - r->started_ms) / 1000.0;
    sum->interrupted = r->cancelling;
    return 0;
}
