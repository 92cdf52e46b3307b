/*
 * test_safetensors.c - hostile safetensors images: a named corpus of malformed headers and
 * byte layouts, every truncation of a valid file, and deterministic mutation runs. Each must
 * give SIEVE_EFORMAT with a message naming the file and the problem, and none may crash or
 * read out of bounds (CI runs this under ASan and UBSan).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "bundle_test_util.h"
#include "base/bundle.h"

#define VALID SIEVE_FIXTURES "/safetensors/all_dtypes.safetensors"

/* An image: u64 header length, the header text, then `data_len` bytes 0..255 repeating. */
static unsigned char *
image(const char *header, size_t header_len, size_t data_len, size_t *len)
{
    unsigned char *buf;

    *len = 8 + header_len + data_len;
    buf = malloc(*len);
    assert_non_null(buf);
    for (int i = 0; i < 8; i++)
        buf[i] = (unsigned char)((uint64_t)header_len >> (8 * i));
    memcpy(buf + 8, header, header_len);
    for (size_t i = 0; i < data_len; i++)
        buf[8 + header_len + i] = (unsigned char)i;
    return buf;
}

/* Parses an exact-length heap copy, so ASan sees any read past the end. */
static void
expect_bad(const unsigned char *img, size_t len, const char *label, const char *needle)
{
    struct sieve_errbuf err = {{0}};
    struct bundle *b = (void *)1;
    unsigned char *copy = malloc(len ? len : 1);
    char prefix[128];
    int rc;

    memcpy(copy, img, len);
    rc = bundle_parse(copy, len, label, &b, &err);
    if (rc != SIEVE_EFORMAT || !strstr(err.msg, needle))
        fail_msg("%s: rc %d, message \"%s\", wanted \"%s\"", label, rc, err.msg, needle);
    assert_null(b);
    snprintf(prefix, sizeof prefix, "read '%s': ", label);
    assert_memory_equal(err.msg, prefix, strlen(prefix));
    assert_null(strchr(err.msg, '\n'));
    free(copy);
}

struct bad_header {
    const char *name; /* also the label, so failures say which case broke */
    const char *header;
    size_t data_len;
    const char *needle;
};

#define T(body) "{\"a\":{" body "}}"
static const struct bad_header corpus[] = {
    {"not-json", "{not json", 0, "not valid JSON"},
    {"json-array", "[1, 2]", 0, "header is not a JSON object"},
    {"json-string", "\"x\"", 0, "not valid JSON"},
    {"trailing-garbage", "{} x", 0, "not valid JSON"},
    {"nul-in-header", "{}\0 ", 0, "not valid JSON"},
    {"empty-header", "", 0, "not valid JSON"},
    {"unknown-dtype", T("\"dtype\":\"Q8\",\"shape\":[1],\"data_offsets\":[0,1]"), 1,
     "tensor 'a': unknown dtype 'Q8'"},
    {"unsupported-dtype", T("\"dtype\":\"I8\",\"shape\":[1],\"data_offsets\":[0,1]"), 1,
     "unknown dtype 'I8'"},
    {"lowercase-dtype", T("\"dtype\":\"f32\",\"shape\":[1],\"data_offsets\":[0,4]"), 4,
     "unknown dtype 'f32'"},
    {"dtype-not-string", T("\"dtype\":4,\"shape\":[1],\"data_offsets\":[0,4]"), 4,
     "tensor 'a': missing or non-string dtype"},
    {"missing-dtype", T("\"shape\":[1],\"data_offsets\":[0,4]"), 4, "non-string dtype"},
    {"nine-dims", T("\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,1]"), 1,
     "tensor 'a': shape has 9 dims, at most 8"},
    {"negative-dim", T("\"dtype\":\"U8\",\"shape\":[2,-1],\"data_offsets\":[0,0]"), 0,
     "tensor 'a': negative dimension -1"},
    {"float-dim", T("\"dtype\":\"U8\",\"shape\":[1.5],\"data_offsets\":[0,1]"), 1,
     "tensor 'a': shape[0] is not an integer"},
    {"shape-not-array", T("\"dtype\":\"U8\",\"shape\":3,\"data_offsets\":[0,3]"), 3,
     "non-array shape"},
    {"shape-overflow",
     T("\"dtype\":\"F64\",\"shape\":[4294967296,4294967296,4294967296],\"data_offsets\":[0,8]"), 8,
     "tensor 'a': shape size overflows"},
    {"offsets-past-end", T("\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]"), 12,
     "tensor 'a': data_offsets end 16 is past the data (12 bytes)"},
    {"size-mismatch", T("\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,12]"), 16,
     "tensor 'a': size mismatch: shape and F32 need 16 bytes, data_offsets span 12"},
    {"begin-after-end", T("\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[8,4]"), 8,
     "tensor 'a': data_offsets begin 8 > end 4"},
    {"float-offsets", T("\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0.0,4.0]"), 4,
     "tensor 'a': data_offsets must be non-negative integers"},
    {"string-offsets", T("\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[\"0\",\"4\"]"), 4,
     "non-negative integers"},
    {"negative-offset", T("\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[-4,0]"), 4,
     "non-negative integers"},
    {"one-offset", T("\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[4]"), 4,
     "tensor 'a': data_offsets must be [begin, end]"},
    {"missing-offsets", T("\"dtype\":\"U8\",\"shape\":[4]"), 4, "data_offsets must be"},
    {"huge-offset", T("\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,1e30]"), 4,
     "non-negative integers"},
    {"too-big-integer",
     T("\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,99999999999999999999]"), 4,
     "not valid JSON"},
    {"entry-not-object", "{\"a\":[1,2]}", 0, "tensor 'a': entry is not an object"},
    {"empty-name", "{\"\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1,
     "tensor with an empty name"},
    {"overlapping",
     "{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
     "\"b\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[2,6]}}",
     8, "tensors 'a' and 'b' overlap"},
    {"contained",
     "{\"big\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[0,8]},"
     "\"mid\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[4,8]},"
     "\"in\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[2,3]}}",
     8, "overlap"},
    {"same-range",
     "{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
     "\"b\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
     4, "tensors 'a' and 'b' overlap"},
    {"duplicate-name",
     "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
     "\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}",
     2, "duplicate name 'a'"},
    {"duplicate-field",
     T("\"dtype\":\"U8\",\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,1]"), 1,
     "duplicate name 'dtype'"},
    {"metadata-non-string", "{\"__metadata__\":{\"k\":1}}", 0,
     "__metadata__ 'k': value is not a string"},
    {"metadata-nested", "{\"__metadata__\":{\"k\":{\"x\":\"y\"}}}", 0, "value is not a string"},
    {"metadata-not-object", "{\"__metadata__\":[\"k\",\"v\"]}", 0, "__metadata__ is not an object"},
    {"metadata-duplicate-key", "{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}", 0,
     "duplicate name 'k'"},
    {"raw-newline-in-string", "{\"a\nb\":1}", 0, "not valid JSON"},
    {"control-char-name", "{\"a\\nb\":{\"dtype\":\"Q\",\"shape\":[],\"data_offsets\":[0,1]}}", 1,
     "tensor 'a?b': unknown dtype"},
};

static void
test_safetensors__malformed_headers_are_rejected(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof corpus / sizeof corpus[0]; i++) {
        size_t hlen = strlen(corpus[i].header), len;
        unsigned char *img;
        if (!strcmp(corpus[i].name, "nul-in-header"))
            hlen = 4;
        img = image(corpus[i].header, hlen, corpus[i].data_len, &len);
        expect_bad(img, len, corpus[i].name, corpus[i].needle);
        free(img);
    }
}

static void
test_safetensors__bad_header_lengths_are_rejected(void **state)
{
    unsigned char img[64];
    size_t len;
    unsigned char *ok = image("{}", 2, 0, &len);
    (void)state;

    expect_bad(ok, 0, "empty-file", "file is 0 bytes, too short");
    expect_bad(ok, 7, "seven-bytes", "too short for the 8-byte header length");
    memset(img, ' ', sizeof img);
    img[0] = 57; /* one byte more than the file holds after the length */
    memset(img + 1, 0, 7);
    expect_bad(img, sizeof img, "length-past-eof", "header length 57 exceeds the file (64 bytes)");
    memset(img, 0xff, 8);
    expect_bad(img, sizeof img, "huge-length", "exceeds the limit of 104857600 bytes");
    /* One byte over the bound is refused before anything is allocated. */
    {
        uint64_t n = (uint64_t)BUNDLE_HEADER_MAX + 1;
        for (int i = 0; i < 8; i++)
            img[i] = (unsigned char)(n >> (8 * i));
        expect_bad(img, sizeof img, "limit-plus-one", "exceeds the limit");
    }
    free(ok);
}

static void
test_safetensors__every_truncation_is_rejected(void **state)
{
    size_t len = 0;
    unsigned char *valid = slurp(VALID, &len);
    struct sieve_errbuf err = {{0}};
    struct bundle *b;
    (void)state;

    assert_non_null(valid);
    assert_int_equal(bundle_parse(valid, len, "valid", &b, &err), 0);
    bundle_free(b);
    for (size_t n = 0; n < len; n++)
        expect_bad(valid, n, "truncated", "");
    free(valid);
}

static void
test_safetensors__read_names_the_file(void **state)
{
    char path[] = "/tmp/sieve-test-st-XXXXXX";
    struct sieve_errbuf err = {{0}};
    struct bundle *b = (void *)1;
    size_t len;
    unsigned char *img = image(corpus[6].header, strlen(corpus[6].header), 1, &len);
    int fd = mkstemp(path);
    (void)state;

    assert_true(fd >= 0);
    assert_int_equal(write(fd, img, len), (ssize_t)len);
    close(fd);
    assert_int_equal(bundle_read(path, &b, &err), SIEVE_EFORMAT);
    assert_null(b);
    assert_non_null(strstr(err.msg, path));
    assert_non_null(strstr(err.msg, "unknown dtype 'Q8'"));
    /* A file shorter than the length field is refused without mapping it. */
    fd = open(path, O_WRONLY | O_TRUNC);
    assert_int_equal(write(fd, img, 3), 3);
    close(fd);
    assert_int_equal(bundle_read(path, &b, &err), SIEVE_EFORMAT);
    assert_non_null(strstr(err.msg, "too short"));
    unlink(path);
    free(img);
}

/* Reads every byte a parsed bundle exposes and checks its invariants. */
static uint64_t
touch(const struct bundle *b)
{
    uint64_t sum = 0;
    for (size_t i = 0; i < bundle_tensor_count(b); i++) {
        const struct sieve_tensor *t = bundle_tensor_at(b, i);
        assert_true(t->ndim <= SIEVE_MAX_DIMS);
        assert_int_equal(t->nbytes, sieve_tensor_numel(t) * sieve_dtype_size(t->dtype));
        assert_int_equal((uintptr_t)t->data % sieve_dtype_size(t->dtype), 0);
        assert_ptr_equal(bundle_tensor_get(b, t->name), t);
        for (uint64_t j = 0; j < t->nbytes; j++)
            sum += ((const unsigned char *)t->data)[j];
    }
    for (size_t i = 0; i < bundle_meta_count(b); i++) {
        const char *k, *v;
        assert_int_equal(bundle_meta_at(b, i, &k, &v), 0);
        sum += strlen(k) + strlen(v);
    }
    return sum;
}

/* Parses an exact-length copy; returns 1 when it was accepted. */
static int
try_parse(const unsigned char *buf, size_t len)
{
    struct sieve_errbuf err = {{0}};
    struct bundle *b;
    unsigned char *copy = malloc(len ? len : 1);
    int rc;

    memcpy(copy, buf, len);
    rc = bundle_parse(copy, len, "mutant", &b, &err);
    if (rc == 0) {
        (void)touch(b);
        bundle_free(b);
    } else {
        assert_int_equal(rc, SIEVE_EFORMAT);
        assert_true(err.msg[0] != '\0');
    }
    free(copy);
    return rc == 0;
}

static void
test_safetensors__byte_flips_never_crash(void **state)
{
    static const unsigned char flips[] = {0x01, 0x20, 0x80, 0xff};
    size_t len = 0, accepted = 0, rejected = 0;
    unsigned char *valid = slurp(VALID, &len);
    (void)state;

    assert_non_null(valid);
    for (size_t pos = 0; pos < len; pos++)
        for (size_t f = 0; f < sizeof flips; f++) {
            valid[pos] ^= flips[f];
            if (try_parse(valid, len))
                accepted++;
            else
                rejected++;
            valid[pos] ^= flips[f];
        }
    /* Flips in the data block are accepted; flips in the length or structure are not. */
    assert_true(accepted > 0);
    assert_true(rejected > 0);
    print_message("byte flips: %zu accepted, %zu rejected\n", accepted, rejected);
    free(valid);
}

static uint64_t
rng_next(uint64_t *s)
{
    /* xorshift64*: deterministic across platforms, so a failure reproduces. */
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}

static void
test_safetensors__random_mutations_never_crash(void **state)
{
    /* Bytes that steer the JSON lexer into interesting states. */
    static const char tokens[] = "{}[],:\"\\0123456789-.eE \x00\xff";
    size_t len = 0, accepted = 0;
    unsigned char *valid = slurp(VALID, &len), *buf = malloc(len + 64);
    uint64_t seed = 0x5eed5eedull;
    (void)state;

    assert_non_null(valid);
    for (int iter = 0; iter < 4000; iter++) {
        size_t n = len, edits = 1 + rng_next(&seed) % 4;
        memcpy(buf, valid, len);
        for (size_t e = 0; e < edits; e++) {
            size_t pos = rng_next(&seed) % n;
            switch (rng_next(&seed) % 5) {
            case 0: /* random byte */
                buf[pos] = (unsigned char)rng_next(&seed);
                break;
            case 1: /* lexer token */
                buf[pos] = (unsigned char)tokens[rng_next(&seed) % (sizeof tokens - 1)];
                break;
            case 2: /* digit inside the header, where offsets and shapes live */
                if (n > 8)
                    buf[8 + rng_next(&seed) % (n - 8)] =
                        (unsigned char)('0' + rng_next(&seed) % 10);
                break;
            case 3: /* truncate */
                n = pos + 1;
                break;
            default: /* insert a byte (header length unchanged: shifts everything) */
                if (n < len + 64) {
                    memmove(buf + pos + 1, buf + pos, n - pos);
                    buf[pos] = (unsigned char)tokens[rng_next(&seed) % (sizeof tokens - 1)];
                    n++;
                }
            }
        }
        accepted += (size_t)try_parse(buf, n);
    }
    print_message("random mutations: %zu of 4000 accepted\n", accepted);
    free(buf);
    free(valid);
}

/* A header with 100,000 metadata entries parses in linear time (it took 21 s: every entry
 * searched the ones before it). */
static void
test_safetensors__many_metadata_entries_parse_fast(void **state)
{
    enum { N = 100000 };
    struct sieve_errbuf err = {{0}};
    struct bundle *b;
    char *buf = malloc((size_t)N * 24 + 256);
    size_t n = 8;
    struct timespec t0, t1;

    (void)state;
    assert_non_null(buf);
    n += (size_t)sprintf(buf + n, "{\"__metadata__\":{");
    for (int i = 0; i < N; i++)
        n += (size_t)sprintf(buf + n, "%s\"k%06d\":\"v\"", i ? "," : "", i);
    n += (size_t)sprintf(buf + n, "}}");
    uint64_t hlen = n - 8;
    for (int i = 0; i < 8; i++)
        buf[i] = (char)(hlen >> (8 * i));
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(bundle_parse(buf, n, "meta.safetensors", &b, &err), 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_string_equal(bundle_meta_get(b, "k099999"), "v");
    const char *k, *v;
    assert_int_equal(bundle_meta_at(b, N - 1, &k, &v), 0);
    assert_int_equal(bundle_meta_at(b, N, &k, &v), SIEVE_ENOENT);
    double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    assert_true(s < 2.0);
    bundle_free(b);
    free(buf);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_safetensors__malformed_headers_are_rejected),
        cmocka_unit_test(test_safetensors__bad_header_lengths_are_rejected),
        cmocka_unit_test(test_safetensors__every_truncation_is_rejected),
        cmocka_unit_test(test_safetensors__read_names_the_file),
        cmocka_unit_test(test_safetensors__byte_flips_never_crash),
        cmocka_unit_test(test_safetensors__random_mutations_never_crash),
        cmocka_unit_test(test_safetensors__many_metadata_entries_parse_fast),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
