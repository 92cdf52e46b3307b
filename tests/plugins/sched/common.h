/*
 * common.h - what the scheduler's test plugins share: the execution log line.
 */
#ifndef SIEVE_TEST_SCHED_COMMON_H
#define SIEVE_TEST_SCHED_COMMON_H

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <sieve/plugin.h>

/* Appends "<task id> <pid>\n" to `path` (nothing when empty): one line per execution, written
 * with O_APPEND in one write so concurrent workers never interleave. */
static inline void
sched_test_log_exec(const char *path, const struct sieve_ctx *ctx)
{
    if (!path || !path[0])
        return;
    char line[512];
    int n = snprintf(line, sizeof line, "%s %d %s\n", ctx->task_id, (int)getpid(), ctx->device);
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
        if (write(fd, line, (size_t)n) < 0) {
            /* a test log that cannot be written shows up as a missing count */
        }
        close(fd);
    }
}

#endif
