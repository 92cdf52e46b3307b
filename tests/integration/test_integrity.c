/*
 * test_integrity.c - a damaged cached object never feeds a task: a run re-hashes the cached
 * objects its tasks will read, a mismatch is a miss that recomputes the object and everything
 * computed from it, and `sieve cache verify` drops the descendants of what it finds corrupt.
 * The results tables after damage equal a clean store's. An emptied index is rebuilt from the
 * objects (`sieve cache reindex`).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "base/hash.h"
#include "sched_util.h"
#include "store/store.h"

/* decode -> encode -> evaluate in miniature: src objects are 256 KiB, enc adds 3, ev adds k
 * and reports the mean of its output as its metric. */
static const char *sweep =
    "name: t\n"
    "dataset: { manifest: clips.jsonl }\n"
    "matrix: { k: [1] }\n"
    "nodes:\n"
    "  src: { plugin: sched-source, with: { width: 32768, log: \"%1$s\" } }\n"
    "  enc: { plugin: sched-count, in: { in: src }, with: { add: 3,"
    " log: \"%1$s\" } }\n"
    "  ev: { plugin: sched-count, in: { in: enc }, with: { add: \"${k}\","
    " log: \"%1$s\", metric: true } }\n";

/* The object path of output "out" of task node/sample in the newest run. */
static void
object_of(struct ws *w, const char *node, const char *sample, char *path, size_t len)
{
    struct store *st;
    struct store_task_row *rows;
    struct sieve_errbuf err;
    size_t n;
    char hex[HASH_HEX_LEN] = "";
    assert_int_equal(store_open(w->store, &st, &err), 0);
    assert_int_equal(store_task_list(st, 1, NULL, node, &rows, &n, &err), 0);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(rows[i].sample, sample))
            continue;
        uint8_t key[32], out[32];
        for (int k = 0; k < 32; k++) {
            unsigned v;
            sscanf(rows[i].key + 2 * k, "%2x", &v);
            key[k] = (uint8_t)v;
        }
        struct hash_ctx h;
        assert_int_equal(hash_ctx_init(&h), 0);
        hash_ctx_field(&h, key, 32);
        hash_ctx_field(&h, "out", 3);
        assert_int_equal(hash_ctx_final(&h, out), 0);
        hash_hex(out, hex);
    }
    store_task_rows_free(rows, n);
    assert_int_equal(store_object_path(st, hex, path, len, 0), 0);
    store_close(st);
}

/* Overwrites `n` bytes at `at` (negative: from the middle) with `byte`. */
static void
damage(const char *path, long at, size_t n, int byte)
{
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    if (at < 0)
        at = (long)sb.st_size / 2 - (long)n / 2;
    assert_true(at >= 0 && (off_t)(at + (long)n) <= sb.st_size);
    /* Objects are written read-only by nothing in particular; make sure we may write. */
    chmod(path, 0644);
    int fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    char *buf = malloc(n);
    memset(buf, byte, n);
    assert_int_equal(pwrite(fd, buf, n, at), (ssize_t)n);
    free(buf);
    close(fd);
}

/* A workspace of n clips where the sweep ran once (k = 1: 3n tasks). */
static void
filled_sweep(struct ws *w, int n)
{
    const char *run[] = {"run", "--devices", "cpu:2", "p.yaml", NULL};
    ws_init(w, n);
    ws_pipeline(w, sweep);
    assert_int_equal(ws_sieve(w, 120, run), 0);
    assert_int_equal(ws_exec_count(w, ""), 3 * n);
}

/* The table of the same pipeline and --set in a fresh store: what a damaged one must show. */
static char *
clean_table(const char *set)
{
    struct ws c;
    ws_init(&c, 8);
    ws_pipeline(&c, sweep);
    const char *args[] = {"run", "--devices", "cpu:2", "--set", set, "p.yaml", NULL};
    assert_int_equal(ws_sieve(&c, 120, args), 0);
    char *t = ws_table_csv(&c, "last");
    ws_release(&c);
    return t;
}

static void
test_integrity__corrupt_input_is_recomputed_with_its_descendants(void **state)
{
    (void)state;
    char *want = clean_table("k=[1,5]");
    struct ws w;
    char path[STORE_PATH_MAX];
    filled_sweep(&w, 8);
    /* 64 KiB of the middle of one encoded object, in its data section */
    object_of(&w, "enc", "clip03", path, sizeof path);
    damage(path, -1, 64 * 1024, 0x41);
    const char *again[] = {"run", "--devices", "cpu:2", "--set", "k=[1,5]", "p.yaml", NULL};
    assert_int_equal(ws_sieve(&w, 120, again), 0);
    assert_true(ws_out_has(&w, "checksum mismatch; recomputing it"));
    assert_true(ws_out_has(&w, "1 cached object failed verification: dropped with the 1 "
                               "artifact computed from them"));
    /* recomputed: the damaged enc task, the ev task computed from it, and the 8 new ev tasks;
     * src/clip03 verified and was reused */
    assert_int_equal(ws_exec_count(&w, ""), 24 + 10);
    assert_int_equal(ws_exec_count(&w, "enc/clip03/"), 2);
    assert_int_equal(ws_exec_count(&w, "ev/clip03/"), 3);
    assert_int_equal(ws_exec_count(&w, "src/"), 8);
    char *got = ws_table_csv(&w, "last");
    assert_true(strlen(want) > 0);
    assert_string_equal(got, want);
    free(got);
    free(want);
    ws_release(&w);
}

static void
test_integrity__verify_drops_what_was_computed_from_a_corrupt_object(void **state)
{
    (void)state;
    struct ws w;
    char path[STORE_PATH_MAX];
    filled_sweep(&w, 8);
    const char *run[] = {"run", "--devices", "cpu:2", "p.yaml", NULL};
    char *want = ws_table_csv(&w, "last");
    object_of(&w, "src", "clip05", path, sizeof path);
    damage(path, -1, 1, 0x7f);
    const char *verify[] = {"cache", "verify", NULL};
    assert_int_equal(ws_sieve(&w, 60, verify), 1);
    assert_true(ws_out_has(&w, "1 corrupt, 0 missing; dropped 2 computed from them"));
    assert_true(ws_out_has(&w, "computed from a corrupt object"));
    /* the next run recomputes the chain, and only it; verify then passes */
    assert_int_equal(ws_sieve(&w, 120, run), 0);
    assert_int_equal(ws_exec_count(&w, ""), 24 + 3);
    assert_int_equal(ws_exec_count(&w, "ev/clip05/"), 2);
    char *got = ws_table_csv(&w, "last");
    assert_string_equal(got, want);
    free(got);
    free(want);
    assert_int_equal(ws_sieve(&w, 60, verify), 0);
    ws_release(&w);
}

static void
test_integrity__corrupt_header_is_a_miss(void **state)
{
    (void)state;
    struct ws w;
    char path[STORE_PATH_MAX];
    filled_sweep(&w, 8);
    /* the JSON header of one object, right after its 8-byte length: invalid JSON */
    object_of(&w, "enc", "clip01", path, sizeof path);
    damage(path, 8, 16, '{');
    const char *again[] = {"run", "--devices", "cpu:2", "--set", "k=[2]", "p.yaml", NULL};
    assert_int_equal(ws_sieve(&w, 120, again), 0);
    assert_int_equal(ws_exec_count(&w, "enc/clip01/"), 2);
    assert_true(ws_out_has(&w, "9 done, 15 cached"));
    ws_release(&w);
}

/* An emptied sieve.db beside its objects: status says so, `sieve cache reindex` indexes the
 * objects with their metric rows, and the next run is all cache hits with the same table. */
static void
test_integrity__emptied_index_is_rebuilt_by_reindex(void **state)
{
    (void)state;
    struct ws w;
    char path[400];
    filled_sweep(&w, 8);
    const char *run[] = {"run", "--devices", "cpu:2", "p.yaml", NULL};
    char *want = ws_table_csv(&w, "last");
    const char *db[] = {"sieve.db", "sieve.db-wal", "sieve.db-shm"};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", w.store, db[i]);
        unlink(path);
    }
    struct store *st;
    struct sieve_errbuf err;
    assert_int_equal(store_open(w.store, &st, &err), 0); /* a new, empty index */
    store_close(st);
    const char *status[] = {"status", NULL};
    assert_int_equal(ws_sieve(&w, 30, status), 3);
    assert_true(ws_out_has(&w, "is empty but 24 objects are on disk: 'sieve cache reindex'"));
    const char *reindex[] = {"cache", "reindex", NULL};
    assert_int_equal(ws_sieve(&w, 60, reindex), 0);
    assert_true(ws_out_has(&w, "indexed 24 objects (8 metric rows); 0 already indexed, 0 skipped"));
    assert_int_equal(ws_sieve(&w, 120, run), 0);
    assert_int_equal(ws_exec_count(&w, ""), 24);
    assert_true(ws_out_has(&w, "0 done, 24 cached"));
    char *got = ws_table_csv(&w, "last");
    assert_string_equal(got, want);
    free(got);
    free(want);
    ws_release(&w);
}

/* Old runs can be forgotten: their rows go, the newest run and the cache stay. */
static void
test_integrity__prune_runs_keeps_the_newest_and_the_cache(void **state)
{
    (void)state;
    struct ws w;
    filled_sweep(&w, 4);
    const char *run[] = {"run", "--devices", "cpu:2", "p.yaml", NULL};
    for (int i = 0; i < 2; i++)
        assert_int_equal(ws_sieve(&w, 120, run), 0);
    char *want = ws_table_csv(&w, "last");
    const char *prune[] = {"cache", "prune-runs", "--keep", "1", NULL};
    assert_int_equal(ws_sieve(&w, 60, prune), 0);
    assert_true(ws_out_has(&w, "forgot 2 runs"));
    char *st = ws_status_json(&w);
    assert_non_null(strstr(st, "\"id\": 3"));
    free(st);
    const char *status1[] = {"status", "1", NULL};
    assert_int_equal(ws_sieve(&w, 30, status1), 3);
    char *got = ws_table_csv(&w, "last");
    assert_string_equal(got, want);
    free(got);
    /* the cache is intact: a fourth run computes nothing */
    assert_int_equal(ws_sieve(&w, 120, run), 0);
    assert_int_equal(ws_exec_count(&w, ""), 12);
    free(want);
    ws_release(&w);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_integrity__corrupt_input_is_recomputed_with_its_descendants,
                                  ws_teardown),
        cmocka_unit_test_teardown(
            test_integrity__verify_drops_what_was_computed_from_a_corrupt_object, ws_teardown),
        cmocka_unit_test_teardown(test_integrity__corrupt_header_is_a_miss, ws_teardown),
        cmocka_unit_test_teardown(test_integrity__emptied_index_is_rebuilt_by_reindex, ws_teardown),
        cmocka_unit_test_teardown(test_integrity__prune_runs_keeps_the_newest_and_the_cache,
                                  ws_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
