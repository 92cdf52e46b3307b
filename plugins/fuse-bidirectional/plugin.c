/*
 * plugin.c - the `fuse-bidirectional` plugin: reads a visual and an audio bundle (full or
 * pruned), fuses them with fuse_run and writes the interleaved sequence.
 *
 * Output bundle `out`:
 *   tokens       F32 [M, C']  in the common width (the narrower modality projected)
 *   modality     U8  [M]      0 video, 1 audio
 *   time         F32 [M]      seconds
 *   pos          I32 [M, 3]   TMRoPE (t, h, w)
 *   chunk        I32 [M]
 *   score        F32 [M]      cross-modal attention received
 *   importance   F32 [M]      the token's own importance from its input bundle
 *   source_index I32 [M]      row in the input bundle of its modality
 *   full_index   I32 [M]      index in the full grid (vision, t·h·w row-major) or audio sequence
 *   grid         I32 [3]      the full merged vision grid (t, h, w)
 * Metadata: method "fuse-<mode>", mode, keep_actual_video, keep_actual_audio (kept / input),
 * n_chunks, width.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sieve/plugin.h>

#include "../common/av_tokens.h"
#include "../common/plugin_util.h"
#include "fuse.h"
#include "proj.h"

static const char *const modes[] = {"interleave", "joint-topk", "audio-guided",
                                    "merge",      "omnizip",    NULL};

static const struct sieve_port inputs[] = {
    {"visual", "vision tokens from encode or prune-visual", 0},
    {"audio", "audio tokens from encode or prune-audio", 0},
};
static const struct sieve_port outputs[] = {
    {"out", "the interleaved audio-visual sequence with positions and scores", 0},
};

#define BOUNDED (SIEVE_PARAM_HAS_MIN | SIEVE_PARAM_HAS_MAX)

enum {
    P_MODE,
    P_CHUNK,
    P_KEEP,
    P_AUDIO_KEEP,
    P_W_CROSS,
    P_W_SELF,
    P_RHO_MIN,
    P_RHO_MAX,
    P_SPG,
    P_SCALE,
    P_POS_OFFSET,
    P_PROJ,
    P_PROJ_TENSOR,
    P_SEED,
    P_RHO_AUDIO,
    P_RHO_VIDEO,
    P_CONTEXTUAL,
    P_G,
};

static const struct sieve_param params[] = {
    [P_MODE] = {.name = "mode",
                .type = SIEVE_PARAM_ENUM,
                .def = "interleave",
                .choices = modes,
                .doc = "interleave | joint-topk | audio-guided | merge | omnizip"},
    [P_CHUNK] = {.name = "chunk_seconds",
                 .type = SIEVE_PARAM_FLOAT,
                 .def = "2",
                 .min = 0.04,
                 .max = 3600,
                 .flags = BOUNDED,
                 .doc = "seconds per interleaving chunk"},
    [P_KEEP] = {.name = "keep",
                .type = SIEVE_PARAM_FLOAT,
                .def = "0.5",
                .min = 0,
                .max = 1,
                .flags = BOUNDED,
                .doc = "kept fraction per chunk (joint-topk, merge) or of video (audio-guided)"},
    [P_AUDIO_KEEP] = {.name = "audio_keep",
                      .type = SIEVE_PARAM_FLOAT,
                      .def = "0.7",
                      .min = 0,
                      .max = 1,
                      .flags = BOUNDED,
                      .doc = "audio-guided: kept audio fraction, top-k by importance"},
    [P_W_CROSS] = {.name = "w_cross",
                   .type = SIEVE_PARAM_FLOAT,
                   .def = "1",
                   .min = 0,
                   .max = 1e6,
                   .flags = BOUNDED,
                   .doc = "weight of the cross-modal score in the rank"},
    [P_W_SELF] = {.name = "w_self",
                  .type = SIEVE_PARAM_FLOAT,
                  .def = "1",
                  .min = 0,
                  .max = 1e6,
                  .flags = BOUNDED,
                  .doc = "weight of the token's own importance in the rank"},
    [P_RHO_MIN] = {.name = "rho_min",
                   .type = SIEVE_PARAM_FLOAT,
                   .def = "0.35",
                   .min = 0,
                   .max = 1,
                   .flags = BOUNDED,
                   .doc = "audio-guided: smallest per-chunk video prune ratio"},
    [P_RHO_MAX] = {.name = "rho_max",
                   .type = SIEVE_PARAM_FLOAT,
                   .def = "0.75",
                   .min = 0,
                   .max = 1,
                   .flags = BOUNDED,
                   .doc = "audio-guided: largest per-chunk video prune ratio"},
    [P_SPG] = {.name = "second_per_grid",
               .type = SIEVE_PARAM_FLOAT,
               .def = "1",
               .min = 0.001,
               .max = 3600,
               .flags = BOUNDED,
               .doc = "seconds per temporal group (temporal patch 2 / fps)"},
    [P_SCALE] = {.name = "scale",
                 .type = SIEVE_PARAM_FLOAT,
                 .def = "0",
                 .min = 0,
                 .max = 1e6,
                 .flags = BOUNDED,
                 .doc = "attention logit scale; 0 = 1/sqrt(width)"},
    [P_POS_OFFSET] = {.name = "pos_offset",
                      .type = SIEVE_PARAM_INT,
                      .def = "0",
                      .min = 0,
                      .max = 1e9,
                      .flags = BOUNDED,
                      .doc = "first position id of the media"},
    [P_PROJ] = {.name = "proj",
                .type = SIEVE_PARAM_STRING,
                .def = "none",
                .doc = "safetensors file projecting the narrower modality; none = seeded"},
    [P_PROJ_TENSOR] = {.name = "proj_tensor",
                       .type = SIEVE_PARAM_STRING,
                       .def = "proj",
                       .doc = "tensor name in the proj file, [wide, narrow]"},
    [P_SEED] = {.name = "seed",
                .type = SIEVE_PARAM_INT,
                .def = "0",
                .min = 0,
                .max = 1e15,
                .flags = BOUNDED,
                .doc = "seed of the fixed projection when no file is given"},
    [P_RHO_AUDIO] = {.name = "rho_audio",
                     .type = SIEVE_PARAM_FLOAT,
                     .def = "0.3",
                     .min = 0,
                     .max = 1,
                     .flags = BOUNDED,
                     .doc = "omnizip: audio prune ratio; keeps round((1-rho_audio)*Na) dominant "
                            "tokens (Python round, halves to even)"},
    [P_RHO_VIDEO] = {.name = "rho_video",
                     .type = SIEVE_PARAM_FLOAT,
                     .def = "0.6",
                     .min = 0,
                     .max = 1,
                     .flags = BOUNDED,
                     .doc = "omnizip: overall video prune ratio the window ratios are scaled to"},
    [P_CONTEXTUAL] = {.name = "contextual_ratio",
                      .type = SIEVE_PARAM_FLOAT,
                      .def = "0.05",
                      .min = 0,
                      .max = 1,
                      .flags = BOUNDED,
                      .doc = "omnizip: audio anchors, round(contextual_ratio*Na), kept with "
                             "merged values"},
    [P_G] = {.name = "g",
             .type = SIEVE_PARAM_INT,
             .def = "3",
             .min = 0,
             .max = 1 << 20,
             .flags = BOUNDED,
             .doc = "omnizip: audio tokens merged into each anchor (the paper uses 15 for AVUT)"},
};

struct state {
    struct fuse_params p;
    char *proj;
    char *proj_tensor;
    uint64_t seed;
};

static int
fuse_init(const struct sieve_host *host, const struct sieve_value *v, void **out,
          struct sieve_errbuf *err)
{
    (void)host;
    struct state *s = calloc(1, sizeof *s);
    if (!s)
        return sieve_errbuf_set(err, SIEVE_ENOMEM, "fuse-bidirectional: out of memory");
    fuse_params_default(&s->p);
    s->p.mode = (int)v[P_MODE].i;
    s->p.chunk_seconds = v[P_CHUNK].f;
    s->p.keep = v[P_KEEP].f;
    s->p.audio_keep = v[P_AUDIO_KEEP].f;
    s->p.w_cross = v[P_W_CROSS].f;
    s->p.w_self = v[P_W_SELF].f;
    s->p.rho_min = v[P_RHO_MIN].f;
    s->p.rho_max = v[P_RHO_MAX].f;
    s->p.second_per_grid = v[P_SPG].f;
    s->p.scale = v[P_SCALE].f;
    s->p.pos_offset = v[P_POS_OFFSET].i;
    s->p.oz.rho_audio = v[P_RHO_AUDIO].f;
    s->p.oz.rho_video = v[P_RHO_VIDEO].f;
    s->p.oz.contextual_ratio = v[P_CONTEXTUAL].f;
    s->p.oz.g = (int)v[P_G].i;
    s->proj = strdup(v[P_PROJ].s ? v[P_PROJ].s : "none");
    s->proj_tensor = strdup(v[P_PROJ_TENSOR].s ? v[P_PROJ_TENSOR].s : "proj");
    s->seed = (uint64_t)v[P_SEED].i;
    if (!s->proj || !s->proj_tensor) {
        free(s->proj);
        free(s->proj_tensor);
        free(s);
        return sieve_errbuf_set(err, SIEVE_ENOMEM, "fuse-bidirectional: out of memory");
    }
    if (s->p.rho_min > s->p.rho_max) {
        free(s->proj);
        free(s->proj_tensor);
        free(s);
        return sieve_errbuf_set(err, SIEVE_EINVAL, "fuse-bidirectional: rho_min above rho_max");
    }
    *out = s;
    return 0;
}

static void
fuse_free(void *state)
{
    struct state *s = state;
    if (!s)
        return;
    free(s->proj);
    free(s->proj_tensor);
    free(s);
}

static int
new_tensor(const struct sieve_host *h, struct sieve_bundle *b, const char *name, int32_t dtype,
           uint32_t ndim, int64_t d0, int64_t d1, void **data, struct sieve_errbuf *err)
{
    int64_t shape[2] = {d0, d1};
    struct sieve_tensor *t;
    int rc = h->tensor_new(b, name, dtype, ndim, shape, &t);
    *data = NULL;
    if (rc < 0)
        return sieve_errbuf_set(err, rc, "fuse-bidirectional: allocate '%s'", name);
    *data = t->data;
    return 0;
}

static int
write_out(const struct sieve_host *h, struct sieve_bundle *b, const struct state *s,
          const struct av_tokens *side[2], const struct fuse_result *r, struct sieve_errbuf *err)
{
    float *tok = NULL, *time = NULL, *score = NULL, *imp = NULL;
    unsigned char *mod = NULL;
    int32_t *pos = NULL, *chunk = NULL, *src = NULL, *full = NULL, *grid = NULL;
    int64_t m = r->m;
    int rc;
    if ((rc = new_tensor(h, b, "tokens", SIEVE_DTYPE_F32, 2, m, r->c, (void **)&tok, err)) < 0 ||
        (rc = new_tensor(h, b, "modality", SIEVE_DTYPE_U8, 1, m, 0, (void **)&mod, err)) < 0 ||
        (rc = new_tensor(h, b, "time", SIEVE_DTYPE_F32, 1, m, 0, (void **)&time, err)) < 0 ||
        (rc = new_tensor(h, b, "pos", SIEVE_DTYPE_I32, 2, m, 3, (void **)&pos, err)) < 0 ||
        (rc = new_tensor(h, b, "chunk", SIEVE_DTYPE_I32, 1, m, 0, (void **)&chunk, err)) < 0 ||
        (rc = new_tensor(h, b, "score", SIEVE_DTYPE_F32, 1, m, 0, (void **)&score, err)) < 0 ||
        (rc = new_tensor(h, b, "importance", SIEVE_DTYPE_F32, 1, m, 0, (void **)&imp, err)) < 0 ||
        (rc = new_tensor(h, b, "source_index", SIEVE_DTYPE_I32, 1, m, 0, (void **)&src, err)) < 0 ||
        (rc = new_tensor(h, b, "full_index", SIEVE_DTYPE_I32, 1, m, 0, (void **)&full, err)) < 0 ||
        (rc = new_tensor(h, b, "grid", SIEVE_DTYPE_I32, 1, 3, 0, (void **)&grid, err)) < 0)
        return rc;
    if (m > 0)
        memcpy(tok, r->tok, (size_t)(m * r->c) * sizeof(float));
    for (int64_t i = 0; i < m; i++) {
        const struct fuse_item *it = &r->items[i];
        const struct av_tokens *sd = side[it->modality];
        mod[i] = (unsigned char)it->modality;
        time[i] = sd->time[it->src];
        memcpy(pos + 3 * i, it->pos, sizeof it->pos);
        chunk[i] = it->chunk;
        score[i] = it->score;
        imp[i] = sd->imp[it->src];
        src[i] = (int32_t)it->src;
        full[i] = sd->full[it->src];
    }
    grid[0] = side[AV_VIDEO]->gt;
    grid[1] = side[AV_VIDEO]->gh;
    grid[2] = side[AV_VIDEO]->gw;

    rc = plugin_meta_setf(h, b, "method", "fuse-%s", modes[s->p.mode]);
    if (rc == 0)
        rc = h->meta_set(b, "mode", modes[s->p.mode]);
    for (int k = 0; k < 2 && rc == 0; k++) {
        double frac = r->total[k] > 0 ? (double)r->kept[k] / (double)r->total[k] : 1.0;
        rc = plugin_meta_setf(h, b, k == AV_VIDEO ? "keep_actual_video" : "keep_actual_audio",
                              "%.6g", frac);
    }
    if (rc == 0)
        rc = plugin_meta_setf(h, b, "n_chunks", "%d", r->n_chunks);
    if (rc == 0)
        rc = plugin_meta_setf(h, b, "width", "%lld", (long long)r->c);
    /* Only for omnizip, so that the other modes' bundles stay byte for byte the same. */
    if (rc == 0 && s->p.mode == FUSE_OMNIZIP)
        rc = plugin_meta_setf(h, b, "omnizip",
                              "rho_audio=%.17g rho_video=%.17g "
                              "contextual_ratio=%.17g g=%d rho_min=%.17g rho_max=%.17g",
                              s->p.oz.rho_audio, s->p.oz.rho_video, s->p.oz.contextual_ratio,
                              s->p.oz.g, s->p.rho_min, s->p.rho_max);
    if (rc < 0)
        return sieve_errbuf_set(err, rc, "fuse-bidirectional: set metadata");
    return 0;
}

static int
fuse_process(void *state, const struct sieve_ctx *ctx, const struct sieve_bundle *const *in,
             struct sieve_bundle *const *out, struct sieve_errbuf *err)
{
    const struct state *s = state;
    const struct sieve_host *h = ctx->host;
    struct av_tokens v, a;
    struct fuse_result r;
    float *proj = NULL;
    int rc;
    memset(&r, 0, sizeof r);
    memset(&a, 0, sizeof a);
    rc = av_tokens_load(h, in[0], AV_VIDEO, s->p.second_per_grid, &v, err);
    if (rc < 0)
        return rc;
    rc = av_tokens_load(h, in[1], AV_AUDIO, s->p.second_per_grid, &a, err);
    if (rc < 0)
        goto out;
    int64_t c = v.c > a.c ? v.c : a.c;
    if (v.c != a.c) {
        int64_t narrow = v.c < a.c ? v.c : a.c;
        if (s->proj[0] && strcmp(s->proj, "none") != 0)
            rc = proj_load(s->proj, s->proj_tensor, c, narrow, &proj, err);
        else if ((rc = proj_seeded(c, narrow, s->seed, &proj)) < 0)
            sieve_errbuf_set(err, rc, "fuse-bidirectional: out of memory");
        if (rc < 0) {
            if (rc == SIEVE_EFORMAT || rc == SIEVE_ENOENT)
                rc = SIEVE_EBADINPUT; /* a bad weights file never heals on retry */
            goto out;
        }
    }
    rc = fuse_run(&s->p, &v, &a, v.c < c ? proj : NULL, a.c < c ? proj : NULL, c, &r, err);
    if (rc < 0)
        goto out;
    h->progress(ctx, 0.9);
    const struct av_tokens *side[2] = {&v, &a};
    rc = write_out(h, out[0], s, side, &r, err);
out:
    fuse_result_release(&r);
    free(proj);
    av_tokens_release(&a);
    av_tokens_release(&v);
    return rc;
}

static const struct sieve_plugin desc = SIEVE_PLUGIN_INIT(
    "fuse-bidirectional", "1.0.0",
    "2-second audio-visual interleaving (TMRoPE) with cross-modal scores and "
    "joint, audio-guided, merging or OmniZip budgets",
    inputs, outputs, params, SIEVE_PLUGIN_DETERMINISTIC, fuse_init, fuse_process, fuse_free);
SIEVE_PLUGIN_DEFINE(desc)
