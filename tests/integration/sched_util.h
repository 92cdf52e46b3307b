/*
 * sched_util.h - helpers of the scheduler's integration tests: a temporary workspace with
 * media files and a manifest, a pipeline written from a template, the `sieve` binary run in
 * the foreground or background, execution-log counts, artifact checks and results tables.
 *
 * The test plugins (tests/plugins/sched) make the checks exact: sched-source emits x = [byte
 * sum, size] of the sample's media file and each sched-count adds its `add`, so a test knows
 * the value every artifact must hold; both append "<task id> <pid> <device>" to the
 * execution log each time they run.
 */
#ifndef SIEVE_TEST_SCHED_UTIL_H
#define SIEVE_TEST_SCHED_UTIL_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/bundle.h"
#include "store_objects.h"

/* The live workspace and background sieve, kept outside the test's stack frame so that
 * ws_teardown can remove them after a failed assertion has left the test. */
static char ws_live_dir[256];
static pid_t ws_live_pid;

struct ws {
    char dir[256];
    char store[300];
    char log[300]; /* execution log */
    char out[300]; /* stdout+stderr of the last sieve command */
    char yaml[300];
    int n_samples;
    double sum[64], size[64];
};

static inline void
ws_path(const struct ws *w, const char *name, char *buf, size_t len)
{
    snprintf(buf, len, "%s/%s", w->dir, name);
}

/* A workspace with n media files of distinct content and a manifest. */
static inline void
ws_init(struct ws *w, int n)
{
    memset(w, 0, sizeof *w);
    snprintf(w->dir, sizeof w->dir, "/tmp/sieve-sched-test-XXXXXX");
    if (!mkdtemp(w->dir))
        abort();
    snprintf(ws_live_dir, sizeof ws_live_dir, "%s", w->dir);
    snprintf(w->store, sizeof w->store, "%s/.sieve", w->dir);
    snprintf(w->log, sizeof w->log, "%s/exec.log", w->dir);
    snprintf(w->out, sizeof w->out, "%s/out.txt", w->dir);
    snprintf(w->yaml, sizeof w->yaml, "%s/p.yaml", w->dir);
    w->n_samples = n;
    char path[400];
    ws_path(w, "clips.jsonl", path, sizeof path);
    FILE *m = fopen(path, "w");
    for (int i = 0; i < n; i++) {
        char name[64], mp[400];
        snprintf(name, sizeof name, "clip%02d.bin", i);
        ws_path(w, name, mp, sizeof mp);
        FILE *f = fopen(mp, "wb");
        int len = 100 + 37 * i;
        w->sum[i] = 0;
        for (int k = 0; k < len; k++) {
            int byte = (k * 7 + i * 13) & 0xff;
            fputc(byte, f);
            w->sum[i] += byte;
        }
        w->size[i] = len;
        fclose(f);
        fprintf(m, "{\"id\":\"clip%02d\",\"media\":\"%s\",\"category\":\"c%d\"}\n", i, name, i % 2);
    }
    fclose(m);
    /* Exactly the plugins these tests use: each worker checks every plugin on its path in a
     * child process when it starts, and the loader tests' plugins (slow, crashing, hanging
     * on load) made a sanitizer build's workers take seconds to be ready. */
    setenv("SIEVE_PLUGIN_PATH",
           SIEVE_BUILD_DIR "/test-plugins-sched:" SIEVE_TEST_PLUGIN_DIR
                           "/fail.so:" SIEVE_TEST_PLUGIN_DIR "/crash-process.so",
           1);
    setenv("SIEVE_STORE", w->store, 1);
    unsetenv("SIEVE_FAULTS");
    setenv("TMPDIR", w->dir, 1); /* worker scratch directories live and die with the workspace */
}

/* Writes the pipeline; the template may use %1$s for the execution log path. */
static inline void
ws_pipeline(struct ws *w, const char *fmt)
{
    FILE *f = fopen(w->yaml, "w");
    fprintf(f, fmt, w->log);
    fclose(f);
}

static inline void
ws_release(struct ws *w)
{
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", w->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", w->dir);
    ws_live_dir[0] = '\0';
}

/* cmocka teardown of every workspace test: whatever a failed assertion left behind (the
 * background sieve, the workspace directory) goes. */
static inline int
ws_teardown(void **state)
{
    (void)state;
    if (ws_live_pid > 0) {
        kill(ws_live_pid, SIGKILL);
        waitpid(ws_live_pid, NULL, 0);
        ws_live_pid = 0;
    }
    if (ws_live_dir[0]) {
        char cmd[400];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", ws_live_dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", ws_live_dir);
        ws_live_dir[0] = '\0';
    }
    return 0;
}

/* Starts `sieve ARGS...` with output to w->out; returns the pid. */
static inline pid_t
ws_spawn(struct ws *w, const char *const *args)
{
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(w->out, O_WRONLY | O_CREAT | O_APPEND, 0644);
        dup2(fd, 1);
        dup2(fd, 2);
        if (chdir(w->dir) < 0)
            _exit(126);
        const char *argv[32];
        int n = 0;
        argv[n++] = SIEVE_BINARY;
        for (int i = 0; args[i] && n < 31; i++)
            argv[n++] = args[i];
        argv[n] = NULL;
        execv(SIEVE_BINARY, (char **)argv);
        _exit(127);
    }
    ws_live_pid = pid;
    return pid;
}

/* Waits for pid at most `seconds`; returns its exit status (128+signal when killed), or -1. */
static inline int
ws_wait(pid_t pid, double seconds)
{
    for (double waited = 0; waited < seconds; waited += 0.02) {
        int st;
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid) {
            if (pid == ws_live_pid)
                ws_live_pid = 0;
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        }
        usleep(20000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    if (pid == ws_live_pid)
        ws_live_pid = 0;
    return -1;
}

static inline int
ws_sieve(struct ws *w, double seconds, const char *const *args)
{
    return ws_wait(ws_spawn(w, args), seconds);
}

/* Reads a whole file into a malloc'd string ("" when missing). */
static inline char *
ws_read(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return strdup("");
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = calloc(1, (size_t)n + 1);
    if (fread(buf, 1, (size_t)n, f) != (size_t)n)
        buf[0] = '\0';
    fclose(f);
    return buf;
}

/* Number of lines of the file at `path` that start with `prefix` ("" for all). */
static inline int
ws_count_lines(const char *path, const char *prefix)
{
    char *text = ws_read(path);
    int n = 0;
    size_t pl = strlen(prefix);
    for (char *line = text; *line;) {
        char *nl = strchr(line, '\n');
        if (!strncmp(line, prefix, pl))
            n++;
        if (!nl)
            break;
        line = nl + 1;
    }
    free(text);
    return n;
}

/* Number of lines in the execution log whose task id starts with `prefix` ("" for all). */
static inline int
ws_exec_count(const struct ws *w, const char *prefix)
{
    return ws_count_lines(w->log, prefix);
}

/* The largest number of times any single task id appears in the execution log. */
static inline int
ws_exec_max_repeat(const struct ws *w)
{
    char *text = ws_read(w->log);
    char ids[512][128];
    int counts[512] = {0}, n = 0, max = 0;
    for (char *line = text; *line;) {
        char *nl = strchr(line, '\n');
        char id[128];
        if (sscanf(line, "%127s", id) == 1) {
            int k = 0;
            while (k < n && strcmp(ids[k], id))
                k++;
            if (k == n && n < 512)
                snprintf(ids[n++], sizeof ids[0], "%s", id);
            if (k < 512 && ++counts[k] > max)
                max = counts[k];
        }
        if (!nl)
            break;
        line = nl + 1;
    }
    free(text);
    return max;
}

struct ws_objects_check {
    const struct ws *w;
    const double *adds;
    int n_adds;
};

static inline int
ws_object_holds_x(const char *path, const struct bundle *b, void *arg)
{
    const struct ws_objects_check *c = arg;
    const struct sieve_tensor *x = bundle_tensor_get(b, "x");
    for (int s = 0; x && s < c->w->n_samples; s++)
        for (int a = 0; a < c->n_adds; a++)
            if (((double *)x->data)[0] == c->w->sum[s] + c->adds[a] &&
                ((double *)x->data)[1] == c->w->size[s] + c->adds[a])
                return 0;
    fprintf(stderr, "object %s holds an unexpected value\n", path);
    return -1;
}

/*
 * Reads every object in the store. Each must parse, and hold x = [sum + a, size + a] for some
 * sample and some a in `adds`. Returns the number of objects, or -1 on a bad one.
 */
static inline int
ws_check_objects(const struct ws *w, const double *adds, int n_adds)
{
    struct ws_objects_check c = {w, adds, n_adds};
    int n = store_objects_each(w->store, ws_object_holds_x, &c);
    return n < 0 ? -1 : n;
}

static inline int
ws_out_has(const struct ws *w, const char *needle)
{
    char *text = ws_read(w->out);
    int found = strstr(text, needle) != NULL;
    if (!found)
        fprintf(stderr, "---- sieve output (no '%s') ----\n%s\n----\n", needle, text);
    free(text);
    return found;
}

/* Runs `sieve status --json` and returns its output. Ownership: free it. */
static inline char *
ws_status_json(struct ws *w)
{
    char path[400];
    ws_path(w, "status.json", path, sizeof path);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "cd '%s' && '%s' status --json > '%s' 2>&1", w->dir, SIEVE_BINARY,
             path);
    if (system(cmd) != 0)
        return strdup("");
    return ws_read(path);
}

/* `sieve table RUN --format csv` of the workspace's store; "" when it fails. Ownership: free. */
static inline char *
ws_table_csv(struct ws *w, const char *run)
{
    char cmd[1200], path[400];
    ws_path(w, "table.csv", path, sizeof path);
    snprintf(cmd, sizeof cmd, "'%s' table %s --format csv --store '%s' > '%s'", SIEVE_BINARY, run,
             w->store, path);
    if (system(cmd) != 0)
        return strdup("");
    return ws_read(path);
}

#endif
