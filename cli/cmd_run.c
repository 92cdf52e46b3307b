/*
 * cmd_run.c - `sieve run FILE`: parse, validate, plan, look up the cache, then either print
 * the plan (--dry-run) or execute it.
 *
 * The setup up to a looked-up plan is cli_plan_prepare() (cli/cli_plan.c, shared with
 * `sieve explain`), so the dry and real paths see the same plan; cli_run_print_plan() is the
 * dry-run output.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_http.h"
#include "run_exec.h"
#include "run_opts.h"
#include "base/err.h"
#include "core/host/host.h"
#include "core/plan/plan.h"
#include "base/sbuf.h"
#include "store/store.h"

static void
usage(FILE *f)
{
    fprintf(f, "usage: sieve run FILE [--dry-run] [--json] [--set VAR=VALUE]... [--store DIR]\n"
               "                [--devices LIST] [--fault SPEC]... [--max-parallel N]\n"
               "                [--heartbeat DUR] [--heartbeat-timeout DUR] [--stall-timeout DUR]\n"
               "                [--startup-timeout DUR] [--speculate-after DUR|off]\n"
               "\n"
               "Runs a pipeline over its dataset and matrix, reusing every cached artifact.\n"
               "\n"
               "  --dry-run          print the plan (tasks per node, cached, to run) and stop\n"
               "  --json             with --dry-run: print the plan as JSON\n"
               "  --set VAR=VALUE    override a matrix variable (keep=0.5, keep=[0.25,0.5]) or a\n"
               "                     node parameter (pv.keep=0.3); repeatable\n"
               "  --store DIR        the store (default $SIEVE_STORE or ./.sieve)\n"
               "execution (tasks run in worker processes, one per device slot; Ctrl-C cancels,\n"
               "a second Ctrl-C kills; 'sieve resume RUN' continues a cancelled or killed "
               "run):\n" RUN_OPTS_HELP "\n"
               "Exit: 0 ok; 1 invalid pipeline or failed run; 2 usage; 3 file not found;\n"
               "130 cancelled.\n");
}

/* Counts per node: tasks, cached (present or not needed), to run. */
struct node_counts {
    uint32_t tasks, cached, run;
};

static struct node_counts *
count_tasks(const struct plan *p)
{
    struct node_counts *c = calloc(p->n_nodes ? p->n_nodes : 1, sizeof *c);
    if (!c)
        return NULL;
    for (uint32_t t = 0; t < p->n_tasks; t++) {
        struct node_counts *nc = &c[p->tasks[t].node];
        nc->tasks++;
        if (p->tasks[t].cached)
            nc->cached++;
        else
            nc->run++;
    }
    return c;
}

static void
json_str(FILE *f, const char *s)
{
    struct sbuf b = {0};
    sbuf_quoted(&b, s ? s : "");
    fputs(b.s ? b.s : "\"\"", f);
    free(b.s);
}

int
cli_run_print_plan(const struct plan *p, int json, FILE *f)
{
    struct node_counts *c = count_tasks(p), tot = {0, 0, 0};
    size_t width = 4;

    if (!c)
        return SIEVE_ENOMEM;
    for (uint32_t k = 0; k < p->n_nodes; k++) {
        const struct node_counts *nc = &c[p->node_order[k]];
        tot.tasks += nc->tasks;
        tot.cached += nc->cached;
        tot.run += nc->run;
        if (strlen(p->nodes[k].name) > width)
            width = strlen(p->nodes[k].name);
    }
    if (json) {
        fprintf(f, "{\"pipeline\":");
        json_str(f, p->spec->path);
        fprintf(f, ",\"name\":");
        json_str(f, p->spec->name);
        fprintf(f, ",\"samples\":%u,\"matrix\":{", p->n_samples);
        for (size_t i = 0; i < p->spec->n_vars; i++) {
            fprintf(f, "%s", i ? "," : "");
            json_str(f, p->spec->vars[i].name);
            fprintf(f, ":%zu", p->spec->vars[i].n_values);
        }
        fprintf(f, "},\"nodes\":[");
        for (uint32_t k = 0; k < p->n_nodes; k++) {
            uint32_t i = p->node_order[k];
            const struct plan_node *n = &p->nodes[i];
            fprintf(f, "%s{\"name\":", k ? "," : "");
            json_str(f, n->name);
            fprintf(f, ",\"plugin\":");
            json_str(f, n->plugin->name);
            fprintf(f, ",\"version\":");
            json_str(f, n->plugin->desc->version);
            fprintf(f, ",\"reduce\":%s,\"variants\":%u,\"tasks\":%u,\"cached\":%u,\"run\":%u}",
                    (n->flags & SIEVE_PLUGIN_REDUCE) ? "true" : "false", n->n_variants, c[i].tasks,
                    c[i].cached, c[i].run);
        }
        fprintf(f,
                "],\"total\":{\"tasks\":%u,\"cached\":%u,\"run\":%u},"
                "\"timing_ms\":{\"spec\":%.3f,\"plan\":%.3f,\"lookup\":%.3f}}\n",
                tot.tasks, tot.cached, tot.run, p->ms_spec, p->ms_build, p->ms_lookup);
    } else {
        fprintf(f, "plan '%s': %u sample%s", p->spec->name, p->n_samples,
                p->n_samples == 1 ? "" : "s");
        for (size_t i = 0; i < p->spec->n_vars; i++)
            fprintf(f, "%s%s x%zu", i ? ", " : "; matrix ", p->spec->vars[i].name,
                    p->spec->vars[i].n_values);
        fprintf(f, "\n\n%-*s  %-20s %8s %8s %8s\n", (int)width, "node", "plugin", "tasks", "cached",
                "to run");
        for (uint32_t k = 0; k < p->n_nodes; k++) {
            uint32_t i = p->node_order[k];
            fprintf(f, "%-*s  %-20s %8u %8u %8u\n", (int)width, p->nodes[i].name,
                    p->nodes[i].plugin->name, c[i].tasks, c[i].cached, c[i].run);
        }
        fprintf(f, "%-*s  %-20s %8u %8u %8u\n", (int)width, "total", "", tot.tasks, tot.cached,
                tot.run);
    }
    free(c);
    return 0;
}

int
cmd_run(int argc, char **argv)
{
    static const struct option opts[] = {
        {"dry-run", no_argument, NULL, 'n'},
        {"json", no_argument, NULL, 'j'},
        {"set", required_argument, NULL, 's'},
        {"store", required_argument, NULL, 'S'},
        {"help", no_argument, NULL, 'h'},
        RUN_OPTS_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    const char **faults = calloc((size_t)argc + 1, sizeof *faults);
    struct run_exec_opts eo = {.verb = "run"};
    const char **sets = calloc((size_t)argc + 1, sizeof *sets);
    struct plan_opts o = {0};
    const char *store_opt = NULL;
    struct host_registry *reg;
    struct store *st;
    struct plan *plan;
    int dry = 0, json = 0, ch, rc;

    if (!sets || !faults) {
        free(sets);
        free(faults);
        return CLI_EXIT_FAIL;
    }
    optind = 1;
    while ((ch = getopt_long(argc, argv, "njs:S:h", opts, NULL)) != -1) {
        int shared = run_opts_apply("run", ch, optarg, &eo, faults, (size_t)argc);
        if (shared < 0) {
            free(sets);
            free(faults);
            return CLI_EXIT_USAGE;
        }
        if (shared > 0)
            continue;
        switch (ch) {
        case 'n':
            dry = 1;
            break;
        case 'j':
            json = 1;
            break;
        case 's':
            sets[o.n_sets++] = optarg;
            break;
        case 'S':
            store_opt = optarg;
            break;
        default:
            free(sets);
            free(faults);
            return cli_usage(usage, ch == 'h');
        }
    }
    if (optind != argc - 1) {
        usage(stderr);
        free(sets);
        free(faults);
        return CLI_EXIT_USAGE;
    }
    o.path = argv[optind];
    o.sets = sets;
    if (!dry)
        cli_plan_verify_opts("run", &o);
    if ((rc = cli_plan_prepare("run", &o, store_opt, &reg, &st, &plan)) != 0) {
        free(sets);
        free(faults);
        return rc;
    }
    struct cli_daemon d;
    struct sieve_errbuf err;
    if (dry) {
        rc = cli_run_print_plan(plan, json, stdout) < 0 ? CLI_EXIT_FAIL : CLI_EXIT_OK;
    } else if (cli_daemon_find(store_dir(st), &d, &err) > 0) {
        /* A daemon owns this store: the run is its, and this command follows it. */
        int64_t run = 0;
        fprintf(stderr, "sieve: store '%s' is served by 'sieve serve' (pid %ld): submitting\n",
                store_dir(st), d.pid);
        if (eo.devices || eo.n_faults || eo.max_parallel)
            fprintf(stderr, "sieve: --devices, --fault and --max-parallel are the daemon's; "
                            "ignored here\n");
        rc = cli_daemon_submit("run", &d, plan, o.sets, o.n_sets, 0, &run);
        if (rc == CLI_EXIT_OK)
            rc = cli_daemon_follow("run", &d, run);
    } else {
        eo.pipeline = o.path;
        eo.sets = o.sets;
        eo.n_sets = o.n_sets;
        rc = cli_run_exec_prepared(&eo, st, plan);
    }
    plan_free(plan);
    store_close(st);
    host_registry_free(reg);
    free(sets);
    free(faults);
    return rc;
}
