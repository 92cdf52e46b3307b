/*
 * bundle_int.h - the inside of struct bundle, shared by bundle.c (the in-memory map) and
 * safetensors.c (the file format). Private to base/.
 *
 * Invariants: every entry is its own allocation, so the struct sieve_tensor pointers handed
 * out stay valid while the bundle grows; `name` lives in the entry; `owned` is the aligned
 * allocation behind `t.data` when the bundle owns the bytes, NULL when they point into `map`;
 * large owned tensors are bigmem buffers (`mapped` != 0), smaller ones lie in a heap
 * `block`; either way they are released with bundle_entry_free.
 * The name index is an open-addressing table of entry positions + 1 (0 is empty), kept at
 * most half full, so lookups and duplicate checks stay O(1) even for weight files with
 * thousands of tensors.
 */
#ifndef SIEVE_BASE_BUNDLE_INT_H
#define SIEVE_BASE_BUNDLE_INT_H

#include <stddef.h>
#include <stdint.h>

#include <sieve/plugin.h>

/* Owned tensor data is aligned this much, enough for any dtype and for SIMD loads. */
#define BUNDLE_DATA_ALIGN 64

struct bundle_entry {
    struct sieve_tensor t;
    void *owned;
    void *block;   /* the heap block `owned` lies in (owned is aligned up inside it) */
    size_t mapped; /* length of the bigmem buffer behind `owned`, 0 when it is in `block` */
    char name[];
};

struct bundle_meta {
    char *key;
    char *value;
};

struct bundle {
    struct bundle_entry **entries;
    size_t n, cap;
    size_t *index; /* entry position + 1, 0 for an empty slot */
    size_t index_cap;
    struct bundle_meta *meta;
    size_t n_meta, cap_meta;
    void *map; /* read-only mapping of the file the tensors borrow from, or NULL */
    size_t map_len;
};

/*
 * Appends an entry named `name` (of `name_len` bytes, no NUL inside) without data. Returns 0
 * and the entry, SIEVE_EEXIST for a duplicate name, SIEVE_ENOMEM.
 */
int bundle_entry_append(struct bundle *b, const char *name, size_t name_len,
                        struct bundle_entry **out);

/* Gives `e` a zero-filled aligned buffer of `nbytes` (at least one byte is allocated). */
int bundle_entry_alloc(struct bundle_entry *e, uint64_t nbytes);

/* Appends or replaces a metadata pair from counted strings. SIEVE_ENOMEM on failure. */
int bundle_meta_setn(struct bundle *b, const char *key, size_t key_len, const char *value,
                     size_t value_len);
/* Appends a pair whose key the caller knows is new (the parser: keys of one JSON object are
 * unique), without the linear search of setn: a header with 100,000 entries parses in linear
 * time. SIEVE_ENOMEM on failure. */
int bundle_meta_appendn(struct bundle *b, const char *key, size_t key_len, const char *value,
                        size_t value_len);

/* Number of elements of a shape, or -1 when a dim is negative or the product overflows. */
int bundle_shape_numel(uint32_t ndim, const int64_t *shape, uint64_t *numel);

/* Frees an entry and the bytes it owns; accepts NULL. */
void bundle_entry_free(struct bundle_entry *e);

#endif
