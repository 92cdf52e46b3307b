/*
 * store_sched.h - batched index writes for the scheduler.
 *
 * At thousands of tasks per second one transaction (and one SQL parse) per task state change
 * costs more than the tasks. The scheduler instead queues its task updates in a struct
 * store_batch and commits them together, with reused prepared statements, in one short
 * transaction every few hundred milliseconds and before any other store call. Each finish is
 * still atomic on its own (a savepoint). A crash loses at most the writes since the last
 * commit: the objects those rows pointed at are complete files on disk (written tmp + fsync +
 * rename by the worker), which `sieve resume` adopts; the index never points at a missing or
 * partial object. The write lock is held only while committing, so other writers (`sieve
 * cancel`) are not starved.
 *
 * Usage:
 *     struct store_batch *b;
 *     store_batch_new(st, &b, &err);
 *     struct store_task_update u = {.state = STORE_TASK_RUNNING, .attempts = 1,
 *                                   .device = "fake:1", .started_ms = -1, .finished_ms = -1};
 *     store_batch_task_update(b, run, idx, &u, &err);
 *     store_batch_task_done(b, run, idx, attempts, now, arts, n, rows, m, &err);
 *     store_batch_commit(b, &err);   // every 500 ms; no-op when nothing is queued
 *     store_batch_free(b);           // commits what is pending
 */
#ifndef SIEVE_STORE_STORE_SCHED_H
#define SIEVE_STORE_STORE_SCHED_H

#include "store/store.h"

struct store_batch;

/* With `sync_objects`, every commit that indexes artifacts first makes the store's file system
 * durable with one syncfs (sync() where syncfs is missing): for objects written without fsync. */
void store_batch_set_sync(struct store_batch *b, int sync_objects);

/* An empty batch (its writes use the store's kept statements). Errors: SIEVE_ENOMEM.
 * Ownership: store_batch_free. */
int store_batch_new(struct store *st, struct store_batch **out, struct sieve_errbuf *err);

/* Commits pending writes and frees the statements; accepts NULL. */
void store_batch_free(struct store_batch *b);

/* Applies the queued writes in one transaction (nothing to do: 0). Errors: SIEVE_ESTORE when
 * the transaction cannot start (the queue is kept for the next try) or a row fails (the
 * others are still written; err names the first). Thread: the owner's (store_batch_detach,
 * then store_batch_commit_detached). */
int store_batch_commit(struct store_batch *b, struct sieve_errbuf *err);

/*
 * The two halves of a commit, so that the slow half (syncfs, the transaction) can run off the
 * scheduler's loop thread. store_batch_detach moves the queued writes aside and returns how
 * many are detached (writes a failed commit left are kept, in order). Then
 * store_batch_commit_detached applies exactly those, with the same errors as
 * store_batch_commit, while the owner keeps queueing new writes.
 * Thread: detach and queueing on the owner's thread; commit_detached on one thread at a time,
 * with no detach in between, and with the batch's store handle used by no other thread
 * meanwhile (give the batch a store handle of its own, store_open on the same directory).
 */
size_t store_batch_detach(struct store_batch *b);
int store_batch_commit_detached(struct store_batch *b, struct sieve_errbuf *err);

/* Queues a task update (state, attempts, device, error, times); strings are copied. */
int store_batch_task_update(struct store_batch *b, int64_t run, uint32_t idx,
                            const struct store_task_update *u, struct sieve_errbuf *err);

/*
 * Queues a finished task: at commit, its artifacts are indexed with the checksums and sizes
 * its worker reported (no re-read), its metric rows inserted and it is set done, all or
 * nothing. Strings are copied.
 */
int store_batch_task_done(struct store_batch *b, int64_t run, uint32_t idx, int attempts,
                          int64_t finished_ms, const struct store_artifact *arts, size_t n_arts,
                          const struct store_metric *metrics, size_t n_metrics,
                          struct sieve_errbuf *err);

#endif
