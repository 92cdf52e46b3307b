/*
 * test_omnizip.c - fuse-bidirectional's mode omnizip against the numpy re-statement of the
 * official OmniZip code (tests/reference/omnizip_ref.py, fixtures in tests/fixtures/fuse/
 * omnizip), and the budget rules the comparison with omnizip_core.py turned up, by hand:
 * Python's half-to-even round, no rescaling with two windows or fewer, the first of tied
 * windows fixed, and f * int(P * (1 - rho)) tokens per window.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugins/fuse-bidirectional/fuse.h"
#include "plugins/fuse-bidirectional/omnizip.h"

#define DIR SIEVE_FIXTURES "/fuse/omnizip"

static float *
read_f32(const char *name, const char *ext, size_t count)
{
    char path[512];
    snprintf(path, sizeof path, DIR "/%s%s", name, ext);
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("open '%s' failed", path);
    float *buf = malloc(count * sizeof *buf + 4);
    assert_non_null(buf);
    size_t got = fread(buf, sizeof *buf, count + 1, f);
    fclose(f);
    if (got != count)
        fail_msg("read '%s': %zu floats, expected %zu", path, got, count);
    return buf;
}

static double
field(const char *line, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, " %s=", key);
    const char *p = strstr(line, pat);
    if (!p)
        fail_msg("no '%s' in '%s'", key, line);
    return strtod(p + strlen(pat), NULL);
}

static void
sides_free(struct av_tokens *s)
{
    free(s->tok);
    free(s->time);
    free(s->imp);
    free(s->t);
    free(s->y);
    free(s->x);
    free(s->full);
}

/* Runs one golden case through fuse_run and compares the kept order and values. */
static void
run_case(const char *line, const char *kept_line)
{
    char name[64], inputs[64];
    assert_int_equal(sscanf(line, "case %63s inputs=%63s", name, inputs), 2);
    int64_t groups = (int64_t)field(line, "groups"), gh = (int64_t)field(line, "gh");
    int64_t gw = (int64_t)field(line, "gw"), na = (int64_t)field(line, "na");
    int64_t c = (int64_t)field(line, "c"), p = gh * gw, nv = groups * p;
    struct av_tokens v, a;
    memset(&v, 0, sizeof v);
    memset(&a, 0, sizeof a);
    v.modality = AV_VIDEO;
    v.n = v.n_full = nv;
    v.c = c;
    v.gt = (int32_t)groups;
    v.gh = (int32_t)gh;
    v.gw = (int32_t)gw;
    v.tok = read_f32(inputs, ".v.f32", (size_t)(nv * c));
    v.time = calloc((size_t)nv, sizeof(float));
    v.imp = calloc((size_t)nv, sizeof(float));
    v.t = calloc((size_t)nv, sizeof(int32_t));
    v.y = calloc((size_t)nv, sizeof(int32_t));
    v.x = calloc((size_t)nv, sizeof(int32_t));
    v.full = calloc((size_t)nv, sizeof(int32_t));
    for (int64_t i = 0; i < nv; i++) {
        v.t[i] = (int32_t)(i / p);
        v.y[i] = (int32_t)(i % p / gw);
        v.x[i] = (int32_t)(i % gw);
        v.full[i] = (int32_t)i;
        v.time[i] = (float)v.t[i];
        v.imp[i] = 1.0f;
    }
    a.modality = AV_AUDIO;
    a.n = a.n_full = na;
    a.c = c;
    a.tok = read_f32(inputs, ".a.f32", (size_t)(na * c));
    a.imp = read_f32(inputs, ".imp.f32", (size_t)na);
    a.time = calloc((size_t)na, sizeof(float));
    a.t = calloc((size_t)na, sizeof(int32_t));
    a.y = calloc((size_t)na, sizeof(int32_t));
    a.x = calloc((size_t)na, sizeof(int32_t));
    a.full = calloc((size_t)na, sizeof(int32_t));
    for (int64_t i = 0; i < na; i++) {
        a.t[i] = a.full[i] = (int32_t)i;
        a.time[i] = (float)i / 25.0f;
    }

    struct fuse_params fp;
    struct fuse_result r;
    struct sieve_errbuf err;
    fuse_params_default(&fp);
    fp.mode = FUSE_OMNIZIP;
    fp.oz.rho_audio = field(line, "rho_audio");
    fp.oz.rho_video = field(line, "rho_video");
    fp.oz.contextual_ratio = field(line, "contextual_ratio");
    fp.oz.g = (int)field(line, "g");
    assert_int_equal(fuse_run(&fp, &v, &a, NULL, NULL, c, &r, &err), 0);

    char *end;
    int64_t m = strtoll(kept_line + 5, &end, 10);
    if (r.m != m)
        fail_msg("case %s: %lld tokens kept, reference %lld", name, (long long)r.m, (long long)m);
    float *want = read_f32(name, ".out.f32", (size_t)(m * c));
    for (int64_t i = 0; i < m; i++) {
        long mod = strtol(end, &end, 10);
        long src = strtol(end + 1, &end, 10);
        if (r.items[i].modality != mod || r.items[i].src != src)
            fail_msg("case %s: token %lld is %d:%lld, reference %ld:%ld", name, (long long)i,
                     r.items[i].modality, (long long)r.items[i].src, mod, src);
        for (int64_t k = 0; k < c; k++) {
            float g = r.tok[i * c + k], w = want[i * c + k];
            if (fabsf(g - w) > 1e-5f * (1.0f + fabsf(w)))
                fail_msg("case %s: token %lld value %lld is %.9g, reference %.9g", name,
                         (long long)i, (long long)k, g, w);
        }
    }
    print_message("%s: %lld of %lld tokens kept (%.4f)\n", name, (long long)m, (long long)(nv + na),
                  (double)m / (double)(nv + na));
    free(want);
    fuse_result_release(&r);
    sides_free(&v);
    sides_free(&a);
}

static void
test_omnizip__matches_reference(void **state)
{
    (void)state;
    FILE *f = fopen(DIR "/cases.txt", "r");
    assert_non_null(f);
    char *line = NULL, *kept = NULL, *case_line = NULL;
    size_t cap = 0, cap2 = 0;
    int cases = 0;
    while (getline(&line, &cap, f) > 0) {
        if (strncmp(line, "case ", 5) == 0) {
            free(case_line);
            case_line = strdup(line);
            assert_non_null(case_line);
        } else if (strncmp(line, "kept ", 5) == 0) {
            assert_non_null(case_line);
            if (cap2 < cap) {
                free(kept);
                kept = malloc(cap);
                cap2 = cap;
                assert_non_null(kept);
            }
            memcpy(kept, line, strlen(line) + 1);
            run_case(case_line, kept);
            cases++;
        }
    }
    free(line);
    free(kept);
    free(case_line);
    fclose(f);
    assert_true(cases >= 8);
}

/* Python's round: 12.5 -> 12 and 32.5 -> 32 (0.05 * 250 and 0.05 * 650 anchors), 3.5 -> 4. */
static void
test_omnizip__round_halves_to_even(void **state)
{
    (void)state;
    assert_int_equal(omnizip_round(0.05 * 250), 12);
    assert_int_equal(omnizip_round(0.05 * 650), 32);
    assert_int_equal(omnizip_round(32.5), 32);
    assert_int_equal(omnizip_round(3.5), 4);
    assert_int_equal(omnizip_round(2.5000001), 3);
    assert_int_equal(omnizip_round((1.0 - 0.3) * 250), 175);
    assert_int_equal(omnizip_round(0.0), 0);
}

/* Two windows or fewer keep the ratios the audio set: no rescaling toward rho_v. */
static void
test_omnizip__two_windows_are_not_rescaled(void **state)
{
    (void)state;
    struct omnizip_params p;
    omnizip_params_default(&p);
    double ret[2] = {0.8, 0.2}, ratio[2];
    int64_t size[2] = {288, 288};
    omnizip_ratios(&p, 2, ret, size, 0, 576, ratio);
    assert_true(ratio[0] == 0.75 + (0.35 - 0.75) * 0.8);
    assert_true(ratio[1] == 0.75 + (0.35 - 0.75) * 0.2);
}

/*
 * Windows tied for the smallest or largest ratio: the first of each stays fixed (Python's
 * list.index), the later tied ones are rescaled with the others.
 */
static void
test_omnizip__first_tied_window_stays_fixed(void **state)
{
    (void)state;
    struct omnizip_params p;
    omnizip_params_default(&p);
    /* Ratios 0.35, 0.71, 0.35, 0.71, 0.55 before rescaling. */
    double ret[5] = {1.0, 0.1, 1.0, 0.1, 0.5}, ratio[5];
    int64_t size[5] = {24, 24, 24, 24, 24};
    omnizip_ratios(&p, 5, ret, size, 0, 120, ratio);
    assert_true(ratio[0] == 0.35);
    assert_true(fabs(ratio[1] - 0.71) < 1e-15);
    assert_true(ratio[2] != 0.35); /* the second minimum is scaled up toward 0.6 */
    assert_true(ratio[3] != ratio[1]);
}

/* A window of f whole frames keeps f * int(P * (1 - rho)) tokens; a partial frame is dropped. */
static void
test_omnizip__window_keeps_frames_times_int(void **state)
{
    (void)state;
    int64_t p = 10, c = 3, n = 3 * p + 4;
    float *v = malloc((size_t)(n * c) * sizeof *v);
    unsigned char *keep = calloc((size_t)n, 1);
    assert_non_null(v);
    assert_non_null(keep);
    uint32_t s = 9;
    for (int64_t i = 0; i < n * c; i++) {
        s = s * 1664525u + 1013904223u;
        v[i] = (float)(s >> 8) / (float)(1u << 24) - 0.5f;
    }
    /* int(10 * (1 - 0.65)) = int(3.5) = 3 per frame, where round() would give 4. */
    assert_int_equal(omnizip_istc(v, n, p, c, 0.65, keep), 3 * 3);
    for (int64_t i = 3 * p; i < n; i++)
        assert_int_equal(keep[i], 0);
    memset(keep, 0, (size_t)n);
    assert_int_equal(omnizip_istc(v, p - 1, p, c, 0.65, keep), p - 1); /* under a frame: whole */
    free(keep);
    free(v);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_omnizip__matches_reference),
        cmocka_unit_test(test_omnizip__round_halves_to_even),
        cmocka_unit_test(test_omnizip__two_windows_are_not_rescaled),
        cmocka_unit_test(test_omnizip__first_tied_window_stays_fixed),
        cmocka_unit_test(test_omnizip__window_keeps_frames_times_int),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
