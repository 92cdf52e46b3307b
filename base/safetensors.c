/*
 * safetensors.c - bundles to and from safetensors files: validation of untrusted images,
 * memory-mapped reading, aligned serialisation and atomic writing. The byte layout and the
 * rules are documented in bundle.h.
 *
 * Parsing treats the image as hostile: every length is checked against what is left before
 * it is used, sizes are computed with overflow checks, and the tensors only become visible
 * (bundle returned) once the whole header has passed. jansson parses the JSON with
 * JSON_REJECT_DUPLICATES, because by default it silently keeps the last of two equal keys,
 * which would let a file smuggle two tensors under one name.
 */
#include "base/bundle.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bundle_int.h"
#include "base/err.h"
#include "base/hash.h"

/* Formats "read '<label>': <message>" into err and returns SIEVE_EFORMAT. */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static int
bad(struct sieve_errbuf *err, const char *label, const char *fmt, ...)
{
    char msg[SIEVE_ERRBUF_SIZE];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* jansson quotes raw tokens of the file; keep the message on one line whatever they hold. */
    for (char *c = msg; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            *c = '?';
    return sieve_errbuf_set(err, SIEVE_EFORMAT, "read '%s': %s", label, msg);
}

/* A printable, bounded copy of an untrusted name, so an error stays one readable line. */
static const char *
printable(char out[72], const char *s)
{
    size_t i = 0;

    for (; s[i] && i < 64; i++)
        out[i] = (s[i] >= 0x20 && s[i] != 0x7f) || (s[i] & 0x80) ? s[i] : '?';
    if (s[i]) {
        memcpy(out + i, "...", 3);
        i += 3;
    }
    out[i] = '\0';
    return out;
}

static uint64_t
le64_get(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static void
le64_put(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

struct range {
    uint64_t begin, end;
    size_t idx;
};

static int
range_cmp(const void *a, const void *b)
{
    const struct range *x = a, *y = b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

/* A non-negative JSON integer, or -1. */
static int64_t
json_uint(const json_t *v)
{
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return -1;
    return (int64_t)json_integer_value(v);
}

static int
parse_meta(struct bundle *b, const json_t *meta, const char *label, struct sieve_errbuf *err)
{
    const char *key;
    json_t *val;
    char pk[72];

    if (!json_is_object(meta))
        return bad(err, label, "__metadata__ is not an object");
    json_object_foreach((json_t *)meta, key, val)
    {
        if (!json_is_string(val))
            return bad(err, label, "__metadata__ '%s': value is not a string", printable(pk, key));
        /* Keys of one JSON object are unique (jansson keeps the last of repeated ones). */
        if (bundle_meta_appendn(b, key, strlen(key), json_string_value(val),
                                json_string_length(val)) < 0)
            return sieve_errbuf_set(err, SIEVE_ENOMEM, "read '%s': out of memory", label);
    }
    return 0;
}

/* Validates one tensor entry against the data block and appends it (data not yet set). */
static int
parse_tensor(struct bundle *b, const char *name, const json_t *v, uint64_t data_len,
             const char *label, struct range *r, struct sieve_errbuf *err)
{
    const json_t *dt = json_object_get(v, "dtype"), *shape = json_object_get(v, "shape");
    const json_t *offs = json_object_get(v, "data_offsets");
    struct bundle_entry *e;
    int64_t dims[SIEVE_MAX_DIMS], begin, end;
    uint64_t numel, need;
    size_t ndim;
    int dtype, rc;
    char pn[72], pd[72];

    printable(pn, name);
    if (!name[0])
        return bad(err, label, "tensor with an empty name");
    if (!json_is_object(v))
        return bad(err, label, "tensor '%s': entry is not an object", pn);
    if (!json_is_string(dt))
        return bad(err, label, "tensor '%s': missing or non-string dtype", pn);
    dtype = bundle_dtype_parse(json_string_value(dt));
    if (dtype < 0)
        return bad(err, label, "tensor '%s': unknown dtype '%s'", pn,
                   printable(pd, json_string_value(dt)));
    if (!json_is_array(shape))
        return bad(err, label, "tensor '%s': missing or non-array shape", pn);
    ndim = json_array_size(shape);
    if (ndim > SIEVE_MAX_DIMS)
        return bad(err, label, "tensor '%s': shape has %zu dims, at most %d", pn, ndim,
                   SIEVE_MAX_DIMS);
    for (size_t d = 0; d < ndim; d++) {
        const json_t *x = json_array_get(shape, d);
        if (!json_is_integer(x))
            return bad(err, label, "tensor '%s': shape[%zu] is not an integer", pn, d);
        dims[d] = (int64_t)json_integer_value(x);
        if (dims[d] < 0)
            return bad(err, label, "tensor '%s': negative dimension %lld in shape", pn,
                       (long long)dims[d]);
    }
    if (!json_is_array(offs) || json_array_size(offs) != 2)
        return bad(err, label, "tensor '%s': data_offsets must be [begin, end]", pn);
    begin = json_uint(json_array_get(offs, 0));
    end = json_uint(json_array_get(offs, 1));
    if (begin < 0 || end < 0)
        return bad(err, label, "tensor '%s': data_offsets must be non-negative integers", pn);
    if (begin > end)
        return bad(err, label, "tensor '%s': data_offsets begin %lld > end %lld", pn,
                   (long long)begin, (long long)end);
    if ((uint64_t)end > data_len)
        return bad(err, label, "tensor '%s': data_offsets end %lld is past the data (%llu bytes)",
                   pn, (long long)end, (unsigned long long)data_len);
    if (bundle_shape_numel((uint32_t)ndim, dims, &numel) < 0 ||
        numel > UINT64_MAX / sieve_dtype_size(dtype))
        return bad(err, label, "tensor '%s': shape size overflows", pn);
    need = numel * sieve_dtype_size(dtype);
    if (need != (uint64_t)(end - begin))
        return bad(err, label,
                   "tensor '%s': size mismatch: shape and %s need %llu bytes, data_offsets span "
                   "%llu",
                   pn, bundle_dtype_name(dtype), (unsigned long long)need,
                   (unsigned long long)(end - begin));
    rc = bundle_entry_append(b, name, strlen(name), &e);
    if (rc == SIEVE_EEXIST)
        return bad(err, label, "duplicate tensor name '%s'", pn);
    if (rc < 0)
        return sieve_errbuf_set(err, rc, "read '%s': out of memory", label);
    e->t.dtype = dtype;
    e->t.ndim = (uint32_t)ndim;
    memcpy(e->t.shape, dims, ndim * sizeof dims[0]);
    e->t.nbytes = need;
    r->begin = (uint64_t)begin;
    r->end = (uint64_t)end;
    r->idx = b->n - 1;
    return 0;
}

/* Turns jansson's complaint into ours; a duplicate key gets its own wording. */
static int
bad_json(const json_error_t *je, const char *label, struct sieve_errbuf *err)
{
    if (json_error_code(je) == json_error_duplicate_key) {
        /* jansson says: duplicate object key near '"name"'. */
        const char *near = strstr(je->text, "near '");
        char name[72] = "?";
        if (near) {
            size_t n;
            near += 6;
            if (*near == '"')
                near++;
            n = strlen(near);
            while (n && (near[n - 1] == '\'' || near[n - 1] == '"'))
                n--;
            if (n > 64)
                n = 64;
            memcpy(name, near, n);
            name[n] = '\0';
        }
        return bad(err, label, "duplicate name '%s' in header", name);
    }
    return bad(err, label, "header is not valid JSON: %s at byte %d", je->text, je->position);
}

static int
parse_header(struct bundle *b, const unsigned char *hdr, size_t n, const unsigned char *data,
             uint64_t data_len, const char *label, struct sieve_errbuf *err)
{
    json_error_t je;
    json_t *root = json_loadb((const char *)hdr, n, JSON_REJECT_DUPLICATES, &je), *v;
    struct range *ranges = NULL;
    size_t nr = 0;
    const char *key;
    int rc = 0;

    if (!root)
        return bad_json(&je, label, err);
    if (!json_is_object(root)) {
        rc = bad(err, label, "header is not a JSON object");
        goto out;
    }
    ranges = calloc(json_object_size(root) + 1, sizeof *ranges);
    if (!ranges) {
        rc = sieve_errbuf_set(err, SIEVE_ENOMEM, "read '%s': out of memory", label);
        goto out;
    }
    json_object_foreach(root, key, v)
    {
        if (!strcmp(key, "__metadata__"))
            rc = parse_meta(b, v, label, err);
        else
            rc = parse_tensor(b, key, v, data_len, label, &ranges[nr++], err);
        if (rc < 0)
            goto out;
    }
    /* Sorted by begin, a non-empty range must start at or after the furthest end so far. */
    qsort(ranges, nr, sizeof *ranges, range_cmp);
    for (size_t i = 0, far = SIZE_MAX; i < nr; i++) {
        if (ranges[i].begin == ranges[i].end)
            continue;
        if (far != SIZE_MAX && ranges[i].begin < ranges[far].end) {
            char pa[72], pb[72];
            rc = bad(err, label, "tensors '%s' and '%s' overlap",
                     printable(pa, b->entries[ranges[far].idx]->name),
                     printable(pb, b->entries[ranges[i].idx]->name));
            goto out;
        }
        if (far == SIZE_MAX || ranges[i].end > ranges[far].end)
            far = i;
    }
    /* Only now expose data: in place when aligned, else copied to aligned memory. */
    for (size_t i = 0; i < nr; i++) {
        struct bundle_entry *e = b->entries[ranges[i].idx];
        const unsigned char *p = data + ranges[i].begin;
        size_t esize = sieve_dtype_size(e->t.dtype);

        if (e->t.nbytes && (uintptr_t)p % esize == 0) {
            e->t.data = (void *)p;
            continue;
        }
        if (bundle_entry_alloc(e, e->t.nbytes) < 0) {
            rc = sieve_errbuf_set(err, SIEVE_ENOMEM, "read '%s': out of memory", label);
            goto out;
        }
        if (e->t.nbytes)
            memcpy(e->owned, p, e->t.nbytes);
    }
out:
    free(ranges);
    json_decref(root);
    return rc;
}

int
bundle_parse(const void *buf, size_t len, const char *label, struct bundle **out,
             struct sieve_errbuf *err)
{
    const unsigned char *p = buf;
    struct bundle *b;
    uint64_t n;
    int rc;

    *out = NULL;
    if (!label)
        label = "<memory>";
    if (len < 8)
        return bad(err, label, "file is %zu bytes, too short for the 8-byte header length", len);
    n = le64_get(p);
    if (n > BUNDLE_HEADER_MAX)
        return bad(err, label, "header length %llu exceeds the limit of %u bytes",
                   (unsigned long long)n, BUNDLE_HEADER_MAX);
    if (n > len - 8)
        return bad(err, label, "header length %llu exceeds the file (%zu bytes)",
                   (unsigned long long)n, len);
    b = bundle_new();
    if (!b)
        return sieve_errbuf_set(err, SIEVE_ENOMEM, "read '%s': out of memory", label);
    rc = parse_header(b, p + 8, (size_t)n, p + 8 + n, len - 8 - n, label, err);
    if (rc < 0) {
        bundle_free(b);
        return rc;
    }
    *out = b;
    return 0;
}

/* Lower-case first letter, as in git's messages. */
static int
sys_fail(struct sieve_errbuf *err, int errnum, const char *what, const char *path)
{
    char msg[128];

    snprintf(msg, sizeof msg, "%s", strerror(errnum));
    if (msg[0] >= 'A' && msg[0] <= 'Z' && !(msg[1] >= 'A' && msg[1] <= 'Z'))
        msg[0] = (char)(msg[0] - 'A' + 'a');
    return sieve_errbuf_set(err, sieve_error_from_errno(errnum), "%s '%s': %s", what, path, msg);
}

int
bundle_read(const char *path, struct bundle **out, struct sieve_errbuf *err)
{
    unsigned char small[8] = {0};
    struct stat st;
    void *map;
    int fd, rc;

    *out = NULL;
    /* O_NONBLOCK: opening a FIFO would otherwise wait for a writer before fstat can refuse it. */
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return sys_fail(err, errno, "read", path);
    if (fstat(fd, &st) < 0) {
        rc = sys_fail(err, errno, "read", path);
        close(fd);
        return rc;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return sieve_errbuf_set(err, SIEVE_EIO, "read '%s': not a regular file", path);
    }
    if ((uint64_t)st.st_size < 8 || (uint64_t)st.st_size > SIZE_MAX) {
        /* Too short to map usefully; the parser reports it without reading. */
        close(fd);
        return bundle_parse(small, (size_t)st.st_size < 8 ? (size_t)st.st_size : 0, path, out, err);
    }
    map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED) {
        rc = sys_fail(err, errno, "map", path);
        close(fd);
        return rc;
    }
    close(fd);
    rc = bundle_parse(map, (size_t)st.st_size, path, out, err);
    if (rc < 0) {
        munmap(map, (size_t)st.st_size);
        return rc;
    }
    (*out)->map = map;
    (*out)->map_len = (size_t)st.st_size;
    return 0;
}

/* ---- writing ---------------------------------------------------------------------------- */

/* The serialised form minus the tensor bytes: header text and the data order. */
struct layout {
    char *header; /* JSON padded with spaces; `header_len` bytes, not NUL-terminated */
    size_t header_len;
    size_t *order; /* entry indices in data order */
    uint64_t data_len;
};

static void
layout_release(struct layout *l)
{
    free(l->header);
    free(l->order);
}

/* The sha256 of the data section: every tensor's bytes in data (layout) order. */
static int
data_sha256(const struct bundle *b, const size_t *order, char hex[HASH_HEX_LEN])
{
    struct hash_ctx h;
    uint8_t d[HASH_LEN];

    if (hash_ctx_init(&h) < 0)
        return SIEVE_ENOMEM;
    for (size_t i = 0; i < b->n; i++) {
        const struct sieve_tensor *t = &b->entries[order[i]]->t;
        if (t->nbytes && hash_ctx_update(&h, t->data, t->nbytes) < 0) {
            hash_ctx_release(&h);
            return SIEVE_ENOMEM;
        }
    }
    if (hash_ctx_final(&h, d) < 0)
        return SIEVE_ENOMEM;
    hash_hex(d, hex);
    return 0;
}

/* With `with_hash`, the metadata also carries BUNDLE_META_DATA_SHA256 (replacing any copy the
 * bundle itself has, which would describe some other data). */
static int
layout_build(const struct bundle *b, int with_hash, struct layout *l, struct sieve_errbuf *err)
{
    static const size_t sizes[] = {8, 4, 2, 1};
    json_t *root = json_object(), *meta = NULL;
    uint64_t *offs = calloc(b->n + 1, sizeof *offs);
    char *text = NULL;
    size_t k = 0, len, pad;
    uint64_t pos = 0;
    int rc = SIEVE_ENOMEM;

    memset(l, 0, sizeof *l);
    l->order = malloc((b->n + 1) * sizeof *l->order);
    if (!root || !offs || !l->order)
        goto fail_nomem;
    /* Largest elements first: the data block starts 8-aligned and every size is a multiple
     * of its element size, so each tensor starts aligned with no padding between tensors. */
    for (size_t s = 0; s < 4; s++)
        for (size_t i = 0; i < b->n; i++)
            if (sieve_dtype_size(b->entries[i]->t.dtype) == sizes[s]) {
                l->order[k++] = i;
                offs[i] = pos;
                pos += b->entries[i]->t.nbytes;
            }
    SIEVE_ASSERT(k == b->n);
    l->data_len = pos;
    if (b->n_meta || with_hash) {
        meta = json_object();
        if (!meta || json_object_set_new(root, "__metadata__", meta) < 0)
            goto fail_nomem;
        for (size_t i = 0; i < b->n_meta; i++) {
            json_t *v = json_string(b->meta[i].value);
            if (!v || json_object_set_new(meta, b->meta[i].key, v) < 0) {
                rc = sieve_errbuf_set(err, SIEVE_EINVAL, "write metadata '%s': not valid UTF-8",
                                      b->meta[i].key);
                goto fail;
            }
        }
        if (with_hash) {
            char hex[HASH_HEX_LEN];
            if (data_sha256(b, l->order, hex) < 0 ||
                json_object_set_new(meta, BUNDLE_META_DATA_SHA256, json_string(hex)) < 0)
                goto fail_nomem;
        }
    }
    for (size_t i = 0; i < b->n; i++) {
        const struct sieve_tensor *t = &b->entries[i]->t;
        json_t *shape = json_array();
        json_t *e =
            json_pack("{s:s, s:o, s:[I,I]}", "dtype", bundle_dtype_name(t->dtype), "shape", shape,
                      "data_offsets", (json_int_t)offs[i], (json_int_t)(offs[i] + t->nbytes));
        if (!e)
            goto fail_nomem;
        if (json_object_set_new(root, t->name, e) < 0) {
            rc = sieve_errbuf_set(err, SIEVE_EINVAL, "write tensor '%s': name not valid UTF-8",
                                  t->name);
            goto fail;
        }
        for (uint32_t d = 0; d < t->ndim; d++)
            if (json_array_append_new(shape, json_integer(t->shape[d])) < 0)
                goto fail_nomem;
    }
    text = json_dumps(root, JSON_COMPACT);
    if (!text)
        goto fail_nomem;
    len = strlen(text);
    pad = (8 - len % 8) % 8;
    l->header = malloc(len + pad);
    if (!l->header)
        goto fail_nomem;
    memcpy(l->header, text, len);
    memset(l->header + len, ' ', pad);
    l->header_len = len + pad;
    free(text);
    free(offs);
    json_decref(root);
    return 0;
fail_nomem:
    rc = sieve_errbuf_set(err, SIEVE_ENOMEM, "write bundle: out of memory");
fail:
    free(text);
    free(offs);
    json_decref(root);
    layout_release(l);
    return rc;
}

int
bundle_serialize(const struct bundle *b, void **out, size_t *len, struct sieve_errbuf *err)
{
    struct layout l;
    unsigned char *buf, *p;
    size_t total;
    int rc;

    *out = NULL;
    *len = 0;
    rc = layout_build(b, 0, &l, err);
    if (rc < 0)
        return rc;
    if (l.data_len > SIZE_MAX - 8 - l.header_len) {
        layout_release(&l);
        return sieve_errbuf_set(err, SIEVE_ENOMEM, "serialise bundle: too large");
    }
    total = 8 + l.header_len + (size_t)l.data_len;
    buf = malloc(total);
    if (!buf) {
        layout_release(&l);
        return sieve_errbuf_set(err, SIEVE_ENOMEM, "serialise bundle: out of memory");
    }
    le64_put(buf, l.header_len);
    memcpy(buf + 8, l.header, l.header_len);
    p = buf + 8 + l.header_len;
    for (size_t i = 0; i < b->n; i++) {
        const struct sieve_tensor *t = &b->entries[l.order[i]]->t;
        if (t->nbytes)
            memcpy(p, t->data, t->nbytes);
        p += t->nbytes;
    }
    layout_release(&l);
    *out = buf;
    *len = total;
    return 0;
}

static int
write_all(int fd, const void *buf, uint64_t n)
{
    const char *p = buf;
    while (n) {
        ssize_t w = write(fd, p, n > (1u << 30) ? (1u << 30) : (size_t)n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (uint64_t)w;
    }
    return 0;
}

/* fsync of the directory makes the rename itself durable. */
static int
sync_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir;
    int fd, rc = 0;

    if (!slash)
        dir = strdup(".");
    else if (slash == path)
        dir = strdup("/");
    else
        dir = strndup(path, (size_t)(slash - path));
    if (!dir)
        return -1;
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(dir);
    if (fd < 0)
        return -1;
    /* Some file systems cannot sync a directory; that is not a failed write. */
    if (fsync(fd) < 0 && errno != EINVAL && errno != EROFS)
        rc = -1;
    close(fd);
    return rc;
}

int
bundle_write(const struct bundle *b, const char *path, struct sieve_errbuf *err)
{
    return bundle_write_ex(b, path, 0, NULL, NULL, err);
}

/* Writes all of buf and feeds it to the file hash when there is one. */
static int
put(int fd, struct hash_ctx *h, const void *buf, uint64_t n)
{
    if (h && n && hash_ctx_update(h, buf, (size_t)n) < 0)
        return -1;
    return write_all(fd, buf, n);
}

int
bundle_write_ex(const struct bundle *b, const char *path, unsigned flags,
                char file_sha256[HASH_HEX_LEN], uint64_t *bytes, struct sieve_errbuf *err)
{
    unsigned char lenbuf[8];
    struct layout l;
    struct hash_ctx h, *hp = NULL;
    uint8_t d[HASH_LEN];
    char *tmp;
    int fd, rc, e;

    rc = layout_build(b, (flags & BUNDLE_WRITE_DATA_HASH) != 0, &l, err);
    if (rc < 0)
        return sieve_errbuf_prefix(err, rc, "write '%s'", path);
    tmp = malloc(strlen(path) + 32);
    if (!tmp || (file_sha256 && hash_ctx_init(&h) < 0)) {
        free(tmp);
        layout_release(&l);
        return sieve_errbuf_set(err, SIEVE_ENOMEM, "write '%s': out of memory", path);
    }
    if (file_sha256)
        hp = &h;
    sprintf(tmp, "%s.tmp.%ld", path, (long)getpid());
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = sys_fail(err, errno, "write", tmp);
        goto out;
    }
    errno = 0;
    le64_put(lenbuf, l.header_len);
    if (put(fd, hp, lenbuf, 8) < 0 || put(fd, hp, l.header, l.header_len) < 0)
        goto fail_io;
    for (size_t i = 0; i < b->n; i++) {
        const struct sieve_tensor *t = &b->entries[l.order[i]]->t;
        if (t->nbytes && put(fd, hp, t->data, t->nbytes) < 0)
            goto fail_io;
    }
    if (!(flags & BUNDLE_WRITE_NOSYNC) && fsync(fd) < 0)
        goto fail_io;
    if (close(fd) < 0) {
        fd = -1;
        goto fail_io;
    }
    fd = -1;
    if (rename(tmp, path) < 0) {
        rc = sys_fail(err, errno, "rename to", path);
        unlink(tmp);
        goto out;
    }
    if (!(flags & BUNDLE_WRITE_NOSYNC) && sync_dir(path) < 0) {
        rc = sys_fail(err, errno, "sync directory of", path);
        goto out;
    }
    if (bytes)
        *bytes = 8 + l.header_len + l.data_len;
    if (hp) {
        hp = NULL;
        if (hash_ctx_final(&h, d) < 0) {
            rc = sieve_errbuf_set(err, SIEVE_ENOMEM, "write '%s': cannot finish sha256", path);
            goto out;
        }
        hash_hex(d, file_sha256);
    }
    rc = 0;
    goto out;
fail_io:
    e = errno;
    rc = sys_fail(err, e ? e : EIO, "write", tmp);
    if (fd >= 0)
        close(fd);
    unlink(tmp);
out:
    if (hp)
        hash_ctx_release(hp);
    free(tmp);
    layout_release(&l);
    return rc;
}

int
bundle_file_check(const char *path, struct sieve_errbuf *err)
{
    struct bundle *b = NULL;
    struct hash_ctx h;
    unsigned char lenbuf[8], *buf = NULL;
    uint8_t d[HASH_LEN];
    char want[HASH_HEX_LEN], got[HASH_HEX_LEN];
    const char *m;
    uint64_t hlen = 0;
    ssize_t n;
    int fd = -1, rc;

    if ((rc = bundle_read(path, &b, err)) < 0)
        return rc;
    m = bundle_meta_get(b, BUNDLE_META_DATA_SHA256);
    if (!m) {
        bundle_free(b);
        return 0;
    }
    snprintf(want, sizeof want, "%s", m);
    bundle_free(b);
    buf = malloc(1u << 20);
    if (!buf || hash_ctx_init(&h) < 0) {
        free(buf);
        return sieve_errbuf_set(err, SIEVE_ENOMEM, "check '%s': out of memory", path);
    }
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || pread(fd, lenbuf, 8, 0) != 8) {
        rc = sys_fail(err, errno ? errno : EIO, "check", path);
        goto out;
    }
    for (int i = 7; i >= 0; i--)
        hlen = hlen << 8 | lenbuf[i];
    /* bundle_read accepted the header, so 8 + hlen lies inside the file. */
    if (lseek(fd, (off_t)(8 + hlen), SEEK_SET) < 0) {
        rc = sys_fail(err, errno, "check", path);
        goto out;
    }
    while ((n = read(fd, buf, 1u << 20)) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = sys_fail(err, errno, "check", path);
            goto out;
        }
        if (hash_ctx_update(&h, buf, (size_t)n) < 0) {
            rc = sieve_errbuf_set(err, SIEVE_ENOMEM, "check '%s': out of memory", path);
            goto out;
        }
    }
    rc = hash_ctx_final(&h, d);
    fd = (close(fd), -1);
    free(buf);
    if (rc < 0)
        return sieve_errbuf_set(err, SIEVE_ENOMEM, "check '%s': cannot finish sha256", path);
    hash_hex(d, got);
    if (strcmp(got, want))
        return sieve_errbuf_set(err, SIEVE_EFORMAT,
                                "check '%s': data section does not match its embedded sha256",
                                path);
    return 1;
out:
    hash_ctx_release(&h);
    if (fd >= 0)
        close(fd);
    free(buf);
    return rc;
}
