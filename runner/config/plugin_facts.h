/* What the config needs of each declared plugin: its identity, its settings schema and, for
 * a package, its sha256; for an enabled one, the proof that it will load. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "util/macro.h"

struct plugin_facts {
    char *id;
    char *version;
    char *schema_json; /* maubot.yaml's config_schema as JSON, or NULL */
    char *sha256;      /* a package's, or NULL for a plugin directory */
    char *digest;      /* a directory's: SHA-256 of its maubot.yaml and modules (lowercase
                        * hex), NULL for a package or when a file cannot be read */
};

/* Bounds of the files hashed for a directory's digest: those the loader would accept. */
#define PLUGIN_DIGEST_CHUNK (64u * 1024u)

void plugin_facts_done(struct plugin_facts *f);

/* path: a .mbp package (every rule of plugin/package.c) or a plugin directory (the whole
 * maubot.yaml; and its digest, so that a module rebuilt under the same version is a
 * changed declaration). An enabled plugin is also proved loadable (plugin/verify.c: its modules, read
 * not run) and its dependencies present (plugin/deps.c). On failure a sentence naming the
 * plugin in why; the facts are filled whenever maubot.yaml could be read, so that the
 * instances naming an unloadable plugin get no second error. */
int plugin_facts_read(const char *path, bool enabled, struct plugin_facts *ret, char *why,
                      size_t why_cap);
