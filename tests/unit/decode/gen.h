/*
 * gen.h - media made at test time with the ffmpeg program (installed by
 * scripts/install-deps.sh), in a private temporary directory, and helpers that read ffprobe.
 *
 * Usage:
 *     gen_init();                                   // once per test executable
 *     const char *p = gen_media("a.mp4", "-f lavfi -i testsrc=s=160x120:d=2 -c:v libx264");
 *     char *csv = gen_capture("ffprobe -v error ... '%s'", p);  free(csv);
 *     gen_cleanup();                                // removes the directory
 */
#ifndef SIEVE_TEST_DECODE_GEN_H
#define SIEVE_TEST_DECODE_GEN_H

#include <stddef.h>

/* Creates the temporary directory. Returns 0, or -1 when it cannot. */
int gen_init(void);

/* Removes the directory and everything in it. */
void gen_cleanup(void);

/*
 * Runs `ffmpeg -nostdin -v error -y ARGS DIR/NAME` and returns DIR/NAME (a static buffer per
 * call site is not needed: the result stays valid until gen_cleanup), or NULL if ffmpeg failed.
 */
const char *gen_media(const char *name, const char *args_fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* DIR/NAME for a file the test writes itself. Valid until gen_cleanup. */
const char *gen_path(const char *name);

/* Writes `size` bytes to DIR/NAME and returns its path, or NULL. */
const char *gen_write(const char *name, const void *data, size_t size);

/* Reads a whole file; returns a malloc'd buffer (NUL-terminated) and its size, or NULL. */
char *gen_read(const char *path, size_t *size);

/* Runs a shell command and returns its standard output (malloc'd), or NULL if it failed. */
char *gen_capture(const char *cmd_fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

/* Whether this ffmpeg has the encoder `name`. */
int gen_have_encoder(const char *name);

#endif
