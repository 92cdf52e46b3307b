/*
 * emit.h - building a struct pv_out (internal to prune-visual).
 *
 * pv_out_alloc sizes the arrays of a result; pv_emit fills a result from a list of kept flat
 * cell indices (t * h * w + y * w + x), in the order given, copying the token rows.
 */
#ifndef SIEVE_PRUNE_VISUAL_EMIT_H
#define SIEVE_PRUNE_VISUAL_EMIT_H

#include "methods.h"

/* Allocates k rows of `width` channels (through in->tokens_alloc when set) and a zeroed mask
 * of n cells. Returns 0, SIEVE_ENOMEM or the allocator's error (with `out` empty). */
int pv_out_alloc(const struct pv_in *in, struct pv_out *out, size_t k, size_t width, size_t n);

/* Fills `out` with the cells rows[0..k) of `in`, in that order. Returns 0 or SIEVE_ENOMEM. */
int pv_emit(const struct pv_in *in, const int64_t *rows, size_t k, struct pv_out *out);

/* Writes output row i of `out` from input cell r: the token (with pv_copy_row; call
 * pv_copy_done after the last row), its (t, y, x), its importance and its mask bit. */
void pv_emit_row(const struct pv_in *in, struct pv_out *out, size_t i, size_t r);

/* Copies c floats of one row, with streaming stores where the destination allows; call
 * pv_copy_done once after the last row. */
void pv_copy_row(float *dst, const float *src, size_t c);
void pv_copy_done(void);

#endif
