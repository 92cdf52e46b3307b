/*
 * golden.h - loads tests/fixtures/prune/: the inputs and golden kept rows that the numpy
 * reference (tests/reference/prune_ref.py) wrote, for the prune golden tests.
 *
 * golden.txt holds `input NAME vision|audio key=value...` lines, `case ID INPUT METHOD
 * key=value...` lines each followed by `rows K r0 r1 ...` and, for merging methods,
 * `tokens WIDTH` (the expected rows are then in ID.tok.f32 and ID.imp.f32). Inputs are raw
 * little-endian files NAME.x.f32, NAME.imp.f32 (and for vision NAME.ftype.u8,
 * NAME.motion.f32).
 */
#ifndef SIEVE_TEST_PRUNE_GOLDEN_H
#define SIEVE_TEST_PRUNE_GOLDEN_H

#include <stddef.h>
#include <stdint.h>

struct golden_input {
    char name[16];
    int vision;
    int64_t t, h, w, c, frames, mh, mw, n;
    int64_t kc; /* width of NAME.keys.f32 [n, kc], 0 when the input has no keys */
    float *x, *imp, *motion, *keys;
    uint8_t *ftype;
};

struct golden_case {
    char id[32], method[32];
    const struct golden_input *in;
    double keep, window, faithful, seed, dominant_ratio, motion_threshold, match_threshold;
    double segments, alpha;
    double dycoke_k;             /* DyCoke's own ratio K; -1 when absent */
    double keys;                 /* visionzip: 1 to measure similarity on the input's keys */
    double dominant, contextual; /* visionzip faithful: the official counts */
    double plain;                /* segment-topk: 1 for the paper's plain floor(K/S) per segment */
    size_t k;
    int64_t *rows;
    int64_t width; /* 0 when the case has no expected tokens */
};

struct golden {
    struct golden_input in[8];
    size_t n_in;
    struct golden_case *cases;
    size_t n_cases;
};

/* Loads every input and case; returns 0 or -1 (with a message on stderr). */
int golden_load(const char *dir, struct golden *g);
void golden_release(struct golden *g);
/* Reads exactly `count` floats from DIR/NAME; NULL (and a message) when the size differs. */
float *golden_read_f32(const char *dir, const char *name, size_t count);

#endif
