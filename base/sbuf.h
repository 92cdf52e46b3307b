/*
 * sbuf.h - a growable NUL-terminated string builder.
 *
 * A low-level primitive: it uses only the C library, so every room may build text with it
 * (spec diagnostics, canonical parameter text for cache keys, JSON fragments). Appending never
 * fails visibly: the first allocation failure sets `oom`, later appends do nothing, and
 * sbuf_take then returns NULL, so a caller checks once at the end instead of after each append.
 *
 * Usage:
 *     struct sbuf b = {0};
 *     sbuf_str(&b, "keep=");
 *     sbuf_quoted(&b, value);
 *     char *s = sbuf_take(&b);            // NULL on no memory; the caller frees s
 */
#ifndef SIEVE_BASE_SBUF_H
#define SIEVE_BASE_SBUF_H

#include <stddef.h>

/* Invariant: `s` is NUL-terminated at `len` once anything was added; `cap` is its size. */
struct sbuf {
    char *s;
    size_t len, cap;
    int oom;
};

/* Appends `len` bytes of `s`. */
void sbuf_add(struct sbuf *b, const char *s, size_t len);
/* Appends a NUL-terminated string. */
void sbuf_str(struct sbuf *b, const char *s);
/* Appends one character. */
void sbuf_ch(struct sbuf *b, char c);
/* Appends `s` as a double-quoted YAML/JSON string with \" \\ \n \t \r escapes. */
void sbuf_quoted(struct sbuf *b, const char *s);
/*
 * Takes the string out of the buffer and empties it: "" when nothing was added.
 * Returns NULL when an append ran out of memory (the buffer is released then too).
 * Ownership: the caller frees the result.
 */
char *sbuf_take(struct sbuf *b);

#endif
