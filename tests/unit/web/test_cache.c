/*
 * test_cache.c - the read-answer cache: a fresh answer comes back byte for byte, a stale one
 * is not served, only JSON 200 bodies are kept (not errors, files or event streams), and
 * clearing forgets everything.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cache.h"
#include "http.h"

static struct web_response
answer(int status, enum web_body kind, const char *body)
{
    struct web_response r = {.status = status, .kind = kind, .content_type = "application/json"};
    r.body = strdup(body);
    r.body_len = strlen(body);
    return r;
}

static void
test_cache__fresh_answers_come_back_and_stale_ones_do_not(void **state)
{
    (void)state;
    struct web_cache *c = calloc(1, sizeof *c);
    struct web_response a = answer(200, WEB_BODY_BUF, "{\"items\":[1]}"), got = {0};
    web_cache_put(c, "/api/runs", 1000, &a);
    assert_int_equal(web_cache_get(c, "/api/runs", 1000 + WEB_CACHE_MS, &got), 1);
    assert_int_equal(got.status, 200);
    assert_int_equal(got.body_len, a.body_len);
    assert_memory_equal(got.body, a.body, a.body_len);
    assert_string_equal(got.content_type, "application/json");
    web_response_release(&got);
    memset(&got, 0, sizeof got);
    assert_int_equal(web_cache_get(c, "/api/runs", 1001 + WEB_CACHE_MS, &got), 0);
    assert_int_equal(web_cache_get(c, "/api/runs?limit=5", 1000, &got), 0);
    web_response_release(&a);
    web_cache_clear(c);
    free(c);
}

static void
test_cache__only_successful_buffered_answers_are_kept(void **state)
{
    (void)state;
    struct web_cache *c = calloc(1, sizeof *c);
    struct web_response err = answer(404, WEB_BODY_BUF, "{\"error\":\"no run\"}");
    struct web_response file = answer(200, WEB_BODY_FILE, "");
    struct web_response ev = answer(200, WEB_BODY_EVENTS, "");
    struct web_response got = {0};
    web_cache_put(c, "/a", 0, &err);
    web_cache_put(c, "/b", 0, &file);
    web_cache_put(c, "/c", 0, &ev);
    assert_int_equal(web_cache_get(c, "/a", 0, &got), 0);
    assert_int_equal(web_cache_get(c, "/b", 0, &got), 0);
    assert_int_equal(web_cache_get(c, "/c", 0, &got), 0);
    web_response_release(&err);
    web_response_release(&file);
    web_response_release(&ev);
    web_cache_clear(c);
    free(c);
}

static void
test_cache__clear_forgets_and_slots_are_reused(void **state)
{
    (void)state;
    struct web_cache *c = calloc(1, sizeof *c);
    struct web_response a = answer(200, WEB_BODY_BUF, "{}"), got = {0};
    char target[32];
    /* More targets than slots: the oldest go, the newest stay. */
    for (int i = 0; i < WEB_CACHE_SLOTS + 10; i++) {
        snprintf(target, sizeof target, "/api/runs/%d", i);
        web_cache_put(c, target, i, &a);
    }
    assert_int_equal(web_cache_get(c, "/api/runs/0", 20, &got), 0);
    snprintf(target, sizeof target, "/api/runs/%d", WEB_CACHE_SLOTS + 9);
    assert_int_equal(web_cache_get(c, target, 80, &got), 1);
    web_response_release(&got);
    memset(&got, 0, sizeof got);
    web_cache_clear(c);
    assert_int_equal(web_cache_get(c, target, 80, &got), 0);
    web_response_release(&a);
    free(c);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cache__fresh_answers_come_back_and_stale_ones_do_not),
        cmocka_unit_test(test_cache__only_successful_buffered_answers_are_kept),
        cmocka_unit_test(test_cache__clear_forgets_and_slots_are_reused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
