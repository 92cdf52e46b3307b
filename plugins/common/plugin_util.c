/*
 * plugin_util.c - glue shared by the plugins (see plugin_util.h).
 */
#include "plugin_util.h"

#include <stdarg.h>
#include <stdio.h>

int
plugin_meta_setf(const struct sieve_host *h, struct sieve_bundle *b, const char *key,
                 const char *fmt, ...)
{
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return h->meta_set(b, key, buf);
}

int
plugin_meta_num(const struct sieve_host *h, struct sieve_bundle *b, const char *key, double v)
{
    return plugin_meta_setf(h, b, key, "%.9g", v);
}

int
plugin_meta_copy(const struct sieve_host *h, struct sieve_bundle *dst,
                 const struct sieve_bundle *src)
{
    for (size_t i = 0; i < h->meta_count(src); i++) {
        const char *key, *val;
        int rc;
        if (h->meta_at(src, i, &key, &val) == 0 && (rc = h->meta_set(dst, key, val)) < 0)
            return rc;
    }
    return 0;
}

int64_t
plugin_tensor_int_at(const struct sieve_tensor *t, uint64_t i)
{
    if (t->dtype == SIEVE_DTYPE_I64)
        return ((const int64_t *)t->data)[i];
    return ((const int32_t *)t->data)[i];
}

/* The lower-case safetensors name of a dtype, as the plugins' messages spell it. */
static const char *
dtype_name(int32_t dtype)
{
    switch (dtype) {
    case SIEVE_DTYPE_F32:
        return "f32";
    case SIEVE_DTYPE_F16:
        return "f16";
    case SIEVE_DTYPE_BF16:
        return "bf16";
    case SIEVE_DTYPE_F64:
        return "f64";
    case SIEVE_DTYPE_I32:
        return "i32";
    case SIEVE_DTYPE_I64:
        return "i64";
    case SIEVE_DTYPE_U8:
        return "u8";
    default:
        return "bool";
    }
}

int
plugin_tensor_need(const struct sieve_host *h, const struct sieve_bundle *b, const char *port,
                   const char *name, int32_t dtype, uint32_t ndim, const char *shape,
                   const struct sieve_tensor **out, struct sieve_errbuf *err)
{
    const struct sieve_tensor *t = b ? h->tensor_get(b, name) : NULL;
    *out = NULL;
    if (!t || t->dtype != dtype || t->ndim != ndim)
        return sieve_errbuf_set(err, SIEVE_EBADINPUT, "%s: need %s tensor '%s' %s", port,
                                dtype_name(dtype), name, shape);
    *out = t;
    return 0;
}
