/*
 * store_lease.c - whether a run's scheduler is alive: a flock on `<store>/leases/<run>.lock`.
 *
 * The kernel drops a flock when the last descriptor of its open file goes, which happens when
 * the holder exits however it exits (SIGKILL, a crash, a lost terminal), so no stale lease
 * outlives its process and nothing has to time out. The descriptor is close-on-exec: workers
 * that the scheduler starts do not inherit it and cannot keep a dead scheduler's run "alive".
 * A forked child that does not exec (the plugin loader's checks) shares it while it lives,
 * which is no longer than the parent needs it. The file holds the holder's pid, for messages;
 * the lock, not the file, is the truth. Leases live outside SQLite on purpose: a process that
 * dies holding a SQLite transaction leaves nothing behind that says so.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/err.h"
#include "store_int.h"

struct store_lease {
    int fd;
};

static int
lease_path(struct store *st, int64_t run, char *buf, size_t len, int mkdirs,
           struct sieve_errbuf *err)
{
    int n = snprintf(buf, len, "%s/leases", st->dir);
    if (n < 0 || (size_t)n >= len)
        return sieve_errbuf_set(err, SIEVE_EINVAL, "lease path of run %lld too long",
                                (long long)run);
    if (mkdirs && mkdir(buf, 0777) < 0 && errno != EEXIST)
        return sieve_errbuf_set(err, sieve_error_from_errno(errno), "create directory '%s': %s",
                                buf, strerror(errno));
    n = snprintf(buf, len, "%s/leases/%lld.lock", st->dir, (long long)run);
    if (n < 0 || (size_t)n >= len)
        return sieve_errbuf_set(err, SIEVE_EINVAL, "lease path of run %lld too long",
                                (long long)run);
    return 0;
}

int
store_run_lease_take(struct store *st, int64_t run, struct store_lease **out,
                     struct sieve_errbuf *err)
{
    char path[STORE_PATH_MAX], pid[32];
    struct store_lease *l;
    int fd, rc, n;

    *out = NULL;
    if ((rc = lease_path(st, run, path, sizeof path, 1, err)) < 0)
        return rc;
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return sieve_errbuf_set(err, sieve_error_from_errno(errno), "open '%s': %s", path,
                                strerror(errno));
    while ((rc = flock(fd, LOCK_EX | LOCK_NB)) < 0 && errno == EINTR)
        ;
    if (rc < 0) {
        int e = errno;
        char holder[32] = "";
        ssize_t got = pread(fd, holder, sizeof holder - 1, 0);
        holder[got > 0 ? got : 0] = '\0';
        holder[strcspn(holder, "\n")] = '\0';
        close(fd);
        if (e == EWOULDBLOCK)
            return sieve_errbuf_set(err, SIEVE_EEXIST, "run %lld is held by process %s",
                                    (long long)run, holder[0] ? holder : "?");
        return sieve_errbuf_set(err, sieve_error_from_errno(e), "lock '%s': %s", path,
                                strerror(e));
    }
    /* The pid is for messages only; a failed write leaves the lock just as good. */
    n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) == 0 && pwrite(fd, pid, (size_t)n, 0) != n) {
        /* nothing to do: see above */
    }
    l = malloc(sizeof *l);
    if (!l) {
        close(fd);
        return sieve_errbuf_set(err, SIEVE_ENOMEM, "lease: out of memory");
    }
    l->fd = fd;
    *out = l;
    return 0;
}

void
store_lease_free(struct store_lease *l)
{
    if (!l)
        return;
    close(l->fd); /* drops the lock */
    free(l);
}

int
store_run_lease_held(struct store *st, int64_t run, struct sieve_errbuf *err)
{
    char path[STORE_PATH_MAX];
    int fd, rc;

    if ((rc = lease_path(st, run, path, sizeof path, 0, err)) < 0)
        return rc;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return 0; /* never taken (or a store from before leases) */
        return sieve_errbuf_set(err, sieve_error_from_errno(errno), "open '%s': %s", path,
                                strerror(errno));
    }
    /* A shared lock is granted only when no one holds the exclusive one. */
    while ((rc = flock(fd, LOCK_SH | LOCK_NB)) < 0 && errno == EINTR)
        ;
    if (rc < 0) {
        int e = errno;
        close(fd);
        if (e == EWOULDBLOCK)
            return 1;
        return sieve_errbuf_set(err, sieve_error_from_errno(e), "lock '%s': %s", path,
                                strerror(e));
    }
    close(fd);
    return 0;
}
