/*
 * test_api_results.c - the endpoints the web page added (web/api_results.c): a run's graph
 * from its pipeline text, its metric names, its table as the text `sieve table` prints, and
 * a task's output artifact key by the planner's rule. The router is called directly on the
 * web tests' temporary store (fixture.c).
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

#include "base/bundle.h"
#include "base/hash.h"
#include "fixture.h"
#include "http.h"
#include "store/store.h"

static struct fixture fx;
static struct web_api api;

static int
setup(void **state)
{
    (void)state;
    fixture_make(&fx);
    memset(&api, 0, sizeof api);
    api.st = fx.st;
    api.loopback_only = 1;
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    fixture_free(&fx);
    return 0;
}

/* Routes GET target; the response is the caller's to release. */
static void
get(const char *target, struct web_response *res)
{
    struct web_request r = {.method = "GET", .host = "127.0.0.1:8470"};
    char path[512];
    snprintf(path, sizeof path, "%s", target);
    char *q = strchr(path, '?');
    if (q) {
        *q = '\0';
        r.query = q + 1;
    }
    r.path = path;
    web_route(&api, &r, res);
}

static json_t *
get_json(const char *target, int want_status)
{
    struct web_response res;
    get(target, &res);
    assert_int_equal(res.status, want_status);
    json_t *doc = json_loadb(res.body, res.body_len, 0, NULL);
    assert_non_null(doc);
    web_response_release(&res);
    return doc;
}

static void
test_api_results__graph_names_nodes_plugins_and_wiring(void **state)
{
    (void)state;
    static const char text[] = "name: g\n"
                               "nodes:\n"
                               "  media: { plugin: decode }\n"
                               "  vis: { plugin: encode, in: { media: media } }\n"
                               "  score: { plugin: evaluate, in: { full: vis, kept: vis.out } }\n";
    struct sieve_errbuf err;
    int64_t run;
    char target[64];
    assert_int_equal(store_run_create(fx.st, "g", "/p/g.yaml", text, &run, &err), 0);
    snprintf(target, sizeof target, "/api/runs/%lld/graph", (long long)run);
    json_t *doc = get_json(target, 200);
    json_t *nodes = json_object_get(doc, "nodes");
    assert_int_equal(json_array_size(nodes), 3);
    json_t *score = json_array_get(nodes, 2);
    assert_string_equal(json_string_value(json_object_get(score, "node")), "score");
    assert_string_equal(json_string_value(json_object_get(score, "plugin")), "evaluate");
    json_t *in = json_object_get(score, "inputs");
    assert_int_equal(json_array_size(in), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(in, 1), "port")), "kept");
    assert_string_equal(json_string_value(json_object_get(json_array_get(in, 1), "node")), "vis");
    assert_int_equal(json_array_size(json_object_get(json_array_get(nodes, 0), "inputs")), 0);
    json_decref(doc);
    json_decref(get_json("/api/runs/999/graph", 404));
    json_decref(get_json("/api/runs/1/graph?x=1", 400));
}

static void
test_api_results__metrics_lists_names_nodes_and_categories(void **state)
{
    (void)state;
    char target[64];
    snprintf(target, sizeof target, "/api/runs/%lld/metrics", (long long)fx.run1);
    json_t *doc = get_json(target, 200);
    json_t *m = json_object_get(doc, "metrics"), *c = json_object_get(doc, "categories");
    assert_int_equal(json_array_size(m), 1);
    assert_string_equal(json_string_value(json_array_get(m, 0)), "retention");
    assert_string_equal(json_string_value(json_array_get(json_object_get(doc, "nodes"), 0)),
                        "evaluate");
    assert_int_equal(json_array_size(c), 2);
    json_decref(doc);
    /* A run without metric rows: empty lists, not an error (the page asks while it runs). */
    snprintf(target, sizeof target, "/api/runs/%lld/metrics", (long long)fx.run2);
    doc = get_json(target, 200);
    assert_int_equal(json_array_size(json_object_get(doc, "metrics")), 0);
    json_decref(doc);
}

/* The table text equals `sieve table --format F` with the same options, byte for byte. */
static void
check_text(const char *fmt, const char *query, const char *cli_opts, const char *type)
{
    struct web_response res;
    char target[256], cmd[512], out[8192];
    snprintf(target, sizeof target, "/api/runs/%lld/table/%s?%s", (long long)fx.run1, fmt, query);
    get(target, &res);
    assert_int_equal(res.status, 200);
    assert_string_equal(res.content_type, type);
    snprintf(cmd, sizeof cmd, "%s table %lld --store %s --format %s %s", SIEVE_BINARY,
             (long long)fx.run1, fx.dir, fmt, cli_opts);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, sizeof out - 1, p);
    assert_int_equal(pclose(p), 0);
    assert_int_equal(n, res.body_len);
    assert_memory_equal(out, res.body, n);
    web_response_release(&res);
}

static void
test_api_results__table_text_is_what_sieve_table_prints(void **state)
{
    (void)state;
    check_text("csv", "metric=retention", "--metric retention", "text/csv; charset=utf-8");
    check_text("md", "metric=retention&pivot=keep", "--metric retention --pivot keep",
               "text/markdown; charset=utf-8");
    check_text("latex", "pivot=keep&category=Music", "--pivot keep --category Music",
               "text/x-tex; charset=utf-8");
    char target[128];
    snprintf(target, sizeof target, "/api/runs/%lld/table/xml", (long long)fx.run1);
    json_decref(get_json(target, 404));
    snprintf(target, sizeof target, "/api/runs/%lld/table/csv?metric=nope", (long long)fx.run1);
    json_decref(get_json(target, 404));
    snprintf(target, sizeof target, "/api/runs/%lld/table/csv?pivot=nope", (long long)fx.run1);
    json_decref(get_json(target, 400));
    json_decref(get_json("/api/runs/999/table/csv", 404));
}

static void
test_api_results__task_output_key_follows_the_planner(void **state)
{
    (void)state;
    /* The planner's rule: sha256 of the task key and the port as length-prefixed fields. */
    uint8_t task[HASH_LEN], out[HASH_LEN];
    char task_hex[HASH_HEX_LEN], out_hex[HASH_HEX_LEN], target[256];
    struct hash_ctx h;
    struct sieve_errbuf err;
    memset(task, 0xab, sizeof task);
    hash_hex(task, task_hex);
    assert_int_equal(hash_ctx_init(&h), 0);
    assert_int_equal(hash_ctx_field(&h, task, sizeof task), 0);
    assert_int_equal(hash_ctx_field(&h, "out", 3), 0);
    assert_int_equal(hash_ctx_final(&h, out), 0);
    hash_hex(out, out_hex);

    snprintf(target, sizeof target, "/api/tasks/%s/outputs/out", task_hex);
    json_t *doc = get_json(target, 200);
    assert_string_equal(json_string_value(json_object_get(doc, "artifact")), out_hex);
    assert_false(json_is_true(json_object_get(doc, "indexed")));
    json_decref(doc);

    /* Once an object of that key is indexed, the answer says so. */
    char path[STORE_PATH_MAX];
    struct bundle *b = bundle_new();
    assert_int_equal(store_object_path(fx.st, out_hex, path, sizeof path, 1), 0);
    assert_int_equal(bundle_write(b, path, &err), 0);
    bundle_free(b);
    assert_int_equal(
        store_artifact_index(fx.st, &(struct store_artifact){.key = out_hex, .run = fx.run1}, &err),
        0);
    doc = get_json(target, 200);
    assert_true(json_is_true(json_object_get(doc, "indexed")));
    json_decref(doc);

    snprintf(target, sizeof target, "/api/tasks/%s/outputs/a.b", task_hex);
    json_decref(get_json(target, 400));
    json_decref(get_json("/api/tasks/ABC/outputs/out", 400));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
        T(test_api_results__graph_names_nodes_plugins_and_wiring),
        T(test_api_results__metrics_lists_names_nodes_and_categories),
        T(test_api_results__table_text_is_what_sieve_table_prints),
        T(test_api_results__task_output_key_follows_the_planner),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
