/*
 * nn.h - the few neural-network operations the encoders need, on row-major F32 arrays.
 *
 * Matrix products go through cblas_sgemm (OpenBLAS); everything else is plain C. Shapes follow
 * PyTorch conventions so weights from HF checkpoints are used as stored: a Linear weight is
 * [out, in], activations are [rows, features].
 *
 * One pre-LN transformer block (nn_block_forward) serves both the ViT (CLIP, SigLIP) and the
 * Whisper encoder: x += out(attn(ln1(x))); x += fc2(act(fc1(ln2(x)))). Attention runs inside
 * independent segments of the row sequence (one frame of a ViT batch, one audio chunk), which
 * is how frames are batched and how Qwen2.5-Omni's block-diagonal chunk attention works.
 *
 * Results depend on the BLAS kernel and thread count: two runs on one machine with the same
 * `threads` give the same bytes; different CPUs may differ in the last bits.
 */
#ifndef ENCODE_NN_H
#define ENCODE_NN_H

#include <stddef.h>

enum nn_act {
    NN_GELU_ERF = 0,  /* exact GELU (Whisper) */
    NN_GELU_TANH = 1, /* gelu_pytorch_tanh (SigLIP) */
    NN_QUICK_GELU = 2 /* x * sigmoid(1.702 x) (OpenAI CLIP) */
};

/* Weights of one pre-LN block; biases may be NULL (Whisper's key has none). */
struct nn_block {
    float *ln1_g, *ln1_b;
    float *wq, *bq, *wk, *bk, *wv, *bv, *wo, *bo;
    float *ln2_g, *ln2_b;
    float *w1, *b1, *w2, *b2;
    float *wqkv, *bqkv; /* [3d, d] and [3d] after nn_block_fuse; then wq..bv are NULL */
};

/* What the attention of a block should report besides its output. */
struct nn_attn_stats {
    float *received;  /* [n]: attention each token receives, mean over heads and queries of
                        its segment; NULL to skip */
    float *first_row; /* [n]: attention from each segment's first token (CLIP's CLS), mean
                         over heads; NULL to skip */
    float *keys;      /* [n, d / heads]: the attention keys (k_proj of the normed input, bias
                         included), mean over heads: VisionZip's similarity metric; NULL to
                         skip */
};

/*
 * Replaces wq, wk, wv and their biases by one [3d, d] weight and [3d] bias (a missing bias
 * becomes zeros), so that the block computes q, k and v in one GEMM.
 * Returns: 0, or SIEVE_ENOMEM (the block is then unchanged).
 */
int nn_block_fuse(struct nn_block *b, size_t d);

/* Frees the weights of n blocks (fused or not) and the array itself; accepts NULL. */
void nn_blocks_free(struct nn_block *blocks, size_t n);

/* Scratch memory reused across blocks, so a forward pass faults its pages in once. */
struct nn_work {
    float *buf;
    size_t cap; /* floats */
};

/* Frees the scratch memory; the struct can be reused. */
void nn_work_release(struct nn_work *w);

/* y[n, out] = x[n, in] * w[out, in]^T + b (b may be NULL). */
void nn_linear(const float *x, size_t n, size_t in, const float *w, const float *b, size_t out,
               float *y);

/* y = LayerNorm(x) over rows of d with gain g and bias b; y may equal x. */
void nn_layernorm(float *y, const float *x, size_t n, size_t d, const float *g, const float *b,
                  float eps);

/* Applies an activation in place. */
void nn_act(float *x, size_t n, enum nn_act act);

/* x[i] = exp(x[i]) with a relative error below 2e-7 (a vectorisable polynomial). */
void nn_exp(float *x, size_t n);

/*
 * Runs one block on x[n, d] in place. `seg` holds `nseg` segment lengths summing to n;
 * attention never crosses a segment. `ffn` is fc1's width. `stats` may be NULL. `work`
 * (zero-initialised before first use) grows as needed and is kept for the next call.
 * Returns: 0, or SIEVE_ENOMEM.
 */
int nn_block_forward(const struct nn_block *blk, float *x, size_t n, size_t d, size_t heads,
                     size_t ffn, enum nn_act act, float eps, const size_t *seg, size_t nseg,
                     const struct nn_attn_stats *stats, struct nn_work *work);

#endif /* ENCODE_NN_H */
