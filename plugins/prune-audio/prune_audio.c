/*
 * prune_audio.c - the prune-audio plugin: reads the encode plugin's audio bundle, runs one
 * method of methods.h and writes the kept tokens in time order. The algorithms and their
 * real keep fractions are documented in methods.h and docs/methods.md.
 *
 * Input `tokens`: `tokens` F32 [n, c], `importance` F32 [n] (needed by segment-topk, topk and
 * threshold), `time` F32 [n] (optional; the token index is used without it).
 * Output `out`: `tokens` F32 [k, c], `index` I32 [k] (time index of each kept token), `mask`
 * BOOL [n], `importance` F32 [k], `time` F32 [k], and metadata: the input's metadata, then
 * `method`, `keep_requested`, `keep_actual` (k / n) and the method's parameters.
 */
#include <sieve/plugin.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../common/plugin_util.h"
#include "methods.h"

enum { P_METHOD, P_KEEP, P_SEGMENTS, P_REMAINDER, P_ALPHA, P_SEED };

static const char *const remainders[] = {"spread", "drop", NULL};
enum { R_SPREAD, R_DROP };

static const char *const methods[] = {"segment-topk", "topk",   "threshold",
                                      "uniform",      "random", NULL};
enum { M_SEGMENT, M_TOPK, M_THRESHOLD, M_UNIFORM, M_RANDOM };

static const struct sieve_port inputs[] = {
    {"tokens", "audio tokens from encode: tokens [n,c], importance [n], time [n]", 0},
};
static const struct sieve_port outputs[] = {
    {"out", "kept tokens [k,c], index [k], mask [n], importance [k], time [k]", 0},
};

static const struct sieve_param params[] = {
    {.name = "method",
     .type = SIEVE_PARAM_ENUM,
     .doc = "segment-topk | topk | threshold | uniform | random",
     .def = "segment-topk",
     .choices = methods},
    {.name = "keep",
     .type = SIEVE_PARAM_FLOAT,
     .doc = "keep fraction in (0,1]: all methods but threshold keep exactly floor(keep*n) "
            "(at least 1); threshold ignores it",
     .def = "0.5",
     .min = 0,
     .max = 1,
     .flags = SIEVE_PARAM_HAS_MIN | SIEVE_PARAM_HAS_MAX},
    {.name = "segments",
     .type = SIEVE_PARAM_INT,
     .doc = "segment-topk: equal time segments [floor(s*n/S), floor((s+1)*n/S)); the remainder "
            "K mod S goes to the segments with the best leftover token",
     .def = "10",
     .min = 1,
     .max = 1 << 20,
     .flags = SIEVE_PARAM_HAS_MIN | SIEVE_PARAM_HAS_MAX},
    {.name = "remainder",
     .type = SIEVE_PARAM_ENUM,
     .doc = "segment-topk: spread (K mod S leftover tokens to the segments with the best "
            "leftover, exactly K kept) or drop (the paper's plain floor(K/S) per segment, "
            "S*floor(K/S) kept)",
     .def = "spread",
     .choices = remainders},
    {.name = "alpha",
     .type = SIEVE_PARAM_FLOAT,
     .doc = "threshold: keep tokens with importance >= alpha * mean importance",
     .def = "1.0",
     .min = 0,
     .max = 1e9,
     .flags = SIEVE_PARAM_HAS_MIN | SIEVE_PARAM_HAS_MAX},
    {.name = "seed", .type = SIEVE_PARAM_INT, .doc = "random: splitmix64 seed", .def = "0"},
};

struct state {
    int method;
    double keep, alpha;
    int64_t segments, seed;
    int remainder;
};

static int
pa_init(const struct sieve_host *host, const struct sieve_value *p, void **out,
        struct sieve_errbuf *err)
{
    (void)host;
    *out = NULL;
    if (!(p[P_KEEP].f > 0))
        return sieve_errbuf_set(err, SIEVE_EINVAL, "keep must be in (0, 1], got %g", p[P_KEEP].f);
    struct state *s = calloc(1, sizeof *s);
    if (!s)
        return sieve_errbuf_set(err, SIEVE_ENOMEM, "allocate prune-audio state");
    s->method = (int)p[P_METHOD].i;
    s->keep = p[P_KEEP].f;
    s->segments = p[P_SEGMENTS].i;
    s->remainder = (int)p[P_REMAINDER].i;
    s->alpha = p[P_ALPHA].f;
    s->seed = p[P_SEED].i;
    *out = s;
    return 0;
}

static void
pa_free(void *state)
{
    free(state);
}

static int
write_outputs(const struct sieve_host *h, const struct state *s, const struct sieve_bundle *in,
              const struct sieve_tensor *x, const float *imp, const float *time,
              const uint8_t *mask, size_t k, struct sieve_bundle *out)
{
    size_t n = (size_t)x->shape[0], c = (size_t)x->shape[1];
    struct sieve_tensor *tok, *idx, *o;
    int64_t kk = (int64_t)k, nn = (int64_t)n, shp[2] = {kk, (int64_t)c};
    int rc;
    if ((rc = h->tensor_new(out, "tokens", SIEVE_DTYPE_F32, 2, shp, &tok)) < 0 ||
        (rc = h->tensor_new(out, "index", SIEVE_DTYPE_I32, 1, &kk, &idx)) < 0)
        return rc;
    pa_gather(x->data, c, mask, n, tok->data, idx->data);
    const int32_t *ix = idx->data;
    if ((rc = h->tensor_new(out, "mask", SIEVE_DTYPE_BOOL, 1, &nn, &o)) < 0)
        return rc;
    memcpy(o->data, mask, n);
    if ((rc = h->tensor_new(out, "importance", SIEVE_DTYPE_F32, 1, &kk, &o)) < 0)
        return rc;
    for (size_t i = 0; i < k; i++)
        ((float *)o->data)[i] = imp ? imp[ix[i]] : 0.0f;
    if ((rc = h->tensor_new(out, "time", SIEVE_DTYPE_F32, 1, &kk, &o)) < 0)
        return rc;
    for (size_t i = 0; i < k; i++)
        ((float *)o->data)[i] = time ? time[ix[i]] : (float)ix[i];

    if ((rc = plugin_meta_copy(h, out, in)) < 0)
        return rc;
    rc = h->meta_set(out, "method", methods[s->method]);
    rc = rc < 0 ? rc : plugin_meta_num(h, out, "keep_requested", s->keep);
    rc = rc < 0 ? rc : plugin_meta_num(h, out, "keep_actual", n ? (double)k / (double)n : 0);
    if (s->method == M_SEGMENT)
        rc = rc < 0 ? rc : plugin_meta_num(h, out, "segments", (double)s->segments);
    /* Only when not the default, so that bundles written before the option stay the same. */
    if (s->method == M_SEGMENT && s->remainder == R_DROP)
        rc = rc < 0 ? rc : h->meta_set(out, "remainder", remainders[s->remainder]);
    if (s->method == M_THRESHOLD)
        rc = rc < 0 ? rc : plugin_meta_num(h, out, "alpha", s->alpha);
    if (s->method == M_RANDOM)
        rc = rc < 0 ? rc : plugin_meta_num(h, out, "seed", (double)s->seed);
    return rc < 0 ? rc : 0;
}

static int
pa_process(void *state, const struct sieve_ctx *ctx, const struct sieve_bundle *const *in,
           struct sieve_bundle *const *out, struct sieve_errbuf *err)
{
    const struct state *s = state;
    const struct sieve_host *h = ctx->host;
    const struct sieve_tensor *x;
    const struct sieve_tensor *imp = h->tensor_get(in[0], "importance");
    const struct sieve_tensor *time = h->tensor_get(in[0], "time");
    int rc =
        plugin_tensor_need(h, in[0], "tokens", "tokens", SIEVE_DTYPE_F32, 2, "[n, c]", &x, err);
    if (rc < 0)
        return rc;
    size_t n = (size_t)x->shape[0];
    if (n > INT32_MAX) /* counts and the index tensor are 32-bit */
        return sieve_errbuf_set(err, SIEVE_EBADINPUT, "tokens: %zu tokens is too many", n);
    if (imp && (imp->dtype != SIEVE_DTYPE_F32 || sieve_tensor_numel(imp) != n))
        return sieve_errbuf_set(err, SIEVE_EBADINPUT, "tokens: 'importance' must be f32 [%zu]", n);
    if (!imp && s->method != M_UNIFORM && s->method != M_RANDOM)
        return sieve_errbuf_set(err, SIEVE_EBADINPUT, "method '%s' needs tensor 'importance'",
                                methods[s->method]);
    if (time && (time->dtype != SIEVE_DTYPE_F32 || sieve_tensor_numel(time) != n))
        return sieve_errbuf_set(err, SIEVE_EBADINPUT, "tokens: 'time' must be f32 [%zu]", n);
    uint8_t *mask = calloc(n ? n : 1, 1);
    if (!mask)
        return sieve_errbuf_set(err, SIEVE_ENOMEM, "allocate mask of %zu tokens", n);
    const float *im = imp ? imp->data : NULL;
    int k;
    switch (s->method) {
    case M_SEGMENT:
        k = s->remainder == R_DROP ? pa_segment_topk_plain(im, n, s->keep, s->segments, mask)
                                   : pa_segment_topk(im, n, s->keep, s->segments, mask);
        break;
    case M_TOPK:
        k = pa_topk(im, n, s->keep, mask);
        break;
    case M_THRESHOLD:
        k = pa_threshold(im, n, s->alpha, mask);
        break;
    case M_UNIFORM:
        k = pa_uniform(n, s->keep, mask);
        break;
    default:
        k = pa_random(n, s->keep, (uint64_t)s->seed, mask);
        break;
    }
    rc = k;
    if (k >= 0 && (rc = write_outputs(h, s, in[0], x, im, time ? time->data : NULL, mask, (size_t)k,
                                      out[0])) >= 0)
        rc = 0;
    free(mask);
    if (rc < 0)
        return sieve_errbuf_set(err, rc, "%s: %s", methods[s->method],
                                rc == SIEVE_ENOMEM ? "out of memory" : "write output failed");
    return 0;
}

static const struct sieve_plugin desc = SIEVE_PLUGIN_INIT(
    "prune-audio", "1.0.0",
    "audio token pruning: segment-wise top-K, top-K, mean threshold, uniform, "
    "random",
    inputs, outputs, params, SIEVE_PLUGIN_DETERMINISTIC, pa_init, pa_process, pa_free);
SIEVE_PLUGIN_DEFINE(desc)
