/*
 * test_plugin_sdk.c - the plugin author's path: install the tree, build example-topk out of
 * tree against the installed kit, both through `pkg-config sieve-plugin` and through CMake's
 * `find_package(SievePlugin)`, and load and run the result with `sieve` through
 * SIEVE_PLUGIN_PATH: alone (`sieve apply`) and as a node of a pipeline, fed by a Python node.
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
#include "store_objects.h"

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

/* Counts objects whose `index` tensor is I32 [1, 3]; stops at one holding another. */
static int
index_is_1_3(const char *path, const struct bundle *b, void *arg)
{
    const struct sieve_tensor *t = bundle_tensor_get(b, "index");
    if (!t)
        return 0;
    const int32_t *v = t->data;
    if (t->dtype != SIEVE_DTYPE_I32 || sieve_tensor_numel(t) != 2 || v[0] != 1 || v[1] != 3) {
        fprintf(stderr, "object %s keeps other rows\n", path);
        return -1;
    }
    ++*(int *)arg;
    return 0;
}

/* Objects of dir/ws's store whose `index` tensor is [1, 3]; -1 when one holds another. */
static int
kept_index_objects(void)
{
    char store[1024];
    int n = 0;
    snprintf(store, sizeof store, "%s/ws/.sieve", dir);
    return store_objects_each(store, index_is_1_3, &n) < 0 ? -1 : n;
}

/*
 * Runs src (sched-source) -> tok (a Python node making 4 tokens of norms 1, 3, 2, 4) -> k
 * (example-topk, keep 0.5) over two samples with the plugin directory `plugins` first on the
 * search path, and checks that every kept index is [1, 3].
 */
static void
run_topk_pipeline(const char *plugins)
{
    char path[1024];
    FILE *f;

    assert_int_equal(sh("rm -rf '%s/ws' && mkdir -p '%s/ws' && printf abc > '%s/ws/a.bin' && "
                        "printf abcdef > '%s/ws/b.bin'",
                        dir, dir, dir, dir),
                     0);
    snprintf(path, sizeof path, "%s/ws/clips.jsonl", dir);
    f = fopen(path, "w");
    fputs("{\"id\": \"a\", \"media\": \"a.bin\"}\n{\"id\": \"b\", \"media\": \"b.bin\"}\n", f);
    fclose(f);
    snprintf(path, sizeof path, "%s/ws/p.yaml", dir);
    f = fopen(path, "w");
    fprintf(f,
            "name: sdk\n"
            "dataset: { manifest: clips.jsonl }\n"
            "nodes:\n"
            "  src: { plugin: sched-source }\n"
            "  tok: { plugin: python, in: { x: src }, with: { script: '%s/python/tokens_node.py',"
            " python: /usr/bin/python3 } }\n"
            "  k: { plugin: example-topk, in: { tokens: tok }, with: { keep: 0.5 } }\n",
            SIEVE_FIXTURES);
    fclose(f);
    assert_int_equal(sh("cd '%s/ws' && SIEVE_PLUGIN_PATH='%s:%s/test-plugins-sched' "
                        "SIEVE_STORE='%s/ws/.sieve' '%s' run p.yaml --devices cpu:1 >out.txt 2>&1",
                        dir, plugins, SIEVE_BUILD_DIR, dir, SIEVE_BINARY),
                     0);
    /* The out-of-tree build is the one that ran: the first file of a name wins. */
    assert_int_equal(sh("cd '%s/ws' && SIEVE_PLUGIN_PATH='%s' '%s' plugins example-topk | "
                        "grep -q 'file:  %s/'",
                        dir, plugins, SIEVE_BINARY, plugins),
                     0);
    /* Two kept-index artifacts, each [1, 3]. */
    assert_int_equal(kept_index_objects(), 2);
}

static void
test_plugin_sdk__cmake_package_builds_a_plugin_that_runs_in_a_pipeline(void **state)
{
    char path[1024];
    FILE *f;

    (void)state;
    snprintf(dir, sizeof dir, "/tmp/sieve-sdk-test-XXXXXX");
    assert_non_null(mkdtemp(dir));
    assert_int_equal(sh("'%s' --install '%s' --prefix '%s/prefix' >/dev/null", SIEVE_CMAKE,
                        SIEVE_BUILD_DIR, dir),
                     0);
    assert_int_equal(sh("mkdir -p '%s/cm'", dir), 0);
    snprintf(path, sizeof path, "%s/cm/CMakeLists.txt", dir);
    f = fopen(path, "w");
    fprintf(f,
            "cmake_minimum_required(VERSION 3.18)\n"
            "project(topk C)\n"
            "find_package(SievePlugin %d.%d REQUIRED)\n"
            "message(STATUS \"plugin dir: ${SIEVE_PLUGIN_DIR}\")\n"
            "message(STATUS \"abi: ${SIEVE_ABI_MAJOR}.${SIEVE_ABI_MINOR}\")\n"
            "add_library(example-topk MODULE %s/plugins/example-topk/topk.c)\n"
            "target_compile_options(example-topk PRIVATE -Wall -Wextra -Werror)\n"
            "target_link_libraries(example-topk PRIVATE Sieve::plugin m)\n"
            "sieve_plugin_properties(example-topk)\n"
            "install(TARGETS example-topk LIBRARY DESTINATION ${SIEVE_PLUGIN_DIR})\n",
            SIEVE_ABI_MAJOR, SIEVE_ABI_MINOR, SIEVE_SOURCE_DIR);
    fclose(f);
    /* Only the installed kit may be found: CMAKE_PREFIX_PATH names the prefix, nothing else. */
    assert_int_equal(sh("cd '%s/cm' && '%s' -S . -B b -DCMAKE_PREFIX_PATH='%s/prefix' > cfg.txt && "
                        "grep -q 'plugin dir: %s/prefix/lib/sieve/plugins' cfg.txt && "
                        "grep -q 'abi: %d.%d' cfg.txt && '%s' --build b >/dev/null",
                        dir, SIEVE_CMAKE, dir, dir, SIEVE_ABI_MAJOR, SIEVE_ABI_MINOR,
                        SIEVE_CMAKE),
                     0);
    /* A newer ABI than the kit's is refused at configure time. */
    assert_int_not_equal(sh("cd '%s/cm' && sed -i 's/SievePlugin %d.%d/SievePlugin %d.%d/' "
                            "CMakeLists.txt && '%s' -S . -B b2 -DCMAKE_PREFIX_PATH='%s/prefix' "
                            ">/dev/null 2>&1",
                            dir, SIEVE_ABI_MAJOR, SIEVE_ABI_MINOR, SIEVE_ABI_MAJOR,
                            SIEVE_ABI_MINOR + 1, SIEVE_CMAKE, dir),
                         0);
    snprintf(path, sizeof path, "%s/cm/b", dir);
    run_topk_pipeline(path);

    /* The pkg-config build runs in the same pipeline. */
    assert_int_equal(sh("mkdir -p '%s/p' && export PKG_CONFIG_PATH='%s/prefix/share/pkgconfig' && "
                        "'%s' -std=c11 -Wall -Wextra -Werror -O2 -shared -fPIC "
                        "$(pkg-config --cflags sieve-plugin) '%s/plugins/example-topk/topk.c' "
                        "-o '%s/p/sieve-example-topk.so' -lm",
                        dir, dir, SIEVE_CC, SIEVE_SOURCE_DIR, dir),
                     0);
    snprintf(path, sizeof path, "%s/p", dir);
    run_topk_pipeline(path);
    assert_int_equal(sh("rm -rf '%s'", dir), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plugin_sdk__out_of_tree_plugin_builds_and_loads),
        cmocka_unit_test(test_plugin_sdk__cmake_package_builds_a_plugin_that_runs_in_a_pipeline),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
