/*
 * sched_index.h - test-only helpers that edit a workspace's SQLite index directly, to leave
 * it the way a scheduler killed at the wrong moment would. Only tests that simulate such a
 * crash include this (it is the one place outside store/ where tests touch SQL).
 */
#ifndef SIEVE_TEST_SCHED_INDEX_H
#define SIEVE_TEST_SCHED_INDEX_H

#include <sqlite3.h>

#include "sched_util.h"

/* Runs `sql` against the workspace's index. */
static inline void
ws_index_sql(const struct ws *w, const char *sql)
{
    char path[400];
    sqlite3 *db;
    snprintf(path, sizeof path, "%s/sieve.db", w->store);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
        fail_msg("sql: %s", sqlite3_errmsg(db));
    sqlite3_close(db);
}

/* Every worker renamed its objects into place, but the scheduler died before its index
 * commit: no artifact or metric rows, tasks and run still running. */
static inline void
ws_unindex(const struct ws *w)
{
    ws_index_sql(w, "DELETE FROM artifacts; DELETE FROM metrics;"
                    " UPDATE tasks SET state = 'running'; UPDATE runs SET state = 'running';");
}

#endif
