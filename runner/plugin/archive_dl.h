/* libarchive, loaded with dlopen on first use instead of at start-up: it drags in libxml2,
 * ICU and libstdc++ (about 3.5 MB of RSS per process), and only package reading needs it. */
#pragma once

#include <archive.h>
#include <archive_entry.h>

/* The libarchive functions the runner uses, resolved from the loaded library. */
struct archive_dl {
    struct archive *(*read_new)(void);
    int (*read_support_format_zip)(struct archive *);
    int (*read_open_filename)(struct archive *, const char *, size_t);
    int (*read_next_header)(struct archive *, struct archive_entry **);
    la_ssize_t (*read_data)(struct archive *, void *, size_t);
    int (*read_free)(struct archive *);
    const char *(*error_string)(struct archive *);
    const char *(*entry_pathname_utf8)(struct archive_entry *);
    mode_t (*entry_filetype)(struct archive_entry *);
    la_int64_t (*entry_size)(struct archive_entry *);
    int (*entry_size_is_set)(struct archive_entry *);
};

/* Load libarchive once per process (later calls return the same table). Returns 0, or
 * -EOPNOTSUPP when the library or one of its symbols is missing. */
int archive_dl_load(const struct archive_dl **ret);
