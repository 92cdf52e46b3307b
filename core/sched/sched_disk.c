/*
 * sched_disk.c - a full disk pauses the scheduler instead of failing task after task.
 *
 * When the store's file system fills up, every task that writes an output fails the same way
 * and the index cannot commit: running on would fail the whole sweep (and skip everything
 * downstream) for a condition a person fixes in a minute. So the first sign of it (a task
 * whose output write says "no space left on device", a commit that says the database or disk
 * is full) pauses dispatch: the task goes back to the queue without using an attempt, the
 * scheduler says so once, and it looks at the free space every second. When space comes back
 * (SCHED_DISK_RESUME_BYTES more than at the pause), dispatch goes on and the held index
 * updates are committed. Ctrl-C stops the run as usual; its state is in the leases, so
 * `sieve status` shows it interrupted and `sieve resume` finishes it.
 */
#define _GNU_SOURCE /* strcasestr */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/statvfs.h>

#include "sched_int.h"
#include "store/store.h"

/* Free bytes of the store's file system, or -1 when it cannot be read. */
static int64_t
store_free_bytes(const struct sched *s)
{
    struct statvfs v;
    if (statvfs(store_dir(s->st), &v) < 0)
        return -1;
    return (int64_t)v.f_bavail * (int64_t)v.f_frsize;
}

static void
human(int64_t bytes, char *buf, size_t len)
{
    if (bytes < 0)
        snprintf(buf, len, "unknown");
    else if (bytes < 1024 * 1024)
        snprintf(buf, len, "%lld KiB", (long long)(bytes / 1024));
    else
        snprintf(buf, len, "%.1f MiB", (double)bytes / (1024.0 * 1024.0));
}

int
sched_disk_full_error(const char *msg)
{
    return msg && (strcasestr(msg, "no space left on device") || strcasestr(msg, "disk is full") ||
                   strcasestr(msg, "disk quota exceeded"));
}

void
sched_disk_pause(struct sched *s, const char *why)
{
    if (s->disk_full)
        return;
    s->disk_full = 1;
    s->disk_free_at_pause = store_free_bytes(s);
    char free_text[32];
    human(s->disk_free_at_pause, free_text, sizeof free_text);
    sched_log(s,
              "disk full: store '%s' has %s free (%s): nothing new is dispatched until space is "
              "freed; the run then goes on by itself (Ctrl-C stops it, 'sieve resume' finishes "
              "it later)",
              store_dir(s->st), free_text, why);
}

void
sched_disk_check(struct sched *s, int64_t now)
{
    if (!s->disk_full || now < s->next_disk_probe_ms)
        return;
    s->next_disk_probe_ms = now + 1000;
    int64_t avail = store_free_bytes(s);
    if (avail < 0 || avail < s->disk_free_at_pause + SCHED_DISK_RESUME_BYTES)
        return;
    char free_text[32];
    human(avail, free_text, sizeof free_text);
    s->disk_full = 0;
    s->flush_warned = 0;
    sched_log(s, "disk: %s free again in '%s': dispatching", free_text, store_dir(s->st));
    sched_flush(s);
    sched_event(s, -1, "disk", "store had no space; %s free again, the run goes on", free_text);
}
