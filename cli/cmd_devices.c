/*
 * cmd_devices.c - `sieve devices`: the devices this machine offers (NVML, or --devices) and
 * the health the store remembers for each (healthy, suspect, quarantined).
 */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "core/sched/devices.h"
#include "store/store.h"

static void
usage(FILE *f)
{
    fprintf(f, "usage: sieve devices [--json] [--devices LIST] [--store DIR]\n\n"
               "Lists devices (every NVML GPU plus CPU slots, or LIST) with the state the\n"
               "store last recorded for them and a fresh health probe.\n");
}

int
cmd_devices(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"json", no_argument, NULL, 'j'},
        {"devices", required_argument, NULL, 'd'},
        {"store", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *store_dir = NULL, *list = NULL;
    int json = 0, c, status = CLI_EXIT_OK;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        if (c == 'j')
            json = 1;
        else if (c == 'd')
            list = optarg;
        else if (c == 's')
            store_dir = optarg;
        else
            return cli_usage(usage, c == 'h');
    }
    struct sieve_errbuf err;
    struct device_set ds = {0};
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    int rc = list ? devices_parse(&ds, list, &err)
                  : devices_default(&ds, ncpu > 0 ? (int)ncpu : 1, &err);
    if (rc < 0) {
        cli_error("devices", "%s", err.msg);
        devices_release(&ds);
        return CLI_EXIT_USAGE;
    }
    struct store *st = NULL;
    struct store_device *rows = NULL;
    size_t n_rows = 0;
    if (store_open_existing(cli_store_dir(store_dir), &st, &err) == 0)
        store_device_list(st, &rows, &n_rows, &err);
    json_t *a = json_array();
    if (!json)
        printf("%-10s %-12s %-10s %-28s %s\n", "DEVICE", "RECORDED", "PROBE", "MODEL", "NOTE");
    for (size_t i = 0; i < ds.n; i++) {
        struct device *d = &ds.dev[i];
        const char *recorded = "-", *info = NULL;
        for (size_t k = 0; k < n_rows; k++)
            if (!strcmp(rows[k].name, d->name)) {
                recorded = rows[k].state;
                info = rows[k].info;
            }
        struct sieve_errbuf perr = {{0}};
        int ok = device_probe(d, 0, &perr) == 0;
        char mem[32] = "";
        if (d->mem_total)
            snprintf(mem, sizeof mem, " %.0f GiB", (double)d->mem_total / (1 << 30));
        if (json) {
            json_t *e = json_pack("{s:s,s:s,s:s,s:b,s:s,s:I}", "name", d->name, "kind",
                                  d->kind == DEVICE_CPU   ? "cpu"
                                  : d->kind == DEVICE_GPU ? "gpu"
                                                          : "fake",
                                  "recorded", recorded, "healthy", ok, "model", d->model,
                                  "memory_bytes", (json_int_t)d->mem_total);
            if (!ok)
                json_object_set_new(e, "problem", json_string(perr.msg));
            if (info) {
                json_error_t jerr;
                json_t *ij = json_loads(info, 0, &jerr);
                if (ij)
                    json_object_set_new(e, "info", ij);
            }
            json_array_append_new(a, e);
        } else {
            char model[64];
            snprintf(model, sizeof model, "%s%s", d->model, mem);
            printf("%-10s %-12s %-10s %-28s %s\n", d->name, recorded, ok ? "ok" : "FAILED", model,
                   ok ? "" : perr.msg);
        }
    }
    /* Devices the store remembers that are not in the pool now (e.g. fake ones of a test), and
     * Slurm pilots (docs/slurm.md), with their node and job. */
    for (size_t k = 0; k < n_rows; k++) {
        if (devices_find(&ds, rows[k].name))
            continue;
        json_t *ij = rows[k].info ? json_loads(rows[k].info, 0, NULL) : NULL;
        if (ij && json_is_true(json_object_get(ij, "pilot"))) {
            const char *node = json_string_value(json_object_get(ij, "node"));
            const char *job = json_string_value(json_object_get(ij, "job"));
            const char *model = json_string_value(json_object_get(ij, "model"));
            if (json) {
                json_array_append_new(a, json_pack("{s:s,s:s,s:s,s:s,s:s,s:O}", "name",
                                                   rows[k].name, "recorded", rows[k].state, "kind",
                                                   "pilot", "node", node ? node : "", "job",
                                                   job ? job : "", "info", ij));
            } else {
                char where[96];
                snprintf(where, sizeof where, "%s", model ? model : "");
                where[strcspn(where, "(")] = '\0';
                printf("%-10s %-12s %-10s %-28s %s%s%s%s\n", rows[k].name, rows[k].state, "pilot",
                       where, node && node[0] ? "node " : "(no pilot now)", node ? node : "",
                       job && job[0] ? ", job " : "", job ? job : "");
            }
            json_decref(ij);
            continue;
        }
        json_decref(ij);
        if (json)
            json_array_append_new(a, json_pack("{s:s,s:s,s:s}", "name", rows[k].name, "recorded",
                                               rows[k].state, "kind", "remembered"));
        else
            printf("%-10s %-12s %-10s %-28s %s\n", rows[k].name, rows[k].state, "-",
                   "(not in the current pool)", "");
    }
    if (!json) {
        json_decref(a);
    } else if (cli_json_print(a, JSON_INDENT(2)) < 0) {
        cli_error("devices", "out of memory");
        status = CLI_EXIT_FAIL;
    }
    store_device_list_free(rows, n_rows);
    store_close(st);
    devices_release(&ds);
    return status;
}
