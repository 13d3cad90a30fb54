/* HTTP on the worker's event loop: libcurl's multi interface driven by sd-event (one io
 * source per socket, one timer), in the manner of systemd's src/import/curl-util.c. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "util/macro.h"

struct http;
struct http_call;

struct http_request {
    const char *method;       /* "GET", "POST", "PUT", "DELETE" */
    const char *url;          /* absolute URL */
    const char *bearer;       /* access token for "Authorization: Bearer", or NULL */
    const char *content_type; /* of the body, or NULL */
    const char *body;         /* in-memory body (body_len bytes), or NULL */
    size_t body_len;
    /* > 0: stream the body from this fd (not closed), body_size bytes, read with pread()
     * from its offset at http_start(), so it must be seekable (a retry resends the same
     * bytes). 0 or negative: none (a zeroed struct has no body; stdin is never an upload). */
    int body_fd;
    uint64_t body_size;
    uint64_t timeout_ms; /* whole transfer; 0 means the default (HTTP_DEFAULT_TIMEOUT_MS) */
    size_t max_response; /* body bytes kept at most; past it the call fails -E2BIG;
                          * 0 means HTTP_DEFAULT_MAX_RESPONSE */
    /* > 0: write the body of a 2xx answer to this fd (not closed) instead of keeping it,
     * at most max_response bytes (-E2BIG past it); other answers' bodies are discarded.
     * http_response.body is then empty and body_len the bytes written. */
    int response_fd;
    /* Redirects followed, to http(s) only, with no Authorization (0: none, the default: a
     * homeserver has no reason to send us elsewhere). At most HTTP_MAX_REDIRECTS. */
    unsigned max_redirects;
};

#define HTTP_MAX_REDIRECTS 10

struct http_response {
    long status;      /* HTTP status, 0 when no response arrived */
    int error;        /* 0, or -ETIMEDOUT, -ECONNREFUSED, -ECONNRESET, -E2BIG, -EIO, ... */
    const char *body; /* NUL-terminated; valid during the callback only */
    size_t body_len;
    int64_t retry_after_ms;   /* from a Retry-After header (seconds or HTTP-date), else -1 */
    const char *content_type; /* or NULL */
};

/* Calls in flight at once (http_start() answers -EBUSY past it). A worker runs one
 * long-poll /sync beside a few sends and uploads; 64 is far above that, and bounds the
 * sockets and buffers a plugin gone wild can hold. */
#define HTTP_MAX_CALLS 64

#define HTTP_DEFAULT_TIMEOUT_MS   (60u * 1000u)
#define HTTP_DEFAULT_MAX_RESPONSE (1u * 1024u * 1024u)

typedef void (*http_done_t)(const struct http_response *resp, void *userdata);

int http_new(sd_event *event, struct http **ret);
struct http *http_free(struct http *h); /* cancels pending calls without calling them back */
DEFINE_TRIVIAL_CLEANUP_FUNC(struct http *, http_free)

/* Start a request; done is called exactly once from the event loop (never from inside
 * http_start), unless the call is cancelled first. ret (may be NULL) is a handle valid
 * until done runs or http_call_cancel. done may free h. Errors: -EINVAL (a method other
 * than GET/POST/PUT/DELETE, a URL not http(s), a header value with CR/LF), -EBUSY (too many
 * calls in flight), -ESPIPE (body_fd not seekable), -ENOMEM. */
int http_start(struct http *h, const struct http_request *req, http_done_t done, void *userdata,
               struct http_call **ret);
void http_call_cancel(struct http_call *c);
/* Number of calls in flight (for tests and the status of a worker). */
size_t http_pending(const struct http *h);
