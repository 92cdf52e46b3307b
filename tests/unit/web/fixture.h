/*
 * fixture.h - a temporary store for the web tests: two runs of a two-node pipeline recorded
 * through the store API (tasks in several states, metric rows, events, a device, a task
 * log) and two artifacts, a decode-like bundle (frames U8 [4, 56, 84, 3]) and a
 * prune-visual-like one (mask BOOL [2, 2, 3]), indexed as the scheduler would.
 */
#ifndef SIEVE_TESTS_WEB_FIXTURE_H
#define SIEVE_TESTS_WEB_FIXTURE_H

#include <stdint.h>

struct store;

struct fixture {
    char dir[64];
    struct store *st;
    int64_t run1, run2; /* run2 is the newer: "sweep-b", done */
    char frames_key[65], mask_key[65];
};

/* Fills f or fails the test. */
void fixture_make(struct fixture *f);
/* Closes the store and removes the directory. */
void fixture_free(struct fixture *f);

#endif
