/*
 * cmd_plugins.c - `sieve plugins [NAME] [--json]`: which plugins the host finds, and what one
 * of them takes and gives.
 *
 * Without NAME it lists every plugin on the search path (name, version, summary) on stdout and
 * every rejected file as one warning line on stderr; the exit status is 0 either way, since a
 * broken file elsewhere on the path does not make the listing wrong. With NAME it shows the
 * plugin's ports and parameter table. --json prints the same as one JSON object:
 *   list:   {"plugins": [{"name", "version", "summary", "path", "flags"}], "problems": [..]}
 *   detail: {"name", "version", "summary", "path", "flags", "inputs": [{"name", "doc",
 *            "optional"}], "outputs": [...], "parameters": [{"name", "type", "item_type",
 *            "default", "required", "min", "max", "choices", "in_key", "doc"}]}
 * A parameter flagged SIEVE_PARAM_NO_KEY says "not in task key" (text) and "in_key": false.
 */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "core/host/host.h"

static void
usage(FILE *f)
{
    fprintf(f, "usage: sieve plugins [NAME | SCRIPT.py[:Class]] [--json]\n\n"
               "Lists the plugins found on the search path ($SIEVE_PLUGIN_PATH, the build\n"
               "tree's plugins/, the install directory), or shows one plugin's ports and\n"
               "parameters. Files that fail to load are reported on stderr, one line each.\n"
               "A Python node script (a name ending in .py) is shown as the python plugin\n"
               "sees it, from its declaration, read with $SIEVE_PYTHON (default python3).\n\n"
               "  --json   print one JSON object instead of text\n");
}

static json_t *
flags_json(uint32_t flags)
{
    json_t *a = json_array();
    if (flags & SIEVE_PLUGIN_NEEDS_DEVICE)
        json_array_append_new(a, json_string("needs-device"));
    if (flags & SIEVE_PLUGIN_REDUCE)
        json_array_append_new(a, json_string("reduce"));
    if (flags & SIEVE_PLUGIN_DETERMINISTIC)
        json_array_append_new(a, json_string("deterministic"));
    return a;
}

static void
flags_text(uint32_t flags, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s%s%s", (flags & SIEVE_PLUGIN_NEEDS_DEVICE) ? " needs-device" : "",
             (flags & SIEVE_PLUGIN_REDUCE) ? " reduce" : "",
             (flags & SIEVE_PLUGIN_DETERMINISTIC) ? " deterministic" : "");
    if (!buf[0])
        snprintf(buf, cap, " none");
}

static int
print_json(json_t *root)
{
    return cli_json_print(root, JSON_INDENT(2) | JSON_REAL_PRECISION(17)) < 0 ? CLI_EXIT_FAIL
                                                                              : CLI_EXIT_OK;
}

static int
list_plugins(const struct host_registry *reg, int json)
{
    size_t n = host_registry_count(reg), wname = 4, wver = 7;

    for (size_t i = 0; i < host_registry_problem_count(reg); i++)
        fprintf(stderr, "sieve plugins: warning: %s\n", host_registry_problem_at(reg, i));
    if (json) {
        json_t *root = json_object(), *arr = json_array(), *probs = json_array();
        for (size_t i = 0; i < n; i++) {
            const struct host_plugin *p = host_registry_at(reg, i);
            json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:s, s:o}", "name", p->name,
                                                 "version", p->desc->version, "summary",
                                                 p->desc->summary ? p->desc->summary : "", "path",
                                                 p->path, "flags", flags_json(p->desc->flags)));
        }
        for (size_t i = 0; i < host_registry_problem_count(reg); i++)
            json_array_append_new(probs, json_string(host_registry_problem_at(reg, i)));
        json_object_set_new(root, "plugins", arr);
        json_object_set_new(root, "problems", probs);
        return print_json(root);
    }
    for (size_t i = 0; i < n; i++) {
        const struct host_plugin *p = host_registry_at(reg, i);
        if (strlen(p->name) > wname)
            wname = strlen(p->name);
        if (strlen(p->desc->version) > wver)
            wver = strlen(p->desc->version);
    }
    if (n == 0) {
        printf("no plugins found\n");
        return CLI_EXIT_OK;
    }
    printf("%-*s  %-*s  %s\n", (int)wname, "NAME", (int)wver, "VERSION", "SUMMARY");
    for (size_t i = 0; i < n; i++) {
        const struct host_plugin *p = host_registry_at(reg, i);
        printf("%-*s  %-*s  %s\n", (int)wname, p->name, (int)wver, p->desc->version,
               p->desc->summary ? p->desc->summary : "");
    }
    return CLI_EXIT_OK;
}

/* "[0, 1]", "[1, inf)", "(-inf, 10]" or "" when unbounded. */
static void
range_text(const struct sieve_param *r, char *buf, size_t cap)
{
    char lo[40] = "-inf", hi[40] = "inf";

    buf[0] = '\0';
    if (!(r->flags & (SIEVE_PARAM_HAS_MIN | SIEVE_PARAM_HAS_MAX)))
        return;
    if (r->flags & SIEVE_PARAM_HAS_MIN)
        host_number_format(r->min, lo, sizeof lo);
    if (r->flags & SIEVE_PARAM_HAS_MAX)
        host_number_format(r->max, hi, sizeof hi);
    snprintf(buf, cap, "%s%s, %s%s", (r->flags & SIEVE_PARAM_HAS_MIN) ? "[" : "(", lo, hi,
             (r->flags & SIEVE_PARAM_HAS_MAX) ? "]" : ")");
}

static void
type_text(const struct sieve_param *r, char *buf, size_t cap)
{
    if (r->type == SIEVE_PARAM_LIST)
        snprintf(buf, cap, "list of %s", host_param_type_name(r->item_type));
    else
        snprintf(buf, cap, "%s", host_param_type_name(r->type));
}

static json_t *
detail_json(const struct host_plugin *p)
{
    const struct sieve_plugin *d = p->desc;
    json_t *root =
        json_pack("{s:s, s:s, s:s, s:s, s:o}", "name", p->name, "version", d->version, "summary",
                  d->summary ? d->summary : "", "path", p->path, "flags", flags_json(d->flags));
    json_t *ports[2] = {json_array(), json_array()}, *params = json_array();

    for (int o = 0; o < 2; o++) {
        const struct sieve_port *v = o ? d->outputs : d->inputs;
        uint32_t n = o ? d->n_outputs : d->n_inputs;
        for (uint32_t i = 0; i < n; i++)
            json_array_append_new(ports[o], json_pack("{s:s, s:s, s:b}", "name", v[i].name, "doc",
                                                      v[i].doc ? v[i].doc : "", "optional",
                                                      !o && (v[i].flags & SIEVE_PORT_OPTIONAL)));
    }
    for (uint32_t i = 0; i < d->n_params; i++) {
        const struct sieve_param *r = &d->params[i];
        json_t *o = json_pack("{s:s, s:s, s:s, s:b, s:b}", "name", r->name, "type",
                              host_param_type_name(r->type), "doc", r->doc ? r->doc : "",
                              "required", (r->flags & SIEVE_PARAM_REQUIRED) != 0, "in_key",
                              !(r->flags & SIEVE_PARAM_NO_KEY));
        json_object_set_new(o, "default", r->def ? json_string(r->def) : json_null());
        if (r->type == SIEVE_PARAM_LIST)
            json_object_set_new(o, "item_type", json_string(host_param_type_name(r->item_type)));
        if (r->flags & SIEVE_PARAM_HAS_MIN)
            json_object_set_new(o, "min", json_real(r->min));
        if (r->flags & SIEVE_PARAM_HAS_MAX)
            json_object_set_new(o, "max", json_real(r->max));
        if (r->type == SIEVE_PARAM_ENUM) {
            json_t *c = json_array();
            for (size_t k = 0; r->choices[k]; k++)
                json_array_append_new(c, json_string(r->choices[k]));
            json_object_set_new(o, "choices", c);
        }
        json_array_append_new(params, o);
    }
    json_object_set_new(root, "inputs", ports[0]);
    json_object_set_new(root, "outputs", ports[1]);
    json_object_set_new(root, "parameters", params);
    if (d->row_fields) {
        json_t *rf = json_array();
        for (size_t k = 0; d->row_fields[k]; k++)
            json_array_append_new(rf, json_string(d->row_fields[k]));
        json_object_set_new(root, "row_fields", rf);
    }
    return root;
}

static void
detail_text(const struct host_plugin *p)
{
    const struct sieve_plugin *d = p->desc;
    char flags[80], type[40], range[100];

    printf("%s %s - %s\n", p->name, d->version, d->summary ? d->summary : "");
    flags_text(d->flags, flags, sizeof flags);
    printf("file:  %s\nflags:%s\n", p->path, flags);
    if (d->row_fields) {
        printf("reads: ");
        for (size_t k = 0; d->row_fields[k]; k++)
            printf("%s%s", k ? ", " : "", d->row_fields[k]);
        printf(" (manifest row fields)\n");
    }
    for (int o = 0; o < 2; o++) {
        const struct sieve_port *v = o ? d->outputs : d->inputs;
        uint32_t n = o ? d->n_outputs : d->n_inputs;
        printf("\n%s:%s\n", o ? "outputs" : "inputs",
               n ? "" : o ? " none" : " none (reads the sample's media)");
        for (uint32_t i = 0; i < n; i++)
            printf("  %-16s %s%s\n", v[i].name, v[i].doc ? v[i].doc : "",
                   !o && (v[i].flags & SIEVE_PORT_OPTIONAL) ? " (optional)" : "");
    }
    printf("\nparameters:%s\n", d->n_params ? "" : " none");
    for (uint32_t i = 0; i < d->n_params; i++) {
        const struct sieve_param *r = &d->params[i];
        type_text(r, type, sizeof type);
        range_text(r, range, sizeof range);
        printf("  %-16s %s", r->name, type);
        if (r->flags & SIEVE_PARAM_REQUIRED)
            printf(", required");
        else
            printf(", default %s", r->def);
        if (range[0])
            printf(", range %s", range);
        if (r->type == SIEVE_PARAM_ENUM) {
            printf(", one of ");
            for (size_t k = 0; r->choices[k]; k++)
                printf("%s%s", k ? "|" : "", r->choices[k]);
        }
        if (r->flags & SIEVE_PARAM_NO_KEY)
            printf(", not in task key");
        printf("\n  %-16s %s\n", "", r->doc ? r->doc : "");
    }
}

/* The problem line of a rejected file named like `name`, if any. */
static const char *
rejected(const struct host_registry *reg, const char *name)
{
    char a[300], b[300];

    snprintf(a, sizeof a, "/%s.so'", name);
    snprintf(b, sizeof b, "/sieve-%s.so'", name);
    for (size_t i = 0; i < host_registry_problem_count(reg); i++) {
        const char *line = host_registry_problem_at(reg, i);
        if (strstr(line, a) || strstr(line, b))
            return line;
    }
    return NULL;
}

int
cli_plugin_lookup(const struct host_registry *reg, const char *verb, const char *name,
                  const struct host_plugin **out)
{
    const char *why, *close;

    *out = host_registry_find(reg, name);
    if (*out)
        return CLI_EXIT_OK;
    if ((why = rejected(reg, name))) {
        cli_error(verb, "%s", why);
        return CLI_EXIT_FAIL;
    }
    if ((close = host_registry_suggest(reg, name)))
        cli_error(verb, "unknown plugin '%s' (did you mean '%s'?)", name, close);
    else
        cli_error(verb, "unknown plugin '%s' (see 'sieve plugins')", name);
    return CLI_EXIT_NOTFOUND;
}

/* Whether NAME names a Python node script rather than a plugin. */
static int
is_script(const char *name)
{
    size_t n = strlen(name);
    return (n > 3 && !strcmp(name + n - 3, ".py")) || strstr(name, ".py:") != NULL;
}

/* `sieve plugins SCRIPT.py`: the descriptor the python plugin gives the script. */
static int
show_script(const struct host_registry *reg, const char *target, int json)
{
    const struct host_plugin *bridge = host_registry_find(reg, HOST_SCRIPT_BRIDGE);
    const char *python = getenv("SIEVE_PYTHON");
    struct host_script_where where;
    struct host_plugin *p;
    struct sieve_errbuf err = {{0}};
    char *pinned = NULL;

    if (!bridge) {
        cli_error("plugins", "no '%s' plugin on the search path to run '%s'", HOST_SCRIPT_BRIDGE,
                  target);
        return CLI_EXIT_NOTFOUND;
    }
    if (host_script_open(bridge, python && python[0] ? python : NULL, target, &p, &pinned, &where,
                         &err) < 0) {
        if (where.line)
            fprintf(stderr, "%s:%u:%u: %s\n", where.file, where.line, where.col, err.msg);
        else
            cli_error("plugins", "script '%s': %s", where.file, err.msg);
        return CLI_EXIT_FAIL;
    }
    int rc = CLI_EXIT_OK;
    if (json) {
        json_t *o = detail_json(p);
        json_object_set_new(o, "script", json_string(where.file));
        rc = print_json(o);
    } else {
        printf("script: %s\n", where.file);
        detail_text(p);
    }
    free(pinned);
    host_plugin_free(p);
    return rc;
}

int
cmd_plugins(int argc, char **argv)
{
    struct sieve_errbuf err = {{0}};
    struct host_registry *reg;
    const struct host_plugin *p;
    int json = 0, rc;

    if ((rc = cli_parse_opts(argc, argv, usage, NULL, &json)) >= 0)
        return rc;
    if (argc - optind > 1) {
        cli_error("plugins", "expected at most one NAME, got %d", argc - optind);
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    if (host_registry_scan(NULL, &reg, &err) < 0) {
        cli_error("plugins", "%s", err.msg);
        return CLI_EXIT_FAIL;
    }
    if (argc - optind == 0) {
        rc = list_plugins(reg, json);
    } else if (is_script(argv[optind])) {
        rc = show_script(reg, argv[optind], json);
    } else if ((rc = cli_plugin_lookup(reg, "plugins", argv[optind], &p)) == CLI_EXIT_OK) {
        if (json) {
            rc = print_json(detail_json(p));
        } else {
            detail_text(p);
            rc = CLI_EXIT_OK;
        }
    }
    host_registry_free(reg);
    return rc;
}
