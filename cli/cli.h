/*
 * cli.h - the `sieve` command: one verb per file, one row per verb in the table of main.c.
 *
 * Adding a verb (git's builtin.h checklist):
 *   1. write cli/cmd_<verb>.c with `int cmd_<verb>(int argc, char **argv)`; argv[0] is the
 *      verb; parse options with getopt_long; print --help to stdout and exit 0;
 *   2. declare it below and add a row to the table in cli/main.c (keep it sorted);
 *   3. add a test under tests/integration/ and a section in docs/cli.md.
 *
 * Exit codes (documented in docs/cli.md): 0 success; 1 the work failed (a task failed, a file
 * is invalid); 2 usage error (bad option or argument); 3 nothing found (no such run, plugin
 * or file); 130 interrupted.
 */
#ifndef SIEVE_CLI_H
#define SIEVE_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum cli_exit {
    CLI_EXIT_OK = 0,
    CLI_EXIT_FAIL = 1,
    CLI_EXIT_USAGE = 2,
    CLI_EXIT_NOTFOUND = 3,
    CLI_EXIT_INTERRUPTED = 130,
};

/* Maps a SIEVE_E* code to an exit status. */
int cli_exit_from_error(int code);

/* Prints "sieve <verb>: <message>" to stderr. */
void cli_error(const char *verb, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* The store directory: --store value if given, else $SIEVE_STORE, else "./.sieve". */
const char *cli_store_dir(const char *opt);

/* ---- shared by the verbs (cli/cli_util.c) ---- */

struct json_t;
struct store;
struct store_run;

/*
 * Prints the verb's usage: to stdout for --help, to stderr after a usage error.
 * Returns: the exit status to return, 0 for help and 2 otherwise.
 */
int cli_usage(void (*usage)(FILE *f), int help);

/*
 * Parses the options of a verb that takes only --store DIR (when `store` is not NULL), --json
 * (when `json` is not NULL) and --help, setting *store and *json; the operands are left at
 * argv[optind..]. Returns: -1 when the verb should go on, else the exit status to return now
 * (after --help or a bad option, with the usage printed).
 */
int cli_parse_opts(int argc, char **argv, void (*usage)(FILE *f), const char **store, int *json);

/*
 * Opens the store given by --store (see cli_store_dir).
 * Returns: 0, or exit status 1 with "sieve <verb>: <why>" printed.
 * Ownership: the caller closes *st with store_close.
 */
int cli_store_open(const char *verb, const char *store_opt, struct store **st);

/*
 * Reads run `id` into *run. Returns: 0, or exit status 3 with the reason printed.
 * Ownership: on success the caller releases *run with store_run_release.
 */
int cli_run_get(const char *verb, struct store *st, int64_t id, struct store_run *run);

/*
 * Resolves the RUN operand the way every verb that takes a run reads it (status, logs,
 * cancel, resume, table, explain): a run id ("12"), "last" (the newest run; "latest" is the
 * same), or a run name (the newest run of that pipeline name). An id must name an existing
 * run. Returns: 0 with *id set, or the exit status with "sieve <verb>: <why>" printed: 3 when
 * no run matches (`no run 'x'`), 1 when the store cannot be read.
 */
int cli_run_resolve(const char *verb, struct store *st, const char *ref, int64_t *id);

/*
 * The state to show for run `r`: its recorded state, or "interrupted" when it is pending or
 * running but no process holds its lease (store_run_lease_held: its scheduler is gone).
 */
const char *cli_run_state_shown(struct store *st, const struct store_run *r);

/* Says on stderr when the store's index is empty but objects are on disk (an emptied
 * sieve.db), and that `sieve cache reindex` gets them back. */
void cli_index_lost_hint(const char *verb, struct store *st);

/* 1 when `ref` names a run by its form alone (an id, "last" or "latest"), whatever the store
 * holds: `sieve explain` then never reads it as a pipeline file. Else 0. */
int cli_run_ref_is_run(const char *ref);

/*
 * Prints a JSON document encoded with json_dumps `flags`, and a newline, to stdout.
 * Returns: 0, or -1 when it could not be encoded (out of memory).
 * Ownership: takes the caller's reference to `doc`.
 */
int cli_json_print(struct json_t *doc, size_t flags);

int cmd_cache(int argc, char **argv);
int cmd_explain(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_table(int argc, char **argv);
struct host_registry;
struct host_plugin;
/*
 * Finds plugin `name` in `reg` for `verb`; when it is missing, prints why (the file was
 * rejected, or a close name) and returns the exit status (1 rejected, 3 unknown).
 */
int cli_plugin_lookup(const struct host_registry *reg, const char *verb, const char *name,
                      const struct host_plugin **out);

int cmd_apply(int argc, char **argv);
int cmd_plugins(int argc, char **argv);
int cmd_worker(int argc, char **argv);
int cmd_cancel(int argc, char **argv);
int cmd_devices(int argc, char **argv);
int cmd_logs(int argc, char **argv);
int cmd_ls(int argc, char **argv);
int cmd_resume(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_submit(int argc, char **argv);
int cmd_version(int argc, char **argv);

/*
 * Plans a pipeline file for `verb` (cli/cli_plan.c; `sieve run`, `sieve explain FILE`): scans
 * plugins, opens the store, and runs plan_prepare (parse, --set, validate, plan, cache lookup),
 * printing every diagnostic.
 * Returns: 0 with all three outputs set, or an exit status with none of them held.
 * Ownership: the caller frees plan, store and registry.
 */
struct plan;
struct plan_opts;
struct store;
struct host_registry;
int cli_plan_prepare(const char *verb, const struct plan_opts *o, const char *store_opt,
                     struct host_registry **reg, struct store **st, struct plan **plan);
/*
 * Asks `o` to verify the cached inputs of the plan (plan_verify_inputs) unless
 * $SIEVE_VERIFY_INPUTS is "off" (for bench/integrity only), printing each corrupt object as
 * "sieve <verb>: cached object <key>: <problem>" on stderr.
 */
void cli_plan_verify_opts(const char *verb, struct plan_opts *o);
/* Says on stderr how many cached inputs were verified (bytes, time), and what verification
 * dropped, when it dropped anything (also as a "verify" event of run `run`). */
void cli_plan_verify_report(const struct plan *p, struct store *st, int64_t run);
/* Prints the dry-run plan (cli/cmd_run.c): per node tasks, cached, to run, and totals (text or
 * JSON). */
int cli_run_print_plan(const struct plan *p, int json, FILE *f);

#endif
