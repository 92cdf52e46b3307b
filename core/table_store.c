/*
 * table_store.c - a run's metric rows, borrowing those of cached tasks from the run that
 * computed them (see table_store.h).
 */
#include "core/table_store.h"

#include <stdlib.h>
#include <string.h>

static int
same(const char *a, const char *b)
{
    return (!a && !b) || (a && b && !strcmp(a, b));
}

/* Whether row m belongs to a task of `node`, `variant` and `sample`. */
static int
row_of(const struct store_metric *m, const char *node, const char *variant, const char *sample)
{
    return same(m->node, node) && same(m->variant, variant) && same(m->sample, sample);
}

static char *
dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* Appends a copy of row m relabelled for task t of the run. */
static int
append(struct store_metric **rows, size_t *n, size_t *cap, const struct store_metric *m,
       int64_t run, const struct store_task_row *t)
{
    if (*n == *cap) {
        size_t nc = *cap ? 2 * *cap : 64;
        struct store_metric *g = realloc(*rows, nc * sizeof *g);
        if (!g)
            return SIEVE_ENOMEM;
        *rows = g;
        *cap = nc;
    }
    struct store_metric *r = &(*rows)[*n];
    *r = (struct store_metric){run,
                               dup_or_null(t->node),
                               dup_or_null(t->variant_label),
                               dup_or_null(m->sample),
                               dup_or_null(m->category),
                               dup_or_null(m->metric),
                               m->value};
    (*n)++;
    if (!r->node || !r->variant || !r->category || !r->metric || (m->sample && !r->sample))
        return SIEVE_ENOMEM;
    return 0;
}

/* Borrows rows from earlier run `from` for the still-missing cached tasks. */
static int
borrow(struct store *st, int64_t run, int64_t from, const char *node,
       const struct store_task_row *cached, unsigned char *missing, size_t n_cached,
       struct store_metric **rows, size_t *n, size_t *cap, struct sieve_errbuf *err)
{
    struct store_metric *m = NULL;
    struct store_task_row *t = NULL;
    size_t nm = 0, nt = 0;
    int rc = store_metrics_query(st, from, NULL, &m, &nm, err);
    if (rc < 0 || nm == 0)
        goto out;
    rc = store_task_list(st, from, NULL, NULL, &t, &nt, err);
    for (size_t i = 0; rc == 0 && i < n_cached; i++) {
        if (!missing[i] || (node && strcmp(cached[i].node, node) != 0))
            continue;
        for (size_t j = 0; j < nt && missing[i]; j++) {
            if (!same(t[j].key, cached[i].key))
                continue;
            for (size_t k = 0; rc == 0 && k < nm; k++) {
                if (!row_of(&m[k], t[j].node, t[j].variant_label, t[j].sample))
                    continue;
                rc = append(rows, n, cap, &m[k], run, &cached[i]);
                missing[i] = 0;
            }
        }
    }
out:
    store_task_rows_free(t, nt);
    store_metric_rows_free(m, nm);
    if (rc == SIEVE_ENOMEM)
        sieve_errbuf_set(err, rc, "metric rows: out of memory");
    return rc;
}

int
table_store_rows(struct store *st, int64_t run, const char *node, struct store_metric **out,
                 size_t *n, struct sieve_errbuf *err)
{
    struct store_metric *rows = NULL;
    struct store_task_row *cached = NULL;
    struct store_run *runs = NULL;
    unsigned char *missing = NULL;
    size_t nr = 0, cap, nc = 0, n_runs = 0, n_missing = 0;
    int rc;
    *out = NULL;
    *n = 0;
    rc = store_metrics_query(st, run, node, &rows, &nr, err);
    cap = nr;
    if (rc == 0)
        rc = store_task_list(st, run, "cached", node, &cached, &nc, err);
    if (rc == 0 && nc > 0) {
        missing = calloc(nc, 1);
        if (!missing)
            rc = sieve_errbuf_set(err, SIEVE_ENOMEM, "metric rows: out of memory");
    }
    for (size_t i = 0; rc == 0 && i < nc; i++) {
        missing[i] = 1;
        for (size_t k = 0; k < nr && missing[i]; k++)
            if (row_of(&rows[k], cached[i].node, cached[i].variant_label, cached[i].sample))
                missing[i] = 0;
        n_missing += missing[i];
    }
    if (rc == 0 && n_missing > 0)
        rc = store_run_list(st, &runs, &n_runs, err); /* newest first */
    for (size_t r = 0; rc == 0 && r < n_runs && n_missing > 0; r++) {
        if (runs[r].id >= run)
            continue;
        rc = borrow(st, run, runs[r].id, node, cached, missing, nc, &rows, &nr, &cap, err);
        n_missing = 0;
        for (size_t i = 0; i < nc; i++)
            n_missing += missing[i];
    }
    store_run_list_free(runs, n_runs);
    store_task_rows_free(cached, nc);
    free(missing);
    if (rc < 0) {
        store_metric_rows_free(rows, nr);
        return rc;
    }
    *out = rows;
    *n = nr;
    return 0;
}
