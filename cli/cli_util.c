/*
 * cli_util.c - what several verbs share (see cli.h): the --store/--json/--help options, usage
 * on --help or a usage error, opening the store, resolving a RUN operand (id, "last" or name)
 * and reading the run with the error printed, and printing a JSON document.
 */
#include "cli.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "store/store.h"

int
cli_usage(void (*usage)(FILE *f), int help)
{
    usage(help ? stdout : stderr);
    return help ? CLI_EXIT_OK : CLI_EXIT_USAGE;
}

int
cli_parse_opts(int argc, char **argv, void (*usage)(FILE *f), const char **store, int *json)
{
    struct option longopts[4];
    size_t n = 0;
    int c;

    if (json)
        longopts[n++] = (struct option){"json", no_argument, NULL, 'j'};
    if (store)
        longopts[n++] = (struct option){"store", required_argument, NULL, 's'};
    longopts[n++] = (struct option){"help", no_argument, NULL, 'h'};
    longopts[n] = (struct option){NULL, 0, NULL, 0};
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        if (c == 'j')
            *json = 1;
        else if (c == 's')
            *store = optarg;
        else
            return cli_usage(usage, c == 'h');
    }
    return -1;
}

int
cli_store_open(const char *verb, const char *store_opt, struct store **st)
{
    struct sieve_errbuf err;
    int rc = store_open_existing(cli_store_dir(store_opt), st, &err);
    if (rc < 0) {
        cli_error(verb, "%s", err.msg);
        return rc == SIEVE_ENOENT ? CLI_EXIT_NOTFOUND : CLI_EXIT_FAIL;
    }
    return CLI_EXIT_OK;
}

const char *
cli_run_state_shown(struct store *st, const struct store_run *r)
{
    struct sieve_errbuf err;
    if (strcmp(r->state, "running") && strcmp(r->state, "pending"))
        return r->state;
    /* An error reading the lease says nothing either way: show what the index says. */
    return store_run_lease_held(st, r->id, &err) == 0 ? "interrupted" : r->state;
}

int
cli_run_get(const char *verb, struct store *st, int64_t id, struct store_run *run)
{
    struct sieve_errbuf err;
    if (store_run_get(st, id, run, &err) < 0) {
        cli_error(verb, "%s", err.msg);
        return CLI_EXIT_NOTFOUND;
    }
    return CLI_EXIT_OK;
}

static int
is_last(const char *ref)
{
    return !strcmp(ref, "last") || !strcmp(ref, "latest");
}

static int
is_number(const char *ref)
{
    char *end;
    long long v = strtoll(ref, &end, 10);
    return *ref && !*end && v > 0;
}

int
cli_run_ref_is_run(const char *ref)
{
    return is_last(ref) || is_number(ref);
}

int
cli_run_resolve(const char *verb, struct store *st, const char *ref, int64_t *id)
{
    struct sieve_errbuf err;
    struct store_run *runs = NULL;
    size_t n = 0;
    int last = is_last(ref);

    *id = 0;
    if (is_number(ref)) {
        struct store_run r;
        int rc = store_run_get(st, strtoll(ref, NULL, 10), &r, &err);
        if (rc == SIEVE_ENOENT) {
            cli_error(verb, "no run '%s' (see 'sieve ls')", ref);
            return CLI_EXIT_NOTFOUND;
        }
        if (rc < 0) {
            cli_error(verb, "%s", err.msg);
            return CLI_EXIT_FAIL;
        }
        *id = r.id;
        store_run_release(&r);
        return CLI_EXIT_OK;
    }
    if (store_run_list(st, &runs, &n, &err) < 0) {
        cli_error(verb, "%s", err.msg);
        return CLI_EXIT_FAIL;
    }
    for (size_t i = 0; i < n && !*id; i++) /* newest first */
        if (last || (runs[i].name && !strcmp(runs[i].name, ref)))
            *id = runs[i].id;
    store_run_list_free(runs, n);
    if (*id)
        return CLI_EXIT_OK;
    if (last) {
        cli_error(verb, "no runs in the store '%s'", store_dir(st));
        cli_index_lost_hint(verb, st);
    } else
        cli_error(verb, "no run '%s' (a run id, 'last' or a run name; see 'sieve ls')", ref);
    return CLI_EXIT_NOTFOUND;
}

int
cli_json_print(struct json_t *doc, size_t flags)
{
    char *text = json_dumps(doc, flags);
    json_decref(doc);
    if (!text)
        return -1;
    printf("%s\n", text);
    free(text);
    return 0;
}

void
cli_index_lost_hint(const char *verb, struct store *st)
{
    struct sieve_errbuf err;
    uint64_t n = 0;
    if (store_index_lost(st, &n, &err) == 1)
        cli_error(verb,
                  "the index of '%s' is empty but %llu object%s on disk: 'sieve cache reindex' "
                  "indexes them again (a run without it recomputes them)",
                  store_dir(st), (unsigned long long)n, n == 1 ? " is" : "s are");
}
