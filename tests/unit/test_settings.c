/* Tests for config/settings.c: an instance's settings against its plugin's config_schema,
 * every keyword of the subset, errors with their key path and line, defaults filled in, and
 * the schemas that are refused because the checker cannot apply them. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/settings.h"
#include "util/macro.h"

static const char schema[] =
        "{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"token_name\"],"
        "\"properties\":{"
        "\"max_file_size\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":2000000000,"
        "\"default\":50000000},"
        "\"caption\":{\"type\":\"boolean\",\"default\":true},"
        "\"quality\":{\"enum\":[\"best\",\"720\",480]},"
        "\"ratio\":{\"type\":\"number\"},"
        "\"token_name\":{\"type\":\"string\",\"minLength\":2,\"maxLength\":5,"
        "\"pattern\":\"^[a-z]+$\"},"
        "\"extra_hosts\":{\"type\":\"array\",\"items\":{\"type\":\"string\","
        "\"pattern\":\"^[a-z0-9.-]+(:[0-9]+)?$\"},\"default\":[]},"
        "\"nested\":{\"type\":\"object\",\"properties\":{\"depth\":{\"type\":\"integer\","
        "\"default\":3}}},"
        "\"maybe\":{\"type\":[\"string\",\"null\"]}}}";

struct result {
    struct diag_list d;
    char *json;
    int r;
};

static struct result check(const char *yaml, const char *with_schema)
{
    struct yaml_node *root = NULL;
    struct yaml_error err = {0};
    struct diag_path path = {0};
    struct result res = {0};

    assert_int_equal(yaml_tree_parse(yaml, strlen(yaml), &root, &err), 0);
    diag_path_push_key(&path, "config");
    res.r = settings_check(yaml_map_get(root, "config"), with_schema, &res.d, &path, &res.json);
    yaml_node_free(root);
    return res;
}

static void done(struct result *r)
{
    diag_list_done(&r->d);
    free(r->json);
}

/* Exactly one diagnostic per expected (path, line, words) and no other. */
static void assert_errors(const struct result *r, const char *const *want, size_t n)
{
    if (r->d.n != n) {
        for (size_t i = 0; i < r->d.n; i++)
            fprintf(stderr, "got: %s: %s (line %u)\n", r->d.items[i].path, r->d.items[i].message,
                    r->d.items[i].line);
        fail_msg("%zu diagnostics, expected %zu", r->d.n, n);
    }
    for (size_t i = 0; i < n; i++) {
        char line[600];
        bool found = false;
        for (size_t k = 0; k < r->d.n && !found; k++) {
            snprintf(line, sizeof(line), "%s: %s (line %u)", r->d.items[k].path,
                     r->d.items[k].message, r->d.items[k].line);
            found = strstr(line, want[i]) != NULL;
        }
        if (!found)
            fail_msg("no diagnostic holds \"%s\"", want[i]);
    }
}

static void test_valid_settings_get_their_defaults(void **state)
{
    struct result r = check("config:\n  token_name: abc\n  quality: 480\n  nested: {}\n", schema);
    (void)state;

    assert_int_equal(r.r, 0);
    assert_int_equal(r.d.n, 0);
    assert_string_equal(r.json, "{\"token_name\":\"abc\",\"quality\":480,\"nested\":{\"depth\":3},"
                                "\"max_file_size\":50000000,\"caption\":true,\"extra_hosts\":[]}");
    done(&r);
}

static void test_every_keyword_reports_with_path_and_line(void **state)
{
    static const char *const want[] = {
            "config.max_file_size: \"big\" is not an integer (line 2)",
            "config.caption: 1 is not a boolean (line 3)",
            "config.quality: \"worst\" is not one of [\"best\",\"720\",480] (line 4)",
            "config.ratio: \"half\" is not a number (line 5)",
            "config.token_name: \"TOOLONG1\" is longer than 5 characters (line 6)",
            "config.token_name: \"TOOLONG1\" does not match the pattern \"^[a-z]+$\" (line 6)",
            "config.extra_hosts[1]: \"bad host\" does not match the pattern",
            "config.nested.depth: -1.5 is not an integer (line 8)",
            "config.surprise: is not a setting of this plugin (line 9)",
            "config.maybe: 7 is not a string or null (line 10)",
    };
    struct result r = check("config:\n"
                            "  max_file_size: big\n"
                            "  caption: 1\n"
                            "  quality: worst\n"
                            "  ratio: half\n"
                            "  token_name: TOOLONG1\n"
                            "  extra_hosts: [ok.example, bad host]\n"
                            "  nested: {depth: -1.5}\n"
                            "  surprise: yes\n"
                            "  maybe: 7\n",
                            schema);
    (void)state;

    assert_int_equal(r.r, -EINVAL);
    assert_errors(&r, want, ELEMENTSOF(want));
    done(&r);
}

static void test_bounds_required_and_quoting(void **state)
{
    static const char *const want[] = {
            "config.max_file_size: 0 is less than the minimum, 1 (line 2)",
            "config: the setting \"token_name\" is required (line 2)",
    };
    static const char *const short_want[] = {"config.token_name: \"a\" is shorter than 2 characters"};
    struct result r = check("config:\n  max_file_size: 0\n", schema);
    (void)state;

    assert_errors(&r, want, ELEMENTSOF(want));
    done(&r);
    r = check("config:\n  token_name: a\n", schema);
    assert_errors(&r, short_want, 1);
    done(&r);
    /* A quoted number is a string: "720" is in the enum, quoted 480 is not. */
    r = check("config:\n  token_name: ab\n  quality: '720'\n", schema);
    assert_int_equal(r.d.n, 0);
    done(&r);
    r = check("config:\n  token_name: ab\n  quality: '480'\n", schema);
    assert_int_equal(r.d.n, 1);
    done(&r);
}

static void test_no_settings_and_no_schema(void **state)
{
    static const char *const want[] = {"config: the setting \"token_name\" is required"};
    struct result r = check("other: 1\n", schema);
    (void)state;

    assert_errors(&r, want, 1);
    done(&r);
    r = check("config:\n  anything: [1, {b: c}]\n", NULL);
    assert_int_equal(r.r, 0);
    assert_string_equal(r.json, "{\"anything\":[1,{\"b\":\"c\"}]}");
    done(&r);
    r = check("config: ~\n", "{\"properties\":{\"a\":{\"default\":{\"x\":1}}}}");
    assert_int_equal(r.r, 0);
    assert_string_equal(r.json, "{\"a\":{\"x\":1}}");
    done(&r);
}

static void test_schemas_the_checker_cannot_apply(void **state)
{
    static const struct {
        const char *schema;
        const char *words;
    } bad[] = {
            {"[]", "must be a mapping"},
            {"{\"type\":\"float\"}", "type \"float\" is not one of"},
            {"{\"oneOf\":[]}", "\"oneOf\" is not a keyword"},
            {"{\"properties\":{\"a\":{\"pattern\":\"(\"}}}", "not a POSIX extended regular"},
            {"{\"items\":{\"$ref\":\"#\"}}", "\"$ref\" is not a keyword"},
    };
    char why[256];
    (void)state;

    assert_int_equal(settings_schema_check(schema, why, sizeof(why)), 0);
    for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
        why[0] = '\0';
        assert_true(settings_schema_check(bad[i].schema, why, sizeof(why)) < 0);
        if (!strstr(why, bad[i].words))
            fail_msg("%s: \"%s\" lacks \"%s\"", bad[i].schema, why, bad[i].words);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_valid_settings_get_their_defaults),
            cmocka_unit_test(test_every_keyword_reports_with_path_and_line),
            cmocka_unit_test(test_bounds_required_and_quoting),
            cmocka_unit_test(test_no_settings_and_no_schema),
            cmocka_unit_test(test_schemas_the_checker_cannot_apply),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
