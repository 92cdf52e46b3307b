/*
 * host_registry.c - the plugin registry: walking the search path and validating every
 * candidate in a forked child before the parent loads it.
 *
 * A constructor that segfaults or an entry function that never returns costs one child and
 * one line in the problem list, not the host. Only a file the child accepted is then opened
 * in this process with host_plugin_open, which checks the descriptor again (cheaply) so the
 * parent never trusts a report it did not verify.
 */
#include "core/host/host.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/array.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/fdio.h"
#include "host_int.h"

#define DEFAULT_LOAD_TIMEOUT_MS 5000

struct host_registry {
    struct host_plugin **plugins;
    size_t n, cap;
    char **problems;
    size_t n_problems, cap_problems;
};

/* ---------------------------------------------------------------------------------------- */
/* Validation in a child process                                                            */
/* ---------------------------------------------------------------------------------------- */

static int
load_timeout_ms(void)
{
    const char *s = getenv("SIEVE_PLUGIN_LOAD_TIMEOUT_MS");
    long v;
    char *end;

    if (!s || !*s)
        return DEFAULT_LOAD_TIMEOUT_MS;
    v = strtol(s, &end, 10);
    if (*end || v <= 0 || v > 600000)
        return DEFAULT_LOAD_TIMEOUT_MS;
    return (int)v;
}

/* The child: open and check the plugin, write 'K' or 'E' + message to `fd`, and exit. */
static _Noreturn void
probe_child(const char *path, int fd)
{
    struct host_plugin *p;
    struct sieve_errbuf err;
    char buf[1 + SIEVE_ERRBUF_SIZE];
    size_t len;

    /*
     * A fault must kill this child, whatever handlers the host installed (a test framework
     * catches SIGSEGV and would carry on running the parent's code in here).
     */
    static const int fatal[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP, SIGSYS};
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    for (size_t i = 0; i < sizeof fatal / sizeof fatal[0]; i++)
        signal(fatal[i], SIG_DFL);

    err.msg[0] = '\0';
    if (host_plugin_open(path, &p, &err) == 0) {
        buf[0] = 'K';
        len = 1;
    } else {
        buf[0] = 'E';
        len = strlen(err.msg);
        memcpy(buf + 1, err.msg, len);
        len++;
    }
    fd_write_all(fd, buf, len); /* a short report reads as a failed check */
    /* _exit: the plugin's destructors and our atexit handlers belong to the parent. */
    _exit(0);
}

/*
 * Runs probe_child for `path` and waits at most `timeout_ms`. Returns 0 when the plugin
 * validated, else a negative code with a one-line problem in err.
 */
static int
probe(const char *path, int timeout_ms, struct sieve_errbuf *err)
{
    char buf[1 + SIEVE_ERRBUF_SIZE];
    size_t got = 0;
    int fds[2], status = 0, timed_out = 0;
    int64_t deadline;
    pid_t pid;

    if (pipe(fds) < 0)
        return sieve_errbuf_set(err, sieve_error_from_errno(errno), "plugin '%s': pipe: %s", path,
                                strerror(errno));
    fflush(NULL); /* the child must not inherit unwritten stdio buffers */
    pid_t parent = getpid();
    pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return sieve_errbuf_set(err, sieve_error_from_errno(errno), "plugin '%s': fork: %s", path,
                                strerror(errno));
    }
    if (pid == 0) {
        /*
         * The verdict travels over the pipe; whatever a crashing plugin (or a sanitizer
         * catching it) prints would only break the one-line-per-problem promise.
         */
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0) {
            dup2(null, STDERR_FILENO);
            /* Nor may a plugin that hangs in its constructor hold the caller's stdout open
             * (`sieve plugins | less` would wait for it). */
            dup2(null, STDOUT_FILENO);
            close(null);
        }
        /* A parent killed while it waits takes the check with it: no orphan loader. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(1);
        close(fds[0]);
        probe_child(path, fds[1]);
    }
    close(fds[1]);

    deadline = clock_mono_ms() + timeout_ms;
    for (;;) {
        struct pollfd pfd = {.fd = fds[0], .events = POLLIN};
        int64_t left = deadline - clock_mono_ms();
        ssize_t r;
        if (left <= 0) {
            timed_out = 1;
            break;
        }
        r = poll(&pfd, 1, (int)left);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            timed_out = r == 0;
            break;
        }
        if (got == sizeof buf) {
            /* Overlong report: drain to EOF so the child is never blocked on write. */
            char sink[256];
            r = read(fds[0], sink, sizeof sink);
        } else {
            r = read(fds[0], buf + got, sizeof buf - got);
        }
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        if (got < sizeof buf)
            got += (size_t)r;
    }
    close(fds[0]);
    if (timed_out)
        kill(pid, SIGKILL);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;

    if (timed_out)
        return sieve_errbuf_set(err, SIEVE_ETIMEDOUT,
                                "plugin '%s': did not finish loading within %d ms", path,
                                timeout_ms);
    if (WIFSIGNALED(status))
        return sieve_errbuf_set(err, SIEVE_ECRASH, "plugin '%s': crashed while loading (signal %d)",
                                path, WTERMSIG(status));
    if (got >= 1 && buf[0] == 'K' && WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    if (got >= 1 && buf[0] == 'E') {
        buf[got < sizeof buf ? got : sizeof buf - 1] = '\0';
        return sieve_errbuf_set(err, SIEVE_EABI, "%s", buf + 1);
    }
    /* No report: the plugin exited (or a sanitizer caught a fault) during loading. */
    return sieve_errbuf_set(err, SIEVE_ECRASH,
                            "plugin '%s': crashed while loading (exit status %d)", path,
                            WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

/* ---------------------------------------------------------------------------------------- */
/* The registry                                                                             */
/* ---------------------------------------------------------------------------------------- */

static int
add_problem(struct host_registry *reg, const char *msg)
{
    char *s;

    if (array_grow(&reg->problems, &reg->cap_problems, reg->n_problems + 1, sizeof(char *)) < 0)
        return SIEVE_ENOMEM;
    if (!(s = strdup(msg)))
        return SIEVE_ENOMEM;
    reg->problems[reg->n_problems++] = s;
    return 0;
}

/* A candidate file found on the search path, before validation. */
struct candidate {
    char *path;
    char name[256];
};

struct candidates {
    struct candidate *v;
    size_t n, cap;
};

static int
have_name(const struct candidates *c, const char *name)
{
    for (size_t i = 0; i < c->n; i++)
        if (!strcmp(c->v[i].name, name))
            return 1;
    return 0;
}

/* Adds `path` unless a plugin of the same name came earlier on the path (first wins). */
static int
add_candidate(struct candidates *c, const char *path)
{
    char name[256];

    if (host_name_from_file(path, name, sizeof name) < 0 || have_name(c, name))
        return 0;
    if (array_grow(&c->v, &c->cap, c->n + 1, sizeof *c->v) < 0)
        return SIEVE_ENOMEM;
    /* Absolute, so that every message names the same file the same way. */
    c->v[c->n].path = realpath(path, NULL);
    if (!c->v[c->n].path && !(c->v[c->n].path = strdup(path)))
        return SIEVE_ENOMEM;
    memcpy(c->v[c->n].name, name, sizeof name);
    c->n++;
    return 0;
}

static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * Collects the candidates of one directory in sorted order, so that a scan is reproducible.
 * A missing directory is a problem only when the user named it (`explicit`).
 */
static int
scan_dir(struct host_registry *reg, struct candidates *c, const char *dir, int explicit)
{
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    struct stat st;
    char msg[SIEVE_ERRBUF_SIZE];
    int rc = 0;
    DIR *d;

    if (stat(dir, &st) == 0 && S_ISREG(st.st_mode))
        return add_candidate(c, dir); /* a path entry may name one plugin file */
    d = opendir(dir);
    if (!d) {
        if (!explicit)
            return 0;
        snprintf(msg, sizeof msg, "plugin directory '%s': %s", dir, strerror(errno));
        return add_problem(reg, msg);
    }
    while ((de = readdir(d))) {
        size_t len = strlen(de->d_name);
        if (len <= 3 || strcmp(de->d_name + len - 3, ".so") != 0)
            continue;
        if (array_grow(&names, &cap, n + 1, sizeof *names) < 0 ||
            !(names[n] = strdup(de->d_name))) {
            rc = SIEVE_ENOMEM;
            goto out;
        }
        n++;
    }
    qsort(names, n, sizeof *names, cmp_str);
    for (size_t i = 0; i < n && rc == 0; i++) {
        char *full = malloc(strlen(dir) + strlen(names[i]) + 2);
        if (!full) {
            rc = SIEVE_ENOMEM;
            break;
        }
        sprintf(full, "%s/%s", dir, names[i]);
        if (stat(full, &st) == 0 && S_ISREG(st.st_mode))
            rc = add_candidate(c, full);
        free(full);
    }
out:
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    closedir(d);
    return rc;
}

/* Splits a colon-separated list and scans each non-empty entry. */
static int
scan_list(struct host_registry *reg, struct candidates *c, const char *list, int explicit)
{
    char *copy, *save = NULL, *tok;
    int rc = 0;

    if (!list || !*list)
        return 0;
    if (!(copy = strdup(list)))
        return SIEVE_ENOMEM;
    for (tok = strtok_r(copy, ":", &save); tok && rc == 0; tok = strtok_r(NULL, ":", &save))
        rc = scan_dir(reg, c, tok, explicit);
    free(copy);
    return rc;
}

static int
add_plugin(struct host_registry *reg, struct host_plugin *p)
{
    if (array_grow(&reg->plugins, &reg->cap, reg->n + 1, sizeof *reg->plugins) < 0)
        return SIEVE_ENOMEM;
    reg->plugins[reg->n++] = p;
    return 0;
}

int
host_registry_scan(const char *path, struct host_registry **out, struct sieve_errbuf *err)
{
    struct host_registry *reg;
    struct candidates c = {0};
    int timeout = load_timeout_ms();
    int rc;

    *out = NULL;
    if (!(reg = calloc(1, sizeof *reg)))
        return sieve_errbuf_set(err, SIEVE_ENOMEM, "plugin scan: out of memory");
    if (path) {
        rc = scan_list(reg, &c, path, 1);
    } else {
        rc = scan_list(reg, &c, getenv("SIEVE_PLUGIN_PATH"), 1);
#ifdef SIEVE_BUILD_PLUGIN_DIR
        if (rc == 0)
            rc = scan_dir(reg, &c, SIEVE_BUILD_PLUGIN_DIR, 0);
#endif
#ifdef SIEVE_INSTALL_PLUGIN_DIR
        if (rc == 0)
            rc = scan_dir(reg, &c, SIEVE_INSTALL_PLUGIN_DIR, 0);
#endif
    }

    for (size_t i = 0; i < c.n && rc == 0; i++) {
        struct sieve_errbuf e;
        struct host_plugin *p = NULL;

        e.msg[0] = '\0';
        if (probe(c.v[i].path, timeout, &e) == 0 && host_plugin_open(c.v[i].path, &p, &e) == 0) {
            if ((rc = add_plugin(reg, p)) < 0)
                host_plugin_free(p);
        } else {
            rc = add_problem(reg, e.msg);
        }
    }

    for (size_t i = 0; i < c.n; i++)
        free(c.v[i].path);
    free(c.v);
    if (rc < 0) {
        host_registry_free(reg);
        return sieve_errbuf_set(err, rc, "plugin scan: out of memory");
    }
    *out = reg;
    return 0;
}

void
host_registry_free(struct host_registry *reg)
{
    if (!reg)
        return;
    for (size_t i = 0; i < reg->n; i++)
        host_plugin_free(reg->plugins[i]);
    for (size_t i = 0; i < reg->n_problems; i++)
        free(reg->problems[i]);
    free(reg->plugins);
    free(reg->problems);
    free(reg);
}

size_t
host_registry_count(const struct host_registry *reg)
{
    return reg->n;
}

const struct host_plugin *
host_registry_at(const struct host_registry *reg, size_t i)
{
    return i < reg->n ? reg->plugins[i] : NULL;
}

const struct host_plugin *
host_registry_find(const struct host_registry *reg, const char *name)
{
    for (size_t i = 0; i < reg->n; i++)
        if (!strcmp(reg->plugins[i]->name, name))
            return reg->plugins[i];
    return NULL;
}

const char *
host_registry_suggest(const struct host_registry *reg, const char *name)
{
    const char *best = NULL;
    size_t best_d = 3;

    for (size_t i = 0; i < reg->n; i++) {
        size_t d = host_edit_distance(name, reg->plugins[i]->name);
        if (d < best_d) {
            best_d = d;
            best = reg->plugins[i]->name;
        }
    }
    return best;
}

size_t
host_registry_problem_count(const struct host_registry *reg)
{
    return reg->n_problems;
}

const char *
host_registry_problem_at(const struct host_registry *reg, size_t i)
{
    return i < reg->n_problems ? reg->problems[i] : NULL;
}
