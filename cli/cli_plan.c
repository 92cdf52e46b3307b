/*
 * cli_plan.c - the setup every verb that plans a pipeline file shares (`sieve run`, `sieve
 * explain FILE`): scan the plugins, open the store, and prepare the plan (parse, --set,
 * validate, plan, cache lookup) with every diagnostic printed. It lives apart from the verbs
 * so no verb calls into another verb's file.
 */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "core/host/host.h"
#include "core/plan/plan.h"
#include "core/spec/spec.h"
#include "store/store.h"

int
cli_plan_prepare(const char *verb, const struct plan_opts *o, const char *store_opt,
                 struct host_registry **reg, struct store **st, struct plan **plan)
{
    struct sieve_errbuf err = {{0}};
    struct spec_diags diags;
    int rc;

    *reg = NULL;
    *st = NULL;
    *plan = NULL;
    if ((rc = host_registry_scan(NULL, reg, &err)) < 0) {
        cli_error(verb, "%s", err.msg);
        return cli_exit_from_error(rc);
    }
    /* Only `sieve run` creates a store; explain compares against one that must exist. */
    rc = strcmp(verb, "run") ? store_open_existing(cli_store_dir(store_opt), st, &err)
                             : store_open(cli_store_dir(store_opt), st, &err);
    if (rc < 0) {
        cli_error(verb, "%s", err.msg);
        goto fail;
    }
    if (!strcmp(verb, "run"))
        cli_index_lost_hint(verb, *st);
    spec_diags_init(&diags);
    rc = plan_prepare(o, *reg, *st, plan, &diags, &err);
    spec_diags_sort(&diags);
    spec_diags_print(&diags, stderr);
    spec_diags_release(&diags);
    if (rc < 0) {
        cli_error(verb, "%s", err.msg);
        goto fail;
    }
    return 0;
fail:
    store_close(*st);
    host_registry_free(*reg);
    *st = NULL;
    *reg = NULL;
    if (rc == SIEVE_ESPEC || rc == SIEVE_EINVAL)
        return CLI_EXIT_FAIL;
    return cli_exit_from_error(rc);
}

static void
print_corrupt(void *arg, const char *key, const char *problem)
{
    /* Descendants are counted in the report, not listed: a sweep can have thousands. */
    if (!strcmp(problem, STORE_PROBLEM_DESCENDANT))
        return;
    cli_error(arg, "cached object %s: %s; recomputing it", key, problem);
}

void
cli_plan_verify_opts(const char *verb, struct plan_opts *o)
{
    const char *env = getenv("SIEVE_VERIFY_INPUTS");
    o->verify = !(env && !strcmp(env, "off"));
    o->verify_cb = print_corrupt;
    o->verify_arg = (void *)verb;
}

void
cli_plan_verify_report(const struct plan *p, struct store *st, int64_t run)
{
    const struct plan_verify_report *r = &p->verify;
    struct sieve_errbuf err;
    char msg[256];
    if (r->checked)
        fprintf(stderr, "sieve: verified %u cached input%s (%.1f MiB) in %.0f ms\n", r->checked,
                r->checked == 1 ? "" : "s", (double)r->bytes / (1024.0 * 1024.0), r->ms);
    if (!r->corrupt)
        return;
    snprintf(msg, sizeof msg,
             "%u cached object%s failed verification: dropped with the %u artifact%s computed "
             "from them; they are recomputed",
             r->corrupt, r->corrupt == 1 ? "" : "s", r->invalidated,
             r->invalidated == 1 ? "" : "s");
    fprintf(stderr, "sieve: %s\n", msg);
    store_event_append(st, run, -1, "verify", msg, &err);
}
