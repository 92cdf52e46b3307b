/*
 * cli_http.c - requests to a serving daemon (see cli_http.h).
 */
#include "cli_http.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/sbuf.h"
#include "store/store.h"
#include "web/web.h"

/* A daemon answers a request in milliseconds; this bounds a hung one. */
#define HTTP_TIMEOUT_S 30L

int
cli_daemon_find(const char *dir, struct cli_daemon *d, struct sieve_errbuf *err)
{
    char *info = NULL;
    memset(d, 0, sizeof *d);
    int rc = store_sched_holder(dir, &info, err);
    if (rc <= 0)
        return rc;
    json_t *j = json_loads(info, 0, NULL);
    free(info);
    const char *kind = json_string_value(json_object_get(j, "kind"));
    const char *url = json_string_value(json_object_get(j, "url"));
    int serving = kind && !strcmp(kind, "serve") && url;
    if (serving) {
        snprintf(d->url, sizeof d->url, "%s", url);
        d->pid = (long)json_integer_value(json_object_get(j, "pid"));
    }
    json_decref(j);
    if (!serving)
        return 0;
    /* Unreadable (another user's daemon): reads still work, writes are refused with 401. */
    struct sieve_errbuf terr;
    if (web_token_read(dir, d->token, sizeof d->token, &terr) < 0)
        d->token[0] = '\0';
    return 1;
}

static size_t
on_data(char *p, size_t size, size_t n, void *ud)
{
    struct sbuf *b = ud;
    sbuf_add(b, p, size * n);
    return b->oom ? 0 : size * n;
}

int
cli_http(const struct cli_daemon *d, const char *method, const char *path, const char *body,
         char **resp, struct sieve_errbuf *err)
{
    static int inited;
    char url[512], auth[192];
    struct sbuf b = {0};
    struct curl_slist *hdr = NULL;
    long status = 0;
    int rc;

    *resp = NULL;
    if (!inited) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        inited = 1;
    }
    CURL *c = curl_easy_init();
    if (!c)
        return sieve_errbuf_set(err, SIEVE_ENOMEM, "out of memory");
    snprintf(url, sizeof url, "%s%s", d->url, path);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", d->token);
    hdr = curl_slist_append(hdr, auth);
    hdr = curl_slist_append(hdr, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, HTTP_TIMEOUT_S);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    if (body)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    CURLcode cc = curl_easy_perform(c);
    if (cc != CURLE_OK) {
        rc = sieve_errbuf_set(err, SIEVE_EIO, "%s %s: %s", method, url, curl_easy_strerror(cc));
        goto out;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    rc = (int)status;
    if (status >= 400) {
        json_t *j = json_loadb(b.s ? b.s : "", b.len, 0, NULL);
        const char *e = json_string_value(json_object_get(j, "error"));
        sieve_errbuf_set(err, SIEVE_EIO, "%s", e ? e : "the daemon answered an error");
        json_decref(j);
    }
    *resp = sbuf_take(&b);
    if (!*resp)
        rc = sieve_errbuf_set(err, SIEVE_ENOMEM, "out of memory");
out:
    free(sbuf_take(&b));
    curl_slist_free_all(hdr);
    curl_easy_cleanup(c);
    return rc;
}
