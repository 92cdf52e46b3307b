/*
 * run_exec.c - the executing half of `sieve run` and `sieve resume` (see run_exec.h).
 */
#include "run_exec.h"

#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "base/err.h"
#include "core/sched/devices.h"
#include "core/host/host.h"
#include "core/plan/plan.h"
#include "core/sched/sched.h"
#include "core/spec/spec.h"
#include "store/store.h"

/* The --set overrides of a run are kept as an "args" event so `sieve resume` replans the
 * same DAG. */
static int
save_args(struct store *st, int64_t run, const struct run_exec_opts *o, struct sieve_errbuf *err)
{
    json_t *a = json_array();
    for (size_t i = 0; i < o->n_sets; i++)
        json_array_append_new(a, json_string(o->sets[i]));
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

static int
build_devices(const struct run_exec_opts *o, struct device_set *ds, struct sieve_errbuf *err)
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

/* A lost terminal or ssh session (SIGHUP) stops the run as SIGTERM does: the scheduler's
 * libuv loop handles SIGTERM (cancel, final state written); SIGHUP's default would kill the
 * process with the run left "running". kill() is async-signal-safe. */
static void
hangup_as_term(int sig)
{
    (void)sig;
    kill(getpid(), SIGTERM);
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
    if ((rc = build_devices(o, &ds, &err)) < 0) {
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
    struct sched_summary sum;
    struct sigaction hup = {.sa_handler = hangup_as_term}, old_hup;
    sigemptyset(&hup.sa_mask);
    sigaction(SIGHUP, &hup, &old_hup);
    rc = sched_run(&so, &sum, &err);
    sigaction(SIGHUP, &old_hup, NULL);
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
    struct store_lease *lease = NULL;
    /* The lease first: from the moment the run exists, status can tell it is alive. */
    if ((rc = store_run_create(st, plan->spec->name, path, plan->spec->text, &run_id, &err)) < 0 ||
        (rc = store_run_lease_take(st, run_id, &lease, &err)) < 0 ||
        (rc = save_args(st, run_id, o, &err)) < 0 ||
        (rc = plan_store_tasks(plan, st, run_id, &err)) < 0) {
        cli_error(o->verb, "%s", err.msg);
        store_lease_free(lease);
        return cli_exit_from_error(rc);
    }
    int status = execute(o, st, plan, run_id, 0);
    store_lease_free(lease);
    return status;
}

int
cli_run_exec(const struct run_exec_opts *o)
{
    struct sieve_errbuf err = {{0}};
    struct store *st = NULL;
    struct host_registry *reg = NULL;
    struct plan *plan = NULL;
    struct spec_diags diags;
    struct store_run run = {0};
    struct store_lease *lease = NULL;
    char **saved_sets = NULL;
    size_t n_saved = 0;
    int64_t run_id = o->resume_run;
    int status = CLI_EXIT_FAIL, rc;

    spec_diags_init(&diags);
    if ((rc = store_open_existing(cli_store_dir(o->store_dir), &st, &err)) < 0)
        goto fail;
    if ((rc = host_registry_scan(NULL, &reg, &err)) < 0)
        goto fail;
    if ((rc = store_run_get(st, run_id, &run, &err)) < 0)
        goto fail;
    /* Two schedulers of one run would run its tasks twice. */
    if ((rc = store_run_lease_take(st, run_id, &lease, &err)) == SIEVE_EEXIST) {
        cli_error(o->verb,
                  "run %lld is still running (%s): wait for it to end, or stop it with "
                  "'sieve cancel %lld' first",
                  (long long)run_id, err.msg, (long long)run_id);
        goto out;
    }
    if (rc < 0)
        goto fail;
    if ((rc = load_args(st, run_id, &saved_sets, &n_saved, &err)) < 0)
        goto fail;
    /* The recorded text, not the file as it is now: resume finishes what ran. */
    struct plan_opts po = {.path = run.pipeline_path,
                           .sets = (const char *const *)saved_sets,
                           .n_sets = n_saved,
                           .text = run.pipeline_text};
    cli_plan_verify_opts(o->verb, &po);
    rc = plan_prepare(&po, reg, st, &plan, &diags, &err);
    if (rc < 0) {
        spec_diags_print(&diags, stderr);
        goto fail;
    }
    struct store_task_row *rows = NULL;
    size_t n = 0;
    if ((rc = store_task_list(st, run_id, NULL, NULL, &rows, &n, &err)) < 0)
        goto fail;
    store_task_rows_free(rows, n);
    if (n != plan->n_tasks) {
        cli_error(o->verb,
                  "run %lld: '%s' now plans %u tasks, the run has %zu; start a new run instead",
                  (long long)run_id, po.path, plan->n_tasks, n);
        goto out;
    }
    status = execute(o, st, plan, run_id, 1);
    goto out;
fail:
    cli_error(o->verb, "%s", err.msg);
    status = cli_exit_from_error(rc);
out:
    for (size_t i = 0; i < n_saved; i++)
        free(saved_sets[i]);
    free(saved_sets);
    store_run_release(&run);
    plan_free(plan);
    host_registry_free(reg);
    spec_diags_release(&diags);
    store_lease_free(lease);
    store_close(st);
    return status;
}
