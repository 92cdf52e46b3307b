/*
 * test_serve.c - `sieve serve` and `sieve submit` against a real daemon on loopback: two
 * sweeps that share tasks compute them once; cancel and resume over the HTTP API; a daemon
 * killed with SIGKILL ten times and restarted finishes its run without running a finished
 * task again; `sieve run` on a served store submits to the daemon, and a second scheduler on
 * a store is refused.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <cmocka.h>

#include "sched_util.h"

static pid_t serve_pid;

static int
teardown(void **state)
{
    if (serve_pid > 0) {
        kill(serve_pid, SIGKILL);
        waitpid(serve_pid, NULL, 0);
        serve_pid = 0;
    }
    return ws_teardown(state);
}

/* Starts `sieve serve` on a free loopback port and waits until it listens; returns the port. */
static int
serve_start(struct ws *w, const char *devices)
{
    char json[400];
    snprintf(json, sizeof json, "%s/scheduler.json", w->store);
    unlink(json);
    const char *args[] = {"serve", "--listen", "127.0.0.1:0", "--devices",
                          devices, "--grace",  "1s",          NULL};
    serve_pid = ws_spawn(w, args);
    ws_live_pid = 0; /* the daemon is this test's to kill (teardown) */
    for (int i = 0; i < 500; i++) {
        char *text = ws_read(json);
        char *url = strstr(text, "http://127.0.0.1:");
        int port = url ? atoi(url + strlen("http://127.0.0.1:")) : 0;
        free(text);
        if (port > 0)
            return port;
        usleep(20000);
    }
    fail_msg("sieve serve did not start: %s", ws_read(w->out));
    return -1;
}

static void
serve_kill(void)
{
    assert_int_equal(kill(serve_pid, SIGKILL), 0);
    waitpid(serve_pid, NULL, 0);
    serve_pid = 0;
}

/* One HTTP/1.1 request with Connection: close; returns the status and the body in resp. */
static int
http(int port, const char *method, const char *path, const char *token, const char *body,
     char *resp, size_t cap)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        close(fd);
        return -1;
    }
    char req[2048];
    int n = snprintf(req, sizeof req,
                     "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n"
                     "%s%s%sContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                     method, path, port, token ? "Authorization: Bearer " : "", token ? token : "",
                     token ? "\r\n" : "", body ? strlen(body) : 0, body ? body : "");
    if (write(fd, req, (size_t)n) != n) {
        close(fd);
        return -1;
    }
    size_t len = 0;
    ssize_t r;
    while (len + 1 < cap && (r = read(fd, resp + len, cap - 1 - len)) > 0)
        len += (size_t)r;
    resp[len] = '\0';
    close(fd);
    int status = -1;
    sscanf(resp, "HTTP/1.%*d %d", &status);
    char *b = strstr(resp, "\r\n\r\n");
    if (b)
        memmove(resp, b + 4, strlen(b + 4) + 1);
    return status;
}

/* Reads GET /api/events until `want` appears (1) or `seconds` pass (0). */
static int
sse_sees(int port, const char *want, double seconds)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {0, 100000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        close(fd);
        return 0;
    }
    const char *req = "GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    if (write(fd, req, strlen(req)) < 0) {
        close(fd);
        return 0;
    }
    static char buf[65536];
    size_t len = 0;
    int seen = 0;
    for (double t = 0; t < seconds && !seen && len + 1 < sizeof buf; t += 0.1) {
        ssize_t r = read(fd, buf + len, sizeof buf - 1 - len);
        if (r > 0)
            len += (size_t)r;
        buf[len] = '\0';
        seen = strstr(buf, want) != NULL;
    }
    close(fd);
    return seen;
}

static void
token(const struct ws *w, char *tok, size_t len)
{
    char path[400];
    snprintf(path, sizeof path, "%s/serve.token", w->store);
    char *t = ws_read(path);
    snprintf(tok, len, "%.*s", (int)strcspn(t, "\r\n"), t);
    free(t);
}

/* Waits until run `run` reads `state` in `sieve status RUN --json`; returns 1 when it does. */
static int
wait_state(struct ws *w, int run, const char *state, double seconds)
{
    char cmd[1200], path[400], want[64];
    ws_path(w, "st.json", path, sizeof path);
    snprintf(want, sizeof want, "\"state\": \"%s\"", state);
    snprintf(cmd, sizeof cmd, "'%s' status %d --json --store '%s' > '%s' 2>&1", SIEVE_BINARY, run,
             w->store, path);
    for (double t = 0; t < seconds; t += 0.1) {
        if (system(cmd) == 0) {
            char *text = ws_read(path);
            int ok = strstr(text, want) != NULL;
            free(text);
            if (ok)
                return 1;
        }
        usleep(100000);
    }
    return 0;
}

static const char *shared_dag =
    "name: shared\n"
    "dataset: { manifest: clips.jsonl }\n"
    "matrix: { k: [1, 2] }\n"
    "nodes:\n"
    "  src: { plugin: sched-source, with: { log: \"%1$s\" } }\n"
    "  a: { plugin: sched-count, in: { in: src }, with: { ms: 300, add: 1, log: \"%1$s\" } }\n"
    "  b: { plugin: sched-count, in: { in: a }, with: { ms: 50, add: \"${k}\", log: \"%1$s\" } }\n";

static void
test_serve__two_sweeps_share_their_common_tasks(void **state)
{
    (void)state;
    struct ws w;
    ws_init(&w, 6);
    ws_pipeline(&w, shared_dag);
    serve_start(&w, "cpu:2");
    const char *one[] = {"submit", "p.yaml", "--set", "k=[1]", "--wait", NULL};
    const char *two[] = {"submit", "p.yaml", "--set", "k=[2]", "--wait", NULL};
    pid_t p1 = ws_spawn(&w, one);
    pid_t p2 = ws_spawn(&w, two);
    assert_int_equal(ws_wait(p1, 60), 0);
    assert_int_equal(ws_wait(p2, 60), 0);
    /* src and a are the same tasks in both sweeps: each ran once per sample. */
    assert_int_equal(ws_exec_count(&w, "src/"), 6);
    assert_int_equal(ws_exec_count(&w, "a/"), 6);
    assert_int_equal(ws_exec_count(&w, "b/"), 12); /* one per sample and sweep */
    static const double adds[] = {0, 1, 2, 3};
    assert_int_equal(ws_check_objects(&w, adds, 4), 24);
    assert_true(wait_state(&w, 1, "done", 5));
    assert_true(wait_state(&w, 2, "done", 5));
    /* The second sweep was submitted while the first computed a: it waited for it. */
    char cmd[1200], path[400];
    ws_path(&w, "logs.txt", path, sizeof path);
    snprintf(cmd, sizeof cmd, "'%s' logs 1 --store '%s' > '%s'; '%s' logs 2 --store '%s' >> '%s'",
             SIEVE_BINARY, w.store, path, SIEVE_BINARY, w.store, path);
    assert_int_equal(system(cmd), 0);
    char *logs = ws_read(path);
    assert_non_null(strstr(logs, "computed once for run"));
    free(logs);
    serve_kill();
    ws_release(&w);
}

static void
test_serve__cancel_and_resume_over_the_api(void **state)
{
    (void)state;
    struct ws w;
    char tok[128], resp[8192];
    ws_init(&w, 6);
    ws_pipeline(&w, "name: slow\n"
                    "dataset: { manifest: clips.jsonl }\n"
                    "nodes:\n"
                    "  src: { plugin: sched-source, with: { log: \"%1$s\" } }\n"
                    "  a: { plugin: sched-count, in: { in: src },"
                    " with: { ms: 400, add: 1, log: \"%1$s\" } }\n");
    int port = serve_start(&w, "cpu:1");
    token(&w, tok, sizeof tok);
    const char *sub[] = {"submit", "p.yaml", NULL};
    assert_int_equal(ws_sieve(&w, 30, sub), 0);
    /* The event stream carries the run's progress as tasks finish. */
    assert_true(sse_sees(port, "event: progress", 20));
    for (int i = 0; i < 500 && ws_exec_count(&w, "a/") < 1; i++)
        usleep(10000);
    /* Writes need the token; a wrong one changes nothing. */
    assert_int_equal(http(port, "POST", "/api/runs/1/cancel", "wrong", "{}", resp, sizeof resp),
                     401);
    assert_int_equal(http(port, "POST", "/api/runs/1/cancel", tok, "{}", resp, sizeof resp), 202);
    assert_true(wait_state(&w, 1, "cancelled", 10));
    int ran = ws_exec_count(&w, "a/");
    assert_true(ran < 6);
    assert_int_equal(http(port, "POST", "/api/runs/1/resume", tok, "{}", resp, sizeof resp), 202);
    assert_true(wait_state(&w, 1, "done", 30));
    assert_int_equal(ws_exec_count(&w, "a/"), 6);
    assert_int_equal(ws_exec_max_repeat(&w), 1);
    /* A finished run cannot be resumed again; an unknown one is not found. */
    assert_int_equal(http(port, "POST", "/api/runs/1/resume", tok, "{}", resp, sizeof resp), 400);
    assert_int_equal(http(port, "POST", "/api/runs/9/cancel", tok, "{}", resp, sizeof resp), 404);
    serve_kill();
    ws_release(&w);
}

static void
test_serve__killed_ten_times_finishes_without_rerunning(void **state)
{
    (void)state;
    struct ws w;
    ws_init(&w, 6);
    ws_pipeline(&w, "name: kill\n"
                    "dataset: { manifest: clips.jsonl }\n"
                    "matrix: { k: [2, 3] }\n"
                    "nodes:\n"
                    "  src: { plugin: sched-source, with: { log: \"%1$s\" } }\n"
                    "  a: { plugin: sched-count, in: { in: src },"
                    " with: { ms: 150, add: 1, log: \"%1$s\" } }\n"
                    "  b: { plugin: sched-count, in: { in: a },"
                    " with: { ms: 150, add: \"${k}\", log: \"%1$s\" } }\n");
    serve_start(&w, "cpu:2");
    /* Two sweeps that share src and a. */
    const char *one[] = {"submit", "p.yaml", "--set", "k=[2]", NULL};
    const char *two[] = {"submit", "p.yaml", "--set", "k=[3]", NULL};
    assert_int_equal(ws_sieve(&w, 30, one), 0);
    assert_int_equal(ws_sieve(&w, 30, two), 0);
    unsigned seed = (unsigned)getpid();
    for (int k = 0; k < 10; k++) {
        usleep(150000 + (useconds_t)(rand_r(&seed) % 300) * 1000);
        serve_kill();
        usleep(50000); /* its workers die with it */
        serve_start(&w, "cpu:2");
    }
    assert_true(wait_state(&w, 1, "done", 60));
    assert_true(wait_state(&w, 2, "done", 60));
    /* Every line of the log is one finished execution: 6 src, 6 a, 6 b per sweep, and not
     * one more, so no finished task ran again. */
    assert_int_equal(ws_exec_count(&w, "src/"), 6);
    assert_int_equal(ws_exec_count(&w, "a/"), 6);
    assert_int_equal(ws_exec_count(&w, "b/"), 12);
    static const double adds[] = {0, 1, 3, 4};
    assert_int_equal(ws_check_objects(&w, adds, 4), 24);
    serve_kill();
    const char *verify[] = {"cache", "verify", NULL};
    assert_int_equal(ws_sieve(&w, 30, verify), 0);
    ws_release(&w);
}

/* SIGTERM drains: the daemon stops within the grace period, the task it had to stop stays
 * recorded as running, and the next start finishes the run without running a task twice. */
static void
test_serve__sigterm_drains_and_the_next_start_resumes(void **state)
{
    (void)state;
    struct ws w;
    ws_init(&w, 3);
    ws_pipeline(&w, "name: drain\n"
                    "dataset: { manifest: clips.jsonl }\n"
                    "nodes:\n"
                    "  src: { plugin: sched-source, with: { log: \"%1$s\" } }\n"
                    "  a: { plugin: sched-count, in: { in: src },"
                    " with: { ms: 4000, add: 1, log: \"%1$s\" } }\n");
    serve_start(&w, "cpu:1");
    const char *sub[] = {"submit", "p.yaml", NULL};
    assert_int_equal(ws_sieve(&w, 30, sub), 0);
    /* Samples go one after the other: once the second src ran, the second a runs. */
    for (int i = 0; i < 1000 && ws_exec_count(&w, "src/") < 2; i++)
        usleep(10000);
    usleep(300000);
    int before = ws_exec_count(&w, "a/");
    pid_t pid = serve_pid;
    serve_pid = 0;
    assert_int_equal(kill(pid, SIGTERM), 0);
    assert_int_equal(ws_wait(pid, 10), 0); /* grace 1s, well before the task's 4 s */
    assert_int_equal(ws_exec_count(&w, "a/"), before);
    assert_true(wait_state(&w, 1, "running", 2));
    serve_start(&w, "cpu:1");
    assert_true(wait_state(&w, 1, "done", 60));
    assert_int_equal(ws_exec_count(&w, "a/"), 3);
    assert_int_equal(ws_exec_max_repeat(&w), 1);
    serve_kill();
    ws_release(&w);
}

static void
test_serve__run_submits_to_the_daemon_and_a_second_scheduler_is_refused(void **state)
{
    (void)state;
    struct ws w;
    ws_init(&w, 2);
    ws_pipeline(&w, "name: fwd\n"
                    "dataset: { manifest: clips.jsonl }\n"
                    "nodes:\n"
                    "  src: { plugin: sched-source, with: { log: \"%1$s\" } }\n"
                    "  a: { plugin: sched-count, in: { in: src },"
                    " with: { ms: 600, add: 1, log: \"%1$s\", metric: true } }\n");
    /* No daemon: submit says so and how to start one. */
    const char *sub[] = {"submit", "p.yaml", NULL};
    assert_int_equal(ws_sieve(&w, 30, sub), 1);
    char *out = ws_read(w.out);
    assert_non_null(strstr(out, "no 'sieve serve' is serving store"));
    free(out);
    unlink(w.out);

    /* A plain run holds the store: a second one is refused, and nothing of the first is lost. */
    const char *run[] = {"run", "--devices", "cpu:1", "p.yaml", NULL};
    pid_t first = ws_spawn(&w, run);
    for (int i = 0; i < 500 && ws_exec_count(&w, "src/") < 1; i++)
        usleep(10000);
    const char *again[] = {"run", "--devices", "cpu:1", "p.yaml", NULL};
    assert_int_equal(ws_sieve(&w, 30, again), 1);
    out = ws_read(w.out);
    assert_non_null(strstr(out, "is in use by another scheduler"));
    free(out);
    assert_int_equal(ws_wait(first, 30), 0);
    unlink(w.out);

    /* With a daemon, `sieve run` hands the run to it and follows it. */
    serve_start(&w, "cpu:1");
    const char *rerun[] = {"run", "p.yaml", NULL};
    assert_int_equal(ws_sieve(&w, 30, rerun), 0);
    out = ws_read(w.out);
    assert_non_null(strstr(out, "submitting"));
    assert_non_null(strstr(out, "(run 2, done)"));
    free(out);
    /* The table of the run the daemon did is the table of the one `sieve run` did, read while
     * the daemon serves the store. */
    char *plain = ws_table_csv(&w, "1"), *served = ws_table_csv(&w, "2");
    assert_true(strlen(plain) > 0);
    assert_string_equal(plain, served);
    free(plain);
    free(served);
    serve_kill();
    ws_release(&w);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_serve__two_sweeps_share_their_common_tasks, teardown),
        cmocka_unit_test_teardown(test_serve__cancel_and_resume_over_the_api, teardown),
        cmocka_unit_test_teardown(test_serve__killed_ten_times_finishes_without_rerunning,
                                  teardown),
        cmocka_unit_test_teardown(test_serve__sigterm_drains_and_the_next_start_resumes, teardown),
        cmocka_unit_test_teardown(
            test_serve__run_submits_to_the_daemon_and_a_second_scheduler_is_refused, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
