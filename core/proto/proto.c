/*
 * proto.c - encoding and strict decoding of worker protocol frames (see proto.h).
 */
#include "core/proto/proto.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/array.h"
#include "base/err.h"

const char *
proto_type_name(int type)
{
    switch (type) {
    case PROTO_HELLO:
        return "hello";
    case PROTO_RUN_TASK:
        return "run-task";
    case PROTO_HEARTBEAT:
        return "heartbeat";
    case PROTO_LOG:
        return "log";
    case PROTO_RESULT:
        return "result";
    case PROTO_SHUTDOWN:
        return "shutdown";
    case PROTO_READY:
        return "ready";
    case PROTO_DRAIN:
        return "drain";
    default:
        return "unknown";
    }
}

static void
paths_free(struct proto_path *p, size_t n)
{
    for (size_t i = 0; p && i < n; i++) {
        free((void *)p[i].port);
        free((void *)p[i].path);
    }
    free(p);
}

/* The strings are const for messages being encoded; a decoded message allocated them. */
void
proto_msg_release(struct proto_msg *m)
{
    if (!m)
        return;
    free((void *)m->task_id);
    free((void *)m->worker_id);
    free((void *)m->device);
    free((void *)m->token);
    free((void *)m->node);
    free((void *)m->job);
    free((void *)m->plugin);
    free((void *)m->params);
    paths_free(m->inputs, m->n_inputs);
    paths_free(m->outputs, m->n_outputs);
    for (size_t i = 0; m->samples && i < m->n_samples; i++) {
        free((void *)m->samples[i].id);
        free((void *)m->samples[i].media);
        free((void *)m->samples[i].category);
        free((void *)m->samples[i].fields);
    }
    free(m->samples);
    free((void *)m->log_path);
    free((void *)m->task_key);
    free((void *)m->fault);
    free((void *)m->text);
    free((void *)m->error_class);
    free((void *)m->message);
    for (size_t i = 0; m->artifacts && i < m->n_artifacts; i++) {
        free((void *)m->artifacts[i].port);
        free((void *)m->artifacts[i].sha256);
    }
    free(m->artifacts);
    free((void *)m->metrics);
    memset(m, 0, sizeof *m);
}

/* ---- encoding ------------------------------------------------------------------------- */

static int
set_str(json_t *o, const char *key, const char *s)
{
    return json_object_set_new(o, key, json_string(s ? s : ""));
}

static json_t *
paths_json(const struct proto_path *p, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++) {
        json_t *o = json_object();
        set_str(o, "port", p[i].port);
        set_str(o, "path", p[i].path);
        json_array_append_new(a, o);
    }
    return a;
}

static json_t *
build_payload(const struct proto_msg *m, struct sieve_errbuf *err)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    switch (m->type) {
    case PROTO_HELLO:
        set_str(o, "worker_id", m->worker_id);
        json_object_set_new(o, "pid", json_integer(m->pid));
        set_str(o, "device", m->device);
        /* A pilot (a worker that dialled in over TCP) proves it belongs to the run and says
         * where it runs; a local worker sends none of these. */
        if (m->token)
            set_str(o, "token", m->token);
        if (m->node)
            set_str(o, "node", m->node);
        if (m->job)
            set_str(o, "job", m->job);
        break;
    case PROTO_RUN_TASK: {
        json_error_t jerr;
        json_t *params = json_loads(m->params ? m->params : "{}", JSON_DECODE_ANY, &jerr);
        if (!params || !json_is_object(params)) {
            json_decref(params);
            json_decref(o);
            sieve_errbuf_set(err, SIEVE_EINVAL, "run-task '%s': params are not a JSON object",
                             m->task_id ? m->task_id : "");
            return NULL;
        }
        set_str(o, "task_id", m->task_id);
        set_str(o, "plugin", m->plugin);
        json_object_set_new(o, "params", params);
        json_object_set_new(o, "inputs", paths_json(m->inputs, m->n_inputs));
        json_object_set_new(o, "outputs", paths_json(m->outputs, m->n_outputs));
        json_t *a = json_array();
        for (size_t i = 0; i < m->n_samples; i++) {
            const struct proto_sample *s = &m->samples[i];
            json_t *so = json_object();
            set_str(so, "id", s->id);
            set_str(so, "media", s->media);
            if (s->category)
                set_str(so, "category", s->category);
            if (s->fields)
                set_str(so, "fields", s->fields);
            json_array_append_new(a, so);
        }
        json_object_set_new(o, "samples", a);
        json_object_set_new(o, "timeout_ms", json_integer(m->timeout_ms));
        set_str(o, "log_path", m->log_path);
        set_str(o, "fault", m->fault);
        if (m->task_key)
            set_str(o, "task_key", m->task_key);
        break;
    }
    case PROTO_HEARTBEAT:
        set_str(o, "task_id", m->task_id);
        json_object_set_new(o, "progress", json_real(m->progress));
        json_object_set_new(o, "activity", json_integer(m->activity));
        break;
    case PROTO_READY:
        json_object_set_new(o, "plugins", json_integer(m->n_plugins));
        break;
    case PROTO_LOG:
        set_str(o, "task_id", m->task_id);
        json_object_set_new(o, "level", json_integer(m->level));
        set_str(o, "text", m->text);
        break;
    case PROTO_RESULT:
        set_str(o, "task_id", m->task_id);
        json_object_set_new(o, "status", json_integer(m->status));
        set_str(o, "error_class", m->error_class);
        set_str(o, "message", m->message);
        json_object_set_new(o, "bytes_written", json_integer(m->bytes_written));
        json_object_set_new(o, "init_ms", json_integer(m->init_ms));
        json_object_set_new(o, "run_ms", json_integer(m->run_ms));
        json_object_set_new(o, "write_ms", json_integer(m->write_ms));
        {
            json_t *a = json_array();
            for (size_t i = 0; i < m->n_artifacts; i++) {
                json_t *e = json_object();
                set_str(e, "port", m->artifacts[i].port);
                set_str(e, "sha256", m->artifacts[i].sha256);
                json_object_set_new(e, "bytes", json_integer(m->artifacts[i].bytes));
                json_array_append_new(a, e);
            }
            json_object_set_new(o, "artifacts", a);
        }
        set_str(o, "metrics", m->metrics);
        break;
    case PROTO_SHUTDOWN:
    case PROTO_DRAIN:
        break;
    default:
        json_decref(o);
        sieve_errbuf_set(err, SIEVE_EINVAL, "encode: unknown message type %d", m->type);
        return NULL;
    }
    return o;
}

int
proto_encode(const struct proto_msg *m, uint8_t **out, size_t *len, struct sieve_errbuf *err)
{
    *out = NULL;
    *len = 0;
    json_t *o = build_payload(m, err);
    if (!o)
        return SIEVE_EINVAL;
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!text)
        return sieve_errbuf_set(err, SIEVE_ENOMEM, "encode %s: out of memory",
                                proto_type_name(m->type));
    size_t n = strlen(text);
    if (n + 1 > PROTO_FRAME_MAX) {
        free(text);
        return sieve_errbuf_set(err, SIEVE_EINVAL, "encode %s: frame of %zu bytes exceeds %u",
                                proto_type_name(m->type), n + 1, PROTO_FRAME_MAX);
    }
    uint8_t *buf = malloc(5 + n);
    if (!buf) {
        free(text);
        return sieve_errbuf_set(err, SIEVE_ENOMEM, "encode: out of memory");
    }
    uint32_t flen = (uint32_t)(n + 1);
    buf[0] = (uint8_t)(flen & 0xff);
    buf[1] = (uint8_t)((flen >> 8) & 0xff);
    buf[2] = (uint8_t)((flen >> 16) & 0xff);
    buf[3] = (uint8_t)((flen >> 24) & 0xff);
    buf[4] = (uint8_t)m->type;
    memcpy(buf + 5, text, n);
    free(text);
    *out = buf;
    *len = 5 + n;
    return 0;
}

/* ---- decoding ------------------------------------------------------------------------- */

void
proto_decoder_init(struct proto_decoder *d)
{
    memset(d, 0, sizeof *d);
}

void
proto_decoder_release(struct proto_decoder *d)
{
    free(d->buf);
    memset(d, 0, sizeof *d);
}

int
proto_decoder_feed(struct proto_decoder *d, const void *data, size_t n, struct sieve_errbuf *err)
{
    if (d->failed)
        return sieve_errbuf_set(err, SIEVE_EPROTO, "protocol stream already failed");
    if (d->off > 0 && d->off == d->len) {
        d->off = d->len = 0;
    } else if (d->off > (1u << 16) || (d->off > 0 && d->len + n > d->cap)) {
        memmove(d->buf, d->buf + d->off, d->len - d->off);
        d->len -= d->off;
        d->off = 0;
    }
    if (array_grow(&d->buf, &d->cap, d->len + n, 1) < 0)
        return sieve_errbuf_set(err, SIEVE_ENOMEM, "protocol buffer: out of memory");
    if (n)
        memcpy(d->buf + d->len, data, n);
    d->len += n;
    return 0;
}

struct field_ctx {
    const char *type;
    struct sieve_errbuf *err;
};

static int
fail(struct field_ctx *c, const char *key, const char *what)
{
    return sieve_errbuf_set(c->err, SIEVE_EPROTO, "%s message: field '%s' %s", c->type, key, what);
}

/* A required string field; copies it into *out. */
static int
get_str(struct field_ctx *c, json_t *o, const char *key, const char **out)
{
    json_t *v = json_object_get(o, key);
    if (!v)
        return fail(c, key, "is missing");
    if (!json_is_string(v))
        return fail(c, key, "is not a string");
    size_t n = json_string_length(v);
    if (n > PROTO_STRING_MAX)
        return fail(c, key, "is too long");
    const char *s = json_string_value(v);
    if (memchr(s, '\0', n))
        return fail(c, key, "contains a NUL byte");
    char *copy = strdup(s);
    *out = copy;
    return copy ? 0 : sieve_errbuf_set(c->err, SIEVE_ENOMEM, "out of memory");
}

/* An optional string field: absent leaves *out NULL. */
static int
get_opt_str(struct field_ctx *c, json_t *o, const char *key, const char **out)
{
    if (!json_object_get(o, key))
        return 0;
    return get_str(c, o, key, out);
}

static int
get_int(struct field_ctx *c, json_t *o, const char *key, int64_t lo, int64_t hi, int64_t *out)
{
    json_t *v = json_object_get(o, key);
    if (!v)
        return fail(c, key, "is missing");
    if (!json_is_integer(v))
        return fail(c, key, "is not an integer");
    json_int_t x = json_integer_value(v);
    if (x < lo || x > hi)
        return fail(c, key, "is out of range");
    *out = (int64_t)x;
    return 0;
}

static int
get_paths(struct field_ctx *c, json_t *o, const char *key, struct proto_path **out, size_t *n)
{
    json_t *a = json_object_get(o, key);
    if (!a)
        return fail(c, key, "is missing");
    if (!json_is_array(a))
        return fail(c, key, "is not an array");
    size_t len = json_array_size(a);
    if (len > PROTO_LIST_MAX)
        return fail(c, key, "has too many entries");
    *out = calloc(len ? len : 1, sizeof **out);
    if (!*out)
        return sieve_errbuf_set(c->err, SIEVE_ENOMEM, "out of memory");
    *n = len;
    for (size_t i = 0; i < len; i++) {
        json_t *e = json_array_get(a, i);
        if (!json_is_object(e))
            return fail(c, key, "has an entry that is not an object");
        int rc = get_str(c, e, "port", &(*out)[i].port);
        if (rc == 0)
            rc = get_str(c, e, "path", &(*out)[i].path);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int
get_samples(struct field_ctx *c, json_t *o, struct proto_msg *m)
{
    json_t *a = json_object_get(o, "samples");
    if (!a)
        return fail(c, "samples", "is missing");
    if (!json_is_array(a))
        return fail(c, "samples", "is not an array");
    size_t len = json_array_size(a);
    if (len > PROTO_LIST_MAX)
        return fail(c, "samples", "has too many entries");
    m->samples = calloc(len ? len : 1, sizeof *m->samples);
    if (!m->samples)
        return sieve_errbuf_set(c->err, SIEVE_ENOMEM, "out of memory");
    m->n_samples = len;
    for (size_t i = 0; i < len; i++) {
        json_t *e = json_array_get(a, i);
        struct proto_sample *s = &m->samples[i];
        int rc;
        if (!json_is_object(e))
            return fail(c, "samples", "has an entry that is not an object");
        if ((rc = get_str(c, e, "id", &s->id)) < 0 ||
            (rc = get_str(c, e, "media", &s->media)) < 0 ||
            (rc = get_opt_str(c, e, "category", &s->category)) < 0 ||
            (rc = get_opt_str(c, e, "fields", &s->fields)) < 0)
            return rc;
    }
    return 0;
}

static int
get_artifacts(struct field_ctx *c, json_t *o, struct proto_msg *m)
{
    json_t *a = json_object_get(o, "artifacts");
    if (!a)
        return fail(c, "artifacts", "is missing");
    if (!json_is_array(a))
        return fail(c, "artifacts", "is not an array");
    size_t len = json_array_size(a);
    if (len > PROTO_LIST_MAX)
        return fail(c, "artifacts", "has too many entries");
    m->artifacts = calloc(len ? len : 1, sizeof *m->artifacts);
    if (!m->artifacts)
        return sieve_errbuf_set(c->err, SIEVE_ENOMEM, "out of memory");
    m->n_artifacts = len;
    for (size_t i = 0; i < len; i++) {
        json_t *e = json_array_get(a, i);
        int rc;
        if (!json_is_object(e))
            return fail(c, "artifacts", "has an entry that is not an object");
        if ((rc = get_str(c, e, "port", &m->artifacts[i].port)) < 0 ||
            (rc = get_str(c, e, "sha256", &m->artifacts[i].sha256)) < 0 ||
            (rc = get_int(c, e, "bytes", 0, INT64_MAX / 2, &m->artifacts[i].bytes)) < 0)
            return rc;
    }
    return 0;
}

static int
parse_payload(int type, json_t *o, struct proto_msg *m, struct sieve_errbuf *err)
{
    struct field_ctx c = {proto_type_name(type), err};
    int64_t x;
    int rc = 0;
    m->type = type;
    switch (type) {
    case PROTO_HELLO:
        if ((rc = get_str(&c, o, "worker_id", &m->worker_id)) < 0 ||
            (rc = get_int(&c, o, "pid", 0, INT32_MAX, &m->pid)) < 0 ||
            (rc = get_str(&c, o, "device", &m->device)) < 0 ||
            (rc = get_opt_str(&c, o, "token", &m->token)) < 0 ||
            (rc = get_opt_str(&c, o, "node", &m->node)) < 0 ||
            (rc = get_opt_str(&c, o, "job", &m->job)) < 0)
            return rc;
        return 0;
    case PROTO_RUN_TASK: {
        json_t *params = json_object_get(o, "params");
        if ((rc = get_str(&c, o, "task_id", &m->task_id)) < 0 ||
            (rc = get_str(&c, o, "plugin", &m->plugin)) < 0)
            return rc;
        if (!params)
            return fail(&c, "params", "is missing");
        if (!json_is_object(params))
            return fail(&c, "params", "is not an object");
        m->params = json_dumps(params, JSON_COMPACT | JSON_SORT_KEYS);
        if (!m->params)
            return sieve_errbuf_set(err, SIEVE_ENOMEM, "out of memory");
        if ((rc = get_paths(&c, o, "inputs", &m->inputs, &m->n_inputs)) < 0 ||
            (rc = get_paths(&c, o, "outputs", &m->outputs, &m->n_outputs)) < 0 ||
            (rc = get_samples(&c, o, m)) < 0 ||
            (rc = get_int(&c, o, "timeout_ms", 0, INT64_MAX / 2, &m->timeout_ms)) < 0 ||
            (rc = get_str(&c, o, "log_path", &m->log_path)) < 0 ||
            (rc = get_str(&c, o, "fault", &m->fault)) < 0 ||
            (rc = get_opt_str(&c, o, "task_key", &m->task_key)) < 0)
            return rc;
        return 0;
    }
    case PROTO_HEARTBEAT: {
        json_t *p = json_object_get(o, "progress");
        if ((rc = get_str(&c, o, "task_id", &m->task_id)) < 0)
            return rc;
        if (!p || !json_is_number(p))
            return fail(&c, "progress", "is missing or not a number");
        m->progress = json_number_value(p);
        if (!(m->progress >= 0.0 && m->progress <= 1.0))
            return fail(&c, "progress", "is outside 0..1");
        return get_int(&c, o, "activity", 0, INT64_MAX / 2, &m->activity);
    }
    case PROTO_READY:
        return get_int(&c, o, "plugins", 0, INT32_MAX, &m->n_plugins);
    case PROTO_LOG:
        if ((rc = get_str(&c, o, "task_id", &m->task_id)) < 0 ||
            (rc = get_int(&c, o, "level", SIEVE_LOG_DEBUG, SIEVE_LOG_ERROR, &x)) < 0 ||
            (rc = get_str(&c, o, "text", &m->text)) < 0)
            return rc;
        m->level = (int)x;
        return 0;
    case PROTO_RESULT:
        if ((rc = get_str(&c, o, "task_id", &m->task_id)) < 0 ||
            (rc = get_int(&c, o, "status", -1000, 0, &x)) < 0)
            return rc;
        m->status = (int)x;
        if ((rc = get_str(&c, o, "error_class", &m->error_class)) < 0 ||
            (rc = get_str(&c, o, "message", &m->message)) < 0 ||
            (rc = get_int(&c, o, "bytes_written", 0, INT64_MAX / 2, &m->bytes_written)) < 0 ||
            (rc = get_int(&c, o, "init_ms", 0, INT64_MAX / 2, &m->init_ms)) < 0 ||
            (rc = get_int(&c, o, "run_ms", 0, INT64_MAX / 2, &m->run_ms)) < 0 ||
            (rc = get_int(&c, o, "write_ms", 0, INT64_MAX / 2, &m->write_ms)) < 0 ||
            (rc = get_artifacts(&c, o, m)) < 0 || (rc = get_str(&c, o, "metrics", &m->metrics)) < 0)
            return rc;
        return 0;
    case PROTO_SHUTDOWN:
    case PROTO_DRAIN:
        return 0;
    default:
        return sieve_errbuf_set(err, SIEVE_EPROTO, "unknown message type %d", type);
    }
}

int
proto_decoder_next(struct proto_decoder *d, struct proto_msg *m, struct sieve_errbuf *err)
{
    memset(m, 0, sizeof *m);
    if (d->failed)
        return sieve_errbuf_set(err, SIEVE_EPROTO, "protocol stream already failed");
    size_t avail = d->len - d->off;
    if (avail < 4)
        return 0;
    const uint8_t *p = d->buf + d->off;
    uint32_t flen =
        (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    if (flen == 0 || flen > PROTO_FRAME_MAX) {
        d->failed = 1;
        return sieve_errbuf_set(err, SIEVE_EPROTO, "frame length %u outside 1..%u", flen,
                                PROTO_FRAME_MAX);
    }
    if (avail - 4 < flen)
        return 0;
    int type = p[4];
    json_error_t jerr;
    json_t *o = json_loadb((const char *)p + 5, flen - 1, 0, &jerr);
    d->off += 4 + (size_t)flen;
    if (type < PROTO_HELLO || type > PROTO_TYPE_MAX) {
        json_decref(o);
        d->failed = 1;
        return sieve_errbuf_set(err, SIEVE_EPROTO, "unknown message type %d", type);
    }
    if (!o || !json_is_object(o)) {
        json_decref(o);
        d->failed = 1;
        return sieve_errbuf_set(err, SIEVE_EPROTO, "%s message: payload is not a JSON object%s%s",
                                proto_type_name(type), o ? "" : ": ", o ? "" : jerr.text);
    }
    int rc = parse_payload(type, o, m, err);
    json_decref(o);
    if (rc < 0) {
        proto_msg_release(m);
        d->failed = 1;
        return rc;
    }
    return 1;
}
