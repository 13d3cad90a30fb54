/* A plugin's maubot.yaml, from a plugin directory or as text: the identity fields the config
 * validator needs (id, version), or the whole manifest. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* maubot.yaml is a few hundred bytes; 64 KiB leaves room for a large config_schema. */
#define MANIFEST_MAX_BYTES (64u * 1024u)

struct manifest_identity {
    char *id;
    char *version;
};

void manifest_identity_done(struct manifest_identity *m);

/* path: a directory holding maubot.yaml (-ENOTDIR otherwise: packages are read by
 * plugin/package.c). On failure returns a negative errno and, in why (capacity why_cap), a
 * sentence for the user. */
int manifest_read_identity(const char *path, struct manifest_identity *ret, char *why,
                           size_t why_cap);
/* The same from maubot.yaml's text (len bytes, at most MANIFEST_MAX_BYTES). */
int manifest_parse_identity(const char *text, size_t len, struct manifest_identity *ret,
                            char *why, size_t why_cap);

/* Bounds on the full manifest. A plugin is one or a few shared objects and needs a few
 * external programs; anything past these numbers is a mistake or an attack. */
#define MANIFEST_MAX_MODULES      16u
#define MANIFEST_MAX_DEPENDENCIES 32u
/* A module is a file name in the plugin directory: NAME_MAX. */
#define MANIFEST_MODULE_NAME_MAX 255u
/* main_class is a C identifier; no real one is near 128 bytes. */
#define MANIFEST_MAIN_CLASS_MAX 128u
/* An SPDX expression ("GPL-3.0-or-later OR MIT") or a dependency with its constraint
 * ("yt-dlp>=2023.1.6") fits easily. */
#define MANIFEST_LICENSE_MAX    128u
#define MANIFEST_DEPENDENCY_MAX 128u

/* The whole of maubot.yaml, validated. Unknown keys (maubot's extra_files, webapp, ...) are
 * ignored, so a maubot.yaml written for maubot still reads. */
struct manifest {
    char *id;
    char *version;
    char *license;  /* NULL when absent */
    char **modules; /* n_modules >= 1 distinct names, manifest_module_name_is_valid() */
    size_t n_modules;
    char *main_class;         /* a C identifier */
    bool database;            /* false when absent */
    bool config;              /* false when absent */
    char *config_schema_json; /* the config_schema mapping as JSON text, NULL when absent */
    char **dependencies;      /* "name" or "name>=version" as written; not checked here */
    size_t n_dependencies;
};

void manifest_done(struct manifest *m);

/* As manifest_read_identity() and manifest_parse_identity(), for every field. */
int manifest_read(const char *path, struct manifest *ret, char *why, size_t why_cap);
int manifest_parse(const char *text, size_t len, struct manifest *ret, char *why, size_t why_cap);

/* [A-Za-z0-9._+-]{1,255}, not starting with '.' or '-', no "..": a plain file name that can
 * name nothing outside the plugin directory. */
bool manifest_module_name_is_valid(const char *name);

/* [a-z][a-z0-9._-]+ (at most 64 bytes) */
bool manifest_id_is_valid(const char *id);
/* Semantic Versioning 2.0.0: MAJOR.MINOR.PATCH[-pre][+build], no leading zeros. */
bool manifest_version_is_valid(const char *v);
