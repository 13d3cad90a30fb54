/* The Matrix client's request machinery: URLs and tokens, parsing every answer, and the
 * error policy (rate limits, backoff with jitter, unknown tokens) between http.c and done(). */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "matrix/client-internal.h"
#include "matrix/http.h"
#include "matrix/sync.h"
#include "util/log.h"

#define MX_DEFAULT_BACKOFF_MIN_MS 500u
#define MX_DEFAULT_BACKOFF_MAX_MS (60u * 1000u)
#define MX_DEFAULT_MAX_RESPONSE   (8u * 1024u * 1024u)

/* A base URL is a scheme and an authority; anything longer is a mistake. */
#define MX_MAX_BASE_URL 1024

/* Waits the server asks for (429) are honoured up to one hour, like http.c's bound on
 * Retry-After, and at least 50 ms so that "retry_after_ms": 0 cannot spin the loop. */
#define MX_RATE_LIMIT_MAX_MS   (60u * 60u * 1000u)
#define MX_RATE_LIMIT_FLOOR_MS 50u

/* Backoff timers need no precision: 10 ms lets sd-event coalesce wake-ups. */
#define MX_TIMER_ACCURACY_USEC 10000u

struct mx_call {
    struct mx_client *client;
    struct mx_call *prev, *next;
    char *method;
    char *path;
    char *url;
    char *body; /* may hold a password: wiped when freed */
    size_t body_len;
    char *content_type;
    int fd;
    uint64_t fd_size;
    unsigned flags;
    uint64_t timeout_ms;
    size_t max_response, max_tokens;
    mx_done_t done;
    void *userdata;
    mx_cancel_t cancel;

    struct http_call *http; /* in flight */
    sd_event_source *timer; /* waiting to be sent again */
    bool parked;            /* waiting for a new token */
    uint64_t token_gen;     /* the token generation it was last sent with */
    unsigned failures;      /* consecutive transient failures: the backoff exponent */
    bool warned;            /* a warning was logged for this request's failures */
};

struct mx_client {
    sd_event *event;
    struct http *http;
    char *base_url;
    char *token;
    uint64_t token_gen;
    bool token_wanted; /* the unknown-token callback ran; waiting for mx_client_set_token */
    mx_unknown_token_t on_unknown_token;
    void *unknown_token_userdata;
    uint64_t backoff_min_ms, backoff_max_ms, timeout_ms;
    size_t max_response;
    uint64_t rng; /* xorshift state for the jitter; no need for cryptographic quality */
    struct mx_call *calls;
};

static void wipe_string(char *s)
{
    if (s)
        explicit_bzero(s, strlen(s));
}

static void call_free(struct mx_call *call)
{
    if (!call)
        return;
    http_call_cancel(call->http);
    sd_event_source_disable_unref(call->timer);
    free(call->method);
    free(call->path);
    free(call->url);
    if (call->body)
        explicit_bzero(call->body, call->body_len);
    free(call->body);
    free(call->content_type);
    free(call);
}
DEFINE_TRIVIAL_CLEANUP_FUNC(struct mx_call *, call_free)

static void call_unlink(struct mx_call *call)
{
    struct mx_client *c = call->client;

    if (call->prev)
        call->prev->next = call->next;
    else if (c->calls == call)
        c->calls = call->next;
    if (call->next)
        call->next->prev = call->prev;
    call->prev = call->next = NULL;
}

/* Report the outcome. done() may free the client, so the call leaves the client's list
 * first and nothing of the client is touched afterwards. */
static void call_finish(struct mx_call *call, int r, const struct mx_result *res)
{
    static const struct mx_result none = {0};

    call_unlink(call);
    call->done(r, res ? res : &none, call->userdata);
    call_free(call);
}

/* ---- Sending and waiting ---------------------------------------------------------------- */

static void on_http_done(const struct http_response *resp, void *userdata);

static int call_send(struct mx_call *call)
{
    struct mx_client *c = call->client;
    struct http_request req = {
            .method = call->method,
            .url = call->url,
            .bearer = (call->flags & MX_AUTH) ? c->token : NULL,
            .content_type = call->content_type,
            .body = call->body,
            .body_len = call->body_len,
            .body_fd = call->fd,
            .body_size = call->fd_size,
            .timeout_ms = call->timeout_ms,
            .max_response = call->max_response,
    };

    call->token_gen = c->token_gen;
    return http_start(c->http, &req, on_http_done, call, &call->http);
}

static uint64_t next_random(struct mx_client *c)
{
    /* xorshift64 */
    c->rng ^= c->rng << 13;
    c->rng ^= c->rng >> 7;
    c->rng ^= c->rng << 17;
    return c->rng;
}

/* Exponential backoff with full jitter (uniform in [min, cap], cap doubling from min up to
 * max): retries from many workers hitting one restarted homeserver spread out instead of
 * arriving in waves. */
static uint64_t backoff_ms(struct mx_client *c, struct mx_call *call)
{
    uint64_t cap = c->backoff_min_ms;

    for (unsigned i = 0; i < call->failures && cap < c->backoff_max_ms; i++)
        cap *= 2;
    if (cap > c->backoff_max_ms)
        cap = c->backoff_max_ms;
    if (call->failures < UINT32_MAX)
        call->failures++;
    return c->backoff_min_ms + next_random(c) % (cap - c->backoff_min_ms + 1);
}

static int on_retry_timer(sd_event_source *s, uint64_t usec, void *userdata);

static int call_wait(struct mx_call *call, uint64_t delay_ms)
{
    struct mx_client *c = call->client;

    call->timer = sd_event_source_disable_unref(call->timer);
    return sd_event_add_time_relative(c->event, &call->timer, CLOCK_MONOTONIC, delay_ms * 1000u,
                                      MX_TIMER_ACCURACY_USEC, on_retry_timer, call);
}

/* Wait, or give up with r when even the timer cannot be made (out of memory). */
static void call_wait_or_finish(struct mx_call *call, uint64_t delay_ms, int r)
{
    if (call_wait(call, delay_ms) < 0)
        call_finish(call, r, NULL);
}

static int on_retry_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
    struct mx_call *call = userdata;
    int r;

    (void)s;
    (void)usec;
    call->timer = sd_event_source_disable_unref(call->timer);
    r = call_send(call);
    if (r == -EBUSY)
        /* Too many calls in flight right now: a local, passing condition. */
        call_wait_or_finish(call, backoff_ms(call->client, call), r);
    else if (r < 0)
        call_finish(call, r, NULL);
    return 0;
}

/* ---- The error policy ------------------------------------------------------------------- */

static bool is_transient(int error)
{
    return error == -ETIMEDOUT || error == -ECONNREFUSED || error == -ECONNRESET ||
           error == -EHOSTUNREACH || error == -EIO;
}

static int status_to_errno(long status)
{
    if (status >= 200 && status < 300)
        return 0;
    if (status == 401 || status == 403)
        return -EACCES;
    if (status == 404)
        return -ENOENT;
    if (status == 413)
        return -E2BIG;
    if (status >= 400 && status < 500)
        return -EINVAL;
    if (status >= 500 && status < 600)
        return -EIO;
    return -EPROTO; /* 1xx, 3xx (redirects are not followed), nonsense */
}

/* A transient failure of an MX_RETRY request: warn once per request, then keep quiet. */
static void retry_later(struct mx_call *call, long status, int error)
{
    if (!call->warned) {
        call->warned = true;
        if (status > 0)
            log_warning("%s %s: HTTP %ld from the homeserver; retrying with backoff", call->method,
                        call->path, status);
        else
            (void)log_warning_errno(error, "%s %s: %m; retrying with backoff", call->method,
                                    call->path);
    }
    call_wait_or_finish(call, backoff_ms(call->client, call), error < 0 ? error : -EIO);
}

/* 429: the Retry-After header, else the body's retry_after_ms, else our own backoff. */
static uint64_t rate_limit_wait(struct mx_call *call, const struct http_response *resp,
                                const struct json_doc *doc)
{
    int64_t ms = resp->retry_after_ms;

    if (ms < 0 && (!doc || json_get_int64(doc, 0, "retry_after_ms", &ms) < 0 || ms < 0))
        return backoff_ms(call->client, call);
    if ((uint64_t)ms > MX_RATE_LIMIT_MAX_MS)
        return MX_RATE_LIMIT_MAX_MS;
    return (uint64_t)ms < MX_RATE_LIMIT_FLOOR_MS ? MX_RATE_LIMIT_FLOOR_MS : (uint64_t)ms;
}

/* M_UNKNOWN_TOKEN on an authenticated request: park it until a new token comes, and ask
 * the owner for one (once, however many requests hit the error meanwhile). */
static void token_rejected(struct mx_call *call, const struct json_doc *doc)
{
    struct mx_client *c = call->client;
    bool soft = false;

    if (call->token_gen != c->token_gen && c->token) {
        /* A new token arrived while this request was in flight with the old one. */
        call_wait_or_finish(call, 0, -EACCES);
        return;
    }
    call->parked = true;
    if (c->token_wanted)
        return;
    c->token_wanted = true;
    if (json_get_bool(doc, 0, "soft_logout", &soft) < 0)
        soft = false;
    /* Last statement: the owner may free the client from inside. */
    c->on_unknown_token(c, soft, c->unknown_token_userdata);
}

static void on_http_done(const struct http_response *resp, void *userdata)
{
    struct mx_call *call = userdata;
    struct mx_client *c = call->client;
    _cleanup_(json_doc_freep) struct json_doc *doc = NULL;
    _cleanup_free_ char *errcode = NULL, *error = NULL;
    struct mx_result res = {.status = resp->status};
    int r;

    call->http = NULL;
    if (resp->error < 0) {
        if ((call->flags & MX_RETRY) && is_transient(resp->error))
            retry_later(call, 0, resp->error);
        else
            call_finish(call, resp->error, NULL);
        return;
    }

    /* Whatever the Content-Type says, the body is JSON or it is nothing to us: an HTML
     * error page from a proxy simply leaves doc NULL. */
    if (resp->body_len > 0 && json_parse(resp->body, resp->body_len, call->max_tokens, &doc) >= 0) {
        if (json_type(doc, 0) == JSON_OBJECT) {
            (void)json_get_string(doc, 0, "errcode", &errcode);
            (void)json_get_string(doc, 0, "error", &error);
        } else {
            /* Every answer of the API is an object; anything else is nothing to us. */
            json_doc_free(TAKE_PTR(doc));
        }
    }

    if (resp->status == 429 || (errcode && streq(errcode, "M_LIMIT_EXCEEDED"))) {
        log_debug("%s %s: rate limited", call->method, call->path);
        call_wait_or_finish(call, rate_limit_wait(call, resp, doc), -EBUSY);
        return;
    }
    if (resp->status == 401 && errcode && streq(errcode, "M_UNKNOWN_TOKEN") &&
        (call->flags & MX_AUTH) && c->on_unknown_token) {
        token_rejected(call, doc);
        return;
    }
    if (resp->status >= 500 && resp->status < 600 && (call->flags & MX_RETRY)) {
        retry_later(call, resp->status, -EIO);
        return;
    }

    r = status_to_errno(resp->status);
    if (r == 0 && !doc)
        r = -EBADMSG;
    if (call->warned)
        log_info("%s %s: the homeserver answers again", call->method, call->path);
    res.errcode = errcode;
    res.error = error;
    res.doc = doc;
    res.body = resp->body;
    res.body_len = resp->body_len;
    call_finish(call, r, &res);
}

/* ---- Starting requests ------------------------------------------------------------------ */

static int call_new(struct mx_client *c, const struct mx_call_args *a, struct mx_call **ret)
{
    _cleanup_(call_freep) struct mx_call *call = NULL;
    size_t body_len = a->body ? (a->body_len ? a->body_len : strlen(a->body)) : 0;
    const char *q;

    call = calloc(1, sizeof(*call));
    if (!call)
        return -ENOMEM;
    call->client = c;
    call->fd = a->fd > 0 ? a->fd : -EBADF;
    call->fd_size = a->fd_size;
    call->flags = a->flags;
    call->method = strdup(a->method);
    q = strchr(a->path, '?');
    call->path = strndup(a->path, q ? (size_t)(q - a->path) : strlen(a->path));
    if (asprintf(&call->url, "%s%s", c->base_url, a->path) < 0)
        call->url = NULL;
    if (a->body) {
        call->body = malloc(body_len + 1);
        if (call->body) {
            memcpy(call->body, a->body, body_len);
            call->body[body_len] = '\0';
            call->body_len = body_len;
        }
    }
    if (a->content_type || a->body)
        call->content_type = strdup(a->content_type ? a->content_type : "application/json");
    if (!call->method || !call->path || !call->url || (a->body && !call->body) ||
        ((a->content_type || a->body) && !call->content_type))
        return -ENOMEM;

    if (a->flags & MX_SYNC) {
        call->max_response = SYNC_MAX_BODY;
        call->max_tokens = SYNC_MAX_TOKENS;
    } else {
        call->max_response = c->max_response;
        call->max_tokens = MX_MAX_TOKENS;
    }
    call->timeout_ms = a->timeout_ms ? a->timeout_ms : c->timeout_ms;
    *ret = TAKE_PTR(call);
    return 0;
}

int mx_start(struct mx_client *c, const struct mx_call_args *a, mx_done_t done, void *userdata,
             mx_cancel_t cancel)
{
    _cleanup_(call_freep) struct mx_call *call = NULL;
    int r;

    assert(c);
    assert(a);
    assert(done);

    if (!a->method || !a->path || a->path[0] != '/' || strlen(a->path) >= MX_MAX_PATH)
        return -EINVAL;
    r = call_new(c, a, &call);
    if (r < 0)
        return r;
    call->done = done;
    call->userdata = userdata;
    call->cancel = cancel;
    r = call_send(call);
    if (r < 0)
        return r;
    call->next = c->calls;
    if (call->next)
        call->next->prev = call;
    c->calls = TAKE_PTR(call);
    return 0;
}

int mx_request(struct mx_client *c, const char *method, const char *path, const char *body,
               unsigned flags, mx_done_t done, void *userdata)
{
    struct mx_call_args a = {.method = method, .path = path, .body = body, .flags = flags};

    return mx_start(c, &a, done, userdata, NULL);
}

/* ---- The client ------------------------------------------------------------------------- */

static int base_url_copy(const char *url, char **ret)
{
    size_t n;

    if (!url || (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0))
        return -EINVAL;
    n = strnlen(url, MX_MAX_BASE_URL + 1);
    if (n > MX_MAX_BASE_URL || strpbrk(url, " \t\r\n?#"))
        return -EINVAL;
    while (n > 0 && url[n - 1] == '/')
        n--;
    *ret = strndup(url, n);
    return *ret ? 0 : -ENOMEM;
}

int mx_client_new(sd_event *event, const struct mx_client_options *opts, struct mx_client **ret)
{
    _cleanup_(mx_client_freep) struct mx_client *c = NULL;
    int r;

    assert(event);
    assert(opts);
    assert(ret);

    c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    c->event = sd_event_ref(event);
    r = base_url_copy(opts->base_url, &c->base_url);
    if (r < 0)
        return r;
    r = http_new(event, &c->http);
    if (r < 0)
        return r;
    c->backoff_min_ms = opts->backoff_min_ms ? opts->backoff_min_ms : MX_DEFAULT_BACKOFF_MIN_MS;
    c->backoff_max_ms = opts->backoff_max_ms ? opts->backoff_max_ms : MX_DEFAULT_BACKOFF_MAX_MS;
    if (c->backoff_max_ms < c->backoff_min_ms)
        c->backoff_max_ms = c->backoff_min_ms;
    c->timeout_ms = opts->timeout_ms ? opts->timeout_ms : HTTP_DEFAULT_TIMEOUT_MS;
    c->max_response = opts->max_response ? opts->max_response : MX_DEFAULT_MAX_RESPONSE;
    if (getrandom(&c->rng, sizeof(c->rng), GRND_NONBLOCK) != sizeof(c->rng))
        c->rng = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    if (c->rng == 0)
        c->rng = 0x9e3779b97f4a7c15u; /* xorshift must not start at 0 */
    *ret = TAKE_PTR(c);
    return 0;
}

struct mx_client *mx_client_free(struct mx_client *c)
{
    struct mx_call *call;

    if (!c)
        return NULL;
    while ((call = c->calls)) {
        call_unlink(call);
        if (call->cancel)
            call->cancel(call->userdata);
        call_free(call);
    }
    http_free(c->http);
    free(c->base_url);
    wipe_string(c->token);
    free(c->token);
    sd_event_unref(c->event);
    free(c);
    return NULL;
}

size_t mx_cancel(struct mx_client *c, void *userdata)
{
    struct mx_call *call, *next;
    size_t n = 0;

    assert(c);
    for (call = c->calls; call; call = next) {
        next = call->next;
        if (call->userdata != userdata)
            continue;
        call_unlink(call);
        call_free(call);
        n++;
    }
    return n;
}

void mx_client_set_token(struct mx_client *c, const char *access_token)
{
    char *t = NULL;

    assert(c);
    if (access_token) {
        t = strdup(access_token);
        if (!t)
            return; /* keep the old token: the requests using it fail and ask again */
    }
    wipe_string(c->token);
    free(c->token);
    c->token = t;
    c->token_gen++;
    c->token_wanted = false;
    if (!t)
        return;
    /* Send the parked requests again from the event loop, not from inside this call. */
    for (struct mx_call *call = c->calls; call; call = call->next)
        if (call->parked && call_wait(call, 0) >= 0)
            call->parked = false;
}

void mx_client_on_unknown_token(struct mx_client *c, mx_unknown_token_t cb, void *userdata)
{
    assert(c);
    c->on_unknown_token = cb;
    c->unknown_token_userdata = userdata;
}
