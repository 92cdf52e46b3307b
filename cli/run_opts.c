/*
 * run_opts.c - parsing of the execution options shared by `sieve run` and `sieve resume`.
 */
#include "run_opts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* "500ms", "2s", "1.5" (seconds) → milliseconds, or -1. */
int
run_opts_duration_ms(const char *s)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || v < 0)
        return -1;
    if (!strcmp(end, "ms"))
        return (int)v;
    if (!strcmp(end, "s") || !*end)
        return (int)(v * 1000);
    if (!strcmp(end, "m"))
        return (int)(v * 60000);
    return -1;
}

int
run_opts_apply(const char *verb, int c, const char *arg, struct run_exec_opts *o,
               const char **faults, size_t cap)
{
    int v;
    switch (c) {
    case RUN_OPT_DEVICES:
        o->devices = arg;
        return 1;
    case RUN_OPT_FAULT:
        if (o->n_faults >= cap) {
            cli_error(verb, "too many --fault options");
            return -1;
        }
        faults[o->n_faults++] = arg;
        o->faults = faults;
        return 1;
    case RUN_OPT_MAX_PARALLEL:
        v = atoi(arg);
        if (v < 1) {
            cli_error(verb, "--max-parallel '%s': expected a positive number", arg);
            return -1;
        }
        o->max_parallel = v;
        return 1;
    case RUN_OPT_HEARTBEAT:
    case RUN_OPT_HEARTBEAT_TIMEOUT:
    case RUN_OPT_STALL_TIMEOUT:
    case RUN_OPT_STARTUP_TIMEOUT:
        v = run_opts_duration_ms(arg);
        if (v <= 0) {
            cli_error(verb, "'%s': expected a duration such as 500ms or 10s", arg);
            return -1;
        }
        if (c == RUN_OPT_HEARTBEAT)
            o->heartbeat_ms = v;
        else if (c == RUN_OPT_HEARTBEAT_TIMEOUT)
            o->heartbeat_timeout_ms = v;
        else if (c == RUN_OPT_STALL_TIMEOUT)
            o->stall_timeout_ms = v;
        else
            o->startup_timeout_ms = v;
        return 1;
    case RUN_OPT_SPECULATE_AFTER:
        v = strcmp(arg, "off") ? run_opts_duration_ms(arg) : 0;
        if (v < 0 || (v == 0 && strcmp(arg, "off"))) {
            cli_error(verb, "--speculate-after '%s': expected a duration such as 30s, or off", arg);
            return -1;
        }
        o->speculate_after_ms = v ? v : -1;
        return 1;
    case RUN_OPT_EXECUTOR:
        if (strcmp(arg, "local") && strcmp(arg, "slurm")) {
            cli_error(verb, "--executor '%s': expected local or slurm", arg);
            return -1;
        }
        o->executor = arg;
        return 1;
    case RUN_OPT_SLURM: {
        static const char *sets[RUN_OPTS_SLURM_MAX];
        if (!strchr(arg, '=') || o->n_executor_sets >= RUN_OPTS_SLURM_MAX) {
            cli_error(verb, "--slurm '%s': expected KEY=VALUE (at most %d)", arg,
                      RUN_OPTS_SLURM_MAX);
            return -1;
        }
        sets[o->n_executor_sets++] = arg;
        o->executor_sets = sets;
        return 1;
    }
    case RUN_OPT_STORE:
        o->store_dir = arg;
        return 1;
    case RUN_OPT_DURABILITY:
        if (strcmp(arg, "batch") && strcmp(arg, "strict")) {
            cli_error(verb, "--durability '%s': expected batch or strict", arg);
            return -1;
        }
        o->durability = arg;
        return 1;
    default:
        return 0;
    }
}
