/* Converts a free-form YAML subtree (an instance's `config:`) to JSON text for its plugin,
 * resolving plain scalars as YAML 1.2's core schema does. */
#pragma once

#include <stddef.h>

#include "util/yaml_tree.h"

/* A plugin's settings are a handful of keys; 256 KiB is far beyond any real one. */
#define YAML_JSON_MAX (256u * 1024u)

/* NULL node gives "{}". Returns 0, -E2BIG past YAML_JSON_MAX, -ENOMEM. */
int yaml_to_json(const struct yaml_node *node, char **ret);
/* One scalar as yaml_to_json() writes it: null, a boolean, an integer, a number or a string. */
struct json_writer;
void yaml_scalar_to_json(struct json_writer *w, const struct yaml_node *n);
