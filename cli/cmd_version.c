/*
 * cmd_version.c - `sieve version`: the program and plugin ABI versions.
 */
#include <stdio.h>

#include "cli.h"
#include <sieve/plugin.h>

int
cmd_version(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    printf("sieve 0.1.0 (plugin ABI %d.%d)\n", SIEVE_ABI_MAJOR, SIEVE_ABI_MINOR);
    return CLI_EXIT_OK;
}
