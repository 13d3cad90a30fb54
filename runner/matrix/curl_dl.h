/* libcurl, loaded with dlopen on first use instead of at start-up: Debian's libcurl pulls in
 * LDAP, RTMP, SSH, Kerberos and two TLS stacks (about 6 MB of RSS per process), and only the
 * worker's Matrix client and the health and status commands speak HTTP as a client. */
#pragma once

#include <curl/curl.h>
#include <time.h>

/* The libcurl functions the runner uses, resolved from the loaded library, with the
 * prototypes of <curl/curl.h> (curl_dl.c checks that they match). Called through a pointer,
 * curl_easy_setopt() and friends lose the compile-time type checks curl's header wraps
 * around them: pass each option the exact type it documents (long, curl_off_t, a pointer). */
struct curl_dl {
    CURL *(*easy_init)(void);
    void (*easy_cleanup)(CURL *);
    CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
    CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
    CURLcode (*easy_perform)(CURL *);
    const char *(*easy_strerror)(CURLcode);

    CURLM *(*multi_init)(void);
    CURLMcode (*multi_cleanup)(CURLM *);
    CURLMcode (*multi_setopt)(CURLM *, CURLMoption, ...);
    CURLMcode (*multi_add_handle)(CURLM *, CURL *);
    CURLMcode (*multi_remove_handle)(CURLM *, CURL *);
    CURLMcode (*multi_socket_action)(CURLM *, curl_socket_t, int, int *);
    CURLMsg *(*multi_info_read)(CURLM *, int *);
    CURLMcode (*multi_assign)(CURLM *, curl_socket_t, void *);

    struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
    void (*slist_free_all)(struct curl_slist *);
    time_t (*getdate)(const char *, const time_t *);
};

/* The library's soname: the ABI <curl/curl.h> describes, built against OpenSSL on Debian.
 * libcurl-gnutls.so.4 is deliberately not a fallback: one TLS stack per process. */
#define CURL_DL_SONAME "libcurl.so.4"

/* Load libcurl and run curl_global_init() once per process; later calls return the same
 * table (or the same error: a failed load is not retried). On failure logs why (dlerror()'s
 * text, which only the loader sees) and returns -EOPNOTSUPP (the library or one of its
 * symbols is missing) or -EIO (curl_global_init() failed). */
int curl_dl_load(const struct curl_dl **ret);
