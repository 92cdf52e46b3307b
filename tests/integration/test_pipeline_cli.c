/*
 * test_pipeline_cli.c - `sieve run --dry-run`, `sieve explain` and `sieve cache` driven as a
 * user would, against a temporary store. Runs are recorded with the library (plan_prepare +
 * plan_store_tasks, what the scheduler does before executing), and artifacts are written at
 * their object paths, so the binary sees a store exactly as a finished run leaves it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "base/hash.h"
#include "core/host/host.h"
#include "core/plan/plan.h"
#include "store/store.h"

#define SWEEP SIEVE_FIXTURES "/pipelines/good/sweep.yaml"

static char tmp_store[128];
static struct host_registry *reg;

/* Runs `sieve ARGS` with the test plugins and the temporary store; returns the exit status
 * and the output (stdout, and stderr when merged). */
static int
sieve(char *out, size_t cap, int merge, const char *fmt, ...)
{
    char args[2048], cmd[4096];
    size_t len = 0, got;
    va_list ap;
    FILE *p;
    int status;

    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "SIEVE_PLUGIN_PATH='%s' SIEVE_STORE='%s' '%s' %s%s",
             SIEVE_PIPELINE_PLUGIN_DIR, tmp_store, SIEVE_BINARY, args,
             merge ? " 2>&1" : " 2>/dev/null");
    p = popen(cmd, "r");
    assert_non_null(p);
    while (len + 1 < cap && (got = fread(out + len, 1, cap - len - 1, p)) > 0)
        len += got;
    out[len] = '\0';
    status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int
setup(void **state)
{
    struct sieve_errbuf err = {{0}};
    (void)state;
    snprintf(tmp_store, sizeof tmp_store, "/tmp/sieve-cli-test-XXXXXX");
    if (!mkdtemp(tmp_store))
        return -1;
    return host_registry_scan(SIEVE_PIPELINE_PLUGIN_DIR, &reg, &err);
}

static int
teardown(void **state)
{
    char cmd[200];
    (void)state;
    host_registry_free(reg);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_store);
    return system(cmd) == 0 ? 0 : -1;
}

/* Records a run of the sweep with `sets`, and writes + indexes the outputs of `done_node`. */
static int64_t
record_run(const char *const *sets, size_t n_sets, const char *done_node)
{
    struct plan_opts o = {.path = SWEEP, .sets = sets, .n_sets = n_sets};
    struct sieve_errbuf err = {{0}};
    struct spec_diags d;
    struct store *st;
    struct plan *p;
    int64_t run;

    spec_diags_init(&d);
    assert_int_equal(store_open(tmp_store, &st, &err), 0);
    assert_int_equal(plan_prepare(&o, reg, st, &p, &d, &err), 0);
    assert_int_equal(store_run_create(st, "sweep", SWEEP, p->spec->text, &run, &err), 0);
    assert_int_equal(plan_store_tasks(p, st, run, &err), 0);
    for (uint32_t t = 0; done_node && t < p->n_tasks; t++) {
        const struct plan_node *n = &p->nodes[p->tasks[t].node];
        if (strcmp(n->name, done_node))
            continue;
        for (uint32_t port = 0; port < n->n_outputs; port++) {
            char hex[HASH_HEX_LEN], path[STORE_PATH_MAX];
            FILE *f;
            plan_artifact_hex(p, t, port, hex);
            assert_int_equal(store_object_path(st, hex, path, sizeof path, 1), 0);
            f = fopen(path, "w");
            fprintf(f, "artifact %s", hex);
            fclose(f);
            assert_int_equal(store_artifact_index(st, &(struct store_artifact){.key = hex}, &err),
                             0);
        }
    }
    assert_int_equal(store_run_set_state(st, run, STORE_RUN_DONE, NULL, &err), 0);
    plan_free(p);
    store_close(st);
    spec_diags_release(&d);
    return run;
}

static void
test_cli__dry_run_prints_the_plan(void **state)
{
    char out[16384];
    json_t *j, *nodes;
    json_error_t je;

    (void)state;
    assert_int_equal(sieve(out, sizeof out, 0, "run '%s' --dry-run", SWEEP), 0);
    assert_non_null(strstr(out, "plan 'sweep': 4 samples; matrix keep x3, vmethod x2"));
    assert_non_null(strstr(out, "pv     tp-prune                   24        0       24"));
    assert_non_null(strstr(out, "score  tp-reduce                   6        0        6"));
    assert_non_null(strstr(out, "total                             78        0       78"));

    assert_int_equal(sieve(out, sizeof out, 0,
                           "run '%s' --dry-run --json --set keep=0.5 "
                           "--set pa.segments=3",
                           SWEEP),
                     0);
    j = json_loads(out, 0, &je);
    assert_non_null(j);
    nodes = json_object_get(j, "nodes");
    assert_int_equal(json_array_size(nodes), 7);
    for (size_t i = 0; i < json_array_size(nodes); i++) {
        json_t *n = json_array_get(nodes, i);
        if (!strcmp(json_string_value(json_object_get(n, "name")), "pv"))
            assert_int_equal(json_integer_value(json_object_get(n, "tasks")), 8);
    }
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "total"), "tasks")),
                     4 + 4 + 4 + 8 + 4 + 8 + 2);
    json_decref(j);

    /* an invalid pipeline: every problem, exit status 1 */
    assert_int_equal(
        sieve(out, sizeof out, 1, "run '%s/pipelines/bad/cycle.yaml' --dry-run", SIEVE_FIXTURES),
        1);
    assert_non_null(strstr(out, "cycle.yaml:5:3: cycle: b -> c -> a -> b"));
    assert_int_equal(sieve(out, sizeof out, 1, "run /nonexistent.yaml --dry-run"), 3);
    assert_int_equal(sieve(out, sizeof out, 1, "run --dry-run"), 2);
    assert_int_equal(sieve(out, sizeof out, 1, "run '%s' --dry-run --set nosuch.x=1", SWEEP), 1);
    assert_non_null(strstr(out, "--set 'nosuch.x=1': unknown node"));
}

static void
test_cli__cached_tasks_and_explain(void **state)
{
    static const char *const change[] = {"pv.segments=20"};
    char out[16384];
    int64_t r1, r2;

    (void)state;
    r1 = record_run(NULL, 0, "fused");
    /* fused is cached: pv, pa, vis, aud, media only feed it, so none of them need to run */
    assert_int_equal(sieve(out, sizeof out, 0, "run '%s' --dry-run", SWEEP), 0);
    assert_non_null(strstr(out, "fused  tp-fuse                    24       24        0"));
    assert_non_null(strstr(out, "media  tp-source                   4        4        0"));
    assert_non_null(strstr(out, "total                             78       72        6"));

    /* the file as it is now against run 1: nothing changed */
    assert_int_equal(sieve(out, sizeof out, 0, "explain '%s' pv", SWEEP), 0);
    assert_non_null(strstr(out, "24 tasks: 0 with changed keys, 24 unchanged"));
    /* with a changed parameter: that parameter, for pv; an input, for fused */
    assert_int_equal(sieve(out, sizeof out, 0, "explain '%s' pv --set pv.segments=20", SWEEP), 0);
    assert_non_null(strstr(out, "24 with changed keys"));
    assert_non_null(strstr(out, "parameter 'segments': 10 -> 20  (24 tasks)"));
    assert_int_equal(sieve(out, sizeof out, 0, "explain '%s' fused --set pv.segments=20", SWEEP),
                     0);
    assert_non_null(strstr(out, "input 'visual' (from 'pv') changed  (24 tasks)"));
    assert_null(strstr(out, "input 'audio'"));
    assert_int_equal(sieve(out, sizeof out, 0, "explain '%s' aud --set pv.segments=20", SWEEP), 0);
    assert_non_null(strstr(out, "0 with changed keys, 4 unchanged"));

    /* tp-prune's `threads` is not in the task key: another value reuses every cached task,
     * and explain never names it */
    assert_int_equal(sieve(out, sizeof out, 0, "run '%s' --dry-run --set pv.threads=8", SWEEP), 0);
    assert_non_null(strstr(out, "fused  tp-fuse                    24       24        0"));
    assert_non_null(strstr(out, "total                             78       72        6"));
    assert_int_equal(
        sieve(out, sizeof out, 0, "explain '%s' pv --set pv.threads=8 --set pv.segments=20", SWEEP),
        0);
    assert_non_null(strstr(out, "parameter 'segments': 10 -> 20  (24 tasks)"));
    assert_null(strstr(out, "threads"));
    /* and it cannot take matrix values */
    assert_int_equal(sieve(out, sizeof out, 1,
                           "run '%s' --dry-run --set 't=[2,4]' --set 'pv.threads=${t}'", SWEEP),
                     1);
    assert_non_null(strstr(out, "--set pv.threads=${t}: node 'pv': parameter 'threads' does not "
                                "change results and is left out of the task key, so it cannot "
                                "take matrix values\n"));

    /* a second run, explained against the first by run id */
    r2 = record_run(change, 1, NULL);
    assert_int_equal(sieve(out, sizeof out, 0, "explain %lld pv", (long long)r2), 0);
    assert_non_null(strstr(out, "parameter 'segments': 10 -> 20  (24 tasks)"));
    assert_int_equal(sieve(out, sizeof out, 0, "explain %lld score --against %lld", (long long)r2,
                           (long long)r1),
                     0);
    assert_non_null(strstr(out, "input 'kept' (from 'fused') changed  (6 tasks)"));
    assert_int_equal(sieve(out, sizeof out, 0, "explain %lld pv", (long long)r1), 0);
    assert_non_null(strstr(out, "first run"));
    assert_int_equal(sieve(out, sizeof out, 0, "explain 999 pv"), 3);
}

static void
test_cli__cache_ls_verify_gc(void **state)
{
    char out[65536], path[512], *nl;
    json_t *j;
    size_t n;
    FILE *f;

    (void)state;
    assert_int_equal(sieve(out, sizeof out, 0, "cache ls --json"), 0);
    j = json_loads(out, 0, NULL);
    assert_non_null(j);
    n = json_array_size(j);
    assert_int_equal(n, 48); /* fused: 24 tasks x 2 ports */
    snprintf(path, sizeof path, "%s/objects/%.2s/%s.safetensors", tmp_store,
             json_string_value(json_object_get(json_array_get(j, 0), "key")),
             json_string_value(json_object_get(json_array_get(j, 0), "key")));
    json_decref(j);
    /* damage one object, same size: verify reports and drops it */
    f = fopen(path, "r+");
    assert_non_null(f);
    fputc('X', f);
    fclose(f);
    assert_int_equal(sieve(out, sizeof out, 0, "cache verify"), 1);
    assert_non_null(strstr(out, "checksum mismatch"));
    assert_non_null(strstr(out, "checked 48 artifacts: 47 ok, 1 corrupt, 0 missing"));
    assert_int_equal(sieve(out, sizeof out, 0, "cache verify"), 0);

    assert_int_equal(sieve(out, sizeof out, 1, "cache gc"), 2);
    assert_int_equal(sieve(out, sizeof out, 1, "cache gc --max-size lots"), 2);
    assert_int_equal(sieve(out, sizeof out, 0, "cache gc --max-size 0"), 0);
    assert_non_null(strstr(out, "evicted 47 artifacts"));
    assert_int_equal(sieve(out, sizeof out, 0, "cache ls"), 0);
    nl = strstr(out, "0 artifacts, 0B");
    assert_non_null(nl);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cli__dry_run_prints_the_plan),
        cmocka_unit_test(test_cli__cached_tasks_and_explain),
        cmocka_unit_test(test_cli__cache_ls_verify_gc),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
