/*
 * test_route.c - the router (web/route.c and its handlers) against a real temporary store:
 * every read endpoint's JSON, pagination and filters, the table being exactly `sieve table
 * --format json`, writes reaching the hooks only with the token and from the server's own
 * origin, and malformed requests (traversal, bad ids, keys, parameters) answered 4xx with a
 * JSON error. No sockets: the HTTP adapter is test_server's.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"
#include "cache.h"
#include "http.h"
#include "sse_int.h"
#include "store/store.h"

#define TOKEN "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static struct fixture fx;
static struct web_api api;
static int submits, cancels;
static char last_path[256], last_set[64];

static int
hook_submit(void *ud, const struct web_submit *s, int64_t *run, struct sieve_errbuf *err)
{
    (void)ud;
    if (strstr(s->text, "bad"))
        return sieve_errbuf_set(err, SIEVE_ESPEC, "p.yaml:1:1: bad pipeline");
    submits++;
    snprintf(last_path, sizeof last_path, "%s", s->path);
    snprintf(last_set, sizeof last_set, "%s", s->n_sets ? s->sets[0] : "");
    *run = 77;
    return 0;
}

static int
hook_cancel(void *ud, int64_t run, struct sieve_errbuf *err)
{
    (void)ud;
    (void)run;
    (void)err;
    cancels++;
    return 0;
}

static int
setup(void **state)
{
    (void)state;
    fixture_make(&fx);
    memset(&api, 0, sizeof api);
    api.st = fx.st;
    snprintf(api.token, sizeof api.token, "%s", TOKEN);
    snprintf(api.origins[0], sizeof api.origins[0], "http://127.0.0.1:8470");
    api.n_origins = 1;
    api.loopback_only = 1;
    api.hooks.submit = hook_submit;
    api.hooks.cancel = hook_cancel;
    submits = cancels = 0;
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    fixture_free(&fx);
    return 0;
}

/* Routes a request; returns the parsed JSON body (NULL for a non-JSON body). */
static json_t *
call(const char *method, const char *target, const char *body, int *status)
{
    struct web_request r = {.method = method, .host = "127.0.0.1:8470"};
    struct web_response res;
    char path[1024];
    snprintf(path, sizeof path, "%s", target);
    char *q = strchr(path, '?');
    if (q) {
        *q = '\0';
        r.query = q + 1;
    }
    r.path = path;
    if (body) {
        r.body = body;
        r.body_len = strlen(body);
        r.content_type = "application/json";
        r.authorization = "Bearer " TOKEN;
    }
    web_route(&api, &r, &res);
    *status = res.status;
    json_t *doc = NULL;
    if (res.kind == WEB_BODY_BUF && strcmp(res.content_type, "application/json") == 0) {
        doc = json_loadb(res.body, res.body_len, 0, NULL);
        assert_non_null(doc);
    }
    if (res.status >= 400) {
        assert_int_equal(res.kind, WEB_BODY_BUF);
        assert_non_null(doc);
        assert_true(json_is_string(json_object_get(doc, "error")));
    }
    web_response_release(&res);
    return doc;
}

static void
expect_status(const char *method, const char *target, int want)
{
    int status;
    json_t *doc = call(method, target, NULL, &status);
    if (status != want)
        fail_msg("%s %s: %d, expected %d", method, target, status, want);
    json_decref(doc);
}

static void
test_route__runs_newest_first_paged_and_filtered(void **state)
{
    (void)state;
    int status;
    json_t *doc = call("GET", "/api/runs", NULL, &status);
    assert_int_equal(status, 200);
    assert_int_equal(json_integer_value(json_object_get(doc, "total")), 2);
    json_t *items = json_object_get(doc, "items");
    assert_int_equal(json_array_size(items), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(items, 0), "name")),
                        "sweep-b");
    json_decref(doc);

    doc = call("GET", "/api/runs?limit=1&offset=1", NULL, &status);
    items = json_object_get(doc, "items");
    assert_int_equal(json_array_size(items), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(items, 0), "name")),
                        "sweep-a");
    assert_int_equal(json_integer_value(json_object_get(doc, "total")), 2);
    json_decref(doc);

    doc = call("GET", "/api/runs?state=done", NULL, &status);
    assert_int_equal(json_integer_value(json_object_get(doc, "total")), 1);
    json_decref(doc);
    doc = call("GET", "/api/runs?name=eep-a", NULL, &status);
    assert_int_equal(json_integer_value(json_object_get(doc, "total")), 1);
    json_decref(doc);

    expect_status("GET", "/api/runs?state=bogus", 400);
    expect_status("GET", "/api/runs?limit=0", 400);
    expect_status("GET", "/api/runs?limit=1001", 400);
    expect_status("GET", "/api/runs?limit=-1", 400);
    expect_status("GET", "/api/runs?offset=1e3", 400);
    expect_status("GET", "/api/runs?colour=red", 400);
    expect_status("GET", "/api/runs?name=%zz", 400);
    expect_status("GET", "/api/runs?name=a%00b", 400);
}

static void
test_route__run_has_node_counts_devices_and_recent_events(void **state)
{
    (void)state;
    int status;
    char target[64];
    snprintf(target, sizeof target, "/api/runs/%lld", (long long)fx.run1);
    json_t *doc = call("GET", target, NULL, &status);
    assert_int_equal(status, 200);
    json_t *nodes = json_object_get(doc, "nodes");
    assert_int_equal(json_array_size(nodes), 2);
    json_t *dec = json_array_get(nodes, 0);
    assert_string_equal(json_string_value(json_object_get(dec, "node")), "decode");
    json_t *states = json_object_get(dec, "states");
    assert_int_equal(json_integer_value(json_object_get(states, "done")), 1);
    assert_int_equal(json_integer_value(json_object_get(states, "cached")), 1);
    assert_int_equal(json_integer_value(json_object_get(states, "running")), 1);
    json_t *ev = json_object_get(doc, "events");
    assert_int_equal(json_array_size(ev), 50); /* the newest 50 of 60, oldest first */
    assert_true(json_integer_value(json_object_get(json_array_get(ev, 0), "id")) <
                json_integer_value(json_object_get(json_array_get(ev, 49), "id")));
    json_t *dev = json_object_get(doc, "devices");
    assert_string_equal(json_string_value(json_object_get(json_array_get(dev, 0), "name")),
                        "fake:0");
    assert_string_equal(json_string_value(json_object_get(doc, "pipeline_text")),
                        "name: sweep-a\n");
    json_decref(doc);
    expect_status("GET", "/api/runs/999", 404);
    expect_status("GET", "/api/runs/0", 400);
    expect_status("GET", "/api/runs/abc", 400);
    expect_status("GET", "/api/runs/99999999999999999999", 400);
    expect_status("GET", "/api/runs/1/nothing", 404);
}

static void
test_route__tasks_paged_and_filtered(void **state)
{
    (void)state;
    int status;
    char target[128];
    snprintf(target, sizeof target, "/api/runs/%lld/tasks?node=evaluate&limit=2",
             (long long)fx.run1);
    json_t *doc = call("GET", target, NULL, &status);
    assert_int_equal(status, 200);
    assert_int_equal(json_integer_value(json_object_get(doc, "total")), 3);
    json_t *items = json_object_get(doc, "items");
    assert_int_equal(json_array_size(items), 2);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(items, 0), "idx")), 3);
    assert_true(json_is_object(json_object_get(json_array_get(items, 0), "matrix")));
    json_decref(doc);
    snprintf(target, sizeof target, "/api/runs/%lld/tasks?state=failed", (long long)fx.run1);
    doc = call("GET", target, NULL, &status);
    assert_int_equal(json_integer_value(json_object_get(doc, "total")), 1);
    json_decref(doc);
    snprintf(target, sizeof target, "/api/runs/%lld/tasks?state=nope", (long long)fx.run1);
    expect_status("GET", target, 400);
    expect_status("GET", "/api/runs/999/tasks", 404);
}

static void
test_route__task_log_is_the_store_file(void **state)
{
    (void)state;
    struct web_request r = {.method = "GET", .host = "localhost:1"};
    struct web_response res;
    char target[128], want[STORE_PATH_MAX];
    snprintf(target, sizeof target, "/api/runs/%lld/tasks/0/log", (long long)fx.run1);
    r.path = target;
    web_route(&api, &r, &res);
    assert_int_equal(res.status, 200);
    assert_int_equal(res.kind, WEB_BODY_FILE);
    assert_int_equal(store_log_path(fx.st, fx.run1, 0, want, sizeof want, 0), 0);
    assert_string_equal(res.file, want);
    web_response_release(&res);
    snprintf(target, sizeof target, "/api/runs/%lld/tasks/6/log", (long long)fx.run1);
    expect_status("GET", target, 404);
    snprintf(target, sizeof target, "/api/runs/%lld/tasks/x/log", (long long)fx.run1);
    expect_status("GET", target, 400);
}

/* The API's table is byte for byte what `sieve table --format json` prints. */
static void
test_route__table_is_sieve_table_json(void **state)
{
    (void)state;
    struct web_request r = {.method = "GET", .host = "127.0.0.1"};
    struct web_response res;
    char target[128], cmd[512], out[8192];
    snprintf(target, sizeof target, "/api/runs/%lld/table", (long long)fx.run1);
    r.path = target;
    r.query = "metric=retention&pivot=keep";
    web_route(&api, &r, &res);
    assert_int_equal(res.status, 200);
    snprintf(cmd, sizeof cmd,
             "%s table %lld --store %s --format json --metric retention"
             " --pivot keep",
             SIEVE_BINARY, (long long)fx.run1, fx.dir);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, sizeof out - 1, p);
    assert_int_equal(pclose(p), 0);
    out[n] = '\0';
    assert_true(n == res.body_len + 1 && out[n - 1] == '\n');
    assert_memory_equal(out, res.body, res.body_len);
    web_response_release(&res);
    snprintf(target, sizeof target, "/api/runs/%lld/table?metric=nope", (long long)fx.run1);
    expect_status("GET", target, 404);
    snprintf(target, sizeof target, "/api/runs/%lld/table?pivot=nope", (long long)fx.run1);
    expect_status("GET", target, 400);
}

static void
test_route__artifact_tensors_file_and_overlay(void **state)
{
    (void)state;
    int status;
    char target[256];
    snprintf(target, sizeof target, "/api/artifacts/%s", fx.frames_key);
    json_t *doc = call("GET", target, NULL, &status);
    assert_int_equal(status, 200);
    json_t *t0 = json_array_get(json_object_get(doc, "tensors"), 0);
    assert_string_equal(json_string_value(json_object_get(t0, "name")), "frames");
    assert_string_equal(json_string_value(json_object_get(t0, "dtype")), "U8");
    assert_int_equal(json_integer_value(json_array_get(json_object_get(t0, "shape"), 1)), 56);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(doc, "metadata"), "width")), "84");
    json_decref(doc);

    struct web_request r = {.method = "GET", .host = "127.0.0.1"};
    struct web_response res;
    char want[STORE_PATH_MAX];
    snprintf(target, sizeof target, "/api/artifacts/%s/file", fx.frames_key);
    r.path = target;
    web_route(&api, &r, &res);
    assert_int_equal(res.kind, WEB_BODY_FILE);
    assert_int_equal(store_object_path(fx.st, fx.frames_key, want, sizeof want, 0), 0);
    assert_string_equal(res.file, want);
    web_response_release(&res);

    /* Frame 3 is in group 1 (two frames a group); its pixels are all 3. */
    snprintf(target, sizeof target, "/api/artifacts/%s/overlay?frame=3&mask=%s", fx.frames_key,
             fx.mask_key);
    doc = call("GET", target, NULL, &status);
    assert_int_equal(status, 200);
    assert_int_equal(json_integer_value(json_object_get(doc, "width")), 84);
    assert_int_equal(json_integer_value(json_object_get(doc, "height")), 56);
    const char *px = json_string_value(json_object_get(doc, "pixels"));
    assert_int_equal(strlen(px), 56 * 84 * 3 / 3 * 4);
    assert_memory_equal(px, "AwMD", 4); /* base64 of 03 03 03 */
    json_t *m = json_object_get(doc, "mask");
    assert_int_equal(json_integer_value(json_object_get(m, "group")), 1);
    assert_string_equal(json_string_value(json_object_get(m, "bits")), "111110");
    assert_int_equal(json_integer_value(json_object_get(m, "kept")), 5);
    json_decref(doc);

    snprintf(target, sizeof target, "/api/artifacts/%s/overlay?frame=1", fx.mask_key);
    doc = call("GET", target, NULL, &status);
    assert_int_equal(status, 200);
    assert_null(json_object_get(doc, "pixels"));
    assert_string_equal(json_string_value(json_object_get(json_object_get(doc, "mask"), "bits")),
                        "111110");
    json_decref(doc);

    snprintf(target, sizeof target, "/api/artifacts/%s/overlay?frame=4", fx.frames_key);
    expect_status("GET", target, 400);
    snprintf(target, sizeof target, "/api/artifacts/%s/overlay?mask=%s", fx.mask_key,
             fx.frames_key);
    expect_status("GET", target, 422);
    snprintf(target, sizeof target, "/api/artifacts/%s/overlay?mask=../x", fx.frames_key);
    expect_status("GET", target, 400);
    snprintf(target, sizeof target, "/api/artifacts/%064x", 0xdead);
    expect_status("GET", target, 404);
}

static void
test_route__traversal_and_malformed_paths_are_refused(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "/api/artifacts/../../etc/passwd",
        "/api/artifacts/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "/api/artifacts/..%2f..%2fetc%2fpasswd",
        "/api/artifacts/%2E%2E/file",
        "/api/artifacts/ABCDEF0000000000000000000000000000000000000000000000000000000000",
        "/api/artifacts/abc/file",
        "/api/artifacts/..\\..\\etc\\passwd",
        "/api//runs",
        "/api/runs/1/./tasks",
        "/../etc/passwd",
        "/%2e%2e/etc/passwd",
        "relative",
        "",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int status;
        json_t *doc = call("GET", bad[i], NULL, &status);
        if (status < 400 || status >= 500)
            fail_msg("'%s': %d", bad[i], status);
        json_decref(doc);
    }
    expect_status("DELETE", "/api/runs", 405);
    expect_status("GET", "/api/nothing", 404);
    expect_status("GET", "/index.html", 404); /* no static directory */
}

static void
test_route__writes_need_token_and_own_origin(void **state)
{
    (void)state;
    static const char body[] = "{\"path\":\"/p/x.yaml\",\"text\":\"name: x\\n\","
                               "\"sets\":[\"keep=0.5\"],\"priority\":3}";
    struct web_request r = {.method = "POST",
                            .path = "/api/runs",
                            .host = "127.0.0.1:8470",
                            .content_type = "application/json",
                            .body = body,
                            .body_len = sizeof body - 1};
    struct web_response res;

    web_route(&api, &r, &res); /* no token */
    assert_int_equal(res.status, 401);
    web_response_release(&res);
    r.authorization = "Bearer " TOKEN "0";
    web_route(&api, &r, &res);
    assert_int_equal(res.status, 401);
    web_response_release(&res);
    r.authorization = "Bearer 0123456789abcdef";
    web_route(&api, &r, &res);
    assert_int_equal(res.status, 401);
    web_response_release(&res);
    r.authorization = "Basic " TOKEN;
    web_route(&api, &r, &res);
    assert_int_equal(res.status, 401);
    web_response_release(&res);

    r.authorization = "Bearer " TOKEN;
    r.origin = "http://evil.example";
    web_route(&api, &r, &res);
    assert_int_equal(res.status, 403);
    web_response_release(&res);
    r.origin = "null";
    web_route(&api, &r, &res);
    assert_int_equal(res.status, 403);
    web_response_release(&res);
    assert_int_equal(submits, 0);

    r.origin = "http://127.0.0.1:8470";
    web_route(&api, &r, &res);
    assert_int_equal(res.status, 201);
    assert_non_null(strstr(res.body, "\"run\":77"));
    web_response_release(&res);
    assert_int_equal(submits, 1);
    assert_string_equal(last_path, "/p/x.yaml");
    assert_string_equal(last_set, "keep=0.5");

    /* A page on another name that resolves here (DNS rebinding) is refused outright. */
    r.host = "evil.example:8470";
    r.origin = "http://evil.example:8470";
    web_route(&api, &r, &res);
    assert_int_equal(res.status, 403);
    web_response_release(&res);
    assert_int_equal(submits, 1);

    char target[64];
    snprintf(target, sizeof target, "/api/runs/%lld/cancel", (long long)fx.run1);
    r = (struct web_request){.method = "POST",
                             .path = target,
                             .host = "127.0.0.1:8470",
                             .authorization = "Bearer " TOKEN};
    web_route(&api, &r, &res);
    assert_int_equal(res.status, 202);
    web_response_release(&res);
    assert_int_equal(cancels, 1);
    snprintf(target, sizeof target, "/api/runs/%lld/resume", (long long)fx.run1);
    web_route(&api, &r, &res);
    assert_int_equal(res.status, 503); /* no resume hook */
    web_response_release(&res);
    r.path = "/api/runs/999/cancel";
    web_route(&api, &r, &res);
    assert_int_equal(res.status, 404);
    web_response_release(&res);
    assert_int_equal(cancels, 1);
}

static void
test_route__malformed_submissions_are_400(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "not json",
        "[]",
        "{\"text\":\"x\"}",
        "{\"path\":\"rel.yaml\",\"text\":\"x\"}",
        "{\"path\":\"/a.yaml\"}",
        "{\"path\":\"/a.yaml\",\"text\":\"x\",\"sets\":\"keep=1\"}",
        "{\"path\":\"/a.yaml\",\"text\":\"x\",\"sets\":[\"novalue\"]}",
        "{\"path\":\"/a.yaml\",\"text\":\"x\",\"sets\":[1]}",
        "{\"path\":\"/a.yaml\",\"text\":\"x\",\"priority\":\"high\"}",
        "{\"path\":\"/a.yaml\",\"text\":\"x\",\"priority\":1e9}",
        "{\"path\":\"/a.yaml\",\"path\":\"/b.yaml\",\"text\":\"x\"}",
        "{\"path\":\"/a\\u0000b.yaml\",\"text\":\"x\"}",
        "{\"path\":\"/a.yaml\",\"text\":\"bad\"}", /* the hook's spec error */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int status;
        json_t *doc = call("POST", "/api/runs", bad[i], &status);
        if (status != 400)
            fail_msg("'%s': %d", bad[i], status);
        json_decref(doc);
    }
    assert_int_equal(submits, 0);
    struct web_request r = {.method = "POST",
                            .path = "/api/runs",
                            .host = "127.0.0.1",
                            .authorization = "Bearer " TOKEN,
                            .content_type = "text/plain",
                            .body = "{}",
                            .body_len = 2};
    struct web_response res;
    web_route(&api, &r, &res);
    assert_int_equal(res.status, 415);
    web_response_release(&res);
}

static void
test_route__events_take_last_event_id(void **state)
{
    (void)state;
    struct web_request r = {.method = "GET", .path = "/api/events", .host = "127.0.0.1"};
    struct web_response res;
    web_route(&api, &r, &res);
    assert_int_equal(res.kind, WEB_BODY_EVENTS);
    assert_int_equal(res.events_after, -1);
    web_response_release(&res);
    r.last_event_id = "41";
    web_route(&api, &r, &res);
    assert_int_equal(res.events_after, 41);
    web_response_release(&res);
    r.last_event_id = "-3";
    web_route(&api, &r, &res);
    assert_int_equal(res.status, 400);
    web_response_release(&res);
}

static void
test_route__event_ring_resumes_and_reports_gaps(void **state)
{
    (void)state;
    struct sse_ring ring;
    struct sbuf b = {0};
    char *s;
    assert_int_equal(sse_ring_init(&ring, 3), 0);
    for (int i = 0; i < 5; i++)
        assert_non_null(sse_ring_push(&ring, "progress", i == 4 ? "{\"a\":1}\n{\"b\":2}" : "{}"));
    sse_ring_since(&ring, 3, &b); /* id 4 and 5 kept */
    s = sbuf_take(&b);
    assert_string_equal(s, "id: 4\nevent: progress\ndata: {}\n\n"
                           "id: 5\nevent: progress\ndata: {\"a\":1}\ndata: {\"b\":2}\n\n");
    free(s);
    sse_ring_since(&ring, 1, &b); /* id 2 fell out */
    s = sbuf_take(&b);
    assert_non_null(strstr(s, "event: gap\ndata: 3\n\n"));
    assert_non_null(strstr(s, "id: 3\n"));
    free(s);
    sse_ring_since(&ring, 99, &b); /* from before a restart */
    s = sbuf_take(&b);
    assert_non_null(strstr(s, "event: gap\n"));
    assert_non_null(strstr(s, "id: 5\n"));
    free(s);
    assert_non_null(sse_ring_push(&ring, "bad\nname", "{}"));
    sse_ring_since(&ring, 5, &b);
    s = sbuf_take(&b);
    assert_string_equal(s, "id: 6\nevent: message\ndata: {}\n\n");
    free(s);
    sse_ring_release(&ring);
}

/* With the cache on, a repeated read within WEB_CACHE_MS is the answer kept, and a write
 * empties it: the next read sees the store as it is. */
static void
test_route__reads_are_cached_briefly_and_writes_empty_the_cache(void **state)
{
    (void)state;
    struct web_cache cache;
    struct sieve_errbuf err;
    int status;
    int64_t id;
    memset(&cache, 0, sizeof cache);
    api.cache = &cache;
    json_t *doc = call("GET", "/api/runs", NULL, &status);
    json_int_t before = json_integer_value(json_object_get(doc, "total"));
    json_decref(doc);
    assert_int_equal(store_run_create(fx.st, "late", "/p.yaml", "name: late\n", &id, &err), 0);
    doc = call("GET", "/api/runs", NULL, &status);
    assert_int_equal(json_integer_value(json_object_get(doc, "total")), before);
    json_decref(doc);
    doc = call("POST", "/api/runs/1/cancel", "{}", &status);
    json_decref(doc);
    assert_int_equal(cancels, 1);
    doc = call("GET", "/api/runs", NULL, &status);
    assert_int_equal(json_integer_value(json_object_get(doc, "total")), before + 1);
    json_decref(doc);
    assert_true(cache.hits >= 1);
    web_cache_clear(&cache);
    api.cache = NULL;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
        T(test_route__reads_are_cached_briefly_and_writes_empty_the_cache),
        T(test_route__runs_newest_first_paged_and_filtered),
        T(test_route__run_has_node_counts_devices_and_recent_events),
        T(test_route__tasks_paged_and_filtered),
        T(test_route__task_log_is_the_store_file),
        T(test_route__table_is_sieve_table_json),
        T(test_route__artifact_tensors_file_and_overlay),
        T(test_route__traversal_and_malformed_paths_are_refused),
        T(test_route__writes_need_token_and_own_origin),
        T(test_route__malformed_submissions_are_400),
        T(test_route__events_take_last_event_id),
        cmocka_unit_test(test_route__event_ring_resumes_and_reports_gaps),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
