/*
 * store.c - opening the store, schema migrations, and the SQLite helpers of the room.
 *
 * The schema lives as an ordered list of migrations; PRAGMA user_version is the number of
 * migrations applied. A migration is only ever appended: an old store opened by a newer build
 * runs the missing ones in order, each in its own transaction, and a store newer than the
 * build is refused rather than misread.
 */
#include "store_int.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "base/err.h"

static const char *const migrations[STORE_SCHEMA_VERSION] = {
    /* 1: the first release. */
    "CREATE TABLE runs("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL,"
    "  pipeline_path TEXT,"
    "  pipeline_text TEXT,"
    "  state TEXT NOT NULL,"
    "  error TEXT,"
    "  created_ms INTEGER NOT NULL,"
    "  started_ms INTEGER NOT NULL DEFAULT 0,"
    "  finished_ms INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE tasks("
    "  run INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
    "  idx INTEGER NOT NULL,"
    "  node TEXT NOT NULL,"
    "  sample TEXT,"
    "  variant INTEGER NOT NULL,"
    "  task_key TEXT NOT NULL,"
    "  state TEXT NOT NULL,"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  device TEXT,"
    "  error TEXT,"
    "  started_ms INTEGER NOT NULL DEFAULT 0,"
    "  finished_ms INTEGER NOT NULL DEFAULT 0,"
    "  PRIMARY KEY(run, idx)) WITHOUT ROWID;"
    "CREATE INDEX tasks_state ON tasks(run, state);"
    "CREATE TABLE artifacts("
    "  key TEXT PRIMARY KEY,"
    "  bytes INTEGER NOT NULL,"
    "  checksum TEXT NOT NULL,"
    "  run INTEGER NOT NULL DEFAULT 0,"
    "  created_ms INTEGER NOT NULL,"
    "  last_used_ms INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE INDEX artifacts_lru ON artifacts(last_used_ms);"
    "CREATE TABLE events("
    "  id INTEGER PRIMARY KEY,"
    "  run INTEGER NOT NULL DEFAULT 0,"
    "  task INTEGER NOT NULL DEFAULT -1,"
    "  time_ms INTEGER NOT NULL,"
    "  kind TEXT NOT NULL,"
    "  message TEXT);"
    "CREATE INDEX events_run ON events(run, id);"
    "CREATE TABLE devices("
    "  name TEXT PRIMARY KEY,"
    "  state TEXT NOT NULL,"
    "  info TEXT,"
    "  updated_ms INTEGER NOT NULL);"
    "CREATE TABLE metrics("
    "  id INTEGER PRIMARY KEY,"
    "  run INTEGER NOT NULL,"
    "  node TEXT NOT NULL,"
    "  variant TEXT NOT NULL,"
    "  sample TEXT,"
    "  category TEXT,"
    "  metric TEXT NOT NULL,"
    "  value REAL NOT NULL);"
    "CREATE INDEX metrics_run ON metrics(run, node);",

    /* 2: what `sieve explain`, GC pins and the media cache need. */
    "ALTER TABLE tasks ADD COLUMN sample_index INTEGER NOT NULL DEFAULT -1;"
    "ALTER TABLE tasks ADD COLUMN variant_label TEXT NOT NULL DEFAULT '{}';"
    "ALTER TABLE tasks ADD COLUMN components TEXT;"
    "CREATE INDEX tasks_node ON tasks(run, node);"
    "CREATE TABLE artifact_pins("
    "  run INTEGER NOT NULL,"
    "  key TEXT NOT NULL,"
    "  PRIMARY KEY(run, key)) WITHOUT ROWID;"
    "CREATE INDEX artifact_pins_key ON artifact_pins(key);"
    "CREATE TABLE media_hashes("
    "  path TEXT PRIMARY KEY,"
    "  size INTEGER NOT NULL,"
    "  mtime_ns INTEGER NOT NULL,"
    "  sha256 TEXT NOT NULL) WITHOUT ROWID;",

    /* 3: metric rows belong to the task key that produced them, so a cached task shows the
     * rows of its artifact in any run. Old rows get the key of the one task of their run
     * with their node and variant (and sample, when several match); rows no task claims
     * keep an empty key and stay rows of their run. Where a key was computed twice, the
     * newest rows stand, as they would for a new insert. */
    "ALTER TABLE metrics ADD COLUMN task_key TEXT;"
    "UPDATE metrics SET task_key = coalesce("
    "  (SELECT CASE WHEN count(*) = 1 THEN max(t.task_key) END FROM tasks t"
    "   WHERE t.run = metrics.run AND t.node = metrics.node"
    "     AND t.variant_label = metrics.variant AND t.sample IS metrics.sample),"
    "  (SELECT CASE WHEN count(*) = 1 THEN max(t.task_key) END FROM tasks t"
    "   WHERE t.run = metrics.run AND t.node = metrics.node"
    "     AND t.variant_label = metrics.variant));"
    "CREATE INDEX metrics_key ON metrics(task_key);"
    "DELETE FROM metrics WHERE task_key IS NOT NULL AND EXISTS(SELECT 1 FROM metrics m"
    "  WHERE m.task_key = metrics.task_key AND (m.run, m.node) > (metrics.run, metrics.node));",

    /* 4: the edges of the artifact graph, so an object that fails verification takes
     * everything ever computed from it along (store_artifact_invalidate). Content-addressed:
     * a re-run of the same tasks adds no rows. Tasks planned before version 4 have no edges. */
    "CREATE TABLE task_inputs("
    "  input TEXT NOT NULL,"
    "  task_key TEXT NOT NULL,"
    "  PRIMARY KEY(input, task_key)) WITHOUT ROWID;"
    "CREATE TABLE task_outputs("
    "  output TEXT PRIMARY KEY,"
    "  task_key TEXT NOT NULL) WITHOUT ROWID;"
    "CREATE INDEX task_outputs_task ON task_outputs(task_key);",
};

static const char *const stmt_sql[STORE_STMT_N] = {
    [STORE_STMT_TASK_UPDATE] = "UPDATE tasks SET state = coalesce(?3, state),"
                               " attempts = CASE WHEN ?4 >= 0 THEN ?4 ELSE attempts END,"
                               " device = coalesce(?5, device),"
                               " error = CASE WHEN ?6 IS NULL THEN error WHEN ?6 = '' THEN NULL"
                               "   ELSE ?6 END,"
                               " started_ms = CASE WHEN ?7 >= 0 THEN ?7 ELSE started_ms END,"
                               " finished_ms = CASE WHEN ?8 >= 0 THEN ?8 ELSE finished_ms END"
                               " WHERE run = ?1 AND idx = ?2",
    [STORE_STMT_ARTIFACT_PUT] = "INSERT INTO artifacts(key, bytes, checksum, run, created_ms,"
                                " last_used_ms) VALUES(?1,?2,?3,?4,?5,?5) ON CONFLICT(key)"
                                " DO UPDATE SET bytes = ?2, checksum = ?3, last_used_ms = ?5",
    [STORE_STMT_METRIC_INSERT] = "INSERT INTO metrics(run, node, variant, sample, category,"
                                 " metric, value, task_key) VALUES(?,?,?,?,?,?,?,?)",
    /* The rows a key had before the insert that began after row id ?2. */
    [STORE_STMT_METRIC_FORGET] = "DELETE FROM metrics WHERE task_key = ?1 AND id <= ?2",
    [STORE_STMT_METRIC_LAST] = "SELECT coalesce(max(id), 0) FROM metrics",
    [STORE_STMT_ARTIFACT_GET] = "SELECT bytes, checksum FROM artifacts WHERE key = ?",
};

int
store_stmt(struct store *st, enum store_stmt which, sqlite3_stmt **out, struct sieve_errbuf *err)
{
    if (!st->stmt[which]) {
        if (sqlite3_prepare_v3(st->db, stmt_sql[which], -1, SQLITE_PREPARE_PERSISTENT,
                               &st->stmt[which], NULL) != SQLITE_OK) {
            st->stmt[which] = NULL;
            *out = NULL;
            return store_fail(st, err, "prepare statement");
        }
    }
    *out = st->stmt[which];
    return 0;
}

int
store_fail(struct store *st, struct sieve_errbuf *err, const char *what)
{
    const char *msg = st && st->db ? sqlite3_errmsg(st->db) : "no database";
    return sieve_errbuf_set(err, SIEVE_ESTORE, "%s: %s", what, msg);
}

int
store_prepare(struct store *st, const char *sql, sqlite3_stmt **out, struct sieve_errbuf *err)
{
    if (sqlite3_prepare_v2(st->db, sql, -1, out, NULL) != SQLITE_OK) {
        *out = NULL;
        return store_fail(st, err, "prepare statement");
    }
    return 0;
}

int
store_begin(struct store *st, struct sieve_errbuf *err)
{
    if (sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return store_fail(st, err, "begin transaction");
    return 0;
}

int
store_commit(struct store *st, struct sieve_errbuf *err)
{
    if (sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        int rc = store_fail(st, err, "commit");
        store_rollback(st);
        return rc;
    }
    return 0;
}

void
store_rollback(struct store *st)
{
    if (!sqlite3_get_autocommit(st->db))
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
}

int
store_bind_text(sqlite3_stmt *s, int i, const char *text)
{
    if (!text)
        return sqlite3_bind_null(s, i);
    return sqlite3_bind_text(s, i, text, -1, SQLITE_TRANSIENT);
}

char *
store_column_dup(sqlite3_stmt *s, int col)
{
    const unsigned char *t = sqlite3_column_text(s, col);
    return t ? strdup((const char *)t) : NULL;
}

static int
make_dir(const char *path, struct sieve_errbuf *err)
{
    if (mkdir(path, 0777) < 0 && errno != EEXIST)
        return sieve_errbuf_set(err, sieve_error_from_errno(errno), "create directory '%s': %s",
                                path, strerror(errno));
    return 0;
}

static int
user_version(struct store *st, int *out, struct sieve_errbuf *err)
{
    sqlite3_stmt *s;
    int rc = store_prepare(st, "PRAGMA user_version", &s, err);
    if (rc < 0)
        return rc;
    if (sqlite3_step(s) != SQLITE_ROW) {
        rc = store_fail(st, err, "read schema version");
        sqlite3_finalize(s);
        return rc;
    }
    *out = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    return 0;
}

/* Applies migrations (have, want] each in one transaction with the version bump. */
static int
migrate(struct store *st, int want, struct sieve_errbuf *err)
{
    int have, rc;
    char sql[64];

    if ((rc = user_version(st, &have, err)) < 0)
        return rc;
    if (have > STORE_SCHEMA_VERSION)
        return sieve_errbuf_set(err, SIEVE_ESTORE,
                                "store '%s': schema version %d is newer than this sieve (%d)",
                                st->dir, have, STORE_SCHEMA_VERSION);
    for (int v = have; v < want; v++) {
        if ((rc = store_begin(st, err)) < 0)
            return rc;
        snprintf(sql, sizeof sql, "PRAGMA user_version = %d", v + 1);
        if (sqlite3_exec(st->db, migrations[v], NULL, NULL, NULL) != SQLITE_OK ||
            sqlite3_exec(st->db, sql, NULL, NULL, NULL) != SQLITE_OK) {
            char what[64];
            snprintf(what, sizeof what, "migrate schema to version %d", v + 1);
            rc = store_fail(st, err, what);
            store_rollback(st);
            return rc;
        }
        if ((rc = store_commit(st, err)) < 0)
            return rc;
    }
    return 0;
}

int
store_open_version(const char *dir, int version, struct store **out, struct sieve_errbuf *err)
{
    struct store *st;
    char path[STORE_PATH_MAX];
    int rc;

    *out = NULL;
    if (version < 1 || version > STORE_SCHEMA_VERSION)
        return sieve_errbuf_set(err, SIEVE_EINVAL, "schema version %d out of range", version);
    if ((rc = make_dir(dir, err)) < 0)
        return rc;
    snprintf(path, sizeof path, "%s/objects", dir);
    if ((rc = make_dir(path, err)) < 0)
        return rc;
    snprintf(path, sizeof path, "%s/logs", dir);
    if ((rc = make_dir(path, err)) < 0)
        return rc;

    st = calloc(1, sizeof *st);
    if (!st || !(st->dir = strdup(dir))) {
        free(st);
        return sieve_errbuf_set(err, SIEVE_ENOMEM, "open store '%s': out of memory", dir);
    }
    snprintf(path, sizeof path, "%s/sieve.db", dir);
    if (sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
        SQLITE_OK) {
        rc = sieve_errbuf_set(err, SIEVE_ESTORE, "open '%s': %s", path,
                              st->db ? sqlite3_errmsg(st->db) : "out of memory");
        goto fail;
    }
    /* The busy timeout comes first: other readers (sieve status, the web page) may hold the
     * file while the journal mode is switched. */
    sqlite3_busy_timeout(st->db, 10000);
    if (sqlite3_exec(st->db,
                     "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                     "PRAGMA foreign_keys=ON;",
                     NULL, NULL, NULL) != SQLITE_OK) {
        rc = sieve_errbuf_set(err, SIEVE_ESTORE, "open '%s': %s", path, sqlite3_errmsg(st->db));
        goto fail;
    }
    if ((rc = migrate(st, version, err)) < 0 || (rc = user_version(st, &st->version, err)) < 0) {
        sieve_errbuf_prefix(err, rc, "open '%s'", path);
        goto fail;
    }
    *out = st;
    return 0;
fail:
    store_close(st);
    return rc;
}

int
store_open(const char *dir, struct store **out, struct sieve_errbuf *err)
{
    return store_open_version(dir, STORE_SCHEMA_VERSION, out, err);
}

int
store_open_existing(const char *dir, struct store **out, struct sieve_errbuf *err)
{
    char path[STORE_PATH_MAX];
    struct stat sb;

    *out = NULL;
    snprintf(path, sizeof path, "%s/sieve.db", dir);
    if (stat(path, &sb) < 0 || !S_ISREG(sb.st_mode))
        return sieve_errbuf_set(err, SIEVE_ENOENT, "no store at '%s'", dir);
    return store_open(dir, out, err);
}

void
store_close(struct store *st)
{
    if (!st)
        return;
    for (int i = 0; i < STORE_STMT_N; i++)
        sqlite3_finalize(st->stmt[i]);
    if (st->db)
        sqlite3_close_v2(st->db);
    free(st->dir);
    free(st);
}

const char *
store_dir(const struct store *st)
{
    return st->dir;
}

int
store_schema_version(struct store *st)
{
    int v = -1;
    if (user_version(st, &v, NULL) < 0)
        return -1;
    return v;
}

int
store_size_parse(const char *text, uint64_t *out)
{
    char *end;
    unsigned long long v;
    uint64_t mul = 1;

    if (!text || !*text || *text == '-')
        return SIEVE_EINVAL;
    errno = 0;
    v = strtoull(text, &end, 10);
    if (errno || end == text)
        return SIEVE_EINVAL;
    switch (*end) {
    case '\0':
        break;
    case 'k':
    case 'K':
        mul = 1ull << 10;
        end++;
        break;
    case 'm':
    case 'M':
        mul = 1ull << 20;
        end++;
        break;
    case 'g':
    case 'G':
        mul = 1ull << 30;
        end++;
        break;
    case 't':
    case 'T':
        mul = 1ull << 40;
        end++;
        break;
    default:
        return SIEVE_EINVAL;
    }
    if (*end == 'B' || *end == 'b')
        end++;
    if (*end || (v && mul > UINT64_MAX / v))
        return SIEVE_EINVAL;
    *out = (uint64_t)v * mul;
    return 0;
}
