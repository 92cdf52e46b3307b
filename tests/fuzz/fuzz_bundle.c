/*
 * fuzz_bundle.c - libFuzzer harness for bundle_parse, the entry point for untrusted
 * safetensors images. Every accepted bundle is walked completely (all bytes read, every name
 * looked up, metadata read) and re-serialised and re-parsed, which must succeed: a file sieve
 * accepts is one it can write back.
 *
 * Build and run (clang only):
 *     cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DSIEVE_FUZZ=ON -DSIEVE_BUILD_TESTS=OFF
 *     cmake --build build-fuzz --target fuzz_bundle
 *     mkdir -p /tmp/corpus && cp tests/fixtures/safetensors/[a-z]*.safetensors /tmp/corpus
 *     build-fuzz/tests/fuzz/fuzz_bundle -dict=tests/fuzz/safetensors.dict /tmp/corpus \
 *         -max_total_time=180
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/bundle.h"
#include "base/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t
walk(const struct bundle *b)
{
    uint64_t sum = 0;
    for (size_t i = 0; i < bundle_tensor_count(b); i++) {
        const struct sieve_tensor *t = bundle_tensor_at(b, i);
        SIEVE_ASSERT(bundle_tensor_get(b, t->name) == t);
        SIEVE_ASSERT(t->nbytes == sieve_tensor_numel(t) * sieve_dtype_size(t->dtype));
        SIEVE_ASSERT((uintptr_t)t->data % sieve_dtype_size(t->dtype) == 0);
        for (uint64_t j = 0; j < t->nbytes; j++)
            sum += ((const uint8_t *)t->data)[j];
    }
    for (size_t i = 0; i < bundle_meta_count(b); i++) {
        const char *k, *v;
        SIEVE_ASSERT(bundle_meta_at(b, i, &k, &v) == 0);
        sum += strlen(k) + strlen(v);
    }
    return sum;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sieve_errbuf err;
    struct bundle *b, *again;
    void *buf;
    size_t len;
    volatile uint64_t sink;

    if (bundle_parse(data, size, "fuzz", &b, &err) < 0)
        return 0;
    sink = walk(b);
    (void)sink;
    SIEVE_ASSERT(bundle_serialize(b, &buf, &len, &err) == 0);
    SIEVE_ASSERT(bundle_parse(buf, len, "again", &again, &err) == 0);
    SIEVE_ASSERT(bundle_tensor_count(again) == bundle_tensor_count(b));
    SIEVE_ASSERT(bundle_meta_count(again) == bundle_meta_count(b));
    bundle_free(again);
    free(buf);
    bundle_free(b);
    return 0;
}
