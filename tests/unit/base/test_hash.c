/*
 * test_hash.c - SHA-256: published test vectors, incremental and one-shot agree at every
 * split, length-prefixed fields cannot collide by concatenation, files hash as their bytes.
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

#include "base/hash.h"

static void
hex_of(const void *p, size_t n, char hex[HASH_HEX_LEN])
{
    uint8_t d[HASH_LEN];
    assert_int_equal(hash_buffer(p, n, d), 0);
    hash_hex(d, hex);
}

static void
test_hash__matches_fips_180_vectors(void **state)
{
    char hex[HASH_HEX_LEN];
    static const char two_blocks[] = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    (void)state;

    hex_of("", 0, hex);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    hex_of("abc", 3, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    hex_of(two_blocks, strlen(two_blocks), hex);
    assert_string_equal(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

static void
test_hash__incremental_equals_one_shot(void **state)
{
    unsigned char buf[300];
    uint8_t whole[HASH_LEN], part[HASH_LEN];
    (void)state;

    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (unsigned char)(i * 31 + 7);
    assert_int_equal(hash_buffer(buf, sizeof buf, whole), 0);
    for (size_t split = 0; split <= sizeof buf; split += 13) {
        struct hash_ctx h;
        assert_int_equal(hash_ctx_init(&h), 0);
        assert_int_equal(hash_ctx_update(&h, buf, split), 0);
        assert_int_equal(hash_ctx_update(&h, buf + split, sizeof buf - split), 0);
        assert_int_equal(hash_ctx_final(&h, part), 0);
        assert_memory_equal(part, whole, HASH_LEN);
        hash_ctx_release(&h); /* safe after final */
    }
}

static void
test_hash__fields_do_not_run_together(void **state)
{
    struct hash_ctx h;
    uint8_t a[HASH_LEN], b[HASH_LEN], plain_a[HASH_LEN], plain_b[HASH_LEN];
    (void)state;

    assert_int_equal(hash_ctx_init(&h), 0);
    hash_ctx_field(&h, "ab", 2);
    hash_ctx_field(&h, "c", 1);
    assert_int_equal(hash_ctx_final(&h, a), 0);
    assert_int_equal(hash_ctx_init(&h), 0);
    hash_ctx_field(&h, "a", 1);
    hash_ctx_field(&h, "bc", 2);
    assert_int_equal(hash_ctx_final(&h, b), 0);
    assert_memory_not_equal(a, b, HASH_LEN);
    /* Plain updates of the same parts do collide, which is why fields exist. */
    assert_int_equal(hash_ctx_init(&h), 0);
    hash_ctx_update(&h, "ab", 2);
    hash_ctx_update(&h, "c", 1);
    assert_int_equal(hash_ctx_final(&h, plain_a), 0);
    assert_int_equal(hash_buffer("abc", 3, plain_b), 0);
    assert_memory_equal(plain_a, plain_b, HASH_LEN);
}

static void
test_hash__file_hashes_its_content(void **state)
{
    char path[] = "/tmp/sieve-test-hash-XXXXXX";
    size_t n = (3u << 20) + 12345; /* spans several read chunks */
    unsigned char *buf = malloc(n);
    uint8_t want[HASH_LEN], got[HASH_LEN];
    struct sieve_errbuf err = {{0}};
    int fd = mkstemp(path);
    (void)state;

    assert_true(fd >= 0);
    for (size_t i = 0; i < n; i++)
        buf[i] = (unsigned char)(i ^ (i >> 11));
    assert_int_equal(write(fd, buf, n), (ssize_t)n);
    close(fd);
    assert_int_equal(hash_buffer(buf, n, want), 0);
    assert_int_equal(hash_file(path, got, &err), 0);
    assert_memory_equal(got, want, HASH_LEN);
    unlink(path);
    assert_int_equal(hash_file(path, got, &err), SIEVE_ENOENT);
    assert_non_null(strstr(err.msg, path));
    free(buf);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hash__matches_fips_180_vectors),
        cmocka_unit_test(test_hash__incremental_equals_one_shot),
        cmocka_unit_test(test_hash__fields_do_not_run_together),
        cmocka_unit_test(test_hash__file_hashes_its_content),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
