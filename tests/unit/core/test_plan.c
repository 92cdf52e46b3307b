/*
 * test_plan.c - the planner: expansion counts over dataset x matrix, the wiring a scheduler
 * relies on (deps, n_wait, dependents), key propagation (a mid-pipeline parameter changes
 * that node and everything below, nothing above; a SIEVE_PARAM_NO_KEY parameter changes
 * nothing and cannot take matrix values), media content in leaf keys, and the cache
 * lookup with its "not needed" marking.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "base/hash.h"
#include "core/host/host.h"
#include "core/plan/plan.h"
#include "store/store.h"

#define SWEEP SIEVE_FIXTURES "/pipelines/good/sweep.yaml"

static struct host_registry *reg;

static int
setup(void **state)
{
    struct sieve_errbuf err = {{0}};
    (void)state;
    return host_registry_scan(SIEVE_PIPELINE_PLUGIN_DIR, &reg, &err);
}

static int
teardown(void **state)
{
    (void)state;
    host_registry_free(reg);
    return 0;
}

static struct plan *
make_plan(const char *path, const char *const *sets, size_t n_sets, struct store *st)
{
    struct plan_opts o = {.path = path, .sets = sets, .n_sets = n_sets, .no_lookup = st == NULL};
    struct sieve_errbuf err = {{0}};
    struct spec_diags d;
    struct plan *p = NULL;
    int rc;

    spec_diags_init(&d);
    rc = plan_prepare(&o, reg, st, &p, &d, &err);
    if (rc < 0) {
        spec_diags_print(&d, stderr);
        fprintf(stderr, "%s\n", err.msg);
    }
    spec_diags_release(&d);
    assert_int_equal(rc, 0);
    return p;
}

static const struct plan_node *
node(const struct plan *p, const char *name)
{
    for (uint32_t i = 0; i < p->n_nodes; i++)
        if (!strcmp(p->nodes[i].name, name))
            return &p->nodes[i];
    fail_msg("no node %s", name);
    return NULL;
}

static void
test_plan__expansion_counts_follow_used_variables(void **state)
{
    static const char *const one_keep[] = {"keep=0.5"};
    static const char *const wide[] = {"keep=[0.1,0.2,0.3,0.4]", "vmethod=[dycoke,uniform,topk]"};
    struct plan *p;

    (void)state;
    /* 4 samples; keep x3, vmethod x2 */
    p = make_plan(SWEEP, NULL, 0, NULL);
    assert_int_equal(p->n_samples, 4);
    assert_int_equal(node(p, "media")->n_tasks, 4); /* no variable: once per sample */
    assert_int_equal(node(p, "vis")->n_tasks, 4);
    assert_int_equal(node(p, "aud")->n_tasks, 4);
    assert_int_equal(node(p, "pv")->n_tasks, 4 * 6);    /* keep x vmethod */
    assert_int_equal(node(p, "pa")->n_tasks, 4 * 3);    /* keep only */
    assert_int_equal(node(p, "fused")->n_tasks, 4 * 6); /* through its inputs */
    assert_int_equal(node(p, "score")->n_tasks, 6);     /* reduce: once per variant */
    assert_int_equal(node(p, "score")->n_variants, 6);
    assert_int_equal(p->n_tasks, 4 + 4 + 4 + 24 + 12 + 24 + 6);
    /* resources and retries after defaults */
    assert_int_equal(node(p, "vis")->gpu, 1);
    assert_int_equal(node(p, "aud")->gpu, 0);
    assert_int_equal(node(p, "pv")->retries, 3);
    assert_int_equal(node(p, "fused")->retries, 0);
    assert_int_equal(node(p, "pv")->timeout_s, 60);
    plan_free(p);

    p = make_plan(SWEEP, one_keep, 1, NULL);
    assert_int_equal(node(p, "pv")->n_tasks, 4 * 2);
    assert_int_equal(node(p, "pa")->n_tasks, 4);
    assert_int_equal(node(p, "score")->n_tasks, 2);
    plan_free(p);

    p = make_plan(SWEEP, wide, 2, NULL);
    assert_int_equal(node(p, "media")->n_tasks, 4);
    assert_int_equal(node(p, "pv")->n_tasks, 4 * 12);
    assert_int_equal(node(p, "pa")->n_tasks, 4 * 4);
    assert_int_equal(node(p, "score")->n_tasks, 12);
    assert_string_equal(node(p, "pa")->variants[1].label, "{\"keep\":0.2}");
    assert_string_equal(node(p, "score")->variants[1].label,
                        "{\"keep\":0.1,\"vmethod\":\"uniform\"}");
    plan_free(p);
}

static void
test_plan__wiring_is_topological_and_consistent(void **state)
{
    struct plan *p;

    (void)state;
    p = make_plan(SWEEP, NULL, 0, NULL);
    for (uint32_t t = 0; t < p->n_tasks; t++) {
        const struct plan_task *task = &p->tasks[t];
        const struct plan_node *n = &p->nodes[task->node];
        uint32_t distinct = 0;

        assert_int_equal(task->n_deps,
                         n->n_inputs * ((n->flags & SIEVE_PLUGIN_REDUCE) ? p->n_samples : 1));
        for (uint32_t k = 0; k < task->n_deps; k++) {
            const struct plan_dep *d = &task->deps[k];
            const struct plan_task *src;
            int found = 0, first = 1;
            if (d->task == PLAN_NONE)
                continue;
            assert_true(d->task < t);
            src = &p->tasks[d->task];
            /* the producer is the wired node, for the same sample (sample-major for reduce) */
            assert_int_equal(src->node, n->inputs[k % n->n_inputs].node);
            assert_int_equal(src->sample,
                             task->sample >= 0 ? task->sample : (int32_t)(k / n->n_inputs));
            /* and for the same values of the variables the producer uses */
            for (size_t v = 0; v < p->spec->n_vars; v++) {
                int32_t a = p->nodes[src->node].variants[src->variant].assign[v];
                if (a >= 0)
                    assert_int_equal(a, n->variants[task->variant].assign[v]);
            }
            for (uint32_t j = 0; j < src->n_dependents; j++)
                found |= src->dependents[j] == t;
            assert_true(found);
            for (uint32_t q = 0; q < k; q++)
                if (task->deps[q].task == d->task)
                    first = 0;
            distinct += first;
        }
        assert_int_equal(task->n_wait, distinct);
    }
    /* every dependent edge is a dependency edge */
    for (uint32_t t = 0; t < p->n_tasks; t++)
        for (uint32_t j = 0; j < p->tasks[t].n_dependents; j++) {
            const struct plan_task *c = &p->tasks[p->tasks[t].dependents[j]];
            int found = 0;
            for (uint32_t k = 0; k < c->n_deps; k++)
                found |= c->deps[k].task == t;
            assert_true(found);
        }
    /* fused reads pv's "out" and score reads fused's second port, "scores" */
    assert_int_equal(p->tasks[node(p, "score")->first_task].deps[0].port, 1);
    plan_free(p);
}

/* The key of (node, variant label, sample) in a plan, as hex. */
static const char *
key_of(const struct plan *p, const char *name, const char *label, int32_t sample)
{
    const struct plan_node *n = node(p, name);
    for (uint32_t t = n->first_task; t < n->first_task + n->n_tasks; t++)
        if (p->tasks[t].sample == sample && !strcmp(n->variants[p->tasks[t].variant].label, label))
            return p->tasks[t].key_hex;
    fail_msg("no task %s %s %d", name, label, sample);
    return NULL;
}

static void
test_plan__mid_pipeline_parameter_changes_only_downstream_keys(void **state)
{
    static const char *const change[] = {"pv.segments=20"};
    static const char *const same[] = {"fused.chunk_seconds=2.0", "pa.segments=10"};
    struct plan *a, *b, *c;
    size_t changed = 0, kept = 0;

    (void)state;
    a = make_plan(SWEEP, NULL, 0, NULL);
    b = make_plan(SWEEP, change, 1, NULL);
    c = make_plan(SWEEP, same, 2, NULL);
    assert_int_equal(a->n_tasks, b->n_tasks);
    for (uint32_t t = 0; t < a->n_tasks; t++) {
        const struct plan_task *ta = &a->tasks[t];
        const char *name = a->nodes[ta->node].name;
        const char *label = a->nodes[ta->node].variants[ta->variant].label;
        int downstream = !strcmp(name, "pv") || !strcmp(name, "fused") || !strcmp(name, "score");
        const char *kb = key_of(b, name, label, ta->sample);
        if (downstream) {
            assert_string_not_equal(ta->key_hex, kb);
            changed++;
        } else {
            assert_string_equal(ta->key_hex, kb);
            kept++;
        }
        /* restating a value (2.0 for the float default 2) changes no key: params are canonical */
        assert_string_equal(ta->key_hex, key_of(c, name, label, ta->sample));
    }
    assert_int_equal(changed, 24 + 24 + 6);
    assert_int_equal(kept, 4 + 4 + 4 + 12);
    /* keys differ across samples and across variants */
    assert_string_not_equal(key_of(a, "media", "{}", 0), key_of(a, "media", "{}", 1));
    assert_string_not_equal(key_of(a, "pa", "{\"keep\":0.25}", 0),
                            key_of(a, "pa", "{\"keep\":0.5}", 0));
    /* planning the recorded text gives the same plan as the file */
    {
        struct plan_opts o = {.path = SWEEP, .text = a->spec->text, .no_lookup = 1};
        struct sieve_errbuf err = {{0}};
        struct spec_diags d;
        struct plan *t;
        spec_diags_init(&d);
        assert_int_equal(plan_prepare(&o, reg, NULL, &t, &d, &err), 0);
        assert_int_equal(t->n_tasks, a->n_tasks);
        assert_string_equal(t->tasks[t->n_tasks - 1].key_hex, a->tasks[a->n_tasks - 1].key_hex);
        plan_free(t);
        spec_diags_release(&d);
    }
    plan_free(a);
    plan_free(b);
    plan_free(c);
}

/* The task of (node, variant label, sample) in a plan. */
static uint32_t
task_of(const struct plan *p, const char *name, const char *label, int32_t sample)
{
    const struct plan_node *n = node(p, name);
    for (uint32_t t = n->first_task; t < n->first_task + n->n_tasks; t++)
        if (p->tasks[t].sample == sample && !strcmp(n->variants[p->tasks[t].variant].label, label))
            return t;
    fail_msg("no task %s %s %d", name, label, sample);
    return 0;
}

static void
test_plan__no_key_parameter_leaves_every_key_unchanged(void **state)
{
    /* tp-prune's `threads` is SIEVE_PARAM_NO_KEY; `segments` is an ordinary parameter */
    static const char *const hint[] = {"pv.threads=8", "pa.threads=3"};
    static const char *const real[] = {"pv.threads=8", "pv.segments=20"};
    struct plan *a, *b, *c;

    (void)state;
    a = make_plan(SWEEP, NULL, 0, NULL);
    b = make_plan(SWEEP, hint, 2, NULL);
    c = make_plan(SWEEP, real, 2, NULL);
    assert_int_equal(a->n_tasks, b->n_tasks);
    for (uint32_t t = 0; t < a->n_tasks; t++) {
        const struct plan_task *ta = &a->tasks[t];
        const struct plan_node *na = &a->nodes[ta->node];
        const char *label = na->variants[ta->variant].label;
        uint32_t tb = task_of(b, na->name, label, ta->sample);
        const struct plan_variant *vb = &b->nodes[b->tasks[tb].node].variants[b->tasks[tb].variant];
        int downstream =
            !strcmp(na->name, "pv") || !strcmp(na->name, "fused") || !strcmp(na->name, "score");

        /* the same cache entries serve both plans ... */
        assert_string_equal(ta->key_hex, b->tasks[tb].key_hex);
        /* ... while the worker is still told the value */
        if (!strcmp(na->name, "pv")) {
            assert_non_null(strstr(vb->canonical, "\"threads\":8"));
            assert_null(strstr(vb->key_params, "threads"));
            assert_string_equal(vb->key_params, na->variants[ta->variant].key_params);
            assert_string_not_equal(vb->canonical, na->variants[ta->variant].canonical);
        }
        /* an ordinary parameter next to it still changes that node and everything below */
        if (downstream)
            assert_string_not_equal(ta->key_hex, key_of(c, na->name, label, ta->sample));
        else
            assert_string_equal(ta->key_hex, key_of(c, na->name, label, ta->sample));
    }
    /* the recorded key components (what `sieve explain` diffs) leave the hint out too */
    {
        char *ca =
            plan_task_components(a, task_of(a, "pv", "{\"keep\":0.5,\"vmethod\":\"uniform\"}", 2));
        char *cb =
            plan_task_components(b, task_of(b, "pv", "{\"keep\":0.5,\"vmethod\":\"uniform\"}", 2));
        assert_non_null(ca);
        assert_non_null(cb);
        assert_null(strstr(cb, "threads"));
        assert_string_equal(ca, cb);
        free(ca);
        free(cb);
    }
    plan_free(a);
    plan_free(b);
    plan_free(c);
}

/* Plans `path` with `sets` and expects SIEVE_ESPEC with exactly `msg` in err. */
static void
expect_plan_error(const char *path, const char *const *sets, size_t n_sets, const char *msg)
{
    struct plan_opts o = {.path = path, .sets = sets, .n_sets = n_sets, .no_lookup = 1};
    struct sieve_errbuf err = {{0}};
    struct spec_diags d;
    struct plan *p = NULL;

    spec_diags_init(&d);
    assert_int_equal(plan_prepare(&o, reg, NULL, &p, &d, &err), SIEVE_ESPEC);
    assert_null(p);
    assert_int_equal(d.n_errors, 0); /* a planning error, not a spec diagnostic */
    assert_string_equal(err.msg, msg);
    spec_diags_release(&d);
}

#define NO_MATRIX_MSG                                                                              \
    "node 'pv': parameter 'threads' does not change results and is left out of the task key, "     \
    "so it cannot take matrix values"

struct tmpset {
    char dir[128];
    char yaml[256];
};

static void
tmp_pipeline(struct tmpset *ts, const char *c1_content)
{
    char path[300];
    FILE *f;

    snprintf(ts->dir, sizeof ts->dir, "/tmp/sieve-plan-test-XXXXXX");
    assert_non_null(mkdtemp(ts->dir));
    snprintf(path, sizeof path, "%s/c1.mp4", ts->dir);
    f = fopen(path, "w");
    fputs(c1_content, f);
    fclose(f);
    snprintf(path, sizeof path, "%s/c2.mp4", ts->dir);
    f = fopen(path, "w");
    fputs("second clip", f);
    fclose(f);
    snprintf(path, sizeof path, "%s/m.jsonl", ts->dir);
    f = fopen(path, "w");
    fputs("{\"id\":\"c1\",\"media\":\"c1.mp4\"}\n{\"id\":\"c2\",\"media\":\"c2.mp4\"}\n", f);
    fclose(f);
    snprintf(ts->yaml, sizeof ts->yaml, "%s/p.yaml", ts->dir);
    f = fopen(ts->yaml, "w");
    fputs("dataset: { manifest: m.jsonl }\n"
          "matrix: { keep: [0.25, 0.5] }\n"
          "nodes:\n"
          "  media: { plugin: tp-source }\n"
          "  vis: { plugin: tp-encode, in: { media: media }, with: { modality: vision } }\n"
          "  aud: { plugin: tp-encode, in: { media: media }, with: { modality: audio } }\n"
          "  pv: { plugin: tp-prune, in: { tokens: vis }, with: { keep: \"${keep}\" } }\n",
          f);
    fclose(f);
}

static void
rm_tree(const char *dir)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static void
test_plan__leaf_keys_hash_media_content(void **state)
{
    struct tmpset x, y;
    struct plan *a, *b;

    (void)state;
    tmp_pipeline(&x, "first clip");
    tmp_pipeline(&y, "first clip, edited");
    a = make_plan(x.yaml, NULL, 0, NULL);
    b = make_plan(y.yaml, NULL, 0, NULL);
    /* c1 changed: its whole chain changes; c2 has the same content in another directory and
     * keeps its keys (content, not path, is hashed) */
    assert_string_not_equal(key_of(a, "media", "{}", 0), key_of(b, "media", "{}", 0));
    assert_string_not_equal(key_of(a, "pv", "{\"keep\":0.5}", 0),
                            key_of(b, "pv", "{\"keep\":0.5}", 0));
    assert_string_equal(key_of(a, "media", "{}", 1), key_of(b, "media", "{}", 1));
    assert_string_equal(key_of(a, "pv", "{\"keep\":0.5}", 1), key_of(b, "pv", "{\"keep\":0.5}", 1));
    plan_free(a);
    plan_free(b);
    rm_tree(x.dir);
    rm_tree(y.dir);
}

static void
test_plan__no_key_parameter_cannot_take_matrix_values(void **state)
{
    static const char *const from_cli[] = {"t=[2,4]", "pv.threads=${t}"};
    static const char *const one_value[] = {"t=[4]", "pv.threads=${t}"};
    struct tmpset x;
    char path[300], want[600];
    struct plan *p;
    FILE *f;

    (void)state;
    /* two variants differing only in `threads` would share a key: refused, with its place */
    expect_plan_error(SWEEP, from_cli, 2, "--set pv.threads=${t}: " NO_MATRIX_MSG);
    tmp_pipeline(&x, "first clip");
    snprintf(path, sizeof path, "%s/hint.yaml", x.dir);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("dataset: { manifest: m.jsonl }\n"
          "matrix: { keep: [0.25, 0.5], t: [2, 4] }\n"
          "nodes:\n"
          "  media: { plugin: tp-source }\n"
          "  vis: { plugin: tp-encode, in: { media: media }, with: { modality: vision } }\n"
          "  pv: { plugin: tp-prune, in: { tokens: vis }, with: { keep: \"${keep}\", threads: "
          "\"${t}\" } }\n",
          f);
    fclose(f);
    snprintf(want, sizeof want, "%s:6:82: " NO_MATRIX_MSG, path);
    expect_plan_error(path, NULL, 0, want);
    rm_tree(x.dir);

    /* a variable with one value does not vary, and a fixed hint next to a sweep is fine */
    p = make_plan(SWEEP, one_value, 2, NULL);
    assert_int_equal(node(p, "pv")->n_variants, 6);
    assert_non_null(strstr(node(p, "pv")->variants[5].canonical, "\"threads\":4"));
    plan_free(p);
}

static void
index_outputs(struct store *st, const struct plan *p, const char *name)
{
    const struct plan_node *n = node(p, name);
    struct sieve_errbuf err = {{0}};
    char hex[HASH_HEX_LEN], path[STORE_PATH_MAX];

    for (uint32_t t = n->first_task; t < n->first_task + n->n_tasks; t++)
        for (uint32_t o = 0; o < n->n_outputs; o++) {
            FILE *f;
            plan_artifact_hex(p, t, o, hex);
            assert_int_equal(store_object_path(st, hex, path, sizeof path, 1), 0);
            f = fopen(path, "w");
            fputs(hex, f);
            fclose(f);
            assert_int_equal(store_artifact_index(st, &(struct store_artifact){.key = hex}, &err),
                             0);
        }
}

static void
count_cached(const struct plan *p, const char *name, uint32_t *present, uint32_t *unneeded)
{
    const struct plan_node *n = node(p, name);
    *present = *unneeded = 0;
    for (uint32_t t = n->first_task; t < n->first_task + n->n_tasks; t++) {
        *present += p->tasks[t].cached == 1;
        *unneeded += p->tasks[t].cached == 2;
    }
}

static void
test_plan__lookup_marks_cached_and_unneeded_tasks(void **state)
{
    struct sieve_errbuf err = {{0}};
    struct store *st;
    struct tmpset x;
    struct plan *p;
    uint32_t present, unneeded;
    char sd[200];
    int64_t run;

    (void)state;
    tmp_pipeline(&x, "first clip");
    snprintf(sd, sizeof sd, "%s/store", x.dir);
    assert_int_equal(store_open(sd, &st, &err), 0);
    p = make_plan(x.yaml, NULL, 0, st);
    assert_int_equal(p->n_tasks, 2 + 2 + 2 + 4);
    assert_int_equal(p->n_cached, 0);
    index_outputs(st, p, "pv");
    plan_free(p);

    /* pv is cached; vis only feeds pv, so it is not needed; media still feeds aud */
    p = make_plan(x.yaml, NULL, 0, st);
    count_cached(p, "pv", &present, &unneeded);
    assert_int_equal(present, 4);
    count_cached(p, "vis", &present, &unneeded);
    assert_int_equal(unneeded, 2);
    count_cached(p, "media", &present, &unneeded);
    assert_int_equal(present + unneeded, 0);
    assert_int_equal(p->n_cached, 6);

    /* task rows and their key components go to the store */
    assert_int_equal(store_run_create(st, "t", x.yaml, "", &run, &err), 0);
    assert_int_equal(plan_store_tasks(p, st, run, &err), 0);
    {
        struct store_task_row *rows;
        size_t n;
        json_t *c;
        json_error_t je;
        assert_int_equal(store_task_list(st, run, "cached", NULL, &rows, &n, &err), 0);
        assert_int_equal(n, 6);
        store_task_rows_free(rows, n);
        assert_int_equal(store_task_list(st, run, NULL, "pv", &rows, &n, &err), 0);
        assert_int_equal(n, 4);
        c = json_loads(rows[0].components, 0, &je);
        assert_non_null(c);
        assert_string_equal(json_string_value(json_object_get(c, "plugin")), "tp-prune");
        assert_true(json_is_object(json_object_get(c, "params")));
        assert_string_equal(json_string_value(json_object_get(
                                json_array_get(json_object_get(c, "inputs"), 0), "node")),
                            "vis");
        json_decref(c);
        store_task_rows_free(rows, n);
    }
    plan_free(p);
    store_close(st);
    rm_tree(x.dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plan__expansion_counts_follow_used_variables),
        cmocka_unit_test(test_plan__wiring_is_topological_and_consistent),
        cmocka_unit_test(test_plan__mid_pipeline_parameter_changes_only_downstream_keys),
        cmocka_unit_test(test_plan__no_key_parameter_leaves_every_key_unchanged),
        cmocka_unit_test(test_plan__no_key_parameter_cannot_take_matrix_values),
        cmocka_unit_test(test_plan__leaf_keys_hash_media_content),
        cmocka_unit_test(test_plan__lookup_marks_cached_and_unneeded_tasks),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
