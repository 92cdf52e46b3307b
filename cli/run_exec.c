/*
 * run_exec.c - the executing half of `sieve run` and `sieve resume` (see run_exec.h).
 */
#include "run_exec.h"

#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "base/err.h"
#include "core/exec/slurm.h"
#include "core/sched/devices.h"
#include "core/host/host.h"
#include "core/plan/plan.h"
#include "core/sched/sched.h"
#include "core/spec/spec.h"
#include "store/store.h"

/* The --set overrides of a run are kept as an "args" event so `sieve resume` replans the
 * same DAG. */
int
cli_run_args_save(struct store *st, int64_t run, const char *const *sets, size_t n_sets,
                  struct sieve_errbuf *err)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n_sets; i++)
        json_array_append_new(a, json_string(sets[i]));
    char *text = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    int rc = store_event_append(st, run, -1, "args", text ? text : "[]", err);
    free(text);
    return rc;
}

static int
load_args(struct store *st, int64_t run, char ***sets, size_t *n, struct sieve_errbuf *err)
{
    struct store_event *ev = NULL;
    size_t n_ev = 0;
    *sets = NULL;
    *n = 0;
    int rc = store_event_list(st, run, 0, 0, &ev, &n_ev, err);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < n_ev; i++) {
        if (strcmp(ev[i].kind, "args"))
            continue;
        json_error_t jerr;
        json_t *a = json_loads(ev[i].message, 0, &jerr);
        size_t k;
        json_t *v;
        *sets = calloc(json_array_size(a) + 1, sizeof **sets);
        json_array_foreach(a, k, v) if (json_is_string(v) && *sets)(*sets)[(*n)++] =
            strdup(json_string_value(v));
        json_decref(a);
        break;
    }
    store_event_list_free(ev, n_ev);
    return 0;
}

int
cli_devices_build(const struct run_exec_opts *o, struct device_set *ds, struct sieve_errbuf *err)
{
    int rc;
    if (o->devices)
        rc = devices_parse(ds, o->devices, err);
    else {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        rc = devices_default(ds, n > 0 ? (int)n : 1, err);
    }
    if (rc < 0)
        return rc;
    const char *env = getenv("SIEVE_FAULTS");
    if (env && env[0] && (rc = devices_fault_parse(ds, env, err)) < 0)
        return sieve_errbuf_prefix(err, rc, "SIEVE_FAULTS");
    for (size_t i = 0; i < o->n_faults; i++)
        if ((rc = devices_fault_parse(ds, o->faults[i], err)) < 0)
            return rc;
    return 0;
}

/*
 * One scheduler writes a store at a time. A second `sieve run` beside a first would compute
 * the same keys twice and race on their objects; beside a daemon it would schedule behind
 * its back. It is refused with what to do instead (cmd_run.c hands runs to a serving daemon
 * before it gets here).
 */
int
cli_sched_lock(const char *verb, struct store *st, struct store_lock **lock)
{
    struct sieve_errbuf err = {{0}};
    char info[128];
    snprintf(info, sizeof info, "{\"pid\": %ld, \"kind\": \"%s\"}", (long)getpid(), verb);
    int rc = store_sched_lock(st, info, lock, &err);
    if (rc == SIEVE_EEXIST) {
        char *who = NULL;
        json_t *j =
            store_sched_holder(store_dir(st), &who, &err) > 0 ? json_loads(who, 0, NULL) : NULL;
        const char *kind = json_string_value(json_object_get(j, "kind"));
        long pid = (long)json_integer_value(json_object_get(j, "pid"));
        if (kind && !strcmp(kind, "serve"))
            cli_error(verb,
                      "store '%s' is served by 'sieve serve' (pid %ld): submit to it with "
                      "'sieve submit'",
                      store_dir(st), pid);
        else
            cli_error(verb,
                      "store '%s' is in use by another scheduler ('sieve %s', pid %ld); wait for "
                      "it to finish, or start 'sieve serve --store %s' and 'sieve submit' the "
                      "runs to it",
                      store_dir(st), kind ? kind : "run", pid, store_dir(st));
        json_decref(j);
        free(who);
        return CLI_EXIT_FAIL;
    }
    if (rc < 0) {
        cli_error(verb, "%s", err.msg);
        return cli_exit_from_error(rc);
    }
    return CLI_EXIT_OK;
}

/* The executor of a run: --executor, else the pipeline's `executor: kind:`, else local; the
 * Slurm options of the pipeline's section, then --slurm KEY=VALUE over them. Returns 1 for
 * slurm, 0 for local, or a negative code with the message in err. */
int
cli_executor_build(const struct run_exec_opts *o, const struct spec *sp, struct exec_slurm_opts *xo,
                   struct sieve_errbuf *err)
{
    const char *kind = o->executor;
    int rc;
    for (size_t i = 0; sp && i < sp->n_executor; i++)
        if (!strcmp(sp->executor[i].key, "kind") && !kind)
            kind = sp->executor[i].value;
    if (!kind || !strcmp(kind, "local"))
        return 0;
    if (strcmp(kind, "slurm"))
        return sieve_errbuf_set(err, SIEVE_EINVAL, "executor '%s': expected local or slurm", kind);
    for (size_t i = 0; sp && i < sp->n_executor; i++)
        if (strcmp(sp->executor[i].key, "kind") &&
            (rc = exec_slurm_set(xo, sp->executor[i].key, sp->executor[i].value, err)) < 0)
            return rc;
    for (size_t i = 0; i < o->n_executor_sets; i++) {
        char key[64];
        const char *eq = strchr(o->executor_sets[i], '=');
        snprintf(key, sizeof key, "%.*s", (int)(eq - o->executor_sets[i]), o->executor_sets[i]);
        if ((rc = exec_slurm_set(xo, key, eq + 1, err)) < 0)
            return rc;
    }
    return 1;
}

struct slurm_ctx {
    struct exec_slurm_opts *xo;
    struct exec_slurm *x;
};

static int
slurm_on_start(void *ud, struct sched *s, struct sieve_errbuf *err)
{
    struct slurm_ctx *c = ud;
    return exec_slurm_start(s, c->xo, &c->x, err);
}

static void
slurm_on_stop(void *ud)
{
    struct slurm_ctx *c = ud;
    exec_slurm_stop(c->x);
}

/* Schedules `plan` as run `run_id` (whose task rows exist) and prints the summary. */
static int
execute(const struct run_exec_opts *o, struct store *st, struct plan *plan, int64_t run_id,
        int resumed)
{
    struct sieve_errbuf err = {{0}};
    struct device_set ds = {0};
    char exe[PATH_MAX];
    int status = CLI_EXIT_FAIL, rc;
    const char *dur = o->durability ? o->durability : getenv("SIEVE_DURABILITY");
    int strict = dur && !strcmp(dur, "strict");

    if (dur && dur[0] && !strict && strcmp(dur, "batch")) {
        cli_error(o->verb, "durability '%s': expected batch or strict", dur);
        return CLI_EXIT_USAGE;
    }
    struct exec_slurm_opts xo = {0};
    struct slurm_ctx sctx = {&xo, NULL};
    char store_abs[PATH_MAX];
    int slurm = cli_executor_build(o, plan->spec, &xo, &err);
    if (slurm < 0) {
        cli_error(o->verb, "%s", err.msg);
        return CLI_EXIT_USAGE;
    }
    if (slurm) {
        /* Pilot slots instead of local devices: each takes one pilot's device. */
        if (o->devices) {
            cli_error(o->verb, "--devices does not go with the slurm executor (its pilots "
                               "bring their devices; see --slurm gpus=N)");
            return CLI_EXIT_USAGE;
        }
        rc = devices_add_remote(&ds, exec_slurm_slots(&xo), xo.gpus > 0, &err);
    } else {
        rc = cli_devices_build(o, &ds, &err);
    }
    if (rc < 0) {
        cli_error(o->verb, "%s", err.msg);
        devices_release(&ds);
        return CLI_EXIT_USAGE;
    }
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) {
        cli_error(o->verb, "cannot find the sieve binary to start workers");
        devices_release(&ds);
        return CLI_EXIT_FAIL;
    }
    exe[n] = '\0';
    cli_plan_verify_report(plan, st, run_id);
    fprintf(stderr, "sieve: run %lld%s '%s': %u tasks, %u cached, %zu device slot%s\n",
            (long long)run_id, resumed ? " (resumed)" : "",
            plan->spec->name ? plan->spec->name : "", plan->n_tasks, plan->n_cached, ds.n,
            ds.n == 1 ? "" : "s");
    struct sched_opts so = {
        .st = st,
        .run = run_id,
        .plan = plan,
        .devices = &ds,
        .worker_exe = exe,
        .max_parallel = o->max_parallel,
        .heartbeat_ms = o->heartbeat_ms,
        .heartbeat_timeout_ms = o->heartbeat_timeout_ms,
        .stall_timeout_ms = o->stall_timeout_ms,
        .startup_timeout_ms = o->startup_timeout_ms,
        .speculate_after_ms = o->speculate_after_ms,
        .resume = resumed,
        .strict = strict,
        .tty = isatty(2),
        .out = stderr,
    };
    if (slurm) {
        xo.store_dir = realpath(store_dir(st), store_abs) ? store_abs : store_dir(st);
        xo.worker_exe = exe;
        xo.heartbeat_ms = o->heartbeat_ms;
        xo.strict = strict;
        xo.run = run_id;
        so.ud = &sctx;
        so.on_start = slurm_on_start;
        so.on_stop = slurm_on_stop;
    }
    struct sched_summary sum;
    struct store_lock *lease = NULL;
    if ((rc = store_run_lease_take(st, run_id, &lease, &err)) < 0) {
        cli_error(o->verb, "%s", err.msg);
        devices_release(&ds);
        return cli_exit_from_error(rc);
    }
    rc = sched_run(&so, &sum, &err);
    exec_slurm_free(sctx.x); /* cancels the pilots that are left */
    store_lock_free(lease);
    sched_summary_print(&sum, stderr);
    sched_summary_release(&sum);
    if (rc == 0)
        status = CLI_EXIT_OK;
    else if (rc == SIEVE_ECANCELED)
        status = CLI_EXIT_INTERRUPTED;
    else {
        if (rc != SIEVE_EINTERNAL)
            cli_error(o->verb, "%s", err.msg);
        status = CLI_EXIT_FAIL;
    }
    if (rc == SIEVE_ECANCELED || rc == SIEVE_EINTERNAL)
        fprintf(stderr, "sieve: resume with 'sieve resume %lld'\n", (long long)run_id);
    devices_release(&ds);
    return status;
}

int
cli_run_exec_prepared(const struct run_exec_opts *o, struct store *st, struct plan *plan)
{
    struct sieve_errbuf err = {{0}};
    char abspath[PATH_MAX];
    int64_t run_id;
    int rc;
    /* The absolute path, so `sieve resume` finds the pipeline from any directory. */
    const char *path = realpath(o->pipeline, abspath) ? abspath : o->pipeline;
    struct store_lock *lock = NULL;
    int status = cli_sched_lock(o->verb, st, &lock);
    if (status != CLI_EXIT_OK)
        return status;
    run_id = 0;
    if ((rc = store_run_create(st, plan->spec->name, path, plan->spec->text, &run_id, &err)) < 0 ||
        (rc = cli_run_args_save(st, run_id, o->sets, o->n_sets, &err)) < 0 ||
        (rc = plan_store_tasks(plan, st, run_id, &err)) < 0) {
        cli_error(o->verb, "%s", err.msg);
        /* Not a pending run nobody can resume or cancel (a full disk at the start): failed,
         * with the reason, when the index can still take that much. */
        struct sieve_errbuf e2;
        if (run_id > 0)
            store_run_set_state(st, run_id, STORE_RUN_FAILED, err.msg, &e2);
        store_lock_free(lock);
        return cli_exit_from_error(rc);
    }
    status = execute(o, st, plan, run_id, 0);
    store_lock_free(lock);
    return status;
}

int
cli_run_replan(const char *verb, struct store *st, const struct host_registry *reg, int64_t run_id,
               struct plan **out)
{
    struct sieve_errbuf err = {{0}};
    struct spec_diags diags;
    struct store_run run = {0};
    char **saved_sets = NULL;
    size_t n_saved = 0;
    int status = CLI_EXIT_FAIL, rc;

    *out = NULL;
    spec_diags_init(&diags);
    if ((rc = store_run_get(st, run_id, &run, &err)) < 0)
        goto fail;
    if ((rc = load_args(st, run_id, &saved_sets, &n_saved, &err)) < 0)
        goto fail;
    /* The recorded text, not the file as it is now: resume finishes what ran. */
    struct plan_opts po = {.path = run.pipeline_path,
                           .sets = (const char *const *)saved_sets,
                           .n_sets = n_saved,
                           .text = run.pipeline_text};
    cli_plan_verify_opts(verb, &po);
    rc = plan_prepare(&po, reg, st, out, &diags, &err);
    if (rc < 0) {
        spec_diags_print(&diags, stderr);
        goto fail;
    }
    struct store_task_row *rows = NULL;
    size_t n = 0;
    if ((rc = store_task_list(st, run_id, NULL, NULL, &rows, &n, &err)) < 0)
        goto fail;
    store_task_rows_free(rows, n);
    if (n != (*out)->n_tasks) {
        cli_error(verb,
                  "run %lld: '%s' now plans %u tasks, the run has %zu; start a new run instead",
                  (long long)run_id, po.path, (*out)->n_tasks, n);
        plan_free(*out);
        *out = NULL;
        goto out;
    }
    status = CLI_EXIT_OK;
    goto out;
fail:
    cli_error(verb, "%s", err.msg);
    status = cli_exit_from_error(rc);
    plan_free(*out);
    *out = NULL;
out:
    for (size_t i = 0; i < n_saved; i++)
        free(saved_sets[i]);
    free(saved_sets);
    store_run_release(&run);
    spec_diags_release(&diags);
    return status;
}

int
cli_run_exec(const struct run_exec_opts *o)
{
    struct sieve_errbuf err = {{0}};
    struct store *st = NULL;
    struct host_registry *reg = NULL;
    struct plan *plan = NULL;
    struct store_lock *lock = NULL;
    int status, rc;

    if ((rc = store_open_existing(cli_store_dir(o->store_dir), &st, &err)) < 0 ||
        (rc = host_registry_scan(NULL, &reg, &err)) < 0) {
        cli_error(o->verb, "%s", err.msg);
        status = cli_exit_from_error(rc);
        goto out;
    }
    /* Said before the scheduler lock's more general refusal: this is what the user meant. */
    if (store_run_lease_held(st, o->resume_run, &err) == 1) {
        cli_error(o->verb,
                  "run %lld is still running: wait for it to end, or stop it with 'sieve cancel "
                  "%lld' first",
                  (long long)o->resume_run, (long long)o->resume_run);
        status = CLI_EXIT_FAIL;
        goto out;
    }
    if ((status = cli_sched_lock(o->verb, st, &lock)) != CLI_EXIT_OK)
        goto out;
    if ((status = cli_run_replan(o->verb, st, reg, o->resume_run, &plan)) != CLI_EXIT_OK)
        goto out;
    status = execute(o, st, plan, o->resume_run, 1);
out:
    plan_free(plan);
    host_registry_free(reg);
    store_lock_free(lock);
    store_close(st);
    return status;
}
