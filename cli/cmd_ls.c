/*
 * cmd_ls.c - `sieve ls`: the runs in the store, newest first.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "store/store.h"

static void
usage(FILE *f)
{
    fprintf(f, "usage: sieve ls [--json] [--store DIR]\n\nLists runs, newest first: id, state, "
               "progress, failures, start time, name.\n");
}

static void
format_time(int64_t ms, char *buf, size_t len)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    if (ms <= 0) {
        snprintf(buf, len, "-");
        return;
    }
    localtime_r(&t, &tm);
    strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
}

int
cmd_ls(int argc, char **argv)
{
    const char *store_dir = NULL;
    int json = 0;
    int status = cli_parse_opts(argc, argv, usage, &store_dir, &json);
    if (status >= 0)
        return status;
    struct sieve_errbuf err;
    struct store *st;
    struct store_run *runs = NULL;
    size_t n = 0;
    if ((status = cli_store_open("ls", store_dir, &st)) != CLI_EXIT_OK)
        return status;
    if (store_run_list(st, &runs, &n, &err) < 0) {
        cli_error("ls", "%s", err.msg);
        store_close(st);
        return CLI_EXIT_FAIL;
    }
    if (json) {
        json_t *a = json_array();
        for (size_t i = 0; i < n; i++) {
            struct store_run *r = &runs[i];
            json_array_append_new(
                a, json_pack("{s:I,s:s,s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "id",
                             (json_int_t)r->id, "name", r->name ? r->name : "", "pipeline",
                             r->pipeline_path ? r->pipeline_path : "", "state",
                             cli_run_state_shown(st, r), "tasks", (json_int_t)r->n_tasks, "done",
                             (json_int_t)r->n_done, "cached", (json_int_t)r->n_cached, "failed",
                             (json_int_t)r->n_failed, "created_ms", (json_int_t)r->created_ms,
                             "started_ms", (json_int_t)r->started_ms, "finished_ms",
                             (json_int_t)r->finished_ms));
        }
        if (cli_json_print(a, JSON_INDENT(2)) < 0) {
            cli_error("ls", "out of memory");
            status = CLI_EXIT_FAIL;
        }
    } else {
        size_t n_interrupted = 0;
        printf("%5s  %-11s  %-13s  %6s  %-19s  %s\n", "RUN", "STATE", "PROGRESS", "FAILED",
               "CREATED", "NAME");
        for (size_t i = 0; i < n; i++) {
            struct store_run *r = &runs[i];
            const char *state = cli_run_state_shown(st, r);
            char when[32], prog[32];
            format_time(r->created_ms, when, sizeof when);
            snprintf(prog, sizeof prog, "%lld/%lld", (long long)(r->n_done + r->n_cached),
                     (long long)r->n_tasks);
            printf("%5lld  %-11s  %-13s  %6lld  %-19s  %s\n", (long long)r->id, state, prog,
                   (long long)r->n_failed, when, r->name ? r->name : "");
            n_interrupted += !strcmp(state, "interrupted");
        }
        /* Newest first, so the hint names the newest interrupted run. */
        for (size_t i = 0; n_interrupted && i < n; i++)
            if (!strcmp(cli_run_state_shown(st, &runs[i]), "interrupted")) {
                printf("\nrun %lld interrupted \u2014 resume with 'sieve resume %lld'%s\n",
                       (long long)runs[i].id, (long long)runs[i].id,
                       n_interrupted > 1 ? " (and others above)" : "");
                break;
            }
    }
    store_run_list_free(runs, n);
    store_close(st);
    return status;
}
