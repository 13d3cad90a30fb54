/* Tests for plugin/manifest.c: the id and SemVer 2.0.0 grammars, and reading maubot.yaml
 * from a plugin directory (packages: test_package.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "plugin/manifest.h"
#include "util/macro.h"

static char dir[] = "/tmp/test-manifest-XXXXXX";

/* An identity the reader must leave alone when it fails. */
static char sentinel[] = "untouched";

/* ---- The grammars ----------------------------------------------------------------------- */

static void test_id_grammar(void **state)
{
    static const char *const ok[] = {"sna.instagram", "botrunner.echo",  "ab", "a1",
                                     "a-b_c.d",       "xyz.example.bot", "a.", "a-"};
    static const char *const bad[] = {"",    "a",   "1abc", "Abc",  "aBc",  "ab c",       "ab/c",
                                      "_ab", ".ab", "-ab",  "ab\n", "ab:c", "caf\xC3\xA9"};
    char id[80];
    (void)state;

    for (size_t i = 0; i < ELEMENTSOF(ok); i++)
        if (!manifest_id_is_valid(ok[i]))
            fail_msg("\"%s\" refused", ok[i]);
    for (size_t i = 0; i < ELEMENTSOF(bad); i++)
        if (manifest_id_is_valid(bad[i]))
            fail_msg("\"%s\" accepted", bad[i]);

    /* At most 64 bytes. */
    memset(id, 'a', 64);
    id[64] = '\0';
    assert_true(manifest_id_is_valid(id));
    id[64] = 'a';
    id[65] = '\0';
    assert_false(manifest_id_is_valid(id));
}

static void test_semver_valid(void **state)
{
    /* The spec's own examples (semver.org, items 9-11) and the usual test suite of the
     * regular expression it recommends. */
    static const char *const ok[] = {
            "1.0.0",
            "0.0.0",
            "0.1.0",
            "10.20.30",
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-0.3.7",
            "1.0.0-x.7.z.92",
            "1.0.0-x-y-z.--",
            "1.0.0-alpha+001",
            "1.0.0+20130313144700",
            "1.0.0-beta+exp.sha.5114f85",
            "1.0.0+21AF26D3----117B344092BD",
            "1.0.0-alpha.beta",
            "1.0.0-alpha.beta.1",
            "1.0.0-rc.1+build.1",
            "2.0.0-rc.1+build.123",
            "1.2.3-SNAPSHOT-123",
            "10.2.3-DEV-SNAPSHOT",
            "1.0.0-0A.is.legal",
            "1.0.0+0.build.1-rc.10000aaa-kk-0.1",
            "1.1.2-prerelease+meta",
            "1.0.0+001", /* build metadata may have leading zeros */
            "99999999999999999999999.999999999999999999.99999999999999999",
    };
    (void)state;

    for (size_t i = 0; i < ELEMENTSOF(ok); i++)
        if (!manifest_version_is_valid(ok[i]))
            fail_msg("\"%s\" refused", ok[i]);
}

static void test_semver_invalid(void **state)
{
    static const char *const bad[] = {
            "01.0.0",
            "1.01.0",
            "1.0.01",
            "1.0",
            "1",
            "",
            "1.0.0-01",
            "1.2.3-0123",
            "1.2.3-0123.0123",
            "1.0.0-",
            "1.0.0+",
            "1.0.0-+",
            "1.0.0-alpha+",
            "v1.0.0",
            "1.0.0-alpha..1",
            "1.0.0-alpha..",
            "1.0.0-alpha.",
            "1.0.0-.alpha",
            "1.1.2+.123",
            "+invalid",
            "-invalid",
            "alpha",
            "1.2.3.4",
            "1.2-SNAPSHOT",
            "-1.0.3-gamma+b7718",
            "+justmeta",
            "9.8.7+meta+meta",
            "9.8.7-whatever+meta+meta",
            "1.0.0-alpha_beta",
            "1.0.0-caf\xC3\xA9",
            " 1.0.0",
            "1.0.0 ",
            "1.0.0\n",
            "1..0",
            "1.0.0-alpha+beta..1",
    };
    char longv[100];
    (void)state;

    for (size_t i = 0; i < ELEMENTSOF(bad); i++)
        if (manifest_version_is_valid(bad[i]))
            fail_msg("\"%s\" accepted", bad[i]);

    /* Valid in grammar, but longer than any real version: refused. */
    memcpy(longv, "1.0.0-", 6);
    memset(longv + 6, 'a', 80);
    longv[86] = '\0';
    assert_false(manifest_version_is_valid(longv));
}

/* ---- Fixtures ----------------------------------------------------------------------------- */

static void write_file(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    close(fd);
}

/* A fresh directory under the test directory; returns its path (static buffer). */
static const char *subdir(const char *name)
{
    static char path[512];

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    assert_int_equal(mkdir(path, 0755), 0);
    return path;
}

/* A plugin directory named name holding maubot.yaml with text. */
static const char *plugin_dir(const char *name, const char *text)
{
    const char *d = subdir(name);
    char path[600];

    snprintf(path, sizeof(path), "%s/maubot.yaml", d);
    write_file(path, text, strlen(text));
    return d;
}

static void assert_identity(const char *path, const char *id, const char *version)
{
    struct manifest_identity m = {0};
    char why[256] = "";

    if (manifest_read_identity(path, &m, why, sizeof(why)) != 0)
        fail_msg("%s: %s", path, why);
    assert_string_equal(m.id, id);
    assert_string_equal(m.version, version);
    manifest_identity_done(&m);
    assert_null(m.id);
    assert_null(m.version);
}

/* Reading path fails with r (any negative errno when r is 0), says why in words, and
 * leaves the identity alone. */
static void assert_refused(const char *path, int r, const char *words)
{
    struct manifest_identity m = {.id = sentinel, .version = sentinel};
    char why[256] = "";
    int got = manifest_read_identity(path, &m, why, sizeof(why));

    if (r ? got != r : got >= 0)
        fail_msg("%s: got %d, expected %d (%s)", path, got, r, why);
    assert_ptr_equal(m.id, sentinel);
    assert_ptr_equal(m.version, sentinel);
    assert_true(why[0] != '\0');
    if (!strstr(why, words))
        fail_msg("%s: \"%s\" lacks \"%s\"", path, why, words);
}

static const char good_manifest[] = "id: sna.instagram\n"
                                    "version: 1.0.0\n"
                                    "license: MIT\n"
                                    "modules: [instagram.so]\n"
                                    "main_class: InstagramBot\n";

/* ---- Plugin directories ------------------------------------------------------------------- */

static void test_directory(void **state)
{
    (void)state;
    assert_identity(plugin_dir("good", good_manifest), "sna.instagram", "1.0.0");
    assert_identity(plugin_dir("quoted", "id: \"botrunner.echo\"\nversion: '0.1.0-rc.1+b5'\n"),
                    "botrunner.echo", "0.1.0-rc.1+b5");
    /* The test corpus' fixture, as the config validator reads it. */
    assert_identity("tests/configs/plugins/echo", "botrunner.echo", "0.1.0");
}

static void test_directory_without_manifest(void **state)
{
    (void)state;
    assert_refused(subdir("empty"), -ENOENT, "no maubot.yaml");
}

static void test_directory_manifest_size_limit(void **state)
{
    static const char head[] = "id: big.plugin\nversion: 1.0.0\n#";
    size_t n = MANIFEST_MAX_BYTES + 1;
    _cleanup_free_ char *text = malloc(n);
    const char *d = subdir("big");
    char path[600];
    (void)state;

    /* Exactly the limit is read; one byte more is refused unparsed. */
    memcpy(text, head, strlen(head));
    memset(text + strlen(head), 'x', n - strlen(head));
    snprintf(path, sizeof(path), "%s/maubot.yaml", d);
    write_file(path, text, n - 1);
    assert_identity(d, "big.plugin", "1.0.0");
    write_file(path, text, n);
    assert_refused(d, -E2BIG, "larger than");
}

static void test_directory_manifest_symlink_and_odd_files(void **state)
{
    const char *d = subdir("linked");
    char path[600], target[600];
    (void)state;

    /* Symlinks are followed (Nix-built plugin trees link their files into the store), to
     * a regular file only. */
    snprintf(target, sizeof(target), "%s/real-maubot.yaml", dir);
    write_file(target, good_manifest, strlen(good_manifest));
    snprintf(path, sizeof(path), "%s/maubot.yaml", d);
    assert_int_equal(symlink(target, path), 0);
    assert_identity(d, "sna.instagram", "1.0.0");
    assert_int_equal(unlink(target), 0);
    assert_refused(d, -ENOENT, "no maubot.yaml"); /* dangling */
    unlink(path);
    assert_int_equal(symlink("/dev/null", path), 0);
    assert_refused(d, -EBADMSG, "not a regular file");
    unlink(path);
    assert_int_equal(mkdir(path, 0755), 0);
    assert_refused(d, -EBADMSG, "not a regular file");
    rmdir(path);
    /* A FIFO must not hang the reader. */
    assert_int_equal(mkfifo(path, 0600), 0);
    assert_refused(d, -EBADMSG, "not a regular file");
}

static void test_bad_identity_fields(void **state)
{
    (void)state;
    assert_refused(plugin_dir("bad-id", "id: Sna.Instagram\nversion: 1.0.0\n"), -EBADMSG,
                   "id \"Sna.Instagram\"");
    assert_refused(plugin_dir("bad-version", "id: sna.instagram\nversion: 1.0\n"), -EBADMSG,
                   "version \"1.0\" is not a semantic version");
    assert_refused(plugin_dir("v-version", "id: sna.instagram\nversion: v1.0.0\n"), -EBADMSG,
                   "version");
    assert_refused(plugin_dir("no-id", "version: 1.0.0\n"), -EBADMSG, "no id");
    assert_refused(plugin_dir("null-id", "id:\nversion: 1.0.0\n"), -EBADMSG, "no id");
    assert_refused(plugin_dir("no-version", "id: sna.instagram\n"), -EBADMSG, "no version");
    assert_refused(plugin_dir("list-id", "id: [a]\nversion: 1.0.0\n"), -EBADMSG, "no id");
    assert_refused(plugin_dir("escape-id", "id: \"a\\x1b[2J\"\nversion: 1.0.0\n"), -EBADMSG,
                   "\\x1b"); /* the hostile value is quoted and escaped in why */
    assert_refused(plugin_dir("not-a-map", "- id\n- version\n"), -EBADMSG, "not a mapping");
    assert_refused(plugin_dir("syntax", "id: a\nversion: [1.0.0\n"), -EBADMSG, "maubot.yaml line");
    assert_refused(plugin_dir("dup", "id: sna.a\nversion: 1.0.0\nid: sna.b\n"), -EBADMSG,
                   "duplicate key");
    assert_refused(plugin_dir("alias", "id: &a sna.a\nversion: *a\n"), -EBADMSG, "aliases");
    assert_refused(plugin_dir("empty-file", ""), -EBADMSG, "maubot.yaml");
}

static void test_not_a_directory(void **state)
{
    char path[600];
    (void)state;

    /* Packages are plugin/package.c's (tests/unit/test_package.c); this reads directories. */
    snprintf(path, sizeof(path), "%s/missing", dir);
    assert_refused(path, -ENOENT, "No such file");
    assert_refused("/dev/null", -ENOTDIR, "not a plugin directory");
}

static int setup(void **state)
{
    (void)state;
    if (!mkdtemp(dir))
        return -1;
    return 0;
}

static int teardown(void **state)
{
    char cmd[600];
    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf -- '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_id_grammar),
            cmocka_unit_test(test_semver_valid),
            cmocka_unit_test(test_semver_invalid),
            cmocka_unit_test(test_directory),
            cmocka_unit_test(test_directory_without_manifest),
            cmocka_unit_test(test_directory_manifest_size_limit),
            cmocka_unit_test(test_directory_manifest_symlink_and_odd_files),
            cmocka_unit_test(test_bad_identity_fields),
            cmocka_unit_test(test_not_a_directory),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
