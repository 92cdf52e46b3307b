/*
 * plan_run.c - what `sieve run` shares between its dry and real paths: load, override,
 * validate, plan, look up; and the plan's rows in the store (with their key components for
 * `sieve explain`).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "base/hash.h"
#include "core/host/host.h"
#include "core/plan/plan.h"
#include "base/sbuf.h"
#include "plan_int.h"
#include "store/store.h"

char *
plan_task_components(const struct plan *p, uint32_t t)
{
    const struct plan_task *task = &p->tasks[t];
    const struct plan_node *n = &p->nodes[task->node];
    const struct sieve_plugin *d = n->plugin->desc;
    struct sbuf b = {0};
    char num[32], hex[HASH_HEX_LEN];

    sbuf_str(&b, "{\"schema\":");
    snprintf(num, sizeof num, "%u", PLAN_KEY_SCHEMA);
    sbuf_str(&b, num);
    sbuf_str(&b, ",\"plugin\":");
    sbuf_quoted(&b, d->name);
    sbuf_str(&b, ",\"version\":");
    sbuf_quoted(&b, d->version);
    snprintf(num, sizeof num, ",\"abi\":%u", d->abi_major);
    sbuf_str(&b, num);
    sbuf_str(&b, ",\"params\":");
    /* What the key hashed, so `sieve explain` never blames a parameter the key leaves out. */
    sbuf_str(&b, n->variants[task->variant].key_params);
    if (n->n_inputs == 0 && task->sample >= 0) {
        sbuf_str(&b, ",\"media\":");
        sbuf_quoted(&b, p->media_hex[task->sample]);
    }
    if (task->sample >= 0) {
        char *row = plan_row_text(d, &p->samples[task->sample]);
        if (row) {
            sbuf_str(&b, ",\"row\":");
            sbuf_str(&b, row);
            free(row);
        }
    }
    sbuf_str(&b, ",\"inputs\":[");
    for (uint32_t k = 0; k < task->n_deps; k++) {
        const struct plan_dep *dep = &task->deps[k];
        uint32_t port = k % (n->n_inputs ? n->n_inputs : 1);
        if (k)
            sbuf_ch(&b, ',');
        sbuf_str(&b, "{\"port\":");
        sbuf_quoted(&b, d->inputs[port].name);
        if (dep->task != PLAN_NONE) {
            const struct plan_task *src = &p->tasks[dep->task];
            sbuf_str(&b, ",\"node\":");
            sbuf_quoted(&b, p->nodes[src->node].name);
            if (src->sample >= 0) {
                sbuf_str(&b, ",\"sample\":");
                sbuf_quoted(&b, p->samples[src->sample].id);
            }
            hash_hex(src->out_keys[dep->port], hex);
            sbuf_str(&b, ",\"key\":");
            sbuf_quoted(&b, hex);
        }
        sbuf_ch(&b, '}');
    }
    sbuf_str(&b, "]}");
    return sbuf_take(&b);
}

int
plan_store_tasks(const struct plan *p, struct store *st, int64_t run, struct sieve_errbuf *err)
{
    struct store_task *rows;
    char **comps;
    char(*hex)[HASH_HEX_LEN];
    const char **keys, **in_keys;
    uint64_t n_keys = 0, n_in = 0, k = 0, ki = 0;
    int rc = 0;

    for (uint32_t t = 0; t < p->n_tasks; t++) {
        n_keys += p->nodes[p->tasks[t].node].n_outputs;
        n_in += p->tasks[t].n_deps;
    }
    rows = calloc(p->n_tasks ? p->n_tasks : 1, sizeof *rows);
    comps = calloc(p->n_tasks ? p->n_tasks : 1, sizeof *comps);
    hex = calloc(n_keys ? n_keys : 1, sizeof *hex);
    keys = calloc(n_keys ? n_keys : 1, sizeof *keys);
    in_keys = calloc(n_in ? n_in : 1, sizeof *in_keys);
    if (!rows || !comps || !hex || !keys || !in_keys) {
        rc = sieve_errbuf_set(err, SIEVE_ENOMEM, "store plan: out of memory");
        goto out;
    }
    for (uint32_t t = 0; t < p->n_tasks; t++) {
        const struct plan_task *task = &p->tasks[t];
        const struct plan_node *n = &p->nodes[task->node];
        struct store_task *r = &rows[t];

        comps[t] = plan_task_components(p, t);
        r->run = run;
        r->idx = t;
        r->node = n->name;
        r->sample_index = task->sample;
        r->sample = task->sample >= 0 ? p->samples[task->sample].id : NULL;
        r->variant = task->variant;
        r->variant_label = n->variants[task->variant].label;
        r->key = task->key_hex;
        r->components = comps[t];
        r->state = task->cached ? STORE_TASK_CACHED : STORE_TASK_PENDING;
        r->out_keys = &keys[k];
        r->n_out = n->n_outputs;
        for (uint32_t o = 0; o < n->n_outputs; o++, k++) {
            hash_hex(task->out_keys[o], hex[k]);
            keys[k] = hex[k];
        }
    }
    /* Inputs point at the hex of their producer's outputs, written above (deps come first in
     * task order, but any order works once all are written). */
    for (uint32_t t = 0; t < p->n_tasks; t++) {
        const struct plan_task *task = &p->tasks[t];
        rows[t].in_keys = &in_keys[ki];
        for (uint32_t d = 0; d < task->n_deps; d++) {
            const struct plan_dep *dep = &task->deps[d];
            if (dep->task == PLAN_NONE)
                continue;
            in_keys[ki++] = rows[dep->task].out_keys[dep->port];
            rows[t].n_in++;
        }
    }
    rc = store_tasks_insert(st, run, rows, p->n_tasks, err);
out:
    for (uint32_t t = 0; comps && t < p->n_tasks; t++)
        free(comps[t]);
    free(comps);
    free(rows);
    free(hex);
    free(keys);
    free(in_keys);
    return rc;
}

int
plan_prepare(const struct plan_opts *o, const struct host_registry *reg, struct store *st,
             struct plan **out, struct spec_diags *diags, struct sieve_errbuf *err)
{
    struct spec *s = NULL;
    double t0 = clock_mono_ms_f(), t1, t2, t3;
    int rc;

    *out = NULL;
    if (o->text)
        rc = spec_parse(o->path, o->text, strlen(o->text), &s, diags, err);
    else
        rc = spec_load(o->path, &s, diags, err);
    if (rc < 0 && rc != SIEVE_ESPEC) {
        spec_free(s);
        return rc;
    }
    for (size_t i = 0; s && i < o->n_sets; i++)
        if ((rc = spec_set(s, o->sets[i], err)) < 0) {
            spec_free(s);
            return rc;
        }
    /* Validate even after parse problems, so every problem is reported in one go. */
    if (s && spec_validate(s, reg, diags) < 0)
        rc = SIEVE_ESPEC;
    if (diags->n_errors) {
        spec_free(s);
        return sieve_errbuf_set(err, SIEVE_ESPEC, "'%s' has %zu error%s", o->path, diags->n_errors,
                                diags->n_errors == 1 ? "" : "s");
    }
    t1 = clock_mono_ms_f();
    if ((rc = plan_build(s, st, out, err)) < 0)
        return rc;
    t2 = clock_mono_ms_f();
    if (st && !o->no_lookup && (rc = plan_lookup(*out, st, err)) < 0) {
        plan_free(*out);
        *out = NULL;
        return rc;
    }
    t3 = clock_mono_ms_f();
    if (st && !o->no_lookup && o->verify &&
        (rc = plan_verify_inputs(*out, st, o->verify_cb, o->verify_arg, &(*out)->verify, err)) <
            0) {
        plan_free(*out);
        *out = NULL;
        return rc;
    }
    (*out)->ms_spec = t1 - t0;
    (*out)->ms_build = t2 - t1;
    (*out)->ms_lookup = t3 - t2;
    return 0;
}
