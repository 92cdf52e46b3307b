/*
 * host_int.h - helpers shared by the files of the plugin host (host.c, host_params.c).
 * Private to core/: nothing outside the host includes it.
 */
#ifndef SIEVE_CORE_HOST_INT_H
#define SIEVE_CORE_HOST_INT_H

#include <stddef.h>

#include <sieve/plugin.h>

/* Whether `s` is a non-empty run of [a-z0-9_] (with '-' too when `dash` is set). */
int host_name_valid(const char *s, int dash);

/*
 * The plugin name a file name implies: "sieve-topk.so" and "topk.so" both give "topk".
 * Returns 0 and writes into `name`, or -1 when the file is not a plugin candidate.
 */
int host_name_from_file(const char *path, char *name, size_t cap);

/* Levenshtein distance between two short names (case-sensitive). */
size_t host_edit_distance(const char *a, const char *b);

/*
 * Checks one parameter row of a plugin's table (name, type, bounds, choices, default).
 * Returns 0, or SIEVE_EABI with the reason in err (without the plugin's path).
 */
int host_param_row_check(const struct sieve_param *row, struct sieve_errbuf *err);

/*
 * Checks a descriptor against the host's ABI and the rules of sieve/plugin.h. `expect` is the
 * name implied by the file name; `path` names the plugin in messages.
 * Returns 0, or SIEVE_EABI with the reason in err.
 */
int host_descriptor_check(const char *path, const char *expect, const struct sieve_plugin *d,
                          struct sieve_errbuf *err);

struct host_script;
/* Frees what a script plugin owns (its synthesized descriptor); accepts NULL. */
void host_script_release(struct host_script *s);

#endif
