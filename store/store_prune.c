/*
 * store_prune.c - forgetting old runs: their task rows, events, pins, key-less metric rows and
 * logs. The artifacts they computed, and the metric rows of those artifacts' task keys, stay:
 * they belong to the cache, which `cache gc` manages, not to a run.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/err.h"
#include "store_int.h"

/* Removes a run's log directory, which holds only files (`<task>.log`). */
static int
remove_log_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    if (!d)
        return -1;
    while ((e = readdir(d))) {
        char path[STORE_PATH_MAX];
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    return rmdir(dir);
}

int
store_runs_prune(struct store *st, int64_t keep, struct store_prune_report *rep,
                 struct sieve_errbuf *err)
{
    sqlite3_stmt *sel = NULL;
    int64_t *ids = NULL;
    size_t n = 0, cap = 0;
    int rc;

    memset(rep, 0, sizeof *rep);
    if ((rc = store_begin(st, err)) < 0)
        return rc;
    /* Ended runs beyond the newest `keep` runs; a pending or running run is never pruned (it
     * may be alive, or be resumed). */
    if ((rc = store_prepare(st,
                            "SELECT id FROM runs WHERE state IN ('done', 'failed', 'cancelled')"
                            " AND id NOT IN (SELECT id FROM runs ORDER BY id DESC LIMIT ?1)",
                            &sel, err)) < 0)
        goto out;
    sqlite3_bind_int64(sel, 1, keep);
    while ((rc = sqlite3_step(sel)) == SQLITE_ROW) {
        if (n == cap) {
            size_t ncap = cap ? 2 * cap : 64;
            int64_t *grown = realloc(ids, ncap * sizeof *ids);
            if (!grown) {
                rc = sieve_errbuf_set(err, SIEVE_ENOMEM, "prune runs: out of memory");
                goto out;
            }
            ids = grown;
            cap = ncap;
        }
        ids[n++] = sqlite3_column_int64(sel, 0);
    }
    if (rc != SQLITE_DONE) {
        rc = store_fail(st, err, "list runs to prune");
        goto out;
    }
    rc = 0;
    sqlite3_finalize(sel);
    sel = NULL;
    if (sqlite3_exec(st->db,
                     "CREATE TEMP TABLE IF NOT EXISTS prune_runs(id INTEGER PRIMARY KEY);"
                     "DELETE FROM prune_runs;",
                     NULL, NULL, NULL) != SQLITE_OK ||
        (rc = store_prepare(st, "INSERT INTO prune_runs(id) VALUES(?)", &sel, err)) < 0) {
        rc = rc < 0 ? rc : store_fail(st, err, "prune runs");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        sqlite3_reset(sel);
        sqlite3_bind_int64(sel, 1, ids[i]);
        if (sqlite3_step(sel) != SQLITE_DONE) {
            rc = store_fail(st, err, "prune runs");
            goto out;
        }
    }
    if (sqlite3_exec(st->db,
                     "DELETE FROM tasks WHERE run IN (SELECT id FROM prune_runs);"
                     "DELETE FROM events WHERE run IN (SELECT id FROM prune_runs);"
                     "DELETE FROM artifact_pins WHERE run IN (SELECT id FROM prune_runs);"
                     "DELETE FROM metrics WHERE task_key IS NULL"
                     "  AND run IN (SELECT id FROM prune_runs);"
                     "DELETE FROM runs WHERE id IN (SELECT id FROM prune_runs);",
                     NULL, NULL, NULL) != SQLITE_OK) {
        rc = store_fail(st, err, "prune runs");
        goto out;
    }
    rep->runs = n;
out:
    sqlite3_finalize(sel);
    if (rc < 0) {
        store_rollback(st);
        free(ids);
        return rc;
    }
    if ((rc = store_commit(st, err)) < 0) {
        free(ids);
        return rc;
    }
    /* Logs after the commit: a crash in between leaves log files of forgotten runs, harmless. */
    for (size_t i = 0; i < n; i++) {
        char dir[STORE_PATH_MAX];
        snprintf(dir, sizeof dir, "%s/logs/%lld", st->dir, (long long)ids[i]);
        if (remove_log_dir(dir) == 0)
            rep->log_dirs++;
    }
    free(ids);
    /* Give the space back: the index of a 100k-task pipeline grows by tens of MB per run. */
    if (sqlite3_exec(st->db, "PRAGMA wal_checkpoint(TRUNCATE); VACUUM;", NULL, NULL, NULL) !=
        SQLITE_OK)
        return store_fail(st, err, "vacuum");
    return 0;
}
