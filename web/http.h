/*
 * http.h - private to web/: the plain request and response the router speaks, so that only
 * http_h2o.c knows the HTTP library. The adapter copies what the router needs out of the
 * library's request (NUL-terminated, header values NULL when absent) and sends back what
 * the router filled in: a JSON or text body, a file, or an event stream it runs itself.
 *
 * Invariant: every response the router makes has a status and a content type; a status of
 * 400 or above carries a JSON body {"error": "..."}.
 */
#ifndef SIEVE_WEB_HTTP_H
#define SIEVE_WEB_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "web/web.h"

struct web_request {
    const char *method; /* "GET", "POST", ... */
    const char *path;   /* as sent, before the '?', percent escapes kept */
    const char *query;  /* after the '?', NULL when none */
    /* Selected headers; NULL when absent. */
    const char *authorization, *origin, *host, *last_event_id, *content_type;
    const char *body; /* not NUL-terminated; NULL when none */
    size_t body_len;
};

enum web_body {
    WEB_BODY_BUF,  /* `body`, `body_len` */
    WEB_BODY_FILE, /* the file at `file` (a path the router resolved, never one from the request) */
    WEB_BODY_EVENTS, /* an SSE stream: the adapter sends events after `events_after` */
};

struct web_response {
    int status;
    const char *content_type; /* static text */
    enum web_body kind;
    char *body; /* malloc'd */
    size_t body_len;
    char *file;           /* malloc'd */
    int64_t events_after; /* the id the client saw last; -1: none (only new events) */
};

/* What the router needs besides the request; filled by the adapter once the port is known. */
struct web_cache;

struct web_api {
    struct store *st;
    char token[WEB_TOKEN_LEN]; /* "": writes are refused */
    /* The origins a write may come from: http://127.0.0.1:PORT, http://localhost:PORT, ... */
    char origins[4][80];
    int n_origins;
    int loopback_only; /* the Host header must name a loopback address (DNS rebinding) */
    char *static_dir;  /* NULL: none */
    struct web_hooks hooks;
    struct web_cache *cache; /* recent read answers (cache.h); NULL: none */
};

/*
 * Answers one request. Pure: no sockets, no HTTP library; reads the store and calls the
 * hooks. Ownership: web_response_release(res).
 */
void web_route(const struct web_api *api, const struct web_request *req, struct web_response *res);

void web_response_release(struct web_response *res);

#endif
