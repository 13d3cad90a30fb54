/* Hints for YAML's traps in a config: a value that is empty because `#` began a comment
 * (`room: #lobby:example.org` is `room: null`), said on that value's line. (A tab in the
 * indentation and a `!` that began a tag are explained where the parser refuses them, in
 * util/yaml_tree.c.) */
#pragma once

#include <stddef.h>

#include "config/diag.h"
#include "util/yaml_tree.h"

/* Hints at most per file: a file full of them needs the first few to be understood. */
#define HINTS_MAX 32

/* For every plain empty value of root whose line in buf (len bytes, the text root was
 * parsed from) has a `#` right where the value would start: the error already reported on
 * that line gets the hint appended ("...; quote it: # starts a YAML comment, so the value
 * is empty (write \"#lobby:example.org\" in quotes)"), and where there is none (an
 * optional key, whose null means "absent") a warning says the same. */
void hints_comments(const char *buf, size_t len, const struct yaml_node *root,
                    struct diag_list *diags);
