/*
 * spec.c - parsing a pipeline YAML file (libyaml document API) into struct spec.
 *
 * The document API resolves anchors and aliases for us (an alias is the anchored node
 * itself); merge keys (`<<: *base`) are applied here, explicit keys winning. Every value is
 * checked for its YAML type where it is read, and a problem becomes a diagnostic at that
 * node's mark, after which parsing goes on, so one pass reports everything it can.
 */
#include "core/spec/spec.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "base/array.h"
#include "base/err.h"
#include "core/host/host.h"
#include "spec_int.h"

/* Bounds that keep a hostile file (alias bombs, deep nesting) from exhausting memory. */
#define MAX_DEPTH 32
#define MAX_TEXT (64 * 1024)
/* Pairs that merge keys may bring in over a whole file: a few levels of `<<: [*a, *a]` double
 * at each level, and 25 levels cost minutes of CPU. Real pipelines merge a handful. */
#define MAX_MERGED 4096
/* Flow collections ([...], {...}) nested deeper than this are refused before libyaml sees
 * them: its parser is quadratic in flow depth (100,000 levels: minutes). */
#define MAX_FLOW_DEPTH 64

/* ---- YAML walking ---------------------------------------------------------------------- */

struct parse {
    const char *file;
    yaml_document_t *doc;
    struct spec *s;
    struct spec_diags *d;
    size_t merged;  /* pairs brought in by merge keys so far (MAX_MERGED) */
    int merge_bomb; /* reported once */
};

struct kv {
    const char *key;
    yaml_node_t *k, *v;
};

struct kvs {
    struct kv *items;
    size_t n, cap;
};

static struct spec_mark
mark_of(const yaml_node_t *n)
{
    struct spec_mark m = {0, 0};
    if (n) {
        m.line = (uint32_t)n->start_mark.line + 1;
        m.col = (uint32_t)n->start_mark.column + 1;
    }
    return m;
}

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static void
problem(struct parse *p, const yaml_node_t *at, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    spec_diags_add(p->d, 0, p->file, mark_of(at), "%s", msg);
}

static yaml_node_t *
node_at(struct parse *p, int idx)
{
    return yaml_document_get_node(p->doc, idx);
}

static const char *
scalar(const yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static int
is_quoted(const yaml_node_t *n)
{
    return n->data.scalar.style == YAML_SINGLE_QUOTED_SCALAR_STYLE ||
           n->data.scalar.style == YAML_DOUBLE_QUOTED_SCALAR_STYLE;
}

static const char *
type_name(const yaml_node_t *n)
{
    switch (n->type) {
    case YAML_SCALAR_NODE:
        return "a scalar";
    case YAML_SEQUENCE_NODE:
        return "a list";
    case YAML_MAPPING_NODE:
        return "a mapping";
    default:
        return "empty";
    }
}

static void
kvs_push(struct kvs *m, const char *key, yaml_node_t *k, yaml_node_t *v)
{
    if (array_grow(&m->items, &m->cap, m->n + 1, sizeof *m->items) < 0)
        return;
    m->items[m->n++] = (struct kv){key, k, v};
}

static const struct kv *
kvs_find(const struct kvs *m, const char *key)
{
    for (size_t i = 0; i < m->n; i++)
        if (!strcmp(m->items[i].key, key))
            return &m->items[i];
    return NULL;
}

/*
 * Collects the pairs of a mapping: explicit keys in order, then keys merged in through `<<`
 * that are not already there. Duplicate explicit keys are reported (`what` names them).
 */
static void
collect(struct parse *p, yaml_node_t *map, struct kvs *out, const char *what, int depth)
{
    struct kvs merged = {0};

    if (depth > MAX_DEPTH) {
        problem(p, map, "mapping nested too deeply");
        return;
    }
    for (yaml_node_pair_t *pr = map->data.mapping.pairs.start; pr < map->data.mapping.pairs.top;
         pr++) {
        yaml_node_t *k = node_at(p, pr->key), *v = node_at(p, pr->value);
        const char *key = scalar(k);
        const struct kv *prev;

        if (!k || !v)
            continue;
        if (!key) {
            problem(p, k, "mapping keys must be scalars, not %s", type_name(k));
            continue;
        }
        if (depth > 0 && ++p->merged > MAX_MERGED) {
            /* depth > 0: this mapping was reached through `<<` */
            if (!p->merge_bomb++)
                problem(p, k, "merge keys ('<<') bring in more than %d entries", MAX_MERGED);
            break;
        }
        if (!strcmp(key, "<<") && !is_quoted(k)) {
            if (v->type == YAML_MAPPING_NODE) {
                collect(p, v, &merged, what, depth + 1);
            } else if (v->type == YAML_SEQUENCE_NODE) {
                for (yaml_node_item_t *it = v->data.sequence.items.start;
                     it < v->data.sequence.items.top; it++) {
                    yaml_node_t *m = node_at(p, *it);
                    if (m && m->type == YAML_MAPPING_NODE)
                        collect(p, m, &merged, what, depth + 1);
                    else if (m)
                        problem(p, m, "'<<' merges mappings, not %s", type_name(m));
                }
            } else {
                problem(p, v, "'<<' merges mappings, not %s", type_name(v));
            }
            continue;
        }
        if ((prev = kvs_find(out, key))) {
            problem(p, k, "duplicate %s '%s' (first at line %u)", what, key, mark_of(prev->k).line);
            continue;
        }
        kvs_push(out, key, k, v);
    }
    for (size_t i = 0; i < merged.n; i++)
        if (!kvs_find(out, merged.items[i].key))
            kvs_push(out, merged.items[i].key, merged.items[i].k, merged.items[i].v);
    free(merged.items);
}

/* Checks that every key of a mapping is one of `known`; reports the others. */
static void
check_keys(struct parse *p, const struct kvs *m, const char *const *known, size_t n,
           const char *prefix)
{
    char list[256];
    size_t off = 0;

    list[0] = '\0';
    for (size_t i = 0; i < n && off < sizeof list; i++)
        off += (size_t)snprintf(list + off, sizeof list - off, "%s%s", i ? ", " : "", known[i]);
    for (size_t i = 0; i < m->n; i++) {
        size_t j;
        const char *near;
        for (j = 0; j < n && strcmp(known[j], m->items[i].key); j++)
            ;
        if (j < n)
            continue;
        near = spec_suggest(m->items[i].key, known, n);
        if (near)
            problem(p, m->items[i].k, "%sunknown key '%s' (did you mean '%s'?)", prefix,
                    m->items[i].key, near);
        else
            problem(p, m->items[i].k, "%sunknown key '%s' (expected %s)", prefix, m->items[i].key,
                    list);
    }
}

/* Reads a non-negative integer scalar no larger than `max`; -1 after reporting a problem. */
static long
read_count(struct parse *p, const yaml_node_t *n, const char *prefix, const char *what, long max)
{
    const char *t = scalar(n);
    char *end;
    long v;

    if (t && *t && *t != '-' && *t != '+') {
        errno = 0;
        v = strtol(t, &end, 10);
        if (!*end && !errno && v <= max)
            return v;
    }
    if (max == 1)
        problem(p, n, "%s'%s' must be 0 or 1", prefix, what);
    else
        problem(p, n, "%s'%s' must be a non-negative integer", prefix, what);
    return -1;
}

/*
 * The host_value_parse form of a value node: a plain scalar as is, a quoted one re-quoted,
 * a list as flow text. Returns NULL after reporting when the node cannot be a value.
 */
static char *
value_text(struct parse *p, yaml_node_t *n, const char *prefix, int depth)
{
    struct sbuf b = {0};

    if (depth > MAX_DEPTH) {
        problem(p, n, "%svalue nested too deeply", prefix);
        return NULL;
    }
    if (n->type == YAML_SCALAR_NODE) {
        if (is_quoted(n))
            sbuf_quoted(&b, scalar(n));
        else
            sbuf_str(&b, scalar(n));
    } else if (n->type == YAML_SEQUENCE_NODE) {
        sbuf_ch(&b, '[');
        for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
             it++) {
            yaml_node_t *item = node_at(p, *it);
            char *t = item ? value_text(p, item, prefix, depth + 1) : NULL;
            if (!t) {
                free(b.s);
                return NULL;
            }
            if (it != n->data.sequence.items.start)
                sbuf_str(&b, ", ");
            sbuf_str(&b, t);
            free(t);
            if (b.len > MAX_TEXT) {
                problem(p, n, "%svalue too large", prefix);
                free(b.s);
                return NULL;
            }
        }
        sbuf_ch(&b, ']');
    } else {
        problem(p, n, "%svalue must be a scalar or a list, not %s", prefix, type_name(n));
        return NULL;
    }
    return sbuf_take(&b);
}

static int
valid_name(const char *s, int allow_dash)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || (allow_dash && *s == '-')))
            return 0;
    return 1;
}

/* ---- sections -------------------------------------------------------------------------- */

static void
parse_matrix(struct parse *p, yaml_node_t *n)
{
    struct kvs m = {0};

    if (n->type != YAML_MAPPING_NODE) {
        problem(p, n, "'matrix' must be a mapping of variables to lists of values");
        return;
    }
    collect(p, n, &m, "matrix variable", 0);
    p->s->vars = calloc(m.n ? m.n : 1, sizeof *p->s->vars);
    if (!p->s->vars)
        goto out;
    for (size_t i = 0; i < m.n; i++) {
        struct spec_var *v = &p->s->vars[p->s->n_vars];
        yaml_node_t *val = m.items[i].v;
        yaml_node_item_t one = 0, *items, *end;

        if (!valid_name(m.items[i].key, 0)) {
            problem(p, m.items[i].k, "matrix variable '%s' may only use letters, digits and '_'",
                    m.items[i].key);
            continue;
        }
        if (p->s->n_vars >= SPEC_MAX_VARS) {
            problem(p, m.items[i].k, "more than %d matrix variables", SPEC_MAX_VARS);
            break;
        }
        if (val->type == YAML_SEQUENCE_NODE) {
            items = val->data.sequence.items.start;
            end = val->data.sequence.items.top;
        } else if (val->type == YAML_SCALAR_NODE) {
            /* A single value is a one-value list; handy for `--set`-like pinning in YAML. */
            one = (yaml_node_item_t)(val - p->doc->nodes.start) + 1;
            items = &one;
            end = items + 1;
        } else {
            problem(p, val, "matrix variable '%s' must be a list of values", m.items[i].key);
            continue;
        }
        if (items == end) {
            problem(p, val, "matrix variable '%s' has no values", m.items[i].key);
            continue;
        }
        v->name = strdup(m.items[i].key);
        v->mark = mark_of(m.items[i].k);
        v->values = calloc((size_t)(end - items), sizeof *v->values);
        v->plain = calloc((size_t)(end - items), sizeof *v->plain);
        v->value_marks = calloc((size_t)(end - items), sizeof *v->value_marks);
        p->s->n_vars++;
        if (!v->name || !v->values || !v->plain || !v->value_marks)
            continue;
        for (; items < end; items++) {
            yaml_node_t *it = node_at(p, *items);
            char *t = it ? value_text(p, it, "", 0) : NULL;
            if (!t)
                continue;
            v->values[v->n_values] = t;
            v->plain[v->n_values] = strdup(scalar(it) ? scalar(it) : t);
            v->value_marks[v->n_values] = mark_of(it);
            v->n_values++;
        }
    }
out:
    free(m.items);
}

static void
parse_defaults(struct parse *p, yaml_node_t *n)
{
    static const char *const known[] = {"retries", "timeout", "resources"};
    struct kvs m = {0};
    const struct kv *e;

    if (n->type != YAML_MAPPING_NODE) {
        problem(p, n, "'defaults' must be a mapping");
        return;
    }
    collect(p, n, &m, "key", 0);
    check_keys(p, &m, known, 3, "defaults: ");
    if ((e = kvs_find(&m, "retries")))
        p->s->def_retries = (int)read_count(p, e->v, "defaults: ", "retries", 1000);
    if ((e = kvs_find(&m, "timeout")))
        p->s->def_timeout_s = (int)read_count(p, e->v, "defaults: ", "timeout", 100000000);
    if ((e = kvs_find(&m, "resources"))) {
        struct kvs r = {0};
        static const char *const rk[] = {"gpu"};
        if (e->v->type != YAML_MAPPING_NODE) {
            problem(p, e->v, "defaults: 'resources' must be a mapping");
        } else {
            const struct kv *g;
            collect(p, e->v, &r, "key", 0);
            check_keys(p, &r, rk, 1, "defaults: resources: ");
            if ((g = kvs_find(&r, "gpu")))
                p->s->def_gpu = (int)read_count(p, g->v, "defaults: ", "gpu", 1);
            free(r.items);
        }
    }
    free(m.items);
}

static void
parse_dataset(struct parse *p, yaml_node_t *n)
{
    static const char *const known[] = {"manifest", "glob", "limit"};
    struct kvs m = {0};
    const struct kv *man, *glob, *lim;
    struct spec_mark at = mark_of(n);
    char *dir;

    if (n->type != YAML_MAPPING_NODE) {
        problem(p, n, "'dataset' must be a mapping with 'manifest' or 'glob'");
        return;
    }
    collect(p, n, &m, "key", 0);
    check_keys(p, &m, known, 3, "dataset: ");
    man = kvs_find(&m, "manifest");
    glob = kvs_find(&m, "glob");
    if ((lim = kvs_find(&m, "limit"))) {
        p->s->limit = read_count(p, lim->v, "dataset: ", "limit", 1L << 40);
        if (p->s->limit < 0)
            p->s->limit = -2; /* reported; load nothing misleading */
    }
    if (man && glob) {
        problem(p, glob->k, "dataset: give 'manifest' or 'glob', not both");
        goto out;
    }
    if (!man && !glob) {
        problem(p, n, "dataset: missing 'manifest' or 'glob'");
        goto out;
    }
    if (!scalar((man ? man : glob)->v) || !*scalar((man ? man : glob)->v)) {
        problem(p, (man ? man : glob)->v, "dataset: '%s' must be a path",
                man ? "manifest" : "glob");
        goto out;
    }
    if (p->s->limit == -2)
        goto out;
    dir = spec_dirname(p->file);
    if (!dir)
        goto out;
    if (man) {
        p->s->manifest = spec_path_join(dir, scalar(man->v));
        at = mark_of(man->v);
    } else {
        p->s->glob = strdup(scalar(glob->v));
        at = mark_of(glob->v);
    }
    spec_dataset_load(p->s, dir, at, p->d);
    free(dir);
out:
    free(m.items);
}

static void
parse_inputs(struct parse *p, struct spec_node *sn, yaml_node_t *n, const char *prefix)
{
    struct kvs m = {0};

    if (n->type != YAML_MAPPING_NODE) {
        problem(p, n, "%s'in' must be a mapping of input ports to nodes", prefix);
        return;
    }
    collect(p, n, &m, "input", 0);
    sn->inputs = calloc(m.n ? m.n : 1, sizeof *sn->inputs);
    if (!sn->inputs)
        goto out;
    for (size_t i = 0; i < m.n; i++) {
        const char *ref = scalar(m.items[i].v);
        const char *dot;
        struct spec_input *in = &sn->inputs[sn->n_inputs];

        if (!ref || !*ref) {
            problem(p, m.items[i].v, "%sinput '%s' must name a node (or node.port)", prefix,
                    m.items[i].key);
            continue;
        }
        dot = strchr(ref, '.');
        in->port = strdup(m.items[i].key);
        in->node = dot ? strndup(ref, (size_t)(dot - ref)) : strdup(ref);
        in->out_port = dot ? strdup(dot + 1) : NULL;
        in->mark = mark_of(m.items[i].v);
        in->key_mark = mark_of(m.items[i].k);
        in->node_index = in->in_index = in->out_index = -1;
        sn->n_inputs++;
    }
out:
    free(m.items);
}

static void
parse_params(struct parse *p, struct spec_node *sn, yaml_node_t *n, const char *prefix)
{
    struct kvs m = {0};

    if (n->type != YAML_MAPPING_NODE) {
        problem(p, n, "%s'with' must be a mapping of parameters to values", prefix);
        return;
    }
    collect(p, n, &m, "parameter", 0);
    sn->params = calloc(m.n ? m.n : 1, sizeof *sn->params);
    if (!sn->params)
        goto out;
    for (size_t i = 0; i < m.n; i++) {
        yaml_node_t *v = m.items[i].v;
        struct spec_param *sp = &sn->params[sn->n_params];
        char pre[300];
        char *t;

        snprintf(pre, sizeof pre, "%sparameter '%s': ", prefix, m.items[i].key);
        if (!(t = value_text(p, v, pre, 0)))
            continue;
        sp->name = strdup(m.items[i].key);
        sp->text = t;
        sp->raw = v->type == YAML_SCALAR_NODE ? strdup(scalar(v)) : NULL;
        sp->quoted = v->type == YAML_SCALAR_NODE && is_quoted(v);
        sp->mark = mark_of(v);
        sp->key_mark = mark_of(m.items[i].k);
        sn->n_params++;
    }
out:
    free(m.items);
}

static void
parse_node(struct parse *p, const struct kv *e)
{
    static const char *const known[] = {"plugin", "in", "with", "resources", "retries", "timeout"};
    struct spec_node *sn = &p->s->nodes[p->s->n_nodes];
    struct kvs m = {0};
    const struct kv *f;
    char prefix[300];

    snprintf(prefix, sizeof prefix, "node '%s': ", e->key);
    if (!valid_name(e->key, 1)) {
        problem(p, e->k, "node name '%s' may only use letters, digits, '_' and '-'", e->key);
        return;
    }
    if (strlen(e->key) > SPEC_NODE_NAME_MAX) {
        problem(p, e->k, "node name is %zu characters long (at most %d)", strlen(e->key),
                SPEC_NODE_NAME_MAX);
        return;
    }
    if (e->v->type != YAML_MAPPING_NODE) {
        problem(p, e->v, "node '%s' must be a mapping with 'plugin'", e->key);
        return;
    }
    sn->name = strdup(e->key);
    sn->mark = mark_of(e->k);
    sn->gpu = sn->retries = sn->timeout_s = -1;
    p->s->n_nodes++;
    collect(p, e->v, &m, "key", 0);
    check_keys(p, &m, known, 6, prefix);
    if (!(f = kvs_find(&m, "plugin")))
        problem(p, e->k, "%smissing 'plugin'", prefix);
    else if (!scalar(f->v) || !*scalar(f->v))
        problem(p, f->v, "%s'plugin' must be a plugin name", prefix);
    else {
        sn->plugin_name = strdup(scalar(f->v));
        sn->plugin_mark = mark_of(f->v);
    }
    if ((f = kvs_find(&m, "in")))
        parse_inputs(p, sn, f->v, prefix);
    if ((f = kvs_find(&m, "with")))
        parse_params(p, sn, f->v, prefix);
    if ((f = kvs_find(&m, "retries")))
        sn->retries = (int)read_count(p, f->v, prefix, "retries", 1000);
    if ((f = kvs_find(&m, "timeout")))
        sn->timeout_s = (int)read_count(p, f->v, prefix, "timeout", 100000000);
    if ((f = kvs_find(&m, "resources"))) {
        static const char *const rk[] = {"gpu"};
        struct kvs r = {0};
        if (f->v->type != YAML_MAPPING_NODE) {
            problem(p, f->v, "%s'resources' must be a mapping", prefix);
        } else {
            const struct kv *g;
            char rp[320];
            snprintf(rp, sizeof rp, "%sresources: ", prefix);
            collect(p, f->v, &r, "key", 0);
            check_keys(p, &r, rk, 1, rp);
            if ((g = kvs_find(&r, "gpu")))
                sn->gpu = (int)read_count(p, g->v, prefix, "gpu", 1);
            free(r.items);
        }
    }
    free(m.items);
}

static void
parse_nodes(struct parse *p, yaml_node_t *n)
{
    struct kvs m = {0};

    if (n->type != YAML_MAPPING_NODE) {
        problem(p, n, "'nodes' must be a mapping of node names to nodes");
        return;
    }
    collect(p, n, &m, "node", 0);
    if (!m.n)
        problem(p, n, "'nodes' is empty");
    p->s->nodes = calloc(m.n ? m.n : 1, sizeof *p->s->nodes);
    if (p->s->nodes)
        for (size_t i = 0; i < m.n; i++)
            parse_node(p, &m.items[i]);
    free(m.items);
}

/* The executor section: scalars only; the executor checks the values (cli/run_exec.c). */
static void
parse_executor(struct parse *p, yaml_node_t *n)
{
    static const char *const known[] = {
        "kind",   "partition",  "account",          "time",   "gpus",      "cpus", "mem",
        "sbatch", "max_pilots", "max_replacements", "listen", "advertise", "drain"};
    struct kvs m = {0};
    if (n->type != YAML_MAPPING_NODE) {
        problem(p, n, "'executor' must be a mapping");
        return;
    }
    collect(p, n, &m, "key", 0);
    check_keys(p, &m, known, sizeof known / sizeof known[0], "executor: ");
    p->s->executor = calloc(m.n ? m.n : 1, sizeof *p->s->executor);
    for (size_t i = 0; p->s->executor && i < m.n; i++) {
        const char *v = scalar(m.items[i].v);
        if (!v) {
            problem(p, m.items[i].v, "executor: '%s' must be a scalar", m.items[i].key);
            continue;
        }
        struct spec_setting *e = &p->s->executor[p->s->n_executor++];
        e->key = strdup(m.items[i].key);
        e->value = strdup(v);
        e->mark = mark_of(m.items[i].v);
    }
    free(m.items);
}

static void
parse_root(struct parse *p, yaml_node_t *root)
{
    static const char *const known[] = {"name",     "dataset", "matrix",
                                        "defaults", "nodes",   "executor"};
    struct kvs m = {0};
    const struct kv *e;

    if (!root || root->type != YAML_MAPPING_NODE) {
        spec_diags_add(p->d, 0, p->file, root ? mark_of(root) : (struct spec_mark){1, 1},
                       "a pipeline must be a mapping with 'nodes' and 'dataset'");
        return;
    }
    collect(p, root, &m, "key", 0);
    check_keys(p, &m, known, 6, "");
    if ((e = kvs_find(&m, "name"))) {
        if (!scalar(e->v))
            problem(p, e->v, "'name' must be a string");
        else
            p->s->name = strdup(scalar(e->v));
    }
    /* The matrix first: node parameters refer to it. */
    if ((e = kvs_find(&m, "matrix")))
        parse_matrix(p, e->v);
    if ((e = kvs_find(&m, "defaults")))
        parse_defaults(p, e->v);
    if ((e = kvs_find(&m, "executor")))
        parse_executor(p, e->v);
    if ((e = kvs_find(&m, "nodes")))
        parse_nodes(p, e->v);
    else
        problem(p, root, "missing 'nodes'");
    if ((e = kvs_find(&m, "dataset")))
        parse_dataset(p, e->v);
    else
        problem(p, root, "missing 'dataset'");
    free(m.items);
}

/* The default name: the file name without directory and extension. */
static char *
default_name(const char *path)
{
    const char *base = strrchr(path, '/');
    const char *dot;
    base = base ? base + 1 : path;
    dot = strrchr(base, '.');
    return dot && dot != base ? strndup(base, (size_t)(dot - base)) : strdup(base);
}

/*
 * Reports (and returns 1) when flow collections nest deeper than MAX_FLOW_DEPTH, scanning the
 * raw text in one pass: brackets inside quoted scalars and comments do not count. A quote
 * opens a quoted scalar only where a scalar may start (after a space, `[{,:` or at the start
 * of a line), as in YAML; a stray bracket in a plain scalar counts, which can only make a
 * file that is already absurd fail sooner.
 */
static int
flow_too_deep(const char *path, const char *text, size_t len, struct spec_diags *d)
{
    uint32_t line = 1, col = 0, depth = 0;
    char prev = '\n';
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        col++;
        if (c == '\n') {
            line++;
            col = 0;
        } else if (c == '#' && (prev == ' ' || prev == '\t' || prev == '\n')) {
            while (i + 1 < len && text[i + 1] != '\n')
                i++;
        } else if ((c == '"' || c == '\'') && strchr(" \t\n[{,:", prev)) {
            for (i++; i < len && text[i] != c; i++) {
                if (text[i] == '\\' && c == '"' && i + 1 < len)
                    i++;
                if (text[i] == '\n') {
                    line++;
                    col = 0;
                }
            }
            c = ' ';
        } else if (c == '[' || c == '{') {
            if (++depth > MAX_FLOW_DEPTH) {
                spec_diags_add(d, 0, path, (struct spec_mark){line, col},
                               "collections nested more than %d deep", MAX_FLOW_DEPTH);
                return 1;
            }
        } else if ((c == ']' || c == '}') && depth) {
            depth--;
        }
        prev = c;
    }
    return 0;
}

int
spec_parse(const char *path, const char *text, size_t len, struct spec **out,
           struct spec_diags *diags, struct sieve_errbuf *err)
{
    yaml_parser_t parser;
    yaml_document_t doc;
    struct spec *s;
    struct parse p;
    size_t before = diags->n_errors;

    *out = NULL;
    s = calloc(1, sizeof *s);
    if (!s)
        return sieve_errbuf_set(err, SIEVE_ENOMEM, "parse '%s': out of memory", path);
    s->path = strdup(path);
    s->text = strndup(text, len);
    s->limit = -1;
    s->def_gpu = s->def_retries = s->def_timeout_s = -1;
    if (!s->path || !s->text) {
        spec_free(s);
        return sieve_errbuf_set(err, SIEVE_ENOMEM, "parse '%s': out of memory", path);
    }
    *out = s;
    if (!yaml_parser_initialize(&parser))
        return sieve_errbuf_set(err, SIEVE_ENOMEM, "parse '%s': out of memory", path);
    if (flow_too_deep(path, text, len, diags)) {
        yaml_parser_delete(&parser);
        return SIEVE_ESPEC;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        struct spec_mark at = {(uint32_t)parser.problem_mark.line + 1,
                               (uint32_t)parser.problem_mark.column + 1};
        if (parser.context)
            spec_diags_add(diags, 0, path, at, "invalid YAML: %s %s (line %u)", parser.problem,
                           parser.context, (uint32_t)parser.context_mark.line + 1);
        else
            spec_diags_add(diags, 0, path, at, "invalid YAML: %s",
                           parser.problem ? parser.problem : "unknown error");
        yaml_parser_delete(&parser);
        return SIEVE_ESPEC;
    }
    p = (struct parse){.file = path, .doc = &doc, .s = s, .d = diags};
    parse_root(&p, yaml_document_get_root_node(&doc));
    if (!s->name)
        s->name = default_name(path);
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    return diags->n_errors > before ? SIEVE_ESPEC : 0;
}

int
spec_load(const char *path, struct spec **out, struct spec_diags *diags, struct sieve_errbuf *err)
{
    FILE *f;
    char *buf = NULL;
    size_t len = 0, cap = 0, got;
    int rc;

    *out = NULL;
    if (!(f = fopen(path, "rb")))
        return sieve_errbuf_set(err, sieve_error_from_errno(errno), "open '%s': %s", path,
                                strerror(errno));
    for (;;) {
        if (array_grow(&buf, &cap, len + 4096, 1) < 0) {
            free(buf);
            fclose(f);
            return sieve_errbuf_set(err, SIEVE_ENOMEM, "read '%s': out of memory", path);
        }
        got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0)
            break;
    }
    if (ferror(f)) {
        free(buf);
        fclose(f);
        return sieve_errbuf_set(err, SIEVE_EIO, "read '%s': input/output error", path);
    }
    fclose(f);
    rc = spec_parse(path, buf, len, out, diags, err);
    free(buf);
    return rc;
}

static void
free_var(struct spec_var *v)
{
    for (size_t j = 0; j < v->n_values; j++) {
        free(v->values[j]);
        free(v->plain[j]);
    }
    free(v->values);
    free(v->plain);
    free(v->value_marks);
    free(v->name);
}

static void
free_param(struct spec_param *sp)
{
    free(sp->name);
    free(sp->text);
    free(sp->raw);
    free(sp->origin);
}

void
spec_free(struct spec *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n_nodes; i++) {
        struct spec_node *n = &s->nodes[i];
        for (size_t j = 0; j < n->n_inputs; j++) {
            free(n->inputs[j].port);
            free(n->inputs[j].node);
            free(n->inputs[j].out_port);
        }
        for (size_t j = 0; j < n->n_params; j++)
            free_param(&n->params[j]);
        free(n->inputs);
        free(n->params);
        free(n->name);
        free(n->plugin_name);
        host_plugin_free(n->script_plugin);
    }
    free(s->nodes);
    for (size_t i = 0; i < s->n_vars; i++)
        free_var(&s->vars[i]);
    free(s->vars);
    for (size_t i = 0; i < s->n_samples; i++) {
        free(s->samples[i].id);
        free(s->samples[i].media);
        free(s->samples[i].category);
        free(s->samples[i].fields_json);
    }
    free(s->samples);
    for (size_t i = 0; i < s->n_executor; i++) {
        free(s->executor[i].key);
        free(s->executor[i].value);
    }
    free(s->executor);
    free(s->path);
    free(s->text);
    free(s->name);
    free(s->manifest);
    free(s->glob);
    free(s);
}

int
spec_node_find(const struct spec *s, const char *name)
{
    for (size_t i = 0; i < s->n_nodes; i++)
        if (!strcmp(s->nodes[i].name, name))
            return (int)i;
    return -1;
}
