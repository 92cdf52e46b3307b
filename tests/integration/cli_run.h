/*
 * cli_run.h - runs the built `sieve` binary for the integration tests and captures its exit
 * status, stdout and stderr separately.
 */
#ifndef SIEVE_TEST_CLI_RUN_H
#define SIEVE_TEST_CLI_RUN_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

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

#endif
