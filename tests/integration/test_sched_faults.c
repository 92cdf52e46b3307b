/*
 * test_sched_faults.c - the failures a GPU pool has at 3 a.m., on fake devices: a worker killed
 * with SIGKILL mid-task, a device that keeps raising device errors, a hung device that stops
 * sending heartbeats, and every device failing at once until one returns. In each case the
 * run must complete with correct outputs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "sched_util.h"

/* One GPU node after the source; `ms` and extra params come from the caller. */
static void
pipeline(struct ws *w, int ms, const char *extra)
{
    char yaml[2048];
    snprintf(yaml, sizeof yaml,
             "name: t\n"
             "dataset: { manifest: clips.jsonl }\n"
             "defaults: { retries: 1 }\n"
             "nodes:\n"
             "  src: { plugin: sched-source, with: { log: \"%%1$s\" } }\n"
             "  a: { plugin: sched-count, in: { in: src }, with: { ms: %d, add: 5,"
             " log: \"%%1$s\"%s }, resources: { gpu: 1 } }\n",
             ms, extra);
    ws_pipeline(w, yaml);
}

static const double adds[] = {0, 5};

static void
test_sched_faults__worker_killed_mid_task_completes_elsewhere(void **state)
{
    (void)state;
    struct ws w;
    char pidfile[400], extra[500];
    ws_init(&w, 1);
    ws_path(&w, "worker.pid", pidfile, sizeof pidfile);
    snprintf(extra, sizeof extra, ", pidfile: \"%s\"", pidfile);
    pipeline(&w, 1500, extra);
    const char *args[] = {"run", "--devices", "fake:2,cpu:1", "p.yaml", NULL};
    pid_t sieve = ws_spawn(&w, args);
    int victim = 0;
    for (int i = 0; i < 1000 && victim <= 0; i++) {
        char *text = ws_read(pidfile);
        victim = atoi(text);
        free(text);
        usleep(10000);
    }
    assert_true(victim > 0);
    unlink(pidfile);
    assert_int_equal(kill(victim, SIGKILL), 0);
    int rc = ws_wait(sieve, 20);
    if (rc != 0)
        fail_msg("exit %d:\n%s", rc, ws_read(w.out));
    /* it ran once to completion, in another worker process; the output is right */
    assert_int_equal(ws_exec_count(&w, "a/"), 1);
    char *log = ws_read(w.log), needle[32];
    snprintf(needle, sizeof needle, " %d ", victim);
    assert_null(strstr(log, needle));
    free(log);
    assert_int_equal(ws_check_objects(&w, adds, 2), 2);
    assert_true(ws_out_has(&w, "killed by signal 9"));
    char *st = ws_status_json(&w);
    assert_non_null(strstr(st, "\"state\": \"suspect\""));
    free(st);
    ws_release(&w);
}

/* A device that answers with device errors is quarantined and its tasks finish on the other
 * device, none of them twice. The healthy device has seconds of work, so the faulty one gets
 * tasks however slowly its worker starts on a loaded machine (with four devices and a few
 * short tasks it sometimes started after the work was gone, and nothing was tested). */
static void
test_sched_faults__device_errors_quarantine_the_device(void **state)
{
    (void)state;
    struct ws w;
    ws_init(&w, 8);
    pipeline(&w, 300, "");
    const char *args[] = {"run",    "--devices", "fake:2,cpu:1", "--fault", "fake:1:error-after=0",
                          "p.yaml", NULL};
    int rc = ws_sieve(&w, 40, args);
    if (rc != 0)
        fail_msg("exit %d:\n%s", rc, ws_read(w.out));
    assert_int_equal(ws_exec_count(&w, "a/"), 8);
    assert_int_equal(ws_exec_max_repeat(&w), 1);
    assert_int_equal(ws_check_objects(&w, adds, 2), 16);
    /* every task that finished, finished on fake:0 */
    char *log = ws_read(w.log);
    assert_null(strstr(log, "fake:1\n"));
    free(log);
    assert_true(ws_out_has(&w, "device fake:1 quarantined"));
    char *st = ws_status_json(&w);
    assert_non_null(strstr(st, "\"name\": \"fake:1\",\n      \"state\": \"quarantined\""));
    free(st);
    ws_release(&w);
}

/* A hung device keeps its worker alive and heartbeating (a wedged GPU call does): the task
 * makes no progress and finishes on the other device, and the hung device ends quarantined.
 * Which detector gets there first (the stall check or the device's health probe) is not what
 * a user relies on, so the test does not ask. */
static void
test_sched_faults__hang_is_caught_as_a_stall_and_quarantines(void **state)
{
    (void)state;
    struct ws w;
    ws_init(&w, 8);
    pipeline(&w, 500, "");
    const char *args[] = {"run",
                          "--devices",
                          "fake:2,cpu:1",
                          "--fault",
                          "fake:0:hang-after=0",
                          "--stall-timeout",
                          "1s",
                          "p.yaml",
                          NULL};
    assert_int_equal(ws_sieve(&w, 60, args), 0);
    assert_int_equal(ws_exec_count(&w, "a/"), 8);
    assert_int_equal(ws_exec_max_repeat(&w), 1);
    assert_int_equal(ws_check_objects(&w, adds, 2), 16);
    assert_false(ws_out_has(&w, "no heartbeat"));
    char *st = ws_status_json(&w);
    if (!strstr(st, "\"name\": \"fake:0\",\n      \"state\": \"quarantined\""))
        fail_msg("fake:0 not quarantined:\n%s\n%s", st, ws_read(w.log));
    free(st);
    ws_release(&w);
}

/* A plugin that blocks forever inside process on one device, its worker alive: detected,
 * killed, and the task finishes elsewhere with the right output. */
static void
test_sched_faults__plugin_blocking_in_process_moves_elsewhere(void **state)
{
    (void)state;
    struct ws w;
    ws_init(&w, 4);
    pipeline(&w, 1000, ", block_on: fake:0");
    const char *args[] = {"run",    "--devices", "fake:2,cpu:1", "--stall-timeout", "1s",
                          "p.yaml", NULL};
    int rc = ws_sieve(&w, 60, args);
    if (rc != 0)
        fail_msg("exit %d:\n%s", rc, ws_read(w.out));
    assert_int_equal(ws_exec_count(&w, "a/"), 4);
    assert_int_equal(ws_check_objects(&w, adds, 2), 8);
    /* every finished execution ran on fake:1: fake:0 never completes a task */
    char *log = ws_read(w.log);
    assert_null(strstr(log, "fake:0"));
    free(log);
    assert_true(ws_out_has(&w, "stalled on 'fake:0'"));
    char *st = ws_status_json(&w);
    assert_null(strstr(st, "\"name\": \"fake:1\",\n      \"state\": \"suspect\""));
    assert_null(strstr(st, "\"name\": \"fake:1\",\n      \"state\": \"quarantined\""));
    free(st);
    ws_release(&w);
}

/* A task that takes far longer on one device than its siblings take (a straggler, still making
 * progress) gets a copy on an idle healthy device; the copy wins, the straggler is stopped,
 * its device is not blamed, and the task ran to completion once. fake:1 alone has seconds of
 * work, so fake:0 gets a task however slowly its worker starts. */
static void
test_sched_faults__straggler_loses_to_its_speculative_copy(void **state)
{
    (void)state;
    struct ws w;
    ws_init(&w, 16);
    pipeline(&w, 150, ", slow_on: fake:0, slow_ms: 60000");
    const char *args[] = {"run",    "--devices", "fake:2,cpu:1", "--speculate-after", "300ms",
                          "p.yaml", NULL};
    assert_int_equal(ws_sieve(&w, 40, args), 0);
    assert_int_equal(ws_exec_count(&w, "a/"), 16);
    assert_int_equal(ws_exec_max_repeat(&w), 1);
    assert_int_equal(ws_check_objects(&w, adds, 2), 32);
    assert_true(ws_out_has(&w, "straggles on 'fake:0'"));
    assert_true(ws_out_has(&w, "finished first; the one on 'fake:0' stops"));
    char *log = ws_read(w.log);
    assert_null(strstr(log, "fake:0")); /* the straggler never finished a task */
    free(log);
    char *st = ws_status_json(&w);
    assert_null(strstr(st, "\"name\": \"fake:0\",\n      \"state\": \"suspect\""));
    assert_null(strstr(st, "\"name\": \"fake:0\",\n      \"state\": \"quarantined\""));
    free(st);
    ws_release(&w);
}

static void
test_sched_faults__all_devices_failing_waits_then_finishes(void **state)
{
    (void)state;
    struct ws w;
    ws_init(&w, 2);
    pipeline(&w, 10, "");
    setenv("SIEVE_FAULTS",
           "fake:0:error-after=0:return-after=1500ms fake:1:vanish-after=0:return-after=1500ms", 1);
    const char *args[] = {"run", "--devices", "fake:2,cpu:1", "p.yaml", NULL};
    assert_int_equal(ws_sieve(&w, 30, args), 0);
    unsetenv("SIEVE_FAULTS");
    assert_true(ws_out_has(&w, "waiting: no healthy device"));
    assert_true(ws_out_has(&w, "back in service"));
    assert_int_equal(ws_exec_count(&w, "a/"), 2);
    assert_int_equal(ws_check_objects(&w, adds, 2), 4);
    ws_release(&w);
}

static void
test_sched_faults__crashing_plugin_fails_without_quarantining_devices(void **state)
{
    (void)state;
    struct ws w;
    ws_init(&w, 1);
    ws_pipeline(&w, "name: t\n"
                    "dataset: { manifest: clips.jsonl }\n"
                    "nodes:\n"
                    "  src: { plugin: sched-source, with: { log: \"%1$s\" } }\n"
                    "  c: { plugin: crash-process, in: { in: src }, with: { how: segv },"
                    " retries: 1, resources: { gpu: 1 } }\n");
    const char *args[] = {"run", "--devices", "fake:2,cpu:1", "p.yaml", NULL};
    assert_int_equal(ws_sieve(&w, 30, args), 1);
    assert_true(ws_out_has(&w, "lost its worker 3 times"));
    char *st = ws_status_json(&w);
    assert_null(strstr(st, "\"state\": \"quarantined\""));
    free(st);
    ws_release(&w);
}

static void
test_sched_faults__task_timeout_kills_and_fails(void **state)
{
    (void)state;
    struct ws w;
    ws_init(&w, 1);
    ws_pipeline(&w, "name: t\n"
                    "dataset: { manifest: clips.jsonl }\n"
                    "nodes:\n"
                    "  src: { plugin: sched-source, with: { log: \"%1$s\" } }\n"
                    "  a: { plugin: sched-count, in: { in: src }, with: { ms: 20000,"
                    " log: \"%1$s\" }, timeout: 1, retries: 0 }\n");
    const char *args[] = {"run", "--devices", "cpu:1", "p.yaml", NULL};
    assert_int_equal(ws_sieve(&w, 20, args), 1);
    assert_true(ws_out_has(&w, "timed out after 1 s"));
    assert_int_equal(ws_exec_count(&w, "a/"), 0);
    ws_release(&w);
}

/* A plugin that kills its worker wherever it runs is the plugin's fault: the message names
 * the plugin and the node, and no healthy device ends up quarantined (each CPU slot used to
 * turn suspect, then quarantined, one crash after another). */
static void
test_sched_faults__crash_that_follows_the_plugin_blames_the_plugin(void **state)
{
    (void)state;
    struct ws w;
    ws_init(&w, 6);
    ws_pipeline(&w, "name: t\n"
                    "dataset: { manifest: clips.jsonl }\n"
                    "defaults: { retries: 0 }\n"
                    "nodes:\n"
                    "  src: { plugin: sched-source }\n"
                    "  boom: { plugin: crash-process, in: { in: src } }\n");
    const char *args[] = {"run", "--devices", "cpu:3", "p.yaml", NULL};
    assert_int_equal(ws_sieve(&w, 120, args), 1);
    assert_true(ws_out_has(&w, "plugin 'crash-process' of node 'boom' crashed"));
    assert_true(ws_out_has(&w, "the plugin is at fault and no device is blamed"));
    char *st = ws_status_json(&w);
    assert_null(strstr(st, "quarantined"));
    assert_null(strstr(st, "\"state\": \"suspect\""));
    free(st);
    ws_release(&w);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_sched_faults__worker_killed_mid_task_completes_elsewhere,
                                  ws_teardown),
        cmocka_unit_test_teardown(test_sched_faults__device_errors_quarantine_the_device,
                                  ws_teardown),
        cmocka_unit_test_teardown(test_sched_faults__hang_is_caught_as_a_stall_and_quarantines,
                                  ws_teardown),
        cmocka_unit_test_teardown(test_sched_faults__plugin_blocking_in_process_moves_elsewhere,
                                  ws_teardown),
        cmocka_unit_test_teardown(test_sched_faults__straggler_loses_to_its_speculative_copy,
                                  ws_teardown),
        cmocka_unit_test_teardown(test_sched_faults__all_devices_failing_waits_then_finishes,
                                  ws_teardown),
        cmocka_unit_test_teardown(
            test_sched_faults__crashing_plugin_fails_without_quarantining_devices, ws_teardown),
        cmocka_unit_test_teardown(test_sched_faults__task_timeout_kills_and_fails, ws_teardown),
        cmocka_unit_test_teardown(
            test_sched_faults__crash_that_follows_the_plugin_blames_the_plugin, ws_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
