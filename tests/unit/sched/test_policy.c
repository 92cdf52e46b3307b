/*
 * test_policy.c - the failure table of core/sched/sched.h, row by row, through the pure
 * sched_policy_decide: what happens to a task and its device for each way a task can end.
 * (The device side of "twice within a minute" is device_fault_record's, in test_devices.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <stdlib.h>
#include <unistd.h>

#include <cmocka.h>

#include "sched_int.h"

static struct sched_verdict
decide(int code, unsigned attempts, unsigned crashes, unsigned retries)
{
    struct sched_policy_task t = {attempts, crashes, retries};
    return sched_policy_decide(code, &t, 0, 0, 0.5);
}

/* Bad input and internal errors fail at once: retrying cannot help, no device is blamed. */
static void
test_policy__bad_input_and_internal_errors_fail_at_once(void **state)
{
    (void)state;
    int codes[] = {SIEVE_EBADINPUT, SIEVE_EINVAL, SIEVE_EINTERNAL, SIEVE_ENOENT};
    for (size_t i = 0; i < sizeof codes / sizeof *codes; i++) {
        struct sched_verdict v = decide(codes[i], 1, 0, 5);
        assert_int_equal(v.act, SCHED_ACT_FAIL);
        assert_int_equal(v.blame, SCHED_BLAME_NONE);
        assert_false(v.lost_worker);
        assert_false(v.recycle);
    }
}

/* Transient errors, out of memory and timeouts are retried with backoff while attempts <=
 * retries, and fail after. */
static void
test_policy__retryable_errors_back_off_then_fail(void **state)
{
    (void)state;
    int codes[] = {SIEVE_ETRANSIENT, SIEVE_ENOMEM, SIEVE_ETIMEDOUT};
    for (size_t i = 0; i < sizeof codes / sizeof *codes; i++) {
        struct sched_verdict v = decide(codes[i], 1, 0, 2);
        assert_int_equal(v.act, SCHED_ACT_RETRY);
        assert_int_equal(v.delay_ms, 250); /* 250 ms * (0.5 + 0.5) */
        assert_int_equal(v.blame, SCHED_BLAME_NONE);
        v = decide(codes[i], 2, 0, 2);
        assert_int_equal(v.act, SCHED_ACT_RETRY);
        assert_int_equal(v.delay_ms, 500);
        v = decide(codes[i], 3, 0, 2);
        assert_int_equal(v.act, SCHED_ACT_FAIL);
    }
}

/* The backoff doubles from 250 ms, is capped at 30 s, and jitter spreads it over [0.5, 1.5). */
static void
test_policy__backoff_doubles_with_jitter_and_a_cap(void **state)
{
    (void)state;
    assert_int_equal(sched_policy_backoff_ms(1, 0.0), 125);
    assert_int_equal(sched_policy_backoff_ms(3, 0.0), 500);
    assert_int_equal(sched_policy_backoff_ms(3, 0.999), 1499);
    assert_int_equal(sched_policy_backoff_ms(40, 0.0), 15000);
    assert_int_equal(sched_policy_backoff_ms(40, 0.5), 30000);
}

/* A device error quarantines the device, recycles the worker and moves the task without
 * using a retry; a device already quarantined is not blamed again. */
static void
test_policy__device_error_quarantines_and_moves(void **state)
{
    (void)state;
    struct sched_verdict v = decide(SIEVE_EDEVICE, 1, 0, 0);
    assert_int_equal(v.act, SCHED_ACT_MOVE);
    assert_int_equal(v.blame, SCHED_BLAME_QUARANTINE);
    assert_true(v.recycle);
    assert_false(v.lost_worker);
    struct sched_policy_task t = {5, 0, 0};
    v = sched_policy_decide(SIEVE_EDEVICE, &t, 1, 0, 0.5);
    assert_int_equal(v.act, SCHED_ACT_MOVE); /* even past its retries: not the task's fault */
    assert_int_equal(v.blame, SCHED_BLAME_NONE);
}

/* A lost worker (killed, silent, stalled) makes the device suspect and moves the task; only
 * the task's first lost worker counts against a device, and the task fails after retries + 1
 * lost workers (a plugin that crashes everywhere must not quarantine the pool). */
static void
test_policy__lost_worker_moves_and_blames_once(void **state)
{
    (void)state;
    struct sched_verdict v = decide(SIEVE_ECRASH, 1, 0, 1);
    assert_int_equal(v.act, SCHED_ACT_MOVE);
    assert_int_equal(v.blame, SCHED_BLAME_FAULT);
    assert_true(v.lost_worker);
    v = decide(SIEVE_ECRASH, 2, 1, 1);
    assert_int_equal(v.act, SCHED_ACT_MOVE);
    assert_int_equal(v.blame, SCHED_BLAME_NONE);
    v = decide(SIEVE_ECRASH, 3, 2, 1);
    assert_int_equal(v.act, SCHED_ACT_FAIL);
    assert_true(v.lost_worker);
}

/* While the run is cancelling, whatever happened, the task ends cancelled. */
static void
test_policy__cancelling_run_cancels_the_task(void **state)
{
    (void)state;
    struct sched_policy_task t = {1, 0, 3};
    int codes[] = {SIEVE_ETRANSIENT, SIEVE_ECRASH, SIEVE_EDEVICE, SIEVE_EBADINPUT};
    for (size_t i = 0; i < sizeof codes / sizeof *codes; i++) {
        struct sched_verdict v = sched_policy_decide(codes[i], &t, 0, 1, 0.5);
        assert_int_equal(v.act, SCHED_ACT_CANCEL);
        assert_int_equal(v.blame, SCHED_BLAME_NONE);
    }
}

/* A task cancelled by its plugin (SIEVE_ECANCELED outside a cancelling run) fails. */
static void
test_policy__plugin_cancel_fails(void **state)
{
    (void)state;
    struct sched_verdict v = decide(SIEVE_ECANCELED, 1, 0, 3);
    assert_int_equal(v.act, SCHED_ACT_FAIL);
    assert_int_equal(v.blame, SCHED_BLAME_NONE);
}

/* The OOM evidence: the oom_kill count of a cgroup's memory.events. */
static void
test_policy__oom_kill_count_is_read_from_memory_events(void **state)
{
    (void)state;
    char path[] = "/tmp/sieve-memory-events-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char text[] = "low 0\nhigh 0\nmax 12\noom 3\noom_kill 2\noom_group_kill 0\n";
    assert_int_equal(write(fd, text, sizeof text - 1), (ssize_t)(sizeof text - 1));
    close(fd);
    assert_int_equal(sched_oom_kills(path), 2);
    unlink(path);
    assert_int_equal(sched_oom_kills(path), -1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_policy__bad_input_and_internal_errors_fail_at_once),
        cmocka_unit_test(test_policy__retryable_errors_back_off_then_fail),
        cmocka_unit_test(test_policy__backoff_doubles_with_jitter_and_a_cap),
        cmocka_unit_test(test_policy__device_error_quarantines_and_moves),
        cmocka_unit_test(test_policy__lost_worker_moves_and_blames_once),
        cmocka_unit_test(test_policy__cancelling_run_cancels_the_task),
        cmocka_unit_test(test_policy__plugin_cancel_fails),
        cmocka_unit_test(test_policy__oom_kill_count_is_read_from_memory_events),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
