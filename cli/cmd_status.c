/*
 * cmd_status.c - `sieve status [RUN]`: where a run stands: counts per node and state, running
 * tasks and their devices, failures with their errors, device health.
 */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "store/store.h"

static void
usage(FILE *f)
{
    fprintf(f, "usage: sieve status [--json] [--store DIR] [RUN]\n\n"
               "Shows run RUN (default: last): task counts per node and state, running and\n"
               "failed tasks, and device health. RUN is a run id, 'last' (the newest run) or a\n"
               "run name (its newest run).\n");
}

/* The index of a task state read back from the store (an unknown name counts as pending). */
static int
state_index(const char *s)
{
    int i = store_task_state_parse(s);
    return i < 0 ? STORE_TASK_PENDING : i;
}

int
cmd_status(int argc, char **argv)
{
    const char *store_dir = NULL;
    int json = 0;
    int status = cli_parse_opts(argc, argv, usage, &store_dir, &json);
    if (status >= 0)
        return status;
    if (optind < argc - 1)
        return cli_usage(usage, 0);
    struct sieve_errbuf err;
    struct store *st;
    struct store_run run = {0};
    struct store_task_row *rows = NULL;
    struct store_device *devs = NULL;
    size_t n = 0, n_dev = 0;
    int64_t id;
    if ((status = cli_store_open("status", store_dir, &st)) != CLI_EXIT_OK)
        return status;
    if ((status = cli_run_resolve("status", st, optind < argc ? argv[optind] : "last", &id)) !=
            CLI_EXIT_OK ||
        (status = cli_run_get("status", st, id, &run)) != CLI_EXIT_OK) {
        store_close(st);
        return status;
    }
    if (store_task_list(st, id, NULL, NULL, &rows, &n, &err) < 0 ||
        store_device_list(st, &devs, &n_dev, &err) < 0)
        goto fail;

    const char *shown = cli_run_state_shown(st, &run);
    /* per node: counts per state, in plan order of first appearance */
    const char *nodes[256];
    int64_t counts[256][STORE_TASK_N_STATES];
    size_t n_nodes = 0;
    memset(counts, 0, sizeof counts);
    for (size_t i = 0; i < n; i++) {
        size_t k = 0;
        while (k < n_nodes && strcmp(nodes[k], rows[i].node))
            k++;
        if (k == n_nodes && n_nodes < 256)
            nodes[n_nodes++] = rows[i].node;
        if (k < 256)
            counts[k][state_index(rows[i].state)]++;
    }
    if (json) {
        json_t *o = json_pack("{s:I,s:s,s:s,s:s,s:I,s:I,s:I,s:I}", "id", (json_int_t)run.id, "name",
                              run.name ? run.name : "", "state", shown, "pipeline",
                              run.pipeline_path ? run.pipeline_path : "", "tasks",
                              (json_int_t)run.n_tasks, "done", (json_int_t)run.n_done, "cached",
                              (json_int_t)run.n_cached, "failed", (json_int_t)run.n_failed);
        if (run.error)
            json_object_set_new(o, "error", json_string(run.error));
        json_t *jn = json_array();
        for (size_t k = 0; k < n_nodes; k++) {
            json_t *e = json_pack("{s:s}", "node", nodes[k]);
            for (int s = 0; s < STORE_TASK_N_STATES; s++)
                json_object_set_new(e, store_task_state_name(s), json_integer(counts[k][s]));
            json_array_append_new(jn, e);
        }
        json_object_set_new(o, "nodes", jn);
        json_t *jt = json_array();
        for (size_t i = 0; i < n; i++) {
            if (strcmp(rows[i].state, "running") && strcmp(rows[i].state, "failed"))
                continue;
            json_array_append_new(
                jt, json_pack("{s:I,s:s,s:s,s:s,s:s,s:i}", "task", (json_int_t)rows[i].idx, "node",
                              rows[i].node, "sample", rows[i].sample ? rows[i].sample : "", "state",
                              rows[i].state, "device", rows[i].device ? rows[i].device : "",
                              "attempts", rows[i].attempts));
            if (rows[i].error)
                json_object_set_new(json_array_get(jt, json_array_size(jt) - 1), "error",
                                    json_string(rows[i].error));
        }
        json_object_set_new(o, "active", jt);
        json_t *jd = json_array();
        for (size_t i = 0; i < n_dev; i++)
            json_array_append_new(jd, json_pack("{s:s,s:s,s:s}", "name", devs[i].name, "state",
                                                devs[i].state, "info",
                                                devs[i].info ? devs[i].info : "{}"));
        json_object_set_new(o, "devices", jd);
        if (cli_json_print(o, JSON_INDENT(2)) < 0) {
            cli_error("status", "out of memory");
            status = CLI_EXIT_FAIL;
        }
    } else {
        if (!strcmp(shown, "interrupted"))
            printf("run %lld  %s  interrupted \u2014 resume with 'sieve resume %lld'\n",
                   (long long)run.id, run.name ? run.name : "", (long long)run.id);
        else
            printf("run %lld  %s  %s\n", (long long)run.id, run.name ? run.name : "", run.state);
        printf("  %lld tasks: %lld done, %lld cached, %lld failed\n", (long long)run.n_tasks,
               (long long)run.n_done, (long long)run.n_cached, (long long)run.n_failed);
        if (run.error)
            printf("  error: %s\n", run.error);
        printf("\n  %-20s %8s %8s %8s %8s %8s %9s %8s\n", "NODE", "pending", "running", "done",
               "cached", "failed", "cancelled", "skipped");
        for (size_t k = 0; k < n_nodes; k++)
            printf("  %-20s %8lld %8lld %8lld %8lld %8lld %9lld %8lld\n", nodes[k],
                   (long long)(counts[k][STORE_TASK_PENDING] + counts[k][STORE_TASK_READY]),
                   (long long)counts[k][STORE_TASK_RUNNING], (long long)counts[k][STORE_TASK_DONE],
                   (long long)counts[k][STORE_TASK_CACHED], (long long)counts[k][STORE_TASK_FAILED],
                   (long long)counts[k][STORE_TASK_CANCELLED],
                   (long long)counts[k][STORE_TASK_SKIPPED]);
        int header = 0;
        for (size_t i = 0; i < n; i++) {
            if (strcmp(rows[i].state, "running") && strcmp(rows[i].state, "failed"))
                continue;
            if (!header++)
                printf("\n");
            printf("  %-8s task %u %s/%s on %s (attempt %d)%s%s\n", rows[i].state, rows[i].idx,
                   rows[i].node, rows[i].sample ? rows[i].sample : "*",
                   rows[i].device ? rows[i].device : "-", rows[i].attempts,
                   rows[i].error ? ": " : "", rows[i].error ? rows[i].error : "");
        }
        if (n_dev) {
            printf("\n  devices:");
            for (size_t i = 0; i < n_dev; i++)
                printf(" %s %s%s", devs[i].name, devs[i].state, i + 1 < n_dev ? "," : "\n");
        }
    }
    goto out;
fail:
    cli_error("status", "%s", err.msg);
    status = CLI_EXIT_FAIL;
out:
    store_task_rows_free(rows, n);
    store_device_list_free(devs, n_dev);
    store_run_release(&run);
    store_close(st);
    return status;
}
