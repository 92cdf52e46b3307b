/*
 * kept.c - mapping a kept bundle back onto the full tokens (see kept.h).
 */
#include "kept.h"

#include <stdlib.h>
#include <string.h>

#include "../common/plugin_util.h"

void
kept_release(struct kept *k)
{
    for (int m = 0; m < 2; m++) {
        free(k->mask[m]);
        free(k->feat[m]);
    }
    memset(k, 0, sizeof *k);
}

static int
alloc_side(struct kept *k, int m, const struct av_tokens *full, int64_t rows)
{
    k->mask[m] = calloc((size_t)full->n + 1, 1);
    k->feat[m] = malloc((size_t)(rows * full->c) * sizeof(float) + 1);
    return k->mask[m] && k->feat[m] ? 0 : SIEVE_ENOMEM;
}

/* Marks every token of modality m kept, features = the full tokens. */
static int
keep_all(struct kept *k, int m, const struct av_tokens *full)
{
    if (alloc_side(k, m, full, full->n) < 0)
        return SIEVE_ENOMEM;
    memset(k->mask[m], 1, (size_t)full->n);
    if (full->n > 0)
        memcpy(k->feat[m], full->tok, (size_t)(full->n * full->c) * sizeof(float));
    k->n[m] = full->n;
    return 0;
}

/* Appends kept row `row` of tokens (width c) at full position f of modality m. */
static void
add_row(struct kept *k, int m, const struct av_tokens *full, int64_t f, const float *tok, int64_t c,
        int64_t row)
{
    const float *src = c == full->c && tok ? tok + row * c : full->tok + f * full->c;
    memcpy(k->feat[m] + k->n[m] * full->c, src, (size_t)full->c * sizeof(float));
    k->mask[m][f] = 1;
    k->n[m]++;
}

static int
from_modality(const struct sieve_host *h, const struct sieve_bundle *b,
              const struct sieve_tensor *mod, const float *tok, int64_t c,
              const struct av_tokens full[2], struct kept *k, struct sieve_errbuf *err)
{
    const struct sieve_tensor *idx = h->tensor_get(b, "full_index");
    if (!idx)
        idx = h->tensor_get(b, "source_index");
    uint64_t m = sieve_tensor_numel(mod);
    if (!idx || (idx->dtype != SIEVE_DTYPE_I32 && idx->dtype != SIEVE_DTYPE_I64) ||
        sieve_tensor_numel(idx) != m ||
        (mod->dtype != SIEVE_DTYPE_U8 && mod->dtype != SIEVE_DTYPE_BOOL))
        return sieve_errbuf_set(err, SIEVE_EBADINPUT,
                                "kept 'modality': need U8 [M] with 'full_index' or "
                                "'source_index' I32 [M]");
    for (int s = 0; s < 2; s++)
        if (alloc_side(k, s, &full[s], (int64_t)m) < 0)
            return SIEVE_ENOMEM;
    for (uint64_t i = 0; i < m; i++) {
        int s = ((const unsigned char *)mod->data)[i];
        int64_t f = plugin_tensor_int_at(idx, i);
        if (s > 1 || f < 0 || f >= full[s].n)
            return sieve_errbuf_set(err, SIEVE_EBADINPUT,
                                    "kept row %llu: modality %d index %lld outside the full "
                                    "tokens",
                                    (unsigned long long)i, s, (long long)f);
        add_row(k, s, &full[s], f, tok, c, (int64_t)i);
    }
    return 0;
}

static int
from_index(const struct sieve_tensor *idx, const float *tok, int64_t c,
           const struct av_tokens full[2], struct kept *k, struct sieve_errbuf *err)
{
    int s = idx->ndim == 2 && idx->shape[1] == 3 ? AV_VIDEO : AV_AUDIO;
    uint64_t rows = sieve_tensor_numel(idx) / (s == AV_VIDEO ? 3 : 1);
    const struct av_tokens *fv = &full[AV_VIDEO];
    if (keep_all(k, 1 - s, &full[1 - s]) < 0 || alloc_side(k, s, &full[s], (int64_t)rows) < 0)
        return SIEVE_ENOMEM;
    for (uint64_t i = 0; i < rows; i++) {
        int64_t f;
        if (s == AV_VIDEO) {
            int64_t t = plugin_tensor_int_at(idx, 3 * i), y = plugin_tensor_int_at(idx, 3 * i + 1),
                    x = plugin_tensor_int_at(idx, 3 * i + 2);
            if (t < 0 || y < 0 || x < 0 || t >= fv->gt || y >= fv->gh || x >= fv->gw)
                return sieve_errbuf_set(err, SIEVE_EBADINPUT,
                                        "kept 'index' row %llu (%lld, %lld, %lld) outside the "
                                        "full grid (%d, %d, %d)",
                                        (unsigned long long)i, (long long)t, (long long)y,
                                        (long long)x, fv->gt, fv->gh, fv->gw);
            f = (t * fv->gh + y) * fv->gw + x;
        } else {
            f = plugin_tensor_int_at(idx, i);
            if (f < 0 || f >= full[s].n)
                return sieve_errbuf_set(err, SIEVE_EBADINPUT,
                                        "kept 'index' %lld outside %lld audio tokens", (long long)f,
                                        (long long)full[s].n);
        }
        add_row(k, s, &full[s], f, tok, c, (int64_t)i);
    }
    return 0;
}

int
kept_load(const struct sieve_host *h, const struct sieve_bundle *b, const struct av_tokens full[2],
          struct kept *out, struct sieve_errbuf *err)
{
    memset(out, 0, sizeof *out);
    const struct sieve_tensor *tt = h->tensor_get(b, "tokens");
    const struct sieve_tensor *mod = h->tensor_get(b, "modality");
    const struct sieve_tensor *idx = h->tensor_get(b, "index");
    float *tok = NULL;
    int64_t c = 0, rows = 0;
    int rc;
    if (tt && tt->ndim == 2) {
        rows = tt->shape[0];
        c = tt->shape[1];
        tok = malloc((size_t)(rows * c) * sizeof(float) + 1);
        if (!tok)
            return sieve_errbuf_set(err, SIEVE_ENOMEM, "kept tokens: out of memory");
        if (av_to_float(tt->dtype, tt->data, (uint64_t)(rows * c), tok) < 0) {
            free(tok);
            return sieve_errbuf_set(err, SIEVE_EBADINPUT, "kept 'tokens': unsupported dtype");
        }
    }
    if (mod) {
        if (tok && (uint64_t)rows != sieve_tensor_numel(mod)) {
            rc = sieve_errbuf_set(err, SIEVE_EBADINPUT, "kept 'tokens' and 'modality' disagree");
            goto out;
        }
        rc = from_modality(h, b, mod, tok, c, full, out, err);
    } else if (idx && (idx->dtype == SIEVE_DTYPE_I32 || idx->dtype == SIEVE_DTYPE_I64)) {
        uint64_t per = idx->ndim == 2 && idx->shape[1] == 3 ? 3 : 1;
        if (tok && (uint64_t)rows * per != sieve_tensor_numel(idx)) {
            rc = sieve_errbuf_set(err, SIEVE_EBADINPUT, "kept 'tokens' and 'index' disagree");
            goto out;
        }
        rc = from_index(idx, tok, c, full, out, err);
    } else if (idx) {
        rc = sieve_errbuf_set(err, SIEVE_EBADINPUT, "kept 'index': need I32 or I64");
    } else {
        rc = keep_all(out, AV_VIDEO, &full[AV_VIDEO]);
        if (rc == 0)
            rc = keep_all(out, AV_AUDIO, &full[AV_AUDIO]);
    }
out:
    free(tok);
    if (rc == SIEVE_ENOMEM)
        sieve_errbuf_set(err, rc, "kept tokens: out of memory");
    if (rc < 0)
        kept_release(out);
    return rc;
}
