/*
 * sse.c - the ring of recent Server-Sent Events (see sse_int.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sieve/plugin.h>

#include "sse_int.h"

int
sse_ring_init(struct sse_ring *r, size_t cap)
{
    memset(r, 0, sizeof *r);
    if (!(r->ev = calloc(cap ? cap : 1, sizeof *r->ev)))
        return SIEVE_ENOMEM;
    r->cap = cap ? cap : 1;
    return 0;
}

void
sse_ring_release(struct sse_ring *r)
{
    for (size_t i = 0; r->ev && i < r->n; i++)
        free(r->ev[(r->start + i) % r->cap].text);
    free(r->ev);
    memset(r, 0, sizeof *r);
}

static int
name_valid(const char *s)
{
    if (!s || !*s || strlen(s) > 64)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || *s == '-' || *s == '.'))
            return 0;
    return 1;
}

const struct sse_event *
sse_ring_push(struct sse_ring *r, const char *event, const char *data)
{
    struct sbuf b = {0};
    char head[128];
    const char *p = data ? data : "";
    struct sse_event *e;
    char *text;

    snprintf(head, sizeof head, "id: %lld\nevent: %s\n", (long long)(r->last_id + 1),
             name_valid(event) ? event : "message");
    sbuf_str(&b, head);
    for (;;) {
        size_t n = strcspn(p, "\r\n");
        sbuf_str(&b, "data: ");
        sbuf_add(&b, p, n);
        sbuf_ch(&b, '\n');
        p += n;
        if (!*p)
            break;
        p += p[0] == '\r' && p[1] == '\n' ? 2 : 1;
    }
    sbuf_ch(&b, '\n');
    size_t len = b.len;
    if (!(text = sbuf_take(&b)))
        return NULL;
    if (r->n == r->cap) { /* drop the oldest */
        free(r->ev[r->start].text);
        r->start = (r->start + 1) % r->cap;
        r->n--;
    }
    e = &r->ev[(r->start + r->n) % r->cap];
    e->id = ++r->last_id;
    e->text = text;
    e->len = len;
    r->n++;
    return e;
}

void
sse_ring_since(const struct sse_ring *r, int64_t after, struct sbuf *out)
{
    int64_t oldest;
    if (after < 0)
        return;
    oldest = r->n ? r->ev[r->start].id : r->last_id + 1;
    /* An id above the newest is from before a restart of the daemon: ids began again. */
    if (after + 1 < oldest || after > r->last_id) {
        char gap[96];
        snprintf(gap, sizeof gap, "event: gap\ndata: %lld\n\n", (long long)oldest);
        sbuf_str(out, gap);
    }
    for (size_t i = 0; i < r->n; i++) {
        const struct sse_event *e = &r->ev[(r->start + i) % r->cap];
        if (e->id > after || after > r->last_id)
            sbuf_add(out, e->text, e->len);
    }
}
