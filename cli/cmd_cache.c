/*
 * cmd_cache.c - `sieve cache ls|gc|verify`: look at and maintain the artifact cache.
 */
#include <getopt.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "cli.h"
#include "base/bundle.h"
#include "base/err.h"
#include "store/store.h"

static void
usage(FILE *f)
{
    fprintf(f,
            "usage: sieve cache ls [--json] [--store DIR]\n"
            "       sieve cache gc --max-size SIZE [--store DIR]\n"
            "       sieve cache verify [--store DIR]\n"
            "       sieve cache reindex [--store DIR]\n"
            "       sieve cache prune-runs --keep N [--store DIR]\n"
            "\n"
            "  ls       list artifacts, least recently used first\n"
            "  gc       remove tmp files and unindexed objects, then evict least recently used\n"
            "           artifacts (never those a pending or running run needs) until the\n"
            "           cache holds at most SIZE (suffixes K, M, G, T; powers of 1024)\n"
            "  verify   re-hash every object; report and drop the corrupt or missing ones and\n"
            "           everything computed from them\n"
            "  reindex  index the whole objects an emptied sieve.db lost, with their metric rows\n"
            "  prune-runs  forget ended runs but the newest N (tasks, events, logs); the\n"
            "           cached artifacts stay\n");
}

static void
human(uint64_t b, char *buf, size_t len)
{
    const char *u[] = {"B", "K", "M", "G", "T"};
    double v = (double)b;
    int i = 0;
    while (v >= 1024 && i < 4) {
        v /= 1024;
        i++;
    }
    snprintf(buf, len, i ? "%.1f%s" : "%.0f%s", v, u[i]);
}

static void
print_problem(void *arg, const char *key, const char *problem)
{
    (void)arg;
    printf("%s  %s\n", key, problem);
}

struct reindex_ctx {
    struct store *st;
    uint64_t metric_rows;
    int failed;
};

/* The metric rows an object carries (`sieve.metrics`, under the key of the task that wrote it,
 * `sieve.task_key`), as the scheduler indexed them when the task finished. */
static void
reindex_object(void *arg, const char *key, const char *path, const char *problem)
{
    struct reindex_ctx *c = arg;
    struct sieve_errbuf err = {{0}};
    struct bundle *b = NULL;
    json_t *doc = NULL, *e;
    struct store_metric *rows = NULL;
    size_t n = 0, i;

    if (problem) {
        printf("%s  skipped: %s\n", key, problem);
        return;
    }
    if (bundle_read(path, &b, &err) < 0)
        goto fail;
    const char *task_key = bundle_meta_get(b, BUNDLE_META_TASK_KEY);
    const char *metrics = bundle_meta_get(b, "sieve.metrics");
    if (!task_key || !metrics || !(doc = json_loads(metrics, 0, NULL)) || !json_is_array(doc))
        goto out; /* nothing to restore: not every object carries metrics */
    if (!(rows = calloc(json_array_size(doc) + 1, sizeof *rows))) {
        sieve_errbuf_set(&err, SIEVE_ENOMEM, "out of memory");
        goto fail;
    }
    json_array_foreach(doc, i, e)
    {
        json_t *m = json_object_get(e, "metric"), *cat = json_object_get(e, "category");
        json_t *v = json_object_get(e, "value"), *smp = json_object_get(e, "sample");
        if (!json_is_string(m) || !json_is_number(v))
            continue;
        /* Node and variant are labels the query takes from the task rows of each run. */
        rows[n++] = (struct store_metric){
            .node = "",
            .variant = "{}",
            .sample = json_is_string(smp) ? json_string_value(smp) : NULL,
            .category = json_is_string(cat) ? json_string_value(cat) : "all",
            .metric = json_string_value(m),
            .value = json_number_value(v),
            .task_key = task_key,
        };
    }
    if (n && store_metrics_insert(c->st, rows, n, &err) < 0)
        goto fail;
    c->metric_rows += n;
    goto out;
fail:
    cli_error("cache", "reindex '%s': %s", path, err.msg);
    c->failed = 1;
out:
    free(rows);
    json_decref(doc);
    bundle_free(b);
}

int
cmd_cache(int argc, char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'},           {"store", required_argument, NULL, 'S'},
        {"max-size", required_argument, NULL, 'm'}, {"keep", required_argument, NULL, 'k'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0},
    };
    const char *store_opt = NULL, *sub, *max_text = NULL, *keep_text = NULL;
    struct sieve_errbuf err = {{0}};
    struct store *st;
    int json = 0, ch, rc = 0;

    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
    }
    sub = argv[1];
    optind = 1;
    while ((ch = getopt_long(argc - 1, argv + 1, "jS:m:k:h", opts, NULL)) != -1) {
        switch (ch) {
        case 'j':
            json = 1;
            break;
        case 'S':
            store_opt = optarg;
            break;
        case 'm':
            max_text = optarg;
            break;
        case 'k':
            keep_text = optarg;
            break;
        default:
            return cli_usage(usage, ch == 'h');
        }
    }
    if (optind != argc - 1 || (strcmp(sub, "ls") && strcmp(sub, "gc") && strcmp(sub, "verify") &&
                               strcmp(sub, "reindex") && strcmp(sub, "prune-runs"))) {
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    char *end = NULL;
    long long keep = keep_text ? strtoll(keep_text, &end, 10) : -1;
    if (!strcmp(sub, "prune-runs") && (!keep_text || *end || keep < 0)) {
        cli_error("cache", "prune-runs needs --keep N (the newest runs to keep, N >= 0)");
        return CLI_EXIT_USAGE;
    }
    if (!strcmp(sub, "gc") && !max_text) {
        cli_error("cache", "gc needs --max-size SIZE");
        return CLI_EXIT_USAGE;
    }
    uint64_t max = UINT64_MAX;
    if (max_text && store_size_parse(max_text, &max) < 0) {
        cli_error("cache", "invalid size '%s' (examples: 500M, 2G)", max_text);
        return CLI_EXIT_USAGE;
    }
    if ((rc = store_open_existing(cli_store_dir(store_opt), &st, &err)) < 0) {
        cli_error("cache", "%s", err.msg);
        return cli_exit_from_error(rc);
    }
    if (!strcmp(sub, "ls")) {
        struct store_artifact_row *rows;
        size_t n;
        uint64_t total = 0;
        if ((rc = store_artifact_list(st, &rows, &n, &err)) == 0) {
            if (json)
                printf("[");
            for (size_t i = 0; i < n; i++) {
                char size[32], when[32];
                time_t t = (time_t)(rows[i].last_used_ms / 1000);
                total += rows[i].bytes;
                if (json) {
                    printf("%s{\"key\":\"%s\",\"bytes\":%llu,\"checksum\":\"%s\",\"run\":%lld,"
                           "\"created_ms\":%lld,\"last_used_ms\":%lld,\"pinned\":%s}",
                           i ? "," : "", rows[i].key, (unsigned long long)rows[i].bytes,
                           rows[i].checksum, (long long)rows[i].run, (long long)rows[i].created_ms,
                           (long long)rows[i].last_used_ms, rows[i].pinned ? "true" : "false");
                    continue;
                }
                human(rows[i].bytes, size, sizeof size);
                strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", localtime(&t));
                printf("%s  %8s  %s  run %-4lld%s\n", rows[i].key, size, when,
                       (long long)rows[i].run, rows[i].pinned ? "  pinned" : "");
            }
            if (json) {
                printf("]\n");
            } else {
                char size[32];
                human(total, size, sizeof size);
                printf("%zu artifact%s, %s\n", n, n == 1 ? "" : "s", size);
            }
            free(rows);
        }
    } else if (!strcmp(sub, "gc")) {
        struct store_gc_report r;
        if ((rc = store_gc(st, max, &r, &err)) == 0) {
            char freed[32], left[32];
            human(r.bytes_freed, freed, sizeof freed);
            human(r.bytes_left, left, sizeof left);
            printf("removed %llu tmp file%s and %llu orphan%s; evicted %llu artifact%s; freed %s, "
                   "%s left\n",
                   (unsigned long long)r.tmp_removed, r.tmp_removed == 1 ? "" : "s",
                   (unsigned long long)r.orphans_removed, r.orphans_removed == 1 ? "" : "s",
                   (unsigned long long)r.evicted, r.evicted == 1 ? "" : "s", freed, left);
        }
    } else if (!strcmp(sub, "prune-runs")) {
        struct store_prune_report r;
        if ((rc = store_runs_prune(st, keep, &r, &err)) == 0)
            printf("forgot %llu run%s (and %llu log director%s); the cache is unchanged\n",
                   (unsigned long long)r.runs, r.runs == 1 ? "" : "s",
                   (unsigned long long)r.log_dirs, r.log_dirs == 1 ? "y" : "ies");
    } else if (!strcmp(sub, "reindex")) {
        struct reindex_ctx c = {.st = st};
        struct store_reindex_report r;
        if ((rc = store_reindex(st, reindex_object, &c, &r, &err)) == 0) {
            printf(
                "indexed %llu object%s (%llu metric row%s); %llu already indexed, %llu skipped\n",
                (unsigned long long)r.adopted, r.adopted == 1 ? "" : "s",
                (unsigned long long)c.metric_rows, c.metric_rows == 1 ? "" : "s",
                (unsigned long long)r.indexed, (unsigned long long)r.skipped);
            if (c.failed)
                rc = 1;
        }
    } else {
        struct store_verify_report r;
        if ((rc = store_verify(st, print_problem, NULL, &r, &err)) == 0) {
            printf("checked %llu artifact%s: %llu ok, %llu corrupt, %llu missing; dropped %llu "
                   "computed from them\n",
                   (unsigned long long)r.checked, r.checked == 1 ? "" : "s",
                   (unsigned long long)r.ok, (unsigned long long)r.corrupt,
                   (unsigned long long)r.missing, (unsigned long long)r.invalidated);
            if (r.corrupt || r.missing)
                rc = 1;
        }
    }
    if (rc < 0)
        cli_error("cache", "%s", err.msg);
    store_close(st);
    return rc < 0 ? cli_exit_from_error(rc) : rc ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}
