/*
 * vit.c - CLIP and SigLIP vision transformers (vit.h).
 */
#include "vit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn.h"
#include "st.h"

/* Frames encoded together: larger GEMMs, bounded memory. Even, so pairs never split. */
#define BATCH 8

struct vit {
    int siglip;
    size_t d, p, g, n_tok, heads, ffn, n_layers, layer;
    float eps;
    float *patch_w, *patch_b, *cls, *pos, *pre_g, *pre_b, *post_g, *post_b;
    struct nn_block *blocks;
    float mean[3], std[3];
};

size_t
vit_grid(const struct vit *m)
{
    return m->g;
}

size_t
vit_dim(const struct vit *m)
{
    return m->d;
}

size_t
vit_layer(const struct vit *m)
{
    return m->layer;
}

void
vit_free(struct vit *m)
{
    if (!m)
        return;
    nn_blocks_free(m->blocks, m->n_layers);
    free(m->patch_w);
    free(m->patch_b);
    free(m->cls);
    free(m->pos);
    free(m->pre_g);
    free(m->pre_b);
    free(m->post_g);
    free(m->post_b);
    free(m);
}

static int
load_block(const struct st_file *f, const char *prefix, size_t i, size_t d, size_t ffn,
           struct nn_block *b, struct sieve_errbuf *err)
{
    static const char *proj[4] = {"q_proj", "k_proj", "v_proj", "out_proj"};
    float **w[4] = {&b->wq, &b->wk, &b->wv, &b->wo}, **bias[4] = {&b->bq, &b->bk, &b->bv, &b->bo};
    char n[256];
    int rc = 0;
    for (int k = 0; k < 4 && rc == 0; k++) {
        snprintf(n, sizeof n, "encoder.layers.%zu.self_attn.%s.weight", i, proj[k]);
        rc = st_load_at(f, prefix, n, 2, (int64_t)d, (int64_t)d, 0, w[k], err);
        snprintf(n, sizeof n, "encoder.layers.%zu.self_attn.%s.bias", i, proj[k]);
        if (rc == 0)
            rc = st_load_at(f, prefix, n, 1, (int64_t)d, 0, 0, bias[k], err);
    }
    struct {
        const char *name;
        float **dst;
        uint32_t ndim;
        int64_t a, b;
    } rest[] = {
        {"layer_norm1.weight", &b->ln1_g, 1, (int64_t)d, 0},
        {"layer_norm1.bias", &b->ln1_b, 1, (int64_t)d, 0},
        {"layer_norm2.weight", &b->ln2_g, 1, (int64_t)d, 0},
        {"layer_norm2.bias", &b->ln2_b, 1, (int64_t)d, 0},
        {"mlp.fc1.weight", &b->w1, 2, (int64_t)ffn, (int64_t)d},
        {"mlp.fc1.bias", &b->b1, 1, (int64_t)ffn, 0},
        {"mlp.fc2.weight", &b->w2, 2, (int64_t)d, (int64_t)ffn},
        {"mlp.fc2.bias", &b->b2, 1, (int64_t)d, 0},
    };
    for (size_t k = 0; k < sizeof rest / sizeof rest[0] && rc == 0; k++) {
        snprintf(n, sizeof n, "encoder.layers.%zu.%s", i, rest[k].name);
        rc = st_load_at(f, prefix, n, rest[k].ndim, rest[k].a, rest[k].b, 0, rest[k].dst, err);
    }
    return rc;
}

int
vit_load(const char *path, int siglip, int64_t heads, int64_t layer, struct vit **out,
         struct sieve_errbuf *err)
{
    *out = NULL;
    struct st_file *f = NULL;
    struct vit *m = calloc(1, sizeof *m);
    if (!m)
        return sieve_errbuf_set(err, SIEVE_ENOMEM, "vit: out of memory");
    int rc = st_open(path, &f, err);
    if (rc < 0)
        goto fail;
    char prefix[256], n[256];
    if (st_find_prefix(f, "embeddings.patch_embedding.weight", prefix, sizeof prefix) < 0) {
        rc = sieve_errbuf_set(err, SIEVE_EBADINPUT,
                              "weights '%s': missing tensor "
                              "'vision_model.embeddings.patch_embedding.weight' (no patch "
                              "embedding under any prefix)",
                              f->path);
        goto fail;
    }
    int64_t pd[4] = {-1, 3, -1, -1};
    snprintf(n, sizeof n, "%sembeddings.patch_embedding.weight", prefix);
    if ((rc = st_load(f, n, 4, pd, &m->patch_w, err)) < 0)
        goto fail;
    if (pd[2] != pd[3] || pd[0] < 1) {
        rc = sieve_errbuf_set(err, SIEVE_EBADINPUT,
                              "weights '%s': tensor '%s' has non-square %lldx%lld patches", path, n,
                              (long long)pd[2], (long long)pd[3]);
        goto fail;
    }
    m->siglip = siglip;
    m->d = (size_t)pd[0];
    m->p = (size_t)pd[2];
    int64_t pos_dims[2] = {-1, (int64_t)m->d};
    snprintf(n, sizeof n, "%sembeddings.position_embedding.weight", prefix);
    if ((rc = st_load(f, n, 2, pos_dims, &m->pos, err)) < 0)
        goto fail;
    size_t np = (size_t)pos_dims[0] - (siglip ? 0 : 1);
    for (m->g = 1; m->g * m->g < np; m->g++)
        ;
    if (pos_dims[0] < (siglip ? 1 : 2) || m->g * m->g != np) {
        rc = sieve_errbuf_set(err, SIEVE_EBADINPUT,
                              "weights '%s': tensor '%s' has %lld rows, not a square grid%s", path,
                              n, (long long)pos_dims[0], siglip ? "" : " plus CLS");
        goto fail;
    }
    m->n_tok = np + (siglip ? 0 : 1);
    if (siglip) {
        m->eps = 1e-6f;
        rc = st_load_at(f, prefix, "embeddings.patch_embedding.bias", 1, (int64_t)m->d, 0, 0,
                        &m->patch_b, err);
        if (rc == 0)
            rc = st_load_at(f, prefix, "post_layernorm.weight", 1, (int64_t)m->d, 0, 0, &m->post_g,
                            err);
        if (rc == 0)
            rc = st_load_at(f, prefix, "post_layernorm.bias", 1, (int64_t)m->d, 0, 0, &m->post_b,
                            err);
        for (int c = 0; c < 3; c++)
            m->mean[c] = m->std[c] = 0.5f;
    } else {
        static const float mean[3] = {0.48145466f, 0.4578275f, 0.40821073f};
        static const float std[3] = {0.26862954f, 0.26130258f, 0.27577711f};
        m->eps = 1e-5f;
        rc = st_load_at(f, prefix, "embeddings.class_embedding", 1, (int64_t)m->d, 0, 0, &m->cls,
                        err);
        if (rc == 0)
            rc = st_load_at(f, prefix, "pre_layrnorm.weight", 1, (int64_t)m->d, 0, 0, &m->pre_g,
                            err);
        if (rc == 0)
            rc = st_load_at(f, prefix, "pre_layrnorm.bias", 1, (int64_t)m->d, 0, 0, &m->pre_b, err);
        memcpy(m->mean, mean, sizeof mean);
        memcpy(m->std, std, sizeof std);
    }
    if (rc < 0)
        goto fail;
    for (;;) {
        snprintf(n, sizeof n, "%sencoder.layers.%zu.layer_norm1.weight", prefix, m->n_layers);
        if (!st_find(f, n))
            break;
        m->n_layers++;
    }
    if (m->n_layers == 0) {
        rc = sieve_errbuf_set(
            err, SIEVE_EBADINPUT,
            "weights '%s': missing tensor '%sencoder.layers.0.layer_norm1.weight'", path, prefix);
        goto fail;
    }
    snprintf(n, sizeof n, "%sencoder.layers.0.mlp.fc1.weight", prefix);
    const struct st_tensor *fc1 = st_find(f, n);
    m->ffn = fc1 && fc1->ndim == 2 ? (size_t)fc1->shape[0] : 4 * m->d;
    m->heads = heads > 0 ? (size_t)heads : (m->d / 64 ? m->d / 64 : 1);
    if (m->d % m->heads) {
        rc = sieve_errbuf_set(err, SIEVE_EINVAL,
                              "weights '%s': hidden size %zu not divisible by "
                              "%zu heads",
                              path, m->d, m->heads);
        goto fail;
    }
    int64_t L = (int64_t)m->n_layers, want = layer == 0 ? -2 : layer;
    int64_t chosen = want > 0 ? want : L + 1 + want;
    if (chosen < 1 || chosen > L) {
        rc = sieve_errbuf_set(err, SIEVE_EINVAL,
                              "weights '%s': layer %lld out of range for %lld layers", path,
                              (long long)layer, (long long)L);
        goto fail;
    }
    m->layer = (size_t)chosen;
    m->blocks = calloc(m->layer, sizeof *m->blocks);
    if (!m->blocks) {
        rc = sieve_errbuf_set(err, SIEVE_ENOMEM, "vit: out of memory");
        goto fail;
    }
    /* Only the layers up to the chosen one are ever run, so only they are loaded; n_layers
       then counts the loaded blocks for vit_free. */
    size_t total = m->n_layers;
    m->n_layers = m->layer;
    for (size_t i = 0; i < m->layer && rc == 0; i++)
        if ((rc = load_block(f, prefix, i, m->d, m->ffn, &m->blocks[i], err)) == 0 &&
            nn_block_fuse(&m->blocks[i], m->d) < 0)
            rc = sieve_errbuf_set(err, SIEVE_ENOMEM, "out of memory");
    if (rc < 0)
        goto fail;
    if (m->layer != total && siglip) {
        free(m->post_g); /* post_layernorm applies to the last layer only */
        free(m->post_b);
        m->post_g = m->post_b = NULL;
    }
    st_close(f);
    *out = m;
    return 0;
fail:
    st_close(f);
    vit_free(m);
    return rc;
}

/* Normalises frame [H, W, 3] u8 and resizes it bilinearly to img[3, S, S]. */
static void
preprocess(const struct vit *m, const uint8_t *fr, size_t H, size_t W, float *tmp, float *img)
{
    size_t S = m->g * m->p;
    for (size_t c = 0; c < 3; c++)
        for (size_t i = 0; i < H * W; i++)
            tmp[c * H * W + i] = ((float)fr[i * 3 + c] / 255.0f - m->mean[c]) / m->std[c];
    float sy = (float)H / (float)S, sx = (float)W / (float)S;
    for (size_t oy = 0; oy < S; oy++) {
        float fy = sy * ((float)oy + 0.5f) - 0.5f;
        fy = fy < 0 ? 0 : fy;
        size_t y0 = (size_t)fy, y1 = y0 + (y0 < H - 1);
        float ly = fy - (float)y0;
        for (size_t ox = 0; ox < S; ox++) {
            float fx = sx * ((float)ox + 0.5f) - 0.5f;
            fx = fx < 0 ? 0 : fx;
            size_t x0 = (size_t)fx, x1 = x0 + (x0 < W - 1);
            float lx = fx - (float)x0;
            for (size_t c = 0; c < 3; c++) {
                const float *t = tmp + c * H * W;
                img[(c * S + oy) * S + ox] =
                    (1 - ly) * ((1 - lx) * t[y0 * W + x0] + lx * t[y0 * W + x1]) +
                    ly * ((1 - lx) * t[y1 * W + x0] + lx * t[y1 * W + x1]);
            }
        }
    }
}

/* Embeds one preprocessed image into x[n_tok, d]; `cols` is scratch [g*g, 3*p*p]. */
static void
embed(const struct vit *m, const float *img, float *cols, float *x)
{
    size_t S = m->g * m->p, p = m->p, np = m->g * m->g, K = 3 * p * p, d = m->d;
    for (size_t py = 0; py < m->g; py++)
        for (size_t px = 0; px < m->g; px++)
            for (size_t c = 0; c < 3; c++)
                for (size_t ky = 0; ky < p; ky++)
                    memcpy(cols + (py * m->g + px) * K + (c * p + ky) * p,
                           img + (c * S + py * p + ky) * S + px * p, p * sizeof *cols);
    size_t off = m->siglip ? 0 : 1;
    nn_linear(cols, np, K, m->patch_w, m->patch_b, d, x + off * d);
    if (!m->siglip)
        memcpy(x, m->cls, d * sizeof *x);
    for (size_t i = 0; i < m->n_tok * d; i++)
        x[i] += m->pos[i];
    if (!m->siglip)
        nn_layernorm(x, x, m->n_tok, d, m->pre_g, m->pre_b, m->eps);
}

size_t
vit_key_dim(const struct vit *m)
{
    return m->d / m->heads;
}

int
vit_run(const struct vit *m, const uint8_t *frames, size_t T, size_t H, size_t W, float *tokens,
        float *importance, float *keys, const struct job *job, struct sieve_errbuf *err)
{
    size_t S = m->g * m->p, np = m->g * m->g, d = m->d, nt = m->n_tok, G = (T + 1) / 2;
    size_t hd = m->d / m->heads;
    size_t skip = m->siglip ? 0 : 1;
    float *tmp = malloc(3 * H * W * sizeof *tmp), *img = malloc(3 * S * S * sizeof *img);
    float *cols = malloc(np * 3 * m->p * m->p * sizeof *cols);
    float *x = malloc(BATCH * nt * d * sizeof *x), *imp = malloc(BATCH * nt * sizeof *imp);
    float *kb = keys ? malloc(BATCH * nt * hd * sizeof *kb) : NULL;
    size_t seg[BATCH];
    struct nn_work work = {NULL, 0};
    int rc = 0;
    if (!tmp || !img || !cols || !x || !imp || (keys && !kb)) {
        rc = sieve_errbuf_set(err, SIEVE_ENOMEM, "vit: out of memory");
        goto out;
    }
    for (size_t f0 = 0; f0 < 2 * G; f0 += BATCH) {
        size_t nb = 2 * G - f0 < BATCH ? 2 * G - f0 : BATCH;
        for (size_t b = 0; b < nb; b++) {
            size_t fi = f0 + b < T ? f0 + b : T - 1; /* odd T: the last frame again */
            if (fi != f0 + b && b > 0) {
                memcpy(x + b * nt * d, x + (b - 1) * nt * d, nt * d * sizeof *x);
                continue;
            }
            preprocess(m, frames + fi * H * W * 3, H, W, tmp, img);
            embed(m, img, cols, x + b * nt * d);
        }
        for (size_t b = 0; b < nb; b++)
            seg[b] = nt;
        for (size_t l = 0; l < m->layer; l++) {
            rc = job_step(job, (double)(f0 * m->layer + l * nb), (double)(2 * G * m->layer), err);
            if (rc < 0)
                goto out;
            struct nn_attn_stats st = {NULL, NULL, NULL};
            if (l + 1 == m->layer) {
                if (m->siglip)
                    st.received = imp;
                else
                    st.first_row = imp;
                st.keys = kb;
            }
            rc = nn_block_forward(&m->blocks[l], x, nb * nt, d, m->heads, m->ffn,
                                  m->siglip ? NN_GELU_TANH : NN_QUICK_GELU, m->eps, seg, nb, &st,
                                  &work);
            if (rc < 0) {
                sieve_errbuf_set(err, rc, "vit: out of memory");
                goto out;
            }
        }
        if (m->post_g)
            nn_layernorm(x, x, nb * nt, d, m->post_g, m->post_b, m->eps);
        for (size_t b = 0; b + 1 < nb; b += 2) {
            size_t g = (f0 + b) / 2;
            const float *a = x + (b * nt + skip) * d, *c = x + ((b + 1) * nt + skip) * d;
            float *o = tokens + g * np * d;
            for (size_t i = 0; i < np * d; i++)
                o[i] = 0.5f * (a[i] + c[i]);
            const float *ia = imp + b * nt + skip, *ic = imp + (b + 1) * nt + skip;
            for (size_t i = 0; i < np; i++)
                importance[g * np + i] = 0.5f * (ia[i] + ic[i]);
            if (keys) {
                const float *ka = kb + (b * nt + skip) * hd, *kc = kb + ((b + 1) * nt + skip) * hd;
                float *ko = keys + g * np * hd;
                for (size_t i = 0; i < np * hd; i++)
                    ko[i] = 0.5f * (ka[i] + kc[i]);
            }
        }
    }
out:
    nn_work_release(&work);
    free(tmp);
    free(img);
    free(cols);
    free(x);
    free(imp);
    free(kb);
    return rc;
}
