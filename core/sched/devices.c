/*
 * devices.c - device discovery (NVML via dlopen, or a list), fake faults, health states.
 */
#include "core/sched/devices.h"

#include <ctype.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"

/* ---- NVML, loaded at run time ------------------------------------------------------------ */

/* The few NVML types and entry points we use, declared here so no NVIDIA header is needed. */
typedef int nvml_return;
typedef void *nvml_device;
struct nvml_memory {
    unsigned long long total, free, used;
};

static struct {
    int tried, ok;
    void *lib;
    nvml_return (*init)(void);
    nvml_return (*count)(unsigned *);
    nvml_return (*handle)(unsigned, nvml_device *);
    nvml_return (*name)(nvml_device, char *, unsigned);
    nvml_return (*memory)(nvml_device, struct nvml_memory *);
    const char *(*error_string)(nvml_return);
} nvml;

static int
nvml_load(void)
{
    if (nvml.tried)
        return nvml.ok;
    nvml.tried = 1;
    const char *override = getenv("SIEVE_NVML_LIBRARY"); /* tests point this at nothing */
    nvml.lib = dlopen(override ? override : "libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!nvml.lib)
        return 0;
    *(void **)&nvml.init = dlsym(nvml.lib, "nvmlInit_v2");
    *(void **)&nvml.count = dlsym(nvml.lib, "nvmlDeviceGetCount_v2");
    *(void **)&nvml.handle = dlsym(nvml.lib, "nvmlDeviceGetHandleByIndex_v2");
    *(void **)&nvml.name = dlsym(nvml.lib, "nvmlDeviceGetName");
    *(void **)&nvml.memory = dlsym(nvml.lib, "nvmlDeviceGetMemoryInfo");
    *(void **)&nvml.error_string = dlsym(nvml.lib, "nvmlErrorString");
    if (!nvml.init || !nvml.count || !nvml.handle || !nvml.name || !nvml.memory ||
        nvml.init() != 0) {
        dlclose(nvml.lib);
        nvml.lib = NULL;
        return 0;
    }
    nvml.ok = 1;
    return 1;
}

static const char *
nvml_err(nvml_return rc)
{
    return nvml.error_string ? nvml.error_string(rc) : "nvml error";
}

int
devices_nvml_count(void)
{
    unsigned n = 0;
    if (!nvml_load() || nvml.count(&n) != 0)
        return 0;
    return (int)n;
}

/* ---- the set ------------------------------------------------------------------------------ */

void
devices_release(struct device_set *ds)
{
    free(ds->dev);
    ds->dev = NULL;
    ds->n = 0;
}

static struct device *
add(struct device_set *ds, int kind, int index, struct sieve_errbuf *err)
{
    static const char *prefix[] = {"cpu", "cuda", "fake"};
    char name[32];
    snprintf(name, sizeof name, "%s:%d", prefix[kind], index);
    if (devices_find(ds, name)) {
        sieve_errbuf_set(err, SIEVE_EINVAL, "device '%s' listed twice", name);
        return NULL;
    }
    struct device *nd = realloc(ds->dev, (ds->n + 1) * sizeof *nd);
    if (!nd) {
        sieve_errbuf_set(err, SIEVE_ENOMEM, "out of memory");
        return NULL;
    }
    ds->dev = nd;
    struct device *d = &ds->dev[ds->n++];
    memset(d, 0, sizeof *d);
    snprintf(d->name, sizeof d->name, "%s", name);
    d->kind = kind;
    d->index = index;
    d->fault.fired_ms = -1;
    if (kind == DEVICE_FAKE)
        snprintf(d->model, sizeof d->model, "simulated GPU");
    else if (kind == DEVICE_CPU)
        snprintf(d->model, sizeof d->model, "CPU slot");
    return d;
}

static int
add_gpu(struct device_set *ds, int ordinal, struct sieve_errbuf *err)
{
    struct device *d = add(ds, DEVICE_GPU, ordinal, err);
    if (!d)
        return SIEVE_EINVAL;
    nvml_device h;
    if (nvml_load() && nvml.handle((unsigned)ordinal, &h) == 0) {
        struct nvml_memory mem;
        if (nvml.name(h, d->model, sizeof d->model) != 0)
            snprintf(d->model, sizeof d->model, "GPU");
        if (nvml.memory(h, &mem) == 0)
            d->mem_total = mem.total;
    } else {
        snprintf(d->model, sizeof d->model, "GPU (not seen by NVML)");
    }
    return 0;
}

static int
parse_uint(const char *s, size_t len, int *out)
{
    if (len == 0 || len > 6)
        return -1;
    int v = 0;
    for (size_t i = 0; i < len; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

int
devices_parse(struct device_set *ds, const char *spec, struct sieve_errbuf *err)
{
    int kind = -1;
    const char *p = spec;
    if (!spec || !spec[0])
        return sieve_errbuf_set(err, SIEVE_EINVAL, "empty device list");
    while (*p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *colon = memchr(p, ':', len);
        const char *num = p;
        size_t nlen = len;
        if (colon || !isdigit((unsigned char)p[0])) {
            size_t klen = colon ? (size_t)(colon - p) : len;
            if (klen == 3 && !strncmp(p, "gpu", 3))
                kind = DEVICE_GPU;
            else if (klen == 4 && !strncmp(p, "cuda", 4))
                kind = DEVICE_GPU;
            else if (klen == 3 && !strncmp(p, "cpu", 3))
                kind = DEVICE_CPU;
            else if (klen == 4 && !strncmp(p, "fake", 4))
                kind = DEVICE_FAKE;
            else
                return sieve_errbuf_set(err, SIEVE_EINVAL,
                                        "device '%.*s': expected gpu:, cpu: or fake:", (int)len, p);
            num = colon ? colon + 1 : p + len;
            nlen = colon ? len - klen - 1 : 0;
        } else if (kind < 0) {
            return sieve_errbuf_set(err, SIEVE_EINVAL, "device '%.*s': missing kind", (int)len, p);
        }
        int v = 0;
        if (nlen == 0 || (kind == DEVICE_GPU && nlen == 3 && !strncmp(num, "all", 3))) {
            if (kind != DEVICE_GPU)
                return sieve_errbuf_set(err, SIEVE_EINVAL, "device '%.*s': missing count", (int)len,
                                        p);
            int n = devices_nvml_count();
            for (int i = 0; i < n; i++)
                if (add_gpu(ds, i, err) < 0)
                    return SIEVE_EINVAL;
        } else if (parse_uint(num, nlen, &v) < 0) {
            return sieve_errbuf_set(err, SIEVE_EINVAL, "device '%.*s': not a number", (int)len, p);
        } else if (kind == DEVICE_GPU) {
            if (add_gpu(ds, v, err) < 0)
                return SIEVE_EINVAL;
        } else {
            if (v < 1 || v > 1024)
                return sieve_errbuf_set(err, SIEVE_EINVAL, "device '%.*s': count must be 1..1024",
                                        (int)len, p);
            int base = 0;
            for (size_t i = 0; i < ds->n; i++)
                if (ds->dev[i].kind == kind)
                    base++;
            for (int i = 0; i < v; i++)
                if (!add(ds, kind, base + i, err))
                    return SIEVE_EINVAL;
        }
        p += len;
        if (*p == ',')
            p++;
    }
    return 0;
}

int
devices_add_remote(struct device_set *ds, size_t n, int gpu, struct sieve_errbuf *err)
{
    for (size_t i = 0; i < n; i++) {
        struct device *nd = realloc(ds->dev, (ds->n + 1) * sizeof *nd);
        if (!nd)
            return sieve_errbuf_set(err, SIEVE_ENOMEM, "out of memory");
        ds->dev = nd;
        struct device *d = &ds->dev[ds->n++];
        memset(d, 0, sizeof *d);
        snprintf(d->name, sizeof d->name, "pilot:%zu", i);
        d->kind = gpu ? DEVICE_GPU : DEVICE_CPU;
        d->index = (int)i;
        d->remote = 1;
        d->fault.fired_ms = -1;
        snprintf(d->model, sizeof d->model, "waiting for a pilot");
    }
    return 0;
}

int
devices_default(struct device_set *ds, int cpu_slots, struct sieve_errbuf *err)
{
    int n = devices_nvml_count();
    for (int i = 0; i < n; i++)
        if (add_gpu(ds, i, err) < 0)
            return SIEVE_EINVAL;
    for (int i = 0; i < cpu_slots; i++)
        if (!add(ds, DEVICE_CPU, i, err))
            return SIEVE_EINVAL;
    return 0;
}

struct device *
devices_find(struct device_set *ds, const char *name)
{
    for (size_t i = 0; i < ds->n; i++)
        if (!strcmp(ds->dev[i].name, name))
            return &ds->dev[i];
    return NULL;
}

int
device_is_gpu(const struct device *d)
{
    return d->kind == DEVICE_GPU || d->kind == DEVICE_FAKE;
}

const char *
device_state_name(int state)
{
    switch (state) {
    case DEVICE_HEALTHY:
        return "healthy";
    case DEVICE_SUSPECT:
        return "suspect";
    default:
        return "quarantined";
    }
}

/* ---- faults -------------------------------------------------------------------------------- */

static int
parse_duration_ms(const char *s, size_t len, int64_t *out)
{
    char buf[32];
    char *end;
    if (len == 0 || len >= sizeof buf)
        return -1;
    memcpy(buf, s, len);
    buf[len] = '\0';
    double v = strtod(buf, &end);
    if (end == buf || v < 0)
        return -1;
    if (!strcmp(end, "ms"))
        *out = (int64_t)v;
    else if (!strcmp(end, "s") || !*end)
        *out = (int64_t)(v * 1000);
    else if (!strcmp(end, "m"))
        *out = (int64_t)(v * 60000);
    else
        return -1;
    return 0;
}

static int
fault_one(struct device_set *ds, const char *s, size_t len, struct sieve_errbuf *err)
{
    static const char *kinds[] = {"",
                                  "error-after=", "hang-after=", "crash-after=", "vanish-after="};
    char dev[32];
    const char *c1 = memchr(s, ':', len);
    const char *c2 = c1 ? memchr(c1 + 1, ':', len - (size_t)(c1 + 1 - s)) : NULL;
    if (!c2 || (size_t)(c2 - s) >= sizeof dev)
        return sieve_errbuf_set(
            err, SIEVE_EINVAL,
            "fault '%.*s': expected fake:<i>:<kind>-after=<n>[:return-after=<t>]", (int)len, s);
    memcpy(dev, s, (size_t)(c2 - s));
    dev[c2 - s] = '\0';
    struct device *d = devices_find(ds, dev);
    if (!d || d->kind != DEVICE_FAKE)
        return sieve_errbuf_set(err, SIEVE_EINVAL, "fault '%.*s': no fake device '%s'", (int)len, s,
                                dev);
    struct device_fault f = {.fired_ms = -1};
    const char *p = c2 + 1, *end = s + len;
    while (p < end) {
        const char *q = memchr(p, ':', (size_t)(end - p));
        size_t n = q ? (size_t)(q - p) : (size_t)(end - p);
        int matched = 0;
        for (int k = FAULT_ERROR; k <= FAULT_VANISH; k++) {
            size_t kl = strlen(kinds[k]);
            int v;
            if (n > kl && !strncmp(p, kinds[k], kl)) {
                if (parse_uint(p + kl, n - kl, &v) < 0)
                    return sieve_errbuf_set(err, SIEVE_EINVAL, "fault '%.*s': bad count", (int)len,
                                            s);
                f.kind = k;
                f.after = (uint64_t)v;
                matched = 1;
            }
        }
        if (!matched && n > 13 && !strncmp(p, "return-after=", 13)) {
            if (parse_duration_ms(p + 13, n - 13, &f.return_after_ms) < 0)
                return sieve_errbuf_set(err, SIEVE_EINVAL, "fault '%.*s': bad duration", (int)len,
                                        s);
            matched = 1;
        }
        if (!matched)
            return sieve_errbuf_set(err, SIEVE_EINVAL, "fault '%.*s': unknown part '%.*s'",
                                    (int)len, s, (int)n, p);
        p += n + (q ? 1 : 0);
    }
    if (f.kind == FAULT_NONE)
        return sieve_errbuf_set(err, SIEVE_EINVAL, "fault '%.*s': missing <kind>-after=<n>",
                                (int)len, s);
    d->fault = f;
    return 0;
}

int
devices_fault_parse(struct device_set *ds, const char *spec, struct sieve_errbuf *err)
{
    const char *p = spec;
    while (p && *p) {
        while (*p == ';' || isspace((unsigned char)*p))
            p++;
        size_t n = strcspn(p, "; \t\n");
        if (n == 0)
            break;
        int rc = fault_one(ds, p, n, err);
        if (rc < 0)
            return rc;
        p += n;
    }
    return 0;
}

/* Whether the fault is firing now; clears it once its return time has passed. */
static int
fault_active(struct device *d, int64_t now)
{
    struct device_fault *f = &d->fault;
    if (f->kind == FAULT_NONE || f->fired_ms < 0)
        return 0;
    if (f->return_after_ms > 0 && now >= f->fired_ms + f->return_after_ms) {
        f->kind = FAULT_NONE;
        return 0;
    }
    return 1;
}

const char *
device_dispatch(struct device *d, int64_t now_ms)
{
    static const char *acts[] = {"", "error", "hang", "crash", "error"};
    d->dispatched++;
    if (d->kind != DEVICE_FAKE || d->fault.kind == FAULT_NONE)
        return "";
    if (d->fault.fired_ms < 0 && d->dispatched > d->fault.after)
        d->fault.fired_ms = now_ms;
    if (!fault_active(d, now_ms))
        return "";
    return acts[d->fault.kind];
}

int
device_probe(struct device *d, int64_t now_ms, struct sieve_errbuf *err)
{
    if (d->kind == DEVICE_CPU || d->remote)
        return 0;
    if (d->kind == DEVICE_FAKE) {
        if (fault_active(d, now_ms))
            return sieve_errbuf_set(err, SIEVE_EDEVICE, "device '%s': %s", d->name,
                                    d->fault.kind == FAULT_VANISH ? "not found (vanished)"
                                                                  : "injected fault persists");
        return 0;
    }
    nvml_device h;
    struct nvml_memory mem;
    if (!nvml_load())
        return sieve_errbuf_set(err, SIEVE_EDEVICE, "device '%s': NVML not available", d->name);
    nvml_return rc = nvml.handle((unsigned)d->index, &h);
    if (rc != 0)
        return sieve_errbuf_set(err, SIEVE_EDEVICE,
                                "unable to determine the device handle for GPU %d: %s", d->index,
                                nvml_err(rc));
    rc = nvml.memory(h, &mem);
    if (rc != 0)
        return sieve_errbuf_set(err, SIEVE_EDEVICE, "device '%s': memory query: %s", d->name,
                                nvml_err(rc));
    return 0;
}

static void
quarantine(struct device *d, int64_t now_ms)
{
    d->state = DEVICE_QUARANTINED;
    d->backoff_ms = d->backoff_ms ? d->backoff_ms * 2 : DEVICE_BACKOFF_MIN_MS;
    if (d->backoff_ms > DEVICE_BACKOFF_MAX_MS)
        d->backoff_ms = DEVICE_BACKOFF_MAX_MS;
    d->next_probe_ms = now_ms + d->backoff_ms;
}

int
device_fault_record(struct device *d, int64_t now_ms, int explicit_error, const char *reason)
{
    snprintf(d->reason, sizeof d->reason, "%s", reason ? reason : "");
    if (d->state == DEVICE_QUARANTINED) {
        quarantine(d, now_ms); /* a failed probe: back off further */
        return d->state;
    }
    int recent = 0;
    for (int i = 0; i < d->n_faults && i < 2; i++)
        if (now_ms - d->fault_ms[i] <= DEVICE_FAULT_WINDOW_MS)
            recent++;
    d->fault_ms[1] = d->fault_ms[0];
    d->fault_ms[0] = now_ms;
    if (d->n_faults < 2)
        d->n_faults++;
    if (explicit_error || recent >= 1)
        quarantine(d, now_ms);
    else
        d->state = DEVICE_SUSPECT;
    return d->state;
}

void
device_success_record(struct device *d)
{
    if (d->state == DEVICE_SUSPECT) {
        d->state = DEVICE_HEALTHY;
        d->reason[0] = '\0';
    }
    d->backoff_ms = 0;
}

void
device_restore(struct device *d)
{
    d->state = DEVICE_HEALTHY;
    d->n_faults = 0;
    d->reason[0] = '\0';
}
