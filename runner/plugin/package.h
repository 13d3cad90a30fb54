/* Plugin packages (.mbp): a zip read whole into memory under the contract's rules, with its
 * sha256 and its maubot.yaml; extracted once per sha256 for loading; built reproducibly. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "plugin/manifest.h"
#include "util/macro.h"

/* Bounds, each past any real plugin and below what would hurt a small VPS:
 * the .mbp file itself; its entries; the bytes they expand to; how much they may expand
 * (a plugin's shared objects deflate 2:1 to 5:1, a text file 10:1; a bomb 1000:1), allowed
 * in full up to PACKAGE_RATIO_FLOOR whatever the ratio; names and their depth. */
#define PACKAGE_MAX_FILE    (128u * 1024u * 1024u)
#define PACKAGE_MAX_ENTRIES 1000u
#define PACKAGE_MAX_TOTAL   (256u * 1024u * 1024u)
#define PACKAGE_MAX_RATIO   100u
#define PACKAGE_RATIO_FLOOR (1024u * 1024u)
#define PACKAGE_NAME_MAX    255u
#define PACKAGE_MAX_DEPTH   8u

#define PACKAGE_SHA256_HEX 64

struct package_entry {
    char *name;    /* relative, "/"-separated, checked (package_name_is_valid()); no
                    * trailing "/" */
    uint8_t *data; /* a file's bytes (NULL for a directory), NUL-terminated after len */
    size_t len;
    bool directory;
};

struct package {
    char sha256[PACKAGE_SHA256_HEX + 1]; /* of the whole file, lowercase hex */
    size_t size;                         /* the file's bytes */
    struct package_entry *entries;       /* in archive order */
    size_t n_entries;
    struct manifest manifest; /* every field checked; its modules are top-level files */
};

/* Read and check the package at path (a regular file; a symlink is followed) or len bytes
 * at buf. Refused, with a sentence in why: not a zip (-EBADMSG), no maubot.yaml (-ENOENT),
 * a bad manifest (-EBADMSG), a module it names missing (-ENOENT), an entry with an absolute
 * path, "..", "." or an empty component, a backslash or a control character (-EBADMSG), a
 * symbolic or hard link (-EBADMSG), a device, FIFO or socket (-EBADMSG), two entries of one
 * name (-EBADMSG), past any bound above (-E2BIG). */
int package_open(const char *path, struct package **ret, char *why, size_t why_cap);
int package_parse(const uint8_t *buf, size_t len, struct package **ret, char *why, size_t why_cap);
void package_free(struct package *p);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct package *, package_free)

/* The entry named name (a file or a directory), or NULL. */
const struct package_entry *package_find(const struct package *p, const char *name);

/* A relative name of 1..PACKAGE_NAME_MAX bytes of UTF-8 without control characters or '\',
 * in at most PACKAGE_MAX_DEPTH components, none empty, "." or "..". */
bool package_name_is_valid(const char *name);

/* Extract p under packages_dir (made 0700 if missing, and its parent) as
 * packages_dir/<sha256>/: directories 0700, files 0500, written to a temporary directory and
 * renamed into place, so a directory with the name is always complete. Done once: an existing one is used as it is. *ret_dir is
 * malloc'd. */
int package_extract(const struct package *p, const char *packages_dir, char **ret_dir, char *why,
                    size_t why_cap);

/* Build a package from the plugin directory dir into out: maubot.yaml, its modules and every
 * other regular file below dir (not hidden ones), sorted by name, with fixed times (1980-01-01),
 * owners (0) and modes (0755 modules, 0644 the rest), deflated: the same input gives the same
 * bytes. The result is read back with package_open() before it is kept. */
int package_pack(const char *dir, const char *out, char *why, size_t why_cap);
