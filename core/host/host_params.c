/*
 * host_params.c - a plugin's whole parameter array: building it from named values (unknown
 * names, duplicates, required rows, defaults) and its canonical JSON form: all of it for the
 * worker, and without SIEVE_PARAM_NO_KEY rows for cache keys. Parsing one value is
 * host_value.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/sbuf.h"
#include "core/host/host.h"
#include "host_int.h"

/* ---------------------------------------------------------------------------------------- */
/* Value arrays                                                                             */
/* ---------------------------------------------------------------------------------------- */

/* Parses the k-th given value for `row`; the two public builders differ only here. */
typedef int (*given_parse_fn)(const struct sieve_param *row, const void *given, size_t k,
                              struct sieve_value *out, struct sieve_errbuf *err);

static int
parse_text(const struct sieve_param *row, const void *given, size_t k, struct sieve_value *out,
           struct sieve_errbuf *err)
{
    return host_value_parse(row, ((const char *const *)given)[k], out, err);
}

static int
parse_literal(const struct sieve_param *row, const void *given, size_t k, struct sieve_value *out,
              struct sieve_errbuf *err)
{
    const struct host_param_literal *g = &((const struct host_param_literal *)given)[k];

    if (g->is_list && row->type != SIEVE_PARAM_LIST)
        return sieve_errbuf_set(err, SIEVE_EINVAL,
                                "parameter '%s': expected a single %s, got a list", row->name,
                                host_param_type_name(row->type));
    if (!g->is_list && g->n != 1)
        return sieve_errbuf_set(err, SIEVE_EINVAL, "parameter '%s': expected one value, got %zu",
                                row->name, g->n);
    return host_value_parse_items(row, g->items, g->n, out, err);
}

static int
unknown_name(const struct host_plugin *p, const char *key, struct sieve_errbuf *err)
{
    const struct sieve_plugin *d = p->desc;
    const char *best = NULL;
    size_t best_d = 3;

    for (uint32_t i = 0; i < d->n_params; i++) {
        size_t dist = host_edit_distance(key, d->params[i].name);
        if (dist < best_d) {
            best_d = dist;
            best = d->params[i].name;
        }
    }
    if (best)
        return sieve_errbuf_set(err, SIEVE_EINVAL, "unknown parameter '%s' (did you mean '%s'?)",
                                key, best);
    if (d->n_params == 0)
        return sieve_errbuf_set(err, SIEVE_EINVAL,
                                "unknown parameter '%s' (plugin '%s' takes none)", key, p->name);
    return sieve_errbuf_set(err, SIEVE_EINVAL, "unknown parameter '%s' for plugin '%s'", key,
                            p->name);
}

static int
build(const struct host_plugin *p, const char *const *keys, size_t key_stride, const void *given,
      given_parse_fn parse, size_t n, struct sieve_value **out, struct sieve_errbuf *err)
{
    const struct sieve_plugin *d = p->desc;
    uint32_t np = d->n_params;
    struct sieve_value *vals;
    unsigned char *set;
    int rc = 0;

    *out = NULL;
    /* One zeroed value (type 0) past the last row: the script bridge counts its values by it,
     * because a synthesized table's length is not known to the plugin (host.h). */
    vals = calloc((size_t)np + 1, sizeof *vals);
    set = calloc(np ? np : 1, 1);
    if (!vals || !set) {
        rc = sieve_errbuf_set(err, SIEVE_ENOMEM, "out of memory");
        goto fail;
    }
    for (size_t k = 0; k < n; k++) {
        const char *key = *(const char *const *)((const char *)keys + k * key_stride);
        int idx = host_plugin_param_index(p, key);
        if (idx < 0) {
            rc = unknown_name(p, key, err);
            goto fail;
        }
        if (set[idx]) {
            rc = sieve_errbuf_set(err, SIEVE_EINVAL, "parameter '%s' is set twice", key);
            goto fail;
        }
        if ((rc = parse(&d->params[idx], given, k, &vals[idx], err)) < 0)
            goto fail;
        set[idx] = 1;
    }
    for (uint32_t i = 0; i < np; i++) {
        if (set[i])
            continue;
        if (!d->params[i].def) {
            rc = sieve_errbuf_set(err, SIEVE_EINVAL, "missing required parameter '%s'",
                                  d->params[i].name);
            goto fail;
        }
        /* Defaults were validated when the plugin was loaded, so this only fails on ENOMEM. */
        if ((rc = host_value_parse(&d->params[i], d->params[i].def, &vals[i], err)) < 0)
            goto fail;
        set[i] = 1;
    }
    free(set);
    *out = vals;
    return 0;

fail:
    for (uint32_t i = 0; vals && i < np; i++)
        host_value_release(&vals[i]);
    free(vals);
    free(set);
    return rc;
}

int
host_params_build(const struct host_plugin *p, const char *const *keys, const char *const *texts,
                  size_t n, struct sieve_value **out, struct sieve_errbuf *err)
{
    return build(p, keys, sizeof *keys, texts, parse_text, n, out, err);
}

int
host_params_build_literal(const struct host_plugin *p, const struct host_param_literal *given,
                          size_t n, struct sieve_value **out, struct sieve_errbuf *err)
{
    return build(p, n ? &given[0].key : NULL, sizeof *given, given, parse_literal, n, out, err);
}

void
host_params_free(const struct host_plugin *p, struct sieve_value *vals)
{
    if (!vals)
        return;
    for (uint32_t i = 0; i < p->desc->n_params; i++)
        host_value_release(&vals[i]);
    free(vals);
}

/* ---------------------------------------------------------------------------------------- */
/* Canonical form                                                                           */
/* ---------------------------------------------------------------------------------------- */

static void
json_string(struct sbuf *b, const char *s)
{
    char esc[8];

    sbuf_add(b, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            sbuf_add(b, esc, 2);
        } else if (c < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", c);
            sbuf_add(b, esc, 6);
        } else {
            sbuf_add(b, (const char *)&c, 1);
        }
    }
    sbuf_add(b, "\"", 1);
}

static void
value_json(struct sbuf *b, const struct sieve_value *v)
{
    char num[40];

    switch (v->type) {
    case SIEVE_PARAM_INT:
        snprintf(num, sizeof num, "%lld", (long long)v->i);
        sbuf_str(b, num);
        break;
    case SIEVE_PARAM_FLOAT:
        host_number_format(v->f, num, sizeof num);
        sbuf_str(b, num);
        break;
    case SIEVE_PARAM_BOOL:
        sbuf_str(b, v->i ? "true" : "false");
        break;
    case SIEVE_PARAM_STRING:
    case SIEVE_PARAM_ENUM:
        json_string(b, v->s ? v->s : "");
        break;
    case SIEVE_PARAM_LIST:
        sbuf_add(b, "[", 1);
        for (size_t i = 0; i < v->n; i++) {
            if (i)
                sbuf_add(b, ",", 1);
            value_json(b, &v->items[i]);
        }
        sbuf_add(b, "]", 1);
        break;
    default:
        sbuf_str(b, "null");
        break;
    }
}

/* The canonical JSON object of `vals`; with `key_only`, rows flagged NO_KEY are left out. */
static char *
canonical(const struct host_plugin *p, const struct sieve_value *vals, int key_only)
{
    const struct sieve_plugin *d = p->desc;
    uint32_t np = d->n_params;
    struct sbuf b = {0};
    uint32_t *order;
    int first = 1;

    if (!(order = malloc((np ? np : 1) * sizeof *order)))
        return NULL;
    for (uint32_t i = 0; i < np; i++)
        order[i] = i;
    /* Insertion sort: tables are short, and it keeps this allocation-free. */
    for (uint32_t i = 1; i < np; i++) {
        uint32_t x = order[i], j = i;
        while (j > 0 && strcmp(d->params[order[j - 1]].name, d->params[x].name) > 0) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = x;
    }
    sbuf_add(&b, "{", 1);
    for (uint32_t k = 0; k < np; k++) {
        uint32_t i = order[k];
        if (key_only && (d->params[i].flags & SIEVE_PARAM_NO_KEY))
            continue;
        if (!first)
            sbuf_add(&b, ",", 1);
        first = 0;
        json_string(&b, d->params[i].name);
        sbuf_add(&b, ":", 1);
        value_json(&b, &vals[i]);
    }
    sbuf_add(&b, "}", 1);
    free(order);
    return sbuf_take(&b);
}

char *
host_params_canonical(const struct host_plugin *p, const struct sieve_value *vals)
{
    return canonical(p, vals, 0);
}

char *
host_params_key_text(const struct host_plugin *p, const struct sieve_value *vals)
{
    return canonical(p, vals, 1);
}

char *
host_value_canonical(const struct sieve_value *v)
{
    struct sbuf b = {0};

    value_json(&b, v);
    return sbuf_take(&b);
}
