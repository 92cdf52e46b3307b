/*
 * api_runs.c - the endpoints of runs, tasks, logs, tables and devices, and the writes that
 * go to the daemon's hooks (docs/http-api.md). Reads go through store/ and core/table only.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/table/table.h"
#include "route_int.h"
#include "store/store.h"

#define RECENT_EVENTS 50
#define MAX_SETS 256

static json_t *
str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

/* A JSON label stored by the planner, as JSON; a label that does not parse stays text. */
static json_t *
label_json(const char *text)
{
    json_t *j = text ? json_loads(text, 0, NULL) : NULL;
    return j ? j : str_or_null(text);
}

static json_t *
run_json(const struct store_run *r, int with_text)
{
    json_t *j =
        json_pack("{s:I, s:o, s:o, s:o, s:o, s:I, s:I, s:I, s:{s:I, s:I, s:I, s:I}}", "id",
                  (json_int_t)r->id, "name", str_or_null(r->name), "pipeline",
                  str_or_null(r->pipeline_path), "state", str_or_null(r->state), "error",
                  str_or_null(r->error), "created_ms", (json_int_t)r->created_ms, "started_ms",
                  (json_int_t)r->started_ms, "finished_ms", (json_int_t)r->finished_ms, "tasks",
                  "total", (json_int_t)r->n_tasks, "done", (json_int_t)r->n_done, "cached",
                  (json_int_t)r->n_cached, "failed", (json_int_t)r->n_failed);
    if (j && with_text)
        json_object_set_new(j, "pipeline_text", str_or_null(r->pipeline_text));
    return j;
}

static int
run_state_valid(const char *s)
{
    for (int i = STORE_RUN_PENDING; i <= STORE_RUN_CANCELLED; i++)
        if (strcmp(s, store_run_state_name((enum store_run_state)i)) == 0)
            return 1;
    return 0;
}

/* Reads limit and offset; 0 or a 400 in res. */
static int
page_params(const struct web_request *req, size_t *limit, size_t *offset, struct web_response *res)
{
    char buf[WEB_PARAM_MAX];
    int64_t v;
    *limit = WEB_PAGE_DEFAULT;
    *offset = 0;
    if (web_query_get(req->query, "limit", buf, sizeof buf) == 1) {
        if (web_parse_int(buf, 1, WEB_PAGE_MAX, &v) < 0) {
            web_reply_error(res, 400, "limit must be an integer from 1 to %d", WEB_PAGE_MAX);
            return -1;
        }
        *limit = (size_t)v;
    }
    if (web_query_get(req->query, "offset", buf, sizeof buf) == 1) {
        if (web_parse_int(buf, 0, INT32_MAX, &v) < 0) {
            web_reply_error(res, 400, "offset must be a non-negative integer");
            return -1;
        }
        *offset = (size_t)v;
    }
    return 0;
}

static json_t *
page_json(json_t *items, int64_t total, size_t limit, size_t offset)
{
    return json_pack("{s:o, s:I, s:I, s:I}", "items", items, "total", (json_int_t)total, "limit",
                     (json_int_t)limit, "offset", (json_int_t)offset);
}

void
api_runs_list(const struct web_api *api, const struct web_request *req, struct web_response *res)
{
    static const char *const allowed[] = {"state", "name", "limit", "offset", NULL};
    char state[WEB_PARAM_MAX], name[WEB_PARAM_MAX];
    struct store_run_filter f = {0};
    struct sieve_errbuf err = {{0}};
    struct store_run *runs = NULL;
    size_t n = 0;
    int64_t total = 0;
    json_t *items;

    if (web_query_check(req->query, allowed, res) < 0 ||
        page_params(req, &f.limit, &f.offset, res) < 0)
        return;
    if (web_query_get(req->query, "state", state, sizeof state) == 1 && state[0]) {
        if (!run_state_valid(state)) {
            web_reply_error(res, 400,
                            "unknown run state (pending, running, done, failed, cancelled)");
            return;
        }
        f.state = state;
    }
    if (web_query_get(req->query, "name", name, sizeof name) == 1 && name[0])
        f.name = name;
    int rc = store_run_query(api->st, &f, &runs, &n, &total, &err);
    if (rc < 0) {
        web_reply_error(res, web_status_from_error(rc), "%s", err.msg);
        return;
    }
    items = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(items, run_json(&runs[i], 0));
    store_run_list_free(runs, n);
    web_reply_json(res, 200, page_json(items, total, f.limit, f.offset));
}

static json_t *
nodes_json(struct store *st, int64_t run, struct sieve_errbuf *err)
{
    struct store_node_count *nodes;
    size_t n;
    json_t *arr;
    if (store_node_counts(st, run, &nodes, &n, err) < 0)
        return NULL;
    arr = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *counts = json_object();
        for (int s = 0; s < STORE_TASK_N_STATES; s++)
            json_object_set_new(counts, store_task_state_name((enum store_task_state)s),
                                json_integer(nodes[i].count[s]));
        json_array_append_new(arr, json_pack("{s:s, s:I, s:o}", "node", nodes[i].node, "total",
                                             (json_int_t)nodes[i].total, "states", counts));
    }
    store_node_counts_free(nodes, n);
    return arr;
}

static json_t *
events_json(struct store *st, int64_t run, struct sieve_errbuf *err)
{
    struct store_event *ev;
    size_t n;
    json_t *arr;
    if (store_event_recent(st, run, RECENT_EVENTS, &ev, &n, err) < 0)
        return NULL;
    arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(
            arr, json_pack("{s:I, s:I, s:I, s:o, s:o}", "id", (json_int_t)ev[i].id, "time_ms",
                           (json_int_t)ev[i].time_ms, "task", (json_int_t)ev[i].task, "kind",
                           str_or_null(ev[i].kind), "message", str_or_null(ev[i].message)));
    store_event_list_free(ev, n);
    return arr;
}

void
api_run_get(const struct web_api *api, int64_t run, struct web_response *res)
{
    struct sieve_errbuf err = {{0}};
    struct store_run r;
    json_t *doc, *nodes, *events, *devices;
    int rc = store_run_get(api->st, run, &r, &err);
    if (rc < 0) {
        web_reply_error(res, web_status_from_error(rc), "%s", err.msg);
        return;
    }
    doc = run_json(&r, 1);
    store_run_release(&r);
    if (!(nodes = nodes_json(api->st, run, &err)) || !(events = events_json(api->st, run, &err))) {
        json_decref(nodes);
        json_decref(doc);
        web_reply_error(res, 500, "%s", err.msg);
        return;
    }
    devices = api_devices_json(api);
    json_object_set_new(doc, "nodes", nodes);
    json_object_set_new(doc, "events", events);
    json_object_set_new(doc, "devices", devices ? devices : json_null());
    web_reply_json(res, 200, doc);
}

/* 404 unless the run exists. */
static int
run_exists(const struct web_api *api, int64_t run, struct web_response *res)
{
    struct sieve_errbuf err = {{0}};
    struct store_run r;
    int rc = store_run_get(api->st, run, &r, &err);
    if (rc < 0) {
        web_reply_error(res, web_status_from_error(rc), "%s", err.msg);
        return 0;
    }
    store_run_release(&r);
    return 1;
}

void
api_run_tasks(const struct web_api *api, int64_t run, const struct web_request *req,
              struct web_response *res)
{
    static const char *const allowed[] = {"node", "state", "limit", "offset", NULL};
    char node_buf[WEB_PARAM_MAX], state_buf[WEB_PARAM_MAX];
    const char *node = NULL, *state = NULL;
    struct sieve_errbuf err = {{0}};
    struct store_task_row *rows = NULL;
    size_t limit, offset, n = 0;
    int64_t total = 0;
    int rc;
    json_t *items;

    if (web_query_check(req->query, allowed, res) < 0 || page_params(req, &limit, &offset, res) < 0)
        return;
    if (web_query_get(req->query, "state", state_buf, sizeof state_buf) == 1 && state_buf[0]) {
        if (store_task_state_parse(state_buf) < 0) {
            web_reply_error(res, 400,
                            "unknown task state (pending, ready, running, done, cached,"
                            " failed, cancelled)");
            return;
        }
        state = state_buf;
    }
    if (web_query_get(req->query, "node", node_buf, sizeof node_buf) == 1 && node_buf[0])
        node = node_buf;
    if (!run_exists(api, run, res))
        return;
    if ((rc = store_task_count(api->st, run, state, node, &total, &err)) < 0 ||
        (rc = store_task_query(api->st, run, state, node, limit, offset, &rows, &n, &err)) < 0) {
        web_reply_error(res, web_status_from_error(rc), "%s", err.msg);
        return;
    }
    items = json_array();
    for (size_t i = 0; i < n; i++) {
        const struct store_task_row *t = &rows[i];
        json_array_append_new(
            items, json_pack("{s:I, s:o, s:o, s:i, s:o, s:o, s:o, s:o, s:i, s:o, s:I, s:I}", "idx",
                             (json_int_t)t->idx, "node", str_or_null(t->node), "sample",
                             str_or_null(t->sample), "variant", (int)t->variant, "matrix",
                             label_json(t->variant_label), "key", str_or_null(t->key), "state",
                             str_or_null(t->state), "device", str_or_null(t->device), "attempts",
                             t->attempts, "error", str_or_null(t->error), "started_ms",
                             (json_int_t)t->started_ms, "finished_ms", (json_int_t)t->finished_ms));
    }
    store_task_rows_free(rows, n);
    web_reply_json(res, 200, page_json(items, total, limit, offset));
}

void
api_task_log(const struct web_api *api, int64_t run, int64_t idx, struct web_response *res)
{
    struct sieve_errbuf err = {{0}};
    char path[STORE_PATH_MAX];
    int64_t total = 0;
    int rc;
    if (!run_exists(api, run, res))
        return;
    if ((rc = store_task_count(api->st, run, NULL, NULL, &total, &err)) < 0) {
        web_reply_error(res, 500, "%s", err.msg);
        return;
    }
    if (idx >= total) {
        web_reply_error(res, 404, "no task %lld in run %lld", (long long)idx, (long long)run);
        return;
    }
    if (store_log_path(api->st, run, (uint32_t)idx, path, sizeof path, 0) < 0) {
        web_reply_error(res, 500, "log path too long");
        return;
    }
    /* A task that has not run has no log yet: the adapter answers 404 for a missing file. */
    res->status = 200;
    res->kind = WEB_BODY_FILE;
    res->content_type = "text/plain; charset=utf-8";
    if (!(res->file = strdup(path)))
        web_reply_error(res, 500, "out of memory");
}

void
api_run_table(const struct web_api *api, int64_t run, const struct web_request *req,
              struct web_response *res)
{
    static const char *const allowed[] = {"metric", "pivot", "category", "node", NULL};
    char metric[WEB_PARAM_MAX], pivot[WEB_PARAM_MAX], category[WEB_PARAM_MAX], node[WEB_PARAM_MAX];
    struct table_opts o = {0};
    struct sieve_errbuf err = {{0}};
    struct table *t = NULL;
    int rc;

    if (web_query_check(req->query, allowed, res) < 0)
        return;
    if (web_query_get(req->query, "metric", metric, sizeof metric) == 1 && metric[0])
        o.metric = metric;
    if (web_query_get(req->query, "pivot", pivot, sizeof pivot) == 1 && pivot[0])
        o.pivot = pivot;
    if (web_query_get(req->query, "category", category, sizeof category) == 1 && category[0])
        o.category = category;
    int has_node = web_query_get(req->query, "node", node, sizeof node) == 1 && node[0];
    if (!run_exists(api, run, res))
        return;
    rc = table_run_build(api->st, run, has_node ? node : NULL, &o, &t, &err);
    if (rc < 0) {
        web_reply_error(res, web_status_from_error(rc), "%s", err.msg);
        return;
    }
    res->body = table_json_dump(t);
    table_free(t);
    if (!res->body) {
        web_reply_error(res, 500, "out of memory");
        return;
    }
    res->status = 200;
    res->kind = WEB_BODY_BUF;
    res->content_type = "application/json";
    res->body_len = strlen(res->body);
}

json_t *
api_devices_json(const struct web_api *api)
{
    struct sieve_errbuf err = {{0}};
    struct store_device *d;
    size_t n;
    json_t *arr;
    if (api->hooks.devices_json) {
        char *text = api->hooks.devices_json(api->hooks.ud);
        json_t *live = text ? json_loads(text, 0, NULL) : NULL;
        free(text);
        if (live)
            return live;
    }
    if (store_device_list(api->st, &d, &n, &err) < 0)
        return NULL;
    arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, json_pack("{s:o, s:o, s:o, s:I}", "name", str_or_null(d[i].name),
                                             "state", str_or_null(d[i].state), "info",
                                             label_json(d[i].info), "updated_ms",
                                             (json_int_t)d[i].updated_ms));
    store_device_list_free(d, n);
    return arr;
}

void
api_devices(const struct web_api *api, struct web_response *res)
{
    json_t *arr = api_devices_json(api);
    if (!arr)
        web_reply_error(res, 500, "list devices failed");
    else
        web_reply_json(res, 200, json_pack("{s:o}", "devices", arr));
}

/* ---- writes ---------------------------------------------------------------------------- */

/* "application/json", maybe with parameters ("; charset=utf-8"). A form post cannot send
 * this type cross-origin without a preflight, which is one more guard for writes. */
static int
is_json_type(const char *ct)
{
    static const char type[] = "application/json";
    if (!ct || strncasecmp(ct, type, sizeof type - 1) != 0)
        return 0;
    ct += sizeof type - 1;
    while (*ct == ' ')
        ct++;
    return *ct == '\0' || *ct == ';';
}

static void
hook_failed(struct web_response *res, int rc, const struct sieve_errbuf *err)
{
    web_reply_error(res, web_status_from_error(rc), "%s", err->msg[0] ? err->msg : "failed");
}

void
api_submit(const struct web_api *api, const struct web_request *req, struct web_response *res)
{
    struct sieve_errbuf err = {{0}};
    json_error_t jerr;
    json_t *doc = NULL, *path, *text, *sets, *prio;
    const char **set_list = NULL;
    struct web_submit s = {0};
    int64_t run = 0;
    int rc;

    if (!is_json_type(req->content_type)) {
        web_reply_error(res, 415, "Content-Type must be application/json");
        return;
    }
    if (!req->body || req->body_len == 0) {
        web_reply_error(res, 400, "empty body: {\"path\", \"text\", \"sets\", \"priority\"}");
        return;
    }
    if (!(doc = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr)) ||
        !json_is_object(doc)) {
        web_reply_error(res, 400, "malformed JSON body%s%s", doc ? "" : ": ",
                        doc ? ": an object expected" : jerr.text);
        goto out;
    }
    path = json_object_get(doc, "path");
    text = json_object_get(doc, "text");
    sets = json_object_get(doc, "sets");
    prio = json_object_get(doc, "priority");
    if (!json_is_string(path) || json_string_value(path)[0] != '/' ||
        strlen(json_string_value(path)) != json_string_length(path)) {
        web_reply_error(res, 400, "\"path\" must be the absolute path of the pipeline YAML");
        goto out;
    }
    if (!json_is_string(text) || strlen(json_string_value(text)) != json_string_length(text)) {
        web_reply_error(res, 400, "\"text\" must be the pipeline's YAML text");
        goto out;
    }
    if (sets && !json_is_array(sets)) {
        web_reply_error(res, 400, "\"sets\" must be an array of \"key=value\" strings");
        goto out;
    }
    if (sets && json_array_size(sets) > MAX_SETS) {
        web_reply_error(res, 400, "at most %d \"sets\"", MAX_SETS);
        goto out;
    }
    if (prio && (!json_is_integer(prio) || json_integer_value(prio) < -1000000 ||
                 json_integer_value(prio) > 1000000)) {
        web_reply_error(res, 400, "\"priority\" must be an integer from -1000000 to 1000000");
        goto out;
    }
    s.n_sets = sets ? json_array_size(sets) : 0;
    if (!(set_list = calloc(s.n_sets + 1, sizeof *set_list))) {
        web_reply_error(res, 500, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < s.n_sets; i++) {
        json_t *v = json_array_get(sets, i);
        if (!json_is_string(v) || !strchr(json_string_value(v), '=') ||
            json_string_value(v)[0] == '=' ||
            strlen(json_string_value(v)) != json_string_length(v)) {
            web_reply_error(res, 400, "\"sets\"[%zu] must be a \"key=value\" string", i);
            goto out;
        }
        set_list[i] = json_string_value(v);
    }
    if (!api->hooks.submit) {
        web_reply_error(res, 503, "this server does not accept runs");
        goto out;
    }
    s.path = json_string_value(path);
    s.text = json_string_value(text);
    s.sets = set_list;
    s.priority = prio ? (int)json_integer_value(prio) : 0;
    if ((rc = api->hooks.submit(api->hooks.ud, &s, &run, &err)) < 0) {
        hook_failed(res, rc, &err);
        goto out;
    }
    web_reply_json(res, 201, json_pack("{s:I}", "run", (json_int_t)run));
out:
    free(set_list);
    json_decref(doc);
}

void
api_run_action(const struct web_api *api, int64_t run, const char *action, struct web_response *res)
{
    struct sieve_errbuf err = {{0}};
    int (*hook)(void *, int64_t, struct sieve_errbuf *) =
        strcmp(action, "cancel") == 0 ? api->hooks.cancel : api->hooks.resume;
    int rc;
    if (!run_exists(api, run, res))
        return;
    if (!hook) {
        web_reply_error(res, 503, "this server does not %s runs", action);
        return;
    }
    if ((rc = hook(api->hooks.ud, run, &err)) < 0) {
        hook_failed(res, rc, &err);
        return;
    }
    web_reply_json(res, 202, json_pack("{s:I, s:s}", "run", (json_int_t)run, "action", action));
}
