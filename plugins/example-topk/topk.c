/*
 * topk.c - example-topk: keeps the k tokens of largest L2 norm, in their original order.
 *
 * This is the worked example of docs/plugin-guide.md, so it does everything a real plugin
 * does and nothing clever: a parameter table the host validates, a state built in init, input
 * checks that return SIEVE_EBADINPUT with a message naming the tensor, outputs allocated
 * through the host services, and metadata describing what was done.
 *
 * Input port `tokens`: a bundle with an F32 tensor (named by the `tensor` parameter, default
 * "tokens") of shape [N, C], or [T, N, C] and more leading dims, which are flattened into
 * rows. An optional F32 tensor `importance` with one value per row is carried along.
 * Output port `out`: `tokens` [k, C] (the kept rows), `index` I32 [k] (their row numbers in
 * the flattened input, increasing), `importance` [k] when the input had it, and metadata
 * method=topk-l2, keep_requested, keep_actual (k / rows), tokens_in, tokens_kept.
 *
 * k = max(1, round(keep * rows)). Rows are ranked by L2 norm, computed in double; equal norms
 * keep the lower row number first, so the result is the same on every machine.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sieve/plugin.h>

static const struct sieve_port inputs[] = {
    {"tokens", "F32 tokens [N, C] or [T, N, C]; optional F32 'importance' [rows]", 0},
};
static const struct sieve_port outputs[] = {
    {"out", "kept 'tokens' [k, C], their row 'index' I32 [k], 'importance' [k] if given", 0},
};

enum { P_KEEP, P_TENSOR };
static const struct sieve_param params[] = {
    [P_KEEP] = {.name = "keep",
                .type = SIEVE_PARAM_FLOAT,
                .doc = "fraction of tokens to keep, in (0, 1]",
                .def = "0.5",
                .min = 0,
                .max = 1,
                .flags = SIEVE_PARAM_HAS_MIN | SIEVE_PARAM_HAS_MAX},
    [P_TENSOR] = {.name = "tensor",
                  .type = SIEVE_PARAM_STRING,
                  .doc = "name of the input tensor to prune",
                  .def = "tokens"},
};

struct topk {
    double keep;
    char tensor[128];
};

/* A row's rank key. */
struct ranked {
    double norm;
    int64_t row;
};

static int
topk_init(const struct sieve_host *host, const struct sieve_value *p, void **state,
          struct sieve_errbuf *err)
{
    struct topk *s;

    (void)host;
    /* The table can say [0, 1]; the open end at 0 is checked here. */
    if (!(p[P_KEEP].f > 0))
        return sieve_errbuf_set(err, SIEVE_EINVAL, "parameter 'keep' must be above 0");
    if (strlen(p[P_TENSOR].s) >= sizeof s->tensor)
        return sieve_errbuf_set(err, SIEVE_EINVAL, "parameter 'tensor': name too long");
    if (!(s = calloc(1, sizeof *s)))
        return sieve_errbuf_set(err, SIEVE_ENOMEM, "out of memory");
    s->keep = p[P_KEEP].f;
    strcpy(s->tensor, p[P_TENSOR].s);
    *state = s;
    return 0;
}

static void
topk_free(void *state)
{
    free(state);
}

/* Larger norm first; on a tie, the lower row first. */
static int
by_rank(const void *a, const void *b)
{
    const struct ranked *x = a, *y = b;
    if (x->norm != y->norm)
        return x->norm > y->norm ? -1 : 1;
    return (x->row > y->row) - (x->row < y->row);
}

static int
by_row(const void *a, const void *b)
{
    const struct ranked *x = a, *y = b;
    return (x->row > y->row) - (x->row < y->row);
}

/* The shortest decimal text that reads back as `v` (what the host does for parameters). */
static void
format_number(double v, char *buf, size_t cap)
{
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, cap, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            return;
    }
}

static int
set_meta(const struct sieve_host *h, struct sieve_bundle *b, const char *key, double v,
         struct sieve_errbuf *err)
{
    char text[40];
    int rc;

    format_number(v, text, sizeof text);
    if ((rc = h->meta_set(b, key, text)) < 0)
        return sieve_errbuf_set(err, rc, "set metadata '%s'", key);
    return 0;
}

static int
topk_process(void *state, const struct sieve_ctx *ctx, const struct sieve_bundle *const *in,
             struct sieve_bundle *const *out, struct sieve_errbuf *err)
{
    const struct topk *s = state;
    const struct sieve_host *h = ctx->host;
    const struct sieve_tensor *x, *imp;
    struct sieve_tensor *y, *idx, *yimp = NULL;
    struct ranked *rank = NULL;
    int64_t rows = 1, cols, k, shape[2];
    const float *src;
    int rc;

    x = h->tensor_get(in[0], s->tensor);
    if (!x)
        return sieve_errbuf_set(err, SIEVE_EBADINPUT, "no tensor '%s' in input 'tokens'",
                                s->tensor);
    if (x->dtype != SIEVE_DTYPE_F32 || x->ndim < 2)
        return sieve_errbuf_set(err, SIEVE_EBADINPUT,
                                "tensor '%s' must be F32 with at least 2 dimensions ([N, C])",
                                s->tensor);
    for (uint32_t d = 0; d + 1 < x->ndim; d++)
        rows *= x->shape[d];
    cols = x->shape[x->ndim - 1];
    if (rows == 0)
        return sieve_errbuf_set(err, SIEVE_EBADINPUT, "tensor '%s' has no tokens", s->tensor);
    if (rows > INT32_MAX)
        return sieve_errbuf_set(err, SIEVE_EBADINPUT,
                                "tensor '%s' has too many tokens for an "
                                "I32 index",
                                s->tensor);
    imp = h->tensor_get(in[0], "importance");
    if (imp && (imp->dtype != SIEVE_DTYPE_F32 || (int64_t)sieve_tensor_numel(imp) != rows))
        return sieve_errbuf_set(err, SIEVE_EBADINPUT,
                                "tensor 'importance' must be F32 with %lld values, one per token",
                                (long long)rows);

    if (!(rank = malloc((size_t)rows * sizeof *rank)))
        return sieve_errbuf_set(err, SIEVE_ENOMEM, "out of memory for %lld tokens",
                                (long long)rows);
    src = x->data;
    for (int64_t r = 0; r < rows; r++) {
        double sum = 0;
        for (int64_t c = 0; c < cols; c++) {
            double v = src[r * cols + c];
            sum += v * v;
        }
        if (!isfinite(sum)) {
            rc = sieve_errbuf_set(err, SIEVE_EBADINPUT, "token %lld of '%s' is not finite",
                                  (long long)r, s->tensor);
            goto done;
        }
        rank[r].norm = sqrt(sum);
        rank[r].row = r;
    }
    if (h->cancelled(ctx)) {
        rc = sieve_errbuf_set(err, SIEVE_ECANCELED, "cancelled");
        goto done;
    }

    k = llround(s->keep * (double)rows);
    if (k < 1)
        k = 1;
    if (k > rows)
        k = rows;
    qsort(rank, (size_t)rows, sizeof *rank, by_rank);
    qsort(rank, (size_t)k, sizeof *rank, by_row); /* the kept ones, back in input order */

    shape[0] = k;
    shape[1] = cols;
    if ((rc = h->tensor_new(out[0], "tokens", SIEVE_DTYPE_F32, 2, shape, &y)) < 0 ||
        (rc = h->tensor_new(out[0], "index", SIEVE_DTYPE_I32, 1, shape, &idx)) < 0 ||
        (imp && (rc = h->tensor_new(out[0], "importance", SIEVE_DTYPE_F32, 1, shape, &yimp)) < 0)) {
        sieve_errbuf_set(err, rc, "allocate the output tensors");
        goto done;
    }
    for (int64_t i = 0; i < k; i++) {
        int64_t r = rank[i].row;
        memcpy((float *)y->data + i * cols, src + r * cols, (size_t)cols * sizeof(float));
        ((int32_t *)idx->data)[i] = (int32_t)r;
        if (yimp)
            ((float *)yimp->data)[i] = ((const float *)imp->data)[r];
    }

    if ((rc = h->meta_set(out[0], "method", "topk-l2")) < 0) {
        sieve_errbuf_set(err, rc, "set metadata 'method'");
        goto done;
    }
    if ((rc = set_meta(h, out[0], "keep_requested", s->keep, err)) < 0 ||
        (rc = set_meta(h, out[0], "keep_actual", (double)k / (double)rows, err)) < 0 ||
        (rc = set_meta(h, out[0], "tokens_in", (double)rows, err)) < 0 ||
        (rc = set_meta(h, out[0], "tokens_kept", (double)k, err)) < 0)
        goto done;
    h->progress(ctx, 1.0);
    h->log(ctx, SIEVE_LOG_DEBUG, "example-topk: kept %lld of %lld tokens", (long long)k,
           (long long)rows);
    rc = 0;

done:
    free(rank);
    return rc;
}

static const struct sieve_plugin desc = SIEVE_PLUGIN_INIT(
    "example-topk", "1.0.0", "keeps the k tokens of largest L2 norm, in their original order",
    inputs, outputs, params, SIEVE_PLUGIN_DETERMINISTIC, topk_init, topk_process, topk_free);
SIEVE_PLUGIN_DEFINE(desc)
