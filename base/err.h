/*
 * err.h - error codes and messages for the whole daemon.
 *
 * The codes are the SIEVE_E* values of the plugin ABI (sieve/plugin.h), so one error number
 * means the same thing in a plugin, the worker and the scheduler. Functions return 0 (or a
 * count) on success and a negative code on failure; the detail travels in a caller-supplied
 * struct sieve_errbuf, written like git's messages: lower case, what failed first, the
 * subject in quotes ("open 'clips.jsonl': no such file or directory").
 */
#ifndef SIEVE_BASE_ERR_H
#define SIEVE_BASE_ERR_H

#include <sieve/plugin.h>

/* A static description of `code`; never NULL (unknown codes give "unknown error"). */
const char *sieve_strerror(int code);

/* The name of a plugin error class for logs and the store: "bad-input", "device", ... */
const char *sieve_error_class(int code);

/*
 * Whether a failed task with this code may be retried (ENOMEM, EDEVICE, ETRANSIENT,
 * ETIMEDOUT, ECRASH) or must fail at once (everything else).
 */
int sieve_error_retryable(int code);

/* Maps an errno value to the closest SIEVE_E* code. */
int sieve_error_from_errno(int errnum);

/*
 * Prefixes the message already in `err` with a formatted context and ": ", so that callers
 * can add where an error happened: "read 'x.safetensors': header length 9 exceeds file".
 * Returns `code`.
 */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
int
sieve_errbuf_prefix(struct sieve_errbuf *err, int code, const char *fmt, ...);

/* Programmer mistakes abort with file and line; they are never error codes. */
#define SIEVE_ASSERT(cond)                                                                         \
    do {                                                                                           \
        if (!(cond))                                                                               \
            sieve_assert_fail(#cond, __FILE__, __LINE__);                                          \
    } while (0)
_Noreturn void sieve_assert_fail(const char *expr, const char *file, int line);

#endif
