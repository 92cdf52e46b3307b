/*
 * cache.h - recent answers of the read endpoints, for a short while.
 *
 * A page polling a run, or many pages, ask the same questions many times a second, and each
 * answer reads the index (a 10,000-task run's node counts take milliseconds of the loop the
 * scheduler needs). The index itself changes only when the scheduler commits (every 500 ms),
 * so an answer up to WEB_CACHE_MS old tells nothing older than the index does. Only JSON
 * answers with status 200 to GET requests under /api/ are kept (never the event stream or
 * files); any write request empties the cache, so a client never reads its own write stale.
 * Private to web/ (included by bare name).
 */
#ifndef SIEVE_WEB_CACHE_H
#define SIEVE_WEB_CACHE_H

#include <stddef.h>
#include <stdint.h>

#define WEB_CACHE_MS 250
#define WEB_CACHE_SLOTS 64
#define WEB_CACHE_MAX_BODY (256 * 1024)

struct web_response;

struct web_cache_entry {
    char *target; /* path?query; NULL when the slot is free */
    char *body;
    size_t body_len;
    const char *content_type;
    int64_t at_ms;
};

struct web_cache {
    struct web_cache_entry e[WEB_CACHE_SLOTS];
    uint64_t hits, misses;
};

/* Fills res from a fresh entry for `target` (1) or says there is none (0). */
int web_cache_get(struct web_cache *c, const char *target, int64_t now_ms,
                  struct web_response *res);
/* Keeps a copy of res for `target` when it is a cacheable answer. */
void web_cache_put(struct web_cache *c, const char *target, int64_t now_ms,
                   const struct web_response *res);
void web_cache_clear(struct web_cache *c);

#endif
