/*
 * echo.h - the shared body of the test plugins: copy every tensor and metadata entry of the
 * input bundle (if any) to the output bundle, through the host services only, exactly as a
 * real plugin would. Test plugins include it to stay one screen long each.
 */
#ifndef SIEVE_TEST_ECHO_H
#define SIEVE_TEST_ECHO_H

#include <string.h>

#include <sieve/plugin.h>

/* Copies `in` (may be NULL: then a one-element F32 tensor "x" = 1 is produced) into `out`. */
static inline int
echo_copy(const struct sieve_host *h, const struct sieve_bundle *in, struct sieve_bundle *out,
          struct sieve_errbuf *err)
{
    struct sieve_tensor *t;
    int rc;

    if (!in) {
        int64_t one = 1;
        if ((rc = h->tensor_new(out, "x", SIEVE_DTYPE_F32, 1, &one, &t)) < 0)
            return sieve_errbuf_set(err, rc, "allocate 'x'");
        ((float *)t->data)[0] = 1.0f;
        return 0;
    }
    for (size_t i = 0; i < h->tensor_count(in); i++) {
        const struct sieve_tensor *s = h->tensor_at(in, i);
        if ((rc = h->tensor_new(out, s->name, s->dtype, s->ndim, s->shape, &t)) < 0)
            return sieve_errbuf_set(err, rc, "allocate '%s'", s->name);
        if (s->nbytes)
            memcpy(t->data, s->data, s->nbytes);
    }
    for (size_t i = 0; i < h->meta_count(in); i++) {
        const char *k, *v;
        if (h->meta_at(in, i, &k, &v) == 0 && (rc = h->meta_set(out, k, v)) < 0)
            return sieve_errbuf_set(err, rc, "set metadata '%s'", k);
    }
    return 0;
}

#endif
