/*
 * mock_host.c - in-memory bundles behind the plugin host services table (see mock_host.h).
 */
#include "mock_host.h"

#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TENSORS 64
#define MAX_META 64
#define MAX_PARAMS 64

struct sieve_bundle {
    size_t n, nm;
    struct sieve_tensor t[MAX_TENSORS];
    char *keys[MAX_META], *vals[MAX_META];
};

int mock_cancel;

static void
m_log(const struct sieve_ctx *ctx, int level, const char *fmt, ...)
{
    (void)ctx;
    (void)level;
    if (!getenv("MOCK_HOST_VERBOSE"))
        return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* A fraction outside [0, 1] (or NaN) is a plugin bug the tests must not miss. */
static void
m_progress(const struct sieve_ctx *ctx, double f)
{
    (void)ctx;
    if (!(f >= 0 && f <= 1)) {
        fprintf(stderr, "mock host: progress %g outside [0, 1]\n", f);
        abort();
    }
}

static int
m_cancelled(const struct sieve_ctx *ctx)
{
    (void)ctx;
    return mock_cancel;
}

static size_t
m_count(const struct sieve_bundle *b)
{
    return b->n;
}

static const struct sieve_tensor *
m_at(const struct sieve_bundle *b, size_t i)
{
    return i < b->n ? &b->t[i] : NULL;
}

static const struct sieve_tensor *
m_get(const struct sieve_bundle *b, const char *name)
{
    for (size_t i = 0; i < b->n; i++)
        if (!strcmp(b->t[i].name, name))
            return &b->t[i];
    return NULL;
}

static int
m_new(struct sieve_bundle *b, const char *name, int32_t dtype, uint32_t ndim, const int64_t *shape,
      struct sieve_tensor **out)
{
    size_t es = sieve_dtype_size(dtype);
    if (!es || ndim > SIEVE_MAX_DIMS || b->n >= MAX_TENSORS || m_get(b, name))
        return SIEVE_EINVAL;
    uint64_t n = 1;
    for (uint32_t d = 0; d < ndim; d++) {
        if (shape[d] < 0)
            return SIEVE_EINVAL;
        n *= (uint64_t)shape[d];
    }
    struct sieve_tensor *t = &b->t[b->n];
    memset(t, 0, sizeof *t);
    t->dtype = dtype;
    t->ndim = ndim;
    for (uint32_t d = 0; d < ndim; d++)
        t->shape[d] = shape[d];
    t->nbytes = n * es;
    /* Exact size (at least one byte), so that ASan catches a plugin reading past the end. */
    t->name = strdup(name);
    t->data = calloc(1, t->nbytes ? t->nbytes : 1);
    if (!t->data || !t->name) {
        free((char *)t->name);
        free(t->data);
        return SIEVE_ENOMEM;
    }
    b->n++;
    *out = t;
    return 0;
}

static const char *
m_meta_get(const struct sieve_bundle *b, const char *key)
{
    for (size_t i = 0; i < b->nm; i++)
        if (!strcmp(b->keys[i], key))
            return b->vals[i];
    return NULL;
}

static int
m_meta_set(struct sieve_bundle *b, const char *key, const char *value)
{
    for (size_t i = 0; i < b->nm; i++)
        if (!strcmp(b->keys[i], key)) {
            free(b->vals[i]);
            b->vals[i] = strdup(value);
            return b->vals[i] ? 0 : SIEVE_ENOMEM;
        }
    if (b->nm >= MAX_META)
        return SIEVE_ENOMEM;
    b->keys[b->nm] = strdup(key);
    b->vals[b->nm] = strdup(value);
    b->nm++;
    return b->keys[b->nm - 1] && b->vals[b->nm - 1] ? 0 : SIEVE_ENOMEM;
}

static size_t
m_meta_count(const struct sieve_bundle *b)
{
    return b->nm;
}

static int
m_meta_at(const struct sieve_bundle *b, size_t i, const char **k, const char **v)
{
    if (i >= b->nm)
        return SIEVE_ENOENT;
    *k = b->keys[i];
    *v = b->vals[i];
    return 0;
}

static const struct sieve_host host = {
    .abi_major = SIEVE_ABI_MAJOR,
    .abi_minor = SIEVE_ABI_MINOR,
    .struct_size = sizeof(struct sieve_host),
    .log = m_log,
    .progress = m_progress,
    .cancelled = m_cancelled,
    .tensor_count = m_count,
    .tensor_at = m_at,
    .tensor_get = m_get,
    .tensor_new = m_new,
    .meta_get = m_meta_get,
    .meta_set = m_meta_set,
    .meta_count = m_meta_count,
    .meta_at = m_meta_at,
};

const struct sieve_host *
mock_host(void)
{
    return &host;
}

struct sieve_bundle *
mock_bundle_new(void)
{
    return calloc(1, sizeof(struct sieve_bundle));
}

void
mock_bundle_free(struct sieve_bundle *b)
{
    if (!b)
        return;
    for (size_t i = 0; i < b->n; i++) {
        free((char *)b->t[i].name);
        free(b->t[i].data);
    }
    for (size_t i = 0; i < b->nm; i++) {
        free(b->keys[i]);
        free(b->vals[i]);
    }
    free(b);
}

struct sieve_tensor *
mock_tensor_add(struct sieve_bundle *b, const char *name, int32_t dtype, uint32_t ndim,
                const int64_t *shape, const void *data)
{
    struct sieve_tensor *t;
    if (m_new(b, name, dtype, ndim, shape, &t) < 0) {
        fprintf(stderr, "mock_tensor_add '%s' failed\n", name);
        abort();
    }
    if (data)
        memcpy(t->data, data, t->nbytes);
    return t;
}

struct sieve_ctx
mock_ctx(const struct sieve_sample *samples, uint32_t n)
{
    struct sieve_ctx c;
    memset(&c, 0, sizeof c);
    c.struct_size = sizeof c;
    c.host = &host;
    c.task_id = "test";
    c.device = "cpu";
    c.device_index = -1;
    c.scratch_dir = "/tmp";
    c.n_samples = n;
    c.samples = samples;
    return c;
}

int
mock_param_parse(const struct sieve_param *row, const char *text, struct sieve_value *v)
{
    memset(v, 0, sizeof *v);
    v->type = row->type;
    switch (row->type) {
    case SIEVE_PARAM_INT:
        v->i = strtoll(text, NULL, 10);
        v->f = (double)v->i;
        return 0;
    case SIEVE_PARAM_FLOAT:
        v->f = strtod(text, NULL);
        return 0;
    case SIEVE_PARAM_STRING:
        v->s = text;
        return 0;
    case SIEVE_PARAM_BOOL:
        v->i = !strcmp(text, "true");
        return 0;
    case SIEVE_PARAM_ENUM:
        for (int i = 0; row->choices[i]; i++)
            if (!strcmp(row->choices[i], text)) {
                v->s = row->choices[i];
                v->i = i;
                return 0;
            }
        return -1;
    default:
        return -1;
    }
}

int
mock_params(const struct sieve_plugin *p, const char *const *kv, struct sieve_value *vals)
{
    for (size_t i = 0; kv && kv[i]; i += 2) {
        uint32_t r = 0;
        while (r < p->n_params && strcmp(kv[i], p->params[r].name))
            r++;
        if (r == p->n_params) {
            fprintf(stderr, "unknown parameter %s\n", kv[i]);
            return -1;
        }
    }
    for (uint32_t r = 0; r < p->n_params; r++) {
        const char *text = p->params[r].def;
        for (size_t i = 0; kv && kv[i]; i += 2)
            if (!strcmp(kv[i], p->params[r].name))
                text = kv[i + 1];
        if (!text || mock_param_parse(&p->params[r], text, &vals[r]) < 0) {
            fprintf(stderr, "bad value for parameter %s\n", p->params[r].name);
            return -1;
        }
    }
    return 0;
}

int
mock_process(const struct sieve_plugin *p, const char *const *kv, const struct sieve_ctx *ctx,
             const struct sieve_bundle *const *ins, struct sieve_bundle *const *outs,
             struct sieve_errbuf *err)
{
    struct sieve_value vals[MAX_PARAMS];
    if (p->n_params > MAX_PARAMS || mock_params(p, kv, vals) < 0)
        return sieve_errbuf_set(err, SIEVE_EINVAL, "bad test parameters");
    void *state = NULL;
    int rc = p->init(&host, vals, &state, err);
    if (rc < 0)
        return rc;
    rc = p->process(state, ctx, ins, outs, err);
    p->free(state);
    return rc;
}

int
mock_plugin_open(struct mock_plugin *mp, const char *path)
{
    mp->desc = NULL;
    mp->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!mp->dl) {
        fprintf(stderr, "dlopen %s: %s\n", path, dlerror());
        return -1;
    }
    sieve_entry_fn entry = (sieve_entry_fn)dlsym(mp->dl, SIEVE_ENTRY_SYMBOL);
    mp->desc = entry ? entry() : NULL;
    return mp->desc ? 0 : -1;
}

void
mock_plugin_close(struct mock_plugin *mp)
{
    if (mp->dl)
        dlclose(mp->dl);
    mp->dl = NULL;
}

int
mock_run(const struct mock_plugin *mp, const char *const *kv, const struct sieve_bundle *in,
         struct sieve_bundle *out, struct sieve_errbuf *err)
{
    struct sieve_sample sample = {"clip01", "/dev/null", NULL, NULL};
    struct sieve_ctx ctx = mock_ctx(&sample, 1);
    const struct sieve_bundle *ins[1] = {in};
    struct sieve_bundle *outs[1] = {out};
    return mock_process(mp->desc, kv, &ctx, ins, outs, err);
}
