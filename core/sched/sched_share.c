/*
 * sched_share.c - work shared between runs: a task key is computed once at a time.
 *
 * Two sweeps on one daemon often need the same decode and encode tasks, and one pipeline can
 * hold two tasks with one key (two manifest rows on one media file). The plan's cache lookup
 * only sees what was finished when the run was planned; this table sees what is under way.
 * When a task becomes ready, it claims its key: if another unfinished task holds the key, it
 * follows that task instead of running, and completes with the leader's result (indexed for
 * its own run, as a cached task). If the leader fails or is cancelled, its followers become
 * ready again and one of them claims the key. A leader that finished earlier in this
 * scheduler's life is adopted from disk (sched_resume_adopt), which checks the files.
 *
 * Both tasks would write the same object paths, so running them at once would only waste a
 * device and race on the rename.
 */
#include <stdlib.h>
#include <string.h>

#include "core/plan/plan.h"
#include "sched_int.h"

#define EMPTY UINT32_MAX
#define REMOVED (UINT32_MAX - 1)

static uint64_t
key_hash(const uint8_t *key)
{
    uint64_t h;
    memcpy(&h, key, sizeof h); /* a SHA-256: its bytes are already uniform */
    return h;
}

static const uint8_t *
task_key(const struct sched *s, uint32_t t)
{
    return sched_ptask(s, t)->key;
}

/* The slot of `key` in the table, or of the place to insert it when absent. */
static size_t
find(const struct sched *s, const uint8_t *key, int *found)
{
    const struct sched_keys *k = &s->keys;
    size_t mask = k->cap - 1, i = (size_t)key_hash(key) & mask, ins = SIZE_MAX;
    *found = 0;
    for (;; i = (i + 1) & mask) {
        uint32_t v = k->v[i].task;
        if (v == EMPTY)
            return ins != SIZE_MAX ? ins : i;
        if (v == REMOVED) {
            if (ins == SIZE_MAX)
                ins = i;
            continue;
        }
        if (!memcmp(k->v[i].key, key, 32)) {
            *found = 1;
            return i;
        }
    }
}

static int
rehash(struct sched *s, size_t cap)
{
    struct sched_keys old = s->keys;
    struct sched_key_slot *v = malloc(cap * sizeof *v);
    if (!v)
        return SIEVE_ENOMEM;
    for (size_t i = 0; i < cap; i++)
        v[i].task = EMPTY;
    s->keys = (struct sched_keys){.v = v, .cap = cap, .n = 0};
    for (size_t i = 0; i < old.cap; i++) {
        if (old.v[i].task == EMPTY || old.v[i].task == REMOVED)
            continue;
        int found;
        size_t at = find(s, old.v[i].key, &found);
        s->keys.v[at] = old.v[i];
        s->keys.n++;
    }
    free(old.v);
    return 0;
}

static void
put(struct sched *s, size_t at, uint32_t t)
{
    if (s->keys.v[at].task == EMPTY)
        s->keys.n++;
    memcpy(s->keys.v[at].key, task_key(s, t), 32);
    s->keys.v[at].task = t;
}

static int
is_end(int state)
{
    return state == ST_DONE || state == ST_CACHED || state == ST_FAILED || state == ST_SKIPPED ||
           state == ST_CANCELLED;
}

/* Task f completes without running: its key's outputs exist. */
static void
complete_shared(struct sched *s, uint32_t f, uint32_t leader)
{
    struct srun *r = sched_task_run(s, f);
    s->t[f].state = ST_CACHED;
    r->n_cached++;
    r->n_shared++;
    r->n_left--;
    s->n_left--;
    if (sched_task_run(s, leader) != r)
        sched_event(s, f, "shared", "computed once for run %lld",
                    (long long)sched_task_run(s, leader)->id);
    sched_release_dependents(s, f);
}

int
sched_share_claim(struct sched *s, uint32_t t)
{
    int found;
    /* Tombstones count as used, so the probe always meets an empty slot. */
    if ((s->keys.n + 1) * 2 > s->keys.cap && rehash(s, s->keys.cap ? s->keys.cap * 2 : 1024) < 0)
        return 0; /* no table: run it (correct, only not shared) */
    size_t at = find(s, task_key(s, t), &found);
    if (!found) {
        put(s, at, t);
        return 0;
    }
    uint32_t e = s->keys.v[at].task;
    if (e == t)
        return 0;
    struct stask *le = &s->t[e];
    if (le->state == ST_DONE || le->state == ST_CACHED) {
        /* Finished before: index its files for this run if they are still whole. */
        if (sched_resume_adopt(s, t)) {
            complete_shared(s, t, e);
            return 1;
        }
        s->keys.v[at].task = t;
        return 0;
    }
    if (is_end(le->state)) {
        s->keys.v[at].task = t;
        return 0;
    }
    s->t[t].state = ST_PENDING;
    s->t[t].follows = e;
    s->t[t].next_follower = le->followers;
    le->followers = t;
    return 1;
}

void
sched_share_done(struct sched *s, uint32_t t, const void *result_msg)
{
    uint32_t f = s->t[t].followers;
    s->t[t].followers = UINT32_MAX;
    while (f != UINT32_MAX) {
        uint32_t next = s->t[f].next_follower;
        struct sieve_errbuf err;
        s->t[f].follows = s->t[f].next_follower = UINT32_MAX;
        if (s->t[f].state != ST_PENDING) {
            f = next;
            continue;
        }
        if (sched_task_index(s, f, result_msg, &err) < 0)
            sched_task_end(s, f, ST_FAILED, err.msg);
        else
            complete_shared(s, f, t);
        f = next;
    }
}

void
sched_share_release(struct sched *s, uint32_t t)
{
    struct stask *st = &s->t[t];
    if (st->follows != UINT32_MAX) {
        /* A follower that ends (its run was cancelled, an input of its own failed) leaves
         * its leader's list. */
        uint32_t *p = &s->t[st->follows].followers;
        while (*p != UINT32_MAX && *p != t)
            p = &s->t[*p].next_follower;
        if (*p == t)
            *p = st->next_follower;
        st->follows = st->next_follower = UINT32_MAX;
        return;
    }
    if (s->keys.cap) {
        int found;
        size_t at = find(s, task_key(s, t), &found);
        if (found && s->keys.v[at].task == t)
            s->keys.v[at].task = REMOVED;
    }
    /* The followers compute the key themselves: the first to claim it leads. */
    uint32_t f = st->followers;
    st->followers = UINT32_MAX;
    while (f != UINT32_MAX) {
        uint32_t next = s->t[f].next_follower;
        s->t[f].follows = s->t[f].next_follower = UINT32_MAX;
        if (s->t[f].state == ST_PENDING && s->t[f].wait == 0)
            sched_make_ready(s, f);
        f = next;
    }
}

void
sched_share_free(struct sched *s)
{
    free(s->keys.v);
    s->keys = (struct sched_keys){0};
}
