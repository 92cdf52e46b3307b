/*
 * host.h - the plugin host: finds plugin files, loads and checks their descriptors, validates
 * parameters against their tables, and runs a plugin on bundles.
 *
 * Search path, first match of a name wins: $SIEVE_PLUGIN_PATH (colon-separated directories
 * or single .so files), then the build tree's plugins directory, then the install directory;
 * each directory is read in sorted order. A file `<name>.so` or `sieve-<name>.so` is a plugin
 * candidate.
 *
 * Loading is defensive: a registry scan opens each candidate in a forked child first, so a
 * plugin that crashes in its constructor or entry function is reported ("plugin
 * 'x.so': crashed while loading (signal 11)") and skipped, and the host keeps going. Each
 * rejection is one line naming the file and the reason (wrong ABI major, newer minor, missing
 * entry symbol, name mismatch, malformed parameter table). A child that has not answered
 * within 5 s (SIEVE_PLUGIN_LOAD_TIMEOUT_MS overrides) is killed and reported the same way.
 * The child keeps its stderr quiet and restores default fault handlers, so what reaches the
 * user is the one line, and a fault always ends the child.
 * When two files give the same plugin name, the first on the search path wins, whether or not
 * it loads: a broken override is reported, never silently replaced by another copy.
 *
 * Usage:
 *     struct host_registry *reg;
 *     host_registry_scan(NULL, &reg, &err);         // NULL = default search path
 *     const struct host_plugin *p = host_registry_find(reg, "example-topk");
 *     struct sieve_value *vals;
 *     host_params_build(p, keys, values, n, &vals, &err);
 *     ... runner_run(p, vals, ctx, inputs, outputs, &err) ...   // core/worker/runner.h
 *     host_params_free(p, vals);
 *     host_registry_free(reg);
 */
#ifndef SIEVE_CORE_HOST_H
#define SIEVE_CORE_HOST_H

#include <stddef.h>

#include <sieve/plugin.h>

struct host_script;

struct host_plugin {
    char *name;                      /* equal to the file name without sieve- and .so */
    char *path;                      /* absolute path of the .so */
    void *handle;                    /* dlopen handle */
    /* Validated descriptor: points at `full` for a .so plugin, or at the descriptor `script`
     * owns for a script node's plugin. */
    const struct sieve_plugin *desc;
    /* The plugin's descriptor copied at the host's size: fields an older plugin's shorter
     * descriptor lacks are zero (NULL), so the host reads every field without size checks. */
    struct sieve_plugin full;
    /* Non-NULL for a script node's plugin (host_script_open): it owns `desc`, which was
     * synthesized from the script's declaration; `handle` is then NULL (the bridge's). */
    struct host_script *script;
};

struct host_registry;

/*
 * Scans `path` (colon-separated directories or .so files; NULL for the default search path)
 * and loads every valid plugin. Rejected plugins are listed as problems
 * (host_registry_problem_*), not errors: the scan fails only on out-of-memory. A directory
 * named explicitly (in `path` or $SIEVE_PLUGIN_PATH) that cannot be read is a problem too.
 * Thread: forks one short-lived child per candidate; call it before starting threads that
 * hold locks the child could need (malloc's are safe with glibc).
 * Ownership: the caller frees *out with host_registry_free.
 */
int host_registry_scan(const char *path, struct host_registry **out, struct sieve_errbuf *err);
void host_registry_free(struct host_registry *reg);

size_t host_registry_count(const struct host_registry *reg);
const struct host_plugin *host_registry_at(const struct host_registry *reg, size_t i);
const struct host_plugin *host_registry_find(const struct host_registry *reg, const char *name);
/* The loaded plugin whose name is closest to `name` (edit distance at most 2), or NULL. */
const char *host_registry_suggest(const struct host_registry *reg, const char *name);
/* One-line messages for rejected files: "plugin '/x/bad.so': ABI major 2, host supports 1". */
size_t host_registry_problem_count(const struct host_registry *reg);
const char *host_registry_problem_at(const struct host_registry *reg, size_t i);

/*
 * Loads one plugin file in this process (no child), checking the descriptor fully.
 * Errors: SIEVE_ENOENT, SIEVE_EABI (with the reason in err). Ownership: host_plugin_free.
 */
int host_plugin_open(const char *path, struct host_plugin **out, struct sieve_errbuf *err);
void host_plugin_free(struct host_plugin *p);

/* Index of a port or parameter by name, or -1. */
int host_plugin_input_index(const struct host_plugin *p, const char *name);
int host_plugin_output_index(const struct host_plugin *p, const char *name);
int host_plugin_param_index(const struct host_plugin *p, const char *name);

/* Writes the port names as "a, b, c" ("none" for no port) into buf, truncated to fit; for
 * messages that list what a plugin offers. */
void host_port_names(const struct sieve_port *ports, uint32_t n, char *buf, size_t cap);

/*
 * Parses one textual value (a YAML scalar or flow list) for parameter `row`.
 * Errors: SIEVE_EINVAL with a message like "parameter 'keep': 1.5 is above the maximum 1".
 * Ownership: release with host_value_release.
 */
int host_value_parse(const struct sieve_param *row, const char *text, struct sieve_value *out,
                     struct sieve_errbuf *err);
void host_value_release(struct sieve_value *v);

/*
 * Like host_value_parse, for a scalar a YAML parser has already unquoted: `text` is taken
 * as it is (a STRING keeps its spaces and quote characters), numbers and booleans parse as
 * usual. For a LIST row the value becomes a list of one item.
 */
int host_value_parse_literal(const struct sieve_param *row, const char *text,
                             struct sieve_value *out, struct sieve_errbuf *err);

/*
 * Builds a LIST value from `n` literal items (a YAML flow or block sequence after parsing),
 * each checked against the row's item type and bounds ("parameter 'sizes': item 2: 0 is
 * below the minimum 1"). For a non-LIST row, n must be 1.
 */
int host_value_parse_items(const struct sieve_param *row, const char *const *items, size_t n,
                           struct sieve_value *out, struct sieve_errbuf *err);

/*
 * Builds the full value array for `p` from n key/text pairs, filling defaults, rejecting
 * unknown names, missing required parameters and ill-typed or out-of-range values. The array
 * has one more value than rows, zeroed (type 0): the script bridge counts values by it.
 * Ownership: the caller frees *out with host_params_free.
 */
int host_params_build(const struct host_plugin *p, const char *const *keys,
                      const char *const *texts, size_t n, struct sieve_value **out,
                      struct sieve_errbuf *err);
void host_params_free(const struct host_plugin *p, struct sieve_value *vals);

/* One parameter as a YAML parser delivers it: a scalar (one item) or a sequence. */
struct host_param_literal {
    const char *key;
    const char *const *items; /* already unquoted values; one for a scalar */
    size_t n;
    int is_list; /* the node was a sequence */
};

/*
 * host_params_build for values that come from a YAML parser rather than as text: scalars are
 * taken literally (host_value_parse_literal), sequences item by item; a sequence for a
 * non-list parameter is an error. Messages and ownership as host_params_build.
 */
int host_params_build_literal(const struct host_plugin *p, const struct host_param_literal *given,
                              size_t n, struct sieve_value **out, struct sieve_errbuf *err);

/*
 * The canonical text of a value array: sorted keys, normalised numbers (shortest round-trip
 * form, 1 and 1.0 equal for FLOAT), one JSON object with every parameter. It is what a worker
 * builds plugin state from (run-task sends it), so two texts are equal exactly when the plugin
 * sees the same values.
 * Returns: the text, or NULL when out of memory.
 * Ownership: the caller frees the string.
 */
char *host_params_canonical(const struct host_plugin *p, const struct sieve_value *vals);

/*
 * The canonical text without the parameters flagged SIEVE_PARAM_NO_KEY: what task keys hash.
 * For a plugin without such parameters it is byte-identical to host_params_canonical, so keys
 * made before the flag existed stay valid.
 * Returns: the text, or NULL when out of memory.
 * Ownership: the caller frees the string.
 */
char *host_params_key_text(const struct host_plugin *p, const struct sieve_value *vals);

/*
 * The canonical text of one value, as it appears in host_params_canonical ("0.5", "\"uniform\"",
 * "[4,8]"): two values are the same to the plugin exactly when their texts are equal.
 * Returns: the text, or NULL when out of memory.
 * Ownership: the caller frees the string.
 */
char *host_value_canonical(const struct sieve_value *v);

/* "int", "float", "string", "bool", "enum", "list" (or "unknown"); never NULL. */
const char *host_param_type_name(uint32_t type);

/*
 * Writes `v` in its shortest form that reads back as the same double ("0.5", "1", "1e-07");
 * -0 is written "0". This is the number form of canonical parameters and of messages.
 */
void host_number_format(double v, char *buf, size_t cap);

/* ---------------------------------------------------------------------------------------- */
/* Script nodes (the `python` plugin)                                                        */
/* ---------------------------------------------------------------------------------------- */

/*
 * A script node is a node of the bridge plugin `python` (plugins/python) whose ports and
 * parameters come from the script it names, not from the bridge's own descriptor. The host
 * reads the script's declaration without running it (`python -m sieve_node.declare`, which
 * parses a literal SIEVE dict and checks syntax and imports) and synthesizes a descriptor:
 *
 *   name      "python" (the bridge: workers find the bridge by it)
 *   version   "<declared version>+sha256.<first 16 hex digits of the script's content hash>",
 *             so editing the script or bumping its version changes every key below it
 *   params    `script` (STRING, required, NO_KEY: its content is in the version), `python`
 *             (STRING, default "python3", NO_KEY), then the declared ones in their order
 *   ports, flags, row_fields   as declared; callbacks   the bridge's
 *
 * The planner stores `script` as "<absolute file>[:Class]#sha256=<64 hex>" (a pinned target);
 * a worker that finds another hash in the file refuses the task instead of computing with a
 * script the key does not describe (host_script_pin_check).
 */
#define HOST_SCRIPT_BRIDGE "python"
#define HOST_SCRIPT_PIN "#sha256="

/* Whether `p` is the script bridge (its nodes need host_script_open). */
int host_plugin_is_script_bridge(const struct host_plugin *p);

/* Where a declaration problem is: the script's path, 1-based line and column (0: unknown). */
struct host_script_where {
    char file[1024];
    unsigned line, col;
};

/*
 * Reads the declaration of `target` (path.py, path.py:Class or package.module:Class; a pin
 * suffix is ignored) with interpreter `python` (a command, a path, or a venv/conda directory
 * whose bin/python is used; NULL: "python3") and returns a plugin with the synthesized
 * descriptor. `pinned` receives the pinned target ("<file>[:Class]#sha256=<hex>"), may be NULL.
 * Errors: SIEVE_ESPEC for a problem in the script (syntax error, missing import, malformed
 * declaration), with `where` set; SIEVE_ENOENT when the interpreter or the helper module
 * cannot be run; SIEVE_ENOMEM. The message in err does not repeat the location.
 * Ownership: the caller frees *out with host_plugin_free and *pinned with free().
 * Thread: forks and waits for one child (a second or so for a slow interpreter start).
 */
int host_script_open(const struct host_plugin *bridge, const char *python, const char *target,
                     struct host_plugin **out, char **pinned, struct host_script_where *where,
                     struct sieve_errbuf *err);

/*
 * Checks that a pinned target's hash is the one `p` was synthesized from.
 * Errors: SIEVE_EBADINPUT ("script '...' changed since the run was planned").
 */
int host_script_pin_check(const struct host_plugin *p, const char *pinned,
                          struct sieve_errbuf *err);

/* The directory of the sieve_node Python package shipped beside the bridge at `bridge_path`
 * ($SIEVE_PYTHON_LIB overrides). Writes into buf. */
void host_script_lib_dir(const char *bridge_path, char *buf, size_t cap);

#endif
