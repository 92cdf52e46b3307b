/*
 * bigmem.h - zero-filled buffers for large tensors: 2 MiB-aligned anonymous mappings on
 * transparent huge pages, with a small pool of freed mappings kept for reuse.
 *
 * Why: a pipeline's outputs run to hundreds of megabytes per task. Faulting fresh pages in
 * is the kernel zeroing them one fault at a time: measured here, 210 MB of fresh huge pages
 * take ~20 ms to fault in (~80 ms with 4 KiB pages), while clearing the same range of an
 * already mapped buffer takes ~3 ms. A worker runs task after task with outputs of similar
 * sizes, so the mapping freed by one task is cleared and handed to the next.
 *
 * Invariants: every buffer handed out is zero over the bytes asked for, starts on a 2 MiB
 * boundary and is `*len` bytes long (a multiple of 2 MiB); the pool holds at most
 * BIGMEM_POOL_SLOTS mappings and BIGMEM_POOL_BYTES bytes; it is guarded by a mutex, so
 * buffers may be taken and given back from any thread.
 *
 * Usage:
 *     size_t len;
 *     void *p = bigmem_alloc(nbytes, &len);   // NULL when out of memory
 *     ...
 *     bigmem_free(p, len);
 */
#ifndef SIEVE_BASE_BIGMEM_H
#define SIEVE_BASE_BIGMEM_H

#include <stddef.h>

#define BIGMEM_POOL_SLOTS 4
#define BIGMEM_POOL_BYTES ((size_t)1 << 30)

/*
 * Returns a zero-filled buffer of at least `nbytes` bytes, its mapped length in *len.
 * Ownership: the caller gives it back with bigmem_free(p, *len).
 */
void *bigmem_alloc(size_t nbytes, size_t *len);

/* Gives back a buffer from bigmem_alloc: kept in the pool when there is room, else unmapped.
 * Accepts NULL. */
void bigmem_free(void *p, size_t len);

#endif
