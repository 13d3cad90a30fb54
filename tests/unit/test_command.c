/* Tests for plugin/command.c: what is a command, and how its name and arguments are cut. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "plugin/command.h"
#include "util/macro.h"

/* body parses as a command with exactly this name and these arguments. */
static void assert_command(const char *body, const char *prefix, const char *name, const char *args)
{
    _cleanup_free_ char *n = NULL, *a = NULL;
    struct command c;
    int r = command_parse(body, prefix, &c);

    if (r != 1)
        fail_msg("\"%s\" with prefix \"%s\": got %d, expected a command", body, prefix, r);
    assert_int_equal(command_dup(&c, &n, &a), 0);
    assert_string_equal(n, name);
    assert_string_equal(a, args);
    /* The pieces point into the body. */
    assert_true(c.name >= body && c.name + c.name_len <= body + strlen(body));
    assert_true(c.args >= body && c.args + c.args_len <= body + strlen(body));
}

static void assert_not_command(const char *body, const char *prefix)
{
    struct command c = {.name = "untouched"};

    if (command_parse(body, prefix, &c) != 0)
        fail_msg("\"%s\" with prefix \"%s\" taken for a command", body, prefix);
    assert_string_equal(c.name, "untouched");
}

static void test_name_and_args(void **state)
{
    (void)state;
    assert_command("!ig ping", "!ig", "ping", "");
    assert_command("!ig echo hello world", "!ig", "echo", "hello world");
    assert_command("!ig   echo    spaced   out  ", "!ig", "echo", "spaced   out");
    assert_command("!ig\techo\ttabbed\t", "!ig", "echo", "tabbed");
    assert_command("!ig echo line one\nline two\n", "!ig", "echo", "line one\nline two");
    assert_command("!ig\necho\r\nx\r\n", "!ig", "echo", "x");
    assert_command("!ig https://www.instagram.com/reel/abc/", "!ig",
                   "https://www.instagram.com/reel/abc/", "");
    /* Names are taken as written; the plugin decides what case means. */
    assert_command("!ig PING", "!ig", "PING", "");
}

static void test_prefix_alone(void **state)
{
    (void)state;
    assert_command("!ig", "!ig", "", "");
    assert_command("!ig   ", "!ig", "", "");
    assert_command("!ig \n\t ", "!ig", "", "");
}

static void test_not_commands(void **state)
{
    (void)state;
    assert_not_command("!igx ping", "!ig"); /* the prefix must end at a blank */
    assert_not_command(" !ig ping", "!ig"); /* and start the body */
    assert_not_command("!IG ping", "!ig");  /* exactly */
    assert_not_command("hello !ig ping", "!ig");
    assert_not_command("", "!ig");
    assert_not_command("!i", "!ig");
    assert_not_command("!ig ping", ""); /* no prefix: no commands */
    assert_not_command("!ig ping", NULL);
    /* A non-ASCII blank is not a separator: U+00A0 after the prefix is part of a word. */
    assert_not_command("!ig\xC2\xA0ping", "!ig");
}

static void test_unicode(void **state)
{
    (void)state;
    /* Multi-byte prefixes, names and arguments pass through whole. */
    assert_command("\xF0\x9F\xA4\x96 echo \xD7\xA9\xD7\x9C\xD7\x95\xD7\x9D \xF0\x9F\x91\x8B",
                   "\xF0\x9F\xA4\x96", "echo", "\xD7\xA9\xD7\x9C\xD7\x95\xD7\x9D \xF0\x9F\x91\x8B");
    assert_command("!b \xC3\xA9"
                   "cho x",
                   "!b",
                   "\xC3\xA9"
                   "cho",
                   "x");
}

static void test_name_bound(void **state)
{
    size_t n = COMMAND_NAME_MAX + 8;
    _cleanup_free_ char *body = malloc(n + 1);
    struct command c;
    (void)state;

    /* "!x " and a name of exactly COMMAND_NAME_MAX bytes: a command. */
    memcpy(body, "!x ", 3);
    memset(body + 3, 'a', COMMAND_NAME_MAX);
    strcpy(body + 3 + COMMAND_NAME_MAX, " z");
    assert_int_equal(command_parse(body, "!x", &c), 1);
    assert_int_equal(c.name_len, COMMAND_NAME_MAX);
    assert_int_equal(c.args_len, 1);

    /* One byte more: refused. */
    memset(body + 3, 'a', COMMAND_NAME_MAX + 1);
    body[3 + COMMAND_NAME_MAX + 1] = '\0';
    assert_int_equal(command_parse(body, "!x", &c), -E2BIG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_name_and_args), cmocka_unit_test(test_prefix_alone),
            cmocka_unit_test(test_not_commands),  cmocka_unit_test(test_unicode),
            cmocka_unit_test(test_name_bound),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
