/*
 * test_sched_durable.c - group-commit durability. In batch mode (the default) workers rename
 * objects into place without fsync and the scheduler syncs the file system before indexing
 * them, so an object at its final path may be torn after a power loss: resume must verify
 * the data hash every object embeds, remove a torn one and recompute its task. Objects
 * without the hash are adopted only in strict mode. `sieve cache verify` checks the hash too.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "base/hash.h"
#include "sched_index.h"

static const char *dag = "name: t\n"
                         "dataset: { manifest: clips.jsonl }\n"
                         "matrix: { k: [1, 2] }\n"
                         "nodes:\n"
                         "  src: { plugin: sched-source, with: { log: \"%1$s\" } }\n"
                         "  b: { plugin: sched-count, in: { in: src },"
                         " with: { add: \"${k}\", log: \"%1$s\" } }\n";

static const double adds[] = {0, 1, 2};

/* Paths of the store's objects, sorted (so a test picks the same ones every time). */
static int
objects(const struct ws *w, char paths[][600], int max)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "ls '%s'/objects/*/*.safetensors | sort", w->store);
    FILE *p = popen(cmd, "r");
    int n = 0;
    assert_non_null(p);
    while (n < max && fgets(paths[n], 600, p)) {
        paths[n][strcspn(paths[n], "\n")] = '\0';
        n++;
    }
    pclose(p);
    return n;
}

static uint64_t
data_offset(const char *path)
{
    unsigned char len[8];
    uint64_t n = 0;
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fread(len, 1, 8, f), 8);
    fclose(f);
    for (int i = 7; i >= 0; i--)
        n = n << 8 | len[i];
    return 8 + n;
}

/* What a power loss leaves when the rename reached the disk but the data did not: the header
 * and file size are there, the data blocks read as zeros. */
static void
zero_data(const char *path)
{
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    uint64_t off = data_offset(path);
    size_t n = (size_t)((uint64_t)sb.st_size - off);
    char *zeros = calloc(1, n);
    int fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, zeros, n, (off_t)off), (ssize_t)n);
    close(fd);
    free(zeros);
}

/* Rewrites an object as an older sieve wrote it: same tensors and metadata, no data hash. */
static void
strip_hash(const char *path)
{
    struct bundle *b, *c = bundle_new();
    struct sieve_errbuf err;
    assert_int_equal(bundle_read(path, &b, &err), 0);
    for (size_t i = 0; i < bundle_tensor_count(b); i++)
        assert_int_equal(bundle_tensor_add_copy(c, NULL, bundle_tensor_at(b, i), &err), 0);
    for (size_t i = 0; i < bundle_meta_count(b); i++) {
        const char *k, *v;
        assert_int_equal(bundle_meta_at(b, i, &k, &v), 0);
        if (strcmp(k, BUNDLE_META_DATA_SHA256))
            assert_int_equal(bundle_meta_set(c, k, v, &err), 0);
    }
    bundle_free(b);
    assert_int_equal(bundle_write(c, path, &err), 0);
    bundle_free(c);
}

static void
test_sched_durable__torn_objects_are_removed_and_recomputed(void **state)
{
    (void)state;
    struct ws w;
    char paths[16][600];
    ws_init(&w, 3);
    ws_pipeline(&w, dag);
    const char *args[] = {"run", "--devices", "cpu:2", "p.yaml", NULL};
    assert_int_equal(ws_sieve(&w, 30, args), 0);
    int ran = ws_exec_count(&w, "");
    assert_int_equal(objects(&w, paths, 16), 9);
    ws_unindex(&w);
    zero_data(paths[0]);
    struct stat sb;
    assert_int_equal(stat(paths[1], &sb), 0);
    assert_int_equal(truncate(paths[1], sb.st_size - 5), 0);

    const char *resume[] = {"resume", "--devices", "cpu:2", "1", NULL};
    assert_int_equal(ws_sieve(&w, 30, resume), 0);
    /* the two torn objects' tasks ran again; the seven whole ones were adopted */
    assert_int_equal(ws_exec_count(&w, ""), ran + 2);
    assert_int_equal(ws_check_objects(&w, adds, 3), 9);
    const char *verify[] = {"cache", "verify", NULL};
    assert_int_equal(ws_sieve(&w, 30, verify), 0);
    assert_true(ws_out_has(&w, "9 ok, 0 corrupt, 0 missing"));
    ws_release(&w);
}

static void
test_sched_durable__unhashed_orphans_are_adopted_only_in_strict_mode(void **state)
{
    (void)state;
    struct ws w;
    char paths[16][600];
    ws_init(&w, 3);
    ws_pipeline(&w, dag);
    const char *args[] = {"run", "--devices", "cpu:2", "p.yaml", NULL};
    assert_int_equal(ws_sieve(&w, 30, args), 0);
    int ran = ws_exec_count(&w, "");
    int n = objects(&w, paths, 16);
    assert_int_equal(n, 9);
    for (int i = 0; i < n; i++)
        strip_hash(paths[i]);

    /* strict: every object was fsync'd before its rename, so one at its final path is whole */
    ws_unindex(&w);
    const char *strict[] = {"resume", "--devices", "cpu:2", "--durability", "strict", "1", NULL};
    assert_int_equal(ws_sieve(&w, 30, strict), 0);
    assert_int_equal(ws_exec_count(&w, ""), ran);

    /* batch: an object without its hash may never have been synced; every task runs again */
    ws_unindex(&w);
    setenv("SIEVE_DURABILITY", "batch", 1);
    const char *batch[] = {"resume", "--devices", "cpu:2", "1", NULL};
    int rc = ws_sieve(&w, 30, batch);
    unsetenv("SIEVE_DURABILITY");
    assert_int_equal(rc, 0);
    assert_int_equal(ws_exec_count(&w, ""), 2 * ran);
    assert_int_equal(ws_check_objects(&w, adds, 3), 9);
    ws_release(&w);
}

static const char *slow_dag =
    "name: t\n"
    "dataset: { manifest: clips.jsonl }\n"
    "nodes:\n"
    "  src: { plugin: sched-source, with: { log: \"%1$s\" } }\n"
    "  a: { plugin: sched-count, in: { in: src }, with: { ms: 250, add: 1, log: \"%1$s\" },"
    " resources: { gpu: 1 } }\n"
    "  b: { plugin: sched-count, in: { in: a }, with: { ms: 250, add: 2, log: \"%1$s\" },"
    " resources: { gpu: 1 } }\n";

/* The kill test of test_sched_resume (which runs in the default batch mode), in strict mode. */
static void
test_sched_durable__strict_killed_scheduler_resumes_without_rerunning(void **state)
{
    (void)state;
    static const double slow_adds[] = {0, 1, 3};
    struct ws w;
    ws_init(&w, 6);
    ws_pipeline(&w, slow_dag);
    const char *args[] = {"run",    "--devices", "fake:2,cpu:1", "--durability", "strict",
                          "p.yaml", NULL};
    pid_t pid = ws_spawn(&w, args);
    for (int i = 0; i < 1000 && ws_exec_count(&w, "a/") + ws_exec_count(&w, "b/") < 4; i++)
        usleep(10000);
    usleep(100000);
    assert_int_equal(kill(pid, SIGKILL), 0);
    assert_int_equal(ws_wait(pid, 5), 128 + SIGKILL);
    usleep(100000);
    assert_true(ws_exec_count(&w, "") < 18);
    const char *resume[] = {"resume", "--devices", "fake:2,cpu:1", "--durability", "strict",
                            "1",      NULL};
    assert_int_equal(ws_sieve(&w, 30, resume), 0);
    assert_int_equal(ws_exec_count(&w, ""), 18);
    assert_int_equal(ws_exec_max_repeat(&w), 1);
    assert_int_equal(ws_check_objects(&w, slow_adds, 3), 18);
    const char *verify[] = {"cache", "verify", NULL};
    assert_int_equal(ws_sieve(&w, 30, verify), 0);
    ws_release(&w);
}

/* A data section that no longer matches the embedded hash is corrupt even when the index
 * checksum was taken from the damaged file (as adopting it in an older sieve would have). */
static void
test_sched_durable__cache_verify_checks_the_embedded_hash(void **state)
{
    (void)state;
    struct ws w;
    char paths[16][600], sql[400], hex[HASH_HEX_LEN];
    uint8_t d[HASH_LEN];
    struct sieve_errbuf err;
    ws_init(&w, 3);
    ws_pipeline(&w, dag);
    const char *args[] = {"run", "--devices", "cpu:2", "p.yaml", NULL};
    assert_int_equal(ws_sieve(&w, 30, args), 0);
    assert_int_equal(objects(&w, paths, 16), 9);
    const char *verify[] = {"cache", "verify", NULL};
    assert_int_equal(ws_sieve(&w, 30, verify), 0);

    unsigned char byte;
    uint64_t off = data_offset(paths[4]);
    int fd = open(paths[4], O_RDWR);
    assert_true(fd >= 0);
    assert_int_equal(pread(fd, &byte, 1, (off_t)off), 1);
    byte ^= 0x40;
    assert_int_equal(pwrite(fd, &byte, 1, (off_t)off), 1);
    close(fd);
    assert_int_equal(hash_file(paths[4], d, &err), 0);
    hash_hex(d, hex);
    const char *base = strrchr(paths[4], '/') + 1;
    snprintf(sql, sizeof sql, "UPDATE artifacts SET checksum = '%s' WHERE key = '%.64s';", hex,
             base);
    ws_index_sql(&w, sql);

    assert_int_equal(ws_sieve(&w, 30, verify), 1);
    assert_true(ws_out_has(&w, "does not match its embedded sha256"));
    assert_true(ws_out_has(&w, "8 ok, 1 corrupt"));
    ws_release(&w);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_sched_durable__torn_objects_are_removed_and_recomputed,
                                  ws_teardown),
        cmocka_unit_test_teardown(
            test_sched_durable__unhashed_orphans_are_adopted_only_in_strict_mode, ws_teardown),
        cmocka_unit_test_teardown(
            test_sched_durable__strict_killed_scheduler_resumes_without_rerunning, ws_teardown),
        cmocka_unit_test_teardown(test_sched_durable__cache_verify_checks_the_embedded_hash,
                                  ws_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
