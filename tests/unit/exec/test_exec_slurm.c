/*
 * test_exec_slurm.c - the Slurm executor's rules as pure decisions (core/exec/slurm_int.h):
 * how many pilots to submit, replacements within the budget, no submission between a
 * timed-out sbatch and the squeue that reconciles it, a limit refusal holding the target,
 * squeue backoff, counting pending array tasks, options by name.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/err.h"
#include "slurm_int.h"

static struct exec_slurm *
fresh(int max_pilots, int gpus)
{
    struct exec_slurm *x = calloc(1, sizeof *x);
    x->o.max_pilots = max_pilots;
    x->o.gpus = gpus;
    x->poll_ms = POLL_MIN_MS;
    x->known = 1;
    return x;
}

static void
release(struct exec_slurm *x)
{
    for (size_t i = 0; i < x->n_ended; i++)
        free(x->ended[i]);
    free(x->ended);
    free(x);
}

static void
test_exec_slurm__submits_no_more_pilots_than_work(void **state)
{
    (void)state;
    struct exec_slurm *x = fresh(4, 2);
    struct sched_pilots p = {.slots = 8, .work_left = 3};
    size_t n;
    /* 3 tasks, 2 GPUs a pilot: 2 pilots, not 4. */
    assert_int_equal(exec_slurm_decide(x, &p, 0, &n), CMD_SBATCH);
    assert_int_equal(n, 2);
    p.work_left = 100;
    assert_int_equal(exec_slurm_decide(x, &p, 0, &n), CMD_SBATCH);
    assert_int_equal(n, 4);
    /* Submitted, not yet seen by squeue: nothing more. */
    x->submitted = 4;
    x->total = 4;
    assert_int_equal(exec_slurm_decide(x, &p, 0, &n), CMD_SQUEUE);
    p.stopping = 1;
    assert_int_equal(exec_slurm_decide(x, &p, 0, &n), CMD_NONE);
    release(x);
}

static void
test_exec_slurm__replaces_lost_pilots_within_the_budget(void **state)
{
    (void)state;
    struct exec_slurm *x = fresh(2, 1);
    x->o.max_replacements = 3;
    struct sched_pilots p = {.slots = 2, .work_left = 50};
    size_t n;
    char text[] = "7_0|RUNNING|vm\n7_1|NODE_FAIL|vm\n";
    x->total = 2;
    exec_slurm_squeue_parse(x, text);
    assert_int_equal(x->active, 1);
    assert_int_equal(exec_slurm_decide(x, &p, 10000, &n), CMD_SBATCH);
    assert_int_equal(n, 1);
    assert_int_equal(x->lost, 1);
    /* Pilots that left by themselves (drained) are replaced without limit... */
    char done[] = "7_0|COMPLETED|vm\n7_1|NODE_FAIL|vm\n8_0|COMPLETED|vm\n";
    exec_slurm_squeue_parse(x, done);
    assert_int_equal(x->lost, 1);
    assert_int_equal(exec_slurm_decide(x, &p, 10000, &n), CMD_SBATCH);
    assert_int_equal(n, 2);
    /* ...lost ones at most max_replacements times. */
    x->lost = 4;
    x->active = 1; /* one pilot still runs */
    assert_int_equal(exec_slurm_decide(x, &p, 10000, &n), CMD_SQUEUE);
    assert_int_equal(x->gave_up, 0);
    /* None left, none may be submitted: the executor gives up instead of waiting forever. */
    char gone[] = "7_0|FAILED|vm\n8_0|FAILED|vm\n8_1|FAILED|vm\n";
    exec_slurm_squeue_parse(x, gone);
    assert_int_equal(x->active, 0);
    exec_slurm_decide(x, &p, 10000, &n);
    assert_int_equal(x->gave_up, 1);
    release(x);
}

static void
test_exec_slurm__timed_out_submit_waits_for_reconciliation(void **state)
{
    (void)state;
    struct exec_slurm *x = fresh(2, 1);
    struct sched_pilots p = {.slots = 2, .work_left = 50};
    size_t n;
    assert_int_equal(exec_slurm_decide(x, &p, 0, &n), CMD_SBATCH);
    x->submitted = n;
    x->total = n;
    exec_slurm_cmd_result(x, CMD_SBATCH, 0, 1, 1000); /* killed after 30 s: unknown outcome */
    assert_false(x->known);
    /* Whatever the counts say, no second sbatch before squeue has looked by name. */
    assert_int_equal(exec_slurm_decide(x, &p, 5000, &n), CMD_SQUEUE);
    char text[] = "9_[0-1]|PENDING|\n"; /* it did go through */
    exec_slurm_squeue_parse(x, text);
    exec_slurm_cmd_result(x, CMD_SQUEUE, 1, 0, 5000);
    assert_true(x->known);
    assert_int_equal(x->active, 2);
    assert_int_not_equal(exec_slurm_decide(x, &p, 6000, &n), CMD_SBATCH);
    release(x);
}

static void
test_exec_slurm__refused_submit_holds_at_what_exists(void **state)
{
    (void)state;
    struct exec_slurm *x = fresh(8, 1);
    struct sched_pilots p = {.slots = 8, .work_left = 50};
    size_t n;
    x->active = 3;
    x->total = 3;
    exec_slurm_cmd_result(x, CMD_SBATCH, 0, 0, 0); /* e.g. QOSMaxSubmitJobPerUserLimit */
    char text[] = "1|RUNNING|vm\n2|RUNNING|vm\n3|PENDING|\n";
    exec_slurm_squeue_parse(x, text);
    exec_slurm_cmd_result(x, CMD_SQUEUE, 1, 0, 100);
    assert_int_not_equal(exec_slurm_decide(x, &p, 60000, &n), CMD_SBATCH);
    /* After the hold, it tries again. */
    assert_int_equal(exec_slurm_decide(x, &p, LIMIT_HOLD_MS + 1, &n), CMD_SBATCH);
    assert_int_equal(n, 5);
    release(x);
}

static void
test_exec_slurm__squeue_failures_back_off(void **state)
{
    (void)state;
    struct exec_slurm *x = fresh(2, 1);
    exec_slurm_cmd_result(x, CMD_SQUEUE, 0, 1, 0);
    int64_t first = x->next_poll_ms;
    exec_slurm_cmd_result(x, CMD_SQUEUE, 0, 0, 0);
    assert_true(x->next_poll_ms > first);
    for (int i = 0; i < 20; i++)
        exec_slurm_cmd_result(x, CMD_SQUEUE, 0, 0, 0);
    assert_int_equal(x->next_poll_ms, POLL_MAX_MS);
    release(x);
}

static void
test_exec_slurm__counts_pending_array_tasks(void **state)
{
    (void)state;
    assert_int_equal(exec_slurm_array_count("12"), 1);
    assert_int_equal(exec_slurm_array_count("12_3"), 1);
    assert_int_equal(exec_slurm_array_count("12_[0-3]"), 4);
    assert_int_equal(exec_slurm_array_count("12_[0-3,5,7-9%4]"), 8);
}

static void
test_exec_slurm__options_by_name(void **state)
{
    (void)state;
    struct exec_slurm_opts o = {0};
    struct sieve_errbuf err;
    assert_int_equal(exec_slurm_set(&o, "partition", "gpu", &err), 0);
    assert_int_equal(exec_slurm_set(&o, "gpus", "2", &err), 0);
    assert_int_equal(exec_slurm_set(&o, "max_pilots", "3", &err), 0);
    assert_string_equal(o.partition, "gpu");
    assert_int_equal(exec_slurm_slots(&o), 6);
    assert_int_equal(exec_slurm_set(&o, "gpus", "two", &err), SIEVE_EINVAL);
    assert_int_equal(exec_slurm_set(&o, "max_pilots", "0", &err), SIEVE_EINVAL);
    assert_int_equal(exec_slurm_set(&o, "queue", "x", &err), SIEVE_EINVAL);
    assert_non_null(strstr(err.msg, "unknown option 'queue'"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exec_slurm__submits_no_more_pilots_than_work),
        cmocka_unit_test(test_exec_slurm__replaces_lost_pilots_within_the_budget),
        cmocka_unit_test(test_exec_slurm__timed_out_submit_waits_for_reconciliation),
        cmocka_unit_test(test_exec_slurm__refused_submit_holds_at_what_exists),
        cmocka_unit_test(test_exec_slurm__squeue_failures_back_off),
        cmocka_unit_test(test_exec_slurm__counts_pending_array_tasks),
        cmocka_unit_test(test_exec_slurm__options_by_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
