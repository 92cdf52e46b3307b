/*
 * plan_row.c - the manifest row fields that enter a per-sample task's key.
 *
 * A plugin declares the row fields it reads (struct sieve_plugin.row_fields, ABI 1.2); the
 * key hashes exactly those, plus the sample id whenever it declares any: two rows that share
 * a media file are two results as soon as the plugin can see which row it runs for. A plugin
 * that declares none (decode, encode, prune) keeps one key per media content, so rows sharing
 * a media file share its work.
 */
#include <jansson.h>
#include <string.h>

#include "plan_int.h"

/* The value of one declared field as JSON, or NULL when the row does not have it. */
static json_t *
field_value(const struct sieve_sample *smp, json_t *row, const char *field)
{
    if (!strcmp(field, "id"))
        return json_string(smp->id);
    if (!strcmp(field, "category"))
        return smp->category ? json_string(smp->category) : NULL;
    if (!strcmp(field, "media"))
        return json_string(smp->media);
    return json_incref(json_object_get(row, field));
}

char *
plan_row_text(const struct sieve_plugin *d, const struct sieve_sample *smp)
{
    json_t *obj, *row;
    char *text;

    if (!d->row_fields || !d->row_fields[0])
        return NULL;
    obj = json_object();
    row = smp->fields_json ? json_loads(smp->fields_json, 0, NULL) : NULL;
    if (!obj)
        goto fail;
    if (json_object_set_new(obj, "id", json_string(smp->id)) < 0)
        goto fail;
    for (const char *const *f = d->row_fields; *f; f++) {
        json_t *v = field_value(smp, row, *f);
        if (v && json_object_set_new(obj, *f, v) < 0)
            goto fail;
    }
    text = json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
    json_decref(row);
    json_decref(obj);
    return text;
fail:
    json_decref(row);
    json_decref(obj);
    return NULL;
}
