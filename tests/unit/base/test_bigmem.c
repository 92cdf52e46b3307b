/*
 * test_bigmem.c - large tensor buffers: reused mappings come back zero-filled, aligned and
 * trimmed to size, and a bundle's large tensors stay zero-filled across reuse.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "base/bigmem.h"
#include "base/bundle.h"

#define MB ((size_t)1 << 20)

static int
all_zero(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return 0;
    return 1;
}

static void
test_bigmem__reused_buffer_is_zero(void **state)
{
    (void)state;
    size_t len;
    /* A size no other test uses, so the pool holds nothing else this large. */
    unsigned char *p = bigmem_alloc(40 * MB, &len);
    assert_non_null(p);
    memset(p, 0xab, 40 * MB);
    bigmem_free(p, len);
    unsigned char *q = bigmem_alloc(39 * MB, &len);
    assert_ptr_equal(q, p); /* the freed mapping was reused ... */
    assert_int_equal(len, 40 * MB);
    assert_true(all_zero(q, 39 * MB)); /* ... and cleared */
    bigmem_free(q, len);
}

static void
test_bigmem__aligned_and_sized(void **state)
{
    (void)state;
    size_t len;
    unsigned char *p = bigmem_alloc(5 * MB + 3, &len);
    assert_non_null(p);
    assert_int_equal((uintptr_t)p % (2 * MB), 0);
    assert_int_equal(len, 6 * MB);
    assert_true(all_zero(p, 5 * MB + 3));
    memset(p, 1, len);
    bigmem_free(p, len);
}

static void
test_bigmem__larger_pooled_buffer_is_trimmed(void **state)
{
    (void)state;
    size_t len;
    unsigned char *p = bigmem_alloc(64 * MB, &len);
    assert_non_null(p);
    memset(p, 7, 64 * MB);
    bigmem_free(p, len);
    unsigned char *q = bigmem_alloc(50 * MB, &len);
    assert_ptr_equal(q, p);
    assert_int_equal(len, 50 * MB);
    assert_true(all_zero(q, 50 * MB));
    bigmem_free(q, len);
}

static void
test_bigmem__bundle_tensors_stay_zero_filled(void **state)
{
    (void)state;
    int64_t shape[2] = {1024, 2048}; /* 8 MB of f32: a bigmem tensor */
    for (int round = 0; round < 3; round++) {
        struct bundle *b = bundle_new();
        struct sieve_tensor *t;
        assert_non_null(b);
        assert_int_equal(bundle_tensor_new(b, "x", SIEVE_DTYPE_F32, 2, shape, &t, NULL), 0);
        assert_int_equal((uintptr_t)t->data % 64, 0);
        assert_true(all_zero(t->data, (size_t)t->nbytes));
        memset(t->data, 0xff, (size_t)t->nbytes); /* dirty it for the next round */
        bundle_free(b);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bigmem__reused_buffer_is_zero),
        cmocka_unit_test(test_bigmem__aligned_and_sized),
        cmocka_unit_test(test_bigmem__larger_pooled_buffer_is_trimmed),
        cmocka_unit_test(test_bigmem__bundle_tensors_stay_zero_filled),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
