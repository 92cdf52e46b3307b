/*
 * bench_encode.c - times the encode plugin's forward pass the way a worker runs it: dlopen
 * build/plugins/encode.so, init once (weights load), then `process` REPS times on one input
 * bundle, reusing the state. Prints one JSON line with the median and all times, plus this
 * machine's OpenBLAS sgemm peak measured on square products at the same thread count.
 *
 * Usage: bench_encode PLUGIN.so INPUT.safetensors REPS THREADS [param value]...
 *   REPS 0: interleaved mode, one forward per "run" line on stdin ("peak" measures sgemm).
 *   INPUT holds `frames` (U8) + `frame_pts` (F64) or `mel` (F32); params as in a pipeline.
 * Driven by bench/encode/run.py, which runs PyTorch on the same weights and input.
 */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "plugins/encode/st.h"
#include "tests/support/mock_host.h"

static double
now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int
cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double
median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Median GFLOP/s of n x n x n sgemm, the best of a few sizes. */
static double
sgemm_peak(int threads)
{
    openblas_set_num_threads(threads);
    double best = 0;
    int sizes[] = {512, 1024, 1536};
    for (int s = 0; s < 3; s++) {
        int n = sizes[s];
        float *a = malloc((size_t)n * n * 4), *b = malloc((size_t)n * n * 4),
              *c = malloc((size_t)n * n * 4);
        for (size_t i = 0; i < (size_t)n * n; i++)
            a[i] = b[i] = (float)(i % 17) * 0.01f;
        double t[5];
        for (int r = 0; r < 5; r++) {
            double t0 = now();
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, n, 1, a, n, b, n, 0, c, n);
            t[r] = now() - t0;
        }
        double g = 2.0 * n * n * (double)n / median(t, 5) / 1e9;
        best = g > best ? g : best;
        free(a);
        free(b);
        free(c);
    }
    return best;
}

int
main(int argc, char **argv)
{
    if (argc < 5 || (argc - 5) % 2) {
        fprintf(stderr, "usage: %s PLUGIN.so INPUT.safetensors REPS THREADS [param value]...\n",
                argv[0]);
        return 2;
    }
    int reps = atoi(argv[3]), threads = atoi(argv[4]);
    struct mock_plugin mp;
    struct sieve_errbuf err = {{0}};
    struct st_file *f;
    if (mock_plugin_open(&mp, argv[1]) < 0 || st_open(argv[2], &f, &err) < 0) {
        fprintf(stderr, "bench: %s\n", err.msg);
        return 1;
    }
    struct sieve_bundle *in = mock_bundle_new();
    static const struct {
        const char *name;
        int32_t dtype;
    } known[] = {
        {"frames", SIEVE_DTYPE_U8}, {"frame_pts", SIEVE_DTYPE_F64}, {"mel", SIEVE_DTYPE_F32}};
    for (size_t i = 0; i < 3; i++) {
        const struct st_tensor *t = st_find(f, known[i].name);
        if (t)
            mock_tensor_add(in, t->name, known[i].dtype, t->ndim, t->shape, f->data + t->begin);
    }
    const char *kv[64];
    char tbuf[16];
    int n = 0;
    for (int i = 5; i < argc && n < 60; i++)
        kv[n++] = argv[i];
    snprintf(tbuf, sizeof tbuf, "%d", threads);
    kv[n++] = "threads";
    kv[n++] = tbuf;
    kv[n] = NULL;
    struct sieve_value vals[32];
    void *state;
    if (mock_params(mp.desc, kv, vals) < 0)
        return 1;
    double t0 = now();
    if (mp.desc->init(mock_host(), vals, &state, &err) < 0) {
        fprintf(stderr, "bench: init: %s\n", err.msg);
        return 1;
    }
    double t_init = now() - t0;
    struct sieve_sample sample = {"bench", "/dev/null", NULL, NULL};
    struct sieve_ctx ctx = {sizeof ctx, mock_host(), NULL, "bench", "cpu", -1, "/tmp", 1, &sample};
    const struct sieve_bundle *ins[1] = {in};
    if (reps == 0) {
        /* Interleaved mode: one forward per "run" line on stdin, its seconds on stdout, so
           the driver can alternate with PyTorch under the same machine load. */
        char line[64];
        setvbuf(stdout, NULL, _IOLBF, 0);
        while (fgets(line, sizeof line, stdin)) {
            if (!strncmp(line, "peak", 4)) {
                printf("%.2f\n", sgemm_peak(threads));
                continue;
            }
            struct sieve_bundle *out = mock_bundle_new();
            struct sieve_bundle *outs[1] = {out};
            double s0 = now();
            if (mp.desc->process(state, &ctx, ins, outs, &err) < 0) {
                fprintf(stderr, "bench: process: %s\n", err.msg);
                return 1;
            }
            printf("%.5f\n", now() - s0);
            mock_bundle_free(out);
        }
    } else {
        double *t = calloc((size_t)reps + 1, sizeof *t);
        for (int r = 0; r <= reps; r++) { /* run 0 is a warm-up */
            struct sieve_bundle *out = mock_bundle_new();
            struct sieve_bundle *outs[1] = {out};
            double s0 = now();
            if (mp.desc->process(state, &ctx, ins, outs, &err) < 0) {
                fprintf(stderr, "bench: process: %s\n", err.msg);
                return 1;
            }
            t[r] = now() - s0;
            mock_bundle_free(out);
        }
        printf("{\"init_s\": %.4f, \"times\": [", t_init);
        for (int r = 1; r <= reps; r++)
            printf("%s%.5f", r > 1 ? ", " : "", t[r]);
        printf("], \"median_s\": %.5f, \"sgemm_peak_gflops\": %.2f}\n", median(t + 1, reps),
               sgemm_peak(threads));
        free(t);
    }
    mp.desc->free(state);
    mock_bundle_free(in);
    st_close(f);
    mock_plugin_close(&mp);
    return 0;
}
