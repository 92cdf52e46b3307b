/*
 * cmd_cancel.c - `sieve cancel RUN`: asks the scheduler running RUN to stop. The request is an
 * event in the store, which the scheduler polls twice a second; it then cancels as on Ctrl-C.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "store/store.h"

static void
usage(FILE *f)
{
    fprintf(f, "usage: sieve cancel [--store DIR] RUN\n\nAsks the scheduler of run RUN to stop "
               "its tasks and mark the run cancelled.\n");
}

int
cmd_cancel(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"store", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *store_dir = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        if (c == 's')
            store_dir = optarg;
        else if (c == 'h') {
            usage(stdout);
            return CLI_EXIT_OK;
        } else {
            usage(stderr);
            return CLI_EXIT_USAGE;
        }
    }
    if (optind != argc - 1 || atoll(argv[optind]) <= 0) {
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    int64_t id = atoll(argv[optind]);
    struct sieve_errbuf err;
    struct store *st;
    struct store_run r = {0};
    if (store_open(cli_store_dir(store_dir), &st, &err) < 0) {
        cli_error("cancel", "%s", err.msg);
        return CLI_EXIT_FAIL;
    }
    if (store_run_get(st, id, &r, &err) < 0) {
        cli_error("cancel", "%s", err.msg);
        store_close(st);
        return CLI_EXIT_NOTFOUND;
    }
    int status = CLI_EXIT_OK;
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
