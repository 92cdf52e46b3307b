/*
 * spec_check.c - command-line overrides, matrix substitution and validation of a parsed
 * spec against the plugin registry.
 *
 * Validation keeps going after a problem: each node, parameter, input and variable is
 * checked on its own, and the graph checks (unknown nodes, cycles) run on whatever resolved.
 * A parameter that uses matrix variables is checked for every combination of the values of
 * the variables it uses, so a bad matrix value is found before any task runs.
 */
#include <stdlib.h>
#include <string.h>

#include "base/array.h"
#include "core/host/host.h"
#include "core/spec/spec.h"
#include "spec_int.h"

/* At most this many combinations of one parameter's variables are checked. */
#define MAX_CHECKS 4096

static int
var_find(const struct spec *s, const char *name, size_t len)
{
    for (size_t i = 0; i < s->n_vars; i++)
        if (s->vars[i].name && strlen(s->vars[i].name) == len &&
            !strncmp(s->vars[i].name, name, len))
            return (int)i;
    return -1;
}

/* ---- --set ----------------------------------------------------------------------------- */

static char *
trim(const char *s, size_t len)
{
    while (len && (*s == ' ' || *s == '\t')) {
        s++;
        len--;
    }
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        len--;
    return strndup(s, len);
}

/* The unquoted form of a scalar text ("'a'" -> a, "\"b\"" -> b). */
static char *
unquote(const char *t)
{
    size_t len = strlen(t);
    if (len >= 2 && (t[0] == '"' || t[0] == '\'') && t[len - 1] == t[0])
        return strndup(t + 1, len - 2);
    return strdup(t);
}

/* Splits "[a, b, 'c,d']" into trimmed items at top-level commas. */
static int
split_list(const char *text, char ***out, size_t *n)
{
    size_t len = strlen(text), cap = 0, count = 0, start = 1;
    char **items = NULL;
    int depth = 0;
    char quote = 0;

    if (array_grow(&items, &cap, 8, sizeof *items) < 0)
        return -1;
    for (size_t i = 1; i < len - 1 + 1; i++) {
        char c = i < len - 1 ? text[i] : ',';
        if (quote) {
            if (c == quote)
                quote = 0;
            continue;
        }
        if (c == '"' || c == '\'')
            quote = c;
        else if (c == '[')
            depth++;
        else if (c == ']')
            depth--;
        else if (c == ',' && depth == 0) {
            char *item = trim(text + start, i - start);
            if (!item)
                break;
            if (!*item) {
                free(item);
                start = i + 1;
                continue;
            }
            if (array_grow(&items, &cap, count + 1, sizeof *items) < 0) {
                free(item);
                break;
            }
            items[count++] = item;
            start = i + 1;
        }
    }
    *out = items;
    *n = count;
    return 0;
}

static int
set_param(struct spec *s, const char *lhs, size_t lhs_len, const char *value,
          const char *assignment, struct sieve_errbuf *err)
{
    const char *dot = memchr(lhs, '.', lhs_len);
    char *node = strndup(lhs, (size_t)(dot - lhs));
    char *name = strndup(dot + 1, lhs_len - (size_t)(dot - lhs) - 1);
    struct spec_node *n;
    struct spec_param *p = NULL;
    int idx;

    if (!node || !name) {
        free(node);
        free(name);
        return sieve_errbuf_set(err, SIEVE_ENOMEM, "out of memory");
    }
    idx = spec_node_find(s, node);
    if (idx < 0 || !*name) {
        sieve_errbuf_set(err, SIEVE_EINVAL, "--set '%s': %s", assignment,
                         idx < 0 ? "unknown node" : "missing parameter name");
        free(node);
        free(name);
        return SIEVE_EINVAL;
    }
    free(node);
    n = &s->nodes[idx];
    for (size_t i = 0; i < n->n_params; i++)
        if (!strcmp(n->params[i].name, name))
            p = &n->params[i];
    if (!p) {
        struct spec_param *np = realloc(n->params, (n->n_params + 1) * sizeof *np);
        if (!np) {
            free(name);
            return sieve_errbuf_set(err, SIEVE_ENOMEM, "out of memory");
        }
        n->params = np;
        p = &n->params[n->n_params++];
        memset(p, 0, sizeof *p);
        p->name = name;
    } else {
        free(name);
        free(p->text);
        free(p->raw);
        free(p->origin);
    }
    p->text = strdup(value);
    p->raw = unquote(value);
    p->quoted = value[0] == '"' || value[0] == '\'';
    p->origin = malloc(strlen(assignment) + 7);
    if (p->origin)
        sprintf(p->origin, "--set %s", assignment);
    p->mark = p->key_mark = (struct spec_mark){0, 0};
    return 0;
}

int
spec_set(struct spec *s, const char *assignment, struct sieve_errbuf *err)
{
    const char *eq = strchr(assignment, '=');
    const char *value;
    struct spec_var *v;
    char **items = NULL;
    size_t n = 0;
    int idx;

    if (!eq || eq == assignment)
        return sieve_errbuf_set(err, SIEVE_EINVAL,
                                "--set '%s': expected var=value or "
                                "node.param=value",
                                assignment);
    value = eq + 1;
    if (memchr(assignment, '.', (size_t)(eq - assignment)))
        return set_param(s, assignment, (size_t)(eq - assignment), value, assignment, err);

    for (const char *c = assignment; c < eq; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '_'))
            return sieve_errbuf_set(err, SIEVE_EINVAL, "--set '%s': bad variable name", assignment);
    if (value[0] == '[' && value[strlen(value) - 1] == ']') {
        if (split_list(value, &items, &n) < 0)
            return sieve_errbuf_set(err, SIEVE_ENOMEM, "out of memory");
    } else {
        items = calloc(1, sizeof *items);
        if (items && (items[0] = strdup(value)))
            n = 1;
    }
    if (!n) {
        free(items);
        return sieve_errbuf_set(err, SIEVE_EINVAL, "--set '%s': no values", assignment);
    }
    idx = var_find(s, assignment, (size_t)(eq - assignment));
    if (idx < 0) {
        struct spec_var *nv;
        if (s->n_vars >= SPEC_MAX_VARS || !(nv = realloc(s->vars, (s->n_vars + 1) * sizeof *nv))) {
            for (size_t i = 0; i < n; i++)
                free(items[i]);
            free(items);
            return sieve_errbuf_set(err, SIEVE_EINVAL, "--set '%s': too many variables",
                                    assignment);
        }
        s->vars = nv;
        v = &s->vars[s->n_vars++];
        memset(v, 0, sizeof *v);
        v->name = strndup(assignment, (size_t)(eq - assignment));
    } else {
        v = &s->vars[idx];
        for (size_t i = 0; i < v->n_values; i++) {
            free(v->values[i]);
            free(v->plain[i]);
        }
        free(v->values);
        free(v->plain);
        free(v->value_marks);
    }
    v->values = items;
    v->plain = calloc(n, sizeof *v->plain);
    v->value_marks = calloc(n, sizeof *v->value_marks);
    v->n_values = n;
    v->from_cli = 1;
    for (size_t i = 0; v->plain && i < n; i++)
        v->plain[i] = unquote(items[i]);
    if (!v->name || !v->plain || !v->value_marks)
        return sieve_errbuf_set(err, SIEVE_ENOMEM, "out of memory");
    return 0;
}

/* ---- substitution ---------------------------------------------------------------------- */

/* Finds the next "${name}" at or after *p; returns its variable index (-2: undefined, with
 * the name span in name and len) or -1 when there are no more. */
static int
next_ref(const struct spec *s, const char **p, const char **start, const char **name, size_t *len)
{
    const char *a = strstr(*p, "${"), *b;
    if (!a || !(b = strchr(a + 2, '}')))
        return -1;
    *start = a;
    *name = a + 2;
    *len = (size_t)(b - a - 2);
    *p = b + 1;
    int v = var_find(s, *name, *len);
    return v >= 0 ? v : -2;
}

static int
exact_ref(const struct spec *s, const struct spec_param *p)
{
    const char *r = p->raw;
    size_t len;
    if (!r || strncmp(r, "${", 2))
        return -1;
    len = strlen(r);
    if (len < 4 || r[len - 1] != '}' || memchr(r + 2, '}', len - 3))
        return -1;
    return var_find(s, r + 2, len - 3);
}

char *
spec_param_expand(const struct spec *s, const struct spec_param *p, const int32_t *assign)
{
    struct sbuf b = {0};
    const char *cur, *start, *name;
    size_t len;
    int v = exact_ref(s, p);

    if (v >= 0)
        return assign[v] >= 0 ? strdup(s->vars[v].values[assign[v]]) : NULL;
    cur = p->text;
    for (;;) {
        const char *before = cur;
        v = next_ref(s, &cur, &start, &name, &len);
        if (v == -1) {
            sbuf_str(&b, before);
            break;
        }
        if (v < 0 || assign[v] < 0) {
            free(b.s);
            return NULL;
        }
        sbuf_add(&b, before, (size_t)(start - before));
        if (p->quoted) {
            /* inside a quoted scalar: escape what would end or break the quotes */
            for (const char *c = s->vars[v].plain[assign[v]]; *c; c++) {
                if (*c == '"' || *c == '\\')
                    sbuf_ch(&b, '\\');
                sbuf_ch(&b, *c);
            }
        } else {
            sbuf_str(&b, s->vars[v].plain[assign[v]]);
        }
    }
    return sbuf_take(&b);
}

/* ---- validation ------------------------------------------------------------------------ */

struct check {
    struct spec *s;
    const struct host_registry *reg;
    struct spec_diags *d;
};

static const char *
file_of(const struct check *c, const struct spec_param *p)
{
    return p && p->origin ? p->origin : c->s->path;
}

static const char **
plugin_names(const struct host_registry *reg, size_t *n)
{
    size_t count = host_registry_count(reg);
    const char **names = calloc(count ? count : 1, sizeof *names);
    for (size_t i = 0; names && i < count; i++)
        names[i] = host_registry_at(reg, i)->name;
    *n = names ? count : 0;
    return names;
}

static const char *
port_suggest(const struct sieve_port *ports, uint32_t n, const char *word)
{
    const char *names[64];
    uint32_t k = n < 64 ? n : 64;
    for (uint32_t i = 0; i < k; i++)
        names[i] = ports[i].name;
    return spec_suggest(word, names, k);
}

/* Finds ${var} references of a parameter: marks them used, reports undefined ones.
 * Returns 0 when all are defined. */
static int
check_refs(struct check *c, struct spec_node *n, struct spec_param *p)
{
    const char *cur = p->text, *start, *name;
    size_t len;
    int v, bad = 0;

    p->vars = 0;
    while ((v = next_ref(c->s, &cur, &start, &name, &len)) != -1) {
        if (v >= 0) {
            p->vars |= 1ull << v;
            c->s->vars[v].used = 1;
            continue;
        }
        {
            const char *names[SPEC_MAX_VARS], *near;
            char *word = strndup(name, len);
            for (size_t i = 0; i < c->s->n_vars; i++)
                names[i] = c->s->vars[i].name ? c->s->vars[i].name : "";
            near = word ? spec_suggest(word, names, c->s->n_vars) : NULL;
            if (near)
                spec_diags_add(c->d, 0, file_of(c, p), p->mark,
                               "node '%s': parameter '%s': undefined variable '%s' (did you "
                               "mean '%s'?)",
                               n->name, p->name, word ? word : "", near);
            else
                spec_diags_add(c->d, 0, file_of(c, p), p->mark,
                               "node '%s': parameter '%s': undefined variable '%s'", n->name,
                               p->name, word ? word : "");
            free(word);
            bad = 1;
        }
    }
    n->vars |= p->vars;
    return bad ? -1 : 0;
}

/* Checks one parameter value for every combination of the variables it uses. */
static void
check_value(struct check *c, struct spec_node *n, struct spec_param *p,
            const struct sieve_param *row)
{
    int32_t assign[SPEC_MAX_VARS];
    uint32_t used[SPEC_MAX_VARS], nu = 0;
    size_t checks = 0;

    for (size_t i = 0; i < c->s->n_vars; i++) {
        assign[i] = -1;
        if (p->vars & (1ull << i)) {
            if (!c->s->vars[i].n_values)
                return; /* reported where the variable is defined */
            used[nu++] = (uint32_t)i;
            assign[i] = 0;
        }
    }
    for (;;) {
        struct sieve_value val;
        struct sieve_errbuf err = {{0}};
        char *text = spec_param_expand(c->s, p, assign);
        uint32_t k;

        if (!text)
            return;
        if (host_value_parse(row, text, &val, &err) < 0) {
            char with[512];
            size_t off = 0;
            with[0] = '\0';
            for (k = 0; k < nu && off < sizeof with; k++)
                off += (size_t)snprintf(with + off, sizeof with - off, "%s%s=%s",
                                        k ? ", " : " (with ", c->s->vars[used[k]].name,
                                        c->s->vars[used[k]].plain[assign[used[k]]]);
            if (nu && off < sizeof with)
                snprintf(with + off, sizeof with - off, ")");
            spec_diags_add(c->d, 0, file_of(c, p), p->mark, "node '%s': %s%s", n->name, err.msg,
                           with);
        } else {
            host_value_release(&val);
        }
        free(text);
        if (++checks >= MAX_CHECKS)
            return;
        /* next combination (odometer over the used variables) */
        for (k = 0; k < nu; k++) {
            uint32_t v = used[k];
            if ((size_t)++assign[v] < c->s->vars[v].n_values)
                break;
            assign[v] = 0;
        }
        if (k == nu)
            return;
    }
}

static void
check_params(struct check *c, struct spec_node *n)
{
    const struct sieve_plugin *d = n->plugin ? n->plugin->desc : NULL;

    for (size_t i = 0; i < n->n_params; i++) {
        struct spec_param *p = &n->params[i];
        int idx, refs_ok = check_refs(c, n, p) == 0;

        if (!d)
            continue;
        idx = host_plugin_param_index(n->plugin, p->name);
        if (idx < 0) {
            const char *names[256], *near;
            uint32_t k = d->n_params < 256 ? d->n_params : 256;
            for (uint32_t j = 0; j < k; j++)
                names[j] = d->params[j].name;
            near = spec_suggest(p->name, names, k);
            if (near)
                spec_diags_add(c->d, 0, file_of(c, p), p->key_mark,
                               "node '%s': unknown parameter '%s' (did you mean '%s'?)", n->name,
                               p->name, near);
            else if (!d->n_params)
                spec_diags_add(c->d, 0, file_of(c, p), p->key_mark,
                               "node '%s': unknown parameter '%s' (plugin '%s' takes none)",
                               n->name, p->name, n->plugin->name);
            else
                spec_diags_add(c->d, 0, file_of(c, p), p->key_mark,
                               "node '%s': unknown parameter '%s' for plugin '%s'", n->name,
                               p->name, n->plugin->name);
            continue;
        }
        if (refs_ok)
            check_value(c, n, p, &d->params[idx]);
    }
    for (uint32_t j = 0; d && j < d->n_params; j++) {
        size_t i;
        if (!(d->params[j].flags & SIEVE_PARAM_REQUIRED))
            continue;
        for (i = 0; i < n->n_params && strcmp(n->params[i].name, d->params[j].name); i++)
            ;
        if (i == n->n_params)
            spec_diags_add(c->d, 0, c->s->path, n->mark,
                           "node '%s': missing required parameter '%s'", n->name,
                           d->params[j].name);
    }
}

static void
check_inputs(struct check *c, struct spec_node *n, const char *const *node_names)
{
    const struct sieve_plugin *d = n->plugin ? n->plugin->desc : NULL;
    char list[256];

    for (size_t i = 0; i < n->n_inputs; i++) {
        struct spec_input *in = &n->inputs[i];
        const struct spec_node *src;
        const struct sieve_plugin *sd;
        int idx;

        if (d) {
            in->in_index = host_plugin_input_index(n->plugin, in->port);
            if (in->in_index < 0) {
                const char *near = port_suggest(d->inputs, d->n_inputs, in->port);
                host_port_names(d->inputs, d->n_inputs, list, sizeof list);
                if (near)
                    spec_diags_add(c->d, 0, c->s->path, in->key_mark,
                                   "node '%s': plugin '%s' has no input port '%s' (did you mean "
                                   "'%s'?)",
                                   n->name, n->plugin->name, in->port, near);
                else if (!d->n_inputs)
                    spec_diags_add(c->d, 0, c->s->path, in->key_mark,
                                   "node '%s': plugin '%s' has no input ports", n->name,
                                   n->plugin->name);
                else
                    spec_diags_add(c->d, 0, c->s->path, in->key_mark,
                                   "node '%s': plugin '%s' has no input port '%s' (inputs: %s)",
                                   n->name, n->plugin->name, in->port, list);
            }
        }
        idx = spec_node_find(c->s, in->node);
        if (idx < 0) {
            const char *near = spec_suggest(in->node, node_names, c->s->n_nodes);
            if (near)
                spec_diags_add(c->d, 0, c->s->path, in->mark,
                               "node '%s': input '%s': unknown node '%s' (did you mean '%s'?)",
                               n->name, in->port, in->node, near);
            else
                spec_diags_add(c->d, 0, c->s->path, in->mark,
                               "node '%s': input '%s': unknown node '%s'", n->name, in->port,
                               in->node);
            continue;
        }
        in->node_index = idx;
        src = &c->s->nodes[idx];
        if (!src->plugin)
            continue;
        sd = src->plugin->desc;
        if (sd->flags & SIEVE_PLUGIN_REDUCE) {
            spec_diags_add(c->d, 0, c->s->path, in->mark,
                           "node '%s': input '%s': node '%s' is a reduce node; its output "
                           "cannot be an input",
                           n->name, in->port, src->name);
            continue;
        }
        if (!in->out_port) {
            if (sd->n_outputs == 0)
                spec_diags_add(c->d, 0, c->s->path, in->mark,
                               "node '%s': input '%s': node '%s' has no outputs", n->name, in->port,
                               src->name);
            else
                in->out_index = 0;
            continue;
        }
        in->out_index = host_plugin_output_index(src->plugin, in->out_port);
        if (in->out_index < 0) {
            host_port_names(sd->outputs, sd->n_outputs, list, sizeof list);
            spec_diags_add(c->d, 0, c->s->path, in->mark,
                           "node '%s': input '%s': node '%s' has no output port '%s' (outputs: "
                           "%s)",
                           n->name, in->port, src->name, in->out_port, list);
        }
    }
    for (uint32_t j = 0; d && j < d->n_inputs; j++) {
        size_t i;
        if (d->inputs[j].flags & SIEVE_PORT_OPTIONAL)
            continue;
        for (i = 0; i < n->n_inputs && strcmp(n->inputs[i].port, d->inputs[j].name); i++)
            ;
        if (i == n->n_inputs)
            spec_diags_add(c->d, 0, c->s->path, n->mark, "node '%s': missing input '%s'", n->name,
                           d->inputs[j].name);
    }
}

int
spec_topo_order(const struct spec *s, uint32_t *order)
{
    uint32_t *indeg = calloc(s->n_nodes ? s->n_nodes : 1, sizeof *indeg);
    uint32_t head = 0, tail = 0;

    if (!indeg)
        return -1;
    for (size_t i = 0; i < s->n_nodes; i++)
        for (size_t j = 0; j < s->nodes[i].n_inputs; j++)
            if (s->nodes[i].inputs[j].node_index >= 0)
                indeg[i]++;
    for (size_t i = 0; i < s->n_nodes; i++)
        if (!indeg[i])
            order[tail++] = (uint32_t)i;
    /* Consumers are found by scanning; node counts are small (tens), tasks are what scale. */
    while (head < tail) {
        uint32_t u = order[head++];
        for (size_t i = 0; i < s->n_nodes; i++)
            for (size_t j = 0; j < s->nodes[i].n_inputs; j++)
                if (s->nodes[i].inputs[j].node_index == (int)u && --indeg[i] == 0)
                    order[tail++] = (uint32_t)i;
    }
    free(indeg);
    return (int)tail;
}

/* Reports each cycle among the nodes left out of the topological order once. */
static void
check_cycles(struct check *c)
{
    size_t n = c->s->n_nodes;
    uint32_t *order = calloc(n ? n : 1, sizeof *order);
    uint8_t *placed = calloc(n ? n : 1, 1), *reported = calloc(n ? n : 1, 1);
    int *onpath = calloc(n ? n : 1, sizeof *onpath);
    uint32_t *path = calloc(n + 1, sizeof *path);
    int k;

    if (!order || !placed || !reported || !onpath || !path)
        goto out;
    k = spec_topo_order(c->s, order);
    for (int i = 0; i < k; i++)
        placed[order[i]] = 1;
    for (size_t start = 0; start < n; start++) {
        size_t len = 0;
        uint32_t u = (uint32_t)start;
        if (placed[start] || reported[start])
            continue;
        /* Walk backwards along unplaced inputs until a node repeats: that closes a cycle. */
        memset(onpath, 0, n * sizeof *onpath);
        while (!onpath[u]) {
            const struct spec_node *sn = &c->s->nodes[u];
            size_t j;
            onpath[u] = (int)++len;
            path[len - 1] = u;
            for (j = 0; j < sn->n_inputs; j++) {
                int src = sn->inputs[j].node_index;
                if (src >= 0 && !placed[src])
                    break;
            }
            if (j == sn->n_inputs)
                break;
            u = (uint32_t)sn->inputs[j].node_index;
        }
        if (!onpath[u] || reported[u])
            continue;
        {
            struct sbuf b = {0};
            size_t first = (size_t)onpath[u] - 1;
            /* path runs consumer -> producer; print producer -> consumer */
            for (size_t i = len; i-- > first;) {
                sbuf_str(&b, c->s->nodes[path[i]].name);
                sbuf_str(&b, " -> ");
                reported[path[i]] = 1;
            }
            sbuf_str(&b, c->s->nodes[path[len - 1]].name);
            spec_diags_add(c->d, 0, c->s->path, c->s->nodes[path[len - 1]].mark, "cycle: %s",
                           b.s ? b.s : "");
            free(b.s);
        }
    }
out:
    free(order);
    free(placed);
    free(reported);
    free(onpath);
    free(path);
}

int
spec_validate(struct spec *s, const struct host_registry *reg, struct spec_diags *d)
{
    struct check c = {s, reg, d};
    size_t before = d->n_errors, n_names = 0;
    const char **names = plugin_names(reg, &n_names);
    const char **node_names = calloc(s->n_nodes ? s->n_nodes : 1, sizeof *node_names);

    for (size_t i = 0; node_names && i < s->n_nodes; i++)
        node_names[i] = s->nodes[i].name;
    for (size_t i = 0; i < s->n_vars; i++)
        s->vars[i].used = 0;
    for (size_t i = 0; i < s->n_nodes; i++) {
        struct spec_node *n = &s->nodes[i];
        n->vars = 0;
        if (n->plugin_name && !(n->plugin = host_registry_find(reg, n->plugin_name))) {
            const char *near = names ? spec_suggest(n->plugin_name, names, n_names) : NULL;
            if (near)
                spec_diags_add(d, 0, s->path, n->plugin_mark,
                               "node '%s': unknown plugin '%s' (did you mean '%s'?)", n->name,
                               n->plugin_name, near);
            else
                spec_diags_add(d, 0, s->path, n->plugin_mark, "node '%s': unknown plugin '%s'",
                               n->name, n->plugin_name);
        }
        if (host_plugin_is_script_bridge(n->plugin))
            spec_script_resolve(s, n, d);
        check_params(&c, n);
    }
    for (size_t i = 0; i < s->n_nodes; i++)
        check_inputs(&c, &s->nodes[i], node_names ? node_names : names);
    check_cycles(&c);
    for (size_t i = 0; i < s->n_vars; i++)
        if (!s->vars[i].used && s->vars[i].name) {
            if (s->vars[i].from_cli)
                spec_diags_add(d, 1, "--set", (struct spec_mark){0, 0},
                               "matrix variable '%s' is not used by any node", s->vars[i].name);
            else
                spec_diags_add(d, 1, s->path, s->vars[i].mark,
                               "matrix variable '%s' is not used by any node", s->vars[i].name);
        }
    free(names);
    free(node_names);
    return d->n_errors > before ? SIEVE_ESPEC : 0;
}
