/*
 * store_object.c - object files and their index rows: paths, checksums, lookups, the media
 * hash cache, garbage collection and verification.
 *
 * The index is the truth about what is cached, the files are the truth about what bytes
 * exist; every function here reconciles the two in the safe direction. A row without a
 * healthy file is dropped (a miss, recomputed later); a file without a row is an orphan
 * (left by a crash between rename and index) that GC deletes. Rows are removed before their
 * files, so a crash in between leaves an orphan, never a row pointing at nothing.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/array.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/bundle.h"
#include "base/hash.h"
#include "store_int.h"

/* Files younger than this are left alone by GC while a run may still be indexing them. */
#define GC_GRACE_S (10 * 60)

static int
is_hex_key(const char *key)
{
    size_t i;
    for (i = 0; key[i]; i++)
        if (!((key[i] >= '0' && key[i] <= '9') || (key[i] >= 'a' && key[i] <= 'f')))
            return 0;
    return i == 64;
}

int
store_object_path(const struct store *st, const char *key, char *buf, size_t len, int mkdirs)
{
    int n;

    if (!key || !is_hex_key(key))
        return SIEVE_EINVAL;
    if (mkdirs) {
        n = snprintf(buf, len, "%s/objects/%.2s", st->dir, key);
        if (n < 0 || (size_t)n >= len)
            return SIEVE_EINVAL;
        if (mkdir(buf, 0777) < 0 && errno != EEXIST)
            return SIEVE_EIO;
    }
    n = snprintf(buf, len, "%s/objects/%.2s/%s.safetensors", st->dir, key, key);
    if (n < 0 || (size_t)n >= len)
        return SIEVE_EINVAL;
    return 0;
}

int
store_log_path(const struct store *st, int64_t run, uint32_t idx, char *buf, size_t len, int mkdirs)
{
    int n;
    if (mkdirs) {
        n = snprintf(buf, len, "%s/logs/%lld", st->dir, (long long)run);
        if (n < 0 || (size_t)n >= len)
            return SIEVE_EINVAL;
        if (mkdir(buf, 0777) < 0 && errno != EEXIST)
            return SIEVE_EIO;
    }
    n = snprintf(buf, len, "%s/logs/%lld/%u.log", st->dir, (long long)run, idx);
    if (n < 0 || (size_t)n >= len)
        return SIEVE_EINVAL;
    return 0;
}

int
store_file_sha256(const char *path, char hex[HASH_HEX_LEN], uint64_t *bytes,
                  struct sieve_errbuf *err)
{
    static const char digits[] = "0123456789abcdef";
    unsigned char buf[1 << 16], md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    uint64_t total = 0;
    EVP_MD_CTX *ctx;
    ssize_t got;
    int fd, rc = 0;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return sieve_errbuf_set(err, sieve_error_from_errno(errno), "open '%s': %s", path,
                                strerror(errno));
    ctx = EVP_MD_CTX_new();
    if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
        rc = sieve_errbuf_set(err, SIEVE_ENOMEM, "hash '%s': cannot start sha256", path);
        goto out;
    }
    for (;;) {
        got = read(fd, buf, sizeof buf);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            rc = sieve_errbuf_set(err, SIEVE_EIO, "read '%s': %s", path, strerror(errno));
            goto out;
        }
        if (got == 0)
            break;
        EVP_DigestUpdate(ctx, buf, (size_t)got);
        total += (uint64_t)got;
    }
    EVP_DigestFinal_ex(ctx, md, &mdlen);
    for (unsigned int i = 0; i < 32; i++) {
        hex[2 * i] = digits[md[i] >> 4];
        hex[2 * i + 1] = digits[md[i] & 15];
    }
    hex[64] = '\0';
    if (bytes)
        *bytes = total;
out:
    EVP_MD_CTX_free(ctx);
    close(fd);
    return rc;
}

/* ---- artifacts ------------------------------------------------------------------------- */

int
store_artifact_index_locked(struct store *st, const struct store_artifact *a,
                            struct sieve_errbuf *err)
{
    char path[STORE_PATH_MAX], sum[HASH_HEX_LEN];
    struct stat sb;
    uint64_t bytes;
    int rc;

    if (store_object_path(st, a->key, path, sizeof path, 0) < 0)
        return sieve_errbuf_set(err, SIEVE_EINVAL, "index artifact: bad key '%s'",
                                a->key ? a->key : "");
    if (stat(path, &sb) < 0)
        return sieve_errbuf_set(err, SIEVE_ENOENT, "index artifact '%s': %s", path,
                                strerror(errno));
    if (a->checksum) {
        if (!is_hex_key(a->checksum))
            return sieve_errbuf_set(err, SIEVE_EINVAL, "index artifact '%s': bad checksum", a->key);
        if ((uint64_t)sb.st_size != a->bytes)
            return sieve_errbuf_set(
                err, SIEVE_EFORMAT, "index artifact '%s': %llu bytes on disk, writer wrote %llu",
                path, (unsigned long long)sb.st_size, (unsigned long long)a->bytes);
        memcpy(sum, a->checksum, HASH_HEX_LEN);
        bytes = a->bytes;
    } else if ((rc = store_file_sha256(path, sum, &bytes, err)) < 0) {
        return rc;
    }
    return store_artifact_put(st, a->key, bytes, sum, a->run, clock_wall_ms(), err);
}

int
store_artifact_put(struct store *st, const char *key, uint64_t bytes, const char *checksum,
                   int64_t run, int64_t now_ms, struct sieve_errbuf *err)
{
    sqlite3_stmt *s;
    int rc = store_stmt(st, STORE_STMT_ARTIFACT_PUT, &s, err);
    if (rc < 0)
        return rc;
    store_bind_text(s, 1, key);
    sqlite3_bind_int64(s, 2, (int64_t)bytes);
    store_bind_text(s, 3, checksum);
    sqlite3_bind_int64(s, 4, run);
    sqlite3_bind_int64(s, 5, now_ms);
    if (sqlite3_step(s) != SQLITE_DONE)
        rc = store_fail(st, err, "index artifact");
    sqlite3_reset(s);
    return rc;
}

int
store_artifact_index(struct store *st, const struct store_artifact *a, struct sieve_errbuf *err)
{
    int rc;
    if ((rc = store_begin(st, err)) < 0)
        return rc;
    if ((rc = store_artifact_index_locked(st, a, err)) < 0) {
        store_rollback(st);
        return rc;
    }
    return store_commit(st, err);
}

static int
exec_key(struct store *st, sqlite3_stmt *s, const char *key, int64_t v)
{
    sqlite3_reset(s);
    store_bind_text(s, 1, key);
    if (v >= 0)
        sqlite3_bind_int64(s, 2, v);
    return sqlite3_step(s) == SQLITE_DONE ? 0 : store_fail(st, NULL, "");
}

int
store_artifact_lookup(struct store *st, const char *const *keys, size_t n, uint8_t *hits,
                      struct sieve_errbuf *err)
{
    sqlite3_stmt *sel = NULL, *del = NULL, *touch = NULL;
    char path[STORE_PATH_MAX];
    int64_t now = clock_wall_ms();
    int rc, found = 0;

    if ((rc = store_begin(st, err)) < 0)
        return rc;
    if ((rc = store_prepare(st, "SELECT bytes FROM artifacts WHERE key = ?", &sel, err)) < 0 ||
        (rc = store_prepare(st, "DELETE FROM artifacts WHERE key = ?", &del, err)) < 0 ||
        (rc = store_prepare(st, "UPDATE artifacts SET last_used_ms = ?2 WHERE key = ?1", &touch,
                            err)) < 0)
        goto out;
    for (size_t i = 0; i < n; i++) {
        struct stat sb;
        int step;
        int64_t bytes;

        hits[i] = 0;
        sqlite3_reset(sel);
        store_bind_text(sel, 1, keys[i]);
        step = sqlite3_step(sel);
        if (step == SQLITE_DONE)
            continue;
        if (step != SQLITE_ROW) {
            rc = store_fail(st, err, "look up artifact");
            goto out;
        }
        bytes = sqlite3_column_int64(sel, 0);
        if (store_object_path(st, keys[i], path, sizeof path, 0) == 0 && stat(path, &sb) == 0 &&
            (int64_t)sb.st_size == bytes) {
            hits[i] = 1;
            found++;
            if (exec_key(st, touch, keys[i], now) < 0) {
                rc = store_fail(st, err, "touch artifact");
                goto out;
            }
        } else if (exec_key(st, del, keys[i], -1) < 0) {
            /* A missing or truncated object: forget the row, the task is recomputed. */
            rc = store_fail(st, err, "drop damaged artifact");
            goto out;
        }
    }
out:
    sqlite3_finalize(touch);
    sqlite3_finalize(del);
    sqlite3_finalize(sel);
    if (rc < 0) {
        store_rollback(st);
        return rc;
    }
    if ((rc = store_commit(st, err)) < 0)
        return rc;
    return found;
}

int
store_artifact_pin(struct store *st, int64_t run, const char *const *keys, size_t n,
                   struct sieve_errbuf *err)
{
    sqlite3_stmt *s = NULL;
    int rc;

    if ((rc = store_begin(st, err)) < 0)
        return rc;
    if ((rc = store_prepare(st, "INSERT OR IGNORE INTO artifact_pins(run, key) VALUES(?2, ?1)", &s,
                            err)) == 0)
        for (size_t i = 0; i < n; i++)
            if (exec_key(st, s, keys[i], run) < 0) {
                rc = store_fail(st, err, "pin artifact");
                break;
            }
    sqlite3_finalize(s);
    if (rc < 0) {
        store_rollback(st);
        return rc;
    }
    return store_commit(st, err);
}

#define PINNED_SQL                                                                                 \
    "EXISTS (SELECT 1 FROM artifact_pins p JOIN runs r ON r.id = p.run"                            \
    " WHERE p.key = a.key AND r.state IN ('pending', 'running'))"

int
store_artifact_list(struct store *st, struct store_artifact_row **out, size_t *n,
                    struct sieve_errbuf *err)
{
    sqlite3_stmt *s;
    struct store_artifact_row *rows = NULL;
    size_t len = 0, cap = 0;
    int rc, step;

    *out = NULL;
    *n = 0;
    if ((rc = store_prepare(st,
                            "SELECT a.key, a.checksum, a.bytes, a.run, a.created_ms,"
                            " a.last_used_ms, " PINNED_SQL
                            " FROM artifacts a ORDER BY a.last_used_ms, a.key",
                            &s, err)) < 0)
        return rc;
    while ((step = sqlite3_step(s)) == SQLITE_ROW) {
        struct store_artifact_row *r;
        const char *k = (const char *)sqlite3_column_text(s, 0);
        const char *c = (const char *)sqlite3_column_text(s, 1);
        if (array_grow(&rows, &cap, len + 1, sizeof *rows) < 0) {
            rc = sieve_errbuf_set(err, SIEVE_ENOMEM, "list artifacts: out of memory");
            break;
        }
        r = &rows[len++];
        snprintf(r->key, sizeof r->key, "%s", k ? k : "");
        snprintf(r->checksum, sizeof r->checksum, "%s", c ? c : "");
        r->bytes = (uint64_t)sqlite3_column_int64(s, 2);
        r->run = sqlite3_column_int64(s, 3);
        r->created_ms = sqlite3_column_int64(s, 4);
        r->last_used_ms = sqlite3_column_int64(s, 5);
        r->pinned = sqlite3_column_int(s, 6);
    }
    if (rc == 0 && step != SQLITE_DONE)
        rc = store_fail(st, err, "list artifacts");
    sqlite3_finalize(s);
    if (rc < 0) {
        free(rows);
        return rc;
    }
    *out = rows;
    *n = len;
    return 0;
}

/* ---- media hash cache ------------------------------------------------------------------ */

int
store_media_hash(struct store *st, const char *path, char hex[HASH_HEX_LEN],
                 struct sieve_errbuf *err)
{
    struct stat sb;
    sqlite3_stmt *s = NULL;
    int64_t mtime_ns;
    int rc, step;

    if (stat(path, &sb) < 0)
        return sieve_errbuf_set(err, sieve_error_from_errno(errno), "stat '%s': %s", path,
                                strerror(errno));
    mtime_ns = (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec;
    if (st) {
        if ((rc = store_prepare(st,
                                "SELECT sha256 FROM media_hashes WHERE path = ?"
                                " AND size = ? AND mtime_ns = ?",
                                &s, err)) < 0)
            return rc;
        store_bind_text(s, 1, path);
        sqlite3_bind_int64(s, 2, (int64_t)sb.st_size);
        sqlite3_bind_int64(s, 3, mtime_ns);
        step = sqlite3_step(s);
        if (step == SQLITE_ROW) {
            const char *h = (const char *)sqlite3_column_text(s, 0);
            if (h && is_hex_key(h)) {
                memcpy(hex, h, HASH_HEX_LEN);
                sqlite3_finalize(s);
                return 0;
            }
        }
        sqlite3_finalize(s);
    }
    if ((rc = store_file_sha256(path, hex, NULL, err)) < 0)
        return rc;
    if (!st)
        return 0;
    if ((rc = store_prepare(st,
                            "INSERT OR REPLACE INTO media_hashes(path, size, mtime_ns, sha256)"
                            " VALUES(?,?,?,?)",
                            &s, err)) < 0)
        return rc;
    store_bind_text(s, 1, path);
    sqlite3_bind_int64(s, 2, (int64_t)sb.st_size);
    sqlite3_bind_int64(s, 3, mtime_ns);
    store_bind_text(s, 4, hex);
    if (sqlite3_step(s) != SQLITE_DONE)
        rc = store_fail(st, err, "remember media hash");
    sqlite3_finalize(s);
    return rc;
}

/* ---- GC -------------------------------------------------------------------------------- */

/* Whether the writer of `<x>.tmp.<pid>` may still be alive. */
static int
tmp_writer_alive(const char *name)
{
    const char *p = strstr(name, ".tmp.");
    char *end;
    long pid;

    if (!p)
        return 0;
    pid = strtol(p + 5, &end, 10);
    if (end == p + 5 || pid <= 0)
        return 0;
    return kill((pid_t)pid, 0) == 0 || errno == EPERM;
}

static int
any_run_active(struct store *st)
{
    sqlite3_stmt *s;
    int active = 1; /* in doubt, be careful */
    if (store_prepare(st, "SELECT 1 FROM runs WHERE state = 'running' LIMIT 1", &s, NULL) < 0)
        return active;
    active = sqlite3_step(s) == SQLITE_ROW;
    sqlite3_finalize(s);
    return active;
}

/* Removes tmp files of dead writers and objects without an index row. */
static int
gc_orphans(struct store *st, struct store_gc_report *rep, struct sieve_errbuf *err)
{
    char dir[STORE_PATH_MAX], path[STORE_PATH_MAX];
    sqlite3_stmt *sel;
    DIR *top, *shard;
    struct dirent *de, *fe;
    time_t now = time(NULL);
    int active = any_run_active(st);
    int rc;

    if ((rc = store_prepare(st, "SELECT 1 FROM artifacts WHERE key = ?", &sel, err)) < 0)
        return rc;
    snprintf(dir, sizeof dir, "%s/objects", st->dir);
    top = opendir(dir);
    if (!top) {
        sqlite3_finalize(sel);
        return sieve_errbuf_set(err, SIEVE_EIO, "open '%s': %s", dir, strerror(errno));
    }
    while ((de = readdir(top))) {
        char sdir[STORE_PATH_MAX];
        if (strlen(de->d_name) != 2)
            continue;
        snprintf(sdir, sizeof sdir, "%s/%s", dir, de->d_name);
        if (!(shard = opendir(sdir)))
            continue;
        while ((fe = readdir(shard))) {
            struct stat sb;
            char key[HASH_HEX_LEN];
            const char *name = fe->d_name;
            size_t len = strlen(name);
            int young;

            if (name[0] == '.')
                continue;
            snprintf(path, sizeof path, "%s/%s", sdir, name);
            if (lstat(path, &sb) < 0 || !S_ISREG(sb.st_mode))
                continue;
            young = now - sb.st_mtime < GC_GRACE_S;
            if (strstr(name, ".tmp.")) {
                if (tmp_writer_alive(name) && young)
                    continue;
                if (unlink(path) == 0) {
                    rep->tmp_removed++;
                    rep->bytes_freed += (uint64_t)sb.st_size;
                }
                continue;
            }
            if (len != 64 + 12 || strcmp(name + 64, ".safetensors"))
                continue;
            memcpy(key, name, 64);
            key[64] = '\0';
            sqlite3_reset(sel);
            store_bind_text(sel, 1, key);
            if (sqlite3_step(sel) == SQLITE_ROW)
                continue;
            /* A running scheduler may be about to index a fresh object. */
            if (active && young)
                continue;
            if (unlink(path) == 0) {
                rep->orphans_removed++;
                rep->bytes_freed += (uint64_t)sb.st_size;
            }
        }
        closedir(shard);
    }
    closedir(top);
    sqlite3_finalize(sel);
    return 0;
}

struct victim {
    char key[HASH_HEX_LEN];
    uint64_t bytes;
};

int
store_gc(struct store *st, uint64_t max_bytes, struct store_gc_report *rep,
         struct sieve_errbuf *err)
{
    sqlite3_stmt *s = NULL, *del = NULL;
    struct victim *v = NULL;
    size_t nv = 0, cap = 0;
    uint64_t total = 0;
    char path[STORE_PATH_MAX];
    int rc, step;

    memset(rep, 0, sizeof *rep);
    if ((rc = gc_orphans(st, rep, err)) < 0)
        return rc;
    if ((rc = store_begin(st, err)) < 0)
        return rc;
    if ((rc = store_prepare(st, "SELECT coalesce(sum(bytes), 0) FROM artifacts", &s, err)) < 0)
        goto out;
    if (sqlite3_step(s) == SQLITE_ROW)
        total = (uint64_t)sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    s = NULL;
    if (total > max_bytes) {
        if ((rc = store_prepare(st,
                                "SELECT a.key, a.bytes FROM artifacts a WHERE NOT " PINNED_SQL
                                " ORDER BY a.last_used_ms, a.key",
                                &s, err)) < 0 ||
            (rc = store_prepare(st, "DELETE FROM artifacts WHERE key = ?", &del, err)) < 0)
            goto out;
        while (total > max_bytes && (step = sqlite3_step(s)) == SQLITE_ROW) {
            const char *k = (const char *)sqlite3_column_text(s, 0);
            if (array_grow(&v, &cap, nv + 1, sizeof *v) < 0) {
                rc = sieve_errbuf_set(err, SIEVE_ENOMEM, "gc: out of memory");
                goto out;
            }
            snprintf(v[nv].key, sizeof v[nv].key, "%s", k ? k : "");
            v[nv].bytes = (uint64_t)sqlite3_column_int64(s, 1);
            total -= v[nv].bytes;
            nv++;
        }
        for (size_t i = 0; i < nv; i++)
            if (exec_key(st, del, v[i].key, -1) < 0) {
                rc = store_fail(st, err, "evict artifact");
                goto out;
            }
    }
out:
    sqlite3_finalize(del);
    sqlite3_finalize(s);
    if (rc < 0) {
        store_rollback(st);
        free(v);
        return rc;
    }
    if ((rc = store_commit(st, err)) < 0) {
        free(v);
        return rc;
    }
    /* Rows are gone first; a crash here leaves orphans for the next GC. */
    for (size_t i = 0; i < nv; i++) {
        if (store_object_path(st, v[i].key, path, sizeof path, 0) == 0)
            unlink(path);
        rep->evicted++;
        rep->bytes_freed += v[i].bytes;
    }
    free(v);
    rep->bytes_left = total;
    return 0;
}

/* ---- verify ---------------------------------------------------------------------------- */

/* Whether the object carries an embedded data hash (sieve.data_sha256) that its data does not
 * match. Objects without one, or that are not bundles at all, are judged by checksum alone. */
static int
embedded_hash_differs(const char *path, struct sieve_errbuf *err)
{
    struct bundle *b;
    int has;
    if (bundle_read(path, &b, err) < 0)
        return 0;
    has = bundle_meta_get(b, BUNDLE_META_DATA_SHA256) != NULL;
    bundle_free(b);
    return has && bundle_file_check(path, err) < 0;
}

int
store_verify(struct store *st, store_verify_fn cb, void *arg, struct store_verify_report *rep,
             struct sieve_errbuf *err)
{
    struct store_artifact_row *rows;
    size_t n;
    sqlite3_stmt *del = NULL;
    char path[STORE_PATH_MAX], sum[HASH_HEX_LEN];
    const char **bad = NULL;
    size_t n_bad = 0;
    int rc;

    memset(rep, 0, sizeof *rep);
    if ((rc = store_artifact_list(st, &rows, &n, err)) < 0)
        return rc;
    if (!(bad = calloc(n ? n : 1, sizeof *bad))) {
        free(rows);
        return sieve_errbuf_set(err, SIEVE_ENOMEM, "verify: out of memory");
    }
    if ((rc = store_prepare(st, "DELETE FROM artifacts WHERE key = ? AND checksum = ?", &del,
                            err)) < 0)
        goto out;
    for (size_t i = 0; i < n; i++) {
        const char *problem = NULL;
        uint64_t bytes = 0;
        struct sieve_errbuf herr = {{0}};

        rep->checked++;
        if (store_object_path(st, rows[i].key, path, sizeof path, 0) < 0) {
            problem = "malformed key";
        } else if (access(path, F_OK) < 0) {
            problem = "object missing";
            rep->missing++;
        } else if (store_file_sha256(path, sum, &bytes, &herr) < 0) {
            problem = herr.msg;
            rep->corrupt++;
        } else if (bytes != rows[i].bytes) {
            problem = "size differs from the index";
            rep->corrupt++;
        } else if (strcmp(sum, rows[i].checksum)) {
            problem = "checksum mismatch";
            rep->corrupt++;
        } else if (embedded_hash_differs(path, &herr)) {
            /* The index checksum may have been taken from an already torn file; the hash the
             * writer embedded in the header says what the data should be. */
            problem = herr.msg;
            rep->corrupt++;
        }
        if (!problem) {
            rep->ok++;
            continue;
        }
        if (cb)
            cb(arg, rows[i].key, problem);
        sqlite3_reset(del);
        store_bind_text(del, 1, rows[i].key);
        store_bind_text(del, 2, rows[i].checksum);
        if (sqlite3_step(del) != SQLITE_DONE) {
            rc = store_fail(st, err, "drop corrupt artifact");
            goto out;
        }
        unlink(path);
        bad[n_bad++] = rows[i].key;
    }
    /* What was computed from a bad object may hold its bad numbers. */
    if ((rc = store_artifact_invalidate(st, bad, n_bad, cb, arg, err)) >= 0) {
        rep->invalidated = (uint64_t)rc;
        rc = 0;
    }
out:
    sqlite3_finalize(del);
    free(bad);
    free(rows);
    return rc;
}
