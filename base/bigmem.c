/*
 * bigmem.c - large zero-filled buffers from a pool of anonymous mappings (see bigmem.h).
 */
#include "base/bigmem.h"

#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#define HUGE_PAGE ((size_t)2 << 20)

static struct {
    void *p;
    size_t len;
} pool[BIGMEM_POOL_SLOTS];
static size_t pool_bytes;
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;

/*
 * Maps `len` bytes (a multiple of 2 MiB) on a 2 MiB boundary, so that transparent huge pages
 * can back all of it, and asks for them (a hint: failure is harmless). A fresh anonymous
 * mapping reads as zero. Returns: the start, or NULL.
 */
static void *
map_aligned(size_t len)
{
    if (len > SIZE_MAX - HUGE_PAGE)
        return NULL;
    size_t span = len + HUGE_PAGE;
    char *raw = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED)
        return NULL;
    char *start = (char *)(((uintptr_t)raw + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1));
    size_t head = (size_t)(start - raw), tail = span - head - len;
    if (head)
        munmap(raw, head);
    if (tail)
        munmap(start + len, tail);
#ifdef MADV_HUGEPAGE
    madvise(start, len, MADV_HUGEPAGE);
#endif
    return start;
}

/* Takes the smallest pooled mapping of at least `len` bytes out of the pool, or NULL. */
static void *
pool_take(size_t len, size_t *got)
{
    int best = -1;
    pthread_mutex_lock(&pool_lock);
    for (int i = 0; i < BIGMEM_POOL_SLOTS; i++)
        if (pool[i].p && pool[i].len >= len && (best < 0 || pool[i].len < pool[best].len))
            best = i;
    void *p = NULL;
    if (best >= 0) {
        p = pool[best].p;
        *got = pool[best].len;
        pool_bytes -= pool[best].len;
        pool[best].p = NULL;
        pool[best].len = 0;
    }
    pthread_mutex_unlock(&pool_lock);
    return p;
}

void *
bigmem_alloc(size_t nbytes, size_t *len)
{
    size_t n = nbytes ? nbytes : 1;
    if (n > SIZE_MAX - HUGE_PAGE)
        return NULL;
    size_t want = (n + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1), got = 0;
    char *p = pool_take(want, &got);
    if (!p) {
        *len = want;
        return map_aligned(want);
    }
    /* Return the excess to the system: the boundary stays 2 MiB aligned. */
    if (got > want)
        munmap(p + want, got - want);
    memset(p, 0, n);
    *len = want;
    return p;
}

void
bigmem_free(void *p, size_t len)
{
    if (!p)
        return;
    pthread_mutex_lock(&pool_lock);
    int slot = -1;
    for (int i = 0; i < BIGMEM_POOL_SLOTS && slot < 0; i++)
        if (!pool[i].p)
            slot = i;
    if (slot >= 0 && len <= BIGMEM_POOL_BYTES - pool_bytes) {
        pool[slot].p = p;
        pool[slot].len = len;
        pool_bytes += len;
        p = NULL;
    }
    pthread_mutex_unlock(&pool_lock);
    if (p)
        munmap(p, len);
}
