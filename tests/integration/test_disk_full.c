/*
 * test_disk_full.c - a store whose file system fills up mid-run pauses the run instead of
 * failing task after task: no task fails, the run says why it waits, and once space is freed
 * it finishes by itself with every output right. Needs root for a small tmpfs (CI runs as
 * root); elsewhere it says so and passes without testing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/mount.h>

#include <cmocka.h>

#include "sched_util.h"

static char mnt[400];

static int
teardown(void **state)
{
    if (mnt[0]) {
        umount2(mnt, MNT_DETACH);
        mnt[0] = '\0';
    }
    return ws_teardown(state);
}

/* Writes zeros to `path` until the file system is full. */
static void
fill(const char *path)
{
    static char block[4096];
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    while (write(fd, block, sizeof block) > 0)
        ;
    while (write(fd, block, 1) > 0)
        ;
    close(fd);
}

static void
test_disk_full__pauses_and_goes_on_when_space_returns(void **state)
{
    (void)state;
    if (geteuid() != 0) {
        fprintf(stderr, "test_disk_full: not root, cannot mount a small tmpfs; not tested\n");
        return;
    }
    struct ws w;
    ws_init(&w, 6);
    snprintf(mnt, sizeof mnt, "%s/fs", w.dir);
    assert_int_equal(mkdir(mnt, 0755), 0);
    assert_int_equal(mount("tmpfs", mnt, "tmpfs", 0, "size=4m"), 0);
    snprintf(w.store, sizeof w.store, "%s/.sieve", mnt);
    setenv("SIEVE_STORE", w.store, 1);
    ws_pipeline(&w, "name: full\n"
                    "dataset: { manifest: clips.jsonl }\n"
                    "nodes:\n"
                    "  src: { plugin: sched-source, with: { log: \"%1$s\" } }\n"
                    "  a: { plugin: sched-count, in: { in: src },"
                    " with: { ms: 200, add: 1, log: \"%1$s\" } }\n"
                    "  b: { plugin: sched-count, in: { in: a },"
                    " with: { ms: 200, add: 2, log: \"%1$s\" } }\n");
    const char *run[] = {"run", "--devices", "cpu:1", "p.yaml", NULL};
    pid_t pid = ws_spawn(&w, run);
    for (int i = 0; i < 1000 && ws_exec_count(&w, "a/") < 1; i++)
        usleep(10000);
    char filler[500];
    snprintf(filler, sizeof filler, "%s/filler", mnt);
    fill(filler);
    int said = 0;
    for (int i = 0; i < 300 && !said; i++) {
        char *out = ws_read(w.out);
        said = strstr(out, "disk full: store") != NULL;
        free(out);
        usleep(50000);
    }
    assert_true(said);
    usleep(500000);
    /* It waits: alive, and not one task failed for the full disk. */
    assert_int_equal(waitpid(pid, NULL, WNOHANG), 0);
    char *out = ws_read(w.out);
    assert_null(strstr(out, "failed a/"));
    assert_null(strstr(out, "failed b/"));
    free(out);
    assert_int_equal(unlink(filler), 0);
    assert_int_equal(ws_wait(pid, 60), 0);
    out = ws_read(w.out);
    assert_non_null(strstr(out, "free again"));
    free(out);
    static const double adds[] = {0, 1, 3};
    assert_int_equal(ws_check_objects(&w, adds, 3), 18);
    umount2(mnt, MNT_DETACH);
    mnt[0] = '\0';
    ws_release(&w);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_disk_full__pauses_and_goes_on_when_space_returns, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
