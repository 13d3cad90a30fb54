/* Unit tests for util/json: the reader's strictness (grammar, escapes, UTF-8, limits), its
 * getters and their errnos, and the writer (escaping, sticky errors, round trips). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/json.h"

/* Generous for the small documents here; token-limit tests pass their own. */
#define TEST_MAX_TOKENS 4096

static int parse(const char *text, struct json_doc **ret)
{
    return json_parse(text, strlen(text), TEST_MAX_TOKENS, ret);
}

static void expect_parse_error(const char *text, size_t len, int error)
{
    struct json_doc *d = NULL;
    int r = json_parse(text, len, TEST_MAX_TOKENS, &d);

    if (r != error)
        print_error("input <%.*s>: got %d, expected %d\n", (int)len, text, r, error);
    assert_int_equal(r, error);
    assert_null(d);
}

static void expect_bad(const char *text)
{
    expect_parse_error(text, strlen(text), -EBADMSG);
}

static void expect_good(const char *text)
{
    _cleanup_(json_doc_freep) struct json_doc *d = NULL;
    int r = parse(text, &d);

    if (r != 0)
        print_error("input <%s>: got %d\n", text, r);
    assert_int_equal(r, 0);
    assert_non_null(d);
}

/* Parse a one-string document and unescape it. */
static int read_string(const char *text, char **ret)
{
    _cleanup_(json_doc_freep) struct json_doc *d = NULL;

    assert_int_equal(parse(text, &d), 0);
    return json_get_string(d, 0, NULL, ret);
}

static void expect_unescaped(const char *text, const char *expected)
{
    _cleanup_free_ char *s = NULL;

    assert_int_equal(read_string(text, &s), 0);
    assert_string_equal(s, expected);
}

/* ---- Grammar ---------------------------------------------------------------------------- */

static void test_valid_documents(void **state)
{
    (void)state;
    expect_good("{}");
    expect_good("[]");
    expect_good(" \t\r\n{ \"a\" : [ 1 , { } , [ ] ] } \n");
    expect_good("{\"a\":{\"b\":{\"c\":[true,false,null]}}}");
    /* RFC 8259 allows any value at the top. */
    expect_good("1");
    expect_good("-0.5e3");
    expect_good("\"just a string\"");
    expect_good("true");
    expect_good("null");
    expect_good(" false ");
}

static void test_numbers_grammar(void **state)
{
    static const char *const bad[] = {
            "01",        "-01", "00",    "1.",   "1.e5", ".5",         "-.5",  "-",
            "1e",        "1e+", "1E-",   "+1",   "--1",  "0x10",       "1.5e", "Infinity",
            "-Infinity", "NaN", "1_000", "[01]", "[1.]", "{\"a\":.5}",
    };
    static const char *const good[] = {
            "0",          "-0",        "0.0", "1e-5",  "1.5E+3",
            "1E5",        "-1.25e-10", "10",  "1e007", "123456789012345678901234567890",
            "[0,-0,1.5]",
    };

    (void)state;
    for (size_t i = 0; i < ELEMENTSOF(bad); i++)
        expect_bad(bad[i]);
    for (size_t i = 0; i < ELEMENTSOF(good); i++)
        expect_good(good[i]);
}

static void test_literals(void **state)
{
    static const char *const bad[] = {
            "tru",    "truee",     "True", "TRUE",         "nul", "nulll",
            "falsey", "undefined", "nan",  "[true false]", "[t]", "{\"a\":nil}",
    };

    (void)state;
    for (size_t i = 0; i < ELEMENTSOF(bad); i++)
        expect_bad(bad[i]);
}

/* Each of these is accepted by jsmn alone, even in strict mode, or breaks the structure. */
static void test_structure(void **state)
{
    static const char *const bad[] = {
            "",           "   ",
            "[1 2]",      "[1,,2]",
            "[,1]",       "[1,]",
            "{\"a\":1,}", "{,}",
            "{\"a\" 1}",  "{\"a\":}",
            "{\"a\"}",    "{1:2}",
            "{true:1}",   "{\"a\":1 \"b\":2}",
            "{\"a\";1}",  "{\"a\"::1}",
            "[}",         "{]",
            "[",          "]",
            "{",          "}",
            "[[]",        "[]]",
            "{\"a\":1}}", "{\"a\":[}]",
            "{[]:1}",     "{{}:1}",
            "\"a\":1",    "[]:",
            "[\"a\":1]",  "{\"a\":1:2}",
            "'single'",   "[1]/*comment*/",
            "[1]//",      "\xEF\xBB\xBF[]", /* no BOM */
    };

    (void)state;
    for (size_t i = 0; i < ELEMENTSOF(bad); i++)
        expect_bad(bad[i]);
}

static void test_trailing_garbage(void **state)
{
    (void)state;
    expect_good("[1]  \n");
    expect_bad("[1] x");
    expect_bad("{}{}");
    expect_bad("1 2");
    expect_bad("\"a\" \"b\"");
    expect_bad("null,");
    /* jsmn stops at a NUL; we must not. */
    expect_parse_error("[1]\0garbage", 11, -EBADMSG);
    expect_parse_error("[1]\0", 4, -EBADMSG);
    expect_parse_error("[\0]", 3, -EBADMSG);
    expect_parse_error("\"a\0b\"", 5, -EBADMSG);
}

static void test_string_escapes_grammar(void **state)
{
    static const char *const bad[] = {
            "\"\\x41\"",  "\"\\u12\"", "\"\\u12G4\"", "\"\\'\"", "\"\\U0041\"", "\"\\a\"",
            "\"\\0\"",    "\"\\\"",    "\"abc",       "\"\\u\"", "\"\\u004\"",  "\"tab\tin\"",
            "\"nl\nin\"", "\"\x01\"",  "\"\x1f\"",    "[\"a]",
    };

    (void)state;
    for (size_t i = 0; i < ELEMENTSOF(bad); i++)
        expect_bad(bad[i]);
    expect_good("\"\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u0041 \\uFFFF\"");
    expect_good("\"DEL \x7F is not a control in JSON\"");
}

static void test_raw_invalid_utf8_rejected(void **state)
{
    static const char *const bad[] = {
            "\"\xC0\xAF\"",         /* overlong '/' */
            "\"\xE0\x80\xAF\"",     /* overlong, three bytes */
            "\"\xED\xA0\x80\"",     /* surrogate U+D800 encoded */
            "\"\xED\xBF\xBF\"",     /* surrogate U+DFFF encoded */
            "\"\xE2\x82\"",         /* truncated before the quote */
            "\"\xF4\x90\x80\x80\"", /* above U+10FFFF */
            "\"\x80\"",             /* stray continuation */
            "\"\xFF\"",
            "{\"k\xC3\":1}", /* in a key too */
    };

    (void)state;
    for (size_t i = 0; i < ELEMENTSOF(bad); i++)
        expect_parse_error(bad[i], strlen(bad[i]), -EILSEQ);
    /* Truncated at the very end of the input: the UTF-8 is what is broken first. */
    expect_parse_error("\"\xE2\x82", 3, -EILSEQ);
    /* Outside strings non-ASCII is just not JSON. */
    expect_bad("[\xC3\xA9]");
    expect_good("\"caf\xC3\xA9 \xF0\x9F\x98\x80 \xF4\x8F\xBF\xBF\"");
}

/* ---- Limits ----------------------------------------------------------------------------- */

static char *nested(unsigned depth, const char *open, const char *close, const char *inner)
{
    size_t lo = strlen(open), lc = strlen(close), li = strlen(inner);
    char *s = malloc(depth * (lo + lc) + li + 1), *p = s;

    assert_non_null(s);
    for (unsigned i = 0; i < depth; i++, p += lo)
        memcpy(p, open, lo);
    memcpy(p, inner, li);
    p += li;
    for (unsigned i = 0; i < depth; i++, p += lc)
        memcpy(p, close, lc);
    *p = '\0';
    return s;
}

static void test_depth_limit(void **state)
{
    _cleanup_free_ char *arrays_ok = nested(JSON_MAX_DEPTH, "[", "]", "1");
    _cleanup_free_ char *arrays_deep = nested(JSON_MAX_DEPTH + 1, "[", "]", "1");
    /* Wrappers around one empty object: the empty object is the deepest level. */
    _cleanup_free_ char *objects_ok = nested(JSON_MAX_DEPTH - 1, "{\"a\":", "}", "{}");
    _cleanup_free_ char *objects_deep = nested(JSON_MAX_DEPTH, "{\"a\":", "}", "{}");
    /* An unclosed deep prefix must hit the limit, not run on. */
    _cleanup_free_ char *unclosed = nested(100000, "[", "", "");

    (void)state;
    expect_good(arrays_ok);
    expect_parse_error(arrays_deep, strlen(arrays_deep), -E2BIG);
    expect_good(objects_ok);
    expect_parse_error(objects_deep, strlen(objects_deep), -E2BIG);
    expect_parse_error(unclosed, strlen(unclosed), -E2BIG);
}

static void test_token_limit(void **state)
{
    struct json_doc *d = NULL;

    (void)state;
    /* [1,2,3] is 4 tokens, {"a":1} is 3: keys count. */
    assert_int_equal(json_parse("[1,2,3]", 7, 4, &d), 0);
    assert_int_equal(json_token_count(d), 4);
    json_doc_free(d);
    d = NULL;
    assert_int_equal(json_parse("[1,2,3]", 7, 3, &d), -E2BIG);
    assert_int_equal(json_parse("{\"a\":1}", 7, 3, &d), 0);
    assert_int_equal(json_token_count(d), 3);
    json_doc_free(d);
    d = NULL;
    assert_int_equal(json_parse("{\"a\":1}", 7, 2, &d), -E2BIG);
    assert_int_equal(json_parse("1", 1, 0, &d), -E2BIG);
    assert_null(d);
}

static void test_size_limit(void **state)
{
    static const char small[] = "[]";
    struct json_doc *d = NULL;

    (void)state;
    /* The size is checked before a byte is read, so the buffer need not be that large. */
    assert_int_equal(json_parse(small, (size_t)JSON_MAX_TEXT + 1, TEST_MAX_TOKENS, &d), -E2BIG);
    assert_int_equal(json_parse(NULL, 1, TEST_MAX_TOKENS, &d), -EINVAL);
    assert_int_equal(json_parse(NULL, 0, TEST_MAX_TOKENS, &d), -EBADMSG);
    assert_null(d);
}

/* ---- Strings ---------------------------------------------------------------------------- */

static void test_unescape_every_escape(void **state)
{
    (void)state;
    expect_unescaped("\"\\\"\"", "\"");
    expect_unescaped("\"\\\\\"", "\\");
    expect_unescaped("\"\\/\"", "/");
    expect_unescaped("\"\\b\"", "\b");
    expect_unescaped("\"\\f\"", "\f");
    expect_unescaped("\"\\n\"", "\n");
    expect_unescaped("\"\\r\"", "\r");
    expect_unescaped("\"\\t\"", "\t");
    expect_unescaped("\"\\u0041\"", "A");
    expect_unescaped("\"\\u0001\"", "\x01");
    expect_unescaped("\"\\u00e9\"", "\xC3\xA9");
    expect_unescaped("\"\\u00E9\"", "\xC3\xA9");
    expect_unescaped("\"\\u20ac\"", "\xE2\x82\xAC");
    expect_unescaped("\"\\uffff\"", "\xEF\xBF\xBF");
    expect_unescaped("\"a\\\\u0041\"", "a\\u0041"); /* an escaped backslash, then text */
    expect_unescaped("\"mixed \\\"q\\\" \xC3\xA9\\n\"", "mixed \"q\" \xC3\xA9\n");
    expect_unescaped("\"\"", "");
}

static void test_surrogate_pairs(void **state)
{
    (void)state;
    expect_unescaped("\"\\ud83d\\ude00\"", "\xF0\x9F\x98\x80"); /* U+1F600 */
    expect_unescaped("\"\\uD83D\\uDE00\"", "\xF0\x9F\x98\x80");
    expect_unescaped("\"\\ud800\\udc00\"", "\xF0\x90\x80\x80"); /* U+10000 */
    expect_unescaped("\"\\udbff\\udfff\"", "\xF4\x8F\xBF\xBF"); /* U+10FFFF */
    expect_unescaped("\"x\\ud83d\\ude00y\"", "x\xF0\x9F\x98\x80y");
}

static void test_unrepresentable_strings(void **state)
{
    static const char *const bad[] = {
            "\"\\ud83d\"",        /* lone high at the end */
            "\"\\ude00\"",        /* lone low */
            "\"\\ude00\\ud83d\"", /* reversed pair */
            "\"\\ud83dx\"",       /* high followed by text */
            "\"\\ud83d\\u0041\"", /* high followed by a non-surrogate escape */
            "\"\\ud83d\\ud83d\"", /* two highs */
            "\"\\ud83d\\n\"",     /* high followed by another escape */
            "\"\\u0000\"",        /* NUL cannot live in a C string */
            "\"ab\\u0000cd\"",
    };

    (void)state;
    for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
        _cleanup_(json_doc_freep) struct json_doc *d = NULL;
        char *s = (char *)"untouched";

        /* The document parses (one hostile string must not sink a whole sync)... */
        assert_int_equal(parse(bad[i], &d), 0);
        /* ...but the string cannot be read, and the out-parameter is left alone. */
        assert_int_equal(json_get_string(d, 0, NULL, &s), -EILSEQ);
        assert_string_equal(s, "untouched");
        assert_int_equal(json_string_equals(d, 0, NULL, ""), 0);
    }
}

/* json_get_text() reads the same strings, each unrepresentable escape as U+FFFD and the rest
 * as json_get_string() would: a message's text survives one bad character. */
static void test_text_replaces_unrepresentable(void **state)
{
#define FFFD "\xEF\xBF\xBD"
    static const struct {
        const char *json, *text;
    } cases[] = {
            {"\"\\ud83d\"", FFFD},
            {"\"\\ude00\"", FFFD},
            {"\"\\ude00\\ud83d\"", FFFD FFFD},
            {"\"\\ud83dx\"", FFFD "x"},
            {"\"\\ud83d\\u0041\"", FFFD "A"},
            {"\"\\ud83d\\ud83d\\ude00\"", FFFD "\xF0\x9F\x98\x80"},
            {"\"\\ud83d\\n\"", FFFD "\n"},
            {"\"\\u0000\"", FFFD},
            {"\"ab\\u0000cd\"", "ab" FFFD "cd"},
            {"\"\\u0001 \\u001b[0m\"", "\x01 \x1b[0m"},
            {"\"plain \\u00e9\"", "plain \xC3\xA9"},
    };
#undef FFFD

    (void)state;
    for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
        _cleanup_(json_doc_freep) struct json_doc *d = NULL;
        _cleanup_free_ char *s = NULL;

        assert_int_equal(parse(cases[i].json, &d), 0);
        assert_int_equal(json_get_text(d, 0, NULL, &s), 0);
        assert_string_equal(s, cases[i].text);
        assert_true(strlen(s) <= strlen(cases[i].json));
    }
}

/* ---- Lookup ----------------------------------------------------------------------------- */

static const char sync_body[] =
        "{\"next_batch\":\"s72595_4483_1934\","
        " \"rooms\":{\"join\":{\"!abc:example.org\":{\"timeline\":{\"events\":["
        "   {\"type\":\"m.room.message\",\"event_id\":\"$1\",\"origin_server_ts\":1700000000000,"
        "    \"content\":{\"body\":\"hi \\ud83d\\ude00\",\"msgtype\":\"m.text\"}},"
        "   {\"type\":\"m.room.member\",\"event_id\":\"$2\",\"content\":{\"membership\":\"join\"}}"
        " ],\"limited\":false}}}},"
        " \"a.b\":1, \"a\":{\"b\":2}, \"n\":null, \"f\":1.5}";

static void test_get_path(void **state)
{
    _cleanup_(json_doc_freep) struct json_doc *d = NULL;
    _cleanup_free_ char *batch = NULL;
    int t = -1, room, events;
    int64_t v;
    bool b;

    (void)state;
    assert_int_equal(parse(sync_body, &d), 0);
    assert_int_equal(json_type(d, 0), JSON_OBJECT);
    assert_int_equal(json_get_string(d, 0, "next_batch", &batch), 0);
    assert_string_equal(batch, "s72595_4483_1934");

    assert_int_equal(json_get(d, 0, "rooms.join", &t), 0);
    assert_int_equal(json_type(d, t), JSON_OBJECT);
    /* A room id has dots and colons: reached with json_get_key(). */
    assert_int_equal(json_get_key(d, t, "!abc:example.org", 16, &room), 0);
    assert_int_equal(json_get(d, room, "timeline.events", &events), 0);
    assert_int_equal(json_array_len(d, events), 2);
    assert_int_equal(json_get_bool(d, room, "timeline.limited", &b), 0);
    assert_false(b);

    /* "a.b" as a path is a then b; as a key it is the literal key. */
    assert_int_equal(json_get_int64(d, 0, "a.b", &v), 0);
    assert_int_equal(v, 2);
    assert_int_equal(json_get_key(d, 0, "a.b", 3, &t), 0);
    assert_int_equal(json_get_int64(d, t, NULL, &v), 0);
    assert_int_equal(v, 1);

    /* NULL and "" name the token itself. */
    assert_int_equal(json_get(d, room, NULL, &t), 0);
    assert_int_equal(t, room);
    assert_int_equal(json_get(d, room, "", &t), 0);
    assert_int_equal(t, room);
}

static void test_get_path_errors(void **state)
{
    _cleanup_(json_doc_freep) struct json_doc *d = NULL;
    int t = -7;

    (void)state;
    assert_int_equal(parse(sync_body, &d), 0);
    assert_int_equal(json_get(d, 0, "missing", &t), -ENOENT);
    assert_int_equal(json_get(d, 0, "rooms.leave", &t), -ENOENT);
    assert_int_equal(json_get(d, 0, "next_batch.x", &t), -EBADMSG); /* through a string */
    assert_int_equal(json_get(d, 0, "a..b", &t), -EINVAL);
    assert_int_equal(json_get(d, 0, ".a", &t), -EINVAL);
    assert_int_equal(json_get(d, 0, "a.", &t), -EINVAL);
    assert_int_equal(json_get(d, 0, "missing..x", &t), -EINVAL); /* path checked first */
    assert_int_equal(json_get(d, -1, "a", &t), -EINVAL);
    assert_int_equal(json_get(d, json_token_count(d), "a", &t), -EINVAL);
    assert_int_equal(json_get_key(d, 0, "next", 4, &t), -ENOENT); /* prefix is not a match */
    assert_int_equal(json_get_key(d, 0, "next_batchx", 11, &t), -ENOENT);
    assert_int_equal(t, -7);
    assert_int_equal(json_type(d, -1), JSON_INVALID);
    assert_int_equal(json_type(d, json_token_count(d)), JSON_INVALID);
}

static void test_duplicate_keys_last_wins(void **state)
{
    _cleanup_(json_doc_freep) struct json_doc *d = NULL;
    int cursor = 0, k, v, seen = 0;
    int64_t n;

    (void)state;
    assert_int_equal(parse("{\"a\":1,\"b\":{\"a\":9},\"a\":2}", &d), 0);
    assert_int_equal(json_get_int64(d, 0, "a", &n), 0);
    assert_int_equal(n, 2);
    while (json_object_iter(d, 0, &cursor, &k, &v) > 0)
        seen++;
    assert_int_equal(seen, 3);
}

static void test_escaped_keys(void **state)
{
    _cleanup_(json_doc_freep) struct json_doc *d = NULL;
    int64_t n;
    int t;

    (void)state;
    assert_int_equal(
            parse("{\"\\u0072ooms\":1,\"q\\\"k\":2,\"\\ud83d\\ude00\":3,\"lone\\ud800\":4}", &d),
            0);
    assert_int_equal(json_get_int64(d, 0, "rooms", &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(json_get_key(d, 0, "q\"k", 3, &t), 0);
    assert_int_equal(json_get_int64(d, t, NULL, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(json_get_int64(d, 0, "\xF0\x9F\x98\x80", &n), 0);
    assert_int_equal(n, 3);
    /* A key that cannot be unescaped matches nothing, not even its raw spelling. */
    assert_int_equal(json_get(d, 0, "lone\\ud800", &t), -ENOENT);
    assert_int_equal(json_get(d, 0, "roomsx", &t), -ENOENT);
}

static void test_arrays(void **state)
{
    _cleanup_(json_doc_freep) struct json_doc *d = NULL;
    int t = -7, cursor = 0, elem, i = 0;
    static const enum json_type types[] = {JSON_ARRAY, JSON_OBJECT, JSON_NUMBER, JSON_STRING,
                                           JSON_ARRAY};
    int64_t n;

    (void)state;
    assert_int_equal(parse("[[1,[2,3]],{\"a\":[4,5]},6,\"s\",[]]", &d), 0);
    assert_int_equal(json_array_len(d, 0), 5);
    /* Elements after nested ones are found: subtrees are skipped whole. */
    assert_int_equal(json_array_at(d, 0, 2, &t), 0);
    assert_int_equal(json_get_int64(d, t, NULL, &n), 0);
    assert_int_equal(n, 6);
    while (json_array_iter(d, 0, &cursor, &elem) > 0) {
        assert_true(i < 5);
        assert_int_equal(json_type(d, elem), types[i++]);
    }
    assert_int_equal(i, 5);
    /* At the end it stays at the end. */
    assert_int_equal(json_array_iter(d, 0, &cursor, &elem), 0);

    t = -7;
    assert_int_equal(json_array_at(d, 0, 5, &t), -ENOENT);
    assert_int_equal(json_array_at(d, 0, SIZE_MAX, &t), -ENOENT);
    assert_int_equal(t, -7);
    assert_int_equal(json_array_at(d, 0, 4, &t), 0);
    assert_int_equal(json_array_len(d, t), 0);
    cursor = 0;
    assert_int_equal(json_array_iter(d, t, &cursor, &elem), 0);

    assert_int_equal(json_array_at(d, 0, 1, &t), 0);
    assert_int_equal(json_array_len(d, t), -EBADMSG);
    cursor = 0;
    assert_int_equal(json_array_iter(d, t, &cursor, &elem), -EBADMSG);
}

static void test_object_iter(void **state)
{
    _cleanup_(json_doc_freep) struct json_doc *d = NULL;
    static const char *const keys[] = {"x", "y.z", "w"};
    int cursor = 0, k, v, i = 0, inner;

    (void)state;
    assert_int_equal(parse("{\"x\":{\"deep\":[1,{\"x\":2}]},\"y.z\":[],\"w\":null,}", &d),
                     -EBADMSG);
    assert_int_equal(parse("{\"x\":{\"deep\":[1,{\"x\":2}]},\"y.z\":[],\"w\":null}", &d), 0);
    while (json_object_iter(d, 0, &cursor, &k, &v) > 0) {
        assert_true(i < 3);
        assert_int_equal(json_type(d, k), JSON_STRING);
        assert_int_equal(json_string_equals(d, k, NULL, keys[i]), 1);
        i++;
    }
    assert_int_equal(i, 3);
    assert_int_equal(json_type(d, v), JSON_NULL);

    /* The value of "x" holds one member; the value of "y.z" is not an object. */
    assert_int_equal(json_get(d, 0, "x", &inner), 0);
    cursor = 0;
    assert_int_equal(json_object_iter(d, inner, &cursor, &k, &v), 1);
    assert_int_equal(json_string_equals(d, k, NULL, "deep"), 1);
    assert_int_equal(json_object_iter(d, inner, &cursor, &k, &v), 0);
    assert_int_equal(json_get(d, 0, "y.z", &inner), -ENOENT);
    assert_int_equal(json_get_key(d, 0, "y.z", 3, &inner), 0);
    cursor = 0;
    assert_int_equal(json_object_iter(d, inner, &cursor, &k, &v), -EBADMSG);
    /* Forged cursors are refused. */
    cursor = 3; /* token 3 is the key "deep", a grandchild of the root */
    assert_int_equal(json_object_iter(d, 0, &cursor, &k, &v), -EINVAL);
    cursor = -5;
    assert_int_equal(json_object_iter(d, 0, &cursor, &k, &v), -EINVAL);
    cursor = 1000;
    assert_int_equal(json_object_iter(d, 0, &cursor, &k, &v), -EINVAL);

    json_doc_free(d);
    d = NULL;
    assert_int_equal(parse("{ }", &d), 0);
    cursor = 0;
    assert_int_equal(json_object_iter(d, 0, &cursor, &k, &v), 0);
}

/* ---- Typed getters ---------------------------------------------------------------------- */

static void test_getter_type_errors(void **state)
{
    _cleanup_(json_doc_freep) struct json_doc *d = NULL;
    char *s = NULL;
    int64_t n = 42;
    double x = 4.2;
    bool b = true;

    (void)state;
    assert_int_equal(
            parse("{\"s\":\"1\",\"i\":1,\"f\":1.5,\"e\":1e3,\"t\":true,\"n\":null,\"o\":{}}", &d),
            0);
    assert_int_equal(json_get_string(d, 0, "i", &s), -EBADMSG);
    assert_int_equal(json_get_string(d, 0, "n", &s), -EBADMSG);
    assert_int_equal(json_get_string(d, 0, "nope", &s), -ENOENT);
    assert_null(s);
    assert_int_equal(json_get_int64(d, 0, "s", &n), -EBADMSG);
    assert_int_equal(json_get_int64(d, 0, "f", &n), -EBADMSG); /* integers only */
    assert_int_equal(json_get_int64(d, 0, "e", &n), -EBADMSG);
    assert_int_equal(json_get_int64(d, 0, "t", &n), -EBADMSG);
    assert_int_equal(n, 42);
    assert_int_equal(json_get_double(d, 0, "s", &x), -EBADMSG);
    assert_int_equal(json_get_double(d, 0, "o", &x), -EBADMSG);
    assert_true(x == 4.2);
    assert_int_equal(json_get_bool(d, 0, "n", &b), -EBADMSG);
    assert_int_equal(json_get_bool(d, 0, "i", &b), -EBADMSG);
    assert_true(b);
    assert_int_equal(json_string_equals(d, 0, "i", "1"), -EBADMSG);

    assert_int_equal(json_get_double(d, 0, "e", &x), 0);
    assert_true(x == 1000.0);
    assert_int_equal(json_get_double(d, 0, "i", &x), 0);
    assert_true(x == 1.0);
    assert_int_equal(json_get_bool(d, 0, "t", &b), 0);
    assert_true(b);
    assert_int_equal(json_string_equals(d, 0, "s", "1"), 1);
    assert_int_equal(json_string_equals(d, 0, "s", "12"), 0);
    assert_int_equal(json_string_equals(d, 0, "s", ""), 0);

    assert_int_equal(json_is_null(d, 0, "n"), 1);
    assert_int_equal(json_is_null(d, 0, "i"), 0);
    assert_int_equal(json_is_null(d, 0, "o"), 0);
    assert_int_equal(json_is_null(d, 0, "nope"), -ENOENT);
}

static void expect_int64(const char *text, int error, int64_t expected)
{
    _cleanup_(json_doc_freep) struct json_doc *d = NULL;
    int64_t v = 12345;

    assert_int_equal(parse(text, &d), 0);
    assert_int_equal(json_get_int64(d, 0, NULL, &v), error);
    assert_true(v == (error == 0 ? expected : 12345));
}

static void test_int64_range(void **state)
{
    (void)state;
    expect_int64("0", 0, 0);
    expect_int64("-0", 0, 0);
    expect_int64("1700000000000", 0, 1700000000000LL);
    expect_int64("9223372036854775807", 0, INT64_MAX);
    expect_int64("9223372036854775808", -ERANGE, 0);
    expect_int64("9223372036854775810", -ERANGE, 0);
    expect_int64("-9223372036854775808", 0, INT64_MIN);
    expect_int64("-9223372036854775809", -ERANGE, 0);
    expect_int64("18446744073709551616", -ERANGE, 0); /* 2^64: would wrap to 0 */
    expect_int64("123456789012345678901234567890", -ERANGE, 0);
}

static void expect_double(const char *text, int error, double expected)
{
    _cleanup_(json_doc_freep) struct json_doc *d = NULL;
    double v = 12345;

    assert_int_equal(parse(text, &d), 0);
    assert_int_equal(json_get_double(d, 0, NULL, &v), error);
    if (error == 0)
        assert_true(v == expected);
    else
        assert_true(v == 12345);
}

static void test_doubles(void **state)
{
    _cleanup_(json_doc_freep) struct json_doc *d = NULL;
    double v;

    (void)state;
    expect_double("1.5E+3", 0, 1500.0);
    expect_double("1e-5", 0, 1e-5);
    expect_double("-2.5e-3", 0, -0.0025);
    expect_double("0.1", 0, 0.1);
    expect_double("1e308", 0, 1e308);
    expect_double("1e400", -ERANGE, 0);
    expect_double("-1e400", -ERANGE, 0);
    expect_double("1e-400", 0, 0.0); /* underflow rounds to zero */
    /* -0 keeps its sign. */
    assert_int_equal(parse("-0", &d), 0);
    assert_int_equal(json_get_double(d, 0, NULL, &v), 0);
    assert_true(v == 0.0 && signbit(v));
}

static void test_token_raw(void **state)
{
    _cleanup_(json_doc_freep) struct json_doc *d = NULL;
    const char *raw;
    size_t len;
    int t;

    (void)state;
    assert_int_equal(
            parse(" {\"ev\": {\"a\" : [1, \"x\\n\"]}, \"s\":\"q\\\"\" , \"n\":-1.5e3} ", &d), 0);
    assert_int_equal(json_get(d, 0, "ev", &t), 0);
    assert_int_equal(json_token_raw(d, t, &raw, &len), 0);
    assert_int_equal(len, strlen("{\"a\" : [1, \"x\\n\"]}"));
    assert_memory_equal(raw, "{\"a\" : [1, \"x\\n\"]}", len);
    assert_int_equal(json_get(d, 0, "s", &t), 0);
    assert_int_equal(json_token_raw(d, t, &raw, &len), 0);
    assert_int_equal(len, 5);
    assert_memory_equal(raw, "\"q\\\"\"", 5);
    assert_int_equal(json_get(d, 0, "n", &t), 0);
    assert_int_equal(json_token_raw(d, t, &raw, &len), 0);
    assert_int_equal(len, 6);
    assert_memory_equal(raw, "-1.5e3", 6);
    assert_int_equal(json_token_raw(d, 99, &raw, &len), -EINVAL);
}

/* The document owns a copy: the caller's buffer may go away. */
static void test_doc_owns_text(void **state)
{
    _cleanup_(json_doc_freep) struct json_doc *d = NULL;
    _cleanup_free_ char *s = NULL;
    char *text = strdup("{\"k\":\"value\"}");

    (void)state;
    assert_non_null(text);
    assert_int_equal(json_parse(text, strlen(text), TEST_MAX_TOKENS, &d), 0);
    memset(text, 'x', strlen(text));
    free(text);
    assert_int_equal(json_get_string(d, 0, "k", &s), 0);
    assert_string_equal(s, "value");
}

/* ---- Writer ----------------------------------------------------------------------------- */

static char *steal_ok(struct json_writer *w)
{
    char *out = NULL;
    size_t len = 0;

    assert_int_equal(json_writer_steal(w, &out, &len), 0);
    assert_non_null(out);
    assert_int_equal(len, strlen(out));
    json_writer_done(w);
    return out;
}

static void test_writer_structure(void **state)
{
    struct json_writer w;
    _cleanup_free_ char *out = NULL;

    (void)state;
    json_writer_init(&w, 4096);
    json_begin_object(&w);
    json_key(&w, "a");
    json_int(&w, 1);
    json_key(&w, "b");
    json_begin_array(&w);
    json_bool(&w, true);
    json_bool(&w, false);
    json_null(&w);
    json_string(&w, NULL);
    json_begin_array(&w);
    json_end_array(&w);
    json_begin_object(&w);
    json_end_object(&w);
    json_end_array(&w);
    json_key(&w, "c");
    json_string(&w, "x");
    json_key(&w, "d");
    json_begin_object(&w);
    json_key(&w, "e");
    json_int(&w, -7);
    json_end_object(&w);
    json_end_object(&w);
    out = steal_ok(&w);
    assert_string_equal(out, "{\"a\":1,\"b\":[true,false,null,null,[],{}],\"c\":\"x\","
                             "\"d\":{\"e\":-7}}");
}

static char *write_one_string(const char *s, size_t len)
{
    struct json_writer w;

    json_writer_init(&w, 4096);
    json_string_len(&w, s, len);
    return steal_ok(&w);
}

static void test_writer_escaping(void **state)
{
    static const char in[] = "q\" b\\ s/ \b\f\n\r\t \x01\x1f\x7f "
                             "\xE2\x80\xA8\xE2\x80\xA9 \xE2\x80\xAA \xC3\xA9 \xF0\x9F\x98\x80";
    static const char expected[] = "\"q\\\" b\\\\ s/ \\b\\f\\n\\r\\t \\u0001\\u001f\x7f "
                                   "\\u2028\\u2029 \xE2\x80\xAA \xC3\xA9 \xF0\x9F\x98\x80\"";
    _cleanup_free_ char *out = NULL, *nul = NULL, *tail = NULL, *key = NULL;
    struct json_writer w;

    (void)state;
    out = write_one_string(in, strlen(in));
    assert_string_equal(out, expected);
    /* An embedded NUL is escaped, not a terminator. */
    nul = write_one_string("a\0b", 3);
    assert_string_equal(nul, "\"a\\u0000b\"");
    /* U+2028's lead byte at the very end of a run is not misread past the length. */
    tail = write_one_string("x\xE2\x80\xA8", 4);
    assert_string_equal(tail, "\"x\\u2028\"");

    json_writer_init(&w, 4096);
    json_begin_object(&w);
    json_key(&w, "k\"\n.");
    json_int(&w, 0);
    json_end_object(&w);
    key = steal_ok(&w);
    assert_string_equal(key, "{\"k\\\"\\n.\":0}");
}

static void test_writer_invalid_utf8(void **state)
{
    static const char *const bad[] = {"\xC0\xAF", "\xED\xA0\x80", "\xE2\x82", "\xF4\x90\x80\x80",
                                      "\xFF"};
    struct json_writer w;
    char *out = NULL;

    (void)state;
    for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
        json_writer_init(&w, 4096);
        json_begin_array(&w);
        json_string(&w, bad[i]);
        json_end_array(&w);
        assert_int_equal(json_writer_steal(&w, &out, NULL), -EILSEQ);
        assert_null(out);
        json_writer_done(&w);

        json_writer_init(&w, 4096);
        json_begin_object(&w);
        json_key(&w, bad[i]);
        json_int(&w, 1);
        json_end_object(&w);
        assert_int_equal(json_writer_steal(&w, &out, NULL), -EILSEQ);
        json_writer_done(&w);
    }
}

static void test_writer_sticky_error(void **state)
{
    struct json_writer w;
    char *out = NULL;

    (void)state;
    json_writer_init(&w, 4096);
    json_begin_object(&w);
    json_int(&w, 1); /* no key: -EINVAL */
    assert_int_equal(w.error, -EINVAL);
    json_double(&w, NAN); /* would be -EDOM; the first error is kept */
    json_key(&w, "a");
    json_string(&w, "\xFF");
    json_end_object(&w);
    assert_int_equal(w.error, -EINVAL);
    assert_int_equal(json_writer_steal(&w, &out, NULL), -EINVAL);
    assert_null(out);
    /* Done after a failed steal, and twice, is safe. */
    json_writer_done(&w);
    json_writer_done(&w);
}

static void test_writer_size_limit(void **state)
{
    struct json_writer w;
    _cleanup_free_ char *out = NULL;
    char *none = NULL;

    (void)state;
    /* "abcde" quoted is 7 bytes: a limit of 7 fits exactly, 6 does not. */
    json_writer_init(&w, 7);
    json_string(&w, "abcde");
    out = steal_ok(&w);
    assert_string_equal(out, "\"abcde\"");

    json_writer_init(&w, 6);
    json_string(&w, "abcde");
    assert_int_equal(w.error, -E2BIG);
    assert_int_equal(json_writer_steal(&w, &none, NULL), -E2BIG);
    json_writer_done(&w);

    /* Growing past the initial allocation up to a large limit, then over it. */
    json_writer_init(&w, 100000);
    json_begin_array(&w);
    for (int i = 0; i < 100000 && w.error == 0; i++)
        json_int(&w, i);
    assert_int_equal(w.error, -E2BIG);
    assert_true(w.len <= 100000);
    json_writer_done(&w);

    json_writer_init(&w, 0);
    json_null(&w);
    assert_int_equal(json_writer_steal(&w, &none, NULL), -E2BIG);
    json_writer_done(&w);
}

/* Each sequence of calls is misuse and must end in -EINVAL. */
static void test_writer_misuse(void **state)
{
    struct json_writer w;
    char *out = NULL;

#define EXPECT_MISUSE(calls)                                                                       \
    do {                                                                                           \
        json_writer_init(&w, 4096);                                                                \
        calls;                                                                                     \
        assert_int_equal(json_writer_steal(&w, &out, NULL), -EINVAL);                              \
        assert_null(out);                                                                          \
        json_writer_done(&w);                                                                      \
    } while (0)

    (void)state;
    EXPECT_MISUSE({
        json_begin_object(&w);
        json_string(&w, "v");
        json_end_object(&w);
    });
    EXPECT_MISUSE({
        json_begin_array(&w);
        json_key(&w, "k");
        json_end_array(&w);
    });
    EXPECT_MISUSE({ json_key(&w, "k"); });
    EXPECT_MISUSE({
        json_begin_object(&w);
        json_key(&w, "a");
        json_key(&w, "b");
    });
    EXPECT_MISUSE({
        json_begin_object(&w);
        json_key(&w, "a");
        json_end_object(&w);
    });
    EXPECT_MISUSE({
        json_begin_object(&w);
        json_key(&w, NULL);
        json_int(&w, 1);
    });
    EXPECT_MISUSE({
        json_begin_object(&w);
        json_end_array(&w);
    });
    EXPECT_MISUSE({
        json_begin_array(&w);
        json_end_object(&w);
    });
    EXPECT_MISUSE({ json_end_array(&w); });
    EXPECT_MISUSE({ json_end_object(&w); });
    /* Two top-level values. */
    EXPECT_MISUSE({
        json_int(&w, 1);
        json_int(&w, 2);
    });
    EXPECT_MISUSE({
        json_begin_array(&w);
        json_end_array(&w);
        json_null(&w);
    });
    /* Unclosed at steal. */
    EXPECT_MISUSE({
        json_begin_array(&w);
        json_int(&w, 1);
    });
    /* A key without its value; nothing written at all. */
    EXPECT_MISUSE({
        json_begin_object(&w);
        json_key(&w, "a");
    });
    EXPECT_MISUSE({});
#undef EXPECT_MISUSE
}

static void test_writer_depth_limit(void **state)
{
    struct json_writer w;
    _cleanup_free_ char *out = NULL;
    _cleanup_(json_doc_freep) struct json_doc *d = NULL;
    char *none = NULL;

    (void)state;
    json_writer_init(&w, 4096);
    for (int i = 0; i < JSON_MAX_DEPTH; i++)
        json_begin_array(&w);
    for (int i = 0; i < JSON_MAX_DEPTH; i++)
        json_end_array(&w);
    out = steal_ok(&w);
    /* What the writer allows, the reader accepts. */
    assert_int_equal(parse(out, &d), 0);

    json_writer_init(&w, 4096);
    for (int i = 0; i <= JSON_MAX_DEPTH; i++)
        json_begin_array(&w);
    assert_int_equal(json_writer_steal(&w, &none, NULL), -E2BIG);
    json_writer_done(&w);
}

static void test_writer_doubles(void **state)
{
    static const struct {
        double v;
        const char *text;
    } cases[] = {
            {0.1, "0.1"}, {1.5, "1.5"},      {-0.0, "-0"},
            {100, "100"}, {1e300, "1e+300"}, {5e-324, "4.94065645841247e-324"},
    };
    static const double special[] = {NAN, INFINITY, -INFINITY};
    struct json_writer w;
    char *none = NULL;

    (void)state;
    for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
        _cleanup_free_ char *out = NULL;

        json_writer_init(&w, 64);
        json_double(&w, cases[i].v);
        out = steal_ok(&w);
        assert_string_equal(out, cases[i].text);
    }
    for (size_t i = 0; i < ELEMENTSOF(special); i++) {
        json_writer_init(&w, 64);
        json_double(&w, special[i]);
        assert_int_equal(json_writer_steal(&w, &none, NULL), -EDOM);
        json_writer_done(&w);
    }
}

/* Doubles that need 17 digits, and ones at the edges, read back bit for bit. */
static void test_writer_double_round_trip(void **state)
{
    const double values[] = {1.0 / 3,
                             2.0 / 3,
                             0.1 + 0.2,
                             1e-310,
                             1.7976931348623157e308,
                             -123456.789e-200,
                             9007199254740993.0,
                             2.2250738585072014e-308};
    struct json_writer w;
    _cleanup_free_ char *out = NULL;
    _cleanup_(json_doc_freep) struct json_doc *d = NULL;
    int cursor = 0, elem;
    size_t i = 0;

    (void)state;
    json_writer_init(&w, 4096);
    json_begin_array(&w);
    for (size_t k = 0; k < ELEMENTSOF(values); k++)
        json_double(&w, values[k]);
    json_end_array(&w);
    out = steal_ok(&w);
    assert_int_equal(parse(out, &d), 0);
    while (json_array_iter(d, 0, &cursor, &elem) > 0) {
        double v;
        assert_int_equal(json_get_double(d, elem, NULL, &v), 0);
        assert_memory_equal(&v, &values[i], sizeof(v));
        i++;
    }
    assert_int_equal(i, ELEMENTSOF(values));
}

/* Write strings of every awkward kind, parse the text, read them back: equal. */
static void test_writer_round_trip(void **state)
{
    static const char *const strings[] = {
            "",
            "plain",
            "\"quoted\" and \\backslashed\\",
            "\x01\x02\x03\x04\x05\x06\x07\b\t\n\x0b\f\r\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17"
            "\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f\x7f",
            "\xE2\x80\xA8 and \xE2\x80\xA9",
            "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80 \xF4\x8F\xBF\xBF",
            "</script>",
    };
    struct json_writer w;
    _cleanup_free_ char *out = NULL;
    _cleanup_(json_doc_freep) struct json_doc *d = NULL;
    int64_t n;
    bool b;
    int t;

    (void)state;
    json_writer_init(&w, 1 << 16);
    json_begin_object(&w);
    json_key(&w, "strings");
    json_begin_array(&w);
    for (size_t i = 0; i < ELEMENTSOF(strings); i++)
        json_string(&w, strings[i]);
    json_end_array(&w);
    json_key(&w, "m.relates_to");
    json_begin_object(&w);
    json_key(&w, "min");
    json_int(&w, INT64_MIN);
    json_key(&w, "max");
    json_int(&w, INT64_MAX);
    json_end_object(&w);
    json_key(&w, "b");
    json_bool(&w, true);
    json_key(&w, "null");
    json_null(&w);
    json_end_object(&w);
    out = steal_ok(&w);

    assert_int_equal(parse(out, &d), 0);
    assert_int_equal(json_get(d, 0, "strings", &t), 0);
    assert_int_equal(json_array_len(d, t), (int)ELEMENTSOF(strings));
    for (size_t i = 0; i < ELEMENTSOF(strings); i++) {
        _cleanup_free_ char *s = NULL;
        int e;
        assert_int_equal(json_array_at(d, t, i, &e), 0);
        assert_int_equal(json_get_string(d, e, NULL, &s), 0);
        assert_string_equal(s, strings[i]);
        assert_int_equal(json_string_equals(d, e, NULL, strings[i]), 1);
    }
    assert_int_equal(json_get_key(d, 0, "m.relates_to", 12, &t), 0);
    assert_int_equal(json_get_int64(d, t, "min", &n), 0);
    assert_true(n == INT64_MIN);
    assert_int_equal(json_get_int64(d, t, "max", &n), 0);
    assert_true(n == INT64_MAX);
    assert_int_equal(json_get_bool(d, 0, "b", &b), 0);
    assert_true(b);
    assert_int_equal(json_is_null(d, 0, "null"), 1);
}

static void test_writer_value_raw(void **state)
{
    (void)state;
    struct json_doc *d = NULL;
    struct json_writer w;
    char *out = NULL;
    size_t len = 0;
    int tok = -1;
    const char *text = "{\"a\": [1, \"x\\u00e9\"], \"b\": {\"c\": null}}";

    assert_int_equal(json_parse(text, strlen(text), 64, &d), 0);
    assert_int_equal(json_get(d, 0, "a", &tok), 0);
    json_writer_init(&w, 1024);
    json_begin_object(&w);
    json_key(&w, "k");
    json_value_raw(&w, d, tok);
    assert_int_equal(json_get(d, 0, "b", &tok), 0);
    json_key(&w, "m");
    json_value_raw(&w, d, tok);
    json_end_object(&w);
    assert_int_equal(json_writer_steal(&w, &out, &len), 0);
    /* Copied as written (escapes untouched), with the separators the writer owns. */
    assert_string_equal(out, "{\"k\":[1, \"x\\u00e9\"],\"m\":{\"c\": null}}");
    free(out);
    json_writer_done(&w);
    /* A token that is not in the document is a writer error. */
    json_writer_init(&w, 1024);
    json_value_raw(&w, d, 9999);
    assert_true(json_writer_steal(&w, &out, &len) < 0);
    json_writer_done(&w);
    json_doc_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_valid_documents),
            cmocka_unit_test(test_numbers_grammar),
            cmocka_unit_test(test_literals),
            cmocka_unit_test(test_structure),
            cmocka_unit_test(test_trailing_garbage),
            cmocka_unit_test(test_string_escapes_grammar),
            cmocka_unit_test(test_raw_invalid_utf8_rejected),
            cmocka_unit_test(test_depth_limit),
            cmocka_unit_test(test_token_limit),
            cmocka_unit_test(test_size_limit),
            cmocka_unit_test(test_unescape_every_escape),
            cmocka_unit_test(test_surrogate_pairs),
            cmocka_unit_test(test_text_replaces_unrepresentable),
            cmocka_unit_test(test_unrepresentable_strings),
            cmocka_unit_test(test_get_path),
            cmocka_unit_test(test_get_path_errors),
            cmocka_unit_test(test_duplicate_keys_last_wins),
            cmocka_unit_test(test_escaped_keys),
            cmocka_unit_test(test_arrays),
            cmocka_unit_test(test_object_iter),
            cmocka_unit_test(test_getter_type_errors),
            cmocka_unit_test(test_int64_range),
            cmocka_unit_test(test_doubles),
            cmocka_unit_test(test_token_raw),
            cmocka_unit_test(test_doc_owns_text),
            cmocka_unit_test(test_writer_structure),
            cmocka_unit_test(test_writer_escaping),
            cmocka_unit_test(test_writer_invalid_utf8),
            cmocka_unit_test(test_writer_sticky_error),
            cmocka_unit_test(test_writer_size_limit),
            cmocka_unit_test(test_writer_misuse),
            cmocka_unit_test(test_writer_depth_limit),
            cmocka_unit_test(test_writer_doubles),
            cmocka_unit_test(test_writer_double_round_trip),
            cmocka_unit_test(test_writer_round_trip),
            cmocka_unit_test(test_writer_value_raw),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
