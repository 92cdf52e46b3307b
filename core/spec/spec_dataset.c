/*
 * spec_dataset.c - the dataset of a pipeline: a manifest (JSON Lines or CSV) or a glob of
 * media files, turned into samples with absolute media paths.
 *
 * Every bad row is reported as "manifest:line: message" and skipped, so one pass lists them
 * all. Media paths are relative to the manifest's directory (a glob's to the pipeline's) and
 * are made absolute, because workers run in other directories and the media hash cache is
 * keyed by path.
 */
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/array.h"
#include "spec_int.h"

/* Duplicate ids are found with a hash set of the ids seen so far (open addressing). */
struct idset {
    size_t *slots; /* sample index + 1; 0 is empty */
    size_t cap;
};

static uint64_t
hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* Returns the index of an earlier sample with the same id, or -1 (and inserts). */
static long
idset_add(struct idset *set, const struct spec *s, size_t idx)
{
    size_t i;
    if ((idx + 1) * 2 > set->cap) {
        size_t nc = set->cap ? set->cap * 2 : 64;
        size_t *ns = calloc(nc, sizeof *ns);
        if (!ns)
            return -1;
        for (size_t j = 0; j < set->cap; j++) {
            if (!set->slots[j])
                continue;
            i = hash_str(s->samples[set->slots[j] - 1].id) & (nc - 1);
            while (ns[i])
                i = (i + 1) & (nc - 1);
            ns[i] = set->slots[j];
        }
        free(set->slots);
        set->slots = ns;
        set->cap = nc;
    }
    i = hash_str(s->samples[idx].id) & (set->cap - 1);
    while (set->slots[i]) {
        if (!strcmp(s->samples[set->slots[i] - 1].id, s->samples[idx].id))
            return (long)set->slots[i] - 1;
        i = (i + 1) & (set->cap - 1);
    }
    set->slots[i] = idx + 1;
    return -1;
}

static char *
absolute(const char *dir, const char *rel)
{
    char *joined = spec_path_join(dir, rel), *abs;
    char cwd[PATH_MAX];
    struct sbuf b = {0};

    if (!joined)
        return NULL;
    if ((abs = realpath(joined, NULL))) {
        free(joined);
        return abs;
    }
    if (joined[0] == '/' || !getcwd(cwd, sizeof cwd))
        return joined;
    sbuf_str(&b, cwd);
    sbuf_ch(&b, '/');
    sbuf_str(&b, joined);
    free(joined);
    return sbuf_take(&b);
}

struct loader {
    struct spec *s;
    struct spec_diags *d;
    const char *label; /* the manifest path as shown in diagnostics */
    char *media_dir;
    struct idset ids;
    size_t cap;
};

/* Adds one sample; takes ownership of the strings. Returns 0 or -1 when the row was bad. */
static int
add_sample(struct loader *l, uint32_t line, char *id, const char *media, char *category,
           char *fields)
{
    struct spec *s = l->s;
    struct spec_sample *smp;
    struct stat sb;
    long prev;

    if (array_grow(&s->samples, &l->cap, s->n_samples + 1, sizeof *s->samples) < 0)
        goto fail;
    smp = &s->samples[s->n_samples];
    memset(smp, 0, sizeof *smp);
    smp->id = id;
    smp->media = absolute(l->media_dir, media);
    smp->category = category;
    smp->fields_json = fields;
    smp->line = line;
    if (!smp->media)
        goto fail_sample;
    if (strlen(id) > SPEC_SAMPLE_ID_MAX) {
        /* Bounded here, where the line is known, not later as a rejected result. */
        spec_diags_add(l->d, 0, l->label, (struct spec_mark){line, 0},
                       "sample id is %zu bytes long (at most %d)", strlen(id), SPEC_SAMPLE_ID_MAX);
        goto fail_sample;
    }
    if ((prev = idset_add(&l->ids, s, s->n_samples)) >= 0) {
        spec_diags_add(l->d, 0, l->label, (struct spec_mark){line, 0},
                       "duplicate id '%s' (first on line %u)", id, s->samples[prev].line);
        goto fail_sample;
    }
    if (stat(smp->media, &sb) < 0 || !S_ISREG(sb.st_mode)) {
        spec_diags_add(l->d, 0, l->label, (struct spec_mark){line, 0}, "media '%s' not found",
                       media);
        /* Keep the row: its id is taken, and later rows are checked against it. */
    }
    s->n_samples++;
    return 0;
fail_sample:
    free(smp->media);
    id = smp->id;
    category = smp->category;
    fields = smp->fields_json;
fail:
    free(id);
    free(category);
    free(fields);
    return -1;
}

/*
 * The first line of a manifest may start with a UTF-8 byte order mark (spreadsheet exports
 * write one); it is not part of the data. Returns the new length.
 */
static ssize_t
strip_bom(char *line, ssize_t len, uint32_t lineno)
{
    if (lineno != 1 || len < 3 || memcmp(line, "\xef\xbb\xbf", 3))
        return len;
    memmove(line, line + 3, (size_t)len - 2); /* with the NUL */
    return len - 3;
}

/* A row this long is not a manifest row (a binary file, /dev/urandom copied to disk). */
static int
row_too_long(struct loader *l, ssize_t len, uint32_t lineno)
{
    if (len <= SPEC_ROW_MAX)
        return 0;
    spec_diags_add(l->d, 0, l->label, (struct spec_mark){lineno, 0},
                   "row is %zd bytes long (at most %d)", len, SPEC_ROW_MAX);
    return 1;
}

static void
load_jsonl(struct loader *l, FILE *f)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    uint32_t lineno = 0;

    while ((len = getline(&line, &cap, f)) >= 0) {
        json_t *row, *id, *media, *cat;
        json_error_t jerr;
        char idbuf[64], *idtext, *cattext = NULL, *fields;
        struct spec_mark at;
        size_t k;

        lineno++;
        at = (struct spec_mark){lineno, 0};
        len = strip_bom(line, len, lineno);
        if (row_too_long(l, len, lineno))
            break;
        for (k = 0; k < (size_t)len && strchr(" \t\r\n", line[k]); k++)
            ;
        if (k == (size_t)len)
            continue;
        if (l->s->limit >= 0 && l->s->n_samples >= (size_t)l->s->limit)
            break;
        /* Two values for one key would make the row mean whichever the parser kept. */
        row = json_loadb(line, (size_t)len, JSON_REJECT_DUPLICATES, &jerr);
        if (!row) {
            spec_diags_add(l->d, 0, l->label, at, "invalid JSON: %s", jerr.text);
            continue;
        }
        if (!json_is_object(row)) {
            spec_diags_add(l->d, 0, l->label, at, "a row must be a JSON object");
            json_decref(row);
            continue;
        }
        id = json_object_get(row, "id");
        media = json_object_get(row, "media");
        cat = json_object_get(row, "category");
        if (!id) {
            spec_diags_add(l->d, 0, l->label, at, "missing 'id'");
            json_decref(row);
            continue;
        }
        if (json_is_string(id) && json_string_length(id) > 0) {
            idtext = strdup(json_string_value(id));
        } else if (json_is_integer(id)) {
            snprintf(idbuf, sizeof idbuf, "%lld", (long long)json_integer_value(id));
            idtext = strdup(idbuf);
        } else {
            spec_diags_add(l->d, 0, l->label, at, "'id' must be a non-empty string or an integer");
            json_decref(row);
            continue;
        }
        if (!media || !json_is_string(media) || json_string_length(media) == 0) {
            spec_diags_add(l->d, 0, l->label, at,
                           media ? "'media' must be a non-empty string" : "missing 'media'");
            free(idtext);
            json_decref(row);
            continue;
        }
        if (cat && json_is_string(cat))
            cattext = strdup(json_string_value(cat));
        else if (cat && !json_is_null(cat)) {
            spec_diags_add(l->d, 0, l->label, at, "'category' must be a string");
            free(idtext);
            json_decref(row);
            continue;
        }
        fields = json_dumps(row, JSON_COMPACT);
        add_sample(l, lineno, idtext, json_string_value(media), cattext, fields);
        json_decref(row);
    }
    free(line);
}

/* Splits one CSV record (RFC 4180 quotes, no embedded newlines) into fields. */
static int
csv_split(char *line, char **fields, size_t max, size_t *n)
{
    char *r = line, *w = line;
    size_t count = 0;

    for (;;) {
        if (count == max)
            return -1;
        fields[count++] = w;
        if (*r == '"') {
            r++;
            for (;;) {
                if (!*r)
                    return -2; /* unterminated quote */
                if (*r == '"' && r[1] == '"') {
                    *w++ = '"';
                    r += 2;
                } else if (*r == '"') {
                    r++;
                    break;
                } else {
                    *w++ = *r++;
                }
            }
            if (*r && *r != ',')
                return -2;
        } else {
            while (*r && *r != ',')
                *w++ = *r++;
        }
        if (!*r) {
            *w = '\0';
            break;
        }
        *w++ = '\0';
        r++;
    }
    *n = count;
    return 0;
}

#define CSV_MAX_FIELDS 256

static void
load_csv(struct loader *l, FILE *f)
{
    char *line = NULL, *header = NULL, *hf[CSV_MAX_FIELDS], *vf[CSV_MAX_FIELDS];
    size_t cap = 0, nh = 0, nv;
    ssize_t len;
    uint32_t lineno = 0;
    int id_col = -1, media_col = -1, cat_col = -1, rc;

    while ((len = getline(&line, &cap, f)) >= 0) {
        struct spec_mark at;
        lineno++;
        at = (struct spec_mark){lineno, 0};
        len = strip_bom(line, len, lineno);
        if (row_too_long(l, len, lineno))
            break;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (len == 0)
            continue;
        if (!header) {
            if (!(header = strdup(line)))
                break;
            if ((rc = csv_split(header, hf, CSV_MAX_FIELDS, &nh)) < 0) {
                spec_diags_add(l->d, 0, l->label, at,
                               rc == -1 ? "too many columns" : "unterminated quote");
                break;
            }
            for (size_t i = 0; i < nh; i++) {
                if (!strcmp(hf[i], "id"))
                    id_col = (int)i;
                else if (!strcmp(hf[i], "media"))
                    media_col = (int)i;
                else if (!strcmp(hf[i], "category"))
                    cat_col = (int)i;
            }
            if (id_col < 0 || media_col < 0) {
                spec_diags_add(l->d, 0, l->label, at, "header needs columns 'id' and 'media'");
                break;
            }
            continue;
        }
        if (l->s->limit >= 0 && l->s->n_samples >= (size_t)l->s->limit)
            break;
        if ((rc = csv_split(line, vf, CSV_MAX_FIELDS, &nv)) < 0) {
            spec_diags_add(l->d, 0, l->label, at,
                           rc == -1 ? "too many fields" : "unterminated quote");
            continue;
        }
        if (nv != nh) {
            spec_diags_add(l->d, 0, l->label, at, "expected %zu fields, found %zu", nh, nv);
            continue;
        }
        if (!*vf[id_col]) {
            spec_diags_add(l->d, 0, l->label, at, "missing 'id'");
            continue;
        }
        if (!*vf[media_col]) {
            spec_diags_add(l->d, 0, l->label, at, "missing 'media'");
            continue;
        }
        {
            json_t *row = json_object();
            for (size_t i = 0; row && i < nh; i++)
                json_object_set_new(row, hf[i], json_string(vf[i]));
            add_sample(l, lineno, strdup(vf[id_col]), vf[media_col],
                       cat_col >= 0 && *vf[cat_col] ? strdup(vf[cat_col]) : NULL,
                       row ? json_dumps(row, JSON_COMPACT) : NULL);
            json_decref(row);
        }
    }
    if (!header && !ferror(f))
        spec_diags_add(l->d, 0, l->label, (struct spec_mark){1, 0}, "empty CSV manifest");
    free(header);
    free(line);
}

static void
load_glob(struct loader *l, const char *base_dir, struct spec_mark mark)
{
    char *pattern = spec_path_join(base_dir, l->s->glob);
    glob_t g;
    int rc;

    if (!pattern)
        return;
    rc = glob(pattern, 0, NULL, &g);
    if (rc == GLOB_NOMATCH || (rc == 0 && g.gl_pathc == 0)) {
        spec_diags_add(l->d, 0, l->s->path, mark, "dataset: glob '%s' matches no files",
                       l->s->glob);
    } else if (rc == 0) {
        for (size_t i = 0; i < g.gl_pathc; i++) {
            const char *path = g.gl_pathv[i];
            const char *base = strrchr(path, '/');
            const char *dot;
            json_t *row;
            char *id;

            if (l->s->limit >= 0 && l->s->n_samples >= (size_t)l->s->limit)
                break;
            base = base ? base + 1 : path;
            dot = strrchr(base, '.');
            id = dot && dot != base ? strndup(base, (size_t)(dot - base)) : strdup(base);
            row = json_pack("{s:s, s:s}", "id", id ? id : "", "media", path);
            l->label = l->s->path;
            add_sample(l, 0, id, path, NULL, row ? json_dumps(row, JSON_COMPACT) : NULL);
            json_decref(row);
        }
    } else {
        spec_diags_add(l->d, 0, l->s->path, mark, "dataset: glob '%s' failed", l->s->glob);
    }
    if (rc == 0)
        globfree(&g);
    free(pattern);
}

/* What a path that is not a regular file is, for the message. */
static const char *
file_kind(mode_t m)
{
    return S_ISDIR(m)    ? "a directory"
           : S_ISFIFO(m) ? "a FIFO"
           : S_ISCHR(m)  ? "a character device"
           : S_ISBLK(m)  ? "a block device"
           : S_ISSOCK(m) ? "a socket"
                         : "not a regular file";
}

/*
 * Opens the manifest, which must be a regular file: a FIFO would hang the open (hence
 * O_NONBLOCK until fstat has looked), /dev/urandom would never end, and a directory or
 * /dev/null used to read as "not found" or as empty.
 */
static FILE *
open_manifest(struct spec *s, struct spec_mark mark, struct spec_diags *d)
{
    struct stat sb;
    FILE *f;
    int fd = open(s->manifest, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        char e[128];
        snprintf(e, sizeof e, "%s", strerror(errno));
        e[0] = (char)(e[0] >= 'A' && e[0] <= 'Z' ? e[0] - 'A' + 'a' : e[0]);
        spec_diags_add(d, 0, s->path, mark, "dataset: open manifest '%s': %s", s->manifest, e);
        return NULL;
    }
    if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
        spec_diags_add(d, 0, s->path, mark, "dataset: manifest '%s' is %s, not a file", s->manifest,
                       fstat(fd, &sb) < 0 ? "unreadable" : file_kind(sb.st_mode));
        close(fd);
        return NULL;
    }
    /* A regular file never blocks; clear the flag for stdio's sake. */
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    if (!(f = fdopen(fd, "r"))) {
        close(fd);
        spec_diags_add(d, 0, s->path, mark, "dataset: open manifest '%s': out of memory",
                       s->manifest);
    }
    return f;
}

int
spec_dataset_load(struct spec *s, const char *base_dir, struct spec_mark mark, struct spec_diags *d)
{
    struct loader l = {.s = s, .d = d};
    FILE *f;
    size_t before = d->n_errors;

    if (s->glob) {
        l.media_dir = strdup(".");
        load_glob(&l, base_dir, mark);
        goto out;
    }
    l.label = s->manifest;
    if (!(f = open_manifest(s, mark, d)))
        return -1;
    l.media_dir = spec_dirname(s->manifest);
    {
        size_t len = strlen(s->manifest);
        if (len >= 4 && !strcasecmp(s->manifest + len - 4, ".csv"))
            load_csv(&l, f);
        else
            load_jsonl(&l, f);
    }
    fclose(f);
    if (!s->n_samples && d->n_errors == before)
        spec_diags_add(d, 0, s->path, mark, "dataset: manifest '%s' has no rows", s->manifest);
out:
    free(l.media_dir);
    free(l.ids.slots);
    return d->n_errors > before ? -1 : 0;
}
