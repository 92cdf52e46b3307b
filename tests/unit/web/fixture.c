/*
 * fixture.c - the temporary store of the web tests (see fixture.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/bundle.h"
#include "store/store.h"
#include "fixture.h"

static void
put_bundle(struct fixture *f, const char *key, struct bundle *b)
{
    struct sieve_errbuf err;
    char path[STORE_PATH_MAX];
    assert_int_equal(store_object_path(f->st, key, path, sizeof path, 1), 0);
    if (bundle_write(b, path, &err) < 0)
        fail_msg("bundle_write: %s", err.msg);
    if (store_artifact_index(f->st, &(struct store_artifact){.key = key, .run = f->run1}, &err) < 0)
        fail_msg("index: %s", err.msg);
    bundle_free(b);
}

void
fixture_make(struct fixture *f)
{
    struct sieve_errbuf err;
    memset(f, 0, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/sieve-web-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    if (store_open(f->dir, &f->st, &err) < 0)
        fail_msg("store_open: %s", err.msg);
    assert_int_equal(
        store_run_create(f->st, "sweep-a", "/p/a.yaml", "name: sweep-a\n", &f->run1, &err), 0);
    assert_int_equal(
        store_run_create(f->st, "sweep-b", "/p/b.yaml", "name: sweep-b\n", &f->run2, &err), 0);
    assert_int_equal(store_run_set_state(f->st, f->run2, STORE_RUN_DONE, NULL, &err), 0);

    /* run1: decode × 3 samples, evaluate × 3 (two variants); states mixed. */
    static const char *const nodes[] = {"decode", "evaluate"};
    static const enum store_task_state states[] = {
        STORE_TASK_DONE, STORE_TASK_CACHED, STORE_TASK_RUNNING,
        STORE_TASK_DONE, STORE_TASK_FAILED, STORE_TASK_PENDING,
    };
    struct store_task rows[6];
    char keys[6][65];
    for (int i = 0; i < 6; i++) {
        snprintf(keys[i], sizeof keys[i], "%064x", 0xa0 + i);
        rows[i] = (struct store_task){.run = f->run1,
                                      .idx = (uint32_t)i,
                                      .node = nodes[i / 3],
                                      .sample_index = i % 3,
                                      .sample = "clip",
                                      .variant = (uint32_t)(i % 2),
                                      .variant_label = i % 2 ? "{\"keep\":0.5}" : "{\"keep\":0.25}",
                                      .key = keys[i],
                                      .components = "{}",
                                      .state = states[i]};
    }
    assert_int_equal(store_tasks_insert(f->st, f->run1, rows, 6, &err), 0);
    struct store_metric m[] = {
        {f->run1, "evaluate", "{\"keep\":0.25}", NULL, "Music", "retention", 0.6, NULL},
        {f->run1, "evaluate", "{\"keep\":0.25}", NULL, "all", "retention", 0.61, NULL},
        {f->run1, "evaluate", "{\"keep\":0.5}", NULL, "Music", "retention", 0.8, NULL},
        {f->run1, "evaluate", "{\"keep\":0.5}", NULL, "all", "retention", 0.81, NULL},
    };
    assert_int_equal(store_metrics_insert(f->st, m, 4, &err), 0);
    for (int i = 0; i < 60; i++)
        assert_int_equal(store_event_append(f->st, f->run1, i % 6, "progress", "step", &err), 0);
    assert_int_equal(store_device_upsert(f->st, "fake:0", "healthy", "{\"kind\":\"fake\"}", &err),
                     0);
    char log[STORE_PATH_MAX];
    assert_int_equal(store_log_path(f->st, f->run1, 0, log, sizeof log, 1), 0);
    FILE *lf = fopen(log, "w");
    assert_non_null(lf);
    fputs("decode: 4 frames\n", lf);
    fclose(lf);

    /* A decode-like bundle: 4 frames of 56 × 84 RGB, pixel value = frame index. */
    struct bundle *b = bundle_new();
    struct sieve_tensor *t;
    assert_int_equal(
        bundle_tensor_new(b, "frames", SIEVE_DTYPE_U8, 4, (int64_t[]){4, 56, 84, 3}, &t, &err), 0);
    for (int i = 0; i < 4; i++)
        memset((uint8_t *)t->data + (size_t)i * 56 * 84 * 3, i, 56 * 84 * 3);
    assert_int_equal(bundle_meta_set(b, "width", "84", &err), 0);
    snprintf(f->frames_key, sizeof f->frames_key, "%064x", 0xf1);
    put_bundle(f, f->frames_key, b);
    /* A prune-visual-like bundle: 2 groups of a 2 × 3 grid. */
    b = bundle_new();
    assert_int_equal(
        bundle_tensor_new(b, "mask", SIEVE_DTYPE_BOOL, 3, (int64_t[]){2, 2, 3}, &t, &err), 0);
    static const uint8_t bits[12] = {1, 0, 1, 0, 0, 1, 1, 1, 1, 1, 1, 0};
    memcpy(t->data, bits, sizeof bits);
    snprintf(f->mask_key, sizeof f->mask_key, "%064x", 0xf2);
    put_bundle(f, f->mask_key, b);
}

void
fixture_free(struct fixture *f)
{
    char cmd[128];
    store_close(f->st);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
}
