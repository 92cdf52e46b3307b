/*
 * proto.h - the framed protocol between the scheduler and its workers.
 *
 * The protocol is kept apart from the transport: this module only turns messages into bytes
 * and bytes back into messages; core/sched/transport.h moves the bytes over a pipe or a TCP socket,
 * and the worker writes them with plain blocking I/O. The same frames therefore serve a local
 * worker on a socketpair and a cluster pilot on TCP.
 *
 * Frame layout (little-endian):
 *   u32 len            number of bytes that follow (type byte + payload), 1..PROTO_FRAME_MAX
 *   u8  type           enum proto_type
 *   len-1 bytes        payload: one UTF-8 JSON object (the fields of that message type)
 *
 * Invariants: a decoder never trusts a length before checking it against PROTO_FRAME_MAX, and
 * never exposes a message before every field has been checked for type and bounds; anything
 * else is SIEVE_EPROTO with a message saying what was wrong. A decoder that reported an error
 * stays failed (the stream is out of sync and must be closed).
 *
 * Messages (worker → scheduler: hello, ready, heartbeat, log, result, drain; scheduler →
 * worker: run-task, shutdown):
 *   hello      worker_id, pid, device; sent first, before the worker loads any plugin. A pilot
 *              (a worker that connected over TCP, docs/slurm.md) adds token (the run's secret;
 *              the scheduler closes a connection whose first message lacks it), node (its host)
 *              and job (the batch job, "1234_5" for an array task); all three are optional.
 *   ready      plugins (how many were loaded); the worker takes tasks from now on
 *   run-task   task_id, plugin, params (canonical JSON object), inputs [{port, path}],
 *              outputs [{port, path}], samples [{id, media, category, fields}], timeout_ms,
 *              log_path (per-task stderr file, may be empty), fault (fake devices: "", "error",
 *              "hang", "crash")
 *   heartbeat  task_id ("" while idle), progress (0..1), activity (a count the worker bumps
 *              whenever the running plugin calls the host: progress, log, cancellation checks,
 *              new output tensors or metadata). Sent every heartbeat interval from hello on,
 *              busy or not: silence means a dead or frozen process; an activity count that
 *              stops moving while beats go on means a plugin stuck inside its own call.
 *   log        task_id, level, text
 *   result     task_id, status (0 or SIEVE_E*), error_class, message, bytes_written,
 *              init_ms, run_ms, write_ms, artifacts [{port, sha256, bytes}], metrics
 *   shutdown   (no fields)
 *   drain      (no fields) the worker leaves after its running task (a pilot near its time
 *              limit, SIGUSR1): the scheduler sends it nothing more and takes back what it
 *              queued behind the running task
 *
 * Usage:
 *     struct proto_decoder dec;
 *     proto_decoder_init(&dec);
 *     proto_decoder_feed(&dec, buf, n, &err);
 *     struct proto_msg m;
 *     while ((rc = proto_decoder_next(&dec, &m, &err)) > 0) { ...; proto_msg_release(&m); }
 *     proto_decoder_release(&dec);
 */
#ifndef SIEVE_CORE_PROTO_H
#define SIEVE_CORE_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include <sieve/plugin.h>

#define PROTO_FRAME_MAX (16u << 20) /* a reduce over thousands of inputs still fits */
#define PROTO_STRING_MAX (1u << 20) /* any one string field */
#define PROTO_LIST_MAX 100000u      /* ports or samples in one run-task */

/*
 * Liveness defaults, written once for both ends and the CLI's help: a worker sends a heartbeat
 * every PROTO_HEARTBEAT_MS while a task runs, and the scheduler kills a busy worker that stays
 * silent for PROTO_HEARTBEAT_TIMEOUT_MS (twenty missed beats, so a loaded machine's scheduling
 * delays are not taken for a dead worker).
 */
#define PROTO_HEARTBEAT_MS 500
#define PROTO_HEARTBEAT_TIMEOUT_MS 10000

enum proto_type {
    PROTO_HELLO = 1,
    PROTO_RUN_TASK = 2,
    PROTO_HEARTBEAT = 3,
    PROTO_LOG = 4,
    PROTO_RESULT = 5,
    PROTO_SHUTDOWN = 6,
    PROTO_READY = 7,
    PROTO_DRAIN = 8,
};
#define PROTO_TYPE_MAX PROTO_DRAIN

/* One port binding of a run-task: the port name and the object path to read or write. */
struct proto_path {
    const char *port;
    const char *path;
};

/* One manifest row as the plugin sees it (struct sieve_sample); category/fields may be NULL. */
struct proto_sample {
    const char *id;
    const char *media;
    const char *category;
    const char *fields;
};

/* One output a worker wrote: its port, sha256 (hex) and size, so the scheduler need not
 * re-read the object to index it. */
struct proto_artifact {
    const char *port;
    const char *sha256;
    int64_t bytes;
};

/*
 * A decoded (or to-be-encoded) message. Only the fields of `type` are meaningful; the others
 * are zero. Strings are NUL-terminated.
 * Ownership: a message filled by proto_decoder_next owns its strings and arrays, and
 * proto_msg_release frees them. A message built to be encoded borrows everything it points
 * to (hence the const): proto_encode copies, and such a message is never released.
 */
struct proto_msg {
    int type; /* enum proto_type */
    const char *task_id;

    /* hello */
    const char *worker_id;
    int64_t pid;
    const char *device;
    const char *token; /* optional: pilots only, NULL when absent */
    const char *node;
    const char *job;

    /* run-task */
    const char *plugin;
    const char *params; /* canonical JSON object text */
    struct proto_path *inputs;
    size_t n_inputs;
    struct proto_path *outputs;
    size_t n_outputs;
    struct proto_sample *samples;
    size_t n_samples;
    int64_t timeout_ms;
    const char *log_path;
    const char *fault;
    const char *task_key; /* optional (NULL): hex; the worker records it in each output */

    /* heartbeat */
    double progress;
    int64_t activity;

    /* ready */
    int64_t n_plugins;

    /* log */
    int level;
    const char *text;

    /* result */
    int status;
    const char *error_class;
    const char *message;
    int64_t bytes_written;
    int64_t init_ms, run_ms, write_ms;
    struct proto_artifact *artifacts;
    size_t n_artifacts;
    const char *metrics; /* the `sieve.metrics` metadata of the outputs (a JSON array), or "" */
};

/* The name of a message type ("run-task"), or "unknown". */
const char *proto_type_name(int type);

/* Frees the strings and arrays of a message and zeroes it. Accepts a zeroed message. */
void proto_msg_release(struct proto_msg *m);

/*
 * Encodes one message as a complete frame into a malloc'd buffer.
 * Returns 0. Errors: SIEVE_EINVAL (unknown type, missing required string, frame too large),
 * SIEVE_ENOMEM. Ownership: the caller frees *out.
 */
int proto_encode(const struct proto_msg *m, uint8_t **out, size_t *len, struct sieve_errbuf *err);

/* An incremental decoder: feed it bytes as they arrive, in chunks of any size. */
struct proto_decoder {
    uint8_t *buf;
    size_t len, cap, off;
    int failed;
};

void proto_decoder_init(struct proto_decoder *d);
void proto_decoder_release(struct proto_decoder *d);

/*
 * Appends bytes read from the stream. Returns 0. Errors: SIEVE_ENOMEM; SIEVE_EPROTO once the
 * decoder has failed.
 */
int proto_decoder_feed(struct proto_decoder *d, const void *data, size_t n,
                       struct sieve_errbuf *err);

/*
 * Takes the next complete message out of the buffer.
 * Returns 1 and fills *m (release it with proto_msg_release), or 0 when more bytes are needed.
 * Errors: SIEVE_EPROTO for an oversized or empty frame, an unknown type, a payload that is not
 * a JSON object or lacks or mistypes a field; the decoder then stays failed. SIEVE_ENOMEM.
 */
int proto_decoder_next(struct proto_decoder *d, struct proto_msg *m, struct sieve_errbuf *err);

#endif
