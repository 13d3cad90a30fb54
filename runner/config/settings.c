/* An instance's settings (its `config:` mapping) checked against its plugin's config_schema,
 * a subset of JSON Schema: type, properties, required, additionalProperties, items, pattern,
 * enum, minimum, maximum, minLength, maxLength, default. The YAML tree is walked, not its
 * JSON, so that every error names its key path and line; the JSON the plugin gets is written
 * in the same walk, with the schema's defaults filled in where a key is absent. */
#include "config/settings.h"

#include <errno.h>
#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/json.h"
#include "util/text.h"
#include "util/yaml_json.h"

/* A schema is part of a manifest (64 KiB at most); its nodes are bounded by that. */
#define SETTINGS_SCHEMA_TOKENS 16384u
/* Schemas nest like the settings do: the YAML tree's own depth bounds the walk. */
#define SETTINGS_MAX_DEPTH 32u

enum vtype { T_NULL, T_BOOLEAN, T_INTEGER, T_NUMBER, T_STRING, T_OBJECT, T_ARRAY, T_COUNT };
static const char *const vtype_names[T_COUNT] = {
    [T_NULL] = "null",     [T_BOOLEAN] = "boolean", [T_INTEGER] = "integer", [T_NUMBER] = "number",
    [T_STRING] = "string", [T_OBJECT] = "object",   [T_ARRAY] = "array",
};
/* What the messages call each type, as a user of YAML knows them. */
static const char *const vtype_words[T_COUNT] = {
    [T_NULL] = "null",      [T_BOOLEAN] = "a boolean", [T_INTEGER] = "an integer",
    [T_NUMBER] = "a number", [T_STRING] = "a string",  [T_OBJECT] = "a mapping",
    [T_ARRAY] = "a list",
};

struct walk {
    const struct json_doc *schema;
    struct diag_list *d;
    struct diag_path *path;
    struct json_writer *out;
};

/* The JSON type a YAML node becomes for the plugin (util/yaml_json.c's rules). */
static enum vtype type_of(const struct yaml_node *n, double *ret_num)
{
    long long i;
    bool b;

    *ret_num = 0;
    if (n->kind == YAML_KIND_MAPPING)
        return T_OBJECT;
    if (n->kind == YAML_KIND_SEQUENCE)
        return T_ARRAY;
    if (n->quoted)
        return T_STRING;
    if (yaml_scalar_is_null(n))
        return T_NULL;
    if (yaml_scalar_bool(n, &b) >= 0)
        return T_BOOLEAN;
    if (yaml_scalar_int64(n, &i) >= 0) {
        *ret_num = (double)i;
        return T_INTEGER;
    }
    if (yaml_scalar_double(n, ret_num) >= 0)
        return T_NUMBER;
    return T_STRING;
}

static int type_named(const char *name)
{
    for (int t = 0; t < T_COUNT; t++)
        if (streq(vtype_names[t], name))
            return t;
    return -1;
}

/* The node shown in a message: a scalar quoted as the config holds it, else its kind. */
static const char *shown(const struct yaml_node *n, char *buf, size_t cap)
{
    if (n->kind != YAML_KIND_SCALAR)
        return n->kind == YAML_KIND_MAPPING ? "a mapping" : "a list";
    if (n->quoted || type_of(n, &(double){0}) == T_STRING)
        return text_quote(n->value, buf, cap);
    snprintf(buf, cap, "%s", n->value);
    return buf;
}

#define ERR(w, n, ...) diag_error((w)->d, (n)->line, (w)->path->buf, __VA_ARGS__)

/* type: a name or a list of names; "number" takes integers too. */
static bool check_type(struct walk *w, const struct yaml_node *n, int s, enum vtype t)
{
    char words[160] = "", buf[128];
    int tok, elem, cur = 0;
    bool any = false;

    if (json_get(w->schema, s, "type", &tok) < 0)
        return true;
    if (json_type(w->schema, tok) == JSON_STRING)
        elem = tok;
    for (;;) {
        _cleanup_free_ char *name = NULL;
        int want;
        if (json_type(w->schema, tok) == JSON_ARRAY && json_array_iter(w->schema, tok, &cur, &elem) <= 0)
            break;
        if (json_get_string(w->schema, elem, NULL, &name) >= 0 && (want = type_named(name)) >= 0) {
            if (want == (int)t || (want == T_NUMBER && t == T_INTEGER))
                return true;
            snprintf(words + strlen(words), sizeof(words) - strlen(words), "%s%s",
                     any ? " or " : "", vtype_words[want]);
            any = true;
        }
        if (json_type(w->schema, tok) != JSON_ARRAY)
            break;
    }
    if (!any)
        return true;
    ERR(w, n, "%s is not %s", shown(n, buf, sizeof(buf)), words);
    return false;
}

/* A scalar equal to a JSON value of an enum: same type and value. */
static bool equals(const struct json_doc *s, int tok, const struct yaml_node *n)
{
    double num, want;
    enum vtype t = type_of(n, &num);
    bool b, bb;

    switch (json_type(s, tok)) {
    case JSON_STRING:
        return t == T_STRING && json_string_equals(s, tok, NULL, n->value) == 1;
    case JSON_NUMBER:
        return (t == T_INTEGER || t == T_NUMBER) && json_get_double(s, tok, NULL, &want) >= 0 &&
               want == num;
    case JSON_BOOL:
        return t == T_BOOLEAN && json_get_bool(s, tok, NULL, &b) >= 0 &&
               yaml_scalar_bool(n, &bb) >= 0 && b == bb;
    case JSON_NULL:
        return t == T_NULL;
    default:
        return false; /* objects and lists in an enum: none of ours */
    }
}

static void check_enum(struct walk *w, const struct yaml_node *n, int s)
{
    int tok, elem, cur = 0;
    char buf[128];

    if (json_get(w->schema, s, "enum", &tok) < 0 || json_type(w->schema, tok) != JSON_ARRAY)
        return;
    while (json_array_iter(w->schema, tok, &cur, &elem) > 0)
        if (n->kind == YAML_KIND_SCALAR && equals(w->schema, elem, n))
            return;
    {
        const char *raw;
        size_t len;
        (void)json_token_raw(w->schema, tok, &raw, &len);
        ERR(w, n, "%s is not one of %.*s", shown(n, buf, sizeof(buf)), (int)(len > 200 ? 200 : len),
            raw);
    }
}

static void check_number(struct walk *w, const struct yaml_node *n, int s, double v)
{
    double lim;
    char buf[128];

    if (json_get_double(w->schema, s, "minimum", &lim) >= 0 && v < lim)
        ERR(w, n, "%s is less than the minimum, %.17g", shown(n, buf, sizeof(buf)), lim);
    if (json_get_double(w->schema, s, "maximum", &lim) >= 0 && v > lim)
        ERR(w, n, "%s is more than the maximum, %.17g", shown(n, buf, sizeof(buf)), lim);
}

/* Characters, as JSON Schema counts lengths: code points (the config is valid UTF-8, so
 * every byte but a continuation byte starts one). */
static size_t code_points(const char *s, size_t len)
{
    size_t n = 0;

    for (size_t i = 0; i < len; i++)
        n += ((unsigned char)s[i] & 0xC0) != 0x80;
    return n;
}

static void check_string(struct walk *w, const struct yaml_node *n, int s)
{
    _cleanup_free_ char *pattern = NULL;
    size_t chars = code_points(n->value, n->len);
    int64_t lim;
    char buf[128];
    regex_t re;

    if (json_get_int64(w->schema, s, "minLength", &lim) >= 0 && (int64_t)chars < lim)
        ERR(w, n, "%s is shorter than %lld characters", shown(n, buf, sizeof(buf)), (long long)lim);
    if (json_get_int64(w->schema, s, "maxLength", &lim) >= 0 && (int64_t)chars > lim)
        ERR(w, n, "%s is longer than %lld characters", shown(n, buf, sizeof(buf)), (long long)lim);
    if (json_get_string(w->schema, s, "pattern", &pattern) < 0 ||
        regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB) != 0)
        return;
    if (regexec(&re, n->value, 0, NULL, 0) != 0)
        ERR(w, n, "%s does not match the pattern %s", shown(n, buf, sizeof(buf)),
            TEXT_QUOTE(pattern));
    regfree(&re);
}

static void walk_node(struct walk *w, const struct yaml_node *n, int s, unsigned depth);

/* Present keys in order (each checked against its property's schema, or
 * additionalProperties), then the absent ones that have a default. */
static void walk_object(struct walk *w, const struct yaml_node *n, int s, unsigned depth)
{
    int props = -1, extra = -1, req, elem, cur = 0;
    bool closed = false;

    (void)json_get(w->schema, s, "properties", &props);
    if (json_get(w->schema, s, "additionalProperties", &extra) >= 0 &&
        json_type(w->schema, extra) == JSON_BOOL) {
        bool allowed = true;
        closed = json_get_bool(w->schema, extra, NULL, &allowed) >= 0 && !allowed;
    }
    json_begin_object(w->out);
    for (size_t i = 0; i < n->n_children; i++) {
        size_t saved = diag_path_push_key(w->path, n->keys[i]);
        int sub = -1;
        if (props >= 0)
            (void)json_get_key(w->schema, props, n->keys[i], strlen(n->keys[i]), &sub);
        if (sub < 0 && closed)
            ERR(w, n->children[i], "is not a setting of this plugin");
        json_key(w->out, n->keys[i]);
        walk_node(w, n->children[i], sub >= 0 ? sub
                                     : json_type(w->schema, extra) == JSON_OBJECT ? extra
                                                                                   : -1,
                  depth + 1);
        diag_path_pop(w->path, saved);
    }
    if (props >= 0 && json_type(w->schema, props) == JSON_OBJECT)
        for (int pc = 0, k, v; json_object_iter(w->schema, props, &pc, &k, &v) > 0;) {
            _cleanup_free_ char *key = NULL;
            int dflt;
            if (json_get_string(w->schema, k, NULL, &key) < 0 || yaml_map_get(n, key) ||
                json_get_key(w->schema, v, "default", strlen("default"), &dflt) < 0)
                continue;
            json_key(w->out, key);
            json_value_raw(w->out, w->schema, dflt);
        }
    json_end_object(w->out);
    if (json_get(w->schema, s, "required", &req) < 0 || json_type(w->schema, req) != JSON_ARRAY)
        return;
    while (json_array_iter(w->schema, req, &cur, &elem) > 0) {
        _cleanup_free_ char *key = NULL;
        int dflt, v = -1;
        if (json_get_string(w->schema, elem, NULL, &key) < 0 || yaml_map_get(n, key))
            continue;
        /* A required key with a default is filled in, so it is there. */
        if (props >= 0 && json_get_key(w->schema, props, key, strlen(key), &v) >= 0 &&
            json_get_key(w->schema, v, "default", strlen("default"), &dflt) >= 0)
            continue;
        ERR(w, n, "the setting %s is required", TEXT_QUOTE(key));
    }
}

static void walk_node(struct walk *w, const struct yaml_node *n, int s, unsigned depth)
{
    double num;
    enum vtype t = type_of(n, &num);
    int items;

    if (depth > SETTINGS_MAX_DEPTH || s < 0 || json_type(w->schema, s) != JSON_OBJECT) {
        /* No schema here: the value as it is. */
        if (n->kind == YAML_KIND_MAPPING)
            s = -1;
    }
    if (s >= 0 && json_type(w->schema, s) == JSON_OBJECT && check_type(w, n, s, t)) {
        check_enum(w, n, s);
        if (t == T_INTEGER || t == T_NUMBER)
            check_number(w, n, s, num);
        else if (t == T_STRING)
            check_string(w, n, s);
    }
    if (n->kind == YAML_KIND_MAPPING) {
        if (s >= 0 && json_type(w->schema, s) == JSON_OBJECT)
            return walk_object(w, n, s, depth);
        json_begin_object(w->out);
        for (size_t i = 0; i < n->n_children; i++) {
            json_key(w->out, n->keys[i]);
            walk_node(w, n->children[i], -1, depth + 1);
        }
        json_end_object(w->out);
        return;
    }
    if (n->kind == YAML_KIND_SEQUENCE) {
        if (s < 0 || json_get(w->schema, s, "items", &items) < 0)
            items = -1;
        json_begin_array(w->out);
        for (size_t i = 0; i < n->n_children; i++) {
            size_t saved = diag_path_push_index(w->path, i);
            walk_node(w, n->children[i], items, depth + 1);
            diag_path_pop(w->path, saved);
        }
        json_end_array(w->out);
        return;
    }
    yaml_scalar_to_json(w->out, n);
}

int settings_check(const struct yaml_node *settings, const char *schema_json,
                   struct diag_list *d, struct diag_path *path, char **ret_json)
{
    _cleanup_(json_doc_freep) struct json_doc *schema = NULL;
    struct yaml_node empty = {.kind = YAML_KIND_MAPPING, .line = 0};
    struct json_writer out;
    struct walk w;
    size_t errors = d->n_errors;
    int r;

    if (!schema_json)
        return yaml_to_json(settings, ret_json);
    r = json_parse(schema_json, strlen(schema_json), SETTINGS_SCHEMA_TOKENS, &schema);
    if (r < 0)
        return r;
    if (!settings || yaml_scalar_is_null(settings)) {
        empty.line = settings ? settings->line : 0;
        settings = &empty;
    }
    json_writer_init(&out, YAML_JSON_MAX);
    w = (struct walk){.schema = schema, .d = d, .path = path, .out = &out};
    walk_node(&w, settings, 0, 0);
    r = json_writer_steal(&out, ret_json, NULL);
    json_writer_done(&out);
    if (r < 0)
        return r;
    return d->n_errors > errors ? -EINVAL : 0;
}

/* ---- the schema itself ------------------------------------------------------------------- */

static const char *const known_keys[] = {
    "type",  "properties", "required", "additionalProperties", "items",     "pattern",
    "enum",  "minimum",    "maximum",  "minLength",            "maxLength", "default",
    "title", "description", "$schema", "examples",
};

static int schema_node_ok(const struct json_doc *s, int tok, unsigned depth, char *why, size_t cap)
{
    int sub, cur = 0, elem, r;

    if (depth > SETTINGS_MAX_DEPTH)
        return snprintf(why, cap, "nested deeper than %u", SETTINGS_MAX_DEPTH), -E2BIG;
    if (json_type(s, tok) != JSON_OBJECT)
        return snprintf(why, cap, "a schema must be a mapping"), -EBADMSG;
    for (int c = 0, k, v; json_object_iter(s, tok, &c, &k, &v) > 0;) {
        bool known = false;
        for (size_t i = 0; i < ELEMENTSOF(known_keys); i++)
            known |= json_string_equals(s, k, NULL, known_keys[i]) == 1;
        if (!known) {
            _cleanup_free_ char *key = NULL;
            (void)json_get_string(s, k, NULL, &key);
            return snprintf(why, cap, "%s is not a keyword botrunner understands",
                            TEXT_QUOTE(key ? key : "?")), -EBADMSG;
        }
    }
    if (json_get(s, tok, "type", &sub) >= 0) {
        if (json_type(s, sub) == JSON_STRING)
            elem = sub;
        for (;;) {
            _cleanup_free_ char *name = NULL;
            if (json_type(s, sub) == JSON_ARRAY && json_array_iter(s, sub, &cur, &elem) <= 0)
                break;
            if (json_get_string(s, elem, NULL, &name) < 0 || type_named(name) < 0)
                return snprintf(why, cap, "type %s is not one of null, boolean, integer, "
                                "number, string, object, array", TEXT_QUOTE(name ? name : "?")),
                       -EBADMSG;
            if (json_type(s, sub) != JSON_ARRAY)
                break;
        }
    }
    if (json_get(s, tok, "pattern", &sub) >= 0) {
        _cleanup_free_ char *p = NULL;
        regex_t re;
        if (json_get_string(s, sub, NULL, &p) < 0 || regcomp(&re, p, REG_EXTENDED | REG_NOSUB) != 0)
            return snprintf(why, cap, "pattern %s is not a POSIX extended regular expression",
                            TEXT_QUOTE(p ? p : "?")), -EBADMSG;
        regfree(&re);
    }
    if (json_get(s, tok, "properties", &sub) >= 0)
        for (int c = 0, k, v; json_object_iter(s, sub, &c, &k, &v) > 0;) {
            r = schema_node_ok(s, v, depth + 1, why, cap);
            if (r < 0)
                return r;
        }
    if (json_get(s, tok, "items", &sub) >= 0 && (r = schema_node_ok(s, sub, depth + 1, why, cap)) < 0)
        return r;
    if (json_get(s, tok, "additionalProperties", &sub) >= 0 && json_type(s, sub) == JSON_OBJECT &&
        (r = schema_node_ok(s, sub, depth + 1, why, cap)) < 0)
        return r;
    return 0;
}

int settings_schema_check(const char *schema_json, char *why, size_t cap)
{
    _cleanup_(json_doc_freep) struct json_doc *schema = NULL;
    int r = json_parse(schema_json, strlen(schema_json), SETTINGS_SCHEMA_TOKENS, &schema);

    if (r < 0)
        return snprintf(why, cap, "config_schema is too large"), r;
    return schema_node_ok(schema, 0, 0, why, cap);
}
