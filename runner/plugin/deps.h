/* A plugin's dependencies: maubot.yaml's `dependencies`, each an external program with an
 * optional version constraint ("yt-dlp>=2023.1.6"), checked on this machine. */
#pragma once

#include <stddef.h>

#include "plugin/manifest.h"

#define DEPS_MAX_CONSTRAINTS 4

struct dep_constraint {
    char op[3];       /* >=, >, <=, <, ==, != */
    char version[64];
};

struct dep {
    char name[128];
    struct dep_constraint constraints[DEPS_MAX_CONSTRAINTS];
    size_t n_constraints;
};

/* NAME [OP VERSION [, OP VERSION]...]: NAME of [A-Za-z0-9._+-] (not starting with - or .),
 * VERSION of [A-Za-z0-9.+-]. -EBADMSG otherwise, -E2BIG past DEPS_MAX_CONSTRAINTS. */
int deps_parse(const char *spec, struct dep *ret);
/* <0, 0, >0 as a is older, the same, newer than b. */
int deps_version_compare(const char *a, const char *b);

/* Check one dependency: its program on PATH, and its version when constrained (found gets
 * the version found, or "found", or "-"). 0; -ENOENT (no such program), -ERANGE (the wrong
 * version), -ETIME, -EBADMSG (no version printed, or not a dependency), with a sentence. */
int deps_check(const char *spec, char *found, size_t found_cap, char *why, size_t why_cap);
/* Every dependency of m; the first failure. */
int deps_check_all(const struct manifest *m, char *why, size_t why_cap);
