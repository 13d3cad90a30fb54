/* An instance's settings checked against its plugin's config_schema (a JSON Schema subset),
 * every problem with its key path and line, and the settings' JSON with defaults filled in. */
#pragma once

#include "config/diag.h"
#include "util/yaml_tree.h"

/* settings: the instance's `config:` node (NULL or null: no settings). schema_json: the
 * plugin's config_schema, or NULL (the settings as they are). Each violation is a diagnostic
 * at path (".key" and "[i]" pushed under it). *ret_json is set whenever the walk finished,
 * errors or not; returns 0, -EINVAL when there were errors, -E2BIG, -ENOMEM. */
int settings_check(const struct yaml_node *settings, const char *schema_json,
                   struct diag_list *d, struct diag_path *path, char **ret_json);

/* Whether a plugin's config_schema uses only what settings_check() understands, with valid
 * types and patterns: 0, or -EBADMSG / -E2BIG with a sentence in why. */
int settings_schema_check(const char *schema_json, char *why, size_t why_cap);
