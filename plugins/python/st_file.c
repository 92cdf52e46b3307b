/*
 * st_file.c - safetensors files for the python plugin (st_file.h).
 */
#include "st_file.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/json_lite.h"

#define MAX_HEADER (100u << 20)

static const char *const dtype_names[] = {"F32", "F16", "BF16", "F64", "I64", "I32", "U8", "BOOL"};

static int
dtype_of(const char *name)
{
    for (int i = 0; i < (int)(sizeof dtype_names / sizeof dtype_names[0]); i++)
        if (!strcmp(name, dtype_names[i]))
            return i;
    return -1;
}

int
st_file_write(const struct sieve_host *h, const struct sieve_bundle *b, const char *path,
              struct sieve_errbuf *err)
{
    char *hdr = NULL;
    size_t hlen = 0, n = h->tensor_count(b), nmeta = h->meta_count(b);
    uint64_t off = 0;
    FILE *m = open_memstream(&hdr, &hlen), *f;
    static const char zeros[8];

    if (!m)
        return sieve_errbuf_set(err, SIEVE_ENOMEM, "out of memory");
    fputc('{', m);
    if (nmeta) {
        fputs("\"__metadata__\":{", m);
        for (size_t i = 0; i < nmeta; i++) {
            const char *k, *v;
            h->meta_at(b, i, &k, &v);
            fputs(i ? "," : "", m);
            json_write_string(m, k);
            fputc(':', m);
            json_write_string(m, v);
        }
        fputc('}', m);
    }
    for (size_t i = 0; i < n; i++) {
        const struct sieve_tensor *t = h->tensor_at(b, i);
        off += (8 - off % 8) % 8;
        fputs(i || nmeta ? "," : "", m);
        json_write_string(m, t->name);
        fprintf(m, ":{\"dtype\":\"%s\",\"shape\":[", dtype_names[t->dtype]);
        for (uint32_t d = 0; d < t->ndim; d++)
            fprintf(m, "%s%lld", d ? "," : "", (long long)t->shape[d]);
        fprintf(m, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)off,
                (unsigned long long)(off + t->nbytes));
        off += t->nbytes;
    }
    fputc('}', m);
    while (ftell(m) % 8)
        fputc(' ', m);
    fclose(m);
    if (!(f = fopen(path, "wb"))) {
        free(hdr);
        return sieve_errbuf_set(err, SIEVE_EIO, "open '%s': %s", path, strerror(errno));
    }
    uint8_t len8[8];
    for (int i = 0; i < 8; i++)
        len8[i] = (uint8_t)((uint64_t)hlen >> (8 * i));
    int ok = fwrite(len8, 1, 8, f) == 8 && fwrite(hdr, 1, hlen, f) == hlen;
    off = 0;
    for (size_t i = 0; ok && i < n; i++) {
        const struct sieve_tensor *t = h->tensor_at(b, i);
        size_t pad = (size_t)((8 - off % 8) % 8);
        ok = fwrite(zeros, 1, pad, f) == pad && fwrite(t->data, 1, t->nbytes, f) == t->nbytes;
        off += pad + t->nbytes;
    }
    free(hdr);
    if (fclose(f) != 0 || !ok)
        return sieve_errbuf_set(err, SIEVE_EIO, "write '%s': %s", path, strerror(errno));
    return 0;
}

/* Reads the whole file; *len is its size. */
static int
slurp(const char *path, uint8_t **buf, size_t *len, struct sieve_errbuf *err)
{
    FILE *f = fopen(path, "rb");
    long size;
    *buf = NULL;
    if (!f)
        return sieve_errbuf_set(err, SIEVE_EINTERNAL, "python node wrote no output '%s': %s", path,
                                strerror(errno));
    if (fseek(f, 0, SEEK_END) < 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) < 0) {
        fclose(f);
        return sieve_errbuf_set(err, SIEVE_EINTERNAL, "read '%s': %s", path, strerror(errno));
    }
    if (!(*buf = malloc((size_t)size + 1))) {
        fclose(f);
        return sieve_errbuf_set(err, SIEVE_ENOMEM, "out of memory");
    }
    if (fread(*buf, 1, (size_t)size, f) != (size_t)size) {
        fclose(f);
        free(*buf);
        *buf = NULL;
        return sieve_errbuf_set(err, SIEVE_EINTERNAL, "read '%s': short read", path);
    }
    fclose(f);
    (*buf)[size] = 0;
    *len = (size_t)size;
    return 0;
}

/* Reads a JSON string at p (a key) into buf. Returns the byte after it, or NULL. */
static const char *
key_at(const char *p, const char *end, char *buf, size_t cap)
{
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r'))
        p++;
    if (p >= end || *p != '"' || json_value_text(p, end, buf, cap) < 0)
        return NULL;
    p = json_skip_value(p, end);
    while (p && p < end && (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r'))
        p++;
    return p && p < end && *p == ':' ? p + 1 : NULL;
}

static int
read_meta(const struct sieve_host *h, struct sieve_bundle *out, const char *p, const char *end,
          const char *path, struct sieve_errbuf *err)
{
    char key[256], *val = malloc((size_t)(end - p) + 1);
    int rc = 0;
    if (!val)
        return sieve_errbuf_set(err, SIEVE_ENOMEM, "out of memory");
    while (p < end && *p != '{')
        p++;
    p++;
    for (;;) {
        while (p < end && (*p == ' ' || *p == ','))
            p++;
        if (p >= end || *p == '}')
            break;
        if (!(p = key_at(p, end, key, sizeof key)) ||
            json_value_text(p, end, val, (size_t)(end - p) + 1) < 0 ||
            !(p = json_skip_value(p, end))) {
            rc = sieve_errbuf_set(err, SIEVE_EINTERNAL, "'%s': malformed __metadata__", path);
            break;
        }
        if ((rc = h->meta_set(out, key, val)) < 0) {
            sieve_errbuf_set(err, rc, "'%s': metadata '%s'", path, key);
            break;
        }
    }
    free(val);
    return rc;
}

int
st_file_read(const struct sieve_host *h, struct sieve_bundle *out, const char *path,
             const char *port, struct sieve_errbuf *err)
{
    uint8_t *buf;
    size_t len = 0;
    uint64_t hlen = 0;
    int rc;

    if ((rc = slurp(path, &buf, &len, err)) < 0)
        return rc;
    for (int i = 0; len >= 8 && i < 8; i++)
        hlen |= (uint64_t)buf[i] << (8 * i);
    if (len < 8 || hlen > MAX_HEADER || 8 + hlen > len) {
        free(buf);
        return sieve_errbuf_set(err, SIEVE_EINTERNAL,
                                "output '%s' ('%s'): header length past the end of the file", port,
                                path);
    }
    const char *p = (const char *)buf + 8, *end = p + hlen;
    const uint8_t *data = buf + 8 + hlen;
    uint64_t data_len = len - 8 - hlen;
    char name[256], dt[16];
    while (p < end && *p != '{')
        p++;
    if (p >= end) {
        rc = sieve_errbuf_set(err, SIEVE_EINTERNAL, "output '%s' ('%s'): header is not an object",
                              port, path);
        goto out;
    }
    p++;
    for (;;) {
        const char *v, *vend;
        int64_t shape[SIEVE_MAX_DIMS + 1], offs[3];
        int nd, dtype;
        while (p < end && (*p == ' ' || *p == ',' || *p == '\n'))
            p++;
        if (p >= end || *p == '}')
            break;
        if (!(v = key_at(p, end, name, sizeof name)) || !(vend = json_skip_value(v, end))) {
            rc = sieve_errbuf_set(err, SIEVE_EINTERNAL, "output '%s' ('%s'): malformed header",
                                  port, path);
            goto out;
        }
        p = vend;
        if (!strcmp(name, "__metadata__")) {
            if ((rc = read_meta(h, out, v, vend, path, err)) < 0)
                goto out;
            continue;
        }
        const char *f;
        if (json_object_find(v, vend, "dtype", &f) < 0 ||
            json_value_text(f, vend, dt, sizeof dt) < 0 || (dtype = dtype_of(dt)) < 0 ||
            json_object_find(v, vend, "shape", &f) < 0 ||
            (nd = json_int_array(f, vend, shape, SIEVE_MAX_DIMS + 1)) < 0 || nd > SIEVE_MAX_DIMS ||
            json_object_find(v, vend, "data_offsets", &f) < 0 ||
            json_int_array(f, vend, offs, 3) != 2) {
            rc = sieve_errbuf_set(err, SIEVE_EINTERNAL,
                                  "output '%s' ('%s'): tensor '%s' needs a known dtype, a shape "
                                  "of at most %d dims and two data_offsets",
                                  port, path, name, SIEVE_MAX_DIMS);
            goto out;
        }
        uint64_t numel = 1;
        for (int d = 0; d < nd; d++) {
            if (shape[d] < 0 || (shape[d] > 0 && numel > UINT64_MAX / (uint64_t)shape[d] / 8)) {
                rc = sieve_errbuf_set(err, SIEVE_EINTERNAL,
                                      "output '%s' ('%s'): tensor '%s' has a bad shape", port, path,
                                      name);
                goto out;
            }
            numel *= (uint64_t)shape[d];
        }
        uint64_t bytes = numel * sieve_dtype_size(dtype);
        if (offs[0] < 0 || offs[1] < offs[0] || (uint64_t)offs[1] > data_len ||
            (uint64_t)(offs[1] - offs[0]) != bytes) {
            rc = sieve_errbuf_set(err, SIEVE_EINTERNAL,
                                  "output '%s' ('%s'): tensor '%s' data_offsets [%lld, %lld] do "
                                  "not fit %s of %llu elements in %llu data bytes",
                                  port, path, name, (long long)offs[0], (long long)offs[1], dt,
                                  (unsigned long long)numel, (unsigned long long)data_len);
            goto out;
        }
        struct sieve_tensor *t;
        if ((rc = h->tensor_new(out, name, dtype, (uint32_t)nd, shape, &t)) < 0) {
            sieve_errbuf_set(err, rc == SIEVE_EINVAL ? SIEVE_EINTERNAL : rc,
                             "output '%s' ('%s'): tensor '%s': %s", port, path, name,
                             rc == SIEVE_EINVAL ? "duplicate or invalid" : "out of memory");
            rc = rc == SIEVE_EINVAL ? SIEVE_EINTERNAL : rc;
            goto out;
        }
        if (bytes)
            memcpy(t->data, data + offs[0], bytes);
    }
out:
    free(buf);
    return rc;
}
