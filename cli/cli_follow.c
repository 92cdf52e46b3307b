/*
 * cli_follow.c - submitting a planned pipeline to a serving daemon and following the run
 * (`sieve submit`, and `sieve run` on a store a daemon serves).
 */
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "cli_http.h"
#include "base/err.h"
#include "core/plan/plan.h"
#include "core/spec/spec.h"

static volatile sig_atomic_t interrupted;

static void
on_sigint(int sig)
{
    (void)sig;
    interrupted++;
}

static void
sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* GET /api/runs/N as JSON, or NULL with the reason in err. */
static json_t *
get_run(const struct cli_daemon *d, int64_t run, struct sieve_errbuf *err)
{
    char path[64], *body = NULL;
    snprintf(path, sizeof path, "/api/runs/%lld", (long long)run);
    int st = cli_http(d, "GET", path, NULL, &body, err);
    json_t *j = st == 200 ? json_loads(body, 0, NULL) : NULL;
    if (st == 200 && !j)
        sieve_errbuf_set(err, SIEVE_EPROTO, "the daemon answered something that is not JSON");
    free(body);
    return j;
}

static json_int_t
count(json_t *run, const char *name)
{
    return json_integer_value(json_object_get(json_object_get(run, "tasks"), name));
}

int
cli_daemon_follow(const char *verb, const struct cli_daemon *d, int64_t run)
{
    struct sieve_errbuf err = {{0}};
    int tty = isatty(2), asked = 0, fails = 0;
    json_int_t last = -1;
    struct sigaction sa = {.sa_handler = on_sigint}, old_int, old_term;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    interrupted = 0;
    int status = CLI_EXIT_FAIL;
    for (;;) {
        if (interrupted && !asked) {
            /* As with `sieve run`: an interrupt cancels the run; its end is still shown. */
            char path[64], *body = NULL;
            snprintf(path, sizeof path, "/api/runs/%lld/cancel", (long long)run);
            asked = 1;
            if (cli_http(d, "POST", path, "{}", &body, &err) >= 400)
                cli_error(verb, "cancel run %lld: %s", (long long)run, err.msg);
            free(body);
        }
        json_t *j = get_run(d, run, &err);
        if (!j) {
            /* A daemon restarting is not the run's end: it resumes the run on start. */
            if (++fails > 120) {
                cli_error(verb, "lost the daemon at %s: %s", d->url, err.msg);
                break;
            }
            sleep_ms(500);
            continue;
        }
        fails = 0;
        const char *state = json_string_value(json_object_get(j, "state"));
        json_int_t total = count(j, "total"), done = count(j, "done"), cached = count(j, "cached"),
                   failed = count(j, "failed");
        int ended = state && (!strcmp(state, "done") || !strcmp(state, "failed") ||
                              !strcmp(state, "cancelled"));
        if (tty || done + cached + failed != last || ended) {
            fprintf(stderr, "%s[%lld/%lld] done %lld, cached %lld, failed %lld (run %lld, %s)%s",
                    tty ? "\r\033[K" : "sieve: ", (long long)(done + cached + failed),
                    (long long)total, (long long)done, (long long)cached, (long long)failed,
                    (long long)run, state ? state : "?", tty && !ended ? "" : "\n");
            last = done + cached + failed;
        }
        if (ended) {
            const char *e = json_string_value(json_object_get(j, "error"));
            if (e && e[0])
                fprintf(stderr, "sieve: run %lld %s: %s\n", (long long)run, state, e);
            status = !strcmp(state, "done")        ? CLI_EXIT_OK
                     : !strcmp(state, "cancelled") ? CLI_EXIT_INTERRUPTED
                                                   : CLI_EXIT_FAIL;
            if (status != CLI_EXIT_OK)
                fprintf(stderr, "sieve: see 'sieve status %lld' and 'sieve logs %lld'\n",
                        (long long)run, (long long)run);
            json_decref(j);
            break;
        }
        json_decref(j);
        sleep_ms(tty ? 200 : 100);
    }
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    return status;
}

int
cli_daemon_submit(const char *verb, const struct cli_daemon *d, const struct plan *plan,
                  const char *const *sets, size_t n_sets, int priority, int64_t *run)
{
    struct sieve_errbuf err = {{0}};
    char abspath[PATH_MAX], *body = NULL, *resp = NULL;
    const char *path = realpath(plan->spec->path, abspath) ? abspath : plan->spec->path;
    json_t *a = json_array();
    for (size_t i = 0; i < n_sets; i++)
        json_array_append_new(a, json_string(sets[i]));
    json_t *req = json_pack("{s:s, s:s, s:o, s:i}", "path", path, "text", plan->spec->text, "sets",
                            a, "priority", priority);
    body = req ? json_dumps(req, JSON_COMPACT) : NULL;
    json_decref(req);
    if (!body) {
        cli_error(verb, "out of memory");
        return CLI_EXIT_FAIL;
    }
    int st = cli_http(d, "POST", "/api/runs", body, &resp, &err);
    free(body);
    int status = CLI_EXIT_FAIL;
    if (st < 0)
        cli_error(verb, "%s", err.msg);
    else if (st >= 400)
        cli_error(verb, "the daemon refused the run: %s", err.msg);
    else {
        json_t *j = json_loads(resp, 0, NULL);
        json_t *id = json_object_get(j, "run");
        if (json_is_integer(id)) {
            *run = json_integer_value(id);
            status = CLI_EXIT_OK;
            fprintf(stderr, "sieve: run %lld submitted to %s\n", (long long)*run, d->url);
        } else {
            cli_error(verb, "the daemon answered without a run id");
        }
        json_decref(j);
    }
    free(resp);
    return status;
}
