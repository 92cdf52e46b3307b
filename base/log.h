/*
 * log.h - a tiny leveled logger that writes one line per message to stderr.
 *
 * Every room logs through it so that one setting controls the noise: the level comes from
 * the SIEVE_LOG environment variable (debug, info, warn, error; default info), read once on
 * first use, and may be changed with log_level_set (e.g. by a --verbose flag). Lines look
 * like "sieve: warn: retrying task 'ab12'". Levels are the plugin ABI's SIEVE_LOG_* values.
 *
 * Usage:
 *     log_write(SIEVE_LOG_INFO, "loaded %zu plugins", n);
 *     log_warn("cache miss for '%s'", key);
 *
 * Thread: safe; each line is written with one stdio call on the locked stderr stream.
 */
#ifndef SIEVE_BASE_LOG_H
#define SIEVE_BASE_LOG_H

#include <stdarg.h>

#include <sieve/plugin.h>

/* Parses "debug", "info", "warn"/"warning", "error" (any case); returns the level or -1. */
int log_level_parse(const char *name);
/* The name of a level ("warn"), "?" for an unknown one. */
const char *log_level_name(int level);
/* The current threshold: messages below it are dropped. */
int log_level_get(void);
/* Sets the threshold, overriding SIEVE_LOG. */
void log_level_set(int level);

#if defined(__GNUC__)
#define LOG_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define LOG_PRINTF(a, b)
#endif

/* Writes "sieve: <level>: <message>\n" to stderr when `level` passes the threshold. */
void log_write(int level, const char *fmt, ...) LOG_PRINTF(2, 3);
void log_vwrite(int level, const char *fmt, va_list ap);

#define log_debug(...) log_write(SIEVE_LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_write(SIEVE_LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_write(SIEVE_LOG_WARN, __VA_ARGS__)
#define log_error(...) log_write(SIEVE_LOG_ERROR, __VA_ARGS__)

#endif
