/*
 * host.c - loading one plugin file and checking its descriptor.
 *
 * A descriptor comes from code we do not control, so it is read in a fixed order: the three
 * version fields first (they exist in every ABI), then, only once abi_major, abi_minor and
 * struct_size say the rest is there, the remaining fields. Every later rule (names, ports,
 * parameter table) is checked before the plugin is handed to anyone.
 *
 * Finding plugins and validating them in a child first is host_registry.c.
 */
#include "core/host/host.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/err.h"
#include "host_int.h"

/* Sanity bounds on what a descriptor may declare; real plugins are far below them. */
#define MAX_PORTS 64u
#define MAX_PARAMS 256u
#define MAX_DESC_SIZE 65536u

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

int
host_name_from_file(const char *path, char *name, size_t cap)
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

/* The row fields of a full-size descriptor (a copy): each a non-empty name, few of them, and
 * none for a reduce plugin (its key covers every row already). */
static int
check_row_fields(const char *path, const struct sieve_plugin *d, struct sieve_errbuf *err)
{
    uint32_t n = 0;
    if (!d->row_fields)
        return 0;
    if (d->flags & SIEVE_PLUGIN_REDUCE)
        return sieve_errbuf_set(err, SIEVE_EABI,
                                "plugin '%s': a reduce plugin declares row fields (its key "
                                "covers every row already)",
                                path);
    for (; d->row_fields[n]; n++) {
        if (n >= MAX_PARAMS)
            return sieve_errbuf_set(err, SIEVE_EABI, "plugin '%s': more than %u row fields", path,
                                    MAX_PARAMS);
        if (!d->row_fields[n][0])
            return sieve_errbuf_set(err, SIEVE_EABI, "plugin '%s': empty row field name", path);
    }
    return 0;
}

/* Checks the version fields of a descriptor against the host's ABI. */
static int
check_version(const char *path, const struct sieve_plugin *d, struct sieve_errbuf *err)
{
    /* The three version fields exist in every ABI; nothing else may be read before them. */
    if (d->abi_major != SIEVE_ABI_MAJOR)
        return sieve_errbuf_set(err, SIEVE_EABI, "plugin '%s': ABI major %u, host supports %d",
                                path, d->abi_major, SIEVE_ABI_MAJOR);
    if (d->abi_minor > SIEVE_ABI_MINOR)
        return sieve_errbuf_set(err, SIEVE_EABI,
                                "plugin '%s': built for ABI %u.%u, host supports up to %d.%d", path,
                                d->abi_major, d->abi_minor, SIEVE_ABI_MAJOR, SIEVE_ABI_MINOR);
    /* Minor 0 is the oldest layout of major 1, so every field of it must be covered; later
     * fields are read only when struct_size covers them (host_plugin_open copies). */
    if (d->struct_size < SIEVE_PLUGIN_SIZE_1_0 || d->struct_size > MAX_DESC_SIZE)
        return sieve_errbuf_set(err, SIEVE_EABI,
                                "plugin '%s': descriptor size %u is not valid for ABI %u.%u "
                                "(expected at least %zu)",
                                path, d->struct_size, d->abi_major, d->abi_minor,
                                (size_t)SIEVE_PLUGIN_SIZE_1_0);
    return 0;
}

/*
 * Checks the rest of a descriptor (a full-size copy, after check_version) against the rules of
 * sieve/plugin.h. `expect` is the name implied by the file name.
 */
static int
check_descriptor(const char *path, const char *expect, const struct sieve_plugin *d,
                 struct sieve_errbuf *err)
{
    int rc;

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
    return check_row_fields(path, d, err);
}

/*
 * Checks a descriptor the host built at its own size (a script node's, host_script.c): the
 * version fields, then the rest. `expect` is the name the descriptor must carry.
 */
int
host_descriptor_check(const char *path, const char *expect, const struct sieve_plugin *d,
                      struct sieve_errbuf *err)
{
    int rc = check_version(path, d, err);
    return rc < 0 ? rc : check_descriptor(path, expect, d, err);
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
    if (host_name_from_file(abs, expect, sizeof expect) < 0) {
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
    p = calloc(1, sizeof *p);
    if (!p) {
        rc = sieve_errbuf_set(err, SIEVE_ENOMEM, "plugin '%s': out of memory", abs);
        goto fail;
    }
    /* The version fields first; only once they say how long the descriptor is, the rest. */
    if ((rc = check_version(abs, desc, err)) < 0)
        goto fail;
    memcpy(&p->full, desc, desc->struct_size < sizeof p->full ? desc->struct_size : sizeof p->full);
    if ((rc = check_descriptor(abs, expect, &p->full, err)) < 0)
        goto fail;
    if (!(p->name = strdup(desc->name))) {
        rc = sieve_errbuf_set(err, SIEVE_ENOMEM, "plugin '%s': out of memory", abs);
        goto fail;
    }
    p->path = abs;
    p->handle = handle;
    p->desc = &p->full;
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
    host_script_release(p->script);
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

void
host_port_names(const struct sieve_port *ports, uint32_t n, char *buf, size_t cap)
{
    size_t off = 0;
    buf[0] = '\0';
    for (uint32_t i = 0; i < n && off < cap; i++)
        off += (size_t)snprintf(buf + off, cap - off, "%s%s", i ? ", " : "", ports[i].name);
    if (!n)
        snprintf(buf, cap, "none");
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
