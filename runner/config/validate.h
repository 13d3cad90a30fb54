/* Semantic validation of a config tree: the rules of the seed and the brief that a schema
 * cannot express (identifier grammars, references, port rules, credentials). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "config/diag.h"
#include "config/plugin_facts.h"
#include "util/yaml_tree.h"

struct validate_result {
    /* What was read of each declared plugin, parallel to the `plugins` list (id NULL where
     * unreadable); handed to the loaded config so packages are read once. */
    struct plugin_facts *plugins;
    size_t n_plugins;
    /* Each instance's `config:` subtree as JSON text, parallel to `instances` (NULL where
     * the instance is not a mapping); converted here so an oversized one is reported with
     * every other problem, and handed to the loaded config. */
    char **settings_json;
    size_t n_instances;
};

void validate_result_done(struct validate_result *r);

/* Check root (already structurally checked: nodes of a wrong type are skipped here, since
 * schema_check reported them). flags: enum config_check_flags. */
void config_validate(const struct yaml_node *root, unsigned flags, struct diag_list *diags,
                     struct validate_result *ret);

/* The rule for status.address, shared with config_load_status(): true when addr is an IP
 * literal on loopback (or any IP literal with allow_non_loopback), else false and why. */
bool config_status_address_ok(const char *addr, bool allow_non_loopback, char *why, size_t cap);
