/*
 * gen.c - test media through the ffmpeg program; see gen.h.
 */
#include "gen.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_PATHS 128

static char dir[256];
static char *paths[MAX_PATHS];
static int n_paths;

int
gen_init(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/sieve-decode-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    return mkdtemp(dir) ? 0 : -1;
}

void
gen_cleanup(void)
{
    char cmd[320];
    if (dir[0] && strstr(dir, "sieve-decode-")) {
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "gen: could not remove %s\n", dir);
    }
    for (int i = 0; i < n_paths; i++)
        free(paths[i]);
    n_paths = 0;
    dir[0] = '\0';
}

const char *
gen_path(const char *name)
{
    char buf[512];
    if (n_paths == MAX_PATHS)
        return NULL;
    snprintf(buf, sizeof buf, "%s/%s", dir, name);
    paths[n_paths] = strdup(buf);
    return paths[n_paths++];
}

const char *
gen_media(const char *name, const char *args_fmt, ...)
{
    char args[2048], cmd[3072];
    const char *path = gen_path(name);
    va_list ap;

    if (!path)
        return NULL;
    va_start(ap, args_fmt);
    vsnprintf(args, sizeof args, args_fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "ffmpeg -nostdin -hide_banner -v error -y %s '%s'", args, path);
    if (system(cmd) != 0) {
        fprintf(stderr, "gen: failed: %s\n", cmd);
        return NULL;
    }
    return path;
}

const char *
gen_write(const char *name, const void *data, size_t size)
{
    const char *path = gen_path(name);
    FILE *f;
    size_t n;

    if (!path || !(f = fopen(path, "wb")))
        return NULL;
    n = fwrite(data, 1, size, f);
    if (fclose(f) != 0 || n != size)
        return NULL;
    return path;
}

char *
gen_read(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long len;

    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
        buf = malloc((size_t)len + 1);
        if (buf && fread(buf, 1, (size_t)len, f) == (size_t)len) {
            buf[len] = '\0';
            *size = (size_t)len;
        } else {
            free(buf);
            buf = NULL;
        }
    }
    fclose(f);
    return buf;
}

char *
gen_capture(const char *cmd_fmt, ...)
{
    char cmd[3072];
    size_t len = 0, cap = 4096;
    char *out = malloc(cap);
    FILE *p;
    va_list ap;
    size_t n;

    if (!out)
        return NULL;
    va_start(ap, cmd_fmt);
    vsnprintf(cmd, sizeof cmd, cmd_fmt, ap);
    va_end(ap);
    p = popen(cmd, "r");
    if (!p) {
        free(out);
        return NULL;
    }
    while ((n = fread(out + len, 1, cap - len - 1, p)) > 0) {
        len += n;
        if (cap - len < 2) {
            char *bigger = realloc(out, cap * 2);
            if (!bigger)
                break;
            out = bigger;
            cap *= 2;
        }
    }
    out[len] = '\0';
    if (pclose(p) != 0) {
        free(out);
        return NULL;
    }
    return out;
}

int
gen_have_encoder(const char *name)
{
    char *list = gen_capture("ffmpeg -hide_banner -encoders 2>/dev/null");
    char needle[64];
    int found;

    if (!list)
        return 0;
    snprintf(needle, sizeof needle, " %s ", name);
    found = strstr(list, needle) != NULL;
    free(list);
    return found;
}
