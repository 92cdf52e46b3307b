/*
 * metrics.h - what the evaluate plugins measure about a kept token set, and the LLM cost
 * model. Pure functions on plain arrays, so each is testable on hand-checked inputs.
 *
 * Definitions (per modality; `full` are the encoder's tokens, `kept` the kept ones):
 *   retention   cos(mean(full), mean(kept)): 1 when everything is kept; how much of the
 *               clip-level feature survives.
 *   coverage    mean over dropped tokens of max over kept tokens of cos(dropped, kept): how
 *               well what was dropped is still represented; 1 when nothing is dropped, 0 when
 *               everything is.
 *   importance  Σ importance(kept) / Σ importance(full): the encoder-attention mass kept.
 * The overall retention and coverage of a sample weight the two modalities by their full
 * token counts (evaluate.c).
 *
 * LLM cost of a prefill over n tokens (audio + video, plus optional text), per layer:
 *   projections  2·n·(2·h² + 2·h·kv·d)      Q and O are h×h, K and V are h×(kv·d) (GQA)
 *   attention    2·n²·h                     QKᵀ and AV are 2·n²·h multiply-adds each; a causal
 *                                           prefill computes half of each: 2 · ½ · 2·n²·h
 *   MLP          2·n·3·h·f                  SwiGLU: gate, up and down projections
 * times the layer count, with h the hidden size, d = h / heads the head size, kv the key-value
 * heads and f the MLP width (2 FLOPs per multiply-add). Embeddings, norms and the LM head are
 * left out: they do not change with pruning in a way that matters next to the above.
 * KV cache: 2 (K and V) · layers · n · kv · d · 2 bytes (bf16).
 */
#ifndef SIEVE_EVAL_METRICS_H
#define SIEVE_EVAL_METRICS_H

#include <stdint.h>

struct eval_llm {
    int64_t hidden, layers, heads, kv_heads, ffn;
};

/*
 * Fills the dims of a named LLM: "qwen2.5-omni-7b" (3584, 28, 28, 4, 18944) or
 * "qwen2.5-omni-3b" (2048, 36, 16, 2, 11008) (token-methods.md §6.4).
 * Returns: 0, or -1 for another name.
 */
int eval_llm_preset(const char *name, struct eval_llm *out);

/* Prefill FLOPs over n tokens (formula above). */
double eval_prefill_flops(const struct eval_llm *m, double n);

/* KV-cache bytes for n tokens in bf16. */
double eval_kv_bytes(const struct eval_llm *m, double n);

/* Mean of the rows of x [n, c] whose `mask` is set (all rows when mask is NULL) into out[c].
 * Returns: the number of rows averaged (out is zero when none). */
int64_t eval_mean_pool(const float *x, int64_t n, int64_t c, const unsigned char *mask,
                       double *out);

/* Retention: cosine of the mean of full [n, c] and the mean of kept [k, c]; 1 when both
 * are empty, 0 when only kept is. */
double eval_retention(const float *full, int64_t n, const float *kept, int64_t k, int64_t c);

/* Coverage: rows of full [n, c] with dropped[i] set, each against every row of kept [k, c].
 * Returns 1 when nothing is dropped, 0 when something is dropped and nothing kept. */
double eval_coverage(const float *full, int64_t n, const unsigned char *dropped, const float *kept,
                     int64_t k, int64_t c);

/* Σ imp over kept rows / Σ imp; 1 when the total is not positive. */
double eval_importance_mass(const float *imp, int64_t n, const unsigned char *kept);

#endif
