/*
 * table_store.h - the metric rows behind `sieve table RUN`, read through store functions.
 *
 * A run's own rows come from store_metrics_query. A task that was a cache hit ran in an
 * earlier run, and the scheduler records metric rows only for tasks it executes, so a
 * fully cached second run would have an empty table. For every cached task of RUN without
 * rows, this module finds the newest earlier run holding a task with the same task key (so
 * the same artifact, so the same metrics) and borrows that task's rows, relabelled with the
 * node and variant of RUN. Rows match a task by node, variant label and sample (NULL for a
 * reduce task).
 *
 * Usage:
 *     struct store_metric *rows; size_t n;
 *     table_store_rows(st, run, NULL, &rows, &n, &err);
 *     ... rows[i].variant, .category, .metric, .value ...
 *     store_metric_rows_free(rows, n);
 */
#ifndef SIEVE_CORE_TABLE_STORE_H
#define SIEVE_CORE_TABLE_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

/*
 * The metric rows of `run` (only node `node` when not NULL), including those of its cached
 * tasks. Errors: the store's (SIEVE_ESTORE, SIEVE_ENOMEM). Ownership: store_metric_rows_free.
 */
int table_store_rows(struct store *st, int64_t run, const char *node, struct store_metric **out,
                     size_t *n, struct sieve_errbuf *err);

#endif
