#include <stdlib.h>
#include <string.h>

#include "base/array.h"
#include "base/sbuf.h"

void
sbuf_add(struct sbuf *b, const char *s, size_t len)
{
    if (b->oom)
        return;
    if (array_grow(&b->s, &b->cap, b->len + len + 1, 1) < 0) {
        b->oom = 1;
        return;
    }
    memcpy(b->s + b->len, s, len);
    b->len += len;
    b->s[b->len] = '\0';
}

void
sbuf_str(struct sbuf *b, const char *s)
{
    sbuf_add(b, s, strlen(s));
}

void
sbuf_ch(struct sbuf *b, char c)
{
    sbuf_add(b, &c, 1);
}

void
sbuf_quoted(struct sbuf *b, const char *s)
{
    sbuf_ch(b, '"');
    for (; *s; s++) {
        switch (*s) {
        case '"':
            sbuf_str(b, "\\\"");
            break;
        case '\\':
            sbuf_str(b, "\\\\");
            break;
        case '\n':
            sbuf_str(b, "\\n");
            break;
        case '\t':
            sbuf_str(b, "\\t");
            break;
        case '\r':
            sbuf_str(b, "\\r");
            break;
        default:
            sbuf_ch(b, *s);
        }
    }
    sbuf_ch(b, '"');
}

char *
sbuf_take(struct sbuf *b)
{
    char *s;
    if (b->oom) {
        free(b->s);
        memset(b, 0, sizeof *b);
        return NULL;
    }
    s = b->s ? b->s : strdup("");
    memset(b, 0, sizeof *b);
    return s;
}
