/*
 * test_fuse_apply.c - fuse-bidirectional and evaluate through the real host: `sieve apply`
 * on safetensors files written with the bundle module, as a worker would run them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "base/bundle.h"
#include "tests/support/cli_test.h"

static char dir[64];

static int
setup(void **st)
{
    (void)st;
    snprintf(dir, sizeof dir, "/tmp/sieve-fuse-apply-XXXXXX");
    return test_dir_make(dir);
}

static int
teardown(void **st)
{
    (void)st;
    return test_dir_remove(dir);
}

static void
write_bundle(struct bundle *b, const char *name)
{
    test_bundle_write(b, test_path(dir, name));
}

static struct sieve_tensor *
add(struct bundle *b, const char *name, int32_t dtype, uint32_t ndim, const int64_t *shape)
{
    return test_tensor_add(b, name, dtype, ndim, shape, NULL);
}

/* Encode-like bundles: 4 s of video (4 groups of 2x3 tokens, width 8) and audio (100, 4). */
static void
write_inputs(void)
{
    struct bundle *v = bundle_new(), *a = bundle_new();
    float *x = add(v, "tokens", SIEVE_DTYPE_F32, 3, (int64_t[]){4, 6, 8})->data;
    for (int i = 0; i < 4 * 6 * 8; i++)
        x[i] = (float)((i * 37) % 11) - 5.0f;
    int32_t *g = add(v, "grid", SIEVE_DTYPE_I32, 1, (int64_t[]){3})->data;
    g[0] = 4, g[1] = 2, g[2] = 3;
    float *imp = add(v, "importance", SIEVE_DTYPE_F32, 2, (int64_t[]){4, 6})->data;
    for (int i = 0; i < 24; i++)
        imp[i] = (float)(1 + i % 5);
    float *tm = add(v, "time", SIEVE_DTYPE_F32, 1, (int64_t[]){4})->data;
    for (int i = 0; i < 4; i++)
        tm[i] = (float)i;
    float *y = add(a, "tokens", SIEVE_DTYPE_F32, 2, (int64_t[]){100, 4})->data;
    for (int i = 0; i < 400; i++)
        y[i] = (float)((i * 13) % 7) - 3.0f;
    float *aimp = add(a, "importance", SIEVE_DTYPE_F32, 1, (int64_t[]){100})->data;
    float *at = add(a, "time", SIEVE_DTYPE_F32, 1, (int64_t[]){100})->data;
    for (int i = 0; i < 100; i++) {
        aimp[i] = (float)(1 + (i * 7) % 9);
        at[i] = (float)i * 0.04f;
    }
    write_bundle(v, "vis.safetensors");
    write_bundle(a, "aud.safetensors");
}

static int
apply(const char *args)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "cd '%s' && SIEVE_PLUGIN_PATH='%s' '%s' apply %s 2>apply.err", dir,
             SIEVE_BUILD_PLUGIN_DIR, SIEVE_BINARY, args);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static struct bundle *
read_out(const char *name)
{
    char path[256];
    struct bundle *b;
    struct sieve_errbuf err;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (bundle_read(path, &b, &err) < 0)
        fail_msg("read: %s", err.msg);
    return b;
}

static void
test_fuse_apply__fuse_then_evaluate(void **st)
{
    (void)st;
    write_inputs();
    assert_int_equal(apply("fuse-bidirectional --in visual=vis.safetensors --in "
                           "audio=aud.safetensors --set mode=joint-topk --set keep=0.5 "
                           "--out fused.safetensors"),
                     0);
    struct bundle *f = read_out("fused.safetensors");
    const struct sieve_tensor *tok = bundle_tensor_get(f, "tokens");
    const struct sieve_tensor *chunk = bundle_tensor_get(f, "chunk");
    assert_non_null(tok);
    /* Two chunks of 12 video + 50 audio, half kept each; audio projected to width 8. */
    assert_int_equal(tok->shape[0], 62);
    assert_int_equal(tok->shape[1], 8);
    assert_string_equal(bundle_meta_get(f, "n_chunks"), "2");
    const int32_t *c = chunk->data;
    for (int64_t i = 1; i < tok->shape[0]; i++)
        assert_true(c[i] >= c[i - 1]);
    bundle_free(f);

    assert_int_equal(apply("evaluate --in full_visual=vis.safetensors --in "
                           "full_audio=aud.safetensors --in kept=fused.safetensors --set "
                           "llm=qwen2.5-omni-3b --sample-id clip7 --category Sports --out "
                           "score.safetensors"),
                     0);
    struct bundle *s = read_out("score.safetensors");
    const char *rows = bundle_meta_get(s, "sieve.metrics");
    assert_non_null(rows);
    assert_non_null(strstr(rows, "\"metric\":\"tokens_out\",\"category\":\"Sports\",\"value\":62,"
                                 "\"sample\":\"clip7\""));
    assert_string_equal(bundle_meta_get(s, "llm"), "qwen2.5-omni-3b");
    bundle_free(s);

    /* A bad parameter is refused by the host before the plugin runs. */
    assert_int_equal(apply("fuse-bidirectional --in visual=vis.safetensors --in "
                           "audio=aud.safetensors --set mode=fancy --out x.safetensors"),
                     2);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fuse_apply__fuse_then_evaluate),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
