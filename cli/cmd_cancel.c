/*
 * cmd_cancel.c - `sieve cancel RUN`: asks the scheduler running RUN to stop. The request is an
 * event in the store, which the scheduler polls twice a second; it then cancels as on Ctrl-C.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "base/err.h"
#include "store/store.h"

static void
usage(FILE *f)
{
    fprintf(f, "usage: sieve cancel [--store DIR] RUN\n\nAsks the scheduler of run RUN to stop "
               "its tasks and mark the run cancelled.\n"
               "RUN is a run id, 'last' (the newest run) or a run name (its newest run).\n");
}

/*
 * A live run is asked through an event; a dead one (nobody holds its lease) is marked
 * cancelled here, which also unpins its artifacts for `cache gc`. Taking the lease for that
 * keeps a `sieve resume` from starting in between.
 */
static int
cancel(struct store *st, int64_t id)
{
    struct sieve_errbuf err;
    struct store_lock *lease;
    int rc = store_run_lease_take(st, id, &lease, &err);

    if (rc == SIEVE_EEXIST) {
        if (store_event_append(st, id, -1, "cancel-request", "sieve cancel", &err) < 0)
            goto fail;
        printf("asked run %lld to cancel\n", (long long)id);
        return CLI_EXIT_OK;
    }
    if (rc < 0)
        goto fail;
    /* What the dead scheduler left running or ready goes back to pending, as resume would. */
    if ((rc = store_tasks_requeue(st, id, &err)) < 0 ||
        (rc = store_run_set_state(st, id, STORE_RUN_CANCELLED,
                                  "cancelled after its scheduler had died", &err)) < 0 ||
        (rc = store_event_append(st, id, -1, "cancel", "sieve cancel: the scheduler was gone",
                                 &err)) < 0) {
        store_lock_free(lease);
        goto fail;
    }
    store_lock_free(lease);
    printf("run %lld was interrupted (its scheduler is gone): marked cancelled; 'sieve resume "
           "%lld' continues it\n",
           (long long)id, (long long)id);
    return CLI_EXIT_OK;
fail:
    cli_error("cancel", "%s", err.msg);
    return CLI_EXIT_FAIL;
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
    } else {
        status = cancel(st, id);
    }
    store_run_release(&r);
    store_close(st);
    return status;
}
