/*
 * methods.h - the visual token-pruning methods of prune-visual as plain C over float arrays.
 *
 * Input: tokens x[t][p][c] for t temporal groups of p = h * w merged patches (row-major,
 * p = y * w + x), optional importance[t][p]. Every method fills a struct pv_out: k output rows
 * of `width` channels, the (t, y, x) of the cell each row stands for, that row's importance,
 * and a mask over the t * h * w input cells. Rows come in original order (t, then y, then x)
 * except for DyCoke with `faithful`, which keeps the official code's similarity order inside
 * pruned groups. The rules for budgets and ties are those of prune-common/select.h:
 * K = floor(keep * n) clamped to [1, n]; equal scores go to the lower index.
 *
 * How the real keep fraction (k / (t * h * w)) relates to `keep`, per method:
 *   dycoke     keep is DyCoke's per-frame keep (1 - K): a group that opens a window is kept
 *              whole, every other group keeps floor(keep * p) (at least 1) tokens, so the
 *              real keep is about (1 + (window - 1) * keep) / window; faithful mode leaves the
 *              third group of the last window whole and drops the last group when t is odd.
 *   uniform    average pooling with sy x sx windows chosen so that ceil(h/sy) * ceil(w/sx) is
 *              the largest count <= floor(keep * p): real keep <= keep, equal when it divides.
 *   pixel-shuffle  2x2 space-to-channel: ceil(h/2) * ceil(w/2) rows of 4c, about 0.25
 *              whatever keep says.
 *   random, topk   exactly floor(keep * n) tokens over all groups.
 *   visionzip  floor(keep * p) per group (dominant + contextual): real keep = that / p;
 *              the official counts (pv_visionzip_official) keep dominant - 1 + contextual.
 *   codec      at most floor(keep * n): groups with an I frame are kept whole, static cells
 *              that match their reference are dropped even under budget, so the real keep is
 *              <= keep (and > keep only when the I groups alone exceed the budget).
 *
 * Usage:
 *     struct pv_in in = { x, imp, t, h, w, c };
 *     struct pv_out out;
 *     if (pv_topk(&in, 0.5, &out) == 0) { ... use out.tokens[out.k * out.width] ... }
 *     pv_out_release(&out);
 */
#ifndef SIEVE_PRUNE_VISUAL_METHODS_H
#define SIEVE_PRUNE_VISUAL_METHODS_H

#include <stddef.h>
#include <stdint.h>

/*
 * The input grid. `importance` may be NULL for methods that do not rank by it. Borrowed.
 * `tokens_alloc` is optional: when set, a method asks it for the [k][width] output rows (the
 * plugin hands out its output tensor, so rows are written once, straight into the bundle) and
 * the result does not own them; it returns 0 or a negative SIEVE_E* code. When NULL the rows
 * are malloc'd and owned by the result.
 * `threads` is how many threads a method may use (0 or 1: the caller's only). The work is split
 * by groups, windows or cells so that every output byte is the same whatever the count.
 */
struct pv_in {
    const float *x;
    const float *importance;
    int64_t t, h, w, c;
    int (*tokens_alloc)(void *ctx, size_t k, size_t width, float **rows);
    void *alloc_ctx;
    int threads;
};

/* Per-frame codec side information, already mapped onto the token grid by pv_codec_groups. */
struct pv_motion {
    const uint8_t *is_key; /* [t]: the group holds an I frame */
    const float *motion;   /* [t][h * w]: motion of the cell in that group */
};

/*
 * A method's result. Ownership: every pointer is malloc'd by the method and released by
 * pv_out_release, except tokens handed out by pv_in.tokens_alloc; on failure the struct is
 * left empty.
 */
struct pv_out {
    size_t k, width, n;
    float *tokens;     /* [k][width] */
    int32_t *index;    /* [k][3]: t, y, x of the row's cell (top-left cell for a merge) */
    float *importance; /* [k]: the cell's importance, the mean over merged cells */
    uint8_t *mask;     /* [n]: 1 at every cell that has a row */
    double param_a;    /* method detail for the metadata (uniform: sy; visionzip: dominant) */
    double param_b;    /* (uniform: sx; visionzip: contextual per group; codec: candidates) */
    int borrowed;      /* tokens came from pv_in.tokens_alloc and are not freed here */
};

/* Frees the arrays of `o` and zeroes it; accepts an empty struct. */
void pv_out_release(struct pv_out *o);

/*
 * DyCoke stage-1 token temporal merging (TTM): windows of `window` groups; the first group of
 * each window is kept whole, an odd offset j is compared with group j - 1 and an even offset
 * with the window's first group (original tokens, per-position cosine), and the least similar
 * floor(keep * p) tokens are kept. `faithful` reproduces the official code: pairs (f, f+1)
 * for even f, windows re-pruned only while their start is < t - window, an odd last group
 * dropped, similarities ranked as float32 values (ties: lower index), kept tokens of a pruned
 * group in increasing-similarity order.
 * Returns: 0, SIEVE_EINVAL for window < 1, SIEVE_ENOMEM.
 */
int pv_dycoke(const struct pv_in *in, double keep, int64_t window, int faithful,
              struct pv_out *out);

/*
 * pv_dycoke with DyCoke's own pruning ratio K (0 <= K <= 1) in place of keep: a pruned group
 * keeps the official int((1 - K) * p) tokens, 1 - K rounded to a double first as Python does
 * (K = 0.34 over 100 tokens keeps 65, where keep 0.66 keeps 66); at least 1 unless faithful.
 */
int pv_dycoke_ratio(const struct pv_in *in, double prune_ratio, int64_t window, int faithful,
                    struct pv_out *out);

/* Spatial average pooling per group to the budget (see above for the window choice). */
int pv_uniform(const struct pv_in *in, double keep, struct pv_out *out);

/* Space-to-channel by 2: four cells (dy, dx) become one row [x(0,0) x(0,1) x(1,0) x(1,1)];
 * cells outside an odd grid are zeros and do not count in the importance mean. */
int pv_pixel_shuffle(const struct pv_in *in, struct pv_out *out);

/* floor(keep * n) tokens with the smallest splitmix64(seed, flat index) keys. */
int pv_random(const struct pv_in *in, double keep, uint64_t seed, struct pv_out *out);

/*
 * The floor(keep * n) tokens of highest encoder importance over all groups (ties: lower
 * index). Not FastV: FastV ranks by the LLM's attention at layer K, which sieve cannot see.
 */
int pv_topk(const struct pv_in *in, double keep, struct pv_out *out);

/*
 * VisionZip per group: B = floor(keep * p), D = floor(B * dominant_ratio) dominant tokens by
 * importance, and B - D contextual tokens: targets picked uniformly from the rest
 * (step = max(1, rest / (B - D)), positions 0, step, ...), every other remaining token is
 * assigned to its most cosine-similar target (ties: the earlier target), and a contextual row
 * is target + mean(assigned). Rows sit at their cell (dominant or target) in original order.
 */
int pv_visionzip(const struct pv_in *in, double keep, double dominant_ratio, struct pv_out *out);

/*
 * pv_visionzip with the contextual similarity measured on `keys` [t][p][kc] (encode's
 * attention keys of the selection layer, VisionZip's metric) instead of the token features;
 * keys NULL is pv_visionzip. The contextual rows still merge the token features.
 */
int pv_visionzip_keys(const struct pv_in *in, const float *keys, int64_t kc, double keep,
                      double dominant_ratio, struct pv_out *out);

/*
 * VisionZip with the official code's counts per group: `dominant` counts the CLS token, as
 * the official budget does (54 = CLS + 53 patches), so dominant - 1 patches are kept (the
 * grid has no CLS row to output), plus `contextual` contextual tokens; both are clamped to
 * the group. Rows come as the official output orders them: the dominant patches in cell
 * order, then the contextual tokens in target order. `keys` as for pv_visionzip_keys (NULL:
 * the token features stand in).
 */
int pv_visionzip_official(const struct pv_in *in, const float *keys, int64_t kc, int64_t dominant,
                          int64_t contextual, struct pv_out *out);

/*
 * Codec-guided pruning: groups with an I frame are kept whole and reset every cell's
 * reference; in other groups a cell whose motion is below `motion_threshold` and whose cosine
 * with its reference (the last kept token at that cell) is at least `match_threshold` is
 * dropped. If more than floor(keep * n) tokens remain, further P/B cells are dropped, most
 * similar to their reference first (ties: lower index). Dropping never updates a reference.
 */
int pv_codec(const struct pv_in *in, const struct pv_motion *mo, double keep,
             double motion_threshold, double match_threshold, struct pv_out *out);

/*
 * Maps decode's per-frame codec data onto token groups: group g holds frames 2g and 2g + 1
 * (those that exist); it is a key group when either frame is 'I', and a cell's motion is the
 * larger of the two frames' motion (a cell moving in either frame is moving). `motion` is
 * [frames][mh][mw] and is sampled at the nearest cell when its grid differs from h x w.
 * `is_key` gets t bytes and `cell_motion` t * h * w floats (caller-allocated).
 */
void pv_codec_groups(const uint8_t *frame_type, const float *motion, int64_t frames, int64_t mh,
                     int64_t mw, int64_t t, int64_t h, int64_t w, uint8_t *is_key,
                     float *cell_motion);

#endif
