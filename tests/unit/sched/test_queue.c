/*
 * test_queue.c - the ready queue orders tasks of several runs: a run of higher priority
 * first; between runs of equal priority, sample by sample side by side (an early sample of
 * either run before a later one), then by arrival; reduce tasks after every sample.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/plan/plan.h"
#include "sched_int.h"

/* Two runs of three tasks each on samples 0, 1 and reduce (-1). */
struct fixture {
    struct plan_task pt[2][3];
    struct plan p[2];
    struct srun r[2], *runs[2];
    struct stask t[6];
    struct sched s;
};

static void
setup(struct fixture *f, int prio0, int prio1)
{
    memset(f, 0, sizeof *f);
    int samples[3] = {0, 1, -1};
    for (int r = 0; r < 2; r++) {
        for (int i = 0; i < 3; i++)
            f->pt[r][i].sample = samples[i];
        f->p[r].tasks = f->pt[r];
        f->p[r].n_tasks = 3;
        f->r[r].p = &f->p[r];
        f->r[r].first = (uint32_t)(3 * r);
        f->r[r].n_tasks = 3;
        f->r[r].seq = (uint32_t)r;
        f->runs[r] = &f->r[r];
        for (int i = 0; i < 3; i++)
            f->t[3 * r + i].run = (uint32_t)r;
    }
    f->r[0].priority = prio0;
    f->r[1].priority = prio1;
    f->s.runs = f->runs;
    f->s.n_runs = 2;
    f->s.t = f->t;
    f->s.n_tasks = 6;
}

static void
pop_all(struct fixture *f, uint32_t *order)
{
    struct sched_queue q = {0};
    /* Pushed in an order unlike the expected one. */
    static const uint32_t push[6] = {5, 2, 4, 1, 3, 0};
    for (int i = 0; i < 6; i++)
        assert_int_equal(sched_queue_push(&q, &f->s, push[i]), 0);
    for (int i = 0; i < 6; i++)
        order[i] = sched_queue_pop(&q, &f->s);
    assert_int_equal(q.n, 0);
    free(q.v);
}

static void
test_queue__equal_runs_advance_sample_by_sample(void **state)
{
    (void)state;
    struct fixture f;
    uint32_t order[6];
    setup(&f, 0, 0);
    pop_all(&f, order);
    /* sample 0 of run A, of run B; sample 1 of A, of B; then the reduce tasks */
    static const uint32_t want[6] = {0, 3, 1, 4, 2, 5};
    for (int i = 0; i < 6; i++)
        assert_int_equal(order[i], want[i]);
}

static void
test_queue__a_higher_priority_run_goes_first(void **state)
{
    (void)state;
    struct fixture f;
    uint32_t order[6];
    setup(&f, 0, 5);
    pop_all(&f, order);
    static const uint32_t want[6] = {3, 4, 5, 0, 1, 2};
    for (int i = 0; i < 6; i++)
        assert_int_equal(order[i], want[i]);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_queue__equal_runs_advance_sample_by_sample),
        cmocka_unit_test(test_queue__a_higher_priority_run_goes_first),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
