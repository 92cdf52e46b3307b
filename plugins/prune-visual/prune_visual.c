/*
 * prune_visual.c - the prune-visual plugin: reads the encode plugin's vision bundle, runs one
 * method of methods.h and writes the kept tokens. Everything about the algorithms is in
 * methods.h (and docs/methods.md); this file only checks shapes and moves data through the
 * host services.
 *
 * Input `tokens`: `tokens` F32 [t, p, c], `grid` I32 [3] = (t, h, w) with h * w = p,
 * `importance` F32 [t, p] (needed by topk and visionzip; zeros otherwise), `time` F32 [t]
 * (optional; the group index is used without it), `keys` F32 [t, p, k] (optional: VisionZip
 * measures contextual similarity on these attention keys). Input `media` (optional, codec only):
 * `frame_type` U8 [frames] ('I', 'P', 'B') and `motion` F32 [frames, mh, mw].
 * Output `out`: `tokens` F32 [k, width], `index` I32 [k, 3] (t, y, x), `mask` BOOL [t, h, w],
 * `importance` F32 [k], `time` F32 [k], `grid` I32 [3] (the input grid, unchanged), and
 * metadata: the input's metadata, then `method`, `keep_requested`, `keep_actual` (k / t*h*w)
 * and the method's parameters (not `threads`: the output is the same for any count).
 */
#include <sieve/plugin.h>

#include <stdlib.h>
#include <string.h>

#include "../common/plugin_util.h"
#include "methods.h"

enum {
    P_METHOD,
    P_KEEP,
    P_WINDOW,
    P_FAITHFUL,
    P_DYCOKE_K,
    P_SEED,
    P_DOMINANT,
    P_VZ_DOMINANT,
    P_VZ_CONTEXTUAL,
    P_MOTION,
    P_MATCH,
    P_THREADS
};

static const char *const methods[] = {"dycoke", "uniform",   "pixel-shuffle", "random",
                                      "topk",   "visionzip", "codec",         NULL};
enum { M_DYCOKE, M_UNIFORM, M_SHUFFLE, M_RANDOM, M_TOPK, M_VISIONZIP, M_CODEC };

static const struct sieve_port inputs[] = {
    {"tokens", "vision tokens from encode: tokens [t,p,c], grid, importance, time", 0},
    {"media", "decode's bundle (frame_type, motion); used by method codec", SIEVE_PORT_OPTIONAL},
};
static const struct sieve_port outputs[] = {
    {"out", "kept tokens [k,width], index [k,3], mask [t,h,w], importance, time, grid", 0},
};

#define HAS_RANGE (SIEVE_PARAM_HAS_MIN | SIEVE_PARAM_HAS_MAX)
static const struct sieve_param params[] = {
    {.name = "method",
     .type = SIEVE_PARAM_ENUM,
     .doc = "dycoke | uniform | pixel-shuffle | random | topk | visionzip | codec",
     .def = "dycoke",
     .choices = methods},
    {.name = "keep",
     .type = SIEVE_PARAM_FLOAT,
     .doc = "keep fraction in (0,1]; real keep: dycoke ~(1+(window-1)*keep)/window, uniform <= "
            "keep (pooling window fits the budget), pixel-shuffle ~0.25 always, random/topk "
            "exactly floor(keep*n)/n, visionzip floor(keep*p)/p, codec <= keep",
     .def = "0.5",
     .min = 0,
     .max = 1,
     .flags = HAS_RANGE},
    {.name = "window",
     .type = SIEVE_PARAM_INT,
     .doc = "dycoke: temporal groups per window (the first is kept whole)",
     .def = "4",
     .min = 1,
     .max = 1 << 20,
     .flags = HAS_RANGE},
    {.name = "faithful",
     .type = SIEVE_PARAM_BOOL,
     .doc = "dycoke: reproduce the official code (last window's third group unpruned, odd last "
            "group dropped, float32 similarity ranking, kept tokens in similarity order); "
            "visionzip: the official counts (dominant incl. CLS, contextual) and output order, "
            "contextual similarity on encode's keys (needs keys: true)",
     .def = "false"},
    {.name = "dycoke_k",
     .type = SIEVE_PARAM_FLOAT,
     .doc = "dycoke: DyCoke's own pruning ratio K; a pruned group keeps int((1-K)*p) tokens as "
            "the official code computes it (K=0.34, p=100: 65) and keep is ignored; -1 uses keep",
     .def = "-1",
     .min = -1,
     .max = 1,
     .flags = HAS_RANGE},
    {.name = "seed", .type = SIEVE_PARAM_INT, .doc = "random: splitmix64 seed", .def = "0"},
    {.name = "dominant_ratio",
     .type = SIEVE_PARAM_FLOAT,
     .doc = "visionzip: share of each group's budget given to dominant tokens (54:10)",
     .def = "0.84375",
     .min = 0,
     .max = 1,
     .flags = HAS_RANGE},
    {.name = "dominant",
     .type = SIEVE_PARAM_INT,
     .doc = "visionzip faithful: dominant tokens per group counting CLS, as the official code "
            "does (54 = CLS + 53 patches)",
     .def = "54",
     .min = 0,
     .max = 1 << 30,
     .flags = HAS_RANGE},
    {.name = "contextual",
     .type = SIEVE_PARAM_INT,
     .doc = "visionzip faithful: contextual tokens per group",
     .def = "10",
     .min = 0,
     .max = 1 << 30,
     .flags = HAS_RANGE},
    {.name = "motion_threshold",
     .type = SIEVE_PARAM_FLOAT,
     .doc = "codec: a P/B cell with motion below this is static",
     .def = "0.5",
     .min = 0,
     .max = 1e9,
     .flags = HAS_RANGE},
    {.name = "match_threshold",
     .type = SIEVE_PARAM_FLOAT,
     .doc = "codec: a static cell is dropped when its cosine with its reference is at least this",
     .def = "0.9",
     .min = -1,
     .max = 1,
     .flags = HAS_RANGE},
    {.name = "threads",
     .type = SIEVE_PARAM_INT,
     .doc = "threads for one task, split by groups or cells; the output is the same for any "
            "count",
     .def = "1",
     .min = 1,
     .max = 64,
     .flags = HAS_RANGE | SIEVE_PARAM_NO_KEY},
};

struct state {
    int method;
    double keep, dycoke_k, dominant, motion_thr, match_thr;
    int64_t window, seed, vz_dominant, vz_contextual;
    int faithful, threads;
};

static int
pv_init(const struct sieve_host *host, const struct sieve_value *p, void **out,
        struct sieve_errbuf *err)
{
    (void)host;
    *out = NULL;
    if (!(p[P_KEEP].f > 0))
        return sieve_errbuf_set(err, SIEVE_EINVAL, "keep must be in (0, 1], got %g", p[P_KEEP].f);
    struct state *s = calloc(1, sizeof *s);
    if (!s)
        return sieve_errbuf_set(err, SIEVE_ENOMEM, "allocate prune-visual state");
    s->method = (int)p[P_METHOD].i;
    s->keep = p[P_KEEP].f;
    s->window = p[P_WINDOW].i;
    s->faithful = (int)p[P_FAITHFUL].i;
    s->dycoke_k = p[P_DYCOKE_K].f < 0 ? -1.0 : p[P_DYCOKE_K].f;
    s->seed = p[P_SEED].i;
    s->dominant = p[P_DOMINANT].f;
    s->vz_dominant = p[P_VZ_DOMINANT].i;
    s->vz_contextual = p[P_VZ_CONTEXTUAL].i;
    s->motion_thr = p[P_MOTION].f;
    s->match_thr = p[P_MATCH].f;
    s->threads = (int)p[P_THREADS].i;
    *out = s;
    return 0;
}

static void
pv_free(void *state)
{
    free(state);
}

/* Checks the codec side information and maps it onto the groups. */
static int
codec_side(const struct sieve_host *h, const struct sieve_bundle *media, int64_t t, int64_t hh,
           int64_t ww, uint8_t *is_key, float *cell_motion, struct sieve_errbuf *err)
{
    if (!media)
        return sieve_errbuf_set(err, SIEVE_EBADINPUT,
                                "method 'codec' needs the 'media' input (decode's bundle)");
    const struct sieve_tensor *ft = h->tensor_get(media, "frame_type");
    const struct sieve_tensor *mo = h->tensor_get(media, "motion");
    if (!ft)
        return sieve_errbuf_set(err, SIEVE_EBADINPUT,
                                "media: no tensor 'frame_type' (decode with frame_types: true)");
    if (!mo)
        return sieve_errbuf_set(err, SIEVE_EBADINPUT,
                                "media: no tensor 'motion' (decode with motion_vectors: true)");
    if ((ft->dtype != SIEVE_DTYPE_U8 && ft->dtype != SIEVE_DTYPE_BOOL) || ft->ndim != 1)
        return sieve_errbuf_set(err, SIEVE_EBADINPUT, "media: 'frame_type' must be u8 [frames]");
    if (mo->dtype != SIEVE_DTYPE_F32 || mo->ndim != 3 || mo->shape[0] != ft->shape[0] ||
        mo->shape[1] < 1 || mo->shape[2] < 1)
        return sieve_errbuf_set(err, SIEVE_EBADINPUT, "media: 'motion' must be f32 [%lld, mh, mw]",
                                (long long)ft->shape[0]);
    pv_codec_groups(ft->data, mo->data, ft->shape[0], mo->shape[1], mo->shape[2], t, hh, ww, is_key,
                    cell_motion);
    return 0;
}

static int
write_outputs(const struct sieve_host *h, const struct state *s, const struct sieve_bundle *in,
              const struct pv_out *r, const struct sieve_tensor *grid, const float *time, int64_t t,
              int64_t hh, int64_t ww, int keyed, struct sieve_bundle *out, struct sieve_errbuf *err)
{
    struct sieve_tensor *o;
    int64_t k = (int64_t)r->k;
    int rc;
    int64_t shp[2] = {k, 3};
    /* `tokens` is already in the bundle: the method wrote it through alloc_tokens. */
    if ((rc = h->tensor_new(out, "index", SIEVE_DTYPE_I32, 2, shp, &o)) < 0)
        goto fail;
    memcpy(o->data, r->index, r->k * 3 * sizeof(int32_t));
    int64_t mshape[3] = {t, hh, ww};
    if ((rc = h->tensor_new(out, "mask", SIEVE_DTYPE_BOOL, 3, mshape, &o)) < 0)
        goto fail;
    memcpy(o->data, r->mask, r->n);
    if ((rc = h->tensor_new(out, "importance", SIEVE_DTYPE_F32, 1, &k, &o)) < 0)
        goto fail;
    memcpy(o->data, r->importance, r->k * sizeof(float));
    if ((rc = h->tensor_new(out, "time", SIEVE_DTYPE_F32, 1, &k, &o)) < 0)
        goto fail;
    for (size_t i = 0; i < r->k; i++) {
        int32_t g = r->index[3 * i];
        ((float *)o->data)[i] = time ? time[g] : (float)g;
    }
    int64_t three = 3;
    if ((rc = h->tensor_new(out, "grid", SIEVE_DTYPE_I32, 1, &three, &o)) < 0)
        goto fail;
    memcpy(o->data, grid->data, 3 * sizeof(int32_t));

    if ((rc = plugin_meta_copy(h, out, in)) < 0)
        goto fail;
    double total = (double)(t * hh * ww);
    rc = h->meta_set(out, "method", methods[s->method]);
    rc = rc < 0 ? rc : plugin_meta_num(h, out, "keep_requested", s->keep);
    rc = rc < 0 ? rc : plugin_meta_num(h, out, "keep_actual", total > 0 ? (double)k / total : 0);
    switch (s->method) {
    case M_DYCOKE:
        rc = rc < 0 ? rc : plugin_meta_num(h, out, "window", (double)s->window);
        rc = rc < 0 ? rc : h->meta_set(out, "faithful", s->faithful ? "true" : "false");
        if (s->dycoke_k >= 0)
            rc = rc < 0 ? rc : plugin_meta_num(h, out, "dycoke_k", s->dycoke_k);
        rc = rc < 0 ? rc : plugin_meta_num(h, out, "tokens_per_pruned_group", r->param_a);
        break;
    case M_UNIFORM:
        rc = rc < 0 ? rc : plugin_meta_num(h, out, "pool_h", r->param_a);
        rc = rc < 0 ? rc : plugin_meta_num(h, out, "pool_w", r->param_b);
        break;
    case M_SHUFFLE:
        rc = rc < 0 ? rc : h->meta_set(out, "shuffle_factor", "2");
        break;
    case M_RANDOM:
        rc = rc < 0 ? rc : plugin_meta_num(h, out, "seed", (double)s->seed);
        break;
    case M_VISIONZIP:
        /* Only when used, so that bundles written before these options keep their bytes. */
        if (keyed)
            rc = rc < 0 ? rc : h->meta_set(out, "metric", "keys");
        if (s->faithful) {
            rc = rc < 0 ? rc : h->meta_set(out, "faithful", "true");
            rc = rc < 0 ? rc : plugin_meta_num(h, out, "dominant", (double)s->vz_dominant);
            rc = rc < 0 ? rc : plugin_meta_num(h, out, "contextual", (double)s->vz_contextual);
        } else {
            rc = rc < 0 ? rc : plugin_meta_num(h, out, "dominant_ratio", s->dominant);
        }
        rc = rc < 0 ? rc : plugin_meta_num(h, out, "dominant_per_group", r->param_a);
        rc = rc < 0 ? rc : plugin_meta_num(h, out, "contextual_per_group", r->param_b);
        break;
    case M_CODEC:
        rc = rc < 0 ? rc : plugin_meta_num(h, out, "motion_threshold", s->motion_thr);
        rc = rc < 0 ? rc : plugin_meta_num(h, out, "match_threshold", s->match_thr);
        rc = rc < 0 ? rc : plugin_meta_num(h, out, "static_cells_dropped", r->param_b);
        break;
    default:
        break;
    }
    if (rc < 0)
        goto fail;
    return 0;
fail:
    return sieve_errbuf_set(err, rc, "write output of prune-visual");
}

/* Hands a method the output bundle's `tokens` tensor as its row buffer. */
struct alloc_ctx {
    const struct sieve_host *h;
    struct sieve_bundle *out;
};

static int
alloc_tokens(void *ctx, size_t k, size_t width, float **rows)
{
    struct alloc_ctx *a = ctx;
    struct sieve_tensor *t;
    int64_t shape[2] = {(int64_t)k, (int64_t)width};
    int rc = a->h->tensor_new(a->out, "tokens", SIEVE_DTYPE_F32, 2, shape, &t);
    if (rc < 0)
        return rc;
    *rows = t->data;
    return 0;
}

static int
pv_process(void *state, const struct sieve_ctx *ctx, const struct sieve_bundle *const *in,
           struct sieve_bundle *const *out, struct sieve_errbuf *err)
{
    const struct state *s = state;
    const struct sieve_host *h = ctx->host;
    const struct sieve_tensor *x;
    const struct sieve_tensor *grid = h->tensor_get(in[0], "grid");
    const struct sieve_tensor *imp = h->tensor_get(in[0], "importance");
    const struct sieve_tensor *time = h->tensor_get(in[0], "time");
    int rc =
        plugin_tensor_need(h, in[0], "tokens", "tokens", SIEVE_DTYPE_F32, 3, "[t, p, c]", &x, err);
    if (rc < 0)
        return rc;
    int64_t t = x->shape[0], p = x->shape[1], c = x->shape[2];
    if (!grid || grid->dtype != SIEVE_DTYPE_I32 || sieve_tensor_numel(grid) != 3)
        return sieve_errbuf_set(err, SIEVE_EBADINPUT, "tokens: need i32 tensor 'grid' [3]");
    const int32_t *g = grid->data;
    if (g[0] != t || g[1] < 1 || g[2] < 1 || (int64_t)g[1] * g[2] != p)
        return sieve_errbuf_set(err, SIEVE_EBADINPUT,
                                "tokens: 'grid' (%d, %d, %d) does not match 'tokens' [%lld, %lld, "
                                "%lld]",
                                g[0], g[1], g[2], (long long)t, (long long)p, (long long)c);
    if (imp && (imp->dtype != SIEVE_DTYPE_F32 || sieve_tensor_numel(imp) != (uint64_t)(t * p)))
        return sieve_errbuf_set(err, SIEVE_EBADINPUT,
                                "tokens: 'importance' must be f32 [%lld, %lld]", (long long)t,
                                (long long)p);
    if (!imp && (s->method == M_TOPK || s->method == M_VISIONZIP))
        return sieve_errbuf_set(err, SIEVE_EBADINPUT, "method '%s' needs tensor 'importance'",
                                methods[s->method]);
    if (time && (time->dtype != SIEVE_DTYPE_F32 || sieve_tensor_numel(time) != (uint64_t)t))
        return sieve_errbuf_set(err, SIEVE_EBADINPUT, "tokens: 'time' must be f32 [%lld]",
                                (long long)t);
    /* VisionZip's metric: encode's attention keys [t, p, kc] when present. */
    const struct sieve_tensor *keys =
        s->method == M_VISIONZIP ? h->tensor_get(in[0], "keys") : NULL;
    if (keys && (keys->dtype != SIEVE_DTYPE_F32 || keys->ndim != 3 || keys->shape[0] != t ||
                 keys->shape[1] != p || keys->shape[2] < 1))
        return sieve_errbuf_set(err, SIEVE_EBADINPUT, "tokens: 'keys' must be f32 [%lld, %lld, k]",
                                (long long)t, (long long)p);
    if (s->method == M_VISIONZIP && s->faithful && !keys)
        return sieve_errbuf_set(err, SIEVE_EBADINPUT,
                                "visionzip faithful measures similarity on the attention keys: "
                                "encode with keys: true (clip or siglip)");

    struct alloc_ctx actx = {h, out[0]};
    struct pv_in pin = {.x = x->data,
                        .importance = imp ? imp->data : NULL,
                        .t = t,
                        .h = g[1],
                        .w = g[2],
                        .c = c,
                        .tokens_alloc = alloc_tokens,
                        .alloc_ctx = &actx,
                        .threads = s->threads};
    struct pv_out r;
    memset(&r, 0, sizeof r);
    uint8_t *is_key = NULL;
    float *cell_motion = NULL;
    switch (s->method) {
    case M_DYCOKE:
        rc = s->dycoke_k >= 0 ? pv_dycoke_ratio(&pin, s->dycoke_k, s->window, s->faithful, &r)
                              : pv_dycoke(&pin, s->keep, s->window, s->faithful, &r);
        break;
    case M_UNIFORM:
        rc = pv_uniform(&pin, s->keep, &r);
        break;
    case M_SHUFFLE:
        rc = pv_pixel_shuffle(&pin, &r);
        break;
    case M_RANDOM:
        rc = pv_random(&pin, s->keep, (uint64_t)s->seed, &r);
        break;
    case M_TOPK:
        rc = pv_topk(&pin, s->keep, &r);
        break;
    case M_VISIONZIP:
        if (s->faithful)
            rc = pv_visionzip_official(&pin, keys->data, keys->shape[2], s->vz_dominant,
                                       s->vz_contextual, &r);
        else
            rc = pv_visionzip_keys(&pin, keys ? keys->data : NULL, keys ? keys->shape[2] : 0,
                                   s->keep, s->dominant, &r);
        break;
    case M_CODEC:
        is_key = malloc(t ? (size_t)t : 1);
        cell_motion = malloc(((size_t)(t * p) + (t * p == 0)) * sizeof *cell_motion);
        if (!is_key || !cell_motion) {
            rc = sieve_errbuf_set(err, SIEVE_ENOMEM, "allocate codec side information");
            goto done;
        }
        if ((rc = codec_side(h, in[1], t, g[1], g[2], is_key, cell_motion, err)) < 0)
            goto done;
        struct pv_motion mo = {is_key, cell_motion};
        rc = pv_codec(&pin, &mo, s->keep, s->motion_thr, s->match_thr, &r);
        break;
    default:
        rc = sieve_errbuf_set(err, SIEVE_EINTERNAL, "unknown method %d", s->method);
        goto done;
    }
    if (rc < 0) {
        sieve_errbuf_set(err, rc, "%s: %s", methods[s->method],
                         rc == SIEVE_ENOMEM ? "out of memory" : "invalid parameters");
        goto done;
    }
    rc = write_outputs(h, s, in[0], &r, grid, time ? time->data : NULL, t, g[1], g[2], keys != NULL,
                       out[0], err);
done:
    pv_out_release(&r);
    free(cell_motion);
    free(is_key);
    return rc;
}

static const struct sieve_plugin desc = SIEVE_PLUGIN_INIT(
    "prune-visual", "1.1.0",
    "visual token pruning: DyCoke TTM, uniform pooling, pixel-shuffle, random, "
    "top-k, VisionZip, codec-guided",
    inputs, outputs, params, SIEVE_PLUGIN_DETERMINISTIC, pv_init, pv_process, pv_free);
SIEVE_PLUGIN_DEFINE(desc)
