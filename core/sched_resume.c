/*
 * sched_resume.c - what a resumed run does before scheduling: adopt outputs that a worker
 * finished writing but a killed scheduler never indexed.
 *
 * bundle_write renames a complete file into place, so an object at its final path is whole.
 * Such an orphan is validated (bundle_read checks every header field), hashed and indexed
 * with its metric rows, and its task counts as done: the work is not thrown away just because
 * the scheduler died between the worker's rename and its own index transaction.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "core/base/bundle.h"
#include "core/host.h"
#include "core/plan.h"
#include "core/sched_int.h"
#include "store/store.h"

static void
metrics_rows(struct sched *s, uint32_t t, const char *json)
{
    const struct plan_task *pt = &s->p->tasks[t];
    const struct plan_node *n = &s->p->nodes[pt->node];
    json_error_t jerr;
    json_t *a = json_loads(json, 0, &jerr);
    size_t i, k = 0;
    json_t *e;
    struct store_metric *rows = calloc(json_array_size(a) + 1, sizeof *rows);
    struct sieve_errbuf err;
    json_array_foreach(a, i, e)
    {
        json_t *m = json_object_get(e, "metric"), *c = json_object_get(e, "category");
        json_t *v = json_object_get(e, "value"), *smp = json_object_get(e, "sample");
        if (!rows || !json_is_string(m) || !json_is_number(v))
            continue;
        rows[k++] = (struct store_metric){
            .run = s->o->run,
            .node = n->name,
            .variant = n->variants[pt->variant].label,
            .sample = json_is_string(smp) ? json_string_value(smp) : NULL,
            .category = json_is_string(c) ? json_string_value(c) : "all",
            .metric = json_string_value(m),
            .value = json_number_value(v),
        };
    }
    if (k)
        store_metrics_insert(s->st, rows, k, &err);
    free(rows);
    json_decref(a);
}

/* Returns 1 when every output of task t was on disk, valid, and is now indexed. */
int
sched_resume_adopt(struct sched *s, uint32_t t)
{
    const struct plan_task *pt = &s->p->tasks[t];
    const struct plan_node *n = &s->p->nodes[pt->node];
    char hex[PLAN_KEY_HEX], path[STORE_PATH_MAX], sum[STORE_HEX];
    struct sieve_errbuf err;
    struct stat sb;

    for (uint32_t i = 0; i < n->n_outputs; i++) {
        plan_artifact_hex(s->p, t, i, hex);
        if (store_object_path(s->st, hex, path, sizeof path, 0) < 0 || stat(path, &sb) < 0)
            return 0;
    }
    sched_flush(s); /* the calls below run their own transactions */
    for (uint32_t i = 0; i < n->n_outputs; i++) {
        struct bundle *b;
        uint64_t bytes;
        plan_artifact_hex(s->p, t, i, hex);
        store_object_path(s->st, hex, path, sizeof path, 0);
        if (bundle_read(path, &b, &err) < 0)
            return 0;
        const char *metrics = bundle_meta_get(b, "sieve.metrics");
        if (metrics)
            metrics_rows(s, t, metrics);
        bundle_free(b);
        if (store_file_sha256(path, sum, &bytes, &err) < 0)
            return 0;
        struct store_artifact a = {.key = hex, .run = s->o->run, .checksum = sum, .bytes = bytes};
        if (store_artifact_index(s->st, &a, &err) < 0)
            return 0;
    }
    sched_store_update(s, t, "done", NULL, "", -1, -1);
    sched_event(s, t, "adopted", "output of task %u found complete on disk and indexed", t);
    return 1;
}
