/*
 * serve.c - the daemon of `sieve serve` (see serve.h): the web hooks (submit, cancel,
 * resume), runs starting and ending on the scheduler, and progress for the event stream.
 */
#include "serve.h"

#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "cli.h"
#include "base/array.h"
#include "base/err.h"
#include "core/host/host.h"
#include "core/plan/plan.h"
#include "core/exec/slurm.h"
#include "core/sched/devices.h"
#include "core/sched/sched.h"
#include "core/spec/spec.h"
#include "store/store.h"
#include "web/web.h"

#define PROGRESS_MS 500
#define DEFAULT_LISTEN "127.0.0.1:8470"
#define DEFAULT_GRACE_MS 30000

/* A run this daemon executes: its plan stays alive until the scheduler ends the run. */
struct serve_run {
    int64_t id;
    struct plan *plan;
    struct store_lock *lease;
    uint32_t last_finished; /* progress last published */
    int64_t last_running;
};

struct serve {
    const struct serve_opts *o;
    struct store *st;
    struct host_registry *reg;
    struct device_set ds;
    struct sched_opts so;
    struct sched *sched;
    struct exec_slurm *exec; /* --executor slurm: the pilots, or NULL */
    struct web_server *web;
    struct store_lock *lock;
    struct serve_run **runs; /* not ended */
    size_t n_runs, cap_runs;
    uv_timer_t progress;
    int progress_on;
    char exe[PATH_MAX];
    char token[WEB_TOKEN_LEN];
};

static struct serve_run *
find_run(struct serve *d, int64_t id, size_t *at)
{
    for (size_t i = 0; i < d->n_runs; i++)
        if (d->runs[i]->id == id) {
            if (at)
                *at = i;
            return d->runs[i];
        }
    return NULL;
}

static void
publish(struct serve *d, const char *event, json_t *j)
{
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    if (text && d->web)
        web_publish(d->web, event, text);
    free(text);
    json_decref(j);
}

/* Hands a planned run (task rows recorded) to the scheduler under its lease. On failure
 * the plan is freed. */
static int
start_run(struct serve *d, int64_t id, struct plan *plan, int resume, int priority,
          struct sieve_errbuf *err)
{
    struct serve_run *r = calloc(1, sizeof *r);
    int rc;
    if (!r || array_grow(&d->runs, &d->cap_runs, d->n_runs + 1, sizeof *d->runs) < 0) {
        free(r);
        plan_free(plan);
        return sieve_errbuf_set(err, SIEVE_ENOMEM, "out of memory");
    }
    r->id = id;
    r->plan = plan;
    if ((rc = store_run_lease_take(d->st, id, &r->lease, err)) < 0) {
        plan_free(plan);
        free(r);
        return rc;
    }
    d->runs[d->n_runs++] = r;
    if ((rc = sched_run_add(d->sched, id, plan, resume, priority, r, err)) < 0) {
        /* sched_run_add keeps a run it could not start and ends it at its next tick. */
        fprintf(stderr, "sieve serve: run %lld: %s\n", (long long)id, err->msg);
    }
    fprintf(stderr, "sieve serve: run %lld%s: %u tasks, %u cached\n", (long long)id,
            resume ? " (resumed)" : "", plan->n_tasks, plan->n_cached);
    return rc == SIEVE_EEXIST ? rc : 0;
}

static void
on_run_end(void *ud, int64_t run, void *run_ud, int rc, const char *msg)
{
    struct serve *d = ud;
    size_t at;
    struct serve_run *r = find_run(d, run, &at);
    (void)run_ud;
    fprintf(stderr, "sieve serve: run %lld ended: %s%s%s\n", (long long)run,
            rc == 0                 ? "done"
            : rc == SIEVE_ECANCELED ? "cancelled"
                                    : "failed",
            msg[0] ? ": " : "", msg);
    publish(d, "run",
            json_pack("{s:I, s:s, s:s}", "run", (json_int_t)run, "state",
                      rc == 0                 ? "done"
                      : rc == SIEVE_ECANCELED ? "cancelled"
                                              : "failed",
                      "error", msg));
    if (!r)
        return;
    /* The scheduler is done with the plan: it no longer reads it once the run ended. */
    d->runs[at] = d->runs[--d->n_runs];
    store_lock_free(r->lease);
    plan_free(r->plan);
    free(r);
}

static void
on_event(void *ud, int64_t run, int64_t task, const char *kind, const char *msg)
{
    struct serve *d = ud;
    publish(d, strcmp(kind, "device") ? "event" : "device",
            json_pack("{s:I, s:I, s:s, s:s}", "run", (json_int_t)run, "task", (json_int_t)task,
                      "kind", kind, "message", msg));
}

static void
on_progress(uv_timer_t *h)
{
    struct serve *d = h->data;
    for (size_t i = 0; i < d->n_runs; i++) {
        struct serve_run *r = d->runs[i];
        struct sched_summary sum;
        if (sched_run_progress(d->sched, r->id, &sum) < 0)
            continue;
        uint32_t fin = sum.n_done + sum.n_cached + sum.n_failed + sum.n_skipped + sum.n_cancelled;
        if (fin == r->last_finished && r->last_finished)
            continue;
        r->last_finished = fin;
        publish(d, "progress",
                json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "run", (json_int_t)r->id,
                          "tasks", (json_int_t)sum.n_tasks, "finished", (json_int_t)fin, "done",
                          (json_int_t)sum.n_done, "cached", (json_int_t)sum.n_cached, "failed",
                          (json_int_t)sum.n_failed, "skipped", (json_int_t)sum.n_skipped,
                          "cancelled", (json_int_t)sum.n_cancelled));
    }
}

static void
on_closed_noop(uv_handle_t *h)
{
    (void)h;
}

static void
on_web_closed(void *ud)
{
    (void)ud;
}

/* The scheduler stopped (a drain finished): the daemon's own handles close with it. */
static void
on_stop(void *ud)
{
    struct serve *d = ud;
    exec_slurm_stop(d->exec);
    if (d->progress_on) {
        uv_timer_stop(&d->progress);
        uv_close((uv_handle_t *)&d->progress, on_closed_noop);
        d->progress_on = 0;
    }
    if (d->web) {
        web_server_close(d->web, on_web_closed, d);
        d->web = NULL;
    }
}

/* ---- hooks of the HTTP API ------------------------------------------------------------------ */

static int
hook_submit(void *ud, const struct web_submit *req, int64_t *run, struct sieve_errbuf *err)
{
    struct serve *d = ud;
    struct spec_diags diags;
    struct plan *plan = NULL;
    int rc;
    if (!req->path || req->path[0] != '/')
        return sieve_errbuf_set(err, SIEVE_EINVAL,
                                "'path' must be the absolute path of the pipeline file");
    spec_diags_init(&diags);
    struct plan_opts po = {
        .path = req->path, .text = req->text, .sets = req->sets, .n_sets = req->n_sets};
    cli_plan_verify_opts("serve", &po); /* no task of a daemon's run reads a damaged object */
    rc = plan_prepare(&po, d->reg, d->st, &plan, &diags, err);
    if (rc < 0 && diags.n > 0) {
        /* The CLI validated the file already and printed every diagnostic; the daemon
         * answers with the first (a client that did not validate sees one at a time). */
        char *text = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&text, &len);
        if (f) {
            spec_diags_sort(&diags);
            spec_diags_print(&diags, f);
            fclose(f);
            sieve_errbuf_set(err, rc, "%.*s", (int)strcspn(text ? text : "", "\n"),
                             text ? text : "");
        }
        free(text);
    }
    spec_diags_release(&diags);
    if (rc < 0)
        return rc;
    if ((rc = store_run_create(d->st, plan->spec->name, req->path, plan->spec->text, run, err)) <
        0) {
        plan_free(plan);
        return rc;
    }
    if ((rc = cli_run_args_save(d->st, *run, req->sets, req->n_sets, err)) < 0 ||
        (rc = plan_store_tasks(plan, d->st, *run, err)) < 0) {
        /* Not a pending run that nobody will ever start: it failed, and says why. */
        struct sieve_errbuf e2;
        store_run_set_state(d->st, *run, STORE_RUN_FAILED, err->msg, &e2);
        plan_free(plan);
        return rc;
    }
    return start_run(d, *run, plan, 0, req->priority, err);
}

static int
hook_cancel(void *ud, int64_t run, struct sieve_errbuf *err)
{
    struct serve *d = ud;
    struct store_run r = {0};
    int rc;
    if (sched_run_cancel(d->sched, run, "cancelled over the API") == 0)
        return 0;
    if ((rc = store_run_get(d->st, run, &r, err)) < 0)
        return rc;
    if (strcmp(r.state, "running") && strcmp(r.state, "pending"))
        rc =
            sieve_errbuf_set(err, SIEVE_EINVAL, "run %lld has ended (%s)", (long long)run, r.state);
    else if (store_run_lease_held(d->st, run, err) > 0)
        rc = sieve_errbuf_set(err, SIEVE_EEXIST, "run %lld is scheduled by another process",
                              (long long)run);
    else
        /* Recorded as running, but nobody schedules it: it was interrupted. */
        rc = store_run_set_state(d->st, run, STORE_RUN_CANCELLED, "cancelled while interrupted",
                                 err);
    store_run_release(&r);
    return rc;
}

static int
hook_resume(void *ud, int64_t run, struct sieve_errbuf *err)
{
    struct serve *d = ud;
    struct plan *plan = NULL;
    if (find_run(d, run, NULL))
        return sieve_errbuf_set(err, SIEVE_EEXIST, "run %lld is running", (long long)run);
    struct store_run r = {0};
    int rc = store_run_get(d->st, run, &r, err);
    if (rc < 0)
        return rc;
    rc = !strcmp(r.state, "done")
             ? sieve_errbuf_set(err, SIEVE_EINVAL, "run %lld is done: nothing to resume",
                                (long long)run)
             : 0;
    store_run_release(&r);
    if (rc < 0)
        return rc;
    if (cli_run_replan("serve", d->st, d->reg, run, &plan) != CLI_EXIT_OK)
        return sieve_errbuf_set(err, SIEVE_ESPEC,
                                "run %lld cannot be planned again (see the daemon's log)",
                                (long long)run);
    return start_run(d, run, plan, 1, 0, err);
}

static char *
hook_devices(void *ud)
{
    struct serve *d = ud;
    json_t *arr = json_array();
    for (size_t i = 0; i < d->ds.n; i++) {
        const struct device *dv = &d->ds.dev[i];
        json_t *e = json_pack("{s:s, s:s, s:b}", "name", dv->name, "state",
                              device_state_name(dv->state), "gpu", device_is_gpu(dv));
        if (dv->remote) /* a Slurm pilot's slot: where it runs, "" while none is connected */
            json_object_update_new(
                e, json_pack("{s:b, s:s, s:s}", "pilot", 1, "node", dv->node, "job", dv->job));
        json_array_append_new(arr, e);
    }
    char *text = json_dumps(arr, JSON_COMPACT);
    json_decref(arr);
    return text;
}

/* ---- start and stop ------------------------------------------------------------------------- */

/* Every run left running (or recorded but never started: pending) with nobody holding its
 * lease goes on here; one that cannot be planned again is marked failed with the reason. */
static void
resume_interrupted(struct serve *d)
{
    struct store_run *runs = NULL;
    size_t n = 0;
    struct sieve_errbuf err;
    if (store_run_list(d->st, &runs, &n, &err) < 0) {
        fprintf(stderr, "sieve serve: %s\n", err.msg);
        return;
    }
    for (size_t i = n; i-- > 0;) {
        if ((strcmp(runs[i].state, "running") && strcmp(runs[i].state, "pending")) ||
            store_run_lease_held(d->st, runs[i].id, &err) != 0)
            continue;
        if (hook_resume(d, runs[i].id, &err) < 0) {
            struct sieve_errbuf e2;
            fprintf(stderr, "sieve serve: resume run %lld: %s\n", (long long)runs[i].id, err.msg);
            store_run_set_state(d->st, runs[i].id, STORE_RUN_FAILED, err.msg, &e2);
        }
    }
    store_run_list_free(runs, n);
}

int
serve_run(const struct serve_opts *o)
{
    struct sieve_errbuf err = {{0}};
    struct serve d = {.o = o};
    const char *dir = cli_store_dir(o->run.store_dir);
    int status = CLI_EXIT_FAIL, rc;
    char info[512];

    if ((rc = store_open(dir, &d.st, &err)) < 0 ||
        (rc = host_registry_scan(NULL, &d.reg, &err)) < 0)
        goto fail;
    if ((status = cli_sched_lock("serve", d.st, &d.lock)) != CLI_EXIT_OK)
        goto out;
    status = CLI_EXIT_FAIL;
    /* The daemon's executor comes from its command line: the pipelines it is sent share it. */
    struct exec_slurm_opts xo = {0};
    char store_abs[PATH_MAX];
    int slurm = cli_executor_build(&o->run, NULL, &xo, &err);
    if ((rc = slurm) < 0)
        goto fail;
    if (slurm && (rc = devices_add_remote(&d.ds, exec_slurm_slots(&xo), xo.gpus > 0, &err)) < 0)
        goto fail;
    if (!slurm && (rc = cli_devices_build(&o->run, &d.ds, &err)) < 0)
        goto fail;
    ssize_t n = readlink("/proc/self/exe", d.exe, sizeof d.exe - 1);
    if (n <= 0) {
        rc = sieve_errbuf_set(&err, SIEVE_EIO, "cannot find the sieve binary to start workers");
        goto fail;
    }
    d.exe[n] = '\0';
    const char *dur = o->run.durability ? o->run.durability : getenv("SIEVE_DURABILITY");
    d.so = (struct sched_opts){
        .st = d.st,
        .devices = &d.ds,
        .worker_exe = d.exe,
        .max_parallel = o->run.max_parallel,
        .heartbeat_ms = o->run.heartbeat_ms,
        .heartbeat_timeout_ms = o->run.heartbeat_timeout_ms,
        .stall_timeout_ms = o->run.stall_timeout_ms,
        .startup_timeout_ms = o->run.startup_timeout_ms,
        .speculate_after_ms = o->run.speculate_after_ms,
        .cancel_grace_ms = o->grace_ms > 0 ? o->grace_ms : DEFAULT_GRACE_MS,
        .strict = dur && !strcmp(dur, "strict"),
        .out = stderr,
        .serve = 1,
        .ud = &d,
        .on_run_end = on_run_end,
        .on_event = on_event,
        .on_stop = on_stop,
    };
    if ((rc = sched_new(&d.so, &d.sched, &err)) < 0)
        goto fail;
    if (slurm) {
        xo.store_dir = realpath(dir, store_abs) ? store_abs : dir;
        xo.worker_exe = d.exe;
        xo.heartbeat_ms = o->run.heartbeat_ms;
        xo.strict = d.so.strict;
        if ((rc = exec_slurm_start(d.sched, &xo, &d.exec, &err)) < 0)
            goto fail;
    }
    if ((rc = web_token_ensure(dir, d.token, sizeof d.token, &err)) < 0)
        goto fail;
    struct web_opts wo = {
        .loop = sched_loop(d.sched),
        .st = d.st,
        .listen = o->listen ? o->listen : DEFAULT_LISTEN,
        .allow_remote = o->allow_remote,
        .token = d.token,
        .static_dir = o->static_dir,
        .hooks = {.ud = &d,
                  .submit = hook_submit,
                  .cancel = hook_cancel,
                  .resume = hook_resume,
                  .devices_json = hook_devices},
    };
    if ((rc = web_server_new(&wo, &d.web, &err)) < 0)
        goto fail;
    {
        /* The address clients use: the listen host with the port the kernel gave. */
        char host[256];
        snprintf(host, sizeof host, "%s", wo.listen);
        char *colon = strrchr(host, ':');
        if (colon)
            *colon = '\0';
        if (!strcmp(host, "0.0.0.0") || !host[0])
            snprintf(host, sizeof host, "127.0.0.1");
        snprintf(info, sizeof info,
                 "{\"pid\": %ld, \"kind\": \"serve\", \"url\": \"http://%s:%d\"}", (long)getpid(),
                 host, web_server_port(d.web));
        if ((rc = store_lock_info_write(d.lock, info, &err)) < 0)
            goto fail;
        fprintf(stderr, "sieve serve: store '%s' at http://%s:%d (pid %ld, %zu device slot%s)\n",
                dir, host, web_server_port(d.web), (long)getpid(), d.ds.n, d.ds.n == 1 ? "" : "s");
    }
    uv_timer_init(sched_loop(d.sched), &d.progress);
    d.progress.data = &d;
    uv_timer_start(&d.progress, on_progress, PROGRESS_MS, PROGRESS_MS);
    d.progress_on = 1;
    resume_interrupted(&d);
    rc = sched_loop_run(d.sched, &err);
    fprintf(stderr, "sieve serve: stopped; %zu run(s) go on at the next start\n", d.n_runs);
    if (rc < 0)
        goto fail;
    status = CLI_EXIT_OK;
    goto out;
fail:
    cli_error("serve", "%s", err.msg);
    status = cli_exit_from_error(rc);
out:
    if (d.web) {
        web_server_close(d.web, on_web_closed, &d);
        d.web = NULL;
    }
    sched_free(d.sched);
    exec_slurm_free(d.exec); /* cancels the pilots that are left */
    for (size_t i = 0; i < d.n_runs; i++) {
        store_lock_free(d.runs[i]->lease);
        plan_free(d.runs[i]->plan);
        free(d.runs[i]);
    }
    free(d.runs);
    devices_release(&d.ds);
    store_lock_free(d.lock);
    host_registry_free(d.reg);
    store_close(d.st);
    return status;
}
