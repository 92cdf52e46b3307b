/*
 * evaluate.c - the `evaluate` plugin: per-sample metrics of a kept token set against the
 * full encoder output (definitions in metrics.h).
 *
 * Inputs: `full_visual` and `full_audio` (encode outputs; audio optional), `kept` (the
 * fused or pruned bundle, see kept.h). Output bundle `out`:
 *   metrics      F64 [N]   values, named in metadata `metric_names` (comma-separated)
 *   pooled_full  F32 [Cv + Ca]  L2-normalised mean of the full video tokens, then audio
 *   pooled_kept  F32 [Cv + Ca]  the same over the kept features (probe queries)
 * Metadata: `sieve.metrics` (one row per metric with the sample id and category), `sample`,
 * `category`, `llm`.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sieve/plugin.h>

#include "../common/av_tokens.h"
#include "kept.h"
#include "metrics.h"
#include "rows.h"

static const char *const llms[] = {"qwen2.5-omni-7b", "qwen2.5-omni-3b", "custom", NULL};

static const struct sieve_port inputs[] = {
    {"full_visual", "vision tokens from encode (all of them)", 0},
    {"full_audio", "audio tokens from encode (all of them)", SIEVE_PORT_OPTIONAL},
    {"kept", "what reaches the LLM: a fused or pruned bundle", 0},
};
static const struct sieve_port outputs[] = {
    {"out", "metrics vector, pooled features and sieve.metrics rows", 0},
};

#define BOUNDED (SIEVE_PARAM_HAS_MIN | SIEVE_PARAM_HAS_MAX)

enum { P_LLM, P_HIDDEN, P_LAYERS, P_HEADS, P_KV, P_FFN, P_TEXT, P_SPG };

static const struct sieve_param params[] = {
    [P_LLM] = {.name = "llm",
               .type = SIEVE_PARAM_ENUM,
               .def = "qwen2.5-omni-7b",
               .choices = llms,
               .doc = "LLM whose prefill cost is estimated; custom uses the dims below"},
    [P_HIDDEN] = {.name = "hidden",
                  .type = SIEVE_PARAM_INT,
                  .def = "3584",
                  .min = 1,
                  .max = 1e6,
                  .flags = BOUNDED,
                  .doc = "custom: hidden size"},
    [P_LAYERS] = {.name = "layers",
                  .type = SIEVE_PARAM_INT,
                  .def = "28",
                  .min = 1,
                  .max = 1e4,
                  .flags = BOUNDED,
                  .doc = "custom: decoder layers"},
    [P_HEADS] = {.name = "heads",
                 .type = SIEVE_PARAM_INT,
                 .def = "28",
                 .min = 1,
                 .max = 1e4,
                 .flags = BOUNDED,
                 .doc = "custom: attention heads"},
    [P_KV] = {.name = "kv_heads",
              .type = SIEVE_PARAM_INT,
              .def = "4",
              .min = 1,
              .max = 1e4,
              .flags = BOUNDED,
              .doc = "custom: key-value heads (GQA)"},
    [P_FFN] = {.name = "ffn",
               .type = SIEVE_PARAM_INT,
               .def = "18944",
               .min = 1,
               .max = 1e7,
               .flags = BOUNDED,
               .doc = "custom: MLP width"},
    [P_TEXT] = {.name = "text_tokens",
                .type = SIEVE_PARAM_INT,
                .def = "0",
                .min = 0,
                .max = 1e9,
                .flags = BOUNDED,
                .doc = "text tokens added to both prefill estimates"},
    [P_SPG] = {.name = "second_per_grid",
               .type = SIEVE_PARAM_FLOAT,
               .def = "1",
               .min = 0.001,
               .max = 3600,
               .flags = BOUNDED,
               .doc = "seconds per temporal group"},
};

struct state {
    struct eval_llm llm;
    char llm_name[32];
    int64_t text;
    double spg;
};

static int
eval_init(const struct sieve_host *host, const struct sieve_value *v, void **out,
          struct sieve_errbuf *err)
{
    (void)host;
    struct state *s = calloc(1, sizeof *s);
    if (!s)
        return sieve_errbuf_set(err, SIEVE_ENOMEM, "evaluate: out of memory");
    snprintf(s->llm_name, sizeof s->llm_name, "%s", v[P_LLM].s);
    if (eval_llm_preset(v[P_LLM].s, &s->llm) < 0)
        s->llm =
            (struct eval_llm){v[P_HIDDEN].i, v[P_LAYERS].i, v[P_HEADS].i, v[P_KV].i, v[P_FFN].i};
    if (s->llm.hidden % s->llm.heads != 0 || s->llm.heads % s->llm.kv_heads != 0) {
        free(s);
        return sieve_errbuf_set(err, SIEVE_EINVAL,
                                "evaluate: hidden must divide by heads and heads by kv_heads");
    }
    s->text = v[P_TEXT].i;
    s->spg = v[P_SPG].f;
    *out = s;
    return 0;
}

static void
eval_free(void *state)
{
    free(state);
}

/* The metrics, in output order. */
enum {
    M_TIN_V,
    M_TOUT_V,
    M_TIN_A,
    M_TOUT_A,
    M_TIN,
    M_TOUT,
    M_KEEP_V,
    M_KEEP_A,
    M_KEEP,
    M_RET_V,
    M_RET_A,
    M_RET,
    M_COV_V,
    M_COV_A,
    M_COV,
    M_IMP_V,
    M_IMP_A,
    M_FLOPS_FULL,
    M_FLOPS_KEPT,
    M_FLOPS_RATIO,
    M_KV_FULL,
    M_KV_KEPT,
    M_COUNT
};

static const char *const metric_names[M_COUNT] = {
    "tokens_in_video",  "tokens_out_video", "tokens_in_audio",
    "tokens_out_audio", "tokens_in",        "tokens_out",
    "keep_video",       "keep_audio",       "keep",
    "retention_video",  "retention_audio",  "retention",
    "coverage_video",   "coverage_audio",   "coverage",
    "importance_video", "importance_audio", "flops_full",
    "flops_kept",       "flops_ratio",      "kv_bytes_full",
    "kv_bytes_kept",
};

/* Fills the metric values from the full and kept token sets. */
static int
compute(const struct state *s, const struct av_tokens full[2], const struct kept *k, double *m)
{
    for (int i = 0; i < 2; i++) {
        const struct av_tokens *f = &full[i];
        unsigned char *dropped = malloc((size_t)f->n + 1);
        if (!dropped)
            return SIEVE_ENOMEM;
        for (int64_t j = 0; j < f->n; j++)
            dropped[j] = !k->mask[i][j];
        m[i == 0 ? M_TIN_V : M_TIN_A] = (double)f->n;
        m[i == 0 ? M_TOUT_V : M_TOUT_A] = (double)k->n[i];
        m[i == 0 ? M_KEEP_V : M_KEEP_A] = f->n > 0 ? (double)k->n[i] / (double)f->n : 1.0;
        m[i == 0 ? M_RET_V : M_RET_A] = eval_retention(f->tok, f->n, k->feat[i], k->n[i], f->c);
        m[i == 0 ? M_COV_V : M_COV_A] =
            eval_coverage(f->tok, f->n, dropped, k->feat[i], k->n[i], f->c);
        m[i == 0 ? M_IMP_V : M_IMP_A] = eval_importance_mass(f->imp, f->n, k->mask[i]);
        free(dropped);
    }
    m[M_TIN] = m[M_TIN_V] + m[M_TIN_A];
    m[M_TOUT] = m[M_TOUT_V] + m[M_TOUT_A];
    m[M_KEEP] = m[M_TIN] > 0 ? m[M_TOUT] / m[M_TIN] : 1.0;
    /* Overall retention and coverage weight each modality by its full token count. Fixed
     * weights keep the overall value between the modalities' and moving with them; weighting
     * coverage by dropped tokens instead would let the mix of what was dropped flip the
     * trend (more video dropped at one keep ratio than at the next). */
    m[M_RET] = m[M_TIN] > 0 ? (m[M_RET_V] * m[M_TIN_V] + m[M_RET_A] * m[M_TIN_A]) / m[M_TIN] : 1;
    m[M_COV] = m[M_TIN] > 0 ? (m[M_COV_V] * m[M_TIN_V] + m[M_COV_A] * m[M_TIN_A]) / m[M_TIN] : 1;
    double text = (double)s->text;
    m[M_FLOPS_FULL] = eval_prefill_flops(&s->llm, m[M_TIN] + text);
    m[M_FLOPS_KEPT] = eval_prefill_flops(&s->llm, m[M_TOUT] + text);
    m[M_FLOPS_RATIO] = m[M_FLOPS_FULL] > 0 ? m[M_FLOPS_KEPT] / m[M_FLOPS_FULL] : 1.0;
    m[M_KV_FULL] = eval_kv_bytes(&s->llm, m[M_TIN] + text);
    m[M_KV_KEPT] = eval_kv_bytes(&s->llm, m[M_TOUT] + text);
    return 0;
}

/* Writes the L2-normalised mean of x [n, c] into out[c] (zeros when n is 0). */
static int
pooled(const float *x, int64_t n, int64_t c, float *out)
{
    double *acc = malloc((size_t)c * sizeof(double) + 1), nn = 0;
    if (!acc)
        return SIEVE_ENOMEM;
    eval_mean_pool(x, n, c, NULL, acc);
    for (int64_t i = 0; i < c; i++)
        nn += acc[i] * acc[i];
    for (int64_t i = 0; i < c; i++)
        out[i] = nn > 0 ? (float)(acc[i] / sqrt(nn)) : 0.0f;
    free(acc);
    return 0;
}

static int
write_out(const struct sieve_host *h, struct sieve_bundle *b, const struct sieve_ctx *ctx,
          const struct state *s, const struct av_tokens full[2], const struct kept *k,
          const double *m, struct sieve_errbuf *err)
{
    struct sieve_tensor *t;
    int64_t nm = M_COUNT, width = full[0].c + full[1].c;
    int rc = h->tensor_new(b, "metrics", SIEVE_DTYPE_F64, 1, &nm, &t);
    if (rc < 0)
        return sieve_errbuf_set(err, rc, "evaluate: allocate 'metrics'");
    memcpy(t->data, m, sizeof(double) * M_COUNT);
    const char *names[2] = {"pooled_full", "pooled_kept"};
    for (int w = 0; w < 2; w++) {
        rc = h->tensor_new(b, names[w], SIEVE_DTYPE_F32, 1, &width, &t);
        if (rc < 0)
            return sieve_errbuf_set(err, rc, "evaluate: allocate '%s'", names[w]);
        float *out = t->data;
        for (int i = 0; i < 2 && rc == 0; i++) {
            rc = w == 0 ? pooled(full[i].tok, full[i].n, full[i].c, out)
                        : pooled(k->feat[i], k->n[i], full[i].c, out);
            out += full[i].c;
        }
        if (rc < 0)
            return sieve_errbuf_set(err, rc, "evaluate: out of memory");
    }
    const struct sieve_sample *smp = ctx->n_samples > 0 ? &ctx->samples[0] : NULL;
    const char *id = smp && smp->id ? smp->id : "";
    const char *cat = smp && smp->category ? smp->category : "uncategorized";
    char list[1024] = "";
    struct rows r;
    if (rows_init(&r) < 0)
        return sieve_errbuf_set(err, SIEVE_ENOMEM, "evaluate: out of memory");
    for (int i = 0; i < M_COUNT; i++) {
        rows_add(&r, metric_names[i], cat, m[i], id);
        strncat(list, i ? "," : "", sizeof list - strlen(list) - 1);
        strncat(list, metric_names[i], sizeof list - strlen(list) - 1);
    }
    char *json = rows_finish(&r);
    if (!json)
        return sieve_errbuf_set(err, SIEVE_ENOMEM, "evaluate: out of memory");
    rc = h->meta_set(b, "sieve.metrics", json);
    free(json);
    if (rc == 0)
        rc = h->meta_set(b, "metric_names", list);
    if (rc == 0)
        rc = h->meta_set(b, "sample", id);
    if (rc == 0)
        rc = h->meta_set(b, "category", cat);
    if (rc == 0)
        rc = h->meta_set(b, "llm", s->llm_name);
    return rc < 0 ? sieve_errbuf_set(err, rc, "evaluate: set metadata") : 0;
}

static int
eval_process(void *state, const struct sieve_ctx *ctx, const struct sieve_bundle *const *in,
             struct sieve_bundle *const *out, struct sieve_errbuf *err)
{
    const struct state *s = state;
    const struct sieve_host *h = ctx->host;
    struct av_tokens full[2];
    struct kept k;
    double m[M_COUNT];
    int rc;
    memset(full, 0, sizeof full);
    memset(&k, 0, sizeof k);
    rc = av_tokens_load(h, in[0], AV_VIDEO, s->spg, &full[AV_VIDEO], err);
    if (rc < 0)
        return rc;
    if (in[1]) {
        rc = av_tokens_load(h, in[1], AV_AUDIO, s->spg, &full[AV_AUDIO], err);
    } else {
        full[AV_AUDIO].modality = AV_AUDIO; /* no audio: an empty modality of width 0 */
    }
    if (rc == 0 && (full[0].pruned || full[1].pruned))
        rc = sieve_errbuf_set(err, SIEVE_EBADINPUT,
                              "evaluate: 'full_visual'/'full_audio' must be unpruned encode "
                              "outputs (found an 'index')");
    if (rc == 0)
        rc = kept_load(h, in[2], full, &k, err);
    if (rc == 0)
        rc = compute(s, full, &k, m);
    if (rc == SIEVE_ENOMEM)
        sieve_errbuf_set(err, rc, "evaluate: out of memory");
    if (rc == 0)
        rc = write_out(h, out[0], ctx, s, full, &k, m, err);
    kept_release(&k);
    av_tokens_release(&full[0]);
    av_tokens_release(&full[1]);
    return rc;
}

/* It writes the sample id and category into its metric rows and metadata. */
static const char *const row_fields[] = {"id", "category", NULL};

static const struct sieve_plugin desc = SIEVE_PLUGIN_INIT_ROWS(
    "evaluate", "1.0.0",
    "per-sample token metrics (kept, retention, coverage, importance) and LLM "
    "prefill FLOPs / KV-cache estimates",
    inputs, outputs, params, SIEVE_PLUGIN_DETERMINISTIC, eval_init, eval_process, eval_free,
    row_fields);
SIEVE_PLUGIN_DEFINE(desc)
