/*
 * golden.c - the fixture loader described in golden.h.
 */
#include "golden.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *
read_exact(const char *dir, const char *name, size_t bytes)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "open '%s' failed\n", path);
        return NULL;
    }
    char *buf = malloc(bytes + 1);
    size_t got = buf ? fread(buf, 1, bytes + 1, f) : 0;
    fclose(f);
    if (got != bytes) {
        fprintf(stderr, "read '%s': %zu bytes, expected %zu\n", path, got, bytes);
        free(buf);
        return NULL;
    }
    return buf;
}

float *
golden_read_f32(const char *dir, const char *name, size_t count)
{
    return read_exact(dir, name, count * sizeof(float));
}

/* Reads `key=value` from a space-separated line; returns the default when absent. */
static double
field(const char *line, const char *key, double def)
{
    char pat[64];
    snprintf(pat, sizeof pat, " %s=", key);
    const char *p = strstr(line, pat);
    return p ? strtod(p + strlen(pat), NULL) : def;
}

static int
load_input(const char *dir, const char *line, struct golden_input *in)
{
    char kind[16];
    if (sscanf(line, "input %15s %15s", in->name, kind) != 2)
        return -1;
    in->vision = strcmp(kind, "vision") == 0;
    in->t = (int64_t)field(line, "t", 0);
    in->h = (int64_t)field(line, "h", 0);
    in->w = (int64_t)field(line, "w", 0);
    in->c = (int64_t)field(line, "c", 0);
    in->frames = (int64_t)field(line, "frames", 0);
    in->mh = (int64_t)field(line, "mh", 0);
    in->mw = (int64_t)field(line, "mw", 0);
    in->n = in->vision ? in->t * in->h * in->w : (int64_t)field(line, "n", 0);
    in->kc = (int64_t)field(line, "kc", 0);
    char name[64];
    snprintf(name, sizeof name, "%s.x.f32", in->name);
    in->x = golden_read_f32(dir, name, (size_t)(in->n * in->c));
    snprintf(name, sizeof name, "%s.imp.f32", in->name);
    in->imp = golden_read_f32(dir, name, (size_t)in->n);
    if (!in->x || !in->imp)
        return -1;
    if (in->vision) {
        snprintf(name, sizeof name, "%s.motion.f32", in->name);
        in->motion = golden_read_f32(dir, name, (size_t)(in->frames * in->mh * in->mw));
        snprintf(name, sizeof name, "%s.ftype.u8", in->name);
        in->ftype = read_exact(dir, name, (size_t)in->frames);
        if (!in->motion || !in->ftype)
            return -1;
    }
    if (in->kc > 0) {
        snprintf(name, sizeof name, "%s.keys.f32", in->name);
        if (!(in->keys = golden_read_f32(dir, name, (size_t)(in->n * in->kc))))
            return -1;
    }
    return 0;
}

static int
load_rows(const char *line, struct golden_case *c)
{
    char *end;
    const char *p = line + 4;
    c->k = (size_t)strtoull(p, &end, 10);
    c->rows = malloc((c->k + 1) * sizeof *c->rows);
    if (!c->rows)
        return -1;
    for (size_t i = 0; i < c->k; i++) {
        p = end;
        c->rows[i] = strtoll(p, &end, 10);
        if (end == p)
            return -1;
    }
    return 0;
}

int
golden_load(const char *dir, struct golden *g)
{
    memset(g, 0, sizeof *g);
    char path[1024];
    snprintf(path, sizeof path, "%s/golden.txt", dir);
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "open '%s' failed\n", path);
        return -1;
    }
    char *line = NULL;
    size_t cap = 0, cap_cases = 0;
    int rc = 0;
    struct golden_case *cur = NULL;
    while (rc == 0 && getline(&line, &cap, f) > 0) {
        if (strncmp(line, "input ", 6) == 0) {
            if (g->n_in == sizeof g->in / sizeof g->in[0])
                rc = -1;
            else
                rc = load_input(dir, line, &g->in[g->n_in++]);
        } else if (strncmp(line, "case ", 5) == 0) {
            if (g->n_cases == cap_cases) {
                cap_cases = cap_cases ? 2 * cap_cases : 64;
                struct golden_case *nc = realloc(g->cases, cap_cases * sizeof *nc);
                if (!nc) {
                    rc = -1;
                    break;
                }
                g->cases = nc;
            }
            cur = &g->cases[g->n_cases++];
            memset(cur, 0, sizeof *cur);
            char input[16];
            if (sscanf(line, "case %31s %15s %31s", cur->id, input, cur->method) != 3) {
                rc = -1;
                break;
            }
            for (size_t i = 0; i < g->n_in; i++)
                if (strcmp(g->in[i].name, input) == 0)
                    cur->in = &g->in[i];
            cur->keep = field(line, "keep", 0.5);
            cur->window = field(line, "window", 4);
            cur->faithful = field(line, "faithful", 0);
            cur->seed = field(line, "seed", 0);
            cur->dominant_ratio = field(line, "dominant_ratio", 0.84375);
            cur->motion_threshold = field(line, "motion_threshold", 0.5);
            cur->match_threshold = field(line, "match_threshold", 0.9);
            cur->segments = field(line, "segments", 10);
            cur->alpha = field(line, "alpha", 1.0);
            cur->dycoke_k = field(line, "dycoke_k", -1.0);
            cur->plain = field(line, "plain", 0);
            cur->keys = field(line, "keys", 0);
            cur->dominant = field(line, "dominant", 54);
            cur->contextual = field(line, "contextual", 10);
            if (!cur->in)
                rc = -1;
        } else if (strncmp(line, "rows ", 5) == 0 && cur) {
            rc = load_rows(line, cur);
        } else if (strncmp(line, "tokens ", 7) == 0 && cur) {
            cur->width = strtoll(line + 7, NULL, 10);
        }
    }
    free(line);
    fclose(f);
    if (rc < 0)
        fprintf(stderr, "parse '%s' failed\n", path);
    return rc;
}

void
golden_release(struct golden *g)
{
    for (size_t i = 0; i < g->n_in; i++) {
        free(g->in[i].x);
        free(g->in[i].imp);
        free(g->in[i].motion);
        free(g->in[i].ftype);
        free(g->in[i].keys);
    }
    for (size_t i = 0; i < g->n_cases; i++)
        free(g->cases[i].rows);
    free(g->cases);
    memset(g, 0, sizeof *g);
}
