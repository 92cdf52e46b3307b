/*
 * plan.c - expansion of a validated spec into tasks, dependency wiring and cache keys.
 *
 * Everything here is linear in the size of the result: a task's position is computed from
 * (node, variant, sample) arithmetically (tasks of a node are variant-major, then sample), a
 * consumer variant maps to its producer's variant through a per-input table, dependents are
 * laid out as one compressed array, and keys are computed in one pass over the already
 * topological task array. Nothing searches.
 */
#include "core/plan/plan.h"

#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/hash.h"
#include "core/host/host.h"
#include "base/sbuf.h"
#include "plan_int.h"
#include "store/store.h"

void
plan_artifact_hex(const struct plan *p, uint32_t t, uint32_t port, char out[HASH_HEX_LEN])
{
    hash_hex(p->tasks[t].out_keys[port], out);
}

/* ---- variants -------------------------------------------------------------------------- */

/* Whether a matrix value is a JSON number as written (then the label keeps it a number). */
static int
is_json_number(const char *s)
{
    const char *p = s;
    if (*p == '-')
        p++;
    if (*p < '0' || *p > '9')
        return 0;
    if (*p == '0' && p[1] >= '0' && p[1] <= '9')
        return 0;
    while (*p >= '0' && *p <= '9')
        p++;
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9')
            return 0;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (*p < '0' || *p > '9')
            return 0;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    return *p == '\0';
}

static char *
variant_label(const struct spec *s, const int32_t *assign)
{
    struct sbuf b = {0};
    int first = 1;

    sbuf_ch(&b, '{');
    for (size_t i = 0; i < s->n_vars; i++) {
        const char *v;
        if (assign[i] < 0)
            continue;
        if (!first)
            sbuf_ch(&b, ',');
        first = 0;
        sbuf_quoted(&b, s->vars[i].name);
        sbuf_ch(&b, ':');
        v = s->vars[i].plain[assign[i]];
        if (is_json_number(v))
            sbuf_str(&b, v);
        else
            sbuf_quoted(&b, v);
    }
    sbuf_ch(&b, '}');
    return sbuf_take(&b);
}

/* Decodes variant `v` of a node into a full assignment (-1 for variables it does not use).
 * The last used variable varies fastest, so variants follow the matrix order. */
static void
variant_decode(const struct spec *s, uint64_t vars, uint32_t v, int32_t *assign)
{
    for (size_t i = s->n_vars; i-- > 0;) {
        if (!(vars & (1ull << i))) {
            assign[i] = -1;
            continue;
        }
        assign[i] = (int32_t)(v % s->vars[i].n_values);
        v /= (uint32_t)s->vars[i].n_values;
    }
}

static uint32_t
variant_encode(const struct spec *s, uint64_t vars, const int32_t *assign)
{
    uint32_t v = 0;
    for (size_t i = 0; i < s->n_vars; i++)
        if (vars & (1ull << i))
            v = v * (uint32_t)s->vars[i].n_values + (uint32_t)assign[i];
    return v;
}

/*
 * Rejects a SIEVE_PARAM_NO_KEY parameter whose value differs between the variants of a node:
 * the key leaves it out, so two such variants would share a key and one artifact. Only a
 * value that refers to a matrix variable can differ; the first variant is the reference.
 */
static int
check_no_key(const struct plan *p, const struct plan_node *pn, const struct spec_node *sn,
             struct sieve_errbuf *err)
{
    const struct sieve_plugin *d = pn->plugin->desc;

    for (size_t i = 0; i < sn->n_params; i++) {
        const struct spec_param *sp = &sn->params[i];
        int idx = host_plugin_param_index(pn->plugin, sp->name);
        char *first;
        int differs = 0;

        if (idx < 0 || !(d->params[idx].flags & SIEVE_PARAM_NO_KEY) || !sp->vars ||
            pn->n_variants < 2)
            continue;
        if (!(first = host_value_canonical(&pn->variants[0].params[idx])))
            return sieve_errbuf_set(err, SIEVE_ENOMEM, "plan: out of memory");
        for (uint32_t v = 1; v < pn->n_variants && !differs; v++) {
            char *other = host_value_canonical(&pn->variants[v].params[idx]);
            if (!other) {
                free(first);
                return sieve_errbuf_set(err, SIEVE_ENOMEM, "plan: out of memory");
            }
            differs = strcmp(first, other) != 0;
            free(other);
        }
        free(first);
        if (differs) {
            /* The place as spec diagnostics write it; a --set value names itself. */
            const char *file = sp->origin ? sp->origin : p->spec->path;
            char where[600];
            if (sp->mark.line && sp->mark.col)
                snprintf(where, sizeof where, "%s:%u:%u", file, sp->mark.line, sp->mark.col);
            else if (sp->mark.line)
                snprintf(where, sizeof where, "%s:%u", file, sp->mark.line);
            else
                snprintf(where, sizeof where, "%s", file);
            return sieve_errbuf_set(err, SIEVE_ESPEC,
                                    "%s: node '%s': parameter '%s' does not change results and "
                                    "is left out of the task key, so it cannot take matrix values",
                                    where, pn->name, sp->name);
        }
    }
    return 0;
}

static int
build_variants(struct plan *p, struct plan_node *pn, const struct spec_node *sn,
               struct sieve_errbuf *err)
{
    const struct spec *s = p->spec;
    uint64_t count = 1;
    const char **keys = NULL;
    char **texts = NULL;
    int rc = 0;

    for (size_t i = 0; i < s->n_vars; i++)
        if (pn->vars & (1ull << i))
            count *= s->vars[i].n_values;
    if (count > 1000000)
        return sieve_errbuf_set(err, SIEVE_ESPEC, "node '%s': %llu variants is too many", pn->name,
                                (unsigned long long)count);
    pn->n_variants = (uint32_t)count;
    pn->variants = calloc(count, sizeof *pn->variants);
    keys = calloc(sn->n_params + 1, sizeof *keys);
    texts = calloc(sn->n_params + 1, sizeof *texts);
    if (!pn->variants || !keys || !texts) {
        rc = sieve_errbuf_set(err, SIEVE_ENOMEM, "plan: out of memory");
        goto out;
    }
    for (uint32_t v = 0; v < pn->n_variants; v++) {
        struct plan_variant *pv = &pn->variants[v];
        if (!(pv->assign = calloc(s->n_vars + 1, sizeof *pv->assign))) {
            rc = sieve_errbuf_set(err, SIEVE_ENOMEM, "plan: out of memory");
            goto out;
        }
        variant_decode(s, pn->vars, v, pv->assign);
        pv->label = variant_label(s, pv->assign);
        for (size_t i = 0; i < sn->n_params; i++) {
            keys[i] = sn->params[i].name;
            texts[i] = spec_param_expand(s, &sn->params[i], pv->assign);
            if (!texts[i]) {
                rc = sieve_errbuf_set(err, SIEVE_ESPEC,
                                      "node '%s': parameter '%s': undefined "
                                      "variable",
                                      pn->name, sn->params[i].name);
                goto out;
            }
        }
        rc = host_params_build(pn->plugin, keys, (const char *const *)texts, sn->n_params,
                               &pv->params, err);
        for (size_t i = 0; i < sn->n_params; i++) {
            free(texts[i]);
            texts[i] = NULL;
        }
        if (rc < 0) {
            sieve_errbuf_prefix(err, SIEVE_ESPEC, "node '%s'", pn->name);
            rc = SIEVE_ESPEC;
            goto out;
        }
        pv->canonical = host_params_canonical(pn->plugin, pv->params);
        pv->key_params = host_params_key_text(pn->plugin, pv->params);
        if (!pv->label || !pv->canonical || !pv->key_params) {
            rc = sieve_errbuf_set(err, SIEVE_ENOMEM, "plan: out of memory");
            goto out;
        }
    }
    rc = check_no_key(p, pn, sn, err);
out:
    free(keys);
    free(texts);
    return rc;
}

/* ---- expansion ------------------------------------------------------------------------- */

static int
is_reduce(const struct plan_node *n)
{
    return (n->flags & SIEVE_PLUGIN_REDUCE) != 0;
}

static int
wire_nodes(struct plan *p, struct sieve_errbuf *err)
{
    const struct spec *s = p->spec;

    for (uint32_t k = 0; k < p->n_nodes; k++) {
        uint32_t i = p->node_order[k];
        const struct spec_node *sn = &s->nodes[i];
        struct plan_node *pn = &p->nodes[i];
        const struct sieve_plugin *d = sn->plugin->desc;

        pn->name = sn->name;
        pn->plugin = sn->plugin;
        pn->flags = d->flags;
        pn->n_inputs = d->n_inputs;
        pn->n_outputs = d->n_outputs;
        pn->gpu = sn->gpu >= 0                             ? sn->gpu
                  : s->def_gpu >= 0                        ? s->def_gpu
                  : (d->flags & SIEVE_PLUGIN_NEEDS_DEVICE) ? 1
                                                           : 0;
        pn->retries = sn->retries >= 0 ? sn->retries : s->def_retries >= 0 ? s->def_retries : 2;
        pn->timeout_s = sn->timeout_s >= 0      ? sn->timeout_s
                        : s->def_timeout_s >= 0 ? s->def_timeout_s
                                                : 0;
        pn->inputs = calloc(pn->n_inputs ? pn->n_inputs : 1, sizeof *pn->inputs);
        if (!pn->inputs)
            return sieve_errbuf_set(err, SIEVE_ENOMEM, "plan: out of memory");
        for (uint32_t j = 0; j < pn->n_inputs; j++)
            pn->inputs[j] = (struct plan_input){PLAN_NONE, 0};
        pn->vars = sn->vars;
        for (size_t j = 0; j < sn->n_inputs; j++) {
            const struct spec_input *in = &sn->inputs[j];
            pn->inputs[in->in_index] =
                (struct plan_input){(uint32_t)in->node_index, (uint32_t)in->out_index};
            /* producers come first in node_order, so their vars are final */
            pn->vars |= p->nodes[in->node_index].vars;
        }
    }
    return 0;
}

/* Index of the task (node, variant, sample). */
static uint32_t
task_at(const struct plan *p, const struct plan_node *n, uint32_t variant, uint32_t sample)
{
    if (is_reduce(n))
        return n->first_task + variant;
    return n->first_task + variant * p->n_samples + sample;
}

/*
 * Fills deps, n_wait and the dependents array. proj[j][v] is the producer variant of input
 * port j for consumer variant v; `dup[j]` says port j reads the same task as an earlier port.
 */
static int
wire_tasks(struct plan *p, struct sieve_errbuf *err)
{
    uint64_t n_deps = 0;
    uint32_t *count = NULL, *fill = NULL;
    uint32_t **proj = NULL;
    uint8_t *dup = NULL;
    struct plan_dep *dp;
    int rc = 0;

    for (uint32_t i = 0; i < p->n_nodes; i++) {
        const struct plan_node *n = &p->nodes[i];
        n_deps += (uint64_t)n->n_tasks * n->n_inputs * (is_reduce(n) ? p->n_samples : 1);
    }
    p->dep_pool = calloc(n_deps ? n_deps : 1, sizeof *p->dep_pool);
    count = calloc((size_t)p->n_tasks + 1, sizeof *count);
    fill = calloc((size_t)p->n_tasks + 1, sizeof *fill);
    if (!p->dep_pool || !count || !fill) {
        rc = sieve_errbuf_set(err, SIEVE_ENOMEM, "plan: out of memory");
        goto out;
    }
    dp = p->dep_pool;
    for (uint32_t i = 0; i < p->n_nodes; i++) {
        const struct plan_node *n = &p->nodes[i];
        uint32_t ni = n->n_inputs;
        int32_t *assign = NULL;

        proj = calloc(ni ? ni : 1, sizeof *proj);
        dup = calloc(ni ? ni : 1, 1);
        assign = calloc(p->spec->n_vars + 1, sizeof *assign);
        if (!proj || !dup || !assign) {
            free(assign);
            rc = sieve_errbuf_set(err, SIEVE_ENOMEM, "plan: out of memory");
            goto out;
        }
        for (uint32_t j = 0; j < ni; j++) {
            const struct plan_input *in = &n->inputs[j];
            if (in->node == PLAN_NONE)
                continue;
            if (!(proj[j] = calloc(n->n_variants, sizeof **proj))) {
                free(assign);
                rc = sieve_errbuf_set(err, SIEVE_ENOMEM, "plan: out of memory");
                goto out;
            }
            for (uint32_t v = 0; v < n->n_variants; v++)
                proj[j][v] =
                    variant_encode(p->spec, p->nodes[in->node].vars, n->variants[v].assign);
        }
        free(assign);
        for (uint32_t j = 0; j < ni; j++)
            for (uint32_t k = 0; k < j && n->inputs[j].node != PLAN_NONE; k++)
                if (n->inputs[k].node == n->inputs[j].node) {
                    /* same producer node: same task when the projections agree, which they
                     * do for every variant since both project onto the same variables */
                    dup[j] = 1;
                    break;
                }
        for (uint32_t t = n->first_task; t < n->first_task + n->n_tasks; t++) {
            struct plan_task *task = &p->tasks[t];
            uint32_t samples = is_reduce(n) ? p->n_samples : 1;
            uint32_t uniq = 0;
            task->deps = dp;
            task->n_deps = samples * ni;
            for (uint32_t sm = 0; sm < samples; sm++) {
                uint32_t sample = is_reduce(n) ? sm : (uint32_t)task->sample;
                for (uint32_t j = 0; j < ni; j++) {
                    const struct plan_input *in = &n->inputs[j];
                    if (in->node == PLAN_NONE) {
                        *dp++ = (struct plan_dep){PLAN_NONE, 0};
                        continue;
                    }
                    dp->task = task_at(p, &p->nodes[in->node], proj[j][task->variant], sample);
                    dp->port = in->out_port;
                    if (!dup[j]) {
                        count[dp->task]++;
                        uniq++;
                    }
                    dp++;
                }
            }
            task->n_wait = uniq;
        }
        for (uint32_t j = 0; j < ni; j++)
            free(proj[j]);
        free(proj);
        free(dup);
        proj = NULL;
        dup = NULL;
    }
    /* dependents: prefix sums of the counts, then a second pass placing consumers */
    {
        uint64_t total = 0;
        for (uint32_t t = 0; t < p->n_tasks; t++) {
            fill[t] = (uint32_t)total;
            total += count[t];
        }
        p->dependent_pool = calloc(total ? total : 1, sizeof *p->dependent_pool);
        if (!p->dependent_pool) {
            rc = sieve_errbuf_set(err, SIEVE_ENOMEM, "plan: out of memory");
            goto out;
        }
        for (uint32_t t = 0; t < p->n_tasks; t++) {
            p->tasks[t].dependents = p->dependent_pool + fill[t];
            p->tasks[t].n_dependents = 0;
        }
        for (uint32_t t = 0; t < p->n_tasks; t++) {
            const struct plan_task *c = &p->tasks[t];
            const struct plan_node *n = &p->nodes[c->node];
            for (uint32_t k = 0; k < c->n_deps; k++) {
                uint32_t src = c->deps[k].task;
                uint32_t j = k % (n->n_inputs ? n->n_inputs : 1);
                struct plan_task *pt;
                int seen = 0;
                if (src == PLAN_NONE)
                    continue;
                for (uint32_t q = 0; q < j; q++)
                    if (n->inputs[q].node == n->inputs[j].node)
                        seen = 1;
                if (seen)
                    continue;
                pt = &p->tasks[src];
                ((uint32_t *)pt->dependents)[pt->n_dependents++] = t;
            }
        }
    }
out:
    free(count);
    free(fill);
    free(proj);
    free(dup);
    return rc;
}

/* ---- keys ------------------------------------------------------------------------------ */

static int
media_hashes(struct plan *p, struct store *st, struct sieve_errbuf *err)
{
    int needed = 0;
    for (uint32_t i = 0; i < p->n_nodes; i++)
        if (p->nodes[i].n_inputs == 0)
            needed = 1;
    p->media_hex = calloc(p->n_samples ? p->n_samples : 1, sizeof *p->media_hex);
    if (!p->media_hex)
        return sieve_errbuf_set(err, SIEVE_ENOMEM, "plan: out of memory");
    for (uint32_t sm = 0; needed && sm < p->n_samples; sm++) {
        int rc = store_media_hash(st, p->samples[sm].media, p->media_hex[sm], err);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int
hex_to_bytes(const char *hex, uint8_t out[32])
{
    for (int i = 0; i < 32; i++) {
        unsigned v = 0;
        for (int k = 0; k < 2; k++) {
            char c = hex[2 * i + k];
            v <<= 4;
            if (c >= '0' && c <= '9')
                v |= (unsigned)(c - '0');
            else if (c >= 'a' && c <= 'f')
                v |= (unsigned)(c - 'a' + 10);
            else
                return -1;
        }
        out[i] = (uint8_t)v;
    }
    return 0;
}

static int
task_key(struct plan *p, struct plan_task *t)
{
    const struct plan_node *n = &p->nodes[t->node];
    const struct sieve_plugin *d = n->plugin->desc;
    const struct plan_variant *v = &n->variants[t->variant];
    struct hash_ctx h;
    char num[16];
    uint8_t media[32];
    int rc;

    if ((rc = hash_ctx_init(&h)) < 0)
        return rc;
    snprintf(num, sizeof num, "%u", PLAN_KEY_SCHEMA);
    hash_ctx_field(&h, num, strlen(num));
    hash_ctx_field(&h, d->name, strlen(d->name));
    hash_ctx_field(&h, d->version, strlen(d->version));
    snprintf(num, sizeof num, "%u", d->abi_major);
    hash_ctx_field(&h, num, strlen(num));
    hash_ctx_field(&h, v->key_params, strlen(v->key_params));
    if (n->n_inputs == 0) {
        /* a dataset leaf: the content of its media file(s) */
        uint32_t first = t->sample >= 0 ? (uint32_t)t->sample : 0;
        uint32_t last = t->sample >= 0 ? first + 1 : p->n_samples;
        for (uint32_t sm = first; sm < last; sm++) {
            if (hex_to_bytes(p->media_hex[sm], media) < 0) {
                hash_ctx_release(&h);
                return SIEVE_EINTERNAL;
            }
            hash_ctx_field(&h, media, sizeof media);
        }
    }
    for (uint32_t k = 0; k < t->n_deps; k++) {
        const struct plan_dep *dep = &t->deps[k];
        if (dep->task == PLAN_NONE)
            hash_ctx_field(&h, "", 0);
        else
            hash_ctx_field(&h, p->tasks[dep->task].out_keys[dep->port], 32);
    }
    if (t->sample >= 0 && d->row_fields && d->row_fields[0]) {
        /* A plugin that reads the row: the fields it declares, and the sample id. */
        char *row = plan_row_text(d, &p->samples[t->sample]);
        if (!row) {
            hash_ctx_release(&h);
            return SIEVE_ENOMEM;
        }
        hash_ctx_field(&h, "row", 3);
        hash_ctx_field(&h, row, strlen(row));
        free(row);
    }
    if (t->sample < 0) {
        /* A reduce task sees every manifest row (categories, labels) through its context. */
        for (uint32_t sm = 0; sm < p->n_samples; sm++) {
            const char *f = p->samples[sm].fields_json ? p->samples[sm].fields_json : "";
            hash_ctx_field(&h, f, strlen(f));
        }
    }
    if ((rc = hash_ctx_final(&h, t->key)) < 0)
        return rc;
    hash_hex(t->key, t->key_hex);
    for (uint32_t o = 0; o < n->n_outputs; o++) {
        const char *port = d->outputs[o].name;
        if ((rc = hash_ctx_init(&h)) < 0)
            return rc;
        hash_ctx_field(&h, t->key, 32);
        hash_ctx_field(&h, port, strlen(port));
        if ((rc = hash_ctx_final(&h, (uint8_t *)t->out_keys[o])) < 0)
            return rc;
    }
    return 0;
}

/* ---- build ----------------------------------------------------------------------------- */

int
plan_build(struct spec *s, struct store *st, struct plan **out, struct sieve_errbuf *err)
{
    struct plan *p;
    uint64_t n_tasks = 0, n_out = 0;
    uint32_t t;
    int rc;

    *out = NULL;
    p = calloc(1, sizeof *p);
    if (!p) {
        spec_free(s);
        return sieve_errbuf_set(err, SIEVE_ENOMEM, "plan: out of memory");
    }
    p->spec = s;
    p->n_nodes = (uint32_t)s->n_nodes;
    p->n_samples = (uint32_t)s->n_samples;
    p->nodes = calloc(s->n_nodes ? s->n_nodes : 1, sizeof *p->nodes);
    p->node_order = calloc(s->n_nodes ? s->n_nodes : 1, sizeof *p->node_order);
    p->samples = calloc(s->n_samples ? s->n_samples : 1, sizeof *p->samples);
    if (!p->nodes || !p->node_order || !p->samples) {
        rc = sieve_errbuf_set(err, SIEVE_ENOMEM, "plan: out of memory");
        goto fail;
    }
    for (uint32_t i = 0; i < p->n_samples; i++)
        p->samples[i] = (struct sieve_sample){s->samples[i].id, s->samples[i].media,
                                              s->samples[i].category, s->samples[i].fields_json};
    if (spec_topo_order(s, p->node_order) != (int)s->n_nodes) {
        rc = sieve_errbuf_set(err, SIEVE_ESPEC, "plan: the pipeline has a cycle");
        goto fail;
    }
    for (uint32_t i = 0; i < p->n_nodes; i++)
        if (!s->nodes[i].plugin) {
            rc = sieve_errbuf_set(err, SIEVE_ESPEC, "plan: node '%s' has no plugin",
                                  s->nodes[i].name);
            goto fail;
        }
    if ((rc = wire_nodes(p, err)) < 0)
        goto fail;
    for (uint32_t k = 0; k < p->n_nodes; k++) {
        uint32_t i = p->node_order[k];
        struct plan_node *n = &p->nodes[i];
        if ((rc = build_variants(p, n, &s->nodes[i], err)) < 0)
            goto fail;
        n->first_task = (uint32_t)n_tasks;
        n->n_tasks = is_reduce(n) ? n->n_variants : n->n_variants * p->n_samples;
        n_tasks += n->n_tasks;
        n_out += (uint64_t)n->n_tasks * n->n_outputs;
        if (n_tasks > UINT32_MAX / 2) {
            rc = sieve_errbuf_set(err, SIEVE_ESPEC, "plan: too many tasks");
            goto fail;
        }
    }
    p->n_tasks = (uint32_t)n_tasks;
    p->tasks = calloc(n_tasks ? n_tasks : 1, sizeof *p->tasks);
    p->key_pool = calloc(n_out ? n_out : 1, sizeof *p->key_pool);
    if (!p->tasks || !p->key_pool) {
        rc = sieve_errbuf_set(err, SIEVE_ENOMEM, "plan: out of memory");
        goto fail;
    }
    n_out = 0;
    for (uint32_t k = 0; k < p->n_nodes; k++) {
        uint32_t i = p->node_order[k];
        const struct plan_node *n = &p->nodes[i];
        for (uint32_t v = 0; v < n->n_variants; v++) {
            uint32_t samples = is_reduce(n) ? 1 : p->n_samples;
            for (uint32_t sm = 0; sm < samples; sm++) {
                struct plan_task *task = &p->tasks[task_at(p, n, v, sm)];
                task->node = i;
                task->variant = v;
                task->sample = is_reduce(n) ? -1 : (int32_t)sm;
                task->out_keys = (const uint8_t(*)[32])p->key_pool[n_out];
                n_out += n->n_outputs;
            }
        }
    }
    if ((rc = wire_tasks(p, err)) < 0)
        goto fail;
    if ((rc = media_hashes(p, st, err)) < 0)
        goto fail;
    for (t = 0; t < p->n_tasks; t++)
        if ((rc = task_key(p, &p->tasks[t])) < 0) {
            sieve_errbuf_set(err, rc, "plan: hashing failed");
            goto fail;
        }
    *out = p;
    return 0;
fail:
    plan_free(p);
    return rc;
}

void
plan_free(struct plan *p)
{
    if (!p)
        return;
    for (uint32_t i = 0; p->nodes && i < p->n_nodes; i++) {
        struct plan_node *n = &p->nodes[i];
        for (uint32_t v = 0; n->variants && v < n->n_variants; v++) {
            struct plan_variant *pv = &n->variants[v];
            free(pv->assign);
            free(pv->label);
            if (pv->params)
                host_params_free(n->plugin, pv->params);
            free(pv->canonical);
            free(pv->key_params);
        }
        free(n->variants);
        free(n->inputs);
    }
    free(p->nodes);
    free(p->node_order);
    free(p->samples);
    free(p->tasks);
    free(p->dep_pool);
    free(p->dependent_pool);
    free(p->key_pool);
    free(p->media_hex);
    spec_free(p->spec);
    free(p);
}

/* ---- cache lookup ---------------------------------------------------------------------- */

int
plan_lookup(struct plan *p, struct store *st, struct sieve_errbuf *err)
{
    uint64_t n_keys = 0, k = 0;
    char(*hex)[HASH_HEX_LEN];
    const char **keys;
    uint8_t *hits;
    int rc = 0;

    for (uint32_t t = 0; t < p->n_tasks; t++)
        n_keys += p->nodes[p->tasks[t].node].n_outputs;
    hex = calloc(n_keys ? n_keys : 1, sizeof *hex);
    keys = calloc(n_keys ? n_keys : 1, sizeof *keys);
    hits = calloc(n_keys ? n_keys : 1, 1);
    if (!hex || !keys || !hits) {
        rc = sieve_errbuf_set(err, SIEVE_ENOMEM, "plan: out of memory");
        goto out;
    }
    for (uint32_t t = 0; t < p->n_tasks; t++)
        for (uint32_t o = 0; o < p->nodes[p->tasks[t].node].n_outputs; o++, k++) {
            hash_hex(p->tasks[t].out_keys[o], hex[k]);
            keys[k] = hex[k];
        }
    if ((rc = store_artifact_lookup(st, keys, n_keys, hits, err)) < 0)
        goto out;
    rc = 0;
    k = 0;
    for (uint32_t t = 0; t < p->n_tasks; t++) {
        uint32_t no = p->nodes[p->tasks[t].node].n_outputs, all = 1;
        for (uint32_t o = 0; o < no; o++, k++)
            all &= hits[k];
        p->tasks[t].cached = no > 0 && all;
    }
    /* A task whose outputs are missing need not run when every consumer is cached: walk
     * backwards and mark such tasks 2 ("not needed"). Sinks always run when missing. */
    for (uint32_t t = p->n_tasks; t-- > 0;) {
        struct plan_task *task = &p->tasks[t];
        uint32_t d;
        if (task->cached || task->n_dependents == 0)
            continue;
        for (d = 0; d < task->n_dependents; d++)
            if (!p->tasks[task->dependents[d]].cached)
                break;
        if (d == task->n_dependents)
            task->cached = 2;
    }
    p->n_cached = 0;
    for (uint32_t t = 0; t < p->n_tasks; t++)
        p->n_cached += p->tasks[t].cached != 0;
out:
    free(hex);
    free(keys);
    free(hits);
    return rc;
}
