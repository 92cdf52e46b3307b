/*
 * test_inspect.c - `sieve inspect` as a user runs it: text and --json output of a fixture,
 * statistics that match the values in the file, and the exit status and one-line message of
 * a missing file, a malformed file and a usage error.
 */
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
#include <jansson.h>
#include <math.h>

#include "base/bundle.h"
#include "tests/support/cli_test.h"
#include "tests/unit/base/bundle_test_util.h"

#define FIXTURE SIEVE_FIXTURES "/safetensors/all_dtypes.safetensors"

/*
 * Runs `sieve ARGS`; returns the exit status and stdout in *out (followed by stderr when
 * merge_stderr is set).
 */
static int
run(const char *args, int merge_stderr, char **out)
{
    struct cli_result r;
    size_t n, m;

    assert_int_equal(cli_run(&r, "", args), 0);
    assert_non_null(r.out);
    assert_non_null(r.err);
    n = strlen(r.out);
    m = merge_stderr ? strlen(r.err) : 0;
    *out = malloc(n + m + 1);
    assert_non_null(*out);
    memcpy(*out, r.out, n);
    memcpy(*out + n, r.err, m);
    (*out)[n + m] = '\0';
    cli_result_release(&r);
    return r.status;
}

/* Min, max, mean and population standard deviation in two plain passes. */
static void
expect_stats(const struct sieve_tensor *t, double *min, double *max, double *mean, double *std)
{
    uint64_t n = sieve_tensor_numel(t);
    double sum = 0, sq = 0;

    *min = INFINITY;
    *max = -INFINITY;
    for (uint64_t i = 0; i < n; i++) {
        double v = tensor_value(t, i);
        *min = v < *min ? v : *min;
        *max = v > *max ? v : *max;
        sum += v;
    }
    *mean = sum / (double)n;
    for (uint64_t i = 0; i < n; i++)
        sq += (tensor_value(t, i) - *mean) * (tensor_value(t, i) - *mean);
    *std = sqrt(sq / (double)n);
}

static void
test_inspect__json_lists_tensors_stats_and_metadata(void **state)
{
    struct sieve_errbuf err = {{0}};
    struct bundle *b;
    json_error_t je;
    json_t *root, *tensors;
    char *out;
    (void)state;

    assert_int_equal(run("inspect --json '" FIXTURE "'", 0, &out), 0);
    root = json_loads(out, 0, &je);
    if (!root)
        fail_msg("not JSON: %s\n%s", je.text, out);
    assert_int_equal(bundle_read(FIXTURE, &b, &err), 0);
    tensors = json_object_get(root, "tensors");
    assert_int_equal(json_array_size(tensors), bundle_tensor_count(b));
    for (size_t i = 0; i < bundle_tensor_count(b); i++) {
        const struct sieve_tensor *t = bundle_tensor_at(b, i);
        json_t *o = json_array_get(tensors, i), *shape = json_object_get(o, "shape");
        double min, max, mean, sd;
        assert_string_equal(json_string_value(json_object_get(o, "name")), t->name);
        assert_string_equal(json_string_value(json_object_get(o, "dtype")),
                            bundle_dtype_name(t->dtype));
        assert_int_equal(json_array_size(shape), t->ndim);
        for (uint32_t d = 0; d < t->ndim; d++)
            assert_int_equal(json_integer_value(json_array_get(shape, d)), t->shape[d]);
        assert_int_equal(json_integer_value(json_object_get(o, "bytes")), t->nbytes);
        if (!t->nbytes) {
            assert_true(json_is_null(json_object_get(o, "min")));
            continue;
        }
        expect_stats(t, &min, &max, &mean, &sd);
        assert_true(fabs(json_number_value(json_object_get(o, "min")) - min) < 1e-9);
        assert_true(fabs(json_number_value(json_object_get(o, "max")) - max) < 1e-9);
        assert_true(fabs(json_number_value(json_object_get(o, "mean")) - mean) <
                    1e-9 * (1 + fabs(mean)));
        assert_true(fabs(json_number_value(json_object_get(o, "std")) - sd) <
                    1e-9 * (1 + fabs(sd)));
    }
    for (size_t i = 0; i < bundle_meta_count(b); i++) {
        const char *k, *v;
        bundle_meta_at(b, i, &k, &v);
        assert_string_equal(
            json_string_value(json_object_get(json_object_get(root, "metadata"), k)), v);
    }
    bundle_free(b);
    json_decref(root);
    free(out);
}

static void
test_inspect__text_shows_each_tensor_and_metadata(void **state)
{
    struct sieve_errbuf err = {{0}};
    struct bundle *b;
    char *out, line[256];
    (void)state;

    assert_int_equal(run("inspect '" FIXTURE "'", 0, &out), 0);
    assert_int_equal(bundle_read(FIXTURE, &b, &err), 0);
    for (size_t i = 0; i < bundle_tensor_count(b); i++) {
        const struct sieve_tensor *t = bundle_tensor_at(b, i);
        char *row;
        snprintf(line, sizeof line, "\n  %s ", t->name); /* rows are indented by two */
        row = strstr(out, line);
        assert_non_null(row);
        snprintf(line, sizeof line, "%s", row + 1);
        line[strcspn(line, "\n")] = '\0';
        assert_non_null(strstr(line, bundle_dtype_name(t->dtype)));
    }
    assert_non_null(strstr(out, "[2, 3]"));
    for (size_t i = 0; i < bundle_meta_count(b); i++) {
        const char *k, *v;
        bundle_meta_at(b, i, &k, &v);
        snprintf(line, sizeof line, "%s = %s", k, v);
        assert_non_null(strstr(out, line));
    }
    bundle_free(b);
    free(out);
}

static void
test_inspect__errors_have_status_and_one_line(void **state)
{
    char path[] = "/tmp/sieve-test-inspect-XXXXXX", args[256];
    int fd = mkstemp(path);
    char *out;
    (void)state;

    assert_int_equal(run("inspect /nonexistent/x.safetensors", 1, &out), 3);
    assert_non_null(strstr(out, "'/nonexistent/x.safetensors'"));
    free(out);

    assert_true(fd >= 0);
    assert_int_equal(write(fd, "\x10\0\0\0\0\0\0\0{\"a\":[1,2]}     ", 24), 24);
    close(fd);
    snprintf(args, sizeof args, "inspect --json '%s'", path);
    assert_int_equal(run(args, 1, &out), 1);
    assert_non_null(strstr(out, path));
    assert_non_null(strstr(out, "tensor 'a': entry is not an object"));
    assert_int_equal(strchr(out, '\n') - out + 1, (long)strlen(out)); /* exactly one line */
    free(out);
    unlink(path);

    assert_int_equal(run("inspect", 1, &out), 2);
    free(out);
    assert_int_equal(run("inspect --bogus x", 1, &out), 2);
    free(out);
    assert_int_equal(run("inspect --help", 1, &out), 0);
    assert_non_null(strstr(out, "usage: sieve inspect"));
    free(out);
}

/* A FIFO, a character device or a directory is refused at once with one line; a FIFO used to
 * hang the open until a writer came. */
static void
test_inspect__not_a_file_is_refused_without_hanging(void **state)
{
    char dir[] = "/tmp/sieve-test-inspect-XXXXXX", args[512], fifo[300];
    char *out;
    (void)state;

    assert_non_null(mkdtemp(dir));
    snprintf(fifo, sizeof fifo, "%s/pipe", dir);
    assert_int_equal(mkfifo(fifo, 0644), 0);
    const char *targets[] = {fifo, "/dev/urandom", "/dev/null", dir};
    for (size_t i = 0; i < sizeof targets / sizeof *targets; i++) {
        snprintf(args, sizeof args, "inspect '%s'", targets[i]);
        assert_int_equal(run(args, 1, &out), 1);
        assert_non_null(strstr(out, "not a regular file"));
        free(out);
    }
    snprintf(args, sizeof args, "apply example-topk --in '%s' --out '%s/o.safetensors'", fifo, dir);
    assert_int_equal(run(args, 1, &out), 1);
    assert_non_null(strstr(out, "not a regular file"));
    free(out);
    unlink(fifo);
    rmdir(dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_inspect__json_lists_tensors_stats_and_metadata),
        cmocka_unit_test(test_inspect__text_shows_each_tensor_and_metadata),
        cmocka_unit_test(test_inspect__errors_have_status_and_one_line),
        cmocka_unit_test(test_inspect__not_a_file_is_refused_without_hanging),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
