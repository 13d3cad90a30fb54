/* A plugin's maubot.yaml: finding it in a .mbp archive or a plugin directory, and reading
 * the identity fields the config validator needs (id, version). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* maubot.yaml is a few hundred bytes; 64 KiB leaves room for a large config_schema. */
#define MANIFEST_MAX_BYTES (64u * 1024u)
/* Entries scanned in an archive before giving up on finding maubot.yaml. */
#define MANIFEST_MAX_ENTRIES 4096u

struct manifest_identity {
    char *id;
    char *version;
};

void manifest_identity_done(struct manifest_identity *m);

/* path: a .mbp (zip) file or a directory holding maubot.yaml. On failure returns a negative
 * errno and, in why (capacity why_cap), a sentence for the user. */
int manifest_read_identity(const char *path, struct manifest_identity *ret, char *why,
                           size_t why_cap);

/* [a-z][a-z0-9._-]+ (at most 64 bytes) */
bool manifest_id_is_valid(const char *id);
/* Semantic Versioning 2.0.0: MAJOR.MINOR.PATCH[-pre][+build], no leading zeros. */
bool manifest_version_is_valid(const char *v);
