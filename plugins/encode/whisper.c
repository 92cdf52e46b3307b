/*
 * whisper.c - Whisper-style audio encoder (whisper.h).
 */
#include "whisper.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "det.h"
#include "nn.h"
#include "st.h"

struct whisper {
    size_t n_mels, d, heads, ffn, n_layers, n_pos, layer;
    int final_norm; /* apply the final LayerNorm (the last layer was chosen) */
    float *c1w, *c1b, *c2w, *c2b, *pos, *ln_g, *ln_b;
    struct nn_block *blocks;
};

size_t
whisper_dim(const struct whisper *m)
{
    return m->d;
}

size_t
whisper_mels(const struct whisper *m)
{
    return m->n_mels;
}

size_t
whisper_layer(const struct whisper *m)
{
    return m->layer;
}

void
whisper_free(struct whisper *m)
{
    if (!m)
        return;
    nn_blocks_free(m->blocks, m->n_layers);
    free(m->c1w);
    free(m->c1b);
    free(m->c2w);
    free(m->c2b);
    free(m->pos);
    free(m->ln_g);
    free(m->ln_b);
    free(m);
}

/* Resolves `layer` against the layer count; sets m->layer and m->final_norm. */
static int
choose_layer(struct whisper *m, int64_t layer, const char *what, struct sieve_errbuf *err)
{
    int64_t L = (int64_t)m->n_layers, want = layer == 0 ? -1 : layer;
    int64_t chosen = want > 0 ? want : L + 1 + want;
    if (chosen < 1 || chosen > L)
        return sieve_errbuf_set(err, SIEVE_EINVAL, "%s: layer %lld out of range for %lld layers",
                                what, (long long)layer, (long long)L);
    m->layer = (size_t)chosen;
    m->final_norm = chosen == L;
    return 0;
}

static int
load_block(const struct st_file *f, const char *prefix, size_t i, size_t d, size_t ffn,
           struct nn_block *b, struct sieve_errbuf *err)
{
    int64_t D = (int64_t)d, F = (int64_t)ffn;
    struct {
        const char *name;
        float **dst;
        uint32_t ndim;
        int64_t a, b;
    } w[] = {
        {"self_attn_layer_norm.weight", &b->ln1_g, 1, D, 0},
        {"self_attn_layer_norm.bias", &b->ln1_b, 1, D, 0},
        {"self_attn.q_proj.weight", &b->wq, 2, D, D},
        {"self_attn.q_proj.bias", &b->bq, 1, D, 0},
        {"self_attn.k_proj.weight", &b->wk, 2, D, D},
        {"self_attn.v_proj.weight", &b->wv, 2, D, D},
        {"self_attn.v_proj.bias", &b->bv, 1, D, 0},
        {"self_attn.out_proj.weight", &b->wo, 2, D, D},
        {"self_attn.out_proj.bias", &b->bo, 1, D, 0},
        {"final_layer_norm.weight", &b->ln2_g, 1, D, 0},
        {"final_layer_norm.bias", &b->ln2_b, 1, D, 0},
        {"fc1.weight", &b->w1, 2, F, D},
        {"fc1.bias", &b->b1, 1, F, 0},
        {"fc2.weight", &b->w2, 2, D, F},
        {"fc2.bias", &b->b2, 1, D, 0},
    };
    char n[256];
    for (size_t k = 0; k < sizeof w / sizeof w[0]; k++) {
        snprintf(n, sizeof n, "layers.%zu.%s", i, w[k].name);
        int rc = st_load_at(f, prefix, n, w[k].ndim, w[k].a, w[k].b, 0, w[k].dst, err);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int
whisper_load(const char *path, int64_t heads, int64_t layer, struct whisper **out,
             struct sieve_errbuf *err)
{
    *out = NULL;
    struct st_file *f = NULL;
    struct whisper *m = calloc(1, sizeof *m);
    if (!m)
        return sieve_errbuf_set(err, SIEVE_ENOMEM, "whisper: out of memory");
    int rc = st_open(path, &f, err);
    char prefix[256], n[256];
    /* A full Whisper checkpoint nests the encoder under "model.encoder.". */
    if (rc == 0 && st_find_prefix(f, "conv1.weight", prefix, sizeof prefix) < 0)
        rc = sieve_errbuf_set(err, SIEVE_EBADINPUT,
                              "weights '%s': missing tensor 'model.encoder.conv1.weight' (no "
                              "conv1 under any prefix)",
                              f->path);
    int64_t c1[3] = {-1, -1, 3};
    if (rc == 0) {
        snprintf(n, sizeof n, "%sconv1.weight", prefix);
        rc = st_load(f, n, 3, c1, &m->c1w, err);
    }
    if (rc < 0)
        goto fail;
    m->d = (size_t)c1[0];
    m->n_mels = (size_t)c1[1];
    int64_t D = (int64_t)m->d;
    rc = st_load_at(f, prefix, "conv1.bias", 1, D, 0, 0, &m->c1b, err);
    if (rc == 0)
        rc = st_load_at(f, prefix, "conv2.weight", 3, D, D, 3, &m->c2w, err);
    if (rc == 0)
        rc = st_load_at(f, prefix, "conv2.bias", 1, D, 0, 0, &m->c2b, err);
    if (rc < 0)
        goto fail;
    snprintf(n, sizeof n, "%sembed_positions.weight", prefix);
    if (st_find(f, n)) {
        int64_t pd[2] = {-1, D};
        if ((rc = st_load(f, n, 2, pd, &m->pos, err)) < 0)
            goto fail;
        m->n_pos = (size_t)pd[0];
    } else {
        m->n_pos = 1500; /* computed on the fly */
    }
    const char *fin = "layer_norm";
    snprintf(n, sizeof n, "%slayer_norm.weight", prefix);
    if (!st_find(f, n)) {
        snprintf(n, sizeof n, "%sln_post.weight", prefix);
        if (st_find(f, n))
            fin = "ln_post";
    }
    snprintf(n, sizeof n, "%s.weight", fin);
    rc = st_load_at(f, prefix, n, 1, D, 0, 0, &m->ln_g, err);
    snprintf(n, sizeof n, "%s.bias", fin);
    if (rc == 0)
        rc = st_load_at(f, prefix, n, 1, D, 0, 0, &m->ln_b, err);
    if (rc < 0)
        goto fail;
    for (;;) {
        snprintf(n, sizeof n, "%slayers.%zu.fc1.weight", prefix, m->n_layers);
        if (!st_find(f, n))
            break;
        m->n_layers++;
    }
    if (m->n_layers == 0) {
        rc = sieve_errbuf_set(err, SIEVE_EBADINPUT, "weights '%s': missing tensor '%s'", path,
                              "layers.0.fc1.weight");
        goto fail;
    }
    snprintf(n, sizeof n, "%slayers.0.fc1.weight", prefix);
    const struct st_tensor *fc1 = st_find(f, n);
    m->ffn = fc1->ndim == 2 ? (size_t)fc1->shape[0] : 4 * m->d;
    m->heads = heads > 0 ? (size_t)heads : (m->d / 64 ? m->d / 64 : 1);
    if (m->d % m->heads) {
        rc = sieve_errbuf_set(err, SIEVE_EINVAL,
                              "weights '%s': d_model %zu not divisible by %zu heads", path, m->d,
                              m->heads);
        goto fail;
    }
    if ((rc = choose_layer(m, layer, path, err)) < 0)
        goto fail;
    m->blocks = calloc(m->layer, sizeof *m->blocks);
    if (!m->blocks) {
        rc = sieve_errbuf_set(err, SIEVE_ENOMEM, "whisper: out of memory");
        goto fail;
    }
    m->n_layers = m->layer; /* only the layers that run are loaded */
    for (size_t i = 0; i < m->layer && rc == 0; i++)
        if ((rc = load_block(f, prefix, i, m->d, m->ffn, &m->blocks[i], err)) == 0 &&
            nn_block_fuse(&m->blocks[i], m->d) < 0)
            rc = sieve_errbuf_set(err, SIEVE_ENOMEM, "out of memory");
    if (rc < 0)
        goto fail;
    st_close(f);
    *out = m;
    return 0;
fail:
    st_close(f);
    whisper_free(m);
    return rc;
}

static float *
seeded(uint64_t *st, size_t n, size_t fan_in)
{
    float *w = malloc(n * sizeof *w);
    if (!w)
        return NULL;
    double bound = sqrt(3.0 / (double)fan_in);
    for (size_t i = 0; i < n; i++)
        w[i] = (float)((2.0 * det_uniform(st) - 1.0) * bound);
    return w;
}

static float *
filled(size_t n, float v)
{
    float *w = malloc(n * sizeof *w);
    for (size_t i = 0; w && i < n; i++)
        w[i] = v;
    return w;
}

int
whisper_builtin(uint64_t seed, size_t n_mels, size_t d, int64_t layer, struct whisper **out,
                struct sieve_errbuf *err)
{
    *out = NULL;
    struct whisper *m = calloc(1, sizeof *m);
    if (!m)
        return sieve_errbuf_set(err, SIEVE_ENOMEM, "whisper: out of memory");
    size_t F = 4 * d;
    m->n_mels = n_mels;
    m->d = d;
    m->heads = d / 64 && d % 64 == 0 ? d / 64 : 1;
    m->ffn = F;
    m->n_layers = 4;
    m->n_pos = 1500;
    int rc = choose_layer(m, layer, "builtin audio", err);
    if (rc < 0) {
        whisper_free(m);
        return rc;
    }
    uint64_t st = seed, st1 = seed ^ (0x6d656c73ull * (uint64_t)(n_mels + 1));
    int ok = (m->blocks = calloc(m->n_layers, sizeof *m->blocks)) != NULL;
    ok = ok && (m->c2w = seeded(&st, d * d * 3, d * 3)) && (m->c2b = filled(d, 0)) &&
         (m->ln_g = filled(d, 1)) && (m->ln_b = filled(d, 0));
    for (size_t i = 0; ok && i < m->n_layers; i++) {
        struct nn_block *b = &m->blocks[i];
        ok = (b->ln1_g = filled(d, 1)) && (b->ln1_b = filled(d, 0)) &&
             (b->wq = seeded(&st, d * d, d)) && (b->bq = filled(d, 0)) &&
             (b->wk = seeded(&st, d * d, d)) && (b->wv = seeded(&st, d * d, d)) &&
             (b->bv = filled(d, 0)) && (b->wo = seeded(&st, d * d, d)) && (b->bo = filled(d, 0)) &&
             (b->ln2_g = filled(d, 1)) && (b->ln2_b = filled(d, 0)) &&
             (b->w1 = seeded(&st, F * d, d)) && (b->b1 = filled(F, 0)) &&
             (b->w2 = seeded(&st, d * F, F)) && (b->b2 = filled(d, 0));
    }
    ok = ok && (m->c1w = seeded(&st1, d * n_mels * 3, n_mels * 3)) && (m->c1b = filled(d, 0));
    for (size_t i = 0; ok && i < m->n_layers; i++)
        ok = nn_block_fuse(&m->blocks[i], d) == 0;
    if (!ok) {
        whisper_free(m);
        return sieve_errbuf_set(err, SIEVE_ENOMEM, "whisper: out of memory");
    }
    *out = m;
    return 0;
}

size_t
whisper_tokens(size_t L, size_t chunk_frames, size_t pool)
{
    size_t e = 0;
    for (size_t c0 = 0; c0 < L; c0 += chunk_frames) {
        size_t len = L - c0 < chunk_frames ? L - c0 : chunk_frames;
        e += (len - 1) / 2 + 1;
    }
    return e / pool;
}

/* Adds the position embedding of rows 0..n-1 to x[n, d]. */
static void
add_positions(const struct whisper *m, float *x, size_t n)
{
    size_t d = m->d, half = d / 2;
    if (m->pos) {
        for (size_t i = 0; i < n * d; i++)
            x[i] += m->pos[i];
        return;
    }
    double inc = log(10000.0) / (double)(half > 1 ? half - 1 : 1);
    for (size_t t = 0; t < n; t++)
        for (size_t j = 0; j < half; j++) {
            double a = (double)t * exp(-inc * (double)j);
            x[t * d + j] += (float)sin(a);
            x[t * d + half + j] += (float)cos(a);
        }
}

/* Mel frames convolved together: consecutive chunks are batched into one GEMM per conv up
   to this many frames (one chunk at least), bounding the im2col buffers. */
#define FRONT_BATCH 4096

/*
 * Runs conv1 + GELU + conv2 + GELU on mel columns [a, b), which hold whole chunks of
 * `cf` frames (the last may be short) that each see zero padding at their own edges, into
 * x (one row per encoder frame, chunk after chunk), and adds each chunk's positions.
 */
static int
front(const struct whisper *m, const float *mel, size_t L, size_t a, size_t b, size_t cf, float *x)
{
    size_t M = m->n_mels, d = m->d, n = b - a, n2 = 0;
    for (size_t c0 = a; c0 < b; c0 += cf)
        n2 += ((b - c0 < cf ? b - c0 : cf) - 1) / 2 + 1;
    float *cols1 = malloc(n * M * 3 * sizeof *cols1), *h = malloc(n * d * sizeof *h);
    float *cols2 = malloc(n2 * d * 3 * sizeof *cols2);
    int rc = 0;
    if (!cols1 || !h || !cols2) {
        rc = SIEVE_ENOMEM;
        goto out;
    }
    for (size_t c0 = a; c0 < b; c0 += cf) {
        size_t len = b - c0 < cf ? b - c0 : cf;
        for (size_t t = 0; t < len; t++)
            for (size_t c = 0; c < M; c++)
                for (size_t k = 0; k < 3; k++) {
                    long s = (long)t + (long)k - 1;
                    cols1[((c0 - a + t) * M + c) * 3 + k] =
                        s < 0 || s >= (long)len ? 0 : mel[c * L + c0 + (size_t)s];
                }
    }
    nn_linear(cols1, n, M * 3, m->c1w, m->c1b, d, h);
    nn_act(h, n * d, NN_GELU_ERF);
    size_t r = 0;
    for (size_t c0 = a; c0 < b; c0 += cf) {
        size_t len = b - c0 < cf ? b - c0 : cf, nc = (len - 1) / 2 + 1;
        const float *hc = h + (c0 - a) * d;
        for (size_t t = 0; t < nc; t++, r++)
            for (size_t c = 0; c < d; c++)
                for (size_t k = 0; k < 3; k++) {
                    long s = 2 * (long)t + (long)k - 1;
                    cols2[(r * d + c) * 3 + k] =
                        s < 0 || s >= (long)len ? 0 : hc[(size_t)s * d + c];
                }
    }
    nn_linear(cols2, n2, d * 3, m->c2w, m->c2b, d, x);
    nn_act(x, n2 * d, NN_GELU_ERF);
    r = 0;
    for (size_t c0 = a; c0 < b; c0 += cf) {
        size_t nc = ((b - c0 < cf ? b - c0 : cf) - 1) / 2 + 1;
        add_positions(m, x + r * d, nc);
        r += nc;
    }
out:
    free(cols1);
    free(cols2);
    free(h);
    return rc;
}

int
whisper_run(const struct whisper *m, const float *mel, size_t L, size_t chunk_frames, size_t pool,
            float *tokens, float *importance, const struct job *job, struct sieve_errbuf *err)
{
    size_t d = m->d, E = whisper_tokens(L, chunk_frames, 1), nseg = 0;
    size_t nchunks = (L + chunk_frames - 1) / chunk_frames;
    size_t longest = L < chunk_frames ? L : chunk_frames;
    if (longest && (longest - 1) / 2 + 1 > m->n_pos)
        return sieve_errbuf_set(err, SIEVE_EBADINPUT,
                                "audio chunk of %zu mel frames needs %zu positions, the model "
                                "has %zu",
                                longest, (longest - 1) / 2 + 1, m->n_pos);
    float *x = malloc((E ? E : 1) * d * sizeof *x), *imp = malloc((E ? E : 1) * sizeof *imp);
    size_t *seg = malloc((nchunks ? nchunks : 1) * sizeof *seg);
    struct nn_work work = {NULL, 0};
    int rc = 0;
    if (!x || !imp || !seg) {
        rc = SIEVE_ENOMEM;
        goto out;
    }
    size_t off = 0;
    size_t per = FRONT_BATCH / chunk_frames ? FRONT_BATCH / chunk_frames : 1;
    for (size_t a = 0; a < L; a += per * chunk_frames) {
        size_t b = L - a < per * chunk_frames ? L : a + per * chunk_frames;
        if ((rc = front(m, mel, L, a, b, chunk_frames, x + off * d)) < 0)
            goto out;
        for (size_t c0 = a; c0 < b; c0 += chunk_frames) {
            seg[nseg++] = ((b - c0 < chunk_frames ? b - c0 : chunk_frames) - 1) / 2 + 1;
            off += seg[nseg - 1];
        }
    }
    for (size_t l = 0; l < m->layer; l++) {
        int jr = job_step(job, (double)l, (double)m->layer, err);
        if (jr < 0) {
            rc = jr;
            goto out;
        }
        struct nn_attn_stats st = {l + 1 == m->layer ? imp : NULL, NULL, NULL};
        if ((rc = nn_block_forward(&m->blocks[l], x, E, d, m->heads, m->ffn, NN_GELU_ERF, 1e-5f,
                                   seg, nseg, &st, &work)) < 0)
            goto out;
    }
    size_t na = E / pool;
    for (size_t i = 0; i < na; i++) {
        float *o = tokens + i * d;
        float s = 0;
        for (size_t c = 0; c < d; c++) {
            float acc = 0;
            for (size_t k = 0; k < pool; k++)
                acc += x[(i * pool + k) * d + c];
            o[c] = acc / (float)pool;
        }
        for (size_t k = 0; k < pool; k++)
            s += imp[i * pool + k];
        importance[i] = s / (float)pool;
    }
    if (m->final_norm)
        nn_layernorm(tokens, tokens, na, d, m->ln_g, m->ln_b, 1e-5f);
out:
    nn_work_release(&work);
    free(x);
    free(imp);
    free(seg);
    if (rc == SIEVE_ENOMEM)
        sieve_errbuf_set(err, rc, "whisper: out of memory");
    return rc;
}
