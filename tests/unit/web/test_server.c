/*
 * test_server.c - the real server (web/http_h2o.c over libh2o) on a loopback port picked by
 * the kernel, on a uv loop in a thread, driven over real HTTP by server_client.py (Python's
 * http.client and raw sockets): each read endpoint, static files, token and origin on writes,
 * traversal in raw request lines, body and header limits, slow and idle connections timing
 * out, and SSE delivering published events and resuming from Last-Event-ID. Then the server
 * closes with every handle, and the loop closes clean.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "fixture.h"
#include "store/store.h"
#include "web/web.h"

#define TOKEN "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static struct web_server *server;
static uv_async_t stop;
static int closed;
static int64_t next_run = 100;

/* The daemon's submit, as far as the events go: each accepted run is announced. */
static int
hook_submit(void *ud, const struct web_submit *s, int64_t *run, struct sieve_errbuf *err)
{
    char data[64];
    (void)ud;
    (void)err;
    (void)s;
    *run = next_run++;
    snprintf(data, sizeof data, "{\"run\":%lld,\n\"state\":\"pending\"}", (long long)*run);
    web_publish(server, "run", data);
    return 0;
}

static void
on_closed(void *ud)
{
    (void)ud;
    closed = 1;
    uv_close((uv_handle_t *)&stop, NULL);
}

static void
on_stop(uv_async_t *a)
{
    (void)a;
    web_server_close(server, on_closed, NULL);
}

static void *
loop_main(void *arg)
{
    uv_run(arg, UV_RUN_DEFAULT);
    return NULL;
}

static void
test_server__serves_the_api_over_http(void **state)
{
    (void)state;
    struct fixture fx;
    struct sieve_errbuf err;
    uv_loop_t loop;
    pthread_t th;
    char static_dir[128], cmd[1024];

    fixture_make(&fx);
    snprintf(static_dir, sizeof static_dir, "%s/static", fx.dir);
    assert_int_equal(mkdir(static_dir, 0755), 0);
    snprintf(cmd, sizeof cmd, "echo '<h1>sieve</h1>' > %s/index.html", static_dir);
    assert_int_equal(system(cmd), 0);

    assert_int_equal(uv_loop_init(&loop), 0);
    struct web_opts o = {.loop = &loop, .st = fx.st, .listen = "127.0.0.1:0", .token = TOKEN,
                         .static_dir = static_dir, .timeout_ms = 1000,
                         .hooks = {.submit = hook_submit}};
    /* A non-loopback address needs allow_remote. */
    o.listen = "0.0.0.0:0";
    assert_int_equal(web_server_new(&o, &server, &err), SIEVE_EINVAL);
    assert_non_null(strstr(err.msg, "not loopback"));
    o.listen = "nonsense";
    assert_int_equal(web_server_new(&o, &server, &err), SIEVE_EINVAL);
    o.listen = "127.0.0.1:0";
    if (web_server_new(&o, &server, &err) < 0)
        fail_msg("web_server_new: %s", err.msg);
    assert_true(web_server_port(server) > 0);
    assert_int_equal(uv_async_init(&loop, &stop, on_stop), 0);
    assert_int_equal(pthread_create(&th, NULL, loop_main, &loop), 0);

    snprintf(cmd, sizeof cmd, "python3 %s/tests/unit/web/server_client.py %d %s %lld %s %s",
             SIEVE_SOURCE_DIR, web_server_port(server), TOKEN, (long long)fx.run1,
             fx.frames_key, fx.mask_key);
    int rc = system(cmd);

    uv_async_send(&stop);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_true(closed);
    assert_int_equal(uv_loop_close(&loop), 0);
    fixture_free(&fx);
    assert_int_equal(rc, 0);
}

static void
test_server__token_file_is_private_and_stable(void **state)
{
    (void)state;
    char dir[] = "/tmp/sieve-token-XXXXXX", tok[WEB_TOKEN_LEN], again[WEB_TOKEN_LEN], path[64];
    struct sieve_errbuf err;
    struct stat sb;
    assert_non_null(mkdtemp(dir));
    assert_int_equal(web_token_read(dir, tok, sizeof tok, &err), SIEVE_ENOENT);
    assert_int_equal(web_token_ensure(dir, tok, sizeof tok, &err), 0);
    assert_int_equal(strlen(tok), 64);
    assert_int_equal(strspn(tok, "0123456789abcdef"), 64);
    snprintf(path, sizeof path, "%s/serve.token", dir);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    assert_int_equal(web_token_ensure(dir, again, sizeof again, &err), 0);
    assert_string_equal(tok, again);
    assert_int_equal(web_token_read(dir, again, sizeof again, &err), 0);
    assert_string_equal(tok, again);
    /* A token others can read is refused rather than trusted. */
    assert_int_equal(chmod(path, 0644), 0);
    assert_int_equal(web_token_read(dir, again, sizeof again, &err), SIEVE_EFORMAT);
    assert_int_equal(web_token_read(dir, again, 10, &err), SIEVE_EINVAL);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(rmdir(dir), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_server__serves_the_api_over_http),
        cmocka_unit_test(test_server__token_file_is_private_and_stable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
