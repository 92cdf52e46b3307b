/*
 * devices.h - the device pool: discovery (NVML at run time, or a --devices list), fake
 * devices with fault injection, and the health state machine the scheduler drives.
 *
 * Discovery: NVML is loaded with dlopen("libnvidia-ml.so.1") when asked for, so the build and
 * the tests need no driver; a missing library or a failing nvmlInit means "no GPUs". A list
 * like "gpu:0,1,2,3", "cpu:4", "fake:4" or a comma-combination ("fake:2,cpu:1") names devices
 * explicitly; bare numbers continue the previous kind ("gpu:0,1" is two GPUs). Each entry is one
 * slot with one worker: GPU ordinal n becomes "cuda:n", a CPU slot "cpu:i", a fake GPU "fake:i".
 *
 * Fake devices simulate GPUs for tests and demos. Faults are set with a spec
 *     fake:<i>:<kind>-after=<N>[:return-after=<T>]
 * where kind is error (the task fails with SIEVE_EDEVICE), hang (the worker stops, no
 * heartbeats), crash (the worker kills itself with SIGKILL), or vanish (the device probe
 * reports it missing and tasks fail with a device error). The fault fires on every task after
 * the first N that the device was given, until T (e.g. "2s", "500ms") after it first fired;
 * without return-after it is permanent. Several specs are separated by ';' or whitespace (the
 * SIEVE_FAULTS environment variable uses the same syntax). The scheduler's fake model decides
 * per dispatch and the worker acts the fault out, so counts survive worker restarts.
 *
 * States: healthy → suspect (one fault: a crash, a lost heartbeat) → quarantined (a second
 * fault within DEVICE_FAULT_WINDOW_MS, or an explicit device error). A quarantined device is
 * probed at now + backoff (1 s, doubling to 60 s) and returns to healthy when the probe passes.
 *
 * Usage:
 *     struct device_set ds = {0};
 *     devices_parse(&ds, "fake:4", &err);
 *     devices_fault_parse(&ds, "fake:1:error-after=3", &err);
 *     const char *fault = device_dispatch(&ds.dev[i], now);   // "" or "error"/"hang"/"crash"
 *     device_fault_record(&ds.dev[i], now, 0);                 // returns the new state
 *     devices_release(&ds);
 */
#ifndef SIEVE_CORE_DEVICES_H
#define SIEVE_CORE_DEVICES_H

#include <stddef.h>
#include <stdint.h>

#include <sieve/plugin.h>

#define DEVICE_FAULT_WINDOW_MS 60000
#define DEVICE_BACKOFF_MIN_MS 1000
#define DEVICE_BACKOFF_MAX_MS 60000

enum device_kind { DEVICE_CPU = 0, DEVICE_GPU = 1, DEVICE_FAKE = 2 };
enum device_state { DEVICE_HEALTHY = 0, DEVICE_SUSPECT = 1, DEVICE_QUARANTINED = 2 };
enum device_fault_kind {
    FAULT_NONE = 0,
    FAULT_ERROR = 1,
    FAULT_HANG = 2,
    FAULT_CRASH = 3,
    FAULT_VANISH = 4,
};

struct device_fault {
    int kind;                /* enum device_fault_kind */
    uint64_t after;          /* fires on tasks after the first `after` */
    int64_t return_after_ms; /* 0: permanent */
    int64_t fired_ms;        /* -1 until it first fired */
};

struct device {
    char name[32]; /* "cuda:0", "cpu:1", "fake:2" */
    int kind;      /* enum device_kind */
    int index;     /* GPU ordinal, CPU slot number or fake number */
    char model[96];
    uint64_t mem_total;
    int state; /* enum device_state */
    int64_t fault_ms[2];
    int n_faults;
    int64_t backoff_ms, next_probe_ms;
    uint64_t dispatched;
    struct device_fault fault;
    char reason[160]; /* why it is suspect or quarantined */
    int remote;       /* a pilot's slot (docs/slurm.md): filled when a pilot connects; `model`
                         then says where ("cuda:0 on node1, job 42_3") */
    char node[64];    /* a pilot's host and batch job ("42_3"), "" while none is connected */
    char job[32];
};

struct device_set {
    struct device *dev;
    size_t n;
};

void devices_release(struct device_set *ds);

/*
 * Appends devices named by `spec` ("gpu:0,1", "cpu:4", "fake:4", "gpu" for every NVML GPU).
 * Errors: SIEVE_EINVAL with the offending entry.
 */
int devices_parse(struct device_set *ds, const char *spec, struct sieve_errbuf *err);

/*
 * Appends n slots for pilots ("pilot:0".."pilot:n-1", GPU slots when `gpu`): no process
 * of their own, each taken by one pilot connection at a time (sched_listen).
 * Errors: SIEVE_ENOMEM.
 */
int devices_add_remote(struct device_set *ds, size_t n, int gpu, struct sieve_errbuf *err);

/* The default pool: every NVML GPU plus `cpu_slots` CPU slots. */
int devices_default(struct device_set *ds, int cpu_slots, struct sieve_errbuf *err);

/* Applies fault specs (see above). Errors: SIEVE_EINVAL (syntax, or no such fake device). */
int devices_fault_parse(struct device_set *ds, const char *spec, struct sieve_errbuf *err);

/* The device called `name`, or NULL. */
struct device *devices_find(struct device_set *ds, const char *name);

/* Whether this device runs GPU tasks (a real or fake GPU). */
int device_is_gpu(const struct device *d);

/* Name of a state: "healthy", "suspect", "quarantined". */
const char *device_state_name(int state);

/*
 * Counts one task handed to the device and says which fault, if any, the worker must act out:
 * "" or "error", "hang", "crash" (a vanished device answers "error").
 */
const char *device_dispatch(struct device *d, int64_t now_ms);

/*
 * Probes the device's health now: NVML handle and memory queries for a GPU, the fault model
 * for a fake device, nothing for a CPU slot. Returns 0 when healthy, SIEVE_EDEVICE with the
 * reason in err otherwise.
 */
int device_probe(struct device *d, int64_t now_ms, struct sieve_errbuf *err);

/*
 * Records a fault: `explicit_error` (the plugin or probe said the device is broken) quarantines
 * at once, otherwise a second fault within the window does. Returns the new state.
 */
int device_fault_record(struct device *d, int64_t now_ms, int explicit_error, const char *reason);

/* Records a task that succeeded on the device (a suspect device becomes healthy again). */
void device_success_record(struct device *d);

/* Moves a quarantined device back to healthy after a passing probe. */
void device_restore(struct device *d);

/* Number of NVML GPUs (0 when NVML is absent); fills model names into `ds` when non-NULL. */
int devices_nvml_count(void);

#endif
