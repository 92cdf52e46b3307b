/*
 * store_int.h - private to store/: the store struct and helpers shared by its files.
 */
#ifndef SIEVE_STORE_STORE_INT_H
#define SIEVE_STORE_STORE_INT_H

#include <sqlite3.h>
#include <stdint.h>

#include "store/store.h"

/* Statements the hot paths (the scheduler's batch, metric inserts) run many times: prepared
 * once per store, kept until store_close. */
enum store_stmt {
    STORE_STMT_TASK_UPDATE,
    STORE_STMT_ARTIFACT_PUT,
    STORE_STMT_METRIC_INSERT,
    STORE_STMT_METRIC_FORGET,
    STORE_STMT_METRIC_LAST,
    STORE_STMT_ARTIFACT_GET,
    STORE_STMT_N
};

struct store {
    char *dir;
    sqlite3 *db;
    sqlite3_stmt *stmt[STORE_STMT_N];
    int version; /* the schema version after open (tests open older ones) */
};

/* Translates a SQLite failure once: "<what>: <sqlite message>", SIEVE_ESTORE. */
int store_fail(struct store *st, struct sieve_errbuf *err, const char *what);

/* Prepares `sql`; on failure fills err and returns SIEVE_ESTORE. */
int store_prepare(struct store *st, const char *sql, sqlite3_stmt **out, struct sieve_errbuf *err);

/* The kept statement `which`, prepared on first use. The caller resets it after each use.
 * Errors: SIEVE_ESTORE. Ownership: the store's. */
int store_stmt(struct store *st, enum store_stmt which, sqlite3_stmt **out,
               struct sieve_errbuf *err);

/* BEGIN IMMEDIATE / COMMIT / ROLLBACK. */
int store_begin(struct store *st, struct sieve_errbuf *err);
int store_commit(struct store *st, struct sieve_errbuf *err);
void store_rollback(struct store *st);

/* Binds text or NULL. */
int store_bind_text(sqlite3_stmt *s, int i, const char *text);

/* Indexes one artifact inside an open transaction (shared by index and task_finish). */
int store_artifact_index_locked(struct store *st, const struct store_artifact *a,
                                struct sieve_errbuf *err);
/* Writes the index row of an artifact whose checksum and size are known (no file access). */
int store_artifact_put(struct store *st, const char *key, uint64_t bytes, const char *checksum,
                       int64_t run, int64_t now_ms, struct sieve_errbuf *err);
int store_metrics_insert_locked(struct store *st, const struct store_metric *rows, size_t n,
                                struct sieve_errbuf *err);
int store_task_update_locked(struct store *st, int64_t run, uint32_t idx,
                             const struct store_task_update *u, struct sieve_errbuf *err);

/* The columns store_run_read expects, over `runs r`. */
#define STORE_RUN_COLUMNS                                                                          \
    "r.id, r.name, r.pipeline_path, r.pipeline_text, r.state, r.error, r.created_ms,"              \
    " r.started_ms, r.finished_ms,"                                                                \
    " (SELECT count(*) FROM tasks t WHERE t.run = r.id),"                                          \
    " (SELECT count(*) FROM tasks t WHERE t.run = r.id AND t.state = 'done'),"                     \
    " (SELECT count(*) FROM tasks t WHERE t.run = r.id AND t.state = 'cached'),"                   \
    " (SELECT count(*) FROM tasks t WHERE t.run = r.id AND t.state = 'failed')"
/* Fills `r` from the current row of a statement selecting STORE_RUN_COLUMNS. */
void store_run_read(sqlite3_stmt *s, struct store_run *r);

/* The columns store_events_read expects. */
#define STORE_EVENT_COLUMNS "id, run, task, time_ms, kind, message"
/* Steps a statement selecting STORE_EVENT_COLUMNS to its end and finalizes it.
 * Ownership: store_event_list_free(*out, *n); nothing on failure. */
int store_events_read(struct store *st, sqlite3_stmt *s, struct store_event **out, size_t *n,
                      struct sieve_errbuf *err);

/* A malloc'd copy of a column's text, or NULL for SQL NULL (and on no memory). */
char *store_column_dup(sqlite3_stmt *s, int col);

#endif
