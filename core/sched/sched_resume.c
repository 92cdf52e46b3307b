/*
 * sched_resume.c - what a resumed run does before scheduling: adopt outputs that a worker
 * finished writing but a killed scheduler never indexed.
 *
 * An object at its final path is not trusted to be whole: in batch durability the worker
 * renames it into place without fsync, so a power loss can leave the name pointing at a
 * truncated or zero-filled file. The worker embeds the sha256 of the data section in the
 * header (sieve.data_sha256); an orphan is adopted only when its header is valid and its data
 * matches that hash. A torn orphan is removed and its task recomputed. An orphan without the
 * hash (written by an older sieve) is adopted only in strict durability, where every object
 * was fsync'd before its rename. An adopted orphan is hashed and indexed with its metric rows
 * through the same batch write as a finished task (which syncs it first in batch mode), and
 * its task counts as done: the work is not thrown away just because the scheduler died
 * between the worker's rename and its own index transaction.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/bundle.h"
#include "base/clock.h"
#include "base/hash.h"
#include "core/host/host.h"
#include "core/plan/plan.h"
#include "sched_int.h"
#include "store/store.h"
#include "store/store_sched.h"

/* The first `sieve.metrics` of a task's outputs, as the worker would have reported it. */
static char *
metrics_of(struct bundle *b, char *have)
{
    const char *m = bundle_meta_get(b, "sieve.metrics");
    return have || !m ? have : strdup(m);
}

/* Returns 1 when every output of task t was on disk, valid, and is now indexed. */
int
sched_resume_adopt(struct sched *s, uint32_t t)
{
    const struct srun *r = sched_task_run(s, t);
    const struct plan_node *n = sched_pnode(s, t);
    char keys[SCHED_OUTPUTS_MAX][HASH_HEX_LEN], sums[SCHED_OUTPUTS_MAX][HASH_HEX_LEN];
    char path[STORE_PATH_MAX];
    struct store_artifact arts[SCHED_OUTPUTS_MAX];
    struct sched_metrics m = {0};
    struct sieve_errbuf err;
    struct stat sb;
    char *metrics = NULL;
    uint32_t n_out = n->n_outputs < SCHED_OUTPUTS_MAX ? n->n_outputs : SCHED_OUTPUTS_MAX;
    int ok = 0;

    for (uint32_t i = 0; i < n_out; i++) {
        plan_artifact_hex(r->p, t - r->first, i, keys[i]);
        if (store_object_path(s->st, keys[i], path, sizeof path, 0) < 0 || stat(path, &sb) < 0)
            return 0;
    }
    for (uint32_t i = 0; i < n_out; i++) {
        struct bundle *b;
        int whole;
        store_object_path(s->st, keys[i], path, sizeof path, 0);
        whole = bundle_file_check(path, &err);
        if (whole < 0 && whole != SIEVE_ENOMEM) {
            sched_event(s, t, "torn", "output of task %u is not whole (%s): removed, recomputed",
                        t - r->first, err.msg);
            unlink(path);
            goto out;
        }
        if (whole == 0 && !s->o->strict)
            goto out; /* unverifiable, and maybe never synced: recompute */
        if (whole < 0 || bundle_read(path, &b, &err) < 0)
            goto out;
        metrics = metrics_of(b, metrics);
        bundle_free(b);
        arts[i] = (struct store_artifact){.key = keys[i], .run = r->id, .checksum = sums[i]};
        if (store_file_sha256(path, sums[i], &arts[i].bytes, &err) < 0)
            goto out;
    }
    /* The same index write as a task the worker reports done. */
    if (sched_metrics_parse(s, t, metrics, &m) < 0 ||
        store_batch_task_done(s->batch, r->id, t - r->first, s->t[t].attempts, clock_wall_ms(),
                              arts, n_out, m.rows, m.n, &err) < 0)
        goto out;
    sched_event(s, t, "adopted", "output of task %u found complete on disk and indexed",
                t - r->first);
    ok = 1;
out:
    sched_metrics_release(&m);
    free(metrics);
    return ok;
}
