/*
 * worker.c - the long-lived worker process (see worker.h): blocking protocol I/O on one fd,
 * plugins loaded once, plugin states cached per (plugin, params), a heartbeat thread.
 */
#define _XOPEN_SOURCE 700 /* nftw */
#include "core/worker/worker.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <sys/prctl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/array.h"
#include "base/bundle.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/fdio.h"
#include "base/hash.h"
#include "core/host/host.h"
#include "core/proto/proto.h"
#include "core/worker/runner.h"

struct state_entry {
    const struct host_plugin *plugin;
    char *key; /* plugin name + '\n' + canonical params */
    struct sieve_value *vals;
    void *state;
    uint64_t tick;
};

struct worker {
    const struct worker_opts *o;
    int fd;
    pthread_mutex_t wlock; /* one writer at a time on fd */
    struct host_registry *reg;
    struct state_entry *cache;
    size_t n_cache, cap_cache;
    uint64_t tick;
    char scratch[512];
    struct timespec scratch_mtime; /* after the last clearing */
    struct sieve_host host;
    int device_index;

    /* Script nodes' plugins (host_script_open), made on first use and kept for the worker's
     * life, so a state's plugin pointer stays valid; keyed by "script\npython". */
    struct host_plugin **scripts;
    char **script_keys;
    size_t n_scripts, cap_scripts, cap_script_keys;

    /* What a result message points to: kept here, reused task after task, because a message
     * built for sending only borrows (proto.h). */
    struct proto_artifact *arts;
    char (*hex)[HASH_HEX_LEN];
    size_t cap_arts, cap_hex;
    char *metrics;

    /* heartbeat thread */
    pthread_t hb;
    pthread_mutex_t hlock;
    pthread_cond_t hcond;
    int hb_started, stop;
    char task_id[512]; /* "" while idle */
    double progress;
    /* Bumped by every host call of the running plugin (progress, log, cancellation checks,
     * new tensors and metadata) and read by the heartbeat thread: a count that stops moving
     * while heartbeats go on is a plugin stuck inside its own call. */
    atomic_uint_fast64_t activity;
    /* The running task's log (stdout and stderr of the plugin): its descriptor (-1: none),
     * where this attempt's part starts, and the bytes cut off past WORKER_LOG_MAX. */
    int log_fd;
    off_t log_base;
    uint64_t log_dropped;
};

/* A task's captured output per attempt: a plugin printing in a loop (200 MB per task) would
 * fill the store's disk. The heartbeat thread cuts the log back to this size, so a log
 * overshoots by at most what the plugin writes in one heartbeat interval. */
#define WORKER_LOG_MAX ((off_t)16 << 20)

static volatile sig_atomic_t cancel_flag;
/* SIGUSR1 (a pilot told by Slurm that its time limit nears): finish the running task, then
 * leave; the scheduler moves whatever it had queued behind it. */
static volatile sig_atomic_t drain_flag;

static void
activity_bump(struct worker *w)
{
    if (w)
        atomic_fetch_add_explicit(&w->activity, 1, memory_order_relaxed);
}
static struct worker *the_worker; /* for log calls from init, which have no ctx */

/* A pilot's SIGTERM comes from Slurm (scancel, a node going down, the time limit): the task
 * is not the one that failed, so no result is sent; the closed connection makes the scheduler
 * move it, as for any lost worker. */
static void
on_sigterm_exit(int sig)
{
    (void)sig;
    _exit(0);
}

static void
on_sigusr1(int sig)
{
    (void)sig;
    drain_flag = 1;
}

static void
on_sigterm(int sig)
{
    (void)sig;
    cancel_flag = 1;
}

static int
send_msg(struct worker *w, const struct proto_msg *m)
{
    uint8_t *buf;
    size_t len;
    struct sieve_errbuf err;
    if (proto_encode(m, &buf, &len, &err) < 0) {
        fprintf(stderr, "sieve worker: %s\n", err.msg);
        return -1;
    }
    pthread_mutex_lock(&w->wlock);
    int rc = fd_write_all(w->fd, buf, len);
    pthread_mutex_unlock(&w->wlock);
    free(buf);
    return rc;
}

/* ---- host services offered to plugins ---------------------------------------------------- */

static void
svc_log(const struct sieve_ctx *ctx, int level, const char *fmt, ...)
{
    static const char *names[] = {"debug", "info", "warn", "error"};
    struct worker *w = ctx ? ctx->host_data : the_worker;
    char text[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (level < SIEVE_LOG_DEBUG || level > SIEVE_LOG_ERROR)
        level = SIEVE_LOG_INFO;
    /* fd 2 is the task's log file while a task runs, so the line lands next to raw stderr. */
    fprintf(stderr, "[%s] %s\n", names[level], text);
    fflush(stderr);
    activity_bump(w);
    if (w) {
        struct proto_msg m = {.type = PROTO_LOG, .level = level, .text = text};
        m.task_id = ctx ? ctx->task_id : "";
        send_msg(w, &m);
    }
}

static void
svc_progress(const struct sieve_ctx *ctx, double fraction)
{
    struct worker *w = ctx->host_data;
    activity_bump(w);
    if (!(fraction >= 0.0))
        fraction = 0.0;
    if (fraction > 1.0)
        fraction = 1.0;
    pthread_mutex_lock(&w->hlock);
    w->progress = fraction;
    pthread_mutex_unlock(&w->hlock);
}

static int
svc_cancelled(const struct sieve_ctx *ctx)
{
    activity_bump(ctx ? ctx->host_data : the_worker);
    return cancel_flag != 0;
}

/* The output-producing services count as activity too; the rest of the table is the default
 * one (bundle_host_services). */
static int
svc_tensor_new(struct sieve_bundle *b, const char *name, int32_t dtype, uint32_t ndim,
               const int64_t *shape, struct sieve_tensor **out)
{
    activity_bump(the_worker);
    return bundle_host_services()->tensor_new(b, name, dtype, ndim, shape, out);
}

static int
svc_meta_set(struct sieve_bundle *b, const char *key, const char *value)
{
    activity_bump(the_worker);
    return bundle_host_services()->meta_set(b, key, value);
}

/* ---- heartbeat thread ------------------------------------------------------------------- */

/* Cuts the running task's log back to WORKER_LOG_MAX past its start (w->hlock held). The log
 * is opened O_APPEND, so the plugin's next write lands at the new end. */
static void
log_cap(struct worker *w)
{
    struct stat sb;
    if (w->log_fd < 0 || fstat(w->log_fd, &sb) < 0 || sb.st_size <= w->log_base + WORKER_LOG_MAX)
        return;
    if (ftruncate(w->log_fd, w->log_base + WORKER_LOG_MAX) == 0)
        w->log_dropped += (uint64_t)(sb.st_size - (w->log_base + WORKER_LOG_MAX));
}

static void *
heartbeat_main(void *arg)
{
    struct worker *w = arg;
    int ms = w->o->heartbeat_ms > 0 ? w->o->heartbeat_ms : PROTO_HEARTBEAT_MS;
    pthread_mutex_lock(&w->hlock);
    while (!w->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += ms / 1000;
        ts.tv_nsec += (long)(ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&w->hcond, &w->hlock, &ts);
        if (w->stop)
            continue;
        struct proto_msg m = {
            .type = PROTO_HEARTBEAT,
            .progress = w->progress,
            .activity = (int64_t)atomic_load_explicit(&w->activity, memory_order_relaxed),
        };
        char id[sizeof w->task_id];
        memcpy(id, w->task_id, sizeof id);
        m.task_id = id;
        log_cap(w);
        pthread_mutex_unlock(&w->hlock);
        if (drain_flag == 1) {
            /* Said once, from here: the main thread may be inside a plugin for minutes. */
            struct proto_msg d = {.type = PROTO_DRAIN};
            drain_flag = 2;
            send_msg(w, &d);
        }
        if (send_msg(w, &m) < 0 && w->o->exit_on_term) {
            /* A pilot whose scheduler is gone (the connection reset, or unacknowledged for
             * the TCP user timeout) stops at once, even inside a long task: its result has
             * nowhere to go, and a pilot must not hold its allocation for nothing. */
            fprintf(stderr, "sieve worker: lost the scheduler; exiting\n");
            _exit(1);
        }
        pthread_mutex_lock(&w->hlock);
    }
    pthread_mutex_unlock(&w->hlock);
    return NULL;
}

static void
heartbeat_set(struct worker *w, const char *task_id)
{
    pthread_mutex_lock(&w->hlock);
    w->progress = 0;
    snprintf(w->task_id, sizeof w->task_id, "%s", task_id ? task_id : "");
    pthread_mutex_unlock(&w->hlock);
}

/* ---- plugin states ------------------------------------------------------------------------ */

static void
entry_release(struct state_entry *e)
{
    runner_state_free(e->plugin, e->state);
    host_params_free(e->plugin, e->vals);
    free(e->key);
}

/* Turns the canonical params object into key/text pairs and validates them for `p`. */
static int
params_from_json(const struct host_plugin *p, const char *json, struct sieve_value **vals,
                 struct sieve_errbuf *err)
{
    json_error_t jerr;
    json_t *o = json_loads(json, 0, &jerr);
    if (!o || !json_is_object(o)) {
        json_decref(o);
        return sieve_errbuf_set(err, SIEVE_EINVAL, "params of '%s': not a JSON object", p->name);
    }
    size_t n = json_object_size(o), i = 0;
    const char **keys = calloc(n + 1, sizeof *keys);
    char **texts = calloc(n + 1, sizeof *texts);
    int rc = 0;
    const char *k;
    json_t *v;
    if (!keys || !texts) {
        rc = sieve_errbuf_set(err, SIEVE_ENOMEM, "out of memory");
        goto out;
    }
    json_object_foreach(o, k, v)
    {
        keys[i] = k;
        texts[i] = json_is_string(v) ? strdup(json_string_value(v))
                                     : json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        if (!texts[i]) {
            rc = sieve_errbuf_set(err, SIEVE_ENOMEM, "out of memory");
            goto out;
        }
        i++;
    }
    rc = host_params_build(p, keys, (const char *const *)texts, n, vals, err);
out:
    for (size_t j = 0; texts && j < n; j++)
        free(texts[j]);
    free(texts);
    free(keys);
    json_decref(o);
    return rc;
}

static int
state_get(struct worker *w, const struct host_plugin *p, const char *params,
          struct state_entry **out, int64_t *init_ms, struct sieve_errbuf *err)
{
    size_t klen = strlen(p->name) + strlen(params) + 2;
    char *key = malloc(klen);
    if (!key)
        return sieve_errbuf_set(err, SIEVE_ENOMEM, "out of memory");
    snprintf(key, klen, "%s\n%s", p->name, params);
    for (size_t i = 0; i < w->n_cache; i++) {
        if (w->cache[i].plugin == p && !strcmp(w->cache[i].key, key)) {
            free(key);
            w->cache[i].tick = ++w->tick;
            *out = &w->cache[i];
            return 0;
        }
    }
    int64_t t0 = clock_mono_ms();
    struct state_entry e = {.plugin = p, .key = key};
    int rc = params_from_json(p, params, &e.vals, err);
    if (rc < 0) {
        free(key);
        return rc;
    }
    rc = runner_state_new(p, &w->host, e.vals, &e.state, err);
    if (rc < 0) {
        host_params_free(p, e.vals);
        free(key);
        return sieve_errbuf_prefix(err, rc, "init '%s'", p->name);
    }
    *init_ms = clock_mono_ms() - t0;
    size_t max = w->o->cache_states > 0 ? (size_t)w->o->cache_states : 8;
    size_t slot = w->n_cache;
    if (w->n_cache >= max) {
        slot = 0; /* evict the least recently used state */
        for (size_t i = 1; i < w->n_cache; i++)
            if (w->cache[i].tick < w->cache[slot].tick)
                slot = i;
        entry_release(&w->cache[slot]);
    } else {
        if (array_grow(&w->cache, &w->cap_cache, w->n_cache + 1, sizeof *w->cache) < 0) {
            struct state_entry tmp = e;
            entry_release(&tmp);
            return sieve_errbuf_set(err, SIEVE_ENOMEM, "out of memory");
        }
        w->n_cache++;
    }
    e.tick = ++w->tick;
    w->cache[slot] = e;
    *out = &w->cache[slot];
    return 0;
}

/* ---- script nodes ------------------------------------------------------------------------ */

/*
 * The plugin a script node's task runs under: the descriptor synthesized from the script
 * named in its params (the planner pinned the script's content hash into the value; a file
 * that no longer matches refuses the task rather than compute what the key does not describe).
 */
static int
script_plugin(struct worker *w, const struct host_plugin *bridge, const char *params,
              const struct host_plugin **out, struct sieve_errbuf *err)
{
    json_t *o = json_loads(params, 0, NULL);
    const char *script = json_string_value(json_object_get(o, "script"));
    const char *python = json_string_value(json_object_get(o, "python"));
    struct host_script_where where;
    struct host_plugin *p = NULL;
    char *key = NULL;
    int rc = 0;

    if (!script) {
        rc = sieve_errbuf_set(err, SIEVE_EINVAL, "python node: no 'script' parameter");
        goto out;
    }
    if (!python)
        python = "python3";
    if (!(key = malloc(strlen(script) + strlen(python) + 2))) {
        rc = sieve_errbuf_set(err, SIEVE_ENOMEM, "out of memory");
        goto out;
    }
    sprintf(key, "%s\n%s", script, python);
    for (size_t i = 0; i < w->n_scripts; i++)
        if (!strcmp(w->script_keys[i], key)) {
            *out = w->scripts[i];
            goto out;
        }
    if ((rc = host_script_open(bridge, python, script, &p, NULL, &where, err)) < 0) {
        if (where.line)
            sieve_errbuf_prefix(err, SIEVE_EBADINPUT, "%s:%u:%u", where.file, where.line,
                                where.col);
        rc = rc == SIEVE_ESPEC ? SIEVE_EBADINPUT : rc;
        goto out;
    }
    if ((rc = host_script_pin_check(p, script, err)) < 0 ||
        (rc = array_grow(&w->scripts, &w->cap_scripts, w->n_scripts + 1, sizeof *w->scripts)) <
            0 ||
        (rc = array_grow(&w->script_keys, &w->cap_script_keys, w->n_scripts + 1,
                         sizeof *w->script_keys)) < 0) {
        if (rc == SIEVE_ENOMEM)
            sieve_errbuf_set(err, rc, "out of memory");
        host_plugin_free(p);
        goto out;
    }
    w->scripts[w->n_scripts] = p;
    w->script_keys[w->n_scripts++] = key;
    key = NULL;
    *out = p;
out:
    free(key);
    json_decref(o);
    return rc;
}

/* ---- one task ------------------------------------------------------------------------------ */

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    if (ftw->level > 0)
        remove(path);
    return 0;
}

/* Empties the scratch directory; a stat shows whether the task touched it at all (most
 * plugins never do), which saves walking it after every task. */
static void
scratch_clear(struct worker *w)
{
    struct stat sb;
    if (!w->scratch[0])
        return;
    if (stat(w->scratch, &sb) == 0 && sb.st_mtim.tv_sec == w->scratch_mtime.tv_sec &&
        sb.st_mtim.tv_nsec == w->scratch_mtime.tv_nsec && sb.st_nlink == 2)
        return;
    nftw(w->scratch, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    if (stat(w->scratch, &sb) == 0)
        w->scratch_mtime = sb.st_mtim;
}

/* Runs the task described by `m` and fills the result fields of `r` (status, message, ...). */
static void
run_task(struct worker *w, const struct proto_msg *m, struct proto_msg *r, char *msg, size_t cap)
{
    struct sieve_errbuf err = {{0}};
    const struct host_plugin *p = host_registry_find(w->reg, m->plugin);
    struct bundle **in = NULL, **out = NULL;
    struct sieve_sample *samples = NULL;
    int rc = 0;
    int64_t t0;

    if (!strcmp(m->fault, "error")) {
        rc = sieve_errbuf_set(&err, SIEVE_EDEVICE, "device '%s': injected device error",
                              w->o->device);
        goto done;
    }
    if (!strcmp(m->fault, "crash"))
        raise(SIGKILL);
    if (!p) {
        rc = sieve_errbuf_set(&err, SIEVE_ENOENT, "plugin '%s' not found by the worker", m->plugin);
        goto done;
    }
    if (host_plugin_is_script_bridge(p) && (rc = script_plugin(w, p, m->params, &p, &err)) < 0)
        goto done;
    const struct sieve_plugin *d = p->desc;
    struct state_entry *se = NULL;
    if ((rc = state_get(w, p, m->params, &se, &r->init_ms, &err)) < 0)
        goto done;

    in = calloc(m->n_inputs + 1, sizeof *in);
    out = calloc(m->n_outputs + 1, sizeof *out);
    samples = calloc(m->n_samples + 1, sizeof *samples);
    if (!in || !out || !samples) {
        rc = sieve_errbuf_set(&err, SIEVE_ENOMEM, "out of memory");
        goto done;
    }
    if (m->n_outputs != d->n_outputs) {
        rc = sieve_errbuf_set(&err, SIEVE_EINTERNAL, "plugin '%s': %zu output paths for %u ports",
                              p->name, m->n_outputs, d->n_outputs);
        goto done;
    }
    for (size_t i = 0; i < m->n_inputs; i++) {
        if (!m->inputs[i].path[0])
            continue; /* an unconnected optional port */
        if ((rc = bundle_read(m->inputs[i].path, &in[i], &err)) < 0) {
            /* A missing or damaged input object is the store's problem, not the plugin's:
             * report it as transient so the scheduler can recompute rather than give up. */
            if (rc == SIEVE_ENOENT)
                rc = SIEVE_ETRANSIENT;
            goto done;
        }
        /* A script node reads the object itself (one file, mapped by numpy): tell it where. */
        if (p->script && (rc = bundle_meta_set(in[i], "sieve.path", m->inputs[i].path, &err)) < 0)
            goto done;
    }
    for (size_t i = 0; i < m->n_outputs; i++)
        if (!(out[i] = bundle_new())) {
            rc = sieve_errbuf_set(&err, SIEVE_ENOMEM, "out of memory");
            goto done;
        }
    for (size_t i = 0; i < m->n_samples; i++) {
        samples[i].id = m->samples[i].id;
        samples[i].media = m->samples[i].media;
        samples[i].category = m->samples[i].category;
        samples[i].fields_json = m->samples[i].fields;
    }
    if (!strcmp(m->fault, "hang")) {
        /* A wedged GPU call where process would run: the process and its heartbeat thread
         * live on, the task makes no progress. Only the scheduler's stall check catches it. */
        for (;;)
            pause();
    }
    struct sieve_ctx ctx = {
        .struct_size = sizeof ctx,
        .host = &w->host,
        .host_data = w,
        .task_id = m->task_id,
        .device = w->o->device,
        .device_index = w->device_index,
        .scratch_dir = w->scratch,
        .n_samples = (uint32_t)m->n_samples,
        .samples = samples,
    };
    t0 = clock_mono_ms();
    rc = runner_process(p, se->state, &ctx, (const struct sieve_bundle *const *)in,
                        (struct sieve_bundle *const *)out, &err);
    r->run_ms = clock_mono_ms() - t0;
    if (rc > 0)
        rc = sieve_errbuf_set(&err, SIEVE_EINTERNAL, "plugin '%s' returned %d", p->name, rc);
    if (rc < 0)
        goto done;
    t0 = clock_mono_ms();
    if (array_grow(&w->arts, &w->cap_arts, m->n_outputs + 1, sizeof *w->arts) < 0 ||
        array_grow(&w->hex, &w->cap_hex, m->n_outputs + 1, sizeof *w->hex) < 0) {
        rc = sieve_errbuf_set(&err, SIEVE_ENOMEM, "out of memory");
        goto done;
    }
    r->artifacts = w->arts;
    for (size_t i = 0; i < m->n_outputs; i++) {
        struct proto_artifact *a = &w->arts[i];
        char *hex = w->hex[i];
        uint64_t bytes = 0;
        const char *metrics = bundle_meta_get(out[i], "sieve.metrics");
        if (metrics && !r->metrics) {
            free(w->metrics);
            if (!(w->metrics = strdup(metrics))) {
                rc = sieve_errbuf_set(&err, SIEVE_ENOMEM, "out of memory");
                goto done;
            }
            r->metrics = w->metrics;
        }
        /* What produced the object, in the object: `sieve cache reindex` rebuilds an emptied
         * index (artifact rows and the task key's metric rows) from it. */
        if (m->task_key &&
            (rc = bundle_meta_set(out[i], BUNDLE_META_TASK_KEY, m->task_key, &err)) < 0)
            goto done;
        /* The checksum is computed while writing, in parallel across workers, rather than by
         * the single scheduler thread that indexes the artifact. The embedded data hash lets a
         * resumed run tell a whole object from one torn by a power loss; in batch mode the
         * scheduler makes objects durable (syncfs) before it indexes them. */
        if ((rc = bundle_write_ex(out[i], m->outputs[i].path,
                                  BUNDLE_WRITE_DATA_HASH | (w->o->strict ? 0 : BUNDLE_WRITE_NOSYNC),
                                  hex, &bytes, &err)) < 0)
            goto done;
        a->port = m->outputs[i].port;
        a->sha256 = hex;
        a->bytes = (int64_t)bytes;
        r->n_artifacts = i + 1;
        r->bytes_written += (int64_t)bytes;
    }
    r->write_ms = clock_mono_ms() - t0;
done:
    for (size_t i = 0; in && i < m->n_inputs; i++)
        bundle_free(in[i]);
    for (size_t i = 0; out && i < m->n_outputs; i++)
        bundle_free(out[i]);
    free(in);
    free(out);
    free(samples);
    r->status = rc < 0 ? rc : 0;
    r->error_class = sieve_error_class(r->status);
    snprintf(msg, cap, "%s", rc < 0 ? err.msg : "");
    r->message = msg;
}

static int
handle_run(struct worker *w, const struct proto_msg *m)
{
    int saved = -1, logfd = -1;
    char msg[SIEVE_ERRBUF_SIZE];
    struct proto_msg r = {.type = PROTO_RESULT, .task_id = m->task_id};

    if (m->log_path[0]) {
        logfd = open(m->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (logfd >= 0) {
            struct stat sb;
            pthread_mutex_lock(&w->hlock);
            w->log_fd = logfd;
            w->log_base = fstat(logfd, &sb) == 0 ? sb.st_size : 0;
            w->log_dropped = 0;
            pthread_mutex_unlock(&w->hlock);
            fflush(stderr);
            fflush(stdout);
            saved = dup(2);
            dup2(logfd, 2);
            dup2(logfd, 1); /* a plugin's printf lands in the task log too */
        }
    }
    cancel_flag = 0;
    heartbeat_set(w, m->task_id);
    run_task(w, m, &r, msg, sizeof msg);
    heartbeat_set(w, NULL);
    if (r.status < 0)
        r.n_artifacts = 0; /* a failed task reports no artifacts: nothing of it is indexed */
    if (r.status < 0)
        fprintf(stderr, "[error] %s\n", msg);
    if (saved >= 0) {
        fflush(stderr);
        fflush(stdout);
        dup2(saved, 2);
        dup2(saved, 1);
        close(saved);
    }
    if (logfd >= 0) {
        pthread_mutex_lock(&w->hlock);
        log_cap(w);
        if (w->log_dropped) {
            char note[160];
            int n = snprintf(note, sizeof note,
                             "\n[sieve: this attempt's output was cut at %lld MiB; %llu bytes "
                             "dropped]\n",
                             (long long)(WORKER_LOG_MAX >> 20), (unsigned long long)w->log_dropped);
            if (write(logfd, note, (size_t)n) < 0) {
                /* the log is best effort */
            }
        }
        w->log_fd = -1;
        pthread_mutex_unlock(&w->hlock);
        close(logfd);
    }
    scratch_clear(w);
    if (!r.metrics)
        r.metrics = "";
    if (drain_flag == 1) {
        /* Draining: say so before the result, so that the scheduler takes back what it queued
         * behind this task instead of counting it lost when the connection closes. */
        struct proto_msg d = {.type = PROTO_DRAIN};
        drain_flag = 2;
        if (send_msg(w, &d) < 0)
            return -1;
    }
    return send_msg(w, &r);
}

static int
device_index_of(const char *device)
{
    /* The slot sees its one GPU as ordinal 0 (CUDA_VISIBLE_DEVICES); a CPU slot has none. */
    return strncmp(device, "cpu", 3) == 0 ? -1 : 0;
}

int
worker_main(const struct worker_opts *o)
{
    struct worker w = {.o = o, .fd = o->fd, .log_fd = -1};
    struct sieve_errbuf err = {{0}};
    struct proto_decoder dec;
    int status = 1;

    pthread_mutex_init(&w.wlock, NULL);
    pthread_mutex_init(&w.hlock, NULL);
    pthread_cond_init(&w.hcond, NULL);
    proto_decoder_init(&dec);
    the_worker = &w;
    w.host = *bundle_host_services();
    w.host.log = svc_log;
    w.host.progress = svc_progress;
    w.host.cancelled = svc_cancelled;
    w.host.tensor_new = svc_tensor_new;
    w.host.meta_set = svc_meta_set;
    w.device_index = device_index_of(o->device);

    struct sigaction sa = {.sa_handler = o->exit_on_term ? on_sigterm_exit : on_sigterm};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    struct sigaction su = {.sa_handler = on_sigusr1};
    sigemptyset(&su.sa_mask);
    sigaction(SIGUSR1, &su, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* A worker must not outlive its scheduler: a killed scheduler's tasks are requeued by
     * `sieve resume`, and a worker still computing would race with their second run. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);

    const char *tmp = getenv("TMPDIR");
    snprintf(w.scratch, sizeof w.scratch, "%s/sieve-worker-%d-XXXXXX", tmp && tmp[0] ? tmp : "/tmp",
             (int)getpid());
    if (o->scratch) {
        /* The scheduler made it and removes it, even when this process is killed. */
        snprintf(w.scratch, sizeof w.scratch, "%s", o->scratch);
    } else if (!mkdtemp(w.scratch)) {
        fprintf(stderr, "sieve worker: scratch directory '%s': %s\n", w.scratch, strerror(errno));
        w.scratch[0] = '\0';
    }
    /* Hello first and heartbeats from then on, so that the scheduler sees a live process
     * while plugins load (seconds on a loaded machine, longer for a GPU context); ready
     * follows, and only then does the slot take tasks. */
    struct proto_msg hello = {
        .type = PROTO_HELLO,
        .worker_id = o->id,
        .pid = getpid(),
        .device = o->device,
        .token = o->token,
        .node = o->node,
        .job = o->job,
    };
    if (send_msg(&w, &hello) < 0)
        goto out;
    if (pthread_create(&w.hb, NULL, heartbeat_main, &w) == 0)
        w.hb_started = 1;
    if (host_registry_scan(o->plugin_path, &w.reg, &err) < 0) {
        fprintf(stderr, "sieve worker: %s\n", err.msg);
        goto out;
    }
    struct proto_msg ready = {.type = PROTO_READY,
                              .n_plugins = (int64_t)host_registry_count(w.reg)};
    if (send_msg(&w, &ready) < 0)
        goto out;

    for (;;) {
        uint8_t buf[65536];
        ssize_t n = read(w.fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) {
            if (cancel_flag || drain_flag) {
                if (drain_flag == 1) {
                    struct proto_msg d = {.type = PROTO_DRAIN};
                    drain_flag = 2;
                    send_msg(&w, &d);
                }
                status = drain_flag ? 0 : status;
                break; /* SIGTERM, or a drain, while idle */
            }
            continue;
        }
        if (n <= 0) {
            /* A pilot hung up on without a shutdown (refused, or its scheduler died) fails,
             * so that its job does not read as a pilot that finished its work. */
            status = n == 0 && !o->exit_on_term ? 0 : 1;
            break;
        }
        if (proto_decoder_feed(&dec, buf, (size_t)n, &err) < 0)
            break;
        struct proto_msg m;
        int rc, quit = 0;
        while ((rc = proto_decoder_next(&dec, &m, &err)) > 0) {
            if (m.type == PROTO_RUN_TASK) {
                if (handle_run(&w, &m) < 0)
                    quit = 1;
                else if (drain_flag)
                    quit = 2;
            } else if (m.type == PROTO_SHUTDOWN) {
                quit = 2;
            }
            proto_msg_release(&m);
            if (quit)
                break;
        }
        if (rc < 0) {
            fprintf(stderr, "sieve worker: %s\n", err.msg);
            break;
        }
        if (quit) {
            status = quit == 2 ? 0 : 1;
            break;
        }
    }
out:
    if (w.hb_started) {
        pthread_mutex_lock(&w.hlock);
        w.stop = 1;
        pthread_cond_signal(&w.hcond);
        pthread_mutex_unlock(&w.hlock);
        pthread_join(w.hb, NULL);
    }
    for (size_t i = 0; i < w.n_cache; i++)
        entry_release(&w.cache[i]);
    free(w.cache);
    for (size_t i = 0; i < w.n_scripts; i++) {
        host_plugin_free(w.scripts[i]);
        free(w.script_keys[i]);
    }
    free(w.scripts);
    free(w.script_keys);
    free(w.arts);
    free(w.hex);
    free(w.metrics);
    host_registry_free(w.reg);
    proto_decoder_release(&dec);
    if (w.scratch[0] && !o->scratch) {
        scratch_clear(&w);
        rmdir(w.scratch);
    }
    the_worker = NULL;
    pthread_cond_destroy(&w.hcond);
    pthread_mutex_destroy(&w.hlock);
    pthread_mutex_destroy(&w.wlock);
    return status;
}
