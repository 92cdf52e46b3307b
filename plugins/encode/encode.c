/*
 * encode.c - the encode plugin: vision or audio tokens with per-token importance.
 *
 * Input `media` is the decode plugin's bundle (frames U8 [T, H, W, 3], frame_pts F64 [T],
 * mel F32 [mel_bins, L], metadata has_video / has_audio). Output `out`:
 *   vision: tokens F32 [ceil(T/2), P, C], grid I32 [3] = (t, h, w), importance F32 [t, P],
 *           keys F32 [t, P, head_dim] (keys: true, ViT models only: the chosen layer's
 *           attention keys, mean over heads, for VisionZip),
 *           time F32 [t] (seconds of each temporal group's first frame);
 *           builtin: P = (H/28)(W/28) merged patches, grid in merged units;
 *           clip/siglip: P = g*g ViT patches of the model's image size, grid (t, g, g).
 *   audio:  tokens F32 [Na, C], importance F32 [Na], time F32 [Na] (start of each token's
 *           window: k * pool * 0.02 s).
 * Metadata: modality, model, layer, dim, dims (axis names), grid/tokens_per_second, importance
 * (what the importance means), time (start).
 *
 * Models: `builtin` (no download; bvis.h, whisper.h seeded weights), `clip:PATH`,
 * `siglip:PATH` (vit.h), `whisper:PATH` (whisper.h). Weights load in init and stay in the
 * state; the built-in audio model is built on first use because its conv1 depends on the
 * number of mel bins in the input.
 */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sieve/plugin.h>

#include "../common/plugin_util.h"
#include "bvis.h"
#include "vit.h"
#include "whisper.h"

enum { P_MODALITY, P_MODEL, P_DIM, P_LAYER, P_HEADS, P_THREADS, P_CHUNK, P_POOL, P_SEED, P_KEYS };

static const char *const modalities[] = {"vision", "audio", NULL};

static const struct sieve_port inputs[] = {
    {"media", "decoded media: frames, frame_pts, mel (the decode plugin's output)", 0},
};
static const struct sieve_port outputs[] = {
    {"out", "tokens, importance, time (and grid for vision)", 0},
};
static const struct sieve_param params[] = {
    {.name = "modality",
     .type = SIEVE_PARAM_ENUM,
     .doc = "which stream to encode",
     .def = "vision",
     .choices = modalities},
    {.name = "model",
     .type = SIEVE_PARAM_STRING,
     .doc = "builtin, clip:PATH, siglip:PATH (vision) or whisper:PATH (audio); PATH a "
            "safetensors file",
     .def = "builtin"},
    {.name = "dim",
     .type = SIEVE_PARAM_INT,
     .doc = "builtin model width; 0 = 1280 (vision, a multiple of 4) or 384 (audio, whisper-tiny)",
     .def = "0",
     .min = 0,
     .max = 4704,
     .flags = SIEVE_PARAM_HAS_MIN | SIEVE_PARAM_HAS_MAX},
    {.name = "layer",
     .type = SIEVE_PARAM_INT,
     .doc = "hidden state to return: -1 last, -2 penultimate, k>0 after layer k; 0 = model "
            "default (clip/siglip -2 like LLaVA/VisionZip, whisper -1)",
     .def = "0",
     .min = -1000,
     .max = 1000,
     .flags = SIEVE_PARAM_HAS_MIN | SIEVE_PARAM_HAS_MAX},
    {.name = "heads",
     .type = SIEVE_PARAM_INT,
     .doc = "attention heads of a loaded model; 0 = hidden size / 64",
     .def = "0",
     .min = 0,
     .max = 1024,
     .flags = SIEVE_PARAM_HAS_MIN | SIEVE_PARAM_HAS_MAX},
    {.name = "threads",
     .type = SIEVE_PARAM_INT,
     .doc = "OpenBLAS threads",
     .def = "1",
     .min = 1,
     .max = 256,
     .flags = SIEVE_PARAM_HAS_MIN | SIEVE_PARAM_HAS_MAX},
    {.name = "chunk_seconds",
     .type = SIEVE_PARAM_FLOAT,
     .doc = "audio attention chunks (Qwen2.5-Omni: 2); 0 = whole 30-s Whisper windows",
     .def = "2",
     .min = 0,
     .max = 30,
     .flags = SIEVE_PARAM_HAS_MIN | SIEVE_PARAM_HAS_MAX},
    {.name = "pool",
     .type = SIEVE_PARAM_INT,
     .doc = "audio average pooling of encoder frames (2: 25 tokens/s)",
     .def = "2",
     .min = 1,
     .max = 64,
     .flags = SIEVE_PARAM_HAS_MIN | SIEVE_PARAM_HAS_MAX},
    {.name = "seed",
     .type = SIEVE_PARAM_INT,
     .doc = "seed of the builtin models' weights",
     .def = "0",
     .min = 0,
     .max = 9007199254740991.0,
     .flags = SIEVE_PARAM_HAS_MIN | SIEVE_PARAM_HAS_MAX},
    {.name = "keys",
     .type = SIEVE_PARAM_BOOL,
     .doc = "clip/siglip: also write `keys` [t, P, head_dim], the chosen layer's attention keys "
            "(mean over heads), VisionZip's contextual metric",
     .def = "false"},
};

enum kind { K_BUILTIN, K_CLIP, K_SIGLIP, K_WHISPER };

struct state {
    int audio;
    enum kind kind;
    char *model; /* the parameter as given, for metadata */
    size_t dim;
    int64_t layer, heads, threads, pool, seed;
    int keys;
    size_t chunk_frames;
    struct bvis *bvis;
    struct vit *vit;
    struct whisper *whisper;
};

static void
encode_free(void *p)
{
    struct state *s = p;
    if (!s)
        return;
    bvis_free(s->bvis);
    vit_free(s->vit);
    whisper_free(s->whisper);
    free(s->model);
    free(s);
}

static int
encode_init(const struct sieve_host *host, const struct sieve_value *pv, void **out,
            struct sieve_errbuf *err)
{
    (void)host;
    *out = NULL;
    struct state *s = calloc(1, sizeof *s);
    if (!s || !(s->model = strdup(pv[P_MODEL].s))) {
        free(s);
        return sieve_errbuf_set(err, SIEVE_ENOMEM, "encode: out of memory");
    }
    s->audio = pv[P_MODALITY].i == 1;
    s->layer = pv[P_LAYER].i;
    s->heads = pv[P_HEADS].i;
    s->threads = pv[P_THREADS].i;
    s->pool = pv[P_POOL].i;
    s->seed = pv[P_SEED].i;
    s->keys = (int)pv[P_KEYS].i;
    double cs = pv[P_CHUNK].f;
    /* Even, so that a chunk's encoder frames start on a 20-ms boundary of the whole input. */
    s->chunk_frames = cs > 0 ? 2 * (size_t)lround(cs * 50.0) : 3000;
    if (s->chunk_frames == 0)
        s->chunk_frames = 2;
    s->dim = pv[P_DIM].i ? (size_t)pv[P_DIM].i : s->audio ? 384 : 1280;
    const char *m = s->model, *path = NULL;
    int rc = 0;
    if (!strcmp(m, "builtin"))
        s->kind = K_BUILTIN;
    else if (!strncmp(m, "clip:", 5))
        s->kind = K_CLIP, path = m + 5;
    else if (!strncmp(m, "siglip:", 7))
        s->kind = K_SIGLIP, path = m + 7;
    else if (!strncmp(m, "whisper:", 8))
        s->kind = K_WHISPER, path = m + 8;
    else
        rc = sieve_errbuf_set(err, SIEVE_EINVAL,
                              "unknown model '%s' (builtin, clip:PATH, siglip:PATH, whisper:PATH)",
                              m);
    if (rc == 0 && path && !*path)
        rc = sieve_errbuf_set(err, SIEVE_EINVAL, "model '%s' has no path", m);
    if (rc == 0 && s->audio && (s->kind == K_CLIP || s->kind == K_SIGLIP))
        rc = sieve_errbuf_set(err, SIEVE_EINVAL, "model '%s' is a vision model, modality is audio",
                              m);
    if (rc == 0 && !s->audio && s->kind == K_WHISPER)
        rc = sieve_errbuf_set(err, SIEVE_EINVAL, "model '%s' is an audio model, modality is vision",
                              m);
    if (rc == 0 && s->keys && s->kind != K_CLIP && s->kind != K_SIGLIP)
        rc = sieve_errbuf_set(err, SIEVE_EINVAL,
                              "keys need a ViT model (clip:PATH or siglip:PATH), not '%s'", m);
    if (rc == 0)
        openblas_set_num_threads((int)s->threads);
    if (rc == 0 && !s->audio && s->kind == K_BUILTIN)
        rc = bvis_new(s->dim, (uint64_t)s->seed, &s->bvis, err);
    else if (rc == 0 && (s->kind == K_CLIP || s->kind == K_SIGLIP))
        rc = vit_load(path, s->kind == K_SIGLIP, s->heads, s->layer, &s->vit, err);
    else if (rc == 0 && s->kind == K_WHISPER)
        rc = whisper_load(path, s->heads, s->layer, &s->whisper, err);
    if (rc < 0) {
        encode_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

static const char *
sample_id(const struct sieve_ctx *ctx)
{
    return ctx->n_samples > 0 && ctx->samples && ctx->samples[0].id ? ctx->samples[0].id : "?";
}

static int
meta_false(const struct sieve_host *h, const struct sieve_bundle *b, const char *key)
{
    const char *v = h->meta_get(b, key);
    return v && (!strcmp(v, "false") || !strcmp(v, "0"));
}

static int
new_tensor(const struct sieve_host *h, struct sieve_bundle *b, const char *name, int32_t dtype,
           uint32_t ndim, const int64_t *shape, struct sieve_tensor **t, struct sieve_errbuf *err)
{
    int rc = h->tensor_new(b, name, dtype, ndim, shape, t);
    return rc < 0 ? sieve_errbuf_set(err, rc, "allocate output '%s'", name) : 0;
}

static int
run_vision(struct state *s, const struct sieve_ctx *ctx, const struct sieve_bundle *in,
           struct sieve_bundle *out, struct sieve_errbuf *err)
{
    const struct sieve_host *h = ctx->host;
    const char *id = sample_id(ctx);
    if (meta_false(h, in, "has_video"))
        return sieve_errbuf_set(err, SIEVE_EBADINPUT, "no video stream in sample '%s'", id);
    const struct sieve_tensor *fr = h->tensor_get(in, "frames");
    const struct sieve_tensor *pts = h->tensor_get(in, "frame_pts");
    if (!fr)
        return sieve_errbuf_set(err, SIEVE_EBADINPUT, "input has no tensor 'frames'");
    if (fr->dtype != SIEVE_DTYPE_U8 || fr->ndim != 4 || fr->shape[3] != 3 || fr->shape[0] < 1 ||
        fr->shape[1] < 1 || fr->shape[2] < 1)
        return sieve_errbuf_set(err, SIEVE_EBADINPUT,
                                "tensor 'frames' of sample '%s' must be u8 [T, H, W, 3]", id);
    size_t T = (size_t)fr->shape[0], H = (size_t)fr->shape[1], W = (size_t)fr->shape[2];
    if (!pts)
        return sieve_errbuf_set(err, SIEVE_EBADINPUT, "input has no tensor 'frame_pts'");
    if (pts->dtype != SIEVE_DTYPE_F64 || pts->ndim != 1 || (size_t)pts->shape[0] != T)
        return sieve_errbuf_set(err, SIEVE_EBADINPUT,
                                "tensor 'frame_pts' of sample '%s' must be f64 [%zu]", id, T);
    if (s->bvis && (H % 28 || W % 28))
        return sieve_errbuf_set(err, SIEVE_EBADINPUT,
                                "frames of sample '%s' are %zux%zu, not multiples of 28", id, H, W);
    size_t G = (T + 1) / 2, gh, gw, C;
    if (s->bvis) {
        gh = H / 28, gw = W / 28, C = bvis_dim(s->bvis);
    } else {
        gh = gw = vit_grid(s->vit);
        C = vit_dim(s->vit);
    }
    size_t P = gh * gw;
    struct sieve_tensor *tok, *grid, *imp, *tim;
    int64_t st[3] = {(int64_t)G, (int64_t)P, (int64_t)C}, sg = 3;
    int rc;
    if ((rc = new_tensor(h, out, "tokens", SIEVE_DTYPE_F32, 3, st, &tok, err)) < 0 ||
        (rc = new_tensor(h, out, "grid", SIEVE_DTYPE_I32, 1, &sg, &grid, err)) < 0 ||
        (rc = new_tensor(h, out, "importance", SIEVE_DTYPE_F32, 2, st, &imp, err)) < 0 ||
        (rc = new_tensor(h, out, "time", SIEVE_DTYPE_F32, 1, st, &tim, err)) < 0)
        return rc;
    struct sieve_tensor *keys = NULL;
    if (s->keys) {
        int64_t sk[3] = {(int64_t)G, (int64_t)P, (int64_t)vit_key_dim(s->vit)};
        if ((rc = new_tensor(h, out, "keys", SIEVE_DTYPE_F32, 3, sk, &keys, err)) < 0)
            return rc;
    }
    const uint8_t *px = fr->data;
    struct job job = {h, ctx};
    rc = s->bvis ? bvis_run(s->bvis, px, T, H, W, tok->data, imp->data, &job, err)
                 : vit_run(s->vit, px, T, H, W, tok->data, imp->data, keys ? keys->data : NULL,
                           &job, err);
    if (rc < 0)
        return rc;
    int32_t *gv = grid->data;
    gv[0] = (int32_t)G, gv[1] = (int32_t)gh, gv[2] = (int32_t)gw;
    for (size_t g = 0; g < G; g++)
        ((float *)tim->data)[g] = (float)((const double *)pts->data)[2 * g];
    if (s->bvis)
        rc = plugin_meta_setf(h, out, "layer", "none");
    else
        rc = plugin_meta_setf(h, out, "layer", "%zu", vit_layer(s->vit));
    if (rc == 0)
        rc = plugin_meta_setf(h, out, "grid", "%zu,%zu,%zu", G, gh, gw);
    if (rc == 0)
        rc = h->meta_set(out, "dims", "t,p,c");
    if (rc == 0)
        rc = h->meta_set(out, "importance",
                         s->kind == K_CLIP ? "cls-attention" : "attention-received");
    if (rc == 0)
        rc = h->meta_set(out, "time", "first-frame");
    return rc < 0 ? sieve_errbuf_set(err, rc, "set output metadata") : (int)C;
}

static int
run_audio(struct state *s, const struct sieve_ctx *ctx, const struct sieve_bundle *in,
          struct sieve_bundle *out, struct sieve_errbuf *err)
{
    const struct sieve_host *h = ctx->host;
    const char *id = sample_id(ctx);
    if (meta_false(h, in, "has_audio"))
        return sieve_errbuf_set(err, SIEVE_EBADINPUT, "no audio stream in sample '%s'", id);
    const struct sieve_tensor *mel = h->tensor_get(in, "mel");
    if (!mel)
        return sieve_errbuf_set(err, SIEVE_EBADINPUT, "input has no tensor 'mel'");
    if (mel->dtype != SIEVE_DTYPE_F32 || mel->ndim != 2 || mel->shape[0] < 1 || mel->shape[1] < 1)
        return sieve_errbuf_set(err, SIEVE_EBADINPUT,
                                "tensor 'mel' of sample '%s' must be f32 [mel_bins, L] with L > 0",
                                id);
    size_t M = (size_t)mel->shape[0], L = (size_t)mel->shape[1];
    int rc;
    if (s->kind == K_BUILTIN && (!s->whisper || whisper_mels(s->whisper) != M)) {
        whisper_free(s->whisper);
        s->whisper = NULL;
        if ((rc = whisper_builtin((uint64_t)s->seed, M, s->dim, s->layer, &s->whisper, err)) < 0)
            return rc;
    }
    if (whisper_mels(s->whisper) != M)
        return sieve_errbuf_set(err, SIEVE_EBADINPUT,
                                "tensor 'mel' of sample '%s' has %zu bins, model '%s' expects %zu",
                                id, M, s->model, whisper_mels(s->whisper));
    size_t na = whisper_tokens(L, s->chunk_frames, (size_t)s->pool), C = whisper_dim(s->whisper);
    struct sieve_tensor *tok, *imp, *tim;
    int64_t st[2] = {(int64_t)na, (int64_t)C};
    if ((rc = new_tensor(h, out, "tokens", SIEVE_DTYPE_F32, 2, st, &tok, err)) < 0 ||
        (rc = new_tensor(h, out, "importance", SIEVE_DTYPE_F32, 1, st, &imp, err)) < 0 ||
        (rc = new_tensor(h, out, "time", SIEVE_DTYPE_F32, 1, st, &tim, err)) < 0)
        return rc;
    struct job job = {h, ctx};
    rc = whisper_run(s->whisper, mel->data, L, s->chunk_frames, (size_t)s->pool, tok->data,
                     imp->data, &job, err);
    if (rc < 0)
        return rc;
    for (size_t k = 0; k < na; k++)
        ((float *)tim->data)[k] = (float)((double)k * (double)s->pool * 0.02);
    rc = plugin_meta_setf(h, out, "layer", "%zu", whisper_layer(s->whisper));
    if (rc == 0)
        rc = h->meta_set(out, "dims", "n,c");
    if (rc == 0)
        rc = plugin_meta_setf(h, out, "tokens_per_second", "%g", 50.0 / (double)s->pool);
    if (rc == 0)
        rc = plugin_meta_setf(h, out, "chunk_frames", "%zu", s->chunk_frames);
    if (rc == 0)
        rc = h->meta_set(out, "importance", "attention-received");
    if (rc == 0)
        rc = h->meta_set(out, "time", "token-start");
    return rc < 0 ? sieve_errbuf_set(err, rc, "set output metadata") : (int)C;
}

static int
encode_process(void *p, const struct sieve_ctx *ctx, const struct sieve_bundle *const *in,
               struct sieve_bundle *const *out, struct sieve_errbuf *err)
{
    struct state *s = p;
    const struct sieve_host *h = ctx->host;
    if (!in[0])
        return sieve_errbuf_set(err, SIEVE_EBADINPUT, "input 'media' is not connected");
    openblas_set_num_threads((int)s->threads);
    int rc =
        s->audio ? run_audio(s, ctx, in[0], out[0], err) : run_vision(s, ctx, in[0], out[0], err);
    if (rc < 0)
        return rc;
    size_t C = (size_t)rc;
    rc = h->meta_set(out[0], "modality", s->audio ? "audio" : "vision");
    if (rc == 0)
        rc = h->meta_set(out[0], "model", s->model);
    if (rc == 0)
        rc = plugin_meta_setf(h, out[0], "dim", "%zu", C);
    if (rc < 0)
        return sieve_errbuf_set(err, rc, "set output metadata");
    h->progress(ctx, 1.0);
    return 0;
}

static const struct sieve_plugin desc = SIEVE_PLUGIN_INIT(
    "encode", "1.0.0",
    "vision or audio tokens (Qwen2.5-VL layout, Whisper/Omni audio) with "
    "attention importance",
    inputs, outputs, params, SIEVE_PLUGIN_DETERMINISTIC, encode_init, encode_process, encode_free);
SIEVE_PLUGIN_DEFINE(desc)
