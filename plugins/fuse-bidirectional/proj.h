/*
 * proj.h - the projection that brings the narrower modality to the wider one's width before
 * fusion: a fixed seeded Gaussian matrix, or a matrix read from a safetensors file.
 *
 * A matrix maps x [in] to y [out] as y = W x with W row-major [out, in] (the torch Linear
 * weight layout). The seeded matrix has entries N(0, 1/in) from splitmix64 + Box-Muller, so
 * it preserves norms on average and is the same on every machine for one seed.
 *
 * The file reader is a small, strict safetensors reader (u64 header length, JSON header,
 * data): it accepts one F32, F16, BF16 or F64 tensor of shape [out, in] (or [in, out], which
 * it transposes) under the given name and checks every length against the file size.
 *
 * Usage:
 *     float *w;
 *     proj_seeded(1280, 896, 7, &w);                     // [1280, 896]
 *     proj_load("proj.safetensors", "proj", 1280, 896, &w, err);
 *     free(w);
 */
#ifndef SIEVE_FUSE_PROJ_H
#define SIEVE_FUSE_PROJ_H

#include <stdint.h>

#include <sieve/plugin.h>

/*
 * A seeded [out, in] Gaussian matrix.
 * Returns: 0 or SIEVE_ENOMEM. Ownership: the caller frees *w.
 */
int proj_seeded(int64_t out, int64_t in, uint64_t seed, float **w);

/*
 * Reads tensor `name` of the safetensors file `path` as an [out, in] F32 matrix.
 * Returns: 0. Errors: SIEVE_ENOENT (no file), SIEVE_EIO, SIEVE_EFORMAT (malformed file, no
 * such tensor, wrong shape or dtype), SIEVE_ENOMEM. Ownership: the caller frees *w.
 */
int proj_load(const char *path, const char *name, int64_t out, int64_t in, float **w,
              struct sieve_errbuf *err);

#endif
