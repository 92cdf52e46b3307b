/*
 * fuzz_web_route.c - libFuzzer harness of the HTTP API's router (web/route.c and the
 * handlers): any method, target, selected headers and body must give a response with a
 * status, and a 4xx/5xx must be a JSON object with an "error" string. The store is a small
 * real one (a run with tasks, metrics, events and an artifact) made once per process, so
 * the handlers reach the store and the bundle reader, not only the parser.
 *
 * Input: lines "METHOD\nTARGET\nORIGIN\nAUTHORIZATION\nLAST-EVENT-ID\nCONTENT-TYPE\nHOST\n"
 * then the body; an empty header line means the header is absent.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/bundle.h"
#include "http.h"
#include "store/store.h"

#define TOKEN "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static struct web_api api;

static int
hook_submit(void *ud, const struct web_submit *s, int64_t *run, struct sieve_errbuf *err)
{
    (void)ud;
    if (!s->path || !s->text)
        abort();
    for (size_t i = 0; i < s->n_sets; i++)
        if (!strchr(s->sets[i], '='))
            abort();
    *run = 1;
    return strlen(s->text) % 2 ? sieve_errbuf_set(err, SIEVE_ESPEC, "odd") : 0;
}

static int
hook_run(void *ud, int64_t run, struct sieve_errbuf *err)
{
    (void)ud;
    return run % 2 ? 0 : sieve_errbuf_set(err, SIEVE_EINVAL, "even");
}

static void
make_store(void)
{
    static char dir[] = "/tmp/sieve-fuzz-web-XXXXXX";
    struct sieve_errbuf err;
    struct store *st;
    int64_t run;
    char key[65], path[STORE_PATH_MAX];
    if (!mkdtemp(dir) || store_open(dir, &st, &err) < 0)
        abort();
    store_run_create(st, "fuzz", "/p.yaml", "name: fuzz\n", &run, &err);
    struct store_task t = {.run = run,
                           .node = "evaluate",
                           .sample = "s",
                           .sample_index = 0,
                           .variant_label = "{\"keep\":0.5}",
                           .key = TOKEN,
                           .components = "{}",
                           .state = STORE_TASK_DONE};
    store_tasks_insert(st, run, &t, 1, &err);
    struct store_metric m = {run, "evaluate", "{\"keep\":0.5}", NULL, "all", "retention",
                             0.5, NULL};
    store_metrics_insert(st, &m, 1, &err);
    store_event_append(st, run, 0, "progress", "x", &err);
    struct bundle *b = bundle_new();
    struct sieve_tensor *ten;
    bundle_tensor_new(b, "frames", SIEVE_DTYPE_U8, 4, (int64_t[]){2, 4, 4, 3}, &ten, &err);
    bundle_tensor_new(b, "mask", SIEVE_DTYPE_BOOL, 3, (int64_t[]){1, 2, 2}, &ten, &err);
    snprintf(key, sizeof key, "%064x", 1);
    store_object_path(st, key, path, sizeof path, 1);
    bundle_write(b, path, &err);
    bundle_free(b);
    store_artifact_index(st, &(struct store_artifact){.key = key, .run = run}, &err);
    api.st = st;
    memcpy(api.token, TOKEN, sizeof TOKEN);
    snprintf(api.origins[0], sizeof api.origins[0], "http://127.0.0.1:1");
    api.n_origins = 1;
    api.loopback_only = 1;
    api.hooks.submit = hook_submit;
    api.hooks.cancel = hook_run;
    api.hooks.resume = hook_run;
}

/* The next line of [*p, end) as a NUL-terminated copy; NULL when empty. */
static char *
next_line(const uint8_t **p, const uint8_t *end)
{
    const uint8_t *nl = memchr(*p, '\n', (size_t)(end - *p));
    size_t n = nl ? (size_t)(nl - *p) : (size_t)(end - *p);
    char *s = NULL;
    if (n) {
        s = malloc(n + 1);
        memcpy(s, *p, n);
        s[n] = '\0';
    }
    *p += nl ? n + 1 : n;
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *p = data, *end = data + size;
    char *f[7];
    struct web_request r = {0};
    struct web_response res;

    if (!api.st)
        make_store();
    for (int i = 0; i < 7; i++)
        f[i] = next_line(&p, end);
    r.method = f[0] ? f[0] : "GET";
    r.path = f[1] ? f[1] : "/";
    char *q = f[1] ? strchr(f[1], '?') : NULL;
    if (q) {
        *q = '\0';
        r.query = q + 1;
    }
    r.origin = f[2];
    r.authorization = f[3];
    r.last_event_id = f[4];
    r.content_type = f[5];
    r.host = f[6];
    r.body = (const char *)p;
    r.body_len = (size_t)(end - p);

    web_route(&api, &r, &res);
    if (res.status < 200 || res.status > 599 || !res.content_type)
        abort();
    if (res.status >= 400) {
        json_t *doc = res.kind == WEB_BODY_BUF ? json_loadb(res.body, res.body_len, 0, NULL) : NULL;
        if (!json_is_string(json_object_get(doc, "error")))
            abort();
        json_decref(doc);
    }
    /* Writes pass only with the token. */
    if (strcmp(r.method, "POST") == 0 && res.status < 300 &&
        (!r.authorization || !strstr(r.authorization, TOKEN)))
        abort();
    web_response_release(&res);
    for (int i = 0; i < 7; i++)
        free(f[i]);
    return 0;
}
