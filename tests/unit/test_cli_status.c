/* Unit tests for cli/health and cli/status: the verdicts and their one-line reasons, the exit
 * codes against a scripted server (and none), and the tables for full and hostile documents. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cli/health.h"
#include "cli/status.h"
#include "fake_http.h"

/* The document of the contract, as a degraded fleet would publish it at NOW. */
#define NOW "2026-11-25T17:55:00Z"
static const char full_doc[] =
        "{\"service_status\":\"degraded\",\"version\":\"0.1.0\",\"uptime_s\":11520,"
        "\"enabled_instances_count\":3,\"active_instances_count\":2,"
        "\"failed_instances\":[\"echo-3\"],"
        "\"reasons\":[\"echo-2 not synced for 700 s\",\"echo-3 is failed: exited with status 1\"],"
        "\"instances\":["
        "{\"id\":\"echo-1\",\"plugin\":\"xyz.maubot.echo\",\"user\":\"@echo-1:clarun.xyz\","
        "\"enabled\":true,\"state\":\"running\",\"state_since\":\"2026-11-25T15:55:00Z\","
        "\"restarts\":0,\"last_sync_at\":\"2026-11-25T17:54:55Z\","
        "\"last_message_at\":\"2026-11-25T17:53:00.250Z\",\"last_error\":null,"
        "\"rooms\":[{\"room\":\"!abc:clarun.xyz\",\"alias\":null,\"room_id\":\"!abc:clarun.xyz\","
        "\"joined\":true,\"error\":null},{\"room\":\"#family:clarun.xyz\",\"alias\":"
        "\"#family:clarun.xyz\",\"room_id\":\"!fam:clarun.xyz\",\"joined\":true,\"error\":null}]},"
        "{\"id\":\"echo-2\",\"plugin\":\"xyz.maubot.echo\",\"user\":\"@echo-2:clarun.xyz\","
        "\"enabled\":true,\"state\":\"running\",\"state_since\":\"2026-11-25T17:00:00Z\","
        "\"restarts\":1,\"last_sync_at\":\"2026-11-25T17:43:20Z\",\"last_message_at\":null,"
        "\"last_error\":null,\"rooms\":[{\"room\":\"#later:clarun.xyz\",\"alias\":"
        "\"#later:clarun.xyz\",\"room_id\":null,\"joined\":false,\"error\":\"cannot resolve room "
        "alias #later:clarun.xyz: M_NOT_FOUND Room alias not found\"}]},"
        "{\"id\":\"echo-3\",\"plugin\":\"xyz.maubot.echo\",\"user\":\"@echo-3:clarun.xyz\","
        "\"enabled\":true,\"state\":\"failed\",\"state_since\":\"2026-11-25T17:50:00Z\","
        "\"restarts\":4,\"last_sync_at\":null,\"last_message_at\":null,"
        "\"last_error\":\"exited with status 1\"}],"
        "\"plugins\":["
        "{\"id\":\"xyz.maubot.echo\",\"version\":\"1.0.0\",\"state\":\"active\","
        "\"used_by\":[\"echo-1\",\"echo-2\",\"echo-3\"],\"reason\":null},"
        "{\"id\":\"sna.instagram\",\"version\":\"1.0.0\",\"state\":\"loaded\",\"used_by\":[],\"reason\":null},"
        "{\"id\":null,\"version\":null,\"state\":\"rejected\",\"used_by\":[],\"reason\":"
        "\"plugins[2].path: module \\\"x.so\\\" does not exist\"}],"
        "\"notifications\":["
        "{\"timestamp\":\"2026-11-25T17:50:00Z\",\"source_instance\":\"echo-3\","
        "\"severity\":\"ERROR\",\"message\":\"echo-3 exited with status 1; restarting in 30 s\"},"
        "{\"timestamp\":\"2026-11-24T09:00:00Z\",\"source_instance\":null,"
        "\"severity\":\"INFO\",\"message\":\"botrunner started\"}]}";

static const char full_table[] =
        "service:  degraded, 2 of 3 enabled instances running\n"
        "version:  botrunner 0.1.0, up 3 h 12 min\n"
        "reasons:  echo-2 not synced for 700 s\n"
        "          echo-3 is failed: exited with status 1\n"
        "failed:   echo-3\n"
        "\n"
        "INSTANCES\n"
        "ID      PLUGIN           STATE    SINCE       RESTARTS  LAST SYNC   LAST MESSAGE  "
        "LAST ERROR\n"
        "echo-1  xyz.maubot.echo  running  2 h ago     0         5 s ago     2 min ago     -\n"
        "echo-2  xyz.maubot.echo  running  55 min ago  1         11 min ago  never         -\n"
        "echo-3  xyz.maubot.echo  failed   5 min ago   4         never       never         "
        "exited with status 1\n"
        "\n"
        "ROOMS\n"
        "INSTANCE  ROOM                ROOM ID          JOINED  ERROR\n"
        "echo-1    !abc:clarun.xyz     !abc:clarun.xyz  yes     -\n"
        "echo-1    #family:clarun.xyz  !fam:clarun.xyz  yes     -\n"
        "echo-2    #later:clarun.xyz   (not resolved)   no      cannot resolve room alias "
        "#later:clarun.xyz: M_NOT_FOUND Room alias not found\n"
        "\n"
        "PLUGINS\n"
        "ID               VERSION  STATE     USED BY                 REASON\n"
        "xyz.maubot.echo  1.0.0    active    echo-1, echo-2, echo-3  -\n"
        "sna.instagram    1.0.0    loaded    -                       -\n"
        "-                -        rejected  -                       plugins[2].path: module "
        "\"x.so\" does not exist\n"
        "\n"
        "RECENT NOTIFICATIONS\n"
        "TIME       INSTANCE  SEVERITY  MESSAGE\n"
        "5 min ago  echo-3    ERROR     echo-3 exited with status 1; restarting in 30 s\n"
        "32 h ago   -         INFO      botrunner started\n";

static time_t now_t(void)
{
    time_t t;

    assert_int_equal(status_parse_time(NOW, &t), 0);
    return t;
}

/* status_render() of text into a string (malloc'd). */
static char *render(const char *text)
{
    struct json_doc *d = NULL;
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);

    assert_non_null(f);
    assert_int_equal(status_parse(text, strlen(text), &d), 0);
    status_render(f, d, now_t());
    fclose(f);
    json_doc_free(d);
    return out;
}

/* Nothing but printable text and newlines reaches the terminal. */
static void assert_printable(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if ((*p < 0x20 && *p != '\n') || *p == 0x7f)
            fail_msg("control byte 0x%02x at offset %zu in:\n%s", *p,
                     (size_t)(p - (const unsigned char *)s), s);
}

/* ---- Pieces ------------------------------------------------------------------------------ */

static void test_parse_time(void **state)
{
    static const char *const bad[] = {
            "",
            "2026-11-25",
            "2026-11-25T17:55:00",       /* no zone */
            "2026-11-25T17:55:00+01:00", /* only UTC */
            "2026-11-25 17:55:00Z",
            "2026-11-25T17:55:00ZZ",
            "2026-11-25T17:55:00.Z",
            "2026-13-01T00:00:00Z",
            "2026-02-30T00:00:00Z",
            "2025-02-29T00:00:00Z", /* not a leap year */
            "2026-11-25T24:00:00Z",
            "2026-11-25T17:60:00Z",
            "+026-11-25T17:55:00Z",
            "2026-1a-25T17:55:00Z",
            "2026-11-25T17:55:00.1234567890Z", /* past nanoseconds */
            NULL,
    };
    time_t t;

    (void)state;
    assert_int_equal(status_parse_time("1970-01-01T00:00:00Z", &t), 0);
    assert_int_equal(t, 0);
    assert_int_equal(status_parse_time("2026-11-25T17:55:00Z", &t), 0);
    assert_int_equal(t, 1795629300);
    assert_int_equal(status_parse_time("2026-11-25T17:55:00.999Z", &t), 0);
    assert_int_equal(t, 1795629300);
    assert_int_equal(status_parse_time("2024-02-29T12:00:00Z", &t), 0);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        t = 42;
        if (status_parse_time(bad[i], &t) != -EINVAL)
            fail_msg("accepted \"%s\"", bad[i] ? bad[i] : "(null)");
        assert_int_equal(t, 42);
    }
}

static void test_format_age(void **state)
{
    static const struct {
        int64_t s;
        const char *want;
    } cases[] = {
            {0, "just now"},
            {4, "just now"},
            {-4, "just now"},
            {5, "5 s ago"},
            {59, "59 s ago"},
            {60, "1 min ago"},
            {120, "2 min ago"},
            {3599, "59 min ago"},
            {3600, "1 h ago"},
            {47 * 3600, "47 h ago"},
            {48 * 3600, "2 d ago"},
            {-90, "in 1 min"},
            {INT64_MIN, "in 106751991167300 d"},
            {INT64_MAX, "106751991167300 d ago"},
    };
    char buf[64];

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        status_format_age(cases[i].s, buf, sizeof(buf));
        assert_string_equal(buf, cases[i].want);
    }
}

static void test_get_clean(void **state)
{
    static const char doc[] = "{\"plain\":\"echo-1\",\"esc\":\"a\\u001b[31mred\\u0007\","
                              "\"bidi\":\"abc\\u202edef\",\"c1\":\"x\\u0085y\",\"null\":null,"
                              "\"num\":7,\"long\":\"0123456789\",\"utf\":\"\xc3\xa9t\xc3\xa9\"}";
    struct json_doc *d = NULL;
    char buf[64];

    (void)state;
    assert_int_equal(status_parse(doc, strlen(doc), &d), 0);
    assert_int_equal(status_get_clean(d, 0, "plain", 40, buf, sizeof(buf)), 1);
    assert_string_equal(buf, "echo-1");
    assert_int_equal(status_get_clean(d, 0, "esc", 40, buf, sizeof(buf)), 1);
    assert_string_equal(buf, "a?[31mred?");
    assert_int_equal(status_get_clean(d, 0, "bidi", 40, buf, sizeof(buf)), 1);
    assert_string_equal(buf, "abc?def");
    assert_int_equal(status_get_clean(d, 0, "c1", 40, buf, sizeof(buf)), 1);
    assert_string_equal(buf, "x?y");
    assert_int_equal(status_get_clean(d, 0, "null", 40, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "");
    assert_true(status_get_clean(d, 0, "num", 40, buf, sizeof(buf)) < 0);
    assert_string_equal(buf, "?");
    assert_true(status_get_clean(d, 0, "missing", 40, buf, sizeof(buf)) < 0);
    assert_string_equal(buf, "?");
    assert_int_equal(status_get_clean(d, 0, "long", 4, buf, sizeof(buf)), 1);
    assert_string_equal(buf, "0123\xe2\x80\xa6");
    assert_int_equal(status_get_clean(d, 0, "utf", 2, buf, sizeof(buf)), 1);
    assert_string_equal(buf, "\xc3\xa9t\xe2\x80\xa6");
    json_doc_free(d);
}

/* ---- Health verdicts --------------------------------------------------------------------- */

static int verdict(const char *body, char *line, size_t cap)
{
    return health_verdict("http://127.0.0.1:29316/status", body, strlen(body), line, cap);
}

static void test_health_verdicts(void **state)
{
    char line[1024];

    (void)state;
    assert_int_equal(verdict("{\"service_status\":\"healthy\",\"enabled_instances_count\":3,"
                             "\"active_instances_count\":3,\"reasons\":[]}",
                             line, sizeof(line)),
                     0);
    assert_string_equal(line, "healthy: 3/3 instances running");

    assert_int_equal(verdict(full_doc, line, sizeof(line)), 1);
    assert_string_equal(line, "degraded: echo-2 not synced for 700 s; echo-3 is failed: exited "
                              "with status 1");

    assert_int_equal(verdict("{\"service_status\":\"degraded\",\"reasons\":[\"echo-2 not synced "
                             "for 700 s\"]}",
                             line, sizeof(line)),
                     1);
    assert_string_equal(line, "degraded: echo-2 not synced for 700 s");

    assert_int_equal(verdict("{\"service_status\":\"failed\",\"enabled_instances_count\":2,"
                             "\"active_instances_count\":0,\"reasons\":[\"no enabled instance "
                             "is running\"]}",
                             line, sizeof(line)),
                     2);
    assert_string_equal(line, "failed: no enabled instance is running");

    /* No reasons given: the counts say it, "?" for those missing. */
    assert_int_equal(verdict("{\"service_status\":\"degraded\",\"enabled_instances_count\":3,"
                             "\"active_instances_count\":2}",
                             line, sizeof(line)),
                     1);
    assert_string_equal(line, "degraded: 2/3 instances running");
    assert_int_equal(verdict("{\"service_status\":\"failed\",\"reasons\":[1,null,\"\"]}", line,
                             sizeof(line)),
                     2);
    assert_string_equal(line, "failed: ?/? instances running");
    assert_int_equal(verdict("{\"service_status\":\"healthy\",\"active_instances_count\":\"3\"}",
                             line, sizeof(line)),
                     0);
    assert_string_equal(line, "healthy: ?/? instances running");

    /* Many reasons: the first three, and a count. */
    assert_int_equal(verdict("{\"service_status\":\"degraded\",\"reasons\":[\"a\",\"b\",\"c\","
                             "\"d\",\"e\"]}",
                             line, sizeof(line)),
                     1);
    assert_string_equal(line, "degraded: a; b; c; and 2 more");

    /* A reason is text for a terminal: no escape sequences, no line breaks. */
    assert_int_equal(verdict("{\"service_status\":\"degraded\",\"reasons\":[\"x\\u001b]0;"
                             "pwned\\u0007\\ny\"]}",
                             line, sizeof(line)),
                     1);
    assert_string_equal(line, "degraded: x?]0;pwned??y");
}

static void test_health_hostile_documents(void **state)
{
    static const char *const bad[] = {
            "",
            "{",
            "not json",
            "{\"service_status\":\"healthy\"} trailing",
            "\xff\xfe",
            "[\"healthy\"]",
            "\"healthy\"",
            "null",
            "{}",
            "{\"service_status\":null}",
            "{\"service_status\":1}",
            "{\"service_status\":[\"healthy\"]}",
            "{\"service_status\":\"HEALTHY\"}",
            "{\"service_status\":\"healthy \"}",
            "{\"service_status\":\"ok\"}",
            "{\"status\":{\"service_status\":\"healthy\"}}",
    };
    char line[1024];

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int code = verdict(bad[i], line, sizeof(line));

        if (code != 2 || strncmp(line, "failed: http://127.0.0.1:29316/status answered ", 47) != 0)
            fail_msg("document %zu: exit %d, \"%s\"", i, code, line);
    }
    verdict("{", line, sizeof(line));
    assert_string_equal(line, "failed: http://127.0.0.1:29316/status answered malformed JSON");
    verdict("{\"service_status\":\"ok\"}", line, sizeof(line));
    assert_string_equal(line, "failed: http://127.0.0.1:29316/status answered no service_status "
                              "of healthy, degraded or failed");
    /* A tiny buffer is cut, not overrun. */
    memset(line, 'x', sizeof(line));
    assert_int_equal(verdict(full_doc, line, 12), 1);
    assert_string_equal(line, "degraded: e");
}

/* ---- The commands against a scripted server ---------------------------------------------- */

/* Run a command with stdout captured into out (NUL-terminated). Returns its exit code. */
static int capture(int (*cmd)(int, char **), char **argv, char *out, size_t cap)
{
    int argc = 0, saved, fd, code;
    FILE *tmp = tmpfile();
    size_t n;

    while (argv[argc])
        argc++;
    assert_non_null(tmp);
    fflush(stdout);
    saved = dup(STDOUT_FILENO);
    fd = fileno(tmp);
    assert_true(saved >= 0 && dup2(fd, STDOUT_FILENO) >= 0);
    code = cmd(argc, argv);
    fflush(stdout);
    assert_true(dup2(saved, STDOUT_FILENO) >= 0);
    close(saved);
    rewind(tmp);
    n = fread(out, 1, cap - 1, tmp);
    out[n] = '\0';
    fclose(tmp);
    return code;
}

static int health_against(const struct fake_step *step, char *out, size_t cap,
                          struct fake_http **ret_fake)
{
    struct fake_http *f = NULL;
    char url[128];
    int code;

    assert_int_equal(fake_http_start(step, 1, &f), 0);
    (void)snprintf(url, sizeof(url), "%s/", fake_http_url(f)); /* a trailing slash is fine */
    code = capture(cli_health, (char *[]){"health", "--url", url, NULL}, out, cap);
    if (ret_fake)
        *ret_fake = f;
    else
        fake_http_stop(f);
    return code;
}

static void test_health_command(void **state)
{
    static const char healthy[] = "{\"service_status\":\"healthy\",\"enabled_instances_count\":3,"
                                  "\"active_instances_count\":3,\"reasons\":[]}";
    struct fake_step step = {.action = FAKE_RESPOND, .status = 200, .body = healthy};
    struct fake_http *f;
    char out[4096], want[256];

    (void)state;
    assert_int_equal(health_against(&step, out, sizeof(out), &f), 0);
    assert_string_equal(out, "healthy: 3/3 instances running\n");
    assert_int_equal(fake_http_count(f), 1);
    assert_string_equal(fake_http_request(f, 0)->method, "GET");
    assert_string_equal(fake_http_request(f, 0)->path, "/status");
    fake_http_stop(f);

    step.body = full_doc;
    assert_int_equal(health_against(&step, out, sizeof(out), NULL), 1);
    assert_string_equal(out, "degraded: echo-2 not synced for 700 s; echo-3 is failed: exited with "
                             "status 1\n");

    step.body = "{\"service_status\":\"failed\",\"reasons\":[\"no enabled instance is running\"]}";
    assert_int_equal(health_against(&step, out, sizeof(out), NULL), 2);
    assert_string_equal(out, "failed: no enabled instance is running\n");

    /* Malformed JSON: failed, and a line that says so. */
    step.body = "{\"service_status\":\"healthy\"";
    assert_int_equal(health_against(&step, out, sizeof(out), &f), 2);
    (void)snprintf(want, sizeof(want), "failed: %s/status answered malformed JSON\n",
                   fake_http_url(f));
    assert_string_equal(out, want);
    fake_http_stop(f);

    /* Not 200: the endpoint is up but not answering the contract. */
    step = (struct fake_step){.action = FAKE_RESPOND, .status = 503, .body = "starting"};
    assert_int_equal(health_against(&step, out, sizeof(out), &f), 2);
    (void)snprintf(want, sizeof(want), "failed: %s/status answered HTTP 503\n", fake_http_url(f));
    assert_string_equal(out, want);
    fake_http_stop(f);

    /* Closed without a word. */
    step = (struct fake_step){.action = FAKE_CLOSE};
    assert_int_equal(health_against(&step, out, sizeof(out), &f), 2);
    (void)snprintf(want, sizeof(want), "failed: cannot reach %s/status: ", fake_http_url(f));
    assert_memory_equal(out, want, strlen(want));
    fake_http_stop(f);
}

static void test_health_bounded_body(void **state)
{
    size_t big = STATUS_FETCH_MAX_BODY + 1;
    char *body = malloc(big + 1), out[4096], want[256];
    struct fake_step step = {.action = FAKE_RESPOND, .status = 200, .body_len = big};
    struct fake_http *f;

    (void)state;
    assert_non_null(body);
    body[0] = '"';
    memset(body + 1, 'a', big - 2);
    body[big - 1] = '"';
    body[big] = '\0';
    step.body = body;
    assert_int_equal(health_against(&step, out, sizeof(out), &f), 2);
    (void)snprintf(want, sizeof(want), "failed: %s/status answered more than 1024 KiB\n",
                   fake_http_url(f));
    assert_string_equal(out, want);
    fake_http_stop(f);
    /* The same without Content-Length: cut while reading. */
    step.no_length = true;
    assert_int_equal(health_against(&step, out, sizeof(out), &f), 2);
    (void)snprintf(want, sizeof(want), "failed: %s/status answered more than 1024 KiB\n",
                   fake_http_url(f));
    assert_string_equal(out, want);
    fake_http_stop(f);
    free(body);
}

/* A port nothing listens on: bound, never listened, so the kernel refuses connections. */
static uint16_t dead_port(int *ret_fd)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    *ret_fd = fd;
    return ntohs(sa.sin_port);
}

static void test_unreachable(void **state)
{
    char url[128], out[4096], want[256];
    int fd;
    uint16_t port = dead_port(&fd);

    (void)state;
    (void)snprintf(url, sizeof(url), "http://127.0.0.1:%u", port);
    assert_int_equal(
            capture(cli_health, (char *[]){"health", "--url", url, NULL}, out, sizeof(out)), 2);
    (void)snprintf(want, sizeof(want), "failed: cannot reach %s/status: Connection refused\n", url);
    assert_string_equal(out, want);
    /* status: nothing on stdout, exit 1. */
    assert_int_equal(
            capture(cli_status, (char *[]){"status", "--url", url, NULL}, out, sizeof(out)), 1);
    assert_string_equal(out, "");
    close(fd);

    /* Not an http URL, or bad usage. */
    assert_int_equal(capture(cli_health, (char *[]){"health", "--url", "file:///etc/passwd", NULL},
                             out, sizeof(out)),
                     2);
    assert_string_equal(out, "failed: not an http:// or https:// URL: \"file:///etc/passwd\"\n");
    assert_int_equal(capture(cli_health, (char *[]){"health", "extra", NULL}, out, sizeof(out)), 2);
    assert_int_equal(capture(cli_status, (char *[]){"status", "--bogus", NULL}, out, sizeof(out)),
                     2);
}

static void test_health_timeout(void **state)
{
    struct fake_step step = {.action = FAKE_HANG};
    char out[4096], want[256];
    struct fake_http *f;
    uint64_t t0 = fake_now_ms(), took;

    (void)state;
    assert_int_equal(health_against(&step, out, sizeof(out), &f), 2);
    took = fake_now_ms() - t0;
    (void)snprintf(want, sizeof(want), "failed: cannot reach %s/status: no answer within 5 s\n",
                   fake_http_url(f));
    assert_string_equal(out, want);
    fake_http_stop(f);
    assert_true(took >= STATUS_FETCH_TIMEOUT_MS - 100 && took < STATUS_FETCH_TIMEOUT_MS + 2000);
}

static void test_status_command(void **state)
{
    struct fake_step steps[] = {
            {.action = FAKE_RESPOND, .status = 200, .body = full_doc},
            {.action = FAKE_RESPOND, .status = 200, .body = "{\"a\":1}"},
            {.action = FAKE_RESPOND, .status = 200, .body = "{\"a\":"},
            {.action = FAKE_RESPOND, .status = 200, .body = full_doc},
    };
    struct fake_http *f = NULL;
    char *out = malloc(65536);

    (void)state;
    assert_non_null(out);
    assert_int_equal(fake_http_start(steps, 4, &f), 0);
    /* --json: the document as it came, with a final newline. */
    assert_int_equal(
            capture(cli_status,
                    (char *[]){"status", "--json", "--url", (char *)fake_http_url(f), NULL}, out,
                    65536),
            0);
    assert_int_equal(strlen(out), strlen(full_doc) + 1);
    assert_memory_equal(out, full_doc, strlen(full_doc));
    assert_int_equal(
            capture(cli_status,
                    (char *[]){"status", "--url", (char *)fake_http_url(f), "--json", NULL}, out,
                    65536),
            0);
    assert_string_equal(out, "{\"a\":1}\n");
    /* Malformed: nothing printed, exit 1 (the reason goes to stderr). */
    assert_int_equal(
            capture(cli_status,
                    (char *[]){"status", "--json", "--url", (char *)fake_http_url(f), NULL}, out,
                    65536),
            1);
    assert_string_equal(out, "");
    /* The table (ages against the real clock here: only its shape is checked). */
    assert_int_equal(capture(cli_status,
                             (char *[]){"status", "--url", (char *)fake_http_url(f), NULL}, out,
                             65536),
                     0);
    assert_non_null(strstr(out, "service:  degraded, 2 of 3 enabled instances running\n"));
    assert_non_null(strstr(out, "\nINSTANCES\nID "));
    assert_non_null(strstr(out, "\nPLUGINS\nID "));
    assert_non_null(strstr(out, "\nRECENT NOTIFICATIONS\nTIME "));
    fake_http_stop(f);
    free(out);
}

/* ---- -c FILE ----------------------------------------------------------------------------- */

/* A config file in /tmp holding text; its path in path (64 bytes). */
static void write_config(char *path, const char *text)
{
    int fd;

    strcpy(path, "/tmp/botrunner-test-status-XXXXXX");
    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

/* The endpoint is read from the status: mapping alone: plugins that do not exist and
 * credentials that are absent do not matter; the mapping's own rules do. */
static void test_base_from_config(void **state)
{
    static const char head[] = "homeserver: {server_name: x.org, url: http://127.0.0.1:6167}\n"
                               "state_directory: /nonexistent\nsecret_key_file: nope\n"
                               "plugins: [{path: /nonexistent/plugin.mbp}]\n"
                               "instances: []\n";
    static const struct {
        const char *status, *url, *reason;
    } cases[] = {
            {"", "http://127.0.0.1:29316", NULL},
            {"status: {port: 29400}\n", "http://127.0.0.1:29400", NULL},
            {"status:\n  address: 127.0.0.2\n  port: 1\n", "http://127.0.0.2:1", NULL},
            {"status: {address: \"::1\", port: 29316}\n", "http://[::1]:29316", NULL},
            {"status: {address: 10.0.0.5, allow_non_loopback: true}\n", "http://10.0.0.5:29316",
             NULL},
            {"status: {address: \"[::1]\", port: 2}\n", "http://[::1]:2", NULL},
            {"status: {address: 0.0.0.0, allow_non_loopback: true}\n", "http://127.0.0.1:29316",
             NULL},
            {"status: {address: \"::\", allow_non_loopback: true}\n", "http://[::1]:29316", NULL},
            {"status: {address: localhost}\n", NULL,
             "status.address: use the IP literal 127.0.0.1 instead of \"localhost\" (line 6)"},
            {"status: {address: 10.0.0.5}\n", NULL,
             "status.address: \"10.0.0.5\" is not loopback; the status endpoint stays on "
             "loopback unless status.allow_non_loopback is true (line 6)"},
            {"status:\n  port: http\n", NULL, "status.port: \"http\" is not a decimal integer "
                                              "(line 7)"},
            {"status:\n  port: 70000\n", NULL, "status.port: 70000 is out of range (0..65535) "
                                               "(line 7)"},
            {"status:\n  port: 0\n", NULL, "status.port: port 0 is not a port (line 7)"},
            {"status:\n  prot: 1\n", NULL, "status: unknown key \"prot\" (did you mean "
                                           "\"port\"?) (line 7)"},
            {"status: [1]\n", NULL, "status: expected a mapping, found a list (line 6)"},
    };

    (void)state;
    for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
        char path[64], url[256], reason[1024], want[1200];
        char *text = NULL;
        int r;

        assert_true(asprintf(&text, "%s%s", head, cases[i].status) > 0);
        write_config(path, text);
        free(text);
        r = status_base_from_config(path, url, sizeof(url), reason, sizeof(reason));
        if (cases[i].url) {
            if (r != 0)
                fail_msg("case %zu: %s", i, reason);
            assert_string_equal(url, cases[i].url);
        } else {
            assert_int_equal(r, -EINVAL);
            (void)snprintf(want, sizeof(want), "%s: %s", path, cases[i].reason);
            assert_string_equal(reason, want);
        }
        unlink(path);
    }

    {
        char url[256], reason[1024];
        assert_int_equal(status_base_from_config("/nonexistent/botrunner.yaml", url, sizeof(url),
                                                 reason, sizeof(reason)),
                         -EINVAL);
        assert_non_null(strstr(reason, "cannot open"));
    }
}

/* `health -c FILE` and `status -c FILE` ask the endpoint the file declares; -c with --url is
 * a usage error; a config whose status: is wrong is a failure that says where. */
static void test_commands_with_config(void **state)
{
    static const char healthy[] = "{\"service_status\":\"healthy\",\"enabled_instances_count\":1,"
                                  "\"active_instances_count\":1,\"reasons\":[]}";
    struct fake_step steps[] = {
            {.action = FAKE_RESPOND, .status = 200, .body = healthy},
            {.action = FAKE_RESPOND, .status = 200, .body = healthy},
    };
    char path[64], bad[64], text[256], out[4096];
    struct fake_http *f = NULL;

    (void)state;
    assert_int_equal(fake_http_start(steps, 2, &f), 0);
    (void)snprintf(text, sizeof(text), "status: {address: 127.0.0.1, port: %u}\n",
                   (unsigned)fake_http_port(f));
    write_config(path, text);
    write_config(bad, "status: {address: localhost}\n");

    assert_int_equal(capture(cli_health, (char *[]){"health", "-c", path, NULL}, out, sizeof(out)),
                     0);
    assert_string_equal(out, "healthy: 1/1 instances running\n");
    assert_int_equal(capture(cli_status, (char *[]){"status", "--json", "--config", path, NULL},
                             out, sizeof(out)),
                     0);
    assert_memory_equal(out, healthy, strlen(healthy));
    assert_int_equal(fake_http_count(f), 2);

    assert_int_equal(capture(cli_health, (char *[]){"health", "-c", path, "--url", "http://x",
                                                    NULL},
                             out, sizeof(out)),
                     2);
    assert_int_equal(capture(cli_status, (char *[]){"status", "-c", path, "--url", "http://x",
                                                    NULL},
                             out, sizeof(out)),
                     2);
    assert_int_equal(capture(cli_health, (char *[]){"health", "-c", bad, NULL}, out, sizeof(out)),
                     2);
    assert_non_null(strstr(out, "failed: cannot read the status address: "));
    assert_non_null(strstr(out, ": status.address: use the IP literal 127.0.0.1"));
    assert_int_equal(capture(cli_status, (char *[]){"status", "-c", bad, NULL}, out, sizeof(out)),
                     1);
    assert_int_equal(fake_http_count(f), 2); /* none of those reached the endpoint */
    unlink(path);
    unlink(bad);
    fake_http_stop(f);
}

/* ---- Tables ------------------------------------------------------------------------------ */

static void test_render_full(void **state)
{
    char *out = render(full_doc);

    (void)state;
    if (strcmp(out, full_table) != 0)
        fail_msg("got:\n%s\nwant:\n%s", out, full_table);
    free(out);
}

/* A refused reload shows under the service line; a last error that is over says since
 * when, before its text. */
static void test_render_reload_and_resolved_error(void **state)
{
    static const char doc[] =
            "{\"service_status\":\"degraded\",\"version\":\"0.1.0\",\"uptime_s\":60,"
            "\"enabled_instances_count\":1,\"active_instances_count\":1,"
            "\"failed_instances\":[],\"reasons\":[\"the last reload was refused: 2 errors\"],"
            "\"reload\":{\"at\":\"2026-11-25T17:52:00Z\",\"refused\":true,\"error_count\":2,"
            "\"first_error\":\"instances[0].user: bad (line 12)\"},"
            "\"instances\":[{\"id\":\"echo-1\",\"plugin\":\"p\",\"state\":\"running\","
            "\"state_since\":\"2026-11-25T17:54:00Z\",\"restarts\":0,"
            "\"last_sync_at\":\"2026-11-25T17:54:59Z\",\"last_message_at\":null,"
            "\"last_error\":\"cannot join !r:x: M_FORBIDDEN\","
            "\"last_error_resolved_at\":\"2026-11-25T17:53:00Z\"}],"
            "\"plugins\":[],\"notifications\":[]}";
    char *out = render(doc);

    (void)state;
    assert_non_null(strstr(out, "\nreload:   refused 3 min ago: 2 errors, first: "
                                "instances[0].user: bad (line 12)\nreasons:  "));
    assert_non_null(strstr(out, "  resolved 2 min ago: cannot join !r:x: M_FORBIDDEN\n"));
    free(out);

    /* An accepted reload says only when. */
    {
        char *out2 = render("{\"reload\":{\"at\":\"2026-11-25T17:54:00Z\",\"refused\":false,"
                            "\"error_count\":0,\"first_error\":null}}");
        assert_non_null(strstr(out2, "\nreload:   accepted 1 min ago\n"));
        free(out2);
    }
}

static void test_render_hostile(void **state)
{
    static const char wrong_types[] =
            "{\"service_status\":7,\"version\":null,\"uptime_s\":\"long\","
            "\"enabled_instances_count\":\"3\",\"active_instances_count\":1.5,"
            "\"failed_instances\":\"echo-3\",\"reasons\":{\"a\":1},"
            "\"instances\":[7,null,[],{\"id\":[\"x\"],\"plugin\":{},\"state\":true,"
            "\"state_since\":\"yesterday\",\"restarts\":\"many\",\"last_sync_at\":12,"
            "\"last_message_at\":\"2026-13-45T99:99:99Z\",\"last_error\":{\"e\":1}},"
            "{\"id\":\"\\u001b[2Jwipe\",\"last_error\":\"line1\\nline2\\r\\u009b31m\"}],"
            "\"plugins\":{\"id\":\"x\"},"
            "\"notifications\":[{\"timestamp\":null,\"message\":\"\\u202eevil\"},\"text\"]}";
    static const char want[] =
            "service:  ?, ? of ? enabled instances running\n"
            "version:  botrunner -, up ?\n"
            "reasons:  ?\n"
            "failed:   ?\n"
            "\n"
            "INSTANCES\n"
            "ID        PLUGIN  STATE  SINCE  RESTARTS  LAST SYNC  LAST MESSAGE  LAST ERROR\n"
            "?         ?       ?      ?      ?         ?          ?             ?\n"
            "?         ?       ?      ?      ?         ?          ?             ?\n"
            "?         ?       ?      ?      ?         ?          ?             ?\n"
            "?         ?       ?      ?      ?         ?          ?             ?\n"
            "?[2Jwipe  ?       ?      ?      ?         ?          ?             line1?line2??31m\n"
            "\n"
            "ROOMS\n"
            "(none)\n"
            "\n"
            "PLUGINS\n"
            "?\n"
            "\n"
            "RECENT NOTIFICATIONS\n"
            "TIME  INSTANCE  SEVERITY  MESSAGE\n"
            "?     ?         ?         ?evil\n"
            "?     ?         ?         ?\n";
    static const char *const odd[] = {
            "[]",
            "null",
            "\"text\"",
            "{}",
            "{\"instances\":[]}",
            "{\"instances\":[{}],\"plugins\":[{\"used_by\":[1,null,\"a\"]}],\"notifications\":[]}",
    };
    char *out;

    (void)state;
    out = render(wrong_types);
    assert_printable(out);
    if (strcmp(out, want) != 0)
        fail_msg("got:\n%s\nwant:\n%s", out, want);
    free(out);
    for (size_t i = 0; i < sizeof(odd) / sizeof(odd[0]); i++) {
        out = render(odd[i]);
        assert_printable(out);
        free(out);
    }
    out = render("[]");
    assert_string_equal(out, "service:  ? (the document is not a JSON object)\n");
    free(out);
    out = render("{\"instances\":[],\"plugins\":[{\"used_by\":[1,null,\"a\"]}]}");
    assert_non_null(strstr(out, "INSTANCES\n(none)\n"));
    assert_non_null(strstr(out, "\n?   ?        ?      ?, -, a  ?\n"));
    assert_non_null(strstr(out, "RECENT NOTIFICATIONS\n?\n"));
    free(out);
}

/* Long lists are cut, and the rest counted. */
static void test_render_bounds(void **state)
{
    char *doc = malloc(1u << 20), *out, *p;
    size_t len = 0;
    int rows = 0;

    (void)state;
    assert_non_null(doc);
    len += (size_t)sprintf(doc + len, "{\"service_status\":\"healthy\",\"notifications\":[");
    for (int i = 0; i < 50; i++)
        len += (size_t)sprintf(doc + len, "%s{\"timestamp\":\"" NOW "\",\"message\":\"n%d\"}",
                               i ? "," : "", i);
    len += (size_t)sprintf(doc + len, "],\"instances\":[{\"id\":\"");
    for (int i = 0; i < 300; i++)
        doc[len++] = 'x';
    len += (size_t)sprintf(doc + len, "\"}]}");
    doc[len] = '\0';
    out = render(doc);
    for (p = strstr(out, "RECENT NOTIFICATIONS\n"); p && (p = strstr(p, "just now")); p++)
        rows++;
    assert_int_equal(rows, 20);
    assert_non_null(strstr(out, "(and 30 more not shown)\n"));
    /* The 300-character id is cut at 40 with an ellipsis. */
    assert_non_null(strstr(out, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\xe2\x80\xa6 "));
    assert_null(strstr(out, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"));
    free(out);
    free(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_parse_time),
            cmocka_unit_test(test_format_age),
            cmocka_unit_test(test_get_clean),
            cmocka_unit_test(test_health_verdicts),
            cmocka_unit_test(test_health_hostile_documents),
            cmocka_unit_test(test_health_command),
            cmocka_unit_test(test_health_bounded_body),
            cmocka_unit_test(test_unreachable),
            cmocka_unit_test(test_health_timeout),
            cmocka_unit_test(test_status_command),
            cmocka_unit_test(test_base_from_config),
            cmocka_unit_test(test_commands_with_config),
            cmocka_unit_test(test_render_full),
            cmocka_unit_test(test_render_reload_and_resolved_error),
            cmocka_unit_test(test_render_hostile),
            cmocka_unit_test(test_render_bounds),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
