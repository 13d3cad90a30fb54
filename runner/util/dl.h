/* Loading an optional shared library at run time: dlopen by soname, then resolve a table of
 * named symbols into their slots. The per-library tables and their once-only logic stay with
 * their owners (plugin/archive_dl.c, matrix/curl_dl.c, supervisor/mhd_dl.c). */
#pragma once

#include <stddef.h>

/* One function to resolve: its exported name and where its address goes. */
struct dl_symbol {
    const char *name;
    void **slot;
};

/* dlopen(soname) and fill every slot of syms[0..n). On failure returns -EOPNOTSUPP and the
 * library is closed again; slots resolved before the missing one are left written. When
 * purpose is non-NULL (what the library is needed for, e.g. "HTTP"), the failure is logged
 * once, naming the library and the dlerror() or missing symbol; with NULL the caller reports
 * it. On success returns 0 and, when ret_handle is non-NULL, the handle (for a caller whose
 * own initialisation can still fail and must dlclose it); the library otherwise stays loaded
 * for the life of the process. */
int dl_load(const char *soname, const struct dl_symbol *syms, size_t n, const char *purpose,
            void **ret_handle);
