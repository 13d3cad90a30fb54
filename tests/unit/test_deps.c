/* Tests for plugin/deps.c: dependency specs, version comparison, and the check itself against
 * small programs made here on PATH (one answers --version, one prints no version, one
 * hangs, one is not executable). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fixture_dirs.h"
#include "plugin/deps.h"

static char dir[] = "/tmp/test-deps-XXXXXX";
static char *old_path;

static void tool(const char *name, const char *script, mode_t mode)
{
    char path[512];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "we");
    assert_non_null(f);
    fprintf(f, "#!/bin/sh\n%s\n", script);
    fclose(f);
    assert_int_equal(chmod(path, mode), 0);
}

static int setup(void **state)
{
    char path[4096];
    (void)state;
    if (!mkdtemp(dir))
        return -1;
    old_path = getenv("PATH") ? strdup(getenv("PATH")) : NULL;
    snprintf(path, sizeof(path), "%s:%s", dir, old_path ? old_path : "/usr/bin:/bin");
    return setenv("PATH", path, 1);
}

static int teardown(void **state)
{
    (void)state;
    if (old_path)
        setenv("PATH", old_path, 1);
    free(old_path);
    return fixture_rmtree(dir);
}

static void test_parse(void **state)
{
    struct dep d;
    (void)state;

    assert_int_equal(deps_parse("yt-dlp", &d), 0);
    assert_string_equal(d.name, "yt-dlp");
    assert_int_equal(d.n_constraints, 0);
    assert_int_equal(deps_parse("yt-dlp>=2023.1.6", &d), 0);
    assert_string_equal(d.constraints[0].op, ">=");
    assert_string_equal(d.constraints[0].version, "2023.1.6");
    assert_int_equal(deps_parse("ffmpeg >= 5, < 8", &d), 0);
    assert_int_equal(d.n_constraints, 2);
    assert_string_equal(d.constraints[1].op, "<");
    assert_string_equal(d.constraints[1].version, "8");
    assert_int_equal(deps_parse("", &d), -EBADMSG);
    assert_int_equal(deps_parse("-rf", &d), -EBADMSG);
    assert_int_equal(deps_parse("a/b", &d), -EBADMSG);
    assert_int_equal(deps_parse("a=>1", &d), -EBADMSG);
    assert_int_equal(deps_parse("a>=", &d), -EBADMSG);
    assert_int_equal(deps_parse("a>=1;rm", &d), -EBADMSG);
    assert_int_equal(deps_parse("a>1,>2,>3,>4,>5", &d), -E2BIG);
}

static void test_version_compare(void **state)
{
    (void)state;
    assert_true(deps_version_compare("2026.10.26", "2023.1.6") > 0);
    assert_true(deps_version_compare("2023.01.06", "2023.1.6") == 0);
    assert_true(deps_version_compare("2023.1.10", "2023.1.9") > 0);
    assert_true(deps_version_compare("1.2", "1.2.1") < 0);
    assert_true(deps_version_compare("6.0-1", "6.0") > 0);
    assert_true(deps_version_compare("10", "9") > 0);
    assert_true(deps_version_compare("1.0rc1", "1.0rc2") < 0);
}

static void test_check(void **state)
{
    char found[64], why[256];
    (void)state;

    tool("br-tool", "echo 'br-tool 2026.10.26 (from a test)'", 0755);
    tool("br-quiet", "echo 'no numbers here'", 0755);
    tool("br-slow", "exec sleep 60", 0755);
    tool("br-plain", "exit 0", 0644);

    assert_int_equal(deps_check("br-tool", found, sizeof(found), why, sizeof(why)), 0);
    assert_string_equal(found, "found");
    assert_int_equal(deps_check("br-tool>=2023.1.6", found, sizeof(found), why, sizeof(why)), 0);
    assert_string_equal(found, "2026.10.26");
    assert_int_equal(deps_check("br-tool>=9999", found, sizeof(found), why, sizeof(why)), -ERANGE);
    assert_non_null(strstr(why, "dependency \"br-tool>=9999\": br-tool is version 2026.10.26"));
    assert_int_equal(deps_check("br-missing>=1", found, sizeof(found), why, sizeof(why)), -ENOENT);
    assert_non_null(strstr(why, "no program br-missing on PATH"));
    assert_int_equal(deps_check("br-plain", found, sizeof(found), why, sizeof(why)), -ENOENT);
    assert_int_equal(deps_check("br-quiet>=1", found, sizeof(found), why, sizeof(why)), -EBADMSG);
    assert_non_null(strstr(why, "printed no version"));
    {
        time_t t0 = time(NULL);
        assert_int_equal(deps_check("br-slow>=1", found, sizeof(found), why, sizeof(why)), -ETIME);
        assert_true(time(NULL) - t0 < 30);
        assert_non_null(strstr(why, "did not answer in 10 s"));
    }
    assert_int_equal(deps_check("not a spec!", found, sizeof(found), why, sizeof(why)), -EBADMSG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_parse),
            cmocka_unit_test(test_version_compare),
            cmocka_unit_test(test_check),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
