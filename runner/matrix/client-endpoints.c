/* One function per Client-Server endpoint the runner uses: each checks its arguments, builds
 * the escaped path and the JSON body, and starts the request with its retry policy. */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "matrix/client-internal.h"

/* The long poll waits up to its timeout on the server's side; the transfer may take that
 * long plus the time to build and send a large response. 30 s covers a slow server without
 * leaving a dead connection unnoticed for long. */
#define MX_SYNC_MARGIN_MS (30u * 1000u)

/* An upload's transfer timeout: a minute, plus the time to send the file at 64 KiB/s (a
 * link slower than that is not one to upload videos over; 50 MB allows 13 minutes). */
#define MX_UPLOAD_BASE_TIMEOUT_MS (60u * 1000u)
#define MX_UPLOAD_MIN_RATE        (64u * 1024u)
#define MX_UPLOAD_MAX_SECS        (24u * 3600u) /* saturate instead of wrapping */

#define MX_DEVICE_DISPLAY_NAME "botrunner"

#define MX_AUTH_RETRY (MX_AUTH | MX_RETRY)

/* Start a request whose path was built in p (its sticky error returned first). */
static int start(struct mx_client *c, const char *method, const struct mx_path *p, const char *body,
                 unsigned flags, mx_done_t done, void *userdata)
{
    struct mx_call_args a = {.method = method, .path = p->buf, .body = body, .flags = flags};
    int r = mx_path_done(p);

    if (r < 0)
        return r;
    return mx_start(c, &a, done, userdata, NULL);
}

/* Bodies we did not build (event content, filters) must be one JSON object of bounded
 * size: the server would refuse anything else, after a round trip and possibly a retry. */
static int check_object(const char *json)
{
    _cleanup_(json_doc_freep) struct json_doc *d = NULL;
    size_t len;
    int r;

    if (!json)
        return -EINVAL;
    len = strnlen(json, MX_MAX_REQUEST_BODY + 1);
    if (len > MX_MAX_REQUEST_BODY)
        return -E2BIG;
    r = json_parse(json, len, MX_MAX_TOKENS, &d);
    if (r < 0)
        return r == -E2BIG ? r : -EINVAL;
    return json_type(d, 0) == JSON_OBJECT ? 0 : -EINVAL;
}

/* Finish a body built with the writer; the text may hold a password, so it is wiped once
 * the request has its copy. */
static int start_built(struct mx_client *c, const char *method, const struct mx_path *p,
                       struct json_writer *w, unsigned flags, mx_done_t done, void *userdata)
{
    _cleanup_free_ char *body = NULL;
    size_t len = 0;
    int r;

    r = json_writer_steal(w, &body, &len);
    if (r < 0)
        return r;
    r = start(c, method, p, body, flags, done, userdata);
    explicit_bzero(body, len);
    return r;
}

int mx_whoami(struct mx_client *c, mx_done_t done, void *userdata)
{
    struct mx_path p;

    mx_path_init(&p, MX_CLIENT_V3 "/account/whoami");
    return start(c, "GET", &p, NULL, MX_AUTH_RETRY, done, userdata);
}

int mx_login_password(struct mx_client *c, const char *user, const char *password,
                      const char *device_id, mx_done_t done, void *userdata)
{
    struct json_writer w;
    struct mx_path p;

    if (!user || !*user || !password)
        return -EINVAL;
    json_writer_init(&w, MX_MAX_REQUEST_BODY);
    json_begin_object(&w);
    json_key(&w, "type");
    json_string(&w, "m.login.password");
    json_key(&w, "identifier");
    json_begin_object(&w);
    json_key(&w, "type");
    json_string(&w, "m.id.user");
    json_key(&w, "user");
    json_string(&w, user);
    json_end_object(&w);
    json_key(&w, "password");
    json_string(&w, password);
    if (device_id) {
        json_key(&w, "device_id");
        json_string(&w, device_id);
    }
    json_key(&w, "initial_device_display_name");
    json_string(&w, MX_DEVICE_DISPLAY_NAME);
    json_end_object(&w);

    mx_path_init(&p, MX_CLIENT_V3 "/login");
    return start_built(c, "POST", &p, &w, MX_RETRY, done, userdata);
}

int mx_set_displayname(struct mx_client *c, const char *user_id, const char *name, mx_done_t done,
                       void *userdata)
{
    struct json_writer w;
    struct mx_path p;

    if (!name)
        return -EINVAL;
    json_writer_init(&w, MX_MAX_REQUEST_BODY);
    json_begin_object(&w);
    json_key(&w, "displayname");
    json_string(&w, name);
    json_end_object(&w);

    mx_path_init(&p, MX_CLIENT_V3 "/profile");
    mx_path_segment(&p, user_id);
    mx_path_literal(&p, "/displayname");
    if (mx_path_done(&p) < 0) {
        json_writer_done(&w);
        return mx_path_done(&p);
    }
    return start_built(c, "PUT", &p, &w, MX_AUTH_RETRY, done, userdata);
}

int mx_upload_filter(struct mx_client *c, const char *user_id, const char *filter_json,
                     mx_done_t done, void *userdata)
{
    struct mx_path p;
    int r;

    r = check_object(filter_json);
    if (r < 0)
        return r;
    mx_path_init(&p, MX_CLIENT_V3 "/user");
    mx_path_segment(&p, user_id);
    mx_path_literal(&p, "/filter");
    return start(c, "POST", &p, filter_json, MX_AUTH_RETRY, done, userdata);
}

int mx_sync(struct mx_client *c, const char *since, const char *filter_id, uint64_t timeout_ms,
            mx_done_t done, void *userdata)
{
    struct mx_call_args a = {.method = "GET", .flags = MX_AUTH_RETRY | MX_SYNC};
    char timeout[24];
    struct mx_path p;
    int r;

    /* An hour is already an absurd long poll; the bound keeps the sum below from wrapping. */
    if (timeout_ms > 3600u * 1000u)
        return -EINVAL;
    (void)snprintf(timeout, sizeof(timeout), "%" PRIu64, timeout_ms);
    mx_path_init(&p, MX_CLIENT_V3 "/sync");
    mx_path_query(&p, "timeout", timeout);
    mx_path_query(&p, "since", since);
    mx_path_query(&p, "filter", filter_id);
    r = mx_path_done(&p);
    if (r < 0)
        return r;
    a.path = p.buf;
    a.timeout_ms = timeout_ms + MX_SYNC_MARGIN_MS;
    return mx_start(c, &a, done, userdata, NULL);
}

int mx_messages(struct mx_client *c, const char *room_id, const char *from, unsigned limit,
                mx_done_t done, void *userdata)
{
    char n[16];
    struct mx_path p;

    (void)snprintf(n, sizeof(n), "%u", limit);
    mx_path_init(&p, MX_CLIENT_V3 "/rooms");
    mx_path_segment(&p, room_id);
    mx_path_literal(&p, "/messages");
    mx_path_query(&p, "dir", "b");
    mx_path_query(&p, "from", from);
    mx_path_query(&p, "limit", n);
    /* A page of events is bounded as a sync is: its events may be as large. */
    return start(c, "GET", &p, NULL, MX_AUTH_RETRY | MX_SYNC, done, userdata);
}

int mx_join(struct mx_client *c, const char *room_id, mx_done_t done, void *userdata)
{
    struct mx_path p;

    mx_path_init(&p, MX_CLIENT_V3 "/join");
    mx_path_segment(&p, room_id);
    return start(c, "POST", &p, "{}", MX_AUTH_RETRY, done, userdata);
}

int mx_resolve_alias(struct mx_client *c, const char *alias, mx_done_t done, void *userdata)
{
    struct mx_path p;

    mx_path_init(&p, MX_CLIENT_V3 "/directory/room");
    mx_path_segment(&p, alias);
    return start(c, "GET", &p, NULL, MX_AUTH_RETRY, done, userdata);
}

int mx_leave(struct mx_client *c, const char *room_id, mx_done_t done, void *userdata)
{
    struct mx_path p;

    mx_path_init(&p, MX_CLIENT_V3 "/rooms");
    mx_path_segment(&p, room_id);
    mx_path_literal(&p, "/leave");
    return start(c, "POST", &p, "{}", MX_AUTH_RETRY, done, userdata);
}

int mx_send(struct mx_client *c, const char *room_id, const char *type, const char *txn_id,
            const char *content_json, mx_done_t done, void *userdata)
{
    struct mx_path p;
    int r;

    r = check_object(content_json);
    if (r < 0)
        return r;
    mx_path_init(&p, MX_CLIENT_V3 "/rooms");
    mx_path_segment(&p, room_id);
    mx_path_literal(&p, "/send");
    mx_path_segment(&p, type);
    mx_path_segment(&p, txn_id);
    return start(c, "PUT", &p, content_json, MX_AUTH_RETRY, done, userdata);
}

int mx_redact(struct mx_client *c, const char *room_id, const char *event_id, const char *txn_id,
              const char *reason, mx_done_t done, void *userdata)
{
    struct json_writer w;
    struct mx_path p;

    mx_path_init(&p, MX_CLIENT_V3 "/rooms");
    mx_path_segment(&p, room_id);
    mx_path_literal(&p, "/redact");
    mx_path_segment(&p, event_id);
    mx_path_segment(&p, txn_id);
    if (mx_path_done(&p) < 0)
        return mx_path_done(&p);

    json_writer_init(&w, MX_MAX_REQUEST_BODY);
    json_begin_object(&w);
    if (reason) {
        json_key(&w, "reason");
        json_string(&w, reason);
    }
    json_end_object(&w);
    return start_built(c, "PUT", &p, &w, MX_AUTH_RETRY, done, userdata);
}

/* ---- Media ------------------------------------------------------------------------------ */

struct media_config {
    struct mx_client *client;
    mx_done_t done;
    void *userdata;
};

static void media_config_cancel(void *userdata)
{
    free(userdata);
}

static void on_media_config_legacy(int r, const struct mx_result *res, void *userdata)
{
    _cleanup_free_ struct media_config *m = userdata;

    m->done(r, res, m->userdata);
}

/* Servers before Matrix 1.11 have no authenticated media: they answer the v1 path with 404
 * or M_UNRECOGNIZED, and then the legacy path is asked. */
static void on_media_config(int r, const struct mx_result *res, void *userdata)
{
    _cleanup_free_ struct media_config *m = userdata;
    struct mx_call_args a = {
            .method = "GET", .path = "/_matrix/media/v3/config", .flags = MX_AUTH_RETRY};

    if (r == -ENOENT || (res->errcode && streq(res->errcode, "M_UNRECOGNIZED"))) {
        int k = mx_start(m->client, &a, on_media_config_legacy, m, media_config_cancel);

        if (k >= 0) {
            TAKE_PTR(m);
            return;
        }
        r = k;
    }
    m->done(r, res, m->userdata);
}

int mx_media_config(struct mx_client *c, mx_done_t done, void *userdata)
{
    _cleanup_free_ struct media_config *m = NULL;
    struct mx_call_args a = {
            .method = "GET", .path = "/_matrix/client/v1/media/config", .flags = MX_AUTH_RETRY};
    int r;

    m = calloc(1, sizeof(*m));
    if (!m)
        return -ENOMEM;
    m->client = c;
    m->done = done;
    m->userdata = userdata;
    r = mx_start(c, &a, on_media_config, m, media_config_cancel);
    if (r < 0)
        return r;
    TAKE_PTR(m);
    return 0;
}

int mx_upload(struct mx_client *c, int fd, uint64_t size, const char *content_type,
              const char *filename, mx_done_t done, void *userdata)
{
    struct mx_call_args a = {
            .method = "POST",
            .content_type = content_type ? content_type : "application/octet-stream",
            .fd = fd,
            .fd_size = size,
            .flags = MX_AUTH_RETRY,
    };
    struct mx_path p;
    uint64_t secs;
    int r;

    if (fd <= 0)
        return -EBADF;
    secs = size / MX_UPLOAD_MIN_RATE;
    a.timeout_ms = MX_UPLOAD_BASE_TIMEOUT_MS +
                   (secs < MX_UPLOAD_MAX_SECS ? secs : MX_UPLOAD_MAX_SECS) * 1000u;
    mx_path_init(&p, "/_matrix/media/v3/upload");
    mx_path_query(&p, "filename", filename);
    r = mx_path_done(&p);
    if (r < 0)
        return r;
    a.path = p.buf;
    return mx_start(c, &a, done, userdata, NULL);
}
