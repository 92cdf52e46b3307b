/*
 * av_tokens.h - one modality's tokens as the fuse and evaluate plugins see them: a plain,
 * owned, F32 copy of a visual or audio bundle with per-token time, importance and position.
 *
 * The bundles come from encode (full) or from prune-visual / prune-audio / fuse (kept):
 *   vision, full:   tokens [T2, P, C], grid I32[3] (t, h, w), importance [T2, P], time [T2]
 *   vision, pruned: tokens [K, C], index I32 [K, 3] (t, y, x), importance [K], time [K], grid
 *   audio, full:    tokens [Na, C], importance [Na], time [Na] (25 tokens/s)
 *   audio, pruned:  tokens [K, C], index I32 [K] (position in the full sequence), importance
 *                   [K], time [K]
 * Missing optional tensors get documented fallbacks: no `index` means the full grid; no
 * `time` means t * second_per_grid (vision) or index / 25 (audio); no `importance` means 1.
 * Tokens may be F32, F16, BF16 or F64; everything is converted to F32 once here.
 *
 * Invariants after av_tokens_load: every array has `n` entries (tok has n * c); `full` is the
 * token's row-major index in the full grid (vision: t * gh * gw + y * gw + x) or sequence
 * (audio); `n_full` is the size of that full grid when the bundle tells it (vision: from
 * grid; audio: tokens present when unpruned), else the largest index + 1.
 *
 * Usage:
 *     struct av_tokens v;
 *     if (av_tokens_load(host, bundle, AV_VIDEO, 1.0, &v, err) < 0) return rc;
 *     ... v.tok[i * v.c + k], v.t[i], v.time[i] ...
 *     av_tokens_release(&v);
 */
#ifndef SIEVE_PLUGINS_AV_TOKENS_H
#define SIEVE_PLUGINS_AV_TOKENS_H

#include <stdint.h>

#include <sieve/plugin.h>

enum av_modality { AV_VIDEO = 0, AV_AUDIO = 1 };

/* Audio tokens per second after the encoder's pooling (Qwen2.5-Omni, Whisper). */
#define AV_AUDIO_TOKENS_PER_SECOND 25.0

struct av_tokens {
    int modality;       /* enum av_modality */
    int64_t n, c;       /* tokens present, width */
    float *tok;         /* [n, c] */
    float *time;        /* [n] seconds */
    float *imp;         /* [n] importance (1 when the bundle has none) */
    int32_t *t, *y, *x; /* [n] vision: temporal group, merged row, column; audio: t = index */
    int32_t *full;      /* [n] index into the full grid or sequence */
    int64_t n_full;     /* size of the full grid or sequence */
    int32_t gt, gh, gw; /* vision: temporal groups and merged rows/columns of the full grid */
    int pruned;         /* the bundle carried an `index` */
};

/*
 * Reads one modality from a bundle. `second_per_grid` is the duration of one temporal group
 * (2 frames at 2 fps = 1 s), used only when the bundle has no `time`.
 * Returns: 0. Errors: SIEVE_EBADINPUT with the tensor named in `err` (missing `tokens`, bad
 * shape, dtype, index out of range), SIEVE_ENOMEM. On failure *out holds nothing.
 * Ownership: release with av_tokens_release.
 */
int av_tokens_load(const struct sieve_host *host, const struct sieve_bundle *b, int modality,
                   double second_per_grid, struct av_tokens *out, struct sieve_errbuf *err);

/* Frees the arrays; accepts a zeroed or released struct. */
void av_tokens_release(struct av_tokens *s);

/*
 * Converts `n` elements of a tensor of dtype F32/F16/BF16/F64 (`src`) to float.
 * Returns: 0, or -1 for another dtype.
 */
int av_to_float(int32_t dtype, const void *src, uint64_t n, float *dst);

/* Cosine similarity of two vectors; 0 when either has zero norm. */
double av_cosine(const float *a, const float *b, int64_t c);

#endif
