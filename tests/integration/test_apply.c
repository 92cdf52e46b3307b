/*
 * test_apply.c - `sieve apply` end to end: example-topk on bundles written here keeps the
 * right rows in the right order with the right metadata (checked against an independent
 * brute-force selection), and every user mistake or plugin failure gives its exit status and
 * a one-line message, without leaving an output file behind.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/support/cli_test.h"
#include "base/bundle.h"

#define TEST_PATH "SIEVE_PLUGIN_PATH='" SIEVE_TEST_PLUGIN_DIR "'"

static char dir[] = "/tmp/sieve-apply-test-XXXXXX";

/* A path in the test directory. The result lives until 16 more calls; copy it to keep it. */
static const char *
path_of(const char *name)
{
    return test_path(dir, name);
}

/* Writes a bundle with one F32 tensor `name` of `shape` holding `data`, and optionally an
 * F32 `importance` of `n_imp` values. */
static void
write_tokens(const char *file, const char *name, uint32_t ndim, const int64_t *shape,
             const float *data, const float *imp, int64_t n_imp)
{
    struct bundle *b = bundle_new();
    struct sieve_errbuf err;

    test_tensor_add(b, name, SIEVE_DTYPE_F32, ndim, shape, data);
    if (imp)
        test_tensor_add(b, "importance", SIEVE_DTYPE_F32, 1, &n_imp, imp);
    assert_int_equal(bundle_meta_set(b, "source", "test", &err), 0);
    test_bundle_write(b, file);
}

/*
 * The rows topk must keep, found without sorting: row i is kept when fewer than k rows
 * outrank it (larger norm, or equal norm and lower index).
 */
static int64_t
expected_rows(const float *x, int64_t rows, int64_t cols, double keep, int32_t *kept)
{
    double *norm = calloc((size_t)rows, sizeof *norm);
    int64_t k = (int64_t)llround(keep * (double)rows), n = 0;

    if (k < 1)
        k = 1;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++)
            norm[r] += (double)x[r * cols + c] * x[r * cols + c];
    for (int64_t i = 0; i < rows; i++) {
        int64_t above = 0;
        for (int64_t j = 0; j < rows; j++)
            above += norm[j] > norm[i] || (norm[j] == norm[i] && j < i);
        if (above < k)
            kept[n++] = (int32_t)i;
    }
    free(norm);
    return n;
}

/* Checks an output bundle of example-topk against the expectation for input x. */
static void
check_output(const char *file, const float *x, int64_t rows, int64_t cols, double keep,
             const float *imp)
{
    struct bundle *b;
    struct sieve_errbuf err;
    const struct sieve_tensor *t, *idx, *ti;
    int32_t *want = calloc((size_t)rows, sizeof *want);
    int64_t k = expected_rows(x, rows, cols, keep, want);
    char text[64];

    assert_int_equal(bundle_read(file, &b, &err), 0);
    t = bundle_tensor_get(b, "tokens");
    idx = bundle_tensor_get(b, "index");
    assert_non_null(t);
    assert_non_null(idx);
    assert_int_equal(t->dtype, SIEVE_DTYPE_F32);
    assert_int_equal(t->ndim, 2);
    assert_int_equal(t->shape[0], k);
    assert_int_equal(t->shape[1], cols);
    assert_int_equal(idx->dtype, SIEVE_DTYPE_I32);
    assert_int_equal(idx->shape[0], k);
    for (int64_t i = 0; i < k; i++) {
        assert_int_equal(((const int32_t *)idx->data)[i], want[i]);
        assert_memory_equal((const float *)t->data + i * cols, x + want[i] * cols,
                            (size_t)cols * sizeof(float));
    }
    ti = bundle_tensor_get(b, "importance");
    if (imp) {
        assert_non_null(ti);
        for (int64_t i = 0; i < k; i++)
            assert_true(((const float *)ti->data)[i] == imp[want[i]]);
    } else {
        assert_null(ti);
    }
    assert_string_equal(bundle_meta_get(b, "method"), "topk-l2");
    snprintf(text, sizeof text, "%.17g", keep);
    assert_true(strtod(bundle_meta_get(b, "keep_requested"), NULL) == keep);
    assert_true(strtod(bundle_meta_get(b, "keep_actual"), NULL) == (double)k / (double)rows);
    bundle_free(b);
    free(want);
}

static int
setup(void **state)
{
    (void)state;
    return test_dir_make(dir);
}

static int
teardown(void **state)
{
    (void)state;
    return test_dir_remove(dir);
}

/* Norms 1, 5, 3, 5, 0.5, 3: a tie at the top and one at the cut. */
static const float six[6][2] = {{1, 0}, {3, 4}, {0, 3}, {4, 3}, {0.5f, 0}, {3, 0}};

static void
test_apply__topk_keeps_largest_rows_in_order(void **state)
{
    struct cli_result r;
    char args[2048];
    const int64_t shape[2] = {6, 2};

    (void)state;
    write_tokens(path_of("six.safetensors"), "tokens", 2, shape, &six[0][0], NULL, 0);
    snprintf(args, sizeof args, "apply example-topk --in tokens=%s --set keep=0.5 --out %s",
             path_of("six.safetensors"), path_of("six-out.safetensors"));
    assert_int_equal(cli_run(&r, "", args), 0);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.err, "");
    assert_non_null(strstr(r.out, "out: wrote"));
    cli_result_release(&r);
    check_output(path_of("six-out.safetensors"), &six[0][0], 6, 2, 0.5, NULL);

    /* The same case by hand: rows 1 and 3 (norm 5) and row 2 (norm 3, lower than row 5). */
    {
        struct bundle *b;
        struct sieve_errbuf err;
        const int32_t want[3] = {1, 2, 3};
        assert_int_equal(bundle_read(path_of("six-out.safetensors"), &b, &err), 0);
        assert_memory_equal(bundle_tensor_get(b, "index")->data, want, sizeof want);
        assert_string_equal(bundle_meta_get(b, "keep_actual"), "0.5");
        assert_string_equal(bundle_meta_get(b, "keep_requested"), "0.5");
        bundle_free(b);
    }
}

static void
test_apply__topk_flattens_leading_dims_and_carries_importance(void **state)
{
    struct cli_result r;
    char args[2048];
    const int64_t shape[3] = {3, 4, 5};
    float x[60], imp[12];

    (void)state;
    /* A fixed pseudo-random pattern with repeated values, so ties happen. */
    for (int i = 0; i < 60; i++)
        x[i] = (float)((i * 37 + 11) % 13) - 6.0f;
    for (int i = 0; i < 12; i++)
        imp[i] = (float)i / 10.0f;
    write_tokens(path_of("tnc.safetensors"), "tokens", 3, shape, x, imp, 12);
    /* Bare --in FILE (one input port) and an explicit out=FILE. */
    snprintf(args, sizeof args, "apply example-topk --in %s --set keep=0.3 --out out=%s",
             path_of("tnc.safetensors"), path_of("tnc-out.safetensors"));
    assert_int_equal(cli_run(&r, "", args), 0);
    assert_int_equal(r.status, 0);
    cli_result_release(&r);
    check_output(path_of("tnc-out.safetensors"), x, 12, 5, 0.3, imp);
}

static void
test_apply__topk_keeps_at_least_one_and_reads_named_tensor(void **state)
{
    struct cli_result r;
    char args[2048];
    const int64_t shape[2] = {6, 2};

    (void)state;
    write_tokens(path_of("feats.safetensors"), "feats", 2, shape, &six[0][0], NULL, 0);
    snprintf(args, sizeof args,
             "apply example-topk --in tokens=%s --set keep=0.01 --set tensor=feats --out %s",
             path_of("feats.safetensors"), path_of("one.safetensors"));
    assert_int_equal(cli_run(&r, "", args), 0);
    assert_int_equal(r.status, 0);
    cli_result_release(&r);
    check_output(path_of("one.safetensors"), &six[0][0], 6, 2, 0.01, NULL);
}

/* Runs apply with `args` and expects `status` and a stderr line containing `msg`. */
static void
expect_failure(const char *env, const char *args, int status, const char *msg)
{
    struct cli_result r;

    assert_int_equal(cli_run(&r, env, args), 0);
    if (r.status != status || !strstr(r.err, msg))
        fail_msg("sieve %s: status %d, stderr: %s", args, r.status, r.err);
    assert_int_equal(cli_lines(r.err), 1);
    assert_int_equal(strncmp(r.err, "sieve apply: ", 13), 0);
    cli_result_release(&r);
}

static void
test_apply__usage_errors(void **state)
{
    char args[2048];
    const char *in = path_of("six.safetensors"), *out = path_of("never.safetensors");
    const int64_t shape[2] = {6, 2};

    (void)state;
    write_tokens(in, "tokens", 2, shape, &six[0][0], NULL, 0);
    snprintf(args, sizeof args, "apply example-topx --in tokens=%s --out %s", in, out);
    expect_failure("", args, 3, "unknown plugin 'example-topx' (did you mean 'example-topk'?)");
    snprintf(args, sizeof args, "apply example-topk --in tokns=%s --out %s", in, out);
    expect_failure("", args, 2, "plugin 'example-topk' has no input port 'tokns' (inputs: tokens)");
    snprintf(args, sizeof args, "apply example-topk --in tokens=%s --set kep=0.5 --out %s", in,
             out);
    expect_failure("", args, 2, "unknown parameter 'kep' (did you mean 'keep'?)");
    snprintf(args, sizeof args, "apply example-topk --in tokens=%s --set keep=1.5 --out %s", in,
             out);
    expect_failure("", args, 2, "parameter 'keep': 1.5 is above the maximum 1");
    snprintf(args, sizeof args, "apply example-topk --set keep=0.5 --out %s", out);
    expect_failure("", args, 2, "missing input for port 'tokens' of plugin 'example-topk'");
    snprintf(args, sizeof args, "apply example-topk --in tokens=%s", in);
    expect_failure("", args, 2, "no --out given");
    snprintf(args, sizeof args, "apply example-topk --in tokens=%s/absent.safetensors --out %s",
             dir, out);
    expect_failure("", args, 3, "absent.safetensors");
    snprintf(args, sizeof args, "apply example-topk --in tokens=%s --set keep --out %s", in, out);
    expect_failure("", args, 2, "--set 'keep': expected KEY=VALUE");
    assert_int_not_equal(access(out, F_OK), 0);
}

static void
test_apply__plugin_failures_name_the_class(void **state)
{
    char args[2048];
    char out[512];
    struct bundle *b = bundle_new();
    struct sieve_tensor *t;
    struct sieve_errbuf err;
    const int64_t shape[2] = {2, 2};

    (void)state;
    snprintf(out, sizeof out, "%s", path_of("never.safetensors"));
    /* I32 tokens: the plugin refuses them as bad input. */
    assert_int_equal(bundle_tensor_new(b, "tokens", SIEVE_DTYPE_I32, 2, shape, &t, &err), 0);
    assert_int_equal(bundle_write(b, path_of("i32.safetensors"), &err), 0);
    bundle_free(b);
    snprintf(args, sizeof args, "apply example-topk --in tokens=%s --out %s",
             path_of("i32.safetensors"), out);
    expect_failure("", args, 1,
                   "plugin 'example-topk' failed (bad-input): tensor 'tokens' must be F32");
    /* keep = 0 passes the table's [0, 1] but not init's own check. */
    snprintf(args, sizeof args, "apply example-topk --in tokens=%s --set keep=0 --out %s",
             path_of("six.safetensors"), out);
    expect_failure("", args, 1, "failed (bad-input): parameter 'keep' must be above 0");
    /* The fail test plugin returns whichever class it is told to. */
    snprintf(args, sizeof args,
             "apply fail --set class=transient --set message='disk busy' --out %s", out);
    expect_failure(TEST_PATH, args, 1, "plugin 'fail' failed (transient): disk busy");
    snprintf(args, sizeof args, "apply fail --set class=device --set in_init=true --out %s", out);
    expect_failure(TEST_PATH, args, 1, "plugin 'fail' failed (device): failed on purpose");
    /* times=2: the first two calls fail, the third (in another process) succeeds. */
    snprintf(args, sizeof args,
             "apply fail --set class=transient --set times=2 --set counter=%s --out %s",
             path_of("count"), path_of("third.safetensors"));
    expect_failure(TEST_PATH, args, 1, "(transient): failed on purpose");
    expect_failure(TEST_PATH, args, 1, "(transient): failed on purpose");
    {
        struct cli_result r;
        assert_int_equal(cli_run(&r, TEST_PATH, args), 0);
        assert_int_equal(r.status, 0);
        cli_result_release(&r);
        assert_int_equal(access(path_of("third.safetensors"), F_OK), 0);
    }
    snprintf(args, sizeof args, "apply fail --set class=loud --out %s", out);
    expect_failure(TEST_PATH, args, 2, "'loud' is not one of bad-input, oom, device");
    assert_int_not_equal(access(out, F_OK), 0);
}

static void
test_apply__plugin_crash_is_reported(void **state)
{
    struct cli_result r;
    char args[2048];
    char out[512];

    (void)state;
    snprintf(out, sizeof out, "%s", path_of("never.safetensors"));
    snprintf(args, sizeof args, "apply crash-process --out %s", out);
    assert_int_equal(cli_run(&r, TEST_PATH, args), 0);
    assert_int_equal(r.status, 1);
    /* Under AddressSanitizer the child reports the fault, then exits or aborts. */
    assert_true(strstr(r.err, "sieve apply: plugin 'crash-process' crashed (signal 11)\n") ||
                strstr(r.err, "sieve apply: plugin 'crash-process' crashed (signal 6)\n") ||
                strstr(r.err, "sieve apply: plugin 'crash-process' crashed (exit status 1)\n"));
    cli_result_release(&r);

    snprintf(args, sizeof args, "apply crash-process --set how=exit --out %s", out);
    expect_failure(TEST_PATH, args, 1, "plugin 'crash-process' crashed (exit status 3)");
    assert_int_not_equal(access(out, F_OK), 0);

    /* In-process mode gives the same answers for a plugin that does not crash. */
    snprintf(args, sizeof args, "apply --no-fork fail --set class=oom --out %s", out);
    expect_failure(TEST_PATH, args, 1, "plugin 'fail' failed (oom): failed on purpose");
}

static void
test_apply__good_plugin_copies_and_tags(void **state)
{
    struct cli_result r;
    char args[2048];
    struct bundle *b;
    struct sieve_errbuf err;

    (void)state;
    snprintf(args, sizeof args,
             "apply good --in %s --set tag=hello --set sizes='[3, 4]' --sample-id clip01 "
             "--media /dev/null --category 'Daily Life' --no-fork --out %s",
             path_of("six.safetensors"), path_of("copy.safetensors"));
    assert_int_equal(cli_run(&r, TEST_PATH, args), 0);
    assert_int_equal(r.status, 0);
    cli_result_release(&r);
    assert_int_equal(bundle_read(path_of("copy.safetensors"), &b, &err), 0);
    assert_memory_equal(bundle_tensor_get(b, "tokens")->data, six, sizeof six);
    assert_string_equal(bundle_meta_get(b, "source"), "test");
    assert_string_equal(bundle_meta_get(b, "tag"), "hello");
    bundle_free(b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_apply__topk_keeps_largest_rows_in_order),
        cmocka_unit_test(test_apply__topk_flattens_leading_dims_and_carries_importance),
        cmocka_unit_test(test_apply__topk_keeps_at_least_one_and_reads_named_tensor),
        cmocka_unit_test(test_apply__usage_errors),
        cmocka_unit_test(test_apply__plugin_failures_name_the_class),
        cmocka_unit_test(test_apply__plugin_crash_is_reported),
        cmocka_unit_test(test_apply__good_plugin_copies_and_tags),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
