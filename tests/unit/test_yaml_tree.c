/* Tests for config/yaml_tree.c: the tree's shape and positions, every refusal (duplicate
 * keys, aliases, several documents, tags, NUL, bad UTF-8) and limit, and scalar resolution. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/yaml_tree.h"
#include "util/macro.h"

/* A tree pointer the parser must not touch when it fails. */
static struct yaml_node *const UNTOUCHED = (struct yaml_node *)(uintptr_t)0x5a5a;

static int parse_len(const char *buf, size_t len, struct yaml_node **ret, struct yaml_error *err)
{
    *err = (struct yaml_error){0};
    return yaml_tree_parse(buf, len, ret, err);
}

static int parse(const char *buf, struct yaml_node **ret, struct yaml_error *err)
{
    return parse_len(buf, strlen(buf), ret, err);
}

/* Parsing must fail with r, leave *ret alone, and explain itself at line. */
static void assert_refused(const char *buf, size_t len, int r, unsigned line, const char *words)
{
    struct yaml_node *root = UNTOUCHED;
    struct yaml_error err;

    assert_int_equal(parse_len(buf, len, &root, &err), r);
    assert_ptr_equal(root, UNTOUCHED);
    assert_int_equal(err.line, line);
    if (!strstr(err.message, words))
        fail_msg("message \"%s\" lacks \"%s\"", err.message, words);
}

static void test_shape_and_positions(void **state)
{
    _cleanup_(yaml_node_freep) struct yaml_node *root = NULL;
    struct yaml_error err;
    const struct yaml_node *b, *c;
    (void)state;

    assert_int_equal(parse("a: 1\n"
                           "b:\n"
                           "  - x\n"
                           "  - \"y\"\n"
                           "c: {d: 'e'}\n"
                           "f: |\n"
                           "  block\n",
                           &root, &err),
                     0);
    assert_int_equal(root->kind, YAML_KIND_MAPPING);
    assert_int_equal(root->line, 1);
    assert_int_equal(root->n_children, 4);
    assert_string_equal(root->keys[0], "a");
    assert_string_equal(root->keys[1], "b");
    assert_string_equal(root->keys[2], "c");
    assert_int_equal(root->key_lines[0], 1);
    assert_int_equal(root->key_lines[1], 2);
    assert_int_equal(root->key_lines[2], 5);
    assert_int_equal(root->key_lines[3], 6);

    assert_int_equal(root->children[0]->kind, YAML_KIND_SCALAR);
    assert_string_equal(root->children[0]->value, "1");
    assert_int_equal(root->children[0]->len, 1);
    assert_false(root->children[0]->quoted);
    assert_int_equal(root->children[0]->column, 4);

    b = yaml_map_get(root, "b");
    assert_non_null(b);
    assert_int_equal(b->kind, YAML_KIND_SEQUENCE);
    assert_int_equal(b->n_children, 2);
    assert_null(b->keys);
    assert_int_equal(b->children[0]->line, 3);
    assert_false(b->children[0]->quoted);
    assert_int_equal(b->children[1]->line, 4);
    assert_string_equal(b->children[1]->value, "y");
    assert_true(b->children[1]->quoted);

    c = yaml_map_get(root, "c");
    assert_int_equal(c->kind, YAML_KIND_MAPPING);
    assert_int_equal(c->line, 5);
    assert_int_equal(c->column, 4);
    assert_true(yaml_map_get(c, "d")->quoted);    /* single quotes */
    assert_true(yaml_map_get(root, "f")->quoted); /* a block scalar */
    assert_string_equal(yaml_map_get(root, "f")->value, "block\n");

    assert_null(yaml_map_get(root, "missing"));
    assert_null(yaml_map_get(b, "x")); /* not a mapping */
    assert_null(yaml_map_get(NULL, "a"));
    assert_int_equal(yaml_map_key_line(root, "c"), 5);
    assert_int_equal(yaml_map_key_line(c, "missing"), 5); /* the mapping's own line */
    assert_int_equal(yaml_map_key_line(NULL, "a"), 0);
}

static void test_scalar_and_sequence_roots(void **state)
{
    struct yaml_node *root = NULL;
    struct yaml_error err;
    (void)state;

    assert_int_equal(parse("just text\n", &root, &err), 0);
    assert_int_equal(root->kind, YAML_KIND_SCALAR);
    assert_string_equal(root->value, "just text");
    yaml_node_free(root);

    assert_int_equal(parse("- 1\n- [2, 3]\n- {}\n", &root, &err), 0);
    assert_int_equal(root->kind, YAML_KIND_SEQUENCE);
    assert_int_equal(root->n_children, 3);
    assert_int_equal(root->children[1]->n_children, 2);
    assert_int_equal(root->children[2]->kind, YAML_KIND_MAPPING);
    assert_int_equal(root->children[2]->n_children, 0);
    yaml_node_free(root);

    /* An explicit empty document is a null scalar, not "no document". */
    assert_int_equal(parse("---\n", &root, &err), 0);
    assert_true(yaml_scalar_is_null(root));
    yaml_node_free(root);
    yaml_node_free(NULL);
}

static void test_duplicate_keys_refused(void **state)
{
    static const char twice[] = "a: 1\nb: 2\na: 3\n";
    static const char nested[] = "top:\n  inner: {x: 1, y: 2, x: 3}\n";
    static const char quoted[] = "a: 1\n\"a\": 2\n"; /* the same key however it is written */
    (void)state;

    assert_refused(twice, strlen(twice), -EBADMSG, 3, "duplicate key \"a\"");
    assert_refused(nested, strlen(nested), -EBADMSG, 2, "duplicate key \"x\"");
    assert_refused(quoted, strlen(quoted), -EBADMSG, 2, "duplicate key \"a\"");
}

static void test_same_key_in_different_mappings_accepted(void **state)
{
    _cleanup_(yaml_node_freep) struct yaml_node *root = NULL;
    struct yaml_error err;
    (void)state;

    assert_int_equal(parse("- {id: a, x: 1}\n- {id: a, x: 1}\n", &root, &err), 0);
    assert_int_equal(root->n_children, 2);
    assert_string_equal(root->children[1]->keys[0], "id");
}

static void test_aliases_refused_anchors_accepted(void **state)
{
    _cleanup_(yaml_node_freep) struct yaml_node *root = NULL;
    static const char alias[] = "a: &x 1\nb: *x\n";
    static const char laughs[] = "a: &a [x, x]\nb: &b [*a, *a]\nc: [*b, *b]\n";
    struct yaml_error err;
    (void)state;

    assert_refused(alias, strlen(alias), -EBADMSG, 2, "aliases");
    assert_refused(laughs, strlen(laughs), -EBADMSG, 2, "(alias \"a\")");

    assert_int_equal(parse("a: &x 1\nb: &y {c: 2}\n", &root, &err), 0);
    assert_string_equal(yaml_map_get(root, "a")->value, "1");
    assert_int_equal(yaml_map_get(root, "b")->kind, YAML_KIND_MAPPING);
}

static void test_multiple_documents_refused(void **state)
{
    static const char two[] = "a: 1\n---\nb: 2\n";
    static const char ended[] = "a: 1\n...\n---\nb: 2\n";
    (void)state;

    assert_refused(two, strlen(two), -EBADMSG, 2, "only one YAML document");
    assert_refused(ended, strlen(ended), -EBADMSG, 3, "only one YAML document");
}

/* n nested flow lists: the root is at depth 0, the innermost at n - 1. */
static char *nested_lists(size_t n)
{
    char *s = malloc(2 * n + 2);

    assert_non_null(s);
    memset(s, '[', n);
    memset(s + n, ']', n);
    s[2 * n] = '\n';
    s[2 * n + 1] = '\0';
    return s;
}

static void test_depth_limit(void **state)
{
    _cleanup_free_ char *ok = nested_lists(YAML_TREE_MAX_DEPTH + 1);
    _cleanup_free_ char *deep = nested_lists(YAML_TREE_MAX_DEPTH + 2);
    struct yaml_node *root = NULL;
    struct yaml_error err;
    (void)state;

    assert_int_equal(parse(ok, &root, &err), 0);
    yaml_node_free(root);
    assert_refused(deep, strlen(deep), -E2BIG, 1, "nested too deeply");

    /* Mappings count too: a value one level deeper than its mapping. */
    _cleanup_free_ char *maps = malloc(5 * (YAML_TREE_MAX_DEPTH + 2) + 1);
    size_t o = 0;
    for (unsigned i = 0; i < YAML_TREE_MAX_DEPTH + 2; i++)
        o += (size_t)sprintf(maps + o, "{a: ");
    memset(maps + o, '}', YAML_TREE_MAX_DEPTH + 2);
    maps[o + YAML_TREE_MAX_DEPTH + 2] = '\0';
    assert_refused(maps, strlen(maps), -E2BIG, 1, "nested too deeply");
}

/* A flow list of n > 0 zeros: n + 1 nodes. */
static char *flow_list(size_t n, size_t *ret_len)
{
    char *s = malloc(2 * n + 3);
    size_t o = 0;

    assert_non_null(s);
    s[o++] = '[';
    for (size_t i = 0; i < n; i++) {
        s[o++] = '0';
        s[o++] = ',';
    }
    s[o - 1] = ']';
    s[o++] = '\n';
    s[o] = '\0';
    *ret_len = o;
    return s;
}

static void test_node_limit(void **state)
{
    size_t len_ok, len_big;
    _cleanup_free_ char *ok = flow_list(YAML_TREE_MAX_NODES - 1, &len_ok);
    _cleanup_free_ char *big = flow_list(YAML_TREE_MAX_NODES, &len_big);
    struct yaml_node *root = NULL;
    struct yaml_error err;
    (void)state;

    assert_int_equal(parse_len(ok, len_ok, &root, &err), 0);
    assert_int_equal(root->n_children, YAML_TREE_MAX_NODES - 1);
    yaml_node_free(root);
    assert_refused(big, len_big, -E2BIG, 1, "too many nodes");
}

static void test_scalar_length_limit(void **state)
{
    size_t n = YAML_TREE_MAX_SCALAR + 1;
    _cleanup_free_ char *buf = malloc(n + 8);
    struct yaml_node *root = NULL;
    struct yaml_error err;
    (void)state;

    memcpy(buf, "a: ", 3);
    memset(buf + 3, 'x', n);
    buf[3 + n] = '\n';
    assert_refused(buf, 3 + n + 1, -E2BIG, 1, "scalar too long");

    /* One byte less is exactly the limit. */
    buf[3 + n - 1] = '\n';
    assert_int_equal(parse_len(buf, 3 + n, &root, &err), 0);
    assert_int_equal(yaml_map_get(root, "a")->len, YAML_TREE_MAX_SCALAR);
    yaml_node_free(root);
}

static void test_size_limit(void **state)
{
    size_t n = YAML_TREE_MAX_BYTES + 1;
    _cleanup_free_ char *buf = malloc(n);
    struct yaml_node *root = NULL;
    struct yaml_error err;
    (void)state;

    /* A comment filling the rest: valid YAML of any length. */
    memcpy(buf, "a: 1\n#", 6);
    memset(buf + 6, 'c', n - 6);
    assert_int_equal(parse_len(buf, n, &root, &err), -E2BIG);
    assert_non_null(strstr(err.message, "too large"));
    assert_int_equal(parse_len(buf, n - 1, &root, &err), 0);
    assert_string_equal(yaml_map_get(root, "a")->value, "1");
    yaml_node_free(root);
}

static void test_empty_stream_refused(void **state)
{
    (void)state;
    assert_refused("", 0, -EBADMSG, 0, "no YAML document");
    assert_refused("# only a comment\n\n", 18, -EBADMSG, 0, "no YAML document");
    assert_refused("\n \n", 3, -EBADMSG, 0, "no YAML document");
}

static void test_nul_refused(void **state)
{
    static const char escaped[] = "a: 1\nb: \"x\\0y\"\n";
    static const char raw[] = "a: 1\nb: x\0y\n";
    (void)state;

    /* An escaped NUL reaches the tree and would cut the C string short. */
    assert_refused(escaped, strlen(escaped), -EBADMSG, 2, "NUL");
    /* A raw one is refused by libyaml's reader, with the line counted by us. */
    assert_refused(raw, sizeof(raw) - 1, -EBADMSG, 2, "control characters");
}

static void test_invalid_utf8_refused_with_line(void **state)
{
    static const char bad[] = "a: 1\nb: 2\nc: caf\xff\n";
    static const char overlong[] = "a: 1\nb: \xC0\xAF\n";
    static const char surrogate[] = "# c\n# c\n# c\nk: \"\xED\xA0\x80\"\n";
    static const char truncated[] = "a: \xC3";
    (void)state;

    assert_refused(bad, strlen(bad), -EBADMSG, 3, "not valid UTF-8");
    assert_refused(overlong, strlen(overlong), -EBADMSG, 2, "not valid UTF-8");
    assert_refused(surrogate, strlen(surrogate), -EBADMSG, 4, "not valid UTF-8");
    assert_refused(truncated, strlen(truncated), -EBADMSG, 1, "not valid UTF-8");
}

static void test_syntax_error_has_line(void **state)
{
    static const char bad[] = "a: 1\nb: [1, 2\nc: 3\n";
    static const char tab[] = "a:\n\tb: 1\n";
    static const char key[] = "? [a, b]\n: 1\n";
    (void)state;

    assert_refused(bad, strlen(bad), -EBADMSG, 3, "");
    assert_refused(tab, strlen(tab), -EBADMSG, 2, "");
    assert_refused(key, strlen(key), -EBADMSG, 1, "mapping keys must be plain strings");
}

/* The parser's sentence names the grammar; the hint after it names the mistake: a tab in
 * the indentation, a `#` that began a comment where a flow's value was due (said with the
 * line it is on, which is not the line where the parser gave up), a `!` that began a tag. */
static void test_hints_for_yaml_traps(void **state)
{
    static const char tab_key[] = "a:\n\tb: 1\n";
    static const char tab_item[] = "a:\n  - 1\n\t- 2\n";
    static const char flow[] = "x: 1\nrooms: [#lobby:example.org, \"!r:x\"]\ny: 2\n";
    static const char flow_map[] = "n: {room: #admin:x, sender: a}\n";
    static const char quoted[] = "a: \"[#not a comment\"\nb: [1, 2\n";
    static const char tag[] = "prefix: !ig\nother: !e hello\n";
    struct yaml_error err;
    (void)state;

    assert_refused(tab_key, strlen(tab_key), -EBADMSG, 2,
                   ": tabs are not allowed for indentation (use spaces)");
    assert_refused(tab_item, strlen(tab_item), -EBADMSG, 3,
                   ": tabs are not allowed for indentation (use spaces)");
    assert_refused(flow, strlen(flow), -EBADMSG, 4,
                   ": on line 2, quote it: # starts a YAML comment (write \"#lobby:example.org\")");
    assert_refused(flow_map, strlen(flow_map), -EBADMSG, 2,
                   ": on line 1, quote it: # starts a YAML comment (write \"#admin:x\")");
    assert_refused(tag, strlen(tag), -EBADMSG, 1,
                   "explicit tag \"!ig\" is not allowed; quote it: ! starts a YAML tag "
                   "(write \"!ig\")");
    /* A # inside quotes, and errors of another kind, get no such hint. */
    assert_refused(quoted, strlen(quoted), -EBADMSG, 3, "");
    {
        struct yaml_node *root = NULL;
        assert_int_equal(parse(quoted, &root, &err), -EBADMSG);
        assert_null(strstr(err.message, "comment"));
        assert_null(strstr(err.message, "tab"));
    }
    {
        static const char later[] = "a: 1\nother: !e hello\n";
        struct yaml_node *root = NULL;
        assert_int_equal(parse(later, &root, &err), -EBADMSG);
        assert_non_null(strstr(err.message, "(write \"!e hello\")"));
    }
}

static void test_explicit_tags(void **state)
{
    _cleanup_(yaml_node_freep) struct yaml_node *root = NULL;
    static const char int_tag[] = "a: 1\nb: !!int 5\n";
    static const char local_tag[] = "a: !secret x\n";
    static const char map_tag[] = "a: !!set {x: ~}\n";
    static const char seq_tag[] = "a: !!omap [x]\n";
    struct yaml_error err;
    (void)state;

    assert_refused(int_tag, strlen(int_tag), -EBADMSG, 2, "explicit tag \"tag:yaml.org,2002:int\"");
    assert_refused(local_tag, strlen(local_tag), -EBADMSG, 1, "explicit tag \"!secret\"");
    assert_refused(map_tag, strlen(map_tag), -EBADMSG, 1, "explicit tag");
    assert_refused(seq_tag, strlen(seq_tag), -EBADMSG, 1, "explicit tag");

    /* The core types' own tags cannot contradict the schema. */
    assert_int_equal(parse("a: !!str x\nb: !!map {c: 1}\nd: !!seq [1]\ne: !!str 5\n"
                           "f: !!str\n",
                           &root, &err),
                     0);
    assert_string_equal(yaml_map_get(root, "a")->value, "x");
    assert_int_equal(yaml_map_get(root, "b")->kind, YAML_KIND_MAPPING);
    assert_int_equal(yaml_map_get(root, "d")->kind, YAML_KIND_SEQUENCE);
    /* "!!str 5" is the string "5", and "!!str" alone the empty string, not null. */
    long long i;
    assert_true(yaml_map_get(root, "e")->quoted);
    assert_int_equal(yaml_scalar_int64(yaml_map_get(root, "e"), &i), -EINVAL);
    assert_false(yaml_scalar_is_null(yaml_map_get(root, "f")));
}

static void test_byte_order_mark_skipped(void **state)
{
    _cleanup_(yaml_node_freep) struct yaml_node *root = NULL;
    static const char bad[] = "\xef\xbb\xbf"
                              "a: 1\nb: \xff\n";
    struct yaml_error err;
    (void)state;

    assert_int_equal(parse("\xef\xbb\xbf"
                           "a: 1\n",
                           &root, &err),
                     0);
    assert_int_equal(root->n_children, 1);
    assert_string_equal(root->keys[0], "a"); /* not "\xef\xbb\xbf" "a" */
    assert_int_equal(root->line, 1);
    /* Lines are still counted right after it. */
    assert_refused(bad, strlen(bad), -EBADMSG, 2, "not valid UTF-8");
}

/* A scalar node as the parser would build it. */
static struct yaml_node scalar(const char *s, bool quoted)
{
    return (struct yaml_node){.kind = YAML_KIND_SCALAR,
                              .line = 1,
                              .column = 1,
                              .value = (char *)s,
                              .len = strlen(s),
                              .quoted = quoted};
}

static void assert_int_resolves(const char *s, long long want)
{
    struct yaml_node n = scalar(s, false);
    long long v = 12345;

    if (yaml_scalar_int64(&n, &v) != 0)
        fail_msg("\"%s\" did not resolve to an integer", s);
    assert_int_equal(v, want);
}

static void assert_int_refused(const char *s, int r)
{
    struct yaml_node n = scalar(s, false);
    long long v = 12345;

    if (yaml_scalar_int64(&n, &v) != r)
        fail_msg("\"%s\" was not refused with %d", s, r);
    assert_int_equal(v, 12345);
}

static void test_int64_resolution(void **state)
{
    struct yaml_node q = scalar("5", true), map = {.kind = YAML_KIND_MAPPING};
    long long v = 12345;
    (void)state;

    assert_int_resolves("0", 0);
    assert_int_resolves("-0", 0);
    assert_int_resolves("+5", 5);
    assert_int_resolves("-17", -17);
    assert_int_resolves("29316", 29316);
    assert_int_resolves("9223372036854775807", INT64_MAX);
    assert_int_resolves("-9223372036854775808", INT64_MIN);

    assert_int_refused("9223372036854775808", -ERANGE);
    assert_int_refused("-9223372036854775809", -ERANGE);
    assert_int_refused("99999999999999999999999", -ERANGE);

    /* Leading zeros would be octal to libcyaml: refused rather than misread. */
    assert_int_refused("00", -EINVAL);
    assert_int_refused("007", -EINVAL);
    assert_int_refused("-01", -EINVAL);
    assert_int_refused("+00", -EINVAL);
    /* Only plain decimal digits. */
    assert_int_refused("", -EINVAL);
    assert_int_refused("+", -EINVAL);
    assert_int_refused("-", -EINVAL);
    assert_int_refused("--1", -EINVAL);
    assert_int_refused("+-1", -EINVAL);
    assert_int_refused("0x10", -EINVAL);
    assert_int_refused("0o17", -EINVAL);
    assert_int_refused("1_000", -EINVAL);
    assert_int_refused("1e3", -EINVAL);
    assert_int_refused("1.0", -EINVAL);
    assert_int_refused(" 1", -EINVAL);
    assert_int_refused("1 ", -EINVAL);
    assert_int_refused("12abc", -EINVAL);

    assert_int_equal(yaml_scalar_int64(&q, &v), -EINVAL); /* "5" is a string */
    assert_int_equal(yaml_scalar_int64(&map, &v), -EINVAL);
    assert_int_equal(yaml_scalar_int64(NULL, &v), -EINVAL);
    assert_int_equal(v, 12345);
}

static void test_bool_resolution(void **state)
{
    static const char *const truthy[] = {"true", "True", "TRUE"};
    static const char *const falsy[] = {"false", "False", "FALSE"};
    static const char *const neither[] = {"yes", "no",   "on",    "off", "y", "n",    "1",
                                          "0",   "tRuE", "fAlse", "",    "~", "truex"};
    struct yaml_node map = {.kind = YAML_KIND_MAPPING};
    bool b;
    (void)state;

    for (size_t i = 0; i < ELEMENTSOF(truthy); i++) {
        struct yaml_node n = scalar(truthy[i], false);
        b = false;
        assert_int_equal(yaml_scalar_bool(&n, &b), 0);
        assert_true(b);
    }
    for (size_t i = 0; i < ELEMENTSOF(falsy); i++) {
        struct yaml_node n = scalar(falsy[i], false);
        b = true;
        assert_int_equal(yaml_scalar_bool(&n, &b), 0);
        assert_false(b);
    }
    for (size_t i = 0; i < ELEMENTSOF(neither); i++) {
        struct yaml_node n = scalar(neither[i], false);
        b = true;
        if (yaml_scalar_bool(&n, &b) != -EINVAL)
            fail_msg("\"%s\" resolved to a boolean", neither[i]);
        assert_true(b);
    }
    /* Quoted, "true" is the string of four letters. */
    struct yaml_node quoted = scalar("true", true);
    assert_int_equal(yaml_scalar_bool(&quoted, &b), -EINVAL);
    assert_int_equal(yaml_scalar_bool(&map, &b), -EINVAL);
    assert_int_equal(yaml_scalar_bool(NULL, &b), -EINVAL);
}

static void test_bool_through_the_parser(void **state)
{
    _cleanup_(yaml_node_freep) struct yaml_node *root = NULL;
    struct yaml_error err;
    bool b = false;
    (void)state;

    assert_int_equal(parse("a: true\nb: \"true\"\nc: 'false'\nd: yes\n", &root, &err), 0);
    assert_int_equal(yaml_scalar_bool(yaml_map_get(root, "a"), &b), 0);
    assert_true(b);
    assert_int_equal(yaml_scalar_bool(yaml_map_get(root, "b"), &b), -EINVAL);
    assert_int_equal(yaml_scalar_bool(yaml_map_get(root, "c"), &b), -EINVAL);
    assert_int_equal(yaml_scalar_bool(yaml_map_get(root, "d"), &b), -EINVAL);
}

static void test_double_resolution(void **state)
{
    static const struct {
        const char *s;
        double v;
    } ok[] = {
            {"1.5", 1.5}, {"-2.5e3", -2500.0}, {"1e5", 1e5},   {"0", 0.0},
            {".5", 0.5},  {"+3.25", 3.25},     {"7", 7.0},     {"1E-2", 0.01},
            {"-0", 0.0},  {"0.75", 0.75},      {"1e2", 100.0},
    };
    static const char *const bad[] = {"",     ".",     "-",   "e5",   "1e999", "-1e999", "nan",
                                      ".inf", "-.inf", "inf", "1.5x", "1,5",   "0x1p3",  "1.2.3",
                                      " 1",   "1e",    "1e+", "0755", "-007",  "00",     "+-1"};
    double v;
    (void)state;

    for (size_t i = 0; i < ELEMENTSOF(ok); i++) {
        struct yaml_node n = scalar(ok[i].s, false);
        v = -1;
        if (yaml_scalar_double(&n, &v) != 0)
            fail_msg("\"%s\" did not resolve to a number", ok[i].s);
        assert_true(v == ok[i].v);
    }
    for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
        struct yaml_node n = scalar(bad[i], false);
        v = -1;
        if (yaml_scalar_double(&n, &v) != -EINVAL)
            fail_msg("\"%s\" resolved to a number", bad[i]);
        assert_true(v == -1);
    }
    struct yaml_node quoted = scalar("1.5", true);
    assert_int_equal(yaml_scalar_double(&quoted, &v), -EINVAL);
}

static void test_null_resolution(void **state)
{
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL"};
    static const char *const not_null[] = {"nUll", "nil", "None", "0", "~~", "null "};
    struct yaml_node map = {.kind = YAML_KIND_MAPPING};
    (void)state;

    for (size_t i = 0; i < ELEMENTSOF(nulls); i++) {
        struct yaml_node n = scalar(nulls[i], false);
        assert_true(yaml_scalar_is_null(&n));
        n.quoted = true; /* "" and "null" quoted are strings */
        assert_false(yaml_scalar_is_null(&n));
    }
    for (size_t i = 0; i < ELEMENTSOF(not_null); i++) {
        struct yaml_node n = scalar(not_null[i], false);
        assert_false(yaml_scalar_is_null(&n));
    }
    assert_false(yaml_scalar_is_null(&map));
    assert_false(yaml_scalar_is_null(NULL));
}

static void test_null_through_the_parser(void **state)
{
    _cleanup_(yaml_node_freep) struct yaml_node *root = NULL;
    struct yaml_error err;
    (void)state;

    assert_int_equal(parse("a:\nb: ~\nc: \"\"\nd: 'null'\n", &root, &err), 0);
    assert_true(yaml_scalar_is_null(yaml_map_get(root, "a")));
    assert_true(yaml_scalar_is_null(yaml_map_get(root, "b")));
    assert_false(yaml_scalar_is_null(yaml_map_get(root, "c")));
    assert_false(yaml_scalar_is_null(yaml_map_get(root, "d")));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_shape_and_positions),
            cmocka_unit_test(test_scalar_and_sequence_roots),
            cmocka_unit_test(test_duplicate_keys_refused),
            cmocka_unit_test(test_same_key_in_different_mappings_accepted),
            cmocka_unit_test(test_aliases_refused_anchors_accepted),
            cmocka_unit_test(test_multiple_documents_refused),
            cmocka_unit_test(test_depth_limit),
            cmocka_unit_test(test_node_limit),
            cmocka_unit_test(test_scalar_length_limit),
            cmocka_unit_test(test_size_limit),
            cmocka_unit_test(test_empty_stream_refused),
            cmocka_unit_test(test_nul_refused),
            cmocka_unit_test(test_invalid_utf8_refused_with_line),
            cmocka_unit_test(test_syntax_error_has_line),
            cmocka_unit_test(test_hints_for_yaml_traps),
            cmocka_unit_test(test_explicit_tags),
            cmocka_unit_test(test_byte_order_mark_skipped),
            cmocka_unit_test(test_int64_resolution),
            cmocka_unit_test(test_bool_resolution),
            cmocka_unit_test(test_bool_through_the_parser),
            cmocka_unit_test(test_double_resolution),
            cmocka_unit_test(test_null_resolution),
            cmocka_unit_test(test_null_through_the_parser),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
