/*
 * route.c - the router: method and path to handler, query parameters, authorization of
 * writes, static files. Pure (no sockets, no HTTP library) so the fuzzer and the unit tests
 * call it directly with a request they make up.
 *
 * Paths are matched on the raw path as sent: a segment is never percent-decoded, so ids and
 * keys are checked on exactly the bytes the client sent, and a '%', '.' or '..' segment, a
 * backslash or an empty segment is refused (400) before any handler runs.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/clock.h"
#include "base/err.h"
#include "cache.h"
#include "route_int.h"

#define MAX_SEGMENTS 8
#define MAX_SEGMENT 128

void
web_reply_error(struct web_response *res, int status, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_t *doc = json_pack("{s:s}", "error", msg);
    if (!doc) /* not valid UTF-8: the message echoed bytes of the request */
        doc = json_pack("{s:s}", "error", "malformed request");
    web_reply_json(res, status, doc);
}

void
web_reply_json(struct web_response *res, int status, json_t *doc)
{
    free(res->body);
    free(res->file);
    res->file = NULL;
    res->kind = WEB_BODY_BUF;
    res->content_type = "application/json";
    res->body = doc ? json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(17)) : NULL;
    json_decref(doc);
    if (!res->body) {
        static const char oom[] = "{\"error\":\"out of memory\"}";
        res->status = 500;
        res->body = strdup(oom);
        res->body_len = res->body ? strlen(res->body) : 0;
        return;
    }
    res->status = status;
    res->body_len = strlen(res->body);
}

int
web_status_from_error(int code)
{
    switch (code) {
    case SIEVE_ENOENT:
        return 404;
    case SIEVE_EINVAL:
    case SIEVE_ESPEC:
    case SIEVE_EFORMAT:
    case SIEVE_EBADINPUT:
        return 400;
    case SIEVE_EEXIST:
        return 409;
    default:
        return 500;
    }
}

void
web_response_release(struct web_response *res)
{
    if (!res)
        return;
    free(res->body);
    free(res->file);
    memset(res, 0, sizeof *res);
}

/* ---- query strings --------------------------------------------------------------------- */

static int
hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes [s, s+n) (form encoding: '+' is a space) into buf. Returns 0 or -1. */
static int
decode(const char *s, size_t n, char *buf, size_t len)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)s[i];
        if (c == '%') {
            int h, l;
            if (i + 2 >= n || (h = hexval(s[i + 1])) < 0 || (l = hexval(s[i + 2])) < 0)
                return -1;
            c = h * 16 + l;
            i += 2;
        } else if (c == '+') {
            c = ' ';
        }
        if (c == 0 || o + 1 >= len)
            return -1;
        buf[o++] = (char)c;
    }
    buf[o] = '\0';
    return 0;
}

/* Calls fn for each name=value pair of the query; stops at a nonzero return. */
static int
query_each(const char *query,
           int (*fn)(void *arg, const char *name, size_t nlen, const char *val, size_t vlen),
           void *arg)
{
    const char *p = query;
    while (p && *p) {
        const char *amp = strchr(p, '&');
        size_t n = amp ? (size_t)(amp - p) : strlen(p);
        const char *eq = memchr(p, '=', n);
        size_t nlen = eq ? (size_t)(eq - p) : n;
        int rc;
        if (n > 0 && (rc = fn(arg, p, nlen, eq ? eq + 1 : p + n, eq ? n - nlen - 1 : 0)) != 0)
            return rc;
        p = amp ? amp + 1 : NULL;
    }
    return 0;
}

struct find {
    const char *name;
    char *buf;
    size_t len;
    int found;
};

static int
find_one(void *arg, const char *name, size_t nlen, const char *val, size_t vlen)
{
    struct find *f = arg;
    if (strlen(f->name) != nlen || memcmp(f->name, name, nlen) != 0)
        return 0;
    f->found = decode(val, vlen, f->buf, f->len) < 0 ? -1 : 1;
    return 1;
}

int
web_query_get(const char *query, const char *name, char *buf, size_t len)
{
    struct find f = {name, buf, len, 0};
    if (len)
        buf[0] = '\0';
    query_each(query, find_one, &f);
    return f.found;
}

struct check {
    const char *const *allowed;
    char bad[64];
};

static int
check_one(void *arg, const char *name, size_t nlen, const char *val, size_t vlen)
{
    struct check *c = arg;
    char buf[WEB_PARAM_MAX];
    int known = 0;
    for (const char *const *a = c->allowed; *a && !known; a++)
        known = strlen(*a) == nlen && memcmp(*a, name, nlen) == 0;
    if (!known || decode(val, vlen, buf, sizeof buf) < 0) {
        size_t k = 0;
        for (size_t i = 0; i < nlen && k + 1 < sizeof c->bad; i++)
            c->bad[k++] = name[i] >= 0x20 && name[i] < 0x7f && name[i] != '"' ? name[i] : '?';
        c->bad[k] = '\0';
        return known ? 2 : 1;
    }
    return 0;
}

int
web_query_check(const char *query, const char *const *allowed, struct web_response *res)
{
    struct check c = {allowed, {0}};
    int rc = query_each(query, check_one, &c);
    if (rc == 1) {
        web_reply_error(res, 400, "unknown query parameter '%s'", c.bad);
        return -1;
    }
    if (rc == 2) {
        web_reply_error(res, 400, "malformed value of query parameter '%s'", c.bad);
        return -1;
    }
    return 0;
}

int
web_parse_int(const char *s, int64_t min, int64_t max, int64_t *out)
{
    int64_t v = 0;
    if (!s || !*s || strlen(s) > 18)
        return -1;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        v = v * 10 + (*p - '0');
    }
    if (v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

int
web_key_valid(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++)
        if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')))
            return 0;
    return n == 64;
}

/* ---- authorization --------------------------------------------------------------------- */

/* Compares without an early exit, so the time taken says nothing about where they differ. */
static int
token_equal(const char *given, size_t given_len, const char *token)
{
    size_t n = strlen(token);
    unsigned diff = (unsigned)(given_len ^ n);
    for (size_t i = 0; i < n; i++)
        diff |= (unsigned char)token[i] ^ (unsigned char)(i < given_len ? given[i] : 0);
    return diff == 0;
}

/* The server's own origins, or the origin the Host header names (same-origin: the page was
 * served by this server under that name; with a loopback listener the Host is checked first). */
static int
origin_allowed(const struct web_api *api, const char *origin, const char *host)
{
    for (int i = 0; i < api->n_origins; i++)
        if (strcmp(origin, api->origins[i]) == 0)
            return 1;
    return host && strncmp(origin, "http://", 7) == 0 && strcmp(origin + 7, host) == 0;
}

/* Whether a write may proceed; otherwise fills res (403 cross-origin, 401 no token). */
static int
write_allowed(const struct web_api *api, const struct web_request *req, struct web_response *res)
{
    if (req->origin && !origin_allowed(api, req->origin, req->host)) {
        web_reply_error(res, 403, "cross-origin write refused");
        return 0;
    }
    const char *a = req->authorization;
    if (!api->token[0]) {
        web_reply_error(res, 401, "writes are disabled: the server has no token");
        return 0;
    }
    if (!a || strncasecmp(a, "Bearer ", 7) != 0) {
        web_reply_error(res, 401, "missing bearer token (Authorization: Bearer <serve.token>)");
        return 0;
    }
    a += 7;
    while (*a == ' ')
        a++;
    if (!token_equal(a, strlen(a), api->token)) {
        web_reply_error(res, 401, "wrong bearer token");
        return 0;
    }
    return 1;
}

/* With a loopback listener, a Host that names another machine is a DNS-rebinding page. */
static int
host_allowed(const struct web_api *api, const char *host)
{
    static const char *const names[] = {"127.0.0.1", "localhost", "[::1]"};
    if (!api->loopback_only || !host)
        return 1;
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        size_t n = strlen(names[i]);
        if (strncasecmp(host, names[i], n) == 0 && (host[n] == '\0' || host[n] == ':'))
            return 1;
    }
    return 0;
}

/* ---- static files ---------------------------------------------------------------------- */

static const char *
mime_type(const char *name)
{
    static const char *const map[][2] = {
        {".html", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".json", "application/json"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".ico", "image/x-icon"},
        {".txt", "text/plain; charset=utf-8"},
    };
    const char *dot = strrchr(name, '.');
    for (size_t i = 0; dot && i < sizeof map / sizeof *map; i++)
        if (strcmp(dot, map[i][0]) == 0)
            return map[i][1];
    return "application/octet-stream";
}

static void
static_file(const struct web_api *api, char seg[][MAX_SEGMENT], int n, struct web_response *res)
{
    char path[4096];
    size_t off;
    if (!api->static_dir) {
        web_reply_error(res, 404, "no such page");
        return;
    }
    off = (size_t)snprintf(path, sizeof path, "%s", api->static_dir);
    for (int i = 0; i < n && off < sizeof path; i++) {
        /* Segments were checked: no '.' or '..', no '%', no backslash; hidden files too. */
        if (seg[i][0] == '.') {
            web_reply_error(res, 404, "no such page");
            return;
        }
        off += (size_t)snprintf(path + off, sizeof path - off, "/%s", seg[i]);
    }
    if (n == 0 && off < sizeof path)
        off += (size_t)snprintf(path + off, sizeof path - off, "/index.html");
    if (off >= sizeof path) {
        web_reply_error(res, 414, "path too long");
        return;
    }
    res->status = 200;
    res->kind = WEB_BODY_FILE;
    res->content_type = mime_type(path);
    res->file = strdup(path);
    if (!res->file)
        web_reply_error(res, 500, "out of memory");
}

/* ---- dispatch -------------------------------------------------------------------------- */

/* Splits the path into segments; returns the count, or -1 for a malformed path. */
static int
split_path(const char *path, char seg[][MAX_SEGMENT])
{
    int n = 0;
    const char *p = path;
    if (!p || *p != '/')
        return -1;
    p++;
    while (*p) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        if (len == 0 && !slash)
            break; /* a trailing slash */
        if (len == 0 || len >= MAX_SEGMENT || n == MAX_SEGMENTS)
            return -1;
        for (size_t i = 0; i < len; i++) {
            unsigned char c = (unsigned char)p[i];
            if (c <= 0x20 || c >= 0x7f || c == '%' || c == '\\')
                return -1;
        }
        memcpy(seg[n], p, len);
        seg[n][len] = '\0';
        if (strcmp(seg[n], ".") == 0 || strcmp(seg[n], "..") == 0)
            return -1;
        n++;
        p += len;
        if (*p == '/')
            p++;
    }
    return n;
}

static int
method_is(const struct web_request *req, const char *m)
{
    return strcmp(req->method, m) == 0;
}

static int
run_id(const char *s, int64_t *id, struct web_response *res)
{
    if (web_parse_int(s, 1, INT64_MAX, id) < 0) {
        web_reply_error(res, 400, "malformed run id '%.40s'", s);
        return -1;
    }
    return 0;
}

static void
route_api(const struct web_api *api, const struct web_request *req, char seg[][MAX_SEGMENT], int n,
          struct web_response *res)
{
    static const char *const none[] = {NULL};
    int get = method_is(req, "GET") || method_is(req, "HEAD"), post = method_is(req, "POST");
    int64_t run, idx;

    if (!get && !post) {
        web_reply_error(res, 405, "method not allowed");
        return;
    }
    if (post && !write_allowed(api, req, res))
        return;
    /* seg[0] is "api". */
    if (n == 2 && strcmp(seg[1], "runs") == 0) {
        if (get)
            api_runs_list(api, req, res);
        else if (web_query_check(req->query, none, res) == 0)
            api_submit(api, req, res);
        return;
    }
    if (n >= 3 && strcmp(seg[1], "runs") == 0) {
        if (run_id(seg[2], &run, res) < 0)
            return;
        if (n == 3 && get) {
            if (web_query_check(req->query, none, res) == 0)
                api_run_get(api, run, res);
        } else if (n == 4 && get && strcmp(seg[3], "tasks") == 0) {
            api_run_tasks(api, run, req, res);
        } else if (n == 4 && get && strcmp(seg[3], "table") == 0) {
            api_run_table(api, run, req, res);
        } else if (n == 5 && get && strcmp(seg[3], "table") == 0) {
            api_run_table_text(api, run, seg[4], req, res);
        } else if (n == 4 && get &&
                   (strcmp(seg[3], "graph") == 0 || strcmp(seg[3], "metrics") == 0)) {
            if (web_query_check(req->query, none, res) == 0)
                (seg[3][0] == 'g' ? api_run_graph : api_run_metrics)(api, run, res);
        } else if (n == 6 && get && strcmp(seg[3], "tasks") == 0 && strcmp(seg[5], "log") == 0) {
            if (web_parse_int(seg[4], 0, UINT32_MAX, &idx) < 0)
                web_reply_error(res, 400, "malformed task index '%.40s'", seg[4]);
            else if (web_query_check(req->query, none, res) == 0)
                api_task_log(api, run, idx, res);
        } else if (n == 4 && post &&
                   (strcmp(seg[3], "cancel") == 0 || strcmp(seg[3], "resume") == 0)) {
            if (web_query_check(req->query, none, res) == 0)
                api_run_action(api, run, seg[3], res);
        } else {
            int action = n == 4 && (strcmp(seg[3], "cancel") == 0 || strcmp(seg[3], "resume") == 0);
            web_reply_error(res, action || n == 3 ? 405 : 404,
                            action || n == 3 ? "method not allowed" : "no such endpoint");
        }
        return;
    }
    if (n >= 3 && strcmp(seg[1], "artifacts") == 0 && get) {
        if (!web_key_valid(seg[2])) {
            web_reply_error(res, 400, "malformed artifact key: 64 lower-case hex digits expected");
            return;
        }
        if (n == 3) {
            if (web_query_check(req->query, none, res) == 0)
                api_artifact_get(api, seg[2], res);
        } else if (n == 4 && strcmp(seg[3], "file") == 0) {
            if (web_query_check(req->query, none, res) == 0)
                api_artifact_file(api, seg[2], res);
        } else if (n == 4 && strcmp(seg[3], "overlay") == 0) {
            api_artifact_overlay(api, seg[2], req, res);
        } else {
            web_reply_error(res, 404, "no such endpoint");
        }
        return;
    }
    if (n == 5 && strcmp(seg[1], "tasks") == 0 && strcmp(seg[3], "outputs") == 0 && get) {
        if (!web_key_valid(seg[2]))
            web_reply_error(res, 400, "malformed task key: 64 lower-case hex digits expected");
        else if (web_query_check(req->query, none, res) == 0)
            api_task_output(api, seg[2], seg[4], res);
        return;
    }
    if (n == 2 && strcmp(seg[1], "devices") == 0 && get) {
        if (web_query_check(req->query, none, res) == 0)
            api_devices(api, res);
        return;
    }
    if (n == 2 && strcmp(seg[1], "events") == 0 && get) {
        static const char *const allowed[] = {"last_event_id", NULL};
        char buf[WEB_PARAM_MAX];
        const char *last = req->last_event_id;
        int64_t after = -1;
        if (web_query_check(req->query, allowed, res) < 0)
            return;
        if (!last && web_query_get(req->query, "last_event_id", buf, sizeof buf) == 1)
            last = buf;
        if (last && web_parse_int(last, 0, INT64_MAX - 1, &after) < 0) {
            web_reply_error(res, 400, "malformed Last-Event-ID");
            return;
        }
        res->status = 200;
        res->kind = WEB_BODY_EVENTS;
        res->content_type = "text/event-stream";
        res->events_after = after;
        return;
    }
    web_reply_error(res, post ? 405 : 404, post ? "method not allowed" : "no such endpoint");
}

void
web_route(const struct web_api *api, const struct web_request *req, struct web_response *res)
{
    char seg[MAX_SEGMENTS][MAX_SEGMENT];
    int n;

    memset(res, 0, sizeof *res);
    if (!host_allowed(api, req->host)) {
        web_reply_error(res, 403, "host not allowed: the server answers to a loopback name only");
        return;
    }
    if ((n = split_path(req->path, seg)) < 0) {
        web_reply_error(res, 400, "malformed path");
        return;
    }
    if (n >= 1 && strcmp(seg[0], "api") == 0) {
        char target[1024] = "";
        int cacheable = api->cache && method_is(req, "GET");
        if (cacheable) {
            snprintf(target, sizeof target, "%s%s%s", req->path, req->query ? "?" : "",
                     req->query ? req->query : "");
            if (web_cache_get(api->cache, target, clock_mono_ms(), res))
                return;
        }
        route_api(api, req, seg, n, res);
        if (cacheable)
            web_cache_put(api->cache, target, clock_mono_ms(), res);
        else if (api->cache && !method_is(req, "HEAD"))
            web_cache_clear(api->cache); /* a write: nobody reads it stale */
        return;
    }
    if (!method_is(req, "GET") && !method_is(req, "HEAD")) {
        web_reply_error(res, 405, "method not allowed");
        return;
    }
    static_file(api, seg, n, res);
}
