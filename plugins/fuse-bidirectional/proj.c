/*
 * proj.c - seeded and file-backed projection matrices (see proj.h).
 */
#include "proj.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/av_tokens.h"
#include "../common/json_lite.h"

/* Largest header we accept, the safetensors library's own bound. */
#define HEADER_MAX (100u * 1024u * 1024u)

static uint64_t
splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* A uniform double in (0, 1): 53 random bits, never 0 so the logarithm below is finite. */
static double
uniform(uint64_t *s)
{
    return ((double)(splitmix64(s) >> 11) + 0.5) / 9007199254740992.0;
}

int
proj_seeded(int64_t out, int64_t in, uint64_t seed, float **w)
{
    uint64_t s = seed;
    int64_t n = out * in;
    *w = malloc((size_t)n * sizeof(float) + 1);
    if (!*w)
        return SIEVE_ENOMEM;
    double sd = 1.0 / sqrt((double)in);
    for (int64_t i = 0; i < n; i += 2) {
        double r = sqrt(-2.0 * log(uniform(&s))), a = 2.0 * M_PI * uniform(&s);
        (*w)[i] = (float)(sd * r * cos(a));
        if (i + 1 < n)
            (*w)[i + 1] = (float)(sd * r * sin(a));
    }
    return 0;
}

static int
read_all(FILE *f, void *buf, size_t n)
{
    return fread(buf, 1, n, f) == n ? 0 : -1;
}

/* Parses the header entry of the tensor and reads its bytes; fills *w as [out, in]. */
static int
load_entry(FILE *f, const char *path, const char *hdr, size_t hlen, uint64_t data_len,
           const char *name, int64_t out, int64_t in, float **w, struct sieve_errbuf *err)
{
    const char *end = hdr + hlen, *ent, *v;
    char dtype[16];
    int64_t shape[8], off[2];
    if (json_object_find(hdr, end, name, &ent) < 0)
        return sieve_errbuf_set(err, SIEVE_EFORMAT, "'%s': no tensor '%s'", path, name);
    if (json_object_find(ent, end, "dtype", &v) < 0 ||
        json_value_text(v, end, dtype, sizeof dtype) < 0 ||
        json_object_find(ent, end, "shape", &v) < 0 || json_int_array(v, end, shape, 8) != 2 ||
        json_object_find(ent, end, "data_offsets", &v) < 0 || json_int_array(v, end, off, 2) != 2)
        return sieve_errbuf_set(err, SIEVE_EFORMAT,
                                "'%s': tensor '%s' needs dtype, 2-d shape and "
                                "data_offsets",
                                path, name);
    int32_t dt = !strcmp(dtype, "F32")    ? SIEVE_DTYPE_F32
                 : !strcmp(dtype, "F16")  ? SIEVE_DTYPE_F16
                 : !strcmp(dtype, "BF16") ? SIEVE_DTYPE_BF16
                 : !strcmp(dtype, "F64")  ? SIEVE_DTYPE_F64
                                          : -1;
    if (dt < 0)
        return sieve_errbuf_set(err, SIEVE_EFORMAT, "'%s': tensor '%s' has dtype %s, need a float",
                                path, name, dtype);
    int transposed = shape[0] == in && shape[1] == out && !(shape[0] == out && shape[1] == in);
    if (!transposed && !(shape[0] == out && shape[1] == in))
        return sieve_errbuf_set(
            err, SIEVE_EFORMAT, "'%s': tensor '%s' is [%lld, %lld], need [%lld, %lld]", path, name,
            (long long)shape[0], (long long)shape[1], (long long)out, (long long)in);
    uint64_t nbytes = (uint64_t)(out * in) * sieve_dtype_size(dt);
    if (off[0] < 0 || off[1] < off[0] || (uint64_t)(off[1] - off[0]) != nbytes ||
        (uint64_t)off[1] > data_len)
        return sieve_errbuf_set(err, SIEVE_EFORMAT, "'%s': tensor '%s' has bad data_offsets", path,
                                name);
    void *raw = malloc(nbytes + 1);
    float *m = malloc((size_t)(out * in) * sizeof(float) + 1);
    if (!raw || !m) {
        free(raw);
        free(m);
        return sieve_errbuf_set(err, SIEVE_ENOMEM, "'%s': out of memory", path);
    }
    if (fseek(f, (long)(8 + hlen + (uint64_t)off[0]), SEEK_SET) != 0 || read_all(f, raw, nbytes)) {
        free(raw);
        free(m);
        return sieve_errbuf_set(err, SIEVE_EIO, "read '%s': short read", path);
    }
    av_to_float(dt, raw, (uint64_t)(out * in), m);
    free(raw);
    if (transposed) {
        float *t = malloc((size_t)(out * in) * sizeof(float) + 1);
        if (!t) {
            free(m);
            return sieve_errbuf_set(err, SIEVE_ENOMEM, "'%s': out of memory", path);
        }
        for (int64_t i = 0; i < in; i++)
            for (int64_t o = 0; o < out; o++)
                t[o * in + i] = m[i * out + o];
        free(m);
        m = t;
    }
    *w = m;
    return 0;
}

int
proj_load(const char *path, const char *name, int64_t out, int64_t in, float **w,
          struct sieve_errbuf *err)
{
    unsigned char len8[8];
    char *hdr = NULL;
    int rc;
    *w = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return sieve_errbuf_set(err, errno == ENOENT ? SIEVE_ENOENT : SIEVE_EIO, "open '%s': %s",
                                path, strerror(errno));
    if (fseek(f, 0, SEEK_END) != 0) {
        rc = sieve_errbuf_set(err, SIEVE_EIO, "seek '%s': %s", path, strerror(errno));
        goto out;
    }
    long size = ftell(f);
    rewind(f);
    if (size < 8 || read_all(f, len8, 8)) {
        rc = sieve_errbuf_set(err, SIEVE_EFORMAT, "'%s': not a safetensors file (too short)", path);
        goto out;
    }
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = (hlen << 8) | len8[i];
    if (hlen > HEADER_MAX || hlen > (uint64_t)size - 8) {
        rc = sieve_errbuf_set(err, SIEVE_EFORMAT, "'%s': header length %llu exceeds the file", path,
                              (unsigned long long)hlen);
        goto out;
    }
    hdr = malloc(hlen + 1);
    if (!hdr) {
        rc = sieve_errbuf_set(err, SIEVE_ENOMEM, "'%s': out of memory", path);
        goto out;
    }
    if (read_all(f, hdr, hlen)) {
        rc = sieve_errbuf_set(err, SIEVE_EIO, "read '%s': short read", path);
        goto out;
    }
    rc = load_entry(f, path, hdr, hlen, (uint64_t)size - 8 - hlen, name, out, in, w, err);
out:
    free(hdr);
    fclose(f);
    return rc;
}
