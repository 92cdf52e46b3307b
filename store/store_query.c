/*
 * store_query.c - the read-only queries behind the HTTP API and the listing verbs: runs and
 * tasks a page at a time with their totals, per-node task counts, recent events, one
 * artifact's row. Nothing here writes the index, so a reader on the daemon's loop never
 * takes the write lock the scheduler's batches need.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/array.h"
#include "base/err.h"
#include "store_int.h"

/* SQLite reads a negative LIMIT as "no limit". */
static int64_t
sql_limit(size_t limit)
{
    return limit ? (int64_t)limit : -1;
}

int
store_run_query(struct store *st, const struct store_run_filter *f, struct store_run **out,
                size_t *n, int64_t *total, struct sieve_errbuf *err)
{
    static const char where[] = " WHERE (?1 IS NULL OR r.state = ?1)"
                                " AND (?2 IS NULL OR instr(r.name, ?2) > 0)";
    sqlite3_stmt *s;
    struct store_run *runs = NULL;
    size_t len = 0, cap = 0;
    int rc, step;

    *out = NULL;
    *n = 0;
    if (total) {
        char count_sql[256];
        snprintf(count_sql, sizeof count_sql, "SELECT count(*) FROM runs r%s", where);
        if ((rc = store_prepare(st, count_sql, &s, err)) < 0)
            return rc;
        store_bind_text(s, 1, f->state);
        store_bind_text(s, 2, f->name);
        if (sqlite3_step(s) == SQLITE_ROW)
            *total = sqlite3_column_int64(s, 0);
        else
            rc = store_fail(st, err, "count runs");
        sqlite3_finalize(s);
        if (rc < 0)
            return rc;
    }
    char sql[1024];
    snprintf(sql, sizeof sql, "SELECT %s FROM runs r%s ORDER BY r.id DESC LIMIT ?3 OFFSET ?4",
             STORE_RUN_COLUMNS, where);
    if ((rc = store_prepare(st, sql, &s, err)) < 0)
        return rc;
    store_bind_text(s, 1, f->state);
    store_bind_text(s, 2, f->name);
    sqlite3_bind_int64(s, 3, sql_limit(f->limit));
    sqlite3_bind_int64(s, 4, (int64_t)f->offset);
    while ((step = sqlite3_step(s)) == SQLITE_ROW) {
        if (array_grow(&runs, &cap, len + 1, sizeof *runs) < 0) {
            rc = sieve_errbuf_set(err, SIEVE_ENOMEM, "list runs: out of memory");
            break;
        }
        store_run_read(s, &runs[len++]);
    }
    if (rc == 0 && step != SQLITE_DONE)
        rc = store_fail(st, err, "list runs");
    sqlite3_finalize(s);
    if (rc < 0) {
        store_run_list_free(runs, len);
        return rc;
    }
    *out = runs;
    *n = len;
    return 0;
}

int
store_task_count(struct store *st, int64_t run, const char *state, const char *node, int64_t *total,
                 struct sieve_errbuf *err)
{
    sqlite3_stmt *s;
    int rc;

    *total = 0;
    if ((rc = store_prepare(st,
                            "SELECT count(*) FROM tasks WHERE run = ?1"
                            " AND (?2 IS NULL OR state = ?2) AND (?3 IS NULL OR node = ?3)",
                            &s, err)) < 0)
        return rc;
    sqlite3_bind_int64(s, 1, run);
    store_bind_text(s, 2, state);
    store_bind_text(s, 3, node);
    if (sqlite3_step(s) == SQLITE_ROW)
        *total = sqlite3_column_int64(s, 0);
    else
        rc = store_fail(st, err, "count tasks");
    sqlite3_finalize(s);
    return rc;
}

int
store_task_query(struct store *st, int64_t run, const char *state, const char *node, size_t limit,
                 size_t offset, struct store_task_row **out, size_t *n, struct sieve_errbuf *err)
{
    sqlite3_stmt *s;
    struct store_task_row *rows = NULL;
    size_t len = 0, cap = 0;
    int rc, step;

    *out = NULL;
    *n = 0;
    if ((rc = store_prepare(st,
                            "SELECT idx, node, sample, variant_label, task_key, components, state,"
                            " device, error, sample_index, variant, attempts, started_ms,"
                            " finished_ms FROM tasks WHERE run = ?1"
                            " AND (?2 IS NULL OR state = ?2) AND (?3 IS NULL OR node = ?3)"
                            " ORDER BY idx LIMIT ?4 OFFSET ?5",
                            &s, err)) < 0)
        return rc;
    sqlite3_bind_int64(s, 1, run);
    store_bind_text(s, 2, state);
    store_bind_text(s, 3, node);
    sqlite3_bind_int64(s, 4, sql_limit(limit));
    sqlite3_bind_int64(s, 5, (int64_t)offset);
    while ((step = sqlite3_step(s)) == SQLITE_ROW) {
        struct store_task_row *r;
        if (array_grow(&rows, &cap, len + 1, sizeof *rows) < 0) {
            rc = sieve_errbuf_set(err, SIEVE_ENOMEM, "list tasks: out of memory");
            break;
        }
        r = &rows[len++];
        r->run = run;
        r->idx = (uint32_t)sqlite3_column_int64(s, 0);
        r->node = store_column_dup(s, 1);
        r->sample = store_column_dup(s, 2);
        r->variant_label = store_column_dup(s, 3);
        r->key = store_column_dup(s, 4);
        r->components = store_column_dup(s, 5);
        r->state = store_column_dup(s, 6);
        r->device = store_column_dup(s, 7);
        r->error = store_column_dup(s, 8);
        r->sample_index = sqlite3_column_int(s, 9);
        r->variant = (uint32_t)sqlite3_column_int64(s, 10);
        r->attempts = sqlite3_column_int(s, 11);
        r->started_ms = sqlite3_column_int64(s, 12);
        r->finished_ms = sqlite3_column_int64(s, 13);
    }
    if (rc == 0 && step != SQLITE_DONE)
        rc = store_fail(st, err, "list tasks");
    sqlite3_finalize(s);
    if (rc < 0) {
        store_task_rows_free(rows, len);
        return rc;
    }
    *out = rows;
    *n = len;
    return 0;
}

int
store_node_counts(struct store *st, int64_t run, struct store_node_count **out, size_t *n,
                  struct sieve_errbuf *err)
{
    sqlite3_stmt *s;
    struct store_node_count *nodes = NULL;
    size_t len = 0, cap = 0;
    int rc, step;

    *out = NULL;
    *n = 0;
    /* Nodes in the order of their first task, which is the plan's topological order. */
    if ((rc = store_prepare(st,
                            "SELECT node, state, count(*), (SELECT min(idx) FROM tasks f"
                            " WHERE f.run = ?1 AND f.node = t.node) AS first FROM tasks t"
                            " WHERE run = ?1 GROUP BY node, state ORDER BY first, node",
                            &s, err)) < 0)
        return rc;
    sqlite3_bind_int64(s, 1, run);
    while ((step = sqlite3_step(s)) == SQLITE_ROW) {
        const char *node = (const char *)sqlite3_column_text(s, 0);
        const char *state = (const char *)sqlite3_column_text(s, 1);
        int which = store_task_state_parse(state ? state : "");
        if (!node)
            continue;
        if (len == 0 || strcmp(nodes[len - 1].node, node) != 0) {
            if (array_grow(&nodes, &cap, len + 1, sizeof *nodes) < 0 ||
                !(nodes[len].node = strdup(node))) {
                rc = sieve_errbuf_set(err, SIEVE_ENOMEM, "count tasks: out of memory");
                break;
            }
            memset(nodes[len].count, 0, sizeof nodes[len].count);
            nodes[len].total = 0;
            len++;
        }
        nodes[len - 1].total += sqlite3_column_int64(s, 2);
        if (which >= 0)
            nodes[len - 1].count[which] += sqlite3_column_int64(s, 2);
    }
    if (rc == 0 && step != SQLITE_DONE)
        rc = store_fail(st, err, "count tasks");
    sqlite3_finalize(s);
    if (rc < 0) {
        store_node_counts_free(nodes, len);
        return rc;
    }
    *out = nodes;
    *n = len;
    return 0;
}

void
store_node_counts_free(struct store_node_count *nodes, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(nodes[i].node);
    free(nodes);
}

int
store_event_recent(struct store *st, int64_t run, size_t limit, struct store_event **out, size_t *n,
                   struct sieve_errbuf *err)
{
    sqlite3_stmt *s;
    int rc;

    *out = NULL;
    *n = 0;
    if ((rc = store_prepare(st,
                            "SELECT " STORE_EVENT_COLUMNS " FROM (SELECT * FROM events"
                            " WHERE (?1 = 0 OR run = ?1) ORDER BY id DESC LIMIT ?2) ORDER BY id",
                            &s, err)) < 0)
        return rc;
    sqlite3_bind_int64(s, 1, run);
    sqlite3_bind_int64(s, 2, sql_limit(limit));
    return store_events_read(st, s, out, n, err);
}

int
store_events_read(struct store *st, sqlite3_stmt *s, struct store_event **out, size_t *n,
                  struct sieve_errbuf *err)
{
    struct store_event *ev = NULL;
    size_t len = 0, cap = 0;
    int rc = 0, step;

    while ((step = sqlite3_step(s)) == SQLITE_ROW) {
        struct store_event *e;
        if (array_grow(&ev, &cap, len + 1, sizeof *ev) < 0) {
            rc = sieve_errbuf_set(err, SIEVE_ENOMEM, "list events: out of memory");
            break;
        }
        e = &ev[len++];
        e->id = sqlite3_column_int64(s, 0);
        e->run = sqlite3_column_int64(s, 1);
        e->task = sqlite3_column_int64(s, 2);
        e->time_ms = sqlite3_column_int64(s, 3);
        e->kind = store_column_dup(s, 4);
        e->message = store_column_dup(s, 5);
    }
    if (rc == 0 && step != SQLITE_DONE)
        rc = store_fail(st, err, "list events");
    sqlite3_finalize(s);
    if (rc < 0) {
        store_event_list_free(ev, len);
        return rc;
    }
    *out = ev;
    *n = len;
    return 0;
}

int
store_artifact_get(struct store *st, const char *key, struct store_artifact_row *out,
                   struct sieve_errbuf *err)
{
    sqlite3_stmt *s;
    int rc, step;

    memset(out, 0, sizeof *out);
    if ((rc = store_prepare(st,
                            "SELECT key, checksum, bytes, run, created_ms, last_used_ms,"
                            " EXISTS (SELECT 1 FROM artifact_pins p JOIN runs r ON r.id = p.run"
                            " WHERE p.key = a.key AND r.state IN ('pending', 'running'))"
                            " FROM artifacts a WHERE key = ?1",
                            &s, err)) < 0)
        return rc;
    store_bind_text(s, 1, key);
    step = sqlite3_step(s);
    if (step == SQLITE_ROW) {
        const char *k = (const char *)sqlite3_column_text(s, 0);
        const char *c = (const char *)sqlite3_column_text(s, 1);
        snprintf(out->key, sizeof out->key, "%s", k ? k : "");
        snprintf(out->checksum, sizeof out->checksum, "%s", c ? c : "");
        out->bytes = (uint64_t)sqlite3_column_int64(s, 2);
        out->run = sqlite3_column_int64(s, 3);
        out->created_ms = sqlite3_column_int64(s, 4);
        out->last_used_ms = sqlite3_column_int64(s, 5);
        out->pinned = sqlite3_column_int(s, 6);
    } else if (step == SQLITE_DONE) {
        rc = sieve_errbuf_set(err, SIEVE_ENOENT, "no artifact '%s'", key);
    } else {
        rc = store_fail(st, err, "read artifact");
    }
    sqlite3_finalize(s);
    return rc;
}
