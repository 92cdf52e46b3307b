/*
 * sched_report.c - what the scheduler tells a person: a live line on a terminal, plain log
 * lines otherwise, "waiting" notices, and the closing summary.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "sched_int.h"

#define REPORT_TTY_MS 200
#define REPORT_PLAIN_MS 5000

static FILE *
out(const struct sched *s)
{
    return s->o->out ? s->o->out : stderr;
}

void
sched_log(struct sched *s, const char *fmt, ...)
{
    FILE *f = out(s);
    va_list ap;
    if (s->o->tty)
        fputs("\r\033[K", f);
    fputs("sieve: ", f);
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fputc('\n', f);
    fflush(f);
    s->next_report_ms = 0; /* redraw the live line under the message */
}

static void
device_states(const struct sched *s, char *buf, size_t len)
{
    size_t off = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < s->n_slots && off + 40 < len; i++) {
        const struct slot *sl = &s->slots[i];
        const char *st = sl->dev->state == DEVICE_HEALTHY
                             ? (sl->state == SLOT_BUSY       ? "busy"
                                : sl->state == SLOT_STARTING ? "starting"
                                                             : "idle")
                         : sl->dev->state == DEVICE_SUSPECT ? "suspect"
                                                            : "quarantined";
        off += (size_t)snprintf(buf + off, len - off, " %s:%s", sl->dev->name, st);
    }
}

void
sched_report(struct sched *s, int64_t now, int force)
{
    if (!force && now < s->next_report_ms)
        return;
    s->next_report_ms = now + (s->o->tty ? REPORT_TTY_MS : REPORT_PLAIN_MS);
    if (!s->o->tty && !force && s->n_left == 0)
        return;
    FILE *f = out(s);
    char devs[1024];
    /* The runs not ended (all of them at the end of `sieve run`). */
    uint32_t n = 0, done = 0, cached = 0, failed = 0, skipped = 0, cancelled = 0;
    for (size_t i = 0; i < s->n_runs; i++) {
        const struct srun *r = s->runs[i];
        if (r->ended && s->o->serve)
            continue;
        n += r->n_tasks;
        done += r->n_done;
        cached += r->n_cached;
        failed += r->n_failed;
        skipped += r->n_skipped;
        cancelled += r->n_cancelled;
    }
    if (s->o->serve && n == 0)
        return; /* an idle daemon says nothing */
    uint32_t finished = done + cached + failed + skipped + cancelled;
    device_states(s, devs, sizeof devs);
    if (s->o->tty && s->n_slots > 8)
        devs[0] = '\0'; /* too many to fit a line */
    fprintf(f, "%s[%u/%u] done %u, cached %u, running %d, failed %u%s |%s%s",
            s->o->tty ? "\r\033[K" : "sieve: ", finished, n, done, cached, s->n_running, failed,
            skipped ? " (+ skipped)" : "", devs, s->o->tty && !force ? "" : "\n");
    fflush(f);
}

/* Says, when it changes and every few seconds, that ready tasks have no device to run on. */
void
sched_report_waiting(struct sched *s, int64_t now)
{
    if (s->draining || (s->ready[0].n == 0 && s->ready[1].n == 0))
        return;
    /* Waiting means: some class of ready tasks has no usable slot of its class. */
    int usable[2] = {0, 0};
    for (size_t i = 0; i < s->n_slots; i++)
        if (sched_slot_usable(s, &s->slots[i], now))
            usable[device_is_gpu(s->slots[i].dev) ? 1 : 0] = 1;
    if ((s->ready[0].n == 0 || usable[0]) && (s->ready[1].n == 0 || usable[1]))
        return;
    char msg[256];
    size_t off = (size_t)snprintf(msg, sizeof msg, "waiting: no healthy device (");
    int first = 1;
    for (size_t i = 0; i < s->n_slots && off + 48 < sizeof msg; i++) {
        const struct device *d = s->slots[i].dev;
        if (d->state != DEVICE_QUARANTINED)
            continue;
        int64_t in = d->next_probe_ms - now;
        off += (size_t)snprintf(msg + off, sizeof msg - off, "%s%s %s, retry in %llds",
                                first ? "" : "; ", d->name, device_state_name(d->state),
                                (long long)((in > 0 ? in : 0) + 999) / 1000);
        first = 0;
    }
    snprintf(msg + off, sizeof msg - off, ")");
    int changed = strncmp(msg, s->last_wait_msg, 40) != 0;
    if (!changed && now < s->next_wait_msg_ms)
        return;
    snprintf(s->last_wait_msg, sizeof s->last_wait_msg, "%s", msg);
    s->next_wait_msg_ms = now + 5000;
    sched_log(s, "%s", msg);
}

void
sched_summary_print(const struct sched_summary *sum, FILE *f)
{
    fprintf(f,
            "%u tasks: %u done, %u cached, %u failed, %u skipped, %u cancelled (%.2f s, %llu "
            "executions)\n",
            sum->n_tasks, sum->n_done, sum->n_cached, sum->n_failed, sum->n_skipped,
            sum->n_cancelled, sum->seconds, (unsigned long long)sum->n_executions);
    for (size_t i = 0; i < sum->n_failures; i++)
        fprintf(f, "  failed %s: %s\n", sum->failures[i].label, sum->failures[i].error);
}
