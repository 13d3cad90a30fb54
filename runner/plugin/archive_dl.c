/* The dlopen'ed libarchive table. The handle is process-wide by nature (the dynamic loader
 * keeps one copy of a library per process), so it lives in one static, loaded once. */
#include "plugin/archive_dl.h"

#include <stdbool.h>
#include <stddef.h>

#include "util/dl.h"
#include "util/macro.h"

/* The soname of libarchive 3.x, the ABI the header we compile against describes. */
#define LIBARCHIVE_SONAME "libarchive.so.13"

static struct archive_dl table;
static bool loaded;

int archive_dl_load(const struct archive_dl **ret)
{
    const struct dl_symbol syms[] = {
            {"archive_read_new", (void **)&table.read_new},
            {"archive_read_support_format_zip", (void **)&table.read_support_format_zip},
            {"archive_read_open_filename", (void **)&table.read_open_filename},
            {"archive_read_next_header", (void **)&table.read_next_header},
            {"archive_read_data", (void **)&table.read_data},
            {"archive_read_free", (void **)&table.read_free},
            {"archive_error_string", (void **)&table.error_string},
            {"archive_entry_pathname_utf8", (void **)&table.entry_pathname_utf8},
            {"archive_entry_filetype", (void **)&table.entry_filetype},
            {"archive_entry_size", (void **)&table.entry_size},
            {"archive_entry_size_is_set", (void **)&table.entry_size_is_set},
            {"archive_read_open_memory", (void **)&table.read_open_memory},
            {"archive_entry_hardlink", (void **)&table.entry_hardlink},
            {"archive_write_new", (void **)&table.write_new},
            {"archive_write_set_format_zip", (void **)&table.write_set_format_zip},
            {"archive_write_set_options", (void **)&table.write_set_options},
            {"archive_write_open_filename", (void **)&table.write_open_filename},
            {"archive_write_header", (void **)&table.write_header},
            {"archive_write_data", (void **)&table.write_data},
            {"archive_write_close", (void **)&table.write_close},
            {"archive_write_free", (void **)&table.write_free},
            {"archive_entry_new", (void **)&table.entry_new},
            {"archive_entry_free", (void **)&table.entry_free},
            {"archive_entry_set_pathname_utf8", (void **)&table.entry_set_pathname_utf8},
            {"archive_entry_set_size", (void **)&table.entry_set_size},
            {"archive_entry_set_filetype", (void **)&table.entry_set_filetype},
            {"archive_entry_set_perm", (void **)&table.entry_set_perm},
            {"archive_entry_set_mtime", (void **)&table.entry_set_mtime},
    };
    int r;

    if (loaded) {
        *ret = &table;
        return 0;
    }
    /* Quiet (no purpose): manifest.c reports the failure in its own words. */
    r = dl_load(LIBARCHIVE_SONAME, syms, ELEMENTSOF(syms), NULL, NULL);
    if (r < 0)
        return r;
    loaded = true;
    *ret = &table;
    return 0;
}
