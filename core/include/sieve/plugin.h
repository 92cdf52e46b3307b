/*
 * sieve/plugin.h - the sieve plugin ABI, version 1.
 *
 * This is the only sieve header a plugin includes, and it needs nothing but the C standard
 * library. A plugin is a shared object (`<name>.so` or `sieve-<name>.so`) that exports exactly
 * one symbol, `sieve_plugin_entry`, which returns a static descriptor. The descriptor says what
 * the plugin is (name, version, summary), what it consumes and produces (ports), which
 * parameters it takes (a typed table the host validates before the plugin sees a value), and
 * three callbacks: init, process, free.
 *
 * Data between nodes is a bundle: an ordered map of named tensors plus string metadata. A
 * bundle on disk is a safetensors file. A plugin never touches bundle internals; it reads and
 * writes them through the host services table (struct sieve_host), so the host can change how
 * bundles are stored without breaking plugins.
 *
 * Versioning: SIEVE_ABI_MAJOR changes when anything incompatible changes; SIEVE_ABI_MINOR when
 * something compatible is added (a field appended to a struct, a new flag). Every struct that
 * crosses the boundary starts with its size (or the three version fields), and fields are
 * only ever appended. The host reads a field of a plugin struct only when `struct_size`
 * covers it; a plugin reads a host field only when the host's `struct_size` covers it. The
 * loader rejects a plugin whose major differs from the host's or whose minor is newer than
 * the host's (an older host would not know what the plugin's flags mean).
 *
 * Minor versions of ABI 1:
 *   1.0  the first release.
 *   1.1  SIEVE_PARAM_NO_KEY: a parameter the host leaves out of the task key.
 *   1.2  struct sieve_plugin.row_fields: the manifest row fields a per-sample plugin reads;
 *        their values (and the sample id) enter its task key. A 1.0/1.1 descriptor is
 *        shorter; the host reads its missing trailing fields as NULL.
 *
 * Lifecycle and threads:
 *   - `init` runs once per distinct parameter set in a worker process and builds the state
 *     (load weights, precompute tables). The host may keep several states of one plugin alive
 *     and reuses a state for every task with the same parameters.
 *   - `process` runs one task. One state is never used by two threads at once, but a plugin
 *     may use threads of its own inside `process` (BLAS, OpenMP, pthreads).
 *   - `free` releases a state; it accepts NULL.
 *   Everything the host hands in (inputs, parameter values, context) is borrowed for the call.
 *   Output tensors are allocated by the host through `tensor_new` and belong to the output
 *   bundle; the plugin fills them. Memory the plugin allocates itself it frees itself.
 *
 * Errors: every callback returns 0 on success or a negative SIEVE_E* code, and writes a
 * one-line message into the error buffer (lower case, what failed first, the subject in
 * quotes: "no audio stream in 'clip.mp4'"). The code is the error's class, and the
 * scheduler acts on it:
 *   SIEVE_EBADINPUT   the input is wrong (corrupt media, wrong shape): fail, never retry;
 *   SIEVE_ENOMEM      out of host or device memory: retry, possibly elsewhere;
 *   SIEVE_EDEVICE     the device misbehaved: mark the device, retry on another one;
 *   SIEVE_ETRANSIENT  something that may pass (a busy file system): retry with backoff;
 *   SIEVE_EINTERNAL   a bug in the plugin: fail, no retry;
 *   SIEVE_ECANCELED   the host asked to cancel (see sieve_host.cancelled).
 *
 * A minimal plugin:
 *
 *     #include <sieve/plugin.h>
 *
 *     static const struct sieve_port inputs[] = { { "tokens", "tokens to scale", 0 } };
 *     static const struct sieve_port outputs[] = { { "out", "scaled tokens", 0 } };
 *     static const struct sieve_param params[] = {
 *         { .name = "gain", .type = SIEVE_PARAM_FLOAT, .doc = "multiplier", .def = "2",
 *           .min = 0, .max = 100, .flags = SIEVE_PARAM_HAS_MIN | SIEVE_PARAM_HAS_MAX },
 *     };
 *
 *     static int scale_process(void *state, const struct sieve_ctx *ctx,
 *                              const struct sieve_bundle *const *in,
 *                              struct sieve_bundle *const *out, struct sieve_errbuf *err)
 *     {
 *         const struct sieve_host *h = ctx->host;
 *         const struct sieve_value *p = state;
 *         const struct sieve_tensor *x = h->tensor_get(in[0], "tokens");
 *         struct sieve_tensor *y;
 *         if (!x || x->dtype != SIEVE_DTYPE_F32)
 *             return sieve_errbuf_set(err, SIEVE_EBADINPUT, "need f32 tensor 'tokens'");
 *         int rc = h->tensor_new(out[0], "tokens", SIEVE_DTYPE_F32, x->ndim, x->shape, &y);
 *         if (rc < 0)
 *             return sieve_errbuf_set(err, rc, "allocate 'tokens'");
 *         for (uint64_t i = 0; i < x->nbytes / 4; i++)
 *             ((float *)y->data)[i] = ((const float *)x->data)[i] * (float)p[0].f;
 *         return 0;
 *     }
 *     ... init stores a copy of p[0]; free frees it ...
 *     static const struct sieve_plugin desc = SIEVE_PLUGIN_INIT("scale", "1.0.0", "scales tokens",
 *         inputs, outputs, params, 0, scale_init, scale_process, scale_free);
 *     SIEVE_PLUGIN_DEFINE(desc)
 *
 * docs/plugin-guide.md walks through a complete plugin (plugins/example-topk).
 */
#ifndef SIEVE_PLUGIN_H
#define SIEVE_PLUGIN_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SIEVE_ABI_MAJOR 1
#define SIEVE_ABI_MINOR 2

/*
 * True when the ABI this header describes is at least major.minor, for code that must build
 * against several installed kits: `#if SIEVE_ABI_AT_LEAST(1, 1)` guards the use of
 * SIEVE_PARAM_NO_KEY. A different major is never "at least" (majors are incompatible).
 */
#define SIEVE_ABI_AT_LEAST(major, minor)                                                           \
    (SIEVE_ABI_MAJOR == (major) && SIEVE_ABI_MINOR >= (minor))

#if defined(__GNUC__)
#define SIEVE_EXPORT __attribute__((visibility("default")))
#else
#define SIEVE_EXPORT
#endif

/* ---------------------------------------------------------------------------------------- */
/* Error codes                                                                               */
/* ---------------------------------------------------------------------------------------- */

/*
 * Negative codes, 0 is success. The first block are the classes a plugin returns (see the
 * header comment); the rest are used by the host and shown to users. Values are part of the
 * ABI: never renumber, only append.
 */
enum sieve_error {
    SIEVE_OK = 0,
    SIEVE_EBADINPUT = -1,  /* input data is wrong; retrying cannot help */
    SIEVE_ENOMEM = -2,     /* out of memory (host or device) */
    SIEVE_EDEVICE = -3,    /* device fault: quarantine the device, retry elsewhere */
    SIEVE_ETRANSIENT = -4, /* may pass: retry with backoff */
    SIEVE_EINTERNAL = -5,  /* plugin or host bug */
    SIEVE_ECANCELED = -6,  /* cancelled on request */
    SIEVE_EINVAL = -7,     /* invalid argument or parameter value */
    SIEVE_EIO = -8,        /* read or write failed */
    SIEVE_ENOENT = -9,     /* no such file, plugin, run, task or tensor */
    SIEVE_EFORMAT = -10,   /* malformed file (safetensors, YAML, manifest, weights) */
    SIEVE_EABI = -11,      /* plugin ABI mismatch or malformed descriptor */
    SIEVE_ETIMEDOUT = -12, /* a task or heartbeat timed out */
    SIEVE_EEXIST = -13,    /* already exists */
    SIEVE_ESTORE = -14,    /* the store (SQLite index) failed */
    SIEVE_ESPEC = -15,     /* the pipeline spec has errors */
    SIEVE_ECRASH = -16,    /* a worker or plugin process died */
    SIEVE_EPROTO = -17,    /* malformed message between scheduler and worker */
};

#define SIEVE_ERRBUF_SIZE 512

/* A caller-supplied buffer for a one-line error message. Never allocates. */
struct sieve_errbuf {
    char msg[SIEVE_ERRBUF_SIZE];
};

/*
 * Writes a formatted message into `err` (which may be NULL) and returns `code`, so that a
 * failing path reads `return sieve_errbuf_set(err, SIEVE_EBADINPUT, "bad '%s'", name);`.
 */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static inline int
sieve_errbuf_set(struct sieve_errbuf *err, int code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

/* ---------------------------------------------------------------------------------------- */
/* Tensors and bundles                                                                       */
/* ---------------------------------------------------------------------------------------- */

/* Element types. Values are part of the ABI. Data is always little-endian and row-major. */
enum sieve_dtype {
    SIEVE_DTYPE_F32 = 0,
    SIEVE_DTYPE_F16 = 1,
    SIEVE_DTYPE_BF16 = 2,
    SIEVE_DTYPE_F64 = 3,
    SIEVE_DTYPE_I64 = 4,
    SIEVE_DTYPE_I32 = 5,
    SIEVE_DTYPE_U8 = 6,
    SIEVE_DTYPE_BOOL = 7, /* one byte per element, 0 or 1 */
};

#define SIEVE_MAX_DIMS 8

/*
 * A view of one tensor in a bundle. `data` is aligned to the element size (the host copies a
 * misaligned tensor from a foreign file before handing it over) and holds exactly `nbytes` =
 * product(shape) * element size bytes. A tensor of an input bundle must not be written; a
 * tensor returned by tensor_new is zero-filled and is the plugin's to fill.
 * Ownership: the bundle owns the tensor and its data; the view lives as long as the bundle.
 */
struct sieve_tensor {
    const char *name;
    int32_t dtype; /* enum sieve_dtype */
    uint32_t ndim; /* 0 is a scalar with one element */
    int64_t shape[SIEVE_MAX_DIMS];
    void *data;
    uint64_t nbytes;
};

/* A bundle is opaque to plugins; use the host services below. */
struct sieve_bundle;

/* ---------------------------------------------------------------------------------------- */
/* Ports and parameters                                                                      */
/* ---------------------------------------------------------------------------------------- */

#define SIEVE_PORT_OPTIONAL 0x1u /* the input may be left unconnected; the plugin gets NULL */

/*
 * An input or output port. Each connected input port delivers one bundle; each output port
 * produces one bundle, stored as one artifact. Most plugins have one output port, "out".
 */
struct sieve_port {
    const char *name; /* [a-z0-9_-]+, unique among the plugin's inputs (or outputs) */
    const char *doc;  /* one line for `sieve plugins NAME` */
    uint32_t flags;   /* SIEVE_PORT_* */
};

enum sieve_param_type {
    SIEVE_PARAM_INT = 1,    /* int64 */
    SIEVE_PARAM_FLOAT = 2,  /* double; an integer literal is accepted */
    SIEVE_PARAM_STRING = 3, /* UTF-8 text */
    SIEVE_PARAM_BOOL = 4,   /* true/false */
    SIEVE_PARAM_ENUM = 5,   /* one of `choices` */
    SIEVE_PARAM_LIST = 6,   /* a list of `item_type` values (INT, FLOAT, STRING or BOOL) */
};

#define SIEVE_PARAM_HAS_MIN 0x1u  /* enforce `min` (INT, FLOAT, and LIST items of those) */
#define SIEVE_PARAM_HAS_MAX 0x2u  /* enforce `max` */
#define SIEVE_PARAM_REQUIRED 0x4u /* no default: a pipeline must set it (`def` must be NULL) */
/*
 * The value never changes the plugin's outputs (a resource hint such as a thread count), so the
 * host leaves it out of the task key: changing it recomputes nothing. The plugin still receives
 * it. Use it only when the output bytes are identical whatever the value; a thread count that
 * changes a BLAS summation order does not qualify. Because two variants of a node that differ
 * only in such a parameter would share a key, a pipeline cannot give it matrix values. (ABI 1.1)
 */
#define SIEVE_PARAM_NO_KEY 0x8u

/*
 * One row of the parameter table. `def` is the default written as a YAML scalar or flow list
 * ("2", "0.5", "bicubic", "true", "[10, 20]"); the host parses it with the same rules as a
 * value in a pipeline and rejects the plugin if it does not validate against the row. The
 * loader also rejects duplicate names, unknown types, ENUM rows without choices, and min > max.
 */
struct sieve_param {
    const char *name;           /* [a-z0-9_]+ */
    uint32_t type;              /* enum sieve_param_type */
    const char *doc;            /* one line for `sieve plugins NAME` */
    const char *def;            /* default as text; NULL only with SIEVE_PARAM_REQUIRED */
    double min, max;            /* bounds, when flags say so */
    const char *const *choices; /* ENUM: NULL-terminated list of allowed strings */
    uint32_t flags;             /* SIEVE_PARAM_* */
    uint32_t item_type;         /* LIST: type of the items */
};

/*
 * A validated parameter value. The host passes an array with one value per row of the
 * parameter table, in table order, defaults filled in, so a plugin indexes it by position.
 *   INT: `i`; FLOAT: `f`; BOOL: `i` (0 or 1); STRING: `s`;
 *   ENUM: `s` (the choice) and `i` (its index in `choices`);
 *   LIST: `n` items in `items`, each a value of the row's item type.
 * For INT, `f` also holds the value as a double.
 * Ownership: borrowed for the call; copy what the state keeps.
 */
struct sieve_value {
    uint32_t type;
    int64_t i;
    double f;
    const char *s;
    size_t n;
    const struct sieve_value *items;
};

/* ---------------------------------------------------------------------------------------- */
/* The task context                                                                          */
/* ---------------------------------------------------------------------------------------- */

/*
 * One row of the dataset manifest. `media` is an absolute path. `category` and `fields_json`
 * may be NULL. `fields_json` is the whole row as a JSON object (for labels, answers, ...).
 */
struct sieve_sample {
    const char *id;
    const char *media;
    const char *category;
    const char *fields_json;
};

struct sieve_host;

/*
 * What a plugin knows about the task it runs. For a per-sample plugin `n_samples` is 1; for a
 * reduce plugin (SIEVE_PLUGIN_REDUCE) it is the number of samples of the variant, and the
 * inputs array of `process` holds n_samples * n_inputs bundles, sample-major:
 * inputs[s * n_inputs + port].
 */
struct sieve_ctx {
    uint32_t struct_size;
    const struct sieve_host *host;
    void *host_data;         /* the host's; do not touch */
    const char *task_id;     /* stable, printable id of this task */
    const char *device;      /* "cpu", "cuda:0", "fake:2" */
    int32_t device_index;    /* GPU ordinal as the plugin sees it, -1 on a CPU slot */
    const char *scratch_dir; /* a private directory, emptied after the task */
    uint32_t n_samples;
    const struct sieve_sample *samples;
};

/* ---------------------------------------------------------------------------------------- */
/* Host services                                                                             */
/* ---------------------------------------------------------------------------------------- */

enum sieve_log_level {
    SIEVE_LOG_DEBUG = 0,
    SIEVE_LOG_INFO = 1,
    SIEVE_LOG_WARN = 2,
    SIEVE_LOG_ERROR = 3,
};

/*
 * The table of services the host offers. Plugins never link against host symbols; they call
 * through this table (it is `ctx->host` in process and the `host` argument of init).
 */
struct sieve_host {
    uint32_t abi_major, abi_minor, struct_size;

    /* Logs one line for the task (`ctx` may be NULL in init). */
    void (*log)(const struct sieve_ctx *ctx, int level, const char *fmt, ...)
#if defined(__GNUC__)
        __attribute__((format(printf, 3, 4)))
#endif
        ;
    /* Reports progress of the task, 0 to 1. Cheap; call it as often as you like. */
    void (*progress)(const struct sieve_ctx *ctx, double fraction);
    /* Returns non-zero when the task should stop; return SIEVE_ECANCELED then. */
    int (*cancelled)(const struct sieve_ctx *ctx);

    /* Number of tensors in a bundle, and the i-th in bundle order. */
    size_t (*tensor_count)(const struct sieve_bundle *b);
    const struct sieve_tensor *(*tensor_at)(const struct sieve_bundle *b, size_t i);
    /* The tensor called `name`, or NULL. */
    const struct sieve_tensor *(*tensor_get)(const struct sieve_bundle *b, const char *name);
    /*
     * Appends a zero-filled tensor to an output bundle and returns it in *out.
     * Errors: SIEVE_EINVAL for a bad dtype, ndim or negative dimension, or a name already in
     * the bundle; SIEVE_ENOMEM.
     */
    int (*tensor_new)(struct sieve_bundle *b, const char *name, int32_t dtype, uint32_t ndim,
                      const int64_t *shape, struct sieve_tensor **out);

    /* Metadata: string key/value pairs stored in the file's __metadata__. */
    const char *(*meta_get)(const struct sieve_bundle *b, const char *key);
    /* Sets (or replaces) a metadata entry of an output bundle; both strings are copied. */
    int (*meta_set)(struct sieve_bundle *b, const char *key, const char *value);
    size_t (*meta_count)(const struct sieve_bundle *b);
    /* The i-th entry in insertion order; returns 0, or SIEVE_ENOENT past the end. */
    int (*meta_at)(const struct sieve_bundle *b, size_t i, const char **key, const char **value);
};

/* ---------------------------------------------------------------------------------------- */
/* The descriptor                                                                            */
/* ---------------------------------------------------------------------------------------- */

#define SIEVE_PLUGIN_NEEDS_DEVICE 0x1u  /* run on a GPU slot when the node asks for none */
#define SIEVE_PLUGIN_REDUCE 0x2u        /* one task per variant over all samples */
#define SIEVE_PLUGIN_DETERMINISTIC 0x4u /* same inputs and params give the same bytes */

typedef int (*sieve_init_fn)(const struct sieve_host *host, const struct sieve_value *params,
                             void **state, struct sieve_errbuf *err);
typedef int (*sieve_process_fn)(void *state, const struct sieve_ctx *ctx,
                                const struct sieve_bundle *const *inputs,
                                struct sieve_bundle *const *outputs, struct sieve_errbuf *err);
typedef void (*sieve_free_fn)(void *state);

/*
 * The plugin descriptor. The first three fields are fixed forever; everything after them may
 * only be appended to. `name` must equal the file name without `sieve-` and `.so`.
 * `version` goes into every cache key: bump it whenever the plugin's output changes.
 * `init` may be NULL (state is then NULL); `free` may be NULL.
 * Inputs of `process`: one bundle per input port, in port order (NULL for an unconnected
 * optional port); outputs: one empty bundle per output port, in port order.
 */
struct sieve_plugin {
    uint32_t abi_major;
    uint32_t abi_minor;
    uint32_t struct_size;
    const char *name;
    const char *version;
    const char *summary;
    const struct sieve_port *inputs;
    uint32_t n_inputs;
    const struct sieve_port *outputs;
    uint32_t n_outputs;
    const struct sieve_param *params;
    uint32_t n_params;
    uint32_t flags; /* SIEVE_PLUGIN_* */
    sieve_init_fn init;
    sieve_process_fn process;
    sieve_free_fn free;
    /* ABI 1.2: the manifest row fields the plugin reads from struct sieve_sample ("id", "category" or a key of fields_json), NULL-terminated; their values enter the task key. NULL: none. */
    const char *const *row_fields;
};

/* The size of a 1.0 and 1.1 descriptor (everything up to `free`): the smallest the host loads. */
#define SIEVE_PLUGIN_SIZE_1_0 (offsetof(struct sieve_plugin, free) + sizeof(sieve_free_fn))

#define SIEVE_COUNT(a) ((uint32_t)(sizeof(a) / sizeof((a)[0])))

/*
 * Fills a descriptor for the current ABI. `in`, `out` and `par` must be arrays (not
 * pointers); pass SIEVE_NONE for an empty table.
 */
#define SIEVE_NONE NULL, 0
/*
 * SIEVE_TABLE(arr) gives "arr, count"; SIEVE_TABLE(NULL, 0) (what SIEVE_NONE becomes once
 * expanded as a macro argument) passes through unchanged.
 */
#define SIEVE_TABLE(...)                                                                           \
    SIEVE_TABLE_PICK_(__VA_ARGS__, SIEVE_TABLE2_, SIEVE_TABLE1_, ~)(__VA_ARGS__)
#define SIEVE_TABLE_PICK_(a_, b_, m_, ...) m_
#define SIEVE_TABLE1_(a_) (a_), SIEVE_COUNT(a_)
#define SIEVE_TABLE2_(a_, n_) a_, n_
#define SIEVE_PLUGIN_INIT(name_, version_, summary_, in_, out_, par_, flags_, init_, process_,     \
                          free_)                                                                   \
    {                                                                                              \
        SIEVE_ABI_MAJOR, SIEVE_ABI_MINOR, (uint32_t)sizeof(struct sieve_plugin), (name_),          \
            (version_), (summary_), SIEVE_TABLE(in_), SIEVE_TABLE(out_), SIEVE_TABLE(par_),        \
            (flags_), (init_), (process_), (free_), NULL                                           \
    }

/*
 * SIEVE_PLUGIN_INIT for a per-sample plugin that reads the manifest row: `rows_` is a
 * NULL-terminated array of the fields it reads, e.g.
 *     static const char *const rows[] = {"id", "category", NULL};
 * A plugin that reads only ctx->samples[0].media (hashed by content already) needs none.
 */
#define SIEVE_PLUGIN_INIT_ROWS(name_, version_, summary_, in_, out_, par_, flags_, init_,          \
                               process_, free_, rows_)                                             \
    {                                                                                              \
        SIEVE_ABI_MAJOR, SIEVE_ABI_MINOR, (uint32_t)sizeof(struct sieve_plugin), (name_),          \
            (version_), (summary_), SIEVE_TABLE(in_), SIEVE_TABLE(out_), SIEVE_TABLE(par_),        \
            (flags_), (init_), (process_), (free_), (rows_)                                        \
    }

/* The one exported symbol. */
#define SIEVE_ENTRY_SYMBOL "sieve_plugin_entry"
typedef const struct sieve_plugin *(*sieve_entry_fn)(void);

#define SIEVE_PLUGIN_DEFINE(desc_)                                                                 \
    SIEVE_EXPORT const struct sieve_plugin *sieve_plugin_entry(void);                              \
    SIEVE_EXPORT const struct sieve_plugin *sieve_plugin_entry(void)                               \
    {                                                                                              \
        return &(desc_);                                                                           \
    }

/* Size in bytes of one element of `dtype`, or 0 for an unknown dtype. */
static inline size_t
sieve_dtype_size(int32_t dtype)
{
    switch (dtype) {
    case SIEVE_DTYPE_F64:
    case SIEVE_DTYPE_I64:
        return 8;
    case SIEVE_DTYPE_F32:
    case SIEVE_DTYPE_I32:
        return 4;
    case SIEVE_DTYPE_F16:
    case SIEVE_DTYPE_BF16:
        return 2;
    case SIEVE_DTYPE_U8:
    case SIEVE_DTYPE_BOOL:
        return 1;
    default:
        return 0;
    }
}

/* Number of elements of a tensor (1 for a scalar). */
static inline uint64_t
sieve_tensor_numel(const struct sieve_tensor *t)
{
    uint64_t n = 1;
    for (uint32_t d = 0; d < t->ndim; d++)
        n *= (uint64_t)t->shape[d];
    return n;
}

#ifdef __cplusplus
}
#endif

#endif /* SIEVE_PLUGIN_H */
