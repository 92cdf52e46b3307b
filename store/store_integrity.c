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
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/bundle.h"
#include "base/clock.h"
#include "base/err.h"
#include "store_int.h"

int
store_artifact_check(struct store *st, const char *key, uint64_t *bytes, char *problem, size_t len,
                     struct sieve_errbuf *err)
{
    sqlite3_stmt *sel = NULL;
    char path[STORE_PATH_MAX], sum[HASH_HEX_LEN], want[HASH_HEX_LEN];
    struct sieve_errbuf herr = {{0}};
    int64_t want_bytes;
    uint64_t got = 0;
    int rc;

    *bytes = 0;
    /* A kept statement: a run checks thousands of objects in a row. */
    if ((rc = store_stmt(st, STORE_STMT_ARTIFACT_GET, &sel, err)) < 0)
        return rc;
    store_bind_text(sel, 1, key);
    rc = sqlite3_step(sel);
    if (rc != SQLITE_ROW) {
        rc = rc == SQLITE_DONE ? 0 : store_fail(st, err, "look up artifact");
        sqlite3_reset(sel);
        if (rc == 0)
            snprintf(problem, len, "not indexed");
        return rc;
    }
    want_bytes = sqlite3_column_int64(sel, 0);
    snprintf(want, sizeof want, "%s", (const char *)sqlite3_column_text(sel, 1));
    sqlite3_reset(sel);

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
store_artifact_invalidate(struct store *st, const char *const *keys, size_t n, store_verify_fn cb,
                          void *arg, struct sieve_errbuf *err)
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

/* ---- rebuilding an emptied index ------------------------------------------------------- */

/* Calls fn(arg, key, path) for every object file (`<64 hex>.safetensors`, not a tmp file);
 * fn returns < 0 to stop with that code. */
static int
walk_objects(struct store *st, int (*fn)(void *arg, const char *key, const char *path), void *arg,
             struct sieve_errbuf *err)
{
    char dir[STORE_PATH_MAX];
    DIR *top;
    struct dirent *de;
    int rc = 0;

    snprintf(dir, sizeof dir, "%s/objects", st->dir);
    if (!(top = opendir(dir)))
        return errno == ENOENT
                   ? 0
                   : sieve_errbuf_set(err, SIEVE_EIO, "open '%s': %s", dir, strerror(errno));
    while (rc >= 0 && (de = readdir(top))) {
        char sdir[STORE_PATH_MAX];
        DIR *shard;
        struct dirent *fe;
        if (strlen(de->d_name) != 2)
            continue;
        snprintf(sdir, sizeof sdir, "%s/%s", dir, de->d_name);
        if (!(shard = opendir(sdir)))
            continue;
        while (rc >= 0 && (fe = readdir(shard))) {
            char key[HASH_HEX_LEN], path[STORE_PATH_MAX];
            struct stat sb;
            if (strlen(fe->d_name) != 64 + 12 || strcmp(fe->d_name + 64, ".safetensors"))
                continue;
            memcpy(key, fe->d_name, 64);
            key[64] = '\0';
            snprintf(path, sizeof path, "%s/%s", sdir, fe->d_name);
            if (lstat(path, &sb) < 0 || !S_ISREG(sb.st_mode))
                continue;
            rc = fn(arg, key, path);
        }
        closedir(shard);
    }
    closedir(top);
    return rc < 0 ? rc : 0;
}

static int
count_one(void *arg, const char *key, const char *path)
{
    (void)key;
    (void)path;
    (*(uint64_t *)arg)++;
    return 0;
}

int
store_index_lost(struct store *st, uint64_t *n_objects, struct sieve_errbuf *err)
{
    sqlite3_stmt *s;
    int rc, any;

    *n_objects = 0;
    if ((rc = store_prepare(st, "SELECT EXISTS(SELECT 1 FROM artifacts)", &s, err)) < 0)
        return rc;
    if (sqlite3_step(s) != SQLITE_ROW) {
        rc = store_fail(st, err, "count artifacts");
        sqlite3_finalize(s);
        return rc;
    }
    any = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    if (any)
        return 0;
    if ((rc = walk_objects(st, count_one, n_objects, err)) < 0)
        return rc;
    return *n_objects > 0;
}

struct reindex {
    struct store *st;
    sqlite3_stmt *sel;
    store_reindex_fn cb;
    void *arg;
    struct store_reindex_report *rep;
    struct sieve_errbuf *err;
    int64_t now;
};

static int
reindex_one(void *arg, const char *key, const char *path)
{
    struct reindex *r = arg;
    struct sieve_errbuf herr = {{0}};
    char sum[HASH_HEX_LEN];
    uint64_t bytes;
    int whole, rc;

    sqlite3_reset(r->sel);
    store_bind_text(r->sel, 1, key);
    if ((rc = sqlite3_step(r->sel)) == SQLITE_ROW) {
        r->rep->indexed++;
        return 0;
    }
    if (rc != SQLITE_DONE)
        return store_fail(r->st, r->err, "look up artifact");
    /* Only a whole object comes back: its data must match the hash it embeds. One without
     * the hash (an older sieve's) cannot be told from a torn one and stays out. */
    whole = bundle_file_check(path, &herr);
    if (whole == SIEVE_ENOMEM)
        return sieve_errbuf_set(r->err, whole, "%s", herr.msg);
    if (whole <= 0) {
        r->rep->skipped++;
        if (r->cb)
            r->cb(r->arg, key, path, whole < 0 ? herr.msg : "no embedded data hash");
        return 0;
    }
    if (store_file_sha256(path, sum, &bytes, &herr) < 0) {
        r->rep->skipped++;
        if (r->cb)
            r->cb(r->arg, key, path, herr.msg);
        return 0;
    }
    if ((rc = store_artifact_put(r->st, key, bytes, sum, 0, r->now, r->err)) < 0)
        return rc;
    r->rep->adopted++;
    if (r->cb)
        r->cb(r->arg, key, path, NULL);
    return 0;
}

int
store_reindex(struct store *st, store_reindex_fn cb, void *arg, struct store_reindex_report *rep,
              struct sieve_errbuf *err)
{
    struct reindex r = {
        .st = st, .cb = cb, .arg = arg, .rep = rep, .err = err, .now = clock_wall_ms()};
    int rc;

    memset(rep, 0, sizeof *rep);
    if ((rc = store_prepare(st, "SELECT 1 FROM artifacts WHERE key = ?", &r.sel, err)) < 0)
        return rc;
    rc = walk_objects(st, reindex_one, &r, err);
    sqlite3_finalize(r.sel);
    return rc;
}
