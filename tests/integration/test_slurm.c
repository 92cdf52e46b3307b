/*
 * test_slurm.c - `sieve run --executor slurm` on a real Slurm (scripts/slurm-local.sh, started
 * by scripts/test.sh): pilots give the same objects as local workers, a pilot cancelled with
 * scancel or lost with its node (set DOWN) costs nothing but time, and a scheduler killed with
 * SIGKILL is resumed without running a finished task again and leaves no pilot behind.
 *
 * Skipped, with the reason, when no Slurm answers (SLURM_CONF, default
 * /tmp/slurm-local/slurm.conf; `sudo bash scripts/slurm-local.sh start` makes one).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "sched_util.h"

static const char *dag = "name: t\n"
                         "dataset: { manifest: clips.jsonl }\n"
                         "matrix: { k: [1, 2] }\n"
                         "defaults: { retries: 2 }\n"
                         "nodes:\n"
                         "  src: { plugin: sched-source, with: { log: \"%1$s\" } }\n"
                         "  a: { plugin: sched-count, in: { in: src }, with: { add: \"${k}\","
                         " log: \"%1$s\", ms: MS }, resources: { gpu: 1 } }\n"
                         "  b: { plugin: sched-count, in: { in: a }, with: { add: 10, log: "
                         "\"%1$s\", metric: true, ms: MS }, resources: { gpu: 1 } }\n";

static const double dag_adds[] = {0, 1, 2, 11, 12};

static char no_slurm[256];
/* Where pilots dial the scheduler: the fixture's host address on the veth ("10.77.0.1") when
 * it runs two nodes, so that a pilot on n2 crosses a network hop; else loopback. */
static char advertise[64] = "127.0.0.1";
static int two_nodes;
static char listen_opt[80], advertise_opt[96];

/* Runs a shell command; returns its exit status and its stdout in out (when given). */
static int
sh(char *out, size_t cap, const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    size_t n = 0;
    char sink[4096];
    while (!feof(p)) {
        size_t k = out ? fread(out + n, 1, cap - 1 - n, p) : fread(sink, 1, sizeof sink, p);
        if (k == 0)
            break;
        if (out)
            n += k;
        if (out && n + 1 >= cap)
            break;
    }
    if (out)
        out[n] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int
group_setup(void **state)
{
    (void)state;
    if (!getenv("SLURM_CONF"))
        setenv("SLURM_CONF", "/tmp/slurm-local/slurm.conf", 1);
    if (sh(NULL, 0, "timeout 10 scontrol ping 2>&1 | grep -q UP") != 0 ||
        sh(NULL, 0, "timeout 10 sinfo -h -o %%T 2>/dev/null | grep -qE '^(idle|mixed)'") != 0)
        snprintf(no_slurm, sizeof no_slurm,
                 "no Slurm answers at SLURM_CONF=%s (start one: sudo bash "
                 "scripts/slurm-local.sh start)",
                 getenv("SLURM_CONF"));
    const char *adv = getenv("SLURM_LOCAL_ADVERTISE");
    char path[512], buf[64] = "";
    snprintf(path, sizeof path, "%s", getenv("SLURM_CONF"));
    char *slash = strrchr(path, '/');
    if (!adv && slash) {
        snprintf(slash, sizeof path - (size_t)(slash - path), "/advertise");
        FILE *f = fopen(path, "r");
        if (f && fgets(buf, sizeof buf, f))
            adv = buf;
        if (f)
            fclose(f);
    }
    if (adv && adv[0])
        snprintf(advertise, sizeof advertise, "%.*s", (int)strcspn(adv, "\n"), adv);
    char nodes[256] = "";
    sh(nodes, sizeof nodes, "sinfo -h -N -o %%N 2>/dev/null | grep -c .");
    two_nodes = atoi(nodes) >= 2;
    snprintf(listen_opt, sizeof listen_opt, "listen=%s:0",
             strcmp(advertise, "127.0.0.1") ? "0.0.0.0" : "127.0.0.1");
    snprintf(advertise_opt, sizeof advertise_opt, "advertise=%s", advertise);
    return 0;
}

static int
skip_without_slurm(void)
{
    if (!no_slurm[0])
        return 0;
    print_message("skipped: %s\n", no_slurm);
    return 1;
}

/* Checks a sieve exit status, printing its output when it is not the one expected. */
static void
expect_rc(const struct ws *w, int rc, int want)
{
    if (rc != want) {
        char *text = ws_read(w->out);
        print_message("sieve exited %d, not %d; its output:\n%s\n", rc, want, text);
        free(text);
    }
    assert_int_equal(rc, want);
}

static void
pipeline(struct ws *w, int ms)
{
    char text[2048], num[16], *p;
    snprintf(text, sizeof text, "%s", dag);
    snprintf(num, sizeof num, "%d", ms);
    while ((p = strstr(text, "MS"))) {
        memmove(p + strlen(num), p + 2, strlen(p + 2) + 1);
        memcpy(p, num, strlen(num));
    }
    ws_pipeline(w, text);
}

/* Pilot jobs of sieve in a live state (pending, running, completing). */
static int
live_pilots(void)
{
    char out[8192];
    sh(out, sizeof out,
       "squeue -h -o '%%j %%T' 2>/dev/null | grep '^sieve-' | grep -cvE "
       "'COMPLETED|CANCELLED|FAILED|TIMEOUT|NODE_FAIL'");
    return atoi(out);
}

/* Running pilot jobs of sieve. */
static int
live_running(void)
{
    char out[64];
    sh(out, sizeof out, "squeue -h -t RUNNING -o '%%j' 2>/dev/null | grep -c '^sieve-'");
    return atoi(out);
}

/* Starts `sieve run p.yaml` on at most two one-GPU pilots; returns its pid. */
static pid_t
spawn_pilot_run(struct ws *w)
{
    const char *args[] = {"run",         "--executor",   "slurm",   "--slurm",  "gpus=1",
                          "--slurm",     "max_pilots=2", "--slurm", listen_opt, "--slurm",
                          advertise_opt, "p.yaml",       NULL};
    return ws_spawn(w, args);
}

static int
wait_exec(const struct ws *w, int n, double seconds)
{
    for (double t = 0; t < seconds; t += 0.05) {
        if (ws_exec_count(w, "") >= n)
            return 1;
        usleep(50000);
    }
    return 0;
}

static void
wait_no_pilots(double seconds)
{
    for (double t = 0; t < seconds && live_pilots() > 0; t += 0.2)
        usleep(200000);
}

static void
test_slurm__pilots_give_identical_objects(void **state)
{
    (void)state;
    if (skip_without_slurm())
        return;
    struct ws w;
    ws_init(&w, 4);
    pipeline(&w, 0);
    const char *local[] = {"run", "--devices", "fake:2,cpu:1", "--store", "local", "p.yaml", NULL};
    expect_rc(&w, ws_sieve(&w, 60, local), 0);
    /* With two nodes the pilots run on n2, behind the veth: a real network hop. */
    const char *pilots[] = {"run",
                            "--executor",
                            "slurm",
                            "--slurm",
                            "gpus=1",
                            "--slurm",
                            "max_pilots=2",
                            "--slurm",
                            listen_opt,
                            "--slurm",
                            advertise_opt,
                            "--slurm",
                            two_nodes ? "sbatch=--nodelist=n2" : "cpus=1",
                            "p.yaml",
                            NULL};
    expect_rc(&w, ws_sieve(&w, 120, pilots), 0);
    assert_true(ws_out_has(&w, "pilot pilot:0"));
    if (two_nodes)
        assert_true(ws_out_has(&w, "on n2, job"));
    assert_int_equal(ws_check_objects(&w, dag_adds, 5), 20);
    /* Every object the pilots wrote is byte for byte the one the local workers wrote. */
    assert_int_equal(sh(NULL, 0, "cd '%s' && diff -r local/objects .sieve/objects", w.dir), 0);
    assert_int_equal(ws_exec_count(&w, ""), 40);
    /* The run cancels what is left of its pilots: none stays behind. */
    wait_no_pilots(10);
    assert_int_equal(live_pilots(), 0);
    ws_release(&w);
}

static void
test_slurm__scancel_of_a_pilot_loses_nothing(void **state)
{
    (void)state;
    if (skip_without_slurm())
        return;
    struct ws w;
    ws_init(&w, 4);
    pipeline(&w, 400);
    pid_t pid = spawn_pilot_run(&w);
    assert_true(wait_exec(&w, 6, 60));
    /* sieve devices shows the pilots with their node and job while they run. */
    char devs[4096] = "";
    sh(devs, sizeof devs, "cd '%s' && '%s' devices", w.dir, SIEVE_BINARY);
    assert_non_null(strstr(devs, "pilot:0"));
    assert_non_null(strstr(devs, ", job "));
    char job[64] = "";
    sh(job, sizeof job,
       "squeue -h -t RUNNING -o '%%i %%j' | grep ' sieve-' | head -1 | cut -d' ' -f1");
    job[strcspn(job, "\n")] = '\0';
    assert_true(job[0] != '\0');
    assert_int_equal(sh(NULL, 0, "scancel %s", job), 0);
    expect_rc(&w, ws_wait(pid, 120), 0);
    assert_true(ws_out_has(&w, "lost the pilot") || ws_out_has(&w, "ended CANCELLED"));
    assert_int_equal(ws_check_objects(&w, dag_adds, 5), 20);
    /* Only the task the cancelled pilot was running ran twice. */
    assert_true(ws_exec_max_repeat(&w) <= 2);
    assert_true(ws_exec_count(&w, "") <= 21);
    wait_no_pilots(10);
    assert_int_equal(live_pilots(), 0);
    ws_release(&w);
}

static void
test_slurm__node_down_requeues_its_tasks(void **state)
{
    (void)state;
    if (skip_without_slurm())
        return;
    struct ws w;
    char node[128] = "";
    ws_init(&w, 4);
    pipeline(&w, 400);

    pid_t pid = spawn_pilot_run(&w);
    assert_true(wait_exec(&w, 6, 60));
    if (two_nodes) {
        /* Both pilots run (one per node) before one node goes. */
        for (int i = 0; i < 100 && live_running() < 2; i++)
            usleep(100000);
        assert_int_equal(live_running(), 2);
    }
    sh(node, sizeof node,
       "squeue -h -t RUNNING -o '%%j %%N' | grep '^sieve-' | tail -1 | cut -d' ' -f2");
    node[strcspn(node, "\n")] = '\0';
    assert_true(node[0] != '\0');
    assert_int_equal(sh(NULL, 0, "scontrol update nodename=%s state=down reason=sieve-test", node),
                     0);
    /* Its pilot is killed (NODE_FAIL, never requeued by Slurm) and its task moves: to the
     * other node's pilot, or (one node) to a new pilot once the node is back. */
    int rc;
    if (two_nodes) {
        rc = ws_wait(pid, 150);
        sh(NULL, 0, "scontrol update nodename=%s state=resume", node);
    } else {
        sleep(2);
        assert_int_equal(sh(NULL, 0, "scontrol update nodename=%s state=resume", node), 0);
        rc = ws_wait(pid, 150);
    }
    expect_rc(&w, rc, 0);
    assert_true(ws_out_has(&w, "lost the pilot"));
    assert_int_equal(ws_check_objects(&w, dag_adds, 5), 20);
    assert_true(ws_exec_max_repeat(&w) <= 2);
    wait_no_pilots(10);
    assert_int_equal(live_pilots(), 0);
    ws_release(&w);
}

static void
test_slurm__sigkill_then_resume_reruns_nothing_finished(void **state)
{
    (void)state;
    if (skip_without_slurm())
        return;
    struct ws w;
    ws_init(&w, 4);
    pipeline(&w, 400);
    /* This run takes its executor from the pipeline (and resume from the recorded pipeline):
     * only the machine's addresses come from the command line. */
    FILE *f = fopen(w.yaml, "a");
    fputs("executor: { kind: slurm, gpus: 1, max_pilots: 2, drain: 60 }\n", f);
    fclose(f);
    /* Two nodes: one exclusive pilot on each, and the node of one goes down for good; its
     * tasks finish on the other. One node: it goes down, and comes back after 2 s. */
    const char *args[] = {"run", "--slurm", listen_opt, "--slurm", advertise_opt, "p.yaml", NULL};
    pid_t pid = ws_spawn(&w, args);
    assert_true(wait_exec(&w, 8, 60));
    kill(pid, SIGKILL);
    assert_int_equal(ws_wait(pid, 10), 128 + SIGKILL);
    int before = ws_exec_count(&w, "");
    /* The pilots lose their scheduler and leave by themselves (the running task, if any,
     * finishes first). */
    wait_no_pilots(30);
    assert_int_equal(live_pilots(), 0);
    const char *resume[] = {"resume", "--slurm", listen_opt, "--slurm", advertise_opt, "1", NULL};
    expect_rc(&w, ws_sieve(&w, 120, resume), 0);
    assert_true(ws_out_has(&w, "sieve: slurm: pilots"));
    assert_int_equal(ws_check_objects(&w, dag_adds, 5), 20);
    /* Only tasks in flight at the kill (at most one per pilot) ran twice. */
    int total = ws_exec_count(&w, "");
    assert_true(total <= 20 + 2);
    assert_true(before < total || before >= 20);
    assert_true(ws_exec_max_repeat(&w) <= 2);
    wait_no_pilots(10);
    assert_int_equal(live_pilots(), 0);
    ws_release(&w);
}

static void
test_slurm__usr1_drains_a_pilot_without_losing_its_task(void **state)
{
    (void)state;
    if (skip_without_slurm())
        return;
    struct ws w;
    ws_init(&w, 4);
    pipeline(&w, 400);
    pid_t pid = spawn_pilot_run(&w);
    assert_true(wait_exec(&w, 6, 60));
    /* What Slurm's --signal=B:USR1@T sends before the time limit: the pilot finishes its
     * task, leaves (COMPLETED, not lost) and is replaced. */
    char job[64] = "";
    sh(job, sizeof job,
       "squeue -h -t RUNNING -o '%%i %%j' | grep ' sieve-' | head -1 | cut -d' ' -f1");
    job[strcspn(job, "\n")] = '\0';
    assert_true(job[0] != '\0');
    assert_int_equal(sh(NULL, 0, "scancel --batch --signal=USR1 %s", job), 0);
    expect_rc(&w, ws_wait(pid, 120), 0);
    assert_int_equal(ws_check_objects(&w, dag_adds, 5), 20);
    /* Drained, not killed: no task ran twice, no pilot was lost. */
    assert_int_equal(ws_exec_max_repeat(&w), 1);
    assert_false(ws_out_has(&w, "lost the pilot"));
    char st[256] = "";
    sh(st, sizeof st, "squeue -h -t all -j %s -o %%T", job);
    assert_non_null(strstr(st, "COMPLETED"));
    wait_no_pilots(10);
    assert_int_equal(live_pilots(), 0);
    ws_release(&w);
}

static void
test_slurm__sieve_cancel_cancels_the_pilots(void **state)
{
    (void)state;
    if (skip_without_slurm())
        return;
    struct ws w;
    ws_init(&w, 4);
    pipeline(&w, 400);
    pid_t pid = spawn_pilot_run(&w);
    assert_true(wait_exec(&w, 4, 60));
    const char *cancel[] = {"cancel", "1", NULL};
    pid_t c = ws_spawn(&w, cancel);
    assert_int_equal(ws_wait(c, 30), 0);
    expect_rc(&w, ws_wait(pid, 60), 130);
    /* The run's jobs are gone: cancelled by name as the scheduler stops. */
    wait_no_pilots(10);
    assert_int_equal(live_pilots(), 0);
    ws_release(&w);
}

static pid_t daemon_pid;

/* The daemon of the serve test goes too when an assertion left it running. */
static int
serve_teardown(void **state)
{
    if (daemon_pid > 0) {
        kill(daemon_pid, SIGKILL);
        waitpid(daemon_pid, NULL, 0);
        daemon_pid = 0;
    }
    return ws_teardown(state);
}

static void
test_slurm__serve_runs_submitted_runs_on_its_pilots(void **state)
{
    (void)state;
    if (skip_without_slurm())
        return;
    struct ws w;
    char json[400];
    ws_init(&w, 4);
    pipeline(&w, 0);
    snprintf(json, sizeof json, "%s/scheduler.json", w.store);
    const char *serve[] = {"serve",    "--listen",   "127.0.0.1:0",  "--grace",
                           "1s",       "--executor", "slurm",        "--slurm",
                           "gpus=1",   "--slurm",    "max_pilots=2", "--slurm",
                           listen_opt, "--slurm",    advertise_opt,  NULL};
    pid_t daemon = daemon_pid = ws_spawn(&w, serve);
    int up = 0;
    for (int i = 0; i < 500 && !up; i++) {
        char *text = ws_read(json);
        up = strstr(text, "http://127.0.0.1:") != NULL;
        free(text);
        usleep(20000);
    }
    assert_true(up);
    /* `sieve run` on a served store is submitted to the daemon, whose pilots run it. */
    ws_live_pid = 0;
    const char *run[] = {"run", "p.yaml", NULL};
    pid_t r = ws_spawn(&w, run);
    expect_rc(&w, ws_wait(r, 120), 0);
    assert_int_equal(ws_check_objects(&w, dag_adds, 5), 20);
    assert_true(ws_out_has(&w, "pilot pilot:0"));
    /* The daemon keeps its pilots between runs; sieve devices shows where they are. */
    char devs[4096] = "";
    sh(devs, sizeof devs, "cd '%s' && '%s' devices", w.dir, SIEVE_BINARY);
    assert_non_null(strstr(devs, ", job "));
    /* SIGTERM drains the daemon, which cancels its pilots as it stops. */
    assert_int_equal(kill(daemon, SIGTERM), 0);
    expect_rc(&w, ws_wait(daemon, 30), 0);
    daemon_pid = 0;
    wait_no_pilots(10);
    assert_int_equal(live_pilots(), 0);
    ws_release(&w);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_slurm__pilots_give_identical_objects, ws_teardown),
        cmocka_unit_test_teardown(test_slurm__scancel_of_a_pilot_loses_nothing, ws_teardown),
        cmocka_unit_test_teardown(test_slurm__node_down_requeues_its_tasks, ws_teardown),
        cmocka_unit_test_teardown(test_slurm__sigkill_then_resume_reruns_nothing_finished,
                                  ws_teardown),
        cmocka_unit_test_teardown(test_slurm__usr1_drains_a_pilot_without_losing_its_task,
                                  ws_teardown),
        cmocka_unit_test_teardown(test_slurm__sieve_cancel_cancels_the_pilots, ws_teardown),
        cmocka_unit_test_teardown(test_slurm__serve_runs_submitted_runs_on_its_pilots,
                                  serve_teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, NULL);
}
