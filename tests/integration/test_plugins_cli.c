/*
 * test_plugins_cli.c - `sieve plugins` as a user runs it: the listing finds example-topk and
 * the good test plugins, every rejected file is one warning line on stderr and the command
 * still succeeds, and `sieve plugins NAME` shows ports and parameters (text and JSON),
 * marking a SIEVE_PARAM_NO_KEY parameter as not in the task key.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "tests/support/cli_test.h"

#define TEST_PATH "SIEVE_PLUGIN_PATH='" SIEVE_TEST_PLUGIN_DIR "'"
#define PIPELINE_PATH "SIEVE_PLUGIN_PATH='" SIEVE_PIPELINE_PLUGIN_DIR "'"
#define N_BAD 9 /* rejected files in build/test-plugins (see tests/plugins/loader) */

static void
test_plugins_cli__lists_plugins_and_warns_once_per_bad_file(void **state)
{
    struct cli_result r;
    const char *line;

    (void)state;
    assert_int_equal(cli_run(&r, TEST_PATH, "plugins"), 0);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "example-topk"));
    assert_non_null(strstr(r.out, "keeps the k tokens of largest L2 norm"));
    assert_non_null(strstr(r.out, "\ngood "));
    assert_null(strstr(r.out, "wrong-major"));
    assert_int_equal(cli_lines(r.err), N_BAD);
    for (line = r.err; *line; line = strchr(line, '\n') + 1)
        assert_int_equal(strncmp(line, "sieve plugins: warning: plugin '/", 33), 0);
    assert_non_null(strstr(r.err, "wrong-major.so': ABI major 2, host supports 1\n"));
    assert_non_null(strstr(r.err, "crash-init.so': crashed while loading"));
    cli_result_release(&r);
}

static void
test_plugins_cli__json_listing(void **state)
{
    struct cli_result r;
    json_t *root, *plugins, *p;
    json_error_t jerr;
    size_t i;
    int found = 0;

    (void)state;
    assert_int_equal(cli_run(&r, TEST_PATH, "plugins --json"), 0);
    assert_int_equal(r.status, 0);
    root = json_loads(r.out, 0, &jerr);
    assert_non_null(root);
    plugins = json_object_get(root, "plugins");
    json_array_foreach(plugins, i, p)
    {
        if (!strcmp(json_string_value(json_object_get(p, "name")), "example-topk")) {
            found = 1;
            assert_string_equal(json_string_value(json_object_get(p, "version")), "1.0.0");
        }
    }
    assert_true(found);
    assert_int_equal(json_array_size(json_object_get(root, "problems")), N_BAD);
    json_decref(root);
    cli_result_release(&r);
}

static void
test_plugins_cli__shows_ports_and_parameters(void **state)
{
    struct cli_result r;

    (void)state;
    assert_int_equal(cli_run(&r, "", "plugins example-topk"), 0);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.err, "");
    assert_non_null(strstr(r.out, "example-topk 1.0.0"));
    assert_non_null(strstr(r.out, "inputs:\n  tokens "));
    assert_non_null(strstr(r.out, "outputs:\n  out "));
    assert_non_null(strstr(r.out, "keep             float, default 0.5, range [0, 1]\n"));
    assert_non_null(strstr(r.out, "tensor           string, default tokens\n"));
    assert_non_null(strstr(r.out, "fraction of tokens to keep"));
    cli_result_release(&r);

    assert_int_equal(cli_run(&r, TEST_PATH, "plugins good"), 0);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "in               any bundle (optional)"));
    assert_non_null(strstr(r.out, "mode             enum, default copy, one of copy|tag"));
    assert_non_null(strstr(r.out, "sizes            list of int, default [1, 2], range [1, inf)"));
    cli_result_release(&r);
}

static void
test_plugins_cli__json_detail(void **state)
{
    struct cli_result r;
    json_t *root, *keep;
    json_error_t jerr;

    (void)state;
    assert_int_equal(cli_run(&r, "", "plugins example-topk --json"), 0);
    assert_int_equal(r.status, 0);
    root = json_loads(r.out, 0, &jerr);
    assert_non_null(root);
    keep = json_array_get(json_object_get(root, "parameters"), 0);
    assert_string_equal(json_string_value(json_object_get(keep, "name")), "keep");
    assert_string_equal(json_string_value(json_object_get(keep, "type")), "float");
    assert_string_equal(json_string_value(json_object_get(keep, "default")), "0.5");
    assert_true(json_real_value(json_object_get(keep, "max")) == 1.0);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(root, "inputs"), 0), "name")),
                        "tokens");
    json_decref(root);
    cli_result_release(&r);
}

static void
test_plugins_cli__marks_parameters_left_out_of_the_key(void **state)
{
    struct cli_result r;
    json_t *root, *params, *o;
    json_error_t jerr;
    size_t i;
    int seen = 0;

    (void)state;
    assert_int_equal(cli_run(&r, PIPELINE_PATH, "plugins tp-prune"), 0);
    assert_int_equal(r.status, 0);
    assert_non_null(
        strstr(r.out, "threads          int, default 1, range [1, 64], not in task key\n"));
    assert_non_null(strstr(r.out, "keep             float, default 0.5, range [0, 1]\n"));
    /* only the flagged row says so */
    assert_null(strstr(strstr(r.out, "not in task key") + 1, "not in task key"));
    cli_result_release(&r);

    assert_int_equal(cli_run(&r, PIPELINE_PATH, "plugins tp-prune --json"), 0);
    assert_int_equal(r.status, 0);
    root = json_loads(r.out, 0, &jerr);
    assert_non_null(root);
    params = json_object_get(root, "parameters");
    json_array_foreach(params, i, o)
    {
        int hint = !strcmp(json_string_value(json_object_get(o, "name")), "threads");
        assert_true(json_is_boolean(json_object_get(o, "in_key")));
        assert_int_equal(json_is_true(json_object_get(o, "in_key")), !hint);
        seen += hint;
    }
    assert_int_equal(seen, 1);
    json_decref(root);
    cli_result_release(&r);
}

static void
test_plugins_cli__unknown_and_rejected_names(void **state)
{
    struct cli_result r;

    (void)state;
    assert_int_equal(cli_run(&r, "", "plugins example-topx"), 0);
    assert_int_equal(r.status, 3);
    assert_string_equal(r.err, "sieve plugins: unknown plugin 'example-topx' (did you mean "
                               "'example-topk'?)\n");
    cli_result_release(&r);

    assert_int_equal(cli_run(&r, TEST_PATH, "plugins wrong-major"), 0);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "wrong-major.so': ABI major 2, host supports 1"));
    assert_int_equal(cli_lines(r.err), 1);
    cli_result_release(&r);

    assert_int_equal(cli_run(&r, "", "plugins a b"), 0);
    assert_int_equal(r.status, 2);
    cli_result_release(&r);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plugins_cli__lists_plugins_and_warns_once_per_bad_file),
        cmocka_unit_test(test_plugins_cli__json_listing),
        cmocka_unit_test(test_plugins_cli__shows_ports_and_parameters),
        cmocka_unit_test(test_plugins_cli__json_detail),
        cmocka_unit_test(test_plugins_cli__marks_parameters_left_out_of_the_key),
        cmocka_unit_test(test_plugins_cli__unknown_and_rejected_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
