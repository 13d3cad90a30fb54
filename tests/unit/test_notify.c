/* Tests for supervisor/notify.c: the rolling rate limit and its summaries across windows,
 * the flush timer, the ring for /status, the room text (layout, bounds, sanitizing) and
 * that no planted secret or token ever reaches the text or the ring. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "supervisor/notify.h"
#include "util/log.h"
#include "util/utf8.h"

#define SECRET       "hunter2-Sup3rSecretPassw0rd"
#define BEARER_TOKEN "abcTOKENdef0123456789"
#define URL_TOKEN    "syt_ZWNobw_UrLtOkEnVaLuE_1a2b3c"

static int teardown(void **state)
{
    (void)state;
    log_redact_clear();
    return 0;
}

static struct notifier *notifier(unsigned max)
{
    struct notifier *n = NULL;

    assert_int_equal(notifier_new(max, &n), 0);
    return n;
}

static struct notification_in simple(const char *message)
{
    return (struct notification_in){
            .source_instance = "echo-1",
            .severity = "ERROR",
            .message = message,
    };
}

/* Offer at now; check whether it posts and whether a summary came, and with what count. */
static void offer(struct notifier *n, int64_t now, bool posted, const char *summary)
{
    struct notification_in in = simple("boom");
    char *s = NULL, *t = NULL;

    assert_int_equal(notify_offer(n, now, &in, &s, &t), posted ? 1 : 0);
    if (posted)
        assert_string_equal(t, "[ERROR] echo-1: boom");
    else
        assert_null(t);
    if (summary)
        assert_string_equal(s, summary);
    else
        assert_null(s);
    free(s);
    free(t);
}

static void flush(struct notifier *n, int64_t now, const char *summary)
{
    char *s = (char *)"not written";

    assert_int_equal(notify_flush(n, now, &s), summary ? 1 : 0);
    if (summary)
        assert_string_equal(s, summary);
    else
        assert_null(s);
    free(s);
}

static void test_rate_limit_and_summary(void **state)
{
    _cleanup_(notifier_freep) struct notifier *n = notifier(3);
    (void)state;

    offer(n, 1000, true, NULL);
    offer(n, 1001, true, NULL);
    offer(n, 1002, true, NULL);
    assert_int_equal(notify_flush_at(n), 0);
    offer(n, 1003, false, NULL);
    offer(n, 1004, false, NULL);
    /* The summary falls due a minute after the first held-back one. */
    assert_int_equal(notify_flush_at(n), 1063);
    flush(n, 1062, NULL);
    /* A post before then goes out alone (the first post's slot expired at 1060). */
    offer(n, 1060, true, NULL);
    /* The next post after it carries the summary, once. */
    offer(n, 1063, true, "2 more notifications in the last minute (see the journal)");
    assert_int_equal(notify_flush_at(n), 0);
    flush(n, 5000, NULL);
}

static void test_rolling_window(void **state)
{
    _cleanup_(notifier_freep) struct notifier *n = notifier(2);
    (void)state;

    /* Rolling, not fixed minutes: 2 in any 60 s. */
    offer(n, 0, true, NULL);
    offer(n, 59, true, NULL);
    offer(n, 59, false, NULL);
    offer(n, 60, true, NULL);  /* the post at 0 left the window */
    offer(n, 61, false, NULL); /* 59 and 60 are in it */
    offer(n, 118, false, NULL);
    offer(n, 119, true, "3 more notifications in the last minute (see the journal)");
}

static void test_flush_timer(void **state)
{
    _cleanup_(notifier_freep) struct notifier *n = notifier(1);
    (void)state;

    offer(n, 0, true, NULL);
    offer(n, 10, false, NULL);
    offer(n, 20, false, NULL);
    flush(n, 69, NULL);
    flush(n, 70, "2 more notifications in the last minute (see the journal)");
    flush(n, 71, NULL);
    assert_int_equal(notify_flush_at(n), 0);
    /* Nothing owed: the next post comes alone. */
    offer(n, 71, true, NULL);
    offer(n, 72, false, NULL);
    flush(n, 132, "1 more notification in the last minute (see the journal)");
}

/* A summary falls due while the new notification is itself held back: the summary covers
 * the old ones, and the new one opens the next window. */
static void test_summary_with_suppressed_offer(void **state)
{
    _cleanup_(notifier_freep) struct notifier *n = notifier(1);
    (void)state;

    offer(n, 0, true, NULL);
    offer(n, 1, false, NULL);
    offer(n, 50, false, NULL);
    offer(n, 60, true, NULL); /* due only at 61 */
    offer(n, 61, false, "2 more notifications in the last minute (see the journal)");
    assert_int_equal(notify_flush_at(n), 121);
    offer(n, 121, true, "1 more notification in the last minute (see the journal)");
}

static void test_clock_steps_back(void **state)
{
    _cleanup_(notifier_freep) struct notifier *n = notifier(1);
    (void)state;

    offer(n, 100000, true, NULL);
    offer(n, 100001, false, NULL);
    /* The clock went back an hour: notifications are not held back for an hour. */
    offer(n, 96400, true, NULL);
    /* The held-back one is owed a minute after the new "now". */
    assert_int_equal(notify_flush_at(n), 96460);
}

static void test_ring_newest_first(void **state)
{
    _cleanup_(notifier_freep) struct notifier *n = notifier(5);
    char msg[32];
    (void)state;

    assert_int_equal(notify_recent_count(n), 0);
    assert_null(notify_recent(n, 0));
    for (int i = 0; i < 60; i++) {
        struct notification_in in = simple(msg);
        char *s = NULL, *t = NULL;
        snprintf(msg, sizeof msg, "msg %d", i);
        in.severity = i % 2 ? "CRITICAL" : "ERROR";
        assert_true(notify_offer(n, 1000 + i, &in, &s, &t) >= 0);
        free(s);
        free(t);
    }
    assert_int_equal(notify_recent_count(n), NOTIFY_KEEP);
    assert_null(notify_recent(n, NOTIFY_KEEP));
    for (size_t i = 0; i < NOTIFY_KEEP; i++) {
        const struct notification *e = notify_recent(n, i);
        int k = 59 - (int)i;
        snprintf(msg, sizeof msg, "msg %d", k);
        assert_string_equal(e->message, msg);
        assert_int_equal(e->timestamp, 1000 + k);
        assert_string_equal(e->severity, k % 2 ? "CRITICAL" : "ERROR");
        assert_string_equal(e->source_instance, "echo-1");
        assert_null(e->context_json);
        /* Five a minute: within each minute the first five posted, the rest held back. */
        assert_int_equal(e->suppressed, (k % 60) >= 5);
    }
}

static void test_invalid_offers_change_nothing(void **state)
{
    _cleanup_(notifier_freep) struct notifier *n = notifier(1);
    struct notification_in in = simple("boom");
    char *s = (char *)"x", *t = (char *)"y";
    struct notifier *bad = NULL;
    (void)state;

    in.severity = "WARN";
    assert_int_equal(notify_offer(n, 0, &in, &s, &t), -EINVAL);
    in.severity = "error";
    assert_int_equal(notify_offer(n, 0, &in, &s, &t), -EINVAL);
    in.severity = NULL;
    assert_int_equal(notify_offer(n, 0, &in, &s, &t), -EINVAL);
    in = simple("");
    assert_int_equal(notify_offer(n, 0, &in, &s, &t), -EINVAL);
    in = simple(NULL);
    assert_int_equal(notify_offer(n, 0, &in, &s, &t), -EINVAL);
    assert_string_equal(s, "x");
    assert_string_equal(t, "y");
    assert_int_equal(notify_recent_count(n), 0);
    /* The refused ones used no slot: the next valid one posts. */
    offer(n, 0, true, NULL);

    assert_int_equal(notifier_new(0, &bad), -EINVAL);
    assert_int_equal(notifier_new(NOTIFY_MAX_PER_MINUTE + 1, &bad), -EINVAL);
    assert_null(bad);
}

static void test_format_layout(void **state)
{
    _cleanup_(notifier_freep) struct notifier *n = notifier(10);
    struct notification_in in = {
            .source_instance = "echo-2",
            .severity = "CRITICAL",
            .message = "worker killed by SIGSEGV; restarting in 2 s",
            .room_id = "!abc:clarun.xyz",
            .event_id = "$ev1",
            .error_type = "SIGSEGV",
            .trace = "frame 1\r\nframe 2   \n\n",
    };
    char *s = NULL, *t = NULL;
    const struct notification *e;
    (void)state;

    assert_int_equal(notify_offer(n, 7, &in, &s, &t), 1);
    assert_null(s);
    assert_string_equal(t, "[CRITICAL] echo-2: worker killed by SIGSEGV; restarting in 2 s\n"
                           "room: !abc:clarun.xyz\n"
                           "event: $ev1\n"
                           "error type: SIGSEGV\n"
                           "trace:\n"
                           "  frame 1\n"
                           "  frame 2");
    free(t);

    /* The ring keeps the seed's context object. */
    e = notify_recent(n, 0);
    assert_string_equal(e->context_json, "{\"room_id\":\"!abc:clarun.xyz\",\"event_id\":\"$ev1\","
                                         "\"exception_type\":\"SIGSEGV\","
                                         "\"stack_trace\":\"frame 1\\nframe 2\"}");

    /* No source, no context: one line. */
    struct notification plain = {.severity = (char *)"ERROR", .message = (char *)"disk full"};
    assert_int_equal(notify_format(&plain, &t), 0);
    assert_string_equal(t, "[ERROR] disk full");
    free(t);
}

static void test_format_trace_last_lines(void **state)
{
    char trace[512] = "";
    struct notification e = {
            .severity = (char *)"ERROR",
            .message = (char *)"m",
    };
    char *t = NULL;
    (void)state;

    for (int i = 1; i <= 15; i++)
        snprintf(trace + strlen(trace), sizeof trace - strlen(trace), "line %d\n", i);
    strcat(trace, "\n\n");
    /* The context as the store would hand it back, with a member it does not know. */
    _cleanup_free_ char *json = NULL;
    char esc[1024] = "", *o = esc;
    for (const char *p = trace; *p; p++)
        o += *p == '\n' ? sprintf(o, "\\n") : sprintf(o, "%c", *p);
    assert_true(asprintf(&json, "{\"stack_trace\":\"%s\",\"unknown\":[1]}", esc) > 0);
    e.context_json = json;
    assert_int_equal(notify_format(&e, &t), 0);
    assert_string_equal(t, "[ERROR] m\ntrace:\n  line 6\n  line 7\n  line 8\n  line 9\n"
                           "  line 10\n  line 11\n  line 12\n  line 13\n  line 14\n  line 15");
    free(t);

    /* A context that is not an object, or not JSON, is left out; the notice still goes. */
    e.context_json = (char *)"[\"room_id\"]";
    assert_int_equal(notify_format(&e, &t), 0);
    assert_string_equal(t, "[ERROR] m");
    free(t);
    e.context_json = (char *)"{\"room_id\": nope";
    assert_int_equal(notify_format(&e, &t), 0);
    assert_string_equal(t, "[ERROR] m");
    free(t);

    e.severity = (char *)"INFO";
    assert_int_equal(notify_format(&e, &t), -EINVAL);
    e.severity = (char *)"ERROR";
    e.message = (char *)"";
    assert_int_equal(notify_format(&e, &t), -EINVAL);
}

/* Text fit for a room: valid UTF-8, no control character but LF. */
static void assert_room_text(const char *t)
{
    assert_true(utf8_is_valid_text(t, strlen(t)));
    assert_null(strchr(t, '\r'));
    assert_null(strchr(t, '\t'));
    assert_null(strstr(t, "\xc2\x85"));     /* C1 NEL */
    assert_null(strstr(t, "\xe2\x80\xae")); /* RIGHT-TO-LEFT OVERRIDE */
    assert_null(strstr(t, "\xe2\x80\xa8")); /* LINE SEPARATOR */
    assert_null(strchr(t, 0x7f));
}

static void test_format_sanitizes(void **state)
{
    _cleanup_(notifier_freep) struct notifier *n = notifier(10);
    struct notification_in in = {
            .source_instance = "echo\n-1",
            .severity = "ERROR",
            .message = "a\x1b[31mred\x07\tb\r\nc \xff \xe2\x80\xae evil \xc2\x85 \x7f",
            .room_id = "!a\nb:x",
            .trace = "ok\x01line\n\ttabbed",
    };
    char *s = NULL, *t = NULL;
    (void)state;

    assert_int_equal(notify_offer(n, 0, &in, &s, &t), 1);
    assert_room_text(t);
    assert_string_equal(t, "[ERROR] echo -1: a\xef\xbf\xbd[31mred\xef\xbf\xbd b  c \xef\xbf\xbd "
                           "\xef\xbf\xbd evil \xef\xbf\xbd \xef\xbf\xbd\n"
                           "room: !a b:x\n"
                           "trace:\n"
                           "  ok\xef\xbf\xbdline\n"
                           "   tabbed");
    free(t);
}

static void test_format_bounds(void **state)
{
    _cleanup_(notifier_freep) struct notifier *n = notifier(10);
    static char message[100000], trace[200000], id[5000];
    struct notification_in in = {
            .source_instance = id,
            .severity = "CRITICAL",
            .message = message,
            .room_id = id,
            .event_id = id,
            .error_type = id,
            .trace = trace,
    };
    char *s = NULL, *t = NULL;
    const struct notification *e;
    (void)state;

    /* Three-byte characters everywhere, so every cut must find a boundary. */
    for (size_t i = 0; i + 3 < sizeof message; i += 3)
        memcpy(message + i, "\xe2\x82\xac", 3);
    for (size_t i = 0; i + 1 < sizeof trace; i++)
        trace[i] = i % 700 == 699 ? '\n' : "\xe4\xb8\xad"[i % 3];
    memset(id, 'i', sizeof id - 1);

    assert_int_equal(notify_offer(n, 0, &in, &s, &t), 1);
    assert_true(strlen(t) <= NOTIFY_TEXT_MAX);
    assert_true(strlen(t) > NOTIFY_TEXT_MAX - 10); /* it was filled, then cut */
    assert_room_text(t);
    assert_string_equal(t + strlen(t) - 3, "...");
    free(t);

    /* What the ring keeps is bounded too. */
    e = notify_recent(n, 0);
    assert_true(strlen(e->message) <= NOTIFY_MESSAGE_MAX);
    assert_string_equal(e->message + strlen(e->message) - 3, "...");
    assert_true(strlen(e->source_instance) <= NOTIFY_ID_MAX);
    assert_true(strlen(e->context_json) < NOTIFY_ID_MAX * 3 + NOTIFY_ERROR_TYPE_MAX +
                                                  NOTIFY_TRACE_LINES * NOTIFY_TRACE_LINE_MAX * 2 +
                                                  200);
    assert_true(utf8_is_valid(e->message, strlen(e->message)));
}

/* The secrets test: a registered secret, a bearer token and an access_token URL, planted in
 * every field, reach neither the room text nor the ring. */
static void assert_clean(const char *t)
{
    if (!t)
        return;
    assert_null(strstr(t, SECRET));
    assert_null(strstr(t, "hunter2-Sup3r")); /* not even a prefix from a cut */
    assert_null(strstr(t, BEARER_TOKEN));
    assert_null(strstr(t, "abcTOKEN"));
    assert_null(strstr(t, URL_TOKEN));
    assert_null(strstr(t, "UrLtOkEn"));
    assert_null(strstr(t, "pass word4321"));
}

static void test_secrets_never_leak(void **state)
{
    _cleanup_(notifier_freep) struct notifier *n = notifier(10);
    static const char tabbed[] = "pass\tword4321";
    static char long_message[NOTIFY_MESSAGE_MAX + 100];
    static const char planted[] =
            "login as " SECRET " with Authorization: Bearer " BEARER_TOKEN
            " at https://hs/_matrix/client/v3/sync?since=s1&access_token=" URL_TOKEN
            "&timeout=30000 pw pass\tword4321";
    char trace[2048];
    (void)state;

    assert_int_equal(log_redact_add(SECRET, strlen(SECRET)), 0);
    assert_int_equal(log_redact_add(tabbed, strlen(tabbed)), 0);
    snprintf(trace, sizeof trace, "frame 0\n%s\nframe 2 {\"access_token\": \"%s\"}\nframe 3",
             planted, URL_TOKEN);

    struct notification_in in = {
            .source_instance = SECRET,
            .severity = "CRITICAL",
            .message = planted,
            .room_id = planted,
            .event_id = SECRET,
            .error_type = "Bearer " BEARER_TOKEN,
            .trace = trace,
    };
    char *s = NULL, *t = NULL;
    assert_int_equal(notify_offer(n, 0, &in, &s, &t), 1);
    assert_non_null(strstr(t, "[redacted]"));
    assert_non_null(strstr(t, "frame 3")); /* redaction hid the secrets, not the trace */
    assert_clean(t);
    free(t);

    /* A secret straddling the message's cut: redacted before the cut, so no half of it. */
    size_t at = NOTIFY_MESSAGE_MAX - 10;
    memset(long_message, 'x', sizeof long_message - 1);
    memcpy(long_message + at, SECRET, strlen(SECRET));
    in = simple(long_message);
    assert_int_equal(notify_offer(n, 1, &in, &s, &t), 1);
    assert_clean(t);
    free(t);

    for (size_t i = 0; i < notify_recent_count(n); i++) {
        const struct notification *e = notify_recent(n, i);
        assert_clean(e->source_instance);
        assert_clean(e->message);
        assert_clean(e->context_json);
    }

    /* notify_format() redacts on its own, e.g. for a notification read back from the store. */
    _cleanup_free_ char *json = NULL;
    assert_true(asprintf(&json, "{\"room_id\":\"%s\",\"stack_trace\":\"a\\n%s\\nb\"}", SECRET,
                         SECRET) > 0);
    struct notification raw = {
            .source_instance = (char *)SECRET,
            .severity = (char *)"ERROR",
            .message = (char *)planted,
            .context_json = json,
    };
    assert_int_equal(notify_format(&raw, &t), 0);
    assert_clean(t);
    free(t);
}

static void test_wanted_levels(void **state)
{
    (void)state;

    /* Instance level ERROR (the default): ERROR and CRITICAL go, nothing below. */
    assert_true(notify_wanted(LOG_ERR, LOG_ERR));
    assert_true(notify_wanted(LOG_ERR, LOG_CRIT));
    assert_false(notify_wanted(LOG_ERR, LOG_WARNING));
    assert_false(notify_wanted(LOG_ERR, LOG_INFO));
    /* CRITICAL: only CRITICAL. */
    assert_false(notify_wanted(LOG_CRIT, LOG_ERR));
    assert_true(notify_wanted(LOG_CRIT, LOG_CRIT));
    /* DEBUG, INFO or WARN: still only ERROR and CRITICAL ever reach the room. */
    for (int level = LOG_WARNING; level <= LOG_DEBUG; level++) {
        assert_true(notify_wanted(level, LOG_ERR));
        assert_true(notify_wanted(level, LOG_CRIT));
        assert_false(notify_wanted(level, LOG_WARNING));
        assert_false(notify_wanted(level, LOG_NOTICE));
        assert_false(notify_wanted(level, LOG_DEBUG));
    }
    assert_false(notify_wanted(LOG_DEBUG, -1));

    assert_string_equal(notify_severity(LOG_CRIT), "CRITICAL");
    assert_string_equal(notify_severity(LOG_ALERT), "CRITICAL");
    assert_string_equal(notify_severity(LOG_ERR), "ERROR");
    assert_null(notify_severity(LOG_WARNING));
    assert_null(notify_severity(-1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_rate_limit_and_summary),
            cmocka_unit_test(test_rolling_window),
            cmocka_unit_test(test_flush_timer),
            cmocka_unit_test(test_summary_with_suppressed_offer),
            cmocka_unit_test(test_clock_steps_back),
            cmocka_unit_test(test_ring_newest_first),
            cmocka_unit_test(test_invalid_offers_change_nothing),
            cmocka_unit_test(test_format_layout),
            cmocka_unit_test(test_format_trace_last_lines),
            cmocka_unit_test(test_format_sanitizes),
            cmocka_unit_test(test_format_bounds),
            cmocka_unit_test_teardown(test_secrets_never_leak, teardown),
            cmocka_unit_test(test_wanted_levels),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
