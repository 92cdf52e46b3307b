/*
 * test_plugin_abi.c - pins the layout of every struct and the value of every constant of
 * sieve/plugin.h on x86-64 (LP64). A plugin built against ABI 1.0 must keep working with any
 * later 1.x host, so a change here that is not an append is an ABI break: the compile-time
 * checks stop the build, the runtime ones say which field moved.
 */
#include <assert.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <sieve/plugin.h>

#if defined(__x86_64__)
#define PIN_OFF(type, field, off)                                                                  \
    static_assert(offsetof(struct type, field) == (off), #type "." #field " moved");
#define PIN_SIZE(type, size) static_assert(sizeof(struct type) == (size), #type " size changed");
#else
#define PIN_OFF(type, field, off)
#define PIN_SIZE(type, size)
#endif

/* Every pinned field, once, for both the static and the runtime checks. */
/* clang-format off */
#define LAYOUT(X, S)                                                                               \
    S(sieve_errbuf, 512)                                                                           \
    X(sieve_tensor, name, 0) X(sieve_tensor, dtype, 8) X(sieve_tensor, ndim, 12)                   \
    X(sieve_tensor, shape, 16) X(sieve_tensor, data, 80) X(sieve_tensor, nbytes, 88)               \
    S(sieve_tensor, 96)                                                                            \
    X(sieve_port, name, 0) X(sieve_port, doc, 8) X(sieve_port, flags, 16)                          \
    S(sieve_port, 24)                                                                              \
    X(sieve_param, name, 0) X(sieve_param, type, 8) X(sieve_param, doc, 16)                        \
    X(sieve_param, def, 24) X(sieve_param, min, 32) X(sieve_param, max, 40)                        \
    X(sieve_param, choices, 48) X(sieve_param, flags, 56) X(sieve_param, item_type, 60)            \
    S(sieve_param, 64)                                                                             \
    X(sieve_value, type, 0) X(sieve_value, i, 8) X(sieve_value, f, 16) X(sieve_value, s, 24)       \
    X(sieve_value, n, 32) X(sieve_value, items, 40)                                                \
    S(sieve_value, 48)                                                                             \
    X(sieve_sample, id, 0) X(sieve_sample, media, 8) X(sieve_sample, category, 16)                 \
    X(sieve_sample, fields_json, 24)                                                               \
    S(sieve_sample, 32)                                                                            \
    X(sieve_ctx, struct_size, 0) X(sieve_ctx, host, 8) X(sieve_ctx, host_data, 16)                 \
    X(sieve_ctx, task_id, 24) X(sieve_ctx, device, 32) X(sieve_ctx, device_index, 40)              \
    X(sieve_ctx, scratch_dir, 48) X(sieve_ctx, n_samples, 56) X(sieve_ctx, samples, 64)            \
    S(sieve_ctx, 72)                                                                               \
    X(sieve_host, abi_major, 0) X(sieve_host, abi_minor, 4) X(sieve_host, struct_size, 8)          \
    X(sieve_host, log, 16) X(sieve_host, progress, 24) X(sieve_host, cancelled, 32)                \
    X(sieve_host, tensor_count, 40) X(sieve_host, tensor_at, 48) X(sieve_host, tensor_get, 56)     \
    X(sieve_host, tensor_new, 64) X(sieve_host, meta_get, 72) X(sieve_host, meta_set, 80)          \
    X(sieve_host, meta_count, 88) X(sieve_host, meta_at, 96)                                       \
    S(sieve_host, 104)                                                                             \
    X(sieve_plugin, abi_major, 0) X(sieve_plugin, abi_minor, 4) X(sieve_plugin, struct_size, 8)    \
    X(sieve_plugin, name, 16) X(sieve_plugin, version, 24) X(sieve_plugin, summary, 32)            \
    X(sieve_plugin, inputs, 40) X(sieve_plugin, n_inputs, 48) X(sieve_plugin, outputs, 56)         \
    X(sieve_plugin, n_outputs, 64) X(sieve_plugin, params, 72) X(sieve_plugin, n_params, 80)       \
    X(sieve_plugin, flags, 84) X(sieve_plugin, init, 88) X(sieve_plugin, process, 96)              \
    X(sieve_plugin, free, 104) X(sieve_plugin, row_fields, 112)                                    \
    S(sieve_plugin, 120)
/* clang-format on */

LAYOUT(PIN_OFF, PIN_SIZE)

#define CHECK_OFF(type, field, off) assert_int_equal(offsetof(struct type, field), (off));
#define CHECK_SIZE(type, size) assert_int_equal(sizeof(struct type), (size));

static void
test_plugin_abi__struct_layout(void **state)
{
    (void)state;
#if defined(__x86_64__)
    LAYOUT(CHECK_OFF, CHECK_SIZE)
#else
    skip();
#endif
}

static void
test_plugin_abi__constants(void **state)
{
    (void)state;
    assert_int_equal(SIEVE_ABI_MAJOR, 1);
    assert_int_equal(SIEVE_ABI_MINOR, 2);
    assert_int_equal(SIEVE_PLUGIN_SIZE_1_0, 112);
    assert_int_equal(SIEVE_ERRBUF_SIZE, 512);
    assert_int_equal(SIEVE_MAX_DIMS, 8);
    assert_string_equal(SIEVE_ENTRY_SYMBOL, "sieve_plugin_entry");

    assert_int_equal(SIEVE_EBADINPUT, -1);
    assert_int_equal(SIEVE_ENOMEM, -2);
    assert_int_equal(SIEVE_EDEVICE, -3);
    assert_int_equal(SIEVE_ETRANSIENT, -4);
    assert_int_equal(SIEVE_EINTERNAL, -5);
    assert_int_equal(SIEVE_ECANCELED, -6);
    assert_int_equal(SIEVE_EINVAL, -7);
    assert_int_equal(SIEVE_EIO, -8);
    assert_int_equal(SIEVE_ENOENT, -9);
    assert_int_equal(SIEVE_EFORMAT, -10);
    assert_int_equal(SIEVE_EABI, -11);
    assert_int_equal(SIEVE_ETIMEDOUT, -12);
    assert_int_equal(SIEVE_EEXIST, -13);
    assert_int_equal(SIEVE_ESTORE, -14);
    assert_int_equal(SIEVE_ESPEC, -15);
    assert_int_equal(SIEVE_ECRASH, -16);
    assert_int_equal(SIEVE_EPROTO, -17);

    assert_int_equal(SIEVE_DTYPE_F32, 0);
    assert_int_equal(SIEVE_DTYPE_F16, 1);
    assert_int_equal(SIEVE_DTYPE_BF16, 2);
    assert_int_equal(SIEVE_DTYPE_F64, 3);
    assert_int_equal(SIEVE_DTYPE_I64, 4);
    assert_int_equal(SIEVE_DTYPE_I32, 5);
    assert_int_equal(SIEVE_DTYPE_U8, 6);
    assert_int_equal(SIEVE_DTYPE_BOOL, 7);

    assert_int_equal(SIEVE_PARAM_INT, 1);
    assert_int_equal(SIEVE_PARAM_FLOAT, 2);
    assert_int_equal(SIEVE_PARAM_STRING, 3);
    assert_int_equal(SIEVE_PARAM_BOOL, 4);
    assert_int_equal(SIEVE_PARAM_ENUM, 5);
    assert_int_equal(SIEVE_PARAM_LIST, 6);

    assert_int_equal(SIEVE_PORT_OPTIONAL, 1);
    assert_int_equal(SIEVE_PARAM_HAS_MIN, 1);
    assert_int_equal(SIEVE_PARAM_HAS_MAX, 2);
    assert_int_equal(SIEVE_PARAM_REQUIRED, 4);
    assert_int_equal(SIEVE_PARAM_NO_KEY, 8);
    assert_int_equal(SIEVE_PLUGIN_NEEDS_DEVICE, 1);
    assert_int_equal(SIEVE_PLUGIN_REDUCE, 2);
    assert_int_equal(SIEVE_PLUGIN_DETERMINISTIC, 4);
    assert_int_equal(SIEVE_LOG_DEBUG, 0);
    assert_int_equal(SIEVE_LOG_ERROR, 3);
}

static void
test_plugin_abi__helpers(void **state)
{
    struct sieve_errbuf err;
    struct sieve_tensor t = {.ndim = 3, .shape = {2, 3, 4}};
    struct sieve_tensor scalar = {.ndim = 0};

    (void)state;
    assert_int_equal(sieve_dtype_size(SIEVE_DTYPE_F64), 8);
    assert_int_equal(sieve_dtype_size(SIEVE_DTYPE_I32), 4);
    assert_int_equal(sieve_dtype_size(SIEVE_DTYPE_BF16), 2);
    assert_int_equal(sieve_dtype_size(SIEVE_DTYPE_BOOL), 1);
    assert_int_equal(sieve_dtype_size(42), 0);
    assert_int_equal(sieve_tensor_numel(&t), 24);
    assert_int_equal(sieve_tensor_numel(&scalar), 1);
    assert_int_equal(sieve_errbuf_set(&err, SIEVE_EBADINPUT, "bad '%s'", "x"), SIEVE_EBADINPUT);
    assert_string_equal(err.msg, "bad 'x'");
    assert_int_equal(sieve_errbuf_set(NULL, SIEVE_EIO, "ignored"), SIEVE_EIO);
}

static const struct sieve_port init_outputs[] = {{"out", "the output", 0}};
static const struct sieve_plugin init_with_empty_tables =
    SIEVE_PLUGIN_INIT("source", "1.0.0", "a plugin with no inputs and no parameters", SIEVE_NONE,
                      init_outputs, SIEVE_NONE, 0, NULL, NULL, NULL);

/* SIEVE_PLUGIN_INIT takes SIEVE_NONE for an empty table (a source plugin such as decode). */
static void
test_plugin_abi__init_macro_empty_tables(void **state)
{
    const struct sieve_plugin *d = &init_with_empty_tables;

    (void)state;
    assert_int_equal(d->abi_major, SIEVE_ABI_MAJOR);
    assert_int_equal(d->struct_size, sizeof(struct sieve_plugin));
    assert_null(d->inputs);
    assert_int_equal(d->n_inputs, 0);
    assert_ptr_equal(d->outputs, init_outputs);
    assert_int_equal(d->n_outputs, 1);
    assert_null(d->params);
    assert_int_equal(d->n_params, 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plugin_abi__struct_layout),
        cmocka_unit_test(test_plugin_abi__constants),
        cmocka_unit_test(test_plugin_abi__helpers),
        cmocka_unit_test(test_plugin_abi__init_macro_empty_tables),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
