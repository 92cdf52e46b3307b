/*
 * test_sched_run.c - `sieve run` end to end on fake devices: a DAG runs to completion with the
 * right values, a second run is all cache hits with the same results table, bad input fails at once without retries and
 * skips what depends on it, transient errors are retried up to the limit, `sieve cancel`
 * stops a run cleanly and `sieve resume` finishes it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "sched_util.h"
#include "store/store.h"

static const char *dag =
    "name: t\n"
    "dataset: { manifest: clips.jsonl }\n"
    "matrix: { k: [1, 2] }\n"
    "defaults: { retries: 2 }\n"
    "nodes:\n"
    "  src: { plugin: sched-source, with: { log: \"%1$s\" } }\n"
    "  a: { plugin: sched-count, in: { in: src }, with: { add: \"${k}\", log: \"%1$s\" },"
    " resources: { gpu: 1 } }\n"
    "  b: { plugin: sched-count, in: { in: a }, with: { add: 10, log: \"%1$s\", metric: true },"
    " resources: { gpu: 1 } }\n";

static const double dag_adds[] = {0, 1, 2, 11, 12};

static void
test_sched_run__dag_completes_then_is_cached(void **state)
{
    (void)state;
    struct ws w;
    ws_init(&w, 4);
    ws_pipeline(&w, dag);
    const char *args[] = {"run", "--devices", "fake:2,cpu:1", "p.yaml", NULL};
    assert_int_equal(ws_sieve(&w, 30, args), 0);
    assert_int_equal(ws_exec_count(&w, ""), 20);
    assert_int_equal(ws_exec_max_repeat(&w), 1);
    assert_int_equal(ws_check_objects(&w, dag_adds, 5), 20);
    /* GPU tasks ran on the fake GPUs only, CPU tasks on the CPU slot */
    char *log = ws_read(w.log);
    for (char *line = log; *line;) {
        char *nl = strchr(line, '\n');
        if (!nl)
            break;
        *nl = '\0';
        if (!strncmp(line, "src/", 4))
            assert_non_null(strstr(line, " cpu:0"));
        else
            assert_non_null(strstr(line, " fake:"));
        line = nl + 1;
    }
    free(log);
    /* b's outputs carry sieve.metrics rows; the scheduler indexed them for node b */
    struct store *store;
    struct store_metric *rows;
    size_t n_rows;
    struct sieve_errbuf err;
    assert_int_equal(store_open(w.store, &store, &err), 0);
    assert_int_equal(store_metrics_query(store, 1, "b", &rows, &n_rows, &err), 0);
    assert_int_equal(n_rows, 8);
    for (size_t i = 0; i < n_rows; i++) {
        int s_idx = atoi(rows[i].sample + 4); /* "clipNN" */
        double v = rows[i].value - w.sum[s_idx] - 10;
        assert_true(v == 1 || v == 2);
        assert_string_equal(rows[i].metric, "value");
    }
    store_metric_rows_free(rows, n_rows);
    store_close(store);
    /* a task's stderr and host log lines are captured */
    char cmd[1200], logout[400];
    ws_path(&w, "task.log", logout, sizeof logout);
    snprintf(cmd, sizeof cmd, "cd '%s' && '%s' logs 1 b/clip01 > '%s' 2>&1", w.dir, SIEVE_BINARY,
             logout);
    assert_int_equal(system(cmd), 0);
    char *tl = ws_read(logout);
    assert_non_null(strstr(tl, "count: stderr of b/clip01/v"));
    assert_non_null(strstr(tl, "[info] count: adding 10 on fake:"));
    free(tl);
    /* again: nothing runs */
    assert_int_equal(ws_sieve(&w, 30, args), 0);
    assert_int_equal(ws_exec_count(&w, ""), 20);
    assert_true(ws_out_has(&w, "0 done, 20 cached"));
    char *st = ws_status_json(&w);
    assert_non_null(strstr(st, "\"state\": \"done\""));
    free(st);
    /* the cached run's table is the first run's: its tasks show the rows of their keys */
    char *t1 = ws_table_csv(&w, "1"), *t2 = ws_table_csv(&w, "last");
    assert_int_equal(strncmp(t1, "k,c0,c1,Avg\n1,", 14), 0);
    assert_non_null(strstr(t1, "\n2,"));
    assert_string_equal(t1, t2);
    free(t1);
    free(t2);
    ws_release(&w);
}

static void
test_sched_run__bad_input_fails_without_retry_and_skips_dependents(void **state)
{
    (void)state;
    struct ws w;
    ws_init(&w, 2);
    ws_pipeline(&w, "name: t\n"
                    "dataset: { manifest: clips.jsonl }\n"
                    "defaults: { retries: 3 }\n"
                    "nodes:\n"
                    "  src: { plugin: sched-source, with: { log: \"%1$s\" } }\n"
                    "  f: { plugin: fail, in: { in: src }, with: { class: bad-input,"
                    " message: \"corrupt frame\" } }\n"
                    "  b: { plugin: sched-count, in: { in: f }, with: { log: \"%1$s\" } }\n");
    const char *args[] = {"run", "--devices", "cpu:2", "p.yaml", NULL};
    assert_int_equal(ws_sieve(&w, 30, args), 1);
    assert_true(ws_out_has(&w, "corrupt frame"));
    assert_true(ws_out_has(&w, "2 failed, 2 skipped"));
    assert_int_equal(ws_exec_count(&w, "b/"), 0);
    char *st = ws_status_json(&w);
    assert_non_null(strstr(st, "\"attempts\": 1"));
    assert_null(strstr(st, "\"attempts\": 2"));
    assert_non_null(strstr(st, "\"state\": \"failed\""));
    /* the two tasks after the failures were skipped, not cancelled */
    assert_non_null(strstr(st, "\"skipped\": 2"));
    assert_null(strstr(st, "\"cancelled\": 2"));
    free(st);
    ws_release(&w);
}

static void
test_sched_run__transient_errors_retry_up_to_the_limit(void **state)
{
    (void)state;
    struct ws w;
    ws_init(&w, 1);
    ws_pipeline(&w,
                "name: t\n"
                "dataset: { manifest: clips.jsonl }\n"
                "nodes:\n"
                "  src: { plugin: sched-source, with: { log: \"%1$s\" } }\n"
                "  f: { plugin: fail, in: { in: src }, with: { class: transient }, retries: 2 }\n");
    const char *args[] = {"run", "--devices", "cpu:1", "p.yaml", NULL};
    assert_int_equal(ws_sieve(&w, 30, args), 1);
    assert_true(ws_out_has(&w, "retry 2/2"));
    char *st = ws_status_json(&w);
    assert_non_null(strstr(st, "\"attempts\": 3"));
    free(st);
    ws_release(&w);
}

static void
test_sched_run__cancel_then_resume(void **state)
{
    (void)state;
    struct ws w;
    ws_init(&w, 6);
    ws_pipeline(
        &w, "name: t\n"
            "dataset: { manifest: clips.jsonl }\n"
            "nodes:\n"
            "  src: { plugin: sched-source, with: { log: \"%1$s\" } }\n"
            "  a: { plugin: sched-count, in: { in: src }, with: { ms: 1000, log: \"%1$s\" } }\n");
    const char *args[] = {"run", "--devices", "cpu:2", "p.yaml", NULL};
    pid_t pid = ws_spawn(&w, args);
    for (int i = 0; i < 500 && ws_exec_count(&w, "a/") < 1; i++)
        usleep(10000);
    const char *cancel[] = {"cancel", "1", NULL};
    assert_int_equal(ws_sieve(&w, 10, cancel), 0);
    assert_int_equal(ws_wait(pid, 15), 130);
    assert_true(ws_out_has(&w, "cancelling"));
    char *st = ws_status_json(&w);
    assert_non_null(strstr(st, "\"state\": \"cancelled\""));
    free(st);
    int before = ws_exec_count(&w, "a/");
    assert_true(before < 6);
    const char *resume[] = {"resume", "--devices", "cpu:2", "1", NULL};
    assert_int_equal(ws_sieve(&w, 30, resume), 0);
    assert_int_equal(ws_exec_count(&w, "a/"), 6);
    assert_int_equal(ws_exec_max_repeat(&w), 1);
    ws_release(&w);
}

/* One slot, ten samples of a two-step chain: each sample's second step runs before samples
 * a few places later even start (prefetching allows a lookahead of one task). */
static void
test_sched_run__finishes_samples_before_starting_new_ones(void **state)
{
    (void)state;
    struct ws w;
    ws_init(&w, 10);
    ws_pipeline(&w, "name: t\n"
                    "dataset: { manifest: clips.jsonl }\n"
                    "nodes:\n"
                    "  src: { plugin: sched-source, with: { log: \"%1$s\" } }\n"
                    "  a: { plugin: sched-count, in: { in: src }, with: { log: \"%1$s\" } }\n");
    const char *args[] = {"run", "--devices", "cpu:1", "p.yaml", NULL};
    assert_int_equal(ws_sieve(&w, 30, args), 0);
    char *log = ws_read(w.log);
    for (int i = 0; i + 3 < 10; i++) {
        char a[32], later[32];
        snprintf(a, sizeof a, "a/clip%02d/", i);
        snprintf(later, sizeof later, "src/clip%02d/", i + 3);
        char *pa = strstr(log, a), *pl = strstr(log, later);
        assert_non_null(pa);
        assert_non_null(pl);
        assert_true(pa < pl);
    }
    free(log);
    ws_release(&w);
}

/* A plugin printing in a loop cannot fill the disk: its captured output is cut at 16 MiB per
 * attempt, with a note saying how much was dropped. */
static void
test_sched_run__task_log_is_capped(void **state)
{
    (void)state;
    struct ws w;
    ws_init(&w, 1);
    ws_pipeline(&w, "name: t\n"
                    "dataset: { manifest: clips.jsonl }\n"
                    "nodes:\n"
                    "  src: { plugin: sched-source }\n"
                    "  loud: { plugin: sched-count, in: { in: src }, with: { spam_mb: 40 } }\n");
    const char *args[] = {"run", "--devices", "cpu:1", "p.yaml", NULL};
    assert_int_equal(ws_sieve(&w, 60, args), 0);
    char path[600];
    struct stat sb;
    snprintf(path, sizeof path, "%s/logs/1/1.log", w.store);
    assert_int_equal(stat(path, &sb), 0);
    assert_true(sb.st_size >= (16 << 20));
    assert_true(sb.st_size < (17 << 20));
    char *log = ws_read(path);
    assert_non_null(strstr(log, "[sieve: this attempt's output was cut at 16 MiB; 25165824 bytes "
                                "dropped]"));
    free(log);
    ws_release(&w);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_sched_run__dag_completes_then_is_cached, ws_teardown),
        cmocka_unit_test_teardown(
            test_sched_run__bad_input_fails_without_retry_and_skips_dependents, ws_teardown),
        cmocka_unit_test_teardown(test_sched_run__transient_errors_retry_up_to_the_limit,
                                  ws_teardown),
        cmocka_unit_test_teardown(test_sched_run__cancel_then_resume, ws_teardown),
        cmocka_unit_test_teardown(test_sched_run__finishes_samples_before_starting_new_ones,
                                  ws_teardown),
        cmocka_unit_test_teardown(test_sched_run__task_log_is_capped, ws_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
