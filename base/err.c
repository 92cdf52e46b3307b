/*
 * err.c - static messages for SIEVE_E* codes and small helpers to build error text.
 */
#include "base/err.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *
sieve_strerror(int code)
{
    switch (code) {
    case SIEVE_OK:
        return "success";
    case SIEVE_EBADINPUT:
        return "bad input";
    case SIEVE_ENOMEM:
        return "out of memory";
    case SIEVE_EDEVICE:
        return "device fault";
    case SIEVE_ETRANSIENT:
        return "transient failure";
    case SIEVE_EINTERNAL:
        return "internal error";
    case SIEVE_ECANCELED:
        return "cancelled";
    case SIEVE_EINVAL:
        return "invalid argument";
    case SIEVE_EIO:
        return "input/output error";
    case SIEVE_ENOENT:
        return "not found";
    case SIEVE_EFORMAT:
        return "malformed file";
    case SIEVE_EABI:
        return "plugin ABI mismatch";
    case SIEVE_ETIMEDOUT:
        return "timed out";
    case SIEVE_EEXIST:
        return "already exists";
    case SIEVE_ESTORE:
        return "store error";
    case SIEVE_ESPEC:
        return "pipeline spec error";
    case SIEVE_ECRASH:
        return "process crashed";
    case SIEVE_EPROTO:
        return "protocol error";
    default:
        return "unknown error";
    }
}

const char *
sieve_error_class(int code)
{
    switch (code) {
    case SIEVE_OK:
        return "ok";
    case SIEVE_EBADINPUT:
    case SIEVE_EFORMAT:
    case SIEVE_EINVAL:
        return "bad-input";
    case SIEVE_ENOMEM:
        return "oom";
    case SIEVE_EDEVICE:
        return "device";
    case SIEVE_ETRANSIENT:
    case SIEVE_EIO:
        return "transient";
    case SIEVE_ECANCELED:
        return "cancelled";
    case SIEVE_ETIMEDOUT:
        return "timeout";
    case SIEVE_ECRASH:
        return "crash";
    default:
        return "internal";
    }
}

int
sieve_error_retryable(int code)
{
    switch (code) {
    case SIEVE_ENOMEM:
    case SIEVE_EDEVICE:
    case SIEVE_ETRANSIENT:
    case SIEVE_EIO:
    case SIEVE_ETIMEDOUT:
    case SIEVE_ECRASH:
        return 1;
    default:
        return 0;
    }
}

int
sieve_error_from_errno(int errnum)
{
    switch (errnum) {
    case 0:
        return SIEVE_OK;
    case ENOENT:
    case ENOTDIR:
        return SIEVE_ENOENT;
    case ENOMEM:
        return SIEVE_ENOMEM;
    case EEXIST:
        return SIEVE_EEXIST;
    case EINVAL:
        return SIEVE_EINVAL;
    case ETIMEDOUT:
        return SIEVE_ETIMEDOUT;
    case ECANCELED:
        return SIEVE_ECANCELED;
    case EAGAIN:
    case EINTR:
    case EBUSY:
        return SIEVE_ETRANSIENT;
    default:
        return SIEVE_EIO;
    }
}

int
sieve_errbuf_prefix(struct sieve_errbuf *err, int code, const char *fmt, ...)
{
    char head[SIEVE_ERRBUF_SIZE], tail[SIEVE_ERRBUF_SIZE];
    va_list ap;

    if (!err)
        return code;
    va_start(ap, fmt);
    vsnprintf(head, sizeof head, fmt, ap);
    va_end(ap);
    snprintf(tail, sizeof tail, "%s", err->msg);
    if (tail[0])
        snprintf(err->msg, sizeof err->msg, "%s: %s", head, tail);
    else
        snprintf(err->msg, sizeof err->msg, "%s: %s", head, sieve_strerror(code));
    return code;
}

void
sieve_assert_fail(const char *expr, const char *file, int line)
{
    fprintf(stderr, "sieve: assertion failed: %s (%s:%d)\n", expr, file, line);
    abort();
}
