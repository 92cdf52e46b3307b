/*
 * rows.c - the `sieve.metrics` JSON rows (see rows.h).
 */
#include "rows.h"

#include <math.h>
#include <stdlib.h>

#include "../common/json_lite.h"

int
rows_init(struct rows *r)
{
    r->buf = NULL;
    r->len = 0;
    r->n = 0;
    r->f = open_memstream(&r->buf, &r->len);
    if (!r->f)
        return -1;
    fputc('[', r->f);
    return 0;
}

void
rows_add(struct rows *r, const char *metric, const char *category, double value, const char *sample)
{
    fputs(r->n++ ? ",{\"metric\":" : "{\"metric\":", r->f);
    json_write_string(r->f, metric);
    fputs(",\"category\":", r->f);
    json_write_string(r->f, category);
    /* 17 significant digits round-trip a double exactly. */
    if (isfinite(value))
        fprintf(r->f, ",\"value\":%.17g", value);
    else
        fputs(",\"value\":null", r->f);
    if (sample) {
        fputs(",\"sample\":", r->f);
        json_write_string(r->f, sample);
    }
    fputc('}', r->f);
}

char *
rows_finish(struct rows *r)
{
    fputc(']', r->f);
    if (fclose(r->f) != 0) {
        free(r->buf);
        return NULL;
    }
    r->f = NULL;
    return r->buf;
}
