/*
 * st.c - safetensors weight files: map, validate, convert to F32 (see st.h).
 *
 * The JSON header is parsed by a small recursive-descent reader that understands exactly what
 * safetensors headers contain (objects, arrays, strings, integers) and skips anything else
 * in `__metadata__`. Every step checks bounds against the header length, so a truncated or
 * hostile header produces an error, never a read past the mapping.
 */
#include "st.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

struct jp {
    const char *p, *end;
    const char *path;
    struct sieve_errbuf *err;
};

static int
fail(struct jp *j, const char *what)
{
    return sieve_errbuf_set(j->err, SIEVE_EBADINPUT, "weights '%s': malformed header: %s", j->path,
                            what);
}

static void
ws(struct jp *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

static int
expect(struct jp *j, char c)
{
    ws(j);
    if (j->p >= j->end || *j->p != c) {
        char what[32];
        snprintf(what, sizeof what, "expected '%c'", c);
        return fail(j, what);
    }
    j->p++;
    return 0;
}

/* Reads a JSON string into a new NUL-terminated buffer (simple escapes decoded). */
static int
string(struct jp *j, char **out)
{
    *out = NULL;
    if (expect(j, '"') < 0)
        return SIEVE_EBADINPUT;
    const char *s = j->p;
    while (j->p < j->end && *j->p != '"') {
        if (*j->p == '\\')
            j->p++;
        j->p++;
    }
    if (j->p >= j->end)
        return fail(j, "unterminated string");
    size_t n = (size_t)(j->p - s);
    char *buf = malloc(n + 1), *o = buf;
    if (!buf)
        return sieve_errbuf_set(j->err, SIEVE_ENOMEM, "weights '%s': out of memory", j->path);
    for (const char *q = s; q < j->p; q++) {
        if (*q == '\\') {
            q++;
            switch (*q) {
            case 'n':
                *o++ = '\n';
                break;
            case 't':
                *o++ = '\t';
                break;
            case 'r':
                *o++ = '\r';
                break;
            case 'b':
                *o++ = '\b';
                break;
            case 'f':
                *o++ = '\f';
                break;
            case 'u': /* names are ASCII in practice; keep a placeholder for the rest */
                *o++ = '?';
                q += (j->p - q > 4) ? 4 : 0;
                break;
            default:
                *o++ = *q;
                break;
            }
        } else {
            *o++ = *q;
        }
    }
    *o = '\0';
    j->p++;
    *out = buf;
    return 0;
}

static int
integer(struct jp *j, int64_t *v)
{
    ws(j);
    int64_t x = 0;
    int digits = 0;
    if (j->p < j->end && *j->p == '-')
        return fail(j, "negative integer");
    while (j->p < j->end && *j->p >= '0' && *j->p <= '9') {
        if (x > (INT64_MAX - 9) / 10)
            return fail(j, "integer too large");
        x = x * 10 + (*j->p - '0');
        j->p++;
        digits++;
    }
    if (!digits)
        return fail(j, "expected an integer");
    *v = x;
    return 0;
}

/* Skips one JSON value of any kind, with a depth bound against stack exhaustion. */
static int
skip(struct jp *j, int depth)
{
    if (depth > 32)
        return fail(j, "nesting too deep");
    ws(j);
    if (j->p >= j->end)
        return fail(j, "unexpected end");
    char c = *j->p;
    if (c == '"') {
        char *s;
        int rc = string(j, &s);
        free(s);
        return rc;
    }
    if (c == '{' || c == '[') {
        char close = c == '{' ? '}' : ']';
        j->p++;
        ws(j);
        if (j->p < j->end && *j->p == close) {
            j->p++;
            return 0;
        }
        for (;;) {
            if (c == '{') {
                char *k;
                if (string(j, &k) < 0)
                    return SIEVE_EBADINPUT;
                free(k);
                if (expect(j, ':') < 0)
                    return SIEVE_EBADINPUT;
            }
            if (skip(j, depth + 1) < 0)
                return SIEVE_EBADINPUT;
            ws(j);
            if (j->p < j->end && *j->p == ',') {
                j->p++;
                continue;
            }
            return expect(j, close);
        }
    }
    /* number, true, false, null */
    const char *s = j->p;
    while (j->p < j->end && *j->p != ',' && *j->p != '}' && *j->p != ']' && *j->p != ' ' &&
           *j->p != '\n')
        j->p++;
    return j->p > s ? 0 : fail(j, "unexpected character");
}

static int
dtype_size(const char *d)
{
    static const struct {
        const char *name;
        int size;
    } known[] = {{"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"I64", 8},
                 {"I32", 4}, {"I16", 2}, {"I8", 1},  {"U8", 1},   {"BOOL", 1},
                 {"U16", 2}, {"U32", 4}, {"U64", 8}};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (!strcmp(d, known[i].name))
            return known[i].size;
    return 0;
}

/* Parses one tensor entry `{"dtype":..,"shape":[..],"data_offsets":[b,e]}`. */
static int
entry(struct jp *j, struct st_tensor *t)
{
    int have_dtype = 0, have_shape = 0, have_off = 0;
    if (expect(j, '{') < 0)
        return SIEVE_EBADINPUT;
    for (;;) {
        char *k;
        if (string(j, &k) < 0 || expect(j, ':') < 0) {
            free(k);
            return SIEVE_EBADINPUT;
        }
        int rc = 0;
        if (!strcmp(k, "dtype")) {
            char *d;
            rc = string(j, &d);
            if (rc == 0) {
                snprintf(t->dtype, sizeof t->dtype, "%s", d);
                t->esize = strlen(d) < sizeof t->dtype ? dtype_size(d) : 0;
                free(d);
                have_dtype = 1;
            }
        } else if (!strcmp(k, "shape") || !strcmp(k, "data_offsets")) {
            int is_shape = k[0] == 's';
            int64_t v[ST_MAX_DIMS];
            uint32_t n = 0;
            rc = expect(j, '[');
            ws(j);
            if (rc == 0 && j->p < j->end && *j->p == ']') {
                j->p++;
            } else {
                while (rc == 0) {
                    if (n == (is_shape ? ST_MAX_DIMS : 2)) {
                        rc = fail(j, is_shape ? "too many dimensions" : "bad data_offsets");
                        break;
                    }
                    rc = integer(j, &v[n++]);
                    ws(j);
                    if (rc == 0 && j->p < j->end && *j->p == ',') {
                        j->p++;
                        continue;
                    }
                    if (rc == 0)
                        rc = expect(j, ']');
                    break;
                }
            }
            if (rc == 0 && is_shape) {
                t->ndim = n;
                memcpy(t->shape, v, n * sizeof v[0]);
                have_shape = 1;
            } else if (rc == 0) {
                if (n != 2)
                    rc = fail(j, "bad data_offsets");
                t->begin = (uint64_t)v[0];
                t->end = (uint64_t)v[1];
                have_off = 1;
            }
        } else {
            rc = skip(j, 1);
        }
        free(k);
        if (rc < 0)
            return rc;
        ws(j);
        if (j->p < j->end && *j->p == ',') {
            j->p++;
            continue;
        }
        if (expect(j, '}') < 0)
            return SIEVE_EBADINPUT;
        break;
    }
    if (!have_dtype || !have_shape || !have_off)
        return sieve_errbuf_set(j->err, SIEVE_EBADINPUT,
                                "weights '%s': tensor '%s' lacks dtype, shape or data_offsets",
                                j->path, t->name);
    return 0;
}

static int
by_begin(const void *a, const void *b)
{
    const struct st_tensor *x = *(struct st_tensor *const *)a, *y = *(struct st_tensor *const *)b;
    return x->begin < y->begin ? -1 : x->begin > y->begin;
}

static int
validate(struct st_file *f, struct sieve_errbuf *err)
{
    for (size_t i = 0; i < f->n; i++) {
        struct st_tensor *t = &f->t[i];
        if (t->end < t->begin || t->end > f->data_size)
            return sieve_errbuf_set(err, SIEVE_EBADINPUT,
                                    "weights '%s': tensor '%s' data_offsets [%llu, %llu] outside "
                                    "the %llu data bytes",
                                    f->path, t->name, (unsigned long long)t->begin,
                                    (unsigned long long)t->end, (unsigned long long)f->data_size);
        uint64_t numel = 1;
        for (uint32_t d = 0; d < t->ndim; d++) {
            if (t->shape[d] && numel > UINT64_MAX / (uint64_t)t->shape[d])
                return sieve_errbuf_set(err, SIEVE_EBADINPUT,
                                        "weights '%s': tensor '%s' shape overflows", f->path,
                                        t->name);
            numel *= (uint64_t)t->shape[d];
        }
        if (t->esize && numel > UINT64_MAX / (uint64_t)t->esize)
            return sieve_errbuf_set(err, SIEVE_EBADINPUT, "weights '%s': tensor '%s' too large",
                                    f->path, t->name);
        if (t->esize && numel * (uint64_t)t->esize != t->end - t->begin)
            return sieve_errbuf_set(err, SIEVE_EBADINPUT,
                                    "weights '%s': tensor '%s' has %llu bytes, its shape and "
                                    "dtype %s need %llu",
                                    f->path, t->name, (unsigned long long)(t->end - t->begin),
                                    t->dtype, (unsigned long long)(numel * (uint64_t)t->esize));
        for (size_t k = 0; k < i; k++)
            if (!strcmp(f->t[k].name, t->name))
                return sieve_errbuf_set(err, SIEVE_EBADINPUT, "weights '%s': duplicate tensor '%s'",
                                        f->path, t->name);
    }
    struct st_tensor **order = malloc((f->n ? f->n : 1) * sizeof *order);
    if (!order)
        return sieve_errbuf_set(err, SIEVE_ENOMEM, "weights '%s': out of memory", f->path);
    for (size_t i = 0; i < f->n; i++)
        order[i] = &f->t[i];
    qsort(order, f->n, sizeof *order, by_begin);
    int rc = 0;
    for (size_t i = 1; i < f->n && rc == 0; i++)
        if (order[i]->begin < order[i - 1]->end)
            rc = sieve_errbuf_set(err, SIEVE_EBADINPUT,
                                  "weights '%s': tensors '%s' and '%s' overlap", f->path,
                                  order[i - 1]->name, order[i]->name);
    free(order);
    return rc;
}

static int
parse_header(struct st_file *f, const char *h, size_t n, struct sieve_errbuf *err)
{
    struct jp j = {h, h + n, f->path, err};
    size_t cap = 0;
    if (expect(&j, '{') < 0)
        return SIEVE_EBADINPUT;
    ws(&j);
    if (j.p < j.end && *j.p == '}')
        return 0;
    for (;;) {
        char *k;
        if (string(&j, &k) < 0)
            return SIEVE_EBADINPUT;
        if (expect(&j, ':') < 0) {
            free(k);
            return SIEVE_EBADINPUT;
        }
        if (!strcmp(k, "__metadata__")) {
            free(k);
            if (skip(&j, 1) < 0)
                return SIEVE_EBADINPUT;
        } else {
            if (f->n == cap) {
                size_t nc = cap ? 2 * cap : 64;
                struct st_tensor *nt = realloc(f->t, nc * sizeof *nt);
                if (!nt) {
                    free(k);
                    return sieve_errbuf_set(err, SIEVE_ENOMEM, "weights '%s': out of memory",
                                            f->path);
                }
                f->t = nt;
                cap = nc;
            }
            struct st_tensor *t = &f->t[f->n++];
            memset(t, 0, sizeof *t);
            t->name = k;
            if (entry(&j, t) < 0)
                return SIEVE_EBADINPUT;
        }
        ws(&j);
        if (j.p < j.end && *j.p == ',') {
            j.p++;
            continue;
        }
        if (expect(&j, '}') < 0)
            return SIEVE_EBADINPUT;
        break;
    }
    ws(&j);
    if (j.p != j.end)
        return fail(&j, "trailing bytes after the object");
    return validate(f, err);
}

int
st_open(const char *path, struct st_file **out, struct sieve_errbuf *err)
{
    *out = NULL;
    struct st_file *f = calloc(1, sizeof *f);
    if (!f || !(f->path = strdup(path))) {
        free(f);
        return sieve_errbuf_set(err, SIEVE_ENOMEM, "weights '%s': out of memory", path);
    }
    int rc;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = sieve_errbuf_set(err, SIEVE_EBADINPUT, "open weights '%s': %s", path, strerror(errno));
        goto fail;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || st.st_size < 8) {
        close(fd);
        rc = sieve_errbuf_set(err, SIEVE_EBADINPUT, "weights '%s': too short to be safetensors",
                              path);
        goto fail;
    }
    f->size = (size_t)st.st_size;
    void *m = mmap(NULL, f->size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (m == MAP_FAILED) {
        rc = sieve_errbuf_set(err, SIEVE_EBADINPUT, "map weights '%s': %s", path, strerror(errno));
        goto fail;
    }
    f->map = m;
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = (n << 8) | f->map[i];
    if (n > ST_HEADER_MAX || n > f->size - 8) {
        rc = sieve_errbuf_set(err, SIEVE_EBADINPUT,
                              "weights '%s': header length %llu exceeds the file", path,
                              (unsigned long long)n);
        goto fail;
    }
    f->data = f->map + 8 + n;
    f->data_size = f->size - 8 - n;
    rc = parse_header(f, (const char *)f->map + 8, (size_t)n, err);
    if (rc < 0)
        goto fail;
    *out = f;
    return 0;
fail:
    st_close(f);
    return rc;
}

void
st_close(struct st_file *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->n; i++)
        free(f->t[i].name);
    free(f->t);
    if (f->map)
        munmap((void *)f->map, f->size);
    free(f->path);
    free(f);
}

const struct st_tensor *
st_find(const struct st_file *f, const char *name)
{
    for (size_t i = 0; i < f->n; i++)
        if (!strcmp(f->t[i].name, name))
            return &f->t[i];
    return NULL;
}

float
st_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1fu, man = h & 0x3ffu;
    uint32_t bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (man << 13); /* inf, nan */
    } else if (exp != 0) {
        bits = sign | ((exp + 112u) << 23) | (man << 13);
    } else if (man == 0) {
        bits = sign;
    } else { /* subnormal: normalise the mantissa */
        uint32_t e = 113;
        while (!(man & 0x400u)) {
            man <<= 1;
            e--;
        }
        bits = sign | (e << 23) | ((man & 0x3ffu) << 13);
    }
    float x;
    memcpy(&x, &bits, 4);
    return x;
}

float
st_bf16_to_f32(uint16_t h)
{
    uint32_t bits = (uint32_t)h << 16;
    float x;
    memcpy(&x, &bits, 4);
    return x;
}

static void
shape_str(char *buf, size_t cap, uint32_t ndim, const int64_t *s)
{
    size_t o = 0;
    o += (size_t)snprintf(buf + o, cap - o, "[");
    for (uint32_t d = 0; d < ndim && o < cap; d++) {
        if (s[d] < 0)
            o += (size_t)snprintf(buf + o, cap - o, "%s*", d ? ", " : "");
        else
            o += (size_t)snprintf(buf + o, cap - o, "%s%lld", d ? ", " : "", (long long)s[d]);
    }
    if (o < cap)
        snprintf(buf + o, cap - o, "]");
}

int
st_load(const struct st_file *f, const char *name, uint32_t ndim, int64_t *dims, float **out,
        struct sieve_errbuf *err)
{
    *out = NULL;
    const struct st_tensor *t = st_find(f, name);
    if (!t)
        return sieve_errbuf_set(err, SIEVE_EBADINPUT, "weights '%s': missing tensor '%s'", f->path,
                                name);
    int ok = t->ndim == ndim;
    for (uint32_t d = 0; ok && d < ndim; d++)
        if (dims[d] >= 0 && dims[d] != t->shape[d])
            ok = 0;
    if (!ok) {
        char have[128], want[128];
        shape_str(have, sizeof have, t->ndim, t->shape);
        shape_str(want, sizeof want, ndim, dims);
        return sieve_errbuf_set(err, SIEVE_EBADINPUT,
                                "weights '%s': tensor '%s' has shape %s, expected %s", f->path,
                                name, have, want);
    }
    int kind = !strcmp(t->dtype, "F32")    ? 0
               : !strcmp(t->dtype, "F16")  ? 1
               : !strcmp(t->dtype, "BF16") ? 2
                                           : -1;
    if (kind < 0)
        return sieve_errbuf_set(err, SIEVE_EBADINPUT,
                                "weights '%s': tensor '%s' has dtype %s, expected F32, F16 or "
                                "BF16",
                                f->path, name, t->dtype);
    uint64_t numel = 1;
    for (uint32_t d = 0; d < ndim; d++) {
        dims[d] = t->shape[d];
        numel *= (uint64_t)t->shape[d];
    }
    float *w = malloc((numel ? numel : 1) * sizeof *w);
    if (!w)
        return sieve_errbuf_set(err, SIEVE_ENOMEM, "weights '%s': out of memory for '%s'", f->path,
                                name);
    const unsigned char *src = f->data + t->begin;
    for (uint64_t i = 0; i < numel; i++) {
        if (kind == 0) {
            memcpy(&w[i], src + 4 * i, 4); /* the data block need not be aligned */
        } else {
            uint16_t h = (uint16_t)(src[2 * i] | (src[2 * i + 1] << 8));
            w[i] = kind == 1 ? st_f16_to_f32(h) : st_bf16_to_f32(h);
        }
    }
    *out = w;
    return 0;
}

int
st_load_at(const struct st_file *f, const char *prefix, const char *name, uint32_t ndim, int64_t a,
           int64_t b, int64_t c, float **out, struct sieve_errbuf *err)
{
    char full[512];
    int64_t dims[3] = {a, b, c};
    snprintf(full, sizeof full, "%s%s", prefix, name);
    return st_load(f, full, ndim, dims, out, err);
}

int
st_find_prefix(const struct st_file *f, const char *suffix, char *prefix, size_t cap)
{
    size_t sl = strlen(suffix);
    for (size_t i = 0; i < f->n; i++) {
        const char *name = f->t[i].name;
        size_t l = strlen(name);
        if (l >= sl && !strcmp(name + l - sl, suffix) && l - sl < cap &&
            (l == sl || name[l - sl - 1] == '.')) {
            memcpy(prefix, name, l - sl);
            prefix[l - sl] = '\0';
            return 0;
        }
    }
    return -1;
}
