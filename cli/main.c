/*
 * main.c - entry point of the `sieve` command and its dispatch table.
 */
#include "cli.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"

struct cli_command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
};

/* Sorted by name. */
static const struct cli_command commands[] = {
    {"apply", cmd_apply, "run one plugin on bundle files, outside any pipeline"},
    {"cache", cmd_cache, "list, garbage-collect or verify the artifact cache"},
    {"cancel", cmd_cancel, "ask a running scheduler to cancel its run"},
    {"devices", cmd_devices, "list devices and their recorded health"},
    {"explain", cmd_explain, "say why a node's tasks missed the cache"},
    {"inspect", cmd_inspect, "print the tensors and metadata of a bundle file"},
    {"logs", cmd_logs, "show a run's events or a task's captured log"},
    {"ls", cmd_ls, "list runs"},
    {"plugins", cmd_plugins, "list plugins, or show one plugin's ports and parameters"},
    {"resume", cmd_resume, "continue a killed or cancelled run"},
    {"run", cmd_run, "run a pipeline on the device pool"},
    {"serve", cmd_serve, "run the scheduler daemon that owns a store, with its HTTP API"},
    {"status", cmd_status, "show where a run stands"},
    {"submit", cmd_submit, "submit a pipeline to the daemon serving the store"},
    {"table", cmd_table, "print the results table of a run (variants x categories)"},
    {"version", cmd_version, "print the version of sieve and of the plugin ABI"},
    {"worker", cmd_worker, "run tasks for a scheduler (started by sieve run)"},
};

static void
usage(FILE *f)
{
    fprintf(f, "usage: sieve <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\nRun 'sieve <command> --help' for a command's options.\n");
}

int
cli_exit_from_error(int code)
{
    switch (code) {
    case SIEVE_OK:
        return CLI_EXIT_OK;
    case SIEVE_EINVAL:
        return CLI_EXIT_USAGE;
    case SIEVE_ENOENT:
        return CLI_EXIT_NOTFOUND;
    case SIEVE_ECANCELED:
        return CLI_EXIT_INTERRUPTED;
    default:
        return CLI_EXIT_FAIL;
    }
}

void
cli_error(const char *verb, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "sieve %s: ", verb);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

const char *
cli_store_dir(const char *opt)
{
    const char *env = getenv("SIEVE_STORE");
    if (opt && opt[0])
        return opt;
    if (env && env[0])
        return env;
    return ".sieve";
}

int
main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return CLI_EXIT_OK;
    }
    if (!strcmp(argv[1], "--version"))
        return cmd_version(argc - 1, argv + 1);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "sieve: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return CLI_EXIT_USAGE;
}
