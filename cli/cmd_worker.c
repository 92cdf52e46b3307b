/*
 * cmd_worker.c - `sieve worker`: the worker process the scheduler starts per device slot.
 * Not meant to be run by hand; see core/worker/worker.h for the protocol and fd conventions.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "core/worker/worker.h"

static void
usage(FILE *f)
{
    fprintf(f, "usage: sieve worker [--fd N] [--id ID] [--device DEV] [--heartbeat-ms MS]\n"
               "                    [--plugin-path DIRS] [--cache-states N] [--scratch DIR]\n"
               "                    [--durability batch|strict]\n\n"
               "Runs tasks sent by a scheduler over the framed protocol on fd N (default 3).\n"
               "Started by 'sieve run'; not meant to be run by hand.\n");
}

int
cmd_worker(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"fd", required_argument, NULL, 'f'},
        {"id", required_argument, NULL, 'i'},
        {"device", required_argument, NULL, 'd'},
        {"heartbeat-ms", required_argument, NULL, 'b'},
        {"plugin-path", required_argument, NULL, 'p'},
        {"cache-states", required_argument, NULL, 'c'},
        {"scratch", required_argument, NULL, 's'},
        {"durability", required_argument, NULL, 'D'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct worker_opts o = {.fd = 3, .id = "w0", .device = "cpu", .strict = 1};
    int c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'f':
            o.fd = atoi(optarg);
            break;
        case 'i':
            o.id = optarg;
            break;
        case 'd':
            o.device = optarg;
            break;
        case 'b':
            o.heartbeat_ms = atoi(optarg);
            break;
        case 'p':
            o.plugin_path = optarg;
            break;
        case 'c':
            o.cache_states = atoi(optarg);
            break;
        case 's':
            o.scratch = optarg;
            break;
        case 'D':
            o.strict = strcmp(optarg, "batch") != 0;
            break;
        default:
            return cli_usage(usage, c == 'h');
        }
    }
    if (optind != argc || o.fd < 0) {
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    return worker_main(&o);
}
