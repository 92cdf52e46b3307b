/*
 * spec.h - the pipeline spec: a YAML file parsed (libyaml) into nodes, a dataset and a
 * parameter matrix, then validated against the plugin registry.
 *
 * Schema (docs/pipeline-yaml.md is the reference):
 *   name: text
 *   dataset:  { manifest: FILE (.jsonl or .csv; rows with id, media, category, ...)
 *             | glob: PATTERN ; limit: N }
 *   matrix:   { var: [v1, v2, ...], ... }         cartesian product
 *   defaults: { retries: N, timeout: SECONDS, resources: { gpu: 0|1 } }
 *   nodes:    { NAME: { plugin: P, in: { port: NODE | NODE.PORT }, with: { param: value },
 *                       resources: { gpu: 0|1 }, retries: N, timeout: SECONDS } }
 *
 * Substitution: a `with` value that is exactly "${var}" takes the matrix value as it is (a
 * number stays a number, a list a list); "${var}" inside a longer string substitutes text.
 * YAML anchors and aliases are resolved by the parser. Media paths of a manifest are relative
 * to the manifest's directory; a glob is relative to the pipeline file's directory.
 *
 * Diagnostics: every problem is collected (parsing goes on after the first one) as
 * "file:line:col: message" (1-based line and column of the offending YAML node) or
 * "manifest:line: message" for a manifest row. Warnings (an unused matrix variable) are
 * prefixed "warning: " after the location and do not fail validation.
 *
 * Invariants after spec_validate() returned 0: every node has a plugin, every required input
 * port is wired to an existing node's existing output port, the graph is acyclic, every
 * parameter text validates for every matrix value, every sample has an id and an existing
 * media file, and ids are unique.
 *
 * Usage:
 *     struct spec *s; struct spec_diags d; spec_diags_init(&d);
 *     if (spec_load("p.yaml", &s, &d, &err) < 0) ...       // parse + dataset
 *     spec_set(s, "keep=[0.25,0.5]", &d);                 // --set overrides
 *     if (spec_validate(s, reg, &d) < 0) { spec_diags_print(&d, stderr); ... }
 *     ... plan_build(s, ...) ...
 *     spec_free(s); spec_diags_release(&d);
 */
#ifndef SIEVE_CORE_SPEC_H
#define SIEVE_CORE_SPEC_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <sieve/plugin.h>

struct host_plugin;
struct host_registry;

/* A place in a file; line and col are 1-based (0 when unknown). */
struct spec_mark {
    uint32_t line, col;
};

/* One collected problem. `text` is the full "file:line:col: message" line. */
struct spec_diag {
    char *text;
    int warning; /* non-zero: does not fail validation */
    char *file;  /* the spec's path, the manifest's, or "--set ..." */
    struct spec_mark mark;
};

/* A growable list of diagnostics. */
struct spec_diags {
    struct spec_diag *items;
    size_t n, cap;
    size_t n_errors;
};

void spec_diags_init(struct spec_diags *d);
void spec_diags_release(struct spec_diags *d);
/* Appends a diagnostic located at file:mark (mark.col 0 prints "file:line:"). */
#if defined(__GNUC__)
__attribute__((format(printf, 5, 6)))
#endif
void
spec_diags_add(struct spec_diags *d, int warning, const char *file, struct spec_mark mark,
               const char *fmt, ...);
/* Orders diagnostics by file, line and column (stable). */
void spec_diags_sort(struct spec_diags *d);
/* Prints each diagnostic on its own line ("error: " is implied, warnings say so). */
void spec_diags_print(const struct spec_diags *d, FILE *f);

/*
 * A parameter value as written, before matrix substitution. `text` is a YAML scalar or a flow
 * list ("0.5", "dycoke", "[10, 20]", "${keep}") in the form host_value_parse accepts.
 */
struct spec_param {
    char *name;
    char *text;
    char *raw;                 /* a scalar's unquoted value (NULL for a list) */
    struct spec_mark mark;     /* of the value node */
    struct spec_mark key_mark; /* of the key */
    int quoted;                /* the scalar was quoted: substituted text is escaped */
    char *origin;              /* "--set pv.keep=0.3" for a command-line value, else NULL */
    uint64_t vars;             /* matrix variables referenced (after validate) */
};

/* One input port wiring: `port: node` or `port: node.out_port`. */
struct spec_input {
    char *port;
    char *node;
    char *out_port; /* NULL: the producer's first output port */
    struct spec_mark mark;
    struct spec_mark key_mark;
    int node_index; /* resolved by spec_validate, -1 before */
    int in_index;   /* index of `port` in the consumer plugin's inputs */
    int out_index;  /* index in the producer plugin's outputs */
};

struct spec_node {
    char *name;
    struct spec_mark mark;
    char *plugin_name;
    struct spec_mark plugin_mark;
    const struct host_plugin *plugin; /* resolved by spec_validate; borrowed from the registry */
    struct host_plugin *script_plugin; /* a script node's synthesized plugin (owned) */
    struct spec_input *inputs;
    size_t n_inputs;
    struct spec_param *params;
    size_t n_params;
    int gpu;       /* resources.gpu; -1 when not given (defaults, then the plugin flag) */
    int retries;   /* -1 when not given */
    int timeout_s; /* -1 when not given */
    uint64_t vars; /* bit i: the node's own params use matrix variable i (after validate) */
};

/*
 * One matrix variable. `values` are texts in host_value_parse form (quoted strings keep their
 * quotes, lists are flow text); `plain` are the same values unquoted, for substitution inside
 * a longer string.
 */
struct spec_var {
    char *name;
    struct spec_mark mark;
    char **values;
    char **plain;
    struct spec_mark *value_marks;
    size_t n_values;
    int from_cli; /* set by spec_set */
    int used;     /* set by spec_validate */
};

/* One dataset row; strings owned by the spec. `media` is absolute. */
/* Bounds on a manifest: a sample id goes into task ids, file names and messages; a row longer
 * than this is not a manifest row. Both are reported with the manifest line. */
#define SPEC_SAMPLE_ID_MAX 256
#define SPEC_ROW_MAX (1 << 20)
/* A node name goes into task ids ("node/sample/vN") with the sample id. */
#define SPEC_NODE_NAME_MAX 64

struct spec_sample {
    char *id;
    char *media;
    char *category;    /* NULL when the row has none */
    char *fields_json; /* the whole row as a JSON object */
    uint32_t line;     /* manifest line (1-based); 0 for a glob */
};

#define SPEC_MAX_VARS 64

/* One `key: value` of a settings section, with where it was written. */
struct spec_setting {
    char *key, *value;
    struct spec_mark mark;
};

struct spec {
    char *path; /* as given */
    char *text; /* the whole file, for the store */
    char *name;
    char *manifest; /* resolved manifest path, or NULL */
    char *glob;
    long limit; /* -1: none */
    struct spec_sample *samples;
    size_t n_samples;
    struct spec_var *vars;
    size_t n_vars;
    int def_retries, def_timeout_s, def_gpu;
    struct spec_node *nodes;
    size_t n_nodes;
    /* The `executor:` section (docs/slurm.md): where the workers run, as key/value text
     * (kind: local|slurm, partition, account, time, gpus, ...). It never enters a cache key. */
    struct spec_setting *executor;
    size_t n_executor;
};

/*
 * Reads and parses a pipeline file and its dataset. Problems in the file or its manifest go
 * to `diags` (all of them); the return is SIEVE_ESPEC when any error was collected.
 * Errors: SIEVE_ENOENT/SIEVE_EIO for an unreadable file (in err), SIEVE_ESPEC, SIEVE_ENOMEM.
 * Ownership: on 0 or SIEVE_ESPEC *out may hold a partial spec; free it with spec_free.
 */
int spec_load(const char *path, struct spec **out, struct spec_diags *diags,
              struct sieve_errbuf *err);

/* Parses a pipeline from memory; `path` names it in diagnostics and anchors relative paths. */
int spec_parse(const char *path, const char *text, size_t len, struct spec **out,
               struct spec_diags *diags, struct sieve_errbuf *err);

void spec_free(struct spec *s);

/*
 * Applies one command-line override "var=value", "var=[v1,v2]" (a matrix variable, created
 * when missing) or "node.param=value" (a node parameter, replacing the YAML one).
 * Errors: SIEVE_EINVAL with the reason in err (no '=', unknown node).
 */
int spec_set(struct spec *s, const char *assignment, struct sieve_errbuf *err);

/*
 * Validates the spec against the registry: plugins, ports, wiring, cycles, parameters for
 * every matrix value, ${var} references, unused variables (warnings). Resolves
 * spec_node.plugin, spec_input indices and spec_node.vars.
 * Returns 0, or SIEVE_ESPEC when any error was added to `diags`.
 */
int spec_validate(struct spec *s, const struct host_registry *reg, struct spec_diags *diags);

/* Index of the node called `name`, or -1. */
int spec_node_find(const struct spec *s, const char *name);

/*
 * Substitutes the matrix assignment `assign` (value index per variable, -1 for unused) into a
 * parameter text. Returns a malloc'd text, or NULL on an undefined variable or no memory.
 */
char *spec_param_expand(const struct spec *s, const struct spec_param *p, const int32_t *assign);

/* Names of the nodes in a topological order (inputs first); valid after spec_validate. */
int spec_topo_order(const struct spec *s, uint32_t *order);

#endif
