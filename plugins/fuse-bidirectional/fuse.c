/*
 * fuse.c - chunking, TMRoPE ids, cross-modal scores and the four fusion modes (see fuse.h).
 */
#include "fuse.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void
fuse_params_default(struct fuse_params *p)
{
    memset(p, 0, sizeof *p);
    p->mode = FUSE_INTERLEAVE;
    p->chunk_seconds = 2.0;
    p->keep = 0.5;
    p->audio_keep = 0.7;
    p->w_cross = 1.0;
    p->w_self = 1.0;
    p->rho_min = 0.35;
    p->rho_max = 0.75;
    p->second_per_grid = 1.0;
    omnizip_params_default(&p->oz);
}

int32_t
fuse_chunk_of(double time, double chunk_seconds)
{
    double q = floor(time / chunk_seconds + 1e-6);
    return q < 0 ? 0 : (int32_t)q;
}

static double
clampd(double v, double lo, double hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

void
fuse_guided_ratios(int n, const double *sa, const int64_t *size, double target, double rho_min,
                   double rho_max, double *rho)
{
    double total = 0, fixed = 0, others = 0, others_size = 0;
    int imin = -1, imax = -1, n_guided = 0;
    for (int i = 0; i < n; i++) {
        total += (double)size[i];
        if (sa[i] < 0 || size[i] == 0) {
            rho[i] = target; /* OmniZip: a window without audio uses the target ratio */
            fixed += rho[i] * (double)size[i];
            continue;
        }
        rho[i] = clampd(rho_max - (rho_max - rho_min) * sa[i], rho_min, rho_max);
        n_guided++;
        if (imin < 0 || rho[i] < rho[imin])
            imin = i;
        if (imax < 0 || rho[i] >= rho[imax])
            imax = i;
    }
    if (n_guided == 0)
        return;
    /* With more than two windows the extremes stay as the audio set them (OmniZip §3.4). */
    int fix_extremes = n_guided > 2 && imin != imax;
    for (int i = 0; i < n; i++) {
        if (sa[i] < 0 || size[i] == 0)
            continue;
        if (fix_extremes && (i == imin || i == imax)) {
            fixed += rho[i] * (double)size[i];
            continue;
        }
        others += rho[i] * (double)size[i];
        others_size += (double)size[i];
    }
    double want = target * total - fixed;
    if (others_size <= 0)
        return;
    double factor = others > 0 ? want / others : 1.0;
    double now = 0;
    for (int i = 0; i < n; i++) {
        if (sa[i] < 0 || size[i] == 0 || (fix_extremes && (i == imin || i == imax)))
            continue;
        rho[i] = clampd(rho[i] * factor, rho_min, rho_max);
        now += rho[i] * (double)size[i];
    }
    double per_token = (want - now) / others_size;
    for (int i = 0; i < n; i++) {
        if (sa[i] < 0 || size[i] == 0 || (fix_extremes && (i == imin || i == imax)))
            continue;
        rho[i] = clampd(rho[i] + per_token, rho_min, rho_max);
    }
}

/* A token in the interleaved order: modality, row, and its place in that order. */
struct slot {
    int modality;
    int64_t src;
    int32_t chunk;
    int64_t key; /* full index, sorts tokens of one modality and chunk */
};

static int
slot_cmp(const void *pa, const void *pb)
{
    const struct slot *a = pa, *b = pb;
    if (a->chunk != b->chunk)
        return a->chunk < b->chunk ? -1 : 1;
    if (a->modality != b->modality)
        return a->modality < b->modality ? -1 : 1; /* video (0) before audio (1) */
    if (a->key != b->key)
        return a->key < b->key ? -1 : 1;
    return a->src < b->src ? -1 : a->src > b->src;
}

/* For top-k: higher rank first, then earlier in the interleaved order. */
struct ranked {
    double rank;
    int64_t ord;
};

static int
ranked_cmp(const void *pa, const void *pb)
{
    const struct ranked *a = pa, *b = pb;
    if (a->rank != b->rank)
        return a->rank > b->rank ? -1 : 1;
    return a->ord < b->ord ? -1 : a->ord > b->ord;
}

/* Marks the `k` best of the `n` slots ord[0..n) (indices into the slot array) as kept. */
static int
keep_top(const int64_t *ord, int64_t n, int64_t k, const double *rank, unsigned char *kept)
{
    if (k >= n) {
        for (int64_t i = 0; i < n; i++)
            kept[ord[i]] = 1;
        return 0;
    }
    struct ranked *r = malloc((size_t)n * sizeof *r + 1);
    if (!r)
        return SIEVE_ENOMEM;
    for (int64_t i = 0; i < n; i++) {
        r[i].rank = rank[ord[i]];
        r[i].ord = ord[i];
    }
    qsort(r, (size_t)n, sizeof *r, ranked_cmp);
    for (int64_t i = 0; i < k; i++)
        kept[r[i].ord] = 1;
    free(r);
    return 0;
}

static int64_t
round_count(double x)
{
    return x <= 0 ? 0 : (int64_t)floor(x + 0.5);
}

/* Maps one modality into the common width and L2-normalises a copy. */
static int
project(const struct av_tokens *s, const float *proj, int64_t c, float **out, float **unit)
{
    *out = malloc((size_t)(s->n * c) * sizeof(float) + 1);
    *unit = malloc((size_t)(s->n * c) * sizeof(float) + 1);
    if (!*out || !*unit)
        return SIEVE_ENOMEM;
    for (int64_t i = 0; i < s->n; i++) {
        const float *x = s->tok + i * s->c;
        float *y = *out + i * c;
        if (!proj) {
            memcpy(y, x, (size_t)c * sizeof(float));
        } else {
            for (int64_t o = 0; o < c; o++) {
                double acc = 0;
                for (int64_t k = 0; k < s->c; k++)
                    acc += (double)proj[o * s->c + k] * x[k];
                y[o] = (float)acc;
            }
        }
        double nn = 0;
        for (int64_t o = 0; o < c; o++)
            nn += (double)y[o] * y[o];
        double inv = nn > 0 ? 1.0 / sqrt(nn) : 0;
        for (int64_t o = 0; o < c; o++)
            (*unit)[i * c + o] = (float)(y[o] * inv);
    }
    return 0;
}

/*
 * Cross-modal attention in one chunk: queries q[0..nq) attend over keys k[0..nk) (slot
 * numbers); each key's score += attention / nq.
 */
static void
attend(const int64_t *q, int64_t nq, const int64_t *k, int64_t nk, float *const unit[2],
       const struct slot *slots, int64_t c, double scale, double *logit, double *score)
{
    for (int64_t i = 0; i < nq; i++) {
        const float *qi = unit[slots[q[i]].modality] + slots[q[i]].src * c;
        double mx = -INFINITY, sum = 0;
        for (int64_t j = 0; j < nk; j++) {
            const float *kj = unit[slots[k[j]].modality] + slots[k[j]].src * c;
            double d = 0;
            for (int64_t o = 0; o < c; o++)
                d += (double)qi[o] * kj[o];
            logit[j] = scale * d;
            mx = logit[j] > mx ? logit[j] : mx;
        }
        for (int64_t j = 0; j < nk; j++) {
            logit[j] = exp(logit[j] - mx);
            sum += logit[j];
        }
        for (int64_t j = 0; j < nk; j++)
            score[k[j]] += logit[j] / sum / (double)nq;
    }
}

/* Working state of one fuse_run. */
struct work {
    const struct fuse_params *p;
    const struct av_tokens *side[2];
    int64_t c, n;
    struct slot *slots;   /* [n] interleaved order */
    float *proj[2];       /* projected tokens per modality */
    float *unit[2];       /* normalised */
    double *score, *rank; /* [n] */
    unsigned char *kept;  /* [n] */
    int64_t *chunk_start; /* [n_chunks + 1] slot ranges per chunk */
    int64_t *vsplit;      /* [n_chunks] first audio slot of each chunk */
    int32_t n_chunks;
    float *override;             /* omnizip: [n, c] replacement rows (merged anchors), or NULL */
    unsigned char *has_override; /* [n] */
};

static void
work_release(struct work *w)
{
    free(w->slots);
    for (int m = 0; m < 2; m++) {
        free(w->proj[m]);
        free(w->unit[m]);
    }
    free(w->score);
    free(w->rank);
    free(w->kept);
    free(w->chunk_start);
    free(w->vsplit);
    free(w->override);
    free(w->has_override);
}

static int
build_slots(struct work *w)
{
    int64_t n = 0;
    w->n = w->side[0]->n + w->side[1]->n;
    w->slots = malloc((size_t)w->n * sizeof *w->slots + 1);
    if (!w->slots)
        return SIEVE_ENOMEM;
    w->n_chunks = 0;
    for (int m = 0; m < 2; m++) {
        const struct av_tokens *s = w->side[m];
        for (int64_t i = 0; i < s->n; i++) {
            struct slot *sl = &w->slots[n++];
            sl->modality = m;
            sl->src = i;
            sl->chunk = fuse_chunk_of(s->time[i], w->p->chunk_seconds);
            sl->key = s->full[i];
            if (sl->chunk + 1 > w->n_chunks)
                w->n_chunks = sl->chunk + 1;
        }
    }
    qsort(w->slots, (size_t)n, sizeof *w->slots, slot_cmp);
    w->chunk_start = calloc((size_t)w->n_chunks + 1, sizeof(int64_t));
    w->vsplit = calloc((size_t)w->n_chunks + 1, sizeof(int64_t));
    if (!w->chunk_start || !w->vsplit)
        return SIEVE_ENOMEM;
    /* chunk_start[j] = first slot of chunk j; vsplit[j] = first audio slot of chunk j. */
    int64_t i = 0;
    for (int32_t j = 0; j < w->n_chunks; j++) {
        w->chunk_start[j] = i;
        while (i < n && w->slots[i].chunk == j && w->slots[i].modality == AV_VIDEO)
            i++;
        w->vsplit[j] = i;
        while (i < n && w->slots[i].chunk == j)
            i++;
    }
    w->chunk_start[w->n_chunks] = n;
    return 0;
}

static int
compute_scores(struct work *w)
{
    int64_t maxn = 1;
    for (int32_t j = 0; j < w->n_chunks; j++) {
        int64_t a = w->vsplit[j] - w->chunk_start[j], b = w->chunk_start[j + 1] - w->vsplit[j];
        maxn = a > maxn ? a : maxn;
        maxn = b > maxn ? b : maxn;
    }
    int64_t *ord = malloc((size_t)w->n * sizeof(int64_t) + 1);
    double *logit = malloc((size_t)maxn * sizeof(double));
    w->score = calloc((size_t)w->n + 1, sizeof(double));
    w->rank = calloc((size_t)w->n + 1, sizeof(double));
    if (!ord || !logit || !w->score || !w->rank) {
        free(ord);
        free(logit);
        return SIEVE_ENOMEM;
    }
    for (int64_t i = 0; i < w->n; i++)
        ord[i] = i;
    double scale = w->p->scale > 0 ? w->p->scale : 1.0 / sqrt((double)w->c);
    for (int32_t j = 0; j < w->n_chunks; j++) {
        int64_t v0 = w->chunk_start[j], a0 = w->vsplit[j], e = w->chunk_start[j + 1];
        if (a0 > v0 && e > a0) {
            attend(ord + a0, e - a0, ord + v0, a0 - v0, w->unit, w->slots, w->c, scale, logit,
                   w->score); /* audio -> video */
            attend(ord + v0, a0 - v0, ord + a0, e - a0, w->unit, w->slots, w->c, scale, logit,
                   w->score); /* video -> audio */
        }
        /* The rank of each modality's tokens in this chunk (see fuse.h). */
        int64_t lo[2] = {v0, a0}, hi[2] = {a0, e};
        for (int m = 0; m < 2; m++) {
            int64_t cnt = hi[m] - lo[m];
            double mean = 0;
            for (int64_t i = lo[m]; i < hi[m]; i++)
                mean += w->side[m]->imp[w->slots[i].src];
            mean = cnt > 0 ? mean / (double)cnt : 0;
            for (int64_t i = lo[m]; i < hi[m]; i++) {
                double imp = mean > 0 ? w->side[m]->imp[w->slots[i].src] / mean : 0;
                w->rank[i] = w->p->w_cross * w->score[i] * (double)cnt + w->p->w_self * imp;
            }
        }
    }
    free(ord);
    free(logit);
    return 0;
}

static int
select_joint(struct work *w)
{
    int64_t *ord = malloc((size_t)w->n * sizeof(int64_t) + 1);
    if (!ord)
        return SIEVE_ENOMEM;
    int rc = 0;
    for (int32_t j = 0; j < w->n_chunks && rc == 0; j++) {
        int64_t s = w->chunk_start[j], n = w->chunk_start[j + 1] - s;
        for (int64_t i = 0; i < n; i++)
            ord[i] = s + i;
        rc = keep_top(ord, n, round_count(w->p->keep * (double)n), w->rank, w->kept);
    }
    free(ord);
    return rc;
}

static int
select_guided(struct work *w)
{
    int32_t nc = w->n_chunks;
    int64_t na = 0, *ord = malloc((size_t)w->n * sizeof(int64_t) + 1);
    double *imp = malloc((size_t)w->n * sizeof(double) + 1);
    double *sa = malloc((size_t)nc * sizeof(double) + 1);
    double *rho = malloc((size_t)nc * sizeof(double) + 1);
    int64_t *size = malloc((size_t)nc * sizeof(int64_t) + 1);
    int rc = SIEVE_ENOMEM;
    if (!ord || !imp || !sa || !rho || !size)
        goto out;
    /* Audio: one top-k by importance over the whole clip, as OmniZip's code does (§3.3). */
    for (int64_t i = 0; i < w->n; i++) {
        imp[i] = w->side[w->slots[i].modality]->imp[w->slots[i].src];
        if (w->slots[i].modality == AV_AUDIO)
            ord[na++] = i;
    }
    rc = keep_top(ord, na, round_count(w->p->audio_keep * (double)na), imp, w->kept);
    if (rc < 0)
        goto out;
    for (int32_t j = 0; j < nc; j++) {
        int64_t a0 = w->vsplit[j], e = w->chunk_start[j + 1], ka = 0;
        for (int64_t i = a0; i < e; i++)
            ka += w->kept[i];
        sa[j] = e > a0 ? (double)ka / (double)(e - a0) : -1.0;
        size[j] = a0 - w->chunk_start[j];
    }
    fuse_guided_ratios(nc, sa, size, 1.0 - w->p->keep, w->p->rho_min, w->p->rho_max, rho);
    for (int32_t j = 0; j < nc && rc == 0; j++) {
        int64_t v0 = w->chunk_start[j];
        for (int64_t i = 0; i < size[j]; i++)
            ord[i] = v0 + i;
        rc =
            keep_top(ord, size[j], round_count((1.0 - rho[j]) * (double)size[j]), w->rank, w->kept);
    }
out:
    free(ord);
    free(imp);
    free(sa);
    free(rho);
    free(size);
    return rc;
}

/*
 * OmniZip (omnizip.h) over the interleaved order. The audio step sees every audio token and
 * every video token in sequence order; windows are the runs of consecutive video slots and of
 * consecutive audio slots, run i of one paired with run i of the other, as the official code
 * splits the positions found in input_ids.
 */
static int
select_omnizip(struct work *w)
{
    const int64_t c = w->c, n = w->n;
    const int64_t per_frame = (int64_t)w->side[AV_VIDEO]->gh * w->side[AV_VIDEO]->gw;
    int64_t na = 0, nv = 0, nrv = 0, nra = 0;
    /* n + 1 entries each: the run-start lists end with a sentinel, and n may be 0. */
    const size_t n1 = (size_t)n + 1, nc1 = (size_t)(n * c) + 1;
    int64_t *ia = malloc(n1 * sizeof *ia), *iv = malloc(n1 * sizeof *iv);
    int64_t *vrun = malloc(n1 * sizeof *vrun), *arun = malloc(n1 * sizeof *arun);
    int64_t *size = malloc(n1 * sizeof *size);
    float *a = malloc(nc1 * sizeof *a), *v = malloc(nc1 * sizeof *v);
    float *a_out = malloc(nc1 * sizeof *a_out), *imp = malloc(n1 * sizeof *imp);
    double *ret = malloc(n1 * sizeof *ret), *ratio = malloc(n1 * sizeof *ratio);
    unsigned char *keep = calloc(n1, 1);
    int rc = SIEVE_ENOMEM;
    w->override = calloc((size_t)(n * c) + 1, sizeof(float));
    w->has_override = calloc((size_t)n + 1, 1);
    if (!ia || !iv || !vrun || !arun || !a || !v || !a_out || !imp || !keep || !ret || !ratio ||
        !size || !w->override || !w->has_override)
        goto out;
    /* Tokens in sequence order, and where each run starts (vrun/arun hold run starts). */
    for (int64_t i = 0; i < n; i++) {
        const struct slot *sl = &w->slots[i];
        int first = i == 0 || w->slots[i - 1].modality != sl->modality;
        if (sl->modality == AV_VIDEO) {
            if (first)
                vrun[nrv++] = nv;
            memcpy(v + nv * c, w->proj[AV_VIDEO] + sl->src * c, (size_t)c * sizeof *v);
            iv[nv++] = i;
        } else {
            if (first)
                arun[nra++] = na;
            memcpy(a + na * c, w->proj[AV_AUDIO] + sl->src * c, (size_t)c * sizeof *a);
            imp[na] = w->side[AV_AUDIO]->imp[sl->src];
            ia[na++] = i;
        }
    }
    vrun[nrv] = nv;
    arun[nra] = na;
    struct omnizip_params oz = w->p->oz;
    oz.rho_min = w->p->rho_min;
    oz.rho_max = w->p->rho_max;
    int64_t k = omnizip_audio(&oz, a, imp, na, v, nv, c, keep, a_out);
    if (k < 0)
        goto out;
    for (int64_t j = 0; j < na; j++) {
        w->kept[ia[j]] = keep[j];
        if (keep[j]) {
            memcpy(w->override + ia[j] * c, a_out + j * c, (size_t)c * sizeof *a_out);
            w->has_override[ia[j]] = 1;
        }
    }
    int n_guided = (int)(nrv < nra ? nrv : nra);
    int64_t unguided = 0;
    for (int i = 0; i < n_guided; i++) {
        int64_t cnt = 0, len = arun[i + 1] - arun[i];
        for (int64_t j = arun[i]; j < arun[i + 1]; j++)
            cnt += keep[j];
        /* torch's float32 mean of the window's mask. */
        ret[i] = len > 0 ? (double)((float)cnt / (float)len) : 0.0;
        size[i] = vrun[i + 1] - vrun[i];
    }
    for (int64_t i = n_guided; i < nrv; i++)
        unguided += vrun[i + 1] - vrun[i];
    omnizip_ratios(&oz, n_guided, ret, size, unguided, nv, ratio);
    memset(keep, 0, (size_t)n);
    for (int64_t i = 0; i < nrv; i++) {
        int64_t s0 = vrun[i], len = vrun[i + 1] - s0;
        double r = i < n_guided ? ratio[i] : oz.rho_video;
        k = omnizip_istc(v + s0 * c, len, per_frame, c, r, keep + s0);
        if (k < 0)
            goto out;
    }
    for (int64_t j = 0; j < nv; j++)
        w->kept[iv[j]] = keep[j];
    rc = 0;
out:
    free(size);
    free(ratio);
    free(ret);
    free(keep);
    free(imp);
    free(a_out);
    free(v);
    free(a);
    free(arun);
    free(vrun);
    free(iv);
    free(ia);
    return rc;
}

static const float *
slot_vec(const struct work *w, int64_t i)
{
    return w->proj[w->slots[i].modality] + w->slots[i].src * w->c;
}

/* Writes the output tokens, merging dropped tokens into kept ones in merge mode. */
static int
emit(struct work *w, struct fuse_result *r)
{
    int64_t m = 0, c = w->c;
    for (int64_t i = 0; i < w->n; i++)
        m += w->kept[i];
    r->items = calloc((size_t)m + 1, sizeof *r->items);
    r->tok = calloc((size_t)(m * c) + 1, sizeof(float));
    double *acc = calloc((size_t)(w->n * c) + 1, sizeof(double));
    double *wsum = calloc((size_t)w->n + 1, sizeof(double));
    if (!r->items || !r->tok || !acc || !wsum) {
        free(acc);
        free(wsum);
        return SIEVE_ENOMEM;
    }
    if (w->p->mode == FUSE_MERGE) {
        for (int32_t j = 0; j < w->n_chunks; j++) {
            int64_t lo[2] = {w->chunk_start[j], w->vsplit[j]};
            int64_t hi[2] = {w->vsplit[j], w->chunk_start[j + 1]};
            for (int mod = 0; mod < 2; mod++) {
                for (int64_t d = lo[mod]; d < hi[mod]; d++) {
                    if (w->kept[d])
                        continue;
                    int64_t best = -1;
                    double bs = -INFINITY;
                    for (int64_t k = lo[mod]; k < hi[mod]; k++) {
                        if (!w->kept[k])
                            continue;
                        double s = av_cosine(slot_vec(w, d), slot_vec(w, k), c);
                        if (s > bs) {
                            bs = s;
                            best = k;
                        }
                    }
                    if (best < 0 || bs <= 0)
                        continue; /* nothing similar kept: the token is dropped */
                    for (int64_t o = 0; o < c; o++)
                        acc[best * c + o] += bs * slot_vec(w, d)[o];
                    wsum[best] += bs;
                }
            }
        }
    }
    double pos_scale = w->p->second_per_grid * FUSE_POS_PER_SECOND;
    for (int64_t i = 0, o = 0; i < w->n; i++) {
        if (!w->kept[i])
            continue;
        const struct slot *sl = &w->slots[i];
        const struct av_tokens *s = w->side[sl->modality];
        struct fuse_item *it = &r->items[o];
        it->modality = sl->modality;
        it->src = sl->src;
        it->chunk = sl->chunk;
        it->score = (float)w->score[i];
        it->rank = w->p->mode == FUSE_INTERLEAVE ? 0 : w->rank[i];
        if (sl->modality == AV_VIDEO) {
            /* Qwen's get_rope_index truncates t · second_per_grid · 25 to an integer. */
            it->pos[0] = (int32_t)(w->p->pos_offset + (int64_t)(s->t[sl->src] * pos_scale));
            it->pos[1] = (int32_t)(w->p->pos_offset + s->y[sl->src]);
            it->pos[2] = (int32_t)(w->p->pos_offset + s->x[sl->src]);
        } else {
            it->pos[0] = it->pos[1] = it->pos[2] = (int32_t)(w->p->pos_offset + s->t[sl->src]);
        }
        if (w->has_override && w->has_override[i])
            memcpy(r->tok + o * c, w->override + i * c, (size_t)c * sizeof(float));
        else
            for (int64_t k = 0; k < c; k++)
                r->tok[o * c + k] = (float)((slot_vec(w, i)[k] + acc[i * c + k]) / (1.0 + wsum[i]));
        r->kept[sl->modality]++;
        o++;
    }
    r->m = m;
    free(acc);
    free(wsum);
    return 0;
}

int
fuse_run(const struct fuse_params *p, const struct av_tokens *video, const struct av_tokens *audio,
         const float *vproj, const float *aproj, int64_t c, struct fuse_result *out,
         struct sieve_errbuf *err)
{
    struct work w;
    int rc;
    memset(out, 0, sizeof *out);
    memset(&w, 0, sizeof w);
    if (!(p->chunk_seconds > 0) || !(p->second_per_grid > 0) || p->keep < 0 || p->keep > 1 ||
        p->audio_keep < 0 || p->audio_keep > 1 || p->rho_min > p->rho_max ||
        !(p->oz.rho_audio >= 0 && p->oz.rho_audio <= 1) ||
        !(p->oz.rho_video >= 0 && p->oz.rho_video <= 1) || !(p->oz.contextual_ratio >= 0) ||
        p->oz.g < 0)
        return sieve_errbuf_set(err, SIEVE_EINVAL, "fuse: parameters out of range");
    if ((!vproj && video->c != c) || (!aproj && audio->c != c))
        return sieve_errbuf_set(err, SIEVE_EINVAL, "fuse: widths %lld and %lld need a projection",
                                (long long)video->c, (long long)audio->c);
    w.p = p;
    w.side[AV_VIDEO] = video;
    w.side[AV_AUDIO] = audio;
    w.c = c;
    rc = build_slots(&w);
    if (rc == 0)
        rc = project(video, vproj, c, &w.proj[0], &w.unit[0]);
    if (rc == 0)
        rc = project(audio, aproj, c, &w.proj[1], &w.unit[1]);
    if (rc == 0)
        rc = compute_scores(&w);
    if (rc == 0) {
        w.kept = calloc((size_t)w.n + 1, 1);
        rc = w.kept ? 0 : SIEVE_ENOMEM;
    }
    if (rc == 0) {
        if (p->mode == FUSE_INTERLEAVE)
            memset(w.kept, 1, (size_t)w.n);
        else if (p->mode == FUSE_AUDIO_GUIDED)
            rc = select_guided(&w);
        else if (p->mode == FUSE_OMNIZIP)
            rc = select_omnizip(&w);
        else
            rc = select_joint(&w);
    }
    out->c = c;
    if (rc == 0)
        rc = emit(&w, out);
    if (rc == 0) {
        out->total[AV_VIDEO] = video->n;
        out->total[AV_AUDIO] = audio->n;
        out->n_chunks = w.n_chunks;
    }
    work_release(&w);
    if (rc < 0) {
        fuse_result_release(out);
        return sieve_errbuf_set(err, rc, "fuse: out of memory");
    }
    return 0;
}

void
fuse_result_release(struct fuse_result *r)
{
    if (!r)
        return;
    free(r->items);
    free(r->tok);
    memset(r, 0, sizeof *r);
}
