/* The status endpoint's server: routing and replies (pure functions), the published documents
 * (refcounted snapshots), and libmicrohttpd on its own thread with every limit named below.
 *
 * Threads. libmicrohttpd runs one internal polling thread (epoll, else poll) that accepts,
 * parses and answers; a second small thread of ours (the reaper) enforces a lifetime on
 * connections. The supervisor's thread only calls status_http_publish(). The three share
 * two things: the current snapshot pointer (under s->lock) and the connection table (under
 * s->lock too). Nothing on the server threads logs: util/log.c is single-threaded by design,
 * and its observer feeds the supervisor's state. So libmicrohttpd's own error log is off, and
 * failures reach the supervisor only as return values of start and publish.
 *
 * Snapshots. A publish copies both documents into one immutable, refcounted block and swaps
 * the pointer. A request takes a reference under the lock (a pointer copy and an increment),
 * and its response drops it when libmicrohttpd destroys the response, so a client reading
 * slowly holds an old block, never the lock, and publishing never waits for a client.
 *
 * Library. libmicrohttpd is loaded by status_http_start() (supervisor/mhd_dl.c), so only the
 * supervisor maps it; every call into it goes through that table. */
#include "supervisor/status_http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "supervisor/mhd_dl.h"
#include "util/utf8.h"

/* At most this many connections at once; libmicrohttpd leaves further ones waiting in the
 * listen queue. The health timer and a Prometheus scrape use one each and an operator's curl
 * another: 64 is ample, and bounds what a flood can pin (64 descriptors, 64 x 16 KiB of
 * request memory = 1 MiB). */
#define STATUS_HTTP_CONNECTION_LIMIT 64

/* At most this many from one address: a quarter of the slots, so one peer alone cannot take
 * them all and lock out the health check arriving from another address. (All local
 * processes share 127.0.0.1 unless they bind another 127/8 address: see docs/operations.md.)
 * Past it libmicrohttpd accepts and closes at once. */
#define STATUS_HTTP_PER_IP_LIMIT 16

/* A connection silent this long is closed. `botrunner health` gives up after 5 s in all:
 * a peer that has sent nothing for as long is not a client we serve. */
#define STATUS_HTTP_IDLE_TIMEOUT_S 5

/* A connection open this long is shut down whatever it is doing. libmicrohttpd's timeout
 * counts idle time and every byte resets it, so a client dribbling one header byte a second
 * would keep its slot for ever (slowloris); this bound is ours (the reaper). An answer takes
 * milliseconds on loopback: 10 s is twice the health client's whole budget. */
#define STATUS_HTTP_LIFETIME_MS 10000

/* How often the reaper looks; a slowloris connection lives at most LIFETIME + this. */
#define STATUS_HTTP_REAP_INTERVAL_MS 500

/* Memory for one connection's request line and headers (libmicrohttpd's pool; the response
 * body is sent from our snapshot, not copied into it). A GET from curl or Prometheus is a few
 * hundred bytes; past 16 KiB libmicrohttpd answers 431 (headers) or 414 (URL) and closes. */
#define STATUS_HTTP_MEMORY_LIMIT (16u * 1024u)

/* Connections the kernel queues before we accept them. A burst waits there instead of having
 * its SYNs dropped (a dropped SYN costs a client a 1 s retransmission, a health check its
 * deadline); the kernel caps it at net.core.somaxconn, and it costs no memory of ours. */
#define STATUS_HTTP_BACKLOG 1024

#define CONTENT_TYPE_JSON    "application/json"
#define CONTENT_TYPE_METRICS "text/plain; version=0.0.4; charset=utf-8"
#define CONTENT_TYPE_TEXT    "text/plain; charset=utf-8"
#define ALLOWED_METHODS      "GET, HEAD"

static const char version_body[] = "{\"version\":\"" BOTRUNNER_VERSION "\"}";
static const char not_found_body[] = "not found\n";
static const char not_allowed_body[] = "method not allowed: only GET and HEAD\n";
static const char body_refused_body[] = "request bodies are not accepted\n";
static const char not_ready_body[] = "the supervisor has not published its status yet\n";

/* ---- Routing and replies ----------------------------------------------------------------- */

enum status_route status_route(const char *method, const char *url)
{
    static const struct {
        const char *path;
        enum status_route route;
    } routes[] = {
            {STATUS_PATH_VERSION, STATUS_ROUTE_VERSION},
            {STATUS_PATH_STATUS, STATUS_ROUTE_STATUS},
            {STATUS_PATH_METRICS, STATUS_ROUTE_METRICS},
    };
    size_t path_len;

    if (!method || !url)
        return STATUS_ROUTE_NOT_FOUND;
    path_len = strcspn(url, "?");
    for (size_t i = 0; i < ELEMENTSOF(routes); i++) {
        if (strlen(routes[i].path) != path_len || memcmp(url, routes[i].path, path_len) != 0)
            continue;
        if (streq(method, "GET") || streq(method, "HEAD"))
            return routes[i].route;
        return STATUS_ROUTE_METHOD_NOT_ALLOWED;
    }
    return STATUS_ROUTE_NOT_FOUND;
}

static void reply_text(struct status_reply *r, unsigned code, const char *body, size_t len)
{
    *r = (struct status_reply){
            .code = code, .content_type = CONTENT_TYPE_TEXT, .body = body, .body_len = len};
}

void status_reply_build(enum status_route route, bool has_body, const struct status_docs *docs,
                        struct status_reply *ret)
{
    switch (route) {
    case STATUS_ROUTE_NOT_FOUND:
        reply_text(ret, 404, not_found_body, sizeof(not_found_body) - 1);
        return;
    case STATUS_ROUTE_METHOD_NOT_ALLOWED:
        reply_text(ret, 405, not_allowed_body, sizeof(not_allowed_body) - 1);
        ret->allow = ALLOWED_METHODS;
        return;
    case STATUS_ROUTE_VERSION:
    case STATUS_ROUTE_STATUS:
    case STATUS_ROUTE_METRICS:
        break;
    }
    if (has_body) {
        reply_text(ret, 413, body_refused_body, sizeof(body_refused_body) - 1);
        return;
    }
    if (route == STATUS_ROUTE_VERSION) {
        *ret = (struct status_reply){.code = 200,
                                     .content_type = CONTENT_TYPE_JSON,
                                     .body = version_body,
                                     .body_len = sizeof(version_body) - 1};
        return;
    }
    if (!docs) {
        reply_text(ret, 503, not_ready_body, sizeof(not_ready_body) - 1);
        return;
    }
    if (route == STATUS_ROUTE_STATUS)
        *ret = (struct status_reply){.code = 200,
                                     .content_type = CONTENT_TYPE_JSON,
                                     .body = docs->status_json,
                                     .body_len = docs->status_len};
    else
        *ret = (struct status_reply){.code = 200,
                                     .content_type = CONTENT_TYPE_METRICS,
                                     .body = docs->metrics_text,
                                     .body_len = docs->metrics_len};
}

/* ---- Snapshots --------------------------------------------------------------------------- */

struct snapshot {
    atomic_uint refs;
    struct status_docs docs;
    char text[]; /* status JSON, NUL, metrics text, NUL */
};

static struct snapshot *snapshot_ref(struct snapshot *snap)
{
    atomic_fetch_add_explicit(&snap->refs, 1, memory_order_relaxed);
    return snap;
}

static void snapshot_unref(struct snapshot *snap)
{
    if (snap && atomic_fetch_sub_explicit(&snap->refs, 1, memory_order_acq_rel) == 1)
        free(snap);
}

/* libmicrohttpd's free callback of a response body. */
static void snapshot_unref_cb(void *userdata)
{
    snapshot_unref(userdata);
}

static int snapshot_new(const char *status_json, const char *metrics_text, struct snapshot **ret)
{
    size_t slen = strnlen(status_json, STATUS_HTTP_MAX_DOC + 1);
    size_t mlen = strnlen(metrics_text, STATUS_HTTP_MAX_DOC + 1);
    struct snapshot *snap;

    if (slen > STATUS_HTTP_MAX_DOC || mlen > STATUS_HTTP_MAX_DOC)
        return -E2BIG;
    if (!utf8_is_valid(status_json, slen) || !utf8_is_valid(metrics_text, mlen))
        return -EILSEQ;
    snap = malloc(sizeof(*snap) + slen + 1 + mlen + 1);
    if (!snap)
        return -ENOMEM;
    atomic_init(&snap->refs, 1);
    memcpy(snap->text, status_json, slen + 1);
    memcpy(snap->text + slen + 1, metrics_text, mlen + 1);
    snap->docs = (struct status_docs){.status_json = snap->text,
                                      .status_len = slen,
                                      .metrics_text = snap->text + slen + 1,
                                      .metrics_len = mlen};
    *ret = snap;
    return 0;
}

/* ---- The server -------------------------------------------------------------------------- */

/* One open connection, for the reaper. */
struct conn_slot {
    bool used, reaped;
    int fd;
    uint64_t opened_ms;
};

struct status_http {
    const struct mhd_dl *mhd;
    struct MHD_Daemon *daemon;
    uint16_t port;

    pthread_mutex_t lock;
    struct snapshot *current; /* NULL until the first publish */
    /* libmicrohttpd admits at most CONNECTION_LIMIT connections, and tells us of a close
     * before it closes the descriptor, so this table never overflows and never names a
     * descriptor that was reused. */
    struct conn_slot conns[STATUS_HTTP_CONNECTION_LIMIT];

    pthread_t reaper;
    bool reaper_started, stopping;
    pthread_cond_t wake;
};

static uint64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Shut down connections past their lifetime. shutdown() rather than close(): the descriptor
 * stays libmicrohttpd's; its loop sees the end of the stream and closes it the usual way. */
static void *reaper_thread(void *userdata)
{
    struct status_http *s = userdata;

    pthread_mutex_lock(&s->lock);
    while (!s->stopping) {
        uint64_t now = now_ms(), wake_at = now + STATUS_HTTP_REAP_INTERVAL_MS;
        struct timespec ts = {.tv_sec = (time_t)(wake_at / 1000u),
                              .tv_nsec = (long)(wake_at % 1000u) * 1000000L};

        for (size_t i = 0; i < ELEMENTSOF(s->conns); i++) {
            struct conn_slot *c = &s->conns[i];

            if (c->used && !c->reaped && now - c->opened_ms >= STATUS_HTTP_LIFETIME_MS) {
                (void)shutdown(c->fd, SHUT_RDWR);
                c->reaped = true;
            }
        }
        (void)pthread_cond_timedwait(&s->wake, &s->lock, &ts);
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

static void on_connection(void *cls, struct MHD_Connection *connection, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    struct status_http *s = cls;
    const union MHD_ConnectionInfo *info;

    pthread_mutex_lock(&s->lock);
    if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        struct conn_slot *c = *socket_context;

        if (c)
            *c = (struct conn_slot){0};
        *socket_context = NULL;
    } else if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        info = s->mhd->get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);
        for (size_t i = 0; info && i < ELEMENTSOF(s->conns); i++) {
            if (s->conns[i].used)
                continue;
            s->conns[i] =
                    (struct conn_slot){.used = true, .fd = info->connect_fd, .opened_ms = now_ms()};
            *socket_context = &s->conns[i];
            break;
        }
    }
    pthread_mutex_unlock(&s->lock);
}

/* A request announces a body by either header (RFC 9112 section 6). */
static bool request_has_body(const struct mhd_dl *mhd, struct MHD_Connection *connection)
{
    const char *length = mhd->lookup_connection_value(connection, MHD_HEADER_KIND,
                                                      MHD_HTTP_HEADER_CONTENT_LENGTH);

    if (mhd->lookup_connection_value(connection, MHD_HEADER_KIND,
                                     MHD_HTTP_HEADER_TRANSFER_ENCODING))
        return true;
    return length && strspn(length, "0") != strlen(length);
}

static struct MHD_Response *response_new(const struct mhd_dl *mhd, const struct status_reply *reply,
                                         struct snapshot *snap)
{
    struct MHD_Response *resp;
    void *body = (void *)reply->body;
    bool from_snap = snap && (reply->body == snap->docs.status_json ||
                              reply->body == snap->docs.metrics_text);

    if (from_snap) {
        resp = mhd->create_response_from_buffer_with_free_callback_cls(reply->body_len, body,
                                                                       snapshot_unref_cb, snap);
        if (!resp)
            snapshot_unref(snap);
    } else {
        snapshot_unref(snap);
        resp = mhd->create_response_from_buffer(reply->body_len, body, MHD_RESPMEM_PERSISTENT);
    }
    if (!resp)
        return NULL;
    if (mhd->add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, reply->content_type) !=
                MHD_YES ||
        mhd->add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store") != MHD_YES ||
        mhd->add_response_header(resp, "X-Content-Type-Options", "nosniff") != MHD_YES ||
        (reply->allow &&
         mhd->add_response_header(resp, MHD_HTTP_HEADER_ALLOW, reply->allow) != MHD_YES) ||
        (reply->code == 413 &&
         mhd->add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close") != MHD_YES)) {
        mhd->destroy_response(resp);
        return NULL;
    }
    return resp;
}

/* Every request is answered at its first call, before any body is read: there is nothing to
 * read (a body is refused), and libmicrohttpd then discards the rest and closes. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *connection, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **req_cls)
{
    struct status_http *s = cls;
    enum status_route route = status_route(method, url);
    struct snapshot *snap = NULL;
    struct status_reply reply;
    struct MHD_Response *resp;
    enum MHD_Result r;

    (void)version;
    (void)upload_data;
    (void)upload_data_size;
    (void)req_cls;
    if (route == STATUS_ROUTE_STATUS || route == STATUS_ROUTE_METRICS) {
        pthread_mutex_lock(&s->lock);
        if (s->current)
            snap = snapshot_ref(s->current);
        pthread_mutex_unlock(&s->lock);
    }
    status_reply_build(route, request_has_body(s->mhd, connection), snap ? &snap->docs : NULL,
                       &reply);
    resp = response_new(s->mhd, &reply, snap); /* takes the reference */
    if (!resp)
        return MHD_NO; /* out of memory: libmicrohttpd closes the connection */
    r = s->mhd->queue_response(connection, reply.code, resp);
    s->mhd->destroy_response(resp);
    return r;
}

/* Paths are compared as sent: no percent-decoding (see status_route()). */
static size_t unescape_none(void *cls, struct MHD_Connection *connection, char *s)
{
    (void)cls;
    (void)connection;
    return strlen(s);
}

/* A listening socket bound to exactly address:port. We bind it ourselves, rather than through
 * MHD_OPTION_SOCK_ADDR, to report the bind's own errno and read back a port chosen by the
 * kernel; an IPv6 socket is IPv6-only, so "::1" does not also listen on IPv4. */
static int listen_socket(const char *address, uint16_t port, bool *ret_ipv6, int *ret_fd)
{
    struct sockaddr_storage ss = {0};
    struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
    socklen_t len;
    _cleanup_close_ int fd = -EBADF;
    int one = 1;

    if (inet_pton(AF_INET, address, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        sin->sin_port = htons(port);
        len = sizeof(*sin);
    } else if (inet_pton(AF_INET6, address, &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(port);
        len = sizeof(*sin6);
    } else
        return -EINVAL;
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return negative_errno();
    /* A restart must not wait out the previous process's TIME_WAIT connections. */
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
        return negative_errno();
    if (ss.ss_family == AF_INET6 &&
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0)
        return negative_errno();
    if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, STATUS_HTTP_BACKLOG) < 0)
        return negative_errno();
    *ret_ipv6 = ss.ss_family == AF_INET6;
    *ret_fd = TAKE_FD(fd);
    return 0;
}

static uint16_t socket_port(int fd)
{
    union {
        struct sockaddr sa;
        struct sockaddr_in in;
        struct sockaddr_in6 in6;
    } u = {0};
    socklen_t len = sizeof(u);

    if (getsockname(fd, &u.sa, &len) < 0)
        return 0;
    return ntohs(u.sa.sa_family == AF_INET6 ? u.in6.sin6_port : u.in.sin_port);
}

static int reaper_start(struct status_http *s)
{
    pthread_condattr_t attr;
    int r;

    if (pthread_condattr_init(&attr) != 0)
        return -ENOMEM;
    r = -pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    if (r == 0)
        r = -pthread_cond_init(&s->wake, &attr);
    pthread_condattr_destroy(&attr);
    if (r < 0)
        return r;
    r = -pthread_create(&s->reaper, NULL, reaper_thread, s);
    if (r < 0) {
        pthread_cond_destroy(&s->wake);
        return r;
    }
    s->reaper_started = true;
    return 0;
}

/* epoll where libmicrohttpd was built with it, else poll; never select(), which cannot watch
 * a descriptor numbered past 1023. */
static unsigned daemon_flags(const struct mhd_dl *mhd, bool ipv6)
{
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD;

    flags |= mhd->is_feature_supported(MHD_FEATURE_EPOLL) == MHD_YES ? MHD_USE_EPOLL : MHD_USE_POLL;
    if (ipv6)
        flags |= MHD_USE_IPv6;
    return flags;
}

int status_http_start(const char *address, uint16_t port, struct status_http **ret)
{
    _cleanup_(status_http_stopp) struct status_http *s = NULL;
    const struct mhd_dl *mhd;
    bool ipv6 = false;
    int fd = -EBADF, r;

    if (!address || !ret)
        return -EINVAL;
    r = mhd_dl_load(&mhd);
    if (r < 0)
        return r;
    s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->mhd = mhd;
    r = -pthread_mutex_init(&s->lock, NULL);
    if (r < 0) {
        free(TAKE_PTR(s));
        return r;
    }
    r = reaper_start(s);
    if (r < 0)
        return r;
    r = listen_socket(address, port, &ipv6, &fd);
    if (r < 0)
        return r;
    s->port = socket_port(fd);
    /* From here the socket is libmicrohttpd's: it closes it when it stops, and on each of its
     * start-up failures after taking it. */
    s->daemon = mhd->start_daemon(
            daemon_flags(mhd, ipv6), 0, NULL, NULL, on_request, s, MHD_OPTION_LISTEN_SOCKET, fd,
            MHD_OPTION_CONNECTION_LIMIT, (unsigned)STATUS_HTTP_CONNECTION_LIMIT,
            MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)STATUS_HTTP_PER_IP_LIMIT,
            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)STATUS_HTTP_IDLE_TIMEOUT_S,
            MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)STATUS_HTTP_MEMORY_LIMIT,
            MHD_OPTION_NOTIFY_CONNECTION, on_connection, s, MHD_OPTION_UNESCAPE_CALLBACK,
            unescape_none, NULL,
            /* Strict parsing: our clients (curl, Prometheus) send well-formed requests, and a
             * sloppy one is refused with 400 rather than interpreted. */
            MHD_OPTION_STRICT_FOR_CLIENT, 1, MHD_OPTION_END);
    if (!s->daemon)
        return -EIO;
    *ret = TAKE_PTR(s);
    return 0;
}

void status_http_stop(struct status_http *s)
{
    if (!s)
        return;
    if (s->reaper_started) {
        pthread_mutex_lock(&s->lock);
        s->stopping = true;
        pthread_cond_signal(&s->wake);
        pthread_mutex_unlock(&s->lock);
        pthread_join(s->reaper, NULL);
        pthread_cond_destroy(&s->wake);
    }
    /* Closes every connection; each response drops its snapshot reference as it goes. */
    if (s->daemon)
        s->mhd->stop_daemon(s->daemon);
    snapshot_unref(s->current);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

uint16_t status_http_port(const struct status_http *s)
{
    return s->port;
}

int status_http_publish(struct status_http *s, const char *status_json, const char *metrics_text)
{
    struct snapshot *snap, *old;
    int r;

    if (!s || !status_json || !metrics_text)
        return -EINVAL;
    r = snapshot_new(status_json, metrics_text, &snap);
    if (r < 0)
        return r;
    pthread_mutex_lock(&s->lock);
    old = s->current;
    s->current = snap;
    pthread_mutex_unlock(&s->lock);
    /* Freed here only when no response holds it; else by the last response that does. */
    snapshot_unref(old);
    return 0;
}
