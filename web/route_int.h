/*
 * route_int.h - private to web/: what the router's files share: replies, query parameters,
 * and the endpoint handlers (api_runs.c, api_artifacts.c) that route.c dispatches to.
 */
#ifndef SIEVE_WEB_ROUTE_INT_H
#define SIEVE_WEB_ROUTE_INT_H

#include <jansson.h>
#include <stdint.h>

#include "http.h"

/* Query values longer than this are refused (400). */
#define WEB_PARAM_MAX 256
/* Pages: limit defaults to 50, at most 1000. */
#define WEB_PAGE_DEFAULT 50
#define WEB_PAGE_MAX 1000

/* Sets a JSON error reply {"error": "<formatted>"} with `status`. */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
void
web_reply_error(struct web_response *res, int status, const char *fmt, ...);

/* Sets a JSON reply with `status` and takes the reference of `doc` (NULL: 500). */
void web_reply_json(struct web_response *res, int status, json_t *doc);

/* The status a store or hook error code maps to (ENOENT 404, invalid input 400, ...). */
int web_status_from_error(int code);

/*
 * Finds parameter `name` in a query string and percent-decodes it into buf. Returns 1 when
 * found, 0 when absent, -1 when malformed (bad escape, NUL, longer than len - 1).
 */
int web_query_get(const char *query, const char *name, char *buf, size_t len);

/*
 * The query parameters a handler reads, checked by web_query_check: each name must be one
 * of `allowed` (NULL-terminated), each value well formed. Returns 0 or fills res with a 400.
 */
int web_query_check(const char *query, const char *const *allowed, struct web_response *res);

/* Parses a decimal integer in [min, max] with no sign, spaces or leading '+'. Returns 0 or -1. */
int web_parse_int(const char *s, int64_t min, int64_t max, int64_t *out);

/* Whether s is a 64-digit lower-case hex key. */
int web_key_valid(const char *s);

/* The handlers. Each fills `res`; `seg` are the path segments after "/api/". */
void api_runs_list(const struct web_api *api, const struct web_request *req,
                   struct web_response *res);
void api_run_get(const struct web_api *api, int64_t run, struct web_response *res);
void api_run_tasks(const struct web_api *api, int64_t run, const struct web_request *req,
                   struct web_response *res);
void api_task_log(const struct web_api *api, int64_t run, int64_t idx, struct web_response *res);
void api_run_table(const struct web_api *api, int64_t run, const struct web_request *req,
                   struct web_response *res);
void api_devices(const struct web_api *api, struct web_response *res);
void api_submit(const struct web_api *api, const struct web_request *req, struct web_response *res);
void api_run_action(const struct web_api *api, int64_t run, const char *action,
                    struct web_response *res);
void api_artifact_get(const struct web_api *api, const char *key, struct web_response *res);
void api_artifact_file(const struct web_api *api, const char *key, struct web_response *res);
void api_artifact_overlay(const struct web_api *api, const char *key, const struct web_request *req,
                          struct web_response *res);

/* api_results.c: the run's graph, its metric names, its table as md/csv/latex text. */
void api_run_graph(const struct web_api *api, int64_t run, struct web_response *res);
void api_run_metrics(const struct web_api *api, int64_t run, struct web_response *res);
void api_run_table_text(const struct web_api *api, int64_t run, const char *format,
                        const struct web_request *req, struct web_response *res);
/* The artifact key of a task's output port ({task, port, artifact, indexed}). */
void api_task_output(const struct web_api *api, const char *task_key, const char *port,
                     struct web_response *res);

/* The devices as a JSON array (the daemon's live pool, else the store's rows); NULL on error. */
json_t *api_devices_json(const struct web_api *api);

#endif
