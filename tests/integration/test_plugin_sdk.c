/*
 * test_plugin_sdk.c - the plugin author's path: install the tree, build example-topk out of
 * tree against the installed header found through `pkg-config sieve-plugin`, and load and
 * run the result with `sieve` through SIEVE_PLUGIN_PATH.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tests/support/cli_test.h"
#include "base/bundle.h"

static char dir[] = "/tmp/sieve-sdk-test-XXXXXX";

static int
sh(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    int status;

    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    status = system(cmd);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void
test_plugin_sdk__out_of_tree_plugin_builds_and_loads(void **state)
{
    struct cli_result r;
    char env[1024], args[1024], want[1024];

    (void)state;
    assert_non_null(mkdtemp(dir));
    assert_int_equal(sh("'%s' --install '%s' --prefix '%s/prefix' >/dev/null", SIEVE_CMAKE,
                        SIEVE_BUILD_DIR, dir),
                     0);
    /* Only the installed header may be found: no -I into the source tree. */
    assert_int_equal(sh("mkdir -p '%s/p' && export PKG_CONFIG_PATH='%s/prefix/share/pkgconfig' && "
                        "test \"$(pkg-config --variable=abi_major sieve-plugin)\" = %d && "
                        "test \"$(pkg-config --variable=abi_minor sieve-plugin)\" = %d && "
                        "'%s' -std=c11 -Wall -Wextra -Werror -O2 -shared -fPIC "
                        "$(pkg-config --cflags sieve-plugin) '%s/plugins/example-topk/topk.c' "
                        "-o '%s/p/sieve-example-topk.so' -lm",
                        dir, dir, SIEVE_ABI_MAJOR, SIEVE_ABI_MINOR, SIEVE_CC, SIEVE_SOURCE_DIR,
                        dir),
                     0);

    /* SIEVE_PLUGIN_PATH comes first, so the out-of-tree build shadows build/plugins. */
    snprintf(env, sizeof env, "SIEVE_PLUGIN_PATH='%s/p'", dir);
    assert_int_equal(cli_run(&r, env, "plugins example-topk"), 0);
    assert_int_equal(r.status, 0);
    snprintf(want, sizeof want, "file:  %s/p/sieve-example-topk.so\n", dir);
    assert_non_null(strstr(r.out, want));
    cli_result_release(&r);

    /* Norms 1, 3, 2, 4: keep=0.5 keeps rows 1 and 3. */
    {
        static const float x[4][2] = {{1, 0}, {0, 3}, {2, 0}, {0, 4}};
        const int64_t shape[2] = {4, 2};
        const int32_t kept[2] = {1, 3};
        struct bundle *b = bundle_new();
        struct sieve_tensor *t;
        struct sieve_errbuf err;

        snprintf(args, sizeof args, "%s/in.safetensors", dir);
        assert_int_equal(bundle_tensor_new(b, "tokens", SIEVE_DTYPE_F32, 2, shape, &t, &err), 0);
        memcpy(t->data, x, sizeof x);
        assert_int_equal(bundle_write(b, args, &err), 0);
        bundle_free(b);
        snprintf(args, sizeof args,
                 "apply example-topk --in '%s/in.safetensors' --out '%s/out.safetensors'", dir,
                 dir);
        assert_int_equal(cli_run(&r, env, args), 0);
        assert_int_equal(r.status, 0);
        cli_result_release(&r);
        snprintf(args, sizeof args, "%s/out.safetensors", dir);
        assert_int_equal(bundle_read(args, &b, &err), 0);
        assert_memory_equal(bundle_tensor_get(b, "index")->data, kept, sizeof kept);
        bundle_free(b);
    }

    assert_int_equal(sh("rm -rf '%s'", dir), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plugin_sdk__out_of_tree_plugin_builds_and_loads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
