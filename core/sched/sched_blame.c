/*
 * sched_blame.c - whose fault a lost worker is: the device's, the plugin's, or memory's.
 *
 * A worker that dies while running a task makes its device suspect (sched_policy.c). That is
 * right for a flaky GPU and wrong for a plugin that crashes wherever it runs (a segfault in
 * its init): each device it visits turns suspect, then quarantined on the next task, until
 * healthy devices are out of service for a plugin bug. So the crashes are also counted per
 * plugin: once one plugin's tasks have lost workers on two different devices, it is the
 * plugin's fault. From then on its crashes blame no device, the devices it had made suspect
 * (and only suspect) go back into service, and messages name the plugin and the node.
 *
 * A worker killed with SIGKILL that the scheduler did not send is most often the kernel's
 * out-of-memory killer. The memory cgroup says so (memory.events counts `oom_kill`); when
 * the count went up, the loss is reported as out of memory (SIEVE_ENOMEM: retried with
 * backoff, no device blamed) instead of "killed by signal 9".
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/array.h"
#include "core/host/host.h"
#include "core/plan/plan.h"
#include "sched_int.h"

/* One plugin's lost workers: the devices they were lost on (a bit per slot index, up to 64),
 * and which of those it made suspect. */
struct sched_plugin_fault {
    const char *plugin; /* borrowed from the registry */
    uint64_t devices, blamed;
};

static struct sched_plugin_fault *
fault_of(struct sched *s, const char *plugin)
{
    for (size_t i = 0; i < s->n_pfaults; i++)
        if (!strcmp(s->pfaults[i].plugin, plugin))
            return &s->pfaults[i];
    if (array_grow(&s->pfaults, &s->cap_pfaults, s->n_pfaults + 1, sizeof *s->pfaults) < 0)
        return NULL;
    s->pfaults[s->n_pfaults] = (struct sched_plugin_fault){.plugin = plugin};
    return &s->pfaults[s->n_pfaults++];
}

static int
popcount64(uint64_t v)
{
    int n = 0;
    for (; v; v &= v - 1)
        n++;
    return n;
}

int
sched_blame_crash(struct sched *s, uint32_t t, const struct slot *sl, int device_blamed, char *text,
                  size_t len)
{
    const struct plan_node *n = sched_pnode(s, t);
    const char *plugin = n->plugin->desc->name;
    struct sched_plugin_fault *f = fault_of(s, plugin);
    uint64_t bit = sl->index < 64 ? (uint64_t)1 << sl->index : 0;
    char base[600];

    snprintf(base, sizeof base, "%s", text);
    if (!f) {
        snprintf(text, len, "%s, running plugin '%s' of node '%s'", base, plugin, n->name);
        return device_blamed;
    }
    f->devices |= bit;
    if (popcount64(f->devices) < 2) {
        if (device_blamed)
            f->blamed |= bit;
        snprintf(text, len, "%s, running plugin '%s' of node '%s'", base, plugin, n->name);
        return device_blamed;
    }
    /* It follows the plugin: give back the devices it made suspect. */
    for (size_t i = 0; i < s->n_slots && i < 64; i++) {
        struct device *d = s->slots[i].dev;
        if (!(f->blamed & ((uint64_t)1 << i)))
            continue;
        f->blamed &= ~((uint64_t)1 << i);
        if (d->state == DEVICE_SUSPECT) {
            device_restore(d);
            sched_device_changed(s, d, "its lost worker was the plugin's fault, not the device's");
        }
    }
    snprintf(text, len,
             "plugin '%s' of node '%s' crashed: %s (it lost workers on %d devices, so the "
             "plugin is at fault and no device is blamed)",
             plugin, n->name, base, popcount64(f->devices));
    return 0;
}

void
sched_blame_free(struct sched *s)
{
    free(s->pfaults);
    s->pfaults = NULL;
    s->n_pfaults = s->cap_pfaults = 0;
}

long long
sched_oom_kills(const char *events_path)
{
    char path[512], line[256];
    long long n = -1;
    FILE *f;

    if (!events_path) {
        /* cgroup v2: "0::/user.slice/..." in /proc/self/cgroup names our group. */
        FILE *cg = fopen("/proc/self/cgroup", "r");
        char rel[400] = "";
        while (cg && fgets(line, sizeof line, cg))
            if (!strncmp(line, "0::", 3)) {
                snprintf(rel, sizeof rel, "%s", line + 3);
                rel[strcspn(rel, "\n")] = '\0';
            }
        if (cg)
            fclose(cg);
        snprintf(path, sizeof path, "/sys/fs/cgroup%s/memory.events", strcmp(rel, "/") ? rel : "");
        events_path = path;
    }
    if (!(f = fopen(events_path, "r")))
        return -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "oom_kill %lld", &n) == 1)
            break;
    fclose(f);
    return n;
}

int
sched_exit_reason(struct sched *s, const struct slot *sl, int term_signal, char *why, size_t len)
{
    long long now;
    if (term_signal != SIGKILL)
        return SIEVE_ECRASH;
    now = sched_oom_kills(NULL);
    if (now < 0 || now <= s->oom_kills_seen) {
        if (now >= 0)
            s->oom_kills_seen = now;
        return SIEVE_ECRASH;
    }
    s->oom_kills_seen = now;
    snprintf(why, len,
             "worker on '%s' killed by signal 9: out of memory (the kernel's OOM killer; "
             "memory.events oom_kill %lld)",
             sl->dev->name, now);
    return SIEVE_ENOMEM;
}
