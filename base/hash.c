/*
 * hash.c - SHA-256 through OpenSSL's EVP interface.
 */
#include "base/hash.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/err.h"

int
hash_ctx_init(struct hash_ctx *h)
{
    h->md = EVP_MD_CTX_new();
    if (!h->md)
        return SIEVE_ENOMEM;
    if (EVP_DigestInit_ex(h->md, EVP_sha256(), NULL) != 1) {
        hash_ctx_release(h);
        return SIEVE_EINTERNAL;
    }
    return 0;
}

int
hash_ctx_update(struct hash_ctx *h, const void *p, size_t n)
{
    if (n && EVP_DigestUpdate(h->md, p, n) != 1)
        return SIEVE_EINTERNAL;
    return 0;
}

int
hash_ctx_field(struct hash_ctx *h, const void *p, size_t n)
{
    unsigned char len[8];
    for (int i = 0; i < 8; i++)
        len[i] = (unsigned char)((uint64_t)n >> (8 * i));
    if (hash_ctx_update(h, len, sizeof len) < 0)
        return SIEVE_EINTERNAL;
    return hash_ctx_update(h, p, n);
}

int
hash_ctx_final(struct hash_ctx *h, uint8_t out[HASH_LEN])
{
    unsigned int n = 0;
    int ok = EVP_DigestFinal_ex(h->md, out, &n) == 1 && n == HASH_LEN;
    hash_ctx_release(h);
    return ok ? 0 : SIEVE_EINTERNAL;
}

void
hash_ctx_release(struct hash_ctx *h)
{
    EVP_MD_CTX_free(h->md);
    h->md = NULL;
}

int
hash_buffer(const void *p, size_t n, uint8_t out[HASH_LEN])
{
    struct hash_ctx h;
    int rc = hash_ctx_init(&h);
    if (rc < 0)
        return rc;
    rc = hash_ctx_update(&h, p, n);
    if (rc < 0) {
        hash_ctx_release(&h);
        return rc;
    }
    return hash_ctx_final(&h, out);
}

int
hash_file(const char *path, uint8_t out[HASH_LEN], struct sieve_errbuf *err)
{
    enum { CHUNK = 1 << 20 };
    struct hash_ctx h;
    unsigned char *buf;
    int fd, rc;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        return sieve_errbuf_set(err, sieve_error_from_errno(e), "hash '%s': %s", path,
                                e == ENOENT ? "no such file or directory" : strerror(e));
    }
    buf = malloc(CHUNK);
    rc = buf ? hash_ctx_init(&h) : SIEVE_ENOMEM;
    if (rc < 0) {
        free(buf);
        close(fd);
        return sieve_errbuf_set(err, rc, "hash '%s': %s", path, sieve_strerror(rc));
    }
    for (;;) {
        ssize_t r = read(fd, buf, CHUNK);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = sieve_errbuf_set(err, SIEVE_EIO, "hash '%s': %s", path, strerror(errno));
            break;
        }
        if (r == 0)
            break;
        rc = hash_ctx_update(&h, buf, (size_t)r);
        if (rc < 0) {
            sieve_errbuf_set(err, rc, "hash '%s': digest failed", path);
            break;
        }
    }
    free(buf);
    close(fd);
    if (rc < 0) {
        hash_ctx_release(&h);
        return rc;
    }
    rc = hash_ctx_final(&h, out);
    if (rc < 0)
        return sieve_errbuf_set(err, rc, "hash '%s': digest failed", path);
    return 0;
}

void
hash_hex(const uint8_t digest[HASH_LEN], char hex[HASH_HEX_LEN])
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < HASH_LEN; i++) {
        hex[2 * i] = digits[digest[i] >> 4];
        hex[2 * i + 1] = digits[digest[i] & 15];
    }
    hex[2 * HASH_LEN] = '\0';
}
