/*
 * test_server.c - the real server (web/http_h2o.c over libh2o) on a loopback port picked by
 * the kernel, on a uv loop in a thread, driven over real HTTP by server_client.py (Python's
 * http.client and raw sockets): each read endpoint, static files, token and origin on writes,
 * traversal in raw request lines, body and header limits, slow and idle connections timing
 * out, and SSE delivering published events and resuming from Last-Event-ID. Then the server
 * closes with every handle, and the loop closes clean.
 *
 * The client is a child started with uv_spawn on the server's own loop, and the loop runs on
 * the main thread, as in `sieve serve`: h2o keeps per-thread buffer caches that a loop thread
 * exiting would leave unreachable (LeakSanitizer would call them leaks).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

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
static uv_process_t client;
static int64_t client_status = -1;
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

/* After the client: one idle connection stays open while the server closes, which must
 * still end within its grace, well before the request timeout would close it. */
static uv_tcp_t probe;
static uv_connect_t probe_req;
static uv_timer_t probe_wait;
static uint64_t close_started, close_ms;

static void
on_closed(void *ud)
{
    (void)ud;
    closed = 1;
    close_ms = (uv_hrtime() - close_started) / 1000000;
}

static void
on_probe_alloc(uv_handle_t *h, size_t size, uv_buf_t *buf)
{
    static char space[4096];
    (void)h;
    (void)size;
    *buf = uv_buf_init(space, sizeof space);
}

static void
on_probe_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    (void)buf;
    if (n < 0)
        uv_close((uv_handle_t *)s, NULL);
}

static void
on_probe_waited(uv_timer_t *t)
{
    uv_close((uv_handle_t *)t, NULL);
    close_started = uv_hrtime();
    web_server_close(server, on_closed, NULL);
}

static void
on_probe_connected(uv_connect_t *req, int status)
{
    assert_int_equal(status, 0);
    assert_int_equal(uv_read_start(req->handle, on_probe_alloc, on_probe_read), 0);
    /* Give the server's loop turns to accept it before the listener goes. */
    uv_timer_init(req->handle->loop, &probe_wait);
    uv_timer_start(&probe_wait, on_probe_waited, 200, 0);
}

static void
on_client_exit(uv_process_t *p, int64_t status, int signal)
{
    struct sockaddr_in sa;
    client_status = signal ? 128 + signal : status;
    uv_close((uv_handle_t *)p, NULL);
    uv_ip4_addr("127.0.0.1", web_server_port(server), &sa);
    uv_tcp_init(p->loop, &probe);
    assert_int_equal(uv_tcp_connect(&probe_req, &probe, (struct sockaddr *)&sa, on_probe_connected),
                     0);
}

static void
test_server__serves_the_api_over_http(void **state)
{
    (void)state;
    struct fixture fx;
    struct sieve_errbuf err;
    uv_loop_t loop;
    char static_dir[128], cmd[1024], script[512], port[16], run[32];

    fixture_make(&fx);
    snprintf(static_dir, sizeof static_dir, "%s/static", fx.dir);
    assert_int_equal(mkdir(static_dir, 0755), 0);
    snprintf(cmd, sizeof cmd, "echo '<h1>sieve</h1>' > %s/index.html && mkdir %s/sub", static_dir,
             static_dir);
    assert_int_equal(system(cmd), 0);

    assert_int_equal(uv_loop_init(&loop), 0);
    struct web_opts o = {.loop = &loop,
                         .st = fx.st,
                         .listen = "127.0.0.1:0",
                         .token = TOKEN,
                         .static_dir = static_dir,
                         .timeout_ms = 3000,
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
    snprintf(script, sizeof script, "%s/tests/unit/web/server_client.py", SIEVE_SOURCE_DIR);
    snprintf(port, sizeof port, "%d", web_server_port(server));
    snprintf(run, sizeof run, "%lld", (long long)fx.run1);
    char *args[] = {"python3", script, port, TOKEN, run, fx.frames_key, fx.mask_key, "3", NULL};
    uv_stdio_container_t stdio[3] = {{.flags = UV_IGNORE},
                                     {.flags = UV_INHERIT_FD, .data.fd = 1},
                                     {.flags = UV_INHERIT_FD, .data.fd = 2}};
    uv_process_options_t po = {.exit_cb = on_client_exit,
                               .file = "python3",
                               .args = args,
                               .stdio = stdio,
                               .stdio_count = 3};
    assert_int_equal(uv_spawn(&loop, &client, &po), 0);

    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_true(closed);
    assert_int_equal(uv_loop_close(&loop), 0);
    fixture_free(&fx);
    assert_int_equal(client_status, 0);
    if (close_ms >= 2500)
        fail_msg("closing with an idle connection took %llu ms", (unsigned long long)close_ms);
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
