/*
 * test_bundle.c - bundles in memory and as safetensors files: the API contract, round trips
 * of every dtype, byte-exact agreement with the hand-made fixtures, files from a foreign
 * writer (including misaligned data), atomic writes and the host services table.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "bundle_test_util.h"
#include "base/bundle.h"

#define FIX SIEVE_FIXTURES "/safetensors/"

struct spec {
    const char *name;
    int32_t dtype;
    uint32_t ndim;
    int64_t shape[SIEVE_MAX_DIMS];
};

/* Mirrors ALL_DTYPES and ALL_META of make_fixtures.py. */
static const struct spec all_dtypes[] = {
    {"tokens", SIEVE_DTYPE_F32, 2, {2, 3}},
    {"half", SIEVE_DTYPE_F16, 1, {5}},
    {"brain", SIEVE_DTYPE_BF16, 2, {2, 2}},
    {"wide", SIEVE_DTYPE_F64, 1, {3}},
    {"ids", SIEVE_DTYPE_I64, 1, {4}},
    {"counts", SIEVE_DTYPE_I32, 3, {2, 1, 3}},
    {"bytes", SIEVE_DTYPE_U8, 1, {7}},
    {"mask", SIEVE_DTYPE_BOOL, 2, {2, 4}},
    {"scalar", SIEVE_DTYPE_F32, 0, {0}},
    {"nothing", SIEVE_DTYPE_I32, 2, {0, 4}},
    {"deep", SIEVE_DTYPE_U8, 8, {1, 1, 1, 1, 1, 1, 1, 2}},
};
static const char *const all_meta[][2] = {
    {"method", "topk"},
    {"keep", "0.5"},
    {"note", "caf\xc3\xa9 \xe2\x9c\x93"},
};

#define N_ALL (sizeof all_dtypes / sizeof all_dtypes[0])

static struct bundle *
build(const struct spec *specs, size_t n, const char *const (*meta)[2], size_t n_meta)
{
    struct sieve_errbuf err = {{0}};
    struct bundle *b = bundle_new();
    assert_non_null(b);
    for (size_t i = 0; i < n; i++) {
        struct sieve_tensor *t;
        assert_int_equal(bundle_tensor_new(b, specs[i].name, specs[i].dtype, specs[i].ndim,
                                           specs[i].shape, &t, &err),
                         0);
        pattern_fill(t);
    }
    for (size_t i = 0; i < n_meta; i++)
        assert_int_equal(bundle_meta_set(b, meta[i][0], meta[i][1], &err), 0);
    return b;
}

/* Asserts that the first `n` tensors of `b` are `specs` in order, with pattern values. */
static void
check_first(const struct bundle *b, const struct spec *specs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const struct sieve_tensor *t = bundle_tensor_at(b, i);
        assert_non_null(t);
        assert_string_equal(t->name, specs[i].name);
        assert_ptr_equal(bundle_tensor_get(b, specs[i].name), t);
        assert_int_equal(t->dtype, specs[i].dtype);
        assert_int_equal(t->ndim, specs[i].ndim);
        for (uint32_t d = 0; d < t->ndim; d++)
            assert_int_equal(t->shape[d], specs[i].shape[d]);
        assert_int_equal(t->nbytes, sieve_tensor_numel(t) * sieve_dtype_size(t->dtype));
        assert_int_equal((uintptr_t)t->data % sieve_dtype_size(t->dtype), 0);
        assert_int_equal(pattern_mismatches(t), 0);
    }
}

/* Asserts that `b` holds exactly `specs` in order with pattern values, aligned. */
static void
check(const struct bundle *b, const struct spec *specs, size_t n)
{
    assert_int_equal(bundle_tensor_count(b), n);
    check_first(b, specs, n);
    assert_null(bundle_tensor_at(b, n));
}

static void
check_meta(const struct bundle *b, const char *const (*meta)[2], size_t n)
{
    assert_int_equal(bundle_meta_count(b), n);
    for (size_t i = 0; i < n; i++) {
        const char *k, *v;
        assert_int_equal(bundle_meta_at(b, i, &k, &v), 0);
        assert_string_equal(k, meta[i][0]);
        assert_string_equal(v, meta[i][1]);
        assert_string_equal(bundle_meta_get(b, meta[i][0]), meta[i][1]);
    }
    assert_int_equal(bundle_meta_at(b, n, NULL, NULL), SIEVE_ENOENT);
}

static char tmpdir[256];

static int
setup_tmp(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/sieve-test-bundle-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int
teardown_tmp(void **state)
{
    DIR *d = opendir(tmpdir);
    struct dirent *e;
    char p[512];
    (void)state;
    while (d && (e = readdir(d)))
        if (e->d_name[0] != '.') {
            snprintf(p, sizeof p, "%s/%s", tmpdir, e->d_name);
            if (remove(p) < 0)
                rmdir(p);
        }
    if (d)
        closedir(d);
    return rmdir(tmpdir);
}

static size_t
count_dir_entries(void)
{
    DIR *d = opendir(tmpdir);
    struct dirent *e;
    size_t n = 0;
    while (d && (e = readdir(d)))
        n += e->d_name[0] != '.';
    if (d)
        closedir(d);
    return n;
}

static void
test_bundle__dtype_names_round_trip(void **state)
{
    (void)state;
    for (int32_t d = SIEVE_DTYPE_F32; d <= SIEVE_DTYPE_BOOL; d++)
        assert_int_equal(bundle_dtype_parse(bundle_dtype_name(d)), d);
    assert_string_equal(bundle_dtype_name(SIEVE_DTYPE_BF16), "BF16");
    assert_int_equal(bundle_dtype_parse("f32"), -1);
    assert_int_equal(bundle_dtype_parse("I8"), -1);
    assert_null(bundle_dtype_name(8));
    assert_null(bundle_dtype_name(-1));
}

static void
test_bundle__tensor_new_is_zero_filled_and_ordered(void **state)
{
    struct sieve_errbuf err = {{0}};
    struct bundle *b = bundle_new();
    struct sieve_tensor *t;
    int64_t shape[3] = {3, 5, 7};
    const char *names[] = {"zeta", "alpha", "mid"};
    (void)state;

    for (int i = 0; i < 3; i++) {
        assert_int_equal(bundle_tensor_new(b, names[i], SIEVE_DTYPE_F64, 3, shape, &t, &err), 0);
        assert_int_equal(t->nbytes, 3 * 5 * 7 * 8);
        for (uint64_t j = 0; j < t->nbytes; j++)
            assert_int_equal(((unsigned char *)t->data)[j], 0);
    }
    for (int i = 0; i < 3; i++)
        assert_string_equal(bundle_tensor_at(b, (size_t)i)->name, names[i]);
    assert_null(bundle_tensor_get(b, "absent"));
    bundle_free(b);
    bundle_free(NULL);
}

static void
test_bundle__tensor_new_rejects_bad_arguments(void **state)
{
    struct sieve_errbuf err = {{0}};
    struct bundle *b = bundle_new();
    struct sieve_tensor *t = (void *)1;
    int64_t ok[1] = {2}, neg[2] = {2, -1}, nine[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    int64_t huge[3] = {INT64_MAX, INT64_MAX, 2}, big[2] = {INT64_MAX / 2, 3};
    (void)state;

    assert_int_equal(bundle_tensor_new(b, "a", SIEVE_DTYPE_U8, 1, ok, &t, &err), 0);
    assert_int_equal(bundle_tensor_new(b, "a", SIEVE_DTYPE_U8, 1, ok, &t, &err), SIEVE_EINVAL);
    assert_null(t);
    assert_non_null(strstr(err.msg, "'a'"));
    assert_int_equal(bundle_tensor_new(b, "", SIEVE_DTYPE_U8, 1, ok, &t, &err), SIEVE_EINVAL);
    assert_non_null(strstr(err.msg, "empty name"));
    assert_int_equal(bundle_tensor_new(b, "__metadata__", SIEVE_DTYPE_U8, 1, ok, &t, &err),
                     SIEVE_EINVAL);
    assert_int_equal(bundle_tensor_new(b, "x", 42, 1, ok, &t, &err), SIEVE_EINVAL);
    assert_non_null(strstr(err.msg, "unknown dtype"));
    assert_int_equal(bundle_tensor_new(b, "x", SIEVE_DTYPE_U8, 9, nine, &t, &err), SIEVE_EINVAL);
    assert_non_null(strstr(err.msg, "9 dims"));
    assert_int_equal(bundle_tensor_new(b, "x", SIEVE_DTYPE_U8, 2, neg, &t, &err), SIEVE_EINVAL);
    assert_non_null(strstr(err.msg, "negative"));
    assert_int_equal(bundle_tensor_new(b, "x", SIEVE_DTYPE_U8, 3, huge, &t, &err), SIEVE_EINVAL);
    assert_non_null(strstr(err.msg, "overflow"));
    /* The element count fits but the byte count does not. */
    assert_int_equal(bundle_tensor_new(b, "x", SIEVE_DTYPE_F64, 2, big, &t, &err), SIEVE_EINVAL);
    assert_non_null(strstr(err.msg, "overflow"));
    assert_int_equal(bundle_tensor_count(b), 1);
    assert_null(bundle_tensor_get(b, "x"));
    bundle_free(b);
}

static void
test_bundle__add_copy_copies_data(void **state)
{
    struct sieve_errbuf err = {{0}};
    struct bundle *a = build(all_dtypes, N_ALL, NULL, 0), *b = bundle_new();
    struct sieve_tensor lie;
    (void)state;

    for (size_t i = 0; i < N_ALL; i++)
        assert_int_equal(bundle_tensor_add_copy(b, NULL, bundle_tensor_at(a, i), &err), 0);
    for (size_t i = 0; i < N_ALL; i++)
        assert_ptr_not_equal(bundle_tensor_at(b, i)->data, bundle_tensor_at(a, i)->data);
    bundle_free(a); /* the copies must not depend on the source */
    check(b, all_dtypes, N_ALL);
    lie = *bundle_tensor_at(b, 0);
    lie.nbytes -= 4;
    assert_int_equal(bundle_tensor_add_copy(b, "liar", &lie, &err), SIEVE_EINVAL);
    assert_null(bundle_tensor_get(b, "liar"));
    bundle_free(b);
}

static void
test_bundle__meta_set_replaces_in_place(void **state)
{
    struct sieve_errbuf err = {{0}};
    struct bundle *b = bundle_new();
    char value[16];
    (void)state;

    snprintf(value, sizeof value, "first");
    assert_int_equal(bundle_meta_set(b, "a", value, &err), 0);
    assert_int_equal(bundle_meta_set(b, "b", "2", &err), 0);
    snprintf(value, sizeof value, "clobbered"); /* strings are copied */
    assert_string_equal(bundle_meta_get(b, "a"), "first");
    assert_int_equal(bundle_meta_set(b, "a", "again", &err), 0);
    {
        const char *const want[][2] = {{"a", "again"}, {"b", "2"}};
        check_meta(b, want, 2);
    }
    assert_null(bundle_meta_get(b, "c"));
    assert_int_equal(bundle_meta_set(b, "", "x", &err), SIEVE_EINVAL);
    bundle_free(b);
}

static void
test_bundle__many_tensors_stay_findable(void **state)
{
    struct sieve_errbuf err = {{0}};
    struct bundle *b = bundle_new();
    struct sieve_tensor *t;
    const struct sieve_tensor *first = NULL;
    int64_t one = 1;
    char name[32];
    (void)state;

    for (int i = 0; i < 3000; i++) {
        snprintf(name, sizeof name, "layer.%d.weight", i);
        assert_int_equal(bundle_tensor_new(b, name, SIEVE_DTYPE_I32, 1, &one, &t, &err), 0);
        *(int32_t *)t->data = i;
        if (!first)
            first = t;
    }
    assert_ptr_equal(bundle_tensor_at(b, 0), first); /* pointers survive growth */
    for (int i = 2999; i >= 0; i--) {
        snprintf(name, sizeof name, "layer.%d.weight", i);
        t = (struct sieve_tensor *)bundle_tensor_get(b, name);
        assert_non_null(t);
        assert_int_equal(*(int32_t *)t->data, i);
    }
    bundle_free(b);
}

static void
test_bundle__write_read_round_trips_every_dtype(void **state)
{
    struct sieve_errbuf err = {{0}};
    struct bundle *b = build(all_dtypes, N_ALL, all_meta, 3), *r;
    char path[512];
    (void)state;

    snprintf(path, sizeof path, "%s/all.safetensors", tmpdir);
    assert_int_equal(bundle_write(b, path, &err), 0);
    assert_int_equal(bundle_read(path, &r, &err), 0);
    check(r, all_dtypes, N_ALL);
    check_meta(r, all_meta, 3);
    assert_int_equal(count_dir_entries(), 1); /* no temporary file left behind */
    bundle_free(r);
    bundle_free(b);
}

/* Builds the fixture's bundle in C and compares sieve's bytes with the hand-made file. */
static void
expect_bytes(const char *fixture, struct bundle *b)
{
    struct sieve_errbuf err = {{0}};
    size_t want_len = 0, got_len = 0, file_len = 0;
    unsigned char *want = slurp(fixture, &want_len), *file;
    void *got;
    char path[512];

    assert_non_null(want);
    assert_int_equal(bundle_serialize(b, &got, &got_len, &err), 0);
    assert_int_equal(got_len, want_len);
    assert_memory_equal(got, want, want_len);
    snprintf(path, sizeof path, "%s/out.safetensors", tmpdir);
    assert_int_equal(bundle_write(b, path, &err), 0);
    file = slurp(path, &file_len);
    assert_non_null(file);
    assert_int_equal(file_len, want_len);
    assert_memory_equal(file, want, want_len);
    free(file);
    free(got);
    free(want);
    bundle_free(b);
}

static void
test_bundle__output_matches_hand_made_fixtures(void **state)
{
    static const struct spec scalar[] = {{"x", SIEVE_DTYPE_F64, 0, {0}}};
    static const char *const metrics[][2] = {
        {"sieve.metrics", "[{\"metric\":\"retention\",\"value\":1}]"}};
    (void)state;

    expect_bytes(FIX "all_dtypes.safetensors", build(all_dtypes, N_ALL, all_meta, 3));
    expect_bytes(FIX "empty.safetensors", build(NULL, 0, NULL, 0));
    expect_bytes(FIX "meta_only.safetensors", build(NULL, 0, metrics, 1));
    expect_bytes(FIX "one_scalar.safetensors", build(scalar, 1, NULL, 0));
}

static void
test_bundle__reads_hand_made_fixtures(void **state)
{
    struct sieve_errbuf err = {{0}};
    struct bundle *r;
    (void)state;

    assert_int_equal(bundle_read(FIX "all_dtypes.safetensors", &r, &err), 0);
    check(r, all_dtypes, N_ALL);
    check_meta(r, all_meta, 3);
    bundle_free(r);
    assert_int_equal(bundle_read(FIX "empty.safetensors", &r, &err), 0);
    assert_int_equal(bundle_tensor_count(r), 0);
    assert_int_equal(bundle_meta_count(r), 0);
    bundle_free(r);
}

/* The foreign files hold FOREIGN of safetensors_np.py, in the Rust library's data order. */
static const struct spec foreign[] = {
    {"v", SIEVE_DTYPE_I64, 1, {3}},    {"w", SIEVE_DTYPE_F64, 2, {2, 2}},
    {"q", SIEVE_DTYPE_F32, 2, {3, 2}}, {"s", SIEVE_DTYPE_F32, 0, {0}},
    {"p", SIEVE_DTYPE_I32, 1, {2}},    {"g", SIEVE_DTYPE_BF16, 1, {2}},
    {"h", SIEVE_DTYPE_F16, 1, {3}},    {"z", SIEVE_DTYPE_F16, 1, {0}},
    {"b", SIEVE_DTYPE_U8, 1, {3}},     {"a", SIEVE_DTYPE_BOOL, 1, {2}},
};

static void
test_bundle__reads_foreign_writer_files(void **state)
{
    static const char *const files[] = {FIX "foreign_rust.safetensors",
                                        FIX "foreign_misaligned.safetensors"};
    static const char *const meta[][2] = {{"writer", "safetensors_np"}};
    struct sieve_errbuf err = {{0}};
    (void)state;

    for (size_t f = 0; f < 2; f++) {
        struct bundle *r, *again;
        void *buf;
        size_t len;
        assert_int_equal(bundle_read(files[f], &r, &err), 0);
        check(r, foreign, sizeof foreign / sizeof foreign[0]); /* includes alignment */
        check_meta(r, meta, 1);
        /* Re-serialised by sieve, the content survives in sieve's own layout. */
        assert_int_equal(bundle_serialize(r, &buf, &len, &err), 0);
        assert_int_equal((8 + ((unsigned char *)buf)[0]) % 8, 0); /* header padded */
        assert_int_equal(bundle_parse(buf, len, "again", &again, &err), 0);
        check(again, foreign, sizeof foreign / sizeof foreign[0]);
        bundle_free(again);
        free(buf);
        bundle_free(r);
    }
}

static void
test_bundle__write_replaces_atomically(void **state)
{
    struct sieve_errbuf err = {{0}};
    struct bundle *small = build(all_dtypes, 1, NULL, 0), *all = build(all_dtypes, N_ALL, NULL, 0);
    struct bundle *r;
    char path[512], dir[512];
    (void)state;

    snprintf(path, sizeof path, "%s/x.safetensors", tmpdir);
    assert_int_equal(bundle_write(all, path, &err), 0);
    assert_int_equal(bundle_write(small, path, &err), 0);
    assert_int_equal(bundle_read(path, &r, &err), 0);
    check(r, all_dtypes, 1);
    bundle_free(r);

    /* A failed rename (the target is a directory) leaves no temporary file. */
    snprintf(dir, sizeof dir, "%s/taken", tmpdir);
    assert_int_equal(mkdir(dir, 0755), 0);
    assert_int_not_equal(bundle_write(small, dir, &err), 0);
    assert_non_null(strstr(err.msg, "taken"));
    assert_int_equal(count_dir_entries(), 2);

    snprintf(path, sizeof path, "%s/missing/x.safetensors", tmpdir);
    assert_int_equal(bundle_write(small, path, &err), SIEVE_ENOENT);
    assert_non_null(strstr(err.msg, "missing"));
    bundle_free(small);
    bundle_free(all);
}

static void
test_bundle__write_refuses_names_that_are_not_utf8(void **state)
{
    struct sieve_errbuf err = {{0}};
    struct bundle *b = bundle_new();
    struct sieve_tensor *t;
    char path[512];
    void *buf = (void *)1;
    size_t len;
    (void)state;

    snprintf(path, sizeof path, "%s/bad.safetensors", tmpdir);
    assert_int_equal(bundle_tensor_new(b, "ok\xff", SIEVE_DTYPE_U8, 0, NULL, &t, &err), 0);
    assert_int_equal(bundle_write(b, path, &err), SIEVE_EINVAL);
    assert_non_null(strstr(err.msg, "not valid UTF-8"));
    assert_non_null(strstr(err.msg, path));
    assert_int_equal(bundle_serialize(b, &buf, &len, &err), SIEVE_EINVAL);
    assert_null(buf);
    assert_int_equal(count_dir_entries(), 0);
    bundle_free(b);
}

static void
test_bundle__read_bundle_can_grow_and_be_written(void **state)
{
    struct sieve_errbuf err = {{0}};
    struct bundle *r, *again;
    struct sieve_tensor *t;
    int64_t shape[1] = {3};
    char path[512];
    (void)state;

    assert_int_equal(bundle_read(FIX "foreign_misaligned.safetensors", &r, &err), 0);
    assert_int_equal(bundle_tensor_new(r, "added", SIEVE_DTYPE_F32, 1, shape, &t, &err), 0);
    pattern_fill(t);
    assert_int_equal(bundle_meta_set(r, "writer", "sieve", &err), 0);
    snprintf(path, sizeof path, "%s/grown.safetensors", tmpdir);
    assert_int_equal(bundle_write(r, path, &err), 0);
    bundle_free(r);
    assert_int_equal(bundle_read(path, &again, &err), 0);
    check_first(again, foreign, sizeof foreign / sizeof foreign[0]);
    assert_int_equal(pattern_mismatches(bundle_tensor_get(again, "added")), 0);
    assert_string_equal(bundle_meta_get(again, "writer"), "sieve");
    assert_int_equal(bundle_tensor_count(again), sizeof foreign / sizeof foreign[0] + 1);
    bundle_free(again);
}

static void
test_bundle__read_reports_missing_file(void **state)
{
    struct sieve_errbuf err = {{0}};
    struct bundle *r = (void *)1;
    (void)state;

    assert_int_equal(bundle_read("/nonexistent/dir/x.safetensors", &r, &err), SIEVE_ENOENT);
    assert_null(r);
    assert_non_null(strstr(err.msg, "'/nonexistent/dir/x.safetensors'"));
    assert_non_null(strstr(err.msg, "no such file"));
    assert_int_equal(bundle_read(tmpdir, &r, &err), SIEVE_EIO);
}

static void
test_bundle__host_services_operate_on_bundles(void **state)
{
    const struct sieve_host *h = bundle_host_services();
    struct bundle *b = build(all_dtypes, 3, all_meta, 2);
    struct sieve_bundle *sb = bundle_as_sieve(b);
    struct sieve_tensor *t;
    const char *k, *v;
    int64_t shape[2] = {2, 2};
    (void)state;

    assert_int_equal(h->abi_major, SIEVE_ABI_MAJOR);
    assert_int_equal(h->struct_size, sizeof(struct sieve_host));
    assert_ptr_equal(bundle_from_sieve(sb), b);
    assert_int_equal(h->tensor_count(sb), 3);
    assert_string_equal(h->tensor_at(sb, 2)->name, "brain");
    assert_ptr_equal(h->tensor_get(sb, "half"), bundle_tensor_get(b, "half"));
    assert_int_equal(h->tensor_new(sb, "new", SIEVE_DTYPE_F32, 2, shape, &t), 0);
    assert_int_equal(t->nbytes, 16);
    assert_int_equal(h->tensor_new(sb, "new", SIEVE_DTYPE_F32, 2, shape, &t), SIEVE_EINVAL);
    assert_int_equal(h->meta_set(sb, "extra", "yes"), 0);
    assert_int_equal(h->meta_count(sb), 3);
    assert_string_equal(h->meta_get(sb, "extra"), "yes");
    assert_int_equal(h->meta_at(sb, 0, &k, &v), 0);
    assert_string_equal(k, "method");
    assert_int_equal(h->meta_at(sb, 3, &k, &v), SIEVE_ENOENT);
    assert_int_equal(h->cancelled(NULL), 0);
    h->progress(NULL, 0.5);
    h->log(NULL, SIEVE_LOG_DEBUG, "host services test %d", 1);
    bundle_free(b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bundle__dtype_names_round_trip),
        cmocka_unit_test(test_bundle__tensor_new_is_zero_filled_and_ordered),
        cmocka_unit_test(test_bundle__tensor_new_rejects_bad_arguments),
        cmocka_unit_test(test_bundle__add_copy_copies_data),
        cmocka_unit_test(test_bundle__meta_set_replaces_in_place),
        cmocka_unit_test(test_bundle__many_tensors_stay_findable),
        cmocka_unit_test_setup_teardown(test_bundle__write_read_round_trips_every_dtype, setup_tmp,
                                        teardown_tmp),
        cmocka_unit_test_setup_teardown(test_bundle__output_matches_hand_made_fixtures, setup_tmp,
                                        teardown_tmp),
        cmocka_unit_test(test_bundle__reads_hand_made_fixtures),
        cmocka_unit_test(test_bundle__reads_foreign_writer_files),
        cmocka_unit_test_setup_teardown(test_bundle__write_replaces_atomically, setup_tmp,
                                        teardown_tmp),
        cmocka_unit_test_setup_teardown(test_bundle__write_refuses_names_that_are_not_utf8,
                                        setup_tmp, teardown_tmp),
        cmocka_unit_test_setup_teardown(test_bundle__read_bundle_can_grow_and_be_written, setup_tmp,
                                        teardown_tmp),
        cmocka_unit_test_setup_teardown(test_bundle__read_reports_missing_file, setup_tmp,
                                        teardown_tmp),
        cmocka_unit_test(test_bundle__host_services_operate_on_bundles),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
