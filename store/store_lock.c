/*
 * store_lock.c - the scheduler lock and run leases (see store.h): flocks on files in the
 * store, so that a holder that dies, however it dies, releases them with its descriptors.
 *
 * flock locks belong to an open file description, so two descriptors of one process conflict
 * as two processes do: a daemon asking whether its own run's lease is held gets "held".
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/err.h"
#include "base/fdio.h"
#include "store/store.h"

struct store_lock {
    int fd;
    char info_path[STORE_PATH_MAX]; /* removed on release; "" when none */
};

/*
 * Takes (take: exclusive, creating the file) or probes (shared, never creating) the lock on
 * `path`. Returns 0 with the descriptor in *fd_out when it got it, 1 when another holder has
 * it. flock cannot ask without taking, so a probe takes a shared lock for an instant; a taker
 * that meets one retries for a moment instead of reading it as a live holder (a `sieve
 * status` must not make a scheduler's lease fail).
 */
static int
lock_file(const char *path, int take, int *fd_out, struct sieve_errbuf *err)
{
    int fd = open(path, O_RDWR | O_CLOEXEC | (take ? O_CREAT : 0), 0644);
    *fd_out = -1;
    if (fd < 0) {
        if (errno == ENOENT && !take)
            return 0;
        return sieve_errbuf_set(err, SIEVE_EIO, "open '%s': %s", path, strerror(errno));
    }
    for (int tries = take ? 40 : 1;; tries--) {
        if (flock(fd, (take ? LOCK_EX : LOCK_SH) | LOCK_NB) == 0)
            break;
        int e = errno;
        if (e == EWOULDBLOCK && tries > 1) {
            struct timespec ts = {0, 5 * 1000000L};
            nanosleep(&ts, NULL);
            continue;
        }
        close(fd);
        if (e == EWOULDBLOCK)
            return 1;
        return sieve_errbuf_set(err, SIEVE_EIO, "lock '%s': %s", path, strerror(e));
    }
    *fd_out = fd;
    return 0;
}

static char *
read_text(const char *path)
{
    FILE *f = fopen(path, "r");
    char buf[1024];
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f)
        fclose(f);
    buf[n] = '\0';
    return strdup(n ? buf : "{}");
}

int
store_sched_lock(struct store *st, const char *info_json, struct store_lock **out,
                 struct sieve_errbuf *err)
{
    char path[STORE_PATH_MAX];
    int fd, rc;
    *out = NULL;
    snprintf(path, sizeof path, "%s/scheduler.lock", store_dir(st));
    if ((rc = lock_file(path, 1, &fd, err)) < 0)
        return rc;
    if (rc == 1) {
        char *who = NULL;
        snprintf(path, sizeof path, "%s/scheduler.json", store_dir(st));
        who = read_text(path);
        rc = sieve_errbuf_set(err, SIEVE_EEXIST, "another scheduler holds store '%s': %s",
                              store_dir(st), who ? who : "{}");
        free(who);
        return rc;
    }
    struct store_lock *l = calloc(1, sizeof *l);
    if (!l) {
        close(fd);
        return sieve_errbuf_set(err, SIEVE_ENOMEM, "out of memory");
    }
    l->fd = fd;
    snprintf(l->info_path, sizeof l->info_path, "%s/scheduler.json", store_dir(st));
    if ((rc = store_lock_info_write(l, info_json, err)) < 0) {
        l->info_path[0] = '\0';
        store_lock_free(l);
        return rc;
    }
    *out = l;
    return 0;
}

int
store_lock_info_write(struct store_lock *l, const char *info_json, struct sieve_errbuf *err)
{
    char tmp[STORE_PATH_MAX + 8];
    /* Written whole and renamed, so a reader never sees half of it. */
    snprintf(tmp, sizeof tmp, "%s.tmp", l->info_path);
    int jfd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (jfd < 0 || fd_write_all(jfd, info_json, strlen(info_json)) < 0 || close(jfd) < 0 ||
        rename(tmp, l->info_path) < 0)
        return sieve_errbuf_set(err, SIEVE_EIO, "write '%s': %s", l->info_path, strerror(errno));
    return 0;
}

int
store_sched_holder(const char *dir, char **info, struct sieve_errbuf *err)
{
    char path[STORE_PATH_MAX];
    int fd, rc;
    *info = NULL;
    snprintf(path, sizeof path, "%s/scheduler.lock", dir);
    if ((rc = lock_file(path, 0, &fd, err)) < 0)
        return rc;
    if (fd >= 0)
        close(fd);
    if (rc == 0)
        return 0;
    snprintf(path, sizeof path, "%s/scheduler.json", dir);
    *info = read_text(path);
    return *info ? 1 : sieve_errbuf_set(err, SIEVE_ENOMEM, "out of memory");
}

static int
lease_path(struct store *st, int64_t run, int mkdirs, char *buf, size_t len)
{
    snprintf(buf, len, "%s/leases", store_dir(st));
    if (mkdirs && mkdir(buf, 0755) < 0 && errno != EEXIST)
        return -1;
    snprintf(buf, len, "%s/leases/run-%lld.lock", store_dir(st), (long long)run);
    return 0;
}

int
store_run_lease_take(struct store *st, int64_t run, struct store_lock **out,
                     struct sieve_errbuf *err)
{
    char path[STORE_PATH_MAX];
    int fd, rc;
    *out = NULL;
    if (lease_path(st, run, 1, path, sizeof path) < 0)
        return sieve_errbuf_set(err, SIEVE_EIO, "create '%s/leases': %s", store_dir(st),
                                strerror(errno));
    if ((rc = lock_file(path, 1, &fd, err)) < 0)
        return rc;
    if (rc == 1)
        return sieve_errbuf_set(err, SIEVE_EEXIST, "run %lld is being scheduled by another process",
                                (long long)run);
    struct store_lock *l = calloc(1, sizeof *l);
    if (!l) {
        close(fd);
        return sieve_errbuf_set(err, SIEVE_ENOMEM, "out of memory");
    }
    l->fd = fd;
    *out = l;
    return 0;
}

int
store_run_lease_held(struct store *st, int64_t run, struct sieve_errbuf *err)
{
    char path[STORE_PATH_MAX];
    int fd, rc;
    lease_path(st, run, 0, path, sizeof path);
    if ((rc = lock_file(path, 0, &fd, err)) < 0)
        return rc;
    if (fd >= 0)
        close(fd);
    return rc;
}

void
store_lock_free(struct store_lock *l)
{
    if (!l)
        return;
    /* The JSON goes first: once the lock is free, a new holder writes its own. */
    if (l->info_path[0])
        unlink(l->info_path);
    close(l->fd);
    free(l);
}
