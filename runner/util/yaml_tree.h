/* A bounded, position-aware YAML document tree built from libyaml's event stream. It is the
 * first stage of config loading: it knows lines and columns, so every later error can name them. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* Limits: a config is written by the NixOS module or by hand; 1 MiB holds thousands of
 * instances, and nothing legitimate nests deeper than a plugin's free-form settings. */
#define YAML_TREE_MAX_BYTES  (1024u * 1024u)
#define YAML_TREE_MAX_NODES  200000u
#define YAML_TREE_MAX_DEPTH  32u
#define YAML_TREE_MAX_SCALAR (64u * 1024u)

enum yaml_kind {
    YAML_KIND_SCALAR,
    YAML_KIND_MAPPING,
    YAML_KIND_SEQUENCE,
};

/* Nodes and their strings live in one arena owned by the root (yaml_node_free(root)
 * releases the whole tree at once); none is freed on its own. */
struct yaml_node {
    enum yaml_kind kind;
    unsigned line, column; /* 1-based, where the node starts */
    bool quoted;           /* a quoted or block scalar is always a string */
    size_t len;
    char *value;           /* scalar text (NUL-terminated; len excludes the NUL) */
    char **keys;           /* mapping keys (scalars only), parallel to children */
    unsigned *key_lines;
    struct yaml_node **children;
    size_t n_children;
};

/* Why parsing failed, when it did: the position and a sentence, ready for "file:line: msg". */
struct yaml_error {
    unsigned line, column;
    char message[256];
};

/* Parse a whole buffer holding exactly one document. Returns 0, -EBADMSG (syntax, with
 * ret_error filled), -E2BIG (a limit), -ENOMEM. Aliases are refused (-EBADMSG): a config
 * has no use for them and they are the lever of "billion laughs" expansion. */
int yaml_tree_parse(const char *buf, size_t len, struct yaml_node **ret, struct yaml_error *ret_error);
/* Free a tree: n must be a root returned by yaml_tree_parse(). */
void yaml_node_free(struct yaml_node *n);
static inline void yaml_node_freep(struct yaml_node **n)
{
    if (*n)
        yaml_node_free(*n);
}

/* The child of a mapping under key, or NULL. */
struct yaml_node *yaml_map_get(const struct yaml_node *map, const char *key);
/* Key line of a mapping entry (falls back to the mapping's own line). */
unsigned yaml_map_key_line(const struct yaml_node *map, const char *key);

/* Resolve a plain scalar the way YAML 1.2's core schema does, but strictly: null is "null",
 * "~" or empty; booleans are true, True, TRUE, false, False, FALSE (never yes/no);
 * integers are decimal without leading zeros. Quoted scalars are always strings. */
bool yaml_scalar_is_null(const struct yaml_node *n);
int yaml_scalar_bool(const struct yaml_node *n, bool *ret);
int yaml_scalar_int64(const struct yaml_node *n, long long *ret);
int yaml_scalar_double(const struct yaml_node *n, double *ret);
