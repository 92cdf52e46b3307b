/*
 * cmd_inspect.c - `sieve inspect FILE [--json]`: what a bundle file holds.
 *
 * Prints every tensor (name, dtype, shape, bytes, and min/max/mean/std computed in double
 * over the non-NaN elements, F16/BF16 widened exactly) and then the metadata. With --json it
 * prints one object: {"file", "tensors": [{"name", "dtype", "shape", "bytes", "min", "max",
 * "mean", "std", "nan"}], "metadata": {...}}; statistics are null for empty tensors.
 * A file that fails validation gives one line on stderr naming it and the problem (exit 1);
 * a missing file exits 3.
 */
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "base/bundle.h"
#include "base/half.h"

struct stats {
    uint64_t count, nan;
    double min, max, mean, m2;
};

static double
value_at(const struct sieve_tensor *t, uint64_t i)
{
    const void *p = t->data;
    switch (t->dtype) {
    case SIEVE_DTYPE_F32:
        return ((const float *)p)[i];
    case SIEVE_DTYPE_F16:
        return half_f16_to_f32(((const uint16_t *)p)[i]);
    case SIEVE_DTYPE_BF16:
        return half_bf16_to_f32(((const uint16_t *)p)[i]);
    case SIEVE_DTYPE_F64:
        return ((const double *)p)[i];
    case SIEVE_DTYPE_I64:
        return (double)((const int64_t *)p)[i];
    case SIEVE_DTYPE_I32:
        return ((const int32_t *)p)[i];
    default: /* U8 and BOOL */
        return ((const uint8_t *)p)[i];
    }
}

/* Welford's update keeps the variance accurate for large tensors with a big mean. */
static void
stats_compute(const struct sieve_tensor *t, struct stats *s)
{
    uint64_t n = sieve_tensor_numel(t);

    memset(s, 0, sizeof *s);
    if (!t->nbytes)
        return;
    for (uint64_t i = 0; i < n; i++) {
        double v = value_at(t, i), d;
        if (isnan(v)) {
            s->nan++;
            continue;
        }
        if (!s->count || v < s->min)
            s->min = v;
        if (!s->count || v > s->max)
            s->max = v;
        s->count++;
        d = v - s->mean;
        s->mean += d / (double)s->count;
        s->m2 += d * (v - s->mean);
    }
}

static double
stats_std(const struct stats *s)
{
    return s->count ? sqrt(s->m2 / (double)s->count) : 0;
}

static void
shape_text(const struct sieve_tensor *t, char *buf, size_t len)
{
    size_t o = (size_t)snprintf(buf, len, "[");
    for (uint32_t d = 0; d < t->ndim && o < len; d++)
        o += (size_t)snprintf(buf + o, len - o, "%s%lld", d ? ", " : "", (long long)t->shape[d]);
    if (o < len)
        snprintf(buf + o, len - o, "]");
}

static void
print_text(const char *path, const struct bundle *b)
{
    size_t n = bundle_tensor_count(b), wname = 4, wshape = 5;
    char shape[160];

    printf("%s: %zu tensor%s, %zu metadata entr%s\n", path, n, n == 1 ? "" : "s",
           bundle_meta_count(b), bundle_meta_count(b) == 1 ? "y" : "ies");
    for (size_t i = 0; i < n; i++) {
        const struct sieve_tensor *t = bundle_tensor_at(b, i);
        shape_text(t, shape, sizeof shape);
        if (strlen(t->name) > wname)
            wname = strlen(t->name);
        if (strlen(shape) > wshape)
            wshape = strlen(shape);
    }
    if (n)
        printf("  %-*s  %-5s  %-*s  %12s  %s\n", (int)wname, "name", "dtype", (int)wshape, "shape",
               "bytes", "min / max / mean / std");
    for (size_t i = 0; i < n; i++) {
        const struct sieve_tensor *t = bundle_tensor_at(b, i);
        struct stats s;
        shape_text(t, shape, sizeof shape);
        stats_compute(t, &s);
        printf("  %-*s  %-5s  %-*s  %12llu  ", (int)wname, t->name, bundle_dtype_name(t->dtype),
               (int)wshape, shape, (unsigned long long)t->nbytes);
        if (s.count)
            printf("%.6g / %.6g / %.6g / %.6g", s.min, s.max, s.mean, stats_std(&s));
        else
            printf("-");
        if (s.nan)
            printf("  (%llu NaN)", (unsigned long long)s.nan);
        printf("\n");
    }
    if (bundle_meta_count(b))
        printf("metadata:\n");
    for (size_t i = 0; i < bundle_meta_count(b); i++) {
        const char *k, *v;
        bundle_meta_at(b, i, &k, &v);
        printf("  %s = %s\n", k, v);
    }
}

/* A JSON number, or null where JSON has none (empty tensor, infinities). */
static json_t *
num(int have, double v)
{
    return have && isfinite(v) ? json_real(v) : json_null();
}

static int
print_json(const char *path, const struct bundle *b)
{
    json_t *root = json_object(), *tensors = json_array(), *meta = json_object();

    json_object_set_new(root, "file", json_string(path));
    json_object_set_new(root, "tensors", tensors);
    json_object_set_new(root, "metadata", meta);
    for (size_t i = 0; i < bundle_tensor_count(b); i++) {
        const struct sieve_tensor *t = bundle_tensor_at(b, i);
        json_t *o = json_object(), *shape = json_array();
        struct stats s;
        stats_compute(t, &s);
        for (uint32_t d = 0; d < t->ndim; d++)
            json_array_append_new(shape, json_integer(t->shape[d]));
        json_object_set_new(o, "name", json_string(t->name));
        json_object_set_new(o, "dtype", json_string(bundle_dtype_name(t->dtype)));
        json_object_set_new(o, "shape", shape);
        json_object_set_new(o, "bytes", json_integer((json_int_t)t->nbytes));
        json_object_set_new(o, "min", num(s.count > 0, s.min));
        json_object_set_new(o, "max", num(s.count > 0, s.max));
        json_object_set_new(o, "mean", num(s.count > 0, s.mean));
        json_object_set_new(o, "std", num(s.count > 0, stats_std(&s)));
        json_object_set_new(o, "nan", json_integer((json_int_t)s.nan));
        json_array_append_new(tensors, o);
    }
    for (size_t i = 0; i < bundle_meta_count(b); i++) {
        const char *k, *v;
        bundle_meta_at(b, i, &k, &v);
        json_object_set_new(meta, k, json_string(v));
    }
    return cli_json_print(root, JSON_INDENT(2) | JSON_REAL_PRECISION(17));
}

static void
usage(FILE *f)
{
    fprintf(f, "usage: sieve inspect FILE [--json]\n\n"
               "Prints the tensors (name, dtype, shape, bytes, min/max/mean/std) and metadata\n"
               "of a bundle (safetensors) file.\n\n"
               "  --json   print one JSON object instead of text\n");
}

int
cmd_inspect(int argc, char **argv)
{
    struct sieve_errbuf err = {{0}};
    struct bundle *b;
    int json = 0, rc;

    if ((rc = cli_parse_opts(argc, argv, usage, NULL, &json)) >= 0)
        return rc;
    if (argc - optind != 1) {
        cli_error("inspect", "expected one FILE, got %d", argc - optind);
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    rc = bundle_read(argv[optind], &b, &err);
    if (rc < 0) {
        cli_error("inspect", "%s", err.msg);
        return rc == SIEVE_ENOENT ? CLI_EXIT_NOTFOUND : CLI_EXIT_FAIL;
    }
    if (json)
        rc = print_json(argv[optind], b);
    else
        print_text(argv[optind], b);
    bundle_free(b);
    if (rc < 0) {
        cli_error("inspect", "out of memory");
        return CLI_EXIT_FAIL;
    }
    return CLI_EXIT_OK;
}
