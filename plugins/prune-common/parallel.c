/*
 * parallel.c - prune_parallel: one pthread per range, the caller taking range 0.
 */
#include "parallel.h"

#include <pthread.h>

struct range {
    int (*fn)(void *, size_t, size_t, size_t);
    void *ctx;
    size_t part, lo, hi;
    int rc;
};

static void *
range_main(void *arg)
{
    struct range *r = arg;
    r->rc = r->fn(r->ctx, r->part, r->lo, r->hi);
    return NULL;
}

size_t
prune_parts(int threads, size_t n)
{
    size_t parts = threads > 1 ? (size_t)threads : 1;
    if (parts > PRUNE_MAX_THREADS)
        parts = PRUNE_MAX_THREADS;
    if (parts > n)
        parts = n;
    return parts ? parts : 1;
}

int
prune_parallel(int threads, size_t n, int (*fn)(void *ctx, size_t part, size_t lo, size_t hi),
               void *ctx)
{
    if (n == 0)
        return 0;
    size_t parts = prune_parts(threads, n);
    struct range r[PRUNE_MAX_THREADS];
    pthread_t tid[PRUNE_MAX_THREADS];
    int started[PRUNE_MAX_THREADS] = {0};
    for (size_t i = 0; i < parts; i++)
        r[i] = (struct range){fn, ctx, i, n * i / parts, n * (i + 1) / parts, 0};
    for (size_t i = 1; i < parts; i++)
        started[i] = pthread_create(&tid[i], NULL, range_main, &r[i]) == 0;
    range_main(&r[0]);
    for (size_t i = 1; i < parts; i++) {
        if (started[i])
            pthread_join(tid[i], NULL);
        else
            range_main(&r[i]); /* no thread for it: the caller does this range too */
    }
    for (size_t i = 0; i < parts; i++)
        if (r[i].rc < 0)
            return r[i].rc;
    return 0;
}
