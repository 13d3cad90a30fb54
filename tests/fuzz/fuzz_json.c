/* libFuzzer target for util/json: whatever parses must read through every getter without a
 * crash and consistently; re-emitted by the writer it must parse again to the same tree. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/json.h"
#include "util/utf8.h"

/* Inputs are at most 64 KiB (tools/run-fuzz): this many tokens admits any of them, so the
 * token limit never hides the rest of the reader. */
#define FUZZ_MAX_TOKENS 65536
/* Re-emission can grow the text: a number "1e9" becomes "1000000000", "0e0" stays "0", a raw
 * U+2028 (3 bytes) becomes \u2028 (6). 32 times the input is far beyond any of that. */
#define FUZZ_GROWTH 32
/* Re-parsing every token's raw text alone costs O(tokens * depth): only for small docs. */
#define FUZZ_RAW_REPARSE_MAX_TOKENS 2048

/* A property that failed: abort so libFuzzer keeps the input. Not assert(): it must not
 * vanish under NDEBUG. */
#define CHECK(x)                                                                                   \
    do {                                                                                           \
        if (!(x)) {                                                                                \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #x);                  \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static void check_string(const struct json_doc *d, int tok)
{
    _cleanup_free_ char *s = NULL;
    int r = json_get_string(d, tok, NULL, &s);

    if (r < 0) {
        CHECK(r == -EILSEQ);
        CHECK(json_string_equals(d, tok, NULL, "") == 0);
        return;
    }
    CHECK(utf8_is_valid(s, strlen(s)));
    CHECK(json_string_equals(d, tok, NULL, s) == 1);
}

static void check_number(const struct json_doc *d, int tok)
{
    int64_t i;
    double x;
    int ri = json_get_int64(d, tok, NULL, &i);
    int rd = json_get_double(d, tok, NULL, &x);

    CHECK(ri == 0 || ri == -EBADMSG || ri == -ERANGE);
    CHECK(rd == 0 || rd == -ERANGE);
    /* Both are correctly rounded readings of the same decimal integer. */
    if (ri == 0)
        CHECK(rd == 0 && x == (double)i);
}

/* Every key found by lookup is the last of its name among this object's members. */
static void check_object(const struct json_doc *d, int tok)
{
    int cursor = 0, k, v, members = 0;

    while (json_object_iter(d, tok, &cursor, &k, &v) > 0) {
        _cleanup_free_ char *key = NULL;
        int found;

        members++;
        CHECK(json_type(d, k) == JSON_STRING);
        CHECK(json_type(d, v) != JSON_INVALID);
        if (json_get_string(d, k, NULL, &key) < 0)
            continue;
        CHECK(json_get_key(d, tok, key, strlen(key), &found) == 0);
        CHECK(found >= v);
        CHECK(json_string_equals(d, found - 1, NULL, key) == 1);
    }
    CHECK(cursor != 0 || members == 0);
}

static void check_array(const struct json_doc *d, int tok)
{
    int cursor = 0, elem, n = 0, first = -1, at;

    while (json_array_iter(d, tok, &cursor, &elem) > 0) {
        if (n == 0)
            first = elem;
        n++;
    }
    CHECK(n == json_array_len(d, tok));
    if (n > 0) {
        CHECK(json_array_at(d, tok, 0, &at) == 0 && at == first);
        CHECK(json_array_at(d, tok, (size_t)n - 1, &at) == 0 && at == elem);
    }
    CHECK(json_array_at(d, tok, (size_t)n, &at) == -ENOENT);
}

/* Each token's raw text is itself a JSON text. */
static void check_raw(const struct json_doc *d, int tok)
{
    _cleanup_(json_doc_freep) struct json_doc *sub = NULL;
    const char *raw;
    size_t len;

    CHECK(json_token_raw(d, tok, &raw, &len) == 0);
    CHECK(json_parse(raw, len, FUZZ_MAX_TOKENS, &sub) == 0);
    CHECK(json_type(sub, 0) == json_type(d, tok));
}

static void walk(const struct json_doc *d)
{
    int count = json_token_count(d);

    for (int tok = 0; tok < count; tok++) {
        switch (json_type(d, tok)) {
        case JSON_STRING:
            check_string(d, tok);
            break;
        case JSON_NUMBER:
            check_number(d, tok);
            break;
        case JSON_BOOL: {
            bool b;
            CHECK(json_get_bool(d, tok, NULL, &b) == 0);
            break;
        }
        case JSON_NULL:
            CHECK(json_is_null(d, tok, NULL) == 1);
            break;
        case JSON_OBJECT:
            check_object(d, tok);
            break;
        case JSON_ARRAY:
            check_array(d, tok);
            break;
        case JSON_INVALID:
            CHECK(!"a token of the document has no type");
        }
        if (count <= FUZZ_RAW_REPARSE_MAX_TOKENS)
            check_raw(d, tok);
    }
}

/* Write token tok (and its subtree) with the writer. Returns -EILSEQ when a string cannot be
 * read back (a lone surrogate, \u0000): then there is nothing to compare. A number too large
 * for a double is written as null. */
static int emit(const struct json_doc *d, int tok, struct json_writer *w)
{
    int cursor = 0, k, v, r;
    int64_t i;
    double x;
    bool b;

    switch (json_type(d, tok)) {
    case JSON_OBJECT:
        json_begin_object(w);
        while (json_object_iter(d, tok, &cursor, &k, &v) > 0) {
            _cleanup_free_ char *key = NULL;
            r = json_get_string(d, k, NULL, &key);
            if (r < 0)
                return r;
            json_key(w, key);
            r = emit(d, v, w);
            if (r < 0)
                return r;
        }
        json_end_object(w);
        return 0;
    case JSON_ARRAY:
        json_begin_array(w);
        while (json_array_iter(d, tok, &cursor, &v) > 0) {
            r = emit(d, v, w);
            if (r < 0)
                return r;
        }
        json_end_array(w);
        return 0;
    case JSON_STRING: {
        _cleanup_free_ char *s = NULL;
        r = json_get_string(d, tok, NULL, &s);
        if (r < 0)
            return r;
        json_string(w, s);
        return 0;
    }
    case JSON_NUMBER:
        if (json_get_int64(d, tok, NULL, &i) == 0)
            json_int(w, i);
        else if (json_get_double(d, tok, NULL, &x) == 0)
            json_double(w, x);
        else
            json_null(w);
        return 0;
    case JSON_BOOL:
        CHECK(json_get_bool(d, tok, NULL, &b) == 0);
        json_bool(w, b);
        return 0;
    case JSON_NULL:
        json_null(w);
        return 0;
    case JSON_INVALID:
        break;
    }
    CHECK(!"emit of an invalid token");
    return -EINVAL;
}

/* Re-emit d; NULL when it holds an unreadable string. */
static char *reemit(const struct json_doc *d, size_t max)
{
    struct json_writer w;
    char *out = NULL;
    int r;

    json_writer_init(&w, max);
    r = emit(d, 0, &w);
    if (r < 0) {
        CHECK(r == -EILSEQ);
        json_writer_done(&w);
        return NULL;
    }
    CHECK(json_writer_steal(&w, &out, NULL) == 0);
    json_writer_done(&w);
    return out;
}

/* a (the original) and b (its re-emission) hold the same tree. */
static void check_same(const struct json_doc *a, int ta, const struct json_doc *b, int tb)
{
    enum json_type type = json_type(a, ta);
    int ca = 0, cb = 0, ka, va, kb, vb, ra, rb;

    if (type == JSON_NUMBER) {
        int64_t ia, ib;
        double xa, xb;
        if (json_get_int64(a, ta, NULL, &ia) == 0) {
            CHECK(json_get_int64(b, tb, NULL, &ib) == 0 && ia == ib);
        } else if (json_get_double(a, ta, NULL, &xa) == 0) {
            CHECK(json_get_double(b, tb, NULL, &xb) == 0);
            CHECK(memcmp(&xa, &xb, sizeof(xa)) == 0);
        } else
            CHECK(json_is_null(b, tb, NULL) == 1);
        return;
    }
    CHECK(json_type(b, tb) == type);
    switch (type) {
    case JSON_STRING: {
        _cleanup_free_ char *sa = NULL, *sb = NULL;
        CHECK(json_get_string(a, ta, NULL, &sa) == 0 && json_get_string(b, tb, NULL, &sb) == 0);
        CHECK(strcmp(sa, sb) == 0);
        return;
    }
    case JSON_BOOL: {
        bool ba, bb;
        CHECK(json_get_bool(a, ta, NULL, &ba) == 0 && json_get_bool(b, tb, NULL, &bb) == 0);
        CHECK(ba == bb);
        return;
    }
    case JSON_OBJECT:
        for (;;) {
            ra = json_object_iter(a, ta, &ca, &ka, &va);
            rb = json_object_iter(b, tb, &cb, &kb, &vb);
            CHECK(ra == rb && ra >= 0);
            if (ra == 0)
                return;
            check_same(a, ka, b, kb);
            check_same(a, va, b, vb);
        }
    case JSON_ARRAY:
        for (;;) {
            ra = json_array_iter(a, ta, &ca, &va);
            rb = json_array_iter(b, tb, &cb, &vb);
            CHECK(ra == rb && ra >= 0);
            if (ra == 0)
                return;
            check_same(a, va, b, vb);
        }
    default:
        return;
    }
}

static void check_reemission(const struct json_doc *d, size_t size)
{
    _cleanup_free_ char *out = NULL, *out2 = NULL, *out3 = NULL;
    _cleanup_(json_doc_freep) struct json_doc *d2 = NULL, *d3 = NULL;
    size_t max = size * FUZZ_GROWTH + 64;

    out = reemit(d, max);
    if (!out)
        return;
    CHECK(json_parse(out, strlen(out), FUZZ_MAX_TOKENS, &d2) == 0);
    CHECK(json_token_count(d2) == json_token_count(d));
    check_same(d, 0, d2, 0);

    /* After one round the writer's output is a fixed point ("-0.0" -> "-0" -> "0" and
     * "1e2" -> "100" settle): emitting what it parses to gives the same bytes. */
    out2 = reemit(d2, max);
    CHECK(out2);
    CHECK(json_parse(out2, strlen(out2), FUZZ_MAX_TOKENS, &d3) == 0);
    out3 = reemit(d3, max);
    CHECK(out3 && strcmp(out2, out3) == 0);
}

/* The input as one string: the writer accepts it exactly when it is UTF-8, and what it
 * writes reads back as the same bytes (unless a NUL makes it unrepresentable). */
static void check_string_writer(const uint8_t *data, size_t size)
{
    struct json_writer w;
    _cleanup_free_ char *out = NULL, *back = NULL;
    _cleanup_(json_doc_freep) struct json_doc *d = NULL;
    int r;

    json_writer_init(&w, size * 6 + 2);
    json_string_len(&w, (const char *)data, size);
    r = json_writer_steal(&w, &out, NULL);
    json_writer_done(&w);
    if (!utf8_is_valid((const char *)data, size)) {
        CHECK(r == -EILSEQ);
        return;
    }
    CHECK(r == 0);
    CHECK(json_parse(out, strlen(out), FUZZ_MAX_TOKENS, &d) == 0);
    r = json_get_string(d, 0, NULL, &back);
    if (memchr(data, 0, size)) {
        CHECK(r == -EILSEQ);
        return;
    }
    CHECK(r == 0 && strlen(back) == size && memcmp(back, data, size) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    _cleanup_(json_doc_freep) struct json_doc *d = NULL;
    int r;

    check_string_writer(data, size);

    r = json_parse((const char *)data, size, FUZZ_MAX_TOKENS, &d);
    if (r < 0) {
        CHECK(r == -EBADMSG || r == -EILSEQ || r == -E2BIG);
        return 0;
    }
    walk(d);
    check_reemission(d, size);
    return 0;
}
