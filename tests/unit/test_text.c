/* Tests for util/text.c: quoting hostile text for messages (escapes, bounds, whole
 * characters only), the capped edit distance, and the character-class check. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "util/macro.h"
#include "util/text.h"
#include "util/utf8.h"

static void assert_quotes_to(const char *s, const char *want)
{
    char buf[256];

    assert_ptr_equal(text_quote(s, buf, sizeof(buf)), buf);
    assert_string_equal(buf, want);
}

static void test_quote_plain_and_empty(void **state)
{
    (void)state;
    assert_quotes_to("", "\"\"");
    assert_quotes_to("abc", "\"abc\"");
    assert_quotes_to("@bot:clarun.xyz", "\"@bot:clarun.xyz\"");
    assert_quotes_to("it's", "\"it's\"");
}

static void test_quote_escapes_controls_and_quotes(void **state)
{
    (void)state;
    assert_quotes_to("a\nb", "\"a\\x0ab\"");
    assert_quotes_to("\r\t\x01\x1f", "\"\\x0d\\x09\\x01\\x1f\"");
    assert_quotes_to("del\x7f", "\"del\\x7f\"");
    assert_quotes_to("\x1b[31mred", "\"\\x1b[31mred\""); /* no terminal escapes get through */
    assert_quotes_to("say \"hi\"", "\"say \\\"hi\\\"\"");
    assert_quotes_to("C:\\dir", "\"C:\\\\dir\"");
}

static void test_quote_utf8(void **state)
{
    (void)state;
    /* Valid characters pass through whole. */
    assert_quotes_to("caf\xC3\xA9", "\"caf\xC3\xA9\"");
    assert_quotes_to("\xE2\x82\xAC", "\"\xE2\x82\xAC\"");
    assert_quotes_to("\xF0\x9F\x98\x80", "\"\xF0\x9F\x98\x80\"");
    assert_quotes_to("\xF4\x8F\xBF\xBF", "\"\xF4\x8F\xBF\xBF\"");
    /* Each byte of what is not UTF-8 is escaped on its own. */
    assert_quotes_to("\xFF", "\"\\xff\"");
    assert_quotes_to("a\xC3", "\"a\\xc3\"");                          /* cut short at the end */
    assert_quotes_to("\xC3(", "\"\\xc3(\"");                          /* bad continuation */
    assert_quotes_to("\xC0\xAF", "\"\\xc0\\xaf\"");                   /* overlong '/' */
    assert_quotes_to("\xE0\x80\xAF", "\"\\xe0\\x80\\xaf\"");          /* overlong */
    assert_quotes_to("\xED\xA0\x80", "\"\\xed\\xa0\\x80\"");          /* surrogate */
    assert_quotes_to("\xF4\x90\x80\x80", "\"\\xf4\\x90\\x80\\x80\""); /* past U+10FFFF */
    assert_quotes_to("\x80z", "\"\\x80z\"");                          /* lone continuation */
    assert_quotes_to("\xF0\x9F\x98", "\"\\xf0\\x9f\\x98\"");          /* 3 of 4 bytes */
}

/* The quoted text of s in a buffer of cap bytes: bounded, NUL-terminated, quoted at both
 * ends, and never past cap (the rest of the buffer is checked untouched). */
static void check_bounded(const char *s, size_t cap, char *out)
{
    char buf[512];

    assert_true(cap + 32 <= sizeof(buf));
    memset(buf, 'Z', sizeof(buf));
    text_quote(s, buf, cap);
    assert_true(memchr(buf, '\0', cap) != NULL);
    for (size_t i = cap; i < sizeof(buf); i++)
        if (buf[i] != 'Z')
            fail_msg("cap %zu: byte %zu written", cap, i);
    assert_int_equal(buf[0], '"');
    assert_int_equal(buf[strlen(buf) - 1], '"');
    strcpy(out, buf);
}

static void test_quote_truncation_is_bounded(void **state)
{
    char long_text[1000], out[512];
    (void)state;

    memset(long_text, 'a', sizeof(long_text) - 1);
    long_text[sizeof(long_text) - 1] = '\0';
    for (size_t cap = 8; cap <= 200; cap++) {
        check_bounded(long_text, cap, out);
        assert_int_equal(strlen(out), cap - 1); /* cut as late as the room allows */
        assert_string_equal(out + strlen(out) - 4, "...\"");
    }
    /* What fits with room for "..." to spare is not cut. (Text that fits only without that
     * room is cut anyway: "abc" in 8 bytes comes out as "ab...".) */
    check_bounded("abc", 10, out);
    assert_string_equal(out, "\"abc\"");

    /* The macro's buffer: long hostile values stay short in messages. */
    const char *q = TEXT_QUOTE(long_text);
    assert_true(strlen(q) < TEXT_QUOTE_MAX + 8);
    assert_string_equal(q + strlen(q) - 4, "...\"");
}

static void test_quote_never_cuts_a_character_or_an_escape(void **state)
{
    char text[400], out[512];
    size_t o = 0;
    (void)state;

    /* Two-, three- and four-byte characters and four-byte escapes, interleaved. */
    while (o + 10 < sizeof(text)) {
        memcpy(text + o, "\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\x01", 10);
        o += 10;
    }
    text[o] = '\0';
    for (size_t cap = 8; cap <= 120; cap++) {
        check_bounded(text, cap, out);
        size_t len = strlen(out);
        /* Between the quotes and before "...": whole characters and whole escapes only. */
        assert_true(len >= 5);
        assert_memory_equal(out + len - 4, "...\"", 4);
        assert_true(utf8_is_valid(out, len));
        for (const char *p = out + 1; p < out + len - 4;) {
            if (strncmp(p, "\\x01", 4) == 0)
                p += 4;
            else if (strncmp(p, "\xC3\xA9", 2) == 0)
                p += 2;
            else if (strncmp(p, "\xE2\x82\xAC", 3) == 0)
                p += 3;
            else if (strncmp(p, "\xF0\x9F\x98\x80", 4) == 0)
                p += 4;
            else
                fail_msg("cap %zu: broken sequence at offset %td of %s", cap, p - out, out);
        }
    }
}

static void test_distance_known_values(void **state)
{
    (void)state;
    assert_int_equal(text_distance("", "", 3), 0);
    assert_int_equal(text_distance("level", "level", 3), 0);
    assert_int_equal(text_distance("levle", "level", 3), 2); /* a swap is two edits */
    assert_int_equal(text_distance("kitten", "sitting", 5), 3);
    assert_int_equal(text_distance("sitting", "kitten", 5), 3);
    assert_int_equal(text_distance("flaw", "lawn", 5), 2);
    assert_int_equal(text_distance("homeservr", "homeserver", 3), 1);
    assert_int_equal(text_distance("", "abc", 3), 3);
    assert_int_equal(text_distance("abc", "", 3), 3);
    assert_int_equal(text_distance("intances", "instances", 2), 1);
    assert_int_equal(text_distance("Port", "port", 2), 1); /* case counts */
}

static void test_distance_limit_cut_off(void **state)
{
    (void)state;
    /* Past the limit the answer is limit + 1, whatever the true distance. */
    assert_int_equal(text_distance("kitten", "sitting", 2), 3);
    assert_int_equal(text_distance("kitten", "sitting", 3), 3);
    assert_int_equal(text_distance("abc", "abd", 0), 1);
    assert_int_equal(text_distance("abc", "abc", 0), 0);
    assert_int_equal(text_distance("a", "abcdefgh", 3), 4); /* by length alone */
    assert_int_equal(text_distance("abcdefgh", "a", 3), 4);
    assert_int_equal(text_distance("xxxxxxxx", "yyyyyyyy", 2), 3);
    assert_int_equal(text_distance("state_directory", "logging", 2), 3);
}

static void test_distance_long_strings_are_cut(void **state)
{
    char a[200], b[200];
    (void)state;

    /* Only the first 64 bytes count: a difference past them is not seen, and nothing is
     * read or written out of bounds for long keys. */
    memset(a, 'k', sizeof(a) - 1);
    a[sizeof(a) - 1] = '\0';
    memcpy(b, a, sizeof(b));
    b[100] = 'x';
    assert_int_equal(text_distance(a, b, 3), 0);
    b[10] = 'x';
    assert_int_equal(text_distance(a, b, 3), 1);
}

static void test_only_chars(void **state)
{
    (void)state;
    assert_true(text_only_chars("", "abc"));
    assert_true(text_only_chars("abcabc", "abc"));
    assert_false(text_only_chars("abd", "abc"));
    assert_true(text_only_chars("echo-1", CHARS_LOWER_DIGITS "-"));
    assert_false(text_only_chars("Echo-1", CHARS_LOWER_DIGITS "-"));
    assert_false(text_only_chars("echo_1", CHARS_LOWER_DIGITS "-"));
    assert_false(text_only_chars("echo 1", CHARS_LOWER_DIGITS "-"));
    assert_false(text_only_chars("\xC3\xA9", CHARS_LOWER_DIGITS));
    assert_false(text_only_chars("a", ""));
    assert_true(text_only_chars("z9", CHARS_LOWER_DIGITS)); /* the set's last letter and digit */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_quote_plain_and_empty),
            cmocka_unit_test(test_quote_escapes_controls_and_quotes),
            cmocka_unit_test(test_quote_utf8),
            cmocka_unit_test(test_quote_truncation_is_bounded),
            cmocka_unit_test(test_quote_never_cuts_a_character_or_an_escape),
            cmocka_unit_test(test_distance_known_values),
            cmocka_unit_test(test_distance_limit_cut_off),
            cmocka_unit_test(test_distance_long_strings_are_cut),
            cmocka_unit_test(test_only_chars),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
