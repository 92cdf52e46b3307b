/*
 * test_log.c - the logger: level names, the threshold, and the line format on stderr.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/log.h"

static void
test_log__levels_parse_and_name(void **state)
{
    (void)state;
    for (int l = SIEVE_LOG_DEBUG; l <= SIEVE_LOG_ERROR; l++)
        assert_int_equal(log_level_parse(log_level_name(l)), l);
    assert_int_equal(log_level_parse("WARNING"), SIEVE_LOG_WARN);
    assert_int_equal(log_level_parse("loud"), -1);
    assert_int_equal(log_level_parse(NULL), -1);
}

/* Runs log calls with stderr redirected to a file and returns what was written. */
static char *
captured(int threshold)
{
    char path[] = "/tmp/sieve-test-log-XXXXXX";
    int fd = mkstemp(path), saved = dup(2);
    static char out[1024];
    FILE *f;
    size_t n;

    assert_true(fd >= 0 && saved >= 0);
    fflush(stderr);
    dup2(fd, 2);
    log_level_set(threshold);
    log_debug("debug %d", 1);
    log_info("info %s", "two");
    log_warn("warn");
    log_error("error '%s'", "x");
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    close(fd);
    f = fopen(path, "r");
    n = fread(out, 1, sizeof out - 1, f);
    out[n] = '\0';
    fclose(f);
    unlink(path);
    return out;
}

static void
test_log__threshold_drops_lower_levels(void **state)
{
    (void)state;
    assert_string_equal(captured(SIEVE_LOG_WARN), "sieve: warn: warn\nsieve: error: error 'x'\n");
    assert_string_equal(captured(SIEVE_LOG_DEBUG),
                        "sieve: debug: debug 1\nsieve: info: info two\nsieve: warn: warn\n"
                        "sieve: error: error 'x'\n");
    assert_int_equal(log_level_get(), SIEVE_LOG_DEBUG);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_log__levels_parse_and_name),
        cmocka_unit_test(test_log__threshold_drops_lower_levels),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
