/*
 * api_artifacts.c - an artifact's tensor list and metadata, its object file, and the token
 * overlay (a decoded frame's pixels and a prune-visual kept mask over the patch grid).
 *
 * A key from the request is only ever a 64-hex string checked by the router; the file is
 * found by asking the store for that key's object path, never by joining request text to a
 * directory, and only when the index has the key.
 */
#include <stdlib.h>
#include <string.h>

#include "base/bundle.h"
#include "route_int.h"
#include "store/store.h"

/* Resolves an indexed key to its object path; 0, or a 404/500 in res. */
static int
object_path(const struct web_api *api, const char *key, char *path, size_t len,
            struct store_artifact_row *row, struct web_response *res)
{
    struct sieve_errbuf err = {{0}};
    int rc = store_artifact_get(api->st, key, row, &err);
    if (rc < 0) {
        web_reply_error(res, web_status_from_error(rc), "%s", err.msg);
        return -1;
    }
    if (store_object_path(api->st, key, path, len, 0) < 0) {
        web_reply_error(res, 500, "object path of '%s' too long", key);
        return -1;
    }
    return 0;
}

static int
open_bundle(const struct web_api *api, const char *key, struct bundle **b, struct web_response *res)
{
    struct store_artifact_row row;
    struct sieve_errbuf err = {{0}};
    char path[STORE_PATH_MAX];
    int rc;
    if (object_path(api, key, path, sizeof path, &row, res) < 0)
        return -1;
    if ((rc = bundle_read(path, b, &err)) < 0) {
        /* An indexed object that is gone or damaged: `sieve cache verify` fixes the index. */
        web_reply_error(res, rc == SIEVE_ENOENT ? 404 : 500, "artifact '%s': %s", key, err.msg);
        return -1;
    }
    return 0;
}

void
api_artifact_get(const struct web_api *api, const char *key, struct web_response *res)
{
    struct store_artifact_row row;
    struct sieve_errbuf err = {{0}};
    struct bundle *b = NULL;
    char path[STORE_PATH_MAX];
    json_t *tensors, *meta;
    int rc;

    if (object_path(api, key, path, sizeof path, &row, res) < 0)
        return;
    if ((rc = bundle_read(path, &b, &err)) < 0) {
        web_reply_error(res, rc == SIEVE_ENOENT ? 404 : 500, "artifact '%s': %s", key, err.msg);
        return;
    }
    tensors = json_array();
    for (size_t i = 0; i < bundle_tensor_count(b); i++) {
        const struct sieve_tensor *t = bundle_tensor_at(b, i);
        json_t *shape = json_array();
        for (uint32_t d = 0; d < t->ndim; d++)
            json_array_append_new(shape, json_integer(t->shape[d]));
        json_array_append_new(tensors, json_pack("{s:s, s:s, s:o, s:I}", "name", t->name, "dtype",
                                                 bundle_dtype_name(t->dtype), "shape", shape,
                                                 "bytes", (json_int_t)t->nbytes));
    }
    meta = json_object();
    for (size_t i = 0; i < bundle_meta_count(b); i++) {
        const char *k, *v;
        if (bundle_meta_at(b, i, &k, &v) == 0)
            json_object_set_new(meta, k, json_string(v));
    }
    bundle_free(b);
    web_reply_json(res, 200,
                   json_pack("{s:s, s:I, s:s, s:I, s:I, s:I, s:b, s:o, s:o}", "key", key, "bytes",
                             (json_int_t)row.bytes, "checksum", row.checksum, "run",
                             (json_int_t)row.run, "created_ms", (json_int_t)row.created_ms,
                             "last_used_ms", (json_int_t)row.last_used_ms, "pinned", row.pinned,
                             "tensors", tensors, "metadata", meta));
}

void
api_artifact_file(const struct web_api *api, const char *key, struct web_response *res)
{
    struct store_artifact_row row;
    char path[STORE_PATH_MAX];
    if (object_path(api, key, path, sizeof path, &row, res) < 0)
        return;
    res->status = 200;
    res->kind = WEB_BODY_FILE;
    res->content_type = "application/octet-stream";
    if (!(res->file = strdup(path)))
        web_reply_error(res, 500, "out of memory");
}

/* ---- overlay --------------------------------------------------------------------------- */

static char *
base64(const uint8_t *p, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = malloc((n + 2) / 3 * 4 + 1), *o = out;
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) |
                     (i + 2 < n ? p[i + 2] : 0);
        *o++ = tab[v >> 18 & 63];
        *o++ = tab[v >> 12 & 63];
        *o++ = i + 1 < n ? tab[v >> 6 & 63] : '=';
        *o++ = i + 2 < n ? tab[v & 63] : '=';
    }
    *o = '\0';
    return out;
}

/* The frames tensor of a decode output: U8 [T, H, W, 3]. */
static const struct sieve_tensor *
frames_of(const struct bundle *b)
{
    const struct sieve_tensor *t = bundle_tensor_get(b, "frames");
    if (!t || t->dtype != SIEVE_DTYPE_U8 || t->ndim != 4 || t->shape[3] != 3 || t->shape[0] < 1)
        return NULL;
    return t;
}

/* The kept mask of a prune-visual output: BOOL [t, h, w]. */
static const struct sieve_tensor *
mask_of(const struct bundle *b)
{
    const struct sieve_tensor *t = bundle_tensor_get(b, "mask");
    if (!t || t->dtype != SIEVE_DTYPE_BOOL || t->ndim != 3 || t->shape[0] < 1)
        return NULL;
    return t;
}

/* {"group", "groups", "rows", "cols", "kept", "bits"}: bits is one '0'/'1' per cell of the
 * group's h × w grid, row-major. */
static json_t *
mask_json(const char *key, const struct sieve_tensor *m, int64_t group)
{
    int64_t h = m->shape[1], w = m->shape[2], kept = 0;
    /* An empty grid may have no data at all (NULL): no arithmetic on it. */
    const uint8_t *cells = h * w > 0 ? (const uint8_t *)m->data + group * h * w : NULL;
    char *bits = malloc((size_t)(h * w) + 1);
    json_t *j;
    if (!bits)
        return NULL;
    for (int64_t i = 0; cells && i < h * w; i++) {
        bits[i] = cells[i] ? '1' : '0';
        kept += cells[i] != 0;
    }
    bits[h * w] = '\0';
    j = json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:s}", "key", key, "group", (json_int_t)group,
                  "groups", (json_int_t)m->shape[0], "rows", (json_int_t)h, "cols", (json_int_t)w,
                  "kept", (json_int_t)kept, "bits", bits);
    free(bits);
    return j;
}

void
api_artifact_overlay(const struct web_api *api, const char *key, const struct web_request *req,
                     struct web_response *res)
{
    static const char *const allowed[] = {"frame", "mask", "pixels", NULL};
    char buf[WEB_PARAM_MAX], mask_key[WEB_PARAM_MAX];
    struct bundle *b = NULL, *mb = NULL;
    const struct sieve_tensor *frames, *mask;
    int64_t frame = 0, n_frames;
    int want_pixels = 1;
    json_t *doc = NULL;

    if (web_query_check(req->query, allowed, res) < 0)
        return;
    if (web_query_get(req->query, "frame", buf, sizeof buf) == 1 &&
        web_parse_int(buf, 0, INT32_MAX, &frame) < 0) {
        web_reply_error(res, 400, "frame must be a non-negative integer");
        return;
    }
    if (web_query_get(req->query, "pixels", buf, sizeof buf) == 1) {
        if (strcmp(buf, "0") != 0 && strcmp(buf, "1") != 0) {
            web_reply_error(res, 400, "pixels must be 0 or 1");
            return;
        }
        want_pixels = buf[0] == '1';
    }
    mask_key[0] = '\0';
    if (web_query_get(req->query, "mask", mask_key, sizeof mask_key) == 1 &&
        !web_key_valid(mask_key)) {
        web_reply_error(res, 400, "malformed mask key: 64 lower-case hex digits expected");
        return;
    }
    if (open_bundle(api, key, &b, res) < 0)
        return;
    if (mask_key[0] && open_bundle(api, mask_key, &mb, res) < 0)
        goto out;
    frames = frames_of(b);
    mask = mask_of(mb ? mb : b);
    if (!frames && !mask) {
        web_reply_error(res, 422,
                        "artifact has neither frames (U8 [T,H,W,3]) nor a mask (BOOL [t,h,w])");
        goto out;
    }
    if (mb && !mask) {
        web_reply_error(res, 422, "mask artifact has no mask tensor (BOOL [t,h,w])");
        goto out;
    }
    /* Frames index time when there are any; otherwise the frame is a mask group. */
    n_frames = frames ? frames->shape[0] : mask->shape[0];
    if (frame >= n_frames) {
        web_reply_error(res, 400, "frame %lld out of range (%lld frames)", (long long)frame,
                        (long long)n_frames);
        goto out;
    }
    doc = json_pack("{s:I, s:I}", "frame", (json_int_t)frame, "frames", (json_int_t)n_frames);
    if (frames) {
        int64_t h = frames->shape[1], w = frames->shape[2];
        json_object_set_new(doc, "width", json_integer(w));
        json_object_set_new(doc, "height", json_integer(h));
        if (want_pixels) {
            char *px = h * w > 0 ? base64((const uint8_t *)frames->data + frame * h * w * 3,
                                          (size_t)(h * w * 3))
                                 : strdup("");
            if (!px) {
                web_reply_error(res, 500, "out of memory");
                goto out;
            }
            json_object_set_new(doc, "pixels", json_string(px));
            free(px);
        }
    }
    if (mask) {
        /* Groups cover the frames evenly (two frames per group for Qwen2.5's video). */
        int64_t group = frames ? frame * mask->shape[0] / n_frames : frame;
        json_t *m = mask_json(mb ? mask_key : key, mask, group);
        if (!m) {
            web_reply_error(res, 500, "out of memory");
            goto out;
        }
        json_object_set_new(doc, "mask", m);
    }
    web_reply_json(res, 200, doc);
    doc = NULL;
out:
    json_decref(doc);
    bundle_free(mb);
    bundle_free(b);
}
