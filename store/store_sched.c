/*
 * store_sched.c - batched index writes for the scheduler (see store_sched.h).
 *
 * Writes are queued in memory (with copies of their strings) and applied in one transaction
 * at commit time, so the write lock is held for milliseconds per commit, not between them:
 * `sieve cancel` and other writers never wait behind a long-open batch.
 */
#define _GNU_SOURCE /* syncfs */
#include "store/store_sched.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/array.h"
#include "store_int.h"

enum { OP_UPDATE, OP_DONE };

struct op {
    int kind;
    int64_t run;
    uint32_t idx;
    struct store_task_update u; /* strings owned */
    struct store_artifact *arts;
    size_t n_arts;
    struct store_metric *metrics;
    size_t n_metrics;
};

struct store_batch {
    struct store *st;
    struct op *ops; /* queued by the owner's thread */
    size_t n, cap;
    struct op *flight; /* detached for a commit, possibly on another thread */
    size_t n_flight, cap_flight;
    int sync_objects; /* syncfs before a commit that indexes artifacts */
    int sync_fd;      /* the objects directory, open since set_sync (see sync_fs); or -1 */
    int sync_failed;  /* a write-back error was reported: sticky, see store_batch_commit */
};

static char *
dupstr(const char *s)
{
    return s ? strdup(s) : NULL;
}

static void
op_release(struct op *o)
{
    free((char *)o->u.device);
    free((char *)o->u.error);
    for (size_t i = 0; i < o->n_arts; i++) {
        free((char *)o->arts[i].key);
        free((char *)o->arts[i].checksum);
    }
    free(o->arts);
    store_metric_rows_free(o->metrics, o->n_metrics);
}

int
store_batch_new(struct store *st, struct store_batch **out, struct sieve_errbuf *err)
{
    struct store_batch *b = calloc(1, sizeof *b);
    *out = NULL;
    if (!b)
        return sieve_errbuf_set(err, SIEVE_ENOMEM, "out of memory");
    b->st = st;
    b->sync_fd = -1;
    *out = b;
    return 0;
}

void
store_batch_free(struct store_batch *b)
{
    struct sieve_errbuf err;
    if (!b)
        return;
    store_batch_commit(b, &err);
    for (size_t i = 0; i < b->n; i++)
        op_release(&b->ops[i]);
    for (size_t i = 0; i < b->n_flight; i++)
        op_release(&b->flight[i]);
    free(b->ops);
    free(b->flight);
    if (b->sync_fd >= 0)
        close(b->sync_fd);
    free(b);
}

static struct op *
push(struct store_batch *b, struct sieve_errbuf *err)
{
    if (array_grow(&b->ops, &b->cap, b->n + 1, sizeof *b->ops) < 0) {
        sieve_errbuf_set(err, SIEVE_ENOMEM, "out of memory");
        return NULL;
    }
    struct op *o = &b->ops[b->n++];
    memset(o, 0, sizeof *o);
    return o;
}

static void
copy_update(struct store_task_update *d, const struct store_task_update *u)
{
    *d = *u;
    d->device = dupstr(u->device);
    d->error = dupstr(u->error);
}

int
store_batch_task_update(struct store_batch *b, int64_t run, uint32_t idx,
                        const struct store_task_update *u, struct sieve_errbuf *err)
{
    struct op *o = push(b, err);
    if (!o)
        return SIEVE_ENOMEM;
    o->kind = OP_UPDATE;
    o->run = run;
    o->idx = idx;
    copy_update(&o->u, u);
    return 0;
}

int
store_batch_task_done(struct store_batch *b, int64_t run, uint32_t idx, int attempts,
                      int64_t finished_ms, const struct store_artifact *arts, size_t n_arts,
                      const struct store_metric *metrics, size_t n_metrics,
                      struct sieve_errbuf *err)
{
    struct op *o = push(b, err);
    if (!o)
        return SIEVE_ENOMEM;
    o->kind = OP_DONE;
    o->run = run;
    o->idx = idx;
    struct store_task_update u = {.state = STORE_TASK_DONE,
                                  .attempts = attempts,
                                  .error = "",
                                  .started_ms = -1,
                                  .finished_ms = finished_ms};
    copy_update(&o->u, &u);
    o->arts = calloc(n_arts + 1, sizeof *o->arts);
    o->metrics = calloc(n_metrics + 1, sizeof *o->metrics);
    if (!o->arts || !o->metrics)
        return sieve_errbuf_set(err, SIEVE_ENOMEM, "out of memory");
    for (size_t i = 0; i < n_arts; i++, o->n_arts++) {
        o->arts[i] = arts[i];
        o->arts[i].key = dupstr(arts[i].key);
        o->arts[i].checksum = dupstr(arts[i].checksum);
    }
    for (size_t i = 0; i < n_metrics; i++, o->n_metrics++) {
        o->metrics[i] = metrics[i];
        o->metrics[i].node = dupstr(metrics[i].node);
        o->metrics[i].variant = dupstr(metrics[i].variant);
        o->metrics[i].sample = dupstr(metrics[i].sample);
        o->metrics[i].category = dupstr(metrics[i].category);
        o->metrics[i].metric = dupstr(metrics[i].metric);
        o->metrics[i].task_key = dupstr(metrics[i].task_key);
    }
    return 0;
}

/* A finished task: artifacts (with the worker's checksums), metric rows, state; all or none. */
static int
apply_done(struct store_batch *b, const struct op *o, struct sieve_errbuf *err)
{
    struct store *st = b->st;
    int rc = 0;
    if (sqlite3_exec(st->db, "SAVEPOINT task_done", NULL, NULL, NULL) != SQLITE_OK)
        return store_fail(st, err, "savepoint");
    for (size_t i = 0; i < o->n_arts && rc == 0; i++) {
        const struct store_artifact *a = &o->arts[i];
        /* Without a checksum from the worker the store hashes the file itself. */
        rc = a->checksum ? store_artifact_put(st, a->key, a->bytes, a->checksum, a->run,
                                              o->u.finished_ms, err)
                         : store_artifact_index_locked(st, a, err);
    }
    if (rc == 0 && o->n_metrics)
        rc = store_metrics_insert_locked(st, o->metrics, o->n_metrics, err);
    if (rc == 0)
        rc = store_task_update_locked(st, o->run, o->idx, &o->u, err);
    if (rc < 0)
        sqlite3_exec(st->db, "ROLLBACK TO task_done", NULL, NULL, NULL);
    sqlite3_exec(st->db, "RELEASE task_done", NULL, NULL, NULL);
    return rc;
}

static int
open_objects(const struct store *st)
{
    char dir[STORE_PATH_MAX];
    snprintf(dir, sizeof dir, "%s/objects", st->dir);
    mkdir(dir, 0777); /* a fresh store may have none yet; failure shows in open */
    return open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

/* syncfs (Linux >= 5.8) also reports write-back errors of the file system seen since `fd` was
 * opened: an EIO means an object may be lost, and nothing is indexed. sync() is the fallback
 * where syncfs is missing or refused; it reports nothing. */
static int
sync_fs(const struct store *st, int fd, struct sieve_errbuf *err)
{
    if (fd >= 0 && syncfs(fd) == 0)
        return 0;
    if (fd >= 0 && errno == EIO)
        return sieve_errbuf_set(err, SIEVE_EIO, "sync objects of '%s': %s", st->dir, strerror(EIO));
    sync();
    return 0;
}

void
store_batch_set_sync(struct store_batch *b, int sync_objects)
{
    b->sync_objects = sync_objects;
    /* Opened now, before any worker writes, so that syncfs reports every write-back error
     * of this run's objects. */
    if (sync_objects && b->sync_fd < 0)
        b->sync_fd = open_objects(b->st);
}

/* Whether the detached queue indexes any artifact (which must be durable before its row is). */
static int
has_artifacts(const struct store_batch *b)
{
    for (size_t i = 0; i < b->n_flight; i++)
        if (b->flight[i].kind == OP_DONE && b->flight[i].n_arts)
            return 1;
    return 0;
}

size_t
store_batch_detach(struct store_batch *b)
{
    /* After a failed commit the detached ops are still there: the new ones go behind them, so
     * a task's updates are applied in the order they were queued. */
    if (b->n &&
        array_grow(&b->flight, &b->cap_flight, b->n_flight + b->n, sizeof *b->flight) == 0) {
        memcpy(b->flight + b->n_flight, b->ops, b->n * sizeof *b->ops);
        b->n_flight += b->n;
        b->n = 0;
    }
    return b->n_flight;
}

int
store_batch_commit_detached(struct store_batch *b, struct sieve_errbuf *err)
{
    int rc, first = 0;
    if (b->n_flight == 0)
        return 0;
    /* Group commit: one syncfs makes every object the workers wrote without fsync durable,
     * then their rows are committed. The queue stays when the sync fails, and the failure is
     * sticky: syncfs reports a write-back error once, so a retry that succeeded would index
     * objects that never reached the disk. A resumed run re-verifies them by their hash. */
    if (b->sync_objects && has_artifacts(b)) {
        if (b->sync_failed)
            return sieve_errbuf_set(err, SIEVE_EIO,
                                    "sync objects of '%s': earlier write-back "
                                    "error; not indexing",
                                    b->st->dir);
        if ((rc = sync_fs(b->st, b->sync_fd, err)) < 0) {
            b->sync_failed = 1;
            return rc;
        }
    }
    if ((rc = store_begin(b->st, err)) < 0)
        return rc; /* the queue stays; the next commit tries again */
    for (size_t i = 0; i < b->n_flight; i++) {
        struct op *o = &b->flight[i];
        struct sieve_errbuf oe;
        int r = o->kind == OP_DONE ? apply_done(b, o, &oe)
                                   : store_task_update_locked(b->st, o->run, o->idx, &o->u, &oe);
        if (r < 0 && first == 0) {
            /* One bad row must not lose the others: report the first, keep going. */
            first = r;
            if (err)
                *err = oe;
        }
    }
    rc = store_commit(b->st, err);
    for (size_t i = 0; i < b->n_flight; i++)
        op_release(&b->flight[i]);
    b->n_flight = 0;
    return rc < 0 ? rc : first;
}

int
store_batch_commit(struct store_batch *b, struct sieve_errbuf *err)
{
    store_batch_detach(b);
    return store_batch_commit_detached(b, err);
}
