/*
 * cmd_run.c - `sieve run FILE`: plan a pipeline and execute it in this process.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli/cli.h"
#include "cli/run_exec.h"
#include "cli/run_opts.h"

#define MAX_LIST 256

static void
usage(FILE *f)
{
    fprintf(f,
            "usage: sieve run [options] PIPELINE.yaml\n\n"
            "Plans the pipeline over its dataset and matrix and runs every task that is not\n"
            "cached, on a pool of devices, in worker processes. Ctrl-C cancels cleanly (a\n"
            "second Ctrl-C kills); 'sieve resume RUN' continues a cancelled or killed run.\n\n"
            "options:\n"
            "  --set VAR=VALUE          override a matrix variable or node.param "
            "(repeatable)\n" RUN_OPTS_HELP "  -h, --help               show this help\n\n"
            "exit status: 0 all tasks done or cached; 1 a task failed; 2 usage; 130 cancelled\n");
}

int
cmd_run(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"set", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        RUN_OPTS_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    const char *sets[MAX_LIST], *faults[MAX_LIST];
    struct run_exec_opts o = {.verb = "run", .sets = sets};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        int r = run_opts_apply("run", c, optarg, &o, faults, MAX_LIST);
        if (r < 0)
            return CLI_EXIT_USAGE;
        if (r > 0)
            continue;
        switch (c) {
        case 's':
            if (o.n_sets >= MAX_LIST) {
                cli_error("run", "too many --set options");
                return CLI_EXIT_USAGE;
            }
            sets[o.n_sets++] = optarg;
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
    o.pipeline = argv[optind];
    return cli_run_exec(&o);
}
