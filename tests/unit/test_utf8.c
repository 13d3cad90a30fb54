/* Unit tests for util/utf8: RFC 3629 validity (overlongs, surrogates, range, truncation), the
 * text variant's control characters, and decode/encode as exact inverses. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "util/utf8.h"

static bool valid(const char *s)
{
    return utf8_is_valid(s, strlen(s));
}

static void test_valid_sequences(void **state)
{
    (void)state;
    assert_true(utf8_is_valid(NULL, 0));
    assert_true(valid("plain ascii"));
    assert_true(valid("\xC2\x80"));         /* U+0080, first two-byte */
    assert_true(valid("caf\xC3\xA9"));      /* é */
    assert_true(valid("\xDF\xBF"));         /* U+07FF, last two-byte */
    assert_true(valid("\xE0\xA0\x80"));     /* U+0800, first three-byte */
    assert_true(valid("\xE2\x82\xAC"));     /* € */
    assert_true(valid("\xED\x9F\xBF"));     /* U+D7FF, just below the surrogates */
    assert_true(valid("\xEE\x80\x80"));     /* U+E000, just above them */
    assert_true(valid("\xEF\xBF\xBF"));     /* U+FFFF */
    assert_true(valid("\xF0\x90\x80\x80")); /* U+10000, first four-byte */
    assert_true(valid("\xF0\x9F\x98\x80")); /* U+1F600 */
    assert_true(valid("\xF4\x8F\xBF\xBF")); /* U+10FFFF, the last code point */
    assert_true(utf8_is_valid("a\0b", 3));  /* NUL is valid UTF-8 */
}

static void test_overlongs_rejected(void **state)
{
    (void)state;
    assert_false(valid("\xC0\x80")); /* NUL in two bytes (modified UTF-8) */
    assert_false(valid("\xC0\xAF")); /* '/' in two bytes */
    assert_false(valid("\xC1\xBF"));
    assert_false(valid("\xE0\x80\x80"));
    assert_false(valid("\xE0\x9F\xBF")); /* U+07FF in three bytes */
    assert_false(valid("\xF0\x80\x80\x80"));
    assert_false(valid("\xF0\x8F\xBF\xBF")); /* U+FFFF in four bytes */
}

static void test_surrogates_rejected(void **state)
{
    (void)state;
    assert_false(valid("\xED\xA0\x80"));             /* U+D800 */
    assert_false(valid("\xED\xAF\xBF"));             /* U+DBFF */
    assert_false(valid("\xED\xB0\x80"));             /* U+DC00 */
    assert_false(valid("\xED\xBF\xBF"));             /* U+DFFF */
    assert_false(valid("\xED\xA0\xBD\xED\xB8\x80")); /* CESU-8 pair for U+1F600 */
}

static void test_out_of_range_rejected(void **state)
{
    (void)state;
    assert_false(valid("\xF4\x90\x80\x80")); /* U+110000 */
    assert_false(valid("\xF5\x80\x80\x80"));
    assert_false(valid("\xF7\xBF\xBF\xBF"));
    assert_false(valid("\xF8\x88\x80\x80\x80")); /* old five-byte form */
    assert_false(valid("\xFE"));
    assert_false(valid("\xFF"));
}

static void test_truncated_and_stray_rejected(void **state)
{
    (void)state;
    assert_false(valid("\x80")); /* continuation with no lead */
    assert_false(valid("a\xBF"));
    assert_false(valid("\xC3")); /* lead at the end */
    assert_false(valid("\xE2\x82"));
    assert_false(valid("\xF0\x9F\x98"));
    assert_false(valid("\xE2\x28\xA1")); /* ASCII where a continuation belongs */
    assert_false(valid("\xC3\xC3\xA9"));
    /* The length bounds the read: a valid sequence cut by len is invalid. */
    assert_false(utf8_is_valid("\xE2\x82\xAC", 2));
}

static void test_text_variant(void **state)
{
    (void)state;
    assert_true(utf8_is_valid_text("line\tone\r\nline two", 18));
    assert_true(utf8_is_valid_text("del \x7F and \xC2\x85", 12)); /* DEL and C1 are not C0 */
    assert_false(utf8_is_valid_text("a\0b", 3));
    assert_false(utf8_is_valid_text("\x01", 1));
    assert_false(utf8_is_valid_text("esc \x1B[31m", 9));
    assert_false(utf8_is_valid_text("\x1F", 1));
    assert_false(utf8_is_valid_text("\xC0\x80", 2)); /* still strict UTF-8 */
}

static void test_decode(void **state)
{
    uint32_t cp = 0xAAAA;

    (void)state;
    assert_int_equal(utf8_decode("A", 1, &cp), 1);
    assert_int_equal(cp, 'A');
    assert_int_equal(utf8_decode("\xE2\x82\xAC!", 4, &cp), 3);
    assert_int_equal(cp, 0x20AC);
    assert_int_equal(utf8_decode("\xF4\x8F\xBF\xBF", 4, &cp), 4);
    assert_int_equal(cp, 0x10FFFF);

    cp = 0xAAAA;
    assert_int_equal(utf8_decode("", 0, &cp), -EINVAL);
    assert_int_equal(utf8_decode("\xE2\x82\xAC", 2, &cp), -EILSEQ);
    assert_int_equal(utf8_decode("\xED\xA0\x80", 3, &cp), -EILSEQ);
    assert_int_equal(cp, 0xAAAA); /* not written on failure */
}

static void test_encode_boundaries(void **state)
{
    static const struct {
        uint32_t cp;
        const char *bytes;
    } cases[] = {
            {0x00, "\x00"},
            {0x7F, "\x7F"},
            {0x80, "\xC2\x80"},
            {0x7FF, "\xDF\xBF"},
            {0x800, "\xE0\xA0\x80"},
            {0xD7FF, "\xED\x9F\xBF"},
            {0xE000, "\xEE\x80\x80"},
            {0xFFFF, "\xEF\xBF\xBF"},
            {0x10000, "\xF0\x90\x80\x80"},
            {0x1F600, "\xF0\x9F\x98\x80"},
            {0x10FFFF, "\xF4\x8F\xBF\xBF"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char out[4];
        size_t n = cases[i].cp == 0 ? 1 : strlen(cases[i].bytes);
        assert_int_equal(utf8_encode(cases[i].cp, out), (int)n);
        assert_memory_equal(out, cases[i].bytes, n);
    }
}

static void test_encode_rejects_unencodable(void **state)
{
    char out[4];

    (void)state;
    assert_int_equal(utf8_encode(0xD800, out), -EINVAL);
    assert_int_equal(utf8_encode(0xDBFF, out), -EINVAL);
    assert_int_equal(utf8_encode(0xDC00, out), -EINVAL);
    assert_int_equal(utf8_encode(0xDFFF, out), -EINVAL);
    assert_int_equal(utf8_encode(0x110000, out), -EINVAL);
    assert_int_equal(utf8_encode(UINT32_MAX, out), -EINVAL);
}

/* Every code point encodes, validates, and decodes back to itself. */
static void test_every_code_point_round_trips(void **state)
{
    (void)state;
    for (uint32_t cp = 0; cp <= UTF8_MAX_CODEPOINT; cp++) {
        char out[4];
        uint32_t back;
        int n = utf8_encode(cp, out);

        if (cp >= 0xD800 && cp <= 0xDFFF) {
            assert_int_equal(n, -EINVAL);
            continue;
        }
        assert_true(n >= 1 && n <= 4);
        assert_true(utf8_is_valid(out, (size_t)n));
        assert_int_equal(utf8_decode(out, (size_t)n, &back), n);
        assert_int_equal(back, cp);
    }
}

/* The converse, over every three-byte input and a spread of four-byte ones: whatever decodes
 * is the one encoding of its code point (no overlong or surrogate slips through), and the
 * validator agrees with the decoder. With the test above, accepted == image of encode. */
static void check_decode_is_canonical(const unsigned char *b, size_t len)
{
    uint32_t cp;
    char again[4];
    int n = utf8_decode((const char *)b, len, &cp);

    if (n < 0)
        return;
    assert_int_equal(utf8_encode(cp, again), n);
    assert_memory_equal(again, b, (size_t)n);
}

static void test_decoder_accepts_only_canonical_forms(void **state)
{
    (void)state;
    for (uint32_t v = 0; v < (1U << 24); v++) {
        unsigned char b[4] = {v >> 16, (v >> 8) & 0xFF, v & 0xFF, 0x80};
        check_decode_is_canonical(b, 3);
        if (b[0] >= 0xF0) {
            check_decode_is_canonical(b, 4);
            b[3] = 0xBF;
            check_decode_is_canonical(b, 4);
            b[3] = 0xC0;
            check_decode_is_canonical(b, 4);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_valid_sequences),
            cmocka_unit_test(test_overlongs_rejected),
            cmocka_unit_test(test_surrogates_rejected),
            cmocka_unit_test(test_out_of_range_rejected),
            cmocka_unit_test(test_truncated_and_stray_rejected),
            cmocka_unit_test(test_text_variant),
            cmocka_unit_test(test_decode),
            cmocka_unit_test(test_encode_boundaries),
            cmocka_unit_test(test_encode_rejects_unencodable),
            cmocka_unit_test(test_every_code_point_round_trips),
            cmocka_unit_test(test_decoder_accepts_only_canonical_forms),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
