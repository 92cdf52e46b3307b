/*
 * token.c - the bearer token of the write endpoints: `<store>/serve.token`, 64 hex digits,
 * mode 0600, made by `serve` on first start and read by the CLI (see web.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/err.h"
#include "base/fdio.h"
#include "web/web.h"

static int
token_path(const char *store_dir, char *path, size_t len, struct sieve_errbuf *err)
{
    if ((size_t)snprintf(path, len, "%s/serve.token", store_dir) >= len)
        return sieve_errbuf_set(err, SIEVE_EINVAL, "store path too long");
    return 0;
}

int
web_token_read(const char *store_dir, char *tok, size_t len, struct sieve_errbuf *err)
{
    char path[4096], buf[WEB_TOKEN_LEN + 2];
    struct stat sb;
    ssize_t got;
    size_t n;
    int fd, rc;

    if (len < WEB_TOKEN_LEN)
        return sieve_errbuf_set(err, SIEVE_EINVAL, "token buffer too short");
    tok[0] = '\0';
    if ((rc = token_path(store_dir, path, sizeof path, err)) < 0)
        return rc;
    if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
        return sieve_errbuf_set(err, sieve_error_from_errno(errno), "open '%s': %s", path,
                                strerror(errno));
    if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) || (sb.st_mode & 077)) {
        close(fd);
        return sieve_errbuf_set(err, SIEVE_EFORMAT,
                                "'%s' must be a regular file readable by its owner only (0600)",
                                path);
    }
    got = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (got < 0)
        return sieve_errbuf_set(err, SIEVE_EIO, "read '%s': %s", path, strerror(errno));
    n = (size_t)got;
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        n--;
    buf[n] = '\0';
    if (n != WEB_TOKEN_LEN - 1 || strspn(buf, "0123456789abcdef") != n)
        return sieve_errbuf_set(err, SIEVE_EFORMAT, "'%s' does not hold 64 hex digits", path);
    memcpy(tok, buf, WEB_TOKEN_LEN);
    return 0;
}

/* Writes a new token to a private temporary file and links it into place, so a second
 * process racing us either finds our complete file or keeps its own. */
static int
token_create(const char *path, struct sieve_errbuf *err)
{
    unsigned char raw[32];
    char hex[WEB_TOKEN_LEN + 1], tmp[4200];
    int fd, rc = 0;

    if ((fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC)) < 0)
        return sieve_errbuf_set(err, SIEVE_EIO, "open '/dev/urandom': %s", strerror(errno));
    ssize_t got = read(fd, raw, sizeof raw);
    close(fd);
    if (got != (ssize_t)sizeof raw)
        return sieve_errbuf_set(err, SIEVE_EIO, "read '/dev/urandom': short read");
    for (size_t i = 0; i < sizeof raw; i++)
        snprintf(hex + 2 * i, 3, "%02x", raw[i]);
    hex[64] = '\n';
    hex[65] = '\0';
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600)) < 0)
        return sieve_errbuf_set(err, SIEVE_EIO, "create '%s': %s", tmp, strerror(errno));
    if (fchmod(fd, 0600) < 0 || fd_write_all(fd, hex, 65) < 0 || fsync(fd) < 0)
        rc = sieve_errbuf_set(err, SIEVE_EIO, "write '%s': %s", tmp, strerror(errno));
    close(fd);
    if (rc == 0 && link(tmp, path) < 0 && errno != EEXIST)
        rc = sieve_errbuf_set(err, SIEVE_EIO, "link '%s': %s", path, strerror(errno));
    unlink(tmp);
    return rc;
}

int
web_token_ensure(const char *store_dir, char *tok, size_t len, struct sieve_errbuf *err)
{
    char path[4096];
    int rc = web_token_read(store_dir, tok, len, err);
    if (rc != SIEVE_ENOENT)
        return rc;
    if ((rc = token_path(store_dir, path, sizeof path, err)) < 0 ||
        (rc = token_create(path, err)) < 0)
        return rc;
    return web_token_read(store_dir, tok, len, err);
}
