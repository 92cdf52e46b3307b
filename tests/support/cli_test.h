/*
 * cli_test.h - helpers for the cmocka tests that drive the built `sieve` binary: run it and
 * capture its exit status, stdout and stderr separately; a scratch directory per test
 * executable; and writing bundle files for it to read. Header-only, so that every test
 * executable can use it without build changes.
 *
 * Usage:
 *     static char dir[] = "/tmp/sieve-x-XXXXXX";          setup: test_dir_make(dir)
 *     struct bundle *b = bundle_new();
 *     test_tensor_add(b, "tokens", SIEVE_DTYPE_F32, 2, shape, data);
 *     test_bundle_write(b, test_path(dir, "in.safetensors"));
 *     cli_run(&r, "", "apply example-topk ...");         teardown: test_dir_remove(dir)
 */
#ifndef SIEVE_TEST_CLI_TEST_H
#define SIEVE_TEST_CLI_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/bundle.h"

struct cli_result {
    int status; /* exit status, or 128 + signal */
    char *out, *err;
};

static inline char *
cli_slurp(FILE *f)
{
    size_t cap = 1 << 16, n = 0, r;
    char *buf = malloc(cap);

    while (buf && (r = fread(buf + n, 1, cap - 1 - n, f)) > 0) {
        n += r;
        if (n == cap - 1) {
            char *nb = realloc(buf, cap *= 2);
            if (!nb)
                break;
            buf = nb;
        }
    }
    if (buf)
        buf[n] = '\0';
    return buf;
}

/*
 * Runs `env sieve ARGS` through the shell (`env` is a prefix like "SIEVE_PLUGIN_PATH=x", may
 * be ""). Returns 0 when the command could be run at all.
 */
static inline int
cli_run(struct cli_result *r, const char *env, const char *args)
{
    char errfile[] = "/tmp/sieve-cli-err-XXXXXX", cmd[4096];
    FILE *p, *e;
    int fd, status;

    memset(r, 0, sizeof *r);
    if ((fd = mkstemp(errfile)) < 0)
        return -1;
    close(fd);
    snprintf(cmd, sizeof cmd, "%s '%s' %s 2>'%s'", env, SIEVE_BINARY, args, errfile);
    if (!(p = popen(cmd, "r")))
        return -1;
    r->out = cli_slurp(p);
    status = pclose(p);
    r->status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if ((e = fopen(errfile, "r"))) {
        r->err = cli_slurp(e);
        fclose(e);
    }
    unlink(errfile);
    return 0;
}

static inline void
cli_result_release(struct cli_result *r)
{
    free(r->out);
    free(r->err);
}

/* Number of lines in s. */
static inline size_t
cli_lines(const char *s)
{
    size_t n = 0;
    for (; s && *s; s++)
        n += *s == '\n';
    return n;
}

/* Makes the scratch directory from the template `tmpl` (ending in XXXXXX) in place. */
static inline int
test_dir_make(char *tmpl)
{
    return mkdtemp(tmpl) ? 0 : -1;
}

/* Removes the scratch directory and everything in it. Returns: 0, or -1. */
static inline int
test_dir_remove(const char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* 1 when the files `a` and `b` both open and hold the same bytes. */
static inline int
test_same_file(const char *a, const char *b)
{
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    int same = fa && fb;
    while (same) {
        int ca = getc(fa), cb = getc(fb);
        same = ca == cb;
        if (ca == EOF || cb == EOF)
            break;
    }
    if (fa)
        fclose(fa);
    if (fb)
        fclose(fb);
    return same;
}

/* `dir/name`. The result lives until 16 more calls; copy it to keep it. */
static inline const char *
test_path(const char *dir, const char *name)
{
    static char buf[16][512];
    static int next;
    char *p = buf[next++ % 16];
    snprintf(p, 512, "%s/%s", dir, name);
    return p;
}

/* Adds a tensor to b holding a copy of `data` (NULL leaves it zero); fails the test on error. */
static inline struct sieve_tensor *
test_tensor_add(struct bundle *b, const char *name, int32_t dtype, uint32_t ndim,
                const int64_t *shape, const void *data)
{
    struct sieve_tensor *t;
    struct sieve_errbuf err;
    if (bundle_tensor_new(b, name, dtype, ndim, shape, &t, &err) < 0)
        fail_msg("tensor '%s': %s", name, err.msg);
    if (data)
        memcpy(t->data, data, t->nbytes);
    return t;
}

/* Writes b to `path` and frees it; fails the test on error. */
static inline void
test_bundle_write(struct bundle *b, const char *path)
{
    struct sieve_errbuf err;
    if (bundle_write(b, path, &err) < 0)
        fail_msg("write '%s': %s", path, err.msg);
    bundle_free(b);
}

#endif
