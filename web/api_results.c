/*
 * api_results.c - what the web page needs beyond the reads of api_runs.c: a run's graph
 * (nodes, their plugins and the edges between them), the metric names a run has, and its
 * results table as Markdown, CSV or LaTeX text (docs/http-api.md).
 *
 * The table text is table_write's output, the same bytes `sieve table --format F` prints
 * (Markdown with the same "<metric>, run N" title line), so a download from the page and the
 * CLI cannot disagree; the graph is the run's own pipeline text parsed again by the spec
 * parser (no plugin registry: only names and wiring).
 * A task's output artifact is named by its task key and port (the planner's rule), which is
 * how the page finds the frames and masks of the tasks the tasks listing shows.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/hash.h"
#include "core/spec/spec.h"
#include "core/table/table.h"
#include "route_int.h"
#include "store/store.h"

void
api_run_graph(const struct web_api *api, int64_t run, struct web_response *res)
{
    struct sieve_errbuf err = {{0}};
    struct spec_diags diags;
    struct spec *s = NULL;
    struct store_run r;
    json_t *nodes;
    int rc = store_run_get(api->st, run, &r, &err);
    if (rc < 0) {
        web_reply_error(res, web_status_from_error(rc), "%s", err.msg);
        return;
    }
    spec_diags_init(&diags);
    /* A run's text validated when it was submitted; a partial parse still names the nodes. */
    rc = r.pipeline_text ? spec_parse(r.pipeline_path ? r.pipeline_path : "pipeline.yaml",
                                      r.pipeline_text, strlen(r.pipeline_text), &s, &diags, &err)
                         : SIEVE_ENOENT;
    store_run_release(&r);
    spec_diags_release(&diags);
    if (!s) {
        web_reply_error(res, rc == SIEVE_ENOENT ? 404 : 500, "run %lld: no pipeline text",
                        (long long)run);
        return;
    }
    nodes = json_array();
    for (size_t i = 0; i < s->n_nodes; i++) {
        const struct spec_node *n = &s->nodes[i];
        json_t *inputs = json_array();
        for (size_t k = 0; k < n->n_inputs; k++)
            json_array_append_new(inputs, json_pack("{s:s, s:s}", "port", n->inputs[k].port, "node",
                                                    n->inputs[k].node));
        json_array_append_new(nodes, json_pack("{s:s, s:s?, s:o}", "node", n->name, "plugin",
                                               n->plugin_name, "inputs", inputs));
    }
    spec_free(s);
    web_reply_json(res, 200, json_pack("{s:I, s:o}", "run", (json_int_t)run, "nodes", nodes));
}

/* Appends s to arr unless it is there already (a few metric names: a linear scan). */
static void
append_unique(json_t *arr, const char *s)
{
    size_t i;
    json_t *v;
    if (!s)
        return;
    json_array_foreach(arr, i, v)
    {
        if (strcmp(json_string_value(v), s) == 0)
            return;
    }
    json_array_append_new(arr, json_string(s));
}

void
api_run_metrics(const struct web_api *api, int64_t run, struct web_response *res)
{
    struct sieve_errbuf err = {{0}};
    struct store_metric *rows = NULL;
    struct store_run r;
    size_t n = 0;
    json_t *metrics, *nodes, *categories;
    int rc = store_run_get(api->st, run, &r, &err);
    if (rc < 0) {
        web_reply_error(res, web_status_from_error(rc), "%s", err.msg);
        return;
    }
    store_run_release(&r);
    if ((rc = store_metrics_query(api->st, run, NULL, &rows, &n, &err)) < 0) {
        web_reply_error(res, web_status_from_error(rc), "%s", err.msg);
        return;
    }
    metrics = json_array();
    nodes = json_array();
    categories = json_array();
    for (size_t i = 0; i < n; i++) {
        append_unique(metrics, rows[i].metric);
        append_unique(nodes, rows[i].node);
        append_unique(categories, rows[i].category);
    }
    store_metric_rows_free(rows, n);
    web_reply_json(res, 200,
                   json_pack("{s:I, s:o, s:o, s:o}", "run", (json_int_t)run, "metrics", metrics,
                             "nodes", nodes, "categories", categories));
}

void
api_run_table_text(const struct web_api *api, int64_t run, const char *format,
                   const struct web_request *req, struct web_response *res)
{
    static const char *const allowed[] = {"metric", "pivot", "category", "node", NULL};
    static const struct {
        const char *name, *type;
    } types[] = {
        {"md", "text/markdown; charset=utf-8"},
        {"csv", "text/csv; charset=utf-8"},
        {"latex", "text/x-tex; charset=utf-8"},
    };
    char metric[WEB_PARAM_MAX], pivot[WEB_PARAM_MAX], category[WEB_PARAM_MAX], node[WEB_PARAM_MAX];
    struct table_opts o = {0};
    struct sieve_errbuf err = {{0}};
    struct store_run r;
    struct table *t = NULL;
    const char *type = NULL;
    char *text = NULL;
    size_t len = 0;
    FILE *f;
    int rc;

    for (size_t i = 0; i < sizeof types / sizeof *types; i++)
        if (strcmp(format, types[i].name) == 0)
            type = types[i].type;
    if (!type) {
        web_reply_error(res, 404, "no table format '%.40s' (md, csv, latex)", format);
        return;
    }
    if (web_query_check(req->query, allowed, res) < 0)
        return;
    if (web_query_get(req->query, "metric", metric, sizeof metric) == 1 && metric[0])
        o.metric = metric;
    if (web_query_get(req->query, "pivot", pivot, sizeof pivot) == 1 && pivot[0])
        o.pivot = pivot;
    if (web_query_get(req->query, "category", category, sizeof category) == 1 && category[0])
        o.category = category;
    int has_node = web_query_get(req->query, "node", node, sizeof node) == 1 && node[0];
    if ((rc = store_run_get(api->st, run, &r, &err)) < 0) {
        web_reply_error(res, web_status_from_error(rc), "%s", err.msg);
        return;
    }
    store_run_release(&r);
    if ((rc = table_run_build(api->st, run, has_node ? node : NULL, &o, &t, &err)) < 0) {
        web_reply_error(res, web_status_from_error(rc), "%s", err.msg);
        return;
    }
    if (!(f = open_memstream(&text, &len))) {
        table_free(t);
        web_reply_error(res, 500, "out of memory");
        return;
    }
    /* Markdown opens with the title `sieve table` prints before it (cli/cmd_table.c). */
    if (table_format_parse(format) == TABLE_MD)
        fprintf(f, "%s, run %lld\n\n", table_metric(t), (long long)run);
    rc = table_write(t, table_format_parse(format), f);
    table_free(t);
    if (fclose(f) != 0 || rc < 0) {
        free(text);
        web_reply_error(res, 500, "out of memory");
        return;
    }
    free(res->body);
    res->body = text;
    res->body_len = len;
    res->status = 200;
    res->kind = WEB_BODY_BUF;
    res->content_type = type;
}

static int
hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* A port name as plugins declare them: letters, digits, '_' and '-'. */
static int
port_valid(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++)
        if (!((s[n] >= 'a' && s[n] <= 'z') || (s[n] >= 'A' && s[n] <= 'Z') ||
              (s[n] >= '0' && s[n] <= '9') || s[n] == '_' || s[n] == '-'))
            return 0;
    return n > 0 && n <= 64;
}

void
api_task_output(const struct web_api *api, const char *task_key, const char *port,
                struct web_response *res)
{
    struct sieve_errbuf err = {{0}};
    struct store_artifact_row row;
    struct hash_ctx h;
    uint8_t key[HASH_LEN], out[HASH_LEN];
    char hex[HASH_HEX_LEN];
    int rc;

    if (!port_valid(port)) {
        web_reply_error(res, 400, "malformed port name");
        return;
    }
    for (int i = 0; i < HASH_LEN; i++)
        key[i] = (uint8_t)(hexval(task_key[2 * i]) << 4 | hexval(task_key[2 * i + 1]));
    /* The planner's rule (core/plan/plan.c): an output's key hashes the task key and the
     * port name as two length-prefixed fields. */
    if (hash_ctx_init(&h) < 0 || hash_ctx_field(&h, key, sizeof key) < 0 ||
        hash_ctx_field(&h, port, strlen(port)) < 0 || hash_ctx_final(&h, out) < 0) {
        web_reply_error(res, 500, "hash failed");
        return;
    }
    hash_hex(out, hex);
    rc = store_artifact_get(api->st, hex, &row, &err);
    if (rc < 0 && rc != SIEVE_ENOENT) {
        web_reply_error(res, 500, "%s", err.msg);
        return;
    }
    web_reply_json(res, 200,
                   json_pack("{s:s, s:s, s:s, s:b}", "task", task_key, "port", port, "artifact",
                             hex, "indexed", rc == 0));
}
