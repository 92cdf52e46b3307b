/*
 * reduce.c - the `evaluate-reduce` plugin: one task per variant over the `evaluate` outputs
 * of all its samples. Every per-sample metric is averaged by category and overall ("all");
 * probe accuracy (probe.h) and, when answers are given (the optional `answers` port, one
 * bundle per sample with metadata `answer`, or a predictions file), answer accuracy are added.
 * Its `sieve.metrics` rows (no `sample` field) are the cells of `sieve table`.
 *
 * Output bundle `out`:
 *   means     F64 [n_categories + 1, n_metrics]  the last row is "all"
 * Metadata: `sieve.metrics`, `metric_names` (comma-separated), `categories` (JSON array).
 *
 * Extra metrics: `samples` (count), `probe_acc` (queries from kept tokens), `probe_acc_full`
 * (queries from full tokens, the reference the kept one is read against), `answer_acc`
 * (the `answers` port's metadata `answer`, else predictions file lines {"id": ...,
 * "answer": ...}, against the manifest field `answer`;
 * comparison ignores case and surrounding white space; a sample with an answer but no
 * prediction counts as wrong, one without an answer is left out).
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sieve/plugin.h>

#include "../common/json_lite.h"
#include "probe.h"
#include "rows.h"

enum { IN_SCORES, IN_ANSWERS, N_IN };
static const struct sieve_port inputs[] = {
    [IN_SCORES] = {"scores", "the evaluate output of every sample of the variant", 0},
    [IN_ANSWERS] = {"answers",
                    "a model's answer per sample: metadata `answer` (a Python node, say)",
                    SIEVE_PORT_OPTIONAL},
};
static const struct sieve_port outputs[] = {
    {"out", "per-category means and sieve.metrics rows", 0},
};
static const struct sieve_param params[] = {
    {.name = "predictions",
     .type = SIEVE_PARAM_STRING,
     .def = "none",
     .doc = "JSON Lines file of {\"id\", \"answer\"} model predictions; none to skip"},
    {.name = "answer_field",
     .type = SIEVE_PARAM_STRING,
     .def = "answer",
     .doc = "manifest field holding the reference answer"},
};

#define MAX_METRICS 128
#define ALL "all"

struct state {
    char *predictions;
    char *answer_field;
};

static int
reduce_init(const struct sieve_host *host, const struct sieve_value *v, void **out,
            struct sieve_errbuf *err)
{
    (void)host;
    struct state *s = calloc(1, sizeof *s);
    if (s) {
        s->predictions = strdup(v[0].s ? v[0].s : "none");
        s->answer_field = strdup(v[1].s ? v[1].s : "answer");
    }
    if (!s || !s->predictions || !s->answer_field) {
        if (s) {
            free(s->predictions);
            free(s->answer_field);
        }
        free(s);
        return sieve_errbuf_set(err, SIEVE_ENOMEM, "evaluate-reduce: out of memory");
    }
    *out = s;
    return 0;
}

static void
reduce_free(void *state)
{
    struct state *s = state;
    if (!s)
        return;
    free(s->predictions);
    free(s->answer_field);
    free(s);
}

/* Splits a comma-separated list in place. Returns the count, or -1 past `max`. */
static int
split_names(char *list, char **names, int max)
{
    int n = 0;
    for (char *p = list; p && *p;) {
        if (n >= max)
            return -1;
        names[n++] = p;
        p = strchr(p, ',');
        if (p)
            *p++ = '\0';
    }
    return n;
}

static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static const char *
category_of(const struct sieve_ctx *ctx, uint32_t s)
{
    const char *c = ctx->samples[s].category;
    return c && c[0] ? c : "uncategorized";
}

/* Lower-cased, trimmed copy for answer comparison. */
static void
normalise(const char *in, char *out, size_t size)
{
    while (isspace((unsigned char)*in))
        in++;
    size_t n = 0;
    for (; *in && n + 1 < size; in++)
        out[n++] = (char)tolower((unsigned char)*in);
    while (n > 0 && isspace((unsigned char)out[n - 1]))
        n--;
    out[n] = '\0';
}

/*
 * Answer correctness per sample: 1 right, 0 wrong, -1 no reference answer.
 * Returns: 0, or SIEVE_EBADINPUT when the predictions file cannot be read.
 */
static int
score_answers(const struct state *st, const struct sieve_ctx *ctx, signed char *ok,
              struct sieve_errbuf *err)
{
    uint32_t n = ctx->n_samples;
    char ref[256], got[256], id[256], pred[256];
    char *line = NULL;
    size_t cap = 0;
    for (uint32_t s = 0; s < n; s++) {
        const char *fj = ctx->samples[s].fields_json, *v;
        ok[s] = -1;
        if (fj && json_object_find(fj, fj + strlen(fj), st->answer_field, &v) == 0 &&
            json_value_text(v, fj + strlen(fj), ref, sizeof ref) == 0)
            ok[s] = 0;
    }
    FILE *f = fopen(st->predictions, "r");
    if (!f)
        return sieve_errbuf_set(err, SIEVE_EBADINPUT, "open '%s': cannot read predictions",
                                st->predictions);
    long lineno = 0;
    while (getline(&line, &cap, f) > 0) {
        const char *end = line + strlen(line), *v;
        lineno++;
        if (strspn(line, " \t\r\n") == strlen(line))
            continue;
        if (json_object_find(line, end, "id", &v) < 0 ||
            json_value_text(v, end, id, sizeof id) < 0 ||
            json_object_find(line, end, "answer", &v) < 0 ||
            json_value_text(v, end, pred, sizeof pred) < 0) {
            free(line);
            fclose(f);
            return sieve_errbuf_set(err, SIEVE_EBADINPUT,
                                    "'%s':%ld: need an object with 'id' and 'answer'",
                                    st->predictions, lineno);
        }
        for (uint32_t s = 0; s < n; s++) {
            const char *fj = ctx->samples[s].fields_json;
            if (ok[s] < 0 || strcmp(ctx->samples[s].id, id) != 0)
                continue;
            json_object_find(fj, fj + strlen(fj), st->answer_field, &v);
            json_value_text(v, fj + strlen(fj), ref, sizeof ref);
            normalise(ref, ref, sizeof ref);
            normalise(pred, got, sizeof got);
            ok[s] = strcmp(ref, got) == 0;
        }
    }
    free(line);
    fclose(f);
    return 0;
}

/*
 * Answer correctness per sample from the `answers` port: the metadata `answer` of each
 * sample's bundle against the manifest field, compared as for a predictions file. A sample
 * whose bundle has no `answer` counts as wrong.
 */
static void
score_answer_bundles(const struct state *st, const struct sieve_host *h,
                     const struct sieve_ctx *ctx, const struct sieve_bundle *const *in,
                     signed char *ok)
{
    char ref[256], got[256];
    for (uint32_t s = 0; s < ctx->n_samples; s++) {
        const char *fj = ctx->samples[s].fields_json, *v;
        const char *pred = h->meta_get(in[s * N_IN + IN_ANSWERS], "answer");
        ok[s] = -1;
        if (!fj || json_object_find(fj, fj + strlen(fj), st->answer_field, &v) < 0 ||
            json_value_text(v, fj + strlen(fj), ref, sizeof ref) < 0)
            continue;
        normalise(ref, ref, sizeof ref);
        normalise(pred ? pred : "", got, sizeof got);
        ok[s] = pred && strcmp(ref, got) == 0;
    }
}

struct table {
    int n_cat, n_met;
    const char *cat[1024];
    char *met[MAX_METRICS];
    double *sum;  /* [(n_cat + 1) * MAX_METRICS] */
    int64_t *cnt; /* same shape */
};

static void
table_add(struct table *t, int cat, int met, double v)
{
    if (!isfinite(v))
        return;
    t->sum[cat * MAX_METRICS + met] += v;
    t->cnt[cat * MAX_METRICS + met]++;
    t->sum[t->n_cat * MAX_METRICS + met] += v;
    t->cnt[t->n_cat * MAX_METRICS + met]++;
}

static int
metric_slot(struct table *t, const char *name)
{
    for (int i = 0; i < t->n_met; i++)
        if (!strcmp(t->met[i], name))
            return i;
    if (t->n_met >= MAX_METRICS)
        return -1;
    t->met[t->n_met] = strdup(name);
    return t->met[t->n_met] ? t->n_met++ : -1;
}

static int
cat_index(const struct table *t, const char *c)
{
    for (int i = 0; i < t->n_cat; i++)
        if (!strcmp(t->cat[i], c))
            return i;
    return -1;
}

/* Probe accuracy over the pooled features; skipped (returns 0) when widths disagree. */
static int
add_probe(const struct sieve_host *h, const struct sieve_ctx *ctx,
          const struct sieve_bundle *const *in, struct table *t)
{
    uint32_t n = ctx->n_samples;
    const struct sieve_tensor *f0 = h->tensor_get(in[IN_SCORES], "pooled_full");
    if (!f0 || f0->dtype != SIEVE_DTYPE_F32 || n < 2)
        return 0;
    int64_t c = (int64_t)sieve_tensor_numel(f0);
    float *full = malloc((size_t)(n * c) * sizeof(float) + 1);
    float *kept = malloc((size_t)(n * c) * sizeof(float) + 1);
    int *cls = malloc(n * sizeof(int) + 1);
    unsigned char *ok = malloc(n + 1);
    int rc = SIEVE_ENOMEM;
    if (!full || !kept || !cls || !ok)
        goto out;
    rc = 0;
    for (uint32_t s = 0; s < n; s++) {
        const struct sieve_tensor *pf = h->tensor_get(in[s * N_IN + IN_SCORES], "pooled_full");
        const struct sieve_tensor *pk = h->tensor_get(in[s * N_IN + IN_SCORES], "pooled_kept");
        if (!pf || !pk || pf->dtype != SIEVE_DTYPE_F32 || pk->dtype != SIEVE_DTYPE_F32 ||
            (int64_t)sieve_tensor_numel(pf) != c || (int64_t)sieve_tensor_numel(pk) != c) {
            h->log(ctx, SIEVE_LOG_WARN,
                   "evaluate-reduce: pooled features differ in width; "
                   "no probe accuracy");
            goto out;
        }
        memcpy(full + s * c, pf->data, (size_t)c * sizeof(float));
        memcpy(kept + s * c, pk->data, (size_t)c * sizeof(float));
        cls[s] = cat_index(t, category_of(ctx, s));
    }
    int mk = metric_slot(t, "probe_acc"), mf = metric_slot(t, "probe_acc_full");
    if (mk < 0 || mf < 0 || eval_probe(full, kept, cls, t->n_cat, n, c, ok) < 0) {
        rc = SIEVE_ENOMEM;
        goto out;
    }
    for (uint32_t s = 0; s < n; s++)
        table_add(t, cls[s], mk, ok[s]);
    if (eval_probe(full, full, cls, t->n_cat, n, c, ok) < 0) {
        rc = SIEVE_ENOMEM;
        goto out;
    }
    for (uint32_t s = 0; s < n; s++)
        table_add(t, cls[s], mf, ok[s]);
out:
    free(full);
    free(kept);
    free(cls);
    free(ok);
    return rc;
}

static int
add_sample_metrics(const struct sieve_host *h, const struct sieve_ctx *ctx,
                   const struct sieve_bundle *const *in, struct table *t, struct sieve_errbuf *err)
{
    int ms = metric_slot(t, "samples");
    for (uint32_t s = 0; s < ctx->n_samples; s++) {
        const struct sieve_tensor *mt = h->tensor_get(in[s * N_IN + IN_SCORES], "metrics");
        const char *list = h->meta_get(in[s * N_IN + IN_SCORES], "metric_names");
        char *names[MAX_METRICS], *copy = list ? strdup(list) : NULL;
        int nn = copy ? split_names(copy, names, MAX_METRICS) : -1;
        int cat = cat_index(t, category_of(ctx, s));
        if (!mt || mt->dtype != SIEVE_DTYPE_F64 || nn < 0 ||
            (uint64_t)nn != sieve_tensor_numel(mt)) {
            free(copy);
            return sieve_errbuf_set(err, SIEVE_EBADINPUT,
                                    "evaluate-reduce: sample '%s' has no F64 'metrics' matching "
                                    "'metric_names'",
                                    ctx->samples[s].id);
        }
        table_add(t, cat, ms, 1.0);
        for (int i = 0; i < nn; i++) {
            int slot = metric_slot(t, names[i]);
            if (slot < 0) {
                free(copy);
                return sieve_errbuf_set(err, SIEVE_EBADINPUT, "evaluate-reduce: too many metrics");
            }
            table_add(t, cat, slot, ((const double *)mt->data)[i]);
        }
        free(copy);
    }
    return 0;
}

static int
write_out(const struct sieve_host *h, struct sieve_bundle *b, struct table *t,
          struct sieve_errbuf *err)
{
    struct sieve_tensor *mt;
    int64_t shape[2] = {t->n_cat + 1, t->n_met};
    int rc = h->tensor_new(b, "means", SIEVE_DTYPE_F64, 2, shape, &mt);
    if (rc < 0)
        return sieve_errbuf_set(err, rc, "evaluate-reduce: allocate 'means'");
    struct rows r;
    char *names = NULL, *cats = NULL;
    size_t nl = 0, cl = 0;
    FILE *fn = open_memstream(&names, &nl), *fc = open_memstream(&cats, &cl);
    if (rows_init(&r) < 0 || !fn || !fc) {
        if (fn)
            fclose(fn);
        if (fc)
            fclose(fc);
        free(names);
        free(cats);
        return sieve_errbuf_set(err, SIEVE_ENOMEM, "evaluate-reduce: out of memory");
    }
    fputc('[', fc);
    for (int c = 0; c <= t->n_cat; c++) {
        const char *cat = c < t->n_cat ? t->cat[c] : ALL;
        if (c < t->n_cat) {
            fputs(c ? "," : "", fc);
            json_write_string(fc, cat);
        }
        for (int m = 0; m < t->n_met; m++) {
            int64_t n = t->cnt[c * MAX_METRICS + m];
            double v = n > 0 ? t->sum[c * MAX_METRICS + m] / (double)n : NAN;
            if (!strcmp(t->met[m], "samples"))
                v = (double)n; /* the count, not the mean of ones */
            ((double *)mt->data)[c * t->n_met + m] = v;
            if (n > 0)
                rows_add(&r, t->met[m], cat, v, NULL);
        }
    }
    fputc(']', fc);
    for (int m = 0; m < t->n_met; m++)
        fprintf(fn, "%s%s", m ? "," : "", t->met[m]);
    fclose(fn);
    fclose(fc);
    char *json = rows_finish(&r);
    rc = json ? h->meta_set(b, "sieve.metrics", json) : SIEVE_ENOMEM;
    if (rc == 0)
        rc = h->meta_set(b, "metric_names", names);
    if (rc == 0)
        rc = h->meta_set(b, "categories", cats);
    free(json);
    free(names);
    free(cats);
    return rc < 0 ? sieve_errbuf_set(err, rc, "evaluate-reduce: set metadata") : 0;
}

static int
reduce_process(void *state, const struct sieve_ctx *ctx, const struct sieve_bundle *const *in,
               struct sieve_bundle *const *out, struct sieve_errbuf *err)
{
    const struct state *st = state;
    const struct sieve_host *h = ctx->host;
    uint32_t n = ctx->n_samples;
    struct table t;
    signed char *ok = NULL;
    int rc = 0;
    memset(&t, 0, sizeof t);
    if (n == 0)
        return sieve_errbuf_set(err, SIEVE_EBADINPUT, "evaluate-reduce: no samples");
    for (uint32_t s = 0; s < n; s++) {
        const char *c = category_of(ctx, s);
        if (cat_index(&t, c) < 0 && t.n_cat < 1024)
            t.cat[t.n_cat++] = c;
    }
    qsort(t.cat, (size_t)t.n_cat, sizeof t.cat[0], cmp_str);
    t.sum = calloc((size_t)(t.n_cat + 1) * MAX_METRICS, sizeof(double));
    t.cnt = calloc((size_t)(t.n_cat + 1) * MAX_METRICS, sizeof(int64_t));
    if (!t.sum || !t.cnt) {
        rc = sieve_errbuf_set(err, SIEVE_ENOMEM, "evaluate-reduce: out of memory");
        goto out;
    }
    rc = add_sample_metrics(h, ctx, in, &t, err);
    if (rc == 0 && add_probe(h, ctx, in, &t) < 0)
        rc = sieve_errbuf_set(err, SIEVE_ENOMEM, "evaluate-reduce: out of memory");
    int from_port = in[IN_ANSWERS] != NULL;
    if (rc == 0 && (from_port || (strcmp(st->predictions, "none") != 0 && st->predictions[0]))) {
        ok = malloc(n + 1);
        int ma = metric_slot(&t, "answer_acc");
        if (!ok || ma < 0) {
            rc = sieve_errbuf_set(err, SIEVE_ENOMEM, "evaluate-reduce: out of memory");
            goto out;
        }
        if (from_port)
            score_answer_bundles(st, h, ctx, in, ok);
        else
            rc = score_answers(st, ctx, ok, err);
        for (uint32_t s = 0; rc == 0 && s < n; s++)
            if (ok[s] >= 0)
                table_add(&t, cat_index(&t, category_of(ctx, s)), ma, ok[s]);
    }
    if (rc == 0)
        rc = write_out(h, out[0], &t, err);
out:
    for (int i = 0; i < t.n_met; i++)
        free(t.met[i]);
    free(t.sum);
    free(t.cnt);
    free(ok);
    return rc;
}

static const struct sieve_plugin desc =
    SIEVE_PLUGIN_INIT("evaluate-reduce", "1.1.0",
                      "per-variant means of evaluate metrics by category, probe and answer "
                      "accuracy",
                      inputs, outputs, params, SIEVE_PLUGIN_REDUCE | SIEVE_PLUGIN_DETERMINISTIC,
                      reduce_init, reduce_process, reduce_free);
SIEVE_PLUGIN_DEFINE(desc)
