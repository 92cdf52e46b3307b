/*
 * test_prune_visual.c - prune-visual methods: golden rows from the numpy reference, and the
 * properties a user relies on (exact budgets, original order, keep 1.0 as the identity,
 * seeded determinism, and how faithful DyCoke differs from the default).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <sieve/plugin.h>

#include "golden.h"
#include "methods.h"
#include "select.h"

#define FIXTURES SIEVE_FIXTURES "/prune"

static int
run_case(const struct golden_case *gc, int threads, struct pv_out *out)
{
    const struct golden_input *g = gc->in;
    struct pv_in in = {g->x, g->imp, g->t, g->h, g->w, g->c, NULL, NULL, threads};
    const char *m = gc->method;
    if (strcmp(m, "dycoke") == 0 && gc->dycoke_k >= 0)
        return pv_dycoke_ratio(&in, gc->dycoke_k, (int64_t)gc->window, (int)gc->faithful, out);
    if (strcmp(m, "dycoke") == 0)
        return pv_dycoke(&in, gc->keep, (int64_t)gc->window, (int)gc->faithful, out);
    if (strcmp(m, "uniform") == 0)
        return pv_uniform(&in, gc->keep, out);
    if (strcmp(m, "pixel-shuffle") == 0)
        return pv_pixel_shuffle(&in, out);
    if (strcmp(m, "random") == 0)
        return pv_random(&in, gc->keep, (uint64_t)(int64_t)gc->seed, out);
    if (strcmp(m, "topk") == 0)
        return pv_topk(&in, gc->keep, out);
    if (strcmp(m, "visionzip") == 0 && gc->faithful)
        return pv_visionzip_official(&in, g->keys, g->kc, (int64_t)gc->dominant,
                                     (int64_t)gc->contextual, out);
    if (strcmp(m, "visionzip") == 0 && gc->keys)
        return pv_visionzip_keys(&in, g->keys, g->kc, gc->keep, gc->dominant_ratio, out);
    if (strcmp(m, "visionzip") == 0)
        return pv_visionzip(&in, gc->keep, gc->dominant_ratio, out);
    if (strcmp(m, "codec") == 0) {
        uint8_t key[64];
        float *cm = malloc((size_t)(g->t * g->h * g->w) * sizeof *cm);
        assert_non_null(cm);
        assert_true(g->t <= 64);
        pv_codec_groups(g->ftype, g->motion, g->frames, g->mh, g->mw, g->t, g->h, g->w, key, cm);
        struct pv_motion mo = {key, cm};
        int rc = pv_codec(&in, &mo, gc->keep, gc->motion_threshold, gc->match_threshold, out);
        free(cm);
        return rc;
    }
    fail_msg("unknown method '%s'", m);
    return -1;
}

static int64_t
flat(const struct pv_out *o, size_t i, int64_t h, int64_t w)
{
    return ((int64_t)o->index[3 * i] * h + o->index[3 * i + 1]) * w + o->index[3 * i + 2];
}

/* Checks every vision case of the golden list in `dir`; returns how many were checked. */
static size_t
check_golden(const char *dir)
{
    struct golden g;
    assert_int_equal(golden_load(dir, &g), 0);
    size_t checked = 0;
    /* Every case on one thread and on three (more threads than some inputs have groups). */
    for (size_t ci = 0; ci < 2 * g.n_cases; ci++) {
        const struct golden_case *gc = &g.cases[ci % g.n_cases];
        const struct golden_input *in = gc->in;
        if (!in->vision)
            continue;
        struct pv_out o;
        assert_int_equal(run_case(gc, ci < g.n_cases ? 1 : 3, &o), 0);
        if (o.k != gc->k)
            fail_msg("case %s (%s keep=%g): %zu rows, reference %zu", gc->id, gc->method, gc->keep,
                     o.k, gc->k);
        size_t marked = 0;
        for (size_t i = 0; i < o.n; i++)
            marked += o.mask[i];
        assert_int_equal(marked, o.k);
        for (size_t i = 0; i < o.k; i++) {
            int64_t r = flat(&o, i, in->h, in->w);
            if (r != gc->rows[i])
                fail_msg("case %s (%s keep=%g): row %zu is cell %lld, reference %lld", gc->id,
                         gc->method, gc->keep, i, (long long)r, (long long)gc->rows[i]);
            assert_true(o.mask[r]);
        }
        if (gc->width > 0) {
            char name[64];
            assert_int_equal(o.width, (size_t)gc->width);
            snprintf(name, sizeof name, "%s.tok.f32", gc->id);
            float *tok = golden_read_f32(dir, name, o.k * o.width);
            snprintf(name, sizeof name, "%s.imp.f32", gc->id);
            float *imp = golden_read_f32(dir, name, o.k);
            assert_non_null(tok);
            assert_non_null(imp);
            for (size_t i = 0; i < o.k * o.width; i++)
                if (fabsf(tok[i] - o.tokens[i]) > 1e-5f * (1 + fabsf(tok[i])))
                    fail_msg("case %s: token value %zu is %g, reference %g", gc->id, i, o.tokens[i],
                             tok[i]);
            for (size_t i = 0; i < o.k; i++)
                assert_float_equal(o.importance[i], imp[i], 1e-6);
            free(tok);
            free(imp);
        } else {
            /* A selecting method copies rows bit for bit. */
            for (size_t i = 0; i < o.k; i++) {
                int64_t r = flat(&o, i, in->h, in->w);
                assert_memory_equal(o.tokens + i * o.width, in->x + r * in->c,
                                    (size_t)in->c * sizeof(float));
                assert_true(o.importance[i] == in->imp[r]);
            }
        }
        pv_out_release(&o);
        checked++;
    }
    golden_release(&g);
    return checked;
}

static void
test_prune_visual__golden(void **state)
{
    (void)state;
    assert_true(check_golden(FIXTURES) >= 120);
}

/*
 * The official-arithmetic cases (tests/fixtures/prune/official): DyCoke's own ratio K and
 * float32 ranking on near-ties (input vt, cosines within 1e-8 of 1); VisionZip on attention
 * keys, and with the official counts (dominant counting CLS) and output order.
 */
static void
test_prune_visual__golden_official(void **state)
{
    (void)state;
    assert_true(check_golden(FIXTURES "/official") >= 2 * 11);
}

/* A synthetic grid: pseudo-random tokens with some temporal redundancy. */
struct grid {
    struct pv_in in;
    float *x, *imp;
};

static uint32_t
lcg(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return *s >> 8;
}

static void
grid_make(struct grid *g, int64_t t, int64_t h, int64_t w, int64_t c, uint32_t seed)
{
    size_t n = (size_t)(t * h * w);
    g->x = malloc(n * (size_t)c * sizeof *g->x);
    g->imp = malloc(n * sizeof *g->imp);
    assert_non_null(g->x);
    assert_non_null(g->imp);
    for (size_t i = 0; i < n * (size_t)c; i++) {
        float r = (float)lcg(&seed) / (float)(1u << 24) - 0.5f;
        g->x[i] = i >= (size_t)(h * w * c) ? 0.6f * g->x[i - (size_t)(h * w * c)] + r : r;
    }
    for (size_t i = 0; i < n; i++)
        g->imp[i] = (float)(lcg(&seed) % 1000) / 1000.0f;
    g->in = (struct pv_in){g->x, g->imp, t, h, w, c, NULL, NULL, 1};
}

static void
grid_free(struct grid *g)
{
    free(g->x);
    free(g->imp);
}

static int
in_order(const struct pv_out *o, int64_t h, int64_t w)
{
    for (size_t i = 1; i < o->k; i++)
        if (flat(o, i, h, w) <= flat(o, i - 1, h, w))
            return 0;
    return 1;
}

static void
test_prune_visual__exact_keep_counts_and_order(void **state)
{
    (void)state;
    struct grid g;
    grid_make(&g, 10, 7, 9, 12, 3);
    size_t p = 63, n = 630;
    const double keeps[] = {0.05, 0.3, 0.5, 0.77, 0.999};
    for (size_t i = 0; i < sizeof keeps / sizeof keeps[0]; i++) {
        double keep = keeps[i];
        size_t kn = (size_t)(keep * (double)n), kp = (size_t)(keep * (double)p);
        struct pv_out o;
        assert_int_equal(pv_random(&g.in, keep, 5, &o), 0);
        assert_int_equal(o.k, kn);
        assert_true(in_order(&o, 7, 9));
        pv_out_release(&o);
        assert_int_equal(pv_topk(&g.in, keep, &o), 0);
        assert_int_equal(o.k, kn);
        assert_true(in_order(&o, 7, 9));
        /* Every kept token is at least as important as every dropped one. */
        float lo = INFINITY, hi = -INFINITY;
        for (size_t j = 0; j < n; j++) {
            if (o.mask[j] && g.imp[j] < lo)
                lo = g.imp[j];
            if (!o.mask[j] && g.imp[j] > hi)
                hi = g.imp[j];
        }
        assert_true(lo >= hi);
        pv_out_release(&o);
        assert_int_equal(pv_visionzip(&g.in, keep, 0.84375, &o), 0);
        assert_int_equal(o.k, 10 * kp);
        assert_true(in_order(&o, 7, 9));
        pv_out_release(&o);
        /* DyCoke: groups 0, 4, 8 open windows and stay whole, the other seven keep kp. */
        assert_int_equal(pv_dycoke(&g.in, keep, 4, 0, &o), 0);
        assert_int_equal(o.k, 3 * p + 7 * kp);
        assert_true(in_order(&o, 7, 9));
        pv_out_release(&o);
        assert_int_equal(pv_uniform(&g.in, keep, &o), 0);
        assert_true(o.k <= 10 * kp);
        assert_int_equal(o.k % 10, 0);
        assert_true(in_order(&o, 7, 9));
        pv_out_release(&o);
    }
    grid_free(&g);
}

static void
test_prune_visual__keep_one_is_identity(void **state)
{
    (void)state;
    struct grid g;
    grid_make(&g, 6, 5, 6, 8, 9);
    size_t n = 180;
    struct pv_out o[5];
    assert_int_equal(pv_dycoke(&g.in, 1.0, 4, 0, &o[0]), 0);
    assert_int_equal(pv_uniform(&g.in, 1.0, &o[1]), 0);
    assert_int_equal(pv_random(&g.in, 1.0, 42, &o[2]), 0);
    assert_int_equal(pv_topk(&g.in, 1.0, &o[3]), 0);
    assert_int_equal(pv_visionzip(&g.in, 1.0, 0.84375, &o[4]), 0);
    for (int m = 0; m < 5; m++) {
        assert_int_equal(o[m].k, n);
        assert_int_equal(o[m].width, 8);
        assert_memory_equal(o[m].tokens, g.x, n * 8 * sizeof(float));
        for (size_t i = 0; i < n; i++)
            assert_int_equal(flat(&o[m], i, 5, 6), (int64_t)i);
        pv_out_release(&o[m]);
    }
    /* Not the identity by design: pixel-shuffle always merges 2x2 cells. */
    assert_int_equal(pv_pixel_shuffle(&g.in, &o[0]), 0);
    assert_int_equal(o[0].k, 6 * 3 * 3);
    assert_int_equal(o[0].width, 32);
    pv_out_release(&o[0]);
    grid_free(&g);
}

static void
test_prune_visual__random_is_seeded(void **state)
{
    (void)state;
    struct grid g;
    grid_make(&g, 4, 6, 6, 4, 1);
    struct pv_out a, b, c;
    assert_int_equal(pv_random(&g.in, 0.4, 123, &a), 0);
    assert_int_equal(pv_random(&g.in, 0.4, 123, &b), 0);
    assert_int_equal(pv_random(&g.in, 0.4, 124, &c), 0);
    assert_memory_equal(a.mask, b.mask, a.n);
    assert_memory_not_equal(a.mask, c.mask, a.n);
    pv_out_release(&a);
    pv_out_release(&b);
    pv_out_release(&c);
    grid_free(&g);
}

/*
 * Faithful DyCoke differs from the default exactly as documented: with 8 groups the third
 * group of the last window (group 6) stays whole, pruned groups list their tokens in
 * increasing-similarity order (the same set as the default), and an odd last group is dropped.
 */
static void
test_prune_visual__faithful_dycoke_differs_as_documented(void **state)
{
    (void)state;
    struct grid g;
    grid_make(&g, 8, 4, 5, 6, 77);
    size_t p = 20;
    struct pv_out d, f;
    assert_int_equal(pv_dycoke(&g.in, 0.4, 4, 0, &d), 0);
    assert_int_equal(pv_dycoke(&g.in, 0.4, 4, 1, &f), 0);
    assert_int_equal(f.k, d.k + p - 8);
    for (size_t i = 0; i < d.n; i++)
        assert_int_equal(f.mask[i], i / p == 6 ? 1 : d.mask[i]);
    assert_false(in_order(&f, 4, 5));
    /* Groups stay in order; inside a pruned group rows go by increasing cosine with the
     * reference group (1, 2 vs 0; 3 vs 2; 5 vs 4; 7 vs 6), as torch.topk(largest=False)
     * returns them. */
    const int ref_of[8] = {-1, 0, 0, 2, -1, 4, -1, 6};
    for (size_t i = 1; i < f.k; i++) {
        int32_t t = f.index[3 * i];
        assert_true(t >= f.index[3 * (i - 1)]);
        if (t != f.index[3 * (i - 1)] || ref_of[t] < 0)
            continue;
        size_t cur = (size_t)flat(&f, i, 4, 5) % p, prev = (size_t)flat(&f, i - 1, 4, 5) % p;
        const float *rx = g.x + (size_t)ref_of[t] * p * 6, *tx = g.x + (size_t)t * p * 6;
        assert_true(prune_cosine(rx + prev * 6, tx + prev * 6, 6) <=
                    prune_cosine(rx + cur * 6, tx + cur * 6, 6));
    }
    pv_out_release(&d);
    pv_out_release(&f);
    g.in.t = 7; /* odd: the faithful port drops the last group, the default keeps it pruned */
    assert_int_equal(pv_dycoke(&g.in, 0.4, 4, 0, &d), 0);
    assert_int_equal(pv_dycoke(&g.in, 0.4, 4, 1, &f), 0);
    for (size_t i = 6 * p; i < 7 * p; i++)
        assert_int_equal(f.mask[i], 0);
    assert_int_equal(d.k, 2 * p + 5 * 8);
    pv_out_release(&d);
    pv_out_release(&f);
    grid_free(&g);
}

/*
 * DyCoke's own ratio: the official code keeps int((1 - K) * P) with 1 - K a double, so K = 0.34
 * over 100 tokens keeps 65 per pruned group where keep 0.66 keeps 66 (the comparison with the
 * official code found exactly this off-by-one).
 */
static void
test_prune_visual__dycoke_k_uses_official_arithmetic(void **state)
{
    (void)state;
    struct grid g;
    grid_make(&g, 4, 10, 10, 3, 5);
    struct pv_out a, b;
    assert_int_equal(pv_dycoke_ratio(&g.in, 0.34, 4, 1, &a), 0);
    assert_int_equal(pv_dycoke(&g.in, 0.66, 4, 1, &b), 0);
    /* Four groups in one window: pass A prunes groups 1 and 3, pass B none (0 < 4 - 4 fails). */
    assert_int_equal(a.param_a, 65);
    assert_int_equal(b.param_a, 66);
    assert_int_equal(a.k, 2 * 100 + 2 * 65);
    assert_int_equal(b.k, 2 * 100 + 2 * 66);
    pv_out_release(&a);
    pv_out_release(&b);
    /* Default mode: the same count from K, clamped to at least one token. */
    assert_int_equal(pv_dycoke_ratio(&g.in, 0.34, 4, 0, &a), 0);
    assert_int_equal(a.param_a, 65);
    pv_out_release(&a);
    assert_int_equal(pv_dycoke_ratio(&g.in, 1.0, 4, 0, &a), 0);
    assert_int_equal(a.param_a, 1);
    pv_out_release(&a);
    assert_int_equal(pv_dycoke_ratio(&g.in, 1.0, 4, 1, &a), 0);
    assert_int_equal(a.param_a, 0);
    pv_out_release(&a);
    grid_free(&g);
}

/*
 * Faithful mode ranks float32 similarities: two cells whose cosines differ by less than a
 * float32 ulp tie, and the tie goes to the lower index, although the double values would
 * order them the other way.
 */
static void
test_prune_visual__faithful_dycoke_ranks_float32(void **state)
{
    (void)state;
    /* Two groups of 2 cells, 2 channels. Group 1 cell 0 turns by ~1.4e-4 rad (cos 1 - 1e-8),
     * cell 1 by ~1e-4 rad (cos 1 - 5e-9): in double cell 1 is more similar, so keeping the
     * least similar one keeps cell 0; in float32 both cosines are 1.0f, the tie keeps cell 0
     * too, and the order of the kept pair must put cell 0 first. */
    float x[8] = {1, 0, 1, 0, 1, 1.4e-4f, 1, 1e-4f};
    struct pv_in in = {x, NULL, 2, 1, 2, 2, NULL, NULL, 1};
    struct pv_out o;
    assert_int_equal(pv_dycoke(&in, 1.0, 2, 1, &o), 0);
    assert_int_equal(o.k, 4);
    assert_int_equal(flat(&o, 2, 1, 2), 2);
    assert_int_equal(flat(&o, 3, 1, 2), 3);
    pv_out_release(&o);
    /* Reverse the sizes: in double cell 0 is now the more similar and would come second. */
    x[5] = 1e-4f;
    x[7] = 1.4e-4f;
    assert_int_equal(pv_dycoke(&in, 1.0, 2, 1, &o), 0);
    assert_int_equal(flat(&o, 2, 1, 2), 2);
    assert_int_equal(flat(&o, 3, 1, 2), 3);
    pv_out_release(&o);
}

/*
 * VisionZip's official budget counts CLS among the dominant tokens: dominant 54, contextual 10
 * on a 24x24 CLIP grid keeps 53 patches + 10 contextual tokens per group, dominant rows first
 * (cell order), then the contextual ones.
 */
static void
test_prune_visual__visionzip_official_counts_cls(void **state)
{
    (void)state;
    struct grid g;
    grid_make(&g, 2, 24, 24, 4, 11);
    struct pv_out o;
    assert_int_equal(pv_visionzip_official(&g.in, NULL, 0, 54, 10, &o), 0);
    assert_int_equal(o.k, 2 * 63);
    assert_int_equal(o.param_a, 53);
    assert_int_equal(o.param_b, 10);
    for (size_t grp = 0; grp < 2; grp++) {
        const int32_t *ix = o.index + 3 * grp * 63;
        for (size_t i = 1; i < 53; i++) /* dominant patches in cell order */
            assert_true(ix[3 * i + 1] * 24 + ix[3 * i + 2] >
                        ix[3 * (i - 1) + 1] * 24 + ix[3 * (i - 1) + 2]);
        for (size_t i = 54; i < 63; i++) /* then the targets, in their own order */
            assert_true(ix[3 * i + 1] * 24 + ix[3 * i + 2] >
                        ix[3 * (i - 1) + 1] * 24 + ix[3 * (i - 1) + 2]);
        /* The dominant rows are the 53 most important cells of the group. */
        float lowest_kept = INFINITY;
        for (size_t i = 0; i < 53; i++) {
            float v = g.imp[grp * 576 + (size_t)(ix[3 * i + 1] * 24 + ix[3 * i + 2])];
            lowest_kept = v < lowest_kept ? v : lowest_kept;
        }
        size_t above = 0;
        for (size_t q = 0; q < 576; q++)
            above += g.imp[grp * 576 + q] > lowest_kept;
        assert_true(above < 53);
    }
    pv_out_release(&o);
    grid_free(&g);
}

static void
test_prune_visual__dycoke_keeps_least_similar(void **state)
{
    (void)state;
    /* Two groups of 4 cells, 2 channels: cell 2 of group 1 is the only one that changed, so
     * a keep of 0.25 keeps exactly that cell of group 1. */
    float x[16] = {1, 0, 0, 1, 1, 1, -1, 0, 1, 0, 0, 1, -1, 1, -1, 0};
    struct pv_in in = {x, NULL, 2, 2, 2, 2, NULL, NULL, 1};
    struct pv_out o;
    assert_int_equal(pv_dycoke(&in, 0.25, 4, 0, &o), 0);
    assert_int_equal(o.k, 5);
    assert_int_equal(flat(&o, 4, 2, 2), 6);
    pv_out_release(&o);
    assert_int_equal(pv_dycoke(&in, 0.5, 0, 0, &o), SIEVE_EINVAL);
}

static void
test_prune_visual__codec_keeps_key_groups_and_budget(void **state)
{
    (void)state;
    struct grid g;
    grid_make(&g, 6, 4, 4, 8, 21);
    size_t p = 16;
    uint8_t ftype[12] = {'I', 'P', 'B', 'P', 'B', 'P', 'I', 'P', 'B', 'P', 'B', 'P'};
    float motion[12 * 16];
    for (size_t i = 0; i < 12 * 16; i++)
        motion[i] = (float)(i % 7) / 7.0f;
    uint8_t key[6];
    float cm[6 * 16];
    pv_codec_groups(ftype, motion, 12, 4, 4, 6, 4, 4, key, cm);
    assert_int_equal(key[0], 1);
    assert_int_equal(key[3], 1);
    assert_int_equal(key[1] + key[2] + key[4] + key[5], 0);
    assert_true(cm[0] == motion[16] &&
                cm[16] == (motion[32] > motion[48] ? motion[32] : motion[48]));
    struct pv_motion mo = {key, cm};
    struct pv_out o;
    assert_int_equal(pv_codec(&g.in, &mo, 0.5, 2.0, -1.0, &o), 0);
    /* Every cell is static and matches: only the two key groups survive, under budget. */
    assert_int_equal(o.k, 2 * p);
    for (size_t i = 0; i < p; i++)
        assert_true(o.mask[i] && o.mask[3 * p + i]);
    pv_out_release(&o);
    /* Nothing static: the budget (48) trims the P/B groups, most similar first. */
    assert_int_equal(pv_codec(&g.in, &mo, 0.5, 0.0, 1.0, &o), 0);
    assert_int_equal(o.k, 48);
    assert_true(in_order(&o, 4, 4));
    pv_out_release(&o);
    grid_free(&g);
}

static void
test_prune_visual__nan_importance_ranks_last(void **state)
{
    (void)state;
    float x[4] = {1, 2, 3, 4}, imp[4] = {NAN, 0.1f, NAN, 0.1f};
    struct pv_in in = {x, imp, 1, 1, 4, 1, NULL, NULL, 1};
    struct pv_out o;
    assert_int_equal(pv_topk(&in, 0.75, &o), 0);
    assert_int_equal(o.k, 3);
    /* The two numbers first, then the earlier NaN. */
    assert_int_equal(flat(&o, 0, 1, 4), 0);
    assert_int_equal(flat(&o, 1, 1, 4), 1);
    assert_int_equal(flat(&o, 2, 1, 4), 3);
    pv_out_release(&o);
}

/* Runs every method on `in` and checks the mask agrees with k; returns the total rows. */
static size_t
run_all(const struct pv_in *in)
{
    struct pv_out o;
    size_t total = 0;
    size_t cells = (size_t)(in->t * in->h * in->w);
    uint8_t key[8] = {1, 0, 0, 0, 0, 0, 0, 0};
    float *cm = calloc(cells + 1, sizeof *cm);
    assert_non_null(cm);
    struct pv_motion mo = {key, cm};
    for (int m = 0; m < 8; m++) {
        int rc = m == 0   ? pv_dycoke(in, 0.5, 4, 0, &o)
                 : m == 1 ? pv_dycoke(in, 0.5, 4, 1, &o)
                 : m == 2 ? pv_uniform(in, 0.5, &o)
                 : m == 3 ? pv_pixel_shuffle(in, &o)
                 : m == 4 ? pv_random(in, 0.5, 1, &o)
                 : m == 5 ? pv_topk(in, 0.5, &o)
                 : m == 6 ? pv_visionzip(in, 0.5, 0.84375, &o)
                          : pv_codec(in, &mo, 0.5, 0.5, 0.9, &o);
        assert_int_equal(rc, 0);
        size_t marked = 0;
        for (size_t i = 0; i < cells; i++)
            marked += o.mask[i];
        assert_int_equal(marked, o.k);
        total += o.k;
        pv_out_release(&o);
    }
    free(cm);
    return total;
}

static void
test_prune_visual__degenerate_grids_do_not_crash(void **state)
{
    (void)state;
    float x[8] = {0}, imp[8] = {0};
    struct pv_in none = {x, imp, 0, 2, 2, 2, NULL, NULL, 1};
    assert_int_equal(run_all(&none), 0);
    struct pv_in one = {x, imp, 1, 1, 1, 2, NULL, NULL, 1};
    /* One cell, kept by every method but faithful DyCoke, which drops an odd last group. */
    assert_int_equal(run_all(&one), 7);
    struct pv_in flat = {x, imp, 2, 2, 2, 0, NULL, NULL, 1};
    assert_true(run_all(&flat) > 0); /* zero channels: rows without features */
    struct pv_in zeros = {x, imp, 2, 1, 4, 1, NULL, NULL, 1};
    assert_true(run_all(&zeros) > 0); /* all-zero tokens: cosine 0 everywhere */
}

/* Runs method m (0..9) of the list below on `in`. */
static int
run_method(int m, const struct pv_in *in, const struct pv_motion *mo, struct pv_out *o)
{
    switch (m) {
    case 0:
        return pv_dycoke(in, 0.4, 4, 0, o);
    case 1:
        return pv_dycoke(in, 0.4, 4, 1, o);
    case 2:
        return pv_dycoke(in, 0.4, 3, 1, o); /* odd window: faithful pairs cross windows */
    case 3:
        return pv_uniform(in, 0.3, o);
    case 4:
        return pv_pixel_shuffle(in, o);
    case 5:
        return pv_random(in, 0.35, 9, o);
    case 6:
        return pv_topk(in, 0.35, o);
    case 7:
        return pv_visionzip(in, 0.5, 0.6, o);
    case 8:
        return pv_codec(in, mo, 0.6, 0.5, 0.3, o);
    default:
        return pv_codec(in, mo, 0.3, 0.5, 0.3, o); /* over budget: the second pass runs */
    }
}

/* Threads split groups, windows or cells; the output must not depend on how many. */
static void
test_prune_visual__same_bytes_for_any_thread_count(void **state)
{
    (void)state;
    struct grid g;
    grid_make(&g, 11, 5, 7, 24, 17);
    size_t n = 11 * 5 * 7;
    uint8_t key[11] = {1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0};
    float *cm = malloc(n * sizeof *cm);
    assert_non_null(cm);
    uint32_t seed = 5;
    for (size_t i = 0; i < n; i++)
        cm[i] = (float)(lcg(&seed) % 100) / 100.0f;
    struct pv_motion mo = {key, cm};
    const int counts[] = {2, 3, 4, 16};
    for (int m = 0; m < 10; m++) {
        struct pv_out one, many;
        g.in.threads = 1;
        assert_int_equal(run_method(m, &g.in, &mo, &one), 0);
        for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
            g.in.threads = counts[i];
            assert_int_equal(run_method(m, &g.in, &mo, &many), 0);
            if (many.k != one.k || many.width != one.width)
                fail_msg("method %d, %d threads: %zu x %zu rows, 1 thread %zu x %zu", m, counts[i],
                         many.k, many.width, one.k, one.width);
            assert_memory_equal(many.tokens, one.tokens, one.k * one.width * sizeof(float));
            assert_memory_equal(many.index, one.index, one.k * 3 * sizeof(int32_t));
            assert_memory_equal(many.importance, one.importance, one.k * sizeof(float));
            assert_memory_equal(many.mask, one.mask, n);
            pv_out_release(&many);
        }
        pv_out_release(&one);
    }
    free(cm);
    grid_free(&g);
}

struct arena {
    float buf[4096];
    int calls;
};

static int
arena_rows(void *ctx, size_t k, size_t width, float **rows)
{
    struct arena *a = ctx;
    a->calls++;
    if (k * width > 4096)
        return SIEVE_ENOMEM;
    *rows = a->buf;
    return 0;
}

static void
test_prune_visual__tokens_alloc_receives_the_rows(void **state)
{
    (void)state;
    struct grid g;
    grid_make(&g, 4, 4, 4, 8, 5);
    static struct arena a;
    struct pv_in in = g.in;
    in.tokens_alloc = arena_rows;
    in.alloc_ctx = &a;
    struct pv_out own, lent;
    assert_int_equal(pv_visionzip(&g.in, 0.5, 0.5, &own), 0);
    assert_int_equal(pv_visionzip(&in, 0.5, 0.5, &lent), 0);
    assert_int_equal(a.calls, 1);
    assert_ptr_equal(lent.tokens, a.buf);
    assert_int_equal(own.k, lent.k);
    assert_memory_equal(own.tokens, a.buf, own.k * own.width * sizeof(float));
    pv_out_release(&own);
    pv_out_release(&lent); /* must not free the arena */
    /* An allocator failure is the method's failure, with nothing left to release. */
    in.h = 8;
    in.t = 2;
    assert_int_equal(pv_pixel_shuffle(&in, &lent), 0); /* 2*4*2 rows of 32 fit */
    pv_out_release(&lent);
    in.c = 8 * 64;
    assert_int_equal(pv_topk(&in, 1.0, &lent), SIEVE_ENOMEM);
    assert_null(lent.index);
    grid_free(&g);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prune_visual__golden),
        cmocka_unit_test(test_prune_visual__golden_official),
        cmocka_unit_test(test_prune_visual__dycoke_k_uses_official_arithmetic),
        cmocka_unit_test(test_prune_visual__faithful_dycoke_ranks_float32),
        cmocka_unit_test(test_prune_visual__visionzip_official_counts_cls),
        cmocka_unit_test(test_prune_visual__exact_keep_counts_and_order),
        cmocka_unit_test(test_prune_visual__keep_one_is_identity),
        cmocka_unit_test(test_prune_visual__random_is_seeded),
        cmocka_unit_test(test_prune_visual__faithful_dycoke_differs_as_documented),
        cmocka_unit_test(test_prune_visual__dycoke_keeps_least_similar),
        cmocka_unit_test(test_prune_visual__codec_keeps_key_groups_and_budget),
        cmocka_unit_test(test_prune_visual__nan_importance_ranks_last),
        cmocka_unit_test(test_prune_visual__degenerate_grids_do_not_crash),
        cmocka_unit_test(test_prune_visual__same_bytes_for_any_thread_count),
        cmocka_unit_test(test_prune_visual__tokens_alloc_receives_the_rows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
