/*
 * cli_plan.c - the setup every verb that plans a pipeline file shares (`sieve run`, `sieve
 * explain FILE`): scan the plugins, open the store, and prepare the plan (parse, --set,
 * validate, plan, cache lookup) with every diagnostic printed. It lives apart from the verbs
 * so no verb calls into another verb's file.
 */
#include "cli.h"

#include <stdio.h>

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
    if ((rc = store_open(cli_store_dir(store_opt), st, &err)) < 0) {
        cli_error(verb, "%s", err.msg);
        goto fail;
    }
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
