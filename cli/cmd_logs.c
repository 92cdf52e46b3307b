/*
 * cmd_logs.c - `sieve logs RUN [TASK]`: a run's event log, or one task's captured output
 * (plugin log calls and anything it wrote to stdout/stderr, every attempt).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "store/store.h"

static void
usage(FILE *f)
{
    fprintf(f, "usage: sieve logs [--store DIR] RUN [TASK]\n\n"
               "RUN is a run id, 'last' (the newest run) or a run name (its newest run).\n"
               "Without TASK: the run's events (starts, retries, moves, device changes).\n"
               "With TASK (a task number, or node/sample as 'sieve status' shows it): the\n"
               "task's captured log and stderr.\n");
}

/* Finds a task by number or by "node/sample" (or "node" for a single task). */
static int
find_task(struct store *st, int64_t run, const char *spec, uint32_t *idx, struct sieve_errbuf *err)
{
    struct store_task_row *rows = NULL;
    size_t n = 0;
    char *end;
    long v = strtol(spec, &end, 10);
    int rc = store_task_list(st, run, NULL, NULL, &rows, &n, err);
    if (rc < 0)
        return rc;
    rc = SIEVE_ENOENT;
    for (size_t i = 0; i < n; i++) {
        char label[512];
        snprintf(label, sizeof label, "%s/%s", rows[i].node, rows[i].sample ? rows[i].sample : "*");
        if ((!*end && v >= 0 && rows[i].idx == (uint32_t)v) || !strcmp(label, spec) ||
            !strcmp(rows[i].node, spec)) {
            *idx = rows[i].idx;
            rc = 0;
            break;
        }
    }
    store_task_rows_free(rows, n);
    if (rc < 0)
        sieve_errbuf_set(err, rc, "run %lld has no task '%s'", (long long)run, spec);
    return rc;
}

int
cmd_logs(int argc, char **argv)
{
    const char *store_dir = NULL;
    int status = cli_parse_opts(argc, argv, usage, &store_dir, NULL);
    if (status >= 0)
        return status;
    if (optind >= argc || argc - optind > 2)
        return cli_usage(usage, 0);
    int64_t run;
    struct sieve_errbuf err;
    struct store *st;
    if ((status = cli_store_open("logs", store_dir, &st)) != CLI_EXIT_OK)
        return status;
    if ((status = cli_run_resolve("logs", st, argv[optind], &run)) != CLI_EXIT_OK) {
        store_close(st);
        return status;
    }
    if (argc - optind == 1) {
        struct store_event *ev = NULL;
        size_t n = 0;
        if (store_event_list(st, run, 0, 0, &ev, &n, &err) < 0) {
            cli_error("logs", "%s", err.msg);
            status = CLI_EXIT_FAIL;
        }
        for (size_t i = 0; i < n; i++) {
            time_t t = (time_t)(ev[i].time_ms / 1000);
            struct tm tm;
            char when[32];
            localtime_r(&t, &tm);
            strftime(when, sizeof when, "%H:%M:%S", &tm);
            printf("%s.%03lld %-12s %s\n", when, (long long)(ev[i].time_ms % 1000), ev[i].kind,
                   ev[i].message ? ev[i].message : "");
        }
        store_event_list_free(ev, n);
    } else {
        uint32_t idx;
        char path[STORE_PATH_MAX];
        if (find_task(st, run, argv[optind + 1], &idx, &err) < 0) {
            cli_error("logs", "%s", err.msg);
            status = CLI_EXIT_NOTFOUND;
        } else if (store_log_path(st, run, idx, path, sizeof path, 0) == 0) {
            FILE *f = fopen(path, "r");
            if (!f) {
                printf("(task %u wrote no log)\n", idx);
            } else {
                char buf[8192];
                size_t k;
                while ((k = fread(buf, 1, sizeof buf, f)) > 0)
                    fwrite(buf, 1, k, stdout);
                fclose(f);
            }
        }
    }
    store_close(st);
    return status;
}
