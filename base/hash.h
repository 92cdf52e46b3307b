/*
 * hash.h - SHA-256 (OpenSSL EVP) of buffers, of streamed input, and of files.
 *
 * Cache keys, artifact names and dataset leaves are all SHA-256 digests, so the whole daemon
 * uses this one module. Digests are 32 raw bytes; hash_hex gives the 64-character lower-case
 * form used in file names and the store.
 *
 * Usage:
 *     struct hash_ctx h;
 *     uint8_t d[HASH_LEN];
 *     char hex[HASH_HEX_LEN];
 *     hash_ctx_init(&h);
 *     hash_ctx_field(&h, "topk", 4);      // length-prefixed, so fields never run together
 *     hash_ctx_final(&h, d);              // also releases the context
 *     hash_hex(d, hex);
 */
#ifndef SIEVE_BASE_HASH_H
#define SIEVE_BASE_HASH_H

#include <stddef.h>
#include <stdint.h>

#include <sieve/plugin.h>

#define HASH_LEN 32
#define HASH_HEX_LEN 65 /* 64 hex digits and a NUL */

struct evp_md_ctx_st;

/* An incremental SHA-256. Invariant: `md` is live between _init and _final/_release. */
struct hash_ctx {
    struct evp_md_ctx_st *md;
};

/* Starts a digest. Returns 0, or SIEVE_ENOMEM/SIEVE_EINTERNAL when OpenSSL fails. */
int hash_ctx_init(struct hash_ctx *h);
/* Feeds `n` bytes. Returns 0 or SIEVE_EINTERNAL. */
int hash_ctx_update(struct hash_ctx *h, const void *p, size_t n);
/*
 * Feeds one field as an 8-byte little-endian length followed by its bytes, so that ("ab","c")
 * and ("a","bc") hash differently. Use it for every part of a composite key.
 */
int hash_ctx_field(struct hash_ctx *h, const void *p, size_t n);
/* Writes the digest and releases the context. Returns 0 or SIEVE_EINTERNAL. */
int hash_ctx_final(struct hash_ctx *h, uint8_t out[HASH_LEN]);
/* Releases a context without finishing it (error paths). Safe after _final. */
void hash_ctx_release(struct hash_ctx *h);

/* The digest of one buffer. Returns 0 or a negative code. */
int hash_buffer(const void *p, size_t n, uint8_t out[HASH_LEN]);

/*
 * The digest of a file's content, read in 1 MiB chunks so memory stays flat.
 * Errors: SIEVE_ENOENT, SIEVE_EIO (message names the file), SIEVE_ENOMEM.
 */
int hash_file(const char *path, uint8_t out[HASH_LEN], struct sieve_errbuf *err);

/* Writes the lower-case hex form of a digest and a NUL into `hex`. */
void hash_hex(const uint8_t digest[HASH_LEN], char hex[HASH_HEX_LEN]);

#endif
