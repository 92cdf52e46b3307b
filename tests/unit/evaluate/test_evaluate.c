/*
 * test_evaluate.c - the evaluate and evaluate-reduce plugins through the ABI (dlopen of the
 * built .so files, mock host): kept bundles of each shape, metric values, sieve.metrics rows,
 * category means, probe and answer accuracy.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "plugins/evaluate/metrics.h"
#include "tests/support/mock_host.h"

static struct mock_plugin
load_plugin(const char *name)
{
    char path[512];
    struct mock_plugin l;
    snprintf(path, sizeof path, "%s/%s.so", SIEVE_BUILD_PLUGIN_DIR, name);
    assert_int_equal(mock_plugin_open(&l, path), 0);
    assert_string_equal(l.desc->name, name);
    return l;
}

/* Default parameter values from the table, with one optional override. */
static void
defaults(const struct sieve_plugin *d, struct sieve_value *v, const char *key, const char *val)
{
    const char *kv[] = {key, val, NULL};
    assert_int_equal(mock_params(d, key ? kv : NULL, v), 0);
}

/* Full encode outputs: video 2 groups of 1x2 tokens, audio 3 tokens, width 2. */
static void
full_inputs(struct sieve_bundle *vb, struct sieve_bundle *ab)
{
    const float vt[8] = {1, 0, 0, 1, 1, 1, 1, 0};
    const float vimp[4] = {1, 2, 3, 4};
    const int32_t grid[3] = {2, 1, 2};
    const float at[6] = {1, 0, 0, 1, 1, 0};
    const float aimp[3] = {1, 1, 2};
    mock_tensor_add(vb, "tokens", SIEVE_DTYPE_F32, 3, (int64_t[]){2, 2, 2}, vt);
    mock_tensor_add(vb, "grid", SIEVE_DTYPE_I32, 1, (int64_t[]){3}, grid);
    mock_tensor_add(vb, "importance", SIEVE_DTYPE_F32, 2, (int64_t[]){2, 2}, vimp);
    mock_tensor_add(ab, "tokens", SIEVE_DTYPE_F32, 2, (int64_t[]){3, 2}, at);
    mock_tensor_add(ab, "importance", SIEVE_DTYPE_F32, 1, (int64_t[]){3}, aimp);
}

/* The value of metric `name` in an evaluate output. */
static double
metric(const struct sieve_bundle *b, const char *name)
{
    const struct sieve_host *h = mock_host();
    const char *list = h->meta_get(b, "metric_names");
    const double *v = h->tensor_get(b, "metrics")->data;
    assert_non_null(list);
    int i = 0;
    for (const char *p = list; p; p = strchr(p, ','), p = p ? p + 1 : NULL, i++)
        if (!strncmp(p, name, strlen(name)) && (p[strlen(name)] == ',' || !p[strlen(name)]))
            return v[i];
    fail_msg("no metric '%s'", name);
    return NAN;
}

static struct sieve_bundle *
run_evaluate(struct sieve_bundle *kept, int with_audio, struct sieve_errbuf *err, int *rc)
{
    struct mock_plugin l = load_plugin("evaluate");
    const struct sieve_host *h = mock_host();
    struct sieve_value v[16];
    void *state;
    defaults(l.desc, v, NULL, NULL);
    assert_int_equal(l.desc->init(h, v, &state, err), 0);
    struct sieve_bundle *vb = mock_bundle_new(), *ab = mock_bundle_new(), *ob = mock_bundle_new();
    full_inputs(vb, ab);
    const struct sieve_bundle *ins[3] = {vb, with_audio ? ab : NULL, kept};
    struct sieve_bundle *outs[1] = {ob};
    struct sieve_sample sample = {"clip01", "/dev/null", "Music", NULL};
    struct sieve_ctx ctx = mock_ctx(&sample, 1);
    *rc = l.desc->process(state, &ctx, ins, outs, err);
    l.desc->free(state);
    mock_bundle_free(vb);
    mock_bundle_free(ab);
    mock_plugin_close(&l);
    return ob;
}

static void
test_evaluate__pruned_visual_bundle(void **st)
{
    (void)st;
    struct sieve_errbuf err;
    int rc;
    struct sieve_bundle *kept = mock_bundle_new();
    const float kt[4] = {0, 1, 1, 1};          /* full rows 1 and 2 */
    const int32_t idx[6] = {0, 0, 1, 1, 0, 0}; /* (t, y, x) */
    mock_tensor_add(kept, "tokens", SIEVE_DTYPE_F32, 2, (int64_t[]){2, 2}, kt);
    mock_tensor_add(kept, "index", SIEVE_DTYPE_I32, 2, (int64_t[]){2, 3}, idx);
    struct sieve_bundle *ob = run_evaluate(kept, 1, &err, &rc);
    if (rc < 0)
        fail_msg("process: %s", err.msg);
    assert_float_equal(metric(ob, "tokens_in_video"), 4, 0);
    assert_float_equal(metric(ob, "tokens_out_video"), 2, 0);
    assert_float_equal(metric(ob, "keep_video"), 0.5, 1e-12);
    /* Audio is not in the bundle: it reaches the LLM whole. */
    assert_float_equal(metric(ob, "keep_audio"), 1, 0);
    assert_float_equal(metric(ob, "retention_audio"), 1, 1e-9);
    assert_float_equal(metric(ob, "coverage_audio"), 1, 0);
    /* full mean (0.75, 0.5), kept mean (0.5, 1): cos = 0.875 / sqrt(0.8125 · 1.25). */
    assert_float_equal(metric(ob, "retention_video"), 0.875 / sqrt(0.8125 * 1.25), 1e-6);
    /* Dropped (1,0) twice; best kept match (1,1): cos 1/sqrt(2). */
    assert_float_equal(metric(ob, "coverage_video"), sqrt(0.5), 1e-6);
    assert_float_equal(metric(ob, "importance_video"), 0.5, 1e-6); /* (2 + 3) / 10 */
    /* Overall values weight the modalities by their full token counts, 4 video and 3 audio. */
    assert_float_equal(metric(ob, "coverage"), (4 * sqrt(0.5) + 3 * 1.0) / 7, 1e-6);
    assert_float_equal(metric(ob, "retention"),
                       (4 * 0.875 / sqrt(0.8125 * 1.25) + 3 * metric(ob, "retention_audio")) / 7,
                       1e-6);
    assert_float_equal(metric(ob, "tokens_out"), 5, 0);
    struct eval_llm m7;
    eval_llm_preset("qwen2.5-omni-7b", &m7);
    assert_float_equal(metric(ob, "flops_ratio"),
                       eval_prefill_flops(&m7, 5) / eval_prefill_flops(&m7, 7), 1e-12);
    assert_float_equal(metric(ob, "kv_bytes_kept"), 5 * 57344.0, 1e-6);
    const struct sieve_host *h = mock_host();
    const char *rows = h->meta_get(ob, "sieve.metrics");
    assert_non_null(rows);
    assert_non_null(strstr(rows, "{\"metric\":\"keep_video\",\"category\":\"Music\",\"value\":0.5,"
                                 "\"sample\":\"clip01\"}"));
    assert_string_equal(h->meta_get(ob, "category"), "Music");
    assert_int_equal(h->tensor_get(ob, "pooled_full")->shape[0], 4);
    assert_non_null(h->tensor_get(ob, "pooled_kept"));
    mock_bundle_free(ob);
    mock_bundle_free(kept);
}

static void
test_evaluate__fused_bundle_with_other_width(void **st)
{
    (void)st;
    struct sieve_errbuf err;
    int rc;
    struct sieve_bundle *kept = mock_bundle_new();
    const float kt[9] = {9, 9, 9, 9, 9, 9, 9, 9, 9}; /* width 3: features come from full */
    const unsigned char mod[3] = {0, 1, 1};
    const int32_t full[3] = {2, 0, 2};
    mock_tensor_add(kept, "tokens", SIEVE_DTYPE_F32, 2, (int64_t[]){3, 3}, kt);
    mock_tensor_add(kept, "modality", SIEVE_DTYPE_U8, 1, (int64_t[]){3}, mod);
    mock_tensor_add(kept, "full_index", SIEVE_DTYPE_I32, 1, (int64_t[]){3}, full);
    struct sieve_bundle *ob = run_evaluate(kept, 1, &err, &rc);
    if (rc < 0)
        fail_msg("process: %s", err.msg);
    assert_float_equal(metric(ob, "tokens_out_video"), 1, 0);
    assert_float_equal(metric(ob, "tokens_out_audio"), 2, 0);
    /* Audio kept (1,0) twice; dropped (0,1) has cos 0 with both. */
    assert_float_equal(metric(ob, "coverage_audio"), 0, 1e-9);
    assert_float_equal(metric(ob, "importance_audio"), 0.75, 1e-6); /* (1 + 2) / 4 */
    /* Video kept (1,1) vs full mean (0.75, 0.5). */
    assert_float_equal(metric(ob, "retention_video"), 1.25 / sqrt(2 * 0.8125), 1e-6);
    mock_bundle_free(ob);
    mock_bundle_free(kept);

    /* An index past the full tokens is bad input with the row named. */
    kept = mock_bundle_new();
    const int32_t bad[3] = {2, 0, 7};
    mock_tensor_add(kept, "tokens", SIEVE_DTYPE_F32, 2, (int64_t[]){3, 3}, kt);
    mock_tensor_add(kept, "modality", SIEVE_DTYPE_U8, 1, (int64_t[]){3}, mod);
    mock_tensor_add(kept, "full_index", SIEVE_DTYPE_I32, 1, (int64_t[]){3}, bad);
    ob = run_evaluate(kept, 1, &err, &rc);
    assert_int_equal(rc, SIEVE_EBADINPUT);
    assert_non_null(strstr(err.msg, "row 2"));
    mock_bundle_free(ob);
    mock_bundle_free(kept);
}

static void
test_evaluate__full_bundle_keeps_everything(void **st)
{
    (void)st;
    struct sieve_errbuf err;
    int rc;
    struct sieve_bundle *kept = mock_bundle_new(), *ab = mock_bundle_new();
    full_inputs(kept, ab); /* the full video bundle as "kept" */
    struct sieve_bundle *ob = run_evaluate(kept, 0, &err, &rc);
    if (rc < 0)
        fail_msg("process: %s", err.msg);
    assert_float_equal(metric(ob, "keep"), 1, 0);
    assert_float_equal(metric(ob, "retention"), 1, 1e-9);
    assert_float_equal(metric(ob, "coverage"), 1, 0);
    assert_float_equal(metric(ob, "tokens_in_audio"), 0, 0);
    assert_float_equal(metric(ob, "flops_ratio"), 1, 0);
    mock_bundle_free(ob);
    mock_bundle_free(kept);
    mock_bundle_free(ab);
}

/* One evaluate-like output: metrics (retention, keep) and pooled features. */
static struct sieve_bundle *
sample_scores(double retention, double keep, float px, float py)
{
    struct sieve_bundle *b = mock_bundle_new();
    const double m[2] = {retention, keep};
    const float p[2] = {px, py};
    mock_tensor_add(b, "metrics", SIEVE_DTYPE_F64, 1, (int64_t[]){2}, m);
    mock_tensor_add(b, "pooled_full", SIEVE_DTYPE_F32, 1, (int64_t[]){2}, p);
    mock_tensor_add(b, "pooled_kept", SIEVE_DTYPE_F32, 1, (int64_t[]){2}, p);
    mock_host()->meta_set(b, "metric_names", "retention,keep");
    return b;
}

/* The "value" of the row (metric, category) in a sieve.metrics array. */
static double
row_value(const char *rows, const char *metric, const char *cat)
{
    char key[256];
    snprintf(key, sizeof key, "{\"metric\":\"%s\",\"category\":\"%s\",\"value\":", metric, cat);
    const char *p = strstr(rows, key);
    if (!p)
        fail_msg("no row %s/%s in %s", metric, cat, rows);
    return atof(p + strlen(key));
}

static void
test_evaluate__reduce_means_probe_and_answers(void **st)
{
    (void)st;
    char path[] = "/tmp/sieve-pred-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs("{\"id\": \"s0\", \"answer\": \"Yes\"}\n{\"id\":\"s1\",\"answer\":\"no\"}\n\n"
          "{\"id\":\"s2\",\"answer\":\" B \"}\n",
          f);
    fclose(f);

    struct mock_plugin l = load_plugin("evaluate-reduce");
    assert_true(l.desc->flags & SIEVE_PLUGIN_REDUCE);
    const struct sieve_host *h = mock_host();
    struct sieve_value v[8];
    struct sieve_errbuf err;
    void *state;
    defaults(l.desc, v, "predictions", path);
    assert_int_equal(l.desc->init(h, v, &state, &err), 0);
    /* Categories given out of order: the output sorts them. */
    struct sieve_sample samples[4] = {
        {"s2", "/m2", "B", "{\"id\":\"s2\",\"answer\":\"b\"}"},
        {"s0", "/m0", "A", "{\"id\":\"s0\",\"answer\":\"yes\"}"},
        {"s1", "/m1", "A", "{\"id\":\"s1\",\"answer\":\"yes\"}"},
        {"s3", "/m3", "B", "{\"id\":\"s3\",\"answer\":\"c\"}"},
    };
    struct sieve_bundle *scores[4] = {
        sample_scores(0.8, 0.5, 0.1f, 0.9f),
        sample_scores(1.0, 0.5, 1.0f, 0.0f),
        sample_scores(0.5, 0.25, 0.9f, 0.1f),
        sample_scores(0.6, 0.5, 0.0f, 1.0f),
    };
    /* Sample-major, two ports: scores, then the optional answers (unconnected here). */
    struct sieve_bundle *in[8] = {0};
    for (int i = 0; i < 4; i++)
        in[2 * i] = scores[i];
    struct sieve_bundle *ob = mock_bundle_new();
    struct sieve_bundle *outs[1] = {ob};
    struct sieve_ctx ctx = mock_ctx(samples, 4);
    int rc = l.desc->process(state, &ctx, (const struct sieve_bundle *const *)in, outs, &err);
    if (rc < 0)
        fail_msg("process: %s", err.msg);
    const char *rows = h->meta_get(ob, "sieve.metrics");
    assert_float_equal(row_value(rows, "retention", "A"), 0.75, 1e-12);
    assert_float_equal(row_value(rows, "retention", "B"), 0.7, 1e-12);
    assert_float_equal(row_value(rows, "retention", "all"), 0.725, 1e-12);
    assert_float_equal(row_value(rows, "samples", "A"), 2, 0);
    assert_float_equal(row_value(rows, "probe_acc", "all"), 1, 0);
    assert_float_equal(row_value(rows, "probe_acc_full", "B"), 1, 0);
    /* s0 right (case), s1 wrong, s2 right (trimmed), s3 has no prediction: wrong. */
    assert_float_equal(row_value(rows, "answer_acc", "A"), 0.5, 1e-12);
    assert_float_equal(row_value(rows, "answer_acc", "B"), 0.5, 1e-12);
    assert_float_equal(row_value(rows, "answer_acc", "all"), 0.5, 1e-12);
    assert_null(strstr(rows, "\"sample\""));
    assert_string_equal(h->meta_get(ob, "categories"), "[\"A\",\"B\"]");
    const struct sieve_tensor *means = h->tensor_get(ob, "means");
    assert_int_equal(means->shape[0], 3);
    /* metric_names: samples, retention, keep, probe_acc, probe_acc_full, answer_acc. */
    assert_string_equal(h->meta_get(ob, "metric_names"),
                        "samples,retention,keep,probe_acc,probe_acc_full,answer_acc");
    assert_float_equal(((const double *)means->data)[2 * 6 + 2], (0.5 + 0.5 + 0.25 + 0.5) / 4,
                       1e-12);
    mock_bundle_free(ob);
    l.desc->free(state);

    /* A prediction line without an answer is bad input naming the file and line. */
    f = fopen(path, "w");
    fputs("{\"id\":\"s0\"}\n", f);
    fclose(f);
    assert_int_equal(l.desc->init(h, v, &state, &err), 0);
    ob = mock_bundle_new();
    outs[0] = ob;
    rc = l.desc->process(state, &ctx, (const struct sieve_bundle *const *)in, outs, &err);
    assert_int_equal(rc, SIEVE_EBADINPUT);
    assert_non_null(strstr(err.msg, ":1:"));
    l.desc->free(state);
    mock_bundle_free(ob);

    /* Answers on the `answers` port (a Python node's outputs) win over the file: metadata
     * `answer` per sample, compared the same way; a bundle without one is wrong. */
    static const char *const said[4] = {"B", "no", " YES", NULL};
    for (int i = 0; i < 4; i++) {
        in[2 * i + 1] = mock_bundle_new();
        if (said[i])
            assert_int_equal(h->meta_set(in[2 * i + 1], "answer", said[i]), 0);
    }
    assert_int_equal(l.desc->init(h, v, &state, &err), 0);
    ob = mock_bundle_new();
    outs[0] = ob;
    rc = l.desc->process(state, &ctx, (const struct sieve_bundle *const *)in, outs, &err);
    if (rc < 0)
        fail_msg("process: %s", err.msg);
    rows = h->meta_get(ob, "sieve.metrics");
    /* s2 right, s0 wrong, s1 right (case, space), s3 no answer: wrong. */
    assert_float_equal(row_value(rows, "answer_acc", "A"), 0.5, 1e-12);
    assert_float_equal(row_value(rows, "answer_acc", "B"), 0.5, 1e-12);
    assert_float_equal(row_value(rows, "answer_acc", "all"), 0.5, 1e-12);
    l.desc->free(state);
    mock_bundle_free(ob);
    for (int i = 0; i < 8; i++)
        if (in[i])
            mock_bundle_free(in[i]);
    mock_plugin_close(&l);
    unlink(path);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_evaluate__pruned_visual_bundle),
        cmocka_unit_test(test_evaluate__fused_bundle_with_other_width),
        cmocka_unit_test(test_evaluate__full_bundle_keeps_everything),
        cmocka_unit_test(test_evaluate__reduce_means_probe_and_answers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
