/*
 * det.h - portable, bit-reproducible random numbers and maths for the built-in models.
 *
 * Everything here uses only IEEE-754 operations that every conforming machine rounds the same
 * way (+, -, *, /, sqrt, ldexp) in a fixed order, and no libm transcendental (glibc, musl and
 * macOS disagree in the last bit of exp, log, cos). Together with -ffp-contract=off (no fused
 * multiply-add) this makes the built-in vision model's output the same bytes on any machine.
 *
 *   splitmix64        the PRNG (Steele, Lea, Flood 2014), a 64-bit state advanced by a constant
 *   det_uniform       53-bit uniform double in [0, 1)
 *   det_normal        approximately standard normal: the sum of 12 uniforms minus 6
 *                     (Irwin-Hall); chosen over Box-Muller because it needs no log or cos
 *   det_exp           exp in double from a range reduction and a degree-13 Taylor polynomial
 *   det_orthonormal_rows  a rows x cols matrix (rows <= cols) with orthonormal rows: Gaussian
 *                     entries orthonormalised by modified Gram-Schmidt in double
 */
#ifndef ENCODE_DET_H
#define ENCODE_DET_H

#include <stddef.h>
#include <stdint.h>

uint64_t det_splitmix64(uint64_t *state);
double det_uniform(uint64_t *state);
double det_normal(uint64_t *state);
double det_exp(double x);

/*
 * Fills out[rows, cols] (rows <= cols) with a random matrix whose rows are orthonormal: its
 * rows * cols normals are drawn row-major from *state (which advances), orthonormalised in
 * double, rounded to float at the end. Costs about 2 * cols * rows^2 double operations.
 * Returns: 0, or SIEVE_ENOMEM.
 */
int det_orthonormal_rows(uint64_t *state, size_t rows, size_t cols, float *out);

#endif /* ENCODE_DET_H */
