/*
 * cmd_submit.c - `sieve submit FILE`: validate a pipeline here (every file:line:col error at
 * once, as `sieve run` does), send it to the daemon serving the store, print the run id, and
 * with --wait follow it to its end.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "cli_http.h"
#include "base/err.h"
#include "core/host/host.h"
#include "core/plan/plan.h"
#include "store/store.h"

static void
usage(FILE *f)
{
    fprintf(
        f, "usage: sieve submit FILE [--set VAR=VALUE]... [--priority N] [--wait] [--store DIR]\n\n"
           "Validates FILE, then submits it as a new run to the 'sieve serve' that owns the\n"
           "store, and prints the run id. Runs of higher priority are dispatched first;\n"
           "runs of equal priority advance sample by sample side by side.\n\n"
           "options:\n"
           "  --set VAR=VALUE    override a matrix variable or a node parameter\n"
           "  --priority N       the run's priority (default 0; higher runs first)\n"
           "  --wait             follow the run and exit with its status\n"
           "                     (0 done, 1 failed, 130 cancelled; Ctrl-C cancels it)\n"
           "  --store DIR        the store (default $SIEVE_STORE or ./.sieve)\n"
           "  -h, --help         show this help\n");
}

int
cmd_submit(int argc, char **argv)
{
    static const struct option opts[] = {
        {"set", required_argument, NULL, 's'}, {"priority", required_argument, NULL, 'p'},
        {"wait", no_argument, NULL, 'w'},      {"store", required_argument, NULL, 'S'},
        {"help", no_argument, NULL, 'h'},      {NULL, 0, NULL, 0},
    };
    const char **sets = calloc((size_t)argc + 1, sizeof *sets);
    struct plan_opts po = {0};
    const char *store_opt = NULL;
    int wait = 0, priority = 0, ch, status;
    char *end;

    if (!sets)
        return CLI_EXIT_FAIL;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "s:p:wS:h", opts, NULL)) != -1) {
        switch (ch) {
        case 's':
            sets[po.n_sets++] = optarg;
            break;
        case 'p':
            priority = (int)strtol(optarg, &end, 10);
            if (end == optarg || *end) {
                cli_error("submit", "--priority '%s': expected an integer", optarg);
                free(sets);
                return CLI_EXIT_USAGE;
            }
            break;
        case 'w':
            wait = 1;
            break;
        case 'S':
            store_opt = optarg;
            break;
        default:
            free(sets);
            return cli_usage(usage, ch == 'h');
        }
    }
    if (optind != argc - 1) {
        free(sets);
        return cli_usage(usage, 0);
    }
    struct sieve_errbuf err = {{0}};
    struct cli_daemon d;
    const char *dir = cli_store_dir(store_opt);
    int found = cli_daemon_find(dir, &d, &err);
    if (found <= 0) {
        if (found < 0)
            cli_error("submit", "%s", err.msg);
        else
            cli_error("submit",
                      "no 'sieve serve' is serving store '%s'; start one with 'sieve serve "
                      "--store %s' (or run the pipeline here with 'sieve run')",
                      dir, dir);
        free(sets);
        return CLI_EXIT_FAIL;
    }
    struct host_registry *reg;
    struct store *st;
    struct plan *plan;
    po.path = argv[optind];
    po.sets = sets;
    if ((status = cli_plan_prepare("submit", &po, store_opt, &reg, &st, &plan)) != 0) {
        free(sets);
        return status;
    }
    int64_t run = 0;
    status = cli_daemon_submit("submit", &d, plan, sets, po.n_sets, priority, &run);
    plan_free(plan);
    store_close(st);
    host_registry_free(reg);
    free(sets);
    if (status != CLI_EXIT_OK)
        return status;
    printf("%lld\n", (long long)run);
    fflush(stdout);
    return wait ? cli_daemon_follow("submit", &d, run) : CLI_EXIT_OK;
}
