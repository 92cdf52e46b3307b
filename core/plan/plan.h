/*
 * plan.h - the planner: expands a validated spec over its dataset and matrix into a task DAG,
 * computes content-addressed cache keys bottom-up, and asks the store which outputs exist.
 *
 * Expansion: a per-sample node runs once per sample and per combination of only the matrix
 * variables it depends on, directly (its own `with` values) or through its inputs. A reduce
 * node (SIEVE_PLUGIN_REDUCE) runs once per such combination over all samples. A node that
 * uses no variable runs once per sample whatever the matrix.
 *
 * Keys (docs/architecture.md, "Cache keys"): a task key is sha256 over a length-prefixed
 * encoding of
 *     PLAN_KEY_SCHEMA, plugin name, plugin version, ABI major, canonical params without
 *     the SIEVE_PARAM_NO_KEY ones (host_params_key_text), then for each input port in port
 *     order the input artifact key (reduce: sample-major), or for a plugin with no input
 *     ports the content hash of the sample's media file (remembered by the store by path,
 *     size and mtime); then, for a per-sample task of a plugin that declares row fields
 *     (struct sieve_plugin.row_fields, ABI 1.2), the field "row" and the canonical JSON of
 *     {"id": sample id, field: value, ...} (compact, sorted keys, ASCII; a field the row
 *     lacks left out); for a reduce task, every sample's fields_json in sample order.
 * Plugins that declare no row fields hash nothing of the row, so their keys are what they
 * were before ABI 1.2 and rows sharing a media file share their tasks' outputs.
 * An artifact key is sha256(task key, output port name). Each field is encoded as a u64
 * little-endian length followed by its bytes, so no two different inputs share a preimage.
 * For a plugin without NO_KEY parameters the params text is the full canonical text, so
 * keys made before the flag existed are unchanged and PLAN_KEY_SCHEMA stays 1. Because a
 * NO_KEY parameter is not hashed, planning rejects one whose value differs between the
 * variants of a node: those variants would share a key.
 *
 * Task order: tasks[] is topological (node by node in topological node order; within a node
 * variant-major, then sample). Every dependency of a task has a smaller index.
 *
 * Invariants: node indices equal spec node indices; tasks of node n are tasks[first_task ..
 * first_task + n_tasks); a task's deps are in the order the plugin receives inputs
 * (per-sample: one per input port; reduce: n_samples * n_inputs, sample-major) and an
 * unconnected optional port has dep.task == PLAN_NONE; `dependents` lists each consuming task
 * once; `n_wait` is the number of distinct producing tasks (what a scheduler counts down).
 *
 * Usage (what `sieve run` does, dry or not):
 *     struct plan *p;
 *     rc = plan_prepare(&(struct plan_opts){ .path = "p.yaml", .sets = sets, .n_sets = n },
 *                       reg, store, &p, &diags, &err);       // parse, validate, expand, keys
 *     for (uint32_t t = 0; t < p->n_tasks; t++)
 *         if (!p->tasks[t].cached) ... dispatch once p->tasks[t].n_wait deps are done ...
 *     plan_free(p);
 */
#ifndef SIEVE_CORE_PLAN_H
#define SIEVE_CORE_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include <sieve/plugin.h>

#include "base/hash.h"
#include "core/spec/spec.h"

struct host_plugin;
struct host_registry;
struct store;

#define PLAN_KEY_SCHEMA 1u
#define PLAN_NONE UINT32_MAX

/* One variant of a node: a matrix assignment restricted to the variables the node uses. */
struct plan_variant {
    int32_t *assign;            /* per spec variable: value index, or -1 when unused */
    char *label;                /* JSON object of the used variables, "{}" when none */
    struct sieve_value *params; /* validated, table order; host_params_free */
    char *canonical;            /* host_params_canonical(params): what the worker gets */
    char *key_params;           /* host_params_key_text(params): what the task key hashes */
};

/* The producer wired to one input port of a node; node == PLAN_NONE when unconnected. */
struct plan_input {
    uint32_t node;
    uint32_t out_port;
};

struct plan_node {
    const char *name;                 /* borrowed from the spec */
    const struct host_plugin *plugin; /* borrowed from the registry */
    uint32_t flags;                   /* plugin flags (SIEVE_PLUGIN_REDUCE, ...) */
    uint32_t n_inputs;                /* = plugin input port count */
    struct plan_input *inputs;
    uint32_t n_outputs;
    int gpu;       /* 0 or 1 GPU per task, after defaults and the NEEDS_DEVICE flag */
    int retries;   /* after defaults */
    int timeout_s; /* after defaults; 0 = none */
    uint64_t vars; /* matrix variables the node depends on (directly or through inputs) */
    uint32_t n_variants;
    struct plan_variant *variants;
    uint32_t first_task, n_tasks;
};

/* One input of a task: the producing task and its output port. */
struct plan_dep {
    uint32_t task; /* PLAN_NONE for an unconnected optional port */
    uint32_t port;
};

struct plan_task {
    uint32_t node;
    uint32_t variant;
    int32_t sample; /* -1 for a reduce task */
    uint8_t key[32];
    char key_hex[HASH_HEX_LEN];
    uint32_t n_deps;
    const struct plan_dep *deps;
    uint32_t n_wait;
    uint32_t n_dependents;
    const uint32_t *dependents;
    const uint8_t (*out_keys)[32]; /* one per output port */
    /* After plan_lookup: 0 must run; 1 every output is indexed and present; 2 outputs are
     * missing but not needed, because every consumer is cached (count it as done, never read
     * its outputs). */
    int cached;
};

/* What plan_verify_inputs did. */
struct plan_verify_report {
    uint32_t checked;     /* cached objects re-hashed */
    uint32_t corrupt;     /* of them, the ones that did not match the index */
    uint32_t invalidated; /* indexed artifacts computed from those, dropped with them */
    uint64_t bytes;       /* bytes hashed */
    double ms;
};

struct plan {
    struct spec *spec; /* owned: the plan keeps names, samples and texts alive */
    uint32_t n_nodes;
    struct plan_node *nodes;
    uint32_t *node_order; /* topological */
    uint32_t n_samples;
    struct sieve_sample *samples; /* views of spec samples, for struct sieve_ctx */
    uint32_t n_tasks;
    struct plan_task *tasks;
    uint32_t n_cached; /* after plan_lookup */
    /* pools behind the task pointers */
    struct plan_dep *dep_pool;
    uint32_t *dependent_pool;
    uint8_t (*key_pool)[32];
    char (*media_hex)[HASH_HEX_LEN]; /* per sample, content hash of the media file */
    /* Wall-clock milliseconds of the phases of plan_prepare (for the dry run and bench/). */
    double ms_spec, ms_build, ms_lookup;
    /* What plan_prepare's input verification did (all zero when not asked for). */
    struct plan_verify_report verify;
};

/*
 * Builds the plan of a validated spec: expansion, validated params per variant, keys.
 * `st` supplies the media hash cache (NULL: hash every file). Takes ownership of `s` on
 * success and on failure.
 * Errors: SIEVE_ESPEC (a parameter that fails for a variant, or a NO_KEY parameter that
 * varies across a node's variants; in err, the latter as "file:line:col: ..."), SIEVE_EIO (a
 * media file unreadable), SIEVE_ENOMEM. Ownership: plan_free.
 */
int plan_build(struct spec *s, struct store *st, struct plan **out, struct sieve_errbuf *err);

/*
 * Marks tasks whose every output artifact is indexed and present (corrupt or missing objects
 * are dropped from the index and count as misses). Sets task.cached and plan.n_cached.
 */
int plan_lookup(struct plan *p, struct store *st, struct sieve_errbuf *err);

/* Hears of each object found corrupt (its problem) and each artifact dropped because it was
 * computed from one (problem "computed from a corrupt object"). Same shape as store_verify_fn. */
typedef void (*plan_verify_fn)(void *arg, const char *key, const char *problem);

/*
 * After plan_lookup: re-hashes every cached object that a task of the plan will read (an
 * output of a task with cached == 1 consumed by a task with cached == 0) against its index
 * row. A mismatch is a miss: the object and everything ever computed from it are dropped from
 * the store (store_artifact_invalidate), the lookup is redone, and the loop repeats for the
 * cached inputs the newly uncached tasks read, so on return no task that runs reads an
 * unverified cached object. Objects written during the run are not checked here: the worker
 * hashed them while writing. `cb` may be NULL.
 * Errors: SIEVE_ESTORE, SIEVE_ENOMEM (a corrupt object is not an error).
 */
int plan_verify_inputs(struct plan *p, struct store *st, plan_verify_fn cb, void *arg,
                       struct plan_verify_report *rep, struct sieve_errbuf *err);

void plan_free(struct plan *p);

/* The artifact key of output `port` of task t, in hex. */
void plan_artifact_hex(const struct plan *p, uint32_t t, uint32_t port, char out[HASH_HEX_LEN]);

/*
 * The key components of task t as one JSON object (plugin, version, abi, params, inputs
 * [{port, node, key}] or media), stored with the task rows so `sieve explain` can diff them.
 * `params` is the key text (no SIEVE_PARAM_NO_KEY parameters), as hashed.
 * Ownership: the caller frees the string.
 */
char *plan_task_components(const struct plan *p, uint32_t t);

/* Options of plan_prepare: the pipeline and its --set overrides. */
struct plan_opts {
    const char *path;
    const char *const *sets;
    size_t n_sets;
    int no_lookup; /* skip the cache lookup */
    /* The pipeline's text, e.g. the copy a run recorded (resume plans what ran, even if the
     * file changed since); NULL reads `path`. `path` still names it and anchors the dataset. */
    const char *text;
    /* Verify the cached inputs after the lookup (plan_verify_inputs; report in plan.verify),
     * telling `verify_cb` of each problem. Runs that execute set it; a dry run does not. */
    int verify;
    plan_verify_fn verify_cb;
    void *verify_arg;
};

/*
 * The shared run setup: load the spec, apply --set, validate against `reg`, build the plan
 * and look up the cache in `st` (may be NULL). Diagnostics (all of them) go to `diags`.
 * Errors: SIEVE_ESPEC (see diags), SIEVE_EINVAL (a bad --set, in err), SIEVE_ENOENT, ...
 * Ownership: plan_free.
 */
int plan_prepare(const struct plan_opts *o, const struct host_registry *reg, struct store *st,
                 struct plan **out, struct spec_diags *diags, struct sieve_errbuf *err);

/*
 * Writes the plan's task rows (and pins of their artifacts) for run `run_id` into the store
 * in one transaction, state "cached" for cached tasks and "pending" for the rest.
 */
int plan_store_tasks(const struct plan *p, struct store *st, int64_t run_id,
                     struct sieve_errbuf *err);

#endif
