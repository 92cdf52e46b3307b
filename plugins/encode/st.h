/*
 * st.h - a small, defensive safetensors reader for model weights, private to the encode plugin.
 *
 * The plugin may not link the daemon's bundle code, so it reads weight files itself. A file is
 * memory-mapped read-only and its whole header is validated before any tensor is exposed:
 *
 *   u64 N (little-endian)   length of the JSON header, at most ST_HEADER_MAX and inside the file
 *   N bytes                 {"__metadata__": {...}, "<name>": {"dtype": "F32", "shape": [..],
 *                                                        "data_offsets": [begin, end]}, ...}
 *   data                    offsets are relative to the first byte after the header
 *
 * Checks: valid JSON object, unique names, at most ST_MAX_DIMS non-negative dims, end >= begin,
 * ranges inside the data block and not overlapping, and (for known dtypes) end - begin equal to
 * the element count times the element size. Every failure is SIEVE_EBADINPUT with a message
 * that names the file and, where there is one, the tensor.
 *
 * Loading a tensor (st_load) converts F32, F16 or BF16 to a freshly allocated F32 array after
 * checking its shape against what the model expects; any other dtype is rejected by name.
 *
 * Usage:
 *     struct st_file *f;
 *     if (st_open("clip.safetensors", &f, err) < 0) return rc;
 *     int64_t shape[2] = {-1, 768};            // -1: any size, filled in on return
 *     float *w;
 *     rc = st_load(f, "vision_model.post_layernorm.weight", 1, shape + 1, &w, err);
 *     st_close(f);
 */
#ifndef ENCODE_ST_H
#define ENCODE_ST_H

#include <stddef.h>
#include <stdint.h>

#include <sieve/plugin.h>

#define ST_HEADER_MAX (100u * 1024u * 1024u)
#define ST_MAX_DIMS 8

struct st_tensor {
    char *name;
    char dtype[8]; /* as written in the header ("F32", "I64", ...) */
    int esize;     /* element size in bytes, 0 for a dtype this reader does not know */
    uint32_t ndim;
    int64_t shape[ST_MAX_DIMS];
    uint64_t begin; /* byte range inside the data block */
    uint64_t end;
};

struct st_file {
    char *path;
    const unsigned char *map;
    size_t size;
    const unsigned char *data; /* first byte after the header */
    uint64_t data_size;
    size_t n;
    struct st_tensor *t;
};

/*
 * Maps and validates the safetensors file at `path`.
 * Returns: 0 and the file in *out.
 * Errors: SIEVE_EBADINPUT (cannot open, malformed), SIEVE_ENOMEM.
 * Ownership: the caller closes *out with st_close.
 */
int st_open(const char *path, struct st_file **out, struct sieve_errbuf *err);

/* Unmaps and frees a file. Accepts NULL. */
void st_close(struct st_file *f);

/* The tensor called `name`, or NULL. */
const struct st_tensor *st_find(const struct st_file *f, const char *name);

/*
 * Copies tensor `name` to a new F32 array after checking that it has `ndim` dimensions and
 * that each dims[i] matches (a negative dims[i] accepts any size and receives the actual one).
 * Errors: SIEVE_EBADINPUT naming the file and tensor (missing, wrong rank or shape, dtype not
 * F32/F16/BF16), SIEVE_ENOMEM.
 * Ownership: the caller frees *out with free().
 */
int st_load(const struct st_file *f, const char *name, uint32_t ndim, int64_t *dims, float **out,
            struct sieve_errbuf *err);

/*
 * st_load of the tensor `<prefix><name>` whose first dimensions must be a, b, c (only the first
 * `ndim` of them are used; ndim <= 3). For checkpoints that nest a model under a prefix.
 */
int st_load_at(const struct st_file *f, const char *prefix, const char *name, uint32_t ndim,
               int64_t a, int64_t b, int64_t c, float **out, struct sieve_errbuf *err);

/*
 * Finds the prefix a model is nested under: the text before `suffix` in the first tensor name
 * (in file order) that ends in `suffix`, where that text is empty or ends in '.'.
 * Returns: 0 with the prefix copied to `prefix` (cap bytes), or -1 when no name qualifies.
 */
int st_find_prefix(const struct st_file *f, const char *suffix, char *prefix, size_t cap);

/* Converts one IEEE half (F16) or bfloat16 value to float; exact for every input. */
float st_f16_to_f32(uint16_t h);
float st_bf16_to_f32(uint16_t h);

#endif /* ENCODE_ST_H */
