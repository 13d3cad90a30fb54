/* YAML tree -> JSON text through the bounded JSON writer. Recursion depth is bounded by
 * YAML_TREE_MAX_DEPTH, which the tree builder enforced. */
#include "util/yaml_json.h"

#include <stdbool.h>

#include "util/json.h"

void yaml_scalar_to_json(struct json_writer *w, const struct yaml_node *n)
{
    long long i;
    double d;
    bool b;

    /* Quoted scalars are strings whatever they look like; plain ones resolve. */
    if (!n->quoted && yaml_scalar_is_null(n))
        json_null(w);
    else if (!n->quoted && yaml_scalar_bool(n, &b) >= 0)
        json_bool(w, b);
    else if (!n->quoted && yaml_scalar_int64(n, &i) >= 0)
        json_int(w, i);
    else if (!n->quoted && yaml_scalar_double(n, &d) >= 0)
        json_double(w, d);
    else
        json_string_len(w, n->value, n->len);
}

static void emit(struct json_writer *w, const struct yaml_node *n)
{
    switch (n->kind) {
    case YAML_KIND_MAPPING:
        json_begin_object(w);
        for (size_t k = 0; k < n->n_children; k++) {
            json_key(w, n->keys[k]);
            emit(w, n->children[k]);
        }
        json_end_object(w);
        break;
    case YAML_KIND_SEQUENCE:
        json_begin_array(w);
        for (size_t k = 0; k < n->n_children; k++)
            emit(w, n->children[k]);
        json_end_array(w);
        break;
    case YAML_KIND_SCALAR:
        yaml_scalar_to_json(w, n);
        break;
    }
}

int yaml_to_json(const struct yaml_node *node, char **ret)
{
    struct json_writer w;
    size_t len;
    int r;

    json_writer_init(&w, YAML_JSON_MAX);
    if (node && !yaml_scalar_is_null(node))
        emit(&w, node);
    else {
        json_begin_object(&w);
        json_end_object(&w);
    }
    r = json_writer_steal(&w, ret, &len);
    json_writer_done(&w);
    return r;
}
