/*
 * cmd_explain.c - `sieve explain`: why a node's tasks miss the cache, component by component.
 *
 *   sieve explain RUN NODE [--against RUN2]
 *                                          a run against the previous run of its pipeline;
 *                                          RUN as every verb reads it (id, last, name), and
 *                                          the pipeline file is not needed: each task's key
 *                                          components were recorded with the run
 *   sieve explain FILE NODE [--against RUN] [--set ...]
 *                                          a pipeline as it is now against a run (default:
 *                                          the newest run of that file)
 *
 * Tasks are matched by (sample, variant); their stored key components (plugin, version, ABI,
 * canonical params, input keys or media hash) are compared and each difference is counted, so
 * a sweep of 600 tasks explains itself in a few lines.
 */
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "base/array.h"
#include "core/host/host.h"
#include "core/plan/plan.h"
#include "store/store.h"

static void
usage(FILE *f)
{
    fprintf(f, "usage: sieve explain RUN NODE [--against RUN2] [--store DIR]\n"
               "       sieve explain FILE NODE [--against RUN] [--set VAR=VALUE]... [--store DIR]\n"
               "\n"
               "Says why the tasks of NODE have other cache keys than in an earlier run: which\n"
               "parameter, input, media file or plugin version changed.\n"
               "\n"
               "RUN is a run id, 'last' (the newest run) or a run name (its newest run); it is\n"
               "compared with the previous run of the same pipeline file (or RUN2), from what\n"
               "the runs recorded: the pipeline file need not exist any more. FILE is a\n"
               "pipeline as it is now, compared with its newest run (or RUN).\n");
}

/* One task's side of the comparison. */
struct side {
    char *sample; /* "" for a reduce task */
    char *variant;
    char *key;
    json_t *comp;
};

/* Reasons with counts, in first-seen order. */
struct reasons {
    char **text;
    size_t *count;
    size_t n, cap_text, cap_count;
};

static void
reason(struct reasons *r, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    for (size_t i = 0; i < r->n; i++)
        if (!strcmp(r->text[i], buf)) {
            r->count[i]++;
            return;
        }
    /* two arrays indexed alike, each with its own capacity: a failed grow leaves both valid */
    if (array_grow(&r->text, &r->cap_text, r->n + 1, sizeof *r->text) < 0 ||
        array_grow(&r->count, &r->cap_count, r->n + 1, sizeof *r->count) < 0)
        return;
    if (!(r->text[r->n] = strdup(buf)))
        return;
    r->count[r->n++] = 1;
}

static char *
value_text(json_t *v)
{
    return v ? json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT) : strdup("(unset)");
}

static const char *
str(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

/*
 * Each key of two JSON objects whose value changed, appeared or went: "<what> 'key': old ->
 * new". `unset` stands for a value `then` lacks, `removed` for one `now` lacks.
 */
static void
diff_fields(struct reasons *r, const char *what, const char *unset, const char *removed,
            json_t *then, json_t *now)
{
    const char *key;
    json_t *v;
    json_object_foreach(now, key, v)
    {
        json_t *old = json_object_get(then, key);
        if (!old || !json_equal(old, v)) {
            char *a = old ? value_text(old) : strdup(unset), *b = value_text(v);
            reason(r, "%s '%s': %s -> %s", what, key, a ? a : "?", b ? b : "?");
            free(a);
            free(b);
        }
    }
    json_object_foreach(then, key, v)
    {
        if (!json_object_get(now, key)) {
            char *a = value_text(v);
            reason(r, "%s '%s': %s -> %s", what, key, a ? a : "?", removed);
            free(a);
        }
    }
}

/* Adds the reasons why `now` differs from `then`. */
static void
diff(struct reasons *r, json_t *then, json_t *now)
{
    json_t *pt = json_object_get(then, "params"), *pn = json_object_get(now, "params");
    json_t *it = json_object_get(then, "inputs"), *in = json_object_get(now, "inputs");
    size_t found = r->n;
    size_t total_before = 0;

    for (size_t i = 0; i < r->n; i++)
        total_before += r->count[i];
    if (strcmp(str(then, "plugin"), str(now, "plugin")))
        reason(r, "plugin '%s' -> '%s'", str(then, "plugin"), str(now, "plugin"));
    else if (strcmp(str(then, "version"), str(now, "version")))
        reason(r, "plugin '%s' version %s -> %s", str(now, "plugin"), str(then, "version"),
               str(now, "version"));
    if (!json_equal(json_object_get(then, "abi"), json_object_get(now, "abi")))
        reason(r, "plugin ABI major %lld -> %lld",
               (long long)json_integer_value(json_object_get(then, "abi")),
               (long long)json_integer_value(json_object_get(now, "abi")));
    if (!json_equal(json_object_get(then, "schema"), json_object_get(now, "schema")))
        reason(r, "cache key schema changed");
    diff_fields(r, "parameter", "(unset)", "(removed)", pt, pn);
    if (strcmp(str(then, "media"), str(now, "media")))
        reason(r, "media file content changed");
    diff_fields(r, "row field", "(none)", "(none)", json_object_get(then, "row"),
                json_object_get(now, "row"));
    if (json_array_size(it) != json_array_size(in)) {
        reason(r, "inputs changed (%zu -> %zu)", json_array_size(it), json_array_size(in));
    } else {
        for (size_t i = 0; i < json_array_size(in); i++) {
            json_t *a = json_array_get(it, i), *b = json_array_get(in, i);
            if (strcmp(str(a, "key"), str(b, "key")) || strcmp(str(a, "node"), str(b, "node")))
                reason(r, "input '%s' (from '%s') changed", str(b, "port"),
                       *str(b, "node") ? str(b, "node") : "nothing");
        }
    }
    {
        size_t total_after = 0;
        for (size_t i = 0; i < r->n; i++)
            total_after += r->count[i];
        if (total_after == total_before && found == r->n)
            reason(r, "dataset rows (ids, categories, labels) changed");
    }
}

static void
sides_free(struct side *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(s[i].sample);
        free(s[i].variant);
        free(s[i].key);
        json_decref(s[i].comp);
    }
    free(s);
}

static int
sides_from_run(struct store *st, int64_t run, const char *node, struct side **out, size_t *n)
{
    struct sieve_errbuf err = {{0}};
    struct store_task_row *rows;
    struct side *s;
    int rc = store_task_list(st, run, NULL, node, &rows, n, &err);

    if (rc < 0) {
        cli_error("explain", "%s", err.msg);
        return rc;
    }
    s = calloc(*n ? *n : 1, sizeof *s);
    for (size_t i = 0; s && i < *n; i++) {
        s[i].sample = strdup(rows[i].sample ? rows[i].sample : "");
        s[i].variant = strdup(rows[i].variant_label ? rows[i].variant_label : "{}");
        s[i].key = strdup(rows[i].key ? rows[i].key : "");
        s[i].comp = rows[i].components ? json_loads(rows[i].components, 0, NULL) : NULL;
    }
    store_task_rows_free(rows, *n);
    *out = s;
    return s ? 0 : SIEVE_ENOMEM;
}

static int
sides_from_plan(const struct plan *p, const char *node, struct side **out, size_t *n)
{
    const struct plan_node *pn = NULL;
    struct side *s;

    for (uint32_t i = 0; i < p->n_nodes; i++)
        if (!strcmp(p->nodes[i].name, node))
            pn = &p->nodes[i];
    if (!pn) {
        cli_error("explain", "no node '%s' in '%s'", node, p->spec->path);
        return SIEVE_ENOENT;
    }
    s = calloc(pn->n_tasks ? pn->n_tasks : 1, sizeof *s);
    for (uint32_t k = 0; s && k < pn->n_tasks; k++) {
        const struct plan_task *t = &p->tasks[pn->first_task + k];
        char *c = plan_task_components(p, pn->first_task + k);
        s[k].sample = strdup(t->sample >= 0 ? p->samples[t->sample].id : "");
        s[k].variant = strdup(pn->variants[t->variant].label);
        s[k].key = strdup(t->key_hex);
        s[k].comp = c ? json_loads(c, 0, NULL) : NULL;
        free(c);
    }
    *out = s;
    *n = pn->n_tasks;
    return s ? 0 : SIEVE_ENOMEM;
}

static int
side_cmp(const void *a, const void *b)
{
    const struct side *x = a, *y = b;
    int c = strcmp(x->sample, y->sample);
    return c ? c : strcmp(x->variant, y->variant);
}

static int
compare(const char *node, const char *now_label, struct side *now, size_t n_now,
        const char *then_label, struct side *then, size_t n_then)
{
    struct reasons r = {0};
    size_t same = 0, changed = 0, fresh = 0;

    /* sorted once, then each task is found by binary search: big sweeps stay fast */
    qsort(then, n_then, sizeof *then, side_cmp);
    for (size_t i = 0; i < n_now; i++) {
        struct side *match = bsearch(&now[i], then, n_then, sizeof *then, side_cmp);
        if (!match) {
            fresh++;
            continue;
        }
        if (!strcmp(match->key, now[i].key)) {
            same++;
            continue;
        }
        changed++;
        if (match->comp && now[i].comp) {
            /* one task counts once per reason, however many of its inputs share it */
            struct reasons one = {0};
            diff(&one, match->comp, now[i].comp);
            for (size_t k = 0; k < one.n; k++) {
                reason(&r, "%s", one.text[k]);
                free(one.text[k]);
            }
            free(one.text);
            free(one.count);
        } else
            reason(&r, "key components not recorded");
    }
    printf("node '%s': %s vs %s\n", node, now_label, then_label);
    printf("  %zu task%s: %zu with changed keys, %zu unchanged, %zu without a match\n", n_now,
           n_now == 1 ? "" : "s", changed, same, fresh);
    for (size_t i = 0; i < r.n; i++) {
        printf("  %s  (%zu task%s)\n", r.text[i], r.count[i], r.count[i] == 1 ? "" : "s");
        free(r.text[i]);
    }
    if (fresh)
        printf("  new samples or matrix values: %zu task%s had no counterpart\n", fresh,
               fresh == 1 ? "" : "s");
    free(r.text);
    free(r.count);
    return 0;
}

/*
 * A pipeline file rather than a run: not an id or "last", and either a file that exists or a
 * name that reads as a path (so a missing 'p.yaml' says "not found", not "no run").
 */
static int
is_pipeline_file(const char *target)
{
    struct stat sb;
    size_t len = strlen(target);

    if (cli_run_ref_is_run(target))
        return 0;
    if (stat(target, &sb) == 0 && S_ISREG(sb.st_mode))
        return 1;
    return strchr(target, '/') || (len > 5 && !strcmp(target + len - 5, ".yaml")) ||
           (len > 4 && !strcmp(target + len - 4, ".yml"));
}

/*
 * The RUN form: the tasks a run recorded (their key components are in the store), so the
 * pipeline file need not exist any more. Fills `now` and `*prev` (0: nothing to compare).
 * Returns: 0, or an exit status with the reason printed.
 */
static int
now_from_run(struct store *st, const char *target, const char *node, const char *against,
             struct side **now, size_t *n_now, int64_t *prev, char *label, size_t label_len)
{
    struct sieve_errbuf err = {{0}};
    struct store_run r;
    int64_t run;
    int rc;

    if ((rc = cli_run_resolve("explain", st, target, &run)) != CLI_EXIT_OK ||
        (rc = cli_run_get("explain", st, run, &r)) != CLI_EXIT_OK)
        return rc;
    if (sides_from_run(st, run, node, now, n_now) < 0) {
        rc = CLI_EXIT_FAIL;
        goto out;
    }
    if (!*n_now) {
        cli_error("explain", "run %lld has no tasks of node '%s'", (long long)run, node);
        rc = CLI_EXIT_NOTFOUND;
        goto out;
    }
    if (against)
        rc = cli_run_resolve("explain", st, against, prev);
    else if (store_run_previous(st, r.pipeline_path, run, prev, &err) < 0) {
        cli_error("explain", "%s", err.msg);
        rc = CLI_EXIT_FAIL;
    }
    if (rc == CLI_EXIT_OK && !*prev)
        printf("node '%s': run %lld is the first run of '%s' (%zu task%s): nothing to compare\n",
               node, (long long)run, r.pipeline_path ? r.pipeline_path : "", *n_now,
               *n_now == 1 ? "" : "s");
    snprintf(label, label_len, "run %lld", (long long)run);
out:
    store_run_release(&r);
    return rc;
}

/*
 * The FILE form: the pipeline as it is now (with --set), planned without a cache lookup.
 * Fills `now`, `*st` and `*prev` (0: nothing to compare). Returns: 0, or an exit status with
 * the reason printed.
 */
static int
now_from_file(const char *target, const char *node, const char *against, const char *const *sets,
              size_t n_sets, const char *store_opt, struct store **st, struct side **now,
              size_t *n_now, int64_t *prev, char *label, size_t label_len)
{
    struct plan_opts o = {.path = target, .sets = sets, .n_sets = n_sets, .no_lookup = 1};
    struct sieve_errbuf err = {{0}};
    struct host_registry *reg;
    struct plan *p;
    char real[PATH_MAX];
    int rc;

    if ((rc = cli_plan_prepare("explain", &o, store_opt, &reg, st, &p)) != 0)
        return rc;
    rc = sides_from_plan(p, node, now, n_now) < 0 ? CLI_EXIT_NOTFOUND : CLI_EXIT_OK;
    plan_free(p);
    host_registry_free(reg);
    if (rc != CLI_EXIT_OK)
        return rc;
    snprintf(label, label_len, "'%s' now", target);
    if (against)
        return cli_run_resolve("explain", *st, against, prev);
    /* runs may record the path as typed or made absolute */
    store_run_previous(*st, target, 0, prev, &err);
    if (!*prev && realpath(target, real))
        store_run_previous(*st, real, 0, prev, &err);
    if (!*prev)
        printf("no earlier run of '%s' to compare with\n", target);
    return CLI_EXIT_OK;
}

int
cmd_explain(int argc, char **argv)
{
    static const struct option opts[] = {
        {"against", required_argument, NULL, 'a'},
        {"set", required_argument, NULL, 's'},
        {"store", required_argument, NULL, 'S'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char **sets = calloc((size_t)argc + 1, sizeof *sets);
    const char *store_opt = NULL, *against = NULL, *target, *node;
    struct side *now = NULL, *then = NULL;
    size_t n_now = 0, n_then = 0, n_sets = 0;
    struct store *st = NULL;
    int64_t prev = 0;
    char now_label[600], then_label[64];
    int ch, rc;

    if (!sets)
        return CLI_EXIT_FAIL;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "a:s:S:h", opts, NULL)) != -1) {
        switch (ch) {
        case 'a':
            against = optarg;
            break;
        case 's':
            sets[n_sets++] = optarg;
            break;
        case 'S':
            store_opt = optarg;
            break;
        default:
            free(sets);
            return cli_usage(usage, ch == 'h');
        }
    }
    if (optind != argc - 2) {
        free(sets);
        return cli_usage(usage, 0);
    }
    target = argv[optind];
    node = argv[optind + 1];

    if (is_pipeline_file(target)) {
        rc = now_from_file(target, node, against, sets, n_sets, store_opt, &st, &now, &n_now, &prev,
                           now_label, sizeof now_label);
    } else if (n_sets) {
        /* a run's tasks are what they were; --set only shapes a pipeline planned now */
        cli_error("explain", "--set needs a pipeline file, not run '%s'", target);
        rc = CLI_EXIT_USAGE;
    } else if ((rc = cli_store_open("explain", store_opt, &st)) == CLI_EXIT_OK) {
        rc = now_from_run(st, target, node, against, &now, &n_now, &prev, now_label,
                          sizeof now_label);
    }
    if (rc != CLI_EXIT_OK || !prev)
        goto out;
    if (sides_from_run(st, prev, node, &then, &n_then) < 0) {
        rc = CLI_EXIT_FAIL;
        goto out;
    }
    snprintf(then_label, sizeof then_label, "run %lld", (long long)prev);
    rc = compare(node, now_label, now, n_now, then_label, then, n_then) < 0 ? CLI_EXIT_FAIL
                                                                            : CLI_EXIT_OK;
out:
    sides_free(now, n_now);
    sides_free(then, n_then);
    store_close(st);
    free(sets);
    return rc;
}
