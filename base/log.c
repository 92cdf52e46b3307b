/*
 * log.c - leveled lines on stderr, threshold from SIEVE_LOG.
 */
#include "base/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

/* -1 until the environment has been read; a race only reads it twice. */
static int threshold = -1;

int
log_level_parse(const char *name)
{
    if (!name)
        return -1;
    if (!strcasecmp(name, "debug"))
        return SIEVE_LOG_DEBUG;
    if (!strcasecmp(name, "info"))
        return SIEVE_LOG_INFO;
    if (!strcasecmp(name, "warn") || !strcasecmp(name, "warning"))
        return SIEVE_LOG_WARN;
    if (!strcasecmp(name, "error"))
        return SIEVE_LOG_ERROR;
    return -1;
}

const char *
log_level_name(int level)
{
    switch (level) {
    case SIEVE_LOG_DEBUG:
        return "debug";
    case SIEVE_LOG_INFO:
        return "info";
    case SIEVE_LOG_WARN:
        return "warn";
    case SIEVE_LOG_ERROR:
        return "error";
    default:
        return "?";
    }
}

int
log_level_get(void)
{
    if (threshold < 0) {
        int l = log_level_parse(getenv("SIEVE_LOG"));
        threshold = l < 0 ? SIEVE_LOG_INFO : l;
    }
    return threshold;
}

void
log_level_set(int level)
{
    threshold = level < SIEVE_LOG_DEBUG ? SIEVE_LOG_DEBUG : level;
}

void
log_vwrite(int level, const char *fmt, va_list ap)
{
    char line[2048];

    if (level < log_level_get())
        return;
    vsnprintf(line, sizeof line, fmt, ap);
    /* One fprintf per line keeps lines from concurrent threads whole. */
    fprintf(stderr, "sieve: %s: %s\n", log_level_name(level), line);
}

void
log_write(int level, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    log_vwrite(level, fmt, ap);
    va_end(ap);
}
