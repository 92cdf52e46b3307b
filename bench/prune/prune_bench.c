/*
 * prune_bench.c - times one prune-visual or prune-audio method on raw inputs written by
 * bench/prune/run.py, which runs the numpy reference on the same inputs and prints both.
 *
 *   prune_bench vision DIR T H W C METHOD REPS [key=value ...]
 *   prune_bench audio DIR N C METHOD REPS [key=value ...]
 *
 * DIR holds x.f32 (tokens), imp.f32 (importance) and, for vision, ftype.u8 and motion.f32
 * ([2T, H, W]). The driver prints one line `ms t1 t2 ...` (wall time of each repetition) and
 * writes the kept cells of the last repetition
 * to DIR/rows.i64 (flat cell indices in output order) so run.py can check that C and numpy
 * agree. A vision repetition does what the plugin does: the method writes its rows straight
 * into a `tokens` tensor of a host bundle (bundle_tensor_new, as the host's tensor_new) and
 * index, mask and importance are copied into tensors of that bundle; an audio repetition
 * selects and gathers the kept rows into a `tokens` tensor the same way. Keys: keep, window, faithful, seed, dominant_ratio, motion_threshold,
 * match_threshold, segments, alpha (defaults as in the plugins); for audio `gather=0` times
 * the selection alone, without copying the kept rows.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "base/bundle.h"

/* Both plugins name their header methods.h; the paths say which is which. */
#include "../../plugins/prune-audio/methods.h"
#include "../../plugins/prune-visual/methods.h"

static void *
load(const char *dir, const char *name, size_t bytes)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "prune_bench: open '%s' failed\n", path);
        exit(2);
    }
    /* Inputs sit on huge pages, as numpy's do (it asks for them on every array >= 4 MB) and
     * as the host's tensors >= 4 MB do, so both sides read through the same TLB reach. */
    const size_t huge = (size_t)2 << 20;
    size_t size = (bytes + huge - 1) / huge * huge;
    void *buf = aligned_alloc(huge, size ? size : huge);
    if (buf)
        madvise(buf, size, MADV_HUGEPAGE);
    if (!buf || fread(buf, 1, bytes, f) != bytes) {
        fprintf(stderr, "prune_bench: read '%s': expected %zu bytes\n", path, bytes);
        exit(2);
    }
    fclose(f);
    return buf;
}

static double
param(int argc, char **argv, int first, const char *key, double def)
{
    size_t len = strlen(key);
    for (int i = first; i < argc; i++)
        if (strncmp(argv[i], key, len) == 0 && argv[i][len] == '=')
            return strtod(argv[i] + len + 1, NULL);
    return def;
}

static double
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void
save_rows(const char *dir, const int64_t *rows, size_t k)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/rows.i64", dir);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(rows, sizeof *rows, k, f) != k) {
        fprintf(stderr, "prune_bench: write '%s' failed\n", path);
        exit(2);
    }
    fclose(f);
}

/* The plugin's alloc_tokens: the rows live in the output bundle's `tokens` tensor. */
static int
alloc_tokens(void *ctx, size_t k, size_t width, float **rows)
{
    struct sieve_tensor *t;
    int64_t shape[2] = {(int64_t)k, (int64_t)width};
    int rc = bundle_tensor_new(ctx, "tokens", SIEVE_DTYPE_F32, 2, shape, &t, NULL);
    if (rc < 0)
        return rc;
    *rows = t->data;
    return 0;
}

/* Copies a result's small outputs into the bundle, as the plugin's write_outputs does. */
static int
add_outputs(struct bundle *b, const struct pv_out *o, int64_t t, int64_t h, int64_t w)
{
    struct sieve_tensor *d;
    int64_t k = (int64_t)o->k, ishape[2] = {k, 3}, mshape[3] = {t, h, w};
    if (bundle_tensor_new(b, "index", SIEVE_DTYPE_I32, 2, ishape, &d, NULL) < 0)
        return -1;
    memcpy(d->data, o->index, o->k * 3 * sizeof(int32_t));
    if (bundle_tensor_new(b, "mask", SIEVE_DTYPE_BOOL, 3, mshape, &d, NULL) < 0)
        return -1;
    memcpy(d->data, o->mask, o->n);
    if (bundle_tensor_new(b, "importance", SIEVE_DTYPE_F32, 1, &k, &d, NULL) < 0)
        return -1;
    memcpy(d->data, o->importance, o->k * sizeof(float));
    return 0;
}

static int
run_vision(int argc, char **argv)
{
    const char *dir = argv[2], *method = argv[7];
    int64_t t = atoll(argv[3]), h = atoll(argv[4]), w = atoll(argv[5]), c = atoll(argv[6]);
    int reps = atoi(argv[8]);
    size_t n = (size_t)(t * h * w);
    float *x = load(dir, "x.f32", n * (size_t)c * sizeof(float));
    float *imp = load(dir, "imp.f32", n * sizeof(float));
    uint8_t *ftype = load(dir, "ftype.u8", (size_t)(2 * t));
    float *motion = load(dir, "motion.f32", (size_t)(2 * t) * (size_t)(h * w) * sizeof(float));
    double keep = param(argc, argv, 9, "keep", 0.5);
    struct bundle *b = NULL;
    struct pv_in in = {
        x, imp, t, h, w, c, alloc_tokens, NULL, (int)param(argc, argv, 9, "threads", 1)};
    struct pv_out o;
    memset(&o, 0, sizeof o);
    uint8_t *key = malloc((size_t)t);
    float *cm = malloc(n * sizeof *cm);
    printf("ms");
    for (int r = 0; r < reps; r++) {
        /* The previous output is released outside the timing, as the host does later. */
        pv_out_release(&o);
        bundle_free(b);
        if (!(b = bundle_new()))
            return 1;
        in.alloc_ctx = b;
        double t0 = now_ms();
        int rc;
        if (strcmp(method, "dycoke") == 0)
            rc = pv_dycoke(&in, keep, (int64_t)param(argc, argv, 9, "window", 4),
                           (int)param(argc, argv, 9, "faithful", 0), &o);
        else if (strcmp(method, "uniform") == 0)
            rc = pv_uniform(&in, keep, &o);
        else if (strcmp(method, "pixel-shuffle") == 0)
            rc = pv_pixel_shuffle(&in, &o);
        else if (strcmp(method, "random") == 0)
            rc = pv_random(&in, keep, (uint64_t)param(argc, argv, 9, "seed", 0), &o);
        else if (strcmp(method, "topk") == 0)
            rc = pv_topk(&in, keep, &o);
        else if (strcmp(method, "visionzip") == 0)
            rc = pv_visionzip(&in, keep, param(argc, argv, 9, "dominant_ratio", 0.84375), &o);
        else if (strcmp(method, "codec") == 0) {
            /* Mapping decode's frames onto groups is part of the method's cost. */
            pv_codec_groups(ftype, motion, 2 * t, h, w, t, h, w, key, cm);
            struct pv_motion mo = {key, cm};
            rc = pv_codec(&in, &mo, keep, param(argc, argv, 9, "motion_threshold", 0.5),
                          param(argc, argv, 9, "match_threshold", 0.9), &o);
        } else {
            fprintf(stderr, "prune_bench: unknown vision method '%s'\n", method);
            return 2;
        }
        if (rc >= 0 && add_outputs(b, &o, t, h, w) < 0)
            rc = -1;
        double t1 = now_ms();
        if (rc < 0) {
            fprintf(stderr, "prune_bench: %s failed (%d)\n", method, rc);
            return 1;
        }
        printf(" %.4f", t1 - t0);
    }
    printf("\n");
    int64_t *rows = malloc((o.k ? o.k : 1) * sizeof *rows);
    for (size_t i = 0; i < o.k; i++)
        rows[i] = ((int64_t)o.index[3 * i] * h + o.index[3 * i + 1]) * w + o.index[3 * i + 2];
    save_rows(dir, rows, o.k);
    free(rows);
    pv_out_release(&o);
    bundle_free(b);
    free(cm);
    free(key);
    free(motion);
    free(ftype);
    free(imp);
    free(x);
    return 0;
}

static int
run_audio(int argc, char **argv)
{
    const char *dir = argv[2], *method = argv[5];
    size_t n = (size_t)atoll(argv[3]), c = (size_t)atoll(argv[4]);
    int reps = atoi(argv[6]);
    float *x = load(dir, "x.f32", n * c * sizeof(float));
    float *imp = load(dir, "imp.f32", n * sizeof(float));
    double keep = param(argc, argv, 7, "keep", 0.5);
    int gather = (int)param(argc, argv, 7, "gather", 1);
    uint8_t *mask = malloc(n);
    int32_t *idx = malloc(n * sizeof *idx);
    struct bundle *b = NULL;
    printf("ms");
    for (int r = 0; r < reps; r++) {
        memset(mask, 0, n);
        bundle_free(b);
        if (!(b = bundle_new()))
            return 1;
        double t0 = now_ms();
        int k;
        if (strcmp(method, "segment-topk") == 0)
            k = pa_segment_topk(imp, n, keep, (int64_t)param(argc, argv, 7, "segments", 10), mask);
        else if (strcmp(method, "topk") == 0)
            k = pa_topk(imp, n, keep, mask);
        else if (strcmp(method, "threshold") == 0)
            k = pa_threshold(imp, n, param(argc, argv, 7, "alpha", 1.0), mask);
        else if (strcmp(method, "uniform") == 0)
            k = pa_uniform(n, keep, mask);
        else if (strcmp(method, "random") == 0)
            k = pa_random(n, keep, (uint64_t)param(argc, argv, 7, "seed", 0), mask);
        else {
            fprintf(stderr, "prune_bench: unknown audio method '%s'\n", method);
            return 2;
        }
        if (k >= 0 && gather) {
            /* As the plugin does: tensors sized by the count, then one pass fills both. */
            struct sieve_tensor *tok, *ix;
            int64_t kk = k, shape[2] = {kk, (int64_t)c};
            if (bundle_tensor_new(b, "tokens", SIEVE_DTYPE_F32, 2, shape, &tok, NULL) < 0 ||
                bundle_tensor_new(b, "index", SIEVE_DTYPE_I32, 1, &kk, &ix, NULL) < 0)
                k = -1;
            else
                pa_gather(x, c, mask, n, tok->data, ix->data);
        }
        double t1 = now_ms();
        if (k < 0) {
            fprintf(stderr, "prune_bench: %s failed (%d)\n", method, k);
            return 1;
        }
        printf(" %.4f", t1 - t0);
    }
    printf("\n");
    size_t k = pa_gather(x, c, mask, n, NULL, idx);
    int64_t *rows = malloc((k ? k : 1) * sizeof *rows);
    for (size_t i = 0; i < k; i++)
        rows[i] = idx[i];
    save_rows(dir, rows, k);
    free(rows);
    bundle_free(b);
    free(idx);
    free(mask);
    free(imp);
    free(x);
    return 0;
}

int
main(int argc, char **argv)
{
    if (argc >= 9 && strcmp(argv[1], "vision") == 0)
        return run_vision(argc, argv);
    if (argc >= 7 && strcmp(argv[1], "audio") == 0)
        return run_audio(argc, argv);
    fprintf(stderr, "usage: prune_bench vision DIR T H W C METHOD REPS [key=value ...]\n"
                    "       prune_bench audio DIR N C METHOD REPS [key=value ...]\n");
    return 2;
}
