/*
 * table.c - laying out metric rows as the results table, and its four text formats
 * (see table.h).
 */
#include "core/table/table.h"
#include "table_int.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* One (variant, category) cell being accumulated. */
struct point {
    struct table_val *vals; /* [n_vars] */
    char *category;
    double sum;
    long count;
};

struct build {
    char **vars;
    size_t n_vars;
    struct point *pts;
    size_t n_pts;
};

int
table_format_parse(const char *name)
{
    static const char *const names[] = {"md", "csv", "json", "latex"};
    for (int i = 0; i < 4; i++)
        if (!strcmp(name, names[i]))
            return i;
    if (!strcmp(name, "markdown"))
        return TABLE_MD;
    if (!strcmp(name, "tex"))
        return TABLE_LATEX;
    return -1;
}

static int
val_cmp(const struct table_val *a, const struct table_val *b)
{
    if (!a->text || !b->text)
        return !a->text ? (b->text ? -1 : 0) : 1;
    if (a->number && b->number)
        return a->num < b->num ? -1 : a->num > b->num;
    if (a->number != b->number)
        return a->number ? -1 : 1; /* numbers before words */
    return strcmp(a->text, b->text);
}

static int
val_equal(const struct table_val *a, const struct table_val *b)
{
    if (!a->text || !b->text)
        return a->text == b->text;
    return strcmp(a->text, b->text) == 0;
}

static void
vals_free(struct table_val *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i].text);
    free(v);
}

static void
build_release(struct build *b)
{
    for (size_t i = 0; i < b->n_pts; i++) {
        vals_free(b->pts[i].vals, b->n_vars);
        free(b->pts[i].category);
    }
    free(b->pts);
    for (size_t i = 0; i < b->n_vars; i++)
        free(b->vars[i]);
    free(b->vars);
}

/* Index of variable `name`, added when new. Returns -1 on out-of-memory. */
static long
var_index(struct build *b, const char *name)
{
    for (size_t i = 0; i < b->n_vars; i++)
        if (!strcmp(b->vars[i], name))
            return (long)i;
    char **nv = realloc(b->vars, (b->n_vars + 1) * sizeof *nv);
    if (!nv)
        return -1;
    b->vars = nv;
    /* Earlier points have no value for the new variable: grow them. */
    for (size_t i = 0; i < b->n_pts; i++) {
        struct table_val *grown = realloc(b->pts[i].vals, (b->n_vars + 1) * sizeof *grown);
        if (!grown)
            return -1;
        memset(&grown[b->n_vars], 0, sizeof *grown);
        b->pts[i].vals = grown;
    }
    if (!(b->vars[b->n_vars] = strdup(name)))
        return -1;
    return (long)b->n_vars++;
}

/* Parses a label into values over b->vars (which may grow). */
static int
parse_label(struct build *b, const char *label, struct table_val **out, struct sieve_errbuf *err)
{
    json_error_t je;
    json_t *obj = json_loads(label && label[0] ? label : "{}", 0, &je);
    const char *k;
    json_t *v;
    struct table_val *vals = NULL;
    int rc = 0;
    if (!obj || !json_is_object(obj)) {
        json_decref(obj);
        return sieve_errbuf_set(err, SIEVE_EINVAL, "variant label '%s': not a JSON object",
                                label ? label : "");
    }
    json_object_foreach(obj, k, v)
    {
        if (var_index(b, k) < 0) {
            rc = SIEVE_ENOMEM;
            goto out;
        }
    }
    vals = calloc(b->n_vars + 1, sizeof *vals);
    if (!vals) {
        rc = SIEVE_ENOMEM;
        goto out;
    }
    json_object_foreach(obj, k, v)
    {
        struct table_val *x = &vals[var_index(b, k)];
        char buf[64];
        if (json_is_string(v)) {
            x->text = strdup(json_string_value(v));
        } else if (json_is_integer(v)) {
            x->number = 1;
            x->num = (double)json_integer_value(v);
            snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(v));
            x->text = strdup(buf);
        } else if (json_is_real(v)) {
            x->number = 1;
            x->num = json_real_value(v);
            snprintf(buf, sizeof buf, "%.15g", x->num);
            x->text = strdup(buf);
        } else {
            char *d = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
            x->text = d ? strdup(d) : NULL;
            free(d);
        }
        if (!x->text) {
            rc = SIEVE_ENOMEM;
            goto out;
        }
    }
out:
    json_decref(obj);
    if (rc < 0) {
        vals_free(vals, b->n_vars);
        return sieve_errbuf_set(err, rc, "variant label: out of memory");
    }
    *out = vals;
    return 0;
}

/* Adds value to the point (vals, category), taking ownership of vals. */
static int
add_point(struct build *b, struct table_val *vals, const char *category, double value)
{
    for (size_t i = 0; i < b->n_pts; i++) {
        struct point *p = &b->pts[i];
        size_t j = 0;
        if (strcmp(p->category, category) != 0)
            continue;
        while (j < b->n_vars && val_equal(&p->vals[j], &vals[j]))
            j++;
        if (j == b->n_vars) {
            p->sum += value;
            p->count++;
            vals_free(vals, b->n_vars);
            return 0;
        }
    }
    struct point *np = realloc(b->pts, (b->n_pts + 1) * sizeof *np);
    if (!np) {
        vals_free(vals, b->n_vars);
        return SIEVE_ENOMEM;
    }
    b->pts = np;
    np[b->n_pts] = (struct point){vals, strdup(category), value, 1};
    if (!np[b->n_pts].category) {
        vals_free(vals, b->n_vars);
        return SIEVE_ENOMEM;
    }
    b->n_pts++;
    return 0;
}

static const char *
pick_metric(const struct table_input *rows, size_t n, const char *want)
{
    if (want)
        return want;
    for (size_t i = 0; i < n; i++)
        if (rows[i].metric && !strcmp(rows[i].metric, "retention"))
            return "retention";
    return n > 0 ? rows[0].metric : NULL;
}

static int
no_metric(const struct table_input *rows, size_t n, const char *metric, struct sieve_errbuf *err)
{
    char list[256] = "";
    for (size_t i = 0; i < n; i++) {
        if (!rows[i].metric || strstr(list, rows[i].metric))
            continue;
        if (strlen(list) + strlen(rows[i].metric) + 3 >= sizeof list)
            break;
        strcat(list, list[0] ? ", " : "");
        strcat(list, rows[i].metric);
    }
    return sieve_errbuf_set(err, SIEVE_ENOENT, "no rows for metric '%s'%s%s", metric ? metric : "",
                            list[0] ? "; metrics: " : " (the run has no metrics)", list);
}

/* Collects the metric's rows into points; per-sample rows also feed an "all" point. */
static int
collect(const struct table_input *rows, size_t n, const char *metric, struct build *b,
        struct sieve_errbuf *err)
{
    int aggregated = 0, found = 0;
    for (size_t i = 0; i < n; i++)
        if (rows[i].metric && !strcmp(rows[i].metric, metric)) {
            found = 1;
            aggregated |= rows[i].sample == NULL;
        }
    if (!found)
        return no_metric(rows, n, metric, err);
    for (size_t i = 0; i < n; i++) {
        const struct table_input *r = &rows[i];
        if (!r->metric || strcmp(r->metric, metric) != 0 || (r->sample != NULL) == aggregated ||
            !isfinite(r->value))
            continue;
        const char *cat = r->category ? r->category : ALL_CATEGORY;
        for (int pass = 0; pass < (aggregated || !strcmp(cat, ALL_CATEGORY) ? 1 : 2); pass++) {
            struct table_val *vals = NULL;
            int rc = parse_label(b, r->variant, &vals, err);
            if (rc == 0)
                rc = add_point(b, vals, pass == 0 ? cat : ALL_CATEGORY, r->value);
            if (rc < 0)
                return rc == SIEVE_ENOMEM ? sieve_errbuf_set(err, rc, "table: out of memory") : rc;
        }
    }
    return 0;
}

/* Distinct category names in byte order, "all" excluded. */
static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
cmp_val(const void *a, const void *b)
{
    return val_cmp(a, b);
}

static int
add_col(struct table *t, const char *name)
{
    for (size_t i = 0; i < t->n_cols; i++)
        if (!strcmp(t->cols[i], name))
            return 0;
    char **nc = realloc(t->cols, (t->n_cols + 1) * sizeof *nc);
    if (!nc)
        return SIEVE_ENOMEM;
    t->cols = nc;
    if (!(t->cols[t->n_cols] = strdup(name)))
        return SIEVE_ENOMEM;
    t->n_cols++;
    return 0;
}

/* Row index of a key tuple, added when new. */
static long
row_index(struct table *t, const struct table_val *key)
{
    for (size_t r = 0; r < t->n_rows; r++) {
        size_t j = 0;
        while (j < t->n_keys && val_equal(&t->rkeys[r][j], &key[j]))
            j++;
        if (j == t->n_keys)
            return (long)r;
    }
    struct table_val **nr = realloc(t->rkeys, (t->n_rows + 1) * sizeof *nr);
    if (!nr)
        return -1;
    t->rkeys = nr;
    struct table_val *copy = calloc(t->n_keys + 1, sizeof *copy);
    if (!copy)
        return -1;
    for (size_t j = 0; j < t->n_keys; j++) {
        copy[j] = key[j];
        if (key[j].text && !(copy[j].text = strdup(key[j].text))) {
            vals_free(copy, j);
            return -1;
        }
    }
    t->rkeys[t->n_rows] = copy;
    return (long)t->n_rows++;
}

/* Orders rows by their key tuples (insertion sort: tables have tens of rows). */
static void
sort_rows(struct table_val **rows, size_t n, size_t n_keys)
{
    for (size_t i = 1; i < n; i++) {
        struct table_val *x = rows[i];
        size_t j = i;
        while (j > 0) {
            int c = 0;
            for (size_t k = 0; k < n_keys && c == 0; k++)
                c = val_cmp(&rows[j - 1][k], &x[k]);
            if (c <= 0)
                break;
            rows[j] = rows[j - 1];
            j--;
        }
        rows[j] = x;
    }
}

/* Lays the points out: rows by key tuple, columns by category or pivot value. */
static int
layout(struct table *t, struct build *b, const struct table_opts *o, struct sieve_errbuf *err)
{
    long pivot = -1;
    const char *pcat = o->category ? o->category : ALL_CATEGORY;
    if (o->pivot) {
        for (size_t i = 0; i < b->n_vars; i++)
            if (!strcmp(b->vars[i], o->pivot))
                pivot = (long)i;
        if (pivot < 0)
            return sieve_errbuf_set(err, SIEVE_EINVAL,
                                    "pivot '%s': not a matrix variable of "
                                    "these rows",
                                    o->pivot);
    }
    t->keys = calloc(b->n_vars + 1, sizeof *t->keys);
    if (!t->keys)
        return SIEVE_ENOMEM;
    for (size_t i = 0; i < b->n_vars; i++)
        if ((long)i != pivot && !(t->keys[t->n_keys++] = strdup(b->vars[i])))
            return SIEVE_ENOMEM;
    /* Columns. */
    if (pivot >= 0) {
        struct table_val *pv = calloc(b->n_pts + 1, sizeof *pv);
        size_t n = 0;
        if (!pv)
            return SIEVE_ENOMEM;
        for (size_t i = 0; i < b->n_pts; i++)
            if (b->pts[i].vals[pivot].text && !strcmp(b->pts[i].category, pcat))
                pv[n++] = b->pts[i].vals[pivot];
        qsort(pv, n, sizeof *pv, cmp_val);
        for (size_t i = 0; i < n; i++)
            if (add_col(t, pv[i].text) < 0) {
                free(pv);
                return SIEVE_ENOMEM;
            }
        free(pv);
    } else {
        char **cats = calloc(b->n_pts + 1, sizeof *cats);
        size_t n = 0;
        if (!cats)
            return SIEVE_ENOMEM;
        for (size_t i = 0; i < b->n_pts; i++)
            if (strcmp(b->pts[i].category, ALL_CATEGORY) != 0)
                cats[n++] = b->pts[i].category;
        qsort(cats, n, sizeof *cats, cmp_str);
        for (size_t i = 0; i < n; i++)
            if (add_col(t, cats[i]) < 0) {
                free(cats);
                return SIEVE_ENOMEM;
            }
        free(cats);
        if (add_col(t, AVG_LABEL) < 0)
            return SIEVE_ENOMEM;
    }
    /* Rows: the key tuples, sorted. */
    struct table_val *key = calloc(b->n_vars + 1, sizeof *key);
    if (!key)
        return SIEVE_ENOMEM;
    for (size_t i = 0; i < b->n_pts; i++) {
        if (pivot >= 0 && strcmp(b->pts[i].category, pcat) != 0)
            continue;
        for (size_t j = 0, k = 0; j < b->n_vars; j++)
            if ((long)j != pivot)
                key[k++] = b->pts[i].vals[j];
        if (row_index(t, key) < 0) {
            free(key);
            return SIEVE_ENOMEM;
        }
    }
    sort_rows(t->rkeys, t->n_rows, t->n_keys);
    t->cell = calloc(t->n_rows * t->n_cols + 1, sizeof *t->cell);
    t->has = calloc(t->n_rows * t->n_cols + 1, 1);
    if (!t->cell || !t->has) {
        free(key);
        return SIEVE_ENOMEM;
    }
    for (size_t i = 0; i < b->n_pts; i++) {
        const struct point *p = &b->pts[i];
        const char *col = p->category;
        if (pivot >= 0) {
            if (strcmp(p->category, pcat) != 0 || !p->vals[pivot].text)
                continue;
            col = p->vals[pivot].text;
        } else if (!strcmp(col, ALL_CATEGORY)) {
            col = AVG_LABEL;
        }
        for (size_t j = 0, k = 0; j < b->n_vars; j++)
            if ((long)j != pivot)
                key[k++] = p->vals[j];
        long r = row_index(t, key);
        size_t c = 0;
        while (c < t->n_cols && strcmp(t->cols[c], col) != 0)
            c++;
        if (r < 0 || c == t->n_cols)
            continue;
        t->cell[(size_t)r * t->n_cols + c] = p->sum / (double)p->count;
        t->has[(size_t)r * t->n_cols + c] = 1;
    }
    free(key);
    return 0;
}

int
table_build(const struct table_input *rows, size_t n, const struct table_opts *opts,
            struct table **out, struct sieve_errbuf *err)
{
    struct table_opts none = {0};
    struct build b = {0};
    const struct table_opts *o = opts ? opts : &none;
    const char *metric = pick_metric(rows, n, o->metric);
    struct table *t;
    int rc;
    *out = NULL;
    if (!metric)
        return sieve_errbuf_set(err, SIEVE_ENOENT, "no metric rows (the run has no metrics)");
    t = calloc(1, sizeof *t);
    if (!t || !(t->metric = strdup(metric))) {
        free(t);
        return sieve_errbuf_set(err, SIEVE_ENOMEM, "table: out of memory");
    }
    rc = collect(rows, n, metric, &b, err);
    if (rc == 0)
        rc = layout(t, &b, o, err);
    if (rc == SIEVE_ENOMEM)
        sieve_errbuf_set(err, rc, "table: out of memory");
    build_release(&b);
    if (rc < 0) {
        table_free(t);
        return rc;
    }
    *out = t;
    return 0;
}

const char *
table_metric(const struct table *t)
{
    return t->metric;
}

void
table_free(struct table *t)
{
    if (!t)
        return;
    for (size_t r = 0; r < t->n_rows; r++)
        vals_free(t->rkeys[r], t->n_keys);
    free(t->rkeys);
    for (size_t i = 0; i < t->n_keys; i++)
        free(t->keys[i]);
    free(t->keys);
    for (size_t i = 0; i < t->n_cols; i++)
        free(t->cols[i]);
    free(t->cols);
    free(t->cell);
    free(t->has);
    free(t->metric);
    free(t);
}
