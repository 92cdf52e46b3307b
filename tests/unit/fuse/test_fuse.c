/*
 * test_fuse.c - the fuse-bidirectional plugin: interleaving order, chunk boundaries, TMRoPE
 * ids, cross-modal scores, each mode's budget, audio-guided ratios and merge weighting.
 *
 * The core (fuse.c) is tested on hand-built token sets with hand-computed answers; the plugin
 * (build/plugins/fuse-bidirectional.so) is loaded with dlopen and run through the ABI on a
 * mock host, as the worker would run it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "plugins/fuse-bidirectional/fuse.h"
#include "plugins/fuse-bidirectional/proj.h"
#include "tests/support/mock_host.h"

/* ---- hand-built token sets --------------------------------------------------------------- */

/* A modality with n tokens of width c; positions/time filled by the caller. */
static void
side_init(struct av_tokens *s, int modality, int64_t n, int64_t c)
{
    memset(s, 0, sizeof *s);
    s->modality = modality;
    s->n = n;
    s->c = c;
    s->tok = calloc((size_t)(n * c) + 1, sizeof(float));
    s->time = calloc((size_t)n + 1, sizeof(float));
    s->imp = calloc((size_t)n + 1, sizeof(float));
    s->t = calloc((size_t)n + 1, sizeof(int32_t));
    s->y = calloc((size_t)n + 1, sizeof(int32_t));
    s->x = calloc((size_t)n + 1, sizeof(int32_t));
    s->full = calloc((size_t)n + 1, sizeof(int32_t));
    for (int64_t i = 0; i < n; i++)
        s->imp[i] = 1.0f;
}

/* Video of `groups` temporal groups of gh x gw tokens, one second per group. */
static void
video_grid(struct av_tokens *s, int groups, int gh, int gw, int64_t c)
{
    side_init(s, AV_VIDEO, (int64_t)groups * gh * gw, c);
    s->gt = groups;
    s->gh = gh;
    s->gw = gw;
    s->n_full = s->n;
    for (int64_t i = 0; i < s->n; i++) {
        s->t[i] = (int32_t)(i / (gh * gw));
        s->y[i] = (int32_t)((i % (gh * gw)) / gw);
        s->x[i] = (int32_t)(i % gw);
        s->full[i] = (int32_t)i;
        s->time[i] = (float)s->t[i];
        s->tok[i * c] = 1.0f; /* all alike unless a test says otherwise */
    }
}

/* Audio of n tokens at 25 per second. */
static void
audio_seq(struct av_tokens *s, int64_t n, int64_t c)
{
    side_init(s, AV_AUDIO, n, c);
    s->n_full = n;
    for (int64_t i = 0; i < n; i++) {
        s->t[i] = s->full[i] = (int32_t)i;
        s->time[i] = (float)i / 25.0f;
        s->tok[i * c] = 1.0f;
    }
}

static int64_t
count_kept(const struct fuse_result *r, int modality, int32_t chunk)
{
    int64_t n = 0;
    for (int64_t i = 0; i < r->m; i++)
        if (r->items[i].modality == modality && (chunk < 0 || r->items[i].chunk == chunk))
            n++;
    return n;
}

/* ---- the core ----------------------------------------------------------------------------- */

static void
test_fuse__chunk_boundaries_at_two_seconds(void **st)
{
    (void)st;
    assert_int_equal(fuse_chunk_of(0.0, 2.0), 0);
    assert_int_equal(fuse_chunk_of(1.96, 2.0), 0);
    assert_int_equal(fuse_chunk_of(49 / 25.0f, 2.0), 0); /* audio token 49 */
    assert_int_equal(fuse_chunk_of(50 / 25.0f, 2.0), 1); /* audio token 50, float time */
    assert_int_equal(fuse_chunk_of(3.99, 2.0), 1);
    assert_int_equal(fuse_chunk_of(4.0, 2.0), 2);
}

static void
test_fuse__interleave_order_and_tmrope(void **st)
{
    (void)st;
    struct av_tokens v, a;
    struct fuse_params p;
    struct fuse_result r;
    struct sieve_errbuf err;
    video_grid(&v, 4, 1, 2, 2); /* 4 s: groups t=0..3 of 1x2 tokens */
    audio_seq(&a, 100, 2);      /* 4 s of audio */
    fuse_params_default(&p);
    p.pos_offset = 3;
    assert_int_equal(fuse_run(&p, &v, &a, NULL, NULL, 2, &r, &err), 0);
    assert_int_equal(r.m, 108);
    assert_int_equal(r.n_chunks, 2);
    /* Chunk 0: video t=0,1 (4 tokens), then audio 0..49; chunk 1: video t=2,3, audio 50..99. */
    for (int64_t i = 0; i < 108; i++) {
        int chunk = i < 54 ? 0 : 1;
        int64_t j = i - 54 * chunk;
        assert_int_equal(r.items[i].chunk, chunk);
        assert_int_equal(r.items[i].modality, j < 4 ? AV_VIDEO : AV_AUDIO);
        assert_int_equal(r.items[i].src, j < 4 ? 4 * chunk + j : 50 * chunk + (j - 4));
    }
    /* Hand-computed TMRoPE ids: video (t*1.0*25 + 3, y + 3, x + 3), audio (k+3, k+3, k+3). */
    const int32_t v5[3] = {2 * 25 + 3, 0 + 3, 1 + 3}; /* video row 5: t=2, y=0, x=1 */
    assert_memory_equal(r.items[54 + 1].pos, v5, sizeof v5);
    const int32_t v7[3] = {3 * 25 + 3, 3, 4}; /* row 7: t=3, x=1 */
    assert_memory_equal(r.items[54 + 3].pos, v7, sizeof v7);
    const int32_t a50[3] = {53, 53, 53};
    assert_memory_equal(r.items[54 + 4].pos, a50, sizeof a50);
    assert_int_equal(r.kept[AV_VIDEO], 8);
    assert_int_equal(r.kept[AV_AUDIO], 100);
    fuse_result_release(&r);
    av_tokens_release(&v);
    av_tokens_release(&a);
}

static void
test_fuse__cross_scores_hand_checked(void **st)
{
    (void)st;
    struct av_tokens v, a;
    struct fuse_params p;
    struct fuse_result r;
    struct sieve_errbuf err;
    video_grid(&v, 1, 1, 2, 2);
    v.tok[0] = 1, v.tok[1] = 0; /* v0 = (1, 0) */
    v.tok[2] = 0, v.tok[3] = 1; /* v1 = (0, 1) */
    audio_seq(&a, 1, 2);        /* a0 = (1, 0) */
    fuse_params_default(&p);
    p.scale = 1.0;
    assert_int_equal(fuse_run(&p, &v, &a, NULL, NULL, 2, &r, &err), 0);
    assert_int_equal(r.m, 3);
    /* a0 attends over (v0, v1) with logits (1, 0): v0 gets e/(e+1), v1 1/(e+1). */
    assert_float_equal(r.items[0].score, exp(1) / (exp(1) + 1), 1e-6);
    assert_float_equal(r.items[1].score, 1 / (exp(1) + 1), 1e-6);
    /* Each video query has one audio key: softmax gives 1, the mean over two queries is 1. */
    assert_float_equal(r.items[2].score, 1.0, 1e-6);
    fuse_result_release(&r);
    av_tokens_release(&v);
    av_tokens_release(&a);
}

static void
test_fuse__joint_topk_budget_per_chunk_and_ties(void **st)
{
    (void)st;
    struct av_tokens v, a;
    struct fuse_params p;
    struct fuse_result r;
    struct sieve_errbuf err;
    video_grid(&v, 4, 1, 2, 2); /* 4 video tokens per chunk */
    audio_seq(&a, 100, 2);      /* 50 audio per chunk */
    fuse_params_default(&p);
    p.mode = FUSE_JOINT_TOPK;
    p.keep = 0.25;
    p.w_cross = 0;
    /* Chunk 0: audio token 7 and video row 2 are the most important. */
    a.imp[7] = 10.0f;
    v.imp[2] = 10.0f;
    assert_int_equal(fuse_run(&p, &v, &a, NULL, NULL, 2, &r, &err), 0);
    /* Per chunk round(0.25 * 54) = 14 tokens. */
    assert_int_equal(count_kept(&r, AV_VIDEO, 0) + count_kept(&r, AV_AUDIO, 0), 14);
    assert_int_equal(count_kept(&r, AV_VIDEO, 1) + count_kept(&r, AV_AUDIO, 1), 14);
    /*
     * Chunk 0 ranks (w_cross 0): audio 7 has 10/1.18, video row 2 has 10/3.25, the other audio
     * 1/1.18 and the other video 1/3.25. So audio 7 and video 2 first, then the 12 earliest
     * of the tied audio tokens: 0..6 and 8..12. Output keeps the interleaved order.
     */
    const int expect_mod[14] = {0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    const int64_t expect_src[14] = {2, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    for (int i = 0; i < 14; i++) {
        assert_int_equal(r.items[i].modality, expect_mod[i]);
        assert_int_equal(r.items[i].src, expect_src[i]);
    }
    /* Chunk 1: everything ties, so the earliest 14 win: 4 video then audio 50..59. */
    assert_int_equal(count_kept(&r, AV_VIDEO, 1), 4);
    assert_int_equal(r.items[14 + 4].src, 50);
    assert_int_equal(r.items[14].chunk, 1); /* kept tokens stay in interleaved order */
    fuse_result_release(&r);

    /* Raising the audio importance everywhere moves the budget to audio in every chunk. */
    for (int64_t i = 0; i < a.n; i++)
        a.imp[i] = 1.0f + (float)(i % 50) * 0.01f;
    p.keep = 0.5;
    assert_int_equal(fuse_run(&p, &v, &a, NULL, NULL, 2, &r, &err), 0);
    assert_int_equal(r.m, 54); /* 27 per chunk */
    assert_int_equal(r.kept[AV_VIDEO] + r.kept[AV_AUDIO], 54);
    /* Chunk 0: video row 2 (3.08) and then the 26 most important audio tokens, 24..49. */
    assert_int_equal(count_kept(&r, AV_VIDEO, 0), 1);
    assert_int_equal(count_kept(&r, AV_AUDIO, 0), 26);
    for (int64_t i = 0; i < r.m; i++)
        if (r.items[i].modality == AV_AUDIO && r.items[i].chunk == 0)
            assert_true(r.items[i].src >= 24);
    fuse_result_release(&r);
    av_tokens_release(&v);
    av_tokens_release(&a);
}

static void
test_fuse__guided_ratios_hand_checked(void **st)
{
    (void)st;
    double rho[4];
    /* S_a = 1, 0.5, 0 -> rho' = 0.35, 0.55, 0.75; target 0.55 of 12 = 6.6 is already met. */
    const double sa3[3] = {1.0, 0.5, 0.0};
    const int64_t size3[3] = {4, 4, 4};
    fuse_guided_ratios(3, sa3, size3, 0.55, 0.35, 0.75, rho);
    assert_float_equal(rho[0], 0.35, 1e-12);
    assert_float_equal(rho[1], 0.55, 1e-12);
    assert_float_equal(rho[2], 0.75, 1e-12);
    /*
     * S_a = 1, 0.5, 0.25, 0 -> rho' = 0.35, 0.55, 0.65, 0.75. Target 0.5 of 16 = 8 tokens;
     * the extremes are fixed (0.35·4 + 0.75·4 = 4.4), the others scaled by (8 − 4.4)/4.8 =
     * 0.75 -> 0.4125 and 0.4875, which meets the budget exactly.
     */
    const double sa4[4] = {1.0, 0.5, 0.25, 0.0};
    const int64_t size4[4] = {4, 4, 4, 4};
    fuse_guided_ratios(4, sa4, size4, 0.5, 0.35, 0.75, rho);
    assert_float_equal(rho[0], 0.35, 1e-12);
    assert_float_equal(rho[1], 0.4125, 1e-12);
    assert_float_equal(rho[2], 0.4875, 1e-12);
    assert_float_equal(rho[3], 0.75, 1e-12);
    /* A chunk without audio (S_a < 0) uses the target itself. */
    const double sa2[2] = {-1.0, 1.0};
    const int64_t size2[2] = {4, 4};
    fuse_guided_ratios(2, sa2, size2, 0.6, 0.35, 0.75, rho);
    assert_float_equal(rho[0], 0.6, 1e-12);
    /* Two windows: the guided one is rescaled to meet 0.6·8 − 2.4 = 2.4 -> 0.6, in range. */
    assert_float_equal(rho[1], 0.6, 1e-12);
    /* Clamping wins over the budget: a target below rho_min cannot be met. */
    fuse_guided_ratios(3, sa3, size3, 0.1, 0.35, 0.75, rho);
    assert_float_equal(rho[1], 0.35, 1e-12);
}

static void
test_fuse__audio_guided_follows_audio_kept_fraction(void **st)
{
    (void)st;
    struct av_tokens v, a;
    struct fuse_params p;
    struct fuse_result r;
    struct sieve_errbuf err;
    video_grid(&v, 6, 2, 2, 2); /* 3 chunks of 8 video tokens */
    audio_seq(&a, 150, 2);      /* 3 chunks of 50 audio tokens */
    /* Audio importance: chunk 0 loud (all kept), chunk 1 half, chunk 2 silent. */
    for (int64_t i = 0; i < 150; i++)
        a.imp[i] = i < 50 ? 3.0f : i < 75 ? 2.0f : 1.0f;
    fuse_params_default(&p);
    p.mode = FUSE_AUDIO_GUIDED;
    p.audio_keep = 0.5; /* 75 audio tokens: chunk 0 all 50, chunk 1 the first 25 */
    p.keep = 0.45;      /* video prune target 0.55: rho = 0.35, 0.55, 0.75 as above */
    assert_int_equal(fuse_run(&p, &v, &a, NULL, NULL, 2, &r, &err), 0);
    assert_int_equal(count_kept(&r, AV_AUDIO, 0), 50);
    assert_int_equal(count_kept(&r, AV_AUDIO, 1), 25);
    assert_int_equal(count_kept(&r, AV_AUDIO, 2), 0);
    /* Video keeps round(0.65·8) = 5, round(0.45·8) = 4, round(0.25·8) = 2. */
    assert_int_equal(count_kept(&r, AV_VIDEO, 0), 5);
    assert_int_equal(count_kept(&r, AV_VIDEO, 1), 4);
    assert_int_equal(count_kept(&r, AV_VIDEO, 2), 2);
    fuse_result_release(&r);
    av_tokens_release(&v);
    av_tokens_release(&a);
}

static void
test_fuse__merge_weights_by_similarity(void **st)
{
    (void)st;
    struct av_tokens v, a;
    struct fuse_params p;
    struct fuse_result r;
    struct sieve_errbuf err;
    video_grid(&v, 1, 1, 3, 2);
    const float vt[6] = {1, 0, 0.6f, 0.8f, -1, 0}; /* kept, dropped (cos 0.6), dropped (cos -1) */
    memcpy(v.tok, vt, sizeof vt);
    v.imp[0] = 5.0f;
    audio_seq(&a, 0, 2);
    fuse_params_default(&p);
    p.mode = FUSE_MERGE;
    p.keep = 0.34; /* round(0.34 * 3) = 1 */
    p.w_cross = 0;
    assert_int_equal(fuse_run(&p, &v, &a, NULL, NULL, 2, &r, &err), 0);
    assert_int_equal(r.m, 1);
    assert_int_equal(r.items[0].src, 0);
    /* (k + 0.6·d) / (1 + 0.6): the opposite token has weight max(0, −1) = 0. */
    assert_float_equal(r.tok[0], (1 + 0.6 * 0.6) / 1.6, 1e-6);
    assert_float_equal(r.tok[1], (0 + 0.6 * 0.8) / 1.6, 1e-6);
    fuse_result_release(&r);
    av_tokens_release(&v);
    av_tokens_release(&a);
}

static void
test_fuse__seeded_projection_is_fixed(void **st)
{
    (void)st;
    float *w1, *w2, *w3;
    assert_int_equal(proj_seeded(16, 8, 42, &w1), 0);
    assert_int_equal(proj_seeded(16, 8, 42, &w2), 0);
    assert_int_equal(proj_seeded(16, 8, 43, &w3), 0);
    assert_memory_equal(w1, w2, 16 * 8 * sizeof(float));
    assert_memory_not_equal(w1, w3, 16 * 8 * sizeof(float));
    double ss = 0;
    for (int i = 0; i < 128; i++)
        ss += (double)w1[i] * w1[i];
    assert_true(ss > 0.5 * 16 && ss < 1.5 * 16); /* entries N(0, 1/8): sum of squares ~ 16 */
    free(w1);
    free(w2);
    free(w3);
}

/* ---- the plugin through the ABI ----------------------------------------------------------- */

static struct mock_plugin
load_plugin(void)
{
    struct mock_plugin l;
    assert_int_equal(mock_plugin_open(&l, SIEVE_BUILD_PLUGIN_DIR "/fuse-bidirectional.so"), 0);
    assert_string_equal(l.desc->name, "fuse-bidirectional");
    return l;
}

/* Parameter values for the plugin's table: defaults, then overrides by name. */
static void
param_values(const struct sieve_plugin *d, struct sieve_value *v, const char *mode, double keep,
             const char *proj)
{
    char k[32];
    snprintf(k, sizeof k, "%.17g", keep);
    const char *kv[] = {"mode", mode, "keep", k, proj ? "proj" : NULL, proj, NULL};
    assert_int_equal(mock_params(d, kv, v), 0);
}

/* A full visual bundle (2 groups of 2x2 merged tokens, width 4) and 50 audio tokens (width 3). */
static void
make_inputs(struct sieve_bundle *vb, struct sieve_bundle *ab)
{
    float vt[2 * 4 * 4], vimp[8], vtime[2] = {0, 1}, at[50 * 3], aimp[50], atime[50];
    for (int i = 0; i < 32; i++)
        vt[i] = (float)((i * 7) % 5) - 2.0f;
    for (int i = 0; i < 8; i++)
        vimp[i] = (float)(i + 1);
    for (int i = 0; i < 150; i++)
        at[i] = (float)((i * 3) % 7) - 3.0f;
    for (int i = 0; i < 50; i++) {
        aimp[i] = (float)(50 - i);
        atime[i] = (float)i / 25.0f;
    }
    const int32_t grid[3] = {2, 4, 4}; /* patch units: merged 2x2 */
    mock_tensor_add(vb, "tokens", SIEVE_DTYPE_F32, 3, (int64_t[]){2, 4, 4}, vt);
    mock_tensor_add(vb, "grid", SIEVE_DTYPE_I32, 1, (int64_t[]){3}, grid);
    mock_tensor_add(vb, "importance", SIEVE_DTYPE_F32, 2, (int64_t[]){2, 4}, vimp);
    mock_tensor_add(vb, "time", SIEVE_DTYPE_F32, 1, (int64_t[]){2}, vtime);
    mock_tensor_add(ab, "tokens", SIEVE_DTYPE_F32, 2, (int64_t[]){50, 3}, at);
    mock_tensor_add(ab, "importance", SIEVE_DTYPE_F32, 1, (int64_t[]){50}, aimp);
    mock_tensor_add(ab, "time", SIEVE_DTYPE_F32, 1, (int64_t[]){50}, atime);
}

static void
test_fuse__plugin_writes_interleaved_bundle(void **st)
{
    (void)st;
    struct mock_plugin l = load_plugin();
    const struct sieve_host *h = mock_host();
    struct sieve_value v[32];
    struct sieve_errbuf err;
    void *state;
    param_values(l.desc, v, "joint-topk", 0.5, NULL);
    assert_int_equal(l.desc->init(h, v, &state, &err), 0);
    struct sieve_bundle *vb = mock_bundle_new(), *ab = mock_bundle_new(), *ob = mock_bundle_new();
    make_inputs(vb, ab);
    const struct sieve_bundle *ins[2] = {vb, ab};
    struct sieve_bundle *outs[1] = {ob};
    struct sieve_sample sample = {"clip", "/dev/null", "Music", NULL};
    struct sieve_ctx ctx = mock_ctx(&sample, 1);
    int rc = l.desc->process(state, &ctx, ins, outs, &err);
    if (rc < 0)
        fail_msg("process: %s", err.msg);
    const struct sieve_tensor *tok = h->tensor_get(ob, "tokens");
    const struct sieve_tensor *mod = h->tensor_get(ob, "modality");
    const struct sieve_tensor *pos = h->tensor_get(ob, "pos");
    const struct sieve_tensor *full = h->tensor_get(ob, "full_index");
    assert_non_null(tok);
    assert_int_equal(tok->shape[0], 29); /* round(0.5 * 58) in one chunk */
    assert_int_equal(tok->shape[1], 4);  /* audio projected to the video width */
    assert_non_null(h->tensor_get(ob, "source_index"));
    assert_non_null(h->tensor_get(ob, "chunk"));
    assert_non_null(h->tensor_get(ob, "score"));
    assert_string_equal(h->meta_get(ob, "mode"), "joint-topk");
    assert_string_equal(h->meta_get(ob, "n_chunks"), "1");
    /* Video first, then audio; video positions are (t·25, row, col) of the 2x2 merged grid. */
    const unsigned char *m = mod->data;
    const int32_t *pp = pos->data, *fi = full->data;
    int seen_audio = 0;
    for (int64_t i = 0; i < 29; i++) {
        if (m[i] == 1)
            seen_audio = 1;
        else
            assert_false(seen_audio);
        if (m[i] == 0) {
            int32_t f = fi[i];
            assert_int_equal(pp[3 * i], (f / 4) * 25);
            assert_int_equal(pp[3 * i + 1], (f % 4) / 2);
            assert_int_equal(pp[3 * i + 2], f % 2);
        } else {
            assert_int_equal(pp[3 * i], fi[i]);
        }
    }
    mock_bundle_free(ob);
    l.desc->free(state);

    /* A missing projection file is bad input, named in the message. */
    param_values(l.desc, v, "interleave", 0.5, "/nonexistent/proj.safetensors");
    assert_int_equal(l.desc->init(h, v, &state, &err), 0);
    ob = mock_bundle_new();
    outs[0] = ob;
    assert_int_equal(l.desc->process(state, &ctx, ins, outs, &err), SIEVE_EBADINPUT);
    assert_non_null(strstr(err.msg, "/nonexistent/proj.safetensors"));
    l.desc->free(state);
    mock_bundle_free(ob);
    mock_bundle_free(vb);
    mock_bundle_free(ab);
    mock_plugin_close(&l);
}

/*
 * mode omnizip through the plugin: 50 audio tokens keep round(0.7 * 50) = 35 dominant plus
 * round(0.05 * 50) = round(2.5) = 2 anchors; the one window's ratio 0.75 - 0.4 * 0.74 = 0.454
 * stands (one window: no rescaling), so each 2x2 frame keeps int(4 * 0.546) = 2 tokens.
 */
static void
test_fuse__plugin_runs_omnizip(void **st)
{
    (void)st;
    struct mock_plugin l = load_plugin();
    const struct sieve_host *h = mock_host();
    struct sieve_value v[32];
    struct sieve_errbuf err;
    void *state;
    param_values(l.desc, v, "omnizip", 0.5, NULL);
    assert_int_equal(l.desc->init(h, v, &state, &err), 0);
    struct sieve_bundle *vb = mock_bundle_new(), *ab = mock_bundle_new(), *ob = mock_bundle_new();
    make_inputs(vb, ab);
    const struct sieve_bundle *ins[2] = {vb, ab};
    struct sieve_bundle *outs[1] = {ob};
    struct sieve_sample sample = {"clip", "/dev/null", "Music", NULL};
    struct sieve_ctx ctx = mock_ctx(&sample, 1);
    int rc = l.desc->process(state, &ctx, ins, outs, &err);
    if (rc < 0)
        fail_msg("process: %s", err.msg);
    const struct sieve_tensor *mod = h->tensor_get(ob, "modality");
    assert_non_null(mod);
    int64_t nv = 0, na = 0;
    for (int64_t i = 0; i < mod->shape[0]; i++) {
        if (((const unsigned char *)mod->data)[i])
            na++;
        else
            nv++;
    }
    assert_int_equal(na, 37);
    assert_int_equal(nv, 4);
    assert_string_equal(h->meta_get(ob, "mode"), "omnizip");
    assert_non_null(strstr(h->meta_get(ob, "omnizip"), "contextual_ratio=0.05"));
    l.desc->free(state);
    mock_bundle_free(ob);
    mock_bundle_free(vb);
    mock_bundle_free(ab);
    mock_plugin_close(&l);
}

static void
test_fuse__plugin_reads_projection_file(void **st)
{
    (void)st;
    /* A hand-written safetensors file with an identity-like [4, 3] projection. */
    char path[] = "/tmp/sieve-proj-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "wb");
    const char hdr[] = "{\"proj\":{\"dtype\":\"F32\",\"shape\":[4,3],\"data_offsets\":[0,48]}}";
    uint64_t hl = sizeof hdr - 1;
    float w[12] = {1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0};
    fwrite(&hl, 8, 1, f);
    fwrite(hdr, 1, hl, f);
    fwrite(w, 4, 12, f);
    fclose(f);
    float *m;
    struct sieve_errbuf err;
    assert_int_equal(proj_load(path, "proj", 4, 3, &m, &err), 0);
    assert_memory_equal(m, w, sizeof w);
    free(m);
    assert_int_equal(proj_load(path, "proj", 5, 3, &m, &err), SIEVE_EFORMAT);
    assert_int_equal(proj_load(path, "other", 4, 3, &m, &err), SIEVE_EFORMAT);

    struct mock_plugin l = load_plugin();
    const struct sieve_host *h = mock_host();
    struct sieve_value v[32];
    void *state;
    param_values(l.desc, v, "interleave", 1.0, path);
    assert_int_equal(l.desc->init(h, v, &state, &err), 0);
    struct sieve_bundle *vb = mock_bundle_new(), *ab = mock_bundle_new(), *ob = mock_bundle_new();
    make_inputs(vb, ab);
    const struct sieve_bundle *ins[2] = {vb, ab};
    struct sieve_bundle *outs[1] = {ob};
    struct sieve_ctx ctx = mock_ctx(NULL, 1);
    assert_int_equal(l.desc->process(state, &ctx, ins, outs, &err), 0);
    /* Interleave: 8 video then 50 audio; audio token 0 = (a0, a1, a2, 0) through the identity. */
    const float *t = h->tensor_get(ob, "tokens")->data;
    const float *at = h->tensor_get(ab, "tokens")->data;
    assert_float_equal(t[8 * 4 + 0], at[0], 1e-6);
    assert_float_equal(t[8 * 4 + 2], at[2], 1e-6);
    assert_float_equal(t[8 * 4 + 3], 0, 1e-6);
    l.desc->free(state);
    mock_bundle_free(vb);
    mock_bundle_free(ab);
    mock_bundle_free(ob);
    mock_plugin_close(&l);
    unlink(path);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fuse__chunk_boundaries_at_two_seconds),
        cmocka_unit_test(test_fuse__interleave_order_and_tmrope),
        cmocka_unit_test(test_fuse__cross_scores_hand_checked),
        cmocka_unit_test(test_fuse__joint_topk_budget_per_chunk_and_ties),
        cmocka_unit_test(test_fuse__guided_ratios_hand_checked),
        cmocka_unit_test(test_fuse__audio_guided_follows_audio_kept_fraction),
        cmocka_unit_test(test_fuse__merge_weights_by_similarity),
        cmocka_unit_test(test_fuse__seeded_projection_is_fixed),
        cmocka_unit_test(test_fuse__plugin_writes_interleaved_bundle),
        cmocka_unit_test(test_fuse__plugin_reads_projection_file),
        cmocka_unit_test(test_fuse__plugin_runs_omnizip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
