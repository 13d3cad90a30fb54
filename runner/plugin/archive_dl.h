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
    /* Reading from memory, and what an entry may be beyond its type. */
    int (*read_open_memory)(struct archive *, const void *, size_t);
    const char *(*entry_hardlink)(struct archive_entry *);
    /* Writing packages (botrunner plugin pack). */
    struct archive *(*write_new)(void);
    int (*write_set_format_zip)(struct archive *);
    int (*write_set_options)(struct archive *, const char *);
    int (*write_open_filename)(struct archive *, const char *);
    int (*write_header)(struct archive *, struct archive_entry *);
    la_ssize_t (*write_data)(struct archive *, const void *, size_t);
    int (*write_close)(struct archive *);
    int (*write_free)(struct archive *);
    struct archive_entry *(*entry_new)(void);
    void (*entry_free)(struct archive_entry *);
    void (*entry_set_pathname_utf8)(struct archive_entry *, const char *);
    void (*entry_set_size)(struct archive_entry *, la_int64_t);
    void (*entry_set_filetype)(struct archive_entry *, unsigned int);
    void (*entry_set_perm)(struct archive_entry *, mode_t);
    void (*entry_set_mtime)(struct archive_entry *, time_t, long);
};

/* Load libarchive once per process (later calls return the same table). Returns 0, or
 * -EOPNOTSUPP when the library or one of its symbols is missing. */
int archive_dl_load(const struct archive_dl **ret);
