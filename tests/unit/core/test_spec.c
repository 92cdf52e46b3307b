/*
 * test_spec.c - the pipeline spec: the malformed corpus (every diagnostic exact), anchors and
 * merge keys, ${var} substitution with types, datasets (JSONL, CSV, glob, limit, relative
 * media paths) and --set overrides.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/host/host.h"
#include "core/spec/spec.h"

#define BAD_DIR SIEVE_FIXTURES "/pipelines/bad"
#define GOOD_DIR SIEVE_FIXTURES "/pipelines/good"

static struct host_registry *reg;

static int
setup(void **state)
{
    struct sieve_errbuf err = {{0}};
    (void)state;
    if (host_registry_scan(SIEVE_PIPELINE_PLUGIN_DIR, &reg, &err) < 0)
        return -1;
    return host_registry_find(reg, "tp-prune") ? 0 : -1;
}

static int
teardown(void **state)
{
    (void)state;
    host_registry_free(reg);
    return 0;
}

/* Loads and validates `path`, returning the sorted diagnostics. */
static int
check_file(const char *path, struct spec_diags *d, struct spec **out)
{
    struct sieve_errbuf err = {{0}};
    struct spec *s = NULL;
    int rc;

    spec_diags_init(d);
    rc = spec_load(path, &s, d, &err);
    if (s && spec_validate(s, reg, d) < 0)
        rc = SIEVE_ESPEC;
    spec_diags_sort(d);
    if (out)
        *out = s;
    else
        spec_free(s);
    return rc;
}

static void
compare_section(const char *file, char **want, size_t n_want)
{
    struct spec_diags d;
    int rc = check_file(file, &d, NULL);
    size_t errors = 0;

    for (size_t i = 0; i < n_want; i++)
        errors += strstr(want[i], ": warning: ") == NULL;
    if (d.n != n_want) {
        fprintf(stderr, "%s: expected %zu diagnostics, got %zu:\n", file, n_want, d.n);
        spec_diags_print(&d, stderr);
    }
    assert_int_equal(d.n, n_want);
    for (size_t i = 0; i < n_want; i++)
        assert_string_equal(d.items[i].text, want[i]);
    /* warnings alone do not fail a spec; any error does */
    assert_int_equal(rc == SIEVE_ESPEC, errors > 0);
    assert_int_equal(d.n_errors, errors);
    spec_diags_release(&d);
}

static void
test_spec__bad_corpus_exact_diagnostics(void **state)
{
    char cwd[4096], *line = NULL, *want[64], file[256] = "";
    size_t cap = 0, n_want = 0, sections = 0;
    ssize_t len;
    FILE *f;

    (void)state;
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(BAD_DIR), 0);
    f = fopen("expected.txt", "r");
    assert_non_null(f);
    while ((len = getline(&line, &cap, f)) >= 0) {
        while (len > 0 && line[len - 1] == '\n')
            line[--len] = '\0';
        if (line[0] == '#' || !line[0])
            continue;
        if (!strncmp(line, "== ", 3)) {
            if (file[0])
                compare_section(file, want, n_want);
            for (size_t i = 0; i < n_want; i++)
                free(want[i]);
            n_want = 0;
            snprintf(file, sizeof file, "%s", line + 3);
            sections++;
            continue;
        }
        assert_true(n_want < 64);
        want[n_want++] = strdup(line);
    }
    if (file[0])
        compare_section(file, want, n_want);
    for (size_t i = 0; i < n_want; i++)
        free(want[i]);
    free(line);
    fclose(f);
    assert_int_equal(chdir(cwd), 0);
    assert_true(sections >= 30);
}

static const char anchored[] = "name: anchors\n"
                               "dataset: { manifest: data/clips.jsonl, limit: 3 }\n"
                               "matrix:\n"
                               "  keep: [0.25, 0.5]\n"
                               "  tag: [\"a b\", 'x\"y']\n"
                               "defaults: { retries: 1, timeout: 30, resources: { gpu: 0 } }\n"
                               "nodes:\n"
                               "  media: { plugin: tp-source }\n"
                               "  base: &base\n"
                               "    plugin: tp-prune\n"
                               "    in: { tokens: media }\n"
                               "    with: &with { keep: \"${keep}\", windows: [2, 3] }\n"
                               "  copy: *base\n"
                               "  merged:\n"
                               "    <<: *base\n"
                               "    with: { <<: *with, label: \"k=${keep} t=${tag}\" }\n"
                               "    retries: 5\n";

static void
test_spec__anchors_merge_keys_and_typed_substitution(void **state)
{
    struct sieve_errbuf err = {{0}};
    struct spec_diags d;
    struct spec *s;
    int32_t assign[2] = {1, 1};
    char path[512];

    (void)state;
    snprintf(path, sizeof path, "%s/anchors.yaml", GOOD_DIR);
    spec_diags_init(&d);
    assert_int_equal(spec_parse(path, anchored, sizeof anchored - 1, &s, &d, &err), 0);
    assert_int_equal(spec_validate(s, reg, &d), 0);
    assert_int_equal(d.n, 0);
    assert_int_equal(s->n_nodes, 4);
    assert_int_equal(s->n_samples, 3);
    assert_int_equal(s->def_retries, 1);
    assert_int_equal(s->def_timeout_s, 30);

    /* the alias is the anchored node itself: same plugin, inputs and params */
    const struct spec_node *copy = &s->nodes[spec_node_find(s, "copy")];
    assert_string_equal(copy->plugin_name, "tp-prune");
    assert_int_equal(copy->n_inputs, 1);
    assert_string_equal(copy->inputs[0].node, "media");
    assert_int_equal(copy->n_params, 2);

    /* merge keys: explicit keys win, merged ones fill in */
    const struct spec_node *m = &s->nodes[spec_node_find(s, "merged")];
    assert_int_equal(m->retries, 5);
    assert_int_equal(m->n_params, 3);
    assert_int_equal(m->vars, 3); /* keep and tag */

    /* exactly "${keep}" takes the value as it is; inside text it is text */
    const struct spec_param *keep = NULL, *label = NULL, *win = NULL;
    for (size_t i = 0; i < m->n_params; i++) {
        if (!strcmp(m->params[i].name, "keep"))
            keep = &m->params[i];
        if (!strcmp(m->params[i].name, "label"))
            label = &m->params[i];
        if (!strcmp(m->params[i].name, "windows"))
            win = &m->params[i];
    }
    assert_non_null(keep);
    assert_non_null(label);
    assert_non_null(win);
    char *t = spec_param_expand(s, keep, assign);
    assert_string_equal(t, "0.5");
    free(t);
    t = spec_param_expand(s, label, assign);
    assert_string_equal(t, "\"k=0.5 t=x\\\"y\"");
    free(t);
    t = spec_param_expand(s, win, assign);
    assert_string_equal(t, "[2, 3]");
    free(t);
    /* an unassigned variable cannot expand */
    assign[0] = -1;
    assert_null(spec_param_expand(s, keep, assign));

    spec_free(s);
    spec_diags_release(&d);
}

static void
test_spec__manifest_rows_and_relative_media(void **state)
{
    struct spec_diags d;
    struct spec *s;
    char path[512], want[1024], *real;

    (void)state;
    snprintf(path, sizeof path, "%s/sweep.yaml", GOOD_DIR);
    assert_int_equal(check_file(path, &d, &s), 0);
    assert_int_equal(d.n, 0);
    assert_int_equal(s->n_samples, 4);
    /* media paths are relative to the manifest (good/data/), made absolute */
    real = realpath(GOOD_DIR "/media/c1.mp4", NULL);
    assert_non_null(real);
    assert_string_equal(s->samples[0].media, real);
    free(real);
    assert_string_equal(s->samples[0].id, "c1");
    assert_string_equal(s->samples[0].category, "Daily Life");
    snprintf(want, sizeof want, "%s", s->samples[0].fields_json);
    assert_non_null(strstr(want, "\"answer\":\"B\""));
    /* blank lines are skipped, integer ids become text, category may be absent */
    assert_string_equal(s->samples[2].id, "3");
    assert_null(s->samples[2].category);
    assert_int_equal(s->samples[2].line, 4);
    spec_free(s);
    spec_diags_release(&d);
}

static void
test_spec__csv_glob_and_limit(void **state)
{
    static const char csv[] = "dataset: { manifest: clips.csv }\n"
                              "nodes: { media: { plugin: tp-source } }\n";
    static const char glob[] = "dataset: { glob: \"media/*.mp4\", limit: 3 }\n"
                               "nodes: { media: { plugin: tp-source } }\n";
    struct sieve_errbuf err = {{0}};
    struct spec_diags d;
    struct spec *s;

    (void)state;
    spec_diags_init(&d);
    assert_int_equal(spec_parse(GOOD_DIR "/csv.yaml", csv, sizeof csv - 1, &s, &d, &err), 0);
    assert_int_equal(d.n, 0);
    assert_int_equal(s->n_samples, 2);
    assert_string_equal(s->samples[1].category, "Tech, Science");
    assert_non_null(strstr(s->samples[1].fields_json, "\"answer\":\"say \\\"hi\\\"\""));
    spec_free(s);

    assert_int_equal(spec_parse(GOOD_DIR "/glob.yaml", glob, sizeof glob - 1, &s, &d, &err), 0);
    assert_int_equal(d.n, 0);
    assert_int_equal(s->n_samples, 3); /* 4 files, limit 3, sorted */
    assert_string_equal(s->samples[0].id, "c1");
    assert_string_equal(s->samples[2].id, "c3");
    assert_string_equal(s->name, "glob");
    spec_free(s);
    spec_diags_release(&d);
}

static void
test_spec__set_overrides_matrix_and_params(void **state)
{
    struct sieve_errbuf err = {{0}};
    struct spec_diags d;
    struct spec *s;
    char path[512];

    (void)state;
    snprintf(path, sizeof path, "%s/sweep.yaml", GOOD_DIR);
    spec_diags_init(&d);
    assert_int_equal(spec_load(path, &s, &d, &err), 0);
    assert_int_equal(spec_set(s, "keep=[0.1, 0.2]", &err), 0);
    assert_int_equal(spec_set(s, "vmethod=topk", &err), 0);
    assert_int_equal(spec_set(s, "pa.segments=3", &err), 0);
    assert_int_equal(spec_set(s, "pv.keep=3", &err), 0);
    assert_int_equal(spec_set(s, "nosuch.keep=3", &err), SIEVE_EINVAL);
    assert_string_equal(err.msg, "--set 'nosuch.keep=3': unknown node");
    assert_int_equal(spec_set(s, "novalue", &err), SIEVE_EINVAL);
    assert_int_equal(s->vars[0].n_values, 2);
    assert_string_equal(s->vars[0].values[1], "0.2");
    assert_int_equal(s->vars[1].n_values, 1);
    /* a bad value from the command line is reported against the --set */
    assert_int_equal(spec_validate(s, reg, &d), SIEVE_ESPEC);
    assert_int_equal(d.n, 1);
    assert_string_equal(d.items[0].text,
                        "--set pv.keep=3: node 'pv': parameter 'keep': 3 is above the maximum 1");
    spec_free(s);
    spec_diags_release(&d);
}

static void
test_spec__hostile_input_does_not_crash(void **state)
{
    /* alias bombs and deep nesting are bounded, binary junk is a YAML error */
    static const char bomb[] = "a: &a [1, 1, 1, 1, 1, 1, 1, 1]\n"
                               "b: &b [*a, *a, *a, *a, *a, *a, *a, *a]\n"
                               "c: &c [*b, *b, *b, *b, *b, *b, *b, *b]\n"
                               "d: &d [*c, *c, *c, *c, *c, *c, *c, *c]\n"
                               "e: &e [*d, *d, *d, *d, *d, *d, *d, *d]\n"
                               "dataset: { glob: '*.none' }\n"
                               "nodes: { x: { plugin: tp-prune, with: { windows: *e } } }\n";
    static const char junk[] = "\x01\x02: [\xff\xfe\n  - ]]]\n";
    struct sieve_errbuf err = {{0}};
    struct spec_diags d;
    struct spec *s;

    (void)state;
    spec_diags_init(&d);
    assert_int_equal(spec_parse(GOOD_DIR "/bomb.yaml", bomb, sizeof bomb - 1, &s, &d, &err),
                     SIEVE_ESPEC);
    spec_validate(s, reg, &d);
    assert_true(d.n_errors >= 2);
    {
        int large = 0;
        for (size_t i = 0; i < d.n; i++)
            large |= strstr(d.items[i].text, "value too large") != NULL;
        assert_true(large);
    }
    spec_free(s);
    spec_diags_release(&d);
    spec_diags_init(&d);
    assert_int_equal(spec_parse(GOOD_DIR "/junk.yaml", junk, sizeof junk - 1, &s, &d, &err),
                     SIEVE_ESPEC);
    assert_true(d.n_errors >= 1);
    spec_free(s);
    spec_diags_release(&d);
}

/* Whether a diagnostic containing `needle` was reported. */
static int
has_diag(const struct spec_diags *d, const char *needle)
{
    for (size_t i = 0; i < d->n; i++)
        if (strstr(d->items[i].text, needle))
            return 1;
    fprintf(stderr, "no diagnostic with '%s' among:\n", needle);
    spec_diags_print(d, stderr);
    return 0;
}

static double
now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A merge-key bomb (each level merges the previous one twice) and 100,000-deep nesting fail
 * in well under a second with file:line:col, instead of minutes of CPU. */
static void
test_spec__merge_bomb_and_deep_nesting_fail_fast(void **state)
{
    struct sieve_errbuf err = {{0}};
    struct spec_diags d;
    struct spec *s;
    char *text = malloc(1 << 21);
    size_t n = 0;

    (void)state;
    assert_non_null(text);
    n += (size_t)sprintf(text + n, "defs:\n  a0: &a0 {x0: 1}\n");
    for (int i = 1; i <= 30; i++)
        n += (size_t)sprintf(text + n, "  a%d: &a%d {<<: [*a%d, *a%d], x%d: 1}\n", i, i, i - 1,
                             i - 1, i);
    n += (size_t)sprintf(text + n, "dataset: { glob: '*.none' }\n"
                                   "nodes: { x: { plugin: tp-prune, with: { <<: *a30 } } }\n");
    double t0 = now_s();
    spec_diags_init(&d);
    assert_int_equal(spec_parse("bomb.yaml", text, n, &s, &d, &err), SIEVE_ESPEC);
    assert_true(has_diag(&d, "merge keys ('<<') bring in more than 4096 entries"));
    assert_true(has_diag(&d, "bomb.yaml:"));
    spec_free(s);
    spec_diags_release(&d);

    n = (size_t)sprintf(text, "name: deep\nx: ");
    for (int i = 0; i < 100000; i++)
        text[n++] = '[';
    for (int i = 0; i < 100000; i++)
        text[n++] = ']';
    text[n++] = '\n';
    spec_diags_init(&d);
    assert_int_equal(spec_parse("deep.yaml", text, n, &s, &d, &err), SIEVE_ESPEC);
    assert_true(has_diag(&d, "deep.yaml:2:68: collections nested more than 64 deep"));
    spec_free(s);
    spec_diags_release(&d);
    /* brackets in quoted scalars and comments are not nesting */
    static const char quoted[] =
        "name: q # [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\n"
        "x: '[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[['\n";
    spec_diags_init(&d);
    spec_parse("q.yaml", quoted, sizeof quoted - 1, &s, &d, &err);
    for (size_t i = 0; i < d.n; i++)
        assert_null(strstr(d.items[i].text, "nested"));
    spec_free(s);
    spec_diags_release(&d);
    assert_true(now_s() - t0 < 2.0);
    free(text);
}

/* Parses a pipeline whose manifest is `manifest`, returning the spec and its diagnostics. */
static struct spec *
parse_with_manifest(const char *manifest, struct spec_diags *d)
{
    struct sieve_errbuf err = {{0}};
    struct spec *s = NULL;
    char yaml[512];
    snprintf(yaml, sizeof yaml,
             "dataset: { manifest: \"%s\" }\nnodes: { media: { plugin: tp-source } }\n", manifest);
    spec_diags_init(d);
    spec_parse("/tmp/p.yaml", yaml, strlen(yaml), &s, d, &err);
    return s;
}

static void
write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* A BOM is accepted; a duplicate key, an overlong sample id, and a manifest that is a FIFO, a
 * directory or /dev/null are each one clear error naming the line or the file, without a
 * hang. */
static void
test_spec__manifest_bounds(void **state)
{
    char dir[] = "/tmp/sieve-spec-manifest-XXXXXX", path[256], media[256], text[2048];
    struct spec_diags d;
    struct spec *s;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(media, sizeof media, "%s/a.bin", dir);
    write_text(media, "x");
    snprintf(path, sizeof path, "%s/m.jsonl", dir);

    snprintf(text, sizeof text, "\xef\xbb\xbf{\"id\":\"a\",\"media\":\"a.bin\"}\n");
    write_text(path, text);
    s = parse_with_manifest(path, &d);
    assert_int_equal(d.n_errors, 0);
    assert_int_equal(s->n_samples, 1);
    assert_string_equal(s->samples[0].id, "a");
    spec_free(s);
    spec_diags_release(&d);

    write_text(path, "{\"id\":\"a\",\"media\":\"a.bin\"}\n"
                     "{\"id\":\"b\",\"media\":\"a.bin\",\"category\":\"x\",\"category\":\"y\"}\n");
    s = parse_with_manifest(path, &d);
    assert_true(has_diag(&d, "m.jsonl:2: invalid JSON: duplicate object key"));
    spec_free(s);
    spec_diags_release(&d);

    char id[400];
    memset(id, 'i', 300);
    id[300] = '\0';
    snprintf(text, sizeof text,
             "{\"id\":\"a\",\"media\":\"a.bin\"}\n{\"id\":\"%s\",\"media\":\"a.bin\"}\n", id);
    write_text(path, text);
    s = parse_with_manifest(path, &d);
    assert_true(has_diag(&d, "m.jsonl:2: sample id is 300 bytes long (at most 256)"));
    spec_free(s);
    spec_diags_release(&d);

    snprintf(path, sizeof path, "%s/fifo.jsonl", dir);
    assert_int_equal(mkfifo(path, 0644), 0);
    s = parse_with_manifest(path, &d);
    assert_true(has_diag(&d, "fifo.jsonl' is a FIFO, not a file"));
    spec_free(s);
    spec_diags_release(&d);
    unlink(path);

    s = parse_with_manifest(dir, &d);
    assert_true(has_diag(&d, "' is a directory, not a file"));
    spec_free(s);
    spec_diags_release(&d);

    s = parse_with_manifest("/dev/null", &d);
    assert_true(has_diag(&d, "manifest '/dev/null' is a character device, not a file"));
    spec_free(s);
    spec_diags_release(&d);

    snprintf(path, sizeof path, "%s/m.jsonl", dir);
    unlink(path);
    unlink(media);
    rmdir(dir);
}

/* A small deterministic PRNG so a failure reproduces. */
static uint32_t
next_rand(uint32_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 17;
    *x ^= *x << 5;
    return *x;
}

static void
test_spec__mutated_pipelines_never_crash(void **state)
{
    static const char alphabet[] = "{}[]:,-&*!|>'\"#%@`$ \n\tab01.<";
    struct sieve_errbuf err = {{0}};
    uint32_t seed = 12345;
    char *text, *buf;
    size_t len;
    FILE *f;

    (void)state;
    f = fopen(GOOD_DIR "/sweep.yaml", "rb");
    assert_non_null(f);
    text = calloc(1, 8192);
    len = fread(text, 1, 8191, f);
    fclose(f);
    assert_true(len > 100);
    buf = malloc(len + 1);
    for (int round = 0; round < 1500; round++) {
        struct spec_diags d;
        struct spec *s = NULL;
        uint32_t edits = 1 + next_rand(&seed) % 4;
        memcpy(buf, text, len + 1);
        for (uint32_t e = 0; e < edits; e++)
            buf[next_rand(&seed) % len] = alphabet[next_rand(&seed) % (sizeof alphabet - 1)];
        spec_diags_init(&d);
        spec_parse(GOOD_DIR "/sweep.yaml", buf, len, &s, &d, &err);
        if (s)
            spec_validate(s, reg, &d);
        spec_diags_sort(&d);
        for (size_t i = 0; i < d.n; i++)
            assert_non_null(d.items[i].text);
        spec_free(s);
        spec_diags_release(&d);
    }
    free(buf);
    free(text);
}

static void
test_spec__mutated_manifests_never_crash(void **state)
{
    static const char *const base[] = {
        "id,media,category\nc1,\"" GOOD_DIR "/media/c1.mp4\",Tech\n"
        "c2,\"" GOOD_DIR "/media/c2.mp4\",\"A, \"\"B\"\"\"\n",
        "{\"id\": \"c1\", \"media\": \"" GOOD_DIR "/media/c1.mp4\"}\n"
        "{\"id\": 2, \"media\": \"" GOOD_DIR "/media/c2.mp4\", \"category\": \"T\"}\n",
    };
    static const char alphabet[] = ",\"\n{}[]:0a \\";
    struct sieve_errbuf err = {{0}};
    uint32_t seed = 777;
    char dir[] = "/tmp/sieve-spec-test-XXXXXX", path[128], yaml[256], buf[1024];

    (void)state;
    assert_non_null(mkdtemp(dir));
    for (int round = 0; round < 600; round++) {
        int csv = round % 2;
        size_t len = strlen(base[csv]);
        struct spec_diags d;
        struct spec *s = NULL;
        FILE *f;
        memcpy(buf, base[csv], len + 1);
        for (uint32_t e = 0, n = 1 + next_rand(&seed) % 3; e < n; e++)
            buf[next_rand(&seed) % len] = alphabet[next_rand(&seed) % (sizeof alphabet - 1)];
        snprintf(path, sizeof path, "%s/m.%s", dir, csv ? "csv" : "jsonl");
        f = fopen(path, "w");
        fwrite(buf, 1, len, f);
        fclose(f);
        snprintf(yaml, sizeof yaml,
                 "dataset: { manifest: m.%s }\nnodes: { media: { plugin: tp-source } }\n",
                 csv ? "csv" : "jsonl");
        snprintf(path, sizeof path, "%s/p.yaml", dir);
        spec_diags_init(&d);
        spec_parse(path, yaml, strlen(yaml), &s, &d, &err);
        for (size_t i = 0; s && i < s->n_samples; i++) {
            assert_non_null(s->samples[i].id);
            assert_non_null(s->samples[i].media);
        }
        spec_free(s);
        spec_diags_release(&d);
        unlink(path);
    }
    snprintf(path, sizeof path, "%s/m.csv", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/m.jsonl", dir);
    unlink(path);
    assert_int_equal(rmdir(dir), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec__bad_corpus_exact_diagnostics),
        cmocka_unit_test(test_spec__anchors_merge_keys_and_typed_substitution),
        cmocka_unit_test(test_spec__manifest_rows_and_relative_media),
        cmocka_unit_test(test_spec__csv_glob_and_limit),
        cmocka_unit_test(test_spec__set_overrides_matrix_and_params),
        cmocka_unit_test(test_spec__hostile_input_does_not_crash),
        cmocka_unit_test(test_spec__mutated_pipelines_never_crash),
        cmocka_unit_test(test_spec__mutated_manifests_never_crash),
        cmocka_unit_test(test_spec__merge_bomb_and_deep_nesting_fail_fast),
        cmocka_unit_test(test_spec__manifest_bounds),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
