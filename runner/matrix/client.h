/* The Matrix Client-Server API (spec v3, authenticated media v1) over http.h: requests with
 * Bearer auth, the error policy (429 waits, 5xx and network errors back off with jitter and
 * retry, unknown tokens re-login), and one function per endpoint the runner uses. It knows
 * nothing of plugins, the store or the config. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "util/json.h"

struct mx_client;

/* The outcome of a request, handed to its callback. r is 0 on a 2xx answer; otherwise a
 * negative errno, with errcode/error from the homeserver's JSON when it sent some:
 *   -EACCES  401/403 (errcode says which: M_FORBIDDEN, M_UNKNOWN_TOKEN when not retried)
 *   -ENOENT  404           -EINVAL  400 and other 4xx
 *   -E2BIG   413 or a response past the size bound
 *   -EBADMSG a 2xx body that is not a JSON object
 *   -EIO     5xx on a request without MX_RETRY
 *   -EPROTO  any other status (1xx, 3xx: redirects are not followed)
 *   -ETIMEDOUT, -ECONNREFUSED, -ECONNRESET, -EHOSTUNREACH, -EIO: no answer (http.h), on a
 *            request without MX_RETRY
 *   -EOPNOTSUPP (mx_register) no registration flow we can complete
 *   -ECANCELED the client was freed / the call cancelled (callback not called then)
 * 429 / M_LIMIT_EXCEEDED never reaches the callback: every request waits and is sent again.
 * res is never NULL; for a request that got no answer its fields are 0/NULL.
 * doc/root: the parsed JSON body (2xx and error bodies alike) when it is an object, else
 * NULL; body/body_len: the raw body (for a parser of its own, e.g. mx_sync_parse()). All
 * valid during the callback only. */
struct mx_result {
    long status;
    const char *errcode;
    const char *error;
    const struct json_doc *doc;
    int root;
    const char *body;
    size_t body_len;
};

typedef void (*mx_done_t)(int r, const struct mx_result *res, void *userdata);

/* Retry policy of one request. */
enum mx_flags {
    MX_AUTH = 1 << 0,  /* send the access token */
    MX_RETRY = 1 << 1, /* 5xx, timeouts, resets: back off with jitter and retry, forever */
    MX_SYNC = 1 << 2,  /* events (/sync, /messages): body bounds SYNC_MAX_BODY/SYNC_MAX_TOKENS;
                        * mx_sync() sets the transfer timeout to the sync timeout plus 30 s */
};

/* Called when the homeserver answers M_UNKNOWN_TOKEN to an MX_AUTH request. The owner
 * logs in again (soft_logout: keep the device and sync position) and calls
 * mx_client_set_token(); requests that hit the error wait and are sent again with the new
 * token. */
typedef void (*mx_unknown_token_t)(struct mx_client *c, bool soft_logout, void *userdata);

struct mx_client_options {
    const char *base_url;    /* "http://127.0.0.1:8008", no trailing slash */
    uint64_t backoff_min_ms; /* first backoff (default 500 ms) */
    uint64_t backoff_max_ms; /* cap (default 60 s) */
    size_t max_response;     /* default bound on response bodies (default 8 MiB; MX_SYNC
                              * requests use SYNC_MAX_BODY) */
    uint64_t timeout_ms;     /* transfer timeout of a request (default HTTP_DEFAULT_TIMEOUT_MS);
                              * MX_SYNC: the sync timeout plus 30 s; uploads: scaled by size */
};

int mx_client_new(sd_event *event, const struct mx_client_options *opts, struct mx_client **ret);
struct mx_client *mx_client_free(struct mx_client *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct mx_client *, mx_client_free)
void mx_client_set_token(struct mx_client *c, const char *access_token); /* copied; NULL clears */
void mx_client_on_unknown_token(struct mx_client *c, mx_unknown_token_t cb, void *userdata);

/* Cancel every request started with this userdata, without calling it back (its transfer is
 * aborted, a pending retry dropped). Returns how many there were. */
size_t mx_cancel(struct mx_client *c, void *userdata);

/* Generic request: path is already escaped ("/_matrix/client/v3/..."); body is JSON or
 * NULL. Returns 0 when started (done will be called), or a negative errno. */
int mx_request(struct mx_client *c, const char *method, const char *path, const char *body,
               unsigned flags, mx_done_t done, void *userdata);

/* Percent-encode one path segment (room ids, event ids, txn ids, user ids) into a new
 * string: everything but RFC 3986's unreserved characters (A-Z a-z 0-9 - . _ ~) becomes %XX.
 * -EINVAL for NULL or "", -E2BIG past 64 KiB. */
int mx_escape_segment(const char *s, char **ret);

/* Endpoints. Each returns 0 when started, and calls done once. Where a result is a value
 * the callback reads it from res->doc (documented per function). Requests not marked
 * otherwise are MX_AUTH|MX_RETRY. Arguments are checked before anything is sent: -EINVAL
 * for a missing id, a content that is not a JSON object; -E2BIG for a path or body past
 * the bounds. */

/* GET /account/whoami -> user_id, device_id. MX_AUTH|MX_RETRY. */
int mx_whoami(struct mx_client *c, mx_done_t done, void *userdata);
/* POST /login m.login.password with identifier m.id.user; device_id to reuse, or NULL.
 * -> access_token, device_id, user_id. MX_RETRY. */
int mx_login_password(struct mx_client *c, const char *user, const char *password,
                      const char *device_id, mx_done_t done, void *userdata);
/* POST /register (kind=user) through User-Interactive Auth: completes every stage the server
 * asks for among m.login.registration_token (with token) and m.login.dummy, in the order of
 * the first flow it can complete. -> access_token, device_id, user_id. MX_RETRY, no auth.
 * registration_token may be NULL (then only dummy-only flows qualify). -EOPNOTSUPP when no
 * flow qualifies; -EACCES when a stage is refused (errcode from the server); -EPROTO when
 * the server does not advance. */
int mx_register(struct mx_client *c, const char *localpart, const char *password,
                const char *registration_token, mx_done_t done, void *userdata);
/* PUT /profile/{user}/displayname. */
int mx_set_displayname(struct mx_client *c, const char *user_id, const char *name, mx_done_t done,
                       void *userdata);
/* POST /user/{user}/filter with the JSON filter -> filter_id. */
int mx_upload_filter(struct mx_client *c, const char *user_id, const char *filter_json,
                     mx_done_t done, void *userdata);
/* GET /sync?timeout=..&since=..&filter=.. (since/filter may be NULL). MX_SYNC|MX_RETRY. */
int mx_sync(struct mx_client *c, const char *since, const char *filter_id, uint64_t timeout_ms,
            mx_done_t done, void *userdata);
/* GET /rooms/{room}/messages?dir=b&from=..&limit=..; bounded as a sync (MX_SYNC). */
int mx_messages(struct mx_client *c, const char *room_id, const char *from, unsigned limit,
                mx_done_t done, void *userdata);
/* POST /join/{room} and POST /rooms/{room}/leave (declining an invite is a leave). */
int mx_join(struct mx_client *c, const char *room_id, mx_done_t done, void *userdata);
int mx_leave(struct mx_client *c, const char *room_id, mx_done_t done, void *userdata);
/* GET /directory/room/{alias} -> room_id, servers. An alias that names no room is 404
 * M_NOT_FOUND (-ENOENT). */
int mx_resolve_alias(struct mx_client *c, const char *alias, mx_done_t done, void *userdata);
/* PUT /rooms/{room}/send/{type}/{txn} -> event_id. MX_RETRY: the same txn id every time. */
int mx_send(struct mx_client *c, const char *room_id, const char *type, const char *txn_id,
            const char *content_json, mx_done_t done, void *userdata);
/* PUT /rooms/{room}/redact/{event}/{txn}. */
int mx_redact(struct mx_client *c, const char *room_id, const char *event_id, const char *txn_id,
              const char *reason, mx_done_t done, void *userdata);
/* GET /_matrix/client/v1/media/config (authenticated media), falling back to
 * /_matrix/media/v3/config -> m.upload.size. */
int mx_media_config(struct mx_client *c, mx_done_t done, void *userdata);
/* POST /_matrix/media/v3/upload?filename=.. streamed from fd (size bytes, read with pread()
 * from the fd's current offset, so fd must be seekable; not closed) -> content_uri.
 * content_type NULL means application/octet-stream; filename may be NULL. The transfer
 * timeout grows with size. */
int mx_upload(struct mx_client *c, int fd, uint64_t size, const char *content_type,
              const char *filename, mx_done_t done, void *userdata);
