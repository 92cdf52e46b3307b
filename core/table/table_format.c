/*
 * table_format.c - writing a laid-out table as Markdown, CSV, JSON or LaTeX (see table.h).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/table/table.h"
#include "table_int.h"

/* Cells in text formats: four significant digits, enough to compare methods at a glance. */
static void
cell_text(const struct table *t, size_t r, size_t c, char *buf, size_t size, const char *missing)
{
    if (!t->has[r * t->n_cols + c])
        snprintf(buf, size, "%s", missing);
    else
        snprintf(buf, size, "%.4g", t->cell[r * t->n_cols + c]);
}

static const char *
key_text(const struct table *t, size_t r, size_t k)
{
    return t->rkeys[r][k].text ? t->rkeys[r][k].text : "";
}

static void
pad(FILE *f, const char *s, size_t width, int right)
{
    size_t n = strlen(s);
    if (right)
        fprintf(f, "%*s%s", (int)(width > n ? width - n : 0), "", s);
    else
        fprintf(f, "%s%*s", s, (int)(width > n ? width - n : 0), "");
}

static void
write_md(const struct table *t, FILE *f)
{
    size_t nc = t->n_keys + t->n_cols, w[256];
    char buf[64];
    if (nc > 256)
        nc = 256;
    for (size_t j = 0; j < nc; j++) {
        const char *h = j < t->n_keys ? t->keys[j] : t->cols[j - t->n_keys];
        w[j] = strlen(h) > 3 ? strlen(h) : 3;
        for (size_t r = 0; r < t->n_rows; r++) {
            if (j < t->n_keys) {
                size_t n = strlen(key_text(t, r, j));
                w[j] = n > w[j] ? n : w[j];
            } else {
                cell_text(t, r, j - t->n_keys, buf, sizeof buf, "-");
                w[j] = strlen(buf) > w[j] ? strlen(buf) : w[j];
            }
        }
    }
    for (size_t j = 0; j < nc; j++) {
        fputs("| ", f);
        pad(f, j < t->n_keys ? t->keys[j] : t->cols[j - t->n_keys], w[j], 0);
        fputc(' ', f);
    }
    fputs("|\n", f);
    for (size_t j = 0; j < nc; j++) {
        fputc('|', f);
        for (size_t k = 0; k < w[j] + 1; k++)
            fputc('-', f);
        fputc(j < t->n_keys ? '-' : ':', f); /* numbers right-aligned */
    }
    fputs("|\n", f);
    for (size_t r = 0; r < t->n_rows; r++) {
        for (size_t j = 0; j < nc; j++) {
            fputs("| ", f);
            if (j < t->n_keys) {
                pad(f, key_text(t, r, j), w[j], 0);
            } else {
                cell_text(t, r, j - t->n_keys, buf, sizeof buf, "-");
                pad(f, buf, w[j], 1);
            }
            fputc(' ', f);
        }
        fputs("|\n", f);
    }
}

static void
csv_field(FILE *f, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static void
write_csv(const struct table *t, FILE *f)
{
    char buf[64];
    for (size_t j = 0; j < t->n_keys + t->n_cols; j++) {
        if (j)
            fputc(',', f);
        csv_field(f, j < t->n_keys ? t->keys[j] : t->cols[j - t->n_keys]);
    }
    fputc('\n', f);
    for (size_t r = 0; r < t->n_rows; r++) {
        for (size_t j = 0; j < t->n_keys + t->n_cols; j++) {
            if (j)
                fputc(',', f);
            if (j < t->n_keys) {
                csv_field(f, key_text(t, r, j));
            } else if (t->has[r * t->n_cols + j - t->n_keys]) {
                /* CSV is for further processing: full precision. */
                snprintf(buf, sizeof buf, "%.17g", t->cell[r * t->n_cols + j - t->n_keys]);
                fputs(buf, f);
            }
        }
        fputc('\n', f);
    }
}

char *
table_json_dump(const struct table *t)
{
    json_t *root = json_object(), *keys = json_array(), *cols = json_array(), *rows = json_array();
    char *text = NULL;
    if (!root || !keys || !cols || !rows)
        goto out;
    json_object_set_new(root, "metric", json_string(t->metric));
    for (size_t k = 0; k < t->n_keys; k++)
        json_array_append_new(keys, json_string(t->keys[k]));
    for (size_t c = 0; c < t->n_cols; c++)
        json_array_append_new(cols, json_string(t->cols[c]));
    for (size_t r = 0; r < t->n_rows; r++) {
        json_t *row = json_object(), *vals = json_object();
        for (size_t k = 0; k < t->n_keys; k++) {
            const struct table_val *v = &t->rkeys[r][k];
            json_object_set_new(row, t->keys[k],
                                !v->text    ? json_null()
                                : v->number ? json_real(v->num)
                                            : json_string(v->text));
        }
        for (size_t c = 0; c < t->n_cols; c++)
            json_object_set_new(vals, t->cols[c],
                                t->has[r * t->n_cols + c] ? json_real(t->cell[r * t->n_cols + c])
                                                          : json_null());
        json_object_set_new(row, "values", vals);
        json_array_append_new(rows, row);
    }
    json_object_set(root, "keys", keys);
    json_object_set(root, "columns", cols);
    json_object_set(root, "rows", rows);
    text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
out:
    json_decref(keys);
    json_decref(cols);
    json_decref(rows);
    json_decref(root);
    return text;
}

static int
write_json(const struct table *t, FILE *f)
{
    char *text = table_json_dump(t);
    if (!text)
        return -1;
    fputs(text, f);
    fputc('\n', f);
    free(text);
    return 0;
}

static void
latex_text(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&':
        case '%':
        case '$':
        case '#':
        case '_':
        case '{':
        case '}':
            fprintf(f, "\\%c", *s);
            break;
        case '~':
            fputs("\\textasciitilde{}", f);
            break;
        case '^':
            fputs("\\textasciicircum{}", f);
            break;
        case '\\':
            fputs("\\textbackslash{}", f);
            break;
        default:
            fputc(*s, f);
        }
    }
}

static void
write_latex(const struct table *t, FILE *f)
{
    char buf[64];
    fputs("\\begin{tabular}{", f);
    for (size_t k = 0; k < t->n_keys; k++)
        fputc('l', f);
    if (t->n_keys)
        fputc('|', f);
    for (size_t c = 0; c < t->n_cols; c++)
        fputc('r', f);
    fputs("}\n\\hline\n", f);
    for (size_t j = 0; j < t->n_keys + t->n_cols; j++) {
        if (j)
            fputs(" & ", f);
        latex_text(f, j < t->n_keys ? t->keys[j] : t->cols[j - t->n_keys]);
    }
    fputs(" \\\\\n\\hline\n", f);
    for (size_t r = 0; r < t->n_rows; r++) {
        for (size_t j = 0; j < t->n_keys + t->n_cols; j++) {
            if (j)
                fputs(" & ", f);
            if (j < t->n_keys) {
                latex_text(f, key_text(t, r, j));
            } else {
                cell_text(t, r, j - t->n_keys, buf, sizeof buf, "--");
                fputs(buf, f);
            }
        }
        fputs(" \\\\\n", f);
    }
    fputs("\\hline\n\\end{tabular}\n", f);
}

int
table_write(const struct table *t, int format, FILE *f)
{
    int rc = 0;
    switch (format) {
    case TABLE_MD:
        write_md(t, f);
        break;
    case TABLE_CSV:
        write_csv(t, f);
        break;
    case TABLE_JSON:
        rc = write_json(t, f);
        break;
    case TABLE_LATEX:
        write_latex(t, f);
        break;
    default:
        return SIEVE_EINVAL;
    }
    return rc < 0 || ferror(f) ? SIEVE_EIO : 0;
}
