/*
 * sched_spec.c - stragglers and their speculative copies.
 *
 * A node's tasks take about the same time; one that takes far longer than its siblings is a
 * straggler (a throttled or sick GPU, a noisy neighbour). As MapReduce and Spark do, the
 * scheduler then runs a copy on another healthy device that sits idle, and the first copy to
 * finish wins; the other is stopped without blame. The bound is learned from the node's own
 * finished tasks: SCHED_SPEC_FACTOR times their median, never below the floor
 * (--speculate-after), and only once SCHED_SPEC_MIN_SAMPLES have finished.
 *
 * Both copies write the same content-addressed object paths (tmp + rename), so only plugins
 * that declare SIEVE_PLUGIN_DETERMINISTIC are copied: their bytes do not depend on which copy
 * renames last. A copy never takes a slot that queued work could use.
 */
#include <stdlib.h>
#include <string.h>

#include "core/host/host.h"
#include "core/plan/plan.h"
#include "sched_int.h"

#define SCHED_SPEC_FACTOR 4
#define SCHED_SPEC_MIN_SAMPLES 5

void
sched_node_record(struct sched *s, uint32_t t, double ms)
{
    struct sched_node_stats *ns = &sched_task_run(s, t)->node_stats[sched_ptask(s, t)->node];
    ns->ms[ns->next] = (float)ms;
    ns->next = (ns->next + 1) % SCHED_NODE_WINDOW;
    if (ns->n < SCHED_NODE_WINDOW)
        ns->n++;
}

static int
cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

int64_t
sched_node_bound_ms(const struct sched *s, uint32_t t)
{
    const struct sched_node_stats *ns = &sched_task_run(s, t)->node_stats[sched_ptask(s, t)->node];
    float v[SCHED_NODE_WINDOW];
    if (s->spec_floor_ms <= 0 || ns->n < SCHED_SPEC_MIN_SAMPLES)
        return -1;
    memcpy(v, ns->ms, ns->n * sizeof *v);
    qsort(v, ns->n, sizeof *v, cmp_float);
    int64_t bound = (int64_t)(SCHED_SPEC_FACTOR * v[ns->n / 2]);
    return bound > s->spec_floor_ms ? bound : s->spec_floor_ms;
}

struct slot *
sched_task_other_copy(struct sched *s, uint32_t t, const struct slot *except)
{
    for (size_t i = 0; i < s->n_slots; i++)
        if (&s->slots[i] != except && s->slots[i].task == t)
            return &s->slots[i];
    return NULL;
}

void
sched_copy_stop(struct sched *s, struct slot *loser, const char *why)
{
    uint32_t t = loser->task;
    /* Detached first, so that the worker's exit moves no task and blames no device. */
    loser->task = UINT32_MAX;
    s->n_running--;
    s->t[t].copies--;
    sched_slot_kill(loser, SIEVE_ECANCELED, why);
}

/* An idle, healthy slot on another device that can run task t, or NULL. */
static struct slot *
copy_target(struct sched *s, uint32_t t, const struct slot *running, int64_t now)
{
    int cls = s->t[t].gpu ? 1 : 0;
    if (!s->has_class[cls])
        cls = !cls;
    if (s->ready[cls].n > 0)
        return NULL; /* queued work comes first */
    for (size_t i = 0; i < s->n_slots; i++) {
        struct slot *sl = &s->slots[i];
        if (sl->state == SLOT_IDLE && sl->dev != running->dev && sl->dev->state == DEVICE_HEALTHY &&
            (device_is_gpu(sl->dev) ? 1 : 0) == cls && sched_slot_usable(s, sl, now))
            return sl;
    }
    return NULL;
}

void
sched_speculate(struct sched *s, int64_t now)
{
    if (s->draining || s->finished || s->disk_full || s->spec_floor_ms <= 0)
        return;
    for (size_t i = 0; i < s->n_slots; i++) {
        struct slot *sl = &s->slots[i];
        if (sl->state != SLOT_BUSY || sl->task == UINT32_MAX || sl->kill_code)
            continue;
        uint32_t t = sl->task;
        const struct plan_node *n = sched_pnode(s, t);
        if (s->t[t].copies > 1 || !(n->plugin->desc->flags & SIEVE_PLUGIN_DETERMINISTIC) ||
            sched_task_run(s, t)->cancelling)
            continue;
        int64_t bound = sched_node_bound_ms(s, t);
        if (bound < 0 || now - sl->started_ms <= bound || s->n_running >= s->max_parallel)
            continue;
        struct slot *to = copy_target(s, t, sl, now);
        if (!to)
            continue;
        char label[256];
        struct sieve_errbuf err;
        sched_task_label(s, t, label, sizeof label);
        if (sched_slot_dispatch(s, to, t, &err) < 0) {
            sched_slot_kill(to, SIEVE_ECRASH, err.msg);
            continue;
        }
        /* A copy is not a retry: it uses none of the task's attempts. */
        s->t[t].attempts--;
        s->t[t].slot = sl->index;
        s->t[t].copies = 2;
        sched_log(s, "task %s straggles on '%s' (%.1f s, bound %.1f s): a copy runs on '%s'", label,
                  sl->dev->name, (double)(now - sl->started_ms) / 1000.0, (double)bound / 1000.0,
                  to->dev->name);
        sched_event(s, t, "task-copy", "%s: copy on %s after %.1f s on %s", label, to->dev->name,
                    (double)(now - sl->started_ms) / 1000.0, sl->dev->name);
    }
}
