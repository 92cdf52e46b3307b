/*
 * spec_int.h - private to the spec files (spec.c, spec_dataset.c, spec_check.c).
 */
#ifndef SIEVE_CORE_SPEC_INT_H
#define SIEVE_CORE_SPEC_INT_H

#include <stddef.h>

#include "base/sbuf.h"
#include "core/spec/spec.h"

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
