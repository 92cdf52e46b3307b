/*
 * test_run_lease.c - a run knows whether its scheduler lives: a killed scheduler's run shows
 * as interrupted (status, ls) and `sieve cancel` ends it; `sieve resume` of a run whose
 * scheduler is alive is refused; a lost terminal (SIGHUP) stops a run as SIGTERM does, with
 * its final state written; the verbs that read a store never create one; the scratch
 * directories of a killed scheduler's workers are removed by the next scheduler.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "sched_util.h"

static const char *slow = "name: t\n"
                          "dataset: { manifest: clips.jsonl }\n"
                          "nodes:\n"
                          "  src: { plugin: sched-source, with: { log: \"%1$s\" } }\n"
                          "  a: { plugin: sched-count, in: { in: src }, with: { ms: 400, add: 1,"
                          " log: \"%1$s\" } }\n";

/* Starts the slow pipeline in the background and waits until some task has run. */
static pid_t
start_slow(struct ws *w)
{
    const char *args[] = {"run", "--devices", "cpu:2", "p.yaml", NULL};
    ws_pipeline(w, slow);
    pid_t pid = ws_spawn(w, args);
    for (int i = 0; i < 1500 && ws_exec_count(w, "a/") < 1; i++)
        usleep(10000);
    assert_true(ws_exec_count(w, "a/") >= 1);
    return pid;
}

/* Output of `sieve ARGS` (stdout and stderr) in a string; *code gets the exit status. */
static char *
sieve_out(struct ws *w, const char *args, int *code)
{
    char cmd[1200], path[400];
    ws_path(w, "cmd.txt", path, sizeof path);
    snprintf(cmd, sizeof cmd, "cd '%s' && '%s' %s > '%s' 2>&1", w->dir, SIEVE_BINARY, args, path);
    int st = system(cmd);
    *code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return ws_read(path);
}

/* Scratch directories of workers (`sieve-worker-*`) in the workspace, which is their TMPDIR. */
static int
scratch_dirs(const struct ws *w)
{
    DIR *d = opendir(w->dir);
    struct dirent *e;
    int n = 0;
    while (d && (e = readdir(d)))
        n += !strncmp(e->d_name, "sieve-worker-", 13);
    if (d)
        closedir(d);
    return n;
}

static void
test_run_lease__killed_scheduler_shows_interrupted_and_cancels(void **state)
{
    (void)state;
    struct ws w;
    int code;
    ws_init(&w, 12);
    pid_t pid = start_slow(&w);
    char *out = sieve_out(&w, "status", &code);
    assert_int_equal(code, 0);
    assert_non_null(strstr(out, "running"));
    assert_null(strstr(out, "interrupted"));
    free(out);
    assert_int_equal(kill(pid, SIGKILL), 0);
    assert_int_equal(ws_wait(pid, 5), 128 + SIGKILL);
    out = sieve_out(&w, "status", &code);
    assert_non_null(strstr(out, "interrupted \xe2\x80\x94 resume with 'sieve resume 1'"));
    free(out);
    out = sieve_out(&w, "ls", &code);
    assert_non_null(strstr(out, "interrupted"));
    assert_non_null(strstr(out, "resume with 'sieve resume 1'"));
    free(out);
    /* the killed scheduler's workers died with it and left their scratch directories */
    assert_true(scratch_dirs(&w) > 0);
    out = sieve_out(&w, "cancel 1", &code);
    assert_int_equal(code, 0);
    assert_non_null(strstr(out, "marked cancelled"));
    free(out);
    out = sieve_out(&w, "status --json", &code);
    assert_non_null(strstr(out, "\"state\": \"cancelled\""));
    assert_null(strstr(out, "\"state\": \"running\"")); /* no phantom running task either */
    free(out);
    /* cancelled, its artifacts are no longer pinned; resume still finishes it */
    const char *resume[] = {"resume", "--devices", "cpu:2", "1", NULL};
    assert_int_equal(ws_sieve(&w, 60, resume), 0);
    out = sieve_out(&w, "status --json", &code);
    assert_non_null(strstr(out, "\"state\": \"done\""));
    free(out);
    /* the next scheduler removed the dead one's scratch directories, and its own */
    assert_int_equal(scratch_dirs(&w), 0);
    ws_release(&w);
}

static void
test_run_lease__resume_of_a_live_run_is_refused(void **state)
{
    (void)state;
    struct ws w;
    int code;
    ws_init(&w, 12);
    pid_t pid = start_slow(&w);
    char *out = sieve_out(&w, "resume --devices cpu:2 1", &code);
    assert_int_equal(code, 1);
    assert_non_null(strstr(out, "run 1 is still running"));
    assert_non_null(strstr(out, "sieve cancel 1"));
    free(out);
    /* a live run is asked to cancel, and stops as on Ctrl-C */
    out = sieve_out(&w, "cancel 1", &code);
    assert_non_null(strstr(out, "asked run 1 to cancel"));
    free(out);
    assert_int_equal(ws_wait(pid, 30), 130);
    assert_int_equal(ws_exec_max_repeat(&w), 1);
    ws_release(&w);
}

static void
test_run_lease__sighup_stops_the_run_like_sigterm(void **state)
{
    (void)state;
    struct ws w;
    int code;
    ws_init(&w, 12);
    pid_t pid = start_slow(&w);
    assert_int_equal(kill(pid, SIGHUP), 0);
    assert_int_equal(ws_wait(pid, 30), 130);
    char *out = sieve_out(&w, "status --json", &code);
    assert_non_null(strstr(out, "\"state\": \"cancelled\""));
    free(out);
    assert_true(ws_out_has(&w, "resume with 'sieve resume 1'"));
    ws_release(&w);
}

static void
test_run_lease__readers_never_create_a_store(void **state)
{
    (void)state;
    struct ws w;
    int code;
    char missing[400];
    ws_init(&w, 1);
    ws_path(&w, "no-such-store", missing, sizeof missing);
    const char *verbs[] = {"status",  "ls",           "logs 1",   "cancel 1",   "resume 1",
                           "table 1", "cache verify", "cache ls", "explain 1 a"};
    for (size_t i = 0; i < sizeof verbs / sizeof *verbs; i++) {
        char args[600];
        snprintf(args, sizeof args, "%s --store '%s'", verbs[i], missing);
        char *out = sieve_out(&w, args, &code);
        if (!strstr(out, "no store at"))
            fprintf(stderr, "sieve %s: %s\n", verbs[i], out);
        assert_non_null(strstr(out, "no store at"));
        assert_int_equal(code, 3);
        free(out);
        assert_int_equal(access(missing, F_OK), -1);
    }
    ws_release(&w);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_run_lease__killed_scheduler_shows_interrupted_and_cancels,
                                  ws_teardown),
        cmocka_unit_test_teardown(test_run_lease__resume_of_a_live_run_is_refused, ws_teardown),
        cmocka_unit_test_teardown(test_run_lease__sighup_stops_the_run_like_sigterm, ws_teardown),
        cmocka_unit_test_teardown(test_run_lease__readers_never_create_a_store, ws_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
