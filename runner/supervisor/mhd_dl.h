/* libmicrohttpd, loaded with dlopen on first use instead of at start-up: it brings GnuTLS and
 * its chain (about 3 MB of RSS per process), and only the supervisor's status endpoint serves
 * HTTP; the workers and the command-line tools never do. */
#pragma once

#include <microhttpd.h>
#include <stddef.h>
#include <stdint.h>

/* The libmicrohttpd functions the runner uses, resolved from the loaded library, with the
 * prototypes of <microhttpd.h> (mhd_dl.c checks that they match). The variadic ones
 * (start_daemon, get_connection_info) are called through these exact prototypes, so their
 * options are passed as in a direct call: each value of the type its option documents. */
struct mhd_dl {
    struct MHD_Daemon *(*start_daemon)(unsigned int flags, uint16_t port,
                                       MHD_AcceptPolicyCallback apc, void *apc_cls,
                                       MHD_AccessHandlerCallback dh, void *dh_cls, ...);
    void (*stop_daemon)(struct MHD_Daemon *);
    enum MHD_Result (*is_feature_supported)(enum MHD_FEATURE);
    const union MHD_ConnectionInfo *(*get_connection_info)(struct MHD_Connection *,
                                                           enum MHD_ConnectionInfoType, ...);
    const char *(*lookup_connection_value)(struct MHD_Connection *, enum MHD_ValueKind,
                                           const char *key);
    struct MHD_Response *(*create_response_from_buffer)(size_t size, void *buffer,
                                                        enum MHD_ResponseMemoryMode mode);
    struct MHD_Response *(*create_response_from_buffer_with_free_callback_cls)(
            size_t size, void *buffer, MHD_ContentReaderFreeCallback crfc, void *crfc_cls);
    enum MHD_Result (*add_response_header)(struct MHD_Response *, const char *header,
                                           const char *content);
    void (*destroy_response)(struct MHD_Response *);
    enum MHD_Result (*queue_response)(struct MHD_Connection *, unsigned int status_code,
                                      struct MHD_Response *);
};

/* The soname of libmicrohttpd 0.9.x, the ABI the header we compile against describes. */
#define MHD_DL_SONAME "libmicrohttpd.so.12"

/* Load libmicrohttpd once per process; later calls return the same table (or the same error:
 * a failed load is not retried). On failure logs why (dlerror()'s text, which only the loader
 * sees) and returns -EOPNOTSUPP (the library or one of its symbols is missing). Call it from
 * the supervisor's thread: it may log, and util/log.c is single-threaded. */
int mhd_dl_load(const struct mhd_dl **ret);
