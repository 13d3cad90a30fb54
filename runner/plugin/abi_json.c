/* The plugin ABI's JSON: struct br_json is the runner's struct json_doc, struct
 * br_json_writer a heap-held struct json_writer. Every entry point tolerates the NULLs a
 * plugin may pass (a failed writer_new, a missing document) and says -EINVAL. */
#include "plugin/abi_json.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/json.h"

_Static_assert((int)BR_JSON_INVALID == (int)JSON_INVALID && (int)BR_JSON_OBJECT == (int)JSON_OBJECT &&
                       (int)BR_JSON_ARRAY == (int)JSON_ARRAY && (int)BR_JSON_STRING == (int)JSON_STRING &&
                       (int)BR_JSON_NUMBER == (int)JSON_NUMBER && (int)BR_JSON_BOOL == (int)JSON_BOOL &&
                       (int)BR_JSON_NULL == (int)JSON_NULL,
               "plugin.h's enum br_json_type follows util/json.h's enum json_type");

struct br_json_writer {
    struct json_writer w;
};

static const struct json_doc *D(const struct br_json *doc)
{
    return (const struct json_doc *)doc;
}

int abi_json_parse(const char *text, size_t len, size_t max_nodes, struct br_json **ret)
{
    struct json_doc *d;
    int r;

    if (!text || !ret || len > ABI_JSON_MAX_TEXT)
        return !text || !ret ? -EINVAL : -E2BIG;
    r = json_parse(text, len, max_nodes ? max_nodes : len / 2 + 16, &d);
    if (r < 0)
        return r;
    *ret = (struct br_json *)d;
    return 0;
}

void abi_json_free(struct br_json *doc)
{
    json_doc_free((struct json_doc *)doc);
}

enum br_json_type abi_json_type(const struct br_json *doc, int node)
{
    /* The two enums list the same types in the same order, from 0 for "no such node". */
    return doc ? (enum br_json_type)json_type(D(doc), node) : BR_JSON_INVALID;
}

int abi_json_get(const struct br_json *doc, int node, const char *path, int *ret_node)
{
    return doc && ret_node ? json_get(D(doc), node, path, ret_node) : -EINVAL;
}

int abi_json_member(const struct br_json *doc, int node, const char *key, int *ret_node)
{
    if (!doc || !key || !ret_node)
        return -EINVAL;
    if (json_type(D(doc), node) != JSON_OBJECT)
        return -EBADMSG;
    return json_get_key(D(doc), node, key, strlen(key), ret_node);
}

int abi_json_string(const struct br_json *doc, int node, const char *path, char **ret)
{
    return doc && ret ? json_get_string(D(doc), node, path, ret) : -EINVAL;
}

int abi_json_int64(const struct br_json *doc, int node, const char *path, int64_t *ret)
{
    return doc && ret ? json_get_int64(D(doc), node, path, ret) : -EINVAL;
}

int abi_json_double(const struct br_json *doc, int node, const char *path, double *ret)
{
    return doc && ret ? json_get_double(D(doc), node, path, ret) : -EINVAL;
}

int abi_json_bool(const struct br_json *doc, int node, const char *path, bool *ret)
{
    return doc && ret ? json_get_bool(D(doc), node, path, ret) : -EINVAL;
}

int abi_json_array_len(const struct br_json *doc, int node)
{
    return doc ? json_array_len(D(doc), node) : -EINVAL;
}

int abi_json_array_iter(const struct br_json *doc, int node, int *cursor, int *ret_elem)
{
    return doc && cursor && ret_elem ? json_array_iter(D(doc), node, cursor, ret_elem) : -EINVAL;
}

int abi_json_object_iter(const struct br_json *doc, int node, int *cursor, int *ret_key,
                         int *ret_value)
{
    return doc && cursor && ret_key && ret_value
                   ? json_object_iter(D(doc), node, cursor, ret_key, ret_value)
                   : -EINVAL;
}

int abi_json_writer_new(size_t max_bytes, struct br_json_writer **ret)
{
    struct br_json_writer *w;

    if (!ret || max_bytes > ABI_JSON_WRITER_MAX)
        return -EINVAL;
    w = calloc(1, sizeof(*w));
    if (!w)
        return -ENOMEM;
    json_writer_init(&w->w, max_bytes ? max_bytes : ABI_JSON_WRITER_DFLT);
    *ret = w;
    return 0;
}

void abi_json_begin_object(struct br_json_writer *w)
{
    if (w)
        json_begin_object(&w->w);
}

void abi_json_end_object(struct br_json_writer *w)
{
    if (w)
        json_end_object(&w->w);
}

void abi_json_begin_array(struct br_json_writer *w)
{
    if (w)
        json_begin_array(&w->w);
}

void abi_json_end_array(struct br_json_writer *w)
{
    if (w)
        json_end_array(&w->w);
}

void abi_json_key(struct br_json_writer *w, const char *key)
{
    if (w && !key && !w->w.error)
        w->w.error = -EINVAL;
    else if (w)
        json_key(&w->w, key);
}

void abi_json_put_string(struct br_json_writer *w, const char *s)
{
    if (w)
        json_string(&w->w, s);
}

void abi_json_put_int(struct br_json_writer *w, int64_t v)
{
    if (w)
        json_int(&w->w, v);
}

void abi_json_put_double(struct br_json_writer *w, double v)
{
    if (w)
        json_double(&w->w, v);
}

void abi_json_put_bool(struct br_json_writer *w, bool v)
{
    if (w)
        json_bool(&w->w, v);
}

void abi_json_put_null(struct br_json_writer *w)
{
    if (w)
        json_null(&w->w);
}

void abi_json_put_node(struct br_json_writer *w, const struct br_json *doc, int node)
{
    if (w && (!doc || json_type(D(doc), node) == JSON_INVALID) && !w->w.error)
        w->w.error = -EINVAL;
    else if (w)
        json_value_raw(&w->w, D(doc), node);
}

int abi_json_finish(struct br_json_writer *w, char **ret)
{
    int r;

    if (!w)
        return -EINVAL;
    r = ret ? json_writer_steal(&w->w, ret, NULL) : -EINVAL;
    json_writer_done(&w->w);
    free(w);
    return r;
}
