/*
 * bundle_copy.c - test helper: `bundle_copy IN OUT` reads IN with bundle_read, copies every
 * tensor and metadata entry into a new bundle and writes it with bundle_write. The numpy
 * check (tests/reference/check_roundtrip.py) drives it to prove that files from a foreign
 * writer open in sieve and that sieve's files open in a foreign reader.
 */
#include <stdio.h>

#include "base/bundle.h"

int
main(int argc, char **argv)
{
    struct sieve_errbuf err = {{0}};
    struct bundle *in = NULL, *out = NULL;
    int rc = 1;

    if (argc != 3) {
        fprintf(stderr, "usage: bundle_copy IN OUT\n");
        return 2;
    }
    if (bundle_read(argv[1], &in, &err) < 0)
        goto fail;
    out = bundle_new();
    if (!out)
        goto fail;
    for (size_t i = 0; i < bundle_tensor_count(in); i++)
        if (bundle_tensor_add_copy(out, NULL, bundle_tensor_at(in, i), &err) < 0)
            goto fail;
    for (size_t i = 0; i < bundle_meta_count(in); i++) {
        const char *k, *v;
        bundle_meta_at(in, i, &k, &v);
        if (bundle_meta_set(out, k, v, &err) < 0)
            goto fail;
    }
    if (bundle_write(out, argv[2], &err) < 0)
        goto fail;
    rc = 0;
fail:
    if (rc)
        fprintf(stderr, "bundle_copy: %s\n", err.msg);
    bundle_free(out);
    bundle_free(in);
    return rc;
}
