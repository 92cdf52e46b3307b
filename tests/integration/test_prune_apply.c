/*
 * test_prune_apply.c - `sieve apply prune-visual` and `sieve apply prune-audio` end to end on
 * bundles written here from the golden fixture inputs (tests/fixtures/prune/): every method
 * keeps the rows the numpy reference chose, the output bundle has the documented tensors,
 * shapes and metadata, and bad input fails with exit status 1 and a message.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/support/cli_test.h"
#include "base/bundle.h"

/* The fixture loader is shared with the unit tests; this executable links only sieve_base. */
#include "../unit/prune/golden.c"

#define FIXTURES SIEVE_FIXTURES "/prune"

static char dir[] = "/tmp/sieve-prune-apply-XXXXXX";
static struct golden gold;

static const char *
path_of(const char *name)
{
    return test_path(dir, name);
}

/* Writes the encode-style bundle of a fixture input (and, for vision, decode's media). */
static void
write_input(const struct golden_input *in, int with_grid)
{
    struct bundle *b = bundle_new();
    struct sieve_errbuf err;
    char name[64];
    float *time = malloc((size_t)(in->vision ? in->t : in->n) * sizeof *time);
    assert_non_null(time);
    if (in->vision) {
        int64_t shape[3] = {in->t, in->h * in->w, in->c}, ts[2] = {in->t, in->h * in->w};
        int32_t grid[3] = {(int32_t)in->t, (int32_t)in->h, (int32_t)in->w};
        int64_t three = 3;
        for (int64_t i = 0; i < in->t; i++)
            time[i] = 1.0f * (float)i + 0.5f;
        test_tensor_add(b, "tokens", SIEVE_DTYPE_F32, 3, shape, in->x);
        if (with_grid)
            test_tensor_add(b, "grid", SIEVE_DTYPE_I32, 1, &three, grid);
        test_tensor_add(b, "importance", SIEVE_DTYPE_F32, 2, ts, in->imp);
        test_tensor_add(b, "time", SIEVE_DTYPE_F32, 1, &in->t, time);
    } else {
        int64_t shape[2] = {in->n, in->c};
        for (int64_t i = 0; i < in->n; i++)
            time[i] = 0.04f * (float)i;
        test_tensor_add(b, "tokens", SIEVE_DTYPE_F32, 2, shape, in->x);
        test_tensor_add(b, "importance", SIEVE_DTYPE_F32, 1, &in->n, in->imp);
        test_tensor_add(b, "time", SIEVE_DTYPE_F32, 1, &in->n, time);
    }
    assert_int_equal(bundle_meta_set(b, "sample", "clip01", &err), 0);
    snprintf(name, sizeof name, "%s%s.safetensors", in->name, with_grid ? "" : "-nogrid");
    test_bundle_write(b, path_of(name));
    free(time);
    if (in->vision) {
        struct bundle *m = bundle_new();
        int64_t shape[3] = {in->frames, in->mh, in->mw};
        test_tensor_add(m, "frame_type", SIEVE_DTYPE_U8, 1, &in->frames, in->ftype);
        test_tensor_add(m, "motion", SIEVE_DTYPE_F32, 3, shape, in->motion);
        snprintf(name, sizeof name, "%s-media.safetensors", in->name);
        test_bundle_write(m, path_of(name));
    }
}

static int
setup(void **state)
{
    (void)state;
    if (test_dir_make(dir) < 0 || golden_load(FIXTURES, &gold) < 0)
        return -1;
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    golden_release(&gold);
    return test_dir_remove(dir);
}

/* The --set arguments of a golden case. */
static void
case_args(const struct golden_case *gc, char *buf, size_t cap)
{
    if (gc->in->vision)
        snprintf(buf, cap,
                 "--set method=%s --set keep=%.17g --set window=%d --set faithful=%s "
                 "--set seed=%lld --set dominant_ratio=%.17g --set motion_threshold=%.17g "
                 "--set match_threshold=%.17g",
                 gc->method, gc->keep, (int)gc->window, gc->faithful ? "true" : "false",
                 (long long)gc->seed, gc->dominant_ratio, gc->motion_threshold,
                 gc->match_threshold);
    else
        snprintf(buf, cap,
                 "--set method=%s --set keep=%.17g --set segments=%d --set alpha=%.17g "
                 "--set seed=%lld",
                 gc->method, gc->keep, (int)gc->segments, gc->alpha, (long long)gc->seed);
}

/* Runs one golden case through `sieve apply` and checks the output bundle. */
static void
apply_case(const struct golden_case *gc)
{
    const struct golden_input *in = gc->in;
    char args[4096], sets[1024], media[600] = "";
    struct cli_result r;
    case_args(gc, sets, sizeof sets);
    if (in->vision)
        snprintf(media, sizeof media, "--in media=%s/%s-media.safetensors", dir, in->name);
    snprintf(args, sizeof args, "apply %s --in tokens=%s/%s.safetensors %s %s --out %s/%s.out",
             in->vision ? "prune-visual" : "prune-audio", dir, in->name, media, sets, dir, gc->id);
    assert_int_equal(cli_run(&r, "", args), 0);
    if (r.status != 0)
        fail_msg("sieve %s: exit %d: %s", args, r.status, r.err);
    cli_result_release(&r);
    if (in->vision) {
        /* More threads: the same file, byte for byte (rows, mask, metadata). */
        char again[4200], a[600], b2[600];
        snprintf(again, sizeof again, "%s-t3 --set threads=3", args);
        assert_int_equal(cli_run(&r, "", again), 0);
        if (r.status != 0)
            fail_msg("sieve %s: exit %d: %s", again, r.status, r.err);
        cli_result_release(&r);
        snprintf(a, sizeof a, "%s/%s.out", dir, gc->id);
        snprintf(b2, sizeof b2, "%s/%s.out-t3", dir, gc->id);
        if (!test_same_file(a, b2))
            fail_msg("case %s: threads=3 wrote a different bundle than threads=1", gc->id);
    }

    struct bundle *b;
    struct sieve_errbuf err;
    char out[600];
    snprintf(out, sizeof out, "%s/%s.out", dir, gc->id);
    assert_int_equal(bundle_read(out, &b, &err), 0);
    const struct sieve_tensor *tok = bundle_tensor_get(b, "tokens");
    const struct sieve_tensor *idx = bundle_tensor_get(b, "index");
    const struct sieve_tensor *mask = bundle_tensor_get(b, "mask");
    const struct sieve_tensor *imp = bundle_tensor_get(b, "importance");
    const struct sieve_tensor *time = bundle_tensor_get(b, "time");
    assert_non_null(tok);
    assert_non_null(idx);
    assert_non_null(mask);
    assert_non_null(imp);
    assert_non_null(time);
    int64_t k = (int64_t)gc->k;
    assert_int_equal(tok->shape[0], k);
    assert_int_equal(idx->shape[0], k);
    assert_int_equal(imp->shape[0], k);
    assert_int_equal(time->shape[0], k);
    assert_int_equal(mask->dtype, SIEVE_DTYPE_BOOL);
    const int32_t *ix = idx->data;
    const uint8_t *mk = mask->data;
    size_t marked = 0;
    for (uint64_t i = 0; i < sieve_tensor_numel(mask); i++)
        marked += mk[i];
    assert_int_equal(marked, (size_t)k);
    if (in->vision) {
        assert_int_equal(idx->ndim, 2);
        assert_int_equal(idx->shape[1], 3);
        assert_int_equal(mask->ndim, 3);
        assert_int_equal(mask->shape[1], in->h);
        const struct sieve_tensor *grid = bundle_tensor_get(b, "grid");
        assert_non_null(grid);
        assert_int_equal(((const int32_t *)grid->data)[2], (int32_t)in->w);
        for (int64_t i = 0; i < k; i++) {
            int64_t cell = ((int64_t)ix[3 * i] * in->h + ix[3 * i + 1]) * in->w + ix[3 * i + 2];
            assert_int_equal(cell, gc->rows[i]);
            assert_true(mk[cell]);
            assert_true(((const float *)time->data)[i] == (float)ix[3 * i] + 0.5f);
            if (gc->width == 0)
                assert_memory_equal((const float *)tok->data + i * in->c, in->x + cell * in->c,
                                    (size_t)in->c * sizeof(float));
        }
    } else {
        assert_int_equal(idx->ndim, 1);
        for (int64_t i = 0; i < k; i++) {
            assert_int_equal(ix[i], gc->rows[i]);
            assert_true(((const float *)imp->data)[i] == in->imp[ix[i]]);
            assert_memory_equal((const float *)tok->data + i * in->c, in->x + ix[i] * in->c,
                                (size_t)in->c * sizeof(float));
        }
    }
    assert_string_equal(bundle_meta_get(b, "method"), gc->method);
    assert_string_equal(bundle_meta_get(b, "sample"), "clip01");
    double actual = strtod(bundle_meta_get(b, "keep_actual"), NULL);
    assert_float_equal(actual, (double)k / (double)in->n, 1e-8);
    assert_float_equal(strtod(bundle_meta_get(b, "keep_requested"), NULL), gc->keep, 1e-9);
    bundle_free(b);
}

/* One golden case per (input, method), at keep 0.5 where the case list has it. */
static void
apply_methods(int vision)
{
    const char *seen[32];
    size_t n_seen = 0, ran = 0;
    for (size_t i = 0; i < gold.n_in; i++)
        if (gold.in[i].vision == vision)
            write_input(&gold.in[i], 1);
    for (size_t i = 0; i < gold.n_cases; i++) {
        const struct golden_case *gc = &gold.cases[i];
        if (gc->in->vision != vision || gc->keep != 0.5)
            continue;
        char key[64];
        snprintf(key, sizeof key, "%s/%s/%g", gc->in->name, gc->method, gc->faithful);
        int dup = 0;
        for (size_t j = 0; j < n_seen; j++)
            dup |= strcmp(seen[j], key) == 0;
        if (dup || n_seen == 32)
            continue;
        seen[n_seen++] = strdup(key);
        apply_case(gc);
        ran++;
    }
    for (size_t j = 0; j < n_seen; j++)
        free((void *)seen[j]);
    assert_true(ran >= (vision ? 14u : 8u));
}

static void
test_prune_apply__visual_methods_match_reference(void **state)
{
    (void)state;
    apply_methods(1);
}

static void
test_prune_apply__audio_methods_match_reference(void **state)
{
    (void)state;
    apply_methods(0);
}

static void
test_prune_apply__bad_input_fails_with_message(void **state)
{
    (void)state;
    struct cli_result r;
    char args[2048];
    for (size_t i = 0; i < gold.n_in; i++) /* each test stands alone */
        write_input(&gold.in[i], 1);
    write_input(&gold.in[0], 0);
    snprintf(args, sizeof args,
             "apply prune-visual --in tokens=%s/va-nogrid.safetensors --out %s/nogrid.out", dir,
             dir);
    assert_int_equal(cli_run(&r, "", args), 0);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "'grid'"));
    cli_result_release(&r);
    assert_int_not_equal(access(path_of("nogrid.out"), F_OK), 0);
    /* codec without the media input */
    snprintf(args, sizeof args,
             "apply prune-visual --in tokens=%s/va.safetensors --set method=codec --out %s/x.out",
             dir, dir);
    assert_int_equal(cli_run(&r, "", args), 0);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "media"));
    cli_result_release(&r);
    /* keep 0 passes the table's range but is refused by the plugin */
    snprintf(args, sizeof args,
             "apply prune-audio --in tokens=%s/aa.safetensors --set keep=0 --out %s/z.out", dir,
             dir);
    assert_int_equal(cli_run(&r, "", args), 0);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "keep"));
    cli_result_release(&r);
    /* an audio bundle given to prune-visual */
    snprintf(args, sizeof args, "apply prune-visual --in tokens=%s/aa.safetensors --out %s/y.out",
             dir, dir);
    assert_int_equal(cli_run(&r, "", args), 0);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "tokens"));
    cli_result_release(&r);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prune_apply__visual_methods_match_reference),
        cmocka_unit_test(test_prune_apply__audio_methods_match_reference),
        cmocka_unit_test(test_prune_apply__bad_input_fails_with_message),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
