/*
 * kept.h - which tokens of the full encoder output a kept bundle holds, per modality.
 *
 * A kept bundle is what reaches the LLM: the output of fuse-bidirectional (`modality` plus
 * `full_index`, or `source_index` when fusion saw the full bundles), of prune-visual (`index`
 * I32 [K, 3] (t, y, x)) or of prune-audio (`index` I32 [K]). A modality the bundle does not
 * carry is taken as fully kept: a visual-only pruning leaves the audio intact. A bundle with
 * neither `modality` nor `index` is the full set.
 *
 * Kept features are the kept bundle's own rows when their width matches the full tokens
 * (merged tokens are then measured as merged), else the full tokens at the kept positions
 * (fusion projected the modality to another width).
 *
 * Usage:
 *     struct kept k;
 *     kept_load(host, bundle, full, &k, err);     // full[AV_VIDEO], full[AV_AUDIO]
 *     ... k.mask[AV_AUDIO][i], k.feat[AV_AUDIO] [k.n[AV_AUDIO], full[AV_AUDIO].c] ...
 *     kept_release(&k);
 */
#ifndef SIEVE_EVAL_KEPT_H
#define SIEVE_EVAL_KEPT_H

#include <stdint.h>

#include "../common/av_tokens.h"

struct kept {
    unsigned char *mask[2]; /* [full n] 1 when the full token is kept */
    float *feat[2];         /* [n[m], full c] kept features */
    int64_t n[2];           /* kept rows (a position kept twice counts once in mask) */
};

/*
 * Resolves `b` against the full tokens of both modalities.
 * Returns: 0. Errors: SIEVE_EBADINPUT (indices out of range, wrong shapes), SIEVE_ENOMEM.
 * Ownership: kept_release.
 */
int kept_load(const struct sieve_host *h, const struct sieve_bundle *b,
              const struct av_tokens full[2], struct kept *out, struct sieve_errbuf *err);

void kept_release(struct kept *k);

#endif
