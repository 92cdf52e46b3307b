/*
 * table.h - the results table: metric rows (variant × category × metric) laid out as the
 * researcher's table, with variants as rows and categories plus "Avg" as columns, or one
 * matrix variable's values as columns (pivot), written as Markdown, CSV, JSON or LaTeX.
 *
 * Input rows are what evaluate-reduce (and evaluate) put in `sieve.metrics` and the store
 * keeps: `variant` is the JSON object of the matrix assignment ({"vmethod":"dycoke",
 * "keep":0.5}), `category` a category or "all", `sample` NULL for aggregates. This module
 * sees only these rows, never the store, so the layout is testable on an in-memory list.
 *
 * Layout rules:
 *   - the metric is `opts.metric`, or "retention" when present, else the first metric seen;
 *   - aggregate rows (sample NULL) are used when the metric has any; otherwise per-sample
 *     rows are averaged per variant and category, and "all" is their mean over all samples;
 *   - rows that still collide (two nodes reporting the same metric) are averaged;
 *   - one column per matrix variable, in the order they first appear in the labels, then
 *     the categories in byte order, then "Avg" (the "all" category);
 *   - rows are sorted by the variables' values, numbers numerically;
 *   - pivot VAR: columns are the values of VAR (sorted the same way), rows are the other
 *     variables, cells are the category `opts.category` ("all" by default);
 *   - a missing cell is "-" in Markdown and LaTeX, empty in CSV, null in JSON.
 *
 * Usage:
 *     struct table *t;
 *     struct table_opts o = { .metric = "coverage" };
 *     if (table_build(rows, n, &o, &t, &err) == 0) { table_write(t, TABLE_MD, stdout); }
 *     table_free(t);
 */
#ifndef SIEVE_CORE_TABLE_H
#define SIEVE_CORE_TABLE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <sieve/plugin.h>

/* One metric row (borrowed strings). */
struct table_input {
    const char *variant;  /* JSON object label, "{}" or NULL when the node has no variables */
    const char *sample;   /* NULL for an aggregate row */
    const char *category; /* "all" for the overall value */
    const char *metric;
    double value;
};

enum table_format { TABLE_MD = 0, TABLE_CSV, TABLE_JSON, TABLE_LATEX };

struct table_opts {
    const char *metric;   /* NULL: "retention" if present, else the first metric */
    const char *pivot;    /* NULL: categories as columns */
    const char *category; /* pivot cells; NULL: "all" */
};

struct table;
struct store;

/* Parses "md", "csv", "json" or "latex". Returns the format or -1. */
int table_format_parse(const char *name);

/*
 * Lays out the rows. Errors: SIEVE_ENOENT (no rows for the metric; the message lists the
 * metrics there are), SIEVE_EINVAL (pivot variable not in the labels, malformed label),
 * SIEVE_ENOMEM. Ownership: table_free.
 */
int table_build(const struct table_input *rows, size_t n, const struct table_opts *opts,
                struct table **out, struct sieve_errbuf *err);

/* The metric shown (valid while the table lives). */
const char *table_metric(const struct table *t);

/* Writes the table. Returns 0, or SIEVE_EIO when the stream fails. */
int table_write(const struct table *t, int format, FILE *f);

/*
 * The JSON document of the table, exactly what table_write(TABLE_JSON) writes without its
 * final newline: {"metric", "keys": [matrix variables], "columns": [...], "rows": [{var: value,
 * ..., "values": {column: number or null}}]}. Returns NULL when out of memory.
 * Ownership: the caller frees the text.
 */
char *table_json_dump(const struct table *t);

void table_free(struct table *t);

/*
 * The results table of one run of the store: its metric rows (store_metrics_query, only
 * those of `node` unless NULL) laid out by table_build. `sieve table` and the HTTP API's
 * /api/runs/{id}/table both call this, so the two cannot disagree.
 * Errors: as store_metrics_query and table_build. Ownership: table_free.
 */
int table_run_build(struct store *st, int64_t run, const char *node, const struct table_opts *opts,
                    struct table **out, struct sieve_errbuf *err);

#endif
