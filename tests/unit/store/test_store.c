/*
 * test_store.c - the store: opening and migrating, the write protocol under a crash,
 * corrupt objects as misses, GC order and pins, verify, runs/tasks/metrics/events/devices and
 * the media hash cache.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/bundle.h"
#include "base/hash.h"
#include "store/store.h"
#include "store/store_sched.h"

struct fixture {
    char dir[256];
    struct store *st;
};

static int
setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    struct sieve_errbuf err = {{0}};
    snprintf(f->dir, sizeof f->dir, "/tmp/sieve-store-test-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    strcat(f->dir, "/store");
    if (store_open(f->dir, &f->st, &err) < 0) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;
    char cmd[600];
    store_close(f->st);
    /* the parent of the store dir is ours: remove the whole tree */
    snprintf(cmd, sizeof cmd, "rm -rf '%.*s'", (int)(strlen(f->dir) - 6), f->dir);
    if (system(cmd) != 0)
        return -1;
    free(f);
    return 0;
}

/* A distinct key per index: sha-like hex. */
static void
key_of(int i, char key[HASH_HEX_LEN])
{
    snprintf(key, HASH_HEX_LEN, "%02x%062d", (unsigned)(i * 37) & 0xff, i);
}

/* Writes an object for `key` of `n` floats with bundle_write (tmp + fsync + rename). */
static void
write_object(struct store *st, const char *key, int64_t n)
{
    struct sieve_errbuf err = {{0}};
    struct sieve_tensor *t;
    char path[STORE_PATH_MAX];
    struct bundle *b = bundle_new();

    assert_non_null(b);
    assert_int_equal(store_object_path(st, key, path, sizeof path, 1), 0);
    assert_int_equal(bundle_tensor_new(b, "x", SIEVE_DTYPE_F32, 1, &n, &t, &err), 0);
    for (int64_t i = 0; i < n; i++)
        ((float *)t->data)[i] = (float)i;
    assert_int_equal(bundle_write(b, path, &err), 0);
    bundle_free(b);
}

static int
lookup1(struct store *st, const char *key)
{
    uint8_t hit = 9;
    struct sieve_errbuf err = {{0}};
    const char *keys[1] = {key};
    assert_true(store_artifact_lookup(st, keys, 1, &hit, &err) >= 0);
    return hit;
}

static void
test_store__open_creates_layout_and_wal(void **state)
{
    struct fixture *f = *state;
    char path[512];
    struct stat sb;

    snprintf(path, sizeof path, "%s/objects", f->dir);
    assert_int_equal(stat(path, &sb), 0);
    snprintf(path, sizeof path, "%s/logs", f->dir);
    assert_int_equal(stat(path, &sb), 0);
    snprintf(path, sizeof path, "%s/sieve.db-wal", f->dir);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(store_schema_version(f->st), STORE_SCHEMA_VERSION);
    assert_int_equal(store_object_path(f->st, "nothex", path, sizeof path, 0), SIEVE_EINVAL);
}

/* The enums the scheduler writes are stored under the names status, ls and SQL read back. */
static void
test_store__states_are_written_by_name(void **state)
{
    struct fixture *f = *state;
    struct sieve_errbuf err = {{0}};
    struct store_run r;
    int64_t run;

    for (int i = 0; i < STORE_TASK_N_STATES; i++)
        assert_int_equal(store_task_state_parse(store_task_state_name(i)), i);
    assert_string_equal(store_task_state_name(STORE_TASK_CACHED), "cached");
    assert_int_equal(store_task_state_parse("skipped"), STORE_TASK_SKIPPED);
    assert_int_equal(store_task_state_parse("postponed"), -1);

    assert_int_equal(store_run_create(f->st, "r", "p.yaml", "", &run, &err), 0);
    assert_int_equal(store_run_get(f->st, run, &r, &err), 0);
    assert_string_equal(r.state, "pending");
    assert_int_equal(r.finished_ms, 0);
    store_run_release(&r);
    assert_int_equal(store_run_set_state(f->st, run, STORE_RUN_CANCELLED, "stop", &err), 0);
    assert_int_equal(store_run_get(f->st, run, &r, &err), 0);
    assert_string_equal(r.state, "cancelled");
    assert_string_equal(r.error, "stop");
    assert_true(r.finished_ms > 0);
    store_run_release(&r);
}

/* The state of task `idx` as the index has it now. */
static void
expect_task_state(struct store *st, int64_t run, uint32_t idx, const char *state)
{
    struct store_task_row *rows;
    size_t n;
    struct sieve_errbuf err = {{0}};
    assert_int_equal(store_task_list(st, run, NULL, NULL, &rows, &n, &err), 0);
    assert_true(idx < n);
    assert_string_equal(rows[idx].state, state);
    store_task_rows_free(rows, n);
}

/* A commit runs on the writes detached before it, through the batch's own store handle, while
 * new writes queue behind them (the scheduler commits off its loop thread this way). */
static void
test_store__batch_commits_detached_writes_while_new_ones_queue(void **state)
{
    struct fixture *f = *state;
    struct sieve_errbuf err = {{0}};
    struct store *own;
    struct store_batch *b;
    int64_t run;
    struct store_task rows[2];
    memset(rows, 0, sizeof rows);
    for (uint32_t i = 0; i < 2; i++) {
        rows[i].idx = i;
        rows[i].node = "n";
        rows[i].sample_index = -1;
        rows[i].variant_label = "{}";
        rows[i].key = i ? "k1" : "k0";
        rows[i].components = "{}";
        rows[i].state = STORE_TASK_PENDING;
    }
    assert_int_equal(store_run_create(f->st, "r", "p.yaml", "", &run, &err), 0);
    assert_int_equal(store_tasks_insert(f->st, run, rows, 2, &err), 0);
    assert_int_equal(store_open(store_dir(f->st), &own, &err), 0);
    assert_int_equal(store_batch_new(own, &b, &err), 0);

    struct store_task_update u = {.state = STORE_TASK_RUNNING,
                                  .attempts = 1,
                                  .device = "cpu:0",
                                  .started_ms = -1,
                                  .finished_ms = -1};
    assert_int_equal(store_batch_task_update(b, run, 0, &u, &err), 0);
    assert_int_equal(store_batch_detach(b), 1);
    assert_int_equal(store_batch_task_update(b, run, 1, &u, &err), 0);
    assert_int_equal(store_batch_commit_detached(b, &err), 0);
    expect_task_state(f->st, run, 0, "running");
    expect_task_state(f->st, run, 1, "pending"); /* queued after the detach: not yet */
    assert_int_equal(store_batch_commit(b, &err), 0);
    expect_task_state(f->st, run, 1, "running");
    assert_int_equal(store_batch_detach(b), 0);
    store_batch_free(b);
    store_close(own);
}

static void
test_store__migrates_an_older_schema(void **state)
{
    struct fixture *f = *state;
    struct sieve_errbuf err = {{0}};
    struct store *old;
    struct store_run run;
    char dir[300], key[HASH_HEX_LEN], hex[HASH_HEX_LEN];
    int64_t id;

    snprintf(dir, sizeof dir, "%s-v1", f->dir);
    assert_int_equal(store_open_version(dir, 1, &old, &err), 0);
    assert_int_equal(store_schema_version(old), 1);
    assert_int_equal(store_run_create(old, "old", "p.yaml", "nodes: {}", &id, &err), 0);
    key_of(1, key);
    write_object(old, key, 4);
    assert_int_equal(store_artifact_index(old, &(struct store_artifact){.key = key}, &err), 0);
    store_close(old);

    /* a newer build opens it: data kept, new tables usable */
    assert_int_equal(store_open(dir, &old, &err), 0);
    assert_int_equal(store_schema_version(old), STORE_SCHEMA_VERSION);
    assert_int_equal(store_run_get(old, id, &run, &err), 0);
    assert_string_equal(run.name, "old");
    store_run_release(&run);
    assert_int_equal(lookup1(old, key), 1);
    snprintf(dir, sizeof dir, "%s/objects/%.2s/%s.safetensors", store_dir(old), key, key);
    assert_int_equal(store_media_hash(old, dir, hex, &err), 0);
    store_close(old);
}

static void
test_store__crash_before_index_leaves_orphan_that_gc_removes(void **state)
{
    struct fixture *f = *state;
    struct sieve_errbuf err = {{0}};
    struct store_gc_report rep;
    char key[HASH_HEX_LEN], key2[HASH_HEX_LEN], path[STORE_PATH_MAX], tmp[STORE_PATH_MAX + 32];
    int status;
    pid_t pid;
    struct stat sb;

    key_of(2, key);
    key_of(3, key2);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* child: one object written completely, one only as a tmp file, then killed
         * before the scheduler could index either */
        FILE *t;
        write_object(f->st, key, 16);
        store_object_path(f->st, key2, path, sizeof path, 1);
        snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
        t = fopen(tmp, "w");
        fputs("partial", t);
        fflush(t);
        raise(SIGKILL);
        _exit(0);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));

    /* consistent: both are misses, the index is readable */
    assert_int_equal(lookup1(f->st, key), 0);
    assert_int_equal(lookup1(f->st, key2), 0);
    assert_int_equal(store_object_path(f->st, key, path, sizeof path, 0), 0);
    assert_int_equal(stat(path, &sb), 0);

    assert_int_equal(store_gc(f->st, UINT64_MAX, &rep, &err), 0);
    assert_int_equal(rep.orphans_removed, 1);
    assert_int_equal(rep.tmp_removed, 1);
    assert_int_equal(rep.evicted, 0);
    assert_int_equal(stat(path, &sb), -1);
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)pid);
    assert_int_equal(stat(tmp, &sb), -1);

    /* the task is simply recomputed: write and index again */
    write_object(f->st, key, 16);
    assert_int_equal(store_artifact_index(f->st, &(struct store_artifact){.key = key}, &err), 0);
    assert_int_equal(lookup1(f->st, key), 1);
}

static void
test_store__corrupt_or_missing_object_is_a_miss(void **state)
{
    struct fixture *f = *state;
    struct sieve_errbuf err = {{0}};
    struct store_verify_report rep;
    char k1[HASH_HEX_LEN], k2[HASH_HEX_LEN], k3[HASH_HEX_LEN], path[STORE_PATH_MAX];
    FILE *fp;

    key_of(10, k1);
    key_of(11, k2);
    key_of(12, k3);
    for (int i = 0; i < 3; i++) {
        const char *k = i == 0 ? k1 : i == 1 ? k2 : k3;
        write_object(f->st, k, 8);
        assert_int_equal(store_artifact_index(f->st, &(struct store_artifact){.key = k}, &err), 0);
        assert_int_equal(lookup1(f->st, k), 1);
    }
    /* truncated: a miss at lookup, and the row is gone */
    store_object_path(f->st, k1, path, sizeof path, 0);
    assert_int_equal(truncate(path, 10), 0);
    assert_int_equal(lookup1(f->st, k1), 0);
    /* deleted: a miss */
    store_object_path(f->st, k2, path, sizeof path, 0);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(lookup1(f->st, k2), 0);
    /* same size, flipped byte: verify finds it by checksum and drops it */
    store_object_path(f->st, k3, path, sizeof path, 0);
    fp = fopen(path, "r+b");
    assert_non_null(fp);
    fseek(fp, -1, SEEK_END);
    fputc(0x5a, fp);
    fclose(fp);
    assert_int_equal(store_verify(f->st, NULL, NULL, &rep, &err), 0);
    assert_int_equal(rep.corrupt, 1);
    assert_int_equal(lookup1(f->st, k3), 0);
    /* the writer's size must match what is on disk */
    write_object(f->st, k3, 8);
    assert_int_equal(
        store_artifact_index(f->st, &(struct store_artifact){.key = k3, .checksum = k1, .bytes = 3},
                             &err),
        SIEVE_EFORMAT);
}

static void
sleep_ms(int ms)
{
    struct timespec ts = {0, ms * 1000000L};
    nanosleep(&ts, NULL);
}

static void
test_store__gc_evicts_lru_first_and_respects_pins(void **state)
{
    struct fixture *f = *state;
    struct sieve_errbuf err = {{0}};
    struct store_gc_report rep;
    struct store_artifact_row *rows;
    size_t n;
    char k[4][HASH_HEX_LEN];
    uint64_t each = 0;
    int64_t run;
    const char *pin[1];

    for (int i = 0; i < 4; i++) {
        key_of(20 + i, k[i]);
        write_object(f->st, k[i], 64);
        assert_int_equal(store_artifact_index(f->st, &(struct store_artifact){.key = k[i]}, &err),
                         0);
        sleep_ms(3);
    }
    /* use order now: k1 oldest, then k0, k3, k2 (newest) */
    int order[4] = {1, 0, 3, 2};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(lookup1(f->st, k[order[i]]), 1);
        sleep_ms(3);
    }
    assert_int_equal(store_artifact_list(f->st, &rows, &n, &err), 0);
    assert_int_equal(n, 4);
    for (int i = 0; i < 4; i++)
        assert_string_equal(rows[i].key, k[order[i]]);
    each = rows[0].bytes;
    free(rows);

    /* k1 is pinned by a running run: never evicted, even though least recently used */
    assert_int_equal(store_run_create(f->st, "r", "p.yaml", "", &run, &err), 0);
    assert_int_equal(store_run_set_state(f->st, run, STORE_RUN_RUNNING, NULL, &err), 0);
    pin[0] = k[1];
    assert_int_equal(store_artifact_pin(f->st, run, pin, 1, &err), 0);

    assert_int_equal(store_gc(f->st, 2 * each, &rep, &err), 0);
    assert_int_equal(rep.evicted, 2);
    assert_int_equal(rep.bytes_left, 2 * each);
    assert_int_equal(lookup1(f->st, k[1]), 1); /* pinned */
    assert_int_equal(lookup1(f->st, k[0]), 0); /* oldest unpinned */
    assert_int_equal(lookup1(f->st, k[3]), 0);
    assert_int_equal(lookup1(f->st, k[2]), 1); /* newest */

    /* once the run ends, its pins go and GC may take everything */
    assert_int_equal(store_run_set_state(f->st, run, STORE_RUN_DONE, NULL, &err), 0);
    assert_int_equal(store_gc(f->st, 0, &rep, &err), 0);
    assert_int_equal(rep.evicted, 2);
    assert_int_equal(rep.bytes_left, 0);
}

static void
test_store__runs_tasks_metrics_events_devices(void **state)
{
    struct fixture *f = *state;
    struct sieve_errbuf err = {{0}};
    struct store_task rows[3];
    struct store_task_row *got;
    struct store_metric *mr;
    struct store_event *ev;
    struct store_device *dv;
    struct store_run run;
    size_t n;
    int64_t id, prev;
    char k[3][HASH_HEX_LEN], a[HASH_HEX_LEN];
    const char *outs[1];

    assert_int_equal(store_run_create(f->st, "sweep", "/p/x.yaml", "text", &id, &err), 0);
    memset(rows, 0, sizeof rows);
    for (int i = 0; i < 3; i++) {
        key_of(40 + i, k[i]);
        rows[i].idx = (uint32_t)i;
        rows[i].node = i < 2 ? "media" : "score";
        rows[i].sample = i < 2 ? (i ? "c2" : "c1") : NULL;
        rows[i].sample_index = i < 2 ? i : -1;
        rows[i].variant_label = "{\"keep\":0.5}";
        rows[i].key = k[i];
        rows[i].components = "{}";
        rows[i].state = i == 0 ? STORE_TASK_CACHED : STORE_TASK_PENDING;
    }
    key_of(50, a);
    outs[0] = a;
    rows[2].out_keys = outs;
    rows[2].n_out = 1;
    assert_int_equal(store_tasks_insert(f->st, id, rows, 3, &err), 0);
    assert_int_equal(store_task_update(f->st, id, 1,
                                       &(struct store_task_update){.state = STORE_TASK_RUNNING,
                                                                   .attempts = 1,
                                                                   .device = "fake:0",
                                                                   .started_ms = 5,
                                                                   .finished_ms = -1},
                                       &err),
                     0);
    assert_int_equal(store_task_update(f->st, id, 9,
                                       &(struct store_task_update){.state = STORE_TASK_DONE,
                                                                   .attempts = -1,
                                                                   .started_ms = -1,
                                                                   .finished_ms = -1},
                                       &err),
                     SIEVE_ENOENT);
    assert_int_equal(store_task_list(f->st, id, "running", NULL, &got, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(got[0].device, "fake:0");
    assert_int_equal(got[0].attempts, 1);
    assert_string_equal(got[0].sample, "c2");
    store_task_rows_free(got, n);
    /* resume puts running tasks back */
    assert_int_equal(store_tasks_requeue(f->st, id, &err), 1);
    assert_int_equal(store_task_list(f->st, id, NULL, "score", &got, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_null(got[0].sample);
    assert_int_equal(got[0].sample_index, -1);
    store_task_rows_free(got, n);

    /* finishing a task indexes its artifact and metric rows in one go */
    write_object(f->st, a, 2);
    struct store_metric m[2] = {
        {id, "score", "{\"keep\":0.5}", NULL, "all", "retention", 0.9, k[2]},
        {id, "score", "{\"keep\":0.5}", "c1", "Tech", "retention", 0.8, k[2]},
    };
    assert_int_equal(
        store_task_finish(
            f->st, id, 2,
            &(struct store_task_update){
                .state = STORE_TASK_DONE, .attempts = -1, .started_ms = -1, .finished_ms = 9},
            &(struct store_artifact){.key = a, .run = id}, 1, m, 2, &err),
        0);
    assert_int_equal(lookup1(f->st, a), 1);
    assert_int_equal(store_metrics_query(f->st, id, "score", &mr, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(mr[1].category, "Tech");
    assert_true(mr[0].value > 0.89 && mr[0].value < 0.91);
    store_metric_rows_free(mr, n);

    assert_int_equal(store_run_get(f->st, id, &run, &err), 0);
    assert_int_equal(run.n_tasks, 3);
    assert_int_equal(run.n_done, 1);
    assert_int_equal(run.n_cached, 1);
    store_run_release(&run);
    assert_int_equal(store_run_previous(f->st, "/p/x.yaml", 0, &prev, &err), 0);
    assert_int_equal(prev, id);
    assert_int_equal(store_run_previous(f->st, "/p/x.yaml", id, &prev, &err), 0);
    assert_int_equal(prev, 0);
    assert_int_equal(store_run_get(f->st, 999, &run, &err), SIEVE_ENOENT);

    assert_int_equal(store_event_append(f->st, id, 2, "task", "done", &err), 0);
    assert_int_equal(store_event_append(f->st, id, -1, "run", "started", &err), 0);
    assert_int_equal(store_event_list(f->st, id, 0, 0, &ev, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(ev[1].kind, "run");
    store_event_list_free(ev, n);

    assert_int_equal(store_device_upsert(f->st, "fake:0", "healthy", "{}", &err), 0);
    assert_int_equal(store_device_upsert(f->st, "fake:0", "quarantined", NULL, &err), 0);
    assert_int_equal(store_device_list(f->st, &dv, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(dv[0].state, "quarantined");
    assert_string_equal(dv[0].info, "{}");
    store_device_list_free(dv, n);
}

/* The API's queries: a page of runs with its total under a filter, a page of tasks, counts
 * per node in plan order, the newest events, and one artifact's row without touching it. */
static void
test_store__pages_counts_recent_events_and_artifact_rows(void **state)
{
    struct fixture *f = *state;
    struct sieve_errbuf err = {{0}};
    struct store_run *runs;
    struct store_task_row *tasks;
    struct store_node_count *nodes;
    struct store_event *ev;
    struct store_task rows[5];
    struct store_artifact_row art;
    size_t n;
    int64_t id[4], total;
    char k[5][HASH_HEX_LEN], a[HASH_HEX_LEN];

    for (int i = 0; i < 4; i++) {
        char name[16];
        snprintf(name, sizeof name, i % 2 ? "odd-%d" : "even-%d", i);
        assert_int_equal(store_run_create(f->st, name, "/p.yaml", "t", &id[i], &err), 0);
    }
    assert_int_equal(store_run_set_state(f->st, id[1], STORE_RUN_DONE, NULL, &err), 0);
    assert_int_equal(store_run_set_state(f->st, id[3], STORE_RUN_DONE, NULL, &err), 0);
    struct store_run_filter rf = {.state = "done", .limit = 1};
    assert_int_equal(store_run_query(f->st, &rf, &runs, &n, &total, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(total, 2);
    assert_int_equal(runs[0].id, id[3]); /* newest first */
    store_run_list_free(runs, n);
    rf.offset = 1;
    assert_int_equal(store_run_query(f->st, &rf, &runs, &n, &total, &err), 0);
    assert_int_equal(runs[0].id, id[1]);
    store_run_list_free(runs, n);
    rf = (struct store_run_filter){.name = "even"};
    assert_int_equal(store_run_query(f->st, &rf, &runs, &n, &total, &err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(total, 2);
    store_run_list_free(runs, n);
    rf = (struct store_run_filter){.offset = 10};
    assert_int_equal(store_run_query(f->st, &rf, &runs, &n, &total, &err), 0);
    assert_int_equal(n, 0);
    assert_int_equal(total, 4);

    /* Node "z" comes first in the plan, "a" second: counts keep plan order, not names. */
    memset(rows, 0, sizeof rows);
    for (int i = 0; i < 5; i++) {
        key_of(60 + i, k[i]);
        rows[i].idx = (uint32_t)i;
        rows[i].node = i < 3 ? "z" : "a";
        rows[i].sample_index = i;
        rows[i].key = k[i];
        rows[i].components = "{}";
        rows[i].state = i == 1 ? STORE_TASK_FAILED : STORE_TASK_DONE;
    }
    assert_int_equal(store_tasks_insert(f->st, id[0], rows, 5, &err), 0);
    assert_int_equal(store_task_query(f->st, id[0], "done", NULL, 2, 1, &tasks, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(tasks[0].idx, 2);
    assert_int_equal(tasks[1].idx, 3);
    store_task_rows_free(tasks, n);
    assert_int_equal(store_task_count(f->st, id[0], "done", "z", &total, &err), 0);
    assert_int_equal(total, 2);
    assert_int_equal(store_node_counts(f->st, id[0], &nodes, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(nodes[0].node, "z");
    assert_int_equal(nodes[0].total, 3);
    assert_int_equal(nodes[0].count[STORE_TASK_FAILED], 1);
    assert_int_equal(nodes[0].count[STORE_TASK_DONE], 2);
    assert_string_equal(nodes[1].node, "a");
    assert_int_equal(nodes[1].count[STORE_TASK_DONE], 2);
    store_node_counts_free(nodes, n);

    for (int i = 0; i < 7; i++)
        assert_int_equal(store_event_append(f->st, id[i % 2], -1, "k", "m", &err), 0);
    assert_int_equal(store_event_recent(f->st, id[0], 2, &ev, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_true(ev[0].id < ev[1].id);
    assert_int_equal(ev[1].run, id[0]);
    store_event_list_free(ev, n);

    key_of(70, a);
    assert_int_equal(store_artifact_get(f->st, a, &art, &err), SIEVE_ENOENT);
    write_object(f->st, a, 4);
    assert_int_equal(
        store_artifact_index(f->st, &(struct store_artifact){.key = a, .run = id[0]}, &err), 0);
    assert_int_equal(store_artifact_get(f->st, a, &art, &err), 0);
    assert_string_equal(art.key, a);
    assert_int_equal(art.run, id[0]);
    assert_int_equal(strlen(art.checksum), 64);
    assert_true(art.bytes > 0);
}

static void
test_store__media_hash_is_remembered_by_size_and_mtime(void **state)
{
    struct fixture *f = *state;
    struct sieve_errbuf err = {{0}};
    char path[512], h1[HASH_HEX_LEN], h2[HASH_HEX_LEN], h3[HASH_HEX_LEN];
    struct stat sb;
    struct timespec times[2];
    FILE *fp;

    snprintf(path, sizeof path, "%s/clip.mp4", f->dir);
    fp = fopen(path, "w");
    fputs("aaaa", fp);
    fclose(fp);
    assert_int_equal(store_media_hash(f->st, path, h1, &err), 0);
    assert_int_equal(stat(path, &sb), 0);
    /* same size and mtime: the remembered hash, without reading the file */
    fp = fopen(path, "w");
    fputs("bbbb", fp);
    fclose(fp);
    times[0] = sb.st_atim;
    times[1] = sb.st_mtim;
    assert_int_equal(utimensat(AT_FDCWD, path, times, 0), 0);
    assert_int_equal(store_media_hash(f->st, path, h2, &err), 0);
    assert_string_equal(h1, h2);
    /* a changed mtime: hashed again */
    times[1].tv_sec -= 10;
    assert_int_equal(utimensat(AT_FDCWD, path, times, 0), 0);
    assert_int_equal(store_media_hash(f->st, path, h3, &err), 0);
    assert_string_not_equal(h1, h3);
    assert_int_equal(store_media_hash(f->st, "/nonexistent/x.mp4", h3, &err), SIEVE_ENOENT);
}

static void
test_store__size_parse(void **state)
{
    uint64_t v;
    (void)state;
    assert_int_equal(store_size_parse("500M", &v), 0);
    assert_int_equal(v, 500ull << 20);
    assert_int_equal(store_size_parse("2G", &v), 0);
    assert_int_equal(v, 2ull << 30);
    assert_int_equal(store_size_parse("1024", &v), 0);
    assert_int_equal(v, 1024);
    assert_int_equal(store_size_parse("3kb", &v), 0);
    assert_int_equal(v, 3072);
    assert_int_equal(store_size_parse("-1", &v), SIEVE_EINVAL);
    assert_int_equal(store_size_parse("12Q", &v), SIEVE_EINVAL);
    assert_int_equal(store_size_parse("", &v), SIEVE_EINVAL);
}

/* A chain a -> b -> c and a side branch a -> d, plus an unrelated e: invalidating a drops b, c
 * and d with their metric rows but not e, and not a's producer's rows. */
static void
test_store__invalidate_follows_edges_to_the_end(void **state)
{
    struct fixture *f = *state;
    struct sieve_errbuf err = {{0}};
    char k[5][HASH_HEX_LEN], tk[5][HASH_HEX_LEN], path[STORE_PATH_MAX], problem[128];
    int64_t run;
    uint64_t bytes;
    for (int i = 0; i < 5; i++) {
        key_of(100 + i, k[i]);
        key_of(200 + i, tk[i]);
        write_object(f->st, k[i], 8);
        assert_int_equal(store_artifact_index(f->st, &(struct store_artifact){.key = k[i]}, &err),
                         0);
    }
    assert_int_equal(store_run_create(f->st, "r", "p.yaml", "", &run, &err), 0);
    const char *out[5][1] = {{k[0]}, {k[1]}, {k[2]}, {k[3]}, {k[4]}};
    const char *in_b[] = {k[0]}, *in_c[] = {k[1]}, *in_d[] = {k[0]};
    struct store_task rows[5] = {
        {.idx = 0, .node = "a", .key = tk[0], .out_keys = out[0], .n_out = 1},
        {.idx = 1,
         .node = "b",
         .key = tk[1],
         .out_keys = out[1],
         .n_out = 1,
         .in_keys = in_b,
         .n_in = 1},
        {.idx = 2,
         .node = "c",
         .key = tk[2],
         .out_keys = out[2],
         .n_out = 1,
         .in_keys = in_c,
         .n_in = 1},
        {.idx = 3,
         .node = "d",
         .key = tk[3],
         .out_keys = out[3],
         .n_out = 1,
         .in_keys = in_d,
         .n_in = 1},
        {.idx = 4, .node = "e", .key = tk[4], .out_keys = out[4], .n_out = 1},
    };
    assert_int_equal(store_tasks_insert(f->st, run, rows, 5, &err), 0);
    struct store_metric m[5];
    for (int i = 0; i < 5; i++)
        m[i] = (struct store_metric){.run = run,
                                     .node = rows[i].node,
                                     .variant = "{}",
                                     .metric = "v",
                                     .value = i,
                                     .task_key = tk[i]};
    assert_int_equal(store_metrics_insert(f->st, m, 5, &err), 0);
    for (int i = 0; i < 5; i++)
        assert_int_equal(store_task_update(f->st, run, (uint32_t)i,
                                           &(struct store_task_update){.state = STORE_TASK_DONE,
                                                                       .attempts = -1,
                                                                       .started_ms = -1,
                                                                       .finished_ms = -1},
                                           &err),
                         0);

    assert_int_equal(store_artifact_check(f->st, k[0], &bytes, problem, sizeof problem, &err), 1);
    assert_true(bytes > 0);
    assert_int_equal(store_object_path(f->st, k[0], path, sizeof path, 0), 0);
    FILE *fp = fopen(path, "r+b");
    fseek(fp, -1, SEEK_END);
    fputc(0x55, fp);
    fclose(fp);
    assert_int_equal(store_artifact_check(f->st, k[0], &bytes, problem, sizeof problem, &err), 0);
    assert_string_equal(problem, "checksum mismatch");

    const char *bad[] = {k[0]};
    assert_int_equal(store_artifact_invalidate(f->st, bad, 1, NULL, NULL, &err), 3);
    assert_int_equal(lookup1(f->st, k[0]), 0);
    assert_int_equal(lookup1(f->st, k[1]), 0);
    assert_int_equal(lookup1(f->st, k[2]), 0);
    assert_int_equal(lookup1(f->st, k[3]), 0);
    assert_int_equal(lookup1(f->st, k[4]), 1);
    assert_int_equal(store_object_path(f->st, k[2], path, sizeof path, 0), 0);
    assert_int_equal(access(path, F_OK), -1);
    struct store_metric *got;
    size_t n;
    assert_int_equal(store_metrics_query(f->st, run, NULL, &got, &n, &err), 0);
    assert_int_equal(n, 2); /* a (its object was whole when it reported) and e */
    assert_string_equal(got[0].node, "a");
    assert_string_equal(got[1].node, "e");
    store_metric_rows_free(got, n);
    assert_int_equal(store_artifact_check(f->st, k[1], &bytes, problem, sizeof problem, &err), 0);
    assert_string_equal(problem, "not indexed");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_store__open_creates_layout_and_wal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store__migrates_an_older_schema, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store__states_are_written_by_name, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_store__batch_commits_detached_writes_while_new_ones_queue, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_store__crash_before_index_leaves_orphan_that_gc_removes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store__corrupt_or_missing_object_is_a_miss, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_store__gc_evicts_lru_first_and_respects_pins, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_store__runs_tasks_metrics_events_devices, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_store__pages_counts_recent_events_and_artifact_rows,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_store__media_hash_is_remembered_by_size_and_mtime,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_store__invalidate_follows_edges_to_the_end, setup,
                                        teardown),
        cmocka_unit_test(test_store__size_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
