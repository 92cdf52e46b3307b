/*
 * http_h2o.c - the adapter over libh2o (2.2.5, the libuv flavour): the only file that
 * includes h2o headers, so another HTTP library could replace it without touching the router.
 *
 * We own the listening uv_tcp_t; each accepted stream is handed to h2o_uv_socket_create and
 * h2o_accept, and h2o runs HTTP/1.1 on the scheduler's loop. One handler at "/" turns each
 * request into a struct web_request, calls web_route, and sends the struct web_response:
 * a buffer, a file (h2o_file_send), or an event stream. An event stream is a generator that
 * never finishes by itself: web_publish appends to each client's pending text and sends it
 * when h2o has taken the previous piece (h2o allows one h2o_send in flight per request).
 *
 * Limits are h2o's where it has them (request body: max_request_entity_size answers 413;
 * slow or idle connections: http1.req_timeout closes them) and checked here where it has not
 * (header count and total size: 431).
 */
#include <arpa/inet.h>
#include <h2o.h>
#include <h2o/socket/uv-binding.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "base/err.h"
#include "cache.h"
#include "http.h"
#include "sse_int.h"
#include "web/web.h"

#define SSE_PING_MS 15000
#define SSE_MAX_PENDING (4u << 20)

struct sse_client {
    h2o_generator_t super; /* first: h2o hands the generator back */
    struct web_server *w;
    h2o_req_t *req;
    struct sse_client *prev, *next;
    struct sbuf pending;
    char *inflight; /* the text h2o is sending; freed when it asks for more */
    int finishing;  /* end the stream once nothing is in flight */
};

/* An accepted connection: h2o takes the stream's data pointer, so the server rides beside. */
struct conn {
    uv_tcp_t tcp; /* first: the close callback gets it */
    struct web_server *w;
    struct conn *prev, *next;
};

struct handler {
    h2o_handler_t super;
    struct web_server *w;
};

struct web_server {
    uv_loop_t *loop;
    uv_tcp_t listener;
    uv_timer_t ping;
    /* After web_server_close: when it fires, connections still open are shut down. Closed
     * last of all, after h2o's context; its close callback ends the server. */
    uv_timer_t grace;
    struct conn *conns; /* accepted and not yet closed */
    h2o_globalconf_t config;
    h2o_context_t ctx;
    h2o_accept_ctx_t accept;
    struct web_api api;
    struct sse_ring ring;
    struct sse_client *clients;
    int port;
    int open; /* handles not yet closed: listener, ping timer, accepted sockets */
    int closing;
    void (*done)(void *ud);
    void *done_ud;
};

/* ---- responses ------------------------------------------------------------------------- */

static const char *
reason(int status)
{
    static const struct {
        int status;
        const char *text;
    } reasons[] = {
        {200, "OK"},
        {201, "Created"},
        {202, "Accepted"},
        {400, "Bad Request"},
        {401, "Unauthorized"},
        {403, "Forbidden"},
        {404, "Not Found"},
        {405, "Method Not Allowed"},
        {409, "Conflict"},
        {413, "Payload Too Large"},
        {414, "URI Too Long"},
        {415, "Unsupported Media Type"},
        {422, "Unprocessable Entity"},
        {431, "Request Header Fields Too Large"},
        {503, "Service Unavailable"},
    };
    for (size_t i = 0; i < sizeof reasons / sizeof *reasons; i++)
        if (reasons[i].status == status)
            return reasons[i].text;
    return status >= 500 ? "Internal Server Error" : "Error";
}

static void
add_header(h2o_req_t *req, const h2o_token_t *token, const char *value)
{
    h2o_add_header(&req->pool, &req->res.headers, token, NULL, value, strlen(value));
}

static void
send_buf(h2o_req_t *req, int status, const char *type, const char *body, size_t len)
{
    req->res.status = status;
    req->res.reason = reason(status);
    add_header(req, H2O_TOKEN_CONTENT_TYPE, type);
    add_header(req, H2O_TOKEN_CACHE_CONTROL, "no-store");
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-content-type-options"), 0,
                          NULL, H2O_STRLIT("nosniff"));
    h2o_send_inline(req, body, len); /* copies the body into the request's pool */
}

static void
send_error(h2o_req_t *req, int status, const char *msg)
{
    char body[256];
    int n = snprintf(body, sizeof body, "{\"error\":\"%s\"}", msg);
    send_buf(req, status, "application/json", body, (size_t)n);
}

/* ---- event streams --------------------------------------------------------------------- */

static void
client_unlink(struct sse_client *c)
{
    struct web_server *w = c->w;
    if (c->prev)
        c->prev->next = c->next;
    else
        w->clients = c->next;
    if (c->next)
        c->next->prev = c->prev;
    free(c->inflight);
    free(sbuf_take(&c->pending));
    free(c);
}

/* Sends what is pending, or ends the stream, when nothing is in flight. */
static void
client_flush(struct sse_client *c)
{
    if (c->inflight)
        return;
    if (c->pending.len) {
        size_t len = c->pending.len;
        h2o_iovec_t buf;
        if (!(c->inflight = sbuf_take(&c->pending)))
            return; /* out of memory: the pending text is dropped */
        buf = h2o_iovec_init(c->inflight, len);
        h2o_send(c->req, &buf, 1, H2O_SEND_STATE_IN_PROGRESS);
        return;
    }
    if (c->finishing) {
        h2o_req_t *req = c->req;
        client_unlink(c);
        h2o_send(req, NULL, 0, H2O_SEND_STATE_FINAL);
    }
}

static void
client_append(struct sse_client *c, const char *text, size_t len)
{
    if (c->pending.len + len > SSE_MAX_PENDING)
        return; /* a stalled client misses events; Last-Event-ID gets them back */
    sbuf_add(&c->pending, text, len);
}

static void
on_client_proceed(h2o_generator_t *g, h2o_req_t *req)
{
    struct sse_client *c = (struct sse_client *)g;
    (void)req;
    free(c->inflight);
    c->inflight = NULL;
    client_flush(c);
}

static void
on_client_stop(h2o_generator_t *g, h2o_req_t *req)
{
    (void)req;
    client_unlink((struct sse_client *)g); /* the client went away */
}

static void
start_events(struct web_server *w, h2o_req_t *req, int64_t after)
{
    struct sse_client *c = calloc(1, sizeof *c);
    if (!c) {
        send_error(req, 500, "out of memory");
        return;
    }
    c->super.proceed = on_client_proceed;
    c->super.stop = on_client_stop;
    c->w = w;
    c->req = req;
    c->next = w->clients;
    if (w->clients)
        w->clients->prev = c;
    w->clients = c;
    req->res.status = 200;
    req->res.reason = "OK";
    add_header(req, H2O_TOKEN_CONTENT_TYPE, "text/event-stream");
    add_header(req, H2O_TOKEN_CACHE_CONTROL, "no-store");
    h2o_start_response(req, &c->super);
    /* The first bytes go out at once, so a client knows the stream is open. */
    sbuf_str(&c->pending, ": sieve events\nretry: 2000\n\n");
    sse_ring_since(&w->ring, after, &c->pending);
    client_flush(c);
}

static void
broadcast(struct web_server *w, const char *text, size_t len)
{
    for (struct sse_client *c = w->clients, *next; c; c = next) {
        next = c->next;
        client_append(c, text, len);
        client_flush(c);
    }
}

void
web_publish(struct web_server *w, const char *event, const char *json_data)
{
    const struct sse_event *e;
    if (!w || w->closing)
        return;
    if ((e = sse_ring_push(&w->ring, event, json_data)))
        broadcast(w, e->text, e->len);
}

static void
on_ping(uv_timer_t *t)
{
    static const char ping[] = ": ping\n\n";
    broadcast(t->data, ping, sizeof ping - 1);
}

/* ---- requests -------------------------------------------------------------------------- */

static const char *
header(h2o_req_t *req, const char *name, size_t len)
{
    ssize_t i = h2o_find_header_by_str(&req->headers, name, len, -1);
    if (i < 0)
        return NULL;
    h2o_iovec_t v = req->headers.entries[i].value;
    return h2o_strdup(&req->pool, v.base, v.len).base;
}

static int
on_req(h2o_handler_t *self, h2o_req_t *req)
{
    struct web_server *w = ((struct handler *)self)->w;
    struct web_request r = {0};
    struct web_response res;
    struct stat sb;
    size_t head = 0, path_len;

    if (req->headers.size > WEB_MAX_HEADERS) {
        send_error(req, 431, "too many header lines");
        return 0;
    }
    for (size_t i = 0; i < req->headers.size; i++)
        head += req->headers.entries[i].name->len + req->headers.entries[i].value.len + 4;
    if (head > WEB_MAX_HEADER_BYTES) {
        send_error(req, 431, "request headers too large");
        return 0;
    }
    path_len = req->query_at != SIZE_MAX ? req->query_at : req->path.len;
    r.method = h2o_strdup(&req->pool, req->method.base, req->method.len).base;
    r.path = h2o_strdup(&req->pool, req->path.base, path_len).base;
    if (req->query_at != SIZE_MAX)
        r.query =
            h2o_strdup(&req->pool, req->path.base + path_len + 1, req->path.len - path_len - 1)
                .base;
    r.authorization = header(req, H2O_STRLIT("authorization"));
    r.origin = header(req, H2O_STRLIT("origin"));
    r.host = req->input.authority.len
                 ? h2o_strdup(&req->pool, req->input.authority.base, req->input.authority.len).base
                 : NULL;
    r.last_event_id = header(req, H2O_STRLIT("last-event-id"));
    r.content_type = header(req, H2O_STRLIT("content-type"));
    r.body = req->entity.base;
    r.body_len = req->entity.base ? req->entity.len : 0;

    web_route(&w->api, &r, &res);
    switch (res.kind) {
    case WEB_BODY_BUF:
        send_buf(req, res.status, res.content_type, res.body ? res.body : "", res.body_len);
        break;
    case WEB_BODY_FILE:
        /* A directory opens too, and h2o would stream it as a broken file. */
        if (stat(res.file, &sb) != 0 || !S_ISREG(sb.st_mode)) {
            send_error(req, 404, "no such file");
            break;
        }
        add_header(req, H2O_TOKEN_CACHE_CONTROL, "no-store");
        if (h2o_file_send(req, res.status, reason(res.status), res.file,
                          h2o_iovec_init(res.content_type, strlen(res.content_type)), 0) != 0) {
            req->res.headers = (h2o_headers_t){NULL, 0, 0};
            send_error(req, 404, "no such file");
        }
        break;
    case WEB_BODY_EVENTS:
        if (w->closing)
            send_error(req, 503, "the server is closing");
        else
            start_events(w, req, res.events_after);
        break;
    }
    web_response_release(&res);
    return 0;
}

/* ---- connections and the listener ------------------------------------------------------ */

static void handle_gone(struct web_server *w);

static void
on_conn_closed(uv_handle_t *h)
{
    struct conn *c = (struct conn *)h;
    struct web_server *w = c->w;
    if (c->prev)
        c->prev->next = c->next;
    else
        w->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    free(c);
    handle_gone(w);
}

static void
on_connection(uv_stream_t *listener, int status)
{
    struct web_server *w = listener->data;
    struct conn *conn;
    h2o_socket_t *sock;

    if (status < 0 || w->closing)
        return;
    if (!(conn = malloc(sizeof *conn)))
        return;
    uv_tcp_init(w->loop, &conn->tcp);
    conn->w = w;
    if (uv_accept(listener, (uv_stream_t *)&conn->tcp) != 0) {
        uv_close((uv_handle_t *)&conn->tcp, (uv_close_cb)free);
        return;
    }
    conn->prev = NULL;
    conn->next = w->conns;
    if (w->conns)
        w->conns->prev = conn;
    w->conns = conn;
    w->open++;
    sock = h2o_uv_socket_create((uv_stream_t *)&conn->tcp, on_conn_closed);
    h2o_accept(&w->accept, sock);
}

static void
on_last_closed(uv_handle_t *h)
{
    struct web_server *w = h->data;
    void (*done)(void *) = w->done;
    void *ud = w->done_ud;
    sse_ring_release(&w->ring);
    free(w->api.static_dir);
    if (w->api.cache)
        web_cache_clear(w->api.cache);
    free(w->api.cache);
    free(w);
    if (done)
        done(ud);
}

static void
on_handle_closed(uv_handle_t *h)
{
    handle_gone(h->data);
}

static void
handle_gone(struct web_server *w)
{
    if (--w->open > 0 || !w->closing)
        return;
    /* Every connection is gone: h2o's context may go, then the server. The shutdown request
     * armed HTTP/2's goaway timer even with no HTTP/2 connection; disposing a context with a
     * timer still armed is an assertion in h2o. */
    if (h2o_timeout_is_linked(&w->ctx.http2._graceful_shutdown_timeout))
        h2o_timeout_unlink(&w->ctx.http2._graceful_shutdown_timeout);
    h2o_context_dispose(&w->ctx);
    h2o_config_dispose(&w->config);
    uv_close((uv_handle_t *)&w->grace, on_last_closed);
}

/*
 * The grace is over: shut down the sockets still open (an idle keep-alive connection, an
 * event stream whose client stopped reading). h2o then sees an error or end of stream on
 * each and closes it the way it closes any broken connection, so nothing of h2o's is freed
 * behind its back.
 */
static void
on_grace(uv_timer_t *t)
{
    struct web_server *w = t->data;
    for (struct conn *c = w->conns; c; c = c->next) {
        uv_os_fd_t fd;
        if (uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0)
            shutdown(fd, SHUT_RDWR);
    }
}

void
web_server_close(struct web_server *w, void (*done)(void *ud), void *ud)
{
    SIEVE_ASSERT(!w->closing);
    w->closing = 1;
    w->done = done;
    w->done_ud = ud;
    uv_close((uv_handle_t *)&w->listener, on_handle_closed);
    uv_close((uv_handle_t *)&w->ping, on_handle_closed);
    uv_timer_start(&w->grace, on_grace, WEB_CLOSE_GRACE_MS, 0);
    for (struct sse_client *c = w->clients, *next; c; c = next) {
        next = c->next;
        c->finishing = 1;
        client_flush(c);
    }
    h2o_context_request_shutdown(&w->ctx);
}

int
web_server_port(const struct web_server *w)
{
    return w->port;
}

/* Parses "host:port" ("[v6]:port", "localhost:port"). Returns 0 or -1. */
static int
parse_listen(const char *text, struct sockaddr_storage *sa, int *loopback)
{
    char host[64];
    const char *colon = strrchr(text, ':'), *p;
    long port = 0;
    size_t hl;
    if (!colon || !colon[1])
        return -1;
    for (p = colon + 1; *p; p++) {
        if (*p < '0' || *p > '9' || (port = port * 10 + (*p - '0')) > 65535)
            return -1;
    }
    hl = (size_t)(colon - text);
    if (hl >= sizeof host)
        return -1;
    memcpy(host, text, hl);
    host[hl] = '\0';
    if (strcmp(host, "localhost") == 0)
        strcpy(host, "127.0.0.1");
    if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
        host[hl - 1] = '\0';
        if (uv_ip6_addr(host + 1, (int)port, (struct sockaddr_in6 *)sa) != 0)
            return -1;
        struct in6_addr lo = IN6ADDR_LOOPBACK_INIT;
        *loopback = memcmp(&((struct sockaddr_in6 *)sa)->sin6_addr, &lo, sizeof lo) == 0;
        return 0;
    }
    if (uv_ip4_addr(host, (int)port, (struct sockaddr_in *)sa) != 0)
        return -1;
    *loopback = (ntohl(((struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
    return 0;
}

static void
set_origins(struct web_server *w, const char *listen)
{
    static const char *const names[] = {"127.0.0.1", "localhost", "[::1]"};
    struct web_api *a = &w->api;
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        snprintf(a->origins[a->n_origins++], sizeof a->origins[0], "http://%s:%d", names[i],
                 w->port);
    const char *colon = strrchr(listen, ':');
    snprintf(a->origins[a->n_origins++], sizeof a->origins[0], "http://%.*s:%d",
             (int)(colon - listen), listen, w->port);
}

int
web_server_new(const struct web_opts *o, struct web_server **out, struct sieve_errbuf *err)
{
    const char *listen = o->listen ? o->listen : "127.0.0.1:8470";
    struct sockaddr_storage sa;
    struct sockaddr_storage bound;
    int loopback = 0, rc, len = sizeof bound;
    struct web_server *w;
    h2o_hostconf_t *host;
    h2o_pathconf_t *path;
    struct handler *h;

    *out = NULL;
    memset(&sa, 0, sizeof sa);
    if (parse_listen(listen, &sa, &loopback) < 0)
        return sieve_errbuf_set(err, SIEVE_EINVAL,
                                "listen address '%s': HOST:PORT with a numeric address expected",
                                listen);
    if (o->token && strlen(o->token) >= sizeof w->api.token)
        return sieve_errbuf_set(err, SIEVE_EINVAL, "token longer than %d characters",
                                WEB_TOKEN_LEN - 1);
    if (!loopback && !o->allow_remote)
        return sieve_errbuf_set(err, SIEVE_EINVAL,
                                "listen address '%s' is not loopback: the API would be reachable"
                                " from other machines (allow it explicitly)",
                                listen);
    if (!(w = calloc(1, sizeof *w)))
        return sieve_errbuf_set(err, SIEVE_ENOMEM, "out of memory");
    w->loop = o->loop;
    w->api.st = o->st;
    w->api.hooks = o->hooks;
    w->api.loopback_only = loopback;
    snprintf(w->api.token, sizeof w->api.token, "%s", o->token ? o->token : "");
    if ((o->static_dir && !(w->api.static_dir = strdup(o->static_dir))) ||
        !(w->api.cache = calloc(1, sizeof *w->api.cache)) ||
        sse_ring_init(&w->ring, WEB_EVENT_RING) < 0) {
        free(w->api.static_dir);
        free(w->api.cache);
        free(w);
        return sieve_errbuf_set(err, SIEVE_ENOMEM, "out of memory");
    }
    uv_tcp_init(o->loop, &w->listener);
    w->listener.data = w;
    if ((rc = uv_tcp_bind(&w->listener, (struct sockaddr *)&sa, 0)) != 0 ||
        (rc = uv_listen((uv_stream_t *)&w->listener, 128, on_connection)) != 0) {
        sieve_errbuf_set(err, SIEVE_EIO, "listen on '%s': %s", listen, uv_strerror(rc));
        uv_close((uv_handle_t *)&w->listener, NULL);
        /* The handle's close is pending: free the server once it ran. */
        uv_timer_init(o->loop, &w->grace);
        w->grace.data = w;
        uv_close((uv_handle_t *)&w->grace, on_last_closed);
        return SIEVE_EIO;
    }
    /* A client can close its socket at any moment; a write to it must be an error h2o
     * handles, not a SIGPIPE that kills the daemon (the scheduler ignores it too). */
    signal(SIGPIPE, SIG_IGN);
    uv_tcp_getsockname(&w->listener, (struct sockaddr *)&bound, &len);
    w->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                : ((struct sockaddr_in *)&bound)->sin_port);
    set_origins(w, listen);

    h2o_config_init(&w->config);
    w->config.server_name = h2o_iovec_init(H2O_STRLIT("sieve"));
    w->config.max_request_entity_size = WEB_MAX_BODY;
    w->config.http1.req_timeout = (uint64_t)(o->timeout_ms > 0 ? o->timeout_ms : WEB_TIMEOUT_MS);
    w->config.http1.upgrade_to_http2 = 0;
    w->config.http2.idle_timeout = w->config.http1.req_timeout;
    host = h2o_config_register_host(&w->config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    path = h2o_config_register_path(host, "/", 0);
    h = (struct handler *)h2o_create_handler(path, sizeof *h);
    h->super.on_req = on_req;
    h->w = w;
    h2o_context_init(&w->ctx, o->loop, &w->config);
    w->accept.ctx = &w->ctx;
    w->accept.hosts = w->config.hosts;

    uv_timer_init(o->loop, &w->ping);
    w->ping.data = w;
    uv_timer_start(&w->ping, on_ping, SSE_PING_MS, SSE_PING_MS);
    uv_unref((uv_handle_t *)&w->ping);
    uv_timer_init(o->loop, &w->grace);
    w->grace.data = w;
    w->open = 2;
    *out = w;
    return 0;
}
