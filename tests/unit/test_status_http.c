/* Unit tests for supervisor/status_http: the pure router and reply builder, then the server
 * on loopback through raw sockets: routes, methods, publishing under load, and hostile peers
 * (slowloris, oversized headers, a 2000-connection flood, garbage). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "fake_http.h"
#include "supervisor/status_http.h"

/* A test must never hang on the server; past the server's idle timeout (5 s), so a peer it
 * closes for silence is seen closed, not timed out. */
#define IO_TIMEOUT_MS 8000
#define RESP_MAX      (8u * 1024u * 1024u)

/* The limits of status_http.c, as seen from outside. */
#define PER_IP_LIMIT 16
#define LIFETIME_MS  10000
#define IDLE_MS      5000

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN 0
#endif

static const char doc_a[] = "{\"service_status\":\"healthy\",\"n\":1}";
static const char metrics_a[] = "# TYPE botrunner_up gauge\nbotrunner_up 1\n";

/* ---- A raw HTTP client ------------------------------------------------------------------- */

struct resp {
    int code; /* 0: the server closed without a status line */
    char *raw;
    size_t len;
    const char *body;
    size_t body_len;
};

static void resp_done(struct resp *r)
{
    free(r->raw);
    memset(r, 0, sizeof(*r));
}

/* A connected socket to 127.0.0.1:port, from src (an address on lo) when not NULL. */
static int connect_from(const char *src, uint16_t port, bool nonblock)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);

    assert_true(fd >= 0);
    if (src) {
        struct sockaddr_in from = {.sin_family = AF_INET};

        assert_int_equal(inet_pton(AF_INET, src, &from.sin_addr), 1);
        assert_int_equal(bind(fd, (struct sockaddr *)&from, sizeof(from)), 0);
    }
    assert_int_equal(inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr), 1);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS) {
        close(fd);
        return -errno;
    }
    return fd;
}

static bool wait_fd(int fd, short events, int timeout_ms)
{
    struct pollfd p = {.fd = fd, .events = events};

    return poll(&p, 1, timeout_ms) == 1;
}

static void send_all(int fd, const void *data, size_t len)
{
    const char *p = data;

    while (len > 0) {
        ssize_t k = send(fd, p, len, MSG_NOSIGNAL);

        if (k < 0 && (errno == EAGAIN || errno == EINTR)) {
            if (!wait_fd(fd, POLLOUT, IO_TIMEOUT_MS))
                return;
            continue;
        }
        if (k <= 0)
            return; /* the server may close on us: the test looks at the answer */
        p += k;
        len -= (size_t)k;
    }
}

/* Read until the server closes (every request of ours says Connection: close) and parse the
 * status line, the head and the body. */
static void read_resp(int fd, struct resp *r)
{
    size_t cap = 65536;
    char *end;

    memset(r, 0, sizeof(*r));
    r->raw = malloc(cap + 1);
    assert_non_null(r->raw);
    for (;;) {
        ssize_t k;

        if (!wait_fd(fd, POLLIN, IO_TIMEOUT_MS))
            fail_msg("no answer within %d ms", IO_TIMEOUT_MS);
        k = recv(fd, r->raw + r->len, cap - r->len, 0);
        if (k <= 0)
            break; /* closed, or reset */
        r->len += (size_t)k;
        if (r->len == cap) {
            assert_true(cap < RESP_MAX);
            cap *= 2;
            r->raw = realloc(r->raw, cap + 1);
            assert_non_null(r->raw);
        }
    }
    r->raw[r->len] = '\0';
    if (r->len < 12 || strncmp(r->raw, "HTTP/1.", 7) != 0)
        return;
    r->code = atoi(r->raw + 9);
    end = strstr(r->raw, "\r\n\r\n");
    if (end) {
        r->body = end + 4;
        r->body_len = r->len - (size_t)(r->body - r->raw);
    }
}

static void request_from(const char *src, uint16_t port, const char *req, size_t len,
                         struct resp *r)
{
    int fd = connect_from(src, port, false);

    assert_true(fd >= 0);
    send_all(fd, req, len);
    read_resp(fd, r);
    close(fd);
}

static void request(uint16_t port, const char *method, const char *path, struct resp *r)
{
    char *req = NULL;
    int n = asprintf(&req, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", method,
                     path);

    assert_true(n > 0);
    request_from(NULL, port, req, (size_t)n, r);
    free(req);
}

/* The value of header name in r's head, copied into buf; NULL when absent. */
static const char *header(const struct resp *r, const char *name, char *buf, size_t cap)
{
    size_t n = strlen(name);
    const char *line = strstr(r->raw, "\r\n");

    while (line && line + 2 < r->body - 2) {
        const char *p = line + 2, *eol = strstr(p, "\r\n");

        if (!eol)
            break;
        if ((size_t)(eol - p) > n && p[n] == ':' && strncasecmp(p, name, n) == 0) {
            p += n + 1;
            while (*p == ' ')
                p++;
            (void)snprintf(buf, cap, "%.*s", (int)(eol - p), p);
            return buf;
        }
        line = eol;
    }
    return NULL;
}

static void assert_header(const struct resp *r, const char *name, const char *want)
{
    char buf[256];
    const char *v = header(r, name, buf, sizeof(buf));

    if (!v)
        fail_msg("no %s header in:\n%s", name, r->raw);
    assert_string_equal(v, want);
}

static void assert_common_headers(const struct resp *r)
{
    assert_header(r, "Cache-Control", "no-store");
    assert_header(r, "X-Content-Type-Options", "nosniff");
}

static bool body_is(const struct resp *r, const char *want)
{
    return r->body && r->body_len == strlen(want) && memcmp(r->body, want, r->body_len) == 0;
}

/* ---- The pure part ----------------------------------------------------------------------- */

static void test_route(void **state)
{
    static const struct {
        const char *method, *url;
        enum status_route want;
    } cases[] = {
            {"GET", "/_matrix/maubot/v1/version", STATUS_ROUTE_VERSION},
            {"HEAD", "/_matrix/maubot/v1/version", STATUS_ROUTE_VERSION},
            {"GET", "/status", STATUS_ROUTE_STATUS},
            {"HEAD", "/status", STATUS_ROUTE_STATUS},
            {"GET", "/status?verbose=1&x", STATUS_ROUTE_STATUS},
            {"GET", "/status?", STATUS_ROUTE_STATUS},
            {"GET", "/metrics", STATUS_ROUTE_METRICS},
            {"GET", "/metrics?name[]=up", STATUS_ROUTE_METRICS},
            {"POST", "/status", STATUS_ROUTE_METHOD_NOT_ALLOWED},
            {"PUT", "/metrics", STATUS_ROUTE_METHOD_NOT_ALLOWED},
            {"DELETE", "/_matrix/maubot/v1/version", STATUS_ROUTE_METHOD_NOT_ALLOWED},
            {"OPTIONS", "/status", STATUS_ROUTE_METHOD_NOT_ALLOWED},
            {"get", "/status", STATUS_ROUTE_METHOD_NOT_ALLOWED},
            {"GETX", "/status", STATUS_ROUTE_METHOD_NOT_ALLOWED},
            {"", "/status", STATUS_ROUTE_METHOD_NOT_ALLOWED},
            {"GET", "/", STATUS_ROUTE_NOT_FOUND},
            {"GET", "", STATUS_ROUTE_NOT_FOUND},
            {"GET", "/status/", STATUS_ROUTE_NOT_FOUND},
            {"GET", "/statusx", STATUS_ROUTE_NOT_FOUND},
            {"GET", "/STATUS", STATUS_ROUTE_NOT_FOUND},
            {"GET", "/st%61tus", STATUS_ROUTE_NOT_FOUND},
            {"GET", "//status", STATUS_ROUTE_NOT_FOUND},
            {"GET", "http://127.0.0.1/status", STATUS_ROUTE_NOT_FOUND},
            {"GET", "/_matrix/maubot/v1/version/", STATUS_ROUTE_NOT_FOUND},
            {"GET", "/_matrix/maubot/v1/plugins", STATUS_ROUTE_NOT_FOUND},
            {"POST", "/nowhere", STATUS_ROUTE_NOT_FOUND},
            {"GET", "?/status", STATUS_ROUTE_NOT_FOUND},
            {NULL, "/status", STATUS_ROUTE_NOT_FOUND},
            {"GET", NULL, STATUS_ROUTE_NOT_FOUND},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        enum status_route got = status_route(cases[i].method, cases[i].url);

        if (got != cases[i].want)
            fail_msg("%s %s: route %d, want %d", cases[i].method ? cases[i].method : "(null)",
                     cases[i].url ? cases[i].url : "(null)", got, cases[i].want);
    }
}

static void test_reply_build(void **state)
{
    struct status_docs docs = {.status_json = doc_a,
                               .status_len = strlen(doc_a),
                               .metrics_text = metrics_a,
                               .metrics_len = strlen(metrics_a)};
    struct status_reply r;

    (void)state;
    status_reply_build(STATUS_ROUTE_STATUS, false, &docs, &r);
    assert_int_equal(r.code, 200);
    assert_string_equal(r.content_type, "application/json");
    assert_ptr_equal(r.body, doc_a);
    assert_int_equal(r.body_len, strlen(doc_a));
    assert_null(r.allow);

    status_reply_build(STATUS_ROUTE_METRICS, false, &docs, &r);
    assert_int_equal(r.code, 200);
    assert_string_equal(r.content_type, "text/plain; version=0.0.4; charset=utf-8");
    assert_ptr_equal(r.body, metrics_a);

    status_reply_build(STATUS_ROUTE_VERSION, false, NULL, &r);
    assert_int_equal(r.code, 200);
    assert_int_equal(r.body_len, strlen("{\"version\":\"" BOTRUNNER_VERSION "\"}"));
    assert_memory_equal(r.body, "{\"version\":\"" BOTRUNNER_VERSION "\"}", r.body_len);

    /* Nothing published yet. */
    status_reply_build(STATUS_ROUTE_STATUS, false, NULL, &r);
    assert_int_equal(r.code, 503);
    status_reply_build(STATUS_ROUTE_METRICS, false, NULL, &r);
    assert_int_equal(r.code, 503);

    status_reply_build(STATUS_ROUTE_NOT_FOUND, true, &docs, &r);
    assert_int_equal(r.code, 404);
    assert_null(r.allow);
    status_reply_build(STATUS_ROUTE_METHOD_NOT_ALLOWED, true, &docs, &r);
    assert_int_equal(r.code, 405);
    assert_string_equal(r.allow, "GET, HEAD");
    /* A body on a known route and method is refused, whatever the route. */
    status_reply_build(STATUS_ROUTE_VERSION, true, &docs, &r);
    assert_int_equal(r.code, 413);
    status_reply_build(STATUS_ROUTE_STATUS, true, &docs, &r);
    assert_int_equal(r.code, 413);
}

/* ---- The server: routes and documents ---------------------------------------------------- */

static struct status_http *start(void)
{
    struct status_http *s = NULL;

    assert_int_equal(status_http_start("127.0.0.1", 0, &s), 0);
    assert_non_null(s);
    assert_true(status_http_port(s) != 0);
    return s;
}

static void test_start_errors(void **state)
{
    struct status_http *s = NULL, *t = (struct status_http *)0x1;
    uint16_t port;

    (void)state;
    assert_int_equal(status_http_start("localhost", 0, &t), -EINVAL);
    assert_int_equal(status_http_start("127.0.0.1:80", 0, &t), -EINVAL);
    assert_int_equal(status_http_start("", 0, &t), -EINVAL);
    assert_int_equal(status_http_start(NULL, 0, &t), -EINVAL);
    assert_ptr_equal(t, (struct status_http *)0x1); /* untouched on failure */

    /* Exactly address:port: the same port again is taken, and says so. */
    s = start();
    port = status_http_port(s);
    assert_int_equal(status_http_start("127.0.0.1", port, &t), -EADDRINUSE);
    status_http_stop(s);
    /* ... and free again once stopped. */
    assert_int_equal(status_http_start("127.0.0.1", port, &s), 0);
    assert_int_equal(status_http_port(s), port);
    status_http_stop(s);
    status_http_stop(NULL);
}

static void test_ipv6(void **state)
{
    struct status_http *s = NULL;
    struct sockaddr_in6 sa = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    char buf[4096] = "";
    int fd, r;

    (void)state;
    r = status_http_start("::1", 0, &s);
    if (r == -EADDRNOTAVAIL || r == -EAFNOSUPPORT) {
        skip(); /* no IPv6 on this host */
        return;
    }
    assert_int_equal(r, 0);
    sa.sin6_port = htons(status_http_port(s));
    fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    send_all(fd, "GET /_matrix/maubot/v1/version HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
             strlen("GET /_matrix/maubot/v1/version HTTP/1.1\r\nHost: x\r\nConnection: "
                    "close\r\n\r\n"));
    assert_true(wait_fd(fd, POLLIN, IO_TIMEOUT_MS));
    assert_true(recv(fd, buf, sizeof(buf) - 1, 0) > 12);
    assert_memory_equal(buf, "HTTP/1.1 200", 12);
    close(fd);
    /* IPv6 only: nothing listens on 127.0.0.1 at that port. */
    assert_int_equal(connect_from(NULL, status_http_port(s), false), -ECONNREFUSED);
    status_http_stop(s);
}

static void test_routes(void **state)
{
    struct status_http *s = start();
    uint16_t port = status_http_port(s);
    struct resp r;
    char buf[64];

    (void)state;
    /* Before the first publish: the version answers, the documents are not there yet. */
    request(port, "GET", "/_matrix/maubot/v1/version", &r);
    assert_int_equal(r.code, 200);
    assert_true(body_is(&r, "{\"version\":\"" BOTRUNNER_VERSION "\"}"));
    assert_header(&r, "Content-Type", "application/json");
    assert_common_headers(&r);
    resp_done(&r);
    request(port, "GET", "/status", &r);
    assert_int_equal(r.code, 503);
    assert_common_headers(&r);
    resp_done(&r);

    assert_int_equal(status_http_publish(s, doc_a, metrics_a), 0);
    request(port, "GET", "/status", &r);
    assert_int_equal(r.code, 200);
    assert_true(body_is(&r, doc_a));
    assert_header(&r, "Content-Type", "application/json");
    assert_common_headers(&r);
    resp_done(&r);

    request(port, "GET", "/status?pretty=1", &r); /* the query is ignored */
    assert_int_equal(r.code, 200);
    assert_true(body_is(&r, doc_a));
    resp_done(&r);

    request(port, "GET", "/metrics", &r);
    assert_int_equal(r.code, 200);
    assert_true(body_is(&r, metrics_a));
    assert_header(&r, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
    assert_common_headers(&r);
    resp_done(&r);

    /* HEAD: the same head, Content-Length of the body, and no body. */
    request(port, "HEAD", "/status", &r);
    assert_int_equal(r.code, 200);
    assert_int_equal(r.body_len, 0);
    (void)snprintf(buf, sizeof(buf), "%zu", strlen(doc_a));
    assert_header(&r, "Content-Length", buf);
    assert_header(&r, "Content-Type", "application/json");
    assert_common_headers(&r);
    resp_done(&r);
    request(port, "HEAD", "/_matrix/maubot/v1/version", &r);
    assert_int_equal(r.code, 200);
    assert_int_equal(r.body_len, 0);
    resp_done(&r);

    /* Other methods on a known path: 405 naming what is allowed. */
    static const char *const methods[] = {"POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE"};
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        request(port, methods[i], "/status", &r);
        assert_int_equal(r.code, 405);
        assert_header(&r, "Allow", "GET, HEAD");
        assert_common_headers(&r);
        resp_done(&r);
    }
    request(port, "POST", "/_matrix/maubot/v1/version", &r);
    assert_int_equal(r.code, 405);
    assert_header(&r, "Allow", "GET, HEAD");
    resp_done(&r);

    /* Unknown paths, whatever the method. */
    static const char *const paths[] = {
            "/", "/status/", "/st%61tus", "/_matrix/maubot/v1/plugins", "/metrics.txt", "/STATUS"};
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        request(port, "GET", paths[i], &r);
        if (r.code != 404)
            fail_msg("GET %s: %d", paths[i], r.code);
        assert_common_headers(&r);
        resp_done(&r);
    }
    request(port, "DELETE", "/nowhere", &r);
    assert_int_equal(r.code, 404);
    resp_done(&r);
    status_http_stop(s);
}

static void test_request_bodies_refused(void **state)
{
    struct status_http *s = start();
    uint16_t port = status_http_port(s);
    static const char get_body[] =
            "GET /status HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello";
    static const char get_chunked[] = "GET /status HTTP/1.1\r\nHost: x\r\n"
                                      "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
    static const char post[] = "POST /status HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello";
    static const char get_zero[] = "GET /status HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
                                   "Connection: close\r\n\r\n";
    struct resp r;

    (void)state;
    assert_int_equal(status_http_publish(s, doc_a, metrics_a), 0);
    request_from(NULL, port, get_body, strlen(get_body), &r);
    assert_int_equal(r.code, 413);
    assert_header(&r, "Connection", "close");
    assert_common_headers(&r);
    resp_done(&r);
    request_from(NULL, port, get_chunked, strlen(get_chunked), &r);
    assert_int_equal(r.code, 413);
    resp_done(&r);
    request_from(NULL, port, post, strlen(post), &r);
    assert_int_equal(r.code, 405);
    resp_done(&r);
    /* An empty body is no body. */
    request_from(NULL, port, get_zero, strlen(get_zero), &r);
    assert_int_equal(r.code, 200);
    assert_true(body_is(&r, doc_a));
    resp_done(&r);
    status_http_stop(s);
}

static void test_publish(void **state)
{
    struct status_http *s = start();
    uint16_t port = status_http_port(s);
    static const char bad_utf8[] = "{\"x\":\"\xc3\x28\"}";
    char *big;
    struct resp r;

    (void)state;
    assert_int_equal(status_http_publish(s, doc_a, metrics_a), 0);
    assert_int_equal(status_http_publish(s, "{\"n\":2}", "up 2\n"), 0);
    request(port, "GET", "/status", &r);
    assert_true(body_is(&r, "{\"n\":2}"));
    resp_done(&r);
    request(port, "GET", "/metrics", &r);
    assert_true(body_is(&r, "up 2\n"));
    resp_done(&r);

    /* Refused publishes keep the previous documents. */
    assert_int_equal(status_http_publish(s, NULL, "x"), -EINVAL);
    assert_int_equal(status_http_publish(s, "{}", NULL), -EINVAL);
    assert_int_equal(status_http_publish(NULL, "{}", "x"), -EINVAL);
    assert_int_equal(status_http_publish(s, bad_utf8, "x"), -EILSEQ);
    assert_int_equal(status_http_publish(s, "{}", "\xff"), -EILSEQ);
    big = malloc(STATUS_HTTP_MAX_DOC + 2);
    assert_non_null(big);
    memset(big, 'a', STATUS_HTTP_MAX_DOC + 1);
    big[STATUS_HTTP_MAX_DOC + 1] = '\0';
    assert_int_equal(status_http_publish(s, big, "x"), -E2BIG);
    assert_int_equal(status_http_publish(s, "{}", big), -E2BIG);
    big[STATUS_HTTP_MAX_DOC] = '\0'; /* exactly the limit is fine */
    assert_int_equal(status_http_publish(s, "{}", big), 0);
    request(port, "GET", "/metrics", &r);
    assert_int_equal(r.body_len, STATUS_HTTP_MAX_DOC);
    resp_done(&r);
    free(big);
    status_http_stop(s);
}

/* Documents of the concurrency test: number k pads itself to a length that depends on k, so
 * a torn or freed body cannot pass for a whole one. */
static size_t doc_make(unsigned k, char *buf, size_t cap)
{
    size_t pad = 100 + (k * 7919u) % 20000u;
    int n = snprintf(buf, cap, "{\"k\":%u,\"pad\":\"", k);

    assert_true(n > 0 && (size_t)n + pad + 3 < cap);
    memset(buf + n, 'a' + (char)(k % 26), pad);
    memcpy(buf + n + pad, "\"}", 3);
    return (size_t)n + pad + 2;
}

struct publisher {
    struct status_http *s;
    atomic_bool stop;
    unsigned published, failed; /* cmocka's asserts belong to the main thread */
};

static void *publisher_thread(void *userdata)
{
    struct publisher *p = userdata;
    static char buf[32768];

    while (!atomic_load(&p->stop)) {
        unsigned k = ++p->published;

        doc_make(k, buf, sizeof(buf));
        p->failed += status_http_publish(p->s, buf, buf) != 0;
    }
    return NULL;
}

static void test_publish_while_clients_read(void **state)
{
    struct publisher p = {.s = start()};
    uint16_t port = status_http_port(p.s);
    char want[32768];
    pthread_t thread;
    unsigned distinct = 0, last = 0;

    (void)state;
    atomic_init(&p.stop, false);
    assert_int_equal(status_http_publish(p.s, "{\"k\":0}", "{\"k\":0}"), 0);
    assert_int_equal(pthread_create(&thread, NULL, publisher_thread, &p), 0);
    /* At least 300 requests, and on until the documents changed under the readers a few
     * times (the publisher may be starved on a loaded machine), for 20 s at most. */
    uint64_t deadline = fake_now_ms() + 20000;
    int i;
    for (i = 0; i < 300 || (distinct < 10 && fake_now_ms() < deadline); i++) {
        struct resp r;
        unsigned k;

        request(port, "GET", i % 2 ? "/status" : "/metrics", &r);
        assert_int_equal(r.code, 200);
        assert_int_equal(sscanf(r.body, "{\"k\":%u", &k), 1);
        if (k > 0) {
            size_t len = doc_make(k, want, sizeof(want));
            assert_true(r.body_len == len && memcmp(r.body, want, len) == 0);
        }
        distinct += k != last;
        last = k;
        resp_done(&r);
    }
    atomic_store(&p.stop, true);
    pthread_join(thread, NULL);
    assert_int_equal(p.failed, 0);
    print_message("publish under load: %u publishes during %d requests, %u distinct documents "
                  "seen\n",
                  p.published, i, distinct);
    assert_true(distinct >= 10);
    status_http_stop(p.s);
}

/* A client that does not read holds its old document; publishing does not wait for it. */
static void test_slow_reader_does_not_block_publish(void **state)
{
    struct status_http *s = start();
    uint16_t port = status_http_port(s);
    static const char req[] = "GET /status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    size_t size = 3u * 1024u * 1024u;
    char *old = malloc(size + 1);
    uint64_t t0, worst = 0;
    struct resp r;
    int fd, rcvbuf = 4096;

    (void)state;
    assert_non_null(old);
    memset(old, 'o', size);
    old[size] = '\0';
    assert_int_equal(status_http_publish(s, old, "x"), 0);

    /* A small receive window, set before connecting, so the server's send stalls soon. */
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)), 0);
    {
        struct sockaddr_in sa = {.sin_family = AF_INET,
                                 .sin_port = htons(port),
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    }
    send_all(fd, req, strlen(req));
    usleep(200 * 1000); /* the server is now stuck on a full socket buffer */
    for (int i = 0; i < 20; i++) {
        t0 = fake_now_ms();
        assert_int_equal(status_http_publish(s, "{\"new\":true}", "y"), 0);
        worst = fake_now_ms() - t0 > worst ? fake_now_ms() - t0 : worst;
    }
    assert_true(worst < 100);
    request(port, "GET", "/status", &r);
    assert_true(body_is(&r, "{\"new\":true}"));
    resp_done(&r);

    /* The stalled reader still gets its whole old document. */
    read_resp(fd, &r);
    close(fd);
    assert_int_equal(r.code, 200);
    assert_int_equal(r.body_len, size);
    assert_memory_equal(r.body, old, size);
    resp_done(&r);
    free(old);
    status_http_stop(s);
}

/* ---- Hostile peers ----------------------------------------------------------------------- */

/* True when the server has closed fd (EOF or reset) within timeout_ms. */
static bool closed_within(int fd, int timeout_ms)
{
    char buf[4096];
    uint64_t deadline = fake_now_ms() + (uint64_t)timeout_ms;

    for (;;) {
        uint64_t now = fake_now_ms();
        ssize_t k;

        if (!wait_fd(fd, POLLIN, now >= deadline ? 0 : (int)(deadline - now)))
            return false;
        k = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (k == 0 || (k < 0 && errno != EAGAIN))
            return true;
        if (fake_now_ms() >= deadline)
            return false;
    }
}

/* /status answers within a second, from 127.0.0.1. */
static void assert_status_answers(uint16_t port, const char *want)
{
    uint64_t t0 = fake_now_ms();
    struct resp r;

    request(port, "GET", "/status", &r);
    if (r.code != 200 || fake_now_ms() - t0 >= 1000)
        fail_msg("/status: code %d after %llu ms", r.code,
                 (unsigned long long)(fake_now_ms() - t0));
    assert_true(body_is(&r, want));
    resp_done(&r);
}

/* One header byte a second: libmicrohttpd's idle timeout never fires for it, the lifetime
 * does; meanwhile a silent connection is closed by the idle timeout, and /status answers. */
static void test_slowloris(void **state)
{
    struct status_http *s = start();
    uint16_t port = status_http_port(s);
    static const char drip[] = "GET /status HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaa";
    int slow = connect_from(NULL, port, false), idle = connect_from(NULL, port, false);
    uint64_t t0 = fake_now_ms(), idle_closed = 0, slow_closed = 0;

    (void)state;
    assert_true(slow >= 0 && idle >= 0);
    assert_int_equal(status_http_publish(s, doc_a, metrics_a), 0);
    for (size_t i = 0; i < sizeof(drip) - 1 && !slow_closed; i++) {
        if (send(slow, drip + i, 1, MSG_NOSIGNAL) != 1 || closed_within(slow, 0)) {
            slow_closed = fake_now_ms() - t0;
            break;
        }
        if (!idle_closed && closed_within(idle, 0))
            idle_closed = fake_now_ms() - t0;
        assert_status_answers(port, doc_a);
        if (closed_within(slow, 1000))
            slow_closed = fake_now_ms() - t0;
    }
    print_message("slowloris: idle connection closed after %llu ms, dripping one after %llu ms\n",
                  (unsigned long long)idle_closed, (unsigned long long)slow_closed);
    assert_true(idle_closed >= IDLE_MS - 1500 && idle_closed <= IDLE_MS + 2500);
    assert_true(slow_closed >= LIFETIME_MS - 1000 && slow_closed <= LIFETIME_MS + 2500);
    assert_status_answers(port, doc_a);
    close(slow);
    close(idle);
    status_http_stop(s);
}

/* A 64 KiB header: an error status (431) and a close, every time, with no memory kept. */
static void test_oversized_header(void **state)
{
    struct status_http *s = start();
    uint16_t port = status_http_port(s);
    size_t big = 64u * 1024u;
    char *req = malloc(big + 256);
    long rss_before, rss_after;
    int n;

    (void)state;
    assert_non_null(req);
    assert_int_equal(status_http_publish(s, doc_a, metrics_a), 0);
    n = snprintf(req, 256, "GET /status HTTP/1.1\r\nHost: x\r\nX-Big: ");
    memset(req + n, 'a', big);
    memcpy(req + n + big, "\r\n\r\n", 4);
    rss_before = fake_rss_kb(false);
    for (int i = 0; i < 50; i++) {
        struct resp r;
        int fd = connect_from(NULL, port, false);

        assert_true(fd >= 0);
        send_all(fd, req, (size_t)n + big + 4);
        read_resp(fd, &r);
        close(fd);
        /* The status line when it arrives before the reset of our unread bytes. */
        if (r.code != 0 && r.code != 431)
            fail_msg("oversized header: %d", r.code);
        if (i == 0)
            print_message("oversized header: status %d\n", r.code);
        resp_done(&r);
    }
    rss_after = fake_rss_kb(false);
    print_message("oversized header x50: VmRSS %ld kB -> %ld kB\n", rss_before, rss_after);
    assert_true(rss_after - rss_before < (UNDER_ASAN ? 16384 : 2048));
    /* A long URL is refused the same way (414). */
    {
        struct resp r;
        char *path = malloc(32u * 1024u);

        assert_non_null(path);
        path[0] = '/';
        memset(path + 1, 'p', 32u * 1024u - 2);
        path[32u * 1024u - 1] = '\0';
        request(port, "GET", path, &r);
        free(path);
        assert_true(r.code == 0 || r.code == 414 || r.code == 431);
        resp_done(&r);
    }
    assert_status_answers(port, doc_a);
    free(req);
    status_http_stop(s);
}

/* Raise the soft descriptor limit to want; false when the hard limit does not allow it. */
static bool enough_fds(rlim_t want)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return false;
    if (rl.rlim_cur >= want)
        return true;
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want)
        return false;
    rl.rlim_cur = want;
    return setrlimit(RLIMIT_NOFILE, &rl) == 0;
}

#define FLOOD_CONNS 2000
#define FLOOD_BATCH 100

/* How many of fds the server has not closed (still connected, or still queued). */
static int count_open(const int *fds, int n)
{
    int open = 0;

    for (int i = 0; i < n; i++) {
        char c;
        ssize_t k = recv(fds[i], &c, 1, MSG_DONTWAIT);

        open += k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
    }
    return open;
}

/* 2000 connections from one address (127.0.0.2) in batches: the per-address limit refuses
 * all but 16, /status keeps answering from 127.0.0.1 within a second throughout, and memory
 * stays flat. */
static void test_flood(void **state)
{
    struct status_http *s;
    uint16_t port;
    int *fds = calloc(FLOOD_CONNS, sizeof(int)), n = 0, open = -1, refused = 0;
    long rss_before, rss_flood, rss_after;
    uint64_t t0;

    (void)state;
    assert_non_null(fds);
    if (!enough_fds(FLOOD_CONNS + 256)) {
        free(fds);
        skip();
        return;
    }
    s = start();
    port = status_http_port(s);
    assert_int_equal(status_http_publish(s, doc_a, metrics_a), 0);
    assert_status_answers(port, doc_a); /* warm up: first-use allocations out of the figures */
    rss_before = fake_rss_kb(false);
    t0 = fake_now_ms();
    while (n < FLOOD_CONNS) {
        for (int i = 0; i < FLOOD_BATCH && n < FLOOD_CONNS; i++) {
            int fd = connect_from("127.0.0.2", port, true);

            if (fd < 0) {
                refused++;
                continue;
            }
            fds[n++] = fd;
        }
        assert_status_answers(port, doc_a);
    }
    /* libmicrohttpd accepts and closes the excess as fast as they come: wait for it to drain
     * the listen queue. */
    for (int i = 0; i < 40 && (open = count_open(fds, n)) > PER_IP_LIMIT; i++)
        usleep(50 * 1000);
    rss_flood = fake_rss_kb(false);
    print_message("flood: %d connections from 127.0.0.2 in %llu ms (%d refused at connect), "
                  "%d left open by the server; VmRSS %ld kB before, %ld kB under the flood\n",
                  n, (unsigned long long)(fake_now_ms() - t0), refused, open, rss_before,
                  rss_flood);
    assert_true(open <= PER_IP_LIMIT);
    assert_status_answers(port, doc_a);
    for (int i = 0; i < n; i++)
        close(fds[i]);
    free(fds);
    assert_status_answers(port, doc_a);
    rss_after = fake_rss_kb(false);
    print_message("flood: VmRSS %ld kB after closing\n", rss_after);
    assert_true(rss_flood - rss_before < (UNDER_ASAN ? 32768 : 4096));
    status_http_stop(s);
}

/* 2000 connections from 125 addresses, 16 each: past the per-address limit, this fills the
 * connection limit, and the rest wait in the listen queue. The server holds at most 64 of
 * them (memory stays flat); a health check arriving meanwhile waits like any other (see
 * docs/operations.md), and the endpoint answers as soon as the flood lets go. */
static void test_flood_many_addresses(void **state)
{
    struct status_http *s;
    uint16_t port;
    int *fds = calloc(FLOOD_CONNS, sizeof(int)), n = 0;
    long rss_before, rss_flood;
    char src[32];

    (void)state;
    assert_non_null(fds);
    if (!enough_fds(FLOOD_CONNS + 256)) {
        free(fds);
        skip();
        return;
    }
    s = start();
    port = status_http_port(s);
    assert_int_equal(status_http_publish(s, doc_a, metrics_a), 0);
    assert_status_answers(port, doc_a);
    rss_before = fake_rss_kb(false);
    for (int i = 0; i < FLOOD_CONNS; i++) {
        int fd;

        (void)snprintf(src, sizeof(src), "127.0.%d.%d", 10 + i / PER_IP_LIMIT / 250,
                       1 + i / PER_IP_LIMIT % 250);
        fd = connect_from(src, port, true);
        if (fd >= 0)
            fds[n++] = fd;
    }
    usleep(500 * 1000);
    rss_flood = fake_rss_kb(false);
    for (int i = 0; i < n; i++)
        close(fds[i]);
    free(fds);
    usleep(200 * 1000);
    assert_status_answers(port, doc_a);
    print_message("flood from 125 addresses: %d connections; VmRSS %ld kB before, %ld kB under "
                  "the flood\n",
                  n, rss_before, rss_flood);
    assert_true(rss_flood - rss_before < (UNDER_ASAN ? 32768 : 4096));
    status_http_stop(s);
}

/* From the checker's own address the per-address limit locks it out while the slots are
 * held (docs/operations.md says so); it answers again as soon as they are let go. */
static void test_flood_same_address_recovers(void **state)
{
    struct status_http *s = start();
    uint16_t port = status_http_port(s);
    int fds[PER_IP_LIMIT];
    struct resp r;

    (void)state;
    assert_int_equal(status_http_publish(s, doc_a, metrics_a), 0);
    for (int i = 0; i < PER_IP_LIMIT; i++) {
        fds[i] = connect_from(NULL, port, false);
        assert_true(fds[i] >= 0);
    }
    usleep(200 * 1000);
    request(port, "GET", "/status", &r);
    assert_int_equal(r.code, 0); /* accepted and closed at once */
    resp_done(&r);
    for (int i = 0; i < PER_IP_LIMIT; i++)
        close(fds[i]);
    usleep(100 * 1000);
    assert_status_answers(port, doc_a);
    status_http_stop(s);
}

struct garbage {
    const char *data;
    size_t len;
};

/* libmicrohttpd waits out its idle timeout on some garbage (a partial line without its end,
 * even after our half-close), and 5 s each in turn would add up: so a batch goes at once,
 * each input from its own loopback address (the per-address limit stays out of the way),
 * at most this many (the connection limit is 64). */
#define GARBAGE_BATCH 48

/* Send each input on its own connection, half-close, and check the answers: an error status
 * or a close, and a 200 only with the real document. */
static void garbage_batch(uint16_t port, const struct garbage *in, size_t n, unsigned octet)
{
    int fds[GARBAGE_BATCH];
    char src[32];

    assert_true(n <= GARBAGE_BATCH);
    for (size_t i = 0; i < n; i++) {
        (void)snprintf(src, sizeof(src), "127.0.%u.%zu", octet, i + 1);
        fds[i] = connect_from(src, port, false);
        assert_true(fds[i] >= 0);
        send_all(fds[i], in[i].data, in[i].len);
        shutdown(fds[i], SHUT_WR);
    }
    for (size_t i = 0; i < n; i++) {
        struct resp r;

        read_resp(fds[i], &r);
        close(fds[i]);
        if (r.len > 0 && r.code == 0)
            fail_msg("input %zu: an answer without a status line: %.80s", i, r.raw);
        if (r.code != 0 && r.code != 200 && (r.code < 400 || r.code > 599))
            fail_msg("input %zu: status %d", i, r.code);
        if (r.code == 200 && !body_is(&r, doc_a))
            fail_msg("input %zu: 200 with another body", i);
        resp_done(&r);
    }
}

/* Garbage and broken HTTP: an error status or a close, never a crash, never a hang. */
static void test_garbage(void **state)
{
#define IN(s)                                                                                      \
    {                                                                                              \
        s, sizeof(s) - 1                                                                           \
    }
    static const struct garbage fixed[] = {
            IN("\r\n\r\n"),
            IN("GET\r\n\r\n"),
            IN("GET /status\r\n\r\n"),
            IN("GET /status HTTP/9.9\r\nHost: x\r\n\r\n"),
            IN("GET /status HTTP/1.1\r\n\r\n"), /* no Host: refused when strict */
            IN("GET /status HTTP/1.1\r\nHost x\r\n\r\n"),
            IN("GET /status HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n"),
            IN("GET /status HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n"),
            IN("GET /status HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"),
            IN("GET /st atus HTTP/1.1\r\nHost: x\r\n\r\n"),
            IN("GET /status HTTP/1.1\rHost: x\r\r"),
            IN("GET /status HTTP/1.1\nHost: x\n\n"),
            IN("GET /status HTTP/1.1\r\nHost: x\r\n X-Folded: y\r\n\r\n"),
            IN("GET /status HTTP/1.1\r\nHost: x\x00y\r\n\r\n"),
            IN("\x00\x00\x00\x00GET /status HTTP/1.1\r\n\r\n"),
            IN("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"), /* a TLS ClientHello */
            IN("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
            IN("GET /status HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: "
               "Upgrade\r\n\r\n"),
            IN("CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: x\r\n\r\n"),
            IN("GET * HTTP/1.1\r\nHost: x\r\n\r\n"),
            IN("\xff\xfe\xfd GET /status HTTP/1.1\r\n\r\n"),
            IN("GET /status HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n"),
            IN("GET /status HTTP/1.1\r\nHost: x\r\n\r\nGET /status HTTP/1.1\r\nHost: x\r\n\r\n"),
    };
#undef IN
    struct status_http *s = start();
    uint16_t port = status_http_port(s);
    struct garbage noise[GARBAGE_BATCH];
    unsigned seed = 12345;

    (void)state;
    assert_int_equal(status_http_publish(s, doc_a, metrics_a), 0);
    garbage_batch(port, fixed, sizeof(fixed) / sizeof(fixed[0]), 3);
    /* Random bytes, and random bytes after a valid request line: two batches. */
    for (unsigned b = 0; b < 2; b++) {
        for (size_t i = 0; i < GARBAGE_BATCH; i++) {
            size_t len = 1 + (size_t)rand_r(&seed) % 2047, off = 0;
            char *p = malloc(len + 32);

            assert_non_null(p);
            if (i % 2)
                off = (size_t)sprintf(p, "GET /status HTTP/1.1\r\n");
            for (size_t j = off; j < len + off; j++)
                p[j] = (char)rand_r(&seed);
            noise[i] = (struct garbage){p, len + off};
        }
        garbage_batch(port, noise, GARBAGE_BATCH, 4 + b);
        for (size_t i = 0; i < GARBAGE_BATCH; i++)
            free((void *)noise[i].data);
    }
    assert_status_answers(port, doc_a);
    status_http_stop(s);
}

/* Stopping with clients mid-answer: their references are dropped, nothing leaks or hangs. */
static void test_stop_with_open_connections(void **state)
{
    struct status_http *s = start();
    uint16_t port = status_http_port(s);
    static const char req[] = "GET /status HTTP/1.1\r\nHost: x\r\n\r\n";
    char *doc = malloc(2u * 1024u * 1024u + 1);
    int fds[8];

    (void)state;
    assert_non_null(doc);
    memset(doc, 'd', 2u * 1024u * 1024u);
    doc[2u * 1024u * 1024u] = '\0';
    assert_int_equal(status_http_publish(s, doc, "m"), 0);
    free(doc);
    for (int i = 0; i < 8; i++) {
        fds[i] = connect_from(NULL, port, false);
        assert_true(fds[i] >= 0);
        if (i % 2)
            send_all(fds[i], req, strlen(req));
    }
    usleep(100 * 1000);
    status_http_stop(s); /* ASan reports what a stop leaves behind */
    for (int i = 0; i < 8; i++)
        close(fds[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_route),
            cmocka_unit_test(test_reply_build),
            cmocka_unit_test(test_start_errors),
            cmocka_unit_test(test_ipv6),
            cmocka_unit_test(test_routes),
            cmocka_unit_test(test_request_bodies_refused),
            cmocka_unit_test(test_publish),
            cmocka_unit_test(test_publish_while_clients_read),
            cmocka_unit_test(test_slow_reader_does_not_block_publish),
            cmocka_unit_test(test_oversized_header),
            cmocka_unit_test(test_flood),
            cmocka_unit_test(test_flood_many_addresses),
            cmocka_unit_test(test_flood_same_address_recovers),
            cmocka_unit_test(test_garbage),
            cmocka_unit_test(test_stop_with_open_connections),
            cmocka_unit_test(test_slowloris),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
