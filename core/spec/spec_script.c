/*
 * spec_script.c - script nodes in a pipeline: `plugin: python` with `with: { script: ... }`
 * (spec_int.h; the descriptor they get is described in core/host/host.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/sbuf.h"
#include "core/host/host.h"
#include "core/spec/spec.h"
#include "spec_int.h"

static struct spec_param *
param_find(struct spec_node *n, const char *name)
{
    for (size_t i = 0; i < n->n_params; i++)
        if (!strcmp(n->params[i].name, name))
            return &n->params[i];
    return NULL;
}

/* Replaces a STRING parameter's value by `value` (quoted, so any path reads back as itself). */
static int
param_set(struct spec_param *p, const char *value)
{
    struct sbuf b = {0};
    char *raw = strdup(value), *text;
    sbuf_quoted(&b, value);
    text = sbuf_take(&b);
    if (!raw || !text) {
        free(raw);
        free(text);
        return -1;
    }
    free(p->raw);
    free(p->text);
    p->raw = raw;
    p->text = text;
    p->quoted = 1;
    return 0;
}

/* A literal value of a parameter, or NULL (with a diagnostic) when it uses the matrix. */
static const char *
literal(struct spec *s, struct spec_node *n, struct spec_param *p, struct spec_diags *d)
{
    if (!p->raw || strstr(p->raw, "${")) {
        spec_diags_add(d, 0, p->origin ? p->origin : s->path, p->mark,
                       "node '%s': '%s' must be a literal %s, not a list or a matrix value",
                       n->name, p->name, strcmp(p->name, "script") ? "interpreter" : "script");
        return NULL;
    }
    return p->raw;
}

/* `value` relative to the pipeline file when it is a relative path (contains a '/' or ends in
 * .py); a command or module name is left alone. */
static char *
anchored(const struct spec *s, const char *value)
{
    size_t n = strlen(value);
    int path =
        strchr(value, '/') || (n > 3 && !strcmp(value + n - 3, ".py")) || strstr(value, ".py:");
    if (!path || value[0] == '/')
        return strdup(value);
    char *dir = spec_dirname(s->path), *joined = dir ? spec_path_join(dir, value) : NULL;
    free(dir);
    return joined;
}

void
spec_script_resolve(struct spec *s, struct spec_node *n, struct spec_diags *d)
{
    const struct host_plugin *bridge = n->plugin;
    struct spec_param *ps = param_find(n, "script"), *pp = param_find(n, "python");
    const char *script, *python = "python3";
    char *target = NULL, *interp = NULL, *pinned = NULL, *pin;
    struct host_script_where where;
    struct host_plugin *sp = NULL;
    struct sieve_errbuf err = {{0}};

    host_plugin_free(n->script_plugin);
    n->script_plugin = NULL;
    if (!ps)
        return; /* check_params reports the missing required parameter */
    if (!(script = literal(s, n, ps, d)) || (pp && !(python = literal(s, n, pp, d)))) {
        n->plugin = NULL;
        return;
    }
    target = anchored(s, script);
    interp = anchored(s, python);
    if (!target || !interp)
        goto nomem;
    if ((pin = strstr(target, HOST_SCRIPT_PIN)))
        *pin = '\0'; /* validated before: the pin is ours */
    if (host_script_open(bridge, interp, target, &sp, &pinned, &where, &err) < 0) {
        if (where.line)
            spec_diags_add(d, 0, where.file, (struct spec_mark){where.line, where.col},
                           "node '%s': %s", n->name, err.msg);
        else
            spec_diags_add(d, 0, ps->origin ? ps->origin : s->path, ps->mark,
                           "node '%s': script '%s': %s", n->name, where.file, err.msg);
        n->plugin = NULL;
        goto out;
    }
    if (param_set(ps, pinned) < 0 || (pp && param_set(pp, interp) < 0)) {
        host_plugin_free(sp);
        goto nomem;
    }
    n->script_plugin = sp;
    n->plugin = sp;
    goto out;
nomem:
    spec_diags_add(d, 0, s->path, n->mark, "node '%s': out of memory", n->name);
    n->plugin = NULL;
out:
    free(pinned);
    free(target);
    free(interp);
}
