/*
 * store_run.c - runs, tasks, metrics, events and devices in the index.
 */
#include <stdlib.h>
#include <string.h>

#include "base/array.h"
#include "base/clock.h"
#include "base/err.h"
#include "store_int.h"

/* ---- runs ------------------------------------------------------------------------------ */

int
store_run_create(struct store *st, const char *name, const char *pipeline_path,
                 const char *pipeline_text, int64_t *id, struct sieve_errbuf *err)
{
    sqlite3_stmt *s;
    int rc = store_prepare(st,
                           "INSERT INTO runs(name, pipeline_path, pipeline_text, state, "
                           "created_ms) VALUES(?, ?, ?, 'pending', ?)",
                           &s, err);
    if (rc < 0)
        return rc;
    store_bind_text(s, 1, name ? name : "");
    store_bind_text(s, 2, pipeline_path);
    store_bind_text(s, 3, pipeline_text);
    sqlite3_bind_int64(s, 4, clock_wall_ms());
    if (sqlite3_step(s) != SQLITE_DONE)
        rc = store_fail(st, err, "create run");
    else
        *id = sqlite3_last_insert_rowid(st->db);
    sqlite3_finalize(s);
    return rc;
}

static const char *const run_state_names[] = {
    [STORE_RUN_PENDING] = "pending", [STORE_RUN_RUNNING] = "running",     [STORE_RUN_DONE] = "done",
    [STORE_RUN_FAILED] = "failed",   [STORE_RUN_CANCELLED] = "cancelled",
};
static const char *const task_state_names[] = {
    [STORE_TASK_PENDING] = "pending",     [STORE_TASK_READY] = "ready",
    [STORE_TASK_RUNNING] = "running",     [STORE_TASK_DONE] = "done",
    [STORE_TASK_CACHED] = "cached",       [STORE_TASK_FAILED] = "failed",
    [STORE_TASK_CANCELLED] = "cancelled", [STORE_TASK_SKIPPED] = "skipped",
};

const char *
store_run_state_name(enum store_run_state state)
{
    SIEVE_ASSERT((unsigned)state < sizeof run_state_names / sizeof *run_state_names);
    return run_state_names[state];
}

const char *
store_task_state_name(enum store_task_state state)
{
    SIEVE_ASSERT((unsigned)state < STORE_TASK_N_STATES);
    return task_state_names[state];
}

int
store_task_state_parse(const char *name)
{
    for (int i = 0; i < STORE_TASK_N_STATES; i++)
        if (!strcmp(name, task_state_names[i]))
            return i;
    return -1;
}

static int
is_end_state(enum store_run_state state)
{
    return state == STORE_RUN_DONE || state == STORE_RUN_FAILED || state == STORE_RUN_CANCELLED;
}

int
store_run_set_state(struct store *st, int64_t id, enum store_run_state state, const char *error,
                    struct sieve_errbuf *err)
{
    sqlite3_stmt *s = NULL;
    int rc;
    int64_t now = clock_wall_ms();

    if ((rc = store_begin(st, err)) < 0)
        return rc;
    rc = store_prepare(st,
                       "UPDATE runs SET state = ?1, error = coalesce(?2, error),"
                       " started_ms = CASE WHEN ?1 = 'running' THEN ?3 ELSE started_ms END,"
                       " finished_ms = CASE WHEN ?4 THEN ?3 ELSE finished_ms END WHERE id = ?5",
                       &s, err);
    if (rc < 0)
        goto out;
    store_bind_text(s, 1, store_run_state_name(state));
    store_bind_text(s, 2, error);
    sqlite3_bind_int64(s, 3, now);
    sqlite3_bind_int(s, 4, is_end_state(state));
    sqlite3_bind_int64(s, 5, id);
    if (sqlite3_step(s) != SQLITE_DONE) {
        rc = store_fail(st, err, "update run");
        goto out;
    }
    if (sqlite3_changes(st->db) == 0) {
        rc = sieve_errbuf_set(err, SIEVE_ENOENT, "no run %lld", (long long)id);
        goto out;
    }
    /* A finished run no longer protects its artifacts from eviction. */
    if (is_end_state(state)) {
        sqlite3_finalize(s);
        if ((rc = store_prepare(st, "DELETE FROM artifact_pins WHERE run = ?", &s, err)) < 0)
            goto out;
        sqlite3_bind_int64(s, 1, id);
        if (sqlite3_step(s) != SQLITE_DONE) {
            rc = store_fail(st, err, "unpin run artifacts");
            goto out;
        }
    }
out:
    sqlite3_finalize(s);
    if (rc < 0) {
        store_rollback(st);
        return rc;
    }
    return store_commit(st, err);
}

void
store_run_read(sqlite3_stmt *s, struct store_run *r)
{
    r->id = sqlite3_column_int64(s, 0);
    r->name = store_column_dup(s, 1);
    r->pipeline_path = store_column_dup(s, 2);
    r->pipeline_text = store_column_dup(s, 3);
    r->state = store_column_dup(s, 4);
    r->error = store_column_dup(s, 5);
    r->created_ms = sqlite3_column_int64(s, 6);
    r->started_ms = sqlite3_column_int64(s, 7);
    r->finished_ms = sqlite3_column_int64(s, 8);
    r->n_tasks = sqlite3_column_int64(s, 9);
    r->n_done = sqlite3_column_int64(s, 10);
    r->n_cached = sqlite3_column_int64(s, 11);
    r->n_failed = sqlite3_column_int64(s, 12);
}

int
store_run_get(struct store *st, int64_t id, struct store_run *out, struct sieve_errbuf *err)
{
    sqlite3_stmt *s;
    int rc, step;

    memset(out, 0, sizeof *out);
    if ((rc = store_prepare(st, "SELECT " STORE_RUN_COLUMNS " FROM runs r WHERE r.id = ?", &s,
                            err)) < 0)
        return rc;
    sqlite3_bind_int64(s, 1, id);
    step = sqlite3_step(s);
    if (step == SQLITE_ROW)
        store_run_read(s, out);
    else if (step == SQLITE_DONE)
        rc = sieve_errbuf_set(err, SIEVE_ENOENT, "no run %lld", (long long)id);
    else
        rc = store_fail(st, err, "read run");
    sqlite3_finalize(s);
    return rc;
}

int
store_run_list(struct store *st, struct store_run **out, size_t *n, struct sieve_errbuf *err)
{
    static const struct store_run_filter all = {0};
    return store_run_query(st, &all, out, n, NULL, err);
}

int
store_run_previous(struct store *st, const char *pipeline_path, int64_t before, int64_t *id,
                   struct sieve_errbuf *err)
{
    sqlite3_stmt *s;
    int rc, step;

    *id = 0;
    if ((rc = store_prepare(st,
                            "SELECT id FROM runs WHERE pipeline_path = ?1 AND (?2 = 0 OR id < ?2)"
                            " ORDER BY id DESC LIMIT 1",
                            &s, err)) < 0)
        return rc;
    store_bind_text(s, 1, pipeline_path);
    sqlite3_bind_int64(s, 2, before);
    step = sqlite3_step(s);
    if (step == SQLITE_ROW)
        *id = sqlite3_column_int64(s, 0);
    else if (step != SQLITE_DONE)
        rc = store_fail(st, err, "find previous run");
    sqlite3_finalize(s);
    return rc;
}

void
store_run_release(struct store_run *r)
{
    if (!r)
        return;
    free(r->name);
    free(r->pipeline_path);
    free(r->pipeline_text);
    free(r->state);
    free(r->error);
    memset(r, 0, sizeof *r);
}

void
store_run_list_free(struct store_run *runs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        store_run_release(&runs[i]);
    free(runs);
}

/* ---- tasks ----------------------------------------------------------------------------- */

/* Runs a two-text-parameter insert (an edge of the artifact graph). */
static int
exec_pair(struct store *st, sqlite3_stmt *s, const char *a, const char *b, struct sieve_errbuf *err)
{
    sqlite3_reset(s);
    store_bind_text(s, 1, a);
    store_bind_text(s, 2, b);
    if (sqlite3_step(s) != SQLITE_DONE)
        return store_fail(st, err, "record artifact edge");
    return 0;
}

int
store_tasks_insert(struct store *st, int64_t run, const struct store_task *rows, size_t n,
                   struct sieve_errbuf *err)
{
    sqlite3_stmt *ins = NULL, *pin = NULL, *in_edge = NULL, *out_edge = NULL;
    int rc;

    if ((rc = store_begin(st, err)) < 0)
        return rc;
    if ((rc = store_prepare(st,
                            "INSERT OR REPLACE INTO tasks(run, idx, node, sample, variant,"
                            " task_key, state, attempts, device, error, started_ms, finished_ms,"
                            " sample_index, variant_label, components)"
                            " VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                            &ins, err)) < 0)
        goto out;
    if ((rc = store_prepare(st, "INSERT OR IGNORE INTO artifact_pins(run, key) VALUES(?, ?)", &pin,
                            err)) < 0)
        goto out;
    /* Edges exist from schema 4 on (a store opened at an older version by a test has none). */
    if (st->version >= 4 &&
        ((rc = store_prepare(st, "INSERT OR IGNORE INTO task_inputs(input, task_key) VALUES(?, ?)",
                             &in_edge, err)) < 0 ||
         (rc =
              store_prepare(st, "INSERT OR IGNORE INTO task_outputs(output, task_key) VALUES(?, ?)",
                            &out_edge, err)) < 0))
        goto out;
    for (size_t i = 0; i < n; i++) {
        const struct store_task *t = &rows[i];
        sqlite3_reset(ins);
        sqlite3_bind_int64(ins, 1, run);
        sqlite3_bind_int64(ins, 2, t->idx);
        store_bind_text(ins, 3, t->node);
        store_bind_text(ins, 4, t->sample);
        sqlite3_bind_int64(ins, 5, t->variant);
        store_bind_text(ins, 6, t->key);
        store_bind_text(ins, 7, store_task_state_name(t->state));
        sqlite3_bind_int(ins, 8, t->attempts);
        store_bind_text(ins, 9, t->device);
        store_bind_text(ins, 10, t->error);
        sqlite3_bind_int64(ins, 11, t->started_ms);
        sqlite3_bind_int64(ins, 12, t->finished_ms);
        sqlite3_bind_int(ins, 13, t->sample_index);
        store_bind_text(ins, 14, t->variant_label ? t->variant_label : "{}");
        store_bind_text(ins, 15, t->components);
        if (sqlite3_step(ins) != SQLITE_DONE) {
            rc = store_fail(st, err, "insert task");
            goto out;
        }
        for (uint32_t o = 0; o < t->n_out; o++) {
            sqlite3_reset(pin);
            sqlite3_bind_int64(pin, 1, run);
            store_bind_text(pin, 2, t->out_keys[o]);
            if (sqlite3_step(pin) != SQLITE_DONE) {
                rc = store_fail(st, err, "pin artifact");
                goto out;
            }
            if (out_edge && t->key &&
                (rc = exec_pair(st, out_edge, t->out_keys[o], t->key, err)) < 0)
                goto out;
        }
        for (uint32_t k = 0; in_edge && t->key && k < t->n_in; k++)
            if ((rc = exec_pair(st, in_edge, t->in_keys[k], t->key, err)) < 0)
                goto out;
    }
out:
    sqlite3_finalize(out_edge);
    sqlite3_finalize(in_edge);
    sqlite3_finalize(pin);
    sqlite3_finalize(ins);
    if (rc < 0) {
        store_rollback(st);
        return rc;
    }
    return store_commit(st, err);
}

int
store_task_update_locked(struct store *st, int64_t run, uint32_t idx,
                         const struct store_task_update *u, struct sieve_errbuf *err)
{
    sqlite3_stmt *s;
    int rc = store_stmt(st, STORE_STMT_TASK_UPDATE, &s, err);
    if (rc < 0)
        return rc;
    sqlite3_bind_int64(s, 1, run);
    sqlite3_bind_int64(s, 2, idx);
    store_bind_text(s, 3, store_task_state_name(u->state));
    sqlite3_bind_int(s, 4, u->attempts);
    store_bind_text(s, 5, u->device);
    store_bind_text(s, 6, u->error);
    sqlite3_bind_int64(s, 7, u->started_ms);
    sqlite3_bind_int64(s, 8, u->finished_ms);
    if (sqlite3_step(s) != SQLITE_DONE)
        rc = store_fail(st, err, "update task");
    else if (sqlite3_changes(st->db) == 0)
        rc = sieve_errbuf_set(err, SIEVE_ENOENT, "no task %u in run %lld", idx, (long long)run);
    sqlite3_reset(s);
    return rc;
}

int
store_task_update(struct store *st, int64_t run, uint32_t idx, const struct store_task_update *u,
                  struct sieve_errbuf *err)
{
    /* A single statement is its own transaction. */
    return store_task_update_locked(st, run, idx, u, err);
}

int
store_task_finish(struct store *st, int64_t run, uint32_t idx, const struct store_task_update *u,
                  const struct store_artifact *arts, size_t n_arts,
                  const struct store_metric *metrics, size_t n_metrics, struct sieve_errbuf *err)
{
    int rc;

    if ((rc = store_begin(st, err)) < 0)
        return rc;
    for (size_t i = 0; i < n_arts && rc == 0; i++)
        rc = store_artifact_index_locked(st, &arts[i], err);
    if (rc == 0 && n_metrics)
        rc = store_metrics_insert_locked(st, metrics, n_metrics, err);
    if (rc == 0 && u)
        rc = store_task_update_locked(st, run, idx, u, err);
    if (rc < 0) {
        store_rollback(st);
        return rc;
    }
    return store_commit(st, err);
}

int
store_task_list(struct store *st, int64_t run, const char *state, const char *node,
                struct store_task_row **out, size_t *n, struct sieve_errbuf *err)
{
    return store_task_query(st, run, state, node, 0, 0, out, n, err);
}

void
store_task_rows_free(struct store_task_row *rows, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct store_task_row *r = &rows[i];
        free(r->node);
        free(r->sample);
        free(r->variant_label);
        free(r->key);
        free(r->components);
        free(r->state);
        free(r->device);
        free(r->error);
    }
    free(rows);
}

int
store_tasks_requeue(struct store *st, int64_t run, struct sieve_errbuf *err)
{
    sqlite3_stmt *s;
    int rc = store_prepare(st,
                           "UPDATE tasks SET state = 'pending', device = NULL"
                           " WHERE run = ? AND state IN ('running', 'ready')",
                           &s, err);
    if (rc < 0)
        return rc;
    sqlite3_bind_int64(s, 1, run);
    if (sqlite3_step(s) != SQLITE_DONE)
        rc = store_fail(st, err, "requeue tasks");
    else
        rc = sqlite3_changes(st->db);
    sqlite3_finalize(s);
    return rc;
}

/* ---- metrics --------------------------------------------------------------------------- */

/* The largest metric row id, so an insert can drop its keys' older rows but never its own. */
static int
metrics_last_id(struct store *st, int64_t *id, struct sieve_errbuf *err)
{
    sqlite3_stmt *s;
    int rc = store_stmt(st, STORE_STMT_METRIC_LAST, &s, err);
    if (rc < 0)
        return rc;
    if (sqlite3_step(s) == SQLITE_ROW)
        *id = sqlite3_column_int64(s, 0);
    else
        rc = store_fail(st, err, "insert metric");
    sqlite3_reset(s);
    return rc;
}

int
store_metrics_insert_locked(struct store *st, const struct store_metric *rows, size_t n,
                            struct sieve_errbuf *err)
{
    sqlite3_stmt *ins, *forget;
    int64_t last = 0;
    int rc;
    if ((rc = store_stmt(st, STORE_STMT_METRIC_INSERT, &ins, err)) < 0 ||
        (rc = store_stmt(st, STORE_STMT_METRIC_FORGET, &forget, err)) < 0 ||
        (rc = metrics_last_id(st, &last, err)) < 0)
        return rc;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const struct store_metric *m = &rows[i];
        /* Only rows older than this call are forgotten, so forgetting a key again is harmless;
         * a key's rows come together, so it happens once per key. */
        if (m->task_key &&
            (i == 0 || !rows[i - 1].task_key || strcmp(m->task_key, rows[i - 1].task_key))) {
            store_bind_text(forget, 1, m->task_key);
            sqlite3_bind_int64(forget, 2, last);
            if (sqlite3_step(forget) != SQLITE_DONE)
                rc = store_fail(st, err, "replace metrics");
            sqlite3_reset(forget);
            if (rc < 0)
                break;
        }
        sqlite3_bind_int64(ins, 1, m->run);
        store_bind_text(ins, 2, m->node);
        store_bind_text(ins, 3, m->variant ? m->variant : "{}");
        store_bind_text(ins, 4, m->sample);
        store_bind_text(ins, 5, m->category);
        store_bind_text(ins, 6, m->metric);
        sqlite3_bind_double(ins, 7, m->value);
        store_bind_text(ins, 8, m->task_key);
        if (sqlite3_step(ins) != SQLITE_DONE)
            rc = store_fail(st, err, "insert metric");
        sqlite3_reset(ins);
    }
    return rc;
}

int
store_metrics_insert(struct store *st, const struct store_metric *rows, size_t n,
                     struct sieve_errbuf *err)
{
    int rc;
    if ((rc = store_begin(st, err)) < 0)
        return rc;
    if ((rc = store_metrics_insert_locked(st, rows, n, err)) < 0) {
        store_rollback(st);
        return rc;
    }
    return store_commit(st, err);
}

int
store_metrics_query(struct store *st, int64_t run, const char *node, struct store_metric **out,
                    size_t *n, struct sieve_errbuf *err)
{
    sqlite3_stmt *s;
    struct store_metric *rows = NULL;
    size_t len = 0, cap = 0;
    int rc, step;

    *out = NULL;
    *n = 0;
    /* A cached task's rows are those of its key, whichever run computed them. */
    if ((rc = store_prepare(st,
                            "SELECT t.node, t.variant_label, m.sample, m.category, m.metric,"
                            " m.value, m.task_key, t.idx AS o1, m.id AS o2"
                            " FROM tasks t JOIN metrics m ON m.task_key = t.task_key"
                            " WHERE t.run = ?1 AND t.state IN ('done', 'cached')"
                            " AND (?2 IS NULL OR t.node = ?2)"
                            " UNION ALL"
                            " SELECT node, variant, sample, category, metric, value, NULL,"
                            " -1, id FROM metrics WHERE run = ?1 AND task_key IS NULL"
                            " AND (?2 IS NULL OR node = ?2)"
                            " ORDER BY o1, o2",
                            &s, err)) < 0)
        return rc;
    sqlite3_bind_int64(s, 1, run);
    store_bind_text(s, 2, node);
    while ((step = sqlite3_step(s)) == SQLITE_ROW) {
        struct store_metric *m;
        if (array_grow(&rows, &cap, len + 1, sizeof *rows) < 0) {
            rc = sieve_errbuf_set(err, SIEVE_ENOMEM, "query metrics: out of memory");
            break;
        }
        m = &rows[len++];
        m->run = run;
        m->node = store_column_dup(s, 0);
        m->variant = store_column_dup(s, 1);
        m->sample = store_column_dup(s, 2);
        m->category = store_column_dup(s, 3);
        m->metric = store_column_dup(s, 4);
        m->value = sqlite3_column_double(s, 5);
        m->task_key = store_column_dup(s, 6);
    }
    if (rc == 0 && step != SQLITE_DONE)
        rc = store_fail(st, err, "query metrics");
    sqlite3_finalize(s);
    if (rc < 0) {
        store_metric_rows_free(rows, len);
        return rc;
    }
    *out = rows;
    *n = len;
    return 0;
}

void
store_metric_rows_free(struct store_metric *rows, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free((char *)rows[i].node);
        free((char *)rows[i].variant);
        free((char *)rows[i].sample);
        free((char *)rows[i].category);
        free((char *)rows[i].metric);
        free((char *)rows[i].task_key);
    }
    free(rows);
}

/* ---- events ---------------------------------------------------------------------------- */

int
store_event_append(struct store *st, int64_t run, int64_t task, const char *kind,
                   const char *message, struct sieve_errbuf *err)
{
    sqlite3_stmt *s;
    int rc = store_prepare(st,
                           "INSERT INTO events(run, task, time_ms, kind, message)"
                           " VALUES(?,?,?,?,?)",
                           &s, err);
    if (rc < 0)
        return rc;
    sqlite3_bind_int64(s, 1, run);
    sqlite3_bind_int64(s, 2, task);
    sqlite3_bind_int64(s, 3, clock_wall_ms());
    store_bind_text(s, 4, kind);
    store_bind_text(s, 5, message);
    if (sqlite3_step(s) != SQLITE_DONE)
        rc = store_fail(st, err, "append event");
    sqlite3_finalize(s);
    return rc;
}

int
store_event_list(struct store *st, int64_t run, int64_t after, size_t limit,
                 struct store_event **out, size_t *n, struct sieve_errbuf *err)
{
    sqlite3_stmt *s;
    int rc;

    *out = NULL;
    *n = 0;
    if ((rc = store_prepare(st,
                            "SELECT " STORE_EVENT_COLUMNS " FROM events"
                            " WHERE (?1 = 0 OR run = ?1) AND id > ?2 ORDER BY id LIMIT ?3",
                            &s, err)) < 0)
        return rc;
    sqlite3_bind_int64(s, 1, run);
    sqlite3_bind_int64(s, 2, after);
    sqlite3_bind_int64(s, 3, limit ? (int64_t)limit : -1);
    return store_events_read(st, s, out, n, err);
}

void
store_event_list_free(struct store_event *ev, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(ev[i].kind);
        free(ev[i].message);
    }
    free(ev);
}

/* ---- devices --------------------------------------------------------------------------- */

int
store_device_upsert(struct store *st, const char *name, const char *state, const char *info,
                    struct sieve_errbuf *err)
{
    sqlite3_stmt *s;
    int rc = store_prepare(st,
                           "INSERT INTO devices(name, state, info, updated_ms) VALUES(?1,?2,?3,?4)"
                           " ON CONFLICT(name) DO UPDATE SET state = ?2,"
                           " info = coalesce(?3, info), updated_ms = ?4",
                           &s, err);
    if (rc < 0)
        return rc;
    store_bind_text(s, 1, name);
    store_bind_text(s, 2, state);
    store_bind_text(s, 3, info);
    sqlite3_bind_int64(s, 4, clock_wall_ms());
    if (sqlite3_step(s) != SQLITE_DONE)
        rc = store_fail(st, err, "update device");
    sqlite3_finalize(s);
    return rc;
}

int
store_device_list(struct store *st, struct store_device **out, size_t *n, struct sieve_errbuf *err)
{
    sqlite3_stmt *s;
    struct store_device *d = NULL;
    size_t len = 0, cap = 0;
    int rc, step;

    *out = NULL;
    *n = 0;
    if ((rc = store_prepare(st, "SELECT name, state, info, updated_ms FROM devices ORDER BY name",
                            &s, err)) < 0)
        return rc;
    while ((step = sqlite3_step(s)) == SQLITE_ROW) {
        if (array_grow(&d, &cap, len + 1, sizeof *d) < 0) {
            rc = sieve_errbuf_set(err, SIEVE_ENOMEM, "list devices: out of memory");
            break;
        }
        d[len].name = store_column_dup(s, 0);
        d[len].state = store_column_dup(s, 1);
        d[len].info = store_column_dup(s, 2);
        d[len].updated_ms = sqlite3_column_int64(s, 3);
        len++;
    }
    if (rc == 0 && step != SQLITE_DONE)
        rc = store_fail(st, err, "list devices");
    sqlite3_finalize(s);
    if (rc < 0) {
        store_device_list_free(d, len);
        return rc;
    }
    *out = d;
    *n = len;
    return 0;
}

void
store_device_list_free(struct store_device *d, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(d[i].name);
        free(d[i].state);
        free(d[i].info);
    }
    free(d);
}
