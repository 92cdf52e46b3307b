/*
 * spec_int.h - private to the spec files (spec.c, spec_dataset.c, spec_check.c).
 */
#ifndef SIEVE_CORE_SPEC_INT_H
#define SIEVE_CORE_SPEC_INT_H

#include <stddef.h>

#include "core/spec.h"

/* A growable byte string; `s` is always NUL-terminated once anything was added. */
struct sbuf {
    char *s;
    size_t len, cap;
    int oom;
};
void sbuf_add(struct sbuf *b, const char *s, size_t len);
void sbuf_str(struct sbuf *b, const char *s);
void sbuf_ch(struct sbuf *b, char c);
/* Appends `s` as a double-quoted YAML/JSON string with \" \\ \n \t \r escapes. */
void sbuf_quoted(struct sbuf *b, const char *s);
/* Takes the string out of the buffer (NULL on no memory). */
char *sbuf_take(struct sbuf *b);

/* Edit distance, capped: returns at most `cap` + 1. */
size_t spec_edit_distance(const char *a, const char *b, size_t cap);
/* The closest of `names` to `word` within a small distance, or NULL. */
const char *spec_suggest(const char *word, const char *const *names, size_t n);

/* The directory part of `path` ("." when none); malloc'd. */
char *spec_dirname(const char *path);
/* `rel` joined to `dir` unless absolute; malloc'd. */
char *spec_path_join(const char *dir, const char *rel);

/* Loads the dataset (manifest or glob) into s->samples, adding manifest diagnostics. */
int spec_dataset_load(struct spec *s, const char *base_dir, struct spec_mark mark,
                      struct spec_diags *d);

#endif
