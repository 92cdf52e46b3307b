/*
 * sched_policy.c - what a failure means (retry, move, quarantine, fail) and device probing.
 * The table is in sched.h; this file is its code.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/err.h"
#include "sched_int.h"
#include "store/store.h"

#define BACKOFF_BASE_MS 250
#define BACKOFF_MAX_MS 30000
#define HEALTH_PROBE_MS 2000

int64_t
sched_policy_backoff_ms(unsigned attempt, double jitter)
{
    int64_t d = BACKOFF_BASE_MS;
    for (unsigned i = 1; i < attempt && d < BACKOFF_MAX_MS; i++)
        d *= 2;
    if (d > BACKOFF_MAX_MS)
        d = BACKOFF_MAX_MS;
    return d / 2 + (int64_t)((double)d * jitter);
}

struct sched_verdict
sched_policy_decide(int code, const struct sched_policy_task *task, int device_quarantined,
                    int cancelling, double jitter)
{
    struct sched_verdict v = {.act = SCHED_ACT_FAIL, .blame = SCHED_BLAME_NONE};
    if (cancelling) {
        v.act = SCHED_ACT_CANCEL;
        return v;
    }
    switch (code) {
    case SIEVE_EDEVICE:
        /* The device said it is broken: quarantine it and move the task without using up a
         * retry; the task is not at fault. The worker is recycled (its GPU context is
         * suspect). */
        v.act = SCHED_ACT_MOVE;
        v.blame = device_quarantined ? SCHED_BLAME_NONE : SCHED_BLAME_QUARANTINE;
        v.recycle = 1;
        return v;
    case SIEVE_ECRASH:
        /* A dead, silent or stalled worker: the task moves. Only a task's first lost worker
         * counts against the device: a task that also kills its next worker, elsewhere, is a
         * plugin bug and must not quarantine GPUs. The first loss always moves the task (even
         * with retries 0: it may be the device's fault), each retry allows one more: with
         * `crashes` losses before this one, it fails on loss number retries + 2. */
        v.lost_worker = 1;
        v.blame = task->crashes == 0 ? SCHED_BLAME_FAULT : SCHED_BLAME_NONE;
        v.act = task->crashes + 1 > task->retries + 1 ? SCHED_ACT_FAIL : SCHED_ACT_MOVE;
        return v;
    case SIEVE_ECANCELED:
        return v;
    default:
        break;
    }
    if (sieve_error_retryable(code) && task->attempts <= task->retries) {
        v.act = SCHED_ACT_RETRY;
        v.delay_ms = sched_policy_backoff_ms(task->attempts, jitter);
    }
    return v;
}

void
sched_device_changed(struct sched *s, struct device *d, const char *why)
{
    char info[512];
    struct sieve_errbuf err;
    int64_t wait = d->state == DEVICE_QUARANTINED ? d->next_probe_ms - clock_mono_ms() : 0;
    int len =
        snprintf(info, sizeof info,
                 "{\"model\":\"%s\",\"kind\":\"%s\",\"tasks\":%llu,\"reason\":\"%s\","
                 "\"next_probe_ms\":%lld}",
                 d->model,
                 d->kind == DEVICE_CPU   ? "cpu"
                 : d->kind == DEVICE_GPU ? "gpu"
                                         : "fake",
                 (unsigned long long)d->dispatched, d->reason, (long long)(wait > 0 ? wait : 0));
    if (d->remote && len > 0 && (size_t)len < sizeof info) /* a pilot: where it runs */
        snprintf(info + len - 1, sizeof info - (size_t)len + 1,
                 ",\"pilot\":true,\"node\":\"%s\",\"job\":\"%s\"}", d->node, d->job);
    sched_flush(s);
    for (char *c = info; *c; c++)
        if (*c == '\n' || *c == '\\')
            *c = ' ';
    if (store_device_upsert(s->st, d->name, device_state_name(d->state), info, &err) < 0)
        sched_record_failed(s, "a device's state", &err);
    if (why) {
        sched_log(s, "device %s %s: %s", d->name, device_state_name(d->state), why);
        sched_event(s, -1, "device", "%s %s: %s", d->name, device_state_name(d->state), why);
    }
}

int
sched_device_fault(struct sched *s, struct device *d, int64_t now, int quarantine, const char *why)
{
    int before = d->state;
    device_fault_record(d, now, quarantine, why);
    if (d->state == before)
        return 0;
    sched_device_changed(s, d, why);
    return 1;
}

int
sched_slot_usable(const struct sched *s, const struct slot *sl, int64_t now)
{
    (void)s;
    (void)now;
    return sl->dev->state != DEVICE_QUARANTINED;
}

static void
fail_task(struct sched *s, uint32_t t, const char *msg)
{
    char label[256];
    sched_task_label(s, t, label, sizeof label);
    sched_log(s, "task %s failed: %s", label, msg);
    sched_event(s, t, "task-failed", "%s: %s", label, msg);
    sched_task_end(s, t, ST_FAILED, msg);
}

void
sched_task_failed(struct sched *s, uint32_t t, struct slot *sl, int code, const char *msg)
{
    struct stask *st = &s->t[t];
    struct device *d = sl->dev;
    int64_t now = clock_mono_ms();
    char label[256], text[600];
    sched_task_label(s, t, label, sizeof label);
    snprintf(text, sizeof text, "%s", msg && msg[0] ? msg : sieve_strerror(code));
    free(st->error);
    st->error = strdup(text);
    st->slot = -1;

    if (sched_disk_full_error(text) && !sched_task_run(s, t)->cancelling) {
        /* Not the task's fault, nor the device's: it waits for space without using an
         * attempt (sched_disk.c). */
        st->attempts--;
        sched_disk_pause(s, text);
        sched_task_requeue(s, t, 0);
        return;
    }

    struct sched_policy_task pt = {st->attempts, st->crashes, st->retries};
    double jitter = (double)rand() / ((double)RAND_MAX + 1.0);
    struct sched_verdict v = sched_policy_decide(code, &pt, d->state == DEVICE_QUARANTINED,
                                                 sched_task_run(s, t)->cancelling, jitter);

    if (v.lost_worker) {
        st->crashes++;
        if (!sched_blame_crash(s, t, sl, v.blame != SCHED_BLAME_NONE, text, sizeof text))
            v.blame = SCHED_BLAME_NONE;
        free(st->error);
        st->error = strdup(text);
    }
    if (v.blame != SCHED_BLAME_NONE)
        sched_device_fault(s, d, now, v.blame == SCHED_BLAME_QUARANTINE, text);
    if (v.recycle)
        sched_slot_kill(sl, SIEVE_EDEVICE, "device quarantined");
    switch (v.act) {
    case SCHED_ACT_CANCEL:
        sched_task_end(s, t, ST_CANCELLED, "cancelled while running");
        return;
    case SCHED_ACT_MOVE:
        st->avoid = (int16_t)sl->index;
        if (code != SIEVE_EDEVICE)
            sched_log(s, "task %s moved: %s", label, text);
        sched_event(s, t, "task-moved", "%s: %s", label, text);
        sched_task_requeue(s, t, 0);
        return;
    case SCHED_ACT_RETRY:
        sched_log(s, "task %s: %s; retry %u/%u in %.1f s", label, text, st->attempts, st->retries,
                  (double)v.delay_ms / 1000.0);
        sched_event(s, t, "task-retry", "%s: %s", label, text);
        sched_task_requeue(s, t, v.delay_ms);
        return;
    case SCHED_ACT_FAIL:
        if (v.lost_worker) {
            char m2[700];
            snprintf(m2, sizeof m2, "%s (the task lost its worker %u times)", text, st->crashes);
            fail_task(s, t, m2);
        } else {
            fail_task(s, t, text);
        }
        return;
    }
}

/* Probes quarantined devices whose backoff has passed, and healthy GPUs every few seconds. */
void
sched_devices_probe(struct sched *s, int64_t now)
{
    int health = now >= s->next_health_ms;
    if (health)
        s->next_health_ms = now + HEALTH_PROBE_MS;
    for (size_t i = 0; i < s->n_slots; i++) {
        struct slot *sl = &s->slots[i];
        struct device *d = sl->dev;
        struct sieve_errbuf err;
        if (d->state == DEVICE_QUARANTINED) {
            if (now < d->next_probe_ms)
                continue;
            if (device_probe(d, now, &err) == 0) {
                device_restore(d);
                sched_device_changed(s, d, "probe passed, back in service");
                sl->respawn_at_ms = now;
            } else {
                device_fault_record(d, now, 1, err.msg);
                sched_device_changed(s, d, NULL);
            }
        } else if (health && d->kind != DEVICE_CPU) {
            if (device_probe(d, now, &err) < 0) {
                device_fault_record(d, now, 1, err.msg);
                sched_device_changed(s, d, err.msg);
                if (sl->state == SLOT_BUSY)
                    sched_slot_kill(sl, SIEVE_EDEVICE, err.msg);
            }
        }
    }
}
