/*
 * half.h - conversions between float and the two 16-bit float formats of bundles.
 *
 * F16 is IEEE 754 binary16 (1 sign, 5 exponent, 10 mantissa bits); BF16 is the top half of
 * a binary32 (1, 8, 7). Widening is exact for every value, subnormals, infinities and NaNs
 * included. Narrowing rounds to nearest, ties to even, like numpy and torch, so a value that
 * round-trips through sieve matches one converted by them bit for bit.
 */
#ifndef SIEVE_BASE_HALF_H
#define SIEVE_BASE_HALF_H

#include <stdint.h>

/* The float value of an F16 bit pattern (exact). */
float half_f16_to_f32(uint16_t h);
/* The nearest F16 of a float (ties to even; overflow gives infinity; NaN stays NaN). */
uint16_t half_f32_to_f16(float f);
/* The float value of a BF16 bit pattern (exact). */
float half_bf16_to_f32(uint16_t h);
/* The nearest BF16 of a float (ties to even; NaN stays NaN). */
uint16_t half_f32_to_bf16(float f);

#endif
