/*
 * mock_host.c - in-memory plugin host for the encode tests and benchmark (mock_host.h).
 */
#include "mock_host.h"

#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_T 32
#define MAX_M 32

struct sieve_bundle {
    size_t n, nm;
    struct sieve_tensor t[MAX_T];
    char *mk[MAX_M], *mv[MAX_M];
};

static void
m_log(const struct sieve_ctx *ctx, int level, const char *fmt, ...)
{
    (void)ctx;
    (void)level;
    (void)fmt;
}

static void
m_progress(const struct sieve_ctx *ctx, double f)
{
    (void)ctx;
    (void)f;
}

int mock_cancel;

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
    if (b->n == MAX_T || m_get(b, name) || !sieve_dtype_size(dtype) || ndim > SIEVE_MAX_DIMS)
        return SIEVE_EINVAL;
    struct sieve_tensor *t = &b->t[b->n];
    memset(t, 0, sizeof *t);
    t->name = strdup(name);
    t->dtype = dtype;
    t->ndim = ndim;
    for (uint32_t d = 0; d < ndim; d++) {
        if (shape[d] < 0)
            return SIEVE_EINVAL;
        t->shape[d] = shape[d];
    }
    t->nbytes = sieve_tensor_numel(t) * sieve_dtype_size(dtype);
    t->data = calloc(1, t->nbytes ? t->nbytes : 1);
    b->n++;
    *out = t;
    return 0;
}

static const char *
m_meta_get(const struct sieve_bundle *b, const char *key)
{
    for (size_t i = 0; i < b->nm; i++)
        if (!strcmp(b->mk[i], key))
            return b->mv[i];
    return NULL;
}

static int
m_meta_set(struct sieve_bundle *b, const char *key, const char *value)
{
    for (size_t i = 0; i < b->nm; i++)
        if (!strcmp(b->mk[i], key)) {
            free(b->mv[i]);
            b->mv[i] = strdup(value);
            return 0;
        }
    if (b->nm == MAX_M)
        return SIEVE_ENOMEM;
    b->mk[b->nm] = strdup(key);
    b->mv[b->nm++] = strdup(value);
    return 0;
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
    *k = b->mk[i];
    *v = b->mv[i];
    return 0;
}

const struct sieve_host mock_host = {
    SIEVE_ABI_MAJOR,
    SIEVE_ABI_MINOR,
    sizeof(struct sieve_host),
    m_log,
    m_progress,
    m_cancelled,
    m_count,
    m_at,
    m_get,
    m_new,
    m_meta_get,
    m_meta_set,
    m_meta_count,
    m_meta_at,
};

int
mock_plugin_open(struct mock_plugin *mp, const char *path)
{
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
        free(b->mk[i]);
        free(b->mv[i]);
    }
    free(b);
}

struct sieve_tensor *
mock_tensor_add(struct sieve_bundle *b, const char *name, int32_t dtype, uint32_t ndim,
                const int64_t *shape, const void *data)
{
    struct sieve_tensor *t;
    if (m_new(b, name, dtype, ndim, shape, &t) < 0)
        return NULL;
    if (data)
        memcpy(t->data, data, t->nbytes);
    return t;
}

static int
parse(const struct sieve_param *row, const char *text, struct sieve_value *v)
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
    for (uint32_t r = 0; r < p->n_params; r++) {
        const char *text = p->params[r].def;
        for (size_t i = 0; kv && kv[i]; i += 2)
            if (!strcmp(kv[i], p->params[r].name))
                text = kv[i + 1];
        if (!text || parse(&p->params[r], text, &vals[r]) < 0)
            return -1;
    }
    for (size_t i = 0; kv && kv[i]; i += 2) {
        uint32_t r = 0;
        while (r < p->n_params && strcmp(kv[i], p->params[r].name))
            r++;
        if (r == p->n_params) {
            fprintf(stderr, "unknown parameter %s\n", kv[i]);
            return -1;
        }
    }
    return 0;
}

int
mock_run(const struct mock_plugin *mp, const char *const *kv, const struct sieve_bundle *in,
         struct sieve_bundle *out, struct sieve_errbuf *err)
{
    struct sieve_value vals[32];
    if (mock_params(mp->desc, kv, vals) < 0)
        return sieve_errbuf_set(err, SIEVE_EINVAL, "bad test parameters");
    void *state = NULL;
    int rc = mp->desc->init(&mock_host, vals, &state, err);
    if (rc < 0)
        return rc;
    struct sieve_sample sample = {"clip01", "/dev/null", NULL, NULL};
    struct sieve_ctx ctx = {sizeof ctx, &mock_host, NULL, "t1", "cpu", -1, "/tmp", 1, &sample};
    const struct sieve_bundle *ins[1] = {in};
    struct sieve_bundle *outs[1] = {out};
    rc = mp->desc->process(state, &ctx, ins, outs, err);
    mp->desc->free(state);
    return rc;
}
