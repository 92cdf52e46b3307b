/*
 * sse_int.h - private to web/: the ring of recent Server-Sent Events. Pure (no sockets), so
 * the unit tests and the fuzzer check reconnects without a server.
 *
 * An event is stored already formatted as the stream carries it:
 *     id: 17\nevent: progress\ndata: {"run":3}\n\n
 * Ids start at 1 and increase by one; the ring keeps the newest `cap` events. A client that
 * reconnects with Last-Event-ID N gets every kept event with an id above N; when some it
 * never saw have already fallen out of the ring, or whose id is above the newest (it saw a
 * daemon that has since restarted, and ids began again), it first gets `event: gap` (data:
 * the first id it will get) and then every kept event, so a page knows to reload its state
 * rather than trust the stream.
 */
#ifndef SIEVE_WEB_SSE_INT_H
#define SIEVE_WEB_SSE_INT_H

#include <stddef.h>
#include <stdint.h>

#include "base/sbuf.h"

struct sse_event {
    int64_t id;
    char *text;
    size_t len;
};

struct sse_ring {
    struct sse_event *ev;
    size_t cap, start, n;
    int64_t last_id; /* 0: none yet */
};

/* Returns 0 or SIEVE_ENOMEM. Ownership: sse_ring_release. */
int sse_ring_init(struct sse_ring *r, size_t cap);
void sse_ring_release(struct sse_ring *r);

/*
 * Formats and keeps one event (newlines in `data` become several data lines; an event name
 * with characters other than [A-Za-z0-9_.-] is replaced by "message"). Returns the kept
 * event, valid until the next push, or NULL when out of memory (the id is then not used).
 */
const struct sse_event *sse_ring_push(struct sse_ring *r, const char *event, const char *data);

/* Appends to `out` the kept events with an id above `after` (after < 0: none), preceded by a
 * gap event when some were dropped. */
void sse_ring_since(const struct sse_ring *r, int64_t after, struct sbuf *out);

#endif
