/*
 * cmd_resume.c - `sieve resume RUN`: continue a run whose scheduler was killed or cancelled.
 * What was running goes back to the queue; every finished artifact that still verifies is
 * reused, so no finished task runs again.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include <sieve/plugin.h>

#include "cli.h"
#include "cli_http.h"
#include "run_exec.h"
#include "run_opts.h"
#include "store/store.h"

#define MAX_LIST 256

static void
usage(FILE *f)
{
    fprintf(f, "usage: sieve resume [options] RUN\n\n"
               "Continues run RUN (see 'sieve ls') with the pipeline and --set values it was\n"
               "started with: running tasks are requeued, finished ones are not run again.\n"
               "RUN is a run id, 'last' (the newest run) or a run name (its newest run).\n\n"
               "options:\n" RUN_OPTS_HELP
               "  --store DIR              the store (default $SIEVE_STORE or ./.sieve)\n"
               "  -h, --help               show this help\n");
}

int
cmd_resume(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"help", no_argument, NULL, 'h'},
        {"store", required_argument, NULL, 'S'},
        RUN_OPTS_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    const char *faults[MAX_LIST];
    struct run_exec_opts o = {.verb = "resume"};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        if (c == 'S') {
            o.store_dir = optarg;
            continue;
        }
        int r = run_opts_apply("resume", c, optarg, &o, faults, MAX_LIST);
        if (r < 0)
            return CLI_EXIT_USAGE;
        if (r > 0)
            continue;
        return cli_usage(usage, c == 'h');
    }
    if (optind != argc - 1)
        return cli_usage(usage, 0);
    struct store *st = NULL;
    int status = cli_store_open("resume", o.store_dir, &st);
    if (status == CLI_EXIT_OK)
        status = cli_run_resolve("resume", st, argv[optind], &o.resume_run);
    store_close(st);
    if (status != CLI_EXIT_OK)
        return status;
    struct cli_daemon d;
    struct sieve_errbuf err;
    if (cli_daemon_find(cli_store_dir(o.store_dir), &d, &err) > 0) {
        /* A daemon owns the store: it resumes the run, and this command follows it. */
        char path[64], *resp = NULL;
        snprintf(path, sizeof path, "/api/runs/%lld/resume", (long long)o.resume_run);
        int st2 = cli_http(&d, "POST", path, "{}", &resp, &err);
        free(resp);
        if (st2 < 0 || st2 >= 400) {
            cli_error("resume", "run %lld: %s", (long long)o.resume_run, err.msg);
            return st2 == 404 ? CLI_EXIT_NOTFOUND : CLI_EXIT_FAIL;
        }
        fprintf(stderr, "sieve: run %lld resumed by 'sieve serve' (pid %ld)\n",
                (long long)o.resume_run, d.pid);
        return cli_daemon_follow("resume", &d, o.resume_run);
    }
    return cli_run_exec(&o);
}
