/*
 * bundle.h - bundles: ordered maps of named tensors plus string metadata, and their on-disk
 * form, the safetensors file.
 *
 * This is the host side of `struct sieve_bundle` (opaque in sieve/plugin.h). A bundle either
 * owns its tensor data (built in memory, e.g. a plugin's outputs) or borrows it from a
 * read-only memory map of a safetensors file (bundle_read). Tensor order is insertion order
 * for built bundles and header order for read ones; names are unique.
 *
 * Byte layout of a safetensors file (little-endian):
 *   u64 N                  length of the JSON header
 *   N bytes                JSON object: { "__metadata__": {str: str, ...},
 *                                         "<name>": {"dtype": "F32", "shape": [..],
 *                                                    "data_offsets": [begin, end]}, ... }
 *                          padded with spaces so that 8 + N is a multiple of 8
 *   data                   tensor bytes; offsets are relative to the start of this block
 * bundle_write lays the data out in descending element-size order so every tensor is aligned
 * to its element size, while the header keeps the bundle order of names.
 *
 * Reading validates everything before any tensor is exposed: N within the file and at most
 * BUNDLE_HEADER_MAX, valid JSON object, known dtypes, shapes of at most SIEVE_MAX_DIMS
 * non-negative dims, shape x dtype size equal to the byte range, ranges inside the data and
 * not overlapping, no duplicate names, metadata values that are strings. Any violation is
 * SIEVE_EFORMAT with a message naming the file and the tensor.
 *
 * Usage:
 *     struct bundle *b = bundle_new();
 *     struct sieve_tensor *t;
 *     int64_t shape[2] = {4, 8};
 *     bundle_tensor_new(b, "tokens", SIEVE_DTYPE_F32, 2, shape, &t, &err);
 *     ... fill t->data ...
 *     bundle_meta_set(b, "method", "topk", &err);
 *     bundle_write(b, "out.safetensors", &err);   // tmp + fsync + rename
 *     bundle_free(b);
 *
 *     struct bundle *r;
 *     if (bundle_read("out.safetensors", &r, &err) < 0) puts(err.msg);
 */
#ifndef SIEVE_BASE_BUNDLE_H
#define SIEVE_BASE_BUNDLE_H

#include <stddef.h>
#include <stdint.h>

#include <sieve/plugin.h>

#define BUNDLE_HEADER_MAX (100u * 1024u * 1024u) /* the safetensors library's own bound */

struct bundle;

/* Parses "F32", "BF16", ... (safetensors names); returns the dtype or -1. */
int bundle_dtype_parse(const char *name);
/* The safetensors name of a dtype ("F32"), or NULL for an unknown one. */
const char *bundle_dtype_name(int32_t dtype);

/* An empty bundle that owns its data. Ownership: the caller frees it with bundle_free. */
struct bundle *bundle_new(void);
/* Frees a bundle, its tensors and its mapping. Accepts NULL. */
void bundle_free(struct bundle *b);

/* The plugin-facing handle of a bundle (the same object). */
struct sieve_bundle *bundle_as_sieve(struct bundle *b);
struct bundle *bundle_from_sieve(struct sieve_bundle *b);
const struct bundle *bundle_from_sieve_const(const struct sieve_bundle *b);

/*
 * Appends a zero-filled tensor. Returns 0 and the tensor in *out (owned by the bundle).
 * Errors: SIEVE_EINVAL (empty or duplicate name, unknown dtype, ndim > SIEVE_MAX_DIMS,
 * negative dim, size overflow), SIEVE_ENOMEM.
 */
int bundle_tensor_new(struct bundle *b, const char *name, int32_t dtype, uint32_t ndim,
                      const int64_t *shape, struct sieve_tensor **out, struct sieve_errbuf *err);
/* Appends a copy of `src` (data included) under `name` (src->name when NULL). */
int bundle_tensor_add_copy(struct bundle *b, const char *name, const struct sieve_tensor *src,
                           struct sieve_errbuf *err);

size_t bundle_tensor_count(const struct bundle *b);
const struct sieve_tensor *bundle_tensor_at(const struct bundle *b, size_t i);
const struct sieve_tensor *bundle_tensor_get(const struct bundle *b, const char *name);

/* Metadata, insertion order, unique keys; set replaces. Strings are copied. */
int bundle_meta_set(struct bundle *b, const char *key, const char *value, struct sieve_errbuf *err);
const char *bundle_meta_get(const struct bundle *b, const char *key);
size_t bundle_meta_count(const struct bundle *b);
int bundle_meta_at(const struct bundle *b, size_t i, const char **key, const char **value);

/*
 * Maps and validates a safetensors file. Tensor data points into the read-only mapping
 * (copied only when misaligned for its dtype).
 * Returns 0 and a new bundle in *out. Errors: SIEVE_ENOENT, SIEVE_EIO, SIEVE_EFORMAT,
 * SIEVE_ENOMEM; *out is NULL on failure. Ownership: the caller frees *out.
 */
int bundle_read(const char *path, struct bundle **out, struct sieve_errbuf *err);

/* Validates a safetensors image already in memory (for fuzzing and tests); copies nothing
 * until validated. Ownership: `buf` must outlive the bundle. */
int bundle_parse(const void *buf, size_t len, const char *label, struct bundle **out,
                 struct sieve_errbuf *err);

/*
 * Writes the bundle atomically: `path.tmp.<pid>`, fsync, rename, fsync of the directory.
 * On failure nothing at `path` changes and the temporary file is removed.
 */
int bundle_write(const struct bundle *b, const char *path, struct sieve_errbuf *err);

/* bundle_write_ex flags. NOSYNC: no fsync of the file or its directory (the caller makes the
 * object durable later, e.g. with one syncfs for a batch). DATA_HASH: record the sha256 of the
 * data section (the tensors' bytes in file order) under BUNDLE_META_DATA_SHA256, so that a file
 * torn by a power loss can be told from a whole one (bundle_file_check). */
#define BUNDLE_WRITE_NOSYNC 1u
#define BUNDLE_WRITE_DATA_HASH 2u
#define BUNDLE_META_DATA_SHA256 "sieve.data_sha256"
/* The hex key of the task that wrote an object (set by the worker; `sieve cache reindex`). */
#define BUNDLE_META_TASK_KEY "sieve.task_key"

/*
 * bundle_write with options: `flags` as above; when `file_sha256` is not NULL it receives the
 * 64-hex sha256 of the whole file, computed while writing (no second read), and `bytes` (may be
 * NULL) the file size. Same atomicity as bundle_write: tmp file, rename.
 * Errors: as bundle_write.
 */
int bundle_write_ex(const struct bundle *b, const char *path, unsigned flags, char file_sha256[65],
                    uint64_t *bytes, struct sieve_errbuf *err);

/*
 * Checks a safetensors file against its embedded data hash (BUNDLE_META_DATA_SHA256).
 * Returns 1 when the header is valid and the data matches, 0 when the header is valid but has
 * no such key (nothing to check). Errors: SIEVE_EFORMAT (torn header, or data that does not
 * match the hash: a torn or zero-filled file), SIEVE_ENOENT, SIEVE_EIO, SIEVE_ENOMEM.
 */
int bundle_file_check(const char *path, struct sieve_errbuf *err);

/* Serialises into a malloc'd buffer (*out, *len). Ownership: the caller frees *out. */
int bundle_serialize(const struct bundle *b, void **out, size_t *len, struct sieve_errbuf *err);

/* The host services table (struct sieve_host) whose tensor and metadata entries operate on
 * bundles; log, progress and cancelled default to stderr/no-ops and may be overridden by a
 * copy of this table. */
const struct sieve_host *bundle_host_services(void);

#endif
