/* HTTP on the worker's event loop: libcurl's multi handle driven by sd-event (one io source
 * per socket, one timer, one defer that hands finished calls back), and each call's limits. */
#include <assert.h>
#include <curl/curl.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "matrix/curl_dl.h"
#include "matrix/http.h"
#include "util/macro.h"

/* Connecting to the homeserver (on loopback, or a reachable https host) takes milliseconds;
 * 10 s covers a loaded host and a slow TLS handshake, and fails fast enough that the
 * caller's backoff, not a hung connect, sets the pace while the server is down. */
#define HTTP_CONNECT_TIMEOUT_MS (10u * 1000u)

/* A Retry-After value is obeyed up to one hour: homeservers' rate limits wait seconds to
 * minutes, and a broken or hostile value must not park a request for days (if the limit
 * still holds after the cap, the server answers 429 again and we wait again). */
#define HTTP_RETRY_AFTER_MAX_MS (60u * 60u * 1000u)

/* Header values we keep or parse are short; longer ones are ignored, not truncated. */
#define HTTP_MAX_CONTENT_TYPE 255
#define HTTP_MAX_RETRY_AFTER  64

/* Access tokens are a few hundred bytes at most (Synapse's macaroons were the longest);
 * the bound keeps a corrupted token from building an absurd header. */
#define HTTP_MAX_BEARER 4096

/* curl asks for timers in milliseconds; sd-event's default accuracy (250 ms) would delay
 * every transfer step by up to that much, so curl's timer is exact to the millisecond. */
#define HTTP_TIMER_ACCURACY_USEC 1000u

#define HTTP_USER_AGENT "botrunner/" BOTRUNNER_VERSION

/* One socket curl asked us to watch; assigned to the socket with curl_multi_assign(). */
struct http_socket {
    sd_event_source *io;
    struct http_socket *prev, *next;
};

struct http_call {
    struct http *h;
    const struct curl_dl *curl; /* h's table, kept here: a detached call outlives its h link */
    struct http_call *prev, *next;
    CURL *easy;
    struct curl_slist *headers; /* holds the Authorization line: wiped before it is freed */
    http_done_t done;
    void *userdata;

    /* The response body, NUL-terminated, at most max bytes. */
    char *buf;
    size_t len, cap, max;
    bool too_big;

    int64_t retry_after_ms;
    char content_type[HTTP_MAX_CONTENT_TYPE + 1];

    /* Streamed download: the body goes to out_fd (2xx answers only); out_error the write's. */
    int out_fd;
    int out_error;

    /* Streamed upload: pread() from fd_start + fd_pos, so a rewind costs nothing and the
     * caller's file position is left alone. */
    int fd;
    off_t fd_start;
    uint64_t fd_size, fd_pos;
    int read_error;
};

struct http {
    sd_event *event;
    const struct curl_dl *curl; /* libcurl, loaded on the first http_new() of the process */
    CURLM *multi;
    sd_event_source *timer;
    sd_event_source *defer;
    struct http_socket *sockets;
    struct http_call *calls;
    size_t n_calls;
};

/* ---- Calls ------------------------------------------------------------------------------ */

static void wipe_headers(struct curl_slist *l)
{
    for (; l; l = l->next)
        explicit_bzero(l->data, strlen(l->data));
}

static void call_release_easy(struct http_call *c)
{
    if (c->easy) {
        c->curl->easy_cleanup(c->easy);
        c->easy = NULL;
    }
    wipe_headers(c->headers);
    c->curl->slist_free_all(c->headers);
    c->headers = NULL;
}

static void call_free(struct http_call *c)
{
    if (!c)
        return;
    call_release_easy(c);
    free(c->buf);
    free(c);
}
DEFINE_TRIVIAL_CLEANUP_FUNC(struct http_call *, call_free)

/* Take the call out of the multi handle and the list; the call itself stays allocated. */
static void call_detach(struct http_call *c)
{
    struct http *h = c->h;

    if (!h)
        return;
    (void)h->curl->multi_remove_handle(h->multi, c->easy);
    if (c->prev)
        c->prev->next = c->next;
    else
        h->calls = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    h->n_calls--;
    c->h = NULL;
}

static int map_curl_error(const struct http_call *c, CURLcode code)
{
    switch (code) {
    case CURLE_OK:
        return 0;
    case CURLE_OPERATION_TIMEDOUT:
        return -ETIMEDOUT;
    case CURLE_COULDNT_CONNECT:
        return -ECONNREFUSED;
    case CURLE_COULDNT_RESOLVE_HOST:
        return -EHOSTUNREACH;
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
        return -ECONNRESET;
    case CURLE_FILESIZE_EXCEEDED:
        return -E2BIG;
    case CURLE_WRITE_ERROR:
        return c->too_big ? -E2BIG : c->out_error < 0 ? c->out_error : -EIO;
    case CURLE_TOO_MANY_REDIRECTS:
        return -ELOOP;
    case CURLE_ABORTED_BY_CALLBACK:
    case CURLE_READ_ERROR:
        return c->read_error < 0 ? c->read_error : -EIO;
    case CURLE_OUT_OF_MEMORY:
        return -ENOMEM;
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
        return -EINVAL;
    default:
        return -EIO;
    }
}

/* Hand a finished call to its owner. The owner may free the whole struct http from inside
 * its callback, so nothing but the call itself is touched once done() has been called. */
static void call_finish(struct http_call *c, CURLcode code)
{
    struct http_response resp = {
            .error = map_curl_error(c, code),
            .body = c->buf ? c->buf : "",
            .body_len = c->len,
            .retry_after_ms = c->retry_after_ms,
            .content_type = c->content_type[0] ? c->content_type : NULL,
    };
    http_done_t done = c->done;
    void *userdata = c->userdata;

    (void)c->curl->easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &resp.status);
    call_detach(c);
    call_release_easy(c);
    done(&resp, userdata);
    call_free(c);
}

/* ---- curl callbacks --------------------------------------------------------------------- */

/* A download's bytes go to its fd, only from a 2xx answer (an error page is not the file,
 * and the redirects before the final answer have bodies too). */
static size_t write_out(struct http_call *c, const char *data, size_t n)
{
    long status = 0;

    (void)c->curl->easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &status);
    if (status < 200 || status > 299)
        return n;
    for (size_t done = 0; done < n;) {
        ssize_t k = write(c->out_fd, data + done, n - done);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            c->out_error = k < 0 ? negative_errno() : -EIO;
            return 0;
        }
        done += (size_t)k;
    }
    c->len += n;
    return n;
}

static size_t on_write(char *data, size_t size, size_t nmemb, void *userdata)
{
    struct http_call *c = userdata;
    size_t n = size * nmemb;

    if (n > c->max - c->len) {
        c->too_big = true;
        return 0; /* curl fails the transfer with CURLE_WRITE_ERROR */
    }
    if (c->out_fd > 0)
        return write_out(c, data, n);
    if (c->len + n + 1 > c->cap) {
        size_t cap = c->cap ? c->cap : 4096;
        char *b;

        while (cap < c->len + n + 1)
            cap *= 2;
        if (cap > c->max + 1)
            cap = c->max + 1;
        b = realloc(c->buf, cap);
        if (!b)
            return 0;
        c->buf = b;
        c->cap = cap;
    }
    memcpy(c->buf + c->len, data, n);
    c->len += n;
    c->buf[c->len] = '\0';
    return n;
}

/* Copy a header's value (after "Name:") without surrounding blanks into buf; false when it
 * does not fit, so an overlong value is ignored rather than cut. */
static bool header_value(const char *line, size_t len, size_t name_len, char *buf, size_t cap)
{
    const char *v = line + name_len, *end = line + len;

    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
        end--;
    if ((size_t)(end - v) >= cap || memchr(v, '\0', (size_t)(end - v)))
        return false;
    memcpy(buf, v, (size_t)(end - v));
    buf[end - v] = '\0';
    return true;
}

/* Retry-After is delta-seconds or an HTTP-date (RFC 9110 10.2.3); -1 when unreadable. */
static int64_t parse_retry_after(const struct curl_dl *curl, const char *v)
{
    uint64_t secs = 0;
    time_t t, now;

    if (*v >= '0' && *v <= '9') {
        for (; *v; v++) {
            if (*v < '0' || *v > '9')
                return -1;
            secs = secs * 10 + (uint64_t)(*v - '0');
            if (secs > HTTP_RETRY_AFTER_MAX_MS / 1000)
                return HTTP_RETRY_AFTER_MAX_MS;
        }
        return (int64_t)(secs * 1000);
    }
    t = curl->getdate(v, NULL);
    if (t == (time_t)-1)
        return -1;
    now = time(NULL);
    if (t <= now)
        return 0;
    if ((uint64_t)(t - now) > HTTP_RETRY_AFTER_MAX_MS / 1000)
        return HTTP_RETRY_AFTER_MAX_MS;
    return (int64_t)(t - now) * 1000;
}

static bool header_is(const char *line, size_t len, const char *name)
{
    size_t n = strlen(name);

    return len > n && line[n] == ':' && strncasecmp(line, name, n) == 0;
}

static size_t on_header(char *line, size_t size, size_t nmemb, void *userdata)
{
    struct http_call *c = userdata;
    size_t len = size * nmemb;
    char v[HTTP_MAX_RETRY_AFTER + 1];

    /* A status line starts a new response (after a 1xx): forget the previous one's. */
    if (len >= 5 && memcmp(line, "HTTP/", 5) == 0) {
        c->retry_after_ms = -1;
        c->content_type[0] = '\0';
    } else if (header_is(line, len, "Retry-After")) {
        if (header_value(line, len, strlen("Retry-After:"), v, sizeof(v)))
            c->retry_after_ms = parse_retry_after(c->curl, v);
    } else if (header_is(line, len, "Content-Type")) {
        if (!header_value(line, len, strlen("Content-Type:"), c->content_type,
                          sizeof(c->content_type)))
            c->content_type[0] = '\0';
    }
    return len;
}

static size_t on_read(char *buf, size_t size, size_t nitems, void *userdata)
{
    struct http_call *c = userdata;
    uint64_t left = c->fd_size - c->fd_pos;
    size_t want = size * nitems;
    ssize_t n;

    if (left == 0)
        return 0;
    if (want > left)
        want = (size_t)left;
    n = pread(c->fd, buf, want, c->fd_start + (off_t)c->fd_pos);
    if (n < 0) {
        c->read_error = negative_errno();
        return CURL_READFUNC_ABORT;
    }
    if (n == 0) {
        /* The file is shorter than the size announced in Content-Length. */
        c->read_error = -ENODATA;
        return CURL_READFUNC_ABORT;
    }
    c->fd_pos += (uint64_t)n;
    return (size_t)n;
}

/* curl rewinds an upload when it must resend it (a reused connection that turned out to be
 * closed); only absolute positions inside the body make sense. */
static int on_seek(void *userdata, curl_off_t offset, int origin)
{
    struct http_call *c = userdata;

    if (origin != SEEK_SET || offset < 0 || (uint64_t)offset > c->fd_size)
        return CURL_SEEKFUNC_FAIL;
    c->fd_pos = (uint64_t)offset;
    return CURL_SEEKFUNC_OK;
}

/* ---- The event loop glue ---------------------------------------------------------------- */

/* After any activity, finished transfers are collected from the defer source, one per
 * loop iteration, so a callback never runs inside curl or inside http_start(). */
static void schedule_collect(struct http *h)
{
    (void)sd_event_source_set_enabled(h->defer, SD_EVENT_ONESHOT);
}

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
    struct http *h = userdata;
    int action = 0, running = 0;

    (void)s;
    if (revents & EPOLLIN)
        action |= CURL_CSELECT_IN;
    if (revents & EPOLLOUT)
        action |= CURL_CSELECT_OUT;
    if (revents & (EPOLLERR | EPOLLHUP))
        action |= CURL_CSELECT_ERR;
    (void)h->curl->multi_socket_action(h->multi, fd, action, &running);
    schedule_collect(h);
    return 0;
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
    struct http *h = userdata;
    int running = 0;

    (void)s;
    (void)usec;
    (void)h->curl->multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    schedule_collect(h);
    return 0;
}

static int on_collect(sd_event_source *s, void *userdata)
{
    struct http *h = userdata;
    struct http_call *c = NULL;
    int queued = 0;
    CURLMsg *msg;
    CURLcode code;

    (void)s;
    msg = h->curl->multi_info_read(h->multi, &queued);
    if (!msg)
        return 0;
    /* More may be queued: come back on the next iteration, before the callback runs (it
     * may free h). */
    schedule_collect(h);
    if (msg->msg != CURLMSG_DONE)
        return 0;
    code = msg->data.result;
    if (h->curl->easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&c) != CURLE_OK || !c)
        return 0;
    call_finish(c, code);
    return 0;
}

static void socket_free(struct http *h, struct http_socket *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else
        h->sockets = s->next;
    if (s->next)
        s->next->prev = s->prev;
    sd_event_source_disable_unref(s->io);
    free(s);
}

static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userdata, void *socketp)
{
    struct http *h = userdata;
    struct http_socket *s = socketp;
    uint32_t events = 0;

    (void)easy;
    if (what == CURL_POLL_REMOVE) {
        if (s) {
            (void)h->curl->multi_assign(h->multi, fd, NULL);
            socket_free(h, s);
        }
        return 0;
    }
    if (what & CURL_POLL_IN)
        events |= EPOLLIN;
    if (what & CURL_POLL_OUT)
        events |= EPOLLOUT;
    if (s) {
        if (sd_event_source_set_io_events(s->io, events) < 0 ||
            sd_event_source_set_enabled(s->io, SD_EVENT_ON) < 0)
            return -1;
        return 0;
    }
    s = calloc(1, sizeof(*s));
    if (!s)
        return -1;
    if (sd_event_add_io(h->event, &s->io, fd, events, on_io, h) < 0) {
        free(s);
        return -1;
    }
    (void)sd_event_source_set_description(s->io, "http-io");
    s->next = h->sockets;
    if (s->next)
        s->next->prev = s;
    h->sockets = s;
    if (h->curl->multi_assign(h->multi, fd, s) != CURLM_OK) {
        socket_free(h, s);
        return -1;
    }
    return 0;
}

static int on_timer_request(CURLM *multi, long timeout_ms, void *userdata)
{
    struct http *h = userdata;

    (void)multi;
    if (timeout_ms < 0)
        return sd_event_source_set_enabled(h->timer, SD_EVENT_OFF) < 0 ? -1 : 0;
    if (sd_event_source_set_time_relative(h->timer, (uint64_t)timeout_ms * 1000u) < 0 ||
        sd_event_source_set_enabled(h->timer, SD_EVENT_ONESHOT) < 0)
        return -1;
    return 0;
}

int http_new(sd_event *event, struct http **ret)
{
    _cleanup_(http_freep) struct http *h = NULL;
    const struct curl_dl *curl;
    int r;

    assert(event);
    assert(ret);

    /* The loader also runs curl_global_init(), once per process, before any handle. */
    r = curl_dl_load(&curl);
    if (r < 0)
        return r;
    h = calloc(1, sizeof(*h));
    if (!h)
        return -ENOMEM;
    h->curl = curl;
    h->event = sd_event_ref(event);
    h->multi = curl->multi_init();
    if (!h->multi)
        return -ENOMEM;

    r = sd_event_add_time(event, &h->timer, CLOCK_MONOTONIC, 0, HTTP_TIMER_ACCURACY_USEC, on_timer,
                          h);
    if (r < 0)
        return r;
    (void)sd_event_source_set_enabled(h->timer, SD_EVENT_OFF);
    (void)sd_event_source_set_description(h->timer, "http-timer");
    r = sd_event_add_defer(event, &h->defer, on_collect, h);
    if (r < 0)
        return r;
    (void)sd_event_source_set_enabled(h->defer, SD_EVENT_OFF);
    (void)sd_event_source_set_description(h->defer, "http-collect");

    if (curl->multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, on_socket) != CURLM_OK ||
        curl->multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h) != CURLM_OK ||
        curl->multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, on_timer_request) != CURLM_OK ||
        curl->multi_setopt(h->multi, CURLMOPT_TIMERDATA, h) != CURLM_OK)
        return -EIO;

    *ret = TAKE_PTR(h);
    return 0;
}

struct http *http_free(struct http *h)
{
    struct http_call *c;

    if (!h)
        return NULL;
    (void)sd_event_source_set_enabled(h->defer, SD_EVENT_OFF);
    while ((c = h->calls)) {
        call_detach(c);
        call_free(c);
    }
    /* Cleaning up the multi handle closes its cached connections and may ask us to stop
     * watching their sockets: h must still be whole here. */
    if (h->multi)
        h->curl->multi_cleanup(h->multi);
    while (h->sockets)
        socket_free(h, h->sockets);
    sd_event_source_disable_unref(h->timer);
    sd_event_source_disable_unref(h->defer);
    sd_event_unref(h->event);
    free(h);
    return NULL;
}

/* ---- Starting a call -------------------------------------------------------------------- */

static bool header_safe(const char *s, size_t max)
{
    size_t n = strnlen(s, max + 1);

    return n > 0 && n <= max && !strpbrk(s, "\r\n");
}

static int add_header(struct http_call *c, const char *line)
{
    struct curl_slist *n = c->curl->slist_append(c->headers, line);

    if (!n)
        return -ENOMEM;
    c->headers = n;
    return 0;
}

static int set_headers(struct http_call *c, const struct http_request *req, bool has_body)
{
    char line[sizeof("Authorization: Bearer ") + HTTP_MAX_BEARER];
    int r;

    /* No "Expect: 100-continue" before large bodies: it costs a round trip (or a second
     * when the server ignores it) and buys nothing against our own homeserver. */
    r = add_header(c, "Expect:");
    if (r < 0)
        return r;
    if (req->content_type) {
        if (!header_safe(req->content_type, HTTP_MAX_CONTENT_TYPE))
            return -EINVAL;
        (void)snprintf(line, sizeof(line), "Content-Type: %s", req->content_type);
        r = add_header(c, line);
    } else if (has_body)
        /* Drop curl's default form type for POST bodies. */
        r = add_header(c, "Content-Type:");
    if (r < 0)
        return r;
    if (req->bearer) {
        if (!header_safe(req->bearer, HTTP_MAX_BEARER))
            return -EINVAL;
        (void)snprintf(line, sizeof(line), "Authorization: Bearer %s", req->bearer);
        r = add_header(c, line);
        explicit_bzero(line, sizeof(line));
        if (r < 0)
            return r;
    }
    return c->curl->easy_setopt(c->easy, CURLOPT_HTTPHEADER, c->headers) == CURLE_OK ? 0 : -EIO;
}

static int set_body(struct http_call *c, const struct http_request *req)
{
    const struct curl_dl *curl = c->curl;
    CURL *e = c->easy;
    bool ok = true;

    if (streq(req->method, "GET") || streq(req->method, "DELETE")) {
        if (req->body || req->body_fd > 0)
            return -EINVAL;
        ok = curl->easy_setopt(e, CURLOPT_HTTPGET, 1L) == CURLE_OK;
    } else if (req->body_fd > 0) {
        c->fd = req->body_fd;
        c->fd_size = req->body_size;
        c->fd_start = lseek(req->body_fd, 0, SEEK_CUR);
        if (c->fd_start < 0)
            return negative_errno();
        ok = curl->easy_setopt(e, CURLOPT_POST, 1L) == CURLE_OK &&
             curl->easy_setopt(e, CURLOPT_READFUNCTION, on_read) == CURLE_OK &&
             curl->easy_setopt(e, CURLOPT_READDATA, c) == CURLE_OK &&
             curl->easy_setopt(e, CURLOPT_SEEKFUNCTION, on_seek) == CURLE_OK &&
             curl->easy_setopt(e, CURLOPT_SEEKDATA, c) == CURLE_OK &&
             curl->easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_size) ==
                     CURLE_OK;
    } else {
        /* An empty body is still set explicitly: a POST without one would make curl read
         * its default source, stdin. */
        ok = curl->easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
                               (curl_off_t)(req->body ? req->body_len : 0)) == CURLE_OK &&
             curl->easy_setopt(e, CURLOPT_COPYPOSTFIELDS, req->body ? req->body : "") == CURLE_OK;
    }
    if (ok && !streq(req->method, "GET") && !streq(req->method, "POST"))
        ok = curl->easy_setopt(e, CURLOPT_CUSTOMREQUEST, req->method) == CURLE_OK;
    return ok ? 0 : -ENOMEM;
}

/* Redirects only where asked for (downloads), to http(s), never carrying credentials. */
static bool set_redirects(struct http_call *c, const struct http_request *req)
{
    const struct curl_dl *curl = c->curl;
    CURL *e = c->easy;

    if (req->max_redirects == 0)
        return curl->easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK;
    return curl->easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L) == CURLE_OK &&
           curl->easy_setopt(e, CURLOPT_MAXREDIRS, (long)req->max_redirects) == CURLE_OK &&
#if LIBCURL_VERSION_NUM >= 0x075500
           curl->easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https") == CURLE_OK &&
#else
           curl->easy_setopt(e, CURLOPT_REDIR_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS)) ==
                   CURLE_OK &&
#endif
           curl->easy_setopt(e, CURLOPT_UNRESTRICTED_AUTH, 0L) == CURLE_OK;
}

static int set_options(struct http_call *c, const struct http_request *req)
{
    const struct curl_dl *curl = c->curl;
    CURL *e = c->easy;
    uint64_t timeout = req->timeout_ms ? req->timeout_ms : HTTP_DEFAULT_TIMEOUT_MS;
    bool ok;

    /* No CURLOPT_VERBOSE, ever: it would print the Authorization header. No redirects unless
     * asked for (a homeserver has no reason to send us elsewhere, and a redirect could carry
     * the body and token to another host), no compression (nothing to bomb us with),
     * HTTP/1.1. */
    ok = curl->easy_setopt(e, CURLOPT_URL, req->url) == CURLE_OK &&
#if LIBCURL_VERSION_NUM >= 0x075500
         curl->easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK &&
#else
         curl->easy_setopt(e, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS)) ==
                 CURLE_OK &&
#endif
         set_redirects(c, req) &&
         curl->easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1) == CURLE_OK &&
         curl->easy_setopt(e, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
         curl->easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)timeout) == CURLE_OK &&
         curl->easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)HTTP_CONNECT_TIMEOUT_MS) ==
                 CURLE_OK &&
         curl->easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)c->max) == CURLE_OK &&
         curl->easy_setopt(e, CURLOPT_USERAGENT, HTTP_USER_AGENT) == CURLE_OK &&
         curl->easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write) == CURLE_OK &&
         curl->easy_setopt(e, CURLOPT_WRITEDATA, c) == CURLE_OK &&
         curl->easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header) == CURLE_OK &&
         curl->easy_setopt(e, CURLOPT_HEADERDATA, c) == CURLE_OK &&
         curl->easy_setopt(e, CURLOPT_PRIVATE, c) == CURLE_OK;
    return ok ? 0 : -ENOMEM;
}

static bool method_known(const char *m)
{
    return m && (streq(m, "GET") || streq(m, "POST") || streq(m, "PUT") || streq(m, "DELETE"));
}

int http_start(struct http *h, const struct http_request *req, http_done_t done, void *userdata,
               struct http_call **ret)
{
    _cleanup_(call_freep) struct http_call *c = NULL;
    int r;

    assert(h);
    assert(req);
    assert(done);

    if (!method_known(req->method) || !req->url ||
        (strncmp(req->url, "http://", 7) != 0 && strncmp(req->url, "https://", 8) != 0) ||
        (req->body && req->body_fd > 0) || (!req->body && req->body_len > 0) ||
        req->max_redirects > HTTP_MAX_REDIRECTS || (req->max_redirects && req->bearer))
        return -EINVAL;
    if (h->n_calls >= HTTP_MAX_CALLS)
        return -EBUSY;

    c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    c->done = done;
    c->userdata = userdata;
    c->max = req->max_response ? req->max_response : HTTP_DEFAULT_MAX_RESPONSE;
    c->retry_after_ms = -1;
    c->fd = -EBADF;
    c->out_fd = req->response_fd > 0 ? req->response_fd : -EBADF;
    c->curl = h->curl;
    c->easy = c->curl->easy_init();
    if (!c->easy)
        return -ENOMEM;

    r = set_options(c, req);
    if (r < 0)
        return r;
    r = set_body(c, req);
    if (r < 0)
        return r;
    r = set_headers(c, req, req->body || req->body_fd > 0);
    if (r < 0)
        return r;

    if (h->curl->multi_add_handle(h->multi, c->easy) != CURLM_OK)
        return -ENOMEM;
    c->h = h;
    c->next = h->calls;
    if (c->next)
        c->next->prev = c;
    h->calls = c;
    h->n_calls++;
    if (ret)
        *ret = c;
    TAKE_PTR(c);
    return 0;
}

void http_call_cancel(struct http_call *c)
{
    if (!c)
        return;
    call_detach(c);
    call_free(c);
}

size_t http_pending(const struct http *h)
{
    return h ? h->n_calls : 0;
}
