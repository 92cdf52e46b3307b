/*
 * plugin_util.h - small glue the plugins share: formatted and copied metadata, integer index
 * tensors of either width, and fetching a typed input tensor with a message that names it.
 *
 * Compiled into each plugin that uses it (list plugins/common/plugin_util.c in its SOURCES);
 * depends on <sieve/plugin.h> only, so that plugins stay free of daemon headers.
 *
 * Usage:
 *     const struct sieve_tensor *x;
 *     if ((rc = plugin_tensor_need(h, in[0], "tokens", "tokens", SIEVE_DTYPE_F32, 2, "[n, c]",
 *                                  &x, err)) < 0)
 *         return rc;
 *     rc = plugin_meta_copy(h, out[0], in[0]);
 *     rc = rc < 0 ? rc : plugin_meta_num(h, out[0], "keep_actual", 0.5);
 */
#ifndef SIEVE_PLUGINS_COMMON_PLUGIN_UTIL_H
#define SIEVE_PLUGINS_COMMON_PLUGIN_UTIL_H

#include <stdint.h>

#include <sieve/plugin.h>

/*
 * Sets metadata `key` of b to printf-formatted text (truncated past 255 bytes).
 * Returns: 0, or the host's error.
 */
int plugin_meta_setf(const struct sieve_host *h, struct sieve_bundle *b, const char *key,
                     const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

/* Sets metadata `key` to the number v with 9 significant digits ("%.9g"). Returns: as above. */
int plugin_meta_num(const struct sieve_host *h, struct sieve_bundle *b, const char *key, double v);

/* Copies every metadata entry of src into dst, in order. Returns: 0, or the host's error. */
int plugin_meta_copy(const struct sieve_host *h, struct sieve_bundle *dst,
                     const struct sieve_bundle *src);

/* Element i of an I32 or I64 tensor, widened (the caller has checked the dtype and size). */
int64_t plugin_tensor_int_at(const struct sieve_tensor *t, uint64_t i);

/*
 * Fetches tensor `name` of input port `port` from b, requiring `dtype` and `ndim` dimensions.
 * Errors: SIEVE_EBADINPUT "<port>: need <dtype> tensor '<name>' <shape>" when it is missing or
 * not of that kind (`shape` documents the expected shape, such as "[n, c]").
 */
int plugin_tensor_need(const struct sieve_host *h, const struct sieve_bundle *b, const char *port,
                       const char *name, int32_t dtype, uint32_t ndim, const char *shape,
                       const struct sieve_tensor **out, struct sieve_errbuf *err);

#endif
