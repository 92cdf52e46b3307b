/*
 * test_devices.c - device lists, fault specs and the health state machine.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/sched/devices.h"

static void
test_devices__parses_combined_lists(void **state)
{
    (void)state;
    struct device_set ds = {0};
    struct sieve_errbuf err;
    assert_int_equal(devices_parse(&ds, "fake:3,cpu:2", &err), 0);
    assert_int_equal(ds.n, 5);
    assert_string_equal(ds.dev[0].name, "fake:0");
    assert_string_equal(ds.dev[2].name, "fake:2");
    assert_string_equal(ds.dev[3].name, "cpu:0");
    assert_true(device_is_gpu(&ds.dev[1]));
    assert_false(device_is_gpu(&ds.dev[4]));
    devices_release(&ds);
    /* gpu: takes ordinals, bare numbers continue the kind */
    assert_int_equal(devices_parse(&ds, "gpu:0,2,3", &err), 0);
    assert_int_equal(ds.n, 3);
    assert_string_equal(ds.dev[1].name, "cuda:2");
    assert_int_equal(ds.dev[2].index, 3);
    devices_release(&ds);
}

static void
test_devices__rejects_bad_lists(void **state)
{
    (void)state;
    struct device_set ds = {0};
    struct sieve_errbuf err;
    assert_int_equal(devices_parse(&ds, "tpu:1", &err), SIEVE_EINVAL);
    assert_non_null(strstr(err.msg, "tpu:1"));
    devices_release(&ds);
    assert_int_equal(devices_parse(&ds, "cpu:x", &err), SIEVE_EINVAL);
    devices_release(&ds);
    assert_int_equal(devices_parse(&ds, "fake:0", &err), SIEVE_EINVAL);
    devices_release(&ds);
    assert_int_equal(devices_parse(&ds, "gpu:1,1", &err), SIEVE_EINVAL);
    assert_non_null(strstr(err.msg, "twice"));
    devices_release(&ds);
}

static void
test_devices__no_nvml_means_no_gpus(void **state)
{
    (void)state;
    struct device_set ds = {0};
    struct sieve_errbuf err;
    assert_int_equal(devices_nvml_count(), 0);
    assert_int_equal(devices_default(&ds, 2, &err), 0);
    assert_int_equal(ds.n, 2);
    assert_string_equal(ds.dev[0].name, "cpu:0");
    /* A GPU named explicitly without NVML fails its probe: it cannot be confirmed healthy. */
    assert_int_equal(devices_parse(&ds, "gpu:0", &err), 0);
    assert_int_equal(device_probe(&ds.dev[2], 0, &err), SIEVE_EDEVICE);
    devices_release(&ds);
}

static void
test_devices__error_fault_fires_after_n_tasks(void **state)
{
    (void)state;
    struct device_set ds = {0};
    struct sieve_errbuf err;
    assert_int_equal(devices_parse(&ds, "fake:4", &err), 0);
    assert_int_equal(devices_fault_parse(&ds, "fake:1:error-after=3", &err), 0);
    struct device *d = &ds.dev[1];
    assert_string_equal(device_dispatch(d, 0), "");
    assert_string_equal(device_dispatch(d, 0), "");
    assert_string_equal(device_dispatch(d, 0), "");
    assert_string_equal(device_dispatch(d, 10), "error");
    assert_string_equal(device_dispatch(d, 20), "error"); /* permanent without return-after */
    assert_int_equal(device_probe(d, 30, &err), SIEVE_EDEVICE);
    assert_string_equal(device_dispatch(&ds.dev[0], 0), ""); /* other devices unaffected */
    devices_release(&ds);
}

static void
test_devices__faults_return_after_delay(void **state)
{
    (void)state;
    struct device_set ds = {0};
    struct sieve_errbuf err;
    assert_int_equal(devices_parse(&ds, "fake:2", &err), 0);
    assert_int_equal(devices_fault_parse(&ds,
                                         "fake:0:vanish-after=0:return-after=2s; "
                                         "fake:1:crash-after=1",
                                         &err),
                     0);
    struct device *v = &ds.dev[0], *c = &ds.dev[1];
    assert_string_equal(device_dispatch(v, 1000), "error");
    assert_int_equal(device_probe(v, 1500, &err), SIEVE_EDEVICE);
    assert_non_null(strstr(err.msg, "vanished"));
    assert_int_equal(device_probe(v, 3000, &err), 0);
    assert_string_equal(device_dispatch(v, 3001), "");
    assert_string_equal(device_dispatch(c, 0), "");
    assert_string_equal(device_dispatch(c, 0), "crash");
    devices_release(&ds);
}

static void
test_devices__rejects_bad_fault_specs(void **state)
{
    (void)state;
    struct device_set ds = {0};
    struct sieve_errbuf err;
    assert_int_equal(devices_parse(&ds, "fake:2,cpu:1", &err), 0);
    assert_int_equal(devices_fault_parse(&ds, "fake:5:error-after=1", &err), SIEVE_EINVAL);
    assert_int_equal(devices_fault_parse(&ds, "cpu:0:error-after=1", &err), SIEVE_EINVAL);
    assert_int_equal(devices_fault_parse(&ds, "fake:0:melt-after=1", &err), SIEVE_EINVAL);
    assert_int_equal(devices_fault_parse(&ds, "fake:0:hang-after=x", &err), SIEVE_EINVAL);
    assert_int_equal(devices_fault_parse(&ds, "fake:0:return-after=2s", &err), SIEVE_EINVAL);
    assert_int_equal(devices_fault_parse(&ds, "fake:0:hang-after=1:return-after=soon", &err),
                     SIEVE_EINVAL);
    assert_int_equal(devices_fault_parse(&ds, "fake:0:hang-after=2:return-after=500ms", &err), 0);
    assert_int_equal(ds.dev[0].fault.kind, FAULT_HANG);
    assert_int_equal(ds.dev[0].fault.return_after_ms, 500);
    devices_release(&ds);
}

static void
test_devices__health_states(void **state)
{
    (void)state;
    struct device_set ds = {0};
    struct sieve_errbuf err;
    assert_int_equal(devices_parse(&ds, "fake:2", &err), 0);
    struct device *d = &ds.dev[0];
    /* one crash: suspect; a success clears it */
    assert_int_equal(device_fault_record(d, 1000, 0, "crash"), DEVICE_SUSPECT);
    device_success_record(d);
    assert_int_equal(d->state, DEVICE_HEALTHY);
    /* a second fault within the window quarantines */
    assert_int_equal(device_fault_record(d, 2000, 0, "lost heartbeat"), DEVICE_QUARANTINED);
    assert_int_equal(d->next_probe_ms, 2000 + DEVICE_BACKOFF_MIN_MS);
    /* failed probes back off exponentially */
    device_fault_record(d, 3000, 1, "probe failed");
    assert_int_equal(d->next_probe_ms, 3000 + 2 * DEVICE_BACKOFF_MIN_MS);
    device_fault_record(d, 5000, 1, "probe failed");
    assert_int_equal(d->next_probe_ms, 5000 + 4 * DEVICE_BACKOFF_MIN_MS);
    device_restore(d);
    assert_int_equal(d->state, DEVICE_HEALTHY);
    /* faults far apart only make it suspect */
    struct device *e = &ds.dev[1];
    device_fault_record(e, 0, 0, "crash");
    assert_int_equal(device_fault_record(e, 10 * DEVICE_FAULT_WINDOW_MS, 0, "crash"),
                     DEVICE_SUSPECT);
    /* an explicit device error quarantines at once */
    assert_int_equal(device_fault_record(e, 20 * DEVICE_FAULT_WINDOW_MS, 1, "ECC"),
                     DEVICE_QUARANTINED);
    assert_string_equal(e->reason, "ECC");
    devices_release(&ds);
}

int
main(void)
{
    /* NVML is loaded once per process: point it at nothing before any test touches it, so the
     * tests behave the same on a machine with GPUs. */
    setenv("SIEVE_NVML_LIBRARY", "/nonexistent/libnvidia-ml.so.1", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_devices__parses_combined_lists),
        cmocka_unit_test(test_devices__rejects_bad_lists),
        cmocka_unit_test(test_devices__no_nvml_means_no_gpus),
        cmocka_unit_test(test_devices__error_fault_fires_after_n_tasks),
        cmocka_unit_test(test_devices__faults_return_after_delay),
        cmocka_unit_test(test_devices__rejects_bad_fault_specs),
        cmocka_unit_test(test_devices__health_states),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
