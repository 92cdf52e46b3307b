/*
 * cli_http.h - the CLI's side of a serving daemon: find the `sieve serve` that owns a store
 * (its scheduler.json and token) and send it JSON requests over HTTP (libcurl).
 */
#ifndef SIEVE_CLI_HTTP_H
#define SIEVE_CLI_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include <sieve/plugin.h>

struct cli_daemon {
    char url[256];   /* "http://127.0.0.1:8470" */
    char token[128]; /* the bearer token of write requests; "" when unreadable */
    long pid;
};

/* Finds the daemon serving store directory `dir`: 1 (d filled) when a `sieve serve` holds
 * its scheduler lock, 0 when none does. Errors: SIEVE_EIO. */
int cli_daemon_find(const char *dir, struct cli_daemon *d, struct sieve_errbuf *err);

/*
 * Sends `method path` with a JSON body (NULL: none) and the token, and returns the HTTP
 * status (>= 100) with the response body in *resp. A status >= 400 puts the response's
 * "error" text in err too. Errors: SIEVE_EIO (no answer: the daemon is gone or hung; err
 * says which), SIEVE_ENOMEM. Ownership: free(*resp), also set on a 4xx/5xx.
 */
int cli_http(const struct cli_daemon *d, const char *method, const char *path, const char *body,
             char **resp, struct sieve_errbuf *err);

struct plan;

/* Sends a planned pipeline (its file's text and --set values) to the daemon as a new run.
 * Returns the exit status (CLI_EXIT_OK with *run set); errors are printed. */
int cli_daemon_submit(const char *verb, const struct cli_daemon *d, const struct plan *plan,
                      const char *const *sets, size_t n_sets, int priority, int64_t *run);
/* Shows the run's progress until it ends; an interrupt cancels it. Returns the exit status of
 * its end: 0 done, 1 failed, 130 cancelled. */
int cli_daemon_follow(const char *verb, const struct cli_daemon *d, int64_t run);

#endif
