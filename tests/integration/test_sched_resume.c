/*
 * test_sched_resume.c - a scheduler killed with SIGKILL mid-run loses nothing: `sieve resume`
 * requeues what was running, runs no finished task again (the test plugins log every
 * execution), and every artifact holds the right value; objects a dead scheduler never
 * indexed are adopted with their metric rows.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "sched_index.h"

static const char *dag =
    "name: t\n"
    "dataset: { manifest: clips.jsonl }\n"
    "nodes:\n"
    "  src: { plugin: sched-source, with: { log: \"%1$s\" } }\n"
    "  a: { plugin: sched-count, in: { in: src }, with: { ms: 250, add: 1, log: \"%1$s\" },"
    " resources: { gpu: 1 } }\n"
    "  b: { plugin: sched-count, in: { in: a }, with: { ms: 250, add: 2, log: \"%1$s\" },"
    " resources: { gpu: 1 } }\n";

static const double adds[] = {0, 1, 3};

static void
test_sched_resume__killed_scheduler_resumes_without_rerunning(void **state)
{
    (void)state;
    struct ws w;
    ws_init(&w, 6);
    ws_pipeline(&w, dag);
    const char *args[] = {"run", "--devices", "fake:2,cpu:1", "p.yaml", NULL};
    pid_t pid = ws_spawn(&w, args);
    /* let some GPU tasks finish, then kill in the middle of the next ones' sleep */
    for (int i = 0; i < 1000 && ws_exec_count(&w, "a/") + ws_exec_count(&w, "b/") < 4; i++)
        usleep(10000);
    usleep(100000);
    assert_int_equal(kill(pid, SIGKILL), 0);
    assert_int_equal(ws_wait(pid, 5), 128 + SIGKILL);
    usleep(100000); /* the workers die with their scheduler */
    int before = ws_exec_count(&w, "");
    assert_true(before >= 4 + 6 - 6); /* at least the four GPU tasks */
    assert_true(before < 18);
    char *st = ws_status_json(&w);
    /* the dead scheduler left "running"; nobody holds the lease, so it shows interrupted */
    assert_non_null(strstr(st, "\"state\": \"interrupted\""));
    free(st);

    const char *resume[] = {"resume", "--devices", "fake:2,cpu:1", "1", NULL};
    assert_int_equal(ws_sieve(&w, 30, resume), 0);
    assert_int_equal(ws_exec_count(&w, ""), 18);
    assert_int_equal(ws_exec_max_repeat(&w), 1);
    assert_int_equal(ws_check_objects(&w, adds, 3), 18);
    st = ws_status_json(&w);
    assert_non_null(strstr(st, "\"state\": \"done\""));
    free(st);
    ws_release(&w);
}

/* Every worker renamed its objects into place, but the scheduler died before its index
 * commit: no artifact rows, no metric rows, tasks still running. Resume runs nothing, adopts
 * every object, and the metric rows come back from the bundles' `sieve.metrics`. */
static void
test_sched_resume__adopts_unindexed_outputs_with_their_metrics(void **state)
{
    (void)state;
    struct ws w;
    ws_init(&w, 3);
    ws_pipeline(&w, "name: t\n"
                    "dataset: { manifest: clips.jsonl }\n"
                    "matrix: { k: [1, 2] }\n"
                    "nodes:\n"
                    "  src: { plugin: sched-source, with: { log: \"%1$s\" } }\n"
                    "  b: { plugin: sched-count, in: { in: src },"
                    " with: { add: \"${k}\", log: \"%1$s\", metric: true } }\n");
    const char *args[] = {"run", "--devices", "cpu:2", "p.yaml", NULL};
    assert_int_equal(ws_sieve(&w, 30, args), 0);
    int ran = ws_exec_count(&w, "");
    char *before = ws_table_csv(&w, "1");
    assert_non_null(strstr(before, "k,"));
    ws_unindex(&w);
    char *gone = ws_table_csv(&w, "1");
    assert_string_equal(gone, "");
    free(gone);

    const char *resume[] = {"resume", "--devices", "cpu:2", "1", NULL};
    assert_int_equal(ws_sieve(&w, 30, resume), 0);
    assert_int_equal(ws_exec_count(&w, ""), ran);
    char *after = ws_table_csv(&w, "1");
    assert_string_equal(after, before);
    free(before);
    free(after);
    ws_release(&w);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_sched_resume__killed_scheduler_resumes_without_rerunning,
                                  ws_teardown),
        cmocka_unit_test_teardown(test_sched_resume__adopts_unindexed_outputs_with_their_metrics,
                                  ws_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
