/*
 * emit.c - allocation and row copying shared by every prune-visual method.
 */
#include "emit.h"
#include "parallel.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <sieve/plugin.h>

void
pv_out_release(struct pv_out *o)
{
    if (!o)
        return;
    if (!o->borrowed)
        free(o->tokens);
    free(o->index);
    free(o->importance);
    free(o->mask);
    memset(o, 0, sizeof *o);
}

/*
 * Allocates a token buffer. Outputs run to tens of megabytes, and faulting them in 4 KiB pages
 * costs more than filling them, so large buffers are 2 MiB aligned and asked to use huge pages
 * (a hint; numpy does the same for its large arrays).
 */
static void *
big_alloc(size_t bytes)
{
    const size_t huge = (size_t)2 << 20;
    if (bytes < 2 * huge)
        return malloc(bytes ? bytes : 1);
    size_t size = (bytes + huge - 1) / huge * huge;
    void *p = aligned_alloc(huge, size);
    if (p)
        madvise(p, size, MADV_HUGEPAGE);
    return p;
}

int
pv_out_alloc(const struct pv_in *in, struct pv_out *out, size_t k, size_t width, size_t n)
{
    memset(out, 0, sizeof *out);
    int rc = 0;
    if (in->tokens_alloc) {
        out->borrowed = 1;
        rc = in->tokens_alloc(in->alloc_ctx, k, width, &out->tokens);
    } else {
        out->tokens = big_alloc(k * width * sizeof(float));
    }
    /* malloc(0) may return NULL; ask for at least one element so NULL always means failure. */
    out->index = malloc((k ? 3 * k : 1) * sizeof(int32_t));
    out->importance = malloc((k ? k : 1) * sizeof(float));
    out->mask = calloc(n ? n : 1, 1);
    if (rc == 0 &&
        (!out->index || !out->importance || !out->mask || (!out->tokens && k * width > 0)))
        rc = SIEVE_ENOMEM;
    if (rc < 0) {
        pv_out_release(out);
        return rc;
    }
    out->k = k;
    out->width = width;
    out->n = n;
    return 0;
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_AVX_STREAM 1

/* The same with 32-byte streaming stores, for CPUs with AVX (dst 32-byte aligned). */
__attribute__((target("avx"))) static void
stream_avx(float *dst, const float *src, size_t c)
{
    size_t j = 0;
    for (; j + 8 <= c; j += 8)
        _mm256_stream_ps(dst + j, _mm256_loadu_ps(src + j));
    for (; j < c; j++)
        dst[j] = src[j];
}
#endif

/*
 * Copies one token row. Output buffers are far larger than the caches and are never read back
 * by the method, so on x86 aligned rows are written with streaming stores, which skip reading
 * each destination line first and leave the caches to the input (DyCoke copies a group's
 * rows while that group is still cached). AVX's 32-byte stores beat SSE2's 16-byte ones by
 * ~10% on a row gather here.
 */
void
pv_copy_row(float *dst, const float *src, size_t c)
{
#if defined(HAVE_AVX_STREAM)
    /* A read of a flag the runtime filled at startup: cheap next to a 5 KB row. */
    if (__builtin_cpu_supports("avx") && ((uintptr_t)dst & 31) == 0 && c >= 64) {
        stream_avx(dst, src, c);
        return;
    }
#endif
#if defined(__SSE2__)
    if (((uintptr_t)dst & 15) == 0 && c >= 64) {
        size_t j = 0;
        for (; j + 4 <= c; j += 4)
            _mm_stream_ps(dst + j, _mm_loadu_ps(src + j));
        for (; j < c; j++)
            dst[j] = src[j];
        return;
    }
#endif
    memcpy(dst, src, c * sizeof *dst);
}

void
pv_copy_done(void)
{
#if defined(__SSE2__)
    _mm_sfence(); /* order the streaming stores before anyone reads the rows */
#endif
}

void
pv_emit_row(const struct pv_in *in, struct pv_out *out, size_t i, size_t r)
{
    size_t p = (size_t)(in->h * in->w), c = (size_t)in->c, q = r % p;
    pv_copy_row(out->tokens + i * c, in->x + r * c, c);
    out->index[3 * i] = (int32_t)(r / p);
    out->index[3 * i + 1] = (int32_t)(q / (size_t)in->w);
    out->index[3 * i + 2] = (int32_t)(q % (size_t)in->w);
    out->importance[i] = in->importance ? in->importance[r] : 0.0f;
    out->mask[r] = 1;
}

struct emit_job {
    const struct pv_in *in;
    const int64_t *rows;
    struct pv_out *out;
};

/* Output rows [lo, hi): each range writes its own rows, cells and mask bytes. */
static int
emit_range(void *ctx, size_t part, size_t lo, size_t hi)
{
    const struct emit_job *j = ctx;
    (void)part;
    for (size_t i = lo; i < hi; i++)
        pv_emit_row(j->in, j->out, i, (size_t)j->rows[i]);
    pv_copy_done();
    return 0;
}

int
pv_emit(const struct pv_in *in, const int64_t *rows, size_t k, struct pv_out *out)
{
    size_t p = (size_t)(in->h * in->w), c = (size_t)in->c, n = (size_t)in->t * p;
    int rc = pv_out_alloc(in, out, k, c, n);
    if (rc < 0)
        return rc;
    struct emit_job job = {in, rows, out};
    return prune_parallel(in->threads, k, emit_range, &job);
}
