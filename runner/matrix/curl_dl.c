/* The dlopen'ed libcurl table. The handle is process-wide by nature (the dynamic loader keeps
 * one copy of a library per process, and curl_global_init() is per process too), so it lives
 * in one static, filled once under pthread_once(). */
#include "matrix/curl_dl.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stddef.h>

#include "util/dl.h"
#include "util/log.h"
#include "util/macro.h"

/* Each slot has exactly the type of the function it holds, so a call through it passes its
 * arguments as a direct call would (this matters most for the variadic ones). */
#define SLOT_MATCHES(slot, fn) __builtin_types_compatible_p(__typeof__(slot), __typeof__(&(fn)))

static struct curl_dl table;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static int load_result;

static int load(void)
{
    CURLcode (*global_init)(long) = NULL;
    const struct dl_symbol syms[] = {
            {"curl_global_init", (void **)&global_init},
            {"curl_easy_init", (void **)&table.easy_init},
            {"curl_easy_cleanup", (void **)&table.easy_cleanup},
            {"curl_easy_setopt", (void **)&table.easy_setopt},
            {"curl_easy_getinfo", (void **)&table.easy_getinfo},
            {"curl_easy_perform", (void **)&table.easy_perform},
            {"curl_easy_strerror", (void **)&table.easy_strerror},
            {"curl_multi_init", (void **)&table.multi_init},
            {"curl_multi_cleanup", (void **)&table.multi_cleanup},
            {"curl_multi_setopt", (void **)&table.multi_setopt},
            {"curl_multi_add_handle", (void **)&table.multi_add_handle},
            {"curl_multi_remove_handle", (void **)&table.multi_remove_handle},
            {"curl_multi_socket_action", (void **)&table.multi_socket_action},
            {"curl_multi_info_read", (void **)&table.multi_info_read},
            {"curl_multi_assign", (void **)&table.multi_assign},
            {"curl_slist_append", (void **)&table.slist_append},
            {"curl_slist_free_all", (void **)&table.slist_free_all},
            {"curl_getdate", (void **)&table.getdate},
    };
    void *handle;
    int r;

    _Static_assert(SLOT_MATCHES(table.easy_init, curl_easy_init) &&
                           SLOT_MATCHES(table.easy_cleanup, curl_easy_cleanup) &&
                           SLOT_MATCHES(table.easy_setopt, curl_easy_setopt) &&
                           SLOT_MATCHES(table.easy_getinfo, curl_easy_getinfo) &&
                           SLOT_MATCHES(table.easy_perform, curl_easy_perform) &&
                           SLOT_MATCHES(table.easy_strerror, curl_easy_strerror) &&
                           SLOT_MATCHES(table.multi_init, curl_multi_init) &&
                           SLOT_MATCHES(table.multi_cleanup, curl_multi_cleanup) &&
                           SLOT_MATCHES(table.multi_setopt, curl_multi_setopt) &&
                           SLOT_MATCHES(table.multi_add_handle, curl_multi_add_handle) &&
                           SLOT_MATCHES(table.multi_remove_handle, curl_multi_remove_handle) &&
                           SLOT_MATCHES(table.multi_socket_action, curl_multi_socket_action) &&
                           SLOT_MATCHES(table.multi_info_read, curl_multi_info_read) &&
                           SLOT_MATCHES(table.multi_assign, curl_multi_assign) &&
                           SLOT_MATCHES(table.slist_append, curl_slist_append) &&
                           SLOT_MATCHES(table.slist_free_all, curl_slist_free_all) &&
                           SLOT_MATCHES(table.getdate, curl_getdate) &&
                           SLOT_MATCHES(global_init, curl_global_init),
                   "a slot of struct curl_dl differs from its prototype in <curl/curl.h>");

    r = dl_load(CURL_DL_SONAME, syms, ELEMENTSOF(syms), "HTTP", &handle);
    if (r < 0)
        return r;
    /* Once, before any handle exists, as curl requires; never undone: the library stays
     * loaded until the process exits, and curl_global_cleanup() buys nothing then. */
    if (global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        log_error("%s failed to initialise (curl_global_init)", CURL_DL_SONAME);
        dlclose(handle);
        return -EIO;
    }
    return 0;
}

static void load_once(void)
{
    load_result = load();
}

int curl_dl_load(const struct curl_dl **ret)
{
    (void)pthread_once(&once, load_once);
    if (load_result < 0)
        return load_result;
    *ret = &table;
    return 0;
}
