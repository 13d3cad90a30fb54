/* Unit tests for matrix/client: requests, escaping and the error policy (rate limits, backoff,
 * unknown tokens, error mapping), registration through UIA, media, against a scripted peer. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fake_http.h"
#include "matrix/client.h"
#include "util/log.h"

#define TEST_WAIT_MS 10000

/* Small backoffs keep the retry tests fast. */
#define TEST_BACKOFF_MIN_MS 20
#define TEST_BACKOFF_MAX_MS 80

#define JSON_HEADER "Content-Type: application/json\r\n"

struct outcome {
    bool done;
    unsigned calls;
    int r;
    long status;
    char errcode[64];
    char error[128];
    bool has_doc;
    char value[256]; /* the string at outcome.path, when asked */
    const char *path;
    uint64_t at_ms;
};

static void on_done(int r, const struct mx_result *res, void *userdata)
{
    struct outcome *o = userdata;
    _cleanup_free_ char *v = NULL;

    assert_non_null(res);
    o->done = true;
    o->calls++;
    o->r = r;
    o->status = res->status;
    o->at_ms = fake_now_ms();
    (void)snprintf(o->errcode, sizeof(o->errcode), "%s", res->errcode ? res->errcode : "");
    (void)snprintf(o->error, sizeof(o->error), "%s", res->error ? res->error : "");
    o->has_doc = res->doc != NULL;
    if (o->path && res->doc && json_get_string(res->doc, res->root, o->path, &v) >= 0)
        (void)snprintf(o->value, sizeof(o->value), "%s", v);
}

/* Counts what the client logs at warning level and above, and at info. */
struct log_count {
    unsigned warnings, infos;
};

static void on_log(int priority, const char *message, void *userdata)
{
    struct log_count *lc = userdata;

    (void)message;
    if (priority <= LOG_WARNING)
        lc->warnings++;
    else if (priority == LOG_INFO)
        lc->infos++;
}

struct fixture {
    sd_event *event;
    struct mx_client *client;
    struct fake_http *fake;
    struct log_count logs;
};

static void setup_with(struct fixture *f, const struct fake_step *steps, size_t n,
                       struct mx_client_options opts)
{
    memset(f, 0, sizeof(*f));
    assert_int_equal(sd_event_new(&f->event), 0);
    assert_int_equal(fake_http_start(steps, n, &f->fake), 0);
    opts.base_url = fake_http_url(f->fake);
    if (!opts.backoff_min_ms)
        opts.backoff_min_ms = TEST_BACKOFF_MIN_MS;
    if (!opts.backoff_max_ms)
        opts.backoff_max_ms = TEST_BACKOFF_MAX_MS;
    assert_int_equal(mx_client_new(f->event, &opts, &f->client), 0);
    log_set_observer(on_log, &f->logs);
}

static void setup(struct fixture *f, const struct fake_step *steps, size_t n)
{
    setup_with(f, steps, n, (struct mx_client_options){0});
}

static void teardown(struct fixture *f)
{
    log_set_observer(NULL, NULL);
    mx_client_free(f->client);
    fake_http_stop(f->fake);
    sd_event_unref(f->event);
}

static void wait_for(struct fixture *f, struct outcome *o)
{
    assert_true(fake_run_until(f->event, &o->done, TEST_WAIT_MS));
    assert_int_equal(o->calls, 1);
}

static const char *header(struct fixture *f, size_t i, const char *name)
{
    static char buf[512];
    const struct fake_request *r = fake_http_request(f->fake, i);

    assert_non_null(r);
    return fake_header(r, name, buf, sizeof(buf));
}

static const struct fake_request *request(struct fixture *f, size_t i)
{
    const struct fake_request *r = fake_http_request(f->fake, i);

    assert_non_null(r);
    return r;
}

/* ---- Requests and escaping -------------------------------------------------------------- */

static void test_json_round_trips(void **state)
{
    static const struct fake_step steps[] = {
            {.status = 200,
             .headers = JSON_HEADER,
             .body = "{\"user_id\":\"@bot:example.org\",\"device_id\":\"D\"}"},
            {.status = 200, .headers = JSON_HEADER, .body = "{\"event_id\":\"$ev1\"}"},
            {.status = 200, .headers = JSON_HEADER, .body = "{\"room_id\":\"!r:example.org\"}"},
    };
    struct fixture f;
    struct outcome o = {.path = "user_id"};

    (void)state;
    setup(&f, steps, ELEMENTSOF(steps));
    mx_client_set_token(f.client, "tok-1");

    assert_int_equal(mx_whoami(f.client, on_done, &o), 0);
    assert_false(o.done); /* never called back from inside the call */
    wait_for(&f, &o);
    assert_int_equal(o.r, 0);
    assert_int_equal(o.status, 200);
    assert_string_equal(o.value, "@bot:example.org");
    assert_string_equal(request(&f, 0)->method, "GET");
    assert_string_equal(request(&f, 0)->path, "/_matrix/client/v3/account/whoami");
    assert_string_equal(header(&f, 0, "authorization"), "Bearer tok-1");

    o = (struct outcome){.path = "event_id"};
    assert_int_equal(mx_send(f.client, "!room:example.org", "m.room.message", "txn/1 2",
                             "{\"msgtype\":\"m.text\",\"body\":\"hi\"}", on_done, &o),
                     0);
    wait_for(&f, &o);
    assert_int_equal(o.r, 0);
    assert_string_equal(o.value, "$ev1");
    assert_string_equal(request(&f, 1)->method, "PUT");
    assert_string_equal(request(&f, 1)->path,
                        "/_matrix/client/v3/rooms/%21room%3Aexample.org/send/m.room.message/"
                        "txn%2F1%202");
    assert_string_equal(request(&f, 1)->body, "{\"msgtype\":\"m.text\",\"body\":\"hi\"}");
    assert_string_equal(header(&f, 1, "content-type"), "application/json");

    o = (struct outcome){.path = "room_id"};
    assert_int_equal(mx_join(f.client, "#alias:example.org", on_done, &o), 0);
    wait_for(&f, &o);
    assert_int_equal(o.r, 0);
    assert_string_equal(o.value, "!r:example.org");
    assert_string_equal(request(&f, 2)->method, "POST");
    assert_string_equal(request(&f, 2)->path, "/_matrix/client/v3/join/%23alias%3Aexample.org");
    assert_string_equal(request(&f, 2)->body, "{}");
    assert_int_equal(fake_http_unexpected(f.fake), 0);
    teardown(&f);
}

static void test_authorization_only_with_mx_auth(void **state)
{
    static const struct fake_step steps[] = {
            {.status = 200, .body = "{}"},
            {.status = 200, .body = "{}"},
            {.status = 200, .body = "{\"access_token\":\"new\"}"},
    };
    struct fixture f;
    struct outcome o = {0};
    _cleanup_(json_doc_freep) struct json_doc *d = NULL;
    _cleanup_free_ char *s = NULL;
    const struct fake_request *r;

    (void)state;
    setup(&f, steps, ELEMENTSOF(steps));
    mx_client_set_token(f.client, "tok-2");
    assert_int_equal(mx_request(f.client, "GET", "/x", NULL, 0, on_done, &o), 0);
    wait_for(&f, &o);
    assert_null(header(&f, 0, "authorization"));

    o = (struct outcome){0};
    assert_int_equal(mx_request(f.client, "GET", "/y", NULL, MX_AUTH, on_done, &o), 0);
    wait_for(&f, &o);
    assert_string_equal(header(&f, 1, "authorization"), "Bearer tok-2");

    /* Login is not authenticated, and its body has the identifier form. */
    o = (struct outcome){0};
    assert_int_equal(mx_login_password(f.client, "bot", "pw\"1", "DEV", on_done, &o), 0);
    wait_for(&f, &o);
    assert_int_equal(o.r, 0);
    assert_null(header(&f, 2, "authorization"));
    r = request(&f, 2);
    assert_string_equal(r->path, "/_matrix/client/v3/login");
    assert_int_equal(json_parse(r->body, r->body_len, 100, &d), 0);
    assert_int_equal(json_string_equals(d, 0, "type", "m.login.password"), 1);
    assert_int_equal(json_string_equals(d, 0, "identifier.type", "m.id.user"), 1);
    assert_int_equal(json_string_equals(d, 0, "identifier.user", "bot"), 1);
    assert_int_equal(json_string_equals(d, 0, "password", "pw\"1"), 1);
    assert_int_equal(json_string_equals(d, 0, "device_id", "DEV"), 1);
    teardown(&f);
}

static void test_escaping(void **state)
{
    static const struct fake_step steps[] = {
            {.status = 200, .body = "{\"next_batch\":\"n\"}"},
            {.status = 200, .body = "{\"chunk\":[]}"},
    };
    struct fixture f;
    struct outcome o = {0};
    char *s = NULL;

    (void)state;
    assert_int_equal(mx_escape_segment("AZaz09-._~", &s), 0);
    assert_string_equal(s, "AZaz09-._~");
    free(s);
    assert_int_equal(mx_escape_segment("@bot:ex.org/ %?#&+=\xc3\xa9", &s), 0);
    assert_string_equal(s, "%40bot%3Aex.org%2F%20%25%3F%23%26%2B%3D%C3%A9");
    free(s);
    assert_int_equal(mx_escape_segment("", &s), -EINVAL);
    assert_int_equal(mx_escape_segment(NULL, &s), -EINVAL);

    setup(&f, steps, ELEMENTSOF(steps));
    assert_int_equal(mx_sync(f.client, "s72_1?&=x", "f 1", 0, on_done, &o), 0);
    wait_for(&f, &o);
    assert_string_equal(request(&f, 0)->path,
                        "/_matrix/client/v3/sync?timeout=0&since=s72_1%3F%26%3Dx&filter=f%201");
    o = (struct outcome){0};
    assert_int_equal(mx_messages(f.client, "!r:x", NULL, 10, on_done, &o), 0);
    wait_for(&f, &o);
    assert_string_equal(request(&f, 1)->path,
                        "/_matrix/client/v3/rooms/%21r%3Ax/messages?dir=b&limit=10");

    /* Arguments are refused before anything is sent. */
    assert_int_equal(mx_send(f.client, "", "m.room.message", "t", "{}", on_done, &o), -EINVAL);
    assert_int_equal(mx_send(f.client, "!r:x", "m.room.message", "t", "[1]", on_done, &o), -EINVAL);
    assert_int_equal(mx_send(f.client, "!r:x", "m.room.message", "t", "{", on_done, &o), -EINVAL);
    assert_int_equal(mx_request(f.client, "GET", "no-slash", NULL, 0, on_done, &o), -EINVAL);
    assert_int_equal(fake_http_count(f.fake), 2);
    teardown(&f);
}

/* ---- The error policy ------------------------------------------------------------------- */

static void test_rate_limit_retry_after_header(void **state)
{
    static const struct fake_step steps[] = {
            {.status = 429,
             .headers = "Retry-After: 1\r\n",
             .body = "{\"errcode\":\"M_LIMIT_EXCEEDED\",\"retry_after_ms\":10}"},
            {.status = 200, .body = "{}"},
    };
    struct fixture f;
    struct outcome o = {0};
    uint64_t t0;

    (void)state;
    setup(&f, steps, ELEMENTSOF(steps));
    t0 = fake_now_ms();
    /* Not MX_RETRY: rate limits are waited out for every request. The header wins over
     * the body's retry_after_ms. */
    assert_int_equal(mx_request(f.client, "POST", "/p", "{\"a\":1}", 0, on_done, &o), 0);
    wait_for(&f, &o);
    assert_int_equal(o.r, 0);
    assert_int_equal(fake_http_count(f.fake), 2);
    assert_true(o.at_ms - t0 >= 1000);
    assert_true(o.at_ms - t0 < 5000);
    /* The same request again. */
    assert_string_equal(request(&f, 1)->body, "{\"a\":1}");
    assert_string_equal(request(&f, 1)->path, "/p");
    teardown(&f);
}

static void test_rate_limit_body(void **state)
{
    static const struct fake_step steps[] = {
            {.status = 429, .body = "{\"errcode\":\"M_LIMIT_EXCEEDED\",\"retry_after_ms\":400}"},
            {.status = 200, .body = "{}"},
    };
    struct fixture f;
    struct outcome o = {0};
    uint64_t t0;

    (void)state;
    /* A backoff far longer than the server's wait shows which one was used. */
    setup_with(&f, steps, ELEMENTSOF(steps),
               (struct mx_client_options){.backoff_min_ms = 8000, .backoff_max_ms = 8000});
    t0 = fake_now_ms();
    assert_int_equal(mx_request(f.client, "GET", "/g", NULL, 0, on_done, &o), 0);
    wait_for(&f, &o);
    assert_int_equal(o.r, 0);
    assert_true(o.at_ms - t0 >= 400);
    assert_true(o.at_ms - t0 < 4000);
    assert_int_equal(f.logs.warnings, 0);
    teardown(&f);
}

static void test_server_errors_retried_with_mx_retry_only(void **state)
{
    static const struct fake_step steps[] = {
            {.status = 500, .body = "{\"errcode\":\"M_UNKNOWN\"}"},
            {.status = 502, .body = "{}"},
            {.status = 200, .body = "{\"ok\":\"yes\"}"},
            {.status = 500, .body = "{\"errcode\":\"M_UNKNOWN\",\"error\":\"boom\"}"},
    };
    struct fixture f;
    struct outcome o = {.path = "ok"};

    (void)state;
    setup(&f, steps, ELEMENTSOF(steps));
    assert_int_equal(mx_request(f.client, "GET", "/r", NULL, MX_RETRY, on_done, &o), 0);
    wait_for(&f, &o);
    assert_int_equal(o.r, 0);
    assert_string_equal(o.value, "yes");
    assert_int_equal(fake_http_count(f.fake), 3);
    /* One warning for the outage, one line when it is over; not one per attempt. */
    assert_int_equal(f.logs.warnings, 1);
    assert_int_equal(f.logs.infos, 1);

    o = (struct outcome){0};
    assert_int_equal(mx_request(f.client, "GET", "/once", NULL, 0, on_done, &o), 0);
    wait_for(&f, &o);
    assert_int_equal(o.r, -EIO);
    assert_int_equal(o.status, 500);
    assert_string_equal(o.errcode, "M_UNKNOWN");
    assert_string_equal(o.error, "boom");
    assert_int_equal(fake_http_count(f.fake), 4);
    assert_int_equal(f.logs.warnings, 1);
    teardown(&f);
}

static void test_network_errors_retried(void **state)
{
    static const char body[] = "{\"truncated_by_a_reset\":\"0123456789abcdef\"}";
    static const struct fake_step steps[] = {
            {.action = FAKE_RESET_MID, .status = 200, .body = body},
            {.action = FAKE_CLOSE},
            {.action = FAKE_HANG},
            {.status = 200, .body = "{}"},
            {.action = FAKE_CLOSE},
    };
    struct fixture f;
    struct outcome o = {0};

    (void)state;
    /* The hang ends with the request timeout. */
    setup_with(&f, steps, ELEMENTSOF(steps), (struct mx_client_options){.timeout_ms = 300});
    assert_int_equal(mx_request(f.client, "GET", "/n", NULL, MX_RETRY, on_done, &o), 0);
    wait_for(&f, &o);
    assert_int_equal(o.r, 0);
    assert_int_equal(fake_http_count(f.fake), 4);
    assert_int_equal(f.logs.warnings, 1);

    /* Without MX_RETRY the error is the answer. */
    o = (struct outcome){0};
    assert_int_equal(mx_request(f.client, "GET", "/n", NULL, 0, on_done, &o), 0);
    wait_for(&f, &o);
    assert_int_equal(o.r, -ECONNRESET);
    assert_int_equal(o.status, 0);
    assert_false(o.has_doc);
    teardown(&f);
}

static void test_bodies_that_are_not_json(void **state)
{
    static const char html[] = "<html><body><h1>502 Bad Gateway</h1></body></html>";
    static const struct fake_step steps[] = {
            {.status = 502, .headers = "Content-Type: text/html\r\n", .body = html},
            {.status = 404, .headers = "Content-Type: text/html\r\n", .body = html},
            {.status = 200, .headers = "Content-Type: text/plain\r\n", .body = "hello"},
            {.status = 200, .body = "[1,2]"},
            {.status = 200, .headers = JSON_HEADER, .body = "{\"a\":1"},
            {.status = 200},
    };
    static const int expected[] = {-EIO, -ENOENT, -EBADMSG, -EBADMSG, -EBADMSG, -EBADMSG};
    struct fixture f;

    (void)state;
    setup(&f, steps, ELEMENTSOF(steps));
    for (size_t i = 0; i < ELEMENTSOF(steps); i++) {
        struct outcome o = {0};

        assert_int_equal(mx_request(f.client, "GET", "/h", NULL, 0, on_done, &o), 0);
        wait_for(&f, &o);
        assert_int_equal(o.r, expected[i]);
        assert_int_equal(o.status, steps[i].status);
        assert_false(o.has_doc);
        assert_string_equal(o.errcode, "");
    }
    teardown(&f);
}

static void test_oversized_response(void **state)
{
    static char big[4096];
    static const struct fake_step steps[] = {{.status = 200, .body = big, .body_len = sizeof(big)}};
    struct fixture f;
    struct outcome o = {0};
    bool never = false;

    (void)state;
    memset(big, ' ', sizeof(big));
    big[0] = '{';
    big[sizeof(big) - 1] = '}';
    setup_with(&f, steps, ELEMENTSOF(steps), (struct mx_client_options){.max_response = 1024});
    assert_int_equal(mx_request(f.client, "GET", "/big", NULL, MX_RETRY, on_done, &o), 0);
    wait_for(&f, &o);
    assert_int_equal(o.r, -E2BIG);
    /* Not retried: the same answer would come again. */
    (void)fake_run_until(f.event, &never, 200);
    assert_int_equal(fake_http_count(f.fake), 1);
    teardown(&f);
}

static void test_client_errors_mapped(void **state)
{
    static const struct fake_step steps[] = {
            {.status = 404, .body = "{\"errcode\":\"M_NOT_FOUND\",\"error\":\"no such room\"}"},
            {.status = 403, .body = "{\"errcode\":\"M_FORBIDDEN\"}"},
            {.status = 400, .body = "{\"errcode\":\"M_BAD_JSON\"}"},
            {.status = 413, .body = "{\"errcode\":\"M_TOO_LARGE\"}"},
            {.status = 401, .body = "{\"errcode\":\"M_UNKNOWN_TOKEN\"}"},
            {.status = 302, .headers = "Location: http://elsewhere.example/\r\n"},
    };
    static const int expected[] = {-ENOENT, -EACCES, -EINVAL, -E2BIG, -EACCES, -EPROTO};
    static const char *const errcodes[] = {"M_NOT_FOUND", "M_FORBIDDEN",     "M_BAD_JSON",
                                           "M_TOO_LARGE", "M_UNKNOWN_TOKEN", ""};
    struct fixture f;

    (void)state;
    setup(&f, steps, ELEMENTSOF(steps));
    mx_client_set_token(f.client, "t");
    for (size_t i = 0; i < ELEMENTSOF(steps); i++) {
        struct outcome o = {0};

        /* MX_RETRY does not retry client errors; M_UNKNOWN_TOKEN without a callback is
         * an answer like any other. */
        assert_int_equal(mx_request(f.client, "GET", "/e", NULL, MX_AUTH | MX_RETRY, on_done, &o),
                         0);
        wait_for(&f, &o);
        assert_int_equal(o.r, expected[i]);
        assert_string_equal(o.errcode, errcodes[i]);
    }
    assert_int_equal(fake_http_count(f.fake), ELEMENTSOF(steps));
    /* The caller logs, with context; the client logs nothing. */
    assert_int_equal(f.logs.warnings, 0);
    assert_int_equal(f.logs.infos, 0);
    teardown(&f);
}

/* ---- Unknown tokens --------------------------------------------------------------------- */

struct relogin {
    unsigned calls;
    bool soft_logout;
    bool asked;
};

static void on_unknown_token(struct mx_client *c, bool soft_logout, void *userdata)
{
    struct relogin *rl = userdata;

    (void)c;
    rl->calls++;
    rl->soft_logout = soft_logout;
    rl->asked = true;
}

static void test_unknown_token_relogin(void **state)
{
    static const char unknown[] =
            "{\"errcode\":\"M_UNKNOWN_TOKEN\",\"error\":\"expired\",\"soft_logout\":true}";
    static const struct fake_step steps[] = {
            {.status = 401, .body = unknown},
            {.status = 401, .body = unknown},
            {.status = 200, .body = "{\"n\":\"1\"}"},
            {.status = 200, .body = "{\"n\":\"2\"}"},
    };
    struct fixture f;
    struct outcome o1 = {0}, o2 = {0};
    struct relogin rl = {0};
    bool never = false;

    (void)state;
    setup(&f, steps, ELEMENTSOF(steps));
    mx_client_set_token(f.client, "old-token");
    mx_client_on_unknown_token(f.client, on_unknown_token, &rl);
    assert_int_equal(mx_request(f.client, "GET", "/a", NULL, MX_AUTH, on_done, &o1), 0);
    assert_true(fake_run_until(f.event, &rl.asked, TEST_WAIT_MS));
    assert_int_equal(mx_request(f.client, "GET", "/b", NULL, MX_AUTH, on_done, &o2), 0);
    assert_true(fake_run_until_count(f.event, f.fake, 2, TEST_WAIT_MS));
    (void)fake_run_until(f.event, &never, 300);

    /* Both requests wait; the owner was asked once, with soft_logout. */
    assert_int_equal(rl.calls, 1);
    assert_true(rl.soft_logout);
    assert_false(o1.done);
    assert_false(o2.done);
    assert_int_equal(fake_http_count(f.fake), 2);

    mx_client_set_token(f.client, "new-token");
    assert_false(o1.done); /* resent from the loop, not from inside set_token */
    wait_for(&f, &o1);
    wait_for(&f, &o2);
    assert_int_equal(o1.r, 0);
    assert_int_equal(o2.r, 0);
    assert_int_equal(fake_http_count(f.fake), 4);
    assert_string_equal(header(&f, 0, "authorization"), "Bearer old-token");
    assert_string_equal(header(&f, 2, "authorization"), "Bearer new-token");
    assert_string_equal(header(&f, 3, "authorization"), "Bearer new-token");
    assert_int_equal(rl.calls, 1);
    teardown(&f);
}

/* ---- Registration ----------------------------------------------------------------------- */

static void expect_register_body(struct fixture *f, size_t i, const char *auth_type,
                                 const char *session, const char *token)
{
    const struct fake_request *r = request(f, i);
    _cleanup_(json_doc_freep) struct json_doc *d = NULL;
    bool inhibit = true;
    int tok;

    assert_string_equal(r->method, "POST");
    assert_string_equal(r->path, "/_matrix/client/v3/register?kind=user");
    assert_null(header(f, i, "authorization"));
    assert_int_equal(json_parse(r->body, r->body_len, 100, &d), 0);
    assert_int_equal(json_string_equals(d, 0, "username", "newbot"), 1);
    assert_int_equal(json_string_equals(d, 0, "password", "s3cret"), 1);
    assert_int_equal(json_string_equals(d, 0, "initial_device_display_name", "botrunner"), 1);
    assert_int_equal(json_get_bool(d, 0, "inhibit_login", &inhibit), 0);
    assert_false(inhibit);
    if (!auth_type) {
        assert_int_equal(json_get(d, 0, "auth", &tok), -ENOENT);
        return;
    }
    assert_int_equal(json_string_equals(d, 0, "auth.type", auth_type), 1);
    assert_int_equal(json_string_equals(d, 0, "auth.session", session), 1);
    if (token)
        assert_int_equal(json_string_equals(d, 0, "auth.token", token), 1);
    else
        assert_int_equal(json_get(d, 0, "auth.token", &tok), -ENOENT);
}

static const char registered[] =
        "{\"user_id\":\"@newbot:example.org\",\"access_token\":\"at\",\"device_id\":\"DEV\"}";

static void test_register_synapse_two_stages(void **state)
{
    static const struct fake_step steps[] = {
            {.status = 401,
             .body = "{\"flows\":[{\"stages\":[\"m.login.email.identity\"]},"
                     "{\"stages\":[\"m.login.registration_token\",\"m.login.dummy\"]}],"
                     "\"params\":{},\"session\":\"S1\"}"},
            {.status = 401,
             .body = "{\"flows\":[{\"stages\":[\"m.login.registration_token\","
                     "\"m.login.dummy\"]}],\"session\":\"S1\","
                     "\"completed\":[\"m.login.registration_token\"]}"},
            {.status = 200, .body = registered},
    };
    struct fixture f;
    struct outcome o = {.path = "access_token"};

    (void)state;
    setup(&f, steps, ELEMENTSOF(steps));
    assert_int_equal(mx_register(f.client, "newbot", "s3cret", "regtok", on_done, &o), 0);
    wait_for(&f, &o);
    assert_int_equal(o.r, 0);
    assert_string_equal(o.value, "at");
    assert_int_equal(fake_http_count(f.fake), 3);
    expect_register_body(&f, 0, NULL, NULL, NULL);
    expect_register_body(&f, 1, "m.login.registration_token", "S1", "regtok");
    expect_register_body(&f, 2, "m.login.dummy", "S1", NULL);
    teardown(&f);
}

static void test_register_continuwuity_one_stage(void **state)
{
    static const struct fake_step steps[] = {
            {.status = 401,
             .body = "{\"flows\":[{\"stages\":[\"m.login.registration_token\"]}],"
                     "\"session\":\"C9\",\"completed\":[]}"},
            {.status = 200, .body = registered},
    };
    struct fixture f;
    struct outcome o = {.path = "user_id"};

    (void)state;
    setup(&f, steps, ELEMENTSOF(steps));
    assert_int_equal(mx_register(f.client, "newbot", "s3cret", "regtok", on_done, &o), 0);
    wait_for(&f, &o);
    assert_int_equal(o.r, 0);
    assert_string_equal(o.value, "@newbot:example.org");
    assert_int_equal(fake_http_count(f.fake), 2);
    expect_register_body(&f, 1, "m.login.registration_token", "C9", "regtok");
    teardown(&f);
}

static void test_register_failures(void **state)
{
    static const struct fake_step steps[] = {
            /* No flow we can complete. */
            {.status = 401,
             .body = "{\"flows\":[{\"stages\":[\"m.login.recaptcha\",\"m.login.dummy\"]},"
                     "{\"stages\":[\"m.login.terms\"]}],\"session\":\"X\"}"},
            /* A token flow, but we have no token. */
            {.status = 401,
             .body = "{\"flows\":[{\"stages\":[\"m.login.registration_token\"]}],"
                     "\"session\":\"Y\"}"},
            /* The token is refused. */
            {.status = 401,
             .body = "{\"flows\":[{\"stages\":[\"m.login.registration_token\"]}],"
                     "\"session\":\"Z\"}"},
            {.status = 401,
             .body = "{\"errcode\":\"M_FORBIDDEN\",\"error\":\"Invalid token\","
                     "\"flows\":[{\"stages\":[\"m.login.registration_token\"]}],"
                     "\"session\":\"Z\",\"completed\":[]}"},
            /* The server does not advance. */
            {.status = 401, .body = "{\"flows\":[{\"stages\":[\"m.login.dummy\"]}]}"},
            {.status = 401, .body = "{\"flows\":[{\"stages\":[\"m.login.dummy\"]}]}"},
            /* A plain error. */
            {.status = 400, .body = "{\"errcode\":\"M_USER_IN_USE\"}"},
    };
    static const struct {
        const char *token;
        int r;
        const char *errcode;
        size_t requests;
    } cases[] = {
            {"regtok", -EOPNOTSUPP, "", 1},     {NULL, -EOPNOTSUPP, "", 2},
            {"bad", -EACCES, "M_FORBIDDEN", 4}, {NULL, -EPROTO, "", 6},
            {"x", -EINVAL, "M_USER_IN_USE", 7},
    };
    struct fixture f;

    (void)state;
    setup(&f, steps, ELEMENTSOF(steps));
    for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
        struct outcome o = {0};

        assert_int_equal(mx_register(f.client, "newbot", "s3cret", cases[i].token, on_done, &o), 0);
        wait_for(&f, &o);
        assert_int_equal(o.r, cases[i].r);
        assert_string_equal(o.errcode, cases[i].errcode);
        assert_int_equal(fake_http_count(f.fake), cases[i].requests);
    }
    teardown(&f);
}

/* ---- Media and sync --------------------------------------------------------------------- */

static void test_media_config_fallback(void **state)
{
    static const struct fake_step steps[] = {
            {.status = 404,
             .body = "{\"errcode\":\"M_UNRECOGNIZED\",\"error\":\"Unrecognized request\"}"},
            {.status = 200, .body = "{\"m.upload.size\":50000000}"},
            {.status = 200, .body = "{\"m.upload.size\":1000}"},
    };
    struct fixture f;
    struct outcome o = {0};

    (void)state;
    setup(&f, steps, ELEMENTSOF(steps));
    mx_client_set_token(f.client, "t");
    assert_int_equal(mx_media_config(f.client, on_done, &o), 0);
    wait_for(&f, &o);
    assert_int_equal(o.r, 0);
    assert_int_equal(fake_http_count(f.fake), 2);
    assert_string_equal(request(&f, 0)->path, "/_matrix/client/v1/media/config");
    assert_string_equal(request(&f, 1)->path, "/_matrix/media/v3/config");
    assert_string_equal(header(&f, 0, "authorization"), "Bearer t");
    assert_string_equal(header(&f, 1, "authorization"), "Bearer t");

    /* A server with authenticated media answers the first request. */
    o = (struct outcome){0};
    assert_int_equal(mx_media_config(f.client, on_done, &o), 0);
    wait_for(&f, &o);
    assert_int_equal(o.r, 0);
    assert_int_equal(fake_http_count(f.fake), 3);
    assert_string_equal(request(&f, 2)->path, "/_matrix/client/v1/media/config");
    teardown(&f);
}

#define UPLOAD_SIZE (20u * 1024u * 1024u)

static void test_upload_streamed_and_resent_whole(void **state)
{
    static const struct fake_step steps[] = {
            {.action = FAKE_CLOSE},
            {.status = 200, .body = "{\"content_uri\":\"mxc://example.org/abc\"}"},
    };
    struct fixture f;
    struct outcome o = {.path = "content_uri"};
    uint64_t hash;
    long before, after;
    bool peak;
    char n[32];
    int fd;

    (void)state;
    setup(&f, steps, ELEMENTSOF(steps));
    mx_client_set_token(f.client, "t");
    fd = fake_make_file(UPLOAD_SIZE, &hash);
    assert_true(fd >= 0);
    peak = fake_reset_peak_rss();
    before = fake_rss_kb(peak);
    assert_int_equal(mx_upload(f.client, fd, UPLOAD_SIZE, "video/mp4", "clip one.mp4", on_done, &o),
                     0);
    wait_for(&f, &o);
    after = fake_rss_kb(peak);
    assert_int_equal(o.r, 0);
    assert_string_equal(o.value, "mxc://example.org/abc");
    /* The first attempt got no answer; the second sent the whole file again. */
    assert_int_equal(fake_http_count(f.fake), 2);
    for (size_t i = 0; i < 2; i++) {
        const struct fake_request *r = request(&f, i);

        assert_string_equal(r->method, "POST");
        assert_string_equal(r->path, "/_matrix/media/v3/upload?filename=clip%20one.mp4");
        assert_int_equal(r->body_len, UPLOAD_SIZE);
        assert_true(r->body_hash == hash);
        assert_string_equal(header(&f, i, "content-type"), "video/mp4");
        (void)snprintf(n, sizeof(n), "%u", UPLOAD_SIZE);
        assert_string_equal(header(&f, i, "content-length"), n);
    }
    print_message("upload of 2 x 20 MB: %s grew by %ld kB\n", peak ? "peak RSS" : "RSS",
                  after - before);
    assert_true(after - before < 1024);
    close(fd);
    teardown(&f);
}

static void test_sync_transfer_outlives_request_timeout(void **state)
{
    static const char body[] = "{\"next_batch\":\"s2\",\"rooms\":{}}";
    static const struct fake_step steps[] = {
            {.action = FAKE_SLOW, .status = 200, .body = body, .slow_chunk = 6, .slow_ms = 80},
    };
    struct fixture f;
    struct outcome o = {.path = "next_batch"};

    (void)state;
    /* Requests time out after 150 ms, but a sync's transfer may take its timeout plus a
     * margin: the slow answer (about half a second) still arrives. */
    setup_with(&f, steps, ELEMENTSOF(steps), (struct mx_client_options){.timeout_ms = 150});
    mx_client_set_token(f.client, "t");
    assert_int_equal(mx_sync(f.client, "s1", NULL, 1000, on_done, &o), 0);
    wait_for(&f, &o);
    assert_int_equal(o.r, 0);
    assert_string_equal(o.value, "s2");
    assert_int_equal(fake_http_count(f.fake), 1);
    assert_string_equal(request(&f, 0)->path, "/_matrix/client/v3/sync?timeout=1000&since=s1");
    assert_string_equal(header(&f, 0, "authorization"), "Bearer t");
    teardown(&f);
}

/* ---- Lifetime --------------------------------------------------------------------------- */

static void test_free_cancels_without_callback(void **state)
{
    static const struct fake_step steps[] = {
            {.action = FAKE_HANG},
            {.status = 503, .body = "{}"},
            {.status = 401,
             .body = "{\"flows\":[{\"stages\":[\"m.login.dummy\"]}],\"session\":\"s\"}"},
            {.action = FAKE_HANG},
            {.status = 401, .body = "{\"errcode\":\"M_UNKNOWN_TOKEN\"}"},
    };
    struct fixture f;
    struct outcome o[4] = {{0}};
    struct relogin rl = {0};
    bool never = false;

    (void)state;
    setup_with(&f, steps, ELEMENTSOF(steps),
               (struct mx_client_options){.backoff_min_ms = 5000, .backoff_max_ms = 5000});
    mx_client_on_unknown_token(f.client, on_unknown_token, &rl);
    mx_client_set_token(f.client, "t");
    /* One in flight, one waiting out its backoff, a registration mid-flow, one parked. */
    assert_int_equal(mx_request(f.client, "GET", "/hang", NULL, 0, on_done, &o[0]), 0);
    assert_true(fake_run_until_count(f.event, f.fake, 1, TEST_WAIT_MS));
    assert_int_equal(mx_request(f.client, "GET", "/503", NULL, MX_RETRY, on_done, &o[1]), 0);
    assert_true(fake_run_until_count(f.event, f.fake, 2, TEST_WAIT_MS));
    assert_int_equal(mx_register(f.client, "newbot", "pw", NULL, on_done, &o[2]), 0);
    assert_true(fake_run_until_count(f.event, f.fake, 4, TEST_WAIT_MS));
    assert_int_equal(mx_request(f.client, "GET", "/parked", NULL, MX_AUTH, on_done, &o[3]), 0);
    assert_true(fake_run_until(f.event, &rl.asked, TEST_WAIT_MS));
    (void)fake_run_until(f.event, &never, 100);

    mx_client_free(f.client);
    f.client = NULL;
    for (size_t i = 0; i < ELEMENTSOF(o); i++)
        assert_false(o[i].done);
    teardown(&f);
}

static void free_in_callback(int r, const struct mx_result *res, void *userdata)
{
    struct fixture *f = userdata;

    (void)r;
    (void)res;
    f->client = mx_client_free(f->client);
}

static void test_free_from_callback(void **state)
{
    static const struct fake_step steps[] = {{.status = 200, .body = "{}"}, {.action = FAKE_HANG}};
    struct fixture f;

    (void)state;
    setup(&f, steps, ELEMENTSOF(steps));
    assert_int_equal(mx_request(f.client, "GET", "/1", NULL, 0, free_in_callback, &f), 0);
    assert_int_equal(mx_request(f.client, "GET", "/2", NULL, 0, free_in_callback, &f), 0);
    for (uint64_t end = fake_now_ms() + TEST_WAIT_MS; f.client && fake_now_ms() < end;)
        assert_true(sd_event_run(f.event, 100000) >= 0);
    assert_null(f.client);
    teardown(&f);
}

static const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_round_trips),
        cmocka_unit_test(test_authorization_only_with_mx_auth),
        cmocka_unit_test(test_escaping),
        cmocka_unit_test(test_rate_limit_retry_after_header),
        cmocka_unit_test(test_rate_limit_body),
        cmocka_unit_test(test_server_errors_retried_with_mx_retry_only),
        cmocka_unit_test(test_network_errors_retried),
        cmocka_unit_test(test_bodies_that_are_not_json),
        cmocka_unit_test(test_oversized_response),
        cmocka_unit_test(test_client_errors_mapped),
        cmocka_unit_test(test_unknown_token_relogin),
        cmocka_unit_test(test_register_synapse_two_stages),
        cmocka_unit_test(test_register_continuwuity_one_stage),
        cmocka_unit_test(test_register_failures),
        cmocka_unit_test(test_media_config_fallback),
        cmocka_unit_test(test_upload_streamed_and_resent_whole),
        cmocka_unit_test(test_sync_transfer_outlives_request_timeout),
        cmocka_unit_test(test_free_cancels_without_callback),
        cmocka_unit_test(test_free_from_callback),
};

int main(void)
{
    return cmocka_run_group_tests(tests, NULL, NULL);
}
