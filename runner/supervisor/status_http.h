/* The supervisor's read-only status endpoint: a libmicrohttpd daemon on its own thread that
 * serves the version, the latest published /status JSON and /metrics text, and nothing else. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/macro.h"

/* The paths of the contract (docs/operations.md). */
#define STATUS_PATH_VERSION "/_matrix/maubot/v1/version"
#define STATUS_PATH_STATUS  "/status"
#define STATUS_PATH_METRICS "/metrics"

/* A published document may be at most this big (status_http_publish() answers -E2BIG past
 * it). A fleet's /status is a few hundred bytes per instance and 1000 notifications at most:
 * far below; the bound keeps a runaway producer from pinning unbounded memory. */
#define STATUS_HTTP_MAX_DOC (4u * 1024u * 1024u)

/* ---- The pure part: routing and responses, no sockets (driven by tests/fuzz/fuzz_status.c).
 */

enum status_route {
    STATUS_ROUTE_VERSION,
    STATUS_ROUTE_STATUS,
    STATUS_ROUTE_METRICS,
    STATUS_ROUTE_NOT_FOUND,          /* any method on an unknown path */
    STATUS_ROUTE_METHOD_NOT_ALLOWED, /* a known path, a method other than GET or HEAD */
};

/* Route a request: method exactly as sent (methods are case-sensitive: "get" is not GET),
 * url the request target; a query string ("?...") is ignored, nothing is unescaped (no
 * path of ours needs escaping, so "/st%61tus" is 404). NULL arguments route to 404. */
enum status_route status_route(const char *method, const char *url);

/* The documents one response may be built from: views, not owned. */
struct status_docs {
    const char *status_json;
    size_t status_len;
    const char *metrics_text;
    size_t metrics_len;
};

/* What to answer. body points to static text or into the docs; it is the same for HEAD
 * (the HTTP layer leaves the body out and keeps its Content-Length). */
struct status_reply {
    unsigned code;
    const char *content_type;
    const char *allow; /* the Allow header of a 405, else NULL */
    const char *body;
    size_t body_len;
};

/* Build the reply to a routed request. has_body: the request announced a body (none is
 * accepted: 413). docs NULL: nothing published yet (/status and /metrics answer 503). */
void status_reply_build(enum status_route route, bool has_body, const struct status_docs *docs,
                        struct status_reply *ret);

/* ---- The server.
 */

struct status_http;

/* Listen on exactly address:port (an IPv4 or IPv6 literal; port 0 picks a free port, see
 * status_http_port()) and serve from a thread of libmicrohttpd's. Errors: -EINVAL (not an IP
 * literal), the socket's own (-EADDRINUSE, -EACCES, ...), -ENOMEM, -EIO (libmicrohttpd
 * refused to start). */
int status_http_start(const char *address, uint16_t port, struct status_http **ret);
/* Stops the daemon (open connections are closed) and frees everything; NULL is a no-op. */
void status_http_stop(struct status_http *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct status_http *, status_http_stop)

/* The port actually bound (the chosen one when started with port 0). */
uint16_t status_http_port(const struct status_http *s);

/* Replace the served documents with copies of these (NUL-terminated strings). Requests being
 * answered keep the copy they started with; the next request gets the new one. Never blocks
 * on a client. Errors: -EINVAL (NULL), -E2BIG (longer than STATUS_HTTP_MAX_DOC), -EILSEQ (not
 * UTF-8), -ENOMEM. */
int status_http_publish(struct status_http *s, const char *status_json, const char *metrics_text);
