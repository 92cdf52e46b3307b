/*
 * st_file.h - safetensors files for the python plugin, through the host services only.
 *
 * The bridge hands Python file paths and takes files back, so it needs the format without
 * the daemon's bundle code (a plugin links nothing of the daemon). Layout (docs/bundles.md):
 *
 *     u64 little-endian N | N bytes of JSON header | data
 *     header: {"__metadata__": {str: str}, name: {"dtype", "shape", "data_offsets"}, ...}
 *
 * The reader treats the file as untrusted (a script wrote it): header length, dtype names,
 * shapes (at most SIEVE_MAX_DIMS, no negative size, no overflow), offsets inside the data
 * section and sized exactly for dtype x shape, and unique names are all checked before a
 * byte is copied, and each failure names the file and the tensor.
 */
#ifndef SIEVE_PLUGINS_PYTHON_ST_FILE_H
#define SIEVE_PLUGINS_PYTHON_ST_FILE_H

#include <sieve/plugin.h>

/*
 * Writes bundle b to `path` (tensors in bundle order, metadata in insertion order).
 * Errors: SIEVE_EIO (message names the file), SIEVE_ENOMEM.
 */
int st_file_write(const struct sieve_host *h, const struct sieve_bundle *b, const char *path,
                  struct sieve_errbuf *err);

/*
 * Reads the file at `path`, which Python wrote for output `port`, into the empty bundle
 * `out`: every tensor through tensor_new, every metadata entry through meta_set.
 * Errors: SIEVE_EINTERNAL for a missing or malformed file (a bug in the script or the
 * helper, not bad input), SIEVE_ENOMEM.
 */
int st_file_read(const struct sieve_host *h, struct sieve_bundle *out, const char *path,
                 const char *port, struct sieve_errbuf *err);

#endif
