/*
 * rows.h - metric rows in the `sieve.metrics` metadata convention: a JSON array of
 * {"metric": "...", "category": "...", "value": 0.93, "sample": "..."} objects, which the
 * scheduler copies into the store's metrics table and `sieve table` reads back.
 *
 * Usage:
 *     struct rows r;
 *     rows_init(&r);
 *     rows_add(&r, "retention", "Music", 0.93, "clip01");   // sample may be NULL
 *     char *json = rows_finish(&r);   // "[{...}]"; NULL on out-of-memory
 *     free(json);
 */
#ifndef SIEVE_EVAL_ROWS_H
#define SIEVE_EVAL_ROWS_H

#include <stdio.h>

struct rows {
    FILE *f;
    char *buf;
    size_t len;
    int n;
};

/* Returns: 0, or -1 when the buffer cannot be created. */
int rows_init(struct rows *r);

/* Appends one row; a value that is not finite is written as null. */
void rows_add(struct rows *r, const char *metric, const char *category, double value,
              const char *sample);

/* Closes the array and returns it. Ownership: the caller frees the string. */
char *rows_finish(struct rows *r);

#endif
