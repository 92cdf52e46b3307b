/*
 * sched_scratch.c - scratch directories that a killed scheduler left behind.
 *
 * Each worker gets a scratch directory `<TMPDIR>/sieve-worker-<scheduler pid>-XXXXXX`, which
 * the scheduler removes when the worker ends. A scheduler killed with SIGKILL takes its
 * workers with it (PR_SET_PDEATHSIG) and nobody removes their directories. The next
 * scheduler of this user does: a directory whose pid runs no more is stale.
 */
#define _XOPEN_SOURCE 700 /* nftw */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sched_int.h"

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

void
sched_scratch_remove(const char *dir)
{
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

void
sched_scratch_sweep(const char *tmp)
{
    static int swept;
    DIR *d;
    struct dirent *e;
    uid_t me = getuid();

    if (swept++)
        return; /* once per process: later ones only find live schedulers' directories */
    if (!(d = opendir(tmp)))
        return;
    while ((e = readdir(d))) {
        char path[1024], *end;
        struct stat sb;
        long pid;
        if (strncmp(e->d_name, "sieve-worker-", 13))
            continue;
        pid = strtol(e->d_name + 13, &end, 10);
        if (end == e->d_name + 13 || *end != '-' || pid <= 0 || pid == (long)getpid())
            continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue; /* alive (or not ours to judge) */
        snprintf(path, sizeof path, "%s/%s", tmp, e->d_name);
        if (lstat(path, &sb) < 0 || !S_ISDIR(sb.st_mode) || sb.st_uid != me)
            continue;
        sched_scratch_remove(path);
    }
    closedir(d);
}
