/* Tests for config/matrix_ids.c: server names, the seed's user id rule, room ids of both
 * generations, address classes for the loopback rules, and the strict homeserver URL. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "config/matrix_ids.h"
#include "util/macro.h"

/* s repeated to exactly n bytes (n < cap). */
static char *repeat(char *buf, size_t cap, char c, size_t n)
{
    assert_true(n < cap);
    memset(buf, c, n);
    buf[n] = '\0';
    return buf;
}

static void test_server_names_valid(void **state)
{
    static const char *const ok[] = {
            "clarun.xyz", "matrix.org:8448",       "localhost",        "a",
            "MATRIX.org", "a-b.c-d.example",       "1.2.3.4",          "1.2.3.4:80",
            "[::1]",      "[2001:db8::1]:8448",    "[::ffff:1.2.3.4]", "host:1",
            "host:65535", "xn--bcher-kva.example",
    };
    (void)state;

    for (size_t i = 0; i < ELEMENTSOF(ok); i++)
        if (!matrix_server_name_is_valid(ok[i]))
            fail_msg("\"%s\" was refused", ok[i]);
}

static void test_server_names_invalid(void **state)
{
    static const char *const bad[] = {
            "",           ".",        "a..b",       ".a",          "a.",
            "a b",        "a_b.org",  "a/b",        "a@b",         "caf\xC3\xA9.org",
            "host:",      "host:0",   "host:65536", "host:123456", "host:8a",
            "host:-1",    "host::80", ":80",        "[::1",        "[::1]:",
            "[::1]x",     "[::1]:0",  "[not-ip]",   "[1.2.3.4]",   "[]",
            "host:80:80",
    };
    (void)state;

    for (size_t i = 0; i < ELEMENTSOF(bad); i++)
        if (matrix_server_name_is_valid(bad[i]))
            fail_msg("\"%s\" was accepted", bad[i]);
}

static void test_server_name_label_and_total_length(void **state)
{
    char label[80], name[400];
    (void)state;

    /* A DNS label holds at most 63 bytes. */
    snprintf(name, sizeof(name), "%s.org", repeat(label, sizeof(label), 'a', 63));
    assert_true(matrix_server_name_is_valid(name));
    snprintf(name, sizeof(name), "%s.org", repeat(label, sizeof(label), 'a', 64));
    assert_false(matrix_server_name_is_valid(name));
    snprintf(name, sizeof(name), "%s:8448", repeat(label, sizeof(label), 'a', 64));
    assert_false(matrix_server_name_is_valid(name));

    /* Labels of legal size, but far too long a name. */
    repeat(label, sizeof(label), 'b', 60);
    snprintf(name, sizeof(name), "%s.%s.%s.%s.%s", label, label, label, label, label);
    assert_false(matrix_server_name_is_valid(name));
    snprintf(name, sizeof(name), "%s.%s.%s", label, label, label);
    assert_true(matrix_server_name_is_valid(name));
}

static void test_user_ids(void **state)
{
    char id[600], local[300];
    (void)state;

    assert_true(matrix_user_id_is_valid("@echo:clarun.xyz", "clarun.xyz"));
    assert_true(matrix_user_id_is_valid("@instagram-bot-1:clarun.xyz", "clarun.xyz"));
    assert_true(matrix_user_id_is_valid("@0:clarun.xyz", "clarun.xyz"));
    assert_true(matrix_user_id_is_valid("@bot:clarun.xyz:8448", "clarun.xyz:8448"));
    assert_true(matrix_user_id_is_valid("@bot:[::1]:8008", "[::1]:8008"));

    /* The seed's rule for bot accounts: lowercase letters, digits and '-'. */
    assert_false(matrix_user_id_is_valid("@Bot:clarun.xyz", "clarun.xyz"));
    assert_false(matrix_user_id_is_valid("@BOT:clarun.xyz", "clarun.xyz"));
    assert_false(matrix_user_id_is_valid("@my_bot:clarun.xyz", "clarun.xyz"));
    assert_false(matrix_user_id_is_valid("@my.bot:clarun.xyz", "clarun.xyz"));
    assert_false(matrix_user_id_is_valid("@my=bot:clarun.xyz", "clarun.xyz"));
    assert_false(matrix_user_id_is_valid("@my bot:clarun.xyz", "clarun.xyz"));
    assert_false(matrix_user_id_is_valid("@b\xC3\xB6t:clarun.xyz", "clarun.xyz"));
    /* The server part is exactly the configured one. */
    assert_false(matrix_user_id_is_valid("@bot:matrix.org", "clarun.xyz"));
    assert_false(matrix_user_id_is_valid("@bot:CLARUN.XYZ", "clarun.xyz"));
    assert_false(matrix_user_id_is_valid("@bot:clarun.xyz:8448", "clarun.xyz"));
    assert_false(matrix_user_id_is_valid("@bot:clarun.xyz", "clarun.xyz:8448"));
    assert_false(matrix_user_id_is_valid("@bot:clarun.xyz.", "clarun.xyz"));
    assert_false(matrix_user_id_is_valid("@bot:", "clarun.xyz"));
    /* Shape. */
    assert_false(matrix_user_id_is_valid("@:clarun.xyz", "clarun.xyz"));
    assert_false(matrix_user_id_is_valid("bot:clarun.xyz", "clarun.xyz"));
    assert_false(matrix_user_id_is_valid("!bot:clarun.xyz", "clarun.xyz"));
    assert_false(matrix_user_id_is_valid("@bot", "clarun.xyz"));
    assert_false(matrix_user_id_is_valid("", "clarun.xyz"));
    assert_false(matrix_user_id_is_valid("@", "clarun.xyz"));

    /* 255 bytes in all is the spec's cap. */
    repeat(local, sizeof(local), 'a', MATRIX_ID_MAX - strlen("@:clarun.xyz"));
    snprintf(id, sizeof(id), "@%s:clarun.xyz", local);
    assert_int_equal(strlen(id), MATRIX_ID_MAX);
    assert_true(matrix_user_id_is_valid(id, "clarun.xyz"));
    repeat(local, sizeof(local), 'a', MATRIX_ID_MAX + 1 - strlen("@:clarun.xyz"));
    snprintf(id, sizeof(id), "@%s:clarun.xyz", local);
    assert_false(matrix_user_id_is_valid(id, "clarun.xyz"));
}

static void test_room_ids(void **state)
{
    static const char *const ok[] = {
            "!abc123def:clarun.xyz",
            "!abc:matrix.org:8448",
            "!abc:[::1]",
            "!AbC-._~=+/xyz:clarun.xyz", /* opaque: any printable ASCII but ':' */
            "!31hneApxJ_1o-63DmFrpeqnkFfWppnzWso1JvH3ogLM", /* room version 12 */
    };
    static const char *const bad[] = {
            "",
            "!",
            "abc:clarun.xyz",
            "#alias:clarun.xyz",
            "@user:clarun.xyz",
            "!:clarun.xyz",
            "!abc:",
            "!abc",
            "!abc:bad server",
            "!abc:bad_server",
            "! abc:clarun.xyz",
            "!a b:clarun.xyz",
            "!ab\tc:clarun.xyz",
            "!a\x7f:clarun.xyz",
            "!caf\xC3\xA9:clarun.xyz",
            "!31hneApxJ_1o-63DmFrpeqnkFfWppnzWso1JvH3ogL",   /* 42 characters */
            "!31hneApxJ_1o-63DmFrpeqnkFfWppnzWso1JvH3ogLMx", /* 44 */
            "!31hneApxJ+1o/63DmFrpeqnkFfWppnzWso1JvH3ogLM",  /* base64, not base64url */
            "!31hneApxJ_1o-63DmFrpeqnkFfWppnzWso1JvH3og=M",  /* padding */
    };
    char id[600], opaque[300];
    (void)state;

    for (size_t i = 0; i < ELEMENTSOF(ok); i++)
        if (!matrix_room_id_is_valid(ok[i]))
            fail_msg("\"%s\" was refused", ok[i]);
    for (size_t i = 0; i < ELEMENTSOF(bad); i++)
        if (matrix_room_id_is_valid(bad[i]))
            fail_msg("\"%s\" was accepted", bad[i]);

    repeat(opaque, sizeof(opaque), 'r', MATRIX_ID_MAX - strlen("!:clarun.xyz"));
    snprintf(id, sizeof(id), "!%s:clarun.xyz", opaque);
    assert_true(matrix_room_id_is_valid(id));
    repeat(opaque, sizeof(opaque), 'r', MATRIX_ID_MAX + 1 - strlen("!:clarun.xyz"));
    snprintf(id, sizeof(id), "!%s:clarun.xyz", opaque);
    assert_false(matrix_room_id_is_valid(id));
}

static void test_room_alias(void **state)
{
    static const char *const ok[] = {
            "#family:clarun.xyz", "#a:b", "#x_y.z-0=1:example.org:8448", "#caf\xc3\xa9:clarun.xyz",
            "#room:[::1]",        "#!:clarun.xyz",
    };
    static const char *const bad[] = {
            "#:clarun.xyz", "#family", "family:clarun.xyz", "!family:clarun.xyz", "#fam ily:c.xyz",
            "#fam\tily:c.xyz", "#fam\x7f:c.xyz", "#family:", "#family:bad_host", "", "#",
    };
    char alias[600], local[300];
    (void)state;

    for (size_t i = 0; i < ELEMENTSOF(ok); i++)
        if (!matrix_room_alias_is_valid(ok[i]))
            fail_msg("\"%s\" was refused", ok[i]);
    for (size_t i = 0; i < ELEMENTSOF(bad); i++)
        if (matrix_room_alias_is_valid(bad[i]))
            fail_msg("\"%s\" was accepted", bad[i]);
    repeat(local, sizeof(local), 'a', MATRIX_ID_MAX - strlen("#:clarun.xyz"));
    snprintf(alias, sizeof(alias), "#%s:clarun.xyz", local);
    assert_true(matrix_room_alias_is_valid(alias));
    repeat(local, sizeof(local), 'a', MATRIX_ID_MAX + 1 - strlen("#:clarun.xyz"));
    snprintf(alias, sizeof(alias), "#%s:clarun.xyz", local);
    assert_false(matrix_room_alias_is_valid(alias));
}

static void test_addr_classify(void **state)
{
    static const struct {
        const char *host;
        enum addr_class want;
    } cases[] = {
            {"127.0.0.1", ADDR_LOOPBACK},
            {"127.1.2.3", ADDR_LOOPBACK},
            {"127.255.255.254", ADDR_LOOPBACK},
            {"::1", ADDR_LOOPBACK},
            {"[::1]", ADDR_LOOPBACK},
            {"0:0:0:0:0:0:0:1", ADDR_LOOPBACK},
            {"[0000::0001]", ADDR_LOOPBACK},
            {"localhost", ADDR_LOCALHOST},
            {"LOCALHOST.", ADDR_LOCALHOST},
            {"LocalHost", ADDR_LOCALHOST},
            {"localhost.", ADDR_LOCALHOST},
            {"10.0.0.1", ADDR_OTHER_IP},
            {"0.0.0.0", ADDR_OTHER_IP},
            {"128.0.0.1", ADDR_OTHER_IP},
            {"126.255.255.255", ADDR_OTHER_IP},
            {"192.168.1.1", ADDR_OTHER_IP},
            {"::", ADDR_OTHER_IP},
            {"[2001:db8::1]", ADDR_OTHER_IP},
            {"fe80::1", ADDR_OTHER_IP},
            {"example.org", ADDR_INVALID},
            {"localhost.localdomain", ADDR_INVALID},
            {"ip6-localhost", ADDR_INVALID},
            {"", ADDR_INVALID},
            {"127.1", ADDR_INVALID}, /* inet_aton would take it; a URL reader may not */
            {"127.0.0.1.", ADDR_INVALID},
            {"127.0.0.256", ADDR_INVALID},
            {"[127.0.0.1]", ADDR_INVALID},
            {"[::1", ADDR_INVALID},
            {"::1]", ADDR_INVALID},
            {"[]", ADDR_INVALID},
            {" 127.0.0.1", ADDR_INVALID},
    };
    (void)state;

    for (size_t i = 0; i < ELEMENTSOF(cases); i++)
        if (addr_classify(cases[i].host) != cases[i].want)
            fail_msg("\"%s\" classified %d, expected %d", cases[i].host,
                     addr_classify(cases[i].host), cases[i].want);
}

static void assert_url(const char *url, bool https, const char *host, unsigned port)
{
    struct http_url u;
    const char *why = NULL;

    if (http_url_parse(url, &u, &why) != 0)
        fail_msg("\"%s\" refused: %s", url, why);
    assert_int_equal(u.https, https);
    assert_string_equal(u.host, host);
    assert_int_equal(u.port, port);
}

/* Refused with a reason containing words, and *ret left alone. */
static void assert_url_refused(const char *url, const char *words)
{
    struct http_url u = {.port = 4242};
    const char *why = NULL;

    if (http_url_parse(url, &u, &why) != -EINVAL)
        fail_msg("\"%s\" accepted", url);
    assert_non_null(why);
    if (!strstr(why, words))
        fail_msg("\"%s\": reason \"%s\" lacks \"%s\"", url, why, words);
    assert_int_equal(u.port, 4242);
    assert_string_equal(u.host, "");
}

static void test_http_url_parse(void **state)
{
    (void)state;

    assert_url("http://127.0.0.1:6167", false, "127.0.0.1", 6167);
    assert_url("http://127.0.0.1:6167/", false, "127.0.0.1", 6167);
    assert_url("http://127.0.0.1", false, "127.0.0.1", 80);
    assert_url("https://matrix.example.org", true, "matrix.example.org", 443);
    assert_url("https://matrix.example.org:8448/", true, "matrix.example.org", 8448);
    assert_url("http://[::1]:8008", false, "[::1]", 8008);
    assert_url("https://[2001:db8::1]", true, "[2001:db8::1]", 443);
    assert_url("http://x:1", false, "x", 1);
    assert_url("http://x:65535", false, "x", 65535);

    assert_url_refused("ftp://x", "http:// or https://");
    assert_url_refused("127.0.0.1:6167", "http:// or https://");
    assert_url_refused("//127.0.0.1", "http:// or https://");
    assert_url_refused("", "http:// or https://");
    assert_url_refused("http:/x", "http:// or https://");
    assert_url_refused("http://x:0", "port");
    assert_url_refused("http://x:65536", "port");
    assert_url_refused("http://x:99999999", "port");
    assert_url_refused("http://x:", "port");
    assert_url_refused("http://x:-1", "port");
    assert_url_refused("http://user@127.0.0.1", "user information");
    assert_url_refused("http://user:secret@127.0.0.1:6167", "user information");
    assert_url_refused("http://127.0.0.1/x@y", "user information");
    assert_url_refused("http://127.0.0.1:6167/_matrix", "path");
    assert_url_refused("http://127.0.0.1//", "path");
    assert_url_refused("http://127.0.0.1?a=b", "path, query or fragment");
    assert_url_refused("http://127.0.0.1/?a=b", "path, query or fragment");
    assert_url_refused("http://127.0.0.1#frag", "path, query or fragment");
    assert_url_refused("http://127.0.0.1:80x", "path, query or fragment");
    assert_url_refused("http://", "no host");
    assert_url_refused("http://:80", "no host");
    assert_url_refused("http:///", "no host");
    assert_url_refused("http://[::1", "unterminated");
}

static void test_http_url_host_length(void **state)
{
    char host[300], url[400];
    struct http_url u;
    const char *why = NULL;
    (void)state;

    /* The host buffer holds 255 bytes and its NUL; a longer host is refused, not cut. */
    snprintf(url, sizeof(url), "http://%s", repeat(host, sizeof(host), 'h', 255));
    assert_int_equal(http_url_parse(url, &u, &why), 0);
    assert_int_equal(strlen(u.host), 255);
    snprintf(url, sizeof(url), "http://%s", repeat(host, sizeof(host), 'h', 256));
    assert_int_equal(http_url_parse(url, &u, &why), -EINVAL);
}

static void test_http_host_names(void **state)
{
    static const char *const ok[] = {"matrix.example.org", "localhost",          "a",
                                     "xn--bcher-kva.de",   "Matrix.Example.ORG", "1.2.3.4"};
    static const char *const bad[] = {"",    "ho st", "h_st.org", "a..b", ".a",
                                      "a.",  "[::1]", "::1",      "a:80", "caf\xC3\xA9.org",
                                      "a/b", "a@b"};
    (void)state;

    for (size_t i = 0; i < ELEMENTSOF(ok); i++)
        if (!http_host_is_valid(ok[i]))
            fail_msg("\"%s\" refused", ok[i]);
    for (size_t i = 0; i < ELEMENTSOF(bad); i++)
        if (http_host_is_valid(bad[i]))
            fail_msg("\"%s\" accepted", bad[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_server_names_valid),
            cmocka_unit_test(test_server_names_invalid),
            cmocka_unit_test(test_server_name_label_and_total_length),
            cmocka_unit_test(test_user_ids),
            cmocka_unit_test(test_room_ids),
            cmocka_unit_test(test_room_alias),
            cmocka_unit_test(test_addr_classify),
            cmocka_unit_test(test_http_url_parse),
            cmocka_unit_test(test_http_url_host_length),
            cmocka_unit_test(test_http_host_names),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
