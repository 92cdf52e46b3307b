/*
 * host.c - finding, loading and checking plugins.
 *
 * A descriptor comes from code we do not control, so it is read in a fixed order: the three
 * version fields first (they exist in every ABI), then, only once abi_major, abi_minor and
 * struct_size say the rest is there, the remaining fields. Every later rule (names, ports,
 * parameter table) is checked before the plugin is handed to anyone.
 *
 * A registry scan validates each candidate in a forked child before the parent dlopens it:
 * a constructor that segfaults or an entry function that never returns costs one child and
 * one line in the problem list, not the host.
 */
#include "core/host.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/base/err.h"
#include "core/host_int.h"

/* Sanity bounds on what a descriptor may declare; real plugins are far below them. */
#define MAX_PORTS 64u
#define MAX_PARAMS 256u
#define MAX_DESC_SIZE 65536u
#define DEFAULT_LOAD_TIMEOUT_MS 5000

struct host_registry {
    struct host_plugin **plugins;
    size_t n, cap;
    char **problems;
    size_t n_problems, cap_problems;
};

/* ---------------------------------------------------------------------------------------- */
/* Names                                                                                    */
/* ---------------------------------------------------------------------------------------- */

int
host_name_valid(const char *s, int dash)
{
    if (!s || !*s)
        return 0;
    for (; *s; s++) {
        char c = *s;
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || (dash && c == '-')))
            return 0;
    }
    return 1;
}

size_t
host_edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    size_t row[65];

    /* Names longer than this are never worth suggesting; say "far". */
    if (la > 64 || lb > 64)
        return (size_t)-1;
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/*
 * The plugin name a file name implies: "sieve-topk.so" and "topk.so" both give "topk".
 * Returns 0 and writes into `name`, or -1 when the file is not a plugin candidate.
 */
static int
name_from_file(const char *path, char *name, size_t cap)
{
    const char *base = strrchr(path, '/');
    size_t len;

    base = base ? base + 1 : path;
    len = strlen(base);
    if (len <= 3 || strcmp(base + len - 3, ".so") != 0)
        return -1;
    len -= 3;
    if (len > 6 && !strncmp(base, "sieve-", 6)) {
        base += 6;
        len -= 6;
    }
    if (len == 0 || len >= cap)
        return -1;
    memcpy(name, base, len);
    name[len] = '\0';
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Descriptor checks                                                                        */
/* ---------------------------------------------------------------------------------------- */

static int
check_ports(const char *path, const char *what, const struct sieve_port *ports, uint32_t n,
            struct sieve_errbuf *err)
{
    if (n > MAX_PORTS)
        return sieve_errbuf_set(err, SIEVE_EABI, "plugin '%s': %u %s ports (at most %u)", path, n,
                                what, MAX_PORTS);
    if (n > 0 && !ports)
        return sieve_errbuf_set(err, SIEVE_EABI, "plugin '%s': %u %s ports but no port table", path,
                                n, what);
    for (uint32_t i = 0; i < n; i++) {
        if (!host_name_valid(ports[i].name, 1))
            return sieve_errbuf_set(err, SIEVE_EABI,
                                    "plugin '%s': %s port %u has an invalid name '%s'", path, what,
                                    i, ports[i].name ? ports[i].name : "(null)");
        for (uint32_t j = 0; j < i; j++)
            if (!strcmp(ports[i].name, ports[j].name))
                return sieve_errbuf_set(err, SIEVE_EABI, "plugin '%s': duplicate %s port '%s'",
                                        path, what, ports[i].name);
    }
    return 0;
}

static int
check_params(const char *path, const struct sieve_plugin *d, struct sieve_errbuf *err)
{
    struct sieve_errbuf row_err;

    if (d->n_params > MAX_PARAMS)
        return sieve_errbuf_set(err, SIEVE_EABI, "plugin '%s': %u parameters (at most %u)", path,
                                d->n_params, MAX_PARAMS);
    if (d->n_params > 0 && !d->params)
        return sieve_errbuf_set(err, SIEVE_EABI,
                                "plugin '%s': %u parameters but no parameter table", path,
                                d->n_params);
    for (uint32_t i = 0; i < d->n_params; i++) {
        const struct sieve_param *row = &d->params[i];
        row_err.msg[0] = '\0';
        if (host_param_row_check(row, &row_err) < 0)
            return sieve_errbuf_set(err, SIEVE_EABI, "plugin '%s': %s", path, row_err.msg);
        for (uint32_t j = 0; j < i; j++)
            if (!strcmp(row->name, d->params[j].name))
                return sieve_errbuf_set(err, SIEVE_EABI, "plugin '%s': duplicate parameter '%s'",
                                        path, row->name);
    }
    return 0;
}

/*
 * Checks a descriptor against the host's ABI and the rules of sieve/plugin.h. `expect` is the
 * name implied by the file name.
 */
static int
check_descriptor(const char *path, const char *expect, const struct sieve_plugin *d,
                 struct sieve_errbuf *err)
{
    int rc;

    /* The three version fields exist in every ABI; nothing else may be read before them. */
    if (d->abi_major != SIEVE_ABI_MAJOR)
        return sieve_errbuf_set(err, SIEVE_EABI, "plugin '%s': ABI major %u, host supports %d",
                                path, d->abi_major, SIEVE_ABI_MAJOR);
    if (d->abi_minor > SIEVE_ABI_MINOR)
        return sieve_errbuf_set(err, SIEVE_EABI,
                                "plugin '%s': built for ABI %u.%u, host supports up to %d.%d", path,
                                d->abi_major, d->abi_minor, SIEVE_ABI_MAJOR, SIEVE_ABI_MINOR);
    /* Minor 0 is the oldest layout of major 1, so every field of it must be covered. */
    if (d->struct_size < sizeof(struct sieve_plugin) || d->struct_size > MAX_DESC_SIZE)
        return sieve_errbuf_set(err, SIEVE_EABI,
                                "plugin '%s': descriptor size %u is not valid for ABI %u.%u "
                                "(expected %zu)",
                                path, d->struct_size, d->abi_major, d->abi_minor,
                                sizeof(struct sieve_plugin));
    if (!d->name)
        return sieve_errbuf_set(err, SIEVE_EABI, "plugin '%s': descriptor has no name", path);
    if (strcmp(d->name, expect) != 0)
        return sieve_errbuf_set(err, SIEVE_EABI,
                                "plugin '%s': name '%s' does not match the file name (expected "
                                "'%s')",
                                path, d->name, expect);
    if (!host_name_valid(d->name, 1))
        return sieve_errbuf_set(err, SIEVE_EABI,
                                "plugin '%s': invalid plugin name '%s' (allowed: a-z 0-9 _ -)",
                                path, d->name);
    if (!d->version || !d->version[0])
        return sieve_errbuf_set(err, SIEVE_EABI, "plugin '%s': empty version", path);
    if ((rc = check_ports(path, "input", d->inputs, d->n_inputs, err)) < 0)
        return rc;
    if ((rc = check_ports(path, "output", d->outputs, d->n_outputs, err)) < 0)
        return rc;
    if ((rc = check_params(path, d, err)) < 0)
        return rc;
    if (!d->process)
        return sieve_errbuf_set(err, SIEVE_EABI, "plugin '%s': no process callback", path);
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Loading one file                                                                         */
/* ---------------------------------------------------------------------------------------- */

int
host_plugin_open(const char *path, struct host_plugin **out, struct sieve_errbuf *err)
{
    char expect[256];
    char *abs = NULL;
    void *handle = NULL;
    sieve_entry_fn entry;
    const struct sieve_plugin *desc;
    struct host_plugin *p = NULL;
    struct stat st;
    const char *dl;
    int rc;

    *out = NULL;
    if (stat(path, &st) < 0)
        return sieve_errbuf_set(err, sieve_error_from_errno(errno), "plugin '%s': %s", path,
                                strerror(errno));
    if (!S_ISREG(st.st_mode))
        return sieve_errbuf_set(err, SIEVE_ENOENT, "plugin '%s': not a regular file", path);
    abs = realpath(path, NULL);
    if (!abs)
        return sieve_errbuf_set(err, sieve_error_from_errno(errno), "plugin '%s': %s", path,
                                strerror(errno));
    if (name_from_file(abs, expect, sizeof expect) < 0) {
        rc = sieve_errbuf_set(
            err, SIEVE_EABI, "plugin '%s': file name is not '<name>.so' or 'sieve-<name>.so'", abs);
        goto fail;
    }
    dlerror();
    handle = dlopen(abs, RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
        dl = dlerror();
        rc = sieve_errbuf_set(err, SIEVE_EABI, "plugin '%s': dlopen: %s", abs,
                              dl ? dl : "unknown error");
        goto fail;
    }
    dlerror();
    /* POSIX blesses this conversion from object pointer to function pointer for dlsym. */
    *(void **)&entry = dlsym(handle, SIEVE_ENTRY_SYMBOL);
    if (!entry) {
        rc = sieve_errbuf_set(err, SIEVE_EABI, "plugin '%s': no entry symbol '%s'", abs,
                              SIEVE_ENTRY_SYMBOL);
        goto fail;
    }
    desc = entry();
    if (!desc) {
        rc = sieve_errbuf_set(err, SIEVE_EABI, "plugin '%s': entry function returned NULL", abs);
        goto fail;
    }
    if ((rc = check_descriptor(abs, expect, desc, err)) < 0)
        goto fail;

    p = calloc(1, sizeof *p);
    if (!p || !(p->name = strdup(desc->name))) {
        rc = sieve_errbuf_set(err, SIEVE_ENOMEM, "plugin '%s': out of memory", abs);
        goto fail;
    }
    p->path = abs;
    p->handle = handle;
    p->desc = desc;
    *out = p;
    return 0;

fail:
    if (p)
        free(p->name);
    free(p);
    if (handle)
        dlclose(handle);
    free(abs);
    return rc;
}

void
host_plugin_free(struct host_plugin *p)
{
    if (!p)
        return;
    if (p->handle)
        dlclose(p->handle);
    free(p->name);
    free(p->path);
    free(p);
}

static int
port_index(const struct sieve_port *ports, uint32_t n, const char *name)
{
    for (uint32_t i = 0; i < n; i++)
        if (!strcmp(ports[i].name, name))
            return (int)i;
    return -1;
}

int
host_plugin_input_index(const struct host_plugin *p, const char *name)
{
    return port_index(p->desc->inputs, p->desc->n_inputs, name);
}

int
host_plugin_output_index(const struct host_plugin *p, const char *name)
{
    return port_index(p->desc->outputs, p->desc->n_outputs, name);
}

int
host_plugin_param_index(const struct host_plugin *p, const char *name)
{
    for (uint32_t i = 0; i < p->desc->n_params; i++)
        if (!strcmp(p->desc->params[i].name, name))
            return (int)i;
    return -1;
}

/* ---------------------------------------------------------------------------------------- */
/* Validation in a child process                                                            */
/* ---------------------------------------------------------------------------------------- */

static long
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

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
    size_t len, off = 0;

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
    while (off < len) {
        ssize_t w = write(fd, buf + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        off += (size_t)w;
    }
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
    long deadline;
    pid_t pid;

    if (pipe(fds) < 0)
        return sieve_errbuf_set(err, sieve_error_from_errno(errno), "plugin '%s': pipe: %s", path,
                                strerror(errno));
    fflush(NULL); /* the child must not inherit unwritten stdio buffers */
    pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return sieve_errbuf_set(err, sieve_error_from_errno(errno), "plugin '%s': fork: %s", path,
                                strerror(errno));
    }
    if (pid == 0) {
        close(fds[0]);
        probe_child(path, fds[1]);
    }
    close(fds[1]);

    deadline = now_ms() + timeout_ms;
    for (;;) {
        struct pollfd pfd = {.fd = fds[0], .events = POLLIN};
        long left = deadline - now_ms();
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
grow(void **arr, size_t *cap, size_t need, size_t elem)
{
    size_t ncap;
    void *n;

    if (need <= *cap)
        return 0;
    ncap = *cap ? *cap * 2 : 8;
    while (ncap < need)
        ncap *= 2;
    n = realloc(*arr, ncap * elem);
    if (!n)
        return -1;
    *arr = n;
    *cap = ncap;
    return 0;
}

static int
add_problem(struct host_registry *reg, const char *msg)
{
    char *s;

    if (grow((void **)&reg->problems, &reg->cap_problems, reg->n_problems + 1, sizeof(char *)) < 0)
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

    if (name_from_file(path, name, sizeof name) < 0 || have_name(c, name))
        return 0;
    if (grow((void **)&c->v, &c->cap, c->n + 1, sizeof *c->v) < 0)
        return SIEVE_ENOMEM;
    if (!(c->v[c->n].path = strdup(path)))
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
        if (grow((void **)&names, &cap, n + 1, sizeof *names) < 0 ||
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
    if (grow((void **)&reg->plugins, &reg->cap, reg->n + 1, sizeof *reg->plugins) < 0)
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
