/*
 * test_host.c - the plugin loader: every failure mode gives its one-line message naming the
 * file, a registry scan keeps going past all of them (crashes and hangs included), and the
 * search path's first-wins rule holds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/host/host.h"

#define DIR SIEVE_TEST_PLUGIN_DIR

/* Finds the problem line that mentions `file` (a base name). */
static const char *
problem_for(const struct host_registry *reg, const char *file)
{
    char needle[300];

    snprintf(needle, sizeof needle, "/%s'", file);
    for (size_t i = 0; i < host_registry_problem_count(reg); i++)
        if (strstr(host_registry_problem_at(reg, i), needle))
            return host_registry_problem_at(reg, i);
    return NULL;
}

static void
expect_open_fails(const char *file, int code, const char *reason)
{
    char path[512], want[1024];
    struct host_plugin *p = (struct host_plugin *)1;
    struct sieve_errbuf err = {{0}};

    snprintf(path, sizeof path, "%s/%s", DIR, file);
    assert_int_equal(host_plugin_open(path, &p, &err), code);
    assert_null(p);
    snprintf(want, sizeof want, "plugin '%s': %s", path, reason);
    assert_string_equal(err.msg, want);
    assert_null(strchr(err.msg, '\n'));
}

static void
test_host__open_good_plugin(void **state)
{
    struct host_plugin *p;
    struct sieve_errbuf err = {{0}};

    (void)state;
    assert_int_equal(host_plugin_open(DIR "/good.so", &p, &err), 0);
    assert_string_equal(p->name, "good");
    assert_string_equal(p->desc->version, "1.0.0");
    assert_true(p->path[0] == '/');
    assert_int_equal(host_plugin_input_index(p, "in"), 0);
    assert_int_equal(host_plugin_output_index(p, "out"), 0);
    assert_int_equal(host_plugin_input_index(p, "out"), -1);
    assert_int_equal(host_plugin_param_index(p, "ratio"), 2);
    assert_int_equal(host_plugin_param_index(p, "nope"), -1);
    host_plugin_free(p);
    host_plugin_free(NULL);
}

static void
test_host__rejects_wrong_major(void **state)
{
    (void)state;
    expect_open_fails("wrong-major.so", SIEVE_EABI, "ABI major 2, host supports 1");
}

static void
test_host__rejects_newer_minor(void **state)
{
    (void)state;
    expect_open_fails("newer-minor.so", SIEVE_EABI, "built for ABI 1.5, host supports up to 1.2");
}

/* A plugin built against ABI 1.1 has a shorter descriptor: it loads, and the fields it lacks
 * read as NULL (no row fields). */
static void
test_host__loads_an_older_minor_with_a_shorter_descriptor(void **state)
{
    struct host_plugin *p;
    struct sieve_errbuf err = {{0}};

    (void)state;
    assert_int_equal(host_plugin_open(DIR "/abi-1-1.so", &p, &err), 0);
    assert_int_equal(p->desc->abi_minor, 1);
    assert_int_equal(p->desc->struct_size, SIEVE_PLUGIN_SIZE_1_0);
    assert_null(p->desc->row_fields);
    assert_non_null(p->desc->process);
    host_plugin_free(p);
}

static void
test_host__rejects_missing_entry(void **state)
{
    (void)state;
    expect_open_fails("no-entry.so", SIEVE_EABI, "no entry symbol 'sieve_plugin_entry'");
}

static void
test_host__rejects_name_mismatch(void **state)
{
    (void)state;
    expect_open_fails("name-mismatch.so", SIEVE_EABI,
                      "name 'something-else' does not match the file name (expected "
                      "'name-mismatch')");
}

static void
test_host__rejects_bad_parameter_tables(void **state)
{
    (void)state;
    expect_open_fails("bad-params-dup.so", SIEVE_EABI, "duplicate parameter 'keep'");
    expect_open_fails("bad-params-enum.so", SIEVE_EABI, "parameter 'mode': enum without choices");
    expect_open_fails("bad-params-default.so", SIEVE_EABI,
                      "parameter 'level': invalid default '12': 12 is above the maximum 9");
}

static void
test_host__missing_file_is_not_found(void **state)
{
    struct host_plugin *p;
    struct sieve_errbuf err = {{0}};

    (void)state;
    assert_int_equal(host_plugin_open(DIR "/absent.so", &p, &err), SIEVE_ENOENT);
    assert_non_null(strstr(err.msg, "absent.so"));
}

static void
test_host__scan_keeps_going_past_every_failure(void **state)
{
    struct host_registry *reg;
    struct sieve_errbuf err = {{0}};
    static const struct {
        const char *file, *reason;
    } want[] = {
        {"wrong-major.so", "ABI major 2, host supports 1"},
        {"newer-minor.so", "built for ABI 1.5, host supports up to 1.2"},
        {"no-entry.so", "no entry symbol 'sieve_plugin_entry'"},
        {"name-mismatch.so", "does not match the file name"},
        {"bad-params-dup.so", "duplicate parameter 'keep'"},
        {"bad-params-enum.so", "enum without choices"},
        {"bad-params-default.so", "is above the maximum 9"},
        {"crash-init.so", "crashed while loading"},
        {"crash-entry.so", "crashed while loading"},
    };

    (void)state;
    assert_int_equal(host_registry_scan(DIR, &reg, &err), 0);
    /* The process is still here after two plugins crashed while loading. */
    assert_non_null(host_registry_find(reg, "good"));
    assert_non_null(host_registry_find(reg, "slow"));
    assert_non_null(host_registry_find(reg, "fail"));
    assert_non_null(host_registry_find(reg, "crash-process"));
    assert_non_null(host_registry_find(reg, "abi-1-1"));
    assert_int_equal(host_registry_count(reg), 5);
    assert_null(host_registry_find(reg, "wrong-major"));
    assert_int_equal(host_registry_problem_count(reg), sizeof want / sizeof want[0]);
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const char *line = problem_for(reg, want[i].file);
        assert_non_null(line);
        assert_true(!strncmp(line, "plugin '/", 9));
        assert_non_null(strstr(line, want[i].reason));
        assert_null(strchr(line, '\n'));
    }
    /* Sorted directory order makes the listing reproducible. */
    assert_string_equal(host_registry_at(reg, 0)->name, "abi-1-1");
    assert_null(host_registry_at(reg, 99));
    host_registry_free(reg);
}

static void
test_host__crash_reports_the_signal(void **state)
{
    struct host_registry *reg;
    struct sieve_errbuf err = {{0}};
    const char *line;

    (void)state;
    assert_int_equal(host_registry_scan(DIR "/crash-init.so", &reg, &err), 0);
    assert_int_equal(host_registry_count(reg), 0);
    assert_int_equal(host_registry_problem_count(reg), 1);
    line = host_registry_problem_at(reg, 0);
    /*
     * Under AddressSanitizer the child reports the fault itself and then exits (status 1) or
     * aborts (signal 6, with abort_on_error=1) instead of dying of the SIGSEGV.
     */
    assert_true(strstr(line, "crashed while loading (signal 11)") ||
                strstr(line, "crashed while loading (signal 6)") ||
                strstr(line, "crashed while loading (exit status 1)"));
    host_registry_free(reg);
}

static void
test_host__hang_while_loading_times_out(void **state)
{
    struct host_registry *reg;
    struct sieve_errbuf err = {{0}};

    (void)state;
    setenv("SIEVE_PLUGIN_LOAD_TIMEOUT_MS", "300", 1);
    assert_int_equal(host_registry_scan(DIR "/hang:" DIR "/good.so", &reg, &err), 0);
    unsetenv("SIEVE_PLUGIN_LOAD_TIMEOUT_MS");
    assert_int_equal(host_registry_count(reg), 1);
    assert_int_equal(host_registry_problem_count(reg), 1);
    assert_non_null(strstr(host_registry_problem_at(reg, 0), "hang-load.so': did not finish "
                                                             "loading within 300 ms"));
    host_registry_free(reg);
}

/* A scan killed while a plugin hangs in its constructor leaves no loader check behind that
 * holds its stdout: whoever reads that stdout (a pipe to `less`) sees the end. */
static void
test_host__killed_scan_leaves_no_loader_holding_stdout(void **state)
{
    int fds[2];
    (void)state;
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    if (pid == 0) {
        struct host_registry *reg;
        struct sieve_errbuf err;
        dup2(fds[1], STDOUT_FILENO);
        close(fds[0]);
        close(fds[1]);
        setenv("SIEVE_PLUGIN_LOAD_TIMEOUT_MS", "60000", 1);
        host_registry_scan(DIR "/hang", &reg, &err);
        _exit(0);
    }
    close(fds[1]);
    usleep(300000); /* the check is waiting on the hanging constructor */
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    struct pollfd pfd = {.fd = fds[0], .events = POLLIN};
    char c;
    assert_int_equal(poll(&pfd, 1, 3000), 1);
    assert_int_equal(read(fds[0], &c, 1), 0); /* end of file: nobody holds it */
    close(fds[0]);
}

static void
test_host__first_plugin_of_a_name_wins(void **state)
{
    char tmpl[] = "/tmp/sieve-host-XXXXXX", copy[300], path[700], cmd[900];
    struct host_registry *reg;
    struct sieve_errbuf err = {{0}};
    const struct host_plugin *p;

    (void)state;
    assert_non_null(mkdtemp(tmpl));
    snprintf(copy, sizeof copy, "%s/sieve-good.so", tmpl);
    snprintf(cmd, sizeof cmd, "cp '%s/good.so' '%s'", DIR, copy);
    assert_int_equal(system(cmd), 0);

    snprintf(path, sizeof path, "%s:%s", tmpl, DIR);
    assert_int_equal(host_registry_scan(path, &reg, &err), 0);
    p = host_registry_find(reg, "good");
    assert_non_null(p);
    assert_non_null(strstr(p->path, tmpl));
    assert_non_null(host_registry_find(reg, "abi-1-1"));
    assert_int_equal(host_registry_count(reg), 5);
    host_registry_free(reg);

    /* SIEVE_PLUGIN_PATH comes first in the default search path. */
    setenv("SIEVE_PLUGIN_PATH", tmpl, 1);
    assert_int_equal(host_registry_scan(NULL, &reg, &err), 0);
    p = host_registry_find(reg, "good");
    assert_non_null(p);
    assert_non_null(strstr(p->path, tmpl));
    host_registry_free(reg);
    unsetenv("SIEVE_PLUGIN_PATH");

    unlink(copy);
    rmdir(tmpl);
}

static void
test_host__missing_directory_is_a_problem(void **state)
{
    struct host_registry *reg;
    struct sieve_errbuf err = {{0}};

    (void)state;
    assert_int_equal(host_registry_scan("/nonexistent/sieve-plugins", &reg, &err), 0);
    assert_int_equal(host_registry_count(reg), 0);
    assert_int_equal(host_registry_problem_count(reg), 1);
    assert_string_equal(host_registry_problem_at(reg, 0),
                        "plugin directory '/nonexistent/sieve-plugins': No such file or directory");
    host_registry_free(reg);
}

static void
test_host__suggests_close_names(void **state)
{
    struct host_registry *reg;
    struct sieve_errbuf err = {{0}};

    (void)state;
    assert_int_equal(host_registry_scan(DIR "/good.so:" DIR "/slow.so", &reg, &err), 0);
    assert_string_equal(host_registry_suggest(reg, "god"), "good");
    assert_string_equal(host_registry_suggest(reg, "slwo"), "slow");
    assert_null(host_registry_suggest(reg, "example-topk"));
    host_registry_free(reg);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_host__open_good_plugin),
        cmocka_unit_test(test_host__rejects_wrong_major),
        cmocka_unit_test(test_host__rejects_newer_minor),
        cmocka_unit_test(test_host__loads_an_older_minor_with_a_shorter_descriptor),
        cmocka_unit_test(test_host__rejects_missing_entry),
        cmocka_unit_test(test_host__rejects_name_mismatch),
        cmocka_unit_test(test_host__rejects_bad_parameter_tables),
        cmocka_unit_test(test_host__missing_file_is_not_found),
        cmocka_unit_test(test_host__scan_keeps_going_past_every_failure),
        cmocka_unit_test(test_host__crash_reports_the_signal),
        cmocka_unit_test(test_host__hang_while_loading_times_out),
        cmocka_unit_test(test_host__killed_scan_leaves_no_loader_holding_stdout),
        cmocka_unit_test(test_host__first_plugin_of_a_name_wins),
        cmocka_unit_test(test_host__missing_directory_is_a_problem),
        cmocka_unit_test(test_host__suggests_close_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
