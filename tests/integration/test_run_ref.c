/*
 * test_run_ref.c - every verb that takes a run reads RUN the same way: a run id, `last` (the
 * newest run) or a run name; a bad one is "no run" with exit 3. `sieve explain last NODE`
 * answers from what the runs recorded, after the pipeline file is gone. Runs are real `sieve
 * run`s of the scheduler's test plugins.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "sched_util.h"
#include "store/store.h"
#include "tests/support/cli_test.h"

static const char *dag = "name: refs\n"
                         "dataset: { manifest: clips.jsonl }\n"
                         "nodes:\n"
                         "  src: { plugin: sched-source, with: { log: \"%1$s\" } }\n"
                         "  a: { plugin: sched-count, in: { in: src },"
                         " with: { add: 1, log: \"%1$s\" } }\n";

/* Runs `sieve ARGS` in the workspace's store; fails the test when it cannot be run. */
static void
sieve(struct cli_result *r, const char *fmt, ...)
{
    char args[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    assert_int_equal(cli_run(r, "", args), 0);
}

/* Asserts `sieve ARGS` exits with `status` and `needle` is in its stdout (or stderr when the
 * status is not 0). */
static void
expect(int status, const char *needle, const char *args)
{
    struct cli_result r;
    sieve(&r, "%s", args);
    const char *text = status == 0 ? r.out : r.err;
    if (r.status != status || !strstr(text ? text : "", needle))
        fail_msg("sieve %s: exit %d, wanted %d and '%s'\n-- stdout:\n%s\n-- stderr:\n%s", args,
                 r.status, status, needle, r.out ? r.out : "", r.err ? r.err : "");
    cli_result_release(&r);
}

static void
test_run_ref__last_and_names_without_the_pipeline_file(void **state)
{
    (void)state;
    struct ws w;
    ws_init(&w, 3);
    ws_pipeline(&w, dag);
    const char *first[] = {"run", "--devices", "cpu:2", "p.yaml", NULL};
    const char *second[] = {"run", "--devices", "cpu:2", "--set", "a.add=5", "p.yaml", NULL};
    assert_int_equal(ws_sieve(&w, 60, first), 0);
    assert_int_equal(ws_sieve(&w, 60, second), 0);
    /* the runs recorded what explain needs: the file can go */
    assert_int_equal(unlink(w.yaml), 0);

    expect(0, "run 2  refs  done", "status last");
    expect(0, "run 1  refs  done", "status 1");
    expect(0, "run 2  refs  done", "status refs"); /* a name: its newest run */
    expect(0, "run 2  refs  done", "status");      /* no RUN: last */
    expect(0, "\"id\": 2", "status --json last");
    /* the run's events: the --set values it was started with are one of them */
    expect(0, "a.add=5", "logs last");
    expect(0, "a.add=5", "logs refs");
    struct cli_result r;
    sieve(&r, "logs 1");
    assert_int_equal(r.status, 0);
    assert_null(strstr(r.out, "a.add=5"));
    cli_result_release(&r);
    /* a task's captured log, of the run each reference names */
    expect(0, "count: adding 5 on", "logs last a/clip00");
    expect(0, "count: adding 1 on", "logs 1 a/clip00");

    /* explain from the store alone: run 2 against run 1, the previous run of p.yaml */
    expect(0, "node 'a': run 2 vs run 1", "explain last a");
    expect(0, "parameter 'add': 1 -> 5  (3 tasks)", "explain last a");
    expect(0, "3 tasks: 0 with changed keys, 3 unchanged", "explain last src");
    expect(0, "parameter 'add': 5 -> 1  (3 tasks)", "explain 1 a --against last");
    expect(0, "first run", "explain 1 a");
    expect(3, "run 2 has no tasks of node 'nosuch'", "explain last nosuch");
    expect(2, "--set needs a pipeline file", "explain last a --set a.add=2");
    /* a pipeline file that is gone is a missing file, not a missing run */
    char gone[400];
    snprintf(gone, sizeof gone, "explain '%s' a", w.yaml);
    expect(3, "p.yaml", gone);

    /* a finished run has nothing to cancel, found the same way */
    expect(0, "run 2 is done; nothing to cancel", "cancel last");
    expect(0, "run 1 is done; nothing to cancel", "cancel 1");

    /* bad run ids: the same message and exit status from every verb */
    static const char *const verbs[] = {"status", "logs", "cancel", "resume", "table"};
    for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++) {
        char args[64];
        snprintf(args, sizeof args, "%s 99", verbs[i]);
        expect(3, "no run '99'", args);
        snprintf(args, sizeof args, "%s nosuch", verbs[i]);
        expect(3, "no run 'nosuch'", args);
    }
    expect(3, "no run '99'", "explain 99 a");
    expect(3, "no run 'nosuch'", "explain nosuch a");
    ws_release(&w);
}

static void
test_run_ref__empty_store_has_no_last_run(void **state)
{
    (void)state;
    struct ws w;
    ws_init(&w, 1);
    /* An empty store, as `sieve run` creates it (readers no longer create one). */
    struct store *st;
    struct sieve_errbuf err;
    assert_int_equal(store_open(w.store, &st, &err), 0);
    store_close(st);
    expect(3, "no runs in the store", "status last");
    expect(3, "no runs in the store", "status");
    expect(3, "no runs in the store", "logs last");
    expect(3, "no runs in the store", "explain last a");
    ws_release(&w);
}

/* `cancel last` reaches the running scheduler; `resume last` finishes its run. */
static void
test_run_ref__cancel_last_then_resume_last(void **state)
{
    (void)state;
    struct ws w;
    ws_init(&w, 6);
    ws_pipeline(
        &w, "name: slow\n"
            "dataset: { manifest: clips.jsonl }\n"
            "nodes:\n"
            "  src: { plugin: sched-source, with: { log: \"%1$s\" } }\n"
            "  a: { plugin: sched-count, in: { in: src }, with: { ms: 1000, log: \"%1$s\" } }\n");
    const char *args[] = {"run", "--devices", "cpu:2", "p.yaml", NULL};
    pid_t pid = ws_spawn(&w, args);
    for (int i = 0; i < 1000 && ws_exec_count(&w, "a/") < 1; i++)
        usleep(10000);
    expect(0, "asked run 1 to cancel", "cancel last");
    assert_int_equal(ws_wait(pid, 30), 130);
    expect(0, "run 1  slow  cancelled", "status last");
    expect(0, "cancel-request", "logs last");
    assert_true(ws_exec_count(&w, "a/") < 6);

    const char *resume[] = {"resume", "--devices", "cpu:2", "last", NULL};
    assert_int_equal(ws_sieve(&w, 60, resume), 0);
    assert_int_equal(ws_exec_count(&w, "a/"), 6);
    assert_int_equal(ws_exec_max_repeat(&w), 1);
    expect(0, "run 1  slow  done", "status last");
    ws_release(&w);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_run_ref__last_and_names_without_the_pipeline_file,
                                  ws_teardown),
        cmocka_unit_test_teardown(test_run_ref__empty_store_has_no_last_run, ws_teardown),
        cmocka_unit_test_teardown(test_run_ref__cancel_last_then_resume_last, ws_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
