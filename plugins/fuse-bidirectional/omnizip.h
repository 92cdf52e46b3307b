/*
 * omnizip.h - OmniZip (Tao et al., arXiv 2511.14582) as its official code computes it
 * (omnizip_core.py; token-methods.md §3), on plain arrays. fuse.c calls it for mode `omnizip`;
 * the re-statement in tests/reference/omnizip_ref.py writes the golden cases it must match.
 *
 * Three steps, each its own function:
 *   1. omnizip_audio: the audio tokens with the largest importance, round((1 - rho_audio) * Na)
 *      of them over the whole clip (Python's round: halves to even, round(32.5) = 32), plus
 *      round(contextual_ratio * Na) anchors taken at a uniform stride from the rest; every
 *      other token is assigned to its most similar anchor, and each anchor absorbs its g
 *      assigned tokens most similar to any video token, softmax-weighted:
 *      anchor <- (anchor + sum w_j a_j) / (1 + sum w_j).
 *   2. omnizip_ratios: the per-window video prune ratio from the window's kept audio share,
 *      rescaled toward the overall budget only when there are more than two windows, the
 *      first window holding the smallest (largest) ratio staying fixed.
 *   3. omnizip_istc: inside a window, frames (P tokens each) alternate: even frames keep the
 *      int(P * (1 - ratio)) tokens of highest DPC-KNN score, odd frames the same count least
 *      similar to the previous frame. A window of f whole frames keeps f * int(P * (1 - ratio))
 *      tokens; tokens past the last whole frame are dropped, as in the official code.
 *
 * Where sieve differs from the official code, on purpose: it computes in double precision and
 * rounds the ranking keys (cosines, DPC-KNN densities and scores) to float32, as a float32 run
 * of the official code ranks them; the official code runs in the model's dtype (bf16 on GPU),
 * so bits can differ there. Ties go to the lower index everywhere (torch.topk and argmax leave
 * them unspecified or to the first).
 *
 * Usage:
 *     struct omnizip_params p; omnizip_params_default(&p);
 *     omnizip_audio(&p, a, imp, na, v, nv, c, keep_a, a_out);
 *     omnizip_ratios(&p, n_guided, retention, size, unguided, nv, ratio);
 *     omnizip_istc(v_window, n, per_frame, c, ratio[i], keep_v);
 */
#ifndef SIEVE_FUSE_OMNIZIP_H
#define SIEVE_FUSE_OMNIZIP_H

#include <stdint.h>

struct omnizip_params {
    double rho_audio;        /* audio prune ratio (0.3) */
    double rho_video;        /* overall video prune ratio (0.6) */
    double contextual_ratio; /* anchors per audio token (0.05) */
    double rho_min, rho_max; /* bounds of a window's video prune ratio (0.35, 0.75) */
    int g;                   /* tokens merged into each anchor (3; 15 for AVUT in the paper) */
};

/* Fills the official defaults listed above. */
void omnizip_params_default(struct omnizip_params *p);

/* Python's round() of a double to an integer: to nearest, halves to even. */
int64_t omnizip_round(double x);

/*
 * Step 1 over `na` audio tokens a[na][c] with importance imp[na] and the video tokens
 * v[nv][c] (nv may be 0: the merge weights then come from the audio itself). Sets keep[i] to
 * 1 for dominant tokens and anchors, 0 otherwise, and writes every token to out[na][c] (an
 * anchor with its merged value, the others unchanged).
 * Returns: the number kept, or SIEVE_ENOMEM.
 */
int64_t omnizip_audio(const struct omnizip_params *p, const float *a, const float *imp, int64_t na,
                      const float *v, int64_t nv, int64_t c, unsigned char *keep, float *out);

/*
 * Step 2: `n_guided` windows with both modalities, window i holding size[i] video tokens and
 * keeping the share retention[i] of its audio (as a float32 mean, the official .mean()).
 * `unguided` video tokens lie in windows without audio; n_video is all video tokens. Writes
 * ratio[i], the video prune ratio of guided window i (the unguided ones use rho_video).
 */
void omnizip_ratios(const struct omnizip_params *p, int n_guided, const double *retention,
                    const int64_t *size, int64_t unguided, int64_t n_video, double *ratio);

/*
 * Step 3 over one window's n video tokens v[n][c], frames of `per_frame` tokens. Sets keep[i]
 * for the kept tokens (the caller zeroes it).
 * Returns: the number kept, or SIEVE_ENOMEM.
 */
int64_t omnizip_istc(const float *v, int64_t n, int64_t per_frame, int64_t c, double ratio,
                     unsigned char *keep);

#endif
