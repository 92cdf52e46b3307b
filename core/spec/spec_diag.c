/*
 * spec_diag.c - diagnostics of the spec (collected, deduplicated, sorted by place) and the
 * small helpers the spec files share (suggestions, paths).
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "base/array.h"
#include "core/spec/spec.h"
#include "spec_int.h"

/* ---- small helpers shared by the spec files -------------------------------------------- */

size_t
spec_edit_distance(const char *a, const char *b, size_t cap)
{
    size_t la = strlen(a), lb = strlen(b), row[64], prev, tmp;

    if (lb >= 64 || la >= 64)
        return cap + 1;
    if ((la > lb ? la - lb : lb - la) > cap)
        return cap + 1;
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        prev = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t best = prev + (a[i - 1] != b[j - 1]);
            if (row[j] + 1 < best)
                best = row[j] + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            tmp = row[j];
            row[j] = best;
            prev = tmp;
        }
    }
    return row[lb] > cap ? cap + 1 : row[lb];
}

const char *
spec_suggest(const char *word, const char *const *names, size_t n)
{
    const char *best = NULL;
    size_t cap = strlen(word) <= 2 ? 1 : 2, best_d = cap + 1;
    for (size_t i = 0; i < n; i++) {
        size_t d = spec_edit_distance(word, names[i], cap);
        if (d < best_d) {
            best_d = d;
            best = names[i];
        }
    }
    return best;
}

char *
spec_dirname(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return strdup(".");
    if (slash == path)
        return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

char *
spec_path_join(const char *dir, const char *rel)
{
    struct sbuf b = {0};
    if (rel[0] == '/' || !strcmp(dir, "."))
        return strdup(rel);
    sbuf_str(&b, dir);
    sbuf_ch(&b, '/');
    sbuf_str(&b, rel);
    return sbuf_take(&b);
}

/* ---- diagnostics ----------------------------------------------------------------------- */

void
spec_diags_init(struct spec_diags *d)
{
    memset(d, 0, sizeof *d);
}

void
spec_diags_release(struct spec_diags *d)
{
    for (size_t i = 0; i < d->n; i++) {
        free(d->items[i].text);
        free(d->items[i].file);
    }
    free(d->items);
    memset(d, 0, sizeof *d);
}

void
spec_diags_add(struct spec_diags *d, int warning, const char *file, struct spec_mark mark,
               const char *fmt, ...)
{
    char msg[1024], where[600];
    struct sbuf b = {0};
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (mark.line && mark.col)
        snprintf(where, sizeof where, "%s:%u:%u: ", file, mark.line, mark.col);
    else if (mark.line)
        snprintf(where, sizeof where, "%s:%u: ", file, mark.line);
    else
        snprintf(where, sizeof where, "%s: ", file);
    sbuf_str(&b, where);
    if (warning)
        sbuf_str(&b, "warning: ");
    sbuf_str(&b, msg);
    /* The same problem found twice (an alias used in two places) is reported once. */
    for (size_t i = 0; i < d->n; i++)
        if (b.s && !strcmp(d->items[i].text, b.s)) {
            free(b.s);
            return;
        }
    if (array_grow(&d->items, &d->cap, d->n + 1, sizeof *d->items) < 0) {
        free(b.s);
        d->n_errors += !warning;
        return;
    }
    d->items[d->n].text = sbuf_take(&b);
    d->items[d->n].warning = warning;
    d->items[d->n].file = strdup(file);
    d->items[d->n].mark = mark;
    d->n++;
    d->n_errors += !warning;
}

static int
diag_before(const struct spec_diag *a, const struct spec_diag *b)
{
    int c = strcmp(a->file ? a->file : "", b->file ? b->file : "");
    if (c)
        return c < 0;
    if (a->mark.line != b->mark.line)
        return a->mark.line < b->mark.line;
    return a->mark.col < b->mark.col;
}

void
spec_diags_sort(struct spec_diags *d)
{
    /* insertion sort: stable, and lists are short */
    for (size_t i = 1; i < d->n; i++) {
        struct spec_diag x = d->items[i];
        size_t j = i;
        while (j > 0 && diag_before(&x, &d->items[j - 1])) {
            d->items[j] = d->items[j - 1];
            j--;
        }
        d->items[j] = x;
    }
}

void
spec_diags_print(const struct spec_diags *d, FILE *f)
{
    for (size_t i = 0; i < d->n; i++)
        if (d->items[i].text)
            fprintf(f, "%s\n", d->items[i].text);
}
