/*
 * cmd_serve.c - `sieve serve`: the long-lived scheduler that owns a store and its devices,
 * runs submitted runs side by side and serves the HTTP API (cli/serve.c).
 */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "run_opts.h"
#include "serve.h"

#define MAX_LIST 256

enum { OPT_LISTEN = 2000, OPT_ALLOW_REMOTE, OPT_GRACE, OPT_STATIC };

/*
 * The web page's files when --static is not given: an installed sieve serves
 * <prefix>/share/sieve/web (found next to the binary, so a moved prefix still works), a
 * sieve run from its build tree serves the source tree's web/static (SIEVE_SOURCE_STATIC_DIR,
 * set by CMake). NULL when neither has an index.html: the API alone is served.
 */
static const char *
default_static_dir(char *buf, size_t len)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0';
            snprintf(buf, len, "%s/../share/sieve/web/index.html", exe);
            if (access(buf, R_OK) == 0) {
                buf[strlen(buf) - strlen("/index.html")] = '\0';
                return buf;
            }
        }
    }
#ifdef SIEVE_SOURCE_STATIC_DIR
    snprintf(buf, len, "%s/index.html", SIEVE_SOURCE_STATIC_DIR);
    if (access(buf, R_OK) == 0)
        return SIEVE_SOURCE_STATIC_DIR;
#endif
    return NULL;
}

static void
usage(FILE *f)
{
    fprintf(f,
            "usage: sieve serve [options]\n\n"
            "Runs one scheduler for good on a store: it owns the store and the device pool,\n"
            "runs every submitted run (sieve submit, sieve run, the HTTP API) side by side,\n"
            "computes work that runs share once, and resumes interrupted runs when it\n"
            "starts. SIGTERM or Ctrl-C stops it: running tasks get the grace period, the\n"
            "rest goes on at the next start.\n\n"
            "options:\n"
            "  --listen ADDR            HTTP address (default 127.0.0.1:8470; port 0 picks one)\n"
            "  --allow-remote           allow a --listen address other than loopback\n"
            "  --grace DUR              running tasks get this long when stopping (default 30s)\n"
            "  --static DIR             serve the web page's files from DIR at / (default: the\n"
            "                           installed share/sieve/web, else the source web/static)\n"
            RUN_OPTS_HELP
            "  -h, --help               show this help\n");
}

int
cmd_serve(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"help", no_argument, NULL, 'h'},
        {"store", required_argument, NULL, 'S'},
        {"listen", required_argument, NULL, OPT_LISTEN},
        {"allow-remote", no_argument, NULL, OPT_ALLOW_REMOTE},
        {"grace", required_argument, NULL, OPT_GRACE},
        {"static", required_argument, NULL, OPT_STATIC},
        RUN_OPTS_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    const char *faults[MAX_LIST];
    struct serve_opts o = {.run = {.verb = "serve"}};
    char static_buf[PATH_MAX + 32];
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'S':
            o.run.store_dir = optarg;
            continue;
        case OPT_LISTEN:
            o.listen = optarg;
            continue;
        case OPT_ALLOW_REMOTE:
            o.allow_remote = 1;
            continue;
        case OPT_STATIC:
            o.static_dir = optarg;
            continue;
        case OPT_GRACE:
            if ((o.grace_ms = run_opts_duration_ms(optarg)) <= 0) {
                cli_error("serve", "--grace '%s': expected a duration like 30s", optarg);
                return CLI_EXIT_USAGE;
            }
            continue;
        default:
            break;
        }
        int r = run_opts_apply("serve", c, optarg, &o.run, faults, MAX_LIST);
        if (r < 0)
            return CLI_EXIT_USAGE;
        if (r > 0)
            continue;
        return cli_usage(usage, c == 'h');
    }
    if (optind != argc)
        return cli_usage(usage, 0);
    o.run.faults = faults;
    if (!o.static_dir)
        o.static_dir = default_static_dir(static_buf, sizeof static_buf);
    return serve_run(&o);
}
