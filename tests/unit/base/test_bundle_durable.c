/*
 * test_bundle_durable.c - bundle_write_ex and bundle_file_check: the embedded data hash that
 * lets a resumed run tell a whole object from one torn by a power loss, and the whole-file
 * checksum computed while writing.
 */
#include <fcntl.h>
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

#include "base/bundle.h"
#include "base/hash.h"

static char dir[64];

static int
setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/sieve-test-durable-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int
teardown(void **state)
{
    char cmd[128];
    (void)state;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* A bundle of mixed element sizes (so data order differs from insertion order) and metadata. */
static struct bundle *
sample_bundle(void)
{
    struct bundle *b = bundle_new();
    struct sieve_tensor *t;
    struct sieve_errbuf err;
    int64_t s1[] = {5}, s2[] = {3, 4};
    assert_non_null(b);
    assert_int_equal(bundle_tensor_new(b, "small", SIEVE_DTYPE_U8, 1, s1, &t, &err), 0);
    memset(t->data, 7, t->nbytes);
    assert_int_equal(bundle_tensor_new(b, "wide", SIEVE_DTYPE_F64, 2, s2, &t, &err), 0);
    for (int i = 0; i < 12; i++)
        ((double *)t->data)[i] = i * 0.5;
    assert_int_equal(bundle_meta_set(b, "note", "kept", &err), 0);
    return b;
}

static uint64_t
header_len(const char *path)
{
    unsigned char len[8];
    uint64_t n = 0;
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fread(len, 1, 8, f), 8);
    fclose(f);
    for (int i = 7; i >= 0; i--)
        n = n << 8 | len[i];
    return n;
}

static void
test_bundle_durable__hash_is_embedded_and_checks(void **state)
{
    (void)state;
    struct bundle *b = sample_bundle(), *r;
    struct sieve_errbuf err;
    char path[128], sum[65], hex[HASH_HEX_LEN];
    uint8_t d[HASH_LEN];
    uint64_t bytes = 0;
    struct stat sb;
    snprintf(path, sizeof path, "%s/a.safetensors", dir);
    assert_int_equal(
        bundle_write_ex(b, path, BUNDLE_WRITE_DATA_HASH | BUNDLE_WRITE_NOSYNC, sum, &bytes, &err),
        0);
    /* the checksum and size computed while writing are the file's */
    assert_int_equal(hash_file(path, d, &err), 0);
    hash_hex(d, hex);
    assert_string_equal(sum, hex);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(bytes, (uint64_t)sb.st_size);
    assert_int_equal(bundle_file_check(path, &err), 1);
    assert_int_equal(bundle_read(path, &r, &err), 0);
    assert_non_null(bundle_meta_get(r, BUNDLE_META_DATA_SHA256));
    assert_string_equal(bundle_meta_get(r, "note"), "kept");
    assert_int_equal(bundle_tensor_count(r), 2);
    bundle_free(r);
    bundle_free(b);
}

static void
test_bundle_durable__plain_write_has_no_hash(void **state)
{
    (void)state;
    struct bundle *b = sample_bundle(), *r;
    struct sieve_errbuf err;
    char path[128];
    snprintf(path, sizeof path, "%s/b.safetensors", dir);
    assert_int_equal(bundle_write(b, path, &err), 0);
    assert_int_equal(bundle_file_check(path, &err), 0);
    assert_int_equal(bundle_read(path, &r, &err), 0);
    assert_null(bundle_meta_get(r, BUNDLE_META_DATA_SHA256));
    bundle_free(r);
    bundle_free(b);
}

/* What a power loss can leave at the final path: the header written, the data zero-filled
 * (the blocks were allocated but never written back), or cut short. */
static void
test_bundle_durable__torn_data_fails_the_check(void **state)
{
    (void)state;
    struct bundle *b = sample_bundle();
    struct sieve_errbuf err;
    char path[128];
    snprintf(path, sizeof path, "%s/c.safetensors", dir);
    assert_int_equal(bundle_write_ex(b, path, BUNDLE_WRITE_DATA_HASH, NULL, NULL, &err), 0);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    uint64_t data = 8 + header_len(path);
    size_t n = (size_t)((uint64_t)sb.st_size - data);
    char *zeros = calloc(1, n);
    int fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, zeros, n, (off_t)data), (ssize_t)n);
    close(fd);
    free(zeros);
    assert_int_equal(bundle_file_check(path, &err), SIEVE_EFORMAT);
    assert_non_null(strstr(err.msg, "embedded sha256"));

    assert_int_equal(bundle_write_ex(b, path, BUNDLE_WRITE_DATA_HASH, NULL, NULL, &err), 0);
    assert_int_equal(bundle_file_check(path, &err), 1);
    assert_int_equal(truncate(path, sb.st_size - 3), 0);
    assert_true(bundle_file_check(path, &err) < 0);
    bundle_free(b);
}

/* A hash stored by some earlier writer describes other data: the new one replaces it. */
static void
test_bundle_durable__stale_hash_in_metadata_is_replaced(void **state)
{
    (void)state;
    struct bundle *b = sample_bundle();
    struct sieve_errbuf err;
    char path[128];
    snprintf(path, sizeof path, "%s/d.safetensors", dir);
    assert_int_equal(
        bundle_meta_set(b, BUNDLE_META_DATA_SHA256,
                        "0000000000000000000000000000000000000000000000000000000000000000", &err),
        0);
    assert_int_equal(bundle_write_ex(b, path, BUNDLE_WRITE_DATA_HASH, NULL, NULL, &err), 0);
    assert_int_equal(bundle_file_check(path, &err), 1);
    bundle_free(b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bundle_durable__hash_is_embedded_and_checks),
        cmocka_unit_test(test_bundle_durable__plain_write_has_no_hash),
        cmocka_unit_test(test_bundle_durable__torn_data_fails_the_check),
        cmocka_unit_test(test_bundle_durable__stale_hash_in_metadata_is_replaced),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
