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

/*
 * Turns node n of the script bridge (`plugin: python`) into a node of its script: reads the
 * script's declaration (host_script_open) and points n->plugin at the synthesized plugin,
 * which the spec then owns (n->script_plugin). `script` becomes the pinned absolute target
 * (relative paths are relative to the pipeline file, as a glob is) and a relative `python`
 * path an absolute one. A problem in the script is reported at the script's file:line:col;
 * n->plugin is then NULL so that no second message follows from it.
 */
void spec_script_resolve(struct spec *s, struct spec_node *n, struct spec_diags *d);

#endif
