/* Rules across the instances of a config: unique ids and accounts, command prefixes shared
 * in a room. Sorting, not pairwise scans, so a 10 000-instance file checks in linear-log time. */
#pragma once

#include "config/diag.h"
#include "util/yaml_tree.h"

/* Report each instance whose string `key` equals an earlier instance's, naming the first:
 * 'instances[3].id: instance id "a" is not unique (also instances[0])'. what names the
 * value in the message ("instance id", "user"); hint is appended ("" for none). */
void fleet_check_unique(const struct yaml_node *instances, const char *key, const char *what,
                        const char *hint, struct diag_list *d);

/* Warn once per instance that shares its command_prefix with an earlier instance in a room
 * both subscribe to: both bots would answer the same command. */
void fleet_check_prefixes(const struct yaml_node *instances, struct diag_list *d);
