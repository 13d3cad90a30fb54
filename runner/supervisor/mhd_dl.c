/* The dlopen'ed libmicrohttpd table. The handle is process-wide by nature (the dynamic loader
 * keeps one copy of a library per process), so it lives in one static, filled once under
 * pthread_once(). */
#include "supervisor/mhd_dl.h"

#include <pthread.h>

#include "util/dl.h"
#include "util/macro.h"

/* Each slot has exactly the type of the function it holds, so a call through it passes its
 * arguments as a direct call would (this matters most for the variadic ones). */
#define SLOT_MATCHES(slot, fn) __builtin_types_compatible_p(__typeof__(slot), __typeof__(&(fn)))

static struct mhd_dl table;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static int load_result;

static int load(void)
{
    const struct dl_symbol syms[] = {
            {"MHD_start_daemon", (void **)&table.start_daemon},
            {"MHD_stop_daemon", (void **)&table.stop_daemon},
            {"MHD_is_feature_supported", (void **)&table.is_feature_supported},
            {"MHD_get_connection_info", (void **)&table.get_connection_info},
            {"MHD_lookup_connection_value", (void **)&table.lookup_connection_value},
            {"MHD_create_response_from_buffer", (void **)&table.create_response_from_buffer},
            {"MHD_create_response_from_buffer_with_free_callback_cls",
             (void **)&table.create_response_from_buffer_with_free_callback_cls},
            {"MHD_add_response_header", (void **)&table.add_response_header},
            {"MHD_destroy_response", (void **)&table.destroy_response},
            {"MHD_queue_response", (void **)&table.queue_response},
    };

    _Static_assert(
            SLOT_MATCHES(table.start_daemon, MHD_start_daemon) &&
                    SLOT_MATCHES(table.stop_daemon, MHD_stop_daemon) &&
                    SLOT_MATCHES(table.is_feature_supported, MHD_is_feature_supported) &&
                    SLOT_MATCHES(table.get_connection_info, MHD_get_connection_info) &&
                    SLOT_MATCHES(table.lookup_connection_value, MHD_lookup_connection_value) &&
                    SLOT_MATCHES(table.create_response_from_buffer,
                                 MHD_create_response_from_buffer) &&
                    SLOT_MATCHES(table.create_response_from_buffer_with_free_callback_cls,
                                 MHD_create_response_from_buffer_with_free_callback_cls) &&
                    SLOT_MATCHES(table.add_response_header, MHD_add_response_header) &&
                    SLOT_MATCHES(table.destroy_response, MHD_destroy_response) &&
                    SLOT_MATCHES(table.queue_response, MHD_queue_response),
            "a slot of struct mhd_dl differs from its prototype in <microhttpd.h>");

    return dl_load(MHD_DL_SONAME, syms, ELEMENTSOF(syms), "the status endpoint", NULL);
}

static void load_once(void)
{
    load_result = load();
}

int mhd_dl_load(const struct mhd_dl **ret)
{
    (void)pthread_once(&once, load_once);
    if (load_result < 0)
        return load_result;
    *ret = &table;
    return 0;
}
