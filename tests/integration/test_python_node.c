/*
 * test_python_node.c - Python nodes (`plugin: python`) run by the real binary: computing from
 * another node's outputs, one model load per slot over many tasks, byte-identical outputs,
 * parameters checked at plan time against the script's declaration, and each failure class
 * (bad input, out of memory, device fault, script bug, interpreter killed or hung).
 *
 * The node is tests/fixtures/python/probe_node.py: y = x * gain over sched-source's x, with
 * an event log ("load <pid> <device>", "run <sample> <pid>") and failures on request.
 * The interpreter is /usr/bin/python3, the one with Debian's numpy.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "sched_util.h"

#define PY "/usr/bin/python3"
#define SCRIPT SIEVE_FIXTURES "/python/probe_node.py"

static char pylog[400];

/* Writes p.yaml: sched-source, then the probe node with extra `with` entries and node keys. */
static void
py_pipeline(struct ws *w, const char *with, const char *node)
{
    FILE *f = fopen(w->yaml, "w");
    snprintf(pylog, sizeof pylog, "%s/py.log", w->dir);
    fprintf(f,
            "name: t\n"
            "dataset: { manifest: clips.jsonl }\n"
            "defaults: { retries: 1 }\n"
            "nodes:\n"
            "  src: { plugin: sched-source, with: { log: \"%s\" } }\n"
            "  py:\n"
            "    plugin: python\n"
            "    in: { x: src }\n"
            "    with: { script: \"%s\", python: %s, log: \"%s\"%s }\n"
            "%s",
            w->log, SCRIPT, PY, pylog, with, node);
    fclose(f);
}

/* Lines of the probe's log that start with `prefix`. */
static int
py_count(const char *prefix)
{
    return ws_count_lines(pylog, prefix);
}

/* Distinct pids among "run" lines. */
static int
py_run_pids(void)
{
    char *text = ws_read(pylog);
    long pids[64];
    int n = 0;
    for (char *line = text; *line;) {
        char *nl = strchr(line, '\n');
        char id[64];
        long pid;
        if (sscanf(line, "run %63s %ld", id, &pid) == 2) {
            int k = 0;
            while (k < n && pids[k] != pid)
                k++;
            if (k == n && n < 64)
                pids[n++] = pid;
        }
        if (!nl)
            break;
        line = nl + 1;
    }
    free(text);
    return n;
}

struct y_check {
    const struct ws *w;
    double gain;
    int count;
};

static int
holds_y(const char *path, const struct bundle *b, void *arg)
{
    struct y_check *c = arg;
    const struct sieve_tensor *y = bundle_tensor_get(b, "y");
    if (!y)
        return 0; /* another node's object */
    const double *v = y->data;
    for (int s = 0; s < c->w->n_samples; s++)
        if (v[0] == c->gain * c->w->sum[s] && v[1] == c->gain * c->w->size[s]) {
            c->count++;
            return 0;
        }
    fprintf(stderr, "object %s holds an unexpected y\n", path);
    return -1;
}

/* Objects holding y: each must be gain * [sum, size] of one sample. Returns their count, or
 * -1 on a wrong one. */
static int
py_check_outputs(const struct ws *w, double gain)
{
    struct y_check c = {w, gain, 0};
    return store_objects_each(w->store, holds_y, &c) < 0 ? -1 : c.count;
}

static void
test_python_node__computes_from_inputs_and_loads_once_per_slot(void **state)
{
    (void)state;
    struct ws w;
    ws_init(&w, 8);
    py_pipeline(&w, ", gain: 3", "");
    const char *args[] = {"run", "--devices", "cpu:2", "p.yaml", NULL};
    assert_int_equal(ws_sieve(&w, 60, args), 0);
    assert_int_equal(py_check_outputs(&w, 3), 8);
    assert_int_equal(py_count("run "), 8);
    /* One interpreter per slot, and the instance loaded once in each over 8 tasks. */
    int pids = py_run_pids();
    assert_true(pids >= 1 && pids <= 2);
    assert_int_equal(py_count("load "), pids);

    /* The same pipeline again is all cache hits: the script's hash and version are in the
     * key, nothing else changed. */
    assert_int_equal(ws_sieve(&w, 60, args), 0);
    assert_int_equal(py_count("run "), 8);
    assert_true(ws_out_has(&w, "0 done, 16 cached"));
    ws_release(&w);
}

static void
test_python_node__outputs_are_byte_identical_across_runs(void **state)
{
    (void)state;
    struct ws w;
    char other[400], cmd[1000];
    ws_init(&w, 4);
    py_pipeline(&w, "", "");
    const char *args[] = {"run", "--devices", "cpu:2", "p.yaml", NULL};
    assert_int_equal(ws_sieve(&w, 60, args), 0);
    snprintf(other, sizeof other, "%s/.sieve-b", w.dir);
    setenv("SIEVE_STORE", other, 1);
    assert_int_equal(ws_sieve(&w, 60, args), 0);
    setenv("SIEVE_STORE", w.store, 1);
    assert_int_equal(py_check_outputs(&w, 2), 4);
    snprintf(cmd, sizeof cmd, "diff -r '%s/objects' '%s/objects' >/dev/null", w.store, other);
    assert_int_equal(system(cmd), 0);
    ws_release(&w);
}

/* Editing the script changes its version in the key: the node and what follows recompute,
 * and `sieve explain` says the version changed. */
static void
test_python_node__editing_the_script_recomputes_its_node(void **state)
{
    (void)state;
    struct ws w;
    char copy[400], cmd[1000];
    ws_init(&w, 3);
    ws_path(&w, "probe.py", copy, sizeof copy);
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", SCRIPT, copy);
    assert_int_equal(system(cmd), 0);
    py_pipeline(&w, "", "");
    /* The same pipeline on a copy of the script, named relative to the pipeline file. */
    snprintf(cmd, sizeof cmd, "sed -i 's|script: \"%s\"|script: probe.py|' '%s'", SCRIPT, w.yaml);
    assert_int_equal(system(cmd), 0);
    const char *args[] = {"run", "--devices", "cpu:1", "p.yaml", NULL};
    assert_int_equal(ws_sieve(&w, 60, args), 0);
    assert_int_equal(py_count("run "), 3);
    FILE *f = fopen(copy, "a");
    fputs("# an edit that changes no behaviour still changes the content hash\n", f);
    fclose(f);
    assert_int_equal(ws_sieve(&w, 60, args), 0);
    assert_int_equal(py_count("run "), 6);   /* recomputed */
    assert_int_equal(ws_exec_count(&w, ""), 3); /* the source above it was not */
    const char *explain[] = {"explain", "last", "py", NULL};
    assert_int_equal(ws_sieve(&w, 30, explain), 0);
    assert_true(ws_out_has(&w, "version"));
    ws_release(&w);
}

static void
test_python_node__parameters_are_checked_at_plan_time(void **state)
{
    (void)state;
    struct ws w;
    ws_init(&w, 2);
    const char *args[] = {"run", "--dry-run", "p.yaml", NULL};

    py_pipeline(&w, ", gian: 3", "");
    assert_int_equal(ws_sieve(&w, 30, args), 1);
    assert_true(ws_out_has(&w, "p.yaml:9:"));
    assert_true(ws_out_has(&w, "node 'py': unknown parameter 'gian' (did you mean 'gain'?)"));

    py_pipeline(&w, ", gain: 101", "");
    assert_int_equal(ws_sieve(&w, 30, args), 1);
    assert_true(ws_out_has(&w, "parameter 'gain': 101 is above the maximum 100"));

    py_pipeline(&w, ", fail: sometimes", "");
    assert_int_equal(ws_sieve(&w, 30, args), 1);
    assert_true(ws_out_has(&w, "'sometimes'"));
    /* Nothing ran: the checks read the declaration, not the model. */
    assert_int_equal(py_count("load "), 0);

    /* `sieve plugins SCRIPT` shows what the planner checked against. */
    setenv("SIEVE_PYTHON", PY, 1);
    const char *show[] = {"plugins", SCRIPT, NULL};
    assert_int_equal(ws_sieve(&w, 30, show), 0);
    unsetenv("SIEVE_PYTHON");
    assert_true(ws_out_has(&w, "python 1.0.0+sha256."));
    assert_true(ws_out_has(&w, "reads: category (manifest row fields)"));
    assert_true(ws_out_has(&w, "  gain             float, default 2.0, range [0, 100]"));
    assert_true(ws_out_has(&w, "  log              string, default \"\", not in task key"));
    ws_release(&w);
}

/* A script that cannot start is reported with its file, line and column before any task. */
static void
test_python_node__syntax_and_import_errors_are_reported_before_any_task(void **state)
{
    (void)state;
    struct ws w;
    char path[400];
    FILE *f;
    ws_init(&w, 2);
    ws_path(&w, "broken.py", path, sizeof path);
    f = fopen(path, "w");
    fputs("SIEVE = {\"version\": \"1\"}\nclass A:\n    def run(self, inputs, ctx)\n"
          "        return {}\n",
          f);
    fclose(f);
    ws_pipeline(&w, "name: t\ndataset: { manifest: clips.jsonl }\nnodes:\n"
                    "  src: { plugin: sched-source }\n"
                    "  py: { plugin: python, in: { x: src }, with: { script: broken.py, "
                    "python: " PY " } }\n");
    const char *args[] = {"run", "p.yaml", NULL};
    assert_int_equal(ws_sieve(&w, 30, args), 1);
    assert_true(ws_out_has(&w, "/broken.py:3:"));
    assert_true(ws_out_has(&w, "syntax error"));
    assert_int_equal(ws_exec_count(&w, ""), 0);

    ws_path(&w, "noimport.py", path, sizeof path);
    f = fopen(path, "w");
    fputs("import os\nimport torch_that_is_not_here\nSIEVE = {\"version\": \"1\"}\n"
          "class A:\n    def run(self, inputs, ctx):\n        return {}\n",
          f);
    fclose(f);
    ws_pipeline(&w, "name: t\ndataset: { manifest: clips.jsonl }\nnodes:\n"
                    "  src: { plugin: sched-source }\n"
                    "  py: { plugin: python, in: { x: src }, with: { script: noimport.py, "
                    "python: " PY " } }\n");
    assert_int_equal(ws_sieve(&w, 30, args), 1);
    assert_true(ws_out_has(&w, "/noimport.py:2:1: node 'py': no module named "
                               "'torch_that_is_not_here'"));
    ws_release(&w);
}

/* Bad input and script bugs fail at once; out-of-memory (MemoryError or CUDA's) is retried. */
static void
test_python_node__exceptions_map_to_error_classes(void **state)
{
    (void)state;
    static const struct {
        const char *fail, *says;
        int tries;
    } cases[] = {
        {"badinput", "sample has no usable x", 1},
        {"internal", "probe_node.py:", 1},
        {"memory", "pretend the host ran out", 2},
        {"cudaoom", "CUDA out of memory", 2},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct ws w;
        char with[200];
        ws_init(&w, 2);
        snprintf(with, sizeof with, ", fail: %s, fail_on: clip01", cases[i].fail);
        py_pipeline(&w, with, "");
        const char *args[] = {"run", "--devices", "cpu:1", "p.yaml", NULL};
        assert_int_equal(ws_sieve(&w, 60, args), 1);
        assert_int_equal(py_count("run clip01 "), cases[i].tries);
        assert_int_equal(py_count("run clip00 "), 1);
        assert_true(ws_out_has(&w, cases[i].says));
        ws_release(&w);
    }
}

/* A CUDA error is a device fault: the device is quarantined and the task moves. */
static void
test_python_node__device_error_quarantines_and_moves(void **state)
{
    (void)state;
    static const char *const fails[] = {"device", "cudaerror"};
    for (size_t i = 0; i < 2; i++) {
        struct ws w;
        char with[200];
        ws_init(&w, 2);
        snprintf(with, sizeof with, ", fail: %s, fail_on: clip01, once: true", fails[i]);
        py_pipeline(&w, with, "    resources: { gpu: 1 }\n");
        const char *args[] = {"run", "--devices", "fake:2", "p.yaml", NULL};
        assert_int_equal(ws_sieve(&w, 60, args), 0);
        assert_int_equal(py_check_outputs(&w, 2), 2);
        assert_int_equal(py_count("run clip01 "), 2);
        /* The device was quarantined; it may be back in service by the end of the run (its
         * fault was one-off), so the run's messages say it, not the final status. */
        assert_true(ws_out_has(&w, " quarantined"));
        ws_release(&w);
    }
}

/* An interpreter killed mid-task is started again and the task retried. */
static void
test_python_node__killed_interpreter_restarts_and_the_task_is_retried(void **state)
{
    (void)state;
    struct ws w;
    ws_init(&w, 3);
    py_pipeline(&w, ", fail: die, fail_on: clip01, once: true", "");
    const char *args[] = {"run", "--devices", "cpu:1", "p.yaml", NULL};
    assert_int_equal(ws_sieve(&w, 60, args), 0);
    assert_int_equal(py_check_outputs(&w, 2), 3);
    assert_int_equal(py_count("run clip01 "), 2);
    assert_true(ws_out_has(&w, "killed by signal 9"));
    assert_int_equal(py_count("load "), 2); /* the new interpreter loads the model again */
    ws_release(&w);
}

/* An interpreter that hangs makes no host call: the stall check kills its worker (and so the
 * interpreter) and the task finishes on a new one. Starting an interpreter and importing numpy
 * makes no host call either (seconds on a loaded 2-core machine), so the stall timeout is not
 * the shortest possible and the node may lose a worker or two more than the one it hangs. */
static void
test_python_node__hung_interpreter_is_a_stall_and_the_task_is_retried(void **state)
{
    (void)state;
    struct ws w;
    ws_init(&w, 2);
    py_pipeline(&w, ", fail: hang, fail_on: clip01, once: true",
                "    resources: { gpu: 1 }\n    retries: 3\n");
    const char *args[] = {"run", "--devices", "fake:2", "--stall-timeout", "5s", "p.yaml", NULL};
    assert_int_equal(ws_sieve(&w, 150, args), 0);
    assert_int_equal(py_check_outputs(&w, 2), 2);
    assert_true(py_count("run clip01 ") >= 2);
    assert_true(ws_out_has(&w, "stalled"));
    ws_release(&w);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_python_node__computes_from_inputs_and_loads_once_per_slot,
                                  ws_teardown),
        cmocka_unit_test_teardown(test_python_node__outputs_are_byte_identical_across_runs,
                                  ws_teardown),
        cmocka_unit_test_teardown(test_python_node__editing_the_script_recomputes_its_node,
                                  ws_teardown),
        cmocka_unit_test_teardown(test_python_node__parameters_are_checked_at_plan_time,
                                  ws_teardown),
        cmocka_unit_test_teardown(
            test_python_node__syntax_and_import_errors_are_reported_before_any_task, ws_teardown),
        cmocka_unit_test_teardown(test_python_node__exceptions_map_to_error_classes, ws_teardown),
        cmocka_unit_test_teardown(test_python_node__device_error_quarantines_and_moves,
                                  ws_teardown),
        cmocka_unit_test_teardown(
            test_python_node__killed_interpreter_restarts_and_the_task_is_retried, ws_teardown),
        cmocka_unit_test_teardown(
            test_python_node__hung_interpreter_is_a_stall_and_the_task_is_retried, ws_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
