/* Tests for util/log.c: level names and filter, %m, redaction of registered secrets and
 * token patterns, truncation, the observer, and the bytes that actually reach stderr. */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util/log.h"

/* A token shaped like a Synapse/continuwuity access token. */
#define TOKEN "syt_aW5zdGFncmFt_QmVhcmVyU2VjcmV0VG9rZW4_0x9Zq1"

static struct {
    int count;
    int priority;
    char message[8192];
} seen;

static void observer(int priority, const char *message, void *userdata)
{
    (void)userdata;
    seen.count++;
    seen.priority = priority;
    snprintf(seen.message, sizeof seen.message, "%s", message);
}

static int setup(void **state)
{
    (void)state;
    memset(&seen, 0, sizeof seen);
    log_redact_clear();
    log_set_max_level(LOG_DEBUG);
    log_set_target(LOG_TARGET_STDERR);
    log_set_instance(NULL);
    log_set_observer(observer, NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    log_redact_clear();
    log_set_observer(NULL, NULL);
    return 0;
}

/* Redirect fd 2 to a temporary file for the duration of a test step. */
struct capture {
    int saved_fd;
    FILE *file;
    char text[32768];
};

static void capture_begin(struct capture *c)
{
    fflush(stderr);
    c->file = tmpfile();
    assert_non_null(c->file);
    c->saved_fd = dup(STDERR_FILENO);
    assert_true(c->saved_fd >= 0);
    assert_true(dup2(fileno(c->file), STDERR_FILENO) >= 0);
}

/* "2026-12-02T19:40:18.123Z ": the time every stderr line starts with. */
#define TIME_PREFIX_LEN 25

/* Whether s starts with a time of that form. */
static bool time_prefix(const char *s)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ ";

    for (size_t i = 0; i < TIME_PREFIX_LEN; i++) {
        if (!s[i])
            return false;
        if (shape[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != shape[i])
            return false;
    }
    return true;
}

/* What was written to stderr, each line's time checked and taken off: the tests below
 * compare what follows it. */
static const char *capture_end(struct capture *c)
{
    char raw[sizeof c->text];
    size_t o = 0;

    assert_true(dup2(c->saved_fd, STDERR_FILENO) >= 0);
    close(c->saved_fd);
    rewind(c->file);
    size_t n = fread(raw, 1, sizeof raw - 1, c->file);
    raw[n] = '\0';
    fclose(c->file);
    for (const char *line = raw; *line;) {
        const char *end = strchrnul(line, '\n');
        if (!time_prefix(line))
            fail_msg("a stderr line without its time: \"%.*s\"", (int)(end - line), line);
        line += TIME_PREFIX_LEN;
        memcpy(c->text + o, line, (size_t)(end - line) + (*end ? 1 : 0));
        o += (size_t)(end - line) + (*end ? 1 : 0);
        line = *end ? end + 1 : end;
    }
    c->text[o] = '\0';
    return c->text;
}

static void redact(char *buf, size_t cap, const char *text)
{
    snprintf(buf, cap, "%s", text);
    log_redact_buffer(buf, cap);
}

static void test_level_names(void **state)
{
    static const struct {
        const char *name;
        int priority;
    } levels[] = {
            {"DEBUG", LOG_DEBUG}, {"INFO", LOG_INFO},     {"WARN", LOG_WARNING},
            {"ERROR", LOG_ERR},   {"CRITICAL", LOG_CRIT},
    };
    (void)state;

    for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++) {
        int p = -1;
        assert_int_equal(log_level_from_string(levels[i].name, &p), 0);
        assert_int_equal(p, levels[i].priority);
        assert_string_equal(log_level_to_string(levels[i].priority), levels[i].name);
    }

    /* The contract enum is exact and case-sensitive; failure leaves the output alone. */
    const char *bad[] = {"warn", "WARNING", "Info", "", "INFO ", "ERR", "CRIT", "NOTICE"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int p = 42;
        assert_int_equal(log_level_from_string(bad[i], &p), -EINVAL);
        assert_int_equal(p, 42);
    }
    assert_int_equal(log_level_from_string(NULL, NULL), -EINVAL);
    assert_null(log_level_to_string(LOG_NOTICE));
    assert_null(log_level_to_string(99));
}

static void test_level_filter(void **state)
{
    (void)state;

    log_set_max_level(LOG_INFO);
    assert_int_equal(log_get_max_level(), LOG_INFO);
    log_debug("hidden");
    assert_int_equal(seen.count, 0);
    log_info("shown");
    assert_int_equal(seen.count, 1);
    assert_int_equal(seen.priority, LOG_INFO);
    assert_string_equal(seen.message, "shown");

    log_set_max_level(LOG_ERR);
    log_warning("hidden");
    log_info("hidden");
    assert_int_equal(seen.count, 1);
    log_error("error");
    log_crit("critical");
    assert_int_equal(seen.count, 3);
    assert_int_equal(seen.priority, LOG_CRIT);

    /* Filtered or not, the errno helpers return -abs(error) for `return log_..._errno()`. */
    assert_int_equal(log_debug_errno(EIO, "hidden"), -EIO);
    assert_int_equal(log_error_errno(-EPERM, "shown"), -EPERM);
    assert_int_equal(log_full_errno(LOG_ERR, 0, "no error"), 0);
    assert_int_equal(seen.count, 5);
}

static void test_percent_m(void **state)
{
    (void)state;

    errno = EAGAIN;
    assert_int_equal(log_error_errno(-ENOENT, "open %s: %m", "/x"), -ENOENT);
    assert_string_equal(seen.message, "open /x: No such file or directory");
    /* errno is the caller's again afterwards. */
    assert_int_equal(errno, EAGAIN);

    assert_int_equal(log_error_errno(EACCES, "%m"), -EACCES);
    assert_string_equal(seen.message, "Permission denied");
}

static void test_redact_registered_secrets(void **state)
{
    char buf[512];
    (void)state;

    /* '%' and regex metacharacters are plain bytes to the redactor. */
    assert_int_equal(log_redact_add("s3cr%sT%n", strlen("s3cr%sT%n")), 0);
    assert_int_equal(log_redact_add("a.b*c+d?(e)[^$]", strlen("a.b*c+d?(e)[^$]")), 0);
    assert_int_equal(log_redact_add("abcdef", 6), 0);
    assert_int_equal(log_redact_add("defghi", 6), 0);

    redact(buf, sizeof buf, "s3cr%sT%n at the start");
    assert_string_equal(buf, "[redacted] at the start");
    redact(buf, sizeof buf, "at the end: a.b*c+d?(e)[^$]");
    assert_string_equal(buf, "at the end: [redacted]");
    /* A look-alike that a regex would match is not the secret. */
    redact(buf, sizeof buf, "aXbbbccex");
    assert_string_equal(buf, "aXbbbccex");
    redact(buf, sizeof buf, "twice s3cr%sT%n and s3cr%sT%n.");
    assert_string_equal(buf, "twice [redacted] and [redacted].");
    /* Overlapping secrets are hidden as one run, with no tail of either left over. */
    redact(buf, sizeof buf, "x abcdefghi y");
    assert_string_equal(buf, "x [redacted] y");
    /* Overlapping occurrences of one secret. */
    assert_int_equal(log_redact_add("xyxyx", 5), 0);
    redact(buf, sizeof buf, "<xyxyxyx>");
    assert_string_equal(buf, "<[redacted]>");

    /* The same through the logger, with the secret arriving through %s. */
    log_info("got %s and %s", "s3cr%sT%n", "a.b*c+d?(e)[^$]");
    assert_string_equal(seen.message, "got [redacted] and [redacted]");

    /* Registering the same secret again takes no new slot and still works. */
    assert_int_equal(log_redact_add("abcdef", 6), 0);
}

static void test_redact_patterns(void **state)
{
    char buf[512];
    (void)state;

    redact(buf, sizeof buf, "Authorization: Bearer " TOKEN "\r\nHost: x");
    assert_string_equal(buf, "Authorization: Bearer [redacted]\r\nHost: x");
    redact(buf, sizeof buf, "header \"bearer\t" TOKEN "\"");
    assert_string_equal(buf, "header \"bearer\t[redacted]\"");

    redact(buf, sizeof buf,
           "GET /_matrix/client/v3/sync?since=s72_1&access_token=" TOKEN "&timeout=30000 failed");
    assert_string_equal(buf, "GET /_matrix/client/v3/sync?since=s72_1&access_token=[redacted]"
                             "&timeout=30000 failed");
    redact(buf, sizeof buf, "url http://h/x?access_token=" TOKEN);
    assert_string_equal(buf, "url http://h/x?access_token=[redacted]");

    redact(buf, sizeof buf,
           "{\"user\":\"bot\",\"password\" : \"hun\\\"ter2\",\"access_token\":\"" TOKEN "\"}");
    assert_string_equal(buf, "{\"user\":\"bot\",\"password\" : \"[redacted]\",\"access_token\":"
                             "\"[redacted]\"}");
    redact(buf, sizeof buf,
           "{\"auth\":{\"type\":\"m.login.registration_token\",\"token\":\"t0k3n-x\"},"
           "\"registration_token\":\"abc\",\"secret\":\"s\",\"new_password\":\"pw\"}");
    assert_string_equal(buf, "{\"auth\":{\"type\":\"m.login.registration_token\",\"token\":"
                             "\"[redacted]\"},\"registration_token\":\"[redacted]\","
                             "\"secret\":\"[redacted]\",\"new_password\":\"[redacted]\"}");
    /* Keys that merely end in a secret key's name, and non-secret values, stay. */
    redact(buf, sizeof buf, "{\"next_token\":\"n1\",\"next_batch\":\"s1\",\"tokens\":\"3\"}");
    assert_string_equal(buf, "{\"next_token\":\"n1\",\"next_batch\":\"s1\",\"tokens\":\"3\"}");
    /* JSON cut in the middle of a value: masked to the end. */
    redact(buf, sizeof buf, "body {\"password\":\"hunter2");
    assert_string_equal(buf, "body {\"password\":\"[redacted]");

    /* Redaction is idempotent: redacted text passes through unchanged. */
    char again[512];
    snprintf(again, sizeof again, "%s", buf);
    log_redact_buffer(again, sizeof again);
    assert_string_equal(again, buf);
}

static void test_redact_bounded(void **state)
{
    char buf[64];
    (void)state;

    /* Every 4-byte secret grows to 10 bytes: the result must be cut, never overflow. */
    assert_int_equal(log_redact_add("abcd", 4), 0);
    memset(buf, 'Z', sizeof buf);
    snprintf(buf, 20, "abcd abcd abcd abcd");
    log_redact_buffer(buf, 20);
    assert_true(strlen(buf) < 20);
    assert_int_equal(strncmp(buf, "[redacted] ", 11), 0);
    assert_null(strstr(buf, "abcd"));
    for (size_t i = 20; i < sizeof buf; i++)
        assert_int_equal(buf[i], 'Z');

    /* A buffer with no NUL within cap is cut at its last byte and terminated; a secret
     * prefix left at the cut is hidden too. */
    assert_int_equal(log_redact_add("PREFIXSECRET", 12), 0);
    char raw[20];
    memcpy(raw, "hi PREFIXSECRETPREFI", sizeof raw);
    log_redact_buffer(raw, sizeof raw);
    assert_string_equal(raw, "hi [redacted]");

    /* A shorter result leaves no trace of the original text behind its NUL. */
    char wipe[64] = "x PREFIXSECRETPREFIXSECRETPREFIXSECRET y";
    log_redact_buffer(wipe, sizeof wipe);
    assert_string_equal(wipe, "x [redacted] y");
    for (size_t i = strlen(wipe); i < sizeof wipe; i++)
        assert_int_equal(wipe[i], '\0');
}

static void test_truncation(void **state)
{
    char big[10000];
    (void)state;

    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    log_info("%s", big);
    assert_true(strlen(seen.message) < 4096);
    assert_true(strlen(seen.message) > 4000);
    const char *mark = "...[truncated]";
    assert_string_equal(seen.message + strlen(seen.message) - strlen(mark), mark);

    /* A secret cut in half by the bound must not leave its first half behind. The long
     * secret in front shrinks to a marker, so the tail of the text survives redaction. */
    char longsecret[201];
    memset(longsecret, 'L', 200);
    longsecret[200] = '\0';
    assert_int_equal(log_redact_add(longsecret, 200), 0);
    assert_int_equal(log_redact_add(TOKEN, strlen(TOKEN)), 0);
    char filler[3880];
    memset(filler, 'f', sizeof filler - 1);
    filler[sizeof filler - 1] = '\0';
    log_info("%s%s %s", longsecret, filler, TOKEN);
    assert_null(strstr(seen.message, "LLLL"));
    assert_null(strstr(seen.message, "syt_"));
    assert_non_null(strstr(seen.message, "[redacted]...[truncated]"));
}

static void test_stderr_never_shows_secret(void **state)
{
    struct capture c;
    (void)state;

    assert_int_equal(log_redact_add(TOKEN, strlen(TOKEN)), 0);
    log_set_instance("instagram-bot-1");

    capture_begin(&c);
    int r = log_internal(LOG_ERR, -EACCES, "!abc:example.org", "$ev1", __FILE__, __LINE__, __func__,
                         "Login as %s with token %s failed: %m", "@bot:example.org", TOKEN);
    log_error("request failed, header was Authorization: Bearer %s", "unregistered_T0ken");
    const char *out = capture_end(&c);

    assert_int_equal(r, -EACCES);
    assert_string_equal(out, "ERROR [instagram-bot-1] Login as @bot:example.org with token "
                             "[redacted] failed: Permission denied (room !abc:example.org, "
                             "event $ev1)\n"
                             "ERROR [instagram-bot-1] request failed, header was "
                             "Authorization: Bearer [redacted]\n");
    assert_null(strstr(out, TOKEN));
    assert_null(strstr(out, "QmVhcmVy"));
    assert_null(strstr(out, "unregistered_T0ken"));
    /* The observer saw the same redacted text. */
    assert_string_equal(seen.message, "request failed, header was Authorization: Bearer "
                                      "[redacted]");
}

static void test_stderr_escaping(void **state)
{
    struct capture c;
    (void)state;

    capture_begin(&c);
    log_warning("line1\nline2\r\x1b[31mred\xff caf\xc3\xa9 tab\tend");
    /* An id with a newline is dropped, not printed. */
    log_room(LOG_INFO, "!bad\nid:x", "$ok", "in room");
    log_room(LOG_INFO, "!r:x", NULL, "only room");
    const char *out = capture_end(&c);

    assert_string_equal(out, "WARN line1\\nline2\\r\\x1b[31mred\\xff caf\xc3\xa9 tab\tend\n"
                             "INFO in room (event $ok)\n"
                             "INFO only room (room !r:x)\n");
    /* The observer gets the message itself, unescaped. */
    assert_string_equal(seen.message, "only room");
}

static void test_redact_clear(void **state)
{
    char buf[128];
    (void)state;

    assert_int_equal(log_redact_add("swordfish", 9), 0);
    redact(buf, sizeof buf, "pw swordfish");
    assert_string_equal(buf, "pw [redacted]");
    log_redact_clear();
    redact(buf, sizeof buf, "pw swordfish");
    assert_string_equal(buf, "pw swordfish");
}

static void test_redact_add_errors(void **state)
{
    char secret[32];
    int r = 0;
    size_t added = 0;
    (void)state;

    assert_int_equal(log_redact_add("abc", 3), -EINVAL);
    assert_int_equal(log_redact_add(NULL, 8), -EINVAL);
    char huge[5000];
    memset(huge, 'h', sizeof huge);
    assert_int_equal(log_redact_add(huge, sizeof huge), -E2BIG);

    for (size_t i = 0; i < 100000; i++) {
        snprintf(secret, sizeof secret, "secret-%06zu", i);
        r = log_redact_add(secret, strlen(secret));
        if (r < 0)
            break;
        added++;
    }
    assert_int_equal(r, -ENOSPC);
    assert_true(added >= 16);
    /* Every one registered before the table filled is still redacted. */
    char buf[64];
    redact(buf, sizeof buf, "first secret-000000 last secret-000015");
    assert_string_equal(buf, "first [redacted] last [redacted]");

    log_redact_clear();
    assert_int_equal(log_redact_add(secret, strlen(secret)), 0);
}

static void test_auto_target_without_journal(void **state)
{
    struct capture c;
    (void)state;

    /* Without $JOURNAL_STREAM, or when it names another file, AUTO means stderr. */
    unsetenv("JOURNAL_STREAM");
    capture_begin(&c);
    log_set_target(LOG_TARGET_AUTO);
    log_info("to stderr");
    setenv("JOURNAL_STREAM", "1:1", 1);
    log_set_target(LOG_TARGET_AUTO);
    log_info("still stderr");
    setenv("JOURNAL_STREAM", "garbage", 1);
    log_set_target(LOG_TARGET_AUTO);
    log_info("and again");
    const char *out = capture_end(&c);
    unsetenv("JOURNAL_STREAM");

    assert_string_equal(out, "INFO to stderr\nINFO still stderr\nINFO and again\n");
}

/* A line on stderr starts with the time, in UTC to the millisecond (the journal stamps its
 * own entries; a file or a terminal does not): now, within a few seconds. */
static void test_stderr_lines_carry_utc_time(void **state)
{
    char raw[512] = "", date[32];
    struct timespec before;
    struct tm tm;
    FILE *f;
    int saved;
    (void)state;

    fflush(stderr);
    f = tmpfile();
    assert_non_null(f);
    saved = dup(STDERR_FILENO);
    assert_true(dup2(fileno(f), STDERR_FILENO) >= 0);
    clock_gettime(CLOCK_REALTIME, &before);
    log_info("stamped");
    assert_true(dup2(saved, STDERR_FILENO) >= 0);
    close(saved);
    rewind(f);
    assert_true(fread(raw, 1, sizeof raw - 1, f) > 0);
    fclose(f);

    assert_true(time_prefix(raw));
    assert_string_equal(raw + TIME_PREFIX_LEN, "INFO stamped\n");
    assert_non_null(gmtime_r(&before.tv_sec, &tm));
    strftime(date, sizeof(date), "%Y-%m-%dT%H:", &tm);
    /* The same hour, save at its turn. */
    if (strncmp(raw, date, strlen(date)) != 0 && before.tv_sec % 3600 < 3595)
        fail_msg("stamped %.24s, the clock said %s..", raw, date);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_level_names, setup, teardown),
            cmocka_unit_test_setup_teardown(test_level_filter, setup, teardown),
            cmocka_unit_test_setup_teardown(test_percent_m, setup, teardown),
            cmocka_unit_test_setup_teardown(test_redact_registered_secrets, setup, teardown),
            cmocka_unit_test_setup_teardown(test_redact_patterns, setup, teardown),
            cmocka_unit_test_setup_teardown(test_redact_bounded, setup, teardown),
            cmocka_unit_test_setup_teardown(test_truncation, setup, teardown),
            cmocka_unit_test_setup_teardown(test_stderr_never_shows_secret, setup, teardown),
            cmocka_unit_test_setup_teardown(test_stderr_escaping, setup, teardown),
            cmocka_unit_test_setup_teardown(test_redact_clear, setup, teardown),
            cmocka_unit_test_setup_teardown(test_redact_add_errors, setup, teardown),
            cmocka_unit_test_setup_teardown(test_auto_target_without_journal, setup, teardown),
            cmocka_unit_test_setup_teardown(test_stderr_lines_carry_utc_time, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
