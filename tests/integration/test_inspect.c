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
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <math.h>

#include "core/base/bundle.h"
#include "core/base/half.h"

#define FIXTURE SIEVE_FIXTURES "/safetensors/all_dtypes.safetensors"

/* Runs `sieve ARGS` through the shell; returns the exit status and the output in *out. */
static int
run(const char *args, int merge_stderr, char **out)
{
    char cmd[1024];
    size_t cap = 1 << 16, n = 0, r;
    char *buf = malloc(cap);
    FILE *p;
    int status;

    snprintf(cmd, sizeof cmd, "'%s' %s%s", SIEVE_BINARY, args, merge_stderr ? " 2>&1" : "");
    p = popen(cmd, "r");
    assert_non_null(p);
    while ((r = fread(buf + n, 1, cap - 1 - n, p)) > 0)
        n += r;
    buf[n] = '\0';
    status = pclose(p);
    *out = buf;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Element i widened to double, decoded here independently of cmd_inspect.c. */
static double
value(const struct sieve_tensor *t, uint64_t i)
{
    switch (t->dtype) {
    case SIEVE_DTYPE_F32:
        return ((const float *)t->data)[i];
    case SIEVE_DTYPE_F16:
        return half_f16_to_f32(((const uint16_t *)t->data)[i]);
    case SIEVE_DTYPE_BF16:
        return half_bf16_to_f32(((const uint16_t *)t->data)[i]);
    case SIEVE_DTYPE_F64:
        return ((const double *)t->data)[i];
    case SIEVE_DTYPE_I64:
        return (double)((const int64_t *)t->data)[i];
    case SIEVE_DTYPE_I32:
        return ((const int32_t *)t->data)[i];
    default:
        return ((const uint8_t *)t->data)[i];
    }
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
        double v = value(t, i);
        *min = v < *min ? v : *min;
        *max = v > *max ? v : *max;
        sum += v;
    }
    *mean = sum / (double)n;
    for (uint64_t i = 0; i < n; i++)
        sq += (value(t, i) - *mean) * (value(t, i) - *mean);
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

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_inspect__json_lists_tensors_stats_and_metadata),
        cmocka_unit_test(test_inspect__text_shows_each_tensor_and_metadata),
        cmocka_unit_test(test_inspect__errors_have_status_and_one_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
