/* Tests for plugin/passive.c: patterns, groups, order, errors and the bounds on patterns,
 * handlers and bodies. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin/passive.h"
#include "util/macro.h"

/* What the handlers saw. */
struct record {
    unsigned calls;
    char order[64]; /* one letter per call, the handler's */
    size_t n_match;
    char match[PASSIVE_MAX_MATCH][64];
    bool is_null[PASSIVE_MAX_MATCH];
    const struct br_message *msg;
};

static int record(struct record *r, char who, const struct br_message *msg,
                  const char *const *match, size_t n)
{
    r->order[r->calls++ % (sizeof(r->order) - 1)] = who;
    r->msg = msg;
    r->n_match = n;
    for (size_t i = 0; i < n; i++) {
        r->is_null[i] = match[i] == NULL;
        snprintf(r->match[i], sizeof(r->match[i]), "%s", match[i] ? match[i] : "");
    }
    return 0;
}

static int handler_a(void *state, const struct br_message *msg, const char *const *match, size_t n)
{
    return record(state, 'a', msg, match, n);
}

static int handler_b(void *state, const struct br_message *msg, const char *const *match, size_t n)
{
    return record(state, 'b', msg, match, n);
}

static int handler_fails(void *state, const struct br_message *msg, const char *const *match,
                         size_t n)
{
    (void)record(state, 'f', msg, match, n);
    return -EIO;
}

static struct passive_registry *registry(void)
{
    struct passive_registry *p = NULL;

    assert_int_equal(passive_registry_new(&p), 0);
    return p;
}

static void add(struct passive_registry *p, const char *re, br_passive_t h)
{
    char why[128] = "";

    if (passive_add(p, re, h, why, sizeof(why)) != 0)
        fail_msg("%s: %s", re, why);
}

static int run(struct passive_registry *p, struct record *r, const char *body)
{
    struct br_message msg = {.room_id = "!r:x", .body = body};
    int n;

    *r = (struct record){0};
    n = passive_run(p, r, &msg);
    if (r->calls > 0)
        assert_ptr_equal(r->msg, &msg);
    return n;
}

static void test_groups(void **state)
{
    _cleanup_(passive_registry_freep) struct passive_registry *p = registry();
    struct record r;
    (void)state;

    add(p, "instagram\\.com/(p|reel|tv)/([A-Za-z0-9_-]+)", handler_a);
    assert_int_equal(run(p, &r, "look https://www.instagram.com/reel/Cx_1-a/?x=1 !"), 1);
    assert_int_equal(r.n_match, 3);
    assert_string_equal(r.match[0], "instagram.com/reel/Cx_1-a");
    assert_string_equal(r.match[1], "reel");
    assert_string_equal(r.match[2], "Cx_1-a");

    /* Case-insensitive. */
    assert_int_equal(run(p, &r, "INSTAGRAM.COM/P/abc"), 1);
    assert_string_equal(r.match[1], "P");

    assert_int_equal(run(p, &r, "no link here"), 0);
    assert_int_equal(r.calls, 0);
}

static void test_group_that_took_no_part_is_null(void **state)
{
    _cleanup_(passive_registry_freep) struct passive_registry *p = registry();
    struct record r;
    (void)state;

    add(p, "(x)|(y)", handler_a);
    assert_int_equal(run(p, &r, "y"), 1);
    assert_int_equal(r.n_match, 3);
    assert_true(r.is_null[1]);
    assert_false(r.is_null[2]);
    assert_string_equal(r.match[2], "y");
}

static void test_at_most_ten_matches(void **state)
{
    _cleanup_(passive_registry_freep) struct passive_registry *p = registry();
    struct record r;
    (void)state;

    add(p, "(a)(b)(c)(d)(e)(f)(g)(h)(i)(j)(k)(l)", handler_a);
    assert_int_equal(run(p, &r, "abcdefghijkl"), 1);
    assert_int_equal(r.n_match, PASSIVE_MAX_MATCH);
    assert_string_equal(r.match[0], "abcdefghijkl");
    assert_string_equal(r.match[9], "i");
}

static void test_order_count_and_errors(void **state)
{
    _cleanup_(passive_registry_freep) struct passive_registry *p = registry();
    struct record r;
    (void)state;

    add(p, "hello", handler_a);
    add(p, "world", handler_fails);
    add(p, "o", handler_b);
    assert_int_equal(passive_count(p), 3);

    assert_int_equal(run(p, &r, "hello"), 2);
    assert_string_equal(r.order, "ab");
    /* A failing handler does not stop the others; its error is what run returns. */
    assert_int_equal(run(p, &r, "hello world"), -EIO);
    assert_string_equal(r.order, "afb");
}

static void test_refused_patterns(void **state)
{
    _cleanup_(passive_registry_freep) struct passive_registry *p = registry();
    char why[128], longre[PASSIVE_MAX_PATTERN + 2];
    (void)state;

    why[0] = '\0';
    assert_int_equal(passive_add(p, "(unclosed", handler_a, why, sizeof(why)), -EINVAL);
    assert_true(why[0] != '\0');
    assert_int_equal(passive_add(p, "", handler_a, why, sizeof(why)), -EINVAL);
    assert_int_equal(passive_add(p, NULL, handler_a, why, sizeof(why)), -EINVAL);
    assert_int_equal(passive_add(p, "x", NULL, why, sizeof(why)), -EINVAL);
    assert_int_equal(passive_add(p, "(a+)\\1", handler_a, why, sizeof(why)), -EINVAL);
    assert_non_null(strstr(why, "back-references"));
    /* An escaped backslash before a digit is a literal, not a back-reference. */
    assert_int_equal(passive_add(p, "a\\\\1", handler_a, why, sizeof(why)), 0);

    memset(longre, 'a', sizeof(longre) - 1);
    longre[sizeof(longre) - 1] = '\0';
    assert_int_equal(passive_add(p, longre, handler_a, why, sizeof(why)), -E2BIG);
    longre[PASSIVE_MAX_PATTERN] = '\0';
    assert_int_equal(passive_add(p, longre, handler_a, why, sizeof(why)), 0);
    assert_int_equal(passive_count(p), 2);
}

static void test_handler_limit(void **state)
{
    _cleanup_(passive_registry_freep) struct passive_registry *p = registry();
    char why[128];
    (void)state;

    for (unsigned i = 0; i < PASSIVE_MAX_HANDLERS; i++)
        add(p, "x", handler_a);
    assert_int_equal(passive_add(p, "x", handler_a, why, sizeof(why)), -ENOSPC);
    assert_int_equal(passive_count(p), PASSIVE_MAX_HANDLERS);
}

static void test_body_bound(void **state)
{
    _cleanup_(passive_registry_freep) struct passive_registry *p = registry();
    _cleanup_free_ char *body = malloc(PASSIVE_MAX_BODY + 64);
    struct record r;
    (void)state;

    add(p, "needle", handler_a);
    add(p, "(.)$", handler_b);

    /* A needle that ends exactly at the bound is seen; one byte later it is not. */
    memset(body, ' ', PASSIVE_MAX_BODY + 63);
    body[PASSIVE_MAX_BODY + 63] = '\0';
    memcpy(body + PASSIVE_MAX_BODY - 6, "needle", 6);
    assert_int_equal(run(p, &r, body), 2);
    assert_string_equal(r.order, "ab");
    memset(body, ' ', PASSIVE_MAX_BODY);
    memcpy(body + PASSIVE_MAX_BODY - 5, "needle", 6);
    assert_int_equal(run(p, &r, body), 1);
    assert_string_equal(r.order, "b");

    /* The cut backs up to a character boundary: a two-byte character across the bound is
     * left out whole, and the last character matched is the 'a' before it. */
    memset(body, 'a', PASSIVE_MAX_BODY - 1);
    memcpy(body + PASSIVE_MAX_BODY - 1, "\xC3\xA9zzz", 6);
    assert_int_equal(run(p, &r, body), 1);
    assert_string_equal(r.match[1], "a");
}

static void test_characters_not_bytes(void **state)
{
    _cleanup_(passive_registry_freep) struct passive_registry *p = registry();
    locale_t utf8 = newlocale(LC_ALL_MASK, "C.UTF-8", (locale_t)0);
    struct record r;
    (void)state;

    if (!utf8)
        skip(); /* the registry falls back to bytes; nothing to show */
    freelocale(utf8);
    add(p, "^(.)(.)", handler_a);
    add(p,
        "stra\xC3\x9F"
        "e",
        handler_b);
    /* "." is a whole character: the group is valid UTF-8. */
    assert_int_equal(run(p, &r, "\xF0\x9F\x98\x80\xD7\xA9!"), 1);
    assert_string_equal(r.match[1], "\xF0\x9F\x98\x80");
    assert_string_equal(r.match[2], "\xD7\xA9");
    /* Case folding beyond ASCII. */
    assert_int_equal(run(p, &r,
                         "\xC3\x89t\xC3\xA9 STRA\xC3\x9F"
                         "E"),
                     2);
}

static void test_empty_registry_and_body(void **state)
{
    _cleanup_(passive_registry_freep) struct passive_registry *p = registry();
    struct record r;
    (void)state;

    assert_int_equal(run(p, &r, "anything"), 0);
    add(p, "^$", handler_a);
    assert_int_equal(run(p, &r, ""), 1);
    assert_int_equal(run(p, &r, "x"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_groups),
            cmocka_unit_test(test_group_that_took_no_part_is_null),
            cmocka_unit_test(test_at_most_ten_matches),
            cmocka_unit_test(test_order_count_and_errors),
            cmocka_unit_test(test_refused_patterns),
            cmocka_unit_test(test_handler_limit),
            cmocka_unit_test(test_body_bound),
            cmocka_unit_test(test_characters_not_bytes),
            cmocka_unit_test(test_empty_registry_and_body),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
