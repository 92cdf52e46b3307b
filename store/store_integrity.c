/*
 * store_integrity.c - checking an object before a task reads it, and dropping what a bad
 * object poisoned.
 *
 * The index row of an artifact holds the size and sha256 of its whole file as the writer
 * computed them while writing (or as resume computed them after checking the embedded data
 * hash), so re-hashing the file and comparing is a complete check: a flipped bit anywhere,
 * header or data, is a mismatch. A mismatch found after other tasks read the object means
 * their outputs may hold numbers computed from bad bytes, and we cannot tell when the damage
 * happened; so everything downstream goes too and is recomputed (the edges are recorded by
 * store_tasks_insert).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/err.h"
#include "store_int.h"

int
store_artifact_check(struct store *st, const char *key, uint64_t *bytes, char *problem,
                     size_t len, struct sieve_errbuf *err)
{
    sqlite3_stmt *sel = NULL;
    char path[STORE_PATH_MAX], sum[HASH_HEX_LEN], want[HASH_HEX_LEN];
    struct sieve_errbuf herr = {{0}};
    int64_t want_bytes;
    uint64_t got = 0;
    int rc;

    *bytes = 0;
    if ((rc = store_prepare(st, "SELECT bytes, checksum FROM artifacts WHERE key = ?", &sel,
                            err)) < 0)
        return rc;
    store_bind_text(sel, 1, key);
    rc = sqlite3_step(sel);
    if (rc != SQLITE_ROW) {
        rc = rc == SQLITE_DONE ? 0 : store_fail(st, err, "look up artifact");
        sqlite3_finalize(sel);
        if (rc == 0)
            snprintf(problem, len, "not indexed");
        return rc;
    }
    want_bytes = sqlite3_column_int64(sel, 0);
    snprintf(want, sizeof want, "%s", (const char *)sqlite3_column_text(sel, 1));
    sqlite3_finalize(sel);

    if (store_object_path(st, key, path, sizeof path, 0) < 0) {
        snprintf(problem, len, "malformed key");
        return 0;
    }
    if ((rc = store_file_sha256(path, sum, &got, &herr)) < 0) {
        if (rc == SIEVE_ENOMEM)
            return sieve_errbuf_set(err, rc, "%s", herr.msg);
        snprintf(problem, len, "%s", herr.msg);
        return 0;
    }
    *bytes = got;
    if ((int64_t)got != want_bytes) {
        snprintf(problem, len, "size %llu differs from the index (%lld)", (unsigned long long)got,
                 (long long)want_bytes);
        return 0;
    }
    if (strcmp(sum, want)) {
        snprintf(problem, len, "checksum mismatch");
        return 0;
    }
    return 1;
}

/* The closure of `keys` over the edges, seeds first, in temp table invalid_all. */
static int
collect_closure(struct store *st, const char *const *keys, size_t n, struct sieve_errbuf *err)
{
    sqlite3_stmt *ins = NULL;
    int rc;

    if (sqlite3_exec(st->db,
                     "CREATE TEMP TABLE IF NOT EXISTS invalid_seed(key TEXT PRIMARY KEY);"
                     "CREATE TEMP TABLE IF NOT EXISTS invalid_all(key TEXT PRIMARY KEY);"
                     "DELETE FROM invalid_seed; DELETE FROM invalid_all;",
                     NULL, NULL, NULL) != SQLITE_OK)
        return store_fail(st, err, "prepare invalidation");
    if ((rc = store_prepare(st, "INSERT OR IGNORE INTO invalid_seed(key) VALUES(?)", &ins, err)) <
        0)
        return rc;
    for (size_t i = 0; i < n; i++) {
        sqlite3_reset(ins);
        store_bind_text(ins, 1, keys[i]);
        if (sqlite3_step(ins) != SQLITE_DONE) {
            sqlite3_finalize(ins);
            return store_fail(st, err, "record corrupt artifact");
        }
    }
    sqlite3_finalize(ins);
    /* UNION (not UNION ALL) ends the walk on a shared ancestor and on any cycle. */
    if (sqlite3_exec(st->db,
                     "INSERT OR IGNORE INTO invalid_all(key)"
                     " WITH RECURSIVE d(key) AS (SELECT key FROM invalid_seed"
                     "  UNION SELECT o.output FROM d JOIN task_inputs i ON i.input = d.key"
                     "  JOIN task_outputs o ON o.task_key = i.task_key)"
                     " SELECT key FROM d",
                     NULL, NULL, NULL) != SQLITE_OK)
        return store_fail(st, err, "follow artifact edges");
    return 0;
}

int
store_artifact_invalidate(struct store *st, const char *const *keys, size_t n,
                          store_verify_fn cb, void *arg, struct sieve_errbuf *err)
{
    sqlite3_stmt *sel = NULL;
    char **doomed = NULL;
    size_t n_doomed = 0, cap = 0;
    int rc, dropped = 0;

    if (n == 0)
        return 0;
    if ((rc = store_begin(st, err)) < 0)
        return rc;
    if ((rc = collect_closure(st, keys, n, err)) < 0)
        goto out;
    /* Indexed descendants, for the report; every key of the closure for the unlink. */
    if ((rc = store_prepare(st,
                            "SELECT a.key, a.key IN (SELECT key FROM artifacts)"
                            " AND a.key NOT IN (SELECT key FROM invalid_seed)"
                            " FROM invalid_all a",
                            &sel, err)) < 0)
        goto out;
    while ((rc = sqlite3_step(sel)) == SQLITE_ROW) {
        if (n_doomed == cap) {
            size_t ncap = cap ? 2 * cap : 16;
            char **grown = realloc(doomed, ncap * sizeof *grown);
            if (!grown) {
                rc = sieve_errbuf_set(err, SIEVE_ENOMEM, "invalidate: out of memory");
                goto out;
            }
            doomed = grown;
            cap = ncap;
        }
        if (!(doomed[n_doomed] = store_column_dup(sel, 0))) {
            rc = sieve_errbuf_set(err, SIEVE_ENOMEM, "invalidate: out of memory");
            goto out;
        }
        if (sqlite3_column_int(sel, 1)) {
            dropped++;
            if (cb)
                cb(arg, doomed[n_doomed], STORE_PROBLEM_DESCENDANT);
        }
        n_doomed++;
    }
    if (rc != SQLITE_DONE) {
        rc = store_fail(st, err, "list invalidated artifacts");
        goto out;
    }
    rc = 0;
    if (sqlite3_exec(st->db,
                     "DELETE FROM metrics WHERE task_key IN (SELECT o.task_key FROM task_outputs o"
                     "  JOIN invalid_all a ON a.key = o.output"
                     "  WHERE a.key NOT IN (SELECT key FROM invalid_seed));"
                     "DELETE FROM artifacts WHERE key IN (SELECT key FROM invalid_all);",
                     NULL, NULL, NULL) != SQLITE_OK)
        rc = store_fail(st, err, "drop invalidated artifacts");
    /* Files go before the commit: a crash in between leaves rows without objects, which a
     * lookup drops as misses. The other order would leave whole-looking orphans computed
     * from bad bytes, which resume could adopt. */
    for (size_t i = 0; rc == 0 && i < n_doomed; i++) {
        char path[STORE_PATH_MAX];
        if (store_object_path(st, doomed[i], path, sizeof path, 0) == 0)
            unlink(path);
    }
out:
    sqlite3_finalize(sel);
    if (rc < 0)
        store_rollback(st);
    else if ((rc = store_commit(st, err)) == 0)
        rc = dropped;
    for (size_t i = 0; i < n_doomed; i++)
        free(doomed[i]);
    free(doomed);
    return rc;
}
