/*
 * sched_queue.c - the ready queue: a binary min-heap of task indices ordered by (run priority,
 * sample, run arrival, task index), so an early sample's downstream tasks run before a later
 * sample's first ones, and runs of equal priority advance sample by sample side by side.
 */
#include <stdint.h>
#include <stdlib.h>

#include "base/array.h"
#include "core/plan/plan.h"
#include "sched_int.h"

static int
before(const struct sched *s, uint32_t a, uint32_t b)
{
    const struct srun *ra = sched_task_run(s, a), *rb = sched_task_run(s, b);
    if (ra->priority != rb->priority)
        return ra->priority > rb->priority;
    int64_t sa = sched_ptask(s, a)->sample, sb = sched_ptask(s, b)->sample;
    if (sa < 0)
        sa = INT32_MAX; /* reduce tasks after every sample */
    if (sb < 0)
        sb = INT32_MAX;
    if (sa != sb)
        return sa < sb;
    return ra->seq != rb->seq ? ra->seq < rb->seq : a < b;
}

int
sched_queue_push(struct sched_queue *h, const struct sched *s, uint32_t t)
{
    if (array_grow(&h->v, &h->cap, h->n + 1, sizeof *h->v) < 0)
        return SIEVE_ENOMEM;
    size_t i = h->n++;
    while (i > 0) {
        size_t up = (i - 1) / 2;
        if (!before(s, t, h->v[up]))
            break;
        h->v[i] = h->v[up];
        i = up;
    }
    h->v[i] = t;
    return 0;
}

uint32_t
sched_queue_pop(struct sched_queue *h, const struct sched *s)
{
    uint32_t top = h->v[0], last = h->v[--h->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n)
            break;
        if (c + 1 < h->n && before(s, h->v[c + 1], h->v[c]))
            c++;
        if (!before(s, h->v[c], last))
            break;
        h->v[i] = h->v[c];
        i = c;
    }
    if (h->n > 0)
        h->v[i] = last;
    return top;
}
