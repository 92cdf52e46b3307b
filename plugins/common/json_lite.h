/*
 * json_lite.h - the little JSON a plugin needs without a JSON library: find a key in an
 * object, read a string, a number or an integer array, and write escaped strings.
 *
 * Plugins link nothing but the ABI header, libm and their own code, so the evaluate plugins
 * (manifest answers, prediction files) and the fuse plugin (safetensors headers of projection
 * weights) share this reader. It walks the text in place and never allocates except where a
 * function says so. Input is untrusted: every function bounds its walk by `end` and fails on
 * malformed text instead of reading past it.
 *
 * Usage:
 *     const char *v, *end = text + len;
 *     if (json_object_find(text, end, "answer", &v) == 0) {
 *         char buf[256];
 *         json_value_text(v, end, buf, sizeof buf);   // "B" for "B", "3" for 3
 *     }
 */
#ifndef SIEVE_PLUGINS_JSON_LITE_H
#define SIEVE_PLUGINS_JSON_LITE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/*
 * Finds `key` among the members of the object starting at `obj` (leading white space is
 * skipped) and points *val at its value.
 * Returns: 0 when found, -1 when absent or the text is not a well-formed object.
 */
int json_object_find(const char *obj, const char *end, const char *key, const char **val);

/*
 * Skips one JSON value starting at `p` (after white space) and returns the first byte after
 * it, or NULL when the value is malformed or runs past `end`.
 */
const char *json_skip_value(const char *p, const char *end);

/*
 * Writes the value at `p` as plain text into `buf`: a string unescaped (\uXXXX outside ASCII
 * becomes '?'), any other scalar verbatim. Truncates to fit.
 * Returns: 0, or -1 for a malformed value, an object or an array.
 */
int json_value_text(const char *p, const char *end, char *buf, size_t size);

/*
 * Reads an array of integers at `p` into `out` (at most `max`).
 * Returns: the number read, or -1 when malformed, not integers, or longer than `max`.
 */
int json_int_array(const char *p, const char *end, int64_t *out, int max);

/* Writes `s` as a JSON string literal (quotes included) to `f`. */
void json_write_string(FILE *f, const char *s);

#endif
