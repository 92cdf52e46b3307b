/*
 * host_script.c - script nodes: a descriptor synthesized from a Python script's declaration
 * (host.h, "Script nodes", has the contract).
 *
 * The declaration is read by the helper shipped with the bridge (sieve_node/declare.py) under
 * the node's own interpreter, so the imports it checks are the ones the tasks will see. The
 * helper prints one JSON object; everything the descriptor points to lives in that parsed
 * object (kept in struct host_script) or in the few arrays built here.
 */
#define _GNU_SOURCE /* pipe2 */
#include "core/host/host.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/err.h"
#include "host_int.h"

/* A slow interpreter start (a cold venv on a network file system) stays well under this. */
#define DECLARE_TIMEOUT_MS 60000
#define MAX_OUTPUT (4u << 20)

struct host_script {
    json_t *decl; /* owns every string the descriptor points to */
    struct sieve_plugin desc;
    struct sieve_port *inputs, *outputs;
    struct sieve_param *params;
    const char **choices; /* all ENUM choice lists, each NULL-terminated, back to back */
    const char **row_fields;
    char *version;
    char sha[65];
};

static const struct sieve_param bridge_params[] = {
    {.name = "script",
     .type = SIEVE_PARAM_STRING,
     .doc = "the node script: path.py (relative to the pipeline file), path.py:Class or "
            "package.module:Class; its content hash is part of the version",
     .flags = SIEVE_PARAM_REQUIRED | SIEVE_PARAM_NO_KEY},
    {.name = "python",
     .type = SIEVE_PARAM_STRING,
     .doc = "interpreter: a command on PATH, a path, or a venv/conda directory (its bin/python)",
     .def = "python3",
     .flags = SIEVE_PARAM_NO_KEY},
};
#define N_BRIDGE_PARAMS 2u

int
host_plugin_is_script_bridge(const struct host_plugin *p)
{
    return p && !p->script && !strcmp(p->name, HOST_SCRIPT_BRIDGE);
}

void
host_script_lib_dir(const char *bridge_path, char *buf, size_t cap)
{
    const char *env = getenv("SIEVE_PYTHON_LIB");
    const char *slash = bridge_path ? strrchr(bridge_path, '/') : NULL;
    if (env && env[0])
        snprintf(buf, cap, "%s", env);
    else if (slash)
        snprintf(buf, cap, "%.*s/python-lib", (int)(slash - bridge_path), bridge_path);
    else
        snprintf(buf, cap, "python-lib");
}

void
host_script_release(struct host_script *s)
{
    if (!s)
        return;
    json_decref(s->decl);
    free(s->inputs);
    free(s->outputs);
    free(s->params);
    free(s->choices);
    free(s->row_fields);
    free(s->version);
    free(s);
}

/* ---- running the declaration helper ------------------------------------------------------ */

/* `python` as an executable: a venv or conda directory means its bin/python. */
static void
interpreter_path(const char *python, char *buf, size_t cap)
{
    struct stat st;
    if (!python || !python[0])
        python = "python3";
    if (stat(python, &st) == 0 && S_ISDIR(st.st_mode))
        snprintf(buf, cap, "%s/bin/python", python);
    else
        snprintf(buf, cap, "%s", python);
}

/* Reads all of fd into *buf (NUL-terminated) until EOF or the deadline. */
static int
read_all(int fd, char **buf, size_t *len, int64_t deadline)
{
    size_t cap = 4096;
    *len = 0;
    if (!(*buf = malloc(cap)))
        return SIEVE_ENOMEM;
    for (;;) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int64_t left = deadline - clock_mono_ms();
        if (left <= 0)
            return SIEVE_ETIMEDOUT;
        int r = poll(&pfd, 1, (int)left);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return r == 0 ? SIEVE_ETIMEDOUT : SIEVE_EIO;
        if (*len + 1 >= cap) {
            char *n = cap < MAX_OUTPUT ? realloc(*buf, cap * 2) : NULL;
            if (!n)
                return SIEVE_ENOMEM;
            *buf = n;
            cap *= 2;
        }
        ssize_t k = read(fd, *buf + *len, cap - *len - 1);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return SIEVE_EIO;
        if (k == 0)
            break;
        *len += (size_t)k;
    }
    (*buf)[*len] = '\0';
    return 0;
}

/*
 * The environment for the interpreter: this process's, with `lib` first on PYTHONPATH. Built
 * before fork, because a forked child of a threaded process should not allocate.
 * Ownership: free the array and its last-but-one entry (the PYTHONPATH string) with
 * env_free.
 */
static char **
env_with_pythonpath(const char *lib)
{
    extern char **environ;
    const char *old = getenv("PYTHONPATH");
    size_t n = 0, k = 0, len = strlen(lib) + (old ? strlen(old) : 0) + 16;
    char **env, *pp = malloc(len);
    while (environ[n])
        n++;
    if (!pp || !(env = calloc(n + 2, sizeof *env))) {
        free(pp);
        return NULL;
    }
    snprintf(pp, len, "PYTHONPATH=%s%s%s", lib, old && old[0] ? ":" : "", old ? old : "");
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "PYTHONPATH=", 11) != 0)
            env[k++] = environ[i];
    env[k] = pp;
    return env;
}

static void
env_free(char **env)
{
    size_t k = 0;
    if (!env)
        return;
    while (env[k + 1])
        k++;
    free(env[k]);
    free(env);
}

/*
 * Runs `python -B -m sieve_node.declare target` with the helper on PYTHONPATH and returns its
 * stdout. stderr stays the caller's: an interpreter that cannot start says why there.
 */
static int
run_declare(const char *python, const char *libdir, const char *target, char **out,
            struct sieve_errbuf *err)
{
    char exe[1024], **env;
    int fds[2];
    pid_t pid;
    size_t len;
    int status, rc;

    *out = NULL;
    interpreter_path(python, exe, sizeof exe);
    if (!(env = env_with_pythonpath(libdir)))
        return sieve_errbuf_set(err, SIEVE_ENOMEM, "out of memory");
    if (pipe2(fds, O_CLOEXEC) < 0) {
        env_free(env);
        return sieve_errbuf_set(err, SIEVE_EIO, "pipe: %s", strerror(errno));
    }
    pid = fork();
    if (pid < 0) {
        env_free(env);
        close(fds[0]);
        close(fds[1]);
        return sieve_errbuf_set(err, SIEVE_EIO, "fork: %s", strerror(errno));
    }
    if (pid == 0) {
        /* Nothing that allocates: the caller may have threads (a worker's heartbeat). */
        char *const argv[] = {exe, "-B", "-m", "sieve_node.declare", (char *)target, NULL};
        dup2(fds[1], 1);
        execvpe(exe, argv, env);
        dprintf(2, "sieve: cannot run interpreter '%s': %s\n", exe, strerror(errno));
        _exit(127);
    }
    env_free(env);
    close(fds[1]);
    rc = read_all(fds[0], out, &len, clock_mono_ms() + DECLARE_TIMEOUT_MS);
    close(fds[0]);
    if (rc == SIEVE_ETIMEDOUT)
        kill(pid, SIGKILL);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (rc < 0) {
        free(*out);
        *out = NULL;
        return sieve_errbuf_set(err, rc, "interpreter '%s': reading the declaration of '%s': %s",
                                exe, target, sieve_strerror(rc));
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || len == 0) {
        free(*out);
        *out = NULL;
        if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
            return sieve_errbuf_set(err, SIEVE_ENOENT, "interpreter '%s' cannot be run", exe);
        return sieve_errbuf_set(err, SIEVE_ENOENT,
                                "interpreter '%s' could not read the declaration of '%s' (is "
                                "sieve_node in '%s'?)",
                                exe, target, libdir);
    }
    return 0;
}

/* ---- the descriptor ----------------------------------------------------------------------- */

static const char *
str_of(json_t *o, const char *key, const char *def)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : def;
}

static int
type_of(const char *name)
{
    static const char *const names[] = {"int", "float", "string", "bool", "enum", "list"};
    static const int types[] = {SIEVE_PARAM_INT,  SIEVE_PARAM_FLOAT, SIEVE_PARAM_STRING,
                                SIEVE_PARAM_BOOL, SIEVE_PARAM_ENUM,  SIEVE_PARAM_LIST};
    for (size_t i = 0; name && i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(name, names[i]))
            return types[i];
    return 0;
}

static int
ports_build(json_t *arr, struct sieve_port **out, uint32_t *n)
{
    size_t i;
    json_t *v;
    *n = (uint32_t)json_array_size(arr);
    *out = calloc(*n + 1, sizeof **out);
    if (!*out)
        return SIEVE_ENOMEM;
    json_array_foreach(arr, i, v)
    {
        (*out)[i].name = str_of(v, "name", "");
        (*out)[i].doc = str_of(v, "doc", "");
        (*out)[i].flags = json_is_true(json_object_get(v, "optional")) ? SIEVE_PORT_OPTIONAL : 0;
    }
    return 0;
}

static int
params_build(struct host_script *s, json_t *arr)
{
    size_t n = json_array_size(arr), n_choices = 0, i, k = 0;
    json_t *v;

    json_array_foreach(arr, i, v) n_choices += json_array_size(json_object_get(v, "choices")) + 1;
    s->params = calloc(n + N_BRIDGE_PARAMS, sizeof *s->params);
    s->choices = calloc(n_choices + 1, sizeof *s->choices);
    if (!s->params || !s->choices)
        return SIEVE_ENOMEM;
    memcpy(s->params, bridge_params, sizeof bridge_params);
    json_array_foreach(arr, i, v)
    {
        struct sieve_param *row = &s->params[N_BRIDGE_PARAMS + i];
        json_t *ch = json_object_get(v, "choices"), *c;
        size_t j;
        row->name = str_of(v, "name", "");
        row->type = (uint32_t)type_of(str_of(v, "type", ""));
        row->doc = str_of(v, "doc", "");
        row->def = str_of(v, "default", NULL);
        row->item_type = (uint32_t)type_of(str_of(v, "item_type", ""));
        if (json_is_number(json_object_get(v, "min"))) {
            row->min = json_number_value(json_object_get(v, "min"));
            row->flags |= SIEVE_PARAM_HAS_MIN;
        }
        if (json_is_number(json_object_get(v, "max"))) {
            row->max = json_number_value(json_object_get(v, "max"));
            row->flags |= SIEVE_PARAM_HAS_MAX;
        }
        if (json_is_true(json_object_get(v, "required")))
            row->flags |= SIEVE_PARAM_REQUIRED;
        if (json_is_true(json_object_get(v, "no_key")))
            row->flags |= SIEVE_PARAM_NO_KEY;
        if (json_array_size(ch)) {
            row->choices = &s->choices[k];
            json_array_foreach(ch, j, c) s->choices[k++] = json_string_value(c);
            s->choices[k++] = NULL;
        }
    }
    s->desc.params = s->params;
    s->desc.n_params = (uint32_t)(n + N_BRIDGE_PARAMS);
    return 0;
}

static int
script_build(const struct host_plugin *bridge, json_t *decl, struct host_script **out,
             struct sieve_errbuf *err)
{
    struct host_script *s = calloc(1, sizeof *s);
    json_t *flags = json_object_get(decl, "flags"), *rows = json_object_get(decl, "row_fields"), *v;
    const char *version = str_of(decl, "version", ""), *sha = str_of(decl, "sha256", "");
    size_t i, vlen = strlen(version) + 32;
    int rc = SIEVE_ENOMEM;

    *out = NULL;
    if (!s)
        goto fail;
    s->decl = json_incref(decl);
    snprintf(s->sha, sizeof s->sha, "%s", sha);
    if (!(s->version = malloc(vlen)))
        goto fail;
    snprintf(s->version, vlen, "%s+sha256.%.16s", version, sha);
    s->desc = *bridge->desc;
    s->desc.struct_size = (uint32_t)sizeof s->desc;
    s->desc.version = s->version;
    s->desc.summary = str_of(decl, "summary", "");
    s->desc.flags =
        (json_is_true(json_object_get(flags, "device")) ? SIEVE_PLUGIN_NEEDS_DEVICE : 0) |
        (json_is_true(json_object_get(flags, "reduce")) ? SIEVE_PLUGIN_REDUCE : 0) |
        (json_is_true(json_object_get(flags, "deterministic")) ? SIEVE_PLUGIN_DETERMINISTIC : 0);
    if (ports_build(json_object_get(decl, "inputs"), &s->inputs, &s->desc.n_inputs) < 0 ||
        ports_build(json_object_get(decl, "outputs"), &s->outputs, &s->desc.n_outputs) < 0 ||
        params_build(s, json_object_get(decl, "params")) < 0)
        goto fail;
    s->desc.inputs = s->inputs;
    s->desc.outputs = s->outputs;
    if (!(s->row_fields = calloc(json_array_size(rows) + 1, sizeof *s->row_fields)))
        goto fail;
    json_array_foreach(rows, i, v) s->row_fields[i] = json_string_value(v);
    s->desc.row_fields = json_array_size(rows) ? s->row_fields : NULL;
    if ((rc = host_descriptor_check(str_of(decl, "file", "script"), HOST_SCRIPT_BRIDGE, &s->desc,
                                    err)) < 0)
        goto fail;
    *out = s;
    return 0;
fail:
    host_script_release(s);
    if (rc == SIEVE_ENOMEM)
        sieve_errbuf_set(err, rc, "out of memory");
    return rc;
}

/* Copies target without a pin suffix into buf. */
static void
unpinned(const char *target, char *buf, size_t cap)
{
    const char *pin = strstr(target, HOST_SCRIPT_PIN);
    snprintf(buf, cap, "%.*s", (int)(pin ? (size_t)(pin - target) : strlen(target)), target);
}

int
host_script_open(const struct host_plugin *bridge, const char *python, const char *target,
                 struct host_plugin **out, char **pinned, struct host_script_where *where,
                 struct sieve_errbuf *err)
{
    char libdir[1024], bare[2048], *text = NULL;
    json_error_t jerr;
    json_t *decl = NULL;
    struct host_script *s = NULL;
    struct host_plugin *p = NULL;
    int rc;

    *out = NULL;
    if (pinned)
        *pinned = NULL;
    memset(where, 0, sizeof *where);
    unpinned(target, bare, sizeof bare);
    snprintf(where->file, sizeof where->file, "%s", bare);
    host_script_lib_dir(bridge->path, libdir, sizeof libdir);
    if ((rc = run_declare(python, libdir, bare, &text, err)) < 0)
        return rc;
    decl = json_loads(text, 0, &jerr);
    free(text);
    if (!json_is_object(decl)) {
        json_decref(decl);
        return sieve_errbuf_set(err, SIEVE_EPROTO, "declaration helper: malformed reply (%s)",
                                jerr.text);
    }
    snprintf(where->file, sizeof where->file, "%s", str_of(decl, "file", bare));
    if (!json_is_true(json_object_get(decl, "ok"))) {
        where->line = (unsigned)json_integer_value(json_object_get(decl, "line"));
        where->col = (unsigned)json_integer_value(json_object_get(decl, "col"));
        rc = sieve_errbuf_set(err, SIEVE_ESPEC, "%s", str_of(decl, "message", "bad script"));
        goto fail;
    }
    if ((rc = script_build(bridge, decl, &s, err)) < 0)
        goto fail;
    if (!(p = calloc(1, sizeof *p)) || !(p->name = strdup(bridge->name)) ||
        !(p->path = strdup(bridge->path))) {
        rc = sieve_errbuf_set(err, SIEVE_ENOMEM, "out of memory");
        goto fail;
    }
    if (pinned) {
        const char *cls = strchr(bare, ':') ? strrchr(bare, ':') : NULL;
        size_t n = strlen(where->file) + (cls ? strlen(cls) : 0) + sizeof HOST_SCRIPT_PIN + 65;
        if (!(*pinned = malloc(n))) {
            rc = sieve_errbuf_set(err, SIEVE_ENOMEM, "out of memory");
            goto fail;
        }
        snprintf(*pinned, n, "%s%s%s%s", where->file, cls ? cls : "", HOST_SCRIPT_PIN, s->sha);
    }
    p->desc = &s->desc;
    p->script = s;
    json_decref(decl);
    *out = p;
    return 0;
fail:
    if (p) {
        free(p->name);
        free(p->path);
        free(p);
    }
    host_script_release(s);
    json_decref(decl);
    return rc;
}

int
host_script_pin_check(const struct host_plugin *p, const char *pinned, struct sieve_errbuf *err)
{
    const char *pin = strstr(pinned, HOST_SCRIPT_PIN);
    if (!p->script || !pin)
        return 0;
    if (strcmp(pin + strlen(HOST_SCRIPT_PIN), p->script->sha) != 0)
        return sieve_errbuf_set(err, SIEVE_EBADINPUT,
                                "script '%.*s' changed since the run was planned (plan it again)",
                                (int)(pin - pinned), pinned);
    return 0;
}
