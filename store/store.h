/*
 * store.h - the store: a directory holding the SQLite index (`sieve.db`, WAL mode), the
 * content-addressed objects (`objects/ab/<key>.safetensors`) and task logs (`logs/`).
 *
 * This room is the only code that includes sqlite3.h. Only the scheduler process writes the
 * index; workers write object files and report back. Functions are coarse: each one is one
 * transaction, so a crash leaves the index as it was before or after the call.
 *
 * Write protocol of an artifact (docs/architecture.md, "The store"):
 *   1. the worker writes the bundle to store_object_path() through a temporary file, fsyncs
 *      it and renames it into place (bundle_write does exactly this, `<path>.tmp.<pid>`);
 *   2. the scheduler calls store_artifact_index() (or store_task_finish()), which inserts the
 *      row with size and sha256 checksum in one transaction.
 * A crash between 1 and 2 leaves an unindexed object or a tmp file; store_gc removes both.
 * A lookup finds a hit only when the row exists and the object exists with the indexed size;
 * otherwise the row is dropped and it is a miss. store_verify re-hashes objects and drops the
 * corrupt ones. Nothing here crashes on a damaged store file: it becomes SIEVE_ESTORE.
 *
 * Schema versions: PRAGMA user_version holds the version; store_open applies the missing
 * migrations in order, each in its own transaction.
 *
 * Usage:
 *     struct store *st;
 *     if (store_open(".sieve", &st, &err) < 0) die(err.msg);
 *     int64_t run;
 *     store_run_create(st, "sweep", "p.yaml", text, &run, &err);
 *     ... plan_store_tasks(plan, st, run, &err) ...
 *     char path[STORE_PATH_MAX];
 *     store_object_path(st, key_hex, path, sizeof path, 1);   // creates objects/ab/
 *     ... worker: bundle_write(b, path) ...
 *     store_artifact_index(st, &(struct store_artifact){ .key = key_hex, .run = run }, &err);
 *     store_close(st);
 */
#ifndef SIEVE_STORE_STORE_H
#define SIEVE_STORE_STORE_H

#include <stddef.h>
#include <stdint.h>

#include <sieve/plugin.h>

#include "base/hash.h"

#define STORE_PATH_MAX 4096

/* The newest schema version this build knows. */
#define STORE_SCHEMA_VERSION 4

struct store;

/*
 * Opens (creating when missing) the store directory `dir`: the directory, `objects/`,
 * `logs/`, and `sieve.db` with WAL, a busy timeout and the schema migrated to the newest
 * version. Errors: SIEVE_EIO (directory), SIEVE_ESTORE (SQLite, or a schema newer than this
 * build). Ownership: store_close.
 */
int store_open(const char *dir, struct store **out, struct sieve_errbuf *err);

/*
 * Like store_open, for the verbs that only read or maintain a store (status, ls, verify, ...):
 * nothing is created. Errors: SIEVE_ENOENT "no store at 'DIR'" when `dir` holds no
 * `sieve.db`; otherwise as store_open.
 */
int store_open_existing(const char *dir, struct store **out, struct sieve_errbuf *err);

/* Like store_open but migrates only up to `version` (tests of migrations). */
int store_open_version(const char *dir, int version, struct store **out, struct sieve_errbuf *err);

/* Closes the store; accepts NULL. */
void store_close(struct store *st);

const char *store_dir(const struct store *st);
/* The schema version of the open database. */
int store_schema_version(struct store *st);

/* ---- states ---------------------------------------------------------------------------- */

/*
 * The states a run and a task can have in the index. The scheduler writes them as these enums
 * (its own transient states, such as a task waiting out a retry backoff, map onto them); the
 * index keeps their names as text, so `sqlite3 sieve.db` and the rows read back say "done".
 */
enum store_run_state {
    STORE_RUN_PENDING,
    STORE_RUN_RUNNING,
    STORE_RUN_DONE,
    STORE_RUN_FAILED,
    STORE_RUN_CANCELLED,
};
enum store_task_state {
    STORE_TASK_PENDING,
    STORE_TASK_READY,
    STORE_TASK_RUNNING,
    STORE_TASK_DONE,
    STORE_TASK_CACHED,
    STORE_TASK_FAILED,
    STORE_TASK_CANCELLED,
    STORE_TASK_SKIPPED, /* not run because an input failed or was cancelled */
    STORE_TASK_N_STATES
};

/* The name the index stores for a state ("pending", "running", ...); never NULL. */
const char *store_run_state_name(enum store_run_state state);
const char *store_task_state_name(enum store_task_state state);
/* The task state named `name`, or -1 when no state has that name (user input: `--state`). */
int store_task_state_parse(const char *name);

/* ---- runs ------------------------------------------------------------------------------ */

/* A run as read back; `state` is the name of its enum store_run_state. */
struct store_run {
    int64_t id;
    char *name;
    char *pipeline_path;
    char *pipeline_text;
    char *state;
    char *error;                                 /* NULL when none */
    int64_t created_ms, started_ms, finished_ms; /* unix ms; 0 when not yet */
    int64_t n_tasks, n_done, n_cached, n_failed; /* counts from the task rows */
};

/* Creates a run in state "pending". Returns its id in *id. */
int store_run_create(struct store *st, const char *name, const char *pipeline_path,
                     const char *pipeline_text, int64_t *id, struct sieve_errbuf *err);
/* Sets the state (and error, may be NULL); running stamps started, an end state (done,
 * failed, cancelled) stamps finished and unpins the run's artifacts. */
int store_run_set_state(struct store *st, int64_t id, enum store_run_state state, const char *error,
                        struct sieve_errbuf *err);
/* Reads one run. Errors: SIEVE_ENOENT. Ownership: store_run_release(out). */
int store_run_get(struct store *st, int64_t id, struct store_run *out, struct sieve_errbuf *err);
/* All runs, newest first. Ownership: store_run_list_free(*out, *n). */
int store_run_list(struct store *st, struct store_run **out, size_t *n, struct sieve_errbuf *err);
/* Which runs store_run_query reads: a page of them, newest first. */
struct store_run_filter {
    const char *state; /* a store_run_state_name; NULL: any */
    const char *name;  /* a substring of the name; NULL: any */
    size_t limit;      /* 0: all */
    size_t offset;
};
/* The runs that pass `f`, newest first, and in *total (may be NULL) how many pass it in all.
 * Ownership: store_run_list_free(*out, *n). */
int store_run_query(struct store *st, const struct store_run_filter *f, struct store_run **out,
                    size_t *n, int64_t *total, struct sieve_errbuf *err);
/* The newest run of a pipeline path whose id is below `before` (0: any); *id 0 when none. */
int store_run_previous(struct store *st, const char *pipeline_path, int64_t before, int64_t *id,
                       struct sieve_errbuf *err);
void store_run_release(struct store_run *r);
void store_run_list_free(struct store_run *runs, size_t n);

/* ---- who schedules: the scheduler lock and run leases ------------------------------------ */

/*
 * One scheduler at a time writes a store: `sieve serve`, or a plain `sieve run`/`resume`
 * when no daemon serves it. The scheduler lock is a flock on <store>/scheduler.lock, so it is
 * released however its holder exits (SIGKILL included); <store>/scheduler.json beside it says
 * who holds it: {"pid": N, "kind": "serve"|"run", "url": "http://127.0.0.1:8470", "run": N}.
 * A run's lease (a flock on <store>/leases/run-N.lock) is held by the process that schedules
 * the run, so a run recorded as running whose lease nobody holds was interrupted.
 */
struct store_lock;

/* Takes the scheduler lock and writes `info_json` (a JSON object) beside it. Errors:
 * SIEVE_EEXIST when another process holds it (err says who, from scheduler.json).
 * Ownership: store_lock_free releases it and removes scheduler.json. */
int store_sched_lock(struct store *st, const char *info_json, struct store_lock **out,
                     struct sieve_errbuf *err);
/* Replaces the JSON beside a held scheduler lock (a daemon adds its URL once it listens). */
int store_lock_info_write(struct store_lock *l, const char *info_json, struct sieve_errbuf *err);
/* Reads who holds the scheduler lock of store directory `dir`: 1 and the JSON text in *info
 * (malloc'd; "{}" when unreadable) when held, 0 when nobody holds it. */
int store_sched_holder(const char *dir, char **info, struct sieve_errbuf *err);
/* A run's lease. Errors: SIEVE_EEXIST when another holder has it. Ownership: store_lock_free. */
int store_run_lease_take(struct store *st, int64_t run, struct store_lock **out,
                         struct sieve_errbuf *err);
/* 1 when some process holds run's lease, 0 when none does, < 0 on error. */
int store_run_lease_held(struct store *st, int64_t run, struct sieve_errbuf *err);
void store_lock_free(struct store_lock *l);

/* ---- tasks ----------------------------------------------------------------------------- */

/* A task row as the planner inserts it. */
struct store_task {
    int64_t run;
    uint32_t idx; /* index in the plan */
    const char *node;
    int32_t sample_index; /* -1 for reduce */
    const char *sample;   /* sample id, NULL for reduce */
    uint32_t variant;
    const char *variant_label; /* JSON of the matrix assignment */
    const char *key;           /* task key hex */
    const char *components;    /* JSON of the key components (plan_task_components) */
    enum store_task_state state;
    int attempts;
    const char *device;
    const char *error;
    int64_t started_ms, finished_ms;
    /* artifact keys (hex) of the outputs; pinned for the run */
    const char *const *out_keys;
    uint32_t n_out;
    /* artifact keys (hex) of the inputs, recorded as edges of the artifact graph (each
     * output is computed from each input); may repeat */
    const char *const *in_keys;
    uint32_t n_in;
};

/* Inserts the plan rows of a run, pins their artifacts and records their edges (input ->
 * task -> output), in one transaction. */
int store_tasks_insert(struct store *st, int64_t run, const struct store_task *rows, size_t n,
                       struct sieve_errbuf *err);

/* A change of one task: fields left NULL / negative are not changed. */
struct store_task_update {
    enum store_task_state state;
    int attempts;       /* < 0: unchanged */
    const char *device; /* NULL: unchanged */
    const char *error;  /* NULL: unchanged; "" clears */
    int64_t started_ms; /* < 0: unchanged */
    int64_t finished_ms;
};
int store_task_update(struct store *st, int64_t run, uint32_t idx,
                      const struct store_task_update *u, struct sieve_errbuf *err);

/* Task rows as read back; strings owned by the row; `state` is a store_task_state_name. */
struct store_task_row {
    int64_t run;
    uint32_t idx;
    char *node, *sample, *variant_label, *key, *components, *state, *device, *error;
    int32_t sample_index;
    uint32_t variant;
    int attempts;
    int64_t started_ms, finished_ms;
};
/* Tasks of a run in index order, optionally only one state (NULL: all) and node (NULL: all).
 * Ownership: store_task_rows_free. */
int store_task_list(struct store *st, int64_t run, const char *state, const char *node,
                    struct store_task_row **out, size_t *n, struct sieve_errbuf *err);
/* One page of store_task_list: at most `limit` rows (0: all) after skipping `offset`. */
int store_task_query(struct store *st, int64_t run, const char *state, const char *node,
                     size_t limit, size_t offset, struct store_task_row **out, size_t *n,
                     struct sieve_errbuf *err);
/* How many tasks of a run have that state and node (NULL: any). */
int store_task_count(struct store *st, int64_t run, const char *state, const char *node,
                     int64_t *total, struct sieve_errbuf *err);
void store_task_rows_free(struct store_task_row *rows, size_t n);

/* The tasks of one node of a run, counted by state (indexed by enum store_task_state). */
struct store_node_count {
    char *node;
    int64_t count[STORE_TASK_N_STATES];
    int64_t total;
};
/* Per-node counts of a run, nodes in the order of their first task (the plan's order).
 * Ownership: store_node_counts_free. */
int store_node_counts(struct store *st, int64_t run, struct store_node_count **out, size_t *n,
                      struct sieve_errbuf *err);
void store_node_counts_free(struct store_node_count *nodes, size_t n);
/* Resume: tasks "running" or "ready" of the run go back to "pending". Returns how many. */
int store_tasks_requeue(struct store *st, int64_t run, struct sieve_errbuf *err);

/* ---- artifacts and objects ------------------------------------------------------------- */

/*
 * The object path of an artifact key: `<store>/objects/<first two hex>/<key>.safetensors`.
 * With `mkdirs` the shard directory is created. Returns 0, or SIEVE_EINVAL for a bad key or
 * a short buffer, SIEVE_EIO when the directory cannot be made.
 */
int store_object_path(const struct store *st, const char *key, char *buf, size_t len, int mkdirs);

/* sha256 of a file's content in hex (and its size). Used for checksums and media. */
int store_file_sha256(const char *path, char hex[HASH_HEX_LEN], uint64_t *bytes,
                      struct sieve_errbuf *err);

struct store_artifact {
    const char *key;      /* hex */
    int64_t run;          /* the run that produced it (0: none) */
    const char *checksum; /* sha256 hex of the file; NULL: the store computes it */
    uint64_t bytes;       /* with checksum: the size the writer saw */
};

/*
 * Indexes an object already written at its object path (step 2 of the write protocol).
 * Errors: SIEVE_ENOENT when the object is missing, SIEVE_EFORMAT when its size differs from
 * `bytes`, SIEVE_ESTORE.
 */
int store_artifact_index(struct store *st, const struct store_artifact *a,
                         struct sieve_errbuf *err);

/*
 * Looks up n artifact keys in one transaction: hits[i] = 1 when indexed and the object
 * exists with the indexed size, else 0 (a dangling or damaged row is dropped). Hits get their
 * last-used time refreshed. Returns the number of hits.
 */
int store_artifact_lookup(struct store *st, const char *const *keys, size_t n, uint8_t *hits,
                          struct sieve_errbuf *err);

/* Pins artifact keys for a run (store_tasks_insert pins its outputs already). */
int store_artifact_pin(struct store *st, int64_t run, const char *const *keys, size_t n,
                       struct sieve_errbuf *err);

struct store_artifact_row {
    char key[HASH_HEX_LEN];
    char checksum[HASH_HEX_LEN];
    uint64_t bytes;
    int64_t run;
    int64_t created_ms, last_used_ms;
    int pinned; /* pinned by a pending or running run */
};
/* The row of one artifact key, read only (a lookup would refresh its last use).
 * Errors: SIEVE_ENOENT when the key is not indexed. */
int store_artifact_get(struct store *st, const char *key, struct store_artifact_row *out,
                       struct sieve_errbuf *err);
/* All artifacts, least recently used first. Ownership: free(*out). */
int store_artifact_list(struct store *st, struct store_artifact_row **out, size_t *n,
                        struct sieve_errbuf *err);

/* ---- metrics --------------------------------------------------------------------------- */

/*
 * Metric rows belong to the task key that produced them (the `sieve.metrics` of its
 * artifact), not to a run: the artifact is content-addressed, so its rows hold in every run
 * whose task has that key, computed or cached. A run's rows are found by joining its done and
 * cached tasks to the rows of their keys; nothing is copied between runs. Rows without a
 * key (inserted without one, or from a store before schema 3 that no task claimed) stay rows
 * of the run they were inserted for.
 */
struct store_metric {
    int64_t run;
    const char *node;
    const char *variant; /* JSON label of the matrix assignment */
    const char *sample;  /* NULL: aggregate */
    const char *category;
    const char *metric;
    double value;
    const char *task_key; /* hex of the producing task's key; NULL: a row of `run` only */
};
/*
 * Inserts metric rows in one transaction. The rows of a task key replace the rows that key
 * had before (a recomputed artifact's metrics are the new ones).
 */
int store_metrics_insert(struct store *st, const struct store_metric *rows, size_t n,
                         struct sieve_errbuf *err);
/*
 * The metric rows of a run (node NULL: all nodes): the rows of the keys of its tasks in state
 * done or cached, labelled with that task's run, node and variant, in task order, then the
 * run's rows without a key. Strings are owned by the array.
 * Ownership: store_metric_rows_free.
 */
int store_metrics_query(struct store *st, int64_t run, const char *node, struct store_metric **out,
                        size_t *n, struct sieve_errbuf *err);
void store_metric_rows_free(struct store_metric *rows, size_t n);

/*
 * The scheduler's end of a task in one transaction: index its artifacts, insert its metric
 * rows, update the task. Any of the arrays may be empty.
 */
int store_task_finish(struct store *st, int64_t run, uint32_t idx,
                      const struct store_task_update *u, const struct store_artifact *arts,
                      size_t n_arts, const struct store_metric *metrics, size_t n_metrics,
                      struct sieve_errbuf *err);

/* ---- events, devices, logs ------------------------------------------------------------- */

struct store_event {
    int64_t id, run, time_ms;
    int64_t task; /* -1: none */
    char *kind;
    char *message;
};
int store_event_append(struct store *st, int64_t run, int64_t task, const char *kind,
                       const char *message, struct sieve_errbuf *err);
/* Events of a run (run 0: all) with id > after, oldest first, at most `limit` (0: all).
 * Ownership: store_event_list_free. */
int store_event_list(struct store *st, int64_t run, int64_t after, size_t limit,
                     struct store_event **out, size_t *n, struct sieve_errbuf *err);
/* The newest `limit` events of a run (run 0: all), oldest of them first.
 * Ownership: store_event_list_free. */
int store_event_recent(struct store *st, int64_t run, size_t limit, struct store_event **out,
                       size_t *n, struct sieve_errbuf *err);
void store_event_list_free(struct store_event *ev, size_t n);

struct store_device {
    char *name;  /* "cuda:0", "fake:1", "cpu:0" */
    char *state; /* "healthy", "suspect", "quarantined", "gone" */
    char *info;  /* JSON, may be NULL */
    int64_t updated_ms;
};
int store_device_upsert(struct store *st, const char *name, const char *state, const char *info,
                        struct sieve_errbuf *err);
int store_device_list(struct store *st, struct store_device **out, size_t *n,
                      struct sieve_errbuf *err);
void store_device_list_free(struct store_device *d, size_t n);

/* The log file of a task: `<store>/logs/<run>/<idx>.log` (directory created with mkdirs). */
int store_log_path(const struct store *st, int64_t run, uint32_t idx, char *buf, size_t len,
                   int mkdirs);

/* ---- media hash cache ------------------------------------------------------------------ */

/*
 * The sha256 of a media file's content, remembered by (path, size, mtime_ns) so an unchanged
 * file is hashed once. Errors: SIEVE_ENOENT, SIEVE_EIO.
 */
int store_media_hash(struct store *st, const char *path, char hex[HASH_HEX_LEN],
                     struct sieve_errbuf *err);

/* ---- maintenance ----------------------------------------------------------------------- */

struct store_gc_report {
    uint64_t tmp_removed, orphans_removed, evicted;
    uint64_t bytes_freed, bytes_left;
};
/*
 * Removes tmp files of dead writers and objects without an index row, then evicts least
 * recently used artifacts not pinned by a pending or running run until the indexed objects
 * take at most `max_bytes` (UINT64_MAX: no eviction).
 */
int store_gc(struct store *st, uint64_t max_bytes, struct store_gc_report *rep,
             struct sieve_errbuf *err);

struct store_verify_report {
    uint64_t checked, ok, corrupt, missing;
    uint64_t invalidated; /* artifacts computed (directly or not) from a corrupt or missing one */
};
/* Re-hashes every indexed object; corrupt or missing ones are reported through `cb` (may be
 * NULL) and dropped from the index (and disk), and so is every artifact computed from them
 * (store_artifact_invalidate; reported with the problem "computed from a corrupt object"). */
typedef void (*store_verify_fn)(void *arg, const char *key, const char *problem);
/* The problem reported for an artifact dropped because it was computed from a bad one. */
#define STORE_PROBLEM_DESCENDANT "computed from a corrupt object"
int store_verify(struct store *st, store_verify_fn cb, void *arg, struct store_verify_report *rep,
                 struct sieve_errbuf *err);

/*
 * Checks the object of an indexed artifact before a task reads it: its size and the sha256 of
 * its whole content (header and data) against the index row, which the writer computed while
 * writing. Returns 1 when it matches, 0 when it does not, is missing or is not indexed
 * (`problem` says which), < 0 on an error that says nothing about the object (SIEVE_ESTORE,
 * SIEVE_ENOMEM). `*bytes` receives the bytes hashed. Thread: safe to call from several
 * threads on one store only when each has its own store handle.
 */
int store_artifact_check(struct store *st, const char *key, uint64_t *bytes, char *problem,
                         size_t len, struct sieve_errbuf *err);

/*
 * Drops the artifacts `keys` and everything ever computed from them, following the edges
 * that store_tasks_insert recorded (input -> task -> outputs) to the end: their index rows,
 * their object files, and the metric rows of the tasks that computed the descendants (those
 * numbers came from a bad input). The metric rows of the producers of `keys` themselves stay:
 * they were reported when the object was whole. `cb` (may be NULL) hears of each dropped
 * descendant that was indexed, with the problem "computed from a corrupt object". One
 * transaction. Returns the number of indexed descendants dropped (not counting `keys`).
 */
int store_artifact_invalidate(struct store *st, const char *const *keys, size_t n,
                              store_verify_fn cb, void *arg, struct sieve_errbuf *err);

/*
 * 1 when the index holds no artifact but `objects/` holds objects (an emptied or replaced
 * `sieve.db`: `sieve cache reindex` gets them back), with their number in *n_objects; else 0.
 */
int store_index_lost(struct store *st, uint64_t *n_objects, struct sieve_errbuf *err);

struct store_reindex_report {
    uint64_t adopted; /* unindexed whole objects now indexed */
    uint64_t indexed; /* already indexed, left as they were */
    uint64_t skipped; /* unindexed but torn, unreadable or without an embedded data hash */
};
/* Hears of each unindexed object: problem NULL when it was indexed (the callback then
 * restores what else the object carries, e.g. its metric rows), else why it was skipped. */
typedef void (*store_reindex_fn)(void *arg, const char *key, const char *path, const char *problem);
/*
 * Rebuilds the artifact rows of an index from the objects on disk: every object not indexed
 * whose data matches the hash it embeds (so a torn file never comes back) is indexed with its
 * size and sha256, owned by no run. Artifact edges and task rows are not rebuilt: objects do
 * not record their inputs, and runs are history the emptied index lost.
 */
int store_reindex(struct store *st, store_reindex_fn cb, void *arg,
                  struct store_reindex_report *rep, struct sieve_errbuf *err);

struct store_prune_report {
    uint64_t runs;     /* runs forgotten */
    uint64_t log_dirs; /* their log directories removed */
};
/*
 * Forgets every ended run (done, failed, cancelled) except the newest `keep` runs: their task
 * rows, events, artifact pins, key-less metric rows and logs, then gives the space back to
 * the file system (VACUUM). Artifacts and the metric rows of their task keys stay (they are
 * the cache; `cache gc` manages them). A pending or running run is never pruned.
 */
int store_runs_prune(struct store *st, int64_t keep, struct store_prune_report *rep,
                     struct sieve_errbuf *err);

/* Parses "500M", "2G", "1024" (K/M/G/T, powers of 1024). Returns 0 or SIEVE_EINVAL. */
int store_size_parse(const char *text, uint64_t *out);

#endif
