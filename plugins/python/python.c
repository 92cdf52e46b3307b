/*
 * python.c - the `python` plugin: runs a researcher's Python node script in a long-lived
 * interpreter per worker slot (docs/python-nodes.md).
 *
 * The host gives each script node a descriptor synthesized from the script's declaration
 * (core/host/host.h, "Script nodes"): its ports, its parameters after this plugin's own two
 * (`script`, `python`), and this plugin's callbacks. So init receives values in that order
 * and sends the declared ones positionally; the Python side (sieve_node/serve.py) pairs them
 * with the names of the same declaration.
 *
 * Processes: one interpreter per configured `python` in this worker process, started on the
 * first task that needs it (with the worker's environment, so the slot's
 * CUDA_VISIBLE_DEVICES), kept until the worker exits. A state (one per parameter set) loads its
 * instance lazily in the running interpreter; an interpreter that died is started again on the
 * next task and every state reloads into it. A child gets SIGKILL when the worker dies
 * (PR_SET_PDEATHSIG), so a stalled task whose worker the scheduler kills leaves nothing behind.
 *
 * Wire: newline-delimited JSON, requests on the child's fd 3, replies on its fd 4; its stdout
 * and stderr come back on a third pipe and are copied into the running task's log (fd 2 of the
 * worker while a task runs). Inputs are passed as the paths of the objects the store already
 * holds (the worker sets metadata `sieve.path` on each input bundle of a script node); a bundle
 * without one (sieve apply) is written to the scratch directory first. Outputs are written by
 * Python to scratch paths and read back here with full checks before they enter the output
 * bundle, so a malformed file fails the task instead of reaching the store.
 *
 * Liveness: every host call (progress, log, the cancellation question) is activity in the
 * scheduler's eyes, and this plugin makes one only when the script does, so a hung
 * interpreter is a stalled task: the scheduler kills the worker, the child dies with it, and
 * the task is retried. An interpreter that exits or crashes mid-task is SIEVE_ETRANSIENT.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <dlfcn.h>
#include <unistd.h>

#include <sieve/plugin.h>

#include "../common/json_lite.h"
#include "st_file.h"

enum { P_SCRIPT, P_PYTHON, P_FIRST_DECLARED };
static const struct sieve_param params[] = {
    [P_SCRIPT] = {.name = "script",
                  .type = SIEVE_PARAM_STRING,
                  .doc = "the node script: path.py (relative to the pipeline file), "
                         "path.py:Class or package.module:Class; its content hash is part of "
                         "the version",
                  .flags = SIEVE_PARAM_REQUIRED | SIEVE_PARAM_NO_KEY},
    [P_PYTHON] = {.name = "python",
                  .type = SIEVE_PARAM_STRING,
                  .doc = "interpreter: a command on PATH, a path, or a venv/conda directory "
                         "(its bin/python)",
                  .def = "python3",
                  .flags = SIEVE_PARAM_NO_KEY},
};

#define PIN "#sha256="

struct interp {
    char *python;
    pid_t pid;           /* 0: not running */
    int req, reply, out; /* our ends: requests, replies, the child's stdout+stderr */
    unsigned long generation;
    char *buf; /* unread reply bytes */
    size_t len, cap;
    char *last; /* the line that finished the last request */
};

static struct interp **interps;
static size_t n_interps;
static unsigned long next_id;

struct state {
    struct interp *ip;
    unsigned long id, loaded_gen;
    char *file, *cls, *sha;
    char *values; /* the declared parameters as a JSON array */
    /* From the load reply: the script's own declaration, which the host's synthesized
     * descriptor was made from (the pinned hash makes them the same file). */
    uint32_t n_inputs, n_outputs;
    char **out_names;
};

/* ---- small JSON writing --------------------------------------------------------------- */

static void
write_value(FILE *f, const struct sieve_value *v)
{
    switch (v->type) {
    case SIEVE_PARAM_INT:
        fprintf(f, "%lld", (long long)v->i);
        break;
    case SIEVE_PARAM_FLOAT: {
        /* Shortest text that reads back as the same double, and a float in Python ("3.0"). */
        char num[40];
        for (int prec = 1; prec <= 17; prec++) {
            snprintf(num, sizeof num, "%.*g", prec, v->f);
            if (strtod(num, NULL) == v->f)
                break;
        }
        fputs(num, f);
        if (!strpbrk(num, ".eEn"))
            fputs(".0", f);
        break;
    }
    case SIEVE_PARAM_BOOL:
        fputs(v->i ? "true" : "false", f);
        break;
    case SIEVE_PARAM_LIST:
        fputc('[', f);
        for (size_t i = 0; i < v->n; i++) {
            fputs(i ? "," : "", f);
            write_value(f, &v->items[i]);
        }
        fputc(']', f);
        break;
    default:
        json_write_string(f, v->s ? v->s : "");
    }
}

/* ---- interpreters --------------------------------------------------------------------- */

static void
lib_dir(char *buf, size_t cap)
{
    Dl_info info;
    const char *env = getenv("SIEVE_PYTHON_LIB");
    if (env && env[0]) {
        snprintf(buf, cap, "%s", env);
        return;
    }
    if (dladdr((void *)lib_dir, &info) && info.dli_fname && strrchr(info.dli_fname, '/'))
        snprintf(buf, cap, "%.*s/python-lib", (int)(strrchr(info.dli_fname, '/') - info.dli_fname),
                 info.dli_fname);
    else
        snprintf(buf, cap, "python-lib");
}

static void
interp_stop(struct interp *ip)
{
    if (ip->pid > 0) {
        close(ip->req);
        kill(ip->pid, SIGKILL);
        while (waitpid(ip->pid, NULL, 0) < 0 && errno == EINTR)
            ;
        close(ip->reply);
        close(ip->out);
    }
    ip->pid = 0;
    ip->len = 0;
}

/* Copies what the child printed into this process's stderr (the task log). */
static void
forward_output(struct interp *ip)
{
    char buf[4096];
    for (;;) {
        ssize_t k = read(ip->out, buf, sizeof buf);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return;
        fflush(stderr);
        for (ssize_t off = 0; off < k;) {
            ssize_t w = write(2, buf + off, (size_t)(k - off));
            if (w <= 0)
                break;
            off += w;
        }
    }
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

static int
interp_start(struct interp *ip, struct sieve_errbuf *err)
{
    int req[2], rep[2], out[2];
    char exe[1024], lib[1024], **env;
    struct stat st;

    if (stat(ip->python, &st) == 0 && S_ISDIR(st.st_mode))
        snprintf(exe, sizeof exe, "%s/bin/python", ip->python);
    else
        snprintf(exe, sizeof exe, "%s", ip->python);
    lib_dir(lib, sizeof lib);
    if (!(env = env_with_pythonpath(lib)))
        return sieve_errbuf_set(err, SIEVE_ENOMEM, "out of memory");
    if (pipe2(req, O_CLOEXEC) < 0)
        goto fail_req;
    if (pipe2(rep, O_CLOEXEC) < 0)
        goto fail_rep;
    if (pipe2(out, O_CLOEXEC) < 0)
        goto fail_out;
    pid_t pid = fork();
    if (pid < 0)
        goto fail_fork;
    if (pid == 0) {
        /* Nothing that allocates in a forked child of a threaded process (the worker has a
         * heartbeat thread): the environment was built before the fork. */
        char *const argv[] = {exe, "-B", "-u", "-m", "sieve_node.serve", NULL};
        struct rlimit rl;
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(req[0], 3);
        dup2(rep[1], 4);
        dup2(out[1], 1);
        dup2(out[1], 2);
        if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur > 65536)
            rl.rlim_cur = 65536;
        for (int fd = 5; fd < (int)rl.rlim_cur; fd++)
            close(fd);
        execvpe(exe, argv, env);
        dprintf(2, "sieve python: cannot run interpreter '%s': %s\n", exe, strerror(errno));
        _exit(127);
    }
    env_free(env);
    close(req[0]);
    close(rep[1]);
    close(out[1]);
    fcntl(out[0], F_SETFL, fcntl(out[0], F_GETFL) | O_NONBLOCK);
    ip->pid = pid;
    ip->req = req[1];
    ip->reply = rep[0];
    ip->out = out[0];
    ip->len = 0;
    ip->generation++;
    return 0;

fail_fork:
    close(out[0]);
    close(out[1]);
fail_out:
    close(rep[0]);
    close(rep[1]);
fail_rep:
    close(req[0]);
    close(req[1]);
fail_req:
    env_free(env);
    return sieve_errbuf_set(err, SIEVE_ETRANSIENT, "start interpreter '%s': %s", exe,
                            strerror(errno));
}

static struct interp *
interp_find(const char *python)
{
    for (size_t i = 0; i < n_interps; i++)
        if (!strcmp(interps[i]->python, python))
            return interps[i];
    struct interp **grown = realloc(interps, (n_interps + 1) * sizeof *interps);
    if (!grown)
        return NULL;
    interps = grown;
    struct interp *ip = calloc(1, sizeof *ip);
    if (!ip || !(ip->python = strdup(python))) {
        free(ip);
        return NULL;
    }
    interps[n_interps++] = ip;
    return ip;
}

/* The interpreter went away mid-request: reap it and say how it ended. */
static int
interp_lost(struct interp *ip, const char *what, struct sieve_errbuf *err)
{
    int status = 0;
    pid_t pid = ip->pid;
    forward_output(ip);
    close(ip->req);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    close(ip->reply);
    close(ip->out);
    ip->pid = 0;
    ip->len = 0;
    if (WIFSIGNALED(status))
        return sieve_errbuf_set(err, SIEVE_ETRANSIENT,
                                "python interpreter '%s' (pid %d) killed by signal %d during %s; "
                                "it restarts for the next try",
                                ip->python, (int)pid, WTERMSIG(status), what);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
        return sieve_errbuf_set(err, SIEVE_EINTERNAL, "python interpreter '%s' cannot be run",
                                ip->python);
    return sieve_errbuf_set(err, SIEVE_ETRANSIENT,
                            "python interpreter '%s' (pid %d) exited with status %d during %s; "
                            "it restarts for the next try",
                            ip->python, (int)pid, WIFEXITED(status) ? WEXITSTATUS(status) : -1,
                            what);
}

static int
send_line(struct interp *ip, const char *line, size_t len)
{
    while (len > 0) {
        ssize_t w = write(ip->req, line, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        line += w;
        len -= (size_t)w;
    }
    return 0;
}

static int
error_code(const char *cls)
{
    if (!strcmp(cls, "badinput"))
        return SIEVE_EBADINPUT;
    if (!strcmp(cls, "nomem"))
        return SIEVE_ENOMEM;
    if (!strcmp(cls, "device"))
        return SIEVE_EDEVICE;
    if (!strcmp(cls, "transient"))
        return SIEVE_ETRANSIENT;
    if (!strcmp(cls, "cancelled"))
        return SIEVE_ECANCELED;
    return SIEVE_EINTERNAL;
}

/*
 * Handles one reply line. Returns 1 when the request is finished (0 or an error code in
 * *rc), 0 to keep waiting.
 */
static int
handle_reply(struct interp *ip, const struct sieve_host *h, const struct sieve_ctx *ctx,
             const char *line, const char *end, int *rc, struct sieve_errbuf *err)
{
    char op[32], text[2048];
    const char *v;
    if (json_object_find(line, end, "op", &v) < 0 || json_value_text(v, end, op, sizeof op) < 0) {
        *rc = sieve_errbuf_set(err, SIEVE_EINTERNAL, "python node: malformed reply '%.80s'", line);
        return 1;
    }
    if (!strcmp(op, "done")) {
        *rc = 0;
        return 1;
    }
    if (!strcmp(op, "error")) {
        char cls[32] = "internal";
        if (json_object_find(line, end, "class", &v) == 0)
            json_value_text(v, end, cls, sizeof cls);
        text[0] = '\0';
        if (json_object_find(line, end, "message", &v) == 0)
            json_value_text(v, end, text, sizeof text);
        *rc = sieve_errbuf_set(err, error_code(cls), "%s", text[0] ? text : "python node failed");
        return 1;
    }
    if (!strcmp(op, "progress") && ctx && json_object_find(line, end, "value", &v) == 0) {
        h->progress(ctx, strtod(v, NULL));
    } else if (!strcmp(op, "log") && h && json_object_find(line, end, "text", &v) == 0) {
        const char *lv;
        int level = SIEVE_LOG_INFO;
        json_value_text(v, end, text, sizeof text);
        if (json_object_find(line, end, "level", &lv) == 0)
            level = (int)strtol(lv, NULL, 10);
        h->log(ctx, level, "%s", text);
    } else if (!strcmp(op, "cancelled?")) {
        int c = ctx ? h->cancelled(ctx) : 0;
        const char *answer =
            c ? "{\"op\":\"cancel\",\"value\":true}\n" : "{\"op\":\"cancel\",\"value\":false}\n";
        if (send_line(ip, answer, strlen(answer)) < 0) {
            *rc = interp_lost(ip, "a task", err);
            return 1;
        }
    }
    return 0;
}

/*
 * Sends one request line and serves the child until it answers done or error. While it
 * waits it copies the child's output into the task log; it never calls the host on its own,
 * so the scheduler's stall check sees a silent script as stalled.
 */
static int
request(struct interp *ip, const struct sieve_host *h, const struct sieve_ctx *ctx,
        const char *line, size_t len, const char *what, struct sieve_errbuf *err)
{
    int rc = 0;
    forward_output(ip);
    if (send_line(ip, line, len) < 0)
        return interp_lost(ip, what, err);
    for (;;) {
        char *nl;
        while ((nl = ip->len ? memchr(ip->buf, '\n', ip->len) : NULL)) {
            size_t n = (size_t)(nl - ip->buf) + 1;
            *nl = '\0';
            int finished = handle_reply(ip, h, ctx, ip->buf, nl, &rc, err);
            if (ip->pid == 0)
                return rc; /* lost while answering */
            if (finished) {
                free(ip->last);
                ip->last = strdup(ip->buf);
            }
            memmove(ip->buf, ip->buf + n, ip->len - n);
            ip->len -= n;
            if (finished) {
                forward_output(ip);
                return rc;
            }
        }
        struct pollfd p[2] = {{.fd = ip->reply, .events = POLLIN},
                              {.fd = ip->out, .events = POLLIN}};
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            return sieve_errbuf_set(err, SIEVE_EINTERNAL, "poll: %s", strerror(errno));
        }
        if (p[1].revents & (POLLIN | POLLHUP))
            forward_output(ip);
        if (!(p[0].revents & (POLLIN | POLLHUP | POLLERR)))
            continue;
        if (ip->len + 4096 > ip->cap) {
            size_t cap = ip->cap ? ip->cap * 2 : 65536;
            char *b = realloc(ip->buf, cap);
            if (!b)
                return sieve_errbuf_set(err, SIEVE_ENOMEM, "python node: out of memory");
            ip->buf = b;
            ip->cap = cap;
        }
        ssize_t k = read(ip->reply, ip->buf + ip->len, ip->cap - ip->len - 1);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return interp_lost(ip, what, err);
        ip->len += (size_t)k;
    }
}

/* Frees every interpreter when the plugin is unloaded (the worker's registry is freed last). */
__attribute__((destructor)) static void
interps_release(void)
{
    for (size_t i = 0; i < n_interps; i++) {
        interp_stop(interps[i]);
        free(interps[i]->python);
        free(interps[i]->buf);
        free(interps[i]->last);
        free(interps[i]);
    }
    free(interps);
    interps = NULL;
    n_interps = 0;
}

/* ---- callbacks ------------------------------------------------------------------------ */

static void
state_free(void *p)
{
    struct state *s = p;
    if (!s)
        return;
    if (s->ip && s->ip->pid > 0 && s->loaded_gen == s->ip->generation) {
        char line[96];
        struct sieve_errbuf err;
        int n = snprintf(line, sizeof line, "{\"op\":\"unload\",\"id\":%lu}\n", s->id);
        request(s->ip, NULL, NULL, line, (size_t)n, "unload", &err);
    }
    free(s->file);
    free(s->cls);
    free(s->sha);
    free(s->values);
    for (uint32_t o = 0; s->out_names && o < s->n_outputs; o++)
        free(s->out_names[o]);
    free(s->out_names);
    free(s);
}

static int
py_init(const struct sieve_host *host, const struct sieve_value *v, void **out,
        struct sieve_errbuf *err)
{
    (void)host;
    struct state *s = calloc(1, sizeof *s);
    const char *target = v[P_SCRIPT].s, *pin = strstr(target, PIN), *colon;
    size_t flen, vlen = 0;
    FILE *f;

    *out = NULL;
    if (!s)
        return sieve_errbuf_set(err, SIEVE_ENOMEM, "out of memory");
    flen = pin ? (size_t)(pin - target) : strlen(target);
    colon = memrchr(target, ':', flen);
    if (colon && strchr(colon, '/'))
        colon = NULL;
    s->file = strndup(target, colon ? (size_t)(colon - target) : flen);
    s->cls = colon ? strndup(colon + 1, flen - (size_t)(colon + 1 - target)) : strdup("");
    s->sha = strdup(pin ? pin + strlen(PIN) : "");
    s->ip = interp_find(v[P_PYTHON].s);
    s->id = ++next_id;
    if (!s->file || !s->cls || !s->sha || !s->ip || !(f = open_memstream(&s->values, &vlen))) {
        state_free(s);
        return sieve_errbuf_set(err, SIEVE_ENOMEM, "out of memory");
    }
    /* The synthesized descriptor's values follow the bridge's two; the host sized the array. */
    fputc('[', f);
    for (const struct sieve_value *p = v + P_FIRST_DECLARED; p->type != 0; p++) {
        fputs(p == v + P_FIRST_DECLARED ? "" : ",", f);
        write_value(f, p);
    }
    fputc(']', f);
    fclose(f);
    *out = s;
    return 0;
}

/* Reads {"n_inputs": N, "outputs": "a,b"} from a load reply into the state. */
static int
ports_from_reply(struct state *s, const char *line, struct sieve_errbuf *err)
{
    const char *end = line ? line + strlen(line) : NULL, *v;
    char names[4096];
    if (!line || json_object_find(line, end, "n_inputs", &v) < 0)
        return sieve_errbuf_set(err, SIEVE_EINTERNAL, "python node: load reply without ports");
    s->n_inputs = (uint32_t)strtoul(v, NULL, 10);
    if (json_object_find(line, end, "outputs", &v) < 0 ||
        json_value_text(v, end, names, sizeof names) < 0 || !names[0])
        return sieve_errbuf_set(err, SIEVE_EINTERNAL, "python node: load reply without ports");
    for (uint32_t o = 0; s->out_names && o < s->n_outputs; o++)
        free(s->out_names[o]);
    free(s->out_names);
    s->n_outputs = 1;
    for (const char *c = names; *c; c++)
        s->n_outputs += *c == ',';
    if (!(s->out_names = calloc(s->n_outputs, sizeof *s->out_names)))
        return sieve_errbuf_set(err, SIEVE_ENOMEM, "out of memory");
    char *save = NULL, *tok = strtok_r(names, ",", &save);
    for (uint32_t o = 0; o < s->n_outputs; o++, tok = strtok_r(NULL, ",", &save))
        if (!(s->out_names[o] = strdup(tok ? tok : "")))
            return sieve_errbuf_set(err, SIEVE_ENOMEM, "out of memory");
    return 0;
}

/* Starts the interpreter if needed and loads this state's instance into it. */
static int
ensure_loaded(struct state *s, const struct sieve_host *h, const struct sieve_ctx *ctx,
              struct sieve_errbuf *err)
{
    char *line = NULL;
    size_t len = 0;
    FILE *f;
    int rc;

    if (s->ip->pid == 0 && (rc = interp_start(s->ip, err)) < 0)
        return rc;
    if (s->loaded_gen == s->ip->generation)
        return 0;
    if (!(f = open_memstream(&line, &len)))
        return sieve_errbuf_set(err, SIEVE_ENOMEM, "out of memory");
    fprintf(f, "{\"op\":\"load\",\"id\":%lu,\"file\":", s->id);
    json_write_string(f, s->file);
    fputs(",\"class\":", f);
    json_write_string(f, s->cls);
    fputs(",\"sha256\":", f);
    json_write_string(f, s->sha);
    fputs(",\"device\":", f);
    json_write_string(f, ctx->device ? ctx->device : "cpu");
    fprintf(f, ",\"values\":%s}\n", s->values);
    fclose(f);
    rc = request(s->ip, h, ctx, line, len, "load", err);
    free(line);
    if (rc == 0)
        rc = ports_from_reply(s, s->ip->last, err);
    if (rc == 0)
        s->loaded_gen = s->ip->generation;
    return rc;
}

/*
 * The path Python reads input `b` from: the store object it came from, or a copy written to
 * the scratch directory when the bundle has none.
 */
static int
input_path(const struct sieve_host *h, const struct sieve_ctx *ctx, const struct sieve_bundle *b,
           size_t k, char *buf, size_t cap, struct sieve_errbuf *err)
{
    const char *src = h->meta_get(b, "sieve.path");
    if (src && src[0]) {
        snprintf(buf, cap, "%s", src);
        return 0;
    }
    snprintf(buf, cap, "%s/in-%zu.safetensors", ctx->scratch_dir ? ctx->scratch_dir : "/tmp", k);
    return st_file_write(h, b, buf, err);
}

static int
py_process(void *state, const struct sieve_ctx *ctx, const struct sieve_bundle *const *in,
           struct sieve_bundle *const *out, struct sieve_errbuf *err)
{
    struct state *s = state;
    const struct sieve_host *h = ctx->host;
    char *line = NULL, path[4096];
    size_t len = 0;
    FILE *f;
    int rc;

    if ((rc = ensure_loaded(s, h, ctx, err)) < 0)
        goto done;
    if (!(f = open_memstream(&line, &len))) {
        rc = sieve_errbuf_set(err, SIEVE_ENOMEM, "out of memory");
        goto done;
    }
    fprintf(f, "{\"op\":\"run\",\"id\":%lu,\"task\":", s->id);
    json_write_string(f, ctx->task_id ? ctx->task_id : "");
    fputs(",\"device\":", f);
    json_write_string(f, ctx->device ? ctx->device : "cpu");
    fputs(",\"scratch\":", f);
    json_write_string(f, ctx->scratch_dir ? ctx->scratch_dir : "");
    fputs(",\"samples\":[", f);
    for (uint32_t i = 0; i < ctx->n_samples; i++) {
        const struct sieve_sample *sm = &ctx->samples[i];
        fputs(i ? ",{\"id\":" : "{\"id\":", f);
        json_write_string(f, sm->id ? sm->id : "");
        fputs(",\"media\":", f);
        json_write_string(f, sm->media ? sm->media : "");
        fputs(",\"category\":", f);
        if (sm->category)
            json_write_string(f, sm->category);
        else
            fputs("null", f);
        fputs(",\"fields\":", f);
        json_write_string(f, sm->fields_json ? sm->fields_json : "{}");
        fputc('}', f);
    }
    fputs("],\"inputs\":[", f);
    uint32_t per = s->n_inputs;
    for (uint32_t i = 0; i < ctx->n_samples; i++) {
        fputs(i ? ",[" : "[", f);
        for (uint32_t k = 0; k < per; k++) {
            const struct sieve_bundle *b = in[i * per + k];
            fputs(k ? "," : "", f);
            if (!b) {
                fputs("null", f);
                continue;
            }
            if ((rc = input_path(h, ctx, b, i * per + k, path, sizeof path, err)) < 0) {
                fclose(f);
                goto done;
            }
            json_write_string(f, path);
        }
        fputc(']', f);
    }
    fputs("],\"outputs\":{", f);
    for (uint32_t o = 0; o < s->n_outputs; o++) {
        snprintf(path, sizeof path, "%s/out-%u.safetensors",
                 ctx->scratch_dir ? ctx->scratch_dir : "/tmp", o);
        unlink(path);
        fputs(o ? "," : "", f);
        json_write_string(f, s->out_names[o]);
        fputc(':', f);
        json_write_string(f, path);
    }
    fputs("}}\n", f);
    fclose(f);
    rc = request(s->ip, h, ctx, line, len, "a task", err);
    if (rc == SIEVE_EDEVICE)
        interp_stop(s->ip); /* a CUDA context after a device error is not to be trusted */
    for (uint32_t o = 0; rc == 0 && o < s->n_outputs; o++) {
        snprintf(path, sizeof path, "%s/out-%u.safetensors",
                 ctx->scratch_dir ? ctx->scratch_dir : "/tmp", o);
        rc = st_file_read(h, out[o], path, s->out_names[o], err);
        unlink(path);
    }
done:
    free(line);
    return rc;
}

static const struct sieve_plugin desc =
    SIEVE_PLUGIN_INIT("python", "1.0.0",
                      "runs a Python node script in a long-lived interpreter per worker slot "
                      "(set `script`; its declaration gives the ports and parameters)",
                      SIEVE_NONE, SIEVE_NONE, params, 0, py_init, py_process, state_free);
SIEVE_PLUGIN_DEFINE(desc)
