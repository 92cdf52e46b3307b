/*
 * fuse.h - audio-visual fusion in the Qwen2.5-Omni layout: 2-second chunks, TMRoPE position
 * ids, bidirectional cross-modal attention scores, and four ways to spend a token budget.
 *
 * Layout (token-methods.md §6.4): with `use_audio_in_video` the thinker sees, per chunk j,
 * the video tokens whose time falls in [j·chunk_seconds, (j+1)·chunk_seconds) and then the
 * audio tokens of the same interval. Position ids: a video token of temporal group t at merged
 * row y, column x gets (t·second_per_grid·25, y, x); audio token k gets (k, k, k); all three
 * plus `pos_offset` (the start index after the text before the media). Positions are those of
 * the full sequence, so pruning never renumbers them (OmniZip keeps original ids, §3.1).
 *
 * Cross-modal score: within a chunk, with â and v̂ the L2-normalised tokens (both in the common
 * width C'), audio queries attend over the chunk's video keys with softmax(scale·â·v̂) and
 * video queries over the audio keys; a token's score is the attention it receives, averaged
 * over the other modality's queries (so the scores of one modality in a chunk sum to 1). The
 * default scale is 1/sqrt(C'), the scaled dot product.
 *
 * Ranking: joint-topk, audio-guided and merge rank tokens by
 *     w_cross · score · n_same + w_self · importance / mean(importance of the same modality
 *     in the chunk)
 * where n_same is the number of tokens of that modality in the chunk. Both terms average 1
 * over a modality's tokens in a chunk, which puts audio and video on one scale (raw attention
 * shares are 1/n and would favour the rarer modality). Ties go to the earlier token of the
 * interleaved order.
 *
 * Modes:
 *   interleave    everything, in chunk order (video then audio per chunk);
 *   joint-topk    per chunk keep round(keep · (n_video + n_audio)) tokens by the rank above;
 *   audio-guided  sieve's simplification of OmniZip §3.4 (mode omnizip is the official
 *                 computation): audio top-k by importance (round(audio_keep · N_audio) over the
 *                 whole clip); chunk i's video prune ratio rho_i = clamp(rho_max − (rho_max −
 *                 rho_min) · S_a(i)) with S_a(i) the chunk's kept audio fraction, rescaled so
 *                 that Σ rho_i · n_i = (1 − keep) · N_video (the chunks with the smallest and
 *                 largest ratio stay fixed when there are more than two, the remainder is
 *                 spread per token, then clamped again; chunks without audio use 1 − keep);
 *                 each chunk keeps round((1 − rho_i) · n_i) video tokens by rank;
 *   merge         the joint-topk selection, then every dropped token is averaged into the most
 *                 similar kept token of its modality and chunk: kept ← (kept + Σ w_d·x_d) /
 *                 (1 + Σ w_d) with w_d = max(0, cos(x_d, kept)).
 *   omnizip       OmniZip as its official code computes it (omnizip.h): audio dominant tokens
 *                 and merged anchors over the clip, per-window video ratios from the kept
 *                 audio share, ISTC inside each window. Windows are the runs of consecutive
 *                 video (audio) tokens of the interleaved order, paired in order, as the
 *                 official code finds them in input_ids; tokens are compared in the common
 *                 width. audio-guided is sieve's own simpler variant of the same idea.
 *
 * Usage:
 *     struct fuse_params p; fuse_params_default(&p); p.mode = FUSE_JOINT_TOPK; p.keep = 0.5;
 *     struct fuse_result r;
 *     if (fuse_run(&p, &video, &audio, vproj, aproj, cprime, &r, err) == 0) { ... r.items ... }
 *     fuse_result_release(&r);
 */
#ifndef SIEVE_FUSE_H
#define SIEVE_FUSE_H

#include <stdint.h>

#include "../common/av_tokens.h"
#include "omnizip.h"

enum fuse_mode {
    FUSE_INTERLEAVE = 0,
    FUSE_JOINT_TOPK,
    FUSE_AUDIO_GUIDED,
    FUSE_MERGE,
    FUSE_OMNIZIP
};

/* Position ids per second of media (Qwen2.5-Omni `position_id_per_seconds`). */
#define FUSE_POS_PER_SECOND 25

struct fuse_params {
    int mode;               /* enum fuse_mode */
    double chunk_seconds;   /* 2 */
    double keep;            /* joint-topk/merge: kept fraction per chunk; audio-guided: video */
    double audio_keep;      /* audio-guided: kept audio fraction (OmniZip 1 − rho_a) */
    double w_cross, w_self; /* rank weights */
    double rho_min, rho_max;
    double second_per_grid;   /* seconds per temporal group: temporal_patch 2 / fps 2 = 1 */
    double scale;             /* attention logit scale; 0 means 1/sqrt(C') */
    int64_t pos_offset;       /* st_idx added to every position id */
    struct omnizip_params oz; /* omnizip: its own ratios (rho_min/rho_max come from above) */
};

/* One token of the fused sequence. */
struct fuse_item {
    int modality;   /* AV_VIDEO or AV_AUDIO */
    int64_t src;    /* row in that modality's av_tokens */
    int32_t chunk;  /* chunk index */
    int32_t pos[3]; /* TMRoPE (t, h, w) */
    float score;    /* cross-modal attention received (mean over queries) */
    double rank;    /* the ranking value above (0 in interleave mode) */
};

struct fuse_result {
    int64_t m;               /* tokens in the output */
    struct fuse_item *items; /* [m] in output order */
    float *tok;              /* [m, c] tokens in the common width (merged where merged) */
    int64_t c;               /* common width C' */
    int64_t kept[2], total[2];
    int32_t n_chunks;
};

/* Fills the documented defaults (interleave, 2 s, keep 0.5, audio_keep 0.7, weights 1/1,
 * rho 0.35/0.75, 1 s per grid, scale 1/sqrt(C'), offset 0). */
void fuse_params_default(struct fuse_params *p);

/*
 * Fuses `video` and `audio`. `vproj`/`aproj` are [c, v->c] / [c, a->c] row-major matrices
 * that map each modality into the common width `c`, or NULL for the identity (the width must
 * then equal c).
 * Returns: 0. Errors: SIEVE_EINVAL (bad parameters), SIEVE_ENOMEM. Ownership: release *out
 * with fuse_result_release; the inputs are borrowed.
 */
int fuse_run(const struct fuse_params *p, const struct av_tokens *video,
             const struct av_tokens *audio, const float *vproj, const float *aproj, int64_t c,
             struct fuse_result *out, struct sieve_errbuf *err);

void fuse_result_release(struct fuse_result *r);

/* Chunk of a token at `time` seconds (a tiny epsilon absorbs float rounding of boundaries). */
int32_t fuse_chunk_of(double time, double chunk_seconds);

/*
 * The audio-guided per-chunk video prune ratios (OmniZip §3.4, see above): `sa[i]` the kept
 * audio fraction of chunk i or a negative value for a chunk without audio, `size[i]` its video
 * tokens, `target` the overall video prune ratio. Writes rho[i].
 */
void fuse_guided_ratios(int n, const double *sa, const int64_t *size, double target, double rho_min,
                        double rho_max, double *rho);

#endif
