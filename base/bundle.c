/*
 * bundle.c - the in-memory bundle: ordered tensors with a name index, ordered metadata, and
 * the host services table that exposes both to plugins. The file format is safetensors.c.
 */
#include "base/bundle.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "base/array.h"
#include "base/bigmem.h"
#include "bundle_int.h"
#include "base/err.h"
#include "base/log.h"

static const char *const dtype_names[] = {
    [SIEVE_DTYPE_F32] = "F32", [SIEVE_DTYPE_F16] = "F16",   [SIEVE_DTYPE_BF16] = "BF16",
    [SIEVE_DTYPE_F64] = "F64", [SIEVE_DTYPE_I64] = "I64",   [SIEVE_DTYPE_I32] = "I32",
    [SIEVE_DTYPE_U8] = "U8",   [SIEVE_DTYPE_BOOL] = "BOOL",
};

#define N_DTYPES ((int)(sizeof dtype_names / sizeof dtype_names[0]))

int
bundle_dtype_parse(const char *name)
{
    if (!name)
        return -1;
    for (int i = 0; i < N_DTYPES; i++)
        if (!strcmp(name, dtype_names[i]))
            return i;
    return -1;
}

const char *
bundle_dtype_name(int32_t dtype)
{
    if (dtype < 0 || dtype >= N_DTYPES)
        return NULL;
    return dtype_names[dtype];
}

struct bundle *
bundle_new(void)
{
    return calloc(1, sizeof(struct bundle));
}

void
bundle_free(struct bundle *b)
{
    if (!b)
        return;
    for (size_t i = 0; i < b->n; i++) {
        bundle_entry_free(b->entries[i]);
    }
    free(b->entries);
    free(b->index);
    for (size_t i = 0; i < b->n_meta; i++) {
        free(b->meta[i].key);
        free(b->meta[i].value);
    }
    free(b->meta);
    if (b->map)
        munmap(b->map, b->map_len);
    free(b);
}

struct sieve_bundle *
bundle_as_sieve(struct bundle *b)
{
    return (struct sieve_bundle *)b;
}

struct bundle *
bundle_from_sieve(struct sieve_bundle *b)
{
    return (struct bundle *)b;
}

const struct bundle *
bundle_from_sieve_const(const struct sieve_bundle *b)
{
    return (const struct bundle *)b;
}

/* FNV-1a: short names, no adversary that profits from collisions beyond a slow lookup. */
static size_t
name_hash(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return (size_t)h;
}

/* The slot holding `name`, or the empty slot where it would go. */
static size_t
index_slot(const struct bundle *b, const char *name, size_t len)
{
    size_t mask = b->index_cap - 1;
    size_t s = name_hash(name, len) & mask;
    while (b->index[s]) {
        const struct bundle_entry *e = b->entries[b->index[s] - 1];
        if (strlen(e->name) == len && !memcmp(e->name, name, len))
            return s;
        s = (s + 1) & mask;
    }
    return s;
}

static int
index_grow(struct bundle *b)
{
    size_t cap = b->index_cap ? b->index_cap * 2 : 16;
    size_t *old = b->index;
    size_t old_cap = b->index_cap;

    b->index = calloc(cap, sizeof *b->index);
    if (!b->index) {
        b->index = old;
        return SIEVE_ENOMEM;
    }
    b->index_cap = cap;
    for (size_t i = 0; i < old_cap; i++)
        if (old[i]) {
            const struct bundle_entry *e = b->entries[old[i] - 1];
            b->index[index_slot(b, e->name, strlen(e->name))] = old[i];
        }
    free(old);
    return 0;
}

int
bundle_entry_append(struct bundle *b, const char *name, size_t name_len, struct bundle_entry **out)
{
    struct bundle_entry *e;
    size_t slot;

    *out = NULL;
    if ((b->n + 1) * 2 > b->index_cap && index_grow(b) < 0)
        return SIEVE_ENOMEM;
    slot = index_slot(b, name, name_len);
    if (b->index[slot])
        return SIEVE_EEXIST;
    if (array_grow(&b->entries, &b->cap, b->n + 1, sizeof *b->entries) < 0)
        return SIEVE_ENOMEM;
    e = calloc(1, sizeof *e + name_len + 1);
    if (!e)
        return SIEVE_ENOMEM;
    memcpy(e->name, name, name_len);
    e->t.name = e->name;
    b->entries[b->n++] = e;
    b->index[slot] = b->n;
    *out = e;
    return 0;
}

/* Tensors at least this large come from bigmem (huge pages, reused mappings). */
#define BUNDLE_MAP_MIN ((size_t)4 << 20)

int
bundle_entry_alloc(struct bundle_entry *e, uint64_t nbytes)
{
    void *p = NULL;
    size_t n = nbytes ? (size_t)nbytes : 1;

    if (nbytes > SIZE_MAX - BUNDLE_DATA_ALIGN)
        return SIEVE_ENOMEM;
    if (n >= BUNDLE_MAP_MIN) {
        if (!(p = bigmem_alloc(n, &e->mapped)))
            return SIEVE_ENOMEM;
    } else {
        /* calloc, not posix_memalign + memset: glibc skips the clearing for fresh memory, and
         * its adaptive mmap threshold then serves repeated megabyte tensors from the heap,
         * while posix_memalign mapped (and faulted) every one afresh, ~0.5 ms per MB. */
        char *block = calloc(1, n + BUNDLE_DATA_ALIGN);
        if (!block)
            return SIEVE_ENOMEM;
        uintptr_t at =
            ((uintptr_t)block + BUNDLE_DATA_ALIGN - 1) & ~(uintptr_t)(BUNDLE_DATA_ALIGN - 1);
        p = block + (at - (uintptr_t)block);
        e->block = block;
    }
    e->owned = p;
    e->t.data = p;
    e->t.nbytes = nbytes;
    return 0;
}

void
bundle_entry_free(struct bundle_entry *e)
{
    if (!e)
        return;
    if (e->mapped)
        bigmem_free(e->owned, e->mapped);
    else
        free(e->block);
    free(e);
}

int
bundle_shape_numel(uint32_t ndim, const int64_t *shape, uint64_t *numel)
{
    uint64_t n = 1;
    int zero = 0;

    for (uint32_t d = 0; d < ndim; d++) {
        if (shape[d] < 0)
            return -1;
        if (shape[d] == 0)
            zero = 1;
    }
    /* A zero dim makes the product 0 whatever the others are, so overflow does not matter. */
    if (zero) {
        *numel = 0;
        return 0;
    }
    for (uint32_t d = 0; d < ndim; d++) {
        if ((uint64_t)shape[d] > UINT64_MAX / n)
            return -1;
        n *= (uint64_t)shape[d];
    }
    *numel = n;
    return 0;
}

/* Checks the arguments shared by tensor_new and add_copy; fills *nbytes. */
static int
check_tensor(const struct bundle *b, const char *name, int32_t dtype, uint32_t ndim,
             const int64_t *shape, uint64_t *nbytes, struct sieve_errbuf *err)
{
    size_t esize = sieve_dtype_size(dtype);
    uint64_t numel;

    if (!name || !name[0])
        return sieve_errbuf_set(err, SIEVE_EINVAL, "add tensor: empty name");
    if (!strcmp(name, "__metadata__"))
        return sieve_errbuf_set(err, SIEVE_EINVAL, "add tensor '%s': reserved name", name);
    if (bundle_tensor_get(b, name))
        return sieve_errbuf_set(err, SIEVE_EINVAL, "add tensor '%s': name already in bundle", name);
    if (!esize)
        return sieve_errbuf_set(err, SIEVE_EINVAL, "add tensor '%s': unknown dtype %d", name,
                                (int)dtype);
    if (ndim > SIEVE_MAX_DIMS)
        return sieve_errbuf_set(err, SIEVE_EINVAL, "add tensor '%s': %u dims, at most %d", name,
                                ndim, SIEVE_MAX_DIMS);
    if (ndim && !shape)
        return sieve_errbuf_set(err, SIEVE_EINVAL, "add tensor '%s': no shape", name);
    for (uint32_t d = 0; d < ndim; d++)
        if (shape[d] < 0)
            return sieve_errbuf_set(err, SIEVE_EINVAL,
                                    "add tensor '%s': negative dimension %lld at axis %u", name,
                                    (long long)shape[d], d);
    if (bundle_shape_numel(ndim, shape, &numel) < 0 || numel > UINT64_MAX / esize ||
        numel * esize > (uint64_t)PTRDIFF_MAX)
        return sieve_errbuf_set(err, SIEVE_EINVAL, "add tensor '%s': size overflows", name);
    *nbytes = numel * esize;
    return 0;
}

int
bundle_tensor_new(struct bundle *b, const char *name, int32_t dtype, uint32_t ndim,
                  const int64_t *shape, struct sieve_tensor **out, struct sieve_errbuf *err)
{
    struct bundle_entry *e;
    uint64_t nbytes = 0;
    int rc;

    if (out)
        *out = NULL;
    rc = check_tensor(b, name, dtype, ndim, shape, &nbytes, err);
    if (rc < 0)
        return rc;
    rc = bundle_entry_append(b, name, strlen(name), &e);
    if (rc < 0)
        return sieve_errbuf_set(err, rc, "add tensor '%s': %s", name, sieve_strerror(rc));
    e->t.dtype = dtype;
    e->t.ndim = ndim;
    for (uint32_t d = 0; d < ndim; d++)
        e->t.shape[d] = shape[d];
    if (bundle_entry_alloc(e, nbytes) < 0) {
        /* Undo the append so a failed call leaves the bundle as it was. */
        b->index[index_slot(b, e->name, strlen(e->name))] = 0;
        b->n--;
        free(e);
        /* Removing from open addressing breaks probe chains; rebuild the index. */
        memset(b->index, 0, b->index_cap * sizeof *b->index);
        for (size_t i = 0; i < b->n; i++)
            b->index[index_slot(b, b->entries[i]->name, strlen(b->entries[i]->name))] = i + 1;
        return sieve_errbuf_set(err, SIEVE_ENOMEM, "add tensor '%s': out of memory", name);
    }
    if (out)
        *out = &e->t;
    return 0;
}

int
bundle_tensor_add_copy(struct bundle *b, const char *name, const struct sieve_tensor *src,
                       struct sieve_errbuf *err)
{
    struct sieve_tensor *t;
    uint64_t numel;
    int rc;

    if (!name)
        name = src->name;
    /* Check the source's byte count first so a mismatch leaves the bundle untouched. */
    if (src->ndim <= SIEVE_MAX_DIMS && bundle_shape_numel(src->ndim, src->shape, &numel) == 0 &&
        sieve_dtype_size(src->dtype) && numel <= UINT64_MAX / sieve_dtype_size(src->dtype) &&
        numel * sieve_dtype_size(src->dtype) != src->nbytes)
        return sieve_errbuf_set(err, SIEVE_EINVAL, "copy tensor '%s': %llu bytes, shape needs %llu",
                                name ? name : "", (unsigned long long)src->nbytes,
                                (unsigned long long)(numel * sieve_dtype_size(src->dtype)));
    rc = bundle_tensor_new(b, name, src->dtype, src->ndim, src->shape, &t, err);
    if (rc < 0)
        return rc;
    if (t->nbytes)
        memcpy(t->data, src->data, t->nbytes);
    return 0;
}

size_t
bundle_tensor_count(const struct bundle *b)
{
    return b->n;
}

const struct sieve_tensor *
bundle_tensor_at(const struct bundle *b, size_t i)
{
    return i < b->n ? &b->entries[i]->t : NULL;
}

const struct sieve_tensor *
bundle_tensor_get(const struct bundle *b, const char *name)
{
    size_t s;

    if (!b->index_cap || !name)
        return NULL;
    s = index_slot(b, name, strlen(name));
    return b->index[s] ? &b->entries[b->index[s] - 1]->t : NULL;
}

static char *
dupn(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

static int meta_append(struct bundle *b, const char *key, size_t key_len, char *v);

int
bundle_meta_setn(struct bundle *b, const char *key, size_t key_len, const char *value,
                 size_t value_len)
{
    for (size_t i = 0; i < b->n_meta; i++)
        if (strlen(b->meta[i].key) == key_len && !memcmp(b->meta[i].key, key, key_len)) {
            char *v = dupn(value, value_len);
            if (!v)
                return SIEVE_ENOMEM;
            free(b->meta[i].value);
            b->meta[i].value = v;
            return 0;
        }
    return bundle_meta_appendn(b, key, key_len, value, value_len);
}

int
bundle_meta_appendn(struct bundle *b, const char *key, size_t key_len, const char *value,
                    size_t value_len)
{
    char *v = dupn(value, value_len);
    if (!v)
        return SIEVE_ENOMEM;
    return meta_append(b, key, key_len, v);
}

/* Appends a pair, taking `v`; frees it on failure. */
static int
meta_append(struct bundle *b, const char *key, size_t key_len, char *v)
{
    char *k;

    if (array_grow(&b->meta, &b->cap_meta, b->n_meta + 1, sizeof *b->meta) < 0) {
        free(v);
        return SIEVE_ENOMEM;
    }
    k = dupn(key, key_len);
    if (!k) {
        free(v);
        return SIEVE_ENOMEM;
    }
    b->meta[b->n_meta].key = k;
    b->meta[b->n_meta].value = v;
    b->n_meta++;
    return 0;
}

int
bundle_meta_set(struct bundle *b, const char *key, const char *value, struct sieve_errbuf *err)
{
    int rc;

    if (!key || !key[0] || !value)
        return sieve_errbuf_set(err, SIEVE_EINVAL, "set metadata: empty key or NULL value");
    rc = bundle_meta_setn(b, key, strlen(key), value, strlen(value));
    if (rc < 0)
        return sieve_errbuf_set(err, rc, "set metadata '%s': out of memory", key);
    return 0;
}

const char *
bundle_meta_get(const struct bundle *b, const char *key)
{
    for (size_t i = 0; key && i < b->n_meta; i++)
        if (!strcmp(b->meta[i].key, key))
            return b->meta[i].value;
    return NULL;
}

size_t
bundle_meta_count(const struct bundle *b)
{
    return b->n_meta;
}

int
bundle_meta_at(const struct bundle *b, size_t i, const char **key, const char **value)
{
    if (i >= b->n_meta)
        return SIEVE_ENOENT;
    if (key)
        *key = b->meta[i].key;
    if (value)
        *value = b->meta[i].value;
    return 0;
}

/* ---- host services ---------------------------------------------------------------------- */

static void
host_log(const struct sieve_ctx *ctx, int level, const char *fmt, ...)
{
    char line[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (ctx && ctx->struct_size >= offsetof(struct sieve_ctx, task_id) + sizeof ctx->task_id &&
        ctx->task_id)
        log_write(level, "[%s] %s", ctx->task_id, line);
    else
        log_write(level, "%s", line);
}

static void
host_progress(const struct sieve_ctx *ctx, double fraction)
{
    (void)ctx;
    (void)fraction;
}

static int
host_cancelled(const struct sieve_ctx *ctx)
{
    (void)ctx;
    return 0;
}

static size_t
host_tensor_count(const struct sieve_bundle *b)
{
    return bundle_tensor_count(bundle_from_sieve_const(b));
}

static const struct sieve_tensor *
host_tensor_at(const struct sieve_bundle *b, size_t i)
{
    return bundle_tensor_at(bundle_from_sieve_const(b), i);
}

static const struct sieve_tensor *
host_tensor_get(const struct sieve_bundle *b, const char *name)
{
    return bundle_tensor_get(bundle_from_sieve_const(b), name);
}

static int
host_tensor_new(struct sieve_bundle *b, const char *name, int32_t dtype, uint32_t ndim,
                const int64_t *shape, struct sieve_tensor **out)
{
    return bundle_tensor_new(bundle_from_sieve(b), name, dtype, ndim, shape, out, NULL);
}

static const char *
host_meta_get(const struct sieve_bundle *b, const char *key)
{
    return bundle_meta_get(bundle_from_sieve_const(b), key);
}

static int
host_meta_set(struct sieve_bundle *b, const char *key, const char *value)
{
    return bundle_meta_set(bundle_from_sieve(b), key, value, NULL);
}

static size_t
host_meta_count(const struct sieve_bundle *b)
{
    return bundle_meta_count(bundle_from_sieve_const(b));
}

static int
host_meta_at(const struct sieve_bundle *b, size_t i, const char **key, const char **value)
{
    return bundle_meta_at(bundle_from_sieve_const(b), i, key, value);
}

static const struct sieve_host host_services = {
    .abi_major = SIEVE_ABI_MAJOR,
    .abi_minor = SIEVE_ABI_MINOR,
    .struct_size = sizeof(struct sieve_host),
    .log = host_log,
    .progress = host_progress,
    .cancelled = host_cancelled,
    .tensor_count = host_tensor_count,
    .tensor_at = host_tensor_at,
    .tensor_get = host_tensor_get,
    .tensor_new = host_tensor_new,
    .meta_get = host_meta_get,
    .meta_set = host_meta_set,
    .meta_count = host_meta_count,
    .meta_at = host_meta_at,
};

const struct sieve_host *
bundle_host_services(void)
{
    return &host_services;
}
