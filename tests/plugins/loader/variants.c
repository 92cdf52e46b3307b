/*
 * variants.c - test plugins that the loader must reject (or survive), one per build of this
 * file with -DVARIANT_<X>. Each is a descriptor that is right in every way but one, so a test
 * that expects a given message cannot pass for the wrong reason.
 */
#include <signal.h>
#include <stddef.h>
#include <unistd.h>

#include <sieve/plugin.h>

#ifndef PLUGIN_NAME
#error "build with -DPLUGIN_NAME=\"...\""
#endif

static const struct sieve_port inputs[] = {{"in", "anything", 0}};
static const struct sieve_port outputs[] = {{"out", "nothing useful", 0}};

static const struct sieve_param params[] = {
    {.name = "keep",
     .type = SIEVE_PARAM_FLOAT,
     .doc = "a fraction",
     .def = "0.5",
     .min = 0,
     .max = 1,
     .flags = SIEVE_PARAM_HAS_MIN | SIEVE_PARAM_HAS_MAX},
#if defined(VARIANT_DUP_PARAM)
    {.name = "keep", .type = SIEVE_PARAM_INT, .doc = "the same name again", .def = "1"},
#elif defined(VARIANT_ENUM_NO_CHOICES)
    {.name = "mode", .type = SIEVE_PARAM_ENUM, .doc = "no choices", .def = "a"},
#elif defined(VARIANT_DEFAULT_RANGE)
    {.name = "level",
     .type = SIEVE_PARAM_INT,
     .doc = "default above max",
     .def = "12",
     .min = 0,
     .max = 9,
     .flags = SIEVE_PARAM_HAS_MIN | SIEVE_PARAM_HAS_MAX},
#else
    {.name = "mode",
     .type = SIEVE_PARAM_ENUM,
     .doc = "a choice",
     .def = "a",
     .choices = (const char *const[]){"a", "b", NULL}},
#endif
};

static int
variant_process(void *state, const struct sieve_ctx *ctx, const struct sieve_bundle *const *in,
                struct sieve_bundle *const *out, struct sieve_errbuf *err)
{
    (void)state;
    (void)ctx;
    (void)in;
    (void)out;
    return sieve_errbuf_set(err, SIEVE_EINTERNAL, "this plugin only exists to be loaded");
}

#if defined(VARIANT_WRONG_MAJOR)
#define ABI_MAJOR (SIEVE_ABI_MAJOR + 1)
#else
#define ABI_MAJOR SIEVE_ABI_MAJOR
#endif
#if defined(VARIANT_NEWER_MINOR)
#define ABI_MINOR (SIEVE_ABI_MINOR + 3)
#else
#define ABI_MINOR SIEVE_ABI_MINOR
#endif

#if defined(VARIANT_ABI_1_1)
/* A descriptor built against ABI 1.1: shorter, no row_fields. The host must load it. */
#undef ABI_MINOR
#define ABI_MINOR 1
#define DESC_SIZE SIEVE_PLUGIN_SIZE_1_0
#else
#define DESC_SIZE sizeof(struct sieve_plugin)
#endif

static const struct sieve_plugin desc = {
    .abi_major = ABI_MAJOR,
    .abi_minor = ABI_MINOR,
    .struct_size = DESC_SIZE,
    .name = PLUGIN_NAME,
    .version = "1.0.0",
    .summary = "a loader test case",
    .inputs = inputs,
    .n_inputs = SIEVE_COUNT(inputs),
    .outputs = outputs,
    .n_outputs = SIEVE_COUNT(outputs),
    .params = params,
    .n_params = SIEVE_COUNT(params),
    .process = variant_process,
};

#if defined(VARIANT_CRASH_INIT)
/* A constructor runs inside dlopen, before the host can look at anything. */
__attribute__((constructor)) static void
crash_on_load(void)
{
    raise(SIGSEGV);
}
#endif

#if defined(VARIANT_HANG_LOAD)
__attribute__((constructor)) static void
hang_on_load(void)
{
    for (;;)
        pause();
}
#endif

#if !defined(VARIANT_NO_ENTRY)
SIEVE_EXPORT const struct sieve_plugin *sieve_plugin_entry(void);
SIEVE_EXPORT const struct sieve_plugin *
sieve_plugin_entry(void)
{
#if defined(VARIANT_CRASH_ENTRY)
    raise(SIGSEGV);
#endif
    return &desc;
}
#else
/* Exported under the wrong name, as a typo would. */
SIEVE_EXPORT const struct sieve_plugin *sieve_plugin_entrypoint(void);
SIEVE_EXPORT const struct sieve_plugin *
sieve_plugin_entrypoint(void)
{
    return &desc;
}
#endif
