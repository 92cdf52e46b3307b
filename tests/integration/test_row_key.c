/*
 * test_row_key.c - the manifest row fields a plugin reads are in its task key: relabelling a
 * clip recomputes that clip's tasks of plugins that read the category (and only those), and
 * two rows on one media file are two results for such a plugin while sharing the work of the
 * plugins that read only the media.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "sched_util.h"
#include "store/store.h"

/* src reads only the media; ev (sched-count with a metric) declares id and category. */
static const char *pipeline = "name: t\n"
                              "dataset: { manifest: clips.jsonl }\n"
                              "nodes:\n"
                              "  src: { plugin: sched-source, with: { log: \"%1$s\" } }\n"
                              "  ev: { plugin: sched-count, in: { in: src }, with: { add: 1,"
                              " log: \"%1$s\", metric: true } }\n";

static void
write_manifest(struct ws *w, const char *text)
{
    char path[400];
    ws_path(w, "clips.jsonl", path, sizeof path);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void
test_row_key__relabelled_clip_is_recomputed_with_its_new_category(void **state)
{
    (void)state;
    struct ws w;
    ws_init(&w, 4);
    ws_pipeline(&w, pipeline);
    const char *run[] = {"run", "--devices", "cpu:2", "p.yaml", NULL};
    assert_int_equal(ws_sieve(&w, 60, run), 0);
    assert_int_equal(ws_exec_count(&w, ""), 8);
    write_manifest(&w, "{\"id\":\"clip00\",\"media\":\"clip00.bin\",\"category\":\"c0\"}\n"
                       "{\"id\":\"clip01\",\"media\":\"clip01.bin\",\"category\":\"relabelled\"}\n"
                       "{\"id\":\"clip02\",\"media\":\"clip02.bin\",\"category\":\"c0\"}\n"
                       "{\"id\":\"clip03\",\"media\":\"clip03.bin\",\"category\":\"c1\"}\n");
    assert_int_equal(ws_sieve(&w, 60, run), 0);
    /* only clip01's ev ran again; its source reads only the media and stayed cached */
    assert_int_equal(ws_exec_count(&w, ""), 9);
    assert_int_equal(ws_exec_count(&w, "ev/clip01/"), 2);
    assert_int_equal(ws_exec_count(&w, "src/clip01/"), 1);
    char *t = ws_table_csv(&w, "last");
    assert_non_null(strstr(t, "relabelled"));
    free(t);
    /* explain names the row field */
    char cmd[1200], out[400];
    ws_path(&w, "explain.txt", out, sizeof out);
    snprintf(cmd, sizeof cmd, "cd '%s' && '%s' explain last ev > '%s' 2>&1", w.dir, SIEVE_BINARY,
             out);
    assert_int_equal(system(cmd), 0);
    char *e = ws_read(out);
    assert_non_null(strstr(e, "row field 'category': \"c1\" -> \"relabelled\"  (1 task"));
    free(e);
    ws_release(&w);
}

static void
test_row_key__two_rows_on_one_media_file_are_two_results(void **state)
{
    (void)state;
    struct ws w;
    ws_init(&w, 2);
    ws_pipeline(&w, pipeline);
    /* several questions about one video: the common case */
    write_manifest(&w, "{\"id\":\"q1\",\"media\":\"clip00.bin\",\"category\":\"a\"}\n"
                       "{\"id\":\"q2\",\"media\":\"clip00.bin\",\"category\":\"b\"}\n"
                       "{\"id\":\"q3\",\"media\":\"clip01.bin\",\"category\":\"a\"}\n");
    const char *run[] = {"run", "--devices", "cpu:2", "p.yaml", NULL};
    assert_int_equal(ws_sieve(&w, 60, run), 0);
    assert_int_equal(ws_exec_count(&w, "ev/"), 3);
    struct store *st;
    struct store_metric *rows;
    size_t n;
    struct sieve_errbuf err;
    assert_int_equal(store_open(w.store, &st, &err), 0);
    assert_int_equal(store_metrics_query(st, 1, "ev", &rows, &n, &err), 0);
    assert_int_equal(n, 3);
    int seen = 0;
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(rows[i].sample, "q1"))
            seen |= 1, assert_string_equal(rows[i].category, "a");
        if (!strcmp(rows[i].sample, "q2"))
            seen |= 2, assert_string_equal(rows[i].category, "b");
        if (!strcmp(rows[i].sample, "q3"))
            seen |= 4;
    }
    assert_int_equal(seen, 7);
    store_metric_rows_free(rows, n);
    store_close(st);
    ws_release(&w);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_row_key__relabelled_clip_is_recomputed_with_its_new_category,
                                  ws_teardown),
        cmocka_unit_test_teardown(test_row_key__two_rows_on_one_media_file_are_two_results,
                                  ws_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
