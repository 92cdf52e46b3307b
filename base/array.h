/*
 * array.h - growing a heap array by doubling.
 *
 * Every list the daemon builds while reading (plugins found, manifest rows, store rows, diagnostics)
 * grows the same way; this is the one place that multiplies sizes, so the overflow check lives
 * here and nowhere else.
 *
 * Usage:
 *     struct row *rows = NULL;
 *     size_t n = 0, cap = 0;
 *     if (array_grow(&rows, &cap, n + 1, sizeof *rows) < 0)
 *         goto fail;                       // rows still holds the n rows it had
 *     rows[n++] = r;
 */
#ifndef SIEVE_BASE_ARRAY_H
#define SIEVE_BASE_ARRAY_H

#include <stddef.h>

/*
 * Makes `*arrp` (a `T **` passed as void *) hold at least `need` elements of `size` bytes,
 * doubling `*cap` (from 8) until it does.
 * Returns: 0, or SIEVE_ENOMEM when the size overflows or realloc fails; the array and `*cap`
 * are then unchanged, so the caller still owns and frees what it had.
 */
int array_grow(void *arrp, size_t *cap, size_t need, size_t size);

#endif
