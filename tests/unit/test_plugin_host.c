/* Tests for plugin/host.c and the full reader of plugin/manifest.c: the echo plugin loads,
 * and every broken plugin (fixtures in tests/unit/plugins/, built by `make unit`) is refused
 * with its reason. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fixture_dirs.h"
#include "plugin/host.h"
#include "plugin/manifest.h"
#include "util/macro.h"

static char dir[] = "/tmp/test-plugin-host-XXXXXX";
/* $(BUILD): this binary is $(BUILD)/tests/test_plugin_host. */
static char build[PATH_MAX];

static struct plugin_host *const sentinel = (struct plugin_host *)&sentinel;

/* ---- Fixtures ----------------------------------------------------------------------------- */

static int setup(void **state)
{
    (void)state;
    if (fixture_build_dir(build, sizeof(build)) < 0)
        return -1;
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return fixture_rmtree(dir);
}

static void write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

/* A fresh plugin directory holding maubot.yaml with text and symlinks to the built echo.so
 * and the fixture bad.so; returns its path (static buffer). */
static const char *plugin_dir(const char *name, const char *text)
{
    static char path[PATH_MAX];
    char file[PATH_MAX + 32], target[PATH_MAX + 32];

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    assert_int_equal(mkdir(path, 0755), 0);
    snprintf(file, sizeof(file), "%s/maubot.yaml", path);
    write_file(file, text);
    snprintf(file, sizeof(file), "%s/echo.so", path);
    snprintf(target, sizeof(target), "%s/plugins/echo/echo.so", build);
    assert_int_equal(symlink(target, file), 0);
    snprintf(file, sizeof(file), "%s/bad.so", path);
    snprintf(target, sizeof(target), "%s/tests/plugins/bad.so", build);
    assert_int_equal(symlink(target, file), 0);
    return path;
}

/* A maubot.yaml for the fixture library with main_class cls. */
static const char *bad_manifest(const char *cls)
{
    static char text[256];

    snprintf(text, sizeof(text),
             "id: test.bad\nversion: 1.0.0\nmodules: [bad.so]\nmain_class: %s\n", cls);
    return text;
}

/* Loading path fails with r, says why with words in it, and leaves *ret alone. */
static void assert_refused(const char *path, int r, const char *words)
{
    struct plugin_host *h = sentinel;
    char why[512] = "";
    int got = plugin_host_load(path, &h, why, sizeof(why));

    if (got != r)
        fail_msg("%s: got %d, expected %d (%s)", path, got, r, why);
    assert_ptr_equal(h, sentinel);
    if (!strstr(why, words))
        fail_msg("%s: \"%s\" lacks \"%s\"", path, why, words);
}

/* ---- Loading ------------------------------------------------------------------------------ */

static void test_loads_echo(void **state)
{
    _cleanup_(plugin_host_freep) struct plugin_host *h = NULL;
    const struct manifest *m;
    const struct br_plugin *p;
    char path[PATH_MAX + 32], why[512] = "";
    (void)state;

    snprintf(path, sizeof(path), "%s/plugins/echo", build);
    if (plugin_host_load(path, &h, why, sizeof(why)) != 0)
        fail_msg("%s: %s", path, why);
    m = plugin_host_manifest(h);
    assert_string_equal(m->id, "botrunner.echo");
    assert_string_equal(m->version, "0.1.0");
    assert_string_equal(m->license, "MIT");
    assert_int_equal(m->n_modules, 1);
    assert_string_equal(m->modules[0], "echo.so");
    assert_string_equal(m->main_class, "EchoBot");
    assert_false(m->database);
    assert_false(m->config);
    assert_null(m->config_schema_json);
    assert_int_equal(m->n_dependencies, 0);

    p = plugin_host_plugin(h);
    assert_int_equal(p->abi_version, BR_ABI_VERSION);
    assert_string_equal(p->id, "botrunner.echo");
    assert_string_equal(p->version, "0.1.0");
    assert_non_null(p->start);
    assert_non_null(p->stop);
    assert_non_null(p->command);
    assert_null(p->message);
    assert_null(p->event);
    assert_null(p->config);
    assert_string_equal(plugin_host_directory(h), path);
}

static void test_fixture_control_loads(void **state)
{
    _cleanup_(plugin_host_freep) struct plugin_host *h = NULL;
    const char *d = plugin_dir("good", bad_manifest("Good"));
    char why[512] = "";
    (void)state;

    /* The fixture's one right descriptor loads: the refusals below are each for its own
     * fault, not for a broken fixture. */
    if (plugin_host_load(d, &h, why, sizeof(why)) != 0)
        fail_msg("%s", why);
    assert_string_equal(plugin_host_plugin(h)->id, "test.bad");
}

static void test_main_class_found_in_a_later_module(void **state)
{
    _cleanup_(plugin_host_freep) struct plugin_host *h = NULL;
    const char *d = plugin_dir("two", "id: botrunner.echo\nversion: 0.1.0\n"
                                      "modules: [bad.so, echo.so]\nmain_class: EchoBot\n");
    char why[512] = "";
    (void)state;

    if (plugin_host_load(d, &h, why, sizeof(why)) != 0)
        fail_msg("%s", why);
    assert_int_equal(plugin_host_manifest(h)->n_modules, 2);
    assert_string_equal(plugin_host_plugin(h)->id, "botrunner.echo");
}

static void test_refuses_bad_descriptors(void **state)
{
    static const struct {
        const char *cls;
        int r;
        const char *words;
    } cases[] = {
            {"WrongAbi", -EPROTO, "built for plugin ABI 3, the runner has 2: it needs a newer runner"},
            {"AbiOne", -EPROTO, "built for plugin ABI 1, the runner has 2: rebuild it against this "
                                "runner's plugin.h"},
            {"TooSmall", -EBADMSG, "smaller than"},
            {"NoId", -EBADMSG, "says id (none)"},
            {"OtherId", -EBADMSG, "says id \"test.other\", maubot.yaml says test.bad"},
            {"OtherVersion", -EBADMSG, "says version \"1.0.1\""},
            {"NoStart", -EBADMSG, "lacks one of start, stop, command"},
            {"NoCommand", -EBADMSG, "lacks one of start, stop, command"},
            {"Hidden", -EBADMSG, "main_class Hidden is not exported"},
            {"Absent", -EBADMSG, "main_class Absent is not exported"},
    };
    (void)state;

    for (size_t i = 0; i < ELEMENTSOF(cases); i++)
        assert_refused(plugin_dir(cases[i].cls, bad_manifest(cases[i].cls)), cases[i].r,
                       cases[i].words);
}

static void test_refuses_id_mismatch(void **state)
{
    (void)state;
    /* The real echo module under another plugin's manifest. */
    assert_refused(plugin_dir("mismatch", "id: other.echo\nversion: 0.1.0\nmodules: [echo.so]\n"
                                          "main_class: EchoBot\n"),
                   -EBADMSG, "EchoBot says id \"botrunner.echo\", maubot.yaml says other.echo");
    assert_refused(plugin_dir("mismatch-version", "id: botrunner.echo\nversion: 0.2.0\n"
                                                  "modules: [echo.so]\nmain_class: EchoBot\n"),
                   -EBADMSG, "says version \"0.1.0\"");
}

static void test_refuses_module_paths(void **state)
{
    static const char *const bad[] = {
            "../echo.so", "sub/echo.so", "/tmp/echo.so", "a..so",   ".hidden.so",
            "-rf.so",     "echo.so ",    "\"\"",         "x\\y.so",
    };
    char name[32], text[256];
    (void)state;

    for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
        snprintf(name, sizeof(name), "path%zu", i);
        snprintf(text, sizeof(text),
                 "id: botrunner.echo\nversion: 0.1.0\nmodules: ['%s']\nmain_class: EchoBot\n",
                 bad[i]);
        assert_refused(plugin_dir(name, text), -EBADMSG, "modules[0]");
    }
    assert_true(manifest_module_name_is_valid("echo.so"));
    assert_true(manifest_module_name_is_valid("libfoo-1.2_x+y.so"));
    assert_false(manifest_module_name_is_valid(""));
    assert_false(manifest_module_name_is_valid(NULL));
}

static void test_refuses_missing_and_broken_modules(void **state)
{
    char path[PATH_MAX + 32];
    const char *d;
    (void)state;

    assert_refused(plugin_dir("missing", "id: test.bad\nversion: 1.0.0\nmodules: [absent.so]\n"
                                         "main_class: Good\n"),
                   -ENOENT, "module \"absent.so\": No such file");

    d = plugin_dir("junk", "id: test.bad\nversion: 1.0.0\nmodules: [junk.so]\nmain_class: Good\n");
    snprintf(path, sizeof(path), "%s/junk.so", d);
    write_file(path, "not an ELF file\n");
    assert_refused(d, -EBADMSG, "module \"junk.so\" does not load");

    d = plugin_dir("dirmod", "id: test.bad\nversion: 1.0.0\nmodules: [sub.so]\nmain_class: Good\n");
    snprintf(path, sizeof(path), "%s/sub.so", d);
    assert_int_equal(mkdir(path, 0755), 0);
    assert_refused(d, -EBADMSG, "not a regular file");
}

static void test_refuses_what_is_not_a_plugin_directory(void **state)
{
    char path[PATH_MAX + 32];
    (void)state;

    snprintf(path, sizeof(path), "%s/nothing-here", dir);
    assert_refused(path, -ENOENT, "No such file");
    snprintf(path, sizeof(path), "%s/plugins/echo/maubot.yaml", build);
    assert_refused(path, -ENOTDIR, "not a plugin directory");
    assert_refused(plugin_dir("no-modules", "id: test.bad\nversion: 1.0.0\nmain_class: Good\n"),
                   -EBADMSG, "no modules");
}

/* ---- The full manifest -------------------------------------------------------------------- */

static void test_manifest_all_fields(void **state)
{
    _cleanup_(manifest_done) struct manifest m = {0};
    const char *d = plugin_dir("full", "id: sna.instagram\n"
                                       "version: 1.0.0\n"
                                       "license: GPL-3.0-or-later OR MIT\n"
                                       "modules: [instagram.so, helper.so]\n"
                                       "main_class: InstagramBot\n"
                                       "database: true\n"
                                       "config: true\n"
                                       "config_schema:\n"
                                       "  type: object\n"
                                       "  properties:\n"
                                       "    max_file_size: {type: integer, minimum: 1}\n"
                                       "    quality: {enum: [best, '720']}\n"
                                       "  required: [max_file_size]\n"
                                       "dependencies: [\"yt-dlp>=2023.1.6\", ffmpeg]\n"
                                       "extra_files: [ignored.txt]\n");
    char why[256] = "";
    (void)state;

    if (manifest_read(d, &m, why, sizeof(why)) != 0)
        fail_msg("%s", why);
    assert_string_equal(m.license, "GPL-3.0-or-later OR MIT");
    assert_int_equal(m.n_modules, 2);
    assert_string_equal(m.modules[1], "helper.so");
    assert_string_equal(m.main_class, "InstagramBot");
    assert_true(m.database);
    assert_true(m.config);
    assert_string_equal(m.config_schema_json,
                        "{\"type\":\"object\",\"properties\":{\"max_file_size\":{\"type\":"
                        "\"integer\",\"minimum\":1},\"quality\":{\"enum\":[\"best\",\"720\"]}},"
                        "\"required\":[\"max_file_size\"]}");
    assert_int_equal(m.n_dependencies, 2);
    assert_string_equal(m.dependencies[0], "yt-dlp>=2023.1.6");
    assert_string_equal(m.dependencies[1], "ffmpeg");
}

static void assert_manifest_refused(const char *name, const char *text, int r, const char *words)
{
    struct manifest m = {.id = (char *)"untouched"};
    char why[256] = "";
    int got = manifest_read(plugin_dir(name, text), &m, why, sizeof(why));

    if (got != r)
        fail_msg("%s: got %d, expected %d (%s)", name, got, r, why);
    assert_string_equal(m.id, "untouched");
    if (!strstr(why, words))
        fail_msg("%s: \"%s\" lacks \"%s\"", name, why, words);
}

#define HEAD "id: sna.x\nversion: 1.0.0\n"

static void test_manifest_refusals(void **state)
{
    char text[2048];
    size_t off;
    (void)state;

    assert_manifest_refused("m-empty", HEAD "modules: []\nmain_class: X\n", -EBADMSG,
                            "modules is empty");
    assert_manifest_refused("m-scalar", HEAD "modules: x.so\nmain_class: X\n", -EBADMSG,
                            "modules must be a list");
    assert_manifest_refused("m-dup", HEAD "modules: [x.so, x.so]\nmain_class: X\n", -EBADMSG,
                            "lists \"x.so\" twice");
    assert_manifest_refused("m-nested", HEAD "modules: [[x.so]]\nmain_class: X\n", -EBADMSG,
                            "modules[0] (a collection)");
    assert_manifest_refused("m-class", HEAD "modules: [x.so]\nmain_class: 9Bot\n", -EBADMSG,
                            "main_class \"9Bot\" is not a C identifier");
    assert_manifest_refused("m-noclass", HEAD "modules: [x.so]\n", -EBADMSG, "no main_class");
    assert_manifest_refused("m-yes", HEAD "modules: [x.so]\nmain_class: X\ndatabase: yes\n",
                            -EBADMSG, "database must be true or false");
    assert_manifest_refused("m-qbool", HEAD "modules: [x.so]\nmain_class: X\nconfig: 'true'\n",
                            -EBADMSG, "config must be true or false");
    assert_manifest_refused("m-schema", HEAD "modules: [x.so]\nmain_class: X\nconfig_schema: [a]\n",
                            -EBADMSG, "config_schema must be a mapping");
    assert_manifest_refused("m-dep",
                            HEAD "modules: [x.so]\nmain_class: X\n"
                                 "dependencies: [\"a\\nb\"]\n",
                            -EBADMSG, "dependencies[0]");
    assert_manifest_refused("m-license", HEAD "modules: [x.so]\nmain_class: X\nlicense: [MIT]\n",
                            -EBADMSG, "license must be one line");
    assert_manifest_refused("m-badid", "id: X\nversion: 1.0.0\nmodules: [x.so]\nmain_class: X\n",
                            -EBADMSG, "id \"X\"");

    /* Bounds: 16 modules read, 17 refused. */
    off = (size_t)snprintf(text, sizeof(text), HEAD "main_class: X\nmodules: [m0.so");
    for (unsigned i = 1; i < MANIFEST_MAX_MODULES; i++)
        off += (size_t)snprintf(text + off, sizeof(text) - off, ", m%u.so", i);
    snprintf(text + off, sizeof(text) - off, "]\n");
    {
        _cleanup_(manifest_done) struct manifest m = {0};
        char why[256] = "";
        if (manifest_read(plugin_dir("m-16", text), &m, why, sizeof(why)) != 0)
            fail_msg("%s", why);
        assert_int_equal(m.n_modules, MANIFEST_MAX_MODULES);
    }
    snprintf(text + off, sizeof(text) - off, ", extra.so]\n");
    assert_manifest_refused("m-17", text, -E2BIG, "more than 16 modules");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_loads_echo),
            cmocka_unit_test(test_fixture_control_loads),
            cmocka_unit_test(test_main_class_found_in_a_later_module),
            cmocka_unit_test(test_refuses_bad_descriptors),
            cmocka_unit_test(test_refuses_id_mismatch),
            cmocka_unit_test(test_refuses_module_paths),
            cmocka_unit_test(test_refuses_missing_and_broken_modules),
            cmocka_unit_test(test_refuses_what_is_not_a_plugin_directory),
            cmocka_unit_test(test_manifest_all_fields),
            cmocka_unit_test(test_manifest_refusals),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
