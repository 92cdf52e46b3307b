/*
 * test_params.c - parameter values: parsing, types, ranges, choices, lists, defaults, unknown
 * names with suggestions, required parameters, and the canonical form: all of it for the
 * worker, without SIEVE_PARAM_NO_KEY rows for cache keys.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/host/host.h"
#include "host_int.h"

static const char *const methods[] = {"dycoke", "uniform", "topk", NULL};

static const struct sieve_param table[] = {
    {.name = "keep",
     .type = SIEVE_PARAM_FLOAT,
     .doc = "fraction kept",
     .def = "0.5",
     .min = 0,
     .max = 1,
     .flags = SIEVE_PARAM_HAS_MIN | SIEVE_PARAM_HAS_MAX},
    {.name = "method",
     .type = SIEVE_PARAM_ENUM,
     .doc = "method",
     .def = "dycoke",
     .choices = methods},
    {.name = "segments",
     .type = SIEVE_PARAM_INT,
     .doc = "segments",
     .def = "10",
     .min = 1,
     .flags = SIEVE_PARAM_HAS_MIN},
    {.name = "label", .type = SIEVE_PARAM_STRING, .doc = "a label", .def = "'it''s \"x\"'"},
    {.name = "exact", .type = SIEVE_PARAM_BOOL, .doc = "a flag", .def = "no"},
    {.name = "sizes",
     .type = SIEVE_PARAM_LIST,
     .doc = "sizes",
     .def = "[1, 2]",
     .min = 1,
     .flags = SIEVE_PARAM_HAS_MIN,
     .item_type = SIEVE_PARAM_INT},
    {.name = "weights",
     .type = SIEVE_PARAM_LIST,
     .doc = "weights",
     .def = "[]",
     .item_type = SIEVE_PARAM_FLOAT},
    {.name = "names",
     .type = SIEVE_PARAM_LIST,
     .doc = "names",
     .def = "[a, 'b, c', \"d\"]",
     .item_type = SIEVE_PARAM_STRING},
    {.name = "model",
     .type = SIEVE_PARAM_STRING,
     .doc = "required",
     .def = NULL,
     .flags = SIEVE_PARAM_REQUIRED},
};

static const struct sieve_plugin desc = {
    .abi_major = SIEVE_ABI_MAJOR,
    .abi_minor = SIEVE_ABI_MINOR,
    .struct_size = sizeof(struct sieve_plugin),
    .name = "fake",
    .version = "1",
    .params = table,
    .n_params = SIEVE_COUNT(table),
};

static struct host_plugin plugin = {.name = "fake", .path = "/fake.so", .desc = &desc};

enum { KEEP, METHOD, SEGMENTS, LABEL, EXACT, SIZES, WEIGHTS, NAMES, MODEL };

/* Parses `text` for row `r`, expecting failure with exactly `msg`. */
static void
expect_error(int r, const char *text, const char *msg)
{
    struct sieve_value v;
    struct sieve_errbuf err = {{0}};

    assert_int_equal(host_value_parse(&table[r], text, &v, &err), SIEVE_EINVAL);
    assert_string_equal(err.msg, msg);
}

static void
test_params__integers(void **state)
{
    struct sieve_value v;
    struct sieve_errbuf err = {{0}};

    (void)state;
    assert_int_equal(host_value_parse(&table[SEGMENTS], " 42 ", &v, &err), 0);
    assert_int_equal(v.type, SIEVE_PARAM_INT);
    assert_int_equal(v.i, 42);
    assert_true(v.f == 42.0);
    assert_int_equal(host_value_parse(&table[SEGMENTS], "+7", &v, &err), 0);
    assert_int_equal(v.i, 7);
    expect_error(SEGMENTS, "1.5", "parameter 'segments': '1.5' is not an integer");
    expect_error(SEGMENTS, "ten", "parameter 'segments': 'ten' is not an integer");
    expect_error(SEGMENTS, "", "parameter 'segments': '' is not an integer");
    expect_error(SEGMENTS, "0", "parameter 'segments': 0 is below the minimum 1");
    expect_error(SEGMENTS, "-3", "parameter 'segments': -3 is below the minimum 1");
    expect_error(SEGMENTS, "99999999999999999999",
                 "parameter 'segments': 99999999999999999999 is out of the integer range");
}

static void
test_params__floats(void **state)
{
    struct sieve_value v;
    struct sieve_errbuf err = {{0}};

    (void)state;
    assert_int_equal(host_value_parse(&table[KEEP], "0.25", &v, &err), 0);
    assert_true(v.f == 0.25);
    assert_int_equal(host_value_parse(&table[KEEP], "1", &v, &err), 0); /* int literal */
    assert_true(v.f == 1.0);
    assert_int_equal(host_value_parse(&table[KEEP], "2.5e-1", &v, &err), 0);
    assert_true(v.f == 0.25);
    assert_int_equal(host_value_parse(&table[KEEP], "\"0.75\"", &v, &err), 0);
    assert_true(v.f == 0.75);
    expect_error(KEEP, "1.5", "parameter 'keep': 1.5 is above the maximum 1");
    expect_error(KEEP, "-1e-3", "parameter 'keep': -0.001 is below the minimum 0");
    expect_error(KEEP, "half", "parameter 'keep': 'half' is not a number");
    expect_error(KEEP, "nan", "parameter 'keep': 'nan' is not a number");
    expect_error(KEEP, "0x1p-1", "parameter 'keep': '0x1p-1' is not a number");
    expect_error(KEEP, "1e999", "parameter 'keep': 1e999 is not a finite number");
}

static void
test_params__booleans_and_strings(void **state)
{
    struct sieve_value v;
    struct sieve_errbuf err = {{0}};

    (void)state;
    assert_int_equal(host_value_parse(&table[EXACT], "yes", &v, &err), 0);
    assert_int_equal(v.i, 1);
    assert_int_equal(host_value_parse(&table[EXACT], "False", &v, &err), 0);
    assert_int_equal(v.i, 0);
    expect_error(EXACT, "maybe", "parameter 'exact': 'maybe' is not a boolean (true or false)");

    assert_int_equal(host_value_parse(&table[LABEL], "  plain text  ", &v, &err), 0);
    assert_string_equal(v.s, "plain text");
    host_value_release(&v);
    assert_int_equal(host_value_parse(&table[LABEL], "\"tab\\there \\\"q\\\"\"", &v, &err), 0);
    assert_string_equal(v.s, "tab\there \"q\"");
    host_value_release(&v);
    assert_int_equal(host_value_parse(&table[LABEL], "'it''s'", &v, &err), 0);
    assert_string_equal(v.s, "it's");
    host_value_release(&v);
    assert_int_equal(host_value_parse(&table[LABEL], "''", &v, &err), 0);
    assert_string_equal(v.s, "");
    host_value_release(&v);
    expect_error(LABEL, "\"open", "parameter 'label': unterminated quoted string");
    expect_error(LABEL, "\"a\" b",
                 "parameter 'label': unexpected text after quoted string in "
                 "\"a\" b");
}

static void
test_params__enum_choices(void **state)
{
    struct sieve_value v;
    struct sieve_errbuf err = {{0}};

    (void)state;
    assert_int_equal(host_value_parse(&table[METHOD], "topk", &v, &err), 0);
    assert_string_equal(v.s, "topk");
    assert_int_equal(v.i, 2);
    host_value_release(&v);
    expect_error(METHOD, "foo", "parameter 'method': 'foo' is not one of dycoke, uniform, topk");
    expect_error(METHOD, "TopK", "parameter 'method': 'TopK' is not one of dycoke, uniform, topk");
}

static void
test_params__lists(void **state)
{
    struct sieve_value v;
    struct sieve_errbuf err = {{0}};

    (void)state;
    assert_int_equal(host_value_parse(&table[SIZES], "[10, 20 ,30]", &v, &err), 0);
    assert_int_equal(v.type, SIEVE_PARAM_LIST);
    assert_int_equal(v.n, 3);
    assert_int_equal(v.items[0].type, SIEVE_PARAM_INT);
    assert_int_equal(v.items[2].i, 30);
    host_value_release(&v);

    assert_int_equal(host_value_parse(&table[SIZES], "5", &v, &err), 0); /* scalar = one item */
    assert_int_equal(v.n, 1);
    assert_int_equal(v.items[0].i, 5);
    host_value_release(&v);

    assert_int_equal(host_value_parse(&table[WEIGHTS], "[ ]", &v, &err), 0);
    assert_int_equal(v.n, 0);
    host_value_release(&v);

    assert_int_equal(host_value_parse(&table[NAMES], "[x, 'y, z', \"w]\"]", &v, &err), 0);
    assert_int_equal(v.n, 3);
    assert_string_equal(v.items[1].s, "y, z");
    assert_string_equal(v.items[2].s, "w]");
    host_value_release(&v);

    expect_error(SIZES, "[1, 0]", "parameter 'sizes': item 2: 0 is below the minimum 1");
    expect_error(SIZES, "[1, x]", "parameter 'sizes': item 2: 'x' is not an integer");
    expect_error(SIZES, "[1, 2", "parameter 'sizes': missing ']' in [1, 2");
    expect_error(SIZES, "[1,,2]", "parameter 'sizes': empty item 2 in [1,,2]");
    expect_error(SIZES, "[[1]]", "parameter 'sizes': nested lists and maps are not supported");
    expect_error(SIZES, "[1] 2", "parameter 'sizes': unexpected text after ']' in [1] 2");
    expect_error(SEGMENTS, "[1]", "parameter 'segments': expected a single int, got a list [1]");
}

/* A list grows to its bound and no further; past it the error says so (not "out of memory"). */
static void
test_params__list_length_is_bounded(void **state)
{
    size_t max = 65536, cap = 2 * (max + 1) + 2;
    char *text = malloc(cap);
    struct sieve_value v;
    struct sieve_errbuf err = {{0}};

    (void)state;
    assert_non_null(text);
    text[0] = '[';
    for (size_t i = 0; i < max; i++)
        memcpy(text + 1 + 2 * i, "1,", 2);
    memcpy(text + 2 * max, "]", 2); /* replaces the last comma */
    assert_int_equal(host_value_parse(&table[SIZES], text, &v, &err), 0);
    assert_int_equal(v.n, max);
    assert_int_equal(v.items[max - 1].i, 1);
    host_value_release(&v);

    memcpy(text + 2 * max, ",1]", 4);
    assert_int_equal(host_value_parse(&table[SIZES], text, &v, &err), SIEVE_EINVAL);
    assert_string_equal(err.msg, "parameter 'sizes': list longer than 65536 items");
    free(text);
}

static void
test_params__literal_values_from_a_yaml_parser(void **state)
{
    struct sieve_value v;
    struct sieve_errbuf err = {{0}};
    const char *items[] = {"4", "8"}, *bad[] = {"4", "0"}, *names[] = {"'q'", " sp "};

    (void)state;
    /* Already unquoted by YAML: quotes and spaces are part of the string. */
    assert_int_equal(host_value_parse_literal(&table[LABEL], "'x' ", &v, &err), 0);
    assert_string_equal(v.s, "'x' ");
    host_value_release(&v);
    assert_int_equal(host_value_parse_literal(&table[KEEP], "0.5", &v, &err), 0);
    assert_true(v.f == 0.5);
    assert_int_equal(host_value_parse_literal(&table[KEEP], "2", &v, &err), SIEVE_EINVAL);
    assert_string_equal(err.msg, "parameter 'keep': 2 is above the maximum 1");

    assert_int_equal(host_value_parse_items(&table[SIZES], items, 2, &v, &err), 0);
    assert_int_equal(v.type, SIEVE_PARAM_LIST);
    assert_int_equal(v.n, 2);
    assert_int_equal(v.items[1].i, 8);
    host_value_release(&v);
    assert_int_equal(host_value_parse_items(&table[NAMES], names, 2, &v, &err), 0);
    assert_string_equal(v.items[0].s, "'q'");
    assert_string_equal(v.items[1].s, " sp ");
    host_value_release(&v);
    assert_int_equal(host_value_parse_items(&table[WEIGHTS], NULL, 0, &v, &err), 0);
    assert_int_equal(v.n, 0);
    assert_int_equal(host_value_parse_items(&table[SIZES], bad, 2, &v, &err), SIEVE_EINVAL);
    assert_string_equal(err.msg, "parameter 'sizes': item 2: 0 is below the minimum 1");
    assert_int_equal(host_value_parse_items(&table[SEGMENTS], items, 2, &v, &err), SIEVE_EINVAL);
    assert_string_equal(err.msg, "parameter 'segments': expected a single int, got a list of 2");
}

static void
build(const char *const *keys, const char *const *texts, size_t n, struct sieve_value **vals,
      int want, const char *msg)
{
    struct sieve_errbuf err = {{0}};

    *vals = (struct sieve_value *)1;
    assert_int_equal(host_params_build(&plugin, keys, texts, n, vals, &err), want);
    if (msg)
        assert_string_equal(err.msg, msg);
}

static void
test_params__build_fills_defaults(void **state)
{
    const char *keys[] = {"model", "keep"};
    const char *texts[] = {"tiny", "0.75"};
    struct sieve_value *vals;

    (void)state;
    build(keys, texts, 2, &vals, 0, NULL);
    assert_true(vals[KEEP].f == 0.75);
    assert_string_equal(vals[METHOD].s, "dycoke");
    assert_int_equal(vals[SEGMENTS].i, 10);
    assert_string_equal(vals[LABEL].s, "it's \"x\"");
    assert_int_equal(vals[EXACT].i, 0);
    assert_int_equal(vals[SIZES].n, 2);
    assert_int_equal(vals[NAMES].n, 3);
    assert_string_equal(vals[MODEL].s, "tiny");
    host_params_free(&plugin, vals);
    host_params_free(&plugin, NULL);
}

static void
test_params__build_rejects_bad_sets(void **state)
{
    struct sieve_value *vals;
    const char *k1[] = {"model", "kep"}, *t1[] = {"m", "0.5"};
    const char *k2[] = {"model", "zzzzzz"}, *t2[] = {"m", "1"};
    const char *k3[] = {"keep"}, *t3[] = {"0.5"};
    const char *k4[] = {"model", "keep", "keep"}, *t4[] = {"m", "0.1", "0.2"};
    const char *k5[] = {"model", "keep"}, *t5[] = {"m", "2"};

    (void)state;
    build(k1, t1, 2, &vals, SIEVE_EINVAL, "unknown parameter 'kep' (did you mean 'keep'?)");
    assert_null(vals);
    build(k2, t2, 2, &vals, SIEVE_EINVAL, "unknown parameter 'zzzzzz' for plugin 'fake'");
    build(k3, t3, 1, &vals, SIEVE_EINVAL, "missing required parameter 'model'");
    build(k4, t4, 3, &vals, SIEVE_EINVAL, "parameter 'keep' is set twice");
    build(k5, t5, 2, &vals, SIEVE_EINVAL, "parameter 'keep': 2 is above the maximum 1");
}

static void
test_params__build_from_yaml_values(void **state)
{
    const char *model[] = {"m"}, *keep[] = {"0.25"}, *sizes[] = {"3", "5"}, *kep[] = {"1"};
    const struct host_param_literal ok[] = {
        {"model", model, 1, 0}, {"keep", keep, 1, 0}, {"sizes", sizes, 2, 1}};
    const struct host_param_literal seq_for_scalar[] = {{"model", model, 1, 0},
                                                        {"keep", sizes, 2, 1}};
    const struct host_param_literal typo[] = {{"model", model, 1, 0}, {"kep", kep, 1, 0}};
    struct sieve_value *vals;
    struct sieve_errbuf err = {{0}};

    (void)state;
    assert_int_equal(host_params_build_literal(&plugin, ok, 3, &vals, &err), 0);
    assert_true(vals[KEEP].f == 0.25);
    assert_int_equal(vals[SIZES].n, 2);
    assert_int_equal(vals[SIZES].items[1].i, 5);
    assert_int_equal(vals[SEGMENTS].i, 10); /* default */
    host_params_free(&plugin, vals);
    assert_int_equal(host_params_build_literal(&plugin, seq_for_scalar, 2, &vals, &err),
                     SIEVE_EINVAL);
    assert_string_equal(err.msg, "parameter 'keep': expected a single float, got a list");
    assert_int_equal(host_params_build_literal(&plugin, typo, 2, &vals, &err), SIEVE_EINVAL);
    assert_string_equal(err.msg, "unknown parameter 'kep' (did you mean 'keep'?)");
}

static char *
canonical_of(const char *const *keys, const char *const *texts, size_t n)
{
    struct sieve_value *vals;
    struct sieve_errbuf err = {{0}};
    char *s;

    assert_int_equal(host_params_build(&plugin, keys, texts, n, &vals, &err), 0);
    s = host_params_canonical(&plugin, vals);
    host_params_free(&plugin, vals);
    assert_non_null(s);
    return s;
}

static void
test_params__canonical_is_sorted_and_normalised(void **state)
{
    const char *k[] = {"model", "keep", "weights", "label"};
    const char *a[] = {"m", "1", "[1.0, 0.10, 1e-7, 2.5E+3]", "x"};
    const char *b[] = {"\"m\"", "1.0", "[1, 0.1, 0.0000001, 2500]", "'x'"};
    char *ca, *cb;

    (void)state;
    ca = canonical_of(k, a, 4);
    cb = canonical_of(k, b, 4);
    assert_string_equal(ca, cb);
    assert_string_equal(ca, "{\"exact\":false,\"keep\":1,\"label\":\"x\",\"method\":\"dycoke\","
                            "\"model\":\"m\",\"names\":[\"a\",\"b, c\",\"d\"],\"segments\":10,"
                            "\"sizes\":[1,2],\"weights\":[1,0.1,1e-07,2500]}");
    free(ca);
    free(cb);

    /* A value that differs in the last bit gives a different canonical form. */
    {
        const char *k1[] = {"model", "keep"}, *t1[] = {"m", "0.30000000000000004"};
        const char *t2[] = {"m", "0.3"};
        ca = canonical_of(k1, t1, 2);
        cb = canonical_of(k1, t2, 2);
        assert_non_null(strstr(ca, "\"keep\":0.30000000000000004"));
        assert_non_null(strstr(cb, "\"keep\":0.3,"));
        free(ca);
        free(cb);
    }
    /* Strings are JSON-escaped. */
    {
        const char *k1[] = {"model"}, *t1[] = {"\"a\\\"b\\\\c\\td\""};
        ca = canonical_of(k1, t1, 1);
        assert_non_null(strstr(ca, "\"model\":\"a\\\"b\\\\c\\u0009d\""));
        free(ca);
    }
}

/* A plugin with two SIEVE_PARAM_NO_KEY rows, one sorting first and one last. */
static const struct sieve_param hinted_table[] = {
    {.name = "threads",
     .type = SIEVE_PARAM_INT,
     .doc = "threads",
     .def = "1",
     .min = 1,
     .flags = SIEVE_PARAM_HAS_MIN | SIEVE_PARAM_NO_KEY},
    {.name = "keep", .type = SIEVE_PARAM_FLOAT, .doc = "fraction kept", .def = "0.5"},
    {.name = "batch",
     .type = SIEVE_PARAM_LIST,
     .doc = "batch sizes",
     .def = "[8]",
     .flags = SIEVE_PARAM_NO_KEY,
     .item_type = SIEVE_PARAM_INT},
    {.name = "method", .type = SIEVE_PARAM_STRING, .doc = "method", .def = "x"},
};

static const struct sieve_plugin hinted_desc = {
    .abi_major = SIEVE_ABI_MAJOR,
    .abi_minor = SIEVE_ABI_MINOR,
    .struct_size = sizeof(struct sieve_plugin),
    .name = "hinted",
    .version = "1",
    .params = hinted_table,
    .n_params = SIEVE_COUNT(hinted_table),
};

static struct host_plugin hinted = {.name = "hinted", .path = "/hinted.so", .desc = &hinted_desc};

/* The canonical text (all) or key text (key) of `p` with the given values. */
static char *
text_of(struct host_plugin *p, int key, const char *const *keys, const char *const *texts, size_t n)
{
    struct sieve_value *vals;
    struct sieve_errbuf err = {{0}};
    char *s;

    assert_int_equal(host_params_build(p, keys, texts, n, &vals, &err), 0);
    s = key ? host_params_key_text(p, vals) : host_params_canonical(p, vals);
    host_params_free(p, vals);
    assert_non_null(s);
    return s;
}

static void
test_params__key_text_leaves_out_no_key_parameters(void **state)
{
    const char *k[] = {"threads", "batch"};
    const char *a[] = {"1", "[8]"}, *b[] = {"16", "[2, 4]"};
    char *ca, *cb, *ka, *kb;

    (void)state;
    ca = text_of(&hinted, 0, k, a, 2);
    cb = text_of(&hinted, 0, k, b, 2);
    ka = text_of(&hinted, 1, k, a, 2);
    kb = text_of(&hinted, 1, k, b, 2);
    /* the worker still gets every value ... */
    assert_string_equal(ca, "{\"batch\":[8],\"keep\":0.5,\"method\":\"x\",\"threads\":1}");
    assert_string_equal(cb, "{\"batch\":[2,4],\"keep\":0.5,\"method\":\"x\",\"threads\":16}");
    /* ... while the key sees neither hint, so changing them changes no key */
    assert_string_equal(ka, "{\"keep\":0.5,\"method\":\"x\"}");
    assert_string_equal(kb, ka);
    free(ca);
    free(cb);
    free(ka);
    free(kb);

    /* a value that matters still changes the key text */
    {
        const char *k1[] = {"keep"}, *t1[] = {"0.25"};
        ka = text_of(&hinted, 1, k1, t1, 1);
        assert_string_equal(ka, "{\"keep\":0.25,\"method\":\"x\"}");
        free(ka);
    }
    /* a plugin whose only parameter is a hint has an empty key object */
    {
        struct sieve_plugin only = hinted_desc;
        struct host_plugin p = {.name = "only", .path = "/only.so", .desc = &only};
        only.params = hinted_table;
        only.n_params = 1;
        ka = text_of(&p, 1, NULL, NULL, 0);
        assert_string_equal(ka, "{}");
        free(ka);
    }
}

static void
test_params__key_text_without_no_key_parameters_is_the_canonical_text(void **state)
{
    /* Keys made before SIEVE_PARAM_NO_KEY existed hashed the canonical text; for a plugin
     * without such rows the key text must be the same bytes, or every store goes stale. */
    const char *k[] = {"model", "keep", "weights", "label", "names"};
    const char *sets[][5] = {
        {"m", "1", "[]", "x", "[a]"},
        {"\"m\"", "0.30000000000000004", "[1.0, 1e-7]", "'it''s'", "[a, 'b, c']"},
    };

    (void)state;
    for (size_t i = 0; i < SIEVE_COUNT(sets); i++) {
        char *c = text_of(&plugin, 0, k, sets[i], 5), *key = text_of(&plugin, 1, k, sets[i], 5);
        assert_string_equal(key, c);
        free(c);
        free(key);
    }
}

static void
test_params__value_canonical_matches_the_object_text(void **state)
{
    struct sieve_value *vals;
    struct sieve_errbuf err = {{0}};
    const char *k[] = {"model", "keep", "sizes"}, *t[] = {"'a\"b'", "1.0", "[3, 4]"};
    char *s;

    (void)state;
    assert_int_equal(host_params_build(&plugin, k, t, 3, &vals, &err), 0);
    s = host_value_canonical(&vals[KEEP]);
    assert_string_equal(s, "1");
    free(s);
    s = host_value_canonical(&vals[MODEL]);
    assert_string_equal(s, "\"a\\\"b\"");
    free(s);
    s = host_value_canonical(&vals[SIZES]);
    assert_string_equal(s, "[3,4]");
    free(s);
    host_params_free(&plugin, vals);
}

static void
test_params__number_format_round_trips(void **state)
{
    char buf[40];
    const double xs[] = {0.1, 1.0 / 3, 1e300, -2.5, 123456789.0, 5e-324, 0.30000000000000004};

    (void)state;
    for (size_t i = 0; i < sizeof xs / sizeof xs[0]; i++) {
        host_number_format(xs[i], buf, sizeof buf);
        assert_true(strtod(buf, NULL) == xs[i]);
    }
    host_number_format(-0.0, buf, sizeof buf);
    assert_string_equal(buf, "0");
    host_number_format(0.5, buf, sizeof buf);
    assert_string_equal(buf, "0.5");
    host_number_format(1e21, buf, sizeof buf);
    assert_string_equal(buf, "1e+21");
    host_number_format(2500, buf, sizeof buf);
    assert_string_equal(buf, "2500");
    host_number_format(1.5e-5, buf, sizeof buf);
    assert_string_equal(buf, "0.000015");
    host_number_format(1e-7, buf, sizeof buf);
    assert_string_equal(buf, "1e-07");
}

static void
expect_row_error(const struct sieve_param *row, const char *msg)
{
    struct sieve_errbuf err = {{0}};

    assert_int_equal(host_param_row_check(row, &err), SIEVE_EABI);
    assert_string_equal(err.msg, msg);
}

static void
test_params__row_checks(void **state)
{
    static const char *const empty[] = {NULL};
    static const char *const dup[] = {"a", "a", NULL};
    struct sieve_errbuf err = {{0}};

    (void)state;
    for (size_t i = 0; i < SIEVE_COUNT(table); i++)
        assert_int_equal(host_param_row_check(&table[i], &err), 0);
    expect_row_error(&(struct sieve_param){.name = "Bad", .type = SIEVE_PARAM_INT, .def = "1"},
                     "invalid parameter name 'Bad' (allowed: a-z 0-9 _)");
    expect_row_error(&(struct sieve_param){.name = "x", .type = 9, .def = "1"},
                     "parameter 'x': unknown type 9");
    expect_row_error(
        &(struct sieve_param){.name = "x", .type = SIEVE_PARAM_ENUM, .def = "a", .choices = empty},
        "parameter 'x': enum without choices");
    expect_row_error(
        &(struct sieve_param){.name = "x", .type = SIEVE_PARAM_ENUM, .def = "a", .choices = dup},
        "parameter 'x': duplicate choice 'a'");
    expect_row_error(
        &(struct sieve_param){
            .name = "x", .type = SIEVE_PARAM_LIST, .def = "[]", .item_type = SIEVE_PARAM_ENUM},
        "parameter 'x': list item type 5 is not int, float, string or bool");
    expect_row_error(&(struct sieve_param){.name = "x",
                                           .type = SIEVE_PARAM_INT,
                                           .def = "1",
                                           .min = 2,
                                           .max = 1,
                                           .flags = SIEVE_PARAM_HAS_MIN | SIEVE_PARAM_HAS_MAX},
                     "parameter 'x': minimum 2 exceeds maximum 1");
    expect_row_error(
        &(struct sieve_param){
            .name = "x", .type = SIEVE_PARAM_INT, .def = "1", .flags = SIEVE_PARAM_REQUIRED},
        "parameter 'x': required but has a default");
    expect_row_error(&(struct sieve_param){.name = "x", .type = SIEVE_PARAM_INT},
                     "parameter 'x': no default and not marked required");
    expect_row_error(&(struct sieve_param){.name = "x",
                                           .type = SIEVE_PARAM_FLOAT,
                                           .def = "2",
                                           .max = 1,
                                           .flags = SIEVE_PARAM_HAS_MAX},
                     "parameter 'x': invalid default '2': 2 is above the maximum 1");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_params__integers),
        cmocka_unit_test(test_params__list_length_is_bounded),
        cmocka_unit_test(test_params__floats),
        cmocka_unit_test(test_params__booleans_and_strings),
        cmocka_unit_test(test_params__enum_choices),
        cmocka_unit_test(test_params__lists),
        cmocka_unit_test(test_params__literal_values_from_a_yaml_parser),
        cmocka_unit_test(test_params__build_fills_defaults),
        cmocka_unit_test(test_params__build_rejects_bad_sets),
        cmocka_unit_test(test_params__build_from_yaml_values),
        cmocka_unit_test(test_params__canonical_is_sorted_and_normalised),
        cmocka_unit_test(test_params__key_text_leaves_out_no_key_parameters),
        cmocka_unit_test(test_params__key_text_without_no_key_parameters_is_the_canonical_text),
        cmocka_unit_test(test_params__value_canonical_matches_the_object_text),
        cmocka_unit_test(test_params__number_format_round_trips),
        cmocka_unit_test(test_params__row_checks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
