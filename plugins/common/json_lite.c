/*
 * json_lite.c - a bounded, non-allocating JSON walker (see json_lite.h).
 */
#include "json_lite.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Nesting deeper than this is refused rather than risking the stack on hostile input. */
#define MAX_DEPTH 64

static const char *
skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

/* Returns the byte after the closing quote of the string starting at p (which is '"'). */
static const char *
skip_string(const char *p, const char *end)
{
    if (p >= end || *p != '"')
        return NULL;
    for (p++; p < end; p++) {
        if (*p == '\\') {
            p++;
            continue;
        }
        if (*p == '"')
            return p + 1;
    }
    return NULL;
}

static const char *
skip_depth(const char *p, const char *end, int depth)
{
    p = skip_ws(p, end);
    if (p >= end || depth > MAX_DEPTH)
        return NULL;
    if (*p == '"')
        return skip_string(p, end);
    if (*p == '{' || *p == '[') {
        char close = *p == '{' ? '}' : ']';
        int object = *p == '{';
        p = skip_ws(p + 1, end);
        if (p < end && *p == close)
            return p + 1;
        for (;;) {
            if (object) {
                p = skip_string(skip_ws(p, end), end);
                if (!p)
                    return NULL;
                p = skip_ws(p, end);
                if (p >= end || *p != ':')
                    return NULL;
                p++;
            }
            p = skip_depth(p, end, depth + 1);
            if (!p)
                return NULL;
            p = skip_ws(p, end);
            if (p >= end)
                return NULL;
            if (*p == close)
                return p + 1;
            if (*p != ',')
                return NULL;
            p++;
        }
    }
    /* A number or a literal: a run of the characters they are made of. */
    const char *q = p;
    while (q < end && (strchr("+-.eE", *q) || (*q >= '0' && *q <= '9') || (*q >= 'a' && *q <= 'z')))
        q++;
    return q > p ? q : NULL;
}

const char *
json_skip_value(const char *p, const char *end)
{
    return skip_depth(p, end, 0);
}

/* Compares the JSON string at p (no escapes expected in keys we look for) with key. */
static int
key_equals(const char *p, const char *stop, const char *key)
{
    size_t n = strlen(key);
    return (size_t)(stop - p) == n + 2 && !memcmp(p + 1, key, n);
}

int
json_object_find(const char *obj, const char *end, const char *key, const char **val)
{
    const char *p = skip_ws(obj, end);
    if (p >= end || *p != '{')
        return -1;
    p = skip_ws(p + 1, end);
    if (p < end && *p == '}')
        return -1;
    for (;;) {
        const char *k = skip_ws(p, end);
        const char *ke = skip_string(k, end);
        if (!ke)
            return -1;
        p = skip_ws(ke, end);
        if (p >= end || *p != ':')
            return -1;
        p = skip_ws(p + 1, end);
        if (key_equals(k, ke, key)) {
            *val = p;
            return 0;
        }
        p = json_skip_value(p, end);
        if (!p)
            return -1;
        p = skip_ws(p, end);
        if (p >= end || *p != ',')
            return -1;
        p++;
    }
}

int
json_value_text(const char *p, const char *end, char *buf, size_t size)
{
    size_t n = 0;
    p = skip_ws(p, end);
    if (size == 0 || p >= end)
        return -1;
    if (*p == '{' || *p == '[')
        return -1;
    if (*p != '"') {
        const char *q = json_skip_value(p, end);
        if (!q)
            return -1;
        while (p < q && n + 1 < size)
            buf[n++] = *p++;
        buf[n] = '\0';
        return 0;
    }
    for (p++; p < end && *p != '"'; p++) {
        char c = *p;
        if (c == '\\') {
            if (++p >= end)
                return -1;
            switch (*p) {
            case 'n':
                c = '\n';
                break;
            case 't':
                c = '\t';
                break;
            case 'r':
                c = '\r';
                break;
            case 'b':
                c = '\b';
                break;
            case 'f':
                c = '\f';
                break;
            case 'u': {
                if (end - p < 5)
                    return -1;
                char hex[5] = {p[1], p[2], p[3], p[4], 0};
                long u = strtol(hex, NULL, 16);
                c = u < 0x80 ? (char)u : '?';
                p += 4;
                break;
            }
            default:
                c = *p; /* \" \\ \/ */
            }
        }
        if (n + 1 < size)
            buf[n++] = c;
    }
    buf[n] = '\0';
    return p < end ? 0 : -1;
}

int
json_int_array(const char *p, const char *end, int64_t *out, int max)
{
    int n = 0;
    p = skip_ws(p, end);
    if (p >= end || *p != '[')
        return -1;
    p = skip_ws(p + 1, end);
    if (p < end && *p == ']')
        return 0;
    for (;;) {
        char num[32];
        const char *q = json_skip_value(p, end);
        if (!q || q - p >= (long)sizeof num || n >= max)
            return -1;
        memcpy(num, p, (size_t)(q - p));
        num[q - p] = '\0';
        char *stop;
        errno = 0;
        long long v = strtoll(num, &stop, 10);
        if (*stop || errno)
            return -1;
        out[n++] = v;
        p = skip_ws(q, end);
        if (p >= end)
            return -1;
        if (*p == ']')
            return n;
        if (*p != ',')
            return -1;
        p = skip_ws(p + 1, end);
    }
}

void
json_write_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p == '\n')
            fputs("\\n", f);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}
