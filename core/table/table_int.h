/*
 * table_int.h - the table's layout, shared by the builder (table.c) and the writers
 * (table_format.c). Private to core.
 */
#ifndef SIEVE_CORE_TABLE_INT_H
#define SIEVE_CORE_TABLE_INT_H

#include <stddef.h>

#define AVG_LABEL "Avg"
#define ALL_CATEGORY "all"

/* A value of a matrix variable as written in the label. */
struct table_val {
    char *text; /* NULL when the variant does not use the variable */
    int number;
    double num;
};

struct table {
    char *metric;
    size_t n_keys, n_cols, n_rows;
    char **keys;              /* [n_keys] names of the row-key columns */
    char **cols;              /* [n_cols] value column headers */
    struct table_val **rkeys; /* [n_rows][n_keys] */
    double *cell;             /* [n_rows * n_cols] */
    unsigned char *has;       /* [n_rows * n_cols] */
};

#endif
