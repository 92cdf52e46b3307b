/*
 * store_sched.c - batched index writes for the scheduler (see store_sched.h).
 */
#include "store/store_sched.h"

#include <stdlib.h>

#include "store/store_int.h"

struct store_batch {
    struct store *st;
    sqlite3_stmt *update, *artifact;
};

int
store_batch_new(struct store *st, struct store_batch **out, struct sieve_errbuf *err)
{
    struct store_batch *b = calloc(1, sizeof *b);
    int rc;
    *out = NULL;
    if (!b)
        return sieve_errbuf_set(err, SIEVE_ENOMEM, "out of memory");
    b->st = st;
    /* The same statements as store_task_update_locked and store_artifact_index_locked, kept
     * prepared. */
    if ((rc = store_prepare(st,
                            "UPDATE tasks SET state = coalesce(?3, state),"
                            " attempts = CASE WHEN ?4 >= 0 THEN ?4 ELSE attempts END,"
                            " device = coalesce(?5, device),"
                            " error = CASE WHEN ?6 IS NULL THEN error WHEN ?6 = '' THEN NULL"
                            "   ELSE ?6 END,"
                            " started_ms = CASE WHEN ?7 >= 0 THEN ?7 ELSE started_ms END,"
                            " finished_ms = CASE WHEN ?8 >= 0 THEN ?8 ELSE finished_ms END"
                            " WHERE run = ?1 AND idx = ?2",
                            &b->update, err)) < 0 ||
        (rc = store_prepare(st,
                            "INSERT INTO artifacts(key, bytes, checksum, run, created_ms,"
                            " last_used_ms) VALUES(?1,?2,?3,?4,?5,?5) ON CONFLICT(key) DO UPDATE"
                            " SET bytes = ?2, checksum = ?3, last_used_ms = ?5",
                            &b->artifact, err)) < 0) {
        store_batch_free(b);
        return rc;
    }
    *out = b;
    return 0;
}

int
store_batch_commit(struct store_batch *b, struct sieve_errbuf *err)
{
    if (sqlite3_get_autocommit(b->st->db))
        return 0;
    return store_commit(b->st, err);
}

void
store_batch_free(struct store_batch *b)
{
    struct sieve_errbuf err;
    if (!b)
        return;
    store_batch_commit(b, &err);
    sqlite3_finalize(b->update);
    sqlite3_finalize(b->artifact);
    free(b);
}

static int
begin(struct store_batch *b, struct sieve_errbuf *err)
{
    return sqlite3_get_autocommit(b->st->db) ? store_begin(b->st, err) : 0;
}

static int
update(struct store_batch *b, int64_t run, uint32_t idx, const struct store_task_update *u,
       struct sieve_errbuf *err)
{
    sqlite3_stmt *s = b->update;
    int rc = 0;
    sqlite3_reset(s);
    sqlite3_bind_int64(s, 1, run);
    sqlite3_bind_int64(s, 2, idx);
    store_bind_text(s, 3, u->state);
    sqlite3_bind_int(s, 4, u->attempts);
    store_bind_text(s, 5, u->device);
    store_bind_text(s, 6, u->error);
    sqlite3_bind_int64(s, 7, u->started_ms);
    sqlite3_bind_int64(s, 8, u->finished_ms);
    if (sqlite3_step(s) != SQLITE_DONE)
        rc = store_fail(b->st, err, "update task");
    else if (sqlite3_changes(b->st->db) == 0)
        rc = sieve_errbuf_set(err, SIEVE_ENOENT, "no task %u in run %lld", idx, (long long)run);
    sqlite3_reset(s);
    return rc;
}

int
store_batch_task_update(struct store_batch *b, int64_t run, uint32_t idx,
                        const struct store_task_update *u, struct sieve_errbuf *err)
{
    int rc = begin(b, err);
    return rc < 0 ? rc : update(b, run, idx, u, err);
}

int
store_batch_task_done(struct store_batch *b, int64_t run, uint32_t idx, int attempts,
                      int64_t finished_ms, const struct store_artifact *arts, size_t n_arts,
                      const struct store_metric *metrics, size_t n_metrics,
                      struct sieve_errbuf *err)
{
    sqlite3 *db = b->st->db;
    int rc = begin(b, err);
    if (rc < 0)
        return rc;
    if (sqlite3_exec(db, "SAVEPOINT task_done", NULL, NULL, NULL) != SQLITE_OK)
        return store_fail(b->st, err, "savepoint");
    for (size_t i = 0; i < n_arts && rc == 0; i++) {
        if (!arts[i].checksum) {
            /* No checksum from the worker: the store's own path hashes the file. */
            rc = store_artifact_index_locked(b->st, &arts[i], err);
            continue;
        }
        sqlite3_stmt *s = b->artifact;
        sqlite3_reset(s);
        store_bind_text(s, 1, arts[i].key);
        sqlite3_bind_int64(s, 2, (int64_t)arts[i].bytes);
        store_bind_text(s, 3, arts[i].checksum);
        sqlite3_bind_int64(s, 4, arts[i].run);
        sqlite3_bind_int64(s, 5, finished_ms);
        if (sqlite3_step(s) != SQLITE_DONE)
            rc = store_fail(b->st, err, "index artifact");
        sqlite3_reset(s);
    }
    if (rc == 0 && n_metrics)
        rc = store_metrics_insert_locked(b->st, metrics, n_metrics, err);
    if (rc == 0) {
        struct store_task_update u = {.state = "done",
                                      .attempts = attempts,
                                      .error = "",
                                      .started_ms = -1,
                                      .finished_ms = finished_ms};
        rc = update(b, run, idx, &u, err);
    }
    if (rc < 0)
        sqlite3_exec(db, "ROLLBACK TO task_done", NULL, NULL, NULL);
    sqlite3_exec(db, "RELEASE task_done", NULL, NULL, NULL);
    return rc;
}
