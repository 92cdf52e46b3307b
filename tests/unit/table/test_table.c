/*
 * test_table.c - the results table on in-memory metric rows: layout (variants × categories
 * + Avg), metric choice, per-sample fallback, pivot, and the four output formats; and the
 * rows behind `sieve table` in a store: a cached task shows the rows of its task key, and a
 * store from before keyed rows (schema 2) keeps its tables.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <sqlite3.h>

#include "core/table/table.h"
#include "store/store.h"

/* Two methods × two keep ratios, categories Music and Daily Life, aggregate rows. */
static const struct table_input rows[] = {
    {"{\"vmethod\":\"uniform\",\"keep\":0.5}", NULL, "Music", "retention", 0.81},
    {"{\"vmethod\":\"uniform\",\"keep\":0.5}", NULL, "Daily Life", "retention", 0.79},
    {"{\"vmethod\":\"uniform\",\"keep\":0.5}", NULL, "all", "retention", 0.8},
    {"{\"vmethod\":\"dycoke\",\"keep\":0.25}", NULL, "Music", "retention", 0.61},
    {"{\"vmethod\":\"dycoke\",\"keep\":0.25}", NULL, "Daily Life", "retention", 0.59},
    {"{\"vmethod\":\"dycoke\",\"keep\":0.25}", NULL, "all", "retention", 0.6},
    {"{\"vmethod\":\"dycoke\",\"keep\":0.5}", NULL, "Music", "retention", 0.91},
    {"{\"vmethod\":\"dycoke\",\"keep\":0.5}", NULL, "all", "retention", 0.9},
    {"{\"vmethod\":\"uniform\",\"keep\":0.25}", NULL, "all", "retention", 0.5},
    {"{\"vmethod\":\"dycoke\",\"keep\":0.5}", NULL, "all", "coverage", 0.7},
    /* A per-sample row of the same metric is ignored while aggregates exist. */
    {"{\"vmethod\":\"dycoke\",\"keep\":0.5}", "clip1", "Music", "retention", 0.0},
};
#define N_ROWS (sizeof rows / sizeof rows[0])

/* Renders a table to a string. Ownership: the caller frees it. */
static char *
render(const struct table_input *in, size_t n, const struct table_opts *o, int format)
{
    struct table *t;
    struct sieve_errbuf err;
    char *buf = NULL;
    size_t len = 0;
    if (table_build(in, n, o, &t, &err) < 0)
        fail_msg("table_build: %s", err.msg);
    FILE *f = open_memstream(&buf, &len);
    assert_int_equal(table_write(t, format, f), 0);
    fclose(f);
    table_free(t);
    return buf;
}

static void
test_table__markdown_variants_by_categories(void **st)
{
    (void)st;
    char *md = render(rows, N_ROWS, NULL, TABLE_MD);
    /* Variables in label order, categories sorted, Avg last; rows sorted by value. */
    const char *want = "| vmethod | keep | Daily Life | Music | Avg |\n"
                       "|---------|------|-----------:|------:|----:|\n"
                       "| dycoke  | 0.25 |       0.59 |  0.61 | 0.6 |\n"
                       "| dycoke  | 0.5  |          - |  0.91 | 0.9 |\n"
                       "| uniform | 0.25 |          - |     - | 0.5 |\n"
                       "| uniform | 0.5  |       0.79 |  0.81 | 0.8 |\n";
    assert_string_equal(md, want);
    free(md);
}

static void
test_table__csv_quotes_and_full_precision(void **st)
{
    (void)st;
    const struct table_input in[] = {
        {"{\"method\":\"a,b\"}", NULL, "Tech & Science", "acc", 1.0 / 3.0},
        {"{\"method\":\"a,b\"}", NULL, "all", "acc", 0.25},
    };
    struct table_opts o = {.metric = "acc"};
    char *csv = render(in, 2, &o, TABLE_CSV);
    assert_string_equal(csv, "method,Tech & Science,Avg\n\"a,b\",0.33333333333333331,0.25\n");
    free(csv);
}

static void
test_table__json_keeps_numbers_and_nulls(void **st)
{
    (void)st;
    struct table_opts o = {.metric = "retention"};
    char *js = render(rows, N_ROWS, &o, TABLE_JSON);
    assert_non_null(strstr(js, "\"metric\": \"retention\""));
    assert_non_null(strstr(js, "\"keep\": 0.25"));          /* a number, not "0.25" */
    assert_non_null(strstr(js, "\"vmethod\": \"dycoke\"")); /* a string */
    assert_non_null(strstr(js, "\"Daily Life\": null"));
    assert_non_null(strstr(js, "\"Avg\": 0.90000000000000002"));
    free(js);
}

static void
test_table__latex_escapes(void **st)
{
    (void)st;
    const struct table_input in[] = {
        {"{\"m\":\"top_k\"}", NULL, "Tech & Science", "r", 0.5},
        {"{\"m\":\"top_k\"}", NULL, "all", "r", 0.5},
    };
    char *tex = render(in, 2, NULL, TABLE_LATEX);
    assert_string_equal(tex, "\\begin{tabular}{l|rr}\n\\hline\n"
                             "m & Tech \\& Science & Avg \\\\\n\\hline\n"
                             "top\\_k & 0.5 & 0.5 \\\\\n"
                             "\\hline\n\\end{tabular}\n");
    free(tex);
}

static void
test_table__pivot_puts_values_in_columns(void **st)
{
    (void)st;
    struct table_opts o = {.pivot = "keep"};
    char *md = render(rows, N_ROWS, &o, TABLE_MD);
    const char *want = "| vmethod | 0.25 | 0.5 |\n"
                       "|---------|-----:|----:|\n"
                       "| dycoke  |  0.6 | 0.9 |\n"
                       "| uniform |  0.5 | 0.8 |\n";
    assert_string_equal(md, want);
    free(md);
    /* Pivot cells of one category. */
    o.category = "Music";
    md = render(rows, N_ROWS, &o, TABLE_CSV);
    assert_string_equal(md, "vmethod,0.25,0.5\ndycoke,0.60999999999999999,0.91000000000000003\n"
                            "uniform,,0.81000000000000005\n");
    free(md);
}

static void
test_table__metric_choice_and_errors(void **st)
{
    (void)st;
    struct table *t;
    struct sieve_errbuf err;
    struct table_opts o = {.metric = "coverage"};
    assert_int_equal(table_build(rows, N_ROWS, &o, &t, &err), 0);
    assert_string_equal(table_metric(t), "coverage");
    table_free(t);
    assert_int_equal(table_build(rows, N_ROWS, NULL, &t, &err), 0);
    assert_string_equal(table_metric(t), "retention"); /* the default */
    table_free(t);
    o.metric = "nope";
    assert_int_equal(table_build(rows, N_ROWS, &o, &t, &err), SIEVE_ENOENT);
    assert_non_null(strstr(err.msg, "'nope'"));
    assert_non_null(strstr(err.msg, "coverage")); /* the message lists what there is */
    struct table_opts p = {.pivot = "lr"};
    assert_int_equal(table_build(rows, N_ROWS, &p, &t, &err), SIEVE_EINVAL);
    assert_non_null(strstr(err.msg, "'lr'"));
    const struct table_input bad[] = {{"[1]", NULL, "all", "r", 1}};
    assert_int_equal(table_build(bad, 1, NULL, &t, &err), SIEVE_EINVAL);
    assert_null(t);
}

static void
test_table__per_sample_rows_are_averaged(void **st)
{
    (void)st;
    const struct table_input in[] = {
        {"{\"keep\":0.5}", "a", "Music", "keep", 0.4},
        {"{\"keep\":0.5}", "b", "Music", "keep", 0.6},
        {"{\"keep\":0.5}", "c", "Sports", "keep", 0.8},
        {"{}", "c", "Sports", "other", 1},
    };
    struct table_opts o = {.metric = "keep"};
    char *csv = render(in, 4, &o, TABLE_CSV);
    /* Music mean 0.5, Sports 0.8, Avg over the three samples 0.6. */
    assert_string_equal(csv, "keep,Music,Sports,Avg\n0.5,0.5,0.80000000000000004,"
                             "0.59999999999999998\n");
    free(csv);
}

/* `sieve table` end to end over a temporary store with stored metric rows. */
static void
test_table__cli_reads_store_rows(void **st)
{
    (void)st;
    char dir[] = "/tmp/sieve-table-XXXXXX", cmd[1024], out[4096];
    struct sieve_errbuf err;
    struct store *s;
    int64_t run;
    assert_non_null(mkdtemp(dir));
    assert_int_equal(store_open(dir, &s, &err), 0);
    assert_int_equal(store_run_create(s, "sweep", "p.yaml", "name: sweep", &run, &err), 0);
    struct store_metric m[N_ROWS];
    for (size_t i = 0; i < N_ROWS; i++)
        m[i] = (struct store_metric){run,
                                     "summary",
                                     rows[i].variant,
                                     rows[i].sample,
                                     rows[i].category,
                                     rows[i].metric,
                                     rows[i].value,
                                     NULL};
    if (store_metrics_insert(s, m, N_ROWS, &err) < 0)
        fail_msg("insert: %s", err.msg);
    store_close(s);

    snprintf(cmd, sizeof cmd, "%s table sweep --store %s --pivot keep --format csv", SIEVE_BINARY,
             dir);
    FILE *p = popen(cmd, "r");
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    assert_int_equal(pclose(p), 0);
    assert_string_equal(out, "vmethod,0.25,0.5\ndycoke,0.59999999999999998,0.90000000000000002\n"
                             "uniform,0.5,0.80000000000000004\n");
    snprintf(cmd, sizeof cmd, "%s table last --store %s --metric nope 2>/dev/null", SIEVE_BINARY,
             dir);
    p = popen(cmd, "r");
    assert_int_equal(WEXITSTATUS(pclose(p)), 3);
    snprintf(cmd, sizeof cmd, "%s table 99 --store %s 2>/dev/null", SIEVE_BINARY, dir);
    p = popen(cmd, "r");
    assert_int_equal(WEXITSTATUS(pclose(p)), 3);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

/* A task row for store_tasks_insert. */
static struct store_task
task(uint32_t idx, const char *node, const char *sample, const char *variant, const char *key,
     enum store_task_state state)
{
    struct store_task t;
    memset(&t, 0, sizeof t);
    t.idx = idx;
    t.node = node;
    t.sample_index = sample ? 0 : -1;
    t.sample = sample;
    t.variant_label = variant;
    t.key = key;
    t.components = "{}";
    t.state = state;
    return t;
}

/* The output of `sieve <args> --store dir` (a test failure when it does not exit 0). */
static char *
sieve_out(const char *dir, const char *args)
{
    char cmd[1024], *buf = malloc(8192);
    snprintf(cmd, sizeof cmd, "%s %s --store %s", SIEVE_BINARY, args, dir);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(buf, 1, 8191, p);
    buf[n] = '\0';
    assert_int_equal(pclose(p), 0);
    return buf;
}

static void
remove_tree(const char *dir)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

static void
test_table__cached_task_shows_rows_of_its_key(void **st)
{
    (void)st;
    char dir[] = "/tmp/sieve-table-XXXXXX";
    struct sieve_errbuf err;
    struct store *s;
    int64_t r1, r2, r3;
    const char *k1 = "aa11", *k2 = "bb22", *k3 = "cc33";
    const char *v = "{\"keep\":0.5}";
    assert_non_null(mkdtemp(dir));
    assert_int_equal(store_open(dir, &s, &err), 0);
    /* Run 1 computed the reduce task (key k1) and a per-sample task (k2). */
    assert_int_equal(store_run_create(s, "a", "p.yaml", "", &r1, &err), 0);
    struct store_task t1[2] = {task(0, "summary", NULL, v, k1, STORE_TASK_DONE),
                               task(1, "score", "clip1", v, k2, STORE_TASK_DONE)};
    assert_int_equal(store_tasks_insert(s, r1, t1, 2, &err), 0);
    struct store_metric m1[3] = {
        {r1, "summary", v, NULL, "all", "retention", 0.9, k1},
        {r1, "summary", v, NULL, "Music", "retention", 0.8, k1},
        {r1, "score", v, "clip1", "Music", "retention", 0.7, k2},
    };
    assert_int_equal(store_metrics_insert(s, m1, 3, &err), 0);
    /* Run 2: the same keys under other node names, cached, nothing inserted for them; k3 ran
     * and k1 failed under a third node (a failed task shows nothing). */
    assert_int_equal(store_run_create(s, "a", "p.yaml", "", &r2, &err), 0);
    struct store_task t2[4] = {task(0, "reduce", NULL, v, k1, STORE_TASK_CACHED),
                               task(1, "eval", "clip1", v, k2, STORE_TASK_CACHED),
                               task(2, "reduce", NULL, "{\"keep\":0.25}", k3, STORE_TASK_DONE),
                               task(3, "broken", NULL, v, k1, STORE_TASK_FAILED)};
    assert_int_equal(store_tasks_insert(s, r2, t2, 4, &err), 0);
    struct store_metric m2 = {r2, "reduce", "{\"keep\":0.25}", NULL, "all", "retention", 0.5, k3};
    assert_int_equal(store_metrics_insert(s, &m2, 1, &err), 0);
    assert_int_equal(store_run_create(s, "a", "p.yaml", "", &r3, &err), 0);
    struct store_task t3 = task(0, "reduce", NULL, v, k1, STORE_TASK_CACHED);
    assert_int_equal(store_tasks_insert(s, r3, &t3, 1, &err), 0);

    struct store_metric *got;
    size_t n;
    assert_int_equal(store_metrics_query(s, r2, NULL, &got, &n, &err), 0);
    assert_int_equal(n, 4); /* in task order, labelled as run 2's tasks */
    assert_string_equal(got[0].node, "reduce");
    assert_string_equal(got[0].variant, v);
    assert_string_equal(got[2].node, "eval");
    assert_string_equal(got[2].sample, "clip1");
    assert_float_equal(got[2].value, 0.7, 0);
    assert_string_equal(got[3].variant, "{\"keep\":0.25}");
    for (size_t i = 0; i < n; i++)
        assert_int_equal(got[i].run, r2);
    store_metric_rows_free(got, n);
    assert_int_equal(store_metrics_query(s, r2, "reduce", &got, &n, &err), 0);
    assert_int_equal(n, 3);
    store_metric_rows_free(got, n);
    assert_int_equal(store_metrics_query(s, r3, NULL, &got, &n, &err), 0);
    assert_int_equal(n, 2);
    store_metric_rows_free(got, n);

    /* A key computed again (its artifact was evicted) replaces its rows in every run. */
    struct store_metric again = {r3, "reduce", v, NULL, "all", "retention", 0.95, k1};
    assert_int_equal(store_metrics_insert(s, &again, 1, &err), 0);
    assert_int_equal(store_metrics_query(s, r1, "summary", &got, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_float_equal(got[0].value, 0.95, 0);
    store_metric_rows_free(got, n);
    store_close(s);

    /* `sieve table` of run 3 (all cached) and run 1 show the same cell. */
    char *a = sieve_out(dir, "table 3 --format csv"), *b = sieve_out(dir, "table 1 --format csv");
    assert_string_equal(a, "keep,Avg\n0.5,0.94999999999999996\n");
    assert_non_null(strstr(b, "0.5,0.94999999999999996\n"));
    free(a);
    free(b);
    remove_tree(dir);
}

/* Writes SQL into a store's database (a store as an older sieve left it). */
static void
exec_sql(const char *dir, const char *sql)
{
    char path[256];
    sqlite3 *db;
    snprintf(path, sizeof path, "%s/sieve.db", dir);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
        fail_msg("sql: %s", sqlite3_errmsg(db));
    sqlite3_close(db);
}

static void
test_table__migrated_store_keeps_its_tables(void **st)
{
    (void)st;
    char dir[] = "/tmp/sieve-table-XXXXXX";
    struct sieve_errbuf err;
    struct store *s;
    int64_t r1, r2, r3;
    const char *v1 = "{\"keep\":0.5}", *v2 = "{\"keep\":0.25}";
    assert_non_null(mkdtemp(dir));
    /* Schema 2: metric rows belong to (run, node, variant). Run 1 computed two reduce tasks
     * and four per-sample tasks, run 2 reused them all, run 3 has rows but no task rows. */
    assert_int_equal(store_open_version(dir, 2, &s, &err), 0);
    assert_int_equal(store_run_create(s, "a", "p.yaml", "", &r1, &err), 0);
    assert_int_equal(store_run_create(s, "a", "p.yaml", "", &r2, &err), 0);
    assert_int_equal(store_run_create(s, "b", "q.yaml", "", &r3, &err), 0);
    struct store_task t[6] = {
        task(0, "score", "c1", v1, "k1", STORE_TASK_DONE),
        task(1, "score", "c2", v1, "k2", STORE_TASK_DONE),
        task(2, "score", "c1", v2, "k3", STORE_TASK_DONE),
        task(3, "score", "c2", v2, "k4", STORE_TASK_DONE),
        task(4, "summary", NULL, v1, "k5", STORE_TASK_DONE),
        task(5, "summary", NULL, v2, "k6", STORE_TASK_DONE),
    };
    assert_int_equal(store_tasks_insert(s, r1, t, 6, &err), 0);
    for (int i = 0; i < 6; i++)
        t[i].state = STORE_TASK_CACHED;
    assert_int_equal(store_tasks_insert(s, r2, t, 6, &err), 0);
    store_close(s);
    exec_sql(dir, "INSERT INTO metrics(run, node, variant, sample, category, metric, value)"
                  " VALUES"
                  " (1, 'summary', '{\"keep\":0.5}', NULL, 'all', 'retention', 0.9),"
                  " (1, 'summary', '{\"keep\":0.25}', NULL, 'all', 'retention', 0.6),"
                  " (1, 'score', '{\"keep\":0.5}', 'c1', 'all', 'coverage', 0.4),"
                  " (1, 'score', '{\"keep\":0.5}', 'c2', 'all', 'coverage', 0.2),"
                  " (1, 'score', '{\"keep\":0.25}', 'c1', 'all', 'coverage', 0.3),"
                  " (1, 'score', '{\"keep\":0.25}', 'c2', 'all', 'coverage', 0.1),"
                  " (3, 'eval', '{\"keep\":0.5}', NULL, 'all', 'retention', 0.7);");

    const char *want_ret = "keep,Avg\n0.25,0.59999999999999998\n0.5,0.90000000000000002\n";
    const char *want_cov = "keep,Avg\n0.25,0.20000000000000001\n0.5,0.30000000000000004\n";
    char *o = sieve_out(dir, "table 1 --format csv");
    assert_string_equal(o, want_ret);
    free(o);
    /* the cached run shows what it reused, through the keys the migration gave the rows */
    o = sieve_out(dir, "table 2 --format csv");
    assert_string_equal(o, want_ret);
    free(o);
    o = sieve_out(dir, "table 2 --format csv --metric coverage");
    assert_string_equal(o, want_cov);
    free(o);
    /* rows no task claims stay rows of their run */
    o = sieve_out(dir, "table 3 --format csv");
    assert_string_equal(o, "keep,Avg\n0.5,0.69999999999999996\n");
    free(o);
    assert_int_equal(store_open(dir, &s, &err), 0);
    assert_int_equal(store_schema_version(s), STORE_SCHEMA_VERSION);
    struct store_metric *got;
    size_t n;
    assert_int_equal(store_metrics_query(s, r2, "score", &got, &n, &err), 0);
    assert_int_equal(n, 4);
    assert_string_equal(got[0].task_key, "k1");
    assert_string_equal(got[3].task_key, "k4");
    store_metric_rows_free(got, n);
    store_close(s);
    remove_tree(dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table__markdown_variants_by_categories),
        cmocka_unit_test(test_table__csv_quotes_and_full_precision),
        cmocka_unit_test(test_table__json_keeps_numbers_and_nulls),
        cmocka_unit_test(test_table__latex_escapes),
        cmocka_unit_test(test_table__pivot_puts_values_in_columns),
        cmocka_unit_test(test_table__metric_choice_and_errors),
        cmocka_unit_test(test_table__per_sample_rows_are_averaged),
        cmocka_unit_test(test_table__cli_reads_store_rows),
        cmocka_unit_test(test_table__cached_task_shows_rows_of_its_key),
        cmocka_unit_test(test_table__migrated_store_keeps_its_tables),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
