/*
 * mock_host.c - in-memory bundles behind the plugin host services table (see mock_host.h).
 */
#include "mock_host.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TENSORS 64
#define MAX_META 64

struct sieve_bundle {
    size_t n, nm;
    struct sieve_tensor t[MAX_TENSORS];
    char *keys[MAX_META], *vals[MAX_META];
};

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

static void
m_progress(const struct sieve_ctx *ctx, double f)
{
    (void)ctx;
    (void)f;
}

static int
m_cancelled(const struct sieve_ctx *ctx)
{
    (void)ctx;
    return 0;
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
    struct sieve_tensor *t = &b->t[b->n];
    memset(t, 0, sizeof *t);
    t->name = strdup(name);
    t->dtype = dtype;
    t->ndim = ndim;
    uint64_t n = 1;
    for (uint32_t d = 0; d < ndim; d++) {
        if (shape[d] < 0)
            return SIEVE_EINVAL;
        t->shape[d] = shape[d];
        n *= (uint64_t)shape[d];
    }
    t->nbytes = n * es;
    t->data = calloc(1, t->nbytes + 8);
    if (!t->data || !t->name)
        return SIEVE_ENOMEM;
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
            return 0;
        }
    if (b->nm >= MAX_META)
        return SIEVE_ENOMEM;
    b->keys[b->nm] = strdup(key);
    b->vals[b->nm] = strdup(value);
    b->nm++;
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
    *k = b->keys[i];
    *v = b->vals[i];
    return 0;
}

static const struct sieve_host host = {
    SIEVE_ABI_MAJOR,
    SIEVE_ABI_MINOR,
    (uint32_t)sizeof(struct sieve_host),
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
