/*
 * plan_verify.c - no task reads a cached object that does not match its index row.
 *
 * Where the check happens: in the scheduler process, after the lookup and before the first
 * dispatch, on exactly the cached objects that a task of this run will read (outputs of
 * cached tasks consumed by tasks that run). Objects that workers write during the run are not
 * re-hashed: the worker hashed them while writing and the index holds that hash. This costs
 * one sequential read and sha256 of each cached input once per run, instead of once per task
 * that reads it, and needs nothing from the worker or the protocol. A mismatch is a miss: the
 * object and everything ever computed from it are dropped (store_artifact_invalidate), the
 * lookup runs again, and the newly needed producers' own cached inputs are checked in turn,
 * until every input that will be read has verified.
 */
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/err.h"
#include "base/hash.h"
#include "core/plan/plan.h"
#include "store/store.h"

struct bad_keys {
    char (*hex)[HASH_HEX_LEN];
    const char **ptr;
    size_t n;
};

/* Checks the cached inputs of tasks that run, once each (`seen`, by flat output index). */
static int
check_round(struct plan *p, struct store *st, const uint64_t *base, uint8_t *seen,
            struct bad_keys *bad, plan_verify_fn cb, void *arg, struct plan_verify_report *rep,
            struct sieve_errbuf *err)
{
    char hex[HASH_HEX_LEN], problem[256];
    bad->n = 0;
    for (uint32_t t = 0; t < p->n_tasks; t++) {
        const struct plan_task *task = &p->tasks[t];
        if (task->cached)
            continue;
        for (uint32_t d = 0; d < task->n_deps; d++) {
            const struct plan_dep *dep = &task->deps[d];
            uint64_t bytes = 0, at;
            int rc;
            if (dep->task == PLAN_NONE || p->tasks[dep->task].cached != 1)
                continue;
            at = base[dep->task] + dep->port;
            if (seen[at])
                continue;
            seen[at] = 1;
            hash_hex(p->tasks[dep->task].out_keys[dep->port], hex);
            rc = store_artifact_check(st, hex, &bytes, problem, sizeof problem, err);
            if (rc < 0)
                return rc;
            rep->checked++;
            rep->bytes += bytes;
            if (rc == 1)
                continue;
            rep->corrupt++;
            if (cb)
                cb(arg, hex, problem);
            memcpy(bad->hex[bad->n], hex, HASH_HEX_LEN);
            bad->ptr[bad->n] = bad->hex[bad->n];
            bad->n++;
        }
    }
    return 0;
}

int
plan_verify_inputs(struct plan *p, struct store *st, plan_verify_fn cb, void *arg,
                   struct plan_verify_report *rep, struct sieve_errbuf *err)
{
    uint64_t n_keys = 0, *base;
    uint8_t *seen;
    struct bad_keys bad = {0};
    double t0 = clock_mono_ms_f();
    int rc = 0;

    memset(rep, 0, sizeof *rep);
    base = calloc(p->n_tasks ? p->n_tasks : 1, sizeof *base);
    for (uint32_t t = 0; base && t < p->n_tasks; t++) {
        base[t] = n_keys;
        n_keys += p->nodes[p->tasks[t].node].n_outputs;
    }
    seen = calloc(n_keys ? n_keys : 1, 1);
    bad.hex = calloc(n_keys ? n_keys : 1, sizeof *bad.hex);
    bad.ptr = calloc(n_keys ? n_keys : 1, sizeof *bad.ptr);
    if (!base || !seen || !bad.hex || !bad.ptr) {
        rc = sieve_errbuf_set(err, SIEVE_ENOMEM, "verify inputs: out of memory");
        goto out;
    }
    for (;;) {
        if ((rc = check_round(p, st, base, seen, &bad, cb, arg, rep, err)) < 0)
            goto out;
        if (bad.n == 0)
            break;
        if ((rc = store_artifact_invalidate(st, bad.ptr, bad.n, cb, arg, err)) < 0)
            goto out;
        rep->invalidated += (uint32_t)rc;
        /* The dropped objects are misses now: their producers (and the descendants' tasks)
         * run, which may need cached inputs no task read before. */
        if ((rc = plan_lookup(p, st, err)) < 0)
            goto out;
        rc = 0;
    }
out:
    rep->ms = clock_mono_ms_f() - t0;
    free(base);
    free(seen);
    free(bad.hex);
    free(bad.ptr);
    return rc;
}
