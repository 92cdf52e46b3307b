/*
 * cache.c - recent answers of the read endpoints (see cache.h).
 */
#include "cache.h"

#include <stdlib.h>
#include <string.h>

#include "http.h"

static void
entry_free(struct web_cache_entry *e)
{
    free(e->target);
    free(e->body);
    memset(e, 0, sizeof *e);
}

int
web_cache_get(struct web_cache *c, const char *target, int64_t now_ms, struct web_response *res)
{
    for (size_t i = 0; i < WEB_CACHE_SLOTS; i++) {
        struct web_cache_entry *e = &c->e[i];
        if (!e->target || strcmp(e->target, target))
            continue;
        if (now_ms - e->at_ms > WEB_CACHE_MS || !(res->body = malloc(e->body_len + 1)))
            break;
        memcpy(res->body, e->body, e->body_len + 1);
        res->body_len = e->body_len;
        res->status = 200;
        res->kind = WEB_BODY_BUF;
        res->content_type = e->content_type;
        c->hits++;
        return 1;
    }
    c->misses++;
    return 0;
}

void
web_cache_put(struct web_cache *c, const char *target, int64_t now_ms,
              const struct web_response *res)
{
    if (res->status != 200 || res->kind != WEB_BODY_BUF || !res->body ||
        res->body_len > WEB_CACHE_MAX_BODY)
        return;
    /* The entry for this target, else a free one, else the oldest. */
    struct web_cache_entry *slot = NULL;
    for (size_t i = 0; i < WEB_CACHE_SLOTS; i++) {
        struct web_cache_entry *e = &c->e[i];
        if (e->target && !strcmp(e->target, target)) {
            slot = e;
            break;
        }
        if (!slot || (slot->target && (!e->target || e->at_ms < slot->at_ms)))
            slot = e;
    }
    entry_free(slot);
    slot->target = strdup(target);
    slot->body = malloc(res->body_len + 1);
    if (!slot->target || !slot->body) {
        entry_free(slot);
        return;
    }
    memcpy(slot->body, res->body, res->body_len);
    slot->body[res->body_len] = '\0';
    slot->body_len = res->body_len;
    slot->content_type = res->content_type;
    slot->at_ms = now_ms;
}

void
web_cache_clear(struct web_cache *c)
{
    for (size_t i = 0; i < WEB_CACHE_SLOTS; i++)
        entry_free(&c->e[i]);
}
