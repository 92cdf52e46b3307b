/*
 * table_run.c - the results table of a run read from the store (see table.h): the one
 * place that turns a run's metric rows into table rows.
 */
#include <stdlib.h>

#include "core/table/table.h"
#include "store/store.h"

int
table_run_build(struct store *st, int64_t run, const char *node, const struct table_opts *opts,
                struct table **out, struct sieve_errbuf *err)
{
    struct store_metric *rows = NULL;
    struct table_input *in = NULL;
    size_t n = 0;
    int rc;

    *out = NULL;
    if ((rc = store_metrics_query(st, run, node, &rows, &n, err)) < 0)
        return rc;
    if (!(in = calloc(n + 1, sizeof *in))) {
        rc = sieve_errbuf_set(err, SIEVE_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        in[i] = (struct table_input){rows[i].variant, rows[i].sample, rows[i].category,
                                     rows[i].metric, rows[i].value};
    rc = table_build(in, n, opts, out, err);
out:
    free(in);
    store_metric_rows_free(rows, n);
    return rc;
}
