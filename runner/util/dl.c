/* Implementation of dl.h: the dlopen and dlsym loop shared by the loaders of libarchive,
 * libcurl and libmicrohttpd. Holds no state; the callers keep their tables. */
#include "util/dl.h"

#include <dlfcn.h>
#include <errno.h>

#include "util/log.h"

int dl_load(const char *soname, const struct dl_symbol *syms, size_t n, const char *purpose,
            void **ret_handle)
{
    void *handle;

    handle = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
        if (purpose)
            log_error("Cannot load %s, needed for %s: %s", soname, purpose, dlerror());
        return -EOPNOTSUPP;
    }
    for (size_t i = 0; i < n; i++) {
        *syms[i].slot = dlsym(handle, syms[i].name);
        if (!*syms[i].slot) {
            if (purpose)
                log_error("Cannot use %s: it lacks %s", soname, syms[i].name);
            dlclose(handle);
            return -EOPNOTSUPP;
        }
    }
    if (ret_handle)
        *ret_handle = handle;
    return 0;
}
