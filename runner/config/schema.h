/* The libcyaml schema of the config contract, and a checker that walks a yaml_node tree
 * against any libcyaml schema, reporting every structural problem instead of the first. */
#pragma once

#include <cyaml/cyaml.h>

#include "config/diag.h"
#include "util/yaml_tree.h"

extern const cyaml_schema_value_t config_schema;
extern const cyaml_config_t config_cyaml_config;

/* Walk node against schema: unknown keys (with the nearest known one), missing required
 * keys, wrong types, enum values, string lengths, integer ranges of the field's size. */
void schema_check(const struct yaml_node *node, const cyaml_schema_value_t *schema,
                  struct diag_path *path, struct diag_list *diags);
