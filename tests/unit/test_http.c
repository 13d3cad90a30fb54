/* Unit tests for matrix/http: curl's multi interface on sd-event against a scripted local peer:
 * round trips, headers, limits, error mapping, cancellation and a streamed 20 MB upload. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "fake_http.h"
#include "matrix/http.h"

#define TEST_WAIT_MS 10000 /* generous: the sanitizer build is slow */

struct outcome {
    bool done;
    unsigned calls;
    long status;
    int error;
    char body[4096];
    size_t body_len;
    int64_t retry_after_ms;
    char content_type[256];
};

static void on_done(const struct http_response *resp, void *userdata)
{
    struct outcome *o = userdata;

    o->done = true;
    o->calls++;
    o->status = resp->status;
    o->error = resp->error;
    o->body_len = resp->body_len;
    (void)snprintf(o->body, sizeof(o->body), "%s", resp->body);
    o->retry_after_ms = resp->retry_after_ms;
    (void)snprintf(o->content_type, sizeof(o->content_type), "%s",
                   resp->content_type ? resp->content_type : "");
}

struct fixture {
    sd_event *event;
    struct http *http;
    struct fake_http *fake;
    char url[256];
};

static void setup(struct fixture *f, const struct fake_step *steps, size_t n)
{
    memset(f, 0, sizeof(*f));
    assert_int_equal(sd_event_new(&f->event), 0);
    assert_int_equal(http_new(f->event, &f->http), 0);
    assert_int_equal(fake_http_start(steps, n, &f->fake), 0);
}

static void teardown(struct fixture *f)
{
    http_free(f->http);
    fake_http_stop(f->fake);
    sd_event_unref(f->event);
}

static const char *url(struct fixture *f, const char *path)
{
    (void)snprintf(f->url, sizeof(f->url), "%s%s", fake_http_url(f->fake), path);
    return f->url;
}

/* Start a request and run the loop until its callback. */
static void run(struct fixture *f, const struct http_request *req, struct outcome *o)
{
    memset(o, 0, sizeof(*o));
    assert_int_equal(http_start(f->http, req, on_done, o, NULL), 0);
    /* Never called back from inside http_start. */
    assert_false(o->done);
    assert_true(fake_run_until(f->event, &o->done, TEST_WAIT_MS));
    assert_int_equal(o->calls, 1);
}

static void test_get_round_trip(void **state)
{
    static const struct fake_step steps[] = {
            {.status = 200,
             .headers = "Content-Type: application/json\r\n",
             .body = "{\"ok\":true}"},
            {.status = 200, .body = "{}"},
    };
    struct fixture f;
    struct outcome o;
    char h[256];
    const struct fake_request *r;

    (void)state;
    setup(&f, steps, ELEMENTSOF(steps));
    run(&f,
        &(struct http_request){
                .method = "GET", .url = url(&f, "/a/b?x=1"), .bearer = "secret-token-1"},
        &o);
    assert_int_equal(o.error, 0);
    assert_int_equal(o.status, 200);
    assert_string_equal(o.body, "{\"ok\":true}");
    assert_int_equal(o.body_len, strlen("{\"ok\":true}"));
    assert_string_equal(o.content_type, "application/json");
    assert_int_equal(o.retry_after_ms, -1);
    assert_int_equal(http_pending(f.http), 0);

    r = fake_http_request(f.fake, 0);
    assert_non_null(r);
    assert_string_equal(r->method, "GET");
    assert_string_equal(r->path, "/a/b?x=1");
    assert_non_null(fake_header(r, "authorization", h, sizeof(h)));
    assert_string_equal(h, "Bearer secret-token-1");
    assert_null(fake_header(r, "expect", h, sizeof(h)));

    /* Without a bearer there is no Authorization header at all. */
    run(&f, &(struct http_request){.method = "GET", .url = url(&f, "/c")}, &o);
    assert_int_equal(o.status, 200);
    r = fake_http_request(f.fake, 1);
    assert_null(fake_header(r, "authorization", h, sizeof(h)));
    teardown(&f);
}

static void test_post_and_put_bodies(void **state)
{
    static const struct fake_step steps[] = {
            {.status = 201, .body = "{}"},
            {.status = 200, .body = "{}"},
            {.status = 200, .body = "{}"},
    };
    struct fixture f;
    struct outcome o;
    char h[256];
    const struct fake_request *r;

    (void)state;
    setup(&f, steps, ELEMENTSOF(steps));
    run(&f,
        &(struct http_request){.method = "POST",
                               .url = url(&f, "/post"),
                               .content_type = "application/json",
                               .body = "{\"a\":1}",
                               .body_len = 7},
        &o);
    assert_int_equal(o.status, 201);
    r = fake_http_request(f.fake, 0);
    assert_string_equal(r->method, "POST");
    assert_string_equal(r->body, "{\"a\":1}");
    assert_string_equal(fake_header(r, "content-type", h, sizeof(h)), "application/json");

    run(&f,
        &(struct http_request){
                .method = "PUT", .url = url(&f, "/put"), .body = "xyz", .body_len = 3},
        &o);
    r = fake_http_request(f.fake, 1);
    assert_string_equal(r->method, "PUT");
    assert_string_equal(r->body, "xyz");
    /* No content type given: curl's default form type is not sent either. */
    assert_null(fake_header(r, "content-type", h, sizeof(h)));

    /* A POST without a body sends an empty one (and does not read stdin). */
    run(&f, &(struct http_request){.method = "POST", .url = url(&f, "/empty")}, &o);
    r = fake_http_request(f.fake, 2);
    assert_int_equal(r->body_len, 0);
    assert_string_equal(fake_header(r, "content-length", h, sizeof(h)), "0");
    teardown(&f);
}

static void test_retry_after(void **state)
{
    char date_header[128], future[64];
    time_t t = time(NULL) + 30;
    struct tm tm;
    struct fake_step steps[] = {
            {.status = 429, .headers = "Retry-After: 7\r\n", .body = "{}"},
            {.status = 429, .headers = date_header, .body = "{}"},
            {.status = 429, .headers = "Retry-After: soon\r\n", .body = "{}"},
            {.status = 503, .headers = "Retry-After: 99999999999999999999\r\n", .body = "{}"},
            {.status = 503, .headers = "Retry-After: Thu, 01 Jan 1970 00:00:00 GMT\r\n"},
    };
    static const int64_t expected[] = {7000, 30000, -1, 3600 * 1000, 0};
    struct fixture f;
    struct outcome o;

    (void)state;
    gmtime_r(&t, &tm);
    strftime(future, sizeof(future), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    (void)snprintf(date_header, sizeof(date_header), "Retry-After: %s\r\n", future);
    setup(&f, steps, ELEMENTSOF(steps));
    for (size_t i = 0; i < ELEMENTSOF(steps); i++) {
        run(&f, &(struct http_request){.method = "GET", .url = url(&f, "/")}, &o);
        assert_int_equal(o.error, 0);
        assert_int_equal(o.status, steps[i].status);
        if (expected[i] == 30000) {
            /* A second may pass between formatting the date and reading it. */
            assert_in_range(o.retry_after_ms, 28000, 30000);
        } else
            assert_int_equal(o.retry_after_ms, expected[i]);
    }
    teardown(&f);
}

static void test_response_too_big(void **state)
{
    static char big[2000];
    static const struct fake_step steps[] = {
            {.status = 200, .body = big, .body_len = sizeof(big)},
            {.status = 200, .body = big, .body_len = sizeof(big), .no_length = true},
            {.status = 200, .body = big, .body_len = 100},
    };
    struct fixture f;
    struct outcome o;

    (void)state;
    memset(big, 'x', sizeof(big));
    setup(&f, steps, ELEMENTSOF(steps));
    /* Refused from the Content-Length, and counted while reading when there is none. */
    for (int i = 0; i < 2; i++) {
        run(&f, &(struct http_request){.method = "GET", .url = url(&f, "/"), .max_response = 100},
            &o);
        assert_int_equal(o.error, -E2BIG);
    }
    /* Exactly at the bound is fine. */
    run(&f, &(struct http_request){.method = "GET", .url = url(&f, "/"), .max_response = 100}, &o);
    assert_int_equal(o.error, 0);
    assert_int_equal(o.body_len, 100);
    teardown(&f);
}

static void test_timeout(void **state)
{
    static const struct fake_step steps[] = {{.action = FAKE_HANG}};
    struct fixture f;
    struct outcome o;
    uint64_t t0;

    (void)state;
    setup(&f, steps, ELEMENTSOF(steps));
    t0 = fake_now_ms();
    run(&f, &(struct http_request){.method = "GET", .url = url(&f, "/"), .timeout_ms = 300}, &o);
    assert_int_equal(o.error, -ETIMEDOUT);
    assert_int_equal(o.status, 0);
    assert_in_range(fake_now_ms() - t0, 290, 5000);
    teardown(&f);
}

static void test_connection_errors(void **state)
{
    static const char body[] = "{\"a_long_enough_body\":\"0123456789\"}";
    static const struct fake_step steps[] = {
            {.action = FAKE_CLOSE},
            {.action = FAKE_RESET_MID, .status = 200, .body = body},
    };
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t salen = sizeof(sa);
    struct fixture f;
    struct outcome o;
    char closed[64];
    int fd;

    (void)state;
    setup(&f, steps, ELEMENTSOF(steps));
    run(&f, &(struct http_request){.method = "GET", .url = url(&f, "/")}, &o);
    assert_int_equal(o.error, -ECONNRESET);
    run(&f, &(struct http_request){.method = "GET", .url = url(&f, "/")}, &o);
    assert_int_equal(o.error, -ECONNRESET);

    /* A port nobody listens on: bound, then closed without listen(). */
    fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (void *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(fd, (void *)&sa, &salen), 0);
    close(fd);
    (void)snprintf(closed, sizeof(closed), "http://127.0.0.1:%u/", (unsigned)ntohs(sa.sin_port));
    run(&f, &(struct http_request){.method = "GET", .url = closed}, &o);
    assert_int_equal(o.error, -ECONNREFUSED);
    teardown(&f);
}

static void test_bad_arguments(void **state)
{
    struct fixture f;
    struct outcome o = {0};
    int p[2];

    (void)state;
    setup(&f, NULL, 0);
    assert_int_equal(http_start(f.http,
                                &(struct http_request){.method = "GET",
                                                       .url = url(&f, "/"),
                                                       .bearer = "tok\r\nX-Evil: 1"},
                                on_done, &o, NULL),
                     -EINVAL);
    assert_int_equal(http_start(f.http,
                                &(struct http_request){.method = "PATCH", .url = url(&f, "/")},
                                on_done, &o, NULL),
                     -EINVAL);
    assert_int_equal(
            http_start(f.http, &(struct http_request){.method = "GET", .url = "file:///etc/passwd"},
                       on_done, &o, NULL),
            -EINVAL);
    assert_int_equal(
            http_start(f.http,
                       &(struct http_request){
                               .method = "GET", .url = url(&f, "/"), .body = "x", .body_len = 1},
                       on_done, &o, NULL),
            -EINVAL);
    assert_int_equal(pipe(p), 0);
    assert_int_equal(http_start(f.http,
                                &(struct http_request){.method = "POST",
                                                       .url = url(&f, "/"),
                                                       .body_fd = p[0],
                                                       .body_size = 1},
                                on_done, &o, NULL),
                     -ESPIPE);
    close(p[0]);
    close(p[1]);
    assert_int_equal(http_pending(f.http), 0);
    assert_false(o.done);
    teardown(&f);
}

static void test_cancel_and_free_without_callback(void **state)
{
    static const struct fake_step steps[] = {{.action = FAKE_HANG}, {.action = FAKE_HANG}};
    struct fixture f;
    struct outcome o1 = {0}, o2 = {0};
    struct http_call *call = NULL;
    bool never = false;

    (void)state;
    setup(&f, steps, ELEMENTSOF(steps));
    assert_int_equal(http_start(f.http,
                                &(struct http_request){.method = "GET", .url = url(&f, "/1")},
                                on_done, &o1, &call),
                     0);
    assert_int_equal(http_start(f.http,
                                &(struct http_request){.method = "GET", .url = url(&f, "/2")},
                                on_done, &o2, NULL),
                     0);
    assert_int_equal(http_pending(f.http), 2);
    (void)fake_run_until(f.event, &never, 200);
    http_call_cancel(call);
    assert_int_equal(http_pending(f.http), 1);
    (void)fake_run_until(f.event, &never, 200);
    assert_false(o1.done);
    /* Freeing with a call in flight drops it silently. */
    http_free(f.http);
    f.http = NULL;
    assert_false(o2.done);
    teardown(&f);
}

static void test_concurrency_bound(void **state)
{
    struct fixture f;
    struct outcome o = {0};
    size_t n = 0;
    int r;

    (void)state;
    setup(&f, NULL, 0);
    /* Nothing is answered: the loop never runs. */
    while ((r = http_start(f.http, &(struct http_request){.method = "GET", .url = url(&f, "/")},
                           on_done, &o, NULL)) == 0)
        n++;
    assert_int_equal(r, -EBUSY);
    assert_int_equal(n, HTTP_MAX_CALLS);
    assert_int_equal(http_pending(f.http), n);
    teardown(&f);
    assert_false(o.done);
}

/* The owner may free the whole struct http from inside a callback. */
static void free_in_callback(const struct http_response *resp, void *userdata)
{
    struct fixture *f = userdata;

    (void)resp;
    f->http = http_free(f->http);
}

static void test_free_from_callback(void **state)
{
    static const struct fake_step steps[] = {{.status = 200, .body = "{}"},
                                             {.status = 200, .body = "{}"}};
    struct fixture f;

    (void)state;
    setup(&f, steps, ELEMENTSOF(steps));
    assert_int_equal(http_start(f.http,
                                &(struct http_request){.method = "GET", .url = url(&f, "/")},
                                free_in_callback, &f, NULL),
                     0);
    assert_int_equal(http_start(f.http,
                                &(struct http_request){.method = "GET", .url = url(&f, "/")},
                                free_in_callback, &f, NULL),
                     0);
    for (uint64_t end = fake_now_ms() + TEST_WAIT_MS; f.http && fake_now_ms() < end;)
        assert_true(sd_event_run(f.event, 100000) >= 0);
    assert_null(f.http);
    teardown(&f);
}

/* ---- Streaming upload ------------------------------------------------------------------- */

#define UPLOAD_SIZE (20u * 1024u * 1024u)

static void test_upload_streams_from_fd(void **state)
{
    static const struct fake_step steps[] = {
            {.status = 200, .body = "{\"content_uri\":\"mxc://x/y\"}"}};
    struct fixture f;
    struct outcome o;
    uint64_t hash;
    long before, peak;
    bool have_peak;
    char h[64], cl[64];
    const struct fake_request *r;
    int fd;

    (void)state;
    setup(&f, steps, ELEMENTSOF(steps));
    fd = fake_make_file(UPLOAD_SIZE, &hash);
    assert_true(fd >= 0);

    have_peak = fake_reset_peak_rss();
    before = fake_rss_kb(have_peak);
    run(&f,
        &(struct http_request){.method = "POST",
                               .url = url(&f, "/upload"),
                               .content_type = "video/mp4",
                               .body_fd = fd,
                               .body_size = UPLOAD_SIZE},
        &o);
    peak = fake_rss_kb(have_peak);
    assert_int_equal(o.error, 0);
    assert_int_equal(o.status, 200);

    r = fake_http_request(f.fake, 0);
    assert_int_equal(r->body_len, UPLOAD_SIZE);
    assert_true(r->body_hash == hash);
    (void)snprintf(h, sizeof(h), "%u", UPLOAD_SIZE);
    assert_string_equal(fake_header(r, "content-length", cl, sizeof(cl)), h);
    /* Memory does not grow with the file: 20 MB went through, under 1 MB stuck. */
    print_message("upload: %s grew by %ld kB\n", have_peak ? "peak RSS" : "RSS", peak - before);
    assert_true(peak - before < 1024);
    close(fd);
    teardown(&f);
}

static const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_round_trip),
        cmocka_unit_test(test_post_and_put_bodies),
        cmocka_unit_test(test_retry_after),
        cmocka_unit_test(test_response_too_big),
        cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_connection_errors),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_cancel_and_free_without_callback),
        cmocka_unit_test(test_concurrency_bound),
        cmocka_unit_test(test_free_from_callback),
        cmocka_unit_test(test_upload_streams_from_fd),
};

int main(void)
{
    return cmocka_run_group_tests(tests, NULL, NULL);
}
