/*
 * av_tokens.c - reading visual and audio bundles into plain F32 arrays (see av_tokens.h).
 */
#include "av_tokens.h"
#include "plugin_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static float
half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0) {
        float v = ldexpf((float)man, -24);
        return sign ? -v : v;
    }
    if (exp == 31)
        bits = sign | 0x7f800000u | (man << 13);
    else
        bits = sign | ((exp + 112) << 23) | (man << 13);
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

int
av_to_float(int32_t dtype, const void *src, uint64_t n, float *dst)
{
    switch (dtype) {
    case SIEVE_DTYPE_F32:
        memcpy(dst, src, n * sizeof(float));
        return 0;
    case SIEVE_DTYPE_F64:
        for (uint64_t i = 0; i < n; i++)
            dst[i] = (float)((const double *)src)[i];
        return 0;
    case SIEVE_DTYPE_F16:
        for (uint64_t i = 0; i < n; i++)
            dst[i] = half_to_float(((const uint16_t *)src)[i]);
        return 0;
    case SIEVE_DTYPE_BF16:
        for (uint64_t i = 0; i < n; i++) {
            uint32_t bits = (uint32_t)((const uint16_t *)src)[i] << 16;
            memcpy(&dst[i], &bits, sizeof(float));
        }
        return 0;
    default:
        return -1;
    }
}

double
av_cosine(const float *a, const float *b, int64_t c)
{
    double ab = 0, aa = 0, bb = 0;
    for (int64_t k = 0; k < c; k++) {
        ab += (double)a[k] * b[k];
        aa += (double)a[k] * a[k];
        bb += (double)b[k] * b[k];
    }
    if (aa <= 0 || bb <= 0)
        return 0;
    return ab / sqrt(aa * bb);
}

void
av_tokens_release(struct av_tokens *s)
{
    if (!s)
        return;
    free(s->tok);
    free(s->time);
    free(s->imp);
    free(s->t);
    free(s->y);
    free(s->x);
    free(s->full);
    memset(s, 0, sizeof *s);
}

static int
is_int(const struct sieve_tensor *t)
{
    return t->dtype == SIEVE_DTYPE_I32 || t->dtype == SIEVE_DTYPE_I64;
}

static const char *
modality_name(int m)
{
    return m == AV_VIDEO ? "visual" : "audio";
}

/* Fills gt/gh/gw for vision from `grid` and the per-group token count P (0 when unknown). */
static int
vision_grid(const struct sieve_host *h, const struct sieve_bundle *b, int64_t groups, int64_t p,
            struct av_tokens *s, struct sieve_errbuf *err)
{
    const struct sieve_tensor *g = h->tensor_get(b, "grid");
    if (g && is_int(g) && sieve_tensor_numel(g) == 3) {
        int64_t gt = plugin_tensor_int_at(g, 0), gh = plugin_tensor_int_at(g, 1),
                gw = plugin_tensor_int_at(g, 2);
        if (gt <= 0 || gh <= 0 || gw <= 0)
            return sieve_errbuf_set(err, SIEVE_EBADINPUT, "visual 'grid': non-positive size");
        /* The grid is (t, h, w) either in merged units or in 14-px patches (Qwen grid_thw). */
        if (p > 0 && gh * gw != p && (gh / 2) * (gw / 2) == p) {
            gh /= 2;
            gw /= 2;
        } else if (p > 0 && gh * gw != p) {
            return sieve_errbuf_set(err, SIEVE_EBADINPUT,
                                    "visual 'grid' (%lld, %lld) does not match %lld tokens per "
                                    "temporal group",
                                    (long long)gh, (long long)gw, (long long)p);
        }
        s->gt = (int32_t)gt;
        s->gh = (int32_t)gh;
        s->gw = (int32_t)gw;
        return 0;
    }
    if (g)
        return sieve_errbuf_set(err, SIEVE_EBADINPUT, "visual 'grid': need 3 integers");
    /* No grid: one row of P tokens per group, or a square when P is one. */
    int64_t side = (int64_t)llround(sqrt((double)p));
    s->gt = (int32_t)groups;
    s->gh = side * side == p ? (int32_t)side : 1;
    s->gw = side * side == p ? (int32_t)side : (int32_t)p;
    return 0;
}

static int
alloc_arrays(struct av_tokens *s)
{
    size_t n = (size_t)s->n;
    s->tok = malloc(n * (size_t)s->c * sizeof(float) + 1);
    s->time = malloc(n * sizeof(float) + 1);
    s->imp = malloc(n * sizeof(float) + 1);
    s->t = calloc(n + 1, sizeof(int32_t));
    s->y = calloc(n + 1, sizeof(int32_t));
    s->x = calloc(n + 1, sizeof(int32_t));
    s->full = calloc(n + 1, sizeof(int32_t));
    return s->tok && s->time && s->imp && s->t && s->y && s->x && s->full ? 0 : SIEVE_ENOMEM;
}

/* Fills the token positions from `index` (or the full layout when there is none). */
static int
fill_positions(const struct sieve_tensor *idx, struct av_tokens *s, int64_t per_group,
               struct sieve_errbuf *err)
{
    const char *mod = modality_name(s->modality);
    for (int64_t i = 0; i < s->n; i++) {
        if (s->modality == AV_AUDIO) {
            int64_t k = idx ? plugin_tensor_int_at(idx, (uint64_t)i) : i;
            if (k < 0 || k > INT32_MAX)
                return sieve_errbuf_set(err, SIEVE_EBADINPUT, "audio 'index' %lld out of range",
                                        (long long)k);
            s->t[i] = s->full[i] = (int32_t)k;
            continue;
        }
        int64_t t, y, x;
        if (idx) {
            t = plugin_tensor_int_at(idx, (uint64_t)i * 3);
            y = plugin_tensor_int_at(idx, (uint64_t)i * 3 + 1);
            x = plugin_tensor_int_at(idx, (uint64_t)i * 3 + 2);
        } else {
            t = i / per_group;
            y = (i % per_group) / s->gw;
            x = (i % per_group) % s->gw;
        }
        if (t < 0 || y < 0 || x < 0 || t >= s->gt || y >= s->gh || x >= s->gw)
            return sieve_errbuf_set(err, SIEVE_EBADINPUT,
                                    "%s 'index' row %lld (%lld, %lld, %lld) outside grid "
                                    "(%d, %d, %d)",
                                    mod, (long long)i, (long long)t, (long long)y, (long long)x,
                                    s->gt, s->gh, s->gw);
        s->t[i] = (int32_t)t;
        s->y[i] = (int32_t)y;
        s->x[i] = (int32_t)x;
        s->full[i] = (int32_t)((t * s->gh + y) * s->gw + x);
    }
    return 0;
}

static int
fill_time_imp(const struct sieve_host *h, const struct sieve_bundle *b, struct av_tokens *s,
              double second_per_grid, struct sieve_errbuf *err)
{
    const char *mod = modality_name(s->modality);
    const struct sieve_tensor *tm = h->tensor_get(b, "time");
    const struct sieve_tensor *im = h->tensor_get(b, "importance");
    uint64_t n = (uint64_t)s->n;
    if (tm) {
        uint64_t k = sieve_tensor_numel(tm);
        float *buf = malloc(k * sizeof(float) + 1);
        if (!buf)
            return SIEVE_ENOMEM;
        if (av_to_float(tm->dtype, tm->data, k, buf) < 0) {
            free(buf);
            return sieve_errbuf_set(err, SIEVE_EBADINPUT, "%s 'time': need a float tensor", mod);
        }
        int per_group = s->modality == AV_VIDEO && k == (uint64_t)s->gt && k != n;
        if (!per_group && k != n) {
            free(buf);
            return sieve_errbuf_set(err, SIEVE_EBADINPUT, "%s 'time': %llu values for %llu tokens",
                                    mod, (unsigned long long)k, (unsigned long long)n);
        }
        for (uint64_t i = 0; i < n; i++)
            s->time[i] = per_group ? buf[s->t[i]] : buf[i];
        free(buf);
    } else {
        for (uint64_t i = 0; i < n; i++)
            s->time[i] = s->modality == AV_VIDEO ? (float)(s->t[i] * second_per_grid)
                                                 : (float)(s->t[i] / AV_AUDIO_TOKENS_PER_SECOND);
    }
    if (!im) {
        for (uint64_t i = 0; i < n; i++)
            s->imp[i] = 1.0f;
        return 0;
    }
    if (sieve_tensor_numel(im) != n)
        return sieve_errbuf_set(err, SIEVE_EBADINPUT,
                                "%s 'importance': %llu values for %llu tokens", mod,
                                (unsigned long long)sieve_tensor_numel(im), (unsigned long long)n);
    if (av_to_float(im->dtype, im->data, n, s->imp) < 0)
        return sieve_errbuf_set(err, SIEVE_EBADINPUT, "%s 'importance': need a float tensor", mod);
    return 0;
}

int
av_tokens_load(const struct sieve_host *h, const struct sieve_bundle *b, int modality,
               double second_per_grid, struct av_tokens *out, struct sieve_errbuf *err)
{
    const char *mod = modality_name(modality);
    memset(out, 0, sizeof *out);
    out->modality = modality;
    if (!b)
        return sieve_errbuf_set(err, SIEVE_EBADINPUT, "%s input missing", mod);
    const struct sieve_tensor *tok = h->tensor_get(b, "tokens");
    const struct sieve_tensor *idx = h->tensor_get(b, "index");
    if (!tok)
        return sieve_errbuf_set(err, SIEVE_EBADINPUT, "%s bundle has no 'tokens'", mod);
    int64_t per_group = 0, groups = 0;
    if (modality == AV_VIDEO && !idx && tok->ndim == 3) {
        groups = tok->shape[0];
        per_group = tok->shape[1];
        out->n = groups * per_group;
        out->c = tok->shape[2];
    } else if (tok->ndim == 2) {
        out->n = tok->shape[0];
        out->c = tok->shape[1];
        groups = 1;
        per_group = out->n;
    } else {
        return sieve_errbuf_set(err, SIEVE_EBADINPUT, "%s 'tokens': unexpected shape (%u dims)",
                                mod, tok->ndim);
    }
    if (out->c <= 0)
        return sieve_errbuf_set(err, SIEVE_EBADINPUT, "%s 'tokens': zero width", mod);
    if (idx) {
        uint64_t want = (uint64_t)out->n * (modality == AV_VIDEO ? 3u : 1u);
        if (!is_int(idx) || sieve_tensor_numel(idx) != want)
            return sieve_errbuf_set(err, SIEVE_EBADINPUT,
                                    "%s 'index': need %llu integers for %lld tokens", mod,
                                    (unsigned long long)want, (long long)out->n);
        out->pruned = 1;
    }
    int rc = alloc_arrays(out);
    if (rc < 0)
        goto fail;
    if (av_to_float(tok->dtype, tok->data, (uint64_t)(out->n * out->c), out->tok) < 0) {
        rc = sieve_errbuf_set(err, SIEVE_EBADINPUT, "%s 'tokens': unsupported dtype %d", mod,
                              tok->dtype);
        goto fail;
    }
    if (modality == AV_VIDEO) {
        rc = vision_grid(h, b, groups, idx ? 0 : per_group, out, err);
        if (rc == 0 && idx && !h->tensor_get(b, "grid")) {
            /* A pruned bundle without its grid: the extent of the kept positions. */
            int32_t mt = 0, my = 0, mx = 0;
            for (int64_t i = 0; i < out->n; i++) {
                mt = mt > (int32_t)plugin_tensor_int_at(idx, (uint64_t)i * 3)
                         ? mt
                         : (int32_t)plugin_tensor_int_at(idx, (uint64_t)i * 3);
                my = my > (int32_t)plugin_tensor_int_at(idx, (uint64_t)i * 3 + 1)
                         ? my
                         : (int32_t)plugin_tensor_int_at(idx, (uint64_t)i * 3 + 1);
                mx = mx > (int32_t)plugin_tensor_int_at(idx, (uint64_t)i * 3 + 2)
                         ? mx
                         : (int32_t)plugin_tensor_int_at(idx, (uint64_t)i * 3 + 2);
            }
            out->gt = mt + 1;
            out->gh = my + 1;
            out->gw = mx + 1;
        }
        if (rc < 0)
            goto fail;
        out->n_full = (int64_t)out->gt * out->gh * out->gw;
    }
    rc = fill_positions(idx, out, per_group, err);
    if (rc < 0)
        goto fail;
    if (modality == AV_AUDIO) {
        out->n_full = out->n;
        for (int64_t i = 0; i < out->n; i++)
            if (out->full[i] + 1 > out->n_full)
                out->n_full = out->full[i] + 1;
    }
    rc = fill_time_imp(h, b, out, second_per_grid, err);
    if (rc < 0)
        goto fail;
    return 0;
fail:
    if (rc == SIEVE_ENOMEM)
        sieve_errbuf_set(err, rc, "%s tokens: out of memory", mod);
    av_tokens_release(out);
    return rc;
}
