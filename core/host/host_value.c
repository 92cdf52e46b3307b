/*
 * host_value.c - one parameter value: parsing YAML-ish text (or literal YAML scalars) against
 * a row of a plugin's parameter table, and checking the rows themselves.
 *
 * The accepted text is what a YAML flow scalar looks like once the YAML parser has handed it
 * over, and what a user types after `--set key=`: integers with an optional sign, decimal
 * floats with an optional exponent, true/false/yes/no, strings quoted or bare, and flow lists
 * "[a, b]". Non-finite numbers are refused, because they cannot round-trip through JSON and
 * no method has a use for them.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/array.h"
#include "core/host/host.h"
#include "host_int.h"

#define MAX_CHOICES 256
#define MAX_LIST_ITEMS 65536

/* ---------------------------------------------------------------------------------------- */
/* Numbers and names                                                                        */
/* ---------------------------------------------------------------------------------------- */

const char *
host_param_type_name(uint32_t type)
{
    switch (type) {
    case SIEVE_PARAM_INT:
        return "int";
    case SIEVE_PARAM_FLOAT:
        return "float";
    case SIEVE_PARAM_STRING:
        return "string";
    case SIEVE_PARAM_BOOL:
        return "bool";
    case SIEVE_PARAM_ENUM:
        return "enum";
    case SIEVE_PARAM_LIST:
        return "list";
    default:
        return "unknown";
    }
}

void
host_number_format(double v, char *buf, size_t cap)
{
    int prec;
    char *e;

    if (v == 0) {
        snprintf(buf, cap, "0"); /* -0 and 0 are the same parameter */
        return;
    }
    for (prec = 1; prec < 17; prec++) {
        snprintf(buf, cap, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    snprintf(buf, cap, "%.*g", prec, v);
    /*
     * %g switches to an exponent as soon as the exponent reaches the precision ("2.5e+03");
     * write such numbers in plain decimal, as JavaScript does, between 1e-7 and 1e21.
     */
    if ((e = strchr(buf, 'e')) != NULL) {
        int exp = atoi(e + 1);
        if (exp > -7 && exp < 21) {
            int decimals = prec - 1 - exp;
            snprintf(buf, cap, "%.*f", decimals > 0 ? decimals : 0, v);
        }
    }
}

/* ---------------------------------------------------------------------------------------- */
/* Scalars                                                                                  */
/* ---------------------------------------------------------------------------------------- */

static const char *
skip_space(const char *s)
{
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
        s++;
    return s;
}

/* A copy of s[0..len) without surrounding white space. */
static char *
trim_dup(const char *s, size_t len)
{
    char *out;

    while (len > 0 && (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')) {
        s++;
        len--;
    }
    while (len > 0 &&
           (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\n' || s[len - 1] == '\r'))
        len--;
    if (!(out = malloc(len + 1)))
        return NULL;
    memcpy(out, s, len);
    out[len] = '\0';
    return out;
}

/*
 * Reads a quoted string starting at *p (which points at ' or "), YAML rules: in '...' a
 * doubled '' is a quote; in "..." the escapes \" \\ \/ \n \t \r are known. Advances *p past
 * the closing quote. Returns the unquoted string or NULL (with err set).
 */
static char *
read_quoted(const char **p, struct sieve_errbuf *err)
{
    const char *s = *p;
    char q = *s++;
    size_t cap = strlen(s) + 1, n = 0;
    char *out = malloc(cap);

    if (!out) {
        sieve_errbuf_set(err, SIEVE_ENOMEM, "out of memory");
        return NULL;
    }
    for (;;) {
        char c = *s++;
        if (c == '\0') {
            free(out);
            sieve_errbuf_set(err, SIEVE_EINVAL, "unterminated quoted string");
            return NULL;
        }
        if (c == q) {
            if (q == '\'' && *s == '\'') {
                out[n++] = '\'';
                s++;
                continue;
            }
            break;
        }
        if (q == '"' && c == '\\') {
            char e = *s++;
            switch (e) {
            case '"':
            case '\\':
            case '/':
                out[n++] = e;
                break;
            case 'n':
                out[n++] = '\n';
                break;
            case 't':
                out[n++] = '\t';
                break;
            case 'r':
                out[n++] = '\r';
                break;
            default:
                free(out);
                sieve_errbuf_set(err, SIEVE_EINVAL, "unknown escape '\\%c' in quoted string",
                                 e ? e : '0');
                return NULL;
            }
            continue;
        }
        out[n++] = c;
    }
    out[n] = '\0';
    *p = s;
    return out;
}

/*
 * Turns one item of text (already trimmed) into a plain string: unquotes a quoted scalar and
 * checks nothing follows it. Returns a malloc'd string or NULL with err set.
 */
static char *
scalar_text(const char *text, struct sieve_errbuf *err)
{
    const char *p = text;
    char *s;

    if (*p != '"' && *p != '\'')
        return trim_dup(text, strlen(text));
    if (!(s = read_quoted(&p, err)))
        return NULL;
    if (*skip_space(p) != '\0') {
        free(s);
        sieve_errbuf_set(err, SIEVE_EINVAL, "unexpected text after quoted string in %s", text);
        return NULL;
    }
    return s;
}

static int
is_number_text(const char *s)
{
    /* strtod also takes "inf", "nan" and hex floats; YAML parameters mean decimal only. */
    if (!*s)
        return 0;
    for (; *s; s++)
        if (!strchr("0123456789+-.eE", *s))
            return 0;
    return 1;
}

static int
check_range(double v, const struct sieve_param *row, struct sieve_errbuf *err)
{
    char a[40], b[40];

    if ((row->flags & SIEVE_PARAM_HAS_MIN) && v < row->min) {
        host_number_format(v, a, sizeof a);
        host_number_format(row->min, b, sizeof b);
        return sieve_errbuf_set(err, SIEVE_EINVAL, "%s is below the minimum %s", a, b);
    }
    if ((row->flags & SIEVE_PARAM_HAS_MAX) && v > row->max) {
        host_number_format(v, a, sizeof a);
        host_number_format(row->max, b, sizeof b);
        return sieve_errbuf_set(err, SIEVE_EINVAL, "%s is above the maximum %s", a, b);
    }
    return 0;
}

static int
choices_text(const struct sieve_param *row, char *buf, size_t cap)
{
    size_t off = 0;

    buf[0] = '\0';
    for (size_t i = 0; row->choices && row->choices[i] && off < cap; i++)
        off += (size_t)snprintf(buf + off, cap - off, "%s%s", i ? ", " : "", row->choices[i]);
    return 0;
}

/*
 * Converts the plain text `s` (unquoted; ownership passes in) to a value of type `type`
 * (never LIST), checking `row`'s bounds and choices. Writes the message without the
 * "parameter 'x': " prefix.
 */
static int
scalar_from_plain(uint32_t type, const struct sieve_param *row, char *s, struct sieve_value *out,
                  struct sieve_errbuf *err)
{
    char *end;
    int rc = 0;

    memset(out, 0, sizeof *out);
    out->type = type;
    switch (type) {
    case SIEVE_PARAM_INT: {
        long long v;
        errno = 0;
        v = strtoll(s, &end, 10);
        if (!*s || *end || !is_number_text(s)) {
            rc = sieve_errbuf_set(err, SIEVE_EINVAL, "'%s' is not an integer", s);
            break;
        }
        if (errno == ERANGE) {
            rc = sieve_errbuf_set(err, SIEVE_EINVAL, "%s is out of the integer range", s);
            break;
        }
        out->i = v;
        out->f = (double)v;
        rc = check_range(out->f, row, err);
        break;
    }
    case SIEVE_PARAM_FLOAT: {
        double v;
        errno = 0;
        v = strtod(s, &end);
        if (!*s || *end || !is_number_text(s)) {
            rc = sieve_errbuf_set(err, SIEVE_EINVAL, "'%s' is not a number", s);
            break;
        }
        if (!isfinite(v)) {
            rc = sieve_errbuf_set(err, SIEVE_EINVAL, "%s is not a finite number", s);
            break;
        }
        out->f = v == 0 ? 0.0 : v;
        rc = check_range(out->f, row, err);
        break;
    }
    case SIEVE_PARAM_BOOL:
        if (!strcasecmp(s, "true") || !strcasecmp(s, "yes") || !strcasecmp(s, "on"))
            out->i = 1;
        else if (!strcasecmp(s, "false") || !strcasecmp(s, "no") || !strcasecmp(s, "off"))
            out->i = 0;
        else
            rc = sieve_errbuf_set(err, SIEVE_EINVAL, "'%s' is not a boolean (true or false)", s);
        out->f = (double)out->i;
        break;
    case SIEVE_PARAM_STRING:
        out->s = s;
        return 0;
    case SIEVE_PARAM_ENUM: {
        char list[400];
        for (size_t i = 0; row->choices && row->choices[i]; i++) {
            if (!strcmp(row->choices[i], s)) {
                out->s = s;
                out->i = (int64_t)i;
                return 0;
            }
        }
        choices_text(row, list, sizeof list);
        rc = sieve_errbuf_set(err, SIEVE_EINVAL, "'%s' is not one of %s", s, list);
        break;
    }
    default:
        rc = sieve_errbuf_set(err, SIEVE_EINVAL, "unknown parameter type %u", type);
        break;
    }
    free(s);
    return rc;
}

/* Parses one scalar written as YAML-ish text (`raw` is trimmed; it may be quoted). */
static int
parse_scalar(uint32_t type, const struct sieve_param *row, const char *raw, struct sieve_value *out,
             struct sieve_errbuf *err)
{
    char *s;

    memset(out, 0, sizeof *out);
    out->type = type;
    if (*raw == '[')
        return sieve_errbuf_set(err, SIEVE_EINVAL, "expected a single %s, got a list %s",
                                host_param_type_name(type), raw);
    if (!(s = scalar_text(raw, err)))
        return SIEVE_EINVAL;
    return scalar_from_plain(type, row, s, out, err);
}

/* ---------------------------------------------------------------------------------------- */
/* Lists                                                                                    */
/* ---------------------------------------------------------------------------------------- */

/*
 * Finds the end of one list item starting at p: the next top-level ',' or ']'. Quoted
 * strings are skipped whole. Returns NULL with err set on a malformed item.
 */
static const char *
item_end(const char *p, struct sieve_errbuf *err)
{
    while (*p && *p != ',' && *p != ']') {
        if (*p == '"' || *p == '\'') {
            char *tmp = read_quoted(&p, err);
            if (!tmp)
                return NULL;
            free(tmp);
            continue;
        }
        if (*p == '[' || *p == '{') {
            sieve_errbuf_set(err, SIEVE_EINVAL, "nested lists and maps are not supported");
            return NULL;
        }
        p++;
    }
    return p;
}

static void
values_release(struct sieve_value *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        host_value_release(&v[i]);
}

static int
parse_list(const struct sieve_param *row, const char *text, struct sieve_value *out,
           struct sieve_errbuf *err)
{
    struct sieve_value *items = NULL;
    size_t n = 0, cap = 0;
    const char *p = text;
    int rc;

    memset(out, 0, sizeof *out);
    out->type = SIEVE_PARAM_LIST;
    if (*p != '[') {
        /* A bare scalar is a list of one: `--set segments=10` for a list of ints. */
        if (!(items = calloc(1, sizeof *items)))
            return sieve_errbuf_set(err, SIEVE_ENOMEM, "out of memory");
        if ((rc = parse_scalar(row->item_type, row, text, &items[0], err)) < 0) {
            free(items);
            return rc;
        }
        out->items = items;
        out->n = 1;
        return 0;
    }
    p = skip_space(p + 1);
    if (*p == ']') {
        p = skip_space(p + 1);
        if (*p)
            return sieve_errbuf_set(err, SIEVE_EINVAL, "unexpected text after ']' in %s", text);
        return 0; /* the empty list */
    }
    for (;;) {
        const char *end = item_end(p, err);
        char *raw;
        struct sieve_errbuf item_err;

        if (!end) {
            rc = SIEVE_EINVAL;
            goto fail;
        }
        if (*end == '\0') {
            rc = sieve_errbuf_set(err, SIEVE_EINVAL, "missing ']' in %s", text);
            goto fail;
        }
        if (!(raw = trim_dup(p, (size_t)(end - p)))) {
            rc = sieve_errbuf_set(err, SIEVE_ENOMEM, "out of memory");
            goto fail;
        }
        if (!*raw) {
            free(raw);
            rc = sieve_errbuf_set(err, SIEVE_EINVAL, "empty item %zu in %s", n + 1, text);
            goto fail;
        }
        /* On failure `items` keeps the n parsed values, which `fail` releases. */
        if (n == MAX_LIST_ITEMS) {
            free(raw);
            rc = sieve_errbuf_set(err, SIEVE_EINVAL, "list longer than %d items", MAX_LIST_ITEMS);
            goto fail;
        }
        if (array_grow(&items, &cap, n + 1, sizeof *items) < 0) {
            free(raw);
            rc = sieve_errbuf_set(err, SIEVE_ENOMEM, "out of memory");
            goto fail;
        }
        item_err.msg[0] = '\0';
        rc = parse_scalar(row->item_type, row, raw, &items[n], &item_err);
        free(raw);
        if (rc < 0) {
            sieve_errbuf_set(err, rc, "item %zu: %s", n + 1, item_err.msg);
            goto fail;
        }
        n++;
        p = end + 1;
        if (*end == ']')
            break;
        p = skip_space(p);
    }
    if (*skip_space(p) != '\0') {
        rc = sieve_errbuf_set(err, SIEVE_EINVAL, "unexpected text after ']' in %s", text);
        goto fail;
    }
    out->items = items;
    out->n = n;
    return 0;

fail:
    values_release(items, n);
    free(items);
    return rc;
}

/* ---------------------------------------------------------------------------------------- */
/* Public parsing                                                                           */
/* ---------------------------------------------------------------------------------------- */

static int
value_parse_detail(const struct sieve_param *row, const char *text, struct sieve_value *out,
                   struct sieve_errbuf *err)
{
    char *t = trim_dup(text, strlen(text));
    int rc;

    if (!t)
        return sieve_errbuf_set(err, SIEVE_ENOMEM, "out of memory");
    if (row->type == SIEVE_PARAM_LIST)
        rc = parse_list(row, t, out, err);
    else
        rc = parse_scalar(row->type, row, t, out, err);
    free(t);
    return rc;
}

int
host_value_parse(const struct sieve_param *row, const char *text, struct sieve_value *out,
                 struct sieve_errbuf *err)
{
    struct sieve_errbuf detail;
    int rc;

    detail.msg[0] = '\0';
    memset(out, 0, sizeof *out);
    if ((rc = value_parse_detail(row, text ? text : "", out, &detail)) < 0)
        return sieve_errbuf_set(err, rc, "parameter '%s': %s", row->name, detail.msg);
    return 0;
}

int
host_value_parse_literal(const struct sieve_param *row, const char *text, struct sieve_value *out,
                         struct sieve_errbuf *err)
{
    return host_value_parse_items(row, &text, 1, out, err);
}

int
host_value_parse_items(const struct sieve_param *row, const char *const *items, size_t n,
                       struct sieve_value *out, struct sieve_errbuf *err)
{
    struct sieve_errbuf detail;
    struct sieve_value *vals = NULL;
    uint32_t type = row->type == SIEVE_PARAM_LIST ? row->item_type : row->type;
    size_t i;
    char *s;
    int rc;

    memset(out, 0, sizeof *out);
    detail.msg[0] = '\0';
    if (row->type != SIEVE_PARAM_LIST && n != 1)
        return sieve_errbuf_set(err, SIEVE_EINVAL,
                                "parameter '%s': expected a single %s, got a "
                                "list of %zu",
                                row->name, host_param_type_name(row->type), n);
    if (row->type == SIEVE_PARAM_LIST && n > 0 && !(vals = calloc(n, sizeof *vals)))
        return sieve_errbuf_set(err, SIEVE_ENOMEM, "out of memory");
    for (i = 0; i < n; i++) {
        if (!(s = strdup(items[i] ? items[i] : ""))) {
            rc = sieve_errbuf_set(err, SIEVE_ENOMEM, "out of memory");
            goto fail;
        }
        rc = scalar_from_plain(type, row, s, vals ? &vals[i] : out, &detail);
        if (rc < 0) {
            if (vals)
                sieve_errbuf_set(err, rc, "parameter '%s': item %zu: %s", row->name, i + 1,
                                 detail.msg);
            else
                sieve_errbuf_set(err, rc, "parameter '%s': %s", row->name, detail.msg);
            goto fail;
        }
    }
    if (row->type == SIEVE_PARAM_LIST) {
        out->type = SIEVE_PARAM_LIST;
        out->items = vals;
        out->n = n;
    }
    return 0;

fail:
    values_release(vals, i);
    free(vals);
    return rc;
}

void
host_value_release(struct sieve_value *v)
{
    if (!v)
        return;
    free((char *)v->s);
    if (v->items) {
        struct sieve_value *items = (struct sieve_value *)v->items;
        values_release(items, v->n);
        free(items);
    }
    memset(v, 0, sizeof *v);
}

int
host_param_row_check(const struct sieve_param *row, struct sieve_errbuf *err)
{
    const char *name = row->name;
    struct sieve_value v;
    struct sieve_errbuf detail;
    size_t n;

    if (!host_name_valid(name, 0))
        return sieve_errbuf_set(err, SIEVE_EABI, "invalid parameter name '%s' (allowed: a-z 0-9 _)",
                                name ? name : "(null)");
    if (row->type < SIEVE_PARAM_INT || row->type > SIEVE_PARAM_LIST)
        return sieve_errbuf_set(err, SIEVE_EABI, "parameter '%s': unknown type %u", name,
                                row->type);
    if (row->type == SIEVE_PARAM_ENUM) {
        if (!row->choices || !row->choices[0])
            return sieve_errbuf_set(err, SIEVE_EABI, "parameter '%s': enum without choices", name);
        for (n = 0; row->choices[n]; n++) {
            if (n == MAX_CHOICES)
                return sieve_errbuf_set(err, SIEVE_EABI, "parameter '%s': more than %d choices",
                                        name, MAX_CHOICES);
            if (!row->choices[n][0])
                return sieve_errbuf_set(err, SIEVE_EABI, "parameter '%s': empty choice", name);
            for (size_t j = 0; j < n; j++)
                if (!strcmp(row->choices[j], row->choices[n]))
                    return sieve_errbuf_set(err, SIEVE_EABI,
                                            "parameter '%s': duplicate choice '%s'", name,
                                            row->choices[n]);
        }
    }
    if (row->type == SIEVE_PARAM_LIST &&
        (row->item_type < SIEVE_PARAM_INT || row->item_type > SIEVE_PARAM_BOOL))
        return sieve_errbuf_set(err, SIEVE_EABI,
                                "parameter '%s': list item type %u is not int, float, string or "
                                "bool",
                                name, row->item_type);
    if (((row->flags & SIEVE_PARAM_HAS_MIN) && isnan(row->min)) ||
        ((row->flags & SIEVE_PARAM_HAS_MAX) && isnan(row->max)))
        return sieve_errbuf_set(err, SIEVE_EABI, "parameter '%s': bound is NaN", name);
    if ((row->flags & SIEVE_PARAM_HAS_MIN) && (row->flags & SIEVE_PARAM_HAS_MAX) &&
        row->min > row->max) {
        char a[40], b[40];
        host_number_format(row->min, a, sizeof a);
        host_number_format(row->max, b, sizeof b);
        return sieve_errbuf_set(err, SIEVE_EABI, "parameter '%s': minimum %s exceeds maximum %s",
                                name, a, b);
    }
    if ((row->flags & SIEVE_PARAM_REQUIRED) && row->def)
        return sieve_errbuf_set(err, SIEVE_EABI, "parameter '%s': required but has a default",
                                name);
    if (!(row->flags & SIEVE_PARAM_REQUIRED) && !row->def)
        return sieve_errbuf_set(err, SIEVE_EABI,
                                "parameter '%s': no default and not marked required", name);
    if (row->def) {
        detail.msg[0] = '\0';
        if (value_parse_detail(row, row->def, &v, &detail) < 0)
            return sieve_errbuf_set(err, SIEVE_EABI, "parameter '%s': invalid default '%s': %s",
                                    name, row->def, detail.msg);
        host_value_release(&v);
    }
    return 0;
}
