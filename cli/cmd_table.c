/*
 * cmd_table.c - `sieve table RUN [--metric NAME] [--format md|csv|json|latex] [--pivot VAR]
 * [--category NAME] [--node NODE] [--store DIR]`: the results table of a run.
 *
 * RUN is a run id, a run name (its newest run) or `last` (cli_run_resolve, as for every verb
 * that takes a run). The rows are the metric rows the scheduler stored from `sieve.metrics`
 * (evaluate-reduce's per-category means, or evaluate's per-sample rows, averaged) for the
 * task keys of the run's done and cached tasks, so a cached task shows the rows of the
 * artifact it reused (store_metrics_query); table_run_build reads them (the HTTP API's
 * table calls the same function) and core/table/table.c lays them out (variants
 * as rows, categories and Avg as columns, or one matrix variable's values as columns with
 * --pivot).
 * Exit codes: 0; 1 store failure; 2 usage; 3 no such run or no such metric.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "core/table/table.h"
#include "store/store.h"

static void
usage(FILE *f)
{
    fputs("usage: sieve table RUN [options]\n"
          "\n"
          "Prints the results table of a run: one row per variant (matrix values), one column\n"
          "per category and Avg. RUN is a run id, a run name (its newest run) or 'last'.\n"
          "\n"
          "options:\n"
          "  --metric NAME     metric to show (default: retention, else the first one)\n"
          "  --format FMT      md (default), csv, json or latex\n"
          "  --pivot VAR       put the values of matrix variable VAR in the columns\n"
          "  --category NAME   with --pivot: the category shown (default: all = Avg)\n"
          "  --node NODE       only rows from this node\n"
          "  --store DIR       store directory (default $SIEVE_STORE or ./.sieve)\n"
          "  -h, --help        this help\n",
          f);
}

int
cmd_table(int argc, char **argv)
{
    static const struct option opts[] = {
        {"metric", required_argument, NULL, 'm'}, {"format", required_argument, NULL, 'f'},
        {"pivot", required_argument, NULL, 'p'},  {"category", required_argument, NULL, 'c'},
        {"node", required_argument, NULL, 'n'},   {"store", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    struct table_opts to = {0};
    const char *store_opt = NULL, *node = NULL;
    int format = TABLE_MD, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'm':
            to.metric = optarg;
            break;
        case 'f':
            format = table_format_parse(optarg);
            if (format < 0) {
                cli_error("table", "unknown format '%s' (md, csv, json, latex)", optarg);
                return CLI_EXIT_USAGE;
            }
            break;
        case 'p':
            to.pivot = optarg;
            break;
        case 'c':
            to.category = optarg;
            break;
        case 'n':
            node = optarg;
            break;
        case 's':
            store_opt = optarg;
            break;
        case 'h':
            usage(stdout);
            return CLI_EXIT_OK;
        default:
            usage(stderr);
            return CLI_EXIT_USAGE;
        }
    }
    if (optind != argc - 1) {
        usage(stderr);
        return CLI_EXIT_USAGE;
    }

    struct sieve_errbuf err = {{0}};
    struct store *st = NULL;
    struct table *t = NULL;
    int64_t run;
    int rc, status;
    if ((status = cli_store_open("table", store_opt, &st)) != CLI_EXIT_OK)
        return status;
    if ((status = cli_run_resolve("table", st, argv[optind], &run)) != CLI_EXIT_OK) {
        store_close(st);
        return status;
    }
    rc = table_run_build(st, run, node, &to, &t, &err);
    if (rc == 0 && format == TABLE_MD)
        printf("%s, run %lld\n\n", table_metric(t), (long long)run);
    if (rc == 0 && table_write(t, format, stdout) < 0)
        rc = sieve_errbuf_set(&err, SIEVE_EIO, "write the table: output error");
    if (rc < 0)
        cli_error("table", "%s", err.msg);
    table_free(t);
    store_close(st);
    return cli_exit_from_error(rc);
}
