#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sieve/plugin.h>

#include "base/array.h"

int
array_grow(void *arrp, size_t *cap, size_t need, size_t size)
{
    size_t nc;
    void *a;

    if (need <= *cap)
        return 0;
    nc = *cap ? *cap : 8;
    while (nc < need) {
        if (nc > SIZE_MAX / 2)
            return SIEVE_ENOMEM;
        nc *= 2;
    }
    if (nc > SIZE_MAX / size)
        return SIEVE_ENOMEM;
    /* arrp points at a T *, which need not be a void *: move it through memcpy. */
    memcpy(&a, arrp, sizeof a);
    if (!(a = realloc(a, nc * size)))
        return SIEVE_ENOMEM;
    memcpy(arrp, &a, sizeof a);
    *cap = nc;
    return 0;
}
