/*
 * cmd_cancel.c - `sieve cancel RUN`: asks the scheduler running RUN to stop. The request is an
 * event in the store, which the scheduler polls twice a second; it then cancels as on Ctrl-C.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "store/store.h"

static void
usage(FILE *f)
{
    fprintf(f, "usage: sieve cancel [--store DIR] RUN\n\nAsks the scheduler of run RUN to stop "
               "its tasks and mark the run cancelled.\n"
               "RUN is a run id, 'last' (the newest run) or a run name (its newest run).\n");
}

int
cmd_cancel(int argc, char **argv)
{
    const char *store_dir = NULL;
    int status = cli_parse_opts(argc, argv, usage, &store_dir, NULL);
    if (status >= 0)
        return status;
    if (optind != argc - 1)
        return cli_usage(usage, 0);
    int64_t id;
    struct sieve_errbuf err;
    struct store *st;
    struct store_run r = {0};
    if ((status = cli_store_open("cancel", store_dir, &st)) != CLI_EXIT_OK)
        return status;
    if ((status = cli_run_resolve("cancel", st, argv[optind], &id)) != CLI_EXIT_OK ||
        (status = cli_run_get("cancel", st, id, &r)) != CLI_EXIT_OK) {
        store_close(st);
        return status;
    }
    if (strcmp(r.state, "running") && strcmp(r.state, "pending")) {
        printf("run %lld is %s; nothing to cancel\n", (long long)id, r.state);
    } else if (store_event_append(st, id, -1, "cancel-request", "sieve cancel", &err) < 0) {
        cli_error("cancel", "%s", err.msg);
        status = CLI_EXIT_FAIL;
    } else {
        printf("asked run %lld to cancel\n", (long long)id);
    }
    store_run_release(&r);
    store_close(st);
    return status;
}
