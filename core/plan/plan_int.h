/*
 * plan_int.h - private to core/plan: what the key computation and the recorded components
 * share.
 */
#ifndef SIEVE_CORE_PLAN_INT_H
#define SIEVE_CORE_PLAN_INT_H

#include <sieve/plugin.h>

/*
 * The row fields plugin `d` reads for sample `smp`, as canonical JSON (compact, sorted keys,
 * ASCII): {"id": ..., field: value, ...}, a field the row lacks left out. NULL when the plugin
 * declares no row fields (and on out of memory: the caller tells them apart by d->row_fields).
 * This text is what the task key hashes and what `sieve explain` compares.
 * Ownership: free().
 */
char *plan_row_text(const struct sieve_plugin *d, const struct sieve_sample *smp);

#endif
