/*
 * half.c - F16/BF16 conversions by bit manipulation (no dependence on compiler _Float16).
 */
#include "base/half.h"

#include <string.h>

static uint32_t
f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float
bits_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

float
half_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu, man = h & 0x3ffu;

    if (exp == 0x1f) /* infinity or NaN; keep the payload */
        return bits_f32(sign | 0x7f800000u | man << 13);
    if (exp == 0) {
        /* Zero or subnormal: man * 2^-24 is exact in binary32. */
        float v = (float)man * 0x1p-24f;
        return sign ? -v : v;
    }
    return bits_f32(sign | (exp + 112) << 23 | man << 13);
}

uint16_t
half_f32_to_f16(float f)
{
    uint32_t u = f32_bits(f);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    uint32_t exp = (u >> 23) & 0xffu, man = u & 0x7fffffu;
    int32_t e;

    if (exp == 0xff) /* infinity, or NaN made quiet so it stays NaN */
        return (uint16_t)(sign | 0x7c00u | (man ? 0x200u | man >> 13 : 0));
    e = (int32_t)exp - 127 + 15;
    if (e >= 0x1f)
        return (uint16_t)(sign | 0x7c00u);
    if (e <= 0) {
        /* Subnormal result: shift the full mantissa (with its implicit 1) into place. */
        uint32_t m, shift, half, rest;
        if (e < -10)
            return sign;
        m = man | 0x800000u;
        shift = (uint32_t)(14 - e);
        half = 1u << (shift - 1);
        rest = m & ((1u << shift) - 1);
        m >>= shift;
        if (rest > half || (rest == half && (m & 1)))
            m++;
        return (uint16_t)(sign | m);
    }
    {
        uint32_t m = man >> 13, rest = man & 0x1fffu;
        uint32_t r = (uint32_t)e << 10 | m;
        /* A carry out of the mantissa correctly bumps the exponent (up to infinity). */
        if (rest > 0x1000u || (rest == 0x1000u && (m & 1)))
            r++;
        return (uint16_t)(sign | r);
    }
}

float
half_bf16_to_f32(uint16_t h)
{
    return bits_f32((uint32_t)h << 16);
}

uint16_t
half_f32_to_bf16(float f)
{
    uint32_t u = f32_bits(f);

    if ((u & 0x7f800000u) == 0x7f800000u && (u & 0x7fffffu))
        return (uint16_t)((u >> 16) | 0x40u);
    u += 0x7fffu + ((u >> 16) & 1);
    return (uint16_t)(u >> 16);
}
